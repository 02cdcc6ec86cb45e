"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per module.

The server runs on 127.0.0.1 with a free port and no token, with a temporary HOME, temporary
Jupyter config/data/runtime/settings folders and a temporary copy of the notebooks, so nothing
is written back into the repository. Its news, update check and toasts are switched off so no
pop-up covers the page. It is stopped afterwards, also when a test fails.

Without Chromium or Playwright these tests skip with a message that says how to enable them;
with CI=true in the environment that is a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
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
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
# GRADVIZ_BROWSER_NOTEBOOKS: another folder of notebooks to test instead (for trying things out).
NOTEBOOKS_DIR = Path(os.environ.get("GRADVIZ_BROWSER_NOTEBOOKS", REPO_ROOT / "notebooks")).resolve()
ARTIFACTS_DIR = Path(os.environ.get("GRADVIZ_BROWSER_ARTIFACTS", REPO_ROOT / "artifacts" / "browser"))

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

HOW_TO_ENABLE = (
    "To run the browser tests: install Debian's Chromium and Playwright for Python "
    "(`bash .ci/install-browser` as root, or `apt-get install chromium` and "
    "`pip install -e '.[test]'`), or point GRADVIZ_CHROMIUM at a Chromium binary; "
    "then `make test-browser` or `pytest -m browser tests/browser`."
)

# JupyterLab user settings written into the temporary settings folder.
USER_SETTINGS = {
    # No news, no update check, no toast notifications at all.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # restart-and-run-all without the confirmation dialog.
    "@jupyterlab/apputils-extension/sessionDialogs.jupyterlab-settings": {
        "skipKernelRestartDialog": True,
    },
    # Every cell attached to the DOM, so every output can be inspected.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
    },
    # The extension manager would query a package index.
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    # Nothing written back (the notebooks are a temporary copy anyway).
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# Plugins disabled through page_config.json: the news/announcements plugin itself.
DISABLED_PLUGINS = {
    "@jupyterlab/apputils-extension:announcements": True,
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str):
    """Skip on a user's machine; fail in CI, where the browser must be there."""
    if in_ci():
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}. {HOW_TO_ENABLE}", pytrace=False)
    pytest.skip(f"{reason}. {HOW_TO_ENABLE}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: end-to-end tests of the notebooks in JupyterLab in headless Chromium "
        "(run alone with `pytest -m browser tests/browser`)",
    )


def find_chromium() -> str | None:
    """$GRADVIZ_CHROMIUM when set (and then only it), else Debian's /usr/bin/chromium or PATH."""
    if os.environ.get("GRADVIZ_CHROMIUM"):
        candidates = [os.environ["GRADVIZ_CHROMIUM"]]
    else:
        candidates = ["/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _die_with_parent():
    """In the server's process (Linux): get SIGTERM when pytest dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLabServer:
    """A JupyterLab server in a temporary world; `url` is its base URL."""

    def __init__(self, base: Path, log_path: Path):
        self.base = base
        self.root = base / "root"
        self.home = base / "home"
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- temporary world -------------------------------------------------
    def prepare(self):
        config_dir = self.home / ".jupyter"
        settings_dir = config_dir / "lab" / "user-settings"
        for rel, values in USER_SETTINGS.items():
            path = settings_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))
        labconfig = config_dir / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": DISABLED_PLUGINS}))
        (self.home / "workspaces").mkdir(parents=True, exist_ok=True)
        ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        self.root.mkdir(parents=True, exist_ok=True)
        if NOTEBOOKS_DIR.is_dir():
            shutil.copytree(NOTEBOOKS_DIR, self.root / "notebooks", ignore=ignore)
        shutil.copytree(FIXTURES_DIR, self.root / "fixtures", ignore=ignore)

    def env(self) -> dict:
        env = dict(os.environ)
        config_dir = self.home / ".jupyter"
        env.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(config_dir),
            JUPYTER_DATA_DIR=str(self.home / ".local" / "share" / "jupyter"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(config_dir / "lab" / "user-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            IPYTHONDIR=str(self.home / ".ipython"),
            MPLCONFIGDIR=str(self.home / ".config" / "matplotlib"),
            # The kernels import gradviz from the repository even before it is installed,
            # as they would for a learner who starts JupyterLab in the clone.
            PYTHONPATH=os.pathsep.join(p for p in [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")] if p),
            PYTHONUNBUFFERED="1",
        )
        # What a learner's JupyterLab would not have: a non-interactive matplotlib backend
        # (`make test` sets MPLBACKEND=Agg, which would hide every inline figure), or other
        # Jupyter paths and tokens.
        for name in (
            "MPLBACKEND",
            "JUPYTER_PATH",
            "JUPYTER_CONFIG_PATH",
            "JUPYTER_TOKEN",
            "JUPYTERLAB_DIR",
            "JUPYTER_PLATFORM_DIRS",
        ):
            env.pop(name, None)
        return env

    # -- lifecycle -------------------------------------------------------
    def start(self, timeout: float = 90.0):
        self.prepare()
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.open_browser=False",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI runs as root
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str):
        req = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Stop every kernel, so each notebook starts from a clean server."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError):
            pass

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, errors="replace") as fh:
            fh.seek(offset)
            return fh.read()

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_since(0).splitlines()[-n:])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_kernels()
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self._log:
            self._log.close()


@pytest.fixture(scope="module")
def chromium_path():
    path = find_chromium()
    if path is None:
        skip_or_fail(
            f"no Chromium at GRADVIZ_CHROMIUM={os.environ['GRADVIZ_CHROMIUM']!r}"
            if os.environ.get("GRADVIZ_CHROMIUM")
            else "no Chromium found (looked at /usr/bin/chromium and PATH)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("Playwright for Python is not installed")
    return path


@pytest.fixture(scope="module")
def jupyterlab(chromium_path):
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        skip_or_fail("JupyterLab is not installed in this Python")
    # Screenshots of an earlier run (say of a notebook since renamed) would mislead.
    for stale in ("notebooks", "fixtures"):
        shutil.rmtree(ARTIFACTS_DIR / stale, ignore_errors=True)
    base = Path(tempfile.mkdtemp(prefix="gradviz-browser-"))
    server = JupyterLabServer(base, base / "jupyterlab-server.log")

    def on_sigterm(signum, frame):  # e.g. `timeout`: stop the server and kernels on the way out
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.start()
        yield server
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        try:  # keep the server's log beside the screenshots
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(server.log_path, ARTIFACTS_DIR / "jupyterlab-server.log")
        except OSError:
            pass
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
