"""Imports flow one way: the contracts of [tool.importlinter] in pyproject.toml, checked by import-linter.

A chapter imports the general package, never another chapter; a section of a chapter package imports
only the sections before it (experiments <- figures <- explorers | exercises); a general module imports only the
layers below it (chapters -> figures | widgets | exercises -> plots | _canvas -> train -> stats | theory ->
network | losses | optim | descent -> layers -> init -> activations | data | gradcheck | _live | _controls | _logaxis
-> _validate).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gradviz import chapters

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytest.importorskip("importlinter")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_imports_keep_the_contracts_of_pyproject():
    # import-linter analyses the source of ./gradviz (it puts the working directory first on the path)
    proc = subprocess.run([sys.executable, "-c", LINT, "pyproject.toml", "--no-cache", "--no-logo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"import-linter found imports against the contracts:\n{proc.stdout}{proc.stderr}"
    assert "3 kept, 0 broken" in proc.stdout, proc.stdout


SECTIONS = ("experiments", "figures", "explorers", "exercises")
CHAPTER_PACKAGES = [m for m in chapters.load_all() if hasattr(m, "__path__")]


def test_every_chapter_package_is_under_the_sections_contract():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    containers = [c.get("containers", []) for c in contracts if c["name"].startswith("Chapter packages")]
    assert containers == [[m.__name__ for m in CHAPTER_PACKAGES]]


@pytest.mark.parametrize("package", CHAPTER_PACKAGES, ids=lambda m: m.__name__.rpartition(".")[2])
def test_a_chapter_package_reexports_its_all_from_its_sections(package):
    # the notebook's `ch.` sees exactly __all__ (plus the four sections), each name the object its section defines
    public = {n for n in vars(package) if not n.startswith("_") and n not in SECTIONS and n != "annotations"}
    assert public == set(package.__all__)
    for name in package.__all__:
        homes = [s for s in SECTIONS if getattr(getattr(package, s), name, None) is getattr(package, name)]
        assert homes, name
