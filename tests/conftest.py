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
