"""Chapter 07, the playground: every knob at once (``notebooks/07_playground.ipynb``).

Depth, width, activation, initializer, weight scale, batch norm, learning rate, steps,
batch size, data set and seed all move together, on one network that is measured at
initialisation on real digits and then trained on them. The chapter teaches how to read
a network's health before training from one number, the **per-layer factor** of the
gradient's size, sqrt(chi_1) with chi_1 = n Var(W) E[phi'(z)^2] (Schoenholz et al. 2017 call
chi_1 the factor of the gradient's *variance*); how each failure looks during training
(vanishing, overflow, dead units, unstandardised inputs, lagging moving averages); why an
exploding network fails in every layer at once (the weight gradient a^(l-1)^T dL/dz^l stays
level across layers while its two factors grow in opposite directions); and how every cure of
chapters 02-06 acts on that one factor.

A notebook cell calls :func:`run` with the knobs of a guide experiment; the
:class:`PlaygroundExplorer` calls the same function, so a configuration trained in a
cell is shown by the explorer at once (and the other way round), and every number the
guide prints is what the explorer shows.

Names keep no ``playground_`` prefix where the module name already says it
(``ch.run``, ``ch.settings``, ``ch.DEFAULTS``); classes keep theirs
(:class:`PlaygroundRun`, :class:`PlaygroundExplorer`), because a class name is what a
learner reads in a repr, away from the ``ch.`` that qualifies a function.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import html
import re
import time
from dataclasses import dataclass

import ipywidgets
import numpy as np
from matplotlib.ticker import FuncFormatter

from .. import plots
from .._validate import check_choice, check_nonneg_int, check_positive, check_positive_int, check_probability
from ..activations import ACTIVATIONS
from ..data import digits
from ..exercises import exercise
from ..figures import figure
from ..init import ALIASES, INITIALIZERS, recommended_init, weight_variance
from ..losses import softmax_cross_entropy
from ..network import MLP, BatchNormOptions
from ..stats import layer_statistics, probe
from ..theory import activation_moments, init_weight_variances, predict_variances
from ..train import History, one_blas_thread, train
from ..widgets import (BN_OPTIONS, CONTROL_STYLE, INIT_OPTIONS, DeepNetworkExplorer, TrainingExplorer, choice,
                       int_slider, log_slider, values_slider)

__all__ = ["PlaygroundExplorer", "run", "guide_runs", "weight_gradients", "cure_factors", "per_layer_factors",
           "dataset"]


# ---- experiments
# One function takes every knob of the playground, measures the network at initialisation on real digits,
# trains it, and says how it ended (run). Then the factor of each cure: going down one hidden layer, the
# backward pass multiplies the gradient by (W^l)^T after phi'(z^l), element-wise; for a wide random network
# the typical effect on its variance is a factor chi_1 = n Var(W) E[phi'(z)^2] (Schoenholz et al. 2017), on
# its size sqrt(chi_1). Every cure of chapters 02-06 is a way of bringing that one factor close to 1
# (cure_factors).

#: Data sets of the playground: name -> description. Both are the 8x8 handwritten digits, same split.
DATASETS = {
    "digits": "handwritten digits, pixels standardised to mean 0 and std 1 (gradviz.data.load_digits)",
    "digits_raw": "the same digits with the raw pixel values 0..16, not standardised (gradviz.data.load_digits_raw)",
}

#: Every knob of the playground and its default value.
DEFAULTS = dict(depth=5, width=64, activation="relu", init="auto", weight_scale=1.0, batch_norm="off",
                bn_momentum=0.9, lr=0.1, steps=300, batch_size=64, dataset="digits", seed=0)

#: Run lengths the playground offers.
STEPS = (50, 100, 150, 200, 300, 500, 1000)

#: How a playground run can end (see :attr:`PlaygroundRun.outcome`).
OUTCOMES = ("above chance", "at chance", "dead", "diverged")

#: The experiments of the chapter's guide: name -> the knobs it sets (the others keep their defaults).
#: The playground explorer offers them as presets; the notebook runs each with :func:`run`.
PRESETS = {
    "1. deep sigmoid, Glorot init": dict(depth=10, width=32, activation="sigmoid", init="glorot_uniform",
                                         steps=150),
    "2. deep ReLU, He init": dict(depth=10, width=32, activation="relu", init="he_normal", steps=150),
    "3. deep ReLU, Glorot init": dict(depth=10, width=32, activation="relu", init="glorot_uniform", steps=150),
    "4. deep ReLU, He init x 1.5": dict(depth=10, width=32, activation="relu", init="he_normal",
                                        weight_scale=1.5, steps=150),
    "5. deep sigmoid, Glorot init, batch norm": dict(depth=10, width=32, activation="sigmoid",
                                                     init="glorot_uniform", batch_norm="before", steps=150),
    "6a. ReLU, learning rate 5": dict(depth=4, width=64, activation="relu", init="he_normal", lr=5.0, steps=100),
    "6b. ReLU, learning rate 20": dict(depth=4, width=64, activation="relu", init="he_normal", lr=20.0,
                                       steps=100),
    "7a. ReLU on raw pixels": dict(depth=5, width=32, activation="relu", init="he_normal", dataset="digits_raw",
                                   steps=150),
    "7b. ReLU on raw pixels, batch norm": dict(depth=5, width=32, activation="relu", init="he_normal",
                                               dataset="digits_raw", batch_norm="before", steps=150),
    "8a. batch norm, momentum 0.99, 50 steps": dict(depth=5, width=32, activation="relu", init="he_normal",
                                                    batch_norm="before", bn_momentum=0.99, steps=50),
    "8b. batch norm, momentum 0.9, 50 steps": dict(depth=5, width=32, activation="relu", init="he_normal",
                                                   batch_norm="before", bn_momentum=0.9, steps=50),
}

#: Examples of the initial pass (:func:`initial_view`): the first rows of the (shuffled) training set.
_INITIAL_EXAMPLES = 256


def settings(**knobs) -> dict:
    """Every playground knob, validated, with defaults filled in and ``init='auto'`` resolved.

    Parameters
    ----------
    **knobs
        Any of the keys of :data:`DEFAULTS`:

        depth, width : int >= 1
            Hidden layers, and units per hidden layer.
        activation : str
            One of :data:`gradviz.activations.ACTIVATIONS`.
        init : str
            An initializer of :mod:`gradviz.init`, or ``'auto'`` for the one the literature
            pairs with the activation (:func:`gradviz.init.recommended_init`).
        weight_scale : float > 0
            Multiplies every initial weight (the "gain"; 1 keeps the initializer's variance).
        batch_norm : {'off', 'before', 'after'}
            Batch norm before or after each hidden activation.
        bn_momentum : float in [0, 1)
            Batch norm's moving-average momentum, Keras convention (0.99 there; 0.9 here because
            the runs are short: chapter 06 shows how slowly 0.99 forgets the initial averages).
        lr : float > 0
        steps, batch_size : int >= 1
        dataset : str
            A key of :data:`DATASETS`.
        seed : int >= 0
            Seeds the initial weights and the order of the minibatches.

    Returns
    -------
    dict
        All the keys of :data:`DEFAULTS`, in that order; ``init`` is never ``'auto'``.

    Raises
    ------
    TypeError
        An unknown knob, or a value of the wrong type.
    ValueError
        A value out of range (the message names the knob and what is allowed).
    """
    unknown = sorted(set(knobs) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"the playground has no knob {', '.join(unknown)}; knobs: {', '.join(DEFAULTS)}")
    s = {**DEFAULTS, **knobs}
    s["depth"] = check_positive_int("depth", s["depth"])
    s["width"] = check_positive_int("width", s["width"])
    s["activation"] = check_choice("activation", s["activation"], ACTIVATIONS)
    init = check_choice("init", s["init"], ("auto",) + INITIALIZERS + tuple(ALIASES))
    init = recommended_init(s["activation"]) if init == "auto" else init
    s["init"] = ALIASES.get(init, init)
    s["weight_scale"] = check_positive("weight_scale", s["weight_scale"])
    s["batch_norm"] = check_choice("batch_norm", s["batch_norm"], ("off", "before", "after"))
    s["bn_momentum"] = check_probability("bn_momentum", s["bn_momentum"])
    s["lr"] = check_positive("lr", s["lr"])
    s["steps"] = check_positive_int("steps", s["steps"])
    s["batch_size"] = check_positive_int("batch_size", s["batch_size"])
    if s["batch_size"] < 2 and s["batch_norm"] != "off":
        raise ValueError(f"batch_size must be >= 2 with batch norm; got {s['batch_size']}")
    s["dataset"] = check_choice("dataset", s["dataset"], DATASETS)
    s["seed"] = check_nonneg_int("seed", s["seed"])
    return s


def dataset(name: str = "digits"):
    """The data set ``name`` of :data:`DATASETS` (split with seed 0; loaded once: :func:`gradviz.data.digits`).

    Returns
    -------
    gradviz.data.Dataset
        ``X_train`` (1347, 64) and ``X_test`` (450, 64) float64 pixels, labels 0..9;
        read-only: every playground run shares it.

    Raises
    ------
    ValueError
        ``name`` is not a key of :data:`DATASETS`.
    """
    name = check_choice("name", name, DATASETS)
    return digits(seed=0, raw=name == "digits_raw")


def label(knobs: dict) -> str:
    """A short, readable name of a configuration (for legends and printed reports)."""
    s = settings(**knobs)
    ws = "" if s["weight_scale"] == 1 else f" x{s['weight_scale']:.3g}"
    bn = "" if s["batch_norm"] == "off" else f", BN {s['batch_norm']} (momentum {s['bn_momentum']:g})"
    data = "" if s["dataset"] == "digits" else ", raw pixels"
    seed = "" if s["seed"] == 0 else f", seed {s['seed']}"
    return (f"{s['activation']}, {s['init']}{ws}{bn}, {s['depth']}x{s['width']}, lr {s['lr']:.3g}, "
            f"{s['steps']} steps, batch {s['batch_size']}{data}{seed}")


def network(**knobs) -> MLP:
    """The freshly initialised network of a playground configuration.

    ``MLP(64, depth, width, activation, init, weight_scale, BatchNormOptions(batch_norm,
    momentum=bn_momentum), n_outputs=10, seed=seed)`` in float64: 64 pixel inputs, ``depth`` hidden blocks
    ``Dense -> [BatchNorm] -> activation -> [BatchNorm]``, and a 10-way linear output layer
    initialised like the hidden ones.

    Parameters
    ----------
    **knobs
        As :func:`settings` (the training knobs are accepted and ignored).
    """
    s = settings(**knobs)
    data = dataset(s["dataset"])
    return MLP(data.n_features, depth=s["depth"], width=s["width"], activation=s["activation"], init=s["init"],
               weight_scale=s["weight_scale"],
               batch_norm=BatchNormOptions(None if s["batch_norm"] == "off" else s["batch_norm"],
                                           momentum=s["bn_momentum"]),
               n_outputs=data.n_classes, seed=s["seed"])


@dataclass(eq=False)
class InitialView:
    """A playground network at initialisation, measured on real digits (see :func:`initial_view`).

    Attributes
    ----------
    stats : gradviz.stats.PassStats
        Per hidden layer: Var(a), Var(dL/da) (dL the loss of each example, not the batch mean),
        ||dL/dW|| (of the batch-mean loss, what an SGD step uses), saturated and dead fractions.
    prediction : gradviz.theory.VariancePrediction or None
        The mean-field prediction for the same widths, activation and weight variance, fed with
        the input's second moment and with the measured Var(dL/da^L) at the top (None with batch
        norm, which the theory here does not model).
    input_second_moment : float
        E[x^2] over the examples and the 64 pixels (about 1 for standardised pixels).
    n_examples : int
    a_norm, da_norm : float arrays (L,)
        Per hidden layer, the Frobenius norms over the batch of the activations a^l and of the
        gradient dL/da^l of the batch-mean loss (the gradient an SGD step uses); NaN where not finite.
    weight_norm : float array (L,)
        ||W^l||, the Frobenius norm of each hidden layer's initial weights.
    """

    stats: object
    prediction: object
    input_second_moment: float
    n_examples: int
    a_norm: np.ndarray
    da_norm: np.ndarray
    weight_norm: np.ndarray

    @property
    def gradient_ratio(self) -> float:
        """Var(dL/da^1) / Var(dL/da^L): how much of the gradient's variance reaches layer 1 (1 if L = 1)."""
        da = np.asarray(self.stats.da_var, float)
        with np.errstate(all="ignore"):
            return float(da[0] / da[-1])

    @property
    def size_factor(self) -> float:
        """Typical factor by which the gradient's size (rms) is multiplied per layer crossed, going down:
        ``gradient_ratio ** (1 / (2 (L - 1)))``; nan for a single hidden layer or after an overflow."""
        L = len(self.stats.da_var)
        r = self.gradient_ratio
        if L < 2 or not np.isfinite(r) or r < 0:
            return float("nan")
        return float(r ** (1.0 / (2 * (L - 1))))

    @property
    def weight_grad_ratio(self) -> float:
        """||dL/dW^1|| / ||dL/dW^L||: the first hidden layer's weight step relative to the last one's."""
        g = np.asarray(self.stats.grad_norm, float)
        with np.errstate(all="ignore"):
            return float(g[0] / g[-1])

    def relative_step(self, lr: float) -> np.ndarray:
        """Per hidden layer, ``lr ||dL/dW^l|| / ||W^l||``: by what fraction of its own size the first SGD
        step at learning rate ``lr`` would change each layer's weights (shape (L,)).

        Raises
        ------
        ValueError
            ``lr`` is not > 0.
        """
        lr = check_positive("lr", lr)
        with np.errstate(all="ignore"):
            return lr * np.asarray(self.stats.grad_norm, float) / self.weight_norm


_INITIAL_CACHE = collections.OrderedDict()
_RUN_CACHE = collections.OrderedDict()


def _cache_put(cache, key, value, maxsize):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > maxsize:
        cache.popitem(last=False)
    return value


def _model_key(s):
    return tuple(s[k] for k in ("depth", "width", "activation", "init", "weight_scale", "batch_norm", "dataset",
                                "seed"))


def initial_view(**knobs) -> InitialView:
    """Measure a playground network at initialisation, on a batch of the digits it will be trained on.

    One recorded forward pass in training mode (batch norm uses the batch's statistics) on the first
    256 training examples of the chosen data set, the softmax cross-entropy against their true labels,
    and one backward pass. Unlike :func:`gradviz.stats.probe` (standard-normal inputs and gradients),
    this is the real network on real data, so the data set matters: raw pixels (0..16) enter with a
    second moment E[x^2] dozens of times larger than standardised ones.

    The gradient injected at the output is that of each example's own loss,
    ``softmax(z) - onehot(y)`` (Bishop 2006, eq. 4.109), i.e. N times the gradient of the batch mean,
    so that Var(dL/da) does not depend on the batch size; the weight-gradient norms are those of the
    batch-mean loss, as an SGD step uses them. Batch norm's moving averages are left as they were.
    Results are cached by configuration (treat them as read-only).

    Parameters
    ----------
    **knobs
        As :func:`settings` (the training knobs are accepted and ignored).

    Returns
    -------
    InitialView

    Raises
    ------
    TypeError, ValueError
        As :func:`settings`.
    """
    s = settings(**knobs)
    key = _model_key(s)
    hit = _INITIAL_CACHE.get(key)
    if hit is not None:
        _INITIAL_CACHE.move_to_end(key)
        return hit
    data = dataset(s["dataset"])
    net = network(**s)
    x = data.X_train[:_INITIAL_EXAMPLES]
    y = data.y_train[:_INITIAL_EXAMPLES]
    n = x.shape[0]
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in net.layers if ly.state]
    weight_norm = np.array([_frobenius(block.dense.params["W"]) for block in net.blocks])
    try:
        with np.errstate(all="ignore"):
            logits = net.forward(x, training=True, record=True)
            _, dlogits = softmax_cross_entropy(logits, y)
            net.backward(dlogits, param_grads=True, record=True)  # dW of the batch-mean loss
            a_norm = np.array([_frobenius(rec["a"]) for rec in net.records])
            da_norm = np.array([_frobenius(rec["da"]) for rec in net.records])  # of the batch-mean loss
            for rec in net.records:  # dL/da, dL/dz of each example's own loss: N x the batch-mean gradient
                rec["da"], rec["dz"] = rec["da"] * n, rec["dz"] * n
            stats = layer_statistics(net)
    finally:
        for ly, state in saved:
            ly.state.update(state)
    second = float(np.mean(np.square(x, dtype=np.float64)))
    prediction = None
    if s["batch_norm"] == "off" and np.isfinite(stats.da_var[-1]):
        widths = [data.n_features] + [s["width"]] * s["depth"]
        wv = [weight_variance(s["init"], widths[i], widths[i + 1]) * s["weight_scale"] ** 2
              for i in range(s["depth"])]
        prediction = predict_variances(widths, s["activation"], wv, input_var=second,
                                       output_grad_var=float(stats.da_var[-1]))
    return _cache_put(_INITIAL_CACHE, key, InitialView(stats, prediction, second, n, a_norm, da_norm, weight_norm),
                      256)


def _frobenius(x) -> float:
    """Frobenius norm of ``x`` accumulated in float64; NaN if any entry is not finite."""
    with np.errstate(all="ignore"):
        v = float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))
    return v if np.isfinite(v) else float("nan")


@dataclass(eq=False)
class PlaygroundRun:
    """One playground configuration: measured at initialisation, then trained on the digits.

    Attributes
    ----------
    settings : dict
        The complete, validated configuration (:func:`settings`).
    initial : InitialView
        The network at initialisation.
    history : gradviz.train.History
        What :func:`gradviz.train.train` recorded (records every ``steps // 10`` steps).
    final_dead_fraction : float array (L,)
        Per hidden layer, the fraction of units whose pre-activation is <= 0 for every training
        example after training (inference mode; ReLU only, 0 for other activations; NaN after an overflow).
    net : gradviz.network.MLP
        The trained network.
    """

    settings: dict
    initial: InitialView
    history: History
    final_dead_fraction: np.ndarray
    net: MLP

    @property
    def label(self) -> str:
        return label(self.settings)

    @property
    def test_accuracy(self) -> float:
        """Test accuracy at the end, in [0, 1] (inference mode)."""
        return float(self.history.test_accuracy[-1])

    @property
    def outcome(self) -> str:
        """How the run ended, one of :data:`OUTCOMES`:

        'diverged' if a number overflowed (training stopped); 'dead' if a whole hidden layer
        outputs 0 for every training example (every unit dead: the output no longer depends on
        the input); 'at chance' if the test accuracy is below 20% (chance is 10% for ten
        classes); 'above chance' otherwise (read the accuracy to see how far above).
        """
        if self.history.diverged:
            return "diverged"
        if np.any(np.asarray(self.final_dead_fraction) >= 1.0):
            return "dead"
        return "at chance" if self.test_accuracy < 0.2 else "above chance"

    def summary(self, training: bool = True) -> str:
        """Plain text for a notebook: the settings, the numbers at initialisation, and how training ended.

        With ``training=False`` only what the initial network determines (the settings, the numbers at
        initialisation and the loss of the first minibatch): how a run at a large learning rate or scale
        ends is chaotic (another seed, or another BLAS rounding one product differently, can change it),
        while these lines are not."""
        s, iv, h = self.settings, self.initial, self.history
        st = iv.stats
        L = s["depth"]
        lines = [f"settings: {self.label}",
                 f"data: {s['dataset']}, input E[x^2] = {iv.input_second_moment:.3g} (first {iv.n_examples} "
                 f"training examples)"]
        if st.first_nonfinite is not None:
            lines.append(f"at init: overflow at hidden layer {st.first_nonfinite}")
        else:
            lines.append(f"at init: Var(a^1) = {st.a_var[0]:.3g}, Var(a^{L}) = {st.a_var[-1]:.3g}; "
                         f"saturated {np.mean(st.saturated_fraction):.0%}, dead {np.mean(st.dead_fraction):.0%} "
                         f"of units (mean over layers)")
            if L > 1:
                lines.append(f"at init: Var(dL/da^1) / Var(dL/da^{L}) = {iv.gradient_ratio:.3g}, i.e. x"
                             f"{iv.size_factor:.3g} per layer in size; ||dL/dW^1|| / ||dL/dW^{L}|| = "
                             f"{iv.weight_grad_ratio:.3g}")
        lines.append(f"at init: loss on the first minibatch {h.loss[0]:.3g} nats (a uniform guess over the 10 "
                     f"classes scores ln 10 = {np.log(10):.3g})")
        if not training:
            return "\n".join(lines)
        lines.append(f"training: {h.status}")
        if not h.diverged:
            dead = np.asarray(self.final_dead_fraction, float)
            if s["activation"] == "relu":
                lines.append("after training, dead units per layer: " + " ".join(f"{d:.0%}" for d in dead))
        lines.append(f"outcome: {self.outcome}")
        return "\n".join(lines)

    def layer_table(self) -> str:
        """The network at initialisation, one row per hidden layer: the sizes (Frobenius norms over the
        batch) of the activations a^l, of the gradient dL/da^l and of the weight gradient dL/dW^l, and
        the first SGD step relative to the weights, ``lr ||dL/dW^l|| / ||W^l||`` (:meth:`InitialView.relative_step`).

        The weight gradient of a dense layer is ``a^(l-1)^T dL/dz^l``: the activations entering the layer
        times the gradient arriving at it, so the table shows both of its factors next to it."""
        iv = self.initial
        step = iv.relative_step(self.settings["lr"])
        rows = [f"{'layer':>5}  {'|a^l|':>9}  {'|dL/da^l|':>10}  {'|dL/dW^l|':>10}  {'lr |dL/dW^l| / |W^l|':>21}"]
        for l, (a, da, dw, r) in enumerate(zip(iv.a_norm, iv.da_norm, iv.stats.grad_norm, step), start=1):
            rows.append(f"{l:>5}  {a:>9.3g}  {da:>10.3g}  {dw:>10.3g}  {r:>21.3g}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"PlaygroundRun({self.label}: {self.outcome})"


def run(progress=False, callback=None, **knobs) -> PlaygroundRun:
    """Build, measure and train one playground configuration on the digits; cached.

    The network is :func:`network`, measured at initialisation by :func:`initial_view`,
    then trained by :func:`gradviz.train.train` with plain SGD (``lr``, ``steps``, ``batch_size``;
    ``seed`` also orders the minibatches), recording every ``max(1, steps // 10)`` steps. Afterwards
    the whole training set is passed once in inference mode to count the dead ReLU units.

    Parameters
    ----------
    progress : bool or 'auto'
        Progress bar while training (:func:`gradviz.train.train`).
    callback : callable or None
        Called after each training step (:func:`gradviz.train.train`); the playground's Run shows
        its progress with it.
    **knobs
        Any knob of :func:`settings`; the others keep their defaults (:data:`DEFAULTS`).

    Returns
    -------
    PlaygroundRun
        Cached by the complete configuration (the 64 most recent): a repeated call, from a
        notebook cell or from the playground explorer, returns the same object at once.
        Treat it as read-only.

    Raises
    ------
    TypeError, ValueError
        As :func:`settings`.
    """
    s = settings(**knobs)
    key = tuple(s.values())
    hit = _RUN_CACHE.get(key)
    if hit is not None:
        _RUN_CACHE.move_to_end(key)
        return hit
    initial = initial_view(**s)
    data = dataset(s["dataset"])
    net = network(**s)
    with one_blas_thread():
        history = train(net, data, lr=s["lr"], steps=s["steps"], batch_size=s["batch_size"], seed=s["seed"],
                        record_every=max(1, s["steps"] // 10), progress=progress, callback=callback)
    dead = np.full(s["depth"], np.nan)
    if not history.diverged:
        with np.errstate(all="ignore"):
            net.forward(data.X_train, training=False, record=True)
        dead = layer_statistics(net).dead_fraction
        for block in net.blocks:  # do not keep (n_train, width) arrays of every layer alive in the cache
            block.record = type(block.record)()
    return _cache_put(_RUN_CACHE, key, PlaygroundRun(s, initial, history, dead, net), 64)


def is_cached(**knobs) -> bool:
    """True if :func:`run` has this configuration in its cache (it would return at once)."""
    return tuple(settings(**knobs).values()) in _RUN_CACHE


def _cache_clear():
    _INITIAL_CACHE.clear()
    _RUN_CACHE.clear()


run.cache_clear = _cache_clear


#: The configurations of the chapters, as (label, chapter, activation, init, weight_scale, batch_norm):
#: each is one that its chapter's notebook builds (with its own depth and width; here all are probed
#: at the same size). 02: its deep sigmoid network on the digits and its 30-layer ReLU network with weights
#: 2 x He; 03: its training comparison; 04: leaky ReLU and ELU, which it trains with He init; 05:
#: SELU with LeCun init; 06: its sigmoid network with batch norm, at weight scale 1 and 10; 07: this
#: chapter's ReLU network with batch norm (guide experiments 7b and 8).
CURES = (
    ("sigmoid, Glorot", 2, "sigmoid", "glorot_uniform", 1.0, None),
    ("ReLU, He x 2 (large weights)", 2, "relu", "he_normal", 2.0, None),
    ("tanh, naive U(+-1/sqrt(n))", 3, "tanh", "uniform", 1.0, None),
    ("tanh, Glorot", 3, "tanh", "glorot_uniform", 1.0, None),
    ("ReLU, Glorot", 3, "relu", "glorot_uniform", 1.0, None),
    ("ReLU, He", 3, "relu", "he_normal", 1.0, None),
    ("leaky ReLU (alpha 0.01), He", 4, "leaky_relu", "he_normal", 1.0, None),
    ("ELU, He", 4, "elu", "he_normal", 1.0, None),
    ("SELU, LeCun", 5, "selu", "lecun_normal", 1.0, None),
    ("sigmoid, Glorot, batch norm", 6, "sigmoid", "glorot_uniform", 1.0, "before"),
    ("sigmoid, Glorot x 10, batch norm", 6, "sigmoid", "glorot_uniform", 10.0, "before"),
    ("ReLU, He, batch norm", 7, "relu", "he_normal", 1.0, "before"),
)


def size_factor(da_var) -> float:
    """Typical per-layer factor of the gradient's size: ``(Var(dL/da^1) / Var(dL/da^L)) ** (1 / (2 (L - 1)))``.

    Parameters
    ----------
    da_var : array of shape (L,), L >= 2
        Var(dL/da^l) per hidden layer, index 0 = layer 1.

    Returns
    -------
    float
        The geometric mean, over the L - 1 layers the gradient crosses from layer L down to layer 1,
        of the factor by which its standard deviation is multiplied; nan if a value is not finite or
        not positive.

    Raises
    ------
    ValueError
        Fewer than two layers.
    """
    da = np.asarray(da_var, dtype=float)
    if da.ndim != 1 or da.size < 2:
        raise ValueError(f"da_var must hold one variance per hidden layer, at least 2; got shape {da.shape}")
    if not (np.isfinite(da[[0, -1]]).all() and da[0] > 0 and da[-1] > 0):
        return float("nan")
    return float((da[0] / da[-1]) ** (1.0 / (2 * (da.size - 1))))


def batch_norm_factor(activation: str) -> float:
    """Per-layer factor of the gradient's size in a deep net with batch norm before each activation (estimate).

    A batch-norm layer divides z = h W by its batch standard deviation, sqrt(n Var(W) Var(h)) for a
    wide layer, in the forward pass, and divides the gradient by the same number in the backward pass.
    So n Var(W) cancels and, with gamma = 1 and beta = 0 (their initial values), the variance of
    dL/dh is multiplied per layer by E[phi'(u)^2] / Var(phi(u)) with u ~ N(0, 1): the factor returned
    is its square root. It is 1 for a linear activation and above 1 for every other, i.e. batch norm
    itself makes the gradient grow towards the input, the less so the closer the activation is to
    linear (Yang et al. 2019, "A mean field theory of batch normalization", ICLR). This large-batch,
    wide-layer estimate ignores the corrections of order 1/batch size that their theory includes.

    Parameters
    ----------
    activation : str
        A name of :data:`gradviz.activations.ACTIVATIONS` (its default parameters).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Unknown activation, or one whose output has no variance at u ~ N(0, 1).
    """
    m = activation_moments(check_choice("activation", activation, ACTIVATIONS), 0.0, 1.0)
    if not m.variance > 0:
        raise ValueError(f"activation={activation!r} has Var(phi(u)) = {m.variance} for u ~ N(0, 1)")
    return float(np.sqrt(m.grad_second_moment / m.variance))


@dataclass
class CureFactors:
    """The per-layer factor of the gradient's size for each configuration (see :func:`cure_factors`).

    Attributes
    ----------
    labels : list of str
    chapters : int array (K,)
        The chapter that shows the configuration.
    measured : float array (K,)
        :func:`size_factor` of a probed network.
    predicted : float array (K,)
        The same quantity from :func:`gradviz.theory.predict_variances`, or from
        :func:`batch_norm_factor` with batch norm before the activation (nan with it after).
    depth, width : int
    """

    labels: list
    chapters: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    depth: int
    width: int

    def as_table(self) -> str:
        """One row per configuration: chapter, label, measured and predicted factor, and the measured
        factor raised to the L - 1 layers crossed (the size of the gradient at layer 1 relative to layer L)."""
        L = self.depth
        w = max(len(s) for s in self.labels)
        rows = [f"{'ch':>2}  {'configuration':<{w}}  {'measured':>8}  {'theory':>8}  {f'measured^{L - 1}':>13}"]
        for c, s, m, p in zip(self.chapters, self.labels, self.measured, self.predicted):
            theory = "-" if np.isnan(p) else f"{p:.3g}"
            rows.append(f"{c:>02d}  {s:<{w}}  {m:>8.3g}  {theory:>8}  {m ** (L - 1):>13.3g}")
        return "\n".join(rows)


def cure_factors(cures=CURES, depth: int = 20, width: int = 128, batch_size: int = 128, seed=0) -> CureFactors:
    """Measure, and predict, the per-layer factor of the gradient's size for each configuration.

    Each network is ``MLP(width, depth=depth, width=width, activation, init, weight_scale,
    batch_norm, n_outputs=None, seed=seed)`` probed as in :func:`gradviz.stats.probe` (standard-normal
    inputs and upstream gradient, training mode); the factor is :func:`size_factor` of its Var(dL/da).
    The prediction is the same function of :func:`gradviz.theory.predict_variances` (Poole et al. 2016;
    Schoenholz et al. 2017), whose per-layer factor is sqrt(chi_1), chi_1 = n Var(W) E[phi'(z)^2] (its
    ``grad_gain``); with batch norm before the activation it is :func:`batch_norm_factor` (nan with batch
    norm after it).

    Parameters
    ----------
    cures : sequence of (label, chapter, activation, init, weight_scale, batch_norm)
        Default :data:`CURES`.
    depth : int >= 2
    width, batch_size : int >= 1
    seed : int

    Returns
    -------
    CureFactors

    Raises
    ------
    TypeError, ValueError
        ``depth`` below 2, or ``width`` not a positive int.
    """
    depth = check_positive_int("depth", depth)
    if depth < 2:
        raise ValueError(f"depth must be at least 2 (the gradient must cross a layer); got {depth}")
    width = check_positive_int("width", width)
    labels, chapters, measured, predicted = [], [], [], []
    for name, chapter, activation, init, weight_scale, batch_norm in cures:
        net = MLP(width, depth=depth, width=width, activation=activation, init=init, weight_scale=weight_scale,
                  batch_norm=batch_norm, n_outputs=None, seed=seed)
        stats = probe(net, batch_size=batch_size, seed=seed)
        pred = float("nan")
        if batch_norm is None:
            widths = [width] * (depth + 1)
            p = predict_variances(widths, activation, init_weight_variances(widths, init, weight_scale=weight_scale))
            pred = size_factor(p.da_var)
        elif batch_norm == "before":
            pred = batch_norm_factor(activation)
        labels.append(name)
        chapters.append(int(chapter))
        measured.append(size_factor(stats.da_var))
        predicted.append(pred)
    return CureFactors(labels=labels, chapters=np.array(chapters), measured=np.array(measured),
                       predicted=np.array(predicted), depth=depth, width=width)


# ---- figures
#: The guide runs the first figure compares (keys of :data:`PRESETS`).
COMPARED_PRESETS = ("1. deep sigmoid, Glorot init", "2. deep ReLU, He init", "3. deep ReLU, Glorot init",
                    "4. deep ReLU, He init x 1.5", "5. deep sigmoid, Glorot init, batch norm")

#: Colour of each chapter's rows in the per-layer factor figure (no vermillion: in this chapter it means
#: the gradient dL/da, as on every gradviz figure).
_CHAPTER_COLORS = {2: "purple", 3: "blue", 4: "green", 5: "sky_blue", 6: "orange", 7: "black"}
_CHAPTER_NAMES = {2: "02 vanishing/exploding", 3: "03 initialization", 4: "04 non-saturating",
                  5: "05 SELU", 6: "06 batch norm", 7: "07 this chapter"}


@figure("playground_guide_runs")
def guide_runs(names=COMPARED_PRESETS):
    """Guide experiments 1-5: the gradient per layer at initialisation, then training loss and test accuracy."""
    runs = {name: run(**PRESETS[name]) for name in names}
    fig, axes = plots.new_figure(1, 3, figsize=(12.5, 4.8))
    ax_grad, ax_loss, ax_acc = axes
    plots.tidy(ax_grad)
    depth = 1
    with plots.style():
        for i, (name, r) in enumerate(runs.items()):
            da = plots.positive_finite(r.initial.stats.da_var)
            depth = max(depth, len(da))
            ax_grad.plot(np.arange(1, len(da) + 1), da, "o-", ms=4, color=plots.RUN_COLORS[i % len(plots.RUN_COLORS)],
                         label=name, gid=f"grad:{name}")
        ax_grad.set_yscale("log")
        plots.layer_axis(ax_grad, depth)
        ax_grad.set_ylabel(r"Var($\partial L/\partial a^l$) (log scale)")
        ax_grad.set_title("the gradient at initialisation", fontsize=11)
    histories = {name: r.history for name, r in runs.items()}
    plots.plot_training_curves(histories, axes=(ax_loss, ax_acc), smooth=10, colors=plots.RUN_COLORS,
                               diverged_tags={name: name.split(".")[0] for name in runs})
    with plots.style():
        for text in ax_acc.texts:  # a run at chance lies on the dotted line: its label goes below it
            if text.get_text().startswith("chance"):
                text.set_verticalalignment("top")
        ax_acc.get_legend().remove()
        ax_loss.set_ylim(0.2, 5.0)  # an overflowing run would stretch the axis to 1e300
        ticks = [0.25, 0.5, 1, 2, 4]
        ax_loss.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax_loss.set_yticks([], minor=True)
        notes = [f"{name.split('.')[0]}: loss far above this scale, overflow at step {r.history.diverged_step}"
                 for name, r in runs.items() if r.history.diverged]
        if notes:
            ax_loss.text(0.98, 0.97, "\n".join(notes), transform=ax_loss.transAxes, ha="right", va="top",
                         fontsize=9, color="0.25", gid="diverged_note")
        ax_loss.set_title("training loss (10-step moving average)", fontsize=11)
        ax_acc.set_title("test accuracy", fontsize=11)
        handles, labels = ax_grad.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9.5, frameon=False)
        first = next(iter(runs.values())).settings
        fig.suptitle(f"Guide experiments 1-5: {first['depth']} hidden layers x {first['width']} units, SGD lr "
                     f"{first['lr']:g}, batch {first['batch_size']}, {first['steps']} steps on the digits", fontsize=12)
    return fig


#: The guide runs whose layers the weight-gradient figure compares: vanishing, healthy, exploding.
STEP_PRESETS = ("1. deep sigmoid, Glorot init", "2. deep ReLU, He init", "4. deep ReLU, He init x 1.5")


@figure("playground_weight_gradients")
def weight_gradients(names=STEP_PRESETS):
    """Per hidden layer at initialisation: ||a^l||, ||dL/da^l|| and the weight gradient ||dL/dW^l|| they make.

    One panel per guide experiment in ``names`` (keys of :data:`PRESETS`), log scale; the panel's title
    gives the range over the layers of the first SGD step relative to the weights,
    lr ||dL/dW^l|| / ||W^l|| (:meth:`InitialView.relative_step`). Lines have gids ``'a:<name>'``,
    ``'da:<name>'`` and ``'dW:<name>'``.
    """
    runs = {name: run(**PRESETS[name]) for name in names}
    fig, axes = plots.new_figure(1, len(runs), figsize=(4.1 * len(runs), 4.3))
    axes = np.atleast_1d(axes)
    series = ((r"activations $\|a^l\|$", "a", plots.COLORS["a"], "o"),
              (r"gradient $\|\partial L/\partial a^l\|$", "da", plots.COLORS["da"], "s"),
              (r"weight gradient $\|\partial L/\partial W^l\|$", "dW", plots.OKABE_ITO["black"], "D"))
    with plots.style():
        for ax, (name, r) in zip(axes, runs.items()):
            plots.tidy(ax)
            iv = r.initial
            values = {"a": iv.a_norm, "da": iv.da_norm, "dW": iv.stats.grad_norm}
            layers = np.arange(1, len(iv.a_norm) + 1)
            for text, key, color, marker in series:
                ax.plot(layers, plots.positive_finite(values[key]), marker=marker, ms=4, color=color,
                        lw=2.4 if key == "dW" else 1.5, label=text, gid=f"{key}:{name}")
            ax.set_yscale("log")
            plots.layer_axis(ax, len(layers))
            ax.set_xlabel("hidden layer $l$")
            step = iv.relative_step(r.settings["lr"])
            ax.set_title(f"{name}\nfirst step changes $W^l$ by {np.nanmin(step):.2g} to {np.nanmax(step):.2g} "
                         "of its size", fontsize=10)
        axes[0].set_ylabel("norm over the batch (log scale)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9.5, frameon=False)
        fig.suptitle(f"At initialisation, {r.settings['depth']} hidden layers x {r.settings['width']} units, "
                     f"256 digits, SGD lr {r.settings['lr']:g}", fontsize=11.5)
    return fig


@figure("per_layer_factors")
def per_layer_factors(factors=None):
    """Each cure of chapters 02-06 as what it does to one number: the per-layer factor of the gradient's size."""
    f = factors if factors is not None else cure_factors()
    K = len(f.labels)
    fig, ax = plots.new_figure(figsize=(11.0, 0.42 * K + 1.9))
    plots.tidy(ax)
    y = np.arange(K)[::-1]
    lo, hi = 0.1, 2.6
    with plots.style():
        ax.axvspan(lo, 0.9, color="0.5", alpha=0.09, lw=0, gid="band:vanishes")
        ax.axvspan(1 / 0.9, hi, color="0.5", alpha=0.09, lw=0, gid="band:explodes")
        ax.axvline(1.0, color="0.3", lw=1.2, zorder=1)
        ax.text(0.105, K - 0.45, "the gradient vanishes (factor < 0.9)", fontsize=9, color="0.3", va="bottom")
        ax.text(1.0, K - 0.45, "within 10 % of 1", fontsize=9, color="0.3", va="bottom", ha="center",
                bbox=dict(fc="white", ec="none", pad=1.0))
        ax.text(hi * 0.985, K - 0.45, "explodes (> 1/0.9)", fontsize=9, color="0.3", va="bottom", ha="right")
        seen = set()
        for yi, cure, c, m, p in zip(y, f.labels, f.chapters, f.measured, f.predicted):
            color = plots.OKABE_ITO[_CHAPTER_COLORS.get(int(c), "black")]
            name = _CHAPTER_NAMES.get(int(c), f"chapter {c}")
            ax.plot([1.0, m], [yi, yi], color=color, lw=2.5, alpha=0.35, solid_capstyle="butt", zorder=2)
            ax.plot([m], [yi], "o", ms=8, color=color, zorder=4, gid=f"measured:{cure}",
                    label=None if name in seen else name)
            seen.add(name)
            if np.isfinite(p):
                ax.plot([p], [yi], "|", ms=16, mew=1.6, color="black", zorder=5, gid=f"predicted:{cure}")
            ax.text(hi * 1.04, yi, f"x{m:.2f}   {m ** (f.depth - 1):.2g}", va="center", fontsize=9, color="0.2",
                    gid=f"value:{cure}")
        ax.plot([], [], "|", ms=12, mew=1.6, color="black",
                label=r"theory: $\sqrt{\chi_1} = \sqrt{n\,\mathrm{Var}(W)\,E[\varphi'(z)^2]}$;  with batch norm "
                      r"$\sqrt{E[\varphi'(u)^2]\,/\,\mathrm{Var}(\varphi(u))}$, $u \sim N(0, 1)$")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ticks = [0.1, 0.15, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 2.5]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_yticks(y, f.labels)
        ax.set_ylim(-0.7, K + 0.1)
        ax.text(hi * 1.04, K - 0.3, f"factor  factor$^{{{f.depth - 1}}}$", fontsize=9, color="0.2", va="center")
        ax.set_xlabel("per-layer factor of the gradient's size at initialisation (log scale): dot measured, "
                      "bar theory")
        ax.set_title(f"{f.depth} hidden layers x {f.width} units, probed with standard-normal numbers: "
                     "what each cure does to the factor", fontsize=11.5)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    return fig


# ---- explorers
# Every knob at once, one set of controls driving both views: the network at initialisation (the
# DeepNetworkExplorer's figure) and its training on the digits (the TrainingExplorer's figure, Run button,
# progress bar and overlaid runs).
_WIDTHS = (16, 32, 64, 128, 256)
_DATA_OPTIONS = [("digits, standardised pixels", "digits"), ("digits, raw pixels 0..16", "digits_raw")]
_CUSTOM = "(your own settings)"


def _knobs(max_depth):
    """The controls of every playground knob (:data:`DEFAULTS`), in display order."""
    d = DEFAULTS
    w = ipywidgets
    return {
        "depth": int_slider("depth (hidden layers)", 1, max_depth, d["depth"]),
        "width": values_slider("width (units per layer)", _WIDTHS, d["width"]),
        "activation": choice("activation", list(ACTIVATIONS), d["activation"]),
        "init": choice("initializer", INIT_OPTIONS, d["init"]),
        "weight_scale": log_slider("weight scale (gain x init)", 0.1, 20.0, d["weight_scale"]),
        "batch_norm": choice("batch norm", BN_OPTIONS, d["batch_norm"], buttons=True),
        "bn_momentum": choice("BN momentum (Keras)", [0.9, 0.99], d["bn_momentum"], buttons=True),
        "lr": log_slider("learning rate", 1e-3, 100.0, d["lr"]),
        "steps": values_slider("training steps", STEPS, d["steps"]),
        "batch_size": values_slider("batch size", (16, 32, 64, 128, 256), d["batch_size"]),
        "dataset": choice("data", _DATA_OPTIONS, d["dataset"]),
        "seed": w.BoundedIntText(value=d["seed"], min=0, max=2**31 - 1, description="seed", style=CONTROL_STYLE),
    }


class _PlaygroundTraining(TrainingExplorer):
    """The training half of the playground.

    A :class:`gradviz.widgets.TrainingExplorer` (its three panels, status line,
    progress bar, overlaid runs and Clear button) whose runs come from
    :func:`run`, so that a configuration trained in a notebook cell, or earlier
    in any playground, is shown at once. Its controls are set by the
    :class:`PlaygroundExplorer` that owns it and are not shown; changing them
    redraws nothing (only Run and Clear redraw its figure).
    """

    figsize = (9.6, 4.8)  # fits a JupyterLab notebook column at 100 dpi, like the figure above it

    def __init__(self, canvas="auto", *, progress=True, max_runs=6, max_depth=30):
        self.max_depth = int(max_depth)
        super().__init__(canvas, progress=progress, max_runs=max_runs)
        self._holding = True  # the owner sets the controls; only run() and clear() redraw

    def make_controls(self):
        w = ipywidgets
        return {**_knobs(self.max_depth),
                "run": w.Button(description="Run", button_style="primary", icon="play"),
                "clear": w.Button(description="Clear runs", icon="trash")}

    # The runs live in this module's cache, shared with notebook cells.
    @property
    def cache(self):
        return _RUN_CACHE

    @cache.setter
    def cache(self, value):  # TrainingExplorer.__init__ assigns a dict: not needed here
        pass

    def key(self, **v):
        return tuple(settings(**v).values())

    def label(self, **v):
        return label(v)

    def get_run(self, **values):
        """The :class:`PlaygroundRun` of the controls (with ``values`` applied): from the cache, or
        trained now with a progress bar."""
        v = {**self.values, **values}
        if is_cached(**v):
            return run(**v)
        self.status.value = f"training {html.escape(self.label(**v))} ..."
        with self.progress_area:
            result = run(progress=self.progress, **v)
        if self.progress:
            self.progress_area.clear_output()
        return result

    def history(self, **values):
        return self.get_run(**values).history

    def train_run(self, values, progress=False, callback=None):
        return run(progress=progress, callback=callback, **values).history

    def remember_run(self, values, hist):  # run() keeps every run in this module's cache
        pass

    def status_html(self):
        """The status line for the current controls: trained before or not, and how the last run ended."""
        v = self.values
        text = html.escape(self.label(**v))
        if is_cached(**v):
            status = f"<b>{text}</b>: trained before; Run shows it at once."
        else:
            status = f"<b>{text}</b>: not trained yet; press Run."
        if self.runs:
            last_label, last = next(reversed(self.runs.items()))
            status += f"<br>last run ({html.escape(last_label)}): {html.escape(last.status)}"
        return status

    def refresh(self, **v):
        super().refresh(**v)
        with plots.style():
            # The runs' long labels go under all three panels, in two columns, instead of under one.
            legend = self.ax_acc.get_legend()
            if legend is not None:
                handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
                legend.remove()
                self.figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8,
                                   frameon=False)
            self._clip_loss_axis()
            last = next(reversed(self.runs.values()), None)
            if last is not None:  # the heat map's cells are centred on record steps: no step below 0
                self.ax_grad.set_ylim(max(self.ax_grad.get_ylim()[0], 0.0), self.ax_grad.get_ylim()[1])
                if last.diverged:
                    self.ax_grad.set_title(f"gradient norm per layer (last run;\noverflow at step "
                                           f"{last.diverged_step}: blank from there)", fontsize=10)
        self.status.value = self.status_html()

    def _clip_loss_axis(self):
        """Keep the loss axis on the runs that did not overflow (one that did would stretch it to 1e300)."""
        kept = [h.loss for h in self.runs.values() if not h.diverged] or [h.loss for h in self.runs.values()]
        values = np.concatenate([np.asarray(x, float) for x in kept]) if kept else np.array([])
        values = values[np.isfinite(values) & (values > 0)]
        if not values.size:
            return
        lo, hi = values.min() / 1.5, min(max(values.max() * 1.5, 3.0), 50.0)
        ax = self.ax_loss
        ax.set_ylim(lo, hi)
        few_decades = hi / lo < 100
        # plain numbers (0.5, 2) rather than 5 x 10^-1, 2 x 10^0; minor labels at 2 and 5 only, on short ranges
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda y, _: f"{y:g}" if few_decades and f"{y:.0e}"[0] in "25" else ""))
        if any(h.diverged for h in self.runs.values()):
            ax.text(0.98, 0.97, "X: overflow (may be off the axis)", transform=ax.transAxes, ha="right", va="top",
                    fontsize=8, color="0.3", gid="overflow_note")


class PlaygroundExplorer(DeepNetworkExplorer):
    """Every knob at once: the network at initialisation and its training on the digits, one set of controls.

    Top: what :class:`gradviz.widgets.DeepNetworkExplorer` draws (per-layer
    Var(a) and Var(dL/da), measured and, without batch norm, predicted;
    saturated and dead units), but for the very network that will be trained,
    measured on 256 training digits with the real cross-entropy gradient
    (:func:`initial_view`). It follows every control at once.
    Bottom: what :class:`gradviz.widgets.TrainingExplorer` draws (loss, test
    accuracy, weight gradient per layer over training) for the runs made with
    the Run button; runs overlay (up to ``max_runs``), Clear removes them, and
    every run is cached (:func:`run`), also across notebook cells.

    Controls: ``preset`` (the guide's experiments, :data:`PRESETS`: choosing one
    sets every knob), ``depth``, ``width``, ``activation``, ``init``,
    ``weight_scale``, ``batch_norm``, ``bn_momentum``, ``lr``, ``steps``,
    ``batch_size`` (of training), ``dataset``, ``seed``; buttons ``run`` and ``clear``.

    Parameters
    ----------
    canvas : {'auto', 'ipympl', 'image', 'none'}
        As :class:`gradviz.widgets.Explorer`.
    progress : bool
        Show a progress bar while training.
    max_runs : int
        Runs kept on the training figure.
    max_depth : int
        Largest value of the depth slider.
    preset : str or None
        A key of :data:`PRESETS` to start from.
    **values
        Initial control values (applied after ``preset``).

    Attributes
    ----------
    training : gradviz.widgets.TrainingExplorer
        The training half (its figure is shown under the first one).
    initial : InitialView
        What the top figure shows now.

    Raises
    ------
    ValueError
        ``preset`` is not a key of :data:`PRESETS`.
    """

    figsize = (9.6, 4.2)  # fits a JupyterLab notebook column at 100 dpi
    #: Lay the figure out at every redraw: the log axis's tick labels change width with its range
    #: (``6 x 10^-2``), and a layout frozen once would cut them off.
    freeze_layout = False

    def __init__(self, canvas="auto", *, progress=True, max_runs=6, max_depth=30, preset=None, **values):
        if preset is not None:
            check_choice("preset", preset, PRESETS)
            values = {**DEFAULTS, **PRESETS[preset], **values}
        self._dataset = values.get("dataset", DEFAULTS["dataset"])
        self._applying_preset = False
        self.training = _PlaygroundTraining(canvas, progress=progress, max_runs=max_runs, max_depth=max_depth)
        self.heading_init = ipywidgets.HTML()
        self.heading_training = ipywidgets.HTML(
            "<b>Training on the digits</b>: press <b>Run</b> to train the settings above (runs overlay; "
            "a run trained before, here or in a notebook cell, appears at once).")
        super().__init__(canvas, dtype=np.float64, max_depth=max_depth, **values)
        if preset is not None:
            with self._preset_quietly():
                self.controls["preset"].value = preset
        self.controls["run"].on_click(self._on_run)
        self.controls["clear"].on_click(self._on_clear)

    # --- controls ------------------------------------------------------------
    def make_controls(self):
        w = ipywidgets
        presets = [(_CUSTOM, "custom")] + [(name, name) for name in PRESETS]
        return {"preset": choice("guide experiment", presets, "custom"),
                **_knobs(self.max_depth),
                "run": w.Button(description="Run", button_style="primary", icon="play",
                                tooltip="train these settings on the digits"),
                "clear": w.Button(description="Clear runs", icon="trash")}

    @property
    def knobs(self) -> dict:
        """The current value of every knob (the controls except ``preset``)."""
        v = self.values
        v.pop("preset")
        return v

    @contextlib.contextmanager
    def _preset_quietly(self):
        was, self._applying_preset = self._applying_preset, True
        try:
            yield
        finally:
            self._applying_preset = was

    def apply_preset(self, name: str) -> None:
        """Set every knob to the guide experiment ``name`` (a key of :data:`PRESETS`; unset knobs
        take their defaults) and redraw once."""
        check_choice("name", name, PRESETS)
        with self._preset_quietly():
            self.update(preset=name, **{**DEFAULTS, **PRESETS[name]})

    def _on_change(self, change):
        if change.owner is self.controls["preset"]:  # the preset itself draws nothing: its knobs do
            if not self._applying_preset and change.new != "custom":
                self.apply_preset(change.new)
            return
        super()._on_change(change)

    # --- layout ----------------------------------------------------------------
    def layout(self):
        w = ipywidgets
        ctl = [c for name, c in self.controls.items() if name != "preset"]
        grid = w.GridBox(ctl, layout=w.Layout(grid_template_columns="repeat(3, minmax(260px, 1fr))",
                                              grid_gap="2px 12px"))
        self.controls["preset"].layout = w.Layout(width="520px")
        return w.VBox([self.controls["preset"], grid, self.heading_init, self._view, self.readout,
                       self.heading_training, self.training._view, self.training.status,
                       self.training.progress_view, self.training.progress_area])

    # --- the two halves --------------------------------------------------------
    def compute(self, depth, width, activation, init, weight_scale, batch_norm, seed, batch_size):
        """(PassStats, VariancePrediction or None, note) of the playground network at initialisation,
        on the current data set (:func:`initial_view`; ``batch_size`` is not used: the initial pass
        always sees 256 examples)."""
        t0 = time.perf_counter()
        self.initial = initial_view(depth=depth, width=width, activation=activation, init=init,
                                    weight_scale=weight_scale, batch_norm=batch_norm, seed=seed,
                                    dataset=self._dataset)
        note = ""
        if batch_norm != "off":
            note = "no prediction drawn: the mean-field theory here models Dense -> phi without batch norm"
        self.timings.update(probe=time.perf_counter() - t0)
        return self.initial.stats, self.initial.prediction, note

    def answer(self, values, examples=None):
        self._dataset = values["dataset"]
        return super().answer({**values, "batch_size": 256})  # the initial pass always sees 256 examples

    def draft_examples(self, values):
        return None  # initial_view measures all 256 examples at once

    def show(self, result, values):
        super().show(result, {**values, "batch_size": 256})
        self.ax_frac.set_xlabel("hidden layer $l$")  # the long label does not fit under the narrow panel
        iv = self.initial
        title = self.ax_var.get_title().replace(", float64", "")
        self.ax_var.set_title(title, fontsize=11)
        data = "raw pixels 0..16" if values["dataset"] == "digits_raw" else "standardised pixels"
        self.heading_init.value = (
            f"<b>At initialisation</b>: one forward and backward pass of this network on {iv.n_examples} "
            f"training digits ({html.escape(data)}, E[x<sup>2</sup>] = {iv.input_second_moment:.3g}); "
            f"dashed: the mean-field prediction. Every control redraws it at once.")
        self.readout.value = self._readout_html(iv)
        knobs = {k: v for k, v in values.items() if k != "preset"}
        self.training.update(**knobs)
        self.training.status.value = self.training.status_html()
        preset = values["preset"]
        if preset != "custom" and settings(**knobs) != settings(**{**DEFAULTS, **PRESETS[preset]}):
            with self._preset_quietly():  # a knob moved away from the preset: say so, change nothing else
                self.controls["preset"].value = "custom"

    @staticmethod
    def _readout_html(iv):
        st = iv.stats
        L = len(st.da_var)
        if st.first_nonfinite is not None:
            return (f"<b>Overflow</b> at hidden layer {st.first_nonfinite}: values exceeded the largest float "
                    f"(inf or nan from there on).")
        if L < 2:
            return "One hidden layer: the gradient crosses no layer on its way down. Add depth."
        r, f = iv.gradient_ratio, iv.size_factor
        if not np.isfinite(r) or r == 0:
            return "The gradient reaching layer 1 is exactly 0: it vanished (or every unit is dead)."
        verdict = "vanishes" if f < 0.9 else ("explodes" if f > 1.1 else "keeps its size")
        return (f"Var(dL/da) at layer 1 / at layer {L} = {r:.3g}: the gradient's size is multiplied by about "
                f"<b>x{f:.3g} per layer</b> on its way down, so it <b>{verdict}</b>. "
                f"Weight gradients: ||dL/dW<sup>1</sup>|| / ||dL/dW<sup>{L}</sup>|| = {iv.weight_grad_ratio:.3g}. "
                f"Saturated units: {np.mean(st.saturated_fraction):.0%}; dead units: "
                f"{np.mean(st.dead_fraction):.0%} (mean over layers).")

    def run(self, **values):
        """Apply ``values`` to the controls, train (or take from the cache), add the run to the training
        figure, and return its :class:`PlaygroundRun`."""
        if values:
            self.update(**values)
        self.training.run()
        self.training.status.value = self.training.status_html()
        return self.training.get_run()

    def clear(self) -> None:
        """Remove every run from the training figure (the cache is kept)."""
        self.training.clear()

    def _on_run(self, button):
        self.training._on_run(button)  # a learner's press trains on a worker thread: the controls stay live

    def _on_clear(self, button):
        self.clear()

    def summary(self) -> str:
        """What the playground shows now, as plain text: the settings, the initial pass, the last run."""
        iv = self.initial
        lines = [f"settings: {label(self.knobs)}", _html_to_text(self._readout_html(iv))]
        if self.training.runs:
            last_label, last = next(reversed(self.training.runs.items()))
            lines.append(f"last run ({last_label}): {last.status}")
        return "\n".join(lines)


def _html_to_text(markup: str) -> str:
    """``markup`` as plain text: superscripts as ^, tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<sup>(.*?)</sup>", r"^\1", markup)))


# ---- exercises
# Answers come from gradviz.theory, gradviz.init and the playground's data sets above.
@exercise(
    "07.1",
    question="A deep ReLU network of equal widths with Glorot init: by what weight scale (gain) must its "
    "initial weights be multiplied so that the per-layer factor of the gradient's size is 1?",
    hint="The factor is sqrt(n Var(W) E[phi'(z)^2]). With fan_in = fan_out = n, Glorot gives n Var(W) = 1; "
    "for ReLU, E[phi'(z)^2] is the fraction of positive z. A weight scale c multiplies Var(W) by c^2. Check it "
    "in the playground: ReLU, Glorot uniform, and watch the readout as you move the weight scale.",
    explain=lambda c: (
        "Glorot with fan_in = fan_out = n draws Var(W) = 2 / (n + n) = 1 / n, so n Var(W) = 1. ReLU lets a "
        "gradient through (slope 1) for half of the inputs and blocks it (slope 0) for the other half, so "
        "E[phi'(z)^2] = 1/2 and the factor is sqrt(1 x 1/2) = 0.707: the playground's 'deep ReLU, Glorot' "
        "experiment. A weight scale c multiplies Var(W) by c^2 and the factor by c, so c = 1 / 0.707 = "
        f"sqrt(2) = {c:.4g}. That is He's init: Var(W) = 2 / fan_in (He et al. 2015, eq. 10), which is why "
        "PyTorch's calculate_gain('relu') is sqrt(2).\n"
        "In code: p = gv.theory.predict_variances([64] * 3, 'relu', 1 / 64); 1 / np.sqrt(p.grad_gain[-1])"
    ),
)
def relu_glorot_gain(n=64):
    """Weight scale that brings the per-layer factor of a square ReLU layer with Glorot init to 1."""
    p = predict_variances([n] * 3, "relu", weight_variance("glorot_uniform", n, n))
    return float(1.0 / np.sqrt(p.grad_gain[-1]))


def sigmoid_deep_factor(gain):
    """Per-layer factor of the gradient's size deep in a square sigmoid net with Glorot init x ``gain``.

    With fan_in = fan_out = n, n Var(W) = gain^2; the forward variance settles at the fixed point
    q* = gain^2 E[sigmoid(z)^2], z ~ N(0, q*) (the value one more layer maps to itself; Poole et al.
    2016), where the factor is sqrt(chi_1) = sqrt(gain^2 E[sigmoid'(z)^2]) (Schoenholz et al. 2017).
    """
    q = 1.0
    for _ in range(500):
        q_new = gain**2 * activation_moments("sigmoid", 0.0, q).second_moment
        if abs(q_new - q) <= 1e-10 * q:
            break
        q = q_new
    return float(np.sqrt(gain**2 * activation_moments("sigmoid", 0.0, q).grad_second_moment))


@exercise(
    "07.2",
    question="A deep sigmoid network of equal widths with Glorot init: is there a weight scale at which the "
    "gradient neither vanishes nor explodes deep inside the network? If so, give it (to about 10 %).",
    hint="At weight scale 1 the factor is about 0.24. A larger scale multiplies the weights (the factor grows "
    "with it) but also pushes z into the flat tails of the sigmoid (E[phi'(z)^2] shrinks). Move the weight "
    "scale in the playground with depth 20 and width 256 and read the factor per layer; or iterate "
    "gv.theory.activation_moments yourself.",
    explain=lambda g: (
        f"Yes: about {g:.3g}. With fan_in = fan_out, Glorot x c gives n Var(W) = c^2. Deep in the network the "
        "variance q of z settles at a fixed point, a value that one more layer maps to itself: "
        "q = c^2 E[sigmoid(z)^2] with z ~ N(0, q). There the factor is "
        "sqrt(c^2 E[sigmoid'(z)^2]). The weights win over the saturation: E[sigmoid'(z)^2] falls only like "
        "1 / sqrt(q), while c^2 grows faster, so the factor climbs from "
        f"{sigmoid_deep_factor(1.0):.3g} at c = 1 through {sigmoid_deep_factor(4.0):.3g} at c = 4 "
        f"to 1 at c = {g:.3g}. The price: most units work far out on the flat tails (read the saturated "
        "fraction in the playground), so the gradient keeps its size only on average, carried by the few "
        "units whose z happens to be near 0. A gain can balance the factor on average; it cannot make most "
        "sigmoid units useful again.\nIn code: the bisection in gradviz.chapters.ch07_playground.sigmoid_gain"
    ),
    rtol=0.1,
)
@functools.lru_cache(maxsize=1)
def sigmoid_gain():
    """The weight scale at which that factor is 1 (bisection on a log scale; the factor grows with the gain)."""
    lo, hi = 1.0, 50.0
    for _ in range(32):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if sigmoid_deep_factor(mid) < 1.0 else (lo, mid)
    return float((lo * hi) ** 0.5)


@exercise(
    "07.3",
    question="By what factor is E[x^2], the mean of the squared inputs over all training examples and "
    "pixels, larger for the raw digits (pixels 0..16) than for the standardised digits?",
    hint="raw = ch.dataset('digits_raw'); std = ch.dataset('digits'); compare "
    "np.mean(raw.X_train ** 2) with np.mean(std.X_train ** 2). (The standardised value is a little below 1: "
    "why?)",
    explain=lambda r: (
        f"E[x^2] is {r:.4g} times larger for the raw pixels. The first layer computes z = x W, so Var(z^1) = "
        "n Var(W) E[x^2] grows by the same factor, and in a ReLU network with He init every later layer "
        "carries it along (ReLU is homogeneous: relu(c z) = c relu(z)), up to the logits: their softmax "
        "saturates, the gradients are that much larger, and with lr 0.1 the run of guide experiment 7a "
        "overflows. The standardised value is a little below 1 because the pixels that are constant in the "
        "training set (the corners) are set to 0, not to variance 1. Standardising the inputs, or a batch "
        "norm after the first Dense (7b) or before it (chapter 06), removes the factor.\n"
        "In code: np.mean(raw.X_train ** 2) / np.mean(std.X_train ** 2)"
    ),
)
def raw_second_moment_ratio():
    """E[x^2] of the raw training digits over E[x^2] of the standardised ones."""
    raw, std = dataset("digits_raw"), dataset("digits")
    return float(np.mean(np.square(raw.X_train)) / np.mean(np.square(std.X_train)))


def _weight_gradient_inputs():
    """Argument tuples ``(a_prev, delta)`` on which 07.4 compares the learner's function with the reference:
    shapes (batch, fan_in) and (batch, fan_out), fan_in != fan_out so that a transposed answer fails."""
    rng = np.random.default_rng(7)
    return [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))),
            (rng.standard_normal((16, 5)), rng.standard_normal((16, 8))),
            (np.abs(rng.standard_normal((8, 6))), 0.1 * rng.standard_normal((8, 4)))]


@exercise(
    "07.4",
    question="Write weight_gradient(a_prev, delta): the gradient dL/dW of a dense layer z = a_prev @ W + b, "
    "given its input a_prev of shape (batch, fan_in) and delta = dL/dz of shape (batch, fan_out) (the loss "
    "summed over the batch). It returns an array shaped like W, (fan_in, fan_out).",
    hint="z[k, j] = sum_i a_prev[k, i] W[i, j] + b[j], so W[i, j] moves z[k, j] by a_prev[k, i] for every "
    "example k. Sum delta[k, j] * a_prev[k, i] over the batch: that is one matrix product. Check the shape.",
    explain=lambda ref: (
        "dL/dW[i, j] = sum over examples k of a_prev[k, i] * delta[k, j], i.e. dL/dW = a_prev.T @ delta "
        "(gv.layers.Dense.backward computes the same). Its size is at most ||a_prev|| x ||delta||: the "
        "activations entering the layer times the gradient arriving at it. That is why, in guide experiment 4, "
        "the weight gradients stay level across layers: going up the activations grow by the same factor per "
        "layer as the gradient grows going down, and the product of the two does not change with depth, "
        "while both are far too large. In a deep sigmoid network (experiment 1) the activations stay near "
        "0.5, so the weight gradients shrink with delta.\n"
        "Check it on the playground's network: net = ch.network(**ch.PRESETS['4. deep ReLU, He init x 1.5']); "
        "d = ch.dataset('digits'); out = net.forward(d.X_train[:256], training=True, record=True); "
        "net.backward(gv.losses.softmax_cross_entropy(out, d.y_train[:256])[1], record=True); then "
        "weight_gradient(net.records[0]['a'], net.records[1]['dz']) equals net.records[1]['dW'], layer 2's "
        "weight gradient."
    ),
    inputs=_weight_gradient_inputs(),
    rtol=1e-9,
)
def weight_gradient(a_prev, delta):
    """dL/dW = a_prev^T delta for a dense layer z = a_prev W + b: shape (fan_in, fan_out) from a_prev
    (batch, fan_in) and delta = dL/dz (batch, fan_out)."""
    return a_prev.T @ delta
