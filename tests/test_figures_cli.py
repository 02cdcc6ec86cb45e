"""`python -m gradviz figures`: writes the expected files, valid PNGs, the same bytes every time."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

from gradviz import chapters, figures  # noqa: E402
from gradviz.__main__ import main  # noqa: E402

chapters.load_all()  # every chapter registers its figures on import

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# quick figures for the file tests; every figure is rendered once in test_every_figure_renders
QUICK = ["gd_cost_bowl"]


def test_list_prints_every_figure(capsys):
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    for name in figures.FIGURES:
        assert name in out


def test_writes_png_and_svg_identical_bytes_twice(tmp_path, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "--out", str(out), "--only", *QUICK, "--format", "both", "--quiet"]) == 0
    files = sorted(os.listdir(out))
    assert files == sorted([f"{n}.png" for n in QUICK] + [f"{n}.svg" for n in QUICK])
    first = {f: (out / f).read_bytes() for f in files}
    for name in QUICK:
        data = first[f"{name}.png"]
        assert data[:8] == PNG_SIGNATURE
        img = mpimg.imread(out / f"{name}.png")
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
        assert b"Software" not in data
        svg = first[f"{name}.svg"]
        assert svg.lstrip().startswith(b"<?xml") and b"<dc:date>" not in svg
    assert main(["figures", "--out", str(out), "--only", *QUICK, "--format", "both", "--quiet"]) == 0
    assert {f: (out / f).read_bytes() for f in files} == first
    printed = capsys.readouterr().out.split()
    assert str(out / f"{QUICK[0]}.png") in printed


@pytest.mark.parametrize("argv, message", [
    (["figures", "--out", "x", "--only", "nope"], "unknown figure name"),
    (["figures"], "--out DIR is required"),
    (["figures", "--out", "x", "--format", "jpg"], "invalid choice"),
    (["figures", "--out", "x", "--dpi", "0"], "--dpi"),
    ([], "required"),
])
def test_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(SystemExit):
        main(["figures", "--out", str(f), "--only", QUICK[0]])
    assert "not a folder" in capsys.readouterr().err


def test_every_registered_figure_has_a_description():
    for name, spec in figures.FIGURES.items():
        assert callable(spec.func) and spec.description, name


def test_figure_decorator_rejects_bad_and_duplicate_names():
    with pytest.raises(ValueError, match="file-name-safe"):
        figures.figure("a/b")
    with pytest.raises(ValueError, match="already registered"):
        figures.figure(next(iter(figures.FIGURES)))(lambda: None)


def test_every_figure_knows_its_chapter():
    for name, spec in figures.FIGURES.items():
        assert spec.chapter in range(1, 9), (name, spec.func.__module__)


def test_chapter_is_read_from_the_module_name():
    assert figures._chapter_of("gradviz.chapters.ch04_nonsaturating") == 4
    assert figures._chapter_of("gradviz.chapters.ch06_batch_norm.figures") == 6  # a section of a chapter package
    assert figures._chapter_of("gradviz.plots") is None


def test_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gradviz", "figures", "--list"], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    assert r.returncode == 0 and QUICK[0] in r.stdout
