"""The book without a kernel, and the playground for a class (README: "Without a kernel", "A classroom app").

- `make site`'s builder (docs/build_site.py) writes the site into a temporary folder. Every chapter
  page, opened from disk in headless Chromium with every request that leaves the machine refused,
  shows all the figures its notebook stores and the picture of every explorer; it holds no widget
  text (`VBox(`, `HBox(`) and no tqdm residue (`0/200 [00:00<?, ?step/s]`); MathJax typeset its
  math, with no `$$` left and no MathJax error; the contents page and the "next chapter" links
  reach every chapter, in order.
- `jupyter nbconvert --to html` of each notebook (nbconvert's defaults) holds an image for every
  figure and every explorer the notebook stores, and no widget or tqdm text.
- `make app` serves the playground with Voila on 127.0.0.1 at a free port: the page shows no code
  and no traceback, and moving two controls (a slider, with the keyboard, and a dropdown) changes
  the figure each time. The server and its kernels are stopped afterwards, also when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS_DIR = Path(os.environ.get("GRADVIZ_BROWSER_ARTIFACTS", REPO_ROOT / "artifacts" / "browser"))

pytestmark = pytest.mark.browser

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What gv.train.progress_bar stores for a bar: "training (200 steps)".
PROGRESS_LINE = re.compile(r"^[\w ]+ \(\d+ \w+\)$")
# tqdm's text of a bar: "0/200 [00:00<?, ?step/s]", "12.3it/s", "4.53run/s]".
TQDM_RESIDUE = re.compile(r"\d+/\d+ \[\d\d:\d\d|\?\w+/s\]|\d\w*/s\]|\bit/s\b")
WIDGET_REPR = re.compile(r"\b[VH]Box\(")
APP_START_TIMEOUT_S = 120
APP_FIRST_FIGURE_TIMEOUT_S = 180  # a fresh kernel imports gradviz and draws on a busy 2-core runner
APP_CHANGE_TIMEOUT_S = 60


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def cannot_run(reason: str):
    """Skip on a user's machine; fail in CI, where everything must be there (as conftest.py does)."""
    if in_ci():
        pytest.fail(f"CI=true but this browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def isolated_env(home: Path) -> dict:
    """The environment of a learner's fresh account: a temporary HOME and Jupyter folders."""
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".config" / "matplotlib"),
        PYTHONPATH=os.pathsep.join(p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p),
    )
    for name in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_PLATFORM_DIRS"):
        env.pop(name, None)
    return env


def stored_outputs(nb_path: Path) -> list[dict]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def plain(output: dict) -> str:
    text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def expected_images(nb_path: Path) -> tuple[int, int]:
    """(images the notebook stores, explorers among them); every explorer must store one."""
    outputs = stored_outputs(nb_path)
    explorers = [o for o in outputs if WIDGET_VIEW in o.get("data", {}) and not PROGRESS_LINE.match(plain(o))]
    bare = [plain(o)[:80] for o in explorers if "image/png" not in o["data"]]
    assert not bare, f"{nb_path.name}: widget outputs without a picture for static viewers: {bare}"
    return sum(images_in(o) for o in outputs), len(explorers)


def images_in(output: dict) -> int:
    """Pictures a static page shows for ``output``: its PNG, or, as the HTML of an explorer's bundle (preferred
    by nbconvert and the site), the PNG followed by notes that may hold more figures (the playground's)."""
    data = output.get("data", {})
    if "image/png" not in data:
        return 0
    text = data.get("text/html", "")
    return max(1, ("".join(text) if isinstance(text, list) else text).count('src="data:image/png;base64,'))


def has_math(nb_path: Path) -> bool:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return any("$" in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, id="no-notebooks", marks=pytest.mark.skip(reason="no notebooks/*.ipynb"))]
    return [pytest.param(p, id=p.stem) for p in NOTEBOOKS]


# --------------------------------------------------------------------------------- the static site
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built by `make site`'s script into a temporary folder (with `make site`'s environment)."""
    out = tmp_path_factory.mktemp("site") / "site"
    home = tmp_path_factory.mktemp("site-home")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "build_site.py"), "--out", str(out)],
        cwd=REPO_ROOT, env=isolated_env(home), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"docs/build_site.py failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"site built in {time.monotonic() - start:.1f} s")
    return out


@pytest.fixture()
def offline_page(browser):
    """A page on which every request that is not a local file or inline data is refused (and recorded)."""
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.gv_refused = []

    def route(r):
        if r.request.url.startswith(("file:", "data:", "about:")):
            r.continue_()
        else:
            page.gv_refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        yield page
    finally:
        context.close()


def wait_for_mathjax(page):
    page.wait_for_function("() => window.MathJax && window.MathJax.Hub", timeout=30_000)
    page.evaluate("() => new Promise(done => MathJax.Hub.Queue(() => done(true)))")


@pytest.mark.parametrize("nb_path", notebook_params())
def test_site_page_shows_every_figure_and_explorer_with_no_kernel(nb_path, site, offline_page):
    page = offline_page
    n_images, n_explorers = expected_images(nb_path)
    page.goto((site / f"{nb_path.stem}.html").as_uri())
    wait_for_mathjax(page)

    images = page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
                 .filter(img => img.src.startsWith('data:image/png'))
                 .map(img => img.complete && img.naturalWidth > 0)"""
    )
    assert len(images) == n_images, f"{len(images)} images on the page, {n_images} stored in the notebook"
    assert all(images), "an image on the page did not decode"
    assert n_explorers <= n_images

    text = page.inner_text("body")
    assert not WIDGET_REPR.search(text), f"widget text on the page: {WIDGET_REPR.search(text).group(0)!r}"
    residue = TQDM_RESIDUE.search(text)
    assert residue is None, f"tqdm residue on the page: {residue.group(0)!r}"
    assert "$$" not in text, "raw $$ on the page: MathJax did not typeset a display equation"
    if has_math(nb_path):
        assert page.locator(".MathJax, .MathJax_Display").count() > 0, "no math typeset"
    assert page.locator(".MathJax_Error, merror").count() == 0, "MathJax reported an error"
    assert page.locator("a.gv-contents").count() == 2, "the page has no way back to the contents"
    assert "make lab" in page.inner_text(".gv-live-note"), "the page does not say how to run it live"
    assert page.gv_refused == [], f"the page asked the network for {page.gv_refused}"
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / f"site-{nb_path.stem}.png"))


def test_site_navigation_reaches_every_chapter(site, offline_page):
    page = offline_page
    page.goto((site / "index.html").as_uri())
    toc = page.eval_on_selector_all(".gv-toc a", "links => links.map(a => a.getAttribute('href'))")
    assert toc == [f"{p.stem}.html" for p in NOTEBOOKS]

    def follow(selector):
        with page.expect_navigation():
            page.click(selector)
        return Path(page.url).name

    visited = [follow(f'.gv-toc a[href="{toc[0]}"]')]
    while page.locator(".gv-nav-bottom a.gv-next").count():
        visited.append(follow(".gv-nav-bottom a.gv-next"))
        assert len(visited) <= len(toc), f"the next-chapter links go round in circles: {visited}"
    assert visited == toc
    assert follow(".gv-nav-top a.gv-prev") == toc[-2]
    assert follow(".gv-nav-top a.gv-contents") == "index.html"
    assert page.gv_refused == []


# ------------------------------------------------------------------ nbconvert's defaults, per notebook
@pytest.mark.parametrize("nb_path", notebook_params())
def test_nbconvert_html_has_an_image_for_every_figure_and_explorer(nb_path, tmp_path):
    n_images, n_explorers = expected_images(nb_path)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output-dir", str(out), str(nb_path)],
        env=isolated_env(tmp_path / "home"), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    html = (out / f"{nb_path.stem}.html").read_text(encoding="utf-8")
    shown = len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))
    assert shown == n_images, f"nbconvert shows {shown} images; the notebook stores {n_images} ({n_explorers} explorers)"
    assert 'type="application/vnd.jupyter.widget-view+json"' not in html, "nbconvert chose a widget view"
    assert not WIDGET_REPR.search(html) and not TQDM_RESIDUE.search(html)


# ------------------------------------------------------------------------------------ the Voila app
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kernels_started_from(folder: Path) -> list[int]:
    """PIDs of the processes whose command line names ``folder`` (the app's kernels; Linux /proc)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline and "ipykernel" in cmdline:
            pids.append(int(proc.name))
    return pids


class VoilaApp:
    """`make app` on 127.0.0.1 at a free port, in a temporary HOME; stop() ends it and its kernels."""

    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.connections = base / "connections"
        self.log_path = base / "voila.log"
        self.proc = None

    def start(self):
        venv = Path(sys.executable).parent.parent
        if not (venv / "bin" / "voila").exists():
            cannot_run(f"no Voila in {venv} (the `app` extra: pip install -e '.[app]')")
        self.connections.mkdir(parents=True)
        self._log = open(self.log_path, "w")
        # `-o STAMP`: use the installed environment as it is (never reinstall from inside a test)
        cmd = ["make", "-s", "-o", f"{venv}/.installed", "app", f"VENV={venv}", f"PORT={self.port}",
               f"APP_ARGS=--Voila.connection_dir_root={self.connections}"]
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=isolated_env(self.base / "home"), stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + APP_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`make app` exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "api/status", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self  # the server answers (an unknown route still means it is up)
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"Voila did not answer on {self.url} within {APP_START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # Voila shuts its kernels down on SIGTERM
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        left = kernels_started_from(self.connections)
        for pid in left:  # kernels run in sessions of their own: never leave one behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "_log", None):
            self._log.close()
        return left


@pytest.fixture()
def voila_app():
    base = Path(tempfile.mkdtemp(prefix="gradviz-voila-"))
    app = VoilaApp(base)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield app.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
        left = app.stop()
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS_DIR / "voila-app.log").write_text(app.log())
        assert not left, f"kernels still running after Voila stopped: {left}"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", app.port), timeout=2).close()


def figure_shot(page) -> bytes:
    fig = page.locator(".jupyter-matplotlib-canvas-div, .widget-image").first
    return fig.screenshot(animations="disabled", caret="hide", timeout=60_000)


def settled_figure(page, before: bytes | None = None) -> bytes:
    """The figure once it differs from ``before`` (if given) and stays the same for 2 s: a control's
    redraw, drafted first and refined after, has finished."""
    deadline = time.monotonic() + APP_CHANGE_TIMEOUT_S
    last, since = figure_shot(page), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = figure_shot(page)
        if now != last:
            last, since = now, time.monotonic()
        elif last != before and time.monotonic() - since >= 2.0:
            return last
    raise AssertionError(f"the figure did not change and settle within {APP_CHANGE_TIMEOUT_S} s")


def test_app_serves_the_playground_without_code(voila_app, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1400})
    page = context.new_page()
    external = []

    def route(r):  # the app must work on a classroom network with no way out
        if r.request.url.startswith((voila_app.url, "data:", "blob:", "about:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        start = time.monotonic()
        page.goto(voila_app.url, timeout=APP_FIRST_FIGURE_TIMEOUT_S * 1000)
        page.wait_for_selector(".jupyter-matplotlib-canvas-div canvas, .widget-image img",
                               timeout=APP_FIRST_FIGURE_TIMEOUT_S * 1000)
        print(f"first figure {time.monotonic() - start:.1f} s after opening the app")
        first = settled_figure(page)

        text = page.inner_text("body")
        assert "gradviz playground" in text
        for code in ("import ", "PlaygroundExplorer(", "ch07_playground"):
            assert code not in text, f"code on the page: {code!r}"
        assert page.locator(".jp-CodeCell .jp-InputArea, .cm-editor, .CodeMirror").count() == 0, "a code cell is shown"
        for error in ("Traceback", "Error", "Exception"):
            assert error not in text, f"{error!r} on the page"

        # 1. the depth slider, with the keyboard, as a student would
        handle = page.locator('.widget-slider:has-text("depth") .noUi-handle[role="slider"]').first
        handle.scroll_into_view_if_needed()
        handle.focus()
        before_value = handle.get_attribute("aria-valuenow")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
            time.sleep(0.1)
        assert handle.get_attribute("aria-valuenow") != before_value, "the depth slider did not move"
        second = settled_figure(page, first)

        # 2. the activation dropdown
        dropdown = page.locator(".widget-dropdown").filter(has=page.locator("label", has_text=re.compile(r"^activation$")))
        dropdown.locator("select").select_option("tanh")
        settled_figure(page, second)

        text = page.inner_text("body")
        assert "Traceback" not in text and "Error" not in text, "an error appeared after moving the controls"
        assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
        ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / "voila-app.png"), full_page=True)
    finally:
        context.close()
    # Voila's page template links one stylesheet on a CDN that its own bundle already holds;
    # anything else fetched from outside would not reach a classroom with no way out.
    assert all("fontawesome" in url for url in external), f"the app asked the network for {external}"
