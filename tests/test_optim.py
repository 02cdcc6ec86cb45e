"""SGD (with momentum) and gradient clipping, on hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradviz.data import linear_regression_data
from gradviz.losses import mean_squared_error
from gradviz.optim import SGD, clip_grad_norm, clip_grad_value, global_grad_norm


class Params:
    """The smallest thing the optimiser works on: .params and .grads dicts."""

    def __init__(self, **arrays):
        self.params = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}


class NoParams:
    params: dict = {}
    grads: dict = {}


class Net:
    def __init__(self, layers):
        self.layers = layers


def test_plain_sgd_step_hand_computed():
    layer = Params(W=[[1.0, 2.0]], b=[0.5])
    W_before = layer.params["W"]
    layer.grads["W"][:] = [[0.5, -1.0]]
    layer.grads["b"][:] = [2.0]
    SGD(lr=0.1).step([layer])
    np.testing.assert_allclose(layer.params["W"], [[0.95, 2.1]], rtol=1e-15)
    np.testing.assert_allclose(layer.params["b"], [0.3], rtol=1e-15)
    # In place: an array a notebook held on to follows the update.
    assert layer.params["W"] is W_before


def test_momentum_hand_computed():
    # v <- 0.9 v - 0.1 g ; p <- p + v, with g = 1 every step:
    # v = -0.1, -0.19, -0.271 ; p = -0.1, -0.29, -0.561
    layer = Params(w=[0.0])
    opt = SGD(lr=0.1, momentum=0.9)
    seen = []
    for _ in range(3):
        layer.grads["w"][:] = 1.0
        opt.step([layer])
        seen.append(layer.params["w"][0])
    np.testing.assert_allclose(seen, [-0.1, -0.29, -0.561], rtol=1e-14)
    assert opt.steps == 3


def test_momentum_agrees_with_the_pytorch_form(rng):
    # PyTorch: buf = mu * buf + g ; p -= lr * buf. Same parameters for constant lr.
    lr, mu = 0.05, 0.8
    layer = Params(W=rng.standard_normal((3, 2)))
    p_ref = layer.params["W"].copy()
    buf = np.zeros_like(p_ref)
    opt = SGD(lr=lr, momentum=mu)
    for _ in range(10):
        g = rng.standard_normal((3, 2))
        layer.grads["W"][:] = g
        opt.step(layer)
        buf = mu * buf + g
        p_ref -= lr * buf
    np.testing.assert_allclose(layer.params["W"], p_ref, rtol=1e-12, atol=1e-14)


def test_velocity_is_per_layer_and_per_key():
    a, b = Params(W=[0.0]), Params(W=[0.0])
    opt = SGD(lr=1.0, momentum=0.5)
    a.grads["W"][:] = 1.0
    b.grads["W"][:] = 0.0
    opt.step([a, b])
    opt.step([a, b])
    # a: v = -1, -1.5 -> p = -2.5 ; b never had a gradient, so it never moved.
    assert a.params["W"][0] == -2.5
    assert b.params["W"][0] == 0.0
    opt.reset()
    a.grads["W"][:] = 0.0
    opt.step([a])
    assert a.params["W"][0] == -2.5  # no velocity left after reset


def test_step_accepts_a_network_and_skips_layers_without_params():
    layer = Params(W=[1.0])
    layer.grads["W"][:] = 1.0
    SGD(lr=0.5).step(Net([NoParams(), layer, NoParams()]))
    assert layer.params["W"][0] == 0.5


def test_step_without_backward_is_a_clear_error():
    layer = Params(W=[1.0])
    layer.grads = {}
    with pytest.raises(RuntimeError, match=r"layers\[0\].*'W'.*backward"):
        SGD(lr=0.1).step([layer])


def test_step_checks_shapes_before_changing_anything():
    good, bad = Params(W=[1.0]), Params(W=[1.0, 2.0])
    good.grads["W"][:] = 1.0
    bad.grads["W"] = np.ones(3)
    with pytest.raises(ValueError, match=r"layers\[1\]\.grads\['W'\].*\(3,\).*\(2,\)"):
        SGD(lr=0.1).step([good, bad])
    assert good.params["W"][0] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": -1.0}, ValueError, "lr"),
        ({"lr": float("nan")}, ValueError, "lr"),
        ({"lr": "0.1"}, TypeError, "lr"),
        ({"lr": 0.1, "momentum": 1.0}, ValueError, "momentum"),
        ({"lr": 0.1, "momentum": -0.1}, ValueError, "momentum"),
    ],
)
def test_sgd_arguments_are_validated(kwargs, error, name):
    with pytest.raises(error, match=name):
        SGD(**kwargs)


def test_sgd_fits_linear_regression_to_least_squares():
    X, y, w_true, b_true = linear_regression_data(n_samples=200, noise=0.3, seed=1)
    layer = Params(W=np.zeros((1, 1)), b=np.zeros(1))
    opt = SGD(lr=0.3, momentum=0.5)
    for _ in range(300):
        pred = X @ layer.params["W"] + layer.params["b"]
        _, dpred = mean_squared_error(pred, y.reshape(-1, 1))
        layer.grads["W"] = X.T @ dpred
        layer.grads["b"] = dpred.sum(axis=0)
        opt.step([layer])
    A = np.hstack([X, np.ones_like(X)])
    w_ls, b_ls = np.linalg.lstsq(A, y, rcond=None)[0]
    assert layer.params["W"][0, 0] == pytest.approx(w_ls, abs=1e-8)
    assert layer.params["b"][0] == pytest.approx(b_ls, abs=1e-8)
    # and the least-squares fit is near the line that made the data
    assert abs(w_ls - w_true) < 0.1 and abs(b_ls - b_true) < 0.1


def test_nonfinite_gradients_propagate_without_warnings():
    layer = Params(W=[1.0, 2.0])
    layer.grads["W"][:] = [np.inf, np.nan]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGD(lr=0.1, momentum=0.9).step([layer])
    assert layer.params["W"][0] == -np.inf
    assert np.isnan(layer.params["W"][1])


# ---------------------------------------------------------------- clipping


def test_clip_across_layers_hand_computed():
    a, b = Params(W=[0.0]), Params(W=[0.0], c=[[0.0]])
    a.grads["W"][:] = 3.0
    b.grads["W"][:] = 0.0
    b.grads["c"][:] = 4.0
    total = clip_grad_norm([a, NoParams(), b], max_norm=1.0)
    assert total == 5.0
    assert a.grads["W"][0] == pytest.approx(0.6, rel=1e-15, abs=0)
    assert b.grads["c"][0, 0] == pytest.approx(0.8, rel=1e-15, abs=0)
    assert global_grad_norm([a, b]) == pytest.approx(1.0, rel=1e-15, abs=0)


def test_clip_leaves_small_gradients_alone():
    a = Params(W=[0.3, 0.4])
    a.grads["W"][:] = [0.3, 0.4]
    before = a.grads["W"].copy()
    assert clip_grad_norm([a], max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(a.grads["W"], before)


def test_norm_of_huge_finite_gradients_does_not_overflow():
    a = Params(W=[0.0, 0.0])
    a.grads["W"][:] = [3e200, 4e200]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = clip_grad_norm([a], max_norm=5.0)
    assert total == pytest.approx(5e200, rel=1e-14)
    np.testing.assert_allclose(a.grads["W"], [3.0, 4.0], rtol=1e-14)


def test_nonfinite_norm_is_reported_and_gradients_left_unchanged():
    a = Params(W=[0.0, 0.0])
    a.grads["W"][:] = [np.inf, 1.0]
    assert clip_grad_norm([a], max_norm=1.0) == np.inf
    assert a.grads["W"][1] == 1.0
    a.grads["W"][:] = [np.nan, 1.0]
    assert np.isnan(clip_grad_norm([a], max_norm=1.0))


def test_clip_validates_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([Params(W=[0.0])], max_norm=0)


@settings(deadline=None, max_examples=50)
@given(
    shapes=st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=4),
    max_norm=st.floats(1e-3, 1e3),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**32 - 1),
)
def test_clipping_bounds_the_norm_and_keeps_the_direction(shapes, max_norm, scale, seed):
    rng = np.random.default_rng(seed)
    layers = [Params(W=np.zeros(s)) for s in shapes]
    for layer in layers:
        layer.grads["W"] = scale * rng.standard_normal(layer.params["W"].shape)
    before = np.concatenate([layer.grads["W"].ravel() for layer in layers])
    total = clip_grad_norm(layers, max_norm)
    after = np.concatenate([layer.grads["W"].ravel() for layer in layers])
    # abs=0: with scale down to 1e-3 the norms reach ~1e-3, where approx's default abs=1e-12 would be 1e-9 relative.
    assert total == pytest.approx(np.linalg.norm(before), rel=1e-12, abs=0)
    assert np.linalg.norm(after) <= max_norm * (1 + 1e-12)
    assert np.linalg.norm(after) == pytest.approx(min(total, max_norm), rel=1e-12, abs=0)
    # Same direction: after is a non-negative multiple of before.
    np.testing.assert_allclose(after, before * (np.linalg.norm(after) / total), rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------- clipping by value
def test_clip_value_hand_computed():
    a, b = Params(W=[0.0, 0.0, 0.0]), Params(c=[[0.0, 0.0]])
    a.grads["W"][:] = [3.0, -0.5, -7.0]
    b.grads["c"][:] = [[0.25, 4.0]]
    total = clip_grad_value([a, NoParams(), b], clip_value=1.0)
    assert total == pytest.approx(np.sqrt(9 + 0.25 + 49 + 0.0625 + 16), rel=1e-15, abs=0)  # the norm before
    np.testing.assert_array_equal(a.grads["W"], [1.0, -0.5, -1.0])
    np.testing.assert_array_equal(b.grads["c"], [[0.25, 1.0]])


def test_clip_value_changes_the_direction_where_clip_norm_keeps_it():
    a, b = Params(W=[0.0, 0.0]), Params(W=[0.0, 0.0])
    a.grads["W"][:] = b.grads["W"][:] = [10.0, 1.0]
    clip_grad_value([a], 2.0)
    clip_grad_norm([b], 2.0)
    np.testing.assert_array_equal(a.grads["W"], [2.0, 1.0])  # ratio 2 : 1, was 10 : 1
    assert b.grads["W"][0] / b.grads["W"][1] == pytest.approx(10.0, rel=1e-14, abs=0)


def test_clip_value_of_nonfinite_gradients_without_warnings():
    a = Params(W=[0.0, 0.0, 0.0])
    a.grads["W"][:] = [np.inf, -np.inf, np.nan]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = clip_grad_value([a], 0.5)
    assert np.isnan(total)  # the norm before clipping: a NaN entry makes it NaN
    assert a.grads["W"][0] == 0.5 and a.grads["W"][1] == -0.5 and np.isnan(a.grads["W"][2])


@pytest.mark.parametrize("bad, exc", [(0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                                      ("1", TypeError)])
def test_clip_value_validates_clip_value(bad, exc):
    with pytest.raises(exc, match="clip_value"):
        clip_grad_value([Params(W=[0.0])], bad)
