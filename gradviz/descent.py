"""Batch gradient descent on the convex cost of a one-feature linear regression.

The math of chapter 01. The model is ``y_hat = w * x + b``; the cost is the
package's mean squared error (:func:`gradviz.losses.mean_squared_error`)::

    J(w, b) = (1 / (2 N)) * sum_i (w x_i + b - y_i)^2

Written with the design matrix ``A = [x, 1]`` (shape (N, 2): the feature and a
column of ones for the bias) and ``theta = (w, b)``::

    J(theta)      = (1 / (2N)) ||A theta - y||^2
    grad J(theta) = (1 / N) A^T (A theta - y)
    H             = (1 / N) A^T A = [[mean x^2, mean x], [mean x, 1]]

``H`` (the Hessian) is constant: ``J`` is a quadratic bowl, and convex because
``H`` is positive semi-definite. Note the convention: with the factor 1/2 in
the cost the Hessian is ``(1/N) A^T A``. Texts that write the cost without it,
``(1/N) ||A theta - y||^2``, get ``H = (2/N) A^T A`` and every critical
learning rate below halves; the two are the same algorithm with ``lr``
rescaled by 2.

Gradient descent ``theta_{t+1} = theta_t - lr * grad J(theta_t)`` on this
bowl moves the offset from the minimum ``theta*`` by a fixed matrix::

    theta_{t+1} - theta* = (I - lr H) (theta_t - theta*)

so along each eigenvector ``v_i`` of ``H`` (eigenvalue ``lambda_i > 0``) the
offset is multiplied by ``1 - lr lambda_i`` at every step. Hence (LeCun,
Bottou, Orr and Mueller, "Efficient BackProp", 1998, section 5; Goodfellow,
Bengio and Courville, *Deep Learning*, 2016, section 4.3.1):

- ``lr < 1 / lambda_max``: every factor is in (0, 1): the path slides
  monotonically to the minimum; slowly if ``lr`` is small (it *crawls*);
- ``lr = 1 / lambda_max``: the largest rate with no overshoot (the steepest
  direction is solved in one step);
- ``1 / lambda_max < lr < 2 / lambda_max``: the steepest direction's factor
  is in (-1, 0): the path overshoots the minimum at every step and still
  converges (it *oscillates*);
- ``lr > 2 / lambda_max``: that factor is below -1: the offset grows
  geometrically and the cost with it (it *diverges*), until float64
  overflows.

Overflow is part of the lesson: a diverging run stops at the first step whose
parameters or cost are not finite, records that step, and emits no warning.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._validate import check_array_2d, check_choice, check_finite, check_positive, check_positive_int

__all__ = [
    "REGIMES",
    "mse_cost",
    "mse_gradient",
    "cost_grid",
    "least_squares",
    "hessian",
    "CriticalRates",
    "critical_learning_rates",
    "DescentRun",
    "gradient_descent",
    "RunClass",
    "classify_run",
    "LearningRateSweep",
    "sweep_learning_rates",
]

#: The four regimes a run is classified into, in order of increasing learning rate.
REGIMES = ("crawls", "converges", "oscillates", "diverges")


# ----------------------------------------------------------------------------- checks


def _check_data(X, y) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as float64 (N, 1) and ``y`` as float64 (N,), or raise."""
    X = check_array_2d("X", X, n_features=1).astype(np.float64, copy=False)
    y_arr = np.asarray(y)
    if not np.issubdtype(y_arr.dtype, np.number) or np.issubdtype(y_arr.dtype, np.complexfloating):
        raise TypeError(f"y must be a real numeric array; got dtype {y_arr.dtype}")
    if y_arr.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) (one target per row of X); got shape {y_arr.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y_arr))):
        raise ValueError("X and y must hold only finite values")
    return X, y_arr.astype(np.float64, copy=False)


def _check_point(name: str, point) -> tuple[float, float]:
    try:
        w, b = point
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (w, b); got {point!r}") from None
    return check_finite(f"{name}[0]", w), check_finite(f"{name}[1]", b)


def _design(X: np.ndarray) -> np.ndarray:
    """The design matrix A = [x, 1], shape (N, 2)."""
    return np.column_stack([X[:, 0], np.ones(X.shape[0])])


# ----------------------------------------------------------------------------- cost and gradient


def mse_cost(w, b, X, y):
    """The cost ``J(w, b) = (1/2N) sum_i (w x_i + b - y_i)^2``, broadcast over ``w`` and ``b``.

    The same convention as :func:`gradviz.losses.mean_squared_error` (half the
    mean squared residual), so for scalars the two agree.

    Parameters
    ----------
    w, b : float or array_like
        Slope and intercept; any two shapes that broadcast together (e.g. the
        two arrays of ``numpy.meshgrid`` for a contour plot).
    X : array_like, shape (N, 1)
        Inputs.
    y : array_like, shape (N,)
        Targets.

    Returns
    -------
    float or ndarray
        Cost in squared units of ``y``, with the broadcast shape of ``w`` and
        ``b`` (a float for scalars). ``inf``/``nan`` where the residuals
        overflow float64 (no warning is emitted).

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not (N, 1), ``y`` is not (N,), or either holds non-finite values.
    """
    X, y = _check_data(X, y)
    w_arr, b_arr = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    x = X[:, 0]
    with np.errstate(all="ignore"):
        resid = w_arr[..., None] * x + b_arr[..., None] - y  # (..., N)
        cost = 0.5 * np.mean(resid * resid, axis=-1)
    return float(cost) if cost.ndim == 0 else cost


def mse_gradient(w, b, X, y) -> tuple[float, float]:
    """Gradient of :func:`mse_cost` at one point ``(w, b)``.

    ::

        dJ/dw = (1/N) sum_i (w x_i + b - y_i) x_i
        dJ/db = (1/N) sum_i (w x_i + b - y_i)

    Parameters
    ----------
    w, b : float
        The point.
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)

    Returns
    -------
    (float, float)
        ``(dJ/dw, dJ/db)``, in units of the cost per unit of ``w`` and ``b``.
        Non-finite when the residuals overflow (no warning).

    Raises
    ------
    TypeError, ValueError
        As for :func:`mse_cost`, or if ``w``/``b`` is not a real number.
    """
    X, y = _check_data(X, y)
    w, b = _check_real_or_nonfinite("w", w), _check_real_or_nonfinite("b", b)
    x, n = X[:, 0], X.shape[0]
    with np.errstate(all="ignore"):
        resid = w * x + b - y  # the same expressions as in gradient_descent's loop
        return float(resid @ x) / n, float(resid.sum()) / n


def _check_real_or_nonfinite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} of type {type(value).__name__}")
    return float(value)


def _cost(w: float, b: float, x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        resid = w * x + b - y
        return 0.5 * float(resid @ resid) / x.shape[0]


def cost_grid(X, y, w_range, b_range, n: int = 121):
    """The cost on a regular ``n`` x ``n`` grid of ``(w, b)``, for a contour plot.

    Parameters
    ----------
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)
    w_range, b_range : (float, float)
        ``(low, high)`` of the slope and of the intercept, ``low < high``.
    n : int, default 121
        Grid points along each axis, >= 2.

    Returns
    -------
    W, B, J : ndarray, each shape (n, n)
        ``numpy.meshgrid(w, b)`` (``W[i, j] = w_j``, ``B[i, j] = b_i``) and the
        cost there, ready for ``ax.contour(W, B, J)``.

    Raises
    ------
    TypeError, ValueError
        If a range is not an increasing pair of finite numbers, ``n < 2``, or
        the data are malformed.
    """
    X, y = _check_data(X, y)
    n = check_positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be >= 2 (points per axis); got {n!r}")
    axes = []
    for name, rng in (("w_range", w_range), ("b_range", b_range)):
        low, high = _check_point(name, rng)
        if not low < high:
            raise ValueError(f"{name} must satisfy low < high; got {rng!r}")
        axes.append(np.linspace(low, high, n))
    W, B = np.meshgrid(*axes)
    return W, B, mse_cost(W, B, X, y)


def least_squares(X, y) -> tuple[float, float]:
    """The minimiser ``(w*, b*)`` of the cost, from ``numpy.linalg.lstsq`` on ``A = [x, 1]``.

    Returns
    -------
    (float, float)
        ``(w*, b*)``; the minimum-norm solution if all ``x`` are equal.

    Raises
    ------
    TypeError, ValueError
        If the data are malformed.
    """
    X, y = _check_data(X, y)
    theta = np.linalg.lstsq(_design(X), y, rcond=None)[0]
    return float(theta[0]), float(theta[1])


# ----------------------------------------------------------------------------- curvature


def hessian(X) -> np.ndarray:
    """Hessian of the cost with respect to ``(w, b)``: ``H = (1/N) A^T A`` with ``A = [x, 1]``.

    ::

        H = [[mean(x^2), mean(x)],
             [mean(x),   1      ]]

    It does not depend on ``y`` nor on the point: the cost is quadratic. This is
    for the cost with the factor 1/2 (:func:`mse_cost`); without it the
    Hessian would be ``(2/N) A^T A``.

    Parameters
    ----------
    X : array_like, shape (N, 1)

    Returns
    -------
    ndarray, shape (2, 2)
        Symmetric, positive semi-definite (definite unless all ``x`` are equal).

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not a finite (N, 1) array.
    """
    X = check_array_2d("X", X, n_features=1).astype(np.float64, copy=False)
    if not np.all(np.isfinite(X)):
        raise ValueError("X must hold only finite values")
    A = _design(X)
    return A.T @ A / X.shape[0]


@dataclass(frozen=True)
class CriticalRates:
    """The learning rates at which gradient descent on the bowl changes behaviour.

    Attributes
    ----------
    lambda_min, lambda_max : float
        Smallest and largest eigenvalue of the Hessian (curvature of the
        flattest and of the steepest direction of the bowl).
    lr_monotone : float
        ``1 / lambda_max``: the largest rate with no overshoot in any
        direction (and the fastest such rate).
    lr_best : float
        ``2 / (lambda_min + lambda_max)``: the constant rate with the fastest
        worst-case convergence; every offset shrinks at least by the factor
        ``(kappa - 1) / (kappa + 1)`` per step, ``kappa = lambda_max / lambda_min``.
    lr_max : float
        ``2 / lambda_max``: gradient descent converges from every start iff
        ``lr < lr_max``; above it, it diverges.
    condition_number : float
        ``kappa = lambda_max / lambda_min`` (``inf`` if ``lambda_min`` is 0).
    """

    lambda_min: float
    lambda_max: float
    lr_monotone: float
    lr_best: float
    lr_max: float
    condition_number: float

    def __str__(self) -> str:
        return (
            f"Hessian eigenvalues {self.lambda_min:.3g}, {self.lambda_max:.3g}: "
            f"no overshoot up to lr = 1/lambda_max = {self.lr_monotone:.3g}; "
            f"converges iff lr < 2/lambda_max = {self.lr_max:.3g}"
        )


def critical_learning_rates(X) -> CriticalRates:
    """The critical learning rates of gradient descent on the cost, from the Hessian's eigenvalues.

    With ``theta_{t+1} - theta* = (I - lr H)(theta_t - theta*)``, the offset
    along the eigenvector of eigenvalue ``lambda`` is multiplied by
    ``1 - lr lambda`` per step. It shrinks iff ``|1 - lr lambda| < 1``, i.e.
    ``0 < lr < 2 / lambda``, and keeps its sign iff ``lr <= 1 / lambda``.
    The steepest direction (``lambda_max``) sets both limits (LeCun, Bottou,
    Orr and Mueller, "Efficient BackProp", 1998, section 5; Goodfellow,
    Bengio and Courville, 2016, section 4.3.1). The best constant rate
    ``2 / (lambda_min + lambda_max)`` balances the flattest and the steepest
    direction (Nesterov, *Introductory Lectures on Convex Optimization*, 2004, Theorem 2.1.15).

    Parameters
    ----------
    X : array_like, shape (N, 1)

    Returns
    -------
    CriticalRates

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not a finite (N, 1) array.
    """
    lam = np.linalg.eigvalsh(hessian(X))  # ascending
    lam_min, lam_max = max(float(lam[0]), 0.0), float(lam[1])
    return CriticalRates(
        lambda_min=lam_min,
        lambda_max=lam_max,
        lr_monotone=1.0 / lam_max,
        lr_best=2.0 / (lam_min + lam_max),
        lr_max=2.0 / lam_max,
        condition_number=lam_max / lam_min if lam_min > 0 else float("inf"),
    )


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class DescentRun:
    """The trajectory of one run of batch gradient descent.

    Attributes
    ----------
    params : ndarray, shape (T + 1, 2)
        ``(w, b)`` before the first step (row 0) and after each step. ``T`` is
        ``n_steps``, or ``overflow_step - 1`` if the run overflowed.
    cost : ndarray, shape (T + 1,)
        The cost at each row of ``params``; all finite.
    lr : float
        The learning rate.
    n_steps : int
        The number of steps asked for.
    overflow_step : int or None
        The step at which a parameter or the cost stopped being a finite
        float64 number (the run stops there, and that step is not stored);
        ``None`` if every step stayed finite.
    """

    params: np.ndarray
    cost: np.ndarray
    lr: float
    n_steps: int
    overflow_step: int | None

    @property
    def w(self) -> np.ndarray:
        """The slope at each stored step, shape (T + 1,)."""
        return self.params[:, 0]

    @property
    def b(self) -> np.ndarray:
        """The intercept at each stored step, shape (T + 1,)."""
        return self.params[:, 1]

    @property
    def steps(self) -> np.ndarray:
        """The step numbers 0..T of the stored rows."""
        return np.arange(self.cost.shape[0])


def gradient_descent(X, y, lr, n_steps: int = 50, start=(-1.5, 2.5)) -> DescentRun:
    """Batch gradient descent on :func:`mse_cost` from ``start``.

    ``(w, b) <- (w, b) - lr * grad J(w, b)`` with the full-batch gradient
    (:func:`mse_gradient`), ``n_steps`` times. Deterministic: no randomness.

    If a parameter or the cost becomes ``inf``/``nan`` (a diverging run
    overflowing float64), the run stops at that step and records it in
    ``overflow_step``; no ``RuntimeWarning`` is emitted.

    Parameters
    ----------
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)
    lr : float
        Learning rate, > 0 and finite.
    n_steps : int, default 50
        Number of steps, >= 1.
    start : (float, float), default (-1.5, 2.5)
        The initial ``(w, b)``.

    Returns
    -------
    DescentRun

    Raises
    ------
    TypeError, ValueError
        If ``lr`` is not a positive finite number, ``n_steps`` is not an
        integer >= 1, ``start`` is not a pair of finite numbers (or its cost
        overflows), or the data are malformed.
    """
    X, y = _check_data(X, y)
    lr = check_positive("lr", lr)
    n_steps = check_positive_int("n_steps", n_steps)
    w, b = _check_point("start", start)
    x = X[:, 0]
    n = x.shape[0]
    params = np.empty((n_steps + 1, 2))
    cost = np.empty(n_steps + 1)
    overflow_step = None
    last = n_steps
    with np.errstate(all="ignore"):  # overflow is reported below, not warned about
        for t in range(n_steps + 1):
            resid = w * x + b - y  # one residual per step gives both the cost and the gradient
            c = 0.5 * float(resid @ resid) / n
            if not (np.isfinite(w) and np.isfinite(b) and np.isfinite(c)):
                if t == 0:
                    raise ValueError(f"start={start!r} gives a cost that is not a finite float64 number")
                overflow_step, last = t, t - 1
                break
            params[t] = w, b
            cost[t] = c
            if t < n_steps:
                dw, db = float(resid @ x) / n, float(resid.sum()) / n
                w, b = w - lr * dw, b - lr * db
    return DescentRun(
        params=params[: last + 1].copy(),
        cost=cost[: last + 1].copy(),
        lr=lr,
        n_steps=n_steps,
        overflow_step=overflow_step,
    )


# ----------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class RunClass:
    """What a run did, as decided by :func:`classify_run`.

    Attributes
    ----------
    regime : str
        One of :data:`REGIMES`: 'crawls', 'converges', 'oscillates', 'diverges'.
    excess_ratio : float
        ``(J_T - J*) / (J_0 - J*)``: the excess cost left at the last stored
        step, as a fraction of the excess at the start (``inf`` after an overflow).
    flip_fraction : float
        The largest, over the two principal axes of the bowl, fraction of steps
        at which the offset from the minimum changed sign (0 if none could be
        measured).
    diverged_at : int or None
        For a diverging run, the first step whose cost exceeded the starting
        cost (or the overflow step if no stored step did); else None.
    overflow_step : int or None
        Copied from the run.
    lr : float
    n_steps : int
    """

    regime: str
    excess_ratio: float
    flip_fraction: float
    diverged_at: int | None
    overflow_step: int | None
    lr: float
    n_steps: int

    def __str__(self) -> str:
        head = f"lr = {self.lr:.3g}, {self.n_steps} steps: {self.regime}"
        if self.regime == "diverges":
            text = f"{head} (cost above its starting value from step {self.diverged_at}"
            if self.overflow_step is not None:
                text += f"; overflowed float64 at step {self.overflow_step}, run stopped there"
            return text + ")"
        detail = f"excess cost left: {self.excess_ratio:.2g} of the start"
        if self.regime == "oscillates":
            detail += f"; overshoots the minimum at {self.flip_fraction:.0%} of the steps"
        return f"{head} ({detail})"


def classify_run(run: DescentRun, X, y, tol: float = 1e-3) -> RunClass:
    """Say whether a run crawled, converged, oscillated or diverged.

    Let ``theta*`` be the least-squares solution, ``J*`` its cost, and
    ``e_t = J(theta_t) - J*`` the excess cost at step ``t`` (``T`` = last
    stored step; excesses within ``8 eps J*`` of 0 count as 0). The rules,
    checked in this order:

    1. **diverges** if the run overflowed, or ``e_T > e_0`` (it ended further
       from the minimum, in cost, than it started);
    2. **oscillates** if, along one of the two principal axes of the bowl (the
       eigenvectors ``v_i`` of the Hessian), the offset
       ``u_t = v_i . (theta_t - theta*)`` changed sign at half or more of the
       steps. Only steps where both ``|u_t|`` and ``|u_{t+1}|`` exceed
       ``1e-9 * max(|theta_0 - theta*|, |theta*|)`` count (below that is
       rounding noise);
    3. **converges** if ``e_T <= tol * e_0`` (the excess cost fell by a factor
       ``1 / tol`` or more within the run's ``n_steps``);
    4. **crawls** otherwise: it moved towards the minimum monotonically but too
       slowly to get there within the steps given.

    For gradient descent on this quadratic, ``u_{t+1} = (1 - lr lambda_i) u_t``
    exactly, so rule 2 fires iff ``lr > 1 / lambda_max`` (given a start with a
    component along ``v_max``), and rule 1 iff ``lr > 2 / lambda_max`` (given
    enough steps); see :func:`critical_learning_rates`. 'crawls' versus
    'converges' depends on the step budget: more steps turn a crawl into
    convergence.

    Parameters
    ----------
    run : DescentRun
        From :func:`gradient_descent` on the same ``X``, ``y``.
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)
    tol : float, default 1e-3
        Fraction of the starting excess cost that counts as "arrived", in (0, 1).

    Returns
    -------
    RunClass

    Raises
    ------
    TypeError
        If ``run`` is not a DescentRun.
    ValueError
        If ``tol`` is not in (0, 1), or the data are malformed.
    """
    if not isinstance(run, DescentRun):
        raise TypeError(f"run must be a DescentRun (from gradient_descent); got {type(run).__name__}")
    X, y = _check_data(X, y)
    tol = check_positive("tol", tol)
    if tol >= 1:
        raise ValueError(f"tol must lie in (0, 1); got {tol!r}")
    x = X[:, 0]
    w_opt, b_opt = least_squares(X, y)
    j_opt = _cost(w_opt, b_opt, x, y)
    # Excess costs within rounding of J* count as 0 (the cost is only known to ~eps * J*).
    excess = run.cost - j_opt
    excess[excess <= 8 * np.finfo(float).eps * max(j_opt, np.finfo(float).tiny)] = 0.0
    e0, eT = excess[0], excess[-1]
    if e0 > 0:
        excess_ratio = float(eT / e0)
    else:
        excess_ratio = 0.0 if eT == 0 else float("inf")
    if run.overflow_step is not None:
        excess_ratio = float("inf")

    # Sign changes of the offset along each principal axis of the bowl.
    _, vecs = np.linalg.eigh(hessian(X))
    offset = run.params - np.array([w_opt, b_opt])  # (T+1, 2)
    u = offset @ vecs  # column i: offset along v_i
    floor = 1e-9 * max(float(np.linalg.norm(offset[0])), float(np.hypot(w_opt, b_opt)), 1e-300)
    flip_fraction = 0.0
    for i in range(u.shape[1]):
        a, c = u[:-1, i], u[1:, i]
        counted = (np.abs(a) > floor) & (np.abs(c) > floor)
        if counted.any():
            flip_fraction = max(flip_fraction, float(np.mean(a[counted] * c[counted] < 0)))

    diverged_at = None
    if run.overflow_step is not None or eT > e0:
        regime = "diverges"
        above = np.flatnonzero(excess > e0)
        diverged_at = int(above[0]) if above.size else run.overflow_step
    elif flip_fraction >= 0.5:
        regime = "oscillates"
    elif excess_ratio <= tol:
        regime = "converges"
    else:
        regime = "crawls"
    return RunClass(
        regime=regime,
        excess_ratio=excess_ratio,
        flip_fraction=flip_fraction,
        diverged_at=diverged_at,
        overflow_step=run.overflow_step,
        lr=run.lr,
        n_steps=run.n_steps,
    )


# ----------------------------------------------------------------------------- a sweep over learning rates


@dataclass(frozen=True)
class LearningRateSweep:
    """Runs from the same start at many learning rates, each classified.

    Attributes
    ----------
    lrs : ndarray, shape (K,)
        The learning rates, in the order given.
    classes : tuple of RunClass, length K
    n_steps : int
    """

    lrs: np.ndarray
    classes: tuple
    n_steps: int

    @property
    def regimes(self) -> tuple:
        """The regime of each run, in the order of ``lrs``."""
        return tuple(c.regime for c in self.classes)

    @property
    def excess_ratios(self) -> np.ndarray:
        """``(J_T - J*) / (J_0 - J*)`` of each run, shape (K,) (``inf`` after an overflow)."""
        return np.array([c.excess_ratio for c in self.classes], dtype=float)

    def first_lr(self, regime: str) -> float | None:
        """The smallest swept learning rate classified as ``regime`` (None if none was)."""
        regime = check_choice("regime", regime, REGIMES)
        hits = [lr for lr, r in zip(self.lrs, self.regimes) if r == regime]
        return float(min(hits)) if hits else None


def sweep_learning_rates(X, y, lrs, n_steps: int = 50, start=(-1.5, 2.5), tol: float = 1e-3) -> LearningRateSweep:
    """Run :func:`gradient_descent` at each learning rate of ``lrs`` and classify each run.

    Parameters
    ----------
    X : array_like, shape (N, 1)
    y : array_like, shape (N,)
    lrs : array_like of float, shape (K,)
        Learning rates, each > 0 and finite.
    n_steps, start, tol
        As for :func:`gradient_descent` and :func:`classify_run`.

    Returns
    -------
    LearningRateSweep

    Raises
    ------
    TypeError, ValueError
        As for :func:`gradient_descent`; also if ``lrs`` is empty or not 1-D.
    """
    lr_arr = np.asarray(lrs, dtype=float)
    if lr_arr.ndim != 1 or lr_arr.size == 0:
        raise ValueError(f"lrs must be a non-empty 1-D sequence of learning rates; got shape {lr_arr.shape}")
    classes = tuple(
        classify_run(gradient_descent(X, y, float(lr), n_steps=n_steps, start=start), X, y, tol=tol) for lr in lr_arr
    )
    return LearningRateSweep(lrs=lr_arr, classes=classes, n_steps=int(n_steps))
