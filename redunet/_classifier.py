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
from ._parallel import single_threaded_blas, split_map
from ._spectrum import sq_magnitude, weighted_sq_norms

__all__ = ["NearestSubspace"]


class NearestSubspace(ClassifierMixin, BaseEstimator):
    r"""Nearest-subspace classifier (a scikit-learn classifier).

    Every class is modelled by a subspace through the origin, spanned by the top
    singular vectors of its training features, and a sample goes to the class of
    the smallest residual.  On the spectral features of a shift-invariant
    :class:`ReduNet` (:meth:`fit_spectral`, :meth:`fit_scatter`) the class
    subspace is the principal subspace of the class's whole circulant family,
    with components pooled across frequencies, so predictions are invariant to
    cyclic shifts.

    Parameters
    ----------
    n_components : int or None, default=None
        Dimension of every class subspace; on spectral batches, dimensions of the
        class's whole circulant family, pooled across frequencies (a component of
        a mirrored frequency of the half spectrum counts twice).  ``None``:
        ``max(1, C // K)`` on plain features (``C = n_features``, ``K`` classes:
        an equal share of the feature dimension per class, which is where the
        rate reduction drives the classes); ``C`` (the size of one frequency
        block, ``n_channels``) on spectral batches with more than one frequency.
        A class never keeps more than its numerical rank, and may keep a few
        more than ``n_components`` dimensions to keep a tie group or a conjugate
        pair whole (see Notes).

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Sorted unique training labels.
    n_components_ : int
        The number of components asked for every class (``n_components`` or its
        default).
    n_family_components_ : ndarray of shape (K,)
        Dimensions every class subspace actually keeps in the circulant family
        (mirrored components counted twice); equal to the number of columns
        kept for plain features.
    bases_ : list of ndarray of shape (F, C, k_j)
        Orthonormal basis vectors of every class at every frequency (columns),
        ``F = 1`` for plain features; columns not kept at a frequency are zero.
    weights_ : ndarray of shape (F,)
        Frequency weights of the fit (``[1.0]`` for plain features).
    n_features_in_ : int
        Number of features seen by :meth:`fit` (plain features only).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a training DataFrame with string column names.

    See Also
    --------
    ReduNet : Uses this classifier on its final features.

    Notes
    -----
    Class ``j`` keeps the top ``k`` right singular vectors ``U_j`` of its features
    ``Z_j`` (no centering) and a sample ``z`` goes to the class of smallest
    residual

    .. math::

        r_j(z) = \lVert z \rVert^2 - \lVert U_j^\top z \rVert^2

    (:ref:`math-nearest-subspace`).  On the spectral features ``v(f)`` of an
    invariant ReduNet, with :math:`\mathcal{K}_j` the kept pairs (frequency
    ``f``, unit vector ``u``) of class ``j`` and ``w_f`` the frequency weights of
    the half spectrum (:ref:`math-half-spectrum`),

    .. math::

        r_j(v) = \sum_f w_f \lVert v(f) \rVert^2
               - \sum_{(f, u) \in \mathcal{K}_j} w_f \left| u^{\mathsf H} v(f) \right|^2,

    where :math:`\mathcal{K}_j` holds the largest singular values of the
    ``C x m_j`` matrices :math:`[v_i(f)]_{i \in j}` pooled across all
    frequencies, until ``k`` family dimensions are kept
    (:ref:`math-nearest-subspace-invariant`).  A phase per frequency, hence a
    cyclic shift, leaves every residual unchanged.  With one frequency the two
    forms agree.

    Singular values below ``max(C, m_j) * eps * s_max`` (``eps`` of the features'
    precision, ``s_max`` the class's largest) are numerically zero and never
    kept.  A tie group at the boundary of the top ``k`` (singular values equal to
    the last one kept, within that tolerance) is kept whole, and so is a
    mirrored component.

    Predictions break ties deterministically: residuals within
    ``sqrt(eps) * ||v||^2`` of the smallest one are tied, and the first class in
    ``classes_`` among them wins.  Rounding is far below that tolerance, so an
    exact tie (a sample inside two class subspaces) is never decided by
    rounding noise, and the invariance to cyclic shifts is exact.

    References
    ----------
    Nearest subspaces as the classifier of ReduNet features, and their
    shift-invariant form: [ReduNet]_; see :ref:`math-references`.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet import NearestSubspace
    >>> Z = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    >>> clf = NearestSubspace(n_components=1).fit(Z, ["a", "a", "b", "b"])
    >>> clf.predict([[5.0, 1.0], [0.2, -4.0]])
    array(['a', 'b'], dtype='<U1')

    A sample as near to two classes as to each other goes to the first of them:

    >>> tied = NearestSubspace().fit(np.eye(3), ["x", "y", "z"])
    >>> tied.n_components_, tied.predict([[1.0, 1.0, 0.0]])
    (1, array(['x'], dtype='<U1'))
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
        """Fit one subspace per class on plain features.

        Parameters
        ----------
        Z : array_like of shape (m, d)
            Features, one sample per row.
        y : array_like of shape (m,)
            Labels of any sortable type; every class needs at least one sample.

        Returns
        -------
        self : NearestSubspace
            The fitted classifier.

        Notes
        -----
        The spectral fit with one frequency of weight 1 (:meth:`fit_spectral`):
        the top right singular vectors of every class's rows, no centering
        (:ref:`math-nearest-subspace`).

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> Z = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        >>> clf = NearestSubspace(n_components=2).fit(Z, [0, 0, 1])
        >>> clf.n_family_components_.tolist()     # class 1 has rank 1
        [2, 1]
        """
        self._validate_params()
        plain = check_array(Z, name="Z", ndim=2, allow_zero_samples=True,
                            shape_hint="(n_samples, n_features)")
        classes, y_index = check_labels(y, plain.shape[0], min_per_class=1)
        validate_data(self, Z, reset=True, skip_check_array=True)
        return self.fit_spectral(plain[None], np.ones(1), y_index, classes)

    def decision_function(self, Z):
        """Negative squared residual of every sample to every class subspace.

        Parameters
        ----------
        Z : array_like of shape (m, d)
            Features with the ``d`` of :meth:`fit`, one sample per row (for
            instance the output of ``ReduNet.transform`` on a vector net).

        Returns
        -------
        ndarray of shape (m, K) or (m,)
            ``-r_j(z)``, columns in the order of ``classes_``; larger is nearer.
            For two classes, scikit-learn's binary convention: one column,
            ``r_0(z) - r_1(z)``, positive when ``classes_[1]`` is nearer.

        Notes
        -----
        ``r_j(z) = ||z||^2 - ||U_j^T z||^2`` (:ref:`math-nearest-subspace`).
        :meth:`predict` takes the largest score, except that scores within
        ``sqrt(eps) * ||z||^2`` of the largest are tied (see the class Notes).

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> Z = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
        >>> clf = NearestSubspace(n_components=1).fit(Z, ["a", "a", "b", "b"])
        >>> clf.decision_function([[1.0, 0.0]]).round(3)   # r_a - r_b: nearer to "a"
        array([-0.998])
        >>> three = NearestSubspace().fit(np.eye(3), [0, 1, 2])
        >>> three.decision_function([[0.6, 0.8, 0.0]]).round(2)
        array([[-0.64, -0.36, -1.  ]])
        """
        scores = -self.residuals_spectral(self._check_plain(Z)[None])
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, Z):
        """Label of the nearest class subspace for every row of ``Z``.

        Parameters
        ----------
        Z : array_like of shape (m, d)
            Features with the ``d`` of :meth:`fit`.

        Returns
        -------
        ndarray of shape (m,)
            Values from ``classes_``.  Residuals within ``sqrt(eps) * ||z||^2``
            of the smallest are tied, and the first class in ``classes_`` among
            them wins.

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> clf = NearestSubspace().fit(np.eye(2), ["left", "right"])
        >>> clf.predict([[0.9, 0.1], [0.1, -0.9], [1.0, 1.0]])
        array(['left', 'right', 'left'], dtype='<U5')
        """
        nearest = self.predict_spectral(self._check_plain(Z)[None])
        return self.classes_[nearest]

    def score(self, Z, y):
        """Accuracy of :meth:`predict` on ``(Z, y)``.

        Parameters
        ----------
        Z : array_like of shape (m, d)
            Features with the ``d`` of :meth:`fit`.
        y : array_like of shape (m,)
            True labels, among ``classes_``.

        Returns
        -------
        float
            Fraction of rows whose predicted label equals ``y``.

        Raises
        ------
        ValueError
            If ``y`` has not one label per row, or holds labels not in
            ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> clf = NearestSubspace().fit(np.eye(2), [0, 1])
        >>> clf.score([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2], [0.7, 0.3]], [0, 1, 0, 1])
        0.75
        """
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
        r"""Fit on a spectral batch, with components pooled across frequencies.

        Parameters
        ----------
        V : ndarray of shape (F, m, C)
            Features of ``m`` samples at ``F`` frequencies of ``C`` channels (real
            or complex), such as the unitary real FFT of ``(m, C, T)`` signals
            along ``T``, moved to the front.
        weights : array_like of shape (F,)
            Frequency weights: 1 for a frequency that is its own mirror, 2 for one
            that stands for itself and its mirror (:ref:`math-half-spectrum`).
        y_index : ndarray of int of shape (m,)
            Index into ``classes`` of every sample; every class needs a sample.
        classes : ndarray of shape (K,)
            The labels, stored as ``classes_``.

        Returns
        -------
        self : NearestSubspace
            The fitted classifier.

        Notes
        -----
        The singular triplets of a class's circulant family are those of its
        ``C x m_j`` matrices :math:`[v_i(f)]` over all frequencies, a mirrored
        frequency counting twice; the largest are kept, pooled across
        frequencies, until ``n_components_`` family dimensions are kept
        (:ref:`math-nearest-subspace-invariant`).

        Examples
        --------
        A cyclic shift of the signals does not change a residual:

        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> rng = np.random.default_rng(0)
        >>> signals = rng.standard_normal((12, 3, 8))            # (m, C, T)
        >>> y_index = np.repeat([0, 1], 6)
        >>> def spectrum(s):
        ...     return np.fft.rfft(s, norm="ortho").transpose(2, 0, 1)   # (F, m, C)
        >>> weights = np.array([1.0, 2.0, 2.0, 2.0, 1.0])        # T = 8: rfft keeps 5
        >>> clf = NearestSubspace().fit_spectral(spectrum(signals), weights, y_index,
        ...                                      np.array(["a", "b"]))
        >>> clf.n_components_, clf.n_family_components_.tolist()  # a pair kept whole
        (3, [3, 4])
        >>> shifted = spectrum(np.roll(signals, 3, axis=-1))
        >>> bool(np.allclose(clf.residuals_spectral(shifted),
        ...                  clf.residuals_spectral(spectrum(signals))))
        True
        """
        self._start(V.shape[2], weights, classes)
        for j in range(classes.shape[0]):
            columns = V[:, y_index == j].swapaxes(-1, -2)          # (F, C, m_j)
            U, s, _ = np.linalg.svd(columns, full_matrices=False)
            self._keep(U, s, max(columns.shape[1:]) * np.finfo(s.dtype).eps)
        self._finish_fit()
        return self

    def fit_scatter(self, scatters, counts, weights, classes):
        r"""Fit from per-class counts and scatter matrices (streaming fits).

        Parameters
        ----------
        scatters : ndarray of shape (K, F, C, C)
            :math:`S_{j,f} = \sum_{i \in j} v_i(f)\, v_i(f)^{\mathsf H}` of every
            class at every frequency (Hermitian positive semidefinite).
        counts : array_like of int of shape (K,)
            Samples of every class.
        weights : array_like of shape (F,)
            Frequency weights, as in :meth:`fit_spectral`.
        classes : ndarray of shape (K,)
            The labels, stored as ``classes_``.

        Returns
        -------
        self : NearestSubspace
            The fitted classifier.

        Notes
        -----
        The eigenvectors of :math:`S_{j,f}` are the left singular vectors of the
        class's ``C x m_j`` feature matrix and its eigenvalues the squared
        singular values, so the same components are pooled as in
        :meth:`fit_spectral` (:ref:`math-nearest-subspace-invariant`), and the
        result equals it up to rounding.  The rank tolerance is the square root
        of the eigenvalues' (their absolute error is about ``eps`` times the
        largest).

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> rng = np.random.default_rng(0)
        >>> V = np.fft.rfft(rng.standard_normal((12, 3, 8)), norm="ortho").transpose(2, 0, 1)
        >>> y_index, classes = np.repeat([0, 1], 6), np.array([0, 1])
        >>> weights = np.array([1.0, 2.0, 2.0, 2.0, 1.0])
        >>> S = np.stack([np.einsum("fic,fid->fcd", V[:, y_index == j], V[:, y_index == j].conj())
        ...               for j in classes])
        >>> from_scatter = NearestSubspace().fit_scatter(S, [6, 6], weights, classes)
        >>> direct = NearestSubspace().fit_spectral(V, weights, y_index, classes)
        >>> bool(np.allclose(from_scatter.residuals_spectral(V), direct.residuals_spectral(V)))
        True
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
        r"""Squared residual of every sample of a spectral batch to every class.

        Parameters
        ----------
        V : ndarray of shape (F, m, C)
            Features at the frequencies of the fit, with its ``C``.

        Returns
        -------
        ndarray of shape (m, K)
            :math:`r_j(v) = \sum_f w_f \lVert v(f) \rVert^2 - \sum_{(f, u) \in
            \mathcal{K}_j} w_f |u^{\mathsf H} v(f)|^2`, columns in the order of
            ``classes_``, clipped at 0 (:ref:`math-nearest-subspace-invariant`).

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> clf = NearestSubspace().fit(np.eye(2), [0, 1])
        >>> clf.residuals_spectral(np.array([[[3.0, 4.0]]]))     # F = 1, m = 1, C = 2
        array([[16.,  9.]])
        """
        self._check_fitted()
        w = self.weights_.astype(V.real.dtype)
        # The kept directions of all classes, frequency by frequency: one product per frequency
        # where some class keeps a direction, whatever the class.
        directions = []
        for f in range(V.shape[0]):
            columns = [(U[f][:, np.any(U[f] != 0, axis=0)], j) for j, U in enumerate(self.bases_)]
            owners = np.concatenate([np.full(c.shape[1], j) for c, j in columns])
            if owners.size:
                one_hot = (owners[:, None] == np.arange(len(self.bases_))).astype(w.dtype)
                directions.append((f, np.concatenate([c for c, _ in columns], axis=1).conj(),
                                   w[f] * one_hot))
        out = np.empty((V.shape[1], len(self.bases_)))

        def block(samples):
            part = V[:, samples]
            kept = np.zeros((part.shape[1], len(self.bases_)), dtype=w.dtype)
            for f, columns, weighted_owner in directions:
                kept += sq_magnitude(part[f] @ columns) @ weighted_owner
            out[samples] = np.maximum(weighted_sq_norms(part, w)[:, None] - kept, 0.0)

        width = sum(columns.shape[1] for _, columns, _ in directions)
        with single_threaded_blas():
            split_map(block, V.shape[1], V.shape[2] * (width + V.shape[0]))
        return out

    def predict_spectral(self, V):
        """Class index (into ``classes_``) of the nearest subspace, for a spectral batch.

        Parameters
        ----------
        V : ndarray of shape (F, m, C)
            Features at the frequencies of the fit, with its ``C``.

        Returns
        -------
        ndarray of int of shape (m,)
            Index of the smallest residual of :meth:`residuals_spectral`.
            Residuals within ``sqrt(eps) * ||v||^2`` of the smallest are tied
            (``eps`` of ``V``'s precision, ``||v||^2`` the weighted squared norm),
            and the smallest class index among them wins.

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import NearestSubspace
        >>> clf = NearestSubspace().fit(np.eye(2), ["a", "b"])
        >>> clf.predict_spectral(np.array([[[1.0, 2.0], [1.0, 1.0]]]))   # the tie goes to 0
        array([1, 0])
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
