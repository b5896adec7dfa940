"""Tests of the circular lifting (docs/math.rst, "Lifting") against plain loop references."""

import numpy as np
import pytest

from redunet._validation import NotFittedError
from redunet._lift import Lift1D, Lift2D


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


# ------------------------------------------------------------ loop references
def naive_lift1d(X, K, relu):
    """``y[o, t] = sum_{c,s} K[o,c,s] x[c, (t+s) mod T]``, one scalar at a time."""
    m, n_in, T = X.shape
    n_out, _, k = K.shape
    Y = np.zeros((m, n_out, T))
    for i in range(m):
        for o in range(n_out):
            for t in range(T):
                acc = 0.0
                for c in range(n_in):
                    for s in range(k):
                        acc += K[o, c, s] * X[i, c, (t + s) % T]
                Y[i, o, t] = max(acc, 0.0) if relu else acc
    return Y


def naive_lift2d(X, K, relu):
    """``y[o,h,w] = sum_{c,a,b} K[o,c,a,b] x[c, (h+a) mod H, (w+b) mod W]``."""
    m, n_in, H, W = X.shape
    n_out, _, kh, kw = K.shape
    Y = np.zeros((m, n_out, H, W))
    for i in range(m):
        for o in range(n_out):
            for h in range(H):
                for w in range(W):
                    acc = 0.0
                    for c in range(n_in):
                        for a in range(kh):
                            for b in range(kw):
                                acc += K[o, c, a, b] * X[i, c, (h + a) % H, (w + b) % W]
                    Y[i, o, h, w] = max(acc, 0.0) if relu else acc
    return Y


# ------------------------------------------------------------- correctness
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("T, k", [(7, 1), (7, 3), (7, 7), (8, 1), (8, 4), (8, 8), (1, 1)])
def test_lift1d_matches_loops(rng, T, k, relu):
    X = rng.standard_normal((3, 2, T))
    lift = Lift1D(out_channels=4, kernel_size=k, seed=3, relu=relu)
    Y = lift.fit_transform(X)
    assert Y.dtype == np.float64
    np.testing.assert_allclose(Y, naive_lift1d(X, lift.kernels_, relu), rtol=0, atol=1e-12)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("H, W, kh, kw", [(5, 6, 1, 1), (5, 6, 3, 3), (5, 6, 5, 6),
                                          (4, 4, 4, 4), (6, 5, 2, 3), (3, 7, 3, 2)])
def test_lift2d_matches_loops(rng, H, W, kh, kw, relu):
    X = rng.standard_normal((2, 2, H, W))
    K = rng.standard_normal((3, 2, kh, kw))
    Y = Lift2D(kernels=K, relu=relu).fit_transform(X)
    np.testing.assert_allclose(Y, naive_lift2d(X, K, relu), rtol=0, atol=1e-12)


def test_lift2d_drawn_square_kernels_match_loops(rng):
    X = rng.standard_normal((2, 1, 6, 7))
    lift = Lift2D(out_channels=3, kernel_size=3, seed=5, relu=False).fit(X)
    assert lift.kernels_.shape == (3, 1, 3, 3)
    np.testing.assert_allclose(lift.transform(X), naive_lift2d(X, lift.kernels_, False),
                               rtol=0, atol=1e-12)


def test_chunking_matches_single_pass(rng, monkeypatch):
    import redunet._lift as lift_module

    X = rng.standard_normal((23, 2, 9))
    lift = Lift1D(out_channels=3, kernel_size=4, relu=False).fit(X)
    expected = naive_lift1d(X, lift.kernels_, False)
    monkeypatch.setattr(lift_module, "LIFT_MAX_CHUNK", 5)  # 23 = 4 * 5 + 3, ragged last chunk
    np.testing.assert_allclose(lift.transform(X), expected, rtol=0, atol=1e-12)


def test_zero_samples_are_lifted_to_zero(rng):
    X = rng.standard_normal((3, 2, 8))
    X[1] = 0.0
    Y = Lift1D(out_channels=4, kernel_size=3, relu=False).fit_transform(X)
    assert np.all(Y[1] == 0.0) and np.any(Y[0] != 0.0)


def test_transform_accepts_other_lengths(rng):
    lift = Lift1D(out_channels=2, kernel_size=3, relu=False).fit(rng.standard_normal((2, 1, 8)))
    X = rng.standard_normal((2, 1, 5))
    np.testing.assert_allclose(lift.transform(X), naive_lift1d(X, lift.kernels_, False),
                               rtol=0, atol=1e-12)


# ------------------------------------------------------------ equivariance
@pytest.mark.parametrize("shift", [1, 2, 5, 10, -3])
def test_lift1d_shift_equivariance(rng, shift):
    X = rng.standard_normal((4, 3, 11))
    lift = Lift1D(out_channels=6, kernel_size=4, relu=True).fit(X)
    Y = lift.transform(X)
    Y_shifted = lift.transform(np.roll(X, shift, axis=-1))
    np.testing.assert_allclose(Y_shifted, np.roll(Y, shift, axis=-1), rtol=0, atol=1e-12)
    assert np.any(Y == 0) and np.any(Y > 0)  # the ReLU is active


@pytest.mark.parametrize("dy, dx", [(0, 1), (1, 0), (2, 3), (-1, 4), (5, 6)])
def test_lift2d_shift_equivariance(rng, dy, dx):
    X = rng.standard_normal((3, 2, 6, 7))
    lift = Lift2D(out_channels=4, kernel_size=3, relu=True).fit(X)
    Y = lift.transform(X)
    Y_shifted = lift.transform(np.roll(X, (dy, dx), axis=(-2, -1)))
    np.testing.assert_allclose(Y_shifted, np.roll(Y, (dy, dx), axis=(-2, -1)),
                               rtol=0, atol=1e-12)


# ------------------------------------------------------ kernels and seeds
@pytest.mark.parametrize("cls, shape", [(Lift1D, (2, 3, 10)), (Lift2D, (2, 3, 10, 10))])
def test_seed_determinism(rng, cls, shape):
    X = rng.standard_normal(shape)
    a = cls(out_channels=5, kernel_size=3, seed=7).fit(X).kernels_
    b = cls(out_channels=5, kernel_size=3, seed=7).fit(X).kernels_
    c = cls(out_channels=5, kernel_size=3, seed=8).fit(X).kernels_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    expected = np.random.default_rng(7).standard_normal((5, 3) + (3,) * (len(shape) - 2))
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("cls, kshape, xshape", [(Lift1D, (4, 2, 3), (3, 2, 9)),
                                                 (Lift2D, (4, 2, 3, 2), (3, 2, 5, 6))])
def test_given_kernels_used_as_is(rng, cls, kshape, xshape):
    K = rng.standard_normal(kshape)
    K_copy = K.copy()
    lift = cls(out_channels=99, kernel_size=1, seed=1, kernels=K).fit(rng.standard_normal(xshape))
    np.testing.assert_array_equal(lift.kernels_, K)
    assert lift.in_channels_ == kshape[1]
    assert lift.transform(rng.standard_normal(xshape)).shape[1] == kshape[0]
    lift.kernels_[...] = 0.0
    np.testing.assert_array_equal(K, K_copy)  # the user's array is not aliased
    assert lift.kernels is K  # the parameter itself is stored unchanged


# ------------------------------------------------------------- precision
@pytest.mark.parametrize("cls, shape", [(Lift1D, (5, 3, 32)), (Lift2D, (3, 2, 12, 10))])
def test_float32_in_float32_out(rng, cls, shape):
    X = rng.standard_normal(shape)
    lift = cls(out_channels=6, kernel_size=3).fit(X)
    Y64 = lift.transform(X)
    Y32 = lift.transform(X.astype(np.float32))
    assert Y64.dtype == np.float64 and Y32.dtype == np.float32
    np.testing.assert_allclose(Y32, Y64, rtol=1e-5, atol=1e-5 * np.abs(Y64).max())


def test_integer_input_gives_float64(rng):
    X = rng.integers(-3, 4, size=(2, 1, 6))
    lift = Lift1D(out_channels=2, kernel_size=2, relu=False).fit(X)
    Y = lift.transform(X)
    assert Y.dtype == np.float64
    np.testing.assert_allclose(Y, naive_lift1d(X.astype(float), lift.kernels_, False),
                               rtol=0, atol=1e-12)


# ---------------------------------------------------------- params protocol
@pytest.mark.parametrize("cls", [Lift1D, Lift2D])
def test_get_set_params_round_trip(cls):
    lift = cls(out_channels=3, kernel_size=2, seed=4, relu=False)
    params = lift.get_params()
    assert params == {"out_channels": 3, "kernel_size": 2, "seed": 4, "kernels": None,
                      "relu": False}
    clone = cls(**params)
    assert clone.get_params() == params
    assert clone.set_params(seed=9, relu=True) is clone
    assert clone.get_params()["seed"] == 9 and clone.relu is True
    with pytest.raises(ValueError, match="Invalid parameter 'stride'"):
        clone.set_params(stride=2)


def test_set_params_changes_the_lift(rng):
    X = rng.standard_normal((2, 1, 8))
    lift = Lift1D(out_channels=2, kernel_size=3, relu=True)
    a = lift.fit(X).kernels_.copy()
    b = lift.set_params(seed=1).fit(X).kernels_
    assert not np.allclose(a, b)


# ------------------------------------------------------------------ errors
def test_transform_before_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        Lift1D().transform(np.ones((1, 1, 8)))
    with pytest.raises(NotFittedError, match="not fitted"):
        Lift2D().transform(np.ones((1, 1, 9, 9)))


@pytest.mark.parametrize("cls, shape, match", [
    (Lift1D, (3, 8), r"'X' to be a 3D array \(n_samples, n_channels, length\)"),
    (Lift1D, (2, 1, 4, 4), r"'X' to be a 3D array"),
    (Lift2D, (2, 1, 8), r"'X' to be a 4D array \(n_samples, n_channels, height, width\)"),
])
def test_wrong_ndim(cls, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(kernel_size=1).fit(np.ones(shape))


def test_wrong_ndim_in_transform():
    lift = Lift1D(kernel_size=1).fit(np.ones((2, 1, 4)))
    with pytest.raises(ValueError, match=r"'X' to be a 3D array"):
        lift.transform(np.ones((2, 4)))


@pytest.mark.parametrize("cls, shape", [(Lift1D, (2, 3, 8)), (Lift2D, (2, 3, 8, 8))])
def test_channel_mismatch_after_fit(cls, shape):
    lift = cls(kernel_size=2).fit(np.ones(shape))
    bad = (shape[0], 2) + shape[2:]
    with pytest.raises(ValueError, match=r"'X' to have 3 channels .*Got 2 channels"):
        lift.transform(np.ones(bad))


def test_channel_mismatch_with_given_kernels(rng):
    lift = Lift1D(kernels=rng.standard_normal((4, 2, 3)))
    with pytest.raises(ValueError, match=r"'X' to have 2 channels .*'kernels'"):
        lift.fit(np.ones((2, 5, 8)))


@pytest.mark.parametrize("cls, kwargs, shape, match", [
    (Lift1D, {"kernel_size": 9}, (2, 1, 8), r"'kernel_size'.*\(9\) exceeds the length of 'X' \(8\)"),
    (Lift2D, {"kernel_size": 6}, (2, 1, 8, 5), r"'kernel_size'.*\(6\) exceeds the width"),
    (Lift2D, {"kernel_size": 6}, (2, 1, 5, 8), r"'kernel_size'.*\(6\) exceeds the height"),
    (Lift2D, {"kernels": np.ones((2, 1, 2, 7))}, (2, 1, 8, 6), r"'kernels'.*\(7\) exceeds the width"),
])
def test_kernel_larger_than_signal(cls, kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs).fit(np.ones(shape))


def test_kernel_larger_than_signal_in_transform():
    lift = Lift1D(kernel_size=5).fit(np.ones((1, 1, 8)))
    with pytest.raises(ValueError, match=r"'kernels_'.*\(5\) exceeds the length of 'X' \(4\)"):
        lift.transform(np.ones((1, 1, 4)))


@pytest.mark.parametrize("name, value", [("out_channels", 0), ("out_channels", 2.0),
                                         ("out_channels", True), ("kernel_size", -1),
                                         ("kernel_size", None), ("kernel_size", 1.5)])
@pytest.mark.parametrize("cls", [Lift1D, Lift2D])
def test_bad_int_parameters(cls, name, value):
    with pytest.raises(ValueError, match=rf"The '{name}' parameter of {cls.__name__} must be "
                                         r"an int >= 1\. Got"):
        cls(**{name: value}).fit(np.ones((1, 1, 9, 9)[: 2 + cls._n_axes]))


@pytest.mark.parametrize("name, value, match", [
    ("seed", -1, r"The 'seed' parameter of Lift1D must be None or an int >= 0"),
    ("seed", 1.5, r"The 'seed' parameter of Lift1D must be None or an int >= 0"),
    ("relu", "yes", r"The 'relu' parameter of Lift1D must be a bool"),
])
def test_bad_other_parameters(name, value, match):
    with pytest.raises(ValueError, match=match):
        Lift1D(kernel_size=2, **{name: value}).fit(np.ones((1, 1, 4)))


def test_seed_none_is_allowed():
    lift = Lift1D(out_channels=2, kernel_size=2, seed=None).fit(np.ones((1, 1, 4)))
    assert lift.kernels_.shape == (2, 1, 2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cls, shape", [(Lift1D, (3, 1, 6)), (Lift2D, (3, 1, 6, 6))])
def test_non_finite_X(cls, shape, bad):
    X = np.ones(shape)
    X[1, 0, 2] = bad
    with pytest.raises(ValueError, match=r"'X' to contain only finite values.*sample\(s\) \[1\]"):
        cls(kernel_size=2).fit(X)
    lift = cls(kernel_size=2).fit(np.ones(shape))
    with pytest.raises(ValueError, match=r"'X' to contain only finite values"):
        lift.transform(X)


@pytest.mark.parametrize("cls, kshape, match", [
    (Lift1D, (2, 1), r"'kernels' to be a 3D array \(out_channels, in_channels, kernel_size\)"),
    (Lift1D, (2, 1, 3, 3), r"'kernels' to be a 3D array"),
    (Lift2D, (2, 1, 3), r"'kernels' to be a 4D array \(out_channels, in_channels, kernel_height"),
])
def test_kernels_wrong_ndim(cls, kshape, match):
    with pytest.raises(ValueError, match=match):
        cls(kernels=np.ones(kshape)).fit(np.ones((1, 1, 6, 6)[: 2 + cls._n_axes]))


def test_kernels_non_finite():
    K = np.ones((2, 1, 3))
    K[1, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"'kernels' to contain only finite values"):
        Lift1D(kernels=K).fit(np.ones((1, 1, 6)))
