"""Every figure the notebooks show, by name, deterministic (fixed seeds).

Each chapter module (``gradviz/chapters/chNN_*.py``, or ``chNN_*/figures.py`` in
a chapter package) registers its figures here with :func:`figure`; a notebook
shows one with ``gv.figures.show(ch.some_figure())`` or ``gv.figures.show("name")``,
and the command line renders all of them for slides::

    python -m gradviz figures --out DIR [--format png|svg|both] [--only NAME ...] [--list]

Each function takes no required argument, returns a
:class:`matplotlib.figure.Figure` that pyplot does not track (so rendering
many figures does not pile them up), and draws the same picture every time:
networks, inputs and training runs all come from fixed seeds.

Adding a figure
---------------
Write the function in its chapter's module, in the "figures" section (a chapter
package's ``figures.py``), and decorate it; keep it fast (< 2-3 s)::

    @figure("selu_mean_std")          # chapter 5, read from the module name ch05_...
    def selu_mean_std():
        '''Per-layer mean and std of a SELU net (Klambauer et al. 2017).'''
        fig, ax = plots.new_figure()
        ...
        return fig

The first line of the docstring is the description ``--list`` prints.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import Callable

import matplotlib as mpl
from IPython.display import display

from ._validate import check_choice

__all__ = ["FIGURES", "FigureSpec", "figure", "render", "save", "show", "list_names", "output_path", "FORMATS"]

#: Output formats of :func:`save`.
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its name, the function that draws it, the chapter that shows it."""

    name: str
    func: Callable
    chapter: int | None = None

    @property
    def description(self) -> str:
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


#: Registry of figures: name -> FigureSpec, in the order they were registered.
FIGURES: dict[str, FigureSpec] = {}


# ch04a_..., ch04b_...: both parts of chapter 4; ch06_batch_norm.figures: a section of a chapter package
_CHAPTER_MODULE = re.compile(r"(?:^|\.)ch(\d\d)[a-z]?_\w+(?:\.\w+)?$")


def _chapter_of(module: str) -> int | None:
    """Chapter number of a module named ``...chNN_name`` or ``...chNNa_name``, or of a section of such a package
    (``...chNN_name.figures``); None for any other module."""
    match = _CHAPTER_MODULE.search(module or "")
    return int(match.group(1)) if match else None


def figure(name: str):
    """Decorator: register a function that returns a Figure under ``name``.

    ``name`` is the file name the command line writes (``<name>.png``); the
    chapter is read from the module that defines the function
    (``gradviz.chapters.ch03_initialization`` -> 3, ``gradviz.chapters.ch04b_relu_variants`` -> 4,
    ``gradviz.chapters.ch06_batch_norm.figures`` -> 6).

    Raises
    ------
    ValueError
        If ``name`` is empty or not file-name safe, or if a figure of that name is
        already registered.
    """
    if not isinstance(name, str) or not name or any(c in name for c in r' /\:'):
        raise ValueError(f"figure name must be a non-empty file-name-safe string; got {name!r}")

    def deco(func):
        if name in FIGURES:
            raise ValueError(f"a figure called {name!r} is already registered "
                             f"(by {FIGURES[name].func.__module__}.{FIGURES[name].func.__qualname__})")
        FIGURES[name] = FigureSpec(name, func, _chapter_of(func.__module__))
        return func

    return deco


def render(name: str):
    """Draw the figure registered as ``name`` and return it.

    Figures are registered when their chapter module is imported
    (``gradviz.chapters.load_all()`` imports every chapter).
    """
    name = check_choice("name", name, FIGURES)
    return FIGURES[name].func()


def save(fig, path: str, fmt: str = "png", dpi: int = 150) -> str:
    """Write ``fig`` to ``path`` with no timestamp or version in the file, so the bytes are reproducible.

    PNG: the 'Software' text chunk is dropped; SVG: no 'Date', a fixed
    ``svg.hashsalt`` (element ids) and text as paths. Returns the path.
    """
    fmt = check_choice("fmt", fmt, FORMATS)
    if fmt == "png":
        metadata = {"Software": None}
    else:
        metadata = {"Date": None, "Creator": None}
    with mpl.rc_context({"svg.hashsalt": "gradviz", "svg.fonttype": "path"}):
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata)
    return path


# ----------------------------------------------------------------------------- show (added by the chapter-01 author)
def show(fig, dpi: int = 100) -> None:
    """Display a figure in a notebook as a PNG image and nothing else; return None.

    CONTRIBUTING asks that static figures leave no ``<Figure size ...>`` or
    ``Text(...)`` repr in a cell's output (their form changes between library
    versions, and nbval would compare it): the output holds only the
    ``image/png`` data, written without the 'Software' chunk as :func:`save`
    does.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or str
        A figure, or the name of a registered figure (drawn with :func:`render`).
    dpi : int, default 100
        Resolution of the PNG.
    """
    if isinstance(fig, str):
        fig = render(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    display({"image/png": buf.getvalue()}, raw=True)


def list_names():
    """Names of the registered figures, in registration order."""
    return list(FIGURES)


def output_path(out_dir: str, name: str, fmt: str) -> str:
    return os.path.join(out_dir, f"{name}.{fmt}")
