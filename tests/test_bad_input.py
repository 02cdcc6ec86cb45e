"""Issue 12: every bad input a careless learner tried gets a named error (type and a fragment of
the message), and extreme values get an honest answer instead of a warning or a wrong number."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gradviz import plots, stats, widgets
from gradviz.chapters import ch02_vanishing_exploding as ch02
from gradviz.chapters import ch04a_dying_relu as ch04a
from gradviz.chapters import ch04b_relu_variants as ch04b
from gradviz.chapters import ch05_selu as ch05
from gradviz.chapters import ch06_batch_norm as ch06
from gradviz.chapters import ch07_playground as ch07
from gradviz.init import initialize
from gradviz.layers import BatchNorm, Dense
from gradviz.network import MLP


def _deep(**kw):
    return widgets.DeepNetworkExplorer(canvas="none", **{"depth": 2, "width": 8, "batch_size": 16, **kw})


def _training(**kw):
    return ch07.explorers.TrainingExplorer(canvas="none", **kw)


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
    # explorer constructors: once clamped without a word, or a bare TraitError
    ("explorer depth=1000", lambda: _deep(depth=1000), ValueError,
     "depth=1000 is outside this control's range: depth must be an integer from 1 to 50"),
    ("explorer weight_scale=1e6", lambda: _deep(weight_scale=1e6), ValueError,
     "weight_scale=1000000.0 is outside this control's range: weight_scale must be a number from 0.1 to 10"),
    ("explorer seed=-1", lambda: _deep(seed=-1), ValueError, "seed must be an integer from 0 to 2147483647"),
    ("explorer width=100", lambda: _deep(width=100), ValueError,
     "width=100 is not an option of this control; choose one of 8, 16, 32, 64, 128, 256, 512"),
    ("explorer activation='swish'", lambda: _deep(activation="swish"), ValueError,
     "activation='swish' is not an option of this control; choose one of 'linear', 'sigmoid'"),
    ("explorer init label", lambda: _deep(init="Glorot/Xavier uniform"), ValueError,
     "'glorot_uniform', 'glorot_normal'"),
    ("explorer depth=2.5", lambda: _deep(depth=2.5), TypeError, "depth must be an integer from 1 to 50; got 2.5"),
    ("explorer max_depth=10**6", lambda: _deep(max_depth=10**6), ValueError,
     f"max_depth must be an integer from 1 to {widgets.MAX_DEPTH}; got 1000000"),
    ("explorer max_depth=0", lambda: _deep(max_depth=0), ValueError, "max_depth must be an integer from 1"),
    ("explorer dtype int", lambda: _deep(dtype=np.int32), TypeError, "dtype must be a floating"),
    ("explorer unknown control", lambda: _deep(colour="red"), TypeError, "has no control colour; controls: depth"),
    ("explorer update depth=0", lambda: _deep().update(depth=0), ValueError, "depth=0 is outside this control's range"),
    ("explorer x_range reversed", lambda: widgets.ActivationExplorer(canvas="none", x_range=(5.0, -5.0)), ValueError,
     "x_range must be a pair (low, high) with -30 <= low <= high <= 30"),
    ("explorer z1=inf", lambda: widgets.ActivationExplorer(canvas="none", z1=np.inf), ValueError,
     "z1=inf is not finite"),
    ("training explorer run=True", lambda: _training(run=True), TypeError,
     "control 'run' is a Button without a value"),
    ("training explorer max_runs=100", lambda: _training(max_runs=100), ValueError,
     f"max_runs must be an integer from 1 to {len(plots.RUN_COLORS)}; got 100"),
    ("training explorer progress='no'", lambda: _training(progress="no"), TypeError,
     "progress must be True or False"),
    ("chapter explorer checkbox=1", lambda: ch05.SeluConditionsExplorer(canvas="none", standardized=1), TypeError,
     "standardized must be True or False; got 1"),
    ("chapter explorer depth=1", lambda: ch05.SeluConditionsExplorer(canvas="none", depth=1), ValueError,
     "depth must be an integer from 2 to 100"),
    # size arguments of chapter explorers: refused before anything is trained or drawn
    ("dying-ReLU explorer steps=10**7", lambda: ch04a.DyingReluExplorer(canvas="none", steps=10**7), ValueError,
     f"steps must be an integer from 1 to {ch04a.DyingReluExplorer.MAX_STEPS}; got 10000000"),
    ("leaky-slope explorer width=10**9", lambda: ch04b.LeakySlopeExplorer(canvas="none", width=10**9), ValueError,
     f"width must be an integer from 1 to {ch04b.LeakySlopeExplorer.MAX_WIDTH}; got 1000000000"),
    ("leaky-slope explorer width=64.5", lambda: ch04b.LeakySlopeExplorer(canvas="none", width=64.5), TypeError,
     "width must be an integer from 1"),
    ("RReLU explorer n=0", lambda: ch04b.RReLUExplorer(canvas="none", n=0), ValueError,
     f"n must be an integer from 1 to {ch04b.RReLUExplorer.MAX_N}; got 0"),
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


def test_controls_take_exactly_what_they_can_show():
    import ipywidgets as w

    from gradviz._controls import check_control, check_size

    log5 = w.FloatLogSlider(min=-1, max=np.log10(5.0))  # its end, 10**log10(5), is 5 up to rounding
    assert check_control("lr", log5, 5.0) == 5.0 and check_control("lr", log5, 0.1) == 0.1
    assert check_control("bn", w.ToggleButtons(options=(True, False)), False) is False
    with pytest.raises(ValueError, match="bn=1 is not an option of this control; choose one of True, False"):
        check_control("bn", w.ToggleButtons(options=(True, False)), 1)  # 1 == True in Python, not here
    assert check_control("m", w.SelectionSlider(options=(0.9, 0.99)), np.float64(0.99)) == 0.99
    assert check_control("x", w.FloatRangeSlider(min=-30, max=30), (-30, 30)) == (-30, 30)
    with pytest.raises(TypeError, match=r"x must be a pair \(low, high\)"):
        check_control("x", w.FloatRangeSlider(min=-30, max=30), 3.0)
    assert check_control("z", w.FloatText(), 1e300) == 1e300
    with pytest.raises(TypeError, match="z must be a finite number; got 'a' of type str"):
        check_control("z", w.FloatText(), "a")
    with pytest.raises(ValueError, match="is not an option of this control; choose one of .a.$"):
        check_control("options", w.Dropdown(options=["a"]), np.array(["a", "a"]))
    assert check_size("n", np.int64(3), 5) == 3
    with pytest.raises(TypeError, match="n must be an integer from 1 to 5; got True"):
        check_size("n", True, 5)
