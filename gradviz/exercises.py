"""Auto-checked exercises for the notebooks.

Each exercise has an id such as ``"02.1"`` and an answer that is *computed*
by a function of the package (never typed in), so the answer stays right when
the code or the data changes. A notebook's exercise cell looks like::

    answer = None   # <- replace None with your answer, then run the cell
    gv.exercises.check("02.1", answer)

``check`` prints one line: not answered yet, correct, or not quite (with a
hint). ``solution(id)`` prints the worked answer for a learner who is stuck.

Chapters register their exercises with :func:`register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Exercise", "register", "check", "solution", "EXERCISES"]


@dataclass(frozen=True)
class Exercise:
    """An exercise: ``answer()`` computes the expected value; ``rtol`` is the accepted relative error
    for numbers (exact comparison for strings and booleans); ``hint`` is shown after a wrong answer;
    ``explain(expected)`` returns the worked solution as text."""

    question: str
    answer: Callable[[], object]
    hint: str
    explain: Callable[[object], str]
    rtol: float = 0.02


EXERCISES: dict[str, Exercise] = {}


def register(exercise_id: str, exercise: Exercise) -> None:
    """Add an exercise under ``exercise_id`` (raises ValueError if the id is taken)."""
    if exercise_id in EXERCISES:
        raise ValueError(f"exercise_id={exercise_id!r} is already registered")
    EXERCISES[exercise_id] = exercise


def _get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise ValueError(f"exercise_id={exercise_id!r} is not known; choose one of: {', '.join(sorted(EXERCISES))}")
    return EXERCISES[exercise_id]


def _matches(given, expected, rtol) -> bool:
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(given, (bool, np.bool_)) and bool(given) == bool(expected)
    if isinstance(expected, str):
        return isinstance(given, str) and given.strip().lower() == expected.strip().lower()
    try:
        g, e = float(given), float(expected)
    except (TypeError, ValueError):
        return False
    return bool(np.isclose(g, e, rtol=rtol, atol=0.0)) if e != 0 else abs(g) <= rtol


def check(exercise_id: str, answer) -> bool:
    """Print whether ``answer`` is right for exercise ``exercise_id``; return True if it is.

    ``None`` means "not answered yet" (and returns False without judging).
    """
    ex = _get(exercise_id)
    if answer is None:
        print(f"Exercise {exercise_id}: not answered yet. Replace None with your answer and run the cell again.")
        return False
    ok = _matches(answer, ex.answer(), ex.rtol)
    if ok:
        print(f"Exercise {exercise_id}: correct.")
    else:
        print(f"Exercise {exercise_id}: not quite. Hint: {ex.hint}")
    return ok


def solution(exercise_id: str) -> None:
    """Print the worked solution of exercise ``exercise_id``."""
    ex = _get(exercise_id)
    print(ex.explain(ex.answer()))


# ============================================================================= chapter 01: gradient descent
# Section owned by the chapter-01 author. Answers are computed from the chapter's
# data, gradviz.data.linear_regression_data() (100 points, noise 0.5, seed 0).
def _ch01_rates(scale: float = 1.0):
    from .data import linear_regression_data
    from .descent import critical_learning_rates

    return critical_learning_rates(scale * linear_regression_data().X)


register(
    "01.1",
    Exercise(
        question="The largest learning rate for which gradient descent on the chapter's data converges from "
        "every start.",
        answer=lambda: _ch01_rates().lr_max,
        hint="Along the steepest axis of the bowl the offset from the minimum is multiplied by (1 - lr * lambda_max) "
        "per step; find the lr at which that factor reaches -1. lambda_max is the largest eigenvalue of "
        "gv.descent.hessian(X).",
        explain=lambda lr: (
            "The offset along the eigenvector with eigenvalue lambda is multiplied by (1 - lr * lambda) per step. "
            "It shrinks iff |1 - lr * lambda| < 1, i.e. lr < 2 / lambda; the steepest axis (lambda_max) is the "
            f"first to fail. Here: 2 / lambda_max = 2 / {2 / lr:.4g} = {lr:.4g}.\n"
            "In code: gv.descent.critical_learning_rates(X).lr_max"
        ),
    ),
)

register(
    "01.2",
    Exercise(
        question="Multiply every input x by 2 (keep y). What is now the largest learning rate that converges?",
        answer=lambda: _ch01_rates(2.0).lr_max,
        hint="The Hessian is [[mean(x^2), mean(x)], [mean(x), 1]]. Which entries change when x doubles, and by how "
        "much? Compute its largest eigenvalue again, e.g. with gv.descent.critical_learning_rates(2 * X).",
        explain=lambda lr: (
            "Doubling x multiplies mean(x^2) by 4 and mean(x) by 2, but the bias entry stays 1, so the Hessian does "
            "not simply scale by 4. Its largest eigenvalue is now "
            f"{2 / lr:.4g} (it was {_ch01_rates().lambda_max:.4g}), and 2 / lambda_max = {lr:.4g} "
            f"(it was {_ch01_rates().lr_max:.4g}).\n"
            "Larger inputs make the bowl steeper and the safe learning rate smaller: one reason to standardise "
            "inputs before training.\nIn code: gv.descent.critical_learning_rates(2 * X).lr_max"
        ),
    ),
)

register(
    "01.3",
    Exercise(
        question="With lr = 1.5, by what factor is the excess cost J - J* multiplied per step, once the steepest "
        "axis dominates?",
        answer=lambda: (1.0 - 1.5 * _ch01_rates().lambda_max) ** 2,
        hint="Along the steepest axis the offset is multiplied by (1 - lr * lambda_max) per step, and the excess "
        "cost is quadratic in the offset.",
        explain=lambda factor: (
            "Along the steepest axis the offset u is multiplied by r = 1 - lr * lambda_max = "
            f"1 - 1.5 * {_ch01_rates().lambda_max:.4g} = {1 - 1.5 * _ch01_rates().lambda_max:.4g} per step; "
            "the excess cost along that axis is lambda_max * u^2 / 2, so it is multiplied by r^2 = "
            f"{factor:.4g}. The other axis shrinks, so after a few steps the ratio of consecutive excess costs "
            "settles on r^2: check it with run = gv.descent.gradient_descent(X, y, 1.5, 60), then "
            "(run.cost[-1] - J*) / (run.cost[-2] - J*)."
        ),
    ),
)
