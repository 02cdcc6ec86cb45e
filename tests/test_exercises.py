"""The exercise registry: value exercises, code exercises compared on inputs, and custom checkers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradviz import exercises


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setattr(exercises, "EXERCISES", {})
    return exercises.EXERCISES


def test_value_exercise(registry, capsys):
    @exercises.exercise("T.1", question="q", hint="think", explain=lambda v: f"it is {v}")
    def answer():
        return 0.25

    assert answer() == 0.25  # returned unchanged
    assert exercises.check("T.1", 0.25) and not exercises.check("T.1", 0.3)
    assert not exercises.check("T.1", None)
    exercises.solution("T.1")
    out = capsys.readouterr().out
    assert "correct" in out and "Hint: think" in out and "not answered yet" in out and "it is 0.25" in out


def test_code_exercise_compares_the_function_on_every_input(registry, capsys):
    @exercises.exercise("T.2", question="he std", hint="sqrt", explain=lambda ref: "std = sqrt(2/fan_in)",
                        rtol=1e-12, inputs=[(64,), 256, (np.array([1.0, 4.0]),)])
    def he_std(fan_in):
        return np.sqrt(2.0 / np.asarray(fan_in, dtype=float))

    assert exercises.check("T.2", lambda n: np.sqrt(2.0 / np.asarray(n, dtype=float)))
    assert not exercises.check("T.2", lambda n: np.sqrt(1.0 / np.asarray(n, dtype=float)))
    assert not exercises.check("T.2", lambda n: 1 / 0)
    assert not exercises.check("T.2", 0.17)
    out = capsys.readouterr().out
    assert "correct" in out
    assert "for (64) it returned" in out
    assert "raised ZeroDivisionError" in out
    assert "wants a function" in out
    exercises.solution("T.2")
    out = capsys.readouterr().out
    assert "sqrt(2/fan_in)" in out and "def he_std" in out and "@exercises.exercise" not in out


def test_custom_checker(registry, capsys):
    def checker(func):
        return (func(2) == 4, "f(2) should be 4")

    @exercises.exercise("T.3", question="q", hint="h", explain=lambda ref: "square", checker=checker)
    def square(x):
        return x * x

    assert exercises.check("T.3", lambda x: x ** 2)
    assert not exercises.check("T.3", lambda x: x + 1)
    assert "f(2) should be 4" in capsys.readouterr().out


def test_errors_name_the_argument(registry):
    with pytest.raises(ValueError, match="exercise_id='nope'"):
        exercises.check("nope", 1)
    with pytest.raises(ValueError, match="inputs"):
        exercises.exercise("T.4", question="q", hint="h", explain=str, inputs=[])

    @exercises.exercise("T.5", question="q", hint="h", explain=str)
    def five():
        return math.pi

    with pytest.raises(ValueError, match="already registered"):
        exercises.exercise("T.5", question="q", hint="h", explain=str)(five)
