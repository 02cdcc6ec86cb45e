"""Activations: derivatives vs finite differences, stable sigmoid, SELU constants and self-normalisation."""

from __future__ import annotations

import inspect
import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck import TOL, away_from_kinks, elementwise_error, fd_noise, rel_error
from gradviz import activations as A
from gradviz.network import MLP

FAST = settings(max_examples=25, deadline=None)

# Central differences can only resolve a derivative where |f'| h >> eps |f| (rounding of
# f(z +- h)); on the far tails (tanh'(10) ~ 8e-9 while tanh(10) ~ 1) no step can reach a
# relative error of 1e-6. The tails are pinned by the known-value tests below instead.
values = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8),
    elements=st.floats(-6.0, 6.0, allow_nan=False),
)

#: Step of the element-wise checks: rounding error eps |f| / h ~ 1e-12 (relative to
#: |f'| >= 2.5e-5 on [-6, 6]: < 5e-8), truncation h**2 |f'''| / 6 ~ 1e-9 relative.
H_ELEM = 1e-4


def _elementwise_fd(f, z, h=H_ELEM):
    # Element-wise function: one central difference per entry, all at once.
    return (f(z + h) - f(z - h)) / (2.0 * h)


@pytest.mark.parametrize("name", sorted(A.ACTIVATIONS))
@FAST
@given(z=values, alpha=st.floats(0.0, 3.0))
def test_derivative_matches_finite_differences(name, z, alpha):
    act = A.get_activation(name)
    params = {"alpha": alpha} if "alpha" in act.defaults else {}
    # Keep every point more than h away from the kinks, so z - h and z + h lie on the same piece.
    z = away_from_kinks(z, act.kinks, margin=10 * H_ELEM)
    assert not any(((z - H_ELEM <= k) & (z + H_ELEM > k)).any() for k in act.kinks)
    numeric = _elementwise_fd(lambda t: act(t, **params), z)
    analytic = act.grad(z, **params)
    assert analytic.shape == z.shape
    assert rel_error(analytic, numeric) < TOL
    # Entry by entry too: relative to the largest entry, tanh'(6) ~ 2.5e-5 next to tanh'(0) = 1 could
    # be 4 % wrong and pass. Each entry is its own loss f(z_i); where f' is below what the step can
    # resolve (rounding ~ eps |f(z_i)| / h, e.g. an ELU slope with alpha ~ 1e-300) it must agree to
    # within that rounding instead.
    noise = fd_noise(np.abs(act(z, **params)), H_ELEM, extrapolated=False)
    assert elementwise_error(analytic, numeric, noise / TOL) < TOL


@pytest.mark.parametrize(
    "f, df, kw",
    [
        (A.linear, A.linear_grad, {}),
        (A.sigmoid, A.sigmoid_grad, {}),
        (A.tanh, A.tanh_grad, {}),
        (A.relu, A.relu_grad, {}),
        (A.leaky_relu, A.leaky_relu_grad, {"alpha": 0.2}),
        (A.elu, A.elu_grad, {"alpha": 0.7}),
        (A.selu, A.selu_grad, {}),
    ],
)
def test_plain_functions_agree_with_table(f, df, kw):
    z = np.linspace(-5, 5, 41) + 0.013
    name = f.__name__
    np.testing.assert_array_equal(f(z, **kw), A.ACTIVATIONS[name](z, **kw))
    np.testing.assert_array_equal(df(z, **kw), A.ACTIVATIONS[name].grad(z, **kw))


def test_plain_functions_have_the_table_defaults():
    # leaky_relu(z) called without alpha must be the table's leaky ReLU (alpha = 0.01), etc.
    for name, act in A.ACTIVATIONS.items():
        for fn in (act.f, act.df):
            defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items() if k != "z"}
            assert defaults == act.defaults, (fn.__name__, defaults)
    z = np.array([-2.0, -0.5, 0.5])
    assert A.leaky_relu(-2.0) == -0.02 and A.leaky_relu_grad(-2.0) == 0.01
    assert A.elu(-0.5) == pytest.approx(math.expm1(-0.5), rel=1e-15, abs=0)
    assert A.elu_grad(-0.5) == pytest.approx(math.exp(-0.5), rel=1e-15, abs=0)
    for name in ("leaky_relu", "elu"):
        np.testing.assert_array_equal(A.ACTIVATIONS[name].f(z), A.ACTIVATIONS[name](z))
        np.testing.assert_array_equal(A.ACTIVATIONS[name].df(z), A.ACTIVATIONS[name].grad(z))


def test_kink_convention_left_piece():
    # Documented: at z = 0 the derivative takes the value of the left piece.
    assert A.relu_grad(0.0) == 0.0
    assert A.leaky_relu_grad(0.0, alpha=0.1) == 0.1
    assert A.elu_grad(0.0, alpha=0.5) == 0.5
    assert A.selu_grad(0.0) == A.SELU_SCALE * A.SELU_ALPHA


# ---------------------------------------------------------------- sigmoid / tanh


@pytest.mark.filterwarnings("error")
def test_sigmoid_extremes_without_warnings():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert A.sigmoid(-1000.0) == 0.0
        assert A.sigmoid(1000.0) == 1.0
        assert A.sigmoid(np.array([-np.inf]))[0] == 0.0
        assert A.sigmoid(np.array([np.inf]))[0] == 1.0
        z32 = np.array([-1000.0, 0.0, 1000.0], dtype=np.float32)
        s32 = A.sigmoid(z32)
        assert s32.dtype == np.float32
        np.testing.assert_array_equal(s32, [0.0, 0.5, 1.0])
        assert A.sigmoid_grad(-1000.0) == 0.0 and A.sigmoid_grad(1000.0) == 0.0


def test_sigmoid_known_values():
    assert A.sigmoid_grad(0.0) == 0.25  # exactly 1/4
    z = np.linspace(-30, 30, 6001)
    assert A.sigmoid_grad(z).max() <= 0.25
    # Against the textbook formula where it cannot overflow, and the symmetry sigma(-z) = 1 - sigma(z).
    for t in (-30.0, -6.0, -1.0, 0.5, 6.0, 30.0):
        assert A.sigmoid(t) == pytest.approx(1.0 / (1.0 + math.exp(-t)), rel=1e-15, abs=0)
    # 1 - sigma(z) is exact only to an absolute eps/2 (it cancels for z > 0), so that is all this
    # identity can check; the relative precision of the small side is pinned by the tail tests below.
    np.testing.assert_allclose(A.sigmoid(-z), 1.0 - A.sigmoid(z), rtol=0, atol=np.finfo(float).eps)
    # Saturation, chapter 02: sigma(6) and sigma(1000) both have a (near-)zero slope.
    s6 = 1.0 / (1.0 + math.exp(-6.0))
    assert A.sigmoid_grad(6.0) == pytest.approx(s6 * (1.0 - s6), rel=1e-12, abs=0)  # 1 - s6 keeps ~45 of 53 bits
    assert 0.0024 < A.sigmoid_grad(6.0) < 0.0025  # < 1 % of the slope at 0
    assert A.sigmoid_grad(1000.0) == 0.0


# ---------------------------------------------------------------- tails, against 60-digit references
#
# The docstrings promise full relative precision in both tails. Finite differences cannot check
# that (see `values` above), so the tails are pinned against the closed forms evaluated with
# Python's decimal module at 60 significant digits, then rounded once to float64:
#   sigma(z)  = 1 / (1 + e^-z)                   (= e^z / (1 + e^z) for z < 0)
#   sigma'(z) = e^-|z| / (1 + e^-|z|)^2
#   tanh(z)   = (1 - e^-2z) / (1 + e^-2z)
#   tanh'(z)  = 4 e^-2|z| / (1 + e^-2|z|)^2
# rel=1e-14 is ~45 ulps (the formulas take a handful); abs=0 because pytest.approx would otherwise
# accept any result within 1e-12 of the reference, and every reference below 1e-12 -- the tails
# are all that is tested here -- would pass as 0.
# Mutants this catches: sigmoid's negative branch as 1 - 1/(1 + e^z) (0 below z ~ -37),
# sigmoid_grad as s (1 - s) (0 from z ~ 37 on), tanh_grad as 1 - tanh(z)^2 (0 from |z| ~ 19 on).

TAIL_Z = [s * m for m in (20.0, 37.0, 40.0, 100.0, 700.0) for s in (1.0, -1.0)] + [0.5, -0.5, 6.0, -6.0]


def _exact(f, z: float) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        return float(f(Decimal(z)))


def _sigmoid_ref(z):
    return 1 / (1 + (-z).exp())


def _sigmoid_grad_ref(z):
    e = (-abs(z)).exp()
    return e / (1 + e) ** 2


def _tanh_ref(z):
    e = (-2 * z).exp()
    return (1 - e) / (1 + e)


def _tanh_grad_ref(z):
    e = (-2 * abs(z)).exp()
    return 4 * e / (1 + e) ** 2


def test_tail_references_are_what_the_issue_quotes():
    # The references themselves, against numbers worked out by hand (e^-40 = 4.248e-18).
    assert _exact(_sigmoid_ref, -40.0) == pytest.approx(4.248354255291589e-18, rel=1e-14, abs=0)
    assert _exact(_tanh_grad_ref, 37.0) == pytest.approx(4 * math.exp(-74.0), rel=1e-14, abs=0)  # 2.9e-32
    assert _exact(_sigmoid_grad_ref, 40.0) == pytest.approx(math.exp(-40.0), rel=1e-14, abs=0)
    assert _exact(_tanh_grad_ref, 700.0) == 0.0  # 4 e^-1400 underflows: 0 is the correctly rounded value


@pytest.mark.parametrize("z", TAIL_Z)
@pytest.mark.parametrize(
    "f, ref",
    [(A.sigmoid, _sigmoid_ref), (A.sigmoid_grad, _sigmoid_grad_ref), (A.tanh, _tanh_ref), (A.tanh_grad, _tanh_grad_ref)],
    ids=["sigmoid", "sigmoid_grad", "tanh", "tanh_grad"],
)
def test_full_relative_precision_in_the_tails(f, ref, z):
    expected = _exact(ref, z)
    assert float(f(z)) == pytest.approx(expected, rel=1e-14, abs=0)
    # The same values element-wise from an array (the path the layers take).
    got = f(np.array([z, -z]))
    assert got[0] == pytest.approx(expected, rel=1e-14, abs=0)
    assert got[1] == pytest.approx(_exact(ref, -z), rel=1e-14, abs=0)


def test_derivatives_are_exactly_even():
    # sigma'(-z) = sigma'(z) and tanh'(-z) = tanh'(z): the same bits, not just close.
    z = np.concatenate([np.linspace(-800, 800, 16001), np.array(TAIL_Z)])
    np.testing.assert_array_equal(A.sigmoid_grad(z), A.sigmoid_grad(-z))
    np.testing.assert_array_equal(A.tanh_grad(z), A.tanh_grad(-z))
    for t in TAIL_Z:
        assert A.sigmoid_grad(t) == A.sigmoid_grad(-t)
        assert A.tanh_grad(t) == A.tanh_grad(-t)


def test_tanh_known_values():
    assert A.tanh_grad(0.0) == 1.0
    assert A.tanh(1000.0) == 1.0 and A.tanh(-1000.0) == -1.0
    assert A.tanh_grad(1000.0) == 0.0
    z = np.linspace(-4, 4, 81)
    np.testing.assert_array_equal(A.tanh(-z), -A.tanh(z))
    np.testing.assert_allclose(A.tanh_grad(z), 1 / np.cosh(z) ** 2, rtol=1e-12)


def test_relu_family_values():
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(A.relu(z), [0, 0, 0, 0.5, 2])
    np.testing.assert_array_equal(A.leaky_relu(z, alpha=0.1), [-0.2, -0.05, 0, 0.5, 2])
    np.testing.assert_allclose(A.elu(z, alpha=2.0), [2 * math.expm1(-2), 2 * math.expm1(-0.5), 0, 0.5, 2])
    with np.errstate(over="raise"):
        assert A.elu(1000.0) == 1000.0 and A.elu_grad(1000.0) == 1.0
        assert A.elu(-1000.0) == -1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.1, 1 / 3, 1.0, 1.5, 3.0])
def test_leaky_relu_without_np_where_gives_the_same_values(alpha, dtype):
    """max(z, alpha z) (min for alpha > 1) and s + (1 - s) alpha equal the selection by the sign of z, bit for bit."""
    z = np.concatenate([np.random.default_rng(1).standard_normal(5000) * 10, [0.0, -0.0, 1e-300, -1e-300, np.inf]])
    z = z.astype(dtype)
    with np.errstate(invalid="ignore"):  # 0 * inf in the reference for alpha = 0
        want = np.where(z > 0, z, alpha * z).astype(dtype)
    got = A.leaky_relu(z, alpha)
    assert got.dtype == dtype and A.leaky_relu_grad(z, alpha).dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(A.leaky_relu_grad(z, alpha), np.where(z > 0, 1.0, alpha).astype(dtype))
    assert A.leaky_relu(-np.inf, alpha) == (-np.inf if alpha > 0 else 0.0)


# ---------------------------------------------------------------- SELU


def test_selu_constants_full_precision():
    # Klambauer et al. (2017), eq. 14, to the 32 digits they print.
    assert A.SELU_ALPHA == float("1.6732632423543772848170429916717")
    assert A.SELU_SCALE == float("1.0507009873554804934193349852946")
    # ... and as their closed forms (eq. 14), evaluated in double precision.
    e = math.erfc(1 / math.sqrt(2))
    alpha = -math.sqrt(2 / math.pi) / (e * math.exp(0.5) - 1)
    lam = (1 - e * math.sqrt(math.e)) * math.sqrt(2 * math.pi) * (
        2 * math.erfc(math.sqrt(2)) * math.e**2 + math.pi * e**2 * math.e
        - 2 * (2 + math.pi) * e * math.sqrt(math.e) + math.pi + 2
    ) ** -0.5
    assert A.SELU_ALPHA == pytest.approx(alpha, rel=1e-14, abs=0)
    assert A.SELU_SCALE == pytest.approx(lam, rel=1e-14, abs=0)
    assert A.selu(1.0) == A.SELU_SCALE
    assert A.selu(-1000.0) == pytest.approx(-A.SELU_SCALE * A.SELU_ALPHA, rel=1e-15, abs=0)


def _deep_stats(init, activation, width=256, batch=32, depth=100, seed=0):
    net = MLP(width, depth=depth, width=width, activation=activation, init=init, n_outputs=None, seed=seed)
    x = np.random.default_rng(1000 + seed).standard_normal((batch, width))
    x = (x - x.mean(axis=0)) / x.std(axis=0)  # standardised input
    net.forward(x, record=True)
    means = np.array([r["a"].mean() for r in net.records])
    stds = np.array([r["a"].std() for r in net.records])
    return means, stds


def test_selu_self_normalises_through_100_layers():
    width = 256
    means, stds = _deep_stats("lecun_normal", "selu", width=width)
    # Tolerance. A layer's mean is an average over its `width` units of per-unit means m_j
    # (over the batch); given the previous layer, the units are i.i.d. (independent columns
    # of W) and m_j**2 <= E[a_j**2] ~ 1, so SE(layer mean) <= 1/sqrt(width). The second moment
    # is an average of per-unit second moments with Var <= Var(a**2) ~ 2 (Gaussian value), so
    # SE(second moment) ~ sqrt(2/width) and SE(std) ~ half of it, 0.71/sqrt(width). Deviations
    # do not pile up over layers because (0, 1) is an attracting fixed point (Klambauer et al.
    # 2017, Theorem 1). Allow 4 standard errors at every one of the 100 layers.
    # (Observed with width 256: max |mean| ~ 0.6/sqrt(width), max |std - 1| ~ 0.7/sqrt(width).)
    tol_mean = 4.0 / math.sqrt(width)
    tol_std = 4.0 * 0.71 / math.sqrt(width)
    assert np.abs(means).max() < tol_mean, means
    assert np.abs(stds - 1.0).max() < tol_std, stds


def test_selu_self_normalisation_test_has_teeth():
    # Break one condition at a time: the same tolerance must then fail.
    width = 256
    _, stds_he = _deep_stats("he_normal", "selu", width=width, depth=30)  # Var(W) = 2 / fan_in
    assert abs(stds_he[-1] - 1.0) > 4.0 * 0.71 / math.sqrt(width)
    _, stds_elu = _deep_stats("lecun_normal", "elu", width=width, depth=30)  # no SELU scale
    assert abs(stds_elu[-1] - 1.0) > 4.0 * 0.71 / math.sqrt(width)


# ---------------------------------------------------------------- table, saturation, errors


def test_table_metadata():
    assert set(A.ACTIVATIONS) == {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu"}
    for name in ("relu", "leaky_relu", "elu", "selu"):
        assert A.ACTIVATIONS[name].kinks == (0.0,)
    assert A.ACTIVATIONS["sigmoid"].saturating and A.ACTIVATIONS["tanh"].saturating
    assert A.ACTIVATIONS["relu"].dies and not A.ACTIVATIONS["leaky_relu"].dies
    assert A.ACTIVATIONS["leaky_relu"].defaults == {"alpha": 0.01}
    assert A.ACTIVATIONS["elu"].defaults == {"alpha": 1.0}


def test_saturation_mask_threshold():
    # Sigmoid units saturate where sigma'(z) < 0.05 * 1/4, i.e. |z| > 4.36; tanh where |z| > 2.18.
    z = np.array([[-10.0, -4.4, -4.3, 0.0, 4.3, 4.4, 10.0]])
    np.testing.assert_array_equal(A.saturation_mask("sigmoid", z), [[1, 1, 0, 0, 0, 1, 1]])
    z = np.array([-3.0, -2.2, -2.1, 0.0, 2.1, 2.2, 3.0])
    np.testing.assert_array_equal(A.saturation_mask("tanh", z), [1, 1, 0, 0, 0, 1, 1])
    for name in ("relu", "leaky_relu", "elu", "selu", "linear"):
        assert not A.saturation_mask(name, np.linspace(-1e3, 1e3, 11)).any()
    with pytest.raises(ValueError, match=r"^threshold must lie in \(0, 1\); got 1.5$"):
        A.saturation_mask("sigmoid", z, threshold=1.5)
    # 0 is excluded too (no unit could ever count as saturated).
    with pytest.raises(ValueError, match=r"^threshold must lie in \(0, 1\); got 0.0$"):
        A.saturation_mask("sigmoid", z, threshold=0.0)


def test_saturation_mask_is_strict_and_boolean():
    # "Below" the threshold is strict: a slope equal to threshold * max_slope is not saturated.
    # sigma'(3) * 4 and tanh'(1) are thresholds whose product with the max slope (1/4, 1) is exact.
    assert not A.saturation_mask("sigmoid", np.array([3.0]), threshold=float(A.sigmoid_grad(3.0)) * 4)[0]
    assert A.saturation_mask("sigmoid", np.array([3.0 + 1e-12]), threshold=float(A.sigmoid_grad(3.0)) * 4)[0]
    assert not A.saturation_mask("tanh", np.array([-1.0]), threshold=float(A.tanh_grad(1.0)))[0]
    for name in sorted(A.ACTIVATIONS):
        assert A.saturation_mask(name, np.zeros((2, 3))).dtype == bool
    # Parameters reach the activation, which refuses ones it does not take.
    with pytest.raises(TypeError, match=r"'sigmoid' takes no parameter alpha; allowed: none"):
        A.saturation_mask("sigmoid", np.zeros(2), alpha=0.1)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"activation='relux' is not known; choose one of: .*leaky_relu.*relu"):
        A.get_activation("relux")
    with pytest.raises(TypeError, match="activation"):
        A.get_activation(3)
    with pytest.raises(TypeError, match=r"'relu' takes no parameter alpha"):
        A.ACTIVATIONS["relu"](np.zeros(2), alpha=0.1)
    with pytest.raises(TypeError, match=r"takes no parameter beta; allowed: alpha$"):
        A.ACTIVATIONS["elu"](np.zeros(2), beta=0.1)
    with pytest.raises(TypeError, match=r"^activation 'relu' takes no parameter alpha, beta; allowed: none$"):
        A.ACTIVATIONS["relu"].grad(np.zeros(2), beta=0.1, alpha=0.2)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        A.ACTIVATIONS["leaky_relu"](np.zeros(2), alpha=-0.1)


@pytest.mark.parametrize("name", sorted(A.ACTIVATIONS))
def test_dtype_and_shape_preserved(name):
    z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    act = A.ACTIVATIONS[name]
    assert act(z).dtype == np.float32 and act(z).shape == (3, 4)
    assert act.grad(z).dtype == np.float32
    assert act(np.arange(-2, 3)).dtype == np.float64  # integers are promoted


def test_tanh_and_sigmoid_slopes_are_bit_for_bit_their_formulas():
    """The slopes are computed in place (one array, no temporaries): the numbers are exactly those of
    4 e / ((1 + e)(1 + e)) with e = exp(-2|z|) and e / ((1 + e)(1 + e)) with e = exp(-|z|), and a scalar stays a scalar."""
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        z = (rng.standard_normal(4096) * np.repeat([1e-30, 1e-3, 1.0, 10.0, 100.0, 1e4], 4096 // 6 + 1)[:4096]
             ).astype(dtype)
        z[:5] = [0.0, -0.0, np.inf, -np.inf, 50.0]
        with np.errstate(under="ignore"):
            e2, e1 = np.exp(-2.0 * np.abs(z)), np.exp(-np.abs(z))
            np.testing.assert_array_equal(A.tanh_grad(z), 4.0 * e2 / ((1.0 + e2) * (1.0 + e2)))
            np.testing.assert_array_equal(A.sigmoid_grad(z), e1 / ((1.0 + e1) * (1.0 + e1)))
        assert A.tanh_grad(z).dtype == A.sigmoid_grad(z).dtype == dtype
    for z in (0.5, np.float32(0.5), np.array(0.5)):
        assert np.ndim(A.tanh_grad(z)) == np.ndim(A.sigmoid_grad(z)) == 0
        assert A.tanh_grad(z) == pytest.approx(1.0 - np.tanh(0.5) ** 2, rel=1e-6)
