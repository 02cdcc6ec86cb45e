"""Chapter 03 (weight initialization): every number the chapter states, its figures and its explorer.

notebooks/03_weight_initialization.ipynb prints what the package functions below compute; these
tests pin them to hand-derived values (formulas of Glorot & Bengio 2010 and He et al. 2015) and to
independent numpy computations.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import gradviz as gv  # noqa: E402
from gradviz import figures, stats, theory  # noqa: E402
from gradviz.chapters import ch03_initialization as ch  # noqa: E402
from gradviz.data import load_digits  # noqa: E402
from gradviz.network import MLP  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def zero_runs(digits):
    # the chapter's zero-init experiment (ch.ZERO_INIT), shortened
    return ch.compare_inits([("sigmoid", "zeros"), ("sigmoid", "glorot_uniform"), ("tanh", "zeros"), ("relu", "zeros")],
                            digits, hidden=(16,), lr=0.5, steps=60, record_every=30)


# ----------------------------------------------------------------------------- zero init: the symmetry problem
def test_zero_init_sigmoid_units_stay_exact_copies_but_learn(zero_runs):
    net = zero_runs.nets["sigmoid, zeros"]
    sym = ch.unit_symmetry(net)
    assert sym.all_copies
    assert sym.distinct_units.tolist() == [1]
    assert sym.column_difference.tolist() == [0.0] and sym.bias_difference.tolist() == [0.0]
    assert sym.outgoing_difference.tolist() == [0.0]
    W = net.blocks[0].dense.params["W"]
    assert sym.weight_max_abs[0] == np.abs(W).max() > 1e-3  # the copies did move: sigmoid(0) = 1/2 is not 0
    np.testing.assert_array_equal(W, np.repeat(W[:, :1], W.shape[1], axis=1))
    # ...so on every input every hidden unit outputs the same number
    out = net.forward(load_digits().X_test[:50], record=True)
    a = net.records[0]["a"]
    assert np.all(a == a[:, :1]) and np.isfinite(out).all()


def test_random_init_units_differ(zero_runs):
    sym = ch.unit_symmetry(zero_runs.nets["sigmoid, glorot_uniform"])
    assert sym.distinct_units.tolist() == [16]
    assert not sym.all_copies and sym.column_difference[0] > 0.1
    assert ch.unit_symmetry(zero_runs.nets["sigmoid, glorot_uniform"], atol=1e9).distinct_units.tolist() == [1]


@pytest.mark.parametrize("label", ["tanh, zeros", "relu, zeros"])
def test_zero_init_with_phi_of_zero_equal_zero_freezes_every_weight(zero_runs, digits, label):
    """tanh(0) = relu(0) = 0: every hidden activation is 0, the output weights get the gradient a^T dlogits = 0,
    and the hidden layers get their gradient through those zero output weights. Only the output biases learn,
    whatever the slope at 0 (tanh'(0) = 1, relu'(0) = 0 by convention)."""
    net = zero_runs.nets[label]
    for block in net.blocks:
        assert not block.dense.params["W"].any() and not block.dense.params["b"].any()
    assert not net.output.params["W"].any()
    assert net.output.params["b"].any()
    # the network predicts one class for every input: accuracy = that class's share of the test set
    pred = net.predict(digits.X_test)
    assert np.unique(pred).size == 1
    share = np.mean(digits.y_test == pred[0])
    assert zero_runs.histories[label].test_accuracy[-1] == pytest.approx(share)


def test_unit_symmetry_on_a_deeper_net_and_errors():
    net = MLP(8, hidden=(5, 3), activation="sigmoid", init="zeros", n_outputs=2)
    sym = ch.unit_symmetry(net)
    assert sym.width.tolist() == [5, 3] and sym.distinct_units.tolist() == [1, 1] and sym.all_copies
    assert "distinct" in sym.as_table() and len(sym.as_table().splitlines()) == 3
    net.blocks[1].dense.params["W"][0, 2] = 0.5
    sym = ch.unit_symmetry(net)
    assert sym.distinct_units.tolist() == [1, 2] and sym.column_difference[1] == 0.5
    assert sym.outgoing_difference[0] == 0.5  # row 0 of W^2 is unit 1's outgoing weights
    with pytest.raises(TypeError, match="net"):
        ch.unit_symmetry("net")
    with pytest.raises(ValueError, match="atol"):
        ch.unit_symmetry(net, atol=-1)


# ----------------------------------------------------------------------------- probes beside the theory
def test_init_experiment_matches_a_direct_probe_and_the_theory():
    e = ch.init_experiment("tanh", "glorot_uniform", depth=6, width=128, batch_size=256, seed=3)
    net = MLP(128, depth=6, width=128, activation="tanh", init="glorot_uniform", n_outputs=None, seed=3)
    ref = stats.probe(net, batch_size=256, seed=3)
    np.testing.assert_array_equal(e.measured.a_var, ref.a_var)
    np.testing.assert_array_equal(e.measured.da_var, ref.da_var)
    widths = [128] * 7
    p = theory.predict_variances(widths, "tanh", theory.init_weight_variances(widths, "glorot_uniform"))
    np.testing.assert_allclose(e.predicted.a_var, p.a_var)
    np.testing.assert_allclose(e.measured.a_var, e.predicted.a_var, rtol=0.15)
    np.testing.assert_allclose(e.measured.da_var, e.predicted.da_var, rtol=0.25)
    assert e.label == "tanh, glorot_uniform"
    assert len(e.as_table().splitlines()) == 7


def test_init_experiment_labels_and_kwargs():
    e = ch.init_experiment("relu", "normal", depth=2, width=16, batch_size=8, init_kwargs={"std": 1.0},
                           weight_scale=2.0)
    assert e.label == "relu, normal(std=1) x 2"
    assert e.predicted.weight_var[0] == pytest.approx(4.0)
    e = ch.init_experiment("leaky_relu", "he_normal", depth=2, width=16, batch_size=8, alpha=0.2)
    assert e.net.activation_params == {"alpha": 0.2}
    with pytest.raises(ValueError, match="depth"):
        ch.init_experiment("relu", "he_normal", depth=0)
    with pytest.raises(ValueError, match="init"):
        ch.init_experiment("relu", "he_normall")


def test_small_init_shrinks_by_n_sigma_squared_per_layer():
    """N(0, 0.01^2) weights, 256 inputs per unit: n Var(W) = 256 x 1e-4 = 0.0256 per layer, forward and back."""
    for act, factor in (("tanh", 0.0256), ("relu", 0.0128)):
        e = ch.init_experiment(act, "normal", depth=10, width=256)
        np.testing.assert_allclose(e.predicted.a_var[1:] / e.predicted.a_var[:-1], factor, rtol=0.02)
        np.testing.assert_allclose(e.predicted.grad_gain[1:], factor, rtol=0.02)  # layer 1: z has Var 0.0256
        measured = e.measured.a_var[-1] / e.measured.a_var[-2]
        assert measured == pytest.approx(factor, rel=0.2)
        assert e.measured.da_var[0] / e.measured.da_var[-1] == pytest.approx(factor ** 9, rel=0.5, abs=0)


def test_large_init_saturation_and_overflow_as_the_chapter_states():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex = ch.large_init_experiments()
    tanh = ex["tanh"]
    # saturated: |z| > z* = artanh(sqrt(0.95)); z ~ N(0, q) with q the predicted variance: P = erfc(z* / sqrt(2q))
    z_star = theory.saturation_onset("tanh")
    expected = np.array([math.erfc(z_star / math.sqrt(2 * q)) for q in tanh.predicted.z_var])
    np.testing.assert_allclose(tanh.measured.saturated_fraction, expected, atol=0.02)
    assert tanh.measured.saturated_fraction.min() > 0.85
    # the gradient grows on its way down although most units are saturated: n Var(W) E[tanh'^2] > 1
    assert np.all(tanh.predicted.grad_gain > 5)
    assert tanh.measured.da_var[0] > 1e7 * tanh.measured.da_var[-1]
    assert np.all(ex["sigmoid"].measured.saturated_fraction > 0.5)
    relu = ex["relu"]
    k = relu.measured.first_nonfinite
    assert relu.measured.overflow["forward"] == k
    assert 30 <= k <= 40
    # overflow where the predicted rms of a, times about 4 (the largest of 64 x 256 normal draws is ~4.5 rms),
    # passes float32's largest number
    big = float(np.finfo(np.float32).max)
    rms = np.sqrt(relu.predicted.a_second_moment)
    k_pred = int(np.argmax(4 * rms > big)) + 1
    assert abs(k - k_pred) <= 1
    assert np.all(np.isnan(relu.measured.a_var[k - 1:])) and np.all(np.isfinite(relu.measured.a_var[:k - 1]))


@pytest.mark.parametrize("act, init", [("tanh", "glorot_normal"), ("relu", "he_normal"), ("selu", "lecun_normal")])
def test_recommended_pairs_keep_variance_within_a_factor_over_20_layers(act, init):
    e = ch.init_experiment(act, init, depth=20, width=256)
    a, da = e.measured.a_var, e.measured.da_var
    if act == "tanh":  # Glorot's linear-regime derivation: a slow, not geometric, decline
        assert 0.02 < a[-1] / a[0] < 0.2 and 0.02 < da[0] / da[-1] < 0.2
    else:
        assert 0.5 < a[-1] / a[0] < 2 and 0.2 < da[0] / da[-1] < 5
    # one network of width 256 fluctuates around the infinite-width prediction, more so for ReLU (whose
    # per-layer log-variance performs a random walk at finite width)
    np.testing.assert_allclose(a, e.predicted.a_var, rtol=0.5 if act == "relu" else 0.3)
    np.testing.assert_allclose(da, e.predicted.da_var, rtol=0.5 if act == "relu" else 0.35)


def test_glorot_equals_lecun_when_fan_in_equals_fan_out():
    a = MLP(32, depth=3, width=32, init="glorot_normal", n_outputs=None, seed=1)
    b = MLP(32, depth=3, width=32, init="lecun_normal", n_outputs=None, seed=1)
    for x, y in zip(a.blocks, b.blocks):
        np.testing.assert_array_equal(x.dense.params["W"], y.dense.params["W"])
    assert gv.init.weight_variance("glorot_normal", 784, 256) != gv.init.weight_variance("lecun_normal", 784, 256)


def test_naive_uniform_init_has_n_var_one_third():
    # Glorot & Bengio (2010), eq. 1: U[-1/sqrt(n), 1/sqrt(n)] has variance 1/(3n)
    for n in (64, 256, 784):
        assert n * gv.init.weight_variance("uniform", n, 10) == pytest.approx(1 / 3)
    e = ch.histogram_experiments()
    naive, glorot = e["uniform"], e["glorot_uniform"]
    assert np.all(np.diff(naive.measured.a_var) < 0) and np.all(np.diff(naive.measured.da_var) > 0)
    assert naive.measured.a_var[-1] < 0.02 * naive.measured.a_var[0]
    assert glorot.measured.a_var[-1] > 0.25 * glorot.measured.a_var[0]


# ----------------------------------------------------------------------------- the numbers the chapter states
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_weight_initialization.ipynb"


def _cell_source(cell_id):
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (cell,) = [c for c in cells if c.get("id") == cell_id]
    return "".join(cell["source"])


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_numpy_probe_cell_agrees_with_the_package(activation):
    """Experiment 2 shows the probe in plain numpy and prints the package's numbers beside it: they agree
    (for the cell as shipped, and for the ReLU edit its comment suggests)."""
    ns = {"np": np}
    src = _cell_source("b7e1c0a1")
    tanh_line = "phi, dphi = np.tanh, lambda z: 1 - np.tanh(z) ** 2"
    assert tanh_line in src and "lambda z: np.maximum(z, 0);  dphi = lambda z: (z > 0) * 1.0" in src
    if activation == "relu":
        src = src.replace(tanh_line, "phi, dphi = lambda z: np.maximum(z, 0), lambda z: (z > 0) * 1.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(src, "numpy-probe-cell", "exec"), ns)
    e = ch.init_experiment(activation, "normal", depth=ns["depth"], width=ns["n"], batch_size=ns["batch"],
                           init_kwargs={"std": ns["std"]})
    np.testing.assert_allclose(ns["var_a"], e.measured.a_var, rtol=1e-9)
    np.testing.assert_allclose(ns["var_da"], e.measured.da_var, rtol=1e-9)


def test_experiment_2_orders_of_magnitude_and_level_weight_gradients():
    small = {a: ch.init_experiment(a, "normal", depth=10, width=256) for a in ("tanh", "relu")}
    for act, (lo, hi) in (("tanh", (13.5, 15.0)), ("relu", (16.5, 17.9))):
        m = small[act].measured
        assert lo < np.log10(m.a_var[0] / m.a_var[-1]) < hi and lo < np.log10(m.da_var[-1] / m.da_var[0]) < hi
        g = small[act].gradient_sizes()
        # level across layers: the entering activations and the arriving gradient shrink at the same rate
        assert g["dW_norm"].max() / g["dW_norm"].min() < 1.3
        # |dL/dW| is roughly sqrt(batch) * n = 4096 times std(a^(l-1)) * std(dL/dz^l)
        np.testing.assert_allclose(g["dW_norm"] / (g["a_in_std"] * g["dz_std"]), 4096, rtol=0.35)
    tanh_dw = small["tanh"].measured.grad_norm
    assert np.all((2e-4 < tanh_dw) & (tanh_dw < 4e-4))  # "about 3e-4 in every layer"
    ref = ch.init_experiment("tanh", "glorot_normal", depth=10, width=256).measured.grad_norm
    assert np.all((700 < ref) & (ref < 1400))  # "about 1000 with Glorot's init"
    assert "std of dL/dz^l" in small["tanh"].gradient_table([1, 10])
    assert len(small["tanh"].gradient_table().splitlines()) == 11


def test_experiment_3_numbers_as_the_chapter_states():
    ex = ch.large_init_experiments()
    t, s, r = ex["tanh"], ex["sigmoid"], ex["relu"]
    assert np.sqrt(t.measured.z_var[1]) == pytest.approx(15.7, abs=0.3)
    assert np.sqrt(s.measured.z_var[1]) == pytest.approx(11.1, abs=0.3)
    assert np.all((0.86 < t.measured.saturated_fraction) & (t.measured.saturated_fraction < 0.92))  # about 89 %
    assert np.all((0.6 < s.measured.saturated_fraction) & (s.measured.saturated_fraction < 0.8))  # about 70 %
    assert t.predicted.grad_gain[-1] == pytest.approx(8.7, abs=0.05)
    assert s.predicted.grad_gain[-1] == pytest.approx(1.55, abs=0.01)
    k = r.measured.first_nonfinite
    assert k == 37
    peak = ch.largest_abs(r.net)
    assert r.measured.a_std[k - 2] == pytest.approx(3.7e37, rel=0.03)
    assert peak[k - 2] == pytest.approx(3.1e38, rel=0.03) and peak[k - 2] < float(np.finfo(np.float32).max)
    assert np.all(np.isnan(peak[k - 1:]))
    # weight gradients: tanh's follow dL/dz (bounded activations), ReLU's stay level
    tg = t.gradient_sizes()
    assert np.all((0.95 < tg["a_in_std"]) & (tg["a_in_std"] < 1.01))
    assert t.measured.grad_norm[0] / t.measured.grad_norm[-1] == pytest.approx(17000, rel=0.1)
    assert np.all(np.diff(t.measured.grad_norm) < 0) and np.all(np.diff(s.measured.grad_norm) < 0)
    # "the saturated sigmoid network ... leans the same way but far less: |dL/dW^1| is 9.66 times |dL/dW^10|"
    # (its outputs bounded: standard deviation about 0.46 from layer 2 up)
    assert f"{s.measured.grad_norm[0] / s.measured.grad_norm[-1]:.3g}" == "9.66"
    assert np.all(np.abs(s.gradient_sizes()["a_in_std"][1:] - 0.46) < 0.015)
    relu64 = ch.init_experiment("relu", "normal", depth=10, width=256, init_kwargs={"std": 1.0})
    g = relu64.measured.grad_norm
    assert g.max() / g.min() < 1.3 and np.all((6e12 < g) & (g < 1e13))  # about 8e12 at every layer
    a_in = relu64.gradient_sizes()["a_in_std"]
    np.testing.assert_allclose(a_in[2:] / a_in[1:-1], np.sqrt(128), rtol=0.15)  # about 11 per layer
    W = np.linalg.norm(relu64.net.blocks[0].dense.params["W"])
    assert 1e10 < g[0] / W < 1e11  # "some 1e10 times larger than the weights"


def test_experiment_4_and_5_numbers_as_the_chapter_states():
    grid = ch.theory_grid()
    m = grid[("glorot_normal", "relu")].measured
    assert 2.0 ** -19 == pytest.approx(1.9e-6, rel=0.01)
    assert m.a_var[-1] / m.a_var[0] == pytest.approx(1.8e-6, rel=0.05)
    assert m.da_var[0] / m.da_var[-1] == pytest.approx(1.7e-6, rel=0.05)
    m = grid[("he_normal", "tanh")].measured
    assert m.a_var[-1] / m.a_var[0] == pytest.approx(0.6, abs=0.03)
    assert m.da_var[0] / m.da_var[-1] == pytest.approx(4.3, abs=0.3)
    m = grid[("glorot_normal", "selu")].measured
    assert m.da_var[0] / m.da_var[-1] == pytest.approx(3.5, abs=0.1)
    m = grid[("he_normal", "selu")].measured
    assert m.a_var[-1] / m.a_var[0] == pytest.approx(35, rel=0.05)
    assert m.da_var[0] / m.da_var[-1] == pytest.approx(300, rel=0.1)
    naive = ch.histogram_experiments()["uniform"].measured
    np.testing.assert_allclose(np.sqrt(naive.da_var)[::-1], [1.0, 0.58, 0.33, 0.18, 0.10], atol=0.01)
    ratios = naive.a_std[1:] / naive.a_std[:-1]
    assert np.all(ratios < 1 / np.sqrt(3))  # the activations' shrink a little faster than 0.58 per layer
    # Glorot's widths change much less: activations 0.627 -> 0.319, gradient 1.0 -> 0.54 (naive: 0.459 -> 0.046)
    glorot = ch.histogram_experiments()["glorot_uniform"].measured
    assert glorot.a_std[0] == pytest.approx(0.627, abs=0.005) and glorot.a_std[-1] == pytest.approx(0.319, abs=0.005)
    assert naive.a_std[0] == pytest.approx(0.459, abs=0.005) and naive.a_std[-1] == pytest.approx(0.046, abs=0.005)
    np.testing.assert_allclose(np.sqrt(glorot.da_var)[[-1, 0]], [1.0, 0.54], atol=0.01)


def test_tanh_with_he_init_settles_at_a_fixed_point():
    # "the activation variance ... settles at about 0.31, 0.6 of layer 1's (0.311 at layer 8, 0.309 at 20 and 40)"
    deep = gv.theory.predict_variances([256] * 41, "tanh", 2 / 256)
    np.testing.assert_allclose(deep.a_var[[7, 19, 39]], [0.311, 0.309, 0.309], atol=0.0005)
    assert deep.a_var[39] / deep.a_var[0] == pytest.approx(0.6, abs=0.01)
    assert abs(deep.a_var[39] - deep.a_var[19]) < 1e-4  # flat: a fixed point, not a slow decline
    assert deep.grad_gain[-1] == pytest.approx(1.11, abs=0.005)  # "the backward factor ... is 1.11, above 1"


def test_zero_init_learns_one_feature_to_about_a_third(digits):
    runs = ch.zero_init_runs()
    acc = runs.histories["sigmoid, zeros"].test_accuracy[-1]
    assert 0.25 < acc < 0.42
    # "the largest reaches 0.329": the copies moved away from zero
    assert ch.unit_symmetry(runs.nets["sigmoid, zeros"]).weight_max_abs[0] == pytest.approx(0.329, abs=0.0005)


# ----------------------------------------------------------------------------- training comparison
def test_compare_inits_same_minibatches_and_errors(digits):
    r = ch.compare_inits([("relu", "he_normal"), ("relu", "glorot_uniform")], digits, hidden=(8, 8), steps=5,
                         record_every=5)
    assert isinstance(r, ch.InitComparison)
    assert list(r.histories) == ["relu, he_normal", "relu, glorot_uniform"]
    assert all(h.steps_run == 5 for h in r.histories.values())
    assert len(r.summary().splitlines()) == 2 and "trained 5 steps" in r.summary()
    assert r.nets["relu, he_normal"].hidden == (8, 8)
    with pytest.raises(ValueError, match="pairs"):
        ch.compare_inits(["relu"], digits)
    with pytest.raises(ValueError, match="twice"):
        ch.compare_inits([("relu", "he_normal")] * 2, digits, steps=1)
    with pytest.raises(ValueError, match="at least one"):
        ch.compare_inits([], digits)


def test_chapter_training_comparison_orders_as_stated():
    r = ch.training_runs()
    h = r.histories
    acc = {k: v.test_accuracy[-1] for k, v in h.items()}
    assert acc["tanh, uniform"] < 0.3 < 0.85 < acc["tanh, glorot_uniform"]
    assert acc["relu, glorot_uniform"] + 0.05 < acc["relu, he_normal"]
    assert r.nets["tanh, uniform"].depth == 10
    # the numbers the chapter states (rounded), with bands wide enough for any BLAS
    assert 0.88 < acc["relu, he_normal"] < 0.97 and 0.88 < acc["tanh, glorot_uniform"] < 0.97  # about 93 %
    assert 0.65 < acc["relu, glorot_uniform"] < 0.85  # "76 %" in the stored run
    first = {k: v.test_accuracy[1] for k, v in h.items()}
    assert h["tanh, glorot_uniform"].record_steps[1] == 40
    assert 0.7 < first["tanh, glorot_uniform"] < 0.9 and first["tanh, glorot_uniform"] == max(first.values())
    last_loss = {k: v.loss[-20:].mean() for k, v in h.items()}
    assert min(last_loss, key=last_loss.get) == "relu, he_normal"
    assert last_loss["tanh, uniform"] == pytest.approx(math.log(10), abs=0.05)
    # weight gradients of the first step: level within each network, 100x smaller for the naive init
    g0 = {k: v.grad_norm[0] for k, v in h.items()}
    assert np.all((0.003 < g0["tanh, uniform"]) & (g0["tanh, uniform"] < 0.008))  # about 0.005
    assert np.all((0.4 < g0["tanh, glorot_uniform"]) & (g0["tanh, glorot_uniform"] < 0.7))  # about 0.5
    assert np.all((0.03 < g0["relu, glorot_uniform"]) & (g0["relu, glorot_uniform"] < 0.06))  # about 0.04
    assert np.all((3 < g0["relu, he_normal"]) & (g0["relu, he_normal"] < 9.5))  # 3 to 9
    widths = [64] * 11
    p = theory.predict_variances(widths, "tanh", theory.init_weight_variances(widths, "uniform"))
    assert p.da_var[0] / p.da_var[-1] == pytest.approx(4e-5, rel=0.1)


# ----------------------------------------------------------------------------- exercises
def test_exercise_answers():
    ex = gv.exercises.EXERCISES
    assert ex["03.1"].answer() == pytest.approx(math.sqrt(6 / 1040), rel=1e-12, abs=0)
    assert ex["03.2"].answer() == pytest.approx(2.0, rel=1e-12)
    assert ex["03.3"].answer() == pytest.approx(0.5, rel=1e-12, abs=0)
    assert gv.exercises.check("03.1", 0.0760)
    assert not gv.exercises.check("03.1", math.sqrt(2 / 1040))
    assert gv.exercises.check("03.2", 2) and not gv.exercises.check("03.2", 1)
    assert gv.exercises.check("03.3", 0.5) and not gv.exercises.check("03.3", 1)
    for k in ("03.1", "03.2", "03.3", "03.4"):
        gv.exercises.solution(k)


def test_code_exercise_he_std(capsys):
    assert gv.exercises.EXERCISES["03.4"].wants_code
    assert gv.exercises.check("03.4", lambda fan_in: math.sqrt(2 / fan_in))
    assert gv.exercises.check("03.4", lambda fan_in: np.sqrt(gv.init.weight_variance("he_normal", fan_in, 10)))
    assert not gv.exercises.check("03.4", lambda fan_in: math.sqrt(1 / fan_in))  # LeCun's, not He's
    assert not gv.exercises.check("03.4", lambda fan_in: 2 / fan_in)  # the variance, not the std
    assert not gv.exercises.check("03.4", None)
    out = capsys.readouterr().out
    assert "not answered yet" in out and "Hint" in out
    assert ch.he_std(256) == pytest.approx(0.0883883, rel=1e-6)


# ----------------------------------------------------------------------------- figures
def _image(ax, gid):
    (im,) = [i for i in ax.images if i.get_gid() == gid]
    return im


def test_zero_init_figure_shows_the_trained_weights(zero_runs):
    keep = ("sigmoid, zeros", "sigmoid, glorot_uniform")
    two = ch.InitComparison(nets={k: zero_runs.nets[k] for k in keep},
                            histories={k: zero_runs.histories[k] for k in keep})
    fig = ch.zero_init_weights(two)
    mats = [i for ax in fig.axes for i in ax.images if i.get_gid() == "W1"]
    assert len(mats) == 2
    np.testing.assert_array_equal(mats[0].get_array(), two.nets["sigmoid, zeros"].blocks[0].dense.params["W"])
    tiles = [i for ax in fig.axes for i in ax.images if i.get_gid() == "tiles"]
    assert len(tiles) == 2
    W = two.nets["sigmoid, zeros"].blocks[0].dense.params["W"]
    t = np.ma.filled(tiles[0].get_array(), np.nan)
    assert t.shape == (18, 38)  # 2 rows x 4 columns of 8x8 tiles, 2 blank pixels between them
    np.testing.assert_array_equal(t[:8, :8], W[:, 0].reshape(8, 8))
    np.testing.assert_array_equal(t[10:18, 30:38], W[:, 7].reshape(8, 8))
    assert np.isnan(t[8:10]).all()
    small = ch.unit_tiles(np.arange(12.0).reshape(4, 3), n_units=3, ncols=2, side=2, gap=1)
    assert small.shape == (5, 5)
    np.testing.assert_array_equal(small[:2, :2], [[0, 3], [6, 9]])  # unit 1 = column 0
    np.testing.assert_array_equal(small[3:, :2], [[2, 5], [8, 11]])  # unit 3 starts the second row
    assert np.isnan(small[3:, 3:]).all() and np.isnan(small[2]).all()
    with pytest.raises(ValueError, match="shape"):
        ch.unit_tiles(np.zeros((5, 2)), side=2)
    texts = [sf._suptitle.get_text() for sf in fig.subfigs]
    assert "all 16 columns identical (max difference 0)" in texts[0] and "zero init" in texts[0]
    assert "16 different units out of 16" in texts[1]


def test_figures_are_registered_under_their_names_for_chapter_03():
    for name in ("zero_init_weights", "init_too_small", "init_too_large", "init_theory_grid",
                 "histograms_naive_vs_glorot", "init_training_curves"):
        spec = figures.FIGURES[name]
        assert spec.func is getattr(ch, name) and spec.chapter == 3


def test_variance_figures_draw_measured_and_predicted():
    small = [ch.init_experiment(a, "normal", depth=4, width=32, batch_size=32) for a in ("tanh", "relu")]
    fig = ch.init_too_small(small)
    ax = fig.axes[0]
    (m,) = [ln for ln in ax.lines if ln.get_gid() == "measured:a"]
    np.testing.assert_allclose(m.get_ydata(), small[0].measured.a_var)
    grid = {(i, a): ch.init_experiment(a, i, depth=3, width=16, batch_size=16)
            for i in ("glorot_normal", "he_normal") for a in ("tanh", "relu")}
    fig = ch.init_theory_grid(grid)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum("recommends" in t for t in titles) == 2 and sum("not the recommended" in t for t in titles) == 2
    big = {"sigmoid": ch.init_experiment("sigmoid", "normal", depth=3, width=16, init_kwargs={"std": 1.0}),
           "tanh": ch.init_experiment("tanh", "normal", depth=3, width=16, init_kwargs={"std": 1.0}),
           "relu": ch.init_experiment("relu", "normal", depth=40, width=64, dtype=np.float32, batch_size=16,
                                      init_kwargs={"std": 3.0})}
    assert big["relu"].measured.first_nonfinite is not None
    fig = ch.init_too_large(big)
    a3 = fig.axes[2]
    assert [t for t in a3.texts if t.get_gid() == "overflow"]
    assert not [ln for ln in a3.lines if ln.get_gid() == "measured:da"]
    # the float32 panel draws standard deviations (taken in float64) beside float32's largest number
    (std_line,) = [ln for ln in a3.lines if ln.get_gid() == "measured:a"]
    k = big["relu"].measured.first_nonfinite
    np.testing.assert_allclose(std_line.get_ydata()[:k - 1], big["relu"].measured.a_std[:k - 1])
    (limit,) = [ln for ln in a3.lines if ln.get_gid() == "dtype_max"]
    assert limit.get_ydata()[0] == pytest.approx(float(np.finfo(np.float32).max))
    assert "float64" in a3.get_title() and "float32" in a3.get_title()
    (peak,) = [ln for ln in a3.lines if ln.get_gid() == "largest_abs"]
    assert np.nanmax(peak.get_ydata()) < float(np.finfo(np.float32).max)
    # nothing, the prediction included, is drawn inside the hatched overflow band
    (band,) = [p for p in a3.patches if p.get_gid() == "overflow"]
    lo, hi = band.get_x(), band.get_x() + band.get_width()
    for ln in a3.lines:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        assert ln.get_gid() == "overflow" or not np.any((x > lo) & (x < hi) & np.isfinite(y)), ln.get_gid()
    (pred,) = [ln for ln in a3.lines if ln.get_gid() == "predicted:a"]
    assert np.isfinite(pred.get_ydata()[k - 2]) and np.isnan(pred.get_ydata()[k - 1:]).all()
    (sat,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "saturated:tanh"]
    np.testing.assert_allclose(sat.get_ydata(), 100 * big["tanh"].measured.saturated_fraction)
    hist = {k: ch.init_experiment("tanh", k, depth=3, width=16, batch_size=32) for k in ("uniform", "glorot_uniform")}
    fig = ch.histograms_naive_vs_glorot(hist)
    assert "naive init" in fig.axes[0].get_title()
    # three layers: three labelled colours in a legend, no continuous colour bar
    assert not [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["1 (next to the input)", "2", "3"]


def test_training_figure_groups_runs_by_activation(digits):
    r = ch.compare_inits([("tanh", "uniform"), ("tanh", "glorot_uniform"), ("relu", "he_normal")], digits,
                         hidden=(8,), steps=4, record_every=2)
    fig = ch.init_training_curves(r)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 4
    gids = {ln.get_gid() for ln in axes[1].lines}
    assert "acc:tanh, naive U[-1/sqrt(n), 1/sqrt(n)]" in gids and "acc:tanh, Glorot uniform" in gids
    # one colour per initializer in every row: Glorot is the same colour in the tanh and the relu row
    r2 = ch.compare_inits([("tanh", "glorot_uniform"), ("relu", "glorot_uniform"), ("relu", "he_normal")], digits,
                          hidden=(8,), steps=4, record_every=2)
    fig2 = ch.init_training_curves(r2)
    color = {ln.get_gid(): ln.get_color() for ax in fig2.axes for ln in ax.lines if ln.get_gid()}
    assert color["acc:tanh, Glorot uniform"] == color["acc:relu, Glorot uniform"] != color["acc:relu, He normal"]


# ----------------------------------------------------------------------------- the explorer
@pytest.fixture
def init_explorer():
    ex = ch.InitializationExplorer(canvas="none", depth=6, width=32, batch_size=32)
    ex.figure.canvas.draw()
    return ex


def _line(ax, gid):
    (ln,) = [x for x in ax.lines if x.get_gid() == gid]
    return ln


def test_explorer_preset_and_controls(init_explorer):
    ex = init_explorer
    assert "batch_norm" not in ex.controls
    assert ex.values["activation"] == "tanh" and ex.values["init"] == "uniform"
    assert ch.InitializationExplorer(canvas="none", depth=3, width=8).values["depth"] == 3
    assert ch.InitializationExplorer.preset["depth"] == 20
    assert "1 / (3 n_in)" in ex.readout.value and "n Var(W) = 0.333" in ex.readout.value
    with pytest.raises(TypeError, match="batch_norm"):
        ex.update(batch_norm="before")


def test_explorer_x_axes_stay_at_the_slider_range(init_explorer):
    # a depth step draws longer or shorter curves on the same x axes (1..max_depth): it redraws the curves,
    # not every tick label of both panels
    ex = init_explorer
    for depth in (6, 7, 1, 50):
        ex.update(depth=depth)
        assert ex.ax_var.get_xlim() == ex.ax_frac.get_xlim() == (0.5, ex.max_depth + 0.5)
        assert len(_line(ex.ax_var, "measured:a").get_xdata()) == depth
        assert len(ex.lines["fraction:saturated"].get_xdata()) == depth
    assert ch.InitializationExplorer(canvas="none", depth=3, width=8, max_depth=12).ax_var.get_xlim() == (0.5, 12.5)


def test_explorer_drafts_a_deep_wide_network_from_eight_examples(init_explorer):
    ex = init_explorer
    ex._flops = 2e10
    values = dict(ex.values, depth=50, width=512, batch_size=512)
    n = ex.draft_examples(values)
    assert n == ex.min_draft_examples == 8
    assert ex.refining_text(values, n) == "estimate from 8 of 512 examples: refining ..."
    stats, prediction, note = ex.answer(values, examples=n)
    assert stats.n_examples == 8 and len(stats.a_var) == 50 and np.isfinite(stats.a_var).all()


def test_explorer_judges_a_learners_first_change_by_the_probe_that_drew_its_first_figure():
    """The parent's guess (6e10 FLOP/s) answered the presses at the defaults whole, slow in the browser beside
    Chromium; the speed of the constructor's own probe (whole batch, one thread) decides instead."""
    ex = ch.InitializationExplorer(canvas="none")
    d, n, b = (ex.values[k] for k in ("depth", "width", "batch_size"))
    rate = ex.probe_flop(d, n, b) / ex._first_probe
    assert ex._flops == pytest.approx(min(rate, 6e10))
    deeper = dict(ex.values, depth=d + 1)
    whole = ex.probe_flop(d + 1, n, b) / ex._flops  # seconds the whole batch should take
    assert (ex.draft_examples(deeper) is not None) == (whole > ex.full_seconds)
    ex._flops = 1.5e10  # ~a probe of 20 x 256 x 256 on one thread (80-90 ms): the first press is a draft
    assert ex.draft_examples(deeper) == 32
    assert ch.InitializationExplorer(canvas="none", depth=2, width=8)._flops == 6e10  # too small to time: the guess


def test_explorer_every_control_changes_the_figure(init_explorer):
    ex = init_explorer
    ax = ex.ax_var

    def y(gid):
        return np.array(_line(ax, gid).get_ydata(), dtype=float)

    before = y("measured:a").copy()
    ex.controls["init"].value = "glorot_uniform"
    assert y("measured:a")[-1] > 10 * before[-1]
    ex.controls["activation"].value = "relu"
    f, b = ex.factors()
    np.testing.assert_allclose(f[1:], 0.5, rtol=1e-9)  # Glorot, fan_in = fan_out, ReLU: halves (exercise 03.3)
    np.testing.assert_allclose(b, 0.5, rtol=1e-9)
    ex.controls["init"].value = "he_normal"
    f, b = ex.factors()
    np.testing.assert_allclose(f[1:], 1.0, rtol=1e-9)
    np.testing.assert_allclose(b, 1.0, rtol=1e-9)
    assert "n Var(W) = 2" in ex.readout.value
    ex.controls["depth"].value = 9
    assert len(_line(ax, "predicted:a").get_xdata()) == 9
    ex.controls["width"].value = 64
    assert ex.prediction.widths[0] == 64
    w1 = ex.stats.a_var.copy()
    ex.controls["weight_scale"].value = 2.0
    assert np.all(ex.stats.a_var > 2 * w1)
    assert "x 2^2" in ex.readout.value
    s0 = ex.stats.a_var.copy()
    ex.controls["seed"].value = 5
    assert not np.array_equal(ex.stats.a_var, s0) and np.isfinite(ex.stats.a_var).all()
    ex.controls["batch_size"].value = 64
    assert ex.stats is not None and ex.values["batch_size"] == 64
    ex.figure.canvas.draw()


def test_explorer_sends_its_readout_once_per_answer(init_explorer):
    # the parent's one-line readout, sent and then replaced by the three lines of the initializer, made the
    # browser lay the notebook out twice per frame
    ex = init_explorer
    sent = []
    ex.readout._send = lambda msg, buffers=None: sent.append(msg["state"])
    ex.update(depth=7)
    assert len(sent) == 1 and sent[0]["value"] == ex.readout.value
    assert sent[0]["value"].startswith("uniform: Var(W) = 1 / (3 n_in)") and "at layer 7 =" in sent[0]["value"]


def test_explorer_zero_and_overflow_summaries(init_explorer):
    ex = init_explorer
    ex.update(init="zeros", activation="sigmoid")
    s = ex.summary()
    assert "copies" in s and "symmetry" in s
    ex.update(init="he_normal", activation="relu", weight_scale=10.0, depth=45, width=64)
    s = ex.summary()
    assert ex.stats.first_nonfinite is not None and f"overflow at hidden layer {ex.stats.first_nonfinite}" in s
    assert [t for t in ex.ax_var.texts if t.get_gid() == "overflow"]
    ex.figure.canvas.draw()


def test_init_formula():
    assert ch.init_formula("xavier_uniform") == "2 / (n_in + n_out)"
    assert ch.init_formula("kaiming_normal") == "2 / n_in"
    assert ch.init_formula("lecun_normal") == "1 / n_in"
    with pytest.raises(ValueError, match="init"):
        ch.init_formula("nope")
