"""Chapter 05's figures: the per-layer mean and standard deviation of a deep network's activations, and
the (mean, variance) map of SELU (Klambauer et al. 2017, Fig. 2) with its fixed point and iterated
trajectories; the static figures are registered with ``@figure``, and the drawings are shared with the
explorers.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from ... import plots
from ...activations import SELU_ALPHA, SELU_SCALE, elu, elu_grad, relu, relu_grad, selu, selu_grad
from ...figures import figure
from ...theory import selu_fixed_point, selu_fixed_point_map, selu_map_trajectory
from .experiments import (SELU_CONDITIONS, LayerMoments, condition_runs, digits_moments, dropout_on_selu,
                          dropout_runs, seed_runs)


#: Colour of the targets (mean 0, std 1) and of the fixed point.
TARGET_COLOR = "0.35"


def moments_axes(ax_mean, ax_std, depth, *, mean_lim=(-1.0, 1.0), std_lim=(0.3, 3.0)):
    """Scales, targets and labels of the two panels of :func:`plot_layer_moments`.

    The mean panel is linear between -1 and 1 and logarithmic beyond (symlog), so that a mean of
    0.05 and one of 1e16 are both readable; the std panel is logarithmic. The y limits cover at least
    ``mean_lim`` and ``std_lim`` and grow to fit the data already drawn (call it after drawing).
    """
    for ax in (ax_mean, ax_std):
        plots.tidy(ax)
        plots.layer_axis(ax, depth)
    ax_mean.set_yscale("symlog", linthresh=1.0, linscale=1.5)
    ax_std.set_yscale("log")
    for ax, target, lim in ((ax_mean, 0.0, mean_lim), (ax_std, 1.0, std_lim)):
        plots.remove_gid(ax, "target")
        ax.axhline(target, color=TARGET_COLOR, lw=1.2, ls=(0, (4, 3)), zorder=1, gid="target")
        ys = [np.asarray(ln.get_ydata(), float) for ln in ax.lines if ln.get_gid() != "target" and ln.get_visible()]
        ys = np.concatenate(ys) if ys else np.array([])
        ys = ys[np.isfinite(ys)]
        if ax is ax_std:
            ys = ys[ys > 0]
        lo, hi = lim
        if ys.size:
            lo, hi = min(lo, ys.min()), max(hi, ys.max())
        if ax is ax_std:
            ax.set_ylim(lo / 1.3, hi * 1.3)
        else:
            pad = 0.1 * (hi - lo) if hi - lo < 3 else 0.0
            ax.set_ylim(lo - pad if lo > -1.5 else lo * 3, hi + pad if hi < 1.5 else hi * 3)
    _symlog_ticks(ax_mean)
    _log_ticks(ax_std)
    ax_mean.set_ylabel("mean of $h^l$ (symlog scale)")
    ax_std.set_ylabel("std of $h^l$ (log scale)")


def _log_ticks(ax, max_ticks=6):
    """Readable ticks on a log y axis: 0.3, 0.5, 1, 2, 3 when it spans little, else whole decades."""
    lo, hi = ax.get_ylim()
    if np.log10(hi / lo) < 1.6:
        cand = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 20, 30, 50])
        ticks = cand[(cand >= lo) & (cand <= hi)]
    else:
        k0, k1 = int(np.ceil(np.log10(lo))), int(np.floor(np.log10(hi)))
        step = max(1, int(np.ceil((k1 - k0 + 1) / max_ticks)))
        ticks = 10.0 ** np.arange(k0, k1 + 1, step)
    ax.yaxis.set_major_locator(mpl.ticker.FixedLocator(ticks))
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if 1e-3 <= v < 1e4 else f"$10^{{{int(round(np.log10(v)))}}}$"))


def _symlog_ticks(ax, max_ticks=5):
    """Ticks of a symlog axis (linthresh 1): -1, 0, 1 and at most ``max_ticks`` decades each side."""
    lo, hi = ax.get_ylim()
    ticks = [0.0]
    for sign, end in ((1, hi), (-1, -lo)):
        if end < 1:
            continue
        top = int(np.floor(np.log10(end)))
        step = max(1, int(np.ceil(top / max_ticks)))
        ticks += [sign * 10.0**k for k in range(0, top + 1, step)]
    if np.log10(max(abs(lo), abs(hi), 1.0)) > 6:  # the linear part is then a thin band: -1, 0, 1 would overlap
        ticks = [t for t in ticks if abs(t) != 1.0]
    ax.yaxis.set_major_locator(mpl.ticker.FixedLocator(sorted(ticks)))
    ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(
        lambda v, _: "0" if v == 0 else (f"{v:g}" if abs(v) < 1e3 else
                                         ("-" if v < 0 else "") + f"$10^{{{int(round(np.log10(abs(v))))}}}$")))


@plots.styled
def plot_layer_moments(moments, axes=None, *, colors=None, linestyles=None, linewidths=None, labels=None,
                       band=False, legend=True, markers=False):
    """Per-layer mean (left) and standard deviation (right) of hidden-block outputs, with targets 0 and 1.

    Parameters
    ----------
    moments : LayerMoments or sequence of LayerMoments
        From :func:`layer_moments` (pooled over examples and units).
    axes : (Axes, Axes) or None
        Where to draw the mean and the std; None makes a new figure.
    colors, linestyles, linewidths, labels : sequences or None
        One entry per element of ``moments`` (labels default to each ``.label``; a label
        starting with ``_`` is left out of the legend).
    band : bool
        Also shade the spread over units (``unit_mean_low..high`` and ``unit_std_low..high``).
    legend : bool
    markers : bool
        Small markers on the measured points.

    Returns
    -------
    (Axes, Axes)
        Lines of gid ``'mean:<i>'`` and ``'std:<i>'`` (i = position in ``moments``); targets of gid
        ``'target'``. A layer whose output was not finite is not drawn.
    """
    if isinstance(moments, LayerMoments):
        moments = [moments]
    if axes is None:
        _, axes = plots.new_figure(1, 2, figsize=(10.0, 3.8), pyplot=True)
    ax_mean, ax_std = axes
    n = len(moments)
    colors = colors or [plots.CYCLE[i % len(plots.CYCLE)] for i in range(n)]
    linestyles = linestyles or ["-"] * n
    linewidths = linewidths or [1.8] * n
    labels = labels or [m.label for m in moments]
    depth = max(m.depth for m in moments)
    for i, m in enumerate(moments):
        kw = dict(color=colors[i], ls=linestyles[i], lw=linewidths[i], marker="o" if markers else None, ms=3)
        ax_mean.plot(m.layer, plots.finite_or_nan(m.mean), label=labels[i], gid=f"mean:{i}", **kw)
        ax_std.plot(m.layer, plots.positive_finite(m.std), label=labels[i], gid=f"std:{i}", **kw)
        if band:
            ax_mean.fill_between(m.layer, plots.finite_or_nan(m.unit_mean_low), plots.finite_or_nan(m.unit_mean_high),
                                 color=colors[i], alpha=0.15, lw=0, gid=f"band:mean:{i}")
            ax_std.fill_between(m.layer, plots.positive_finite(m.unit_std_low),
                                plots.positive_finite(m.unit_std_high), color=colors[i], alpha=0.15, lw=0,
                                gid=f"band:std:{i}")
    moments_axes(ax_mean, ax_std, depth)
    if legend:
        ax_std.legend(loc="best", fontsize=9)
    return ax_mean, ax_std


@plots.styled
def plot_selu_map(ax=None, *, omega=0.0, tau=1.0, mean_range=(-1.0, 1.0), var_range=(0.1, 3.0), grid=(7, 7),
                  starts=((0.9, 2.8), (-0.9, 0.15), (-0.6, 2.0), (0.6, 0.5)), n_steps=10, measured=None,
                  measured_label="measured, one dot per layer", legend=True):
    """The moment map g: (mu, nu) -> (mu~, nu~) of a SELU layer as arrows, with trajectories and the fixed point.

    Each grey arrow goes from a point (mu, nu) of a grid to g(mu, nu)
    (:func:`gradviz.theory.selu_fixed_point_map`): where one layer takes the
    mean and variance of its input. This is the picture of Klambauer et al.
    (2017), Fig. 2 (there for omega = 0, tau = 1). Coloured polylines follow
    ``n_steps`` applications of g from each of ``starts``
    (:func:`gradviz.theory.selu_map_trajectory`); the star is the fixed point
    (:func:`gradviz.theory.selu_fixed_point`).

    Parameters
    ----------
    ax : Axes or None
    omega, tau : float
        Weight sums of the map.
    mean_range, var_range : (low, high)
        Extent of the arrow grid (var_range low > 0).
    grid : (int, int)
        Arrows along mu and along nu.
    starts : sequence of (mu, nu)
        Where the trajectories start.
    n_steps : int
    measured : (means, variances) or None
        Points to overlay, e.g. a network's per-layer mean and variance.
    measured_label : str
    legend : bool

    Returns
    -------
    Axes with the quiver (gid ``'arrows'``), trajectory lines (gid ``'trajectory:<i>'``), the
    fixed point (gid ``'fixed_point'``) and the measured points (gid ``'measured'``).
    """
    ax = plots.prepare_axes(ax, figsize=(6.4, 5.0))
    mu = np.linspace(*mean_range, grid[0])
    nu = np.linspace(*var_range, grid[1])
    M, V = np.meshgrid(mu, nu)
    M2, V2 = selu_fixed_point_map(M, V, omega, tau)
    ax.quiver(M, V, M2 - M, V2 - V, angles="xy", scale_units="xy", scale=1.0, color="0.6", width=0.0032,
              headwidth=4.5, headlength=5, alpha=0.8, zorder=2, gid="arrows")
    traj_colors = [plots.OKABE_ITO[k] for k in ("vermillion", "blue", "green", "purple", "orange", "sky_blue")]
    for i, (m0, v0) in enumerate(starts):
        t = selu_map_trajectory(m0, v0, n_steps, omega, tau)
        c = traj_colors[i % len(traj_colors)]
        ax.plot(t[:, 0], t[:, 1], "-o", color=c, ms=3.5, lw=1.3, zorder=4, gid=f"trajectory:{i}",
                label=f"start ({m0:g}, {v0:g})")
        ax.plot([m0], [v0], "o", ms=8, mfc="white", mec=c, mew=2, zorder=5)
    if measured is not None:
        ax.plot(np.asarray(measured[0], float), np.asarray(measured[1], float), ".", color="black", ms=4,
                alpha=0.6, zorder=6, gid="measured", label=measured_label)
    fp = selu_fixed_point(omega, tau)
    if fp.converged:
        ax.plot([fp.mean], [fp.var], "*", ms=17, color="gold", mec="black", mew=1.0, zorder=7, gid="fixed_point",
                label=f"fixed point ({round(fp.mean, 2) + 0.0:.2f}, {fp.var:.2f})")
    ax.set_xlim(mean_range[0] - 0.08, mean_range[1] + 0.08)
    ax.set_ylim(0, var_range[1] + 0.15)
    ax.set_xlabel(r"mean $\mu$ of the layer's input")
    ax.set_ylabel(r"variance $\nu$ of the layer's input")
    ax.set_title(rf"one SELU layer maps $(\mu, \nu)$ to $g(\mu, \nu)$  ($\omega$ = {omega:g}, $\tau$ = {tau:g})",
                 fontsize=11)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=3, fontsize=8.5, frameon=False)
    return ax


@figure("selu_activation")
def selu_activation():
    """SELU beside ELU and ReLU: the negative saturation value -lambda*alpha and the slope lambda > 1."""
    fig, (ax_f, ax_d) = plots.new_figure(1, 2, figsize=(11.0, 4.0))
    z = np.linspace(-5, 3, 1601)
    c_selu, c_elu, c_relu = plots.OKABE_ITO["blue"], plots.OKABE_ITO["green"], "0.55"
    sat = -SELU_SCALE * SELU_ALPHA
    with plots.style():
        for ax in (ax_f, ax_d):
            plots.tidy(ax)
            ax.axhline(0, color="0.3", lw=0.8, zorder=1)
            ax.axvline(0, color="0.3", lw=0.8, zorder=1)
            ax.set_xlim(z[0], z[-1])
            ax.set_xlabel("pre-activation $z$")
        # ReLU wide and light, underneath: on the right it coincides with ELU's dashed line
        ax_f.plot(z, relu(z), color=c_relu, lw=4.5, alpha=0.6, label="ReLU", gid="relu")
        ax_f.plot(z, elu(z, 1.0), color=c_elu, lw=1.5, ls="--", label=r"ELU ($\alpha$ = 1)", gid="elu")
        ax_f.plot(z, selu(z), color=c_selu, lw=2.4, label="SELU", gid="selu")
        ax_f.axhline(sat, color=c_selu, lw=1, ls=":", gid="saturation")
        ax_f.text(2.9, sat + 0.12, rf"$-\lambda\alpha$ = {sat:.4f}", ha="right", va="bottom", color=c_selu, fontsize=10)
        ax_f.set_ylim(-2.2, 3.3)
        ax_f.set_ylabel(r"$\varphi(z)$")
        ax_f.set_title(r"SELU: $\lambda z$ for $z > 0$, $\lambda\alpha(e^z - 1)$ for $z \leq 0$", fontsize=11)
        ax_f.legend(loc="upper left", fontsize=9)
        zl, zr = z[z <= 0], z[z > 0]  # draw each piece on its own side: the slopes jump at 0
        for piece in (zl, zr):
            ax_d.plot(piece, relu_grad(piece), color=c_relu, lw=4.5, alpha=0.6, label="ReLU" if piece is zl else None)
            ax_d.plot(piece, elu_grad(piece, 1.0), color=c_elu, lw=1.5, ls="--",
                      label=r"ELU ($\alpha$ = 1)" if piece is zl else None)
            ax_d.plot(piece, selu_grad(piece), color=c_selu, lw=2.4, label="SELU" if piece is zl else None,
                      gid="dselu")
        ax_d.axhline(1.0, color="0.3", lw=0.8, ls=(0, (4, 3)), zorder=1)
        ax_d.annotate(rf"$\lambda$ = {SELU_SCALE:.4f} > 1", xy=(1.5, SELU_SCALE), xytext=(0.6, 1.45),
                      fontsize=10, color=c_selu, arrowprops=dict(arrowstyle="->", color=c_selu, lw=1))
        ax_d.annotate(rf"$\lambda\alpha$ = {SELU_SCALE * SELU_ALPHA:.4f} just left of 0", xy=(-0.03, 1.74),
                      xytext=(-4.8, 1.95), fontsize=10, color=c_selu,
                      arrowprops=dict(arrowstyle="->", color=c_selu, lw=1))
        ax_d.set_ylim(-0.1, 2.2)
        ax_d.set_ylabel(r"slope $\varphi'(z)$")
        ax_d.set_title("slopes: above 1 near 0, fading to 0 on the far left", fontsize=11)
        ax_d.legend(loc="center left", fontsize=9)
    return fig


@figure("selu_vs_relu_depth")
def selu_vs_relu_depth(runs=None):
    """Mean and std per layer of 100-layer SELU (LeCun) and ReLU (He) networks on the digits, three seeds each."""
    runs = runs if runs is not None else seed_runs()
    fig, axes = plots.new_figure(1, 2, figsize=(11.0, 4.0))
    moments = runs["selu"] + runs["relu"]
    n = len(runs["selu"])
    colors = [plots.OKABE_ITO["blue"]] * n + [plots.OKABE_ITO["vermillion"]] * len(runs["relu"])
    labels = (["SELU, LeCun normal"] + ["_"] * (n - 1) + ["ReLU, He normal"] + ["_"] * (len(runs["relu"]) - 1))
    plot_layer_moments(moments, axes, colors=colors, labels=labels, linewidths=[1.3] * len(moments), legend=False)
    with plots.style():
        axes[0].set_title(f"mean of each layer's output ({n} networks of each kind)", fontsize=11)
        axes[1].set_title("standard deviation of each layer's output", fontsize=11)
        # one legend under both panels: it names the curves of each (inside a panel it would cover some)
        fig.legend(*axes[1].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=10,
                   frameon=False)
    return fig


@figure("selu_moment_map")
def selu_moment_map(measured=None):
    """The (mean, variance) map of a SELU layer (Klambauer et al. 2017, Fig. 2) and how fast it converges."""
    m = measured if measured is not None else digits_moments("selu", "lecun_normal", seed=0)
    fig, (ax_map, ax_conv) = plots.new_figure(1, 2, figsize=(12.0, 5.0), width_ratios=[1.35, 1])
    starts = ((0.9, 2.8), (-0.9, 0.15), (-0.6, 2.0), (0.6, 0.5))
    plot_selu_map(ax_map, starts=starts, n_steps=12, measured=(m.mean, m.std**2),
                        measured_label="digits network: its 100 layers (measured)")
    fp = selu_fixed_point()
    steps = 30
    colors = [plots.OKABE_ITO[k] for k in ("vermillion", "blue", "green", "purple")]
    with plots.style():
        plots.tidy(ax_conv)
        k = np.arange(steps + 1)
        for i, (m0, v0) in enumerate(starts):
            t = selu_map_trajectory(m0, v0, steps)
            dist = np.hypot(t[:, 0] - fp.mean, t[:, 1] - fp.var)
            ax_conv.plot(k, dist, "-o", ms=3, lw=1.3, color=colors[i], gid=f"distance:{i}",
                         label=f"start ({m0:g}, {v0:g})")
        d1 = np.hypot(*(selu_map_trajectory(*starts[0], 1)[1] - (fp.mean, fp.var)))
        # Past the first layer a deviation lies along J's eigenvector, so it shrinks by the spectral radius
        # (largest |eigenvalue|); the spectral norm (0.7877, the paper's number) only bounds that factor.
        ax_conv.plot(k[1:], d1 * fp.spectral_radius ** (k[1:] - 1), color="black", lw=1.2, ls=(0, (4, 3)),
                     gid="spectral_radius", label=f"x {fp.spectral_radius:.4f} per layer (spectral radius)")
        ax_conv.set_yscale("log")
        ax_conv.set_xlabel("layers (applications of $g$)")
        ax_conv.set_ylabel(r"distance of $(\mu, \nu)$ from the fixed point (log)")
        ax_conv.set_title("geometric convergence to (0, 1)", fontsize=11)
        ax_conv.legend(loc="lower left", fontsize=8.5)
    return fig


#: Short descriptions of each broken condition, for the figure panels.
_BROKEN = {
    "standardized": "inputs 2 + 3x: mean 2, std 3",
    "lecun_normal": "He normal: Var(w) = 2 / fan_in",
    "sequential": "skip connections: h$^l$ = h$^{l-1}$ + selu(z$^l$)",
    "dense_only": "ordinary dropout 0.2 after each SELU",
}


@figure("selu_conditions")
def selu_conditions_grid(runs=None):
    """Each of the four conditions broken on its own: per-layer mean (top) and std (bottom) drift from (0, 1)."""
    runs = runs if runs is not None else condition_runs()
    fig, axes = plots.new_figure(2, 4, figsize=(15.0, 6.6), sharex=True)
    base = runs["all kept"]
    for j, name in enumerate(SELU_CONDITIONS):
        ax_mean, ax_std = axes[0, j], axes[1, j]
        plot_layer_moments([base, runs[name]], (ax_mean, ax_std), legend=False,
                                 colors=[plots.OKABE_ITO["blue"], plots.OKABE_ITO["vermillion"]],
                                 labels=["all four conditions hold", "this one condition broken"],
                                 linewidths=[1.4, 1.9])
        with plots.style():
            title = SELU_CONDITIONS[name][0]
            ax_mean.set_title(f"without: {title}\n({_BROKEN[name]})", fontsize=10.5)
            if j:
                ax_mean.set_ylabel("")
                ax_std.set_ylabel("")
            else:
                ax_mean.set_ylabel("mean of $h^l$ (symlog)")
                ax_std.set_ylabel("std of $h^l$ (log scale)")
            ax_mean.set_xlabel("")
    with plots.style():
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles[:2], labels[:2], loc="outside lower center", ncols=2, fontsize=10, frameon=False)
    return fig


@figure("selu_dropout")
def selu_dropout(effect=None, runs=None):
    """Ordinary vs alpha dropout on SELU outputs: where dropped units land, and the per-layer mean and std."""
    effect = effect if effect is not None else dropout_on_selu(0.2)
    runs = runs if runs is not None else dropout_runs(effect.rate)
    # ordinary dropout in vermillion and no dropout in blue, as in selu_conditions_grid
    c_std, c_alpha, c_inf = plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["green"], plots.OKABE_ITO["blue"]
    with plots.style():
        fig = Figure(figsize=(15.0, 4.8), layout="constrained")
        left, right = fig.subfigures(1, 2, width_ratios=[1, 2.1])
        ax_hs = left.subplots(2, 1, sharex=True)
        axes = right.subplots(1, 2)
        bins = np.linspace(-2.4, 4.6, 141)
        width = bins[1] - bins[0]
        for ax, kind, c, name in ((ax_hs[0], "standard", c_std, "ordinary dropout"),
                                  (ax_hs[1], "alpha", c_alpha, "alpha dropout")):
            plots.tidy(ax)
            ax.hist(effect.before, bins=bins, density=True, histtype="stepfilled", color="0.85",
                    label="before dropout", gid="hist:before")
            ax.hist(getattr(effect, kind), bins=bins, density=True, histtype="step", lw=1.6, color=c,
                    label=f"after {name}", gid=f"hist:{kind}")
            v = effect.dropped_value[kind]
            ax.set_ylim(0, 0.75)
            ax.annotate(f"{effect.rate:.0%} of the values\n(the dropped ones) at {v:.3g}", xy=(v, 0.74),
                        xytext=(v + 0.35, 0.56), fontsize=8.5, color=c,
                        arrowprops=dict(arrowstyle="->", color=c, lw=1))
            ax.set_ylabel("density")
            ax.legend(loc="center right", fontsize=8.5)
        ax_hs[1].set_xlabel("value of a SELU output")
        ax_hs[0].set_title(f"one dropout layer (rate {effect.rate:g}) on SELU outputs\n"
                           f"(spikes cut off: their height is about {effect.rate / width:.0f})", fontsize=10)
    moments = [runs["ordinary dropout, training"], runs["alpha dropout, training"], runs["inference"]]
    plot_layer_moments(moments, axes, colors=[c_std, c_alpha, c_inf], linestyles=["-", "-", "--"],
                             linewidths=[1.8, 1.8, 1.3], legend=False)
    with plots.style():
        axes[0].set_title("mean of each layer's output (100-layer SELU network)", fontsize=11)
        axes[1].set_title("standard deviation of each layer's output", fontsize=11)
        for ax in axes:
            ax.legend(loc="upper left", fontsize=8.5)
    return fig
