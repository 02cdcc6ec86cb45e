"""Chapter 02's figures: the static figures the notebook shows (each registered with ``@figure``) and
the drawings they share with the explorers.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ... import plots
from ...activations import sigmoid, sigmoid_grad
from ...figures import figure
from ...theory import saturation_onset, sigmoid_slope_log10
from .experiments import _WIDTH, _relu_flow, _sigmoid_digits_flow, compare_depths, depth_sweep, relu_digits_flows


# Every figure accepts the results it draws, so a notebook that computed them does not compute them twice.

#: How each curve of :func:`plot_gradient_ratio` is drawn: label, colour, line style, marker.
RATIO_CURVES = {
    "measured": (r"measured $\|\partial L/\partial a^l\| \,/\, \|\partial L/\partial a^L\|$",
                 plots.COLORS["da"], "-", "o"),
    "slope_bound": (r"slopes alone at their best: $(\max\varphi')^{L-l}$", "0.15", "--", None),
    "typical": (r"typical: $\prod_{k>l}$ rms slope$^k$ $\times$ weight gain$^k$", plots.OKABE_ITO["sky_blue"], ":",
                None),
    "bound": (r"worst case: $\prod_{k>l} \max\varphi' \, \|W^k\|_2$", plots.OKABE_ITO["purple"], "-.", None),
}


def gradient_ratio_curves(flow) -> dict:
    """Per layer l (array index l-1), the gradient at layer l relative to the top layer L, measured and bounded.

    Parameters
    ----------
    flow : :class:`GradientFlow`

    Returns
    -------
    dict of float arrays, shape (L,), each 1 at layer L:
    ``'measured'`` ||dL/da^l|| / ||dL/da^L||; ``'slope_bound'`` (max phi')^(L-l), the most the
    slopes of layers l+1..L allow; ``'typical'`` the product of rms slope x weight gain of
    layers l+1..L; ``'bound'`` the product of max phi' x ||W^k||_2 over the same layers, which
    the measured curve can never exceed. NaN where the values were not finite.
    """
    L = flow.depth
    with np.errstate(all="ignore"):
        measured = np.asarray(flow.da_norm, float) / float(flow.da_norm[-1])
        k = np.arange(L - 1, -1, -1, dtype=float)  # layers crossed from L down to l
        slopes_alone = float(flow.max_slope) ** k

        def from_top(factors):
            f = np.asarray(factors, float)[1:]  # layers 2..L carry da^L down to da^1
            return np.append(np.cumprod(f[::-1])[::-1], 1.0)

        typical = from_top(np.asarray(flow.rms_slope) * np.asarray(flow.weight_gain))
        bound = from_top(float(flow.max_slope) * np.asarray(flow.weight_norm))
    return {"measured": plots.finite_or_nan(measured), "slope_bound": plots.finite_or_nan(slopes_alone),
            "typical": plots.finite_or_nan(typical), "bound": plots.finite_or_nan(bound)}


@plots.styled
def plot_gradient_ratio(flow, ax=None, *, curves=("measured", "slope_bound", "typical", "bound"), legend=True,
                        title=None):
    """The gradient reaching each layer, relative to the top layer, against what slopes and weights allow.

    Log scale; layer 1 on the left. Lines have gid ``'ratio:<curve>'`` (see :data:`RATIO_CURVES`);
    an overflow is marked as in :func:`gradviz.plots.mark_overflow`. Returns the Axes.
    """
    ax = plots.prepare_axes(ax)
    data = gradient_ratio_curves(flow)
    layers = np.arange(1, flow.depth + 1)
    for name in curves:
        label, color, ls, marker = RATIO_CURVES[name]
        y = plots.mask_overflowed(plots.positive_finite(data[name]), "da", flow.overflow) if name == "measured" \
            else plots.positive_finite(data[name])
        # the typical product follows the measurement closely: draw it on top, thin, so both stay visible
        ax.plot(layers, y, ls=ls, marker=marker, color=color, label=label, gid=f"ratio:{name}",
                lw={"measured": 2.2, "typical": 2.6}.get(name, 1.6), ms=6,
                zorder={"measured": 3, "typical": 4}.get(name, 2))
    plots.log_scale(ax)
    ax.set_ylabel("gradient relative to layer $L$ (log scale)")
    plots.layer_axis(ax, flow.depth)
    plots.mark_overflow(ax, flow.overflow, flow.depth)
    if legend:
        ax.legend(loc="lower right", fontsize=9)
    if title:
        ax.set_title(title)
    return ax


#: How :func:`plot_layer_norms` draws each quantity: label, colour, marker.
NORM_STYLES = {
    "a": (r"activations $\|a^l\|$ (forward)", plots.COLORS["a"], "o"),
    "da": (r"gradients $\|\partial L/\partial a^l\|$ (backward)", plots.COLORS["da"], "o"),
    "dW": (r"weight gradients $\|\partial L/\partial W^l\|$", plots.OKABE_ITO["green"], "s"),
}


@plots.styled
def plot_layer_norms(flow, ax=None, *, quantities=("a", "da"), title=None, legend=True, suffix="", **line_kw):
    """Norms per layer of the activations ||a^l||, the gradients ||dL/da^l|| and ||dL/dW^l|| (log scale).

    ``quantities`` are keys of :data:`NORM_STYLES`; ``suffix`` is appended to each label and gid,
    ``line_kw`` go to every line. Layers an overflow spoiled are not drawn; the band of
    :func:`gradviz.plots.mark_overflow` says where. Lines have gid ``'norm:<quantity><suffix>'``.
    Returns the Axes.
    """
    ax = plots.prepare_axes(ax)
    layers = np.arange(1, flow.depth + 1)
    for q in quantities:
        label, color, marker = NORM_STYLES[q]
        v = plots.mask_overflowed(plots.positive_finite(getattr(flow, f"{q}_norm")),
                                   "grad_norm" if q == "dW" else q, flow.overflow)
        kw = dict(marker=marker, ms=4, color=color, label=label + suffix, gid=f"norm:{q}{suffix}")
        kw.update(line_kw)
        ax.plot(layers, v, **kw)
    plots.log_scale(ax)
    ax.set_ylabel("norm over the batch (log scale)")
    plots.layer_axis(ax, flow.depth)
    plots.mark_overflow(ax, flow.overflow, flow.depth)
    if legend:
        ax.legend(loc="lower left", fontsize=9)
    if title:
        ax.set_title(title)
    return ax


@figure("sigmoid_slope_and_saturation")
def sigmoid_slope_and_saturation():
    """The sigmoid and its slope (never above 1/4), the saturated tails, and how small the slope gets at z = 1000."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.5, 4.4), width_ratios=[1.15, 1])
    with plots.style():
        plots.plot_activation("sigmoid", ax=a1, x_range=(-8, 8))
        a1.axhline(0.25, color="0.3", lw=1, ls=":", zorder=1)
        a1.text(-7.8, 0.265, r"largest slope: $\sigma'(0) = 1/4$", fontsize=9, color="0.25")
        for z in (1.0, 6.0):
            d = float(sigmoid_grad(z))
            a1.plot([z], [d], "o", color="black", ms=5, zorder=5)
            a1.annotate(rf"$\sigma'({z:g}) = {d:.3g}$", (z, d), xytext=(z + 0.3, d + 0.12), fontsize=9,
                        arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8))
            a1.plot([z], [float(sigmoid(z))], "o", color="black", ms=5, zorder=5)
        zs = saturation_onset("sigmoid")
        a1.set_title(rf"sigmoid: saturated (shaded) where $|z| > {zs:.3g}$")
        a1.set_ylim(-0.05, 1.12)

        z = np.linspace(0, 1000, 1001)
        a2.plot(z, sigmoid_slope_log10(z), color=plots.COLORS["dphi"], gid="log10_slope",
                label=r"$\log_{10} \sigma'(z)$, computed exactly")
        tiny = np.log10(np.finfo(np.float64).smallest_subnormal)
        a2.axhspan(-480, tiny, color=plots.COLORS["shade"], lw=0, zorder=0,
                   label=rf"no float64 exists below $10^{{{tiny:.1f}}}$: stored as 0")
        a2.axhline(np.log10(0.25), color="0.3", lw=1, ls=":")
        for zz in (6.0, 1000.0):
            v = sigmoid_slope_log10(zz)
            a2.plot([zz], [v], "o", color="black", ms=5, zorder=5)
            a2.annotate(rf"$\sigma'({zz:g}) \approx 10^{{{v:.1f}}}$", (zz, v),
                        xytext=(zz - 330 if zz > 500 else zz + 60, v - 40 if zz > 500 else v - 30), fontsize=9,
                        arrowprops=dict(arrowstyle="-", color="0.4", lw=0.8))
        a2.set_xlim(-20, 1020)
        a2.set_ylim(-480, 30)
        a2.set_xlabel("pre-activation $z$")
        a2.set_ylabel(r"$\log_{10}$ of the slope $\sigma'(z)$")
        a2.set_title(r"the slope on a log scale, out to $z = 1000$")
        a2.legend(loc="upper right", fontsize=9)
    return fig


@figure("sigmoid_gradient_per_layer")
def sigmoid_gradient_per_layer(flow=None):
    """A 10-layer sigmoid MLP on a batch of digits, at initialisation: weight-gradient norm per layer, and the
    gradient relative to the top layer against the slope bound, the typical product and the worst case."""
    flow = _sigmoid_digits_flow(flow)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.5, 4.6), width_ratios=[1, 1.25])
    with plots.style():
        layers = flow.layer
        ok = np.isfinite(flow.dW_norm) & (flow.dW_norm > 0)
        a1.bar(layers[ok], flow.dW_norm[ok], width=0.75, color=plots.COLORS["grad_norm"], gid="bars")
        a1.set_yscale("log")
        a1.set_ylabel(r"$\|\partial L/\partial W^l\|$ (log scale)")
        plots.layer_axis(a1, flow.depth)
        a1.set_title("what SGD would apply to each layer's weights")
        plot_gradient_ratio(flow, ax=a2, title=r"the gradient $\partial L/\partial a^l$ on its way down")
    fig.suptitle(f"sigmoid MLP, {flow.depth} hidden layers x {_WIDTH} units, Glorot init, untrained; "
                 "cross-entropy on 256 digits", fontsize=12)
    return fig


@figure("vanishing_with_depth")
def vanishing_with_depth(sweep=None, depths=(5, 10, 20, 30)):
    """Sigmoid MLPs of several depths on the digits: the deeper the net, the less reaches layer 1, because the
    gradient shrinks by about the same factor at every layer it crosses."""
    if sweep is None:
        sweep = depth_sweep(depths, width=_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(13.5, 4.8))
    with plots.style():
        cmap = mpl.colormaps["plasma"]
        markers = ["o", "s", "^", "D", "v", "P"]
        items = sorted(sweep.items(), reverse=True)  # deepest first, so the shallow ones are drawn on top
        n = len(items)
        for i, (L, flow) in enumerate(items):
            color = cmap(0.8 * (n - 1 - i) / max(n - 1, 1))
            rel = plots.positive_finite(flow.da_norm / flow.da_norm[-1])
            style = dict(marker=markers[(n - 1 - i) % len(markers)], ms=5, color=color, lw=1.8)
            a1.plot(flow.layer, rel, gid=f"layer:{L}", label=f"L = {L}: layer 1 gets {rel[0]:.2g} x the top's",
                    **style)
            a2.plot(np.arange(L - 1, -1, -1), rel, gid=f"crossed:{L}", label=f"L = {L}", **style)
        kmax = max(sweep) - 1
        kk = np.arange(0, kmax + 1)
        a2.plot(kk, 0.25 ** kk, "--", color="0.15", lw=1.6, gid="slope_bound", label=r"$(1/4)^k$: slopes at their best")
        for ax in (a1, a2):
            ax.set_yscale("log")
            ax.set_ylabel(r"$\|\partial L/\partial a^l\| \,/\, \|\partial L/\partial a^L\|$ (log scale)")
        plots.layer_axis(a1, kmax + 1)
        a1.set_title("against the layer: the deeper the net, the less reaches layer 1", fontsize=11)
        h, lab = a1.get_legend_handles_labels()
        a1.legend(h[::-1], lab[::-1], loc="lower right", fontsize=9)
        a2.set_xlabel(r"layers crossed on the way down, $k = L - l$")
        a2.set_title("against the layers crossed: one straight line for every depth", fontsize=11)
        h, lab = a2.get_legend_handles_labels()
        a2.legend(h[-2::-1] + h[-1:], lab[-2::-1] + lab[-1:], loc="lower left", fontsize=9)
        fig.suptitle(f"untrained sigmoid MLPs, {_WIDTH} units per layer, Glorot init, cross-entropy on 256 digits",
                     fontsize=12)
    return fig


def _sci(x, digits=2):
    """``x`` in short scientific notation for a figure: 1.3e9, 4.2e-18 (no '+' and no leading zeros)."""
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mant}e{int(exp)}"


@figure("weight_gradients_vanish_or_not")
def weight_gradients_vanish_or_not(sigmoid=None, relu=None):
    """The weight gradients ||dL/dW^l|| beside the back-propagated ||dL/da^l|| and the activations ||a^l||: they
    fall together in the 10-layer sigmoid net on the digits, but not in the 30-layer ReLU net with weights 2x He,
    whose weight gradients keep the profile of the He net (1x He drawn for scale), every layer's about 1e9 times
    larger."""
    sigmoid = _sigmoid_digits_flow(sigmoid)
    relu = relu if relu is not None else relu_digits_flows((1.0, 2.0))
    big, base = relu[max(relu)], relu[min(relu)]
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.0, 4.8))
    plot_layer_norms(sigmoid, ax=a1, quantities=("a", "da", "dW"), legend=False,
                     title=f"sigmoid, Glorot weights, {sigmoid.depth} layers: vanishing")
    plot_layer_norms(big, ax=a2, quantities=("a", "da", "dW"), legend=False,
                     title=f"ReLU, weights {max(relu):g}x He, {big.depth} layers: exploding")
    plot_layer_norms(base, ax=a2, quantities=("dW",), legend=False, suffix=f" at {min(relu):g}x He",
                     ls="--", mfc="white", lw=1.6)
    with plots.style():
        a1.set_ylim(1e-8, 1e4)
        a1.legend(loc="lower right", fontsize=9)
        # how much larger every layer's weight gradient is at the larger scale: one arrow, one factor range
        ratio = big.dW_norm / base.dW_norm
        k = int(0.6 * big.depth)
        a2.annotate("", xy=(k, big.dW_norm[k - 1]), xytext=(k, base.dW_norm[k - 1]), gid="dW_gap",
                    arrowprops=dict(arrowstyle="<->", color="0.3", lw=1.2, shrinkA=4, shrinkB=4))
        a2.text(k + 0.5, np.sqrt(big.dW_norm[k - 1] * base.dW_norm[k - 1]),
                f"x {_sci(np.nanmin(ratio))} to {_sci(np.nanmax(ratio))}\nin every layer", fontsize=9,
                va="center", color="0.2", gid="dW_gap_text", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
        a2.set_ylim(1e-2, 1e15)
        a2.legend(loc="upper center", fontsize=9, ncols=2)
        fig.suptitle("untrained MLPs, cross-entropy on 256 digits: where do the weight gradients go?", fontsize=12)
    return fig


@figure("float32_overflow")
def float32_overflow(overflow=None):
    """A ReLU MLP with weights 10x the He scale in float32: the activations grow about 10x per layer until
    they pass float32's largest number, and from then on every value is inf or nan."""
    overflow = overflow if overflow is not None else _relu_flow(10.0, 50, np.float32)
    big = float(np.finfo(np.float32).max)
    fig, ax = plots.new_figure(1, 1, figsize=(9.0, 4.6))
    plot_layer_norms(overflow, ax=ax, legend=False,
                     title=f"ReLU, weights 10x He, {overflow.depth} layers x 128 units, in float32\n"
                           "standard-normal input and upstream gradient, 128 examples")
    with plots.style():
        # The norms sum 128 x 128 entries (in float64), so they can pass float32's limit a layer or two before
        # any single entry does: the dotted line marks the limit for one entry, not for the norm.
        n_entries = 128 * 128
        ax.axhline(big, color="0.3", ls=":", lw=1, gid="float32_max",
                   label=f"largest float32 number, {big:.2g}: a single entry above it overflows\n"
                         f"(the norm sums {n_entries:,} entries, so it passes this line before any entry does)")
        ax.set_ylabel("norm over the batch (log scale, float64 sum)")
        ax.set_ylim(top=max(ax.get_ylim()[1], big * 1e14))  # room for the legend above the dotted line
        # the legend lists only what is drawn: no gradient line when the forward pass overflowed
        handles, labels = ax.get_legend_handles_labels()
        drawn = [(h, lab) for h, lab in zip(handles, labels)
                 if not hasattr(h, "get_ydata") or np.isfinite(np.asarray(h.get_ydata(), dtype=float)).any()]
        ax.legend(*zip(*drawn), loc="upper left", fontsize=9)
        if not np.isfinite(overflow.da_norm).any():
            k = overflow.first_nonfinite or overflow.depth
            ax.text((k - 1) / overflow.depth - 0.02, 0.05,  # just left of the band (x limits 0.5 .. L + 0.5)
                    "no gradient drawn: the forward pass\noverflowed, so the loss and every\ngradient are inf or nan",
                    transform=ax.transAxes, fontsize=9, color="0.25", va="bottom", ha="right", gid="no_gradient")
    return fig


@figure("sigmoid_saturation_by_scale")
def sigmoid_saturation_by_scale(flows=None, scales=(1.0, 4.0, 16.0)):
    """A 10-layer sigmoid MLP on the digits with weights 1x, 4x and 16x Glorot: saturated units, rms slope and
    the gradient per layer."""
    if flows is None:
        flows = {s: _sigmoid_digits_flow(weight_scale=s) for s in scales}
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(12.5, 4.4))
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("blue", "orange", "vermillion", "green", "purple")]
        for (s, flow), c in zip(sorted(flows.items()), colors):
            lab = f"weights {s:g}x Glorot"
            a1.plot(flow.layer, 100 * flow.saturated_fraction, "s-", ms=4, color=c, label=lab, gid=f"saturated:{s:g}")
            a2.plot(flow.layer, flow.rms_slope, "o-", ms=4, color=c, label=lab, gid=f"slope:{s:g}")
            a3.plot(flow.layer, plots.positive_finite(flow.da_norm / flow.da_norm[-1]), "o-", ms=4, color=c,
                    label=lab, gid=f"ratio:{s:g}")
        depth = next(iter(flows.values())).depth
        a1.set_ylim(-3, 103)
        a1.set_ylabel("saturated units (%)")
        a1.set_title("units on the flat tails")
        a2.axhline(0.25, color="0.3", ls=":", lw=1)
        a2.set_ylim(0, 0.27)
        a2.set_ylabel(r"rms of the slope $\sigma'(z^l)$")
        a2.set_title(r"the slopes (never above 1/4, dotted)")
        a3.axhline(1.0, color="0.3", ls=":", lw=1)
        a3.set_yscale("log")
        a3.set_ylabel(r"$\|\partial L/\partial a^l\| \,/\, \|\partial L/\partial a^L\|$ (log)")
        a3.set_title("the gradient relative to the top layer")
        for ax in (a1, a2, a3):
            plots.layer_axis(ax, depth)
        a1.legend(loc="upper right", fontsize=9)
        fig.suptitle(f"sigmoid MLP, {depth} hidden layers x {_WIDTH} units, untrained, 256 digits", fontsize=12)
    return fig


@figure("sigmoid_training_first_layers")
def sigmoid_training_first_layers(runs=None):
    """Sigmoid MLPs trained on the digits: test accuracy, how far each layer's weights moved, and the
    weight-gradient norm per layer during training."""
    runs = runs if runs is not None else compare_depths()
    labels = list(runs)
    deep_label = max(labels, key=lambda k: runs[k].history.depth)
    deep, change = runs[deep_label].history, runs[deep_label].change
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(13.0, 4.5), width_ratios=[1, 1, 1.15])
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue", "orange")]
        for (label, run), c in zip(runs.items(), colors):
            h = run.history
            a1.plot(h.record_steps, 100 * plots.finite_or_nan(h.test_accuracy), "-", color=c, label=label, gid=f"acc:{label}")
        plots.mark_diverged_accuracy(a1, {label: run.history for label, run in runs.items()})  # none diverges by default
        a1.axhline(10, color="0.5", lw=1, ls=":")
        a1.text(0.99, 10, "chance", transform=a1.get_yaxis_transform(), ha="right", va="bottom", fontsize=8,
                color="0.4")
        a1.set_ylim(0, 100)
        a1.set_xlabel("training step")
        a1.set_ylabel("test accuracy (%)")
        a1.set_title("learning the digits", fontsize=11)
        a1.legend(loc="upper left", fontsize=9)  # clear of both curves (the 3-layer one rises on the right)
        ok = np.isfinite(change) & (change > 0)
        layers = np.arange(1, len(change) + 1)
        a2.bar(layers[ok], change[ok], width=0.75, color=plots.OKABE_ITO["blue"], gid="change")
        a2.set_yscale("log")
        a2.set_ylabel(r"$\|W^l_{end} - W^l_{start}\| \,/\, \|W^l_{start}\|$ (log scale)")
        plots.layer_axis(a2, len(change))
        a2.set_title("how far each layer's weights moved", fontsize=11)
    plots.plot_layer_stat_over_steps(deep.record_steps, deep.grad_norm, ax=a3, label=r"$\|\partial L/\partial W^l\|$",
                                     title="weight-gradient norm per layer")
    a3.title.set_fontsize(11)
    with plots.style():
        cfg = deep.config
        fig.suptitle(f"{_WIDTH} units per layer, Glorot init, SGD lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
                     f"{cfg['steps']} steps; middle and right: {deep_label}", fontsize=12)
    return fig
