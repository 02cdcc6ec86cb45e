"""Every figure the notebooks show, by name, deterministic (fixed seeds).

Each chapter module (``gradviz/chapters/chNN_*.py``) registers its figures
here with :func:`figure`; a notebook shows one with ``gv.figures.show(ch.some_figure())``
or ``gv.figures.show("name")``, and the command line renders all of them for slides::

    python -m gradviz figures --out DIR [--format png|svg|both] [--only NAME ...] [--list]

Each function takes no required argument, returns a
:class:`matplotlib.figure.Figure` that pyplot does not track (so rendering
many figures does not pile them up), and draws the same picture every time:
networks, inputs and training runs all come from fixed seeds.

Adding a figure
---------------
Write the function in its chapter's module, in the "figures" section, and
decorate it; keep it fast (< 2-3 s)::

    @figure("selu_mean_std")          # chapter 5, read from the module name ch05_...
    def selu_mean_std():
        '''Per-layer mean and std of a SELU net (Klambauer et al. 2017).'''
        fig, ax = plots.new_figure()
        ...
        return fig

The first line of the docstring is the description ``--list`` prints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import plots
from ._validate import check_choice

__all__ = ["FIGURES", "FigureSpec", "figure", "render", "save", "show", "list_names", "output_path", "FORMATS"]

#: Output formats of :func:`save`.
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its name, the function that draws it, the chapter that shows it."""

    name: str
    func: Callable
    chapter: int | None = None

    @property
    def description(self) -> str:
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


#: Registry of figures: name -> FigureSpec, in the order they were registered.
FIGURES: dict[str, FigureSpec] = {}


_CHAPTER_MODULE = re.compile(r"(?:^|\.)ch(\d\d)_\w+$")


def _chapter_of(module: str) -> int | None:
    """Chapter number of a module named ``...chNN_name`` (None for any other module)."""
    match = _CHAPTER_MODULE.search(module or "")
    return int(match.group(1)) if match else None


def figure(name: str):
    """Decorator: register a function that returns a Figure under ``name``.

    ``name`` is the file name the command line writes (``<name>.png``); the
    chapter is read from the module that defines the function
    (``gradviz.chapters.ch04_nonsaturating`` -> 4).

    Raises
    ------
    ValueError
        If ``name`` is empty or not file-name safe, or if a figure of that name is
        already registered.
    """
    if not isinstance(name, str) or not name or any(c in name for c in r' /\:'):
        raise ValueError(f"figure name must be a non-empty file-name-safe string; got {name!r}")

    def deco(func):
        if name in FIGURES:
            raise ValueError(f"a figure called {name!r} is already registered "
                             f"(by {FIGURES[name].func.__module__}.{FIGURES[name].func.__qualname__})")
        FIGURES[name] = FigureSpec(name, func, _chapter_of(func.__module__))
        return func

    return deco


def register_figure(name: str, chapter: int | None = None):
    """Transitional: the old decorator, used until every chapter lives in ``gradviz.chapters``."""

    def deco(func):
        figure(name)(func)
        FIGURES[name] = FigureSpec(name, func, chapter)
        return func

    return deco


def render(name: str):
    """Draw the figure registered as ``name`` and return it.

    Figures are registered when their chapter module is imported
    (``gradviz.chapters.load_all()`` imports every chapter).
    """
    name = check_choice("name", name, FIGURES)
    return FIGURES[name].func()


def save(fig, path: str, fmt: str = "png", dpi: int = 150) -> str:
    """Write ``fig`` to ``path`` with no timestamp or version in the file, so the bytes are reproducible.

    PNG: the 'Software' text chunk is dropped; SVG: no 'Date', a fixed
    ``svg.hashsalt`` (element ids) and text as paths. Returns the path.
    """
    import matplotlib as mpl

    fmt = check_choice("fmt", fmt, FORMATS)
    if fmt == "png":
        metadata = {"Software": None}
    else:
        metadata = {"Date": None, "Creator": None}
    with mpl.rc_context({"svg.hashsalt": "gradviz", "svg.fonttype": "path"}):
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
    return path


# ----------------------------------------------------------------------------- show (added by the chapter-01 author)
def show(fig, dpi: int = 100) -> None:
    """Display a figure in a notebook as a PNG image and nothing else; return None.

    CONTRIBUTING asks that static figures leave no ``<Figure size ...>`` or
    ``Text(...)`` repr in a cell's output (their form changes between library
    versions, and nbval would compare it): the output holds only the
    ``image/png`` data, written without the 'Software' chunk as :func:`save`
    does.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or str
        A figure, or the name of a registered figure (drawn with :func:`render`).
    dpi : int, default 100
        Resolution of the PNG.
    """
    import io

    from IPython.display import display

    if isinstance(fig, str):
        fig = render(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    display({"image/png": buf.getvalue()}, raw=True)


def list_names():
    """Names of the registered figures, in registration order."""
    return list(FIGURES)


def output_path(out_dir: str, name: str, fmt: str) -> str:
    return os.path.join(out_dir, f"{name}.{fmt}")


# =============================================================================== chapter 02: vanishing and exploding
# Section owned by the chapter-02 author. Networks and data come from gradviz.stats
# (digits_flow, probe_flow) with seed 0; every function accepts its results to avoid computing twice.
_CH02_DEPTH, _CH02_WIDTH = 10, 64


@register_figure("sigmoid_slope_and_saturation", chapter=2)
def sigmoid_slope_and_saturation():
    """The sigmoid and its slope (never above 1/4), the saturated tails, and how small the slope gets at z = 1000."""
    from .activations import sigmoid, sigmoid_grad
    from .theory import saturation_onset, sigmoid_slope_log10

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


def _ch02_digits_flow(flow=None, **kwargs):
    from .stats import digits_flow

    if flow is not None:
        return flow
    kw = dict(depth=_CH02_DEPTH, width=_CH02_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    kw.update(kwargs)
    return digits_flow(**kw)[1]


@register_figure("sigmoid_gradient_per_layer", chapter=2)
def sigmoid_gradient_per_layer(flow=None):
    """A 10-layer sigmoid MLP on a batch of digits, at initialisation: weight-gradient norm per layer, and the
    gradient relative to the top layer against the slope bound, the typical product and the worst case."""
    flow = _ch02_digits_flow(flow)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.5, 4.6), width_ratios=[1, 1.25])
    with plots.style():
        layers = flow.layer
        ok = np.isfinite(flow.dW_norm) & (flow.dW_norm > 0)
        a1.bar(layers[ok], flow.dW_norm[ok], width=0.75, color=plots.COLORS["grad_norm"], gid="bars")
        a1.set_yscale("log")
        a1.set_ylabel(r"$\|\partial L/\partial W^l\|$ (log scale)")
        plots.layer_axis(a1, flow.depth)
        a1.set_title("what SGD would apply to each layer's weights")
        plots.plot_gradient_ratio(flow, ax=a2, title=r"the gradient $\partial L/\partial a^l$ on its way down")
    fig.suptitle(f"sigmoid MLP, {flow.depth} hidden layers x {_CH02_WIDTH} units, Glorot init, untrained; "
                 "cross-entropy on 256 digits", fontsize=12)
    return fig


@register_figure("vanishing_with_depth", chapter=2)
def vanishing_with_depth(sweep=None, depths=(5, 10, 20, 30)):
    """Sigmoid MLPs of several depths on the digits: the deeper the net, the less reaches layer 1, because the
    gradient shrinks by about the same factor at every layer it crosses."""
    import matplotlib as mpl

    from .stats import depth_sweep

    if sweep is None:
        sweep = depth_sweep(depths, width=_CH02_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(13.5, 4.8))
    with plots.style():
        cmap = mpl.colormaps["plasma"]
        markers = ["o", "s", "^", "D", "v", "P"]
        items = sorted(sweep.items(), reverse=True)  # deepest first, so the shallow ones are drawn on top
        n = len(items)
        for i, (L, flow) in enumerate(items):
            color = cmap(0.8 * (n - 1 - i) / max(n - 1, 1))
            rel = plots._positive_finite(flow.da_norm / flow.da_norm[-1])
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
        fig.suptitle(f"untrained sigmoid MLPs, {_CH02_WIDTH} units per layer, Glorot init, cross-entropy on 256 digits",
                     fontsize=12)
    return fig


def _ch02_relu_flow(weight_scale, depth, dtype, width=128):
    from .network import MLP
    from .stats import probe_flow

    net = MLP(width, depth=depth, width=width, activation="relu", init="he_normal", weight_scale=weight_scale,
              n_outputs=None, seed=0, dtype=dtype)
    return probe_flow(net, batch_size=128, seed=0, spectral_norms=False)


@register_figure("exploding_and_overflow", chapter=2)
def exploding_and_overflow(grow=None, overflow=None):
    """ReLU MLPs with weights 2x and 10x the He scale: norms grow by the weight factor per layer, until float32 overflows."""
    grow = grow if grow is not None else _ch02_relu_flow(2.0, 30, np.float64)
    overflow = overflow if overflow is not None else _ch02_relu_flow(10.0, 50, np.float32)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(13, 4.6), sharey=False)
    plots.plot_layer_norms(grow, ax=a1, title=f"weights 2x He: both grow about 2x per layer ({grow.depth} layers)",
                           legend=False)
    big = float(np.finfo(np.float32).max)
    plots.plot_layer_norms(overflow, ax=a2, legend=False,
                           title=f"weights 10x He, float32 (largest number {big:.2g}): {overflow.depth} layers")
    with plots.style():
        a1.legend(loc="upper center", fontsize=9)
        # The norms sum 128 x 128 entries (in float64), so they can pass float32's limit a layer or two before
        # any single entry does: the dotted line marks the limit for one entry, not for the norm.
        a2.axhline(big, color="0.3", ls=":", lw=1, label=f"largest float32 number, {big:.2g} (one entry)",
                   gid="float32_max")
        a2.set_ylabel("norm over the batch (log scale, float64 sum)")
        a2.set_ylim(top=max(a2.get_ylim()[1], big * 1e14))  # room for the legend above the dotted line
        a2.legend(loc="upper left", fontsize=9)
        if not np.isfinite(overflow.da_norm).any():
            a2.text(0.38, 0.04, "no gradient drawn: the forward\npass overflowed, so the loss and\nevery gradient "
                    "are inf or nan", transform=a2.transAxes, fontsize=9, color="0.25", va="bottom", gid="no_gradient")
        fig.suptitle("ReLU MLPs, 128 units per layer, standard-normal input and upstream gradient", fontsize=12)
    return fig


@register_figure("sigmoid_saturation_by_scale", chapter=2)
def sigmoid_saturation_by_scale(flows=None, scales=(1.0, 4.0, 16.0)):
    """A 10-layer sigmoid MLP on the digits with weights 1x, 4x and 16x Glorot: saturated units, rms slope and
    the gradient per layer."""
    if flows is None:
        flows = {s: _ch02_digits_flow(weight_scale=s) for s in scales}
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(15, 4.5))
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("blue", "orange", "vermillion", "green", "purple")]
        for (s, flow), c in zip(sorted(flows.items()), colors):
            lab = f"weights {s:g}x Glorot"
            a1.plot(flow.layer, 100 * flow.saturated_fraction, "s-", ms=4, color=c, label=lab, gid=f"saturated:{s:g}")
            a2.plot(flow.layer, flow.rms_slope, "o-", ms=4, color=c, label=lab, gid=f"slope:{s:g}")
            a3.plot(flow.layer, plots._positive_finite(flow.da_norm / flow.da_norm[-1]), "o-", ms=4, color=c,
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
        fig.suptitle(f"sigmoid MLP, {depth} hidden layers x {_CH02_WIDTH} units, untrained, 256 digits", fontsize=12)
    return fig


@register_figure("sigmoid_training_first_layers", chapter=2)
def sigmoid_training_first_layers(runs=None):
    """Sigmoid MLPs trained on the digits: test accuracy, how far each layer's weights moved, and the
    weight-gradient norm per layer during training."""
    from .train import compare_depths

    runs = runs if runs is not None else compare_depths()
    labels = list(runs)
    deep_label = max(labels, key=lambda k: runs[k][0].depth)
    deep, change = runs[deep_label]
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(15.5, 4.6), width_ratios=[1, 1, 1.1])
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue", "orange")]
        for (label, (h, _)), c in zip(runs.items(), colors):
            a1.plot(h.record_steps, 100 * plots._finite(h.test_accuracy), "-", color=c, label=label, gid=f"acc:{label}")
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
        a2.set_title(f"how far each layer's weights moved ({deep_label})", fontsize=11)
    plots.plot_layer_stat_over_steps(deep.record_steps, deep.grad_norm, ax=a3, label=r"$\|\partial L/\partial W^l\|$",
                                     title=f"weight-gradient norm per layer ({deep_label})")
    with plots.style():
        cfg = deep.config
        fig.suptitle(f"{_CH02_WIDTH} units per layer, Glorot init, SGD lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
                     f"{cfg['steps']} steps", fontsize=12)
    return fig
