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
from dataclasses import dataclass, field

import numpy as np

from ._validate import check_array_2d, check_positive_int, check_probability, get_rng
from .activations import SATURATION_THRESHOLD, get_activation, saturation_mask
from .network import MLP

__all__ = ["PassStats", "layer_statistics", "pass_statistics", "probe", "histograms"]


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
    """(mean, variance) of all entries of ``x``, accumulated in float64; (nan, nan) if any is not finite.

    Two passes (mean, then the mean squared deviation as one dot product): no
    separate finiteness pass is needed, since an inf or nan makes the mean non-finite.
    """
    m = x.mean(dtype=np.float64)
    if not np.isfinite(m):
        return np.nan, np.nan
    d = (x - m).ravel()
    return m, float(np.dot(d, d)) / d.size


def _norm(x):
    """Frobenius norm of ``x`` (nan if any entry is not finite), as one dot product."""
    v = x.ravel().astype(np.float64, copy=False)  # float32 squares overflow above 1.8e19
    return float(np.sqrt(np.dot(v, v)))


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
    if not records or "z" not in records[0]:
        raise ValueError("net has no recorded pass: call net.forward(x, record=True) first")
    L = len(records)
    out = {k: np.full(L, np.nan) for k in ("z_mean", "z_var", "a_mean", "a_var", "da_var", "dz_var", "grad_norm")}
    sat = np.zeros(L)
    dead = np.zeros(L)
    act_name = net.activation
    act = get_activation(act_name) if act_name in ("sigmoid", "tanh", "relu") else None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for i, rec in enumerate(records):
            z, a = rec["z"], rec["a"]
            out["z_mean"][i], out["z_var"][i] = _var(z)
            out["a_mean"][i], out["a_var"][i] = _var(a)
            if "da" in rec:
                out["da_var"][i] = _var(rec["da"])[1]
                out["dz_var"][i] = _var(rec["dz"])[1]
            if "dW" in rec:
                norm = _norm(rec["dW"])
                out["grad_norm"][i] = norm if np.isfinite(norm) else np.nan
            if act is not None and act.saturating:
                # the slope the backward pass computed is exactly what saturation_mask would compute again
                slope = rec.get("slope")
                mask = slope < threshold * act.max_slope if slope is not None else saturation_mask(act_name, z, threshold)
                sat[i] = mask.mean()
            if act is not None and act.dies:
                dead[i] = (z <= 0).all(axis=0).mean()
    return PassStats(
        layer=np.arange(1, L + 1),
        a_std=np.sqrt(out["a_var"]),
        saturated_fraction=sat,
        dead_fraction=dead,
        first_nonfinite=net.first_nonfinite,
        overflow=dict(net.overflow),
        activation=act_name,
        **out,
    )


def pass_statistics(net: MLP, x, dout=None, training: bool = True, param_grads: bool = True,
                    threshold: float = SATURATION_THRESHOLD) -> PassStats:
    """Run one recorded forward and backward pass of ``net`` on ``x`` and summarise it.

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
    """
    x = check_array_2d("x", x, net.n_inputs)
    out = net.forward(x, training=training, record=True)
    if dout is not None:
        dout = np.asarray(dout)
        if dout.shape != out.shape:
            raise ValueError(f"dout must have the output's shape {out.shape}; got {dout.shape}")
        net.backward(dout, param_grads=param_grads, record=True)
    return layer_statistics(net, threshold)


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


def probe(net: MLP, batch_size: int = 256, seed=0, param_grads: bool = False, training: bool = True) -> PassStats:
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

    The network's moving statistics (batch norm) are left as they were.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    width = net.n_outputs if net.n_outputs is not None else (net.hidden[-1] if net.hidden else net.n_inputs)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        # copies: the records alias them (the last layer's da is dout), and a learner may change those
        x, dout = (v.copy() for v in _probe_inputs(int(seed), batch_size, net.n_inputs, width,
                                                     np.dtype(net.dtype).str))
    else:
        x, dout = _draw_probe_inputs(get_rng(seed), batch_size, net.n_inputs, width, net.dtype)
    # A probe observes; it does not train: batch norm's moving statistics are put back afterwards.
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in net.layers if ly.state]
    try:
        return pass_statistics(net, x, dout, training=training, param_grads=param_grads)
    finally:
        for ly, state in saved:
            ly.state.update(state)


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
            value_range = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    edges = np.linspace(value_range[0], value_range[1], bins + 1)
    density = np.full((len(arrays), bins), np.nan)
    for i, a in enumerate(arrays):
        if np.isfinite(a).all():
            # np.histogram(density=True) divides 0 by 0, with a RuntimeWarning, when no value
            # falls in the window; such a row is all zeros instead.
            counts, _ = np.histogram(a, bins=edges)
            total = counts.sum()
            density[i] = counts / (total * np.diff(edges)) if total else 0.0
    return edges, density


# ============================================================================= chapter 02: the gradient as a product
# Section owned by the chapter-02 author (notebooks/02_vanishing_and_exploding.ipynb).
# The backward pass of a plain MLP (no batch norm, no skip connections) is, layer by layer,
#     dL/dz^l = dL/da^l * phi'(z^l)          (element-wise)
#     dL/da^{l-1} = dL/dz^l (W^l)^T
# so the gradient that reaches layer 1 is the one at layer L times one factor phi'(z^l) W^l per layer.
import functools  # noqa: E402

from ._validate import check_choice  # noqa: E402
from .activations import ACTIVATIONS  # noqa: E402

__all__ += ["ScalarChain", "scalar_chain",
            "GradientFlow", "gradient_flow", "probe_flow", "digits_flow", "depth_sweep", "digits_batch",
            "weight_snapshot", "relative_weight_change"]

@dataclass
class ScalarChain:
    """The chain rule of a network with one unit per layer, factor by factor.

    Layer l computes z^l = w^l a^{l-1} + b^l and a^l = phi(z^l), with a^0 = x.
    Arrays have shape (L,); index 0 is layer 1.

    Attributes
    ----------
    z, slope, weight : pre-activation z^l, slope phi'(z^l), weight w^l
    factor : phi'(z^l) w^l, the number that carries dL/da^l down to dL/da^{l-1}
    product : dL/da^L x factor^L x ... x factor^l, i.e. dL/da^{l-1} by the chain rule
    backprop : dL/da^{l-1} as the engine's backward pass computed it (``backprop[0]`` is dL/dx)
    dout : dL/da^L, the gradient put in at the top
    """

    z: np.ndarray
    slope: np.ndarray
    weight: np.ndarray
    factor: np.ndarray
    product: np.ndarray
    backprop: np.ndarray
    dout: float
    activation: str

    @property
    def depth(self) -> int:
        return len(self.z)

    def as_table(self) -> str:
        """One row per layer, from the top (L) down to 1, as the backward pass visits them."""
        rows = [f"{'l':>3} {'z^l':>8} {'phi_(z^l)':>10} {'w^l':>8} {'factor':>9}   "
                f"{'dL/da^(l-1): chain':>18} {'backprop':>12}".replace("phi_", "phi'")]
        for i in range(self.depth - 1, -1, -1):
            rows.append(f"{i + 1:>3} {self.z[i]:>8.4f} {self.slope[i]:>10.4f} {self.weight[i]:>8.3f} "
                        f"{self.factor[i]:>9.4f}   {self.product[i]:>18.6g} {self.backprop[i]:>12.6g}")
        return "\n".join(rows)


def scalar_chain(depth: int = 5, activation: str = "sigmoid", x: float = 1.0, weights=None, seed=0,
                 init: str = "glorot_normal", weight_scale: float = 1.0, dout: float = 1.0) -> ScalarChain:
    """Back-propagate through a chain of ``depth`` one-unit layers and write the gradient as a product.

    Builds ``MLP(1, depth=depth, width=1, n_outputs=None)``, runs it on the
    single input ``x``, back-propagates ``dout`` = dL/da^L, and returns both
    the engine's gradients and the chain-rule product
    dL/da^{l-1} = dL/da^L * prod_{k=l}^{L} phi'(z^k) w^k (biases are 0).

    Parameters
    ----------
    depth : int >= 1
    activation : str
    x : float
        The input a^0.
    weights : sequence of ``depth`` floats or None
        The weights w^1..w^L; None draws them with ``init``, ``weight_scale`` and ``seed``.
    seed, init, weight_scale : as in :class:`gradviz.network.MLP`.
    dout : float
        dL/da^L.

    Raises
    ------
    ValueError
        If ``weights`` does not have ``depth`` finite entries, or for bad MLP arguments.
    """
    depth = check_positive_int("depth", depth)
    net = MLP(1, depth=depth, width=1, activation=activation, init=init, weight_scale=weight_scale,
              n_outputs=None, seed=seed)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != (depth,) or not np.isfinite(w).all():
            raise ValueError(f"weights must be {depth} finite numbers (one per layer); got {weights!r}")
        for block, wl in zip(net.blocks, w):
            block.dense.params["W"][...] = wl
    net.forward(np.array([[float(x)]]), training=True, record=True)
    dx = net.backward(np.array([[float(dout)]]), param_grads=False, record=True)
    act = get_activation(activation)
    z = np.array([r["z"][0, 0] for r in net.records])
    slope = act.grad(z, **net.activation_params)
    weight = np.array([b.dense.params["W"][0, 0] for b in net.blocks])
    factor = slope * weight
    product = float(dout) * np.cumprod(factor[::-1])[::-1]
    backprop = np.array([float(dx[0, 0])] + [r["da"][0, 0] for r in net.records[:-1]])
    return ScalarChain(z=z, slope=slope, weight=weight, factor=factor, product=product, backprop=backprop,
                       dout=float(dout), activation=activation)


@dataclass
class GradientFlow:
    """How the back-propagated gradient changes size from layer to layer in one pass.

    Arrays have shape (L,); index 0 is hidden layer 1 (next to the input).
    Norms are Frobenius norms over the whole batch; NaN where a value was not
    finite (see ``overflow``).

    Attributes
    ----------
    a_norm : ||a^l||, the activations of layer l (forward pass)
    da_norm : ||dL/da^l||, the gradient arriving at layer l's output
    dz_norm : ||dL/dz^l|| = ||dL/da^l * phi'(z^l)||
    dW_norm : ||dL/dW^l||, what an SGD step applies to layer l's weights
    rms_slope : root mean square of phi'(z^l) over the batch and the units of layer l: with weights
        that keep a vector's length on average, the factor by which layer l scales the gradient
    weight_norm : spectral norm ||W^l||_2 (largest singular value): no vector is
        stretched by more than this when multiplied by W^l (or its transpose)
    weight_gain : ||W^l||_F / sqrt(n_l), n_l the width of layer l: how much (W^l)^T
        stretches a vector of random direction on average (root mean square); 1 for
        weights with fan_in x Var(W) = 1, as Glorot's init gives square layers
    saturated_fraction : fraction of (example, unit) pairs of layer l with
        slope below ``SATURATION_THRESHOLD`` x max slope (sigmoid and tanh)
    max_slope : largest slope of the activation (1/4 for the sigmoid)
    loss : the cross-entropy of the batch (NaN when the gradient was injected directly)
    overflow : {'forward': int|None, 'backward': int|None}, as in :attr:`gradviz.network.MLP.overflow`
    first_nonfinite : int or None, the first hidden layer whose values were not finite
    activation : str
    """

    a_norm: np.ndarray
    da_norm: np.ndarray
    dz_norm: np.ndarray
    dW_norm: np.ndarray
    rms_slope: np.ndarray
    weight_norm: np.ndarray
    weight_gain: np.ndarray
    saturated_fraction: np.ndarray
    max_slope: float
    loss: float
    overflow: dict
    first_nonfinite: int | None
    activation: str

    @property
    def depth(self) -> int:
        return len(self.da_norm)

    @property
    def layer(self) -> np.ndarray:
        return np.arange(1, self.depth + 1)

    def ratio(self, quantity: str = "da") -> float:
        """Norm at layer 1 divided by the norm at layer L, for ``quantity`` in {'da', 'dz', 'dW'}.

        Below 1: the gradient shrank on its way down (vanishing); above 1: it grew
        (exploding); NaN if either norm is not finite; 0 if layer 1's underflowed to 0.
        """
        v = self._norms(quantity)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(v[0] / v[-1])

    def per_layer_factor(self, quantity: str = "da") -> float:
        """The geometric-mean factor per layer: ``ratio(quantity) ** (1 / (L - 1))`` (NaN for L = 1)."""
        r = self.ratio(quantity)
        if self.depth < 2 or not np.isfinite(r) or r < 0:
            return float("nan")
        return float(r ** (1.0 / (self.depth - 1)))

    @property
    def slope_bound(self) -> float:
        """(max phi')**(L-1): what the L-1 slope factors between layer L and layer 1 can multiply a gradient by, at most."""
        return float(self.max_slope) ** (self.depth - 1)

    @property
    def weight_bound(self) -> float:
        """prod_{l=2}^{L} ||W^l||_2: what the L-1 weight factors can multiply it by, at most."""
        return float(np.prod(self.weight_norm[1:]))

    @property
    def typical_factor(self) -> float:
        """prod_{l=2}^{L} rms_slope^l x weight_gain^l: the ratio ||dL/da^1|| / ||dL/da^L|| to expect
        when each layer's slopes and weights act like independent random factors (not a bound)."""
        return float(np.prod(self.rms_slope[1:] * self.weight_gain[1:]))

    @property
    def bound(self) -> float:
        """slope_bound x weight_bound: ||dL/da^1|| <= bound x ||dL/da^L|| (and the same for dz)."""
        return self.slope_bound * self.weight_bound

    def _norms(self, quantity):
        keys = {"da": self.da_norm, "dz": self.dz_norm, "dW": self.dW_norm}
        return keys[check_choice("quantity", quantity, keys)]

    def as_table(self) -> str:
        """One row per layer: the three gradient norms, the rms slope, the weight gain, ||W||_2 and the
        saturated fraction."""
        rows = [f"{'layer':>5} {'|dL/da|':>10} {'|dL/dz|':>10} {'|dL/dW|':>10} {'rms slope':>10} "
                f"{'gain':>6} {'|W|_2':>7} {'saturated':>9}"]
        for i in range(self.depth):
            rows.append(f"{i + 1:>5} {self.da_norm[i]:>10.3g} {self.dz_norm[i]:>10.3g} {self.dW_norm[i]:>10.3g} "
                        f"{self.rms_slope[i]:>10.3g} {self.weight_gain[i]:>6.3g} {self.weight_norm[i]:>7.3g} "
                        f"{self.saturated_fraction[i]:>9.1%}")
        return "\n".join(rows)


def _norm(x):
    if not np.isfinite(x).all():
        return np.nan
    return float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))


def gradient_flow(net: MLP, x, y=None, *, dout=None, seed=0, training: bool = True,
                  threshold: float = SATURATION_THRESHOLD, spectral_norms: bool = True) -> GradientFlow:
    """One recorded forward/backward pass of ``net`` on ``x``, summarised as gradient norms per layer.

    With labels ``y`` the gradient is that of the mean softmax cross-entropy
    of the batch (``net`` needs an output layer); otherwise the upstream
    gradient dL/d(output) is ``dout``, or when that is None too, standard-normal
    numbers drawn from ``seed`` (:func:`probe_flow` draws x and dout as :func:`probe` does). Overflow does not raise: norms of non-finite layers are NaN
    and ``overflow`` / ``first_nonfinite`` say where it started.

    The ratio of norms between layer 1 and layer L obeys, for a plain MLP,
    ||dL/da^1|| <= ||dL/da^L|| x prod_{l=2}^{L} max|phi'| ||W^l||_2
    (each step dL/da^{l-1} = (dL/da^l * phi'(z^l)) (W^l)^T shrinks a row by at
    most max|phi'| and stretches it by at most the spectral norm): see
    :attr:`GradientFlow.bound`.

    Parameters
    ----------
    net : MLP
        Without batch norm or skip connections for the bound to hold (the norms are measured anyway).
    x : array (batch, n_inputs)
    y : int array (batch,) or None
        Class labels for the cross-entropy.
    dout : array shaped like the output, or None
        The upstream gradient, when ``y`` is None.
    seed : int or Generator
        Draws the upstream gradient when ``y`` is None.
    training : bool
        Forward in training mode (matters only for batch norm and dropout).
    threshold : float
        Saturation threshold (fraction of the maximum slope).
    spectral_norms : bool
        Compute ``weight_norm`` (one SVD per layer, the costliest part for wide
        layers); False leaves it NaN, and with it ``weight_bound`` and ``bound``.

    Raises
    ------
    ValueError
        For ``y`` given to a network without an output layer, or inputs of the wrong shape.
    """
    from .losses import softmax_cross_entropy

    x = check_array_2d("x", x, net.n_inputs)
    out = net.forward(x, training=training, record=True)
    loss = float("nan")
    if y is not None:
        if net.n_outputs is None:
            raise ValueError("y was given but net has no output layer (n_outputs=None); build it with n_outputs")
        with np.errstate(all="ignore"):
            loss, dout = softmax_cross_entropy(out, y) if np.isfinite(out).all() else (
                float("nan"), np.full(out.shape, np.nan, dtype=out.dtype))
    elif dout is None:
        dout = get_rng(seed).standard_normal(out.shape).astype(net.dtype)
    else:
        dout = np.asarray(dout, dtype=net.dtype)
        if dout.shape != out.shape:
            raise ValueError(f"dout must have the output's shape {out.shape}; got {dout.shape}")
    net.backward(dout, param_grads=True, record=True)
    act_name = net.activation
    act = get_activation(act_name) if act_name in ACTIVATIONS else None
    L = net.depth
    an, da, dz, dW, slope, wn, wg, sat = (np.full(L, np.nan) for _ in range(8))
    with np.errstate(all="ignore"):
        for i, (block, rec) in enumerate(zip(net.blocks, net.records)):
            an[i], da[i], dz[i], dW[i] = _norm(rec["a"]), _norm(rec["da"]), _norm(rec["dz"]), _norm(rec["dW"])
            W = block.dense.params["W"]
            if np.isfinite(W).all():
                if spectral_norms:
                    wn[i] = float(np.linalg.svd(W.astype(np.float64), compute_uv=False)[0])
                wg[i] = _norm(W) / np.sqrt(W.shape[1])
            if act is not None and np.isfinite(rec["z"]).all():
                slope[i] = float(np.sqrt(np.mean(np.square(act.grad(rec["z"], **net.activation_params)), dtype=np.float64)))
                sat[i] = float(saturation_mask(act_name, rec["z"], threshold, **net.activation_params).mean())
    fwd = net.overflow["forward"]
    if fwd is not None:  # the loss is not finite: no gradient means anything (ReLU would even give 0s)
        da[:], dz[:], dW[:] = np.nan, np.nan, np.nan
        slope[fwd - 1:], sat[fwd - 1:] = np.nan, np.nan
    return GradientFlow(a_norm=an, da_norm=da, dz_norm=dz, dW_norm=dW, rms_slope=slope, weight_norm=wn, weight_gain=wg,
                        saturated_fraction=sat, max_slope=float(act.max_slope) if act is not None else float("nan"),
                        loss=float(loss), overflow=dict(net.overflow), first_nonfinite=net.first_nonfinite,
                        activation=act_name)


def probe_flow(net: MLP, batch_size: int = 256, seed=0, spectral_norms: bool = True) -> GradientFlow:
    """:func:`gradient_flow` for standard-normal input and upstream gradient, the same numbers :func:`probe` draws.

    x ~ N(0, 1) of shape (batch_size, n_inputs), then dL/d(output) ~ N(0, 1),
    both from one generator seeded with ``seed`` (Glorot & Bengio 2010, sec. 4.2).
    """
    batch_size = check_positive_int("batch_size", batch_size)
    rng = get_rng(seed)
    x = rng.standard_normal((batch_size, net.n_inputs)).astype(net.dtype)
    width = net.n_outputs if net.n_outputs is not None else (net.hidden[-1] if net.hidden else net.n_inputs)
    dout = rng.standard_normal((batch_size, width)).astype(net.dtype)
    return gradient_flow(net, x, dout=dout, spectral_norms=spectral_norms)


def digits_flow(depth: int = 10, width: int = 64, activation: str = "sigmoid", init: str = "glorot_uniform",
                weight_scale: float = 1.0, batch_size: int = 256, seed=0, dtype=np.float64):
    """A fresh MLP on a batch of digits with the cross-entropy loss: one pass, summarised.

    Builds ``MLP(64, depth=depth, width=width, activation=..., init=..., weight_scale=...,
    n_outputs=10, seed=seed, dtype=dtype)`` (untrained) and runs :func:`gradient_flow` on
    :func:`digits_batch` (``batch_size``, ``seed``) with its labels.

    Returns
    -------
    (MLP, GradientFlow)
    """
    net = MLP(64, depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
              n_outputs=10, seed=seed, dtype=dtype)
    X, y = digits_batch(batch_size, seed)
    return net, gradient_flow(net, X.astype(net.dtype), y)


def depth_sweep(depths, **kwargs) -> dict:
    """:func:`digits_flow` for each depth in ``depths``; returns {depth: GradientFlow}.

    ``kwargs`` go to :func:`digits_flow` (width, activation, init, weight_scale, ...).
    Thanks to the MLP's per-layer seeding, the deeper networks share their first layers' weights.
    """
    out = {}
    for d in depths:
        d = check_positive_int("depth", d)
        out[d] = digits_flow(d, **kwargs)[1]
    return out


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
    data = _digits()
    n = data.X_train.shape[0]
    if batch_size > n:
        raise ValueError(f"batch_size must be at most {n} (the training examples); got {batch_size}")
    idx = get_rng(seed).choice(n, size=batch_size, replace=False)
    return data.X_train[idx], data.y_train[idx]


@functools.lru_cache(maxsize=1)
def _digits():
    from .data import load_digits

    return load_digits()


def weight_snapshot(net: MLP) -> list:
    """Copies of the hidden layers' weight matrices W^1..W^L (to measure later how far training moved them)."""
    return [block.dense.params["W"].copy() for block in net.blocks]


def relative_weight_change(net: MLP, snapshot) -> np.ndarray:
    """Per hidden layer, ||W^l_now - W^l_then|| / ||W^l_then|| (Frobenius), shape (L,).

    ``snapshot`` is what :func:`weight_snapshot` returned for the same network.

    Raises
    ------
    ValueError
        If the snapshot does not match the network's layers.
    """
    if len(snapshot) != net.depth or any(s.shape != b.dense.params["W"].shape for s, b in zip(snapshot, net.blocks)):
        raise ValueError("snapshot does not match net: take it with weight_snapshot(net) on the same network")
    with np.errstate(all="ignore"):
        return np.array([_norm(b.dense.params["W"] - s) / _norm(s) for s, b in zip(snapshot, net.blocks)])
