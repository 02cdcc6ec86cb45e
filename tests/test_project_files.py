"""pyproject.toml, constraints.txt and environment.yml agree (no drift).

pyproject.toml names the dependencies and their bounds; constraints.txt pins
the exact versions a green CI used (`make constraints`), for one Python
version; environment.yml (conda/mamba/Binder) installs the same pins with pip
for that Python. When you add a dependency, run `make test-latest` and
`make constraints`; these tests say what is missing where.
"""

from __future__ import annotations

import json
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


def read_constraints() -> tuple[dict[str, str], set[str]]:
    """constraints.txt -> ({normalized name: pinned version}, {python versions named by the markers})."""
    pins, pythons = {}, set()
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt: {line!r} is not an exact pin"
        assert req.marker is not None, f"constraints.txt: {line!r} has no python_version marker"
        pythons.add(str(req.marker).split('"')[1])
        pins[normalize(req.name)] = spec.version
    return pins, pythons


def test_environment_installs_the_package_with_the_constraints(environment):
    conda, pip = environment_entries(environment)
    assert "pip" in conda, "environment.yml needs `pip` to run its `pip:` section"
    assert "-c constraints.txt" in pip, "environment.yml must install under the pins: `-c constraints.txt`"
    assert "-e .[test]" in pip, "environment.yml must install gradviz from the checkout: `-e .[test]`"
    assert set(conda) == CONDA_ONLY, f"environment.yml: let pip install {sorted(set(conda) - CONDA_ONLY)}"
    assert "conda-forge" in environment["channels"]


def test_every_dependency_is_pinned_within_its_bounds(pyproject):
    pins, pythons = read_constraints()
    for name, req in pyproject_requirements(pyproject).items():
        if req.marker is not None and not any(req.marker.evaluate({"python_version": v}) for v in pythons):
            continue  # e.g. tomli, only for Python 3.10
        assert name in pins, f"{name} is in pyproject.toml but not pinned in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}: constraints.txt pins {pins[name]}, outside pyproject.toml's {str(req.specifier)!r}"
        )


def test_one_python_for_the_pins_and_the_conda_environment(pyproject, environment):
    _, pythons = read_constraints()
    assert len(pythons) == 1, f"constraints.txt names several Python versions: {sorted(pythons)}"
    (python,) = pythons
    conda, _ = environment_entries(environment)
    assert conda["python"] in (f"={python}", f"=={python}"), (
        f"environment.yml pins python {conda['python']!r}; constraints.txt was made on Python {python}"
    )
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(python)


def test_pyproject_basics(pyproject):
    assert pyproject["project"]["name"] == "gradviz"
    assert "test" in pyproject["project"]["optional-dependencies"]
    assert pyproject["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


# ------------------------------------------------------------------ notebooks as static viewers see them
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# What gv.train.progress_bar stores for a bar: "training (200 steps)".
PROGRESS_LINE = re.compile(r"^[\w ]+ \(\d+ \w+\)$")


def _widget_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                if WIDGET_VIEW in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_static_viewers_see_a_picture_or_one_line_for_every_widget(path):
    """nbconvert, nbviewer and code-hosting pages draw a widget from the notebook's stored widget
    state, with JavaScript from the network; without that state they show the next form of the
    output: an explorer's image/png, a progress bar's one line (README, "Without a kernel")."""
    nb, outputs = _widget_outputs(path)
    assert "widgets" not in nb["metadata"], (
        f"{path.name} stores its widgets' state: re-execute it with `make notebooks NB={path.relative_to(ROOT).as_posix()}` "
        "(--ExecutePreprocessor.store_widget_state=False)"
    )
    for out in outputs:
        text = "".join(out["data"].get("text/plain", ""))
        assert "\n" not in text.strip() and not re.match(r"[VH]Box\(", text), f"{path.name}: widget text {text[:60]!r}"
        if not PROGRESS_LINE.match(text):
            assert "image/png" in out["data"], f"{path.name}: an explorer without a first frame: {text[:60]!r}"
