"""Chapter 07's figures: the static figures the notebook shows (each registered with ``@figure``) and
the drawings they share with the explorers.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ... import plots
from ...figures import figure
from .experiments import PRESETS, cure_factors, run


#: The guide runs the first figure compares (keys of :data:`PRESETS`).
COMPARED_PRESETS = ("1. deep sigmoid, Glorot init", "2. deep ReLU, He init", "3. deep ReLU, Glorot init",
                    "4. deep ReLU, He init x 1.5", "5. deep sigmoid, Glorot init, batch norm")

#: Colour of each chapter's rows in the per-layer factor figure (no vermillion: in this chapter it means
#: the gradient dL/da, as on every gradviz figure).
_CHAPTER_COLORS = {2: "purple", 3: "blue", 4: "green", 5: "sky_blue", 6: "orange", 7: "black"}
_CHAPTER_NAMES = {2: "02 vanishing/exploding", 3: "03 initialization", 4: "04 non-saturating",
                  5: "05 SELU", 6: "06 batch norm", 7: "07 this chapter"}


@figure("playground_guide_runs")
def guide_runs(names=COMPARED_PRESETS):
    """Guide experiments 1-5: the gradient per layer at initialisation, then training loss and test accuracy."""
    runs = {name: run(**PRESETS[name]) for name in names}
    fig, axes = plots.new_figure(1, 3, figsize=(12.5, 4.8))
    ax_grad, ax_loss, ax_acc = axes
    plots.tidy(ax_grad)
    depth = 1
    with plots.style():
        for i, (name, r) in enumerate(runs.items()):
            da = plots.positive_finite(r.initial.stats.da_var)
            depth = max(depth, len(da))
            ax_grad.plot(np.arange(1, len(da) + 1), da, "o-", ms=4, color=plots.RUN_COLORS[i % len(plots.RUN_COLORS)],
                         label=name, gid=f"grad:{name}")
        ax_grad.set_yscale("log")
        plots.layer_axis(ax_grad, depth)
        ax_grad.set_ylabel(r"Var($\partial L/\partial a^l$) (log scale)")
        ax_grad.set_title("the gradient at initialisation", fontsize=11)
    histories = {name: r.history for name, r in runs.items()}
    plots.plot_training_curves(histories, axes=(ax_loss, ax_acc), smooth=10, colors=plots.RUN_COLORS,
                               diverged_tags={name: name.split(".")[0] for name in runs})
    with plots.style():
        for text in ax_acc.texts:  # a run at chance lies on the dotted line: its label goes below it, with a gap
            if text.get_text().startswith("chance"):  # (experiment 1's curve, just above 10 %, touched it)
                text.set_verticalalignment("top")
                text.set_transform(mpl.transforms.offset_copy(text.get_transform(), fig=fig, y=-6, units="points"))
        ax_acc.get_legend().remove()
        ax_loss.set_ylim(0.2, 5.0)  # an overflowing run would stretch the axis to 1e300
        ticks = [0.25, 0.5, 1, 2, 4]
        ax_loss.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax_loss.set_yticks([], minor=True)
        notes = [f"{name.split('.')[0]}: loss far above this scale, overflow at step {r.history.diverged_step}"
                 for name, r in runs.items() if r.history.diverged]
        if notes:
            ax_loss.text(0.98, 0.97, "\n".join(notes), transform=ax_loss.transAxes, ha="right", va="top",
                         fontsize=9, color="0.25", gid="diverged_note")
        ax_loss.set_title("training loss (10-step moving average)", fontsize=11)
        ax_acc.set_title("test accuracy", fontsize=11)
        handles, labels = ax_grad.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9.5, frameon=False)
        first = next(iter(runs.values())).settings
        fig.suptitle(f"Guide experiments 1-5: {first['depth']} hidden layers x {first['width']} units, SGD lr "
                     f"{first['lr']:g}, batch {first['batch_size']}, {first['steps']} steps on the digits", fontsize=12)
    return fig


#: The guide runs whose layers the weight-gradient figure compares: vanishing, healthy, exploding.
STEP_PRESETS = ("1. deep sigmoid, Glorot init", "2. deep ReLU, He init", "4. deep ReLU, He init x 1.5")


@figure("playground_weight_gradients")
def weight_gradients(names=STEP_PRESETS):
    """Per hidden layer at initialisation: ||a^l||, ||dL/da^l|| and the weight gradient ||dL/dW^l|| they make.

    One panel per guide experiment in ``names`` (keys of :data:`PRESETS`), log scale; the panel's title
    gives the range over the layers of the first SGD step relative to the weights,
    lr ||dL/dW^l|| / ||W^l|| (:meth:`InitialView.relative_step`). Lines have gids ``'a:<name>'``,
    ``'da:<name>'`` and ``'dW:<name>'``.
    """
    runs = {name: run(**PRESETS[name]) for name in names}
    fig, axes = plots.new_figure(1, len(runs), figsize=(4.1 * len(runs), 4.3))
    axes = np.atleast_1d(axes)
    series = ((r"activations $\|a^l\|$", "a", plots.COLORS["a"], "o"),
              (r"gradient $\|\partial L/\partial a^l\|$", "da", plots.COLORS["da"], "s"),
              (r"weight gradient $\|\partial L/\partial W^l\|$", "dW", plots.OKABE_ITO["black"], "D"))
    with plots.style():
        for ax, (name, r) in zip(axes, runs.items()):
            plots.tidy(ax)
            iv = r.initial
            values = {"a": iv.a_norm, "da": iv.da_norm, "dW": iv.stats.grad_norm}
            layers = np.arange(1, len(iv.a_norm) + 1)
            for text, key, color, marker in series:
                ax.plot(layers, plots.positive_finite(values[key]), marker=marker, ms=4, color=color,
                        lw=2.4 if key == "dW" else 1.5, label=text, gid=f"{key}:{name}")
            ax.set_yscale("log")
            plots.layer_axis(ax, len(layers))
            ax.set_xlabel("hidden layer $l$")
            step = iv.relative_step(r.settings["lr"])
            ax.set_title(f"{name}\nfirst step changes $W^l$ by {np.nanmin(step):.2g} to {np.nanmax(step):.2g} "
                         "of its size", fontsize=10)
        axes[0].set_ylabel("norm over the batch (log scale)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9.5, frameon=False)
        fig.suptitle(f"At initialisation, {r.settings['depth']} hidden layers x {r.settings['width']} units, "
                     f"256 digits, SGD lr {r.settings['lr']:g}", fontsize=11.5)
    return fig


@figure("per_layer_factors")
def per_layer_factors(factors=None):
    """Each cure of chapters 02-06 as what it does to one number: the per-layer factor of the gradient's size."""
    f = factors if factors is not None else cure_factors()
    K = len(f.labels)
    fig, ax = plots.new_figure(figsize=(11.0, 0.42 * K + 1.9))
    plots.tidy(ax)
    y = np.arange(K)[::-1]
    lo, hi = 0.1, 2.6
    with plots.style():
        ax.axvspan(lo, 0.9, color="0.5", alpha=0.09, lw=0, gid="band:vanishes")
        ax.axvspan(1 / 0.9, hi, color="0.5", alpha=0.09, lw=0, gid="band:explodes")
        ax.axvline(1.0, color="0.3", lw=1.2, zorder=1)
        ax.text(0.105, K - 0.45, "the gradient vanishes (factor < 0.9)", fontsize=9, color="0.3", va="bottom")
        ax.text(1.0, K - 0.45, "within 10 % of 1", fontsize=9, color="0.3", va="bottom", ha="center",
                bbox=dict(fc="white", ec="none", pad=1.0))
        ax.text(hi * 0.985, K - 0.45, "explodes (> 1/0.9)", fontsize=9, color="0.3", va="bottom", ha="right")
        seen = set()
        for yi, cure, c, m, p in zip(y, f.labels, f.chapters, f.measured, f.predicted):
            color = plots.OKABE_ITO[_CHAPTER_COLORS.get(int(c), "black")]
            name = _CHAPTER_NAMES.get(int(c), f"chapter {c}")
            ax.plot([1.0, m], [yi, yi], color=color, lw=2.5, alpha=0.35, solid_capstyle="butt", zorder=2)
            ax.plot([m], [yi], "o", ms=8, color=color, zorder=4, gid=f"measured:{cure}",
                    label=None if name in seen else name)
            seen.add(name)
            if np.isfinite(p):
                ax.plot([p], [yi], "|", ms=16, mew=1.6, color="black", zorder=5, gid=f"predicted:{cure}")
            ax.text(hi * 1.04, yi, f"x{m:.2f}   {m ** (f.depth - 1):.2g}", va="center", fontsize=9, color="0.2",
                    gid=f"value:{cure}")
        ax.plot([], [], "|", ms=12, mew=1.6, color="black",
                label=r"theory: $\sqrt{\chi_1} = \sqrt{n\,\mathrm{Var}(W)\,E[\varphi'(z)^2]}$;  with batch norm "
                      r"$\sqrt{E[\varphi'(u)^2]\,/\,\mathrm{Var}(\varphi(u))}$, $u \sim N(0, 1)$")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [0.1, 0.15, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 2.5]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_yticks(y, f.labels)
        ax.set_ylim(-0.7, K + 0.1)
        ax.text(hi * 1.04, K - 0.3, f"factor  factor$^{{{f.depth - 1}}}$", fontsize=9, color="0.2", va="center")
        ax.set_xlabel("per-layer factor of the gradient's size at initialisation (log scale): dot measured, "
                      "bar theory")
        ax.set_title(f"{f.depth} hidden layers x {f.width} units, probed with standard-normal numbers: "
                     "what each cure does to the factor", fontsize=11.5)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    return fig
