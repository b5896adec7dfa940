"""Fits on training sets that do not fit in memory: statistics by chunks, updates by chunks.

A layer needs its training features only through per-class scatter matrices
``S_{j,f} = sum_i v_i(f) v_i(f)^H`` (and their sum), and then updates every
sample independently.  So each layer is a map-reduce:

1. reduce: :class:`Statistics` of every chunk of samples, added up;
2. build: dense operators and the objective from the summed statistics
   (:func:`redunet.layer.assemble_layer`), on one machine;
3. map: :func:`redunet.layer.apply_layer` on every chunk.

:class:`LocalChunks` runs this over an array of features held in memory or in
a temporary file on disk (peak memory: one chunk plus the operators); the Dask
executor in :mod:`redunet.distributed` runs the same three steps on a cluster.
"""

import os
import tempfile

import numpy as np

from .layer import apply_layer, assemble_layer
from .objective import half_mean_logdet
from .operators import build_operator_from_scatter, class_scatters, factorize_scatter

__all__ = ["Statistics", "LocalChunks"]


class Statistics:
    """Per-class scatter matrices of a set of samples; add two to merge them.

    Attributes
    ----------
    scatters : ndarray of shape (K, F, C, C)
        ``S_{j,f}`` per class ``j`` and frequency ``f``.
    counts : ndarray of int64, shape (K,)
        Samples per class.
    """

    def __init__(self, scatters, counts):
        self.scatters = scatters
        self.counts = counts

    @classmethod
    def of(cls, V, y_index, n_classes):
        """Statistics of one chunk: features ``V`` (F, n, C) with class indices ``y_index``."""
        return cls(class_scatters(V, y_index, n_classes),
                   np.bincount(y_index, minlength=n_classes).astype(np.int64))

    def __add__(self, other):
        return Statistics(self.scatters + other.scatters, self.counts + other.counts)

    def __iadd__(self, other):
        self.scatters += other.scatters
        self.counts += other.counts
        return self

    def build_layer(self, weights, eps, backend=None, describe=None):
        """Dense operators and ``(R, Rc)`` from the statistics, as :func:`redunet.layer.build_layer`."""
        total = self.scatters.sum(axis=0)

        def make(class_index, alpha):
            S = total if class_index is None else self.scatters[class_index]
            return build_operator_from_scatter(S, alpha, backend)

        return assemble_layer(make, self.counts, total.shape[-1], weights, eps, describe)

    def rates(self, weights, eps):
        """``(R, Rc)`` of the samples (SPEC sections 2, 3), from the statistics alone."""
        C = self.scatters.shape[-1]
        m = int(self.counts.sum())
        rate = half_mean_logdet(weights, factorize_scatter(self.scatters.sum(axis=0), C / (m * eps))[1])
        gammas = self.counts / m
        compression = sum(g * half_mean_logdet(weights, factorize_scatter(S, C / (n * eps))[1])
                          for g, S, n in zip(gammas, self.scatters, self.counts))
        return rate, compression


class LocalChunks:
    """Training features ``(m, F, C)`` kept in memory or in a temporary file, used chunk by chunk.

    Parameters
    ----------
    shape : tuple (m, F, C)
    dtype : numpy dtype
    y_index : ndarray of shape (m,)
    n_classes : int
    chunk_size : int
    work_dir : str or None
        Folder of the temporary feature file; ``None`` keeps the features in memory.
    """

    def __init__(self, shape, dtype, y_index, n_classes, chunk_size, work_dir=None):
        self.y_index = y_index
        self.n_classes = n_classes
        self.chunk_size = chunk_size
        self._file = None
        if work_dir is None:
            self.store = np.empty(shape, dtype=dtype)
        else:
            fd, self._file = tempfile.mkstemp(prefix="redunet-features-", suffix=".npy",
                                              dir=work_dir)
            os.close(fd)
            self.store = np.lib.format.open_memmap(self._file, mode="w+", dtype=dtype, shape=shape)

    def chunks(self):
        """Slices of ``chunk_size`` consecutive samples."""
        m = self.store.shape[0]
        return [slice(start, min(start + self.chunk_size, m))
                for start in range(0, m, self.chunk_size)]

    def write(self, samples, V):
        """Store features ``V`` (F, n, C) of the samples ``samples``."""
        self.store[samples] = V.transpose(1, 0, 2)

    def read(self, samples):
        """Features (F, n, C) of the samples ``samples`` (a copy)."""
        return np.ascontiguousarray(self.store[samples].transpose(1, 0, 2))

    def statistics(self):
        """Sum of the chunks' :class:`Statistics`."""
        total = None
        for samples in self.chunks():
            part = Statistics.of(self.read(samples), self.y_index[samples], self.n_classes)
            if total is None:
                total = part
            else:
                total += part
        return total

    def update(self, layer, weights, eta, lmbda, backend=None):
        """Apply ``layer`` to every chunk, in place."""
        for samples in self.chunks():
            self.write(samples, apply_layer(layer, self.read(samples), weights, eta, lmbda, backend))

    def close(self):
        """Drop the features (and their temporary file)."""
        self.store = None
        if self._file is not None and os.path.exists(self._file):
            os.unlink(self._file)
