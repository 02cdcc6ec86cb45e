"""SELU's moment map, its Jacobian and fixed point, and the constants that make (0, 1) that fixed point.

Klambauer et al. (2017), "Self-normalizing neural networks": one SELU layer maps
the mean and variance of its inputs (mu, nu) to those of its outputs through a
map g; with omega = sum of the weights = 0 and tau = sum of their squares = 1
its fixed point is (0, 1), and it attracts (Theorem 1). Chapter 05 draws the map,
iterates it and reads the stability of the fixed point from the Jacobian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import check_finite, check_nonneg, check_nonneg_int, check_positive_int
from ..activations import SELU_ALPHA, SELU_SCALE
from .meanfield import _closed_form_moments

__all__ = [
    "selu_fixed_point_map",
    "selu_map_jacobian",
    "SeluFixedPoint",
    "selu_fixed_point",
    "selu_map_trajectory",
    "selu_constants",
]


def _selu_map_scalar(mean, var, omega, tau, alpha, scale):
    m, q = mean * omega, var * tau
    if q == 0.0:
        z = m
        f = scale * (z if z > 0 else alpha * math.expm1(z))
        return f, 0.0
    mom = _closed_form_moments("elu", m, q, {"alpha": alpha})
    return scale * mom.mean, scale * scale * mom.variance


def selu_fixed_point_map(
    mean,
    var,
    omega: float = 0.0,
    tau: float = 1.0,
    *,
    alpha: float = SELU_ALPHA,
    scale: float = SELU_SCALE,
):
    """The map g: (mu, nu) -> (mu~, nu~) of Klambauer et al. (2017), eqs. 3-5.

    If the n inputs x_i of a SELU unit are independent with mean ``mean`` (mu)
    and variance ``var`` (nu), and its weights have sum ``omega`` =
    sum_i w_i and sum of squares ``tau`` = sum_i w_i^2, then (central limit
    theorem) z = sum_i w_i x_i ~ N(mu omega, nu tau) and the unit's output has

        mu~ = E[selu(z)],    nu~ = E[selu(z)^2] - mu~^2.

    With LeCun-normal weights, omega = n E[w] = 0 and tau = n Var(w) = 1, and
    (0, 1) is a fixed point (their Theorem 1): a SELU net drives the mean and
    variance of its activations towards 0 and 1.

    Parameters
    ----------
    mean, var : float or array_like (broadcast together)
        mu and nu >= 0 of the inputs.
    omega, tau : float
        Sum and sum of squares of the unit's weights (tau >= 0).
    alpha, scale : float
        SELU constants (default alpha_01 and lambda_01, Klambauer et al. 2017,
        eq. 14); change them to see the fixed point move.

    Returns
    -------
    (mean_next, var_next) : floats, or ndarrays of the broadcast shape

    Raises
    ------
    ValueError
        Negative ``var``/``tau``/``alpha``/``scale`` or non-finite values.

    Notes
    -----
    Computed with the closed forms of :func:`activation_moments` (ELU of slope
    alpha, times scale), which agree with the erfc closed forms that
    Klambauer et al. give for eqs. 4-5.
    """
    omega = check_finite("omega", omega)
    tau = check_nonneg("tau", tau)
    alpha = check_nonneg("alpha", alpha)
    scale = check_nonneg("scale", scale)
    mean_arr = np.asarray(mean, dtype=float)
    var_arr = np.asarray(var, dtype=float)
    if not np.all(np.isfinite(mean_arr)):
        raise ValueError(f"mean must be finite; got {mean!r}")
    if not np.all(np.isfinite(var_arr)) or np.any(var_arr < 0):
        raise ValueError(f"var must be finite and >= 0; got {var!r}")
    if mean_arr.ndim == 0 and var_arr.ndim == 0:
        return _selu_map_scalar(float(mean_arr), float(var_arr), omega, tau, alpha, scale)
    vec = np.vectorize(lambda m, v: _selu_map_scalar(m, v, omega, tau, alpha, scale), otypes=[float, float])
    return vec(mean_arr, var_arr)


def _check_selu_map_args(omega, tau, alpha, scale):
    return (check_finite("omega", omega), check_nonneg("tau", tau), check_nonneg("alpha", alpha),
            check_nonneg("scale", scale))


def selu_map_jacobian(
    mean: float = 0.0,
    var: float = 1.0,
    omega: float = 0.0,
    tau: float = 1.0,
    *,
    alpha: float = SELU_ALPHA,
    scale: float = SELU_SCALE,
    h: float = 1e-6,
) -> np.ndarray:
    """The Jacobian of the moment map g at (``mean``, ``var``), by central differences.

    g is :func:`selu_fixed_point_map`: (mu, nu) -> (mu~, nu~). The Jacobian is
    the 2 x 2 matrix::

        [[d mu~ / d mu,  d mu~ / d nu],
         [d nu~ / d mu,  d nu~ / d nu]]

    each entry ``(g(x + h e_j) - g(x - h e_j)) / (2 h)``; with the closed forms
    of g accurate to ~1e-15, the entries are accurate to about 1e-9 (step
    h = 1e-6: truncation error ~h^2, rounding error ~1e-16 / h).

    Klambauer et al. (2017), sec. 2 ("Stable and attracting fixed point (0, 1)
    for normalized weights"), evaluate it at (mu, nu) = (0, 1), omega = 0,
    tau = 1 and state that its spectral norm (largest singular value) is
    0.7877 < 1, so g is a contraction near (0, 1).

    Parameters
    ----------
    mean, var : float
        The point (mu, nu); ``var`` must exceed ``h``.
    omega, tau : float
        Sum and sum of squares of a unit's incoming weights (tau >= 0).
    alpha, scale : float >= 0
        SELU constants (default alpha_01, lambda_01 of eq. 14).
    h : float > 0
        Finite-difference step, in units of mu and nu.

    Returns
    -------
    ndarray of shape (2, 2)

    Raises
    ------
    ValueError
        Non-finite arguments, ``var <= h``, ``h <= 0``, negative ``tau``/``alpha``/``scale``.

    Examples
    --------
    >>> J = selu_map_jacobian()
    >>> round(float(np.linalg.norm(J, 2)), 4)
    0.7877
    """
    mean = check_finite("mean", mean)
    var = check_finite("var", var)
    h = check_finite("h", h)
    if h <= 0:
        raise ValueError(f"h must be > 0; got {h!r}")
    if var <= h:
        raise ValueError(f"var must be larger than the step h={h:g} (central differences in nu); got {var!r}")
    omega, tau, alpha, scale = _check_selu_map_args(omega, tau, alpha, scale)
    J = np.empty((2, 2))
    for j, (dm, dv) in enumerate(((h, 0.0), (0.0, h))):
        plus = _selu_map_scalar(mean + dm, var + dv, omega, tau, alpha, scale)
        minus = _selu_map_scalar(mean - dm, var - dv, omega, tau, alpha, scale)
        J[:, j] = (np.array(plus) - np.array(minus)) / (2.0 * h)
    return J


@dataclass(frozen=True)
class SeluFixedPoint:
    """The fixed point (mu*, nu*) of the moment map g for given weights (omega, tau).

    Attributes
    ----------
    mean, var : float
        mu* and nu* (nan when the iteration did not converge).
    omega, tau : float
        The weight sums the map was evaluated with.
    jacobian : ndarray (2, 2)
        :func:`selu_map_jacobian` at the fixed point (nan when not converged).
    converged : bool
        Whether iterating g settled (steps below the tolerance).
    iterations : int
        Applications of g that were made.
    """

    mean: float
    var: float
    omega: float
    tau: float
    jacobian: np.ndarray
    converged: bool
    iterations: int

    @property
    def singular_values(self) -> np.ndarray:
        """Singular values of the Jacobian, largest first, shape (2,)."""
        return np.linalg.svd(self.jacobian, compute_uv=False)

    @property
    def spectral_norm(self) -> float:
        """Largest singular value of the Jacobian: the most one step of g can stretch a small
        deviation from the fixed point (Euclidean length in the (mu, nu) plane)."""
        return float(self.singular_values[0])

    @property
    def spectral_radius(self) -> float:
        """Largest |eigenvalue| of the Jacobian: the factor by which a small deviation shrinks
        per step in the long run."""
        return float(np.max(np.abs(np.linalg.eigvals(self.jacobian))))


def selu_map_trajectory(
    mean: float,
    var: float,
    n_steps: int,
    omega: float = 0.0,
    tau: float = 1.0,
    *,
    alpha: float = SELU_ALPHA,
    scale: float = SELU_SCALE,
) -> np.ndarray:
    """(mu, nu) after 0, 1, ..., ``n_steps`` applications of the moment map g.

    Row k is g applied k times to (``mean``, ``var``): the mean and variance
    that layer k of an idealised SELU network (every unit with weight sums
    ``omega``, ``tau``; infinitely wide) receives when its input has mean
    ``mean`` and variance ``var`` (Klambauer et al. 2017, eq. 3).

    Parameters
    ----------
    mean, var : float
        Starting point (var >= 0).
    n_steps : int >= 0
    omega, tau, alpha, scale : float
        As :func:`selu_fixed_point_map`.

    Returns
    -------
    ndarray of shape (n_steps + 1, 2): columns mu and nu. Once a value stops
    being finite (a variance that overflowed), the rest is nan.

    Raises
    ------
    ValueError, TypeError
        Bad numbers, negative ``var``, ``n_steps`` not a non-negative integer.
    """
    n_steps = check_nonneg_int("n_steps", n_steps)
    m, v = check_finite("mean", mean), check_nonneg("var", var)
    omega, tau, alpha, scale = _check_selu_map_args(omega, tau, alpha, scale)
    out = np.full((n_steps + 1, 2), np.nan)
    out[0] = m, v
    with np.errstate(all="ignore"):
        for k in range(1, n_steps + 1):
            m, v = _selu_map_scalar(m, v, omega, tau, alpha, scale)
            if not (math.isfinite(m) and math.isfinite(v)):
                break
            out[k] = m, v
    return out


def selu_fixed_point(
    omega: float = 0.0,
    tau: float = 1.0,
    *,
    alpha: float = SELU_ALPHA,
    scale: float = SELU_SCALE,
    start=(0.0, 1.0),
    tol: float = 1e-13,
    max_iter: int = 5000,
) -> SeluFixedPoint:
    """Find the fixed point of the moment map g by applying g until it stops moving.

    This is the construction of the Banach fixed-point theorem that
    Klambauer et al. (2017) use for their Theorem 1: where g is a contraction,
    the iterates g(g(...g(start))) converge to its unique fixed point. The
    Jacobian there (:func:`selu_map_jacobian`) says how fast: its spectral
    norm bounds the shrinking of a deviation per step (0.7877 at omega = 0,
    tau = 1, their sec. 2).

    Parameters
    ----------
    omega, tau : float
        Sum and sum of squares of a unit's weights (LeCun normal: 0 and 1 in
        expectation, Klambauer et al. 2017, sec. "Initialization").
    alpha, scale : float >= 0
        SELU constants.
    start : (float, float)
        Starting (mu, nu), nu >= 0.
    tol : float > 0
        Converged when a step moves mu and nu by less than ``tol * (1 + |value|)``.
    max_iter : int >= 1

    Returns
    -------
    SeluFixedPoint
        ``converged=False`` (and nan values) when the variance grew past 1e12
        or ``max_iter`` steps did not settle.

    Raises
    ------
    ValueError, TypeError
        Bad numbers.

    Examples
    --------
    >>> fp = selu_fixed_point()
    >>> round(fp.mean, 12), round(fp.var, 12), round(fp.spectral_norm, 4)
    (0.0, 1.0, 0.7877)
    """
    omega, tau, alpha, scale = _check_selu_map_args(omega, tau, alpha, scale)
    tol = check_finite("tol", tol)
    if tol <= 0:
        raise ValueError(f"tol must be > 0; got {tol!r}")
    max_iter = check_positive_int("max_iter", max_iter)
    try:
        m, v = (float(s) for s in start)
    except (TypeError, ValueError):
        raise TypeError(f"start must be a pair (mean, var) of numbers; got {start!r}") from None
    m, v = check_finite("start[0]", m), check_nonneg("start[1]", v)
    converged = False
    k = 0
    with np.errstate(all="ignore"):
        for k in range(1, max_iter + 1):
            m2, v2 = _selu_map_scalar(m, v, omega, tau, alpha, scale)
            if not (math.isfinite(m2) and math.isfinite(v2)) or v2 > 1e12:
                m, v = m2, v2
                break
            done = abs(m2 - m) <= tol * (1 + abs(m2)) and abs(v2 - v) <= tol * (1 + abs(v2))
            m, v = m2, v2
            if done:
                converged = True
                break
    if not converged or v <= 1e-6:
        nan = math.nan
        return SeluFixedPoint(nan, nan, omega, tau, np.full((2, 2), nan), False, k)
    J = selu_map_jacobian(m, v, omega, tau, alpha=alpha, scale=scale, h=min(1e-6, v / 10))
    return SeluFixedPoint(m, v, omega, tau, J, True, k)


def selu_constants(
    mean: float = 0.0,
    var: float = 1.0,
    *,
    start=(1.6, 1.0),
    tol: float = 1e-14,
    max_iter: int = 50,
) -> tuple:
    """The SELU constants (alpha, scale) that make (``mean``, ``var``) the fixed point of g.

    Klambauer et al. (2017), sec. 2, choose alpha and lambda so that, with
    normalised weights (omega = 0, tau = 1), an input of mean 0 and variance 1
    gives an output of mean 0 and variance 1: two equations,
    mu~(0, 1) = 0 and nu~(0, 1) = 1, for two unknowns. Their solution is
    alpha_01 ~ 1.6733 and lambda_01 ~ 1.0507 (eq. 14). This function solves
    g(mean, var; alpha, scale) = (mean, var) at omega = 0, tau = 1 by
    Newton's method with a finite-difference Jacobian, so the constants are
    recomputed, not copied.

    Parameters
    ----------
    mean : float
        Target mean (|mean| small: the mean of a SELU output lies above -scale * alpha).
    var : float > 0
        Target variance.
    start : (float, float)
        Initial guess (alpha, scale).
    tol : float > 0
        Stop when a Newton step changes both constants by less than ``tol`` (relative).
    max_iter : int >= 1

    Returns
    -------
    (alpha, scale) : floats

    Raises
    ------
    ValueError
        Bad arguments, or Newton's method did not converge (no positive solution near ``start``).

    Examples
    --------
    >>> a, s = selu_constants()
    >>> abs(a - SELU_ALPHA) < 1e-10 and abs(s - SELU_SCALE) < 1e-10
    True
    """
    mean = check_finite("mean", mean)
    var = check_finite("var", var)
    if var <= 0:
        raise ValueError(f"var must be > 0; got {var!r}")
    tol = check_finite("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    x = np.array([float(start[0]), float(start[1])])

    def resid(p):
        return np.array(_selu_map_scalar(mean, var, 0.0, 1.0, p[0], p[1])) - (mean, var)

    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            f = resid(x)
            J = np.empty((2, 2))
            for j in range(2):
                d = np.zeros(2)
                d[j] = 1e-7 * max(1.0, abs(x[j]))
                J[:, j] = (resid(x + d) - resid(x - d)) / (2 * d[j])
            try:
                step = np.linalg.solve(J, f)
            except np.linalg.LinAlgError:
                break
            x = x - step
            if not np.all(np.isfinite(x)) or np.any(x <= 0):
                break
            if np.all(np.abs(step) <= tol * np.abs(x)):
                return float(x[0]), float(x[1])
    raise ValueError(f"no SELU constants found for the fixed point (mean={mean!r}, var={var!r}) "
                     f"starting from (alpha, scale)={tuple(start)!r}")
