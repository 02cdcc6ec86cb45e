"""Slider explorers: controls -> compute -> redraw the same figure in place.

In a notebook cell::

    from gradviz.widgets import DeepNetworkExplorer
    DeepNetworkExplorer()            # shows the sliders and the figure

Every explorer has

- ``.controls``: dict name -> ipywidget (set ``.value`` to drive it from code);
- ``.figure``: the :class:`matplotlib.figure.Figure` it draws on;
- ``.widget``: the ipywidgets box that a notebook displays;
- ``.values``: the current control values, as a dict;
- ``.update(**values)``: set several controls at once, redraw once.

Callbacks read their state from the explorer object only, never from notebook
globals (see PITFALLS: a global reassigned by a later cell would silently break
the slider).

The figure is a plain Figure (not registered with pyplot, so explorers do not
pile up figures and do not depend on the notebook's ``%matplotlib`` backend),
shown on an ipympl canvas widget when ipympl is installed (``canvas='auto'``),
else as PNGs in an :class:`ipywidgets.Image` (``'image'``); ``'none'`` draws
nothing by itself (tests and benchmarks call ``figure.canvas.draw()``). Every
change updates the existing artists (``set_data``); on ipympl only what changed
is drawn again, over cached pixels of the rest (``blit``; :mod:`gradviz._canvas`).

A learner's change and a change made by code are answered differently. Code
(a notebook cell, ``update``, a test) gets the final answer at once. A change
made in the browser is drawn and sent at once (no ``draw_idle`` round trip),
and an explorer whose answer takes long (the deep-network ones: see
:meth:`Explorer.answer`) first shows an estimate from a slice of the batch,
while a worker thread computes the final answer, which then replaces it. The
browser sends the next value of a slider only once the kernel has answered
the last one, so values collapse into the latest; a refinement for a value
the learner has already left is dropped, and a figure kept on an estimate
for a while says that it is being refined.

Adding an explorer
------------------
Subclass :class:`Explorer` in the chapter module that shows it (or here, if
several chapters do), and give it ``make_controls``, ``setup_figure`` and
``refresh``::

    class LearningRateExplorer(Explorer):
        figsize = (6, 3.5)

        def make_controls(self):
            return {"lr": log_slider("learning rate", 1e-3, 10, 0.1)}

        def setup_figure(self, fig):
            self.ax = fig.subplots()
            (self.line,) = self.ax.plot([], [])

        def refresh(self, lr):
            steps = np.arange(50)
            self.line.set_data(steps, (1 - lr) ** steps)
            self.autoscale(self.ax)

On an ipympl canvas an explorer whose layout is frozen (the default) is
redrawn by blitting: only the axes whose limits or ticks changed and what the
Axes hold are drawn again (list fixed artists, e.g. a title that never changes,
in ``blit_static``). If ``refresh`` changes figure-level artists (a suptitle, a
figure legend) or adds Axes, set ``blit = False``. The pixel test in
``tests/test_widgets.py`` moves every notebook's explorer at random and checks
that every blitted frame equals a full draw.
"""

from __future__ import annotations

import contextlib
import functools
import html
import time
from collections import OrderedDict

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from . import _canvas, _live, _probing, plots
from ._probing import Probes, prediction, resolve_init
from ._controls import CONTROL_STYLE, check_controls, check_size, choice, int_slider, log_slider, values_slider
from ._validate import check_choice, check_float_dtype
from .activations import ACTIVATIONS, get_activation
from .stats import combine_stats, probe

__all__ = [
    "Explorer",
    "log_slider",
    "int_slider",
    "choice",
    "values_slider",
    "resolve_init",
    "LRU",
    "CONTROL_STYLE",
    "INIT_OPTIONS",
    "BN_OPTIONS",
    "WIDTHS",
    "ActivationExplorer",
    "DeepNetworkExplorer",
    "MAX_DEPTH",
]

_CANVASES = ("auto", "ipympl", "image", "none")
class LRU(OrderedDict):
    """A tiny least-recently-used cache (dict) holding at most ``maxsize`` entries."""

    def __init__(self, maxsize):
        super().__init__()
        self.maxsize = maxsize

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)
        return value


# ----------------------------------------------------------------------------- base class
class Explorer:
    """Base class of the explorers: controls, one figure, redraw in place.

    Parameters
    ----------
    canvas : {'auto', 'ipympl', 'image', 'none'}
        How the figure is shown (see the module docstring).
    **values
        Initial control values, e.g. ``DeepNetworkExplorer(depth=30)``; one outside a control's range or
        options raises ValueError naming both, never clamped (:func:`gradviz._controls.check_control`).

    Subclasses implement :meth:`make_controls` (dict name -> widget),
    :meth:`setup_figure` (create the axes and the artists once) and
    :meth:`refresh` (update the artists from the control values, given as
    keyword arguments).

    An explorer whose answer can take long implements :meth:`answer` (the
    numbers, computed from the control values without touching the figure or
    the widgets) and :meth:`show` (update the artists from those numbers)
    instead of :meth:`refresh`. A learner's change is then answered
    progressively (see :meth:`draft_examples` and :meth:`refine`); a change
    made by code (a notebook cell, :meth:`update`, a test) gets the final
    answer at once.

    Attributes
    ----------
    dropped : int
        Refinements dropped because the learner had moved the controls on
        before they were shown.
    answered : str or None
        What the figure shows now: 'final', or 'draft' (an estimate being refined).
    """

    figsize = (9.0, 4.0)
    #: Seconds a first estimate stays on screen before the figure says that it is being refined. A
    #: refinement that arrives sooner never shows the mark, so a drag does not blink between marked and
    #: unmarked frames; once shown, the mark stays on the drafts that follow until a final answer is drawn.
    refining_delay = 0.3
    #: Seconds a refinement waits, after the draft's frame has left the kernel, before it computes
    #: (:func:`gradviz._canvas.wait_until_shown`); then it is dropped untouched if the learner has moved on.
    #: 0: no wait. Explorers whose refinement would take a core from the browser showing the draft set
    #: :data:`gradviz._canvas.SHOW_SECONDS`.
    show_draft_seconds = 0.0
    #: On an ipympl canvas, redraw by blitting (:class:`gradviz._canvas.Blitter`) the Axes of :meth:`blit_axes`
    #: when the layout is frozen (:attr:`freeze_layout`); False for an explorer that changes figure-level
    #: artists (a suptitle, a figure legend) or the set of Axes after ``setup_figure`` (see the module docstring).
    blit = True
    _blitter = None
    #: True while :meth:`answer` (or :meth:`refresh`) runs for a learner waiting in the browser, set by the machinery:
    #: the explorer may then spend more threads on the answer. False for a change made by code (a notebook cell,
    #: :meth:`update`, a test), whose numbers must be those of the library's functions, bit for bit.
    learner_waiting = False

    def __init__(self, canvas="auto", **values):
        canvas = check_choice("canvas", canvas, _CANVASES)
        if canvas == "auto":
            canvas = "ipympl" if _canvas.have_ipympl() else "image"
        self.canvas_kind = canvas
        self.controls = self.make_controls()
        for k, v in check_controls(type(self).__name__, self.controls, values).items():
            self.controls[k].value = v
        self._holding = False
        self.timings = {}
        self._generation = 0  # counts the answers asked for: a refinement of an older one is dropped
        self._mark = _canvas.RefiningMark()
        self._worker = None
        self.dropped = 0
        self.answered = None
        self.figure, self._view = self._make_figure(canvas)
        with plots.style():
            self.setup_figure(self.figure)
        self.widget = self.layout()
        for name, ctl in self.controls.items():
            if hasattr(ctl, "value"):
                ctl.observe(self._on_change, names="value")
        with plots.style():
            self.refresh(**self.values)  # artists in place before the layout is computed
        if self.freeze_layout:
            self._freeze_layout()
        if self.blit and self.freeze_layout and canvas == "ipympl":
            _canvas.pin_axis_labels(self.blit_axes())
            self._blitter = _canvas.Blitter(self.figure, self.blit_axes(), static=self.blit_static)
        self.redraw()

    def blit_axes(self) -> list:
        """The Axes redrawn by blitting when :attr:`blit` is set (default: all of the figure's).

        The last one should be the Axes whose y limits change most often (see :class:`gradviz._canvas.Blitter`)."""
        return list(self.figure.axes)

    def blit_static(self) -> list:
        """Artists of :meth:`blit_axes` drawn once in the background, not at each frame: a fixed title; a
        legend outside the Axes (inside, the data would be drawn over it). Asked at each frame: one that is
        replaced (a new legend) or whose text changes is drawn by a full draw. Text is the slow part of a
        frame: a legend of three entries costs as much as the lines (~20 ms)."""
        return []

    #: Compute the constrained layout once, then keep it: re-running it at every
    #: redraw cost about a third of the draw time (see benchmarks/bench_explorer.py).
    freeze_layout = True

    def _freeze_layout(self):
        with plots.style():
            self.figure.draw_without_rendering()
        self.figure.set_layout_engine("none")

    # --- to implement ------------------------------------------------------
    def make_controls(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def setup_figure(self, fig) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def refresh(self, **values) -> None:
        """Update the artists from the control values (default: :meth:`show` of :meth:`answer`)."""
        self.show(self.answer(values), values)

    # --- progressive answers: implement answer and show instead of refresh --------------
    def answer(self, values: dict, examples: int | None = None):  # pragma: no cover - abstract
        """The result for the control ``values`` (a dict): the final one, or with ``examples`` an
        estimate from that many examples (see :meth:`draft_examples`). Numbers only: it must not
        touch the figure or the widgets."""
        raise NotImplementedError

    def show(self, result, values: dict) -> None:  # pragma: no cover - abstract
        """Update the artists (and the readouts) from a result of :meth:`answer` or :meth:`refine`."""
        raise NotImplementedError

    def draft_examples(self, values: dict) -> int | None:
        """For a learner's change: None to compute the final answer at once (it is quick, or cached),
        or the number of examples of a first estimate, shown while :meth:`refine` computes the final
        answer on a worker thread. Default None."""
        return None

    def refine(self, values: dict):
        """The final answer after a draft, as a generator: it runs on a worker thread, and between
        the items it yields a refinement whose values the learner has left is dropped; the last
        item is the final answer. Default: one item, :meth:`answer`."""
        yield self.answer(values)

    def remember(self, values: dict, result) -> None:
        """Keep a final answer that :meth:`refine` computed (e.g. in a cache). Default: nothing."""

    def refining_text(self, values: dict, examples: int) -> str:
        """What the figure says while a draft from ``examples`` examples is being refined."""
        return "first estimate: refining ..."

    def refining_axes(self):
        """The Axes that shows the refining mark (default: the last blitted Axes, else the first)."""
        return self.blit_axes()[-1] if self.blit else self.figure.axes[0]

    # --- machinery ---------------------------------------------------------
    @property
    def values(self) -> dict:
        """Current value of every control that has one."""
        return {k: c.value for k, c in self.controls.items() if hasattr(c, "value")}

    def _make_figure(self, canvas):
        with plots.style():
            fig = Figure(figsize=self.figsize, dpi=_canvas.canvas_dpi(self.figsize, canvas), layout="constrained")
        return fig, _canvas.attach_view(fig, canvas, id(self) % 100000)

    def layout(self):
        """The box a notebook displays: the controls in a grid above the figure."""
        w = ipywidgets
        ctl = [c for c in self.controls.values()]
        grid = w.GridBox(ctl, layout=w.Layout(grid_template_columns="repeat(3, minmax(260px, 1fr))",
                                              grid_gap="2px 12px"))
        return w.VBox([grid, self._view] + self.extra_views())

    def extra_views(self) -> list:
        """Widgets shown under the figure: the explorer's ``readout`` (an HTML widget) if it has one."""
        readout = getattr(self, "readout", None)
        return [readout] if readout is not None else []

    def _on_change(self, change):
        if not self._holding:
            self._answer()

    def _answer(self):
        """Redraw for the current values: progressively for a learner in the browser, else at once."""
        if _live.from_front_end(self.controls.values()):
            self._answer_learner()
        else:
            self.redraw()

    def _progressive(self):
        return type(self).refresh is Explorer.refresh  # answer and show, not a refresh of its own

    def _answer_learner(self):
        """Answer a change made in the browser: at once when that is quick, else a draft now and the
        final answer from the worker thread (see :meth:`draft_examples`)."""
        self._generation += 1
        values = self.values
        if not self._progressive():
            t0 = time.perf_counter()
            with self._held_views():
                with plots.style(), self._waiting_learner():
                    self.refresh(**values)
                self.timings["refresh"] = time.perf_counter() - t0
                self._draw_answer(final=True, now=True)
            return
        examples = self.draft_examples(values)
        t0 = time.perf_counter()
        with _live.one_blas_thread(), self._waiting_learner():
            result = self.answer(values, examples=examples)
        self.timings["answer"] = time.perf_counter() - t0
        self._show(result, values, final=examples is None, examples=examples)
        if examples is not None:
            # after the draft's frame has gone: the two would share the cores (and the GIL), slowing the first frame
            self._start_refining(self._generation, values)

    @contextlib.contextmanager
    def _waiting_learner(self):
        """Set :attr:`learner_waiting` for the duration (on the kernel's thread, which answers one change at a time)."""
        self.learner_waiting = True
        try:
            yield
        finally:
            self.learner_waiting = False

    def _start_refining(self, generation, values):
        if self._worker is None:
            self._worker = _live.Worker(f"gradviz-{type(self).__name__}")

        def work():
            if self.show_draft_seconds:
                _canvas.wait_until_shown(self.figure, self.show_draft_seconds)  # the browser shows the draft first
                if self._generation != generation:
                    raise _live.Left
            result = None
            for result in self.refine(values):
                if self._generation != generation:  # the learner has moved on
                    raise _live.Left
            return result

        if self._worker.start(work, functools.partial(self._refined, generation, values),
                              functools.partial(self._refinement_failed, generation), self._drop):
            self._drop()  # a refinement waiting for the worker was replaced by this one

    def _drop(self):
        self.dropped += 1

    def _refinement_failed(self, generation, exc):
        """A refinement raised ``exc``: if the learner is still there, the figure keeps its first estimate and
        says that it could not be refined; the error goes on to the kernel's log."""
        if generation == self._generation:
            self._mark.answer(False, f"could not refine ({type(exc).__name__}): first estimate",
                              time.perf_counter())
            self._set_mark(True)
            self.request_draw(now=True)
        raise exc

    def _refined(self, generation, values, result):
        self.remember(values, result)  # right for its values, even if the learner has left them
        if generation != self._generation:
            self._drop()
            return
        self._show(result, values, final=True)

    def _show(self, result, values, final, examples=None):
        t0 = time.perf_counter()
        with self._held_views():
            with plots.style():
                self.show(result, values)
            self.timings["refresh"] = self.timings["show"] = time.perf_counter() - t0
            if not final:
                self._mark.answer(False, self.refining_text(values, examples), t0)
            self._draw_answer(final, now=True)

    @contextlib.contextmanager
    def _held_views(self):
        """Send each widget of :meth:`extra_views` (the readout) to the browser once, after the frame, with its
        last value: a readout set twice in one answer (by an explorer and by its parent class) made the browser lay
        the notebook out twice per frame (50-70 ms tasks in Chromium, for the initialization explorer)."""
        with contextlib.ExitStack() as stack:
            for view in self.extra_views():
                if hasattr(view, "hold_sync"):
                    stack.enter_context(view.hold_sync())
            yield

    def _draw_answer(self, final, now):
        """Set the refining mark, draw, and (for a draft not marked yet) set the timer that marks it."""
        if final:
            self._mark.answer(True)
        wait = self._mark.wait(self.refining_delay)
        self._set_mark(wait is not None and wait <= 0)
        self.answered = "final" if final else "draft"
        t1 = time.perf_counter()
        self.request_draw(now=now)
        self.timings["request_draw"] = time.perf_counter() - t1
        loop = _live.running_loop()
        if wait is not None and wait > 0 and loop is not None:
            loop.call_later(max(self._mark.wait(self.refining_delay), 0.0), self._mark_if_refining, self._generation)

    def _mark_if_refining(self, generation):
        if generation == self._generation and self._mark.since is not None:
            self._set_mark(True)
            self.request_draw(now=True)

    def _set_mark(self, on):
        with plots.style():
            self._mark.set(self.refining_axes(), on)

    @contextlib.contextmanager
    def hold(self):
        """Change several controls without a redraw for each; redraw once at the end."""
        was, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = was
        if not was and hasattr(self, "figure"):
            self._answer()

    def update(self, **values) -> None:
        """Set controls by name (``update(depth=20, width=128)``), checked as a constructor's are; redraw once."""
        values = check_controls(type(self).__name__, self.controls, values)
        with self.hold():
            for k, v in values.items():
                self.controls[k].value = v

    def redraw(self, now=False) -> None:
        """Recompute from the controls, update the artists, and draw (the final answer, at once: what a
        change made by code gets; ``now``: see :meth:`request_draw`)."""
        self._generation += 1  # a refinement still running for an earlier change is not shown
        t0 = time.perf_counter()
        with self._held_views():
            with plots.style():
                self.refresh(**self.values)
            self.timings["refresh"] = time.perf_counter() - t0
            self._draw_answer(final=True, now=now)

    def request_draw(self, now=False) -> None:
        """Draw the figure: blit what changed, or a full draw (``now``: see :func:`gradviz._canvas.draw`)."""
        _canvas.draw(self.figure, self._view, self.canvas_kind, self._blitter, now=now)

    @staticmethod
    def autoscale(ax, x=True, y=True, fallback=(1e-3, 1e3), sticky=False):
        """Rescale ``ax`` to the data of its lines; a log axis with no positive finite data gets ``fallback``.

        ``sticky=True`` (log y axis only): keep the current y limits while they
        still show the data well (:func:`gradviz.plots.sticky_log_limits`), so a
        slider step moves the curves rather than the axis.
        """
        ax.relim(visible_only=True)
        if y and not _has_drawable(ax):
            ax.set_ylim(*fallback)
            y = False
        if y and sticky and ax.get_yscale() == "log":
            ax.set_ylim(*plots.sticky_log_limits(ax.get_ylim(), *_positive_range(ax)))
            y = False
        # set_xlim/set_ylim (the fallback above, a frozen layout, an explanatory message) switch autoscaling
        # off, after which autoscale_view silently keeps the old limits: switch it back on for what we rescale.
        if x:
            ax.set_autoscalex_on(True)
        if y:
            ax.set_autoscaley_on(True)
        ax.autoscale_view(scalex=x, scaley=y)

    def _repr_mimebundle_(self, **kwargs):
        """The widget, and for a reader with no kernel a picture and the text under it
        (:func:`gradviz._canvas.display_bundle`, :meth:`static_notes`)."""
        return _canvas.display_bundle(self.widget, self.figure, type(self).__name__, notes=self.static_notes(),
                                      **kwargs)

    def static_notes(self) -> list:
        """HTML a reader with no kernel sees under the figure's picture: the value of each HTML widget of
        :meth:`extra_views` (the readout), as the live explorer shows it now."""
        return [v.value for v in self.extra_views() if isinstance(v, ipywidgets.HTML)]

    @staticmethod
    def figure_html(figure, alt) -> str:
        """A note of :meth:`static_notes` showing another ``figure`` of the explorer: an inline ``<img>`` of it as
        it is now, described by ``alt``."""
        return _canvas.png_html(figure, alt)

    def __repr__(self):
        vals = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({vals})"


def _data_lines(ax):
    """The visible lines of ``ax`` drawn in data coordinates (not markers such as an axvline, whose y
    is a fraction of the axes)."""
    return [ln for ln in ax.lines if ln.get_visible() and ln.get_transform() == ax.transData]


def _positive_range(ax):
    """(smallest, largest) positive finite y value of the data lines of ``ax`` (there must be one)."""
    ys = [np.asarray(ln.get_ydata(), float) for ln in _data_lines(ax)]
    y = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in ys])
    return float(y.min()), float(y.max())


def _has_drawable(ax):
    log = ax.get_yscale() == "log"
    for ln in _data_lines(ax):
        y = np.asarray(ln.get_ydata(), float)
        ok = np.isfinite(y) & (y > 0) if log else np.isfinite(y)
        if np.any(ok):
            return True
    return False


def _fmt(x):
    if not np.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    if x == 0:
        return "0"
    if abs(x) >= 1e-3 and abs(x) < 1e4:
        return f"{x:.6g}"
    return f"{x:.3e}"


# ----------------------------------------------------------------------------- activation explorer
class ActivationExplorer(Explorer):
    """An activation phi, its slope phi', the saturated inputs shaded, and phi, phi' at two inputs.

    Controls: ``activation``, ``alpha`` (enabled only for activations that have
    it: leaky_relu, elu), ``x_range`` (input range), ``z1`` and ``z2`` (two
    inputs to compare, e.g. sigma(6) vs sigma(1000)).
    """

    figsize = (8.0, 4.2)

    def make_controls(self):
        w = ipywidgets
        return {
            "activation": choice("activation", [n for n in ACTIVATIONS], "sigmoid"),
            "alpha": w.FloatSlider(value=0.01, min=0.0, max=3.0, step=0.01, description="alpha",
                                   readout_format=".2f", disabled=True, style=CONTROL_STYLE),
            "x_range": w.FloatRangeSlider(value=(-8.0, 8.0), min=-30.0, max=30.0, step=0.5,
                                          description="input range z", style=CONTROL_STYLE),
            "z1": w.FloatText(value=6.0, description="compare z1 =", style=CONTROL_STYLE),
            "z2": w.FloatText(value=1000.0, description="with z2 =", style=CONTROL_STYLE),
        }

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def _on_change(self, change):
        # A new activation brings its own default alpha (one redraw for both changes).
        if change["owner"] is self.controls["activation"] and not self._holding:
            act = get_activation(change["new"])
            with self.hold():
                if "alpha" in act.defaults:
                    self.controls["alpha"].value = act.defaults["alpha"]
            return
        super()._on_change(change)

    def setup_figure(self, fig):
        self.ax = ax = fig.subplots()
        plots.tidy(ax)
        (self.phi,) = ax.plot([], [], color=plots.COLORS["phi"], gid="phi", label=r"$\varphi(z)$")
        (self.dphi,) = ax.plot([], [], color=plots.COLORS["dphi"], ls="--", gid="dphi", label=r"slope $\varphi'(z)$")
        (self.marks,) = ax.plot([], [], "o", color="black", ms=6, gid="marks", zorder=5)
        ax.axhline(0, color="0.3", lw=0.8, zorder=1)
        ax.axvline(0, color="0.3", lw=0.8, zorder=1)
        ax.set_xlabel("pre-activation $z$")
        ax.set_ylabel(r"$\varphi(z)$ and $\varphi'(z)$")

    def _params(self, activation, alpha):
        return {"alpha": alpha} if "alpha" in get_activation(activation).defaults else {}

    def refresh(self, activation, alpha, x_range, z1, z2):
        act = get_activation(activation)
        params = self._params(activation, alpha)
        self.controls["alpha"].disabled = not params
        lo, hi = x_range
        if hi <= lo:
            hi = lo + 1.0
        z = np.linspace(lo, hi, 801)
        self.phi.set_data(z, act(z, **params))
        self.dphi.set_data(z, act.grad(z, **params))
        pts = np.array([v for v in (z1, z2) if lo <= v <= hi], dtype=float)
        self.marks.set_data(np.concatenate([pts, pts]),
                            np.concatenate([act(pts, **params), act.grad(pts, **params)]))
        patches = plots.shade_saturation(self.ax, activation, (lo, hi), **params)
        self.ax.set_xlim(lo, hi)
        self.autoscale(self.ax, x=False)
        name = activation.replace("_", " ")
        self.ax.set_title(name + (f" (alpha = {alpha:g})" if params else ""))
        handles = [self.phi, self.dphi] + patches[:1]
        labels = [h.get_label() for h in handles]
        legend = self.ax.get_legend()
        if legend is None or [t.get_text() for t in legend.get_texts()] != labels:
            # below the Axes, so that it is drawn once (blit_static) and never under the curves; made anew
            # only when its entries change (an activation without saturated tails has no shading)
            self.ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3,
                           fontsize=9, frameon=False)
        self.readout.value = self._readout(act, params, z1, z2)

    def blit_static(self):
        return [self.ax.get_legend()]

    @staticmethod
    def _readout(act, params, z1, z2):
        rows = []
        for z in (z1, z2):
            zz = np.array([float(z)])
            with np.errstate(all="ignore"):
                f, d = float(act(zz, **params)[0]), float(act.grad(zz, **params)[0])
            rows.append(f"<tr><td>z = {_fmt(float(z))}</td><td>{_fmt(f)}</td><td>{_fmt(d)}</td></tr>")
        name = html.escape(act.name)
        extra = ""
        if act.saturating:
            extra = (f"<p>{name}' is at most {act.max_slope:g}: a gradient passing back through L such units "
                     f"is multiplied by at most {act.max_slope:g}<sup>L</sup>.</p>")
        return (f"<table style='border-collapse: collapse'><tr><th style='padding-right:1em'>input</th>"
                f"<th style='padding-right:1em'>&phi;(z)</th><th>&phi;'(z) (slope)</th></tr>{''.join(rows)}"
                f"</table>{extra}")


# ----------------------------------------------------------------------------- deep network explorer
#: (label, name) of the initializers an explorer offers; 'auto' is the one recommended for the activation.
INIT_OPTIONS = [
    ("recommended for the activation", "auto"),
    ("Glorot/Xavier uniform", "glorot_uniform"),
    ("Glorot/Xavier normal", "glorot_normal"),
    ("He/Kaiming uniform", "he_uniform"),
    ("He/Kaiming normal", "he_normal"),
    ("LeCun uniform", "lecun_uniform"),
    ("LeCun normal", "lecun_normal"),
    ("orthogonal", "orthogonal"),
    ("small normal, std 0.01", "normal"),
    ("naive uniform +-1/sqrt(fan_in)", "uniform"),
    ("zeros", "zeros"),
]
#: (label, value) of the batch-norm choices of an explorer.
BN_OPTIONS = [("off", "off"), ("before phi", "before"), ("after phi", "after")]
#: Layer widths of the deep-network explorers' width slider.
WIDTHS = (8, 16, 32, 64, 128, 256, 512)
_BATCHES = (16, 32, 64, 128, 256, 512)


#: Largest ``max_depth``: at its widest (512 units, batch 512, float32) a probe peaks at ~6 MB per layer.
MAX_DEPTH = 200


class DeepNetworkExplorer(Explorer):
    """Per-layer Var(a) and Var(dL/da) of a deep MLP, measured and predicted, as sliders move.

    The network is probed as in Glorot & Bengio (2010, sec. 4.2) with
    :func:`gradviz.stats.probe`: standard-normal inputs of ``width`` features,
    a standard-normal gradient injected at the last hidden layer (no output
    layer), one forward and one backward pass in training mode, weight
    gradients skipped. The dashed lines are
    :func:`gradviz.theory.predict_variances` for the same widths, activation and
    weight variance.

    Controls: ``depth``, ``width``, ``activation``, ``init``, ``weight_scale``
    (multiplies every initial weight), ``batch_norm`` ('off', 'before',
    'after'), ``seed``, ``batch_size``.

    Parameters
    ----------
    dtype : numpy float dtype, default float32
        The network's dtype. float32 (what PyTorch and Keras train in) is about
        twice as fast as float64 and overflows at 3.4e38 instead of 1.8e308.
    max_depth : int from 1 to :data:`MAX_DEPTH`
        Largest value of the depth slider.
    """

    figsize = (10.0, 4.3)

    def __init__(self, canvas="auto", *, dtype=np.float32, max_depth=50, **values):
        self.dtype = check_float_dtype("dtype", dtype)
        self.max_depth = check_size("max_depth", max_depth, MAX_DEPTH)
        self.readout = ipywidgets.HTML()
        self._probes = Probes(self.dtype)
        self._results = LRU(128)
        # FLOP/s of a learner's whole-batch probe (split in two), learned as the explorer answers (see _measure);
        # to begin with, a guess a little above what this project's 2-core machines measure (~5e10), so that a
        # setting that is quick there is first tried in one piece
        self._flops = 6e10
        # seconds a whole-batch answer took, per shape (see _learn): a setting is judged by its own time once
        # measured, not by a FLOP/s rate learned from other shapes (50 thin layers cost more per FLOP than 10 wide)
        self._seconds = {}
        super().__init__(canvas, **values)

    def make_controls(self):
        return {
            "depth": int_slider("depth (hidden layers)", 1, self.max_depth, 10),
            "width": values_slider("width (units per layer)", WIDTHS, 256),
            "activation": choice("activation", list(ACTIVATIONS), "tanh"),
            "init": choice("initializer", INIT_OPTIONS, "auto"),
            "weight_scale": log_slider("weight scale (x init)", 0.1, 10.0, 1.0),
            "batch_norm": choice("batch norm", BN_OPTIONS, "off", buttons=True),
            "seed": ipywidgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
            "batch_size": values_slider("batch size", _BATCHES, 256),
        }

    def setup_figure(self, fig):
        self.ax_var, self.ax_frac = fig.subplots(1, 2, width_ratios=[2.1, 1])
        for ax in (self.ax_var, self.ax_frac):
            plots.tidy(ax)
        ax = self.ax_var
        self.lines = {}
        for q in ("a", "da"):
            label = f"Var of {plots.QUANTITY_LABEL[q]}"
            (self.lines[f"measured:{q}"],) = ax.plot([], [], "o-", ms=4, lw=1.2, color=plots.COLORS[q], label=label,
                                                     gid=f"measured:{q}", zorder=3)
            (self.lines[f"predicted:{q}"],) = ax.plot([], [], "--", lw=2.4, alpha=0.75, dashes=(3, 2), zorder=4,
                                                      color=plots.COLORS[q], gid=f"predicted:{q}")
        plots.fast_log_yaxis(ax)
        ax.set_ylabel("variance (log scale)")
        plots.variance_legend(ax)
        fa = self.ax_frac
        (self.lines["fraction:saturated"],) = fa.plot([], [], "s-", ms=4, color=plots.COLORS["saturated"],
                                                      label="saturated (sigmoid/tanh tails)", gid="fraction:saturated")
        (self.lines["fraction:dead"],) = fa.plot([], [], "^-", ms=4, color=plots.COLORS["dead"],
                                                 label="dead (ReLU: 0 for every input)", gid="fraction:dead")
        fa.set_ylim(-3, 103)
        fa.set_ylabel("units (%)")
        fa.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False)
        fa.set_title("saturated and dead units")

    def blit_axes(self):
        return [self.ax_frac, self.ax_var]  # the variance axis moves most often: last

    def blit_static(self):
        return [self.ax_frac.title, self.ax_var.get_legend(), self.ax_frac.get_legend()]  # legends: below

    def _freeze_layout(self):
        # Lay out with the widest tick labels the axes can get, so that none is cut off later: 5×10⁻¹⁵⁰ on
        # the log axis (a view of under 2 decades labels minor ticks too), and the deepest network's layer
        # numbers (two digits, the last one at the right edge).
        log_axis = self.blit_axes()[-1]
        ylim = log_axis.get_ylim()
        log_axis.set_ylim(1.5e-150, 6e-149)
        for ax in self.blit_axes():
            plots.layer_axis(ax, self.max_depth)
        Explorer._freeze_layout(self)
        log_axis.set_ylim(*ylim)
        for ax in self.blit_axes():
            plots.layer_axis(ax, self.controls["depth"].value)

    # --- computing ---------------------------------------------------------
    def network(self, depth, width, activation, init, weight_scale, batch_norm, seed):
        """The MLP for these control values (no output layer), weights from the cache.

        Equal, up to float rounding of the scaling, to
        ``MLP(width, depth=depth, width=width, activation=..., init=..., weight_scale=...,
        batch_norm=..., n_outputs=None, seed=seed, dtype=self.dtype)``; building it
        draws only the layers not drawn before (:meth:`gradviz._probing.Probes.network`).
        """
        return self._probes.network(depth, width, activation, init, weight_scale, batch_norm, seed)

    def compute(self, depth, width, activation, init, weight_scale, batch_norm, seed, batch_size):
        """(PassStats, VariancePrediction or None, note) for these control values; cached."""
        key = self._key(depth, width, activation, init, weight_scale, batch_norm, seed, batch_size)
        hit = self._results.get(key)
        if hit is not None:
            self.timings.update(build=0.0, probe=0.0, theory=0.0, cached=True, examples=batch_size)
            return hit
        return self._results.put(key, self._measure(depth, width, activation, init, weight_scale, batch_norm,
                                                    seed, batch_size, timed=True))

    @staticmethod
    def _key(depth, width, activation, init, weight_scale, batch_norm, seed, batch_size):
        return (depth, width, activation, init, float(weight_scale), batch_norm, seed, batch_size)

    def _measure(self, depth, width, activation, init, weight_scale, batch_norm, seed, batch_size, rows=None,
                 timed=False):
        """(PassStats, VariancePrediction or None, note): the probe of the examples ``rows`` of the
        batch (None: all), and the prediction. ``timed``: on the kernel's thread, record the timings;
        answering a learner there, split the probe over two threads, compute the prediction on a third
        meanwhile (:class:`gradviz._probing.Probes`), and learn how fast this machine probes (see
        :meth:`draft_examples`)."""
        # a learner waits: probe on two threads (a change made by code gets the one-thread probe, bit for bit
        # what gradviz.stats.probe gives)
        split = timed and self.learner_waiting
        t0 = time.perf_counter()
        args = dict(depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
                    batch_norm=batch_norm, seed=seed)
        # the prediction (pure Python, holding the GIL) beside a probe of large arrays only: beside a draft's small
        # ones, which hand the GIL back and forth at every numpy call, it slowed the probe more than it took itself
        predicted = Probes.in_background(self._predict, depth, width, activation, init, weight_scale, batch_norm
                                         ) if split and Probes.splits(args, batch_size, rows) else None
        net = self._probes.thread_network(**args)
        t1 = time.perf_counter()
        stats = self._probes.probe(net, args, batch_size, seed, rows=rows, split="probe" if split else None)
        t2 = time.perf_counter()
        prediction, note = predicted.result() if predicted is not None else self._predict(
            depth, width, activation, init, weight_scale, batch_norm)
        t3 = time.perf_counter()
        if timed and rows is None:  # learned from whole batches only: a draft's slice (two halves of 16
            # examples) multiplies less efficiently, and learning from drafts alone would keep a setting on drafts
            flop = self.probe_flop(depth, width, stats.n_examples)
            timeable = flop > 2e7  # large enough to time the products rather than Python
            if split:
                if timeable:
                    self._flops = 0.5 * self._flops + 0.5 * flop / max(t2 - t1, 1e-6)
                self._learn(depth, width, activation, batch_norm, batch_size, t3 - t0)
            else:  # an answer to code, e.g. the first figure: ready the learner's second thread meanwhile
                self._probes.warm(args, batch_size, seed)
        if timed:
            self.timings.update(build=t1 - t0, probe=t2 - t1, theory=t3 - t2, cached=False,
                                examples=stats.n_examples)
        return stats, prediction, note

    @staticmethod
    def probe_flop(depth, width, examples):
        """Floating-point operations of the two matrix products of every layer of a probe (the forward
        ``z = a W`` and the backward ``dL/da = dL/dz W^T``, ``2 width^2`` each per example): what the explorers'
        speed is learned and predicted in (FLOP/s, :meth:`draft_examples`)."""
        return 4.0 * depth * width * width * examples

    def _learn(self, depth, width, activation, batch_norm, batch_size, seconds):
        """Remember how long a whole-batch answer of this shape took for a learner: an average of the last few, which
        starts from the estimate at this explorer's speed (see :meth:`draft_examples`). The first answer of a shape
        touches new memory, and alone it would decide the next: at 50 x 256 x 256 a first press of 75-96 ms (37-57
        after) put the second on a draft, whose final frame came after 120-140 ms."""
        key = (depth, width, activation, batch_norm, batch_size)
        old = self._seconds.get(key)
        if old is None:
            old = self.probe_flop(depth, width, batch_size) / self._flops
        self._seconds[key] = 0.5 * old + 0.5 * seconds

    @staticmethod
    def _predict(depth, width, activation, init, weight_scale, batch_norm):
        if batch_norm != "off":
            return None, "no prediction drawn: the mean-field theory here models Dense -> phi without batch norm"
        return prediction(depth, width, activation, resolve_init(init, activation), float(weight_scale)), ""

    # --- progressive answers (see Explorer) ------------------------------------
    #: A learner's change whose probe should take longer than this (seconds, at the speed measured so far)
    #: is answered first from a slice of the batch that takes about ``draft_seconds``.
    full_seconds = 0.07
    draft_seconds = 0.015
    #: Smallest slice of the batch a draft measures: ``min_draft_examples``, or fewer examples of a wide layer, as
    #: long as each layer holds ``min_draft_values`` (32 x 256 = 16 x 512; the variance of 8192 values of a layer is
    #: within a few percent of the whole batch's). A draft of 16 examples of 50 x 512 units takes half the time of 32.
    min_draft_examples = 32
    min_draft_values = 8192
    #: The final answer after a draft is probed in slices of the draft's size, at most this many (a refinement
    #: the learner has left stops between two).
    refine_slices = 4

    _PROBE_ARGS = ("depth", "width", "activation", "init", "weight_scale", "batch_norm", "seed", "batch_size")

    def probe_args(self, values):
        """The arguments of :meth:`compute` in control ``values`` (batch norm 'off' when there is no such control)."""
        return {"batch_norm": "off", **{k: values[k] for k in self._PROBE_ARGS if k in values}}

    def answer(self, values, examples=None):
        """:meth:`compute` (cached); with ``examples``, the probe of the first ``examples`` of the batch."""
        a = self.probe_args(values)
        if examples is None:
            return self.compute(**a)
        return self._measure(**a, rows=slice(0, examples), timed=True)

    def draft_examples(self, values):
        """None if the probe is cached or should take at most :attr:`full_seconds`; else the examples of a
        draft that should take about :attr:`draft_seconds` (a power of 2, at least :meth:`smallest_draft`,
        at most half the batch). How long the whole batch takes: as long as it took last for this shape (a
        whole-batch answer or a refinement on two threads), else at the speed of this explorer's other probes
        for a learner so far (split over two threads)."""
        a = self.probe_args(values)
        batch, smallest = a["batch_size"], self.smallest_draft(a["width"])
        if self._key(**a) in self._results or batch < 2 * smallest:
            return None
        seconds = self._seconds.get((a["depth"], a["width"], a["activation"], a["batch_norm"], batch))
        if seconds is None:  # a shape not answered whole yet: from the speed of the others
            seconds = self.probe_flop(a["depth"], a["width"], batch) / self._flops
        if seconds <= self.full_seconds:
            return None
        n = max(smallest, batch * self.draft_seconds / seconds)
        return min(2 ** int(np.log2(n)), batch // 2)

    def smallest_draft(self, width):
        """The fewest examples a draft of layers of ``width`` units measures (see :attr:`min_draft_values`)."""
        return min(self.min_draft_examples, max(1, self.min_draft_values // width))

    def refine(self, values):
        """The probe of the whole batch in slices (at most :attr:`refine_slices`, of at least
        :meth:`smallest_draft` examples), combined (:func:`gradviz.stats.combine_stats`); in one piece with
        batch norm, which couples the examples. Two slices at a time, side by side on this worker thread and a
        helper thread, when slices of at least :data:`gradviz._probing.MIN_HALF_VALUES` values per layer fit
        twice in the batch (slices made larger for it: e.g. 50 x 256 x 256 is probed as two halves at once,
        rather than as four quarters one after the other)."""
        a = self.probe_args(values)
        batch, seed = a["batch_size"], a["seed"]
        args = {k: a[k] for k in self._PROBE_ARGS[:-1]}
        # this thread's network: the kernel's thread may be probing its own meanwhile
        net = self._probes.thread_network(**args)
        prediction, note = self._predict(*(a[k] for k in self._PROBE_ARGS[:6]))
        if a["batch_norm"] != "off":
            yield probe(net, batch_size=batch, seed=seed), prediction, note
            return
        t0 = time.perf_counter()
        size = max(-(-batch // self.refine_slices), self.smallest_draft(a["width"]))
        worth_a_thread = -(-_probing.MIN_HALF_VALUES // a["width"])  # examples
        pair = 2 * max(size, worth_a_thread) <= batch
        if pair:
            size = max(size, worth_a_thread)
        step = 2 * size if pair else size
        parts = []
        for start in range(0, batch, step):
            parts.append(self._probes.probe(net, args, batch, seed, rows=slice(start, start + step),
                                            split="refine" if pair else None))
            yield None
        if pair:  # on two threads, as a whole-batch answer on the kernel's thread would be: worth learning from
            self._learn(a["depth"], a["width"], a["activation"], a["batch_norm"], batch, time.perf_counter() - t0)
        yield combine_stats(parts), prediction, note

    def remember(self, values, result):
        self._results.put(self._key(**self.probe_args(values)), result)

    def refining_text(self, values, examples):
        return f"estimate from {examples} of {values['batch_size']} examples: refining ..."

    # --- drawing -----------------------------------------------------------
    def show(self, result, values):
        stats, pred, note = result
        a = self.probe_args(values)
        depth, width, activation, init, weight_scale, batch_norm = (a[k] for k in self._PROBE_ARGS[:6])
        layers = np.arange(1, depth + 1)
        for q in ("a", "da"):
            measured = plots.mask_overflowed(plots.positive_finite(getattr(stats, f"{q}_var")), q, stats.overflow)
            self.lines[f"measured:{q}"].set_data(layers, measured)
            p = plots.positive_finite(getattr(pred, f"{q}_var")) if pred is not None else np.full(depth, np.nan)
            self.lines[f"predicted:{q}"].set_data(layers, p)
        ax = self.ax_var
        plots.layer_axis(ax, depth)
        plots.mark_overflow(ax, stats.overflow, depth)
        self.autoscale(ax, x=False, sticky=True)
        init_name = resolve_init(init, activation)
        bn = "" if batch_norm == "off" else f", batch norm {batch_norm} phi"
        # the weight scale is on its slider, not in the title: a title that changed at every step of the
        # slider cost as much to draw as the rest of the frame (gradviz._canvas.Blitter, 'title')
        ax.set_title(f"{activation}, {init_name}{bn}: {depth} x {width} units, {self.dtype.name}", fontsize=11)
        message = self._explanation(stats, pred, init_name, weight_scale)
        plots.explain(ax, message)
        if message:
            ax.set_ylim(1e-4, 1e4)
        plots.explain(ax, "", gid="note")
        if note and not message:
            ax.text(0.01, 0.02, note, transform=ax.transAxes, fontsize=8, color="0.35", gid="note")
        fa = self.ax_frac
        for w in ("saturated", "dead"):
            f = plots.mask_overflowed(plots.finite_or_nan(getattr(stats, f"{w}_fraction")) * 100, "a", stats.overflow)
            self.lines[f"fraction:{w}"].set_data(layers, f)
        plots.layer_axis(fa, depth)
        plots.mark_overflow(fa, stats.overflow, depth, text=False)
        self.readout.value = self._readout(stats)
        self.stats, self.prediction = stats, pred

    @staticmethod
    def _explanation(stats, pred, init, weight_scale):
        a = np.asarray(stats.a_var, float)
        if init == "zeros" or weight_scale == 0:
            return ("All weights are 0: every unit of a layer computes the same value,\n"
                    "so Var(a) = 0 and no gradient reaches the weights of earlier layers.\n"
                    "Nothing to draw on a log scale (the symmetry problem).")
        finite = np.isfinite(a)
        if finite.any() and np.all(a[finite] == 0):
            return "Every activation is exactly 0 (Var = 0): nothing to draw on a log scale."
        return ""

    @staticmethod
    def _readout(stats):
        da = np.asarray(stats.da_var, float)
        L = len(da)
        if stats.first_nonfinite is not None:
            where = stats.first_nonfinite
            return (f"<b>Overflow</b> at hidden layer {where}: values exceeded the largest float "
                    f"(inf or nan from there on). Lower the weight scale or the depth.")
        if L < 2 or not (np.isfinite(da[0]) and np.isfinite(da[-1])) or da[-1] <= 0:
            return ""
        ratio = da[0] / da[-1]
        if ratio == 0:
            return "The gradient reaching layer 1 is exactly 0 (it underflowed): it vanished."
        per = ratio ** (1.0 / (L - 1))
        verdict = "vanishes" if per < 0.9 else ("explodes" if per > 1.1 else "keeps its size")
        return (f"Var(dL/da) at layer 1 / at layer {L} = {ratio:.3g}: about x{per:.3g} per layer, "
                f"so the gradient <b>{verdict}</b> on its way back to the input.")
