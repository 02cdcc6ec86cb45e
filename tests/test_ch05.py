"""Chapter 05 (SELU and self-normalizing networks): every number the chapter states, and its explorer.

The functions below (gradviz.chapters.ch05_selu and gradviz.theory) compute what
notebooks/05_selu_self_normalization.ipynb prints; these tests pin them to values derived by hand
(closed-form derivatives of the moment map, the alpha-dropout algebra) and to independent numpy computations.
"""

import math

import numpy as np
import pytest

import gradviz as gv
from gradviz import theory as T
from gradviz.activations import SELU_ALPHA, SELU_SCALE, selu
from gradviz.chapters import ch05_selu as ch
from gradviz.layers import AlphaDropout
from gradviz.network import MLP

from frontend import blits_as_full_draws

LAM, ALPHA = SELU_SCALE, SELU_ALPHA


def _Phi(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


# ----------------------------------------------------------------------------- SELU itself
def test_selu_constants_and_saturation_value():
    assert -LAM * ALPHA == pytest.approx(-1.7580993408473766, rel=1e-15, abs=0)
    assert float(selu(np.array([-800.0]))[0]) == -LAM * ALPHA  # exp(-800) underflows: exactly the limit
    assert float(selu(np.array([2.0]))[0]) == pytest.approx(2 * LAM)
    # the slope just left of 0 is lambda * alpha, right of 0 it is lambda
    assert float(gv.activations.selu_grad(np.array([-1e-12]))[0]) == pytest.approx(LAM * ALPHA, rel=1e-9)
    assert float(gv.activations.selu_grad(np.array([1e-12]))[0]) == pytest.approx(LAM)


def test_selu_constants_solved_from_the_fixed_point_reproduce_eq_14():
    a, s = T.selu_constants()
    assert a == pytest.approx(SELU_ALPHA, abs=1e-12)
    assert s == pytest.approx(SELU_SCALE, abs=1e-12)
    # another target: the returned constants make it a fixed point
    a2, s2 = T.selu_constants(0.0, 2.0, start=(1.5, 1.0))
    m, v = T.selu_fixed_point_map(0.0, 2.0, 0.0, 1.0, alpha=a2, scale=s2)
    assert abs(m) < 1e-12 and v == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="var"):
        T.selu_constants(0.0, -1.0)


def test_selu_of_a_standard_normal_has_mean_0_and_variance_1():
    m, v = T.selu_fixed_point_map(0.0, 1.0)
    assert abs(m) < 1e-14 and v == pytest.approx(1.0, abs=1e-13)
    z = np.random.default_rng(3).standard_normal(400_000)
    a = selu(z)
    assert abs(a.mean()) < 5 * a.std() / math.sqrt(z.size)
    assert a.var() == pytest.approx(1.0, abs=0.01)


# ----------------------------------------------------------------------------- the moment map
def test_jacobian_at_the_fixed_point_matches_the_closed_form_derivatives():
    """d/dq E[f(z)], z ~ N(0, q), is E[f''(z)] / 2 (heat equation), with a delta where f' jumps.

    At q = 1: d mu~/d nu = (lam alpha e^{1/2} Phi(-1) + (lam - lam alpha) / sqrt(2 pi)) / 2 and
    d nu~/d nu = lam^2 / 2 + lam^2 alpha^2 (2 e^2 Phi(-2) - e^{1/2} Phi(-1)); with omega = 0 nothing depends on mu.
    """
    J = T.selu_map_jacobian()
    dmu = 0.5 * (LAM * ALPHA * math.exp(0.5) * _Phi(-1) + (LAM - LAM * ALPHA) / math.sqrt(2 * math.pi))
    dnu = LAM**2 / 2 + LAM**2 * ALPHA**2 * (2 * math.exp(2) * _Phi(-2) - math.exp(0.5) * _Phi(-1))
    assert J[0, 0] == 0.0 and J[1, 0] == 0.0  # omega = 0: the input mean is forgotten
    assert J[0, 1] == pytest.approx(dmu, abs=1e-8)
    assert J[1, 1] == pytest.approx(dnu, abs=1e-8)
    # Klambauer et al. (2017), sec. 2: spectral norm 0.7877
    assert np.linalg.norm(J, 2) == pytest.approx(0.7877, abs=5e-5)
    assert math.hypot(dmu, dnu) == pytest.approx(0.78767336, abs=1e-7)


def test_jacobian_with_nonzero_omega_and_errors():
    J = T.selu_map_jacobian(0.0, 1.0, omega=0.1)
    assert J[0, 0] != 0.0
    with pytest.raises(ValueError, match="var"):
        T.selu_map_jacobian(0.0, 1e-7)
    with pytest.raises(ValueError, match="h"):
        T.selu_map_jacobian(h=0.0)
    with pytest.raises(ValueError, match="tau"):
        T.selu_map_jacobian(tau=-1.0)


def test_fixed_point_default_and_its_contraction():
    fp = T.selu_fixed_point()
    assert fp.spectral_radius == pytest.approx(0.7826, abs=5e-5)  # as the chapter states it
    assert fp.converged
    assert abs(fp.mean) < 1e-12 and fp.var == pytest.approx(1.0, abs=1e-12)
    assert fp.spectral_norm == pytest.approx(0.7877, abs=5e-5)
    assert fp.spectral_radius == pytest.approx(fp.jacobian[1, 1], rel=1e-12, abs=0)  # triangular: eigenvalues 0, J11
    assert fp.singular_values.shape == (2,)
    # layers to shrink a deviation ten-fold, as the notebook prints
    assert math.log(10) / -math.log(fp.spectral_radius) == pytest.approx(9.4, abs=0.1)


@pytest.mark.parametrize("tau", [0.95, 1.1, 2.0])
def test_fixed_point_matches_plain_iteration(tau):
    m, v = 0.0, 1.0
    for _ in range(600):
        m, v = T.selu_fixed_point_map(m, v, 0.0, tau)
    fp = T.selu_fixed_point(tau=tau)
    assert fp.converged
    assert fp.mean == pytest.approx(m, abs=1e-9) and fp.var == pytest.approx(v, rel=1e-9)
    assert fp.spectral_norm < 1


def test_fixed_point_for_tau_1_1_is_inside_theorem_1s_domain():
    fp = T.selu_fixed_point(tau=1.1)
    assert fp.var == pytest.approx(1.3993, abs=1e-4)
    assert -0.1 <= fp.mean <= 0.1 and 0.8 <= fp.var <= 1.5
    lo = T.selu_fixed_point(tau=0.95)
    assert 0.8 <= lo.var <= 1.5


def test_fixed_point_not_found_when_the_variance_runs_away():
    fp = T.selu_fixed_point(tau=3.0)
    assert not fp.converged
    assert math.isnan(fp.mean) and math.isnan(fp.var) and np.isnan(fp.jacobian).all()
    with pytest.raises(TypeError, match="start"):
        T.selu_fixed_point(start="a")
    with pytest.raises(ValueError, match="tol"):
        T.selu_fixed_point(tol=0.0)


def test_trajectory_rows_are_iterates_and_converge():
    t = T.selu_map_trajectory(0.9, 2.8, 30)
    assert t.shape == (31, 2)
    assert tuple(t[0]) == (0.9, 2.8)
    for k in range(5):
        assert tuple(t[k + 1]) == T.selu_fixed_point_map(*t[k])
    assert np.hypot(t[-1, 0], t[-1, 1] - 1) < 2e-3
    assert T.selu_map_trajectory(0.0, 1.0, 0).shape == (1, 2)
    with pytest.raises(ValueError, match="var"):
        T.selu_map_trajectory(0.0, -1.0, 3)
    with pytest.raises((TypeError, ValueError), match="n_steps"):
        T.selu_map_trajectory(0.0, 1.0, -1)


# ----------------------------------------------------------------------------- per-layer moments
def test_layer_moments_agree_with_a_direct_numpy_forward():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 12))
    net = MLP(12, depth=4, width=12, activation="selu", init="lecun_normal", n_outputs=None, seed=5)
    m = ch.experiments.layer_moments(net, x, quantiles=(0.25, 0.75))
    h = x
    for l, block in enumerate(net.blocks):
        h = selu(h @ block.dense.params["W"] + block.dense.params["b"])
        assert m.mean[l] == pytest.approx(h.mean(), abs=1e-12)
        assert m.std[l] == pytest.approx(h.std(), rel=1e-12, abs=0)
        um, us = h.mean(0), h.std(0)
        assert m.unit_mean_low[l] == pytest.approx(np.quantile(um, 0.25), abs=1e-12)
        assert m.unit_std_high[l] == pytest.approx(np.quantile(us, 0.75), rel=1e-12)
        assert m.unit_mean_rms[l] == pytest.approx(np.sqrt(np.mean(um**2)), rel=1e-12, abs=0)
    assert m.first_nonfinite is None and m.training
    assert m.input_mean == pytest.approx(x.mean()) and m.input_std == pytest.approx(x.std())
    assert m.at(2) == (m.mean[1], m.std[1])
    assert "layer" in m.as_table() and len(m.as_table([1, 4]).splitlines()) == 3


def test_layer_moments_see_the_skip_path_and_dropout_output():
    x = np.random.default_rng(1).standard_normal((32, 8))
    net = MLP(8, depth=3, width=8, activation="selu", init="lecun_normal", residual=True, n_outputs=None, seed=2)
    m = ch.experiments.layer_moments(net, x)
    h = x
    for l, block in enumerate(net.blocks):
        h = h + selu(h @ block.dense.params["W"])
        assert m.std[l] == pytest.approx(h.std(), rel=1e-12)
    # dropout in inference mode is the identity
    a = MLP(8, depth=3, width=8, activation="selu", dropout=0.3, n_outputs=None, seed=2)
    b = MLP(8, depth=3, width=8, activation="selu", n_outputs=None, seed=2)
    np.testing.assert_array_equal(ch.experiments.layer_moments(a, x, training=False).std,
                                  ch.experiments.layer_moments(b, x).std)


def test_layer_moments_overflow_and_errors_and_batch_norm_state():
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    net = MLP(8, depth=30, width=8, activation="relu", init="he_normal", weight_scale=30.0, n_outputs=None,
              seed=0, dtype=np.float32)
    m = ch.experiments.layer_moments(net, x)
    assert m.first_nonfinite is not None
    k = m.first_nonfinite
    assert np.isnan(m.std[k - 1:]).all() and np.isfinite(m.std[: k - 1]).all()
    assert m.head(k - 1).first_nonfinite is None and m.head(k).first_nonfinite == k
    bn = MLP(8, depth=2, width=8, activation="selu", batch_norm="before", n_outputs=None, seed=0)
    before = bn.blocks[0].bn_before.state["running_mean"].copy()
    ch.experiments.layer_moments(bn, x.astype(np.float64))
    np.testing.assert_array_equal(bn.blocks[0].bn_before.state["running_mean"], before)
    with pytest.raises(ValueError, match="2 examples"):
        ch.experiments.layer_moments(bn, x[:1].astype(np.float64))
    with pytest.raises(ValueError, match="quantiles"):
        ch.experiments.layer_moments(bn, x.astype(np.float64), quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match="depth"):
        m.head(31)


# ----------------------------------------------------------------------------- the chapter's networks
@pytest.fixture(scope="module")
def conditions():
    out = {"all kept": ch.experiments.selu_conditions()}
    for name in ch.experiments.SELU_CONDITIONS:
        out[name] = ch.experiments.selu_conditions(**{name: False})
    return out


def test_selu_network_on_the_digits_stays_near_0_and_1(conditions):
    base = conditions["all kept"]
    assert base.depth == 100 and base.label == "all four conditions hold"
    assert np.all(np.abs(base.mean) < 0.1)
    assert np.all((base.std > 0.9) & (base.std < 1.1))


def test_relu_he_drifts_across_seeds_while_selu_does_not():
    selu_std = [ch.digits_moments("selu", "lecun_normal", seed=s).std[-1] for s in (0, 1, 2)]
    relu_std = [ch.digits_moments("relu", "he_normal", seed=s).std[-1] for s in (0, 1, 2)]
    assert max(selu_std) / min(selu_std) < 1.1
    assert max(relu_std) / min(relu_std) > 5
    # every layer of all three SELU networks: mean within 0.1 of 0, std between 0.89 and 1.09 (the printout: 0.887
    # to 1.089), no drift
    stds = []
    for s in (0, 1, 2):
        m = ch.digits_moments("selu", "lecun_normal", seed=s)
        assert np.abs(m.mean).max() < 0.1
        stds.append(m.std)
        assert abs(np.polyfit(m.layer, m.std, 1)[0]) < 1e-3  # std changes by less than 0.1 per 100 layers
    stds = np.concatenate(stds)
    assert (f"{stds.min():.2f}", f"{stds.max():.2f}") == ("0.89", "1.09")
    # the chapter states them: about 0.09, 1.7 and 0.14, twenty times apart
    np.testing.assert_allclose(relu_std, [0.09, 1.7, 0.14], rtol=0.06)
    assert 15 < max(relu_std) / min(relu_std) < 25


def test_each_broken_condition_drifts_as_the_chapter_says(conditions):
    base, inp, init = conditions["all kept"], conditions["standardized"], conditions["lecun_normal"]
    res, drop = conditions["sequential"], conditions["dense_only"]
    # unstandardised input: layer 1 far off, pooled stats back near (0, 1) by layer 10, units keep offsets
    assert inp.std[0] > 2.5 and inp.mean[0] > 0.5
    assert (f"{inp.mean[0]:.3g}", f"{inp.std[0]:.3g}") == ("0.794", "2.76")  # "second row of the table, layer 1"
    assert list(ch.condition_runs())[:2] == ["all kept", "standardized"]  # the rows of the table, in this order
    assert np.all(np.abs(inp.std[9:] - 1) < 0.15)
    assert np.all(inp.unit_mean_rms[9:60] > 1.5 * base.unit_mean_rms[9:60])
    # the rms of the units' means, as the chapter states it: 0.53 against 0.11 at layer 10, 0.40 against 0.17 at 50
    np.testing.assert_allclose([inp.unit_mean_rms[9], base.unit_mean_rms[9]], [0.53, 0.11], atol=0.006)
    np.testing.assert_allclose([inp.unit_mean_rms[49], base.unit_mean_rms[49]], [0.40, 0.17], atol=0.006)
    np.testing.assert_allclose(base.unit_mean_rms[[0, 99]], [0.056, 0.234], atol=0.0005)  # the drift with depth
    # He init: mean and std run away, the std by about 4 % per layer from layer 50 to 100
    assert init.std[-1] > 30 and init.mean[-1] > 10 and init.std[-1] > init.std[49] > init.std[9]
    assert (init.std[-1] / init.std[49]) ** (1 / 50) == pytest.approx(1.04, abs=0.005)
    assert init.mean[9] == pytest.approx(1.67, abs=0.005)  # "mean turns positive (1.67 at layer 10)"
    assert init.std[-1] == pytest.approx(97, abs=0.5)  # "standard deviation 97 at layer 100"
    # the moment map's own fixed point for tau = 2 exists, at mean 1.78, variance 18.5, std 4.3
    fp2 = T.selu_fixed_point(tau=2.0)
    assert fp2.converged and fp2.mean == pytest.approx(1.78, abs=0.005) and fp2.var == pytest.approx(18.5, abs=0.05)
    assert math.sqrt(fp2.var) == pytest.approx(4.3, abs=0.05) and math.sqrt(fp2.var) < init.std[-1]
    # chapter 03's recursion (each unit its own omega_j) grows without bound: std 33.8 at 50, 396 at 100,
    # a factor per layer approaching lambda (E[h^2] by lambda^2 tau / 2 = lambda^2 = 1.10)
    widths = [64] + [100] * 100
    s = np.sqrt(T.predict_variances(widths, "selu", T.init_weight_variances(widths, "he_normal")).a_var)
    assert s[49] == pytest.approx(33.8, abs=0.05) and s[99] == pytest.approx(396, abs=0.5)
    assert s[99] / s[98] == pytest.approx(SELU_SCALE, abs=5e-4) and SELU_SCALE == pytest.approx(1.051, abs=5e-4)
    assert SELU_SCALE ** 2 == pytest.approx(1.10, abs=0.005)
    assert np.all(s[1:] > s[:-1])
    assert (init.std[-1] / init.std[49]) ** (1 / 50) == pytest.approx(1.038, abs=0.0005)  # "3.8 % per layer"
    # skip connections: geometric growth
    assert res.std[-1] > 1e12 and (res.std[-1] / res.std[9]) ** (1 / 90) > 1.3
    assert (res.std[-1] / res.std[9]) ** (1 / 90) == pytest.approx(1.49, abs=0.005)  # "49 % per layer"
    # ordinary dropout (training): a new, larger std and a positive mean
    assert np.all((drop.std[20:] > 1.4) & (drop.std[20:] < 2.0)) and drop.mean[20:].mean() > 0.05


def test_skip_connections_grow_because_each_block_adds_a_fixed_fraction_of_the_stream(conditions):
    """Cell 34's mechanism, with cell 35's numbers: z^l is 0.98 of the stream's size (LeCun, tau = 1), the SELU
    branch 0.73 (lambda / sqrt 2 = 0.74: the positive half passed on times lambda), cosine 0.48 between them, so the
    stream grows by sqrt(1 + r^2 + 2 c r) = 1.49 per block (1.24 were they unrelated)."""
    sk = ch.skip_branch_sizes()
    res = conditions["sequential"]
    # the same network as selu_conditions(sequential=False): its last h has the same root mean square
    assert sk["out"][-1] == pytest.approx(math.hypot(res.mean[-1], res.std[-1]), rel=1e-9)
    np.testing.assert_allclose(sk["out"][:-1], sk["stream"][1:], rtol=1e-12)  # h^l is the next block's stream
    # exactly: out^2 = stream^2 + branch^2 + 2 cosine stream branch
    np.testing.assert_allclose(sk["out"] ** 2, sk["stream"] ** 2 + sk["branch"] ** 2
                               + 2 * sk["cosine"] * sk["stream"] * sk["branch"], rtol=1e-9)
    late = slice(8, None)
    geo = lambda v: float(np.exp(np.mean(np.log(v[late]))))  # noqa: E731
    r, c = geo(sk["branch"] / sk["stream"]), float(sk["cosine"][late].mean())
    assert f"{geo(sk['z'] / sk['stream']):.2f}" == "0.98" and f"{r:.2f}" == "0.73" and f"{c:.2f}" == "0.48"
    assert f"{SELU_SCALE / math.sqrt(2):.2f}" == "0.74"
    assert f"{geo(sk['out'] / sk['stream']):.3f}" == "1.493" and f"{math.sqrt(1 + r * r + 2 * c * r):.3f}" == "1.490"
    assert f"{math.sqrt(1 + r * r):.2f}" == "1.24"
    # a fixed fraction in every block, not a fixed amount: the branch ratio barely moves while the stream grows 1e15-fold
    ratio = sk["branch"][late] / sk["stream"][late]
    assert ratio.min() > 0.5 and ratio.max() < 0.95 and sk["stream"][-1] / sk["stream"][8] > 1e14


def test_glorot_uniform_on_square_layers_is_lecun_in_disguise():
    n = 100
    assert gv.init.weight_variance("glorot_uniform", n, n) == pytest.approx(gv.init.weight_variance(
        "lecun_normal", n, n))
    assert gv.init.weight_variance("he_normal", n, n) == pytest.approx(2 / n)
    m = ch.digits_moments("selu", "glorot_uniform")
    assert np.all((m.std > 0.85) & (m.std < 1.15))


def test_digits_moments_cache_labels_and_read_only_arrays():
    a = ch.digits_moments(depth=5)
    b = ch.digits_moments(depth=5, label="other")
    assert a.std is b.std and b.label == "other"
    assert not a.std.flags.writeable
    c = ch.digits_moments(depth=5, dropout=0.3, dropout_kind="alpha", training=False)
    assert c.std is a.std  # inference: dropout is the identity
    assert "alpha dropout 0.3 (inference)" in c.label
    # a shallower network is the head of a deeper one
    deep = ch.digits_moments(depth=12)
    np.testing.assert_array_equal(deep.head(5).std, a.std)
    with pytest.raises(TypeError, match="seed"):
        ch.digits_moments(depth=3, seed=np.random.default_rng(0))
    with pytest.raises(ValueError, match="dropout_kind"):
        ch.digits_moments(depth=3, dropout=0.1, dropout_kind="gaussian")


def test_dropout_kinds_on_a_deep_selu_network():
    std = ch.digits_moments(dropout=0.2, dropout_kind="standard")
    alp = ch.digits_moments(dropout=0.2, dropout_kind="alpha")
    assert np.all(np.abs(alp.std - 1) < 0.06) and np.all(np.abs(alp.mean) < 0.05)
    assert std.std[-1] > 1.4
    # the chapter's numbers: 1.645 (ordinary, training), 1.003 (alpha, training), 1.000 (inference)
    inf = ch.digits_moments(dropout=0.2, dropout_kind="standard", training=False)
    assert std.std[-1] == pytest.approx(1.645, abs=0.0005) and alp.std[-1] == pytest.approx(1.003, abs=0.0005)
    assert inf.std[-1] == pytest.approx(1.000, abs=0.0005)


def test_weight_sums_omega_varies_by_unit_tau_near_1():
    omega, tau = ch.weight_sums()
    assert omega.shape == tau.shape == (99, 100)
    assert omega.std() == pytest.approx(1.0, abs=0.005)  # "a random number with standard deviation 1"
    inside = np.mean(np.abs(omega) <= 0.1)
    assert inside == pytest.approx(1 / 12, abs=0.01)  # "about one unit in twelve" (8 %)
    assert round(float(tau.min()), 2) == 0.54 and round(float(tau.max()), 2) == 1.59
    assert round(100 * float(np.mean((tau >= 0.95) & (tau <= 1.1)))) == 39
    # the same weights as the network digits_moments measures
    net = MLP(64, depth=100, width=100, activation="selu", init="lecun_normal", n_outputs=None, seed=0)
    np.testing.assert_array_equal(omega[0], net.blocks[1].dense.params["W"].sum(axis=0))
    with pytest.raises(ValueError, match="depth"):
        ch.weight_sums(depth=1)


# ----------------------------------------------------------------------------- dropout on SELU outputs
def test_alpha_dropout_constants_for_rate_0_1():
    d = AlphaDropout(0.1)
    ap = -LAM * ALPHA
    # Keras writes the same constants as ((1 - rate) (1 + rate alpha'^2))^(-1/2): an independent algebraic form
    assert d.a == pytest.approx((0.9 * (1 + 0.1 * ap**2)) ** -0.5, rel=1e-14, abs=0)
    assert d.b == pytest.approx(-d.a * 0.1 * ap, rel=1e-14, abs=0)
    assert d.a == pytest.approx(0.9212845, abs=1e-7) and d.b == pytest.approx(0.1619710, abs=1e-7)
    # exact moments of the output for an input of mean 0 and variance 1
    q = 0.9
    mean = d.a * (1 - q) * ap + d.b
    second = d.a**2 * (q * 1.0 + (1 - q) * ap**2) + 2 * d.a * d.b * (1 - q) * ap + d.b**2
    assert abs(mean) < 1e-15 and second - mean**2 == pytest.approx(1.0, abs=1e-14)


def test_dropout_on_selu_moments():
    e = ch.dropout_on_selu(0.2, n_samples=200_000, seed=0)
    mom = e.moments()
    se = 1 / math.sqrt(200_000)
    assert abs(mom["before"][0]) < 5 * se and mom["before"][1] == pytest.approx(1.0, abs=0.02)
    assert mom["standard"][1] == pytest.approx(mom["before"][1] / 0.8, rel=0.02)
    assert abs(mom["alpha"][0]) < 0.01 and mom["alpha"][1] == pytest.approx(1.0, abs=0.02)
    assert e.dropped_value["standard"] == 0.0
    assert e.dropped_value["alpha"] == pytest.approx(e.a * (-LAM * ALPHA) + e.b)
    # a fifth of the values sit exactly on the dropped value
    assert np.mean(e.standard == 0.0) == pytest.approx(0.2, abs=0.005)
    assert np.mean(e.alpha == e.dropped_value["alpha"]) == pytest.approx(0.2, abs=0.005)
    assert "alpha dropout" in e.as_table()
    # the chapter states the table's variances (1.001 before, 1.250 after ordinary dropout) and a, b for rate 0.2
    assert mom["before"][1] == pytest.approx(1.001, abs=5e-4) and mom["standard"][1] == pytest.approx(1.250, abs=5e-4)
    d = AlphaDropout(0.2)
    assert (d.a, d.b) == (pytest.approx(0.8789, abs=5e-5), pytest.approx(0.3090, abs=5e-5))
    assert d.a * d.ALPHA_PRIME + d.b == pytest.approx(-1.2362, abs=5e-5)
    with pytest.raises(ValueError, match="rate"):
        ch.dropout_on_selu(0.0)


# ----------------------------------------------------------------------------- exercises
def test_exercise_answers_and_checks(capsys):
    ex = gv.exercises.EXERCISES
    assert ex["05.1"].answer() == pytest.approx(LAM * ALPHA * (np.exp(-2.0) - 1.0), rel=1e-15, abs=0)
    assert ex["05.1"].answer() == pytest.approx(-1.52017, abs=1e-5)
    d = AlphaDropout(0.1)
    assert ex["05.2"].answer() == pytest.approx(d.a * (-LAM * ALPHA) + d.b, rel=1e-15, abs=0)
    assert ex["05.2"].answer() == pytest.approx(-1.45774, abs=1e-5)
    assert ex["05.3"].answer() == pytest.approx(T.selu_fixed_point(tau=1.1).var)
    assert gv.exercises.check("05.1", -1.5202)
    assert not gv.exercises.check("05.1", -LAM * ALPHA)
    assert gv.exercises.check("05.3", 1.40)
    for k in ("05.1", "05.2", "05.3", "05.4"):
        gv.exercises.solution(k)
    out = capsys.readouterr().out
    assert "correct" in out and "not quite" in out and "In code" in out


def test_code_exercise_selu(capsys):
    ex = gv.exercises.EXERCISES["05.4"]
    assert ex.wants_code
    z = np.linspace(-30.0, 10.0, 401)
    np.testing.assert_allclose(ch.exercises.selu_function(z), selu(z), rtol=1e-15, atol=1e-15)  # the reference is SELU
    assert gv.exercises.check("05.4", selu)
    # constants rounded to four decimals pass
    assert gv.exercises.check("05.4", lambda z: 1.0507 * np.where(z > 0, z, 1.6733 * (np.exp(z) - 1)))
    assert not gv.exercises.check("05.4", lambda z: gv.activations.elu(z, 1.0))  # ELU is not SELU
    assert not gv.exercises.check("05.4", lambda z: LAM * np.maximum(z, 0))  # no negative part
    assert not gv.exercises.check("05.4", None)
    out = capsys.readouterr().out
    assert "not answered yet" in out and "Hint" in out


# ----------------------------------------------------------------------------- figures
def _gids(fig):
    return {a.get_gid() for ax in fig.axes for a in list(ax.lines) + list(ax.collections) + list(ax.patches)}


def test_chapter_05_figures_are_registered_and_draw(conditions):
    from gradviz import figures

    names = {n for n, spec in figures.FIGURES.items() if spec.chapter == 5}
    assert names == {"selu_activation", "selu_vs_relu_depth", "selu_moment_map", "selu_conditions", "selu_dropout"}
    fig = ch.selu_activation()
    assert {"selu", "elu", "relu", "saturation"} <= _gids(fig)
    fig = ch.selu_moment_map(conditions["all kept"])
    ax_map = fig.axes[0]
    (star,) = [ln for ln in ax_map.lines if ln.get_gid() == "fixed_point"]
    assert star.get_xdata()[0] == pytest.approx(0.0, abs=1e-12) and star.get_ydata()[0] == pytest.approx(1.0)
    (dots,) = [ln for ln in ax_map.lines if ln.get_gid() == "measured"]
    np.testing.assert_allclose(dots.get_ydata(), conditions["all kept"].std ** 2)
    assert "arrows" in _gids(fig) and "spectral_radius" in _gids(fig)
    (line,) = [ln for ln in fig.axes[1].lines if ln.get_gid() == "spectral_radius"]
    y = line.get_ydata()
    np.testing.assert_allclose(y[1:] / y[:-1], T.selu_fixed_point().spectral_radius, rtol=1e-12)
    assert "0.7826" in line.get_label()
    fig = ch.selu_conditions_grid(conditions)
    assert len(fig.axes) == 8
    fig = ch.selu_dropout(ch.dropout_on_selu(0.2, n_samples=2000),
                               {"ordinary dropout, training": conditions["dense_only"],
                                "alpha dropout, training": conditions["all kept"], "inference": conditions["all kept"]})
    assert {"hist:standard", "hist:alpha", "mean:0", "std:2"} <= _gids(fig)
    runs = {"selu": [conditions["all kept"]], "relu": [ch.digits_moments("relu", "he_normal")]}
    fig = ch.selu_vs_relu_depth(runs)
    np.testing.assert_allclose(fig.axes[1].lines[1].get_ydata(), runs["relu"][0].std)
    # one legend under both panels (the mean panel had none): each kind once, in its colour
    assert [ax.get_legend() for ax in fig.axes] == [None, None] and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["SELU, LeCun normal", "ReLU, He normal"]


def test_plot_layer_moments_scales_and_targets(conditions):
    from gradviz import plots

    fig, axes = plots.new_figure(1, 2)
    ch.figures.plot_layer_moments([conditions["all kept"], conditions["sequential"]], axes, band=True)
    ax_mean, ax_std = axes
    assert ax_mean.get_yscale() == "symlog" and ax_std.get_yscale() == "log"
    assert ax_std.get_ylim()[1] > conditions["sequential"].std.max()
    targets = [ln for ln in ax_std.lines if ln.get_gid() == "target"]
    assert len(targets) == 1 and targets[0].get_ydata()[0] == 1.0
    assert "band:std:1" in _gids(fig)


# ----------------------------------------------------------------------------- the explorer
def test_selu_conditions_explorer_every_control():
    e = ch.SeluConditionsExplorer(canvas="none")
    assert set(e.controls) == {"standardized", "lecun_normal", "sequential", "dense_only", "depth"}
    base_std = e.lines["std:base"].get_ydata().copy()
    assert not e.lines["std:now"].get_visible()
    legend = lambda: [t.get_text() for t in e.legend.get_texts()]  # noqa: E731
    assert legend() == ["all four conditions hold"]  # the hidden line has no entry without a swatch
    assert "All four conditions hold" in e.summary()
    for name in ch.experiments.SELU_CONDITIONS:
        e.controls[name].value = False  # the callback redraws
        assert e.lines["std:now"].get_visible()
        expected = ch.experiments.selu_conditions(**{name: False})
        np.testing.assert_allclose(e.lines["std:now"].get_ydata(), expected.std)
        np.testing.assert_array_equal(e.lines["std:base"].get_ydata(), base_std)
        assert ch.experiments.SELU_CONDITIONS[name][0] in e.summary()
        assert legend() == ["all four conditions hold", expected.label]
        assert "layer 100" in e.readout.value
        e.figure.canvas.draw()
        e.controls[name].value = True
    e.update(depth=20, lecun_normal=False, sequential=False)
    assert len(e.lines["std:now"].get_xdata()) == 20
    np.testing.assert_allclose(e.lines["std:now"].get_ydata(),
                               ch.experiments.selu_conditions(lecun_normal=False, sequential=False).std[:20])
    assert e.ax_std.get_xlim()[1] == pytest.approx(20.5)
    text = e.summary()
    assert text.startswith("broken: LeCun-normal init, plain sequential stack") and "layer 20" in text
    e.controls["depth"].value = 50
    assert len(e.lines["mean:base"].get_xdata()) == 50
    assert ch.SeluConditionsExplorer(canvas="none").values["depth"] == ch.SeluConditionsExplorer.max_depth == 100


def test_selu_conditions_explorer_legend_names_both_panels_lines_and_covers_neither():
    """A cold reader found no legend on the mean panel, and the std panel's (upper left) covered the broken
    input's std at layers 1-3 (2.8): one legend under both panels now, one per set of entries."""
    e = ch.SeluConditionsExplorer(canvas="none")
    e.update(standardized=False)
    e.figure.canvas.draw()
    assert e.ax_std.get_legend() is None and e.ax_mean.get_legend() is e.legend and not e.figure.legends
    assert isinstance(e.legend, gv.plots.QuickLegend)  # drawn from its pixel copy at each frame: no full draw
    assert [t.get_text() for t in e.legend.get_texts()] == ["all four conditions hold", "broken: standardised input"]
    assert [h.get_color() for h in e.legend.legend_handles] == [e.lines["mean:base"].get_color(),
                                                                e.lines["mean:now"].get_color()]
    renderer = e.figure.canvas.get_renderer()
    box = e.legend.get_window_extent(renderer)
    middle = (e.ax_mean.get_window_extent(renderer).x1 + e.ax_std.get_window_extent(renderer).x0) / 2
    assert box.x0 < middle < box.x1 and box.y0 >= 0  # under both panels, inside the figure
    for ax in (e.ax_mean, e.ax_std):
        assert box.y1 < ax.xaxis.label.get_window_extent(renderer).y0  # under the panels, their x labels too
    kept = e.legend
    e.update(depth=50)  # same entries: the same legend
    assert e.legend is kept
    e.update(standardized=True)
    assert e.legend is not kept and [t.get_text() for t in e.legend.get_texts()] == ["all four conditions hold"]
    e.update(standardized=False)
    assert e.legend is kept


def test_selu_conditions_explorer_blits_its_figure_legend_as_a_full_draw_would():
    """The legend under the panels lies outside every Axes, and changes with the boxes ticked: blitted all the same."""
    from gradviz import _canvas

    if not _canvas.have_ipympl():
        pytest.skip("ipympl is not installed")
    e = ch.SeluConditionsExplorer(canvas="ipympl")
    seen = blits_as_full_draws(e, [dict(standardized=False), dict(depth=60), dict(sequential=False),
                                   dict(standardized=True), dict(sequential=True), dict(depth=100)])
    assert "full" not in seen  # a new set of entries is blitted too (as a static legend it was a full draw)


def test_selu_conditions_explorer_y_labels_clear_of_the_widest_ticks():
    """Laid out with -1, 0, 1 only, the mean axis' label ran into 10^10 once every condition was broken (4e25),
    or (where the label is not pinned) was pushed off the figure's left edge."""
    e = ch.SeluConditionsExplorer(canvas="none")
    e.update(standardized=False, lecun_normal=False, sequential=False, dense_only=False)
    e.figure.canvas.draw()
    renderer = e.figure.canvas.get_renderer()
    for ax in (e.ax_mean, e.ax_std):
        label = ax.yaxis.label.get_window_extent(renderer)
        ticks = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
        assert len(ticks) >= 3 and max(t.x1 for t in ticks) > min(t.x0 for t in ticks)
        assert all(label.x1 <= t.x0 for t in ticks) and label.x0 >= 0


def test_selu_conditions_explorer_x_axes_step_through_a_ruler():
    # layers 1..10, 20, 50, 100: most depth steps leave the x axes as they were (the frame redraws the curves, not
    # every tick label), and the curves fill at least 40 % of the width
    e = ch.SeluConditionsExplorer(canvas="none")
    for depth, right in ((100, 100.5), (51, 100.5), (50, 50.5), (21, 50.5), (20, 20.5), (11, 20.5), (10, 10.5),
                         (2, 10.5)):
        e.update(depth=depth)
        assert e.ax_mean.get_xlim() == e.ax_std.get_xlim() == (0.5, right)
        assert len(e.lines["std:base"].get_xdata()) == depth


def test_prose_explore_the_largest_tau_heads_for_a_distant_fixed_point():
    """Section 3's "Explore" list: at the map explorer's largest tau, 2.5 (omega 0), the variance climbs through all
    30 layers of the path, yet it is not running away: the fixed point (variance 392) attracts, but slowly
    (spectral radius 0.970, against 0.783 at tau = 1)."""
    e = ch.SeluMapExplorer(canvas="none")
    assert e.controls["tau"].max == 2.5 and e.n_steps == 30
    e.update(tau=2.5)
    v = e.trajectory[:, 1]
    assert np.all(np.diff(v) > 0) and v[-1] < e.fixed_point.var / 2
    assert e.fixed_point.converged and round(e.fixed_point.var) == 392
    assert round(e.fixed_point.spectral_radius, 3) == 0.970 and "the fixed point attracts" in e.summary()


def test_selu_map_explorer_every_control():
    e = ch.SeluMapExplorer(canvas="none")
    assert set(e.controls) == {"omega", "tau", "start_mean", "start_var"}
    e.figure.canvas.draw()
    text = e.summary()
    assert "fixed point (mean, variance) = (0, 1)" in text and "0.783" in text and "inside" in text
    np.testing.assert_allclose(e.var_line.get_ydata(), T.selu_map_trajectory(0.9, 2.8, e.n_steps)[:, 1])
    e.controls["tau"].value = 1.1
    assert e.fixed_point.var == pytest.approx(T.selu_fixed_point(tau=1.1).var)
    assert e.fp_line.get_ydata()[0] == pytest.approx(e.fixed_point.var)
    e.controls["omega"].value = 0.15
    assert "outside" in e.summary()
    assert e.fixed_point.mean == pytest.approx(T.selu_fixed_point(omega=0.15, tau=1.1).mean)
    e.controls["start_mean"].value = -0.5
    (path,) = [ln for ln in e.ax_map.lines if ln.get_gid() == "trajectory:0"]
    assert path.get_xdata()[0] == -0.5
    e.controls["start_var"].value = 0.5
    assert e.trajectory[0, 1] == 0.5 and e.var_line.get_ydata()[0] == 0.5
    e.update(tau=2.5, omega=0.15)
    assert not e.fixed_point.converged and not e.fp_line.get_visible()
    assert [t.get_text() for t in e.ax_var.get_legend().get_texts()] == [  # one legend, below: drawn once
        "variance after each layer", "the fixed point's variance (if any)"]
    assert "(ω = 0.15, τ = 2.5)" in e.ax_map.get_title()
    assert "no fixed point" in e.summary() and "runs away" in e.readout.value
    e.figure.canvas.draw()
    e.update(tau=2.0, omega=0.2)
    assert e.fixed_point.converged and e.fixed_point.spectral_norm > 1 > e.fixed_point.spectral_radius
    assert "spectral norm is above 1" in e.summary()
    e.figure.canvas.draw()
