"""Element-wise activation functions and their derivatives.

Every function takes the pre-activation ``z`` (any shape, usually
``(batch, features)``) and returns an array of the same shape. The derivative
functions return d phi / d z evaluated at ``z``. At the kink of a piecewise
function (z = 0 for the ReLU family) the derivative takes the value of the
left piece; frameworks make the same choice for ReLU.

Sources
-------
- sigmoid, tanh: the logistic and hyperbolic tangent; sigma'(z) = sigma(z)(1 - sigma(z)) <= 1/4.
- ReLU: Nair & Hinton (2010); Glorot, Bordes & Bengio (2011).
- Leaky ReLU: Maas, Hannun & Ng (2013), slope ``alpha`` for z < 0.
- ELU: Clevert, Unterthiner & Hochreiter (2016), the definition of the ELU.
- SELU: Klambauer, Unterthiner, Mayr & Hochreiter (2017), eq. 2, with the
  constants alpha_01 and lambda_01 of their eq. 14 given to full double precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._validate import check_choice, check_nonneg, check_probability

__all__ = [
    "SELU_ALPHA",
    "SELU_SCALE",
    "SATURATION_THRESHOLD",
    "Activation",
    "ACTIVATIONS",
    "get_activation",
    "saturation_mask",
    "linear",
    "linear_grad",
    "sigmoid",
    "sigmoid_grad",
    "tanh",
    "tanh_grad",
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "elu",
    "elu_grad",
    "selu",
    "selu_grad",
]

#: alpha_01 of Klambauer et al. (2017), eq. 14.
SELU_ALPHA = 1.6732632423543772848170429916717
#: lambda_01 of Klambauer et al. (2017), eq. 14 (called ``scale`` in Keras and PyTorch).
SELU_SCALE = 1.0507009873554804934193349852946

#: A unit of a saturating activation counts as saturated when its slope is
#: below this fraction of the function's largest slope (1/4 for sigmoid at 0,
#: 1 for tanh at 0). With 0.05: sigmoid units with |z| > 4.36 (sigma < 0.0127
#: or > 0.9873) and tanh units with |z| > 2.18 (|tanh| > 0.9747).
SATURATION_THRESHOLD = 0.05


def _arr(z):
    z = np.asarray(z)
    return z if z.dtype.kind == "f" else z.astype(np.float64)  # kind 'f': np.issubdtype(.., np.floating), 10x quicker


def linear(z):
    """Identity, phi(z) = z."""
    return _arr(z).copy()


def linear_grad(z):
    """Derivative of the identity: ones shaped like ``z``."""
    return np.ones_like(_arr(z))


def sigmoid(z):
    """Logistic sigmoid, sigma(z) = 1 / (1 + exp(-z)), for any finite or infinite z.

    Written with exp(-|z|) so that it never overflows (no RuntimeWarning for
    z = -1000): for z >= 0 it is 1 / (1 + e), for z < 0 it is e / (1 + e),
    with e = exp(-|z|) in (0, 1].
    """
    z = _arr(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def sigmoid_grad(z):
    """sigma'(z) = sigma(z) (1 - sigma(z)); at most 1/4, reached at z = 0.

    Computed as e / (1 + e)**2 with e = exp(-|z|), the same quantity written so
    that it keeps full relative precision in both tails: s (1 - s) would lose
    it for large positive z, where 1 - s cancels (it gives 0 from z ~ 37 on,
    while the true slope is ~1e-16). Exactly 1/4 at z = 0, exactly 0 only where
    e underflows (|z| > ~745).
    """
    slope = _bell(_arr(z), 1.0)
    return slope if slope.ndim else slope[()]


def _bell(z, k):
    """e / (1 + e)^2 with e = exp(-k |z|), for a float array ``z`` (a new array, shaped like ``z``): the logistic
    slope at k|z|, so sigmoid'(z) for k = 1 and tanh'(z) / 4 for k = 2. Each step is written into the array the
    step before made: the explorers run it on 50 (batch, width) arrays per slider step, where a new array per
    operation cost a fifth of the time."""
    e = np.abs(z, out=np.empty_like(z))
    np.multiply(e, -k, out=e)
    np.exp(e, out=e)
    denominator = np.add(e, 1.0, out=np.empty_like(e))
    np.multiply(denominator, denominator, out=denominator)
    return np.divide(e, denominator, out=e)


def tanh(z):
    """Hyperbolic tangent."""
    return np.tanh(_arr(z))


def tanh_grad(z):
    """tanh'(z) = 1 - tanh(z)^2 = 1 / cosh(z)^2; at most 1, reached at z = 0.

    Computed as 4 e / (1 + e)**2 with e = exp(-2|z|), which keeps full relative
    precision in the tails (1 - tanh^2 cancels to 0 from |z| ~ 19 on).
    """
    slope = _bell(_arr(z), 2.0)
    np.multiply(slope, 4.0, out=slope)  # exact (a power of 2), after the division as before it
    return slope if slope.ndim else slope[()]


def relu(z):
    """Rectified linear unit, max(0, z)."""
    z = _arr(z)
    return np.maximum(z, 0.0).astype(z.dtype, copy=False)


def relu_grad(z):
    """1 for z > 0, else 0 (0 at the kink z = 0)."""
    z = _arr(z)
    return (z > 0).astype(z.dtype)


def leaky_relu(z, alpha=0.01):
    """Leaky ReLU: z for z > 0, alpha * z otherwise (Maas et al., 2013); ``alpha`` a float >= 0.

    Computed as max(z, alpha z) for alpha <= 1 (for alpha > 1 the larger of the
    two is the wrong piece, so min(z, alpha z)): the same values as selecting
    the piece by the sign of z, without ``np.where``, which numpy runs several
    times more slowly when the signs are mixed at random (chapter 04 measures
    it). alpha = 0 is ReLU.
    """
    z = _arr(z)
    if alpha == 0:
        return relu(z)
    pick = np.maximum if alpha <= 1 else np.minimum
    return pick(z, alpha * z).astype(z.dtype, copy=False)


def leaky_relu_grad(z, alpha=0.01):
    """1 for z > 0, alpha otherwise (alpha at the kink z = 0).

    Written as s + (1 - s) alpha with s = 1 where z > 0, else 0: exactly 1 or
    exactly alpha, like a selection by the sign of z, without ``np.where``.
    """
    z = _arr(z)
    s = (z > 0).astype(z.dtype)
    return s + (1 - s) * np.asarray(alpha, dtype=z.dtype)


def elu(z, alpha=1.0):
    """Exponential linear unit: z for z > 0, alpha (exp(z) - 1) otherwise.

    Clevert, Unterthiner & Hochreiter (2016), the definition of the ELU (no
    equation number: we could not check one). ``expm1`` of min(z, 0) keeps it
    exact near 0 and free of overflow for large positive z.
    """
    z = _arr(z)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


def elu_grad(z, alpha=1.0):
    """1 for z > 0, alpha exp(z) otherwise: the derivative of :func:`elu` (Clevert et al., 2016)."""
    z = _arr(z)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


def selu(z):
    """Scaled ELU, lambda * elu(z, alpha) with the constants of Klambauer et al. (2017), eq. 2."""
    return SELU_SCALE * elu(z, SELU_ALPHA)


def selu_grad(z):
    """lambda for z > 0, lambda alpha exp(z) otherwise."""
    return SELU_SCALE * elu_grad(z, SELU_ALPHA)


@dataclass(frozen=True)
class Activation:
    """An activation function with its derivative and what the lessons need to know of it.

    Attributes
    ----------
    name : str
    f, df : callable
        ``f(z, **params)`` and its derivative ``df(z, **params)``, element-wise.
    defaults : dict
        Default values of the parameters (``{'alpha': 0.01}`` for leaky ReLU).
    saturating : bool
        True for sigmoid and tanh, whose slope tends to 0 on both sides.
    max_slope : float
        Largest value of ``df`` (used by the saturation threshold).
    kinks : tuple of float
        Points where ``df`` is discontinuous (finite differences across them fail).
    dies : bool
        True when the slope is exactly 0 on the whole negative side (ReLU), so
        a unit whose z is negative for every input passes no gradient: "dead".
    """

    name: str
    f: Callable
    df: Callable
    defaults: dict = field(default_factory=dict)
    saturating: bool = False
    max_slope: float = 1.0
    kinks: tuple = ()
    dies: bool = False

    def params(self, **overrides) -> dict:
        """Merge ``overrides`` into the defaults; raise for unknown names or bad values."""
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise TypeError(
                f"activation {self.name!r} takes no parameter {', '.join(sorted(unknown))}; allowed: {allowed}"
            )
        merged = {**self.defaults, **overrides}
        if "alpha" in merged:
            merged["alpha"] = check_nonneg("alpha", merged["alpha"])
        return merged

    def __call__(self, z, **params):
        return self.f(z, **self.params(**params))

    def grad(self, z, **params):
        return self.df(z, **self.params(**params))


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", linear, linear_grad),
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_grad, saturating=True, max_slope=0.25),
    "tanh": Activation("tanh", tanh, tanh_grad, saturating=True, max_slope=1.0),
    "relu": Activation("relu", relu, relu_grad, kinks=(0.0,), dies=True),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_grad, {"alpha": 0.01}, kinks=(0.0,)),
    "elu": Activation("elu", elu, elu_grad, {"alpha": 1.0}, kinks=(0.0,)),
    "selu": Activation("selu", selu, selu_grad, kinks=(0.0,), max_slope=SELU_SCALE * SELU_ALPHA),
}


def get_activation(name: str) -> Activation:
    """Return the :class:`Activation` called ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not one of ``ACTIVATIONS`` (the message lists them).
    """
    return ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)]


def saturation_mask(name: str, z, threshold: float = SATURATION_THRESHOLD, **params):
    """Boolean mask of saturated units given the pre-activations ``z``.

    A unit is saturated when its slope phi'(z) is below ``threshold`` times the
    largest slope of phi (see :data:`SATURATION_THRESHOLD`). Only sigmoid and
    tanh saturate on both sides; for every other activation the mask is all False.

    Parameters
    ----------
    name : str
        Activation name.
    z : ndarray, any shape
        Pre-activations.
    threshold : float in (0, 1)
        Fraction of the maximum slope below which a unit counts as saturated.
    """
    act = get_activation(name)
    threshold = check_probability("threshold", threshold, inclusive_low=False)
    z = _arr(z)
    if not act.saturating:
        return np.zeros(z.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return act.grad(z, **params) < threshold * act.max_slope
