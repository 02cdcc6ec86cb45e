"""gradviz: see vanishing and exploding gradients happen.

A small, hand-written numpy package (dense layers, activations, initializers,
batch norm, losses, SGD) that the gradviz notebooks call to measure per-layer
activation and gradient statistics, with the plots and slider explorers that
show them.

``import gradviz as gv`` is cheap: submodules load on first use, so
``gv.network.MLP`` works without importing matplotlib or ipywidgets, and
``gv.widgets`` brings them in only when a notebook asks for an explorer.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "chapters",
    "data",
    "descent",
    "exercises",
    "figures",
    "gradcheck",
    "init",
    "layers",
    "losses",
    "network",
    "optim",
    "plots",
    "stats",
    "theory",
    "train",
    "widgets",
)

__all__ = list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    # PEP 562: load a submodule the first time gv.<name> is used.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gradviz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
