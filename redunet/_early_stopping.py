"""Early stopping of a construction on held-out data (scikit-learn's ``early_stopping``).

The training objective cannot tell when a ReduNet stops generalizing: ``delta_R``
of the training features keeps rising while the features of new samples can
collapse (vector MNIST with ``eps=0.1``: nearest-subspace test accuracy 0.93
after one layer, below chance after ten).  So a stratified part of the training
set is held out (:func:`hold_out`); its features go through every new layer
beside the training features, and after each layer its nearest-subspace
accuracy, with the classifier fitted on the current training features, is
recorded by the :class:`EarlyStopping` hook of
:func:`redunet._construction.construct`.  The construction stops once the score
did not improve for ``n_iter_no_change`` layers, and the depth with the best
score is kept (the shallowest one among ties): the hook drops the later layers
and loads the training features of that depth back into the executor, so the
final objective and the classifier are those of the kept depth.

The held-out score needs the training features as one array
(``executor.whole()``), so early stopping applies to in-memory fits.
"""

import numpy as np

from ._classifier import NearestSubspace
from ._construction import HISTORY_KEYS, Hook

__all__ = ["split_validation", "hold_out", "EarlyStopping"]


def split_validation(y_index, validation_fraction, random_state):
    """Stratified split of sample indices into training and held-out parts.

    Parameters
    ----------
    y_index : ndarray of int64, shape (m,)
        Class index of every sample.
    validation_fraction : float
        Fraction of the samples held out, in (0, 1).
    random_state : int or None
        Seed of the split (``sklearn.model_selection.train_test_split``).

    Returns
    -------
    train, validation : ndarray of int64
        Sorted sample indices (the samples keep their original order).

    Raises
    ------
    ValueError
        If the split cannot give every class at least two training samples and
        the held-out part at least one sample per class.
    """
    from sklearn.model_selection import train_test_split
    try:
        train, validation = train_test_split(np.arange(y_index.shape[0]),
                                             test_size=validation_fraction, stratify=y_index,
                                             random_state=random_state)
    except ValueError as exc:
        raise ValueError(
            f"The 'validation_fraction' parameter of ReduNet ({validation_fraction!r}) cannot "
            f"hold out a stratified part of {y_index.shape[0]} samples: {exc}") from None
    train, validation = np.sort(train), np.sort(validation)
    n_classes = int(y_index.max()) + 1
    train_counts = np.bincount(y_index[train], minlength=n_classes)
    if train_counts.min() < 2:
        raise ValueError(
            f"The 'validation_fraction' parameter of ReduNet ({validation_fraction!r}) leaves "
            f"class(es) {np.flatnonzero(train_counts < 2).tolist()} with fewer than 2 training "
            "samples; use a smaller fraction or more samples.")
    return train, validation


def hold_out(stage, X, Z, y_index, validation_fraction, random_state):
    """Split validated samples ``X`` (lifted: ``Z``) into a training part and held-out features.

    Returns
    -------
    X, Z, y_index
        The training part (``Z is X`` is kept when there is no lift).
    held : tuple (V, y_index)
        Spectral input features ``(F, n, C)`` of the held-out samples and their classes.
    """
    train, validation = split_validation(y_index, validation_fraction, random_state)
    held = stage.to_spectrum(Z[validation]), y_index[validation]
    X_train = X[train]
    return X_train, X_train if Z is X else Z[train], y_index[train], held


class EarlyStopping(Hook):
    """Held-out nearest-subspace accuracy after every layer; stop and keep the best depth.

    Parameters
    ----------
    executor : executor
        Holds the training features at the input of the first layer still to
        build, in memory (``executor.whole()``); they are scored at once.
    y_index : ndarray of int64, shape (m,)
        Class indices of the training samples.
    held : tuple (V, y_index)
        Held-out features at the same depth, and their classes (:func:`hold_out`).
    step : callable
        ``step(layer, V) -> V_new``: the fit's layer update.
    weights : ndarray of shape (F,)
        Frequency weights of the spectrum.
    classes : ndarray of shape (K,)
    n_components : int or None
        As :class:`redunet.NearestSubspace`.
    n_iter_no_change : int
        Layers without improvement after which the construction stops.

    Attributes
    ----------
    scores : list of float
        Held-out accuracy at depth 0, 1, ... (entry ``l``: after ``l`` layers).
    best_depth : int
        Depth of the first best score.
    """

    def __init__(self, executor, y_index, held, step, weights, classes, n_components,
                 n_iter_no_change):
        self.y_index = y_index
        self.V_held, self.y_held = held
        self.step = step
        self.weights = weights
        self.classes = classes
        self.n_components = n_components
        self.n_iter_no_change = n_iter_no_change
        self.scores = []
        self.best_depth = None
        self._best_features = None
        self._stop = False
        self._observe(self._features(executor))

    @staticmethod
    def _features(executor):
        V = executor.whole()
        if V is None:
            raise ValueError("early_stopping=True needs the training features in memory; it "
                             "cannot be combined with 'chunk_size' or a dask array.")
        return V

    def score(self, V_train):
        """Held-out accuracy of the classifier fitted on training features ``V_train``."""
        classifier = NearestSubspace(self.n_components).fit_spectral(
            V_train, self.weights, self.y_index, self.classes)
        return float(np.mean(classifier.predict_spectral(self.V_held) == self.y_held))

    def _observe(self, V_train):
        self.scores.append(self.score(V_train))
        depth = len(self.scores) - 1
        if self.best_depth is None or self.scores[-1] > self.scores[self.best_depth]:
            self.best_depth = depth
            self._best_features = V_train.copy()
        self._stop = depth - self.best_depth >= self.n_iter_no_change

    # -- hook of redunet._construction.construct ----------------------------------------------------
    def objective_recorded(self, history):
        return self._stop

    def layer_added(self, layers, history, executor):
        self.V_held = self.step(layers[-1], self.V_held)
        self._observe(self._features(executor))

    def finished(self, layers, history, executor):
        best = self.best_depth
        changed = best < len(layers)
        if changed:
            layers.truncate(best)
            for key in HISTORY_KEYS:        # entry `best` is recomputed from the kept features
                del history[key][best:]
            executor.load(self._best_features.transpose(1, 0, 2))
        history["validation_score"] = self.scores[:best + 1]
        self._best_features = None
        return changed
