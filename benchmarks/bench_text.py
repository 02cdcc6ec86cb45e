"""How long matplotlib takes to draw text, and an explorer's frame, with the matplotlib installed.

    python benchmarks/bench_text.py [--repeats 30] [--explorers Activation Saturation ...]

Text is the slow part of an explorer's frame: tick labels when an axis moves,
titles, legends. gradviz requires ``matplotlib<3.11`` because 3.11 draws text
several times slower (README, "Reproducibility"). Run this under a candidate
matplotlib (e.g. in ``.venv-latest``, see ``make test-latest``) and under the
pinned one, and compare, before lifting the bound.

Printed, in ms (median of ``--repeats``; Agg, the renderer ipympl uses):

- ``title``: drawing a 45-character title whose number changes each time;
- ``log y axis``: drawing a log-scaled y axis with its tick labels (as an
  explorer does when a slider moves the axis);
- one row per notebook explorer: the frame after its first slider moved one
  step (``request_draw``: blit of what changed, or a full draw, plus the PNG),
  the explorer's artists updated between frames (its computation is not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def median_ms(times):
    return 1e3 * statistics.median(times)


def text_times(repeats):
    """(title, log y axis) draw times, seconds."""
    fig = Figure(figsize=(9.6, 4.1), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 1e3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title, axis = [], []
    for i in range(repeats):
        ax.set_title(f"tanh, glorot_uniform x {1 + i / 100:.3g}: 50 x 256 units, float32")
        t0 = time.perf_counter()
        ax.title.draw(renderer)
        title.append(time.perf_counter() - t0)
        ax.set_ylim(10.0 ** (-12 - i % 3), 1e3)
        t0 = time.perf_counter()
        ax.yaxis.draw(renderer)
        axis.append(time.perf_counter() - t0)
    return title, axis


def frame_times(cls, repeats):
    """Frame times (seconds) of explorer ``cls`` on an ipympl canvas, its first slider moved a step at a time."""
    from bench_explorer import make_explorer, next_value

    from gradviz import plots

    ex, control = make_explorer(cls)
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False
    canvas.send_binary = lambda data: None
    canvas.draw()
    times, direction = [], 1
    for _ in range(repeats + 2):
        value = next_value(ex.controls[control], direction)
        if value is None:
            direction = -direction
            value = next_value(ex.controls[control], direction)
        ex._holding = True  # set the control without the explorer drawing: the draw is what is timed
        ex.controls[control].value = value
        ex._holding = False
        with plots.style():
            ex.refresh(**ex.values)  # the final answer's artists
        t0 = time.perf_counter()
        ex.request_draw(now=True)
        times.append(time.perf_counter() - t0)
    return times[2:]  # the first two refill the blitting copies


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--explorers", nargs="*", default=None,
                   help="only the explorers whose name contains one of these words (default: all)")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from bench_explorer import explorer_classes

    threadpool_limits(1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"matplotlib {matplotlib.__version__}, {args.repeats} repeats, load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; medians, ms")
    title, axis = text_times(args.repeats)
    print(f"{'title (45 characters)':>40} {median_ms(title):8.2f}")
    print(f"{'log y axis with its tick labels':>40} {median_ms(axis):8.2f}")
    for name, cls in explorer_classes():
        if args.explorers and not any(w.lower() in name.lower() for w in args.explorers):
            continue
        print(f"{name + ': frame':>40} {median_ms(frame_times(cls, args.repeats)):8.2f}")


if __name__ == "__main__":
    main()
