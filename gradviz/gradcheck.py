"""Finite-difference gradient checks: is a hand-written backward pass right?

A backward pass computes dL/dx from the chain rule. Central differences
estimate the same numbers from the loss alone, one entry of ``x`` at a time:

    dL/dx_i  ~  (L(x + h e_i) - L(x - h e_i)) / (2 h)

where e_i is 1 at entry i and 0 elsewhere. The estimate has two errors: the
truncation error of the formula, O(h^2) times the third derivative, and the
rounding error of the two losses, about eps * S / h, where eps = 2.2e-16 is
float64's machine epsilon and S the size of the terms added up in L. With
h = 1e-6 and numbers of order 1 both are around 1e-10 relative to the
gradient, so a correct backward pass agrees to about 1e-8 and a wrong one is
off by far more. Three rules make the check trustworthy:

- The loss is a **random weighting of the output**, L = sum(R * out) with a
  random R of the output's shape (``R`` is then the upstream gradient
  dL/d(out) to feed the backward pass). Summing the output is not enough: a
  batch-norm layer's output sums to m * beta over the batch whatever x is, so
  every x-gradient of sum(out) is 0, and a wrong backward pass that returns 0
  would pass.
- Compare **entry by entry** (:func:`relative_error`, :func:`relative_errors`): an error measured
  against the largest entry lets a small entry be 100% wrong unnoticed.
- Keep the points **away from kinks**: where a function has a corner (ReLU
  at 0), x - h and x + h can fall on different sides of it and the central
  difference is neither slope. :func:`away_from_kinks` moves such points;
  :func:`numerical_gradient` can also skip the entries that straddle a kink.

Everything runs in float64: in float32 the rounding error alone would be
about 1e-7 * S / h.

Example
-------
>>> import numpy as np
>>> from gradviz import gradcheck
>>> x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
>>> R = np.random.default_rng(0).standard_normal(x.shape)   # random upstream weighting
>>> numeric = gradcheck.numerical_gradient(lambda: np.sum(R * np.tanh(x)), x)
>>> analytic = R * (1 - np.tanh(x) ** 2)                    # the backward pass of tanh
>>> gradcheck.relative_error(analytic, numeric) < 1e-7
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["H", "FLOOR", "EPS", "numerical_gradient", "relative_error", "relative_errors", "rounding_noise",
           "away_from_kinks"]

#: Default finite-difference step.
H = 1e-6
#: float64's machine epsilon, 2.2e-16.
EPS = float(np.finfo(np.float64).eps)
#: Smallest denominator of :func:`relative_error`: the smallest normal float64, 2.2e-308. Below it values
#: are subnormal, with fewer than 53 significant bits, and no relative error means much.
FLOOR = float(np.finfo(np.float64).tiny)
#: Rounding error of one loss evaluation, in units of EPS * loss_scale (see :func:`rounding_noise`).
ROUNDING = 10.0


def _evaluate(f):
    res = f()
    if isinstance(res, tuple):
        loss, sides = res
        return float(loss), (None if sides is None else np.asarray(sides, dtype=bool).copy())
    return float(res), None


def numerical_gradient(f, x, h: float = H, *, richardson: bool = False) -> np.ndarray:
    """Central-difference estimate of the gradient of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is changed **in place**, one entry at a time (x_i + h, then x_i - h),
    and ``f`` is called with no argument: it must read the current contents of
    ``x`` (a closure over ``x``, or a layer that holds ``x`` as a parameter).
    ``x`` is restored exactly afterwards.

    ``f()`` returns the loss, or ``(loss, sides)``: a boolean array telling on
    which side of its kink every kink-sensitive value lies (e.g. ``z > 0`` for
    every pre-activation of a ReLU network). An entry whose x - h and x + h
    give different ``sides`` straddles a kink; its estimate is NaN (skipped
    by :func:`relative_error`).

    Parameters
    ----------
    f : callable () -> float, or () -> (float, bool array)
    x : float64 ndarray, any shape
    h : float > 0
        Step. The error is O(h^2) (truncation) plus about ``rounding_noise(S, h)``.
    richardson : bool
        Combine the steps h and h/2 as (4 D(h/2) - D(h)) / 3 (Richardson's
        extrapolation): the O(h^2) term cancels, leaving O(h^4). Useful when a
        small gradient forces a large h.

    Returns
    -------
    ndarray, shape and dtype of ``x``
        The estimate of dL/dx (NaN where an entry straddles a kink).

    Raises
    ------
    TypeError
        If ``x`` is not a float64 ndarray (finite differences in float32 are too coarse to check anything).
    ValueError
        If ``h`` is not finite and > 0.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x must be a float64 numpy array, changed in place; got "
                        f"{type(x).__name__}{'' if not isinstance(x, np.ndarray) else ' of dtype ' + str(x.dtype)}")
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a finite step > 0; got {h!r}")
    grad = np.empty(x.shape, dtype=np.float64)

    def central(idx, old, step):
        x[idx] = old + step
        f_plus, s_plus = _evaluate(f)
        x[idx] = old - step
        f_minus, s_minus = _evaluate(f)
        x[idx] = old
        if s_plus is not None and not np.array_equal(s_plus, s_minus):
            return np.nan
        return (f_plus - f_minus) / (2.0 * step)

    for idx in np.ndindex(x.shape):
        old = x[idx]
        d = central(idx, old, h)
        if richardson:
            d = (4.0 * central(idx, old, h / 2.0) - d) / 3.0
        grad[idx] = d
    return grad


def relative_errors(analytic, numeric, floor=0.0) -> np.ndarray:
    """Entry-wise relative errors |a_i - n_i| / max(|a_i| + |n_i|, floor); NaN where ``numeric`` is NaN.

    The denominator never drops below :data:`FLOOR` (the smallest normal
    float64), nor below ``floor``: pass the rounding noise of the finite
    difference divided by the tolerance (``rounding_noise(S, h) / tol``) so
    that an entry too small for the finite difference to resolve is held to
    an absolute error of that noise instead of a relative one.

    Parameters
    ----------
    analytic, numeric : arrays of the same shape
        What the backward pass computed, and the estimate of :func:`numerical_gradient`
        (NaN where an entry was skipped at a kink).
    floor : float or array broadcastable to that shape, >= 0

    Returns
    -------
    float64 ndarray, that shape
        Each entry in [0, 1] (0: exact agreement; near 1: wrong by its own size), or NaN if skipped.

    Raises
    ------
    ValueError
        If the shapes differ, or ``analytic`` is not finite where ``numeric`` is not NaN.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic and numeric must have the same shape; got {a.shape} and {n.shape}")
    keep = ~np.isnan(n)
    if not np.isfinite(a[keep]).all():
        raise ValueError("analytic gradient is not finite where the numerical one is")
    denom = np.maximum(np.abs(a) + np.abs(n), np.maximum(np.broadcast_to(floor, a.shape), FLOOR))
    with np.errstate(invalid="ignore"):  # skipped entries: NaN, left as they are
        return np.where(keep, np.abs(a - n) / denom, np.nan)


def relative_error(analytic, numeric, floor=0.0) -> float:
    """Largest entry-wise relative error: max_i |a_i - n_i| / max(|a_i| + |n_i|, floor).

    The maximum of :func:`relative_errors` (see there for ``floor`` and the
    errors raised), over the entries not skipped at a kink; 0 if every entry
    was skipped. About 1e-8 or less for a correct float64 backward pass; near
    1 where an entry is wrong by its own size.
    """
    errs = relative_errors(analytic, numeric, floor)
    return float(np.nanmax(errs)) if not np.isnan(errs).all() else 0.0


def rounding_noise(loss_scale, h: float = H, richardson: bool = False):
    """Bound on the rounding error of a central difference of step ``h``: ROUNDING * EPS * loss_scale / h.

    ``loss_scale`` is the size of the terms added up in the loss, e.g.
    sum(|R * out|) for L = sum(R * out) (a number, or an array for one loss
    per entry). ``richardson``: the bound of :func:`numerical_gradient`'s
    extrapolated estimate, three times larger: (4 D(h/2) - D(h)) / 3 carries
    4/3 of the noise of D(h/2), which is twice that of D(h), plus a third of
    D(h)'s.
    """
    return ROUNDING * EPS * np.asarray(loss_scale, dtype=np.float64) / float(h) * (3.0 if richardson else 1.0)


def away_from_kinks(z, kinks=(0.0,), margin: float = 10 * H) -> np.ndarray:
    """A float64 copy of ``z`` with every entry closer than ``margin`` to a kink moved out to kink +- margin.

    Each moved entry keeps its side of the kink (an entry exactly on it goes
    to the + side). Use it on the points where a function with corners (ReLU
    and its family at 0) is checked, with ``margin`` larger than the step h.
    """
    z = np.array(z, dtype=np.float64, copy=True)
    for k in kinks:
        close = np.abs(z - k) < margin
        z[close] = k + np.where(z[close] >= k, margin, -margin)
    return z
