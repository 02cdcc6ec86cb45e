"""Layers: every backward against central finite differences (random shapes via hypothesis),
batch-norm statistics and moving averages on hand-computed values, stateful RReLU/PReLU/dropout."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gradcheck
from gradcheck import away_from_kinks, check_layer, freeze_randomness
from gradviz.activations import ACTIVATIONS, SELU_ALPHA, SELU_SCALE
from gradviz.init import initialize
from gradviz.layers import AlphaDropout, ActivationLayer, BatchNorm, Dense, Dropout, Layer, PReLU, RReLU

FAST = settings(max_examples=20, deadline=None)

batch_s = st.integers(1, 6)
feat_s = st.integers(1, 6)
seed_s = st.integers(0, 2**32 - 1)


def _x(rng, batch, features, scale=1.0, kinks=None):
    x = scale * rng.standard_normal((batch, features))
    return x if kinks is None else away_from_kinks(x, kinks)


def _sides(x):
    return x > 0


# ---------------------------------------------------------------- the gradient check itself


class _TailBugSigmoid(ActivationLayer):
    """Sigmoid whose backward drops the slope of units beyond |z| > 15 (sigma'(16) ~ 1.1e-7): the kind of
    bug s (1 - s) makes from z ~ 37 on, moved to where a finite difference can still see it."""

    def __init__(self):
        super().__init__("sigmoid")

    def backward(self, dout):
        return np.where(np.abs(self.cache) > 15, 0.0, super().backward(dout))


def test_gradcheck_sees_an_error_in_a_small_entry():
    # One saturated unit among ordinary ones: its gradient is ~1e-7 of the largest, so the error
    # relative to the largest entry stays below the tolerance; the element-wise error does not.
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1, 2] = 16.0
    R = np.random.default_rng(1).standard_normal((3, 4))
    layer = _TailBugSigmoid()
    layer.forward(x)
    a = layer.backward(R)
    n = gradcheck.numeric_grad(lambda: float(np.sum(layer.forward(x) * R)), x)
    assert gradcheck.rel_error(a, n) < gradcheck.TOL  # the old metric alone passes it
    with pytest.raises(AssertionError, match=r"element-wise relative error .*worst entry \(1, 2\)"):
        check_layer(layer, x, rng=np.random.default_rng(1))
    check_layer(ActivationLayer("sigmoid"), x, rng=np.random.default_rng(1))  # the real one passes


def test_elementwise_error_floor():
    # Entries below the floor are held to an absolute error of tol * floor; the floor never goes
    # below the smallest normal float64 (subnormals have fewer bits).
    a, n = np.array([1.0, 1e-7]), np.array([1.0, 2e-7])
    assert gradcheck.rel_error(a, n) < 1e-6 and gradcheck.elementwise_error(a, n) == pytest.approx(1 / 3)
    assert gradcheck.elementwise_error(a, n, floor=1.0) == pytest.approx(1e-7, rel=1e-9, abs=0)
    assert gradcheck.elementwise_error([0.0, 5e-324], [5e-324, 0.0]) < 1e-15  # 5e-324 / 2.2e-308
    assert gradcheck.elementwise_error([1.0, 3.0], [np.nan, 1.0]) == 0.5  # NaN = skipped at a kink


# ---------------------------------------------------------------- Dense


@FAST
@given(batch=batch_s, fan_in=feat_s, fan_out=feat_s, seed=seed_s)
def test_dense_gradients(batch, fan_in, fan_out, seed):
    rng = np.random.default_rng(seed)
    layer = Dense(fan_in, fan_out, init="glorot_normal", rng=rng)
    layer.params["b"][:] = rng.standard_normal(fan_out)
    errors = check_layer(layer, _x(rng, batch, fan_in), rng=rng)
    assert set(errors) == {"x", "W", "b"}


def test_dense_values_and_shapes():
    layer = Dense(2, 3, init="zeros", bias=0.5)
    layer.params["W"][:] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    x = np.array([[1.0, -1.0]])
    np.testing.assert_array_equal(layer.forward(x), [[-2.5, -2.5, -2.5]])
    dx = layer.backward(np.array([[1.0, 0.0, -1.0]]))
    np.testing.assert_array_equal(dx, [[-2.0, -2.0]])
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="fan_out must be a positive integer"):
        Dense(2, 0)
    with pytest.raises(ValueError, match="init='foo' is not known"):
        Dense(2, 2, init="foo")


# ---------------------------------------------------------------- activation layers


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@FAST
@given(batch=batch_s, features=feat_s, seed=seed_s, alpha=st.floats(0.0, 2.0))
def test_activation_layer_gradients(name, batch, features, seed, alpha):
    act = ACTIVATIONS[name]
    params = {"alpha": alpha} if "alpha" in act.defaults else {}
    rng = np.random.default_rng(seed)
    layer = ActivationLayer(name, **params)
    x = _x(rng, batch, features, scale=2.0, kinks=act.kinks)
    check_layer(layer, x, rng=rng, kinks=_sides if act.kinks else None)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_layer_backward_is_dout_times_derivative_bit_for_bit(name, dtype):
    # The layer's slope must be the same bits as the derivative function of gradviz.activations
    # (not, say, a(1-a) from the cached sigmoid output, which loses the tails).
    z = np.random.default_rng(0).normal(0.0, 4.0, size=(64, 16)).astype(dtype)
    dout = np.random.default_rng(1).standard_normal((64, 16)).astype(dtype)
    layer = ActivationLayer(name)
    np.testing.assert_array_equal(layer.forward(z), ACTIVATIONS[name](z))
    dz = layer.backward(dout)
    assert dz.dtype == dtype
    np.testing.assert_array_equal(dz, dout * ACTIVATIONS[name].grad(z))


@FAST
@given(batch=batch_s, features=feat_s, seed=seed_s, training=st.booleans())
def test_rrelu_gradients(batch, features, seed, training):
    # Inference: a fixed slope (lower + upper)/2, an ordinary function. Training: check_layer re-seeds
    # the layer's rng before every evaluation, so the analytic pass and every finite-difference pass
    # use the very same random slopes.
    rng = np.random.default_rng(seed)
    layer = RReLU(rng=seed)
    check_layer(layer, _x(rng, batch, features, kinks=(0.0,)), training=training, rng=rng, kinks=_sides)


def test_rrelu_training_backward_uses_the_slopes_of_its_forward():
    layer = RReLU(lower=0.1, upper=0.4, rng=0)
    x = away_from_kinks(np.random.default_rng(1).standard_normal((50, 40)))
    out1 = layer.forward(x, training=True)
    slope = out1 / x
    neg = x < 0
    assert np.all(slope[~neg] == 1.0)
    assert np.all((slope[neg] >= 0.1) & (slope[neg] <= 0.4))
    assert np.unique(slope[neg]).size > 0.9 * neg.sum()  # one slope per element, not one shared
    dout = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dout), dout * slope, rtol=1e-12)
    # A second training pass draws fresh slopes; inference uses the mean slope.
    out2 = layer.forward(x, training=True)
    assert not np.array_equal(out1, out2)
    out_inf = layer.forward(x, training=False)
    np.testing.assert_allclose(out_inf, np.where(neg, 0.25 * x, x), rtol=1e-15)
    np.testing.assert_allclose(layer.backward(dout), np.where(neg, 0.25, 1.0) * dout, rtol=1e-15)
    # The slopes over many draws are U[lower, upper]: mean 0.25, sd 0.3/sqrt(12), n ~ 1000.
    s = slope[neg]
    assert abs(s.mean() - 0.25) < 6 * (0.3 / math.sqrt(12)) / math.sqrt(s.size)


def test_rrelu_same_seed_same_slopes_and_defaults():
    x = -np.ones((3, 4))
    a = RReLU(rng=5).forward(x, training=True)
    b = RReLU(rng=5).forward(x, training=True)
    np.testing.assert_array_equal(a, b)
    layer = RReLU()
    assert layer.lower == 1 / 8 and layer.upper == 1 / 3
    assert layer.mean_slope == pytest.approx((1 / 8 + 1 / 3) / 2)
    with pytest.raises(ValueError, match="upper must be >= lower"):
        RReLU(lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="lower must be >= 0"):
        RReLU(lower=-0.1)


def test_rrelu_and_prelu_take_integer_input_as_float():
    # An integer array must not turn the slopes into integers (0): the result is float.
    x = np.array([[-4, 2]])
    np.testing.assert_allclose(RReLU(lower=0.25, upper=0.25).forward(x, training=True), [[-1.0, 2.0]])
    np.testing.assert_allclose(RReLU(lower=0.25, upper=0.25).forward(x), [[-1.0, 2.0]])
    np.testing.assert_allclose(PReLU(2).forward(x), [[-1.0, 2.0]])


@FAST
@given(batch=batch_s, features=feat_s, seed=seed_s, shared=st.booleans())
def test_prelu_gradients(batch, features, seed, shared):
    rng = np.random.default_rng(seed)
    layer = PReLU(1 if shared else features)
    layer.params["alpha"][:] = rng.uniform(-0.5, 1.5, size=layer.params["alpha"].shape)
    errors = check_layer(layer, _x(rng, batch, features, kinks=(0.0,)), rng=rng, kinks=_sides)
    assert set(errors) == {"x", "alpha"}


def test_prelu_alpha_gradient_by_hand():
    layer = PReLU(2)
    assert np.all(layer.params["alpha"] == 0.25)  # He et al. (2015) initial value
    x = np.array([[-1.0, 2.0], [-3.0, -4.0]])
    np.testing.assert_allclose(layer.forward(x), [[-0.25, 2.0], [-0.75, -1.0]])
    dx = layer.backward(np.array([[1.0, 1.0], [2.0, 0.5]]))
    np.testing.assert_allclose(layer.grads["alpha"], [1 * -1 + 2 * -3, 0.5 * -4])
    np.testing.assert_allclose(dx, [[0.25, 1.0], [0.5, 0.125]])


# ---------------------------------------------------------------- batch norm


def _trained_bn(features, rng, steps=3, **kw):
    bn = BatchNorm(features, **kw)
    for _ in range(steps):
        bn.forward(rng.normal(1.0, 2.0, size=(8, features)), training=True)
    bn.params["gamma"][:] = rng.uniform(0.5, 2.0, features) * rng.choice([-1, 1], features)
    bn.params["beta"][:] = rng.standard_normal(features)
    return bn


@FAST
@given(batch=st.integers(2, 6), features=feat_s, seed=seed_s, training=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3, 0.1]))
def test_batchnorm_gradients(batch, features, seed, training, eps):
    # The loss is a random weighting of the output; with sum(output) the x-gradient of training-mode
    # batch norm is identically 0 and the check would pass for any backward.
    # With two examples the normalised output is +-sqrt(v / (v + eps)) whatever x is, so its
    # x-gradient is O(eps / v): for a small eps it is far below what central differences resolve
    # (rounding ~ eps_machine |L| / h). Batch 2 is therefore checked with the large eps only.
    assume(batch >= 3 or eps >= 0.1)
    rng = np.random.default_rng(seed)
    bn = _trained_bn(features, rng, eps=eps)
    x = rng.normal(0.5, 3.0, size=(batch, features))
    errors = check_layer(bn, x, training=training, rng=rng)
    assert set(errors) == {"x", "gamma", "beta"}


def test_batchnorm_sum_loss_would_be_vacuous():
    # Why the checks above do not use sum(output): its x-gradient vanishes in training mode.
    bn = _trained_bn(3, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 3))
    bn.forward(x, training=True)
    # Absolute: the target is 0. The terms that cancel are O(|gamma| / sigma) ~ 1 (a random upstream
    # gives dx ~ 1), so rounding leaves ~1e-16; 1e-12 is far below any real gradient.
    np.testing.assert_allclose(bn.backward(np.ones((5, 3))), 0.0, atol=1e-12)


def test_batchnorm_training_output_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -3.0, 0.0], [10.0, 0.1, 1.0], size=(64, 3))
    eps = 1e-3
    bn = BatchNorm(3, eps=eps)
    y = bn.forward(x, training=True)
    v = x.var(axis=0)  # biased batch variance
    # Means are compared absolutely (the first target is 0): y is O(1), its mean rounds to ~1e-16.
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), v / (v + eps), rtol=1e-12)  # ~1, exactly v/(v+eps)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(v + eps), rtol=1e-12)
    # Then gamma scales and beta shifts.
    bn.params["gamma"][:] = [2.0, -0.5, 3.0]
    bn.params["beta"][:] = [1.0, 2.0, -1.0]
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), [1.0, 2.0, -1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), np.array([2.0, 0.5, 3.0]) * np.sqrt(v / (v + eps)), rtol=1e-12)


def test_batchnorm_moving_averages_hand_computed_keras():
    # Keras convention: running <- momentum * running + (1 - momentum) * batch.
    bn = BatchNorm(1, momentum=0.99)
    assert bn.state["running_mean"][0] == 0.0 and bn.state["running_var"][0] == 1.0
    bn.forward(np.array([[1.0], [3.0]]), training=True)  # mean 2, biased var 1
    assert bn.state["running_mean"][0] == pytest.approx(0.02, abs=1e-15)
    assert bn.state["running_var"][0] == pytest.approx(1.0, abs=1e-15)
    bn.forward(np.array([[0.0], [4.0]]), training=True)  # mean 2, biased var 4
    assert bn.state["running_mean"][0] == pytest.approx(0.0398, abs=1e-15)  # 0.99*0.02 + 0.01*2
    assert bn.state["running_var"][0] == pytest.approx(1.03, abs=1e-15)  # 0.99*1 + 0.01*4
    bn.forward(np.array([[-1.0], [-1.0], [2.0]]), training=True)  # mean 0, biased var 2
    assert bn.state["running_mean"][0] == pytest.approx(0.039402, abs=1e-15)  # 0.99*0.0398
    assert bn.state["running_var"][0] == pytest.approx(1.0397, abs=1e-15)  # 0.99*1.03 + 0.01*2
    # gamma and beta are trainable params; the moving statistics are state, not params.
    assert set(bn.params) == {"gamma", "beta"} and set(bn.state) == {"running_mean", "running_var"}


def test_batchnorm_pytorch_momentum_maps_to_keras():
    torch_style = BatchNorm.from_pytorch(1, momentum=0.1)
    assert torch_style.momentum == pytest.approx(0.9, abs=1e-15)
    assert torch_style.eps == 1e-5 and torch_style.unbiased_running_var
    torch_style.forward(np.array([[1.0], [3.0]]), training=True)  # mean 2, biased var 1, unbiased var 2
    torch_style.forward(np.array([[0.0], [4.0]]), training=True)  # mean 2, biased var 4, unbiased var 8
    # PyTorch: running <- (1 - 0.1) * running + 0.1 * batch statistic, with the unbiased variance.
    assert torch_style.state["running_mean"][0] == pytest.approx(0.38, abs=1e-15)  # 0.9*0.2 + 0.1*2
    assert torch_style.state["running_var"][0] == pytest.approx(1.79, abs=1e-15)  # 0.9*(0.9*1 + 0.1*2) + 0.1*8
    # The same momentum in Keras's convention stores the biased variance: 0.9*(0.9*1 + 0.1*1) + 0.1*4 = 1.3.
    keras_style = BatchNorm(1, momentum=0.9, eps=1e-5)
    keras_style.forward(np.array([[1.0], [3.0]]), training=True)
    keras_style.forward(np.array([[0.0], [4.0]]), training=True)
    assert keras_style.state["running_var"][0] == pytest.approx(1.3, abs=1e-15)
    # ... so inference differs: (2.5 - 0.38) / sqrt(1.79 + 1e-5) against (2.5 - 0.38) / sqrt(1.3 + 1e-5).
    x = np.array([[2.5]])
    assert torch_style.forward(x)[0, 0] == pytest.approx(2.12 / np.sqrt(1.79001), rel=1e-14, abs=0)
    assert keras_style.forward(x)[0, 0] == pytest.approx(2.12 / np.sqrt(1.30001), rel=1e-14, abs=0)
    # Training batches are normalised with the biased variance in both conventions: same outputs, bit for bit,
    # and the same running mean; the running variances differ by the factor m / (m - 1) of every batch.
    torch_style = BatchNorm.from_pytorch(1, momentum=0.1)
    keras_style = BatchNorm(1, momentum=0.9, eps=1e-5)
    rng = np.random.default_rng(0)
    expected_var = 1.0
    for _ in range(4):
        xb = rng.standard_normal((5, 1))
        np.testing.assert_array_equal(torch_style.forward(xb, training=True), keras_style.forward(xb, training=True))
        expected_var = 0.9 * expected_var + 0.1 * xb.var(ddof=1)
    np.testing.assert_array_equal(torch_style.state["running_mean"], keras_style.state["running_mean"])
    assert torch_style.state["running_var"][0] == pytest.approx(expected_var, rel=1e-14, abs=0)
    assert torch_style.state["running_var"][0] > keras_style.state["running_var"][0]


def test_batchnorm_pytorch_momentum_none_is_the_cumulative_average():
    # PyTorch's momentum=None: the t-th batch gets weight 1/t, so the running statistics are the plain
    # means of the batch statistics seen so far (the initial 0 and 1 are forgotten at the first batch).
    bn = BatchNorm.from_pytorch(1, momentum=None)
    assert bn.momentum is None and bn.num_batches_tracked == 0
    batches = [np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]]), np.array([[-1.0], [-1.0], [2.0]])]
    # means 2, 2, 0; unbiased variances 2, 8, 3
    expected = [(2.0, 2.0), (2.0, 5.0), (4.0 / 3.0, 13.0 / 3.0)]
    for t, (xb, (m, v)) in enumerate(zip(batches, expected), start=1):
        bn.forward(xb, training=True)
        assert bn.num_batches_tracked == t
        assert bn.state["running_mean"][0] == pytest.approx(m, abs=1e-15)
        assert bn.state["running_var"][0] == pytest.approx(v, abs=1e-14)
    # Keras convention with momentum=None: the same average of the biased variances 1, 4, 2.
    keras_style = BatchNorm(1, momentum=None)
    for xb in batches:
        keras_style.forward(xb, training=True)
    assert keras_style.state["running_var"][0] == pytest.approx(7.0 / 3.0, abs=1e-14)
    assert "momentum=None" in repr(bn) and "unbiased_running_var=True" in repr(bn)


def test_batchnorm_pytorch_momentum_zero_freezes_the_initial_statistics():
    bn = BatchNorm.from_pytorch(2, momentum=0.0)
    assert bn.momentum == 1.0  # Keras convention: the old value keeps all the weight
    for _ in range(3):
        bn.forward(np.random.default_rng(0).normal(5.0, 3.0, size=(4, 2)), training=True)
    np.testing.assert_array_equal(bn.state["running_mean"], 0.0)
    np.testing.assert_array_equal(bn.state["running_var"], 1.0)
    # PyTorch's momentum 1 keeps only the last batch, with its unbiased variance.
    last = BatchNorm.from_pytorch(1, momentum=1.0)
    last.forward(np.array([[1.0], [3.0]]), training=True)
    last.forward(np.array([[0.0], [4.0]]), training=True)
    assert (last.state["running_mean"][0], last.state["running_var"][0]) == (2.0, 8.0)


def test_batchnorm_inference_uses_running_statistics():
    rng = np.random.default_rng(3)
    bn = _trained_bn(4, rng, steps=5, momentum=0.5)
    x = rng.standard_normal((3, 4))
    expected = (bn.params["gamma"] * (x - bn.state["running_mean"]) / np.sqrt(bn.state["running_var"] + bn.eps)
                + bn.params["beta"])
    before = {k: v.copy() for k, v in bn.state.items()}
    np.testing.assert_allclose(bn.forward(x, training=False), expected, rtol=1e-12)
    for k in before:  # inference does not touch the moving statistics
        np.testing.assert_array_equal(bn.state[k], before[k])
    # ... and differs from training mode on the same batch.
    assert not np.allclose(bn.forward(x, training=False), bn.forward(x, training=True))
    # A single example is fine at inference.
    assert np.isfinite(bn.forward(x[:1], training=False)).all()


def test_batchnorm_batch_of_one_raises_and_leaves_state_alone():
    bn = _trained_bn(3, np.random.default_rng(0))
    before = {k: v.copy() for k, v in bn.state.items()}
    with pytest.raises(ValueError, match=r"batch of at least 2 examples.*shape \(1, 3\)"):
        bn.forward(np.ones((1, 3)), training=True)
    for k in before:
        np.testing.assert_array_equal(bn.state[k], before[k])
        assert np.isfinite(bn.state[k]).all()


def test_batchnorm_no_nans():
    bn = BatchNorm(2)
    # A constant feature has batch variance 0: eps keeps the output finite (zero), and its gradient too.
    x = np.array([[3.0, 1.0], [3.0, -1.0], [3.0, 0.0]])
    y = bn.forward(x, training=True)
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y[:, 0], 0.0)
    assert np.isfinite(bn.backward(np.ones_like(y))).all()
    assert np.isfinite(bn.state["running_var"]).all()


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\]; got 1.5"):
        BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\]; got -0.1"):
        BatchNorm.from_pytorch(3, momentum=-0.1)
    with pytest.raises(TypeError, match="momentum must be a real number"):
        BatchNorm(3, momentum="0.9")
    with pytest.raises(TypeError, match="unbiased_running_var must be True or False"):
        BatchNorm(3, unbiased_running_var="yes")
    with pytest.raises(ValueError, match="eps must be > 0"):
        BatchNorm(3, eps=0.0)
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        BatchNorm(0)


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
@FAST
@given(batch=batch_s, features=feat_s, seed=seed_s, rate=st.floats(0.0, 0.9), training=st.booleans())
def test_dropout_gradients_fixed_mask(cls, batch, features, seed, rate, training):
    rng = np.random.default_rng(seed)
    check_layer(cls(rate, rng=seed), _x(rng, batch, features), training=training, rng=rng)


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
def test_dropout_backward_uses_forward_mask_and_inference_is_identity(cls):
    layer = cls(0.3, rng=0)
    x = np.random.default_rng(1).standard_normal((200, 50)) + 0.5
    out = layer.forward(x, training=True)
    dout = np.random.default_rng(2).standard_normal(x.shape)
    dx = layer.backward(dout)
    if cls is Dropout:
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.7, rtol=1e-15)
        np.testing.assert_allclose(dx, np.where(kept, dout / 0.7, 0.0), rtol=1e-15)
    else:
        dropped = np.isclose(out, layer.a * AlphaDropout.ALPHA_PRIME + layer.b, rtol=0, atol=1e-12)
        np.testing.assert_allclose(dx, np.where(dropped, 0.0, layer.a * dout), rtol=1e-15)
    # About a fraction `rate` dropped: binomial sd sqrt(p(1-p)/n), n = 10000; allow 6 sd.
    frac = (dx == 0).mean()
    assert abs(frac - 0.3) < 6 * math.sqrt(0.3 * 0.7 / x.size)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    np.testing.assert_array_equal(layer.backward(dout), dout)
    np.testing.assert_array_equal(cls(0.0, rng=0).forward(x, training=True), x)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\)"):
        cls(1.0)


def test_alpha_dropout_keeps_mean_zero_and_variance_one():
    # Klambauer et al. (2017): a = (q + alpha'^2 q (1-q))^-1/2, b = -a (1-q) alpha'.
    rate = 0.2
    q, ap = 1 - rate, -SELU_SCALE * SELU_ALPHA
    layer = AlphaDropout(rate, rng=0)
    assert layer.a == pytest.approx((q + ap**2 * q * (1 - q)) ** -0.5, rel=1e-15, abs=0)
    assert layer.b == pytest.approx(-layer.a * (1 - q) * ap, rel=1e-15, abs=0)
    n = 400_000
    y = layer.forward(np.random.default_rng(1).standard_normal((n // 100, 100)), training=True)
    # Output has mean 0, variance 1 (exactly, in expectation). SE of the mean 1/sqrt(n); SE of the
    # variance sqrt((kappa - 1)/n) with kurtosis kappa of y below ~ 5: use 6 SE of each.
    assert abs(y.mean()) < 6 / math.sqrt(n)
    assert abs(y.var() - 1) < 6 * math.sqrt(4 / n)


def test_dropout_same_seed_same_mask():
    x = np.ones((10, 10))
    freeze_randomness([d := Dropout(0.5)], seed=3)
    a = d.forward(x, training=True)
    np.testing.assert_array_equal(a, Dropout(0.5, rng=np.random.default_rng([3, 0])).forward(x, training=True))


# ---------------------------------------------------------------- the protocol


def test_every_layer_keeps_its_forward_values_in_cache_only():
    # One attribute, `cache`, holds what forward kept for backward (CS231n's layers.py style).
    x = away_from_kinks(np.random.default_rng(0).standard_normal((4, 3)))
    cases = [
        (Dense(3, 3, rng=0), lambda ly: ly.cache is x),
        (ActivationLayer("tanh"), lambda ly: ly.cache is x),
        (PReLU(3), lambda ly: ly.cache is x),
        (RReLU(rng=0), lambda ly: np.array_equal(ly.cache, np.where(x > 0, 1.0, ly.cache))),
        (BatchNorm(3), lambda ly: len(ly.cache) == 3 and ly.cache[2] is True),
        (Dropout(0.5, rng=0), lambda ly: ly.cache.shape == x.shape),
        (AlphaDropout(0.5, rng=0), lambda ly: ly.cache.dtype == bool),
    ]
    for layer, kept in cases:
        assert layer.cache is None
        before = set(vars(layer))
        layer.forward(x, training=True)
        assert kept(layer), type(layer).__name__
        assert set(vars(layer)) == before, f"{type(layer).__name__}.forward added attributes besides cache"
        assert layer.backward(np.ones_like(x)).shape == x.shape


# ---------------------------------------------------------------- defaults, dtypes, names, kinks
# (what the gradient checks cannot see: mutation testing found each of these unpinned)


def _defaults(fn):
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def test_documented_defaults():
    # Inference unless told: forward(x, training=False) for every layer (module docstring).
    for cls in (Layer, Dense, ActivationLayer, RReLU, PReLU, BatchNorm, Dropout, AlphaDropout):
        assert inspect.signature(cls.forward).parameters["training"].default is False, cls
    assert _defaults(Dense.__init__) == {"init": "glorot_uniform", "gain": 1.0, "bias": 0.0, "rng": None,
                                         "dtype": np.float64}
    assert _defaults(PReLU.__init__) == {"num_features": 1, "alpha_init": 0.25, "dtype": np.float64}  # He et al.
    assert _defaults(BatchNorm.__init__) == {"momentum": 0.99, "eps": 1e-3, "dtype": np.float64,
                                             "unbiased_running_var": False}  # Keras
    assert _defaults(BatchNorm.from_pytorch) == {"momentum": 0.1, "eps": 1e-5, "dtype": np.float64}  # PyTorch
    assert _defaults(Dropout.__init__) == {"rate": 0.5, "rng": None}
    assert _defaults(AlphaDropout.__init__) == {"rate": 0.1, "rng": None}
    # ... and what they do. (mutmut runs a mutant behind a wrapper with the original signature, so
    # only behaviour kills a changed default.) forward(x) is inference: dropout passes x through,
    # batch norm uses and keeps its moving statistics, RReLU its mean slope.
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(6, 3))
    for layer in (Dropout(0.5, rng=0), AlphaDropout(0.5, rng=0)):
        np.testing.assert_array_equal(layer.forward(x), x)
    bn = _trained_bn(3, np.random.default_rng(1))
    before = {k: v.copy() for k, v in bn.state.items()}
    np.testing.assert_array_equal(bn.forward(x), bn.forward(x, training=False))
    for k in before:
        np.testing.assert_array_equal(bn.state[k], before[k])
    r = RReLU(rng=0)
    np.testing.assert_array_equal(r.forward(-x), np.where(-x > 0, -x, -x * r.mean_slope))
    d = Dense(3, 2, rng=0)
    np.testing.assert_array_equal(d.params["W"], initialize("glorot_uniform", (3, 2), rng=0))
    np.testing.assert_array_equal(d.params["b"], [0.0, 0.0])
    bn = BatchNorm(2)
    assert (bn.momentum, bn.eps) == (0.99, 1e-3)
    assert BatchNorm.from_pytorch(2).eps == 1e-5
    assert Dropout().rate == 0.5 and AlphaDropout().rate == 0.1
    np.testing.assert_array_equal(PReLU().params["alpha"], [0.25])


def test_dense_passes_rng_gain_and_init_options_on():
    d = Dense(4, 3, init="normal", gain=2.0, rng=7, std=0.5)
    np.testing.assert_array_equal(d.params["W"], initialize("normal", (4, 3), rng=7, gain=2.0, std=0.5))
    assert repr(d) == "Dense(4, 3, init='normal')"
    assert repr(Dense(2, 5, init="he_normal", rng=0)) == "Dense(2, 5, init='he_normal')"


def test_float32_layers_stay_float32():
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    layers = [Dense(3, 3, rng=0, dtype=np.float32), PReLU(3, dtype=np.float32), BatchNorm(3, dtype=np.float32),
              BatchNorm.from_pytorch(3, dtype=np.float32), RReLU(rng=0), Dropout(0.5, rng=0),
              AlphaDropout(0.5, rng=0), ActivationLayer("elu")]
    for layer in layers:
        for training in (False, True):
            for name, arr in {**layer.params, **layer.state}.items():
                assert arr.dtype == np.float32, (layer, name)
            out = layer.forward(x, training=training)
            assert out.dtype == np.float32, (layer, training)
            assert layer.backward(np.ones_like(out)).dtype == np.float32, (layer, training)
            for name, g in layer.grads.items():
                assert g.dtype == np.float32, (layer, name)


def test_more_errors_name_the_argument():
    cases = [
        (lambda: Dense(0, 2), r"^fan_in must be a positive integer"),
        (lambda: RReLU(upper=-0.1), r"^upper must be >= 0; got -0.1"),
        (lambda: PReLU(0), r"^num_features must be a positive integer"),
        (lambda: PReLU(2, alpha_init=-0.1), r"^alpha_init must be >= 0; got -0.1"),
        (lambda: BatchNorm(3, eps=-1.0), r"^eps must be > 0"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(ValueError, match=r"use training=False to normalise it with the moving statistics\.$"):
        BatchNorm(3).forward(np.ones((1, 3)), training=True)


def test_prelu_and_rrelu_take_the_left_slope_at_the_kink():
    # As for the activation functions: at z = 0 the slope is the left piece's.
    x = np.array([[0.0, -1.0, 1.0]])
    p = PReLU(3)
    p.params["alpha"][:] = [0.1, 0.2, 0.3]
    p.forward(x)
    np.testing.assert_array_equal(p.backward(np.ones((1, 3))), [[0.1, 0.2, 1.0]])
    r = RReLU(lower=0.2, upper=0.4)
    r.forward(x)
    np.testing.assert_array_equal(r.backward(np.ones((1, 3))), [[r.mean_slope, r.mean_slope, 1.0]])
    r = RReLU(lower=0.2, upper=0.4, rng=0)
    r.forward(np.array([[0.0, -1.0]]), training=True)
    dx = r.backward(np.ones((1, 2)))
    assert np.all((dx >= 0.2) & (dx <= 0.4)), dx  # drawn slopes at 0 as below it, not 1


def test_activation_layer_attributes_and_repr():
    layer = ActivationLayer("leaky_relu", alpha=0.2)
    assert layer.name == "leaky_relu" and layer.slope is None  # no backward pass yet
    assert repr(layer) == "ActivationLayer('leaky_relu', alpha=0.2)"
    assert repr(ActivationLayer("tanh")) == "ActivationLayer('tanh')"
    assert repr(Dropout(0.3)) == "Dropout()"  # the base class's
    assert repr(BatchNorm(3)) == "BatchNorm(3, momentum=0.99, eps=0.001)"
    assert repr(BatchNorm(3, unbiased_running_var=True)) == "BatchNorm(3, momentum=0.99, eps=0.001, unbiased_running_var=True)"


@pytest.mark.parametrize("cls", [Dropout, AlphaDropout])
def test_dropout_that_never_dropped_passes_gradients_and_draws_nothing(cls):
    x = np.random.default_rng(1).standard_normal((4, 5))
    dout = np.random.default_rng(2).standard_normal((4, 5))
    np.testing.assert_array_equal(cls(0.3).backward(dout), dout)  # before any forward
    # Rate 0 in training: the identity, without touching the generator (it may be shared).
    g = np.random.default_rng(7)
    layer = cls(0.0, rng=g)
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(dout), dout)
    assert g.random() == np.random.default_rng(7).random()


def test_alpha_dropout_same_seed_same_mask():
    x = np.ones((10, 10))
    a = AlphaDropout(0.5, rng=3).forward(x, training=True)
    np.testing.assert_array_equal(a, AlphaDropout(0.5, rng=3).forward(x, training=True))
    assert not np.array_equal(a, AlphaDropout(0.5, rng=4).forward(x, training=True))
