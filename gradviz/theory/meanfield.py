"""Mean-field theory: per-layer variances of a random MLP, forward and backward.

The notebooks draw these predictions beside what :mod:`gradviz.stats` measures
on a real network, so that the learner sees the measurement follow (or, for a
badly initialised network, leave) the curve that the math predicts.

The model
---------
A plain MLP whose hidden layers are ``Dense -> activation``::

    z^l = a^{l-1} @ W^l + b^l,     a^l = phi(z^l),     l = 1, ..., L,   a^0 = x

with ``W^l`` of shape ``(n_{l-1}, n_l)`` (``fan_in, fan_out``), weights drawn
independently with mean 0 and variance ``Var(W^l_ij)``, biases drawn
independently with mean ``bias_mean`` and variance ``bias_var``. ``widths`` is
always the list ``[n_0, n_1, ..., n_L]``: the number of input features first,
then the width of every hidden layer. The output (logit) layer is not part of
the model: the backward pass starts at the last hidden activation ``a^L`` with
an upstream gradient ``dL/da^L`` of variance ``output_grad_var`` (for a probe,
a standard-normal array of shape ``(batch, n_L)``, hence 1).

Forward (Poole et al. 2016, "Exponential expressivity in deep neural networks
through transient chaos", eq. 3; Glorot & Bengio 2010, eq. 5 for the linear
case; He et al. 2015, eqs. 7-8 for ReLU)::

    q^1 = n_0 Var(W^1) E[x^2]                  + bias_var
    q^l = n_{l-1} Var(W^l) E[phi(z^{l-1})^2]   + bias_var,    z^l ~ N(bias_mean, q^l)

Backward, under the gradient-independence assumption (the weights of the
backward pass are treated as independent of those of the forward pass;
Schoenholz et al. 2017, "Deep information propagation", Sec. 4; Glorot &
Bengio 2010, eq. 6; He et al. 2015, eqs. 11-13)::

    Var(dL/da^L)     = output_grad_var
    Var(dL/dz^l)     = Var(dL/da^l) E[phi'(z^l)^2]
    Var(dL/da^{l-1}) = n_l Var(W^l) Var(dL/dz^l)          (n_l = fan_out of W^l)

The per-layer backward gain ``n_l Var(W^l) E[phi'(z^l)^2]`` is the chi_1 of
Schoenholz et al. (2017), Sec. 3, evaluated at the current q^l instead of the
fixed point: above 1 gradients explode going towards the input, below 1 they
vanish. With ReLU and He init it is exactly 1 (He et al. 2015, eq. 13).

Gaussian expectations
---------------------
``E[f(z)]`` for ``z ~ N(m, q)`` is computed in closed form for linear, ReLU,
leaky ReLU, ELU and SELU (formulas in :func:`activation_moments`) and by
quadrature for every other activation (:func:`gaussian_expectation`).
Plain Gauss-Hermite quadrature converges only algebraically across a kink
(ReLU family at 0) and needs many nodes once the Gaussian is much wider than
the structure of phi (tanh or sigmoid at large q, where phi' is a narrow
spike); the default ``method='panels'`` avoids both by splitting the line at
the kinks and on two grids (one on the scale of the Gaussian, one on the scale
of the activation) and applying Gauss-Legendre on each piece.

Limits of validity: the recursion is exact in the limit of infinite width;
at finite width n the measured per-layer variance of one network fluctuates
by O(1/sqrt(n)) per layer around it, and (for non-linear phi other than the
ReLU family) differs from it by a bias of O(1/n) per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from .._validate import check_choice, check_finite, check_nonneg, check_positive, check_positive_int
from ..activations import ACTIVATIONS, SELU_ALPHA, SELU_SCALE, get_activation
from ..init import weight_variance

__all__ = [
    "CLOSED_FORM_ACTIVATIONS",
    "gaussian_expectation",
    "activation_moments",
    "ActivationMoments",
    "init_weight_variances",
    "predict_variances",
    "VariancePrediction",
    "fixed_point_variance",
    "chi_1",
    "edge_of_chaos",
    "critical_weight_variance",
]

#: Activations whose Gaussian moments :func:`activation_moments` knows in closed form.
CLOSED_FORM_ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "selu")

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_SQRTPI = math.sqrt(math.pi)

# Quadrature layout of method='panels' (see gaussian_expectation).
_U_MAX = 12.0  # integrate u in [-12, 12]; P(|u| > 12) = 3.6e-33
_U_STEP = 0.5  # panel grid on the scale of the Gaussian (u = (z - m) / sqrt(q))
_Z_MAX = 40.0  # panel grid on the scale of the activation: z in [-40, 40] ...
_Z_STEP = 0.5  # ... in steps of 0.5 (sigmoid, tanh, exp are constant or tiny beyond |z| = 40)
_PANEL_NODES = 16

_METHODS = ("panels", "hermite")
_MAX_HERMITE = 300



# ---------------------------------------------------------------------------
# special functions (stdlib only)
# ---------------------------------------------------------------------------


def _norm_cdf(x: float) -> float:
    """Standard normal cdf Phi(x), accurate in both tails (via erfc)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def _norm_pdf(x: float) -> float:
    if math.isinf(x):
        return 0.0
    return math.exp(-0.5 * x * x) / _SQRT2PI


def _erfcx(x: float) -> float:
    """Scaled complementary error function exp(x^2) erfc(x) for x >= 0, without overflow.

    Direct product below x = 10 (relative error ~1e-14 from exp(x^2)); above,
    the asymptotic series 1/(x sqrt(pi)) sum_k (-1)^k (2k-1)!! / (2x^2)^k
    (Abramowitz & Stegun 7.1.23), truncated after 20 terms (error < 1e-22).
    """
    if x < 10.0:
        return math.exp(x * x) * math.erfc(x)
    if math.isinf(x):
        return 0.0
    y = 1.0 / (2.0 * x * x)
    term, total = 1.0, 1.0
    for k in range(1, 21):
        term *= -(2 * k - 1) * y
        total += term
    return total / (x * _SQRTPI)


def _exp_moment_negative(k: float, m: float, q: float) -> float:
    """E[exp(k z) 1{z < 0}] for z ~ N(m, q), q > 0, k > 0, without overflow.

    Completing the square: exp(k m + k^2 q / 2) Phi(-(m + k q) / sqrt(q)).
    With b = (m + k q) / sqrt(2 q) > 0 this is exp(-m^2 / (2 q)) erfcx(b) / 2,
    because b^2 = k m + k^2 q / 2 + m^2 / (2 q).
    """
    s = math.sqrt(q)
    b = (m + k * q) / (s * _SQRT2) if math.isfinite(q) else math.inf
    if b > 0:
        return 0.5 * math.exp(-m * m / (2.0 * q)) * _erfcx(b)
    return 0.5 * math.exp(k * m + 0.5 * k * k * q) * math.erfc(b)


# ---------------------------------------------------------------------------
# Gaussian expectations
# ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _hermegauss(n: int):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2.0 * math.pi)  # weights of the standard normal density


@lru_cache(maxsize=4)
def _leggauss(n: int):
    return np.polynomial.legendre.leggauss(n)


@lru_cache(maxsize=1)
def _panel_grids():
    """The fixed grids of panel breakpoints: in u (the Gaussian's scale) and in z (the activation's)."""
    grids = np.arange(-_U_MAX, _U_MAX + 1e-9, _U_STEP), np.arange(-_Z_MAX, _Z_MAX + 1e-9, _Z_STEP)
    for g in grids:
        g.flags.writeable = False
    return grids


def _panel_breakpoints(mean: float, s: float, kinks) -> np.ndarray:
    """The sorted panel breakpoints in u = (z - mean) / s of :func:`gaussian_expectation`'s 'panels' rule.

    The u grid (it spans [-12, 12], both ends included) with the points of the z grid and the kinks that fall
    strictly inside (-12, 12), each kept once: a point less than 1e-12 above the one before it is dropped (a
    kink on a grid point would make a panel of zero width). Each point is mapped as (z - mean) / s, so
    the breakpoints are the same floats whatever order they are merged in.
    """
    bu, bz = _panel_grids()
    uz = (bz - mean) / s
    parts = [bu, uz[(uz > -_U_MAX) & (uz < _U_MAX)]]
    if kinks:
        uk = (np.asarray(kinks, dtype=float) - mean) / s
        parts.append(uk[(uk > -_U_MAX) & (uk < _U_MAX)])
    b = np.concatenate(parts)
    b.sort()
    keep = np.empty(b.shape, dtype=bool)
    keep[0] = True
    np.greater(b[1:] - b[:-1], 1e-12, out=keep[1:])
    return b[keep]


def gaussian_expectation(
    fn: Callable[[np.ndarray], np.ndarray],
    q: float,
    mean: float = 0.0,
    *,
    kinks: Sequence[float] = (),
    method: str = "panels",
    n_points: int | None = None,
) -> float:
    """E[fn(z)] for z ~ N(mean, q), i.e. E[fn(mean + sqrt(q) u)] with u ~ N(0, 1).

    Parameters
    ----------
    fn : callable
        Element-wise function of a float ndarray (any shape), returning an
        array of the same shape. It is only evaluated at finite points.
    q : float >= 0
        Variance of z (squared units of z). ``q = 0`` returns ``fn(mean)``.
    mean : float
        Mean of z.
    kinks : sequence of float
        Points (in z) where fn or its derivative jumps, e.g. ``(0.0,)`` for
        ReLU or ReLU'. Used by ``method='panels'`` to split the integral
        there; ignored by ``'hermite'``.
    method : {'panels', 'hermite'}
        ``'hermite'``: Gauss-Hermite quadrature for the weight exp(-u^2/2)
        (``numpy.polynomial.hermite_e.hermegauss``) with ``n_points`` nodes
        (default 101, at most 300: numpy's nodes overflow beyond ~360).
        Exact for polynomials of degree < 2 n_points, fast and accurate for
        smooth fn at moderate q, but across a kink it does not converge in
        any useful sense: for E[relu'(z)^2] = P(z > 0), z ~ N(0.7, 2.3), the
        error is 3e-3 with 101 nodes, 5e-2 with 100 and 3e-2 with 201 (and at
        mean 0 an odd n puts a node on the kink: error 6e-2 with 101). It also
        under-resolves phi' of tanh/sigmoid when q >> 1.
        ``'panels'`` (default): composite Gauss-Legendre with ``n_points``
        nodes per panel (default 16) over u in [-12, 12] (the mass outside is
        3.6e-33), split at the kinks, on a grid of step 0.5 in u and on a grid
        of step 0.5 in z over [-40, 40]. Accurate to ~1e-13 for piecewise
        analytic fn whose pieces do not vary on scales much below 0.5 in z,
        for any q; about 3,000 evaluations of fn.
    n_points : int, optional
        Number of nodes (see ``method``).

    Returns
    -------
    float
        The expectation; nan if q is infinite.

    Raises
    ------
    TypeError
        If ``fn`` is not callable or a number has the wrong type.
    ValueError
        If ``q`` is negative or nan (q = inf returns nan), ``mean`` is not
        finite, ``method`` is unknown, or ``n_points > 300`` with 'hermite'.

    Examples
    --------
    >>> round(gaussian_expectation(lambda z: np.maximum(z, 0) ** 2, 3.0, kinks=(0.0,)), 12)
    1.5
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable; got {fn!r} of type {type(fn).__name__}")
    if isinstance(q, (int, float, np.floating, np.integer)) and not isinstance(q, bool) and q == math.inf:
        return math.nan
    q = check_nonneg("q", q)
    mean = check_finite("mean", mean)
    method = check_choice("method", method, _METHODS)
    if n_points is not None:
        n_points = check_positive_int("n_points", n_points)
        if method == "hermite" and n_points > _MAX_HERMITE:
            raise ValueError(f"n_points must be <= {_MAX_HERMITE} for method='hermite'; got {n_points}")
    kinks = tuple(check_finite("kinks[i]", k) for k in kinks)
    with np.errstate(all="ignore"):
        if q == 0.0:
            return float(np.asarray(fn(np.array([mean])), dtype=float)[0])
        s = math.sqrt(q)
        if method == "hermite":
            x, w = _hermegauss(101 if n_points is None else n_points)
            return float(np.dot(w, np.asarray(fn(mean + s * x), dtype=float)))
        z, weights = _panel_rule(mean, s, kinks, n_points)
        return float(np.sum(weights * np.asarray(fn(z), dtype=float)))


def _panel_rule(mean, s, kinks, n_points=None):
    """Nodes z and weights (flat arrays) of the composite Gauss-Legendre rule of
    :func:`gaussian_expectation` for z ~ N(mean, s^2), s > 0: E[fn(z)] = sum(weights * fn(z)).

    On a panel [b_0, b_1] of u the Gauss-Legendre nodes x_k and weights w_k on [-1, 1] become
    u = mid + half x_k and half w_k, with mid = (b_0 + b_1) / 2 and half = (b_1 - b_0) / 2; each weight
    is multiplied by the standard normal density of its node, exp(-u^2 / 2) / sqrt(2 pi).
    """
    x, w = _leggauss(_PANEL_NODES if n_points is None else n_points)
    b = _panel_breakpoints(mean, s, kinks)
    mid = 0.5 * (b[1:] + b[:-1])[:, None]
    half = 0.5 * (b[1:] - b[:-1])[:, None]
    u = (mid + half * x).ravel()
    weights = (half * w).ravel() * np.exp(-0.5 * u * u) / _SQRT2PI
    return mean + s * u, weights


@dataclass(frozen=True)
class ActivationMoments:
    """Gaussian moments of an activation for z ~ N(mean, var).

    Attributes
    ----------
    mean : float
        E[phi(z)].
    second_moment : float
        E[phi(z)^2].
    grad_second_moment : float
        E[phi'(z)^2].
    """

    mean: float
    second_moment: float
    grad_second_moment: float

    @property
    def variance(self) -> float:
        """Var(phi(z)) = E[phi^2] - E[phi]^2 (inf when E[phi^2] is inf)."""
        if math.isinf(self.second_moment):
            return math.inf
        return max(self.second_moment - self.mean**2, 0.0)


def _relu_parts(m: float, q: float):
    """E[1{z>0}], E[z 1{z>0}], E[z^2 1{z>0}] and the same for z < 0, z ~ N(m, q), q > 0.

    Standard truncated-normal moments: with s = sqrt(q), t = m / s,
    E[z 1{z>0}] = m Phi(t) + s phi(t), E[z^2 1{z>0}] = (m^2 + q) Phi(t) + m s phi(t).
    """
    s = math.sqrt(q)
    t = m / s
    p_pos, p_neg = _norm_cdf(t), _norm_cdf(-t)
    pdf = _norm_pdf(t)
    e1_pos = m * p_pos + s * pdf
    e1_neg = m * p_neg - s * pdf
    m2 = m * m + q
    e2_pos = m2 * p_pos + m * s * pdf
    e2_neg = m2 * p_neg - m * s * pdf
    return p_pos, p_neg, e1_pos, e1_neg, e2_pos, e2_neg


def _infinite_variance_limit(name: str, m: float, params: dict) -> ActivationMoments:
    """Limits of the closed forms as q -> inf (an overflowed layer), m fixed."""
    inf = math.inf
    if name == "linear":
        return ActivationMoments(m, inf, 1.0)
    if name == "leaky_relu":
        a = params["alpha"]
        mean = inf if a < 1 else (-inf if a > 1 else m)
        return ActivationMoments(mean, inf, (1.0 + a * a) / 2.0)
    lam = SELU_SCALE if name == "selu" else 1.0
    return ActivationMoments(inf, inf, lam * lam / 2.0)  # relu, elu, selu: the positive half dominates


def _closed_form_moments(name: str, m: float, q: float, params: dict) -> ActivationMoments:
    """Closed-form E[phi], E[phi^2], E[phi'^2] for z ~ N(m, q), q > 0.

    Sources: ReLU, He et al. (2015), eq. 8 (E[relu(z)^2] = q / 2 at m = 0) and
    the truncated-normal moments of :func:`_relu_parts`; leaky ReLU, He et al.
    (2015), eq. 15 ((1 + a^2) q / 2 at m = 0); ELU and SELU: with
    M(k) = E[exp(k z) 1{z<0}] = exp(k m + k^2 q / 2) Phi(-(m + k q) / sqrt(q)),
    as in the closed forms of Klambauer et al. (2017) for eqs. 4-5.
    """
    if math.isinf(q):
        return _infinite_variance_limit(name, m, params)
    p_pos, p_neg, e1_pos, e1_neg, e2_pos, e2_neg = _relu_parts(m, q)
    if name == "linear":
        return ActivationMoments(m, m * m + q, 1.0)
    if name == "relu":
        return ActivationMoments(e1_pos, e2_pos, p_pos)
    if name == "leaky_relu":
        a = params["alpha"]
        return ActivationMoments(e1_pos + a * e1_neg, e2_pos + a * a * e2_neg, p_pos + a * a * p_neg)
    if name in ("elu", "selu"):
        if name == "elu":
            a, lam = params["alpha"], 1.0
        else:
            a, lam = SELU_ALPHA, SELU_SCALE
        m1 = _exp_moment_negative(1.0, m, q)
        m2 = _exp_moment_negative(2.0, m, q)
        mean = lam * (e1_pos + a * (m1 - p_neg))
        second = lam * lam * (e2_pos + a * a * (m2 - 2.0 * m1 + p_neg))
        grad2 = lam * lam * (p_pos + a * a * m2)
        return ActivationMoments(mean, second, grad2)
    raise AssertionError(name)  # pragma: no cover


def activation_moments(
    activation: str,
    mean: float = 0.0,
    var: float = 1.0,
    *,
    method: str = "auto",
    **activation_params,
) -> ActivationMoments:
    """E[phi(z)], E[phi(z)^2] and E[phi'(z)^2] for z ~ N(mean, var).

    Parameters
    ----------
    activation : str
        A name of :data:`gradviz.activations.ACTIVATIONS`.
    mean, var : float
        Mean and variance (>= 0) of the pre-activation z. ``var`` may be inf
        (an exploded network): closed forms then give the limit (inf for the
        unbounded moments), quadrature gives nan.
    method : {'auto', 'closed', 'panels', 'hermite'}
        ``'auto'``: closed form for the activations in
        :data:`CLOSED_FORM_ACTIVATIONS`, ``'panels'`` quadrature otherwise.
        ``'closed'`` raises for an activation without one. ``'panels'`` and
        ``'hermite'``: see :func:`gaussian_expectation`.
    **activation_params
        Parameters of the activation (``alpha`` for leaky_relu and elu);
        missing ones take the activation's defaults.

    Returns
    -------
    ActivationMoments

    Raises
    ------
    ValueError
        Unknown ``activation`` or ``method``; negative ``var``; non-finite ``mean``;
        ``method='closed'`` for an activation without a closed form.
    TypeError
        A parameter that the activation does not take.

    Notes
    -----
    Closed forms (z ~ N(m, q), s = sqrt(q), t = m / s, Phi / phi the standard
    normal cdf / pdf): ReLU E[phi] = m Phi(t) + s phi(t),
    E[phi^2] = (m^2 + q) Phi(t) + m s phi(t), E[phi'^2] = Phi(t), which at
    m = 0 are s / sqrt(2 pi), q / 2 and 1 / 2 (He et al. 2015, eq. 8).
    Leaky ReLU of slope a at m = 0: E[phi^2] = (1 + a^2) q / 2,
    E[phi'^2] = (1 + a^2) / 2 (He et al. 2015, eq. 15). ELU (alpha, scale
    lambda = 1) and SELU (alpha_01, lambda_01 of Klambauer et al. 2017):
    with M(k) = E[exp(k z) 1{z<0}] = exp(k m + k^2 q / 2) Phi(-(m + k q) / s),
    E[phi] = lambda (E[z 1{z>0}] + alpha (M(1) - Phi(-t))),
    E[phi^2] = lambda^2 (E[z^2 1{z>0}] + alpha^2 (M(2) - 2 M(1) + Phi(-t))),
    E[phi'^2] = lambda^2 (Phi(t) + alpha^2 M(2)). The ELU/SELU second moment
    subtracts O(1) terms to get O(q): relative error about 1e-16 / q, so
    about 1e-10 at q = 1e-6.
    """
    act = get_activation(activation)
    params = act.params(**activation_params)
    method = check_choice("method", method, ("auto", "closed") + _METHODS)
    mean = check_finite("mean", mean)
    if not (isinstance(var, (int, float, np.floating, np.integer)) and var == math.inf):
        var = check_nonneg("var", var)
    else:
        var = math.inf
    if method == "closed" and act.name not in CLOSED_FORM_ACTIVATIONS:
        raise ValueError(
            f"method='closed' is not available for activation={act.name!r}; "
            f"closed forms exist for: {', '.join(CLOSED_FORM_ACTIVATIONS)}"
        )
    return _activation_moments(act, params, mean, var, method)


def _activation_moments(act, params, mean, var, method):
    """:func:`activation_moments` of checked arguments (the recursion calls it once per layer)."""
    if var == 0.0:
        with np.errstate(all="ignore"):
            z = np.array([mean])
            f = float(act.f(z, **params)[0])
            g = float(act.df(z, **params)[0])
        return ActivationMoments(f, f * f, g * g)
    if method in ("auto", "closed") and act.name in CLOSED_FORM_ACTIVATIONS:
        with np.errstate(all="ignore"):
            return _closed_form_moments(act.name, mean, var, params)
    quad = "panels" if method in ("auto", "closed") else method
    if quad == "panels" and math.isfinite(var):
        return ActivationMoments(*_panel_moments(act.name, tuple(sorted(params.items())), mean, var))

    def f(z):
        return act.f(z, **params)

    def f2(z):
        v = act.f(z, **params)
        return v * v

    def g2(z):
        v = act.df(z, **params)
        return v * v

    kw = dict(mean=mean, kinks=act.kinks, method=quad)
    return ActivationMoments(
        gaussian_expectation(f, var, **kw),
        gaussian_expectation(f2, var, **kw),
        gaussian_expectation(g2, var, **kw),
    )


@lru_cache(maxsize=4096)
def _panel_moments(name, params, mean, var):
    """(E[phi], E[phi^2], E[phi'^2]) for z ~ N(mean, var), 0 < var < inf, by the 'panels' rule of
    :func:`gaussian_expectation` (``params``: the activation's, as sorted items).

    The three expectations share one set of nodes, where phi and phi' are evaluated once: the same sums as
    three calls of :func:`gaussian_expectation`, at a third of the cost. Cached by value: a deeper network
    (or one as deep, of another width with the same n Var(W)) repeats the variances of the first layers, and
    an explorer asks for them again at every press.
    """
    act, params = ACTIVATIONS[name], dict(params)
    with np.errstate(all="ignore"):
        z, weights = _panel_rule(mean, math.sqrt(var), act.kinks)
        f = np.asarray(act.f(z, **params), dtype=float)
        g = np.asarray(act.df(z, **params), dtype=float)
        return float((weights * f).sum()), float((weights * (f * f)).sum()), float((weights * (g * g)).sum())


# ---------------------------------------------------------------------------
# the per-layer recursion
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VariancePrediction:
    """Per-layer statistics that the mean-field recursion predicts.

    Every array has shape ``(L,)``, L = number of hidden layers; index 0 is
    hidden layer 1 (nearest the input), index L - 1 the last hidden layer.
    Variances are per unit and per example (the variance over examples and
    units that a measurement pools), in squared units of the quantity.

    Attributes
    ----------
    widths : tuple of int
        ``(n_0, n_1, ..., n_L)``: input features, then hidden widths.
    activation : str
    activation_params : dict
    weight_var, bias_var : ndarray (L,)
        Var(W^l_ij) and Var(b^l_j) used for each layer.
    z_mean, z_var : ndarray (L,)
        Mean (= bias_mean) and variance q^l of the pre-activation z^l.
    a_mean, a_second_moment, a_var : ndarray (L,)
        E[phi(z^l)], E[phi(z^l)^2], and Var(phi(z^l)) = E[phi^2] - E[phi]^2.
    grad_second_moment : ndarray (L,)
        E[phi'(z^l)^2].
    da_var, dz_var : ndarray (L,)
        Var(dL/da^l) and Var(dL/dz^l) (both have mean 0).
    grad_gain : ndarray (L,)
        n_l Var(W^l) E[phi'(z^l)^2] = Var(dL/da^{l-1}) / Var(dL/da^l): the
        per-layer factor of the backward pass (chi_1 of Schoenholz et al. 2017).
    input_grad_var : float
        Var(dL/dx) = n_1 Var(W^1) Var(dL/dz^1), the gradient reaching the input.
    """

    widths: tuple
    activation: str
    activation_params: dict
    weight_var: np.ndarray
    bias_var: np.ndarray
    z_mean: np.ndarray
    z_var: np.ndarray
    a_mean: np.ndarray
    a_second_moment: np.ndarray
    a_var: np.ndarray
    grad_second_moment: np.ndarray
    da_var: np.ndarray
    dz_var: np.ndarray
    grad_gain: np.ndarray
    input_grad_var: float
    layer: np.ndarray = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "layer", np.arange(1, len(self.widths)))

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return len(self.widths) - 1

    def as_dict(self) -> dict:
        """All fields as a plain dict (arrays are not copied)."""
        return asdict(self)


def _per_layer(name: str, value, n_layers: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float) if not isinstance(value, (str, bytes)) else None
    if arr is None or arr.ndim > 1:
        raise TypeError(
            f"{name} must be a number or a sequence of {n_layers} numbers (one per hidden layer); got {value!r}"
        )
    if arr.ndim == 0:
        arr = np.full(n_layers, float(arr))
    elif arr.shape[0] != n_layers:
        raise ValueError(
            f"{name} must have one entry per hidden layer ({n_layers}, from widths); got {arr.shape[0]}: {value!r}"
        )
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(~(np.isfinite(arr) & (arr >= 0)))
    if bad.size:  # name the first entry that is not finite and >= 0
        check_nonneg(f"{name}[{bad[0]}]", float(arr[bad[0]]))
    return arr


def _check_widths(widths) -> tuple:
    """``widths`` as a tuple of positive ints, or raise naming the first bad entry."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence | np.ndarray):
        raise TypeError(
            f"widths must be a sequence [n_0, n_1, ..., n_L] (input features, then hidden widths); got {widths!r}"
        )
    if len(widths) < 2:
        raise ValueError(
            f"widths must list the input features and at least one hidden layer, [n_0, n_1, ...]; got {widths!r}"
        )
    if all(type(w) is int and w > 0 for w in widths):  # the common case, without a check per layer
        return tuple(widths)
    return tuple(check_positive_int(f"widths[{i}]", w) for i, w in enumerate(widths))


def init_weight_variances(
    widths: Sequence[int],
    init: str,
    gain: float = 1.0,
    weight_scale: float = 1.0,
    **init_kwargs,
) -> np.ndarray:
    """Var(W^l_ij) of every hidden layer for initializer ``init``.

    ``weight_variance(init, n_{l-1}, n_l, gain, **init_kwargs) * weight_scale**2``
    (see :func:`gradviz.init.weight_variance`); ``weight_scale`` multiplies
    the weights after drawing, as ``Dense(weight_scale=...)`` does.

    Parameters
    ----------
    widths : sequence of int
        ``[n_0, n_1, ..., n_L]``.
    init : str
        Initializer name (aliases accepted).
    gain, weight_scale : float >= 0
    **init_kwargs
        ``mode``, ``negative_slope``, ``std``, ``limit`` of
        :func:`gradviz.init.weight_variance`.

    Returns
    -------
    ndarray of shape (L,)

    Raises
    ------
    ValueError, TypeError
        Bad widths or initializer arguments.
    """
    widths = _check_widths(widths)
    weight_scale = check_nonneg("weight_scale", weight_scale)
    per_shape = {}  # a deep network repeats its layer shapes: ask the initializer once per shape
    for shape in zip(widths[:-1], widths[1:]):
        if shape not in per_shape:
            per_shape[shape] = weight_variance(init, *shape, gain, **init_kwargs) * weight_scale**2
    return np.array([per_shape[shape] for shape in zip(widths[:-1], widths[1:])])


def predict_variances(
    widths: Sequence[int],
    activation: str,
    weight_var,
    bias_var=0.0,
    *,
    input_var: float = 1.0,
    input_mean: float = 0.0,
    bias_mean: float = 0.0,
    output_grad_var: float = 1.0,
    method: str = "auto",
    **activation_params,
) -> VariancePrediction:
    """Per-layer variances of z, a, dL/dz and dL/da that the mean-field recursion predicts.

    For the MLP of the module docstring (hidden layers ``Dense -> activation``)
    probed with inputs of i.i.d. features of mean ``input_mean`` and variance
    ``input_var`` and with an upstream gradient of variance ``output_grad_var``
    injected at the last hidden activation a^L.

    Parameters
    ----------
    widths : sequence of int, length L + 1 >= 2
        ``[n_0, n_1, ..., n_L]``: number of input features, then the width of
        each hidden layer. W^l has shape ``(n_{l-1}, n_l)``.
    activation : str
        Name from :data:`gradviz.activations.ACTIVATIONS`.
    weight_var : float or sequence of L floats, >= 0
        Var(W^l_ij) per hidden layer (e.g. from :func:`init_weight_variances`).
    bias_var : float or sequence of L floats, >= 0
        Var(b^l_j) per hidden layer (0 for a constant bias init).
    input_var, input_mean : float
        Variance (>= 0) and mean of each input feature; E[x^2] = var + mean^2.
    bias_mean : float
        Mean of the biases (a constant bias init c: bias_mean=c, bias_var=0).
        Since the weights have mean 0, it is also the mean of every z^l.
    output_grad_var : float >= 0
        Var(dL/da^L), the variance of the gradient arriving at the last hidden
        activation (1 for a standard-normal probe).
    method : {'auto', 'closed', 'panels', 'hermite'}
        How Gaussian expectations are computed (see :func:`activation_moments`).
    **activation_params
        e.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    VariancePrediction
        Arrays of shape (L,), index 0 = hidden layer 1.

    Raises
    ------
    ValueError
        Bad widths (fewer than 2 entries, non-positive), per-layer sequences of
        the wrong length, negative variances, non-finite means, unknown
        activation or method.
    TypeError
        Non-integer widths or an activation parameter the activation does not take.

    Notes
    -----
    Forward: q^l = n_{l-1} Var(W^l) E[a^{l-1}^2] + bias_var with E[a^0^2] =
    input_var + input_mean^2 (Poole et al. 2016, eq. 3; He et al. 2015,
    eq. 7). Backward: Var(dz^l) = Var(da^l) E[phi'(z^l)^2],
    Var(da^{l-1}) = n_l Var(W^l) Var(dz^l) (Schoenholz et al. 2017, Sec. 4,
    gradient-independence assumption; He et al. 2015, eq. 13 with n_l the
    fan_out). Overflow is not an error: the values become inf (or nan for
    a quadrature at infinite variance) and no RuntimeWarning is raised.

    Examples
    --------
    >>> p = predict_variances([256] * 11, "relu", 2.0 / 256)   # He init
    >>> bool(np.allclose(p.a_second_moment, 1.0))
    True
    >>> p = predict_variances([256] * 11, "relu", 1.0 / 256)   # Glorot (fan_in = fan_out)
    >>> bool(np.allclose(p.a_second_moment, 0.5 ** np.arange(1, 11)))
    True
    """
    widths = _check_widths(widths)
    act = get_activation(activation)
    params = act.params(**activation_params)
    method = check_choice("method", method, ("auto", "closed") + _METHODS)
    if method == "closed" and act.name not in CLOSED_FORM_ACTIVATIONS:
        activation_moments(act.name, method="closed")  # raises, naming the activations that have one
    n_layers = len(widths) - 1
    wv = _per_layer("weight_var", weight_var, n_layers)
    bv = _per_layer("bias_var", bias_var, n_layers)
    input_var = check_nonneg("input_var", input_var)
    input_mean = check_finite("input_mean", input_mean)
    bias_mean = check_finite("bias_mean", bias_mean)
    output_grad_var = check_nonneg("output_grad_var", output_grad_var)

    z_var = np.empty(n_layers)
    a_mean = np.empty(n_layers)
    a2 = np.empty(n_layers)
    a_var = np.empty(n_layers)
    g2 = np.empty(n_layers)
    with np.errstate(all="ignore"):
        prev_second = input_var + input_mean**2
        wv_i, bv_i = wv.tolist(), bv.tolist()  # Python floats: the same arithmetic as numpy scalars, faster
        for i in range(n_layers):
            q = widths[i] * wv_i[i] * prev_second + bv_i[i]
            z_var[i] = q
            if math.isnan(q):
                mom = ActivationMoments(math.nan, math.nan, math.nan)
            else:
                mom = _activation_moments(act, params, bias_mean, q, method)
            a_mean[i], a2[i], g2[i], a_var[i] = mom.mean, mom.second_moment, mom.grad_second_moment, mom.variance
            prev_second = mom.second_moment

        grad_gain = np.array([widths[i + 1] * wv[i] * g2[i] for i in range(n_layers)])
        da_var = np.empty(n_layers)
        dz_var = np.empty(n_layers)
        upstream = output_grad_var
        for i in reversed(range(n_layers)):
            da_var[i] = upstream
            dz_var[i] = upstream * g2[i]
            upstream = widths[i + 1] * wv[i] * dz_var[i]
    return VariancePrediction(
        widths=widths,
        activation=act.name,
        activation_params=params,
        weight_var=wv,
        bias_var=bv,
        z_mean=np.full(n_layers, bias_mean),
        z_var=z_var,
        a_mean=a_mean,
        a_second_moment=a2,
        a_var=a_var,
        grad_second_moment=g2,
        da_var=da_var,
        dz_var=dz_var,
        grad_gain=grad_gain,
        input_grad_var=float(upstream),
    )


# ---------------------------------------------------------------------------
# the fixed point q* and the edge of chaos
# ---------------------------------------------------------------------------


def _scaled_moments(act, params, sigma_w2, sigma_b2, q):
    """(sigma_w^2 E[phi(z)^2] + sigma_b^2, sigma_w^2 E[phi'(z)^2]) for z ~ N(0, q)."""
    mom = _activation_moments(act, params, 0.0, float(q), "auto")
    return sigma_w2 * mom.second_moment + sigma_b2, sigma_w2 * mom.grad_second_moment


def fixed_point_variance(activation: str, sigma_w2: float, sigma_b2: float = 0.0, *, tol: float = 1e-13,
                         q_max: float = 1e6, **activation_params) -> float:
    """The pre-activation variance q* that a deep random network settles at, layer after layer.

    With weights W^l_ij ~ N(0, sigma_w^2 / n) (n = fan_in) and biases
    b^l_j ~ N(0, sigma_b^2), the variance of z^l follows the map

        q^l = sigma_w^2 E[phi(z)^2] + sigma_b^2,    z ~ N(0, q^{l-1})

    (Poole et al. 2016, eq. 3; the recursion of :func:`predict_variances` with
    ``n Var(W) = sigma_w2`` and ``bias_mean = 0``). Its fixed point q* solves
    q* = sigma_w^2 E[phi(sqrt(q*) u)^2] + sigma_b^2, u ~ N(0, 1).

    The root of f(q) = sigma_w^2 E[phi(sqrt(q) u)^2] + sigma_b^2 - q, which is
    positive at q = 0 when sigma_b2 > 0, is bracketed in [0, q_max] by doubling
    or halving from q = 1, then narrowed by regula falsi
    (:func:`_bracketed_root`). With sigma_b2 = 0, q = 0 is always a fixed point
    (a network of zero inputs stays at zero); the nonzero one is returned when
    it exists (for tanh: sigma_w2 > 1), else 0.

    Parameters
    ----------
    activation : str
        A name of :data:`gradviz.activations.ACTIVATIONS` (tanh in chapter 08).
    sigma_w2 : float >= 0
        n Var(W): the weight variance times the fan-in (1 for Glorot with fan_in = fan_out, 2 for He).
    sigma_b2 : float >= 0
        Var(b), the variance of the (mean-zero) biases.
    tol : float > 0
        Tolerance on q* (squared units of z): absolute below q* = 1, relative above.
    q_max : float > 0
        Upper end of the search. If f(q_max) is still positive (an unbounded
        activation whose variance grows without end, e.g. ReLU with
        sigma_w2 > 2), ``inf`` is returned.

    Returns
    -------
    float
        q* >= 0 (inf: no finite fixed point below q_max).

    Raises
    ------
    ValueError, TypeError
        Unknown activation, negative variances, non-positive tol or q_max.
    """
    act = get_activation(activation)
    params = act.params(**activation_params)
    sigma_w2 = check_nonneg("sigma_w2", sigma_w2)
    sigma_b2 = check_nonneg("sigma_b2", sigma_b2)
    tol = check_positive("tol", tol)
    q_max = check_positive("q_max", q_max)
    return _fixed_point(act.name, tuple(sorted(params.items())), sigma_w2, sigma_b2, tol, q_max)


def _bracketed_root(f, lo, hi, f_lo, f_hi, tol):
    """A root of ``f`` in [lo, hi], given f(lo) = f_lo > 0 >= f_hi = f(hi): the middle of a bracket narrowed to
    ``tol`` (1 + lo), as bisection gives, in a fraction of its evaluations.

    Regula falsi with the Anderson-Bjorck weights (Anderson & Bjorck 1973, "A new high order method of regula
    falsi type for computing a root of an equation", BIT 13): the next point is where the chord between the
    bracket's ends crosses 0; when the same end is kept twice in a row its value is scaled down by
    m = 1 - f(new) / f(replaced end) (by 1/2 if m <= 0, the Illinois rule), so that both ends converge instead
    of one staying put. A point that rounding puts outside the open bracket is replaced by the middle; a point
    where f is exactly 0 is returned.
    """
    if f_hi == 0:
        return hi
    kept = 0  # +1: the low end was kept at the last step, -1: the high end
    while hi - lo > tol * (1.0 + lo):
        x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        if not lo < x < hi:
            x = 0.5 * (lo + hi)
        fx = f(x)
        if fx == 0:
            return x
        if fx > 0:
            if kept < 0:  # the high end is kept again
                m = 1.0 - fx / f_lo
                f_hi *= m if m > 0 else 0.5
            lo, f_lo, kept = x, fx, -1
        else:
            if kept > 0:
                m = 1.0 - fx / f_hi
                f_lo *= m if m > 0 else 0.5
            hi, f_hi, kept = x, fx, 1
    return 0.5 * (lo + hi)


@lru_cache(maxsize=512)
def _fixed_point(name, params, sigma_w2, sigma_b2, tol, q_max):
    """:func:`fixed_point_variance` of checked arguments (``params``: the activation's, as sorted items), cached:
    an explorer asks for q* and then for chi_1 (:func:`chi_1`) at the same point."""
    act, params = get_activation(name), dict(params)

    def f(q):
        return _scaled_moments(act, params, sigma_w2, sigma_b2, q)[0] - q

    with np.errstate(all="ignore"):
        lo = 0.0
        if sigma_b2 == 0.0:
            # q = 0 is a root; look for a positive one: f > 0 just above 0 iff the map stretches small q
            lo = min(tol, q_max / 2)
        f_lo = f(lo)  # with sigma_b2 > 0: f(0) = sigma_w2 phi(0)^2 + sigma_b2 > 0
        if not f_lo > 0:
            return 0.0
        # bracket the root from q = 1, by doubling (a bounded phi has q* <= sigma_w2 sup phi^2 + sigma_b2) or halving
        hi = min(1.0, q_max)
        f_hi = f(hi)
        while f_hi > 0:
            if hi >= q_max:
                return math.inf
            lo, f_lo = hi, f_hi
            hi = min(2.0 * hi, q_max)
            f_hi = f(hi)
        while 0.5 * hi > lo:
            f_half = f(0.5 * hi)
            if f_half > 0:
                lo, f_lo = 0.5 * hi, f_half
                break
            hi, f_hi = 0.5 * hi, f_half
        return _bracketed_root(f, lo, hi, f_lo, f_hi, tol)


def chi_1(activation: str, sigma_w2: float, sigma_b2: float = 0.0, **activation_params) -> float:
    """chi_1 = sigma_w^2 E[phi'(sqrt(q*) u)^2], u ~ N(0, 1): the per-layer factor of the gradient's variance.

    The backward factor ``grad_gain`` of :func:`predict_variances` (chapter 07)
    evaluated at the fixed point q* of :func:`fixed_point_variance`, i.e. deep
    inside a network, where every layer sees the same q*. Schoenholz et al.
    (2017), "Deep information propagation", Sec. 3 and 4: chi_1 < 1 is the
    ordered phase (gradients vanish towards the input), chi_1 > 1 the chaotic
    phase (they explode), chi_1 = 1 the edge of chaos.

    Parameters and errors as :func:`fixed_point_variance`.

    Returns
    -------
    float
        chi_1 >= 0 (inf when q* is infinite and the slope does not fade).
    """
    act = get_activation(activation)
    params = act.params(**activation_params)
    q = fixed_point_variance(act.name, sigma_w2, sigma_b2, **params)
    with np.errstate(all="ignore"):
        if math.isinf(q):
            mom = _activation_moments(act, params, 0.0, math.inf, "auto")
            return check_nonneg("sigma_w2", sigma_w2) * mom.grad_second_moment
        return _scaled_moments(act, params, sigma_w2, sigma_b2, q)[1]


def edge_of_chaos(activation: str, q_star: float, **activation_params) -> tuple:
    """The point (sigma_w^2, sigma_b^2) of the edge of chaos whose fixed point is ``q_star``.

    The two conditions q* = sigma_w^2 E[phi(sqrt(q*) u)^2] + sigma_b^2 (the
    fixed point, :func:`fixed_point_variance`) and
    1 = sigma_w^2 E[phi'(sqrt(q*) u)^2] (chi_1 = 1, :func:`chi_1`) are linear in
    sigma_w^2 and sigma_b^2 once q* is fixed, so

        sigma_w^2 = 1 / E[phi'(sqrt(q*) u)^2],    sigma_b^2 = q* - sigma_w^2 E[phi(sqrt(q*) u)^2].

    Running q* from 0 upwards draws the critical line of the phase diagram
    (for tanh it starts at (1, 0)). A negative sigma_b^2 means that no bias
    variance puts this q* on the edge.

    Parameters
    ----------
    activation : str
    q_star : float >= 0
        Variance of the pre-activations at the fixed point.

    Returns
    -------
    (float, float)
        sigma_w^2 (inf where E[phi'^2] = 0) and sigma_b^2.

    Raises
    ------
    ValueError, TypeError
        Unknown activation or parameter, negative ``q_star``.
    """
    act = get_activation(activation)
    params = act.params(**activation_params)
    q = check_nonneg("q_star", q_star)
    mom = _activation_moments(act, params, 0.0, q, "auto")
    if mom.grad_second_moment == 0.0:
        return math.inf, -math.inf
    sigma_w2 = 1.0 / mom.grad_second_moment
    return sigma_w2, q - sigma_w2 * mom.second_moment


def critical_weight_variance(activation: str, sigma_b2: float = 0.0, *, q_max: float = 1e4, tol: float = 1e-12,
                             **activation_params) -> float:
    """The sigma_w^2 at which chi_1 = 1 for bias variance ``sigma_b2``: the edge of chaos.

    A root search on q* in [0, q_max] (:func:`_bracketed_root`) for the point
    of :func:`edge_of_chaos` whose sigma_b^2 is ``sigma_b2`` (for tanh,
    sigma_b^2 grows with q* along the line). Smaller weight variances are in
    the ordered phase (chi_1 < 1, the gradient vanishes), larger ones in the
    chaotic phase (chi_1 > 1, it explodes): Schoenholz et al. (2017), Sec. 3; Poole et al. (2016) draw the
    line for tanh. For tanh with sigma_b2 = 0 it is 1 (q* = 0, tanh'(0) = 1).

    Returns
    -------
    float
        sigma_w^2 on the edge of chaos.

    Raises
    ------
    ValueError
        If no q* in [0, q_max] reaches ``sigma_b2``, or for bad arguments.
    """
    sigma_b2 = check_nonneg("sigma_b2", sigma_b2)
    q_max = check_positive("q_max", q_max)
    tol = check_positive("tol", tol)
    if edge_of_chaos(activation, q_max, **activation_params)[1] < sigma_b2:
        raise ValueError(f"sigma_b2={sigma_b2!r} is beyond the edge of chaos for q* up to q_max={q_max:g}: "
                         "raise q_max")

    def short_of_target(q):  # > 0 while the edge's sigma_b^2 at q* = q is below sigma_b2
        return sigma_b2 - edge_of_chaos(activation, q, **activation_params)[1]

    lo, hi = 0.0, q_max
    f_lo, f_hi = short_of_target(lo), short_of_target(hi)
    q = lo if not f_lo > 0 else _bracketed_root(short_of_target, lo, hi, f_lo, f_hi, tol)
    return edge_of_chaos(activation, q, **activation_params)[0]
