"""Chapter 06's exercises, each answer computed by the package and registered with ``@exercise``:
06.1 a running mean after two batches; 06.2 the PyTorch momentum of Keras's 0.95; 06.3 the
non-trainable count; 06.4 (code) the backward pass step by step.
"""

from __future__ import annotations

import numpy as np

from ...exercises import exercise
from .experiments import bn_network, gradient_check, parameter_counts, pytorch_momentum, running_means


# Answers come from a real gradviz.layers.BatchNorm (via running_means / pytorch_momentum / parameter_counts)
# and the chapter's network.
@exercise(
    "06.1",
    question="A batch-norm layer with momentum 0.9 (Keras convention) starts with running_mean = 0 and sees two "
    "batches whose means are 10 and then 20. What is its running_mean after the second batch?",
    hint="Keras convention: running_mean <- momentum * running_mean + (1 - momentum) * batch mean, once per "
    "batch. Check with ch.experiments.running_means([10, 20], 0.9).",
    explain=lambda r: (
        "After batch 1: 0.9 x 0 + 0.1 x 10 = 1. After batch 2: 0.9 x 1 + 0.1 x 20 = 0.9 + 2 = "
        f"{r:.4g}.\nThe true mean of the batches is 15: after two steps the start value 0 still weighs "
        "0.9^2 = 81%. In code (a real layer fed the batches): ch.experiments.running_means([10, 20], 0.9)[-1]"
    ),
)
def running_mean_after_two_batches(batch_means=(10.0, 20.0), momentum=0.9):
    return float(running_means(batch_means, momentum)[-1])


#: The Keras momentum of exercise 06.2. Not a default of either framework: section 4 converts both defaults (0.99
#: and 0.1) in its text and printout, which would give the answer away.
KERAS_MOMENTUM_06_2 = 0.95


@exercise(
    "06.2",
    question=f"A Keras model's BatchNormalization layers use momentum={KERAS_MOMENTUM_06_2:g}. Which momentum must "
    "you pass to PyTorch's BatchNorm1d to get the same moving averages?",
    hint="Keras's momentum is the weight the old average keeps; PyTorch's is the weight the new batch gets. "
    "The two weights add up to 1.",
    explain=lambda p: (
        f"PyTorch momentum = 1 - {KERAS_MOMENTUM_06_2:g} = {p:.2g}: the weight the new batch gets, half of PyTorch's "
        "default 0.1 (which is 0.9 in Keras's convention). Check that they agree: "
        f"ch.experiments.running_means([10, 20, 5], {KERAS_MOMENTUM_06_2:g}) and "
        f"ch.experiments.running_means([10, 20, 5], {p:.2g}, pytorch=True) give the same numbers.\n"
        f"In code: ch.pytorch_momentum({KERAS_MOMENTUM_06_2:g})"
    ),
)
def pytorch_momentum_of_keras_momentum(keras=KERAS_MOMENTUM_06_2):
    return pytorch_momentum(keras)


@exercise(
    "06.3",
    question="The chapter's network with batch norm has 6 hidden layers of 32 units, with a batch-norm layer "
    "before every activation. How many non-trainable parameters does it hold (what Keras's model.summary() "
    "calls 'Non-trainable params')?",
    hint="Which arrays does gradient descent never touch? Count them per batch-norm layer, then count the "
    "batch-norm layers. Check with ch.parameter_counts(ch.bn_network(batch_norm=True)).",
    explain=lambda n: (
        "Each batch-norm layer of width 32 keeps running_mean and running_var, 2 x 32 = 64 numbers that the "
        "forward pass in training mode updates and gradient descent never touches (its gamma and beta, "
        "another 64, are trainable). Six such layers: 6 x 64 = "
        f"{n}. The output layer has no batch norm. A layer of width 64 would hold 128 non-trainable and 128 "
        "trainable numbers.\nIn code: ch.parameter_counts(ch.bn_network(batch_norm=True))"
    ),
)
def non_trainable_count():
    return parameter_counts(bn_network(batch_norm=True))["non_trainable"]


#: The batches the code exercise 06.4 is checked on: (examples, features, seed, eps). The last eps differs
#: from the default, so that a function which ignores its ``eps`` argument fails.
BACKWARD_CHECKS = ((8, 3, 0, 1e-3), (5, 1, 1, 1e-3), (16, 4, 2, 0.1))


def _check_backward_exercise(func):
    """Checker of exercise 06.4: the learner's backward against finite differences on :data:`BACKWARD_CHECKS`."""
    for batch, features, seed, eps in BACKWARD_CHECKS:
        result = gradient_check(func, batch=batch, features=features, eps=eps, seed=seed)
        if result.problem:
            return False, result.problem
        wrong = [k for k, e in result.errors.items() if not e < result.tol]
        if wrong:
            errs = ", ".join(f"{k} {result.errors[k]:.2g}" for k in wrong)
            verb = "does" if len(wrong) == 1 else "do"
            return False, (f"on a batch of {batch} x {features} with eps = {eps:g}, {' and '.join(wrong)} {verb} "
                           f"not agree with finite differences (entry-wise relative error {errs})")
    return True, ""


@exercise(
    "06.4",
    question="Write the backward pass of batch norm in training mode, step by step: a function "
    "my_backward(dy, x, gamma, eps) that returns (dx, dgamma, dbeta) for y = gamma * x_hat + beta. Go back "
    "through the four steps of the forward pass one at a time (dx_hat, then the variance's gradient dvar, "
    "then the mean's dmu, then dx) instead of copying the folded formula of section 2.",
    hint="x_i reaches the loss three ways: directly through x_hat_i, through mu_B (every x_hat_j subtracts it) "
    "and through sigma_B^2 (every x_hat_j divides by its square root). Compute dvar and dmu first, each a sum "
    "over the batch, then add the three routes for dx. Test as you go: print(ch.gradient_check(my_backward)"
    ".summary()).",
    explain=lambda ref: (
        "The forward pass is mu = mean(x), var = mean((x - mu)^2), x_hat = (x - mu) / sqrt(var + eps), "
        "y = gamma x_hat + beta (per feature). Going back: dbeta = sum of dy over the batch, dgamma = sum of "
        "dy x_hat, dx_hat = dy gamma. Each x_i moves x_hat_i directly, and every x_hat_j through mu and var, "
        "so dx collects three terms (Ioffe & Szegedy 2015, section 3, write out the same chain rule). "
        "Simplified, they give the folded line of section 2 and of gv.layers.BatchNorm.backward. It is "
        "checked by finite differences with a random upstream gradient (a sum of the outputs would not do: "
        "it does not depend on x)."
    ),
    checker=_check_backward_exercise,
)
def bn_backward_steps(dy, x, gamma, eps=1e-3):
    """Reference answer of exercise 06.4: batch norm's training-mode backward, one step of the forward at a time.

    ``dy``, ``x``: (m, n); ``gamma``: (n,). Returns (dx (m, n), dgamma (n,), dbeta (n,)).
    """
    m = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = xc * inv_std
    dbeta = dy.sum(axis=0)                       # y = gamma * x_hat + beta
    dgamma = (dy * x_hat).sum(axis=0)
    dx_hat = dy * gamma
    dvar = (dx_hat * xc).sum(axis=0) * -0.5 * inv_std ** 3       # x_hat = xc * (var + eps)^(-1/2)
    dmu = -(dx_hat * inv_std).sum(axis=0) + dvar * (-2.0 * xc).mean(axis=0)  # the second term is 0
    dx = dx_hat * inv_std + dvar * 2.0 * xc / m + dmu / m         # x enters xc, var and mu
    return dx, dgamma, dbeta
