"""Issue 12: every public plotting function draws random finite data spanning 1e-300 .. 1e300 (with
zeros, single points and constant curves), and every explorer takes any value of its controls,
extremes included, without raising and without a warning (the suite runs with warnings as errors).

Hypothesis explores; in CI (``CI=true``) the ``ci`` profile of conftest.py replays a fixed sequence.
Figures are small and reused, and each is drawn (matplotlib computes ticks, limits and log
transforms at draw time, where its overflow warnings come from).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gradviz import plots
from gradviz.activations import ACTIVATIONS
from gradviz.stats import PassStats
from gradviz.theory.meanfield import VariancePrediction

# Each example draws a figure: few examples, no deadline (a draw's time varies on a shared machine),
# and the function-scoped figure fixture is reused on purpose (it is cleared before each example).
FEW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ----------------------------------------------------------------------------- data
#: |x| = 10**e with e uniform in [-300, 300], either sign, or exactly 0.
magnitudes = st.floats(-300.0, 300.0).map(lambda e: 10.0 ** e)
positive = st.one_of(magnitudes, st.just(0.0))
signed = st.one_of(positive, magnitudes.map(lambda v: -v))


def curves(n, values=positive):
    """A curve of ``n`` values: random, or constant (one value ``n`` times)."""
    return st.one_of(st.lists(values, min_size=n, max_size=n), values.map(lambda v: [v] * n)).map(np.array)


depths = st.integers(1, 12)


@st.composite
def overflows(draw, depth):
    """A PassStats.overflow: nothing, a forward overflow at layer k, or a backward one."""
    fwd = draw(st.one_of(st.none(), st.integers(1, depth)))
    bwd = draw(st.one_of(st.none(), st.integers(1, depth))) if fwd is None else None
    return {"forward": fwd, "backward": bwd}


@st.composite
def pass_stats(draw, depth=None):
    L = draw(depths) if depth is None else depth
    c = lambda values=positive: draw(curves(L, values))  # noqa: E731
    overflow = draw(overflows(L))
    fraction = st.floats(0.0, 1.0)
    return PassStats(layer=np.arange(1, L + 1), z_mean=c(signed), z_var=c(), a_mean=c(signed), a_std=c(), a_var=c(),
                     da_var=c(), dz_var=c(), grad_norm=c(), saturated_fraction=c(fraction),
                     dead_fraction=c(fraction), first_nonfinite=overflow["forward"] or overflow["backward"],
                     overflow=overflow, activation="relu")


@st.composite
def predictions(draw, depth):
    c = lambda: draw(curves(depth))  # noqa: E731
    return VariancePrediction(widths=(8,) * (depth + 1), activation="relu", activation_params={},
                              weight_var=c(), bias_var=c(), z_mean=c(), z_var=c(), a_mean=c(),
                              a_second_moment=c(), a_var=c(), grad_second_moment=c(), da_var=c(), dz_var=c(),
                              grad_gain=c(), input_grad_var=1.0)


# ----------------------------------------------------------------------------- one figure, reused
@pytest.fixture
def fig():
    """A small figure (2 x 1.5 inches at 40 dpi) that each example clears and draws."""
    f = Figure(figsize=(3.0, 2.0), dpi=40)
    FigureCanvasAgg(f)
    return f


def _axes(fig, n=1):
    fig.clear()
    axes = fig.subplots(1, n, squeeze=False)[0]
    return axes if n > 1 else axes[0]


def _draw(fig):
    fig.canvas.draw()


# ----------------------------------------------------------------------------- plotting functions
@FEW
@given(data=st.data(), quantities=st.sampled_from([("a", "da"), ("z", "dz"), ("a",)]), std=st.booleans())
def test_plot_variances_draws_any_finite_values(fig, data, quantities, std):
    stats = data.draw(st.one_of(st.none(), pass_stats()))
    depth = stats.depth if stats is not None else data.draw(depths)
    pred = data.draw(predictions(depth)) if stats is None else data.draw(st.one_of(st.none(), predictions(depth)))
    plots.plot_variances(stats, pred, ax=_axes(fig), quantities=quantities, std=std)
    _draw(fig)


@FEW
@given(stats=pass_stats(), quantity=st.sampled_from(["grad_norm", "da_std"]))
def test_plot_grad_norm_draws_any_finite_values(fig, stats, quantity):
    plots.plot_grad_norm(stats, ax=_axes(fig), quantity=quantity)
    _draw(fig)


@st.composite
def histogram_data(draw):
    """(edges, density) as stats.histograms returns them: increasing finite edges, densities >= 0."""
    bins = draw(st.integers(1, 20))
    lo = draw(signed)
    span = draw(magnitudes)
    edges = np.linspace(lo, lo + span, bins + 1) if np.isfinite(lo + span) and lo + span > lo else None
    if edges is None or not np.all(np.diff(edges) > 0):
        edges = np.linspace(-1.0, 1.0, bins + 1)
    L = draw(depths)
    density = np.array([draw(curves(bins)) for _ in range(L)])
    return edges, density


@FEW
@given(source=histogram_data(), logy=st.booleans())
def test_plot_histograms_draws_any_finite_values(fig, source, logy):
    plots.plot_histograms(source, ax=_axes(fig), logy=logy, colorbar=True)
    _draw(fig)


def _net(records):
    """What histogram_grid and stats.histograms read of a network: its recorded passes and depth."""
    return SimpleNamespace(records=records, depth=len(records))


@st.composite
def recorded_nets(draw):
    L = draw(st.integers(1, 4))
    n = draw(st.integers(1, 6))
    return _net([{"a": draw(curves(n, signed)).reshape(1, n), "da": draw(curves(n, signed)).reshape(1, n)}
                 for _ in range(L)])


@settings(FEW, max_examples=5)
@given(nets=st.lists(recorded_nets(), min_size=1, max_size=2), logy=st.booleans())
def test_histogram_grid_draws_any_finite_values(nets, logy):
    grid = plots.histogram_grid({f"net {i}": n for i, n in enumerate(nets)}, bins=8, logy=logy)
    grid.set_dpi(30)  # its own size (smaller squeezes constrained layout's axes to nothing), fewer pixels
    FigureCanvasAgg(grid)
    grid.canvas.draw()


@st.composite
def histories(draw):
    n = draw(st.integers(1, 30))
    loss = draw(curves(n))
    records = draw(st.integers(1, 5))
    acc = st.floats(0.0, 1.0)
    diverged = draw(st.booleans())
    return SimpleNamespace(step=np.arange(n), loss=loss, diverged=diverged,
                           diverged_step=n - 1 if diverged else None,
                           record_steps=np.linspace(0, n, records).astype(int),
                           test_accuracy=draw(curves(records, acc)), train_accuracy=draw(curves(records, acc)))


@FEW
@given(runs=st.lists(histories(), min_size=0, max_size=3), smooth=st.integers(1, 12),
       accuracy=st.sampled_from(["test", "train", "both"]))
def test_plot_training_curves_draws_any_finite_values(fig, runs, smooth, accuracy):
    axes = _axes(fig, 2)
    runs = {f"run {i}": h for i, h in enumerate(runs)}
    plots.plot_training_curves(runs, axes=axes, smooth=smooth, accuracy=accuracy,
                               diverged_tags={label: label for label in runs})
    _draw(fig)


@FEW
@given(depth=st.integers(1, 300), beside=st.booleans())
def test_layer_key_at_any_depth(fig, depth, beside):
    ax = _axes(fig)
    plots.layer_key(fig, depth, ax=ax if beside else None)
    _draw(fig)


@FEW
@given(data=st.data(), kind=st.sampled_from(["heatmap", "lines"]), log=st.booleans())
def test_plot_layer_stat_over_steps_draws_any_finite_values(fig, data, kind, log):
    records, L = data.draw(st.integers(1, 6)), data.draw(depths)
    steps = np.cumsum(data.draw(st.lists(st.integers(1, 100), min_size=records, max_size=records)))
    values = np.array([data.draw(curves(L, positive if log else signed)) for _ in range(records)])
    plots.plot_layer_stat_over_steps(steps, values, ax=_axes(fig), kind=kind, log=log)
    _draw(fig)


@st.composite
def ranges(draw):
    """(low, high), low < high, each end anywhere in +-1e300."""
    a, b = draw(signed), draw(signed)
    if a == b:
        b = a + 1.0 if abs(a) < 1e15 else a * 2 if a > 0 else a / 2
    return (min(a, b), max(a, b))


@FEW
@given(name=st.sampled_from(sorted(ACTIVATIONS)), x_range=ranges(), derivative=st.booleans())
def test_plot_activation_draws_any_finite_range(fig, name, x_range, derivative):
    plots.plot_activation(name, ax=_axes(fig), x_range=x_range, derivative=derivative, n_points=101)
    _draw(fig)


@FEW
@given(data=st.data(), text=st.booleans())
def test_mark_overflow_and_layer_axis_at_any_depth(fig, data, text):
    depth = data.draw(st.integers(1, 10_000))
    ax = _axes(fig)
    plots.layer_axis(ax, depth)
    plots.mark_overflow(ax, data.draw(st.one_of(st.none(), st.integers(1, depth), overflows(depth))), depth,
                        text=text)
    _draw(fig)


@settings(max_examples=100, deadline=None)
@given(low=positive.filter(lambda v: v > 0), high=positive.filter(lambda v: v > 0),
       current=st.one_of(st.none(), st.tuples(magnitudes, magnitudes)))
def test_sticky_log_limits_of_any_positive_range(low, high, current):
    low, high = min(low, high), max(low, high)
    lo, hi = plots.sticky_log_limits(current, low, high)
    assert 0 < lo < hi and np.isfinite(hi)
    assert lo <= low and high <= hi


@FEW
@given(data=st.data(), numticks=st.integers(2, 8))
def test_fast_log_yaxis_draws_any_positive_data(fig, data, numticks):
    ax = _axes(fig)
    plots.fast_log_yaxis(ax, numticks=numticks)
    y = plots.positive_finite(data.draw(curves(data.draw(depths))))
    ax.plot(np.arange(len(y)), y)
    _draw(fig)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), window=st.integers(0, 40))
def test_array_helpers_take_any_finite_values(data, window):
    y = data.draw(curves(data.draw(st.integers(1, 30)), signed))
    assert plots.moving_average(y, window).shape == y.shape
    v = plots.positive_finite(y)
    assert np.all(np.isnan(v) | ((v >= plots.LOG_DISPLAY_RANGE[0]) & (v <= plots.LOG_DISPLAY_RANGE[1])))
    assert np.array_equal(np.isfinite(plots.finite_or_nan(y)), np.isfinite(y))


# ----------------------------------------------------------------------------- explorers
def _explorer_classes():
    """Every public explorer of the package: the shared ones and each chapter's."""
    from gradviz.chapters import load_all
    from gradviz.widgets import Explorer

    load_all()
    found, todo = set(), [Explorer]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if not sub.__name__.startswith("_") and sub.__module__.startswith("gradviz."):
                found.add(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


EXPLORERS = _explorer_classes()


def test_every_explorer_a_notebook_shows_is_driven():
    from gradviz import widgets
    from gradviz.chapters import load_all

    shown = {getattr(m, n) for m in load_all() for n in m.__all__ if n.endswith("Explorer")}
    shown |= {getattr(widgets, n) for n in widgets.__all__ if n.endswith("Explorer") and n != "Explorer"}
    assert shown and shown <= set(EXPLORERS)


def _ends_or_between(low, high, between):
    """A control's two ends (each a third of the time) or a value ``between`` them."""
    return st.one_of(st.sampled_from([low, high]), between)


def control_values(widget):
    """A strategy over every value ``widget`` accepts, its ends included; None for a widget without a value."""
    import ipywidgets as w

    if isinstance(widget, w.FloatLogSlider):
        exps = _ends_or_between(widget.min, widget.max, st.floats(widget.min, widget.max))
        low, high = widget.base ** widget.min, widget.base ** widget.max
        return exps.map(lambda e: float(np.clip(widget.base ** e, low, high)))
    if isinstance(widget, (w.FloatRangeSlider, w.IntRangeSlider)):
        one = (st.integers if isinstance(widget, w.IntRangeSlider) else st.floats)(widget.min, widget.max)
        ends = _ends_or_between(widget.min, widget.max, one)
        return st.tuples(ends, ends).map(sorted).map(tuple)
    if isinstance(widget, (w.IntSlider, w.BoundedIntText)):
        return _ends_or_between(widget.min, widget.max, st.integers(widget.min, widget.max))
    if isinstance(widget, (w.FloatSlider, w.BoundedFloatText)):
        return _ends_or_between(widget.min, widget.max, st.floats(widget.min, widget.max))
    if isinstance(widget, (w.FloatText, w.IntText)):  # unbounded: anything finite a learner can type
        return signed if isinstance(widget, w.FloatText) else st.integers(-(2**31), 2**31 - 1)
    if isinstance(widget, (w.Checkbox, w.ToggleButton)):
        return st.booleans()
    if hasattr(widget, "_options_values"):  # Dropdown, ToggleButtons, SelectionSlider, ...
        return st.sampled_from(list(widget._options_values))
    assert not hasattr(widget, "value"), f"no strategy for {type(widget).__name__}: add one"
    return None


@pytest.fixture(scope="module", params=EXPLORERS, ids=lambda c: c.__name__)
def explorer(request):
    """One explorer of each class, built once (building is slow), at a low dpi (drawing is what is tested)."""
    import inspect

    cls = request.param
    kwargs = {"progress": False} if "progress" in inspect.signature(cls).parameters else {}
    ex = cls(canvas="none", **kwargs)
    ex.figure.set_dpi(30)
    yield ex


# An update recomputes (some explorers train) and draws: a few per explorer keep the file within a minute.
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_explorer_takes_any_value_of_its_controls(explorer, data):
    """Set at least half of the controls to random values (extremes included) at once, then draw."""
    strategies = {k: s for k, c in explorer.controls.items() if (s := control_values(c)) is not None}
    names = data.draw(st.lists(st.sampled_from(sorted(strategies)), min_size=max(1, len(strategies) // 2),
                               unique=True), label="controls")
    values = {k: data.draw(strategies[k], label=k) for k in names}
    explorer.update(**values)
    explorer.figure.canvas.draw()
