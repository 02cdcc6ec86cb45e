"""Chapter 02: vanishing and exploding gradients (``notebooks/02_vanishing_and_exploding.ipynb``).

The backward pass of a plain MLP (no batch norm, no skip connections) is, layer by layer,

    dL/dz^l = dL/da^l * phi'(z^l)          (element-wise)
    dL/dW^l = (a^{l-1})^T dL/dz^l          (a^0 = x)
    dL/da^{l-1} = dL/dz^l (W^l)^T

so the gradient that reaches layer 1 is the one at layer L times one factor
phi'(z^l) W^l per layer crossed. The chapter opens that product: a chain of
one-unit layers written out factor by factor (:func:`scalar_chain`); the sigmoid's
slope and saturation (:class:`SaturationExplorer`); the gradient norms per layer of
a deep sigmoid MLP on the digits against the slope bound (max phi')^(L-1), the
typical product and the worst case (:func:`gradient_flow`, :func:`digits_flow`,
:func:`depth_sweep`); large weights in a ReLU MLP, where the activations grow
going up as fast as dL/da grows going down, so that the weight gradients of all
layers grow together and one SGD step throws every layer away
(:func:`relu_digits_flows`, :func:`train_exploding`); float32 overflow
(:func:`probe_flow`); saturation per layer; and training, where the first layers
of a deep sigmoid network barely move (:func:`compare_depths`).

The closed forms it quotes (sigma' <= 1/4, the slope bound, the saturation
onset, log10 sigma'(z) where float64 underflows) are in :mod:`gradviz.theory`.
"""

from __future__ import annotations

import html
import time
import warnings
from dataclasses import dataclass

import ipywidgets
import matplotlib as mpl
import numpy as np

from .. import _live, plots
from .._validate import check_array_2d, check_choice, check_positive, check_positive_int, get_rng
from ..activations import ACTIVATIONS, SATURATION_THRESHOLD, get_activation, saturation_mask, sigmoid, sigmoid_grad
from ..data import load_digits
from ..exercises import exercise
from ..figures import figure
from ..losses import softmax_cross_entropy
from ..network import MLP
from ..stats import digits_batch
from ..theory import saturation_onset, sigmoid_slope_log10, slope_bound
from ..train import train
from ..widgets import (CONTROL_STYLE, INIT_OPTIONS, WIDTHS, DeepNetworkExplorer, Explorer, choice, int_slider,
                       log_slider, resolve_init, values_slider)

__all__ = [
    # experiments
    "scalar_chain", "digits_flow", "depth_sweep", "probe_flow", "compare_depths", "relu_digits_flows",
    "layer_norms_table", "train_exploding",
    # figures
    "sigmoid_slope_and_saturation", "sigmoid_gradient_per_layer", "vanishing_with_depth",
    "weight_gradients_vanish_or_not", "float32_overflow",
    "sigmoid_saturation_by_scale", "sigmoid_training_first_layers",
    # explorers
    "GradientFlowExplorer", "SaturationExplorer",
]


# ---- experiments
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
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding chain overflows to inf, as the engine does
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
    a_rms : ||a^l|| / sqrt(batch x width), the root mean square of one activation
    da_norm : ||dL/da^l||, the gradient arriving at layer l's output
    dz_norm : ||dL/dz^l|| = ||dL/da^l * phi'(z^l)||
    dW_norm : ||dL/dW^l||, what an SGD step applies to layer l's weights. Since
        dL/dW^l = (a^{l-1})^T dL/dz^l (a^0 = x), it follows dL/dz^l only where the
        activations a^{l-1} keep the same size from layer to layer
    w_norm : ||W^l||_F, the Frobenius norm of the weights (square root of the sum of their squares)
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
    out_rms : root mean square of the network's output (the logits, if it has an output layer)
    loss : the cross-entropy of the batch (NaN when the gradient was injected directly)
    overflow : {'forward': int|None, 'backward': int|None}, as in :attr:`gradviz.network.MLP.overflow`
    first_nonfinite : int or None, the first hidden layer whose values were not finite
    activation : str
    """

    a_norm: np.ndarray
    a_rms: np.ndarray
    da_norm: np.ndarray
    dz_norm: np.ndarray
    dW_norm: np.ndarray
    w_norm: np.ndarray
    rms_slope: np.ndarray
    weight_norm: np.ndarray
    weight_gain: np.ndarray
    saturated_fraction: np.ndarray
    max_slope: float
    out_rms: float
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

    def relative_update(self, lr: float) -> np.ndarray:
        """Per layer, ||lr dL/dW^l|| / ||W^l||: how far one plain SGD step would move W^l, relative to its size.

        Shape (L,); NaN where the gradient was not finite. Chapter 01's divergence in numbers: a step of
        about the size of the weights themselves (1 or more) throws the layer somewhere else entirely.

        Raises
        ------
        ValueError
            If ``lr`` is not a positive number.
        """
        lr = check_positive("lr", lr)
        with np.errstate(all="ignore"):
            return lr * np.asarray(self.dW_norm, float) / np.asarray(self.w_norm, float)

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
        """One row per layer: the three gradient norms, the rms activation, the rms slope, the weight gain,
        ||W||_2 and the saturated fraction."""
        rows = [f"{'layer':>5} {'|dL/da|':>10} {'|dL/dz|':>10} {'|dL/dW|':>10} {'rms a':>7} {'rms slope':>10} "
                f"{'gain':>6} {'|W|_2':>7} {'saturated':>9}"]
        for i in range(self.depth):
            rows.append(f"{i + 1:>5} {self.da_norm[i]:>10.3g} {self.dz_norm[i]:>10.3g} {self.dW_norm[i]:>10.3g} "
                        f"{self.a_rms[i]:>7.3g} {self.rms_slope[i]:>10.3g} {self.weight_gain[i]:>6.3g} "
                        f"{self.weight_norm[i]:>7.3g} {self.saturated_fraction[i]:>9.1%}")
        return "\n".join(rows)


def _norm(x):
    """Frobenius norm of ``x`` accumulated in float64; NaN if any entry is not finite."""
    if not np.isfinite(x).all():
        return np.nan
    return float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))


@_live.on_one_blas_thread
def gradient_flow(net: MLP, x, y=None, *, dout=None, seed=0, training: bool = True,
                  threshold: float = SATURATION_THRESHOLD, spectral_norms: bool = True) -> GradientFlow:
    """One recorded forward/backward pass of ``net`` on ``x``, summarised as gradient norms per layer.

    With labels ``y`` the gradient is that of the mean softmax cross-entropy
    of the batch (``net`` needs an output layer); otherwise the upstream
    gradient dL/d(output) is ``dout``, or when that is None too, standard-normal
    numbers drawn from ``seed`` (:func:`probe_flow` draws x and dout as
    :func:`gradviz.stats.probe` does). Overflow does not raise: norms of
    non-finite layers are NaN and ``overflow`` / ``first_nonfinite`` say where it started.
    BLAS runs on one thread, as in :func:`gradviz.train.train`, so the norms do not depend on
    the machine's thread count.

    The ratio of norms between layer 1 and layer L obeys, for a plain MLP,
    ||dL/da^1|| <= ||dL/da^L|| x prod_{l=2}^{L} max|phi'| ||W^l||_2
    (each step dL/da^{l-1} = (dL/da^l * phi'(z^l)) (W^l)^T shrinks a row by at
    most max|phi'| and stretches it by at most the spectral norm): see
    :attr:`GradientFlow.bound`. This is the argument of Pascanu, Mikolov &
    Bengio (2013), "On the difficulty of training recurrent neural networks",
    sec. 2.1, for a different W^l in every layer.

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
    an, arms, da, dz, dW, fro, slope, wn, wg, sat = (np.full(L, np.nan) for _ in range(10))
    with np.errstate(all="ignore"):
        for i, (block, rec) in enumerate(zip(net.blocks, net.records)):
            an[i], da[i], dz[i], dW[i] = _norm(rec["a"]), _norm(rec["da"]), _norm(rec["dz"]), _norm(rec["dW"])
            arms[i] = an[i] / np.sqrt(rec["a"].size)
            W = block.dense.params["W"]
            if np.isfinite(W).all():
                if spectral_norms:
                    wn[i] = float(np.linalg.svd(W.astype(np.float64), compute_uv=False)[0])
                fro[i] = _norm(W)
                wg[i] = fro[i] / np.sqrt(W.shape[1])
            if act is not None and np.isfinite(rec["z"]).all():
                slope[i] = float(np.sqrt(np.mean(np.square(act.grad(rec["z"], **net.activation_params)), dtype=np.float64)))
                sat[i] = float(saturation_mask(act_name, rec["z"], threshold, **net.activation_params).mean())
    fwd = net.overflow["forward"]
    if fwd is not None:  # the loss is not finite: no gradient means anything (ReLU would even give 0s)
        da[:], dz[:], dW[:] = np.nan, np.nan, np.nan
        slope[fwd - 1:], sat[fwd - 1:] = np.nan, np.nan
    with np.errstate(all="ignore"):
        out_rms = _norm(out) / np.sqrt(out.size)
    return GradientFlow(a_norm=an, a_rms=arms, da_norm=da, dz_norm=dz, dW_norm=dW, w_norm=fro, rms_slope=slope,
                        weight_norm=wn, weight_gain=wg, saturated_fraction=sat,
                        max_slope=float(act.max_slope) if act is not None else float("nan"), out_rms=float(out_rms),
                        loss=float(loss), overflow=dict(net.overflow), first_nonfinite=net.first_nonfinite,
                        activation=act_name)


def probe_flow(net: MLP, batch_size: int = 256, seed=0, spectral_norms: bool = True) -> GradientFlow:
    """:func:`gradient_flow` for standard-normal input and upstream gradient, as :func:`gradviz.stats.probe` draws them.

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
    :func:`gradviz.stats.digits_batch` (``batch_size``, ``seed``) with its labels.

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


def train_tracking_weights(net: MLP, data, **train_kwargs):
    """:func:`gradviz.train.train` ``net`` and measure how far each hidden layer's weights moved.

    Parameters
    ----------
    net : MLP
        Trained in place.
    data : Dataset or tuple
        As for :func:`gradviz.train.train`.
    **train_kwargs
        Passed to :func:`gradviz.train.train` (lr, steps, batch_size, seed, progress, ...).

    Returns
    -------
    (History, ndarray of shape (L,))
        The history, and per hidden layer l the relative change
        ||W^l_after - W^l_before|| / ||W^l_before|| (Frobenius norms; see
        :func:`relative_weight_change`). Where the gradient has
        vanished, the change is tiny: the layer barely learned.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a gradviz.network.MLP; got {type(net).__name__}")
    before = weight_snapshot(net)
    history = train(net, data, **train_kwargs)
    return history, relative_weight_change(net, before)


def compare_depths(depths=(3, 10), width: int = 64, activation: str = "sigmoid", init: str = "glorot_uniform",
                   lr: float = 0.5, steps: int = 200, batch_size: int = 64, seed=0, record_every: int = 20,
                   progress=False) -> dict:
    """Train one MLP per depth on the digits, the same way, and measure how far each layer moved.

    Each network is ``MLP(64, depth=d, width=width, activation=..., init=..., n_outputs=10, seed=seed)``,
    trained with :func:`train_tracking_weights` on :func:`gradviz.data.load_digits` (default split).

    Returns
    -------
    dict ``"<d> <activation> layers"`` -> (History, relative weight change per layer, shape (d,))
    """
    data = load_digits(seed=0)
    runs = {}
    for d in depths:
        net = MLP(data.n_features, depth=check_positive_int("depth", d), width=width, activation=activation,
                  init=init, n_outputs=data.n_classes, seed=seed)
        runs[f"{d} {activation} layers"] = train_tracking_weights(
            net, data, lr=lr, steps=steps, batch_size=batch_size, seed=seed, record_every=record_every,
            progress=progress)
    return runs


def relu_digits_flows(scales=(1.0, 2.0), depth: int = 30, width: int = 128, seed=0) -> dict:
    """ReLU MLPs on the digits with He weights times each of ``scales``: one pass each, summarised.

    :func:`digits_flow` with ``activation='relu'``, ``init='he_normal'`` and
    ``weight_scale`` = each scale (same seed, so the networks differ only by that
    factor on every weight). The ReLU is positively homogeneous, relu(c z) = c relu(z)
    for c > 0, and the biases start at 0, so scaling every weight by c scales
    a^l by c^l; with the cross-entropy on top, the logits scale by c^(L+1).

    Returns
    -------
    dict scale -> GradientFlow
    """
    return {float(s): digits_flow(depth, width=width, activation="relu", init="he_normal", weight_scale=s,
                                  seed=seed)[1] for s in scales}


_TABLE_HEADS = {"a": "|a^l|", "da": "|dL/da^l|", "dz": "|dL/dz^l|", "dW": "|dL/dW^l|"}


def layer_norms_table(flows: dict, quantities=("a", "da", "dW")) -> str:
    """The norms ``quantities`` of each flow in ``flows`` (label -> GradientFlow), side by side, one row per layer.

    ``quantities`` are among 'a' (||a^l||), 'da', 'dz', 'dW'; every flow must have the same depth.

    Raises
    ------
    ValueError
        For an unknown quantity or flows of different depths.
    """
    quantities = [check_choice("quantity", q, _TABLE_HEADS) for q in quantities]
    depths = {f.depth for f in flows.values()}
    if len(depths) != 1:
        raise ValueError(f"flows must all have the same depth; got depths {sorted(depths)}")
    cw = 11  # characters per column, the leading space included
    block = cw * len(quantities)
    top = " " * 5 + "".join(f" {str(label):-^{block - 1}}" for label in flows)
    head = f"{'layer':>5}" + "".join(f" {_TABLE_HEADS[q]:>{cw - 1}}" for _ in flows for q in quantities)
    rows = [top, head]
    for i in range(depths.pop()):
        rows.append(f"{i + 1:>5}" + "".join(f" {getattr(f, q + '_norm')[i]:>{cw - 1}.3g}"
                                            for f in flows.values() for q in quantities))
    return "\n".join(rows)


def train_exploding(lrs=(1e-2, 1e-6), weight_scale: float = 2.0, depth: int = 30, width: int = 128, steps: int = 10,
                    seed=0) -> dict:
    """Train the ReLU MLP of :func:`relu_digits_flows` (He x ``weight_scale``) with plain SGD at each rate in ``lrs``.

    Each run starts from the same weights and trains on :func:`gradviz.data.load_digits` (batches of 64) for
    ``steps`` steps, or until the loss or a gradient is no longer finite (``History.diverged_step``).

    Returns
    -------
    dict lr -> History
    """
    data = load_digits(seed=0)
    runs = {}
    for lr in lrs:
        net = MLP(data.n_features, depth=depth, width=width, activation="relu", init="he_normal",
                  weight_scale=weight_scale, n_outputs=data.n_classes, seed=seed)
        runs[float(lr)] = train(net, data, lr=lr, steps=steps, batch_size=64, seed=seed, record_every=1,
                                progress=False)
    return runs


# ---- figures
# The chapter's network: sigmoid, 10 hidden layers x 64 units, Glorot init, seed 0 (digits_flow's defaults).
# Every figure accepts the results it draws, so a notebook that computed them does not compute them twice.
_DEPTH, _WIDTH = 10, 64

#: How each curve of :func:`plot_gradient_ratio` is drawn: label, colour, line style, marker.
RATIO_CURVES = {
    "measured": (r"measured $\|\partial L/\partial a^l\| \,/\, \|\partial L/\partial a^L\|$",
                 plots.COLORS["da"], "-", "o"),
    "slope_bound": (r"slopes alone at their best: $(\max\varphi')^{L-l}$", "0.15", "--", None),
    "typical": (r"typical: $\prod_{k>l}$ rms slope$^k$ $\times$ weight gain$^k$", plots.OKABE_ITO["sky_blue"], ":",
                None),
    "bound": (r"worst case: $\prod_{k>l} \max\varphi' \, \|W^k\|_2$", plots.OKABE_ITO["purple"], "-.", None),
}


def gradient_ratio_curves(flow) -> dict:
    """Per layer l (array index l-1), the gradient at layer l relative to the top layer L, measured and bounded.

    Parameters
    ----------
    flow : :class:`GradientFlow`

    Returns
    -------
    dict of float arrays, shape (L,), each 1 at layer L:
    ``'measured'`` ||dL/da^l|| / ||dL/da^L||; ``'slope_bound'`` (max phi')^(L-l), the most the
    slopes of layers l+1..L allow; ``'typical'`` the product of rms slope x weight gain of
    layers l+1..L; ``'bound'`` the product of max phi' x ||W^k||_2 over the same layers, which
    the measured curve can never exceed. NaN where the values were not finite.
    """
    L = flow.depth
    with np.errstate(all="ignore"):
        measured = np.asarray(flow.da_norm, float) / float(flow.da_norm[-1])
        k = np.arange(L - 1, -1, -1, dtype=float)  # layers crossed from L down to l
        slopes_alone = float(flow.max_slope) ** k

        def from_top(factors):
            f = np.asarray(factors, float)[1:]  # layers 2..L carry da^L down to da^1
            return np.append(np.cumprod(f[::-1])[::-1], 1.0)

        typical = from_top(np.asarray(flow.rms_slope) * np.asarray(flow.weight_gain))
        bound = from_top(float(flow.max_slope) * np.asarray(flow.weight_norm))
    return {"measured": plots.finite_or_nan(measured), "slope_bound": plots.finite_or_nan(slopes_alone),
            "typical": plots.finite_or_nan(typical), "bound": plots.finite_or_nan(bound)}


@plots.styled
def plot_gradient_ratio(flow, ax=None, *, curves=("measured", "slope_bound", "typical", "bound"), legend=True,
                        title=None):
    """The gradient reaching each layer, relative to the top layer, against what slopes and weights allow.

    Log scale; layer 1 on the left. Lines have gid ``'ratio:<curve>'`` (see :data:`RATIO_CURVES`);
    an overflow is marked as in :func:`gradviz.plots.mark_overflow`. Returns the Axes.
    """
    ax = plots.prepare_axes(ax)
    data = gradient_ratio_curves(flow)
    layers = np.arange(1, flow.depth + 1)
    for name in curves:
        label, color, ls, marker = RATIO_CURVES[name]
        y = plots.mask_overflowed(plots.positive_finite(data[name]), "da", flow.overflow) if name == "measured" \
            else plots.positive_finite(data[name])
        # the typical product follows the measurement closely: draw it on top, thin, so both stay visible
        ax.plot(layers, y, ls=ls, marker=marker, color=color, label=label, gid=f"ratio:{name}",
                lw={"measured": 2.2, "typical": 2.6}.get(name, 1.6), ms=6,
                zorder={"measured": 3, "typical": 4}.get(name, 2))
    plots.log_scale(ax)
    ax.set_ylabel("gradient relative to layer $L$ (log scale)")
    plots.layer_axis(ax, flow.depth)
    plots.mark_overflow(ax, flow.overflow, flow.depth)
    if legend:
        ax.legend(loc="lower right", fontsize=9)
    if title:
        ax.set_title(title)
    return ax


#: How :func:`plot_layer_norms` draws each quantity: label, colour, marker.
NORM_STYLES = {
    "a": (r"activations $\|a^l\|$ (forward)", plots.COLORS["a"], "o"),
    "da": (r"gradients $\|\partial L/\partial a^l\|$ (backward)", plots.COLORS["da"], "o"),
    "dW": (r"weight gradients $\|\partial L/\partial W^l\|$", plots.OKABE_ITO["green"], "s"),
}


@plots.styled
def plot_layer_norms(flow, ax=None, *, quantities=("a", "da"), title=None, legend=True, suffix="", **line_kw):
    """Norms per layer of the activations ||a^l||, the gradients ||dL/da^l|| and ||dL/dW^l|| (log scale).

    ``quantities`` are keys of :data:`NORM_STYLES`; ``suffix`` is appended to each label and gid,
    ``line_kw`` go to every line. Layers an overflow spoiled are not drawn; the band of
    :func:`gradviz.plots.mark_overflow` says where. Lines have gid ``'norm:<quantity><suffix>'``.
    Returns the Axes.
    """
    ax = plots.prepare_axes(ax)
    layers = np.arange(1, flow.depth + 1)
    for q in quantities:
        label, color, marker = NORM_STYLES[q]
        v = plots.mask_overflowed(plots.positive_finite(getattr(flow, f"{q}_norm")),
                                   "grad_norm" if q == "dW" else q, flow.overflow)
        kw = dict(marker=marker, ms=4, color=color, label=label + suffix, gid=f"norm:{q}{suffix}")
        kw.update(line_kw)
        ax.plot(layers, v, **kw)
    plots.log_scale(ax)
    ax.set_ylabel("norm over the batch (log scale)")
    plots.layer_axis(ax, flow.depth)
    plots.mark_overflow(ax, flow.overflow, flow.depth)
    if legend:
        ax.legend(loc="lower left", fontsize=9)
    if title:
        ax.set_title(title)
    return ax


@figure("sigmoid_slope_and_saturation")
def sigmoid_slope_and_saturation():
    """The sigmoid and its slope (never above 1/4), the saturated tails, and how small the slope gets at z = 1000."""
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


def _sigmoid_digits_flow(flow=None, **kwargs):
    """``flow`` if given, else the GradientFlow of the chapter's sigmoid net on the digits (``kwargs`` change it)."""
    if flow is not None:
        return flow
    kw = dict(depth=_DEPTH, width=_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    kw.update(kwargs)
    return digits_flow(**kw)[1]


@figure("sigmoid_gradient_per_layer")
def sigmoid_gradient_per_layer(flow=None):
    """A 10-layer sigmoid MLP on a batch of digits, at initialisation: weight-gradient norm per layer, and the
    gradient relative to the top layer against the slope bound, the typical product and the worst case."""
    flow = _sigmoid_digits_flow(flow)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.5, 4.6), width_ratios=[1, 1.25])
    with plots.style():
        layers = flow.layer
        ok = np.isfinite(flow.dW_norm) & (flow.dW_norm > 0)
        a1.bar(layers[ok], flow.dW_norm[ok], width=0.75, color=plots.COLORS["grad_norm"], gid="bars")
        a1.set_yscale("log")
        a1.set_ylabel(r"$\|\partial L/\partial W^l\|$ (log scale)")
        plots.layer_axis(a1, flow.depth)
        a1.set_title("what SGD would apply to each layer's weights")
        plot_gradient_ratio(flow, ax=a2, title=r"the gradient $\partial L/\partial a^l$ on its way down")
    fig.suptitle(f"sigmoid MLP, {flow.depth} hidden layers x {_WIDTH} units, Glorot init, untrained; "
                 "cross-entropy on 256 digits", fontsize=12)
    return fig


@figure("vanishing_with_depth")
def vanishing_with_depth(sweep=None, depths=(5, 10, 20, 30)):
    """Sigmoid MLPs of several depths on the digits: the deeper the net, the less reaches layer 1, because the
    gradient shrinks by about the same factor at every layer it crosses."""
    if sweep is None:
        sweep = depth_sweep(depths, width=_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(13.5, 4.8))
    with plots.style():
        cmap = mpl.colormaps["plasma"]
        markers = ["o", "s", "^", "D", "v", "P"]
        items = sorted(sweep.items(), reverse=True)  # deepest first, so the shallow ones are drawn on top
        n = len(items)
        for i, (L, flow) in enumerate(items):
            color = cmap(0.8 * (n - 1 - i) / max(n - 1, 1))
            rel = plots.positive_finite(flow.da_norm / flow.da_norm[-1])
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
        fig.suptitle(f"untrained sigmoid MLPs, {_WIDTH} units per layer, Glorot init, cross-entropy on 256 digits",
                     fontsize=12)
    return fig


def _sci(x, digits=2):
    """``x`` in short scientific notation for a figure: 1.3e9, 4.2e-18 (no '+' and no leading zeros)."""
    mant, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mant}e{int(exp)}"


def _relu_flow(weight_scale, depth, dtype, width=128):
    """A ReLU MLP with weights ``weight_scale`` x He, probed with 128 standard-normal examples (seed 0)."""
    net = MLP(width, depth=depth, width=width, activation="relu", init="he_normal", weight_scale=weight_scale,
              n_outputs=None, seed=0, dtype=dtype)
    return probe_flow(net, batch_size=128, seed=0, spectral_norms=False)


@figure("weight_gradients_vanish_or_not")
def weight_gradients_vanish_or_not(sigmoid=None, relu=None):
    """The weight gradients ||dL/dW^l|| beside the back-propagated ||dL/da^l|| and the activations ||a^l||: they
    fall together in the 10-layer sigmoid net on the digits, but stay level in the 30-layer ReLU net with weights
    2x He, whose every layer gets about the same huge weight gradient (1x He drawn for scale)."""
    sigmoid = _sigmoid_digits_flow(sigmoid)
    relu = relu if relu is not None else relu_digits_flows((1.0, 2.0))
    big, base = relu[max(relu)], relu[min(relu)]
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12.0, 4.8))
    plot_layer_norms(sigmoid, ax=a1, quantities=("a", "da", "dW"), legend=False,
                     title=f"sigmoid, Glorot weights, {sigmoid.depth} layers: vanishing")
    plot_layer_norms(big, ax=a2, quantities=("a", "da", "dW"), legend=False,
                     title=f"ReLU, weights {max(relu):g}x He, {big.depth} layers: exploding")
    plot_layer_norms(base, ax=a2, quantities=("dW",), legend=False, suffix=f" at {min(relu):g}x He",
                     ls="--", mfc="white", lw=1.6)
    with plots.style():
        a1.set_ylim(1e-8, 1e4)
        a1.legend(loc="lower right", fontsize=9)
        # how much larger every layer's weight gradient is at the larger scale: one arrow, one factor range
        ratio = big.dW_norm / base.dW_norm
        k = int(0.6 * big.depth)
        a2.annotate("", xy=(k, big.dW_norm[k - 1]), xytext=(k, base.dW_norm[k - 1]), gid="dW_gap",
                    arrowprops=dict(arrowstyle="<->", color="0.3", lw=1.2, shrinkA=4, shrinkB=4))
        a2.text(k + 0.5, np.sqrt(big.dW_norm[k - 1] * base.dW_norm[k - 1]),
                f"x {_sci(np.nanmin(ratio))} to {_sci(np.nanmax(ratio))}\nin every layer", fontsize=9,
                va="center", color="0.2", gid="dW_gap_text", bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
        a2.set_ylim(1e-2, 1e15)
        a2.legend(loc="upper center", fontsize=9, ncols=2)
        fig.suptitle("untrained MLPs, cross-entropy on 256 digits: where do the weight gradients go?", fontsize=12)
    return fig


@figure("float32_overflow")
def float32_overflow(overflow=None):
    """A ReLU MLP with weights 10x the He scale in float32: the activations grow about 10x per layer until
    they pass float32's largest number, and from then on every value is inf or nan."""
    overflow = overflow if overflow is not None else _relu_flow(10.0, 50, np.float32)
    big = float(np.finfo(np.float32).max)
    fig, ax = plots.new_figure(1, 1, figsize=(9.0, 4.6))
    plot_layer_norms(overflow, ax=ax, legend=False,
                     title=f"ReLU, weights 10x He, {overflow.depth} layers x 128 units, in float32\n"
                           "standard-normal input and upstream gradient, 128 examples")
    with plots.style():
        # The norms sum 128 x 128 entries (in float64), so they can pass float32's limit a layer or two before
        # any single entry does: the dotted line marks the limit for one entry, not for the norm.
        ax.axhline(big, color="0.3", ls=":", lw=1, label=f"largest float32 number, {big:.2g} (one entry)",
                   gid="float32_max")
        ax.set_ylabel("norm over the batch (log scale, float64 sum)")
        ax.set_ylim(top=max(ax.get_ylim()[1], big * 1e14))  # room for the legend above the dotted line
        ax.legend(loc="upper left", fontsize=9)
        if not np.isfinite(overflow.da_norm).any():
            k = overflow.first_nonfinite or overflow.depth
            ax.text((k - 1) / overflow.depth - 0.02, 0.05,  # just left of the band (x limits 0.5 .. L + 0.5)
                    "no gradient drawn: the forward pass\noverflowed, so the loss and every\ngradient are inf or nan",
                    transform=ax.transAxes, fontsize=9, color="0.25", va="bottom", ha="right", gid="no_gradient")
    return fig


@figure("sigmoid_saturation_by_scale")
def sigmoid_saturation_by_scale(flows=None, scales=(1.0, 4.0, 16.0)):
    """A 10-layer sigmoid MLP on the digits with weights 1x, 4x and 16x Glorot: saturated units, rms slope and
    the gradient per layer."""
    if flows is None:
        flows = {s: _sigmoid_digits_flow(weight_scale=s) for s in scales}
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(12.5, 4.4))
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("blue", "orange", "vermillion", "green", "purple")]
        for (s, flow), c in zip(sorted(flows.items()), colors):
            lab = f"weights {s:g}x Glorot"
            a1.plot(flow.layer, 100 * flow.saturated_fraction, "s-", ms=4, color=c, label=lab, gid=f"saturated:{s:g}")
            a2.plot(flow.layer, flow.rms_slope, "o-", ms=4, color=c, label=lab, gid=f"slope:{s:g}")
            a3.plot(flow.layer, plots.positive_finite(flow.da_norm / flow.da_norm[-1]), "o-", ms=4, color=c,
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
        fig.suptitle(f"sigmoid MLP, {depth} hidden layers x {_WIDTH} units, untrained, 256 digits", fontsize=12)
    return fig


@figure("sigmoid_training_first_layers")
def sigmoid_training_first_layers(runs=None):
    """Sigmoid MLPs trained on the digits: test accuracy, how far each layer's weights moved, and the
    weight-gradient norm per layer during training."""
    runs = runs if runs is not None else compare_depths()
    labels = list(runs)
    deep_label = max(labels, key=lambda k: runs[k][0].depth)
    deep, change = runs[deep_label]
    fig, (a1, a2, a3) = plots.new_figure(1, 3, figsize=(13.0, 4.5), width_ratios=[1, 1, 1.15])
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue", "orange")]
        for (label, (h, _)), c in zip(runs.items(), colors):
            a1.plot(h.record_steps, 100 * plots.finite_or_nan(h.test_accuracy), "-", color=c, label=label, gid=f"acc:{label}")
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
        a2.set_title("how far each layer's weights moved", fontsize=11)
    plots.plot_layer_stat_over_steps(deep.record_steps, deep.grad_norm, ax=a3, label=r"$\|\partial L/\partial W^l\|$",
                                     title="weight-gradient norm per layer")
    a3.title.set_fontsize(11)
    with plots.style():
        cfg = deep.config
        fig.suptitle(f"{_WIDTH} units per layer, Glorot init, SGD lr {cfg['lr']:g}, batch {cfg['batch_size']}, "
                     f"{cfg['steps']} steps; middle and right: {deep_label}", fontsize=12)
    return fig


# ---- explorers
class GradientFlowExplorer(DeepNetworkExplorer):
    """The gradient on its way down a deep MLP, layer by layer, as depth, activation and weight scale change.

    Left panel: ||dL/da^l|| / ||dL/da^L|| for every hidden layer l (log scale),
    measured, beside what the slopes alone allow, (max phi')^(L-l), and the
    typical product of rms slope x weight gain of the layers crossed
    (:func:`gradient_ratio_curves`). An overflow is marked at
    the first hidden layer whose values were not finite. Right panel: the
    saturated units per layer (sigmoid and tanh; 0 for the others).

    The network is probed as in :class:`gradviz.widgets.DeepNetworkExplorer` (standard-normal
    input of ``width`` features and standard-normal upstream gradient at the
    last hidden layer, :func:`probe_flow`), in float32 by default,
    with the same weights (same seed, same cache).

    Controls: ``depth``, ``activation``, ``weight_scale`` (multiplies every
    initial weight; 0.1 to 30), ``width``, ``init``, ``seed``.

    Attributes
    ----------
    flow : GradientFlow
        What is drawn now.
    """

    figsize = (11.0, 4.4)
    batch_size = 128

    def __init__(self, canvas="auto", *, dtype=np.float32, max_depth=60, **values):
        super().__init__(canvas, dtype=dtype, max_depth=max_depth, **values)

    def make_controls(self):
        return {
            "depth": int_slider("depth (hidden layers)", 1, self.max_depth, 10),
            "activation": choice("activation", list(ACTIVATIONS), "sigmoid"),
            "weight_scale": log_slider("weight scale (x init)", 0.1, 30.0, 1.0),
            "width": values_slider("width (units per layer)", WIDTHS, 128),
            "init": choice("initializer", INIT_OPTIONS, "auto"),
            "seed": ipywidgets.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
        }

    def setup_figure(self, fig):
        self.ax_ratio, self.ax_sat = fig.subplots(1, 2, width_ratios=[2.1, 1])
        for ax in (self.ax_ratio, self.ax_sat):
            plots.tidy(ax)
        ax = self.ax_ratio
        self.lines = {}
        for name in ("measured", "slope_bound", "typical"):
            label, color, ls, marker = RATIO_CURVES[name]
            (self.lines[name],) = ax.plot([], [], ls=ls, marker=marker, color=color, label=label, gid=f"ratio:{name}",
                                          lw={"measured": 2.2, "typical": 2.6}.get(name, 1.6), ms=5,
                                          zorder={"measured": 3, "typical": 4}.get(name, 2))
        plots.fast_log_yaxis(ax)
        ax.set_ylabel("gradient relative to layer $L$ (log scale)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), fontsize=9, frameon=False, ncols=2)
        fa = self.ax_sat
        (self.lines["saturated"],) = fa.plot([], [], "s-", ms=4, color=plots.COLORS["saturated"],
                                             gid="fraction:saturated")
        fa.set_ylim(-3, 103)
        fa.set_ylabel("saturated units (%)")
        fa.set_title("saturated units (sigmoid, tanh)", fontsize=11)

    def blit_axes(self):
        return [self.ax_sat, self.ax_ratio]  # the ratio axis moves most often: last

    def blit_static(self):
        return [self.ax_sat.title]

    def compute(self, depth, width, activation, init, weight_scale, seed):
        """The :class:`GradientFlow` of these control values (cached)."""
        key = ("flow", depth, width, activation, init, float(weight_scale), seed)
        hit = self._results.get(key)
        if hit is not None:
            self.timings.update(build=0.0, probe=0.0, cached=True)
            return hit
        t0 = time.perf_counter()
        net = self.network(depth, width, activation, init, weight_scale, "off", seed)
        t1 = time.perf_counter()
        flow = probe_flow(net, batch_size=self.batch_size, seed=seed, spectral_norms=False)
        self.timings.update(build=t1 - t0, probe=time.perf_counter() - t1, cached=False)
        return self._results.put(key, flow)

    def refresh(self, depth, width, activation, init, weight_scale, seed):
        flow = self.compute(depth, width, activation, init, weight_scale, seed)
        curves = gradient_ratio_curves(flow)
        layers = np.arange(1, depth + 1)
        for name in ("measured", "slope_bound", "typical"):
            y = plots.positive_finite(curves[name])
            if name == "measured":
                y = plots.mask_overflowed(y, "da", flow.overflow)
            self.lines[name].set_data(layers, y)
        ax = self.ax_ratio
        plots.layer_axis(ax, depth)
        plots.mark_overflow(ax, flow.overflow, depth)
        self.autoscale(ax, x=False, sticky=True)
        measured = self.lines["measured"].get_ydata()
        message = ""
        if flow.first_nonfinite is not None and not np.isfinite(measured).any():
            message = (f"Overflow at hidden layer {flow.first_nonfinite}: no gradient to draw\n"
                       "(the loss and every gradient are inf or nan).")
        plots.explain(ax, message)
        if message:
            ax.set_ylim(1e-2, 1e2)
        init_name = resolve_init(init, activation)
        ax.set_title(f"{activation}, {init_name} x {weight_scale:.3g}: {depth} x {width} units, {self.dtype.name}",
                     fontsize=11)
        sat = plots.mask_overflowed(plots.finite_or_nan(flow.saturated_fraction) * 100, "a", flow.overflow)
        self.lines["saturated"].set_data(layers, sat)
        plots.layer_axis(self.ax_sat, depth)
        plots.mark_overflow(self.ax_sat, flow.overflow, depth, text=False)
        self.flow = flow
        self.readout.value = self._flow_readout(flow, self.dtype)

    @staticmethod
    def _flow_summary(flow, dtype):
        """(verdict, sentences) describing ``flow`` in plain words."""
        L = flow.depth
        if flow.first_nonfinite is not None:
            big = float(np.finfo(dtype).max)
            where = "forward" if flow.overflow.get("forward") is not None else "backward"
            return "overflow", [
                f"Overflow in the {where} pass at hidden layer {flow.first_nonfinite}: values passed the largest "
                f"{np.dtype(dtype).name} number ({big:.3g}) and became inf or nan.",
                "No error and no warning: the engine records the first layer that was not finite.",
            ]
        if L < 2:
            return "one layer", ["With one hidden layer the gradient crosses no layer: add depth."]
        r, f = flow.ratio("da"), flow.per_layer_factor("da")
        if r == 0:
            return "vanishes", ["The gradient reaching layer 1 underflowed to exactly 0: it vanished."]
        if r < 1e-2:
            verdict = "vanishes"
        elif r > 1e2:
            verdict = "explodes"
        elif r < 0.5:
            verdict = "shrinks slowly"
        elif r > 2:
            verdict = "grows slowly"
        else:
            verdict = "keeps its size"
        sb = flow.slope_bound
        return verdict, [
            f"Layer 1 receives {r:.3g} x the gradient of layer {L}: about x{f:.3g} per layer crossed, so the "
            f"gradient {verdict} on its way down.",
            f"The slopes alone allow at most (max phi')^{L - 1} = {sb:.3g}; the typical product of "
            f"rms slope x weight gain predicts {flow.typical_factor:.3g}.",
        ]

    @classmethod
    def _flow_readout(cls, flow, dtype):
        verdict, sentences = cls._flow_summary(flow, dtype)
        text = "<br>".join(html.escape(s) for s in sentences).replace("phi'", "&phi;'")
        return f"<b>{html.escape(verdict)}</b>: {text}"

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        init_name = resolve_init(v["init"], v["activation"])
        verdict, sentences = self._flow_summary(self.flow, self.dtype)
        head = (f"{v['activation']}, {init_name} x {v['weight_scale']:.3g}, {v['depth']} layers x {v['width']} units, "
                f"{self.dtype.name}: {verdict}")
        return "\n".join([head] + sentences)


_LOG10_TINY = float(np.log10(np.finfo(np.float64).smallest_subnormal))  # -323.3: below, a float64 is 0


def _pow10(log10_value):
    """10**log10_value as short text, exact even where a float64 would round it to 0 ('0.0197', '2.5e-434')."""
    if not np.isfinite(log10_value):
        return "0" if log10_value < 0 else "inf"
    if -4.0 <= log10_value < 4.0:
        return f"{10.0 ** log10_value:.3g}"
    e = int(np.floor(log10_value))
    mant = 10.0 ** (log10_value - e)
    if round(mant, 1) >= 10.0:
        mant, e = mant / 10.0, e + 1
    return f"{mant:.1f}e{e}"


def _sigma_text(z, digits=4):
    """sigma(z) as text that does not hide how close to 1 it is: '0.8808', '1 - 1.1e-07', '1 exactly (rounded)'."""
    s = float(sigmoid(z))
    if s in (0.0, 1.0):
        return f"{s:g} exactly (rounded)"
    if s > 1 - 10.0 ** -digits:
        return f"1 - {float(sigmoid(-z)):.2g}"  # 1 - sigma(z) = sigma(-z), without cancellation
    return f"{s:.{digits}g}"


class SaturationExplorer(Explorer):
    """The sigmoid at one input z: sigma(z), its slope sigma'(z), and what L such slopes multiply a gradient by.

    Left: sigma and sigma' for z around the chosen one, the saturated inputs shaded
    (slope below ``SATURATION_THRESHOLD`` x 1/4), dots at z. Right: the product of n
    slopes sigma'(z)^n for n = 1..50, what a gradient keeps after crossing n sigmoid
    units that all sit at z, beside the best case (1/4)^n; drawn from exact logarithms
    (:func:`gradviz.theory.sigmoid_slope_log10`), so it is right even where a float64
    would round the product to 0 (the shaded band). The readout compares z with
    z = 6 and with a far input ``z_far`` (1000 at first): sigma(6) against sigma(1000).

    Controls: ``z`` (-20 to 20), ``layers`` (L, 1 to 50), ``z_far``.
    """

    figsize = (9.6, 4.0)
    max_layers = 50

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "z": w.FloatSlider(value=2.0, min=-20.0, max=20.0, step=0.1, description="pre-activation z",
                               readout_format=".1f", style=CONTROL_STYLE),
            "layers": int_slider("layers L", 1, self.max_layers, 10),
            "z_far": w.FloatText(value=1000.0, description="far input z_far", style=CONTROL_STYLE),
        }

    def setup_figure(self, fig):
        self.ax_phi, self.ax_prod = fig.subplots(1, 2, width_ratios=[1, 1.1])
        for ax in (self.ax_phi, self.ax_prod):
            plots.tidy(ax)
        ax = self.ax_phi
        (self.phi,) = ax.plot([], [], color=plots.COLORS["phi"], gid="phi", label="σ(z)")
        (self.dphi,) = ax.plot([], [], color=plots.COLORS["dphi"], ls="--", gid="dphi", label="slope σ′(z)")
        (self.marks,) = ax.plot([], [], "o", color="black", ms=6, gid="marks", zorder=5)
        self.zline = ax.axvline(0.0, color="0.4", lw=0.8, ls=":", gid="z")
        ax.axhline(0.25, color="0.3", lw=0.8, ls=":", zorder=1)
        ax.text(0.98, 0.26, "largest slope 1/4", ha="right", va="bottom", fontsize=8, color="0.3",
                transform=mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData))
        ax.set_ylim(-0.05, 1.1)
        ax.set_xlabel("pre-activation z")
        ax.legend(loc="center left", fontsize=9)
        ax = self.ax_prod
        n = np.arange(1, self.max_layers + 1)
        (self.best,) = ax.plot(n, n * np.log10(0.25), "--", color="0.15", lw=1.4, gid="best",
                               label="best case: (1/4)ⁿ, every unit at z = 0")
        (self.prod,) = ax.plot([], [], color=plots.COLORS["dphi"], gid="product", label="σ′(z)ⁿ: every unit at z")
        (self.at_L,) = ax.plot([], [], "o", color="black", ms=6, gid="at_L", zorder=5)
        self.tiny = ax.axhspan(-1e7, _LOG10_TINY, color=plots.COLORS["shade"], lw=0, zorder=0, gid="underflow")
        ax.text(0.02, _LOG10_TINY, "below 4.9e-324, the smallest float64:\nstored as exactly 0", ha="left", va="top",
                fontsize=8, color="0.3", transform=mpl.transforms.blended_transform_factory(ax.transAxes, ax.transData),
                clip_on=True, gid="underflow_text")
        ax.set_xlim(0, self.max_layers + 1)
        ax.set_xlabel("number of sigmoid layers crossed, n")
        ax.set_ylabel("product of n slopes (log scale)")
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(nbins=6, integer=True))
        ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(
            lambda v, pos: "1" if v == 0 else f"10{str(int(round(v))).translate(plots.SUPERSCRIPT)}"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False, ncols=2)

    def state(self, z, layers, z_far):
        """What the explorer shows for these values, as a dict of plain numbers (no widgets involved)."""
        rows = {}
        for name, zz in (("z", float(z)), ("6", 6.0), ("far", float(z_far))):
            lg = float(sigmoid_slope_log10(zz)) if np.isfinite(zz) else float("-inf")
            with np.errstate(all="ignore"):
                rows[name] = dict(z=zz, sigma=float(sigmoid(zz)), slope=float(sigmoid_grad(zz)), log10_slope=lg,
                                  log10_product=int(layers) * lg)
        return rows

    def refresh(self, z, layers, z_far):
        rows = self.state(z, layers, z_far)
        r = rows["z"]
        half = max(10.0, abs(r["z"]) + 1.0)
        zz = np.linspace(-half, half, 801)
        self.phi.set_data(zz, sigmoid(zz))
        self.dphi.set_data(zz, sigmoid_grad(zz))
        self.marks.set_data([r["z"], r["z"]], [r["sigma"], r["slope"]])
        self.zline.set_xdata([r["z"], r["z"]])
        plots.shade_saturation(self.ax_phi, "sigmoid", (-half, half))
        self.ax_phi.set_xlim(-half, half)
        self.ax_phi.set_title(f"z = {r['z']:.1f}:  σ(z) = {_sigma_text(r['z'])},  σ′(z) = {r['slope']:.3g}",
                              fontsize=11)
        n = np.arange(1, self.max_layers + 1)
        self.prod.set_data(n, n * r["log10_slope"])
        self.at_L.set_data([layers], [r["log10_product"]])
        low = min(self.max_layers * r["log10_slope"], self.max_layers * np.log10(0.25))
        self.ax_prod.set_ylim(1.08 * low - 1.0, 2.0)
        self.ax_prod.set_title(f"product of L = {layers} slopes σ′(z)ᴸ = {_pow10(r['log10_product'])}",
                               fontsize=11)
        self.readout.value = self._readout(rows, layers)

    @staticmethod
    def _row_text(row, layers):
        """(sigma, slope, product) of one row as plain text, saying where float64 rounds."""
        sig = _sigma_text(row["z"], digits=6)
        slope = (f"0 in float64 (really {_pow10(row['log10_slope'])})" if row["slope"] == 0.0
                 else f"{row['slope']:.3g}")
        prod = _pow10(row["log10_product"])
        if row["log10_product"] < _LOG10_TINY:
            prod += " (0 in float64)"
        return sig, slope, prod

    def _readout(self, rows, layers):
        head = ("<tr><th style='padding-right:1em'>input z</th><th style='padding-right:1em'>σ(z)</th>"
                f"<th style='padding-right:1em'>slope σ′(z)</th><th>product of L = {layers} slopes</th></tr>")
        body = []
        for row in rows.values():
            sig, slope, prod = self._row_text(row, layers)
            body.append(f"<tr><td>{row['z']:g}</td><td>{html.escape(sig)}</td><td>{html.escape(slope)}</td>"
                        f"<td>{html.escape(prod)}</td></tr>")
        return f"<table style='border-collapse: collapse'>{head}{''.join(body)}</table>"

    def summary(self) -> str:
        """What the explorer shows now, as plain text (for printing in a notebook)."""
        v = self.values
        rows = self.state(**v)
        out = [f"L = {v['layers']} layers"]
        for row in rows.values():
            sig, slope, prod = self._row_text(row, v["layers"])
            out.append(f"z = {row['z']:g}: sigma = {sig}, slope = {slope}, product of L slopes = {prod}")
        return "\n".join(out)


# ---- exercises
def _explain_scaled(f, weight_scale=4.0):
    flow = _sigmoid_digits_flow(weight_scale=weight_scale)
    gain, slope = flow.weight_gain[1:], flow.rms_slope[1:]
    return (
        f"{weight_scale:g} times larger weights stretch a gradient by about {weight_scale:g} per layer (weight gain "
        f"{np.mean(gain):.3g}), while the larger pre-activations push units onto the flat tails, lowering the rms "
        f"slope to about {np.mean(slope):.3g}. Their product, about {np.mean(gain * slope):.3g}, is the factor per "
        f"layer; measured: {f:.3g}. It is far above 1/4: the slope bound does not bound the whole product once the "
        "weights are large.\nIn code: ch.digits_flow(depth=10, weight_scale=4)[1].per_layer_factor()"
    )


@exercise(
    "02.1",
    question="The slopes of 10 sigmoid layers can multiply a gradient by at most what number?",
    hint="Each sigmoid slope is at most sigma'(0) = 1/4, and the chain rule multiplies one slope per layer.",
    explain=lambda b: (
        "sigma'(z) = sigma(z) (1 - sigma(z)) is a product of two numbers that add up to 1, so it is at most "
        "1/2 x 1/2 = 1/4 (at z = 0). Ten such factors multiply to at most (1/4)^10 = "
        f"{b:.4g}: the slopes alone shrink the gradient about a million-fold.\n"
        "This bounds the slopes only: the weights W^l are factors of the product too, and large weights can "
        "outweigh it (section 6).\nIn code: gv.theory.slope_bound('sigmoid', 10)"
    ),
    rtol=0.02,
)
def slope_bound_of_ten_sigmoid_layers():
    """(1/4)^10: the most the slopes of 10 sigmoid layers can multiply a gradient by."""
    return slope_bound("sigmoid", 10)


@exercise(
    "02.2",
    question="A ReLU MLP of 60 layers x 128 units in float32, He init times 6 (seed 0), probed with "
    "standard-normal numbers: at which hidden layer does it overflow first?",
    hint="Each layer multiplies the activations by about 6. The largest float32 is about 3.4e38 = 10^38.5; the "
    "input's largest entries are about 4. Estimate, then measure: ch.probe_flow(net, batch_size=128)"
    ".first_nonfinite, or the explorer with explorer.update(activation='relu', weight_scale=6, depth=60).",
    explain=lambda k: (
        "With He init the ReLU layers keep the size of the activations on average; times 6, every layer "
        "multiplies it by about 6. Starting from entries of about 4 (the largest of 128 x 128 standard-normal "
        "numbers), float32's limit 3.4e38 is passed after about log(3.4e38 / 4) / log(6) = "
        f"{np.log(3.4e38 / 4) / np.log(6):.1f} layers. Measured: the first non-finite layer is {k}.\n"
        "In code: net = gv.network.MLP(128, depth=60, width=128, activation='relu', init='he_normal', "
        "weight_scale=6, n_outputs=None, seed=0, dtype=np.float32); "
        "ch.probe_flow(net, batch_size=128).first_nonfinite"
    ),
    rtol=0.0,
)
def first_overflow_layer():
    """The first non-finite hidden layer of 60 ReLU layers x 128 units, 6x He, float32."""
    return _relu_flow(6.0, 60, np.float32).first_nonfinite


@exercise(
    "02.3",
    question="The 10-layer sigmoid MLP on the digits with weights 4x Glorot: by what factor does the gradient "
    "shrink per layer crossed (the geometric mean from layer 10 down to layer 1)?",
    hint="Per layer, the gradient is multiplied by about (rms slope) x (weight gain). Read both from the table "
    "of section 6, or take the 9th root of the printed ratio between layer 1 and layer 10.",
    explain=_explain_scaled,
    rtol=0.05,
)
def per_layer_factor_at_4x_glorot():
    """The geometric-mean factor per layer of the chapter's sigmoid network with weights 4x Glorot."""
    return _sigmoid_digits_flow(weight_scale=4.0).per_layer_factor("da")


#: Where exercise 02.4 tries a learner's sigmoid: both far tails (where exp overflows), -40 (where
#: 1 - something cancels to 0) and the middle.
STABLE_SIGMOID_PROBE = np.array([-1000.0, -40.0, -5.0, -1.0, 0.0, 1.0, 5.0, 40.0, 1000.0])


def _check_stable_sigmoid(func):
    """Exercise 02.4's judge: ``func`` must give the sigmoid to 1e-9 relative accuracy on
    :data:`STABLE_SIGMOID_PROBE`, keep the shape of its input, and raise no floating-point warning."""
    z = STABLE_SIGMOID_PROBE.copy()
    want = sigmoid(z)
    try:
        with warnings.catch_warnings(), np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
            warnings.simplefilter("error", RuntimeWarning)
            got = func(z.copy())
            got2 = func(z.reshape(3, 3).copy())
    except Exception as err:  # the learner's code: say what went wrong instead of a traceback
        return False, f"on z = {np.array2string(z, separator=', ')} it raised {type(err).__name__}: {err}"
    try:
        got, got2 = np.asarray(got, dtype=float), np.asarray(got2, dtype=float)
    except (TypeError, ValueError):
        return False, f"it returned {type(got).__name__}, not numbers"
    if got.shape != z.shape or got2.shape != (3, 3):
        return False, f"it returned shape {got.shape} for an input of shape {z.shape}: keep the input's shape"
    bad = ~np.isclose(got, want, rtol=1e-9, atol=0.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return False, f"sigmoid({z[i]:g}) came out as {float(got[i])!r}; the right value is {float(want[i])!r}"
    return True, ""


@exercise(
    "02.4",
    question="Write my_sigmoid(z) for a numpy array z: it must never overflow (no RuntimeWarning for "
    "z = -1000) and stay accurate in both tails (sigmoid(-40) is about 4.25e-18, not 0).",
    hint="1 / (1 + exp(-z)) overflows when -z is large. Compute e = exp(-|z|), which is always between 0 and 1, "
    "and write the sigmoid with it on each side: 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0. np.where "
    "computes both of its branches everywhere, so a branch that can overflow still warns.",
    explain=lambda ref: (
        "For z >= 0, exp(-z) lies in (0, 1], so 1 / (1 + exp(-z)) is safe. For z < 0, multiply the top and bottom "
        "by exp(z): sigma(z) = exp(z) / (1 + exp(z)), and exp(z) lies in (0, 1) there. Both are e / ... with "
        "e = exp(-|z|), which never overflows. Formulas that subtract from 1, such as 1 - 1 / (1 + exp(z)) or "
        "(1 + tanh(z / 2)) / 2, lose the tiny values: at z = -40 they return 0 instead of 4.25e-18. "
        "gradviz's own sigmoid is written this way (gv.activations.sigmoid)."
    ),
    checker=_check_stable_sigmoid,
)
def stable_sigmoid(z):
    """The logistic sigmoid of an array, without overflow: the reference answer of exercise 02.4."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
