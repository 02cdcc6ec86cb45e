"""Chapter 07's explorers: the interactive explorers the notebook shows (:class:`PlaygroundExplorer`).
"""

from __future__ import annotations

import contextlib
import functools
import html
import re
import time
from collections import OrderedDict

import ipywidgets
import numpy as np
from matplotlib.ticker import MaxNLocator

from ... import _canvas, _live, plots
from ..._controls import check_size
from ..._validate import check_bool, check_choice
from ...activations import ACTIVATIONS
from ...data import digits
from ...network import MLP
from ...train import train
from ...widgets import (BN_OPTIONS, CONTROL_STYLE, INIT_OPTIONS, DeepNetworkExplorer, Explorer, choice, int_slider,
                        log_slider, resolve_init, values_slider)
from .experiments import (_RUN_CACHE, DEFAULTS, INITIAL_EXAMPLES, PRESETS, STEPS, _measure_initial, _WeightBank,
                          initial_view, is_cached, is_initial_cached, keep_initial, label, run, settings)


class TrainingExplorer(Explorer):
    """Train an MLP on the handwritten digits and overlay the runs.

    The controls of :class:`gradviz.widgets.DeepNetworkExplorer` (smaller ranges: this one
    trains) plus ``lr`` and ``steps``; a Run button trains the configuration
    (or takes it from the cache when it was trained before: immediate), a Clear
    button empties the comparison. Changing a control does not train.

    A learner's Run (a press in the browser) trains on a worker thread: the
    controls stay responsive, a progress bar under the figure counts the steps,
    and a Run pressed meanwhile stops that training and starts the new one. Run
    called from code (``run()``, a test) trains at once, with tqdm's bar.

    Parameters
    ----------
    progress : bool
        Show a progress bar (tqdm's notebook bar, inside the explorer) while training.
    max_runs : int from 1 to ``len(plots.RUN_COLORS)``
        Runs kept on the figure (oldest dropped first), each in its own colour.
    """

    figsize = (12.0, 4.0)
    freeze_layout = False  # the panels are rebuilt at each run

    def __init__(self, canvas="auto", *, progress=True, max_runs=6, **values):
        w = ipywidgets
        self.progress = check_bool("progress", progress)
        self.max_runs = check_size("max_runs", max_runs, len(plots.RUN_COLORS))
        self.cache = {}  # configuration -> History
        self.runs = OrderedDict()  # label -> History, shown
        self.status = w.HTML()
        self.progress_area = w.Output()
        # a learner's run: the steps, and what is trained (hidden, not removed, when idle: nothing moves)
        self.progress_bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="40%"))
        self.progress_text = w.HTML()
        self.progress_view = w.HBox([self.progress_bar, self.progress_text], layout=w.Layout(visibility="hidden"))
        self._trainer = None
        self._training = 0  # generation of the learner's run being trained (0: none)
        self._runs_started = 0
        super().__init__(canvas, **values)
        self.controls["run"].on_click(self._on_run)
        self.controls["clear"].on_click(self._on_clear)

    def make_controls(self):
        w = ipywidgets
        return {
            "depth": int_slider("depth (hidden layers)", 1, 20, 5),
            "width": values_slider("width (units per layer)", (16, 32, 64, 128, 256), 64),
            "activation": choice("activation", list(ACTIVATIONS), "relu"),
            "init": choice("initializer", INIT_OPTIONS, "auto"),
            "weight_scale": log_slider("weight scale (x init)", 0.1, 10.0, 1.0),
            "batch_norm": choice("batch norm", BN_OPTIONS, "off", buttons=True),
            "seed": w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
            "batch_size": values_slider("batch size", (16, 32, 64, 128, 256), 64),
            "lr": log_slider("learning rate", 1e-3, 10.0, 0.1),
            "steps": values_slider("training steps", (50, 100, 200, 300, 500, 1000, 2000), 300),
            "run": w.Button(description="Run", button_style="primary", icon="play"),
            "clear": w.Button(description="Clear runs", icon="trash"),
        }

    def extra_views(self):
        return [self.status, self.progress_view, self.progress_area]

    def setup_figure(self, fig):
        self.ax_loss, self.ax_acc, self.ax_grad = fig.subplots(1, 3)

    @staticmethod
    def key(depth, width, activation, init, weight_scale, batch_norm, seed, batch_size, lr, steps):
        """The cache key of a configuration."""
        return (depth, width, activation, init, round(float(weight_scale), 12), batch_norm, seed, batch_size,
                round(float(lr), 12), steps)

    @staticmethod
    def label(depth, width, activation, init, weight_scale, batch_norm, seed, batch_size, lr, steps):
        """A short legend label of a configuration."""
        init_name = resolve_init(init, activation)
        bn = "" if batch_norm == "off" else f", BN {batch_norm}"
        ws = "" if abs(weight_scale - 1) < 1e-9 else f" x{weight_scale:.2g}"
        seed_s = "" if seed == 0 else f", seed {seed}"
        return f"{activation}, {init_name}{ws}{bn}, {depth}x{width}, lr {lr:.2g}, batch {batch_size}{seed_s}"

    def history(self, **values):
        """The History of the configuration of the controls (with ``values`` applied): from the cache,
        or trained now (with a progress bar) and cached."""
        v = {**self.values, **values}
        key = self.key(**v)
        hist = self.cache.get(key)
        if hist is None:
            self.status.value = f"training {html.escape(self.label(**v))} ..."
            with self.progress_area:
                hist = self.train_run(v, progress=self.progress)
            if self.progress:
                self.progress_area.clear_output()
            self.remember_run(v, hist)
        return hist

    def train_run(self, values, progress=False, callback=None):
        """Train the configuration ``values`` (a dict of every control) and return its History.

        Touches no widget (a learner's run trains on a worker thread); ``callback``
        goes to :func:`gradviz.train.train`."""
        v = values
        init = resolve_init(v["init"], v["activation"])
        bn = None if v["batch_norm"] == "off" else v["batch_norm"]
        data = digits()
        net = MLP(data.n_features, depth=v["depth"], width=v["width"], activation=v["activation"], init=init,
                  weight_scale=v["weight_scale"], batch_norm=bn, n_outputs=data.n_classes, seed=v["seed"])
        return train(net, data, lr=v["lr"], steps=v["steps"], batch_size=v["batch_size"], seed=v["seed"],
                     progress=progress, callback=callback)

    def remember_run(self, values, hist):
        """Keep a trained History, so that Run shows it at once next time."""
        self.cache[self.key(**values)] = hist

    def run(self, **values):
        """Apply ``values`` to the controls, train (or take from the cache) and add the run to the figure."""
        if values:
            self.update(**values)
        hist = self.history()
        self._add_run(self.label(**self.values), hist)
        return hist

    def _add_run(self, label, hist, now=False):
        self.runs.pop(label, None)
        self.runs[label] = hist
        while len(self.runs) > self.max_runs:
            self.runs.popitem(last=False)
        self.redraw(now=now)

    def clear(self):
        """Remove every run from the figure (the cache is kept)."""
        self.runs.clear()
        self.redraw()

    def _on_run(self, button):
        if _live.from_front_end():
            self.run_in_background()
        else:
            self.run()

    def run_in_background(self):
        """A learner's Run: train the controls' configuration on a worker thread (see the class docstring).

        A configuration trained before is shown at once. Outside a running event loop (no kernel) it
        trains at once, as :meth:`run` does.
        """
        values = self.values
        loop = _live.running_loop()
        if loop is None or self.key(**values) in self.cache:
            self.run()
            return
        self._runs_started += 1
        generation = self._training = self._runs_started
        label = self.label(**values)
        self._show_progress(label, 0, values["steps"])
        callback = _live.reporter(loop, lambda: self._training == generation,  # else a newer Run: stop
                                  functools.partial(self._progressed, generation, label))
        if self._trainer is None:
            self._trainer = _live.Worker(f"gradviz-{type(self).__name__}-run")
        self._trainer.start(functools.partial(self.train_run, values, callback=callback),
                            functools.partial(self._trained, generation, values, label), self._refinement_failed)

    def _show_progress(self, label, step, steps):
        self.progress_bar.max = steps
        self.progress_bar.value = step
        self.progress_text.value = f"training {html.escape(label)}: step {step} of {steps}"
        self.progress_view.layout.visibility = "visible"

    def _progressed(self, generation, label, step, steps):
        if generation == self._training:
            self._show_progress(label, step, steps)

    def _trained(self, generation, values, label, hist):
        self.remember_run(values, hist)  # right for its configuration even if a newer run replaced it
        if generation != self._training:
            return
        self._training = 0
        self.progress_view.layout.visibility = "hidden"
        self._add_run(label, hist, now=True)

    def _on_clear(self, button):
        self.clear()

    def refresh(self, **v):
        fig = self.figure
        fig.clear()  # runs are rare: rebuild the three panels (and the colour bar) from scratch
        self.ax_loss, self.ax_acc, self.ax_grad = fig.subplots(1, 3, width_ratios=[1, 1, 0.9])
        plots.plot_training_curves(self.runs, axes=(self.ax_loss, self.ax_acc), smooth=10, colors=plots.RUN_COLORS)
        if self.runs:
            last = next(reversed(self.runs.values()))
            plots.plot_layer_stat_over_steps(last.record_steps, last.grad_norm, ax=self.ax_grad,
                                             label=r"$\|\partial L/\partial W^l\|$", kind="heatmap",
                                             title="gradient norm per layer (last run)")
        else:
            plots.tidy(self.ax_grad)
            plots.explain(self.ax_grad, "Press Run to train\nthe configuration above.")
            self.ax_grad.set_axis_off()
        self.status.value = self.status_html(v)

    def is_trained(self, values):
        """Whether the configuration ``values`` was trained before (Run then shows it at once)."""
        return self.key(**values) in self.cache

    def status_html(self, values=None):
        """The status line for ``values`` (default: the controls'): trained before or not, and how the last run
        ended."""
        v = self.values if values is None else values
        text = html.escape(self.label(**v))
        if self.is_trained(v):
            status = f"<b>{text}</b>: trained before; Run shows it at once."
        else:
            status = f"<b>{text}</b>: not trained yet; press Run."
        if self.runs:
            last_label, last = next(reversed(self.runs.items()))
            status += f"<br>last run ({html.escape(last_label)}): {html.escape(last.status)}"
        return status



# Every knob at once, one set of controls driving both views: the network at initialisation (the
# DeepNetworkExplorer's figure) and its training on the digits (the TrainingExplorer's figure, Run button,
# progress bar and overlaid runs).
_WIDTHS = (16, 32, 64, 128, 256)
_DATA_OPTIONS = [("digits, standardised pixels", "digits"), ("digits, raw pixels 0..16", "digits_raw")]
_CUSTOM = "(your own settings)"
_BIAS_VARS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # sigma_b^2; chapter 08's phase diagram spans 0 .. 2
_CLIP_OPTIONS = [("none", "none"), ("by global norm", "norm"), ("by value", "value")]
_FRAC_XLABEL = "hidden layer $l$"
#: Spans of the layer axes (hidden layers 1..span): see :func:`_layer_span`.
_LAYER_SPANS = (5, 10, 20, 30, 50, 100, 200)
#: Limits of the variance axis while the layout is computed: less than a decade wide, so that the minor
#: ticks are labelled too (3x10^-150), the widest labels the axis can show at the floats' smallest.
_WIDEST_LOG_LIMITS = (1.5e-150, 8e-150)


def _knobs(max_depth):
    """The controls of every playground knob (:data:`DEFAULTS`), in display order."""
    d = DEFAULTS
    w = ipywidgets
    return {
        "depth": int_slider("depth (hidden layers)", 1, max_depth, d["depth"]),
        "width": values_slider("width (units per layer)", _WIDTHS, d["width"]),
        "activation": choice("activation", list(ACTIVATIONS), d["activation"]),
        "init": choice("initializer", INIT_OPTIONS, d["init"]),
        "weight_scale": log_slider("weight scale (gain x init)", 0.1, 20.0, d["weight_scale"]),
        "bias_var": values_slider("bias variance \u03c3_b\u00b2", _BIAS_VARS, d["bias_var"]),
        "batch_norm": choice("batch norm", BN_OPTIONS, d["batch_norm"], buttons=True),
        "bn_momentum": choice("BN momentum (Keras)", [0.9, 0.99], d["bn_momentum"], buttons=True),
        "residual": choice("skip connections", [("off", False), ("on", True)], d["residual"], buttons=True),
        "lr": log_slider("learning rate", 1e-3, 100.0, d["lr"]),
        "clip": choice("gradient clipping", _CLIP_OPTIONS, d["clip"]),
        "clip_threshold": log_slider("clip threshold", 0.01, 100.0, d["clip_threshold"]),
        "steps": values_slider("training steps", STEPS, d["steps"]),
        "batch_size": values_slider("batch size", (16, 32, 64, 128, 256), d["batch_size"]),
        "dataset": choice("data", _DATA_OPTIONS, d["dataset"]),
        "seed": w.BoundedIntText(value=d["seed"], min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
    }


class _PlaygroundTraining(TrainingExplorer):
    """The training half of the playground.

    A :class:`TrainingExplorer` (its three panels, status line,
    progress bar, overlaid runs and Clear button) whose runs come from
    :func:`run`, so that a configuration trained in a notebook cell, or earlier
    in any playground, is shown at once. Its controls are set by the
    :class:`PlaygroundExplorer` that owns it and are not shown; changing them
    redraws nothing (only Run and Clear redraw its figure).
    """

    figsize = (9.6, 4.8)  # fits a JupyterLab notebook column at 100 dpi, like the figure above it

    def __init__(self, canvas="auto", *, progress=True, max_runs=6, max_depth=30):
        self.max_depth = int(max_depth)
        super().__init__(canvas, progress=progress, max_runs=max_runs)
        self._holding = True  # the owner sets the controls; only run() and clear() redraw

    def make_controls(self):
        w = ipywidgets
        return {**_knobs(self.max_depth),
                "run": w.Button(description="Run", button_style="primary", icon="play"),
                "clear": w.Button(description="Clear runs", icon="trash")}

    # The runs live in this module's cache, shared with notebook cells.
    @property
    def cache(self):
        return _RUN_CACHE

    @cache.setter
    def cache(self, value):  # TrainingExplorer.__init__ assigns a dict: not needed here
        pass

    def key(self, **v):
        return tuple(settings(**v).values())

    def label(self, **v):
        return label(v)

    def get_run(self, **values):
        """The :class:`PlaygroundRun` of the controls (with ``values`` applied): from the cache, or
        trained now with a progress bar."""
        v = {**self.values, **values}
        if is_cached(**v):
            return run(**v)
        self.status.value = f"training {html.escape(self.label(**v))} ..."
        with self.progress_area:
            result = run(progress=self.progress, **v)
        if self.progress:
            self.progress_area.clear_output()
        return result

    def history(self, **values):
        return self.get_run(**values).history

    def train_run(self, values, progress=False, callback=None):
        return run(progress=progress, callback=callback, **values).history

    def remember_run(self, values, hist):  # run() keeps every run in this module's cache
        pass

    def is_trained(self, values):
        return is_cached(**values)

    def refresh(self, **v):
        super().refresh(**v)
        with plots.style():
            # The runs' long labels go under all three panels, in two columns, instead of under one.
            legend = self.ax_acc.get_legend()
            if legend is not None:
                handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
                legend.remove()
                self.figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8,
                                   frameon=False)
            self._clip_loss_axis()
            last = next(reversed(self.runs.values()), None)
            if last is not None:  # the heat map's cells are centred on record steps: no step below 0
                self.ax_grad.set_ylim(max(self.ax_grad.get_ylim()[0], 0.0), self.ax_grad.get_ylim()[1])
                if last.diverged:
                    self.ax_grad.set_title(f"gradient norm per layer (last run;\noverflow at step "
                                           f"{last.diverged_step}: blank from there)", fontsize=10)
            self.ax_clip = None
            if last is not None and last.step_grad_norm is not None:
                self._show_clipping(last)
        self.status.value = self.status_html()

    def _show_clipping(self, hist):
        """Under the heat map, the last run's global gradient norm at every step, before and after clipping."""
        top, bottom = self.ax_grad.get_subplotspec().subgridspec(2, 1, height_ratios=[1.5, 1])
        self.ax_grad.set_subplotspec(top)
        self.ax_grad.set_xlabel("hidden layer $l$")  # the long label is wider than the narrow panel
        ax = self.ax_clip = self.figure.add_subplot(bottom)
        plots.tidy(ax)
        steps = np.arange(len(hist.step_grad_norm))
        ax.plot(steps, plots.positive_finite(hist.step_grad_norm), lw=1.0, color="0.5", label="before", gid="clip:before")
        ax.plot(steps, plots.positive_finite(hist.step_clipped_norm), lw=1.2, color=plots.OKABE_ITO["blue"],
                label="after clipping", gid="clip:after")
        clip = hist.config.get("clip_norm")
        if clip is not None:
            ax.axhline(clip, color="0.3", lw=0.8, ls=":", gid="clip:threshold")
        self.autoscale(ax, x=False)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title("global gradient norm (last run):\nbefore clipping (grey), after (blue)", fontsize=9)

    def _clip_loss_axis(self):
        """Keep the loss axis on the runs that did not overflow (one that did would stretch it to 1e300)."""
        kept = [h.loss for h in self.runs.values() if not h.diverged] or [h.loss for h in self.runs.values()]
        values = np.concatenate([np.asarray(x, float) for x in kept]) if kept else np.array([])
        values = values[np.isfinite(values) & (values > 0)]
        if not values.size:
            return
        lo, hi = values.min() / 1.5, min(max(values.max() * 1.5, 3.0), 50.0)
        ax = self.ax_loss
        ax.set_ylim(lo, hi)
        plots.plain_log_labels(ax)  # 0.5, 2 rather than 5×10⁻¹, 2×10⁰; minor labels 2 and 5 over up to 2 decades
        if any(h.diverged for h in self.runs.values()):
            ax.text(0.98, 0.97, "X: overflow (may be off the axis)", transform=ax.transAxes, ha="right", va="top",
                    fontsize=8, color="0.3", gid="overflow_note")


class PlaygroundExplorer(DeepNetworkExplorer):
    """Every knob at once: the network at initialisation and its training on the digits, one set of controls.

    Top: what :class:`gradviz.widgets.DeepNetworkExplorer` draws (per-layer
    Var(a) and Var(dL/da), measured and, without batch norm, predicted;
    saturated and dead units), but for the very network that will be trained,
    measured on 256 training digits with the real cross-entropy gradient
    (:func:`initial_view`). It follows every control at once.
    Bottom: what :class:`TrainingExplorer` draws (loss, test
    accuracy, weight gradient per layer over training) for the runs made with
    the Run button; runs overlay (up to ``max_runs``), Clear removes them, and
    every run is cached (:func:`run`), also across notebook cells.

    Controls: ``preset`` (the guide's experiments, :data:`PRESETS`: choosing one
    sets every knob), ``depth``, ``width``, ``activation``, ``init``,
    ``weight_scale``, ``bias_var`` (sigma_b^2), ``batch_norm``, ``bn_momentum``,
    ``residual``, ``lr``, ``clip`` and ``clip_threshold``, ``steps``, ``batch_size``
    (of training), ``dataset``, ``seed``; buttons ``run`` and ``clear`` (the knobs of
    :func:`settings`; chapter 08 introduces bias variance, clipping and skip connections).
    Without batch norm and skip connections the top figure also draws the mean-field
    prediction (with the bias variance); with skip connections it draws none and says so,
    as the theory here has no model of them. With clipping, the training figure adds the
    last run's gradient norm before and after clipping, step by step.

    A learner's change is drawn at once: the layout is computed once and each
    frame redraws only what changed (blitting); the layer axes show 5, 10, 20 or
    30 layers and keep their span while the network fills more than half of it,
    so a depth step adds a point instead of redrawing the axes. When the initial
    pass of a deep, wide network would take longer than :attr:`full_seconds`, the
    first frame measures only the first 32 or more of the 256 digits (weights
    from a bank, not drawn again) and says so, and the 256-digit pass replaces
    it from a worker thread (see :class:`gradviz.widgets.Explorer`).

    Parameters
    ----------
    canvas : {'auto', 'ipympl', 'image', 'none'}
        As :class:`gradviz.widgets.Explorer`.
    progress : bool
        Show a progress bar while training.
    max_runs : int
        Runs kept on the training figure.
    max_depth : int
        Largest value of the depth slider.
    preset : str or None
        A key of :data:`PRESETS` to start from.
    **values
        Initial control values (applied after ``preset``).

    Attributes
    ----------
    training : TrainingExplorer
        The training half (its figure is shown under the first one).
    initial : InitialView
        What the top figure shows now.

    Raises
    ------
    ValueError
        ``preset`` is not a key of :data:`PRESETS`.
    """

    figsize = (9.6, 4.2)  # fits a JupyterLab notebook column at 100 dpi
    show_draft_seconds = _canvas.SHOW_SECONDS  # a refinement lets the browser show the draft first

    def __init__(self, canvas="auto", *, progress=True, max_runs=6, max_depth=30, preset=None, **values):
        if preset is not None:
            check_choice("preset", preset, PRESETS)
            values = {**DEFAULTS, **PRESETS[preset], **values}
        self._applying_preset = False
        self._layer_span = None
        self._bank = _WeightBank()  # the first frames' weights (see answer)
        self._pass_flops = 1e10  # FLOP/s of an initial pass (float64, one thread), learned as it answers
        self.training = _PlaygroundTraining(canvas, progress=progress, max_runs=max_runs, max_depth=max_depth)
        self.heading_init = ipywidgets.HTML()
        self.heading_training = ipywidgets.HTML(
            "<b>Training on the digits</b>: press <b>Run</b> to train the settings above (runs overlay; "
            "a run trained before, here or in a notebook cell, appears at once).")
        super().__init__(canvas, dtype=np.float64, max_depth=max_depth, **values)
        if preset is not None:
            with self._preset_quietly():
                self.controls["preset"].value = preset
        self.controls["run"].on_click(self._on_run)
        self.controls["clear"].on_click(self._on_clear)

    # --- controls ------------------------------------------------------------
    def make_controls(self):
        w = ipywidgets
        presets = [(_CUSTOM, "custom")] + [(name, name) for name in PRESETS]
        return {"preset": choice("guide experiment", presets, "custom"),
                **_knobs(self.max_depth),
                "run": w.Button(description="Run", button_style="primary", icon="play",
                                tooltip="train these settings on the digits"),
                "clear": w.Button(description="Clear runs", icon="trash")}

    @property
    def knobs(self) -> dict:
        """The current value of every knob (the controls except ``preset``)."""
        v = self.values
        v.pop("preset")
        return v

    @contextlib.contextmanager
    def _preset_quietly(self):
        was, self._applying_preset = self._applying_preset, True
        try:
            yield
        finally:
            self._applying_preset = was

    def apply_preset(self, name: str) -> None:
        """Set every knob to the guide experiment ``name`` (a key of :data:`PRESETS`; unset knobs
        take their defaults) and redraw once."""
        check_choice("name", name, PRESETS)
        with self._preset_quietly():
            self.update(preset=name, **{**DEFAULTS, **PRESETS[name]})

    def _on_change(self, change):
        if change.owner is self.controls["preset"]:  # the preset itself draws nothing: its knobs do
            if not self._applying_preset and change.new != "custom":
                self.apply_preset(change.new)
            return
        super()._on_change(change)

    # --- layout ----------------------------------------------------------------
    def layout(self):
        w = ipywidgets
        ctl = [c for name, c in self.controls.items() if name != "preset"]
        grid = w.GridBox(ctl, layout=w.Layout(grid_template_columns="repeat(3, minmax(260px, 1fr))",
                                              grid_gap="2px 12px"))
        self.controls["preset"].layout = w.Layout(width="520px")
        return w.VBox([self.controls["preset"], grid, self.heading_init, self._view, self.readout,
                       self.heading_training, self.training._view, self.training.status,
                       self.training.progress_view, self.training.progress_area])

    def extra_views(self):
        # the widgets an answer writes besides the figure: each is sent to the browser once per answer
        # (Explorer._held_views; the layout above places them)
        return [self.heading_init, self.readout, self.heading_training, self.training.status]

    def static_notes(self):
        """Under the first figure's picture, for a reader with no kernel: its readout, then the training part
        (heading, the training figure's picture, its status), as the live explorer shows them."""
        t = self.training
        return [self.readout.value, self.heading_training.value, self.figure_html(t.figure, "training"),
                t.status.value]

    def setup_figure(self, fig):
        super().setup_figure(fig)
        plots.plain_log_labels(self.ax_var)  # 0.5, 2 rather than 5×10⁻¹, 2×10⁰ (beyond 0.01..1000: 10⁻⁵ as before)

    def _freeze_layout(self):
        # Lay out once (then blit: a full draw with a live layout took 300 ms of the 317 ms a learner waited),
        # with the widest tick labels the axes can get: the deepest network's layer numbers, and on the log
        # axis a minor label with a three-digit exponent (a span of one decade labels 2, 3, 5 x 10^k).
        log_axis = self.ax_var
        ylim = log_axis.get_ylim()
        log_axis.set_ylim(*_WIDEST_LOG_LIMITS)
        for ax in (self.ax_var, self.ax_frac):
            plots.layer_axis(ax, self.max_depth)
        self.ax_frac.set_xlabel(_FRAC_XLABEL)
        Explorer._freeze_layout(self)
        log_axis.set_ylim(*ylim)
        for ax in (self.ax_var, self.ax_frac):
            plots.layer_axis(ax, self.controls["depth"].value)
        self.ax_frac.set_xlabel(_FRAC_XLABEL)

    # --- the two halves --------------------------------------------------------
    def probe_args(self, values):
        """The arguments of :meth:`compute`: those of the parent class, the bias variance, the skip connections
        and the data set."""
        return {**super().probe_args(values), "bias_var": values["bias_var"], "residual": values["residual"],
                "dataset": values["dataset"]}

    def compute(self, depth, width, activation, init, weight_scale, batch_norm, seed, batch_size, bias_var=0.0,
                residual=False, dataset="digits", examples=None):
        """(InitialView, note) of the playground network at initialisation, on the data set ``dataset``
        (:func:`initial_view`, on all 256 examples or on the first ``examples``; ``batch_size`` is not used:
        the initial pass sees the same digits whatever the training batch). Touches neither the figure nor
        ``self`` (a worker thread refines with it)."""
        view = initial_view(depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
                            batch_norm=batch_norm, seed=seed, dataset=dataset, bias_var=bias_var,
                            residual=residual, examples=examples)
        return view, self._note({"batch_norm": batch_norm, "residual": residual})

    @staticmethod
    def _note(a):
        if a["batch_norm"] != "off":
            return "no prediction drawn: the mean-field theory here models Dense -> phi without batch norm"
        if a["residual"]:
            return "no prediction drawn: the mean-field theory here has no model of skip connections"
        return ""

    # --- progressive answers (see Explorer) ------------------------------------
    def _args(self, values):
        return self.probe_args({**values, "batch_size": INITIAL_EXAMPLES})

    def answer(self, values, examples=None):
        """(InitialView, note): the final one (:func:`initial_view`, cached), or with ``examples`` an estimate
        from the first ``examples`` of the 256 digits."""
        a = self._args(values)
        knobs = self._knobs(a)
        cached = is_initial_cached(**knobs)
        t0 = time.perf_counter()
        if examples is None:
            result = self.compute(**a)
        else:  # the weights from the bank: drawing them again took longer than the draft's pass
            s = settings(**knobs)
            result = _measure_initial(s, examples, self._bank.network(s)), self._note(a)
        seconds = time.perf_counter() - t0
        self.timings.update(probe=seconds, cached=cached, examples=result[0].n_examples)
        flop = self._flop(a)
        if examples is None and not cached and flop >= self.draft_flop:  # learn how fast this machine multiplies
            self._pass_flops = 0.5 * self._pass_flops + 0.5 * flop / max(seconds, 1e-6)
        return result

    @staticmethod
    def _knobs(a):
        return {k: v for k, v in a.items() if k != "batch_size"}

    @staticmethod
    def _flop(a):
        """Floating-point operations of an initial pass: x W, dz W^T and x^T dz of every hidden layer
        (batch norm about doubles the work of a layer)."""
        return 6.0 * a["depth"] * a["width"] ** 2 * INITIAL_EXAMPLES * (2 if a["batch_norm"] != "off" else 1)

    #: Fewest floating-point operations of an initial pass worth a draft: below (e.g. 10 x 128, 30 x 64), the
    #: pass is mostly Python's work per layer, which a draft on fewer digits would not save.
    draft_flop = 3e8

    def draft_examples(self, values):
        """None when the initial pass is cached, small (:attr:`draft_flop`) or should take at most
        :attr:`full_seconds`, else the first examples of a draft that should take about
        :attr:`draft_seconds` (a power of 2 from :attr:`min_draft_examples` to 128), at the speed of the
        passes measured so far."""
        a = self._args(values)
        if self._flop(a) < self.draft_flop or is_initial_cached(**self._knobs(a)):
            return None
        seconds = self._flop(a) / self._pass_flops
        if seconds <= self.full_seconds:
            return None
        n = max(self.min_draft_examples, INITIAL_EXAMPLES * self.draft_seconds / seconds)
        return min(2 ** int(np.log2(n)), INITIAL_EXAMPLES // 2)

    def refine(self, values):
        """The initial pass on all 256 examples (on the worker thread; cached by :meth:`remember`)."""
        a = self._args(values)
        yield self.compute(**a, examples=INITIAL_EXAMPLES)

    def remember(self, values, result):
        keep_initial(result[0], **self._knobs(self._args(values)))

    def refining_text(self, values, examples):
        return f"estimate from the first {examples} of {INITIAL_EXAMPLES} digits: refining ..."

    def show(self, result, values):
        # (the parent's readout and this one, a line longer, go to the browser once: Explorer._held_views)
        iv, note = result
        self.initial = iv
        super().show((iv.stats, iv.prediction, note), {**values, "batch_size": INITIAL_EXAMPLES})
        self._layer_span = _layer_span(values["depth"], self._layer_span, self.max_depth)
        for ax in (self.ax_var, self.ax_frac):
            plots.layer_axis(ax, self._layer_span)
        self.ax_frac.set_xlabel(_FRAC_XLABEL)  # the long label does not fit under the narrow panel
        # the narrow panel numbers every second layer or so: each tick label cost ~1 ms of a frame that redraws it
        self.ax_frac.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        title = self.ax_var.get_title().replace(", float64", "")
        extra = (f", $\\sigma_b^2$ = {values['bias_var']:g}" if values["bias_var"] else "") + (
            ", residual" if values["residual"] else "")
        title = title.replace(":", extra + ":", 1)
        self.ax_var.set_title(title, fontsize=11)
        data = "raw pixels 0..16" if values["dataset"] == "digits_raw" else "standardised pixels"
        self.heading_init.value = (
            f"<b>At initialisation</b>: one forward and backward pass of this network on {iv.n_examples} "
            f"training digits ({html.escape(data)}, E[x<sup>2</sup>] = {iv.input_second_moment:.3g}); "
            f"dashed: the mean-field prediction. Every control redraws it at once.")
        self.readout.value = self._readout_html(iv)
        knobs = {k: v for k, v in values.items() if k != "preset"}
        self.training.update(**knobs)
        self.training.status.value = self.training.status_html()
        preset = values["preset"]
        if preset != "custom" and settings(**knobs) != settings(**{**DEFAULTS, **PRESETS[preset]}):
            with self._preset_quietly():  # a knob moved away from the preset: say so, change nothing else
                self.controls["preset"].value = "custom"

    @staticmethod
    def _readout_html(iv):
        st = iv.stats
        L = len(st.da_var)
        if st.first_nonfinite is not None:
            return (f"<b>Overflow</b> at hidden layer {st.first_nonfinite}: values exceeded the largest float "
                    f"(inf or nan from there on).")
        if L < 2:
            return "One hidden layer: the gradient crosses no layer on its way down. Add depth."
        r, f = iv.gradient_ratio, iv.size_factor
        if not np.isfinite(r) or r == 0:
            return "The gradient reaching layer 1 is exactly 0: it vanished (or every unit is dead)."
        verdict = "vanishes" if f < 0.9 else ("explodes" if f > 1.1 else "keeps its size")
        return (f"Var(dL/da) at layer 1 / at layer {L} = {r:.3g}: the gradient's size is multiplied by about "
                f"<b>x{f:.3g} per layer</b> on its way down, so it <b>{verdict}</b>. "
                f"Weight gradients: ||dL/dW<sup>1</sup>|| / ||dL/dW<sup>{L}</sup>|| = {iv.weight_grad_ratio:.3g}. "
                f"Saturated units: {np.mean(st.saturated_fraction):.0%}; dead units: "
                f"{np.mean(st.dead_fraction):.0%} (mean over layers).")

    def run(self, **values):
        """Apply ``values`` to the controls, train (or take from the cache), add the run to the training
        figure, and return its :class:`PlaygroundRun`."""
        if values:
            self.update(**values)
        self.training.run()
        self.training.status.value = self.training.status_html()
        return self.training.get_run()

    def clear(self) -> None:
        """Remove every run from the training figure (the cache is kept)."""
        self.training.clear()

    def _on_run(self, button):
        self.training._on_run(button)  # a learner's press trains on a worker thread: the controls stay live

    def _on_clear(self, button):
        self.clear()

    def summary(self) -> str:
        """What the playground shows now, as plain text: the settings, the initial pass, the last run."""
        iv = self.initial
        lines = [f"settings: {label(self.knobs)}", _html_to_text(self._readout_html(iv))]
        if self.training.runs:
            last_label, last = next(reversed(self.training.runs.items()))
            lines.append(f"last run ({last_label}): {last.status}")
        return "\n".join(lines)


def _layer_span(depth, current, max_depth):
    """How many hidden layers the layer axes show for a network of ``depth`` (at most ``max_depth``).

    The ``current`` span while the network fills more than half of it, else the smallest of
    :data:`_LAYER_SPANS` that holds it: a press of the depth slider then adds or removes a point
    instead of moving the axis (whose redraw took more than half of the frame).
    """
    return plots.layer_span(depth, _LAYER_SPANS, max_depth, current)


def _html_to_text(markup: str) -> str:
    """``markup`` as plain text: superscripts as ^, tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<sup>(.*?)</sup>", r"^\1", markup)))
