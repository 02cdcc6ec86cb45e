"""`python -m gradviz figures`: writes the expected files, valid PNGs, the same bytes every time."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

from gradviz import figures  # noqa: E402
from gradviz.__main__ import main  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# quick figures for the file tests; every figure is rendered once in test_every_figure_renders
QUICK = ["activation_functions"]


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
    assert str(out / "activation_functions.png") in printed


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


# The seed figures of this module; chapters test the figures they append.
SEEDS = ["activation_functions", "variance_sigmoid_vs_relu_he", "histograms_tanh_naive_vs_glorot",
         "grad_norm_and_saturation_sigmoid", "training_digits_sigmoid_vs_relu"]


def test_seed_figures_render_labelled():
    import matplotlib.pyplot as plt
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        rendered = {name: figures.render(name) for name in SEEDS}
    for name, fig in rendered.items():
        assert fig.axes, name
        for ax in fig.axes:
            if ax.get_label() != "<colorbar>" and ax.axison and ax.lines:
                assert ax.get_xlabel(), (name, ax)
    assert plt.get_fignums() == []  # figures do not go through pyplot


def test_every_registered_figure_has_a_description():
    for name, spec in figures.FIGURES.items():
        assert callable(spec.func) and spec.description, name


def test_register_figure_rejects_bad_and_duplicate_names():
    with pytest.raises(ValueError, match="file-name-safe"):
        figures.register_figure("a/b")
    with pytest.raises(ValueError, match="already registered"):
        figures.register_figure(next(iter(figures.FIGURES)))(lambda: None)


def test_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gradviz", "figures", "--list"], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(__file__)), timeout=120)
    assert r.returncode == 0 and "activation_functions" in r.stdout
