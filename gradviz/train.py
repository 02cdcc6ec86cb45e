"""A minibatch training loop that records what the gradients do, layer by layer.

:func:`train` runs stochastic gradient descent on a :class:`gradviz.network.MLP`
and returns a :class:`History`: the training loss at every step and, at regular
*record points*, the train/test accuracy and per-layer statistics of the
gradient pass (weight-gradient norm, fraction of dead ReLU units, fraction of
saturated sigmoid/tanh units, mean PReLU slope, ...). These are the curves the
notebooks draw: a gradient norm that vanishes towards the input layer, dead
units piling up after a too-large step, a PReLU slope that learns.

A run that blows up is part of the lesson, not an error: when the loss (or a
back-propagated gradient) stops being finite, training stops cleanly before
applying that update, and the history says at which step and in which hidden
layer the overflow started. No RuntimeWarning reaches the learner.

Randomness: the order of the minibatches comes from ``numpy.random.default_rng(seed)``;
the network's own randomness (its initial weights, dropout masks, RReLU slopes)
comes from the network's seed. The same network spec, data and ``seed`` give
the same history, bit for bit.

Example
-------
>>> from gradviz.data import load_digits                     # doctest: +SKIP
>>> from gradviz.network import MLP                          # doctest: +SKIP
>>> data = load_digits()                                     # doctest: +SKIP
>>> net = MLP(64, hidden=(64, 64), activation="relu", init="he_normal")  # doctest: +SKIP
>>> hist = train(net, data, lr=0.1, steps=300, progress=False)  # doctest: +SKIP
>>> hist.test_accuracy[-1]                                   # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from tqdm.auto import tqdm  # notebook widget in Jupyter, text bar on a terminal
from tqdm.notebook import tqdm_notebook

from . import _live
from ._validate import check_choice, check_positive, check_positive_int, check_probability, get_rng
from .losses import binary_cross_entropy_with_logits, mean_squared_error, softmax_cross_entropy
from .network import MLP
from .optim import SGD, clip_grad_norm, clip_grad_value, global_grad_norm
from .data import digits
from .stats import ReluActivity, layer_statistics, relu_activity

__all__ = ["History", "train", "LOSSES", "PROGRESS_AUTO_STEPS", "OUTCOMES", "DigitsRun", "digits_run",
           "RunCache", "DraftedRuns", "progress_bar"]

#: Loss names :func:`train` accepts.
LOSSES = ("cross_entropy", "mse", "binary_cross_entropy")

#: With ``progress='auto'`` a progress bar is shown for runs of at least this many steps.
PROGRESS_AUTO_STEPS = 1000


@dataclass(eq=False)
class History:
    """What happened during one call of :func:`train`.

    Steps are counted from 0. Step ``t`` draws a minibatch, computes the loss
    and the gradients of the network as it is after ``t`` updates, then applies
    update number ``t + 1``.

    A *record point* ``k`` describes the network after ``record_steps[k]``
    updates: its accuracy, and the statistics of a recorded forward/backward
    pass on that step's minibatch. Record points are step 0 (the initial
    network), every ``record_every`` steps, and the end of training
    (``record_steps[-1] == steps_run``, measured on one more minibatch, without
    updating). A run that diverges gets its last record point at the failing
    step instead, so the overflow shows in the per-layer arrays (as NaN).

    Attributes
    ----------
    step : int array (steps_run,) or (steps_run + 1,) when diverged
        Step indices 0, 1, ...; when the run diverged, the failing step is the last entry.
    loss : float array, same shape as ``step``
        Minibatch training loss at each step (nats for cross-entropy); the
        failing step's entry is ``inf`` or ``nan``.
    record_steps : int array (n_records,)
        Number of updates applied before each record point.
    train_loss, test_loss : float array (n_records,)
        Loss on the whole training / test set, inference mode.
    train_accuracy, test_accuracy : float array (n_records,)
        Fraction of correctly classified examples in [0, 1] (an example whose
        logits are not finite counts as wrong).
    grad_norm : float array (n_records, L)
        Frobenius norm of dL/dW^l of each hidden layer l (column l-1); NaN
        where it was not finite.
    global_grad_norm : float array (n_records,)
        L2 norm of all parameter gradients together, before clipping.
    a_std, da_std : float array (n_records, L)
        Standard deviation of the activations a^l and of dL/da^l per hidden layer.
    dead_fraction : float array (n_records, L)
        Fraction of units of each hidden layer whose pre-activation is <= 0
        for every example of the minibatch (ReLU only; 0 otherwise). See
        :func:`gradviz.stats.layer_statistics`.
    saturated_fraction : float array (n_records, L)
        Fraction of (example, unit) pairs on the flat tails of sigmoid/tanh
        (0 for the other activations). See :data:`gradviz.activations.SATURATION_THRESHOLD`.
    prelu_alpha : float array (n_records, L) or None
        Mean learned PReLU slope of each hidden layer; None unless the network uses ``'prelu'``.
    diverged : bool
        True if training stopped early because the loss or a gradient became non-finite.
    diverged_step : int or None
        The step at which that happened (its update was not applied).
    nonfinite_layer : int or None
        First hidden layer (1-based) whose values overflowed at that step,
        forward pass before backward (None if only the loss overflowed).
    steps_run : int
        Number of updates applied.
    config : dict
        The arguments of :func:`train` (lr, steps, batch_size, ...) and ``repr(net)``.
    seconds : float
        Wall-clock time of the run (not part of the bit-identical results).
    step_grad_norm, step_clipped_norm : float array (steps_run,) or None
        With clipping (``clip_norm`` or ``clip_value``): the global gradient norm at every applied step,
        before and after clipping. None without clipping.
    """

    step: np.ndarray
    loss: np.ndarray
    record_steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_accuracy: np.ndarray
    test_accuracy: np.ndarray
    grad_norm: np.ndarray
    global_grad_norm: np.ndarray
    a_std: np.ndarray
    da_std: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    prelu_alpha: np.ndarray | None
    diverged: bool
    diverged_step: int | None
    nonfinite_layer: int | None
    steps_run: int
    config: dict = field(default_factory=dict)
    seconds: float = 0.0
    step_grad_norm: np.ndarray | None = None
    step_clipped_norm: np.ndarray | None = None

    #: Names of the array attributes, for comparing or saving histories.
    ARRAYS = ("step", "loss", "record_steps", "train_loss", "test_loss", "train_accuracy", "test_accuracy",
              "grad_norm", "global_grad_norm", "a_std", "da_std", "dead_fraction", "saturated_fraction",
              "prelu_alpha")

    @property
    def depth(self) -> int:
        """Number of hidden layers L."""
        return self.grad_norm.shape[1]

    @property
    def status(self) -> str:
        """One sentence saying how the run ended, for printing in a notebook."""
        if not self.diverged:
            return (f"trained {self.steps_run} steps: train accuracy {self.train_accuracy[-1]:.1%}, "
                    f"test accuracy {self.test_accuracy[-1]:.1%}")
        where = "" if self.nonfinite_layer is None else f" (overflow first in hidden layer {self.nonfinite_layer})"
        return (f"stopped at step {self.diverged_step}: the loss or the gradients became non-finite{where}; "
                f"{self.steps_run} updates were applied")

    def __repr__(self) -> str:
        return f"History({self.status})"


def _as_data(data, net, n_classes=None):
    """(X_train, y_train, X_test, y_test) from a Dataset-like object or a 4-tuple, checked against ``net``."""
    names = ("X_train", "y_train", "X_test", "y_test")
    if all(hasattr(data, n) for n in names):
        parts = [getattr(data, n) for n in names]
    elif isinstance(data, (tuple, list)) and len(data) == 4:
        parts = list(data)
    else:
        raise TypeError(
            "data must be a Dataset (as returned by gradviz.data.load_digits) or a tuple "
            f"(X_train, y_train, X_test, y_test); got {type(data).__name__}"
        )
    out = []
    for name, X, y in ((names[0], parts[0], parts[1]), (names[2], parts[2], parts[3])):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[1] != net.n_inputs:
            raise ValueError(f"data.{name} must have shape (n, {net.n_inputs}) to fit the network; got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError(f"data.{name} holds no examples")
        yname = "y" + name[1:]
        if y.shape != (X.shape[0],):
            raise ValueError(f"data.{yname} must have shape ({X.shape[0]},); got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"data.{yname} must hold integer class labels; got dtype {y.dtype}")
        n_classes = net.n_outputs if n_classes is None else n_classes
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(
                f"data.{yname} must hold labels in 0..{n_classes - 1} (the network has {net.n_outputs} "
                f"outputs); got labels from {y.min()} to {y.max()}"
            )
        out += [np.ascontiguousarray(X, dtype=net.dtype), y.astype(np.int64, copy=False)]
    return out


def _loss_fn(name, n_classes):
    if name == "cross_entropy":
        return softmax_cross_entropy
    if name == "binary_cross_entropy":
        return binary_cross_entropy_with_logits

    eye = np.eye(n_classes)

    def mse(logits, y):
        # Half squared error against one-hot targets (the loss of Glorot & Bengio 2010 is cross-entropy;
        # MSE is here to show how a saturating output slows learning).
        return mean_squared_error(logits, eye[y].astype(logits.dtype, copy=False))

    return mse


def _evaluate(net, X, y, loss_fn):
    """(loss, accuracy) of ``net`` on the whole of X, y in inference mode."""
    logits = net.forward(X, training=False)
    with np.errstate(all="ignore"):
        finite = np.isfinite(logits).all(axis=1)
        if logits.shape[1] == 1:  # one logit: class 1 where it is positive (sigmoid > 1/2)
            predicted = (np.where(finite[:, None], logits, 0.0)[:, 0] > 0).astype(np.int64)
        else:
            predicted = np.argmax(np.where(finite[:, None], logits, 0.0), axis=1)
        correct = (predicted == y) & finite
        loss = loss_fn(logits, y)[0] if finite.all() else float("nan")
    return float(loss), float(correct.mean())


def _progress_bar(progress, steps):
    if progress == "auto":
        progress = steps >= PROGRESS_AUTO_STEPS
    if not progress:
        return None
    return progress_bar(steps, "training", "step")


def progress_bar(total, desc, unit):
    """A tqdm progress bar over ``total`` items that leaves nothing behind when it is closed.

    On a terminal it is tqdm's text bar (on stderr), erased when closed. In Jupyter it is
    tqdm's notebook widget, hidden when closed; what a notebook *stores* for it (and so what
    a static render without a kernel shows: nbconvert, nbviewer, a code-hosting page) is one
    line that says what ran, e.g. ``training (200 steps)``, instead of tqdm's text of the
    bar's first frame (``0%| | 0/200 [00:00<?, ?step/s]``). tqdm's ``display=False``
    option keeps the widget from displaying itself; it is displayed here with that line as
    its plain-text alternative. Call ``close()`` (in a ``finally``) when done.

    Parameters
    ----------
    total : int
        Number of items (``update(1)`` per item).
    desc, unit : str
        Label before the bar and name of one item ("step", "run").
    """
    if not (isinstance(tqdm, type) and issubclass(tqdm, tqdm_notebook)):
        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    from IPython.display import display  # only in Jupyter, where tqdm.auto chose the widget

    bar = tqdm(total=total, desc=desc, unit=unit, leave=False, display=False)
    if not bar.disable:  # TQDM_DISABLE=1
        view = bar.container._repr_mimebundle_()
        view["text/plain"] = f"{desc} ({total} {unit}s)"
        display(view, raw=True)
        bar.displayed = True
    return bar


def one_blas_thread():
    """Context manager that runs BLAS (numpy's matrix products) on one thread inside it.

    The networks of the lessons are small (tens to hundreds of units): one
    thread multiplies their matrices faster than two that contend for a small
    machine's cores (about 4x faster on a busy 2-core machine here), and one
    thread adds every sum in one fixed order, so a run gives the same bits in
    JupyterLab as under ``make test``. Used by :func:`train` and by the
    ``python -m gradviz figures`` command.

    It is :func:`gradviz._live.one_blas_thread`, which inspects the loaded libraries once: threadpoolctl's
    ``threadpool_limits(1)`` does it at every call, which took 4-5 ms in a kernel with matplotlib and
    ipywidgets loaded (twice per :func:`digits_run`: a tenth of an explorer's 10-step draft).
    """
    return _live.one_blas_thread()


@_live.on_one_blas_thread
def train(net: MLP, data, lr: float = 0.05, steps: int = 500, batch_size: int = 64, momentum: float = 0.0,
          clip_norm: float | None = None, clip_value: float | None = None, seed=0,
          record_every: int | None = None, progress="auto",
          loss: str = "cross_entropy", callback=None, evaluate_train: bool = True) -> History:
    """Train ``net`` in place with minibatch SGD and record per-layer gradient statistics.

    Each step draws ``batch_size`` training examples (without replacement
    within an epoch: the training set is reshuffled whenever fewer than
    ``batch_size`` unseen examples remain), runs the network in training mode,
    back-propagates the mean loss, optionally clips the global gradient norm
    (Pascanu, Mikolov & Bengio 2013, Algorithm 1), and takes one SGD step
    (with heavy-ball momentum, Sutskever et al. 2013, eq. 1).

    At record points (see :class:`History`) the pass is recorded and
    summarised with :func:`gradviz.stats.layer_statistics`, and the whole
    training and test sets are evaluated in inference mode; the other steps
    only do what training needs, so they stay fast.

    Parameters
    ----------
    net : MLP
        The network, with an output layer (``n_outputs`` = number of classes).
        Its parameters are updated in place.
    data : Dataset or tuple
        What :func:`gradviz.data.load_digits` returns, or ``(X_train, y_train,
        X_test, y_test)`` with X of shape (n, n_inputs) and integer labels (n,).
        X is cast to the network's dtype.
    lr : float > 0
        Learning rate.
    steps : int >= 1
        Number of SGD updates.
    batch_size : int, 1 <= batch_size <= n_train
        Examples per minibatch (>= 2 when the network uses batch norm).
    momentum : float in [0, 1)
        SGD momentum coefficient (0: plain SGD).
    clip_norm : float > 0 or None
        Clip the global gradient norm to this value before each update; None: no clipping.
    clip_value : float > 0 or None
        Clip every gradient entry to [-clip_value, clip_value] before each update
        (:func:`gradviz.optim.clip_grad_value`); None: no clipping. Not together with ``clip_norm``.
        With either, :attr:`History.step_grad_norm` and ``step_clipped_norm`` hold the global
        gradient norm of every step before and after clipping.
    seed : int or numpy.random.Generator
        Seeds the order of the minibatches.
    record_every : int >= 1 or None
        Steps between record points; None chooses ``max(1, steps // 25)``
        (about 25 record points). Each record point also evaluates the whole
        training and test sets, which costs about as much as ten training steps
        on the digits, so very frequent records slow a run down.
    progress : True, False or 'auto'
        Show a tqdm progress bar (the notebook widget in Jupyter, text on a
        terminal). 'auto' shows it for runs of at least
        :data:`PROGRESS_AUTO_STEPS` steps. With False nothing at all is written
        to stdout or stderr. (tqdm also obeys the environment variable
        ``TQDM_DISABLE=1``.)
    loss : {'cross_entropy', 'mse', 'binary_cross_entropy'}
        Softmax cross-entropy on the logits, half the squared error between
        the logits and one-hot targets, or (for a net with ``n_outputs=1`` and
        labels 0/1) binary cross-entropy on the one logit
        (:func:`gradviz.losses.binary_cross_entropy_with_logits`); its accuracy
        counts class 1 where the logit is positive.
    callback : callable or None
        Called as ``callback(step, steps)`` after each SGD update (step = 1 ..
        steps), e.g. to show progress elsewhere than in a progress bar. An
        exception it raises stops the training and reaches the caller (an
        explorer stops a run that a newer one has replaced).
    evaluate_train : bool
        False: the record points do not evaluate the whole training set, and
        :attr:`History.train_loss` and ``train_accuracy`` are NaN (everything
        else is as with True, bit for bit). For an explorer's first answer,
        which shows the test accuracy only: on the digits the 1,347 training
        images cost about three times the 450 test images.

    Returns
    -------
    History

    Raises
    ------
    TypeError
        If ``net`` is not an MLP, ``data`` is not a data set, or an argument has the wrong type.
    ValueError
        If an argument is out of range (the message names it), if ``net`` has
        no output layer, or if the data do not fit the network.
    """
    if not isinstance(net, MLP):
        raise TypeError(f"net must be a gradviz.network.MLP; got {type(net).__name__}")
    if net.n_outputs is None:
        raise ValueError("net must have an output layer (n_outputs = number of classes) to be trained; "
                         "got n_outputs=None")
    lr = check_positive("lr", lr)
    steps = check_positive_int("steps", steps)
    batch_size = check_positive_int("batch_size", batch_size)
    momentum = check_probability("momentum", momentum)
    if clip_norm is not None:
        clip_norm = check_positive("clip_norm", clip_norm)
    if clip_value is not None:
        clip_value = check_positive("clip_value", clip_value)
        if clip_norm is not None:
            raise ValueError(f"give clip_norm or clip_value, not both; got clip_norm={clip_norm!r}, "
                             f"clip_value={clip_value!r}")
    rng = get_rng(seed)
    if isinstance(seed, np.random.Generator):
        seed = "Generator"
    record_every = max(1, steps // 25) if record_every is None else check_positive_int("record_every", record_every)
    if not (progress is True or progress is False or progress == "auto"):
        raise ValueError(f"progress={progress!r} is not allowed; choose one of: True, False, 'auto'")
    loss = check_choice("loss", loss, LOSSES)
    if loss == "binary_cross_entropy" and net.n_outputs != 1:
        raise ValueError(f"loss='binary_cross_entropy' needs a network with one output logit (n_outputs=1); "
                         f"got n_outputs={net.n_outputs}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function of (step, steps) or None; got {callback!r}")
    if not isinstance(evaluate_train, (bool, np.bool_)):
        raise TypeError(f"evaluate_train must be True or False; got {evaluate_train!r}")
    X_train, y_train, X_test, y_test = _as_data(data, net, 2 if loss == "binary_cross_entropy" else None)
    n_train = X_train.shape[0]
    if batch_size > n_train:
        raise ValueError(f"batch_size must be at most the number of training examples ({n_train}); got {batch_size}")
    if (net.batch_norm or net.input_bn is not None) and batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for a network with batch norm; got {batch_size}")

    loss_fn = _loss_fn(loss, net.n_outputs)
    opt = SGD(lr, momentum)
    L = net.depth
    is_prelu = net.activation == "prelu"
    losses, recs, norms_before, norms_after = [], [], [], []
    diverged_step = nonfinite_layer = None

    order = np.empty(0, dtype=np.int64)
    pos = 0

    def next_batch():
        nonlocal order, pos
        if pos + batch_size > order.size:
            order, pos = rng.permutation(n_train), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        return X_train[idx], y_train[idx]

    def gradient_pass(xb, yb, record):
        logits = net.forward(xb, training=True, record=record)
        value, dlogits = loss_fn(logits, yb)
        net.backward(dlogits, param_grads=True, record=record)
        return value

    def take_record(t):
        s = layer_statistics(net)
        tr = _evaluate(net, X_train, y_train, loss_fn) if evaluate_train else (float("nan"), float("nan"))
        te = _evaluate(net, X_test, y_test, loss_fn)
        alpha = None
        if is_prelu:
            alpha = np.array([float(np.mean(b.act.params["alpha"])) for b in net.blocks])
        recs.append(dict(
            record_steps=t, train_loss=tr[0], train_accuracy=tr[1], test_loss=te[0], test_accuracy=te[1],
            grad_norm=s.grad_norm, global_grad_norm=global_grad_norm(net), a_std=s.a_std,
            da_std=np.sqrt(s.da_var), dead_fraction=s.dead_fraction, saturated_fraction=s.saturated_fraction,
            prelu_alpha=alpha,
        ))
        return tr, te

    bar = _progress_bar(progress, steps)
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            for t in range(steps + 1):
                final = t == steps
                record = final or t % record_every == 0
                xb, yb = next_batch()
                value = gradient_pass(xb, yb, record)
                if not final:
                    losses.append(value)
                if not np.isfinite(value) or net.first_nonfinite is not None:
                    if final:
                        losses.append(value)
                    diverged_step, nonfinite_layer = t, net.first_nonfinite
                    if not record:  # show the overflow in the per-layer arrays
                        gradient_pass(xb, yb, True)
                    take_record(t)
                    break
                if record:
                    tr, te = take_record(t)
                    if bar is not None:
                        bar.set_postfix(loss=f"{value:.3g}", test_acc=f"{te[1]:.1%}", refresh=False)
                if final:
                    break
                if clip_norm is not None:
                    norms_before.append(clip_grad_norm(net, clip_norm))
                elif clip_value is not None:
                    norms_before.append(clip_grad_value(net, clip_value))
                if clip_norm is not None or clip_value is not None:
                    norms_after.append(global_grad_norm(net))
                opt.step(net)
                if bar is not None:
                    bar.update(1)
                if callback is not None:
                    callback(t + 1, steps)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start

    def col(key, shape=()):
        return np.array([r[key] for r in recs], dtype=np.float64).reshape((len(recs),) + shape)

    steps_run = opt.steps
    return History(
        step=np.arange(len(losses)),
        loss=np.array(losses, dtype=np.float64),
        record_steps=np.array([r["record_steps"] for r in recs], dtype=np.int64),
        train_loss=col("train_loss"), test_loss=col("test_loss"),
        train_accuracy=col("train_accuracy"), test_accuracy=col("test_accuracy"),
        grad_norm=col("grad_norm", (L,)), global_grad_norm=col("global_grad_norm"),
        a_std=col("a_std", (L,)), da_std=col("da_std", (L,)),
        dead_fraction=col("dead_fraction", (L,)), saturated_fraction=col("saturated_fraction", (L,)),
        prelu_alpha=col("prelu_alpha", (L,)) if is_prelu else None,
        diverged=diverged_step is not None, diverged_step=diverged_step, nonfinite_layer=nonfinite_layer,
        steps_run=steps_run,
        config=dict(net=repr(net), lr=lr, steps=steps, batch_size=batch_size, momentum=momentum,
                    clip_norm=clip_norm, clip_value=clip_value, seed=seed, record_every=record_every, loss=loss,
                    evaluate_train=bool(evaluate_train)),
        seconds=seconds,
        step_grad_norm=np.array(norms_before) if clip_norm is not None or clip_value is not None else None,
        step_clipped_norm=np.array(norms_after) if clip_norm is not None or clip_value is not None else None,
    )


#: How a run can end: still alive (no hidden layer entirely dead; whether it learned is another
#: matter), dead (a whole hidden layer is silent for every training example, so the output no longer
#: depends on the input), or diverged (a number overflowed).
OUTCOMES = ("alive", "dead", "diverged")


class DigitsRun:
    """One training run on the digits (see :func:`digits_run`).

    Attributes
    ----------
    label : str
    history : History
    net : MLP
        The trained network.
    activity : gradviz.stats.ReluActivity
        Silent and dead units per hidden layer on the whole training set, after training. Counted when first
        asked for (one forward pass over the training set, 3-7 ms on the digits), so that a run whose dead units
        nobody reads (an explorer's first answer that does not show them) does not pay for them; the same
        numbers either way, on any thread (BLAS runs on one thread for it, as for the training).
    """

    def __init__(self, label: str, history: History, net: MLP, activity: ReluActivity | None = None, *,
                 inputs=None):
        if activity is None and inputs is None:
            raise TypeError("DigitsRun needs its activity or the inputs to count it on (inputs=X_train)")
        self.label, self.history, self.net = label, history, net
        self._activity, self._inputs = activity, inputs
        self._lock = threading.Lock()

    @property
    def activity(self) -> ReluActivity:
        with self._lock:  # counted once, even if two threads ask at the same time
            if self._activity is None:
                with one_blas_thread(), np.errstate(all="ignore"):
                    self._activity = relu_activity(self.net, self._inputs)
                self._inputs = None
        return self._activity

    def __repr__(self) -> str:
        return f"DigitsRun({self.label!r}, {self.history!r})"

    @property
    def outcome(self) -> str:
        """'diverged' if training overflowed, 'dead' if some hidden layer has every unit dead on the
        whole training set, else 'alive' (see :data:`OUTCOMES`)."""
        if self.history.diverged:
            return "diverged"
        return "dead" if self.activity.first_dead_layer is not None else "alive"

    @property
    def test_accuracy(self) -> float:
        """Final test accuracy in [0, 1]; nan if the run diverged (its last record is the failing step,
        where the logits are no longer finite, so the accuracy there says nothing)."""
        if self.history.diverged:
            return float("nan")
        return float(self.history.test_accuracy[-1])

    @property
    def summary(self) -> str:
        """One line: the test accuracy and the dead units per layer (on all training examples), or the overflow."""
        h = self.history
        if self.outcome == "diverged":
            return f"{self.label}: diverged, overflow at step {h.diverged_step}"
        dead = " ".join(f"{d:.0%}" for d in self.activity.dead_fraction)
        line = f"{self.label}: test accuracy {self.test_accuracy:.1%}, dead units per layer {dead}"
        if self.outcome == "dead":
            line += f" (layer {self.activity.first_dead_layer} entirely dead)"
        return line

    def verdict(self, accuracy_floor: float = 0.5, dead_threshold: float = 0.15) -> str:
        """One line that holds on any machine: the outcome, and two yes/no facts with a wide margin.

        A run at a learning rate near the edge of stability is chaotic: the last
        bit of one matrix product, which differs between BLAS kernels and thread
        counts, grows into a different network, so its exact accuracy and dead
        fractions differ from machine to machine (:attr:`summary` prints them).
        This line states only what the lesson needs: whether the test accuracy
        is above ``accuracy_floor`` (chance is 0.1) and whether some hidden layer
        has more than ``dead_threshold`` of its units dead on the whole
        training set.

        Raises
        ------
        ValueError
            If ``accuracy_floor`` or ``dead_threshold`` is outside [0, 1].
        """
        check_probability("accuracy_floor", accuracy_floor)
        check_probability("dead_threshold", dead_threshold)
        if self.outcome == "diverged":
            return f"{self.label}: diverged"
        learned = "yes" if self.test_accuracy > accuracy_floor else "no"
        scarred = "yes" if np.max(self.activity.dead_fraction) > dead_threshold else "no"
        return (f"{self.label}: {self.outcome}; test accuracy above {accuracy_floor:.0%}: {learned}; "
                f"a hidden layer with more than {dead_threshold:.0%} of its units dead: {scarred}")


def digits_run(activation: str = "relu", *, depth: int = 4, width: int = 64, lr: float = 0.1, steps: int = 200,
               batch_size: int = 64, bias: float = 0.0, seed=0, data=None, progress=False, label=None,
               record_every=20, evaluate_train: bool = True, **activation_params) -> DigitsRun:
    """Train ``MLP(64, depth=depth, width=width, activation=activation, bias=bias)`` on the digits.

    The network gets the initializer the literature pairs with the activation
    (:func:`gradviz.init.recommended_init`: He normal for the ReLU family and
    ELU, Glorot uniform for sigmoid/tanh), ``seed`` seeds both its weights and
    the order of the minibatches, and plain SGD runs ``steps`` updates
    (:func:`train`), with BLAS limited to one thread (faster for these small
    matrices, and the same numbers everywhere). The dead hidden units on the
    whole training set after training (:func:`gradviz.stats.relu_activity`)
    are counted when :attr:`DigitsRun.activity` is first read. Chapter 04's setup is the default:
    4 hidden layers x 64 units, SGD lr 0.1, 200 steps of 64 images, seed 0.

    Parameters
    ----------
    activation : str
        One of :data:`gradviz.network.NETWORK_ACTIVATIONS`.
    depth, width : int >= 1
        Hidden layers and units per hidden layer.
    lr : float > 0
        Learning rate.
    steps, batch_size : int >= 1
    bias : float
        Initial value of every hidden bias (negative: many units start silent).
    seed : int
    data : Dataset or None
        None: the digits of :func:`gradviz.data.digits` (the default split, loaded once).
    progress : bool or 'auto'
        Progress bar while training (see :func:`train`).
    label : str or None
        Name of the run in tables and legends; None builds one from the arguments.
    record_every : int or None
        Steps between record points (see :func:`train`; each one evaluates the
        whole training and test sets).
    evaluate_train : bool
        False: the record points skip the training set (its loss and accuracy are NaN; see :func:`train`).
    **activation_params
        E.g. ``alpha=0.1`` for leaky_relu or elu.

    Returns
    -------
    DigitsRun

    Raises
    ------
    ValueError, TypeError
        As :class:`~gradviz.network.MLP` and :func:`train` do, for unknown names or out-of-range values.
    """
    if data is None:
        data = digits()
    net = MLP(data.n_features, depth=depth, width=width, activation=activation, bias=bias,
              n_outputs=data.n_classes, seed=seed, **activation_params)
    with one_blas_thread():
        history = train(net, data, lr=lr, steps=steps, batch_size=batch_size, seed=seed, progress=progress,
                        record_every=record_every, evaluate_train=evaluate_train)
    if label is None:
        extra = "".join(f", {k}={v:g}" for k, v in activation_params.items())
        label = f"{activation}{extra}, lr {lr:g}" + (f", bias {bias:g}" if bias else "")
    return DigitsRun(label, history, net, inputs=data.X_train)


class RunCache:
    """Runs of :func:`digits_run` for an explorer: each trained once and kept (the ``maxsize`` used last), over
    ``steps`` steps, or, for a learner's first answer, over its first steps only: the same weights, minibatches
    and records as the first steps of the whole run (records every 20 steps), but for the training set's loss and
    accuracy, not evaluated (NaN) in a first answer (see :func:`train`'s ``evaluate_train``).

    A run is named by a configuration: a dict of :func:`digits_run`'s keyword arguments but ``steps`` and
    ``data`` (round floats from sliders before, so that a value is found again). Keep and look up on the
    kernel's thread; a worker thread trains with ``keep=False`` (the cache is then only read).
    """

    def __init__(self, steps=200, maxsize=64, data=None):
        self.steps, self.maxsize = int(steps), int(maxsize)
        self.data = digits() if data is None else data
        self._runs = OrderedDict()

    def _key(self, config, steps=None):
        return tuple(sorted(config.items())), self.steps if steps is None else int(steps)

    def has(self, configs) -> bool:
        """Whether the whole runs of every configuration of ``configs`` are kept."""
        return all(self._key(c) in self._runs for c in configs)

    def runs(self, configs, steps=None, keep=True) -> tuple:
        """The run of each configuration of ``configs`` over ``steps`` steps (None: all of them; a kept whole run
        answers any ``steps``), trained if not kept, and kept unless ``keep=False``."""
        out = []
        for config in configs:
            run = dict.get(self._runs, self._key(config)) or dict.get(self._runs, self._key(config, steps))
            if run is None:
                n = self._key(config, steps)[1]  # a first answer shows the test accuracy, not the training set's
                run = digits_run(steps=n, data=self.data, evaluate_train=n >= self.steps, **config)
            if keep:
                self.keep([config], [run])
            out.append(run)
        return tuple(out)

    def keep(self, configs, runs) -> None:
        """Keep ``runs``, the runs of ``configs`` (each under the steps it ran), as the latest used."""
        for config, run in zip(configs, runs):
            key = self._key(config, run.history.config["steps"])
            self._runs[key] = run
            self._runs.move_to_end(key)
            while len(self._runs) > self.maxsize:
                self._runs.popitem(last=False)


class DraftedRuns:
    """Mixin of an explorer (:class:`gradviz.widgets.Explorer`) whose answer is a few runs of :func:`digits_run`:
    the progressive-answer methods, with the runs kept in ``self.run_cache`` (a :class:`RunCache`).

    The explorer defines ``configs(values)`` (the configurations of its runs, for control values) and
    ``show(result, values)`` (``result``: their runs, in that order). A learner's change to a setting not kept
    yet is answered first by the first :attr:`draft_steps` steps of each run, then by the whole runs,
    trained one after the other on a worker thread; a refinement for values the learner has left
    stops once the run it is training is done (that run is not interrupted, and not kept).
    """

    #: Steps of training that answer a learner's change first.
    draft_steps = 40

    def answer(self, values, examples=None):
        """The runs of ``configs(values)``, over all their steps or over the first ``examples``."""
        return self.run_cache.runs(self.configs(values), examples)

    def draft_examples(self, values):
        """None when every run is kept, else :attr:`draft_steps` (steps, here)."""
        kept = self.run_cache.has(self.configs(values)) or self.draft_steps >= self.run_cache.steps
        return None if kept else self.draft_steps

    def refine(self, values):
        # one run at a time: between two runs, a refinement for values the learner has left stops there
        runs = ()
        for config in self.configs(values):
            runs += self.run_cache.runs([config], keep=False)
            yield runs

    def remember(self, values, result):
        self.run_cache.keep(self.configs(values), result)

    def refining_text(self, values, examples):
        return f"the first {examples} of {self.run_cache.steps} steps: training ..."

    def draft_note(self, run) -> str:
        """What the figure says of a draft (a run's first steps): '20 of 200 steps'; '' for a whole run, or one that
        overflowed within its first steps (the whole run stops there too)."""
        steps = run.history.config["steps"]
        whole = steps >= self.run_cache.steps or run.history.diverged
        return "" if whole else f"{steps} of {self.run_cache.steps} steps"
