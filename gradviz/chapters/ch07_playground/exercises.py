"""Chapter 07's exercises, each answer computed by the package and registered with ``@exercise``:
07.1 the gain that balances ReLU with Glorot init; 07.2 the sigmoid's (by bisection); 07.3 how much
larger E[x^2] is on raw pixels; 07.4 (code) a dense layer's weight gradient.
"""

from __future__ import annotations

import functools

import numpy as np

from ...exercises import exercise
from ...init import weight_variance
from ...theory import activation_moments, predict_variances
from .experiments import dataset


# Answers come from gradviz.theory, gradviz.init and the playground's data sets above.
@exercise(
    "07.1",
    question="A deep ReLU network of equal widths with Glorot init: by what weight scale (gain) must its "
    "initial weights be multiplied so that the per-layer factor of the gradient's size is 1?",
    hint="The factor is sqrt(n Var(W) E[phi'(z)^2]). With fan_in = fan_out = n, Glorot gives n Var(W) = 1; "
    "for ReLU, E[phi'(z)^2] is the fraction of positive z. A weight scale c multiplies Var(W) by c^2. Check it "
    "in the playground: ReLU, Glorot uniform, and watch the readout as you move the weight scale.",
    explain=lambda c: (
        "Glorot with fan_in = fan_out = n draws Var(W) = 2 / (n + n) = 1 / n, so n Var(W) = 1. ReLU lets a "
        "gradient through (slope 1) for half of the inputs and blocks it (slope 0) for the other half, so "
        "E[phi'(z)^2] = 1/2 and the factor is sqrt(1 x 1/2) = 0.707: the playground's 'deep ReLU, Glorot' "
        "experiment. A weight scale c multiplies Var(W) by c^2 and the factor by c, so c = 1 / 0.707 = "
        f"sqrt(2) = {c:.4g}. That is He's init: Var(W) = 2 / fan_in (He et al. 2015, eq. 10), which is why "
        "PyTorch's calculate_gain('relu') is sqrt(2).\n"
        "In code: p = gv.theory.predict_variances([64] * 3, 'relu', 1 / 64); 1 / np.sqrt(p.grad_gain[-1])"
    ),
)
def relu_glorot_gain(n=64):
    """Weight scale that brings the per-layer factor of a square ReLU layer with Glorot init to 1."""
    p = predict_variances([n] * 3, "relu", weight_variance("glorot_uniform", n, n))
    return float(1.0 / np.sqrt(p.grad_gain[-1]))


def sigmoid_deep_factor(gain):
    """Per-layer factor of the gradient's size deep in a square sigmoid net with Glorot init x ``gain``.

    With fan_in = fan_out = n, n Var(W) = gain^2; the forward variance settles at the fixed point
    q* = gain^2 E[sigmoid(z)^2], z ~ N(0, q*) (the value one more layer maps to itself; Poole et al.
    2016), where the factor is sqrt(chi_1) = sqrt(gain^2 E[sigmoid'(z)^2]) (Schoenholz et al. 2017).
    """
    q = 1.0
    for _ in range(500):
        q_new = gain**2 * activation_moments("sigmoid", 0.0, q).second_moment
        if abs(q_new - q) <= 1e-10 * q:
            break
        q = q_new
    return float(np.sqrt(gain**2 * activation_moments("sigmoid", 0.0, q).grad_second_moment))


@exercise(
    "07.2",
    question="A deep sigmoid network of equal widths with Glorot init: is there a weight scale at which the "
    "gradient neither vanishes nor explodes deep inside the network? If so, give it (to about 10 %); if there is "
    "none, answer 0.",
    hint="At weight scale 1 the factor is about 0.24. A larger scale multiplies the weights (the factor grows "
    "with it) but also pushes z into the flat tails of the sigmoid (E[phi'(z)^2] shrinks). Move the weight "
    "scale in the playground with depth 20 and width 256 and read the factor per layer; or iterate "
    "gv.theory.activation_moments yourself.",
    explain=lambda g: (
        f"Yes: about {g:.3g}. With fan_in = fan_out, Glorot x c gives n Var(W) = c^2. Deep in the network the "
        "variance q of z settles at a fixed point, a value that one more layer maps to itself: "
        "q = c^2 E[sigmoid(z)^2] with z ~ N(0, q). There the factor is "
        "sqrt(c^2 E[sigmoid'(z)^2]). The weights win over the saturation: E[sigmoid'(z)^2] falls only like "
        "1 / sqrt(q), while c^2 grows faster, so the factor climbs from "
        f"{sigmoid_deep_factor(1.0):.3g} at c = 1 through {sigmoid_deep_factor(4.0):.3g} at c = 4 "
        f"to 1 at c = {g:.3g}. The price: most units work far out on the flat tails (read the saturated "
        "fraction in the playground), so the gradient keeps its size only on average, carried by the few "
        "units whose z happens to be near 0. A gain can balance the factor on average; it cannot make most "
        "sigmoid units useful again.\nIn code: the bisection in gradviz.chapters.ch07_playground.exercises.sigmoid_gain"
    ),
    rtol=0.1,
)
@functools.lru_cache(maxsize=1)
def sigmoid_gain():
    """The weight scale at which that factor is 1 (bisection on a log scale; the factor grows with the gain)."""
    lo, hi = 1.0, 50.0
    for _ in range(32):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if sigmoid_deep_factor(mid) < 1.0 else (lo, mid)
    return float((lo * hi) ** 0.5)


@exercise(
    "07.3",
    question="By what factor is E[x^2], the mean of the squared inputs over all training examples and "
    "pixels, larger for the raw digits (pixels 0..16) than for the standardised digits?",
    hint="raw = ch.dataset('digits_raw'); std = ch.dataset('digits'); compare "
    "np.mean(raw.X_train ** 2) with np.mean(std.X_train ** 2). (The standardised value is a little below 1: "
    "why?)",
    explain=lambda r: (
        f"E[x^2] is {r:.4g} times larger for the raw pixels. The first layer computes z = x W, so Var(z^1) = "
        "n Var(W) E[x^2] grows by the same factor, and in a ReLU network with He init every later layer "
        "carries it along (ReLU is homogeneous: relu(c z) = c relu(z)), up to the logits: their softmax "
        "saturates, the gradients are that much larger, and with lr 0.1 the run of guide experiment 7a "
        "overflows. The standardised value is a little below 1 because the pixels that are constant in the "
        "training set (the corners) are set to 0, not to variance 1. Standardising the inputs, or a batch "
        "norm after the first Dense (7b) or before it (chapter 06), removes the factor.\n"
        "In code: np.mean(raw.X_train ** 2) / np.mean(std.X_train ** 2)"
    ),
)
def raw_second_moment_ratio():
    """E[x^2] of the raw training digits over E[x^2] of the standardised ones."""
    raw, std = dataset("digits_raw"), dataset("digits")
    return float(np.mean(np.square(raw.X_train)) / np.mean(np.square(std.X_train)))


def _weight_gradient_inputs():
    """Argument tuples ``(a_prev, delta)`` on which 07.4 compares the learner's function with the reference:
    shapes (batch, fan_in) and (batch, fan_out), fan_in != fan_out so that a transposed answer fails."""
    rng = np.random.default_rng(7)
    return [(rng.standard_normal((4, 3)), rng.standard_normal((4, 2))),
            (rng.standard_normal((16, 5)), rng.standard_normal((16, 8))),
            (np.abs(rng.standard_normal((8, 6))), 0.1 * rng.standard_normal((8, 4)))]


@exercise(
    "07.4",
    question="Write weight_gradient(a_prev, delta): the gradient dL/dW of a dense layer z = a_prev @ W + b, "
    "given its input a_prev of shape (batch, fan_in) and delta = dL/dz of shape (batch, fan_out) (the loss "
    "summed over the batch). It returns an array shaped like W, (fan_in, fan_out).",
    hint="z[k, j] = sum_i a_prev[k, i] W[i, j] + b[j], so W[i, j] moves z[k, j] by a_prev[k, i] for every "
    "example k. Sum delta[k, j] * a_prev[k, i] over the batch: that is one matrix product. Check the shape.",
    explain=lambda ref: (
        "dL/dW[i, j] = sum over examples k of a_prev[k, i] * delta[k, j], i.e. dL/dW = a_prev.T @ delta "
        "(gv.layers.Dense.backward computes the same). Its size is at most ||a_prev|| x ||delta||: the "
        "activations entering the layer times the gradient arriving at it. That is why, in guide experiment 4, "
        "the weight gradients change far less across the layers than the activations or the gradient do: going "
        "up, the activations grow by about the factor per layer by which the gradient grows going down, so their "
        "product changes much less with depth, while both are far too large. In a deep sigmoid network (experiment 1) the activations stay near "
        "0.5, so the weight gradients shrink with delta.\n"
        "Check it on the playground's network: net = ch.network(**ch.PRESETS['4. deep ReLU, He init x 1.5']); "
        "d = ch.dataset('digits'); out = net.forward(d.X_train[:256], training=True, record=True); "
        "net.backward(gv.losses.softmax_cross_entropy(out, d.y_train[:256])[1], record=True); then "
        "weight_gradient(net.records[0]['a'], net.records[1]['dz']) equals net.records[1]['dW'], layer 2's "
        "weight gradient."
    ),
    inputs=_weight_gradient_inputs(),
    rtol=1e-9,
)
def weight_gradient(a_prev, delta):
    """dL/dW = a_prev^T delta for a dense layer z = a_prev W + b: shape (fan_in, fan_out) from a_prev
    (batch, fan_in) and delta = dL/dz (batch, fan_out)."""
    return a_prev.T @ delta
