"""Data: the bundled digits (offline, standardised, seeded split) and synthetic inputs."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import sklearn.datasets

from gradviz import data as gvdata
from gradviz.data import Dataset, linear_regression_data, load_digits, load_digits_raw, standard_normal


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


def test_digits_shapes_and_labels(digits):
    assert digits.n_classes == 10 and digits.n_features == 64
    assert digits.X_train.shape == (1347, 64) and digits.X_test.shape == (450, 64)
    assert digits.y_train.shape == (1347,) and digits.y_test.shape == (450,)
    assert digits.X_train.dtype == np.float64
    assert digits.y_train.dtype == np.int64
    for y in (digits.y_train, digits.y_test):
        assert set(np.unique(y)) == set(range(10))


def test_digits_split_is_stratified(digits):
    raw = np.bincount(sklearn.datasets.load_digits().target, minlength=10)
    test_counts = np.bincount(digits.y_test, minlength=10)
    np.testing.assert_array_equal(test_counts, np.round(0.25 * raw).astype(int))
    np.testing.assert_array_equal(np.bincount(digits.y_train, minlength=10), raw - test_counts)


def test_digits_standardised_with_training_statistics(digits):
    X = digits.X_train
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    std = X.std(axis=0)
    constant = digits.std == 1.0
    # Pixels that vary are scaled to unit std; constant pixels become exactly 0 (not nan).
    np.testing.assert_allclose(std[~constant], 1.0, rtol=1e-12)
    assert np.all(X[:, constant] == 0.0)
    assert constant.any()  # the corner pixel is blank in every image
    assert np.isfinite(digits.X_test).all()


def test_digits_split_is_a_partition_of_the_original_images(digits):
    # Undo the standardisation: every row must be an original 0..16 image, and
    # train + test together must be exactly the 1797 original (image, label) pairs.
    bunch = sklearn.datasets.load_digits()
    rows = []
    for X, y in ((digits.X_train, digits.y_train), (digits.X_test, digits.y_test)):
        pixels = X * digits.std + digits.mean
        np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-9)
        rows.append(np.hstack([np.round(pixels), y[:, None]]))
    ours = np.vstack(rows)
    original = np.hstack([bunch.data, bunch.target[:, None]])
    assert ours.shape == original.shape
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(key(ours), key(original))


def test_digits_same_seed_same_bits_other_seed_differs():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_digits_float32_and_test_size():
    d = load_digits(test_size=0.5, dtype="float32")
    assert d.X_train.dtype == np.float32 and d.X_test.dtype == np.float32
    assert abs(d.X_test.shape[0] - 1797 / 2) <= 10


def test_digits_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_digits tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert load_digits(seed=1).X_train.shape == (1347, 64)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"test_size": 0.0}, ValueError, ["test_size", "(0, 1)"]),
        ({"test_size": 1.0}, ValueError, ["test_size", "(0, 1)"]),
        ({"test_size": "a"}, TypeError, ["test_size"]),
        ({"dtype": "int32"}, ValueError, ["dtype", "float32", "float64"]),
        ({"seed": 1.5}, TypeError, ["seed"]),
    ],
)
def test_digits_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        load_digits(**kwargs)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- synthetic


def test_standard_normal_shape_seed_and_moments():
    x = standard_normal(20_000, 5, seed=7)
    assert x.shape == (20_000, 5) and x.dtype == np.float64
    np.testing.assert_array_equal(x, standard_normal(20_000, 5, seed=7))
    assert not np.array_equal(x, standard_normal(20_000, 5, seed=8))
    # Per column: the sample mean has sd 1/sqrt(n), the sample variance sd ~ sqrt(2/n).
    n = x.shape[0]
    assert np.all(np.abs(x.mean(axis=0)) < 5 / np.sqrt(n))
    assert np.all(np.abs(x.var(axis=0) - 1) < 5 * np.sqrt(2 / n))


def test_standard_normal_accepts_a_generator_and_float32():
    a = standard_normal(3, 4, seed=np.random.default_rng(0), dtype=np.float32)
    b = standard_normal(3, 4, seed=0)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b.astype(np.float32))


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [((0, 3), ValueError, "n_samples"), ((3, -1), ValueError, "n_features"), ((2.5, 3), TypeError, "n_samples")],
)
def test_standard_normal_bad_sizes(args, error, name):
    with pytest.raises(error, match=name):
        standard_normal(*args)


def test_linear_regression_noise_free_is_the_line():
    X, y, w, b = linear_regression_data(n_samples=50, noise=0.0, w=3.0, b=0.5, x_range=(1.0, 2.0), seed=2)
    assert X.shape == (50, 1) and y.shape == (50,)
    assert (w, b) == (3.0, 0.5)
    assert X.min() >= 1.0 and X.max() < 2.0
    np.testing.assert_allclose(y, 3.0 * X[:, 0] + 0.5, rtol=1e-15)


def test_linear_regression_noisy_fit_recovers_the_line():
    noise, n = 0.5, 2000
    X, y, w, b = linear_regression_data(n_samples=n, noise=noise, seed=0)
    slope, intercept = np.polyfit(X[:, 0], y, 1)
    # Standard errors for x ~ U(-2, 2): sd(slope) = noise / sqrt(n Var x), Var x = 4/3.
    assert abs(slope - w) < 5 * noise / np.sqrt(n * 4 / 3)
    assert abs(intercept - b) < 5 * noise / np.sqrt(n)
    resid = y - (slope * X[:, 0] + intercept)
    assert resid.std() == pytest.approx(noise, rel=0.1)


def test_linear_regression_seeded():
    a, b = linear_regression_data(seed=5), linear_regression_data(seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"noise": -1.0}, ValueError, "noise"),
        ({"x_range": (1.0, 1.0)}, ValueError, "x_range"),
        ({"x_range": 3.0}, ValueError, "x_range"),
        ({"n_samples": 0}, ValueError, "n_samples"),
        ({"w": float("inf")}, ValueError, "w"),
    ],
)
def test_linear_regression_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        linear_regression_data(**kwargs)


def test_digits_is_loaded_once_shared_and_read_only():
    first = gvdata.digits()
    assert gvdata.digits(0) is first and gvdata.digits(seed=0, raw=False) is first
    fresh = load_digits()
    for name in ("X_train", "y_train", "X_test", "y_test", "mean", "std"):
        np.testing.assert_array_equal(getattr(first, name), getattr(fresh, name))
        with pytest.raises(ValueError, match="read-only"):
            getattr(first, name)[0] = 0
    raw = gvdata.digits(raw=True)
    assert raw is gvdata.digits(0, True) and raw is not first
    np.testing.assert_array_equal(raw.X_train, load_digits_raw().X_train)
    assert gvdata.digits(seed=1) is not first
    with pytest.raises(TypeError, match="seed"):
        gvdata.digits(seed=np.random.default_rng(0))
    with pytest.raises(ValueError, match="seed"):
        gvdata.digits(seed=-1)
