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
    classify_run,
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
    # the triangles are the clipped points: the legend says where they are drawn, not what "diverges" means
    labels = ax.get_legend_handles_labels()[1]
    assert "diverges (drawn at 1e+04:\nabove it, or overflowed)" in labels


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


# ----------------------------------------------------------------------------- numbers the notebook's prose states
@pytest.fixture(scope="module")
def data():
    return linear_regression_data(n_samples=100, noise=0.5, seed=0)


def test_the_numbers_the_prose_states(data):
    X, y = data.X, data.y
    rates = critical_learning_rates(X)
    assert rates.lambda_min == pytest.approx(0.93, abs=0.005) and rates.lambda_max == pytest.approx(1.57, abs=0.005)
    assert rates.lr_monotone == pytest.approx(0.64, abs=0.005) and rates.lr_max == pytest.approx(1.27, abs=0.005)
    assert rates.lr_best == pytest.approx(0.80, abs=0.005)
    sweep = sweep_learning_rates(X, y, np.geomspace(0.005, 5.0, 61), n_steps=50)
    assert sweep.lrs[1] / sweep.lrs[0] == pytest.approx(1.12, abs=0.005)  # "steps of 12 %"
    assert sweep.first_lr("oscillates") == pytest.approx(0.71, abs=0.005)
    assert sweep.first_lr("diverges") == pytest.approx(1.41, abs=0.005)
    run = gradient_descent(X, y, 3.0, n_steps=400, start=ch.START)
    excess = run.cost - mse_cost(*least_squares(X, y), X, y)
    assert excess[-1] / excess[-2] == pytest.approx(13.8, abs=0.05)
    assert (1 - 3.0 * rates.lambda_max) ** 2 == pytest.approx(13.8, abs=0.05)
    assert run.overflow_step == 268
    assert 1e152 < np.abs(run.params[-1]).max() < 1e153
    # at step 268 the cost would fit in a float64, but the sum of the squared errors (2 N J) does not
    next_cost = run.cost[-1] * (excess[-1] / excess[-2])
    assert next_cost == pytest.approx(1.6e306, rel=0.02) and next_cost < np.finfo(np.float64).max
    assert 2 * len(y) * (next_cost / np.finfo(np.float64).max) == pytest.approx(1.8, abs=0.05) and len(y) == 100


def test_frameworks_without_the_half_halve_every_critical_rate(data):
    """The PyTorch/Keras box: their mean squared error is 2J, so gradient descent with lr on it is ours with 2 lr,
    and it diverges above 1/lambda_max instead of 2/lambda_max."""
    X, y = data.X, data.y
    rates = critical_learning_rates(X)
    below, above = 0.97 * rates.lr_monotone, 1.03 * rates.lr_monotone
    assert classify_run(gradient_descent(X, y, 2 * below, 300), X, y).regime != "diverges"
    assert classify_run(gradient_descent(X, y, 2 * above, 300), X, y).regime == "diverges"


def test_layer_steps_tell_the_true_exploding_story():
    vanishing = ch.layer_steps("sigmoid", "glorot_uniform")
    exploding = ch.layer_steps("relu", "he_normal", weight_scale=1.5)
    healthy = ch.layer_steps("relu", "he_normal")
    # vanishing: the weight gradients shrink with the gradient; the lower layers' steps are tiny
    assert vanishing.da_norm[0] / vanishing.da_norm[-1] < 1e-5
    assert vanishing.dW_norm[0] / vanishing.dW_norm[-1] < 1e-5
    assert vanishing.relative_step[-1] == pytest.approx(0.004, abs=0.0005)  # "0.4 %"
    assert 5e-9 < vanishing.relative_step[0] < 5e-8  # "about 1e-8"
    # "falls from 0.0037 of the weights (0.4 %) at layer 10 to 1.2e-8 at layer 1"
    assert f"{vanishing.relative_step[-1]:.2g}" == "0.0037" and f"{vanishing.relative_step[0]:.2g}" == "1.2e-08"
    # "a^0 is the input: here the 64 pixels of an 8 x 8 image of a handwritten digit"
    from gradviz.data import load_digits
    from gradviz.stats import digits_batch
    assert digits_batch(256, 0)[0].shape == (256, 64) and load_digits().n_features == 8 * 8
    # exploding: the gradient grows ~70-fold going down, the weight gradients do not; every step is too large
    assert 60 < exploding.da_norm[0] / exploding.da_norm[-1] < 75
    assert exploding.dW_norm[0] / exploding.dW_norm[-1] == pytest.approx(0.25, abs=0.02)  # "a quarter"
    assert exploding.relative_step.min() == pytest.approx(0.8, abs=0.06)
    assert exploding.relative_step.max() == pytest.approx(3.5, abs=0.06)
    assert exploding.loss == pytest.approx(412, abs=1)
    assert np.log(10) == pytest.approx(2.30, abs=0.005)
    # "sigmoid outputs stay near 0.5": rms a_in 0.50 to 0.53 from layer 2 to layer 10
    assert 0.495 <= vanishing.a_in_rms[1:].min() and vanishing.a_in_rms[1:].max() < 0.535
    # activations grow going up about as fast as the gradient grows going down
    assert exploding.a_in_rms[1] == pytest.approx(1.4, abs=0.05)
    assert exploding.a_in_rms[-1] == pytest.approx(54, abs=0.5)
    assert exploding.da_norm[-1] == pytest.approx(0.2, abs=0.005)
    assert exploding.da_norm[1] == pytest.approx(8.6, abs=0.05)
    assert exploding.relative_step.min() == pytest.approx(0.85, abs=0.005)
    # the vanishing network's steps span more than five orders of magnitude (not six)
    assert 1e5 < vanishing.relative_step.max() / vanishing.relative_step.min() < 1e6
    # one smaller rate brings the exploding network's first step back into He's range
    slower = ch.layer_steps("relu", "he_normal", weight_scale=1.5, lr=0.002)
    assert slower.relative_step.min() == pytest.approx(0.017, abs=0.0005)
    assert slower.relative_step.max() == pytest.approx(0.07, abs=0.003)
    assert healthy.relative_step.min() == pytest.approx(0.02, abs=0.002)
    assert healthy.relative_step.max() == pytest.approx(0.07, abs=0.003)
    table = ch.steps_table(vanishing, exploding)
    lines = table.splitlines()
    assert len(lines) == 2 + 10 + 4 and lines[2].split()[0] == "10" and lines[-5].split()[0] == "1"
    assert any(line.startswith("|dL/da|: the gradient of the loss with respect to the layer's output a^l") for line in lines)
    # the summary: in the lower layers the gradient is large, in the upper ones the activations are
    assert exploding.da_norm[0] > 10 * exploding.da_norm[-1] and exploding.a_in_rms[-1] > 10 * exploding.a_in_rms[0]
    assert "sigmoid, glorot_uniform" in lines[0] and "he_normal x 1.5" in lines[0]
    with pytest.raises(ValueError, match="lr"):
        ch.layer_steps(lr=0.0)


def test_gd_step_exercise(data, capsys):
    X, y = data.X, data.y
    w, b = ch.START
    for _ in range(50):
        w, b = ch.gd_step(w, b, X, y, 0.3)
    np.testing.assert_allclose([w, b], gradient_descent(X, y, 0.3, 50, start=ch.START).params[-1], rtol=1e-12)

    def sequential(w, b, X, y, lr):  # updates w first, then uses the new w for b: a different algorithm
        x = X[:, 0]
        w = w - lr * np.mean((w * x + b - y) * x)
        return w, b - lr * np.mean(w * x + b - y)

    assert exercises.check("01.4", ch.gd_step)
    assert not exercises.check("01.4", sequential)
    assert not exercises.check("01.4", 1.0)
    exercises.solution("01.4")
    out = capsys.readouterr().out
    assert "not quite" in out and "def gd_step" in out


def test_the_explorers_cost_axis_holds_still_for_a_small_step_and_always_shows_the_cost():
    # A learner's lr step moves the curve, not the axis (a y-axis redraw was half of a frame), as long as
    # the limits still show the whole cost; the static figures keep their tight limits.
    e = ch.LearningRateExplorer(canvas="none", lr=0.1)
    limits = []
    for lr in 10 ** np.arange(-2.0, 0.55, 0.05):  # every press of the slider's arrow key from 0.01 to 3.5
        e.update(lr=float(lr))
        y = e.ax_cost.lines[0].get_ydata()
        y = y[np.isfinite(y)]
        lo, hi = e.ax_cost.get_ylim()
        assert lo <= y.min() and y.max() <= hi, lr
        limits.append((lo, hi))
    changes = sum(a != b for a, b in zip(limits, limits[1:]))
    assert changes <= 0.6 * (len(limits) - 1)  # without sticky limits: at every step
    labels = [t.get_text() for t in e.ax_cost.get_yticklabels()]
    assert labels and not any("$" in t for t in labels)  # plain labels, no mathtext to lay out
    _, ax = plots.new_figure()
    ax.set_yscale("log")
    ch.set_log_ylim(ax, np.array([1e-3, 1.0]))
    assert ax.get_ylim() == pytest.approx((1e-3 / 5, 5.0))  # a static figure: tight around its data
    ch.set_log_ylim(ax, np.array([1.1e-3, 0.9]), sticky=True)
    assert ax.get_ylim() == pytest.approx((1e-3 / 5, 5.0))  # sticky: still shows 1.1e-3 .. 0.9 well: kept


def test_the_explorers_step_axis_keeps_its_span_while_the_run_fills_half_of_it():
    e = ch.LearningRateExplorer(canvas="none")
    assert e.ax_cost.get_xlim() == pytest.approx((-1.0, 51.0))  # the default run: 50 steps, as a static figure
    spans = []
    for steps in (51, 60, 99, 100, 101, 150, 60, 49, 26, 25, 5):
        e.update(steps=steps)
        lo, hi = e.ax_cost.get_xlim()
        assert lo < 0 and steps <= hi and len(e.ax_cost.lines[0].get_xdata()) == steps + 1
        spans.append(round(hi / 1.02))
    assert spans == [100, 100, 100, 100, 200, 200, 100, 50, 50, 50, 10]


def test_the_diverging_cost_is_drawn_to_its_true_height(data):
    """The lr = 3 figure: the excess cost grows to 1.2e305 before the overflow; its curve must reach that height
    on the axis, not run flat along a clipped top (which read as a plateau)."""
    fig = ch.one_run(data)
    ax = fig.axes[1]
    drawn = plots.find_artist(ax, "cost").get_ydata()
    run = gradient_descent(data.X, data.y, 3.0, n_steps=400, start=ch.START)
    excess = run.cost - mse_cost(*least_squares(data.X, data.y), data.X, data.y)
    np.testing.assert_allclose(drawn[1:], excess[1:], rtol=1e-12)
    assert excess[-1] == pytest.approx(1.16e305, rel=0.01) and ax.get_ylim()[1] > excess[-1]
    assert np.all(np.diff(np.log(drawn[-40:])) > 2.5)  # still a straight line up to the end: no flat part


def test_the_bowls_two_arrows_have_one_length():
    """Cell 7 says the arrows show only directions: drawn at equal length, so length cannot be read as curvature."""
    fig = ch.cost_bowl()
    arrows = [a for a in fig.axes[1].texts if a.get_gid() == "bowl-axis" and a.get_text() == ""]
    lengths = [np.hypot(*(np.subtract(a.xy, a.xyann))) for a in arrows]
    assert len(lengths) == 2 and lengths[0] == pytest.approx(lengths[1])
