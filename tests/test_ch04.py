"""Chapter 04 (04a: ReLU and dying ReLU; 04b: the variants): every number the chapter states, its figures,
explorers and exercises.

The package functions below compute what notebooks/04a_relu_and_dying_relu.ipynb and
notebooks/04b_relu_variants.ipynb print; these tests pin them to hand-derived values, to independent numpy
computations, and (for the dead-at-birth simulation) to the real MLP. Every number the prose of the two
notebooks states is asserted here, at the precision the prose gives; the test names say which experiment.
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
from gradviz.activations import elu, elu_grad, relu, relu_grad, sigmoid_grad  # noqa: E402
from gradviz.chapters import ch04a_dying_relu as cha  # noqa: E402
from gradviz.chapters import ch04b_relu_variants as chb  # noqa: E402
from gradviz.layers import PReLU, RReLU  # noqa: E402
from gradviz.network import MLP  # noqa: E402
from gradviz.stats import relu_activity  # noqa: E402
from gradviz.train import digits_run  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return gv.data.load_digits(seed=0)


@pytest.fixture(scope="module")
def runs(data):
    """The chapter's runs (seed 0, 4 x 64, lr 0.1, 200 steps), trained once for the whole module."""
    out = {f"{a}": digits_run(a, data=data, label=a) for a in chb.ACTIVATIONS}
    out.update({f"{a}, bias -2": digits_run(a, bias=-2.0, data=data, label=a) for a in chb.ACTIVATIONS[:-1]})
    out["lr 50"] = digits_run("relu", lr=50.0, data=data, label="lr 50")
    return out


def test_the_split_and_its_sizes(data):
    """The prose: 1347 training images, 450 held out; both parts register as chapter 4."""
    assert data.X_train.shape == (1347, 64) and data.X_test.shape == (450, 64)
    assert figures._chapter_of("gradviz.chapters.ch04a_dying_relu") == 4
    assert figures._chapter_of("gradviz.chapters.ch04b_relu_variants") == 4
    assert figures._chapter_of("gradviz.plots") is None
    assert {"ch04a_dying_relu", "ch04b_relu_variants"} <= set(gv.chapters.CHAPTERS)


# ============================================================================= 04a
# ----------------------------------------------------------------------------- experiment 1: ReLU's slope
def test_relu_slope_is_exactly_one_for_every_positive_input_and_zero_below():
    z = np.array([0.5, 6.0, 1000.0, 1e300])
    assert np.all(relu_grad(z) == 1.0)
    assert np.all(relu(z) == z)
    assert np.all(relu_grad(np.array([-0.5, -6.0, -1e300, 0.0])) == 0.0)
    assert relu_grad(np.full(10, 3.0)).prod() == 1.0
    # "at most (1/4)^10 = 9.5e-7, about a millionth"; chapter 02's sigma'(6) = 0.0025 and sigma'(1000) = 0
    assert sigmoid_grad(1000.0) == 0.0 and theory.slope_bound("sigmoid", 10) == 0.25 ** 10
    assert f"{0.25 ** 10:.2g}" == "9.5e-07"
    assert round(float(sigmoid_grad(6.0)), 4) == 0.0025


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
    act = relu_activity(_tiny_net(), X)
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
    act = relu_activity(net, np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert act.dead_fraction[1] == 1.0 and act.first_dead_layer == 2


def test_relu_activity_checks_its_arguments():
    with pytest.raises(TypeError, match="net"):
        relu_activity("net", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="X"):
        relu_activity(_tiny_net(), np.zeros((2, 5)))


# ----------------------------------------------------------------------------- experiments 2-3: training
def test_digits_run_defaults_are_the_chapters_setup():
    sig = inspect.signature(digits_run).parameters
    assert {k: sig[k].default for k in ("depth", "width", "lr", "steps", "batch_size", "bias", "seed")} == dict(
        depth=4, width=64, lr=0.1, steps=200, batch_size=64, bias=0.0, seed=0)


def test_relu_at_lr_0_1_learns_and_hardly_a_unit_dies(runs):
    """Experiment 2: 94.7 % test accuracy at lr 0.1."""
    run = runs["relu"]
    assert run.outcome == "alive" and round(run.test_accuracy, 3) == 0.947
    assert run.activity.dead_fraction.max() < 0.05


def test_relu_at_lr_50_dies_instead_of_diverging(runs):
    """Experiment 2: layers 2-4 dead on the minibatch by step 20 and on all training images; 10.0 %."""
    run = runs["lr 50"]
    assert run.outcome == "dead" and not run.history.diverged
    assert run.activity.first_dead_layer == 2
    np.testing.assert_array_equal(run.activity.dead_fraction[1:], 1.0)
    assert run.activity.dead_fraction[0] == 0.0  # layer 1 has no dead unit, but is cut off
    assert run.history.record_steps[1] == 20
    np.testing.assert_array_equal(run.history.dead_fraction[1:, 1:], 1.0)  # from step 20 on, on every minibatch
    assert round(run.test_accuracy, 3) == 0.100
    assert "entirely dead" in run.summary and run.summary.startswith("lr 50:")
    # a dead layer stops learning for good: the weights below it did not move in the last half of training
    assert np.all(run.history.grad_norm[-5:, :2] == 0.0)


# Experiment 2 pins only what holds on any machine. The run at lr 1 is chaotic: measured across the OpenBLAS
# kernels Haswell, Sandybridge and Prescott (one thread), seed 0 gave test accuracy 84.7-86.0 %, and a report
# from another CPU gave 93.3-95.3 %; the dead share of layer 2 was 27-38 %, of layer 3 3-8 %, of layer 4
# 25-31 %. Over seeds 0-5 the accuracy ranged from 22 % to 97 %. The bands below hold with a margin.
def test_lr_1_survives_with_scars_on_any_machine(data):
    run = digits_run("relu", lr=1.0, data=data, label="lr 1")
    assert run.outcome == "alive"
    assert 0.6 < run.test_accuracy < 1.0
    assert run.activity.dead_fraction[1] > 0.2 and run.activity.dead_fraction[3] > 0.2
    assert run.verdict() == ("lr 1: alive; test accuracy above 50%: yes; "
                             "a hidden layer with more than 15% of its units dead: yes")


def test_lr_1_is_at_the_edge_where_the_seed_decides(data):
    """Experiment 2's seed printout (not checked by nbval): "some seeds learn to above 90 %, others end 30 points or
    more lower, or diverge" holds on any machine. Seeds 0-5 (%, nan: diverged), OpenBLAS kernel x numpy's SIMD level:
    Haswell, AVX2 (the machine that stored the output) 84.7 96.7 94.4 96.7 26.4 44.0; SkylakeX, AVX-512 93.3 96.9
    83.8 nan 54.9 nan; SkylakeX, AVX2 94.2 96.0 95.1 96.2 62.2 50.7; Haswell, AVX-512 95.3 87.3 95.6 nan 72.4 25.3;
    Sandybridge, AVX-512 93.3 96.7 96.4 nan 76.9 83.1; Sandybridge, AVX2 86.0 95.8 86.2 nan 36.7 22.4."""
    sweep = cha.seed_sweep(1.0, seeds=range(6), data=data)
    assert list(sweep.runs) == list(range(6))
    np.testing.assert_array_equal(sweep.runs[0].history.loss, digits_run("relu", lr=1.0, data=data).history.loss)
    acc = sweep.test_accuracies
    finite = acc[np.isfinite(acc)]
    assert finite.max() > 0.9 and (finite.min() < finite.max() - 0.3 or np.isnan(acc).any())
    table = sweep.as_table().splitlines()
    assert table[0].startswith("lr 1, 6 seeds") and len(table) == 8 and table[2].lstrip().startswith("0  ")
    with pytest.raises(ValueError, match="seeds"):
        cha.seed_sweep(1.0, seeds=[], data=data)


def test_lr_50_blows_up_before_it_dies(runs, data):
    """Experiment 2: the run at lr 50 is dead, but first its loss blew up (to 7.7e247 at step 6 on this machine:
    printed in a cell nbval does not check). On any machine: above 1e200 within the first ten steps, finite
    afterwards. Over seeds 0-5 every run's loss passes 1e30 within ten steps, whether it then dies or overflows."""
    loss = runs["lr 50"].history.loss
    assert round(float(loss[0]), 1) == 3.6 and np.max(loss[:10]) > 1e200 and np.argmax(loss) < 10
    assert np.all(np.isfinite(loss)) and np.all(loss[20:] < 100)
    for s in range(1, 6):
        h = digits_run("relu", lr=50.0, data=data, seed=s, steps=10, record_every=10).history
        assert np.nanmax(np.where(np.isfinite(h.loss), h.loss, np.nan)) > 1e30


def test_verdict_of_healthy_dead_and_diverged_runs(data, runs):
    assert digits_run("relu", data=data, steps=60, label="ok").verdict().startswith(
        "ok: alive; test accuracy above 50%: yes; a hidden layer with more than 15% of its units dead: no")
    assert runs["lr 50"].verdict().startswith(
        "lr 50: dead; test accuracy above 50%: no; a hidden layer with more than 15% of its units dead: yes")
    boom = digits_run("relu", lr=1e4, data=data, steps=60, label="x")
    assert boom.verdict() == "x: diverged"
    assert boom.outcome == "diverged" and "diverged" in boom.summary
    assert math.isnan(boom.test_accuracy)  # the failing step's record says nothing about accuracy
    with pytest.raises(ValueError, match="dead_threshold"):
        digits_run("relu", data=data, steps=5).verdict(dead_threshold=2.0)


def test_lr_race_table(data):
    race = cha.lr_race([0.1, 1e4], seeds=range(2), steps=5, data=data)
    assert race.outcomes[0.1] == ("alive", "alive")
    assert race.outcomes[1e4] == ("diverged", "diverged")
    assert race.count(1e4, "diverged") == 2 and race.count(0.1, "dead") == 0
    table = race.as_table()
    assert ". ." in table and "X X" in table and "per seed (0, 1)" in table
    with pytest.raises(ValueError):
        cha.lr_race([], data=data)
    with pytest.raises(ValueError, match="lr"):
        cha.lr_race([-1.0], data=data)


def test_survivors_table_of_the_chapter_race(data):
    """Experiment 3: every seed survives lr 1, none survives lr 3 and above (on any machine); at lr 50 the
    seed decides between dying and overflowing, and seed 0 (Experiment 2's) dies."""
    race = cha.lr_race([1, 3, 10, 50, 1e4], seeds=range(6), steps=20, data=data)
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
    assert set(race.outcomes[50.0]) == {"dead", "diverged"} and race.outcomes[50.0][0] == "dead"


# ----------------------------------------------------------------------------- experiment 4: negative bias
def test_pre_activations_have_a_spread_of_about_1_4(data):
    net = MLP(64, depth=4, width=64, activation="relu", seed=0)
    net.forward(data.X_train, record=True)
    assert all(1.35 < r["z"].std() < 1.5 for r in net.records)


def test_a_negative_bias_keeps_the_shift_and_shrinks_the_spread(data):
    """Experiment 4's printout and its explanation: at b = -1 the spread of z falls 1.39, 0.83, 0.49, 0.33
    from layer 1 to 4 while its mean stays at -1, so each layer is silenced more than the one below."""
    net = MLP(64, depth=4, width=64, activation="relu", bias=-1.0, seed=0)
    act = relu_activity(net, data.X_train)
    assert [round(float(r["z"].std()), 2) for r in net.records] == [1.39, 0.83, 0.49, 0.33]
    assert all(abs(r["z"].mean() + 1.0) < 0.05 for r in net.records)
    assert [round(100 * f, 1) for f in act.inactive_fraction] == [78.9, 93.9, 99.1, 99.5]
    assert np.all(np.diff(act.inactive_fraction) > 0)
    # the student's prediction from a spread of 1.4: P(z <= 0) for z ~ N(-1, 1.4^2) is about 76 %
    assert round(100 * 0.5 * (1 + math.erf(1 / 1.4 / math.sqrt(2)))) == 76


def test_he_gain_makes_up_for_the_silent_half(data):
    """Experiment 1's printout: about half of the (image, unit) pairs are active, so the rms slope is about
    0.71 = sqrt(1/2); He's weight gain sqrt(64 Var W) is sqrt(2) = 1.41; their product is near 1 in every layer."""
    net = MLP(64, depth=4, width=64, activation="relu", seed=0)
    active = 1 - relu_activity(net, data.X_train).inactive_fraction
    gain = np.sqrt(64 * gv.init.weight_variance("he_normal", 64, 64))
    assert gain == pytest.approx(math.sqrt(2), rel=1e-12)
    assert [round(100 * f, 1) for f in active] == [50.4, 51.2, 45.6, 57.3]
    assert [round(float(s), 2) for s in np.sqrt(active)] == [0.71, 0.72, 0.67, 0.76]
    assert [round(float(p), 2) for p in np.sqrt(active) * gain] == [1.0, 1.01, 0.95, 1.07]
    assert round(math.sqrt(0.5), 2) == 0.71 and round(gain, 2) == 1.41


def test_negative_bias_silences_units_as_the_chapter_states(data):
    for b in (0.0, -1.0, -2.0):
        net = MLP(64, depth=4, width=64, activation="relu", bias=b, seed=0)
        act = relu_activity(net, data.X_train)
        z = [r["z"] for r in net.records]  # relu_activity's own forward pass, recorded
        np.testing.assert_allclose(act.inactive_fraction, [(zz <= 0).mean() for zz in z])
        np.testing.assert_allclose(act.dead_fraction, [(zz <= 0).all(axis=0).mean() for zz in z])
        if b == -2.0:  # "a minority dead (19 %, 39 %, 45 %), yet more than 99 % of the pairs silent"
            assert np.all(act.inactive_fraction[1:] > 0.99)
            assert [round(100 * f) for f in act.dead_fraction[1:]] == [19, 39, 45]


def test_shifted_relu_stays_at_chance_and_loses_units(runs):
    """Experiment 4 (and 04b): 10.2 %; dead on all training images 39 %, 45 % -> 47 %, 58 % in layers 3-4."""
    run = runs["relu, bias -2"]
    assert round(run.test_accuracy, 3) == 0.102
    assert [round(100 * f) for f in run.activity.dead_fraction[2:]] == [47, 58]
    h = run.history
    assert np.all(h.dead_fraction[-1] >= h.dead_fraction[0] - 0.02)
    assert h.dead_fraction[-1].sum() > h.dead_fraction[0].sum()


# ----------------------------------------------------------------------------- experiment 5: dead at birth
def test_dead_at_birth_numbers_of_the_chapter():
    assert theory.dead_at_birth_probability(10, 3) == pytest.approx(1 - (7 / 8) ** 10, rel=1e-14, abs=0)
    assert round(theory.dead_at_birth_probability(10, 3), 3) == 0.737
    assert round(100 * theory.dead_at_birth_probability(10, 8), 1) == 3.8
    assert round(100 * theory.dead_at_birth_probability(50, 8)) == 18
    assert theory.dead_at_birth_probability(50, 64) == pytest.approx(50 * 2.0 ** -64, rel=1e-6, abs=0)
    assert f"{theory.dead_at_birth_probability(50, 64):.2g}" == "2.7e-18"


def test_chapter_simulation_agrees_with_the_formula_within_one_standard_error(data):
    sim = cha.simulate_dead_at_birth(10, 3, n_networks=20000, x=data.X_train[0], seed=0)
    assert abs(sim.probability - theory.dead_at_birth_probability(10, 3)) < sim.standard_error


@pytest.mark.parametrize("depth, width", [(10, 3), (5, 2), (20, 4)])
def test_simulation_agrees_with_the_formula(depth, width, data):
    sim = cha.simulate_dead_at_birth(depth, width, 8000, x=data.X_train[0], seed=1)
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
    sim = cha.simulate_dead_at_birth(depth, width, 20000, x=x[0], seed=0)
    assert abs(dead / n - sim.probability) < 4 * se + 4 * sim.standard_error


def test_points_off_the_curve_of_the_chapter_figure():
    """Experiment 5: 6 of the figure's 120 simulated points lie more than 2 standard errors off the formula
    (the largest 2.3), about the 5 % chance predicts."""
    sims = cha.dead_at_birth_simulations()
    assert cha.points_off_the_curve(sims) == (6, 120, pytest.approx(2.31, abs=0.005))
    assert cha.points_off_the_curve(sims, k=3)[0] == 0
    assert round(100 * (1 - math.erf(2 / math.sqrt(2))), 1) == 4.6 and round(0.0455 * 120, 1) == 5.5
    with pytest.raises(ValueError, match="k"):
        cha.points_off_the_curve(sims, k=0)


def test_simulation_is_reproducible_and_checks_arguments():
    a = cha.simulate_dead_at_birth(8, 3, 3000, seed=5)
    b = cha.simulate_dead_at_birth(8, 3, 3000, seed=5)
    np.testing.assert_array_equal(a.dead_by_layer, b.dead_by_layer)
    u = cha.simulate_dead_at_birth(8, 3, 3000, init="glorot_uniform", seed=5)
    assert abs(u.probability - theory.dead_at_birth_probability(8, 3)) < 4 * u.standard_error + 1e-9
    assert cha.simulate_dead_at_birth(3, 4, 500, bias=-50.0).probability == 1.0
    assert cha.simulate_dead_at_birth(1, 4, 500, bias=+50.0).probability == 0.0  # z > 0 in every unit
    with pytest.raises(ValueError, match="x"):
        cha.simulate_dead_at_birth(3, 2, 10, x=np.zeros(5))
    with pytest.raises(ValueError, match="init"):
        cha.simulate_dead_at_birth(3, 2, 10, init="orthogonal")
    with pytest.raises(ValueError, match="depth"):
        cha.simulate_dead_at_birth(0, 2, 10)


# ----------------------------------------------------------------------------- 04a explorer: dying vs lr
def _line(ax, gid):
    (ln,) = [x for x in ax.lines if x.get_gid() == gid]
    return ln


def test_dying_relu_explorer_every_control(runs):
    ex = cha.DyingReluExplorer(canvas="none")
    ex.figure.canvas.draw()
    # initial state: the chapter's run at lr 0.1 (and it is its own reference)
    np.testing.assert_array_equal(ex.run.history.test_accuracy, runs["relu"].history.test_accuracy)
    assert ex.reference is ex.run
    assert ex.summary() == ("lr 0.1: test accuracy 94.7%, dead units per layer 0% 0% 2% 2%; alive; test "
                            "accuracy above 50%: yes; a hidden layer with more than 15% of its units dead: no.")
    np.testing.assert_allclose(_line(ex.ax_acc, "accuracy").get_ydata(), 100 * runs["relu"].history.test_accuracy)

    ex.controls["lr"].value = 50.0  # the lr slider: Experiment 2's dead run
    assert ex.run.outcome == "dead" and "layer 2 entirely dead" in ex.ax_dead.get_title()
    np.testing.assert_allclose(_line(ex.ax_dead, "layer:3").get_ydata(),
                               100 * runs["lr 50"].history.dead_fraction[:, 2])
    np.testing.assert_allclose(_line(ex.ax_acc, "reference").get_ydata(), 100 * runs["relu"].history.test_accuracy)
    assert "dead units per layer 0% 100% 100% 100%" in ex.summary()

    ex.update(lr=100.0)
    ex.controls["seed"].value = 1  # the seed slider: at lr 100, seed 1 overflows at step 4 (on every kernel tried)
    assert ex.run.outcome == "diverged" and "diverged" in ex.ax_dead.get_title()
    assert "overflowed" in ex.ax_acc.get_title() and ex.summary().endswith("diverged.")
    assert len(_line(ex.ax_acc, "accuracy").get_xdata()) == len(ex.run.history.record_steps) - 1

    ex.update(lr=0.1, seed=0)
    ex.controls["bias"].value = -2.0  # the bias slider: Experiment 4's handicapped start
    np.testing.assert_array_equal(ex.run.history.test_accuracy, runs["relu, bias -2"].history.test_accuracy)
    assert ex.reference is ex.run and "bias -2" in ex.ax_dead.get_title()

    first = ex.train(0.1, 0.0, 0)
    ex.update(bias=0.0)
    assert ex.run is first  # trained once, then cached
    with pytest.raises(TypeError, match="no control"):
        ex.update(depth=3)


# ============================================================================= 04b
# ----------------------------------------------------------------------------- experiment 6: leaky ReLU
@pytest.mark.parametrize("alpha, factor", [(0.01, 0.0139), (0.1, 0.1394)])
def test_gradient_through_silent_layers_shrinks_by_sqrt2_alpha(alpha, factor):
    g = chb.shifted_gradient("leaky_relu", bias=-1.0, depth=10, alpha=alpha)
    assert g.relative_gradient[-1] == 1.0
    assert np.all(g.silent_fraction[3:] > 0.99)
    assert g.factor_per_layer(4, 9) == pytest.approx(math.sqrt(2) * alpha, rel=0.05)
    assert round(g.factor_per_layer(4, 9), 4) == factor
    assert g.at_first_layer == pytest.approx(g.relative_gradient[0], abs=0)


def test_leaky_numbers_the_chapter_states():
    """'about 70 per layer', 'smaller than 1e-14 nine layers down', 'at 0.3: 0.47, a little larger than 0.42'."""
    g = chb.shifted_gradient("leaky_relu", bias=-1.0, depth=10, alpha=0.01)
    assert 65 < 1 / g.factor_per_layer(4, 9) < 75 and 0 < g.at_first_layer < 1e-14
    g3 = chb.shifted_gradient("leaky_relu", bias=-1.0, depth=10, alpha=0.3)
    assert round(g3.factor_per_layer(4, 9), 2) == 0.47 and round(math.sqrt(2) * 0.3, 2) == 0.42
    assert g3.silent_fraction.mean() < g.silent_fraction.mean()  # more units active at 0.3


def test_the_lowest_layers_are_not_all_silent():
    """Experiment 6: layer 1 gets 4.66e-15, about 200 times (sqrt 2 x 0.01)^9 = 2.3e-17, because layers 1-3 are
    not all silent (76 %, 92 %, 99.8 % of z <= 0; layer 1's z = Wx - 1 has variance about 2, and
    P(N(-1, 2) <= 0) = Phi(1/sqrt 2) = 0.760); going down into layer 2 the factor is 0.067, into layer 1 0.65."""
    g = chb.shifted_gradient("leaky_relu", bias=-1.0, depth=10, alpha=0.01)
    predicted = (math.sqrt(2) * 0.01) ** 9
    assert f"{predicted:.2g}" == "2.3e-17" and f"{g.at_first_layer:.3g}" == "4.66e-15"
    assert 150 < g.at_first_layer / predicted < 250
    assert [round(float(s), 3) for s in g.silent_fraction[:3]] == [0.761, 0.916, 0.998]
    assert np.all(g.silent_fraction[3:] == 1.0)
    assert round(0.5 * math.erfc(-1 / 2), 2) == 0.76  # Phi(1/sqrt(2))
    assert round(g.factor_per_layer(2, 3), 3) == 0.067 and round(g.factor_per_layer(1, 2), 2) == 0.65
    assert all(0.012 < g.factor_per_layer(l, l + 1) < 0.016 for l in range(3, 10))  # "instead of 0.014"
    for alpha, printed in ((0.1, "2.3e-08"), (0.3, "0.00045")):
        assert f"{(math.sqrt(2) * alpha) ** 9:.2g}" == printed


def test_the_two_explorer_questions_answered():
    """Experiment 6: at bias -1, alpha 0.01 gives layer 1 5e-15 where ReLU gives exactly 0; at bias 0, 1.18 for
    alpha = 0 and 0.01, 1.25 for 0.1."""
    at_1 = {(b, a): chb.shifted_gradient("leaky_relu", bias=b, depth=10, alpha=a).at_first_layer
            for b in (-1.0, 0.0) for a in (0.0, 0.01, 0.1)}
    assert at_1[(-1.0, 0.0)] == 0.0 and f"{at_1[(-1.0, 0.01)]:.0g}" == "5e-15"
    assert round(at_1[(0.0, 0.0)], 2) == 1.18 and round(at_1[(0.0, 0.01)], 2) == 1.18
    assert round(at_1[(0.0, 0.1)], 2) == 1.25


def test_relu_passes_exactly_no_gradient_through_a_silent_layer():
    g = chb.shifted_gradient("relu", bias=-1.0, depth=10)
    assert g.first_silent_layer is not None
    np.testing.assert_array_equal(g.relative_gradient[:-1], 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert g.factor_per_layer(4, 9) == 0.0
    with pytest.raises(ValueError, match="lower"):
        g.factor_per_layer(5, 5)


def test_shifted_gradient_matches_a_direct_probe():
    g = chb.shifted_gradient("elu", bias=-0.5, depth=5, width=16, alpha=1.0, seed=3)
    net = MLP(16, depth=5, width=16, activation="elu", bias=-0.5, n_outputs=None, seed=3, alpha=1.0)
    stats.probe(net, seed=3)
    rms = np.array([np.sqrt(np.mean(r["da"] ** 2)) for r in net.records])
    np.testing.assert_allclose(g.relative_gradient, rms / rms[-1], rtol=1e-12)


def test_leaky_slope_explorer_every_control():
    ex = chb.LeakySlopeExplorer(canvas="none")
    ex.figure.canvas.draw()
    # initial state: leaky 0.1, bias -1, depth 10 -> the chapter's numbers
    np.testing.assert_allclose(_line(ex.ax_grad, "gradient").get_ydata(),
                               chb.shifted_gradient("leaky_relu", -1.0, 10, alpha=0.1).relative_gradient)
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
    ex = chb.LeakySlopeExplorer(canvas="none", depth=3)
    first = ex.result
    ex.controls["alpha"].value = 0.5
    ex.controls["alpha"].value = 0.1
    assert ex.result is first


# ----------------------------------------------------------------------------- experiment 7: RReLU
def test_rrelu_training_draws_fresh_slopes_inference_uses_the_mean():
    layer = RReLU(1 / 8, 1 / 3, rng=0)
    x = np.array([[-2.0, -1.0, -0.5, 0.5, 2.0]])
    a, b = layer.forward(x, training=True), layer.forward(x, training=True)
    assert not np.array_equal(a[0, :3], b[0, :3])
    np.testing.assert_array_equal(a[0, 3:], x[0, 3:])
    inf = layer.forward(x, training=False)
    np.testing.assert_allclose(inf[0, :3], x[0, :3] * 11 / 48, rtol=1e-15)
    assert layer.mean_slope == pytest.approx(11 / 48) and round(11 / 48, 4) == 0.2292
    # slopes stay in [lower, upper], and average training output -> inference output
    z = -np.ones((2000, 50))
    slopes = -layer.forward(z, training=True)
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3
    assert slopes.mean() == pytest.approx(11 / 48, abs=1e-3)


def test_rrelu_draws_of_the_figure():
    z, tr, inf = chb.rrelu_draws(n=1000)
    neg = z < 0
    s = tr[neg] / z[neg]
    assert s.min() >= 1 / 8 - 1e-15 and s.max() <= 1 / 3 + 1e-15
    np.testing.assert_allclose(inf[neg], z[neg] * 11 / 48)
    np.testing.assert_array_equal(tr[~neg], z[~neg])


def test_rrelu_explorer_every_control():
    """Experiment 7: 2053 slopes drawn, mean 0.2297 against 11/48 = 0.2292; Xu et al.'s 2/11 = 0.18."""
    ex = chb.RReLUExplorer(canvas="none")
    ex.figure.canvas.draw()
    assert ex.slopes.size == 2053 and round(float(ex.slopes.mean()), 4) == 0.2297
    assert ex.mean_slope == pytest.approx(11 / 48) and ex.xu_slope == pytest.approx(2 / 11)
    assert round(2 / 11, 2) == 0.18
    assert ex.summary() == ("training: 2053 slopes drawn from U[0.125, 0.3333], mean 0.2297; inference: slope "
                            "(lower + upper) / 2 = 0.2292 for every negative input; Xu et al.'s rule would use "
                            "0.1818.")
    z, tr, inf = chb.rrelu_draws(4000)
    np.testing.assert_array_equal(_line(ex.ax_out, "train").get_ydata(), tr)
    assert _line(ex.ax_slopes, "mean").get_xdata()[0] == pytest.approx(11 / 48)
    assert ex.hist.get_data().values.sum() == 2053

    ex.update(lower=0.3, upper=0.3)  # one slope for all: training = inference
    assert np.allclose(ex.slopes, 0.3) and ex.xu_slope == pytest.approx(0.3)
    assert ex.hist.get_data().values.sum() == ex.slopes.size
    ex.update(lower=0.0, upper=0.9)
    assert ex.xu_slope == 0.0 and ex.mean_slope == pytest.approx(0.45)
    ex.update(lower=0.95)  # past the upper bound: the two swap roles
    assert ex.mean_slope == pytest.approx(0.925) and "U[0.9, 0.95]" in ex.summary()
    assert ex.ax_out.get_ylim()[0] < -3.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.figure.canvas.draw()


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


def test_prelu_slopes_of_the_chapter(runs):
    """Experiment 8: from the normal start the slopes end between 0.26 and 0.28 (96.0 %); from biases -2 they
    climb, to 0.38 in layer 1, and the network reaches 84.9 % where ReLU stays at 10.2 %."""
    normal, shifted = runs["prelu"], runs["prelu, bias -2"]
    np.testing.assert_array_equal(normal.history.prelu_alpha[0], 0.25)
    assert np.all((0.26 < normal.history.prelu_alpha[-1]) & (normal.history.prelu_alpha[-1] < 0.28))
    assert round(normal.test_accuracy, 3) == 0.960
    alpha = shifted.history.prelu_alpha[-1]
    assert np.all(alpha > 0.3) and round(float(alpha[0]), 2) == 0.38
    assert round(float(alpha.min()), 2) == 0.32  # Experiment 11: "raises its slopes ..., to 0.32 to 0.38"
    assert round(shifted.test_accuracy, 3) == 0.849 and round(runs["relu, bias -2"].test_accuracy, 3) == 0.102
    # the recorded mean equals the layer's own parameter
    np.testing.assert_allclose(alpha, [b.act.params["alpha"].mean() for b in shifted.net.blocks])


def test_prelu_explorer_every_control(runs):
    """Experiment 8's explorer: from biases -2 and 0.25, the slope held fixed reaches only 39.1 %."""
    ex = chb.PReLUExplorer(canvas="none", bias=-2.0)
    ex.figure.canvas.draw()
    np.testing.assert_array_equal(ex.prelu.history.prelu_alpha, runs["prelu, bias -2"].history.prelu_alpha)
    assert round(ex.leaky.test_accuracy, 3) == 0.391
    assert ex.summary() == ("PReLU from alpha = 0.25: mean learned slope per layer 0.381 0.368 0.320 0.324, test "
                            "accuracy 84.9%; leaky ReLU with alpha held at 0.25: test accuracy 39.1%.")
    np.testing.assert_allclose(_line(ex.ax_alpha, "layer:1").get_ydata(), ex.prelu.history.prelu_alpha[:, 0])
    assert _line(ex.ax_alpha, "start").get_ydata()[0] == 0.25

    ex.controls["bias"].value = 0.0  # the bias buttons: the normal start
    np.testing.assert_array_equal(ex.prelu.history.prelu_alpha, runs["prelu"].history.prelu_alpha)
    ex.controls["alpha_init"].value = 0.5  # the initial-slope slider
    np.testing.assert_array_equal(ex.prelu.history.prelu_alpha[0], 0.5)
    assert ex.leaky.net.activation_params == {"alpha": 0.5}
    assert _line(ex.ax_alpha, "start").get_ydata()[0] == 0.5
    lo, hi = ex.ax_alpha.get_ylim()
    assert lo < ex.prelu.history.prelu_alpha.min() and hi > ex.prelu.history.prelu_alpha.max()
    first = ex.prelu
    ex.update(alpha_init=0.25)
    ex.update(alpha_init=0.5)
    assert ex.prelu is first  # cached
    with pytest.raises(TypeError, match="no control"):
        ex.update(lr=1.0)


def test_prelu_needs_a_starting_slope_large_enough(data):
    """Experiment 8, 'the start decides': from biases -2, PReLU from 0 (Keras's default) and 0.1 stays at chance
    with its slopes where they started; from 0.5 it learns (96.2 % for seed 0)."""
    ex = chb.PReLUExplorer(canvas="none", bias=-2.0)
    runs = {a: ex.train("prelu", a, -2.0) for a in (0.0, 0.1, 0.5)}
    assert round(runs[0.0].test_accuracy, 3) == 0.102 and round(runs[0.1].test_accuracy, 3) == 0.102
    assert round(runs[0.5].test_accuracy, 3) == 0.962
    assert np.all(np.abs(runs[0.0].history.prelu_alpha[-1]) < 0.005)
    assert np.all(np.abs(runs[0.1].history.prelu_alpha[-1] - 0.1) < 0.015)
    assert ex.train("prelu", 0.5, -2.0) is runs[0.5]  # cached for the explorer


@pytest.mark.parametrize("seed", [1, 2])
def test_prelu_start_matters_for_other_seeds(seed, data):
    """04b says that the package's tests find the same pattern with other seeds: PReLU from slopes 0 and 0.1 at
    chance, from 0.5 learning (here: above 90 %)."""
    acc = {a: digits_run("prelu", alpha_init=a, bias=-2.0, data=data, seed=seed).test_accuracy for a in (0.0, 0.1, 0.5)}
    assert acc[0.0] < 0.12 and acc[0.1] < 0.12 and acc[0.5] > 0.9


# ----------------------------------------------------------------------------- explorers: a quick first frame
def _on_screen(ex):
    """The explorer's ipympl canvas as a browser shows it (skips without ipympl)."""
    if not widgets._canvas.have_ipympl():
        pytest.skip("ipympl is not installed")
    canvas = ex.figure.canvas
    canvas.syncing_data_url = False  # as once a browser has shown the canvas
    canvas.draw()  # the first frame, which the browser asks for
    return canvas


def _blitted_as_drawn(ex):
    """Blit the explorer's current state, then check that a full draw gives exactly the same pixels."""
    ex.request_draw(now=True)
    assert ex._blitter.last != "full"
    canvas = ex.figure.canvas
    blitted = np.asarray(canvas.buffer_rgba()).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        canvas.draw()
    np.testing.assert_array_equal(blitted, np.asarray(canvas.buffer_rgba()))
    return ex._blitter.last


def test_prelu_explorer_drafts_the_first_10_steps_of_both_runs_and_says_so_on_the_figure():
    ex = chb.PReLUExplorer(canvas="ipympl")
    _on_screen(ex)
    assert ex.blit_axes()[-1] is ex.ax_alpha  # the y axis that moves at most changes: redrawn alone
    values = dict(ex.values, alpha_init=0.4)
    assert ex.draft_examples(values) == 10
    prelu, leaky = draft = ex.answer(values, examples=10)
    assert prelu.history.config["steps"] == leaky.history.config["steps"] == 10
    ex.show(draft, values)
    assert ex.ax_acc.get_title() == (f"test accuracy after 10 of 200 steps: PReLU {prelu.test_accuracy:.1%}, "
                                     f"leaky ReLU {leaky.test_accuracy:.1%}")
    assert ex.summary().startswith("PReLU from alpha = 0.40: mean learned slope per layer after the first 10 of "
                                   "200 steps: 0.4")
    assert f"test accuracy after the first 10 of 200 steps: {leaky.test_accuracy:.1%}." in ex.summary()
    np.testing.assert_array_equal(_line(ex.ax_alpha, "layer:1").get_xdata(), [0, 10])
    assert _blitted_as_drawn(ex) == "y"  # the legends and the chance line stay in the background

    whole = ex.answer(values)  # what the worker trains: the whole runs, from the same start
    assert [r.history.config["steps"] for r in whole] == [200, 200]
    for d, w in zip(draft, whole):
        np.testing.assert_array_equal(d.history.test_accuracy[0], w.history.test_accuracy[0])
    ex.show(whole, values)
    assert ex.ax_acc.get_title() == (f"test accuracy: PReLU {whole[0].test_accuracy:.1%}, leaky ReLU "
                                     f"{whole[1].test_accuracy:.1%}")
    assert "steps" not in ex.summary()
    _blitted_as_drawn(ex)
    ylim = ex.ax_alpha.get_ylim()
    assert ylim[0] + chb.PReLUExplorer.Y_PAD <= whole[0].history.prelu_alpha.min()  # tight, padded
    for alpha_init in (0.35, 0.45):  # one press away, either way: a draft keeps the slopes' axis
        values = dict(ex.values, alpha_init=alpha_init)
        ex.show(ex.answer(values, examples=10), values)
        assert ex.ax_alpha.get_ylim() == ylim and _blitted_as_drawn(ex) == "title"
        lo, hi = ylim
        assert lo < ex.prelu.history.prelu_alpha.min() and ex.prelu.history.prelu_alpha.max() < hi
    ex.show(ex.answer(values), values)  # the whole run: its own tight limits
    lo, hi = ex.ax_alpha.get_ylim()
    assert (lo, hi) != ylim and lo < ex.prelu.history.prelu_alpha.min() and ex.prelu.history.prelu_alpha.max() < hi


def test_prelu_explorer_at_its_extremes_shows_the_overflow_without_its_numbers():
    """alpha_init 1 with biases -2: both runs overflow within a few steps (a draft is then the whole run)."""
    ex = chb.PReLUExplorer(canvas="none", alpha_init=1.0, bias=-2.0)
    p, l = ex.prelu.history, ex.leaky.history
    assert p.diverged and l.diverged and p.diverged_step < 10 and l.diverged_step < 10
    assert ex.ax_alpha.get_title() == f"PReLU from alpha 1.00, biases -2: overflow at step {p.diverged_step}"
    assert ex.ax_acc.get_title() == "test accuracy: PReLU overflow, leaky ReLU overflow"
    assert ex.summary() == (f"PReLU from alpha = 1.00: diverged, overflow at step {p.diverged_step}; leaky ReLU "
                            f"with alpha held at 1.00: diverged, overflow at step {l.diverged_step}.")
    for ax in (ex.ax_alpha, ex.ax_acc):
        assert all(np.isfinite(ln.get_ydata()).all() for ln in ax.lines)  # not the overflowed record
        assert np.all(np.isfinite(ax.get_ylim())) and abs(ax.get_ylim()[0]) < 10
    values = dict(ex.values, alpha_init=0.95)
    ex.show(ex.answer(values, examples=10), values)  # a draft that overflowed within its steps: said as whole
    assert ex.ax_acc.get_title() == "test accuracy: PReLU overflow, leaky ReLU overflow"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.figure.canvas.draw()


def test_dying_relu_explorer_drafts_the_first_20_steps_and_says_so_on_the_figure():
    ex = cha.DyingReluExplorer(canvas="ipympl")
    _on_screen(ex)
    values = dict(ex.values, lr=1.0)
    assert ex.draft_examples(values) == 20
    run, ref = ex.answer(values, examples=20)
    assert run.history.config["steps"] == 20 and ref is ex.reference  # the reference, lr 0.1, is kept whole
    ex.show((run, ref), values)
    assert ex.ax_dead.get_title().endswith(f"{run.outcome} after 20 steps")
    assert ex.ax_acc.get_title() == f"test accuracy after 20 of 200 steps: {run.test_accuracy:.1%}"
    assert ex.summary().startswith("after the first 20 of 200 steps: lr 1: test accuracy")
    assert _blitted_as_drawn(ex) == "title"  # the titles and the data: no axis, legend or chance line
    ex.show(ex.answer(values), values)
    assert ex.ax_acc.get_title().startswith("test accuracy after 200 steps: ") and "first" not in ex.summary()


def test_leaky_slope_explorer_keeps_its_axes_while_alpha_moves_and_relabels_in_place():
    ex = chb.LeakySlopeExplorer(canvas="ipympl")
    _on_screen(ex)
    ylim, legends = ex.ax_grad.get_ylim(), (ex.ax_phi.get_legend(), ex.ax_grad.get_legend())
    for alpha in (0.11, 0.12, 0.13):  # arrow-key steps: the curve rises, the axis stays
        ex.controls["alpha"].value = alpha
        assert ex.ax_grad.get_ylim() == ylim and ex._blitter.last == "title"  # the left title says alpha
    assert (ex.ax_phi.get_legend(), ex.ax_grad.get_legend()) == legends  # not made anew
    assert ex.ax_phi.get_title() == "leaky ReLU, alpha = 0.13" and ex.ax_grad.get_legend().texts[0].get_text() == "leaky ReLU"
    assert set(ex.blit_static()) == set(legends)  # drawn once: redrawn (in full) only for a new activation
    ex.controls["activation"].value = "elu"
    assert ex.ax_phi.get_legend().texts[1].get_text() == r"$\varphi(z)$ = ELU"
    assert ex.ax_grad.get_legend().texts[0].get_text() == "ELU"
    assert ex._blitter.last == "full"  # new legend labels: a full draw (ipympl's, when the browser asks)
    ex.figure.canvas.draw()
    _blitted_as_drawn(ex)
    for alpha, bias, depth in ((0.0, -3.0, 30), (1.0, 0.5, 2), (0.01, -3.0, 2)):  # the extremes: data in view
        ex.update(alpha=alpha, bias=bias, depth=depth)
        y = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in (_line(ex.ax_grad, "gradient"),
                                                                         _line(ex.ax_grad, "relu_gradient"))])
        y = y[np.isfinite(y)]
        lo, hi = ex.ax_grad.get_ylim()
        assert lo <= y.min() and y.max() <= hi and lo <= 0.3 and hi >= 3.0
        _blitted_as_drawn(ex)


def test_leaky_slope_explorer_makes_the_ticks_of_its_log_axis_up_front():
    """Making ~80 ticks when the y axis first widens took ~100 ms of that frame: they are made with the figure."""
    ex = chb.LeakySlopeExplorer(canvas="ipympl")
    _on_screen(ex)
    axis = ex.ax_grad.yaxis
    made = len(axis.majorTicks), len(axis.minorTicks)
    assert made >= chb.LeakySlopeExplorer.Y_TICKS
    for alpha in (0.15, 0.2, 0.3, 0.5, 1.0):  # the axis spans 1e-8 to 10 at the defaults, then narrows
        ex.controls["alpha"].value = alpha
        ex.figure.canvas.draw()
        assert (len(axis.majorTicks), len(axis.minorTicks)) == made  # none made while the learner waits


def test_rrelu_explorer_keeps_its_axes_while_a_bound_moves_a_step():
    ex = chb.RReLUExplorer(canvas="ipympl")
    _on_screen(ex)
    xlim, ylim = ex.ax_slopes.get_xlim(), ex.ax_slopes.get_ylim()
    assert xlim[0] <= 0.125 - 0.05 and 1 / 3 + 0.05 <= xlim[1] <= 0.5
    for lower in (0.15, 0.175, 0.2):
        ex.controls["lower"].value = lower
        assert (ex.ax_slopes.get_xlim(), ex.ax_slopes.get_ylim()) == (xlim, ylim) and ex._blitter.last == "title"
    for lower, upper in ((0.3, 0.3), (0.9, 0.95), (0.0, 1.0), (0.0, 0.0), (1.0, 1.0)):  # the extremes
        ex.update(lower=lower, upper=upper)
        x0, x1 = ex.ax_slopes.get_xlim()
        edges = ex.hist.get_data().edges
        assert -0.1 <= x0 <= edges[0] and edges[-1] <= x1 <= 1.1 and (x1 - x0) <= 4 * max(upper - lower, 0.1)
        top = ex.ax_slopes.get_ylim()[1]
        assert ex.hist.get_data().values.max() < top <= 2 * ex.hist.get_data().values.max()
        dots = _line(ex.ax_out, "train")
        in_view = np.asarray(dots.get_xdata()) >= ex.ax_out.get_xlim()[0]
        assert ex.ax_out.get_ylim()[0] <= np.asarray(dots.get_ydata())[in_view].min()
        _blitted_as_drawn(ex)


# ----------------------------------------------------------------------------- experiment 9: ELU
def test_elu_values_the_chapter_states():
    assert elu(-10.0) == pytest.approx(math.expm1(-10.0)) and f"{elu(-10.0):.4f}" == "-1.0000"
    assert elu_grad(-10.0) == pytest.approx(math.exp(-10.0)) and f"{elu_grad(-10.0):.2g}" == "4.5e-05"
    assert elu_grad(-1e-9, 2.0) == pytest.approx(2.0) and elu_grad(1e-9, 2.0) == 1.0
    assert elu_grad(-1e-9, 1.0) == pytest.approx(1.0)  # continuous slope only for alpha = 1
    m_relu = theory.activation_moments("relu", 0.0, 1.0).mean
    m_elu = theory.activation_moments("elu", 0.0, 1.0).mean
    assert m_relu == pytest.approx(1 / math.sqrt(2 * math.pi))
    z = np.random.default_rng(0).standard_normal(2_000_000)
    assert m_elu == pytest.approx(elu(z).mean(), abs=2e-3)
    assert round(m_elu, 2) == 0.16 and round(m_relu, 2) == 0.40


def test_elu_preset_of_the_activation_explorer():
    ex = widgets.ActivationExplorer(canvas="none", activation="elu", alpha=1.0, x_range=(-8.0, 4.0), z1=-1.0,
                                    z2=-10.0)
    assert not ex.controls["alpha"].disabled
    ex.controls["alpha"].value = 2.0
    z = np.asarray(ex.dphi.get_xdata())
    np.testing.assert_allclose(ex.dphi.get_ydata(), elu_grad(z, 2.0))
    assert "-10" in ex.readout.value


# ----------------------------------------------------------------------------- experiment 10: cost
def test_activation_cost_returns_sane_numbers():
    cost = chb.activation_cost(shape=(32, 64), repeats=3)
    assert cost.names == chb.COST_ACTIVATIONS and cost.reference == "relu"
    for n in cost.names:
        assert np.isfinite(cost.seconds[n]) and 0 < cost.seconds[n] < 1.0
        assert cost.relative[n] == pytest.approx(cost.seconds[n] / cost.seconds["relu"])
    assert cost.relative["relu"] == 1.0
    assert sorted(cost.ranking()) == sorted(cost.names)
    assert all(n in cost.as_table() for n in cost.names)
    assert cost.shape == (32, 64) and cost.dtype == "float32" and cost.repeats == 3
    calls = chb.numpy_cost(shape=(8, 16), repeats=2)
    assert calls.kind == "numpy call" and calls.reference == "np.maximum(z, 0)" and len(calls.names) == 8
    assert calls.as_table().splitlines()[0].strip().startswith("numpy call")


def test_activation_cost_checks_its_arguments():
    with pytest.raises(ValueError, match="names"):
        chb.activation_cost(names=("relu", "swish"), repeats=1)
    with pytest.raises(ValueError, match="reference"):
        chb.activation_cost(names=("elu",), repeats=1)
    with pytest.raises(ValueError, match="shape"):
        chb.activation_cost(shape=(8,), repeats=1)
    with pytest.raises(ValueError, match="repeats"):
        chb.activation_cost(repeats=0)
    with pytest.raises(ValueError, match="repeats"):
        chb.numpy_cost(repeats=0)


def _numpy_has_avx512():
    """Whether numpy's element-wise loops run with AVX-512 here (numpy 2.x names the level X86_V4, 1.x AVX512_SKX);
    NPY_DISABLE_CPU_FEATURES switches it off."""
    from numpy._core import _multiarray_umath as m

    return any(m.__cpu_features__.get(f) for f in ("X86_V4", "AVX512_SKX"))


def test_the_costs_the_chapter_states():
    """Experiment 10, with wide margins (medians of rounds taken in turn, so a busy machine slows all alike).
    Measured on busy 2-core machines: leaky 0.9-1.4x ReLU; ELU and SELU 19-60x on an AVX2 machine, 9.4-11.3x on an
    AVX-512 one (15.6-19.2x there with AVX-512 off); np.where 6-16x np.maximum; sorted np.where 2-5x faster than
    mixed; np.expm1 20-80x np.exp on the AVX2 machine, 0.8x with AVX-512 and 5-10x with it off."""
    cost = chb.activation_cost(shape=(256, 512), repeats=15)
    assert cost.relative["leaky_relu"] < 2
    assert cost.relative["elu"] > 5 and cost.relative["selu"] > 5
    calls = chb.numpy_cost(shape=(256, 512), repeats=15).seconds
    assert calls["np.where(z > 0, z, 0.01 z)"] > 2 * calls["np.maximum(z, 0.01 z)"]
    assert calls["np.where(z > 0, z, 0.01 z)"] > calls["same np.where, signs sorted"]
    # "numpy has a vectorised loop ... for np.expm1 only on CPUs with AVX-512: there it costs about what np.exp
    # costs, elsewhere several times more"
    if _numpy_has_avx512():
        assert calls["np.expm1(z)"] < 2 * calls["np.exp(z)"]
    else:
        assert calls["np.expm1(z)"] > 3 * calls["np.exp(z)"]
    # 'np.maximum(z, zeros), against an array of zeros, is faster than ReLU's np.maximum(z, 0)' (measured 3-5x)
    assert calls["np.maximum(z, zeros)"] < calls["np.maximum(z, 0)"]


# ----------------------------------------------------------------------------- experiment 11: side by side
def test_the_family_side_by_side(runs):
    """Experiment 11: 94.2 % to 96.9 % for the family, 10.2 % for the sigmoid; from biases -2: ReLU and leaky
    ReLU 10.2 %, RReLU 15.3 %, PReLU 84.9 %, ELU 90.0 %."""
    acc = {a: round(runs[a].test_accuracy, 3) for a in chb.ACTIVATIONS}
    assert acc == {"relu": 0.947, "leaky_relu": 0.942, "rrelu": 0.960, "prelu": 0.960, "elu": 0.969,
                   "sigmoid": 0.102}
    shifted = {a: round(runs[f"{a}, bias -2"].test_accuracy, 3) for a in chb.ACTIVATIONS[:-1]}
    assert shifted == {"relu": 0.102, "leaky_relu": 0.102, "rrelu": 0.153, "prelu": 0.849, "elu": 0.900}
    # "RReLU hardly learns: its loss stays near ln 10" (the last ten minibatch losses: 2.21 to 2.30)
    last = runs["rrelu, bias -2"].history.loss[-10:]
    assert np.all(np.abs(last - math.log(10)) < 0.15)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_healthy_start_differences_are_the_size_of_a_seed_change(seed, data, runs):
    """04b says that with other seeds the five end within a few points of each other, with another activation
    on top (measured: seed 1 94.7-95.8 %, best RReLU; seed 2 95.6-96.9 %, best ReLU; seed 0: best ELU)."""
    acc = {a: digits_run(a, data=data, seed=seed).test_accuracy for a in chb.ACTIVATIONS[:-1]}
    assert all(0.94 < v < 0.975 for v in acc.values())
    best_seed_0 = max(chb.ACTIVATIONS[:-1], key=lambda a: runs[a].test_accuracy)
    assert max(acc, key=acc.get) != best_seed_0


def test_larger_steps_do_not_rescue_the_sigmoid_net(data):
    """04b, Experiment 11 (printed there): larger steps leave the sigmoid net at chance or far below the others:
    10.2 % at lr 1, 25.3 % at lr 5 (the same on the Sandybridge and Prescott kernels)."""
    at_1, at_5 = (digits_run("sigmoid", lr=lr, data=data).test_accuracy for lr in (1.0, 5.0))
    assert f"{at_1:.1%}" == "10.2%" and f"{at_5:.1%}" == "25.3%"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rrelu_is_held_back_by_its_slope_not_its_noise(seed, data):
    """Experiment 11's control run: from biases -2, leaky ReLU with the slope held at RReLU's mean 11/48 does no
    better than RReLU (seed 0: 14.0 % against 15.3 %; seeds 1, 2 measured 18.9 / 27.6 % against 33.3 / 30.7 %),
    while the slope held at 0.25 does far better (39.1 %; 51.6 / 63.3 %)."""
    rrelu = digits_run("rrelu", bias=-2.0, data=data, seed=seed).test_accuracy
    mean_slope = digits_run("leaky_relu", alpha=11 / 48, bias=-2.0, data=data, seed=seed).test_accuracy
    quarter = digits_run("leaky_relu", alpha=0.25, bias=-2.0, data=data, seed=seed).test_accuracy
    assert mean_slope <= rrelu + 0.01
    assert quarter > max(rrelu, mean_slope) + 0.15
    if seed == 0:
        assert (round(mean_slope, 3), round(rrelu, 3), round(quarter, 3)) == (0.140, 0.153, 0.391)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_shifted_grouping_holds_for_other_seeds(seed, data):
    """04b says that the shifted start groups the activations the same way with other seeds: ReLU and leaky
    ReLU at chance, RReLU above it but below 40 %, PReLU and ELU above 80 %."""
    acc = {a: digits_run(a, bias=-2.0, data=data, seed=seed).test_accuracy for a in chb.ACTIVATIONS[:-1]}
    assert acc["relu"] < 0.12 and acc["leaky_relu"] < 0.12
    assert 0.12 < acc["rrelu"] < 0.4
    assert acc["prelu"] > 0.8 and acc["elu"] > 0.8


# ----------------------------------------------------------------------------- exercises
def test_number_exercise_answers(capsys):
    assert exercises.EXERCISES["04.1"].answer() == pytest.approx(1 - (15 / 16) ** 20)
    assert exercises.EXERCISES["04.3"].answer() == pytest.approx(11 / 48)
    assert exercises.EXERCISES["04.4"].answer() == -2.0
    assert exercises.check("04.1", 0.7249) and exercises.check("04.3", 0.2292) and exercises.check("04.4", -2)
    assert not exercises.check("04.3", 2 / 11)  # the paper's rule, not this layer's
    assert not exercises.check("04.4", 2.0)
    # the route the exercise suggests, "check it with gv.layers.PReLU", gives a one-element array
    layer = PReLU(1, alpha_init=0.25)
    layer.forward(np.array([[-2.0, 1.0, -0.5]]), training=True)
    layer.backward(np.array([[0.5, -1.0, 2.0]]))
    assert layer.grads["alpha"].shape == (1,) and exercises.check("04.4", layer.grads["alpha"])
    assert not exercises.check("04.4", -3.0) and not exercises.check("04.4", -1.0)  # z = 1 counted; a term lost
    assert exercises.check("04.3", gv.layers.RReLU(1 / 8, 1 / 3).forward(np.array([[-1.0]]), training=False) * -1)
    assert not exercises.check("04.3", (0.2292, 2 / 11))  # the pair: the message asks for one number
    for k in ("04.1", "04.3", "04.4"):
        exercises.solution(k)
    out = capsys.readouterr().out
    assert "correct" in out and "not quite" in out and "11/48" in out and "0.7249" in out
    assert "wants one number; you gave 2" in out


def test_code_exercise_dead_at_birth(capsys):
    def mine(depth, width):
        return 1 - (1 - 2.0 ** -width) ** depth

    def wrong(depth, width):  # forgot that the layers multiply
        return 2.0 ** -width

    assert exercises.EXERCISES["04.2"].wants_code
    assert exercises.check("04.2", mine) and not exercises.check("04.2", wrong)
    assert not exercises.check("04.2", 0.5)
    assert not exercises.check("04.2", lambda depth, width: None)  # the notebook's stub, returning nothing
    for args in [(10, 3), (20, 4), (50, 8)]:
        assert cha.dead_at_birth_code(*args) == pytest.approx(theory.dead_at_birth_probability(*args), rel=1e-12, abs=0)
    # the explanation's claim: written this way, 50 layers of 64 units give exactly 0, the truth about 2.7e-18
    assert 1 - 2.0 ** -64 == 1.0 and mine(50, 64) == 0.0
    exercises.solution("04.2")
    out = capsys.readouterr().out
    assert "0.7369" in out and "log1p" in out and "def dead_at_birth_code" in out


def test_code_exercise_leaky(capsys):
    def mine(z, alpha):
        return np.where(z > 0, z, alpha * z), np.where(z > 0, 1.0, alpha)

    def fast(z, alpha):  # the chapter's recipe (Experiment 10), right for the 0 <= alpha <= 1 the exercise asks
        return np.maximum(z, alpha * z), np.where(z > 0, 1.0, alpha)

    def slope_one_everywhere(z, alpha):
        return np.where(z > 0, z, alpha * z), np.ones_like(z)

    assert exercises.check("04.5", mine)
    assert exercises.check("04.5", fast)
    assert "0 <= alpha <= 1" in exercises.EXERCISES["04.5"].question
    assert {args[1] for args in exercises.EXERCISES["04.5"].inputs} == {0.0, 0.01, 0.3, 1.0}
    assert not exercises.check("04.5", slope_one_everywhere)
    assert exercises.check("04.5", lambda z, alpha: (gv.activations.leaky_relu(z, alpha),
                                                     gv.activations.leaky_relu_grad(z, alpha)))
    exercises.solution("04.5")
    out = capsys.readouterr().out
    assert "outputs -0.2, 3, slopes 0.1, 1" in out and "def leaky_relu_and_slope" in out


# ----------------------------------------------------------------------------- figures
def _short_runs(data, activations, **kw):
    return {a: digits_run(a, data=data, steps=20, label=a, **kw) for a in activations}


def test_training_figures_draw_the_runs_they_are_given(data):
    import matplotlib.pyplot as plt

    dying = {"lr 0.1": digits_run("relu", data=data, steps=20, label="lr 0.1"),
             "lr 50": digits_run("relu", lr=50.0, data=data, steps=20, label="lr 50")}
    fig = cha.dying_relu_training(dying)
    acc = [ln for ln in fig.axes[2].lines if ln.get_gid() == "acc:lr 50"][0]
    np.testing.assert_allclose(acc.get_ydata(), 100 * dying["lr 50"].history.test_accuracy)
    layer2 = [ln for ln in fig.axes[1].lines if ln.get_gid() == "layer:2"][0]
    np.testing.assert_allclose(layer2.get_ydata(), 100 * dying["lr 50"].history.dead_fraction[:, 1])

    runs = _short_runs(data, ("relu", "prelu", "sigmoid"))
    fig = chb.activation_training_comparison(runs)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0].startswith("relu: test") and len(labels) == 4 and labels[-1] == "chance (10 classes)"
    assert not [t for t in fig.axes[1].texts if t.get_text().startswith("chance")]  # in the legend, off the curves
    prelu = {"a": runs["prelu"], "b": digits_run("prelu", bias=-2.0, data=data, steps=20)}
    fig = chb.prelu_slope_over_training(prelu)
    lines = [ln for ln in fig.axes[1].lines if str(ln.get_gid()).startswith("layer:")]
    np.testing.assert_allclose(lines[0].get_ydata(), prelu["b"].history.prelu_alpha[:, 0])
    fig = chb.activation_training_shifted(_short_runs(data, ("relu", "elu"), bias=-2.0))
    assert "-2" in fig._suptitle.get_text()
    assert plt.get_fignums() == []


def test_static_figures_render_with_their_data():
    fig = figures.render("relu_family")
    assert len(fig.axes) == 4
    fig = figures.render("relu_and_sigmoid")
    assert len(fig.axes) == 2
    sims = cha.dead_at_birth_simulations(widths=(2, 4), depth=8, n_networks=500)
    fig = cha.dead_at_birth(sims)
    ax = fig.axes[0]
    theory_line = [ln for ln in ax.lines if ln.get_gid() == "theory:4"][0]
    np.testing.assert_allclose(theory_line.get_ydata(), [theory.dead_at_birth_probability(l, 4) for l in range(1, 9)])
    fig = chb.leaky_alpha_gradient(alphas=(0.0, 0.1), depth=6)
    ax = fig.axes[0]
    zeros = [ln for ln in ax.lines if ln.get_gid() == "zero:0"][0]
    np.testing.assert_array_equal(zeros.get_xdata(), np.arange(1, 6))  # ReLU: exactly 0 in layers 1-5
    assert not [ln for ln in ax.lines if ln.get_gid() == "zero:0.1"]
    assert not ax.texts  # the triangles are explained in the legend, not in a text on the curves
    for name in ("rrelu_train_vs_inference", "elu_alphas"):
        assert figures.render(name).axes
    assert {n for n, s in figures.FIGURES.items() if s.chapter == 4} == {
        "relu_and_sigmoid", "dying_relu_training", "dead_at_birth", "relu_family", "leaky_alpha_gradient",
        "rrelu_train_vs_inference", "prelu_slope_over_training", "activation_training_comparison",
        "activation_training_shifted", "elu_alphas"}


def test_no_layer_colour_is_pale_yellow():
    """The issue: yellow lines can barely be seen on white. Every per-layer colour is dark enough."""
    from matplotlib.colors import to_rgb

    for c in cha.LAYER_COLORS + chb.LAYER_COLORS:
        r, g, b = to_rgb(c)
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.75  # relative luminance; viridis' end, #FDE725, is 0.87


def test_a_bias_of_minus_2_leaves_almost_every_image_with_an_all_zero_layer_4(data):
    """04a, Experiment 4 (cell after the b = -2 run): with 99.5 / 99.8 / 99.9 % of the (image, unit) pairs of
    layers 2 to 4 silent, an image activates on average fewer than one of the 64 units of each (0.3 in layer 2,
    below 0.1 in layer 4), so for at least nine images in ten layer 4 outputs only zeros (measured: 99.6 %); the
    network then gives all of them the same output, and no gradient from them gets below layer 4."""
    net = MLP(64, depth=4, width=64, activation="relu", bias=-2.0, seed=0)
    act = relu_activity(net, data.X_train)
    assert [round(100 * f, 1) for f in act.inactive_fraction] == [94.3, 99.5, 99.8, 99.9]
    active_per_image = [float((r["z"] > 0).sum(axis=1).mean()) for r in net.records]
    assert all(n < 1 for n in active_per_image[1:])
    assert round(active_per_image[1], 1) == 0.3 and active_per_image[3] < 0.1
    assert round(64 * 0.005, 1) == 0.3
    zero_top = ~(net.records[3]["z"] > 0).any(axis=1)
    assert zero_top.mean() > 0.9
    logits = net.forward(data.X_train[zero_top], training=False)
    np.testing.assert_array_equal(logits, np.broadcast_to(logits[0], logits.shape))  # the same answer for all


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_elu_escapes_a_bias_of_minus_2_by_its_outputs_not_its_slope(seed):
    """04b, Experiment 11 ('Why ELU escapes'): at the start of the 4-layer network with every bias at -2, ELU's
    slope at z = -2 (0.135) is below the fixed slope 0.229, but its outputs (about -0.7 to -0.8, against about
    -0.45) keep the next layers' z spread wider (1.0-1.2 against down to 0.64), more units above 0 (2.1-5.3 %
    against 1.09 % and then almost none), and more than twice the gradient reaches layer 1 (0.088 against 0.038);
    the same picture with seeds 1 and 2."""
    fixed = chb.shifted_gradient("leaky_relu", bias=-2.0, depth=4, alpha=11 / 48, seed=seed)
    elu_ = chb.shifted_gradient("elu", bias=-2.0, depth=4, seed=seed)
    assert float(elu_grad(-2.0)) == pytest.approx(math.exp(-2.0)) and round(math.exp(-2.0), 3) == 0.135 < 11 / 48
    assert np.all(elu_.a_mean < fixed.a_mean - 0.2)
    assert np.all(elu_.z_std[1:] > fixed.z_std[1:] + 0.2)
    assert np.all(elu_.silent_fraction[1:] < fixed.silent_fraction[1:])
    assert elu_.at_first_layer > 2 * fixed.at_first_layer
    if seed == 0:  # the numbers the notebook prints and its text quotes
        assert [round(float(v), 2) for v in elu_.a_mean] == [-0.69, -0.75, -0.73, -0.81]
        assert [round(float(v), 2) for v in fixed.a_mean] == [-0.42, -0.46, -0.44, -0.48]
        assert [round(float(v), 2) for v in elu_.z_std[1:]] == [1.22, 1.17, 1.02] and round(fixed.z_std[3], 2) == 0.64
        assert [round(100 * (1 - float(v)), 1) for v in elu_.silent_fraction[1:]] == [4.9, 5.3, 2.1]
        assert round(100 * (1 - fixed.silent_fraction[1]), 2) == 1.09 and 1 - fixed.silent_fraction[2] < 0.001
        assert (round(elu_.at_first_layer, 3), round(fixed.at_first_layer, 3)) == (0.088, 0.038)


def test_a_third_sigmoid_layer_learns_at_lr_0_5_where_four_do_not(data):
    """04b, Experiment 11 (printed there): at lr 0.5 the network of the experiment with 3 sigmoid layers learns the
    digits in 200 steps (74.9 %); the 4 layers of the experiment stay at chance at that rate (10.2 %)."""
    three, four = (digits_run("sigmoid", depth=d, lr=0.5, data=data).test_accuracy for d in (3, 4))
    assert f"{three:.1%}" == "74.9%" and f"{four:.1%}" == "10.2%"


def test_the_relu_legend_entry_of_leaky_alpha_gradient_shows_its_triangles():
    """04b's figure 'leaky_alpha_gradient': ReLU is drawn as triangles on the floor, so its legend entry is a
    triangle, not the line-with-dots of the other slopes."""
    ax = chb.leaky_alpha_gradient(alphas=(0.0, 0.1), depth=6).axes[0]
    lines = {ln.get_gid(): ln for ln in ax.lines}
    handles, labels = ax.get_legend_handles_labels()
    assert labels[0].startswith("ReLU (alpha = 0): exactly 0") and handles[0] is lines["zero:0"]
    assert handles[0].get_marker() == "v" and handles[0].get_linestyle() == "None"
    assert lines["alpha:0"] not in handles and lines["alpha:0.1"] in handles
