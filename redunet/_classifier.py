"""Nearest-subspace classification (:ref:`math-nearest-subspace`, :ref:`math-nearest-subspace-invariant`), on plain or spectral features.

Plain features ``Z`` (m, d): per class, the top ``k`` right singular vectors of
the class's rows span its subspace, and a sample goes to the class with the
smallest squared residual ``||z||^2 - ||U_j^T z||^2`` (no centering).

Spectral batches ``V`` (F, m, C) with frequency weights ``w_f`` (the Fourier
batch of a shift-invariant net, see :mod:`redunet._spectrum`): the class subspace
is the principal subspace of the class's whole *circulant family*, all cyclic
shifts of its training features.  The unitary DFT block-diagonalizes that
family, so its singular triplets are the union over frequencies of those of the
``C x m_j`` matrices ``[v_i(f)]``; a mirrored frequency of the half spectrum
(``w_f = 2``) stands for itself and its conjugate and contributes its triplet
twice.  The class keeps the ``k`` largest singular values **pooled across all
frequencies** (a ``w_f = 2`` component counts as 2 of the ``k``), and the
squared residual of a sample is

    ``||v||^2 - sum over the class's kept (f, u) of w_f |u^H v(f)|^2``.

A cyclic shift multiplies every ``v(f)`` by a unit phase, so residuals, and with
the tie rule below predictions, are exactly shift invariant.  With one frequency
(vector features, :meth:`NearestSubspace.fit`) this is the classical rule.

Boundary of the top ``k``: components are taken in order of decreasing singular
value while fewer than ``k`` family dimensions are kept; a mirrored component is
taken whole, and so is a group of singular values tied with the last one taken
(within the rank tolerance below): the top-``k`` subspace of the family is only
defined up to such ties, and splitting a conjugate pair (a mirrored component, or
the frequencies ``(k_y, 0)`` and ``(-k_y, 0)`` that the 2D half spectrum stores
both) would give a subspace that is not the span of real signals.  A class may
thus keep a few more than ``k`` dimensions.  Directions whose singular value is below
``max(C, m_j) * eps * s_max`` (``s_max`` the class's largest singular value over
all frequencies, ``eps`` of the features' precision) are numerically zero and
never kept, so ``k`` at or above the class's rank keeps exactly its numerical
span.

Default number of components: ``max(1, C // K)`` with one frequency (every class
gets an equal share of the feature dimension, which is what the MCR^2 objective
drives the classes towards); ``C`` family dimensions (the size of one frequency
block) on spectral batches with more than one frequency.  The sweep of
``benchmarks/bench_classifier.py`` (rotation and translation MNIST at the
paper's sizes, float64 and float32) gives the same test accuracy for every ``k``
from 1 to 500 in both settings, while the smallest gap between the two best
residuals on the test set peaks near ``k = C`` (rotation, ``C = 20``: 0.29 at
``k = 20``, 1.5e-5 at ``k = 1``; translation, ``C = 75``: 0.15 at ``k = 50`` and
0.51 at ``k = 100``, 3e-8 at ``k = 300``): too few components leave classes
nearly indistinguishable, too many make several class subspaces contain a
sample.

Ties: two residuals ``r_a <= r_b`` of a sample ``v`` are tied when
``r_b - r_a <= sqrt(eps) * ||v||^2`` (``eps`` of the features' precision), and
among the classes tied with the smallest residual the smallest class index
wins.  Residuals are differences of sums of squares of size ``||v||^2``; their
rounding (and the rounding by which a network's features of a shifted sample
differ from the phase-shifted features) is a few ``eps * ||v||^2`` times
moderate factors, far below ``sqrt(eps)``, so an exact tie (a test sample inside
two class subspaces, a class of one sample) cannot be decided by rounding,
while gaps that carry information (``>> sqrt(eps)``) are untouched.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import CONSTRAINTS, InputError, check_array, check_labels
from ._spectrum import weighted_sq_norms

__all__ = ["NearestSubspace"]


class NearestSubspace(ClassifierMixin, BaseEstimator):
    """Nearest-subspace classifier (a scikit-learn classifier).

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension of every class subspace; on spectral batches, dimensions of the
        class's whole circulant family, pooled across frequencies (see the module
        docstring).  ``None``: ``max(1, n_features // n_classes)`` on plain
        features (one frequency), ``n_channels`` on spectral batches.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Sorted unique training labels.
    bases_ : list of ndarray of shape (F, C, k_j)
        Orthonormal basis vectors of every class at every frequency (columns),
        ``F = 1`` for plain features; columns not kept are zero.
    n_family_components_ : ndarray of shape (K,)
        Dimensions of every class subspace in the circulant family (mirrored
        components counted twice).
    n_features_in_ : int
        Number of features seen by :meth:`fit` (plain features only).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a training DataFrame with string column names.

    Notes
    -----
    Predictions break ties deterministically: residuals within
    ``sqrt(eps) * ||v||^2`` of the smallest one are tied, and the smallest class
    index among them wins (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from redunet import NearestSubspace
    >>> Z = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    >>> NearestSubspace(n_components=1).fit(Z, ["a", "a", "b", "b"]).predict([[5.0, 1.0]])
    array(['a'], dtype='<U1')
    """

    _parameter_constraints = {"n_components": CONSTRAINTS["optional_positive_int"]}

    def __init__(self, n_components=None):
        self.n_components = n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        # Subspaces through the origin: classes that differ by location only (scikit-learn's
        # blobs) are not separated.
        tags.classifier_tags.poor_score = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "bases_")

    # -- plain features ---------------------------------------------------------------------------
    def fit(self, Z, y):
        """Fit one subspace per class on features ``Z`` (m, d); returns ``self``."""
        self._validate_params()
        plain = check_array(Z, name="Z", ndim=2, allow_zero_samples=True,
                            shape_hint="(n_samples, n_features)")
        classes, y_index = check_labels(y, plain.shape[0], min_per_class=1)
        validate_data(self, Z, reset=True, skip_check_array=True)
        return self.fit_spectral(plain[None], np.ones(1), y_index, classes)

    def decision_function(self, Z):
        """Negative squared residual to every class subspace, shape (m, K).

        For two classes, scikit-learn's binary convention: the residual to the
        first class minus the residual to the second, shape (m,), positive for
        ``classes_[1]``.
        """
        scores = -self.residuals_spectral(self._check_plain(Z)[None])
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, Z):
        """Label of the nearest class subspace for every row of ``Z`` (ties: see Notes)."""
        nearest = self.predict_spectral(self._check_plain(Z)[None])
        return self.classes_[nearest]

    def score(self, Z, y):
        """Accuracy of :meth:`predict` on ``(Z, y)``."""
        return accuracy(self.predict(Z), y, self.classes_)

    def _check_plain(self, Z):
        self._check_fitted()
        plain = check_array(Z, name="Z", ndim=2, allow_zero_samples=True,
                            shape_hint="(n_samples, n_features)")
        n_frequencies, n_features = self.bases_[0].shape[:2]
        if n_frequencies != 1:
            raise InputError(f"This NearestSubspace was fitted on spectral features with "
                             f"{n_frequencies} frequencies; use 'predict_spectral'.")
        if hasattr(self, "n_features_in_"):
            validate_data(self, Z, reset=False, skip_check_array=True)
        elif plain.shape[1] != n_features:
            raise InputError(f"X has {plain.shape[1]} features, but NearestSubspace is "
                             f"expecting {n_features} features as input.")
        return plain

    # -- spectral batch (used by ReduNet) ----------------------------------------------------------
    def fit_spectral(self, V, weights, y_index, classes):
        """Fit on a spectral batch ``V`` (F, m, C) with frequency ``weights``; returns ``self``.

        ``y_index`` (m,) holds the index into ``classes`` of every sample.
        """
        self._validate_params()
        self._start(V.shape[2], weights, classes)
        for j in range(classes.shape[0]):
            columns = V[:, y_index == j].swapaxes(-1, -2)          # (F, C, m_j)
            U, s, _ = np.linalg.svd(columns, full_matrices=False)
            self._keep(U, s, max(columns.shape[1:]) * np.finfo(s.dtype).eps)
        self._finish_fit()
        return self

    def fit_scatter(self, scatters, counts, weights, classes):
        """Fit from per-class scatter matrices ``S_{j,f}`` (K, F, C, C) (streaming fits).

        The eigenvectors of ``S_{j,f} = sum_i v_i(f) v_i(f)^H`` are the left singular
        vectors of the class's ``C x m_j`` feature matrix, and its eigenvalues the
        squared singular values, so the same components are pooled as in
        :meth:`fit_spectral`, and the result equals it up to rounding.
        """
        self._start(scatters.shape[-1], weights, classes)
        for S, m_j in zip(scatters, counts):
            eigenvalues, U = np.linalg.eigh(S)
            s = np.sqrt(np.maximum(eigenvalues[..., ::-1], 0.0))
            # eigenvalues carry an absolute error ~ eps * largest, singular values its root
            self._keep(U[..., ::-1], s, np.sqrt(max(S.shape[-1], int(m_j)) * np.finfo(s.dtype).eps))
        self._finish_fit()
        return self

    def _start(self, n_channels, weights, classes):
        self._validate_params()
        self.weights_ = np.asarray(weights, dtype=float)
        if self.n_components is not None:
            self.n_components_ = self.n_components
        elif self.weights_.shape[0] == 1:
            self.n_components_ = max(1, n_channels // classes.shape[0])
        else:
            self.n_components_ = n_channels
        self.classes_ = classes
        self.bases_ = []
        self._family_dims = []

    def _keep(self, U, s, rtol):
        """Keep a class's top components pooled across frequencies (see the module docstring).

        ``U`` (F, C, r) and ``s`` (F, r) are the per-frequency singular vectors
        and values, in decreasing order at every frequency.
        """
        k = self.n_components_
        s_max = s.max() if s.size else 0.0
        valid = (s > rtol * s_max).ravel()
        multiplicity = np.broadcast_to(self.weights_[:, None], s.shape).ravel()
        # Stable sort: equal values keep (frequency, index) order, so every kept
        # set is a prefix at each frequency and the choice is deterministic.
        order = np.argsort(-s.ravel(), kind="stable")
        order = order[valid[order]]
        before = np.cumsum(multiplicity[order]) - multiplicity[order]
        chosen = order[before < k]
        if chosen.size:
            # a tie group at the boundary is kept whole (conjugate frequencies stored twice)
            ranked = s.ravel()[order]
            chosen = order[(before < k) | (ranked >= ranked[chosen.size - 1] - rtol * s_max)]
        keep = np.zeros(s.size, dtype=bool)
        keep[chosen] = True
        keep = keep.reshape(s.shape)
        width = int(keep.sum(axis=1).max()) if keep.size else 0
        self.bases_.append(np.ascontiguousarray(U[..., :width] * keep[:, None, :width]))
        self._family_dims.append(int(multiplicity[chosen].sum()))

    def _finish_fit(self):
        self.n_family_components_ = np.array(self._family_dims, dtype=int)
        del self._family_dims

    def residuals_spectral(self, V):
        """Squared residual of every sample of ``V`` (F, m, C) to every class, shape (m, K)."""
        self._check_fitted()
        w = self.weights_.astype(V.real.dtype)
        total = weighted_sq_norms(V, w)
        out = np.empty((V.shape[1], len(self.bases_)))
        for j, U in enumerate(self.bases_):
            # only the frequencies where the class keeps a direction contribute
            active = np.flatnonzero(np.any(U != 0, axis=(1, 2)))
            coefficients = np.matmul(V[active], U[active].conj())
            kept = weighted_sq_norms(coefficients, w[active])
            out[:, j] = np.maximum(total - kept, 0.0)
        return out

    def predict_spectral(self, V):
        """Class index (into ``classes_``) of the nearest subspace, for a spectral batch.

        Residuals within ``sqrt(eps) * ||v||^2`` of the smallest are tied and the
        smallest class index among them wins (``eps`` of ``V``'s precision).
        """
        residuals = self.residuals_spectral(V)
        return break_ties(residuals, weighted_sq_norms(V, self.weights_.astype(V.real.dtype)),
                          tie_rtol(V.dtype))

    def _check_fitted(self):
        check_is_fitted(self, msg="This %(name)s instance is not fitted yet. Call 'fit' first.")


def tie_rtol(dtype):
    """Relative tolerance below which two residuals are tied: ``sqrt(eps)`` of ``dtype``."""
    return float(np.sqrt(np.finfo(np.dtype(dtype)).eps))


def break_ties(residuals, sq_norms, rtol):
    """Index of the smallest residual per row; ties within ``rtol * sq_norms``: smallest index."""
    best = residuals.min(axis=1, keepdims=True)
    tied = residuals <= best + rtol * sq_norms[:, None]
    return np.argmax(tied, axis=1)


def residual_gaps(residuals, sq_norms=None):
    """Gap between the two smallest residuals of every sample (relative to ``sq_norms``)."""
    if residuals.shape[1] < 2:
        return np.full(residuals.shape[0], np.inf)
    two = np.partition(residuals, 1, axis=1)[:, :2]
    gap = two[:, 1] - two[:, 0]
    return gap if sq_norms is None else gap / sq_norms


def accuracy(predicted, y, classes):
    """Fraction of ``predicted`` equal to ``y``; labels unseen in ``classes`` are an error."""
    y = np.asarray(y)
    if y.shape != predicted.shape:
        raise InputError(
            f"Expected 'y' to have one label per sample ({predicted.shape[0]}). "
            f"Got shape {y.shape} instead."
        )
    unknown = ~np.isin(y, classes)
    if np.any(unknown):
        raise InputError(
            f"Expected the labels in 'y' to be among the training classes {classes.tolist()!r}. "
            f"Got unknown label(s) {np.unique(y[unknown])[:5].tolist()!r}."
        )
    return float(np.mean(predicted == y))
