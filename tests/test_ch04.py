"""Chapter 04 (non-saturating activations): every number the chapter states, its figures and its explorer.

The package functions below compute what notebooks/04_nonsaturating_activations.ipynb prints; these tests
pin them to hand-derived values, to independent numpy computations, and (for the dead-at-birth
simulation) to the real MLP.
"""

from __future__ import annotations

import inspect
import math
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import gradviz as gv  # noqa: E402
from gradviz import exercises, figures, stats, theory, widgets  # noqa: E402
from gradviz.chapters import ch04_nonsaturating as ch  # noqa: E402
from gradviz.activations import elu, elu_grad, relu, relu_grad, sigmoid_grad  # noqa: E402
from gradviz.layers import PReLU, RReLU  # noqa: E402
from gradviz.network import MLP  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return gv.data.load_digits(seed=0)


# ----------------------------------------------------------------------------- experiment 1: ReLU's slope
def test_relu_slope_is_exactly_one_for_every_positive_input_and_zero_below():
    z = np.array([0.5, 6.0, 1000.0, 1e300])
    assert np.all(relu_grad(z) == 1.0)
    assert np.all(relu(z) == z)
    assert np.all(relu_grad(np.array([-0.5, -6.0, -1e300, 0.0])) == 0.0)
    assert relu_grad(np.full(10, 3.0)).prod() == 1.0
    assert sigmoid_grad(1000.0) == 0.0 and theory.slope_bound("sigmoid", 10) == 0.25 ** 10


# ----------------------------------------------------------------------------- silent and dead units
def _tiny_net():
    """2 inputs -> 3 ReLU units -> 2 ReLU units, weights set by hand."""
    net = MLP(2, hidden=(3, 2), activation="relu", n_outputs=2, seed=0)
    net.blocks[0].dense.params["W"][:] = [[1.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
    net.blocks[0].dense.params["b"][:] = [0.0, 0.0, -0.5]
    net.blocks[1].dense.params["W"][:] = [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    net.blocks[1].dense.params["b"][:] = [0.0, -1.0]
    return net


def test_relu_activity_on_a_hand_made_network():
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0]])
    act = ch.relu_activity(_tiny_net(), X)
    # layer 1: z = [x0, -x0, -x1 - 0.5] -> unit 3 silent for all three examples (dead)
    z1 = np.array([[1, -1, -0.5], [-1, 1, -0.5], [2, -2, -1.5]])
    np.testing.assert_allclose(act.inactive_fraction[0], (z1 <= 0).mean())
    assert act.dead_fraction[0] == pytest.approx(1 / 3)
    # layer 2: unit 2 has zero weights and bias -1 -> dead; unit 1 = relu(x0) + relu(-x0) > 0
    assert act.dead_fraction[1] == 0.5
    assert act.first_dead_layer is None
    assert act.n_examples == 3
    assert "layer" in act.as_table() and "dead units" in act.summary()


def test_a_layer_with_every_unit_dead_is_reported():
    net = _tiny_net()
    net.blocks[1].dense.params["b"][:] = -100.0
    act = ch.relu_activity(net, np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert act.dead_fraction[1] == 1.0 and act.first_dead_layer == 2


def test_relu_activity_checks_its_arguments():
    with pytest.raises(TypeError, match="net"):
        ch.relu_activity("net", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="X"):
        ch.relu_activity(_tiny_net(), np.zeros((2, 5)))


def test_negative_bias_silences_units_as_the_chapter_prints(data):
    for b in (0.0, -1.0, -2.0):
        net = MLP(64, depth=4, width=64, activation="relu", bias=b, seed=0)
        act = ch.relu_activity(net, data.X_train)
        z = [r["z"] for r in net.records]  # relu_activity's own forward pass, recorded
        np.testing.assert_allclose(act.inactive_fraction, [(zz <= 0).mean() for zz in z])
        np.testing.assert_allclose(act.dead_fraction, [(zz <= 0).all(axis=0).mean() for zz in z])
        if b == -2.0:
            assert np.all(act.inactive_fraction[1:] > 0.99)
            assert 0 < act.dead_fraction.max() < 1


# ----------------------------------------------------------------------------- experiments 2-4: training
def test_digits_run_defaults_are_the_chapters_setup():
    sig = inspect.signature(ch.digits_run).parameters
    assert {k: sig[k].default for k in ("depth", "width", "lr", "steps", "batch_size", "bias", "seed")} == dict(
        depth=4, width=64, lr=0.1, steps=200, batch_size=64, bias=0.0, seed=0)


def test_relu_at_lr_50_dies_instead_of_diverging(data):
    run = ch.digits_run("relu", lr=50.0, data=data, label="lr 50")
    assert run.outcome == "dead" and not run.history.diverged
    assert run.activity.first_dead_layer == 2
    np.testing.assert_array_equal(run.activity.dead_fraction[1:], 1.0)
    assert run.activity.dead_fraction[0] < 1.0  # layer 1 is alive but cut off
    assert run.test_accuracy < 0.15
    assert "entirely dead" in run.summary and run.summary.startswith("lr 50:")
    # a dead layer stops learning for good: the weights below it did not move in the last half of training
    assert np.all(run.history.grad_norm[-5:, :2] == 0.0)


# Experiment 2 pins only what holds on any machine. The run at lr 1 is chaotic: measured across the OpenBLAS
# kernels Haswell, Sandybridge and Prescott (one thread), seed 0 gave test accuracy 84.7-86.0 %, and a report
# from another CPU gave 93.3-95.3 %; the dead share of layer 2 was 27-38 %, of layer 3 3-8 %, of layer 4
# 25-31 %. Over seeds 0-5 the accuracy ranged from 22 % to 97 %. The bands below hold with a margin.
def test_lr_1_survives_with_scars_on_any_machine(data):
    run = ch.digits_run("relu", lr=1.0, data=data, label="lr 1")
    assert run.outcome == "alive"
    assert 0.6 < run.test_accuracy < 1.0
    assert run.activity.dead_fraction[1] > 0.2 and run.activity.dead_fraction[3] > 0.2
    assert run.verdict() == ("lr 1: alive; test accuracy above 50%: yes; "
                             "a hidden layer with more than 15% of its units dead: yes")


def test_lr_1_is_at_the_edge_where_the_seed_decides(data):
    accuracies = [ch.digits_run("relu", lr=1.0, data=data, seed=s).test_accuracy for s in range(6)]
    finite = [a for a in accuracies if np.isfinite(a)]
    assert max(finite) > 0.9 and min(finite) < 0.5


def test_verdict_of_healthy_dead_and_diverged_runs(data):
    assert ch.digits_run("relu", data=data, steps=60, label="ok").verdict().startswith(
        "ok: alive; test accuracy above 50%: yes; a hidden layer with more than 15% of its units dead: no")
    assert ch.digits_run("relu", lr=50.0, data=data, label="lr 50").verdict().startswith(
        "lr 50: dead; test accuracy above 50%: no; a hidden layer with more than 15% of its units dead: yes")
    assert ch.digits_run("relu", lr=1e4, data=data, steps=60, label="x").verdict() == "x: diverged"
    with pytest.raises(ValueError, match="dead_threshold"):
        ch.digits_run("relu", data=data, steps=5).verdict(dead_threshold=2.0)


def test_healthy_run_and_diverged_run(data):
    ok = ch.digits_run("relu", data=data, steps=60)
    assert ok.outcome == "alive" and ok.test_accuracy > 0.8
    boom = ch.digits_run("relu", lr=1e4, data=data, steps=60)
    assert boom.outcome == "diverged" and "diverged" in boom.summary


def test_lr_race_table(data):
    race = ch.lr_race([0.1, 1e4], seeds=range(2), steps=5, data=data)
    assert race.outcomes[0.1] == ("alive", "alive")
    assert race.outcomes[1e4] == ("diverged", "diverged")
    assert race.count(1e4, "diverged") == 2 and race.count(0.1, "dead") == 0
    table = race.as_table()
    assert ". ." in table and "X X" in table and "per seed (0, 1)" in table
    with pytest.raises(ValueError):
        ch.lr_race([], data=data)
    with pytest.raises(ValueError, match="lr"):
        ch.lr_race([-1.0], data=data)


def test_race_at_lr_50_ends_both_ways_depending_on_the_seed(data):
    race = ch.lr_race([50.0], seeds=range(6), steps=20, data=data)
    assert set(race.outcomes[50.0]) == {"dead", "diverged"}
    assert race.outcomes[50.0][0] == "dead"  # the seed of the chapter's Experiment 2


def test_survivors_table_of_the_chapter_race(data):
    """What Experiment 3 pins: every seed survives lr 1, none survives lr 3 and above (on any machine)."""
    race = ch.lr_race([1, 3, 10, 50, 1e4], seeds=range(6), steps=20, data=data)
    assert race.count(1, "alive") == 6
    assert all(race.count(lr, "alive") == 0 for lr in (3, 10, 50, 1e4))
    assert race.survivors_table().splitlines() == [
        "      lr  alive  wrecked   (of 6 seeds)",
        "       1      6        0",
        "       3      0        6",
        "      10      0        6",
        "      50      0        6",
        "   10000      0        6",
    ]


def test_shifted_start_separates_the_activations(data):
    acc = {a: ch.digits_run(a, bias=-2.0, data=data).test_accuracy for a in ("relu", "prelu", "elu")}
    assert acc["relu"] < 0.15
    assert acc["prelu"] > 0.7 and acc["elu"] > 0.7


def test_prelu_slopes_climb_from_a_shifted_start(data):
    run = ch.digits_run("prelu", bias=-2.0, data=data)
    alpha = run.history.prelu_alpha
    np.testing.assert_array_equal(alpha[0], 0.25)
    assert np.all(alpha[-1] > 0.3)
    # the recorded mean equals the layer's own parameter
    np.testing.assert_allclose(alpha[-1], [b.act.params["alpha"].mean() for b in run.net.blocks])


# ----------------------------------------------------------------------------- experiment 5: dead at birth
def test_dead_at_birth_numbers_of_the_chapter():
    assert theory.dead_at_birth_probability(10, 3) == pytest.approx(1 - (7 / 8) ** 10, rel=1e-14)
    assert theory.dead_at_birth_probability(50, 64) == pytest.approx(50 * 2.0 ** -64, rel=1e-6)


@pytest.mark.parametrize("depth, width", [(10, 3), (5, 2), (20, 4)])
def test_simulation_agrees_with_the_formula(depth, width, data):
    sim = ch.simulate_dead_at_birth(depth, width, 8000, x=data.X_train[0], seed=1)
    p = theory.dead_at_birth_probability(depth, width)
    assert abs(sim.probability - p) < 4 * math.sqrt(p * (1 - p) / 8000)
    expected = [theory.dead_at_birth_probability(l, width) for l in range(1, depth + 1)]
    assert np.all(np.abs(sim.dead_by_layer - expected) < 4 * np.sqrt(np.multiply(expected, 1 - np.array(expected))
                                                                    / 8000) + 1e-12)
    assert np.all(np.diff(sim.dead_by_layer) >= 0)
    assert sim.standard_error == pytest.approx(math.sqrt(sim.probability * (1 - sim.probability) / 8000))


def test_simulation_counts_the_same_event_as_the_real_mlp(data):
    """Dead at birth in MLPs built by gradviz.network (one per seed) vs the batched simulation."""
    x = data.X_train[:1]
    n, depth, width = 600, 6, 2
    dead = 0
    for seed in range(n):
        net = MLP(64, depth=depth, width=width, activation="relu", n_outputs=None, seed=seed)
        net.forward(x, record=True)
        dead += any(np.all(r["z"] <= 0) for r in net.records)
    p = theory.dead_at_birth_probability(depth, width)
    se = math.sqrt(p * (1 - p) / n)
    assert abs(dead / n - p) < 4 * se
    sim = ch.simulate_dead_at_birth(depth, width, 20000, x=x[0], seed=0)
    assert abs(dead / n - sim.probability) < 4 * se + 4 * sim.standard_error


def test_simulation_is_reproducible_and_checks_arguments():
    a = ch.simulate_dead_at_birth(8, 3, 3000, seed=5)
    b = ch.simulate_dead_at_birth(8, 3, 3000, seed=5)
    np.testing.assert_array_equal(a.dead_by_layer, b.dead_by_layer)
    u = ch.simulate_dead_at_birth(8, 3, 3000, init="glorot_uniform", seed=5)
    assert abs(u.probability - theory.dead_at_birth_probability(8, 3)) < 4 * u.standard_error + 1e-9
    assert ch.simulate_dead_at_birth(3, 4, 500, bias=-50.0).probability == 1.0
    assert ch.simulate_dead_at_birth(1, 4, 500, bias=+50.0).probability == 0.0  # z > 0 in every unit
    with pytest.raises(ValueError, match="x"):
        ch.simulate_dead_at_birth(3, 2, 10, x=np.zeros(5))
    with pytest.raises(ValueError, match="init"):
        ch.simulate_dead_at_birth(3, 2, 10, init="orthogonal")
    with pytest.raises(ValueError, match="depth"):
        ch.simulate_dead_at_birth(0, 2, 10)


# ----------------------------------------------------------------------------- experiment 6: leaky ReLU
@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_gradient_through_silent_layers_shrinks_by_sqrt2_alpha(alpha):
    g = ch.shifted_gradient("leaky_relu", bias=-1.0, depth=10, alpha=alpha)
    assert g.relative_gradient[-1] == 1.0
    assert np.all(g.silent_fraction[3:] > 0.99)
    assert g.factor_per_layer(4, 9) == pytest.approx(math.sqrt(2) * alpha, rel=0.05)
    assert g.at_first_layer == pytest.approx(g.relative_gradient[0])


def test_relu_passes_exactly_no_gradient_through_a_silent_layer():
    g = ch.shifted_gradient("relu", bias=-1.0, depth=10)
    assert g.first_silent_layer is not None
    np.testing.assert_array_equal(g.relative_gradient[:-1], 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert g.factor_per_layer(4, 9) == 0.0
    with pytest.raises(ValueError, match="lower"):
        g.factor_per_layer(5, 5)


def test_shifted_gradient_matches_a_direct_probe():
    g = ch.shifted_gradient("elu", bias=-0.5, depth=5, width=16, alpha=1.0, seed=3)
    net = MLP(16, depth=5, width=16, activation="elu", bias=-0.5, n_outputs=None, seed=3, alpha=1.0)
    stats.probe(net, seed=3)
    rms = np.array([np.sqrt(np.mean(r["da"] ** 2)) for r in net.records])
    np.testing.assert_allclose(g.relative_gradient, rms / rms[-1], rtol=1e-12)


# ----------------------------------------------------------------------------- experiment 7: RReLU
def test_rrelu_training_draws_fresh_slopes_inference_uses_the_mean():
    layer = RReLU(1 / 8, 1 / 3, rng=0)
    x = np.array([[-2.0, -1.0, -0.5, 0.5, 2.0]])
    a, b = layer.forward(x, training=True), layer.forward(x, training=True)
    assert not np.array_equal(a[0, :3], b[0, :3])
    np.testing.assert_array_equal(a[0, 3:], x[0, 3:])
    inf = layer.forward(x, training=False)
    np.testing.assert_allclose(inf[0, :3], x[0, :3] * 11 / 48, rtol=1e-15)
    assert layer.mean_slope == pytest.approx(11 / 48)
    # slopes stay in [lower, upper], and average training output -> inference output
    z = -np.ones((2000, 50))
    slopes = -layer.forward(z, training=True)
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    assert slopes.mean() == pytest.approx(11 / 48, abs=1e-3)


def test_rrelu_draws_of_the_figure():
    z, tr, inf = ch.rrelu_draws(n=1000)
    neg = z < 0
    s = tr[neg] / z[neg]
    assert s.min() >= 1 / 8 - 1e-15 and s.max() <= 1 / 3 + 1e-15
    np.testing.assert_allclose(inf[neg], z[neg] * 11 / 48)
    np.testing.assert_array_equal(tr[~neg], z[~neg])


# ----------------------------------------------------------------------------- experiment 8: PReLU
def test_prelu_gradient_of_the_slope_by_hand_and_by_finite_differences():
    layer = PReLU(1, alpha_init=0.25)
    z = np.array([[-2.0, 1.0, -0.5]])
    dout = np.array([[0.5, -1.0, 2.0]])
    layer.forward(z, training=True)
    layer.backward(dout)
    assert layer.grads["alpha"][0] == -2.0

    def loss(alpha):
        ly = PReLU(1, alpha_init=alpha)
        return float((ly.forward(z) * dout).sum())

    h = 1e-6
    assert (loss(0.25 + h) - loss(0.25 - h)) / (2 * h) == pytest.approx(-2.0, rel=1e-8)


# ----------------------------------------------------------------------------- experiment 9: ELU
def test_elu_values_the_chapter_prints():
    assert elu(-10.0) == pytest.approx(math.expm1(-10.0))
    assert elu_grad(-10.0) == pytest.approx(math.exp(-10.0))
    assert elu_grad(-1e-9, 2.0) == pytest.approx(2.0) and elu_grad(1e-9, 2.0) == 1.0
    assert elu_grad(-1e-9, 1.0) == pytest.approx(1.0)  # continuous slope only for alpha = 1
    m_relu = theory.activation_moments("relu", 0.0, 1.0).mean
    m_elu = theory.activation_moments("elu", 0.0, 1.0).mean
    assert m_relu == pytest.approx(1 / math.sqrt(2 * math.pi))
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert m_elu == pytest.approx(elu(z).mean(), abs=2e-3)
    assert 0 < m_elu < m_relu


# ----------------------------------------------------------------------------- experiment 10: cost
def test_activation_cost_returns_sane_numbers():
    cost = ch.activation_cost(shape=(32, 64), repeats=3)
    assert cost.names == ch.COST_ACTIVATIONS and cost.reference == "relu"
    for n in cost.names:
        assert np.isfinite(cost.seconds[n]) and 0 < cost.seconds[n] < 1.0
        assert cost.relative[n] == pytest.approx(cost.seconds[n] / cost.seconds["relu"])
    assert cost.relative["relu"] == 1.0
    assert sorted(cost.ranking()) == sorted(cost.names)
    assert all(n in cost.as_table() for n in cost.names)
    assert cost.shape == (32, 64) and cost.dtype == "float32" and cost.repeats == 3


def test_activation_cost_checks_its_arguments():
    with pytest.raises(ValueError, match="names"):
        ch.activation_cost(names=("relu", "swish"), repeats=1)
    with pytest.raises(ValueError, match="reference"):
        ch.activation_cost(names=("elu",), repeats=1)
    with pytest.raises(ValueError, match="shape"):
        ch.activation_cost(shape=(8,), repeats=1)
    with pytest.raises(ValueError, match="repeats"):
        ch.activation_cost(repeats=0)


# ----------------------------------------------------------------------------- exercises
def test_exercise_answers(capsys):
    assert exercises.EXERCISES["04.1"].answer() == pytest.approx(1 - (15 / 16) ** 20)
    assert exercises.EXERCISES["04.2"].answer() == pytest.approx(11 / 48)
    assert exercises.EXERCISES["04.3"].answer() == -2.0
    assert exercises.check("04.1", 0.7249) and exercises.check("04.2", 0.2292) and exercises.check("04.3", -2)
    assert not exercises.check("04.2", 2 / 11)  # the paper's rule, not this layer's
    assert not exercises.check("04.3", 2.0)
    for k in ("04.1", "04.2", "04.3"):
        exercises.solution(k)
    out = capsys.readouterr().out
    assert "correct" in out and "not quite" in out and "11/48" in out and "0.7249" in out


# ----------------------------------------------------------------------------- figures
def _short_runs(data, activations, **kw):
    return {a: ch.digits_run(a, data=data, steps=20, label=a, **kw) for a in activations}


def test_training_figures_draw_the_runs_they_are_given(data):
    import matplotlib.pyplot as plt

    dying = {"lr 0.1": ch.digits_run("relu", data=data, steps=20, label="lr 0.1"),
             "lr 50": ch.digits_run("relu", lr=50.0, data=data, steps=20, label="lr 50")}
    fig = ch.dying_relu_training(dying)
    acc = [ln for ln in fig.axes[2].lines if ln.get_gid() == "acc:lr 50"][0]
    np.testing.assert_allclose(acc.get_ydata(), 100 * dying["lr 50"].history.test_accuracy)
    layer2 = [ln for ln in fig.axes[1].lines if ln.get_gid() == "layer:2"][0]
    np.testing.assert_allclose(layer2.get_ydata(), 100 * dying["lr 50"].history.dead_fraction[:, 1])

    runs = _short_runs(data, ("relu", "prelu", "sigmoid"))
    fig = ch.activation_training_comparison(runs)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0].startswith("relu: test") and len(labels) == 3
    prelu = {"a": runs["prelu"], "b": ch.digits_run("prelu", bias=-2.0, data=data, steps=20)}
    fig = ch.prelu_slope_over_training(prelu)
    lines = [ln for ln in fig.axes[1].lines if str(ln.get_gid()).startswith("layer:")]
    np.testing.assert_allclose(lines[0].get_ydata(), prelu["b"].history.prelu_alpha[:, 0])
    fig = ch.activation_training_shifted(_short_runs(data, ("relu", "elu"), bias=-2.0))
    assert "-2" in fig._suptitle.get_text()
    assert plt.get_fignums() == []


def test_static_figures_render_with_their_data():
    fig = figures.render("relu_family")
    assert len(fig.axes) == 4
    sims = ch.dead_at_birth_simulations(widths=(2, 4), depth=8, n_networks=500)
    fig = ch.dead_at_birth(sims)
    ax = fig.axes[0]
    theory_line = [ln for ln in ax.lines if ln.get_gid() == "theory:4"][0]
    np.testing.assert_allclose(theory_line.get_ydata(), [theory.dead_at_birth_probability(l, 4) for l in range(1, 9)])
    fig = ch.leaky_alpha_gradient(alphas=(0.0, 0.1), depth=6)
    ax = fig.axes[0]
    zeros = [ln for ln in ax.lines if ln.get_gid() == "zero:0"][0]
    np.testing.assert_array_equal(zeros.get_xdata(), np.arange(1, 6))  # ReLU: exactly 0 in layers 1-5
    assert not [ln for ln in ax.lines if ln.get_gid() == "zero:0.1"]
    for name in ("rrelu_train_vs_inference", "elu_alphas"):
        assert figures.render(name).axes
    assert {n for n, s in figures.FIGURES.items() if s.chapter == 4} >= {
        "relu_family", "dying_relu_training", "dead_at_birth", "leaky_alpha_gradient", "rrelu_train_vs_inference",
        "prelu_slope_over_training", "activation_training_comparison", "activation_training_shifted", "elu_alphas"}


# ----------------------------------------------------------------------------- explorer
def _line(ax, gid):
    (ln,) = [x for x in ax.lines if x.get_gid() == gid]
    return ln


def test_leaky_slope_explorer_every_control():
    ex = ch.LeakySlopeExplorer(canvas="none")
    ex.figure.canvas.draw()
    # initial state: leaky 0.1, bias -1, depth 10 -> the chapter's numbers
    np.testing.assert_allclose(_line(ex.ax_grad, "gradient").get_ydata(),
                               ch.shifted_gradient("leaky_relu", -1.0, 10, alpha=0.1).relative_gradient)
    assert len(_line(ex.ax_grad, "relu_zero").get_xdata()) == 9  # ReLU: exactly 0 below the top layer
    assert "exactly 0" in ex.summary()

    before = np.array(_line(ex.ax_grad, "gradient").get_ydata())
    ex.controls["alpha"].value = 0.3
    after = np.array(_line(ex.ax_grad, "gradient").get_ydata())
    assert after[0] > 100 * before[0]
    np.testing.assert_allclose(_line(ex.ax_phi, "dphi").get_ydata()[0], 0.3)

    ex.controls["activation"].value = "elu"
    assert ex.result.activation == "elu" and "ELU" in ex.summary()
    np.testing.assert_allclose(_line(ex.ax_phi, "phi").get_ydata()[0], 0.3 * np.expm1(-4.0))

    ex.controls["bias"].value = 0.0
    assert ex.relu.first_silent_layer is None and ex.relu.at_first_layer > 0
    assert len(_line(ex.ax_grad, "relu_zero").get_xdata()) == 0

    ex.controls["depth"].value = 4
    np.testing.assert_array_equal(_line(ex.ax_grad, "gradient").get_xdata(), np.arange(1, 5))
    assert ex.ax_grad.get_xlim() == (0.5, 4.5)

    ex.controls["alpha"].value = 0.0
    ex.controls["activation"].value = "leaky_relu"
    ex.update(bias=-1.0, depth=10)
    assert ex.result.at_first_layer == 0.0 and "no gradient reaches layer 1" in ex.summary()
    ex.figure.canvas.draw()
    # the layout ignores the unclipped zero markers
    x0 = ex.ax_phi.get_position().x1
    assert ex.ax_grad.get_position().x0 - x0 < 0.2

    with pytest.raises(TypeError, match="no control"):
        ex.update(width=3)


def test_leaky_slope_explorer_caches_results():
    ex = ch.LeakySlopeExplorer(canvas="none", depth=3)
    first = ex.result
    ex.controls["alpha"].value = 0.5
    ex.controls["alpha"].value = 0.1
    assert ex.result is first


def test_elu_preset_of_the_activation_explorer():
    ex = widgets.ActivationExplorer(canvas="none", activation="elu", alpha=1.0, x_range=(-8.0, 4.0), z1=-1.0,
                                    z2=-10.0)
    assert not ex.controls["alpha"].disabled
    ex.controls["alpha"].value = 2.0
    z = np.asarray(ex.dphi.get_xdata())
    np.testing.assert_allclose(ex.dphi.get_ydata(), elu_grad(z, 2.0))
    assert "-10" in ex.readout.value
