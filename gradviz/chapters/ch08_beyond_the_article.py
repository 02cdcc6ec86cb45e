"""Chapter 08: beyond the standard story (``notebooks/08_beyond_the_article.ipynb``).

What practitioners use today against vanishing and exploding gradients, beyond the standard story that
chapters 01-07 told (saturation, initialization, non-saturating activations, batch normalization), each as
an experiment on gradviz networks:

1. the edge of chaos of a deep tanh network (Poole et al. 2016; Schoenholz et al. 2017): the phase diagram in
   the plane of the weight and bias variances, measured on :func:`random_tanh_net` (``depth`` hidden layers of
   ``width`` tanh units, weights N(0, sigma_w2 / width), biases N(0, sigma_b2), probed with standard-normal
   inputs and upstream gradients) beside the mean-field prediction (:mod:`gradviz.theory`);
2. gradient clipping by global norm (Pascanu, Mikolov & Bengio 2013) and by value, on an exploding ReLU
   network trained on the digits, and what clipping cannot do;
3. skip connections (He, Zhang, Ren & Sun 2016): a residual stack in numpy, checked against
   ``MLP(residual=True)`` and by finite differences; its gradient and variance growth; the 1/sqrt(depth) branch
   scale;
4. the default initializers of PyTorch's ``nn.Linear``, Keras's ``Dense`` and Flax's ``linen.Dense``, drawn
   from their documented formulas, in 30-layer tanh and ReLU stacks;
5. two paper figures on the digits: Ioffe & Szegedy (2015), Fig. 1 (one sigmoid's input over training, with
   and without batch norm), and He et al. (2015), Fig. 3 (a 30-layer ReLU network, Glorot's init against He's).

Training runs are cached (``functools.lru_cache``) so that a notebook and its figures share them.
"""

from __future__ import annotations

import functools
import html
import math
import threading
from dataclasses import dataclass

import ipywidgets
import numpy as np

from .. import gradcheck, plots, widgets
from .._validate import check_choice, check_nonneg, check_positive_int
from ..activations import get_activation
from ..data import digits
from ..exercises import exercise
from ..figures import figure
from ..init import weight_variance
from ..network import MLP
from ..stats import probe
from ..theory import chi_1, critical_weight_variance, edge_of_chaos, fixed_point_variance, predict_variances
from ..train import train
from ..widgets import Explorer

__all__ = [
    # experiments
    "random_tanh_net",
    "gradient_factor",
    "phase_grid",
    "edge_points",
    "clipping_run",
    "clipping_runs",
    "clipping_verdict",
    "vanishing_clipping",
    "layer_grad_spread",
    "residual_forward",
    "residual_backward",
    "residual_check",
    "stack_profile",
    "skip_profiles",
    "truncated_normal_std",
    "framework_layer",
    "framework_stack",
    "framework_table",
    "sigmoid_inputs",
    "deep_relu_run",
    "deep_relu_runs",
    # figures
    "phase_diagram",
    "clipping_figure",
    "skip_figure",
    "framework_figure",
    "ioffe_figure",
    "he_figure",
    # explorers
    "EdgeOfChaosExplorer",
]


# ---- experiments
# 1. The edge of chaos: random tanh networks in the (sigma_w^2, sigma_b^2) plane, measured and predicted.

#: The random networks of the phase diagram: hidden layers, units per layer, probe examples.
PHASE_DEPTH, PHASE_WIDTH, PHASE_BATCH = 30, 64, 64
#: The grid of the phase diagram: sigma_w^2 (n Var(W)) and sigma_b^2 (Var(b)).
PHASE_SIGMA_W2 = np.round(np.linspace(0.5, 4.0, 8), 4)
PHASE_SIGMA_B2 = np.round(np.linspace(0.0, 0.4, 5), 4)


def random_tanh_net(sigma_w2: float, sigma_b2: float = 0.0, *, depth: int = PHASE_DEPTH, width: int = PHASE_WIDTH,
                    seed: int = 0) -> MLP:
    """A random tanh MLP of the mean-field papers: W^l_ij ~ N(0, sigma_w2 / width), b^l_j ~ N(0, sigma_b2).

    ``depth`` hidden layers of ``width`` units, ``width`` inputs, no output layer (the probe's gradient
    enters at the last hidden activation). Built with ``init='normal'`` (std sqrt(sigma_w2 / width)) and
    ``bias_std=sqrt(sigma_b2)`` of :class:`gradviz.network.MLP`.

    Raises
    ------
    ValueError, TypeError
        Negative variances, non-positive sizes.
    """
    sigma_w2, sigma_b2 = check_nonneg("sigma_w2", sigma_w2), check_nonneg("sigma_b2", sigma_b2)
    width = check_positive_int("width", width)
    return MLP(width, depth=depth, width=width, activation="tanh", init="normal",
               init_kwargs=dict(std=math.sqrt(sigma_w2 / width)), bias_std=math.sqrt(sigma_b2), n_outputs=None,
               seed=seed)


@dataclass(frozen=True)
class GradientFactor:
    """One random network of the phase diagram, measured, with the mean-field prediction beside it.

    Attributes
    ----------
    sigma_w2, sigma_b2 : float
    measured : float
        Per-layer factor of Var(dL/da^l), going down from layer L to layer 1: the geometric mean
        (Var(dL/da^1) / Var(dL/da^L))^(1 / (L - 1)) on one network.
    stats : gradviz.stats.PassStats
        The probe's per-layer statistics.
    depth, width : int
    """

    sigma_w2: float
    sigma_b2: float
    measured: float
    stats: object
    depth: int = PHASE_DEPTH
    width: int = PHASE_WIDTH

    @functools.cached_property
    def prediction(self):
        """:func:`gradviz.theory.predict_variances` for this network (inputs and upstream gradient of variance 1)."""
        return predict_variances([self.width] * (self.depth + 1), "tanh", self.sigma_w2 / self.width, self.sigma_b2)

    @property
    def recursion(self) -> float:
        """The factor of :attr:`measured`, predicted layer by layer by :attr:`prediction` (the variance of z^l
        is still on its way to q* in the first layers)."""
        return _factor(self.prediction.da_var, self.depth)

    @functools.cached_property
    def chi_1(self) -> float:
        """chi_1 at the fixed point (:func:`gradviz.theory.chi_1`): the factor deep inside the network."""
        return chi_1("tanh", self.sigma_w2, self.sigma_b2)

    @functools.cached_property
    def q_star(self) -> float:
        """The fixed point of Var(z^l) (:func:`gradviz.theory.fixed_point_variance`)."""
        return fixed_point_variance("tanh", self.sigma_w2, self.sigma_b2)

    @property
    def phase(self) -> str:
        """'ordered' (chi_1 < 0.99), 'chaotic' (chi_1 > 1.01) or 'critical' (within 1 % of 1)."""
        if abs(self.chi_1 - 1.0) <= 0.01:
            return "critical"
        return "ordered" if self.chi_1 < 1 else "chaotic"


def _factor(da_var, depth):
    with np.errstate(all="ignore"):
        return float((da_var[0] / da_var[-1]) ** (1.0 / (depth - 1)))


@functools.lru_cache(maxsize=8)
def _standard_draws(depth, width, seed):
    """The standard-normal numbers behind :func:`random_tanh_net`'s weights and biases: per hidden layer l,
    (array (width, width), array (width,)) drawn from ``default_rng([seed, l])`` in the order in which
    :class:`~gradviz.network.MLP` draws them (the weights, then the biases); read-only, cached."""
    draws = []
    for l in range(1, depth + 1):
        rng = np.random.default_rng([seed, l])
        w, b = rng.standard_normal((width, width)), rng.standard_normal(width)
        w.flags.writeable = b.flags.writeable = False
        draws.append((w, b))
    return draws


_thread_nets = threading.local()  # each thread's last network of _scaled_tanh_net (a probe writes its caches)


def _scaled_tanh_net(sigma_w2, sigma_b2, depth, width, seed):
    """:func:`random_tanh_net` equal bit for bit, made by scaling cached draws (:func:`_standard_draws`) into the
    weights of this thread's last network of that shape: drawing 30 layers anew took longer than probing them.
    Only for a probe at once: the next call on this thread overwrites the network."""
    sigma_w2, sigma_b2 = check_nonneg("sigma_w2", sigma_w2), check_nonneg("sigma_b2", sigma_b2)
    key = (depth, width, seed)
    held = getattr(_thread_nets, "net", None)
    if held is None or held[0] != key:
        net = MLP(width, depth=depth, width=width, activation="tanh", init="zeros", n_outputs=None, seed=seed)
        _thread_nets.net = held = (key, net)
    # as MLP does: W = sqrt(Var(W)) z with init 'normal', then b = 0 + bias_std z (only when bias_std > 0)
    w_std = math.sqrt(weight_variance("normal", width, width, std=math.sqrt(sigma_w2 / width)))
    b_std = math.sqrt(sigma_b2)
    for block, (zw, zb) in zip(held[1].blocks, _standard_draws(depth, width, seed)):
        np.multiply(w_std, zw, out=block.dense.params["W"])
        b = block.dense.params["b"]
        b[...] = 0.0
        if b_std > 0:
            b += b_std * zb
    return held[1]


@functools.lru_cache(maxsize=512)
def gradient_factor(sigma_w2: float, sigma_b2: float = 0.0, *, depth: int = PHASE_DEPTH, width: int = PHASE_WIDTH,
                    batch_size: int = PHASE_BATCH, seed: int = 0) -> GradientFactor:
    """Measure the per-layer factor of the gradient's variance on :func:`random_tanh_net` (cached)."""
    net = _scaled_tanh_net(sigma_w2, sigma_b2, depth, check_positive_int("width", width), seed)
    stats = probe(net, batch_size=batch_size, seed=seed)
    return GradientFactor(float(sigma_w2), float(sigma_b2), _factor(stats.da_var, depth), stats, depth, width)


def phase_grid(sigma_w2s=PHASE_SIGMA_W2, sigma_b2s=PHASE_SIGMA_B2, *, seed: int = 0) -> np.ndarray:
    """Measured per-layer gradient factors on the grid: array (len(sigma_b2s), len(sigma_w2s))."""
    return np.array([[gradient_factor(float(w), float(b), seed=seed).measured for w in sigma_w2s]
                     for b in sigma_b2s])


def edge_points(n: int = 60, sigma_b2_max: float = 0.4):
    """The edge of chaos of tanh as arrays (sigma_w2, sigma_b2), from (1, 0) up to sigma_b2_max.

    Drawn from :func:`gradviz.theory.edge_of_chaos` by running q* upwards until sigma_b^2 passes the top.
    """
    qs, pts = np.linspace(0.0, 3.0, 4 * n), []
    for q in qs:
        w, b = edge_of_chaos("tanh", float(q))
        pts.append((w, b))
        if b > sigma_b2_max:
            break
    w, b = np.array(pts).T
    return w, b


# 2. Gradient clipping on the digits: an exploding ReLU network trained without clipping, clipped by global
# norm, clipped by value; and what clipping cannot do.

#: The exploding network of the clipping experiments: ReLU, He normal times EXPLODING_SCALE, so
#: n Var(W) = 2 * 1.5**2 = 4.5 and chi_1 = 2.25: the gradient's variance grows 2.25-fold per layer downwards.
CLIP_DEPTH, CLIP_WIDTH, EXPLODING_SCALE = 10, 64, 1.5
#: SGD learning rate, steps and seeds of the clipping runs.
CLIP_LR, CLIP_STEPS = 0.05, 150
#: The two clipping thresholds: global norm, and each entry's absolute value.
CLIP_NORM, CLIP_VALUE = 5.0, 0.05
#: A norm threshold no gradient of these runs reaches: the He run "clips" at it only so that
#: :func:`gradviz.train.train` records its gradient norm at every step (it never rescales anything).
RECORD_ONLY_NORM = 1e12
#: The runs of :func:`clipping_runs`, by label: (weight_scale, clip_norm, clip_value).
CLIPPING = {
    "no clipping": (EXPLODING_SCALE, None, None),
    f"clip by norm ({CLIP_NORM:g})": (EXPLODING_SCALE, CLIP_NORM, None),
    f"clip by value ({CLIP_VALUE:g})": (EXPLODING_SCALE, None, CLIP_VALUE),
    "He init, no clipping": (1.0, RECORD_ONLY_NORM, None),
}


@functools.lru_cache(maxsize=32)
def clipping_run(label: str, seed: int = 0, steps: int = CLIP_STEPS):
    """Train the ReLU network of :data:`CLIPPING` ``[label]`` on the digits (cached); returns (net, History).

    10 hidden layers of 64 ReLU units, He normal weights times the run's weight scale, plain SGD at
    lr 0.05 for ``steps`` steps of 64 digits, the run's clipping applied before every update
    (:func:`gradviz.train.train` with ``clip_norm`` or ``clip_value``).
    """
    weight_scale, clip_norm, clip_value = CLIPPING[label]
    data = digits()
    net = MLP(data.n_features, depth=CLIP_DEPTH, width=CLIP_WIDTH, activation="relu", init="he_normal",
              weight_scale=weight_scale, n_outputs=data.n_classes, seed=seed)
    hist = train(net, data, lr=CLIP_LR, steps=steps, clip_norm=clip_norm, clip_value=clip_value, seed=seed,
                 progress=False, record_every=steps)
    return net, hist


def clipping_runs(seed: int = 0) -> dict:
    """Every run of :data:`CLIPPING` for one seed: label -> History."""
    return {label: clipping_run(label, seed)[1] for label in CLIPPING}


def clipping_verdict(histories: dict, accuracy_floor: float = 0.5) -> str:
    """One line per run that holds on any machine: diverged or not (and whether within the first 10 steps), whether
    the test accuracy is above the floor, and whether clipping acted at every step."""
    lines = []
    for label, h in histories.items():
        if h.diverged:
            when = "within the first 10 steps" if h.diverged_step < 10 else f"at step {h.diverged_step}"
            lines.append(f"{label:>22}: diverged (overflow {when})")
            continue
        acc = "yes" if h.test_accuracy[-1] > accuracy_floor else "no"
        clipped = ""
        if h.step_grad_norm is not None and h.config.get("clip_norm") != RECORD_ONLY_NORM:
            acted = h.step_clipped_norm < h.step_grad_norm
            clipped = f"; clipping acted at {'every' if acted.all() else 'some' if acted.any() else 'no'} step"
        lines.append(f"{label:>22}: trained; test accuracy above {accuracy_floor:.0%}: {acc}{clipped}")
    return "\n".join(lines)


def value_clip_bound(seed: int = 0) -> tuple:
    """(number of parameters, largest possible global norm after clipping by value) of the exploding network.

    Clipping by value caps each of the N gradient entries at CLIP_VALUE on its own, so the clipped gradient's
    norm can reach CLIP_VALUE * sqrt(N), with every entry at the cap.
    """
    net, _ = clipping_run("clip by value (0.05)", seed)
    n = sum(v.size for layer in net.layers for v in getattr(layer, "params", {}).values())
    return n, CLIP_VALUE * math.sqrt(n)


#: The vanishing network of :func:`vanishing_clipping`: 10 sigmoid layers with Glorot's init.
VANISHING = dict(depth=10, width=64, activation="sigmoid", init="glorot_uniform")


@functools.lru_cache(maxsize=4)
def vanishing_clipping(seed: int = 0, steps: int = 60) -> dict:
    """The sigmoid network of :data:`VANISHING` trained as the clipping runs, without and with clip_norm=1.

    Returns label -> History. Clipping only ever shrinks a gradient: the first layers' tiny gradients stay
    tiny, and both runs stay at chance.
    """
    data = digits()
    out = {}
    for label, clip in (("no clipping", None), ("clip by norm (1)", 1.0)):
        net = MLP(data.n_features, n_outputs=data.n_classes, seed=seed, **VANISHING)
        out[label] = train(net, data, lr=CLIP_LR, steps=steps, clip_norm=clip, seed=seed, progress=False,
                           record_every=steps)
    return out


def layer_grad_spread(hist) -> float:
    """Largest over smallest weight-gradient norm across the hidden layers at the last record point."""
    g = hist.grad_norm[-1]
    return float(np.max(g) / np.min(g))


# 3. Skip connections: a residual block in numpy, checked against gradviz's and by finite differences; the
# gradient of deep plain and residual stacks, the variance growth of an unnormalised residual stack, and the
# branch scale 1/sqrt(depth).

#: The residual stacks: hidden layers, units, probe examples.
RES_DEPTH, RES_WIDTH, RES_BATCH = 50, 64, 64


def residual_forward(x, Ws, bs, activation="tanh", branch_scale=1.0):
    """A stack of residual blocks h^l = h^{l-1} + s * phi(h^{l-1} W^l + b^l), in numpy.

    Parameters
    ----------
    x : array (batch, n)
    Ws, bs : lists of arrays (n, n) and (n,)
    activation : str
        A name of :data:`gradviz.activations.ACTIVATIONS`.
    branch_scale : float
        s, the factor on the branch (1: He et al. 2016's identity shortcut; 1/sqrt(depth): the remedy).

    Returns
    -------
    hs : list of arrays (batch, n)
        h^0 = x, h^1, ..., h^L.
    cache : tuple
        What :func:`residual_backward` needs.
    """
    act = get_activation(activation)
    hs, zs = [np.asarray(x, dtype=float)], []
    for W, b in zip(Ws, bs):
        z = hs[-1] @ W + b
        zs.append(z)
        hs.append(hs[-1] + branch_scale * act.f(z))
    return hs, (hs, zs, Ws, act, branch_scale)


def residual_backward(dout, cache):
    """Back-propagate dL/dh^L through :func:`residual_forward`'s stack.

    Per block: dL/dz^l = s * dL/dh^l * phi'(z^l), dL/dh^{l-1} = dL/dh^l + dL/dz^l (W^l)^T: the skip adds
    the upstream gradient unchanged, so the factor per layer is (I + s diag(phi') W^T), not W^T alone.

    Returns
    -------
    dhs : list of arrays (batch, n)
        dL/dh^0 (= dL/dx), ..., dL/dh^L (= dout).
    dWs, dbs : lists of arrays (n, n) and (n,)
    """
    hs, zs, Ws, act, s = cache
    dh = np.asarray(dout, dtype=float)
    dhs, dWs, dbs = [dh], [], []
    for h, z, W in zip(reversed(hs[:-1]), reversed(zs), reversed(Ws)):
        dz = s * dh * act.df(z)
        dWs.append(h.T @ dz)
        dbs.append(dz.sum(axis=0))
        dh = dh + dz @ W.T
        dhs.append(dh)
    return dhs[::-1], dWs[::-1], dbs[::-1]


def _stack_weights(net):
    return [b.dense.params["W"] for b in net.blocks], [b.dense.params["b"] for b in net.blocks]


def residual_check(seed: int = 0, depth: int = 3, width: int = 8, batch: int = 5) -> dict:
    """Compare :func:`residual_forward`/:func:`residual_backward` with gradviz's ``MLP(residual=True)`` and with
    finite differences (:mod:`gradviz.gradcheck`), on a small tanh stack.

    Returns a dict of largest relative differences: 'forward' and 'backward' (numpy vs gradviz, output and
    dL/dx), 'gradcheck_x' and 'gradcheck_W1' (numpy backward vs central differences of L = sum(R * h^L)).
    """
    rng = np.random.default_rng(seed)
    net = MLP(width, depth=depth, width=width, activation="tanh", bias_std=0.1, residual=True, n_outputs=None,
              seed=seed)
    Ws, bs = _stack_weights(net)
    x = rng.standard_normal((batch, width))
    R = rng.standard_normal((batch, width))  # random weighting of the output: L = sum(R * h^L)
    hs, cache = residual_forward(x, Ws, bs)
    dhs, dWs, _ = residual_backward(R, cache)
    out = net.forward(x)
    dx = net.backward(R)
    numeric_x = gradcheck.numerical_gradient(lambda: np.sum(R * residual_forward(x, Ws, bs)[0][-1]), x)
    W1 = Ws[0].copy()
    numeric_W1 = gradcheck.numerical_gradient(lambda: np.sum(R * residual_forward(x, [W1] + Ws[1:], bs)[0][-1]),
                                              W1)
    return {"forward": gradcheck.relative_error(hs[-1], out), "backward": gradcheck.relative_error(dhs[0], dx),
            "gradcheck_x": gradcheck.relative_error(dhs[0], numeric_x),
            "gradcheck_W1": gradcheck.relative_error(dWs[0], numeric_W1)}


@dataclass(frozen=True)
class StackProfile:
    """Per-layer mean square of the stream h^l and of the gradient dL/dh^l of one stack (index 0 = h^0 = x).

    Attributes
    ----------
    label : str
    h_ms, dh_ms : float arrays (L + 1,)
        mean over examples and units of (h^l)^2 and of (dL/dh^l)^2, l = 0..L.
    chi1 : float array (L,)
        sigma_w^2 E[phi'(z^l)^2] of block l = 1..L, averaged over the examples and units: chi_1 where each block's
        z actually is (equal to the chi_1 of section 1 only at that fixed point). A residual block multiplies the
        gradient's mean square by about 1 + s^2 chi1[l - 1], a plain layer by about chi1[l - 1].
    """

    label: str
    h_ms: np.ndarray
    dh_ms: np.ndarray
    chi1: np.ndarray

    @property
    def gradient_ratio(self) -> float:
        """Mean square of dL/dx over that of dL/dh^L: how much the gradient grew (> 1) or shrank on the way down."""
        return float(self.dh_ms[0] / self.dh_ms[-1])

    @property
    def variance_ratio(self) -> float:
        """Mean square of h^L over that of x: how much the stream grew on the way up."""
        return float(self.h_ms[-1] / self.h_ms[0])

    @property
    def stream_factors(self) -> np.ndarray:
        """Factor of the stream's mean square in each block, E[(h^l)^2] / E[(h^(l-1))^2], l = 1..L."""
        return self.h_ms[1:] / self.h_ms[:-1]

    @property
    def stream_factor(self) -> float:
        """Geometric mean of :attr:`stream_factors`: the stream's growth per block, variance_ratio ** (1 / L)."""
        return float(self.variance_ratio ** (1 / (len(self.h_ms) - 1)))


#: The stacks of :func:`skip_profiles`, by label: (activation, sigma_w2, residual, branch scale).
STACKS = {
    "plain tanh": ("tanh", 1.0, False, 1.0),
    "residual tanh": ("tanh", 1.0, True, 1.0),
    f"residual tanh, branch x 1/sqrt({RES_DEPTH})": ("tanh", 1.0, True, 1 / math.sqrt(RES_DEPTH)),
    "residual ReLU (He)": ("relu", 2.0, True, 1.0),
}


@functools.lru_cache(maxsize=16)
def stack_profile(label: str, seed: int = 0) -> StackProfile:
    """One stack of :data:`STACKS`: 50 layers of 64 units, W ~ N(0, sigma_w2 / 64), zero biases, probed with
    standard-normal inputs and a standard-normal dL/dh^L through :func:`residual_forward` and
    :func:`residual_backward` (branch scale 1 and no skip for the plain stack)."""
    activation, sigma_w2, residual, scale = STACKS[label]
    rng = np.random.default_rng([seed, 8])
    net = MLP(RES_WIDTH, depth=RES_DEPTH, width=RES_WIDTH, activation=activation, init="normal",
              init_kwargs=dict(std=math.sqrt(sigma_w2 / RES_WIDTH)), n_outputs=None, seed=seed)
    Ws, bs = _stack_weights(net)
    x = rng.standard_normal((RES_BATCH, RES_WIDTH))
    dout = rng.standard_normal((RES_BATCH, RES_WIDTH))
    with np.errstate(all="ignore"):
        if residual:
            hs, cache = residual_forward(x, Ws, bs, activation, scale)
            dhs, zs = residual_backward(dout, cache)[0], cache[1]
        else:
            net.forward(x)
            dhs = [net.backward(dout)] + [blk.dcache[0] for blk in net.blocks]
            hs, zs = [x] + [blk.cache[1] for blk in net.blocks], [blk.cache[0] for blk in net.blocks]
        df = get_activation(activation).df
        return StackProfile(label, np.array([np.mean(h * h) for h in hs]), np.array([np.mean(d * d) for d in dhs]),
                            np.array([sigma_w2 * np.mean(np.square(df(z))) for z in zs]))


def residual_relu_recursion(depth: int = RES_DEPTH, sigma_w2: float = 2.0) -> tuple:
    """Mean-field second moment Q^l = E[(h^l)^2] and mean mu^l = E[h^l] of a residual ReLU stack, l = 0..depth.

    h^l = h^(l-1) + relu(z^l), z^l = h^(l-1) W^l with W ~ N(0, sigma_w2 / n) and no biases, input of mean 0 and
    mean square 1. In a wide layer z^l ~ N(0, sigma_w2 Q^(l-1)) (zero-mean weights give z a zero mean whatever
    the mean of h), so with s^2 = sigma_w2 Q^(l-1): E[relu(z)] = s / sqrt(2 pi), E[relu(z)^2] = s^2 / 2. Each
    unit of h^(l-1) enters z with weight O(1/sqrt(n)), so h^(l-1) and relu(z^l) are treated as independent:

        Q^l = Q^(l-1) + 2 mu^(l-1) E[relu(z)] + E[relu(z)^2],     mu^l = mu^(l-1) + E[relu(z)].

    The cross term 2 mu E[relu(z)] is 0 only in the first block (mu^0 = 0); ReLU's positive mean makes mu grow,
    and with He's init (sigma_w2 = 2) the factor Q^l / Q^(l-1) climbs from 2 towards about 2.9 (the half-normal's
    moments; the recursion is this chapter's own derivation). Returns (Q, mu), float arrays of shape (depth + 1,).
    """
    Q, mu = np.empty(depth + 1), np.empty(depth + 1)
    Q[0], mu[0] = 1.0, 0.0
    for l in range(1, depth + 1):
        s2 = sigma_w2 * Q[l - 1]
        mean_r = math.sqrt(s2 / (2 * math.pi))
        Q[l] = Q[l - 1] + 2 * mu[l - 1] * mean_r + s2 / 2
        mu[l] = mu[l - 1] + mean_r
    return Q, mu


def skip_profiles(seed: int = 0) -> dict:
    """Every stack of :data:`STACKS`: label -> StackProfile."""
    return {label: stack_profile(label, seed) for label in STACKS}


# 4. Framework defaults: the initial weights and biases of PyTorch's nn.Linear, Keras's Dense and Flax's
# Dense, drawn from their documented formulas, in deep tanh and ReLU stacks.

#: The stacks of :func:`framework_stack`: hidden layers, units, probe examples.
FRAMEWORK_DEPTH, FRAMEWORK_WIDTH, FRAMEWORK_BATCH = 30, 64, 128
#: The frameworks, with the documented default of their dense layer (see :func:`framework_layer`).
FRAMEWORKS = {
    "PyTorch nn.Linear": "W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (kaiming_uniform_ with a = sqrt(5))",
    "Keras Dense": "W ~ glorot_uniform: U(-sqrt(6 / (fan_in + fan_out)), +...), b = 0",
    "Flax Dense": "W ~ lecun_normal: normal truncated at 2 std, rescaled to std sqrt(1 / fan_in), b = 0",
}


def truncated_normal_std(bound: float = 2.0) -> float:
    """Standard deviation of N(0, 1) truncated to [-bound, bound]: sqrt(1 - 2 bound phi(bound) / (2 Phi(bound) - 1)).

    0.8796 for bound 2. Flax's (JAX's) ``variance_scaling`` divides by it so that the weights have the
    requested standard deviation *after* truncation (its documentation: the standard deviation "after
    truncation" is sqrt(scale / n), the samples "truncated at 2 standard deviations before scaling").
    """
    pdf = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
    mass = math.erf(bound / math.sqrt(2))  # 2 Phi(bound) - 1
    return math.sqrt(1.0 - 2.0 * bound * pdf / mass)


def framework_layer(framework: str, fan_in: int, fan_out: int, rng):
    """Initial (W, b) of one dense layer as ``framework`` draws them by default, W of shape (fan_in, fan_out).

    - PyTorch ``nn.Linear``: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. gain sqrt(2 / (1 + a^2)) = sqrt(1/3)
      and bound gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (its
      documentation: both from U(-sqrt(k), sqrt(k)), k = 1 / in_features). Var(W) = 1 / (3 fan_in).
    - Keras ``Dense``: ``glorot_uniform`` kernel, U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)),
      zero bias. Var(W) = 2 / (fan_in + fan_out).
    - Flax ``linen.Dense``: ``lecun_normal`` kernel, ``variance_scaling(1, 'fan_in', 'truncated_normal')``:
      standard normals redrawn until |x| < 2, divided by :func:`truncated_normal_std`, times
      sqrt(1 / fan_in); zero bias. Var(W) = 1 / fan_in.

    Raises
    ------
    ValueError
        Unknown ``framework`` (one of :data:`FRAMEWORKS`).
    """
    check_choice("framework", framework, FRAMEWORKS)
    if framework == "PyTorch nn.Linear":
        a = math.sqrt(5.0)
        bound = math.sqrt(2.0 / (1.0 + a * a)) * math.sqrt(3.0 / fan_in)
        return (rng.uniform(-bound, bound, (fan_in, fan_out)),
                rng.uniform(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), fan_out))
    if framework == "Keras Dense":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)), np.zeros(fan_out)
    x = rng.standard_normal((fan_in, fan_out))
    while True:
        bad = np.abs(x) >= 2.0
        if not bad.any():
            break
        x[bad] = rng.standard_normal(int(bad.sum()))
    return x / truncated_normal_std(2.0) * math.sqrt(1.0 / fan_in), np.zeros(fan_out)


#: Var(W) * fan_in and Var(b) * fan_in of each framework for a square layer (the mean-field prediction's input).
FRAMEWORK_VARIANCES = {"PyTorch nn.Linear": (1 / 3, 1 / 3), "Keras Dense": (1.0, 0.0), "Flax Dense": (1.0, 0.0)}


@dataclass(frozen=True)
class FrameworkStack:
    """A deep stack initialised as ``framework`` does, probed, with the mean-field prediction.

    Attributes
    ----------
    framework, activation : str
    stats : gradviz.stats.PassStats
    prediction : gradviz.theory.VariancePrediction
    weight_var : float
        The empirical variance of all its weights times fan_in.
    """

    framework: str
    activation: str
    stats: object
    prediction: object
    weight_var: float

    @property
    def signal_ratio(self) -> float:
        """Var(a^L) / Var(a^1): how much the activations grew (> 1) or shrank across the stack."""
        return float(self.stats.a_var[-1] / self.stats.a_var[0])

    @property
    def gradient_ratio(self) -> float:
        """Var(dL/da^1) / Var(dL/da^L): how much the gradient grew or shrank on its way down."""
        return float(self.stats.da_var[0] / self.stats.da_var[-1])


@functools.lru_cache(maxsize=16)
def framework_stack(framework: str, activation: str, seed: int = 0) -> FrameworkStack:
    """30 hidden layers of 64 ``activation`` units, every layer drawn by :func:`framework_layer`, probed with
    standard-normal inputs and upstream gradients (:func:`gradviz.stats.probe`)."""
    n = FRAMEWORK_WIDTH
    net = MLP(n, depth=FRAMEWORK_DEPTH, width=n, activation=activation, n_outputs=None, seed=seed)
    rng = np.random.default_rng([seed, 4])
    for blk in net.blocks:
        W, b = framework_layer(framework, n, n, rng)
        blk.dense.params["W"][...] = W
        blk.dense.params["b"][...] = b
    stats = probe(net, batch_size=FRAMEWORK_BATCH, seed=seed)
    wv, bv = FRAMEWORK_VARIANCES[framework]
    pred = predict_variances([n] * (FRAMEWORK_DEPTH + 1), activation, wv / n, bv / n)
    weights = np.concatenate([blk.dense.params["W"].ravel() for blk in net.blocks])
    return FrameworkStack(framework, activation, stats, pred, float(weights.var() * n))


def framework_table(seed: int = 0) -> str:
    """One line per framework and activation: n Var(W) measured, the signal and gradient ratios across the stack, and
    the gradient ratio that :func:`gradviz.theory.predict_variances` predicts."""
    rows = [f"{'framework':>18} {'act':>5} {'n Var(W)':>9} {'Var(a^30)/Var(a^1)':>19} "
            f"{'Var(da^1)/Var(da^30)':>21} {'its prediction':>15}"]
    for act in ("tanh", "relu"):
        for fw in FRAMEWORKS:
            st = framework_stack(fw, act, seed)
            pred = float(st.prediction.da_var[0] / st.prediction.da_var[-1])
            rows.append(f"{fw:>18} {act:>5} {st.weight_var:9.3f} {st.signal_ratio:19.3g} {st.gradient_ratio:21.3g} "
                        f"{pred:15.3g}")
    return "\n".join(rows)


# 5. Two paper figures on the digits: Ioffe & Szegedy (2015), Fig. 1 (b, c), and He et al. (2015), Fig. 3.

#: Ioffe & Szegedy's network, as far as the digits allow: 3 hidden layers of 100 sigmoid units.
IOFFE_HIDDEN, IOFFE_LR, IOFFE_STEPS, IOFFE_CHUNK, IOFFE_BATCH = (100, 100, 100), 0.5, 800, 100, 60


@dataclass(frozen=True)
class SigmoidInputs:
    """The 15th, 50th and 85th percentiles of one last-hidden-layer sigmoid input over training.

    Attributes
    ----------
    label : str
    steps : int array (K,)
        Updates applied at each measurement.
    percentiles : float array (K, 3)
        Percentiles 15, 50, 85 over the test digits of the input z of unit 0 of the last hidden layer
        (after batch norm, for the network that has it: what the sigmoid receives).
    test_accuracy : float
        After the last step.
    """

    label: str
    steps: np.ndarray
    percentiles: np.ndarray
    test_accuracy: float

    @property
    def median_drift(self) -> float:
        """Largest minus smallest median over the measurements after the first 10 % of training."""
        late = self.percentiles[self.steps >= 0.1 * self.steps[-1], 1]
        return float(late.max() - late.min())


def _sigmoid_input(net, X):
    """Percentiles 15, 50, 85 of the sigmoid input of unit 0 of the last hidden layer, batch-norm statistics of X
    (the network's moving averages are put back afterwards)."""
    saved = [(ly, {k: v.copy() for k, v in ly.state.items()}) for ly in net.layers if ly.state]
    net.forward(X, training=True)
    for ly, state in saved:
        ly.state.update(state)
    z = net.blocks[-1].cache[0][:, 0]
    return np.percentile(z, (15, 50, 85))


@functools.lru_cache(maxsize=8)
def sigmoid_inputs(batch_norm: bool, seed: int = 0, steps: int = IOFFE_STEPS) -> SigmoidInputs:
    """Train the sigmoid network (batch norm before each sigmoid, or none) on the digits and follow one input.

    3 hidden layers of 100 sigmoid units (Glorot uniform), SGD lr 0.5, batches of 60, ``steps`` updates in
    chunks of 50 (:func:`gradviz.train.train`, one minibatch order for the whole run); after every chunk the
    percentiles of :func:`_sigmoid_input` on the test digits.
    """
    data = digits()
    net = MLP(data.n_features, hidden=IOFFE_HIDDEN, activation="sigmoid", n_outputs=data.n_classes, seed=seed,
              batch_norm="before" if batch_norm else None)
    rng = np.random.default_rng([seed, 5])
    done, marks, pcts, hist = 0, [0], [_sigmoid_input(net, data.X_test)], None
    while done < steps:
        hist = train(net, data, lr=IOFFE_LR, steps=IOFFE_CHUNK, batch_size=IOFFE_BATCH, seed=rng, progress=False,
                     record_every=IOFFE_CHUNK)
        done += IOFFE_CHUNK
        marks.append(done)
        pcts.append(_sigmoid_input(net, data.X_test))
    label = "with batch norm" if batch_norm else "without batch norm"
    return SigmoidInputs(label, np.array(marks), np.array(pcts), float(hist.test_accuracy[-1]))


#: He et al.'s 30-layer comparison on the digits: hidden layers, units, SGD lr, steps, batch.
HE_DEPTH, HE_WIDTH, HE_LR, HE_STEPS, HE_BATCH = 30, 64, 0.02, 300, 64


@functools.lru_cache(maxsize=8)
def deep_relu_run(init: str, seed: int = 0):
    """The 30-layer ReLU network of :data:`HE_DEPTH` trained on the digits with ``init`` (cached): a History."""
    data = digits()
    net = MLP(data.n_features, depth=HE_DEPTH, width=HE_WIDTH, activation="relu", init=init,
              n_outputs=data.n_classes, seed=seed)
    return train(net, data, lr=HE_LR, steps=HE_STEPS, batch_size=HE_BATCH, seed=seed, progress=False,
                 record_every=HE_STEPS)


def deep_relu_runs(seed: int = 0) -> dict:
    """Glorot uniform and He normal: label -> History."""
    return {"Glorot (uniform)": deep_relu_run("glorot_uniform", seed), "He (normal)": deep_relu_run("he_normal", seed)}


# ---- figures
#: The phase diagram's colour scale runs from 1 / PHASE_COLOR_SPAN (blue) through 1 (white) to PHASE_COLOR_SPAN (red).
PHASE_COLOR_SPAN = 2.0
#: What the phase diagram's colour means (its colour bar's label): a ratio per layer, without units.
PHASE_COLOR_LABEL = "Var(dL/da): measured factor per layer\n(a ratio, no unit; log scale)"
#: Points marked on the phase diagram: (label, sigma_w2, sigma_b2).
MARKED = (("Glorot, zero bias: (1, 0)", 1.0, 0.0), ("on the edge: (1.76, 0.05)", 1.76, 0.05))


def draw_phase_diagram(ax, grid=None, *, colorbar=True):
    """The phase diagram on ``ax``: measured factors as colour and the edge of chaos.

    The colour scale is logarithmic and symmetric about 1 (from 1/PHASE_COLOR_SPAN to PHASE_COLOR_SPAN), so a
    factor f and its inverse 1/f are equally far from white; factors beyond the range take the end colours.
    """
    import matplotlib as mpl

    grid = phase_grid() if grid is None else grid
    w, b = PHASE_SIGMA_W2, PHASE_SIGMA_B2
    dw, db = (w[1] - w[0]) / 2, (b[1] - b[0]) / 2
    norm = mpl.colors.LogNorm(vmin=1 / PHASE_COLOR_SPAN, vmax=PHASE_COLOR_SPAN)
    im = ax.imshow(np.clip(grid, 1 / PHASE_COLOR_SPAN, PHASE_COLOR_SPAN), origin="lower", aspect="auto", cmap="RdBu_r", norm=norm,
                   extent=(w[0] - dw, w[-1] + dw, b[0] - db, b[-1] + db), gid="measured")
    ew, eb = edge_points(sigma_b2_max=b[-1] + db)
    ax.plot(ew, eb, color="black", lw=2.2, gid="edge", label=r"edge of chaos, $\chi_1 = 1$ (theory)")
    for (label, x, y), marker in zip(MARKED, ("o", "s")):
        ax.plot([x], [y], marker, color="black", mfc="white", ms=8, mew=1.6, label=label, gid=f"mark:{label}")
    ax.text(0.85, 0.3, "ordered:\ngradients vanish", ha="center", fontsize=10, color="white")  # clear of the left edge
    ax.text(3.3, 0.05, "chaotic:\ngradients explode", ha="center", fontsize=10)
    ax.set_xlim(w[0] - dw, w[-1] + dw)
    ax.set_ylim(b[0] - db, b[-1] + db)
    ax.set_xlabel(r"$\sigma_w^2 = n\,\mathrm{Var}(W)$")
    ax.set_ylabel(r"$\sigma_b^2 = \mathrm{Var}(b)$")
    ax.grid(False)
    cb = None
    if colorbar:
        ticks = [0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0]
        cb = ax.figure.colorbar(im, ax=ax, ticks=ticks, extend="min")
        cb.ax.minorticks_off()
        cb.ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        cb.set_label(PHASE_COLOR_LABEL)
    return im, cb


@figure("edge_of_chaos")
def phase_diagram(grid=None):
    """The (sigma_w^2, sigma_b^2) phase diagram of tanh: measured per-layer gradient factor and the edge chi_1 = 1."""
    fig, ax = plots.new_figure(figsize=(8.0, 5.0))
    with plots.style():
        draw_phase_diagram(ax, grid)
        ax.set_title(f"random tanh networks, {PHASE_DEPTH} layers of {PHASE_WIDTH} units", fontsize=11)
        plots.legend_below(ax, ncol=3, fontsize=8.5)
    return fig


@figure("gradient_clipping")
def clipping_figure(runs=None):
    """Loss per step of the exploding ReLU network with and without clipping, and its gradient norm before and
    after clipping."""
    import matplotlib as mpl

    runs = clipping_runs() if runs is None else runs
    fig, (ax_loss, ax_norm) = plots.new_figure(1, 2, figsize=(11.5, 4.2))
    colors = dict(zip(CLIPPING, (plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["blue"], plots.OKABE_ITO["green"],
                                 "0.45")))
    with plots.style():
        for ax in (ax_loss, ax_norm):
            plots.tidy(ax)
            ax.set_xlabel("training step")
        top = 1000.0
        for label, h in runs.items():
            loss = plots.finite_or_nan(h.loss)
            if np.isfinite(loss).sum() >= 5:
                ax_loss.plot(h.step, plots.moving_average(loss, 5), color=colors[label], label=label,
                             gid=f"loss:{label}")
            else:  # too short for the moving average: each step's loss, as points (off the panel above `top`)
                ax_loss.plot(h.step, loss, "o-", ms=5, color=colors[label], label=f"{label} (each step's loss)",
                             gid=f"loss:{label}")
            if h.diverged:
                # the loss is no longer a number: mark the step at the top edge of the panel
                mark = mpl.transforms.blended_transform_factory(ax_loss.transData, ax_loss.transAxes)
                ax_loss.plot([h.diverged_step], [0.96], "X", ms=10, color=colors[label], transform=mark,
                             clip_on=False, gid=f"diverged:{label}")
                shown = ", ".join(f"{v:.2g}" for v in loss[np.isfinite(loss)])
                ax_loss.annotate(f"losses {shown}, then overflow at step {h.diverged_step}",
                                 (h.diverged_step, 0.96), xycoords=mark,
                                 xytext=(10, -4), textcoords="offset points", fontsize=9, color=colors[label])
            if h.step_grad_norm is not None:
                steps = np.arange(len(h.step_grad_norm))
                ax_norm.plot(steps, h.step_grad_norm, color=colors[label], lw=1.2, label=f"{label}: before",
                             gid=f"before:{label}")
                if h.config.get("clip_norm") != RECORD_ONLY_NORM:  # never clipped: after = before
                    ax_norm.plot(steps, h.step_clipped_norm, color=colors[label], lw=1.6, ls="--",
                                 label=f"{label}: after", gid=f"after:{label}")
        ax_loss.set_yscale("log")
        ax_loss.set_ylim(0.1, top)
        ax_loss.set_ylabel("training loss (5-step average, log)")
        ax_loss.set_title("the exploding network, trained on the digits", fontsize=11)
        plots.legend_below(ax_loss, ncol=2, fontsize=8.5)
        # a wide pale band under the curves: clip by norm's line after clipping lies exactly on it (a dotted line
        # there was hidden by it)
        ax_norm.axhline(CLIP_NORM, color="0.8", lw=6.0, solid_capstyle="butt", zorder=1, gid="threshold",
                        label=f"clip by norm's threshold, {CLIP_NORM:g}")
        ax_norm.set_yscale("log")
        ax_norm.set_ylabel("global gradient norm (log)")
        ax_norm.set_title("gradient norm before and after clipping", fontsize=11)
        plots.legend_below(ax_norm, ncol=2, fontsize=8.5)
    return fig


@figure("skip_connections")
def skip_figure(profiles=None):
    """Per-layer mean square of the gradient (left) and of the stream h^l (right) of plain and residual stacks."""
    profiles = skip_profiles() if profiles is None else profiles
    fig, (ax_g, ax_h) = plots.new_figure(1, 2, figsize=(11.5, 4.2))
    colors = (plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["blue"], plots.OKABE_ITO["green"], "0.45")
    layers = np.arange(RES_DEPTH + 1)
    with plots.style():
        for ax in (ax_g, ax_h):
            plots.tidy(ax)
            ax.set_xlabel("layer $l$ (0: the input)")
            ax.set_yscale("log")
        for c, (label, p) in zip(colors, profiles.items()):
            ax_g.plot(layers, plots.positive_finite(p.dh_ms), color=c, label=label, gid=f"grad:{label}")
            ax_h.plot(layers, plots.positive_finite(p.h_ms), color=c, label=label, gid=f"stream:{label}")
        ax_g.set_ylabel(r"mean square of $\partial L/\partial h^l$ (log)")
        ax_g.set_title("the gradient, from layer 50 down to the input", fontsize=11)
        ax_h.set_ylabel("mean square of $h^l$ (log)")
        ax_h.set_title("the signal, from the input up", fontsize=11)
        fig.legend(handles=ax_g.get_lines(), loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    return fig


@figure("framework_defaults")
def framework_figure(seed: int = 0):
    """Per-layer Var(a^l) and Var(dL/da^l) of 30-layer tanh and ReLU stacks initialised as PyTorch, Keras and Flax do."""
    import matplotlib as mpl

    fig, axes = plots.new_figure(2, 2, figsize=(11.5, 7.0), sharex=True)
    colors = dict(zip(FRAMEWORKS, (plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["blue"], plots.OKABE_ITO["green"])))
    layers = np.arange(1, FRAMEWORK_DEPTH + 1)
    with plots.style():
        for j, act in enumerate(("tanh", "relu")):
            for i, (q, label) in enumerate((("a", "Var($a^l$)"), ("da", r"Var($\partial L/\partial a^l$)"))):
                ax = axes[i, j]
                plots.tidy(ax)
                ax.set_yscale("log")
                for fw in FRAMEWORKS:
                    st = framework_stack(fw, act, seed)
                    ax.plot(layers, plots.positive_finite(getattr(st.stats, f"{q}_var")), "o-", ms=2.5, lw=1.3,
                            color=colors[fw], label=fw, gid=f"{q}:{act}:{fw}")
                    ax.plot(layers, plots.positive_finite(getattr(st.prediction, f"{q}_var")), "--", lw=1.6,
                            alpha=0.7, color=colors[fw], gid=f"predicted:{q}:{act}:{fw}")
                ax.set_ylabel(f"{label} (log)")
                if i == 0:
                    ax.set_title(f"{FRAMEWORK_DEPTH} {'tanh' if act == 'tanh' else 'ReLU'} layers of "
                                 f"{FRAMEWORK_WIDTH} units", fontsize=11)
                else:
                    ax.set_xlabel("hidden layer $l$")
        handles = [mpl.lines.Line2D([], [], color=colors[fw], marker="o", ms=2.5, lw=1.3, label=f"{fw}, measured")
                   for fw in FRAMEWORKS]
        handles.append(mpl.lines.Line2D([], [], color="0.3", ls="--", lw=1.6,
                                        label="predicted, in each colour (Keras's and Flax's coincide)"))
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9, frameon=False)
    return fig


@figure("ioffe_szegedy_fig1")
def ioffe_figure(runs=None):
    """Percentiles 15, 50, 85 of one last-hidden-layer sigmoid input over training, without and with batch norm
    (after Ioffe & Szegedy 2015, Fig. 1 b, c), on the digits."""
    runs = runs if runs is not None else [sigmoid_inputs(False), sigmoid_inputs(True)]
    fig, axes = plots.new_figure(1, len(runs), figsize=(11.0, 3.8), sharey=True)
    with plots.style():
        for ax, r in zip(axes, runs):
            plots.tidy(ax)
            styles = ((15, ":", "v", plots.OKABE_ITO["sky_blue"]), (50, "-", "o", plots.OKABE_ITO["blue"]),
                      (85, "--", "^", plots.OKABE_ITO["vermillion"]))
            for k, (pct, ls, marker, color) in enumerate(styles):
                ax.plot(r.steps, r.percentiles[:, k], ls=ls, marker=marker, ms=4, color=color, lw=1.6,
                        gid=f"p{pct}:{r.label}", label=f"{pct}th percentile")
            ax.set_title(f"{r.label} (test accuracy {r.test_accuracy:.0%})", fontsize=11)
            ax.set_xlabel("training step")
        axes[0].set_ylabel("input of one sigmoid\nof the last hidden layer")  # one line was cut at the top
        fig.legend(handles=axes[0].get_lines(), loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    return fig


@figure("he_et_al_fig3")
def he_figure(runs=None):
    """Training loss of a 30-layer ReLU network on the digits with Glorot's and He's init (after He et al. 2015,
    Fig. 3)."""
    runs = deep_relu_runs() if runs is None else runs
    fig, ax = plots.new_figure(figsize=(7.5, 4.0))
    colors = (plots.OKABE_ITO["vermillion"], plots.OKABE_ITO["blue"])
    with plots.style():
        plots.tidy(ax)
        for c, (label, h) in zip(colors, runs.items()):
            ax.plot(h.step, h.loss, color=c, alpha=0.3, lw=0.8, gid=f"raw:{label}", zorder=3)
            ax.plot(h.step, plots.moving_average(h.loss, 20), color=c, lw=2, label=label, gid=f"loss:{label}")
        ax.axhline(math.log(10), color="0.4", lw=0.8, ls=":", gid="chance")
        # the label right of the axes, where no curve can run through it (the He run's spikes crossed it inside)
        ax.annotate("chance:\nln 10", xy=(1.0, math.log(10)), xycoords=ax.get_yaxis_transform(), xytext=(4, 0),
                    textcoords="offset points", ha="left", va="center", fontsize=9, color="0.4",
                    annotation_clip=False, gid="chance label")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (moving average of 20 steps)")
        ax.set_title(f"{HE_DEPTH} ReLU layers of {HE_WIDTH} units on the digits", fontsize=11)
        ax.text(0.02, 0.02, "thin: every step's loss; thick: moving average of 20 steps", transform=ax.transAxes,
                fontsize=8.5, color="0.35")
        plots.legend_below(ax, fontsize=9)
    return fig


# ---- explorers
#: The title of the explorer's variance panel in each phase (:attr:`GradientFactor.phase`).
PHASE_TITLES = {"ordered": r"ordered phase: $\chi_1 < 1$", "critical": r"critical: $\chi_1 = 1$ (within 1 %)",
                "chaotic": r"chaotic phase: $\chi_1 > 1$"}


@functools.lru_cache(maxsize=64)
def _edge_weight_variance(sigma_b2: float) -> float:
    """The edge of chaos at ``sigma_b2`` (:func:`gradviz.theory.critical_weight_variance`, tanh), cached: the
    explorer's readout needs it at every step of the sigma_w^2 slider, and it depends on sigma_b^2 only."""
    return critical_weight_variance("tanh", sigma_b2)


class EdgeOfChaosExplorer(Explorer):
    """Pick (sigma_w^2, sigma_b^2): the random tanh network there, its per-layer variances measured and predicted.

    Left: the phase diagram (:func:`phase_diagram`, with its colour bar) with the chosen point. Right: Var(z^l) and
    Var(dL/da^l) per layer of :func:`random_tanh_net` (probed, solid) beside
    :func:`gradviz.theory.predict_variances` (dashed), and the fixed point q* (dotted). The readout gives
    chi_1, q*, the phase, and the measured factor.

    Controls: ``sigma_w2``, ``sigma_b2``.
    """

    figsize = (11.0, 4.4)

    def __init__(self, canvas="auto", **values):
        self.readout = ipywidgets.HTML()
        super().__init__(canvas, **values)

    def make_controls(self):
        def slider(description, low, high, value, step):
            return ipywidgets.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                                          readout_format=".2f", style=widgets.CONTROL_STYLE)

        return {"sigma_w2": slider("sigma_w^2 = n Var(W)", 0.5, 4.0, 1.76, 0.02),
                "sigma_b2": slider("sigma_b^2 = Var(b)", 0.0, 0.4, 0.05, 0.01)}

    def setup_figure(self, fig):
        self.ax_phase, self.ax_var = fig.subplots(1, 2, width_ratios=[1.0, 1.1])
        # the colour bar never changes: its own Axes, outside blit_axes, is drawn once in the background
        _, self.colorbar = draw_phase_diagram(self.ax_phase)
        (self.point,) = self.ax_phase.plot([], [], "*", color=plots.OKABE_ITO["yellow"], mec="black", ms=16,
                                           gid="point", zorder=5)
        self.ax_phase.set_title("measured factor per layer (colour)", fontsize=10)
        ax = self.ax_var
        plots.tidy(ax)
        self.lines = {}
        for q, label in (("z", "Var($z^l$)"), ("da", r"Var($\partial L/\partial a^l$)")):
            (self.lines[f"measured:{q}"],) = ax.plot([], [], "o-", ms=3, lw=1.2, color=plots.COLORS[q], label=label,
                                                     gid=f"measured:{q}")
            (self.lines[f"predicted:{q}"],) = ax.plot([], [], "--", lw=2.2, alpha=0.75, color=plots.COLORS[q],
                                                      gid=f"predicted:{q}")
        self.q_line = ax.axhline(1.0, color="0.4", lw=1, ls=":", gid="q_star", label="fixed point q*")
        # a log axis quick to redraw, whose limits stay put while the curves move a little (autoscale, sticky)
        plots.fast_log_yaxis(ax)
        ax.set_xlabel("hidden layer $l$")
        ax.set_ylabel("variance (log scale)")
        ax.set_xlim(0.5, PHASE_DEPTH + 0.5)
        plots.legend_below(ax, ncol=3, fontsize=8.5)  # under the axes, so it is drawn once (blit_static)

    def blit_axes(self):
        return [self.ax_phase, self.ax_var]  # the variance axis moves: last

    def blit_static(self):
        # the phase diagram (colours, edge, marks, labels) and the legend never change: drawn once, not per frame
        phase = [a for a in self.ax_phase.get_children() if a.get_gid() != "point"
                 and a not in (self.ax_phase.patch, self.ax_phase.xaxis, self.ax_phase.yaxis,
                               *self.ax_phase.spines.values())]
        return phase + [self.ax_var.get_legend()]

    def refresh(self, sigma_w2, sigma_b2):
        g = gradient_factor(round(float(sigma_w2), 4), round(float(sigma_b2), 4))
        pred = g.prediction
        layers = np.arange(1, PHASE_DEPTH + 1)
        for q in ("z", "da"):
            self.lines[f"measured:{q}"].set_data(layers, plots.positive_finite(getattr(g.stats, f"{q}_var")))
            self.lines[f"predicted:{q}"].set_data(layers, plots.positive_finite(getattr(pred, f"{q}_var")))
        self.q_line.set_ydata([g.q_star, g.q_star])
        self.q_line.set_visible(g.q_star > 0)
        self.point.set_data([sigma_w2], [sigma_b2])
        self.autoscale(self.ax_var, x=False, sticky=True)
        # sigma_w^2 and sigma_b^2 are on the sliders and the star: the title changes with the phase only, as a title
        # redrawn at every step cost as much as the rest of the frame (gradviz._canvas.Blitter, 'title')
        self.ax_var.set_title(PHASE_TITLES[g.phase], fontsize=10)
        self.result = g
        lines = self.summary_lines(g)
        self.readout.value = f"<b>{html.escape(lines[0])}</b><br>" + "<br>".join(html.escape(s) for s in lines[1:])

    @staticmethod
    def summary_lines(g):
        edge = _edge_weight_variance(g.sigma_b2)
        n = PHASE_DEPTH - 1
        first = f"chi_1 = {g.chi_1:.3f} at the fixed point q* = {g.q_star:.3g}: {g.phase} phase"
        second = (f"Factor of Var(dL/da) per layer, layers {PHASE_DEPTH} -> 1: measured {g.measured:.3f}, "
                  f"predicted layer by layer {g.recursion:.3f}; over the {n} layers: measured "
                  f"{g.measured ** n:.3g}, predicted {g.recursion ** n:.3g}.")
        third = f"At sigma_b^2 = {g.sigma_b2:.2f} the edge of chaos is at sigma_w^2 = {edge:.3f}."
        return [first, second, third]

    def summary(self) -> str:
        """What the explorer shows now, as plain text."""
        return "\n".join(self.summary_lines(self.result))


# ---- exercises
# Answers come from gradviz.theory and gradviz.optim.
def _explain_chi_1(v):
    q = fixed_point_variance("tanh", 2.5, 0.2)
    edge = critical_weight_variance("tanh", 0.2)
    return (
        f"First the fixed point: iterating q <- 2.5 E[tanh(sqrt(q) u)^2] + 0.2 settles at q* = {q:.4g}. Then "
        f"chi_1 = 2.5 E[tanh'(sqrt(q*) u)^2] = {v:.4g}, above 1: the chaotic phase, the gradient's variance grows "
        f"by about {v:.3g} per layer towards the input. At sigma_b^2 = 0.2 the edge is at sigma_w^2 = {edge:.3g}: "
        "the bias variance adds to q*, so every layer's z lies further from 0, where tanh is steepest; its "
        "slope is smaller on average, and larger weights are needed to reach chi_1 = 1.\n"
        "In code: gv.theory.chi_1('tanh', 2.5, 0.2)"
    )


@exercise(
    "08.1",
    question="A deep tanh network with sigma_w^2 = 2.5 and sigma_b^2 = 0.2: compute chi_1 (two decimals are "
    "enough). Is the network ordered or chaotic?",
    hint="chi_1 = sigma_w^2 E[tanh'(z)^2] with z ~ N(0, q*), at the fixed point q* of q = sigma_w^2 E[tanh(z)^2] + "
    "sigma_b^2. q* = gv.theory.fixed_point_variance('tanh', 2.5, 0.2); then average tanh'(z)^2 = 1 / cosh(z)^4 "
    "over a million samples z ~ N(0, q*) with numpy. (The phase diagram's colour only tells you above or below 1.)",
    explain=_explain_chi_1,
)
def chi_1_exercise():
    return chi_1("tanh", 2.5, 0.2)


def _explain_clip(f):
    return (
        "If the norm ||g|| = sqrt(sum g_i^2) is above max_norm, multiply g by max_norm / ||g||; otherwise return "
        "it unchanged. The direction stays the same, only the length is capped (Pascanu, Mikolov & Bengio 2013, "
        f"Algorithm 1). For g = (3, 4) and max_norm 1: {f(np.array([3.0, 4.0]), 1.0)}.\n"
        "In code: gv.optim.clip_grad_norm(net, max_norm) does this for all of a network's gradients together."
    )


@exercise(
    "08.2",
    question="Write clip_by_norm(g, max_norm): the vector g rescaled to norm max_norm if its norm is larger, else g.",
    hint="np.linalg.norm(g) is the L2 norm. Return g * (max_norm / norm) when norm > max_norm.",
    explain=_explain_clip,
    # (3, 4) with 10: a norm above 1 but below max_norm (catches comparing with 1); (0.8, 0.8) with 1: every entry
    # below max_norm but the norm above (catches testing the largest entry instead of the norm)
    inputs=[(np.array([3.0, 4.0]), 1.0), (np.array([0.1, -0.2, 0.05]), 1.0), (np.array([-30.0, 1e-3, 2.0]), 5.0),
            (np.array([3.0, 4.0]), 10.0), (np.array([0.8, 0.8]), 1.0)],
    rtol=1e-9,
)
def clip_by_norm(g, max_norm):
    g = np.asarray(g, dtype=float)
    norm = float(np.sqrt(np.sum(g * g)))
    return g * (max_norm / norm) if norm > max_norm else g.copy()


def _explain_residual_relu(v):
    Q, _ = residual_relu_recursion(sigma_w2=1.0)
    f = Q[1:] / Q[:-1]
    Q_he, _ = residual_relu_recursion()
    measured = stack_profile("residual ReLU (He)")
    return (
        "Keras's glorot_uniform in a square layer draws Var(W) = 2 / (n + n) = 1 / n, so z^1 = x W^1 has "
        "E[z^2] = n Var(W) E[x^2] = E[x^2], and ReLU keeps half of that: E[relu(z)^2] = E[z^2] / 2 = E[x^2] / 2. The "
        "first block adds r = relu(z^1) to x, and E[(x + r)^2] = E[x^2] + 2 E[x r] + E[r^2]. The cross term is 0 "
        "although r is computed from x: averaged over the random weights, a unit's r_j depends on the input only "
        "through its overall size (about the same for every input of a wide layer), not on the sign of x_j, so "
        "E[x_j r_j] = E[x_j] E[r_j] = 0 for an input of mean 0. So E[(h^1)^2] = (1 + 1/2) E[x^2] = "
        f"{v:g} E[x^2]. With He's init (section 3) the branch adds the input's whole mean square, and the first "
        "block doubles it.\n"
        "After the first block the factor grows: every ReLU output is positive, so h builds up a positive mean and "
        "the cross term 2 E[h] E[r] adds to the growth. The mean-field recursion with the mean "
        f"(ch.residual_relu_recursion(sigma_w2=1.0)) predicts {f[1]:.2f} in block 2, {f[-1]:.2f} in block 50 and "
        f"{Q[-1]:.2g} over the 50 blocks ({Q[-1] ** (1 / 50):.2f} per block on average); with He's init it gives "
        f"{Q_he[-1]:.2g}, and the stack of section 3 measured {measured.variance_ratio:.3g}, "
        f"{measured.stream_factor:.2f} per block.\n"
        "In code: 1 + gv.theory.predict_variances([64, 64], 'relu', "
        "gv.init.weight_variance('glorot_uniform', 64, 64)).a_second_moment[0]"
    )


@exercise(
    "08.3",
    question="A residual stack h^l = h^(l-1) + relu(h^(l-1) W^l) of square 64 x 64 layers with Keras's default "
    "weights (glorot_uniform) and an input x of mean 0: by what factor does the mean square grow in the first "
    "block, E[(h^1)^2] / E[x^2], by the mean-field argument?",
    hint="In a square layer Glorot gives n Var(W) = 1 (section 4), so E[z^2] = n Var(W) E[x^2]; ReLU keeps half "
    "of E[z^2]. Expand E[(x + relu(z))^2]: what is the cross term when x has mean 0? Section 3 does the same "
    "with He's init.",
    explain=_explain_residual_relu,
)
def residual_relu_growth():
    """E[(h^1)^2] / E[x^2] of a residual ReLU block with glorot_uniform weights (RES_WIDTH x RES_WIDTH)."""
    w_var = weight_variance("glorot_uniform", RES_WIDTH, RES_WIDTH)
    return 1.0 + float(predict_variances([RES_WIDTH, RES_WIDTH], "relu", w_var).a_second_moment[0])


def _explain_pytorch_default(v):
    return (
        f"nn.Linear draws W from U(-1/sqrt(n), 1/sqrt(n)) (kaiming_uniform_ with a = sqrt(5): gain sqrt(2 / (1 + 5)) "
        f"times sqrt(3 / n)). U(-l, l) has variance l^2 / 3, so n Var(W) = n (1 / n) / 3 = {v:.4g}: a third of "
        "Glorot's 1 and a sixth of He's 2. In a deep tanh stack chi_1 is then about 1/3 per layer, in a ReLU stack "
        "1/6: the gradient vanishes, unless you choose an initializer yourself.\n"
        "In code: ch.framework_stack('PyTorch nn.Linear', 'tanh').weight_var measures it on 30 drawn layers."
    )


@exercise(
    "08.4",
    question="PyTorch's nn.Linear(n, n) draws its weights from U(-1/sqrt(n), 1/sqrt(n)) by default. What is n Var(W)?",
    hint="A uniform distribution on [-l, l] has variance l^2 / 3.",
    explain=_explain_pytorch_default,
    rtol=1e-3,  # 0.3333 is right
)
def pytorch_default_weight_variance():
    return FRAMEWORK_VARIANCES["PyTorch nn.Linear"][0]
