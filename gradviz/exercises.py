"""Auto-checked exercises for the notebooks.

Each exercise has an id such as ``"02.1"`` and an answer that is *computed*
by a function of the package (never typed in), so the answer stays right when
the code or the data changes. A notebook's exercise cell looks like::

    answer = None   # <- replace None with your answer, then run the cell
    gv.exercises.check("02.1", answer)

``check`` prints one line: not answered yet, correct, or not quite (with a
hint). ``solution(id)`` prints the worked answer for a learner who is stuck.

Each chapter module registers its exercises with the :func:`exercise`
decorator, on the function that computes the answer::

    @exercise("01.1", question="...", hint="...",
              explain=lambda lr: f"... {lr:.4g} ...")
    def largest_stable_lr():
        return critical_learning_rates(linear_regression_data().X).lr_max

A *code* exercise asks for a function. Its registered function is the
reference implementation, and ``inputs`` lists the argument tuples on which
the learner's function must agree with it::

    @exercise("03.4", question="Write he_std(fan_in) ...", hint="...",
              explain=lambda ref: "std = sqrt(2 / fan_in)", inputs=[(64,), (256,), (784,)])
    def he_std(fan_in):
        return math.sqrt(2.0 / fan_in)

    def my_he_std(fan_in): ...          # in the notebook
    gv.exercises.check("03.4", my_he_std)

Where comparing outputs is not the right test (a backward pass checked by
finite differences, say), pass ``checker=``: a function of the learner's
answer that returns ``(ok, message)``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Exercise", "exercise", "register", "check", "solution", "EXERCISES"]


@dataclass(frozen=True)
class Exercise:
    """An exercise: ``answer()`` computes the expected value; ``rtol`` is the accepted relative error
    for numbers (the default, 0.5 %, lets an answer rounded to three significant figures pass and rejects
    one a digit off in the second or third figure); an expected ``int`` is a count and only that exact
    integer is right; strings and booleans are compared exactly. A number may be given as a Python
    number, a numpy scalar or an array holding exactly one value. ``hint`` is shown after a wrong answer;
    ``explain(expected)`` returns the worked solution as text.

    For a code exercise, ``answer`` is the reference function, ``inputs`` the argument tuples to
    compare it on (``explain`` then receives the reference function); ``checker(given)``, if set,
    replaces the comparison and returns ``(ok, message)``."""

    question: str
    answer: Callable[..., object]
    hint: str
    explain: Callable[[object], str]
    rtol: float = 0.005
    inputs: tuple | None = None
    checker: Callable[[object], tuple] | None = None

    @property
    def wants_code(self) -> bool:
        """True if the learner answers with a function rather than a value."""
        return self.inputs is not None or self.checker is not None


EXERCISES: dict[str, Exercise] = {}


def register(exercise_id: str, exercise: Exercise) -> None:
    """Add an exercise under ``exercise_id`` (raises ValueError if the id is taken)."""
    if exercise_id in EXERCISES:
        raise ValueError(f"exercise_id={exercise_id!r} is already registered")
    EXERCISES[exercise_id] = exercise


def exercise(exercise_id: str, *, question: str, hint: str, explain: Callable[[object], str], rtol: float = 0.005,
             inputs=None, checker=None):
    """Decorator: register the decorated function as the answer of exercise ``exercise_id``.

    Without ``inputs`` and ``checker`` the function takes no argument and computes
    the expected answer. With ``inputs`` (a sequence of argument tuples) it is the
    reference implementation of a code exercise: the learner's function must
    return the same values on those inputs, within ``rtol``. With ``checker``
    (a function of the learner's answer returning ``(ok, message)``) that function
    judges the answer. The decorated function is returned unchanged, so a chapter
    can call it too.

    Raises
    ------
    ValueError
        If ``exercise_id`` is already registered.
    """

    if inputs is not None:
        inputs = tuple(tuple(args) if isinstance(args, (tuple, list)) else (args,) for args in inputs)
        if not inputs:
            raise ValueError(f"inputs must hold at least one argument tuple; got {inputs!r}")

    def deco(answer):
        register(exercise_id, Exercise(question=question, answer=answer, hint=hint, explain=explain, rtol=rtol,
                                       inputs=inputs, checker=checker))
        return answer

    return deco


def _get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        raise ValueError(f"exercise_id={exercise_id!r} is not known; choose one of: {', '.join(sorted(EXERCISES))} "
                         "(a chapter's exercises are registered when its module, gradviz.chapters.chNN_..., "
                         "is imported)")
    return EXERCISES[exercise_id]


def _as_number(given):
    """``given`` as one float, or the number of values it holds (an int > 1), or None if it is not numeric.

    A Python number, a numpy scalar and any array-like holding exactly one number (``np.array([2.9])``,
    ``layer.grads['alpha']``) all count as one number."""
    try:
        values = np.asarray(given)
    except (TypeError, ValueError):
        return None
    if values.dtype.kind not in "iuf" or values.size == 0:  # text, booleans, objects, nothing
        return None
    values = values.astype(float)
    return float(values.reshape(-1)[0]) if values.size == 1 else int(values.size)


def _matches(given, expected, rtol) -> tuple:
    """Judge a value answer: ``(ok, detail)``, where ``detail`` says what is wrong with its form, if anything."""
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(given, (bool, np.bool_)) and bool(given) == bool(expected), ""
    if isinstance(expected, str):
        return isinstance(given, str) and given.strip().lower() == expected.strip().lower(), ""
    g = _as_number(given)
    if g is None:
        return False, "give the number itself, e.g. 0.25" if isinstance(given, str) else ""
    if isinstance(g, int):
        return False, f"this exercise wants one number; you gave {g}"
    if isinstance(expected, (int, np.integer)):  # a count: only the exact integer is right
        return g == int(expected), ""
    e = float(expected)
    return (bool(np.isclose(g, e, rtol=rtol, atol=0.0)) if e != 0 else abs(g) <= rtol), ""


def _same_values(given, expected, rtol) -> bool:
    try:
        g = np.asarray(given, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return g.shape == e.shape and bool(np.allclose(g, e, rtol=rtol, atol=0.0, equal_nan=True))


def _check_code(ex: Exercise, func) -> tuple:
    """Judge a learner's function: (ok, message)."""
    if not callable(func):
        return False, f"this exercise wants a function (def ...), not a {type(func).__name__}."
    if ex.checker is not None:
        return ex.checker(func)
    for args in ex.inputs:
        shown = ", ".join(np.array2string(np.asarray(a), threshold=6) if isinstance(a, np.ndarray) else repr(a)
                          for a in args)
        try:
            got = func(*args)
        except Exception as err:  # the learner's code: report what went wrong instead of a traceback
            return False, f"calling it with ({shown}) raised {type(err).__name__}: {err}"
        want = ex.answer(*args)
        if not _same_values(got, want, ex.rtol):
            return False, f"for ({shown}) it returned {got!r}; expected {want!r}."
    return True, ""


def check(exercise_id: str, answer) -> bool:
    """Print whether ``answer`` is right for exercise ``exercise_id``; return True if it is.

    ``None`` means "not answered yet" (and returns False without judging).
    """
    ex = _get(exercise_id)
    if answer is None:
        print(f"Exercise {exercise_id}: not answered yet. Replace None with your answer and run the cell again.")
        return False
    if ex.wants_code:
        ok, detail = _check_code(ex, answer)
        detail = f" ({detail})" if detail and not ok else ""
    else:
        ok, detail = _matches(answer, ex.answer(), ex.rtol)
        detail = f" ({detail})" if detail else ""
    if ok:
        print(f"Exercise {exercise_id}: correct.")
    else:
        print(f"Exercise {exercise_id}: not quite{detail}. Hint: {ex.hint}")
    return ok


def solution(exercise_id: str) -> None:
    """Print the worked solution of exercise ``exercise_id``."""
    ex = _get(exercise_id)
    if ex.wants_code:
        print(ex.explain(ex.answer))
        print("\nOne way to write it:\n")
        source = inspect.getsource(ex.answer)
        print(source[source.index("def "):])  # the function, without its @exercise(...) decorator
    else:
        print(ex.explain(ex.answer()))
