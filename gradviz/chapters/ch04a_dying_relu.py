"""Chapter 04a, ReLU and dying ReLU: a slope of exactly 1 above zero, exactly 0 below, and units that die.

The code behind ``notebooks/04a_relu_and_dying_relu.ipynb``, the first half of
chapter 04 (the second half, :mod:`gradviz.chapters.ch04b_relu_variants`,
repairs what this one breaks). ReLU has slope exactly 1 for every z > 0, so a
gradient crossing many ReLU layers is not multiplied by small slopes as it is
through sigmoids; but a unit with z <= 0 for every input passes no gradient at
all (it is *dead*). The chapter provokes dead units with a large learning rate
and with a negative bias shift, lets the learner move the learning rate
(:class:`DyingReluExplorer`), and counts the networks dead at birth against the
closed form :func:`gradviz.theory.dead_at_birth_probability`.

A notebook imports it as ``from gradviz.chapters import ch04a_dying_relu as ch``.
Runs on the digits come from :func:`gradviz.train.digits_run` (4 hidden layers
x 64 units, He init, SGD lr 0.1, 200 steps of 64, seed 0 unless stated); every
figure accepts the runs the notebook already trained, to avoid training twice.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import ipywidgets
import numpy as np

from .. import _canvas, plots
from .._controls import check_size
from .._validate import check_choice, check_finite, check_positive, check_positive_int, get_rng
from ..data import digits
from ..exercises import exercise
from ..figures import figure
from ..init import ALIASES, INITIALIZERS, weight_variance
from ..theory import dead_at_birth_probability
from ..train import DraftedRuns, RunCache, digits_run, progress_bar
from ..widgets import CONTROL_STYLE, Explorer, int_slider, log_slider

__all__ = [
    "simulate_dead_at_birth", "lr_race", "seed_sweep", "dying_relu_training", "dead_at_birth_simulations",
    "dead_at_birth", "points_off_the_curve", "DyingReluExplorer", "dead_at_birth_code",
]

#: One colour per hidden layer of the chapter's 4-layer network (dark enough to read on white, and no two
#: of them neighbours in hue). Colour means a layer on every figure of the chapter, nothing else.
LAYER_COLORS = tuple(plots.OKABE_ITO[c] for c in ("blue", "green", "vermillion", "purple"))

#: Line styles of the learning rates in an accuracy panel: black and grey, so that no colour means two things.
LR_STYLES = (("black", "-"), ("0.45", "--"), ("black", ":"), ("0.45", "-."))


# ---- experiments
@dataclass
class DeadAtBirthSimulation:
    """Result of :func:`simulate_dead_at_birth`.

    Attributes
    ----------
    depth, width, n_networks : int
    dead_by_layer : float array (depth,)
        Entry l - 1: fraction of the simulated networks in which one of the
        hidden layers 1..l already has every unit silent on the input (so the
        network's layers from there on output 0). The last entry is
        :attr:`probability`.
    probability : float
        Fraction of networks dead at birth for this input.
    standard_error : float
        sqrt(p (1 - p) / n_networks): how far the fraction typically lies from
        the true probability when it is estimated from ``n_networks`` draws
        (the standard deviation of a binomial count divided by n_networks).
    """

    depth: int
    width: int
    n_networks: int
    dead_by_layer: np.ndarray
    probability: float
    standard_error: float

    @property
    def standard_errors(self) -> np.ndarray:
        """Standard error of every entry of :attr:`dead_by_layer`, shape (depth,)."""
        p = self.dead_by_layer
        return np.sqrt(p * (1.0 - p) / self.n_networks)


def simulate_dead_at_birth(depth: int, width: int, n_networks: int = 20000, x=None, *, n_inputs: int = 64,
                           init: str = "he_normal", bias: float = 0.0, seed=0) -> DeadAtBirthSimulation:
    """Draw ``n_networks`` random ReLU networks and count those dead at birth for the input ``x``.

    Each network has ``depth`` hidden ReLU layers of ``width`` units on top of
    ``len(x)`` inputs, weights drawn as :class:`gradviz.network.MLP` draws them
    (initializer ``init``, W of shape (fan_in, fan_out)) and every bias equal to
    ``bias``. The network is *dead at birth for x* if some hidden layer has
    z <= 0 in every unit, i.e. outputs all zeros: then every later layer sees
    the input 0, the output no longer depends on x, and no gradient reaches
    the layers below. (A network is followed only until it dies: its later
    layers cannot change that.) This is the event
    whose probability :func:`gradviz.theory.dead_at_birth_probability` gives
    in closed form for zero biases, 1 - (1 - 2**-width)**depth.

    All networks are propagated at once (weights of shape
    (networks, fan_in, width), in chunks), so 20000 narrow networks take a
    fraction of a second.

    Parameters
    ----------
    depth, width : int >= 1
        Hidden layers and units per hidden layer.
    n_networks : int >= 1
        Number of independent networks drawn.
    x : array (n_inputs,) or None
        The fixed input (e.g. one image of the digits); None: a standard-normal
        vector of ``n_inputs`` entries drawn from ``seed``. Must not be all
        zeros.
    n_inputs : int >= 1
        Length of the random input when ``x`` is None.
    init : str
        A normal or uniform initializer of :mod:`gradviz.init` (``he_normal``,
        ``glorot_uniform``, ``lecun_normal``...). The probability does not
        depend on the weights' scale, only on their symmetry about 0.
    bias : float
        Value of every hidden bias (0 in the closed form; a negative value
        makes death more likely).
    seed : int or numpy.random.Generator
        Same seed, same networks, bit for bit.

    Returns
    -------
    DeadAtBirthSimulation

    Raises
    ------
    ValueError, TypeError
        Non-positive sizes, an all-zero or non-finite ``x``, an initializer
        that is not normal or uniform (orthogonal columns are not independent).

    Examples
    --------
    >>> sim = simulate_dead_at_birth(10, 2, n_networks=4000, seed=0)
    >>> abs(sim.probability - (1 - 0.75 ** 10)) < 4 * sim.standard_error
    True
    """
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    n_networks = check_positive_int("n_networks", n_networks)
    bias = check_finite("bias", bias)
    allowed = [n for n in tuple(INITIALIZERS) + tuple(ALIASES) if n.endswith(("normal", "uniform"))]
    init = check_choice("init", init, allowed)
    init = ALIASES.get(init, init)
    rng = get_rng(seed)
    if x is None:
        x = rng.standard_normal(check_positive_int("n_inputs", n_inputs))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x must be a 1-D array (one input vector); got shape {x.shape}")
    if not np.isfinite(x).all() or not np.any(x):
        raise ValueError("x must be finite and not all zeros (a zero input gives z = bias in every unit)")

    widths = [x.size] + [width] * depth
    first_dead = np.full(n_networks, depth + 1)  # 1-based first all-silent layer; depth + 1 = never
    # networks per chunk: keep one chunk's weight tensor near 2 million numbers
    chunk = max(1, min(n_networks, 2_000_000 // max(widths[i] * widths[i + 1] for i in range(depth))))
    for start in range(0, n_networks, chunk):
        n = min(chunk, n_networks - start)
        alive = np.arange(start, start + n)  # networks not dead yet: only these need their next layer
        h = np.broadcast_to(x, (n, x.size))
        for l in range(1, depth + 1):
            fan_in, fan_out = widths[l - 1], widths[l]
            var = weight_variance(init, fan_in, fan_out)
            m = alive.size
            if init.endswith("uniform"):
                lim = np.sqrt(3.0 * var)
                W = rng.uniform(-lim, lim, size=(m, fan_in, fan_out))
            else:
                W = np.sqrt(var) * rng.standard_normal((m, fan_in, fan_out))
            z = np.matmul(h[:, None, :], W)[:, 0, :] + bias
            all_silent = (z <= 0).all(axis=1)
            first_dead[alive[all_silent]] = l
            alive, h = alive[~all_silent], np.maximum(z[~all_silent], 0.0)
            if not alive.size:
                break
    dead_by_layer = np.array([(first_dead <= l).mean() for l in range(1, depth + 1)])
    p = float(dead_by_layer[-1])
    return DeadAtBirthSimulation(depth=depth, width=width, n_networks=n_networks, dead_by_layer=dead_by_layer,
                                 probability=p, standard_error=float(np.sqrt(p * (1.0 - p) / n_networks)))


@dataclass(eq=False)
class LrRace:
    """Outcomes of short runs at several learning rates and seeds (see :func:`lr_race`).

    Attributes
    ----------
    lrs : tuple of float
    seeds : tuple of int
    outcomes : dict lr -> tuple of str
        One of :data:`gradviz.train.OUTCOMES` per seed, in the order of ``seeds``.
    steps : int
    """

    lrs: tuple
    seeds: tuple
    outcomes: dict
    steps: int

    def count(self, lr, outcome: str) -> int:
        """How many seeds ended with ``outcome`` at learning rate ``lr``."""
        return sum(o == outcome for o in self.outcomes[lr])

    def as_table(self) -> str:
        """One row per learning rate: how many seeds stayed alive, died, diverged, and the outcome of each seed."""
        mark = {"alive": ".", "dead": "D", "diverged": "X"}
        rows = [f"{'lr':>8} {'alive':>6} {'dead':>5} {'diverged':>8}   per seed ({', '.join(map(str, self.seeds))})"]
        for lr in self.lrs:
            per_seed = " ".join(mark[o] for o in self.outcomes[lr])
            rows.append(f"{lr:>8g} {self.count(lr, 'alive'):>6d} {self.count(lr, 'dead'):>5d} "
                        f"{self.count(lr, 'diverged'):>8d}   {per_seed}")
        rows.append("(. alive, D a whole hidden layer dead on all training images, X overflow)")
        return "\n".join(rows)

    def survivors_table(self) -> str:
        """One row per learning rate: how many seeds stayed alive and how many were wrecked (dead or diverged).

        Unlike :meth:`as_table`, this holds on any machine: whether a wrecked run
        died or overflowed first is a race decided by the last bits of the
        arithmetic, and can differ between BLAS kernels.
        """
        rows = [f"{'lr':>8} {'alive':>6} {'wrecked':>8}   (of {len(self.seeds)} seeds)"]
        for lr in self.lrs:
            alive = self.count(lr, "alive")
            rows.append(f"{lr:>8g} {alive:>6d} {len(self.seeds) - alive:>8d}")
        return "\n".join(rows)


def lr_race(lrs, seeds=range(6), *, steps: int = 30, activation: str = "relu", data=None, progress=False,
            **run_kwargs) -> LrRace:
    """Short runs on the digits at each learning rate and seed: did each stay alive, die or diverge?

    At a very large learning rate the first updates are huge. Two things can
    then happen first: a number overflows (the run *diverges*), or the units
    of a whole hidden layer are pushed to z <= 0 for every input (the run is
    *dead*: the output no longer depends on the input, the loss is finite again,
    and nothing below that layer ever gets a gradient again). Which comes first depends on the particular weights and
    minibatches, i.e. on the seed; within a few tens of steps it is decided.

    Parameters
    ----------
    lrs : sequence of float > 0
    seeds : iterable of int
    steps : int >= 1
        Updates per run.
    activation : str
    data : Dataset or None
        None: :func:`gradviz.data.digits` (the default split, loaded once).
    progress : bool
        One progress bar over all runs.
    **run_kwargs
        Passed to :func:`gradviz.train.digits_run` (depth, width, bias, batch_size...).

    Returns
    -------
    LrRace

    Raises
    ------
    ValueError
        An empty ``lrs`` or ``seeds``, or what :func:`gradviz.train.digits_run` raises.
    """
    lrs = tuple(float(check_positive("lr", lr)) for lr in lrs)
    seeds = tuple(int(s) for s in seeds)
    if not lrs or not seeds:
        raise ValueError("lrs and seeds must each hold at least one value")
    if data is None:
        data = digits()
    bar = None
    if progress:
        bar = progress_bar(len(lrs) * len(seeds), "runs", "run")
    outcomes = {}
    try:
        for lr in lrs:
            row = []
            for s in seeds:
                run = digits_run(activation, lr=lr, steps=steps, seed=s, data=data, progress=False,
                                 record_every=steps, **run_kwargs)
                row.append(run.outcome)
                if bar is not None:
                    bar.update(1)
            outcomes[lr] = tuple(row)
    finally:
        if bar is not None:
            bar.close()
    return LrRace(lrs=lrs, seeds=seeds, outcomes=outcomes, steps=int(steps))


@dataclass(eq=False)
class SeedSweep:
    """Runs at one learning rate that differ only in the seed (see :func:`seed_sweep`).

    Attributes
    ----------
    lr : float
    runs : dict seed -> gradviz.train.DigitsRun
    """

    lr: float
    runs: dict

    @property
    def test_accuracies(self) -> np.ndarray:
        """Test accuracy after training of each seed, in [0, 1] (nan for a run that overflowed), shape (seeds,)."""
        return np.array([r.test_accuracy for r in self.runs.values()])

    def as_table(self) -> str:
        """One row per seed: outcome, test accuracy and dead units per layer on all training images."""
        rows = [f"lr {self.lr:g}, {len(self.runs)} seeds (each: other initial weights and minibatches)",
                f"{'seed':>4}  {'outcome':<8} {'test acc.':>9}   dead units per layer"]
        for seed, run in self.runs.items():
            acc = "-" if run.outcome == "diverged" else f"{run.test_accuracy:.1%}"
            dead = " ".join(f"{f:4.0%}" for f in run.activity.dead_fraction)
            rows.append(f"{seed:>4}  {run.outcome:<8} {acc:>9}   {dead}")
        return "\n".join(rows)


def seed_sweep(lr: float, seeds=range(6), *, data=None, **run_kwargs) -> SeedSweep:
    """Train the chapter's ReLU network once per seed at learning rate ``lr``; keep every run.

    Near the edge of stability (lr about 1 for the chapter's network) the
    result depends on the seed far more than on anything else: the spread of
    :attr:`SeedSweep.test_accuracies` shows it.

    Parameters
    ----------
    lr : float > 0
    seeds : iterable of int
    data : Dataset or None
        None: :func:`gradviz.data.digits`.
    **run_kwargs
        Passed to :func:`gradviz.train.digits_run` (steps, depth, bias...). Only
        the final state is evaluated unless ``record_every`` is given.

    Returns
    -------
    SeedSweep

    Raises
    ------
    ValueError
        An empty ``seeds``, a non-positive ``lr``, or what :func:`gradviz.train.digits_run` raises.
    """
    lr = float(check_positive("lr", lr))
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed; got none")
    data = digits() if data is None else data
    run_kwargs.setdefault("record_every", run_kwargs.get("steps", 200))
    runs = {s: digits_run("relu", lr=lr, seed=s, data=data, label=f"lr {lr:g}, seed {s}", **run_kwargs)
            for s in seeds}
    return SeedSweep(lr=lr, runs=runs)


def dying_runs(lrs=(0.1, 1.0, 50.0), *, progress=False):
    """ReLU runs at the given learning rates (else the chapter's setup); return {'lr <lr>': run}."""
    data = digits()
    return {f"lr {lr:g}": digits_run("relu", lr=lr, data=data, progress=progress, label=f"lr {lr:g}") for lr in lrs}


def dead_at_birth_simulations(widths=(2, 3, 4, 6), depth=30, n_networks=5000, seed=0):
    """{width: DeadAtBirthSimulation} for one digit image as input (the first training image)."""
    x = digits().X_train[0]
    return {w: simulate_dead_at_birth(depth, w, n_networks, x=x, seed=seed) for w in widths}


def points_off_the_curve(sims, k: float = 2.0):
    """How many simulated points of :func:`dead_at_birth_simulations` lie more than ``k`` standard errors off the formula.

    A point is (width, depth L): the simulated fraction dead by layer L against
    :func:`gradviz.theory.dead_at_birth_probability` (L, width). Its standard
    error is the formula's, sqrt(p (1 - p) / n_networks), so a point whose
    simulated fraction is 0 still has a scale. With independent points, about
    5 % of them lie beyond 2 standard errors by chance alone (a normal
    variable does so with probability 0.0455); the points of one width are
    not independent along depth, since the same networks are followed.

    Parameters
    ----------
    sims : dict width -> DeadAtBirthSimulation
    k : float > 0

    Returns
    -------
    (n_off, n_points, max_abs_z) : int, int, float
        Points beyond ``k`` standard errors, all points, and the largest
        distance from the formula in standard errors.
    """
    k = check_positive("k", k)
    zs = []
    for w, sim in sims.items():
        p = np.array([dead_at_birth_probability(int(d), int(w)) for d in range(1, sim.depth + 1)])
        se = np.sqrt(p * (1.0 - p) / sim.n_networks)
        zs.append(np.abs(sim.dead_by_layer - p) / se)
    z = np.concatenate(zs)
    return int((z > k).sum()), int(z.size), float(z.max())


# ---- figures
@figure("relu_and_sigmoid")
def relu_and_sigmoid():
    """ReLU and the sigmoid with their slopes: 1 for every z > 0 and 0 below, against at most 1/4 everywhere."""
    fig, (a1, a2) = plots.new_figure(1, 2, figsize=(10, 4.0), sharey=True)
    x_range = (-6.0, 6.0)
    plots.plot_activation("relu", ax=a1, x_range=x_range)
    plots.plot_activation("sigmoid", ax=a2, x_range=x_range)
    with plots.style():
        a1.set_title("ReLU: slope exactly 1 for $z > 0$, exactly 0 below")
        a2.set_title(r"sigmoid: slope at most 1/4, near 0 on both tails")
        a2.axhline(0.25, color="0.45", lw=0.9, ls=":", zorder=1, gid="quarter")
        a2.text(5.9, 0.29, "1/4", ha="right", va="bottom", fontsize=9, color="0.35")
        a2.set_ylabel("")
        for ax in (a1, a2):
            ax.set_ylim(-0.25, 1.6)
            ax.legend(loc="upper left", fontsize=9)
    return fig


@figure("dying_relu_training")
def dying_relu_training(runs=None):
    """ReLU MLPs on the digits at three learning rates: dead units per layer during training, and test accuracy."""
    runs = runs if runs is not None else dying_runs()
    runs = {k: r for k, r in runs.items() if not r.history.diverged}
    n = len(runs)
    ncols = 2
    nrows = (n + 2) // ncols
    fig, axes = plots.new_figure(nrows, ncols, figsize=(10, 3.3 * nrows + 0.9), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n + 1:]:
        ax.set_visible(False)
    for i, (ax, (label, run)) in enumerate(zip(axes[:n], runs.items())):
        h = run.history
        L = h.dead_fraction.shape[1]
        with plots.style():
            plots.tidy(ax)
            for l in range(1, L + 1):  # lower layers drawn wider, so lines lying on top of each other stay visible
                ax.plot(h.record_steps, 100 * plots.finite_or_nan(h.dead_fraction[:, l - 1]),
                        color=LAYER_COLORS[(l - 1) % len(LAYER_COLORS)], lw=1.3 + 3.0 * (L - l) / max(L - 1, 1),
                        gid=f"layer:{l}", label=f"hidden layer {l}" + (" (next to the input)" if l == 1 else ""))
            ax.set_ylim(-3, 103)
            ax.set_xlabel("training step")
            ax.set_ylabel("dead units on the minibatch (%)")
            ax.set_title(f"ReLU, {label}")
    ax = axes[n]
    with plots.style():
        plots.tidy(ax)
        for i, (label, run) in enumerate(runs.items()):  # black and grey: colours mean layers in this figure
            h = run.history
            color, ls = LR_STYLES[i % len(LR_STYLES)]
            ax.plot(h.record_steps, 100 * plots.finite_or_nan(h.test_accuracy), color=color, ls=ls, lw=2,
                    label=label, gid=f"acc:{label}")
        plots.mark_diverged_accuracy(ax, {label: run.history for label, run in runs.items()})
        ax.axhline(10, color="0.7", lw=1, ls=(0, (1, 3)), label="chance (10 classes)")
        ax.set_ylim(0, 100)
        ax.set_xlabel("training step")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("learning the digits")
        plots.legend_below(ax, ncol=2)
        plots.legend_below(axes[n - 1], ncol=2)
        cfg = next(iter(runs.values())).history.config
        fig.suptitle(f"ReLU MLP, {L} hidden layers x 64 units, He init, SGD, batch {cfg['batch_size']}: a unit "
                     "is dead on a minibatch\nif its z <= 0 for all of the minibatch's examples", fontsize=11)
    return fig


@figure("dead_at_birth")
def dead_at_birth(sims=None):
    """Probability that a narrow ReLU net is dead at birth for one input: formula vs simulation, by depth and width."""
    sims = sims if sims is not None else dead_at_birth_simulations()
    fig, ax = plots.new_figure(figsize=(10, 4.4))
    with plots.style():
        colors = [plots.OKABE_ITO[c] for c in ("vermillion", "orange", "green", "blue", "purple", "sky_blue")]
        for (w, sim), c in zip(sorted(sims.items()), colors):
            depths = np.arange(1, sim.depth + 1)
            theory = [dead_at_birth_probability(int(d), w) for d in depths]
            ax.plot(depths, theory, "-", color=c, lw=1.8, gid=f"theory:{w}",
                    label=f"width {w}: $1 - (1 - 2^{{-{w}}})^L$")
            ax.errorbar(depths, sim.dead_by_layer, yerr=2 * sim.standard_errors, fmt="o", ms=3.5, color=c,
                        elinewidth=1, capsize=0, gid=f"simulated:{w}")
        ax.plot([], [], "o", color="0.3", ms=3.5, label=f"simulated, {sim.n_networks} nets\n"
                                                           "per width (bars: $\\pm$2 s.e.)")
        ax.set_xlim(0, sim.depth + 0.5)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("depth $L$ (hidden ReLU layers)")
        ax.set_ylabel("P(some layer outputs all zeros)")
        ax.set_title("ReLU networks dead at birth for one input (a digit image), zero biases, He init", fontsize=11)
        fig.legend(loc="outside right upper", fontsize=9)
    return fig


# ---- explorers
class DyingReluExplorer(DraftedRuns, Explorer):
    """Dying ReLU against the learning rate: train the chapter's ReLU network on the digits and watch its units.

    Each setting trains :func:`gradviz.train.digits_run` (4 hidden layers x 64
    units, He init, plain SGD, 200 steps of 64 images) once, in about a second,
    and keeps the result. Left: the dead units of each hidden layer during
    training (on the minibatch, %). Right: the test accuracy of this run, and
    dashed grey the same network at lr 0.1 (same bias, same seed) for reference.
    Below: the outcome (alive, dead, diverged) and the dead units on all
    training images after training.

    Controls: ``lr`` (0.01 to 100, logarithmic), ``bias`` (the initial value
    of every hidden bias, -3 to 0.5), ``seed`` (0 to 5: other initial weights
    and minibatches). They act when released, not while dragged.

    A learner's change to a setting not trained yet is answered first by the
    first :attr:`draft_steps` steps of its training (the same steps: the same
    weights, minibatches and records; its titles and readout say 'after 20
    steps'), while a worker thread trains all of them
    (:class:`gradviz.train.DraftedRuns`).

    Attributes
    ----------
    run, reference : gradviz.train.DigitsRun
        What is drawn now.
    """

    figsize = (10.0, 4.3)
    MAX_STEPS = 2000
    #: One run to draft at a change of the learning rate (its reference is kept), two at a new bias or seed.
    draft_steps = 20
    show_draft_seconds = _canvas.SHOW_SECONDS  # a refinement lets the browser show the draft first

    def __init__(self, canvas="auto", *, steps: int = 200, **values):
        # every change of a control trains this many steps: beyond MAX_STEPS a learner waits minutes
        self.steps = check_size("steps", steps, self.MAX_STEPS)
        self.readout = ipywidgets.HTML()
        self.run_cache = RunCache(self.steps)
        super().__init__(canvas, **values)

    def make_controls(self):
        w = ipywidgets
        return {
            "lr": log_slider("learning rate", 0.01, 100.0, 0.1, continuous_update=False),
            "bias": w.FloatSlider(value=0.0, min=-3.0, max=0.5, step=0.25, description="initial bias b",
                                  readout_format=".2f", continuous_update=False, style=CONTROL_STYLE),
            "seed": int_slider("seed", 0, 5, 0, continuous_update=False),
        }

    def setup_figure(self, fig):
        self.ax_dead, self.ax_acc = fig.subplots(1, 2)
        for ax in (self.ax_dead, self.ax_acc):
            plots.tidy(ax)
            ax.set_xlabel("training step")
            ax.set_xlim(-5, self.steps + 5)
        ax = self.ax_dead
        self.layer_lines = [ax.plot([], [], "o-", ms=3, color=c, lw=1.3 + 3.0 * (3 - i) / 3, gid=f"layer:{i + 1}",
                                    label=f"layer {i + 1}")[0] for i, c in enumerate(LAYER_COLORS)]
        ax.set_ylim(-3, 103)
        ax.set_ylabel("dead units on the minibatch (%)")
        plots.legend_below(ax, ncol=4)
        ax = self.ax_acc
        # dashed and on top, so that it shows where it coincides with this learning rate's run (at lr 0.1)
        (self.ref_line,) = ax.plot([], [], color="0.6", lw=2.2, ls=(0, (4, 3)), zorder=3, gid="reference",
                                   label="lr 0.1 (reference)")
        (self.acc_line,) = ax.plot([], [], "o-", ms=3, color="black", lw=1.8, gid="accuracy",
                                   label="this learning rate")
        self.chance_line = ax.axhline(10, color="0.55", lw=1, ls=":", label="chance")
        ax.set_ylim(0, 100)
        ax.set_ylabel("test accuracy (%)")
        plots.legend_below(ax, ncol=3)

    def blit_static(self):
        # the legends (under the panels) and the chance line never change: text is the slow part of a frame
        return [self.ax_dead.get_legend(), self.ax_acc.get_legend(), self.chance_line]

    def configs(self, values):
        """The :class:`gradviz.train.RunCache` configurations of the run and of its reference (lr 0.1)."""
        return [dict(activation="relu", lr=round(float(lr), 10), bias=round(float(values["bias"]), 6),
                     seed=int(values["seed"]), label=f"lr {round(float(lr), 10):.3g}") for lr in (values["lr"], 0.1)]

    def train(self, lr, bias, seed):
        """The :class:`gradviz.train.DigitsRun` of this setting (trained once, then cached)."""
        return self.run_cache.runs(self.configs(dict(lr=lr, bias=bias, seed=seed))[:1])[0]

    def show(self, result, values):
        lr, bias, seed = values["lr"], values["bias"], values["seed"]
        self.run, self.reference = run, ref = result
        h = run.history
        keep = slice(None, -1) if h.diverged else slice(None)  # the failing step's record holds overflowed numbers
        for l, line in enumerate(self.layer_lines):
            line.set_data(h.record_steps[keep], 100 * plots.finite_or_nan(h.dead_fraction[keep, l]))
        self.acc_line.set_data(h.record_steps[keep], 100 * plots.finite_or_nan(h.test_accuracy[keep]))
        self.ref_line.set_data(ref.history.record_steps, 100 * plots.finite_or_nan(ref.history.test_accuracy))
        outcome = {"alive": "alive", "dead": f"dead (layer {run.activity.first_dead_layer} entirely dead)",
                   "diverged": f"diverged (overflow at step {h.diverged_step})"}[run.outcome]
        draft = self.draft_note(run)  # a draft's outcome is that of its first steps: say so
        self.ax_dead.set_title(f"lr {lr:.3g}, bias {bias:g}, seed {seed}: {outcome}"
                               + (f" after {h.config['steps']} steps" if draft else ""), fontsize=10.5)
        acc = (f"after {draft or str(h.config['steps']) + ' steps'}: {run.test_accuracy:.1%}"
               if run.outcome != "diverged" else f"none: the run overflowed at step {h.diverged_step}")
        self.ax_acc.set_title(f"test accuracy: {acc}" if run.outcome == "diverged" else f"test accuracy {acc}",
                              fontsize=10.5)
        self.readout.value = html.escape(self.summary())

    def summary(self) -> str:
        """Plain text of what is drawn now: the run's outcome and its dead units on all training images (a draft
        says how many steps it has)."""
        verdict = self.run.verdict()
        verdict = verdict[len(self.run.label) + 2:] if verdict.startswith(f"{self.run.label}: ") else verdict
        draft = self.draft_note(self.run)
        return (f"after the first {draft}: " if draft else "") + f"{self.run.summary}; {verdict}."


# ---- exercises
# Each answer is computed by the package: the closed form of gradviz.theory.


@exercise(
    "04.1",
    question="A ReLU network with 20 hidden layers of 4 units, zero biases and symmetric random weights: "
    "what is the probability that it is dead at birth for a given (non-zero) input?",
    hint="One layer of 4 units is all silent with probability (1/2)^4, independently of the others. The "
    "network survives only if none of its 20 layers is: compute 1 - P(no layer is all silent), or use "
    "gv.theory.dead_at_birth_probability.",
    explain=lambda p: (
        "Given any non-zero input, each of the 4 units of a layer is silent (z <= 0) with probability 1/2, "
        "independently, so the whole layer is silent with probability 2^-4 = 1/16, independently of the "
        f"layers below. The network is dead at birth if at least one of 20 layers is: 1 - (15/16)^20 = {p:.4g}.\n"
        "In code: gv.theory.dead_at_birth_probability(20, 4); check it with "
        "ch.simulate_dead_at_birth(20, 4).probability."
    ),
    rtol=0.01,
)
def dead_at_birth_20x4() -> float:
    """P(a ReLU net of 20 hidden layers x 4 units is dead at birth for one input), in [0, 1]."""
    return dead_at_birth_probability(20, 4)


def _explain_dead_at_birth_code(reference) -> str:
    return (
        "A layer of `width` units is all silent with probability (1/2)**width; the layers are independent, so "
        "the network survives `depth` of them with probability (1 - (1/2)**width)**depth, and is dead at birth "
        f"with one minus that. For 10 layers of 3 units: {reference(10, 3):.4f}.\n"
        "Try your function on 50 layers of 64 units: 1 - 2**-64 rounds to exactly 1.0 in float64, so the formula "
        "as written returns 0, while the true value is about 2.7e-18. gv.theory.dead_at_birth_probability writes "
        "it as -math.expm1(depth * math.log1p(-2.0**-width)), which keeps every digit."
    )


@exercise(
    "04.2",
    question="Write a function dead_at_birth(depth, width) that returns the probability that a ReLU network "
    "with `depth` hidden layers of `width` units (zero biases, symmetric random weights) is dead at birth for "
    "one non-zero input.",
    hint="P(one layer all silent) = 0.5 ** width. The network is alive only if each of its `depth` layers is "
    "not all silent, and the layers are independent. Return 1 minus that.",
    explain=_explain_dead_at_birth_code,
    inputs=[(10, 3), (20, 4), (30, 2), (1, 1), (50, 8)],
    rtol=1e-9,
)
def dead_at_birth_code(depth, width):
    """Reference answer of exercise 04.2: P(dead at birth) of `depth` ReLU layers of `width` units."""
    p_layer = 0.5 ** width                 # all `width` units of one layer silent for this input
    return 1.0 - (1.0 - p_layer) ** depth  # at least one of `depth` independent layers is
