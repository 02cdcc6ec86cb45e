"""Chapter 01, gradient descent and the learning rate (``notebooks/01_gradient_descent.ipynb``).

Batch gradient descent on the convex cost of a one-feature linear regression
(the engine is :mod:`gradviz.descent`, the data
:func:`gradviz.data.linear_regression_data`). The chapter shows that the cost
is a quadratic bowl, that one step multiplies the offset from the minimum
along each principal axis by ``1 - lr * lambda``, and so that a learning rate
that is too small crawls, one below ``1 / lambda_max`` converges, one between
``1 / lambda_max`` and ``2 / lambda_max`` oscillates and one above
``2 / lambda_max`` diverges until float64 overflows (LeCun, Bottou, Orr and
Mueller, "Efficient BackProp", 1998, section 5). The later chapters lean on
this analogy, which the chapter's last section measures in two deep networks
(:func:`layer_steps`): when gradients vanish, the lower layers' steps are tiny
(they crawl); when they explode, every layer's step is too large at once (the
whole network diverges), because the weight gradient a^(l-1)^T dL/dz^l grows
with the activations going up as the gradient grows going down.

Sections: experiments (the start of every run, the per-layer steps of a deep
network), figures (the drawing of a run on the bowl and its cost, and the four
figures the notebook shows), explorers (the learning-rate slider), exercises
(01.1-01.4).
"""

from __future__ import annotations

import html

import ipywidgets
import matplotlib as mpl
import numpy as np

from dataclasses import dataclass

from .. import plots, widgets
from .._validate import check_positive
from ..data import linear_regression_data
from ..descent import (
    classify_run,
    cost_grid,
    critical_learning_rates,
    gradient_descent,
    hessian,
    least_squares,
    mse_cost,
    sweep_learning_rates,
)
from ..exercises import exercise
from ..figures import figure
from ..losses import softmax_cross_entropy
from ..network import MLP
from ..stats import digits_batch

__all__ = ["cost_bowl", "four_learning_rates", "lr_sweep", "one_run", "LearningRateExplorer", "layer_steps",
           "steps_table"]


# ---- experiments
#: Where every run of the chapter starts, ``(w, b)``, inside :data:`DESCENT_WINDOW` with the minimum.
START = (-1.5, 2.5)


def _xy(data):
    """``(X, y)`` of ``data`` (a RegressionData or an ``(X, y)`` pair), or of the chapter's data if None."""
    d = linear_regression_data() if data is None else data
    return d[0], d[1]


@dataclass(frozen=True)
class LayerSteps:
    """What one SGD step would do to each hidden layer of an untrained deep network (see :func:`layer_steps`).

    Arrays have shape (L,); index 0 is hidden layer 1 (next to the input).

    Attributes
    ----------
    label : str
    da_norm : ||dL/da^l||, the gradient arriving at layer l's output (Frobenius norm over the batch)
    dW_norm : ||dL/dW^l||, the gradient of layer l's weights
    relative_step : lr ||dL/dW^l|| / ||W^l||, the first SGD step as a fraction of the weights' own size
    a_in_rms : root mean square of a^(l-1), the activations entering layer l (over the batch and the units;
        for layer 1, the input pixels)
    loss : the cross-entropy of the batch, nats
    lr : the learning rate of that step
    """

    label: str
    da_norm: np.ndarray
    dW_norm: np.ndarray
    relative_step: np.ndarray
    a_in_rms: np.ndarray
    loss: float
    lr: float


def layer_steps(activation: str = "sigmoid", init: str = "glorot_uniform", weight_scale: float = 1.0, *,
                depth: int = 10, width: int = 64, lr: float = 0.1, seed=0) -> LayerSteps:
    """Per hidden layer of an untrained MLP on 256 digits: the gradient, the weight gradient, and the step.

    One recorded forward and backward pass of ``MLP(64, depth, width, activation, init, weight_scale,
    n_outputs=10, seed)`` (the digits network of chapter 02) on :func:`gradviz.stats.digits_batch`
    ``(256, seed)``, with the softmax cross-entropy of the batch (mean over its examples); norms are
    Frobenius norms over the batch. The weight gradient of a dense layer is
    ``a^(l-1)^T dL/dz^l``, the activations entering it times the gradient arriving at it, so it need
    not follow ``dL/da^l`` from layer to layer; ``relative_step`` says how large the first SGD step
    ``lr dL/dW^l`` is next to the weights ``W^l``.

    Raises
    ------
    ValueError, TypeError
        As :class:`gradviz.network.MLP`, or ``lr`` not > 0.
    """
    lr = check_positive("lr", lr)
    net = MLP(64, depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
              n_outputs=10, seed=seed)
    x, y = digits_batch(256, seed)
    with np.errstate(all="ignore"):  # an exploding network may overflow: its norms are then inf or nan
        loss, dlogits = softmax_cross_entropy(net.forward(x, training=True, record=True), y)
        net.backward(dlogits, param_grads=True, record=True)
        da = np.array([np.linalg.norm(rec["da"]) for rec in net.records])
        dW = np.array([np.linalg.norm(rec["dW"]) for rec in net.records])
        w_norm = np.array([np.linalg.norm(block.dense.params["W"]) for block in net.blocks])
        a_in = np.array([np.sqrt(np.mean(np.square(a))) for a in [x] + [rec["a"] for rec in net.records[:-1]]])
    scale = "" if weight_scale == 1 else f" x {weight_scale:g}"
    return LayerSteps(label=f"{activation}, {init}{scale}", da_norm=da, dW_norm=dW, relative_step=lr * dW / w_norm,
                      a_in_rms=a_in, loss=float(loss), lr=lr)


def steps_table(*networks: LayerSteps) -> str:
    """Side by side, one block of columns per :class:`LayerSteps`, one row per hidden layer, the top
    layer first (the order in which the backward pass visits them): the root mean square of the activations
    entering the layer, ||dL/da^l||, ||dL/dW^l|| and the step relative to the weights."""
    cols = "  ".join(f"{'rms a_in':>8} {'|dL/da|':>8} {'|dL/dW|':>8} {'step':>8}" for _ in networks)
    head = "  ".join(f"{n.label:^35.35}" for n in networks)
    rows = [f"{'':>5}  {head}", f"{'layer':>5}  {cols}"]
    for l in range(len(networks[0].da_norm) - 1, -1, -1):
        cells = "  ".join(f"{n.a_in_rms[l]:>8.2g} {n.da_norm[l]:>8.2g} {n.dW_norm[l]:>8.2g} {n.relative_step[l]:>8.2g}"
                          for n in networks)
        rows.append(f"{l + 1:>5}  {cells}")
    rows.append("rms a_in: root mean square of the activations entering the layer (layer 1: the pixels)")
    rows.append(f"|dL/da|: the gradient of the loss with respect to the layer's output a^l; layers 1-{len(networks[0].da_norm)} "
                "are the hidden layers (the 10-unit output layer is not listed)")
    rows.append("|.|: square root of the sum of squares over all 256 digits and all units (Frobenius norm)")
    rows.append(f"step = lr |dL/dW^l| / |W^l| with lr = {networks[0].lr:g}: the first SGD step as a fraction of the "
                "weights")
    return "\n".join(rows)


# ---- figures
#: Colour of each regime of :func:`gradviz.descent.classify_run` (Okabe-Ito).
REGIME_COLORS = {
    "crawls": plots.OKABE_ITO["blue"],
    "converges": plots.OKABE_ITO["green"],
    "oscillates": plots.OKABE_ITO["orange"],
    "diverges": plots.OKABE_ITO["vermillion"],
}

#: The window of (w, b) drawn for the chapter's data (``linear_regression_data()``) and :data:`START`.
DESCENT_WINDOW = {"w_range": (-3.0, 6.0), "b_range": (-5.0, 3.5)}
#: Spans of the learning-rate explorer's step axis (see :func:`draw_descent_run`).
_STEP_SPANS = (10, 20, 50, 100, 200, 400, 1000)


def _note(ax, gid, text, color, x=0.98, y=0.02, ha="right", va="bottom"):
    """Set (or clear, with an empty ``text``) a boxed note in axes coordinates, in place."""
    artist = plots.find_artist(ax, gid)
    if artist is None:
        artist = ax.text(x, y, "", transform=ax.transAxes, ha=ha, va=va, fontsize=9, gid=gid, zorder=7,
                         bbox=dict(boxstyle="round,pad=0.25", facecolor="white", edgecolor=color))
    artist.set_text(text)
    artist.set_color(color)
    artist.get_bbox_patch().set_edgecolor(color)
    artist.set_visible(bool(text))
    return artist


def plot_cost_contours(X, y, ax=None, *, w_range=DESCENT_WINDOW["w_range"], b_range=DESCENT_WINDOW["b_range"],
                       n=121, n_levels=14, minimum=True, axes_of_bowl=False):
    """Contours of the linear-regression cost J(w, b) (:func:`gradviz.descent.mse_cost`), minimum marked.

    Levels are spaced geometrically in ``J - J*`` (from 1/1000 of the largest
    value in the window up to it), so the rings near the bottom of the bowl
    stay visible. Equal scales on both axes, so the bowl's shape is true.

    Parameters
    ----------
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)
    w_range, b_range : (low, high)
        The window of slopes and intercepts drawn.
    n : int
        Grid points per axis.
    n_levels : int
        Number of contour lines.
    minimum : bool
        Mark the least-squares minimum with a star (gid ``'minimum'``).
    axes_of_bowl : bool
        Draw the two eigenvectors of the Hessian from the minimum, labelled with
        their curvature lambda (gid ``'bowl-axis'``).

    Returns
    -------
    Axes; the contour set has gid ``'contours'``.
    """
    with plots.style():
        ax = plots.prepare_axes(ax)
        W, B, J = cost_grid(X, y, w_range, b_range, n=n)
        w_opt, b_opt = least_squares(X, y)
        j_opt = mse_cost(w_opt, b_opt, X, y)
        top = float(np.max(J - j_opt))
        cs = ax.contour(W, B, J, levels=j_opt + np.geomspace(top * 1e-3, top, n_levels), colors="0.6",
                        linewidths=0.8, zorder=1)
        cs.set_gid("contours")
        if minimum:
            ax.plot([w_opt], [b_opt], marker="*", ms=15, color=plots.OKABE_ITO["black"], ls="none", zorder=5,
                    label="minimum (least squares)", gid="minimum")
        if axes_of_bowl:
            lam, vecs = np.linalg.eigh(hessian(X))
            span = 0.3 * min(w_range[1] - w_range[0], b_range[1] - b_range[0])
            for i, (name, color) in enumerate((("flattest", plots.OKABE_ITO["blue"]),
                                               ("steepest", plots.OKABE_ITO["vermillion"]))):
                v = vecs[:, i] * np.sign(vecs[0, i] or 1.0) * span
                ax.annotate("", xy=(w_opt + v[0], b_opt + v[1]), xytext=(w_opt, b_opt), zorder=6,
                            arrowprops=dict(arrowstyle="->", color=color, lw=2.2), gid="bowl-axis")
                ax.text(w_opt + 1.3 * v[0], b_opt + 1.3 * v[1], f"{name}\n$\\lambda$ = {lam[i]:.3g}", color=color,
                        fontsize=9, ha="center", va="center", zorder=6, gid="bowl-axis",
                        bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="none", alpha=0.85))
        ax.set_xlim(*w_range)
        ax.set_ylim(*b_range)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel("slope $w$")
        ax.set_ylabel("intercept $b$")
    return ax


def draw_descent_path(ax, run, *, color=None, label=None, gid="path", w_range=None, b_range=None):
    """Draw the path of a :class:`gradviz.descent.DescentRun` on contour axes, or update it in place.

    A line with a dot per step; the start an open circle. If the path leaves
    the window (``w_range``, ``b_range``; default: the axes limits), a note in
    the upper right corner says at which step. Called again with the same
    ``gid``, it moves the existing artists (``set_data``), so an explorer can
    redraw without rebuilding the axes.

    Returns
    -------
    list of artists (gids ``gid``, ``gid + ':start'``, ``gid + ':note'``).
    """
    color = color or plots.OKABE_ITO["blue"]
    w_range = w_range or ax.get_xlim()
    b_range = b_range or ax.get_ylim()
    p = run.params
    line, start = plots.find_artist(ax, gid), plots.find_artist(ax, gid + ":start")
    if line is None:
        (line,) = ax.plot([], [], "o-", ms=3.5, lw=1.4, zorder=3, gid=gid)
        (start,) = ax.plot([], [], "o", ms=9, mfc="white", mew=2, zorder=4, gid=gid + ":start")
    line.set_data(p[:, 0], p[:, 1])
    line.set_color(color)
    line.set_label(label)
    start.set_data(p[:1, 0], p[:1, 1])
    start.set_markeredgecolor(color)
    w, b = p[:, 0], p[:, 1]
    out = np.flatnonzero((w < min(w_range)) | (w > max(w_range)) | (b < min(b_range)) | (b > max(b_range)))
    text = f"leaves the plot at step {out[0]}" if out.size else ""
    if run.overflow_step is not None:
        text += ("; " if text else "") + f"overflow at step {run.overflow_step}"
    # the upper right corner: from the chapter's start (upper left) no path of the learning-rate explorer's range
    # crosses it, while a diverging one crosses the lower right (lr 2.5 to 3) or the lower left (lr 4)
    note = _note(ax, gid + ":note", text, color, y=0.98, va="top")
    return [line, start, note]


def draw_descent_cost(ax, run, X, y, *, color=None, label=None, gid="cost"):
    """Draw the excess cost ``J(w_t, b_t) - J*`` of a run per step on a log axis, or update it in place.

    Steps whose excess is 0 to machine precision are not drawn (log axis). An
    overflow is marked by a dotted vertical line at its step and the text
    "overflow at step k".

    Returns
    -------
    list of artists (gids ``gid``, ``gid + ':overflow'``, ``gid + ':overflow-text'``).
    """
    color = color or plots.OKABE_ITO["blue"]
    j_opt = mse_cost(*least_squares(X, y), X, y)
    excess = _drawable(run.cost - j_opt)
    line = plots.find_artist(ax, gid)
    if line is None:
        (line,) = ax.plot([], [], "-", lw=1.8, gid=gid)
        ax.axvline(0, color=color, ls=":", lw=1.5, gid=gid + ":overflow", visible=False)
        ax.text(0, 0.5, "", transform=ax.get_xaxis_transform(), rotation=90, ha="right", va="center", fontsize=9,
                gid=gid + ":overflow-text", visible=False)
    line.set_data(run.steps, excess)
    line.set_color(color)
    line.set_label(label)
    vline, vtext = plots.find_artist(ax, gid + ":overflow"), plots.find_artist(ax, gid + ":overflow-text")
    k = run.overflow_step
    for artist in (vline, vtext):
        artist.set_visible(k is not None)
        artist.set_color(color)
    if k is not None:
        vline.set_xdata([k, k])
        vtext.set_x(k)
        vtext.set_text(f"overflow at step {k}  ")
    ax.set_yscale("log")
    ax.relim(visible_only=True)  # set_data does not update the data limits by itself
    ax.autoscale_view(scaley=False)  # y: see set_log_ylim (autoscaling overflows near 1e308)
    ax.set_xlabel("step $t$")
    ax.set_ylabel("excess cost $J - J^*$ (log scale)")
    return [line, vline, vtext]


def draw_descent_run(ax_path, ax_cost, run, result, X, y, *, window=None, live=False):
    """One run on two axes, in place: its path on the contours and its excess cost per step.

    Both are drawn in the colour of the run's regime, with the regime in the
    title of ``ax_path``; on ``ax_cost`` a note says from which step the cost
    was above its start (a diverging run) and a dotted line marks an
    overflow. ``ax_path`` must already hold the contours
    (:func:`plot_cost_contours`). Used by the learning-rate explorer on every
    change and by the static figures.

    Parameters
    ----------
    run : :class:`gradviz.descent.DescentRun`
    result : :class:`gradviz.descent.RunClass`
        ``classify_run(run, X, y)``.
    window : dict with 'w_range' and 'b_range', or None for :data:`DESCENT_WINDOW`
    live : bool
        For an explorer: axes that hold still while they show the run well (a cost axis with labels quick
        to draw: ``sticky`` and ``plain`` of :func:`set_log_ylim`; a step axis spanning one of
        :data:`_STEP_SPANS` steps, kept while the run fills more than half of it), so that a slider step
        redraws the curves rather than the axes.
    """
    window = window or DESCENT_WINDOW
    shown = ax_cost.get_xlim()[1] / 1.02  # the steps the step axis spans now (before the cost is drawn)
    color = REGIME_COLORS[result.regime]
    draw_descent_path(ax_path, run, color=color, **window)
    ax_path.set_title(f"lr = {run.lr:.3g}: {result.regime}", color=color)
    draw_descent_cost(ax_cost, run, X, y, color=color)
    span = run.n_steps
    if live:  # the step axis keeps its span while the run fills more than half of it (like the cost axis)
        span = shown if run.n_steps <= shown < 2 * run.n_steps else next(
            (s for s in _STEP_SPANS if s >= run.n_steps), run.n_steps)
    ax_cost.set_xlim(-0.02 * span, 1.02 * span)
    set_log_ylim(ax_cost, plots.find_artist(ax_cost, "cost").get_ydata(), sticky=live, plain=live)
    note = f"cost above its start from step {result.diverged_at}" if result.regime == "diverges" else ""
    # a diverging cost rises from the lower left to the upper right: the upper left corner is empty
    _note(ax_cost, "diverged", note, color, x=0.02, y=0.97, ha="left", va="top")
    ax_cost.set_title("excess cost per step")


#: The top of a cost axis. A run's cost stops before 2 N J overflows (J below 1.8e308 / 200 = 9e305 for the
#: chapter's 100 points), so a diverging cost is drawn in full, up to its last finite step; matplotlib's
#: padding, which overflows near 1.8e308, is never used here (:func:`set_log_ylim` sets fixed limits).
COST_CEILING = 1e306


def _drawable(values):
    """Copy of ``values`` with NaN where not finite or <= 0, clipped to ``[1e-270, COST_CEILING]``: like
    :func:`gradviz.plots.positive_finite`, but a diverging cost above 1e270 keeps its true height."""
    v = np.array(values, dtype=float)
    with np.errstate(invalid="ignore"):
        v[~np.isfinite(v) | (v <= 0)] = np.nan
        np.clip(v, plots.LOG_DISPLAY_RANGE[0], COST_CEILING, out=v)
    return v


def set_log_ylim(ax, *values, floor=1e-18, ceiling=COST_CEILING, sticky=False, plain=False):
    """Set the y limits of a log axis to span the positive finite ``values`` (with a margin).

    Matplotlib's own autoscaling and log tick locator compute powers beyond
    the limits and overflow (with a RuntimeWarning) when the data reach
    ~1e300, as the cost of a diverging run does. Here the limits are clamped
    to ``[floor, ceiling]`` and the ticks are fixed decades inside them (at
    most 8, at round multiples). ``sticky``: keep the axis' current limits
    while they still show the data well, else take new ones rounded outwards
    (:func:`gradviz.plots.sticky_log_limits`), so that an explorer's slider step
    moves the curve rather than the axis (whose redraw was half of a frame).
    ``plain``: an axis quick to draw: tick labels as plain text (10⁻⁵,
    :class:`gradviz.plots.SuperscriptLogFormatter`) rather than mathtext, and minor
    ticks over at most 4 decades (:class:`gradviz.plots.FewDecadesLogLocator`).
    """
    v = np.concatenate([_drawable(np.ravel(x)) for x in values]) if values else np.array([])
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (1e-3, 1e3)
    lo, hi = max(lo / 5.0, floor), min(hi * 5.0, ceiling)
    if sticky and lo < hi:
        lo, hi = plots.sticky_log_limits(ax.get_ylim(), lo, hi, pad=0.0)
        lo, hi = max(lo, floor), min(hi, ceiling)
    if hi <= lo:
        lo, hi = lo / 10.0, lo * 10.0
    d_lo, d_hi = int(np.ceil(np.log10(lo))), int(np.floor(np.log10(hi)))
    span = max(d_hi - d_lo, 1)
    stride = next(k for k in (1, 2, 3, 5, 10, 20, 25, 50, 100) if span / k <= 7)
    decades = np.arange(int(np.ceil(d_lo / stride)) * stride, d_hi + 1, stride)
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_locator(mpl.ticker.FixedLocator(10.0 ** decades))
    ax.yaxis.set_major_formatter(plots.SuperscriptLogFormatter() if plain else mpl.ticker.LogFormatterSciNotation())
    if plain:
        ax.yaxis.set_minor_formatter(plots.SuperscriptLogFormatter(labelOnlyBase=False))
    if stride > 1:
        ax.yaxis.set_minor_locator(mpl.ticker.NullLocator())
    else:
        ax.yaxis.set_minor_locator(plots.FewDecadesLogLocator() if plain else mpl.ticker.LogLocator(subs="auto"))


def plot_lr_sweep(sweep, rates, ax=None, *, floor=1e-17, top=1e4):
    """The excess cost left after a run, as a fraction of the start, against the learning rate.

    Log-log; each point is coloured by its regime. Vertical lines mark the
    critical rates of :class:`gradviz.descent.CriticalRates`. Ratios above
    ``top`` (and overflowed runs) are drawn as triangles at ``top``; ratios of
    0 (at the minimum to machine precision) at ``floor``.

    Parameters
    ----------
    sweep : :class:`gradviz.descent.LearningRateSweep`
    rates : :class:`gradviz.descent.CriticalRates`

    Returns
    -------
    Axes (points of gid ``'sweep:<regime>'``, lines of gid ``'critical'``).
    """
    with plots.style():
        ax = plots.prepare_axes(ax, figsize=(9.0, 4.2))
        lrs = np.asarray(sweep.lrs, dtype=float)
        ratio = sweep.excess_ratios
        r = np.clip(np.nan_to_num(ratio, nan=top, posinf=top), floor, top)
        clipped = ratio >= top
        regimes = np.array(sweep.regimes)
        for regime, color in REGIME_COLORS.items():
            sel = regimes == regime
            if (sel & ~clipped).any():
                ax.plot(lrs[sel & ~clipped], r[sel & ~clipped], "o", color=color, ms=6, mec="white", mew=0.7,
                        zorder=3, label=regime, gid=f"sweep:{regime}")
            if (sel & clipped).any():
                ax.plot(lrs[sel & clipped], r[sel & clipped], "^", color=color, ms=7, mec="white", mew=0.7, zorder=3,
                        gid=f"sweep:{regime}:clipped",
                        label=f"{regime} (drawn at {top:.0e}:\nabove it, or overflowed)")
        for value, text, ls in ((rates.lr_monotone, r"$1/\lambda_{max}$", "--"),
                                (rates.lr_best, r"$2/(\lambda_{min}+\lambda_{max})$", ":"),
                                (rates.lr_max, r"$2/\lambda_{max}$", "-")):
            ax.axvline(value, color="0.25", ls=ls, lw=1.2, gid="critical", label=f"{text} = {value:.3g}")
        ax.text(0.01, floor, f" at the minimum to machine precision (drawn at {floor:.0e})", fontsize=8,
                color="0.35", transform=ax.get_yaxis_transform(), va="bottom")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(floor / 5, top * 5)
        ax.set_xlabel("learning rate lr (log scale)")
        ax.set_ylabel("excess cost at the end / at the start\n(log scale)")
        ax.set_title(f"{sweep.n_steps} steps from the same start at each learning rate")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    return ax


@figure("gd_cost_bowl")
def cost_bowl(data=None):
    """The data with its least-squares line, and the bowl-shaped cost J(w, b) with its two principal axes."""
    X, y = _xy(data)
    w_opt, b_opt = least_squares(X, y)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(11.5, 4.6), width_ratios=[1.15, 1])
    with plots.style():
        a1.plot(X[:, 0], y, "o", ms=4, color=plots.OKABE_ITO["blue"], alpha=0.7, label="data $(x_i, y_i)$")
        xs = np.array([X.min(), X.max()])
        a1.plot(xs, w_opt * xs + b_opt, color=plots.OKABE_ITO["black"], lw=2,
                label=f"least squares: $y = {w_opt:.3g}\\,x {b_opt:+.3g}$")
        a1.set_xlabel("$x$")
        a1.set_ylabel("$y$")
        a1.legend(loc="upper left", fontsize=9)
        a1.set_title("the data and the best line")
        plot_cost_contours(X, y, a2, axes_of_bowl=True, **DESCENT_WINDOW)
        a2.set_title("the cost $J(w, b)$: contour lines of a bowl")
        a2.legend(loc="upper right", fontsize=9)
    return fig


@figure("gd_four_learning_rates")
def four_learning_rates(data=None, lrs=(0.02, 0.3, 1.2, 1.4), n_steps=50):
    """Gradient descent from one start at four learning rates: the paths on the bowl and the excess cost per step."""
    X, y = _xy(data)
    runs = [gradient_descent(X, y, lr, n_steps=n_steps, start=START) for lr in lrs]
    classes = [classify_run(run, X, y) for run in runs]
    fig, _ = plots.new_figure(figsize=(3.0 * len(runs) + 1.6, 6.6))
    fig.clear()
    axd = fig.subplot_mosaic([[f"p{i}" for i in range(len(runs))], ["cost"] * len(runs)], height_ratios=[1.1, 1])
    with plots.style():
        for i, (run, cls) in enumerate(zip(runs, classes)):
            ax = axd[f"p{i}"]
            plot_cost_contours(X, y, ax, **DESCENT_WINDOW)
            color = REGIME_COLORS[cls.regime]
            draw_descent_path(ax, run, color=color, **DESCENT_WINDOW)
            ax.set_title(f"lr = {run.lr:.3g}: {cls.regime}", color=color)
            if i:
                ax.set_ylabel("")
        ax = axd["cost"]
        plots.tidy(ax)
        for run, cls in zip(runs, classes):
            draw_descent_cost(ax, run, X, y, color=REGIME_COLORS[cls.regime], gid=f"cost:{run.lr:g}",
                              label=f"lr = {run.lr:.3g} ({cls.regime})")
        set_log_ylim(ax, *[line.get_ydata() for line in ax.lines])
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
        ax.set_title(f"excess cost per step ({n_steps} steps from the open circle)")
    return fig


@figure("gd_lr_sweep")
def lr_sweep(data=None, n_steps=50, lrs=None):
    """Excess cost left after a run against the learning rate, coloured by regime, with the critical rates of the Hessian."""
    X, y = _xy(data)
    lrs = np.geomspace(0.005, 5.0, 61) if lrs is None else lrs
    sweep = sweep_learning_rates(X, y, lrs, n_steps=n_steps, start=START)
    fig, ax = plots.new_figure(figsize=(10.0, 4.4))
    plot_lr_sweep(sweep, critical_learning_rates(X), ax)
    return fig


@figure("gd_one_run")
def one_run(data=None, lr=3.0, n_steps=400):
    """One run of gradient descent (by default a diverging one, until float64 overflows): path and excess cost."""
    X, y = _xy(data)
    run = gradient_descent(X, y, lr, n_steps=n_steps, start=START)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(11.0, 4.6), width_ratios=[1.0, 1.3])
    with plots.style():
        plot_cost_contours(X, y, a1, **DESCENT_WINDOW)
        draw_descent_run(a1, a2, run, classify_run(run, X, y), X, y)
    return fig


# ---- explorers
class LearningRateExplorer(widgets.Explorer):
    """Batch gradient descent on the convex cost of a linear regression, with a learning-rate slider.

    Left: the contours of the cost J(w, b) with the path of the run (it leaves
    the plot when the run diverges, and a note says at which step). Right: the
    excess cost ``J - J*`` per step on a log axis (straight lines: geometric
    decay or growth; an overflow is marked). The readout names the regime
    (:func:`gradviz.descent.classify_run`) and the critical learning rates
    from the Hessian (:func:`gradviz.descent.critical_learning_rates`).

    Controls: ``lr`` (log slider, 0.001 to 5: crawl, converge, oscillate,
    diverge) and ``steps`` (5 to 400).

    Parameters
    ----------
    data : RegressionData or (X, y) or None
        The regression problem; None means ``gradviz.data.linear_regression_data()``
        (the chapter's data).
    start : (float, float)
        The initial ``(w, b)``.

    Attributes
    ----------
    run : DescentRun
        The run drawn now.
    result : RunClass
        Its classification.
    rates : CriticalRates
    """

    figsize = (9.6, 4.2)  # fits a JupyterLab notebook column at 100 dpi

    def __init__(self, canvas="auto", *, data=None, start=START, **values):
        self.X, self.y = _xy(data)
        self.start = tuple(start)
        self.rates = critical_learning_rates(self.X)
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def blit_static(self):
        # drawn once: the cost panel's fixed title. (The contours, under everything else, could be too, but
        # _canvas.Blitter takes an artist with a get_text method for a text, and a ContourSet's is its labeller.)
        return [self.ax_cost.title]

    def make_controls(self):
        return {
            "lr": widgets.log_slider("learning rate lr", 1e-3, 5.0, 0.1, continuous_update=True),
            "steps": widgets.int_slider("steps", 5, 400, 50),
        }

    def setup_figure(self, fig):
        self.ax_path, self.ax_cost = fig.subplots(1, 2, width_ratios=[1.0, 1.3])
        for ax in (self.ax_path, self.ax_cost):
            plots.tidy(ax)
        plot_cost_contours(self.X, self.y, self.ax_path, **DESCENT_WINDOW)

    def refresh(self, lr, steps):
        self.run = gradient_descent(self.X, self.y, lr, n_steps=steps, start=self.start)
        self.result = classify_run(self.run, self.X, self.y)
        draw_descent_run(self.ax_path, self.ax_cost, self.run, self.result, self.X, self.y, live=True)
        self.readout.value = self._readout_html()

    def summary(self) -> str:
        """Plain text of what the explorer shows now: the regime of the run and the critical rates."""
        r = self.rates
        return (f"{self.result}\n"
                f"critical rates from the Hessian: 1/lambda_max = {r.lr_monotone:.3g} (largest without "
                f"overshoot), 2/lambda_max = {r.lr_max:.3g} (converges iff lr is below)")

    def _readout_html(self):
        r, res = self.rates, self.result
        color = REGIME_COLORS[res.regime]
        lines = [f"<b style='color:{color}'>{html.escape(str(res))}</b>",
                 f"Critical rates from the Hessian (eigenvalues {r.lambda_min:.3g} and {r.lambda_max:.3g}): "
                 f"no overshoot up to 1/&lambda;<sub>max</sub> = {r.lr_monotone:.3g}; "
                 f"converges iff lr &lt; 2/&lambda;<sub>max</sub> = {r.lr_max:.3g}. "
                 f"Here lr = {res.lr / r.lr_max:.3g} &times; 2/&lambda;<sub>max</sub>."]
        return "<br>".join(lines)


# ---- exercises
# Answers are computed from the chapter's data, gradviz.data.linear_regression_data()
# (100 points, noise 0.5, seed 0).
def _critical_rates(scale: float = 1.0):
    """The critical learning rates of the chapter's data with every input multiplied by ``scale``."""
    return critical_learning_rates(scale * linear_regression_data().X)


@exercise(
    "01.1",
    question="The learning rate from which on gradient descent on the chapter's data no longer converges from "
    "every start (every smaller one converges from every start).",
    hint="Along the steepest axis of the bowl the offset from the minimum is multiplied by (1 - lr * lambda_max) "
    "per step; find the lr at which that factor reaches -1. lambda_max is the largest eigenvalue of "
    "gv.descent.hessian(X).",
    explain=lambda lr: (
        "The offset along the eigenvector with eigenvalue lambda is multiplied by (1 - lr * lambda) per step. "
        "It shrinks iff |1 - lr * lambda| < 1, i.e. lr < 2 / lambda; the steepest axis (lambda_max) is the "
        f"first to fail. Here: 2 / lambda_max = 2 / {2 / lr:.4g} = {lr:.4g}.\n"
        "In code: gv.descent.critical_learning_rates(X).lr_max"
    ),
)
def largest_stable_lr():
    """2 / lambda_max of the chapter's data: from this learning rate on, gradient descent no longer converges from
    every start (every smaller one does)."""
    return _critical_rates().lr_max


@exercise(
    "01.2",
    question="Multiply every input x by 2 (keep y). From which learning rate on does gradient descent now stop "
    "converging?",
    hint="The Hessian is [[mean(x^2), mean(x)], [mean(x), 1]]. Which entries change when x doubles, and by how "
    "much? Compute its largest eigenvalue again, e.g. with gv.descent.critical_learning_rates(2 * X).",
    explain=lambda lr: (
        "Doubling x multiplies mean(x^2) by 4 and mean(x) by 2, but the bias entry stays 1, so the Hessian does "
        "not simply scale by 4. Its largest eigenvalue is now "
        f"{2 / lr:.4g} (it was {_critical_rates().lambda_max:.4g}), and 2 / lambda_max = {lr:.4g} "
        f"(it was {_critical_rates().lr_max:.4g}).\n"
        "Larger inputs make the bowl steeper and the safe learning rate smaller: one reason to standardise "
        "inputs before training.\nIn code: gv.descent.critical_learning_rates(2 * X).lr_max"
    ),
)
def largest_stable_lr_doubled_inputs():
    """2 / lambda_max of the chapter's data with every x doubled."""
    return _critical_rates(2.0).lr_max


@exercise(
    "01.3",
    question="With lr = 1.5, by what factor is the excess cost J - J* multiplied per step, once the steepest "
    "axis dominates?",
    hint="Along the steepest axis the offset is multiplied by (1 - lr * lambda_max) per step, and the excess "
    "cost is quadratic in the offset.",
    explain=lambda factor: (
        "Along the steepest axis the offset u is multiplied by r = 1 - lr * lambda_max = "
        f"1 - 1.5 * {_critical_rates().lambda_max:.4g} = {1 - 1.5 * _critical_rates().lambda_max:.4g} per step; "
        "the excess cost along that axis is lambda_max * u^2 / 2, so it is multiplied by r^2 = "
        f"{factor:.4g}. The other axis shrinks, so after a few steps the ratio of consecutive excess costs "
        "settles on r^2: check it with run = gv.descent.gradient_descent(X, y, 1.5, 60), then "
        "(run.cost[-1] - J*) / (run.cost[-2] - J*)."
    ),
)
def excess_cost_factor():
    """(1 - 1.5 lambda_max)^2: the factor by which the excess cost at lr = 1.5 grows per step once the steepest
    axis dominates (LeCun et al. 1998, section 5)."""
    return (1.0 - 1.5 * _critical_rates().lambda_max) ** 2


def _gd_step_inputs():
    """Argument tuples ``(w, b, X, y, lr)`` for 01.4: the chapter's data from the chapter's start, and a
    small made-up data set whose mean x is far from 0 (so that a step mixing up w and b fails)."""
    d = linear_regression_data()
    X_small = np.array([[1.0], [2.0], [4.0], [5.0]])
    y_small = np.array([2.0, 2.5, 5.0, 4.5])
    return [(*START, d.X, d.y, 0.3), (0.5, -1.0, d.X, d.y, 1.2), (0.0, 0.0, X_small, y_small, 0.05)]


@exercise(
    "01.4",
    question="Write gd_step(w, b, X, y, lr): one step of gradient descent on J(w, b) = (1/2N) sum_i "
    "(w x_i + b - y_i)^2, returning the new (w, b). X has shape (N, 1) (x = X[:, 0]), y shape (N,).",
    hint="First the residuals r_i = w x_i + b - y_i (one numpy expression for all i). Then dJ/dw is the mean "
    "of r_i x_i and dJ/db the mean of r_i (the formulas of Experiment 2). Step both against their gradient, "
    "computed at the old (w, b), and return the pair.",
    explain=lambda ref: (
        "With x = X[:, 0] and the residuals r = w x + b - y: dJ/dw = mean(r x), dJ/db = mean(r), and the step "
        "is (w - lr dJ/dw, b - lr dJ/db). Both derivatives use the old w and b: updating w first and then "
        "computing dJ/db with the new w is a different (and wrong) algorithm. Repeat it n_steps times and you "
        "have gv.descent.gradient_descent; check it: after 50 steps at lr 0.3 from (-1.5, 2.5) your (w, b) "
        "should equal gv.descent.gradient_descent(X, y, 0.3, 50).params[-1]."
    ),
    inputs=_gd_step_inputs(),
    rtol=1e-9,
)
def gd_step(w, b, X, y, lr):
    """One batch gradient-descent step on :func:`gradviz.descent.mse_cost`: the new ``(w, b)``."""
    x = X[:, 0]
    residual = w * x + b - y
    return w - lr * np.mean(residual * x), b - lr * np.mean(residual)
