"""Chapter 05: SELU and self-normalizing networks (``notebooks/05_selu_self_normalization.ipynb``).

The chapter shows that a deep stack of dense SELU layers with LeCun-normal weights keeps the mean and
standard deviation of its activations near 0 and 1 with no normalization layer (Klambauer, Unterthiner,
Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017), why (one layer as a map of
(mean, variance) with an attracting fixed point, whose closed forms live in :mod:`gradviz.theory`), what
breaking each of the four conditions does (standardised input, LeCun-normal init, a plain sequential
stack, dense layers only), and why alpha dropout keeps the fixed point where ordinary dropout moves it.

Every network here is :func:`digits_moments`: by default 100 hidden layers of 100 units fed 256
standardised digits (seed 0), summarised per layer by :class:`experiments.LayerMoments`.

The notebook imports this module as ``ch``::

    import gradviz as gv
    from gradviz.chapters import ch05_selu as ch
"""

from __future__ import annotations

# importing the sections registers the chapter's figures and exercises
from . import exercises, experiments, explorers, figures  # noqa: F401
from .experiments import (digits_moments, seed_runs, weight_sums, condition_runs, skip_branch_sizes, dropout_on_selu,
                          dropout_runs)
from .figures import selu_activation, selu_vs_relu_depth, selu_moment_map, selu_conditions_grid, selu_dropout
from .explorers import SeluConditionsExplorer, SeluMapExplorer

__all__ = [
    # experiments
    "digits_moments", "seed_runs", "weight_sums", "condition_runs", "skip_branch_sizes", "dropout_on_selu",
    "dropout_runs",
    # figures
    "selu_activation", "selu_vs_relu_depth", "selu_moment_map", "selu_conditions_grid", "selu_dropout",
    # explorers
    "SeluConditionsExplorer", "SeluMapExplorer",
]
