"""Argument checks shared by every public function of gradviz.

Each check either returns the (normalised) value or raises an error whose
message names the argument, repeats the value that was given, and says what is
allowed, in the manner of scikit-learn's parameter validation.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "check_choice",
    "check_positive_int",
    "check_nonneg_int",
    "check_positive",
    "check_nonneg",
    "check_finite",
    "check_probability",
    "check_array_2d",
    "check_bool",
    "check_float_dtype",
    "get_rng",
]

#: Floating dtypes the package computes in.
FLOAT_DTYPES = ("float16", "float32", "float64", "longdouble")


def check_choice(name: str, value, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed`` (strings), else raise.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If ``value`` is not in ``allowed``; the message lists the choices.
    """
    allowed = sorted(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string, one of: {', '.join(allowed)}; "
            f"got {value!r} of type {type(value).__name__}"
        )
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not known; choose one of: {', '.join(allowed)}")
    return value


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return value


def check_finite(name: str, value) -> float:
    """Return ``value`` as a float if it is a finite real number, else raise."""
    return _check_real(name, value)


def check_positive(name: str, value) -> float:
    """Return ``value`` as a float if it is finite and > 0, else raise."""
    value = _check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0; got {value!r}")
    return value


def check_nonneg(name: str, value) -> float:
    """Return ``value`` as a float if it is finite and >= 0, else raise."""
    value = _check_real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0; got {value!r}")
    return value


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1); got {value!r}")
    return int(value)


def check_nonneg_int(name: str, value) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer; got {value!r} of type {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer (>= 0); got {value!r}")
    return int(value)


def check_probability(name: str, value, *, inclusive_low: bool = True, inclusive_high: bool = False) -> float:
    """Return ``value`` if it lies in the unit interval, else raise.

    The interval is ``[0, 1)`` by default; ``inclusive_low`` and
    ``inclusive_high`` say whether 0 and 1 are allowed.
    """
    value = _check_real(name, value)
    low_ok = value >= 0 if inclusive_low else value > 0
    high_ok = value <= 1 if inclusive_high else value < 1
    if not (low_ok and high_ok):
        interval = ("[" if inclusive_low else "(") + "0, 1" + ("]" if inclusive_high else ")")
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` as a bool if it is True or False (numpy's bools included), else raise TypeError.

    A flag is never taken by truthiness: ``training='yes'`` or ``residual='no'`` raise.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r} of type {type(value).__name__}")
    return bool(value)


def check_float_dtype(name: str, dtype) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is a real floating type, else raise TypeError listing the allowed ones.

    An integer dtype would truncate every initial weight to 0 without a word.
    """
    try:
        dt = None if dtype is None else np.dtype(dtype)  # np.dtype(None) would be float64
    except TypeError:
        dt = None
    if dt is None or not np.issubdtype(dt, np.floating):
        got = dt.name if dt is not None else repr(dtype)
        raise TypeError(f"{name} must be a floating type, one of: {', '.join(FLOAT_DTYPES)}; got {got}")
    return dt


def check_array_2d(name: str, x, n_features: int | None = None) -> np.ndarray:
    """Return ``x`` as a 2-D floating array of shape (batch, features), else raise.

    Raises
    ------
    TypeError
        If ``x`` is not numeric.
    ValueError
        If ``x`` is not 2-D, is empty, or has ``x.shape[1] != n_features``.
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (batch, features); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one example; got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} must have {n_features} features (shape (batch, {n_features})); got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def get_rng(seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int seed, None, or a Generator.

    Raises
    ------
    TypeError
        For any other type (``numpy.random.RandomState`` included: use ``default_rng``).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        return np.random.default_rng(seed)
    raise TypeError(
        f"seed/rng must be an int, None or a numpy.random.Generator; got {seed!r} of type {type(seed).__name__}"
    )
