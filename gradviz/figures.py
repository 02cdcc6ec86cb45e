"""Every figure the notebooks show, by name, deterministic (fixed seeds).

A notebook cell calls a figure function (``figures.activation_functions()``)
and the command line renders all of them for slides::

    python -m gradviz figures --out DIR [--format png|svg|both] [--only NAME ...] [--list]

Each function takes no required argument, returns a
:class:`matplotlib.figure.Figure` that pyplot does not track (so rendering
many figures does not pile them up), and draws the same picture every time:
networks, inputs and training runs all come from fixed seeds.

Adding a figure
---------------
Append a function to this module and register it; keep it fast (< 2-3 s)::

    @register_figure("selu_mean_std", chapter=5)
    def selu_mean_std():
        '''Per-layer mean and std of a SELU net (Klambauer et al. 2017).'''
        fig, ax = plots.new_figure()
        ...
        return fig

The first line of the docstring is the description ``--list`` prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import plots
from ._validate import check_choice

__all__ = ["FIGURES", "FigureSpec", "register_figure", "render", "save", "FORMATS"]

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


def register_figure(name: str, chapter: int | None = None):
    """Decorator: register a function returning a Figure under ``name`` (file name of the CLI output)."""
    if not name or any(c in name for c in r' /\:'):
        raise ValueError(f"figure name must be a non-empty file-name-safe string; got {name!r}")

    def deco(func):
        if name in FIGURES:
            raise ValueError(f"a figure called {name!r} is already registered")
        FIGURES[name] = FigureSpec(name, func, chapter)
        return func

    return deco


def render(name: str):
    """Draw the figure registered as ``name`` and return it."""
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


# =============================================================================== the figures
def _probe_net(depth, width, activation, init, weight_scale=1.0, batch_size=256, seed=0, dtype=np.float64):
    from .network import MLP
    from .stats import probe

    net = MLP(width, depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
              n_outputs=None, seed=seed, dtype=dtype)
    return net, probe(net, batch_size=batch_size, seed=seed)


def _prediction(depth, width, activation, init, weight_scale=1.0):
    from .theory import init_weight_variances, predict_variances

    widths = [width] * (depth + 1)
    return predict_variances(widths, activation, init_weight_variances(widths, init, weight_scale=weight_scale))


@register_figure("activation_functions", chapter=2)
def activation_functions():
    """Sigmoid, tanh and ReLU with their slopes; saturated inputs shaded."""
    fig, axes = plots.new_figure(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, name in zip(axes, ("sigmoid", "tanh", "relu")):
        plots.plot_activation(name, ax=ax, x_range=(-8, 8))
        if name == "relu":
            ax.set_ylim(-1.2, 2.2)
            ax.text(0.98, 0.04, "slope 0 for z < 0:\nno saturation, but units can die", transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=9, color="0.3")
        if ax is not axes[0]:
            ax.set_ylabel("")
    fig.suptitle(r"Activation $\varphi$ and its slope $\varphi'$: where $\varphi'$ is near 0 "
                 "no gradient gets through", fontsize=12)
    return fig


@register_figure("variance_sigmoid_vs_relu_he", chapter=3)
def variance_sigmoid_vs_relu_he():
    """Per-layer Var(a) and Var(dL/da), measured and predicted: a deep sigmoid net vs a He-initialised ReLU net."""
    depth, width = 20, 256
    fig, axes = plots.new_figure(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, (act, init, title) in zip(axes, [
        ("sigmoid", "glorot_uniform", "sigmoid, Glorot uniform init"),
        ("relu", "he_normal", "ReLU, He normal init"),
    ]):
        _, stats = _probe_net(depth, width, act, init)
        plots.plot_variances(stats, _prediction(depth, width, act, init), ax=ax,
                             title=f"{title} ({depth} layers x {width} units)")
    axes[1].set_ylabel("")
    return fig


@register_figure("histograms_tanh_naive_vs_glorot", chapter=3)
def histograms_tanh_naive_vs_glorot():
    """Per-layer histograms of tanh activations and gradients: naive uniform init vs Glorot (after Glorot & Bengio 2010, Figs. 6-7)."""
    nets = {}
    for label, init in [("naive init: U[-1/sqrt(n), 1/sqrt(n)]", "uniform"),
                        ("normalized (Glorot) init", "glorot_uniform")]:
        net, _ = _probe_net(5, 256, "tanh", init, batch_size=512)
        nets[label] = net
    fig = plots.histogram_grid(nets, keys=("a", "da"), bins=60)
    fig.suptitle("tanh network, 5 hidden layers of 256 units, standard-normal input (cf. Glorot & Bengio 2010, "
                 "Figs. 6-7)", fontsize=12)
    return fig


@register_figure("grad_norm_and_saturation_sigmoid", chapter=2)
def grad_norm_and_saturation_sigmoid():
    """A deep sigmoid net with large weights: gradient size per layer (bars) and saturated units per layer."""
    depth, width = 15, 256
    _, stats = _probe_net(depth, width, "sigmoid", "glorot_uniform", weight_scale=4.0)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.2))
    plots.plot_grad_norm(stats, ax=a1, quantity="da_std",
                         title=r"size of the gradient $\partial L/\partial a^l$ per layer")
    plots.plot_unit_fractions(stats, ax=a2, which=("saturated",), title="saturated sigmoid units per layer")
    fig.suptitle(f"sigmoid, Glorot init x 4, {depth} layers x {width} units", fontsize=12)
    return fig


@register_figure("training_digits_sigmoid_vs_relu", chapter=4)
def training_digits_sigmoid_vs_relu():
    """Training on the handwritten digits: a deep sigmoid net vs a ReLU net (He init), same learning rate."""
    from .data import load_digits
    from .network import MLP
    from .train import train

    data = load_digits(seed=0)
    runs = {}
    for label, act, init in [("sigmoid, Glorot init", "sigmoid", "glorot_uniform"),
                             ("tanh, Glorot init", "tanh", "glorot_uniform"),
                             ("ReLU, He init", "relu", "he_normal")]:
        net = MLP(data.n_features, depth=6, width=64, activation=act, init=init, n_outputs=data.n_classes, seed=0)
        runs[label] = train(net, data, lr=0.1, steps=200, batch_size=64, seed=0, record_every=20, progress=False)
    fig, axes = plots.new_figure(1, 3, figsize=(15, 4.4), width_ratios=[1, 1, 0.9])
    plots.plot_training_curves(runs, axes=axes[:2], smooth=10)
    h = runs["sigmoid, Glorot init"]
    plots.plot_layer_stat_over_steps(h.record_steps, h.grad_norm, ax=axes[2], label=r"$\|\partial L/\partial W^l\|$",
                                     title="sigmoid: gradient norm per layer")
    fig.suptitle("6 hidden layers x 64 units, SGD lr 0.1, batch 64, handwritten digits (8x8 pixels, 10 classes)",
                 fontsize=12)
    return fig


def list_names():
    """Names of the registered figures, in registration order."""
    return list(FIGURES)


def output_path(out_dir: str, name: str, fmt: str) -> str:
    return os.path.join(out_dir, f"{name}.{fmt}")
