"""Chapter 04b, the ReLU variants: leaky ReLU, RReLU, PReLU and ELU, what each lets through below 0, and its cost.

The code behind ``notebooks/04b_relu_variants.ipynb``, the second half of
chapter 04 (the first half, :mod:`gradviz.chapters.ch04a_dying_relu`, shows
ReLU's units dying). Every variant keeps ReLU's slope of exactly 1 for z > 0
and changes only the negative side: leaky ReLU a fixed small slope, RReLU a
random one in training, PReLU a learned one, ELU a smooth curve. The chapter
measures how much gradient each lets through units pushed below 0
(:func:`shifted_gradient`), what each costs to compute (:func:`activation_cost`),
and trains them side by side on the handwritten digits.

Its notebook imports it as ``ch``. The training runs use the same network and
budget as the first half (:func:`gradviz.train.digits_run` with its defaults),
and a figure takes the runs its notebook has trained instead of training again.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import ipywidgets
import matplotlib as mpl
import numpy as np

from .. import plots
from .._controls import check_size
from .._validate import check_choice, check_finite, check_positive_int, get_rng
from ..activations import elu, elu_grad, get_activation
from ..data import digits
from ..exercises import exercise
from ..figures import figure
from ..layers import ActivationLayer, PReLU, RReLU
from ..network import MLP
from ..stats import probe
from ..train import DraftedRuns, RunCache, digits_run
from ..widgets import CONTROL_STYLE, LRU, Explorer, choice, int_slider

__all__ = [
    "shifted_gradient", "activation_cost", "numpy_cost", "activation_runs", "rrelu_draws",
    "prelu_slope_over_training", "activation_training_comparison", "activation_training_shifted",
    "LeakySlopeExplorer", "RReLUExplorer", "PReLUExplorer", "leaky_relu_and_slope",
]

#: One colour per hidden layer of the chapter's 4-layer network (dark enough to read on white).
LAYER_COLORS = tuple(plots.OKABE_ITO[c] for c in ("blue", "green", "orange", "vermillion"))


# ---- experiments
@dataclass
class ShiftedGradient:
    """How much gradient gets back through a deep net whose biases push units below 0 (see :func:`shifted_gradient`).

    Arrays have shape (L,), index 0 is hidden layer 1.

    Attributes
    ----------
    activation : str
    activation_params : dict
    bias : float
    relative_gradient : float array
        rms of dL/da^l divided by rms of dL/da^L (the gradient arriving at the
        top hidden layer): 1 at layer L; exactly 0 below a layer that passes no
        gradient at all.
    silent_fraction : float array
        Fraction of (example, unit) pairs with z <= 0 (for ReLU: slope 0).
    first_silent_layer : int or None
        First hidden layer (1-based) whose units are all silent (z <= 0) for
        every example of the probe, or None. For ReLU no gradient at all gets
        below it; leaky ReLU and ELU still pass a (small) one.
    z_std : float array
        Standard deviation of z over the (example, unit) pairs of each layer.
    a_mean : float array
        Mean output a of each layer (negative where most units sit below 0 with
        a negative output, as leaky ReLU's and ELU's).
    """

    activation: str
    activation_params: dict
    bias: float
    relative_gradient: np.ndarray
    silent_fraction: np.ndarray
    first_silent_layer: int | None
    z_std: np.ndarray
    a_mean: np.ndarray

    @property
    def depth(self) -> int:
        return len(self.relative_gradient)

    @property
    def at_first_layer(self) -> float:
        """The gradient reaching hidden layer 1, relative to layer L."""
        return float(self.relative_gradient[0])

    def factor_per_layer(self, lower: int, upper: int) -> float:
        """Geometric-mean factor by which the gradient shrinks per layer from layer ``upper`` down to ``lower``.

        (relative_gradient[lower] / relative_gradient[upper]) ** (1 / (upper - lower)),
        with 1-based layers 1 <= lower < upper <= L; 0 if the gradient at ``lower`` is 0.
        """
        lower, upper = check_positive_int("lower", lower), check_positive_int("upper", upper)
        if not lower < upper <= self.depth:
            raise ValueError(f"need 1 <= lower < upper <= {self.depth}; got lower={lower}, upper={upper}")
        r = self.relative_gradient
        if r[lower - 1] == 0:
            return 0.0
        with np.errstate(all="ignore"):
            return float((r[lower - 1] / r[upper - 1]) ** (1.0 / (upper - lower)))


def shifted_gradient(activation: str = "leaky_relu", bias: float = -1.0, depth: int = 10, width: int = 64, *,
                     batch_size: int = 256, seed=0, **activation_params) -> ShiftedGradient:
    """Probe a deep MLP whose hidden biases all start at ``bias`` and measure the gradient per layer.

    The network is ``MLP(width, depth=depth, width=width, activation=activation,
    bias=bias, n_outputs=None)`` with the initializer recommended for the
    activation (He normal for the ReLU family and ELU); :func:`gradviz.stats.probe` feeds it
    standard-normal inputs and back-propagates a standard-normal gradient from
    the last hidden layer. A negative bias puts most pre-activations below 0,
    where ReLU's slope is exactly 0, leaky ReLU's is ``alpha`` and ELU's is
    ``alpha * exp(z)``: the measured gradient shows what each of them lets
    through.

    Parameters
    ----------
    activation : str
        One of :data:`gradviz.network.NETWORK_ACTIVATIONS`.
    bias : float
        Initial value of every hidden bias.
    depth, width, batch_size : int >= 1
    seed : int
        Seeds the weights and the probe.
    **activation_params
        E.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    ShiftedGradient

    Raises
    ------
    ValueError, TypeError
        Unknown activation or parameters, sizes that are not positive integers.
    """
    bias = check_finite("bias", bias)
    net = MLP(check_positive_int("width", width), depth=check_positive_int("depth", depth), width=width,
              activation=activation, bias=bias, n_outputs=None, seed=seed, **activation_params)
    probe(net, batch_size=batch_size, seed=seed)
    with np.errstate(all="ignore"):
        rms = np.array([np.sqrt(np.mean(np.square(r["da"], dtype=np.float64))) for r in net.records])
        rel = rms / rms[-1] if rms[-1] > 0 else np.full(len(rms), np.nan)
        silent = [r["z"] <= 0 for r in net.records]
    dead = [l for l, s in enumerate(silent, start=1) if s.all()]
    return ShiftedGradient(activation=net.activation, activation_params=dict(activation_params), bias=bias,
                           relative_gradient=rel, silent_fraction=np.array([float(s.mean()) for s in silent]),
                           first_silent_layer=dead[0] if dead else None,
                           z_std=np.array([float(r["z"].std()) for r in net.records]),
                           a_mean=np.array([float(r["a"].mean()) for r in net.records]))


#: How a run can end: still alive (no hidden layer entirely dead; whether it learned is another
#: matter), dead (a whole hidden layer is silent for every training example, so the output no longer
#: depends on the input), or diverged (a number overflowed).
OUTCOMES = ("alive", "dead", "diverged")


#: Activations :func:`activation_cost` times by default (the stateful RReLU and PReLU included).
COST_ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "sigmoid", "tanh")


@dataclass
class ActivationCost:
    """Measured time of each of several computations on the same array (see :func:`activation_cost`).

    Attributes
    ----------
    names : tuple of str
    seconds : dict name -> float
        Median wall-clock time (seconds) of one pass.
    relative : dict name -> float
        ``seconds[name] / seconds[reference]``.
    reference : str
        The entry the others are compared with.
    shape : tuple
        Shape of the array, (batch, features).
    dtype : str
    repeats : int
        Number of timed passes per entry (the median is taken).
    kind : str
        What the names are ('activation' or 'numpy call'), the header of the table.
    """

    names: tuple
    seconds: dict
    relative: dict
    reference: str
    shape: tuple
    dtype: str
    repeats: int
    kind: str = "activation"

    def ranking(self) -> list:
        """Names from fastest to slowest."""
        return sorted(self.names, key=lambda n: self.seconds[n])

    def as_table(self) -> str:
        """One row per entry: median time in microseconds and relative to the reference."""
        w = max(len(self.kind), *(len(n) for n in self.names))
        r = max(10, len(self.reference) + 2)
        rows = [f"{self.kind:>{w}} {'median time (us)':>17} {'x ' + self.reference:>{r}}"]
        for n in self.names:
            rows.append(f"{n:>{w}} {1e6 * self.seconds[n]:>17.0f} {self.relative[n]:>{r}.2f}")
        return "\n".join(rows)


def _timed_round_robin(calls: dict, repeats: int) -> dict:
    """{name: median seconds of calls[name]()}: one untimed warm-up call each, then ``repeats`` rounds in turn."""
    for f in calls.values():  # first-call costs (allocation, caches) are not the computation's
        f()
    times = {n: [] for n in calls}
    for _ in range(repeats):  # taking turns: a slow moment of the machine hits every entry alike
        for n, f in calls.items():
            t0 = time.perf_counter()
            f()
            times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(t)) for n, t in times.items()}


def _check_shape(shape):
    if len(shape) != 2:
        raise ValueError(f"shape must be (batch, features); got {shape!r}")
    return check_positive_int("shape[0]", shape[0]), check_positive_int("shape[1]", shape[1])


def _activation_layer(name, width, seed):
    if name == "rrelu":
        return RReLU(rng=seed)
    if name == "prelu":
        return PReLU(width)
    return ActivationLayer(name)


def activation_cost(names=COST_ACTIVATIONS, shape=(256, 512), repeats: int = 20, *, dtype=np.float32,
                    reference: str = "relu", seed=0) -> ActivationCost:
    """Time the forward and backward pass of each activation layer on the same array.

    For every name, the layer the networks use (:class:`gradviz.layers.ActivationLayer`,
    or :class:`~gradviz.layers.RReLU` / :class:`~gradviz.layers.PReLU`) runs
    ``forward(x, training=True)`` then ``backward(dout)`` on a fixed
    standard-normal ``x`` and ``dout`` of ``shape``. After one untimed warm-up
    pass each, the activations take turns (round-robin, ``repeats`` rounds),
    so a slow moment of the machine hits all of them alike; the median of the
    rounds is reported.

    The numbers are wall-clock times of *this* numpy implementation on *this*
    machine: they vary from run to run (other programs, CPU frequency) and
    between machines, and a framework's fused GPU kernels rank differently.

    Parameters
    ----------
    names : sequence of str
        Activations from :data:`COST_ACTIVATIONS`; must include ``reference``.
    shape : (int, int)
        (batch, features) of the array.
    repeats : int >= 1
        Timed passes per activation.
    dtype : numpy float dtype
    reference : str
        The activation the others are divided by.
    seed : int
        Seeds the arrays and RReLU's slopes.

    Returns
    -------
    ActivationCost

    Raises
    ------
    ValueError
        Unknown names, a reference not among them, a bad shape or repeats.
    """
    names = tuple(check_choice("names", n, COST_ACTIVATIONS) for n in names)
    if not names:
        raise ValueError("names must list at least one activation")
    if reference not in names:
        raise ValueError(f"reference={reference!r} must be one of names: {', '.join(names)}")
    shape = _check_shape(shape)
    repeats = check_positive_int("repeats", repeats)
    rng = get_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    layers = {n: _activation_layer(n, shape[1], seed) for n in names}

    def forward_backward(layer):
        def call():
            layer.forward(x, training=True)
            layer.backward(dout)
        return call

    seconds = _timed_round_robin({n: forward_backward(layer) for n, layer in layers.items()}, repeats)
    relative = {n: seconds[n] / seconds[reference] for n in names}
    return ActivationCost(names=names, seconds=seconds, relative=relative, reference=reference, shape=shape,
                          dtype=np.dtype(dtype).name, repeats=repeats)


def numpy_cost(shape=(256, 512), repeats: int = 20, *, dtype=np.float32, seed=0) -> ActivationCost:
    """Time the numpy calls the activations are built from, on one standard-normal array z.

    The entries, each on the same z of ``shape`` (about half of it negative, in
    random order): ``np.maximum(z, 0)`` (ReLU: an array against the number 0),
    ``np.maximum(z, zeros)`` (the same values, against an array of zeros shaped
    like z, made once beforehand), ``np.maximum(z, 0.01 z)``
    (leaky ReLU as :func:`gradviz.activations.leaky_relu` computes it),
    ``np.where(z > 0, z, 0.01 z)`` (the same values, chosen element by element),
    the same ``np.where`` on a copy of z sorted so that the signs come in two
    long runs, ``np.exp(z)``, ``np.expm1(z)`` (what ELU uses, exact near 0) and
    ``rng.uniform`` (one random number per element, as RReLU draws in
    training). Reference: ``np.maximum(z, 0)``. Same caveats as
    :func:`activation_cost`: wall-clock times of this machine.

    Returns
    -------
    ActivationCost with ``kind='numpy call'``

    Raises
    ------
    ValueError
        A bad shape or repeats.
    """
    shape = _check_shape(shape)
    repeats = check_positive_int("repeats", repeats)
    rng = get_rng(seed)
    z = rng.standard_normal(shape).astype(dtype)
    z_sorted = np.sort(z, axis=None).reshape(shape)
    zeros = np.zeros_like(z)
    draw = np.random.default_rng(seed)
    calls = {
        "np.maximum(z, 0)": lambda: np.maximum(z, 0.0),
        "np.maximum(z, zeros)": lambda: np.maximum(z, zeros),
        "np.maximum(z, 0.01 z)": lambda: np.maximum(z, 0.01 * z),
        "np.where(z > 0, z, 0.01 z)": lambda: np.where(z > 0, z, 0.01 * z),
        "same np.where, signs sorted": lambda: np.where(z_sorted > 0, z_sorted, 0.01 * z_sorted),
        "np.exp(z)": lambda: np.exp(z),
        "np.expm1(z)": lambda: np.expm1(z),
        "rng.uniform, one per element": lambda: draw.uniform(1 / 8, 1 / 3, size=shape).astype(dtype),
    }
    with np.errstate(all="ignore"):
        seconds = _timed_round_robin(calls, repeats)
    ref = "np.maximum(z, 0)"
    return ActivationCost(names=tuple(calls), seconds=seconds,
                          relative={n: s / seconds[ref] for n, s in seconds.items()}, reference=ref, shape=shape,
                          dtype=np.dtype(dtype).name, repeats=repeats, kind="numpy call")


#: The activations the chapter trains side by side.
ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "prelu", "elu", "sigmoid")
#: The negative bias shift of the chapter's "handicapped start" (chapter 04a, Experiment 4).
BIAS_SHIFT = -2.0


def activation_runs(activations=ACTIVATIONS, *, bias=0.0, progress=False, **kwargs):
    """Train one :func:`gradviz.train.digits_run` per activation (same network and budget); return {name: run}."""
    data = digits()
    return {a: digits_run(a, bias=bias, data=data, progress=progress, label=a, **kwargs) for a in activations}


def rrelu_draws(n=4000, lower=1 / 8, upper=1 / 3, seed=0):
    """(z, training output, inference output) of an RReLU layer on ``n`` normal inputs (std 1.5); each shape (n,)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((1, n)) * 1.5
    layer = RReLU(lower, upper, rng=seed)
    return z[0], layer.forward(z, training=True)[0], layer.forward(z, training=False)[0]


# ---- figures
def _rrelu_panel(ax, lower=1 / 8, upper=1 / 3, x_range=(-4.0, 3.0)):
    z = np.linspace(*x_range, 701)
    neg = z < 0
    mean = (lower + upper) / 2
    ax.fill_between(z[neg], lower * z[neg], upper * z[neg], color=plots.OKABE_ITO["sky_blue"], alpha=0.35, lw=0,
                    gid="rrelu:band", label=f"training: slope drawn from U[{lower:.3g}, {upper:.3g}]")
    ax.plot(z, np.where(neg, mean * z, z), color=plots.COLORS["phi"], gid="phi",
            label=f"inference: mean slope {mean:.3g}")
    ax.fill_between(z[neg], lower, upper, color=plots.OKABE_ITO["orange"], alpha=0.3, lw=0, gid="rrelu:slopes",
                    label="its slope: anywhere in the band")
    ax.plot(z, np.where(neg, mean, 1.0), color=plots.COLORS["dphi"], ls="--", gid="dphi",
            label=r"slope $\varphi'(z)$ at inference")
    ax.axhline(0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(0, color="0.3", lw=0.8, zorder=1)
    ax.set_xlim(*x_range)
    ax.set_xlabel("pre-activation $z$")
    ax.legend(loc="upper left", fontsize=8)


@figure("relu_family")
def relu_family():
    """ReLU, leaky ReLU (and PReLU), RReLU and ELU with their slopes: all have slope exactly 1 for z > 0."""
    fig, axes = plots.new_figure(2, 2, figsize=(10, 7.2), sharex=True, sharey=True)
    axes = axes.ravel()
    x_range = (-4.0, 3.0)
    plots.plot_activation("relu", ax=axes[0], x_range=x_range)
    plots.plot_activation("leaky_relu", ax=axes[1], x_range=x_range, alpha=0.1)
    plots.plot_activation("elu", ax=axes[3], x_range=x_range, alpha=1.0)
    with plots.style():
        _rrelu_panel(axes[2], x_range=x_range)
        axes[0].set_title("ReLU: slope 0 for $z < 0$")
        axes[1].set_title("leaky ReLU, alpha = 0.1 (PReLU: alpha learned)")
        axes[2].set_title("RReLU: a random slope in training")
        axes[3].set_title("ELU, alpha = 1: smooth, levels off at -alpha")
        for i, ax in enumerate(axes):
            ax.set_ylim(-1.6, 3.1)
            ax.set_xlabel("pre-activation $z$" if i >= 2 else "")
            ax.set_ylabel(r"$\varphi(z)$ and $\varphi'(z)$" if i % 2 == 0 else "")
            for text in ax.get_legend().get_texts():
                text.set_fontsize(8.5)
        fig.suptitle(r"The ReLU family: $\varphi(z) = z$ (slope exactly 1) for every $z > 0$; "
                     "they differ only for $z < 0$", fontsize=12)
    return fig


@figure("leaky_alpha_gradient")
def leaky_alpha_gradient(alphas=(0.0, 0.01, 0.1, 0.3), bias=-1.0, depth=10):
    """A deep net with biases shifted to -1: the gradient that reaches each layer for several leaky-ReLU slopes."""
    fig, ax = plots.new_figure(figsize=(10, 4.6))
    with plots.style():
        cmap = mpl.colormaps["viridis"]
        for i, a in enumerate(alphas):
            g = shifted_gradient("leaky_relu", bias, depth, alpha=a)
            rel = plots.positive_finite(g.relative_gradient)
            name = "ReLU (alpha = 0)" if a == 0 else f"alpha = {a:g}"
            color = cmap(0.8 * i / max(len(alphas) - 1, 1))  # stops short of viridis' pale yellow end
            layers = np.arange(1, depth + 1)
            zero = g.relative_gradient == 0
            label = name + (f": layer 1 gets {g.at_first_layer:.2g}" if not zero.any() else
                            f": exactly 0 in layers 1-{layers[zero].max()} (triangles on the floor)")
            # where the gradient is exactly 0 the legend shows the triangles that stand for it, not the line
            ax.plot(layers, rel, "o-", ms=4, color=color, gid=f"alpha:{a:g}", label=None if zero.any() else label)
            if zero.any():  # exact zeros have no place on a log axis: mark them on its floor
                ax.plot(layers[zero], np.full(zero.sum(), 0.0), "v", ms=7, color=color, clip_on=False,
                        transform=ax.get_xaxis_transform(), gid=f"zero:{a:g}", label=label)
        ax.set_yscale("log")
        plots.layer_axis(ax, depth)
        ax.set_ylabel(r"rms $\partial L/\partial a^l$ / rms at layer $L$ (log)")
        ax.set_title(f"leaky ReLU, {depth} layers x 64 units, He init, every bias {bias:g}: "
                     "most units sit at z < 0", fontsize=11)
        plots.legend_below(ax, ncol=2)
    return fig


@figure("rrelu_train_vs_inference")
def rrelu_train_vs_inference(lower=1 / 8, upper=1 / 3):
    """RReLU: one random slope per element in training, the mean slope at inference; the slopes drawn."""
    return RReLUExplorer(canvas="none", lower=lower, upper=upper).figure


@figure("prelu_slope_over_training")
def prelu_slope_over_training(runs=None):
    """PReLU on the digits: the learned slope alpha of each layer during training, from a normal and a shifted start."""
    if runs is None:
        runs = {"biases start at 0": activation_runs(("prelu",))["prelu"],
                f"biases start at {BIAS_SHIFT:g}": activation_runs(("prelu",), bias=BIAS_SHIFT)["prelu"]}
    fig, axes = plots.new_figure(1, len(runs), figsize=(10, 4.4), sharey=True, squeeze=False)
    axes = axes[0]
    for i, (ax, (label, run)) in enumerate(zip(axes, runs.items())):
        h = run.history
        start = float(h.prelu_alpha[0].mean())
        with plots.style():
            plots.tidy(ax)
            for l in range(1, h.prelu_alpha.shape[1] + 1):
                ax.plot(h.record_steps, h.prelu_alpha[:, l - 1], color=LAYER_COLORS[(l - 1) % len(LAYER_COLORS)],
                        lw=1.8, gid=f"layer:{l}",
                        label=f"hidden layer {l}" + (" (next to the input)" if l == 1 else ""))
            ax.axhline(start, color="0.4", lw=1, ls=":", zorder=1, label=rf"start: $\alpha$ = {start:g}")
            ax.set_xlabel("training step")
            ax.set_ylabel(r"mean learned slope $\alpha$" if i == 0 else "")
            ax.set_title(f"{label}: test accuracy {run.test_accuracy:.1%}", fontsize=11)
    with plots.style():
        plots.legend_below(axes[0], ncol=1) if len(axes) == 1 else fig.legend(
            handles=axes[0].get_lines(), loc="outside lower center", ncol=3, fontsize=9, frameon=False)
        fig.suptitle("PReLU (one slope per unit, He et al. 2015): the slopes are trained by SGD with the weights",
                     fontsize=12)
    return fig


def _chance_in_legend(ax_acc):
    """plots.plot_training_curves writes 'chance' on the line at 10 %, where curves pass: name it in the legend."""
    for text in list(ax_acc.texts):
        if text.get_text().startswith("chance"):
            text.remove()
    for line in ax_acc.lines:
        if line.get_label().startswith("_") and line.get_linestyle() == ":":
            line.set_label("chance (10 classes)")


@figure("activation_training_comparison")
def activation_training_comparison(runs=None, title=None):
    """The ReLU family and sigmoid trained on the digits with the same network and budget: loss and test accuracy."""
    runs = runs if runs is not None else activation_runs()
    fig, axes = plots.new_figure(1, 2, figsize=(10, 4.6))
    plots.plot_training_curves({k: r.history for k, r in runs.items()}, axes=axes, smooth=10)
    with plots.style():
        styles = ["-", "--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)), (0, (6, 2))]  # ':' is chance's
        for ax in axes:  # a dash pattern per run, so a run hidden under another still shows
            for i, name in enumerate(runs):
                for line in ax.lines:
                    if line.get_gid() in (f"loss:{name}", f"acc:{name}"):
                        line.set_linestyle(styles[i % len(styles)])
        _chance_in_legend(axes[1])
        axes[1].get_legend().remove()
        handles, labels = axes[1].get_legend_handles_labels()
        labels = [f"{k}: test {runs[k].test_accuracy:.1%}" if k in runs else k for k in labels]
        fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
        cfg = next(iter(runs.values())).history.config
        fig.suptitle(title or (f"4 hidden layers x 64 units, SGD lr {cfg['lr']:g}, {cfg['steps']} steps of "
                               f"{cfg['batch_size']} digits, same seed"), fontsize=12)
    return fig


@figure("activation_training_shifted")
def activation_training_shifted(runs=None):
    """The same comparison from a handicapped start: every hidden bias begins at -2, so most units start silent."""
    runs = runs if runs is not None else activation_runs(ACTIVATIONS[:-1], bias=BIAS_SHIFT)
    return activation_training_comparison(runs, title=f"every hidden bias starts at {BIAS_SHIFT:g}; otherwise "
                                                      "the same network and budget")


@figure("elu_alphas")
def elu_alphas(alphas=(0.5, 1.0, 2.0)):
    """ELU for several alpha: it levels off at -alpha; its slope is continuous at 0 only for alpha = 1."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(10.5, 4.2))
    z = np.linspace(-5, 2.5, 751)
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("sky_blue", "blue", "purple", "green")]
        for a, c in zip(alphas, colors):
            a1.plot(z, elu(z, a), color=c, gid=f"elu:{a:g}", label=f"alpha = {a:g}")
            a1.axhline(-a, color=c, lw=0.8, ls=":")
            a2.plot(z, elu_grad(z, a), color=c, gid=f"slope:{a:g}", label=f"alpha = {a:g}: slope {a:g} just below 0")
        for ax in (a1, a2):
            ax.axhline(0, color="0.3", lw=0.8, zorder=1)
            ax.axvline(0, color="0.3", lw=0.8, zorder=1)
            ax.set_xlabel("pre-activation $z$")
            ax.legend(loc="upper left", fontsize=9)
        a1.set_ylabel(r"elu$(z)$")
        a1.set_title(r"ELU: $z$ for $z > 0$, $\alpha\,(e^z - 1)$ below (dotted: $-\alpha$)")
        a2.set_ylabel(r"slope elu$'(z)$")
        a2.set_title(r"its slope: 1 for $z > 0$, $\alpha\,e^z$ below")
    return fig


# ---- explorers
_Z = np.linspace(-4.0, 3.0, 701)


class LeakySlopeExplorer(Explorer):
    """How the slope alpha of leaky ReLU (or ELU) lets a gradient through units pushed below 0.

    Left: the activation and its slope for the chosen ``alpha``, with ReLU in
    grey. Right: a deep MLP (64 units per layer, He init) whose hidden biases
    all start at ``bias``, probed with standard-normal inputs and a
    standard-normal gradient at the top (:func:`shifted_gradient`):
    the rms of dL/da^l relative to the top layer, for the chosen activation
    and, in grey, for ReLU with the same biases (exact zeros are marked on the
    floor of the log axis).

    Controls: ``activation`` (leaky_relu or elu), ``alpha`` (0 to 1),
    ``bias`` (the shift, -3 to 0.5), ``depth`` (2 to 30).

    Attributes
    ----------
    result, relu : ShiftedGradient
        What is drawn now (the chosen activation, and ReLU).
    """

    figsize = (10.0, 4.2)  # 1000 px at 100 dpi: fits the notebook column without a scroll bar

    MAX_WIDTH = 1024  # the explorer trains a net of this width at every change
    #: Major and minor ticks of the gradients' log axis made up front (enough for 10 decades).
    Y_TICKS = (12, 90)

    def __init__(self, canvas="auto", *, width=64, seed=0, **values):
        self.width = check_size("width", width, self.MAX_WIDTH)
        self.seed = seed
        self.readout = ipywidgets.HTML()
        self._cache = LRU(256)
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "activation": choice("activation", [("leaky ReLU", "leaky_relu"), ("ELU", "elu")], "leaky_relu",
                                 buttons=True),
            "alpha": w.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.01, description="alpha (slope for z < 0)",
                                   readout_format=".2f", style=CONTROL_STYLE),
            "bias": w.FloatSlider(value=-1.0, min=-3.0, max=0.5, step=0.25, description="bias shift b",
                                  readout_format=".2f", style=CONTROL_STYLE),
            "depth": int_slider("depth (hidden layers)", 2, 30, 10),
        }

    def setup_figure(self, fig):
        self.ax_phi, self.ax_grad = fig.subplots(1, 2, width_ratios=[1, 1.5])
        for ax in (self.ax_phi, self.ax_grad):
            plots.tidy(ax)
        ax = self.ax_phi
        (relu,) = ax.plot(_Z, np.maximum(_Z, 0.0), color="0.6", lw=1.2, gid="relu", label="ReLU")
        (self.phi,) = ax.plot([], [], color=plots.COLORS["phi"], gid="phi", label=r"$\varphi(z)$ = leaky ReLU")
        (self.dphi,) = ax.plot([], [], color=plots.COLORS["dphi"], ls="--", gid="dphi", label=r"slope $\varphi'(z)$")
        ax.axhline(0, color="0.3", lw=0.8, zorder=1)
        ax.axvline(0, color="0.3", lw=0.8, zorder=1)
        ax.set_xlim(_Z[0], _Z[-1])
        ax.set_ylim(-3.2, 3.1)
        ax.set_xlabel("pre-activation $z$")
        # the legends are made once and drawn once (blit_static): they cost half of a frame. Their labels name the
        # activation, not alpha (the left title has it), so that they change only with the activation
        self.phi_label = ax.legend(handles=[relu, self.phi, self.dphi], loc="upper left", fontsize=9).texts[1]
        ax = self.ax_grad
        (self.line,) = ax.plot([], [], "o-", ms=4, color=plots.COLORS["da"], gid="gradient", label="leaky ReLU")
        (self.relu_line,) = ax.plot([], [], "s--", ms=3, lw=1.2, color="0.55", gid="relu_gradient",
                                    label="ReLU, same biases")
        (self.relu_zero,) = ax.plot([], [], "v", ms=7, color="0.55", clip_on=False,
                                    transform=ax.get_xaxis_transform(), gid="relu_zero",
                                    label="ReLU: exactly 0 (on the floor)")
        (self.zero,) = ax.plot([], [], "v", ms=7, color=plots.COLORS["da"], clip_on=False,
                               transform=ax.get_xaxis_transform(), gid="zero")
        for line in (self.relu_zero, self.zero):
            line.set_in_layout(False)  # unclipped markers: an empty one would drag the layout to the origin
        ax.set_yscale("log")
        # the ticks this axis needs, made now: matplotlib makes a tick when an axis first needs it, and at alpha 0.2
        # (the axis from 1e-5 to 10: 9 major and 72 minor ticks; at 0.1, 1e-8 to 10 has no minor ones) making
        # them took ~100 ms of that press's frame
        ax.yaxis.get_major_ticks(self.Y_TICKS[0])
        ax.yaxis.get_minor_ticks(self.Y_TICKS[1])
        ax.set_ylabel(r"rms $\partial L/\partial a^l$ / rms at layer $L$ (log)")
        self.line_label = ax.legend(handles=[self.line, self.relu_line, self.relu_zero], loc="lower right",
                                    fontsize=9).texts[0]

    def blit_static(self):
        # inside the Axes, where no curve goes: the activations stay below 1 on the left of z = 0, and the
        # gradients rise from layer 1 to exactly 1 at layer L, far above the lower right corner
        return [self.ax_phi.get_legend(), self.ax_grad.get_legend()]

    def compute(self, activation, alpha, bias, depth):
        """(ShiftedGradient of the chosen activation, ShiftedGradient of ReLU); cached."""
        key = (activation, round(float(alpha), 6), round(float(bias), 6), int(depth))
        hit = self._cache.get(key)
        if hit is None:
            kw = dict(bias=float(bias), depth=int(depth), width=self.width, seed=self.seed)
            relu_key = ("relu", key[2], key[3])
            relu = self._cache.get(relu_key) or self._cache.put(relu_key, shifted_gradient("relu", **kw))
            hit = self._cache.put(key, (shifted_gradient(activation, alpha=float(alpha), **kw), relu))
        return hit

    def refresh(self, activation, alpha, bias, depth):
        act = get_activation(activation)
        z = _Z
        self.phi.set_data(z, act(z, alpha=alpha))
        self.dphi.set_data(z, act.grad(z, alpha=alpha))
        name = "leaky ReLU" if activation == "leaky_relu" else "ELU"
        for line, text, label in ((self.phi, self.phi_label, rf"$\varphi(z)$ = {name}"),
                                  (self.line, self.line_label, name)):
            line.set_label(label)
            text.set_text(label)
        self.ax_phi.set_title(f"{name}, alpha = {alpha:.2f}")
        self.result, self.relu = res, relu = self.compute(activation, alpha, bias, depth)
        layers = np.arange(1, depth + 1)
        for line, zero, r in ((self.line, self.zero, res), (self.relu_line, self.relu_zero, relu)):
            rel = np.asarray(r.relative_gradient, float)
            line.set_data(layers, plots.positive_finite(rel))
            is_zero = rel == 0
            zero.set_data(layers[is_zero], np.zeros(is_zero.sum()))
        ax = self.ax_grad
        plots.layer_axis(ax, depth)
        # limits that stay put while the curve moves a little: a new y axis at each press cost a third of a frame
        self.autoscale(ax, x=False, sticky=True)
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.3), max(hi, 3.0))
        ax.set_title(f"{depth} layers x {self.width} units, biases {bias:.2f}: "
                     f"{res.silent_fraction.mean():.0%} of z <= 0", fontsize=10.5)
        self.readout.value = html.escape(self.summary())

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        r, relu = self.result, self.relu
        name = "leaky ReLU" if r.activation == "leaky_relu" else "ELU"
        alpha = r.activation_params.get("alpha")
        mine = (f"{name} (alpha = {alpha:.2f}): layer 1 gets {r.at_first_layer:.3g} times the gradient of layer "
                f"{r.depth}" if r.at_first_layer > 0 else
                f"{name} (alpha = {alpha:.2f}): no gradient reaches layer 1 (exactly 0)")
        if relu.at_first_layer > 0:
            theirs = f"ReLU: {relu.at_first_layer:.3g}."
        else:
            theirs = ("ReLU: exactly 0 (layer "
                      f"{relu.first_silent_layer} has every unit at z <= 0 for every input)."
                      if relu.first_silent_layer is not None else "ReLU: exactly 0.")
        return f"{mine}; {theirs}"


_RRELU_Z_RANGE = (-4.0, 3.0)
_SLOPE_BINS = 20


def _sticky_limits(current, low, high, grid, min_fill=0.5):
    """Limits of a linear axis for data in [``low``, ``high``] that stay put while the data moves a little.

    ``current`` (the axis' limits now) is kept while it holds the data and the data spans at least
    ``min_fill`` of it; otherwise the data's range rounded outwards to multiples of ``grid``. A new limit
    redraws the axis' ticks (a third of an explorer's frame), and a moving axis hides the data's motion.
    """
    c0, c1 = current
    if c0 <= low and high <= c1 and high - low >= min_fill * (c1 - c0):
        return c0, c1
    return float(np.floor(low / grid) * grid), float(np.ceil(high / grid) * grid)



class RReLUExplorer(Explorer):
    """RReLU's bounds: the random slopes of training beside the one slope of inference.

    One RReLU layer (:class:`gradviz.layers.RReLU`) receives 4000 normal
    inputs (std 1.5) once in training mode and once in inference mode
    (:func:`rrelu_draws`). Left: output against input, each training output a
    dot (every element gets its own slope), the inference output a line (slope
    (lower + upper) / 2). Right: the slopes drawn for the negative inputs, with
    the inference slope, the mean of the drawn slopes and, dotted, the slope
    Xu et al. (2015) use at test time for the same range, 2 / (1/lower + 1/upper)
    (they draw a in U(1/upper, 1/lower) and divide by the mean of a).

    Controls: ``lower`` and ``upper``, the bounds of the training slopes (0 to 1; if ``lower``
    passes ``upper`` the two swap roles).
    """

    figsize = (10.0, 4.2)

    MAX_N = 1_000_000  # slopes drawn at every change

    def __init__(self, canvas="auto", *, n: int = 4000, seed=0, **values):
        self.n = check_size("n", n, self.MAX_N)
        self.seed = seed
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        # two sliders rather than one range slider: a range slider's handles do not answer the arrow keys
        return {name: ipywidgets.FloatSlider(value=value, min=0.0, max=1.0, step=0.025,
                                             description=f"{name} bound of the training slopes",
                                             readout_format=".3f", style=CONTROL_STYLE)
                for name, value in (("lower", 1 / 8), ("upper", 1 / 3))}

    def setup_figure(self, fig):
        self.ax_out, self.ax_slopes = fig.subplots(1, 2, width_ratios=[1.15, 1])
        for ax in (self.ax_out, self.ax_slopes):
            plots.tidy(ax)
        ax = self.ax_out
        (self.train_dots,) = ax.plot([], [], ".", ms=2.5, color=plots.OKABE_ITO["sky_blue"], alpha=0.6, gid="train",
                                     label="training: each element its own slope")
        (self.inf_line,) = ax.plot([], [], color=plots.OKABE_ITO["blue"], lw=2, gid="inference",
                                   label="inference: one slope for every element")
        ax.axhline(0, color="0.3", lw=0.8, zorder=1)
        ax.axvline(0, color="0.3", lw=0.8, zorder=1)
        ax.set_xlim(*_RRELU_Z_RANGE)
        ax.set_xlabel("input $z$")
        ax.set_ylabel("output")
        plots.legend_below(ax, ncol=1)
        ax = self.ax_slopes
        self.hist = ax.stairs(np.zeros(_SLOPE_BINS), np.linspace(0, 1, _SLOPE_BINS + 1), fill=True, alpha=0.85,
                              color=plots.OKABE_ITO["orange"], gid="slopes", label="slopes drawn in training")
        self.mean_line = ax.axvline(0, color=plots.OKABE_ITO["blue"], lw=2, gid="mean",
                                    label="inference: (lower + upper) / 2")
        self.sample_line = ax.axvline(0, color="0.2", lw=1.2, ls="--", gid="sample_mean",
                                      label="mean of the slopes drawn")
        self.xu_line = ax.axvline(0, color=plots.OKABE_ITO["vermillion"], lw=1.5, ls=":", gid="xu",
                                  label="Xu et al.: 2 / (1/lower + 1/upper)")
        ax.set_xlabel("slope used for a negative input")
        ax.set_ylabel(f"count ({_SLOPE_BINS} bins from lower to upper)")
        plots.legend_below(ax, ncol=2)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)

    def blit_static(self):
        return [ax.get_legend() for ax in (self.ax_out, self.ax_slopes)]  # under the panels, never changing

    def refresh(self, lower, upper):
        lower, upper = sorted((float(lower), float(upper)))  # a lower bound moved past the upper one swaps roles
        z, out_train, out_inf = rrelu_draws(self.n, lower, upper, self.seed)
        order = np.argsort(z)
        self.train_dots.set_data(z, out_train)
        self.inf_line.set_data(z[order], out_inf[order])
        neg = z < 0
        self.slopes = slopes = out_train[neg] / z[neg]
        edges = (np.linspace(lower, upper, _SLOPE_BINS + 1) if upper - lower > 1e-6 else
                 np.array([lower - 0.005, lower + 0.005]))  # one slope for all: a single thin bar
        counts, _ = np.histogram(slopes, bins=edges)
        self.hist.set_data(counts, edges)
        self.mean_slope = (lower + upper) / 2
        self.xu_slope = 2.0 / (1.0 / lower + 1.0 / upper) if lower > 0 else 0.0
        for line, x in ((self.mean_line, self.mean_slope), (self.sample_line, float(slopes.mean())),
                        (self.xu_line, self.xu_slope)):
            line.set_xdata([x, x])
        ax = self.ax_slopes
        # limits that stay put while a bound moves a step (a new x axis redrew every axis of the figure)
        ax.set_xlim(*_sticky_limits(ax.get_xlim(), min(max(0.0, lower - 0.05), edges[0]),
                                    max(min(1.0, upper + 0.05), edges[-1]), 0.1))
        top = 1.1 * max(counts.max(), 1)
        ax.set_ylim(0, _sticky_limits(ax.get_ylim(), 0, top, 10 ** np.floor(np.log10(top)) / 2, 0.6)[1])
        bottom = _sticky_limits(self.ax_out.get_ylim(), -4.2 * max(upper, 0.25) - 0.1, 3.1, 0.5, 0.7)[0]
        self.ax_out.set_ylim(bottom, 3.1)
        ax.set_title(f"training slopes drawn from U[{lower:.3g}, {upper:.3g}]", fontsize=11)
        self.ax_out.set_title(f"one RReLU layer, {self.n} inputs: inference slope {self.mean_slope:.4g}",
                              fontsize=11)
        self.readout.value = html.escape(self.summary())

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        lower, upper = sorted((float(self.values["lower"]), float(self.values["upper"])))
        return (f"training: {self.slopes.size} slopes drawn from U[{lower:.4g}, {upper:.4g}], mean "
                f"{self.slopes.mean():.4f}; inference: slope (lower + upper) / 2 = {self.mean_slope:.4f} "
                f"for every negative input; Xu et al.'s rule would use {self.xu_slope:.4f}.")


class PReLUExplorer(DraftedRuns, Explorer):
    """PReLU's initial slope and the slopes it learns, beside leaky ReLU with the slope held fixed.

    Each setting trains two networks on the digits with
    :func:`gradviz.train.digits_run` (4 hidden layers x 64 units, He init,
    SGD lr 0.1, 200 steps of 64 images, seed 0; about a second each, then kept):
    PReLU with every slope starting at ``alpha_init``, and leaky ReLU with
    alpha = ``alpha_init`` for good. Left: the mean learned slope of each
    hidden layer over training; the dotted line is where it started (and
    where leaky ReLU's slope stays). Right: the test accuracy of both.

    Controls: ``alpha_init`` (0 to 1), ``bias`` (the initial value of every
    hidden bias; -2 is chapter 04a's handicapped start). They act when released.
    A learner's change to a setting not trained yet is answered first by the
    first :attr:`draft_steps` steps of both trainings (the same steps; the
    accuracy title then says 'after 10 of 200 steps'), while a worker thread
    trains all of them (:class:`gradviz.train.DraftedRuns`). A run that
    overflows is drawn up to its last finite record, and its titles say at
    which step it overflowed.

    Attributes
    ----------
    prelu, leaky : gradviz.train.DigitsRun
        What is drawn now.
    """

    figsize = (10.0, 4.3)
    #: Two runs to draft at each change; a run's first steps cost ~10 ms whatever their number (the records at
    #: its first and last step evaluate the 450 test digits; the training set and the dead units are not shown
    #: by a draft and not computed for it), then ~0.7 ms a step.
    draft_steps = 10
    #: Space above and below the slopes on their axis; at least the slider's step (0.05) and :attr:`Y_MARGIN` more,
    #: so that the start one press away, and a draft's slopes near it, lie inside the axis of the whole run.
    Y_PAD = 0.065
    #: How far inside the y axis a draft's slopes must lie for the draft to keep the axis.
    Y_MARGIN = 0.01

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        self.run_cache = RunCache()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "alpha_init": w.FloatSlider(value=0.25, min=0.0, max=1.0, step=0.05, description="initial slope alpha",
                                        readout_format=".2f", continuous_update=False, style=CONTROL_STYLE),
            "bias": choice("initial biases", [("0", 0.0), ("-1", -1.0), ("-2", -2.0)], 0.0, buttons=True),
        }

    def setup_figure(self, fig):
        self.ax_alpha, self.ax_acc = fig.subplots(1, 2)
        for ax in (self.ax_alpha, self.ax_acc):
            plots.tidy(ax)
            ax.set_xlabel("training step")
            ax.set_xlim(-5, 205)
        ax = self.ax_alpha
        self.layer_lines = [ax.plot([], [], color=c, lw=1.8, gid=f"layer:{i + 1}", label=f"layer {i + 1}")[0]
                            for i, c in enumerate(LAYER_COLORS)]
        self.start_line = ax.axhline(0.25, color="0.4", lw=1, ls=":", gid="start",
                                     label="start (leaky ReLU's fixed slope)")
        ax.set_ylabel(r"mean learned slope $\alpha$ of the layer")
        plots.legend_below(ax, ncol=3)
        ax = self.ax_acc
        (self.leaky_line,) = ax.plot([], [], color="0.55", lw=2.2, ls="--", gid="leaky",
                                     label="leaky ReLU, slope fixed")
        (self.prelu_line,) = ax.plot([], [], color="black", lw=1.8, gid="prelu", label="PReLU, slope learned")
        self.chance_line = ax.axhline(10, color="0.55", lw=1, ls=":", label="chance")
        ax.set_ylim(0, 100)
        ax.set_ylabel("test accuracy (%)")
        plots.legend_below(ax, ncol=3)

    def blit_axes(self):
        return [self.ax_acc, self.ax_alpha]  # the slopes' y axis moves at most changes: last, redrawn alone

    def blit_static(self):
        # the legends (under the panels) and the chance line never change: text is the slow part of a frame
        return [self.ax_alpha.get_legend(), self.ax_acc.get_legend(), self.chance_line]

    def refining_axes(self):
        return self.ax_acc

    @staticmethod
    def _config(activation, alpha, bias):
        alpha = round(float(alpha), 6)
        param = {"alpha_init": alpha} if activation == "prelu" else {"alpha": alpha}
        return dict(activation=activation, bias=round(float(bias), 6), label=activation, **param)

    def configs(self, values):
        """The :class:`gradviz.train.RunCache` configurations of the PReLU and the leaky ReLU run."""
        return [self._config(a, values["alpha_init"], values["bias"]) for a in ("prelu", "leaky_relu")]

    def train(self, activation, alpha, bias):
        """The :class:`gradviz.train.DigitsRun` of PReLU (alpha_init=alpha) or leaky ReLU (alpha); cached."""
        return self.run_cache.runs([self._config(activation, alpha, bias)])[0]

    def show(self, result, values):
        alpha_init, bias = values["alpha_init"], values["bias"]
        self.prelu, self.leaky = prelu, leaky = result
        h = prelu.history
        keep = slice(None, -1) if h.diverged else slice(None)  # the failing step's record holds overflowed numbers
        for l, line in enumerate(self.layer_lines):
            line.set_data(h.record_steps[keep], h.prelu_alpha[keep, l])
        self.start_line.set_ydata([alpha_init, alpha_init])
        with np.errstate(all="ignore"):
            alphas = h.prelu_alpha[keep]
            lo, hi = min(float(np.nanmin(alphas)), alpha_init), max(float(np.nanmax(alphas)), alpha_init)
        y0, y1 = self.ax_alpha.get_ylim()
        # A draft (10 steps: its slopes barely leave the start) keeps the y axis when its slopes lie inside it: a new
        # axis costs about half of its frame. A whole run gets tight limits, padded so that a start one press away
        # lies inside them.
        if not (self.draft_note(prelu) and y0 + self.Y_MARGIN <= lo and hi <= y1 - self.Y_MARGIN):
            pad = max(self.Y_PAD, 0.1 * (hi - lo))
            self.ax_alpha.set_ylim(lo - pad, hi + pad)
        self.ax_alpha.set_title(f"PReLU from alpha {alpha_init:.2f}, biases {bias:g}: overflow at step {h.diverged_step}"
                                if h.diverged else f"PReLU, every slope starting at {alpha_init:.2f}, biases {bias:g}",
                                fontsize=10.5)
        for line, run in ((self.prelu_line, prelu), (self.leaky_line, leaky)):
            k = slice(None, -1) if run.history.diverged else slice(None)
            line.set_data(run.history.record_steps[k], 100 * plots.finite_or_nan(run.history.test_accuracy[k]))
        self.ax_acc.set_title(self._accuracy_title(), fontsize=10.5)
        self.readout.value = html.escape(self.summary())

    @staticmethod
    def _accuracy(run):
        h = run.history
        return "overflow" if h.diverged else f"{run.test_accuracy:.1%}"

    def _accuracy_title(self):
        notes = self.draft_note(self.prelu), self.draft_note(self.leaky)
        acc = f"PReLU {self._accuracy(self.prelu)}, leaky ReLU {self._accuracy(self.leaky)}"
        if notes[0] and notes[0] == notes[1]:  # a draft: say so
            return f"test accuracy after {notes[0]}: {acc}"
        if any(notes):  # one run kept whole, the other a draft (rare)
            return (f"test accuracy: PReLU {self._accuracy(self.prelu)}{notes[0] and ' after ' + notes[0]}, "
                    f"leaky ReLU {self._accuracy(self.leaky)}{notes[1] and ' after ' + notes[1]}")
        return f"test accuracy: {acc}"

    def summary(self) -> str:
        """Plain text of what is drawn now (a draft says how many steps it has)."""
        alpha = self.prelu.history.prelu_alpha
        notes = [f" after the first {n}:" if n else "" for n in (self.draft_note(self.prelu), self.draft_note(self.leaky))]
        if self.prelu.history.diverged:
            prelu = f"PReLU from alpha = {alpha[0].mean():.2f}: diverged, overflow at step {self.prelu.history.diverged_step}"
        else:
            learned = " ".join(f"{a:.3f}" for a in alpha[-1])
            prelu = (f"PReLU from alpha = {alpha[0].mean():.2f}: mean learned slope per layer{notes[0]} {learned}, "
                     f"test accuracy {self.prelu.test_accuracy:.1%}")
        leaky = (f"diverged, overflow at step {self.leaky.history.diverged_step}" if self.leaky.history.diverged else
                 f"test accuracy{notes[1]} {self.leaky.test_accuracy:.1%}")
        return f"{prelu}; leaky ReLU with alpha held at {alpha[0].mean():.2f}: {leaky}."


# ---- exercises
# Each answer is computed by the package: the RReLU and PReLU layers of gradviz.layers run on the exercise's
# numbers, and gradviz.activations' leaky ReLU.
_PRELU_Z = [[-2.0, 1.0, -0.5]]  # one example, three units sharing one slope
_PRELU_DOUT = [[0.5, -1.0, 2.0]]


@exercise(
    "04.3",
    question="An RReLU layer with lower = 1/8 and upper = 1/3 (PyTorch's defaults): what slope does it use "
    "for negative inputs at inference?",
    hint="In training the slope is drawn from U[lower, upper]; at inference the layer uses the mean of that "
    "distribution. Check with gv.layers.RReLU(1/8, 1/3).forward(np.array([[-1.0]]), training=False).",
    explain=lambda s: (
        f"The mean of U[1/8, 1/3] is (1/8 + 1/3) / 2 = 11/48 = {s:.4g}: inference replaces the random slope "
        "by its expected value, so a negative input's output equals its average output in training. "
        "(Xu et al. 2015 write the negative part as x / a with a ~ U(3, 8) and divide by the mean of a, "
        f"(3 + 8)/2, at test time: slope 2/11 = {2 / 11:.4g}, a different rule for the same range of slopes.)\n"
        "In code: gv.layers.RReLU(1/8, 1/3).mean_slope"
    ),
    rtol=0.005,
)
def rrelu_inference_slope() -> float:
    """The slope an RReLU layer with lower = 1/8, upper = 1/3 applies to z < 0 at inference."""
    out = RReLU(lower=1 / 8, upper=1 / 3, rng=0).forward(np.array([[-1.0]]), training=False)
    return float(-out[0, 0])  # the output for z = -1 is minus the slope


@exercise(
    "04.4",
    question="A PReLU layer with one shared slope alpha = 0.25 receives z = [[-2, 1, -0.5]] (one example, "
    "three units) and, in the backward pass, the upstream gradient dL/da = [[0.5, -1, 2]]. What is dL/dalpha?",
    hint="a = alpha * z where z < 0, and a = z elsewhere, so da/dalpha is z where z < 0 and 0 elsewhere. "
    "Sum dL/da * da/dalpha over every element that shares the slope.",
    explain=lambda g: (
        "da/dalpha = min(z, 0), so dL/dalpha = sum of dL/da * min(z, 0) over the elements sharing alpha "
        f"(He et al. 2015, eqs. 2-4): 0.5 * (-2) + (-1) * 0 + 2 * (-0.5) = {g:.4g}. The unit with z = 1 "
        "contributes nothing: on the positive side the slope is 1 whatever alpha is.\n"
        "In code: layer = gv.layers.PReLU(1, alpha_init=0.25); layer.forward(np.array([[-2.0, 1.0, -0.5]])); "
        "layer.backward(np.array([[0.5, -1.0, 2.0]])); layer.grads['alpha']"
    ),
    rtol=1e-6,
)
def prelu_alpha_gradient() -> float:
    """dL/dalpha of a PReLU layer (one shared alpha = 0.25) for the exercise's z and upstream gradient."""
    layer = PReLU(num_features=1, alpha_init=0.25)
    layer.forward(np.array(_PRELU_Z), training=True)
    layer.backward(np.array(_PRELU_DOUT))
    return float(layer.grads["alpha"][0])


_LEAKY_Z = np.array([[-3.0, -0.5, -1e-3, 2e-3, 0.7, 4.0], [1.5, -2.0, 0.25, -0.25, -10.0, 10.0]])


def _explain_leaky(reference) -> str:
    a, s = reference(np.array([-2.0, 3.0]), 0.1)
    return (
        "For z > 0 the output is z and the slope 1; otherwise the output is alpha * z and the slope alpha. "
        f"For z = (-2, 3) and alpha = 0.1: outputs {a[0]:g}, {a[1]:g}, slopes {s[0]:g}, {s[1]:g}. "
        "np.where(z > 0, z, alpha * z) gives the same numbers, and so does np.maximum(z, alpha * z) for the "
        "0 <= alpha <= 1 asked here (for alpha > 1 the larger of z and alpha * z is the wrong piece below 0); "
        "Experiment 10 times the two. At z = 0 the slope is a convention: the package, "
        "like the frameworks for ReLU, takes the left piece, alpha.\n"
        "The package: gv.activations.leaky_relu(z, alpha) and gv.activations.leaky_relu_grad(z, alpha)."
    )


@exercise(
    "04.5",
    question="Write a function leaky(z, alpha) that takes an array z and a slope 0 <= alpha <= 1 and returns "
    "the pair (a, slope): leaky ReLU's output a and its derivative da/dz, each an array shaped like z. "
    "(The check uses alpha = 0, 0.01, 0.3 and 1.)",
    hint="Both are chosen by the sign of z: z > 0 gives (z, 1), z <= 0 gives (alpha * z, alpha). "
    "np.where(z > 0, ..., ...) builds an array from two choices; return a, slope.",
    explain=_explain_leaky,
    inputs=[(_LEAKY_Z, 0.0), (_LEAKY_Z, 0.01), (_LEAKY_Z, 0.3), (_LEAKY_Z, 1.0)],
    rtol=1e-12,
)
def leaky_relu_and_slope(z, alpha):
    """Reference answer of exercise 04.5: leaky ReLU's output and slope at ``z``."""
    z = np.asarray(z, dtype=float)
    a = np.where(z > 0, z, alpha * z)          # the output: z above 0, alpha * z below
    slope = np.where(z > 0, 1.0, alpha)        # its derivative: 1 above 0, alpha below
    return a, slope
