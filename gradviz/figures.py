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

__all__ = ["FIGURES", "FigureSpec", "register_figure", "render", "save", "show", "FORMATS"]

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


# =============================================================================== chapter 01: gradient descent
# Section owned by the chapter-01 author. Every function draws from
# gradviz.data.linear_regression_data() unless given ``data``, and starts at (-1.5, 2.5).
_GD_START = (-1.5, 2.5)


def _gd_data(data):
    from .data import linear_regression_data

    d = linear_regression_data() if data is None else data
    return d[0], d[1]


@register_figure("gd_cost_bowl", chapter=1)
def gd_cost_bowl(data=None):
    """The data with its least-squares line, and the bowl-shaped cost J(w, b) with its two principal axes."""
    from .descent import least_squares

    X, y = _gd_data(data)
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
        plots.plot_cost_contours(X, y, a2, axes_of_bowl=True, **plots.DESCENT_WINDOW)
        a2.set_title("the cost $J(w, b)$: contour lines of a bowl")
        a2.legend(loc="upper right", fontsize=9)
    return fig


@register_figure("gd_four_learning_rates", chapter=1)
def gd_four_learning_rates(data=None, lrs=(0.02, 0.3, 1.2, 1.4), n_steps=50):
    """Gradient descent from one start at four learning rates: the paths on the bowl and the excess cost per step."""
    from .descent import classify_run, gradient_descent

    X, y = _gd_data(data)
    runs = [gradient_descent(X, y, lr, n_steps=n_steps, start=_GD_START) for lr in lrs]
    classes = [classify_run(run, X, y) for run in runs]
    fig, _ = plots.new_figure(figsize=(3.0 * len(runs) + 1.6, 6.6))
    fig.clear()
    axd = fig.subplot_mosaic([[f"p{i}" for i in range(len(runs))], ["cost"] * len(runs)], height_ratios=[1.1, 1])
    with plots.style():
        for i, (run, cls) in enumerate(zip(runs, classes)):
            ax = axd[f"p{i}"]
            plots.plot_cost_contours(X, y, ax, **plots.DESCENT_WINDOW)
            color = plots.REGIME_COLORS[cls.regime]
            plots.draw_descent_path(ax, run, color=color, **plots.DESCENT_WINDOW)
            ax.set_title(f"lr = {run.lr:.3g}: {cls.regime}", color=color)
            if i:
                ax.set_ylabel("")
        ax = axd["cost"]
        plots._tidy(ax)
        for run, cls in zip(runs, classes):
            plots.draw_descent_cost(ax, run, X, y, color=plots.REGIME_COLORS[cls.regime], gid=f"cost:{run.lr:g}",
                                    label=f"lr = {run.lr:.3g} ({cls.regime})")
        plots.set_log_ylim(ax, *[line.get_ydata() for line in ax.lines])
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
        ax.set_title(f"excess cost per step ({n_steps} steps from the open circle)")
    return fig


@register_figure("gd_lr_sweep", chapter=1)
def gd_lr_sweep(data=None, n_steps=50, lrs=None):
    """Excess cost left after a run against the learning rate, coloured by regime, with the critical rates of the Hessian."""
    from .descent import critical_learning_rates, sweep_learning_rates

    X, y = _gd_data(data)
    lrs = np.geomspace(0.005, 5.0, 61) if lrs is None else lrs
    sweep = sweep_learning_rates(X, y, lrs, n_steps=n_steps, start=_GD_START)
    fig, ax = plots.new_figure(figsize=(10.0, 4.4))
    plots.plot_lr_sweep(sweep, critical_learning_rates(X), ax)
    return fig


@register_figure("gd_one_run", chapter=1)
def gd_one_run(data=None, lr=3.0, n_steps=400):
    """One run of gradient descent (by default a diverging one, until float64 overflows): path and excess cost."""
    from .descent import classify_run, gradient_descent

    X, y = _gd_data(data)
    run = gradient_descent(X, y, lr, n_steps=n_steps, start=_GD_START)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(11.0, 4.6), width_ratios=[1.0, 1.3])
    with plots.style():
        plots.plot_cost_contours(X, y, a1, **plots.DESCENT_WINDOW)
        plots.draw_descent_run(a1, a2, run, classify_run(run, X, y), X, y)
    return fig
