"""Chapter 01 (gradviz.chapters.ch01_gradient_descent): its drawing and explorer (every regime draws
without a warning, redraws in place, and the readout says what the run did), its figures and its exercises."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from gradviz import exercises, figures, plots  # noqa: E402
from gradviz.chapters import ch01_gradient_descent as ch  # noqa: E402
from gradviz.data import linear_regression_data  # noqa: E402
from gradviz.descent import (  # noqa: E402
    critical_learning_rates,
    gradient_descent,
    least_squares,
    mse_cost,
    sweep_learning_rates,
)


@pytest.fixture(scope="module")
def explorer():
    return ch.LearningRateExplorer(canvas="none")


@pytest.mark.parametrize(
    "lr, steps, regime",
    [(0.01, 50, "crawls"), (0.3, 50, "converges"), (1.0, 50, "oscillates"), (1.4, 50, "diverges"),
     (3.0, 400, "diverges"), (5.0, 400, "diverges")],
)
def test_every_regime_draws_silently(explorer, lr, steps, regime):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explorer.update(lr=lr, steps=steps)
        explorer.figure.canvas.draw()
    assert explorer.result.regime == regime
    assert regime in explorer.summary() and "2/lambda_max" in explorer.summary()
    assert regime in explorer.readout.value
    path = [a for a in explorer.ax_path.lines if a.get_gid() == "path"]
    assert len(path) == 1  # redrawn in place, not stacked
    np.testing.assert_array_equal(path[0].get_xdata(), explorer.run.w)


def test_overflow_is_shown(explorer):
    explorer.update(lr=5.0, steps=400)
    k = explorer.run.overflow_step
    assert k is not None
    texts = [t.get_text() for t in explorer.ax_cost.texts + explorer.ax_path.texts if t.get_visible()]
    assert any(f"overflow at step {k}" in t for t in texts)
    assert any("cost above its start from step" in t for t in texts)
    explorer.update(lr=0.3, steps=50)
    texts = [t.get_text() for t in explorer.ax_cost.texts + explorer.ax_path.texts if t.get_visible()]
    assert not any("overflow" in t or "above its start" in t for t in texts)


def test_takes_its_data(explorer):
    data = linear_regression_data(n_samples=30, seed=3, x_range=(0.0, 3.0))
    e = ch.LearningRateExplorer(canvas="none", data=data, lr=0.05)
    assert e.rates == critical_learning_rates(data.X)
    assert e.values["lr"] == pytest.approx(0.05, rel=0.1)


def test_lr_sweep_plot_marks_the_critical_rates():
    data = linear_regression_data()
    rates = critical_learning_rates(data.X)
    sweep = sweep_learning_rates(data.X, data.y, np.geomspace(0.005, 5, 25), n_steps=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig, ax = plots.new_figure()
        ch.plot_lr_sweep(sweep, rates, ax)
        fig.canvas.draw()
    xs = sorted(line.get_xdata()[0] for line in ax.lines if line.get_gid() == "critical")
    assert xs == pytest.approx(sorted([rates.lr_monotone, rates.lr_best, rates.lr_max]))
    assert {line.get_gid() for line in ax.lines} >= {"sweep:crawls", "sweep:converges", "sweep:oscillates"}


def test_figures_keep_their_names_and_chapter():
    names = {n for n, spec in figures.FIGURES.items() if spec.chapter == 1}
    assert names == {"gd_cost_bowl", "gd_four_learning_rates", "gd_lr_sweep", "gd_one_run"}
    assert figures.FIGURES["gd_cost_bowl"].func is ch.cost_bowl


def test_exercises_accept_the_measured_answers(capsys):
    X, y = linear_regression_data(n_samples=100, seed=0)[:2]
    j_opt = mse_cost(*least_squares(X, y), X, y)
    run = gradient_descent(X, y, 1.5, 60)
    measured = {
        "01.1": critical_learning_rates(X).lr_max,
        "01.2": critical_learning_rates(2 * X).lr_max,
        "01.3": (run.cost[-1] - j_opt) / (run.cost[-2] - j_opt),
    }
    for key, value in measured.items():
        assert exercises.check(key, value), key
        assert not exercises.check(key, 2 * value), key
        exercises.solution(key)
    assert "2 / lambda_max" in capsys.readouterr().out
