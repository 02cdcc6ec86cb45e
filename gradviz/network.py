"""A sequential multilayer perceptron with a hand-written forward and backward pass.

The network is a stack of ``L`` hidden blocks and an optional output layer::

    x -> (BatchNorm) -> [Dense -> (BatchNorm) -> activation -> (BatchNorm) -> (Dropout)] x L -> Dense -> logits

Hidden layer ``l`` (1-based, counted from the input) computes the
pre-activation ``z^l = h^{l-1} W^l + b^l`` (batch-normalised when
``batch_norm='before'``) and the activation ``a^l = phi(z^l)``. The backward
pass is the chain rule read from the top: ``dz^l = da^l * phi'(z^l)`` and
``da^{l-1} = dz^l (W^l)^T``, so the gradient reaching layer 1 is a product of
one factor per layer; that product is what vanishes or explodes.

Batch norm and dropout are configured by :class:`BatchNormOptions` and
:class:`DropoutOptions` (or their shorthands, ``batch_norm='before'`` and
``dropout=0.1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import (
    check_array_2d,
    check_bool,
    check_choice,
    check_finite,
    check_float_dtype,
    check_nonneg,
    check_nonneg_int,
    check_positive,
    check_positive_int,
    check_probability,
    get_rng,
)
from .activations import ACTIVATIONS, get_activation
from .init import ALIASES, INITIALIZERS, recommended_init
from .layers import ActivationLayer, AlphaDropout, BatchNorm, Dense, Dropout, PReLU, RReLU

__all__ = ["MLP", "BatchNormOptions", "DropoutOptions", "HiddenBlock", "LayerRecord", "NETWORK_ACTIVATIONS"]

#: Activations a network accepts: the element-wise ones plus the stateful RReLU and PReLU.
NETWORK_ACTIVATIONS = tuple(ACTIVATIONS) + ("rrelu", "prelu")


@dataclass(frozen=True)
class BatchNormOptions:
    """Where an :class:`MLP` batch-normalises (Ioffe & Szegedy 2015), and with which constants.

    Parameters
    ----------
    hidden : {'before', 'after', None}
        A :class:`gradviz.layers.BatchNorm` layer before or after each hidden
        activation; None: none in the hidden layers.
    inputs : bool
        A batch-norm layer of width ``n_inputs`` on the raw inputs, first:
        ``x -> BatchNorm(n_inputs) -> [hidden blocks] -> Dense -> logits``. It
        normalises every input feature with the batch mean and variance in
        training, and with its moving averages at inference, so the network can
        be fed unstandardised data (e.g. raw pixels 0..16): the moving averages
        learn the per-feature mean and variance that one would otherwise compute
        beforehand (Ioffe & Szegedy 2015, Algorithm 2; Géron, *Hands-On Machine
        Learning*, 2019, ch. 11, on BN as a network's first layer). Its ``gamma``
        and ``beta`` are trained like any other parameter.
    momentum : float in [0, 1), or None
    eps : float > 0
        Of every batch-norm layer of the network (Keras convention, see
        :class:`gradviz.layers.BatchNorm`). ``momentum=None``: the moving
        statistics are the cumulative average of every training batch's.
    unbiased_running_var : bool
        False (Keras): ``running_var`` averages the biased batch variance var_B.
        True (PyTorch; Ioffe & Szegedy 2015, Algorithm 2): it averages the
        unbiased estimate m / (m - 1) * var_B of a batch of m examples. Batches
        are normalised with var_B either way.

    Raises
    ------
    ValueError, TypeError
        For an unknown ``hidden``, constants outside their range, or an
        ``inputs`` or ``unbiased_running_var`` that is not a bool.
    """

    hidden: str | None = "before"
    inputs: bool = False
    momentum: float | None = 0.99
    eps: float = 1e-3
    unbiased_running_var: bool = False

    def __post_init__(self):
        if self.hidden is not None:
            check_choice("hidden", self.hidden, ("before", "after"))
        object.__setattr__(self, "inputs", check_bool("inputs", self.inputs))
        if self.momentum is not None:
            object.__setattr__(self, "momentum", check_probability("momentum", self.momentum))
        object.__setattr__(self, "eps", check_positive("eps", self.eps))
        object.__setattr__(self, "unbiased_running_var", check_bool("unbiased_running_var", self.unbiased_running_var))

    def layer(self, num_features, dtype):
        """A new :class:`gradviz.layers.BatchNorm` of ``num_features`` with these constants and convention."""
        return BatchNorm(num_features, self.momentum, self.eps, dtype=dtype,
                         unbiased_running_var=self.unbiased_running_var)


@dataclass(frozen=True)
class DropoutOptions:
    """Dropout after each hidden block of an :class:`MLP`.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of the units dropped in training (0: no dropout layers).
    kind : {'standard', 'alpha'}
        Inverted dropout (:class:`gradviz.layers.Dropout`) or alpha dropout for
        SELU (:class:`gradviz.layers.AlphaDropout`).
    """

    rate: float = 0.5
    kind: str = "standard"

    def __post_init__(self):
        object.__setattr__(self, "rate", check_probability("rate", self.rate))
        check_choice("kind", self.kind, ("standard", "alpha"))

    def layer(self, rng):
        """A new dropout layer of this kind and rate, drawing its masks from ``rng``."""
        return (AlphaDropout if self.kind == "alpha" else Dropout)(self.rate, rng=rng)


class LayerRecord(dict):
    """What one forward/backward pass saw at one hidden layer, by key:

    ``z``, ``a`` (batch, width): pre-activation and activation;
    ``dz``, ``da`` (batch, width): dL/dz and dL/da (after a backward pass);
    ``slope`` (batch, width): phi'(z) (after a backward pass, for an element-wise activation);
    ``dW`` (fan_in, width): dL/dW of the layer's Dense (when parameter gradients were asked for).
    """


class HiddenBlock:
    """Hidden layer l: Dense -> [BatchNorm] -> activation -> [BatchNorm] -> [Dropout], with an optional skip.

    ``cache``: (z, a) of the last forward pass; ``dcache``: (da, dz) of the last
    backward pass; each (batch, width). ``record``: the :class:`LayerRecord` of
    the last recorded passes (see :attr:`MLP.records`).
    """

    def __init__(self, dense, act, bn_before=None, bn_after=None, dropout=None, residual=False):
        self.dense, self.act = dense, act
        self.bn_before, self.bn_after, self.dropout = bn_before, bn_after, dropout
        self.residual = residual
        self.cache = self.dcache = None
        self.record = LayerRecord()

    @property
    def layers(self):
        return [ly for ly in (self.dense, self.bn_before, self.act, self.bn_after, self.dropout) if ly is not None]

    def forward(self, h, training=False):
        """h^{l-1} (batch, fan_in) -> h^l (batch, width): h^l = a^l, or h^{l-1} + a^l with the skip."""
        z = self.dense.forward(h, training)
        if self.bn_before is not None:
            z = self.bn_before.forward(z, training)
        a = self.act.forward(z, training)
        out = a
        if self.bn_after is not None:
            out = self.bn_after.forward(out, training)
        if self.dropout is not None:
            out = self.dropout.forward(out, training)
        if self.residual:
            out = h + out
        self.cache = (z, a)
        return out

    def backward(self, dout, param_grads=True):
        """dL/dh^l (batch, width) -> dL/dh^{l-1} (batch, fan_in), through dz^l = da^l * phi'(z^l)."""
        dh_skip = dout if self.residual else None
        if self.dropout is not None:
            dout = self.dropout.backward(dout)
        if self.bn_after is not None:
            dout = self.bn_after.backward(dout)
        da = dout
        dz = self.act.backward(da)
        dz_dense = self.bn_before.backward(dz) if self.bn_before is not None else dz
        dh = self.dense.backward(dz_dense, param_grads=param_grads)
        self.dcache = (da, dz)
        return dh if dh_skip is None else dh + dh_skip


def _all_finite(x):
    """Whether every entry of the float array ``x`` is finite (the passes' overflow check, after each layer).

    An inf or nan entry makes the sum of squares inf or nan, so a finite sum of
    squares settles it: one dot product, without the boolean array of
    ``np.isfinite(x).all()``, in half its time (256 x 256 float32 values: 3.5
    against 6.5 us). Squares can overflow where the entries do not (|x| above
    1.8e19 in float32): a sum that is not finite is settled entry by entry.
    """
    v = x.reshape(-1)
    return bool(np.isfinite(np.dot(v, v))) or bool(np.isfinite(v).all())


def _check_on_layer(on_layer, record):
    """Raise unless ``on_layer`` is None, or a callable given with ``record=True`` (it receives records)."""
    if on_layer is None:
        return
    if not callable(on_layer):
        raise TypeError(f"on_layer must be None or a function on_layer(l, record); got {on_layer!r}")
    if not record:
        raise ValueError("on_layer receives each layer's record: pass record=True with it")


def _layer_rngs(seed, n):
    """One generator per layer 0..n-1: ``default_rng([seed, l])`` for an int seed, the given one for a Generator.

    None is fresh entropy, as in numpy: one new generator shared by every layer.
    """
    if isinstance(seed, np.random.Generator):
        return [seed] * n
    rng = get_rng(seed)  # validates the type
    if seed is None:
        return [rng] * n
    return [np.random.default_rng([int(seed), i]) for i in range(n)]


#: Largest network :class:`MLP` builds: its weights must fit in this many bytes (8 GiB).
MAX_WEIGHT_BYTES = 8 * 2**30


def _short(widths):
    """A tuple of widths for a message: all of them, or the first and last few of a long one."""
    if len(widths) <= 6:
        return repr(widths)
    return f"({', '.join(map(str, widths[:3]))}, ..., {', '.join(map(str, widths[-2:]))}) ({len(widths)} layers)"


class MLP:
    """A multilayer perceptron built from a small spec.

    Parameters
    ----------
    n_inputs : int
        Number of input features.
    hidden : sequence of int, optional
        Widths of the hidden layers, e.g. ``(256, 128)``. Give either
        ``hidden`` or both ``depth`` and ``width``.
    depth, width : int, optional
        ``depth`` hidden layers of ``width`` units each. Depth 0 is a linear
        model (the output layer alone): :func:`gradviz.stats.probe` then has no
        hidden layer to measure and returns empty per-layer statistics.
    activation : str
        One of :data:`NETWORK_ACTIVATIONS`.
    init : str or None
        Weight initializer (see :mod:`gradviz.init`); None picks the one the
        literature pairs with the activation (:func:`gradviz.init.recommended_init`).
    weight_scale : float >= 0
        Multiplies the standard deviation of every initial weight ("gain").
    bias : float
        Initial value of the hidden biases (a negative value provokes dead ReLUs).
    bias_std : float >= 0
        With bias_std > 0 each hidden bias is drawn from N(bias, bias_std**2),
        from layer l's generator after its weights (so the weights stay those of
        bias_std=0): the ``bias_mean=bias, bias_var=bias_std**2`` of
        :func:`gradviz.theory.predict_variances`.
    batch_norm : {None, 'before', 'after'} or BatchNormOptions
        Batch norm before or after each hidden activation (Keras's momentum 0.99
        and eps 1e-3), or :class:`BatchNormOptions` for other constants and for
        a batch-norm layer on the inputs.
    n_outputs : int or None
        Units of the output Dense layer (logits, no activation); None: no output
        layer, the last hidden activation is the output (used to probe variances).
    dropout : float in [0, 1) or DropoutOptions
        Rate of inverted dropout after each hidden block (0: none), or
        :class:`DropoutOptions` for alpha dropout (for SELU).
    residual : bool
        Add a skip connection h^l = h^{l-1} + block(h^{l-1}) wherever widths match.
    seed : int, Generator or None
        Layer ``l``'s weights come from ``default_rng([seed, l])``, so a deeper
        network with the same seed shares its first layers with a shallower one.
        None: fresh entropy (numpy's convention), a different network each time.
    dtype : numpy floating dtype
    init_kwargs : dict or None
        Passed to :func:`gradviz.init.initialize` (``std``, ``limit``, ``mode``, ...).
    **activation_params
        E.g. ``alpha=0.1`` for ``leaky_relu``/``elu``; ``lower``/``upper`` for
        ``rrelu``; ``alpha_init`` for ``prelu``.

    Attributes
    ----------
    blocks : list of HiddenBlock
        Hidden layers 1..L.
    input_bn : gradviz.layers.BatchNorm or None
        The batch-norm layer on the inputs (``BatchNormOptions(inputs=True)``).
    output : gradviz.layers.Dense or None
    batch_norm : {None, 'before', 'after'}
        Where the hidden layers batch-normalise; ``batch_norm_options`` holds all the options.

    Raises
    ------
    ValueError, TypeError
        For unknown names, non-positive sizes, rates outside their range, a
        non-bool ``residual``, a non-floating ``dtype``, ``init_kwargs`` the
        initializer does not use, or weights that would take more than
        :data:`MAX_WEIGHT_BYTES` (the message gives their size).
    """

    def __init__(self, n_inputs, hidden=None, *, depth=None, width=None, activation="relu", init=None,
                 weight_scale=1.0, bias=0.0, bias_std=0.0, batch_norm=None, n_outputs=10, dropout=0.0, residual=False, seed=0,
                 dtype=np.float64, init_kwargs=None, **activation_params):
        self.n_inputs = check_positive_int("n_inputs", n_inputs)
        if hidden is None:
            if depth is None or width is None:
                raise ValueError("give the hidden widths, e.g. hidden=(64, 64), or both depth= and width=")
            hidden = (check_positive_int("width", width),) * check_nonneg_int("depth", depth)
        elif depth is not None or width is not None:
            raise ValueError("give either hidden= or depth= and width=, not both")
        elif isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a sequence of widths, e.g. hidden=(64, 64); got {hidden!r}")
        self.hidden = tuple(check_positive_int("hidden width", w) for w in hidden)
        self.activation = check_choice("activation", activation, NETWORK_ACTIVATIONS)
        if init is None:
            init = recommended_init("relu" if activation in ("rrelu", "prelu") else activation)
        self.init = check_choice("init", init, INITIALIZERS + tuple(ALIASES))
        self.weight_scale = check_nonneg("weight_scale", weight_scale)
        self.bias = check_finite("bias", bias)
        self.bias_std = check_nonneg("bias_std", bias_std)
        if batch_norm is not None and not isinstance(batch_norm, BatchNormOptions):
            batch_norm = BatchNormOptions(hidden=check_choice("batch_norm", batch_norm, ("before", "after")))
        self.batch_norm_options = batch_norm
        self.batch_norm = None if batch_norm is None else batch_norm.hidden
        self.n_outputs = None if n_outputs is None else check_positive_int("n_outputs", n_outputs)
        if not isinstance(dropout, DropoutOptions):
            dropout = DropoutOptions(check_probability("dropout", dropout))
        self.dropout, self.dropout_kind = dropout.rate, dropout.kind
        self.residual = check_bool("residual", residual)
        self.dtype = check_float_dtype("dtype", dtype)
        widths = (self.n_inputs,) + self.hidden + ((self.n_outputs,) if self.n_outputs is not None else ())
        n_weights = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
        if n_weights * self.dtype.itemsize > MAX_WEIGHT_BYTES:
            raise ValueError(
                f"the weights of this network (n_inputs={self.n_inputs}, hidden widths {_short(self.hidden)}, "
                f"n_outputs={self.n_outputs}) would take {n_weights * self.dtype.itemsize / 2**30:.3g} GiB in "
                f"{self.dtype}; at most {MAX_WEIGHT_BYTES / 2**30:g} GiB is allowed: choose smaller widths")
        self.seed = seed
        self.activation_params = dict(activation_params)
        init_kwargs = dict(init_kwargs or {})

        if self.activation in ACTIVATIONS:
            get_activation(self.activation).params(**self.activation_params)  # validate early
        else:  # rrelu / prelu: their own parameter names, never silently ignored
            allowed = {"rrelu": ("lower", "upper"), "prelu": ("alpha_init",)}[self.activation]
            unknown = sorted(set(self.activation_params) - set(allowed))
            if unknown:
                raise TypeError(f"activation {self.activation!r} takes no parameter {', '.join(unknown)}; "
                                f"allowed: {', '.join(allowed)}")

        def bn(width, where):
            if batch_norm is None or batch_norm.hidden != where:
                return None
            return batch_norm.layer(width, self.dtype)

        rngs = _layer_rngs(seed, len(self.hidden) + 2)
        widths = (self.n_inputs,) + self.hidden
        self.blocks: list[HiddenBlock] = []
        for l, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            rng = rngs[l]
            dense = Dense(fan_in, fan_out, init=self.init, gain=self.weight_scale, bias=self.bias,
                          rng=rng, dtype=self.dtype, **init_kwargs)
            if self.bias_std > 0:
                dense.params["b"] += (self.bias_std * rng.standard_normal(fan_out)).astype(self.dtype)
            act = self._make_activation(fan_out, rng)
            self.blocks.append(HiddenBlock(
                dense, act,
                bn_before=bn(fan_out, "before"),
                bn_after=bn(fan_out, "after"),
                dropout=dropout.layer(rng) if dropout.rate > 0 else None,
                residual=self.residual and fan_in == fan_out,
            ))
        self.output = None
        if self.n_outputs is not None:
            self.output = Dense(widths[-1], self.n_outputs, init=self.init, gain=self.weight_scale,
                                rng=rngs[len(self.hidden) + 1], dtype=self.dtype, **init_kwargs)
        self.input_bn = None
        if batch_norm is not None and batch_norm.inputs:
            self.input_bn = batch_norm.layer(self.n_inputs, self.dtype)
        self.overflow = {"forward": None, "backward": None}
        self._out_shape = None  # shape of the last forward pass's output, which backward's dout must have

    def _make_activation(self, width, rng):
        p = self.activation_params
        if self.activation == "rrelu":
            return RReLU(p.get("lower", 1 / 8), p.get("upper", 1 / 3), rng=rng)
        if self.activation == "prelu":
            return PReLU(width, p.get("alpha_init", 0.25), dtype=self.dtype)
        return ActivationLayer(self.activation, **p)

    # ------------------------------------------------------------------ passes
    @property
    def layers(self):
        """Every layer in forward order ([input BatchNorm], Dense, BatchNorm, activation, ..., output Dense)."""
        out = [self.input_bn] if self.input_bn is not None else []
        out += [ly for block in self.blocks for ly in block.layers]
        return out + ([self.output] if self.output is not None else [])

    @property
    def depth(self) -> int:
        return len(self.hidden)

    def forward(self, x, training=False, record=False, on_layer=None):
        """Run the network on ``x`` of shape (batch, n_inputs); return logits (batch, n_outputs)
        or, without an output layer, the last hidden activation (batch, width).

        ``x`` is checked here, once: the layers trust what they receive. Overflow
        does not raise: the pass finishes (with inf/nan) and ``overflow['forward']``
        holds the first hidden layer (1-based) whose z or output was not finite
        (a saturating activation can turn an infinite z into a finite a). With
        ``record=True`` each hidden layer's z and a are kept in :attr:`records`.

        ``on_layer``: None, or with ``record=True`` a function called as
        ``on_layer(l, records[l - 1])`` as soon as hidden layer l has run, while
        its arrays are still in the CPU's cache (:func:`gradviz.stats.pass_statistics`
        summarises each layer there; after the pass they come back from memory).

        Raises
        ------
        ValueError, TypeError
            For ``x`` that is not a real 2-D array with ``n_inputs`` columns, a
            ``training`` or ``record`` that is not a bool, an ``on_layer`` that
            is not callable or comes without ``record=True``; in training mode
            with batch norm, for a batch of one example.
        """
        training = check_bool("training", training)
        record = check_bool("record", record)
        _check_on_layer(on_layer, record)
        h = check_array_2d("x", x, self.n_inputs).astype(self.dtype, copy=False)
        self.overflow = {"forward": None, "backward": None}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self.input_bn is not None:
                h = self.input_bn.forward(h, training)
            for l, block in enumerate(self.blocks, start=1):
                h = block.forward(h, training)
                if self.overflow["forward"] is None and not (_all_finite(block.cache[0]) and _all_finite(h)):
                    self.overflow["forward"] = l
                if record:
                    z, a = block.cache
                    block.record = LayerRecord(z=z, a=a)
                    self._recorded(on_layer, l)
            if self.output is not None:
                h = self.output.forward(h, training)
        self._out_shape = h.shape
        return h

    def backward(self, dout, param_grads=True, record=False, on_layer=None):
        """Back-propagate ``dout`` = dL/d(output), shape (batch, n_outputs); return dL/dx (batch, n_inputs).

        Fills every layer's ``grads`` (unless ``param_grads=False``, which skips
        dW and db). ``overflow['backward']`` holds the first hidden layer, reading
        from the top, whose gradient dL/dh^l (what reaches it from above, hence
        dL/da^l and dL/dz^l) is not finite. With ``record=True`` each hidden
        layer's dz, da (phi'(z), and dW) are added to :attr:`records`.

        ``on_layer``: None, or with ``record=True`` a function called as
        ``on_layer(l, records[l - 1])`` as soon as hidden layer l has been
        back-propagated, from the top (as in :meth:`forward`).

        Raises
        ------
        RuntimeError
            Before any :meth:`forward`: the backward pass reads what it kept.
        ValueError, TypeError
            For a ``dout`` that is not a real array shaped like the last
            forward pass's output, flags that are not bools, or an ``on_layer``
            that is not callable or comes without ``record=True``.
        """
        param_grads = check_bool("param_grads", param_grads)
        record = check_bool("record", record)
        _check_on_layer(on_layer, record)
        shape = self._out_shape
        if shape is None:
            raise RuntimeError("backward needs the values of a forward pass: call net.forward(x) first")
        dout = np.asarray(dout)
        if not np.issubdtype(dout.dtype, np.number) or np.issubdtype(dout.dtype, np.complexfloating):
            raise TypeError(f"dout must be a real numeric array; got dtype {dout.dtype}")
        if dout.shape != shape:
            raise ValueError(f"dout must have the shape of the last forward pass's output, {shape} "
                             f"(batch, {'n_outputs' if self.output is not None else 'last width'}); "
                             f"got shape {dout.shape}")
        dout = dout.astype(self.dtype, copy=False)
        self.overflow["backward"] = None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            if self.output is not None:
                dout = self.output.backward(dout, param_grads=param_grads)
            for l in range(len(self.blocks), 0, -1):
                # Check what enters block l (dL/dh^l): checking what leaves it (dL/dh^{l-1})
                # would blame layer l for the overflow of layer l - 1.
                if self.overflow["backward"] is None and not _all_finite(dout):
                    self.overflow["backward"] = l
                block = self.blocks[l - 1]
                dout = block.backward(dout, param_grads)
                if record:
                    da, dz = block.dcache
                    block.record.update(da=da, dz=dz)
                    if getattr(block.act, "slope", None) is not None:
                        block.record["slope"] = block.act.slope
                    if param_grads:
                        block.record["dW"] = block.dense.grads["W"]
                    self._recorded(on_layer, l)
            if self.input_bn is not None:
                dout = self.input_bn.backward(dout)
        return dout

    def _recorded(self, on_layer, l):
        """Hand hidden layer l's record to ``on_layer`` (if any), right after the layer ran.

        A measurement taken there reads the layer's arrays while the CPU's cache
        still holds them; after the pass they come back from main memory (the
        records of 50 layers of 256 x 256 float32 are 64 MB, twice the cache).
        :func:`gradviz.stats.pass_statistics` takes its per-layer statistics
        there: 5.0-5.6 ms after the pass, 3.4 during it, of a probe of 51 ms at
        that size (tanh; ``benchmarks/bench_explorer.py --scenarios parts``).
        """
        if on_layer is not None:
            on_layer(l, self.blocks[l - 1].record)

    @property
    def last_batch_size(self):
        """Examples in the last forward pass (None before any)."""
        return None if self._out_shape is None else int(self._out_shape[0])

    @property
    def records(self) -> list[LayerRecord]:
        """Per hidden layer (index 0 is layer 1), what the last recorded passes saw."""
        return [block.record for block in self.blocks]

    @property
    def first_nonfinite(self):
        """First hidden layer (1-based) where the last pass overflowed: forward first, else backward; or None."""
        return self.overflow["forward"] if self.overflow["forward"] is not None else self.overflow["backward"]

    def parameters(self):
        """List of (layer, name) pairs of every trainable array."""
        return [(ly, k) for ly in self.layers for k in ly.params]

    def predict(self, x):
        """Class predictions (batch,) in inference mode."""
        return np.argmax(self.forward(x, training=False), axis=1)

    def __repr__(self):
        bn = f", batch_norm={self.batch_norm!r}" if self.batch_norm else ""
        first = f"BatchNorm({self.n_inputs}) -> " if self.input_bn is not None else ""
        return (f"MLP({first}{self.n_inputs} -> {list(self.hidden)} -> {self.n_outputs}, "
                f"activation={self.activation!r}, init={self.init!r}, weight_scale={self.weight_scale:g}{bn})")
