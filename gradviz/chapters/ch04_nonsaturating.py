"""Chapter 04, non-saturating activations: ReLU, its dying units, and the variants that repair them.

The code behind ``notebooks/04_nonsaturating_activations.ipynb``. ReLU has slope
exactly 1 for every z > 0, so a gradient crossing many ReLU layers is not
multiplied by small slopes as it is through sigmoids; but a unit with z <= 0 for
every input passes no gradient at all (it is *dead*). The chapter provokes dead
units with a large learning rate and with a negative bias shift, counts the
networks dead at birth against the closed form
:func:`gradviz.theory.dead_at_birth_probability`, then shows what leaky ReLU,
RReLU, PReLU and ELU let through below 0, trains them side by side on the
handwritten digits, and measures what each costs.

A notebook imports it as ``from gradviz.chapters import ch04_nonsaturating as ch``.
Runs on the digits come from :func:`digits_run` (4 hidden layers x 64 units,
He init, SGD lr 0.1, 200 steps of 64, seed 0 unless stated); every figure
accepts the runs the notebook already trained, to avoid training twice.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
from tqdm.auto import tqdm

from .. import plots
from .._validate import (check_array_2d, check_choice, check_finite, check_positive, check_positive_int,
                         check_probability, get_rng)
from ..activations import elu, elu_grad, get_activation
from ..data import load_digits
from ..exercises import exercise
from ..figures import figure
from ..init import ALIASES, INITIALIZERS, weight_variance
from ..layers import ActivationLayer, PReLU, RReLU
from ..network import MLP
from ..stats import probe
from ..theory import dead_at_birth_probability
from ..train import History, one_blas_thread, train
from ..widgets import _LRU, _STYLE, Explorer, _w, choice, int_slider

__all__ = [
    "relu_activity", "simulate_dead_at_birth", "shifted_gradient", "activation_cost", "digits_run", "lr_race",
    "dying_relu_training", "prelu_slope_over_training", "activation_training_comparison",
    "activation_training_shifted", "LeakySlopeExplorer",
]


# ---- experiments
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


@dataclass
class DeadAtBirthSimulation:
    """Result of :func:`simulate_dead_at_birth`.

    Attributes
    ----------
    depth, width, n_networks : int
    dead_by_layer : float array (depth,)
        Entry l - 1: fraction of the simulated networks in which one of the
        hidden layers 1..l already has every unit silent on the input (so the
        network's layers from there on output 0). The last entry is
        :attr:`probability`.
    probability : float
        Fraction of networks dead at birth for this input.
    standard_error : float
        sqrt(p (1 - p) / n_networks): the standard error of ``probability`` as
        an estimate (binomial count).
    """

    depth: int
    width: int
    n_networks: int
    dead_by_layer: np.ndarray
    probability: float
    standard_error: float

    @property
    def standard_errors(self) -> np.ndarray:
        """Standard error of every entry of :attr:`dead_by_layer`, shape (depth,)."""
        p = self.dead_by_layer
        return np.sqrt(p * (1.0 - p) / self.n_networks)


def simulate_dead_at_birth(depth: int, width: int, n_networks: int = 20000, x=None, *, n_inputs: int = 64,
                           init: str = "he_normal", bias: float = 0.0, seed=0) -> DeadAtBirthSimulation:
    """Draw ``n_networks`` random ReLU networks and count those dead at birth for the input ``x``.

    Each network has ``depth`` hidden ReLU layers of ``width`` units on top of
    ``len(x)`` inputs, weights drawn as :class:`gradviz.network.MLP` draws them
    (initializer ``init``, W of shape (fan_in, fan_out)) and every bias equal to
    ``bias``. The network is *dead at birth for x* if some hidden layer has
    z <= 0 in every unit, i.e. outputs all zeros: then every later layer sees
    the input 0, the output no longer depends on x, and no gradient reaches
    the layers below. (A network is followed only until it dies: its later
    layers cannot change that.) This is the event
    whose probability :func:`gradviz.theory.dead_at_birth_probability` gives
    in closed form for zero biases, 1 - (1 - 2**-width)**depth.

    All networks are propagated at once (weights of shape
    (networks, fan_in, width), in chunks), so 20000 narrow networks take a
    fraction of a second.

    Parameters
    ----------
    depth, width : int >= 1
        Hidden layers and units per hidden layer.
    n_networks : int >= 1
        Number of independent networks drawn.
    x : array (n_inputs,) or None
        The fixed input (e.g. one image of the digits); None: a standard-normal
        vector of ``n_inputs`` entries drawn from ``seed``. Must not be all
        zeros.
    n_inputs : int >= 1
        Length of the random input when ``x`` is None.
    init : str
        A normal or uniform initializer of :mod:`gradviz.init` (``he_normal``,
        ``glorot_uniform``, ``lecun_normal``...). The probability does not
        depend on the weights' scale, only on their symmetry about 0.
    bias : float
        Value of every hidden bias (0 in the closed form; a negative value
        makes death more likely).
    seed : int or numpy.random.Generator
        Same seed, same networks, bit for bit.

    Returns
    -------
    DeadAtBirthSimulation

    Raises
    ------
    ValueError, TypeError
        Non-positive sizes, an all-zero or non-finite ``x``, an initializer
        that is not normal or uniform (orthogonal columns are not independent).

    Examples
    --------
    >>> sim = simulate_dead_at_birth(10, 2, n_networks=4000, seed=0)
    >>> abs(sim.probability - (1 - 0.75 ** 10)) < 4 * sim.standard_error
    True
    """
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    n_networks = check_positive_int("n_networks", n_networks)
    bias = check_finite("bias", bias)
    allowed = [n for n in tuple(INITIALIZERS) + tuple(ALIASES) if n.endswith(("normal", "uniform"))]
    init = check_choice("init", init, allowed)
    init = ALIASES.get(init, init)
    rng = get_rng(seed)
    if x is None:
        x = rng.standard_normal(check_positive_int("n_inputs", n_inputs))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a 1-D array (one input vector); got shape {x.shape}")
    if not np.isfinite(x).all() or not np.any(x):
        raise ValueError("x must be finite and not all zeros (a zero input gives z = bias in every unit)")

    widths = [x.size] + [width] * depth
    first_dead = np.full(n_networks, depth + 1)  # 1-based first all-silent layer; depth + 1 = never
    # networks per chunk: keep one chunk's weight tensor near 2 million numbers
    chunk = max(1, min(n_networks, 2_000_000 // max(widths[i] * widths[i + 1] for i in range(depth))))
    for start in range(0, n_networks, chunk):
        n = min(chunk, n_networks - start)
        alive = np.arange(start, start + n)  # networks not dead yet: only these need their next layer
        h = np.broadcast_to(x, (n, x.size))
        for l in range(1, depth + 1):
            fan_in, fan_out = widths[l - 1], widths[l]
            var = weight_variance(init, fan_in, fan_out)
            m = alive.size
            if init.endswith("uniform"):
                lim = np.sqrt(3.0 * var)
                W = rng.uniform(-lim, lim, size=(m, fan_in, fan_out))
            else:
                W = np.sqrt(var) * rng.standard_normal((m, fan_in, fan_out))
            z = np.matmul(h[:, None, :], W)[:, 0, :] + bias
            all_silent = (z <= 0).all(axis=1)
            first_dead[alive[all_silent]] = l
            alive, h = alive[~all_silent], np.maximum(z[~all_silent], 0.0)
            if not alive.size:
                break
    dead_by_layer = np.array([(first_dead <= l).mean() for l in range(1, depth + 1)])
    p = float(dead_by_layer[-1])
    return DeadAtBirthSimulation(depth=depth, width=width, n_networks=n_networks, dead_by_layer=dead_by_layer,
                                 probability=p, standard_error=float(np.sqrt(p * (1.0 - p) / n_networks)))


#: Activations :func:`activation_cost` times by default (the stateful RReLU and PReLU included).
COST_ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "sigmoid", "tanh")


@dataclass
class ActivationCost:
    """Measured time of one forward and one backward pass of each activation layer.

    Attributes
    ----------
    names : tuple of str
    seconds : dict name -> float
        Median wall-clock time (seconds) of forward + backward on the array.
    relative : dict name -> float
        ``seconds[name] / seconds[reference]``.
    reference : str
        The activation the others are compared with (``'relu'``).
    shape : tuple
        Shape of the array, (batch, features).
    dtype : str
    repeats : int
        Number of timed passes per activation (the median is taken).
    """

    names: tuple
    seconds: dict
    relative: dict
    reference: str
    shape: tuple
    dtype: str
    repeats: int

    def ranking(self) -> list:
        """Names from fastest to slowest."""
        return sorted(self.names, key=lambda n: self.seconds[n])

    def as_table(self) -> str:
        """One row per activation: median time in microseconds and relative to the reference."""
        rows = [f"{'activation':>11} {'median time (us)':>17} {'x ' + self.reference:>10}"]
        for n in self.names:
            rows.append(f"{n:>11} {1e6 * self.seconds[n]:>17.0f} {self.relative[n]:>10.2f}")
        return "\n".join(rows)


def _activation_layer(name, width, seed):
    if name == "rrelu":
        return RReLU(rng=seed)
    if name == "prelu":
        return PReLU(width)
    return ActivationLayer(name)


def activation_cost(names=COST_ACTIVATIONS, shape=(256, 512), repeats: int = 20, *, dtype=np.float32,
                    reference: str = "relu", seed=0) -> ActivationCost:
    """Time the forward and backward pass of each activation layer on the same array.

    For every name, the layer the networks use (:class:`gradviz.layers.ActivationLayer`,
    or :class:`~gradviz.layers.RReLU` / :class:`~gradviz.layers.PReLU`) runs
    ``forward(x, training=True)`` then ``backward(dout)`` on a fixed
    standard-normal ``x`` and ``dout`` of ``shape``. After one untimed warm-up
    pass each, the activations take turns (round-robin, ``repeats`` rounds),
    so a slow moment of the machine hits all of them alike; the median of the
    rounds is reported.

    The numbers are wall-clock times of *this* numpy implementation on *this*
    machine: they vary from run to run (other programs, CPU frequency) and
    between machines, and a framework's fused GPU kernels rank differently.

    Parameters
    ----------
    names : sequence of str
        Activations from :data:`COST_ACTIVATIONS`; must include ``reference``.
    shape : (int, int)
        (batch, features) of the array.
    repeats : int >= 1
        Timed passes per activation.
    dtype : numpy float dtype
    reference : str
        The activation the others are divided by.
    seed : int
        Seeds the arrays and RReLU's slopes.

    Returns
    -------
    ActivationCost

    Raises
    ------
    ValueError
        Unknown names, a reference not among them, a bad shape or repeats.
    """
    names = tuple(check_choice("names", n, COST_ACTIVATIONS) for n in names)
    if not names:
        raise ValueError("names must list at least one activation")
    if reference not in names:
        raise ValueError(f"reference={reference!r} must be one of names: {', '.join(names)}")
    if len(shape) != 2:
        raise ValueError(f"shape must be (batch, features); got {shape!r}")
    shape = (check_positive_int("shape[0]", shape[0]), check_positive_int("shape[1]", shape[1]))
    repeats = check_positive_int("repeats", repeats)
    rng = get_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    layers = {n: _activation_layer(n, shape[1], seed) for n in names}
    times = {n: [] for n in names}
    for n, layer in layers.items():  # warm-up: first-call costs are not the activation's
        layer.forward(x, training=True)
        layer.backward(dout)
    for _ in range(repeats):
        for n, layer in layers.items():
            t0 = time.perf_counter()
            layer.forward(x, training=True)
            layer.backward(dout)
            times[n].append(time.perf_counter() - t0)
    seconds = {n: float(np.median(times[n])) for n in names}
    relative = {n: seconds[n] / seconds[reference] for n in names}
    return ActivationCost(names=names, seconds=seconds, relative=relative, reference=reference, shape=shape,
                          dtype=np.dtype(dtype).name, repeats=repeats)


@dataclass
class ShiftedGradient:
    """How much gradient gets back through a deep net whose biases push units below 0 (see :func:`shifted_gradient`).

    Arrays have shape (L,), index 0 is hidden layer 1.

    Attributes
    ----------
    activation : str
    activation_params : dict
    bias : float
    relative_gradient : float array
        rms of dL/da^l divided by rms of dL/da^L (the gradient arriving at the
        top hidden layer): 1 at layer L; exactly 0 below a layer that passes no
        gradient at all.
    silent_fraction : float array
        Fraction of (example, unit) pairs with z <= 0 (for ReLU: slope 0).
    first_silent_layer : int or None
        First hidden layer (1-based) whose units are all silent (z <= 0) for
        every example of the probe, or None. For ReLU no gradient at all gets
        below it; leaky ReLU and ELU still pass a (small) one.
    """

    activation: str
    activation_params: dict
    bias: float
    relative_gradient: np.ndarray
    silent_fraction: np.ndarray
    first_silent_layer: int | None

    @property
    def depth(self) -> int:
        return len(self.relative_gradient)

    @property
    def at_first_layer(self) -> float:
        """The gradient reaching hidden layer 1, relative to layer L."""
        return float(self.relative_gradient[0])

    def factor_per_layer(self, lower: int, upper: int) -> float:
        """Geometric-mean factor by which the gradient shrinks per layer from layer ``upper`` down to ``lower``.

        (relative_gradient[lower] / relative_gradient[upper]) ** (1 / (upper - lower)),
        with 1-based layers 1 <= lower < upper <= L; 0 if the gradient at ``lower`` is 0.
        """
        lower, upper = check_positive_int("lower", lower), check_positive_int("upper", upper)
        if not lower < upper <= self.depth:
            raise ValueError(f"need 1 <= lower < upper <= {self.depth}; got lower={lower}, upper={upper}")
        r = self.relative_gradient
        if r[lower - 1] == 0:
            return 0.0
        with np.errstate(all="ignore"):
            return float((r[lower - 1] / r[upper - 1]) ** (1.0 / (upper - lower)))


def shifted_gradient(activation: str = "leaky_relu", bias: float = -1.0, depth: int = 10, width: int = 64, *,
                     batch_size: int = 256, seed=0, **activation_params) -> ShiftedGradient:
    """Probe a deep MLP whose hidden biases all start at ``bias`` and measure the gradient per layer.

    The network is ``MLP(width, depth=depth, width=width, activation=activation,
    bias=bias, n_outputs=None)`` with the initializer recommended for the
    activation (He normal for the ReLU family and ELU); :func:`gradviz.stats.probe` feeds it
    standard-normal inputs and back-propagates a standard-normal gradient from
    the last hidden layer. A negative bias puts most pre-activations below 0,
    where ReLU's slope is exactly 0, leaky ReLU's is ``alpha`` and ELU's is
    ``alpha * exp(z)``: the measured gradient shows what each of them lets
    through.

    Parameters
    ----------
    activation : str
        One of :data:`gradviz.network.NETWORK_ACTIVATIONS`.
    bias : float
        Initial value of every hidden bias.
    depth, width, batch_size : int >= 1
    seed : int
        Seeds the weights and the probe.
    **activation_params
        E.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    ShiftedGradient

    Raises
    ------
    ValueError, TypeError
        Unknown activation or parameters, sizes that are not positive integers.
    """
    bias = check_finite("bias", bias)
    net = MLP(check_positive_int("width", width), depth=check_positive_int("depth", depth), width=width,
              activation=activation, bias=bias, n_outputs=None, seed=seed, **activation_params)
    probe(net, batch_size=batch_size, seed=seed)
    with np.errstate(all="ignore"):
        rms = np.array([np.sqrt(np.mean(np.square(r["da"], dtype=np.float64))) for r in net.records])
        rel = rms / rms[-1] if rms[-1] > 0 else np.full(len(rms), np.nan)
        silent = [r["z"] <= 0 for r in net.records]
    dead = [l for l, s in enumerate(silent, start=1) if s.all()]
    return ShiftedGradient(activation=net.activation, activation_params=dict(activation_params), bias=bias,
                           relative_gradient=rel, silent_fraction=np.array([float(s.mean()) for s in silent]),
                           first_silent_layer=dead[0] if dead else None)


#: How a run can end: still alive (no hidden layer entirely dead; whether it learned is another
#: matter), dead (a whole hidden layer is silent for every training example, so the output no longer
#: depends on the input), or diverged (a number overflowed).
OUTCOMES = ("alive", "dead", "diverged")


@dataclass(eq=False)
class DigitsRun:
    """One training run on the digits (see :func:`digits_run`).

    Attributes
    ----------
    label : str
    history : History
    net : MLP
        The trained network.
    activity : ReluActivity
        Silent and dead units per hidden layer on the whole training set, after training.
    """

    label: str
    history: History
    net: MLP
    activity: ReluActivity

    @property
    def outcome(self) -> str:
        """'diverged' if training overflowed, 'dead' if some hidden layer has every unit dead on the
        whole training set, else 'alive' (see :data:`OUTCOMES`)."""
        if self.history.diverged:
            return "diverged"
        return "dead" if self.activity.first_dead_layer is not None else "alive"

    @property
    def test_accuracy(self) -> float:
        """Final test accuracy in [0, 1] (nan if the run diverged before any record)."""
        return float(self.history.test_accuracy[-1])

    @property
    def summary(self) -> str:
        """One line: the test accuracy and the dead units per layer (on all training examples), or the overflow."""
        h = self.history
        if self.outcome == "diverged":
            return f"{self.label}: diverged, overflow at step {h.diverged_step}"
        dead = " ".join(f"{d:.0%}" for d in self.activity.dead_fraction)
        line = f"{self.label}: test accuracy {self.test_accuracy:.1%}, dead units per layer {dead}"
        if self.outcome == "dead":
            line += f" (layer {self.activity.first_dead_layer} entirely dead)"
        return line

    def verdict(self, accuracy_floor: float = 0.5, dead_threshold: float = 0.15) -> str:
        """One line that holds on any machine: the outcome, and two yes/no facts with a wide margin.

        A run at a learning rate near the edge of stability is chaotic: the last
        bit of one matrix product, which differs between BLAS kernels and thread
        counts, grows into a different network, so its exact accuracy and dead
        fractions differ from machine to machine (:attr:`summary` prints them).
        This line states only what the lesson needs: whether the test accuracy
        is above ``accuracy_floor`` (chance is 0.1) and whether some hidden layer
        has more than ``dead_threshold`` of its units dead on the whole
        training set.

        Raises
        ------
        ValueError
            If ``accuracy_floor`` or ``dead_threshold`` is outside [0, 1].
        """
        check_probability("accuracy_floor", accuracy_floor)
        check_probability("dead_threshold", dead_threshold)
        if self.outcome == "diverged":
            return f"{self.label}: diverged"
        learned = "yes" if self.test_accuracy > accuracy_floor else "no"
        scarred = "yes" if np.max(self.activity.dead_fraction) > dead_threshold else "no"
        return (f"{self.label}: {self.outcome}; test accuracy above {accuracy_floor:.0%}: {learned}; "
                f"a hidden layer with more than {dead_threshold:.0%} of its units dead: {scarred}")




def digits_run(activation: str = "relu", *, depth: int = 4, width: int = 64, lr: float = 0.1, steps: int = 200,
               batch_size: int = 64, bias: float = 0.0, seed=0, data=None, progress=False, label=None,
               record_every=20, **activation_params) -> DigitsRun:
    """Train ``MLP(64, depth=depth, width=width, activation=activation, bias=bias)`` on the digits.

    The network gets the initializer the literature pairs with the activation
    (:func:`gradviz.init.recommended_init`: He normal for the ReLU family and
    ELU, Glorot uniform for sigmoid/tanh), ``seed`` seeds both its weights and
    the order of the minibatches, and plain SGD runs ``steps`` updates
    (:func:`gradviz.train.train`), with BLAS limited to one thread (faster for these small
    matrices, and the same numbers everywhere). Afterwards the whole training
    set is passed through once to see which hidden units are dead
    (:func:`relu_activity`).

    Parameters
    ----------
    activation : str
        One of :data:`gradviz.network.NETWORK_ACTIVATIONS`.
    depth, width : int >= 1
        Hidden layers and units per hidden layer.
    lr : float > 0
        Learning rate.
    steps, batch_size : int >= 1
    bias : float
        Initial value of every hidden bias (negative: many units start silent).
    seed : int
    data : Dataset or None
        None: :func:`gradviz.data.load_digits` with seed 0.
    progress : bool or 'auto'
        Progress bar while training (see :func:`gradviz.train.train`).
    label : str or None
        Name of the run in tables and legends; None builds one from the arguments.
    record_every : int or None
        Steps between record points (see :func:`gradviz.train.train`; each one evaluates the
        whole training and test sets).
    **activation_params
        E.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    DigitsRun

    Raises
    ------
    ValueError, TypeError
        As :class:`~gradviz.network.MLP` and :func:`gradviz.train.train` do, for unknown names or out-of-range values.
    """
    if data is None:
        data = load_digits(seed=0)
    net = MLP(data.n_features, depth=depth, width=width, activation=activation, bias=bias,
              n_outputs=data.n_classes, seed=seed, **activation_params)
    with one_blas_thread():
        history = train(net, data, lr=lr, steps=steps, batch_size=batch_size, seed=seed, progress=progress,
                        record_every=record_every)
        with np.errstate(all="ignore"):
            activity = relu_activity(net, data.X_train)
    if label is None:
        extra = "".join(f", {k}={v:g}" for k, v in activation_params.items())
        label = f"{activation}{extra}, lr {lr:g}" + (f", bias {bias:g}" if bias else "")
    return DigitsRun(label=label, history=history, net=net, activity=activity)


@dataclass(eq=False)
class LrRace:
    """Outcomes of short runs at several learning rates and seeds (see :func:`lr_race`).

    Attributes
    ----------
    lrs : tuple of float
    seeds : tuple of int
    outcomes : dict lr -> tuple of str
        One of :data:`OUTCOMES` per seed, in the order of ``seeds``.
    steps : int
    """

    lrs: tuple
    seeds: tuple
    outcomes: dict
    steps: int

    def count(self, lr, outcome: str) -> int:
        """How many seeds ended with ``outcome`` at learning rate ``lr``."""
        return sum(o == outcome for o in self.outcomes[lr])

    def as_table(self) -> str:
        """One row per learning rate: how many seeds stayed alive, died, diverged, and the outcome of each seed."""
        mark = {"alive": ".", "dead": "D", "diverged": "X"}
        rows = [f"{'lr':>8} {'alive':>6} {'dead':>5} {'diverged':>8}   per seed ({', '.join(map(str, self.seeds))})"]
        for lr in self.lrs:
            per_seed = " ".join(mark[o] for o in self.outcomes[lr])
            rows.append(f"{lr:>8g} {self.count(lr, 'alive'):>6d} {self.count(lr, 'dead'):>5d} "
                        f"{self.count(lr, 'diverged'):>8d}   {per_seed}")
        rows.append("(. alive, D a whole hidden layer dead on all training images, X overflow)")
        return "\n".join(rows)

    def survivors_table(self) -> str:
        """One row per learning rate: how many seeds stayed alive and how many were wrecked (dead or diverged).

        Unlike :meth:`as_table`, this holds on any machine: whether a wrecked run
        died or overflowed first is a race decided by the last bits of the
        arithmetic, and can differ between BLAS kernels.
        """
        rows = [f"{'lr':>8} {'alive':>6} {'wrecked':>8}   (of {len(self.seeds)} seeds)"]
        for lr in self.lrs:
            alive = self.count(lr, "alive")
            rows.append(f"{lr:>8g} {alive:>6d} {len(self.seeds) - alive:>8d}")
        return "\n".join(rows)


def lr_race(lrs, seeds=range(6), *, steps: int = 30, activation: str = "relu", data=None, progress=False,
            **run_kwargs) -> LrRace:
    """Short runs on the digits at each learning rate and seed: did each stay alive, die or diverge?

    At a very large learning rate the first updates are huge. Two things can
    then happen first: a number overflows (the run *diverges*), or the units
    of a whole hidden layer are pushed to z <= 0 for every input (the run is
    *dead*: the loss stays finite, but nothing below that layer ever gets a
    gradient again). Which comes first depends on the particular weights and
    minibatches, i.e. on the seed; within a few tens of steps it is decided.

    Parameters
    ----------
    lrs : sequence of float > 0
    seeds : iterable of int
    steps : int >= 1
        Updates per run.
    activation : str
    data : Dataset or None
        None: :func:`gradviz.data.load_digits` with seed 0.
    progress : bool
        One progress bar over all runs.
    **run_kwargs
        Passed to :func:`digits_run` (depth, width, bias, batch_size...).

    Returns
    -------
    LrRace

    Raises
    ------
    ValueError
        An empty ``lrs`` or ``seeds``, or what :func:`digits_run` raises.
    """
    lrs = tuple(float(check_positive("lr", lr)) for lr in lrs)
    seeds = tuple(int(s) for s in seeds)
    if not lrs or not seeds:
        raise ValueError("lrs and seeds must each hold at least one value")
    if data is None:
        data = load_digits(seed=0)
    bar = None
    if progress:
        bar = tqdm(total=len(lrs) * len(seeds), desc="runs", unit="run", leave=False)
    outcomes = {}
    try:
        for lr in lrs:
            row = []
            for s in seeds:
                run = digits_run(activation, lr=lr, steps=steps, seed=s, data=data, progress=False,
                                 record_every=steps, **run_kwargs)
                row.append(run.outcome)
                if bar is not None:
                    bar.update(1)
            outcomes[lr] = tuple(row)
    finally:
        if bar is not None:
            bar.close()
    return LrRace(lrs=lrs, seeds=seeds, outcomes=outcomes, steps=int(steps))


#: The activations the chapter trains side by side.
ACTIVATIONS = ("relu", "leaky_relu", "rrelu", "prelu", "elu", "sigmoid")
#: The negative bias shift of the chapter's "handicapped start".
BIAS_SHIFT = -2.0


def activation_runs(activations=ACTIVATIONS, *, bias=0.0, progress=False, **kwargs):
    """Train one :func:`digits_run` per activation (same network and budget); return {name: run}."""
    data = load_digits(seed=0)
    return {a: digits_run(a, bias=bias, data=data, progress=progress, label=a, **kwargs) for a in activations}


def dying_runs(lrs=(0.1, 1.0, 50.0), *, progress=False):
    """ReLU runs at the given learning rates (else the chapter's setup); return {'lr <lr>': run}."""
    data = load_digits(seed=0)
    return {f"lr {lr:g}": digits_run("relu", lr=lr, data=data, progress=progress, label=f"lr {lr:g}") for lr in lrs}


def dead_at_birth_simulations(widths=(2, 3, 4, 6), depth=30, n_networks=5000, seed=0):
    """{width: DeadAtBirthSimulation} for one digit image as input (the first training image)."""
    x = load_digits(seed=0).X_train[0]
    return {w: simulate_dead_at_birth(depth, w, n_networks, x=x, seed=seed) for w in widths}


def rrelu_draws(n=4000, lower=1 / 8, upper=1 / 3, seed=0):
    """(z, training output, inference output) of an RReLU layer on ``n`` normal inputs (std 1.5); each shape (n,)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((1, n)) * 1.5
    layer = RReLU(lower, upper, rng=seed)
    return z[0], layer.forward(z, training=True)[0], layer.forward(z, training=False)[0]


# ---- figures
def _rrelu_panel(ax, lower=1 / 8, upper=1 / 3, x_range=(-4.0, 3.0)):
    z = np.linspace(*x_range, 701)
    neg = z < 0
    mean = (lower + upper) / 2
    ax.fill_between(z[neg], lower * z[neg], upper * z[neg], color=plots.OKABE_ITO["sky_blue"], alpha=0.35, lw=0,
                    gid="rrelu:band", label=f"training: slope drawn from U[{lower:.3g}, {upper:.3g}]")
    ax.plot(z, np.where(neg, mean * z, z), color=plots.COLORS["phi"], gid="phi",
            label=f"inference: mean slope {mean:.3g}")
    ax.fill_between(z[neg], lower, upper, color=plots.OKABE_ITO["orange"], alpha=0.3, lw=0, gid="rrelu:slopes")
    ax.plot(z, np.where(neg, mean, 1.0), color=plots.COLORS["dphi"], ls="--", gid="dphi", label=r"slope $\varphi'(z)$")
    ax.axhline(0, color="0.3", lw=0.8, zorder=1)
    ax.axvline(0, color="0.3", lw=0.8, zorder=1)
    ax.set_xlim(*x_range)
    ax.set_xlabel("pre-activation $z$")
    ax.set_title("RReLU")
    ax.legend(loc="upper left", fontsize=8)


@figure("relu_family")
def relu_family():
    """ReLU, leaky ReLU (and PReLU), RReLU and ELU with their slopes: all have slope exactly 1 for z > 0."""
    fig, axes = plots.new_figure(1, 4, figsize=(16, 4.2), sharey=True)
    x_range = (-4.0, 3.0)
    plots.plot_activation("relu", ax=axes[0], x_range=x_range)
    plots.plot_activation("leaky_relu", ax=axes[1], x_range=x_range, alpha=0.1)
    _rrelu_panel(axes[2], x_range=x_range)
    plots.plot_activation("elu", ax=axes[3], x_range=x_range, alpha=1.0)
    with plots.style():
        axes[0].set_title("ReLU: slope 0 for z < 0")
        axes[1].set_title("leaky ReLU, alpha = 0.1\n(PReLU: the same, alpha learned)")
        axes[2].set_title("RReLU: random slope in training")
        axes[3].set_title("ELU, alpha = 1: smooth, tends to -alpha")
        for ax in axes:
            ax.set_ylim(-1.6, 3.1)
            ax.axhline(1.0, color="0.55", lw=0.8, ls=":", zorder=1)
            if ax is not axes[0]:
                ax.set_ylabel("")
        axes[0].text(2.9, 1.06, "slope 1", ha="right", va="bottom", fontsize=8, color="0.4")
        fig.suptitle(r"The ReLU family: $\varphi(z) = z$ (slope exactly 1) for every $z > 0$; "
                     "they differ only on the negative side", fontsize=12)
    return fig


@figure("dying_relu_training")
def dying_relu_training(runs=None):
    """ReLU MLPs on the digits at three learning rates: dead units per layer during training, and test accuracy."""
    runs = runs if runs is not None else dying_runs()
    runs = {k: r for k, r in runs.items() if not r.history.diverged}
    n = len(runs)
    fig, axes = plots.new_figure(1, n + 1, figsize=(4.2 * n + 5.0, 4.3),
                                 width_ratios=[1.0] * (n - 1) + [1.22, 1.15])
    for i, (ax, (label, run)) in enumerate(zip(axes[:n], runs.items())):
        h = run.history
        plots.plot_layer_stat_over_steps(h.record_steps, 100 * h.dead_fraction, ax=ax, kind="lines", log=False,
                                         label="dead units on the minibatch (%)", colorbar=(i == n - 1),
                                         title=f"ReLU, {label}")
        if i == n - 1:
            fig.axes[-1].set_ylabel("hidden layer")  # the colour bar just added: a short label, room for the next panel
        with plots.style():
            L = h.dead_fraction.shape[1]
            for line in ax.lines:  # lower layers drawn wider, so lines lying on top of each other stay visible
                if str(line.get_gid()).startswith("layer:"):
                    l = int(line.get_gid().split(":")[1])
                    line.set_linewidth(1.2 + 3.0 * (L - l) / max(L - 1, 1))
            ax.set_ylim(-3, 103)
            if i:
                ax.set_ylabel("")
    ax = axes[n]
    with plots.style():
        plots._tidy(ax)
        colors = [plots.OKABE_ITO[c] for c in ("green", "orange", "vermillion", "blue", "purple")]
        for (label, run), c in zip(runs.items(), colors):
            h = run.history
            ax.plot(h.record_steps, 100 * plots._finite(h.test_accuracy), color=c, label=label, gid=f"acc:{label}")
        ax.axhline(10, color="0.5", lw=1, ls=":")
        ax.text(0.99, 10, "chance", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=8,
                color="0.4")
        ax.set_ylim(0, 100)
        ax.set_xlabel("training step")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("learning the digits")
        ax.legend(loc="center right", fontsize=9)
        cfg = next(iter(runs.values())).history.config
        fig.suptitle(f"ReLU MLP, 4 hidden layers x 64 units, He init, SGD, batch {cfg['batch_size']}: "
                     "a unit is dead on a minibatch if z <= 0 for all of its examples", fontsize=12)
    return fig


@figure("dead_at_birth")
def dead_at_birth(sims=None):
    """Probability that a narrow ReLU net is dead at birth for one input: formula vs simulation, by depth and width."""
    sims = sims if sims is not None else dead_at_birth_simulations()
    fig, ax = plots.new_figure(figsize=(9.5, 4.6))
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("vermillion", "orange", "green", "blue", "purple", "sky_blue")]
        for (w, sim), c in zip(sorted(sims.items()), colors):
            depths = np.arange(1, sim.depth + 1)
            theory = [dead_at_birth_probability(int(d), w) for d in depths]
            ax.plot(depths, theory, "-", color=c, lw=1.8, gid=f"theory:{w}",
                    label=f"width {w}: $1 - (1 - 2^{{-{w}}})^L$")
            ax.errorbar(depths, sim.dead_by_layer, yerr=2 * sim.standard_errors, fmt="o", ms=3.5, color=c,
                        elinewidth=1, capsize=0, gid=f"simulated:{w}")
        ax.plot([], [], "o", color="0.3", ms=3.5, label=f"simulated ({sim.n_networks} nets each, $\\pm$2 s.e.)")
        ax.set_xlim(0, sim.depth + 0.5)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("depth $L$ (hidden ReLU layers)")
        ax.set_ylabel("P(some layer outputs all zeros)")
        ax.set_title("ReLU networks dead at birth for one input (a digit image), zero biases, He init", fontsize=11)
        ax.legend(loc="lower right", fontsize=9)
    return fig


@figure("leaky_alpha_gradient")
def leaky_alpha_gradient(alphas=(0.0, 0.01, 0.1, 0.3), bias=-1.0, depth=10):
    """A deep net with biases shifted to -1: the gradient that reaches each layer for several leaky-ReLU slopes."""
    fig, ax = plots.new_figure(figsize=(9.0, 4.6))
    with plots.style():
        cmap = mpl.colormaps["viridis"]
        for i, a in enumerate(alphas):
            g = shifted_gradient("leaky_relu", bias, depth, alpha=a)
            rel = plots._positive_finite(g.relative_gradient)
            name = "ReLU (alpha = 0)" if a == 0 else f"alpha = {a:g}"
            color = cmap(0.85 * i / max(len(alphas) - 1, 1))
            layers = np.arange(1, depth + 1)
            zero = g.relative_gradient == 0
            ax.plot(layers, rel, "o-", ms=4, color=color, gid=f"alpha:{a:g}",
                    label=name + (f": layer 1 gets {g.at_first_layer:.2g}" if not zero.any() else
                                  f": exactly 0 in layers 1-{layers[zero].max()}"))
            if zero.any():  # exact zeros have no place on a log axis: mark them on its floor
                ax.plot(layers[zero], np.full(zero.sum(), 0.0), "v", ms=7, color=color, clip_on=False,
                        transform=ax.get_xaxis_transform(), gid=f"zero:{a:g}")
        ax.set_yscale("log")
        ax.text(0.01, 0.04, "triangles on the floor: gradient exactly 0", transform=ax.transAxes, fontsize=8,
                color="0.35", va="bottom")
        plots.layer_axis(ax, depth)
        ax.set_ylabel(r"rms $\partial L/\partial a^l$ / rms at layer $L$ (log)")
        ax.set_title(f"leaky ReLU, {depth} layers x 64 units, He init, every bias {bias:g}: "
                     "most units sit at z < 0", fontsize=11)
        ax.legend(loc="lower right", fontsize=9)
    return fig


@figure("rrelu_train_vs_inference")
def rrelu_train_vs_inference(lower=1 / 8, upper=1 / 3):
    """RReLU: one random slope per element in training, the mean slope at inference; the slopes drawn."""
    z, out_train, out_inf = rrelu_draws(lower=lower, upper=upper)
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.3), width_ratios=[1.2, 1])
    with plots.style():
        order = np.argsort(z)
        a1.plot(z, out_train, ".", ms=2.5, color=plots.OKABE_ITO["sky_blue"], alpha=0.6, gid="train",
                label="training mode: each element its own slope")
        a1.plot(z[order], out_inf[order], color=plots.OKABE_ITO["blue"], lw=2, gid="inference",
                label=f"inference mode: slope {(lower + upper) / 2:.4g} for every element")
        a1.axhline(0, color="0.3", lw=0.8, zorder=1)
        a1.axvline(0, color="0.3", lw=0.8, zorder=1)
        a1.set_xlim(-4, 3)
        a1.set_ylim(-1.5, 3)
        a1.set_xlabel("input $z$")
        a1.set_ylabel("output")
        a1.set_title("the same inputs through one RReLU layer")
        a1.legend(loc="upper left", fontsize=9)
        neg = z < 0
        slopes = out_train[neg] / z[neg]
        a2.hist(slopes, bins=np.linspace(lower, upper, 21), color=plots.OKABE_ITO["orange"], alpha=0.85, gid="slopes")
        a2.axvline((lower + upper) / 2, color=plots.OKABE_ITO["blue"], lw=2, gid="mean",
                   label=f"inference slope (lower + upper) / 2 = {(lower + upper) / 2:.4g}")
        a2.axvline(slopes.mean(), color="0.2", lw=1.2, ls="--", gid="sample_mean",
                   label=f"mean of the {neg.sum()} slopes drawn: {slopes.mean():.4g}")
        a2.set_xlim(0, 0.4)
        a2.set_xlabel("slope used for a negative input (training mode)")
        a2.set_ylabel("count")
        a2.set_title(f"slopes drawn from U[{lower:.3g}, {upper:.3g}]")
        a2.legend(loc="upper left", fontsize=9)
    return fig


@figure("prelu_slope_over_training")
def prelu_slope_over_training(runs=None):
    """PReLU on the digits: the learned slope alpha of each layer during training, from a normal and a shifted start."""
    if runs is None:
        runs = {"biases start at 0": activation_runs(("prelu",))["prelu"],
                f"biases start at {BIAS_SHIFT:g}": activation_runs(("prelu",), bias=BIAS_SHIFT)["prelu"]}
    fig, axes = plots.new_figure(1, len(runs), figsize=(5.6 * len(runs) + 0.8, 4.3), sharey=True)
    axes = np.atleast_1d(axes)
    for i, (ax, (label, run)) in enumerate(zip(axes, runs.items())):
        h = run.history
        plots.plot_layer_stat_over_steps(h.record_steps, h.prelu_alpha, ax=ax, kind="lines", log=False,
                                         label=r"mean learned slope $\alpha$", colorbar=(i == len(runs) - 1),
                                         title=f"PReLU, {label}: test accuracy {run.test_accuracy:.1%}")
        with plots.style():
            ax.axhline(0.25, color="0.4", lw=1, ls=":", zorder=1)
            if i:
                ax.set_ylabel("")
    with plots.style():
        axes[0].text(0.02, 0.25, r"start: $\alpha = 0.25$", transform=axes[0].get_yaxis_transform(), va="bottom",
                     fontsize=8, color="0.35")
        fig.suptitle("PReLU (one slope per unit, He et al. 2015): the slopes are trained by SGD with the weights",
                     fontsize=12)
    return fig


@figure("activation_training_comparison")
def activation_training_comparison(runs=None, title=None):
    """The ReLU family and sigmoid trained on the digits with the same network and budget: loss and test accuracy."""
    runs = runs if runs is not None else activation_runs()
    fig, axes = plots.new_figure(1, 2, figsize=(13.5, 4.2))
    plots.plot_training_curves({k: r.history for k, r in runs.items()}, axes=axes, smooth=10)
    with plots.style():
        handles, labels = axes[1].get_legend_handles_labels()
        axes[1].get_legend().remove()
        fig.legend(handles, [f"{k}: test {runs[k].test_accuracy:.1%}" for k in labels], loc="outside right upper",
                   fontsize=9, title="activation", title_fontsize=9)
        cfg = next(iter(runs.values())).history.config
        fig.suptitle(title or (f"4 hidden layers x 64 units, SGD lr {cfg['lr']:g}, {cfg['steps']} steps of "
                               f"{cfg['batch_size']} digits, same seed"), fontsize=12)
    return fig


@figure("activation_training_shifted")
def activation_training_shifted(runs=None):
    """The same comparison from a handicapped start: every hidden bias begins at -2, so most units start silent."""
    runs = runs if runs is not None else activation_runs(ACTIVATIONS[:-1], bias=BIAS_SHIFT)
    return activation_training_comparison(runs, title=f"every hidden bias starts at {BIAS_SHIFT:g}; otherwise "
                                                      "the same network and budget")


@figure("elu_alphas")
def elu_alphas(alphas=(0.5, 1.0, 2.0)):
    """ELU for several alpha: the negative side levels off at -alpha; the slope is continuous at 0 only for alpha = 1."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(12, 4.2))
    z = np.linspace(-5, 2.5, 751)
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("sky_blue", "blue", "purple", "green")]
        for a, c in zip(alphas, colors):
            a1.plot(z, elu(z, a), color=c, gid=f"elu:{a:g}", label=f"alpha = {a:g}")
            a1.axhline(-a, color=c, lw=0.8, ls=":")
            a2.plot(z, elu_grad(z, a), color=c, gid=f"slope:{a:g}", label=f"alpha = {a:g}: slope {a:g} just below 0")
        for ax in (a1, a2):
            ax.axhline(0, color="0.3", lw=0.8, zorder=1)
            ax.axvline(0, color="0.3", lw=0.8, zorder=1)
            ax.set_xlabel("pre-activation $z$")
            ax.legend(loc="upper left", fontsize=9)
        a1.set_ylabel(r"elu$(z)$")
        a1.set_title(r"ELU: $z$ for $z > 0$, $\alpha\,(e^z - 1)$ below (dotted: $-\alpha$)")
        a2.set_ylabel(r"slope elu$'(z)$")
        a2.set_title(r"its slope: 1 for $z > 0$, $\alpha\,e^z$ below")
    return fig


# ---- explorers
_Z = np.linspace(-4.0, 3.0, 701)


class LeakySlopeExplorer(Explorer):
    """How the slope alpha of leaky ReLU (or ELU) lets a gradient through units pushed below 0.

    Left: the activation and its slope for the chosen ``alpha``, with ReLU in
    grey. Right: a deep MLP (64 units per layer, He init) whose hidden biases
    all start at ``bias``, probed with standard-normal inputs and a
    standard-normal gradient at the top (:func:`shifted_gradient`):
    the rms of dL/da^l relative to the top layer, for the chosen activation
    and, in grey, for ReLU with the same biases (exact zeros are marked on the
    floor of the log axis).

    Controls: ``activation`` (leaky_relu or elu), ``alpha`` (0 to 1),
    ``bias`` (the shift, -3 to 0.5), ``depth`` (2 to 30).

    Attributes
    ----------
    result, relu : ShiftedGradient
        What is drawn now (the chosen activation, and ReLU).
    """

    figsize = (10.0, 4.2)  # 1000 px at 100 dpi: fits the notebook column without a scroll bar

    def __init__(self, canvas="auto", *, width=64, seed=0, **values):
        self.width = int(width)
        self.seed = seed
        self.readout = _w().HTML()
        self._cache = _LRU(256)
        super().__init__(canvas, **values)

    def make_controls(self):
        w = _w()
        return {
            "activation": choice("activation", [("leaky ReLU", "leaky_relu"), ("ELU", "elu")], "leaky_relu",
                                 buttons=True),
            "alpha": w.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.01, description="alpha (slope for z < 0)",
                                   readout_format=".2f", style=_STYLE),
            "bias": w.FloatSlider(value=-1.0, min=-3.0, max=0.5, step=0.25, description="bias shift b",
                                  readout_format=".2f", style=_STYLE),
            "depth": int_slider("depth (hidden layers)", 2, 30, 10),
        }

    def setup_figure(self, fig):
        self.ax_phi, self.ax_grad = fig.subplots(1, 2, width_ratios=[1, 1.5])
        for ax in (self.ax_phi, self.ax_grad):
            plots._tidy(ax)
        ax = self.ax_phi
        ax.plot(_Z, np.maximum(_Z, 0.0), color="0.6", lw=1.2, gid="relu", label="ReLU")
        (self.phi,) = ax.plot([], [], color=plots.COLORS["phi"], gid="phi", label=r"$\varphi(z)$")
        (self.dphi,) = ax.plot([], [], color=plots.COLORS["dphi"], ls="--", gid="dphi", label=r"slope $\varphi'(z)$")
        ax.axhline(0, color="0.3", lw=0.8, zorder=1)
        ax.axvline(0, color="0.3", lw=0.8, zorder=1)
        ax.set_xlim(_Z[0], _Z[-1])
        ax.set_ylim(-3.2, 3.1)
        ax.set_xlabel("pre-activation $z$")
        ax.legend(loc="upper left", fontsize=9)
        ax = self.ax_grad
        (self.line,) = ax.plot([], [], "o-", ms=4, color=plots.COLORS["da"], gid="gradient", label="")
        (self.relu_line,) = ax.plot([], [], "s--", ms=3, lw=1.2, color="0.55", gid="relu_gradient",
                                    label="ReLU, same biases")
        (self.relu_zero,) = ax.plot([], [], "v", ms=7, color="0.55", clip_on=False,
                                    transform=ax.get_xaxis_transform(), gid="relu_zero",
                                    label="ReLU: exactly 0 (on the floor)")
        (self.zero,) = ax.plot([], [], "v", ms=7, color=plots.COLORS["da"], clip_on=False,
                               transform=ax.get_xaxis_transform(), gid="zero")
        for line in (self.relu_zero, self.zero):
            line.set_in_layout(False)  # unclipped markers: an empty one would drag the layout to the origin
        ax.set_yscale("log")
        ax.set_ylabel(r"rms $\partial L/\partial a^l$ / rms at layer $L$ (log)")

    def compute(self, activation, alpha, bias, depth):
        """(ShiftedGradient of the chosen activation, ShiftedGradient of ReLU); cached."""
        key = (activation, round(float(alpha), 6), round(float(bias), 6), int(depth))
        hit = self._cache.get(key)
        if hit is None:
            kw = dict(bias=float(bias), depth=int(depth), width=self.width, seed=self.seed)
            relu_key = ("relu", key[2], key[3])
            relu = self._cache.get(relu_key) or self._cache.put(relu_key, shifted_gradient("relu", **kw))
            hit = self._cache.put(key, (shifted_gradient(activation, alpha=float(alpha), **kw), relu))
        return hit

    def refresh(self, activation, alpha, bias, depth):
        act = get_activation(activation)
        z = _Z
        self.phi.set_data(z, act(z, alpha=alpha))
        self.dphi.set_data(z, act.grad(z, alpha=alpha))
        name = "leaky ReLU" if activation == "leaky_relu" else "ELU"
        self.phi.set_label(rf"$\varphi(z)$ = {name}")
        self.ax_phi.legend(loc="upper left", fontsize=9)
        self.ax_phi.set_title(f"{name}, alpha = {alpha:.2f}")
        self.result, self.relu = res, relu = self.compute(activation, alpha, bias, depth)
        layers = np.arange(1, depth + 1)
        for line, zero, r in ((self.line, self.zero, res), (self.relu_line, self.relu_zero, relu)):
            rel = np.asarray(r.relative_gradient, float)
            line.set_data(layers, plots._positive_finite(rel))
            is_zero = rel == 0
            zero.set_data(layers[is_zero], np.zeros(is_zero.sum()))
        self.line.set_label(f"{name}, alpha = {alpha:.2f}")
        ax = self.ax_grad
        plots.layer_axis(ax, depth)
        self.autoscale(ax, x=False)
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 0.3), max(hi, 3.0))
        ax.legend(loc="lower right", fontsize=9)
        ax.set_title(f"{depth} layers x {self.width} units, biases {bias:.2f}: "
                     f"{res.silent_fraction.mean():.0%} of z <= 0", fontsize=10.5)
        self.readout.value = html.escape(self.summary())

    def summary(self) -> str:
        """Plain text of what is drawn now."""
        r, relu = self.result, self.relu
        name = "leaky ReLU" if r.activation == "leaky_relu" else "ELU"
        alpha = r.activation_params.get("alpha")
        mine = (f"{name} (alpha = {alpha:.2f}): layer 1 gets {r.at_first_layer:.3g} times the gradient of layer "
                f"{r.depth}" if r.at_first_layer > 0 else
                f"{name} (alpha = {alpha:.2f}): no gradient reaches layer 1 (exactly 0)")
        if relu.at_first_layer > 0:
            theirs = f"ReLU: {relu.at_first_layer:.3g}."
        else:
            theirs = ("ReLU: exactly 0 (layer "
                      f"{relu.first_silent_layer} has every unit at z <= 0 for every input)."
                      if relu.first_silent_layer is not None else "ReLU: exactly 0.")
        return f"{mine}; {theirs}"


# ---- exercises
# Each answer is computed by the package: the closed form of gradviz.theory, and the RReLU and PReLU layers
# of gradviz.layers run on the exercise's numbers.
_PRELU_Z = [[-2.0, 1.0, -0.5]]  # one example, three units sharing one slope
_PRELU_DOUT = [[0.5, -1.0, 2.0]]


@exercise(
    "04.1",
    question="A ReLU network with 20 hidden layers of 4 units, zero biases and symmetric random weights: "
    "what is the probability that it is dead at birth for a given (non-zero) input?",
    hint="One layer of 4 units is all silent with probability (1/2)^4, independently of the others. The "
    "network survives only if none of its 20 layers is: compute 1 - P(no layer is all silent), or use "
    "gv.theory.dead_at_birth_probability.",
    explain=lambda p: (
        "Given any non-zero input, each of the 4 units of a layer is silent (z <= 0) with probability 1/2, "
        "independently, so the whole layer is silent with probability 2^-4 = 1/16, independently of the "
        f"layers below. The network is dead at birth if at least one of 20 layers is: 1 - (15/16)^20 = {p:.4g}.\n"
        "In code: gv.theory.dead_at_birth_probability(20, 4); check it with "
        "ch.simulate_dead_at_birth(20, 4).probability."
    ),
    rtol=0.01,
)
def dead_at_birth_20x4() -> float:
    """P(a ReLU net of 20 hidden layers x 4 units is dead at birth for one input), in [0, 1]."""
    return dead_at_birth_probability(20, 4)


@exercise(
    "04.2",
    question="An RReLU layer with lower = 1/8 and upper = 1/3 (PyTorch's defaults): what slope does it use "
    "for negative inputs at inference?",
    hint="In training the slope is drawn from U[lower, upper]; at inference the layer uses the mean of that "
    "distribution. Check with gv.layers.RReLU(1/8, 1/3).forward(np.array([[-1.0]]), training=False).",
    explain=lambda s: (
        f"The mean of U[1/8, 1/3] is (1/8 + 1/3) / 2 = 11/48 = {s:.4g}: inference replaces the random slope "
        "by its expected value, so a negative input's output equals its average output in training. "
        "(Xu et al. 2015 write the negative part as x / a with a ~ U(3, 8) and divide by the mean of a, "
        f"(3 + 8)/2, at test time: slope 2/11 = {2 / 11:.4g}, a different rule for the same range of slopes.)\n"
        "In code: gv.layers.RReLU(1/8, 1/3).mean_slope"
    ),
    rtol=0.005,
)
def rrelu_inference_slope() -> float:
    """The slope an RReLU layer with lower = 1/8, upper = 1/3 applies to z < 0 at inference."""
    out = RReLU(lower=1 / 8, upper=1 / 3, rng=0).forward(np.array([[-1.0]]), training=False)
    return float(-out[0, 0])  # the output for z = -1 is minus the slope


@exercise(
    "04.3",
    question="A PReLU layer with one shared slope alpha = 0.25 receives z = [[-2, 1, -0.5]] (one example, "
    "three units) and, in the backward pass, the upstream gradient dL/da = [[0.5, -1, 2]]. What is dL/dalpha?",
    hint="a = alpha * z where z < 0, and a = z elsewhere, so da/dalpha is z where z < 0 and 0 elsewhere. "
    "Sum dL/da * da/dalpha over every element that shares the slope.",
    explain=lambda g: (
        "da/dalpha = min(z, 0), so dL/dalpha = sum of dL/da * min(z, 0) over the elements sharing alpha "
        f"(He et al. 2015, eqs. 2-4): 0.5 * (-2) + (-1) * 0 + 2 * (-0.5) = {g:.4g}. The unit with z = 1 "
        "contributes nothing: on the positive side the slope is 1 whatever alpha is.\n"
        "In code: layer = gv.layers.PReLU(1, alpha_init=0.25); layer.forward(np.array([[-2.0, 1.0, -0.5]])); "
        "layer.backward(np.array([[0.5, -1.0, 2.0]])); layer.grads['alpha']"
    ),
    rtol=1e-6,
)
def prelu_alpha_gradient() -> float:
    """dL/dalpha of a PReLU layer (one shared alpha = 0.25) for the exercise's z and upstream gradient."""
    layer = PReLU(num_features=1, alpha_init=0.25)
    layer.forward(np.array(_PRELU_Z), training=True)
    layer.backward(np.array(_PRELU_DOUT))
    return float(layer.grads["alpha"][0])
