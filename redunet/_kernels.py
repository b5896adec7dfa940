"""Compiled kernels (numba).  Every kernel has a plain NumPy twin in ``tests/naive.py``.

All kernels share one set of flags, set here: results are cached on disk,
``fastmath`` is on except for the NaN/inf assumptions (so that a NaN is
reported, not optimized away), and ``parallel`` is used where a kernel loops
over a batch large enough to pay for threads.  Dense products stay in BLAS.
"""

import numba
import numpy as np

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def jit(parallel=False):
    """The one decorator every kernel uses."""
    return numba.njit(cache=True, fastmath=FASTMATH, parallel=parallel, nogil=True)


@jit(parallel=True)
def lower_triangular_inverse(L):
    """Inverse of every lower-triangular matrix of a ``(B, n, n)`` stack.

    Forward substitution, column by column: ``n^3 / 6`` multiply-adds per
    matrix instead of the ``n^3`` of a general LU-based inverse.
    """
    batch, n, _ = L.shape
    out = np.zeros_like(L)
    for b in numba.prange(batch):
        for j in range(n):
            out[b, j, j] = 1.0 / L[b, j, j]
            for i in range(j + 1, n):
                acc = L[b, i, j] * out[b, j, j]
                for k in range(j + 1, i):
                    acc += L[b, i, k] * out[b, k, j]
                out[b, i, j] = -acc / L[b, i, i]
    return out
