"""Compiled kernels (numba).  Every kernel has a plain NumPy twin in ``tests/naive.py``.

All kernels share one set of flags, set here: results are cached on disk,
``fastmath`` is on except for the NaN/inf assumptions (so that a NaN is
reported, not optimized away), and ``parallel`` is used where a kernel loops
over a batch large enough to pay for threads.  Dense products stay in BLAS.
"""

import types

import numba
import numpy as np

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


# Below this many multiply-adds a batch is not worth waking the thread pool for.
PARALLEL_MIN_WORK = 5_000_000


def lower_triangular_inverse(L):
    """Inverse of every lower-triangular matrix of a C-contiguous ``(B, n, n)`` stack."""
    batch, n, _ = L.shape
    if batch > 1 and batch * n ** 3 // 6 >= PARALLEL_MIN_WORK:
        return _lower_triangular_inverse_parallel(L)
    return _lower_triangular_inverse_serial(L)
