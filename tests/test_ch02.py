"""Chapter 02 (vanishing and exploding gradients): every number the chapter states, and its explorer.

The package functions below compute what notebooks/02_vanishing_and_exploding.ipynb prints;
these tests pin them to hand-derived values and to independent numpy computations.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

import gradviz as gv
from gradviz import stats, theory
from gradviz.activations import SATURATION_THRESHOLD, sigmoid, sigmoid_grad
from gradviz.chapters import ch02_vanishing_exploding as ch
from gradviz.network import MLP


# ----------------------------------------------------------------------------- sigmoid facts
def test_sigmoid_values_and_slopes_at_6_and_1000():
    assert sigmoid(6.0) == pytest.approx(1 / (1 + np.exp(-6.0)), rel=1e-15, abs=0)
    assert sigmoid_grad(6.0) == pytest.approx(np.exp(-6.0) / (1 + np.exp(-6.0)) ** 2, rel=1e-12, abs=0)
    assert sigmoid(1000.0) == 1.0
    assert sigmoid_grad(1000.0) == 0.0  # e^-1000 is below the smallest float64


def test_sigmoid_slope_log10_is_exact_where_float64_underflows():
    z = np.array([-30.0, -6.0, 0.0, 1.0, 6.0, 30.0])
    exact = np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))) ** 2  # no 1 - sigma(z) cancellation
    np.testing.assert_allclose(theory.sigmoid_slope_log10(z), np.log10(exact), rtol=1e-13)
    # ln sigma'(1000) = -1000 - 2 ln(1 + e^-1000) = -1000 to double precision
    assert theory.sigmoid_slope_log10(1000.0) == pytest.approx(-1000 / np.log(10), rel=1e-15, abs=0)
    assert theory.sigmoid_slope_log10(-1000.0) == theory.sigmoid_slope_log10(1000.0)
    assert isinstance(theory.sigmoid_slope_log10(0.0), float)
    assert theory.sigmoid_slope_log10(0.0) == pytest.approx(np.log10(0.25), rel=1e-15, abs=0)


def test_sigmoid_slope_maximum_is_a_quarter_at_zero():
    z = np.linspace(-10, 10, 20001)
    d = sigmoid_grad(z)
    assert d.max() == 0.25
    assert z[np.argmax(d)] == 0.0


def test_slope_bound():
    assert theory.slope_bound("sigmoid", 10) == 0.25 ** 10 == pytest.approx(9.5367431640625e-07, abs=0)
    assert theory.slope_bound("sigmoid", 0) == 1.0
    assert theory.slope_bound("tanh", 7) == 1.0
    with pytest.raises(ValueError, match="n_factors"):
        theory.slope_bound("sigmoid", -1)
    with pytest.raises(ValueError, match="activation"):
        theory.slope_bound("sigmoidd", 3)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturation_onset_is_where_the_slope_is_5_percent_of_the_maximum(name):
    act = gv.activations.get_activation(name)
    z = theory.saturation_onset(name)
    assert act.grad(z) == pytest.approx(SATURATION_THRESHOLD * act.max_slope, rel=1e-10)
    assert act.grad(-z) == pytest.approx(SATURATION_THRESHOLD * act.max_slope, rel=1e-10)
    # and the package's saturation mask switches there
    mask = gv.activations.saturation_mask(name, np.array([0.999 * z, 1.001 * z, -1.001 * z]))
    assert mask.tolist() == [False, True, True]


def test_saturation_onset_values_and_errors():
    assert theory.saturation_onset("sigmoid") == pytest.approx(4.3565, abs=1e-4)
    assert theory.saturation_onset("tanh") == pytest.approx(2.1783, abs=1e-4)
    with pytest.raises(ValueError, match="does not saturate"):
        theory.saturation_onset("relu")
    with pytest.raises(ValueError, match="threshold"):
        theory.saturation_onset("sigmoid", 1.5)


# ----------------------------------------------------------------------------- the chain rule
def test_scalar_chain_product_equals_backprop_and_hand_computation():
    w = [1.5, -2.0, 0.8, 2.5, -1.2]
    chain = ch.scalar_chain(5, weights=w, x=1.0)
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
    chain = ch.scalar_chain(8, activation="tanh", seed=3, dout=2.0)
    np.testing.assert_allclose(chain.backprop, chain.product, rtol=1e-12)
    assert chain.product[-1] == pytest.approx(2.0 * chain.factor[-1])
    with pytest.raises(ValueError, match="weights"):
        ch.scalar_chain(3, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="depth"):
        ch.scalar_chain(0)


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
    net, flow = ch.digits_flow(depth=4, width=16, batch_size=32, seed=1)
    X, y = stats.digits_batch(32, seed=1)
    _, dlogits = gv.losses.softmax_cross_entropy(net.forward(X), y)
    da, dW = _direct_norms(net, X, dlogits)
    np.testing.assert_allclose(flow.da_norm, da, rtol=1e-10)
    np.testing.assert_allclose(flow.dW_norm, dW, rtol=1e-10)
    np.testing.assert_allclose(flow.w_norm, [np.linalg.norm(b.dense.params["W"]) for b in net.blocks], rtol=1e-12)
    np.testing.assert_allclose(flow.a_rms, [np.sqrt(np.mean(r["a"] ** 2)) for r in net.records], rtol=1e-12, atol=0)
    assert flow.out_rms == pytest.approx(np.sqrt(np.mean(net.forward(X) ** 2)), rel=1e-12, abs=0)
    np.testing.assert_allclose(flow.weight_norm,
                               [np.linalg.svd(b.dense.params["W"], compute_uv=False)[0] for b in net.blocks])
    assert np.isfinite(flow.loss) and flow.first_nonfinite is None


def test_the_bound_holds_and_the_typical_factor_predicts_the_ratio():
    for ws in (1.0, 4.0, 16.0):
        _, flow = ch.digits_flow(depth=10, width=64, weight_scale=ws)
        assert flow.ratio("da") <= flow.bound
        assert flow.ratio("dz") <= flow.bound
        assert flow.ratio("da") == pytest.approx(flow.typical_factor, rel=0.15)
        assert np.all(flow.rms_slope <= 0.25)
    assert flow.slope_bound == 0.25 ** 9


def test_deep_sigmoid_gradient_vanishes_below_the_slope_bound_with_glorot_weights():
    _, flow = ch.digits_flow(depth=10, width=64)
    # with weights that keep lengths on average (gain ~1), the slopes set the pace: <= 1/4 per layer
    np.testing.assert_allclose(flow.weight_gain, 1.0, atol=0.05)
    assert flow.ratio("da") < flow.slope_bound
    assert 0.2 < flow.per_layer_factor("da") < 0.25
    assert flow.ratio("dW") < 1e-4


def test_large_weights_saturate_and_the_product_tilts_to_exploding():
    _, small = ch.digits_flow(depth=10, width=64, weight_scale=1.0)
    _, big = ch.digits_flow(depth=10, width=64, weight_scale=16.0)
    assert big.saturated_fraction.mean() > 0.5 > small.saturated_fraction.mean()
    assert big.rms_slope.mean() < small.rms_slope.mean()
    assert big.ratio("da") > 1 > small.ratio("da")


def test_overflow_is_reported_without_warnings_and_gradients_are_nan():
    net = MLP(64, depth=50, width=64, activation="relu", weight_scale=10.0, n_outputs=None, seed=0,
              dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow = ch.probe_flow(net, batch_size=64, spectral_norms=False)
    k = flow.first_nonfinite
    assert k is not None and flow.overflow["forward"] == k
    # float32 overflows near 3.4e38 = 10^38.5: with x10 per layer, around layer 38
    assert 30 <= k <= 40
    assert np.all(np.isfinite(flow.a_norm[:k - 1])) and np.all(np.isnan(flow.a_norm[k - 1:]))
    assert np.all(np.isnan(flow.da_norm)) and np.isnan(flow.ratio())
    assert np.isnan(flow.weight_norm).all() and np.isnan(flow.bound)


def test_probe_flow_draws_what_probe_draws():
    net = MLP(32, depth=3, width=32, activation="tanh", n_outputs=None, seed=0)
    flow = ch.probe_flow(net, batch_size=50, seed=4)
    ps = stats.probe(net, batch_size=50, seed=4)
    # Var over all entries vs squared norm / count (the mean of dL/da is ~0 but not exactly)
    np.testing.assert_allclose(flow.da_norm ** 2 / (50 * 32), ps.da_var + 0 * ps.da_var, rtol=0.05)
    np.testing.assert_allclose(flow.saturated_fraction, ps.saturated_fraction)


def test_gradient_flow_errors():
    net = MLP(8, depth=2, width=4, activation="sigmoid", n_outputs=None)
    with pytest.raises(ValueError, match="no output layer"):
        ch.experiments.gradient_flow(net, np.zeros((3, 8)), y=np.zeros(3, int))
    with pytest.raises(ValueError, match="dout"):
        ch.experiments.gradient_flow(net, np.zeros((3, 8)), dout=np.zeros((3, 5)))
    with pytest.raises(ValueError, match="quantity"):
        ch.probe_flow(net, 4).ratio("dq")
    with pytest.raises(ValueError, match="batch_size"):
        stats.digits_batch(100000)


def test_depth_sweep_shares_layers_and_is_reproducible():
    sweep = ch.depth_sweep((3, 6), width=16, batch_size=64)
    assert list(sweep) == [3, 6]
    again = ch.depth_sweep((6,), width=16, batch_size=64)
    np.testing.assert_array_equal(sweep[6].da_norm, again[6].da_norm)
    assert sweep[6].ratio() < sweep[3].ratio() < 1


def test_relative_weight_change():
    net = MLP(4, depth=2, width=3, activation="sigmoid", seed=0)
    snap = ch.experiments.weight_snapshot(net)
    np.testing.assert_array_equal(ch.experiments.relative_weight_change(net, snap), [0.0, 0.0])
    net.blocks[1].dense.params["W"] *= 1.5
    np.testing.assert_allclose(ch.experiments.relative_weight_change(net, snap), [0.0, 0.5])
    with pytest.raises(ValueError, match="snapshot"):
        ch.experiments.relative_weight_change(net, snap[:1])


# ----------------------------------------------------------------------------- training
def test_train_tracking_weights_and_compare_depths():
    runs = ch.compare_depths(depths=(2, 6), steps=40, record_every=20, lr=0.5)
    assert list(runs) == ["2 sigmoid layers", "6 sigmoid layers"]
    hist, change, path = runs["6 sigmoid layers"]
    assert change.shape == (6,) and path.shape == (6,) and hist.steps_run == 40
    # the steps' summed lengths bound the net move (triangle inequality)
    assert np.all(change <= path * (1 + 1e-12)) and np.all(runs["6 sigmoid layers"].straightness <= 1 + 1e-12)
    # vanishing: the first layer moves far less than the last
    assert change[0] < 0.05 * change[-1]
    again = ch.compare_depths(depths=(2,), steps=40, record_every=20, lr=0.5)
    np.testing.assert_array_equal(again["2 sigmoid layers"].change, runs["2 sigmoid layers"].change)
    with pytest.raises(TypeError, match="MLP"):
        ch.experiments.train_tracking_weights("net", None)
    # a caller's callback still runs, after the step lengths are taken
    seen = []
    net = MLP(64, depth=2, width=8, n_outputs=10, seed=0)
    run = ch.experiments.train_tracking_weights(net, gv.data.load_digits(seed=0), lr=0.5, steps=3, progress=False,
                                                callback=lambda t, n: seen.append(t))
    assert seen == [1, 2, 3] and np.all(run.path > 0)
    with pytest.raises(TypeError, match="callback"):
        ch.experiments.train_tracking_weights(net, gv.data.load_digits(seed=0), steps=1, callback=3)


# ----------------------------------------------------------------------------- plots and figures
def test_gradient_ratio_curves_by_hand():
    _, flow = ch.digits_flow(depth=4, width=16, batch_size=32)
    c = ch.figures.gradient_ratio_curves(flow)
    assert c["measured"][-1] == c["slope_bound"][-1] == c["typical"][-1] == c["bound"][-1] == 1.0
    np.testing.assert_allclose(c["slope_bound"], 0.25 ** np.array([3, 2, 1, 0]))
    np.testing.assert_allclose(c["measured"], flow.da_norm / flow.da_norm[-1])
    g = flow.rms_slope * flow.weight_gain
    np.testing.assert_allclose(c["typical"], [g[1] * g[2] * g[3], g[2] * g[3], g[3], 1.0])
    assert c["typical"][0] == pytest.approx(flow.typical_factor)
    assert c["bound"][0] == pytest.approx(flow.bound)
    assert np.all(c["measured"] <= c["bound"] * (1 + 1e-12))


def _gids(fig):
    out = set()
    for ax in fig.axes:
        for artist in list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.collections):
            if artist.get_gid():
                out.add(artist.get_gid())
    return out


CH02_FIGURES = ["sigmoid_slope_and_saturation", "sigmoid_gradient_per_layer", "vanishing_with_depth",
                "weight_gradients_vanish_or_not", "float32_overflow", "sigmoid_saturation_by_scale",
                "sigmoid_training_first_layers"]


def test_chapter_02_figures_are_registered():
    for name in CH02_FIGURES:
        assert gv.figures.FIGURES[name].chapter == 2


def test_figures_draw_what_the_chapter_says():
    fig = ch.sigmoid_slope_and_saturation()
    line = next(ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == "log10_slope")
    assert line.get_ydata()[-1] == pytest.approx(-1000 / np.log(10), rel=1e-9)

    _, flow = ch.digits_flow()
    fig = ch.sigmoid_gradient_per_layer(flow)
    assert {"bars", "ratio:measured", "ratio:slope_bound", "ratio:typical", "ratio:bound"} <= _gids(fig)

    fig = ch.vanishing_with_depth(ch.depth_sweep((3, 6), width=16, batch_size=64))
    assert {"layer:3", "layer:6", "crossed:3", "crossed:6", "slope_bound"} <= _gids(fig)

    fig = ch.float32_overflow()
    gids = _gids(fig)
    assert {"norm:a", "norm:da", "overflow", "no_gradient"} <= gids
    texts = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "overflow"]
    assert any("overflow at layer 38" in t for t in texts)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert not any("gradients" in t for t in legend)  # the gradient is not drawn, so not listed
    assert any("single entry above it overflows" in t and "16,384 entries" in t for t in legend)

    flows = {s: ch.digits_flow(depth=4, width=16, weight_scale=s, batch_size=64)[1] for s in (1.0, 16.0)}
    fig = ch.sigmoid_saturation_by_scale(flows)
    assert {"saturated:1", "saturated:16", "slope:1", "ratio:16"} <= _gids(fig)


def test_training_figure_from_given_runs():
    runs = ch.compare_depths(depths=(2, 5), steps=20, record_every=10)
    fig = ch.sigmoid_training_first_layers(runs)
    gids = _gids(fig)
    assert {"acc:2 sigmoid layers", "acc:5 sigmoid layers", "change", "heatmap"} <= gids


# ----------------------------------------------------------------------------- exercises
def test_chapter_02_exercises_are_computed_and_checked(capsys):
    assert gv.exercises.EXERCISES["02.1"].answer() == 0.25 ** 10
    assert gv.exercises.check("02.1", 9.54e-7)
    k = gv.exercises.EXERCISES["02.2"].answer()
    # float32's limit 3.4e38 passed at about log(3.4e38 / 4) / log(6) = 48.7 layers
    assert isinstance(k, int) and 45 <= k <= 52
    assert gv.exercises.check("02.2", k) and not gv.exercises.check("02.2", k + 1)
    f = gv.exercises.EXERCISES["02.3"].answer()
    flow4 = ch.digits_flow(weight_scale=4.0)[1]
    assert f == flow4.per_layer_factor()
    assert gv.exercises.check("02.3", float(np.mean(flow4.rms_slope[1:] * flow4.weight_gain[1:])))
    assert not gv.exercises.check("02.3", 0.25)
    # the off-by-one the question is about: the 10th root of the ratio spreads it over one layer too many
    ratio = flow4.ratio("da")
    assert round(ratio, 4) == 0.0189 and round(ratio ** 0.1, 3) == 0.672 and round(f, 3) == 0.643
    assert not gv.exercises.check("02.3", ratio ** 0.1) and not gv.exercises.check("02.3", 0.672)
    assert gv.exercises.check("02.3", ratio ** (1 / 9)) and gv.exercises.check("02.3", 0.161 * 3.999)
    assert gv.exercises.check("02.3", 0.65) and gv.exercises.check("02.3", 0.64)
    for i in (1, 2, 3):
        gv.exercises.solution(f"02.{i}")
    out = capsys.readouterr().out
    assert "9.537e-07" in out and f"first non-finite layer is {k}" in out


# ----------------------------------------------------------------------------- the explorer
@pytest.fixture
def explorer():
    pytest.importorskip("ipywidgets")
    return ch.GradientFlowExplorer(canvas="none")


def _line(ex, name):
    return np.asarray(ex.lines[name].get_ydata(), float)


def test_explorer_starts_on_the_vanishing_sigmoid(explorer):
    assert explorer.values == {"depth": 10, "activation": "sigmoid", "weight_scale": 1.0, "width": 128,
                               "init": "auto", "seed": 0}
    measured = _line(explorer, "measured")
    assert measured.shape == (10,) and measured[-1] == 1.0 and measured[0] < 0.25 ** 9
    np.testing.assert_allclose(_line(explorer, "slope_bound"), 0.25 ** np.arange(9, -1, -1))
    assert "vanishes" in explorer.readout.value and "vanishes" in explorer.summary()


def test_explorer_every_control_changes_the_figure(explorer):
    before = _line(explorer, "measured").copy()
    explorer.controls["depth"].value = 20  # through the widget: the observer redraws
    assert _line(explorer, "measured").shape == (20,)
    assert _line(explorer, "measured")[0] < before[0]
    explorer.controls["width"].value = 64
    assert explorer.flow.depth == 20 and explorer.ax_ratio.get_title().endswith("20 x 64 units, float32")
    explorer.controls["seed"].value = 3
    a = _line(explorer, "measured").copy()
    explorer.controls["init"].value = "lecun_normal"
    assert "lecun_normal" in explorer.ax_ratio.get_title()
    assert not np.array_equal(a, _line(explorer, "measured"))
    explorer.controls["activation"].value = "tanh"
    np.testing.assert_array_equal(_line(explorer, "slope_bound"), 1.0)  # tanh's slope reaches 1
    assert "shrinks slowly" in explorer.summary()  # 20 tanh layers at Glorot scale: far from sigmoid's collapse
    explorer.update(activation="sigmoid", init="auto", weight_scale=16.0, depth=10)
    sat = np.asarray(explorer.lines["saturated"].get_ydata(), float)
    assert sat.mean() > 50  # percent
    explorer.controls["weight_scale"].value = 1.0
    assert np.asarray(explorer.lines["saturated"].get_ydata(), float).mean() < 5


def test_explorer_x_axes_step_through_a_ruler(explorer):
    # layers 1..10, 25, then 60: most depth steps leave the x axes as they were (a frame then redraws the curves,
    # not every tick label), and the curves still fill at least 40 % of the width
    shown = {d: explorer.shown_layers(d) for d in range(1, explorer.max_depth + 1)}
    assert {shown[d] for d in shown} == {10, 25, 60}
    assert all(d <= n and d / n >= 0.4 for d, n in shown.items() if d > 4)
    for depth, right in ((10, 10.5), (11, 25.5), (25, 25.5), (26, 60.5)):
        explorer.update(depth=depth)
        assert explorer.ax_ratio.get_xlim() == explorer.ax_sat.get_xlim() == (0.5, right)
        assert _line(explorer, "measured").shape == (depth,)
    assert ch.GradientFlowExplorer(canvas="none", max_depth=20).shown_layers(15) == 20


def test_explorer_drafts_a_deep_wide_network_from_a_slice_of_the_batch(explorer):
    # a learner's change that would probe long is answered first from a few examples (and says so), then refined
    # on the worker to the whole batch: the same flow a change made by code gets
    values = dict(explorer.values, depth=60, width=512)
    explorer._flops = 2e10
    assert explorer.draft_examples(explorer.values) is None  # the default 10 x 128: at once
    n = explorer.draft_examples(values)
    assert n is not None and n >= explorer.min_draft_examples == 8 and n & (n - 1) == 0 and n <= 64
    assert explorer.refining_text(values, n) == f"estimate from {n} of 128 examples: refining ..."
    draft = explorer.answer(values, examples=n)
    steps = list(explorer.refine(values))
    final = steps[-1]
    assert steps[:-1] == [None] and draft.depth == final.depth == 60
    assert np.isfinite(draft.ratio("da")) and draft.ratio("da") == pytest.approx(final.ratio("da"), rel=0.5)
    explorer.remember(values, final)
    assert explorer.draft_examples(values) is None  # cached now
    explorer.update(depth=60, width=512)
    np.testing.assert_array_equal(explorer.flow.da_norm, final.da_norm)
    assert np.isnan(final.dW_norm).all()  # the explorer skips the weight gradients (dW), which it does not draw


def test_probe_flow_rows_are_the_first_examples_of_the_batch():
    net = MLP(16, depth=3, width=16, activation="tanh", n_outputs=None, seed=1)
    part = ch.probe_flow(net, batch_size=32, seed=2, rows=slice(0, 8))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 16))
    dout = rng.standard_normal((32, 16))
    whole = ch.experiments.gradient_flow(net, x[:8], dout=dout[:8])
    np.testing.assert_allclose(part.da_norm, whole.da_norm, rtol=1e-12)
    assert part.dW_norm[0] == pytest.approx(whole.dW_norm[0], rel=1e-12)


def test_explorer_marks_overflow_without_warnings(explorer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explorer.update(activation="relu", weight_scale=10.0, depth=50)
    assert explorer.flow.first_nonfinite == 38
    assert not np.isfinite(_line(explorer, "measured")).any()
    gids = {a.get_gid() for a in explorer.ax_ratio.patches + explorer.ax_ratio.texts + explorer.ax_ratio.lines}
    assert "overflow" in gids and "explain" in gids
    assert "Overflow" in explorer.readout.value and "hidden layer 38" in explorer.summary()
    explorer.update(weight_scale=1.0)
    gids = {a.get_gid() for a in explorer.ax_ratio.patches + explorer.ax_ratio.texts}
    assert "overflow" not in gids and "explain" not in gids


def test_explorer_exercise_02_2_agrees_with_the_engine(explorer):
    explorer.update(activation="relu", weight_scale=6.0, depth=60, width=128)
    assert explorer.flow.first_nonfinite == gv.exercises.EXERCISES["02.2"].answer()


def test_explorer_one_layer_and_cache(explorer):
    explorer.update(depth=1)
    assert "one layer" in explorer.summary()
    explorer.update(depth=10)
    assert explorer.timings["cached"] is True
    explorer.figure.canvas.draw()  # renders without error


# ----------------------------------------------------------------------------- the numbers the prose states
# Each test below pins, at the precision the notebook's text gives it, a number that the text states
# instead of sending the reader to a printed cell (section by section).
def test_prose_section_1_the_chain():
    chain = ch.scalar_chain(5, weights=[1.5, -2.0, 0.8, 2.5, -1.2], x=1.0)
    assert round(chain.backprop[0], 4) == 0.0012  # "dL/dx ~ 0.0012"
    assert 750 < 1 / chain.backprop[0] < 850  # "about 800 times smaller"


def test_prose_section_2_the_sigmoid():
    assert round(float(sigmoid(6.0)), 4) == 0.9975 and round(float(sigmoid_grad(6.0)), 4) == 0.0025
    assert round(float(sigmoid_grad(6.0)) / 0.25, 2) == 0.01  # "1 % of its maximum"
    assert round(theory.sigmoid_slope_log10(1000.0), 1) == -434.3
    assert f"{np.finfo(np.float64).smallest_subnormal:.2g}" == "4.9e-324"
    assert round(theory.saturation_onset("sigmoid"), 2) == 4.36
    # the saturation explorer's hint: the slope is symmetric, sigma'(-z) = sigma'(z)
    z = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(sigmoid_grad(-z), sigmoid_grad(z), rtol=1e-14)
    # exercise 02.4's text: the textbook formula overflows once -z passes ln(largest float64) = 709.78
    assert 709 < np.log(np.finfo(np.float64).max) < 710
    assert f"{float(sigmoid(-40.0)):.3g}" == "4.25e-18"
    # exercise 02.4's text: sigma(-720) is a float64, about 2.0e-313, although exp(720) overflows
    assert f"{float(sigmoid(-720.0)):.2g}" == "2e-313" and -720 < -np.log(np.finfo(np.float64).max)
    # ... sigma(-700) is about 9.9e-305, a full-precision (normal) float64; below about z = -708.4 (= ln 2.2e-308)
    # the sigmoid is under 2.2e-308, the smallest normal float64
    tiny = np.finfo(np.float64).tiny
    assert f"{float(sigmoid(-700.0)):.2g}" == "9.9e-305" and float(sigmoid(-700.0)) > tiny
    assert f"{tiny:.2g}" == "2.2e-308" and round(float(np.log(tiny)), 1) == -708.4
    assert float(sigmoid(-708.35)) > tiny and float(sigmoid(-708.45)) < tiny


def test_prose_section_2_where_sigmoid_is_exactly_1_or_0():
    """The answer to the saturation explorer's z_far question: exactly 1 from about z = 37 on (1 + e^-z
    rounds to 1 once e^-z <= 2^-53, half the gap above 1, i.e. from z = 53 ln 2 = 36.7 on), exactly 0 below
    about z = -745 (e^z under the smallest subnormal)."""
    assert np.nextafter(1.0, 2.0) - 1.0 == 2.0 ** -52 and 1.0 + 2.0 ** -53 == 1.0 and 1.0 + 2.0 ** -52 > 1.0
    assert f"{2.0 ** -53:.2g}" == "1.1e-16" and round(53 * np.log(2), 1) == 36.7
    assert sigmoid(36.7) < 1.0 and sigmoid(36.75) == 1.0  # the gap above 1 decides, not the one below (37.4)
    assert sigmoid(36.0) < 1.0 and sigmoid(37.0) == 1.0 and sigmoid(np.array([40.0, 1000.0])).min() == 1.0
    assert 36.5 < 53 * np.log(2) < 37
    assert sigmoid(-745.0) > 0.0 and sigmoid(-746.0) == 0.0 and sigmoid(-1000.0) == 0.0
    assert round(np.log(np.finfo(np.float64).smallest_subnormal)) == -744


@pytest.fixture(scope="module")
def sigmoid_flow():
    return ch.digits_flow(depth=10, width=64, activation="sigmoid", init="glorot_uniform", batch_size=256, seed=0)[1]


def test_prose_section_3_weight_gradients_follow_the_backprop_in_a_sigmoid_net(sigmoid_flow):
    f = sigmoid_flow
    assert round(f.ratio("dW"), 7) == 3.4e-6 and round(f.ratio("da"), 7) == 2.3e-6
    assert round(f.a_rms.min(), 3) == 0.496 and round(f.a_rms.max(), 3) == 0.535  # "about 0.5 (0.496 to 0.535)"
    assert 0.215 <= f.rms_slope.min() and f.rms_slope.max() < 0.245  # "between 0.22 and 0.24"
    assert f.saturated_fraction.max() <= 0.0035  # "at most 0.3 %"
    assert np.all(np.round(f.weight_norm, 1) >= 1.8) and np.all(np.round(f.weight_norm, 1) <= 2.0)  # "about 1.9"
    assert round(f.bound, 4) == 0.0014 and round(f.typical_factor, 7) == 2.3e-6
    assert round(f.slope_bound, 7) == 3.8e-6 and round(f.per_layer_factor("da"), 3) == 0.236
    # section 5: "its steps differ 300,000-fold between layer 1 and layer 10"
    step = f.relative_update(0.5)
    assert 250_000 < step[-1] / step[0] < 350_000
    # the weight gradient is (a^(l-1))^T dL/dz^l: with activations of one size, it follows dL/dz^l
    np.testing.assert_allclose(np.log10(f.dW_norm[1:] / f.dz_norm[1:]), np.log10(f.dW_norm[-1] / f.dz_norm[-1]),
                               atol=0.1)


def test_prose_section_3_the_signal_vanishes_too():
    """Section 3's spread cell: how much a^l differs from image to image falls from 0.19 at layer 1 to 4e-7 at
    layer 10, about x0.23 per layer, the pace of the gradient (x0.236), while the rms of a^l stays about 0.5;
    a small difference in a^(l-1) reaches a^l through W^l and the slopes, the factors of the backward pass."""
    net, flow = ch.digits_flow(depth=10, width=64, activation="sigmoid", init="glorot_uniform", batch_size=256,
                               seed=0)
    spread = np.array([r["a"].std(axis=0).mean() for r in net.records])
    assert f"{spread[0]:.2g}" == "0.19" and f"{spread[-1]:.0e}" == "4e-07"
    assert round((spread[-1] / spread[0]) ** (1 / 9), 2) == 0.23 and round(flow.per_layer_factor("da"), 2) == 0.24
    assert np.all(np.diff(spread) < 0) and np.all(np.abs(flow.a_rms - 0.5) < 0.04)
    # at layer 3 the weight gradient is 3.9e-5 times layer 10's (section 7: "about 25,000 times smaller")
    assert f"{flow.dW_norm[2] / flow.dW_norm[-1]:.2g}" == "3.9e-05"
    assert 24_000 < flow.dW_norm[-1] / flow.dW_norm[2] < 26_000
    assert 290_000 < flow.dW_norm[-1] / flow.dW_norm[0] < 310_000  # "about 300,000 times smaller"


def test_prose_section_4_depth():
    sweep = ch.depth_sweep((5, 10, 20, 30), width=64, activation="sigmoid", init="glorot_uniform", seed=0)
    assert all(0.23 <= round(f.per_layer_factor("da"), 2) <= 0.24 for f in sweep.values())
    assert round(1 / sweep[10].ratio("da"), -4) == 440_000  # "about 440,000-fold"
    assert [f"{sweep[d].ratio('da'):.2g}" for d in (10, 20, 30)] == ["2.3e-06", "1.2e-12", "4.4e-19"]
    assert f"{sweep[30].ratio('dW'):.0e}" == "8e-19" and 1e18 < 1 / sweep[30].ratio("dW") < 2e18
    # "ten more layers divide the gradient by another 2 to 3 million (1.9e6, then 2.8e6)"
    assert f"{sweep[10].ratio('da') / sweep[20].ratio('da'):.2g}" == "1.9e+06"
    assert f"{sweep[20].ratio('da') / sweep[30].ratio('da'):.2g}" == "2.8e+06"
    # "the measured factor per layer, 0.233 to 0.236, ... 1/0.236^10 = 1.9e6 > 4^10 = 1e6"
    assert [round(sweep[d].per_layer_factor("da"), 3) for d in (10, 20, 30)] == [0.236, 0.236, 0.233]
    assert f"{1 / 0.236 ** 10:.2g}" == "1.9e+06" and f"{4.0 ** 10:.1g}" == "1e+06"


@pytest.fixture(scope="module")
def relu_flows():
    return ch.relu_digits_flows(scales=(1.0, 2.0), depth=30, width=128)


def test_prose_section_5a_exploding_relu_weight_gradients_keep_the_he_profile(relu_flows):
    he, big = relu_flows[1.0], relu_flows[2.0]
    # with He's weights each column stays within a factor of 10 over the 30 layers
    for v in (he.a_norm, he.da_norm, he.dW_norm):
        assert v.max() / v.min() < 10
    # activations grow going up and dL/da going down, both about 2x per layer
    assert f"{big.a_norm[-1] / big.a_norm[0]:.0e}" == "9e+08"
    assert f"{big.ratio('da'):.0e}" == "1e+09" and round(he.ratio("da"), 1) == 1.7
    # ... but the weight gradients keep the He network's profile: the first layers get no more than the last
    assert round(big.ratio("dW"), 2) == 0.10 and round(he.ratio("dW"), 2) == 0.13
    growth = big.dW_norm / he.dW_norm
    assert f"{growth.min():.2g}" == "1.3e+09" and f"{growth.max():.2g}" == "1.7e+09"
    # "in both networks |dL/dW^l| rises about seven-fold over the first ten layers (He: 1.28 at layer 1, 8.57 at
    # layer 10; twice He: 1.68e9 and 1.28e10), then stays within a factor of 2 up to layer 30"
    assert [f"{v:.3g}" for v in he.dW_norm[[0, 9]]] == ["1.28", "8.57"]
    assert [f"{v:.3g}" for v in big.dW_norm[[0, 9]]] == ["1.68e+09", "1.28e+10"]
    for f in (he, big):
        assert 6 < f.dW_norm[9] / f.dW_norm[0] < 8 and f.dW_norm[9:].max() / f.dW_norm[9:].min() < 2
    assert 2 ** 29 < growth.min() and growth.max() < 2 ** 31  # "about 2^30"
    # the scale of everything: logits (exactly 2^31, one 2 per weight matrix: ReLU is positively homogeneous), loss
    assert big.out_rms / he.out_rms == pytest.approx(2.0 ** 31, rel=1e-9)
    assert f"{big.out_rms:.2g}" == "4.9e+09" and round(he.out_rms, 1) == 2.3
    assert f"{big.loss:.2g}" == "7.3e+09" and round(he.loss, 1) == 4.0
    step, step_he = big.relative_update(0.01), he.relative_update(0.01)
    assert f"{step.min():.2g}" == "5.2e+05" and f"{step.max():.2g}" == "6.5e+06"
    assert round(100 * step_he.min(), 2) == 0.08 and round(100 * step_he.max(), 1) == 0.8
    tiny = big.relative_update(1e-6)
    assert round(tiny.min()) == 52 and 645 <= tiny.max() < 655  # "52 to 650 times"
    # one learning rate about 1e9 times smaller brings the first step into range, as in chapter 01
    # "at 1e-10, 1e8 times smaller than 0.01: 0.5 % to 6.5 %, within a factor of 10 of He's network at 0.01"
    rescued = big.relative_update(1e-10)
    assert round(100 * rescued.min(), 1) == 0.5 and round(100 * rescued.max(), 1) == 6.5
    assert np.all((1 < rescued / step_he) & (rescued / step_he < 10))


def test_prose_section_5_relu_slopes_shrink_and_he_gain_makes_up_for_it(relu_flows):
    """Section 5's intro and printout: over layers 2..30 the ReLU's rms slope is 0.71 (about sqrt(1/2): half
    the units silent), He's weight gain 1.41 (sqrt 2), and their product 1.01 per layer; with 2x He, 2.02."""
    he, big = relu_flows[1.0], relu_flows[2.0]
    assert round(he.rms_slope[1:].mean(), 2) == 0.71 and round(np.sqrt(0.5), 2) == 0.71
    assert round(he.weight_gain[1:].mean(), 2) == 1.41 and round(np.sqrt(2), 2) == 1.41
    assert round((he.rms_slope[1:] * he.weight_gain[1:]).mean(), 2) == 1.01
    assert round(big.weight_gain[1:].mean(), 2) == 2.83 and round((big.rms_slope[1:] * big.weight_gain[1:]).mean(), 2) == 2.02


def test_prose_section_5a_training_the_exploding_net_stops_at_step_2():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runs = ch.train_exploding(lrs=(1e-2, 1e-6), weight_scale=2.0, depth=30, width=128, steps=10)
    for lr, h in runs.items():
        assert h.diverged and h.diverged_step == 2, lr
        assert np.isfinite(h.loss[:2]).all()
    assert 227.5 < np.log10(runs[1e-2].loss[1]) < 228.5  # "about 10^228"
    # step 0's loss (5.8e9) is the same untrained network's on the first minibatch of 64 (section 5's 7.26e9 is
    # over the 256 digits of section 3)
    data = gv.data.load_digits(seed=0)
    idx = np.random.default_rng(0).permutation(len(data.y_train))[:64]
    net = MLP(64, depth=30, width=128, activation="relu", init="he_normal", weight_scale=2.0, n_outputs=10, seed=0)
    first = gv.losses.softmax_cross_entropy(net.forward(data.X_train[idx], training=True), data.y_train[idx])[0]
    assert first == pytest.approx(runs[1e-2].loss[0], rel=1e-9) and f"{first:.2g}" == "5.8e+09"
    assert f"{ch.relu_digits_flows(scales=(2.0,))[2.0].loss:.3g}" == "7.26e+09"


def test_prose_section_5b_float64_weight_gradients_are_10_to_the_49_times_larger():
    # "every layer's weight gradient would be 1e49 times that of the same network with He's weights":
    # a ReLU net without biases scales a^(l-1) by 10^(l-1) and dL/dz^l by 10^(50-l) (the upstream gradient is fixed)
    nets = [MLP(128, depth=50, width=128, activation="relu", init="he_normal", weight_scale=s, n_outputs=None,
                seed=0) for s in (1.0, 10.0)]
    he, big = (ch.probe_flow(n, batch_size=128, seed=0, spectral_norms=False) for n in nets)
    assert big.first_nonfinite is None
    np.testing.assert_allclose(big.dW_norm / he.dW_norm, 1e49, rtol=1e-9)
    assert f"{np.finfo(np.float64).max:.2g}" == "1.8e+308"


def test_prose_section_5b_float32_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = MLP(128, depth=50, width=128, activation="relu", init="he_normal", weight_scale=10.0, n_outputs=None,
                  seed=0, dtype=np.float32)
        flow = ch.probe_flow(net, batch_size=128, seed=0, spectral_norms=False)
    assert flow.first_nonfinite == 38 and flow.overflow["forward"] == 38
    assert round(np.log10(np.finfo(np.float32).max), 1) == 38.5
    assert f"{np.abs(net.records[36]['a']).max():.2g}" == "1.1e+38"


def test_prose_section_6_larger_weights():
    flows = {s: ch.digits_flow(depth=10, width=64, activation="sigmoid", init="glorot_uniform", weight_scale=s,
                               seed=0)[1] for s in (4.0, 16.0)}
    assert round(100 * flows[16.0].saturated_fraction.mean(), 1) == 68.5
    assert round(flows[4.0].rms_slope[1:].mean(), 2) == 0.16 and round(flows[16.0].rms_slope[1:].mean(), 2) == 0.08
    assert round(flows[4.0].ratio("da"), 3) == 0.019 and round(flows[16.0].ratio("da"), 1) == 8.6


def test_prose_section_7_training():
    runs = ch.compare_depths(depths=(3, 10), activation="sigmoid", lr=0.5, steps=200)
    hist, change, path = runs["10 sigmoid layers"]
    assert round(100 * hist.test_accuracy[-1]) == 10  # "stays at chance, 10 %"
    assert 0.17 < change[-1] < 0.23  # "about a fifth"
    assert np.all((0.7e-5 < change[:3]) & (change[:3] < 1.5e-5))  # "about 1e-5"
    assert runs["3 sigmoid layers"][0].test_accuracy[-1] > 0.5
    # "layer 1 moved about 19,000 times less than layer 10"
    assert 18_500 < change[-1] / change[0] < 19_500
    # why not 300,000 times less, and why layers 1-3 moved alike: the summed step lengths follow the gradient
    # staircase (layer 1's 175,000 times shorter than layer 10's, layer 3's about 7 times layer 1's), but layer 1's
    # steps point one way (net move 86 % of their length; layer 2 47 %) while from layer 3 up they mostly cancel
    straight = runs["10 sigmoid layers"].straightness
    assert round(path[-1] / path[0], -3) == 175_000 and round(path[2] / path[0]) == 7
    assert [f"{p:.2g}" for p in (path[0], path[2], path[-1])] == ["1.2e-05", "8.1e-05", "2.1"]
    assert [f"{x:.0%}" for x in straight[:3]] == ["86%", "47%", "14%"]
    assert f"{straight[3:].min():.1%}" == "7.5%" and f"{straight[3:].max():.1%}" == "9.5%"
    assert 0.95 < change[2] / change[0] < 1.25  # "the two land at the same 1e-5"


def test_prose_section_7_the_top_layers_have_nothing_to_learn_from():
    """Section 7's probe: a logistic regression on the frozen top hidden layer of the untrained 10-layer net
    reaches chance (10 %), on the untrained 3-layer net's 72 %; layer 10's output differs by 4e-7 between images."""
    probe = ch.frozen_feature_probe(depths=(3, 10))
    assert f"{probe[10].test_accuracy:.0%}" == "10%" and f"{probe[3].test_accuracy:.0%}" == "72%"
    assert f"{probe[10].spread:.0e}" == "4e-07" and f"{probe[3].spread:.2g}" == "0.01"
    with pytest.raises(ValueError, match="C"):
        ch.frozen_feature_probe(depths=(2,), C=0.0)


# ----------------------------------------------------------------------------- section 5's new pieces
def test_relative_update_and_errors(sigmoid_flow):
    np.testing.assert_allclose(sigmoid_flow.relative_update(0.5), 0.5 * sigmoid_flow.dW_norm / sigmoid_flow.w_norm)
    with pytest.raises(ValueError, match="lr"):
        sigmoid_flow.relative_update(0.0)


def test_layer_norms_table(relu_flows):
    table = ch.layer_norms_table({f"{s:g}x": f for s, f in relu_flows.items()})
    lines = table.splitlines()
    assert len(lines) == 2 + 30 and "1x" in lines[0] and "2x" in lines[0] and "|dL/dW^l|" in lines[1]
    assert lines[2].split()[0] == "1" and float(lines[2].split()[-1]) == pytest.approx(relu_flows[2.0].dW_norm[0],
                                                                                         rel=5e-3)
    with pytest.raises(ValueError, match="quantity"):
        ch.layer_norms_table(relu_flows, quantities=("q",))
    _, short = ch.digits_flow(depth=3, width=8, batch_size=16)
    with pytest.raises(ValueError, match="same depth"):
        ch.layer_norms_table({"a": short, "b": relu_flows[1.0]})


def test_weight_gradient_figure(sigmoid_flow, relu_flows):
    fig = ch.weight_gradients_vanish_or_not(sigmoid_flow, relu_flows)
    gids = _gids(fig)
    assert {"norm:a", "norm:da", "norm:dW", "norm:dW at 1x He", "dW_gap", "dW_gap_text"} <= gids
    text = next(t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "dW_gap_text")
    assert "1.3e9" in text and "1.7e9" in text


def test_plot_layer_norms_masks_overflowed_weight_gradients():
    flow = ch.experiments._relu_flow(10.0, 50, np.float32)
    ax = ch.figures.plot_layer_norms(flow, quantities=("a", "dW"))
    y = np.asarray(next(ln for ln in ax.lines if ln.get_gid() == "norm:dW").get_ydata(), float)
    assert np.isnan(y).all()
    plt.close(ax.figure)  # ax=None drew on a new pyplot figure: later tests count the open ones


# ----------------------------------------------------------------------------- exercise 02.4 (code)
def test_exercise_02_4_judges_a_sigmoid(capsys):
    ex = gv.exercises.EXERCISES["02.4"]
    assert ex.wants_code
    assert gv.exercises.check("02.4", ch.exercises.stable_sigmoid)
    assert gv.exercises.check("02.4", gv.activations.sigmoid)
    ok, msg = ex.checker(lambda z: 1 / (1 + np.exp(-z)))  # the textbook formula overflows at z = -1000
    assert not ok and "RuntimeWarning" in msg and "overflow" in msg
    ok, msg = ex.checker(lambda z: (1 + np.tanh(z / 2)) / 2)  # stable, but loses sigma(-40)
    assert not ok and "sigmoid(-40)" in msg and "4.24" in msg
    ok, msg = ex.checker(lambda z: np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z))))
    assert not ok and "RuntimeWarning" in msg  # np.where evaluates both branches
    ok, msg = ex.checker(lambda z: ch.exercises.stable_sigmoid(z).ravel())
    assert not ok and "shape" in msg
    ok, msg = ex.checker(lambda z: "no")
    assert not ok
    assert not gv.exercises.check("02.4", 0.5)  # a number, not a function
    capsys.readouterr()
    gv.exercises.solution("02.4")
    out = capsys.readouterr().out
    assert "def stable_sigmoid" in out and "exercise(" not in out


def test_exercise_02_4_rejects_the_textbook_formula_with_its_warning_silenced():
    """The task says "never overflows": silencing the warning must not pass. At z = -720, exp(720) overflows to
    inf and 1 / (1 + inf) gives 0, although sigma(-720) = 2.0e-313 is a float64."""
    ex = gv.exercises.EXERCISES["02.4"]

    def silenced(z):
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-z))

    def silenced_by_warnings(z):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return 1 / (1 + np.exp(-z))

    for func in (silenced, silenced_by_warnings):
        ok, msg = ex.checker(func)
        assert not ok and "exp(1000) overflowed to inf" in msg and "silencing hides the overflow" in msg, msg
    ok, msg = ex.checker(lambda z: np.clip(ch.exercises.stable_sigmoid(z), 1e-300, 1))  # clipped tails are wrong
    assert not ok and "sigmoid(-700)" in msg  # the mildest input where it goes wrong (1e-300 vs 9.9e-305)
    for good in (ch.exercises.stable_sigmoid, gv.activations.sigmoid,
                 lambda z: np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z))),
                 lambda z: np.exp(-np.logaddexp(0, -z))):
        assert ex.checker(good) == (True, "")


def _flush_subnormal_sigmoid(z):
    """A correct sigmoid that gives 0 where the sigmoid is a subnormal float64 (z < -708.4), as expit does."""
    s = ch.exercises.stable_sigmoid(z)
    return np.where(s < np.finfo(np.float64).tiny, 0.0, s)


def test_exercise_02_4_accepts_scipy_expit_and_every_sigmoid_right_to_full_float64_precision():
    """scipy.special.expit was rejected: it computes 1 / (1 + exp(-z)) in C (no warning) and gives 0 at z = -720,
    where the sigmoid, 2.0e-313, is a subnormal float64 (fewer digits than 2.2e-308 and up); the check wanted that
    subnormal to 1e-9. It now asks for 1e-9 relative accuracy, or an error under the smallest normal float64."""
    ex = gv.exercises.EXERCISES["02.4"]
    assert ex.checker(_flush_subnormal_sigmoid) == (True, "")
    assert _flush_subnormal_sigmoid(np.array([-720.0]))[0] == 0.0  # the path expit takes
    special = pytest.importorskip("scipy.special")
    assert special.expit(np.array([-720.0]))[0] == 0.0
    assert ex.checker(special.expit) == (True, "")
    assert gv.exercises.check("02.4", special.expit)


@pytest.mark.parametrize("wrong, where", [
    (lambda z: (1 + np.tanh(z / 2)) / 2, "sigmoid(-40)"),  # cancels to 0 where the sigmoid is 4.25e-18
    (lambda z: 1 - 1 / (1 + np.exp(np.minimum(z, 700))), "sigmoid(-40)"),
    (lambda z: np.where(z < -690, 0.0, ch.exercises.stable_sigmoid(z)), "sigmoid(-700)"),  # flushes normal numbers
    (lambda z: ch.exercises.stable_sigmoid(z).astype(np.float32), "sigmoid(-1)"),  # float32: 7 digits, not 16
    (lambda z: np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))), "sigmoid(1)"),  # the z < 0 side on both sides
    (lambda z: ch.exercises.stable_sigmoid(z) + 1e-12, "sigmoid(-40)"),
])
def test_exercise_02_4_still_rejects_wrong_sigmoids(wrong, where):
    ok, msg = gv.exercises.EXERCISES["02.4"].checker(wrong)
    assert not ok and msg.startswith(where), msg


def test_exercise_02_4_checker_restores_warning_state():
    before = np.geterr()
    ch.exercises._check_stable_sigmoid(lambda z: 1 / (1 + np.exp(-z)))
    assert np.geterr() == before


# ----------------------------------------------------------------------------- the saturation explorer
@pytest.fixture
def saturation():
    pytest.importorskip("ipywidgets")
    return ch.SaturationExplorer(canvas="none")


def test_saturation_explorer_starts_at_z_2_with_10_layers(saturation):
    assert saturation.values == {"z": 2.0, "layers": 10, "z_far": 1000.0}
    x, y = (np.asarray(a, float) for a in saturation.marks.get_data())
    np.testing.assert_allclose(y, [sigmoid(2.0), sigmoid_grad(2.0)])
    n, logp = (np.asarray(a, float) for a in saturation.prod.get_data())
    np.testing.assert_allclose(logp, n * np.log10(sigmoid_grad(2.0)), rtol=1e-12)
    np.testing.assert_allclose(saturation.at_L.get_ydata(), [10 * np.log10(sigmoid_grad(2.0))], rtol=1e-12)
    assert "1.6e-10" in saturation.ax_prod.get_title()
    text = saturation.summary()
    assert "z = 6: sigma = 0.997527, slope = 0.00247" in text
    assert "z = 1000: sigma = 1 exactly (rounded), slope = 0 in float64 (really 5.1e-435)" in text
    assert "0.997527" in saturation.readout.value and "5.1e-435" in saturation.readout.value


def test_saturation_explorer_grey_band_comes_into_view_at_z_20_with_50_layers(saturation):
    """Cell 14 names the grey band (below 4.9e-324, the smallest float64): a cold reader looked for it at the
    defaults, where the product (1.6e-10) is far above it and the axis stops near 1e-70; at z = 20, L = 50 it shows."""
    band_top = np.log10(np.finfo(np.float64).smallest_subnormal)
    assert f"{10 ** band_top:.2g}" == "4.9e-324" and f"{float(sigmoid_grad(2.0)) ** 10:.2g}" == "1.6e-10"
    assert saturation.ax_prod.get_ylim()[0] > band_top and not saturation.tiny_text.get_visible()
    saturation.update(z=20.0, layers=50)
    assert saturation.ax_prod.get_ylim()[0] < band_top and saturation.tiny_text.get_visible()
    assert saturation.at_L.get_ydata()[0] < band_top  # the product of 50 slopes lies in the band


def test_saturation_explorer_legends_fit_in_the_figure(saturation):
    """A static copy showed the right legend cut at the figure's edge ("every unit at z" read as a value missing)."""
    fig = saturation.figure
    fig.canvas.draw()
    box = fig.bbox
    for ax in (saturation.ax_phi, saturation.ax_prod):
        leg = ax.get_legend().get_window_extent()
        assert box.x0 <= leg.x0 and leg.x1 <= box.x1 and box.y0 <= leg.y0, ax
    assert "σ′(z)ⁿ: every unit at the slider's z" in [t.get_text() for t in saturation.ax_prod.get_legend().get_texts()]


def test_saturation_explorer_every_control_redraws(saturation):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        saturation.controls["z"].value = 6.0  # through the widget: the observer redraws
        assert saturation.state(6.0, 10, 1000.0)["z"]["slope"] == pytest.approx(float(sigmoid_grad(6.0)))
        assert np.asarray(saturation.marks.get_ydata(), float)[0] == pytest.approx(float(sigmoid(6.0)))
        saturation.controls["layers"].value = 50
        assert saturation.at_L.get_xdata()[0] == 50
        saturation.controls["z_far"].value = -1e6
        assert "-1e+06" in saturation.readout.value and "0 exactly (rounded)" in saturation.summary()
        saturation.update(z=20.0, layers=50)  # the product falls below the smallest float64
        assert "(0 in float64)" in saturation.summary().splitlines()[1]
        assert saturation.ax_prod.get_ylim()[0] < -323.3 < saturation.ax_prod.get_ylim()[1]
        assert saturation.ax_phi.get_xlim() == (-21.0, 21.0)  # the view widens to keep z in sight
        assert saturation.tiny_text.get_visible()  # the underflow band is in view, and says what it is
        saturation.update(z=-14.0, layers=1)
        assert saturation.ax_phi.get_xlim() == (-21.0, 21.0)
        saturation.figure.canvas.draw()  # renders without error


def test_saturation_explorer_axes_stay_put_while_z_moves_a_little(saturation):
    # a step of z redraws the curves, not the axes (tick labels are the slow part of a frame): the z axis is
    # -10..10 up to |z| = 9, then the whole slider; the product's axis ends at a round number below the curve
    lims = set()
    for z in np.arange(2.0, 2.85, 0.1):
        saturation.update(z=float(z))
        assert saturation.ax_phi.get_xlim() == (-10.0, 10.0)
        low = saturation.ax_prod.get_ylim()[0]
        assert low < min(saturation.prod.get_ydata()) - 1.0  # the whole curve in view, with a margin
        lims.add(low)
        assert not saturation.tiny_text.get_visible()  # far below the view: not drawn (text costs, even unseen)
    assert lims == {-70.0}
    saturation.update(z=-9.0)
    assert saturation.ax_phi.get_xlim() == (-10.0, 10.0)
    saturation.update(z=-9.1)
    assert saturation.ax_phi.get_xlim() == (-21.0, 21.0)
    assert [ch.explorers._nice_ceil(x) for x in (0.9, 1.0, 1.2, 53.9, 70.1, 320.0)] == [1.0, 1.0, 1.5, 70.0, 100.0,
                                                                                          500.0]


def test_saturation_explorer_takes_its_state_from_itself_only(saturation):
    # refresh reads the values it is given; a global of the same name cannot change it
    saturation.refresh(z=0.0, layers=3, z_far=6.0)
    np.testing.assert_allclose(saturation.at_L.get_ydata(), [3 * np.log10(0.25)], rtol=1e-12)
    assert "0.25" in saturation.readout.value


@pytest.mark.parametrize("value,text", [(0.0197, "0.0197"), (-434.294, "5.1e-435"), (-2.0, "0.01"),
                                        (-9.99999, "1.0e-10"), (float("-inf"), "0"), (5.0, "1.0e5")])
def test_pow10_text(value, text):
    assert ch.explorers._pow10(np.log10(value) if value == 0.0197 else value) == text


def test_sigma_text_shows_how_close_to_one():
    sigma_text = ch.explorers._sigma_text
    assert sigma_text(2.0) == "0.8808" and sigma_text(6.0, digits=6) == "0.997527"
    assert sigma_text(16.0) == "1 - 1.1e-07"  # not "1": sigma(16) is not yet 1 in float64
    assert sigma_text(40.0) == "1 exactly (rounded)" and sigma_text(-1000.0) == "0 exactly (rounded)"
    assert sigma_text(-16.0) == "1.125e-07"
