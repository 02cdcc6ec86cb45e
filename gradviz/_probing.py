"""The deep-network explorers' probes: networks built from cached weights, one per thread, and a
learner's probe split over two threads.

Private to :mod:`gradviz.widgets` (:class:`~gradviz.widgets.DeepNetworkExplorer` and the chapters'
explorers built on it). :class:`Probes` builds an explorer's MLPs from a :class:`WeightCache` (a
slider step only rescales the weights), keeps one network per thread (a pass writes the network's
caches, so two threads never share one), and probes a batch on the calling thread alone or, for a
learner waiting on the kernel's thread, in two halves side by side: the calling thread probes the first
half while a helper thread probes the second (numpy releases the GIL in its matrix products and
element-wise loops), and the mean-field prediction is computed on a third thread meanwhile.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .init import initialize, recommended_init
from .network import MLP
from .stats import combine_stats, probe
from .theory import init_weight_variances, predict_variances

#: Fewest values (examples x width) per layer in each half of a split probe: below it, a probe is not split.
#: A half has to be worth the second thread: each layer is a dozen numpy calls, and two threads doing small
#: ones mostly wait for each other's GIL. On a quiet 2-core machine (medians of 9, one BLAS thread), 50 x 256
#: took 16 ms in one piece and 22 split for 32 examples, 43 and 49 for 128, 78 and 67 for 256; 10 x 512 took
#: 46 and 35 for 256 examples, 50 x 512 237 and 164.
MIN_HALF_VALUES = 128 * 256


def resolve_init(init, activation):
    """The initializer name an explorer uses: ``init``, or for 'auto' the one recommended for ``activation``."""
    return recommended_init(activation) if init == "auto" else init


class WeightCache:
    """Initial weight matrices by (layer, shape, init, seed, dtype), drawn at weight scale 1.

    The MLP seeds hidden layer l from ``default_rng([seed, l])``, so layer l's
    weights do not depend on the depth, the activation or the weight scale:
    they are drawn once and reused (a deeper network only draws its new layers).
    Bounded by ``max_bytes``. Thread-safe: several threads build networks.
    """

    def __init__(self, max_bytes=300 * 2**20):
        self.max_bytes = max_bytes
        self._store = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, layer, fan_in, fan_out, init, seed, dtype):
        key = (layer, fan_in, fan_out, init, seed, np.dtype(dtype).str)
        with self._lock:
            w = self._store.get(key)
            if w is not None:
                self._store.move_to_end(key)
                return w
        w = initialize(init, (fan_in, fan_out), rng=np.random.default_rng([seed, layer]), gain=1.0, dtype=dtype)
        w.flags.writeable = False  # shared by every network built from it
        with self._lock:
            if key in self._store:  # drawn by another thread meanwhile
                return self._store[key]
            self._store[key] = w
            self._bytes += w.nbytes
            while self._bytes > self.max_bytes and len(self._store) > 1:
                _, old = self._store.popitem(last=False)
                self._bytes -= old.nbytes
        return w


@functools.lru_cache(maxsize=256)
def prediction(depth, width, activation, init, weight_scale):
    """:func:`gradviz.theory.predict_variances` for ``depth`` hidden layers of ``width`` units, initializer
    ``init`` (a name, not 'auto') times ``weight_scale``; cached (thread-safe)."""
    widths = [width] * (depth + 1)
    wv = init_weight_variances(widths, init, weight_scale=weight_scale)
    return predict_variances(widths, activation, wv)


@functools.lru_cache(maxsize=1)
def _helpers():
    """Single threads shared by every explorer, started at the first split probe: 'probe' probes the second
    half of a split probe made on the kernel's thread, 'theory' computes a prediction meanwhile, and 'refine'
    probes the second half of a split probe made by a refinement on an explorer's worker thread (its own, so
    that the kernel's next answer never waits behind a refinement)."""
    return {name: ThreadPoolExecutor(1, thread_name_prefix=f"gradviz-{name}") for name in ("probe", "theory", "refine")}


class Probes:
    """An explorer's networks and probes (see the module docstring).

    Parameters
    ----------
    dtype : numpy float dtype
        The networks' dtype.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.weights = WeightCache()
        self._local = threading.local()  # each thread's last network (see thread_network)

    def network(self, depth, width, activation, init, weight_scale, batch_norm, seed):
        """A new MLP for these control values (no output layer), weights from the cache; ``init`` may be 'auto'.

        Equal, up to float rounding of the scaling, to
        ``MLP(width, depth=depth, width=width, activation=..., init=..., weight_scale=...,
        batch_norm=..., n_outputs=None, seed=seed, dtype=dtype)``; building it
        draws only the layers not drawn before.
        """
        init = resolve_init(init, activation)
        bn = None if batch_norm == "off" else batch_norm
        net = MLP(width, depth=depth, width=width, activation=activation, init="zeros", batch_norm=bn,
                  n_outputs=None, seed=seed, dtype=self.dtype)
        net.init = init
        return self._scale_weights(net, width, weight_scale, seed)

    def _scale_weights(self, net, width, weight_scale, seed):
        """Set every weight of ``net`` to its cached draw times ``weight_scale``, in place."""
        net.weight_scale = weight_scale
        scale = self.dtype.type(weight_scale)
        for l, block in enumerate(net.blocks, start=1):
            base = self.weights.get(l, width, width, net.init, seed, self.dtype)
            np.multiply(base, scale, out=block.dense.params["W"])
        return net

    def thread_network(self, depth, width, activation, init, weight_scale, batch_norm, seed):
        """:meth:`network`, reusing this thread's last network of the same shape, whose weights are only
        scaled again: allocating the weights of a deep, wide network anew costs more than probing a slice
        of its batch. (A probe leaves the network's batch-norm statistics as they were.)"""
        key = (depth, width, activation, resolve_init(init, activation), batch_norm, seed)
        held = getattr(self._local, "network", None)
        if held is None or held[0] != key:
            net = self.network(depth, width, activation, init, weight_scale, batch_norm, seed)
            self._local.network = (key, net)
            return net
        return self._scale_weights(held[1], width, weight_scale, seed)

    def probe(self, net, args, batch_size, seed, rows=None, split=None):
        """:func:`gradviz.stats.probe` of ``net`` (built by :meth:`thread_network` from ``args``, the
        keyword arguments of :meth:`network`) on the examples ``rows`` of the batch (a slice; None: all).

        ``split``: None, or the helper thread that shares the work: 'probe' on the kernel's thread,
        'refine' on an explorer's worker thread. The first half of the rows is probed here and the second
        on the helper thread, on its own network, and the two are combined (:func:`gradviz.stats.combine_stats`:
        the statistics of the whole, up to float rounding). Not split with batch norm (it couples the
        examples) or with fewer than :data:`MIN_HALF_VALUES` values per layer in a half.
        """
        start, stop, _ = (rows or slice(0, batch_size)).indices(batch_size)
        mid = start + (stop - start) // 2
        if not split or not self.splits(args, batch_size, rows):
            return probe(net, batch_size=batch_size, seed=seed, param_grads=False, rows=rows)
        theirs = _helpers()[split].submit(self._probe_here, args, batch_size, seed, slice(mid, stop))
        try:
            mine = probe(net, batch_size=batch_size, seed=seed, param_grads=False, rows=slice(start, mid))
        finally:
            theirs.exception()  # wait for the helper even if this half failed: it must not outlive the call
        return combine_stats([mine, theirs.result()])

    @staticmethod
    def splits(args, batch_size, rows=None):
        """Whether :meth:`probe` with ``split`` splits the rows: not with batch norm (it couples the examples), nor
        with fewer than :data:`MIN_HALF_VALUES` values per layer in a half."""
        start, stop, _ = (rows or slice(0, batch_size)).indices(batch_size)
        return args["batch_norm"] == "off" and (stop - start) // 2 * args["width"] >= MIN_HALF_VALUES

    def warm(self, args, batch_size, seed):
        """Probe, on the helper thread of a learner's split probe and in the background, the half of the batch
        that :meth:`probe` with ``split='probe'`` gives it: the helper builds its network for ``args`` and touches
        the memory of a pass now, while the kernel is idle, rather than in the learner's first press (at 50 x 256
        x 256, a first press took 80 ms of probe instead of 37-57). Nothing is returned; a failure is dropped
        (the learner's probe raises it again). Does nothing where :meth:`probe` would not split."""
        if self.splits(args, batch_size):
            _helpers()["probe"].submit(self._probe_here, args, batch_size, seed, slice(batch_size // 2, batch_size))

    def _probe_here(self, args, batch_size, seed, rows):
        return probe(self.thread_network(**args), batch_size=batch_size, seed=seed, param_grads=False, rows=rows)

    @staticmethod
    def in_background(fn, *args):
        """``fn(*args)`` on the prediction's helper thread: a Future (``.result()`` waits for it)."""
        return _helpers()["theory"].submit(fn, *args)
