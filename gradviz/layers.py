"""Layers with hand-written forward and backward passes.

Every layer follows one protocol, in the manner of the CS231n assignments:

- ``forward(x, training=False)`` takes ``x`` of shape ``(batch, features)``,
  keeps in ``cache`` what the backward pass will need, and returns the output.
- ``backward(dout)`` takes the upstream gradient dL/d(output), same shape as
  the output, reads ``cache``, fills ``grads`` (same keys as ``params``) and
  returns dL/dx, shaped like ``x``.
- ``params``: trainable arrays by name; ``grads``: their gradients after a
  backward pass; ``state``: arrays that are learned but not by gradient
  descent (batch norm's moving statistics).

``training`` matters for RReLU, batch norm and dropout; the others ignore it.

A layer checks its arguments when it is built; ``forward`` and ``backward`` are
the bare math and do not check ``x`` or ``dout`` (a network checks its input
once, in :meth:`gradviz.network.MLP.forward`). Give them floating arrays of
the shapes their docstrings state.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import (
    check_float_dtype,
    check_nonneg,
    check_positive,
    check_positive_int,
    check_probability,
    get_rng,
)
from .activations import SELU_ALPHA, SELU_SCALE, get_activation
from .init import initialize

__all__ = [
    "Layer",
    "Dense",
    "ActivationLayer",
    "RReLU",
    "PReLU",
    "BatchNorm",
    "Dropout",
    "AlphaDropout",
]


class Layer:
    """Base class: no parameters, no state; ``cache`` holds what the last ``forward`` kept for ``backward``."""

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.cache = None

    def forward(self, x, training: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer, z = x @ W + b.

    Parameters
    ----------
    fan_in, fan_out : int
        Input and output features; ``W`` has shape ``(fan_in, fan_out)``, ``b`` ``(fan_out,)``.
    init : str
        Initializer name (see :mod:`gradviz.init`), e.g. ``'glorot_uniform'``.
    gain : float
        Multiplies the standard deviation of the initial weights.
    bias : float
        Initial value of every bias (0 by default; a negative value provokes dying ReLUs).
    rng : Generator, int or None
    dtype : floating dtype
    init_kwargs
        Passed to :func:`gradviz.init.initialize` (``std``, ``limit``, ``mode``, ``negative_slope``...).

    ``cache``: the input ``x`` of the last forward pass.
    """

    def __init__(self, fan_in, fan_out, init="glorot_uniform", gain=1.0, bias=0.0, rng=None,
                 dtype=np.float64, **init_kwargs):
        super().__init__()
        self.fan_in = check_positive_int("fan_in", fan_in)
        self.fan_out = check_positive_int("fan_out", fan_out)
        self.init = init
        dtype = check_float_dtype("dtype", dtype)
        self.params["W"] = initialize(init, (fan_in, fan_out), rng=rng, gain=gain, dtype=dtype, **init_kwargs)
        self.params["b"] = np.full(fan_out, float(bias), dtype=dtype)

    def forward(self, x, training=False):
        """x (batch, fan_in) -> z = x W + b (batch, fan_out)."""
        self.cache = x
        z = x @ self.params["W"]
        z += self.params["b"]  # into the product's array: the same numbers as x @ W + b, without a second array
        return z

    def backward(self, dout, param_grads=True):
        """dout = dL/dz (batch, fan_out) -> dL/dx = dout W^T (batch, fan_in).

        Fills ``grads``: dW = x^T dout (fan_in, fan_out) and db = dout summed over
        the batch (fan_out,). ``param_grads=False`` skips them (the explorers only
        need dx, and dW costs one matrix product).
        """
        if param_grads:
            x = self.cache
            self.grads["W"] = x.T @ dout
            self.grads["b"] = dout.sum(axis=0)
        return dout @ self.params["W"].T

    def __repr__(self):
        return f"Dense({self.fan_in}, {self.fan_out}, init={self.init!r})"


class ActivationLayer(Layer):
    """Element-wise activation a = phi(z); backward dz = da * phi'(z).

    Parameters
    ----------
    name : str
        One of :data:`gradviz.activations.ACTIVATIONS`.
    **params
        The activation's parameters, e.g. ``alpha`` for ``leaky_relu`` and ``elu``.

    ``cache``: the input ``z`` of the last forward pass. ``slope``: phi'(z) of
    the last backward pass (the statistics read saturation from it instead of
    computing it again).
    """

    def __init__(self, name, **params):
        super().__init__()
        self.activation = get_activation(name)
        self.name = self.activation.name
        self.act_params = self.activation.params(**params)
        self.slope = None

    def forward(self, x, training=False):
        """z (batch, width) -> a = phi(z) (batch, width)."""
        self.cache = x
        return self.activation.f(x, **self.act_params)

    def backward(self, dout):
        """dout = dL/da (batch, width) -> dL/dz = dout * phi'(z) (batch, width)."""
        z = self.cache
        self.slope = self.activation.df(z, **self.act_params)
        return dout * self.slope

    def __repr__(self):
        extra = "".join(f", {k}={v}" for k, v in self.act_params.items())
        return f"ActivationLayer({self.name!r}{extra})"


class RReLU(Layer):
    """Randomized leaky ReLU (Xu, Wang, Chen & Li, 2015, "Empirical evaluation of rectified activations").

    In training each negative element gets its own slope drawn from
    U[lower, upper], fresh at every forward pass; at inference the slope is the
    mean (lower + upper) / 2. Defaults 1/8 and 1/3 as in PyTorch (the paper
    writes slopes as 1/a with a ~ U(3, 8)).

    ``cache``: the slope of every element in the last forward pass, shaped like ``x``.

    Raises
    ------
    ValueError
        Unless 0 <= lower <= upper.
    """

    def __init__(self, lower=1 / 8, upper=1 / 3, rng=None):
        super().__init__()
        self.lower = check_nonneg("lower", lower)
        self.upper = check_nonneg("upper", upper)
        if self.upper < self.lower:
            raise ValueError(f"upper must be >= lower; got lower={lower!r}, upper={upper!r}")
        self.rng = get_rng(rng)

    @property
    def mean_slope(self):
        return (self.lower + self.upper) / 2.0

    def forward(self, x, training=False):
        """z (batch, width) -> a = z * slope (batch, width), slope 1 where z > 0."""
        dtype = np.result_type(x, np.float32)  # integers -> float64, else the slopes would truncate to 0
        if training:
            alpha = self.rng.uniform(self.lower, self.upper, size=x.shape).astype(dtype)
        else:
            alpha = np.asarray(self.mean_slope, dtype=dtype)
        slope = np.where(x > 0, 1.0, alpha).astype(dtype, copy=False)
        self.cache = slope
        return x * slope

    def backward(self, dout):
        """dout = dL/da (batch, width) -> dL/dz = dout * slope (batch, width)."""
        slope = self.cache
        return dout * slope

    def __repr__(self):
        return f"RReLU(lower={self.lower:g}, upper={self.upper:g})"


class PReLU(Layer):
    """Parametric ReLU (He, Zhang, Ren & Sun, 2015, eq. 1): a = z if z > 0 else alpha_j z.

    The slope ``alpha`` (one per feature, or one shared when
    ``num_features=1``) is a trainable parameter, initialised to 0.25 as in the
    paper. Its gradient (their eq. 2-3) sums over the batch:
    dL/dalpha_j = sum_i dout_ij * min(z_ij, 0).

    ``cache``: the input ``z`` of the last forward pass.
    """

    def __init__(self, num_features=1, alpha_init=0.25, dtype=np.float64):
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        dtype = check_float_dtype("dtype", dtype)
        self.params["alpha"] = np.full(self.num_features, check_nonneg("alpha_init", alpha_init), dtype=dtype)

    def forward(self, x, training=False):
        """z (batch, num_features) -> a (batch, num_features); with ``num_features=1``, z of any width."""
        self.cache = x
        return np.where(x > 0, x, self.params["alpha"] * x)

    def backward(self, dout):
        """dout = dL/da (batch, width) -> dL/dz (batch, width); fills ``grads['alpha']`` (num_features,)."""
        z = self.cache
        grad_alpha = (dout * np.minimum(z, 0.0)).sum(axis=0)
        self.grads["alpha"] = grad_alpha.sum(keepdims=True) if self.num_features == 1 else grad_alpha
        return dout * np.where(z > 0, 1.0, self.params["alpha"])

    def __repr__(self):
        return f"PReLU(num_features={self.num_features})"


class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy, 2015, Algorithm 1 and 2).

    Training: with the mean mu_B and the biased variance var_B of the batch
    (per feature; divides by the batch size m), x_hat = (x - mu_B) / sqrt(var_B + eps)
    and y = gamma * x_hat + beta. Inference: the same with the moving statistics.

    Moving statistics (exponential moving averages), Keras convention:

        running_mean <- momentum * running_mean + (1 - momentum) * mu_B
        running_var  <- momentum * running_var  + (1 - momentum) * v_B

    so ``momentum`` is the weight kept by the old value (Keras default 0.99).
    v_B is var_B (Keras) or, with ``unbiased_running_var=True``, the unbiased
    estimate m / (m - 1) * var_B (PyTorch; Ioffe & Szegedy's Algorithm 2 also
    uses the unbiased estimate for inference). Batches are always normalised
    with var_B. PyTorch's ``momentum`` is the weight given to the new batch
    (default 0.1): ``momentum_pytorch = 1 - momentum``. :meth:`from_pytorch`
    takes PyTorch's arguments and conventions.

    Parameters
    ----------
    num_features : int
    momentum : float in [0, 1], or None
        Keras convention. 1 keeps the initial statistics forever; None gives
        the cumulative average instead, running <- running + (s_t - running) / t
        for the t-th training batch (the plain mean of every batch's statistic).
    eps : float > 0
        Added to the variance for numerical safety (Keras 1e-3, PyTorch 1e-5).
    dtype : floating dtype
    unbiased_running_var : bool
        Feed m / (m - 1) * var_B, not var_B, into ``running_var``.

    ``params``: gamma (ones), beta (zeros), shape (num_features,).
    ``state``: running_mean (zeros), running_var (ones): learned, not trained.
    ``num_batches_tracked``: training batches seen (the t of ``momentum=None``).
    ``cache``: (x_hat, inv_std, training) of the last forward pass.

    Raises
    ------
    TypeError
        For a ``dtype`` that is not floating.
    ValueError
        In training mode on a batch of one example: its variance is 0, so it
        cannot be normalised by its own statistics; for a momentum outside [0, 1].
    """

    def __init__(self, num_features, momentum=0.99, eps=1e-3, dtype=np.float64, unbiased_running_var=False):
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        self.momentum = None if momentum is None else check_probability("momentum", momentum, inclusive_high=True)
        self.eps = check_positive("eps", eps)
        if not isinstance(unbiased_running_var, (bool, np.bool_)):
            raise TypeError(f"unbiased_running_var must be True or False; got {unbiased_running_var!r}")
        self.unbiased_running_var = bool(unbiased_running_var)
        dtype = check_float_dtype("dtype", dtype)
        self.params["gamma"] = np.ones(num_features, dtype=dtype)
        self.params["beta"] = np.zeros(num_features, dtype=dtype)
        self.state["running_mean"] = np.zeros(num_features, dtype=dtype)
        self.state["running_var"] = np.ones(num_features, dtype=dtype)
        self.num_batches_tracked = 0

    @classmethod
    def from_pytorch(cls, num_features, momentum=0.1, eps=1e-5, dtype=np.float64):
        """Build a layer that behaves like ``torch.nn.BatchNorm1d(num_features, eps, momentum)``.

        ``momentum`` weights the new batch (PyTorch's default 0.1; 0 freezes the
        initial statistics; None: cumulative average), and ``running_var``
        receives the unbiased batch variance m / (m - 1) * var_B, as in PyTorch.

        Raises
        ------
        ValueError
            For a momentum outside [0, 1].
        """
        if momentum is not None:
            momentum = 1.0 - check_probability("momentum", momentum, inclusive_high=True)
        return cls(num_features, momentum, eps, dtype, unbiased_running_var=True)

    def forward(self, x, training=False):
        """x (batch, num_features) -> y = gamma * x_hat + beta (batch, num_features).

        Raises ValueError in training mode for a batch of one example.
        """
        if training:
            if x.shape[0] < 2:
                raise ValueError(
                    f"batch norm in training mode needs a batch of at least 2 examples; got x of shape {x.shape}. "
                    "A single example's variance is 0: use training=False to normalise it with the moving statistics."
                )
            mu = x.mean(axis=0)
            var = x.var(axis=0)  # biased: divides by m, for the normalisation in both conventions
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative average: the t-th batch gets weight 1/t
                new = 1.0 / self.num_batches_tracked
                kept = 1.0 - new
            else:
                kept = self.momentum
                new = 1.0 - kept
            n = x.shape[0]
            var_tracked = var * (n / (n - 1)) if self.unbiased_running_var else var
            self.state["running_mean"] = kept * self.state["running_mean"] + new * mu
            self.state["running_var"] = kept * self.state["running_var"] + new * var_tracked
        else:
            mu, var = self.state["running_mean"], self.state["running_var"]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mu) * inv_std
        self.cache = (x_hat, inv_std, training)
        return self.params["gamma"] * x_hat + self.params["beta"]

    def backward(self, dout):
        """dout = dL/dy (batch, num_features) -> dL/dx (batch, num_features).

        Fills ``grads``: gamma and beta, shape (num_features,).
        """
        x_hat, inv_std, training = self.cache
        self.grads["gamma"] = (dout * x_hat).sum(axis=0)
        self.grads["beta"] = dout.sum(axis=0)
        dx_hat = dout * self.params["gamma"]
        if not training:
            return dx_hat * inv_std
        # Ioffe & Szegedy (2015), the backward of Algorithm 1, folded into one line:
        # dx = inv_std / N * (N dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat))
        n = dout.shape[0]
        return (inv_std / n) * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0))

    def __repr__(self):
        extra = ", unbiased_running_var=True" if self.unbiased_running_var else ""
        return f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps}{extra})"


class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014): in training keep each unit with
    probability 1 - rate and divide by 1 - rate; identity at inference.

    ``cache``: the factor (0 or 1 / (1 - rate)) of every element in the last
    forward pass, shaped like ``x``; None when that pass was the identity.
    """

    def __init__(self, rate=0.5, rng=None):
        super().__init__()
        self.rate = check_probability("rate", rate)
        self.rng = get_rng(rng)

    def forward(self, x, training=False):
        """x (batch, width) -> x * scale (batch, width)."""
        if not training or self.rate == 0.0:
            self.cache = None
            return x
        keep = self.rng.random(x.shape) >= self.rate
        scale = keep.astype(x.dtype) / (1.0 - self.rate)
        self.cache = scale
        return x * scale

    def backward(self, dout):
        """dout (batch, width) -> dL/dx = dout * scale (batch, width)."""
        scale = self.cache
        return dout if scale is None else dout * scale


class AlphaDropout(Layer):
    """Alpha dropout (Klambauer et al., 2017, sec. "New dropout technique").

    Dropped units are set to alpha' = -lambda * alpha (SELU's negative
    saturation value) instead of 0, then an affine map a x + b restores mean 0
    and variance 1 of standardised inputs, with q = 1 - rate:
    a = (q + alpha'^2 q (1 - q))^(-1/2), b = -a (1 - q) alpha'.
    Identity at inference.

    ``cache``: the boolean mask of kept elements in the last forward pass,
    shaped like ``x``; None when that pass was the identity.
    """

    ALPHA_PRIME = -SELU_SCALE * SELU_ALPHA

    def __init__(self, rate=0.1, rng=None):
        super().__init__()
        self.rate = check_probability("rate", rate)
        self.rng = get_rng(rng)
        q, ap = 1.0 - self.rate, self.ALPHA_PRIME
        self.a = 1.0 / math.sqrt(q + ap * ap * q * (1.0 - q))
        self.b = -self.a * (1.0 - q) * ap

    def forward(self, x, training=False):
        """x (batch, width) -> a * (x where kept, else alpha') + b (batch, width)."""
        if not training or self.rate == 0.0:
            self.cache = None
            return x
        keep = self.rng.random(x.shape) >= self.rate
        self.cache = keep
        return self.a * np.where(keep, x, self.ALPHA_PRIME) + self.b

    def backward(self, dout):
        """dout (batch, width) -> dL/dx = dout * a where kept, 0 elsewhere (batch, width)."""
        keep = self.cache
        return dout if keep is None else dout * self.a * keep
