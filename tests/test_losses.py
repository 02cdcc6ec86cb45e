"""Losses: values, gradients (central finite differences), stability, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import TOL, elementwise_error, fd_noise
from gradviz.losses import log_softmax, mean_squared_error, softmax, softmax_cross_entropy


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-wise relative error, robust to entries that are (nearly) zero."""
    denom = max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b) / denom)


#: Step of the central differences below.
H_FD = 1e-5


def numeric_grad(f, x: np.ndarray, h: float = H_FD) -> np.ndarray:
    """Central differences of the scalar function f at x (float64)."""
    x = x.astype(np.float64).copy()
    grad = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = f(x)
        x[idx] = old - h
        f_minus = f(x)
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def naive_cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


# ---------------------------------------------------------------- softmax cross-entropy


def test_cross_entropy_known_value():
    # Two equal logits: p = 1/2 each, loss = log 2; gradient (p - onehot) / N.
    loss, d = softmax_cross_entropy(np.zeros((1, 2)), np.array([0]))
    assert loss == pytest.approx(np.log(2), rel=1e-15, abs=0)
    np.testing.assert_allclose(d, [[-0.5, 0.5]], rtol=0, atol=1e-15)
    # Uniform over C classes: loss = log C whatever the label.
    loss, _ = softmax_cross_entropy(np.full((3, 10), 7.0), np.array([0, 4, 9]))
    assert loss == pytest.approx(np.log(10), rel=1e-14, abs=0)


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(1, 6),
    c=st.integers(2, 7),
    scale=st.floats(0.1, 20.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_cross_entropy_gradient_matches_finite_differences(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    # A random upstream weight w: d(w * loss)/dz must equal w * dlogits.
    w = rng.uniform(0.5, 2.0)
    _, analytic = softmax_cross_entropy(z, y)
    numeric = numeric_grad(lambda x: w * softmax_cross_entropy(x, y)[0], z)
    assert rel_error(w * analytic, numeric) < 1e-6
    # Entry by entry too (the norm-wise error cannot see a wrong small probability). The loss is
    # logsumexp(z) - z_y per row, terms of size up to max|z|, so its rounding is ~eps * w * 2 max|z|;
    # entries below what the step resolves must agree to within that noise.
    noise = fd_noise(w * (2.0 * np.abs(z).max() + np.log(c)), H_FD, extrapolated=False)
    assert elementwise_error(w * analytic, numeric, noise / TOL) < TOL


def test_cross_entropy_gradient_rows_sum_to_zero(rng):
    z = rng.standard_normal((8, 5)) * 3
    y = rng.integers(0, 5, size=8)
    _, d = softmax_cross_entropy(z, y)
    # softmax sums to 1 and the one-hot to 1, so every row of the gradient sums to 0 (absolutely: the
    # target is 0; five entries of size <= 1/8 round to ~1e-17 each).
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=1e-15)
    # The true class is the only negative entry of its row.
    assert np.all(d[np.arange(8), y] < 0)
    d_other = d.copy()
    d_other[np.arange(8), y] = 0
    assert np.all(d_other >= 0)


def test_cross_entropy_matches_naive_on_moderate_logits(rng):
    z = rng.uniform(-10, 10, size=(32, 10))
    y = rng.integers(0, 10, size=32)
    loss, _ = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(naive_cross_entropy(z, y), rel=1e-12)


@pytest.mark.parametrize("big", [1e4, 1e8, 1e300])
def test_cross_entropy_stable_for_huge_logits_without_warnings(big):
    z = np.array([[big, 0.0, -big], [0.0, big, 0.0]])
    y = np.array([1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = softmax_cross_entropy(z, y)
        probs = softmax(z)
    # Row 0: the true class is `big` below the winner, loss = big (+ log(1 + tiny));
    # row 1: the true class wins by `big`, loss = 0.
    assert np.isfinite(loss)
    assert loss == pytest.approx(big / 2, rel=1e-12)
    # The zeros are exp(-big) or smaller, 0 in float64, and need an absolute tolerance; the non-zero
    # entries are exact, so no relative slack (the default rtol=1e-7 would let d be 1e-7 off).
    np.testing.assert_allclose(d, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(probs, [[1, 0, 0], [0, 1, 0]], rtol=0, atol=1e-15)
    # The naive formula is exactly what fails here.
    if big >= 1e4:
        with np.errstate(all="ignore"):
            assert not np.isfinite(naive_cross_entropy(z, y))


def test_cross_entropy_reports_nonfinite_logits_as_nan_without_warning():
    z = np.array([[np.inf, 0.0], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = softmax_cross_entropy(z, np.array([0, 1]))
    assert np.isnan(loss)
    assert d.shape == (2, 2)


@settings(deadline=None, max_examples=30)
@given(shift=st.floats(-1e6, 1e6), seed=st.integers(0, 2**32 - 1))
def test_softmax_invariant_to_row_shift(shift, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((4, 6))
    # Relative, entry by entry: z + shift rounds each logit by up to |shift| eps/2 <= 1.2e-10, which moves
    # every probability by a factor within exp(+-2.4e-10). (atol=1e-9 would accept any small probability.)
    np.testing.assert_allclose(softmax(z + shift), softmax(z), rtol=1e-9, atol=0)
    np.testing.assert_allclose(softmax(z).sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.exp(log_softmax(z)), softmax(z), rtol=1e-13)


def test_cross_entropy_keeps_float32(rng):
    z = rng.standard_normal((4, 3)).astype(np.float32)
    loss, d = softmax_cross_entropy(z, np.array([0, 1, 2, 0]))
    assert d.dtype == np.float32
    assert loss == pytest.approx(naive_cross_entropy(z.astype(np.float64), np.array([0, 1, 2, 0])), rel=1e-6)


def test_cross_entropy_accepts_integral_float_labels():
    z = np.zeros((2, 3))
    assert softmax_cross_entropy(z, np.array([0.0, 2.0]))[0] == pytest.approx(np.log(3))


@pytest.mark.parametrize(
    ("logits", "y", "error", "words"),
    [
        (np.zeros(3), np.array([0]), ValueError, ["logits", "2-D", "(3,)"]),
        (np.zeros((2, 3)), np.array([0]), ValueError, ["y", "(2,)", "(1,)"]),
        (np.zeros((2, 3)), np.array([[0], [1]]), ValueError, ["y", "(2,)"]),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, ["y", "0..2", "3"]),
        (np.zeros((2, 3)), np.array([-1, 0]), ValueError, ["y", "0..2", "-1"]),
        (np.zeros((2, 3)), np.array([0.5, 1.0]), TypeError, ["y", "integer"]),
        (np.array([["a", "b"]]), np.array([0]), TypeError, ["logits"]),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), ValueError, ["logits", "at least one"]),
    ],
)
def test_cross_entropy_bad_input_names_the_argument(logits, y, error, words):
    with pytest.raises(error) as info:
        softmax_cross_entropy(logits, y)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- mean squared error


def test_mse_hand_computed():
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[0.0, 0.0], [1.0, 1.0]])
    loss, d = mean_squared_error(pred, target)
    # 0.5 * (1 + 4 + 4 + 9) / 2 = 4.5 ; gradient (pred - target) / N with N = 2.
    assert loss == 4.5
    np.testing.assert_array_equal(d, [[0.5, 1.0], [1.0, 1.5]])


def test_mse_one_dimensional_inputs_keep_shape():
    loss, d = mean_squared_error(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    assert loss == pytest.approx(0.5 * (1 + 9) / 2)
    assert d.shape == (2,)
    np.testing.assert_array_equal(d, [0.5, 1.5])


@settings(deadline=None, max_examples=30)
@given(n=st.integers(1, 6), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_mse_gradient_matches_finite_differences(n, k, seed):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((n, k))
    target = rng.standard_normal((n, k))
    _, analytic = mean_squared_error(pred, target)
    numeric = numeric_grad(lambda p: mean_squared_error(p, target)[0], pred)
    assert rel_error(analytic, numeric) < 1e-6
    noise = fd_noise(0.5 * np.sum((np.abs(pred) + np.abs(target)) ** 2) / n, H_FD, extrapolated=False)
    assert elementwise_error(analytic, numeric, noise / TOL) < TOL


def test_mse_zero_at_target_and_diverged_without_warning(rng):
    x = rng.standard_normal((5, 2))
    loss, d = mean_squared_error(x, x)
    assert loss == 0.0 and not d.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, _ = mean_squared_error(np.array([[1e300]]), np.array([[-1e300]]))
    assert loss == np.inf


def test_mse_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"target.*\(3, 1\).*\(3,\)"):
        mean_squared_error(np.zeros((3, 1)), np.zeros(3))
