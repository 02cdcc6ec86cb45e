"""Chapter 05: SELU and self-normalizing networks (notebooks/05_selu_self_normalization.ipynb).

The chapter shows that a deep stack of dense SELU layers with LeCun-normal weights keeps the mean and
standard deviation of its activations near 0 and 1 with no normalization layer (Klambauer, Unterthiner,
Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017), why (one layer as a map of
(mean, variance) with an attracting fixed point, whose closed forms live in :mod:`gradviz.theory`), what
breaking each of the four conditions does (standardised input, LeCun-normal init, a plain sequential
stack, dense layers only), and why alpha dropout keeps the fixed point where ordinary dropout moves it.

Every network here is :func:`digits_moments`: by default 100 hidden layers of 100 units fed 256
standardised digits (seed 0), summarised per layer by :class:`LayerMoments`.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import time
from dataclasses import dataclass

import ipywidgets
import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from .. import plots, widgets
from .._validate import check_array_2d, check_choice, check_finite, check_positive_int, check_probability, get_rng
from ..activations import SELU_ALPHA, SELU_SCALE, elu, elu_grad, relu, relu_grad, selu, selu_grad
from ..exercises import exercise
from ..figures import figure
from ..layers import AlphaDropout, Dropout
from ..network import MLP, DropoutOptions
from ..stats import digits_batch
from ..theory import selu_fixed_point, selu_fixed_point_map, selu_map_trajectory
from ..widgets import Explorer

__all__ = [
    # experiments
    "digits_moments",
    "seed_runs",
    "weight_sums",
    "condition_runs",
    "skip_branch_sizes",
    "dropout_on_selu",
    "dropout_runs",
    # figures
    "selu_activation",
    "selu_vs_relu_depth",
    "selu_moment_map",
    "selu_conditions_grid",
    "selu_dropout",
    # explorers
    "SeluConditionsExplorer",
    "SeluMapExplorer",
]


# ---- experiments
# The mean and standard deviation of what every hidden block passes on, for deep SELU networks with each of
# the four conditions of Klambauer et al. (2017) kept or broken, and what the two kinds of dropout do to
# SELU outputs.


@dataclass(eq=False)
class LayerMoments:
    """Mean and standard deviation of each hidden block's output h^l, pooled and per unit.

    h^l is what hidden block l passes on to layer l + 1: the activation
    a^l = phi(z^l), after dropout when the network has dropout, plus h^{l-1}
    when the block has a skip connection. Every array has shape (L,); index 0
    is hidden layer 1.

    Attributes
    ----------
    layer : int array 1..L
    mean, std : pooled over all examples and units of h^l
    unit_mean_low, unit_mean_high : the ``quantiles`` (e.g. 10 % and 90 %) over units of
        each unit's mean over the examples
    unit_std_low, unit_std_high : the same for each unit's standard deviation over the examples
    unit_mean_rms : sqrt(mean over units of (unit mean)^2): how far a typical unit's own mean is from 0
    input_mean, input_std : float, pooled over the input x
    first_nonfinite : int or None
        First layer whose output was not finite (its statistics and those above are nan).
    training : bool
        Whether the pass ran in training mode (dropout active).
    quantiles : (float, float)
    label : str
    """

    layer: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    unit_mean_low: np.ndarray
    unit_mean_high: np.ndarray
    unit_std_low: np.ndarray
    unit_std_high: np.ndarray
    unit_mean_rms: np.ndarray
    input_mean: float
    input_std: float
    first_nonfinite: int | None
    training: bool
    quantiles: tuple
    label: str = ""

    _ARRAYS = ("layer", "mean", "std", "unit_mean_low", "unit_mean_high", "unit_std_low", "unit_std_high",
               "unit_mean_rms")

    @property
    def depth(self) -> int:
        return len(self.layer)

    def head(self, depth: int) -> "LayerMoments":
        """The statistics of the first ``depth`` layers (those of the network truncated there, because
        :class:`gradviz.network.MLP` seeds each layer on its own)."""
        depth = check_positive_int("depth", depth)
        if depth > self.depth:
            raise ValueError(f"depth must be at most {self.depth}; got {depth}")
        arrays = {k: getattr(self, k)[:depth] for k in self._ARRAYS}
        nf = self.first_nonfinite if self.first_nonfinite is not None and self.first_nonfinite <= depth else None
        return LayerMoments(**arrays, input_mean=self.input_mean, input_std=self.input_std, first_nonfinite=nf,
                            training=self.training, quantiles=self.quantiles, label=self.label)

    def at(self, layer: int) -> tuple:
        """(mean, std) of hidden layer ``layer`` (1-based)."""
        layer = check_positive_int("layer", layer)
        if layer > self.depth:
            raise ValueError(f"layer must be in 1..{self.depth}; got {layer}")
        return float(self.mean[layer - 1]), float(self.std[layer - 1])

    def as_table(self, layers=None) -> str:
        """One row per layer (all, or the 1-based ``layers`` given): pooled mean and std, the spread of
        the units' means and stds."""
        lo, hi = (f"{100 * q:g}%" for q in self.quantiles)
        rows = [f"{'layer':>5} {'mean':>9} {'std':>9}   {'unit means ' + lo + '..' + hi:>24} "
                f"{'unit stds ' + lo + '..' + hi:>22}"]
        idx = range(self.depth) if layers is None else [check_positive_int("layer", l) - 1 for l in layers]
        for i in idx:
            rows.append(f"{self.layer[i]:>5d} {self.mean[i]:>9.3g} {self.std[i]:>9.3g}   "
                        f"{self.unit_mean_low[i]:>10.3g} .. {self.unit_mean_high[i]:<10.3g} "
                        f"{self.unit_std_low[i]:>9.3g} .. {self.unit_std_high[i]:<9.3g}")
        return "\n".join(rows)


def layer_moments(net: MLP, x, training: bool = True, quantiles=(0.1, 0.9), label: str = "") -> LayerMoments:
    """Run ``x`` through ``net``'s hidden blocks and summarise each block's output h^l.

    Parameters
    ----------
    net : MLP
        Any network; the output layer (if any) is not run.
    x : array (batch, n_inputs), batch >= 2
    training : bool
        Training mode (dropout active, batch norm on batch statistics) or inference mode.
        Batch norm's moving statistics are left as they were.
    quantiles : (low, high), 0 <= low < high <= 1
        Which quantiles over units the ``unit_*_low/high`` arrays hold.
    label : str
        Stored in the result (legends use it).

    Returns
    -------
    LayerMoments

    Raises
    ------
    ValueError
        Bad ``x`` (not 2-D, wrong number of features, one example) or ``quantiles``.
    """
    x = check_array_2d("x", x, net.n_inputs).astype(net.dtype, copy=False)
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 examples (a per-unit std needs them); got shape {x.shape}")
    try:
        q_lo, q_hi = (float(q) for q in quantiles)
    except (TypeError, ValueError):
        raise TypeError(f"quantiles must be a pair (low, high); got {quantiles!r}") from None
    if not 0.0 <= q_lo < q_hi <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= low < high <= 1; got {quantiles!r}")
    L = net.depth
    out = {k: np.full(L, np.nan) for k in LayerMoments._ARRAYS[1:]}
    first_nonfinite = None
    unit_means, unit_stds = [None] * L, [None] * L
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in net.layers if ly.state]
    h = x
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for i, block in enumerate(net.blocks):
                h = block.forward(h, training)
                if not np.isfinite(h).all():
                    first_nonfinite = i + 1
                    break
                unit_means[i], unit_stds[i] = h.mean(axis=0), h.std(axis=0)
                out["mean"][i] = h.mean(dtype=np.float64)
                out["std"][i] = h.std(dtype=np.float64)
    finally:
        for ly, state in saved:
            ly.state.update(state)
    with np.errstate(over="ignore", invalid="ignore"):
        done = slice(0, L if first_nonfinite is None else first_nonfinite - 1)
        um, us = np.array(unit_means[done]), np.array(unit_stds[done])
        if um.size:
            out["unit_mean_low"][done], out["unit_mean_high"][done] = np.quantile(um, (q_lo, q_hi), axis=1)
            out["unit_std_low"][done], out["unit_std_high"][done] = np.quantile(us, (q_lo, q_hi), axis=1)
            out["unit_mean_rms"][done] = np.sqrt(np.mean(np.square(um), axis=1))
    return LayerMoments(layer=np.arange(1, L + 1), **out, input_mean=float(x.mean()), input_std=float(x.std()),
                        first_nonfinite=first_nonfinite, training=bool(training), quantiles=(q_lo, q_hi),
                        label=str(label))


def _freeze(m: LayerMoments) -> LayerMoments:
    for k in LayerMoments._ARRAYS:
        getattr(m, k).setflags(write=False)
    return m


@functools.lru_cache(maxsize=64)
def _digits_moments_cached(activation, init, depth, width, standardized, input_mean, input_std, residual, dropout,
                           dropout_kind, training, batch_size, seed):
    x, _ = digits_batch(batch_size, seed)
    if not standardized:
        x = input_mean + input_std * x
    net = MLP(x.shape[1], depth=depth, width=width, activation=activation, init=init, residual=residual,
              dropout=DropoutOptions(dropout, dropout_kind if dropout else "standard"), n_outputs=None, seed=seed)
    return _freeze(layer_moments(net, x, training=training))


def digits_moments(activation: str = "selu", init: str = "lecun_normal", *, depth: int = 100, width: int = 100,
                   standardized: bool = True, input_mean: float = 2.0, input_std: float = 3.0,
                   residual: bool = False, dropout: float = 0.0, dropout_kind: str = "standard",
                   training: bool = True, batch_size: int = 256, seed=0, label: str | None = None) -> LayerMoments:
    """:func:`layer_moments` of a fresh deep MLP fed a batch of the handwritten digits.

    The network is ``MLP(64, depth=depth, width=width, activation=..., init=..., residual=...,
    dropout=DropoutOptions(dropout, dropout_kind), n_outputs=None, seed=seed)`` (hidden layer 1 is 64 -> width, the
    others width -> width; with ``residual=True`` every block but the first, whose widths differ, adds
    its input to its output). The batch is :func:`gradviz.stats.digits_batch` (``batch_size`` training images,
    pixels standardised to mean 0 and std 1 over the training set); with ``standardized=False`` each
    standardised pixel x is replaced by ``input_mean + input_std * x``, which gives every pixel mean
    ``input_mean`` and std ``input_std`` over the training set (the always-blank pixels stay constant).

    Results are cached (the same arguments share the same read-only arrays), so an explorer and a
    notebook cell that ask for the same network share one computation. In inference mode
    (``training=False``) dropout is the identity, so the result equals that of the same network
    without dropout.

    Parameters
    ----------
    activation, init : str
        As :class:`gradviz.network.MLP`.
    depth, width, batch_size : int >= 1 (batch_size >= 2)
    standardized : bool
    input_mean, input_std : float
        Used when ``standardized`` is False.
    residual : bool
    dropout : float in [0, 1)
    dropout_kind : {'standard', 'alpha'}
    training : bool
        Pass in training mode (dropout active) or inference mode.
    seed : int
        Seeds the weights, the dropout masks and the choice of the batch.
    label : str or None
        Legend text (default: a description built from the arguments).

    Returns
    -------
    LayerMoments

    Raises
    ------
    ValueError, TypeError
        As :class:`gradviz.network.MLP` and :func:`gradviz.stats.digits_batch`.
    """
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2; got {batch_size}")
    input_mean = check_finite("input_mean", input_mean)
    input_std = check_finite("input_std", input_std)
    dropout = check_probability("dropout", dropout)
    dropout_kind = check_choice("dropout_kind", dropout_kind, ("standard", "alpha"))
    if isinstance(seed, np.random.Generator) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int here (results are cached by seed); got {seed!r}")
    if label is None:
        parts = [f"{activation}, {init}"]
        if not standardized:
            parts.append(f"inputs {input_mean:g} + {input_std:g} x")
        if residual:
            parts.append("skip connections")
        if dropout > 0:
            parts.append(f"{dropout_kind} dropout {dropout:g}" + ("" if training else " (inference)"))
        label = ", ".join(parts)
    # Share computations that give the same numbers: at inference dropout is the identity (and the weights
    # do not depend on it: each layer draws them first from its own stream); without dropout (and without
    # RReLU's random slopes) training and inference mode are the same pass.
    key_dropout, key_kind = (dropout, dropout_kind) if training and dropout > 0 else (0.0, "standard")
    key_training = bool(training) if key_dropout > 0 or activation == "rrelu" else True
    result = _digits_moments_cached(activation, init, depth, width, bool(standardized), input_mean, input_std,
                                    bool(residual), key_dropout, key_kind, key_training, batch_size, int(seed))
    return dataclasses.replace(result, label=str(label), training=bool(training))  # shares the read-only arrays


#: The four conditions of a self-normalizing network (Klambauer et al. 2017) that
#: :func:`selu_conditions` can break, with what breaking each one does there.
SELU_CONDITIONS = {
    "standardized": ("standardised input", "pixels 2 + 3x instead of x: mean 2, std 3"),
    "lecun_normal": ("LeCun-normal init", "He-normal init instead: weight variance 2/fan_in, twice LeCun's"),
    "sequential": ("plain sequential stack", "a skip connection around every block: h^l = h^(l-1) + selu(z^l)"),
    "dense_only": ("dense layers only", "an ordinary (inverted) dropout layer, rate 0.2, after every SELU, "
                                        "in training mode"),
}


def selu_conditions(standardized: bool = True, lecun_normal: bool = True, sequential: bool = True,
                    dense_only: bool = True, *, depth: int = 100, width: int = 100, batch_size: int = 256,
                    seed=0, broken_init: str = "he_normal", input_mean: float = 2.0, input_std: float = 3.0,
                    dropout: float = 0.2) -> LayerMoments:
    """Per-layer statistics of a deep SELU network on the digits with each of the four conditions kept or broken.

    Klambauer et al. (2017) prove self-normalization for a plain stack of dense SELU layers with
    LeCun-normal weights fed standardised inputs. Each argument set to False breaks one condition
    (see :data:`SELU_CONDITIONS`):

    - ``standardized=False``: the pixels become ``input_mean + input_std * x`` (mean 2, std 3);
    - ``lecun_normal=False``: weights from ``broken_init`` (He normal: variance 2 / fan_in);
    - ``sequential=False``: ``residual=True``, a skip connection h^l = h^{l-1} + selu(z^l) around every
      block whose widths match (all but the first);
    - ``dense_only=False``: gradviz builds dense networks only, so the stand-in for "a layer that is not a
      dense SELU layer" is an ordinary inverted dropout layer of rate ``dropout`` after every SELU, with the
      pass in training mode (the network is otherwise the same).

    Parameters
    ----------
    standardized, lecun_normal, sequential, dense_only : bool
    depth, width, batch_size, seed :
        As :func:`digits_moments`.
    broken_init : str
        Initializer used when ``lecun_normal`` is False.
    input_mean, input_std : float
        Inputs when ``standardized`` is False.
    dropout : float in (0, 1)
        Rate of the dropout layers when ``dense_only`` is False.

    Returns
    -------
    LayerMoments
        Its label lists the broken conditions ("all four conditions hold" when none is).
    """
    broken = [SELU_CONDITIONS[k][0] for k, ok in (("standardized", standardized), ("lecun_normal", lecun_normal),
                                                  ("sequential", sequential), ("dense_only", dense_only)) if not ok]
    label = "all four conditions hold" if not broken else "broken: " + ", ".join(broken)
    return digits_moments("selu", "lecun_normal" if lecun_normal else broken_init, depth=depth, width=width,
                          standardized=standardized, input_mean=input_mean, input_std=input_std,
                          residual=not sequential, dropout=0.0 if dense_only else dropout,
                          dropout_kind="standard", training=True, batch_size=batch_size, seed=seed, label=label)


@dataclass(eq=False)
class DropoutEffect:
    """What one dropout layer in training mode does to SELU outputs of mean 0 and variance 1.

    Attributes
    ----------
    rate : float
        Dropout rate (fraction of units dropped).
    before, standard, alpha : ndarray (n_samples,)
        selu(z) for z ~ N(0, 1); the same after inverted dropout; the same after alpha dropout.
    a, b : float
        The affine correction of alpha dropout (:class:`gradviz.layers.AlphaDropout`).
    dropped_value : dict
        Where a dropped unit lands: 'standard' 0, 'alpha' a * alpha' + b.
    """

    rate: float
    before: np.ndarray
    standard: np.ndarray
    alpha: np.ndarray
    a: float
    b: float
    dropped_value: dict

    def moments(self) -> dict:
        """name -> (mean, variance) for 'before', 'standard', 'alpha'."""
        return {k: (float(np.mean(v)), float(np.var(v))) for k, v in
                (("before", self.before), ("standard", self.standard), ("alpha", self.alpha))}

    def as_table(self) -> str:
        names = {"before": "SELU output, no dropout", "standard": "after ordinary dropout",
                 "alpha": "after alpha dropout"}
        rows = [f"{'':<26}{'mean':>9}{'variance':>10}"]
        for k, (m, v) in self.moments().items():
            rows.append(f"{names[k]:<26}{m:>9.3f}{v:>10.3f}")
        return "\n".join(rows)


def dropout_on_selu(rate: float = 0.2, n_samples: int = 200_000, seed=0) -> DropoutEffect:
    """Apply ordinary and alpha dropout (training mode) to SELU outputs of standard-normal inputs.

    selu(z) with z ~ N(0, 1) has mean 0 and variance 1 exactly (that is how lambda and alpha were
    chosen, Klambauer et al. 2017, eq. 14), so the table of :meth:`DropoutEffect.moments` shows what
    each kind of dropout alone does to those two numbers. Inverted dropout keeps each value with
    probability q = 1 - rate and divides it by q: the mean stays, the second moment becomes 1/q times
    larger. Alpha dropout sets dropped values to alpha' = -lambda alpha and applies a x + b, which keeps
    mean 0 and variance 1 (Klambauer et al. 2017, sec. "New dropout technique").

    Parameters
    ----------
    rate : float in (0, 1)
    n_samples : int >= 2
    seed : int or Generator
        Draws z and both dropout masks.

    Returns
    -------
    DropoutEffect
    """
    rate = check_probability("rate", rate, inclusive_low=False)
    n_samples = check_positive_int("n_samples", n_samples)
    rng = get_rng(seed)
    before = selu(rng.standard_normal((n_samples, 1)))
    std = Dropout(rate, rng=rng).forward(before, training=True)
    ad = AlphaDropout(rate, rng=rng)
    alp = ad.forward(before, training=True)
    return DropoutEffect(rate=rate, before=before[:, 0], standard=std[:, 0], alpha=alp[:, 0], a=ad.a, b=ad.b,
                         dropped_value={"standard": 0.0, "alpha": ad.a * ad.ALPHA_PRIME + ad.b})


#: Seeds of the three networks of each kind in :func:`seed_runs`.
SEEDS = (0, 1, 2)


def seed_runs(seeds=SEEDS):
    """{'selu': [LayerMoments per seed], 'relu': [...]}: SELU + LeCun normal and ReLU + He normal, 100 layers."""
    return {"selu": [digits_moments("selu", "lecun_normal", seed=s) for s in seeds],
            "relu": [digits_moments("relu", "he_normal", seed=s) for s in seeds]}


def weight_sums(init: str = "lecun_normal", *, depth: int = 100, width: int = 100, seed=0):
    """Each unit's omega_j = sum_i W_ij and tau_j = sum_i W_ij^2, for hidden layers 2..depth of a fresh MLP.

    The network is the one :func:`digits_moments` builds (``MLP(64, depth, width, activation="selu", init=init,
    n_outputs=None, seed=seed)``); layer 1 (64 inputs) is left out so that every row has the same fan-in.
    Klambauer et al. (2017) write omega and tau for these two sums;
    their Theorem 1 assumes omega in [-0.1, 0.1] and tau in [0.95, 1.1] (:data:`THEOREM_1_WEIGHTS`).

    Returns
    -------
    omega, tau : float arrays of shape (depth - 1, width), row k for hidden layer k + 2.

    Raises
    ------
    ValueError
        If ``depth`` < 2 or ``width`` < 1 (via :class:`~gradviz.network.MLP`), or ``init`` is unknown.
    """
    if isinstance(depth, int) and depth < 2:
        raise ValueError(f"depth must be at least 2 (layer 1 is left out), got {depth!r}")
    net = MLP(64, depth=depth, width=width, activation="selu", init=init, n_outputs=None, seed=seed)
    W = np.stack([block.dense.params["W"] for block in net.blocks[1:]])
    return W.sum(axis=1), np.square(W).sum(axis=1)


def skip_branch_sizes(*, depth: int = 100, width: int = 100, batch_size: int = 256, seed=0) -> dict:
    """Why skip connections make a SELU stack grow geometrically: what each block adds to the stream.

    The network of ``selu_conditions(sequential=False)`` (LeCun-normal SELU, h^l = h^(l-1) + selu(z^l) in every
    block but the first) on the same batch. For blocks 2..depth, root mean squares over the batch and the units:
    ``stream`` of h^(l-1), ``z`` of z^l, ``branch`` of selu(z^l), ``out`` of h^l, and ``cosine`` =
    mean(h^(l-1) selu(z^l)) / (stream branch). Exactly, out^2 = stream^2 + branch^2 + 2 cosine stream branch:
    a branch whose size is a fixed fraction of the stream's multiplies the stream by a fixed factor.

    Returns
    -------
    dict of float arrays of shape (depth - 1,), index 0 for block 2: 'stream', 'z', 'branch', 'cosine', 'out'
    """
    x, _ = digits_batch(check_positive_int("batch_size", batch_size), seed)
    net = MLP(64, depth=depth, width=width, activation="selu", init="lecun_normal", residual=True, n_outputs=None,
              seed=seed)
    rows, h = [], net.blocks[0].forward(x, True)
    with np.errstate(all="ignore"):
        for block in net.blocks[1:]:
            h_in, h = h, block.forward(h, True)
            z, a = block.cache
            sizes = [np.sqrt(np.mean(np.square(v))) for v in (h_in, z, a, h)]
            rows.append(sizes[:3] + [np.mean(h_in * a) / (sizes[0] * sizes[2]), sizes[3]])
    return dict(zip(("stream", "z", "branch", "cosine", "out"), np.array(rows).T))


def condition_runs():
    """{'all kept': LayerMoments, condition name: LayerMoments with that one condition broken} (100 layers)."""
    out = {"all kept": selu_conditions()}
    for name in SELU_CONDITIONS:
        out[name] = selu_conditions(**{name: False})
    return out


def dropout_runs(rate=0.2):
    """LayerMoments of the 100-layer SELU network with ordinary / alpha dropout, training and inference mode."""
    return {
        "ordinary dropout, training": digits_moments(dropout=rate, dropout_kind="standard", training=True,
                                                     label=f"ordinary dropout {rate:g}, training mode"),
        "alpha dropout, training": digits_moments(dropout=rate, dropout_kind="alpha", training=True,
                                                  label=f"alpha dropout {rate:g}, training mode"),
        "inference": digits_moments(training=False, label="either dropout, inference mode (= no dropout)"),
    }


# ---- figures
# The per-layer mean and standard deviation of a deep network's activations, and the (mean, variance) map of
# SELU (Klambauer et al. 2017, Fig. 2) with its fixed point and iterated trajectories.

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


# ---- explorers
#: What breaking each condition does, in one sentence (the readout under the figure).
_WHY = {
    "standardized": "Inputs of mean 2 and std 3 start layer 1 far from (0, 1). The SELU layers pull the pooled "
                    "mean and std back within a few layers, but every unit keeps an offset of its own: "
                    "each unit's weights do not sum to exactly 0, so the input's mean leaks into it.",
    "lecun_normal": "He-normal weights have twice LeCun's variance (tau = 2): every layer feeds the next a larger "
                    "variance and a positive mean, which reaches the next variance through each unit's own weight "
                    "sum omega_j; SELU's linear positive side passes a large spread on, times lambda.",
    "sequential": "A skip connection adds each block's input to its output, and nothing normalises the sum: "
                  "each block's SELU gets the whole stream, passes its positive half on times lambda, and so "
                  "adds a term about as large as the stream: the std grows by a constant factor per layer.",
    "dense_only": "Ordinary dropout (training mode) zeroes 20 % of the values and divides the rest by 0.8, "
                  "multiplying their second moment by 1.25 at every layer: the network settles at a new, larger "
                  "std and a positive mean.",
}


class SeluConditionsExplorer(Explorer):
    """Break the four conditions of a self-normalizing network one by one and watch the drift.

    The network is :func:`selu_conditions`: up to 100 hidden layers of 100 SELU
    units (no output layer) fed 256 standardised digits, every block's output h^l summarised by its
    pooled mean and standard deviation. Each checkbox keeps one condition of Klambauer et al.
    (2017); unticking it breaks that condition as :data:`SELU_CONDITIONS` says
    (inputs 2 + 3x; He-normal init; a skip connection around every block; an ordinary dropout layer
    after every SELU in training mode). The blue line is the network with all four conditions,
    drawn for reference; the dashed grey lines are the targets, mean 0 and std 1.

    Each combination of checkboxes is computed once for 100 layers (well under a second) and cached;
    the depth slider shows its first ``depth`` layers, which are exactly the layers of the shallower
    network (each layer is seeded on its own).

    Controls: ``standardized``, ``lecun_normal``, ``sequential``, ``dense_only`` (checkboxes),
    ``depth``.
    """

    figsize = (10.5, 4.2)
    max_depth = 100
    #: The x axes show hidden layers 1..n for the smallest n here that is at least the depth: the curves fill at
    #: least 40 % of the width, and most depth steps redraw the curves only (rescaling the x axes at each step
    #: redrew every tick label of both panels, about half of a frame).
    layer_ruler = (10, 20, 50, 100)

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        boxes = {name: w.Checkbox(value=True, description=title, indent=False, style=widgets.CONTROL_STYLE)
                 for name, (title, _) in SELU_CONDITIONS.items()}
        return {**boxes, "depth": widgets.int_slider("depth (hidden layers)", 2, self.max_depth, self.max_depth)}

    #: Height kept free under the panels for the legend, as a fraction of the figure's.
    legend_room = 0.075

    def setup_figure(self, fig):
        self.ax_mean, self.ax_std = fig.subplots(1, 2)
        fig.get_layout_engine().set(rect=(0, self.legend_room, 1, 1 - self.legend_room))
        self.lines = {}
        for key, color, lw, label in (("base", plots.OKABE_ITO["blue"], 1.4, "all four conditions hold"),
                                      ("now", plots.OKABE_ITO["vermillion"], 2.0, "your network")):
            (self.lines[f"mean:{key}"],) = self.ax_mean.plot([], [], color=color, lw=lw, label=label,
                                                             gid=f"mean:{key}")
            (self.lines[f"std:{key}"],) = self.ax_std.plot([], [], color=color, lw=lw, label=label,
                                                           gid=f"std:{key}")
        self.legend, self._legends = None, {}  # under both panels (inside either it covered a curve): see refresh
        self.ax_mean.set_title("mean of each layer's output", fontsize=11)
        self.ax_std.set_title("standard deviation of each layer's output", fontsize=11)

    def blit_static(self):
        return [self.ax_mean.title, self.ax_std.title]  # fixed titles: drawn once, not at each frame

    def _freeze_layout(self):
        # Lay out once (then blit) with the widest tick labels the y axes can get, so that none runs into the
        # axis label later: 10^20 (means and stds reach 4e25 with every condition broken; no mean falls below -1).
        limits = [ax.get_ylim() for ax in (self.ax_mean, self.ax_std)]
        self.ax_mean.set_ylim(-1.1, 1e26)
        self.ax_std.set_ylim(0.25, 1e26)
        _symlog_ticks(self.ax_mean)
        _log_ticks(self.ax_std)
        super()._freeze_layout()
        for ax, lim in zip((self.ax_mean, self.ax_std), limits):
            ax.set_ylim(*lim)
        _symlog_ticks(self.ax_mean)
        _log_ticks(self.ax_std)

    def compute(self, standardized, lecun_normal, sequential, dense_only):
        """The :class:`LayerMoments` of these checkbox values, for 100 layers (cached)."""
        t0 = time.perf_counter()
        m = selu_conditions(standardized, lecun_normal, sequential, dense_only, depth=self.max_depth)
        self.timings["compute"] = time.perf_counter() - t0
        return m

    def refresh(self, standardized, lecun_normal, sequential, dense_only, depth):
        now = self.compute(standardized, lecun_normal, sequential, dense_only).head(depth)
        base = self.compute(True, True, True, True).head(depth)
        broken = not (standardized and lecun_normal and sequential and dense_only)
        for key, m in (("base", base), ("now", now)):
            self.lines[f"mean:{key}"].set_data(m.layer, plots.finite_or_nan(m.mean))
            self.lines[f"std:{key}"].set_data(m.layer, plots.positive_finite(m.std))
        for q in ("mean", "std"):
            self.lines[f"{q}:now"].set_visible(broken)
        # hidden while nothing is broken (it would lie under the blue line): then out of the legend too
        for q in ("mean", "std"):
            self.lines[f"{q}:now"].set_label(now.label if broken else "_your network")
        self._set_legend([self.lines["std:base"]] + ([self.lines["std:now"]] if broken else []))
        moments_axes(self.ax_mean, self.ax_std, depth)
        ruler = plots.layer_span(depth, self.layer_ruler, self.max_depth)
        for ax in (self.ax_mean, self.ax_std):
            plots.layer_axis(ax, ruler)
        self.moments = now
        self.readout.value = self._readout(now, broken, dict(standardized=standardized, lecun_normal=lecun_normal,
                                                             sequential=sequential, dense_only=dense_only))

    def _set_legend(self, handles):
        """One legend under both panels (it names the lines of both), in the room the layout leaves there
        (:attr:`legend_room`): a QuickLegend of the mean panel, one per set of entries, drawn from its pixel copy
        with the data (as a static figure legend, each new set of entries started a full draw: 60-65 ms of CPU)."""
        labels = tuple(h.get_label() for h in handles)
        legend = self._legends.get(labels)
        if legend is None:
            with plots.style():
                legend = plots.QuickLegend(self.ax_mean, handles, list(labels), loc="lower center",
                                           bbox_to_anchor=(0.5, 0.0), bbox_transform=self.figure.transFigure,
                                           ncols=2, fontsize=9.5, edgecolor="white")
            legend.set_in_layout(False)  # the layout leaves it its room (legend_room)
            legend._remove_method = self.ax_mean._remove_legend
            self._legends[labels] = legend
        self.ax_mean.legend_ = self.legend = legend

    @staticmethod
    def _summary_lines(m, broken, flags):
        L = m.depth
        mean, std = m.at(L)
        lines = [f"layer {L}: mean {mean:.3g}, std {std:.3g} (targets: 0 and 1)"]
        if not broken:
            lines.append("All four conditions hold: the mean stays near 0 and the std near 1 in every layer.")
        else:
            lines += [_WHY[k] for k, ok in flags.items() if not ok]
        return lines

    def _readout(self, m, broken, flags):
        lines = self._summary_lines(m, broken, flags)
        return f"<b>{html.escape(lines[0])}</b><br>" + "<br>".join(html.escape(s) for s in lines[1:])

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        flags = {k: v[k] for k in ("standardized", "lecun_normal", "sequential", "dense_only")}
        broken = not all(flags.values())
        return "\n".join([self.moments.label] + self._summary_lines(self.moments, broken, flags))


#: Theorem 1 of Klambauer et al. (2017) holds for weights with omega and tau in these ranges.
THEOREM_1_WEIGHTS = {"omega": (-0.1, 0.1), "tau": (0.95, 1.1)}


class SeluMapExplorer(Explorer):
    """One SELU layer as a map g of (mean, variance): move the weight sums and watch the fixed point move.

    The left panel is :func:`plot_selu_map` for the current ``omega`` (sum of a unit's weights) and
    ``tau`` (sum of their squares): arrows from (mu, nu) to g(mu, nu), the path of a starting point
    through 12 layers, and the fixed point (:func:`gradviz.theory.selu_fixed_point`) when one is found.
    The right panel follows the variance of that path through :attr:`n_steps` layers, beside the fixed
    point's variance. The readout gives the fixed point, the spectral radius and the spectral norm of
    the Jacobian there, and whether (omega, tau) lies in the range of Theorem 1 of Klambauer et al. (2017).

    Controls: ``omega``, ``tau``, ``start_mean``, ``start_var``.
    """

    figsize = (11.0, 4.6)
    #: Layers followed in the right panel.
    n_steps = 30

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets

        def slider(description, low, high, value, step):
            return w.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                 readout_format=".2f", style=widgets.CONTROL_STYLE)

        return {"omega": slider("omega (sum of weights)", -0.2, 0.2, 0.0, 0.01),
                "tau": slider("tau (sum of squared weights)", 0.7, 2.5, 1.0, 0.05),
                "start_mean": slider("start: mean", -1.0, 1.0, 0.9, 0.05),
                "start_var": slider("start: variance", 0.1, 3.0, 2.8, 0.05)}

    def setup_figure(self, fig):
        self.ax_map, self.ax_var = fig.subplots(1, 2, width_ratios=[1.25, 1])
        ax = self.ax_var
        plots.tidy(ax)
        (self.var_line,) = ax.plot([], [], "-o", ms=3, lw=1.3, color=plots.OKABE_ITO["vermillion"], gid="variance",
                                   label="variance after each layer")
        self.fp_line = ax.axhline(1.0, color=TARGET_COLOR, lw=1.2, ls=(0, (4, 3)), gid="fixed_point_var",
                                  label="the fixed point's variance (if any)")
        ax.set_yscale("log")
        ax.set_xlabel("layers (applications of $g$)")
        ax.set_ylabel(r"variance $\nu$ (log scale)")
        ax.set_title("the variance, layer after layer", fontsize=11)
        plots.legend_below(ax)  # off the curve, and the same at every step: drawn once (blit_static)

    def blit_static(self):
        return [self.ax_var.title, self.ax_var.get_legend()]

    def refresh(self, omega, tau, start_mean, start_var):
        fp = selu_fixed_point(omega=omega, tau=tau)
        traj = selu_map_trajectory(start_mean, start_var, self.n_steps, omega, tau)
        # the map shows the first 12 steps of the path and the fixed point, and at least [-1, 1] x [0.1, 3]
        shown = traj[:13]
        means, variances = list(shown[:, 0]), list(shown[:, 1])
        if fp.converged:
            means.append(fp.mean)
            variances.append(fp.var)
        mean_range = (min(-1.0, 1.1 * min(means)), max(1.0, 1.1 * max(means)))
        var_top = float(min(max(3.0, 1.1 * max(variances)), 100.0))
        for artist in [*self.ax_map.lines, *self.ax_map.collections]:  # the previous map (cheaper than clear())
            artist.remove()
        plot_selu_map(self.ax_map, omega=omega, tau=tau, mean_range=mean_range, var_range=(0.1, var_top),
                      starts=((start_mean, start_var),), n_steps=12, legend=False)
        # the same title in plain text: it changes at every step, and mathtext took 5-15 ms of each frame
        self.ax_map.set_title(f"one SELU layer maps (μ, ν) to g(μ, ν)  (ω = {omega:g}, τ = {tau:g})", fontsize=11)
        self.var_line.set_data(np.arange(self.n_steps + 1), traj[:, 1])
        self.fp_line.set_visible(fp.converged)
        if fp.converged:
            self.fp_line.set_ydata([fp.var, fp.var])
        self.autoscale(self.ax_var)
        lo, hi = self.ax_var.get_ylim()
        if fp.converged:
            self.ax_var.set_ylim(min(lo, fp.var / 1.5), max(hi, fp.var * 1.5))
        _log_ticks(self.ax_var)
        self.fixed_point, self.trajectory = fp, traj
        lines = self._summary_lines(omega, tau, fp, traj)
        self.readout.value = f"<b>{html.escape(lines[0])}</b><br>" + "<br>".join(html.escape(x) for x in lines[1:])

    @staticmethod
    def _summary_lines(omega, tau, fp, traj):
        (o_lo, o_hi), (t_lo, t_hi) = THEOREM_1_WEIGHTS["omega"], THEOREM_1_WEIGHTS["tau"]
        inside = o_lo <= omega <= o_hi and t_lo <= tau <= t_hi
        m, v = traj[-1]
        lines = []
        if fp.converged:
            lines.append(f"omega = {omega:.2f}, tau = {tau:.2f}: fixed point (mean, variance) = "
                         f"({round(fp.mean, 4) + 0.0:.4g}, {fp.var:.4g})")
            lines.append(f"Jacobian there: spectral radius {fp.spectral_radius:.3f} (the factor per layer in the "
                         f"long run), spectral norm {fp.spectral_norm:.3f} (the most one layer can stretch a small "
                         "deviation).")
            if fp.spectral_radius < 1 <= fp.spectral_norm:
                lines.append("The spectral norm is above 1: one layer can stretch some deviations; the spectral "
                             "radius is below 1, so over many layers they still shrink.")
            elif fp.spectral_norm < 1:
                lines.append("Both are below 1: the fixed point attracts, and a deviation shrinks at every layer.")
        else:
            lines.append(f"omega = {omega:.2f}, tau = {tau:.2f}: no fixed point found; the variance runs away.")
        lines.append(f"The path from the start is at mean {m:.3g}, variance {v:.3g} after {len(traj) - 1} layers.")
        lines.append(f"The map's (omega, tau), the same for every unit, is {'inside' if inside else 'outside'} the "
                     f"range of Theorem 1 of Klambauer et al. (2017): omega in [{o_lo}, {o_hi}], tau in [{t_lo}, "
                     f"{t_hi}]. (In a real layer each unit j has its own omega_j; with LeCun's init their standard "
                     "deviation is 1.)")
        return lines

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        return "\n".join(self._summary_lines(v["omega"], v["tau"], self.fixed_point, self.trajectory))


# ---- exercises
# Answers come from gradviz.activations, gradviz.layers.AlphaDropout and gradviz.theory.
def _explain_selu_at_minus_two(v):
    return (
        f"selu(-2) = lambda alpha (exp(-2) - 1) = {SELU_SCALE:.6g} x {SELU_ALPHA:.6g} x "
        f"({np.exp(-2.0):.6g} - 1) = {v:.6g}: already {1 - np.exp(-2.0):.1%} of the way down to the floor "
        "-lambda alpha, because the part of the floor still to go shrinks like exp(z). Inputs below about -2 "
        "therefore all come out close together, which is how SELU's saturation damps a variance that is too "
        "large.\nIn code: gv.activations.selu(np.array([-2.0]))[0]"
    )


@exercise(
    "05.1",
    question="What is selu(-2)? (How far down towards its floor -lambda alpha is SELU at z = -2?)",
    hint="For z <= 0, selu(z) = lambda * alpha * (exp(z) - 1). Use gv.activations.SELU_SCALE (lambda), "
    "gv.activations.SELU_ALPHA (alpha) and np.exp.",
    explain=_explain_selu_at_minus_two,
    rtol=1e-3,
)
def selu_at_minus_two():
    return float(selu(np.array([-2.0]))[0])  # lambda * alpha * (exp(-2) - 1)


def _explain_dropped_value(v):
    d = AlphaDropout(0.1)
    return (
        f"q = 0.9 and alpha' = -lambda alpha = {d.ALPHA_PRIME:.6g}, so a = (q + alpha'^2 q (1 - q))^(-1/2) = "
        f"{d.a:.6g} and b = -a (1 - q) alpha' = {d.b:.6g}. A dropped unit lands on a alpha' + b = {v:.6g}: "
        "the same value for every dropped unit, between 0 and SELU's saturation value (its floor), because "
        "the affine map a x + b also shrinks and shifts the kept values so that the output again has mean "
        "0 and variance 1.\nIn code: d = gv.layers.AlphaDropout(0.1); d.a * d.ALPHA_PRIME + d.b"
    )


@exercise(
    "05.2",
    question="Alpha dropout with rate 0.1: after the affine correction a x + b, what value does a dropped "
    "unit take?",
    hint="A dropped unit is first set to alpha' = -lambda alpha, then mapped to a alpha' + b, with q = 1 - rate, "
    "a = (q + alpha'^2 q (1 - q))^(-1/2) and b = -a (1 - q) alpha' (Klambauer et al. 2017, sec. 'New dropout "
    "technique'). gv.layers.AlphaDropout(0.1) has .a, .b and .ALPHA_PRIME.",
    explain=_explain_dropped_value,
    rtol=1e-3,
)
def alpha_dropout_dropped_value():
    d = AlphaDropout(0.1)
    return d.a * d.ALPHA_PRIME + d.b


def _explain_fixed_point_variance(v):
    fp = selu_fixed_point(omega=0.0, tau=1.1)
    return (
        f"Iterating g with tau = 1.1 converges to (mu*, nu*) = ({fp.mean:.4g}, {v:.4g}) after "
        f"{fp.iterations} steps; the Jacobian there has spectral norm {fp.spectral_norm:.4g} < 1, so the "
        "fixed point still attracts. A 10 % error in tau moves the variance by about 40 %: every layer "
        "multiplies the variance it receives by tau = 1.1 before SELU sees it, and SELU removes only part "
        "of a deviation per layer (it keeps about 78 % of it, the entry d nu~ / d nu of the Jacobian at "
        "(0, 1)), so the push accumulates over many layers before push and pull balance. The new point is "
        "still inside the domain of Theorem 1 of Klambauer et al. (2017), nu in [0.8, 1.5]: the network "
        "stays normalised, around a slightly different point.\n"
        "In code: gv.theory.selu_fixed_point(omega=0.0, tau=1.1).var"
    )


@exercise(
    "05.3",
    question="Weights whose squares sum to tau = 1.1 instead of 1 (each weight about 5 % too large): at what "
    "variance nu* does the moment map g (omega = 0) settle?",
    hint="Iterate the map from (0, 1) until it stops moving: m, v = gv.theory.selu_fixed_point_map(m, v, "
    "omega=0.0, tau=1.1), a hundred times; or call gv.theory.selu_fixed_point(tau=1.1).",
    explain=_explain_fixed_point_variance,
    rtol=0.01,
)
def fixed_point_variance():
    return selu_fixed_point(omega=0.0, tau=1.1).var


@exercise(
    "05.4",
    question="Write selu(z) in numpy: lambda z for z > 0 and lambda alpha (exp(z) - 1) for z <= 0, element by "
    "element, for an array z.",
    hint="np.where(z > 0, a, b) picks a where z > 0 and b elsewhere. lambda is gv.activations.SELU_SCALE "
    "(1.0507...), alpha is gv.activations.SELU_ALPHA (1.6733...); four decimals are enough.",
    explain=lambda f: (
        "selu(z) = lambda z for z > 0 and lambda alpha (exp(z) - 1) for z <= 0 (Klambauer et al. 2017, eq. 2, "
        f"with the constants of their eq. 14): selu(-2) = {f(np.array([-2.0]))[0]:.6g}, selu(1) = "
        f"{f(np.array([1.0]))[0]:.6g}. In the solution below, exp is taken of min(z, 0) only: np.where "
        "computes both branches for every z, and exp of a large positive z would overflow (with a warning) in "
        "the branch it then throws away; expm1(x) is exp(x) - 1 computed without losing digits near 0.\n"
        "In code: gv.activations.selu(z)"
    ),
    inputs=[(np.array([-800.0, -10.0, -2.0, -0.5, 0.0, 0.5, 1.0, 3.0]),), (np.linspace(-5.0, 5.0, 21),)],
    rtol=1e-4,
)
def selu_function(z):
    z = np.asarray(z, dtype=float)
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
