"""gradviz.gradcheck: the finite-difference check that learners (chapter 06) and the engine tests use."""

import doctest

import numpy as np
import pytest

import gradviz as gv
from gradviz import gradcheck
from gradviz.layers import BatchNorm


def test_module_docstring_example_runs():
    assert doctest.testmod(gradcheck, raise_on_error=True).failed == 0
    assert gv.gradcheck is gradcheck  # a lazy submodule of the package


def test_numerical_gradient_of_a_quadratic_is_exact_to_rounding_and_restores_x():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    before = x.copy()
    num = gradcheck.numerical_gradient(lambda: x @ A @ x, x)
    np.testing.assert_array_equal(x, before)  # restored bit for bit
    # central differences have no truncation error on a quadratic: only rounding, ~ eps * |L| / h
    np.testing.assert_allclose(num, (A + A.T) @ x, rtol=0, atol=1e-8)
    assert num.shape == x.shape and num.dtype == np.float64


def test_richardson_cancels_the_h_squared_term():
    x = np.array([0.7, -1.3])
    exact = 3 * x ** 2 + np.cos(x)
    f = lambda: float(np.sum(x ** 3 + np.sin(x)))  # noqa: E731
    plain = gradcheck.numerical_gradient(f, x, h=1e-2)
    extrapolated = gradcheck.numerical_gradient(f, x, h=1e-2, richardson=True)
    err_plain, err_rich = np.abs(plain - exact).max(), np.abs(extrapolated - exact).max()
    assert 1e-5 < err_plain < 1e-3  # h^2 = 1e-4 times f''' / 6
    assert err_rich < 1e-8


def test_entries_that_straddle_a_kink_are_skipped():
    x = np.array([1.0, 3e-7, -2.0])  # the middle entry is closer to ReLU's kink than h = 1e-6
    num = gradcheck.numerical_gradient(lambda: (np.sum(np.maximum(x, 0.0)), x > 0), x)
    assert num[0] == pytest.approx(1.0, abs=1e-9) and np.isnan(num[1]) and num[2] == 0.0
    moved = gradcheck.away_from_kinks(x)
    np.testing.assert_allclose(moved, [1.0, 1e-5, -2.0], rtol=1e-15)
    np.testing.assert_allclose(gradcheck.away_from_kinks([-3e-7, 0.0, 0.5], margin=0.01), [-0.01, 0.01, 0.5])
    num = gradcheck.numerical_gradient(lambda: (np.sum(np.maximum(moved, 0.0)), moved > 0), moved)
    np.testing.assert_allclose(num, [1.0, 1.0, 0.0], atol=1e-9)


def test_relative_error_is_entry_wise():
    a = np.array([100.0, 1e-3])
    n = np.array([100.0, 2e-3])  # the small entry is wrong by 100%
    assert gradcheck.relative_error(a, n) == pytest.approx(1 / 3)
    # measured against the largest entry, the same mistake would look like 5e-6
    assert np.max(np.abs(a - n)) / np.max(np.abs(a) + np.abs(n)) < 1e-5
    assert gradcheck.relative_error(a, a) == 0.0
    # NaN (skipped) entries are left out; all skipped: 0
    assert gradcheck.relative_error(a, [100.0, np.nan]) == 0.0
    assert gradcheck.relative_error(a, [np.nan, np.nan]) == 0.0
    # the floor: an entry below what the finite difference resolves is held to an absolute error
    assert gradcheck.relative_error([1.0, 1e-12], [1.0, 3e-12]) == pytest.approx(0.5)
    assert gradcheck.relative_error([1.0, 1e-12], [1.0, 3e-12], floor=1e-6) == pytest.approx(2e-6)
    # zeros on both sides: 0, not 0/0
    assert gradcheck.relative_error(np.zeros(3), np.zeros(3)) == 0.0
    # the entries themselves, NaN where skipped
    errs = gradcheck.relative_errors(a, np.array([101.0, np.nan]))
    assert errs[0] == pytest.approx(1 / 201) and np.isnan(errs[1])


def test_relative_error_and_numerical_gradient_errors():
    with pytest.raises(ValueError, match="same shape"):
        gradcheck.relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="not finite"):
        gradcheck.relative_error([np.inf], [1.0])
    with pytest.raises(TypeError, match="float64 numpy array"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))
    with pytest.raises(TypeError, match="float64 numpy array"):
        gradcheck.numerical_gradient(lambda: 0.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="h must be"):
        gradcheck.numerical_gradient(lambda: 0.0, np.zeros(2), h=0.0)


def test_rounding_noise():
    assert gradcheck.rounding_noise(1.0, 1e-6) == pytest.approx(10 * 2.220446e-16 / 1e-6, rel=1e-6, abs=0)
    np.testing.assert_allclose(gradcheck.rounding_noise(np.array([1.0, 2.0])), [2.22e-9, 4.44e-9], rtol=1e-3)
    assert gradcheck.rounding_noise(2.0, 1e-4, richardson=True) == pytest.approx(3 * gradcheck.rounding_noise(2.0, 1e-4), abs=0)


def test_a_sum_loss_is_vacuous_for_batch_norm_and_a_random_weighting_is_not():
    # The PITFALLS rule the module docstring states: L = sum(BN(x)) does not depend on x.
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(6, 3))
    bn = BatchNorm(3)
    bn.params["gamma"][:] = [0.5, 2.0, -1.0]
    num_sum = gradcheck.numerical_gradient(lambda: np.sum(bn.forward(x, training=True)), x)
    assert np.abs(num_sum).max() < 1e-8
    # A backward pass that forgets how x moves the variance still returns 0 for dL/dx of sum(out) ...
    def forgetful_backward(dout):
        x_hat, inv_std = (x - x.mean(0)) / np.sqrt(x.var(0) + bn.eps), 1 / np.sqrt(x.var(0) + bn.eps)
        dx_hat = dout * bn.params["gamma"]
        return inv_std * (dx_hat - dx_hat.mean(axis=0)) + 0 * x_hat

    assert np.abs(forgetful_backward(np.ones_like(x))).max() < 1e-12
    # ... and a random weighting exposes it, while the layer's own backward passes.
    R = rng.standard_normal(x.shape)
    num = gradcheck.numerical_gradient(lambda: np.sum(R * bn.forward(x, training=True)), x)
    bn.forward(x, training=True)
    assert gradcheck.relative_error(bn.backward(R), num) < 1e-7
    assert gradcheck.relative_error(forgetful_backward(R), num) > 0.1
