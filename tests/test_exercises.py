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


def test_a_value_may_come_as_a_numpy_scalar_or_a_one_element_array(registry, capsys):
    @exercises.exercise("T.6", question="q", hint="h", explain=str)
    def running_mean():
        return 2.9

    for given in (2.9, np.float64(2.9), np.float32(2.9), np.array(2.9), np.array([2.9]), np.array([[2.9]]), [2.9]):
        assert exercises.check("T.6", given), repr(given)
    assert not exercises.check("T.6", np.array([2.9, 2.9]))  # two numbers for one answer
    assert "wants one number; you gave 2" in capsys.readouterr().out
    for wrong in ("2.9", True, np.array([True]), np.array(["2.9"]), {"a": 2.9}, np.array([])):
        assert not exercises.check("T.6", wrong), repr(wrong)


def test_the_default_tolerance_rejects_a_close_but_wrong_value(registry):
    @exercises.exercise("T.7", question="q", hint="h", explain=str)
    def running_mean():
        return 2.9

    @exercises.exercise("T.8", question="q", hint="h", explain=str)
    def rrelu_slope():
        return 11 / 48

    assert exercises.check("T.7", 2.9) and exercises.check("T.7", 0.9 * 0.1 * 10 + 0.1 * 20)
    assert not exercises.check("T.7", 2.95) and not exercises.check("T.7", 2.85)  # 1.7 % off: a wrong sum
    assert exercises.check("T.8", 0.229) and exercises.check("T.8", 0.23)  # three and two significant figures
    assert not exercises.check("T.8", 0.225)


def test_a_count_must_be_exact(registry):
    @exercises.exercise("T.9", question="q", hint="h", explain=str)
    def count():
        return 384

    assert exercises.check("T.9", 384) and exercises.check("T.9", 384.0) and exercises.check("T.9", np.int64(384))
    assert exercises.check("T.9", np.array([384]))
    for wrong in (380, 383, 385, 390, 391, 384.4, 768, 192):
        assert not exercises.check("T.9", wrong), wrong


def test_every_registered_value_passes_rounded_to_three_significant_figures():
    import importlib
    import pkgutil

    import gradviz.chapters

    for module in pkgutil.iter_modules(gradviz.chapters.__path__):
        importlib.import_module(f"gradviz.chapters.{module.name}")
    # a chapter may ask for more figures with a smaller rtol (05.1, 05.2: 0.001); the default must take three
    values = {key: ex for key, ex in exercises.EXERCISES.items() if not ex.wants_code and ex.rtol >= 0.005}
    assert len(values) >= 12
    for key, ex in values.items():
        expected = ex.answer()
        if isinstance(expected, (int, np.integer)):
            continue  # counts are exact
        assert exercises._matches(float(f"{expected:.3g}"), expected, ex.rtol)[0], key
        assert not exercises._matches(expected * 1.03, expected, ex.rtol)[0] or ex.rtol >= 0.03, key
