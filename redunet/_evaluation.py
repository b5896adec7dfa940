"""Evaluation of the experiments: the paper's protocol beside the invariant nearest subspace.

:func:`evaluation_protocol` is the official code's evaluation (LinearSVC, kNN with
cosine similarity and nearest subspace on flattened, renormalized features);
:func:`_evaluate` runs it, with the network's invariant nearest subspace, on the
lifted inputs and on the final features of the training, test and shifted sets,
chunk by chunk (shifted copies never exceed ``_SHIFT_CHUNK_BYTES``).  Shared by
:mod:`redunet.experiments` and the appendix's runs.
"""

import math
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from ._classifier import NearestSubspace, break_ties, residual_gaps, tie_rtol
from ._config import CHUNK_BYTES as _SHIFT_CHUNK_BYTES
from ._spectrum import weighted_sq_norms
from ._validation import check_parameter

__all__ = ["evaluation_protocol", "peak_rss_mb"]


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


def _stage_spectra(net, X):
    """Spectral batches of ``X`` at both stages: the lifted, normalized input (computed
    once) and the final features."""
    V = net.input_stage_.features(X)
    return {"lifted_input": V, "features": net._through_layers(V)}


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
    train, test = _stage_spectra(net, X_train), _stage_spectra(net, X_test)
    for stage in _STAGES:
        tallies[stage] = _StageTally(net, stage, train[stage], y_index, y_train)
        tallies[stage].add("train", train[stage], y_train)
        tallies[stage].add("test", test[stage], y_test)
    shifted_test = []
    for name, X, y, chosen in (("shifted_train", X_train, y_train, train_shifts),
                               ("shifted_test", X_test, y_test, shifts)):
        original = name[len("shifted_"):]
        for chunk, batch in _shift_chunks(net, X, chosen, shift, verbose, desc=name):
            labels = np.tile(y, len(chunk))
            spectra = _stage_spectra(net, batch)
            for stage, tally in tallies.items():
                predicted = tally.add(name, spectra[stage], labels, original)
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
