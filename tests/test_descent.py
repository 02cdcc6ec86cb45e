"""Gradient descent on the linear-regression bowl (chapter 01): cost, gradient, Hessian,
critical learning rates, the run, the classifier, and silent overflow."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradviz.data import linear_regression_data
from gradviz.descent import (
    REGIMES,
    DescentRun,
    classify_run,
    cost_grid,
    critical_learning_rates,
    gradient_descent,
    hessian,
    least_squares,
    mse_cost,
    mse_gradient,
    sweep_learning_rates,
)
from gradviz.losses import mean_squared_error


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = linear_regression_data(n_samples=100, seed=0)
    return X, y


@pytest.fixture(scope="module")
def rates(data):
    return critical_learning_rates(data[0])


# ----------------------------------------------------------------------------- cost, gradient, Hessian


def test_cost_matches_the_package_mse(data):
    X, y = data
    for w, b in [(0.0, 0.0), (2.0, -1.0), (-3.5, 4.25)]:
        expected, _ = mean_squared_error(w * X[:, 0] + b, y)
        assert mse_cost(w, b, X, y) == pytest.approx(expected, rel=1e-14, abs=0)


def test_cost_by_hand():
    X = np.array([[0.0], [1.0], [2.0]])
    y = np.array([1.0, 1.0, 5.0])
    # residuals of w=1, b=1: (1-1, 2-1, 3-5) = (0, 1, -2); J = (0 + 1 + 4) / (2 * 3)
    assert mse_cost(1.0, 1.0, X, y) == pytest.approx(5 / 6, rel=1e-15, abs=0)
    assert mse_gradient(1.0, 1.0, X, y) == pytest.approx(((0 + 1 - 4) / 3, (0 + 1 - 2) / 3), rel=1e-15, abs=0)


def test_cost_broadcasts_over_a_grid(data):
    X, y = data
    W, B, J = cost_grid(X, y, (-1, 3), (-2, 1), n=7)
    assert W.shape == B.shape == J.shape == (7, 7)
    assert J[3, 5] == pytest.approx(mse_cost(W[3, 5], B[3, 5], X, y), rel=1e-14, abs=0)
    assert W[0, -1] == 3 and B[-1, 0] == 1


@pytest.mark.parametrize("point", [(0.3, -0.7), (-2.0, 3.0), (5.0, 5.0)])
def test_gradient_matches_central_differences(data, point):
    X, y = data
    w, b = point
    h = 1e-6
    num = (
        (mse_cost(w + h, b, X, y) - mse_cost(w - h, b, X, y)) / (2 * h),
        (mse_cost(w, b + h, X, y) - mse_cost(w, b - h, X, y)) / (2 * h),
    )
    ana = mse_gradient(w, b, X, y)
    # J is quadratic: central differences are exact up to rounding.
    np.testing.assert_allclose(ana, num, rtol=1e-7, atol=1e-9)


def test_hessian_matches_differences_of_the_gradient(data):
    X, y = data
    h = 1e-4
    H_num = np.empty((2, 2))
    for j, (dw, db) in enumerate([(h, 0), (0, h)]):
        gp = np.array(mse_gradient(0.5 + dw, 0.5 + db, X, y))
        gm = np.array(mse_gradient(0.5 - dw, 0.5 - db, X, y))
        H_num[:, j] = (gp - gm) / (2 * h)
    np.testing.assert_allclose(hessian(X), H_num, rtol=1e-8)
    x = X[:, 0]
    np.testing.assert_allclose(hessian(X), [[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]], rtol=1e-15)


def test_critical_rates_come_from_the_eigenvalues(data, rates):
    lam = np.linalg.eigvalsh(hessian(data[0]))
    assert rates.lambda_min == pytest.approx(lam[0]) and rates.lambda_max == pytest.approx(lam[1])
    assert rates.lr_monotone == pytest.approx(1 / lam[1])
    assert rates.lr_max == pytest.approx(2 / lam[1])
    assert rates.lr_best == pytest.approx(2 / (lam[0] + lam[1]))
    assert rates.lr_monotone < rates.lr_best < rates.lr_max
    assert "lambda_max" in str(rates)


# ----------------------------------------------------------------------------- the run


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_below_the_critical_rate_descent_reaches_lstsq(data, rates, fraction):
    X, y = data
    run = gradient_descent(X, y, lr=fraction * rates.lr_max, n_steps=5000)
    w_ref, b_ref = np.linalg.lstsq(np.column_stack([X[:, 0], np.ones(len(y))]), y, rcond=None)[0]
    assert run.overflow_step is None
    np.testing.assert_allclose(run.params[-1], [w_ref, b_ref], rtol=1e-8, atol=1e-10)
    assert least_squares(X, y) == pytest.approx((w_ref, b_ref), rel=1e-12)


@pytest.mark.parametrize("factor", [1.02, 1.1])
def test_slightly_above_the_critical_rate_diverges(data, rates, factor):
    X, y = data
    run = gradient_descent(X, y, lr=factor * rates.lr_max, n_steps=400)
    assert run.cost[-1] > 1e3 * run.cost[0] or run.overflow_step is not None
    assert classify_run(run, X, y).regime == "diverges"


def test_cost_decreases_monotonically_below_the_critical_rate(data, rates):
    # On a quadratic, every eigen-component shrinks when lr < 2/lambda_max, so the cost never rises.
    X, y = data
    for lr in (0.05, rates.lr_monotone, 0.95 * rates.lr_max):
        run = gradient_descent(X, y, lr=lr, n_steps=200)
        assert np.all(np.diff(run.cost) <= 1e-12 * run.cost[0])


def test_run_shapes_and_determinism(data):
    X, y = data
    a = gradient_descent(X, y, lr=0.3, n_steps=25, start=(1.0, 2.0))
    b = gradient_descent(X, y, lr=0.3, n_steps=25, start=(1.0, 2.0))
    assert isinstance(a, DescentRun)
    assert a.params.shape == (26, 2) and a.cost.shape == (26,)
    assert np.array_equal(a.params, b.params) and np.array_equal(a.cost, b.cost)
    assert tuple(a.params[0]) == (1.0, 2.0)
    np.testing.assert_array_equal(a.w, a.params[:, 0])
    np.testing.assert_array_equal(a.steps, np.arange(26))
    # One step by hand.
    dw, db = mse_gradient(1.0, 2.0, X, y)
    np.testing.assert_allclose(a.params[1], [1.0 - 0.3 * dw, 2.0 - 0.3 * db], rtol=1e-15)


def test_overflow_is_silent_and_reported(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = gradient_descent(X, y, lr=10.0, n_steps=1000)
        result = classify_run(run, X, y)
        grid = mse_cost(np.array([1e200, 0.0]), 0.0, X, y)
    assert run.overflow_step is not None and 1 < run.overflow_step <= 1000
    assert len(run.cost) == run.overflow_step  # steps 0 .. overflow_step - 1
    assert np.all(np.isfinite(run.cost)) and np.all(np.isfinite(run.params))
    assert result.regime == "diverges" and result.overflow_step == run.overflow_step
    assert result.excess_ratio == np.inf
    assert f"overflowed float64 at step {run.overflow_step}" in str(result)
    assert np.isinf(grid[0]) and np.isfinite(grid[1])


# ----------------------------------------------------------------------------- the classifier


def test_classifier_names_each_regime(data, rates):
    X, y = data
    cases = {
        "crawls": 0.01 * rates.lr_monotone,
        "converges": 0.5 * rates.lr_monotone,
        "oscillates": 0.5 * (rates.lr_monotone + rates.lr_max),
        "diverges": 1.2 * rates.lr_max,
    }
    for expected, lr in cases.items():
        result = classify_run(gradient_descent(X, y, lr=lr, n_steps=50), X, y)
        assert result.regime == expected, (lr, str(result))
        assert result.regime in REGIMES


def test_oscillation_starts_exactly_at_one_over_lambda_max(data, rates):
    X, y = data
    below = classify_run(gradient_descent(X, y, lr=0.98 * rates.lr_monotone, n_steps=50), X, y)
    above = classify_run(gradient_descent(X, y, lr=1.02 * rates.lr_monotone, n_steps=50), X, y)
    assert below.regime == "converges" and below.flip_fraction == 0.0
    assert above.regime == "oscillates" and above.flip_fraction >= 0.5


def test_crawl_turns_into_convergence_with_more_steps(data):
    X, y = data
    assert classify_run(gradient_descent(X, y, lr=0.03, n_steps=50), X, y).regime == "crawls"
    assert classify_run(gradient_descent(X, y, lr=0.03, n_steps=1000), X, y).regime == "converges"


def test_diverged_at_is_the_first_step_above_the_start(data, rates):
    X, y = data
    run = gradient_descent(X, y, lr=1.3 * rates.lr_max, n_steps=60)
    result = classify_run(run, X, y)
    k = result.diverged_at
    assert run.cost[k] > run.cost[0] and np.all(run.cost[1:k] <= run.cost[0])
    assert f"from step {k}" in str(result)


def test_start_at_the_minimum_converges(data):
    X, y = data
    run = gradient_descent(X, y, lr=1.0, n_steps=10, start=least_squares(X, y))
    assert classify_run(run, X, y).regime == "converges"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lr": 0.0}, ValueError, "lr must be > 0"),
        ({"lr": float("inf")}, ValueError, "lr must be finite"),
        ({"lr": "big"}, TypeError, "lr must be a real number"),
        ({"lr": 0.1, "n_steps": 0}, ValueError, "n_steps"),
        ({"lr": 0.1, "start": (1.0,)}, ValueError, "start must be a pair"),
    ],
)
def test_bad_arguments_are_named(data, kwargs, error, match):
    X, y = data
    with pytest.raises(error, match=match):
        gradient_descent(X, y, **kwargs)


def test_bad_data_is_named(data):
    X, y = data
    with pytest.raises(ValueError, match="X must have 1 features"):
        mse_cost(0.0, 0.0, np.ones((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match=r"y must have shape \(100,\)"):
        mse_gradient(0.0, 0.0, X, y[:-1])
    with pytest.raises(ValueError, match="tol must lie in"):
        classify_run(gradient_descent(X, y, 0.1, 3), X, y, tol=2.0)
    with pytest.raises(TypeError, match="run must be a DescentRun"):
        classify_run("run", X, y)
    with pytest.raises(ValueError, match="w_range must satisfy low < high"):
        cost_grid(X, y, (1, 0), (0, 1))


def test_sweep_finds_the_theoretical_boundaries(data, rates):
    X, y = data
    lrs = np.geomspace(0.01, 3.0, 121)
    sweep = sweep_learning_rates(X, y, lrs, n_steps=300)
    assert len(sweep.classes) == lrs.size and sweep.regimes[0] == "crawls"
    step = lrs[1] / lrs[0]
    assert rates.lr_monotone < sweep.first_lr("oscillates") < rates.lr_monotone * step
    assert rates.lr_max < sweep.first_lr("diverges") < rates.lr_max * step ** 2
    # Regimes come in the order of REGIMES as lr grows.
    order = [REGIMES.index(r) for r in sweep.regimes]
    assert order == sorted(order)
    with pytest.raises(ValueError, match="regime='slow' is not known"):
        sweep.first_lr("slow")
    with pytest.raises(ValueError, match="lrs must be a non-empty 1-D"):
        sweep_learning_rates(X, y, [])
    with pytest.raises(ValueError, match="start=.* gives a cost that is not a finite"):
        gradient_descent(X, y, 0.1, 3, start=(1e200, 0.0))
