"""Threads: BLAS runs single-threaded inside our own threads over independent blocks.

The batched products of a layer are many small matrix products (one per
frequency); OpenBLAS's own threads cost more than they give there, and fight
with any other threads for the cores.  So the estimator runs with one BLAS
thread (:func:`single_threaded_blas`) and splits every layer into independent
blocks, frequencies when building operators and samples when applying them,
run by a pool of ``REDUNET_NUM_THREADS`` threads (default: all cores).  NumPy
releases the GIL in BLAS calls and large element-wise operations, so the
blocks run in parallel.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from ._config import SPLIT_MIN_WORK

__all__ = ["n_threads", "split_map", "single_threaded_blas"]

_EXECUTOR = {}


def n_threads():
    """Worker threads: ``REDUNET_NUM_THREADS`` or the number of cores."""
    value = os.environ.get("REDUNET_NUM_THREADS")
    return max(1, int(value)) if value else (os.cpu_count() or 1)


def _executor(workers):
    if workers not in _EXECUTOR:
        _EXECUTOR[workers] = ThreadPoolExecutor(workers, thread_name_prefix="redunet")
    return _EXECUTOR[workers]


def split_map(func, n_items, work_per_item):
    """``[func(block) for block in blocks]`` over contiguous slices of ``range(n_items)``.

    The slices run in parallel threads when the total work (in multiply-adds)
    is large enough; results come back in order.
    """
    workers = min(n_threads(), n_items)
    if workers < 2 or n_items * work_per_item < SPLIT_MIN_WORK:
        return [func(slice(0, n_items))]
    bounds = np.linspace(0, n_items, workers + 1).round().astype(int)
    blocks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    return list(_executor(workers).map(func, blocks))


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread inside the block (restored afterwards)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
