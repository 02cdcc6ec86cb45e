"""Optimisation: stochastic gradient descent with momentum, and gradient clipping.

Both work on the layers of a network (:mod:`gradviz.layers`): every layer keeps
its trainable arrays in ``layer.params`` and, after ``backward``, their
gradients under the same keys in ``layer.grads``. Layers without parameters
(activation layers) have empty dicts and are skipped. Anything with a
``.layers`` attribute (an :class:`gradviz.network.MLP`) may be passed in place
of the list of layers.

Parameters are updated in place, so arrays that a notebook holds on to (for
instance a layer's ``W`` to plot it) follow the training.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gradviz._validate import check_positive, check_probability

__all__ = ["SGD", "clip_grad_norm", "clip_grad_value", "global_grad_norm"]


def _layer_list(layers) -> list:
    """Accept a list of layers, a single layer, or an object with ``.layers``."""
    if hasattr(layers, "layers") and not hasattr(layers, "params"):
        layers = layers.layers
    if hasattr(layers, "params"):
        return [layers]
    if not isinstance(layers, Iterable):
        raise TypeError(
            "layers must be a list of layers (objects with .params and .grads) or a network "
            f"with a .layers attribute; got {type(layers).__name__}"
        )
    return list(layers)


def _params_and_grads(layers):
    """Yield (layer index, layer, key, param, grad) for every trainable array."""
    for i, layer in enumerate(_layer_list(layers)):
        params = getattr(layer, "params", None)
        if params is None:
            raise TypeError(
                f"layers[{i}] ({type(layer).__name__}) has no .params dict; every layer must have "
                ".params and .grads (possibly empty)"
            )
        if not params:
            continue
        grads = getattr(layer, "grads", None) or {}
        for key, p in params.items():
            if key not in grads or grads[key] is None:
                raise RuntimeError(
                    f"layers[{i}] ({type(layer).__name__}) has no gradient for parameter {key!r}; "
                    "call backward() before the optimiser step"
                )
            g = grads[key]
            if np.shape(g) != np.shape(p):
                raise ValueError(
                    f"layers[{i}].grads[{key!r}] has shape {np.shape(g)}, but the parameter has shape "
                    f"{np.shape(p)}"
                )
            yield i, layer, key, p, g


class SGD:
    """Stochastic gradient descent, optionally with (heavy-ball) momentum.

    With ``momentum = 0`` each step is the plain update ``p <- p - lr * g``.
    With momentum ``mu`` a velocity ``v`` (zero at the start) is kept for
    every parameter array::

        v <- mu * v - lr * g
        p <- p + v

    This is the classical momentum of Polyak (1964) in the form written by
    Sutskever, Martens, Dahl and Hinton (2013), eq. 1. PyTorch's ``torch.optim.SGD``
    keeps ``v' = mu * v' + g`` and steps ``p <- p - lr * v'``; for a constant
    learning rate the two produce the same parameters (``v = -lr * v'``).

    Parameters
    ----------
    lr : float
        Learning rate (step size), finite and > 0. Units: parameter units per
        unit of gradient.
    momentum : float, default 0.0
        Momentum coefficient ``mu`` in [0, 1). 0 is plain SGD; 0.9 is common.

    Attributes
    ----------
    lr, momentum : float
        As given; may be changed between steps (e.g. by a slider).
    steps : int
        Number of calls to :meth:`step` so far.

    Raises
    ------
    TypeError
        If ``lr`` or ``momentum`` is not a real number.
    ValueError
        If ``lr`` is not finite and > 0, or ``momentum`` is outside [0, 1).

    Examples
    --------
    >>> opt = SGD(lr=0.1, momentum=0.9)          # doctest: +SKIP
    >>> loss, dlogits = softmax_cross_entropy(net.forward(X, training=True), y)  # doctest: +SKIP
    >>> net.backward(dlogits); opt.step(net)    # doctest: +SKIP
    """

    def __init__(self, lr: float, momentum: float = 0.0):
        self.lr = check_positive("lr", lr)
        self.momentum = check_probability("momentum", momentum)
        self.steps = 0
        # id(layer) -> (layer, {key: velocity}). The layer itself is kept so that
        # its id cannot be reused by another object while we hold its velocity.
        self._velocity: dict[int, tuple[object, dict[str, np.ndarray]]] = {}

    def step(self, layers) -> None:
        """Update every trainable parameter of ``layers`` in place, using its gradient.

        Parameters
        ----------
        layers : list of Layer, or a network with a ``.layers`` attribute
            Layers whose ``params`` are updated from ``grads`` (same keys, same shapes).

        Raises
        ------
        RuntimeError
            If a parameter has no gradient (``backward`` was not called).
        ValueError
            If a gradient's shape differs from its parameter's.

        Notes
        -----
        Non-finite gradients (an exploding network) are applied as they are:
        the parameters become non-finite, which is what the learner should
        see. No RuntimeWarning is emitted.
        """
        lr, mu = float(self.lr), float(self.momentum)
        updates = list(_params_and_grads(layers))  # validate everything before touching anything
        with np.errstate(all="ignore"):
            for _, layer, key, p, g in updates:
                if mu == 0.0:
                    p -= lr * g
                    continue
                _, vel = self._velocity.setdefault(id(layer), (layer, {}))
                v = vel.get(key)
                if v is None:
                    v = vel[key] = np.zeros_like(p)
                v *= mu
                v -= lr * g
                p += v
        self.steps += 1

    def reset(self) -> None:
        """Forget all velocities (as if no step had been taken)."""
        self._velocity.clear()
        self.steps = 0

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr!r}, momentum={self.momentum!r})"


def global_grad_norm(layers) -> float:
    """The L2 norm of all gradients of ``layers`` taken together as one vector.

    ``sqrt(sum over every parameter array and element of g**2)``. Computed
    with a scale factor (the largest ``|g|``) so that it does not overflow to
    ``inf`` while every gradient is still finite.

    Parameters
    ----------
    layers : list of Layer, or a network with a ``.layers`` attribute

    Returns
    -------
    float
        >= 0; ``inf`` if some gradient is infinite, ``nan`` if some is ``nan``.

    Raises
    ------
    RuntimeError, ValueError
        As for :meth:`SGD.step`.
    """
    grads = [np.asarray(g, dtype=np.float64).ravel() for *_, g in _params_and_grads(layers)]
    if not grads:
        return 0.0
    flat = np.concatenate(grads)
    if flat.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        scale = float(np.max(np.abs(flat)))
        if not np.isfinite(scale):
            return float("nan") if np.isnan(flat).any() else float("inf")
        if scale == 0.0:
            return 0.0
        return float(scale * np.sqrt(np.sum((flat / scale) ** 2)))


def clip_grad_norm(layers, max_norm: float) -> float:
    """Rescale all gradients together so that their global L2 norm is at most ``max_norm``.

    If the global norm ``||g||`` (see :func:`global_grad_norm`) exceeds
    ``max_norm``, every gradient is multiplied in place by
    ``max_norm / ||g||``; the direction is kept, only the length changes.
    This is clipping by norm as proposed against exploding gradients by
    Pascanu, Mikolov and Bengio (2013), "On the difficulty of training
    recurrent neural networks", Algorithm 1.

    Parameters
    ----------
    layers : list of Layer, or a network with a ``.layers`` attribute
    max_norm : float
        Largest allowed global norm, finite and > 0.

    Returns
    -------
    float
        The global norm *before* clipping (useful to plot how often clipping
        acted). If it is not finite, the gradients are left unchanged: no
        finite rescaling can repair them.

    Raises
    ------
    TypeError
        If ``max_norm`` is not a real number.
    ValueError
        If ``max_norm`` is not finite and > 0, or a gradient's shape is wrong.
    RuntimeError
        If a parameter has no gradient.
    """
    max_norm = check_positive("max_norm", max_norm)
    total = global_grad_norm(layers)
    if np.isfinite(total) and total > max_norm:
        factor = max_norm / total
        for *_, g in _params_and_grads(layers):
            g *= factor
    return total


def clip_grad_value(layers, clip_value: float) -> float:
    """Clip every gradient entry, in place, to the interval [-clip_value, clip_value].

    Each entry is clipped on its own, so unlike :func:`clip_grad_norm` this can
    change the *direction* of the gradient: the large entries are cut down,
    the small ones kept. It is what Keras's ``clipvalue`` optimizer argument
    and PyTorch's ``torch.nn.utils.clip_grad_value_`` do.

    Parameters
    ----------
    layers : list of Layer, or a network with a ``.layers`` attribute
    clip_value : float
        Largest allowed absolute value of an entry, finite and > 0.

    Returns
    -------
    float
        The global norm *before* clipping (as :func:`clip_grad_norm` returns).
        NaN entries stay NaN; +-inf become +-clip_value.

    Raises
    ------
    TypeError, ValueError, RuntimeError
        As :func:`clip_grad_norm`, for ``clip_value`` in place of ``max_norm``.
    """
    clip_value = check_positive("clip_value", clip_value)
    total = global_grad_norm(layers)
    for *_, g in _params_and_grads(layers):
        np.clip(g, -clip_value, clip_value, out=g)
    return total
