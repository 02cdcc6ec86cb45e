"""Imports flow one way: the contracts of [tool.importlinter] in pyproject.toml, checked by import-linter.

A chapter imports the general package, never another chapter; a general module imports only the
layers below it (chapters -> figures | widgets | exercises -> plots | _canvas -> train -> stats | theory ->
network | losses | optim | descent -> layers -> init -> activations | data | gradcheck | _live -> _validate).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("importlinter")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_imports_keep_the_contracts_of_pyproject():
    # import-linter analyses the source of ./gradviz (it puts the working directory first on the path)
    proc = subprocess.run([sys.executable, "-c", LINT, "pyproject.toml", "--no-cache", "--no-logo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"import-linter found imports against the contracts:\n{proc.stdout}{proc.stderr}"
    assert "2 kept, 0 broken" in proc.stdout, proc.stdout
