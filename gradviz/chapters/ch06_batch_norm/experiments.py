"""Chapter 06's experiments: the configured runs and measurements behind the notebook's results.

In order: the algorithm step by step; the backward pass, checked by finite differences; four vectors
per layer; moving averages: one formula, two conventions; the chapter's networks, with and without
batch norm; training mode and inference mode; the noise of batch statistics; batch norm as the first
layer; init scale and learning rate, on a baseline that trains without batch norm.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass

import numpy as np

from ... import gradcheck
from ..._validate import (check_array_2d, check_choice, check_finite, check_nonneg_int, check_positive,
                          check_positive_int, check_probability, get_rng)
from ...data import digits, load_digits, load_digits_raw
from ...layers import BatchNorm
from ...network import MLP, BatchNormOptions
from ...train import one_blas_thread, progress_bar, train


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
    # (train runs BLAS on one thread itself: a second limit here cost 3 ms of an explorer's 20-step draft)
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
        n = len(self.seeds)
        head = f"{self.label:>14} " + " ".join(f"{x:>7g}" for x in self.values) + f"   ({n} seed{'s' if n > 1 else ''})"
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
    bar = progress_bar(len(configs), "training runs", "run") if progress else None
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
