"""Latency of the deep-network explorer: from setting a control's value to the figure redrawn.

    python benchmarks/bench_explorer.py [--changes 40] [--dtype float32] [--threads N] [--settings ...]

For each setting (depth x width x batch) an explorer is built headless
(``canvas='none'``), then a control is set ``--changes`` times to values not
seen before (so the result cache never answers: every change recomputes), and
each time the figure is drawn with the Agg renderer (``figure.canvas.draw()``,
what ipympl does before sending the picture). Printed per setting: median and
95th percentile of the total, and the median of each part:

- build:  assembling the MLP from cached weight matrices (rescaled)
- probe:  forward + backward pass and per-layer statistics (gradviz.stats.probe)
- theory: mean-field prediction (gradviz.theory.predict_variances)
- artists: updating lines, overflow marker, text
- draw:   matplotlib Agg render of the figure

Target: p95 < 100 ms (the delay under which a response feels instantaneous).
Wall-clock timings depend on the load of the machine (the script prints the
load average); the process CPU time ("cpu" columns, all threads) is less
sensitive to other processes and, with ``--threads 1``, estimates the wall
time on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from gradviz.widgets import DeepNetworkExplorer  # noqa: E402

DEFAULT_SETTINGS = ["10x256x256", "20x512x256", "50x256x256", "50x512x256"]


def percentile(xs, q):
    return float(np.percentile(np.asarray(xs), q))


def changes_for(control, n, rng, ex):
    """n values for ``control`` that the explorer has not computed yet."""
    if control == "weight_scale":
        vals = 10 ** rng.uniform(-0.3, 0.3, size=n)
        return [float(v) for v in vals]
    if control == "seed":
        return [int(s) for s in rng.choice(np.arange(1, 10_000), size=n, replace=False)]
    if control == "activation":
        cycle = ["tanh", "relu", "sigmoid", "elu", "selu", "leaky_relu", "linear"]
        return [cycle[i % len(cycle)] for i in range(1, n + 1)]
    raise ValueError(control)


def bench(setting, control, n_changes, dtype, rng):
    depth, width, batch = (int(x) for x in setting.split("x"))
    ex = DeepNetworkExplorer(canvas="none", dtype=dtype, max_depth=max(50, depth), depth=depth, width=width,
                             batch_size=batch)
    ex.figure.canvas.draw()
    values = changes_for(control, n_changes + 3, rng, ex)
    total, cpu, parts = [], [], {k: [] for k in ("build", "probe", "theory", "artists", "draw")}
    for i, v in enumerate(values):
        if control == "activation":
            ex._results.clear()  # a cycle of activations would otherwise hit the cache
        c0 = time.process_time()
        t0 = time.perf_counter()
        ex.controls[control].value = v
        t1 = time.perf_counter()
        ex.figure.canvas.draw()
        t2 = time.perf_counter()
        c2 = time.process_time()
        if i < 3:  # warm-up
            continue
        total.append(t2 - t0)
        cpu.append(c2 - c0)
        tm = ex.timings
        parts["build"].append(tm["build"])
        parts["probe"].append(tm["probe"])
        parts["theory"].append(tm["theory"])
        parts["artists"].append(tm["refresh"] - tm["build"] - tm["probe"] - tm["theory"])
        parts["draw"].append(t2 - t1)
    return total, cpu, parts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--changes", type=int, default=40, help="changes per setting (default 40)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    p.add_argument("--control", default="weight_scale", choices=("weight_scale", "seed", "activation"))
    p.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="DEPTHxWIDTHxBATCH ...")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    ctx = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"deep-network explorer, {args.dtype}, control={args.control}, {args.changes} changes per setting, "
          f"BLAS threads={args.threads or 'default'}, cpus={os.cpu_count()}, load average {load:.1f}")
    head = f"{'depth x width x batch':>22} {'median':>8} {'p95':>8} {'cpu med':>8} {'cpu p95':>8}  | median of: " \
           f"{'build':>6} {'probe':>6} {'theory':>6} {'artists':>7} {'draw':>6}  (ms)"
    print(head)
    for setting in args.settings:
        total, cpu, parts = bench(setting, args.control, args.changes, np.dtype(args.dtype), rng)
        ms = {k: 1e3 * statistics.median(v) for k, v in parts.items()}
        ok = "ok" if percentile(total, 95) < 0.1 else "SLOW"
        print(f"{setting:>22} {1e3 * statistics.median(total):8.1f} {1e3 * percentile(total, 95):8.1f} "
              f"{1e3 * statistics.median(cpu):8.1f} {1e3 * percentile(cpu, 95):8.1f}  | "
              f"{'':>11}{ms['build']:6.1f} {ms['probe']:6.1f} {ms['theory']:6.1f} {ms['artists']:7.1f} "
              f"{ms['draw']:6.1f}  {ok}")
    if ctx is not None:
        ctx.unregister()


if __name__ == "__main__":
    main()
