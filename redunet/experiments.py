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
import math
import sys
import time
from pathlib import Path

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from ._config import CHUNK_BYTES as _SHIFT_CHUNK_BYTES
from ._validation import check_parameter
from .classifier import NearestSubspace, break_ties, residual_gaps, tie_rtol
from .datasets import (balanced_subset, cyclic_shift, gaussian_mixture_2d, gaussian_mixture_3d,
                       load_mnist, polar_sample, translate2d)
from .estimator import ReduNet
from .lift import Lift1D, Lift2D
from .plot import (_pyplot, plot_features_2d, plot_features_3d, plot_history, plot_invariance,
                   plot_similarity)
from .spectrum import weighted_sq_norms

__all__ = ["evaluation_protocol", "gaussian_experiment", "rotation_mnist_experiment",
           "translation_mnist_experiment"]

# --------------------------------------------------------------------------- helpers

def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (None where unavailable)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _jsonable(value):
    """``value`` with NumPy scalars/arrays as Python objects and NaN as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


def _shift_chunks(net, X, shifts, shift, verbose=False, desc="shifted sets"):
    """``(chunk, batch)`` pairs: ``batch`` stacks ``shift(X, s)`` for every ``s`` of ``chunk``.

    A chunk holds as many shifts as fit in ``_SHIFT_CHUNK_BYTES`` of lifted samples.
    """
    itemsize = np.dtype(net.dtype).itemsize
    per_shift = X.shape[0] * int(np.prod(net.signal_shape_)) * itemsize
    size = max(1, _SHIFT_CHUNK_BYTES // max(per_shift, 1))
    starts = range(0, len(shifts), size)
    if verbose:
        from tqdm.auto import tqdm
        starts = tqdm(starts, unit="chunk", desc=f"{desc} ({size} shifts/chunk)")
    for start in starts:
        chunk = shifts[start:start + size]
        yield chunk, np.concatenate([shift(X, s) for s in chunk])


# --------------------------------------------------------------------------- evaluation protocol

_PROTOCOL = ("linear_svc", "knn", "nearest_subspace")
_STAGES = ("lifted_input", "features")


def _flat_unit(Z, name):
    """Samples of ``Z`` flattened to rows and scaled to unit Euclidean norm."""
    flat = np.asarray(Z, dtype=float).reshape(len(Z), -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"Expected every sample of '{name}' to be non-zero (samples are "
                         f"renormalized). Sample(s) {np.flatnonzero(norms == 0)[:5].tolist()} "
                         f"are all zeros.")
    return flat / norms


class _Protocol:
    """The official code's three classifiers, fitted on flattened, renormalized features."""

    def __init__(self, features_train, y_train, n_neighbors, n_components, random_state):
        Z = _flat_unit(features_train, "features_train")
        svc = LinearSVC(random_state=random_state)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            svc.fit(Z, y_train)
        self.converged = True
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                self.converged = False
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        knn = KNeighborsClassifier(n_neighbors=min(n_neighbors, Z.shape[0]), metric="cosine")
        self.classifiers = {"linear_svc": svc, "knn": knn.fit(Z, y_train),
                            "nearest_subspace": NearestSubspace(n_components).fit(Z, y_train)}

    def n_correct(self, features, y, name="features"):
        flat = _flat_unit(features, name)
        return {key: int(np.count_nonzero(clf.predict(flat) == np.asarray(y)))
                for key, clf in self.classifiers.items()}


def evaluation_protocol(features_train, y_train, sets, n_neighbors=5, n_components=10,
                        random_state=10):
    """The paper's evaluation: LinearSVC, kNN and nearest subspace on flattened features.

    As in the official ReduNet code, every sample is flattened to a vector and
    scaled to unit norm; the classifiers are fitted on the training features and
    scored on every set.  None of them is shift invariant: comparing their
    accuracy on shifted sets with the invariant nearest subspace is the point.

    Parameters
    ----------
    features_train : array_like of shape (m, ...)
        Training features (any sample shape; flattened).
    y_train : array_like of shape (m,)
        Training labels.
    sets : dict
        Name -> ``(features, labels)``, or name -> iterable of ``(features,
        labels)`` chunks (the accuracy is then over all chunks together), e.g.
        ``{"train": ..., "test": ..., "shifted_train": ..., "shifted_test": ...}``.
    n_neighbors : int, default=5
        kNN with cosine similarity (``KNeighborsClassifier(metric="cosine")``):
        majority vote of the ``n_neighbors`` most similar training samples
        (capped at the training set size).
    n_components : int, default=10
        Components of every class of the plain :class:`NearestSubspace` (the
        official code's default).
    random_state : int, default=10
        Of ``LinearSVC`` (default parameters otherwise, as in the official code).

    Returns
    -------
    dict
        ``"linear_svc"``, ``"knn"``, ``"nearest_subspace"``: dicts mapping every
        set name to its accuracy; ``"linear_svc_converged"``: False if
        ``LinearSVC`` stopped at its iteration limit.
    """
    check_parameter("evaluation_protocol", "n_neighbors", n_neighbors, "positive_int")
    check_parameter("evaluation_protocol", "n_components", n_components, "positive_int")
    protocol = _Protocol(features_train, y_train, n_neighbors, n_components, random_state)
    results = {key: {} for key in _PROTOCOL}
    for name, data in sets.items():
        chunks = [data] if isinstance(data, tuple) else data
        correct, total = dict.fromkeys(_PROTOCOL, 0), 0
        for features, labels in chunks:
            for key, count in protocol.n_correct(features, labels, name).items():
                correct[key] += count
            total += len(labels)
        for key in _PROTOCOL:
            results[key][name] = correct[key] / total if total else float("nan")
    results["linear_svc_converged"] = protocol.converged
    return results


def _stage_spectrum(net, X, stage):
    """Spectral batch of ``X`` at one stage: the lifted, normalized input or the final features."""
    if stage == "features":
        return net._spectral_features(X)
    inputs = net.input_stage_
    return inputs.to_spectrum(inputs.lifted(inputs.validated(X)))


class _StageTally:
    """Protocol classifiers and invariant nearest subspace of one stage, counted set by set."""

    def __init__(self, net, stage, V_train, y_index, y_train):
        self.net = net
        self.weights = net.spectrum_.weights
        if stage == "features":
            self.invariant = net.classifier_
        else:
            self.invariant = NearestSubspace(net.n_components).fit_spectral(
                V_train, self.weights, y_index, net.classes_)
        self.protocol = _Protocol(net.spectrum_.inverse(V_train), y_train, 5, 10, 10)
        self.correct, self.total, self.gaps, self.changed, self.reference = {}, {}, {}, {}, {}

    def add(self, name, V, y, original=None):
        """Count one chunk of set ``name``; returns the invariant predictions (class indices).

        ``original`` names the unshifted set whose predictions every shifted copy
        in the chunk is compared with.
        """
        norms = weighted_sq_norms(V, self.weights.astype(V.real.dtype))
        residuals = self.invariant.residuals_spectral(V)
        predicted = break_ties(residuals, norms, tie_rtol(V.dtype))
        counts = self.protocol.n_correct(self.net.spectrum_.inverse(V), y)
        counts["invariant_nearest_subspace"] = int(np.count_nonzero(
            self.net.classes_[predicted] == y))
        for key, count in counts.items():
            self.correct.setdefault(key, {}).setdefault(name, 0)
            self.correct[key][name] += count
        self.total[name] = self.total.get(name, 0) + len(y)
        gap = float(residual_gaps(residuals, norms).min()) if len(y) else float("inf")
        self.gaps[name] = min(self.gaps.get(name, float("inf")), gap)
        if original is None:
            self.reference[name] = predicted
        else:
            changed = predicted.reshape(-1, self.reference[original].shape[0]) != \
                self.reference[original][None]
            self.changed[original] = self.changed.get(original, 0) + int(np.count_nonzero(changed))
        return predicted

    def report(self):
        out = {key: {name: count / self.total[name] for name, count in sets.items()}
               for key, sets in self.correct.items()}
        out["n_changed_predictions"] = dict(self.changed)
        out["min_residual_gap"] = {name: self.gaps[name] for name in ("test", "shifted_test")
                                   if name in self.gaps}
        out["linear_svc_converged"] = self.protocol.converged
        return out


def _spread(shifts, count):
    """``count`` entries of ``shifts`` evenly spread over it (all of them if fewer)."""
    index = np.unique(np.linspace(0, len(shifts), min(count, len(shifts)),
                                  endpoint=False).astype(int))
    return shifts[index]


def _evaluate(net, X_train, y_train, X_test, y_test, shifts, train_shifts, shift, verbose):
    """Protocol and invariant nearest subspace of both stages on the four sets.

    Returns the per-stage reports and the network's predicted labels of every
    shifted test set, shape (n_shifts, m_test).
    """
    y_index = np.searchsorted(net.classes_, y_train)
    tallies = {}
    for stage in _STAGES:
        V_train = _stage_spectrum(net, X_train, stage)
        tallies[stage] = _StageTally(net, stage, V_train, y_index, y_train)
        tallies[stage].add("train", V_train, y_train)
        tallies[stage].add("test", _stage_spectrum(net, X_test, stage), y_test)
    shifted_test = []
    for name, X, y, chosen in (("shifted_train", X_train, y_train, train_shifts),
                               ("shifted_test", X_test, y_test, shifts)):
        original = name[len("shifted_"):]
        for chunk, batch in _shift_chunks(net, X, chosen, shift, verbose, desc=name):
            labels = np.tile(y, len(chunk))
            for stage, tally in tallies.items():
                predicted = tally.add(name, _stage_spectrum(net, batch, stage), labels, original)
                if stage == "features" and name == "shifted_test":
                    shifted_test.append(net.classes_[predicted].reshape(len(chunk), -1))
    reports = {stage: tally.report() for stage, tally in tallies.items()}
    return reports, np.concatenate(shifted_test)


def _protocol_results(reports, predicted, y_test, train_shifts):
    """Result entries of the MNIST experiments from :func:`_evaluate`."""
    features = reports["features"]
    test_accuracy = features["invariant_nearest_subspace"]["test"]
    accuracy = np.mean(predicted == y_test[None], axis=1)
    return accuracy, {
        "train_accuracy": features["invariant_nearest_subspace"]["train"],
        "test_accuracy": test_accuracy,
        "shifted_accuracy_min": float(accuracy.min()),
        "shifted_accuracy_mean": float(accuracy.mean()),
        "shifted_accuracy_max": float(accuracy.max()),
        "shifted_all_equal_unshifted": bool(np.all(accuracy == test_accuracy)),
        "n_changed_predictions": features["n_changed_predictions"]["test"],
        "n_changed_predictions_train": features["n_changed_predictions"]["train"],
        "min_residual_gap": features["min_residual_gap"]["test"],
        "train_shifts": np.asarray(train_shifts).tolist(),
        "protocol": reports,
    }


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
