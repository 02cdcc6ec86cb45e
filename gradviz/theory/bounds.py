"""Closed forms of chapters 02 and 04: the sigmoid's slope and its bound over L layers, the onset of
saturation, and the probability that a ReLU network is dead at birth."""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_nonneg_int, check_positive_int, check_probability
from ..activations import SATURATION_THRESHOLD, get_activation

__all__ = [
    "dead_at_birth_probability",
    "sigmoid_slope_log10",
    "slope_bound",
    "saturation_onset",
]


def dead_at_birth_probability(depth: int, width: int) -> float:
    """Probability that a ReLU net outputs all zeros at some hidden layer for a given input.

    Quantity: for a fixed input x != 0 and random weights, the probability
    that at least one of the ``depth`` hidden layers (each of ``width`` ReLU
    units) has every unit inactive (z <= 0), which makes every later layer
    output 0 too, so the network's output does not depend on x and no
    gradient reaches the earlier layers.

    Assumptions (under which the formula is exact, not an approximation):
    zero biases; all weights independent, each with a continuous distribution
    symmetric about 0 (normal or uniform initializers: He, Glorot, LeCun...).
    Then, given any non-zero input vector a to a layer, its units
    z_j = a . W[:, j] are independent (distinct columns) and each positive
    with probability exactly 1/2 (W -> -W has the same distribution, and
    P(z_j = 0) = 0), so the layer is all-dead with probability 2**-width,
    independently of the layers before. Hence

        P = 1 - (1 - 2**-width) ** depth.

    Lu, Shin, Su & Karniadakis (2019), "Dying ReLU and Initialization", study
    the probability that the network is "born dead", i.e. constant for *all*
    inputs; that event implies the one here, so this is an upper bound on it.

    Parameters
    ----------
    depth : int >= 1
        Number of hidden ReLU layers.
    width : int >= 1
        Units per hidden layer.

    Returns
    -------
    float in [0, 1)

    Raises
    ------
    TypeError, ValueError
        ``depth`` or ``width`` not a positive integer.

    Examples
    --------
    >>> round(dead_at_birth_probability(10, 2), 6)   # 1 - (3/4)**10
    0.943686
    """
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    # 1 - (1 - p)^L written with log1p / expm1: exact even when 2**-width is below machine epsilon.
    return float(-math.expm1(depth * math.log1p(-(2.0**-width))))


# ---------------------------------------------------------------------------
# slopes: the sigmoid's slope where float64 underflows, the slope bound, the
# onset of saturation (chapter 02)
# ---------------------------------------------------------------------------


def sigmoid_slope_log10(z):
    """log10 of the sigmoid's slope sigma'(z), exact where float64 rounds sigma'(z) itself to 0.

    sigma'(z) = sigma(z) (1 - sigma(z)) = e^{-|z|} / (1 + e^{-|z|})^2, so
    ln sigma'(z) = -|z| - 2 ln(1 + e^{-|z|}); for z = 1000 this is about
    -1000 (sigma'(1000) is about 10^-434, below the smallest positive float64,
    about 4.9e-324, so ``sigmoid_grad(1000.0)`` returns exactly 0).

    Parameters
    ----------
    z : float or ndarray, any shape
        Pre-activations (finite).

    Returns
    -------
    float64 ndarray shaped like ``z`` (a Python float for a scalar): log10 sigma'(z), at most log10(1/4).
    """
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        out = (-np.abs(z) - 2.0 * np.log1p(np.exp(-np.abs(z)))) / np.log(10.0)
    return float(out) if out.ndim == 0 else out


def slope_bound(activation: str, n_factors: int) -> float:
    """The largest value a product of ``n_factors`` slopes phi'(z) can take: (max phi')**n_factors.

    For the sigmoid, sigma'(z) = sigma(z)(1 - sigma(z)) <= 1/4 (a product of two
    numbers that add up to 1 is largest when both are 1/2, at z = 0), so the
    slopes met by a gradient crossing ``n_factors`` sigmoid layers multiply it
    by at most 4**-n_factors. This bounds the product of the phi' factors
    only; the weight factors W^l multiply it (chapter 02 measures both parts).

    Parameters
    ----------
    activation : str
        A name in :data:`gradviz.activations.ACTIVATIONS` (max slope: sigmoid 1/4, tanh 1, relu 1, ...).
    n_factors : int >= 0

    Raises
    ------
    ValueError
        Unknown activation or negative ``n_factors``.
    """
    act = get_activation(activation)
    n = check_nonneg_int("n_factors", n_factors)
    return float(act.max_slope) ** n


def saturation_onset(activation: str, threshold: float = SATURATION_THRESHOLD) -> float:
    """The input z* > 0 beyond which a sigmoid or tanh unit counts as saturated: phi'(+-z*) = threshold x max phi'.

    Units with |z| > z* have a slope below ``threshold`` times the largest
    slope (:data:`gradviz.activations.SATURATION_THRESHOLD`, 5 %). Closed forms:
    sigmoid, sigma(1 - sigma) = c/4 gives sigma = (1 + sqrt(1 - c)) / 2 and
    z* = ln(sigma / (1 - sigma)); tanh, 1 - tanh^2 = c gives z* = artanh(sqrt(1 - c)).

    Returns
    -------
    float: z* (4.36 for the sigmoid and 2.18 for tanh at the default threshold).

    Raises
    ------
    ValueError
        For an activation that does not saturate on both sides, or a threshold outside (0, 1).
    """
    act = get_activation(activation)
    c = check_probability("threshold", threshold, inclusive_low=False)
    if act.name == "sigmoid":
        s = (1.0 + np.sqrt(1.0 - c)) / 2.0
        return float(np.log(s / (1.0 - s)))
    if act.name == "tanh":
        return float(np.arctanh(np.sqrt(1.0 - c)))
    raise ValueError(f"activation={activation!r} does not saturate; choose one of: sigmoid, tanh")
