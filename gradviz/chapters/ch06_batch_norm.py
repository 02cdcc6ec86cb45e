"""Chapter 06: batch normalization (``notebooks/06_batch_normalization.ipynb``).

The chapter teaches batch normalization (Ioffe & Szegedy 2015) step by step:
the four steps of Algorithm 1 on a small batch (mean, biased variance,
normalize, scale by gamma and shift by beta); the two trainable and two
non-trainable vectors of a layer; the moving averages used at inference and
the two opposite meanings of ``momentum`` (Keras 0.99 = weight kept, PyTorch
0.1 = weight of the new batch); training mode against inference mode, and why
a single example cannot be normalized with its own statistics; a batch-norm
layer placed first instead of standardizing the data; and a deep sigmoid
network that learns only with batch norm, over a wide range of init scales
and learning rates.

The notebook imports this module as ``ch``::

    import gradviz as gv
    from gradviz.chapters import ch06_batch_norm as ch

The layer itself is :class:`gradviz.layers.BatchNorm`; the network with a
batch-norm layer first is an :class:`gradviz.network.MLP` built with
``batch_norm=BatchNormOptions(hidden=None, inputs=True)`` and the
raw digits are :func:`gradviz.data.load_digits_raw` (chapter 07 uses both).
"""

from __future__ import annotations

import contextlib
import functools
import html
import math
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from tqdm.auto import tqdm

from .. import plots
from .._validate import (check_array_2d, check_finite, check_nonneg_int, check_positive, check_positive_int,
                         check_probability, get_rng)
from ..data import digits, load_digits, load_digits_raw
from ..exercises import exercise
from ..figures import figure
from ..layers import BatchNorm
from ..network import MLP, BatchNormOptions
from ..plots import OKABE_ITO, _axes, _CYCLE, _find, _finite, _smooth, _styled, _tidy, new_figure
from ..train import one_blas_thread, train
from ..widgets import _LRU, _STYLE, Explorer, _values_slider, _w, int_slider

__all__ = [
    # experiments
    "batch_norm_steps", "parameter_counts", "pytorch_momentum", "remaining_fraction", "steps_to_forget",
    "bn_run", "batch_spread", "bn_network", "accuracy_by_mode", "single_example_predictions", "raw_input_runs",
    "bn_sweep",
    # figures
    "bn_deep_sigmoid_training", "bn_raw_pixels", "bn_init_scale_and_lr_sweep",
    # explorers
    "MomentumExplorer",
]


# ---- experiments

# -- the algorithm step by step
@dataclass
class BatchNormSteps:
    """The intermediate results of batch normalization on one batch (Ioffe & Szegedy 2015, Algorithm 1).

    Attributes
    ----------
    x : ndarray (m, n)
        The batch: m examples, n features.
    mean : ndarray (n,)
        Batch mean per feature, mu_B = (1/m) sum_i x_i.
    var : ndarray (n,)
        Biased batch variance per feature, sigma_B^2 = (1/m) sum_i (x_i - mu_B)^2 (divides by m, not m - 1).
    x_hat : ndarray (m, n)
        Normalised batch, (x - mu_B) / sqrt(sigma_B^2 + eps).
    gamma, beta : ndarray (n,)
        Scale and shift.
    y : ndarray (m, n)
        Output, gamma * x_hat + beta.
    eps : float
    layer_y : ndarray (m, n)
        What :class:`gradviz.layers.BatchNorm` returns for the same batch,
        gamma, beta and eps in training mode (equal to ``y`` to rounding).
    """

    x: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    x_hat: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    y: np.ndarray
    eps: float
    layer_y: np.ndarray

    @property
    def max_difference(self) -> float:
        """max |y - layer_y|: how far the step-by-step result is from the layer's."""
        return float(np.max(np.abs(self.y - self.layer_y)))


def batch_norm_steps(x, gamma=None, beta=None, eps: float = 1e-3) -> BatchNormSteps:
    """Batch-normalise ``x`` step by step, as in Algorithm 1 of Ioffe & Szegedy (2015), and with the layer.

    Steps: mu_B = mean over the batch; sigma_B^2 = biased variance over the
    batch; x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps); y = gamma * x_hat + beta.
    Each feature (column) is normalised on its own. The same batch is also
    passed through a :class:`gradviz.layers.BatchNorm` in training mode
    (``layer_y``), so the two can be compared.

    Parameters
    ----------
    x : array (m, n), m >= 2
        A batch of m examples with n features.
    gamma, beta : array (n,) or None
        Scale and shift; None: the layer's initial values (ones and zeros).
    eps : float > 0
        Added to the variance (Keras's default 1e-3, as the layer).

    Returns
    -------
    BatchNormSteps

    Raises
    ------
    ValueError
        If ``x`` is not 2-D with at least 2 rows, or gamma/beta do not have n entries.
    """
    x = check_array_2d("x", x).astype(np.float64, copy=False)
    m, n = x.shape
    if m < 2:
        raise ValueError(f"x must hold at least 2 examples (rows) to have batch statistics; got shape {x.shape}")
    gamma = np.ones(n) if gamma is None else np.asarray(gamma, dtype=np.float64)
    beta = np.zeros(n) if beta is None else np.asarray(beta, dtype=np.float64)
    for name, v in (("gamma", gamma), ("beta", beta)):
        if v.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), one entry per feature of x; got {v.shape}")
    mean = x.sum(axis=0) / m
    var = ((x - mean) ** 2).sum(axis=0) / m
    x_hat = (x - mean) / np.sqrt(var + eps)
    y = gamma * x_hat + beta
    layer = BatchNorm(n, eps=eps)
    layer.params["gamma"][:] = gamma
    layer.params["beta"][:] = beta
    layer_y = layer.forward(x, training=True)
    return BatchNormSteps(x=x, mean=mean, var=var, x_hat=x_hat, gamma=gamma, beta=beta, y=y, eps=float(eps),
                          layer_y=layer_y)


# -- four vectors per layer
def parameter_counts(obj) -> dict:
    """How many numbers a layer or a network learns, split as Keras's ``model.summary()`` does.

    Parameters
    ----------
    obj : Layer, or anything with ``.layers`` (an MLP)

    Returns
    -------
    dict
        ``trainable``: entries of every ``params`` array (updated by gradient
        descent); ``non_trainable``: entries of every ``state`` array (batch
        norm's moving averages, updated by the forward pass in training mode).

    Raises
    ------
    TypeError
        If ``obj`` is neither a layer nor a network of layers.
    """
    layers = obj.layers if hasattr(obj, "layers") and not hasattr(obj, "params") else [obj]
    if not all(hasattr(ly, "params") and hasattr(ly, "state") for ly in layers):
        raise TypeError(f"obj must be a layer or a network of layers; got {type(obj).__name__}")
    return {"trainable": int(sum(p.size for ly in layers for p in ly.params.values())),
            "non_trainable": int(sum(s.size for ly in layers for s in ly.state.values()))}


# -- moving averages: one formula, two conventions
@dataclass
class MovingAverageRun:
    """The moving statistics of a one-feature batch-norm layer fed batches from N(true_mean, true_var).

    Attributes
    ----------
    step : int array (steps + 1,)
        0 (before any batch), 1, ..., steps.
    batch_mean, batch_var : float arrays (steps,)
        Mean and biased variance of the batch of step t (index t - 1).
    running_mean, running_var : float arrays (steps + 1,)
        The layer's moving averages after t batches (index 0: the initial values 0 and 1).
    remaining : float array (steps + 1,)
        momentum ** t: the weight the initial value still has after t updates.
    momentum : float
        Keras convention (weight kept by the old value).
    true_mean, true_var : float
        What the batches were drawn from.
    batch_size : int
    """

    step: np.ndarray
    batch_mean: np.ndarray
    batch_var: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    remaining: np.ndarray
    momentum: float
    true_mean: float
    true_var: float
    batch_size: int

    @property
    def pytorch_momentum(self) -> float:
        """The same update in PyTorch's convention (weight of the new batch)."""
        return pytorch_momentum(self.momentum)


def moving_average_run(momentum: float = 0.99, steps: int = 200, true_mean: float = 3.0, true_std: float = 2.0,
                       batch_size: int = 32, seed=0) -> MovingAverageRun:
    """Feed ``steps`` batches of one feature into a :class:`gradviz.layers.BatchNorm` and record its moving averages.

    Every batch holds ``batch_size`` numbers drawn from N(true_mean, true_std^2).
    After each batch (training mode) the layer updates, in the Keras convention,
    ``running = momentum * running + (1 - momentum) * batch statistic``,
    starting from running_mean = 0 and running_var = 1.

    Parameters
    ----------
    momentum : float in [0, 1)
        Keras convention (Keras's default 0.99; PyTorch's default 0.1 is 0.9 here).
    steps : int >= 1
    true_mean : float
    true_std : float > 0
    batch_size : int >= 2
    seed : int or Generator
        The same seed draws the same batches for every momentum, so runs can be compared.

    Returns
    -------
    MovingAverageRun

    Raises
    ------
    ValueError
        For a momentum outside [0, 1), a non-positive size, or batch_size < 2.
    """
    momentum = check_probability("momentum", momentum)
    steps = check_positive_int("steps", steps)
    true_mean = check_finite("true_mean", true_mean)
    true_std = check_positive("true_std", true_std)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (batch statistics of one example are useless); got {batch_size}")
    rng = get_rng(seed)
    batches = true_mean + true_std * rng.standard_normal((steps, batch_size, 1))
    layer = BatchNorm(1, momentum=momentum)
    rm, rv = [layer.state["running_mean"][0]], [layer.state["running_var"][0]]
    for b in batches:
        layer.forward(b, training=True)
        rm.append(layer.state["running_mean"][0])
        rv.append(layer.state["running_var"][0])
    t = np.arange(steps + 1)
    return MovingAverageRun(step=t, batch_mean=batches.mean(axis=1)[:, 0], batch_var=batches.var(axis=1)[:, 0],
                            running_mean=np.array(rm), running_var=np.array(rv), remaining=momentum ** t,
                            momentum=momentum, true_mean=true_mean, true_var=true_std ** 2, batch_size=batch_size)


def running_means(batch_means, momentum: float, pytorch: bool = False) -> np.ndarray:
    """The running mean of a one-feature batch-norm layer after batches with the given means.

    Each batch is the pair (m - 1, m + 1), whose mean is m, passed through a
    :class:`gradviz.layers.BatchNorm` in training mode; the layer starts from
    running_mean = 0.

    Parameters
    ----------
    batch_means : sequence of float
        The mean of each batch, in order.
    momentum : float
        Keras convention (weight kept), or PyTorch's (weight of the new batch) with ``pytorch=True``.
    pytorch : bool
        Build the layer with :meth:`gradviz.layers.BatchNorm.from_pytorch`.

    Returns
    -------
    ndarray (len(batch_means) + 1,)
        The running mean before any batch (0) and after each one.

    Raises
    ------
    ValueError
        If ``momentum`` is outside the range the layer accepts.
    """
    means = np.asarray(batch_means, dtype=np.float64).reshape(-1)
    layer = BatchNorm.from_pytorch(1, momentum) if pytorch else BatchNorm(1, momentum)
    out = [layer.state["running_mean"][0]]
    for m in means:
        layer.forward(np.array([[m - 1.0], [m + 1.0]]), training=True)
        out.append(layer.state["running_mean"][0])
    return np.array(out)


def remaining_fraction(momentum: float, steps: int) -> float:
    """momentum ** steps: the weight the initial value keeps in a moving average after ``steps`` updates.

    Keras convention (``momentum`` is the weight the old average keeps).
    E.g. 0.99 ** 100 = 0.366: after 100 steps, 37% of the initial running
    statistic remain.

    Raises
    ------
    ValueError
        If ``momentum`` is outside [0, 1) or ``steps`` is not an integer >= 0.
    """
    return float(check_probability("momentum", momentum) ** check_nonneg_int("steps", steps))


def steps_to_forget(momentum: float, fraction: float = 0.01) -> int:
    """The fewest updates after which the initial value weighs at most ``fraction``: min t with momentum**t <= fraction.

    Keras convention. For momentum 0.99 and 1%: 459 steps; for 0.9: 44 steps.

    Raises
    ------
    ValueError
        If ``momentum`` is outside [0, 1) or ``fraction`` outside (0, 1].
    """
    momentum = check_probability("momentum", momentum)
    fraction = check_probability("fraction", fraction, inclusive_low=False, inclusive_high=True)
    if momentum == 0.0:
        return 1
    t = max(0, math.ceil(math.log(fraction) / math.log(momentum)))
    while t > 0 and momentum ** (t - 1) <= fraction:  # guard against rounding in the logarithms
        t -= 1
    while momentum ** t > fraction:
        t += 1
    return t


def pytorch_momentum(keras_momentum: float) -> float:
    """PyTorch's ``momentum`` (weight of the new batch) for a Keras ``momentum`` (weight kept): 1 - keras_momentum.

    Raises
    ------
    ValueError
        If ``keras_momentum`` is outside [0, 1).
    """
    return 1.0 - check_probability("keras_momentum", keras_momentum)


def keras_momentum(pytorch_momentum: float) -> float:
    """Keras's ``momentum`` (weight kept) for a PyTorch ``momentum`` (weight of the new batch): 1 - pytorch_momentum.

    Raises
    ------
    ValueError
        If ``pytorch_momentum`` is outside (0, 1].
    """
    return 1.0 - check_probability("pytorch_momentum", pytorch_momentum, inclusive_low=False, inclusive_high=True)


# -- the chapter's deep sigmoid network, with and without batch norm
#: The chapter's deep sigmoid network: hidden layers, activation, Glorot uniform init.
BN_NET = dict(depth=6, width=32, activation="sigmoid", init="glorot_uniform")

#: ... and how it is trained: plain SGD, short runs.
BN_TRAIN = dict(lr=0.5, steps=100, batch_size=32)


def bn_network(batch_norm: bool = True, weight_scale: float = 1.0, momentum: float = 0.9, seed=0,
               n_inputs: int = 64, n_outputs: int = 10) -> MLP:
    """The chapter's deep sigmoid MLP (:data:`BN_NET`), with batch norm before every activation or without.

    ``weight_scale`` multiplies the initial weights of the hidden layers only;
    the output layer keeps its Glorot init (the one it has with
    ``weight_scale=1``, same seed), because batch norm sits in the hidden
    layers and the sweep asks what it does there.

    Parameters
    ----------
    batch_norm : bool
        Dense -> BatchNorm -> sigmoid in every hidden layer (Ioffe & Szegedy 2015 put it before the
        nonlinearity, sec. 3.2), or Dense -> sigmoid.
    weight_scale : float > 0
    momentum : float in [0, 1)
        Of the moving averages, Keras convention (0.9 here: see :func:`bn_run`).
    seed : int
    n_inputs, n_outputs : int

    Returns
    -------
    MLP
        Inputs (batch, n_inputs), logits (batch, n_outputs).

    Raises
    ------
    ValueError
        If ``weight_scale`` is not > 0, or as :class:`gradviz.network.MLP`.
    """
    weight_scale = check_positive("weight_scale", weight_scale)
    options = BatchNormOptions(hidden="before" if batch_norm else None, momentum=momentum)

    def build(scale):
        return MLP(n_inputs, depth=BN_NET["depth"], width=BN_NET["width"], activation=BN_NET["activation"],
                   init=BN_NET["init"], weight_scale=scale, batch_norm=options, n_outputs=n_outputs, seed=seed)

    net = build(weight_scale)
    # The output layer exactly as MLP(weight_scale=1) draws it (each layer has its own random stream).
    net.output = build(1.0).output
    return net


@functools.lru_cache(maxsize=64)
def _bn_run_cached(batch_norm, weight_scale, lr, momentum, steps, batch_size, seed, record_every):
    net = bn_network(batch_norm, weight_scale, momentum, seed)
    with one_blas_thread():
        hist = train(net, digits(seed=0), lr=lr, steps=steps, batch_size=batch_size, seed=seed,
                     record_every=record_every, progress=False)
    return net, hist


def bn_run(batch_norm: bool = True, weight_scale: float = 1.0, lr: float = BN_TRAIN["lr"], momentum: float = 0.9,
           steps: int = BN_TRAIN["steps"], batch_size: int = BN_TRAIN["batch_size"], seed: int = 0,
           record_every: int | None = None):
    """Train :func:`bn_network` on the digits (:func:`gradviz.data.load_digits`, seed 0); cached.

    The moving averages use ``momentum`` 0.9 by default, not Keras's 0.99: a
    run of 100 steps leaves 0.99**100 = 37% of the initial running statistics
    (mean 0, variance 1) in the averages, and inference with them fails, while
    0.9**100 is 3e-5 (see :func:`remaining_fraction`).

    Parameters
    ----------
    batch_norm, weight_scale, momentum
        As :func:`bn_network`.
    lr, steps, batch_size, seed
        As :func:`gradviz.train.train` (``seed`` also seeds the network).
    record_every : int or None
        As :func:`gradviz.train.train`; None: ``steps``, i.e. accuracy and layer
        statistics only at the start and the end (each record evaluates the
        whole data set, which costs more than the training steps in between);
        the minibatch loss is in ``History.loss`` at every step anyway.

    Returns
    -------
    (MLP, History)
        The trained network and its history. Results are cached by their
        arguments (a repeated call returns the same objects at once): treat
        them as read-only; ``bn_run.cache_clear()`` empties the cache.

    Raises
    ------
    ValueError
        For a non-positive weight_scale, lr, steps, batch_size or record_every,
        or a momentum outside [0, 1).
    """
    key = (bool(batch_norm), float(check_positive("weight_scale", weight_scale)), float(check_positive("lr", lr)),
           float(check_probability("momentum", momentum)), check_positive_int("steps", steps),
           check_positive_int("batch_size", batch_size), int(seed))
    key += (key[4] if record_every is None else check_positive_int("record_every", record_every),)
    return _bn_run_cached(*key)


bn_run.cache_clear = _bn_run_cached.cache_clear
bn_run.cache_info = _bn_run_cached.cache_info


# -- training mode and inference mode
@contextlib.contextmanager
def kept_moving_statistics(net):
    """Context manager: forward passes inside it may run in training mode without changing the
    network's moving statistics (batch norm's ``state``), which are put back on exit.

    ``net`` is a layer or anything with ``.layers`` (an MLP); it is yielded.
    """
    layers = net.layers if hasattr(net, "layers") else [net]
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in layers if getattr(ly, "state", None)]
    try:
        yield net
    finally:
        for ly, state in saved:
            ly.state.update(state)


@dataclass
class ModeAccuracy:
    """Accuracy of a batch-norm network in its two modes.

    Attributes
    ----------
    inference : float
        Fraction correct in inference mode (every batch-norm layer uses its moving averages).
    batch_statistics : float
        Fraction correct in training mode, each batch of ``batch_size`` examples
        normalised with its own statistics (the moving averages are left unchanged).
    batch_size : int
    """

    inference: float
    batch_statistics: float
    batch_size: int


def accuracy_by_mode(net: MLP, X, y, batch_size: int | None = None) -> ModeAccuracy:
    """Classify ``X`` in inference mode and in training mode (batch statistics), without changing ``net``.

    Parameters
    ----------
    net : MLP (with an output layer)
    X : array (n, n_inputs); y : int array (n,)
    batch_size : int >= 2 or None
        Size of the batches whose statistics normalise them in training mode;
        None: all of X at once. A last batch of one example joins the one before.

    Returns
    -------
    ModeAccuracy

    Raises
    ------
    ValueError
        If X does not have ``net.n_inputs`` columns, y does not have one label
        per row of X, or batch_size < 2.
    """
    X = check_array_2d("X", X, net.n_inputs)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},); got {y.shape}")
    n = X.shape[0]
    batch_size = n if batch_size is None else check_positive_int("batch_size", batch_size)
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for batch statistics; got {batch_size}")
    inference = float(np.mean(net.predict(X) == y))
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
    bounds = list(zip(starts, starts[1:] + [n]))
    with kept_moving_statistics(net), np.errstate(all="ignore"):
        pred = np.concatenate([np.argmax(net.forward(X[a:b], training=True), axis=1) for a, b in bounds])
    return ModeAccuracy(inference=inference, batch_statistics=float(np.mean(pred == y)), batch_size=batch_size)


@dataclass
class SingleExamplePredictions:
    """Predictions for examples classified one at a time.

    Attributes
    ----------
    inference : int array (n,)
        Class predicted for each example alone, in inference mode (moving averages).
    own_statistics : int array (n,)
        Class predicted when each example is normalised with its own
        statistics: training mode on a batch of two copies of it (a batch of
        one is refused), moving averages left unchanged.
    own_statistics_logits : float array (n, n_outputs)
        The logits behind ``own_statistics`` (first copy).
    labels : int array (n,) or None
    """

    inference: np.ndarray
    own_statistics: np.ndarray
    own_statistics_logits: np.ndarray
    labels: np.ndarray | None = None

    @property
    def logit_spread(self) -> float:
        """Largest difference between the own-statistics logits of any two examples (0: same output for all)."""
        L = self.own_statistics_logits
        return float(np.max(L.max(axis=0) - L.min(axis=0)))


def single_example_predictions(net: MLP, X, y=None) -> SingleExamplePredictions:
    """Classify each row of ``X`` on its own: with the moving averages, and with its own batch statistics.

    With its own statistics every batch-norm layer sees a batch whose rows are
    equal, so the batch variance is 0 and x_hat = 0 / sqrt(eps) = 0 for every
    feature: the layer outputs beta whatever the input, and so does everything
    after it. The network's moving statistics are left as they were.

    Parameters
    ----------
    net : MLP with batch norm (in its hidden layers or on its inputs)
    X : array (n, n_inputs)
    y : int array (n,) or None
        Labels, kept for printing.

    Returns
    -------
    SingleExamplePredictions

    Raises
    ------
    ValueError
        If X is not 2-D with ``net.n_inputs`` columns.
    """
    X = check_array_2d("X", X, net.n_inputs)
    inference = net.predict(X)
    with kept_moving_statistics(net), np.errstate(all="ignore"):
        logits = np.stack([net.forward(np.repeat(X[i:i + 1], 2, axis=0), training=True)[0] for i in range(len(X))])
    return SingleExamplePredictions(inference=inference, own_statistics=np.argmax(logits, axis=1),
                                    own_statistics_logits=logits, labels=None if y is None else np.asarray(y))


def batch_spread(net: MLP, X) -> np.ndarray:
    """How much the examples of a batch differ at each hidden layer, before any batch norm there.

    For hidden layer l: the standard deviation over the batch of each unit's
    Dense output h^{l-1} W^l + b^l, averaged over the units. Where it is tiny,
    every example produces nearly the same value: the layer passes on almost
    nothing that tells the examples apart. A batch-norm layer placed after the
    Dense divides by (nearly) this number. The forward pass runs in training
    mode; the network's moving statistics are left unchanged.

    Parameters
    ----------
    net : MLP
    X : array (batch, n_inputs), batch >= 2

    Returns
    -------
    ndarray (L,)
        Index 0 is hidden layer 1.

    Raises
    ------
    ValueError
        If X does not have ``net.n_inputs`` columns or has fewer than 2 rows.
    """
    X = check_array_2d("X", X, net.n_inputs)
    if X.shape[0] < 2:
        raise ValueError(f"X must hold at least 2 examples to have a spread; got shape {X.shape}")
    out = []
    with kept_moving_statistics(net), np.errstate(all="ignore"):
        h = X.astype(net.dtype, copy=False)
        if net.input_bn is not None:
            h = net.input_bn.forward(h, training=True)
        for block in net.blocks:
            z = block.dense.forward(h, training=True)
            out.append(float(np.mean(z.std(axis=0))))
            h = block.forward(h, training=True)
    return np.array(out)


# -- batch norm as the first layer
def raw_input_runs(lr: float = 0.1, steps: int = 100, batch_size: int = 32, hidden=(32, 32),
                   activation: str = "relu", momentum: float = 0.9, seed: int = 0, record_every: int = 10) -> dict:
    """The same small network trained on standardized pixels, on raw pixels (0..16), and on raw pixels
    with a batch-norm layer first (``BatchNormOptions(hidden=None, inputs=True)``).

    Parameters
    ----------
    lr, steps, batch_size, seed, record_every
        As :func:`gradviz.train.train`; the same for the three runs.
    hidden : sequence of int
    activation : str
        With its recommended init (He for ReLU).
    momentum : float
        Of the input layer's moving averages (Keras convention).

    Returns
    -------
    dict
        label -> (network, History) for ``'standardized pixels'``, ``'raw pixels'`` and
        ``'raw pixels, batch norm first'``.

    Raises
    ------
    ValueError
        As :class:`gradviz.network.MLP` and :func:`gradviz.train.train`.
    """
    std, raw = load_digits(seed=0), load_digits_raw(seed=0)
    runs = {}
    with one_blas_thread():
        for label, inputs_bn, data in (("standardized pixels", False, std), ("raw pixels", False, raw),
                                       ("raw pixels, batch norm first", True, raw)):
            net = MLP(data.n_features, hidden=tuple(hidden), activation=activation,
                      batch_norm=BatchNormOptions(hidden=None, inputs=inputs_bn, momentum=momentum),
                      n_outputs=data.n_classes, seed=seed)
            runs[label] = (net, train(net, data, lr=lr, steps=steps, batch_size=batch_size, seed=seed,
                                      record_every=record_every, progress=False))
    return runs


# -- init scale and learning rate
@dataclass(eq=False)
class BatchNormSweep:
    """Test accuracy of the chapter's network without and with batch norm, over init scales and learning rates.

    Attributes
    ----------
    scales : float array (S,)
        Weight scales of the first sweep, run at learning rate ``lr``.
    scale_accuracy : float array (2, S)
        Final test accuracy (inference mode), row 0 without batch norm, row 1 with it.
    lrs : float array (R,)
        Learning rates of the second sweep, run at weight scale ``weight_scale``.
    lr_accuracy : float array (2, R)
        Same, over the learning rates.
    lr, weight_scale : float
        The value held fixed in the other sweep.
    diverged : dict
        (batch_norm, weight_scale, lr) -> True for runs that stopped on a non-finite loss.
    histories : dict
        (batch_norm, weight_scale, lr) -> History of every run.
    steps, batch_size : int
    """

    scales: np.ndarray
    scale_accuracy: np.ndarray
    lrs: np.ndarray
    lr_accuracy: np.ndarray
    lr: float
    weight_scale: float
    diverged: dict
    histories: dict
    steps: int
    batch_size: int

    def table(self) -> str:
        """Both sweeps as plain-text tables (accuracy in %)."""
        def rows(name, xs, acc):
            head = f"{name:>14} " + " ".join(f"{x:>7.3g}" for x in xs)
            lines = [head]
            for label, a in zip(("without BN", "with BN"), acc):
                lines.append(f"{label:>14} " + " ".join(f"{100 * v:>6.0f}%" for v in a))
            return "\n".join(lines)

        return (f"test accuracy after {self.steps} steps, learning rate {self.lr:g}:\n"
                + rows("weight scale", self.scales, self.scale_accuracy)
                + f"\n\ntest accuracy after {self.steps} steps, weight scale {self.weight_scale:g}:\n"
                + rows("learning rate", self.lrs, self.lr_accuracy))


def bn_sweep(scales=(0.1, 0.3, 1.0, 3.0, 10.0), lrs=(0.1, 0.5, 2.0, 8.0), *, lr: float = BN_TRAIN["lr"],
             weight_scale: float = 1.0, momentum: float = 0.9, steps: int = BN_TRAIN["steps"],
             batch_size: int = BN_TRAIN["batch_size"], seed: int = 0, progress=False) -> BatchNormSweep:
    """Train the chapter's network without and with batch norm over init scales (at ``lr``) and learning
    rates (at ``weight_scale``), via :func:`bn_run` (so runs already done are not repeated).

    Parameters
    ----------
    scales : sequence of float > 0
    lrs : sequence of float > 0
    lr, weight_scale : float > 0
        Held fixed in the other sweep.
    momentum, steps, batch_size, seed
        As :func:`bn_run`.
    progress : bool
        Show a tqdm progress bar over the runs (tqdm's notebook widget in Jupyter).

    Returns
    -------
    BatchNormSweep

    Raises
    ------
    ValueError
        For a scale or learning rate that is not > 0, or as :func:`bn_run`.
    """
    scales = np.array([check_positive("scales", s) for s in scales], dtype=np.float64)
    lrs = np.array([check_positive("lrs", v) for v in lrs], dtype=np.float64)
    configs = [(bn, float(s), float(lr)) for bn in (False, True) for s in scales]
    configs += [(bn, float(weight_scale), float(v)) for bn in (False, True) for v in lrs]
    configs = list(dict.fromkeys(configs))
    bar = tqdm(total=len(configs), desc="training runs", unit="run", leave=False) if progress else None
    histories = {}
    try:
        for bn, s, v in configs:
            histories[(bn, s, v)] = bn_run(bn, s, v, momentum, steps, batch_size, seed)[1]
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    def acc(key):
        return histories[key].test_accuracy[-1]

    return BatchNormSweep(
        scales=scales, lrs=lrs, lr=float(lr), weight_scale=float(weight_scale),
        scale_accuracy=np.array([[acc((bn, float(s), float(lr))) for s in scales] for bn in (False, True)]),
        lr_accuracy=np.array([[acc((bn, float(weight_scale), float(v))) for v in lrs] for bn in (False, True)]),
        diverged={k: h.diverged for k, h in histories.items()}, histories=histories, steps=int(steps),
        batch_size=int(batch_size),
    )


# ---- figures
#: Without / with batch norm, on every figure of the chapter.
BN_COLORS = {False: OKABE_ITO["vermillion"], True: OKABE_ITO["blue"]}


def _line(ax, gid, *args, **kwargs):
    """The Line2D of ``gid`` on ``ax``, created with ``ax.plot(*args, **kwargs)`` the first time."""
    line = _find(ax, gid)
    if line is None:
        (line,) = ax.plot(*args, gid=gid, **kwargs)
    return line


def draw_moving_average(ax_mean, ax_weight, run, references=()):
    """Draw (or update in place) a moving-average run of :func:`moving_average_run`.

    ``ax_mean``: the batch means (dots), the running mean after each step (line)
    and the true mean (dotted). ``ax_weight``: the weight momentum**t that the
    initial value (0) still has in the average after t steps, on a log axis,
    with a 1% line; ``references`` are other momenta (Keras convention), a
    sequence or a dict momentum -> legend label, drawn there as thin grey
    curves for comparison.

    Lines have gid ``'batch_mean'``, ``'running_mean'``, ``'true_mean'``,
    ``'weight'`` and ``'weight:<momentum>'``. Returns (ax_mean, ax_weight).
    """
    for ax in (ax_mean, ax_weight):
        _tidy(ax)
    steps = run.step[-1]
    _line(ax_mean, "batch_mean", [], [], "o", ms=2.5, color="0.6", alpha=0.7, label="batch means",
          zorder=2).set_data(run.step[1:], run.batch_mean)
    _line(ax_mean, "running_mean", [], [], "-", color=OKABE_ITO["blue"], lw=2.2, label="running_mean",
          zorder=3).set_data(run.step, run.running_mean)
    _line(ax_mean, "true_mean", [], [], ":", color=OKABE_ITO["black"], lw=1.4,
          label="mean of the distribution", zorder=1).set_data([0, steps], [run.true_mean, run.true_mean])
    ax_mean.set_xlim(0, steps)
    lo = min(0.0, float(np.min(run.batch_mean)))
    hi = max(run.true_mean, float(np.max(run.batch_mean)))
    pad = 0.08 * (hi - lo)
    ax_mean.set_ylim(lo - pad, hi + pad)
    ax_mean.set_xlabel("training step $t$")
    ax_mean.set_ylabel("mean of the feature")
    ax_mean.set_title(f"running_mean, momentum {run.momentum:.3g} (Keras) = {1 - run.momentum:.3g} (PyTorch)",
                      fontsize=11)
    if ax_mean.get_legend() is None:
        ax_mean.legend(loc="lower right", fontsize=9)

    t = np.arange(steps + 1)
    styles = ("--", ":", "-.")
    for i, (m, text) in enumerate(references.items() if isinstance(references, dict) else
                                  ((m, f"momentum {m:g}") for m in references)):
        _line(ax_weight, f"weight:{m:g}", [], [], styles[i % 3], lw=1.4, color="0.45", label=text,
              zorder=1).set_data(t, m ** t)
    with np.errstate(under="ignore"):
        w = run.momentum ** t
    _line(ax_weight, "weight", [], [], "-", color=OKABE_ITO["blue"], lw=2.2, zorder=3,
          label="the slider's momentum").set_data(t, np.maximum(w, 1e-300))
    _line(ax_weight, "one_percent", [], [], ":", color=OKABE_ITO["vermillion"], lw=1.2,
          zorder=2).set_data([0, steps], [0.01, 0.01])
    note = _find(ax_weight, "one_percent_label")
    if note is None:
        note = ax_weight.text(0.98, 0.01, "1%", transform=ax_weight.get_yaxis_transform(), ha="right", va="bottom",
                              fontsize=8, color=OKABE_ITO["vermillion"], gid="one_percent_label")
    ax_weight.set_yscale("log")
    ax_weight.set_xlim(0, steps)
    ax_weight.set_ylim(1e-4, 1.5)
    ax_weight.set_xlabel("training step $t$")
    ax_weight.set_ylabel(r"weight of the initial value, momentum$^t$")
    ax_weight.set_title("what is left of the start", fontsize=11)
    if ax_weight.get_legend() is None and ax_weight.get_legend_handles_labels()[0]:
        ax_weight.legend(loc="upper right", fontsize=8)
    return ax_mean, ax_weight


@_styled
def plot_bn_sweep(sweep, axes=None):
    """Test accuracy without and with batch norm, against the init scale and against the learning rate.

    ``sweep`` is a :class:`BatchNormSweep`; ``axes`` two Axes (None: a new
    pyplot figure). Lines of gid ``'scale:bn'``, ``'scale:plain'``,
    ``'lr:bn'``, ``'lr:plain'``. Returns the two Axes.
    """
    if axes is None:
        _, axes = new_figure(1, 2, figsize=(11, 4.2), pyplot=True, sharey=True)
    ax_s, ax_l = axes
    for ax, xs, acc, xlabel, key, fixed in (
            (ax_s, sweep.scales, sweep.scale_accuracy, "weight scale (x Glorot init of the hidden layers; log scale)", "scale",
             f"learning rate {sweep.lr:g}"),
            (ax_l, sweep.lrs, sweep.lr_accuracy, "learning rate (log scale)", "lr", f"weight scale {sweep.weight_scale:g}")):
        _tidy(ax)
        for bn, row in ((True, 1), (False, 0)):
            name = "bn" if bn else "plain"
            ax.plot(xs, 100 * acc[row], "o-", color=BN_COLORS[bn], gid=f"{key}:{name}",
                    label="with batch norm" if bn else "without batch norm")
        ax.set_xscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{x:g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 100)
        ax.axhline(10, color="0.5", lw=1, ls=":", zorder=1)
        ax.text(0.99, 10, "chance", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=8,
                color="0.4")
        ax.set_title(f"test accuracy after {sweep.steps} steps ({fixed})", fontsize=11)
    ax_s.set_ylabel("test accuracy (%)")
    ax_s.legend(loc="center left", fontsize=9)
    return ax_s, ax_l


@_styled
def plot_loss_per_step(histories, ax=None, *, colors=None, smooth=10, title="training loss"):
    """The minibatch loss at every step (faint) and its moving average (solid), one colour per run.

    ``histories``: dict label -> History; ``ax``: an Axes (None: a new pyplot
    figure); ``smooth``: window of the moving average, in steps. Lines of gid
    ``'loss:<label>'``. Returns the Axes.
    """
    ax = _axes(ax)
    _tidy(ax)
    palette = colors or _CYCLE
    for i, (label, h) in enumerate(histories.items()):
        c = palette[i % len(palette)]
        loss = _finite(h.loss)
        ax.plot(h.step, loss, color=c, alpha=0.25, lw=0.8, gid=f"rawloss:{label}")
        ax.plot(h.step, _smooth(loss, smooth), color=c, label=label, gid=f"loss:{label}")
    ax.axhline(np.log(10), color="0.5", lw=1, ls=":", zorder=1)
    # Label mid-axis, below the line and on a white box: a run stuck at chance lies along the line itself.
    ax.annotate("ln 10: guessing", xy=(0.5, np.log(10)), xycoords=ax.get_yaxis_transform(), xytext=(0, -4),
                textcoords="offset points", ha="center", va="top", fontsize=8, color="0.4", zorder=5,
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.set_xlabel("training step")
    ax.set_ylabel("minibatch loss (nats, log scale)")
    ax.set_title(title + (f" ({smooth}-step moving average)" if smooth > 1 else ""), fontsize=11)
    ax.legend(loc="lower left", fontsize=9)
    return ax


def pair(weight_scale=1.0, lr=None, momentum=0.9):
    """{label: History} of the chapter's deep sigmoid net without and with batch norm (:func:`bn_run`)."""
    lr = BN_TRAIN["lr"] if lr is None else lr
    return {"without batch norm": bn_run(False, weight_scale, lr, momentum)[1],
            "with batch norm": bn_run(True, weight_scale, lr, momentum)[1]}


@figure("bn_moving_averages")
def bn_moving_averages(momenta=(0.99, 0.9), steps=200):
    """Running mean of a batch-norm layer fed batches from N(3, 2^2): Keras's default momentum 0.99 vs 0.9 (PyTorch's 0.1)."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.2), width_ratios=[1.35, 1])
    runs = [moving_average_run(m, steps) for m in momenta]
    colors = [plots.OKABE_ITO[c] for c in ("vermillion", "blue", "green", "purple")]
    with plots.style():
        r0 = runs[0]
        a1.plot(r0.step[1:], r0.batch_mean, "o", ms=2.5, color="0.6", alpha=0.7, label="batch means", gid="batch_mean")
        a1.axhline(r0.true_mean, color="black", ls=":", lw=1.4, label="mean of the distribution")
        t = r0.step
        for r, c in zip(runs, colors):
            label = f"momentum {r.momentum:g} (PyTorch: {1 - r.momentum:.2g})"
            a1.plot(r.step, r.running_mean, color=c, lw=2.2, label=label, gid=f"running_mean:{r.momentum:g}")
            a2.plot(t, r.remaining, color=c, lw=2.2, label=label, gid=f"weight:{r.momentum:g}")
        a1.set_xlim(0, steps)
        a1.set_xlabel("training step $t$")
        a1.set_ylabel("running_mean")
        a1.set_title("the running mean starts at 0 and creeps towards the batch means", fontsize=11)
        a1.legend(loc="lower right", fontsize=9)
        a2.axhline(0.01, color="0.4", ls=":", lw=1.2)
        a2.text(0.98, 0.01, "1%", transform=a2.get_yaxis_transform(), ha="right", va="bottom", fontsize=8, color="0.3")
        a2.set_yscale("log")
        a2.set_ylim(1e-4, 1.5)
        a2.set_xlim(0, steps)
        a2.set_xlabel("training step $t$")
        a2.set_ylabel(r"weight of the initial value, momentum$^t$")
        a2.set_title("what is left of the start", fontsize=11)
        a2.legend(loc="upper right", fontsize=9)
    return fig


@figure("bn_deep_sigmoid_training")
def bn_deep_sigmoid_training(runs=None):
    """The chapter's deep sigmoid net on the digits without and with batch norm: loss per step, and the
    weight-gradient norm per layer at the start."""
    runs = runs if runs is not None else pair()
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.3), width_ratios=[1.3, 1])
    colors = [BN_COLORS[False], BN_COLORS[True]]
    plot_loss_per_step(runs, ax=a1, colors=colors, title="training loss")
    with plots.style():
        for (label, h), c in zip(runs.items(), colors):
            layers = np.arange(1, h.depth + 1)
            a2.plot(layers, plots._positive_finite(h.grad_norm[0]), "o-", color=c, label=label, gid=f"grad:{label}")
        a2.set_yscale("log")
        plots.layer_axis(a2, BN_NET["depth"])
        a2.set_ylabel(r"$\|\partial L/\partial W^l\|$ at step 0 (log scale)")
        a2.set_title("the gradient reaching each layer, before training", fontsize=11)
        a2.legend(loc="lower right", fontsize=9)
        h = next(iter(runs.values()))
        cfg = h.config
        fig.suptitle(f"sigmoid MLP, {BN_NET['depth']} hidden layers x {BN_NET['width']} units, Glorot init, "
                     f"SGD lr {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['steps']} steps, digits", fontsize=12)
    return fig


@figure("bn_init_scale_and_lr_sweep")
def bn_init_scale_and_lr_sweep(sweep=None):
    """Test accuracy of the deep sigmoid net without and with batch norm, against the init scale and the learning rate."""
    sweep = sweep if sweep is not None else bn_sweep()
    fig, axes = plots.new_figure(1, 2, figsize=(12, 4.3), sharey=True)
    plot_bn_sweep(sweep, axes=axes)
    with plots.style():
        fig.suptitle(f"sigmoid MLP, {BN_NET['depth']} hidden layers x {BN_NET['width']} units, "
                     f"batch {sweep.batch_size}, digits", fontsize=12)
    return fig


@figure("bn_raw_pixels")
def bn_raw_pixels(runs=None):
    """Raw pixels (0..16) vs standardized pixels vs raw pixels with a batch-norm layer first: training curves."""
    runs = runs if runs is not None else raw_input_runs()
    hist = {label: h for label, (_, h) in runs.items()}
    fig, axes = plots.new_figure(1, 2, figsize=(12, 4.6))
    colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue")]
    plots.plot_training_curves(hist, axes=axes, smooth=10, colors=colors)
    with plots.style():
        net, h = next(iter(runs.values()))
        cfg = h.config
        fig.suptitle(f"{net.activation} MLP {list(net.hidden)}, He init, SGD lr {cfg['lr']:g}, batch "
                     f"{cfg['batch_size']}, digits", fontsize=12)
    return fig


# ---- explorers
class MomentumExplorer(Explorer):
    """The moving averages of a batch-norm layer, with the momentum in both frameworks' conventions.

    A one-feature :class:`gradviz.layers.BatchNorm` is fed batches drawn from
    N(3, 2^2) (:func:`moving_average_run`, same batches for every momentum).
    Left: the batch means and the layer's running_mean after each step.
    Right: the weight momentum**t that the initial value 0 still has in the
    average, beside Keras's default 0.99 and PyTorch's default 0.1 (= 0.9 in
    Keras's convention).

    Controls: ``momentum`` (Keras convention: weight kept by the old
    average) and ``pytorch_momentum`` (PyTorch convention: weight given to
    the new batch), linked so that they always sum to 1; ``steps``;
    ``batch_size``.

    Attributes
    ----------
    run : MovingAverageRun
        What is drawn now.
    """

    figsize = (11.0, 4.2)
    true_mean, true_std = 3.0, 2.0
    references = {0.99: "0.99: Keras default", 0.9: "0.9: PyTorch default 0.1"}

    def __init__(self, canvas="auto", *, seed=0, **values):
        self.seed = seed
        self.readout = _w().HTML()
        self._runs = _LRU(64)
        self._linking = False
        super().__init__(canvas, **values)

    def make_controls(self):
        w = _w()
        return {
            "momentum": w.FloatSlider(value=0.99, min=0.0, max=0.999, step=0.001, readout_format=".3f",
                                      description="momentum, Keras (weight kept)", style=_STYLE),
            "pytorch_momentum": w.FloatSlider(value=0.01, min=0.001, max=1.0, step=0.001, readout_format=".3f",
                                              description="momentum, PyTorch (weight of new batch)", style=_STYLE),
            "steps": int_slider("steps", 10, 1000, 200, step=10),
            "batch_size": _values_slider("batch size", (4, 8, 16, 32, 64, 128, 256), 32),
        }

    def _on_change(self, change):
        # Keep the two conventions linked: pytorch = 1 - keras. One redraw for both changes.
        owner = change["owner"]
        if self._linking or owner not in (self.controls["momentum"], self.controls["pytorch_momentum"]):
            return super()._on_change(change)
        other = "pytorch_momentum" if owner is self.controls["momentum"] else "momentum"
        ctl = self.controls[other]
        target = min(max(round(1.0 - change["new"], 6), ctl.min), ctl.max)
        self._linking = True
        try:
            with self.hold():
                ctl.value = target
        finally:
            self._linking = False

    def setup_figure(self, fig):
        self.ax_mean, self.ax_weight = fig.subplots(1, 2, width_ratios=[1.35, 1])

    def compute(self, momentum, steps, batch_size):
        """The moving-average run of these settings (cached)."""
        key = (round(float(momentum), 6), int(steps), int(batch_size))
        hit = self._runs.get(key)
        if hit is None:
            hit = self._runs.put(key, moving_average_run(key[0], key[1], self.true_mean, self.true_std, key[2],
                                                         seed=self.seed))
        return hit

    def refresh(self, momentum, pytorch_momentum, steps, batch_size):
        self.run = run = self.compute(momentum, steps, batch_size)
        draw_moving_average(self.ax_mean, self.ax_weight, run, references=self.references)
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        r = self.run
        m = r.momentum
        t = r.step[-1]
        lines = [f"Keras momentum {m:.3f} = PyTorch momentum {1 - m:.3f}: each step keeps {m:.1%} of the old "
                 f"average and adds {1 - m:.1%} of the new batch's statistic."]
        if m > 0:
            lines.append(f"After {t} steps the initial value (running_mean = 0) still weighs {m ** t:.3g}; "
                         f"it weighs less than 1% after {steps_to_forget(m, 0.01)} steps. "
                         f"The average spans roughly the last 1/(1 - momentum) = {1 / (1 - m):.3g} batches.")
        lines.append(f"running_mean = {r.running_mean[-1]:.3f} (true mean {r.true_mean:g}), "
                     f"running_var = {r.running_var[-1]:.3f} (true variance {r.true_var:g}), "
                     f"batches of {r.batch_size}.")
        return "\n".join(lines)


# ---- exercises
# Answers come from a real gradviz.layers.BatchNorm (via running_means / pytorch_momentum / parameter_counts)
# and the chapter's network.
@exercise(
    "06.1",
    question="A batch-norm layer with momentum 0.9 (Keras convention) starts with running_mean = 0 and sees two "
    "batches whose means are 10 and then 20. What is its running_mean after the second batch?",
    hint="Keras convention: running_mean <- momentum * running_mean + (1 - momentum) * batch mean, once per "
    "batch. Check with ch.running_means([10, 20], 0.9).",
    explain=lambda r: (
        "After batch 1: 0.9 x 0 + 0.1 x 10 = 1. After batch 2: 0.9 x 1 + 0.1 x 20 = 0.9 + 2 = "
        f"{r:.4g}.\nThe true mean of the batches is 15: after two steps the start value 0 still weighs "
        "0.9^2 = 81%. In code (a real layer fed the batches): ch.running_means([10, 20], 0.9)[-1]"
    ),
)
def running_mean_after_two_batches(batch_means=(10.0, 20.0), momentum=0.9):
    return float(running_means(batch_means, momentum)[-1])


@exercise(
    "06.2",
    question="Which PyTorch momentum gives the same moving averages as Keras's default momentum 0.99?",
    hint="Keras's momentum is the weight the old average keeps; PyTorch's is the weight the new batch gets. "
    "The two weights add up to 1.",
    explain=lambda p: (
        f"PyTorch momentum = 1 - 0.99 = {p:.2g}: ten times smaller than PyTorch's default 0.1, which is "
        "0.9 in Keras's convention. Check that they agree: ch.running_means(batch_means, 0.99) and "
        "ch.running_means(batch_means, 0.01, pytorch=True) give the same numbers.\n"
        "In code: ch.pytorch_momentum(0.99)"
    ),
)
def pytorch_momentum_of_keras_default(keras=0.99):
    return pytorch_momentum(keras)


@exercise(
    "06.3",
    question="The chapter's network with batch norm has 6 hidden layers of 32 units, with a batch-norm layer "
    "before every activation. How many non-trainable parameters does it hold (what Keras's model.summary() "
    "calls 'Non-trainable params')?",
    hint="Which arrays does gradient descent never touch? Count them per batch-norm layer, then count the "
    "batch-norm layers. Check with ch.parameter_counts(ch.bn_network(batch_norm=True)).",
    explain=lambda n: (
        "Each batch-norm layer of width 32 keeps running_mean and running_var, 2 x 32 = 64 numbers that the "
        "forward pass in training mode updates and gradient descent never touches (its gamma and beta, "
        "another 64, are trainable). Six such layers: 6 x 64 = "
        f"{n}. The output layer has no batch norm. A layer of width 64 would hold 128 non-trainable and 128 "
        "trainable numbers.\nIn code: ch.parameter_counts(ch.bn_network(batch_norm=True))"
    ),
)
def non_trainable_count():
    return parameter_counts(bn_network(batch_norm=True))["non_trainable"]
