"""Chapter 06: batch normalization (``notebooks/06_batch_normalization.ipynb``).

The chapter teaches batch normalization (Ioffe & Szegedy 2015) step by step:
the four steps of Algorithm 1 on a small batch (mean, biased variance,
normalize, scale by gamma and shift by beta); the backward pass, written out
and checked by finite differences (:func:`gradient_check`, exercise 06.4); the
two trainable and two non-trainable vectors of a layer; the moving averages
used at inference, the two opposite meanings of ``momentum`` (Keras 0.99 =
weight kept, PyTorch 0.1 = weight of the new batch) and which variance each
framework stores; training mode against inference mode, the noise of batch
statistics (:func:`batch_noise`) and why a single example cannot be normalized
with its own statistics; a batch-norm layer placed first instead of
standardizing the data; a deep sigmoid network that learns only with batch
norm; and, on a ReLU baseline that trains without it, the wider range of init
scales and learning rates that batch norm tolerates (:func:`scale_sweep`,
:func:`lr_sweep`).

The notebook imports this module as ``ch``::

    import gradviz as gv
    from gradviz.chapters import ch06_batch_norm as ch

The layer itself is :class:`gradviz.layers.BatchNorm`; the network with a
batch-norm layer first is an :class:`gradviz.network.MLP` built with
``batch_norm=BatchNormOptions(hidden=None, inputs=True)`` and the
raw digits are :func:`gradviz.data.load_digits_raw` (chapter 07 uses both).
"""

from __future__ import annotations

# importing the sections registers the chapter's figures and exercises
from . import exercises, experiments, explorers, figures  # noqa: F401
from .experiments import (batch_norm_steps, gradient_check, parameter_counts, pytorch_momentum, remaining_fraction,
                          steps_to_forget, bn_network, bn_run, batch_spread, accuracy_by_mode, batch_noise,
                          single_example_predictions, raw_input_runs, lr_sweep, scale_sweep)
from .figures import bn_deep_sigmoid_training, bn_raw_pixels, bn_init_scale_and_lr_sweep
from .explorers import MomentumExplorer, BatchNoiseExplorer, BatchNormExplorer

__all__ = [
    # experiments
    "batch_norm_steps", "gradient_check", "parameter_counts", "pytorch_momentum", "remaining_fraction",
    "steps_to_forget", "bn_network", "bn_run", "batch_spread", "accuracy_by_mode", "batch_noise",
    "single_example_predictions", "raw_input_runs", "lr_sweep", "scale_sweep",
    # figures
    "bn_deep_sigmoid_training", "bn_raw_pixels", "bn_init_scale_and_lr_sweep",
    # explorers
    "MomentumExplorer", "BatchNoiseExplorer", "BatchNormExplorer",
]
