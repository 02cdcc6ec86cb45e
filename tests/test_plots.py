"""Each plot function on a small configuration: the figure holds the data it was given."""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gradviz import plots  # noqa: E402
from gradviz.activations import sigmoid, sigmoid_grad  # noqa: E402
from gradviz.network import MLP  # noqa: E402
from gradviz.stats import PassStats, probe  # noqa: E402
from gradviz.theory import init_weight_variances, predict_variances  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_gid(ax, gid):
    found = [a for a in list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.collections)
             if a.get_gid() == gid]
    return found


def small_stats(depth=4, width=16, activation="tanh", init="glorot_uniform", **kw):
    net = MLP(width, depth=depth, width=width, activation=activation, init=init, n_outputs=None, **kw)
    return net, probe(net, batch_size=32, seed=0, param_grads=True)


def fake_stats(depth, overflow_at=None, backward_at=None):
    """A PassStats with known numbers; layers at and above a forward overflow hold NaN."""
    layer = np.arange(1, depth + 1)
    a_var = 2.0 ** layer
    da_var = 0.5 ** layer
    grad_norm = 10.0 ** -layer.astype(float)
    if overflow_at:
        a_var[overflow_at - 1:] = np.nan
        da_var[:] = np.nan
        grad_norm[:] = np.nan
    z = np.zeros(depth)
    return PassStats(layer=layer, z_mean=z, z_var=a_var, a_mean=z, a_std=np.sqrt(a_var), a_var=a_var,
                     da_var=da_var, dz_var=da_var, grad_norm=grad_norm, saturated_fraction=np.linspace(0, 1, depth),
                     dead_fraction=np.full(depth, 0.25), first_nonfinite=overflow_at or backward_at,
                     overflow={"forward": overflow_at, "backward": backward_at}, activation="relu")


def test_import_changes_no_global_style():
    before = dict(matplotlib.rcParams)
    plots.plot_activation("tanh")
    after = dict(matplotlib.rcParams)
    assert before == after


def test_activation_and_slope_with_saturation_shaded():
    ax = plots.plot_activation("sigmoid", x_range=(-10, 10), n_points=201)
    (phi,) = by_gid(ax, "phi")
    (dphi,) = by_gid(ax, "dphi")
    z = phi.get_xdata()
    assert z[0] == -10 and z[-1] == 10 and len(z) == 201
    np.testing.assert_allclose(phi.get_ydata(), sigmoid(z))
    np.testing.assert_allclose(dphi.get_ydata(), sigmoid_grad(z))
    shades = by_gid(ax, "saturation")
    assert len(shades) == 2  # both tails
    # the right tail starts where the slope falls below 5% of 1/4: |z| ~ 4.36
    left, right = sorted(shades, key=lambda p: p.get_x())
    assert left.get_x() == -10 and 4.2 < -(left.get_x() + left.get_width()) < 4.5
    assert 4.2 < right.get_x() < 4.5 and right.get_x() + right.get_width() == pytest.approx(10)
    assert ax.get_xlabel() and ax.get_ylabel()
    assert by_gid(plots.plot_activation("relu"), "saturation") == []


def test_activation_rejects_empty_range():
    with pytest.raises(ValueError, match="x_range"):
        plots.plot_activation("tanh", x_range=(1, 1))


def test_variances_hold_measured_and_predicted_values():
    depth, width = 4, 16
    _, stats = small_stats(depth, width)
    widths = [width] * (depth + 1)
    pred = predict_variances(widths, "tanh", init_weight_variances(widths, "glorot_uniform"))
    ax = plots.plot_variances(stats, pred)
    (ma,) = by_gid(ax, "measured:a")
    (mda,) = by_gid(ax, "measured:da")
    (pa,) = by_gid(ax, "predicted:a")
    np.testing.assert_array_equal(ma.get_xdata(), np.arange(1, depth + 1))
    np.testing.assert_allclose(ma.get_ydata(), stats.a_var)
    np.testing.assert_allclose(mda.get_ydata(), stats.da_var)
    np.testing.assert_allclose(pa.get_ydata(), pred.a_var)
    assert pa.get_color() == ma.get_color() and pa.get_linestyle() == "--"
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    assert "layer" in ax.get_xlabel()
    assert ax.get_xlim()[0] < 1 < depth < ax.get_xlim()[1]  # layer 1 on the left
    assert by_gid(ax, "overflow") == []
    # std instead of variance
    ax2 = plots.plot_variances(stats, std=True)
    np.testing.assert_allclose(by_gid(ax2, "measured:a")[0].get_ydata(), np.sqrt(stats.a_var))


def test_overflowed_layers_are_marked_not_drawn():
    stats = fake_stats(6, overflow_at=4)
    ax = plots.plot_variances(stats)
    y = by_gid(ax, "measured:a")[0].get_ydata()
    np.testing.assert_allclose(y[:3], 2.0 ** np.arange(1, 4))
    assert np.isnan(y[3:]).all()
    assert np.isnan(by_gid(ax, "measured:da")[0].get_ydata()).all()
    marks = by_gid(ax, "overflow")
    texts = [a for a in marks if hasattr(a, "get_text")]
    assert texts and "overflow at layer 4" in texts[0].get_text()
    band = [a for a in marks if hasattr(a, "get_width")][0]
    assert band.get_x() == 3.5 and band.get_x() + band.get_width() == 6.5  # layers 4..6


def _points_inside_band(ax, quantities=("a", "da")):
    """(gid, x) of every finite point of the lines of ``quantities`` inside the overflow band's x range."""
    (band,) = [a for a in by_gid(ax, "overflow") if hasattr(a, "get_width")]
    lo, hi = band.get_x(), band.get_x() + band.get_width()
    out = []
    for ln in ax.lines:
        if str(ln.get_gid()).split(":")[-1] not in quantities:
            continue
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        out += [(ln.get_gid(), xi) for xi in x[(x > lo) & (x < hi) & np.isfinite(y)]]
    return out


@pytest.mark.parametrize("std", [False, True])
def test_no_line_runs_into_the_overflow_band(std):
    """The prediction stops where the measurement does: nothing is drawn inside the hatched band."""
    stats = fake_stats(6, overflow_at=4)
    prediction = SimpleNamespace(depth=6, a_var=2.0 ** np.arange(1, 7), da_var=np.ones(6))
    ax = plots.plot_variances(stats, prediction, std=std)
    assert _points_inside_band(ax) == []
    y = by_gid(ax, "predicted:a")[0].get_ydata()
    np.testing.assert_allclose(y[:3], (2.0 ** np.arange(1, 4)) ** (0.5 if std else 1))
    ax2 = plots.plot_variances(fake_stats(5, backward_at=2), SimpleNamespace(depth=5, a_var=np.ones(5),
                                                                             da_var=np.ones(5)))
    assert _points_inside_band(ax2, quantities=("da",)) == []  # a backward overflow spoils the gradients only
    assert np.isfinite(by_gid(ax2, "predicted:a")[0].get_ydata()).all()


def test_backward_overflow_masks_gradients_below():
    stats = fake_stats(5, backward_at=2)
    ax = plots.plot_variances(stats)
    y = by_gid(ax, "measured:da")[0].get_ydata()
    assert np.isnan(y[:2]).all() and np.isfinite(y[2:]).all()
    assert np.isfinite(by_gid(ax, "measured:a")[0].get_ydata()).all()
    assert any("gradient overflow at layer 2" in t.get_text() for t in by_gid(ax, "overflow") if hasattr(t, "get_text"))


def test_variances_need_something_and_known_quantities():
    with pytest.raises(ValueError, match="give stats"):
        plots.plot_variances(None)
    with pytest.raises(ValueError, match="quantities"):
        plots.plot_variances(fake_stats(3), quantities=("w",))


def test_histograms_one_curve_per_layer_and_side_by_side():
    nets = {}
    for label, init in [("naive", "uniform"), ("glorot", "glorot_uniform")]:
        net, _ = small_stats(3, 16, init=init)
        nets[label] = net
    ax = plots.plot_histograms(nets["naive"], key="a", bins=20)
    curves = [ln for ln in ax.lines if str(ln.get_gid()).startswith("hist:")]
    assert [c.get_gid() for c in curves] == ["hist:1", "hist:2", "hist:3"]
    assert len(curves[0].get_ydata()) == 20
    assert len(ax.figure.axes) == 2  # the axes and its colour bar
    # layer 1 dark, layer L light (viridis)
    assert sum(curves[0].get_color()[:3]) < sum(curves[-1].get_color()[:3])
    edges, density = np.linspace(-1, 1, 5), np.array([[0.1, 0.2, 0.3, 0.4], [np.nan] * 4])
    ax2 = plots.plot_histograms((edges, density), colorbar=False)
    assert [ln.get_gid() for ln in ax2.lines] == ["hist:1"]  # overflowed layer not drawn
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), density[0])
    fig = plots.histogram_grid(nets, keys=("a", "da"), bins=20)
    axes = fig.axes[:4]
    assert axes[0].get_title() == "naive" and axes[1].get_title() == "glorot"
    assert axes[0].get_xlim() == axes[1].get_xlim() and axes[0].get_ylim() == axes[1].get_ylim()
    assert "gradients" in axes[2].get_xlabel()
    # few layers: a discrete legend, one entry per layer in the colour of its lines, no colour bar
    assert len(fig.axes) == 4
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "hidden layer"
    assert [t.get_text() for t in legend.get_texts()] == ["1 (next to the input)", "2", "3"]
    for handle, curve in zip(legend.legend_handles, [ln for ln in axes[0].lines if ln.get_gid().startswith("hist:")]):
        assert handle.get_color() == curve.get_color()
    colors = plots.layer_colors(3)
    assert min(plots.color_difference(a, b) for i, a in enumerate(colors) for b in colors[i + 1:]) > 20


def test_layer_key_is_a_colour_bar_for_many_layers():
    fig, ax = plots.new_figure()
    cb = plots.layer_key(fig, plots.MAX_LAYER_LEGEND + 1, ax=ax)
    assert cb.ax.get_label() == "<colorbar>" and not fig.legends
    fig2, ax2 = plots.new_figure()
    leg = plots.layer_key(fig2, 5, ax=ax2)
    assert len(leg.get_texts()) == 5 and ax2.get_legend() is leg


def test_grad_norm_bars_heights_and_overflow():
    stats = fake_stats(4)
    ax = plots.plot_grad_norm(stats)
    heights = [p.get_height() for p in ax.patches if p.get_gid() == "bars" or p.get_gid() is None
               and hasattr(p, "get_height")]
    np.testing.assert_allclose(sorted(heights), sorted(10.0 ** -np.arange(1, 5)))
    assert ax.get_yscale() == "log" and "log scale" in ax.get_ylabel()
    ax2 = plots.plot_grad_norm(fake_stats(4, overflow_at=3), quantity="da_std")
    assert not [p for p in ax2.patches if p.get_gid() != "overflow"]
    assert by_gid(ax2, "overflow")
    with pytest.raises(ValueError, match="quantity"):
        plots.plot_grad_norm(stats, quantity="nope")


def _fake_history(loss, acc, diverged=False):
    n = len(loss)
    rec = np.arange(0, n + 1, 5)
    return SimpleNamespace(step=np.arange(n), loss=np.asarray(loss, float), record_steps=rec,
                           test_accuracy=np.full(len(rec), acc), train_accuracy=np.full(len(rec), acc),
                           diverged=diverged, diverged_step=n - 1 if diverged else None)


def test_training_curves_several_runs():
    runs = {"good": _fake_history(np.linspace(2, 0.1, 20), 0.9),
            "bad": _fake_history(list(np.linspace(2, 3, 19)) + [np.inf], 0.1, diverged=True)}
    ax_loss, ax_acc = plots.plot_training_curves(runs, smooth=1)
    (good,) = by_gid(ax_loss, "loss:good")
    np.testing.assert_allclose(good.get_ydata(), np.linspace(2, 0.1, 20))
    assert np.isnan(by_gid(ax_loss, "loss:bad")[0].get_ydata()[-1])
    assert by_gid(ax_loss, "diverged:bad")
    np.testing.assert_allclose(by_gid(ax_acc, "acc:good")[0].get_ydata(), 90.0)
    assert ax_loss.get_xlabel() == "training step" and "%" in ax_acc.get_ylabel()
    assert by_gid(ax_loss, "loss:good")[0].get_color() != by_gid(ax_loss, "loss:bad")[0].get_color()
    # the diverged run: no accuracy at or after the failing step, an X at its last record before it
    (bad,) = by_gid(ax_acc, "acc:bad")
    np.testing.assert_array_equal(bad.get_xdata(), [0, 5, 10, 15])
    assert by_gid(ax_acc, "acc_overflow:bad")[0].get_xdata()[0] == 15
    assert any(t.get_gid() == "acc_overflow_note" and "diverged" in t.get_text() for t in ax_acc.texts)
    assert len(by_gid(ax_acc, "acc:good")[0].get_xdata()) == 5 and not by_gid(ax_acc, "acc_overflow:good")


def test_mark_diverged_accuracy_on_a_line_drawn_by_hand():
    """Chapters that draw accuracy lines themselves (02, 04a) cut them the same way."""
    h = _fake_history(list(np.linspace(2, 3, 12)) + [np.nan], 0.1, diverged=True)
    ok = _fake_history(np.linspace(2, 1, 13), 0.5)
    fig, ax = plots.new_figure()
    for label, run in (("bad", h), ("ok", ok)):
        ax.plot(run.record_steps, 100 * run.test_accuracy, gid=f"acc:{label}")
    plots.mark_diverged_accuracy(ax, {"bad": h, "ok": ok})
    np.testing.assert_array_equal(by_gid(ax, "acc:bad")[0].get_xdata(), [0, 5, 10])
    assert len(by_gid(ax, "acc:ok")[0].get_xdata()) == 3 and not by_gid(ax, "acc_overflow:ok")
    assert by_gid(ax, "acc_overflow:bad")


@pytest.mark.parametrize("accuracy", ["test", "train", "both"])
def test_a_diverged_run_draws_no_finite_accuracy_after_its_overflow(accuracy):
    """Whatever accuracy is drawn, a diverged run's lines hold no finite point at or after the failing step,
    and one X (with its tag) marks where it ended."""
    h = _fake_history(list(np.linspace(2, 3, 12)) + [np.nan], 0.1, diverged=True)  # fails at step 12
    ax_loss, ax_acc = plots.plot_training_curves({"bad": h}, smooth=1, accuracy=accuracy, diverged_tags={"bad": "4"})
    lines = [ln for ln in ax_acc.lines if ln.get_gid() in ("acc:bad", "trainacc:bad")]
    assert lines
    for ln in lines:
        x, y = np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)
        assert not np.any((x >= h.diverged_step) & np.isfinite(y))
    (x_mark,) = by_gid(ax_acc, "acc_overflow:bad")
    assert x_mark.get_xdata()[0] == 10
    assert any(t.get_gid() == "acc_overflow_tag:bad" and t.get_text() == "4" for t in ax_acc.texts)
    assert by_gid(ax_loss, "diverged:bad")


def test_color_difference_is_ciede2000():
    """Three pairs of the test data of Sharma, Wu & Dalal (2005), given as L*a*b*, and white/black through sRGB."""
    assert plots._ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert plots._ciede2000((50, -1.3802, -84.2814), (50, 0, -82.7485)) == pytest.approx(1.0, abs=1e-4)
    assert plots._ciede2000((50, 2.5, 0), (73, 25, -18)) == pytest.approx(27.1492, abs=1e-4)
    np.testing.assert_allclose(plots._cielab("white"), [100, 0, 0], atol=1e-3)
    assert plots.color_difference("white", "black") == pytest.approx(100, abs=1e-3)
    assert plots.color_difference("C0", "C0") == 0


def test_run_colors_are_distinct_and_leave_vermillion_to_gradients():
    first = plots.RUN_COLORS[:5]
    gaps = [plots.color_difference(a, b) for i, a in enumerate(first) for b in first[i + 1:]]
    assert min(gaps) >= 38
    assert plots.COLORS["da"] not in plots.RUN_COLORS and plots.OKABE_ITO["yellow"] not in plots.RUN_COLORS


def test_histograms_of_absurd_densities_draw_in_units_not_overflow():
    # Found by tests/test_extremes.py: edges up to 1e288 are drawn in units of 1e288, so a density of
    # 1e20 per unit is 1e308 per 1e288 (beyond what a linear axis can tick) and 1e38 overflows.
    edges = np.array([1.0, 5e287, 1e288])
    ax = plots.plot_histograms((edges, np.array([[1.0, 1e20]])), colorbar=False)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1e-20, 1.0], rtol=1e-12)
    assert "(per 1e288)" in ax.get_ylabel() and "(x 1e308)" in ax.get_ylabel()
    ax.figure.canvas.draw()
    ax = plots.plot_histograms((np.array([1.0, 1e271]), np.array([[1e38]])), colorbar=False)
    assert np.isnan(ax.lines[0].get_ydata()).all()  # 1e38 per 1 is inf per 1e271: not drawn
    ax.figure.canvas.draw()
    ax = plots.plot_histograms((np.array([1.0, 1e271]), np.array([[10.0]])), colorbar=False, logy=True)
    assert ax.lines[0].get_ydata()[0] == plots.LOG_DISPLAY_RANGE[1]  # a log axis: clipped at its edge
    ax.figure.canvas.draw()


def test_in_display_units():
    v, k = plots.in_display_units([1.0, -3e300, np.inf])
    assert k == 300 and v[1] == -3.0 and v[0] == 1e-300 and np.isinf(v[2])
    v, k = plots.in_display_units([1e270, np.nan])
    assert k == 0 and v[0] == 1e270


def test_training_curves_of_extreme_or_zero_losses_draw_without_warnings():
    # Found by tests/test_extremes.py: a loss near 1e300 made the log axis' padding overflow in exp;
    # a run whose every loss is 0 made matplotlib warn that nothing can be log-scaled (0 is not drawn now).
    huge = _fake_history([1e300, 1e-300, 1.0], 0.5, diverged=True)
    ax_loss, _ = plots.plot_training_curves({"huge": huge}, smooth=1)
    np.testing.assert_allclose(by_gid(ax_loss, "loss:huge")[0].get_ydata(), [1e270, 1e-270, 1.0], rtol=1e-12)
    assert by_gid(ax_loss, "diverged:huge")[0].get_ydata()[0] == 1e270
    ax_loss.figure.canvas.draw()
    ax_loss, _ = plots.plot_training_curves({"zero": _fake_history([0.0, 0.0], 0.5)}, smooth=1)
    assert np.isnan(by_gid(ax_loss, "loss:zero")[0].get_ydata()).all()  # nothing to show on a log axis
    ax_loss.figure.canvas.draw()


def test_log_scale_of_data_with_nothing_positive_gets_fixed_limits():
    fig, ax = plots.new_figure()
    ax.plot([1, 2], [0.0, -1.0])
    plots.log_scale(ax)
    assert ax.get_ylim() == plots.EMPTY_LOG_LIMITS
    fig.canvas.draw()
    fig, ax = plots.new_figure()
    ax.plot([], [])  # no data yet (an explorer's empty lines): autoscaling stays on
    plots.log_scale(ax)
    assert ax.get_autoscaley_on()


def test_layer_stat_over_steps_heatmap_and_lines():
    steps = np.array([0, 10, 20])
    values = np.array([[1e-3, 1e-2], [1e-4, np.nan], [1e-5, 1e-1]])
    ax = plots.plot_layer_stat_over_steps(steps, values)
    (mesh,) = by_gid(ax, "heatmap")
    arr = mesh.get_array()
    assert arr.shape == (3, 2) and arr.mask[1, 1]
    np.testing.assert_allclose(arr[0], values[0])
    assert "layer" in ax.get_xlabel() and ax.get_ylabel() == "training step"
    ax2 = plots.plot_layer_stat_over_steps(steps, values, kind="lines")
    np.testing.assert_allclose(by_gid(ax2, "layer:1")[0].get_ydata(), values[:, 0])
    with pytest.raises(ValueError, match="shape"):
        plots.plot_layer_stat_over_steps(steps, values[:2])
    with pytest.raises(ValueError, match="kind"):
        plots.plot_layer_stat_over_steps(steps, values, kind="pie")


def test_explain_writes_and_removes_a_message():
    fig, ax = plots.new_figure()
    plots.explain(ax, "nothing to draw")
    assert [t.get_text() for t in by_gid(ax, "explain")] == ["nothing to draw"]
    plots.explain(ax, "")
    assert by_gid(ax, "explain") == []
    assert plt.get_fignums() == []  # new_figure does not go through pyplot


# ----------------------------------------------------------------------------- sticky log limits
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_exponent = st.floats(-200, 200)


@settings(max_examples=300, deadline=None)
@given(st.floats(-320, 308), st.floats(0, 40), st.one_of(st.none(), st.tuples(_exponent, st.floats(0.01, 60))))
def test_sticky_log_limits_show_the_data_and_stay_put(e_low, decades, current):
    # the whole float64 range, subnormals and values near 1.8e308 included
    from gradviz.plots import sticky_log_limits

    low, high = 10.0 ** e_low, 10.0 ** min(e_low + decades, 308.25)
    assume(low > 0)
    if current is not None:
        current = (10.0 ** current[0], 10.0 ** (current[0] + current[1]))
    lo, hi = sticky_log_limits(current, low, high)
    assert 0 < lo < hi and lo <= low and high <= hi
    # the data fills at least half of the axis (or of its narrowest span, one decade)
    assert max(np.log10(high / low), 1.0) >= 0.5 * np.log10(hi / lo) - 1e-9
    # asked again with the limits it chose, it keeps them: no change without a reason
    assert sticky_log_limits((lo, hi), low, high) == (lo, hi)


def test_sticky_log_limits_rejects_bad_data():
    from gradviz.plots import sticky_log_limits

    for low, high in [(0.0, 1.0), (2.0, 1.0), (1.0, np.inf), (np.nan, 1.0)]:
        with pytest.raises(ValueError, match="low and high"):
            sticky_log_limits(None, low, high)


def test_superscript_log_labels_match_matplotlibs_without_mathtext():
    from matplotlib.ticker import LogFormatterSciNotation

    from gradviz.plots import SuperscriptLogFormatter

    fmt, ref = SuperscriptLogFormatter(labelOnlyBase=False), LogFormatterSciNotation(labelOnlyBase=False)
    expected = {1e-7: "10⁻⁷", 1.0: "10⁰", 10.0: "10¹", 1e15: "10¹⁵", 0.3: "3×10⁻¹", 2e5: "2×10⁵"}
    for x, label in expected.items():
        assert fmt(x) == label and "$" in ref(x)


def test_plain_log_labels_are_plain_numbers_from_0_01_to_1000_on_the_same_ticks():
    from gradviz.plots import PlainLogFormatter, SuperscriptLogFormatter

    plain, sup = PlainLogFormatter(labelOnlyBase=False), SuperscriptLogFormatter(labelOnlyBase=False)
    expected = {0.2: "0.2", 0.01: "0.01", 1.0: "1", 5.0: "5", 500.0: "500", 1e-3: "10⁻³", 1e3: "10³", 2e5: "2×10⁵"}
    for x, label in expected.items():
        assert plain(x) == label and bool(sup(x))
    # on an axis: the ticks SuperscriptLogFormatter labels (decades, 2 and 5 under 2 decades), written plainly
    fig, ax = plots.new_figure()
    plots.fast_log_yaxis(ax, plain=True)
    ax.plot([1, 2], [0.3, 8.0])
    ax.set_ylim(0.15, 12.0)
    fig.canvas.draw()
    labels = [t.get_text() for minor in (False, True) for t in ax.yaxis.get_ticklabels(minor=minor)
              if t.get_text() and 0.15 <= t.get_position()[1] <= 12.0]
    assert set(labels) == {"0.2", "0.5", "1", "2", "5", "10"}


def test_fast_log_yaxis_labels_few_decades_and_no_mathtext():
    fig, ax = plots.new_figure()
    plots.fast_log_yaxis(ax)
    ax.plot([1, 2], [1e-3, 1e9])
    ax.set_ylim(1e-3, 1e9)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels() if t.get_text()]
    shown = [y for y in ax.get_yticks() if 1e-3 <= y <= 1e9]
    assert 2 <= len(shown) <= 7 and labels and not any("$" in s for s in labels)
    assert len(ax.yaxis.get_minorticklocs()) == 0  # 12 decades: no minor ticks
    ax.set_ylim(0.1, 10)
    fig.canvas.draw()
    assert len(ax.yaxis.get_minorticklocs()) > 0


def test_layer_span_steps_through_the_spans_and_holds_a_span_while_half_filled():
    spans = (5, 10, 20)
    assert [plots.layer_span(d, spans, 30) for d in (1, 5, 6, 10, 11, 20, 21, 30)] == [5, 5, 10, 10, 20, 20, 30, 30]
    assert plots.layer_span(7, (10, 25), 8) == 8  # at most max_depth
    assert plots.layer_span(40, spans, 30) == 40  # at least the depth
    # the span shown now is kept while the network fills more than half of it
    assert [plots.layer_span(d, spans, 30, current=10) for d in (6, 10, 11, 5, 4)] == [10, 10, 20, 5, 5]


def test_quick_legend_paints_its_copy_with_the_pixels_of_a_full_draw(monkeypatch):
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="rising")
    (under,) = ax.plot([0, 1], [0.9, 0.9], color="k", lw=3, zorder=1)  # across the legend, beneath it
    legend = plots.quick_legend(ax, loc="upper left")
    assert isinstance(legend, plots.QuickLegend) and ax.get_legend() is legend and legend.get_frame().get_alpha() == 1.0
    full = []  # the legend's full draws (its entries' text)
    draw = mpl.legend.Legend.draw
    monkeypatch.setattr(mpl.legend.Legend, "draw", lambda self, r: full.append(1) or draw(self, r))
    canvas.draw()
    first = np.asarray(canvas.buffer_rgba()).copy()
    assert legend._copy is not None and len(full) == 1
    under.set_ydata([0.7, 1.0])  # what lies beneath changes; the legend does not
    canvas.draw()
    assert len(full) == 1  # painted from its copy
    painted = np.asarray(canvas.buffer_rgba()).copy()
    legend._copy = None  # a full draw of the legend
    canvas.draw()
    np.testing.assert_array_equal(painted, np.asarray(canvas.buffer_rgba()))
    assert not np.array_equal(first, painted)
    legend.texts[0].set_text("falling")  # an entry changed in place: drawn in full, not from the old copy
    drawn = len(full)
    canvas.draw()
    assert len(full) == drawn + 1
    # saving draws it in full, and keeps no copy from another renderer
    import io

    legend._copy = None
    fig.savefig(io.BytesIO(), format="png")
    assert legend._copy is None


def test_sticky_log_limits_leave_room_where_the_data_is_going():
    from gradviz.plots import sticky_log_limits

    def moves(headroom):
        limits, changes = None, 0
        for k in range(60):  # a slider moving the data (two decades wide) up by 0.2 decades a step
            new = sticky_log_limits(limits, 10.0 ** (0.2 * k), 10.0 ** (0.2 * k + 2), headroom=headroom)
            assert new[0] <= 10.0 ** (0.2 * k) and 10.0 ** (0.2 * k + 2) <= new[1]
            changes += limits is not None and new != limits
            limits = new
        return changes

    assert moves(1.15) < 0.7 * moves(1e9)  # 15 against 23 (no room: the data's span in its own grid)


def test_a_log_axis_of_one_to_two_decades_labels_its_minor_ticks_at_2_and_5():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    plots.fast_log_yaxis(ax)
    ax.set_ylim(0.03, 1.5)  # 1.7 decades
    ax.figure.canvas.draw()
    ticks = zip(ax.yaxis.get_minorticklocs(), ax.yaxis.get_minorticklabels())
    labels = {t.get_text() for loc, t in ticks if 0.03 <= loc <= 1.5 and t.get_text()}
    assert labels == {"5×10⁻²", "2×10⁻¹", "5×10⁻¹"}
