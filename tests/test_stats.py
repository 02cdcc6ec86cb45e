"""Per-layer statistics: equal to direct numpy computations on a hand-made net; dead and saturated
fractions; histograms; reproducible probes; overflow shows as NaN above the first bad layer."""

from __future__ import annotations

import numpy as np
import pytest

from gradviz.activations import SATURATION_THRESHOLD
from gradviz.network import MLP
from gradviz.stats import histograms, layer_statistics, pass_statistics, probe


def _hand_made_net():
    # 2 -> 3 -> 2 (tanh) -> 2 logits, weights written out so the numbers can be followed by hand.
    net = MLP(2, hidden=(3, 2), activation="tanh", n_outputs=2, seed=0)
    d1, d2, out = net.blocks[0].dense, net.blocks[1].dense, net.output
    d1.params["W"][:] = [[0.5, -1.0, 4.0], [1.5, 0.25, -3.0]]
    d1.params["b"][:] = [0.1, -0.2, 0.0]
    d2.params["W"][:] = [[1.0, -0.5], [0.3, 2.0], [-0.7, 0.2]]
    d2.params["b"][:] = [0.0, 0.05]
    out.params["W"][:] = [[1.0, 2.0], [-1.0, 0.5]]
    out.params["b"][:] = [0.3, -0.3]
    return net


def test_statistics_equal_direct_numpy_on_a_hand_made_net():
    net = _hand_made_net()
    x = np.array([[1.0, 2.0], [-0.5, 0.3], [2.0, -1.0], [0.0, 0.7]])
    dout = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6], [0.7, -0.8]])
    s = pass_statistics(net, x, dout, training=True)

    W1, b1 = net.blocks[0].dense.params["W"], net.blocks[0].dense.params["b"]
    W2, b2 = net.blocks[1].dense.params["W"], net.blocks[1].dense.params["b"]
    Wo = net.output.params["W"]
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2
    a2 = np.tanh(z2)
    da2 = dout @ Wo.T
    dz2 = da2 * (1 - a2**2)
    dW2 = a1.T @ dz2
    da1 = dz2 @ W2.T
    dz1 = da1 * (1 - a1**2)
    dW1 = x.T @ dz1

    np.testing.assert_array_equal(s.layer, [1, 2])
    np.testing.assert_allclose(s.z_mean, [z1.mean(), z2.mean()], rtol=1e-13)
    np.testing.assert_allclose(s.z_var, [z1.var(), z2.var()], rtol=1e-13)
    np.testing.assert_allclose(s.a_mean, [a1.mean(), a2.mean()], rtol=1e-13)
    np.testing.assert_allclose(s.a_var, [a1.var(), a2.var()], rtol=1e-13)
    np.testing.assert_allclose(s.a_std, [a1.std(), a2.std()], rtol=1e-13)
    np.testing.assert_allclose(s.da_var, [da1.var(), da2.var()], rtol=1e-13)
    np.testing.assert_allclose(s.dz_var, [dz1.var(), dz2.var()], rtol=1e-13)
    np.testing.assert_allclose(s.grad_norm, [np.linalg.norm(dW1), np.linalg.norm(dW2)], rtol=1e-13)
    # Saturated: tanh'(z) < 0.05 * 1, i.e. |z| > 2.18. Counted by hand over the 4 x 3 and 4 x 2 entries.
    sat1 = np.mean(1 - np.tanh(z1) ** 2 < SATURATION_THRESHOLD)
    sat2 = np.mean(1 - np.tanh(z2) ** 2 < SATURATION_THRESHOLD)
    np.testing.assert_allclose(s.saturated_fraction, [sat1, sat2])
    assert sat1 == np.mean(np.abs(z1) > 2.18) and 0 < sat1 < 1  # the third unit (weights 4, -3) saturates
    np.testing.assert_array_equal(s.dead_fraction, [0.0, 0.0])  # tanh does not die
    assert s.first_nonfinite is None and s.overflow == {"forward": None, "backward": None}
    assert s.activation == "tanh" and s.depth == 2
    table = s.as_table()
    assert len(table.splitlines()) == 3 and "saturated" in table


def test_forward_only_leaves_gradient_statistics_nan():
    net = MLP(3, hidden=(4, 4), activation="relu", n_outputs=None)
    s = pass_statistics(net, np.random.default_rng(0).standard_normal((5, 3)))
    assert np.isnan(s.da_var).all() and np.isnan(s.dz_var).all() and np.isnan(s.grad_norm).all()
    assert np.isfinite(s.a_var).all()
    s = probe(net, batch_size=8, param_grads=False)
    assert np.isfinite(s.da_var).all() and np.isnan(s.grad_norm).all()
    s = probe(net, batch_size=8, param_grads=True)
    assert np.isfinite(s.grad_norm).all()


def test_dead_fraction_with_large_negative_bias():
    net = MLP(16, depth=4, width=32, activation="relu", bias=-10.0, n_outputs=None, seed=0)
    s = probe(net, batch_size=128, seed=1)
    # Layer 1: z ~ N(-10, 2) (He init, standard-normal input): P(z > 0) ~ 1e-12 per entry.
    assert s.dead_fraction[0] > 0.99
    # Above it every input is 0, so z = -10 exactly: all dead, and no gradient gets through.
    np.testing.assert_array_equal(s.dead_fraction[1:], 1.0)
    assert np.all(s.dz_var == 0.0)
    # The same shift does not kill leaky ReLU (its negative slope is not 0) ...
    assert np.all(probe(MLP(16, depth=4, width=32, activation="leaky_relu", bias=-10.0, n_outputs=None),
                        batch_size=128).dead_fraction == 0.0)
    # ... and batch norm before the activation removes it (it subtracts the batch mean).
    s_bn = probe(MLP(16, depth=4, width=32, activation="relu", bias=-10.0, batch_norm="before", n_outputs=None),
                 batch_size=128)
    assert np.all(s_bn.dead_fraction < 0.05)
    # A healthy He-initialised ReLU net has few dead units (a handful of 32 can die at init).
    assert np.all(probe(MLP(16, depth=4, width=32, activation="relu", n_outputs=None), batch_size=128)
                  .dead_fraction < 0.15)


def test_dead_fraction_counts_units_dead_for_every_example():
    net = MLP(2, hidden=(3,), activation="relu", n_outputs=None)
    d = net.blocks[0].dense
    d.params["W"][:] = [[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]
    d.params["b"][:] = [0.0, -1.0, 0.0]
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    # unit 0: z = x0 (positive for some examples: alive); unit 1: z = -1 always (dead);
    # unit 2: z = -x0 (positive for example 2: alive).
    s = pass_statistics(net, x)
    assert s.dead_fraction[0] == pytest.approx(1 / 3)


def test_saturated_fraction():
    # weight_scale 30: sd(z) ~ 20 or more, so P(|z| > 4.36) ~ P(|N(0,1)| > 0.2) ~ 0.8 for the sigmoid.
    big = dict(depth=3, width=64, weight_scale=30.0, n_outputs=None, seed=0)
    s_sig = probe(MLP(32, activation="sigmoid", **big), batch_size=128)
    assert np.all(s_sig.saturated_fraction > 0.7), s_sig.saturated_fraction
    s_tanh = probe(MLP(32, activation="tanh", **big), batch_size=128)
    assert np.all(s_tanh.saturated_fraction > 0.7), s_tanh.saturated_fraction
    # Glorot-initialised sigmoid: few saturated units.
    assert np.all(probe(MLP(32, activation="sigmoid", depth=3, width=64, n_outputs=None), batch_size=128)
                  .saturated_fraction < 0.05)
    # ReLU never "saturates", whatever the weights.
    np.testing.assert_array_equal(probe(MLP(32, activation="relu", **big), batch_size=128).saturated_fraction, 0.0)


@pytest.mark.parametrize("key", ["z", "a", "dz", "da"])
def test_histogram_rows_integrate_to_one(key):
    net = MLP(8, depth=5, width=16, activation="tanh", n_outputs=None)
    probe(net, batch_size=64)
    edges, density = histograms(net, key=key, bins=30)
    assert edges.shape == (31,) and density.shape == (5, 30)
    np.testing.assert_allclose((density * np.diff(edges)).sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(density >= 0)
    # A common range: every layer's values lie within it.
    for r in net.records:
        assert edges[0] <= r[key].min() and r[key].max() <= edges[-1]


@pytest.mark.filterwarnings("error")
def test_histogram_of_an_empty_window_is_zero_without_warnings():
    net = MLP(8, depth=3, width=16, activation="tanh", n_outputs=None)
    probe(net, batch_size=64)
    edges, density = histograms(net, key="a", bins=10, value_range=(5.0, 6.0))  # tanh never gets there
    np.testing.assert_array_equal(density, 0.0)
    edges, density = histograms(net, key="a", bins=10, value_range=(0.0, 1.0))  # part of the values
    np.testing.assert_allclose((density * np.diff(edges)).sum(axis=1), 1.0, rtol=1e-12)


def test_histogram_errors():
    net = MLP(4, depth=2, width=4, n_outputs=None)
    with pytest.raises(ValueError, match="no recorded"):
        histograms(net)
    probe(net, batch_size=4)
    with pytest.raises(ValueError, match=r"key='w' is not known; choose one of: a, da, dz, z"):
        histograms(net, key="w")
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        histograms(net, bins=0)


def test_probe_reproducible():
    net = MLP(10, depth=4, width=12, activation="tanh", batch_norm="before", n_outputs=None, seed=3)
    a, b, c = probe(net, seed=7), probe(net, seed=7), probe(net, seed=8)
    for field in ("z_var", "a_mean", "a_var", "da_var", "dz_var", "saturated_fraction"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.a_var, c.a_var)
    # A network that draws in training (RReLU, dropout): the same seeds give the same probe on a fresh net.
    kw = dict(depth=3, width=12, activation="rrelu", dropout=0.2, n_outputs=None, seed=3)
    np.testing.assert_array_equal(probe(MLP(10, **kw), seed=1).da_var, probe(MLP(10, **kw), seed=1).da_var)


@pytest.mark.filterwarnings("error")
def test_exploding_network_statistics_nan_above_first_bad_layer():
    width = 256
    net = MLP(width, depth=40, width=width, activation="relu", init="normal", init_kwargs={"std": 1.0},
              dtype=np.float32, n_outputs=None, seed=0)
    s = probe(net, batch_size=8, param_grads=True)
    first = s.first_nonfinite
    assert first is not None and first == s.overflow["forward"] == net.first_nonfinite
    assert np.isfinite(s.a_var[: first - 1]).all()
    assert np.isnan(s.a_var[first - 1:]).all()
    assert np.isnan(s.a_std[first - 1:]).all()
    edges, density = histograms(net, key="a")
    assert np.isnan(density[first - 1:]).all()
    np.testing.assert_allclose((density[: first - 1] * np.diff(edges)).sum(axis=1), 1.0, rtol=1e-6)
    assert s.as_table()  # prints NaNs, does not raise


def test_errors():
    net = MLP(4, depth=2, width=4, n_outputs=3)
    with pytest.raises(ValueError, match="no recorded pass"):
        layer_statistics(net)
    with pytest.raises(ValueError, match=r"x must have 4 features"):
        pass_statistics(net, np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"dout must have the output's shape \(2, 3\); got \(2, 4\)"):
        pass_statistics(net, np.zeros((2, 4)), dout=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        probe(net, batch_size=0)
    with pytest.raises(ValueError, match="threshold"):
        pass_statistics(MLP(4, depth=2, width=4, activation="sigmoid"), np.zeros((2, 4)), threshold=2.0)


def test_saturation_read_from_the_backward_slope_equals_the_mask_of_z():
    # layer_statistics takes the saturated fraction from the slope phi'(z) that the backward pass kept;
    # it must be exactly what saturation_mask(z) gives (the forward-only path).
    from gradviz.stats import layer_statistics

    for activation in ("sigmoid", "tanh"):
        net = MLP(32, depth=6, width=32, activation=activation, init="glorot_normal", weight_scale=4.0, n_outputs=None,
                  seed=1, dtype=np.float32)
        stats = probe(net, batch_size=64, seed=2)
        assert "slope" in net.records[0]
        assert 0 < stats.saturated_fraction.max() < 1
        for rec in net.records:
            del rec["slope"]
        np.testing.assert_array_equal(layer_statistics(net).saturated_fraction, stats.saturated_fraction)
    with pytest.raises(ValueError, match="threshold"):
        layer_statistics(net, threshold=1.5)


def test_probe_inputs_are_drawn_once_per_seed_and_cannot_be_changed():
    net = MLP(16, depth=3, width=16, activation="tanh", n_outputs=None, seed=0)
    first = probe(net, batch_size=32, seed=5)
    # what the records hold is the learner's to change (the last layer's da is the injected gradient) ...
    net.records[-1]["da"] *= 2
    net.blocks[0].dense.cache[0, 0] = 1.0
    # ... without changing what the seed gives next time
    again = probe(net, batch_size=32, seed=5)
    np.testing.assert_array_equal(first.a_var, again.a_var)
    # a Generator draws afresh, the same numbers as the integer seed would
    from_rng = probe(net, batch_size=32, seed=np.random.default_rng(5))
    np.testing.assert_array_equal(first.da_var, from_rng.da_var)


def test_grad_norm_is_the_one_dot_product_norm_in_float64():
    # stats once defined _norm twice and layer_statistics ran the second one (a sum of squares):
    # grad_norm is ||dW||_F as sqrt(v . v) of the float64 entries, bit for bit. Seed 1 is a case where
    # the sum of squares rounds differently in the last bit, so the test tells the two apart.
    for dtype in (np.float64, np.float32):
        net = MLP(32, depth=4, width=48, activation="tanh", n_outputs=None, seed=1, dtype=dtype)
        stats = probe(net, batch_size=64, seed=1, param_grads=True)
        v = [r["dW"].ravel().astype(np.float64) for r in net.records]
        dot = [float(np.sqrt(np.dot(x, x))) for x in v]
        assert list(stats.grad_norm) == dot
        if dtype is np.float64:
            assert dot != [float(np.sqrt(np.sum(np.square(x)))) for x in v]

def test_float32_moments_are_summed_by_blas_to_float64_accuracy_of_about_1e_6():
    from gradviz.stats import _var

    rng = np.random.default_rng(0)
    cases = [rng.standard_normal((256, 256)), 1e3 + 1e-2 * rng.standard_normal((64, 64)),  # far from 0
             0.5 + 1e-4 * rng.standard_normal((32, 512)), 1e25 * rng.standard_normal((16, 16)),  # squares > 3.4e38
             np.maximum(rng.standard_normal((256, 256)), 0.0),  # ReLU's a: mean^2 = 0.47 var, summed unshifted
             1.0 + rng.standard_normal((128, 256))]  # mean^2 ~ var: the border between the two ways of summing
    for x in cases:
        x32 = x.astype(np.float32)
        ref = x32.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # as layer_statistics calls it
            m, v = _var(x32)
        assert m == pytest.approx(ref.mean(), rel=1e-6, abs=1e-7 * np.abs(ref).max())
        assert v == pytest.approx(ref.var(), rel=1e-5, abs=0)
    with np.errstate(over="ignore", invalid="ignore"):
        for bad in (np.inf, np.nan):
            x32 = np.ones((8, 8), np.float32)
            x32[3, 4] = bad
            assert all(np.isnan(_var(x32)))
        m, v = _var(np.full((4, 4), 3e38, np.float32))  # a float32 sum beyond 3.4e38: float64 decides
    assert m == pytest.approx(3e38, rel=1e-6) and v == 0.0


def test_probe_of_rows_and_combining_parts():
    from gradviz.stats import combine_stats

    net = MLP(8, depth=4, width=8, activation="tanh", n_outputs=None, seed=0, dtype=np.float32)
    part = probe(net, batch_size=40, seed=2, rows=slice(10, 30))
    ref = pass_statistics(net, *(np.random.default_rng(2).standard_normal(s).astype(np.float32)[10:30]
                                 for s in ((40, 8), (40, 8))), param_grads=False)
    np.testing.assert_array_equal(part.a_var, ref.a_var)
    assert part.n_examples == 20
    with pytest.raises(TypeError, match="slice"):
        probe(net, batch_size=40, rows=[1, 2])
    with pytest.raises(ValueError, match="selects no example"):
        probe(net, batch_size=40, rows=slice(50, 60))
    with pytest.raises(ValueError, match="empty"):
        combine_stats([])
    with pytest.raises(ValueError, match="do not add"):
        combine_stats([probe(net, batch_size=8, param_grads=True), part])
    # ReLU: a unit dead in one part but alive in another is alive in the whole batch
    relu = MLP(8, depth=6, width=4, activation="relu", bias=-1.0, n_outputs=None, seed=1)
    parts = [probe(relu, batch_size=64, seed=0, rows=slice(i, i + 16)) for i in range(0, 64, 16)]
    whole = probe(relu, batch_size=64, seed=0)
    combined = combine_stats(parts)
    np.testing.assert_array_equal(combined.dead_fraction, whole.dead_fraction)
    assert max(p.dead_fraction.max() for p in parts) > whole.dead_fraction.max() or whole.dead_fraction.max() == 1


def _stats_arrays(s):
    return {k: v for k, v in vars(s).items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("batch_norm", [None, "before"])
def test_probe_releases_the_last_pass_first_without_changing_a_number(batch_norm):
    # The probe drops the previous pass's records and caches before its own pass (so that the new arrays reuse
    # their memory instead of fresh pages): the statistics are bit for bit those of a fresh network's probe,
    # the records afterwards are the probe's own pass, and the weight gradients of a training step stay.
    def build():
        return MLP(16, depth=4, width=16, activation="tanh", n_outputs=None, seed=3, dtype=np.float32,
                   batch_norm=batch_norm)

    fresh = probe(build(), batch_size=32, seed=1)
    net = build()
    x = np.random.default_rng(2).standard_normal((8, 16))
    net.forward(x, training=False, record=True)
    net.backward(np.ones((8, 16)), record=True)  # a different pass, with weight gradients
    grads = [b.dense.grads["W"] for b in net.blocks]
    again = probe(net, batch_size=32, seed=1)
    for k, v in _stats_arrays(fresh).items():
        np.testing.assert_array_equal(getattr(again, k), v, err_msg=k)
    assert all(r["z"].shape == (32, 16) and "dW" not in r for r in net.records)
    assert all(b.dense.grads["W"] is g for b, g in zip(net.blocks, grads))
    assert layer_statistics(net).a_var.tolist() == again.a_var.tolist()


@pytest.mark.parametrize("activation, batch_norm", [("tanh", None), ("sigmoid", "after"), ("relu", None),
                                                    ("relu", "before"), ("elu", None), ("prelu", None)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_taken_during_the_pass_equal_those_taken_after_it(activation, batch_norm, dtype):
    # pass_statistics summarises each layer as soon as it has run (MLP.forward/backward's on_layer);
    # layer_statistics reads the same records after the pass: every number the same, to the bit.
    for weight_scale, dout in ((1.0, True), (3.0, False), (40.0, True)):  # 40: float32 ReLU/ELU overflow
        net = MLP(12, depth=5, width=24, activation=activation, batch_norm=batch_norm, weight_scale=weight_scale,
                  n_outputs=3, seed=1, dtype=dtype)
        x = np.random.default_rng(0).standard_normal((20, 12)) * 30
        during = pass_statistics(net, x, np.ones((20, 3)) if dout else None)
        after = layer_statistics(net)
        for k, v in vars(during).items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(getattr(after, k), v, err_msg=k)
            elif k == "dead_units" and v is not None:
                assert all(np.array_equal(a, b) for a, b in zip(after.dead_units, v))
            else:
                assert getattr(after, k) == v, k


def test_dead_units_from_the_sums_of_a_are_those_whose_z_is_never_positive():
    # A ReLU unit is dead when z <= 0 for every example; the statistics test it as sum(max(z, 0)) == 0 over
    # the examples, which must agree for every kind of value: zeros of both signs, the smallest and the
    # largest float32 values, inf and nan. One unit per column, three examples.
    from gradviz.activations import relu
    from gradviz.network import LayerRecord
    from gradviz.stats import _LayerSummaries

    z = np.array([[-1.0, 0.0, -0.0, -np.inf, 1e-45, -3e38, 3e38, np.inf, np.nan],
                  [-2.0, -0.0, -1.0, -1.0, -1.0, -3e38, 3e38, -1.0, -1.0],
                  [-3.0, 0.0, -5.0, -np.inf, -1.0, -3e38, 1.0, -np.inf, -1.0]], dtype=np.float32)
    net = MLP(9, hidden=(9,), activation="relu", n_outputs=None, dtype=np.float32)
    summaries = _LayerSummaries(net, SATURATION_THRESHOLD)
    with np.errstate(over="ignore", invalid="ignore"):
        summaries.forward(1, LayerRecord(z=z, a=relu(z)))
        expected = z.max(axis=0) <= 0
    assert expected.tolist() == [True, True, True, True, False, True, False, False, False]
    np.testing.assert_array_equal(summaries.dead_units[0], expected)
    assert summaries.dead[0] == 5 / 9
