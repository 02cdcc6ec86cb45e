"""Chapter 02: vanishing and exploding gradients (``notebooks/02_vanishing_and_exploding.ipynb``).

The backward pass of a plain MLP (no batch norm, no skip connections) is, layer by layer,

    dL/dz^l = dL/da^l * phi'(z^l)          (element-wise)
    dL/dW^l = (a^{l-1})^T dL/dz^l          (a^0 = x)
    dL/da^{l-1} = dL/dz^l (W^l)^T

so the gradient that reaches layer 1 is the one at layer L times one factor
phi'(z^l) W^l per layer crossed. The chapter opens that product: a chain of
one-unit layers written out factor by factor (:func:`scalar_chain`); the sigmoid's
slope and saturation (:class:`SaturationExplorer`); the gradient norms per layer of
a deep sigmoid MLP on the digits against the slope bound (max phi')^(L-1), the
typical product and the worst case (:func:`gradient_flow`, :func:`digits_flow`,
:func:`depth_sweep`); large weights in a ReLU MLP, where the activations grow
going up as fast as dL/da grows going down, so that the weight gradients of all
layers grow together and one SGD step throws every layer away
(:func:`relu_digits_flows`, :func:`train_exploding`); float32 overflow
(:func:`probe_flow`); saturation per layer; and training, where the first layers
of a deep sigmoid network barely move (:func:`compare_depths`).

The closed forms it quotes (sigma' <= 1/4, the slope bound, the saturation
onset, log10 sigma'(z) where float64 underflows) are in :mod:`gradviz.theory`.
"""

from __future__ import annotations

# importing the sections registers the chapter's figures and exercises
from . import exercises, experiments, explorers, figures  # noqa: F401
from .experiments import (scalar_chain, digits_flow, depth_sweep, probe_flow, compare_depths, frozen_feature_probe,
                          relu_digits_flows, layer_norms_table, train_exploding)
from .figures import (sigmoid_slope_and_saturation, sigmoid_gradient_per_layer, vanishing_with_depth,
                      weight_gradients_vanish_or_not, float32_overflow, sigmoid_saturation_by_scale,
                      sigmoid_training_first_layers)
from .explorers import GradientFlowExplorer, SaturationExplorer

__all__ = [
    # experiments
    "scalar_chain", "digits_flow", "depth_sweep", "probe_flow", "compare_depths", "frozen_feature_probe",
    "relu_digits_flows", "layer_norms_table", "train_exploding",
    # figures
    "sigmoid_slope_and_saturation", "sigmoid_gradient_per_layer", "vanishing_with_depth",
    "weight_gradients_vanish_or_not", "float32_overflow",
    "sigmoid_saturation_by_scale", "sigmoid_training_first_layers",
    # explorers
    "GradientFlowExplorer", "SaturationExplorer",
]
