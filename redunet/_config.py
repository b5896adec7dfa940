"""Library-wide switches, read in one place.

``REDUNET_BACKEND``
    ``"numba"`` (default) runs the compiled kernels of :mod:`redunet._kernels`;
    ``"numpy"`` runs their plain NumPy twins (for benchmarks and debugging).
``REDUNET_FFT_WORKERS``
    Number of threads given to ``scipy.fft`` (default: all cores).
"""

import os

BACKENDS = ("numba", "numpy")


def default_backend():
    """Backend chosen by the ``REDUNET_BACKEND`` environment variable (default ``"numba"``)."""
    value = os.environ.get("REDUNET_BACKEND", "numba").strip().lower()
    if value not in BACKENDS:
        raise ValueError(
            f"The REDUNET_BACKEND environment variable must be one of {BACKENDS}. Got {value!r}."
        )
    return value


def resolve_backend(backend):
    """Return ``backend`` if given, else the environment default."""
    if backend is None:
        return default_backend()
    if backend not in BACKENDS:
        raise ValueError(
            f"The 'backend' parameter must be one of {BACKENDS} or None. Got {backend!r} instead."
        )
    return backend


def fft_workers():
    """Thread count for ``scipy.fft`` calls."""
    value = os.environ.get("REDUNET_FFT_WORKERS")
    return int(value) if value else (os.cpu_count() or 1)
