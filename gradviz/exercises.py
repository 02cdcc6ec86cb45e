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
