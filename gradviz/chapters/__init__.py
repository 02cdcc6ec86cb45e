"""The chapters: one module per notebook, each holding what only its notebook uses.

A notebook starts with::

    import gradviz as gv                                   # the engine
    from gradviz.chapters import ch04a_dying_relu as ch    # this chapter

so ``gv.`` names the general package and ``ch.`` this chapter's experiments,
figures, explorers and exercises (in that order in the module). ``ch.dying_runs??``
in a cell shows the code behind a result.

Where code goes: a formula to :mod:`gradviz.theory`; a measurement that two or
more chapters use to :mod:`gradviz.stats`; a configured experiment, a figure, an
explorer or an exercise of one chapter to that chapter's module. A chapter
module imports the general package only, never another chapter.

A chapter that passes ~1,200 lines grows into a package of its four sections
(``ch06_batch_norm/``: ``experiments``, ``figures``, ``explorers``,
``exercises``, each importing only the sections before it); its ``__init__``
re-exports the chapter's ``__all__``, so the notebook's import is unchanged.
"""

from __future__ import annotations

import importlib

#: The chapter modules, in reading order (``gradviz.chapters.<name>``).
CHAPTERS = (
    "ch01_gradient_descent",
    "ch02_vanishing_exploding",
    "ch03_initialization",
    "ch04a_dying_relu",
    "ch04b_relu_variants",
    "ch05_selu",
    "ch06_batch_norm",
    "ch07_playground",
    "ch08_beyond_the_article",
)

__all__ = ["CHAPTERS", "load_all"]


def load_all() -> list:
    """Import every chapter module, which registers its figures and exercises; return the modules."""
    modules = []
    for name in CHAPTERS:
        try:
            modules.append(importlib.import_module(f"{__name__}.{name}"))
        except ModuleNotFoundError as err:  # transitional: while chapters move in
            if err.name != f"{__name__}.{name}":
                raise
    return modules
