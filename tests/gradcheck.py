"""Central finite differences for the gradient checks of the engine tests.

Rules (see ../shared PITFALLS: "Testing the math"):

- Everything runs in float64 with central differences
  (f(x + h) - f(x - h)) / (2h). The truncation error is O(h**2), the rounding
  error about eps * S / h, where S = sum |R * out| is the size of the terms
  whose rounding errors add up in the loss. For a gradient array of size g the
  rounding part of the relative error is about eps S / (h g): tiny for h = 1e-6
  and g ~ 1, but a *vanishing* gradient (three leaky-ReLU slopes of 0.01 in a
  row give g ~ 1e-5 with S ~ 1) needs a larger step. :func:`step_for` picks
  h per array so that this rounding part stays below a tenth of the
  tolerance, h in [1e-6, 1e-3]; the tolerance itself is never changed.
- Two error metrics, both must stay below the tolerance:
  * global: max|a - n| / max(|a| + |n|), maxima over all entries (:func:`rel_error`).
    Alone it is blind to small entries: an entry 1e-4 of the largest may be
    100 % wrong and still pass at 1e-6.
  * element-wise: max over entries of |a - n| / max(|a| + |n|, floor)
    (:func:`elementwise_error`). The floor is what float64 can resolve: never
    below the smallest normal float64 (:data:`FLOOR`; subnormals carry fewer
    bits), and for a finite difference never below its rounding noise
    :func:`fd_noise` divided by the tolerance, so that an entry the step cannot
    resolve is held to an absolute error of that noise instead of a relative one.
- The loss is a *random* upstream weighting of the output, L = sum(R * out):
  ``sum(out)`` would be vacuous for batch norm (its output sums to
  batch * sum(beta) whatever x is, so every x-gradient is 0 and any backward
  "passes").
- Kinks (ReLU family at 0): a coordinate whose x - h and x + h put some
  kink-sensitive value on different sides of a kink is *skipped* (returned as
  NaN), never "passed" by loosening the tolerance. The callers report which
  side of 0 every such value sits on; the tests assert that only a small
  fraction of coordinates was skipped, so the check cannot become vacuous.
- Stateful random layers (RReLU, Dropout, AlphaDropout) draw slopes/masks from
  their ``rng``; :func:`freeze_randomness` gives every such layer a generator
  freshly seeded the same way before each evaluation, so the analytic pass and
  every finite-difference evaluation see the same slopes/masks.
"""

from __future__ import annotations

import numpy as np

# The finite difference, the entry-wise error, its rounding noise and the kink guard are the package's own
# (gradviz.gradcheck, which learners use too); this module adds what the engine tests need around them.
from gradviz.gradcheck import EPS, FLOOR, H, ROUNDING, away_from_kinks, numerical_gradient, relative_errors, \
    rounding_noise
# max over entries of |a - n| / max(|a| + |n|, floor), skipped (NaN) entries left out
from gradviz.gradcheck import relative_error as elementwise_error

#: Largest relative error accepted between analytic and numeric gradients.
TOL = 1e-6
#: Largest step :func:`step_for` may choose.
H_MAX = 1e-3
#: Floor of the denominator of the global relative error.
TINY = 1e-30

__all__ = ["H", "TOL", "H_MAX", "TINY", "EPS", "FLOOR", "ROUNDING", "away_from_kinks", "step_for", "rel_error",
           "fd_noise", "elementwise_error", "upstream", "numeric_grad", "assert_close", "random_layers",
           "freeze_randomness", "check_layer", "jitter_params", "check_network"]


def step_for(loss_scale: float, grad_scale: float, tol: float = TOL) -> float:
    """Finite-difference step for a gradient of size ``grad_scale`` of a loss made of terms of total size
    ``loss_scale``: rounding error eps * loss_scale / h at most tol / 10 of grad_scale, h in [H, H_MAX]."""
    if not grad_scale > 0:
        return H
    return float(np.clip(10.0 * EPS * loss_scale / (tol * grad_scale), H, H_MAX))


def rel_error(analytic, numeric) -> float:
    """max|a - n| / max(|a| + |n|, TINY) over the entries where ``numeric`` is not NaN (skipped)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    assert a.shape == n.shape, f"shapes differ: analytic {a.shape}, numeric {n.shape}"
    keep = ~np.isnan(n)
    if not keep.any():
        return 0.0
    a, n = a[keep], n[keep]
    assert np.isfinite(a).all(), "analytic gradient is not finite"
    return float(np.max(np.abs(a - n)) / max(float(np.max(np.abs(a) + np.abs(n))), TINY))


def fd_noise(loss_scale, h: float, extrapolated: bool | None = None):
    """Largest rounding error of a central difference of step ``h`` of a loss whose terms have total size
    ``loss_scale``: :func:`gradviz.gradcheck.rounding_noise`, extrapolated (three times larger) when
    :func:`numeric_grad` extrapolates, i.e. for h > H (``extrapolated=None`` means that rule)."""
    return rounding_noise(loss_scale, h, richardson=float(h) > H if extrapolated is None else extrapolated)


def _worst(analytic, numeric, floor) -> str:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    i = np.unravel_index(int(np.argmax(np.nan_to_num(relative_errors(a, n, floor), nan=-1.0))), a.shape)
    fl = max(float(np.broadcast_to(np.asarray(floor, dtype=np.float64), a.shape)[i]), FLOOR)
    return f"worst entry {tuple(int(k) for k in i)}: analytic {a[i]:.6g}, numeric {n[i]:.6g}, floor {fl:.3g}"


def upstream(shape, rng) -> np.ndarray:
    """A random upstream gradient dL/d(out) = R, i.e. the loss L = sum(R * out)."""
    return rng.standard_normal(shape)


def numeric_grad(f, x: np.ndarray, h: float = H) -> np.ndarray:
    """Central-difference gradient of ``f()`` with respect to the array ``x``, perturbed in place
    (:func:`gradviz.gradcheck.numerical_gradient`: ``f`` may return ``(loss, sides)`` to skip the entries
    that straddle a kink). A step larger than H (chosen for a small gradient, see :func:`step_for`) has a
    larger truncation error, O(h^2); Richardson's extrapolation of h and h/2 cancels it to O(h^4)."""
    return numerical_gradient(f, x, h, richardson=h > H)


def assert_close(analytic, numeric, what: str = "gradient", tol: float = TOL, min_checked: float = 0.75,
                 scale: float | None = None, noise=0.0):
    """Assert rel_error < tol and elementwise_error < tol, and that at most 1 - min_checked of the
    entries were skipped at kinks. Returns the larger of the two errors.

    ``noise``: the rounding error of ``numeric`` (:func:`fd_noise`, a number or an array like the
    entries); the element-wise error uses the floor noise / tol, so an entry below what the finite
    difference resolves must agree to within that noise.

    A gradient that is 0 by structure (the bias of a Dense layer followed by training-mode batch
    norm, which subtracts it again; analytically ~1e-17 of rounding) has no scale of its own: the
    relative error of finite-difference noise against 0 is 1. So when ``scale`` (the largest
    gradient entry of the same loss, over all arrays) is given and the analytic array is
    negligible (max |a| <= tol * scale), the error is measured against that scale instead:
    max |a - n| / scale < tol.
    """
    numeric = np.asarray(numeric)
    if numeric.size:
        checked = float(np.mean(~np.isnan(numeric)))
        assert checked >= min_checked, f"{what}: only {checked:.0%} of the coordinates were away from kinks"
    analytic = np.asarray(analytic, dtype=np.float64)
    floor = np.asarray(noise, dtype=np.float64) / tol
    elem = elementwise_error(analytic, numeric, floor)
    assert elem < tol, (f"{what}: element-wise relative error {elem:.3g} >= {tol:g} "
                        f"({_worst(analytic, numeric, floor)})")
    # scale == 0: the loss does not depend on any parameter (e.g. every ReLU unit dead); then the
    # analytic and numeric gradients must both be 0, which rel_error below checks (against TINY).
    if scale is not None and scale > 0 and analytic.size and np.max(np.abs(analytic)) <= tol * scale:
        diff = np.abs(analytic - numeric)
        err = float(np.nanmax(diff)) / scale if not np.isnan(diff).all() else 0.0
        assert err < tol, f"{what}: negligible gradient, but |analytic - numeric| is {err:.3g} x the gradient scale"
        return max(err, elem)
    err = rel_error(analytic, numeric)
    assert err < tol, f"{what}: relative error {err:.3g} >= {tol:g}"
    return max(err, elem)


def random_layers(layers):
    """The layers among ``layers`` that draw random numbers in training (they have an ``rng``)."""
    return [ly for ly in layers if hasattr(ly, "rng")]


def freeze_randomness(layers, seed: int = 0):
    """Give each random layer a generator seeded with (seed, its position): the same draws every call."""
    for i, ly in enumerate(random_layers(layers)):
        ly.rng = np.random.default_rng([seed, i])


def check_layer(layer, x, training=False, rng=None, kinks=None, params=True, tol: float = TOL):
    """Check dL/dx and dL/d(every param) of a single layer against finite differences.

    ``kinks``: None, or a function of the layer input returning the "sides" array.
    Random layers are re-seeded before every evaluation (:func:`freeze_randomness`).
    Returns a dict name -> relative error (``'x'`` for the input).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.array(x, dtype=np.float64, copy=True)

    def run():
        freeze_randomness([layer])
        out = layer.forward(x, training=training)
        return out

    out = run()
    R = upstream(out.shape, rng)
    dx = layer.backward(R)
    analytic = {"x": dx.copy()}
    if params:
        analytic.update({k: layer.grads[k].copy() for k in layer.params})

    def f():
        loss = float(np.sum(run() * R))
        return (loss, None if kinks is None else kinks(x))

    loss_scale = float(np.sum(np.abs(R * out)))

    def h_for(g):
        return step_for(loss_scale, float(np.max(np.abs(g))) if g.size else 0.0, tol)

    def check(g, arr, what):
        h = h_for(g)
        return assert_close(g, numeric_grad(f, arr, h), what, tol, noise=fd_noise(loss_scale, h))

    errors = {"x": check(analytic["x"], x, "dL/dx")}
    if params:
        for k, p in layer.params.items():
            errors[k] = check(analytic[k], p, f"dL/d{k}")
    return errors


def jitter_params(layers, rng, scale: float = 0.3):
    """Add noise to every parameter except weights (biases, gamma, beta, PReLU slopes).

    Their initial values are special (b = 0, gamma = 1, beta = 0): with b = 0 a ReLU unit whose
    inputs are all 0 has z exactly 0, on the kink, where no finite difference is valid.
    """
    for ly in layers:
        for k, p in ly.params.items():
            if k != "W":
                p += scale * rng.standard_normal(p.shape)


def _kinked(net) -> bool:
    from gradviz.activations import ACTIVATIONS

    if net.activation in ("rrelu", "prelu"):
        return True
    return bool(ACTIVATIONS[net.activation].kinks)


def check_network(net, x, training=False, rng=None, tol: float = TOL, min_checked: float = 0.75,
                  jitter: bool = True):
    """Check dL/dx and dL/d(every parameter of every layer) of an MLP against finite differences.

    The loss is sum(R * net.forward(x)) with a random R. For kinked
    activations the "sides" are ``z > 0`` at every hidden layer (``z`` is the
    activation's input in every block layout), so coordinates whose +-h
    perturbation flips any unit across its kink are skipped. With ``jitter``
    the non-weight parameters are first moved off their initial values
    (:func:`jitter_params`). Returns a dict (label -> relative error).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.array(x, dtype=np.float64, copy=True)
    kinked = _kinked(net) and net.depth > 0
    if jitter:
        jitter_params(net.layers, rng)

    def run():
        freeze_randomness(net.layers)
        return net.forward(x, training=training, record=kinked)

    out = run()
    R = upstream(out.shape, rng)
    dx = net.backward(R)
    analytic = {("x", None): dx.copy()}
    for ly, k in net.parameters():
        analytic[(ly, k)] = ly.grads[k].copy()

    def f():
        out = run()
        sides = np.concatenate([(r["z"] > 0).ravel() for r in net.records]) if kinked else None
        return float(np.sum(out * R)), sides

    scale = max(float(np.max(np.abs(g))) for g in analytic.values() if g.size)
    loss_scale = float(np.sum(np.abs(R * out)))

    def h_for(g):
        # Negligible arrays (checked against `scale`, see assert_close) need no finer resolution than that.
        return step_for(loss_scale, max(float(np.max(np.abs(g))) if g.size else 0.0, tol * scale), tol)

    def check(g, arr, what):
        h = h_for(g)
        return assert_close(g, numeric_grad(f, arr, h), what, tol, min_checked, scale, noise=fd_noise(loss_scale, h))

    errors = {"x": check(analytic[("x", None)], x, "dL/dx")}
    for i, (ly, k) in enumerate(net.parameters()):
        label = f"{i}:{type(ly).__name__}.{k}"
        errors[label] = check(analytic[(ly, k)], ly.params[k], f"dL/d{label}")
    return errors
