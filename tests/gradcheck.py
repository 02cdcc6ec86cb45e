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

#: Finite-difference step.
H = 1e-6
#: Largest relative error accepted between analytic and numeric gradients.
TOL = 1e-6
#: Largest step :func:`step_for` may choose.
H_MAX = 1e-3
#: Floor of the denominator of the global relative error.
TINY = 1e-30
EPS = float(np.finfo(np.float64).eps)
#: Floor of the denominator of the element-wise relative error: the smallest normal float64.
#: Below it values are subnormal, with fewer than 53 significant bits: no relative error means much there.
FLOOR = float(np.finfo(np.float64).tiny)
#: Rounding error of one loss evaluation, in units of eps * loss_scale, allowed for in :func:`fd_noise`.
#: The loss is a sum of rounded products of rounded forward values; measured on every layer and network
#: check of the suite the finite-difference error stays below 2 eps * loss_scale / h.
ROUNDING = 10.0


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
    ``loss_scale`` (a number, or an array for element-wise losses): ROUNDING * eps * loss_scale / h.

    Three times that when the difference is extrapolated, as :func:`numeric_grad` does for h > H
    (``extrapolated=None`` means that rule): (4 D(h/2) - D(h)) / 3 carries 4/3 of the noise of D(h/2),
    which is twice that of D(h), plus a third of D(h)'s.
    """
    h = float(h)
    if extrapolated is None:
        extrapolated = h > H
    return ROUNDING * EPS * np.asarray(loss_scale, dtype=np.float64) / h * (3.0 if extrapolated else 1.0)


def elementwise_error(analytic, numeric, floor=FLOOR) -> float:
    """max over entries of |a - n| / max(|a| + |n|, floor), where ``numeric`` is not NaN (skipped).

    ``floor`` (a number, or an array shaped like the entries) is raised to at least :data:`FLOOR`.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    assert a.shape == n.shape, f"shapes differ: analytic {a.shape}, numeric {n.shape}"
    floor = np.maximum(np.broadcast_to(np.asarray(floor, dtype=np.float64), a.shape), FLOOR)
    keep = ~np.isnan(n)
    if not keep.any():
        return 0.0
    assert np.isfinite(a[keep]).all(), "analytic gradient is not finite"
    err = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)
    return float(np.max(err[keep]))


def _worst(analytic, numeric, floor) -> str:
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    floor = np.maximum(np.broadcast_to(np.asarray(floor, dtype=np.float64), a.shape), FLOOR)
    err = np.where(np.isnan(n), -1.0, np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor))
    i = np.unravel_index(int(np.argmax(err)), a.shape)
    return f"worst entry {tuple(int(k) for k in i)}: analytic {a[i]:.6g}, numeric {n[i]:.6g}, floor {floor[i]:.3g}"


def upstream(shape, rng) -> np.ndarray:
    """A random upstream gradient dL/d(out) = R, i.e. the loss L = sum(R * out)."""
    return rng.standard_normal(shape)


def _evaluate(f):
    res = f()
    if isinstance(res, tuple):
        loss, sides = res
        return float(loss), (None if sides is None else np.asarray(sides, dtype=bool).copy())
    return float(res), None


def numeric_grad(f, x: np.ndarray, h: float = H) -> np.ndarray:
    """Central-difference gradient of ``f`` with respect to the array ``x``, perturbed in place.

    ``f()`` computes the loss from the current contents of ``x`` (a closure over
    ``x``, or over a layer that holds ``x`` as a parameter) and returns either
    the loss or ``(loss, sides)``, where ``sides`` is a boolean array telling on
    which side of its kink every kink-sensitive value lies (e.g. ``z > 0`` for
    every pre-activation of a ReLU network). When ``sides`` differ between
    x - h and x + h the coordinate straddles a kink: its entry is NaN (skipped).
    ``x`` is restored exactly afterwards.
    """
    assert x.dtype == np.float64, "finite differences are only meaningful in float64"
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
        d_h = central(idx, old, h)
        if h > H:
            # A step larger than H (chosen for a small gradient, see step_for) has a larger
            # truncation error, O(h^2); Richardson's extrapolation of h and h/2 cancels it to O(h^4).
            d_h = (4.0 * central(idx, old, h / 2.0) - d_h) / 3.0
        grad[idx] = d_h
    return grad


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


def away_from_kinks(z: np.ndarray, kinks=(0.0,), margin: float = 10 * H) -> np.ndarray:
    """Move every entry of ``z`` closer than ``margin`` to a kink out to kink +- margin (keeps its side)."""
    z = np.array(z, dtype=np.float64, copy=True)
    for k in kinks:
        close = np.abs(z - k) < margin
        z[close] = k + np.where(z[close] >= k, margin, -margin)
    return z


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
