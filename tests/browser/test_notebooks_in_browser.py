"""Every notebook, opened in a real JupyterLab in headless Chromium, as a learner would.

For each notebooks/*.ipynb (a temporary copy): open it, restart the kernel and run all cells,
wait until the kernel is idle, then check that

- no cell shows an error output, no warning reaches the learner on stderr, and every
  non-empty code cell ran (run-all did not stop early);
- every widget output rendered (no "Error displaying widget", no "Loading widget...");
- in every explorer (a cell output holding a slider), moving a slider by keyboard, as a person
  would (focus the handle, press the arrow keys), changes the plot next to it: element
  screenshots before and after differ. If the first slider leaves the picture unchanged the
  others are tried in turn;
- the kernel reported no error while the sliders moved (callbacks that raise are caught from
  the kernel's messages on the page's websocket and from the server log).

Screenshots go to artifacts/browser/<notebook>/ (override with GRADVIZ_BROWSER_ARTIFACTS).
The fixtures in tests/browser/fixtures prove the check passes on a working explorer and fails
on a broken callback and on a cell that raises.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import os

import pytest

# The same paths as conftest.py (not imported from it: "conftest" may name another module).
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
# GRADVIZ_BROWSER_NOTEBOOKS: another folder of notebooks to test instead (for trying things out).
NOTEBOOKS_DIR = Path(os.environ.get("GRADVIZ_BROWSER_NOTEBOOKS", REPO_ROOT / "notebooks")).resolve()
ARTIFACTS_DIR = Path(os.environ.get("GRADVIZ_BROWSER_ARTIFACTS", REPO_ROOT / "artifacts" / "browser"))

pytestmark = pytest.mark.browser

# Restart and run all, per notebook: generous, since a busy machine can triple a notebook's time.
RUN_ALL_TIMEOUT_S = float(os.environ.get("GRADVIZ_BROWSER_TIMEOUT", 300))
PLOT_CHANGE_TIMEOUT_S = 45  # a callback may train a small network before it redraws
OTHER_ATTEMPT_TIMEOUT_S = 10  # further sliders of an explorer whose first one did nothing
RUN_BUTTON_TIMEOUT_S = 150  # a "Run" button may train a network
MAX_SLIDERS_TRIED = 3
FIRST_DRAW_TIMEOUT_S = 30  # ipympl figures draw after the kernel went idle
VIEWPORT = {"width": 1400, "height": 1400}  # tall: explorers are tall, element shots stay whole
ARROW_PRESSES = 3

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WARNING_RE = re.compile(r"\b\w*Warning\b")
# A kernel message of type "error" (iopub), as JSON inside a websocket frame (text or binary).
ERROR_MSG_RE = re.compile(r'"msg_type"\s*:\s*"error"')
ENAME_RE = re.compile(r'"ename"\s*:\s*"((?:[^"\\]|\\.)*)"')
EVALUE_RE = re.compile(r'"evalue"\s*:\s*"((?:[^"\\]|\\.)*)"')
TRACEBACK_RE = re.compile(r'"traceback"\s*:\s*(\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])')
SERVER_LOG_ERROR_RE = re.compile(r"Exception in comm_msg|Exception in message handler")

# Elements whose pixels are "the plot" of an explorer; the innermost match wins.
PLOT_SELECTORS = ".jupyter-matplotlib-canvas-div, .widget-output, .widget-image"
# Controls are masked in fallback screenshots, so a moving handle or readout is no "change".
CONTROL_SELECTORS = (
    ".widget-slider, .widget-readout, .widget-dropdown, .widget-toggle-buttons, "
    ".widget-checkbox, .widget-button, .jupyter-button, .jupyter-matplotlib-toolbar"
)


def real_notebooks():
    paths = sorted(NOTEBOOKS_DIR.glob("*.ipynb")) if NOTEBOOKS_DIR.is_dir() else []
    if not paths:
        return [
            pytest.param(
                None,
                id="no-notebooks",
                marks=pytest.mark.skip(reason=f"no notebooks yet: {NOTEBOOKS_DIR}/*.ipynb matched nothing"),
            )
        ]
    return [pytest.param(f"notebooks/{p.name}", id=p.stem) for p in paths]


# ---------------------------------------------------------------------------------------------
# JavaScript run in the page (JupyterLab is exposed as window.jupyterapp by the server flag
# --LabApp.expose_app_in_browser).

JS_APP_READY = """() => !!(window.jupyterapp && window.jupyterapp.shell && window.jupyterapp.commands
                          && window.jupyterapp.commands.hasCommand('docmanager:open'))"""

# Close every document and dialog (their kernels are then shut down through the REST API).
JS_CLOSE_ALL = """() => {
  const app = window.jupyterapp;
  if (!app) return;
  document.querySelectorAll('.jp-Dialog .jp-mod-reject').forEach((b) => b.click());
  for (const w of Array.from(app.shell.widgets('main'))) { w.dispose(); }
  window.__gvPanel = null;
}"""

# The panel is kept as window.__gvPanel (shell.currentWidget depends on focus).
JS_OPEN = """async ([path]) => {
  const app = window.jupyterapp;
  const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  window.__gvPanel = panel;
  app.shell.activateById(panel.id);
}"""

JS_PANEL_READY = """([path]) => {
  const panel = window.__gvPanel;
  return !!(panel && panel.context && panel.context.path === path && panel.content
            && panel.sessionContext && panel.sessionContext.isReady
            && panel.content.widgets.length > 0);
}"""

JS_START_RUN_ALL = """async () => {
  const app = window.jupyterapp;
  window.__gvRunAll = null;
  await app.commands.execute('notebook:clear-all-cell-outputs');
  app.commands.execute('notebook:restart-run-all').then(
    (r) => { window.__gvRunAll = {ok: true, result: String(r)}; },
    (e) => { window.__gvRunAll = {ok: false, error: String(e)}; });
}"""

JS_KERNEL_STATE = """() => {
  const panel = window.__gvPanel;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const running = Array.from(panel.content.node.querySelectorAll('.jp-InputPrompt'))
    .some((p) => p.textContent.includes('*'));
  return {status: kernel ? kernel.status : 'none', running};
}"""

JS_CELLS = """() => {
  const panel = window.__gvPanel;
  const clip = (s, n) => (s.length > n ? s.slice(0, n) + ' ...' : s);
  return panel.content.widgets.map((cell, index) => {
    const m = cell.model;
    const info = {index, type: m.type, source: m.sharedModel.getSource(),
                  tags: m.getMetadata('tags') || [], executionCount: null, outputs: []};
    if (m.type !== 'code') return info;
    info.executionCount = m.executionCount;
    info.outputs = m.outputs.toJSON().map((o) => {
      const out = {output_type: o.output_type};
      if (o.output_type === 'stream') {
        out.name = o.name;
        out.text = clip(Array.isArray(o.text) ? o.text.join('') : String(o.text), 4000);
      } else if (o.output_type === 'error') {
        out.ename = o.ename; out.evalue = o.evalue;
        out.traceback = clip((o.traceback || []).join('\\n'), 6000);
      } else {
        out.mimes = Object.keys(o.data || {});
      }
      return out;
    });
    return info;
  });
}"""

# Rendered widget outputs: which ones failed or are still loading.
JS_WIDGET_RENDER = """() => {
  const panel = window.__gvPanel;
  const res = [];
  panel.content.widgets.forEach((cell, index) => {
    const area = cell.node.querySelector('.jp-Cell-outputArea');
    if (!area) return;
    area.querySelectorAll(':scope > .jp-OutputArea-child > .jp-OutputArea-output').forEach((o) => {
      const text = o.textContent || '';
      const broken = o.querySelector('.jupyter-widgets-error-widget') || text.includes('Error displaying widget');
      const loading = text.includes('Loading widget...');
      const widgets = o.querySelectorAll('.jupyter-widgets').length;
      if (broken || loading || widgets) {
        res.push({cell: index, broken: !!broken, loading, widgets, text: text.slice(0, 300)});
      }
    });
  });
  return res;
}"""

# Cells holding an ipympl figure that has not drawn yet (its canvas is still 0 x 0).
JS_EMPTY_CANVASES = """() => {
  const res = [];
  window.__gvPanel.content.widgets.forEach((cell, index) => {
    cell.node.querySelectorAll('.jupyter-matplotlib-canvas-div').forEach((el) => {
      if (!(el.offsetWidth > 0 && el.offsetHeight > 0) && !res.includes(index)) res.push(index);
    });
  });
  return res;
}"""

# Find the explorers and tag their elements with data attributes for the locators.
JS_TAG_EXPLORERS = """([plotSel]) => {
  const panel = window.__gvPanel;
  const cells = panel.content.widgets.map((c) => c.node);
  const visible = (el) => el.offsetWidth > 0 && el.offsetHeight > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const innermost = (els) => els.filter((el) => !els.some((o) => o !== el && el.contains(o)));
  const plotsIn = (root) => (root ? innermost(Array.from(root.querySelectorAll(plotSel)).filter(visible)) : []);
  const explorers = [];
  let plotId = 0;
  const tagPlot = (el) => {
    if (!el.dataset.gvPlot) el.dataset.gvPlot = String(plotId++);
    return el.dataset.gvPlot;
  };
  cells.forEach((cellNode, cellIndex) => {
    const area = cellNode.querySelector('.jp-Cell-outputArea');
    if (!area) return;
    area.querySelectorAll(':scope > .jp-OutputArea-child').forEach((child, childIndex) => {
      const handles = Array.from(child.querySelectorAll('.widget-slider .noUi-handle[role="slider"]'))
        .filter((h) => !h.closest('[disabled]'));
      if (!handles.length) return;
      const id = String(explorers.length);
      child.dataset.gvExplorer = id;
      handles.forEach((h, k) => { h.dataset.gvHandle = id + '-' + k; });
      let plots = plotsIn(child), where = 'same output';
      if (!plots.length) { plots = plotsIn(area); where = 'same cell'; }
      for (let j = cellIndex - 1; !plots.length && j >= 0; j--) {
        plots = plotsIn(cells[j].querySelector('.jp-Cell-outputArea'));
        where = 'cell ' + j;
      }
      let plotIds;
      if (plots.length) {
        plotIds = plots.map(tagPlot);
      } else {
        // No plot anywhere: the whole cell output, with its controls masked, is the picture.
        area.dataset.gvPlot = area.dataset.gvPlot || String(plotId++);
        plotIds = [area.dataset.gvPlot];
        where = 'whole cell output (no plot found)';
      }
      const labels = Array.from(child.querySelectorAll('.widget-slider')).map(
        (s) => (s.querySelector('.widget-label') || {}).textContent || '');
      // ipywidgets Buttons (not ipympl's toolbar), e.g. "Run"
      const buttons = Array.from(child.querySelectorAll('button.widget-button'))
        .filter((el) => !el.closest('.jupyter-matplotlib-toolbar') && !el.disabled && visible(el));
      buttons.forEach((el, k) => { el.dataset.gvButton = id + '-' + k; });
      explorers.push({id, cell: cellIndex, child: childIndex, handles: handles.length,
                      labels, plotIds, where,
                      buttons: buttons.map((el) => el.textContent.trim() || el.title || 'button')});
    });
  });
  return explorers;
}"""


# ---------------------------------------------------------------------------------------------


@dataclass
class KernelErrors:
    """Kernel "error" messages seen on the page's websockets."""

    seen: list = field(default_factory=list)
    #: the last traceback of each error in ``seen`` (the kernel sends it in the same message), to report
    tracebacks: dict = field(default_factory=dict)

    def on_frame(self, payload):
        text = payload.decode("utf-8", "replace") if isinstance(payload, (bytes, bytearray)) else payload
        if ERROR_MSG_RE.search(text):
            ename = ENAME_RE.search(text)
            evalue = EVALUE_RE.search(text)
            err = (f"{ename.group(1) if ename else '?'}: "
                   f"{json.loads(chr(34) + evalue.group(1) + chr(34)) if evalue else '?'}")
            self.seen.append(err)
            tb = TRACEBACK_RE.search(text)
            try:
                self.tracebacks[err] = ANSI.sub("", "\n".join(json.loads(tb.group(1)))) if tb else ""
            except ValueError:
                self.tracebacks[err] = tb.group(1)

    def attach(self, page):
        page.on("websocket", lambda ws: ws.on("framereceived", self.on_frame))


def wait_kernel_idle(page, timeout_s: float, settle_s: float = 1.5):
    """Wait until the kernel is idle and no cell is running, steadily for settle_s."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    state = None
    while time.monotonic() < deadline:
        state = page.evaluate(JS_KERNEL_STATE)
        if state["status"] == "idle" and not state["running"]:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle_s:
                return
        else:
            idle_since = None
        time.sleep(0.25)
    raise AssertionError(f"kernel not idle after {timeout_s:.0f} s (last state {state})")


def shot(page, plot_id: str) -> bytes:
    loc = page.locator(f'[data-gv-plot="{plot_id}"]')
    return loc.screenshot(
        animations="disabled",
        caret="hide",
        mask=[loc.locator(CONTROL_SELECTORS)],
        timeout=60_000,
    )


def stable_shots(page, plot_ids, timeout_s: float = 15.0, interval_s: float = 0.4):
    """Screenshots of the plots, once two in a row are identical (drawing finished)."""
    deadline = time.monotonic() + timeout_s
    previous = [shot(page, p) for p in plot_ids]
    while time.monotonic() < deadline:
        time.sleep(interval_s)
        current = [shot(page, p) for p in plot_ids]
        if current == previous:
            return current
        previous = current
    return previous


def move_slider(page, handle_id: str) -> tuple[str, str]:
    """Focus a slider handle and press the arrow keys as a person would; returns old, new value."""
    handle = page.locator(f'[data-gv-handle="{handle_id}"]')
    handle.scroll_into_view_if_needed()
    before = handle.get_attribute("aria-valuenow")
    handle.focus()
    for _ in range(ARROW_PRESSES):
        page.keyboard.press("ArrowRight")
        time.sleep(0.1)
    after = handle.get_attribute("aria-valuenow")
    if after == before:  # at its maximum: go the other way
        for _ in range(ARROW_PRESSES):
            page.keyboard.press("ArrowLeft")
            time.sleep(0.1)
        after = handle.get_attribute("aria-valuenow")
    handle.blur()
    return before, after


def wait_for_change(page, plot_ids, before, timeout_s, kernel_errors):
    """The plots' screenshots once they differ from `before` and are stable, else None."""
    errors_before = len(kernel_errors.seen)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.4)
        if len(kernel_errors.seen) > errors_before:  # the callback raised: no point waiting
            time.sleep(1.0)
            now = [shot(page, p) for p in plot_ids]
            return now if now != before else None
        now = [shot(page, p) for p in plot_ids]
        if now != before:
            wait_kernel_idle(page, RUN_BUTTON_TIMEOUT_S, settle_s=0.5)
            after = stable_shots(page, plot_ids)
            return after if after != before else None
    return None


def try_explorer(page, ex, record, outdir: Path, kernel_errors) -> str | None:
    """Move the explorer's sliders (then press its buttons) until its plot changes.

    The first slider gets PLOT_CHANGE_TIMEOUT_S, the next ones (up to MAX_SLIDERS_TRIED) a
    shorter wait. An explorer with a button (say "Run": the sliders choose, the button trains)
    gets a short wait per slider and then its buttons are pressed, the first one with a long
    wait. Returns a problem description, or None when the plot changed.
    """
    tag = f"explorer{int(ex['id']):02d}-cell{ex['cell']:02d}"
    page.locator(f'[data-gv-explorer="{ex["id"]}"]').screenshot(path=str(outdir / f"{tag}.png"))
    attempts = []
    for k in range(min(ex["handles"], MAX_SLIDERS_TRIED)):
        label = ex["labels"][k] if k < len(ex["labels"]) else str(k)
        first = k == 0 and not ex["buttons"]
        attempts.append(("slider", k, label, PLOT_CHANGE_TIMEOUT_S if first else OTHER_ATTEMPT_TIMEOUT_S))
    for k, label in enumerate(ex["buttons"]):
        attempts.append(("button", k, label, RUN_BUTTON_TIMEOUT_S if k == 0 else OTHER_ATTEMPT_TIMEOUT_S))

    for n, (kind, k, label, timeout_s) in enumerate(attempts):
        wait_kernel_idle(page, RUN_BUTTON_TIMEOUT_S, settle_s=0.5)
        before = stable_shots(page, ex["plotIds"])
        if kind == "slider":
            old, new = move_slider(page, f"{ex['id']}-{k}")
            record["tried"].append(f"slider {label!r} {old} -> {new}")
        else:
            page.locator(f'[data-gv-button="{ex["id"]}-{k}"]').click()
            page.mouse.move(0, 0)
            record["tried"].append(f"button {label!r}")
        changed = wait_for_change(page, ex["plotIds"], before, timeout_s, kernel_errors)
        after = changed or [shot(page, p) for p in ex["plotIds"]]
        name = f"{tag}-try{n}-{kind}-{safe_name(label)}"
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            (outdir / f"{name}-plot{i}-before.png").write_bytes(b)
            (outdir / f"{name}-plot{i}-after.png").write_bytes(a)
        if changed is not None:
            record["changed_by"] = record["tried"][-1]
            return None
    return (
        f"explorer in cell {ex['cell']} (plot: {ex['where']}): none of {record['tried']} "
        f"changed the plot; see {outdir}/{tag}-*.png"
    )


def close_all(page, server):
    page.evaluate(JS_CLOSE_ALL)
    server.shutdown_kernels()


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "x"


def check_notebook(page, server, relpath: str, outdir: Path, kernel_errors: KernelErrors) -> dict:
    """Run one notebook in the open page; raise AssertionError listing every problem found."""
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    problems: list[str] = []
    summary: dict = {"notebook": relpath, "explorers": []}

    t0 = time.monotonic()
    timings = summary["seconds"] = {}
    if not page.evaluate(JS_APP_READY):
        page.goto(f"{server.url}/lab?reset", wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function(JS_APP_READY, timeout=120_000)
    close_all(page, server)
    page.evaluate(JS_OPEN, [relpath])
    page.wait_for_function(JS_PANEL_READY, arg=[relpath], timeout=90_000)
    page.mouse.move(0, 0)  # keep the pointer off the figures (ipympl shows a toolbar on hover)
    # Let the first kernel finish starting: restarting it mid-import logs a KeyboardInterrupt.
    wait_kernel_idle(page, 90)
    timings["open"] = round(time.monotonic() - t0, 1)

    # -- restart the kernel and run all cells -----------------------------------------------
    log_offset = server.log_size()
    kernel_errors.seen.clear()
    page.evaluate(JS_START_RUN_ALL)
    page.wait_for_function("() => window.__gvRunAll !== null", timeout=RUN_ALL_TIMEOUT_S * 1000)
    wait_kernel_idle(page, RUN_ALL_TIMEOUT_S)
    run_all = page.evaluate("() => window.__gvRunAll")
    timings["run_all"] = round(time.monotonic() - t0 - timings["open"], 1)
    summary["run_all"] = run_all

    # -- errors, warnings, cells that did not run ---------------------------------------------
    cells = page.evaluate(JS_CELLS)
    for cell in cells:
        if cell["type"] != "code":
            continue
        n = cell["index"]
        allowed = "raises-exception" in cell["tags"]
        for out in cell["outputs"]:
            if out["output_type"] == "error" and not allowed:
                tb = ANSI.sub("", out.get("traceback", ""))
                problems.append(f"cell {n} raised {out['ename']}: {out['evalue']}\n{tb}")
            elif out["output_type"] == "stream" and out["name"] == "stderr" and WARNING_RE.search(out["text"]):
                problems.append(f"cell {n} shows a warning on stderr:\n{out['text']}")
        if cell["source"].strip() and cell["executionCount"] is None:
            problems.append(f"cell {n} did not run (run-all stopped before it?)")
    if problems:  # the page is worth a look before anything else happens
        page.screenshot(path=str(outdir / "page-after-run-all.png"))

    # -- widgets rendered ---------------------------------------------------------------------
    deadline = time.monotonic() + 30
    while True:
        rendered = page.evaluate(JS_WIDGET_RENDER)
        if not any(r["loading"] for r in rendered) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for r in rendered:
        if r["broken"]:
            problems.append(f"cell {r['cell']}: a widget failed to render: {r['text']!r}")
        elif r["loading"]:
            problems.append(f"cell {r['cell']}: a widget still shows 'Loading widget...' after 30 s")
    page.screenshot(path=str(outdir / "page-after-run-all.png"))

    # -- ipympl figures drew something ------------------------------------------------------
    deadline = time.monotonic() + FIRST_DRAW_TIMEOUT_S
    while True:
        empty = page.evaluate(JS_EMPTY_CANVASES)
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for n in empty:
        problems.append(f"cell {n}: an ipympl figure is still empty {FIRST_DRAW_TIMEOUT_S} s after run-all")

    # -- explorers: move a slider, the plot must change ----------------------------------------
    explorers = page.evaluate(JS_TAG_EXPLORERS, [PLOT_SELECTORS])
    for ex in explorers:
        record = {**ex, "tried": [], "changed_by": None}
        summary["explorers"].append(record)
        problem = try_explorer(page, ex, record, outdir, kernel_errors)
        if problem:
            problems.append(problem)

    # -- errors raised in the kernel while the page was used --------------------------------
    if explorers:
        wait_kernel_idle(page, PLOT_CHANGE_TIMEOUT_S, settle_s=0.5)
    reported_in_cells = {
        f"{o['ename']}: {o['evalue']}" for c in cells for o in c["outputs"] if o["output_type"] == "error"
    }
    for err in dict.fromkeys(kernel_errors.seen):  # unique, in order
        if err not in reported_in_cells:
            count = kernel_errors.seen.count(err)
            tb = kernel_errors.tracebacks.get(err, "")
            problems.append(f"the kernel reported an error ({count}x) while the explorers were used: {err}"
                            + (f"\n{tb[:4000]}\n...\n{tb[-5000:]}" if tb else ""))
    server_log = server.log_since(log_offset)
    if SERVER_LOG_ERROR_RE.search(server_log):
        lines = server_log.splitlines()
        idx = next(i for i, line in enumerate(lines) if SERVER_LOG_ERROR_RE.search(line))
        problems.append(
            "the kernel logged an exception (a widget callback raised?):\n" + "\n".join(lines[idx : idx + 30])
        )

    page.screenshot(path=str(outdir / "page-end.png"))
    timings["total"] = round(time.monotonic() - t0, 1)
    summary["problems"] = problems
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2))
    close_all(page, server)
    if problems:
        raise AssertionError(f"{relpath}: {len(problems)} problem(s):\n\n" + "\n\n".join(problems))
    return summary


@dataclass
class LabPage:
    """One browser tab with JupyterLab loaded once; notebooks are opened in it one at a time."""

    page: object
    kernel_errors: KernelErrors


@pytest.fixture(scope="module")
def lab_page(browser):
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors = KernelErrors()
    errors.attach(page)
    try:
        yield LabPage(page, errors)
    finally:
        context.close()


def run_check(lab_page, jupyterlab, relpath: str) -> dict:
    outdir = ARTIFACTS_DIR / Path(relpath).with_suffix("")
    page = lab_page.page
    try:
        return check_notebook(page, jupyterlab, relpath, outdir, lab_page.kernel_errors)
    except BaseException:
        outdir.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(outdir / "page-on-failure.png"))
        except Exception:  # the page itself may be gone
            pass
        jupyterlab.shutdown_kernels()
        try:  # the next notebook starts from a freshly loaded JupyterLab
            page.goto("about:blank")
        except Exception:
            pass
        raise


@pytest.mark.parametrize("relpath", real_notebooks())
def test_notebook_in_jupyterlab(relpath, jupyterlab, lab_page):
    summary = run_check(lab_page, jupyterlab, relpath)
    if not summary["explorers"]:
        print(f"{relpath}: no explorer (no slider) found")


# --- the check itself, proved on fixtures ----------------------------------------------------


def test_fixture_with_working_explorers_passes(jupyterlab, lab_page):
    summary = run_check(lab_page, jupyterlab, "fixtures/explorer_fixture.ipynb")
    assert len(summary["explorers"]) == 2, summary
    assert all(ex["changed_by"] for ex in summary["explorers"]), summary


def test_fixture_with_broken_callback_fails(jupyterlab, lab_page):
    with pytest.raises(AssertionError) as excinfo:
        run_check(lab_page, jupyterlab, "fixtures/broken_callback_fixture.ipynb")
    message = str(excinfo.value)
    assert "changed the plot" in message and "none of" in message, message
    assert "TypeError" in message, message


def test_fixture_with_cell_error_fails(jupyterlab, lab_page):
    with pytest.raises(AssertionError) as excinfo:
        run_check(lab_page, jupyterlab, "fixtures/cell_error_fixture.ipynb")
    message = str(excinfo.value)
    assert "cell 2 raised ValueError: deliberate error" in message, message
    assert "cell 3 did not run" in message, message


def test_fixtures_are_clean():
    """The fixtures are committed without outputs, so the browser must produce every pixel."""
    for path in FIXTURES_DIR.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            assert not cell.get("outputs"), f"{path.name} has saved outputs"
