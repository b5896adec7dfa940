"""The paper's experiments as plain functions (behind ``redunet experiment ...``).

Each function builds a ReduNet, evaluates it, and returns a JSON-serializable
dict of results.  With ``out_dir`` it also writes ``results.json`` and PNG
figures there (figures need the optional extra ``redunet[plot]``; without
Matplotlib they are skipped and the results say so).

* :func:`gaussian_experiment` -- vector ReduNet on the 2D / 3D Gaussian mixture.
* :func:`rotation_mnist_experiment` -- rotation-invariant MNIST (:ref:`math-polar`):
  polar sampling, ``Lift1D``, ``arch="fourier1d"``; the test set is rotated by
  every angle of the polar grid.
* :func:`translation_mnist_experiment` -- translation-invariant MNIST:
  ``Lift2D``, ``arch="fourier2d"``; the test set is translated cyclically.

Every result dict also holds ``peak_rss_mb`` (peak resident memory of the
process so far) and, with ``out_dir``, ``figures`` (the PNG files written).
Shifted sets are evaluated in chunks of shifts, each chunk in one batched pass
through the network, so that the lifted copies never exceed about
``_SHIFT_CHUNK_BYTES``.

The MNIST experiments also report the paper's evaluation protocol
(:func:`evaluation_protocol`: the official code's LinearSVC, kNN with ``k = 5``
and cosine similarity, and nearest subspace, on the flattened, renormalized
features, none of them shift invariant) beside our invariant nearest subspace,
for the ReduNet features and for the raw lifted inputs (the lifted,
normalized samples before any layer).  Keys of ``results.json`` added by them:

* ``protocol`` -- ``{"features": ..., "lifted_input": ...}``; each maps
  ``"linear_svc"``, ``"knn"``, ``"nearest_subspace"`` and
  ``"invariant_nearest_subspace"`` to the accuracy on ``"train"``, ``"test"``,
  ``"shifted_train"`` (the training set under every shift of ``train_shifts``)
  and ``"shifted_test"`` (the test set under every tested shift), and holds
  ``"n_changed_predictions"`` (``{"train", "test"}``: invariant nearest-subspace
  predictions of shifted copies that differ from those of the originals),
  ``"min_residual_gap"`` (``{"test", "shifted_test"}``: smallest gap between the
  two smallest invariant nearest-subspace residuals, relative to the sample's
  squared norm) and ``"linear_svc_converged"``;
* ``train_shifts`` -- the shifts applied to the training set (a subset of
  ``shifts``, evenly spread);
* ``min_residual_gap`` -- ``protocol["features"]["min_residual_gap"]["test"]``,
  the margin of the network's own predictions on the test set;
* ``n_changed_predictions_train`` -- as ``n_changed_predictions``, on the
  shifted training sets.
"""

import json
import time
from pathlib import Path


import numpy as np

from ._evaluation import (_evaluate, _jsonable, _protocol_results, _spread, evaluation_protocol,
                          peak_rss_mb)
from ._validation import check_parameter
from .datasets import (balanced_subset, cyclic_shift, gaussian_mixture_2d, gaussian_mixture_3d,
                       load_mnist, polar_sample, translate2d)
from ._appendix import (iris_experiment, mice_experiment, rate_reduction_optimum,
                        rotation_mnist_2class_experiment, sinusoid_experiment,
                        translation_mnist_2class_experiment)
from ._estimator import ReduNet
from ._lift import Lift1D, Lift2D
from .plot import (_pyplot, plot_features_2d, plot_features_3d, plot_history, plot_invariance,
                   plot_similarity)

__all__ = ["evaluation_protocol", "gaussian_experiment", "rotation_mnist_experiment",
           "translation_mnist_experiment", "iris_experiment", "mice_experiment",
           "sinusoid_experiment", "rotation_mnist_2class_experiment",
           "translation_mnist_2class_experiment", "rate_reduction_optimum", "run_paper"]

# --------------------------------------------------------------------------- helpers

def _fit(net, X, y):
    start = time.perf_counter()
    net.fit(X, y)
    return time.perf_counter() - start


def _summary(net, build_seconds):
    delta = net.history_["delta_r"]
    return {
        "n_layers_built": net.n_layers_,
        "delta_r_first": float(delta[0]),
        "delta_r_last": float(delta[-1]),
        "build_seconds": build_seconds,
    }


def _finish(results, out_dir, figures):
    """JSON-ready results; with ``out_dir``, also the figures and ``results.json`` written there.

    ``figures`` maps file names to callables that draw on a new axes and return it.
    """
    results["peak_rss_mb"] = peak_rss_mb()
    results = _jsonable(results)
    if out_dir is None:
        return results
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        plt = _pyplot()
    except ImportError as exc:
        results["figures"] = []
        results["figures_skipped"] = str(exc)
    else:
        results["figures"] = []
        for name, draw in figures.items():
            ax = draw()
            ax.figure.tight_layout()
            ax.figure.savefig(out_dir / name, dpi=120)
            plt.close(ax.figure)
            results["figures"].append(name)
    with open(out_dir / "results.json", "w") as fh:
        json.dump(results, fh, indent=2)
        fh.write("\n")
    return results


def _mnist_subsets(mnist_path, n_train_per_class, n_test_per_class, seed):
    X_train, y_train, X_test, y_test = load_mnist(mnist_path)
    X_train, y_train = balanced_subset(X_train, y_train, n_train_per_class, seed=seed)
    X_test, y_test = balanced_subset(X_test, y_test, n_test_per_class, seed=seed)
    return X_train, y_train, X_test, y_test


def _titled(ax, title):
    ax.set_title(title)
    return ax


def _labelled(ax, xlabel):
    ax.set_xlabel(xlabel)
    return ax


def _mnist_figures(net, X_train, y_train):
    """Figures shared by the MNIST experiments (drawn only if they are saved)."""
    return {
        "history.png": lambda: plot_history(net.history_),
        "similarity_input.png": lambda: plot_similarity(
            net.lift_.transform(X_train), y_train, title="|cos| of lifted, normalized inputs"),
        "similarity_features.png": lambda: plot_similarity(
            net.transform(X_train), y_train, title="|cos| of final features"),
    }


# --------------------------------------------------------------------------- experiments

def gaussian_experiment(dim=2, n_per_class=500, noise=0.1, n_layers=2000, eta=0.5, eps=0.1,
                        lmbda=500, seed=0, out_dir=None, verbose=False):
    """Vector ReduNet on the two-class Gaussian mixture on the circle (2D) or sphere (3D).

    Parameters
    ----------
    dim : {2, 3}, default=2
        :func:`~redunet.datasets.gaussian_mixture_2d` or ``_3d``.
    n_per_class, noise : int, float
        Size and noise of the mixture.
    n_layers, eta, eps, lmbda : int, float, float, float
        Passed to :class:`~redunet.ReduNet`.
    seed : int, default=0
        Seed of the training data; the fresh test data use ``seed + 1``.
    out_dir : str or path-like, optional
        Folder for ``results.json``, ``history.png``, ``features_input.png`` and
        ``features.png``.
    verbose : bool, default=False
        Progress bar over the layers.

    Returns
    -------
    dict
        ``params``, ``n_layers_built``, ``delta_r_first``, ``delta_r_last``,
        ``train_accuracy``, ``test_accuracy`` (fresh samples of the same
        mixture), ``max_abs_cos_class_means`` (largest ``|cos|`` between the
        means of the final training features of two classes), ``build_seconds``.

    Notes
    -----
    The first experiment of the ReduNet paper [ReduNet]_ (2000 layers by default): every class
    ends up on its own line through the origin, the lines orthogonal to one another.

    References
    ----------
    The paper's toy experiments on the circle and the sphere: [ReduNet]_.

    Examples
    --------
    >>> from redunet.experiments import gaussian_experiment
    >>> results = gaussian_experiment(dim=2, n_per_class=20, n_layers=20, seed=0)
    >>> results["n_layers_built"], results["train_accuracy"], results["test_accuracy"]
    (20, 1.0, 1.0)
    """
    check_parameter("gaussian_experiment", "dim", dim, (2, 3))
    params = dict(dim=dim, n_per_class=n_per_class, noise=noise, n_layers=n_layers, eta=eta,
                  eps=eps, lmbda=lmbda, seed=seed)
    make = gaussian_mixture_2d if dim == 2 else gaussian_mixture_3d
    X, y = make(n_per_class=n_per_class, noise=noise, seed=seed)
    X_test, y_test = make(n_per_class=n_per_class, noise=noise, seed=seed + 1)
    net = ReduNet(arch="vector", n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda,
                  verbose=verbose)
    build_seconds = _fit(net, X, y)
    Z = net.transform(X)
    means = np.array([Z[y == c].mean(axis=0) for c in net.classes_])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    cosines = np.abs(means @ means.T)[np.triu_indices(len(means), k=1)]
    results = {
        "experiment": "gaussian",
        "params": params,
        **_summary(net, build_seconds),
        "train_accuracy": net.score(X, y),
        "test_accuracy": net.score(X_test, y_test),
        "max_abs_cos_class_means": float(cosines.max()),
    }
    scatter = plot_features_2d if dim == 2 else plot_features_3d
    return _finish(results, out_dir, {
        "history.png": lambda: plot_history(net.history_),
        "features_input.png": lambda: _titled(scatter(X, y), "input"),
        "features.png": lambda: _titled(scatter(Z, y), f"after {net.n_layers_} layers"),
    })


def rotation_mnist_experiment(n_train_per_class=10, n_test_per_class=10, n_radii=15,
                              n_angles=200, out_channels=20, kernel_size=5, n_layers=40, eta=0.5,
                              eps=0.1, lmbda=500, seed=0, mnist_path=None, out_dir=None,
                              n_rotations=None, train_shifts=20, dtype="float64",
                              verbose=False):
    """Rotation-invariant ReduNet on MNIST (the paper's setting by default).

    Images are sampled on a polar grid (``n_radii`` radii as channels,
    ``n_angles`` angles as the cyclic axis), lifted by ``Lift1D`` and fed to a
    ``fourier1d`` ReduNet.  Rotating an image by ``2*pi*s/n_angles`` is exactly
    ``cyclic_shift(polar, s)``, so every such rotation of the test set is tested.

    Parameters
    ----------
    n_train_per_class, n_test_per_class : int
        Balanced subsets of the MNIST training and test pools.
    n_radii, n_angles : int
        Polar grid (see :func:`~redunet.datasets.polar_sample`).
    out_channels, kernel_size : int
        ``Lift1D`` parameters (its seed is ``seed``).
    n_layers, eta, eps, lmbda, dtype
        Passed to :class:`~redunet.ReduNet`.
    seed : int, default=0
        Seed of the subsets and of the lifting kernels.
    mnist_path : str or path-like, optional
        Folder of the MNIST IDX files (see :func:`~redunet.datasets.load_mnist`).
    out_dir : str or path-like, optional
        Folder for ``results.json``, ``history.png``, ``similarity_input.png``,
        ``similarity_features.png`` and ``invariance.png``.
    n_rotations : int, optional
        Test only this many rotations, evenly spaced over the circle
        (``None``: all ``n_angles``).
    train_shifts : int, default=20
        Rotations of the training set for the protocol's ``shifted_train`` set
        (evenly spread over the tested ones).
    verbose : bool, default=False
        Progress bars over layers and over chunks of rotations.

    Returns
    -------
    dict
        ``params``, ``n_layers_built``, ``delta_r_first``, ``delta_r_last``,
        ``build_seconds``, ``train_accuracy``, ``test_accuracy`` (invariant
        nearest subspace, i.e. ``ReduNet.predict``), ``shifts``,
        ``shifted_accuracy`` (per shift), its ``_min`` / ``_mean`` / ``_max``,
        ``shifted_all_equal_unshifted``, ``n_changed_predictions`` (test
        predictions that differ from the unrotated ones, over all rotations),
        ``n_changed_predictions_train``, ``min_residual_gap``, ``train_shifts``,
        ``protocol`` (see the module docstring), ``evaluate_seconds``.

    Notes
    -----
    The defaults are the paper's setting [ReduNet]_: 10 training samples per class, 15 radii,
    200 angles, 20 lifted channels with kernels of length 5, 40 layers. Why a rotation on
    the grid is a cyclic shift: :ref:`math-polar`; why the prediction cannot change:
    :ref:`math-equivariance`.

    References
    ----------
    Rotation-invariant MNIST, as set up in [ReduNet]_.

    Examples
    --------
    A tiny run (2 digits per class, a coarse grid, 3 layers), tested under 4 rotations:

    >>> from redunet.experiments import rotation_mnist_experiment
    >>> results = rotation_mnist_experiment(
    ...     n_train_per_class=2, n_test_per_class=2, n_radii=5, n_angles=16, out_channels=4,
    ...     kernel_size=3, n_layers=3, n_rotations=4)
    >>> results["shifts"], results["n_changed_predictions"]
    ([0, 4, 8, 12], 0)
    """
    params = dict(n_train_per_class=n_train_per_class, n_test_per_class=n_test_per_class,
                  n_radii=n_radii, n_angles=n_angles, out_channels=out_channels,
                  kernel_size=kernel_size, n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda,
                  seed=seed, n_rotations=n_rotations, train_shifts=train_shifts, dtype=dtype)
    check_parameter("rotation_mnist_experiment", "n_rotations", n_rotations,
                    "optional_positive_int")
    check_parameter("rotation_mnist_experiment", "train_shifts", train_shifts, "positive_int")
    images_train, y_train, images_test, y_test = _mnist_subsets(
        mnist_path, n_train_per_class, n_test_per_class, seed)
    X_train = polar_sample(images_train, n_radii=n_radii, n_angles=n_angles)
    X_test = polar_sample(images_test, n_radii=n_radii, n_angles=n_angles)
    net = ReduNet(arch="fourier1d", lift=Lift1D(out_channels, kernel_size, seed=seed),
                  n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype,
                  verbose=verbose)
    build_seconds = _fit(net, X_train, y_train)

    start = time.perf_counter()
    count = n_angles if n_rotations is None else min(n_rotations, n_angles)
    shifts = np.unique(np.linspace(0, n_angles, count, endpoint=False).astype(int))
    chosen = _spread(shifts, train_shifts)
    reports, predicted = _evaluate(net, X_train, y_train, X_test, y_test, shifts, chosen,
                                   cyclic_shift, verbose)
    accuracy, report = _protocol_results(reports, predicted, y_test, chosen)
    results = {
        "experiment": "rotation-mnist",
        "params": params,
        **_summary(net, build_seconds),
        **report,
        "shifts": shifts.tolist(),
        "shifted_accuracy": accuracy.tolist(),
        "evaluate_seconds": time.perf_counter() - start,
    }
    figures = _mnist_figures(net, X_train, y_train)
    figures["invariance.png"] = lambda: _labelled(
        plot_invariance(accuracy, shifts=shifts, reference=results["test_accuracy"]),
        f"rotation (in steps of 360/{n_angles} degrees)")
    return _finish(results, out_dir, figures)


def _translation_shifts(shifts, height, width, seed):
    """All ``(dy, dx)`` as a (n, 2) int array, or a deterministic sample of ``shifts`` of them."""
    check_parameter("translation_mnist_experiment", "shifts", shifts, "optional_positive_int")
    total = height * width
    if shifts is None:
        flat = np.arange(total)
    else:
        rng = np.random.default_rng(seed)
        flat = np.sort(rng.choice(total, size=min(shifts, total), replace=False))
    return np.stack(np.divmod(flat, width), axis=1)


def translation_mnist_experiment(n_train_per_class=10, n_test_per_class=10, out_channels=75,
                                 kernel_size=9, n_layers=25, eta=0.5, eps=0.1, lmbda=500, seed=0,
                                 dtype="float64", mnist_path=None, out_dir=None, shifts=None,
                                 train_shifts=10, verbose=False):
    """Translation-invariant ReduNet on MNIST (the paper's setting by default).

    Single-channel ``28 x 28`` images are lifted by ``Lift2D`` and fed to a
    ``fourier2d`` ReduNet; the test set is translated cyclically by every
    ``(dy, dx)`` (or a sample of them).

    Parameters
    ----------
    n_train_per_class, n_test_per_class : int
        Balanced subsets of the MNIST training and test pools.
    out_channels, kernel_size : int
        ``Lift2D`` parameters (its seed is ``seed``).
    n_layers, eta, eps, lmbda, dtype
        Passed to :class:`~redunet.ReduNet`.
    seed : int, default=0
        Seed of the subsets, of the lifting kernels and of the shift sample.
    mnist_path : str or path-like, optional
        Folder of the MNIST IDX files (see :func:`~redunet.datasets.load_mnist`).
    out_dir : str or path-like, optional
        Folder for ``results.json``, ``history.png``, ``similarity_input.png``,
        ``similarity_features.png`` and ``invariance.png`` (heat map over
        ``(dy, dx)``).
    shifts : int, optional
        Test only this many translations, drawn without replacement by
        ``numpy.random.default_rng(seed)`` (``None``: all ``H * W``).
    train_shifts : int, default=10
        Translations of the training set for the protocol's ``shifted_train``
        set (evenly spread over the tested ones).
    verbose : bool, default=False
        Progress bars over layers and over chunks of translations.

    Returns
    -------
    dict
        As :func:`rotation_mnist_experiment`, with ``shifts`` a list of
        ``[dy, dx]`` pairs and ``accuracy_table`` an ``H x W`` nested list of
        the accuracy per translation (``None`` where not tested).

    Notes
    -----
    The defaults are the paper's setting [ReduNet]_: 10 training samples per class, 75 lifted
    channels with ``9 x 9`` kernels, 25 layers. Why the prediction of a translated image
    cannot change: :ref:`math-equivariance`.

    References
    ----------
    Translation-invariant MNIST with a 2D lift, after [ReduNet]_.

    Examples
    --------
    A tiny run (2 digits per class, 4 channels, 2 layers), tested under 3 translations:

    >>> from redunet.experiments import translation_mnist_experiment
    >>> results = translation_mnist_experiment(
    ...     n_train_per_class=2, n_test_per_class=2, out_channels=4, kernel_size=5,
    ...     n_layers=2, shifts=3)
    >>> len(results["shifts"]), results["n_changed_predictions"]
    (3, 0)
    """
    params = dict(n_train_per_class=n_train_per_class, n_test_per_class=n_test_per_class,
                  out_channels=out_channels, kernel_size=kernel_size, n_layers=n_layers,
                  eta=eta, eps=eps, lmbda=lmbda, seed=seed, dtype=dtype, shifts=shifts,
                  train_shifts=train_shifts)
    check_parameter("translation_mnist_experiment", "train_shifts", train_shifts,
                    "positive_int")
    images_train, y_train, images_test, y_test = _mnist_subsets(
        mnist_path, n_train_per_class, n_test_per_class, seed)
    X_train, X_test = images_train[:, None], images_test[:, None]
    height, width = X_test.shape[-2:]
    offsets = _translation_shifts(shifts, height, width, seed)
    net = ReduNet(arch="fourier2d", lift=Lift2D(out_channels, kernel_size, seed=seed),
                  n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype,
                  verbose=verbose)
    build_seconds = _fit(net, X_train, y_train)

    start = time.perf_counter()
    chosen = _spread(offsets, train_shifts)
    reports, predicted = _evaluate(net, X_train, y_train, X_test, y_test, offsets, chosen,
                                   lambda X, s: translate2d(X, int(s[0]), int(s[1])), verbose)
    accuracy, report = _protocol_results(reports, predicted, y_test, chosen)
    table = np.full((height, width), np.nan)
    table[offsets[:, 0], offsets[:, 1]] = accuracy
    results = {
        "experiment": "translation-mnist",
        "params": params,
        **_summary(net, build_seconds),
        **report,
        "shifts": offsets.tolist(),
        "shifted_accuracy": accuracy.tolist(),
        "accuracy_table": table,
        "evaluate_seconds": time.perf_counter() - start,
    }
    figures = _mnist_figures(net, X_train, y_train)
    figures["invariance.png"] = lambda: plot_invariance(table, reference=results["test_accuracy"])
    return _finish(results, out_dir, figures)


# The whole paper: every experiment above and the appendix's, then one report.
from ._paper import run_paper  # noqa: E402  (it uses this module's experiments)
