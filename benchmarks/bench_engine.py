"""How much does gradviz's hand-written engine cost above the BLAS floor?

For each network size (depth x width, a square stack: n_inputs = width, no
output layer) and floating dtype, time with ``time.perf_counter``:

- ``bare``: the BLAS floor, the three matrix products one dense layer needs
  per training step, for every layer: forward ``x @ W``, backward
  ``dout @ W.T`` (gradient to the layer below) and ``x.T @ dout`` (weight
  gradient), on preallocated arrays of the same shapes;
- ``fwd+bwd``: ``net.forward(x, training=True)`` then
  ``net.backward(dout, param_grads=True)``, nothing recorded (a training step
  without statistics);
- ``stats``: :func:`gradviz.stats.pass_statistics` with ``param_grads=True``:
  a recorded forward and backward pass and the per-layer summary (what the
  explorers and the record points of :func:`gradviz.train.train` run).

Each is run twice to warm up, then ``--repeats`` times, the three taking
turns so that a change in the machine's load hits them alike; the table shows
the median and the 95th percentile (in milliseconds) and the ratio of each
median to the BLAS floor's.

Run from the repository root::

    python benchmarks/bench_engine.py                 # the full table
    python benchmarks/bench_engine.py --quick         # depth 10 only, fewer repeats
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_engine.py   # single-threaded BLAS
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from gradviz.network import MLP  # noqa: E402
from gradviz.stats import pass_statistics  # noqa: E402


def timeit(fns, repeats, warmup=2):
    """Median and 95th percentile (seconds) of ``repeats`` timed calls of each function in ``fns``.

    The functions take turns (round robin), so a change in the machine's load
    during the run affects all of them alike and the ratios stay fair.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: np.empty(repeats) for name in fns}
    for i in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name][i] = time.perf_counter() - t0
    return {name: (float(np.median(t)), float(np.percentile(t, 95))) for name, t in times.items()}


def bench_one(depth, width, batch, dtype, activation, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, width)).astype(dtype)
    dout = rng.standard_normal((batch, width)).astype(dtype)
    net = MLP(width, depth=depth, width=width, activation=activation, n_outputs=None, seed=0, dtype=dtype)

    # The BLAS floor: same shapes, preallocated outputs, no Python beyond the loop.
    Ws = [ly.params["W"].copy() for ly in (b.dense for b in net.blocks)]
    z = np.empty((batch, width), dtype=dtype)
    dx = np.empty((batch, width), dtype=dtype)
    dW = np.empty((width, width), dtype=dtype)

    def bare():
        for W in Ws:
            np.matmul(x, W, out=z)
        for W in reversed(Ws):
            np.matmul(dout, W.T, out=dx)
            np.matmul(x.T, dout, out=dW)

    def fwd_bwd():
        net.forward(x, training=True)
        net.backward(dout, param_grads=True)

    def stats():
        pass_statistics(net, x, dout, training=True, param_grads=True)

    return timeit({"bare": bare, "fwd+bwd": fwd_bwd, "stats": stats}, repeats)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depths", type=int, nargs="+", default=[10, 50])
    p.add_argument("--widths", type=int, nargs="+", default=[128, 512])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    p.add_argument("--activation", default="relu")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--quick", action="store_true", help="depth 10 only, 5 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.depths, args.repeats = [10], 5

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numpy {np.__version__}, python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print(f"batch {args.batch}, activation {args.activation}, {args.repeats} repeats; times in ms "
          "(median / p95); ratio = median / BLAS-floor median")
    head = (f"{'depth':>5} {'width':>5} {'dtype':>7} | {'BLAS floor':>15} | {'fwd+bwd':>15} {'ratio':>5} | "
            f"{'with stats':>15} {'ratio':>5}")
    print(head)
    print("-" * len(head))
    for dtype in args.dtypes:
        for depth in args.depths:
            for width in args.widths:
                r = bench_one(depth, width, args.batch, np.dtype(dtype), args.activation, args.repeats)
                floor = r["bare"][0]

                def cell(key):
                    med, p95 = r[key]
                    return f"{med * 1e3:>7.2f} / {p95 * 1e3:>5.1f}"

                print(f"{depth:>5} {width:>5} {dtype:>7} | {cell('bare'):>15} | {cell('fwd+bwd'):>15} "
                      f"{r['fwd+bwd'][0] / floor:>5.2f} | {cell('stats'):>15} {r['stats'][0] / floor:>5.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
