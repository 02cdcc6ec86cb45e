"""Chapter 05's exercises, each answer computed by the package and registered with ``@exercise``:
05.1 selu(-2); 05.2 the value of a unit alpha dropout drops; 05.3 the fixed point's variance for
tau = 1.1; 05.4 (code) selu in numpy.
"""

from __future__ import annotations

import numpy as np

from ...activations import SELU_ALPHA, SELU_SCALE, selu
from ...exercises import exercise
from ...layers import AlphaDropout
from ...theory import selu_fixed_point


# Answers come from gradviz.activations, gradviz.layers.AlphaDropout and gradviz.theory.
def _explain_selu_at_minus_two(v):
    return (
        f"selu(-2) = lambda alpha (exp(-2) - 1) = {SELU_SCALE:.6g} x {SELU_ALPHA:.6g} x "
        f"({np.exp(-2.0):.6g} - 1) = {v:.6g}: already {1 - np.exp(-2.0):.1%} of the way down to the floor "
        "-lambda alpha, because the part of the floor still to go shrinks like exp(z). Inputs below about -2 "
        "therefore all come out close together, which is how SELU's saturation damps a variance that is too "
        "large.\nIn code: gv.activations.selu(np.array([-2.0]))[0]"
    )


@exercise(
    "05.1",
    question="What is selu(-2)? (How far down towards its floor -lambda alpha is SELU at z = -2?)",
    hint="For z <= 0, selu(z) = lambda * alpha * (exp(z) - 1). Use gv.activations.SELU_SCALE (lambda), "
    "gv.activations.SELU_ALPHA (alpha) and np.exp.",
    explain=_explain_selu_at_minus_two,
    rtol=1e-3,
)
def selu_at_minus_two():
    return float(selu(np.array([-2.0]))[0])  # lambda * alpha * (exp(-2) - 1)


def _explain_dropped_value(v):
    d = AlphaDropout(0.1)
    return (
        f"q = 0.9 and alpha' = -lambda alpha = {d.ALPHA_PRIME:.6g}, so a = (q + alpha'^2 q (1 - q))^(-1/2) = "
        f"{d.a:.6g} and b = -a (1 - q) alpha' = {d.b:.6g}. A dropped unit lands on a alpha' + b = {v:.6g}: "
        "the same value for every dropped unit, between 0 and SELU's saturation value (its floor), because "
        "the affine map a x + b also shrinks and shifts the kept values so that the output again has mean "
        "0 and variance 1.\nIn code: d = gv.layers.AlphaDropout(0.1); d.a * d.ALPHA_PRIME + d.b"
    )


@exercise(
    "05.2",
    question="Alpha dropout with rate 0.1: after the affine correction a x + b, what value does a dropped "
    "unit take?",
    hint="A dropped unit is first set to alpha' = -lambda alpha, then mapped to a alpha' + b, with q = 1 - rate, "
    "a = (q + alpha'^2 q (1 - q))^(-1/2) and b = -a (1 - q) alpha' (Klambauer et al. 2017, sec. 'New dropout "
    "technique'). gv.layers.AlphaDropout(0.1) has .a, .b and .ALPHA_PRIME.",
    explain=_explain_dropped_value,
    rtol=1e-3,
)
def alpha_dropout_dropped_value():
    d = AlphaDropout(0.1)
    return d.a * d.ALPHA_PRIME + d.b


def _explain_fixed_point_variance(v):
    fp = selu_fixed_point(omega=0.0, tau=1.1)
    return (
        f"Iterating g with tau = 1.1 converges to (mu*, nu*) = ({fp.mean:.4g}, {v:.4g}) after "
        f"{fp.iterations} steps; the Jacobian there has spectral norm {fp.spectral_norm:.4g} < 1, so the "
        "fixed point still attracts. A 10 % error in tau moves the variance by about 40 %: every layer "
        "multiplies the variance it receives by tau = 1.1 before SELU sees it, and SELU removes only part "
        "of a deviation per layer (it keeps about 78 % of it, the entry d nu~ / d nu of the Jacobian at "
        "(0, 1)), so the push accumulates over many layers before push and pull balance. The new point is "
        "still inside the domain of Theorem 1 of Klambauer et al. (2017), nu in [0.8, 1.5]: the network "
        "stays normalised, around a slightly different point.\n"
        "In code: gv.theory.selu_fixed_point(omega=0.0, tau=1.1).var"
    )


@exercise(
    "05.3",
    question="Weights whose squares sum to tau = 1.1 instead of 1 (each weight about 5 % too large): at what "
    "variance nu* does the moment map g (omega = 0) settle?",
    hint="Iterate the map from (0, 1) until it stops moving: m, v = gv.theory.selu_fixed_point_map(m, v, "
    "omega=0.0, tau=1.1), a hundred times; or call gv.theory.selu_fixed_point(tau=1.1).",
    explain=_explain_fixed_point_variance,
    rtol=0.01,
)
def fixed_point_variance():
    return selu_fixed_point(omega=0.0, tau=1.1).var


@exercise(
    "05.4",
    question="Write selu(z) in numpy: lambda z for z > 0 and lambda alpha (exp(z) - 1) for z <= 0, element by "
    "element, for an array z.",
    hint="np.where(z > 0, a, b) picks a where z > 0 and b elsewhere. lambda is gv.activations.SELU_SCALE "
    "(1.0507...), alpha is gv.activations.SELU_ALPHA (1.6733...); four decimals are enough.",
    explain=lambda f: (
        "selu(z) = lambda z for z > 0 and lambda alpha (exp(z) - 1) for z <= 0 (Klambauer et al. 2017, eq. 2, "
        f"with the constants of their eq. 14): selu(-2) = {f(np.array([-2.0]))[0]:.6g}, selu(1) = "
        f"{f(np.array([1.0]))[0]:.6g}. In the solution below, exp is taken of min(z, 0) only: np.where "
        "computes both branches for every z, and exp of a large positive z would overflow (with a warning) in "
        "the branch it then throws away; expm1(x) is exp(x) - 1 computed without losing digits near 0.\n"
        "In code: gv.activations.selu(z)"
    ),
    inputs=[(np.array([-800.0, -10.0, -2.0, -0.5, 0.0, 0.5, 1.0, 3.0]),), (np.linspace(-5.0, 5.0, 21),)],
    rtol=1e-4,
)
def selu_function(z):
    z = np.asarray(z, dtype=float)
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
