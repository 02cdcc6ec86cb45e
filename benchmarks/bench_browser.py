"""What a learner waits for in the browser: from an arrow key on an explorer's slider to changed pixels.

    python benchmarks/bench_browser.py [--presses 12] [--only Selu Momentum [--all-on-page]] [--threads 1] [--trace]
    make benchmark-browser

It starts JupyterLab (on 127.0.0.1, a free port, a temporary HOME, as
tests/browser does) and headless Chromium through Playwright, opens a notebook
that shows every notebook's explorer at its default settings (and the
deep-network explorer at its largest setting), runs it, and then, for each
explorer, focuses its first slider and presses the right arrow key ``--presses``
times, as a learner would (turning back at the end of the slider's range).

For each press it times, in the page, the interval from the key event to the
moment the explorer's canvas pixels change: ipympl draws each frame it receives
into the visible canvas with ``drawImage``, and the script hashes the canvas
after every such draw (a draw that changes no pixel does not count; the time is
taken before the hash, which is the benchmark's own work, 2-3 ms). The first
change is the first frame (a draft, for an explorer that refines); the last
change before the next press is the final frame. The next press waits until the
canvas has been still for a while.

``--trace`` also prints each press's timeline, in ms from the key event, on one
clock: the page's websocket messages out and in (bytes; the frame is the large one), the kernel's
log (the control's message, the start of the draw, the frame handed to the
comm), ipympl's work on a frame (its ``toDataURL`` of the canvas, the decoded
PNG drawn offscreen), main-thread tasks over 50 ms, and the changed pixels;
and the CPU each party used per press (kernel, Jupyter server, Chromium's
processes, the benchmark itself; the page's main thread by Chromium's
Performance metrics). ``--chrome-trace DIR`` writes Chromium's own trace of each
explorer's presses (open it in Perfetto).

In the kernel the same presses are timed from the message's arrival
(ipywidgets' ``set_state``) to the frames handed to the comm. Printed per
explorer: median and p95 of the browser's first and final frames, the
kernel's (its final frame: the first frame of a final answer), the gap
(browser minus kernel medians: the widget's message to the kernel, the frame's
way back, PNG decoding and painting), and the frames the kernel sent after a
press's final frame, before the next press ("late").

Needs Chromium (/usr/bin/chromium, or GRADVIZ_CHROMIUM) and Playwright, as the
browser tests do (``bash .ci/install-browser``). It is a benchmark that prints
figures, not a test: times depend on the load of the machine (printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _browser_module(name, filename):
    """A module of tests/browser: conftest.py (the JupyterLab server in a temporary world, Chromium's flags
    and path) or test_notebooks_in_browser.py (waiting for an idle kernel)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "browser" / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# The kernel side: build an explorer, log when a control's message arrives, when the explorer starts to draw
# and when frames leave (perf_counter, and the epoch for --trace's timeline).
SETUP = r'''
import importlib, inspect, json, time
from gradviz.widgets import Explorer
LOG = {}

def bench_show(module, name, key, **values):
    cls = getattr(importlib.import_module(module), name)
    kwargs = dict(values, canvas="ipympl")
    if "progress" in inspect.signature(cls.__init__).parameters:
        kwargs["progress"] = False
    ex = cls(**kwargs)
    log = LOG.setdefault(key, [])
    for control in ex.controls.values():
        if hasattr(control, "set_state"):
            set_state = control.set_state
            def timed(state, set_state=set_state):
                log.append(["message", time.perf_counter(), None, time.time()])
                return set_state(state)
            control.set_state = timed
    request_draw = ex.request_draw
    def draw(*args, **kwargs):
        log.append(["draw", time.perf_counter(), ex.answered, time.time()])
        return request_draw(*args, **kwargs)
    ex.request_draw = draw
    canvas = ex.figure.canvas
    send = canvas.send_binary
    def sent(data):
        log.append(["frame", time.perf_counter(), ex.answered, time.time()])
        return send(data)
    canvas.send_binary = sent
    return ex
'''

# In the page: the key events, and every drawImage into a watched canvas that changed its pixels.
JS_INSTALL = r"""() => {
  if (window.__gvb) return;
  window.__gvb = {keys: [], draws: [], events: []};
  document.addEventListener('keydown', () => window.__gvb.keys.push(performance.now()), true);
  // --trace: the kernel's websocket (message sizes in and out), main-thread tasks over 50 ms, image decodes
  const ev = (kind, n) => window.__gvb.events.push({t: performance.now(), kind, n});
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => ev('in', e.data.byteLength ?? e.data.size ?? e.data.length));
    }
    send(data) { ev('out', data.byteLength ?? data.size ?? data.length); return super.send(data); }
  };
  try {
    new PerformanceObserver((list) => list.getEntries().forEach(
      (e) => window.__gvb.events.push({t: e.startTime, kind: 'longtask', n: Math.round(e.duration)})))
      .observe({type: 'longtask', buffered: false});
  } catch (e) { /* no longtask timing */ }
  const toDataURL = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (...args) {
    const t = performance.now();
    const out = toDataURL.apply(this, args);
    ev('toDataURL ms', Math.round(performance.now() - t));
    return out;
  };
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const out = draw.apply(this, args);
    const t = performance.now();  // before the hash below, which is the benchmark's own work
    const c = this.canvas;
    if (c && !c.isConnected && args[0] instanceof HTMLImageElement) ev('decoded', args[0].width * args[0].height);
    if (c && c.dataset && c.dataset.gvbWatch && c.width && c.height) {
      const px = new Uint32Array(this.getImageData(0, 0, c.width, c.height).data.buffer);
      let h = 2166136261;
      for (let i = 0; i < px.length; i++) { h = Math.imul(h ^ px[i], 16777619); }
      if (h !== c.__gvbHash) {
        c.__gvbHash = h;
        window.__gvb.draws.push({t, id: c.dataset.gvbWatch});
      }
      ev('hash ms', Math.round(performance.now() - t));
    }
    return out;
  };
}"""

# Tag the explorer in output cell `cell`: its canvases (watched) and its first enabled slider handle (or the
# first whose label contains `label`).
JS_TAG = r"""([cell, id, label]) => {
  const panel = window.__gvPanel;
  const node = panel.content.widgets[cell].node;
  const handles = Array.from(node.querySelectorAll('.widget-slider .noUi-handle[role="slider"]'))
    .filter((h) => !h.closest('[disabled]'));
  const labelOf = (h) => (h.closest('.widget-slider').querySelector('.widget-label') || {}).textContent || '';
  const handle = handles.find((h) => !label || labelOf(h).includes(label));
  const canvases = node.querySelectorAll('.jupyter-matplotlib-canvas-div canvas');
  canvases.forEach((c) => { c.dataset.gvbWatch = id; });
  if (handle) handle.dataset.gvbHandle = id;
  return {handle: !!handle, canvases: canvases.length, label: handle ? labelOf(handle) : ''};
}"""

JS_RUN_ALL = """async () => {
  window.__gvbRun = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    () => { window.__gvbRun = 'done'; }, (e) => { window.__gvbRun = String(e); });
}"""

JS_EXECUTE = """async ([code]) => {
  const k = window.__gvPanel.sessionContext.session.kernel;
  await k.requestExecute({code, silent: true, store_history: false}).done;
}"""


def explorer_rows():
    """(module, class, key, values, slider label) of every explorer a notebook shows (its first slider), and
    the deep-network explorer at its largest setting (where it answers first from a slice of the batch)."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_explorer

    rows = [(cls.__module__, cls.__name__, name, {}, "") for name, cls in bench_explorer.explorer_classes()]
    rows.append(("gradviz.widgets", "DeepNetworkExplorer", "DeepNetworkExplorer 50x512x256 (weight scale)",
                 {"depth": 50, "width": 512, "batch_size": 256}, "weight scale"))
    return rows


def notebook(rows, log_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(SETUP + f"\nLOG_PATH = {str(log_path)!r}\n"))
    for module, cls, key, values, _ in rows:
        args = "".join(f", {k}={v!r}" for k, v in values.items())
        nb.cells.append(nbformat.v4.new_code_cell(f"bench_show({module!r}, {cls!r}, {key!r}{args})"))
    return nb


def step(message):
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# After a key press, in the page: wait for the slider to show a new value (false if it does not within 0.5 s: the
# end of its range), then for the watched canvas to draw after the key and stay still for `quiet` ms. (Polled from
# Python instead, ~30 DevTools round trips per press, Playwright's driver and this script took 70-90 ms of CPU per
# press, on the two cores the kernel and Chromium share; waiting in the page, 20-45.)
JS_WAIT_PRESS = r"""async ([key, before, n, quiet, timeout]) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const t0 = performance.now();
  while (window.__gvbValue(key) === before) {
    if (performance.now() - t0 > 500) return false;
    await sleep(20);
  }
  const g = window.__gvb;
  while (performance.now() - t0 < timeout) {
    await sleep(50);
    const last = g.draws.length ? g.draws.at(-1).t : 0;
    if (g.draws.length > n && last > (g.keys.at(-1) || 0) && performance.now() - last >= quiet) return true;
  }
  return null;
}"""

# The value a tagged slider shows (its readout and its handle's aria-valuenow).
JS_VALUE = r"""() => {
  window.__gvbValue = (key) => {
    const h = document.querySelector(`[data-gvb-handle="${key}"]`);
    const r = h.closest('.widget-slider').querySelector('.widget-readout');
    return (r ? (r.value !== undefined && r.value !== '' ? r.value : r.textContent) : '') + '|'
      + h.getAttribute('aria-valuenow');
  };
}"""


def press_slider(page, key, presses, quiet_s, timeout_s, trace=None):
    """Arrow-key presses on the tagged slider: [(first change ms, last change ms)] after each key event
    (``trace``, a list: add to it what the page saw after each key: websocket messages in and out with their
    bytes, main-thread tasks over 50 ms, PNG frames decoded, toDataURL calls, changed pixels)."""
    handle = page.locator(f'[data-gvb-handle="{key}"]')
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.evaluate(JS_VALUE)
    direction, out, misses = "ArrowRight", [], 0
    while len(out) < presses and misses < 4:
        before, n = page.evaluate("(key) => [window.__gvbValue(key), window.__gvb.draws.length]", key)
        page.keyboard.press(direction)
        done = page.evaluate(JS_WAIT_PRESS, [key, before, n, 1e3 * quiet_s, 1e3 * timeout_s])
        if done is False:  # at the end of the range: turn back
            direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
            misses += 1
            continue
        if not done:
            misses += 1
            continue
        got = page.evaluate("""(n) => ({key: window.__gvb.keys.at(-1),
                                        draws: window.__gvb.draws.slice(n).map((d) => d.t),
                                        events: window.__gvb.events.splice(0),
                                        origin: performance.timeOrigin})""", n)
        after = [t - got["key"] for t in got["draws"] if t >= got["key"]]
        if after:
            out.append((after[0], after[-1]))
            if trace is not None:
                trace.append({"origin": got["origin"], "key": got["key"],
                              "events": [(e["t"] - got["key"], e["kind"], e["n"]) for e in got["events"]
                                         if got["key"] - 60 <= e["t"] <= got["key"] + after[-1] + 1]
                              + [(t, "pixels changed", "") for t in after]})
    handle.blur()
    return out


def kernel_latencies(log):
    """[(first frame ms, final frame ms, frames after the final one)] per message from the kernel's log (frames
    before the next message). The final frame is the first that shows a final answer; a frame after it (e.g. the
    whole figure again, when the browser asked for it) is counted, not timed: it changes no number the learner
    waited for."""
    out = []
    for i, (kind, t, *_) in enumerate(log):
        if kind != "message":
            continue
        frames = []
        for kind2, t2, answered, *_ in log[i + 1:]:
            if kind2 == "message":
                break
            if kind2 == "frame":
                frames.append((t2, answered))
        if frames:
            finals = [i for i, (f, a) in enumerate(frames) if a in ("final", None)] or [len(frames) - 1]
            out.append((1e3 * (frames[0][0] - t), 1e3 * (frames[finals[0]][0] - t), len(frames) - 1 - finals[0]))
    return out


def cpu_seconds(server_pid, cdp):
    """CPU seconds (user + system) used so far by the kernel, the Jupyter server, Chromium's processes and the
    rest of this benchmark's (Playwright's driver, this script), and the page's main thread by kind of work
    (Chromium's Performance.getMetrics through the DevTools session ``cdp``), for --trace."""
    import psutil

    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    page = {f"page {k.replace('Duration', '').replace('RecalcStyle', 'style')}": metrics.get(k, 0.0)
            for k in ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}

    kernels = set()
    try:
        kernels = {p.pid for p in psutil.Process(server_pid).children(recursive=True)}
    except psutil.Error:
        pass
    out = {}
    for p in [psutil.Process()] + psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            name = ("kernel" if p.pid in kernels else "server" if p.pid == server_pid
                    else "chromium" if "chrom" in p.name().lower() else "benchmark")
        except psutil.Error:
            continue
        out[name] = out.get(name, 0.0) + t.user + t.system
    return {**out, **page}


def print_trace(key, presses, log):
    """Each press's timeline (ms from the key event): the page's events and the kernel's (the control's message
    arriving, frames handed to the comm), on one clock (the epoch)."""
    for i, press in enumerate(presses, start=1):
        t_key = press["origin"] + press["key"]  # the key event, epoch ms
        end = max(t for t, _, _ in press["events"])
        kernel = [(1e3 * entry[3] - t_key, f"kernel {entry[0]}", entry[2] or "") for entry in log
                  if len(entry) > 3 and -60 <= 1e3 * entry[3] - t_key <= end]
        timeline = sorted(press["events"] + kernel, key=lambda e: e[0])
        print(f"{key}, press {i}: " + "; ".join(f"{t:.0f} {kind} {n}".rstrip() for t, kind, n in timeline),
              flush=True)


def p95(values):
    return float(np.percentile(values, 95)) if values else float("nan")


def med(values):
    return statistics.median(values) if values else float("nan")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presses", type=int, default=12, help="arrow-key presses per explorer (default 12)")
    p.add_argument("--only", nargs="*", default=None, help="explorers whose name contains one of these words")
    p.add_argument("--all-on-page", action="store_true", help="with --only: the notebook still shows every explorer "
                   "(as without --only: a longer page to lay out and paint), and only those of --only are pressed")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads of the kernel (default 1; 0: its default)")
    p.add_argument("--quiet", type=float, default=1.0, help="seconds of a still canvas that end a press (default 1)")
    p.add_argument("--chrome-trace", metavar="DIR", default=None,
                   help="write Chromium's performance trace of each explorer's presses to DIR/<explorer>.json "
                   "(chrome://tracing, Perfetto)")
    p.add_argument("--trace", action="store_true", help="print, per press, the page's timeline from the key event to "
                   "the last changed pixels (ms): websocket messages (bytes), long tasks, decoded frames")
    args = p.parse_args(argv)
    support = _browser_module("gradviz_browser_support", "conftest.py")
    checks = _browser_module("gradviz_browser_checks", "test_notebooks_in_browser.py")  # opening, waiting
    chromium = support.find_chromium()
    if chromium is None:
        sys.exit("no Chromium (looked at GRADVIZ_CHROMIUM, /usr/bin/chromium, PATH): " + support.HOW_TO_ENABLE)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sys.exit("Playwright for Python is not installed: " + support.HOW_TO_ENABLE)
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    rows = explorer_rows()
    pressed = {r[2] for r in rows if not args.only or any(w.lower() in r[2].lower() for w in args.only)}
    if not args.all_on_page:
        rows = [r for r in rows if r[2] in pressed]
    base = Path(tempfile.mkdtemp(prefix="gradviz-bench-browser-"))
    server = support.JupyterLabServer(base, base / "jupyterlab-server.log")
    log_path = base / "kernel-log.json"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"browser: headless Chromium ({chromium}), {args.presses} arrow-key presses per explorer, kernel BLAS "
          f"threads={args.threads or 'default'}, cpus={os.cpu_count()}, load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}", flush=True)
    results, traces, cpu_use = {}, {}, {}
    signal.signal(signal.SIGTERM, _interrupt)  # `timeout` and friends: stop the server on the way out
    try:
        step("starting JupyterLab")
        server.start()
        import nbformat

        nbformat.write(notebook(rows, log_path), server.root / "bench_explorers.ipynb")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=support.CHROMIUM_FLAGS, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 1400}, device_scale_factor=1).new_page()
            page.set_default_timeout(120_000)
            cdp = None
            if args.trace:
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
            page.add_init_script(f"({JS_INSTALL})()")
            step("opening JupyterLab in Chromium")
            page.goto(f"{server.url}/lab?reset", wait_until="domcontentloaded")
            page.wait_for_function(checks.JS_APP_READY)
            page.evaluate(JS_INSTALL)
            page.evaluate(checks.JS_OPEN, ["bench_explorers.ipynb"])
            page.wait_for_function(checks.JS_PANEL_READY, arg=["bench_explorers.ipynb"])
            checks.wait_kernel_idle(page, 120)
            step(f"running the notebook of {len(rows)} explorers")
            page.evaluate(JS_RUN_ALL)
            page.wait_for_function("() => window.__gvbRun !== null", timeout=900_000)
            checks.wait_kernel_idle(page, 900, settle_s=2.0)
            page.mouse.move(0, 0)
            for cell, (_, _, key, _, label) in enumerate(rows, start=1):
                if key not in pressed:
                    continue
                tag = page.evaluate(JS_TAG, [cell, key, label])
                if not tag["handle"] or not tag["canvases"]:
                    print(f"{key}: no slider or no canvas found, skipped", flush=True)
                    continue
                idle = cpu_seconds(server.proc.pid, cdp) if args.trace else None
                time.sleep(1.0)
                traces[key] = [] if args.trace else None
                cpu = cpu_seconds(server.proc.pid, cdp) if args.trace else None
                if cpu is not None:
                    cpu_use[key, "the idle second before"] = {k: cpu[k] - idle.get(k, 0.0) for k in cpu}
                if args.chrome_trace:
                    browser.start_tracing(page=page, path=str(Path(args.chrome_trace) / f"{key.split()[0]}.json"),
                                          categories=["devtools.timeline", "disabled-by-default-devtools.timeline",
                                                      "blink", "cc", "gpu", "v8", "toplevel", "loading"])
                results[key] = press_slider(page, key, args.presses, args.quiet, timeout_s=60, trace=traces[key])
                if args.chrome_trace:
                    browser.stop_tracing()
                step(f"{key}: {len(results[key])} presses of {tag['label'].strip()!r}")
                if cpu is not None and results[key]:
                    after = cpu_seconds(server.proc.pid, cdp)
                    cpu_use[key, "a press (and the still wait after it)"] = {
                        k: (after[k] - cpu.get(k, 0.0)) / len(results[key]) for k in after}
                checks.wait_kernel_idle(page, 120, settle_s=0.5)
            page.evaluate(JS_EXECUTE, ["import json; json.dump(LOG, open(LOG_PATH, 'w'))"])
            browser.close()
        kernel = json.loads(log_path.read_text()) if log_path.exists() else {}
    finally:
        server.stop()
    for key, presses in traces.items():
        print_trace(key, presses or [], kernel.get(key, []))
    for (key, what), use in cpu_use.items():
        print(f"{key}, CPU ms in {what}: " + ", ".join(f"{k} {1e3 * v:.0f}" for k, v in use.items()), flush=True)
    print(f"\n{'explorer':>46} | {'browser first frame':>19} | {'browser final':>13} | {'kernel first':>12} | "
          f"{'kernel final':>12} | {'gap':>5} | late")
    print(f"{'':>46} | {'median':>9} {'p95':>9} | {'median':>6} {'p95':>6} | {'median':>5} {'p95':>6} | "
          f"{'median':>5} {'p95':>6} | {'ms':>5} | frames")
    for key, presses in results.items():
        first = [a for a, _ in presses]
        final = [b for _, b in presses]
        k = kernel_latencies(kernel.get(key, []))
        kfirst = [a for a, _, _ in k]
        kfinal = [b for _, b, _ in k]
        late = sum(c for _, _, c in k)
        flag = "ok" if p95(first) <= 150 else "SLOW"
        print(f"{key:>46} | {med(first):9.0f} {p95(first):9.0f} | {med(final):6.0f} {p95(final):6.0f} | "
              f"{med(kfirst):5.0f} {p95(kfirst):6.0f} | {med(kfinal):5.0f} {p95(kfinal):6.0f} | "
              f"{med(first) - med(kfirst):5.0f} | {late:6d}  {flag}")
    return results


if __name__ == "__main__":
    main()
