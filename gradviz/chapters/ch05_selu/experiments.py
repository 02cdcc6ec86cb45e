"""Chapter 05's experiments: the mean and standard deviation of what every hidden block passes on, for
deep SELU networks with each of the four conditions of Klambauer et al. (2017) kept or broken
(:func:`digits_moments`, :func:`selu_conditions`), and what the two kinds of dropout do to SELU outputs
(:func:`dropout_on_selu`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from ..._validate import check_array_2d, check_choice, check_finite, check_positive_int, check_probability, get_rng
from ...activations import selu
from ...layers import AlphaDropout, Dropout
from ...network import MLP, DropoutOptions
from ...stats import digits_batch


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
