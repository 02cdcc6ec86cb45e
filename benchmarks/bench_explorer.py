"""Latency of the deep-network explorer: from setting a control's value to the new frame of the figure.

    python benchmarks/bench_explorer.py [--settings 10x256x256 ...] [--changes 40] [--threads N]

For each setting (depth x width x batch) an explorer is built on the canvas a
notebook uses (ipympl; its comm goes nowhere without a kernel, which costs
nothing), then a control moves through values the explorer has not computed
yet (so its result cache never answers). What is timed for each change is what
the kernel does before the browser can show the new picture:

- the control's callback: build the network, probe it, predict, update the artists;
- the redraw: either a blit (``data``: the axes did not change; ``y``/``x``:
  limits moved, so those axes are drawn again over the cached layers under them;
  see ``gradviz.widgets._Blitter``), or a full draw, which ipympl does when the browser answers ``draw_idle`` (done here
  at once, as if the browser answered instantly);
- ipympl's encoding of the changed pixels as a PNG frame (``get_diff_image``).

Scenarios (``--scenarios``):

- ``drag``: the weight-scale slider dragged one step (0.05 decades) at a time,
  first down from 1 to 0.5, then up to 2; for tanh (the default) and for ReLU;
- ``jump``: the weight scale set to random values in [0.5, 2] (a click on the track);
- ``seed``: a new seed typed in (new weights, same axes).

Printed: median and 95th percentile of the wall time, the median CPU time of
the process (less sensitive to other processes on a shared machine), how the
frame was drawn (counts of data / y / x / full), and the median of each part:
build (the network, from cached weights), probe (forward, backward, statistics),
theory (mean-field prediction), artists (updating them), frame (redraw + PNG).

Target: p95 < 100 ms, the delay under which a response feels instantaneous.
Wall times depend on the load of the machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from gradviz.widgets import DeepNetworkExplorer, _have_ipympl  # noqa: E402

DEFAULT_SETTINGS = ["10x256x256", "10x512x256", "50x256x256", "50x512x256"]
SCENARIOS = ("drag", "jump", "seed")


def values_for(scenario, n, rng):
    """(control, activation, values): ``n`` changes of one control, none repeated."""
    if scenario.startswith("drag"):
        steps = np.round(np.arange(0, 0.301, 0.05), 2)
        logs = list(-steps[1:]) + list(steps[1:])  # 1 -> 0.5, then 1.12 -> 2
        reps = (n + len(logs) - 1) // len(logs)
        # each further pass is offset by a hundredth of a step, so no value repeats (no cache hit)
        vals = [10 ** (v + 0.0005 * k) for k in range(reps) for v in logs][:n]
        return "weight_scale", scenario.split(":")[1], [float(v) for v in vals]
    if scenario == "jump":
        return "weight_scale", "tanh", [float(v) for v in 10 ** rng.uniform(-0.3, 0.3, size=n)]
    if scenario == "seed":
        return "seed", "tanh", [int(s) for s in rng.choice(np.arange(1, 10_000), size=n, replace=False)]
    raise ValueError(scenario)


def bench(setting, scenario, n_changes, dtype, rng, canvas):
    depth, width, batch = (int(x) for x in setting.split("x"))
    control, activation, values = values_for(scenario, n_changes + 3, rng)
    ex = DeepNetworkExplorer(canvas=canvas, dtype=dtype, max_depth=max(50, depth), depth=depth, width=width,
                             batch_size=batch, activation=activation)
    fig = ex.figure
    requested = []
    if canvas == "ipympl":
        fig.canvas.syncing_data_url = False  # what a live front-end's 'initialized' message does
        fig.canvas.draw_idle = lambda: requested.append(True)
    fig.canvas.draw()
    wall, cpu, how = [], [], Counter()
    parts = {k: [] for k in ("build", "probe", "theory", "artists", "frame")}
    for i, v in enumerate(values):
        requested.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        ex.controls[control].value = v
        if canvas != "ipympl" or requested:
            fig.canvas.draw()  # the full draw (ipympl: on the browser's request), with the PNG frame
        t1, c1 = time.perf_counter(), time.process_time()
        if i < 3:  # warm-up
            continue
        tm = ex.timings
        compute = tm["build"] + tm["probe"] + tm["theory"]
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
        for k in ("build", "probe", "theory"):
            parts[k].append(tm[k])
        parts["artists"].append(tm["refresh"] - compute)
        parts["frame"].append(t1 - t0 - tm["refresh"])
        blitter = getattr(ex, "_blitter", None)  # None: an explorer that never blits
        how[blitter.last if blitter is not None and not requested else "full"] += 1
    return wall, cpu, parts, how


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=40, help="changes per setting and scenario (default 40)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    p.add_argument("--scenarios", nargs="+", default=["drag:tanh", "drag:relu", "jump", "seed"],
                   help="drag:<activation>, jump, seed (default: drag:tanh drag:relu jump seed)")
    p.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="DEPTHxWIDTHxBATCH ...")
    p.add_argument("--canvas", default="ipympl" if _have_ipympl() else "none", choices=("ipympl", "none"),
                   help="ipympl (blitting, as in a notebook; the default when installed) or none (full Agg draws)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    ctx = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"deep-network explorer, canvas={args.canvas}, {args.dtype}, {args.changes} changes per row, "
          f"BLAS threads={args.threads or 'default'}, cpus={os.cpu_count()}, load average {load:.1f}")
    print(f"{'depth x width x batch':>22} {'scenario':>10} {'median':>7} {'p95':>7} {'cpu med':>7}  "
          f"{'data/y/x/full':>13}  | median of: {'build':>5} {'probe':>6} {'theory':>6} {'artists':>7} {'frame':>6}  (ms)")
    for setting in args.settings:
        for scenario in args.scenarios:
            wall, cpu, parts, how = bench(setting, scenario, args.changes, np.dtype(args.dtype), rng, args.canvas)
            ms = {k: 1e3 * statistics.median(v) for k, v in parts.items()}
            p95 = 1e3 * float(np.percentile(wall, 95))
            paths = "/".join(str(how[k]) for k in ("data", "y", "x", "full"))
            print(f"{setting:>22} {scenario:>10} {1e3 * statistics.median(wall):7.1f} {p95:7.1f} "
                  f"{1e3 * statistics.median(cpu):7.1f}  {paths:>13}  | {'':>10} {ms['build']:5.1f} {ms['probe']:6.1f} "
                  f"{ms['theory']:6.1f} {ms['artists']:7.1f} {ms['frame']:6.1f}  {'ok' if p95 < 100 else 'SLOW'}")
    if ctx is not None:
        ctx.unregister()


if __name__ == "__main__":
    main()
