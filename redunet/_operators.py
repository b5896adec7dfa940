"""Per-frequency statistics and the factorized operators ``alpha * inv(I + alpha * S)``.

For a group of samples (all, or one class) with spectral features ``B`` of
shape ``(F, n, C)`` (row ``i`` of ``B[f]`` is ``v_i(f)^T``), the statistic at
frequency ``f`` is ``S_f = sum_i v_i(f) v_i(f)^H = B[f]^T conj(B[f])`` and the
operator is ``P_f = alpha * inv(I + alpha * S_f)`` (:ref:`math-factorizations`).

Two exact representations, chosen per operator (:ref:`math-low-rank`), the
cheaper to apply (:func:`prefers_low_rank`):

* dense: the ``C x C`` Hermitian matrix ``P_f``, obtained from the Cholesky
  factor of ``I + alpha S_f``; ``C^2`` multiply-adds per sample and frequency;
* low rank, when ``2 C n + n^2 < C^2`` (few samples, ``n < 0.41 C``): with the
  eigendecomposition ``conj(B[f]) B[f]^T = Q_f diag(lambda_f) Q_f^H`` (``n x n``)
  and ``d_f = lambda_f + 1/alpha``, ``inv(I + alpha S_f) = I - W_f W_f^H`` where
  ``W_f = B[f]^T Q_f diag(d_f)^{-1/2}`` (``C x n``, orthogonal columns); applying
  it costs ``2 C n`` a sample, and the norm of the result ``n`` more (see
  :func:`orthogonal_columns`).  It is then also the smaller one to store
  (``C n`` entries instead of ``C^2``).

The same factorizations give the log-determinants of the objective:
``logdet(I + alpha S_f) = 2 sum log diag L_f`` (dense, Cholesky) or
``sum log(1 + alpha lambda_f)`` (low rank, Sylvester's identity; where only the
objective is needed, :func:`factorize` takes ``n log(alpha) + 2 sum log diag L_f``
from the Cholesky factor of ``I/alpha + conj(B) B^T``).
"""

import numpy as np

from . import _kernels
from ._config import SMALL_RANK, SPLIT_MIN_WORK, resolve_backend
from ._parallel import n_threads, split_map
from ._spectrum import sq_magnitude

__all__ = ["DenseOperator", "LowRankOperator", "factorize", "build_operator",
           "FactorizationError", "class_scatters", "whole_scatter", "orthogonal_columns"]


class FactorizationError(np.linalg.LinAlgError):
    """A Cholesky factorization failed; ``frequency`` is the failing batch index."""

    def __init__(self, message, frequency):
        super().__init__(message)
        self.frequency = frequency


def _adjoint(A):
    """Conjugate transpose of the trailing two axes."""
    return A.conj().swapaxes(-1, -2) if np.iscomplexobj(A) else A.swapaxes(-1, -2)


def _double(array):
    """``array`` in double precision (single-precision products of the tiny entries of late
    layers fall to subnormal numbers, which the CPU handles up to 100x slower)."""
    return array.astype(np.result_type(array.dtype, np.float64), copy=False)


def flush_tiny(array):
    """Set entries below ``sqrt(smallest normal)`` to zero, in place, for single precision.

    Late layers concentrate the features on few frequencies and channels, so
    most entries become tiny; in float32 their products fall to subnormal
    numbers, which the CPU handles up to 100x slower.  Below ``sqrt(tiny)``
    (1.1e-19) an entry is 12 orders of magnitude under float32's resolution of
    a unit vector, and no product of two kept entries is subnormal.  Double
    precision is left untouched (its subnormals start at 2.2e-308).
    """
    real = np.finfo(array.dtype).dtype if np.iscomplexobj(array) else array.dtype
    if real == np.float32:
        threshold = np.sqrt(np.finfo(np.float32).tiny)
        array[np.abs(array) < threshold] = 0
    return array


def triangular_inverse(L, backend=None):
    """Inverse of a stack of lower-triangular matrices (numba kernel or NumPy).

    The compiled kernel runs in double precision whatever the input (see
    :func:`_double`); the result has the input's dtype.
    """
    if resolve_backend(backend) == "numpy":
        return np.linalg.inv(L)
    return _kernels.lower_triangular_inverse(np.ascontiguousarray(_double(L))).astype(
        L.dtype, copy=False)


def _cholesky(A):
    """Batched Cholesky factor; a failure names the first failing batch index."""
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        L = None
    if L is not None:
        diag = np.diagonal(L, axis1=-2, axis2=-1).real
        bad = np.flatnonzero(~(np.isfinite(diag) & (diag > 0)).all(axis=-1))
        if bad.size == 0:
            return L
        first = int(bad[0])
    else:
        first = next(f for f in range(A.shape[0]) if not _is_positive_definite(A[f]))
    raise FactorizationError("matrix is not positive definite", first)


def _is_positive_definite(A):
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(L)))


def prefers_low_rank(n, C):
    """Whether the low-rank form of an operator built on ``n`` samples in ``C`` channels is
    cheaper to apply than the dense one: ``2 C n + n^2 < C^2``."""
    return 2 * C * n + n * n < C * C


def factorize(B, alpha, low_rank=None):
    """Cholesky factor of the smaller of ``I + alpha S`` and ``I/alpha + B^* B^T``.

    Parameters
    ----------
    B : ndarray of shape (F, n, C)
        Spectral features of one group of samples, real or complex.
    alpha : float
        Scale ``C / (n_total * eps)`` of the group.
    low_rank : bool or None
        Force a representation; ``None`` chooses by :func:`prefers_low_rank`.

    Returns
    -------
    L : ndarray of shape (F, C, C) or (F, n, n)
        Lower Cholesky factors.
    low_rank : bool
    logdet : ndarray of shape (F,)
        ``logdet(I + alpha S_f)`` for every frequency.
    """
    _, n, C = B.shape
    if low_rank is None:
        low_rank = prefers_low_rank(n, C)
    if not low_rank:
        L, logdet = factorize_scatter(scatter(B), alpha)
        return L, False, logdet
    gram = sample_gram(B)
    gram += np.eye(n, dtype=B.real.dtype) / alpha
    L = _cholesky(gram)
    return L, True, _logdet(L) + n * np.log(alpha)


def sample_gram(B):
    """``conj(B[f]) B[f]^T`` for every frequency, ``(F, n, n)``: inner products of the samples.

    A single real frequency is the product of a 2-d block with its own
    transpose, which NumPy computes by ``syrk`` (half the multiply-adds).
    """
    if B.shape[0] == 1 and B.dtype.kind == "f":
        return (B[0] @ B[0].T)[None]
    return np.matmul(B.conj(), B.swapaxes(-1, -2))


def scatter(B):
    """``S_f = sum_i v_i(f) v_i(f)^H = B[f]^T conj(B[f])`` for every frequency, ``(F, C, C)``.

    A single real frequency (the vector arch) is the product of a 2-d block with
    its own transpose, which NumPy computes by the symmetric rank-k update
    (``syrk``, half the multiply-adds) and mirrors: exactly symmetric.
    """
    if B.shape[0] == 1 and B.dtype.kind == "f":
        return (B[0].T @ B[0])[None]
    return np.matmul(B.swapaxes(-1, -2), B.conj())


def whole_scatter(V):
    """Scatter of all the samples of ``V`` (F, m, C), ``(F, C, C)``, in parallel threads.

    Blocks of frequencies run in parallel threads; a single real frequency (the
    vector arch) is split into blocks of samples whose scatters (see
    :func:`scatter`) are summed.
    """
    n_freq, m, C = V.shape
    if n_freq == 1 and V.dtype.kind == "f":
        X = V[0]
        workers = min(n_threads(), max(m, 1))
        if workers < 2 or m * C * C < SPLIT_MIN_WORK:
            return (X.T @ X)[None]
        bounds = np.linspace(0, m, workers + 1).round().astype(int)

        def product(block):
            return [X[bounds[i]:bounds[i + 1]].T @ X[bounds[i]:bounds[i + 1]]
                    for i in range(block.start, block.stop)]

        parts = [p for part in split_map(product, workers, m * C * C // workers) for p in part]
        total = parts[0]
        for part in parts[1:]:
            total += part
        return total[None]
    out = np.empty((n_freq, C, C), dtype=V.dtype)

    def block(frequencies):
        out[frequencies] = scatter(V[frequencies])

    split_map(block, n_freq, m * C * C)
    return out


# Largest channel count for which the compiled per-class scatter kernel beats BLAS.
SCATTER_KERNEL_CHANNELS = 12


def class_scatters(V, y_index, n_classes, backend=None, classes=None):
    """Scatter matrices of every class, ``S[j, f] = sum_{i: y_i = j} v_i(f) v_i(f)^H``.

    Parameters
    ----------
    V : ndarray of shape (F, m, C)
        Spectral features, real or complex.
    y_index : int ndarray of shape (m,)
        Class index of every sample, in ``0 .. n_classes - 1``.
    n_classes : int
    backend : {"numba", "numpy"} or None
        The compiled kernel makes one pass over ``V`` (few channels); otherwise
        one product per class on its gathered samples, in parallel threads
        (blocks of frequencies, or of classes for a single frequency).
    classes : sequence of int or None
        Only the scatters of these classes, in this order; None for all.

    Returns
    -------
    ndarray of shape (n_classes, F, C, C), or (len(classes), F, C, C)
        Hermitian; the sum over all classes is the scatter of all samples.
    """
    n_freq, m, C = V.shape
    y_index = np.asarray(y_index)
    if y_index.shape != (m,):
        raise ValueError(f"Expected 'y_index' of shape ({m},) (one class per sample of V). "
                         f"Got {y_index.shape} instead.")
    if m and (y_index.min() < 0 or y_index.max() >= n_classes):
        raise ValueError(f"Expected 'y_index' values in [0, {n_classes - 1}]. "
                         f"Got values in [{y_index.min()}, {y_index.max()}] instead.")
    wanted = list(range(n_classes)) if classes is None else [int(j) for j in classes]
    if resolve_backend(backend) == "numba" and C <= SCATTER_KERNEL_CHANNELS:
        order = np.argsort(y_index, kind="stable")
        bounds = np.searchsorted(y_index[order], np.arange(n_classes + 1))
        out = _kernels.class_scatters(V, order, bounds)
        return out if classes is None else out[wanted]
    out = np.zeros((len(wanted), n_freq, C, C), dtype=V.dtype)
    groups = [(k, rows) for k, j in enumerate(wanted)
              for rows in [np.flatnonzero(y_index == j)] if rows.size]
    if n_freq == 1:                          # one frequency: the classes in parallel threads
        def by_class(block):
            for k, rows in groups[block]:
                out[k] = scatter(V[:, rows])

        split_map(by_class, len(groups), m * C * C // max(len(groups), 1))
        return out

    def block(frequencies):                 # frequencies are independent: parallel threads
        for k, rows in groups:
            out[k, frequencies] = scatter(V[frequencies][:, rows])

    split_map(block, n_freq, m * C * C)
    return out


def factorize_scatter(S, alpha):
    """Cholesky factors of ``I + alpha S_f`` and their log-determinants.

    Parameters
    ----------
    S : ndarray of shape (F, C, C)
        Scatter matrices (see :func:`scatter`); sums of them over sample chunks
        give the same result as the scatter of all samples.
    alpha : float

    Returns
    -------
    L : ndarray of shape (F, C, C)
    logdet : ndarray of shape (F,)
    """
    gram = S * alpha
    gram += np.eye(S.shape[-1], dtype=gram.dtype)
    L = _cholesky(gram)
    return L, _logdet(L)


# From this size on, ``inv(L L^H)`` comes from LAPACK's blocked ``potri`` (level-3 BLAS)
# one matrix at a time; below it, the compiled triangular inverse of the whole batch.
LAPACK_INVERSE_CHANNELS = 64


def _inverse_from_cholesky(L):
    """``inv(L_f L_f^H)`` for every lower factor of a ``(F, C, C)`` stack (LAPACK ``potri``)."""
    from scipy.linalg import lapack

    potri, = lapack.get_lapack_funcs(("potri",), (L,))
    out = np.empty_like(L)
    lower = np.tril(np.ones(L.shape[-2:], dtype=bool))
    for f in range(L.shape[0]):
        inverse, info = potri(L[f], lower=1)
        if info != 0:
            raise FactorizationError("matrix is not positive definite", f)
        inverse = np.where(lower, inverse, 0)
        out[f] = inverse + np.tril(inverse, -1).conj().T
    return out


def _logdet(L):
    return 2.0 * np.log(np.diagonal(L, axis1=-2, axis2=-1).real).sum(axis=-1)


class DenseOperator:
    """``P_f = alpha * inv(I + alpha S_f)`` stored as a ``(F, C, C)`` Hermitian stack."""

    kind = "dense"

    def __init__(self, matrix):
        self.matrix = matrix

    @classmethod
    def from_factor(cls, L, alpha, backend=None):
        if L.shape[-1] >= LAPACK_INVERSE_CHANNELS:
            return cls(flush_tiny(alpha * _inverse_from_cholesky(L)))
        Linv = triangular_inverse(L, backend)
        return cls(flush_tiny(alpha * np.matmul(_adjoint(Linv), Linv)))

    def apply(self, V):
        """``P_f v_i(f)`` for every frequency and sample of ``V`` (F, m, C)."""
        return np.matmul(V, self.matrix.swapaxes(-1, -2))

    def arrays(self):
        return {"matrix": self.matrix}

    @property
    def cost(self):
        """Multiply-adds of one application, per sample and frequency."""
        return self.matrix.shape[-1] ** 2

    @property
    def nbytes(self):
        return self.matrix.nbytes


def orthogonal_columns(W, rtol=None, column_norms=None):
    """``U`` with ``U U^H = W W^H`` and orthogonal columns, and ``lambda`` with ``U^H U = diag(lambda)``.

    ``U = W Q`` with ``W^H W = Q diag(lambda) Q^H`` (per frequency), or ``W``
    itself if its columns are already orthogonal: the off-diagonal entries of
    ``W^H W`` within ``rtol`` (default: 1000 times the resolution of ``W``'s
    dtype) of its largest diagonal entry, or known to be (``column_norms``, the
    ``||w_a||^2`` of a factor orthogonal by construction, see
    :meth:`LowRankOperator.from_samples`: then nothing is computed).  A low-rank
    operator ``alpha (I - W W^H)`` is then ``alpha (I - U U^H)``, and with the
    coefficients ``e = U^H v``,
    ``||(I - U U^H) v||^2 = ||v||^2 + sum_a (lambda_a - 2) |e_a|^2``
    (:ref:`math-low-rank`).

    Parameters
    ----------
    W : ndarray of shape (F, C, n)
    rtol : float or None
    column_norms : ndarray of shape (F, n) or None

    Returns
    -------
    U : ndarray of shape (F, C, n), dtype of ``W``
    lambda : ndarray of shape (F, n), float64
    """
    if column_norms is not None:
        return W, np.asarray(column_norms, dtype=np.float64)
    if rtol is None:
        rtol = 1000 * np.finfo(W.dtype).eps
    W64 = _double(W)
    gram = np.matmul(_adjoint(W64), W64)
    diagonal = np.diagonal(gram, axis1=-2, axis2=-1).real
    off = gram - diagonal[..., None] * np.eye(W.shape[-1])
    if np.abs(off).max(initial=0.0) <= rtol * diagonal.max(initial=0.0):
        return W, np.maximum(diagonal, 0.0)
    lam, Q = np.linalg.eigh(gram)
    return np.matmul(W64, Q).astype(W.dtype, copy=False), np.maximum(lam, 0.0)


class LowRankOperator:
    """``P_f = alpha * (I - W_f W_f^H)`` with ``W`` of shape ``(F, C, n)``."""

    kind = "lowrank"

    def __init__(self, alpha, factor, column_norms=None):
        self.alpha = float(alpha)
        self.factor = factor
        # ||w_a||^2 of the factor's columns (F, n) where they are orthogonal by construction
        # (from_samples), so that orthogonal_columns need not check them; None otherwise.
        self.column_norms = column_norms
        self._gram = None

    @property
    def gram(self):
        """``W_f^H W_f`` for every frequency, shape ``(F, n, n)`` (computed once)."""
        if self._gram is None:
            self._gram = np.matmul(_adjoint(self.factor), self.factor)
        return self._gram

    def coefficients(self, V):
        """``c_i(f) = W_f^H v_i(f)``, shape ``(F, m, n)``."""
        return np.matmul(V, self.factor.conj())

    def sq_norms(self, coefficients, power, weights, backend=None):
        """Squared full-spectrum norm of ``P v`` for every sample, from its coefficients.

        ``||P v||^2 = alpha^2 (||v||^2 - 2 ||c||^2 + c^H (W^H W) c)`` at every
        frequency (``v^H W c = ||c||^2``), so the ``(F, m, C)`` product itself is
        never formed: ``O(n^2)`` instead of ``O(C n)`` per sample and frequency.

        Parameters
        ----------
        coefficients : ndarray of shape (F, m, n)
            From :meth:`coefficients`.
        power : ndarray of shape (F, m)
            ``||v_i(f)||^2``.
        weights : ndarray of shape (F,)
            Frequency weights.
        """
        if resolve_backend(backend) == "numba" and coefficients.shape[-1] <= SMALL_RANK:
            sq = _kernels.lowrank_sq_norms(_double(coefficients),
                                           np.ascontiguousarray(_double(self.gram)),
                                           _double(power), _double(weights))
        else:
            c = coefficients
            quadratic = (c.conj() * np.matmul(c, self.gram.conj())).real
            per_freq = power - 2.0 * sq_magnitude(c).sum(-1) + quadratic.sum(-1)
            sq = weights @ per_freq
        return self.alpha ** 2 * np.maximum(sq, 0.0)

    @classmethod
    def from_samples(cls, B, alpha):
        """The operator of the samples ``B`` (F, n, C) and its log-determinants, by an
        eigendecomposition of their Gram matrices: a factor with orthogonal columns.

        With ``conj(B) B^T = Q diag(lambda) Q^H`` and ``d = lambda + 1/alpha``,
        Woodbury's identity gives ``inv(I + alpha S) = I - W W^H`` for
        ``W = B^T Q diag(d)^{-1/2}``, whose columns are orthogonal
        (``W^H W = diag(lambda / d)``, see :func:`orthogonal_columns`), and
        ``logdet(I + alpha S) = sum log(1 + alpha lambda)`` (:ref:`math-low-rank`).
        """
        gram = _double(sample_gram(B))
        lam, Q = np.linalg.eigh(gram)
        d = lam + 1.0 / alpha
        bad = np.flatnonzero(~(np.isfinite(d) & (d > 0)).all(axis=-1))
        if bad.size:
            raise FactorizationError("matrix is not positive definite", int(bad[0]))
        factor = np.matmul(B.swapaxes(-1, -2), (Q / np.sqrt(d)[..., None, :]).astype(B.dtype))
        return (cls(alpha, flush_tiny(factor), column_norms=np.maximum(lam, 0.0) / d),
                np.log1p(alpha * lam).sum(axis=-1))

    def apply(self, V):
        """``P_f v_i(f)`` for every frequency and sample of ``V`` (F, m, C)."""
        coefficients = np.matmul(V, self.factor.conj())
        out = np.matmul(coefficients, self.factor.swapaxes(-1, -2))
        np.subtract(V, out, out=out)
        out *= self.alpha
        return out

    def arrays(self):
        return {"factor": self.factor, "alpha": np.array(self.alpha)}

    @property
    def cost(self):
        """Multiply-adds of one application, per sample and frequency."""
        return 2 * self.factor.shape[-2] * self.factor.shape[-1]

    @property
    def nbytes(self):
        return self.factor.nbytes


def build_operator(B, alpha, low_rank=None, backend=None):
    """Operator ``alpha * inv(I + alpha S)`` of a group and its per-frequency log-determinants.

    Frequencies are independent, so blocks of them are factorized in parallel
    threads (see :mod:`redunet._parallel`).

    Parameters
    ----------
    B : ndarray of shape (F, n, C)
        Spectral features of the group.
    alpha : float
        Scale of the group (:ref:`math-fft`).
    low_rank : bool or None
        Force a representation; ``None`` chooses by :func:`prefers_low_rank`.
    backend : {"numba", "numpy"} or None

    Returns
    -------
    operator : DenseOperator or LowRankOperator
    logdet : ndarray of shape (F,)
    """
    n_freq, n, C = B.shape
    if low_rank is None:
        low_rank = prefers_low_rank(n, C)

    def block(frequencies):
        if low_rank:
            return LowRankOperator.from_samples(B[frequencies], alpha)
        L, _, logdet = factorize(B[frequencies], alpha, low_rank)
        return DenseOperator.from_factor(L, alpha, backend), logdet

    size = min(n, C)
    return _by_frequency_blocks(block, n_freq, n * C * size + size ** 3)


def build_operator_from_scatter(S, alpha, backend=None):
    """Dense operator ``alpha * inv(I + alpha S)`` from scatter matrices ``S`` (F, C, C).

    The form used when the samples come in chunks (streaming and distributed
    fits): the operator depends on the data only through ``S``.
    """
    if S.shape[0] == 1 and S.dtype.kind == "f" and S.shape[-1] >= LAPACK_INVERSE_CHANNELS:
        matrix, logdet = _real_operator_from_scatter(S[0], alpha)
        return DenseOperator(flush_tiny(matrix[None])), np.array([logdet])

    def block(frequencies):
        L, logdet = factorize_scatter(S[frequencies], alpha)
        return DenseOperator.from_factor(L, alpha, backend), logdet

    return _by_frequency_blocks(block, S.shape[0], S.shape[-1] ** 3)


def _real_operator_from_scatter(S, alpha):
    """``alpha * inv(I + alpha S)`` and ``logdet(I + alpha S)`` of one real ``C x C`` scatter.

    ``alpha * inv(I + alpha S) = inv(G)`` with ``G = I / alpha + S``, and
    ``logdet(I + alpha S) = C log(alpha) + logdet(G)``.  LAPACK's Cholesky
    (``potrf``) and inverse from it (``potri``) run in place on a copy of ``G``:
    it is symmetric, so its C-ordered array read in Fortran order is the same
    matrix, whose lower triangle is the upper one of the array.  They are
    called without holding Python's global lock, so other threads run meanwhile.
    """
    C = S.shape[-1]
    gram = np.array(S, order="C")
    gram.flat[::C + 1] += 1.0 / alpha
    if _lapack_call("potrf", gram) != 0:
        raise FactorizationError("matrix is not positive definite", 0)
    diagonal = np.diagonal(gram).copy()
    if not np.all(np.isfinite(diagonal) & (diagonal > 0)):
        raise FactorizationError("matrix is not positive definite", 0)
    if _lapack_call("potri", gram) != 0:
        raise FactorizationError("matrix is not positive definite", 0)
    _mirror_upper(gram)
    return gram, C * np.log(alpha) + 2.0 * float(np.log(diagonal).sum())


def _mirror_upper(A, block=128):
    """Copy the upper triangle of the square array ``A`` onto its lower one, in place
    (by blocks of columns, so no array of the full size is made)."""
    C = A.shape[0]
    for start in range(0, C, block):
        stop = min(start + block, C)
        A[stop:, start:stop] = A[start:stop, stop:].T
        diagonal = A[start:stop, start:stop]
        diagonal[...] = np.triu(diagonal) + np.triu(diagonal, 1).T


def _lapack_call(name, A):
    """``info`` of LAPACK's ``name`` (``potrf`` or ``potri``) on the lower triangle of the
    square Fortran-ordered matrix in the buffer of ``A`` (float32 or float64), in place.

    Called through ``ctypes`` on SciPy's Cython LAPACK table
    (:func:`redunet._kernels.scipy_function`), without Python's global lock.
    """
    import ctypes

    integer = ctypes.POINTER(ctypes.c_int)
    prefix = "s" if A.dtype == np.float32 else "d"
    routine = _kernels.scipy_function("cython_lapack", prefix + name, ctypes.c_char_p, integer,
                                      ctypes.c_void_p, integer, integer)
    n, info = ctypes.c_int(A.shape[0]), ctypes.c_int(0)
    routine(b"L", ctypes.byref(n), A.ctypes.data, ctypes.byref(n), ctypes.byref(info))
    return info.value


def _by_frequency_blocks(block, n_freq, work_per_frequency):
    """Run ``block(frequency_slice) -> (operator, logdet)`` over blocks of frequencies in
    parallel threads and join the pieces; a failed factorization names its frequency."""
    def guarded(frequencies):
        try:
            return block(frequencies)
        except FactorizationError as exc:
            raise FactorizationError(str(exc), exc.frequency + frequencies.start) from None

    parts = split_map(guarded, n_freq, work_per_frequency)
    if len(parts) == 1:
        return parts[0]
    logdet = np.concatenate([part[1] for part in parts])
    first = parts[0][0]
    if first.kind == "lowrank":
        norms = [p[0].column_norms for p in parts]
        return LowRankOperator(first.alpha, np.concatenate([p[0].factor for p in parts]),
                               None if any(n is None for n in norms) else np.concatenate(norms)
                               ), logdet
    return DenseOperator(np.concatenate([p[0].matrix for p in parts])), logdet


def operator_from_arrays(kind, arrays):
    """Rebuild an operator from the arrays returned by its ``arrays()`` (model files)."""
    if kind == "dense":
        return DenseOperator(arrays["matrix"])
    if kind == "lowrank":
        return LowRankOperator(float(arrays["alpha"]), arrays["factor"])
    raise ValueError(f"Unknown operator kind {kind!r}; expected 'dense' or 'lowrank'.")
