"""What a learner waits for in the kernel: from a control's change to the new frame of an explorer's figure.

    python benchmarks/bench_explorer.py [--settings 10x256x256 ...] [--presses 30] [--threads 1]
    python benchmarks/bench_explorer.py --explorers            # every notebook's explorer, at its defaults

Each explorer is built on the canvas a notebook uses (ipympl; its comm goes
nowhere without a kernel, which costs nothing), inside an asyncio event loop
as in a kernel, and its controls are changed as the browser changes them
(ipywidgets' ``set_state``). So a change is answered as it is for a learner:
at once when that is quick, else first from a slice of the batch (a draft)
and then from the whole batch, computed on a worker thread (see
``gradviz.widgets.Explorer``). A frame is counted when ipympl hands its PNG to
the comm (``send_binary``), after the blit or full draw and the PNG encoding.

Deep-network explorer, per setting (depth x width x batch):

- ``ratio``: the probe (forward, backward, per-layer statistics) over the bare
  matrix products of the same shapes (x W and dz W^T per layer, preallocated),
  timed alternately in the same run, CPU time of the thread; the target is 1.3.
- ``parts`` (only when named): where the probe's time goes, per activation, in
  ms and as a multiple of the bare products: the engine's layer methods
  (x W + b, phi(z), phi'(z) * da, dz W^T, each wrapped by a timer), the
  statistics (each layer's, taken during the pass, and their assembly), the
  network's overflow checks and loop, the probe's own work.
- ``floors`` (only when named): what each part of the probe costs at least, in
  ms and as a multiple of the bare products, each part's numpy on its own:
  the products of a pass (over the network's distinct weight matrices, into a
  pass's worth of distinct arrays), tanh, tanh'(z) * da and relu'(z) * da and the
  statistics on one array in the cache, and the probe's Python (layers of 8 x 8).
- ``press``: the weight-scale slider moved one step (0.05 decades) at a time,
  as by an arrow key, waiting for the final frame after each press; for tanh
  and ReLU. Printed: median and p95 from the change to the first frame and to
  the final frame (the whole batch), how the first frames were drawn (data /
  title / y / x / full) and the median of the first answer's parts: build (the network,
  from cached weights), probe, theory (mean-field prediction), artists, frame.
- ``drag``: the slider dragged across its whole range (0.1 to 10) in 1.5 s.
  The browser sends the latest position whenever the kernel has finished the
  previous message (ipywidgets keeps one message in flight); so does this
  script, with input events every 16 ms. Printed: the messages sent, p95 to the
  first frame, the refinements dropped because the slider had moved on, and
  the catch-up: from the end of the drag to the final frame of the value it
  ended on (the target: no more than one refinement).

With ``--explorers``: the explorer of every notebook at its default settings,
its first slider pressed as by an arrow key (``press``); this is the kernel's
share of the browser benchmark (``benchmark_browser.py``).

Targets (one BLAS thread, a quiet 2-core machine): p95 to the first frame
<= 100 ms at every setting; to the final frame <= 100 ms up to 50x256x256; one
refinement at most left after a drag. Wall times depend on the load of the
machine: the load average is printed; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))  # frontend.py: what the browser sends, as the tests send it

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from gradviz.network import MLP  # noqa: E402
from gradviz.stats import probe  # noqa: E402
from gradviz._canvas import have_ipympl  # noqa: E402
from gradviz.widgets import DeepNetworkExplorer  # noqa: E402
from frontend import learner_sets, settled  # noqa: E402

DEFAULT_SETTINGS = ["10x256x256", "10x512x256", "50x256x256", "50x512x256"]


def ms(seconds):
    return 1e3 * seconds


def p95(values):
    return float(np.percentile(values, 95)) if values else float("nan")


def med(values):
    return statistics.median(values) if values else float("nan")


# ----------------------------------------------------------------------------- the front end, simulated
class FrontEnd:
    """Changes an explorer's controls as the browser does and times its frames."""

    def __init__(self, explorer):
        self.ex = explorer
        canvas = explorer.figure.canvas
        self.frames = []  # (time, generation, answered)
        if explorer.canvas_kind == "ipympl":
            canvas.syncing_data_url = False  # what a live front end's 'initialized' message does
            send = canvas.send_binary

            def counted(data):
                self.frames.append((time.perf_counter(), explorer._generation, explorer.answered))
                return send(data)

            canvas.send_binary = counted
            canvas.draw()  # the first frame, which the browser asks for

    def set(self, control, value):
        """Send ``value`` of ``control``; returns (time sent, generation of the answer)."""
        t = time.perf_counter()
        learner_sets(self.ex.controls[control], value)
        return t, self.ex._generation

    def first_and_final(self, t, generation):
        """Seconds from ``t`` to the first frame of ``generation`` and to its final frame (None if none yet)."""
        first = next((f for f in self.frames if f[1] == generation), None)
        final = next((f for f in self.frames if f[1] == generation and f[2] == "final"), None)
        return (None if first is None else first[0] - t), (None if final is None else final[0] - t)

    async def settle(self, timeout=60.0):
        await settled(self.ex, timeout, poll=0.002)  # then 4 ms more: a dropped refinement's message arrives

    async def ready(self):
        """Settle, and let the explorer's background work of being shown finish (its shared helper threads
        readying a learner's split probe, gradviz._probing.Probes.warm): a learner's first press comes seconds
        after the figure appears, this benchmark's would otherwise come 4 ms after."""
        await self.settle()
        from gradviz import _probing
        for helper in _probing._helpers().values():  # one thread each: a no-op runs after what was queued
            await asyncio.wrap_future(helper.submit(lambda: None))


def next_value(control, direction=1):
    """The value one arrow-key press gives (None at the end of the range)."""
    if hasattr(control, "options"):
        values = list(getattr(control, "_options_values", control.options))
        i = values.index(control.value) + direction
        return values[i] if 0 <= i < len(values) else None
    if hasattr(control, "base"):  # FloatLogSlider: steps in the exponent
        e = np.log10(control.value) / np.log10(control.base) + direction * control.step
        return float(control.base ** e) if control.min - 1e-9 <= e <= control.max + 1e-9 else None
    if isinstance(control.value, tuple):  # a range slider: its upper handle
        lo, hi = control.value
        hi += direction * control.step
        return (lo, hi) if lo <= hi <= control.max else None
    v = control.value + direction * control.step
    return v if control.min <= v <= control.max else None


async def presses(front, control, n, record_parts=False, pause=0.05):
    """``n`` arrow-key presses (turning at the ends of the range), each waiting for the final frame."""
    first, final, how = [], [], Counter()
    parts = {k: [] for k in ("build", "probe", "theory", "artists", "frame")}
    direction = 1
    await front.ready()
    for _ in range(n):
        v = next_value(front.ex.controls[control], direction)
        if v is None:
            direction = -direction
            v = next_value(front.ex.controls[control], direction)
        t, gen = front.set(control, v)
        tm = dict(front.ex.timings)
        blitter = front.ex._blitter
        how[blitter.last if blitter is not None else "full"] += 1
        await front.settle()
        a, b = front.first_and_final(t, gen)
        first.append(a)
        final.append(b)
        if record_parts and not tm.get("cached", False):
            compute = sum(tm.get(k, 0.0) for k in ("build", "probe", "theory"))
            for k in ("build", "probe", "theory"):
                parts[k].append(tm.get(k, 0.0))
            parts["artists"].append(tm["show"] if "show" in tm else tm["refresh"] - compute)
            parts["frame"].append(tm["request_draw"])
        await asyncio.sleep(pause)
    return first, final, how, parts


async def drag(front, control, low, high, seconds=1.5, event_every=0.016):
    """Drag ``control`` (a log slider) from ``low`` to ``high``: (first-frame latencies, messages sent, refinements
    dropped, catch-up: from the end of the drag to the final frame of the value it ended on)."""
    await front.ready()
    dropped0 = front.ex.dropped
    sent, t0 = [], time.perf_counter()
    last_value = None
    while True:
        # the pointer moves every event_every seconds; the value is the slider's step nearest to it
        frac = min(np.floor((time.perf_counter() - t0) / event_every) * event_every / seconds, 1.0)
        e = np.log10(low) + frac * (np.log10(high) - np.log10(low))
        value = float(10 ** (round(e / 0.05) * 0.05))
        if value != last_value:
            sent.append(front.set(control, value))  # the kernel was idle: the latest position goes out
            last_value = value
        if frac >= 1.0:
            break
        await asyncio.sleep(0.001)  # the loop runs refinements' callbacks between messages
    t_end = time.perf_counter()  # the pointer stops
    t_last, gen_last = sent[-1]
    await front.settle()
    firsts = [front.first_and_final(t, g)[0] for t, g in sent]
    final = front.first_and_final(t_last, gen_last)[1]  # after the last message, which may precede t_end
    catch_up = max(t_last + final - t_end, 0.0)
    return [f for f in firsts if f is not None], len(sent), front.ex.dropped - dropped0, catch_up


# ----------------------------------------------------------------------------- the probe against BLAS
def probe_ratio(depth, width, batch, dtype, activation="tanh", repeats=15):
    """(median CPU seconds of the bare products, of the probe): alternated, after a warm-up."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, width)).astype(dtype)
    W = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
    out = np.empty_like(x)

    def products():
        for _ in range(depth):
            np.matmul(x, W, out=out)
            np.matmul(x, W.T, out=out)

    net = MLP(width, depth=depth, width=width, activation=activation, n_outputs=None, seed=0, dtype=dtype)
    times = {products: [], "probe": []}
    for i in range(repeats + 1):
        for f in (products, "probe"):
            t = time.thread_time()
            products() if f is products else probe(net, batch_size=batch, seed=0)
            if i:
                times[f].append(time.thread_time() - t)
    return med(times[products]), med(times["probe"])


#: The probe's parts, timed by wrapping these methods (class, method, label), in the order of a pass.
PROBE_PARTS = (("Dense", "forward", "x W + b"), ("ActivationLayer", "forward", "phi(z)"),
               ("ActivationLayer", "backward", "phi'(z) * da"), ("Dense", "backward", "dz W^T"))


def probe_parts(depth, width, batch, dtype, activation="tanh", repeats=15):
    """(median CPU seconds of the bare products, {part: median CPU seconds of that part of a probe}): the
    engine's layer methods (:data:`PROBE_PARTS`), the statistics (taken inside the network's passes, as each
    layer has run, and assembled after), the network's own work between the layers (overflow checks, the
    loop) and the probe's (inputs, releasing the last pass, batch-norm state)."""
    import contextlib
    import functools

    from gradviz import layers, network, stats

    spent = {}

    def timed(f, label):
        @functools.wraps(f)
        def g(*args, **kwargs):
            t = time.thread_time()
            try:
                return f(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.thread_time() - t
        return g

    wrapped = [(getattr(layers, c), m, label) for c, m, label in PROBE_PARTS]
    wrapped += [(network.MLP, "forward", "_forward"), (network.MLP, "backward", "_backward")]
    # the statistics: each layer's, taken inside the network's passes (on_layer), and their assembly after
    wrapped += [(stats._LayerSummaries, "forward", "_stats in pass"),
                (stats._LayerSummaries, "backward", "_stats in pass"),
                (stats._LayerSummaries, "result", "_stats after")]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, width)).astype(dtype)
    W = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
    out = np.empty_like(x)
    net = MLP(width, depth=depth, width=width, activation=activation, n_outputs=None, seed=0, dtype=dtype)
    rows = []
    with contextlib.ExitStack() as undo:
        for owner, name, label in wrapped:
            f = owner.__dict__[name]
            setattr(owner, name, timed(f, label))
            undo.callback(setattr, owner, name, f)
        for i in range(repeats + 1):
            spent.clear()
            t = time.thread_time()
            for _ in range(depth):
                np.matmul(x, W, out=out)
                np.matmul(x, W.T, out=out)
            spent["_products"] = time.thread_time() - t
            t = time.thread_time()
            probe(net, batch_size=batch, seed=0)
            spent["_probe"] = time.thread_time() - t
            if i:
                rows.append(dict(spent))
    layer_parts = [label for _, _, label in PROBE_PARTS]

    def split(r):  # one probe's parts: the remainders within the same probe
        parts = {label: r.get(label, 0.0) for label in layer_parts}
        parts["statistics"] = r["_stats in pass"] + r["_stats after"]
        parts["overflow checks, loop"] = (r["_forward"] + r["_backward"] - sum(parts[k] for k in layer_parts)
                                          - r["_stats in pass"])
        parts["probe: inputs, release"] = r["_probe"] - r["_forward"] - r["_backward"] - r["_stats after"]
        return parts

    split_rows = [split(r) for r in rows]
    parts = {k: med([p[k] for p in split_rows]) for k in split_rows[0]}
    return med([r["_products"] for r in rows]), med([r["_probe"] for r in rows]), parts


def probe_floors(depth, width, batch, dtype, repeats=15):
    """{part: median CPU seconds} of what each part of a probe costs at least, and the bare products: each
    part's numpy on its own, alternated. 'products of a pass': x W and dz W^T over the network's ``depth``
    distinct weight matrices, into a pass's worth of distinct arrays that exist already (no page faults);
    'tanh', "tanh'(z) * da", "relu'(z) * da", 'statistics (tanh)' (four moments and the saturated count per
    layer): on one (batch, width) array, in the cache; 'Python': a whole probe of ``depth`` layers of 8 x 8."""
    from gradviz.activations import relu_grad, tanh_grad
    from gradviz.stats import _var

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, width)).astype(dtype)
    W = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
    out = np.empty_like(x)
    Ws = [b.dense.params["W"] for b in MLP(width, depth=depth, width=width, activation="tanh", n_outputs=None,
                                            seed=0, dtype=dtype).blocks]
    records = [np.ones_like(x) for _ in range(5 * depth)]  # z, a, da, dz, slope per layer, written once
    z, da = rng.standard_normal((2, batch, width)).astype(dtype)
    a = np.tanh(z)
    small = MLP(8, depth=depth, width=8, activation="tanh", n_outputs=None, seed=0, dtype=dtype)

    def bare():
        for _ in range(depth):
            np.matmul(x, W, out=out)
            np.matmul(x, W.T, out=out)

    def pass_products():
        h = x
        for l in range(depth):
            h = np.matmul(h, Ws[l], out=records[5 * l])
        for l in range(depth - 1, -1, -1):
            h = np.matmul(h, Ws[l].T, out=records[5 * l + 3])

    def repeat(f):
        def g():
            for _ in range(depth):
                f()
        return g

    def statistics():
        _var(z), _var(a), _var(da), _var(da)
        np.count_nonzero(a < 0.05)

    parts = {"bare products": bare, "products of a pass": pass_products, "tanh": repeat(lambda: np.tanh(z)),
             "tanh'(z) * da": repeat(lambda: da * tanh_grad(z)), "relu'(z) * da": repeat(lambda: da * relu_grad(z)),
             "statistics (tanh)": repeat(statistics), "Python": lambda: probe(small, batch_size=8, seed=0)}
    times = {k: [] for k in parts}
    with np.errstate(all="ignore"):
        for i in range(repeats + 1):
            for k, f in parts.items():
                t = time.thread_time()
                f()
                if i:
                    times[k].append(time.thread_time() - t)
    return {k: med(v) for k, v in times.items()}


# ----------------------------------------------------------------------------- runs
async def bench_setting(setting, activation, n, dtype, scenarios):
    depth, width, batch = (int(x) for x in setting.split("x"))

    def front_end():  # a new explorer for each scenario: nothing cached by the one before
        return FrontEnd(DeepNetworkExplorer(canvas="ipympl", dtype=dtype, max_depth=max(50, depth), depth=depth,
                                            width=width, batch_size=batch, activation=activation))

    rows = []
    if "press" in scenarios:
        first, final, how, parts = await presses(front_end(), "weight_scale", n, record_parts=True)
        rows.append(("press", first, final, how, parts))
    if "drag" in scenarios:
        firsts, sent, dropped, catch_up = await drag(front_end(), "weight_scale", 0.1, 10.0)
        rows.append(("drag", firsts, sent, dropped, catch_up))
    return rows


def explorer_classes():
    """(name, class) of every explorer a notebook shows: the public Explorer subclasses defined in the chapter
    modules (or a chapter package's modules), in reading order, and the shared ActivationExplorer."""
    from gradviz import chapters, widgets

    out = []
    for module in chapters.load_all():
        for name in getattr(module, "__all__", ()):
            cls = getattr(module, name)
            home = getattr(cls, "__module__", "")
            if (isinstance(cls, type) and issubclass(cls, widgets.Explorer)
                    and (home == module.__name__ or home.startswith(module.__name__ + "."))):
                out.append((f"{name} ({module.__name__.split('.')[-1].split('_')[0]})", cls))
    return out + [("ActivationExplorer (widgets)", widgets.ActivationExplorer)]


def make_explorer(cls):
    """``cls`` at its defaults on an ipympl canvas (without progress bars), and its first slider's name."""
    import inspect

    kwargs = {"canvas": "ipympl"}
    if "progress" in inspect.signature(cls.__init__).parameters:
        kwargs["progress"] = False
    ex = cls(**kwargs)
    sliders = [k for k, c in ex.controls.items() if "Slider" in type(c).__name__ and not c.disabled]
    first = next((k for k in sliders if "Range" not in type(ex.controls[k]).__name__), sliders[0])
    return ex, first


async def bench_explorers(n, names=None):
    """{name: (first-frame latencies, final-frame latencies, how)} of ``n`` presses of each explorer's first slider."""
    results = {}
    for name, cls in explorer_classes():
        if names and not any(s.lower() in name.lower() for s in names):
            continue
        ex, control = make_explorer(cls)
        front = FrontEnd(ex)
        first, final, how, _ = await presses(front, control, n)
        results[name] = (first, final, how)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presses", type=int, default=30, help="arrow-key presses per row (default 30)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--threads", type=int, default=None, help="limit BLAS threads (threadpoolctl)")
    p.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="DEPTHxWIDTHxBATCH ...")
    p.add_argument("--scenarios", nargs="+", default=["ratio", "press", "drag"],
                   choices=("ratio", "parts", "floors", "press", "drag"), help="parts, floors: only when named")
    p.add_argument("--activations", nargs="+", default=["tanh", "relu"], help="for the press and parts rows")
    p.add_argument("--explorers", nargs="*", default=None,
                   help="every notebook's explorer at its defaults instead (or those whose name contains a word)")
    args = p.parse_args(argv)
    if not have_ipympl():
        sys.exit("ipympl is needed: the benchmark times the frames an ipympl canvas sends")
    ctx = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        ctx = threadpool_limits(args.threads)
    dtype = np.dtype(args.dtype)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{args.dtype}, {args.presses} presses per row, BLAS threads={args.threads or 'default'}, "
          f"cpus={os.cpu_count()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    if args.explorers is not None:
        results = asyncio.run(bench_explorers(args.presses, args.explorers))
        print(f"{'explorer':>32} {'first frame: median':>20} {'p95':>6} {'final: median':>14} {'p95':>6}  "
              f"{'data/title/y/x/full':>19}  (ms)")
        for name, (first, final, how) in results.items():
            paths = "/".join(str(how[k]) for k in ("data", "title", "y", "x", "full"))
            print(f"{name:>32} {ms(med(first)):20.1f} {ms(p95(first)):6.1f} {ms(med(final)):14.1f} "
                  f"{ms(p95(final)):6.1f}  {paths:>13}")
        return results
    print("deep-network explorer (gradviz.widgets.DeepNetworkExplorer), ms")
    for setting in args.settings:
        depth, width, batch = (int(x) for x in setting.split("x"))
        if "ratio" in args.scenarios:
            floor, pr = probe_ratio(depth, width, batch, dtype)
            print(f"{setting:>11} ratio      probe {ms(pr):.1f} / bare products {ms(floor):.1f} (CPU) = "
                  f"{pr / floor:.2f}  {'ok' if pr / floor <= 1.3 else 'ABOVE 1.3'}")
        if "parts" in args.scenarios:
            for activation in args.activations:
                floor, pr, parts = probe_parts(depth, width, batch, dtype, activation)
                print(f"{setting:>11} parts {activation:<5} probe {ms(pr):.1f} = {pr / floor:.2f} x the bare products "
                      f"{ms(floor):.1f} (CPU, wrapped methods): " + ", ".join(
                          f"{k} {ms(v):.1f} ({v / floor:.2f})" for k, v in parts.items()))
        if "floors" in args.scenarios:
            floors = probe_floors(depth, width, batch, dtype)
            bare = floors.pop("bare products")
            print(f"{setting:>11} floors     bare products {ms(bare):.1f} (CPU); each part on its own: " + ", ".join(
                f"{k} {ms(v):.1f} ({v / bare:.3f})" for k, v in floors.items()))
        for activation in args.activations:
            scen = [s for s in args.scenarios if s == "press" or (s == "drag" and activation == args.activations[0])]
            if not scen:
                continue
            for row in asyncio.run(bench_setting(setting, activation, args.presses, dtype, scen)):
                if row[0] == "press":
                    _, first, final, how, parts = row
                    paths = "/".join(str(how[k]) for k in ("data", "title", "y", "x", "full"))
                    m = {k: ms(med(v)) for k, v in parts.items()}
                    ok = p95(first) <= 0.1 and (p95(final) <= 0.1 or depth * width > 50 * 256)
                    print(f"{setting:>11} press {activation:<5} first {ms(med(first)):6.1f} / p95 {ms(p95(first)):6.1f}"
                          f"   final {ms(med(final)):6.1f} / p95 {ms(p95(final)):6.1f}   {paths:>9}   build "
                          f"{m['build']:.1f} probe {m['probe']:.1f} theory {m['theory']:.1f} artists "
                          f"{m['artists']:.1f} frame {m['frame']:.1f}  {'ok' if ok else 'SLOW'}")
                else:
                    _, firsts, sent, dropped, catch_up = row
                    print(f"{setting:>11} drag  {activation:<5} {sent} messages, first frame median "
                          f"{ms(med(firsts)):.1f} / p95 {ms(p95(firsts)):.1f}, {dropped} refinements dropped, "
                          f"catch-up {ms(catch_up):.1f}")
    if ctx is not None:
        ctx.unregister()


if __name__ == "__main__":
    main()
