"""pyproject.toml and environment.yml must list the same dependencies (no drift).

pyproject.toml is the source of truth (pip route, `make lab` / `make test`);
environment.yml is the conda/mamba/Binder route. When you add a dependency to
one, add it to the other; this test tells you which name is missing where.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# Entries of environment.yml that conda needs but that are not Python packages
# of ours (the interpreter itself, the installer for the `pip:` section).
CONDA_ONLY = {"python", "pip"}

# PyPI name -> conda-forge name, for the few packages whose names differ.
PYPI_TO_CONDA: dict[str, str] = {}


def normalize(name: str) -> str:
    """PEP 503 normalisation: case-insensitive, runs of -_. are the same."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_conda_spec(spec: str) -> tuple[str, str]:
    """'ipywidgets>=8' -> ('ipywidgets', '>=8'); 'conda-forge::numpy 2.*' -> ('numpy', '2.*')."""
    spec = spec.split("::")[-1].strip()
    m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    assert m, f"cannot parse environment.yml entry {spec!r}"
    return normalize(m.group(1)), m.group(2).replace(" ", "")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def environment() -> dict:
    with open(ROOT / "environment.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def pyproject_requirements(pyproject: dict) -> dict[str, Requirement]:
    project = pyproject["project"]
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    # Extras may refer back to the project itself, e.g. "gradviz[test]"; that is not a dependency.
    own = normalize(project["name"])
    return {normalize(r.name): r for r in reqs if normalize(r.name) != own}


def environment_entries(environment: dict) -> tuple[dict[str, str], list[str]]:
    conda, pip = {}, []
    for dep in environment["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            name, spec = parse_conda_spec(str(dep))
            conda[name] = spec
    return conda, pip


def test_environment_installs_the_package_itself(environment):
    conda, pip = environment_entries(environment)
    assert "pip" in conda, "environment.yml needs `pip` to run its `pip:` section"
    assert "-e ." in pip, "environment.yml must install gradviz from the checkout with `pip: [-e .]`"
    assert "conda-forge" in environment["channels"]


def test_same_dependency_names(pyproject, environment):
    wanted = {PYPI_TO_CONDA.get(name, name) for name in pyproject_requirements(pyproject)}
    conda, pip = environment_entries(environment)
    pip_names = {normalize(Requirement(p).name) for p in pip if not p.startswith("-")}
    listed = (set(conda) - CONDA_ONLY) | pip_names
    missing = sorted(wanted - listed)
    extra = sorted(listed - wanted)
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"


def test_same_version_bounds(pyproject, environment):
    conda, _ = environment_entries(environment)
    for name, req in pyproject_requirements(pyproject).items():
        conda_spec = conda.get(PYPI_TO_CONDA.get(name, name), "")
        assert SpecifierSet(conda_spec) == req.specifier, (
            f"{name}: pyproject.toml says {str(req.specifier)!r}, environment.yml says {conda_spec!r}"
        )


def test_same_python_floor(pyproject, environment):
    conda, _ = environment_entries(environment)
    assert SpecifierSet(conda["python"]) == SpecifierSet(pyproject["project"]["requires-python"])


def test_pyproject_basics(pyproject):
    assert pyproject["project"]["name"] == "gradviz"
    assert "test" in pyproject["project"]["optional-dependencies"]
    assert pyproject["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]
