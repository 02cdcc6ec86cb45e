"""Issue 12: every bad input a careless learner tried gets a named error (type and a fragment of
the message), and extreme values get an honest answer instead of a warning or a wrong number."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gradviz import plots, stats
from gradviz.chapters import ch02_vanishing_exploding as ch02
from gradviz.chapters import ch06_batch_norm as ch06
from gradviz.init import initialize
from gradviz.layers import BatchNorm, Dense
from gradviz.network import MLP


def _net(**kw):
    return MLP(4, depth=2, width=3, **kw)


def _forwarded(**kw):
    net = _net(**kw)
    net.forward(np.ones((5, 4)))
    return net


def _recorded():
    net = _net(n_outputs=None)
    net.forward(np.ones((5, 4)), record=True)
    return net


BAD_INPUTS = [
    # silently wrong before
    ("backward before forward", lambda: _net().backward(np.ones((5, 10))), RuntimeError, "call net.forward(x) first"),
    ("initialize int64", lambda: initialize("he_normal", (64, 64), dtype=np.int64), TypeError, "dtype must be a floating"),
    ("Dense int32", lambda: Dense(64, 64, dtype=np.int32), TypeError, "got int32"),
    ("BatchNorm int32", lambda: BatchNorm(3, dtype=np.int32), TypeError, "float32, float64"),
    ("MLP int64", lambda: _net(dtype=np.int64), TypeError, "dtype must be a floating"),
    ("histograms value_range nan", lambda: stats.histograms(_recorded(), value_range=(np.nan, 1)), ValueError,
     "value_range[0] must be finite"),
    ("batch_norm_steps eps=0", lambda: ch06.batch_norm_steps(np.ones((3, 2)), eps=0), ValueError, "eps must be > 0"),
    # confusing before
    ("MLP dtype banana", lambda: _net(dtype="banana"), TypeError, "got 'banana'"),
    ("weight_scale 1e200", lambda: _net(weight_scale=1e200), ValueError, "gain=1e+200 (an MLP's weight_scale)"),
    ("histograms value_range (1, 0)", lambda: stats.histograms(_recorded(), value_range=(1, 0)), ValueError,
     "low < high"),
    ("dout wrong shape", lambda: _forwarded().backward(np.ones((5, 3))), ValueError, "dout must have the shape"),
    ("dout wrong batch", lambda: _forwarded().backward(np.ones((4, 10))), ValueError, "got shape (4, 10)"),
    ("dout not numeric", lambda: _forwarded().backward(np.full((5, 10), "a")), TypeError, "dout must be a real"),
    ("training='yes'", lambda: _net().forward(np.ones((2, 4)), training="yes"), TypeError,
     "training must be True or False"),
    ("residual='no'", lambda: _net(residual="no"), TypeError, "residual must be True or False"),
    ("momentum without batch norm", lambda: _net(momentum=0.9), TypeError, "takes no parameter momentum"),
    ("eps without batch norm", lambda: _net(eps=1e-5), TypeError, "takes no parameter eps"),
    ("std with he_normal", lambda: _net(init="he_normal", init_kwargs={"std": 5}), ValueError,
     "std=5 is not used by init='he_normal'"),
    ("limit with normal", lambda: initialize("normal", (3, 3), limit=2.0), ValueError, "limit applies only to"),
    ("width 10**9", lambda: MLP(4, depth=2, width=10**9), ValueError, "at most 8 GiB is allowed"),
    ("hidden (10**12,)", lambda: MLP(4, hidden=(10**12,)), ValueError, "would take 1.12e+05 GiB"),
]


@pytest.mark.parametrize("label, call, exc, fragment", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_named_error(label, call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


def test_overflow_in_z_alone_is_reported_at_its_layer():
    x = np.random.default_rng(0).standard_normal((64, 32))
    for activation, scale in (("sigmoid", 1e38), ("tanh", 3e38)):
        net = MLP(32, depth=5, width=64, activation=activation, weight_scale=scale, dtype=np.float32,
                  n_outputs=None)
        net.forward(x)
        assert not np.isfinite(net.blocks[0].cache[0]).all()
        assert net.overflow["forward"] == 1


def test_float32_weights_beyond_range_become_inf_quietly_and_are_reported():
    net = MLP(4, depth=2, width=3, weight_scale=1e39, dtype=np.float32)
    assert np.isinf(net.blocks[0].dense.params["W"]).any()
    net.forward(np.ones((2, 4)))
    assert net.overflow["forward"] == 1


def test_histograms_of_huge_finite_values_are_densities():
    net = MLP(64, depth=200, width=64, activation="relu", weight_scale=1e3, n_outputs=None)
    p = stats.probe(net)
    edges, density = stats.histograms(net)
    assert np.isfinite(edges).all() and edges[-1] > 1e306
    ok = np.isfinite(density).all(axis=1)
    assert ok.sum() == p.overflow["forward"] - 1  # every layer before the overflow has a histogram
    np.testing.assert_allclose((density[ok] * np.diff(edges)).sum(axis=1), 1.0, rtol=1e-12)


def test_depth_zero_probes_and_is_a_linear_model():
    p = stats.probe(MLP(64, depth=0, width=3))
    assert p.grad_norm.shape == (0,)


def test_seed_none_is_fresh_entropy():
    a, b = MLP(4, hidden=(8,), seed=None), MLP(4, hidden=(8,), seed=None)
    assert not np.array_equal(a.blocks[0].dense.params["W"], b.blocks[0].dense.params["W"])
    c, d = MLP(4, hidden=(8,), seed=3), MLP(4, hidden=(8,), seed=3)
    assert np.array_equal(c.blocks[0].dense.params["W"], d.blocks[0].dense.params["W"])


def _draw(fig=None):
    (fig or plt.gcf()).canvas.draw()
    plt.close("all")


def test_extreme_pictures_draw_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        relu = MLP(64, depth=200, width=64, activation="relu", weight_scale=1e3, n_outputs=None)
        p = stats.probe(relu)
        plots.plot_variances(p)
        _draw()
        plots.plot_histograms(relu, logy=True)
        _draw()
        flow = ch02.probe_flow(MLP(64, depth=50, width=64, activation="sigmoid", weight_scale=1e10, n_outputs=None))
        ch02.figures.plot_gradient_ratio(flow)
        _draw()
        chain = ch02.scalar_chain(depth=120, activation="linear", weight_scale=1e3)
        assert np.isinf(chain.product[0])
        values = np.tile(np.geomspace(1e-300, 1e300, 10), (5, 1))
        for kind in ("heatmap", "lines"):
            plots.plot_layer_stat_over_steps(np.arange(5), values, kind=kind)
            _draw()


def test_binary_cross_entropy_on_logits_is_stable_and_hand_checked():
    from gradviz.losses import binary_cross_entropy_with_logits

    z = np.array([[0.0], [2.0], [-1000.0], [1000.0]])
    y = np.array([1, 0, 1, 0])
    loss, dz = binary_cross_entropy_with_logits(z, y)
    expected = [np.log(2.0), 2.0 + np.log1p(np.exp(-2.0)), 1000.0, 1000.0]
    assert loss == pytest.approx(np.mean(expected), rel=1e-15)
    np.testing.assert_allclose(dz[:, 0], (np.array([0.5, 1 / (1 + np.exp(-2.0)), 0.0, 1.0]) - y) / 4, rtol=1e-15)
    with pytest.raises(ValueError, match="one column"):
        binary_cross_entropy_with_logits(np.zeros((3, 2)), [0, 1, 0])
    with pytest.raises(ValueError, match="labels in 0..1"):
        binary_cross_entropy_with_logits(np.zeros((3, 1)), [0, 2, 0])


def test_train_fits_a_one_logit_binary_task():
    from gradviz.data import load_digits
    from gradviz.train import train

    d = load_digits()
    data = (d.X_train, (d.y_train == 0).astype(int), d.X_test, (d.y_test == 0).astype(int))
    net = MLP(64, hidden=(16,), activation="tanh", n_outputs=1, seed=0)
    h = train(net, data, lr=0.1, steps=200, progress=False, loss="binary_cross_entropy")
    assert h.test_accuracy[-1] > 0.97 and h.train_loss[-1] < h.train_loss[0]
    with pytest.raises(ValueError, match="n_outputs=1"):
        train(MLP(64, hidden=(4,)), data, steps=1, progress=False, loss="binary_cross_entropy")


def test_probe_and_gradient_flow_run_blas_on_one_thread(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    seen = []
    forward = MLP.forward

    def spy(self, *args, **kwargs):
        # numpy's own BLAS (scipy, once sklearn loads the digits, brings another)
        seen.append({i["num_threads"] for i in threadpool_info()
                     if i["user_api"] == "blas" and "numpy" in i["filepath"]})
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(MLP, "forward", spy)
    with threadpool_limits(2, user_api="blas"):
        stats.probe(MLP(8, hidden=(8,), n_outputs=None), batch_size=4)
        ch02.probe_flow(MLP(8, hidden=(8,), n_outputs=None), batch_size=4)
    assert seen and all(s == {1} for s in seen)


def test_random_biases_are_seeded_leave_the_weights_and_match_the_theory():
    from gradviz.theory import init_weight_variances, predict_variances

    a = MLP(64, hidden=(2048, 2048), activation="tanh", bias=0.1, bias_std=0.3, n_outputs=None, seed=5)
    b = MLP(64, hidden=(2048, 2048), activation="tanh", bias=0.1, bias_std=0.3, n_outputs=None, seed=5)
    plain = MLP(64, hidden=(2048, 2048), activation="tanh", bias=0.1, n_outputs=None, seed=5)
    for la, lb, lp in zip(a.blocks, b.blocks, plain.blocks):
        assert np.array_equal(la.dense.params["b"], lb.dense.params["b"])
        assert np.array_equal(la.dense.params["W"], lp.dense.params["W"])
        bias = la.dense.params["b"]
        assert abs(bias.mean() - 0.1) < 0.03 and abs(bias.std() - 0.3) < 0.015
    p = stats.probe(a, batch_size=512)
    widths = (64, 2048, 2048)
    pred = predict_variances(widths, "tanh", init_weight_variances(widths, a.init), bias_var=0.09, bias_mean=0.1)
    np.testing.assert_allclose(p.z_var, pred.z_var, rtol=0.05)
    with pytest.raises(ValueError, match="bias_std must be >= 0"):
        MLP(4, hidden=(3,), bias_std=-1)
