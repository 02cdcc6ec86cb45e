"""Chapter 02's experiments: the configured runs and measurements behind the notebook's results.

In order: a chain of one-unit layers written out factor by factor (:func:`scalar_chain`); the
per-layer norms, slopes and gains of one forward/backward pass (:func:`gradient_flow`,
:func:`probe_flow`, :func:`digits_flow`, :func:`depth_sweep`); how far training moves each layer's
weights (:func:`compare_depths`); large weights in a ReLU MLP (:func:`relu_digits_flows`,
:func:`layer_norms_table`, :func:`train_exploding`); and the chapter's networks, as the figures and
exercises use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ... import _live
from ..._validate import check_array_2d, check_choice, check_positive, check_positive_int, get_rng
from ...activations import ACTIVATIONS, SATURATION_THRESHOLD, get_activation, saturation_mask
from ...data import load_digits
from ...losses import softmax_cross_entropy
from ...network import MLP
from ...stats import digits_batch
from ...train import train


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
                  threshold: float = SATURATION_THRESHOLD, spectral_norms: bool = True,
                  param_grads: bool = True) -> GradientFlow:
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
    param_grads : bool
        Compute the weight gradients and ``dW_norm``; False leaves ``dW_norm`` NaN (an explorer that draws
        dL/da only: dW is a product of a wide layer's size per layer, whatever the batch).

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
    net.backward(dout, param_grads=param_grads, record=True)
    act_name = net.activation
    act = get_activation(act_name) if act_name in ACTIVATIONS else None
    L = net.depth
    an, arms, da, dz, dW, fro, slope, wn, wg, sat = (np.full(L, np.nan) for _ in range(10))
    with np.errstate(all="ignore"):
        for i, (block, rec) in enumerate(zip(net.blocks, net.records)):
            an[i], da[i], dz[i] = _norm(rec["a"]), _norm(rec["da"]), _norm(rec["dz"])
            if param_grads:
                dW[i] = _norm(rec["dW"])
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


def probe_flow(net: MLP, batch_size: int = 256, seed=0, spectral_norms: bool = True, rows=None,
               param_grads: bool = True) -> GradientFlow:
    """:func:`gradient_flow` for standard-normal input and upstream gradient, as :func:`gradviz.stats.probe` draws them.

    x ~ N(0, 1) of shape (batch_size, n_inputs), then dL/d(output) ~ N(0, 1),
    both from one generator seeded with ``seed`` (Glorot & Bengio 2010, sec. 4.2).
    ``rows`` (a slice, or None for all): pass only those examples of the batch (an explorer's quick
    first estimate); the examples are the same as in the whole batch. ``param_grads``: see :func:`gradient_flow`.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    rng = get_rng(seed)
    x = rng.standard_normal((batch_size, net.n_inputs)).astype(net.dtype)
    width = net.n_outputs if net.n_outputs is not None else (net.hidden[-1] if net.hidden else net.n_inputs)
    dout = rng.standard_normal((batch_size, width)).astype(net.dtype)
    if rows is not None:
        x, dout = x[rows], dout[rows]
    return gradient_flow(net, x, dout=dout, spectral_norms=spectral_norms, param_grads=param_grads)


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


class TrackedRun(NamedTuple):
    """One training run of :func:`train_tracking_weights`: how far each hidden layer's weights moved, and how.

    Attributes
    ----------
    history : History
    change : ndarray, shape (L,)
        ||W^l_end - W^l_start|| / ||W^l_start||, the net distance each layer moved (Frobenius norms;
        :func:`relative_weight_change`).
    path : ndarray, shape (L,)
        The lengths of all the layer's SGD steps added up, sum_t ||W^l_t - W^l_(t-1)||, over ||W^l_start||:
        the distance it would have moved had every step pointed the same way.
    """

    history: object
    change: np.ndarray
    path: np.ndarray

    @property
    def straightness(self) -> np.ndarray:
        """``change / path`` per layer, in (0, 1]: 1 when all the steps pointed one way and added up, near 0 when
        they changed direction from minibatch to minibatch and cancelled."""
        with np.errstate(all="ignore"):
            return self.change / self.path


def train_tracking_weights(net: MLP, data, **train_kwargs) -> TrackedRun:
    """:func:`gradviz.train.train` ``net`` and measure how far each hidden layer's weights moved.

    Parameters
    ----------
    net : MLP
        Trained in place.
    data : Dataset or tuple
        As for :func:`gradviz.train.train`.
    **train_kwargs
        Passed to :func:`gradviz.train.train` (lr, steps, batch_size, seed, progress, callback, ...).

    Returns
    -------
    :class:`TrackedRun`
        The history; per hidden layer l the relative change ||W^l_after - W^l_before|| / ||W^l_before||
        (where the gradient has vanished, it is tiny: the layer barely learned); and the summed lengths of
        the layer's steps, on the same scale.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a gradviz.network.MLP; got {type(net).__name__}")
    before, last = weight_snapshot(net), weight_snapshot(net)
    path = np.zeros(net.depth)
    then = train_kwargs.pop("callback", None)
    if then is not None and not callable(then):
        raise TypeError(f"callback must be a function of (step, steps) or None; got {then!r}")

    def add_steps(step, steps):
        with np.errstate(all="ignore"):
            for l, block in enumerate(net.blocks):
                W = block.dense.params["W"]
                path[l] += _norm(W - last[l])
                last[l][...] = W
        if then is not None:
            then(step, steps)

    history = train(net, data, callback=add_steps, **train_kwargs)
    with np.errstate(all="ignore"):
        path /= np.array([_norm(s) for s in before])
    return TrackedRun(history, relative_weight_change(net, before), path)


def compare_depths(depths=(3, 10), width: int = 64, activation: str = "sigmoid", init: str = "glorot_uniform",
                   lr: float = 0.5, steps: int = 200, batch_size: int = 64, seed=0, record_every: int = 20,
                   progress=False) -> dict:
    """Train one MLP per depth on the digits, the same way, and measure how far each layer moved.

    Each network is ``MLP(64, depth=d, width=width, activation=..., init=..., n_outputs=10, seed=seed)``,
    trained with :func:`train_tracking_weights` on :func:`gradviz.data.load_digits` (default split).

    Returns
    -------
    dict ``"<d> <activation> layers"`` -> :class:`TrackedRun` (history, relative weight change per layer, summed
    step lengths per layer)
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


@dataclass(frozen=True)
class FrozenFeatureProbe:
    """Result of :func:`frozen_feature_probe` for one depth.

    Attributes
    ----------
    depth : int
    spread : float
        How much the top hidden layer's output a^L differs from image to image
        before training: its standard deviation over the training images,
        averaged over the units.
    test_accuracy : float
        Share of the 450 test digits that a logistic regression trained on the
        frozen a^L classifies correctly, in [0, 1] (chance: about 0.1).
    """

    depth: int
    spread: float
    test_accuracy: float


def frozen_feature_probe(depths=(3, 10), width: int = 64, activation: str = "sigmoid", init: str = "glorot_uniform",
                         seed=0, C: float = 1.0) -> dict:
    """What could the top of an untrained network learn from? A classifier on its frozen top hidden layer.

    For each depth d, the untrained ``MLP(64, depth=d, width=width, activation=..., init=..., seed=seed)``
    (the network :func:`compare_depths` starts from) maps the digits
    (:func:`gradviz.data.load_digits`, default split) to its last hidden layer
    a^d. Those features are frozen, and a multinomial logistic regression
    (softmax on a linear layer, the network's own output layer) is fitted on
    them to convergence with scikit-learn's ``LogisticRegression(C=C)``
    (lbfgs). Its test accuracy tells how much of the image still reaches
    the top: if a^d is practically the same for every image, no classifier on
    top of it can beat chance, whatever its learning rate or budget.

    Parameters
    ----------
    depths : iterable of int >= 1
    width : int >= 1
    activation, init : str
    seed : int
    C : float > 0
        Inverse strength of the L2 penalty of the logistic regression.

    Returns
    -------
    dict depth -> FrozenFeatureProbe

    Raises
    ------
    ValueError
        A non-positive depth, width or C, or what :class:`gradviz.network.MLP` raises.
    """
    from sklearn.linear_model import LogisticRegression

    C = check_positive("C", C)
    data = load_digits(seed=0)
    out = {}
    for d in depths:
        d = check_positive_int("depth", d)
        net = MLP(data.n_features, depth=d, width=check_positive_int("width", width), activation=activation,
                  init=init, n_outputs=data.n_classes, seed=seed)
        features = []
        for X in (data.X_train, data.X_test):
            net.forward(X, record=True)
            features.append(net.records[-1]["a"].copy())
        clf = LogisticRegression(C=C, max_iter=5000).fit(features[0], data.y_train)
        out[d] = FrozenFeatureProbe(depth=d, spread=float(features[0].std(axis=0).mean()),
                                    test_accuracy=float(clf.score(features[1], data.y_test)))
    return out


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


# -- the results the figures and exercises draw on
# The chapter's network: sigmoid, 10 hidden layers x 64 units, Glorot init, seed 0 (digits_flow's defaults).
_DEPTH, _WIDTH = 10, 64


def _sigmoid_digits_flow(flow=None, **kwargs):
    """``flow`` if given, else the GradientFlow of the chapter's sigmoid net on the digits (``kwargs`` change it)."""
    if flow is not None:
        return flow
    kw = dict(depth=_DEPTH, width=_WIDTH, activation="sigmoid", init="glorot_uniform", seed=0)
    kw.update(kwargs)
    return digits_flow(**kw)[1]


def _relu_flow(weight_scale, depth, dtype, width=128):
    """A ReLU MLP with weights ``weight_scale`` x He, probed with 128 standard-normal examples (seed 0)."""
    net = MLP(width, depth=depth, width=width, activation="relu", init="he_normal", weight_scale=weight_scale,
              n_outputs=None, seed=0, dtype=dtype)
    return probe_flow(net, batch_size=128, seed=0, spectral_norms=False)
