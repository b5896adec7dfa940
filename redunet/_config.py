"""Library-wide switches and tunables, read in one place.

``REDUNET_BACKEND``
    ``"numba"`` (default) runs the compiled kernels of :mod:`redunet._kernels`;
    ``"numpy"`` runs their plain NumPy twins (for benchmarks and debugging).
``REDUNET_FFT_WORKERS``
    Number of threads given to ``scipy.fft`` (default: all cores).
"""

import os

from ._validation import InputError

BACKENDS = ("numba", "numpy")

# -- tunables: change them here only ----------------------------------------------------------
# Temporaries of one chunk of samples (``ReduNet.transform``, the lifts, the shifted test sets
# of the experiments) stay below about this many bytes.
CHUNK_BYTES = 64 * 2**20
# At most this many samples per chunk of a lift.
LIFT_MAX_CHUNK = 256
# Below this many multiply-adds in total, ``_parallel.split_map`` runs one block in the
# calling thread instead of splitting the work over the thread pool.
SPLIT_MIN_WORK = 1_000_000
# Below this many multiply-adds, a ``numba.prange`` kernel runs its serial compilation
# instead of waking numba's thread pool.
PRANGE_MIN_WORK = 5_000_000
# Largest feature count of a vector layer run by the compiled small-layer kernels.
SMALL_FEATURES = 8
# Largest rank of a low-rank operator whose norms use the fused compiled kernel.
SMALL_RANK = 16


def default_backend():
    """Backend chosen by the ``REDUNET_BACKEND`` environment variable (default ``"numba"``)."""
    value = os.environ.get("REDUNET_BACKEND", "numba").strip().lower()
    if value not in BACKENDS:
        raise InputError(
            f"The REDUNET_BACKEND environment variable must be one of {BACKENDS}. Got {value!r}."
        )
    return value


def resolve_backend(backend):
    """Return ``backend`` if given, else the environment default."""
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise InputError(
            f"The 'backend' parameter must be one of {BACKENDS} or None. Got {backend!r} instead."
        )
    return backend


def fft_workers():
    """Thread count for ``scipy.fft`` calls."""
    value = os.environ.get("REDUNET_FFT_WORKERS")
    return int(value) if value else (os.cpu_count() or 1)
