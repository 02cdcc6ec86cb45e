"""Chapter 02 (vanishing and exploding gradients): every number the chapter states, and its explorer.

The package functions below compute what notebooks/02_vanishing_and_exploding.ipynb prints;
these tests pin them to hand-derived values and to independent numpy computations.
"""

import warnings

import numpy as np
import pytest

import gradviz as gv
from gradviz import stats
from gradviz.activations import SATURATION_THRESHOLD, sigmoid, sigmoid_grad
from gradviz.network import MLP


# ----------------------------------------------------------------------------- sigmoid facts
def test_sigmoid_values_and_slopes_at_6_and_1000():
    assert sigmoid(6.0) == pytest.approx(1 / (1 + np.exp(-6.0)), rel=1e-15)
    assert sigmoid_grad(6.0) == pytest.approx(np.exp(-6.0) / (1 + np.exp(-6.0)) ** 2, rel=1e-12)
    assert sigmoid(1000.0) == 1.0
    assert sigmoid_grad(1000.0) == 0.0  # e^-1000 is below the smallest float64


def test_sigmoid_slope_log10_is_exact_where_float64_underflows():
    z = np.array([-30.0, -6.0, 0.0, 1.0, 6.0, 30.0])
    exact = np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2  # no 1 - sigma(z) cancellation
    np.testing.assert_allclose(stats.sigmoid_slope_log10(z), np.log10(exact), rtol=1e-13)
    # ln sigma'(1000) = -1000 - 2 ln(1 + e^-1000) = -1000 to double precision
    assert stats.sigmoid_slope_log10(1000.0) == pytest.approx(-1000 / np.log(10), rel=1e-15)
    assert stats.sigmoid_slope_log10(-1000.0) == stats.sigmoid_slope_log10(1000.0)
    assert isinstance(stats.sigmoid_slope_log10(0.0), float)
    assert stats.sigmoid_slope_log10(0.0) == pytest.approx(np.log10(0.25), rel=1e-15)


def test_sigmoid_slope_maximum_is_a_quarter_at_zero():
    z = np.linspace(-10, 10, 20001)
    d = sigmoid_grad(z)
    assert d.max() == 0.25
    assert z[np.argmax(d)] == 0.0


def test_slope_bound():
    assert stats.slope_bound("sigmoid", 10) == 0.25 ** 10 == pytest.approx(9.5367431640625e-07)
    assert stats.slope_bound("sigmoid", 0) == 1.0
    assert stats.slope_bound("tanh", 7) == 1.0
    with pytest.raises(ValueError, match="n_factors"):
        stats.slope_bound("sigmoid", -1)
    with pytest.raises(ValueError, match="activation"):
        stats.slope_bound("sigmoidd", 3)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturation_onset_is_where_the_slope_is_5_percent_of_the_maximum(name):
    act = gv.activations.get_activation(name)
    z = stats.saturation_onset(name)
    assert act.grad(z) == pytest.approx(SATURATION_THRESHOLD * act.max_slope, rel=1e-10)
    assert act.grad(-z) == pytest.approx(SATURATION_THRESHOLD * act.max_slope, rel=1e-10)
    # and the package's saturation mask switches there
    mask = gv.activations.saturation_mask(name, np.array([0.999 * z, 1.001 * z, -1.001 * z]))
    assert mask.tolist() == [False, True, True]


def test_saturation_onset_values_and_errors():
    assert stats.saturation_onset("sigmoid") == pytest.approx(4.3565, abs=1e-4)
    assert stats.saturation_onset("tanh") == pytest.approx(2.1783, abs=1e-4)
    with pytest.raises(ValueError, match="does not saturate"):
        stats.saturation_onset("relu")
    with pytest.raises(ValueError, match="threshold"):
        stats.saturation_onset("sigmoid", 1.5)


# ----------------------------------------------------------------------------- the chain rule
def test_scalar_chain_product_equals_backprop_and_hand_computation():
    w = [1.5, -2.0, 0.8, 2.5, -1.2]
    chain = stats.scalar_chain(5, weights=w, x=1.0)
    # by hand: forward, then the product of phi'(z) w from the top
    a, zs = 1.0, []
    for wl in w:
        z = wl * a
        zs.append(z)
        a = 1 / (1 + np.exp(-z))
    zs = np.array(zs)
    slopes = sigmoid_grad(zs)
    np.testing.assert_allclose(chain.z, zs, rtol=1e-14)
    np.testing.assert_allclose(chain.factor, slopes * np.array(w), rtol=1e-14)
    expected = np.array([np.prod(slopes[l:] * np.array(w)[l:]) for l in range(5)])
    np.testing.assert_allclose(chain.product, expected, rtol=1e-12)
    np.testing.assert_allclose(chain.backprop, chain.product, rtol=1e-12)
    assert "backprop" in chain.as_table() and len(chain.as_table().splitlines()) == 6


def test_scalar_chain_random_weights_and_errors():
    chain = stats.scalar_chain(8, activation="tanh", seed=3, dout=2.0)
    np.testing.assert_allclose(chain.backprop, chain.product, rtol=1e-12)
    assert chain.product[-1] == pytest.approx(2.0 * chain.factor[-1])
    with pytest.raises(ValueError, match="weights"):
        stats.scalar_chain(3, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="depth"):
        stats.scalar_chain(0)


# ----------------------------------------------------------------------------- gradient flow
def _direct_norms(net, X, dlogits):
    """Forward and backward written out in plain numpy, independent of the engine's records."""
    Ws = [b.dense.params["W"] for b in net.blocks]
    bs = [b.dense.params["b"] for b in net.blocks]
    a, zs, acts = X, [], []
    for W, b in zip(Ws, bs):
        z = a @ W + b
        a = 1 / (1 + np.exp(-z))
        zs.append(z)
        acts.append(a)
    da = dlogits @ net.output.params["W"].T
    norms_da, norms_dW = [], []
    for l in range(len(Ws) - 1, -1, -1):
        norms_da.append(np.linalg.norm(da))
        dz = da * sigmoid_grad(zs[l])
        prev = acts[l - 1] if l > 0 else X
        norms_dW.append(np.linalg.norm(prev.T @ dz))
        da = dz @ Ws[l].T
    return np.array(norms_da[::-1]), np.array(norms_dW[::-1])


def test_gradient_flow_on_digits_matches_direct_numpy():
    net, flow = stats.digits_flow(depth=4, width=16, batch_size=32, seed=1)
    X, y = stats.digits_batch(32, seed=1)
    _, dlogits = gv.losses.softmax_cross_entropy(net.forward(X), y)
    da, dW = _direct_norms(net, X, dlogits)
    np.testing.assert_allclose(flow.da_norm, da, rtol=1e-10)
    np.testing.assert_allclose(flow.dW_norm, dW, rtol=1e-10)
    np.testing.assert_allclose(flow.weight_norm,
                               [np.linalg.svd(b.dense.params["W"], compute_uv=False)[0] for b in net.blocks])
    assert np.isfinite(flow.loss) and flow.first_nonfinite is None


def test_the_bound_holds_and_the_typical_factor_predicts_the_ratio():
    for ws in (1.0, 4.0, 16.0):
        _, flow = stats.digits_flow(depth=10, width=64, weight_scale=ws)
        assert flow.ratio("da") <= flow.bound
        assert flow.ratio("dz") <= flow.bound
        assert flow.ratio("da") == pytest.approx(flow.typical_factor, rel=0.15)
        assert np.all(flow.rms_slope <= 0.25)
    assert flow.slope_bound == 0.25 ** 9


def test_deep_sigmoid_gradient_vanishes_below_the_slope_bound_with_glorot_weights():
    _, flow = stats.digits_flow(depth=10, width=64)
    # with weights that keep lengths on average (gain ~1), the slopes set the pace: <= 1/4 per layer
    np.testing.assert_allclose(flow.weight_gain, 1.0, atol=0.05)
    assert flow.ratio("da") < flow.slope_bound
    assert 0.2 < flow.per_layer_factor("da") < 0.25
    assert flow.ratio("dW") < 1e-4


def test_large_weights_saturate_and_the_product_tilts_to_exploding():
    _, small = stats.digits_flow(depth=10, width=64, weight_scale=1.0)
    _, big = stats.digits_flow(depth=10, width=64, weight_scale=16.0)
    assert big.saturated_fraction.mean() > 0.5 > small.saturated_fraction.mean()
    assert big.rms_slope.mean() < small.rms_slope.mean()
    assert big.ratio("da") > 1 > small.ratio("da")


def test_overflow_is_reported_without_warnings_and_gradients_are_nan():
    net = MLP(64, depth=50, width=64, activation="relu", weight_scale=10.0, n_outputs=None, seed=0,
              dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow = stats.probe_flow(net, batch_size=64, spectral_norms=False)
    k = flow.first_nonfinite
    assert k is not None and flow.overflow["forward"] == k
    # float32 overflows near 3.4e38 = 10^38.5: with x10 per layer, around layer 38
    assert 30 <= k <= 40
    assert np.all(np.isfinite(flow.a_norm[:k - 1])) and np.all(np.isnan(flow.a_norm[k - 1:]))
    assert np.all(np.isnan(flow.da_norm)) and np.isnan(flow.ratio())
    assert np.isnan(flow.weight_norm).all() and np.isnan(flow.bound)


def test_probe_flow_draws_what_probe_draws():
    net = MLP(32, depth=3, width=32, activation="tanh", n_outputs=None, seed=0)
    flow = stats.probe_flow(net, batch_size=50, seed=4)
    ps = stats.probe(net, batch_size=50, seed=4)
    # Var over all entries vs squared norm / count (the mean of dL/da is ~0 but not exactly)
    np.testing.assert_allclose(flow.da_norm ** 2 / (50 * 32), ps.da_var + 0 * ps.da_var, rtol=0.05)
    np.testing.assert_allclose(flow.saturated_fraction, ps.saturated_fraction)


def test_gradient_flow_errors():
    net = MLP(8, depth=2, width=4, activation="sigmoid", n_outputs=None)
    with pytest.raises(ValueError, match="no output layer"):
        stats.gradient_flow(net, np.zeros((3, 8)), y=np.zeros(3, int))
    with pytest.raises(ValueError, match="dout"):
        stats.gradient_flow(net, np.zeros((3, 8)), dout=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="quantity"):
        stats.probe_flow(net, 4).ratio("dq")
    with pytest.raises(ValueError, match="batch_size"):
        stats.digits_batch(100000)


def test_depth_sweep_shares_layers_and_is_reproducible():
    sweep = stats.depth_sweep((3, 6), width=16, batch_size=64)
    assert list(sweep) == [3, 6]
    again = stats.depth_sweep((6,), width=16, batch_size=64)
    np.testing.assert_array_equal(sweep[6].da_norm, again[6].da_norm)
    assert sweep[6].ratio() < sweep[3].ratio() < 1


def test_relative_weight_change():
    net = MLP(4, depth=2, width=3, activation="sigmoid", seed=0)
    snap = stats.weight_snapshot(net)
    np.testing.assert_array_equal(stats.relative_weight_change(net, snap), [0.0, 0.0])
    net.blocks[1].dense.params["W"] *= 1.5
    np.testing.assert_allclose(stats.relative_weight_change(net, snap), [0.0, 0.5])
    with pytest.raises(ValueError, match="snapshot"):
        stats.relative_weight_change(net, snap[:1])
