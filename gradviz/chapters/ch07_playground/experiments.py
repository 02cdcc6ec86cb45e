"""Chapter 07's experiments: the configured runs and measurements behind the notebook's results.

In order: the knobs, their defaults and the guide's presets (:func:`settings`, :func:`dataset`,
:func:`network`); the network measured at initialisation (:func:`initial_view`); a run, trained and
cached (:func:`run`); and the per-layer factor of each cure (:func:`cure_factors`).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np

from ..._validate import (check_bool, check_choice, check_nonneg, check_nonneg_int, check_positive, check_positive_int,
                          check_probability)
from ...activations import ACTIVATIONS
from ...data import digits
from ...init import ALIASES, INITIALIZERS, initialize, recommended_init, weight_variance
from ...losses import softmax_cross_entropy
from ...network import MLP, BatchNormOptions
from ...stats import layer_statistics, probe
from ...theory import activation_moments, init_weight_variances, predict_variances
from ...train import History, one_blas_thread, train


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
                bn_momentum=0.9, lr=0.1, steps=300, batch_size=64, dataset="digits", seed=0,
                bias_var=0.0, clip="none", clip_threshold=1.0, residual=False)

#: Gradient clipping of the playground (chapter 08): name -> what is clipped to ``clip_threshold``.
CLIPPING = {
    "none": "no clipping",
    "norm": "the global norm of all the gradients together (gradviz.optim.clip_grad_norm)",
    "value": "every gradient entry, to [-threshold, threshold] (gradviz.optim.clip_grad_value)",
}

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
INITIAL_EXAMPLES = 256


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
        bias_var : float >= 0
            sigma_b^2, the variance of the initial hidden biases (drawn from N(0, bias_var); 0: all 0),
            as on chapter 08's phase diagram.
        clip : str
            A key of :data:`CLIPPING`: no gradient clipping, by global norm or by value (chapter 08).
        clip_threshold : float > 0
            The largest global norm (``clip='norm'``) or absolute entry (``clip='value'``) of the
            gradient; set to its default when ``clip='none'`` (where it does nothing).
        residual : bool
            Skip connections: each hidden block whose input and output have the same width
            computes h + phi(...) instead of phi(...) (:class:`gradviz.network.MLP`; chapter 08).

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
    s["bias_var"] = check_nonneg("bias_var", s["bias_var"])
    s["clip"] = check_choice("clip", s["clip"], CLIPPING)
    s["clip_threshold"] = check_positive("clip_threshold", s["clip_threshold"])
    if s["clip"] == "none":
        s["clip_threshold"] = DEFAULTS["clip_threshold"]
    s["residual"] = check_bool("residual", s["residual"])
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
    bias = "" if s["bias_var"] == 0 else f", sigma_b^2 {s['bias_var']:.3g}"
    res = ", residual" if s["residual"] else ""
    clip = "" if s["clip"] == "none" else f", clip by {s['clip']} {s['clip_threshold']:.3g}"
    return (f"{s['activation']}, {s['init']}{ws}{bias}{bn}{res}, {s['depth']}x{s['width']}, lr {s['lr']:.3g}{clip}, "
            f"{s['steps']} steps, batch {s['batch_size']}{data}{seed}")


def network(**knobs) -> MLP:
    """The freshly initialised network of a playground configuration.

    ``MLP(64, depth, width, activation, init, weight_scale, bias_std=sqrt(bias_var),
    batch_norm=BatchNormOptions(batch_norm, momentum=bn_momentum), residual=residual, n_outputs=10,
    seed=seed)`` in float64: 64 pixel inputs, ``depth`` hidden blocks
    ``Dense -> [BatchNorm] -> activation -> [BatchNorm]`` (with ``residual``, plus a skip connection
    around each block whose input and output widths are equal: all of them when ``width`` is 64), and
    a 10-way linear output layer initialised like the hidden ones (its biases 0).

    Parameters
    ----------
    **knobs
        As :func:`settings` (the training knobs are accepted and ignored).
    """
    s = settings(**knobs)
    data = dataset(s["dataset"])
    return MLP(data.n_features, depth=s["depth"], width=s["width"], activation=s["activation"], init=s["init"],
               weight_scale=s["weight_scale"], bias_std=float(np.sqrt(s["bias_var"])),
               batch_norm=BatchNormOptions(None if s["batch_norm"] == "off" else s["batch_norm"],
                                           momentum=s["bn_momentum"]),
               residual=s["residual"], n_outputs=data.n_classes, seed=s["seed"])


@dataclass(eq=False)
class InitialView:
    """A playground network at initialisation, measured on real digits (see :func:`initial_view`).

    Attributes
    ----------
    stats : gradviz.stats.PassStats
        Per hidden layer: Var(a), Var(dL/da) (dL the loss of each example, not the batch mean),
        ||dL/dW|| (of the batch-mean loss, what an SGD step uses), saturated and dead fractions.
    prediction : gradviz.theory.VariancePrediction or None
        The mean-field prediction for the same widths, activation, weight and bias variances, fed
        with the input's second moment and with the measured Var(dL/da^L) at the top (None with batch
        norm or skip connections, which the theory here does not model).
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
                                "seed", "bias_var", "residual"))


def initial_view(*, examples=None, **knobs) -> InitialView:
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
    examples : int from 1 to 256, or None
        Measure the first ``examples`` of the 256 (fewer: a quick estimate, e.g. an explorer's first
        frame of a deep, wide network), neither from the cache nor into it (see :func:`keep_initial`).
        None: all 256, cached.
    **knobs
        As :func:`settings` (the training knobs are accepted and ignored).

    Returns
    -------
    InitialView

    Raises
    ------
    TypeError, ValueError
        As :func:`settings`; ``examples`` is not an int from 1 to 256.
    """
    s = settings(**knobs)
    if examples is not None:
        examples = check_positive_int("examples", examples)
        if examples > INITIAL_EXAMPLES:
            raise ValueError(f"examples must be an int from 1 to {INITIAL_EXAMPLES} (or None); got {examples}")
        return _measure_initial(s, examples)
    key = _model_key(s)
    hit = _INITIAL_CACHE.get(key)
    if hit is not None:
        _INITIAL_CACHE.move_to_end(key)
        return hit
    return _cache_put(_INITIAL_CACHE, key, _measure_initial(s, INITIAL_EXAMPLES), 256)


def is_initial_cached(**knobs) -> bool:
    """Whether :func:`initial_view` of these knobs is cached (returns at once)."""
    return _model_key(settings(**knobs)) in _INITIAL_CACHE


def keep_initial(view: InitialView, **knobs) -> InitialView:
    """Cache ``view``, the :func:`initial_view` of ``knobs`` on all 256 examples measured elsewhere (with
    ``examples=256``, e.g. on a worker thread), so that :func:`initial_view` returns it; returns it.

    Raises
    ------
    ValueError
        ``view`` did not measure all 256 examples; as :func:`settings`.
    """
    if view.n_examples != INITIAL_EXAMPLES:
        raise ValueError(f"view must measure all {INITIAL_EXAMPLES} examples to be cached; it measured "
                         f"{view.n_examples}")
    return _cache_put(_INITIAL_CACHE, _model_key(settings(**knobs)), view, 256)


class _WeightBank:
    """The initial weights and biases of playground networks, drawn once, for quick estimates.

    :func:`network` seeds layer l from ``default_rng([seed, l])`` and multiplies its weights by
    ``weight_scale``, so layer l's draw does not depend on the depth or the weight scale: a draft of a
    deep, wide network (the first frame of an explorer) takes its weights from here, scaled, instead
    of drawing them again (which cost more than a forward and backward pass of 32 examples). Bounded by
    ``max_bytes``; for one thread (the explorer's: its worker measures with :func:`network`).
    """

    def __init__(self, max_bytes=100 * 2**20):
        self.max_bytes = max_bytes
        self._store = collections.OrderedDict()
        self._bytes = 0
        self._last = None  # (settings but the weight scale, network)

    def _draw(self, layer, fan_in, fan_out, init, seed, bias_std):
        key = (layer, fan_in, fan_out, init, seed, bias_std)
        hit = self._store.get(key)
        if hit is not None:
            self._store.move_to_end(key)
            return hit
        rng = np.random.default_rng([seed, layer])  # as MLP draws layer l: weights, then biases
        w = initialize(init, (fan_in, fan_out), rng=rng, gain=1.0)
        b = bias_std * rng.standard_normal(fan_out) if bias_std > 0 else np.zeros(fan_out)
        self._store[key] = (w, b)
        self._bytes += w.nbytes + b.nbytes
        while self._bytes > self.max_bytes and len(self._store) > 1:
            _, (w_old, b_old) = self._store.popitem(last=False)
            self._bytes -= w_old.nbytes + b_old.nbytes
        return w, b

    def network(self, s) -> MLP:
        """:func:`network` of the settings ``s`` (:func:`settings`), its weights from the bank times the weight
        scale (equal to a fresh draw up to the rounding of that product). The network returned last time is
        returned again, rescaled, when only the weight scale has changed (so use one at a time)."""
        key = tuple(v for k, v in s.items() if k != "weight_scale")
        if self._last is not None and self._last[0] == key:
            net = self._last[1]
        else:
            net = network(**{**s, "init": "zeros", "bias_var": 0.0})  # draws nothing
            self._last = (key, net)
        scale, bias_std = s["weight_scale"], float(np.sqrt(s["bias_var"]))
        dense = [block.dense for block in net.blocks] + [net.output]
        for layer, d in enumerate(dense, start=1):
            w, b = self._draw(layer, d.fan_in, d.fan_out, s["init"], s["seed"],
                              bias_std if layer <= len(net.blocks) else 0.0)
            np.multiply(w, scale, out=d.params["W"])
            d.params["b"][:] = b
            d.init = s["init"]
        net.init, net.weight_scale, net.bias_std = s["init"], scale, bias_std
        return net


def _measure_initial(s, examples, net=None):
    """The :class:`InitialView` of the settings ``s`` (:func:`settings`) on the first ``examples`` training
    digits, of ``net`` (default: :func:`network` of ``s``)."""
    data = dataset(s["dataset"])
    net = network(**s) if net is None else net
    x = data.X_train[:examples]
    y = data.y_train[:examples]
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
    if s["batch_norm"] == "off" and not s["residual"] and np.isfinite(stats.da_var[-1]):
        widths = [data.n_features] + [s["width"]] * s["depth"]
        wv = [weight_variance(s["init"], widths[i], widths[i + 1]) * s["weight_scale"] ** 2
              for i in range(s["depth"])]
        prediction = predict_variances(widths, s["activation"], wv, s["bias_var"], input_var=second,
                                       output_grad_var=float(stats.da_var[-1]))
    return InitialView(stats, prediction, second, n, a_norm, da_norm, weight_norm)


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
    ``seed`` also orders the minibatches; ``clip`` and ``clip_threshold`` become its ``clip_norm`` or
    ``clip_value``, and then its history holds the gradient norm before and after clipping), recording every ``max(1, steps // 10)`` steps. Afterwards
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
                        clip_norm=s["clip_threshold"] if s["clip"] == "norm" else None,
                        clip_value=s["clip_threshold"] if s["clip"] == "value" else None,
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
