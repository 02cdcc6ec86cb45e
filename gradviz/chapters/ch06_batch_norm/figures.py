"""Chapter 06's figures: the static figures the notebook shows (each registered with ``@figure``) and
the drawings they share with the explorers.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ... import plots
from ...figures import figure
from ...plots import (OKABE_ITO, CYCLE, find_artist, finite_or_nan, moving_average, prepare_axes, quick_legend,
                      styled, tidy)
from .experiments import (BN_NET, BN_TRAIN, INITS, LEARNS, bn_run, lr_sweep, moving_average_run, raw_input_runs,
                          scale_sweep)


#: Without / with batch norm, on every figure of the chapter.
BN_COLORS = {False: OKABE_ITO["vermillion"], True: OKABE_ITO["blue"]}


def _line(ax, gid, *args, **kwargs):
    """The Line2D of ``gid`` on ``ax``, created with ``ax.plot(*args, **kwargs)`` the first time."""
    line = find_artist(ax, gid)
    if line is None:
        (line,) = ax.plot(*args, gid=gid, **kwargs)
    return line


def draw_moving_average(ax_mean, ax_weight, run, references=(), steps=None):
    """Draw (or update in place) a moving-average run of :func:`moving_average_run`.

    ``ax_mean``: the batch means (dots), the running mean after each step (line)
    and the true mean (dotted). ``ax_weight``: the weight momentum**t that the
    initial value (0) still has in the average after t steps, on a log axis,
    with a 1% line; ``references`` are other momenta (Keras convention), a
    sequence or a dict momentum -> legend label, drawn there as thin grey
    curves for comparison.

    Lines have gid ``'batch_mean'``, ``'running_mean'``, ``'true_mean'``,
    ``'weight'`` and ``'weight:<momentum>'``. ``steps``: the length of the step axes (None: the run's; a longer
    one shows ``run`` as the first steps of a longer run). Returns (ax_mean, ax_weight).
    """
    for ax in (ax_mean, ax_weight):
        tidy(ax)
    steps = int(run.step[-1] if steps is None else steps)
    _line(ax_mean, "batch_mean", [], [], "o", ms=2.5, color="0.6", alpha=0.7, label="batch means",
          zorder=2).set_data(run.step[1:], run.batch_mean)
    _line(ax_mean, "running_mean", [], [], "-", color=OKABE_ITO["blue"], lw=2.2, label="running_mean",
          zorder=3).set_data(run.step, run.running_mean)
    _line(ax_mean, "true_mean", [], [], ":", color=OKABE_ITO["black"], lw=1.4,
          label="mean of the distribution", zorder=1).set_data([0, steps], [run.true_mean, run.true_mean])
    ax_mean.set_xlim(0, steps)
    lo = min(0.0, float(np.min(run.batch_mean)))
    hi = max(run.true_mean, float(np.max(run.batch_mean)))
    pad = 0.08 * (hi - lo)
    ax_mean.set_ylim(lo - pad, hi + pad)
    ax_mean.set_xlabel("training step $t$")
    ax_mean.set_ylabel("mean of the feature")
    ax_mean.set_title(f"running_mean, momentum {run.momentum:.3g} (Keras) = {1 - run.momentum:.3g} (PyTorch)",
                      fontsize=11)
    if ax_mean.get_legend() is None:
        quick_legend(ax_mean, loc="lower right", fontsize=9)

    t = np.arange(steps + 1)
    # the slider's curve wide and light beneath, the references thin, dark and broken on top: at a reference's
    # momentum (0.99 by default) both stay visible, the reference's dashes over the slider's band
    with np.errstate(under="ignore"):
        w = run.momentum ** t
    _line(ax_weight, "weight", [], [], "-", color=OKABE_ITO["sky_blue"], lw=3.2, zorder=2,
          label="the slider's momentum").set_data(t, np.maximum(w, 1e-300))
    styles = ("--", ":", "-.")
    for i, (m, text) in enumerate(references.items() if isinstance(references, dict) else
                                  ((m, f"momentum {m:g}") for m in references)):
        _line(ax_weight, f"weight:{m:g}", [], [], styles[i % 3], lw=1.3, color="0.1", label=text,
              zorder=4).set_data(t, m ** t)
    _line(ax_weight, "one_percent", [], [], ":", color=OKABE_ITO["vermillion"], lw=1.2,
          zorder=2).set_data([0, steps], [0.01, 0.01])
    note = find_artist(ax_weight, "one_percent_label")
    if note is None:
        note = ax_weight.text(0.98, 0.01, "1%", transform=ax_weight.get_yaxis_transform(), ha="right", va="bottom",
                              fontsize=8, color=OKABE_ITO["vermillion"], gid="one_percent_label")
    ax_weight.set_yscale("log")
    ax_weight.set_xlim(0, steps)
    ax_weight.set_ylim(1e-4, 1.5)
    ax_weight.set_xlabel("training step $t$")
    ax_weight.set_ylabel(r"weight of the initial value, momentum$^t$")
    ax_weight.set_title("what is left of the start", fontsize=11)
    if ax_weight.get_legend() is None and ax_weight.get_legend_handles_labels()[0]:
        quick_legend(ax_weight, loc="upper right", fontsize=8)
    return ax_mean, ax_weight


#: Where :func:`plot_sweep` marks a diverged run: below the 0 of the accuracy axis, as it has no accuracy.
DIVERGED_Y = -4.0


@styled
def plot_sweep(sweep, ax=None, *, legend=True):
    """Test accuracy against the swept setting, without and with batch norm: one dot per seed, a line
    through the mean of the seeds that did not diverge (broken where every seed diverged), and a cross
    below the axis' 0 for a run that diverged (it has no accuracy: it is not drawn as one).

    ``sweep`` is a :class:`Sweep`; ``ax`` an Axes (None: a new pyplot figure).
    Lines of gid ``'mean:bn'``, ``'mean:plain'``, ``'seeds:bn'``, ``'seeds:plain'``,
    ``'diverged:bn'``, ``'diverged:plain'``. Returns the Axes.
    """
    ax = prepare_axes(ax)
    tidy(ax)
    xs = sweep.values
    means = []
    for bn in (False, True):
        name = "bn" if bn else "plain"
        c = BN_COLORS[bn]
        acc, div = 100 * sweep.accuracy[int(bn)], sweep.diverged[int(bn)]
        # nudge the two versions apart so that their dots do not hide each other
        shift = 1.06 if bn else 1 / 1.06
        ok = ~div
        n_ok = ok.sum(axis=0)
        mean = np.where(n_ok > 0, np.where(ok, acc, 0.0).sum(axis=0) / np.maximum(n_ok, 1), np.nan)
        means.append(mean)
        ax.plot(xs, mean, "-", color=c, lw=2, gid=f"mean:{name}",
                label="with batch norm" if bn else "without batch norm")
        ax.plot(np.broadcast_to(xs * shift, acc.shape)[ok], acc[ok], "o", ms=5, color=c, alpha=0.8,
                gid=f"seeds:{name}")
        ax.plot(np.broadcast_to(xs * shift, acc.shape)[div], np.full(int(div.sum()), DIVERGED_Y), "x", ms=8, mew=2,
                color=c, gid=f"diverged:{name}")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.minorticks_off()
    ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
    ax.set_ylim(-8, 100)
    ax.set_yticks(range(0, 101, 20))
    for y, text in ((10, "chance"), (100 * LEARNS, "learns")):
        ax.axhline(y, color="0.5", lw=1, ls=":", zorder=1)
        # between two columns of dots (at the axis' left edge the first column covered it), in the first gap that no
        # mean line crosses near the label (the run without batch norm lay along 'chance' at scales 0.1 to 0.3)
        k = _clear_gap(means, y - 1.0, y + 6.0)
        ax.text(np.sqrt(xs[k] * xs[k + 1]), y, text, ha="center", va="bottom", fontsize=8, color="0.4",
                gid=f"line:{text}")
    ax.set_xlabel(f"{sweep.label} (log scale)")
    ax.set_ylabel("test accuracy (%)")
    fixed = ", ".join(f"{'learning rate' if k == 'lr' else 'weight scale'} {v:g}" for k, v in sweep.fixed.items())
    seeds = f"{len(sweep.seeds)} seeds" if len(sweep.seeds) > 1 else f"seed {sweep.seeds[0]}"
    ax.set_title(f"after {sweep.steps} steps, {fixed} ({seeds})", fontsize=11)
    if legend:
        sweep_legend(ax, loc="center left", fontsize=9)
    return ax


def _clear_gap(lines, low, high):
    """The first k such that no line (values at the columns, NaN where broken) passes between heights ``low`` and
    ``high`` from column k to column k + 1 (0 if every gap has one)."""
    for k in range(len(lines[0]) - 1):
        spans = [(min(m[k], m[k + 1]), max(m[k], m[k + 1])) for m in lines if np.isfinite(m[k : k + 2]).all()]
        if all(top < low or bottom > high for bottom, top in spans):
            return k
    return 0


def sweep_legend(target, **kwargs):
    """Draw the legend of :func:`plot_sweep` on ``target`` (an Axes or a Figure) and return it: a line with dots
    per version, and for a diverged run a cross in each version's colour, as the plot draws it (one grey cross
    stood for crosses that are all in a version's colour). ``kwargs`` go to ``legend``."""
    handles = [mpl.lines.Line2D([], [], color=BN_COLORS[bn], marker="o", lw=2) for bn in (True, False)]
    crosses = tuple(mpl.lines.Line2D([], [], color=BN_COLORS[bn], marker="x", ms=8, mew=2, lw=0)
                    for bn in (True, False))
    return target.legend([*handles, crosses], ["with batch norm", "without batch norm", "diverged: no accuracy"],
                         handler_map={tuple: mpl.legend_handler.HandlerTuple(ndivide=None)}, **kwargs)


@styled
def plot_loss_per_step(histories, ax=None, *, colors=None, smooth=10, title="training loss"):
    """The minibatch loss at every step (faint) and its moving average (solid), one colour per run.

    ``histories``: dict label -> History; ``ax``: an Axes (None: a new pyplot
    figure); ``smooth``: window of the moving average, in steps. Lines of gid
    ``'loss:<label>'``. Returns the Axes.
    """
    ax = prepare_axes(ax)
    tidy(ax)
    palette = colors or CYCLE
    for i, (label, h) in enumerate(histories.items()):
        c = palette[i % len(palette)]
        loss = finite_or_nan(h.loss)
        ax.plot(h.step, loss, color=c, alpha=0.25, lw=0.8, gid=f"rawloss:{label}")
        ax.plot(h.step, moving_average(loss, smooth), color=c, label=label, gid=f"loss:{label}")
    ax.axhline(np.log(10), color="0.5", lw=1, ls=":", zorder=1)
    # Label mid-axis, below the line and on a white box: a run stuck at chance lies along the line itself.
    ax.annotate("ln 10: guessing", xy=(0.5, np.log(10)), xycoords=ax.get_yaxis_transform(), xytext=(0, -4),
                textcoords="offset points", ha="center", va="top", fontsize=8, color="0.4", zorder=5,
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xlabel("training step")
    ax.set_ylabel("minibatch loss (nats, log scale)")
    ax.set_title(title + (f" ({smooth}-step moving average)" if smooth > 1 else ""), fontsize=11)
    ax.legend(loc="lower left", fontsize=9)
    return ax


def pair(weight_scale=1.0, lr=None, momentum=0.9):
    """{label: History} of the chapter's deep sigmoid net without and with batch norm (:func:`bn_run`)."""
    lr = BN_TRAIN["lr"] if lr is None else lr
    return {"without batch norm": bn_run(False, weight_scale, lr, momentum)[1],
            "with batch norm": bn_run(True, weight_scale, lr, momentum)[1]}


@figure("bn_moving_averages")
def bn_moving_averages(momenta=(0.99, 0.9), steps=200):
    """Running mean of a batch-norm layer fed batches from N(3, 2^2): Keras's default momentum 0.99 vs 0.9 (PyTorch's 0.1)."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.2), width_ratios=[1.35, 1])
    runs = [moving_average_run(m, steps) for m in momenta]
    colors = [plots.OKABE_ITO[c] for c in ("vermillion", "blue", "green", "purple")]
    with plots.style():
        r0 = runs[0]
        a1.plot(r0.step[1:], r0.batch_mean, "o", ms=2.5, color="0.6", alpha=0.7, label="batch means", gid="batch_mean")
        a1.axhline(r0.true_mean, color="black", ls=":", lw=1.4, label="mean of the distribution")
        t = r0.step
        for r, c in zip(runs, colors):
            label = f"momentum {r.momentum:g} (PyTorch: {1 - r.momentum:.2g})"
            a1.plot(r.step, r.running_mean, color=c, lw=2.2, label=label, gid=f"running_mean:{r.momentum:g}")
            a2.plot(t, r.remaining, color=c, lw=2.2, label=label, gid=f"weight:{r.momentum:g}")
        a1.set_xlim(0, steps)
        a1.set_xlabel("training step $t$")
        a1.set_ylabel("running_mean")
        a1.set_title("the running mean starts at 0 and creeps towards the batch means", fontsize=11)
        a2.axhline(0.01, color="0.4", ls=":", lw=1.2)
        a2.text(0.98, 0.01, "1%", transform=a2.get_yaxis_transform(), ha="right", va="bottom", fontsize=8, color="0.3")
        a2.set_yscale("log")
        a2.set_ylim(1e-4, 1.5)
        a2.set_xlim(0, steps)
        a2.set_xlabel("training step $t$")
        a2.set_ylabel(r"weight of the initial value, momentum$^t$")
        a2.set_title("what is left of the start", fontsize=11)
        # one legend under both panels (the momenta have the same colours in both): inside the left panel it
        # touched the 0.99 curve between steps 110 and 200, and the panel has no corner free of data
        fig.legend(*a1.get_legend_handles_labels(), loc="outside lower center", ncols=4, fontsize=9, frameon=False)
    return fig


@figure("bn_deep_sigmoid_training")
def bn_deep_sigmoid_training(runs=None):
    """The chapter's deep sigmoid net on the digits without and with batch norm: loss per step, and the
    weight-gradient norm per layer at the start."""
    runs = runs if runs is not None else pair()
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.3), width_ratios=[1.3, 1])
    colors = [BN_COLORS[False], BN_COLORS[True]]
    plot_loss_per_step(runs, ax=a1, colors=colors, title="training loss")
    with plots.style():
        for (label, h), c in zip(runs.items(), colors):
            layers = np.arange(1, h.depth + 1)
            a2.plot(layers, plots.positive_finite(h.grad_norm[0]), "o-", color=c, label=label, gid=f"grad:{label}")
        a2.set_yscale("log")
        plots.layer_axis(a2, BN_NET["depth"])
        a2.set_ylabel(r"$\|\partial L/\partial W^l\|$ at step 0 (log scale)")
        a2.set_title("the gradient reaching each layer, before training", fontsize=11)
        a2.legend(loc="lower right", fontsize=9)
        h = next(iter(runs.values()))
        cfg = h.config
        fig.suptitle(f"sigmoid MLP, {BN_NET['depth']} hidden layers x {BN_NET['width']} units, Glorot init, "
                     f"SGD lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['steps']} steps, digits", fontsize=12)
    return fig


@figure("bn_init_scale_and_lr_sweep")
def bn_init_scale_and_lr_sweep(scale=None, lr=None):
    """Test accuracy of the ReLU baseline without and with batch norm, against the init scale and the learning rate."""
    scale = scale if scale is not None else scale_sweep()
    lr = lr if lr is not None else lr_sweep()
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.6), sharey=True)
    plot_sweep(scale, ax=a1, legend=False)
    plot_sweep(lr, ax=a2, legend=False)
    with plots.style():
        a2.set_ylabel("")
        a2.tick_params(labelleft=True)
        sweep_legend(fig, loc="outside lower center", ncol=3, fontsize=10)
        fig.suptitle(f"{_NAMES[lr.activation]} MLP, {BN_NET['depth']} hidden layers x {BN_NET['width']} units, "
                     f"{_NAMES[INITS[lr.activation]]} init, SGD, batch {lr.batch_size}, digits", fontsize=12)
    return fig


#: How figure titles name activations and initializers.
_NAMES = {"relu": "ReLU", "sigmoid": "sigmoid", "he_normal": "He", "glorot_uniform": "Glorot"}


@figure("bn_raw_pixels")
def bn_raw_pixels(runs=None):
    """Raw pixels (0..16) vs standardized pixels vs raw pixels with a batch-norm layer first: training curves."""
    runs = runs if runs is not None else raw_input_runs()
    hist = {label: h for label, (_, h) in runs.items()}
    fig, axes = plots.new_figure(1, 2, figsize=(12, 4.6))
    colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue")]
    plots.plot_training_curves(hist, axes=axes, smooth=10, colors=colors)
    with plots.style():
        for t in axes[1].texts:  # the raw-pixel run lies along the chance line: its label goes below the line
            if t.get_text().startswith("chance"):
                t.set_verticalalignment("top")
        net, h = next(iter(runs.values()))
        cfg = h.config
        fig.suptitle(f"{_NAMES.get(net.activation, net.activation)} MLP {list(net.hidden)}, He init, SGD lr "
                     f"{cfg['lr']:g}, batch {cfg['batch_size']}, digits", fontsize=12)
    return fig
