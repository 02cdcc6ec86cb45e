"""Matplotlib figures of per-layer statistics, one function per kind of picture.

Every function takes results that other modules computed (a
:class:`gradviz.stats.PassStats`, a :class:`gradviz.theory.VariancePrediction`,
a :class:`gradviz.train.History`, plain arrays), draws on the ``ax`` it is
given (or on a new figure made with pyplot when ``ax`` is None) and returns
that Axes (or, for functions that fill several panels, the Figure). Nothing is
computed here that a learner would need to trust: the numbers come in, the
picture goes out.

Conventions, the same on every figure:

- the layer index runs left to right, layer 1 (nearest the input) first;
- a per-layer colour scale goes from dark (layer 1) to light (layer L)
  ('viridis', sequential, readable in grey and by colour-blind readers);
- categorical colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color
  Universal Design"): activations blue, gradients vermillion, and so on
  (:data:`COLORS`);
- a measurement is a solid line with markers; the theory's prediction for it
  is a dashed line of the same colour;
- variances and norms are on a log scale, and the axis label says so;
- a layer whose values overflowed (inf/nan) is not drawn; a grey band marks
  it and the layers it contaminated, with the text "overflow at layer k";
- a log axis shows 1e-270 .. 1e270 (:data:`LOG_DISPLAY_RANGE`): a finite value
  beyond is drawn at that edge, so no axis computation overflows.

Log axes (what they can show, their ticks and labels, limits that stay put in
an explorer) are in :mod:`gradviz._logaxis`; this module re-exports them.

The style (:data:`STYLE`) is applied with :func:`style` inside each function
only, so importing this module changes no global matplotlib setting.

Artists carry a ``gid`` (e.g. ``'measured:a'``, ``'predicted:da'``,
``'overflow'``), so that widgets can update them in place and tests can read
back what was drawn.
"""

from __future__ import annotations

import contextlib
import functools

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# log axes (limits, locators, formatters) live in their own module; plots is where figures find them
from ._logaxis import (EMPTY_LOG_LIMITS, LOG_DISPLAY_RANGE, SUPERSCRIPT, FewDecadesLogLocator, PlainLogFormatter,
                       SafeLogLocator, SuperscriptLogFormatter, fast_log_yaxis, in_display_units, log_scale,
                       plain_log_labels, positive_finite, sticky_log_limits)
from .activations import SATURATION_THRESHOLD, get_activation
from .stats import histograms

__all__ = [
    "OKABE_ITO",
    "COLORS",
    "STYLE",
    "LAYER_CMAP",
    "CYCLE",
    "RUN_COLORS",
    "color_difference",
    "QUANTITY_LABEL",
    "SUPERSCRIPT",
    "style",
    "styled",
    "new_figure",
    "prepare_axes",
    "tidy",
    "finite_or_nan",
    "in_display_units",
    "positive_finite",
    "mask_overflowed",
    "remove_gid",
    "find_artist",
    "moving_average",
    "plot_activation",
    "shade_saturation",
    "plot_variances",
    "variance_legend",
    "mark_overflow",
    "layer_axis",
    "layer_span",
    "sticky_log_limits",
    "FewDecadesLogLocator",
    "fast_log_yaxis",
    "log_scale",
    "SuperscriptLogFormatter",
    "PlainLogFormatter",
    "plain_log_labels",
    "plot_histograms",
    "histogram_grid",
    "layer_colors",
    "layer_key",
    "MAX_LAYER_LEGEND",
    "plot_grad_norm",
    "plot_training_curves",
    "mark_diverged_accuracy",
    "plot_layer_stat_over_steps",
    "explain",
    "legend_below",
    "QuickLegend",
    "quick_legend",
]

#: The Okabe-Ito colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: What each quantity is drawn in, on every figure.
COLORS = {
    "a": OKABE_ITO["blue"],  # activations (forward)
    "z": OKABE_ITO["sky_blue"],  # pre-activations
    "da": OKABE_ITO["vermillion"],  # back-propagated gradients dL/da
    "dz": OKABE_ITO["orange"],
    "grad_norm": OKABE_ITO["vermillion"],
    "phi": OKABE_ITO["blue"],
    "dphi": OKABE_ITO["vermillion"],
    "saturated": OKABE_ITO["orange"],
    "dead": OKABE_ITO["purple"],
    "overflow": "0.55",
    "shade": "0.88",
}

#: Sequential colour map for "one curve per layer".
LAYER_CMAP = "viridis"

#: The colours of successive curves (Okabe-Ito, readable with colour blindness), the style's colour cycle.
CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black", "yellow")]

#: Colours of runs compared on one figure (training curves, a curve per run): the Okabe-Ito palette
#: without vermillion, which stays the colour of gradients (:data:`COLORS`), and without yellow, too pale
#: on white. Any two of the first five differ by at least 38 CIEDE2000 units
#: (:func:`color_difference`; about 2 is a just-noticeable difference); sky blue, sixth, is close to blue.
RUN_COLORS = [OKABE_ITO[k] for k in ("blue", "orange", "green", "purple", "black", "sky_blue")]


def _cielab(color):
    """CIE L*a*b* (D65 white) of a matplotlib colour, through sRGB (IEC 61966-2-1) and CIE XYZ."""
    rgb = np.asarray(mpl.colors.to_rgb(color), dtype=float)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375],
                    [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ lin / np.array([0.95047, 1.0, 1.08883])
    d = 6.0 / 29.0
    f = np.where(xyz > d**3, np.cbrt(xyz), xyz / (3 * d * d) + 4.0 / 29.0)
    return np.array([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def _ciede2000(lab1, lab2):
    """CIEDE2000 colour difference of two CIE L*a*b* colours (Sharma, Wu & Dalal 2005)."""
    (L1, a1, b1), (L2, a2, b2) = lab1, lab2
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360 if c2p else 0.0
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    dL, dC = L2 - L1, c2p - c1p
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    l_bar, cp_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return float(np.sqrt((dL / s_l) ** 2 + (dC / s_c) ** 2 + (dH / s_h) ** 2 + r_t * (dC / s_c) * (dH / s_h)))


def color_difference(color1, color2):
    """How different two matplotlib colours look: the CIEDE2000 difference (Sharma, Wu & Dalal 2005) of their
    CIE L*a*b* values, taking them as sRGB on a D65-white screen. 0 for the same colour; about 2 is just
    noticeable; Okabe-Ito vermillion and orange differ by 22, blue and orange by 55."""
    return _ciede2000(_cielab(color1), _cielab(color2))


#: rcParams used while a gradviz figure is drawn (see :func:`style`).
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "axes.prop_cycle": mpl.cycler(color=CYCLE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 2.0,
    "lines.markersize": 5,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "0.8",
    "image.cmap": LAYER_CMAP,
    "svg.hashsalt": "gradviz",
    "svg.fonttype": "path",
}

#: Axis or legend label of each recorded quantity ('a', 'z', 'da', 'dz').
QUANTITY_LABEL = {
    "a": "activations $a^l$",
    "z": "pre-activations $z^l$",
    "da": r"gradients $\partial L/\partial a^l$",
    "dz": r"gradients $\partial L/\partial z^l$",
}


@contextlib.contextmanager
def style():
    """Context in which matplotlib uses the gradviz style (:data:`STYLE`); restores the old settings after."""
    with mpl.rc_context(STYLE):
        yield


def styled(func):
    """Decorator: ``func`` draws inside :func:`style`, so the Axes it creates get the gradviz style."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(nrows=1, ncols=1, figsize=(6.4, 4.0), pyplot=False, **subplot_kw):
    """A styled Figure and its Axes (array unless 1x1), with constrained layout.

    ``pyplot=False`` (default) makes a bare :class:`matplotlib.figure.Figure`
    that pyplot does not track (no figure pile-up in a long session, no
    dependence on the notebook's backend); ``pyplot=True`` uses
    :func:`matplotlib.pyplot.subplots`, which a notebook displays at the end of
    the cell.
    """
    squeeze = subplot_kw.pop("squeeze", True)
    with style():
        if pyplot:
            fig, axes = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=squeeze, **subplot_kw)
        else:
            fig = Figure(figsize=figsize, layout="constrained")
            axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def prepare_axes(ax, figsize=(6.4, 4.0)):
    """``ax`` made tidy (:func:`tidy`), or, for None, the Axes of a new pyplot figure of ``figsize``."""
    if ax is None:
        _, ax = new_figure(figsize=figsize, pyplot=True)
    tidy(ax)
    return ax


def tidy(ax):
    """Give ``ax`` the style's look (no top/right spines, a light grid behind the data).

    The style only reaches Axes created under it; this makes a given Axes look the same.
    """
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)


def layer_axis(ax, depth):
    """Label the x axis of ``ax`` as hidden layers 1..``depth`` (layer 1 on the left)."""
    ax.set_xlabel("hidden layer $l$ (1 = next to the input)")
    ax.set_xlim(0.5, depth + 0.5)
    if depth <= 12:
        ax.xaxis.set_major_locator(mpl.ticker.FixedLocator(np.arange(1, depth + 1)))
    else:
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=10, integer=True, min_n_ticks=3))


def layer_span(depth, spans, max_depth, current=None):
    """How many hidden layers (1..n) a layer axis (:func:`layer_axis`) shows for a network of ``depth``.

    n is the smallest of ``spans`` (increasing) that holds ``depth``, else ``max_depth``; never more than
    ``max_depth`` (unless ``depth`` is), never fewer than ``depth``. A depth slider pressed one layer at a time
    then moves the axis at a few depths only (a press adds or removes a point, where rescaling the axis redrew
    every tick label, most of a frame), and the curves fill ``depth / n`` of its width. With ``current`` (the
    span shown now), that span is kept while the network fills more than half of it.
    """
    if current is not None and depth <= current < 2 * depth:
        return current
    most = max(max_depth, depth)
    return min(next((n for n in spans if n >= depth), most), most)


def mask_overflowed(v, quantity, overflow):
    """NaN at the layers an overflow spoiled, so only the marker speaks for them.

    A forward overflow at k spoils layers k..L of every quantity (the backward
    pass runs through them); a backward overflow at k spoils the gradients of
    layers 1..k.
    """
    if not overflow:
        return v
    fwd, bwd = overflow.get("forward"), overflow.get("backward")
    if fwd is not None:
        v[fwd - 1:] = np.nan
    elif bwd is not None and quantity in ("da", "dz", "grad_norm"):
        v[:bwd] = np.nan
    return v


def finite_or_nan(values):
    """Copy of ``values`` as float with NaN where not finite (matplotlib leaves a gap there)."""
    v = np.array(values, dtype=float)
    v[~np.isfinite(v)] = np.nan
    return v


def remove_gid(ax, gid):
    """Remove every line, patch, text and collection of ``ax`` whose gid is ``gid``."""
    for artist in list(ax.lines) + list(ax.patches) + list(ax.texts) + list(ax.collections):
        if artist.get_gid() == gid:
            artist.remove()


def explain(ax, message, gid="explain"):
    """Write ``message`` across the middle of ``ax`` (used when there is nothing to draw, and why).

    An empty message removes the previous one. Returns the Text (or None).
    """
    remove_gid(ax, gid)
    if not message:
        return None
    return ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", wrap=True,
                   fontsize=11, color="0.15", gid=gid, zorder=10,
                   bbox=dict(boxstyle="round,pad=0.5", facecolor="#FFF8E1", edgecolor=OKABE_ITO["orange"]))


# ----------------------------------------------------------------------------- activations
def _slope_threshold(act, threshold):
    return threshold * act.max_slope


def shade_saturation(ax, name, x_range, threshold=SATURATION_THRESHOLD, label=True, **params):
    """Shade the inputs z where ``name`` is saturated (slope < threshold x max slope); return the patches.

    Only sigmoid and tanh saturate; for the others nothing is drawn. The
    boundary is found numerically on a fine grid of ``x_range``.
    """
    remove_gid(ax, "saturation")
    act = get_activation(name)
    if not act.saturating:
        return []
    lo, hi = float(x_range[0]), float(x_range[1])
    z = np.linspace(lo, hi, 4001)
    sat = act.grad(z, **params) < _slope_threshold(act, threshold)
    patches = []
    # contiguous runs of saturated points
    edges = np.flatnonzero(np.diff(sat.astype(np.int8)))
    starts = ([0] if sat[0] else []) + [i + 1 for i in edges if not sat[i]]
    ends = [i for i in edges if sat[i]] + ([len(z) - 1] if sat[-1] else [])
    for k, (s, e) in enumerate(zip(starts, ends)):
        patches.append(ax.axvspan(z[s], z[e], color=COLORS["shade"], zorder=0, gid="saturation", lw=0,
                                  label=(f"saturated: slope < {threshold:g} x max" if label and k == 0 else None)))
    return patches


@styled
def plot_activation(name, ax=None, *, x_range=(-6.0, 6.0), derivative=True, saturation=True,
                    threshold=SATURATION_THRESHOLD, n_points=801, **params):
    """Draw phi(z) and phi'(z) of activation ``name`` over ``x_range``, saturated inputs shaded.

    Parameters
    ----------
    name : str
        Activation name (see :data:`gradviz.activations.ACTIVATIONS`).
    ax : Axes or None
    x_range : (low, high)
        Range of pre-activations z (unitless).
    derivative : bool
        Also draw phi'(z) (dashed, vermillion).
    saturation : bool
        Shade where phi'(z) < ``threshold`` x max phi' (sigmoid and tanh only).
    **params
        Activation parameters, e.g. ``alpha=0.1``.

    Returns
    -------
    Axes, with lines of gid ``'phi'`` and ``'dphi'``.
    """
    act = get_activation(name)
    lo, hi = float(x_range[0]), float(x_range[1])
    if not hi > lo:
        raise ValueError(f"x_range must be (low, high) with low < high; got {x_range!r}")
    ax = prepare_axes(ax)
    z = np.linspace(lo, hi, n_points)
    pretty = name.replace("_", " ")
    ax.plot(z, act(z, **params), color=COLORS["phi"], label=rf"$\varphi(z)$ = {pretty}", gid="phi")
    if derivative:
        ax.plot(z, act.grad(z, **params), color=COLORS["dphi"], ls="--", label=r"slope $\varphi'(z)$", gid="dphi")
    if saturation:
        shade_saturation(ax, name, (lo, hi), threshold, **params)
    ax.axhline(0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(0, color="0.3", lw=0.8, zorder=1)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("pre-activation $z$")
    ax.set_ylabel(r"$\varphi(z)$ and $\varphi'(z)$")
    ax.set_title(pretty)
    ax.legend(loc="upper left", fontsize=9)
    return ax


# ----------------------------------------------------------------------------- per-layer variance
def mark_overflow(ax, overflow, depth, text=True):
    """Mark the layers that overflowed with a grey hatched band and "overflow at layer k".

    Parameters
    ----------
    overflow : dict {'forward': int|None, 'backward': int|None} or int or None
        :attr:`PassStats.overflow` (or a first non-finite layer, taken as forward).
        A forward overflow at k spoils layers k..L (forward values) and, through
        the backward pass, every gradient; a backward overflow at k (reading from
        the top) spoils the gradients of layers 1..k.
    depth : int
        Number of hidden layers L.

    Returns
    -------
    list of the artists drawn (gid ``'overflow'``), empty when nothing overflowed.
    """
    remove_gid(ax, "overflow")
    if overflow is None:
        return []
    if not isinstance(overflow, dict):
        overflow = {"forward": int(overflow), "backward": None}
    fwd, bwd = overflow.get("forward"), overflow.get("backward")
    if fwd is not None:
        lo, hi, msg = fwd - 0.5, depth + 0.5, f"overflow at layer {fwd}"
    elif bwd is not None:
        lo, hi, msg = 0.5, bwd + 0.5, f"gradient overflow at layer {bwd}"
    else:
        return []
    # zorder 0.6: over the grid (0.5), under the data, in a saved figure and in a blitted explorer alike
    band = ax.axvspan(lo, hi, facecolor="0.92", edgecolor=COLORS["overflow"], hatch="//", lw=0, zorder=0.6,
                      gid="overflow")
    artists = [band]
    edge = fwd if fwd is not None else bwd
    artists.append(ax.axvline(edge, color=COLORS["overflow"], lw=1.5, ls=":", gid="overflow"))
    if text:
        x = (lo + hi) / 2
        artists.append(ax.text(x, 0.97, msg + "\n(inf / nan: not drawn)", transform=ax.get_xaxis_transform(),
                               ha="center", va="top", fontsize=10, color="0.2", gid="overflow", zorder=11,
                               bbox=dict(boxstyle="round,pad=0.3", facecolor="white", edgecolor="0.7")))
    return artists


@styled
def plot_variances(stats, prediction=None, ax=None, *, quantities=("a", "da"), std=False, legend=True,
                   title=None):
    """Variance (or standard deviation) per layer of activations and gradients, log scale.

    Parameters
    ----------
    stats : PassStats or None
        Measured statistics (:func:`gradviz.stats.probe`). Non-finite or
        non-positive values are not drawn.
    prediction : VariancePrediction or None
        What the theory predicts (:func:`gradviz.theory.predict_variances`),
        drawn dashed in the colour of the measurement.
    quantities : tuple of {'a', 'z', 'da', 'dz'}
        Which variances to draw.
    std : bool
        Draw standard deviations instead of variances.

    The layers an overflow spoiled (:func:`mask_overflowed`) are drawn neither measured nor predicted:
    a grey hatched band marks them (:func:`mark_overflow`).

    Returns
    -------
    Axes, with lines of gid ``'measured:<q>'`` and ``'predicted:<q>'``.
    """
    for q in quantities:
        if q not in QUANTITY_LABEL:
            raise ValueError(f"quantities contains {q!r}; choose from: a, da, dz, z")
    if stats is None and prediction is None:
        raise ValueError("give stats, prediction, or both")
    ax = prepare_axes(ax)
    depth = (stats if stats is not None else prediction).depth
    layers = np.arange(1, depth + 1)
    stat_name = "std" if std else "Var"
    for q in quantities:
        label = QUANTITY_LABEL[q]
        if stats is not None:
            v = mask_overflowed(positive_finite(getattr(stats, f"{q}_var")), q, stats.overflow)
            ax.plot(layers, np.sqrt(v) if std else v, "o-", color=COLORS[q], lw=1.2, label=f"{stat_name} of {label}",
                    gid=f"measured:{q}", zorder=3)
        if prediction is not None:
            # not drawn at the layers the overflow band covers either, so that no line runs into the band
            # and reads as data there
            v = positive_finite(getattr(prediction, f"{q}_var"))
            if stats is not None:
                v = mask_overflowed(v, q, stats.overflow)
            ax.plot(layers, np.sqrt(v) if std else v, "--", color=COLORS[q], lw=2.4, alpha=0.75, zorder=4,
                    dashes=(3, 2),
                    label=None if stats is not None else f"{stat_name} of {label}, predicted",
                    gid=f"predicted:{q}")
    log_scale(ax)
    ax.set_ylabel(f"{'standard deviation' if std else 'variance'} (log scale)")
    layer_axis(ax, depth)
    if stats is not None:
        mark_overflow(ax, stats.overflow or stats.first_nonfinite, depth)
    if title:
        ax.set_title(title)
    if legend:
        variance_legend(ax, measured=stats is not None, predicted=prediction is not None)
    return ax


def variance_legend(ax, measured=True, predicted=True):
    """Legend under the axes (never over the data): one entry per quantity, plus
    "solid: measured / dashed: predicted" when both are drawn."""
    handles = [ln for ln in ax.lines if ln.get_label() and not ln.get_label().startswith("_")]
    if measured and predicted:
        handles += [Line2D([], [], color="0.3", marker="o", label="measured (one network)"),
                    Line2D([], [], color="0.3", ls="--", label="predicted (mean-field theory)")]
    leg = ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=9,
                    frameon=False)
    return leg


# ----------------------------------------------------------------------------- histograms
#: Up to this many hidden layers, a figure names each layer's colour in a legend; beyond, a colour bar.
MAX_LAYER_LEGEND = 10


def layer_colors(depth, cmap=LAYER_CMAP):
    """The colour of hidden layers 1..``depth`` (a list), from dark (layer 1) to light, on ``cmap``."""
    norm, cm = Normalize(vmin=1, vmax=max(depth, 2)), mpl.colormaps[cmap]
    return [cm(norm(l)) for l in range(1, depth + 1)]


def layer_key(fig, depth, *, ax=None, cmap=LAYER_CMAP, **kwargs):
    """Say which colour is which hidden layer, beside ``ax`` (or, for the whole figure, under it in one row):
    one legend entry per layer when ``depth`` <= :data:`MAX_LAYER_LEGEND` (a few distinct colours, each
    labelled), a colour bar with integer ticks beyond. Other keyword arguments go to the colour bar. Returns the Legend or Colorbar."""
    if depth <= MAX_LAYER_LEGEND:
        handles = [Line2D([], [], color=c, lw=2.5, label=f"{l}" + (" (next to the input)" if l == 1 else ""))
                   for l, c in enumerate(layer_colors(depth, cmap), start=1)]
        if ax is not None:
            return ax.legend(handles=handles, title="hidden layer", fontsize=9, title_fontsize=9, frameon=False,
                             loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return fig.legend(handles=handles, title="hidden layer", fontsize=9.5, title_fontsize=9.5, frameon=False,
                          loc="outside lower center", ncols=depth)
    sm = mpl.cm.ScalarMappable(norm=Normalize(vmin=1, vmax=max(depth, 2)), cmap=mpl.colormaps[cmap])
    cb = fig.colorbar(sm, ax=ax if ax is not None else fig.axes, **kwargs)
    cb.set_label("hidden layer (1 = next to the input)")
    cb.set_ticks(np.unique(np.linspace(1, depth, min(depth, 6)).round().astype(int)))
    return cb


def _as_hist(source, key, bins, value_range):
    if isinstance(source, tuple) and len(source) == 2:
        return source
    return histograms(source, key=key, bins=bins, value_range=value_range)


@styled
def plot_histograms(source, ax=None, *, key="a", bins=50, value_range=None, cmap=LAYER_CMAP, colorbar=True,
                    layers=None, title=None, logy=False):
    """One density curve per hidden layer, coloured from layer 1 (dark) to L (light).

    The picture of Glorot & Bengio (2010), Fig. 6 (activations) and Fig. 7
    (back-propagated gradients).

    Parameters
    ----------
    source : MLP with a recorded pass, or (edges, density)
        ``(edges, density)`` as :func:`gradviz.stats.histograms` returns it
        (edges (bins+1,), density (L, bins)).
    key : {'a', 'z', 'da', 'dz'}
        Which recorded tensor (when ``source`` is a network); also names the x axis.
    layers : iterable of int or None
        1-based layers to draw (default: all).
    colorbar : bool
        Add a colour bar "hidden layer" 1..L beside the axes.

    Returns
    -------
    Axes, with one line of gid ``'hist:<l>'`` per drawn layer.
    """
    edges, density = _as_hist(source, key, bins, value_range)
    ax = prepare_axes(ax)
    edges = np.asarray(edges, dtype=float)
    density = np.asarray(density, dtype=float)
    L = density.shape[0]
    # Values near float64's top (1.8e308) are drawn in units of a power of ten (the x axis, and on a
    # linear y axis the densities): matplotlib's axis padding and tick steps would overflow on them.
    edges, unit_exp = in_display_units(edges)
    centers = 0.5 * (edges[:-1] + edges[1:])
    with np.errstate(over="ignore"):  # per 1e{unit_exp} instead of per 1: an absurd density may overflow
        per_unit = density * 10.0**unit_exp if unit_exp else density.copy()
    ok_rows = np.isfinite(density).all(axis=1)  # an overflowed layer has no histogram
    if logy:
        y, y_exp = positive_finite(per_unit), 0
    else:
        y, y_exp = in_display_units(finite_or_nan(per_unit))
    colors = layer_colors(L, cmap)
    chosen = range(1, L + 1) if layers is None else [int(l) for l in layers]
    for l in chosen:
        if ok_rows[l - 1]:
            ax.plot(centers, y[l - 1], color=colors[l - 1], lw=1.6, gid=f"hist:{l}")
    if logy:
        log_scale(ax)
    ax.set_xlabel(f"value of {QUANTITY_LABEL.get(key, key)}" + (f" (units of 1e{unit_exp})" if unit_exp else ""))
    ax.set_ylabel("density" + (" (log scale)" if logy else "") + (f" (per 1e{unit_exp})" if unit_exp else "")
                  + (f" (x 1e{y_exp})" if y_exp else ""))
    ax.set_xlim(edges[0], edges[-1])
    if title:
        ax.set_title(title)
    if colorbar:
        sm = mpl.cm.ScalarMappable(norm=Normalize(vmin=1, vmax=max(L, 2)), cmap=mpl.colormaps[cmap])
        cb = ax.figure.colorbar(sm, ax=ax, pad=0.02, fraction=0.05)
        cb.set_label("hidden layer (1 = next to the input)")
        cb.set_ticks(np.unique(np.linspace(1, L, min(L, 6)).round().astype(int)))
    return ax


def _common_range(nets, key, quantile=None):
    lo, hi = np.inf, -np.inf
    for net in nets:
        for rec in net.records:
            a = np.asarray(rec[key])
            a = a[np.isfinite(a)]
            if a.size:
                if quantile:
                    lo, hi = min(lo, np.quantile(a, quantile)), max(hi, np.quantile(a, 1 - quantile))
                else:
                    lo, hi = min(lo, a.min()), max(hi, a.max())
    if not np.isfinite(lo) or hi <= lo:
        return (-1.0, 1.0)
    return (float(lo), float(hi))


@styled
def histogram_grid(nets, keys=("a", "da"), *, bins=60, value_ranges=None, quantile=0.001, figsize=None,
                   logy=False):
    """Per-layer histograms of several networks side by side, one column each, shared axes per row.

    Parameters
    ----------
    nets : dict label -> MLP
        Networks whose last pass was recorded (``pass_statistics`` or ``probe``).
    keys : tuple
        One row per recorded tensor ('a', 'da', 'z', 'dz').
    value_ranges : dict key -> (low, high) or None
        Bin range per row; default: the range of the values of all networks
        together, trimmed to the [quantile, 1 - quantile] quantiles so a few
        outliers do not squeeze the picture.

    The layers' colours are named beside the grid (:func:`layer_key`): a legend entry per layer for up to
    :data:`MAX_LAYER_LEGEND` layers, a colour bar for more.

    Returns
    -------
    Figure, axes ``fig.axes[:len(keys) * len(nets)]`` in row-major order.
    """
    labels = list(nets)
    if not labels:
        raise ValueError("nets must hold at least one network")
    nrows, ncols = len(keys), len(labels)
    figsize = figsize or (4.3 * ncols + 0.8, 3.0 * nrows + 0.3)
    fig, axes = new_figure(nrows, ncols, figsize=figsize, sharex="row", sharey="row", squeeze=False)
    L = max(nets[k].depth for k in labels)
    for r, key in enumerate(keys):
        rng = (value_ranges or {}).get(key) or _common_range(nets.values(), key, quantile)
        for c, label in enumerate(labels):
            ax = axes[r, c]
            plot_histograms(nets[label], ax=ax, key=key, bins=bins, value_range=rng, colorbar=False, logy=logy,
                            title=label if r == 0 else None)
            if c > 0:
                ax.set_ylabel("")
                ax.tick_params(labelleft=False)
        if not logy:
            axes[r, 0].set_ylim(bottom=0)
    layer_key(fig, L, pad=0.01, fraction=0.03, aspect=30)
    return fig


# ----------------------------------------------------------------------------- bars
@styled
def plot_grad_norm(stats, ax=None, *, quantity="grad_norm", title=None):
    """Bars of a per-layer gradient size, log scale: ``'grad_norm'`` = ||dL/dW^l|| (Frobenius),
    or ``'da_std'`` = std of dL/da^l. Overflowed layers get no bar, only the overflow band.

    ``stats`` is a PassStats (or any object with the attribute and ``overflow``).
    """
    if quantity == "grad_norm":
        values, ylabel = stats.grad_norm, r"$\|\partial L/\partial W^l\|$ (log scale)"
    elif quantity == "da_std":
        values, ylabel = np.sqrt(np.asarray(stats.da_var, float)), r"std of $\partial L/\partial a^l$ (log scale)"
    else:
        raise ValueError(f"quantity={quantity!r} is not known; choose one of: da_std, grad_norm")
    ax = prepare_axes(ax)
    v = mask_overflowed(positive_finite(values), "grad_norm", getattr(stats, "overflow", None))
    depth = len(v)
    layers = np.arange(1, depth + 1)
    ok = np.isfinite(v)
    ax.bar(layers[ok], v[ok], width=0.8, color=COLORS["grad_norm"], gid="bars", label=None)
    log_scale(ax)
    if ok.any():
        lo, hi = np.nanmin(v), np.nanmax(v)
        ax.set_ylim(lo / 3, hi * 3)
    ax.set_ylabel(ylabel)
    layer_axis(ax, depth)
    mark_overflow(ax, getattr(stats, "overflow", None) or getattr(stats, "first_nonfinite", None), depth)
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- training
def moving_average(y, window):
    """Mean of the last ``window`` values at each point, as floats (NaN for the first ``window - 1``)."""
    if window <= 1 or len(y) < window:
        return np.asarray(y, float)
    y = np.asarray(y, float)
    kernel = np.ones(window) / window
    out = np.convolve(np.nan_to_num(y, nan=np.nan), kernel, mode="valid")
    return np.concatenate([np.full(window - 1, np.nan), out])


def mark_diverged_accuracy(ax_acc, histories, tags=None):
    """On accuracy axes, end the accuracy line(s) of each run that diverged at its last record point before
    the overflow, and mark that point with an X.

    After an overflow the network outputs nan or inf, and the "accuracy" recorded at the failing step (an
    argmax over nan, a plausible-looking 10 % or so) means nothing: it is not drawn.
    :func:`plot_training_curves` calls this; a chapter that draws accuracy lines itself can call it too.

    Parameters
    ----------
    ax_acc : Axes
        Holding lines of gid ``'acc:<label>'`` (and/or ``'trainacc:<label>'``) drawn at ``record_steps``.
    histories : dict label -> History
        The runs; those with ``diverged`` False, or without a line on ``ax_acc``, are left alone.
    tags : dict label -> str or None
        Text written next to each X (gid ``'acc_overflow_tag:<label>'``), so that an X drawn over other
        runs' lines can be told apart.

    The X has gid ``'acc_overflow:<label>'``; a note in the upper left corner (gid ``'acc_overflow_note'``,
    where early low accuracies leave room) says what it means.
    """
    marked = False
    for label, h in histories.items():
        if not h.diverged:
            continue
        keep = np.asarray(h.record_steps) < h.diverged_step
        for prefix in ("acc", "trainacc"):
            line = find_artist(ax_acc, f"{prefix}:{label}")
            if line is None:
                continue
            x, y = np.asarray(line.get_xdata(), float)[keep], np.asarray(line.get_ydata(), float)[keep]
            line.set_data(x, y)
            if prefix == "trainacc" and find_artist(ax_acc, f"acc:{label}") is not None:
                continue  # one X per run, on the test accuracy
            if x.size:
                ax_acc.plot(x[-1:], y[-1:], "X", ms=11, mec="white", mew=0.8, color=line.get_color(), zorder=5,
                            gid=f"acc_overflow:{label}")
                if tags and label in tags:
                    ax_acc.annotate(tags[label], (x[-1], y[-1]), xytext=(7, 7), textcoords="offset points",
                                    color=line.get_color(), fontsize=10, fontweight="bold", zorder=5,
                                    gid=f"acc_overflow_tag:{label}")
                marked = True
    if marked:
        ax_acc.text(0.02, 0.98, "X: the run diverged (overflow) after this record;\nno accuracy exists after it",
                    transform=ax_acc.transAxes, ha="left", va="top", fontsize=8, color="0.3",
                    gid="acc_overflow_note")


@styled
def plot_training_curves(histories, axes=None, *, smooth=10, colors=None, accuracy="test", diverged_tags=None):
    """Training loss and accuracy of several runs, one colour per run.

    Parameters
    ----------
    histories : dict label -> History
        From :func:`gradviz.train.train`.
    axes : (Axes, Axes) or None
        Where to draw the loss and the accuracy; None makes a new 1x2 figure.
    smooth : int
        Moving-average window (steps) of the minibatch loss; the raw loss is drawn faintly behind.
    accuracy : {'test', 'train', 'both'}
        Which accuracy to draw (train dotted when 'both').
    diverged_tags : dict label -> str or None
        Text next to the X of each diverged run (see :func:`mark_diverged_accuracy`).

    A run that diverged shows as diverged: its loss line ends with an X (gid ``'diverged:<label>'``),
    and its accuracy line ends at the last record before the overflow, with an X
    (:func:`mark_diverged_accuracy`); no accuracy is drawn for the steps after it.

    Returns
    -------
    (Axes, Axes). Lines of gid ``'loss:<label>'`` and ``'acc:<label>'``.
    """
    if axes is None:
        _, axes = new_figure(1, 2, figsize=(11, 4.0), pyplot=True)
    ax_loss, ax_acc = axes
    tidy(ax_loss), tidy(ax_acc)
    palette = colors or CYCLE
    for i, (label, h) in enumerate(histories.items()):
        c = palette[i % len(palette)]
        loss = finite_or_nan(h.loss)
        smoothed = moving_average(loss, smooth)
        loss, smoothed = positive_finite(loss), positive_finite(smoothed)  # what a log axis can show
        ax_loss.plot(h.step, loss, color=c, alpha=0.25, lw=0.8, gid=f"rawloss:{label}")
        ax_loss.plot(h.step, smoothed, color=c, label=label, gid=f"loss:{label}")
        if h.diverged:
            last = h.diverged_step if h.diverged_step is not None else h.step[-1]
            ax_loss.plot([last], [np.nanmax(loss) if np.isfinite(loss).any() else 1.0], "X",
                         color=c, ms=10, gid=f"diverged:{label}")
        if accuracy in ("test", "both"):
            ax_acc.plot(h.record_steps, finite_or_nan(h.test_accuracy) * 100, "-", color=c, label=label, gid=f"acc:{label}")
        if accuracy in ("train", "both"):
            ax_acc.plot(h.record_steps, finite_or_nan(h.train_accuracy) * 100, ":", color=c,
                        label=None if accuracy == "both" else label, gid=f"trainacc:{label}")
    log_scale(ax_loss, minor_labels=True)  # a loss from 3 down to 0.2 spans barely more than one decade
    ax_loss.set_xlabel("training step")
    ax_loss.set_ylabel("minibatch loss (nats, log scale)")
    ax_loss.set_title("training loss" + (f" ({smooth}-step moving average)" if smooth > 1 else ""))
    ax_acc.set_xlabel("training step")
    what = {"test": "test", "train": "training", "both": "test (solid) / training (dotted)"}[accuracy]
    ax_acc.set_ylabel(f"{what} accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.axhline(10, color="0.5", lw=1, ls=":", zorder=1)
    ax_acc.text(0.99, 10, "chance (10 classes)", transform=ax_acc.get_yaxis_transform(), ha="right", va="bottom",
                fontsize=8, color="0.4")
    ax_acc.set_title("accuracy")
    mark_diverged_accuracy(ax_acc, histories, tags=diverged_tags)
    if histories:
        ax_acc.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False)
    return ax_loss, ax_acc


@styled
def plot_layer_stat_over_steps(steps, values, ax=None, *, kind="heatmap", label="gradient norm", log=True,
                               cmap=None, colorbar=True, title=None):
    """A per-layer statistic over training: ``values`` has shape (n_records, L).

    ``kind='heatmap'``: layer on x (1 left), training step on y (upwards),
    colour = value (log colour scale when ``log``); NaN cells are left blank.
    ``kind='lines'``: one line per layer against the step, coloured from
    layer 1 (dark) to L (light), with a colour bar.

    Returns
    -------
    Axes (the image has gid ``'heatmap'``; lines ``'layer:<l>'``).
    """
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] != steps.shape[0]:
        raise ValueError(f"values must have shape (len(steps), L) = ({steps.shape[0]}, L); got {values.shape}")
    ax = prepare_axes(ax)
    L = values.shape[1]
    v = positive_finite(values) if log else finite_or_nan(values)
    scale_label = f"{label}" + (" (log scale)" if log else "")
    if kind == "heatmap":
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            if hi <= lo:
                hi = lo * 1.01 + 1e-300
            norm = LogNorm(lo, hi) if log else Normalize(lo, hi)
        else:
            norm = LogNorm(1e-3, 1) if log else Normalize(0, 1)
        # cell edges: layers at integers, steps at midpoints between records
        xe = np.arange(0.5, L + 1.0)
        if len(steps) > 1:
            mids = (steps[:-1] + steps[1:]) / 2
            ye = np.concatenate([[steps[0] - (mids[0] - steps[0])], mids, [steps[-1] + (steps[-1] - mids[-1])]])
        else:
            ye = np.array([steps[0] - 0.5, steps[0] + 0.5])
        mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(v), norm=norm, cmap=cmap or "cividis", gid="heatmap",
                             shading="flat")
        ax.grid(False)
        layer_axis(ax, L)
        ax.set_ylabel("training step")
        if colorbar:
            cb = ax.figure.colorbar(mesh, ax=ax, pad=0.02, ticks=SafeLogLocator() if log else None)
            cb.set_label(scale_label)
    elif kind == "lines":
        norm = Normalize(vmin=1, vmax=max(L, 2))
        cm = mpl.colormaps[cmap or LAYER_CMAP]
        for l in range(1, L + 1):
            ax.plot(steps, v[:, l - 1], color=cm(norm(l)), lw=1.5, gid=f"layer:{l}")
        if log:
            log_scale(ax)
        ax.set_xlabel("training step")
        ax.set_ylabel(scale_label)
        if colorbar:
            cb = ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cm), ax=ax, pad=0.02)
            cb.set_label("hidden layer (1 = next to the input)")
            cb.set_ticks(np.unique(np.linspace(1, L, min(L, 6)).round().astype(int)))
    else:
        raise ValueError(f"kind={kind!r} is not known; choose one of: heatmap, lines")
    if title:
        ax.set_title(title)
    return ax


def find_artist(ax, gid):
    """The first line or text of ``ax`` whose gid is ``gid``, or None."""
    for artist in list(ax.lines) + list(ax.texts):
        if artist.get_gid() == gid:
            return artist
    return None


def legend_below(ax, handles=None, ncol=2, **kwargs):
    """A frameless legend under ``ax``: it never covers a curve (constrained layout makes room for it).

    ``handles``: the artists to list (default: those of ``ax`` with a label);
    other keyword arguments go to :meth:`matplotlib.axes.Axes.legend`. Returns the Legend.
    """
    args = (handles,) if handles is not None else ()
    kwargs.setdefault("fontsize", 9)
    return ax.legend(*args, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False, **kwargs)


class QuickLegend(mpl.legend.Legend):
    """A legend with an opaque frame that an explorer's redraw paints from a pixel copy of itself.

    Text is the slow part of a matplotlib draw: a legend of three entries cost
    10-25 ms at each frame of an explorer, as much as the rest of its data
    layer. Its picture does not change while its entries, its place and the
    canvas stay as they are, and an opaque frame hides whatever lies beneath
    it. So each draw on a screen canvas (Agg) keeps a copy of the pixels
    inside the frame, and the next draw on the same canvas, in the same
    place, paints the frame (whose anti-aliased edge blends with what lies
    beneath, as a full draw does) and then that copy: the same pixels as a
    full draw. Saving (``savefig``, a PNG of the figure), another renderer or a
    layout pass draws it in full as any legend.
    """

    #: Pixels between the frame's edge and the copy: clear of its anti-aliased edge line and rounded corners, and
    #: less than the border padding (0.4 em, 4.5 px at 8 pt), so that every entry lies inside the copy.
    inset = 2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"framealpha": 1.0, **kwargs})
        self._copy = None  # (renderer, key, pixel copy)

    def _key(self, renderer):
        # and its entries' texts: a legend whose text is changed in place must not paint its old picture
        return (renderer.width, renderer.height, self.figure.dpi, tuple(self.axes.bbox.bounds), self.get_zorder(),
                tuple(t.get_text() for t in self.texts))

    def draw(self, renderer):
        if not self.get_visible():
            return
        screen = (hasattr(renderer, "restore_region") and "draw_path" not in vars(renderer)
                  and not self.figure.canvas.is_saving())  # not savefig, not draw_without_rendering's no-op draws
        kept = self._copy
        if screen and kept is not None and kept[0] is renderer and kept[1] == self._key(renderer):
            self.legendPatch.draw(renderer)
            renderer.restore_region(kept[2])
            self.stale = False
            return
        super().draw(renderer)
        self._copy = None
        if screen:
            x0, y0, x1, y1 = self.legendPatch.get_window_extent(renderer).extents
            k = self.inset
            inner = mpl.transforms.Bbox.from_extents(np.ceil(x0) + k, np.ceil(y0) + k, np.floor(x1) - k,
                                                     np.floor(y1) - k)
            if inner.width > 0 and inner.height > 0:
                self._copy = (renderer, self._key(renderer), renderer.copy_from_bbox(inner))


def quick_legend(ax, **kwargs) -> QuickLegend:
    """``ax.legend(**kwargs)`` (of the labelled artists of ``ax``) as a :class:`QuickLegend`; returns it. As
    ``ax.legend`` does, it takes the place of the legend ``ax`` had, which stays whole (it can be put back)."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend_ = QuickLegend(ax, handles, labels, **kwargs)
    ax.legend_._remove_method = ax._remove_legend
    return ax.legend_
