"""Loss functions: each returns the loss and its gradient with respect to the prediction.

Two losses are enough for the story the notebooks tell:

- :func:`softmax_cross_entropy` for classifying the handwritten digits, written
  with the log-sum-exp shift so that it stays finite for any finite logits;
- :func:`mean_squared_error` for the linear regression of the first chapter;
- :func:`binary_cross_entropy_with_logits` for a yes/no task with one output logit.

Both average over the batch, so the gradient they return already carries the
factor ``1 / N``; a network's backward pass starts from it unchanged.
"""

from __future__ import annotations

import numpy as np

from gradviz._validate import check_array_2d
from gradviz.activations import sigmoid

__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "binary_cross_entropy_with_logits",
           "mean_squared_error"]


def _as_float_2d(name: str, x) -> np.ndarray:
    """``x`` as a 2-D floating array, keeping float32/float64; integers become float64."""
    return check_array_2d(name, x)


def log_softmax(logits) -> np.ndarray:
    """Row-wise log-softmax, stable for any finite logits.

    Uses ``log softmax(z)_j = (z_j - m) - log(sum_k exp(z_k - m))`` with
    ``m = max_k z_k`` (the log-sum-exp shift; see e.g. Goodfellow, Bengio and
    Courville, *Deep Learning*, 2016, section 4.1). After the shift every
    exponent is <= 0, so ``exp`` cannot overflow, and the largest term is
    exactly 1, so the sum is >= 1 and its ``log`` is finite. That term is
    taken out of the sum and the rest goes through ``log1p``, so a
    confidently right prediction (loss near 0) keeps full relative precision.

    Parameters
    ----------
    logits : array_like, shape (batch, classes)
        Unnormalised scores. Any finite values are handled; rows holding
        ``inf`` or ``nan`` give ``nan`` rows, without a warning.

    Returns
    -------
    ndarray, shape (batch, classes)
        Log-probabilities (natural log), same floating dtype as ``logits``.

    Raises
    ------
    TypeError
        If ``logits`` is not a real numeric array.
    ValueError
        If ``logits`` is not 2-D or holds no rows.
    """
    z = _as_float_2d("logits", logits)
    rows = np.arange(z.shape[0])
    with np.errstate(all="ignore"):
        top = z.argmax(axis=1)
        shifted = z - z[rows, top][:, None]
        # The largest term is exp(0) = 1 exactly; summing the others and using
        # log1p keeps full relative precision when the top class dominates.
        rest = np.exp(shifted)
        rest[rows, top] = 0.0
        return shifted - np.log1p(rest.sum(axis=1, keepdims=True))


def softmax(logits) -> np.ndarray:
    """Row-wise softmax probabilities, stable for any finite logits.

    ``softmax(z)_j = exp(z_j - m) / sum_k exp(z_k - m)`` with ``m = max_k z_k``;
    subtracting ``m`` changes nothing mathematically and keeps ``exp`` from
    overflowing.

    Parameters
    ----------
    logits : array_like, shape (batch, classes)
        Unnormalised scores.

    Returns
    -------
    ndarray, shape (batch, classes)
        Probabilities in [0, 1]; each row sums to 1 (up to rounding). Same
        floating dtype as ``logits``.

    Raises
    ------
    TypeError, ValueError
        As for :func:`log_softmax`.
    """
    z = _as_float_2d("logits", logits)
    with np.errstate(all="ignore"):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _check_labels(y, n_rows: int, n_classes: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        # Accept floats that hold whole numbers (e.g. labels read from a CSV).
        if np.issubdtype(labels.dtype, np.floating) and labels.size and np.all(np.mod(labels, 1) == 0):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"y must hold integer class labels; got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise ValueError(
            f"y must have shape ({n_rows},) (one label per row of logits); got shape {labels.shape}"
        )
    bad = (labels < 0) | (labels >= n_classes)
    if np.any(bad):
        raise ValueError(
            f"y must hold labels in 0..{n_classes - 1} (logits has {n_classes} columns); "
            f"got {labels[bad][0]!r}"
        )
    return labels


def softmax_cross_entropy(logits, y) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over a batch, and its gradient w.r.t. the logits.

    For one example with logits ``z`` (length C) and true class ``t``::

        loss = -log softmax(z)_t = logsumexp(z) - z_t
        d loss / d z_j = softmax(z)_j - [j == t]

    (Bishop, *Pattern Recognition and Machine Learning*, 2006, eqs. 4.108-4.109).
    The batch loss is the mean over the N examples, so the returned gradient
    is ``(softmax(z) - onehot(y)) / N``.

    Parameters
    ----------
    logits : array_like, shape (N, C)
        Unnormalised class scores (the network's last, linear layer).
    y : array_like of int, shape (N,)
        True class of each example, in ``0 .. C-1``.

    Returns
    -------
    loss : float
        Mean cross-entropy in nats (natural log). ``nan`` if any logit is
        ``inf`` or ``nan`` (an exploded network); no warning is emitted.
    dlogits : ndarray, shape (N, C)
        Gradient of ``loss`` w.r.t. ``logits``, same floating dtype as ``logits``.

    Raises
    ------
    TypeError
        If ``logits`` is not numeric or ``y`` does not hold integers.
    ValueError
        If ``logits`` is not 2-D, if ``y`` does not have shape ``(N,)``, or if
        a label lies outside ``0 .. C-1``.

    Notes
    -----
    Stable for any finite logits (``1e4``, ``-1e300``, ...) because the
    log-softmax is computed with the log-sum-exp shift, never as
    ``log(softmax(z))``.
    """
    z = _as_float_2d("logits", logits)
    n, c = z.shape
    labels = _check_labels(y, n, c)
    logp = log_softmax(z)
    rows = np.arange(n)
    with np.errstate(all="ignore"):
        loss = float(-logp[rows, labels].mean())
        dlogits = np.exp(logp)
        # p_t - 1 = expm1(log p_t): no cancellation when p_t is close to 1.
        dlogits[rows, labels] = np.expm1(logp[rows, labels])
        dlogits /= n
    return loss, dlogits


def binary_cross_entropy_with_logits(logits, y) -> tuple[float, np.ndarray]:
    """Mean binary cross-entropy of one logit per example, and its gradient w.r.t. the logit.

    With p = sigmoid(z) the probability of class 1 and a label y in {0, 1},
    the loss -y log p - (1 - y) log(1 - p) is computed in the stable form::

        loss = max(z, 0) - z * y + log1p(exp(-|z|))
        d loss / d z = sigmoid(z) - y

    which never takes the log of a sigmoid that rounded to 0 or 1 (the same
    identity as TensorFlow's ``sigmoid_cross_entropy_with_logits``). The batch
    loss is the mean over the N examples, so the gradient is ``(sigmoid(z) - y) / N``.

    Parameters
    ----------
    logits : array_like, shape (N, 1)
        The network's one output logit per example.
    y : array_like of int, shape (N,)
        Labels 0 or 1.

    Returns
    -------
    loss : float
        Mean cross-entropy in nats; ``nan`` if a logit is not finite (no warning).
    dlogits : ndarray, shape (N, 1)
        Same floating dtype as ``logits``.

    Raises
    ------
    TypeError, ValueError
        If ``logits`` is not (N, 1), or ``y`` is not N labels in {0, 1}.
    """
    z = _as_float_2d("logits", logits)
    n, c = z.shape
    if c != 1:
        raise ValueError(f"logits must have one column (one logit per example, shape (N, 1)); got shape {z.shape}")
    labels = _check_labels(y, n, 2).astype(z.dtype)[:, None]
    with np.errstate(all="ignore"):
        loss = float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))
        dlogits = ((sigmoid(z) - labels) / n).astype(z.dtype, copy=False)
    return loss, dlogits


def mean_squared_error(pred, target) -> tuple[float, np.ndarray]:
    """Half the squared error, summed over outputs and averaged over the batch.

    ::

        loss  = (1 / (2 N)) * sum_i sum_k (pred_ik - target_ik)^2
        dpred = (pred - target) / N

    The factor 1/2 makes the gradient the plain residual (divided by N); with
    a linear model ``pred = X w + b`` this is the least-squares cost of
    Goodfellow, Bengio and Courville (2016), section 5.1.4, up to that factor.

    Parameters
    ----------
    pred : array_like, shape (N, K) or (N,)
        Predictions. A 1-D array is treated as K = 1.
    target : array_like, same shape as ``pred``
        Targets, in the same units as ``pred``.

    Returns
    -------
    loss : float
        In squared units of the target. ``inf``/``nan`` if ``pred`` is not
        finite (a diverged run); no warning is emitted.
    dpred : ndarray, same shape as ``pred``
        Gradient of ``loss`` w.r.t. ``pred``.

    Raises
    ------
    TypeError
        If either argument is not numeric.
    ValueError
        If the shapes differ, are not 1-D or 2-D, or hold no rows.
    """
    p = np.asarray(pred)
    t = np.asarray(target)
    if p.ndim == 1:
        p2 = _as_float_2d("pred", p.reshape(-1, 1))
    else:
        p2 = _as_float_2d("pred", p)
    if t.shape != p.shape:
        raise ValueError(f"target must have the same shape as pred {p.shape}; got shape {t.shape}")
    t2 = _as_float_2d("target", t.reshape(p2.shape))
    n = p2.shape[0]
    with np.errstate(all="ignore"):
        resid = p2 - t2
        loss = float(0.5 * np.sum(resid * resid) / n)
        dpred = (resid / n).astype(p2.dtype, copy=False)
    return loss, dpred.reshape(p.shape)
