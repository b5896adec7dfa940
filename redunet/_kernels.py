"""Compiled kernels (numba).  Every kernel has a plain NumPy twin in ``tests/naive.py``.

All kernels share one set of flags, set here: results are cached on disk,
``fastmath`` is on except for the NaN/inf assumptions (so that a NaN is
reported, not optimized away).  Kernels called inside the thread pool of
:mod:`redunet._parallel` (one block of samples each) are serial: nested
thread pools only fight for the two cores.  Dense products stay in BLAS.
"""

import types

import numba
import numpy as np

from ._config import PRANGE_MIN_WORK

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def jit(parallel=False):
    """The one decorator every kernel uses."""
    return numba.njit(cache=True, fastmath=FASTMATH, parallel=parallel, nogil=True)


def serial_and_parallel(func):
    """Compile ``func`` (written with ``numba.prange``) twice: serial and threaded.

    Small batches run faster without waking the thread pool, so callers pick
    one by the amount of work.  The serial twin is a renamed copy of the
    function, so that the two compiled versions have separate disk caches.
    """
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + "_serial"
    return jit()(twin), jit(parallel=True)(func)


def _lower_triangular_inverse(L):
    """Forward substitution, column by column, for every matrix of the batch.

    ``n^3 / 6`` multiply-adds per matrix instead of the ``n^3`` of a general
    LU-based inverse.
    """
    out = np.zeros_like(L)
    n = L.shape[1]
    for b in numba.prange(L.shape[0]):
        for j in range(n):
            out[b, j, j] = 1.0 / L[b, j, j]
            for i in range(j + 1, n):
                acc = L[b, i, j] * out[b, j, j]
                for k in range(j + 1, i):
                    acc += L[b, i, k] * out[b, k, j]
                out[b, i, j] = -acc / L[b, i, i]
    return out


_lower_triangular_inverse_serial, _lower_triangular_inverse_parallel = serial_and_parallel(
    _lower_triangular_inverse)


def lower_triangular_inverse(L):
    """Inverse of every lower-triangular matrix of a C-contiguous ``(B, n, n)`` stack."""
    batch, n, _ = L.shape
    if batch > 1 and batch * n ** 3 // 6 >= PRANGE_MIN_WORK:
        return _lower_triangular_inverse_parallel(L)
    return _lower_triangular_inverse_serial(L)


@jit()
def small_vector_scatters(Z, y_index, n_classes):
    """Per-class scatter matrices ``S_j = sum_{i in j} z_i z_i^T`` of few vector features.

    The statistics step of a small vector layer (SPEC section 2) in one compiled
    pass; for ``d`` of a few units the NumPy form is dominated by call overhead.

    Parameters
    ----------
    Z : ndarray of shape (m, d)
    y_index : int64 ndarray of shape (m,)
    n_classes : int

    Returns
    -------
    ndarray of shape (K, d, d)
    """
    m, d = Z.shape
    scatter = np.zeros((n_classes, d, d), dtype=Z.dtype)
    for i in range(m):
        j = y_index[i]
        for a in range(d):
            for b in range(d):
                scatter[j, a, b] += Z[i, a] * Z[i, b]
    return scatter


@jit()
def small_vector_operators(scatters, counts, eps):
    """Operators and log-determinants of a small vector layer from its class scatters.

    ``C_j = alpha_j inv(I + alpha_j S_j)`` with ``alpha_j = d / (m_j eps)`` for every
    class, then ``E`` from ``S = sum_j S_j`` with ``alpha = d / (m eps)``, each by a
    Cholesky factor ``L`` (``logdet = 2 sum log diag L``, ``inv = L^-T L^-1``).
    Raises ``LinAlgError`` if a matrix is not positive definite.

    Parameters
    ----------
    scatters : ndarray of shape (K, d, d)
    counts : int64 ndarray of shape (K,)
    eps : float

    Returns
    -------
    operators : ndarray of shape (K + 1, d, d)
        ``C_0 .. C_{K-1}`` then ``E``.
    logdets : ndarray of shape (K + 1,)
        ``logdet(I + alpha_j S_j)`` per class, then of all samples.
    """
    K, d, _ = scatters.shape
    total = np.zeros((d, d), dtype=scatters.dtype)
    m = 0
    for j in range(K):
        total += scatters[j]
        m += counts[j]
    operators = np.empty((K + 1, d, d), dtype=scatters.dtype)
    logdets = np.empty(K + 1)
    for j in range(K + 1):
        n = m if j == K else counts[j]
        alpha = d / (n * eps)
        A = alpha * (total if j == K else scatters[j])
        for a in range(d):
            A[a, a] += 1.0
        L = np.linalg.cholesky(A)
        logdet = 0.0
        for a in range(d):
            if not L[a, a] > 0.0:          # also catches NaN
                raise np.linalg.LinAlgError("Matrix is not positive definite")
            logdet += 2.0 * np.log(L[a, a])
        logdets[j] = logdet
        Linv = _lower_triangular_inverse_serial(L.reshape(1, d, d))[0]
        for a in range(d):
            for b in range(d):
                acc = 0.0
                for k in range(max(a, b), d):
                    acc += Linv[k, a] * Linv[k, b]
                operators[j, a, b] = alpha * acc
    return operators, logdets


@jit()
def small_vector_apply(Z, operators, gammas, eta, lmbda):
    """A small dense vector layer applied to features ``Z`` (m, d) (SPEC section 2).

    ``z <- z + eta (E z - sum_j gamma_j pi_j(z) C_j z)``, then ``z / ||z||``, with
    ``pi_j(z) = softmax_j(-lmbda ||C_j z||)``, sample by sample.

    Parameters
    ----------
    Z : ndarray of shape (m, d)
    operators : ndarray of shape (K + 1, d, d)
        ``C_0 .. C_{K-1}`` then ``E``.
    gammas : ndarray of shape (K,)
    eta, lmbda : float

    Returns
    -------
    ndarray of shape (m, d)
    """
    m, d = Z.shape
    K = operators.shape[0] - 1
    out = np.empty_like(Z)
    compressed = np.empty((K, d), dtype=Z.dtype)
    scores = np.empty(K)
    for i in range(m):
        for j in range(K):
            sq = 0.0
            for a in range(d):
                acc = 0.0
                for b in range(d):
                    acc += operators[j, a, b] * Z[i, b]
                compressed[j, a] = acc
                sq += acc * acc
            scores[j] = -lmbda * np.sqrt(sq)
        top = scores.max()
        total = 0.0
        for j in range(K):
            scores[j] = np.exp(scores[j] - top)
            total += scores[j]
        norm = 0.0
        for a in range(d):
            expand = 0.0
            for b in range(d):
                expand += operators[K, a, b] * Z[i, b]
            pull = 0.0
            for j in range(K):
                pull += gammas[j] * scores[j] / total * compressed[j, a]
            value = Z[i, a] + eta * (expand - pull)
            out[i, a] = value
            norm += value * value
        norm = np.sqrt(norm)
        for a in range(d):
            out[i, a] /= norm
    return out


@jit()
def lowrank_sq_norms(coefficients, gram, power, weights):
    """``sum_f w_f (power_f - 2 ||c_f||^2 + c_f^H G_f c_f)`` for every sample.

    The per-sample squared norm of a low-rank operator's output, divided by
    ``alpha^2`` (see ``LowRankOperator.sq_norms``), without temporaries.
    """
    n_freq, m, n = coefficients.shape
    out = np.zeros(m)
    for i in range(m):
        total = 0.0
        for f in range(n_freq):
            c = coefficients[f, i]
            quadratic = 0.0
            sq = 0.0
            for a in range(n):
                row = 0.0 * c[0]
                for b in range(n):
                    row += gram[f, a, b] * c[b]
                quadratic += (np.conj(c[a]) * row).real
                sq += c[a].real ** 2 + c[a].imag ** 2
            total += weights[f] * (power[f, i] - 2.0 * sq + quadratic)
        out[i] = total
    return out


@jit()
def step_and_normalize(V, step, shrink, weights, eta):
    """``v <- v (1 - eta * shrink) + eta * step``, then unit full-spectrum norm; in ``step``.

    Parameters
    ----------
    V, step : ndarray of shape (F, m, C)
    shrink : ndarray of shape (m,)
    weights : ndarray of shape (F,)
    eta : float
    """
    n_freq, m, C = V.shape
    for i in range(m):
        keep = 1.0 - eta * shrink[i]
        total = 0.0
        for f in range(n_freq):
            for c in range(C):
                value = V[f, i, c] * keep + eta * step[f, i, c]
                step[f, i, c] = value
                total += weights[f] * (value.real ** 2 + value.imag ** 2)
        scale = 1.0 / np.sqrt(total)
        for f in range(n_freq):
            for c in range(C):
                step[f, i, c] *= scale
    return step
