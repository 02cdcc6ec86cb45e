"""Per-layer statistics of one forward/backward pass.

These are the numbers every chapter plots: how the spread of the
activations a^l and of the back-propagated gradients dL/da^l changes from
layer to layer, how many sigmoid/tanh units sit on their flat tails
(saturated), and how many ReLU units output 0 for every example (dead).

Statistics are taken over all examples and units of a layer together (the
"population" over which Glorot & Bengio 2010 draw their histograms). Layers at
and above an overflow hold NaN instead of numbers, and ``first_nonfinite``
says where it started.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _live
from ._validate import check_array_2d, check_finite, check_positive_int, check_probability, get_rng
from .activations import SATURATION_THRESHOLD, get_activation, saturation_mask
from .data import digits
from .network import MLP, LayerRecord

__all__ = ["PassStats", "layer_statistics", "pass_statistics", "probe", "combine_stats", "histograms",
           "digits_batch", "ReluActivity", "relu_activity"]


@dataclass
class PassStats:
    """Per-layer statistics of one pass; every array has shape (L,), index 0 is hidden layer 1.

    Attributes
    ----------
    layer : int array, 1..L
    z_mean, z_var : pre-activation mean and variance
    a_mean, a_std, a_var : activation mean, standard deviation and variance
    da_var, dz_var : variance of dL/da^l and dL/dz^l (NaN before a backward pass)
    grad_norm : Frobenius norm of dL/dW^l (NaN when weight gradients were skipped)
    saturated_fraction : fraction of (example, unit) pairs whose slope is below
        ``SATURATION_THRESHOLD`` times the maximum slope (sigmoid/tanh; 0 otherwise)
    dead_fraction : fraction of units whose z <= 0 for every example of the batch
        (ReLU only, whose slope there is exactly 0; 0 for the other activations)
    first_nonfinite : int or None
        First hidden layer (1-based) whose values overflowed, forward before backward.
    overflow : dict with keys 'forward' and 'backward' (each int or None)
    activation : str
    da_mean, dz_mean : means of dL/da^l and dL/dz^l (what :func:`combine_stats` needs besides the variances)
    dead_units : tuple of L bool arrays (width of layer l,) or None
        Which units had z <= 0 for every example (ReLU only; None for the other activations).
    n_examples : int
        Examples in the pass (0 when unknown).
    """

    layer: np.ndarray
    z_mean: np.ndarray
    z_var: np.ndarray
    a_mean: np.ndarray
    a_std: np.ndarray
    a_var: np.ndarray
    da_var: np.ndarray
    dz_var: np.ndarray
    grad_norm: np.ndarray
    saturated_fraction: np.ndarray
    dead_fraction: np.ndarray
    first_nonfinite: int | None
    overflow: dict = field(default_factory=dict)
    activation: str = ""
    da_mean: np.ndarray | None = None
    dz_mean: np.ndarray | None = None
    dead_units: tuple | None = None
    n_examples: int = 0

    @property
    def depth(self) -> int:
        return len(self.layer)

    def as_table(self) -> str:
        """A plain-text table, one row per layer, for printing in a notebook."""
        head = f"{'layer':>5} {'Var(a)':>10} {'Var(dL/da)':>11} {'|dL/dW|':>10} {'saturated':>9} {'dead':>6}"
        rows = [head]
        for i in range(self.depth):
            rows.append(
                f"{self.layer[i]:>5d} {self.a_var[i]:>10.3g} {self.da_var[i]:>11.3g} {self.grad_norm[i]:>10.3g} "
                f"{self.saturated_fraction[i]:>9.1%} {self.dead_fraction[i]:>6.1%}"
            )
        return "\n".join(rows)


def _var(x):
    """(mean, variance) of all entries of ``x``; (nan, nan) if any is not finite.

    float64 arrays: two passes, the mean, then the mean squared deviation as
    one dot product (no separate finiteness pass is needed: an inf or nan
    makes the mean non-finite). float32 arrays (the explorers' networks) are
    summed by BLAS in float32, several times faster than converting every
    entry to float64: the sums S1 of x and S2 of x^2 give
    var = S2 / n - (S1 / n)^2, without a pass that writes an array. The
    rounding error of S2 (about 1e-6 relative) then weighs on the variance
    as (mean^2 + var) / var, so this is kept only where mean^2 <= var (the
    relative error at most doubles; z, dL/da and dL/dz have mean ~0). Else
    the sums are of d = x - m0, with m0 the mean of the first 256 entries:
    the corrected two-pass formula of Chan, Golub & LeVeque (1983), whose
    correction term removes the error of the shift m0; relative error about
    1e-6. Squares too large for float32 (|x| > 1.8e19) are summed in
    float64. Call it inside ``np.errstate`` (as :func:`layer_statistics`
    does): an overflow is not a warning here.
    """
    if x.dtype != np.float32:
        m = x.mean(dtype=np.float64)
        if not np.isfinite(m):
            return np.nan, np.nan
        d = (x - m).ravel()
        return m, float(np.dot(d, d)) / d.size
    v = x.reshape(-1)
    n = v.size
    ones = _ones(n)
    s1, s2 = float(np.dot(v, ones)), float(np.dot(v, v))
    if not (math.isfinite(s1) and math.isfinite(s2)):
        # an inf or nan entry, or sums beyond float32's range (then float64 decides)
        return _var(x.astype(np.float64)) if np.isfinite(v).all() else (np.nan, np.nan)
    mean = s1 / n
    var = s2 / n - mean * mean
    if mean * mean <= var:
        return mean, var
    k = min(n, 256)
    m0 = np.float32(np.dot(v[:k], ones[:k]) / np.float32(k))
    d = v - m0
    s1, s2 = float(np.dot(d, ones)), float(np.dot(d, d))
    if not (math.isfinite(s1) and math.isfinite(s2)):  # d^2 beyond float32's range: float64 decides
        return _var(x.astype(np.float64))
    shift = s1 / n
    return float(m0) + shift, max(s2 / n - shift * shift, 0.0)


@functools.lru_cache(maxsize=8)
def _ones(n, dtype=np.float32):
    """A read-only vector of n ones (sums as BLAS dot products)."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _norm(x):
    """Frobenius norm of ``x`` (nan if any entry is not finite), as one dot product."""
    v = x.ravel().astype(np.float64, copy=False)  # float32 squares overflow above 1.8e19
    return float(np.sqrt(np.dot(v, v)))


class _LayerSummaries:
    """The per-layer statistics of one pass of ``net``, layer by layer, as :class:`PassStats`.

    :meth:`forward` summarises a hidden layer's record once its forward pass
    has run (z, a, dead units), :meth:`backward` once its backward pass has
    (dL/da, dL/dz, dL/dW, the saturation read from phi'(z)), and :meth:`result`
    assembles them. :func:`layer_statistics` feeds it the records of a finished
    pass; :func:`pass_statistics` feeds it each layer during the pass (the
    network's ``on_layer``), while the layer's arrays are still in the CPU's
    cache. Either way the same functions see the same arrays: the same numbers.
    Call its methods inside ``np.errstate`` that ignores overflow and invalid
    values (as :func:`_var` needs): an overflow is a statistic here, not a warning.
    """

    def __init__(self, net: MLP, threshold: float):
        L = net.depth
        self.net, self.threshold = net, threshold
        self.out = {k: np.full(L, np.nan) for k in ("z_mean", "z_var", "a_mean", "a_var", "da_mean", "da_var",
                                                    "dz_mean", "dz_var", "grad_norm")}
        self.sat = np.zeros(L)
        self.sat_done = np.zeros(L, dtype=bool)
        self.dead = np.zeros(L)
        act_name = net.activation
        self.act = get_activation(act_name) if act_name in ("sigmoid", "tanh", "relu") else None
        self.dead_units = [None] * L if self.act is not None and self.act.dies else None

    def forward(self, l, rec):
        """Hidden layer ``l`` (1-based) after its forward pass: its record holds z and a."""
        i, out, z = l - 1, self.out, rec["z"]
        out["z_mean"][i], out["z_var"][i] = _var(z)
        out["a_mean"][i], out["a_var"][i] = _var(rec["a"])
        if self.dead_units is not None:
            # z <= 0 for every example: the unit's ReLU outputs a = max(z, 0) sum to 0 over the batch (values
            # >= 0 sum to 0 only if each is 0; a nan z makes a nan sum, never 0). The sums are one
            # matrix-vector product, in a third of the time of the largest z of each unit, z.max(axis=0) <= 0.
            a = rec["a"]
            units = _ones(a.shape[0], a.dtype) @ a == 0
            self.dead_units[i] = units
            self.dead[i] = np.count_nonzero(units) / units.size

    def backward(self, l, rec):
        """Hidden layer ``l`` (1-based) after its backward pass: its record holds da, dz (slope, dW) too."""
        i, out = l - 1, self.out
        out["da_mean"][i], out["da_var"][i] = _var(rec["da"])
        out["dz_mean"][i], out["dz_var"][i] = _var(rec["dz"])
        if "dW" in rec:
            norm = _norm(rec["dW"])
            out["grad_norm"][i] = norm if np.isfinite(norm) else np.nan
        slope = rec.get("slope")
        if self.act is not None and self.act.saturating and slope is not None:
            # the slope the backward pass computed is exactly what saturation_mask would compute again
            self.saturated(i, slope < self.threshold * self.act.max_slope)

    def saturated(self, i, mask):
        """Layer index ``i`` (0-based): the fraction of the mask's True entries, its saturated units."""
        self.sat[i] = np.count_nonzero(mask) / mask.size
        self.sat_done[i] = True

    def result(self) -> PassStats:
        """The :class:`PassStats` of the layers summarised (saturation from z where no slope was recorded)."""
        net, out = self.net, self.out
        records = net.records
        if self.act is not None and self.act.saturating:
            for i in np.flatnonzero(~self.sat_done):
                self.saturated(i, saturation_mask(net.activation, records[i]["z"], self.threshold))
        return PassStats(
            layer=np.arange(1, len(records) + 1),
            a_std=np.sqrt(out["a_var"]),
            saturated_fraction=self.sat,
            dead_fraction=self.dead,
            first_nonfinite=net.first_nonfinite,
            overflow=dict(net.overflow),
            activation=net.activation,
            dead_units=None if self.dead_units is None else tuple(self.dead_units),
            n_examples=int(records[0]["z"].shape[0]) if records else net.last_batch_size,
            **out,
        )


def layer_statistics(net: MLP, threshold: float = SATURATION_THRESHOLD) -> PassStats:
    """Summarise the records of the last recorded forward/backward pass of ``net``.

    Parameters
    ----------
    net : MLP
        A network whose last ``forward`` (and ``backward``) ran with ``record=True``.
    threshold : float
        Saturation threshold (fraction of the maximum slope).

    Raises
    ------
    ValueError
        If ``net`` has no recorded forward pass.
    """
    threshold = check_probability("threshold", threshold, inclusive_low=False)
    records = net.records
    if records and "z" not in records[0]:  # a net of depth 0 has no hidden layer: empty statistics
        raise ValueError("net has no recorded pass: call net.forward(x, record=True) first")
    summaries = _LayerSummaries(net, threshold)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for l, rec in enumerate(records, start=1):
            summaries.forward(l, rec)
            if "da" in rec:
                summaries.backward(l, rec)
        return summaries.result()


def pass_statistics(net: MLP, x, dout=None, training: bool = True, param_grads: bool = True,
                    threshold: float = SATURATION_THRESHOLD) -> PassStats:
    """Run one recorded forward and backward pass of ``net`` on ``x`` and summarise it.

    The same numbers as :func:`layer_statistics` after the pass, taken during
    it: each layer is summarised as soon as it has run, while its arrays are
    still in the CPU's cache (see :meth:`gradviz.network.MLP.forward`'s ``on_layer``).

    Parameters
    ----------
    net : MLP
    x : array (batch, n_inputs)
    dout : array (batch, n_outputs) or None
        Upstream gradient at the network's output. None: skip the backward pass
        (gradient statistics stay NaN).
    training : bool
        Forward in training mode (batch norm uses batch statistics).
    param_grads : bool
        Compute dL/dW too (needed for ``grad_norm``; costs one matrix product per layer).
    threshold : float
        Saturation threshold (fraction of the maximum slope).
    """
    threshold = check_probability("threshold", threshold, inclusive_low=False)
    x = check_array_2d("x", x, net.n_inputs)
    summaries = _LayerSummaries(net, threshold)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        out = net.forward(x, training=training, record=True, on_layer=summaries.forward)
        if dout is not None:
            dout = np.asarray(dout)
            if dout.shape != out.shape:
                raise ValueError(f"dout must have the output's shape {out.shape}; got {dout.shape}")
            net.backward(dout, param_grads=param_grads, record=True, on_layer=summaries.backward)
        return summaries.result()


def _draw_probe_inputs(rng, batch_size, n_inputs, width, dtype):
    x = rng.standard_normal((batch_size, n_inputs)).astype(dtype)
    dout = rng.standard_normal((batch_size, width)).astype(dtype)
    return x, dout


@functools.lru_cache(maxsize=4)
def _probe_inputs(seed, batch_size, n_inputs, width, dtype):
    """The probe's x and dout for an integer seed, drawn once (a slider explorer probes the same seed again
    and again: copying them is several times cheaper than drawing them); read-only, so that they stay
    what the seed gives. Holds the last 4 (seed, shape, dtype) combinations."""
    x, dout = _draw_probe_inputs(get_rng(seed), batch_size, n_inputs, width, np.dtype(dtype))
    x.flags.writeable = dout.flags.writeable = False
    return x, dout


@_live.on_one_blas_thread
def probe(net: MLP, batch_size: int = 256, seed=0, param_grads: bool = False, training: bool = True,
          rows=None) -> PassStats:
    """Statistics of ``net`` for standard-normal input and a standard-normal upstream gradient.

    This is the experiment of Glorot & Bengio (2010, sec. 4.2) and of the
    mean-field analyses (Poole et al. 2016; Schoenholz et al. 2017): inputs
    x ~ N(0, 1) of shape (batch_size, n_inputs) and, at the output, an upstream
    gradient dL/d(output) ~ N(0, 1), independent of x. The theory module
    predicts exactly these variances.

    Parameters
    ----------
    net : MLP
        Usually built with ``n_outputs=None`` so the gradient enters at the last hidden layer.
    batch_size : int >= 2
    seed : int or Generator
        Draws x and dout; same seed, same numbers. (RReLU and dropout layers draw
        from the network's own generator, so on such a net two probes differ
        unless the net is rebuilt with its seed.)
    param_grads : bool
        Compute dL/dW too (for ``grad_norm``).
    training : bool
        Forward in training mode (batch norm uses batch statistics).
    rows : slice or None
        Pass only these examples of the batch, with the numbers they have in
        the whole batch (an explorer's quick first estimate). Without batch
        norm, :func:`combine_stats` of the probes of disjoint slices that cover
        the batch gives the statistics of the whole batch.

    The network's moving statistics (batch norm) are left as they were. Runs
    BLAS on one thread, as :func:`gradviz.train.train` does, so the result does
    not depend on the machine's thread count.

    Raises
    ------
    ValueError
        ``batch_size`` < 1, or ``rows`` selects no example.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    width = net.n_outputs if net.n_outputs is not None else (net.hidden[-1] if net.hidden else net.n_inputs)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        x, dout = _probe_inputs(int(seed), batch_size, net.n_inputs, width, np.dtype(net.dtype).str)
    else:
        x, dout = _draw_probe_inputs(get_rng(seed), batch_size, net.n_inputs, width, net.dtype)
    if rows is not None:
        if not isinstance(rows, slice):
            raise TypeError(f"rows must be a slice of the batch, e.g. slice(0, 64); got {rows!r}")
        x, dout = x[rows], dout[rows]
        if not len(x):
            raise ValueError(f"rows={rows!r} selects no example of a batch of {batch_size}")
    # copies: the records alias them (the last layer's da is dout), and a learner may change those
    x, dout = x.copy(), dout.copy()
    # A probe observes; it does not train: batch norm's moving statistics are put back afterwards.
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in net.layers if ly.state]
    _release_pass(net)
    try:
        return pass_statistics(net, x, dout, training=training, param_grads=param_grads)
    finally:
        for ly, state in saved:
            ly.state.update(state)


def _release_pass(net: MLP) -> None:
    """Drop what ``net`` kept of its last pass (records, caches, slopes), which the next pass replaces.

    Until the end of a forward pass the network still holds every array of
    the pass before (z, a, dL/da, dL/dz, phi'(z): five arrays per layer,
    64 MB at 50x256x256 in float32), so each new array would come from fresh
    pages of the operating system: about 6,000 page faults per probe, a
    fifth of its time at that size (benchmarks/README.md). Released first,
    their memory is reused. Parameter gradients (``grads``) are kept: they
    are the network's, not the pass's.
    """
    for block in net.blocks:
        block.record = LayerRecord()
        block.cache = block.dcache = None
    for ly in net.layers:
        ly.cache = None
        if getattr(ly, "slope", None) is not None:
            ly.slope = None


def combine_stats(parts) -> PassStats:
    """The statistics of one pass over the examples of several passes together.

    For a network without batch norm every example goes through the network on
    its own, so probing a batch in parts (``probe(..., rows=slice(0, 64))``,
    then the next 64 ...) and combining gives the statistics of the whole
    batch, up to float rounding. Means are weighted by the number of values;
    variances add the spread of the parts' means: with n_k values of mean m_k
    and variance v_k in part k, and m the overall mean,
    Var = sum_k n_k (v_k + (m_k - m)^2) / sum_k n_k. A unit is dead if it is
    dead in every part; overflow is where the first part to overflow did
    (forward: the lowest layer; backward, read from the top: the highest).

    Parameters
    ----------
    parts : sequence of PassStats
        Of the same network (same depth and activation), each from
        :func:`layer_statistics` (so ``n_examples`` is known).

    Raises
    ------
    ValueError
        No parts, parts of different networks, a part without ``n_examples``,
        or weight-gradient norms (``grad_norm``), which do not add over examples.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("parts is empty: give at least one PassStats")
    first = parts[0]
    if any(p.depth != first.depth or p.activation != first.activation for p in parts):
        raise ValueError("parts come from different networks (depth or activation differ)")
    if any(p.n_examples <= 0 or p.da_mean is None for p in parts):
        raise ValueError("every part needs n_examples and da_mean/dz_mean: make them with layer_statistics")
    if any(np.isfinite(p.grad_norm).any() for p in parts):
        raise ValueError("weight-gradient norms (grad_norm) do not add over examples: probe with param_grads=False")
    if len(parts) == 1:
        return first
    n = np.array([p.n_examples for p in parts], dtype=float)
    w = (n / n.sum())[:, None]

    def moments(q):
        means = np.array([getattr(p, f"{q}_mean") for p in parts])
        variances = np.array([getattr(p, f"{q}_var") for p in parts])
        m = (w * means).sum(axis=0)
        return m, (w * (variances + (means - m) ** 2)).sum(axis=0)

    out = {}
    with np.errstate(invalid="ignore", over="ignore"):
        for q in ("z", "a", "da", "dz"):
            out[f"{q}_mean"], out[f"{q}_var"] = moments(q)

    def lowest(values):
        values = [v for v in values if v is not None]
        return min(values) if values else None

    forward = lowest(p.overflow.get("forward") for p in parts)
    backward = [p.overflow.get("backward") for p in parts if p.overflow.get("backward") is not None]
    backward = max(backward) if backward else None
    dead_units = dead = None
    if first.dead_units is not None:
        dead_units = tuple(np.logical_and.reduce(units) for units in zip(*(p.dead_units for p in parts)))
        dead = np.array([np.count_nonzero(u) / u.size for u in dead_units])
    return PassStats(
        layer=first.layer.copy(),
        a_std=np.sqrt(out["a_var"]),
        grad_norm=np.full(first.depth, np.nan),
        saturated_fraction=(w * np.array([p.saturated_fraction for p in parts])).sum(axis=0),
        dead_fraction=dead if dead is not None else np.zeros(first.depth),
        first_nonfinite=forward if forward is not None else backward,
        overflow={"forward": forward, "backward": backward},
        activation=first.activation,
        dead_units=dead_units,
        n_examples=int(n.sum()),
        **out,
    )


def histograms(net: MLP, key: str = "a", bins: int = 50, value_range=None):
    """Histogram of ``key`` ('z', 'a', 'dz' or 'da') at every hidden layer of the last recorded pass.

    Parameters
    ----------
    bins : int
    value_range : (low, high) or None
        Common range of the bins for all layers; None spans the finite values
        of all layers together, so the curves are comparable.

    Returns
    -------
    edges : array (bins + 1,)
    density : array (L, bins)
        Normalised counts (each row integrates to 1 over the edges; a row of a
        non-finite layer is all NaN; a row with no value inside ``value_range`` is all 0).
    """
    if key not in ("z", "a", "dz", "da"):
        raise ValueError(f"key={key!r} is not known; choose one of: a, da, dz, z")
    bins = check_positive_int("bins", bins)
    records = net.records
    if not records or key not in records[0]:
        raise ValueError(f"net has no recorded {key!r}: run a recorded forward (and backward) pass first")
    arrays = [np.asarray(r[key]) for r in records]
    if value_range is None:
        finite = [a[np.isfinite(a)] for a in arrays]
        finite = [f for f in finite if f.size]
        if not finite:
            value_range = (-1.0, 1.0)
        else:
            lo = min(float(f.min()) for f in finite)
            hi = max(float(f.max()) for f in finite)
            pad = 0.5 if lo - 0.5 < lo and hi + 0.5 > hi else abs(lo) / 2  # 1e300 - 0.5 is 1e300
            value_range = (lo, hi) if hi > lo else (lo - pad, hi + pad)
    else:
        value_range = _check_range("value_range", value_range)
    lo, hi = value_range
    # Near the top of float64 (1.8e308) the span, the bin index and counts * width would overflow:
    # there the bins are computed in units of a power of two (an exact rescaling).
    top = max(abs(lo), abs(hi))
    unit = 1.0 if top < 1e250 else math.ldexp(1.0, math.frexp(top)[1] - 1)  # top / unit in [1, 2)
    edges_u = np.linspace(lo / unit, hi / unit, bins + 1)
    density = np.full((len(arrays), bins), np.nan)
    for i, a in enumerate(arrays):
        if np.isfinite(a).all():
            # np.histogram(density=True) divides 0 by 0, with a RuntimeWarning, when no value
            # falls in the window; such a row is all zeros instead.
            counts, _ = np.histogram(a / unit if unit != 1.0 else a, bins=edges_u)
            total = counts.sum()
            density[i] = counts / (total * np.diff(edges_u)) / unit if total else 0.0
    return edges_u * unit, density


def _check_range(name, value_range):
    """(low, high) as two finite floats with low < high, else ValueError/TypeError naming ``name``."""
    try:
        low, high = value_range
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (low, high) of finite numbers; got {value_range!r}") from None
    low, high = check_finite(f"{name}[0]", low), check_finite(f"{name}[1]", high)
    if not low < high:
        raise ValueError(f"{name} must have low < high; got {value_range!r}")
    return low, high


def digits_batch(batch_size: int = 256, seed=0):
    """A batch of ``batch_size`` training examples of :func:`gradviz.data.load_digits` (default split).

    Returns
    -------
    (X, y): X float64 (batch_size, 64) standardised pixels, y int64 (batch_size,) labels,
    drawn without replacement with ``numpy.random.default_rng(seed)``.

    Raises
    ------
    ValueError
        If ``batch_size`` is not in 1..n_train (1347).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    data = digits()
    n = data.X_train.shape[0]
    if batch_size > n:
        raise ValueError(f"batch_size must be at most {n} (the training examples); got {batch_size}")
    idx = get_rng(seed).choice(n, size=batch_size, replace=False)
    return data.X_train[idx], data.y_train[idx]


@dataclass
class ReluActivity:
    """Which hidden units of a network are silent (z <= 0), per layer, on a set of examples.

    For a ReLU unit, z <= 0 means output 0 *and* slope 0: no gradient passes
    through the unit for that example. Every array has shape (L,), index 0 is
    hidden layer 1.

    Attributes
    ----------
    inactive_fraction : float array
        Fraction of (example, unit) pairs with z <= 0. About one half in a
        healthy ReLU layer at initialization: each unit is silent for some
        examples and active for others.
    dead_fraction : float array
        Fraction of units with z <= 0 for *every* example: dead units, whose
        incoming weights and bias get no gradient from any of these examples.
    n_examples : int
        Number of examples the fractions were measured on (a unit silent on a
        small batch may still be active on other examples, so fractions
        measured on a minibatch overestimate the dead ones).
    """

    inactive_fraction: np.ndarray
    dead_fraction: np.ndarray
    n_examples: int

    @property
    def depth(self) -> int:
        return len(self.dead_fraction)

    @property
    def first_dead_layer(self):
        """The first hidden layer (1-based) whose units are *all* dead, or None.

        From that layer on, the network's output is the same for every example,
        and no gradient reaches any layer below it.
        """
        full = np.flatnonzero(self.dead_fraction >= 1.0)
        return int(full[0]) + 1 if full.size else None

    def summary(self) -> str:
        """One line: silent pairs and dead units per layer, in percent, layer 1 first."""
        silent = " ".join(f"{f:6.1%}" for f in self.inactive_fraction)
        dead = " ".join(f"{f:6.1%}" for f in self.dead_fraction)
        return f"silent (example, unit) pairs: {silent}   dead units: {dead}"

    def as_table(self) -> str:
        """One row per hidden layer, for printing in a notebook."""
        rows = [f"{'layer':>5} {'silent (example, unit) pairs':>29} {'dead units':>11}"]
        for i in range(self.depth):
            rows.append(f"{i + 1:>5d} {self.inactive_fraction[i]:>29.1%} {self.dead_fraction[i]:>11.1%}")
        return "\n".join(rows)


def relu_activity(net: MLP, X) -> ReluActivity:
    """Measure, per hidden layer, how many units are silent (z <= 0) on the examples ``X``.

    One forward pass in inference mode on all of ``X``; for each hidden layer
    the pre-activations z^l (shape (n_examples, width)) are compared with 0.
    Meaningful for the ReLU family (for ReLU, z <= 0 means slope 0); for other
    activations it still reports where z <= 0. A layer whose values overflowed
    (NaN) counts neither as silent nor as dead there.

    Parameters
    ----------
    net : MLP
    X : array (n_examples, n_inputs)
        E.g. the whole training set: a unit is called dead only if it is silent
        for every one of these examples.

    Returns
    -------
    ReluActivity

    Raises
    ------
    TypeError
        If ``net`` is not an MLP.
    ValueError
        If ``X`` is not 2-D with ``net.n_inputs`` columns.

    Notes
    -----
    Dead units: Maas, Hannun & Ng (2013), "Rectifier nonlinearities improve
    neural network acoustic models", point out that gradient descent does not
    adjust the weights of a ReLU unit that is inactive for every input, so it
    may never become active; their leaky ReLU was the remedy.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a gradviz.network.MLP; got {type(net).__name__}")
    X = check_array_2d("X", X, net.n_inputs)
    net.forward(X, training=False, record=True)
    inactive, dead = [], []
    with np.errstate(invalid="ignore"):
        for rec in net.records:
            silent = rec["z"] <= 0
            inactive.append(float(silent.mean()))
            dead.append(float(silent.all(axis=0).mean()))
    return ReluActivity(np.array(inactive), np.array(dead), int(X.shape[0]))
