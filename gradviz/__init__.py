"""gradviz: see vanishing and exploding gradients happen.

A small, hand-written numpy package (dense layers, activations, initializers,
batch norm, losses, SGD) that the gradviz notebooks call to measure per-layer
activation and gradient statistics.
"""

__version__ = "0.1.0"
