"""Statistics of a layer's input features, accumulated chunk by chunk (:ref:`math-one-engine`).

A layer needs its training features only through, per class ``j`` and
frequency ``f``, the scatter ``S_{j,f} = sum_i v_i(f) v_i(f)^H`` (the whole set's
is their sum), except where an operator is cheaper in its low-rank form
(:func:`redunet._operators.prefers_low_rank`): that form is built from the
group's samples themselves, so for such a group (a class with ``m_j`` small
against ``C``, or the whole set) the samples are gathered too, in sample order.

Chunks of consecutive samples give partial :class:`Statistics` (see
:class:`Tally`); adding them in any grouping gives the statistics of all the
samples.  Both forms are small: ``K F C^2`` scatter entries, and gathered groups
have fewer than ``0.41 C`` samples.
"""

import numpy as np

from . import _kernels
from ._layer import is_small_vector
from ._objective import half_mean_logdet
from ._operators import class_scatters, factorize, factorize_scatter, prefers_low_rank

__all__ = ["Statistics", "Tally"]


class Statistics:
    """Per-class scatter matrices (and gathered samples) of a set of samples; add to merge.

    Attributes
    ----------
    scatters : ndarray of shape (K, F, C, C)
        ``S_{j,f}`` per class ``j`` and frequency ``f``.
    counts : ndarray of int64, shape (K,)
        Samples per class.
    samples : dict
        Group (class index, or None for the whole set) -> list of
        ``(sample indices, features (F, n, C))`` pieces of the gathered groups.
    """

    def __init__(self, scatters, counts, samples=None):
        self.scatters = scatters
        self.counts = counts
        self.samples = samples if samples is not None else {}

    @classmethod
    def of(cls, V, y_index, n_classes, backend=None):
        """Scatters of one chunk: features ``V`` (F, n, C) with class indices ``y_index``
        (:func:`redunet._operators.class_scatters`)."""
        return cls(class_scatters(V, y_index, n_classes, backend),
                   np.bincount(y_index, minlength=n_classes).astype(np.int64))

    def __add__(self, other):
        samples = {group: list(pieces) for group, pieces in self.samples.items()}
        for group, pieces in other.samples.items():
            samples.setdefault(group, []).extend(pieces)
        return Statistics(self.scatters + other.scatters, self.counts + other.counts, samples)

    def __iadd__(self, other):
        self.scatters += other.scatters
        self.counts += other.counts
        for group, pieces in other.samples.items():
            self.samples.setdefault(group, []).extend(pieces)
        return self

    @property
    def n_channels(self):
        """``C``, channels of the features."""
        return self.scatters.shape[-1]

    def scatter_of(self, group):
        """Scatter ``(F, C, C)`` of a class, or of all samples for ``group=None``."""
        return self.scatters.sum(axis=0) if group is None else self.scatters[group]

    def count_of(self, group):
        """Samples in a class, or in all classes for ``group=None``."""
        return int(self.counts.sum()) if group is None else int(self.counts[group])

    def gathered(self, group):
        """Samples ``(F, n, C)`` of a gathered group in sample order, or None if not gathered."""
        pieces = self.samples.get(group)
        if not pieces:
            return None
        if len(pieces) == 1:
            return pieces[0][1]
        index = np.concatenate([rows for rows, _ in pieces])
        order = np.argsort(index, kind="stable")
        return np.ascontiguousarray(np.concatenate([B for _, B in pieces], axis=1)[:, order])

    def logdets(self, group, alpha):
        """``logdet(I + alpha S_f)`` of a group for every frequency (low-rank form if gathered)."""
        B = self.gathered(group)
        if B is not None:
            return factorize(B, alpha)[2]
        return factorize_scatter(self.scatter_of(group), alpha)[1]

    def rates(self, weights, eps):
        """``(R, Rc)`` of the samples (:ref:`math-objective`), from the statistics alone."""
        C = self.n_channels
        m = int(self.counts.sum())
        rate = half_mean_logdet(weights, self.logdets(None, C / (m * eps)))
        compression = 0.0
        for j, n in enumerate(self.counts):
            compression += (n / m) * half_mean_logdet(weights, self.logdets(j, C / (n * eps)))
        return rate, compression


class Tally:
    """Makes the :class:`Statistics` of chunks of consecutive training samples.

    Parameters
    ----------
    y_index : ndarray of int, shape (m,)
        Class index of every training sample.
    n_classes : int
    n_frequencies, n_channels : int
        ``F`` and ``C`` of the features.
    complex_ : bool
        Whether the features are complex.
    backend : {"numba", "numpy"}

    Attributes
    ----------
    groups : list
        The gathered groups: classes (and None for the whole set) whose
        operators are cheaper in the low-rank form.
    """

    def __init__(self, y_index, n_classes, n_frequencies, n_channels, complex_, backend):
        self.y_index = np.asarray(y_index, dtype=np.int64)
        self.n_classes = n_classes
        counts = np.bincount(self.y_index, minlength=n_classes)
        self.groups = [j for j in range(n_classes) if prefers_low_rank(int(counts[j]), n_channels)]
        if prefers_low_rank(self.y_index.shape[0], n_channels):
            self.groups.append(None)
        self.small = is_small_vector(n_frequencies, n_channels, complex_, backend)
        self.backend = backend
        self._chunks = {}        # (start, n) -> labels and class counts of a chunk

    def _chunk(self, start, n):
        """Labels and class counts of the samples ``start .. start + n - 1``."""
        if (start, n) not in self._chunks:
            labels = self.y_index[start:start + n]
            self._chunks[start, n] = labels, np.bincount(labels, minlength=self.n_classes)
        return self._chunks[start, n]

    def classes(self, start, n):
        """``(class indices, number of classes)`` of the samples ``start .. start + n - 1``:
        the ``classes`` argument of :func:`redunet._layer.apply_layer`, whose fused kernel
        then returns the scatters of the new features for :meth:`of`."""
        return self._chunk(start, n)[0], self.n_classes

    def of(self, V, start, scatters=None):
        """Statistics of the chunk ``V`` (F, n, C) holding samples ``start .. start + n - 1``.

        ``scatters`` ``(K, F, C, C)``, if given, are the per-class scatters of ``V``
        already computed (by the layer update that made ``V``); else they are
        computed here.
        """
        n = V.shape[1]
        labels, counts = self._chunk(start, n)
        if scatters is not None:
            stats = Statistics(scatters, counts.copy())
        elif self.small:
            scatters = _kernels.small_vector_scatters(np.ascontiguousarray(V[0]), labels,
                                                      self.n_classes)[:, None]
            stats = Statistics(scatters, counts.copy())
        else:
            stats = Statistics(class_scatters(V, labels, self.n_classes, self.backend),
                               counts.copy())
        for group in self.groups:
            rows = np.arange(n) if group is None else np.flatnonzero(labels == group)
            if rows.size:
                stats.samples[group] = [(rows + start, V[:, rows])]
        return stats
