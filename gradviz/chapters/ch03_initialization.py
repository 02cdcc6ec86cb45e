"""Chapter 03, weight initialization (``notebooks/03_weight_initialization.ipynb``).

What the chapter teaches: zero init leaves every hidden unit a copy of the
others (the symmetry problem); a too small random init makes activations and
gradients collapse with depth, a too large one saturates sigmoid/tanh units or
overflows a ReLU net; Glorot/Xavier (Var(W) = 2 / (fan_in + fan_out), for
tanh/sigmoid), He/Kaiming (2 / fan_in, for ReLU) and LeCun (1 / fan_in, for
SELU) keep the per-layer variance of activations and gradients roughly
constant (Glorot & Bengio 2010; He et al. 2015). Every measurement is drawn
beside what mean-field theory predicts (:func:`gradviz.theory.predict_variances`).

The notebook starts with::

    import gradviz as gv
    from gradviz.chapters import ch03_initialization as ch

Its experiments (:func:`compare_inits`, :func:`unit_symmetry`,
:func:`init_experiment`) are computed once in the notebook and handed to the
figures, which recompute the chapter's defaults (seed 0) when called without
them, as the command line does.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import NullLocator

from .. import _canvas, plots
from .._validate import check_choice, check_nonneg, check_positive_int
from ..data import load_digits
from ..exercises import exercise
from ..figures import figure
from ..init import ALIASES, INITIALIZERS, weight_variance
from ..network import MLP
from ..stats import PassStats, probe
from ..theory import activation_moments, init_weight_variances, predict_variances
from ..train import train
from ..widgets import DeepNetworkExplorer, resolve_init

__all__ = [
    "compare_inits",
    "unit_symmetry",
    "init_experiment",
    "zero_init_weights",
    "init_too_small",
    "init_too_large",
    "init_theory_grid",
    "histograms_naive_vs_glorot",
    "init_training_curves",
    "InitializationExplorer",
    "largest_abs",
]


# ---- experiments
# How alike the units of a layer are (the symmetry problem of zero init); one probe of a fresh network
# beside what the mean-field theory predicts for it; the same network trained from several
# initializations on the same minibatches, so that only the init differs; and the chapter's
# configured runs of these (seed 0), which the figures draw when given nothing.
def _max_abs_diff_to_first(M, axis):
    """max |M - (first column or row)|, 0.0 for an empty or single-unit matrix; nan if not finite."""
    M = np.asarray(M, dtype=np.float64)
    if M.size == 0:
        return 0.0
    first = M[:, :1] if axis == 1 else M[:1, :]
    with np.errstate(invalid="ignore", over="ignore"):
        return float(np.max(np.abs(M - first)))


def _count_distinct(columns: np.ndarray, atol: float) -> int:
    """Number of distinct columns of ``columns`` (fan_in + 1, width): a column joins the first
    earlier one within ``atol`` (max-abs distance), else starts a new group."""
    reps = []
    for j in range(columns.shape[1]):
        c = columns[:, j]
        if not any(np.max(np.abs(c - r)) <= atol for r in reps):
            reps.append(c)
    return len(reps)


@dataclass
class UnitSymmetry:
    """How alike the units of each hidden layer of a network are.

    Unit j of hidden layer l is described by its incoming weights (column j
    of W^l, shape (fan_in,)), its bias b^l_j and its outgoing weights (row j
    of the next layer's weight matrix). Units whose three agree compute the
    same function of the input and receive the same gradient: they are copies.
    Every array has shape (L,), index 0 is hidden layer 1.

    Attributes
    ----------
    width : int array
        Units per hidden layer.
    weight_max_abs : float array
        max_ij |W^l_ij| (0: the layer's weights are all zero).
    column_difference : float array
        max_ij |W^l_ij - W^l_i1|: how far any unit's incoming weights are
        from those of unit 1 (0: every column of W^l is the same).
    bias_difference : float array
        max_j |b^l_j - b^l_1|.
    outgoing_difference : float array
        max_jk |V_jk - V_1k| with V the weight matrix of the next layer
        (the output layer for l = L): how far any unit's outgoing weights are
        from those of unit 1.
    distinct_units : int array
        Number of different units in the layer: units whose incoming weights
        and bias agree within ``atol`` count once.
    atol : float
        The tolerance used for ``distinct_units`` (0: exact equality).
    """

    width: np.ndarray
    weight_max_abs: np.ndarray
    column_difference: np.ndarray
    bias_difference: np.ndarray
    outgoing_difference: np.ndarray
    distinct_units: np.ndarray
    atol: float = 0.0

    @property
    def depth(self) -> int:
        return len(self.width)

    @property
    def all_copies(self) -> bool:
        """True if in every hidden layer all units are exact copies of unit 1 (in and out)."""
        return bool(np.all(self.column_difference == 0) and np.all(self.bias_difference == 0)
                    and np.all(self.outgoing_difference == 0))

    def as_table(self) -> str:
        """One row per hidden layer, for printing in a notebook."""
        rows = [f"{'layer':>5} {'units':>5} {'distinct':>8} {'max |W|':>9} {'max col diff':>12} "
                f"{'max bias diff':>13} {'max out diff':>12}"]
        for i in range(self.depth):
            rows.append(f"{i + 1:>5d} {self.width[i]:>5d} {self.distinct_units[i]:>8d} "
                        f"{self.weight_max_abs[i]:>9.3g} {self.column_difference[i]:>12.3g} "
                        f"{self.bias_difference[i]:>13.3g} {self.outgoing_difference[i]:>12.3g}")
        return "\n".join(rows)


def unit_symmetry(net: MLP, atol: float = 0.0) -> UnitSymmetry:
    """Measure how alike the hidden units of ``net`` are, layer by layer (the symmetry problem).

    With every weight and bias initialised to the same value (e.g. zero init),
    all units of a layer compute the same activation for every input and,
    because their outgoing weights are equal too, receive the same gradient;
    gradient descent then changes them all by the same amount, so they stay
    copies for ever (Rumelhart, Hinton & Williams 1986, "Learning internal
    representations by error propagation", PDP vol. 1, ch. 8, on "symmetry
    breaking"; Goodfellow, Bengio & Courville 2016, *Deep Learning*, sec. 8.4).
    In floating point the copies stay bit-for-bit equal, because each unit's
    numbers go through the same operations.

    Parameters
    ----------
    net : MLP
    atol : float >= 0
        Two units count as the same in ``distinct_units`` if their incoming
        weights and biases differ by at most ``atol`` (max-abs).

    Returns
    -------
    UnitSymmetry

    Raises
    ------
    TypeError
        If ``net`` is not an MLP.
    ValueError
        If ``atol`` is negative or not finite.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a gradviz.network.MLP; got {type(net).__name__}")
    atol = check_nonneg("atol", atol)
    L = net.depth
    out = {k: np.zeros(L) for k in ("weight_max_abs", "column_difference", "bias_difference", "outgoing_difference")}
    distinct = np.zeros(L, dtype=np.int64)
    for i, block in enumerate(net.blocks):
        W = block.dense.params["W"]
        b = block.dense.params["b"]
        nxt = net.blocks[i + 1].dense if i + 1 < L else net.output
        with np.errstate(invalid="ignore", over="ignore"):
            out["weight_max_abs"][i] = float(np.max(np.abs(W))) if W.size else 0.0
        out["column_difference"][i] = _max_abs_diff_to_first(W, axis=1)
        out["bias_difference"][i] = _max_abs_diff_to_first(b[None, :], axis=1)
        out["outgoing_difference"][i] = 0.0 if nxt is None else _max_abs_diff_to_first(nxt.params["W"], axis=0)
        distinct[i] = _count_distinct(np.vstack([W, b[None, :]]).astype(np.float64), atol)
    return UnitSymmetry(width=np.array(net.hidden, dtype=np.int64), distinct_units=distinct, atol=atol, **out)


@dataclass
class InitExperiment:
    """A fresh network probed once, with the mean-field prediction for it (see :func:`init_experiment`).

    Attributes
    ----------
    net : MLP
        The probed network (no output layer); its records hold the probe's tensors.
    measured : PassStats
        :func:`gradviz.stats.probe` of ``net``.
    predicted : gradviz.theory.VariancePrediction
        :func:`gradviz.theory.predict_variances` for the same widths,
        activation and weight variance.
    label : str
        E.g. ``"tanh, glorot_uniform"``.
    """

    net: MLP
    measured: PassStats
    predicted: object
    label: str

    def gradient_sizes(self) -> dict:
        """What the weight gradient of each layer is made of, measured; arrays of shape (L,).

        The weight gradient of hidden layer l is dL/dW^l = (a^{l-1})^T dL/dz^l (a^0 = x, the
        probe's input): the activations entering the layer times the gradient arriving at it.

        Returns
        -------
        dict with
            ``'a_in_std'``: std of a^{l-1} (the input x for l = 1);
            ``'dz_std'``: std of dL/dz^l;
            ``'dW_norm'``: ||dL/dW^l||, the root of the sum of squares of its entries (Frobenius norm).
        """
        m = self.measured
        x = self.net.blocks[0].dense.cache  # the probe's input, kept by layer 1's forward pass
        x_std = float(np.std(x, dtype=np.float64)) if x is not None else np.nan
        with np.errstate(invalid="ignore"):
            return {"a_in_std": np.concatenate([[x_std], m.a_std[:-1]]), "dz_std": np.sqrt(m.dz_var),
                    "dW_norm": np.asarray(m.grad_norm, dtype=float)}

    def gradient_table(self, layers=None) -> str:
        """One row per layer (all, or the 1-based ``layers`` given): std of a^{l-1}, std of dL/dz^l and
        ||dL/dW^l|| (see :meth:`gradient_sizes`), for printing in a notebook."""
        g = self.gradient_sizes()
        idx = range(self.measured.depth) if layers is None else [check_positive_int("layer", k) - 1 for k in layers]
        rows = [f"{'layer':>5} {'std of a^(l-1)':>15} {'std of dL/dz^l':>15} {'|dL/dW^l|':>11}"]
        for i in idx:
            rows.append(f"{i + 1:>5d} {g['a_in_std'][i]:>15.3g} {g['dz_std'][i]:>15.3g} {g['dW_norm'][i]:>11.3g}")
        return "\n".join(rows)

    def as_table(self) -> str:
        """Per layer: measured and predicted Var(a) and Var(dL/da), and the saturated/dead fractions."""
        m, p = self.measured, self.predicted
        rows = [f"{'layer':>5} {'Var(a)':>10} {'predicted':>10} {'Var(dL/da)':>11} {'predicted':>10} "
                f"{'saturated':>9} {'dead':>6}"]
        for i in range(m.depth):
            rows.append(f"{i + 1:>5d} {m.a_var[i]:>10.3g} {p.a_var[i]:>10.3g} {m.da_var[i]:>11.3g} "
                        f"{p.da_var[i]:>10.3g} {m.saturated_fraction[i]:>9.1%} {m.dead_fraction[i]:>6.1%}")
        return "\n".join(rows)


def init_experiment(activation: str, init: str, depth: int = 10, width: int = 256, *, weight_scale: float = 1.0,
                    batch_size: int = 256, seed=0, dtype=np.float64, init_kwargs=None,
                    **activation_params) -> InitExperiment:
    """Build a deep MLP, probe it once, and predict what the probe should measure.

    The network is ``MLP(width, depth=depth, width=width, n_outputs=None)``
    (``depth`` hidden layers of ``width`` units, no output layer, zero biases);
    :func:`gradviz.stats.probe` feeds it standard-normal inputs of shape (batch_size, width),
    back-propagates a standard-normal gradient from its last hidden layer, and records the
    weight gradients too (``measured.grad_norm``; :meth:`InitExperiment.gradient_sizes`).
    The prediction is :func:`gradviz.theory.predict_variances` for widths
    ``[width] * (depth + 1)`` and the weight variance that ``init`` draws from
    (:func:`gradviz.theory.init_weight_variances`), which is the derivation of
    Glorot & Bengio (2010), eqs. 5-6, and He et al. (2015), eqs. 7 and 13,
    carried out with the exact Gaussian moments of the activation.

    Parameters
    ----------
    activation : str
        Hidden activation (see :data:`gradviz.activations.ACTIVATIONS`).
    init : str
        Initializer name (see :mod:`gradviz.init`).
    depth, width : int >= 1
    weight_scale : float >= 0
        Multiplies every initial weight.
    batch_size : int >= 2
        Examples in the probe.
    seed : int
        Seeds the weights (as :class:`gradviz.network.MLP` does) and the probe's inputs.
    dtype : numpy float dtype
        float32 overflows at 3.4e38, float64 at 1.8e308.
    init_kwargs : dict or None
        Passed to the initializer, e.g. ``{"std": 1.0}`` for ``init="normal"``.
    **activation_params
        E.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    InitExperiment

    Raises
    ------
    ValueError, TypeError
        For an unknown activation or initializer, or sizes that are not positive integers.
    """
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    init_kwargs = dict(init_kwargs or {})
    net = MLP(width, depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
              n_outputs=None, seed=seed, dtype=dtype, init_kwargs=init_kwargs, **activation_params)
    measured = probe(net, batch_size=batch_size, seed=seed, param_grads=True)
    widths = [width] * (depth + 1)
    wv = init_weight_variances(widths, init, weight_scale=weight_scale, **init_kwargs)
    predicted = predict_variances(widths, activation, wv, **activation_params)
    extra = ", ".join(f"{k}={v:g}" for k, v in init_kwargs.items() if isinstance(v, (int, float)))
    scale = "" if weight_scale == 1 else f" x {weight_scale:g}"
    label = f"{activation}, {init}{'(' + extra + ')' if extra else ''}{scale}"
    return InitExperiment(net=net, measured=measured, predicted=predicted, label=label)


@dataclass(eq=False)
class InitComparison:
    """Networks that differ only in activation and initializer, each trained the same way.

    Attributes
    ----------
    nets : dict label -> MLP
        The trained networks (label ``"<activation>, <init>"``), in the order given.
    histories : dict label -> History
        What :func:`gradviz.train.train` recorded for each.
    """

    nets: dict
    histories: dict

    def summary(self) -> str:
        """One line per run: its label and how it ended (:attr:`History.status`)."""
        width = max((len(k) for k in self.histories), default=0)
        return "\n".join(f"{k:<{width}}  {h.status}" for k, h in self.histories.items())


def compare_inits(configs, data=None, *, hidden=(64,) * 10, lr: float = 0.05, steps: int = 300,
                  batch_size: int = 64, seed=0, record_every: int | None = None, progress="auto",
                  init_kwargs=None) -> InitComparison:
    """Train one MLP per (activation, init) pair on the same data, minibatches and seed.

    Every network is ``MLP(n_features, hidden=hidden, activation=..., init=...,
    n_outputs=n_classes, seed=seed)`` (the output layer uses the same init) and
    is trained with plain SGD by :func:`gradviz.train.train` with the same ``lr``, ``steps``,
    ``batch_size`` and ``seed`` (hence the same sequence of minibatches), so
    that any difference between the runs comes from the initialization.

    Parameters
    ----------
    configs : iterable of (activation, init) pairs
        E.g. ``[("tanh", "uniform"), ("tanh", "glorot_uniform")]``.
    data : Dataset or None
        None: :func:`gradviz.data.load_digits` (the handwritten digits).
    hidden : sequence of int
        Hidden widths (default: 10 layers of 64 units).
    lr, steps, batch_size, seed, record_every, progress
        As for :func:`gradviz.train.train`.
    init_kwargs : dict or None
        Passed to every initializer (e.g. ``{"std": 0.1}`` for ``"normal"``).

    Returns
    -------
    InitComparison

    Raises
    ------
    ValueError, TypeError
        A config that is not an (activation, init) pair, a repeated pair, or
        any argument :class:`gradviz.network.MLP` or :func:`gradviz.train.train` rejects.
    """
    if data is None:
        data = load_digits()
    pairs = []
    for c in configs:
        if isinstance(c, (str, bytes)) or len(c) != 2:
            raise ValueError(f"configs must hold (activation, init) pairs, e.g. ('relu', 'he_normal'); got {c!r}")
        pairs.append((str(c[0]), str(c[1])))
    if not pairs:
        raise ValueError("configs must hold at least one (activation, init) pair")
    nets, histories = {}, {}
    for activation, init in pairs:
        label = f"{activation}, {init}"
        if label in nets:
            raise ValueError(f"configs holds ({activation!r}, {init!r}) twice")
        n_features = data.n_features if hasattr(data, "n_features") else np.asarray(data[0]).shape[1]
        n_classes = data.n_classes if hasattr(data, "n_classes") else int(np.max(data[1])) + 1
        net = MLP(n_features, hidden=hidden, activation=activation, init=init, n_outputs=n_classes, seed=seed,
                  init_kwargs=init_kwargs)
        histories[label] = train(net, data, lr=lr, steps=steps, batch_size=batch_size, seed=seed,
                                 record_every=record_every, progress=progress)
        nets[label] = net
    return InitComparison(nets=nets, histories=histories)


#: Zero-init experiment: one sigmoid hidden layer of 16 units on the digits.
ZERO_INIT = dict(hidden=(16,), lr=0.5, steps=400, record_every=50)
#: Training comparison: 10 hidden layers of 64 units on the digits.
TRAINING = dict(hidden=(64,) * 10, lr=0.05, steps=200, record_every=40)
#: The (activation, init) pairs of the training comparison.
TRAINING_CONFIGS = (("tanh", "uniform"), ("tanh", "glorot_uniform"), ("relu", "glorot_uniform"),
                    ("relu", "he_normal"))


def zero_init_runs(progress=False):
    """The zero-init experiment: sigmoid, one hidden layer of 16, zeros vs Glorot uniform."""
    return compare_inits([("sigmoid", "zeros"), ("sigmoid", "glorot_uniform")], progress=progress, **ZERO_INIT)


def large_init_experiments():
    """The large-init probes: sigmoid and tanh (10 x 256, float64) and ReLU (40 x 256, float32), weights N(0, 1)."""
    big = {"std": 1.0}
    return {
        "sigmoid": init_experiment("sigmoid", "normal", depth=10, width=256, init_kwargs=big),
        "tanh": init_experiment("tanh", "normal", depth=10, width=256, init_kwargs=big),
        "relu": init_experiment("relu", "normal", depth=40, width=256, batch_size=64, dtype=np.float32,
                                init_kwargs=big),
    }


def theory_grid(depth=20, width=256):
    """The measured-vs-predicted grid: {(init, activation): InitExperiment} for
    init in (glorot_normal, he_normal) and activation in (tanh, relu, selu)."""
    return {(init, act): init_experiment(act, init, depth=depth, width=width)
            for init in ("glorot_normal", "he_normal") for act in ("tanh", "relu", "selu")}


def histogram_experiments(depth=5, width=256, batch_size=512):
    """The tanh probes for the histograms: naive U[-1/sqrt(n), 1/sqrt(n)] and Glorot uniform."""
    return {init: init_experiment("tanh", init, depth=depth, width=width, batch_size=batch_size)
            for init in ("uniform", "glorot_uniform")}


def training_runs(progress=False):
    """The training comparison: tanh naive vs Glorot, ReLU Glorot vs He, 10 x 64 units, digits."""
    return compare_inits(TRAINING_CONFIGS, progress=progress, **TRAINING)


# ---- figures
# Every function accepts the results it draws (from init_experiment or compare_inits), so the notebook
# computes them once; without them it computes the chapter's defaults (seed 0).
#: How the figures name each initializer.
_INIT_NAMES = {"uniform": "naive U[-1/sqrt(n), 1/sqrt(n)]", "glorot_uniform": "Glorot uniform",
               "glorot_normal": "Glorot normal", "he_normal": "He normal", "he_uniform": "He uniform",
               "lecun_normal": "LeCun normal", "normal": "N(0, 0.01^2)", "zeros": "zero"}


#: Colour of each initializer family in the training figure: the same family, the same colour in every row.
_INIT_COLORS = {"uniform": plots.OKABE_ITO["vermillion"], "glorot": plots.OKABE_ITO["blue"],
                "he": plots.OKABE_ITO["green"], "lecun": plots.OKABE_ITO["orange"], "normal": plots.OKABE_ITO["black"],
                "zeros": plots.OKABE_ITO["black"]}


def _lean_log_axes(fig):
    """No minor ticks on log-scaled y axes: a log axis over many decades draws hundreds of them, which
    made these figures several times slower to render, for ticks too small to read."""
    for ax in fig.axes:
        if ax.get_yscale() == "log":
            ax.yaxis.set_minor_locator(NullLocator())
    return fig


def unit_tiles(W, n_units=8, ncols=4, side=8, gap=1):
    """The incoming weights of the first ``n_units`` units (columns of W, each of ``side**2`` pixels) as one
    image of ``side x side`` tiles, ``ncols`` per row, separated by ``gap`` NaN pixels (drawn blank).

    Returns an array of shape (rows * (side + gap) - gap, ncols * (side + gap) - gap).
    """
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != side * side:
        raise ValueError(f"W must have shape ({side * side}, units) for {side}x{side} tiles; got {W.shape}")
    n = min(n_units, W.shape[1])
    rows = -(-n // ncols)
    out = np.full((rows * (side + gap) - gap, ncols * (side + gap) - gap), np.nan)
    for k in range(n):
        r, c = divmod(k, ncols)
        out[r * (side + gap):r * (side + gap) + side, c * (side + gap):c * (side + gap) + side] = \
            np.asarray(W[:, k], dtype=float).reshape(side, side)
    return out


def _weight_panels(subfig, W, title, n_units=8, ncols=4):
    """W^1 as a matrix (inputs x units) beside the first units' incoming weights as 8x8 tiles, one colour scale."""
    m = float(np.max(np.abs(W))) if W.size else 0.0
    norm = Normalize(-m, m) if m > 0 else Normalize(-1.0, 1.0)
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
    ax_w, ax_t = subfig.subplots(1, 2, width_ratios=[1, 1.75])
    im = ax_w.imshow(W, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest", gid="W1",
                     extent=(0.5, W.shape[1] + 0.5, W.shape[0] + 0.5, 0.5))  # units and pixels counted from 1
    ax_w.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax_w.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax_w.set_xlabel("hidden unit $j$")
    ax_w.set_ylabel("input pixel $i$ (row of $W^1$)")
    ax_w.set_title("$W^1$: one column per unit", fontsize=10)
    ax_w.grid(False)
    gap = 2
    tiles = unit_tiles(W, n_units, ncols, gap=gap)
    ax_t.imshow(tiles, cmap=cmap, norm=norm, interpolation="nearest", gid="tiles")
    ax_t.set_axis_off()
    for k in range(min(n_units, W.shape[1])):
        r, c = divmod(k, ncols)
        ax_t.text(c * (8 + gap) + 3.5, r * (8 + gap) - 0.6, f"unit {k + 1}", ha="center", va="bottom", fontsize=9)
    ax_t.set_title(f"columns 1-{min(n_units, W.shape[1])} of $W^1$, each as an 8x8 image", fontsize=10, pad=14)
    cb = subfig.colorbar(im, ax=[ax_w, ax_t], fraction=0.03, pad=0.01, aspect=25)
    cb.set_label("weight")
    subfig.suptitle(title, fontsize=11.5)


@figure("zero_init_weights")
def zero_init_weights(comparison=None):
    """The first-layer weights after training on the digits: from zero init every unit is the same, from Glorot init each differs."""
    comparison = comparison if comparison is not None else zero_init_runs()
    fig, _ = plots.new_figure(figsize=(10.5, 7.2))
    fig.clear()
    subfigs = fig.subfigures(len(comparison.nets), 1, hspace=0.04)
    with plots.style():
        for sf, (label, net) in zip(np.atleast_1d(subfigs), comparison.nets.items()):
            W = net.blocks[0].dense.params["W"]
            sym = unit_symmetry(net)
            h = comparison.histories[label]
            n = W.shape[1]
            if sym.distinct_units[0] == 1:
                what = f"all {n} columns identical (max difference {sym.column_difference[0]:.3g})"
            else:
                what = f"{sym.distinct_units[0]} different units out of {n}"
            act, init = (part.strip() for part in label.split(",", 1))
            _weight_panels(sf, W, f"{act}, {_INIT_NAMES.get(init, init)} init, after {h.steps_run} SGD steps: {what}; "
                              f"test accuracy {h.test_accuracy[-1]:.1%}")
    return fig


@figure("init_too_small")
def init_too_small(experiments=None):
    """Weights drawn from N(0, 0.01^2): per-layer variance of activations and gradients collapses, measured and predicted."""
    if experiments is None:
        experiments = [init_experiment(a, "normal", depth=10, width=256) for a in ("tanh", "relu")]
    fig, axes = plots.new_figure(1, len(experiments), figsize=(6.3 * len(experiments), 4.8), sharey=True,
                                 squeeze=False)
    for ax, e in zip(axes[0], experiments):
        n = e.net.hidden[0]
        plots.plot_variances(e.measured, e.predicted, ax=ax,
                             title=f"{e.net.activation}, N(0, 0.01²) weights, {e.net.depth} x {n} units")
    with plots.style():
        for ax in axes[0][1:]:
            ax.set_ylabel("")
    return _lean_log_axes(fig)


@figure("init_too_large")
def init_too_large(experiments=None):
    """Weights drawn from N(0, 1): sigmoid and tanh units saturate in every layer; a ReLU net overflows float32."""
    experiments = experiments if experiments is not None else large_init_experiments()
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(16.5, 4.9), width_ratios=[0.85, 1, 1.15])
    with plots.style():
        plots.tidy(a1)
        colors = {"sigmoid": plots.OKABE_ITO["green"], "tanh": plots.OKABE_ITO["orange"]}
        depth = 1
        for name in ("sigmoid", "tanh"):
            m = experiments[name].measured
            depth = max(depth, m.depth)
            a1.plot(m.layer, 100 * m.saturated_fraction, "s-", ms=4, color=colors[name], label=name,
                    gid=f"saturated:{name}")
        a1.set_ylim(-3, 103)
        a1.set_ylabel("saturated units (%)")
        plots.layer_axis(a1, depth)
        a1.legend(loc="lower right", fontsize=9)
        a1.set_title("units on the flat tails (slope < 5% of max)", fontsize=11)
    t = experiments["tanh"]
    plots.plot_variances(t.measured, t.predicted, ax=a2, title=f"tanh: {t.net.depth} x {t.net.hidden[0]} units")
    r = experiments["relu"]
    _overflow_panel(a3, r)
    with plots.style():
        fig.suptitle("weights drawn from N(0, 1) (std 1, as numpy's randn): far too large for 256 inputs per unit",
                     fontsize=12)
    return _lean_log_axes(fig)


def largest_abs(net) -> np.ndarray:
    """max |a^l| of each hidden layer of ``net``'s last recorded pass, shape (L,); nan where a^l is not finite."""
    out = np.full(net.depth, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        for i, rec in enumerate(net.records):
            a = rec.get("a")
            if a is not None and np.isfinite(a).all():
                out[i] = float(np.max(np.abs(a)))
    return out


def _overflow_panel(ax, e):
    """The ReLU net of init_too_large in its own dtype: std of a^l (predicted dashed) and the largest |a^l|,
    beside the largest number that dtype holds. The statistics themselves are computed in float64 (a float32
    variance of numbers near 1e37 would overflow by itself), so the panel draws standard deviations, in the
    units of the network's own values."""
    big = float(np.finfo(e.net.dtype).max)
    plots.plot_variances(e.measured, e.predicted, ax=ax, quantities=("a",), std=True, legend=False)
    with plots.style():
        peak = largest_abs(e.net)
        ax.plot(e.measured.layer, plots.positive_finite(peak), "^", ms=4, color=plots.OKABE_ITO["vermillion"],
                ls="none", label=r"largest $|a^l|$", gid="largest_abs", zorder=3)
        ax.axhline(big, color="0.25", lw=1.2, ls=(0, (5, 3)), gid="dtype_max")
        ax.text(1.0, big * 3, f"largest {e.net.dtype.name} number, {big:.2g}", fontsize=9, color="0.25",
                va="bottom", ha="left", gid="dtype_max_label")
        ax.set_ylim(0.3, big * 1e12)  # headroom for the overflow label above the line
        ax.set_ylabel("size of the activations (log scale)")
        ax.set_title(f"ReLU: {e.net.depth} x {e.net.hidden[0]} units computing in {e.net.dtype.name}\n"
                     "(std taken in float64, so that it can be computed at all)", fontsize=10.5)
        plots.variance_legend(ax, measured=True, predicted=True)
    return ax


@figure("init_theory_grid")
def init_theory_grid(grid=None):
    """Per-layer Var(a) and Var(dL/da), measured and predicted, for tanh, ReLU and SELU with Var(W) = 1/n and 2/n."""
    grid = grid if grid is not None else theory_grid()
    inits = list(dict.fromkeys(k[0] for k in grid))
    acts = list(dict.fromkeys(k[1] for k in grid))
    fig, axes = plots.new_figure(len(inits), len(acts), figsize=(5.0 * len(acts) + 0.6, 4.2 * len(inits) + 0.4),
                                 sharey=True, squeeze=False)
    row_name = {"glorot_normal": "Glorot normal = LeCun normal here: Var(W) = 1/n",
                "lecun_normal": "LeCun normal: Var(W) = 1/n", "he_normal": "He normal: Var(W) = 2/n"}
    recommended = {("glorot_normal", "tanh"), ("he_normal", "relu"), ("glorot_normal", "selu"),
                   ("lecun_normal", "selu")}
    for i, init in enumerate(inits):
        for j, act in enumerate(acts):
            e = grid[(init, act)]
            ax = axes[i, j]
            last = i == len(inits) - 1
            plots.plot_variances(e.measured, e.predicted, ax=ax, legend=last and j == 1,
                                 title=f"{act}, {row_name.get(init, init)}")
            with plots.style():
                if (init, act) in recommended:
                    ax.set_title(ax.get_title() + "\n(the pair the literature recommends)", fontsize=10.5,
                                 color=plots.OKABE_ITO["green"])
                else:
                    ax.set_title(ax.get_title() + "\n(not the recommended pair)", fontsize=10.5)
                if j:
                    ax.set_ylabel("")
                if not last:
                    ax.set_xlabel("")
    with plots.style():
        e0 = next(iter(grid.values()))
        fig.suptitle(f"{e0.net.depth} layers x {e0.net.hidden[0]} units, standard-normal input and upstream "
                     "gradient: solid = measured, dashed = predicted", fontsize=12)
    return _lean_log_axes(fig)


@figure("histograms_naive_vs_glorot")
def histograms_naive_vs_glorot(experiments=None):
    """Per-layer histograms of tanh activations and back-propagated gradients, naive vs Glorot init (after Glorot & Bengio 2010, Figs. 6-7)."""
    experiments = experiments if experiments is not None else histogram_experiments()
    names = {"uniform": "naive init: U[-1/sqrt(n), 1/sqrt(n)]", "glorot_uniform": "Glorot (normalized) init"}
    nets = {names.get(k, k): e.net for k, e in experiments.items()}
    fig = plots.histogram_grid(nets, keys=("a", "da"), bins=60)
    with plots.style():
        e0 = next(iter(experiments.values()))
        fig.suptitle(f"tanh, {e0.net.depth} hidden layers x {e0.net.hidden[0]} units, standard-normal input\n"
                     "compare Glorot & Bengio (2010): Fig. 6 (activations), Fig. 7 (back-propagated gradients)",
                     fontsize=12)
    return fig


@figure("init_training_curves")
def init_training_curves(comparison=None):
    """Training on the digits: a deep tanh net with naive vs Glorot init, a deep ReLU net with Glorot vs He init."""
    comparison = comparison if comparison is not None else training_runs()
    groups, colors = {}, {}
    for label, h in comparison.histories.items():
        act, init = (part.strip() for part in label.split(",", 1))
        groups.setdefault(act, {})[f"{act}, {_INIT_NAMES.get(init, init)}"] = h
        # one colour per initializer family in every row (Glorot is blue in both rows)
        family = init.split("_")[0]
        colors.setdefault(act, []).append(_INIT_COLORS.get(family, plots.OKABE_ITO["purple"]))
    fig, axes = plots.new_figure(len(groups), 2, figsize=(12.5, 4.3 * len(groups) + 0.5), squeeze=False)
    for (act, runs), (ax_loss, ax_acc) in zip(groups.items(), axes):
        plots.plot_training_curves(runs, axes=(ax_loss, ax_acc), smooth=10, colors=colors[act])
        with plots.style():
            ax_loss.set_title(f"{act}: training loss (10-step moving average)")
            ax_acc.set_title(f"{act}: test accuracy")
    with plots.style():
        net = next(iter(comparison.nets.values()))
        cfg = next(iter(comparison.histories.values())).config
        fig.suptitle(f"{net.depth} hidden layers x {net.hidden[0]} units, SGD lr {cfg['lr']:g}, batch "
                     f"{cfg['batch_size']}, same minibatches for every run", fontsize=12)
    return _lean_log_axes(fig)


# ---- explorers
#: Var(W_ij) of each initializer as a formula in n_in = fan_in and n_out = fan_out (the explorer's readout).
_INIT_FORMULAS = {
    "zeros": "0",
    "normal": "0.01^2",
    "uniform": "1 / (3 n_in)",  # U[-1/sqrt(n_in), 1/sqrt(n_in)]
    "glorot_uniform": "2 / (n_in + n_out)",
    "glorot_normal": "2 / (n_in + n_out)",
    "he_uniform": "2 / n_in",
    "he_normal": "2 / n_in",
    "lecun_uniform": "1 / n_in",
    "lecun_normal": "1 / n_in",
    "orthogonal": "1 / max(n_in, n_out)",
}


def init_formula(init: str) -> str:
    """Var(W_ij) of initializer ``init`` as a formula in n_in (fan_in) and n_out (fan_out), at gain 1.

    Raises
    ------
    ValueError
        Unknown initializer (aliases such as ``xavier_uniform`` are accepted).
    """
    name = check_choice("init", init, INITIALIZERS + tuple(ALIASES))
    name = ALIASES.get(name, name)
    return _INIT_FORMULAS.get(name, "value^2 (constant: variance 0)" if name == "constant" else "?")


class InitializationExplorer(DeepNetworkExplorer):
    """Activation x initializer: per-layer Var(a) and Var(dL/da) of a deep MLP, measured and predicted.

    The :class:`gradviz.widgets.DeepNetworkExplorer` without its batch-norm control (this chapter
    is about the initial weights alone), starting from a deep tanh net with the
    naive U[-1/sqrt(n), 1/sqrt(n)] init, and with a readout that shows the
    initializer's formula for Var(W), the product n Var(W) that the derivation
    of Glorot & Bengio (2010, eqs. 10-11) and He et al. (2015, eqs. 10, 14)
    asks to be 1 (tanh, linear regime) or 2 (ReLU), and the per-layer factors
    the mean-field theory predicts (:func:`gradviz.theory.predict_variances`):

    - forward, E[(a^l)^2] / E[(a^{l-1})^2] (with E[(a^0)^2] = 1 for the probe's input);
    - backward, Var(dL/da^{l-1}) / Var(dL/da^l) = n_l Var(W^l) E[phi'(z^l)^2].

    Controls: ``depth``, ``width``, ``activation``, ``init``, ``weight_scale``,
    ``seed``, ``batch_size``. Parameters as for :class:`gradviz.widgets.DeepNetworkExplorer`.
    """

    #: Control values an InitializationExplorer starts from (any can be overridden by a keyword).
    preset = {"depth": 20, "width": 256, "activation": "tanh", "init": "uniform"}
    #: A draft of a deep, wide network probes at least this many examples (see
    #: :meth:`gradviz.widgets.DeepNetworkExplorer.draft_examples`): 8 x 512 units give 4096 values per layer, a
    #: variance within a few percent on the log axis; 32 (the default) took 60-130 ms at 50 x 512.
    min_draft_examples = 8
    show_draft_seconds = _canvas.SHOW_SECONDS  # a refinement lets the browser show the draft first

    def __init__(self, canvas="auto", *, dtype=np.float32, max_depth=50, **values):
        self._first_probe = None  # seconds the probe of the first figure took (see compute)
        super().__init__(canvas, dtype=dtype, max_depth=max_depth, **{**self.preset, **values})
        # A learner's first changes are judged by this machine's speed, from the probe that drew the first figure
        # (the whole batch on one thread: slower than a learner's probe on two, so a doubtful setting gets a draft),
        # not by the parent's guess (6e10 FLOP/s). Each press of the depth slider is a shape not answered before,
        # judged by that speed. In the browser, answered whole, the defaults' 20 x 256 x 256 took 70-108 ms of the
        # kernel (the probe's two threads beside Chromium's), a key-to-pixels p95 of 123-150 ms (three runs); from
        # a draft, 98-131 (four runs).
        a = self.probe_args(self.values)
        flop = self.probe_flop(a["depth"], a["width"], a["batch_size"])
        if self._first_probe and flop > 2e7:  # large enough to time the products rather than Python
            self._flops = min(self._flops, flop / self._first_probe)

    def compute(self, *args, **kwargs):
        result = super().compute(*args, **kwargs)
        if self._first_probe is None and not self.timings["cached"]:
            self._first_probe = self.timings["probe"]
        return result

    def make_controls(self):
        controls = super().make_controls()
        controls.pop("batch_norm")
        return controls

    def show(self, result, values):
        # (the parent's readout is sent once, with these lines: Explorer._held_views)
        super().show(result, values)  # no batch-norm control: the probe runs without batch norm
        self._fixed_layer_axes()
        self.readout.value = "<br>".join(html.escape(s) for s in self._init_lines()) + "<br>" + self.readout.value

    def _fixed_layer_axes(self):
        # Both panels show layers 1..max_depth whatever the depth: a deeper network draws longer curves on the
        # same ruler, and a depth step redraws the curves only. (Rescaling the x axes to the depth redrew every
        # tick label of both panels at each step, 60-100 ms of a frame.)
        for ax in self.blit_axes():
            plots.layer_axis(ax, self.max_depth)

    def _freeze_layout(self):
        super()._freeze_layout()
        self._fixed_layer_axes()

    def factors(self):
        """Predicted per-layer factors (forward, backward), arrays of shape (L,), for the current controls.

        ``forward[l-1]`` = E[(a^l)^2] / E[(a^{l-1})^2] (E[(a^0)^2] = 1, the probe's
        standard-normal input); ``backward[l-1]`` = n_l Var(W^l) E[phi'(z^l)^2],
        the factor by which Var(dL/da) is multiplied on its way from layer l
        down to layer l - 1.
        """
        p = self.prediction
        a2 = np.asarray(p.a_second_moment, float)
        with np.errstate(all="ignore"):
            forward = a2 / np.concatenate([[1.0], a2[:-1]])
        return forward, np.asarray(p.grad_gain, float)

    def _init_lines(self):
        v = self.values
        init = resolve_init(v["init"], v["activation"])
        n, s = v["width"], float(v["weight_scale"])
        var_w = float(self.prediction.weight_var[0])
        scale = "" if s == 1 else f" x {s:.3g}^2"
        forward, backward = self.factors()
        L = v["depth"]

        def pair(x):
            return f"{x[0]:.3g} at layer 1" + (f", {x[-1]:.3g} at layer {L}" if L > 1 else "")

        if var_w == 0:
            return [f"{init} x {s:.3g}: every weight is 0, so every unit of a layer computes the same value "
                    f"phi(0) for every input and gets the same gradient: the units are copies (the symmetry problem)."]
        return [
            f"{init}: Var(W) = {f'({init_formula(init)})' if scale else init_formula(init)}{scale} = {var_w:.3g} "
            f"for n_in = n_out = {n}; "
            f"n Var(W) = {n * var_w:.3g}.",
            f"Predicted per-layer factor of E[a^2] (forward): {pair(forward)}; "
            f"of Var(dL/da) (backward, n Var(W) E[phi'(z)^2]): {pair(backward)}.",
        ]

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook cell)."""
        v = self.values
        init = resolve_init(v["init"], v["activation"])
        s = self.stats
        head = (f"{v['activation']}, {init} x {v['weight_scale']:.3g}, {v['depth']} layers x {v['width']} units, "
                f"{self.dtype.name}")
        lines = [head] + self._init_lines()
        if s.first_nonfinite is not None:
            lines.append(f"overflow at hidden layer {s.first_nonfinite}")
        else:
            lines.append(f"measured Var(a): {s.a_var[0]:.3g} at layer 1, {s.a_var[-1]:.3g} at layer {v['depth']}; "
                         f"Var(dL/da): {s.da_var[0]:.3g} at layer 1, {s.da_var[-1]:.3g} at layer {v['depth']}")
        return "\n".join(lines)


# ---- exercises
# Answers come from gradviz.init and gradviz.theory.
@exercise(
    "03.1",
    question="Glorot (Xavier) uniform init draws W from U[-limit, limit]. What is the limit for a layer with "
    "fan_in = 784 and fan_out = 256?",
    hint="Glorot & Bengio (2010), eq. 12, ask for Var(W) = 2 / (fan_in + fan_out); U[-l, l] has variance "
    "l^2 / 3. Check with gv.init.weight_variance('glorot_uniform', 784, 256).",
    explain=lambda lim: (
        "Var(W) = 2 / (784 + 256) = 2 / 1040 = "
        f"{2 / 1040:.4g}; the uniform distribution U[-l, l] has variance l^2 / 3, so "
        f"l = sqrt(3 x 2 / 1040) = sqrt(6 / 1040) = {lim:.4g} (Glorot & Bengio 2010, eq. 16).\n"
        "For comparison, the same layer under LeCun init (1 / fan_in) would get l = "
        f"{np.sqrt(3 / 784):.4g} and under He init (2 / fan_in) l = {np.sqrt(6 / 784):.4g}.\n"
        "In code: np.sqrt(3 * gv.init.weight_variance('glorot_uniform', 784, 256))"
    ),
)
def glorot_uniform_limit(fan_in=784, fan_out=256):
    return float(np.sqrt(3.0 * weight_variance("glorot_uniform", fan_in, fan_out)))


@exercise(
    "03.2",
    question="In a ReLU net, what must fan_in x Var(W) be so that the second moment E[a^2] is the same in every "
    "layer? (And which initializer draws exactly that?)",
    hint="E[z^2] = fan_in Var(W) E[a_prev^2], and for z symmetric around 0, E[relu(z)^2] is a simple fraction of "
    "E[z^2]. gv.theory.activation_moments('relu', 0, 1).second_moment gives that fraction.",
    explain=lambda c: (
        "Forward: E[(z^l)^2] = n_{l-1} Var(W^l) E[(a^{l-1})^2]. ReLU keeps the positive half of a zero-mean, "
        "symmetric z and zeroes the rest, so E[relu(z)^2] = E[z^2] / 2 "
        f"(gv.theory.activation_moments('relu', 0, 1).second_moment = {1 / c:.4g}). Hence "
        "E[(a^l)^2] = n_{l-1} Var(W^l) E[(a^{l-1})^2] / 2, constant iff "
        f"n_{{l-1}} Var(W^l) = {c:.4g}: He (Kaiming) init, Var(W) = 2 / fan_in (He et al. 2015, eq. 10)."
    ),
)
def relu_fan_in_var_w():
    """fan_in * Var(W) that keeps E[a^2] of a ReLU layer equal to that of its input: 1 / (E[relu(z)^2] / Var(z))."""
    return 1.0 / activation_moments("relu", 0.0, 1.0).second_moment


@exercise(
    "03.3",
    question="A ReLU net whose layers all have the same width (fan_in = fan_out) is initialised with Glorot init. "
    "By what factor is the second moment E[a^2] multiplied from one layer to the next?",
    hint="With fan_in = fan_out = n, Glorot's Var(W) = 2 / (n + n) = 1 / n. Put that into "
    "E[(a^l)^2] = n Var(W) E[relu(z)^2] / E[z^2] x E[(a^{l-1})^2], or ask gv.theory.predict_variances.",
    explain=lambda f: (
        "Glorot with fan_in = fan_out = n gives Var(W) = 1 / n, so n Var(W) = 1, and ReLU halves the second "
        f"moment: the factor is 1 x 1/2 = {f:.4g} per layer (He's init doubles Var(W) to undo exactly this). "
        f"After 20 layers that is {f:.4g}^20 = {f ** 20:.3g}: the activations, and by the same argument the "
        "gradients, shrink geometrically; compare the ReLU panel of the Glorot row in the grid figure.\n"
        "In code: p = gv.theory.predict_variances([256] * 3, 'relu', 1 / 256); "
        "p.a_second_moment[1] / p.a_second_moment[0]"
    ),
)
def relu_glorot_factor(n=256):
    """E[(a^2)^2] / E[(a^1)^2] predicted for a ReLU net with Glorot init and fan_in = fan_out = n."""
    p = predict_variances([n] * 3, "relu", weight_variance("glorot_normal", n, n))
    return float(p.a_second_moment[1] / p.a_second_moment[0])


@exercise(
    "03.4",
    question="Write he_std(fan_in): the standard deviation of He (Kaiming) normal init for a layer with fan_in "
    "inputs, so that a ReLU layer keeps E[a^2] the same from layer to layer.",
    hint="He et al. (2015), eq. 10: Var(W) = 2 / fan_in, and a standard deviation is the square root of a "
    "variance. Use math.sqrt or np.sqrt; the function must return a number for fan_in = 64, 256 or 784.",
    explain=lambda f: (
        "ReLU zeroes the negative half of a symmetric z, so E[relu(z)^2] = Var(z) / 2, and "
        "Var(z) = fan_in Var(W) E[a_prev^2]. Keeping E[a^2] constant asks for fan_in Var(W) / 2 = 1, so "
        f"Var(W) = 2 / fan_in and std = sqrt(2 / fan_in): {f(64):.4g} for fan_in = 64, {f(256):.4g} for 256, "
        f"{f(784):.4g} for 784.\nIn code: np.sqrt(gv.init.weight_variance('he_normal', fan_in, fan_out)) "
        "(fan_out plays no role)."
    ),
    inputs=[(64,), (256,), (784,), (1,)],
    rtol=1e-9,
)
def he_std(fan_in):
    return math.sqrt(2.0 / fan_in)
