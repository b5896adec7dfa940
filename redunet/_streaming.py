"""The local executor of the construction loop: training features in chunks of samples.

A layer needs its training features only through their statistics
(:mod:`redunet._statistics`), and then updates every sample independently, so
the features can be held in chunks of consecutive samples: in memory (one chunk
per array; an ordinary in-memory fit is the case of a single chunk) or in a
temporary ``(m, F, C)`` file on disk (peak memory: one chunk plus the
operators).  :class:`LocalChunks` implements the executor protocol of
:mod:`redunet._construction`; every layer reads each chunk once, applies the
layer, writes it back and adds its statistics (computed by the update itself
where its kernel can, see :meth:`redunet._statistics.Tally.classes`).
"""

import os
import tempfile

import numpy as np

from ._validation import InputError
from ._statistics import Statistics

__all__ = ["LocalChunks", "Statistics"]


class LocalChunks:
    """Training features ``(m, F, C)`` held in memory or in a temporary file, chunk by chunk.

    Parameters
    ----------
    tally : Tally
        Makes the statistics of a chunk (labels, gathered groups).
    step : callable
        ``step(layer, V) -> V_new`` on features ``(F, n, C)``: the layer update
        (:func:`redunet._layer.apply_layer` with the fit's parameters);
        ``step(layer, V, classes=tally.classes(start, n), out=V) -> (V_new, scatters)``
        also gives the per-class scatters of ``V_new`` where the update computes
        them in the same pass, else None, and writes ``V_new`` into ``out``
        (here the chunk itself, once the executor owns it).
    shape : tuple (m, F, C)
    dtype : numpy dtype
    chunk_size : int or None
        Samples per chunk; None holds all samples in one chunk.
    work_dir : str or None
        Folder of the temporary feature file; ``None`` keeps the features in memory.
    """

    def __init__(self, tally, step, shape, dtype, chunk_size=None, work_dir=None):
        self.tally = tally
        self.step = step
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        m = self.shape[0]
        size = chunk_size or max(m, 1)
        self._slices = [slice(start, min(start + size, m)) for start in range(0, m, size)]
        self._index = {s.start: i for i, s in enumerate(self._slices)}
        self._file = None
        self._parts = None
        self.store = None
        # Whether the executor owns a chunk held in memory (it made it by an update), so
        # that the next update may overwrite it; features written from outside are kept.
        self._owned = [False] * len(self._slices)
        if work_dir is None:
            self._parts = [None] * len(self._slices)
        else:
            fd, self._file = tempfile.mkstemp(prefix="redunet-features-", suffix=".npy",
                                              dir=work_dir)
            os.close(fd)
            self.store = np.lib.format.open_memmap(self._file, mode="w+", dtype=self.dtype,
                                                   shape=self.shape)

    @classmethod
    def from_input(cls, stage, X, tally, step, chunk_size=None, work_dir=None):
        """Executor holding the spectral input features of raw samples ``X`` (chunk by chunk).

        ``stage`` is the fit's :class:`redunet._input_stage.InputStage`; ``X`` may be
        any array indexable by sample slices (e.g. a ``numpy.memmap``).
        """
        shape = (X.shape[0],) + stage.shape
        executor = cls(tally, step, shape, stage.feature_dtype, chunk_size, work_dir)
        try:
            for samples in executor.slices():
                executor.write(samples, stage.features(X[samples]))
        except BaseException:
            executor.close()
            raise
        return executor

    def slices(self):
        """Slices of ``chunk_size`` consecutive samples."""
        return list(self._slices)

    def write(self, samples, V):
        """Store features ``V`` (F, n, C) of the samples ``samples`` (one of the chunk slices)."""
        if self._parts is not None:
            self._parts[self._index[samples.start]] = V
            self._owned[self._index[samples.start]] = False
        else:
            self.store[samples] = V.transpose(1, 0, 2)

    def read(self, samples):
        """Features (F, n, C) of the samples ``samples`` (one of the chunk slices), C-contiguous."""
        if self._parts is not None:
            return self._parts[self._index[samples.start]]
        return np.ascontiguousarray(self.store[samples].transpose(1, 0, 2))

    # -- executor protocol (see redunet._construction) ----------------------------------------------
    def statistics(self):
        """Statistics of the current features (one read of every chunk)."""
        total = None
        for samples in self._slices:
            part = self.tally.of(self.read(samples), samples.start)
            total = part if total is None else total + part
        return total

    def update(self, layer):
        """Apply ``layer`` to every chunk in place; statistics of the new features, same pass."""
        total = None
        for samples in self._slices:
            classes = self.tally.classes(samples.start, samples.stop - samples.start)
            V = self.read(samples)
            # in place: a chunk read from the file is a copy, one in memory ours if owned
            in_place = self._parts is None or self._owned[self._index[samples.start]]
            V, scatters = self.step(layer, V, classes=classes, out=V if in_place else None)
            self.write(samples, V)
            self._owned[self._index[samples.start]] = True
            part = self.tally.of(V, samples.start, scatters)
            total = part if total is None else total + part
        return total

    def chunks(self):
        """The current features, ``(F, n, C)`` chunk by chunk in sample order."""
        for samples in self._slices:
            yield self.read(samples)

    def load(self, features):
        """Replace the features by ``features`` of shape ``(m, F, C)`` (e.g. memory-mapped)."""
        if tuple(features.shape) != self.shape:
            raise InputError(f"Expected restored features of shape {self.shape}. "
                             f"Got {tuple(features.shape)} instead.")
        for samples in self._slices:
            self.write(samples, np.ascontiguousarray(
                np.asarray(features[samples], dtype=self.dtype).transpose(1, 0, 2)))

    def whole(self):
        """The features ``(F, m, C)`` if held as one array in memory, else None."""
        if self._parts is not None and len(self._parts) == 1:
            return self._parts[0]
        return None

    def close(self):
        """Drop the features (and their temporary file)."""
        self.store = None
        self._parts = None
        if self._file is not None and os.path.exists(self._file):
            os.unlink(self._file)
