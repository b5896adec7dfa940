"""Nearest-subspace classification (SPEC section 5), on plain or spectral features.

Per class ``j`` and frequency ``f``, the top ``k`` left singular vectors
``U_{j,f}`` of the ``C x m_j`` matrix ``[v_i(f)]`` of the class's training features
span its subspace; a sample goes to the class with the smallest residual
``sum_f w_f ||(I - U_{j,f} U_{j,f}^H) v(f)||^2``.  With one frequency this is the
classical nearest-subspace rule on rows of ``Z``; with the Fourier batch of a
shift-invariant net it is the nearest subspace to the span of the class's whole
circulant family, and a cyclic shift (a phase per frequency) cannot change it.

Default number of components: ``C // K`` (every class gets an equal share of the
feature dimension, which is what the MCR^2 objective drives the classes
towards: orthogonal subspaces whose dimensions add up to at most ``C``), at
least 1.  At each frequency a class keeps at most its numerical rank: singular
directions below ``max(C, m_j) * machine eps * s_max`` are dropped, so asking
for more components than a class has never adds arbitrary directions.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import CONSTRAINTS, InputError, check_array, check_labels
from .spectrum import weighted_sq_norms

__all__ = ["NearestSubspace"]


class NearestSubspace(ClassifierMixin, BaseEstimator):
    """Nearest-subspace classifier (a scikit-learn classifier).

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension of every class subspace (per frequency for spectral features).
        ``None`` uses ``max(1, n_features // n_classes)``.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Sorted unique training labels.
    bases_ : list of ndarray of shape (F, C, k)
        Orthonormal bases per class (columns), ``F = 1`` for plain features;
        columns beyond a class's numerical rank are zero.
    n_features_in_ : int
        Number of features seen by :meth:`fit` (plain features only).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a training DataFrame with string column names.

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
        """Label of the nearest class subspace for every row of ``Z``."""
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
        """Fit on a spectral batch ``V`` (F, m, C) with frequency ``weights``; returns ``self``."""
        self._validate_params()
        self._start(V.shape[2], weights, classes)
        for j in range(classes.shape[0]):
            columns = V[:, y_index == j].swapaxes(-1, -2)          # (F, C, m_j)
            U, s, _ = np.linalg.svd(columns, full_matrices=False)
            self._keep(U, s, max(columns.shape[1:]) * np.finfo(s.dtype).eps)
        return self

    def fit_scatter(self, scatters, counts, weights, classes):
        """Fit from per-class scatter matrices ``S_{j,f}`` (K, F, C, C) (streaming fits).

        The eigenvectors of ``S_{j,f} = sum_i v_i(f) v_i(f)^H`` are the left singular
        vectors of the class's ``C x m_j`` feature matrix, and its eigenvalues the
        squared singular values, so this equals :meth:`fit_spectral` up to rounding.
        """
        self._start(scatters.shape[-1], weights, classes)
        for S, m_j in zip(scatters, counts):
            eigenvalues, U = np.linalg.eigh(S)
            s = np.sqrt(np.maximum(eigenvalues[..., ::-1], 0.0))
            # eigenvalues carry an absolute error ~ eps * largest, singular values its root
            self._keep(U[..., ::-1], s, np.sqrt(max(S.shape[-1], int(m_j)) * np.finfo(s.dtype).eps))
        return self

    def _start(self, n_channels, weights, classes):
        self._validate_params()
        self.n_components_ = self.n_components or max(1, n_channels // classes.shape[0])
        self.classes_ = classes
        self.weights_ = np.asarray(weights, dtype=float)
        self.bases_ = []

    def _keep(self, U, s, rtol):
        """Keep the top components of one class, dropping those below ``rtol * s_max``."""
        k = min(self.n_components_, U.shape[-1])
        U, s = U[..., :k], s[..., :k]
        tol = rtol * s[..., :1]
        self.bases_.append(np.ascontiguousarray(U * (s > tol)[:, None, :]))

    def residuals_spectral(self, V):
        """Squared residual of every sample of ``V`` (F, m, C) to every class, shape (m, K)."""
        self._check_fitted()
        w = self.weights_.astype(V.real.dtype)
        total = weighted_sq_norms(V, w)
        out = np.empty((V.shape[1], len(self.bases_)))
        for j, U in enumerate(self.bases_):
            coefficients = np.matmul(V, U.conj())
            kept = weighted_sq_norms(coefficients, w)
            out[:, j] = np.maximum(total - kept, 0.0)
        return out

    def predict_spectral(self, V):
        """Class index (into ``classes_``) of the nearest subspace, for a spectral batch."""
        return np.argmin(self.residuals_spectral(V), axis=1)

    def _check_fitted(self):
        check_is_fitted(self, msg="This %(name)s instance is not fitted yet. Call 'fit' first.")


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
