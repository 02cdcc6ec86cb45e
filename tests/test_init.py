"""Initializers: variance formulas, sampled variances within a derived tolerance, bounds, orthogonality,
aliases, He vs Glorot on a deep ReLU stack, and error messages."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz import init as I
from gradviz.network import MLP

FAST = settings(max_examples=20, deadline=None)

# Kurtosis kappa = E[w^4] / sigma^4 of the two families: 3 for the normal, 9/5 for U[-l, l]
# (E[w^4] = l^4 / 5, sigma^2 = l^2 / 3).
KURTOSIS = {"normal": 3.0, "uniform": 9.0 / 5.0}


def sample_variance_sd(var: float, n: int, kurtosis: float) -> float:
    """Standard deviation of the unbiased sample variance s^2 of n i.i.d. draws of variance ``var``.

    Var(s^2) = sigma^4 (kappa - (n - 3) / (n - 1)) / n (e.g. Cramer 1946, eq. 27.7.1).
    For the normal (kappa = 3) this is 2 sigma^4 / (n - 1); for the uniform (kappa = 9/5)
    it is about 0.8 sigma^4 / n.
    """
    return var * math.sqrt((kurtosis - (n - 3) / (n - 1)) / n)


def test_sample_variance_sd_known_cases():
    n = 1000
    assert sample_variance_sd(2.0, n, 3.0) == pytest.approx(math.sqrt(2 * 2.0**2 / (n - 1)), rel=1e-12, abs=0)
    assert sample_variance_sd(1.0, n, 9 / 5) == pytest.approx(math.sqrt(0.8 / n), rel=2e-3)


def test_variance_formulas_by_hand():
    fi, fo = 300, 100
    assert I.weight_variance("glorot_uniform", fi, fo) == pytest.approx(2 / (fi + fo))
    assert I.weight_variance("glorot_normal", fi, fo) == pytest.approx(2 / (fi + fo))
    assert I.weight_variance("he_normal", fi, fo) == pytest.approx(2 / fi)
    assert I.weight_variance("he_uniform", fi, fo, mode="fan_out") == pytest.approx(2 / fo)
    assert I.weight_variance("he_normal", fi, fo, negative_slope=0.2) == pytest.approx(2 / ((1 + 0.04) * fi))
    assert I.weight_variance("lecun_normal", fi, fo) == pytest.approx(1 / fi)
    assert I.weight_variance("lecun_uniform", fi, fo, gain=3.0) == pytest.approx(9 / fi)
    assert I.weight_variance("normal", fi, fo) == pytest.approx(1e-4)  # default std 0.01
    assert I.weight_variance("normal", fi, fo, std=0.5, gain=2.0) == pytest.approx(1.0)
    assert I.weight_variance("uniform", fi, fo) == pytest.approx(1 / (3 * fi))  # limit 1/sqrt(fan_in)
    assert I.weight_variance("uniform", fi, fo, limit=0.3) == pytest.approx(0.09 / 3)
    assert I.weight_variance("orthogonal", fi, fo, gain=2.0) == pytest.approx(4 / fi)
    assert I.weight_variance("zeros", fi, fo) == 0.0
    assert I.weight_variance("constant", fi, fo, value=3.0) == 0.0
    # Glorot uniform limit is sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010, eq. 16).
    w = I.initialize("glorot_uniform", (fi, fo), rng=0)
    assert np.abs(w).max() <= math.sqrt(6 / (fi + fo))


VARIANCE_SCALING = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
                    "normal", "uniform"]


@pytest.mark.parametrize("name", VARIANCE_SCALING)
@FAST
@given(
    fan_in=st.integers(20, 300),
    fan_out=st.integers(20, 300),
    gain=st.floats(0.1, 5.0),
    mode=st.sampled_from([None, "fan_in", "fan_out", "fan_avg"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_sample_variance_matches_formula(name, fan_in, fan_out, gain, mode, seed):
    kw = {} if name in ("normal", "uniform") else {"mode": mode}
    w = I.initialize(name, (fan_in, fan_out), rng=seed, gain=gain, **kw)
    assert w.shape == (fan_in, fan_out) and w.dtype == np.float64
    var = I.weight_variance(name, fan_in, fan_out, gain=gain, **kw)
    n = w.size
    sd = sample_variance_sd(var, n, KURTOSIS["uniform" if name.endswith("uniform") else "normal"])
    # 6 standard deviations: P(false alarm) < 2e-9 per draw (normal approximation, n >= 400).
    assert abs(w.var(ddof=1) - var) < 6 * sd
    # The mean is 0: its standard error is sqrt(var / n).
    assert abs(w.mean()) < 6 * math.sqrt(var / n)
    if name.endswith("uniform"):
        limit = math.sqrt(3 * var)
        assert np.abs(w).max() <= limit
        # ... and nearly reached: P(max |w| < 0.95 limit) = 0.95^n <= 0.95^400 ~ 1e-9.
        assert np.abs(w).max() > 0.95 * limit


@FAST
@given(fan_in=st.integers(1, 40), fan_out=st.integers(1, 40), gain=st.floats(0.1, 3.0), seed=st.integers(0, 10**6))
def test_orthogonal_is_orthogonal(fan_in, fan_out, gain, seed):
    w = I.initialize("orthogonal", (fan_in, fan_out), rng=seed, gain=gain)
    assert w.shape == (fan_in, fan_out)
    # Off the diagonal the target is 0, so the tolerance is absolute: a dot product of two orthonormal
    # columns rounds to ~fan * eps * gain^2 <= 1e-14 gain^2; a non-orthogonal W is off by ~gain^2 / sqrt(fan).
    if fan_in >= fan_out:  # tall: orthonormal columns
        np.testing.assert_allclose(w.T @ w, gain**2 * np.eye(fan_out), atol=1e-12 * max(1.0, gain**2))
    if fan_in <= fan_out:  # wide: orthonormal rows
        np.testing.assert_allclose(w @ w.T, gain**2 * np.eye(fan_in), atol=1e-12 * max(1.0, gain**2))
    # The mean square is exactly the documented "variance" gain^2 / max(fan_in, fan_out).
    assert np.mean(w**2) == pytest.approx(I.weight_variance("orthogonal", fan_in, fan_out, gain=gain), rel=1e-12, abs=0)


def test_orthogonal_is_not_biased_in_sign():
    # With the signs of diag(R) folded in (Mezzadri 2007) the diagonal of Q is not all positive.
    diag = np.concatenate([np.diag(I.initialize("orthogonal", (8, 8), rng=s)) for s in range(50)])
    assert 0.3 < np.mean(diag > 0) < 0.7


@pytest.mark.parametrize("alias, canonical", sorted(I.ALIASES.items()))
def test_aliases_equal_canonical(alias, canonical):
    a = I.initialize(alias, (30, 20), rng=7, gain=1.3)
    b = I.initialize(canonical, (30, 20), rng=7, gain=1.3)
    np.testing.assert_array_equal(a, b)
    assert I.weight_variance(alias, 30, 20) == I.weight_variance(canonical, 30, 20)


def test_zeros_and_constant():
    np.testing.assert_array_equal(I.initialize("zeros", (3, 4)), np.zeros((3, 4)))
    np.testing.assert_array_equal(I.initialize("constant", (3, 4), value=0.5), np.full((3, 4), 0.5))
    np.testing.assert_array_equal(I.initialize("constant", (3, 4)), np.zeros((3, 4)))  # value defaults to 0
    # They draw nothing: an MLP builds every layer from one generator, so a zeros layer must not shift
    # the weights of the layers after it. (And zeros are +0.0, not 0 * a normal draw.)
    for name, kw in (("zeros", {}), ("constant", {"value": 0.5})):
        g = np.random.default_rng(5)
        w = I.initialize(name, (3, 4), rng=g, **kw)
        assert g.random() == np.random.default_rng(5).random(), name
    assert not np.signbit(I.initialize("zeros", (3, 4), rng=0)).any()


def test_initialize_takes_weight_variance_defaults():
    # initialize's docstring refers to weight_variance for its parameters: the defaults are the same.
    wv = inspect.signature(I.weight_variance).parameters
    ini = inspect.signature(I.initialize).parameters
    shared = [k for k in wv if k != "name" and wv[k].default is not inspect.Parameter.empty]
    assert shared == ["gain", "mode", "negative_slope", "std", "limit", "value"]
    for k in shared:
        assert ini[k].default == wv[k].default, k
    assert wv["value"].default == 0.0 and wv["gain"].default == 1.0


@pytest.mark.parametrize("shape", [(5, 5), (6, 3), (3, 6)])
def test_orthogonal_follows_the_documented_recipe(shape):
    # The Q factor of the QR decomposition of a Gaussian (big x small) matrix, columns signed by
    # R's diagonal (Mezzadri 2007); transposed for a wide matrix, as drawn for a square one.
    big, small = max(shape), min(shape)
    q, r = np.linalg.qr(np.random.default_rng(11).standard_normal((big, small)))
    q = q * np.sign(np.diag(r))
    expected = q if shape[0] >= shape[1] else q.T
    np.testing.assert_array_equal(I.initialize("orthogonal", shape, rng=11, gain=1.5), 1.5 * expected)


@pytest.mark.parametrize("name", I.INITIALIZERS)
def test_same_seed_same_bits_and_dtype(name):
    a = I.initialize(name, (17, 9), rng=3, dtype=np.float32)
    b = I.initialize(name, (17, 9), rng=np.random.default_rng(3), dtype=np.float32)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    if name not in ("zeros", "constant"):
        assert not np.array_equal(a, I.initialize(name, (17, 9), rng=4, dtype=np.float32))


def test_compute_fans():
    assert I.compute_fans((3, 5)) == (3, 5)
    with pytest.raises(ValueError, match="shape must be a pair"):
        I.compute_fans((3, 5, 7))
    with pytest.raises(ValueError, match="fan_in must be a positive integer"):
        I.compute_fans((0, 5))
    with pytest.raises(TypeError, match="fan_out must be a positive integer"):
        I.compute_fans((3, 2.5))


def test_recommended_gain_table():
    assert I.recommended_gain("sigmoid") == 1.0
    assert I.recommended_gain("linear") == 1.0
    assert I.recommended_gain("tanh") == 5 / 3
    assert I.recommended_gain("relu") == math.sqrt(2)
    assert I.recommended_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert I.recommended_gain("leaky_relu", alpha=0.2) == math.sqrt(2 / 1.04)
    assert I.recommended_gain("selu") == 0.75
    assert I.recommended_gain("elu") == math.sqrt(2)  # no PyTorch entry: ReLU's, for the positive half
    assert I.recommended_init("sigmoid") == "glorot_uniform"
    assert I.recommended_init("tanh") == "glorot_uniform"
    assert I.recommended_init("linear") == "glorot_uniform"
    assert I.recommended_init("elu") == "he_normal" and I.recommended_init("leaky_relu") == "he_normal"
    assert I.recommended_init("relu") == "he_normal"
    assert I.recommended_init("selu") == "lecun_normal"
    with pytest.raises(ValueError, match="activation='softplus' is not known"):
        I.recommended_gain("softplus")


def _relu_second_moments(init, width=256, batch=256, depth=10, seed=0):
    # E[a^2] per layer, relative to the input's E[x^2] (standard-normal input, E[x^2] = 1).
    net = MLP(width, depth=depth, width=width, activation="relu", init=init, n_outputs=None, seed=seed)
    x = np.random.default_rng(seed + 99).standard_normal((batch, width))
    net.forward(x, record=True)
    m2 = np.array([np.mean(x**2)] + [np.mean(r["a"] ** 2) for r in net.records])
    return m2[1:] / m2[:-1]  # per-layer ratio; layer 1 compares a^1 with x


def test_he_keeps_relu_second_moment_glorot_halves_it():
    # fan_in = fan_out = width. He: Var(W) = 2/width, so Var(z) = 2 E[a_prev^2] and
    # E[relu(z)^2] = Var(z)/2 = E[a_prev^2]: ratio 1 (He et al. 2015, eq. 10).
    # Glorot: Var(W) = 2/(2 width) = 1/width: ratio 1/2 per layer.
    # Tolerance: each ratio is an average over width*batch = 65536 values, but the units of a layer
    # share the same weights, so the effective sample is the `width` units; a unit's E[a^2] given
    # the previous layer is Var(z_j)/2 with Var(z_j) ~ sigma^2 chi^2_width / width, relative
    # sd sqrt(2/width) ~ 0.09 per unit, averaged over 256 units -> sd 0.0055 of the layer ratio.
    # Over 10 layers the geometric mean has sd <= 0.0055 too; 6 sd ~ 0.035, use 0.05.
    he = _relu_second_moments("he_normal")
    glorot = _relu_second_moments("glorot_normal")
    assert abs(np.exp(np.mean(np.log(he))) - 1.0) < 0.05, he
    assert abs(np.exp(np.mean(np.log(glorot))) - 0.5) < 0.05 * 0.5, glorot
    # Layer by layer (finite batch: each ratio also carries the sampling noise of 256 examples).
    assert np.all(np.abs(he - 1.0) < 0.2), he
    assert np.all(np.abs(glorot - 0.5) < 0.1), glorot
    # So after 10 layers: He keeps ~1, Glorot has lost a factor ~2^10.
    assert np.prod(glorot) < 2e-3 < 0.5 < np.prod(he) < 2


# ---------------------------------------------------------------- errors


def test_errors_name_argument_and_list_choices():
    with pytest.raises(ValueError, match=r"init='glorot' is not known; choose one of: .*glorot_normal, glorot_uniform"):
        I.initialize("glorot", (3, 3))
    with pytest.raises(ValueError, match=r"init='kaiming' is not known; choose one of: .*kaiming_normal"):
        I.weight_variance("kaiming", 3, 3)
    with pytest.raises(TypeError, match=r"init must be a string"):
        I.initialize(None, (3, 3))
    with pytest.raises(ValueError, match=r"mode='fan_sum' is not known; choose one of: fan_avg, fan_in, fan_out"):
        I.initialize("he_normal", (3, 3), mode="fan_sum")
    with pytest.raises(ValueError, match="gain must be >= 0; got -1.0"):
        I.initialize("he_normal", (3, 3), gain=-1.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        I.initialize("normal", (3, 3), std=-0.1)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        I.initialize("uniform", (3, 3), limit=-0.1)
    with pytest.raises(ValueError, match="negative_slope must be >= 0"):
        I.initialize("he_uniform", (3, 3), negative_slope=-0.1)
    with pytest.raises(ValueError, match="value must be finite"):
        I.initialize("constant", (3, 3), value=float("nan"))
    with pytest.raises(ValueError, match="fan_out must be a positive integer"):
        I.initialize("he_normal", (3, 0))
    with pytest.raises(ValueError, match=r"^fan_in must be a positive integer \(>= 1\); got 0"):
        I.weight_variance("he_normal", 0, 3)
    with pytest.raises(ValueError, match=r"^fan_out must be a positive integer \(>= 1\); got 0"):
        I.weight_variance("he_normal", 3, 0)
    with pytest.raises(ValueError, match="^alpha must be >= 0; got -0.1"):
        I.recommended_gain("leaky_relu", alpha=-0.1)
    with pytest.raises(TypeError, match="seed/rng must be an int, None or a numpy.random.Generator"):
        I.initialize("he_normal", (3, 3), rng="zero")
