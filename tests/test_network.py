"""The MLP: whole-network gradients vs finite differences for every activation and layout,
seeds, overflow reporting, records, and argument errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcheck import check_network
from gradviz.layers import AlphaDropout, BatchNorm, Dense, Dropout, PReLU, RReLU
from gradviz.network import MLP, NETWORK_ACTIVATIONS, BatchNormOptions, DropoutOptions


def test_network_activations_list():
    assert set(NETWORK_ACTIVATIONS) == {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu",
                                        "rrelu", "prelu"}


# ---------------------------------------------------------------- gradients


GRID = list(itertools.product(sorted(NETWORK_ACTIVATIONS), [None, "before", "after"], [3, None], [False, True]))


@pytest.mark.parametrize("activation, batch_norm, n_outputs, residual", GRID,
                         ids=[f"{a}-bn_{b}-out_{o}-res_{r}" for a, b, o, r in GRID])
def test_network_gradients(activation, batch_norm, n_outputs, residual):
    # 4 -> 4 (residual when on) -> 5 (widths differ: no skip) -> 5 (residual when on) [-> 3].
    # Training mode: batch norm uses the batch statistics, RReLU draws its slopes (frozen per check).
    net = MLP(4, hidden=(4, 5, 5), activation=activation, batch_norm=batch_norm, n_outputs=n_outputs,
              residual=residual, seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 4))
    errors = check_network(net, x, training=True, rng=rng)
    n_params = sum(1 for _ in net.parameters())
    assert len(errors) == 1 + n_params
    expected = 2 * 3 + (2 * 3 if batch_norm else 0) + (3 if activation == "prelu" else 0) + (2 if n_outputs else 0)
    assert n_params == expected


@pytest.mark.parametrize("activation", sorted(NETWORK_ACTIVATIONS))
@pytest.mark.parametrize("batch_norm", [None, "before", "after"])
def test_network_gradients_inference_mode(activation, batch_norm):
    # Inference: batch norm uses its (non-trivial, after a few training passes) moving statistics,
    # RReLU its mean slope.
    net = MLP(3, hidden=(4, 4), activation=activation, n_outputs=2, seed=3,
              batch_norm=None if batch_norm is None else BatchNormOptions(batch_norm, momentum=0.5))
    rng = np.random.default_rng(4)
    for _ in range(3):
        net.forward(rng.normal(0.5, 2.0, size=(8, 3)), training=True)
    check_network(net, rng.standard_normal((3, 3)), training=False, rng=rng)


@pytest.mark.parametrize("activation, kind", [("relu", "standard"), ("tanh", "standard"), ("selu", "alpha"),
                                              ("rrelu", "standard")])
def test_network_gradients_with_dropout(activation, kind):
    # The masks (and RReLU slopes) are re-drawn identically before every evaluation.
    net = MLP(4, hidden=(6, 6), activation=activation, dropout=DropoutOptions(0.3, kind), n_outputs=2, seed=5)
    assert any(isinstance(ly, (Dropout, AlphaDropout)) for ly in net.layers)
    check_network(net, np.random.default_rng(6).standard_normal((5, 4)), training=True)


@settings(max_examples=15, deadline=None)
@given(
    activation=st.sampled_from(sorted(NETWORK_ACTIVATIONS)),
    batch_norm=st.sampled_from([None, "before", "after"]),
    n_inputs=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_outputs=st.one_of(st.none(), st.integers(1, 3)),
    batch=st.integers(3, 5),  # batch 2 makes batch norm's x-gradient O(eps): below FD resolution
    residual=st.booleans(),
    training=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_network_gradients_random_shapes(activation, batch_norm, n_inputs, hidden, n_outputs, batch, residual,
                                         training, seed):
    net = MLP(n_inputs, hidden=tuple(hidden), activation=activation, batch_norm=batch_norm, n_outputs=n_outputs,
              residual=residual, seed=seed)
    rng = np.random.default_rng(seed)
    check_network(net, rng.standard_normal((batch, n_inputs)), training=training, rng=rng)


def test_depth_zero_is_a_linear_model():
    net = MLP(4, depth=0, width=3, n_outputs=2)
    assert net.depth == 0 and len(net.layers) == 1 and isinstance(net.layers[0], Dense)
    x = np.random.default_rng(0).standard_normal((3, 4))
    out = net.forward(x)
    np.testing.assert_allclose(out, x @ net.output.params["W"] + net.output.params["b"])
    check_network(net, x)


# ---------------------------------------------------------------- structure and records


def test_layer_order_and_residual_only_where_widths_match():
    net = MLP(4, hidden=(4, 6, 6), activation="prelu", batch_norm="before", n_outputs=2, residual=True)
    kinds = [type(ly).__name__ for ly in net.layers]
    assert kinds == ["Dense", "BatchNorm", "PReLU"] * 3 + ["Dense"]
    assert [b.residual for b in net.blocks] == [True, False, True]
    net = MLP(4, hidden=(5,), activation="tanh", batch_norm="after", n_outputs=None)
    assert [type(ly).__name__ for ly in net.layers] == ["Dense", "ActivationLayer", "BatchNorm"]


def test_residual_forward_adds_the_input():
    net = MLP(3, hidden=(3,), activation="tanh", residual=True, n_outputs=None)
    x = np.random.default_rng(0).standard_normal((2, 3))
    d = net.blocks[0].dense
    np.testing.assert_allclose(net.forward(x), x + np.tanh(x @ d.params["W"] + d.params["b"]), rtol=1e-14)


def test_records_hold_z_a_dz_da_dw():
    net = MLP(3, hidden=(4, 5), activation="tanh", n_outputs=2, seed=0)
    x = np.random.default_rng(0).standard_normal((6, 3))
    out = net.forward(x, record=True)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    net.backward(dout, record=True)
    h = x
    for block, rec in zip(net.blocks, net.records):
        z = h @ block.dense.params["W"] + block.dense.params["b"]
        np.testing.assert_allclose(rec["z"], z, rtol=1e-14)
        np.testing.assert_allclose(rec["a"], np.tanh(z), rtol=1e-14)
        np.testing.assert_allclose(rec["dz"], rec["da"] * (1 - np.tanh(z) ** 2), rtol=1e-14)
        # atol: an entry of dW that is a sum of products cancelling to ~0 is exact only to ~eps sum |h dz|.
        np.testing.assert_allclose(rec["dW"], h.T @ rec["dz"], rtol=1e-12, atol=1e-15)
        h = rec["a"]
    np.testing.assert_allclose(net.records[-1]["da"], dout @ net.output.params["W"].T, rtol=1e-14)
    np.testing.assert_allclose(net.records[0]["da"], net.records[1]["dz"] @ net.blocks[1].dense.params["W"].T,
                               rtol=1e-12)


def test_param_grads_false_skips_weight_gradients():
    net = MLP(3, hidden=(4,), activation="relu", n_outputs=2)
    x = np.ones((2, 3))
    dx_full = net.backward(np.ones_like(net.forward(x)))
    net2 = MLP(3, hidden=(4,), activation="relu", n_outputs=2)
    dx = net2.backward(np.ones_like(net2.forward(x)), param_grads=False)
    np.testing.assert_array_equal(dx, dx_full)
    assert all(not ly.grads for ly in net2.layers if isinstance(ly, Dense))


def test_activation_parameters_reach_the_layers():
    net = MLP(3, hidden=(4,), activation="leaky_relu", alpha=0.2, n_outputs=None)
    assert net.blocks[0].act.act_params == {"alpha": 0.2}
    net = MLP(3, hidden=(4,), activation="rrelu", lower=0.2, upper=0.3, n_outputs=None)
    assert isinstance(net.blocks[0].act, RReLU) and (net.blocks[0].act.lower, net.blocks[0].act.upper) == (0.2, 0.3)
    net = MLP(3, hidden=(4,), activation="prelu", alpha_init=0.1, n_outputs=None)
    assert isinstance(net.blocks[0].act, PReLU) and np.all(net.blocks[0].act.params["alpha"] == 0.1)
    assert net.blocks[0].act.params["alpha"].shape == (4,)


def test_recommended_init_when_none():
    assert MLP(3, hidden=(4,), activation="relu").init == "he_normal"
    assert MLP(3, hidden=(4,), activation="tanh").init == "glorot_uniform"
    assert MLP(3, hidden=(4,), activation="selu").init == "lecun_normal"
    assert MLP(3, hidden=(4,), activation="prelu").init == "he_normal"


# ---------------------------------------------------------------- seeds


def _weights(net):
    return [ly.params["W"] for ly in net.layers if isinstance(ly, Dense)]


@pytest.mark.parametrize("activation", ["relu", "rrelu", "selu"])
def test_same_seed_bit_identical(activation):
    kw = dict(hidden=(8, 8, 8), activation=activation, batch_norm="before", dropout=0.2, n_outputs=3)
    a, b = MLP(5, seed=42, **kw), MLP(5, seed=42, **kw)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    x = np.random.default_rng(0).standard_normal((6, 5))
    for training in (True, False, True):
        np.testing.assert_array_equal(a.forward(x, training=training), b.forward(x, training=training))
    dout = np.ones((6, 3))
    np.testing.assert_array_equal(a.backward(dout), b.backward(dout))
    c = MLP(5, seed=43, **kw)
    assert all(not np.array_equal(wa, wc) for wa, wc in zip(_weights(a), _weights(c)))
    assert not np.array_equal(MLP(5, seed=42, **kw).forward(x), c.forward(x))


def test_same_generator_state_same_network():
    kw = dict(hidden=(4, 4), activation="tanh")
    a = MLP(3, seed=np.random.default_rng(7), **kw)
    b = MLP(3, seed=np.random.default_rng(7), **kw)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)


def test_deeper_network_shares_first_layers():
    shallow = MLP(6, depth=3, width=8, activation="relu", seed=11, n_outputs=None)
    deep = MLP(6, depth=7, width=8, activation="relu", seed=11, n_outputs=None)
    for ws, wd in zip(_weights(shallow), _weights(deep)[:3]):
        np.testing.assert_array_equal(ws, wd)
    x = np.random.default_rng(0).standard_normal((4, 6))
    shallow.forward(x, record=True)
    deep.forward(x, record=True)
    for rs, rd in zip(shallow.records, deep.records[:3]):
        np.testing.assert_array_equal(rs["a"], rd["a"])
    # A wider network changes the shapes, so it does not share them; a different seed does not either.
    other = MLP(6, depth=7, width=8, activation="relu", seed=12, n_outputs=None)
    assert not np.array_equal(_weights(other)[0], _weights(deep)[0])


# ---------------------------------------------------------------- overflow


def _first_bad(records, keys):
    for l, rec in enumerate(records, start=1):
        if any(not np.isfinite(rec[k]).all() for k in keys):
            return l
    return None


@pytest.mark.filterwarnings("error")
def test_exploding_network_reports_first_nonfinite_layer_without_warnings():
    width = 256
    net = MLP(width, depth=40, width=width, activation="relu", init="normal", init_kwargs={"std": 1.0},
              dtype=np.float32, n_outputs=10, seed=0)
    x = np.random.default_rng(0).standard_normal((16, width))
    out = net.forward(x, record=True)
    assert out.dtype == np.float32
    first = _first_bad(net.records, ("z", "a"))
    assert first is not None and 1 < first < 40  # it does explode, part way up
    assert net.overflow["forward"] == first
    assert net.first_nonfinite == first
    # Every layer below is finite: the reported layer is the first one, not just some bad layer.
    assert all(np.isfinite(r["a"]).all() for r in net.records[: first - 1])
    dx = net.backward(np.ones_like(out), record=True)  # finishes too, silently
    assert dx.shape == x.shape
    # A clean pass afterwards clears the report.
    small = MLP(4, depth=3, width=4, n_outputs=2)
    small.forward(np.ones((2, 4)))
    assert small.overflow == {"forward": None, "backward": None} and small.first_nonfinite is None
    net.blocks = net.blocks[:2]
    net.output = None
    net.forward(x)
    assert net.overflow["forward"] is None


@pytest.mark.filterwarnings("error")
def test_backward_overflow_reports_first_layer_from_the_top():
    # A linear float32 net with a tiny input (forward stays finite) and a huge upstream gradient:
    # dL/da grows by ~sqrt(width) per layer going down and overflows near the bottom.
    width = 256
    net = MLP(width, depth=8, width=width, activation="linear", init="normal", init_kwargs={"std": 1.0},
              dtype=np.float32, n_outputs=None, seed=0)
    out = net.forward(1e-20 * np.random.default_rng(0).standard_normal((4, width)), record=True)
    assert net.overflow["forward"] is None
    net.backward(1e30 * np.random.default_rng(1).standard_normal(out.shape), record=True)
    bad = [l for l, r in enumerate(net.records, start=1) if not np.isfinite(r["da"]).all()]
    assert bad, "the test must provoke an overflow"
    assert net.overflow["backward"] == max(bad)  # first from the top
    assert all(np.isfinite(r["da"]).all() and np.isfinite(r["dz"]).all() for r in net.records[max(bad):])
    assert net.first_nonfinite == max(bad)
    # A clean backward afterwards clears it.
    net.backward(np.ones(out.shape, dtype=np.float32))
    assert net.overflow["backward"] is None


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(activation="relux"), ValueError, r"activation='relux' is not known; choose one of: .*prelu.*rrelu"),
        (dict(activation=None), TypeError, r"activation must be a string"),
        (dict(init="he"), ValueError, r"init='he' is not known; choose one of: .*he_normal"),
        (dict(batch_norm="middle"), ValueError, r"batch_norm='middle' is not known; choose one of: after, before"),
        (dict(weight_scale=-1.0), ValueError, r"weight_scale must be >= 0; got -1.0"),
        (dict(weight_scale=float("inf")), ValueError, r"weight_scale must be finite"),
        (dict(dropout=1.0), ValueError, r"dropout must lie in \[0, 1\); got 1.0"),
        (dict(dropout=-0.1), ValueError, r"dropout must lie in \[0, 1\)"),
        (dict(n_outputs=0), ValueError, r"n_outputs must be a positive integer"),
        (dict(seed="a"), TypeError, r"seed/rng must be an int, None or a numpy.random.Generator"),
        (dict(seed=-1), ValueError, r"seed must be a non-negative integer"),
        (dict(dtype=np.int32), TypeError, r"dtype must be a floating type"),
        (dict(activation="relu", alpha=0.1), TypeError, r"'relu' takes no parameter alpha"),
        (dict(activation="leaky_relu", alpah=0.1), TypeError, r"takes no parameter alpah; allowed: alpha"),
        (dict(activation="rrelu", alpha=0.1), TypeError, r"'rrelu' takes no parameter alpha; allowed: lower, upper"),
        (dict(activation="prelu", alpha=0.1), TypeError, r"'prelu' takes no parameter alpha; allowed: alpha_init"),
        (dict(activation="rrelu", lower=0.5, upper=0.1), ValueError, r"upper must be >= lower"),
        (dict(activation="leaky_relu", alpha=-1.0), ValueError, r"alpha must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        MLP(4, hidden=(3,), **kwargs)


def test_options_are_checked_when_built():
    with pytest.raises(ValueError, match=r"kind='gaussian' is not known; choose one of: alpha, standard"):
        DropoutOptions(0.1, "gaussian")
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\)"):
        DropoutOptions(1.0)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        BatchNormOptions(momentum=1.0)
    with pytest.raises(ValueError, match=r"eps must be > 0"):
        BatchNormOptions(eps=0.0)
    with pytest.raises(ValueError, match=r"hidden='middle' is not known; choose one of: after, before"):
        BatchNormOptions("middle")
    with pytest.raises(TypeError, match=r"inputs must be True or False"):
        BatchNormOptions(inputs="yes")
    with pytest.raises(TypeError, match=r"unbiased_running_var must be True or False; got 'yes'"):
        BatchNormOptions(unbiased_running_var="yes")
    with pytest.raises(TypeError, match=r"unbiased_running_var must be True or False; got 1 "):
        BatchNormOptions(unbiased_running_var=1)


def _input_bn_after(options, *batches):
    """The input batch norm of a 1-input MLP built with ``options``, after a training pass on each batch."""
    net = MLP(1, hidden=(2,), n_outputs=None, seed=0, batch_norm=options)
    for x in batches:
        net.forward(np.array(x, dtype=float).reshape(-1, 1), training=True)
    return net.input_bn


def test_batch_norm_options_choose_the_running_variance_convention():
    # Batch (0, 3, 6): mean 3, biased variance 6, unbiased 6 * 3/2 = 9. Momentum 0.5 (Keras convention)
    # from running_var = 1: biased 0.5 * 1 + 0.5 * 6 = 3.5; unbiased 0.5 * 1 + 0.5 * 9 = 5.
    keras = _input_bn_after(BatchNormOptions(None, inputs=True, momentum=0.5), [0, 3, 6])
    torch = _input_bn_after(BatchNormOptions(None, inputs=True, momentum=0.5, unbiased_running_var=True), [0, 3, 6])
    assert keras.state["running_var"][0] == 3.5 and torch.state["running_var"][0] == 5.0
    assert keras.state["running_mean"][0] == torch.state["running_mean"][0] == 1.5
    # momentum=None, the cumulative average: batches (0, 3, 6) and (1, 2, 3) have means 3 and 2,
    # unbiased variances 9 and 1, biased ones 6 and 2/3.
    cumulative = BatchNormOptions(None, inputs=True, momentum=None, unbiased_running_var=True)
    bn = _input_bn_after(cumulative, [0, 3, 6], [1, 2, 3])
    assert bn.momentum is None and bn.num_batches_tracked == 2
    assert (bn.state["running_mean"][0], bn.state["running_var"][0]) == (2.5, 5.0)
    biased = _input_bn_after(BatchNormOptions(None, inputs=True, momentum=None), [0, 3, 6], [1, 2, 3])
    assert biased.state["running_var"][0] == pytest.approx(10 / 3, rel=1e-15, abs=0)
    # The default is unchanged (Keras's biased variance), and the choice reaches every batch-norm layer.
    assert not BatchNormOptions().unbiased_running_var
    assert not any(bn.unbiased_running_var for bn in MLP(3, hidden=(4, 4), batch_norm="after").layers
                   if isinstance(bn, BatchNorm))
    options = BatchNormOptions("before", inputs=True, momentum=None, unbiased_running_var=True)
    net = MLP(3, hidden=(4, 4), seed=0, batch_norm=options)
    bns = [ly for ly in net.layers if isinstance(ly, BatchNorm)]
    assert len(bns) == 3 and all(bn.unbiased_running_var and bn.momentum is None for bn in bns)


def test_batch_norm_options_reach_every_batch_norm_layer():
    net = MLP(5, hidden=(4, 3), activation="tanh", n_outputs=2, seed=1,
              batch_norm=BatchNormOptions("after", inputs=True, momentum=0.8, eps=1e-5))
    bns = [ly for ly in net.layers if isinstance(ly, BatchNorm)]
    assert net.layers[0] is net.input_bn and len(bns) == 3
    assert all(bn.momentum == 0.8 and bn.eps == 1e-5 for bn in bns)
    assert net.batch_norm == "after" and repr(net).startswith("MLP(BatchNorm(5) -> 5 -> [4, 3] -> 2")
    # MLP(batch_norm='before') is BatchNormOptions('before') with Keras's constants.
    short, full = MLP(3, hidden=(4,), batch_norm="before"), MLP(3, hidden=(4,), batch_norm=BatchNormOptions())
    assert short.batch_norm_options == full.batch_norm_options
    assert (short.blocks[0].bn_before.momentum, short.blocks[0].bn_before.eps) == (0.99, 1e-3)
    x = np.random.default_rng(0).standard_normal((6, 5)) * 3 + 2
    check_network(net, x, training=True)


def test_bad_sizes():
    with pytest.raises(ValueError, match="width must be a positive integer"):
        MLP(4, depth=2, width=0)
    with pytest.raises(ValueError, match="depth must be a non-negative integer"):
        MLP(4, depth=-1, width=3)
    with pytest.raises(TypeError, match="depth must be a non-negative integer"):
        MLP(4, depth=2.5, width=3)
    with pytest.raises(ValueError, match="hidden width must be a positive integer"):
        MLP(4, hidden=(3, 0))
    with pytest.raises(TypeError, match="hidden must be a sequence of widths"):
        MLP(4, hidden=5)
    with pytest.raises(ValueError, match="n_inputs must be a positive integer"):
        MLP(0, hidden=(3,))
    with pytest.raises(ValueError, match="give either hidden= or depth= and width=, not both"):
        MLP(4, hidden=(3,), depth=2, width=3)
    with pytest.raises(ValueError, match="give the hidden widths"):
        MLP(4, depth=2)


def test_bad_inputs_to_forward():
    net = MLP(4, hidden=(3,), batch_norm="before")
    with pytest.raises(ValueError, match=r"x must have 4 features .*got shape \(2, 5\)"):
        net.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"x must be 2-D with shape \(batch, features\); got shape \(4,\)"):
        net.forward(np.zeros(4))
    with pytest.raises(ValueError, match=r"x must hold at least one example"):
        net.forward(np.zeros((0, 4)))
    with pytest.raises(TypeError, match=r"x must be a real numeric array"):
        net.forward(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match=r"batch of at least 2 examples"):
        net.forward(np.zeros((1, 4)), training=True)
    assert net.forward(np.zeros((1, 4)), training=False).shape == (1, 10)
    assert net.predict(np.zeros((3, 4))).shape == (3,)


def test_on_layer_sees_each_record_as_soon_as_the_layer_has_run():
    # forward: layers 1..L in order, each record holding z and a (and nothing of the layers above yet);
    # backward: L..1, each record now holding da, dz, slope (and dW with parameter gradients).
    net = MLP(6, depth=3, width=5, activation="tanh", n_outputs=2, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 6))
    seen = []

    def forward_seen(l, rec):
        seen.append(("forward", l, sorted(rec)))
        assert rec is net.records[l - 1] and rec["z"] is net.blocks[l - 1].cache[0]
        assert all(not r for r in net.records[l:])  # the layers above have not run

    out = net.forward(x, record=True, on_layer=forward_seen)
    net.backward(np.ones_like(out), record=True, on_layer=lambda l, rec: seen.append(("backward", l, sorted(rec))))
    assert seen == ([("forward", l, ["a", "z"]) for l in (1, 2, 3)]
                    + [("backward", l, ["a", "dW", "da", "dz", "slope", "z"]) for l in (3, 2, 1)])


def test_on_layer_needs_a_function_and_records():
    net = MLP(4, depth=2, width=3, n_outputs=None)
    x = np.ones((2, 4))
    with pytest.raises(TypeError, match=r"on_layer must be None or a function on_layer\(l, record\); got 3"):
        net.forward(x, record=True, on_layer=3)
    with pytest.raises(ValueError, match="on_layer receives each layer's record: pass record=True with it"):
        net.forward(x, on_layer=print)
    out = net.forward(x, record=True)
    with pytest.raises(ValueError, match="pass record=True"):
        net.backward(np.ones_like(out), on_layer=print)
    with pytest.raises(TypeError, match="on_layer must be None or a function"):
        net.backward(np.ones_like(out), record=True, on_layer="stats")


@pytest.mark.filterwarnings("error")
def test_huge_finite_values_are_not_an_overflow():
    # The overflow check sums squares, which overflow float32 from |x| ~ 1.8e19 while the values do not
    # (up to 3.4e38): such a layer is checked value by value and is not reported.
    net = MLP(4, depth=3, width=4, activation="linear", init="normal", init_kwargs={"std": 1.0},
              dtype=np.float32, n_outputs=None, seed=0)
    for block in net.blocks:
        block.dense.params["W"][:] = np.eye(4, dtype=np.float32)
    x = np.array([[1e30, -2e35, 3e25, 0.0], [1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    out = net.forward(x, record=True)
    assert np.abs(out).max() > 1.9e19 and np.isfinite(out).all()  # whose squares overflow float32
    assert net.overflow["forward"] is None
    net.backward(out.copy(), record=True)
    assert net.overflow["backward"] is None
    x[1, 2] = np.inf  # from the input on
    net.forward(x, record=True)
    assert net.overflow["forward"] == 1
    x[1, 2] = np.nan
    out = net.forward(x, record=True)
    assert net.overflow["forward"] == 1
    net.backward(np.where(np.isfinite(out), out, 1e20), record=True)
    assert net.overflow["backward"] is None
    dout = np.zeros_like(out)
    dout[0, 0] = np.inf
    net.backward(dout, record=True)
    assert net.overflow["backward"] == 3
