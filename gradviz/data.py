"""Data for the experiments: real handwritten digits and synthetic inputs.

- :func:`load_digits`: the 8x8 handwritten digits that scikit-learn ships
  inside its package (1797 images, 10 classes; read from disk, never
  downloaded), standardised and split with a seed; :func:`load_digits_raw`,
  the same split with the raw pixels 0..16; :func:`digits`, either one loaded
  once and shared (read-only) by the experiments and explorers.
- :func:`standard_normal`: inputs with mean 0 and variance 1 per feature, the
  assumption under which the initialisation formulas are derived.
- :func:`linear_regression_data`: a noisy line for the gradient-descent chapter.

Every function that draws random numbers takes ``seed`` (an int, or a
``numpy.random.Generator``); the same seed gives the same arrays bit for bit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gradviz._validate import (
    check_finite,
    check_nonneg,
    check_nonneg_int,
    check_positive_int,
    check_probability,
    get_rng,
)

__all__ = ["Dataset", "RegressionData", "load_digits", "load_digits_raw", "digits", "standard_normal",
           "linear_regression_data"]

_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in _FLOAT_DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; choose one of: {', '.join(_FLOAT_DTYPES)}")
    return dt


@dataclass(frozen=True)
class Dataset:
    """A classification data set split into a training and a test part.

    Attributes
    ----------
    X_train : ndarray, shape (n_train, n_features)
        Standardised features of the training examples.
    y_train : ndarray of int64, shape (n_train,)
        Class labels in ``0 .. n_classes-1``.
    X_test : ndarray, shape (n_test, n_features)
        Test features, standardised with the *training* mean and std.
    y_test : ndarray of int64, shape (n_test,)
    n_classes : int
    n_features : int
    mean, std : ndarray, shape (n_features,)
        The training-set statistics used to standardise (std is 1 where a
        feature is constant), so new inputs can be transformed the same way:
        ``(x - mean) / std``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    n_features: int
    mean: np.ndarray
    std: np.ndarray

    def __repr__(self) -> str:
        return (
            f"Dataset(n_train={self.X_train.shape[0]}, n_test={self.X_test.shape[0]}, "
            f"n_features={self.n_features}, n_classes={self.n_classes}, dtype={self.X_train.dtype})"
        )


def _stratified_split(y: np.ndarray, test_size: float, rng: np.random.Generator):
    """Indices of a split that keeps each class's share in both parts.

    Every class puts ``round(test_size * count)`` of its examples (at least
    one, at most ``count - 1``) into the test part, chosen by a permutation
    drawn from ``rng``.
    """
    train_idx, test_idx = [], []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        idx = idx[rng.permutation(idx.size)]
        n_test = int(round(test_size * idx.size))
        n_test = min(max(n_test, 1), idx.size - 1)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = np.sort(np.concatenate(train_idx))
    test_idx = np.sort(np.concatenate(test_idx))
    # Shuffle the order too, so that the first rows of X_train are not all zeros.
    return train_idx[rng.permutation(train_idx.size)], test_idx[rng.permutation(test_idx.size)]


def _digits_split(test_size, seed):
    """scikit-learn's bundled digits (pixels 0..16 as float64, labels as int64) and the indices of a
    seeded stratified split; the one place both digits loaders read the data."""
    test_size = check_probability("test_size", test_size, inclusive_low=False, inclusive_high=False)
    rng = get_rng(seed)
    from sklearn.datasets import load_digits as _sk_load_digits  # imported late: sklearn is slow to import

    bunch = _sk_load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    train_idx, test_idx = _stratified_split(y, test_size, rng)
    return X, y, train_idx, test_idx


def load_digits(test_size: float = 0.25, seed=0, dtype=np.float64) -> Dataset:
    """The handwritten digits shipped with scikit-learn, standardised and split.

    1797 grey-scale images of 8x8 pixels (values 0..16), 10 classes (digits
    0-9), from the UCI "Optical Recognition of Handwritten Digits" data set
    (Alpaydin and Kaynak, 1998), as bundled by ``sklearn.datasets.load_digits``:
    read from the installed package, no network access.

    Each of the 64 pixel features is standardised with the training part's
    mean and (population) standard deviation, ``x' = (x - mean) / std``; a
    pixel that is constant over the training part (std 0; e.g. corner pixels)
    gets std 1, so it becomes 0 rather than ``nan``. The test part uses the
    same training statistics.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of each class put in the test part, in (0, 1).
    seed : int or numpy.random.Generator, default 0
        Seed of the (stratified) split and of the row order.
    dtype : {'float64', 'float32'}, default float64
        Floating dtype of the features.

    Returns
    -------
    Dataset
        ``X_train`` (n_train, 64), ``y_train`` (n_train,), ``X_test``,
        ``y_test``, ``n_classes=10``, ``n_features=64``, and the ``mean``/``std``
        used. With the default ``test_size`` about 1347 training and 450 test
        examples.

    Raises
    ------
    TypeError
        If ``seed`` is not an int, None or a Generator, or ``test_size`` is not a number.
    ValueError
        If ``test_size`` is not in (0, 1) or ``dtype`` is not float32/float64.
    """
    dt = _check_dtype(dtype)
    X, y, train_idx, test_idx = _digits_split(test_size, seed)
    X_train, X_test = X[train_idx], X[test_idx]
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    X_train = ((X_train - mean) / std).astype(dt)
    X_test = ((X_test - mean) / std).astype(dt)
    return Dataset(
        X_train=X_train,
        y_train=y[train_idx],
        X_test=X_test,
        y_test=y[test_idx],
        n_classes=10,
        n_features=X.shape[1],
        mean=mean.astype(dt),
        std=std.astype(dt),
    )


def load_digits_raw(test_size: float = 0.25, seed=0, dtype=np.float64) -> Dataset:
    """The handwritten digits of :func:`load_digits`, split the same way but **not** standardised,
    so that a batch-norm layer placed first can do the standardising itself (chapter 06).

    The features are the raw pixel intensities, integers 0..16 stored as
    floats (mean about 4.9 over all pixels; some corner pixels are always 0).
    With the same ``test_size`` and ``seed`` the split and the order of the
    rows are exactly those of :func:`load_digits`, so
    ``(raw.X_train - std.mean) / std.std`` reproduces ``std.X_train`` for
    ``raw = load_digits_raw(seed=s)``, ``std = load_digits(seed=s)``.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of each class put in the test part, in (0, 1).
    seed : int or numpy.random.Generator, default 0
        Seed of the (stratified) split and of the row order.
    dtype : {'float64', 'float32'}, default float64

    Returns
    -------
    Dataset
        As :func:`load_digits`, with ``mean`` all zeros and ``std`` all ones
        (no transform was applied: ``(x - mean) / std`` is ``x``).

    Raises
    ------
    TypeError, ValueError
        As :func:`load_digits`.
    """
    dt = _check_dtype(dtype)
    X, y, train_idx, test_idx = _digits_split(test_size, seed)
    return Dataset(
        X_train=X[train_idx].astype(dt),
        y_train=y[train_idx],
        X_test=X[test_idx].astype(dt),
        y_test=y[test_idx],
        n_classes=10,
        n_features=X.shape[1],
        mean=np.zeros(X.shape[1], dtype=dt),
        std=np.ones(X.shape[1], dtype=dt),
    )

@functools.lru_cache(maxsize=4)
def _digits_cached(seed: int, raw: bool) -> Dataset:
    data = (load_digits_raw if raw else load_digits)(seed=seed)
    for a in (data.X_train, data.y_train, data.X_test, data.y_test, data.mean, data.std):
        a.flags.writeable = False  # shared by every caller: nobody may change it for the others
    return data


def digits(seed: int = 0, raw: bool = False) -> Dataset:
    """:func:`load_digits` (or, with ``raw=True``, :func:`load_digits_raw`) with the default split, loaded once.

    The experiments and explorers train on the same digits again and again:
    this returns the same :class:`Dataset` object for the same arguments
    (the 4 most recent are kept), with read-only arrays. Call
    :func:`load_digits` for arrays of your own.

    Parameters
    ----------
    seed : int >= 0, default 0
        Seed of the split (a Generator is not accepted: its state would change).
    raw : bool, default False
        Raw pixels 0..16 instead of standardised ones.

    Raises
    ------
    TypeError, ValueError
        For a seed that is not a non-negative integer.
    """
    return _digits_cached(check_nonneg_int("seed", seed), bool(raw))


def standard_normal(n_samples: int, n_features: int, seed=0, dtype=np.float64) -> np.ndarray:
    """Inputs drawn independently from the standard normal distribution N(0, 1).

    These are the "standardised inputs" (mean 0, variance 1 per feature) that
    the variance-preserving arguments of Glorot and Bengio (2010) and He et
    al. (2015) assume, and that SELU's self-normalisation needs (Klambauer et
    al., 2017).

    Parameters
    ----------
    n_samples : int
        Number of rows (the batch size), >= 1.
    n_features : int
        Number of columns, >= 1.
    seed : int or numpy.random.Generator, default 0
    dtype : {'float64', 'float32'}, default float64
        The numbers are drawn in float64 and then cast, so a float32 array
        holds the rounded float64 draws of the same seed.

    Returns
    -------
    ndarray, shape (n_samples, n_features)

    Raises
    ------
    TypeError
        If a size is not an integer, or ``seed`` has the wrong type.
    ValueError
        If a size is < 1 or ``dtype`` is not float32/float64.
    """
    n_samples = check_positive_int("n_samples", n_samples)
    n_features = check_positive_int("n_features", n_features)
    dt = _check_dtype(dtype)
    rng = get_rng(seed)
    return rng.standard_normal((n_samples, n_features)).astype(dt, copy=False)


class RegressionData(NamedTuple):
    """A 1-D linear regression problem: ``y = w * x + b + noise``.

    Unpacks as ``X, y, w, b = linear_regression_data(...)``.

    Attributes
    ----------
    X : ndarray, shape (n_samples, 1)
        Inputs, uniform on ``x_range``.
    y : ndarray, shape (n_samples,)
        Targets.
    w, b : float
        The true slope and intercept that generated ``y``.
    """

    X: np.ndarray
    y: np.ndarray
    w: float
    b: float


def linear_regression_data(
    n_samples: int = 100,
    noise: float = 0.5,
    seed=0,
    *,
    w: float = 2.0,
    b: float = -1.0,
    x_range: tuple[float, float] = (-2.0, 2.0),
    dtype=np.float64,
) -> RegressionData:
    """A noisy straight line, for gradient descent on a convex cost (chapter 01).

    ``x ~ Uniform(x_range)``, ``y = w * x + b + noise * eps`` with
    ``eps ~ N(0, 1)``.

    With the cost ``mean_squared_error`` (``(1/2N) sum (w x + b - y)^2``) the
    Hessian with respect to ``(w, b)`` is ``H = [[mean x^2, mean x], [mean x, 1]]``;
    gradient descent converges for every start exactly when the learning rate
    is below ``2 / lambda_max(H)`` (e.g. Goodfellow, Bengio and Courville,
    2016, section 4.3.1). For the default ``x_range`` the expected threshold
    is 1.5 (``E[x^2] = 4/3``, ``E[x] = 0``); one sample of 100 points lands
    near it (about 1.27 for ``seed=0``), so compute it from the data in hand.

    Parameters
    ----------
    n_samples : int, default 100
        Number of points, >= 1.
    noise : float, default 0.5
        Standard deviation of the Gaussian noise added to ``y``, >= 0 (same units as ``y``).
    seed : int or numpy.random.Generator, default 0
    w, b : float, default 2.0 and -1.0
        True slope and intercept (finite).
    x_range : (float, float), default (-2.0, 2.0)
        Interval the inputs are drawn from; ``low < high``.
    dtype : {'float64', 'float32'}, default float64

    Returns
    -------
    RegressionData
        ``(X (n_samples, 1), y (n_samples,), w, b)``.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If ``n_samples < 1``, ``noise < 0``, ``x_range`` is not an increasing
        pair of finite numbers, or ``dtype`` is not float32/float64.
    """
    n_samples = check_positive_int("n_samples", n_samples)
    noise = check_nonneg("noise", noise)
    w = check_finite("w", w)
    b = check_finite("b", b)
    try:
        low, high = x_range
    except (TypeError, ValueError):
        raise ValueError(f"x_range must be a pair (low, high); got {x_range!r}") from None
    low, high = check_finite("x_range[0]", low), check_finite("x_range[1]", high)
    if not low < high:
        raise ValueError(f"x_range must satisfy low < high; got {x_range!r}")
    dt = _check_dtype(dtype)
    rng = get_rng(seed)
    x = rng.uniform(low, high, size=n_samples)
    y = w * x + b + noise * rng.standard_normal(n_samples)
    return RegressionData(X=x.reshape(-1, 1).astype(dt), y=y.astype(dt), w=w, b=b)
