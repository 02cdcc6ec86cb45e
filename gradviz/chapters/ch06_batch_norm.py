"""Chapter 06: batch normalization (``notebooks/06_batch_normalization.ipynb``).

The chapter teaches batch normalization (Ioffe & Szegedy 2015) step by step:
the four steps of Algorithm 1 on a small batch (mean, biased variance,
normalize, scale by gamma and shift by beta); the backward pass, written out
and checked by finite differences (:func:`gradient_check`, exercise 06.4); the
two trainable and two non-trainable vectors of a layer; the moving averages
used at inference, the two opposite meanings of ``momentum`` (Keras 0.99 =
weight kept, PyTorch 0.1 = weight of the new batch) and which variance each
framework stores; training mode against inference mode, the noise of batch
statistics (:func:`batch_noise`) and why a single example cannot be normalized
with its own statistics; a batch-norm layer placed first instead of
standardizing the data; a deep sigmoid network that learns only with batch
norm; and, on a ReLU baseline that trains without it, the wider range of init
scales and learning rates that batch norm tolerates (:func:`scale_sweep`,
:func:`lr_sweep`).

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

import ipywidgets
import matplotlib as mpl
import numpy as np
from tqdm.auto import tqdm

from .. import gradcheck, plots
from .._validate import (check_array_2d, check_choice, check_finite, check_nonneg_int, check_positive,
                         check_positive_int, check_probability, get_rng)
from ..data import digits, load_digits, load_digits_raw
from ..exercises import exercise
from ..figures import figure
from ..layers import BatchNorm
from ..network import MLP, BatchNormOptions
from ..plots import OKABE_ITO, CYCLE, find_artist, finite_or_nan, moving_average, prepare_axes, styled, tidy
from ..train import one_blas_thread, train
from ..widgets import CONTROL_STYLE, LRU, Explorer, choice, int_slider, values_slider

__all__ = [
    # experiments
    "batch_norm_steps", "gradient_check", "parameter_counts", "pytorch_momentum", "remaining_fraction",
    "steps_to_forget", "bn_network", "bn_run", "batch_spread", "accuracy_by_mode", "batch_noise",
    "single_example_predictions", "raw_input_runs", "lr_sweep", "scale_sweep",
    # figures
    "bn_deep_sigmoid_training", "bn_raw_pixels", "bn_init_scale_and_lr_sweep",
    # explorers
    "MomentumExplorer", "BatchNoiseExplorer", "BatchNormExplorer",
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
    eps = check_positive("eps", eps)  # before the steps divide by sqrt(var + eps)
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


# -- the backward pass, checked by finite differences
@dataclass
class GradientCheck:
    """A backward pass of batch norm compared with finite differences (:mod:`gradviz.gradcheck`).

    Attributes
    ----------
    errors : dict
        'dx', 'dgamma', 'dbeta' -> entry-wise relative error (:func:`gradviz.gradcheck.relative_error`,
        with the finite differences' rounding noise as floor); NaN for a missing or misshapen array.
    tol : float
        The largest error accepted.
    shape : (int, int)
        The batch that was checked: (examples, features).
    problem : str
        Empty, or why the backward pass could not be checked (it raised, or returned the wrong thing).
    """

    errors: dict
    tol: float
    shape: tuple
    problem: str = ""

    @property
    def passed(self) -> bool:
        """True if every gradient agrees with finite differences to within ``tol``."""
        return not self.problem and all(e < self.tol for e in self.errors.values())

    def summary(self) -> str:
        """One line per gradient: agrees (below ``tol``) or not; the verdict only, no digits that vary
        between machines."""
        if self.problem:
            return self.problem
        return "\n".join(f"{k:7s} {'agrees with' if e < self.tol else 'DIFFERS from'} finite differences "
                         f"(entry-wise relative error {'below ' + format(self.tol, 'g') if e < self.tol else f'{e:.2g}'})"
                         for k, e in self.errors.items())


def gradient_check(backward, batch: int = 8, features: int = 3, eps: float = 1e-3, seed=0,
                   tol: float = 1e-6) -> GradientCheck:
    """Check a hand-written backward pass of batch norm (training mode) against finite differences.

    A random batch x (``batch`` x ``features``, mean 2, std 3), random gamma
    and beta, and a random upstream gradient R are drawn. The loss is
    L = sum(R * y) with y = :class:`gradviz.layers.BatchNorm`'s training-mode
    output, whose gradients central differences estimate
    (:func:`gradviz.gradcheck.numerical_gradient`). A random R, not sum(y):
    the sum of batch norm's output does not depend on x, so every backward
    pass whose dx is 0 would pass.

    Parameters
    ----------
    backward : callable (dy, x, gamma, eps) -> (dx, dgamma, dbeta)
        ``dy`` (m, n) is dL/dy; returns dL/dx (m, n), dL/dgamma (n,), dL/dbeta (n,).
    batch : int >= 3
        Examples. (With 2, x_hat is +-1 whatever x is, and dx is too small to check.)
    features : int >= 1
    eps : float > 0
    seed : int or Generator
    tol : float > 0
        Largest entry-wise relative error accepted.

    Returns
    -------
    GradientCheck

    Raises
    ------
    TypeError
        If ``backward`` is not callable.
    ValueError
        For batch < 3 or a non-positive size, eps or tol.
    """
    if not callable(backward):
        raise TypeError(f"backward must be a function (dy, x, gamma, eps) -> (dx, dgamma, dbeta); "
                        f"got {type(backward).__name__}")
    batch = check_positive_int("batch", batch)
    if batch < 3:
        raise ValueError(f"batch must be >= 3 (with 2 examples dx is below what finite differences resolve); "
                         f"got {batch}")
    features = check_positive_int("features", features)
    eps, tol = check_positive("eps", eps), check_positive("tol", tol)
    rng = get_rng(seed)
    x = rng.normal(2.0, 3.0, size=(batch, features))
    gamma = rng.uniform(0.5, 2.0, features) * rng.choice([-1.0, 1.0], features)
    beta = rng.standard_normal(features)
    R = rng.standard_normal((batch, features))
    layer = BatchNorm(features, eps=eps)
    layer.params["gamma"], layer.params["beta"] = gamma, beta  # the arrays themselves: perturbed in place below

    def loss():
        return float(np.sum(R * layer.forward(x, training=True)))

    scale = float(np.sum(np.abs(R * layer.forward(x, training=True))))
    floor = gradcheck.rounding_noise(scale, gradcheck.H) / tol
    shape = (batch, features)
    try:
        got = backward(R.copy(), x.copy(), gamma.copy(), eps)
    except Exception as err:  # the learner's code: report it instead of a traceback
        return GradientCheck({}, tol, shape, f"calling backward(dy, x, gamma, eps) raised {type(err).__name__}: {err}")
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return GradientCheck({}, tol, shape, "backward must return three arrays, (dx, dgamma, dbeta); got "
                             f"{type(got).__name__}" + (f" of length {len(got)}" if hasattr(got, "__len__") else ""))
    errors = {}
    wanted = {"dx": (x, shape), "dgamma": (gamma, (features,)), "dbeta": (beta, (features,))}
    for (name, (arr, want)), g in zip(wanted.items(), got):
        try:
            g = np.asarray(g, dtype=np.float64)
        except (TypeError, ValueError):
            return GradientCheck(errors, tol, shape, f"{name} must be an array of numbers; got {type(g).__name__}")
        if g.shape != want:
            return GradientCheck(errors, tol, shape, f"{name} must have shape {want}; got {g.shape}")
        if not np.isfinite(g).all():
            return GradientCheck(errors, tol, shape, f"{name} holds non-finite entries (inf or nan)")
        errors[name] = gradcheck.relative_error(g, gradcheck.numerical_gradient(loss, arr), floor)
    return GradientCheck(errors, tol, shape)


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


# -- the chapter's networks, with and without batch norm
#: The chapter's deep sigmoid network: hidden layers, activation, Glorot uniform init.
BN_NET = dict(depth=6, width=32, activation="sigmoid", init="glorot_uniform")

#: ... and how it is trained: plain SGD, short runs.
BN_TRAIN = dict(lr=0.5, steps=100, batch_size=32)

#: The initializer of each activation the chapter trains: Glorot for the sigmoid net, He for the ReLU
#: baseline (the same shape, which trains without batch norm: section 8).
INITS = {"sigmoid": "glorot_uniform", "relu": "he_normal"}


def bn_network(batch_norm: bool = True, weight_scale: float = 1.0, momentum: float = 0.9, seed=0,
               n_inputs: int = 64, n_outputs: int = 10, activation: str = "sigmoid") -> MLP:
    """The chapter's deep MLP (:data:`BN_NET`: 6 hidden layers of 32 units), with batch norm before every
    activation or without.

    ``weight_scale`` multiplies the initial weights of the hidden layers only;
    the output layer keeps its init (the one it has with ``weight_scale=1``,
    same seed), because batch norm sits in the hidden layers and the sweeps
    ask what it does there.

    Parameters
    ----------
    batch_norm : bool
        Dense -> BatchNorm -> activation in every hidden layer (Ioffe & Szegedy 2015 put it before the
        nonlinearity, sec. 3.2), or Dense -> activation.
    weight_scale : float > 0
    momentum : float in [0, 1)
        Of the moving averages, Keras convention (0.9 here: see :func:`bn_run`).
    seed : int
    n_inputs, n_outputs : int
    activation : {'sigmoid', 'relu'}
        With its initializer (:data:`INITS`): the sigmoid net of sections 4-6, or the ReLU baseline.

    Returns
    -------
    MLP
        Inputs (batch, n_inputs), logits (batch, n_outputs).

    Raises
    ------
    ValueError
        If ``weight_scale`` is not > 0, ``activation`` is not one of :data:`INITS`, or as
        :class:`gradviz.network.MLP`.
    """
    weight_scale = check_positive("weight_scale", weight_scale)
    init = INITS[check_choice("activation", activation, INITS)]
    options = BatchNormOptions(hidden="before" if batch_norm else None, momentum=momentum)

    def build(scale):
        return MLP(n_inputs, depth=BN_NET["depth"], width=BN_NET["width"], activation=activation,
                   init=init, weight_scale=scale, batch_norm=options, n_outputs=n_outputs, seed=seed)

    net = build(weight_scale)
    # The output layer exactly as MLP(weight_scale=1) draws it (each layer has its own random stream).
    net.output = build(1.0).output
    return net


@functools.lru_cache(maxsize=256)
def _bn_run_cached(batch_norm, weight_scale, lr, momentum, steps, batch_size, seed, record_every, activation):
    net = bn_network(batch_norm, weight_scale, momentum, seed, activation=activation)
    with one_blas_thread():
        hist = train(net, digits(seed=0), lr=lr, steps=steps, batch_size=batch_size, seed=seed,
                     record_every=record_every, progress=False)
    return net, hist


def bn_run(batch_norm: bool = True, weight_scale: float = 1.0, lr: float = BN_TRAIN["lr"], momentum: float = 0.9,
           steps: int = BN_TRAIN["steps"], batch_size: int = BN_TRAIN["batch_size"], seed: int = 0,
           record_every: int | None = None, activation: str = "sigmoid"):
    """Train :func:`bn_network` on the digits (:func:`gradviz.data.load_digits`, seed 0); cached.

    The moving averages use ``momentum`` 0.9 by default, not Keras's 0.99: a
    run of 100 steps leaves 0.99**100 = 37% of the initial running statistics
    (mean 0, variance 1) in the averages, and inference with them fails, while
    0.9**100 is 3e-5 (see :func:`remaining_fraction`).

    Parameters
    ----------
    batch_norm, weight_scale, momentum, activation
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
        a momentum outside [0, 1), or an unknown activation.
    """
    key = (bool(batch_norm), float(check_positive("weight_scale", weight_scale)), float(check_positive("lr", lr)),
           float(check_probability("momentum", momentum)), check_positive_int("steps", steps),
           check_positive_int("batch_size", batch_size), int(seed))
    key += (key[4] if record_every is None else check_positive_int("record_every", record_every),
            check_choice("activation", activation, INITS))
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
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}, getattr(ly, "num_batches_tracked", None))
             for ly in layers if getattr(ly, "state", None)]
    try:
        yield net
    finally:
        for ly, state, count in saved:
            ly.state.update(state)
            if count is not None:
                ly.num_batches_tracked = count


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


# -- the noise of batch statistics
@dataclass
class BatchNoise:
    """One pixel of one digit, normalized with the statistics of many random batches it could share.

    Attributes
    ----------
    batch_size : int
    feature, example : int
        The pixel (0..63) and the training digit followed.
    value : float
        That digit's pixel (standardized digits: over the training set, mean 0 and std 1).
    batch_mean, batch_std : float arrays (n_batches,)
        Mean and (biased) standard deviation of the pixel over each batch: the digit and
        ``batch_size - 1`` other training digits, drawn without replacement.
    x_hat : float array (n_batches,)
        The digit's normalized pixel in each batch, as :class:`gradviz.layers.BatchNorm` computes it in
        training mode (eps 1e-3).
    population_mean, population_std : float
        Over the whole training set (n_train digits).
    population_x_hat : float
        The digit's pixel normalized with them: what inference mode computes once the moving averages
        have converged.
    n_train : int
    """

    batch_size: int
    feature: int
    example: int
    value: float
    batch_mean: np.ndarray
    batch_std: np.ndarray
    x_hat: np.ndarray
    population_mean: float
    population_std: float
    population_x_hat: float
    n_train: int

    @property
    def mean_spread(self) -> float:
        """Standard deviation of the batch means over the batches drawn."""
        return float(self.batch_mean.std())

    #: Standard deviation of the pixel over the other n_train - 1 training digits (those a batch draws).
    others_std: float = float("nan")

    @property
    def predicted_mean_spread(self) -> float:
        """The same from sampling theory, about sigma / sqrt(B) for a batch of B.

        Precisely: the batch holds the followed digit and n = B - 1 of the M = N - 1 other digits, drawn
        without replacement, so the batch mean varies with standard deviation
        sqrt(n) * s * sqrt((M - n) / (M - 1)) / B, where s is the spread of the other digits and the last
        factor (the finite-population correction) is near 1 for B << N.
        """
        n, M = self.batch_size - 1, self.n_train - 1
        return float(np.sqrt(n) * self.others_std * np.sqrt((M - n) / (M - 1)) / self.batch_size)

    @property
    def x_hat_spread(self) -> float:
        """Standard deviation of the digit's normalized pixel over the batches: the noise training mode adds."""
        return float(self.x_hat.std())


@functools.lru_cache(maxsize=32)
def _batch_noise_cached(batch_size, n_batches, feature, example, seed):
    X = digits(seed=0).X_train
    col = X[:, feature]
    N = len(col)
    rng = get_rng(seed)
    rest = np.delete(np.arange(N), example)
    # batch_size - 1 other digits per batch, drawn without replacement
    others = np.array([rng.choice(rest, batch_size - 1, replace=False) for _ in range(n_batches)]).reshape(
        n_batches, batch_size - 1)
    # one batch per column, the followed digit in row 0: a BatchNorm layer normalizes every column at once
    batches = np.concatenate([np.full((1, n_batches), col[example]), col[others].T], axis=0)
    x_hat = BatchNorm(n_batches).forward(batches, training=True)[0]
    mu, sd = float(col.mean()), float(col.std())
    return BatchNoise(batch_size=batch_size, feature=feature, example=example, value=float(col[example]),
                      batch_mean=batches.mean(axis=0), batch_std=batches.std(axis=0), x_hat=x_hat,
                      population_mean=mu, population_std=sd,
                      population_x_hat=float((col[example] - mu) / np.sqrt(sd ** 2 + 1e-3)), n_train=N,
                      others_std=float(col[rest].std()))


def batch_noise(batch_size: int = 32, n_batches: int = 2000, feature: int = 36, example: int = 0,
                seed=0) -> BatchNoise:
    """Normalize one pixel of one training digit with the statistics of ``n_batches`` random batches.

    In training mode a batch-norm layer normalizes an example with the mean
    and variance of its batch, so the same example gets a different x_hat in
    every batch: noise, which shrinks as the batch grows (the spread of batch
    means is about sigma / sqrt(batch_size)). Each batch holds the digit and
    ``batch_size - 1`` other training digits (:func:`gradviz.data.load_digits`,
    standardized, seed 0). Pixel 36 (row 4, column 4) is lit in most digits.
    Cached.

    Parameters
    ----------
    batch_size : int >= 2
    n_batches : int >= 2
    feature : int in [0, 64)
    example : int, a training digit's index
    seed : int

    Returns
    -------
    BatchNoise

    Raises
    ------
    ValueError
        For a batch_size below 2 or above the training set, n_batches < 2, or a feature or example out of range.
    """
    n_train, n_features = digits(seed=0).X_train.shape
    batch_size = check_positive_int("batch_size", batch_size)
    if not 2 <= batch_size <= n_train:
        raise ValueError(f"batch_size must lie in [2, {n_train}] (a batch has statistics from 2 examples on, "
                         f"and the training set holds {n_train}); got {batch_size}")
    n_batches = check_positive_int("n_batches", n_batches)
    if n_batches < 2:
        raise ValueError(f"n_batches must be >= 2 to measure a spread; got {n_batches}")
    feature, example = check_nonneg_int("feature", feature), check_nonneg_int("example", example)
    if feature >= n_features:
        raise ValueError(f"feature must lie in [0, {n_features}); got {feature}")
    if example >= n_train:
        raise ValueError(f"example must lie in [0, {n_train}); got {example}")
    return _batch_noise_cached(batch_size, n_batches, feature, example, int(seed))


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


# -- init scale and learning rate, on a baseline that trains without batch norm
#: A run *learns* when it reaches this test accuracy; it *fails* when it diverges or stays below
#: :data:`FAILS`. The gap between the two keeps every verdict the chapter prints far from a threshold.
LEARNS = 0.75
FAILS = 0.5


@dataclass(eq=False)
class Sweep:
    """Test accuracy of the chapter's network without and with batch norm, over one setting and several seeds.

    Attributes
    ----------
    name : {'lr', 'weight_scale'}
        The setting that varies.
    values : float array (V,)
        Its values.
    fixed : dict
        The other setting (``{'weight_scale': 1.0}`` or ``{'lr': 0.3}``).
    seeds : tuple of int
        One run per seed (the seed draws the weights and the order of the batches).
    accuracy : float array (2, S, V)
        Final test accuracy (inference mode); index 0 without batch norm, 1 with it; 0 for a run that diverged.
    diverged : bool array (2, S, V)
        Runs stopped by a non-finite loss or gradient.
    histories : dict
        (batch_norm, seed, value) -> History.
    activation : str
    steps, batch_size : int
    """

    name: str
    values: np.ndarray
    fixed: dict
    seeds: tuple
    accuracy: np.ndarray
    diverged: np.ndarray
    histories: dict
    activation: str
    steps: int
    batch_size: int

    @property
    def label(self) -> str:
        """The varied setting, in words."""
        return "learning rate" if self.name == "lr" else "weight scale"

    def verdicts(self) -> np.ndarray:
        """(2, V) array of 'learns' (every seed reaches :data:`LEARNS`), 'fails' (every seed diverges or
        stays below :data:`FAILS`) or 'partial' (anything else: seeds disagree, or end in between)."""
        learns = np.all((self.accuracy >= LEARNS) & ~self.diverged, axis=1)
        fails = np.all(self.diverged | (self.accuracy < FAILS), axis=1)
        return np.where(learns, "learns", np.where(fails, "fails", "partial"))

    def largest_learning(self) -> dict:
        """{False: v, True: v}: the largest value at which every seed learns, without and with batch norm
        (None where no value does)."""
        v = self.verdicts()
        return {bn: (float(self.values[v[int(bn)] == "learns"].max()) if np.any(v[int(bn)] == "learns") else None)
                for bn in (False, True)}

    def verdict_table(self) -> str:
        """The verdicts as a plain-text table (robust: every entry is far from its thresholds)."""
        v = self.verdicts()
        head = f"{self.label:>14} " + " ".join(f"{x:>7g}" for x in self.values)
        rows = [f"{lab:>14} " + " ".join(f"{w:>7}" for w in v[i]) for i, lab in ((0, "without BN"), (1, "with BN"))]
        return "\n".join([head] + rows)

    def table(self) -> str:
        """Test accuracy of every run, in %, one row per (batch norm, seed); 'div' for a diverged run."""
        head = f"{self.label:>20} " + " ".join(f"{x:>6g}" for x in self.values)
        rows = [head]
        for i, lab in ((0, "without BN"), (1, "with BN")):
            for j, seed in enumerate(self.seeds):
                cells = ["   div" if self.diverged[i, j, k] else f"{100 * self.accuracy[i, j, k]:>5.0f}%"
                         for k in range(len(self.values))]
                rows.append(f"{lab + ', seed ' + str(seed):>20} " + " ".join(cells))
        return "\n".join(rows)


def _sweep(name, values, fixed, seeds, activation, steps, batch_size, progress) -> Sweep:
    values = np.array([check_positive(name + "s", v) for v in values], dtype=np.float64)
    seeds = tuple(int(check_nonneg_int("seeds", s)) for s in seeds)
    if not len(values) or not seeds:
        raise ValueError(f"a sweep needs at least one value and one seed; got {len(values)} values, "
                         f"{len(seeds)} seeds")
    configs = [(bn, seed, float(v)) for bn in (False, True) for seed in seeds for v in values]
    bar = tqdm(total=len(configs), desc="training runs", unit="run", leave=False) if progress else None
    histories = {}
    try:
        for bn, seed, v in configs:
            setting = {name: v, **fixed}
            histories[(bn, seed, v)] = bn_run(bn, setting["weight_scale"], setting["lr"], 0.9, steps, batch_size,
                                              seed, activation=activation)[1]
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    shape = (2, len(seeds), len(values))
    div = np.array([histories[(bn, s, float(v))].diverged for bn in (False, True) for s in seeds for v in values])
    acc = np.array([0.0 if h.diverged else h.test_accuracy[-1] for h in
                    (histories[(bn, s, float(v))] for bn in (False, True) for s in seeds for v in values)])
    return Sweep(name=name, values=values, fixed=dict(fixed), seeds=seeds, accuracy=acc.reshape(shape),
                 diverged=div.reshape(shape), histories=histories, activation=activation, steps=int(steps),
                 batch_size=int(batch_size))


def lr_sweep(lrs=(0.1, 0.3, 1.0, 3.0, 10.0), *, weight_scale: float = 1.0, seeds=(0, 1, 2),
             activation: str = "relu", steps: int = BN_TRAIN["steps"], batch_size: int = BN_TRAIN["batch_size"],
             progress=False) -> Sweep:
    """Train the chapter's network without and with batch norm at several learning rates, for each seed.

    The default is the ReLU baseline (He init), which trains without batch
    norm at a small enough learning rate: the sweep measures how far each
    version can raise it. Runs go through :func:`bn_run` (cached; moving
    averages with momentum 0.9).

    Parameters
    ----------
    lrs : sequence of float > 0
    weight_scale : float > 0
        Of the hidden layers' initial weights, for every run.
    seeds : sequence of int >= 0
    activation : {'relu', 'sigmoid'}
    steps, batch_size : int
        As :func:`gradviz.train.train`.
    progress : bool
        Show a tqdm progress bar over the runs.

    Returns
    -------
    Sweep

    Raises
    ------
    ValueError
        For a learning rate or weight scale that is not > 0, a negative seed, an empty sweep, or as :func:`bn_run`.
    """
    return _sweep("lr", lrs, {"weight_scale": float(check_positive("weight_scale", weight_scale))}, seeds,
                  activation, steps, batch_size, progress)


def scale_sweep(scales=(0.1, 0.3, 1.0, 3.0, 10.0), *, lr: float = 0.3, seeds=(0,), activation: str = "relu",
                steps: int = BN_TRAIN["steps"], batch_size: int = BN_TRAIN["batch_size"], progress=False) -> Sweep:
    """Train the chapter's network without and with batch norm at several init scales (``weight_scale``).

    As :func:`lr_sweep`, with the learning rate fixed (0.3: the largest at
    which the ReLU baseline learns at its own init scale, 1).

    Raises
    ------
    ValueError
        As :func:`lr_sweep`.
    """
    return _sweep("weight_scale", scales, {"lr": float(check_positive("lr", lr))}, seeds, activation, steps,
                  batch_size, progress)


# ---- figures
#: Without / with batch norm, on every figure of the chapter.
BN_COLORS = {False: OKABE_ITO["vermillion"], True: OKABE_ITO["blue"]}


def _line(ax, gid, *args, **kwargs):
    """The Line2D of ``gid`` on ``ax``, created with ``ax.plot(*args, **kwargs)`` the first time."""
    line = find_artist(ax, gid)
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
        tidy(ax)
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
    note = find_artist(ax_weight, "one_percent_label")
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


@styled
def plot_sweep(sweep, ax=None, *, legend=True):
    """Test accuracy against the swept setting, without and with batch norm: one dot per seed, a line
    through the seeds' mean, a cross at 0 for a run that diverged.

    ``sweep`` is a :class:`Sweep`; ``ax`` an Axes (None: a new pyplot figure).
    Lines of gid ``'mean:bn'``, ``'mean:plain'``, ``'seeds:bn'``, ``'seeds:plain'``,
    ``'diverged:bn'``, ``'diverged:plain'``. Returns the Axes.
    """
    ax = prepare_axes(ax)
    tidy(ax)
    xs = sweep.values
    for bn in (False, True):
        name = "bn" if bn else "plain"
        c = BN_COLORS[bn]
        acc, div = 100 * sweep.accuracy[int(bn)], sweep.diverged[int(bn)]
        # nudge the two versions apart so that their dots do not hide each other
        shift = 1.06 if bn else 1 / 1.06
        ax.plot(xs, acc.mean(axis=0), "-", color=c, lw=2, gid=f"mean:{name}",
                label="with batch norm" if bn else "without batch norm")
        ok = ~div
        ax.plot(np.broadcast_to(xs * shift, acc.shape)[ok], acc[ok], "o", ms=5, color=c, alpha=0.8,
                gid=f"seeds:{name}")
        ax.plot(np.broadcast_to(xs * shift, acc.shape)[div], np.zeros(int(div.sum())), "x", ms=8, mew=2, color=c,
                gid=f"diverged:{name}")
    ax.set_xscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.minorticks_off()
    ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
    ax.set_ylim(-5, 100)
    for y, text in ((10, "chance"), (100 * LEARNS, "learns")):
        ax.axhline(y, color="0.5", lw=1, ls=":", zorder=1)
        ax.text(0.01, y, text, transform=ax.get_yaxis_transform(), ha="left", va="bottom", fontsize=8, color="0.4")
    ax.set_xlabel(f"{sweep.label} (log scale)")
    ax.set_ylabel("test accuracy (%)")
    fixed = ", ".join(f"{'learning rate' if k == 'lr' else 'weight scale'} {v:g}" for k, v in sweep.fixed.items())
    seeds = f"{len(sweep.seeds)} seeds" if len(sweep.seeds) > 1 else f"seed {sweep.seeds[0]}"
    ax.set_title(f"after {sweep.steps} steps, {fixed} ({seeds})", fontsize=11)
    if legend:
        ax.legend(handles=sweep_legend_handles(), loc="center left", fontsize=9)
    return ax


def sweep_legend_handles():
    """Legend entries of :func:`plot_sweep`: a line with dots per version, a cross for a diverged run."""
    handles = [mpl.lines.Line2D([], [], color=BN_COLORS[bn], marker="o", lw=2,
                                label="with batch norm" if bn else "without batch norm") for bn in (True, False)]
    handles.append(mpl.lines.Line2D([], [], color="0.3", marker="x", mew=2, lw=0, label="diverged (drawn at 0)"))
    return handles


@styled
def plot_loss_per_step(histories, ax=None, *, colors=None, smooth=10, title="training loss"):
    """The minibatch loss at every step (faint) and its moving average (solid), one colour per run.

    ``histories``: dict label -> History; ``ax``: an Axes (None: a new pyplot
    figure); ``smooth``: window of the moving average, in steps. Lines of gid
    ``'loss:<label>'``. Returns the Axes.
    """
    ax = prepare_axes(ax)
    tidy(ax)
    palette = colors or CYCLE
    for i, (label, h) in enumerate(histories.items()):
        c = palette[i % len(palette)]
        loss = finite_or_nan(h.loss)
        ax.plot(h.step, loss, color=c, alpha=0.25, lw=0.8, gid=f"rawloss:{label}")
        ax.plot(h.step, moving_average(loss, smooth), color=c, label=label, gid=f"loss:{label}")
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
            a2.plot(layers, plots.positive_finite(h.grad_norm[0]), "o-", color=c, label=label, gid=f"grad:{label}")
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
def bn_init_scale_and_lr_sweep(scale=None, lr=None):
    """Test accuracy of the ReLU baseline without and with batch norm, against the init scale and the learning rate."""
    scale = scale if scale is not None else scale_sweep()
    lr = lr if lr is not None else lr_sweep()
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.6), sharey=True)
    plot_sweep(scale, ax=a1, legend=False)
    plot_sweep(lr, ax=a2, legend=False)
    with plots.style():
        a2.set_ylabel("")
        a2.tick_params(labelleft=True)
        fig.legend(handles=sweep_legend_handles(), loc="outside lower center", ncol=3, fontsize=10)
        fig.suptitle(f"{_NAMES[lr.activation]} MLP, {BN_NET['depth']} hidden layers x {BN_NET['width']} units, "
                     f"{_NAMES[INITS[lr.activation]]} init, SGD, batch {lr.batch_size}, digits", fontsize=12)
    return fig


#: How figure titles name activations and initializers.
_NAMES = {"relu": "ReLU", "sigmoid": "sigmoid", "he_normal": "He", "glorot_uniform": "Glorot"}


@figure("bn_raw_pixels")
def bn_raw_pixels(runs=None):
    """Raw pixels (0..16) vs standardized pixels vs raw pixels with a batch-norm layer first: training curves."""
    runs = runs if runs is not None else raw_input_runs()
    hist = {label: h for label, (_, h) in runs.items()}
    fig, axes = plots.new_figure(1, 2, figsize=(12, 4.6))
    colors = [plots.OKABE_ITO[c] for c in ("green", "vermillion", "blue")]
    plots.plot_training_curves(hist, axes=axes, smooth=10, colors=colors)
    with plots.style():
        for t in axes[1].texts:  # the raw-pixel run lies along the chance line: its label goes below the line
            if t.get_text().startswith("chance"):
                t.set_verticalalignment("top")
        net, h = next(iter(runs.values()))
        cfg = h.config
        fig.suptitle(f"{_NAMES.get(net.activation, net.activation)} MLP {list(net.hidden)}, He init, SGD lr "
                     f"{cfg['lr']:g}, batch {cfg['batch_size']}, digits", fontsize=12)
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
    freeze_layout = False  # the y tick labels widen when a batch mean falls below 0: lay out at every draw
    true_mean, true_std = 3.0, 2.0
    references = {0.99: "0.99: Keras default", 0.9: "0.9: PyTorch default 0.1"}

    def __init__(self, canvas="auto", *, seed=0, **values):
        self.seed = seed
        self.readout = ipywidgets.HTML()
        self._runs = LRU(64)
        self._linking = False
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "momentum": w.FloatSlider(value=0.99, min=0.0, max=0.999, step=0.001, readout_format=".3f",
                                      description="momentum, Keras (weight kept)", style=CONTROL_STYLE),
            "pytorch_momentum": w.FloatSlider(value=0.01, min=0.001, max=1.0, step=0.001, readout_format=".3f",
                                              description="momentum, PyTorch (weight of new batch)", style=CONTROL_STYLE),
            "steps": int_slider("steps", 10, 1000, 200, step=10),
            "batch_size": values_slider("batch size", (4, 8, 16, 32, 64, 128, 256), 32),
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


def _hist(values, edges):
    """Fraction of ``values`` per bin of ``edges``, as the (x, y) of a step line centred on the bins."""
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return 0.5 * (edges[1:] + edges[:-1]), counts / max(len(values), 1)


def draw_batch_noise(ax_mean, ax_xhat, noise):
    """Draw (or update in place) a :class:`BatchNoise`: histograms of the batch means (left) and of the
    followed digit's normalized pixel (right) over the batches, on fixed axes, with the population values.

    Lines of gid ``'batch_mean'``, ``'x_hat'``, ``'population_mean'``, ``'population_x_hat'``. Returns the
    two Axes.
    """
    for ax in (ax_mean, ax_xhat):
        tidy(ax)
    c = OKABE_ITO["blue"]
    for ax, gid, values, edges, pop, pop_gid in (
            (ax_mean, "batch_mean", noise.batch_mean, np.linspace(-1.5, 1.5, 61), noise.population_mean,
             "population_mean"),
            (ax_xhat, "x_hat", noise.x_hat, np.linspace(-3.0, 3.0, 61), noise.population_x_hat,
             "population_x_hat")):
        x, y = _hist(values, edges)
        _line(ax, gid, [], [], drawstyle="steps-mid", color=c, lw=2, label="over the batches").set_data(x, y)
        _line(ax, pop_gid, [], [], ":", color=OKABE_ITO["black"], lw=1.5,
              label="whole training set").set_data([pop, pop], [0, 1])
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, max(0.05, 1.45 * float(y.max())))  # headroom: the legend sits above the bars
        ax.set_ylabel("fraction of the batches")
        if ax.get_legend() is None:
            ax.legend(loc="upper right", fontsize=9)
    ax_mean.set_xlabel(f"batch mean of pixel {noise.feature} (standardized units)")
    ax_mean.set_title(f"{len(noise.batch_mean)} batches of {noise.batch_size}: their means", fontsize=11)
    ax_xhat.set_xlabel(f"x_hat of training digit {noise.example}'s pixel {noise.feature} in its batch")
    ax_xhat.set_title(f"the same pixel of the same digit, normalized by each batch", fontsize=11)
    return ax_mean, ax_xhat


class BatchNoiseExplorer(Explorer):
    """How noisy batch statistics are, against the batch size (:func:`batch_noise`).

    One pixel of one training digit is normalized, in training mode, together
    with ``batch_size - 1`` other random training digits, 2000 times. Left: the
    batch means of the pixel; right: the digit's normalized value x_hat in
    each batch, beside the value the whole training set gives (what inference
    uses once the moving averages have converged).

    Control: ``batch_size``.

    Attributes
    ----------
    noise : BatchNoise
        What is drawn now.
    """

    figsize = (11.0, 3.8)

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        return {"batch_size": values_slider("batch size", (2, 3, 4, 8, 16, 32, 64, 128, 256), 32)}

    def setup_figure(self, fig):
        self.ax_mean, self.ax_xhat = fig.subplots(1, 2)

    def refresh(self, batch_size):
        self.noise = batch_noise(batch_size)
        draw_batch_noise(self.ax_mean, self.ax_xhat, self.noise)
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        n = self.noise
        lo, hi = np.quantile(n.x_hat, [0.05, 0.95])
        return (f"Batches of {n.batch_size}: the batch mean of pixel {n.feature} varies with standard deviation "
                f"{n.mean_spread:.3f} (sampling theory: {n.predicted_mean_spread:.3f}, about 1/sqrt(batch size) "
                f"= {1 / np.sqrt(n.batch_size):.3f}).\n"
                f"Digit {n.example}'s pixel, {n.value:.2f} in standardized units, becomes x_hat between "
                f"{lo:.2f} and {hi:.2f} in 90% of the batches (standard deviation {n.x_hat_spread:.3f}); "
                f"normalized with the whole training set it is {n.population_x_hat:.2f}.")


def _set_line(ax, gid, x, y, **style):
    """Create or update the Line2D of ``gid`` on ``ax`` with data (x, y) and ``style``."""
    line = _line(ax, gid, [], [])
    line.set_data(x, y)
    line.set(**style)
    return line


def draw_training_run(ax_loss, ax_grad, h, reference=None, *, bn=True):
    """Draw (or update in place) a run of :func:`bn_run`: the minibatch loss per step (left, log scale; a
    10-step moving average over the raw values) and the weight-gradient norm per hidden layer before
    training (right, log scale). ``reference`` (another History, or None) is drawn dashed and grey; ``bn``
    says whether ``h`` ran with batch norm (its colour).

    Lines of gid ``'loss'``, ``'rawloss'``, ``'grad'``, ``'ref_loss'``, ``'ref_grad'``, ``'chance'``.
    Returns the two Axes.
    """
    for ax in (ax_loss, ax_grad):
        tidy(ax)
    c = BN_COLORS[bool(bn)]
    loss = finite_or_nan(h.loss)
    _set_line(ax_loss, "rawloss", h.step, loss, color=c, alpha=0.25, lw=0.8, zorder=1)
    _set_line(ax_loss, "loss", h.step, moving_average(loss, 10), color=c, lw=2.2, zorder=3, label="this run")
    g = plots.positive_finite(h.grad_norm[0])
    _set_line(ax_grad, "grad", np.arange(1, len(g) + 1), g, color=c, lw=2.2, marker="o", ms=4, zorder=3,
              label="this run")
    ref_style = dict(color="0.55", lw=1.2, ls="--", zorder=2, label=f"batch norm {'off' if bn else 'on'}")
    if reference is None:
        _set_line(ax_loss, "ref_loss", [], [], **ref_style)
        _set_line(ax_grad, "ref_grad", [], [], **ref_style)
    else:
        rl = finite_or_nan(reference.loss)
        _set_line(ax_loss, "ref_loss", reference.step, moving_average(rl, 10), **ref_style)
        rg = plots.positive_finite(reference.grad_norm[0])
        _set_line(ax_grad, "ref_grad", np.arange(1, len(rg) + 1), rg, marker="o", ms=3, **ref_style)
    _set_line(ax_loss, "chance", [0, h.config["steps"]], [np.log(10)] * 2, ls=":", color="0.5", lw=1, zorder=1,
              label="ln 10: guessing")
    finite = np.concatenate([v[np.isfinite(v)] for v in
                             [loss] + ([] if reference is None else [finite_or_nan(reference.loss)])])
    ax_loss.set_yscale("log")
    ax_loss.set_xlim(0, h.config["steps"])
    lo = float(finite.min()) if finite.size else 0.1
    hi = float(finite.max()) if finite.size else 10.0
    bottom, top = max(1e-3, min(lo, 1.0) / 1.5), min(max(hi, 3.0) * 1.5, 1e6)
    ax_loss.set_ylim(bottom, top)
    subs = (1.0, 2.0, 5.0) if top / bottom < 300 else (1.0,)  # few labels over many decades
    ax_loss.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=subs))
    ax_loss.yaxis.set_major_formatter(mpl.ticker.FormatStrFormatter("%g"))
    ax_loss.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax_loss.set_xlabel("training step")
    ax_loss.set_ylabel("minibatch loss (log scale)")
    ax_grad.set_yscale("log")
    ax_grad.margins(y=0.15)
    Explorer.autoscale(ax_grad, x=False)
    ax_grad.set_xlim(0.5, BN_NET["depth"] + 0.5)
    ax_grad.set_xticks(range(1, BN_NET["depth"] + 1))
    ax_grad.set_xlabel("hidden layer")
    ax_grad.set_ylabel(r"$\|\partial L/\partial W^l\|$ before training")
    ax_loss.legend(loc="lower left", fontsize=8)
    plots.explain(ax_loss, f"this run diverged at step {h.diverged_step}:\nthe loss overflowed" if h.diverged else "")
    return ax_loss, ax_grad


class BatchNormExplorer(Explorer):
    """The chapter's network trained with batch norm on or off, at any init scale and learning rate.

    Each setting trains :func:`bn_network` for 100 steps on the digits
    (:func:`bn_run`, cached: a setting seen before is drawn at once), and the
    same setting with batch norm switched the other way is drawn thin and grey
    for comparison. Left: the minibatch loss; right: the weight-gradient norm
    per hidden layer before training.

    Controls: ``batch_norm`` (on/off), ``activation`` (the ReLU baseline with
    He init, or the sigmoid net with Glorot init), ``weight_scale`` (x the
    init of the hidden layers), ``lr``.

    Attributes
    ----------
    run, reference : History
        The run drawn now, and the one with batch norm the other way.
    """

    figsize = (11.0, 3.9)
    freeze_layout = False  # tick labels of the loss axis change width with the runs: lay out at every draw

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        return {
            "batch_norm": choice("batch norm", [("on", True), ("off", False)], False, buttons=True),
            "activation": choice("activation", [("ReLU, He init", "relu"), ("sigmoid, Glorot init", "sigmoid")],
                                 "relu"),
            "weight_scale": values_slider("weight scale (x init)", (0.1, 0.3, 1.0, 3.0, 10.0), 1.0),
            "lr": values_slider("learning rate", (0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 3.0, 10.0), 0.3),
        }

    def setup_figure(self, fig):
        self.ax_loss, self.ax_grad = fig.subplots(1, 2, width_ratios=[1.4, 1])

    def refresh(self, batch_norm, activation, weight_scale, lr):
        self.run = bn_run(batch_norm, weight_scale, lr, activation=activation)[1]
        self.reference = bn_run(not batch_norm, weight_scale, lr, activation=activation)[1]
        draw_training_run(self.ax_loss, self.ax_grad, self.run, self.reference, bn=batch_norm)
        self.ax_loss.set_title(f"{activation}, weight scale {weight_scale:g}, lr {lr:g}, batch norm "
                               f"{'on' if batch_norm else 'off'}", fontsize=11)
        self.ax_grad.set_title("the gradient reaching each layer", fontsize=11)
        self.readout.value = html.escape(self.summary()).replace("\n", "<br>")

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        bn = self.values["batch_norm"]
        return "\n".join(f"batch norm {'on' if b else 'off'}: {h.status}"
                          for b, h in ((bn, self.run), (not bn, self.reference)))


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


#: The batches the code exercise 06.4 is checked on: (examples, features, seed).
BACKWARD_CHECKS = ((8, 3, 0), (5, 1, 1), (16, 4, 2))


def _check_backward_exercise(func):
    """Checker of exercise 06.4: the learner's backward against finite differences on :data:`BACKWARD_CHECKS`."""
    for batch, features, seed in BACKWARD_CHECKS:
        result = gradient_check(func, batch=batch, features=features, seed=seed)
        if result.problem:
            return False, result.problem
        wrong = [k for k, e in result.errors.items() if not e < result.tol]
        if wrong:
            errs = ", ".join(f"{k} {result.errors[k]:.2g}" for k in wrong)
            verb = "does" if len(wrong) == 1 else "do"
            return False, (f"on a batch of {batch} x {features}, {' and '.join(wrong)} {verb} not agree with finite "
                           f"differences (entry-wise relative error {errs})")
    return True, ""


@exercise(
    "06.4",
    question="Write the backward pass of batch norm in training mode, step by step: a function "
    "my_backward(dy, x, gamma, eps) that returns (dx, dgamma, dbeta) for y = gamma * x_hat + beta. Go back "
    "through the four steps of the forward pass one at a time (dx_hat, then the variance's gradient dvar, "
    "then the mean's dmu, then dx) instead of copying the folded formula of section 2.",
    hint="x_i reaches the loss three ways: directly through x_hat_i, through mu_B (every x_hat_j subtracts it) "
    "and through sigma_B^2 (every x_hat_j divides by its square root). Compute dvar and dmu first, each a sum "
    "over the batch, then add the three routes for dx. Test as you go: print(ch.gradient_check(my_backward)"
    ".summary()).",
    explain=lambda ref: (
        "The forward pass is mu = mean(x), var = mean((x - mu)^2), x_hat = (x - mu) / sqrt(var + eps), "
        "y = gamma x_hat + beta (per feature). Going back: dbeta = sum of dy over the batch, dgamma = sum of "
        "dy x_hat, dx_hat = dy gamma. Each x_i moves x_hat_i directly, and every x_hat_j through mu and var, "
        "so dx collects three terms (Ioffe & Szegedy 2015, section 3, write out the same chain rule). "
        "Simplified, they give the folded line of section 2 and of gv.layers.BatchNorm.backward. It is "
        "checked by finite differences with a random upstream gradient (a sum of the outputs would not do: "
        "it does not depend on x)."
    ),
    checker=_check_backward_exercise,
)
def bn_backward_steps(dy, x, gamma, eps=1e-3):
    """Reference answer of exercise 06.4: batch norm's training-mode backward, one step of the forward at a time.

    ``dy``, ``x``: (m, n); ``gamma``: (n,). Returns (dx (m, n), dgamma (n,), dbeta (n,)).
    """
    m = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    dbeta = dy.sum(axis=0)                       # y = gamma * x_hat + beta
    dgamma = (dy * x_hat).sum(axis=0)
    dx_hat = dy * gamma
    dvar = (dx_hat * xc).sum(axis=0) * -0.5 * inv_std ** 3       # x_hat = xc * (var + eps)^(-1/2)
    dmu = -(dx_hat * inv_std).sum(axis=0) + dvar * (-2.0 * xc).mean(axis=0)  # the second term is 0
    dx = dx_hat * inv_std + dvar * 2.0 * xc / m + dmu / m         # x enters xc, var and mu
    return dx, dgamma, dbeta
