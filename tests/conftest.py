"""Shared fixtures, and a guard that keeps a developer's own settings out of the tests.

Before anything imports matplotlib or Jupyter, point HOME and every config
directory at a fresh temporary folder (unless the Makefile already did), and
select the non-interactive Agg backend. A personal matplotlibrc, IPython
profile or Jupyter config can then not change a figure or a number.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import settings

if os.environ.get("GRADVIZ_TEST_HOME") is None:
    _home = tempfile.mkdtemp(prefix="gradviz-test-home-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["GRADVIZ_TEST_HOME"] = _home
    os.environ["HOME"] = _home
    os.environ["JUPYTER_CONFIG_DIR"] = os.path.join(_home, ".jupyter")
    os.environ["JUPYTER_DATA_DIR"] = os.path.join(_home, ".local", "share", "jupyter")
    os.environ["IPYTHONDIR"] = os.path.join(_home, ".ipython")
    os.environ["MPLCONFIGDIR"] = os.path.join(_home, ".config", "matplotlib")
    os.environ["XDG_CONFIG_HOME"] = os.path.join(_home, ".config")
    os.environ["XDG_CACHE_HOME"] = os.path.join(_home, ".cache")
os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


# Hypothesis explores new examples on a developer's machine (and keeps any failure
# it finds in .hypothesis/ to replay); in CI it replays a fixed sequence, so a
# submission cannot pass or fail by the luck of the draw.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, fixed-seed generator for each test."""
    return np.random.default_rng(12345)


# ----------------------------------------------------------------------------- tolerance audit
# `GRADVIZ_AUDIT_TOLERANCES=path make test PYTEST_ARGS=...` logs every pytest.approx / np.allclose /
# np.isclose call whose *default* absolute tolerance is larger than the relative one it was given, at
# the scale of the expected values: such a check can pass a result of 0 where the expected value is
# tiny (CONTRIBUTING, "Tests with teeth"). Each logged call needs abs=0 / atol=0, or an explicit
# absolute tolerance with a reason.
_AUDIT = os.environ.get("GRADVIZ_AUDIT_TOLERANCES")
if _AUDIT:
    import inspect

    def _log_if_vacuous(expected, rel, default_abs, kind):
        values = np.abs(np.asarray(expected, dtype=float)).ravel()
        values = values[np.isfinite(values) & (values > 0)]
        if values.size and default_abs > rel * values.min():
            caller = inspect.stack()[2]
            with open(_AUDIT, "a", encoding="utf-8") as log:
                log.write(f"{caller.filename}:{caller.lineno}: {kind} default abs {default_abs:g} > rel {rel:g} x "
                          f"smallest |expected| {values.min():.3g}\n")

    _approx = pytest.approx

    def _audited_approx(expected, rel=None, abs=None, nan_ok=False):
        if abs is None:
            try:
                _log_if_vacuous(expected, 1e-6 if rel is None else rel, 1e-12, "approx")
            except (TypeError, ValueError):
                pass
        return _approx(expected, rel=rel, abs=abs, nan_ok=nan_ok)

    pytest.approx = _audited_approx

    for _name in ("allclose", "isclose"):
        def _make(original, name):
            def audited(a, b, rtol=1e-05, atol=None, equal_nan=False):
                if atol is None:
                    try:
                        _log_if_vacuous(b, rtol, 1e-08, f"np.{name}")
                    except (TypeError, ValueError):
                        pass
                    atol = 1e-08
                return original(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
            return audited
        setattr(np, _name, _make(getattr(np, _name), _name))
