"""Chapter 06's explorers: the interactive explorers the notebook shows (:class:`MomentumExplorer`,
:class:`BatchNoiseExplorer`, :class:`BatchNormExplorer`).
"""

from __future__ import annotations

import html

import ipywidgets
import matplotlib as mpl
import numpy as np

from ... import plots
from ...plots import OKABE_ITO, finite_or_nan, moving_average, quick_legend, tidy
from ...widgets import CONTROL_STYLE, LRU, Explorer, choice, int_slider, values_slider
from .experiments import BN_NET, BN_TRAIN, batch_noise, bn_run, moving_average_run, steps_to_forget
from .figures import BN_COLORS, _line, draw_moving_average


class MomentumExplorer(Explorer):
    """The moving averages of a batch-norm layer, with the momentum in both frameworks' conventions.

    A one-feature :class:`gradviz.layers.BatchNorm` is fed batches drawn from
    N(3, 2^2) (:func:`moving_average_run`, same batches for every momentum).
    Left: the batch means and the layer's running_mean after each step.
    Right: the weight momentum**t that the initial value 0 still has in the
    average, beside Keras's default 0.99 and PyTorch's default 0.1 (= 0.9 in
    Keras's convention).

    Controls: ``momentum`` (Keras convention: weight kept by the old
    average) and ``pytorch_momentum`` (PyTorch convention: weight given to
    the new batch), linked so that they always sum to 1; ``steps``;
    ``batch_size``.

    A learner's change to a run of more than :attr:`draft_above` steps not
    computed yet is answered first by its first :attr:`draft_steps` steps (the
    same batches), then by the whole run from the worker thread.

    Attributes
    ----------
    run : MovingAverageRun
        What is drawn now.
    """

    figsize = (11.0, 4.2)
    true_mean, true_std = 3.0, 2.0
    #: Runs longer than this many steps are answered first by their first :attr:`draft_steps` (each step is a
    #: forward pass of the layer: 1000 of them took 40-80 ms).
    draft_above, draft_steps = 400, 200
    references = {0.99: "0.99: Keras default", 0.9: "0.9: PyTorch default 0.1"}

    def __init__(self, canvas="auto", *, seed=0, **values):
        self.seed = seed
        self.readout = ipywidgets.HTML()
        self._runs = LRU(64)
        self._linking = False
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "momentum": w.FloatSlider(value=0.99, min=0.0, max=0.999, step=0.001, readout_format=".3f",
                                      description="momentum, Keras (weight kept)", style=CONTROL_STYLE),
            "pytorch_momentum": w.FloatSlider(value=0.01, min=0.001, max=1.0, step=0.001, readout_format=".3f",
                                              description="momentum, PyTorch (weight of new batch)", style=CONTROL_STYLE),
            "steps": int_slider("steps", 10, 1000, 200, step=10),
            "batch_size": values_slider("batch size", (4, 8, 16, 32, 64, 128, 256), 32),
        }

    def _on_change(self, change):
        # Keep the two conventions linked: pytorch = 1 - keras. One redraw for both changes.
        owner = change["owner"]
        if self._linking or owner not in (self.controls["momentum"], self.controls["pytorch_momentum"]):
            return super()._on_change(change)
        other = "pytorch_momentum" if owner is self.controls["momentum"] else "momentum"
        ctl = self.controls[other]
        target = min(max(round(1.0 - change["new"], 6), ctl.min), ctl.max)
        self._linking = True
        try:
            with self.hold():
                ctl.value = target
        finally:
            self._linking = False

    def setup_figure(self, fig):
        self.ax_mean, self.ax_weight = fig.subplots(1, 2, width_ratios=[1.35, 1])

    def blit_static(self):
        return [self.ax_weight.title]  # 'what is left of the start', set by each draw_moving_average

    def _freeze_layout(self):
        # Lay out once (then blit) with the widest tick labels the axes can get, so that none runs into an axis
        # label or off the figure later: '-0.5' on the mean's axis (its limits hold 0 and 3, so the ticks are at
        # least 0.5 apart; a negative batch mean brings the minus sign) and the last step, 1000.
        mean_limits, step_limits = self.ax_mean.get_ylim(), self.ax_mean.get_xlim()
        self.ax_mean.set_ylim(-0.6, 3.6)
        for ax in (self.ax_mean, self.ax_weight):
            ax.set_xlim(0, self.controls["steps"].max)
        super()._freeze_layout()
        self.ax_mean.set_ylim(*mean_limits)
        for ax in (self.ax_mean, self.ax_weight):
            ax.set_xlim(*step_limits)

    @staticmethod
    def _key(momentum, steps, batch_size):
        return round(float(momentum), 6), int(steps), int(batch_size)

    def compute(self, momentum, steps, batch_size):
        """The moving-average run of these settings (cached)."""
        key = self._key(momentum, steps, batch_size)
        hit = self._runs.get(key)
        if hit is None:
            hit = self._runs.put(key, moving_average_run(key[0], key[1], self.true_mean, self.true_std, key[2],
                                                         seed=self.seed))
        return hit

    def answer(self, values, examples=None):
        """The run of ``values``, or with ``examples`` its first ``examples`` steps (the same batches)."""
        steps = values["steps"] if examples is None else examples
        return self.compute(values["momentum"], steps, values["batch_size"])

    def draft_examples(self, values):
        key = self._key(values["momentum"], values["steps"], values["batch_size"])
        return None if key in self._runs or key[1] <= self.draft_above else self.draft_steps

    def refine(self, values):
        # on the worker thread: computed without touching the cache, which remember fills on the kernel's
        key = self._key(values["momentum"], values["steps"], values["batch_size"])
        yield moving_average_run(key[0], key[1], self.true_mean, self.true_std, key[2], seed=self.seed)

    def remember(self, values, result):
        self._runs.put(self._key(values["momentum"], values["steps"], values["batch_size"]), result)

    def refining_text(self, values, examples):
        return f"the first {examples} of {values['steps']} steps: computing ..."

    def show(self, result, values):
        self.run = result
        draw_moving_average(self.ax_mean, self.ax_weight, result, references=self.references, steps=values["steps"])
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        r = self.run
        m = r.momentum
        t = r.step[-1]
        lines = [f"Keras momentum {m:.3f} = PyTorch momentum {1 - m:.3f}: each step keeps {m:.1%} of the old "
                 f"average and adds {1 - m:.1%} of the new batch's statistic."]
        if m > 0:
            lines.append(f"After {t} steps the initial value (running_mean = 0) still weighs {m ** t:.3g}; "
                         f"it weighs less than 1% after {steps_to_forget(m, 0.01)} steps. "
                         f"The average spans roughly the last 1/(1 - momentum) = {1 / (1 - m):.3g} batches.")
        lines.append(f"running_mean = {r.running_mean[-1]:.3f} (true mean {r.true_mean:g}), "
                     f"running_var = {r.running_var[-1]:.3f} (true variance {r.true_var:g}), "
                     f"batches of {r.batch_size}.")
        return "\n".join(lines)


def _hist(values, edges):
    """Fraction of ``values`` per bin of ``edges``, as the (x, y) of a step line centred on the bins."""
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return 0.5 * (edges[1:] + edges[:-1]), counts / max(len(values), 1)


#: Tops of the histograms' y axes: the first at least 1.45 x the highest bar (headroom: the legend sits above the
#: bars). Few and round, so that a new batch size often keeps the axis (and its tick labels) as it was.
HIST_TOPS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.5)


def _headroom(highest):
    return next((top for top in HIST_TOPS if top >= 1.45 * highest), HIST_TOPS[-1])


def draw_batch_noise(ax_mean, ax_xhat, noise):
    """Draw (or update in place) a :class:`BatchNoise`: histograms of the batch means (left) and of the
    followed digit's normalized pixel (right) over the batches, on fixed axes, with the population values.

    Lines of gid ``'batch_mean'``, ``'x_hat'``, ``'population_mean'``, ``'population_x_hat'``. Returns the
    two Axes.
    """
    for ax in (ax_mean, ax_xhat):
        tidy(ax)
    c = OKABE_ITO["blue"]
    for ax, gid, values, edges, pop, pop_gid in (
            (ax_mean, "batch_mean", noise.batch_mean, np.linspace(-1.5, 1.5, 61), noise.population_mean,
             "population_mean"),
            (ax_xhat, "x_hat", noise.x_hat, np.linspace(-3.0, 3.0, 61), noise.population_x_hat,
             "population_x_hat")):
        x, y = _hist(values, edges)
        _line(ax, gid, [], [], drawstyle="steps-mid", color=c, lw=2, label="over the batches").set_data(x, y)
        _line(ax, pop_gid, [], [], ":", color=OKABE_ITO["black"], lw=1.5,
              label="whole training set").set_data([pop, pop], [0, 1])
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, _headroom(float(y.max())))
        # few labels: they are drawn anew whenever the top changes
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        ax.set_ylabel("fraction of the batches")
        if ax.get_legend() is None:
            quick_legend(ax, loc="upper right", fontsize=9)
    ax_mean.set_xlabel(f"batch mean of pixel {noise.feature} (standardized units)")
    ax_mean.set_title(f"{len(noise.batch_mean)} batches of {noise.batch_size}: their means", fontsize=11)
    ax_xhat.set_xlabel(f"x_hat of training digit {noise.example}'s pixel {noise.feature} in its batch")
    ax_xhat.set_title(f"the same pixel of the same digit, normalized by each batch", fontsize=11)
    return ax_mean, ax_xhat


class BatchNoiseExplorer(Explorer):
    """How noisy batch statistics are, against the batch size (:func:`batch_noise`).

    One pixel of one training digit is normalized, in training mode, together
    with ``batch_size - 1`` other random training digits, 2000 times. Left: the
    batch means of the pixel; right: the digit's normalized value x_hat in
    each batch, beside the value the whole training set gives (what inference
    uses once the moving averages have converged).

    A learner's change to a batch size not drawn yet is answered first by the
    first :attr:`draft_batches` of the batches (the same batches), and by all
    of them once the worker thread has drawn them (drawing 2000 random batches
    takes 0.1-0.2 s).

    Control: ``batch_size``.

    Attributes
    ----------
    noise : BatchNoise
        What is drawn now.
    """

    figsize = (11.0, 3.8)
    #: Batches that answer a learner's change first.
    draft_batches = 200
    n_batches = 2000

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        self._kept = set()  # batch sizes whose n_batches batches batch_noise has cached
        super().__init__(canvas, **values)

    def make_controls(self):
        return {"batch_size": values_slider("batch size", (2, 3, 4, 8, 16, 32, 64, 128, 256), 32)}

    def setup_figure(self, fig):
        self.ax_mean, self.ax_xhat = fig.subplots(1, 2)

    def blit_static(self):
        return [self.ax_xhat.title]  # the same words at every batch size

    def answer(self, values, examples=None):
        """The :class:`BatchNoise` of all :attr:`n_batches` batches, or of the first ``examples``."""
        return batch_noise(values["batch_size"], n_batches=self.n_batches if examples is None else examples)

    def draft_examples(self, values):
        return None if values["batch_size"] in self._kept else self.draft_batches

    def remember(self, values, result):
        self._kept.add(values["batch_size"])

    def refining_text(self, values, examples):
        return f"the first {examples} of {self.n_batches} batches: drawing the rest ..."

    def show(self, result, values):
        self.noise = result
        if len(result.batch_mean) == self.n_batches:
            self._kept.add(result.batch_size)
        draw_batch_noise(self.ax_mean, self.ax_xhat, self.noise)
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        n = self.noise
        lo, hi = np.quantile(n.x_hat, [0.05, 0.95])
        return (f"Batches of {n.batch_size}: the batch mean of pixel {n.feature} varies with standard deviation "
                f"{n.mean_spread:.3f} (sampling theory, for digit {n.example} plus {n.batch_size - 1} others drawn "
                f"without replacement from {n.n_train - 1}: {n.predicted_mean_spread:.3f}; the rule of thumb "
                f"1/sqrt(batch size) = {1 / np.sqrt(n.batch_size):.3f}).\n"
                f"Digit {n.example}'s pixel, {n.value:.2f} in standardized units, becomes x_hat between "
                f"{lo:.2f} and {hi:.2f} in 90% of the batches (standard deviation {n.x_hat_spread:.3f}); "
                f"normalized with the whole training set it is {n.population_x_hat:.2f}.")


def _set_line(ax, gid, x, y, **style):
    """Create or update the Line2D of ``gid`` on ``ax`` with data (x, y) and ``style``."""
    line = _line(ax, gid, [], [])
    line.set_data(x, y)
    line.set(**style)
    return line


def draw_training_run(ax_loss, ax_grad, h, reference=None, *, bn=True, steps=None, sticky=False):
    """Draw (or update in place) a run of :func:`bn_run`: the minibatch loss per step (left, log scale; a
    10-step moving average over the raw values) and the weight-gradient norm per hidden layer before
    training (right, log scale). ``reference`` (another History, or None) is drawn dashed and grey; ``bn``
    says whether ``h`` ran with batch norm (its colour); ``steps`` is the length of the step axis (None:
    ``h``'s steps; a longer one shows ``h`` as the first steps of a run). ``sticky``: keep the y limits while
    they still show the runs well (:func:`gradviz.plots.sticky_log_limits`; for an explorer), else fit them.

    Lines of gid ``'loss'``, ``'rawloss'``, ``'grad'``, ``'ref_loss'``, ``'ref_grad'``, ``'chance'``.
    Returns the two Axes.
    """
    for ax in (ax_loss, ax_grad):
        tidy(ax)
    steps = h.config["steps"] if steps is None else int(steps)
    c = BN_COLORS[bool(bn)]
    loss = finite_or_nan(h.loss)
    _set_line(ax_loss, "rawloss", h.step, loss, color=c, alpha=0.25, lw=0.8, zorder=1)
    _set_line(ax_loss, "loss", h.step, moving_average(loss, 10), color=c, lw=2.2, zorder=3, label="this run")
    g = plots.positive_finite(h.grad_norm[0])
    _set_line(ax_grad, "grad", np.arange(1, len(g) + 1), g, color=c, lw=2.2, marker="o", ms=4, zorder=3,
              label="this run")
    ref_style = dict(color="0.55", lw=1.2, ls="--", zorder=2, label=f"batch norm {'off' if bn else 'on'}")
    if reference is None:
        _set_line(ax_loss, "ref_loss", [], [], **ref_style)
        _set_line(ax_grad, "ref_grad", [], [], **ref_style)
    else:
        rl = finite_or_nan(reference.loss)
        _set_line(ax_loss, "ref_loss", reference.step, moving_average(rl, 10), **ref_style)
        rg = plots.positive_finite(reference.grad_norm[0])
        _set_line(ax_grad, "ref_grad", np.arange(1, len(rg) + 1), rg, marker="o", ms=3, **ref_style)
    _set_line(ax_loss, "chance", [0, steps], [np.log(10)] * 2, ls=":", color="0.5", lw=1, zorder=1,
              label="ln 10: guessing")
    finite = np.concatenate([v[np.isfinite(v)] for v in
                             [loss] + ([] if reference is None else [finite_or_nan(reference.loss)])])
    ax_loss.set_xlim(0, steps)
    lo = float(finite.min()) if finite.size else 0.1
    hi = float(finite.max()) if finite.size else 10.0
    # 1 and ln 10 always in view; limits kept while they still fit the runs well (sticky_log_limits), so that a
    # new setting moves the curves rather than the axis; within [0.001, 1e6] (the widest tick labels laid out)
    current = ax_loss.get_ylim() if sticky and ax_loss.get_yscale() == "log" else None
    bottom, top = plots.sticky_log_limits(current, max(1.5e-3, min(lo, 1.0) / 1.2), min(max(hi, 3.0) * 1.2, 6e5))
    set_loss_limits(ax_loss, max(bottom, 1e-3), min(top, 1e6))
    ax_loss.set_xlabel("training step")
    ax_loss.set_ylabel("minibatch loss (log scale)")
    if ax_grad.get_yscale() != "log":
        # labels some minor ticks (2, 5) up to 2 decades: the limits span at least 1; as plain numbers from 0.01 to
        # 1000 (a cold reader found 5×10⁰, 2×10⁰, 10⁰, 5×10⁻¹ slow to read)
        plots.fast_log_yaxis(ax_grad, plain=True)
    grads = np.concatenate([g] + ([] if reference is None else [rg]))
    grads = grads[np.isfinite(grads)]
    current = ax_grad.get_ylim() if sticky else None
    ax_grad.set_ylim(*plots.sticky_log_limits(current, grads.min(), grads.max()) if grads.size else (1e-3, 1e3))
    ax_grad.set_xlim(0.5, BN_NET["depth"] + 0.5)
    ax_grad.set_xticks(range(1, BN_NET["depth"] + 1))
    ax_grad.set_xlabel("hidden layer")
    ax_grad.set_ylabel(r"$\|\partial L/\partial W^l\|$ before training")
    # one legend per colour of 'this run', each made once and kept with its pixel copy (QuickLegend)
    legends = vars(ax_loss).setdefault("_legend_by_bn", {})
    if bool(bn) not in legends:
        legends[bool(bn)] = quick_legend(ax_loss, loc="lower left", fontsize=8)
    ax_loss.legend_ = legends[bool(bn)]
    # the gradient panel's own legend, under it (inside, the norms of some setting would lie beneath it), also a
    # QuickLegend: as a static legend, each switch of batch norm was a full draw (56-61 ms of CPU, against 17-18)
    legends = vars(ax_grad).setdefault("_legend_by_bn", {})
    if bool(bn) not in legends:
        legends[bool(bn)] = quick_legend(ax_grad, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2,
                                         fontsize=8.5, edgecolor="white")
    ax_grad.legend_ = legends[bool(bn)]
    plots.explain(ax_loss, f"this run diverged at step {h.diverged_step}:\nthe loss overflowed" if h.diverged else "")
    return ax_loss, ax_grad


def set_loss_limits(ax, bottom, top):
    """Log y limits (``bottom``, ``top``) on ``ax`` with labels in plain numbers (``%g``): at 1, 2 and 5 times the
    powers of ten over up to 3 decades, else at powers of ten only (few labels over many decades); no minor ticks."""
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    subs = (1.0, 2.0, 5.0) if top / bottom <= 1001 else (1.0,)
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    # no minor ticks: up to 80 of them (over 7 decades) took 15-50 ms of each redraw of the axis
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())


class BatchNormExplorer(Explorer):
    """The chapter's network trained with batch norm on or off, at any init scale and learning rate.

    Each setting trains :func:`bn_network` for 100 steps on the digits
    (:func:`bn_run`, cached: a setting seen before is drawn at once), and the
    same setting with batch norm switched the other way is drawn thin and grey
    for comparison. Left: the minibatch loss; right: the weight-gradient norm
    per hidden layer before training.

    A learner's change to a setting not trained yet is answered first by the
    first :attr:`draft_steps` steps of the run (the same steps: same weights
    and minibatches), beside the comparison run if it is kept; the whole runs
    are then trained on a worker thread, and the figure says so while they are.

    Controls: ``batch_norm`` (on/off), ``activation`` (the ReLU baseline with
    He init, or the sigmoid net with Glorot init), ``weight_scale`` (x the
    init of the hidden layers), ``lr``.

    Attributes
    ----------
    run, reference : History
        The run drawn now, and the one with batch norm the other way (None
        while a draft is shown without it).
    """

    figsize = (11.0, 3.9)
    #: Steps of training that answer a learner's change first.
    draft_steps = 15

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        self._kept = LRU(128)  # (batch_norm, activation, weight_scale, lr) -> whole History
        self.steps = BN_TRAIN["steps"]
        super().__init__(canvas, **values)

    def make_controls(self):
        return {
            "batch_norm": choice("batch norm", [("on", True), ("off", False)], False, buttons=True),
            "activation": choice("activation", [("ReLU, He init", "relu"), ("sigmoid, Glorot init", "sigmoid")],
                                 "relu"),
            "weight_scale": values_slider("weight scale (x init)", (0.1, 0.3, 1.0, 3.0, 10.0), 1.0),
            "lr": values_slider("learning rate", (0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 3.0, 10.0), 0.3),
        }

    def setup_figure(self, fig):
        self.ax_loss, self.ax_grad = fig.subplots(1, 2, width_ratios=[1.4, 1])
        self.ax_grad.set_title("the gradient reaching each layer", fontsize=11)

    def blit_static(self):
        return [self.ax_grad.title]

    def _freeze_layout(self):
        # Lay out once (then blit) with the widest tick labels the log axes can get, so that none runs into an
        # axis label later: the loss axis' limits lie within [0.001, 1e6], whose widest label in %g is '100000'
        # (shown over 0.1 to 1e6: over more decades a label goes to every second one), and the gradient norms
        # before training (6e-9 to 5e5 over the settings) get labels no wider than 2×10⁻¹⁰.
        loss_limits, grad_limits = self.ax_loss.get_ylim(), self.ax_grad.get_ylim()
        set_loss_limits(self.ax_loss, 0.1, 1e6)
        self.ax_grad.set_ylim(2e-10, 8e-10)
        super()._freeze_layout()
        set_loss_limits(self.ax_loss, *loss_limits)
        self.ax_grad.set_ylim(*grad_limits)

    @staticmethod
    def _key(values, batch_norm):
        return (bool(batch_norm), values["activation"], float(values["weight_scale"]), float(values["lr"]))

    def _run(self, key, steps=None):
        batch_norm, activation, weight_scale, lr = key
        return bn_run(batch_norm, weight_scale, lr, activation=activation,
                      steps=self.steps if steps is None else steps)[1]

    def _whole(self, key):
        """The whole run of ``key``: kept, or trained (call on the kernel's thread)."""
        h = self._kept.get(key)
        return self._kept.put(key, self._run(key)) if h is None else h

    def answer(self, values, examples=None):
        """(run, reference): the whole runs, or with ``examples`` the first ``examples`` steps of the run and
        the reference if its whole run is kept (else None)."""
        bn = values["batch_norm"]
        run_key, ref_key = self._key(values, bn), self._key(values, not bn)
        if examples is None:
            return self._whole(run_key), self._whole(ref_key)
        run = self._kept.get(run_key) or self._run(run_key, examples)
        return run, self._kept.get(ref_key)

    def draft_examples(self, values):
        bn = values["batch_norm"]
        kept = all(self._key(values, b) in self._kept for b in (bn, not bn))
        return None if kept else self.draft_steps

    def refine(self, values):
        # one run at a time: between the two, a refinement for values the learner has left stops there
        bn = values["batch_norm"]
        run = self._run(self._key(values, bn))
        yield run, None
        yield run, self._run(self._key(values, not bn))

    def remember(self, values, result):
        bn = values["batch_norm"]
        for b, h in zip((bn, not bn), result):
            self._kept.put(self._key(values, b), h)

    def refining_text(self, values, examples):
        return f"the first {examples} of {self.steps} steps: training ..."

    def refining_axes(self):
        return self.ax_loss

    def show(self, result, values):
        self.run, self.reference = result
        bn, activation = values["batch_norm"], values["activation"]
        draw_training_run(self.ax_loss, self.ax_grad, self.run, self.reference, bn=bn, steps=self.steps,
                          sticky=True)
        self.ax_loss.set_title(f"{activation}, weight scale {values['weight_scale']:g}, lr {values['lr']:g}, "
                               f"batch norm {'on' if bn else 'off'}", fontsize=11)
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        bn = self.values["batch_norm"]
        lines = []
        for b, h in ((bn, self.run), (not bn, self.reference)):
            if h is None:
                status = "training ..."
            elif h.config["steps"] < self.steps and not h.diverged:
                status = f"the first {h.config['steps']} of {self.steps} steps so far (training the rest ...)"
            else:
                status = h.status
            lines.append(f"batch norm {'on' if b else 'off'}: {status}")
        return "\n".join(lines)
