"""Chapter 02's exercises, each answer computed by the package and registered with ``@exercise``:
02.1 the most 10 sigmoid slopes can multiply a gradient by; 02.2 the layer where a float32 ReLU net
first overflows; 02.3 the per-layer factor at 4x Glorot; 02.4 (code) a sigmoid that never overflows.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...activations import sigmoid
from ...exercises import exercise
from ...theory import slope_bound
from .experiments import _relu_flow, _sigmoid_digits_flow


def _explain_scaled(f, weight_scale=4.0):
    flow = _sigmoid_digits_flow(weight_scale=weight_scale)
    gain, slope = flow.weight_gain[1:], flow.rms_slope[1:]
    return (
        f"{weight_scale:g} times larger weights stretch a gradient by about {weight_scale:g} per layer (weight gain "
        f"{np.mean(gain):.3g}), while the larger pre-activations push units onto the flat tails, lowering the rms "
        f"slope to about {np.mean(slope):.3g}. Their product, about {np.mean(gain * slope):.3g}, is the factor per "
        f"layer; measured: {f:.3g}. It is far above 1/4: the slope bound does not bound the whole product once the "
        "weights are large.\nFrom the printed ratio: from layer 10 down to layer 1 the gradient crosses 9 layers, so "
        f"the factor is the 9th root, {flow.ratio('da'):.3g} ** (1/9) = {f:.3g}; the 10th root, "
        f"{flow.ratio('da') ** 0.1:.3g}, spreads it over one layer too many.\nIn code: ch.digits_flow(depth=10, weight_scale=4)[1].per_layer_factor()"
    )


@exercise(
    "02.1",
    question="The slopes of 10 sigmoid layers can multiply a gradient by at most what number?",
    hint="Each sigmoid slope is at most sigma'(0) = 1/4, and the chain rule multiplies one slope per layer.",
    explain=lambda b: (
        "sigma'(z) = sigma(z) (1 - sigma(z)) is a product of two numbers that add up to 1, so it is at most "
        "1/2 x 1/2 = 1/4 (at z = 0). Ten such factors multiply to at most (1/4)^10 = "
        f"{b:.4g}: the slopes alone shrink the gradient about a million-fold.\n"
        "This bounds the slopes only: the weights W^l are factors of the product too, and large weights can "
        "outweigh it (section 6).\nIn code: gv.theory.slope_bound('sigmoid', 10)"
    ),
    rtol=0.02,
)
def slope_bound_of_ten_sigmoid_layers():
    """(1/4)^10: the most the slopes of 10 sigmoid layers can multiply a gradient by."""
    return slope_bound("sigmoid", 10)


@exercise(
    "02.2",
    question="A ReLU MLP of 60 layers x 128 units in float32, He init times 6 (seed 0), probed with "
    "standard-normal numbers: at which hidden layer does it overflow first?",
    hint="Each layer multiplies the activations by about 6. The largest float32 is about 3.4e38 = 10^38.5; the "
    "input's largest entries are about 4. Estimate, then measure: ch.probe_flow(net, batch_size=128)"
    ".first_nonfinite, or the explorer with explorer.update(activation='relu', weight_scale=6, depth=60).",
    explain=lambda k: (
        "With He init the ReLU layers keep the size of the activations on average; times 6, every layer "
        "multiplies it by about 6. Starting from entries of about 4 (the largest of 128 x 128 standard-normal "
        "numbers), float32's limit 3.4e38 is passed after about log(3.4e38 / 4) / log(6) = "
        f"{np.log(3.4e38 / 4) / np.log(6):.1f} layers. Measured: the first non-finite layer is {k}.\n"
        "In code: net = gv.network.MLP(128, depth=60, width=128, activation='relu', init='he_normal', "
        "weight_scale=6, n_outputs=None, seed=0, dtype=np.float32); "
        "ch.probe_flow(net, batch_size=128).first_nonfinite"
    ),
    rtol=0.0,
)
def first_overflow_layer():
    """The first non-finite hidden layer of 60 ReLU layers x 128 units, 6x He, float32."""
    return _relu_flow(6.0, 60, np.float32).first_nonfinite


@exercise(
    "02.3",
    question="The 10-layer sigmoid MLP on the digits with weights 4x Glorot: by what factor does the gradient "
    "shrink per layer crossed (the geometric mean from layer 10 down to layer 1)?",
    hint="Per layer, the gradient is multiplied by about (rms slope) x (weight gain). Read both from the table "
    "of section 6, or take the 9th root of the printed ratio between layer 1 and layer 10.",
    explain=_explain_scaled,
    rtol=0.03,  # rejects the 10th root of the ratio (0.672, 4.5 % off), the off-by-one the question is about
)
def per_layer_factor_at_4x_glorot():
    """The geometric-mean factor per layer of the chapter's sigmoid network with weights 4x Glorot."""
    return _sigmoid_digits_flow(weight_scale=4.0).per_layer_factor("da")


#: Where exercise 02.4 tries a learner's sigmoid: both far tails (where exp overflows), -720 (where exp(720)
#: overflows although sigma(-720) = 2.0e-313 is a float64), -700 (sigma = 9.9e-305, still a full-precision float64),
#: -40 (where 1 - something cancels to 0) and the middle, 12 values (tried as they are and as a 2 x 6 array).
STABLE_SIGMOID_PROBE = np.array([-1000.0, -720.0, -700.0, -40.0, -5.0, -1.0, 0.0, 1.0, 5.0, 40.0, 700.0, 1000.0])

#: The smallest full-precision (normal) float64, 2.2e-308. Below it float64 keeps fewer digits (subnormals), and
#: good libraries differ there: scipy.special.expit computes 1 / (1 + exp(-z)) in C and gives 0 for z < -709.8,
#: where the sigmoid (2.0e-313 at z = -720) is a subnormal. Exercise 02.4 accepts an error up to this size.
SIGMOID_ATOL = float(np.finfo(np.float64).tiny)


class _Watched(np.ndarray):
    """The array exercise 02.4 hands to a learner's sigmoid: it notes every numpy ufunc that, in the learner's
    code, turns finite numbers into inf (an overflow), even with its warning silenced (np.errstate,
    warnings.catch_warnings). Arrays computed from it are watched too; one converted with np.asarray is not (so
    a silenced overflow after np.asarray passes, as its numbers are those of scipy.special.expit)."""

    overflows: list = []  # (ufunc name, the finite input that overflowed), reset by each check

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, _Watched) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Watched) else o for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        args = [np.asarray(x) for x in plain if isinstance(x, (np.ndarray, float, int, np.generic))]
        if method == "__call__" and all(np.isfinite(x).all() for x in args if x.dtype.kind in "fc"):
            for r in results:
                r = np.asarray(r)
                if r.dtype.kind == "f" and np.isinf(r).any():
                    first = args[0] if args and args[0].shape == r.shape else None
                    where = np.flatnonzero(np.isinf(r))[0]
                    _Watched.overflows.append((ufunc.__name__, None if first is None else float(first.flat[where])))
        return tuple(_rewatch(r) for r in results) if isinstance(result, tuple) else _rewatch(result)


def _rewatch(r):
    return r.view(_Watched) if type(r) is np.ndarray else r


def _check_stable_sigmoid(func):
    """Exercise 02.4's judge: ``func`` must give the sigmoid on :data:`STABLE_SIGMOID_PROBE` to 1e-9 relative
    accuracy, or within :data:`SIGMOID_ATOL` (where the sigmoid is a subnormal float64), keep the shape of its
    input, raise no floating-point warning, and not overflow with the warning silenced (:class:`_Watched`)."""
    z = STABLE_SIGMOID_PROBE.copy()
    want = sigmoid(z)
    _Watched.overflows = []
    try:
        with warnings.catch_warnings(), np.errstate(over="warn", invalid="warn", divide="warn", under="ignore"):
            warnings.simplefilter("error", RuntimeWarning)
            got = func(z.copy().view(_Watched))
            got2 = func(z.reshape(2, 6).copy().view(_Watched))
    except Exception as err:  # the learner's code: say what went wrong instead of a traceback
        return False, f"on z = {np.array2string(z, separator=', ')} it raised {type(err).__name__}: {err}"
    finally:
        overflows, _Watched.overflows = _Watched.overflows, []
    try:
        got, got2 = np.asarray(got, dtype=float), np.asarray(got2, dtype=float)
    except (TypeError, ValueError):
        return False, f"it returned {type(got).__name__}, not numbers"
    for out, shape in ((got, z.shape), (got2, (2, 6))):
        if out.shape != shape:
            return False, f"it returned shape {out.shape} for an input of shape {shape}: keep the input's shape"
    bad = ~np.isclose(got, want, rtol=1e-9, atol=SIGMOID_ATOL)
    if bad.any():
        i = min(np.flatnonzero(bad), key=lambda k: abs(z[k]))  # the mildest input where it goes wrong
        return False, f"sigmoid({z[i]:g}) came out as {float(got[i])!r}; the right value is {float(want[i])!r}"
    if overflows:
        name, x = overflows[0]
        at = f"{name}({x:g})" if x is not None else name
        return False, (f"{at} overflowed to inf inside it, with its warning silenced: silencing hides the overflow, "
                       "it does not prevent it (the numbers come out right here only because 1 / (1 + inf) is 0)")
    return True, ""


@exercise(
    "02.4",
    question="Write my_sigmoid(z) for a numpy array z: it must never overflow (no RuntimeWarning for "
    "z = -1000, and none silenced) and stay accurate in both tails, as far as float64 keeps full precision "
    "(sigmoid(-40) is about 4.25e-18 and sigmoid(-700) about 9.9e-305, not 0; below about z = -708.4 the sigmoid "
    "is under 2.2e-308, the smallest full-precision float64, and 0 is accepted there).",
    hint="1 / (1 + exp(-z)) overflows when -z is large. Compute e = exp(-|z|), which is always between 0 and 1, "
    "and write the sigmoid with it on each side: 1 / (1 + e) for z >= 0, e / (1 + e) for z < 0. np.where "
    "computes both of its branches everywhere, so a branch that can overflow still warns.",
    explain=lambda ref: (
        "For z >= 0, exp(-z) lies in (0, 1], so 1 / (1 + exp(-z)) is safe. For z < 0, multiply the top and bottom "
        "by exp(z): sigma(z) = exp(z) / (1 + exp(z)), and exp(z) lies in (0, 1) there. Both are e / ... with "
        "e = exp(-|z|), which never overflows. Formulas that subtract from 1, such as 1 - 1 / (1 + exp(z)) or "
        "(1 + tanh(z / 2)) / 2, lose the tiny values: at z = -40 they return 0 instead of 4.25e-18. "
        "gradviz's own sigmoid is written this way (gv.activations.sigmoid).\nBelow about z = -708.4 the sigmoid "
        "is smaller than 2.2e-308, where float64 keeps fewer digits (subnormal numbers), and libraries differ: "
        "scipy.special.expit computes 1 / (1 + exp(-z)) in compiled code, where exp(-z) overflows silently, and "
        "returns 0 there (sigma(-720) is 2.0e-313). The check accepts either."
    ),
    checker=_check_stable_sigmoid,
)
def stable_sigmoid(z):
    """The logistic sigmoid of an array, without overflow: the reference answer of exercise 02.4."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
