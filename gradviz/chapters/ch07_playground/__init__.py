"""Chapter 07, the playground: every knob at once (``notebooks/07_playground.ipynb``).

Depth, width, activation, initializer, weight scale, batch norm, learning rate, steps,
batch size, data set and seed all move together, on one network that is measured at
initialisation on real digits and then trained on them. The chapter teaches how to read
a network's health before training from one number, the **per-layer factor** of the
gradient's size, sqrt(chi_1) with chi_1 = n Var(W) E[phi'(z)^2] (Schoenholz et al. 2017 call
chi_1 the factor of the gradient's *variance*); how each failure looks during training
(vanishing, overflow, dead units, unstandardised inputs, lagging moving averages); why an
exploding network fails in every layer at once (the weight gradient a^(l-1)^T dL/dz^l stays
level across layers while its two factors grow in opposite directions); and how every cure of
chapters 02-06 acts on that one factor.

A notebook cell calls :func:`run` with the knobs of a guide experiment; the
:class:`PlaygroundExplorer` calls the same function, so a configuration trained in a
cell is shown by the explorer at once (and the other way round), and every number the
guide prints is what the explorer shows.

Names keep no ``playground_`` prefix where the module name already says it
(``run``, ``settings``, ``DEFAULTS``); classes keep theirs
(:class:`PlaygroundRun`, :class:`PlaygroundExplorer`), because a class name is what a
learner reads in a repr, away from the ``ch.`` that qualifies a function.
"""

from __future__ import annotations

# importing the sections registers the chapter's figures and exercises
from . import exercises, experiments, explorers, figures  # noqa: F401
from .experiments import run, cure_factors, dataset
from .figures import guide_runs, weight_gradients, per_layer_factors
from .explorers import PlaygroundExplorer

__all__ = ["PlaygroundExplorer", "run", "guide_runs", "weight_gradients", "cure_factors", "per_layer_factors",
           "dataset"]
