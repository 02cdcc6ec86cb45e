"""Weight initializers and fan computation.

A weight matrix ``W`` has shape ``(fan_in, fan_out)``: ``fan_in`` inputs feed
each of ``fan_out`` units, and a layer computes ``z = x @ W + b``.

Most initializers here are "variance scaling": they draw ``W_ij`` with mean 0
and variance

    Var(W_ij) = gain**2 * scale / fan

where ``fan`` is ``fan_in``, ``fan_out`` or ``fan_avg = (fan_in + fan_out) / 2``:

==================  =====  ========  =========================================================
name                scale  fan       source
==================  =====  ========  =========================================================
glorot_*, xavier_*  1      fan_avg   Glorot & Bengio (2010), eq. 12 (uniform form: eq. 16)
he_*, kaiming_*     2      fan_in    He, Zhang, Ren & Sun (2015), eq. 10 (fan_out: eq. 14)
lecun_*             1      fan_in    LeCun, Bottou, Orr & Mueller (1998), "Efficient BackProp" sec. 4.6
==================  =====  ========  =========================================================

``*_normal`` draws from N(0, Var) (as PyTorch does; Keras truncates at two
standard deviations), ``*_uniform`` from U[-limit, limit] with
``limit = sqrt(3 Var)``, because U[-l, l] has variance l**2 / 3.

``gain`` multiplies the standard deviation; it is the "weight scale" knob of
the explorers. The factor 2 of He et al. is part of ``he_*`` already: for a
leaky ReLU of slope a pass ``negative_slope=a`` to get their eq. 15,
Var = 2 / ((1 + a**2) fan).
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import (
    check_choice,
    check_finite,
    check_float_dtype,
    check_nonneg,
    check_positive_int,
    get_rng,
)
from .activations import get_activation

__all__ = [
    "INITIALIZERS",
    "ALIASES",
    "compute_fans",
    "initialize",
    "weight_variance",
    "recommended_gain",
    "recommended_init",
]

#: Canonical initializer names.
INITIALIZERS = (
    "zeros",
    "constant",
    "normal",
    "uniform",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
)

#: Accepted aliases (Keras and PyTorch spellings).
ALIASES = {
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "kaiming_uniform": "he_uniform",
    "kaiming_normal": "he_normal",
}

_SCALING = {"glorot": (1.0, "fan_avg"), "he": (2.0, "fan_in"), "lecun": (1.0, "fan_in")}

#: Default std of ``normal``: the "0.01 * randn" of many early tutorials.
DEFAULT_NORMAL_STD = 0.01


def compute_fans(shape) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight matrix of shape ``(fan_in, fan_out)``.

    Raises
    ------
    ValueError
        If ``shape`` is not a pair of positive integers.
    """
    try:
        fan_in, fan_out = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a pair (fan_in, fan_out); got {shape!r}") from None
    return check_positive_int("fan_in", fan_in), check_positive_int("fan_out", fan_out)


def _canonical(name: str) -> str:
    check_choice("init", name, INITIALIZERS + tuple(ALIASES))
    return ALIASES.get(name, name)


def weight_variance(
    name: str,
    fan_in: int,
    fan_out: int,
    gain: float = 1.0,
    mode: str | None = None,
    negative_slope: float = 0.0,
    std: float | None = None,
    limit: float | None = None,
    value: float = 0.0,
) -> float:
    """Variance Var(W_ij) that initializer ``name`` draws from (mean is 0 except for ``constant``).

    Parameters
    ----------
    name : str
        One of :data:`INITIALIZERS` or an alias in :data:`ALIASES`.
    fan_in, fan_out : int
        Number of inputs and outputs of the layer.
    gain : float >= 0
        Multiplies the standard deviation.
    mode : {'fan_in', 'fan_out', 'fan_avg'} or None
        Which fan to divide by; None takes the initializer's own (see module doc).
    negative_slope : float >= 0
        For ``he_*`` only: the leaky-ReLU slope a of He et al. (2015), eq. 15.
    std : float, optional
        For ``normal``: the standard deviation (default 0.01).
    limit : float, optional
        For ``uniform``: the bound of U[-limit, limit]; default 1/sqrt(fan_in),
        the heuristic of Glorot & Bengio (2010), eq. 1.
    value : float
        For ``constant``: the value (its variance is 0).

    Returns
    -------
    float
        Var(W_ij), in squared units of the weights.
    """
    name = _canonical(name)
    fan_in = check_positive_int("fan_in", fan_in)
    fan_out = check_positive_int("fan_out", fan_out)
    gain = check_nonneg("gain", gain)
    _check_used(name, mode=mode, negative_slope=negative_slope, std=std, limit=limit, value=value)
    try:
        var = _variance(name, fan_in, fan_out, gain, mode, negative_slope, std, limit)
    except OverflowError:
        var = math.inf
    if not math.isfinite(var):
        raise ValueError(f"gain={gain!r} (an MLP's weight_scale) makes the weight variance of {name!r} overflow "
                         f"float64 (gain**2 must stay below 1.8e308, so gain at most about 1e154)")
    return var


#: The keyword arguments each initializer reads (any other, given a non-default value, is refused).
_USES = {"std": ("normal",), "limit": ("uniform",), "value": ("constant",),
         "mode": tuple(f"{f}_{k}" for f in _SCALING for k in ("normal", "uniform")),
         "negative_slope": ("he_normal", "he_uniform")}


def _check_used(name, **kwargs):
    """Raise ValueError for an argument given to an initializer that would silently ignore it."""
    defaults = {"mode": None, "negative_slope": 0.0, "std": None, "limit": None, "value": 0.0}
    for key, v in kwargs.items():
        if v is not None and v != defaults[key] and name not in _USES[key]:
            raise ValueError(f"{key}={v!r} is not used by init={name!r}, which would ignore it; {key} applies "
                             f"only to: {', '.join(_USES[key])}")


def _variance(name, fan_in, fan_out, gain, mode, negative_slope, std, limit):
    if name in ("zeros", "constant"):
        return 0.0
    if name == "normal":
        s = DEFAULT_NORMAL_STD if std is None else check_nonneg("std", std)
        return (gain * s) ** 2
    if name == "uniform":
        lim = 1.0 / math.sqrt(fan_in) if limit is None else check_nonneg("limit", limit)
        return (gain * lim) ** 2 / 3.0
    if name == "orthogonal":
        # Rows (or columns) of unit norm spread over max(fan_in, fan_out) entries.
        return gain**2 / max(fan_in, fan_out)
    family, _ = name.split("_")
    scale, default_mode = _SCALING[family]
    mode = default_mode if mode is None else check_choice("mode", mode, ("fan_in", "fan_out", "fan_avg"))
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    if family == "he":
        scale = scale / (1.0 + check_nonneg("negative_slope", negative_slope) ** 2)
    return gain**2 * scale / fan


def initialize(
    name: str,
    shape,
    rng=None,
    gain: float = 1.0,
    mode: str | None = None,
    negative_slope: float = 0.0,
    std: float | None = None,
    limit: float | None = None,
    value: float = 0.0,
    dtype=np.float64,
) -> np.ndarray:
    """Draw a weight matrix of shape ``(fan_in, fan_out)`` with initializer ``name``.

    See :func:`weight_variance` for the parameters and the module docstring for
    the formulas and their sources. ``orthogonal`` follows Saxe, McClelland &
    Ganguli (2014): the Q factor of the QR decomposition of a Gaussian matrix,
    with the signs of R's diagonal folded in so the result is uniformly
    distributed over orthogonal matrices (Mezzadri, 2007), times ``gain``.

    Parameters
    ----------
    rng : numpy.random.Generator, int or None
        Source of randomness; the same seed gives the same matrix, bit for bit.
    dtype : numpy floating dtype

    Returns
    -------
    ndarray of shape ``(fan_in, fan_out)``

    Raises
    ------
    ValueError
        Unknown ``name`` or ``mode``, non-positive fans, negative ``gain``/``std``/``limit``,
        an argument ``name`` does not use, a ``gain`` whose variance overflows float64.
    TypeError
        A ``dtype`` that is not floating (an integer one would truncate every weight to 0).

    Weights too large for ``dtype`` (float32 stops at 3.4e38) become inf, without a
    warning: the network's forward pass then reports the overflow.
    """
    dtype = check_float_dtype("dtype", dtype)
    canonical = _canonical(name)
    fan_in, fan_out = compute_fans(shape)
    var = weight_variance(canonical, fan_in, fan_out, gain, mode, negative_slope, std, limit, value)
    rng = get_rng(rng)
    if canonical == "zeros":
        return np.zeros((fan_in, fan_out), dtype=dtype)
    if canonical == "constant":
        return np.full((fan_in, fan_out), check_finite("value", value), dtype=dtype)
    if canonical == "orthogonal":
        big, small = max(fan_in, fan_out), min(fan_in, fan_out)
        q, r = np.linalg.qr(rng.standard_normal((big, small)))
        q = q * np.sign(np.diag(r))
        w = q if fan_in >= fan_out else q.T
        w = gain * w
    elif canonical.endswith("uniform"):
        lim = math.sqrt(3.0 * var)
        w = rng.uniform(-lim, lim, size=(fan_in, fan_out))
    else:
        w = math.sqrt(var) * rng.standard_normal((fan_in, fan_out))
    with np.errstate(over="ignore"):  # beyond dtype's range: inf, which the forward pass reports
        return w.astype(dtype)


def recommended_gain(activation: str, alpha: float | None = None) -> float:
    """Gain g such that Var(W) = g**2 / fan_in keeps the forward second moment of a deep net.

    This is PyTorch's ``calculate_gain`` table: linear and sigmoid 1, tanh 5/3,
    ReLU sqrt(2) (He et al. 2015, eq. 10), leaky ReLU sqrt(2 / (1 + alpha**2))
    (eq. 15), SELU 3/4 (PyTorch's choice, made for a better-behaved backward
    pass; Klambauer et al. 2017 use gain 1, i.e. LeCun normal). For ELU
    PyTorch has no entry; we return sqrt(2) like ReLU, a rough value for the
    positive half.

    Raises
    ------
    ValueError
        Unknown activation name.
    """
    act = get_activation(activation).name
    if act in ("linear", "sigmoid"):
        return 1.0
    if act == "tanh":
        return 5.0 / 3.0
    if act in ("relu", "elu"):
        return math.sqrt(2.0)
    if act == "leaky_relu":
        a = 0.01 if alpha is None else check_nonneg("alpha", alpha)
        return math.sqrt(2.0 / (1.0 + a * a))
    return 0.75  # selu


def recommended_init(activation: str) -> str:
    """The initializer the literature pairs with ``activation``.

    Glorot for sigmoid, tanh and linear (Glorot & Bengio 2010); He for the
    ReLU family and ELU (He et al. 2015); LeCun normal for SELU (Klambauer et
    al. 2017, sec. "Initialization").
    """
    act = get_activation(activation).name
    if act in ("linear", "sigmoid", "tanh"):
        return "glorot_uniform"
    if act == "selu":
        return "lecun_normal"
    return "he_normal"

