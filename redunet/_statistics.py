"""Statistics of a layer's input features, accumulated chunk by chunk (:ref:`math-one-engine`).

A layer needs its training features only through, per class ``j`` and
frequency ``f``, the scatter ``S_{j,f} = sum_i v_i(f) v_i(f)^H`` (the whole set's
is their sum), except where an operator is cheaper in its low-rank form
(:func:`redunet._operators.prefers_low_rank`): that form is built from the
group's samples themselves, so for such a group (a class with ``m_j`` small
against ``C``, or the whole set) the samples are gathered too, in sample order.
The scatter of a gathered class is then needed only inside the whole set's:
:class:`Tally` keeps that one whole (one product of all the samples) and
leaves the class's own to be formed from its samples if asked for (the
classifier and ``partial_fit`` use every class's scatter, once, at the end).

Chunks of consecutive samples give partial :class:`Statistics` (see
:class:`Tally`); adding them in any grouping gives the statistics of all the
samples.  Both forms are small: ``K F C^2`` scatter entries, and gathered groups
have fewer than ``0.41 C`` samples.
"""

import numpy as np

from . import _kernels
from ._layer import is_small_vector
from ._objective import half_mean_logdet
from ._operators import (SCATTER_KERNEL_CHANNELS, class_scatters, factorize, factorize_scatter,
                         prefers_low_rank, scatter, whole_scatter)

__all__ = ["Statistics", "Tally"]


class Statistics:
    """Per-class scatter matrices (and gathered samples) of a set of samples; add to merge.

    The scatter of a gathered class may be left to its samples (``None`` in a
    list of ``scatters``): it is formed from them only when asked for, since
    the layer's operator of that class is built from the samples themselves
    and the scatter of all samples is kept whole (``total``).

    Parameters
    ----------
    scatters : ndarray of shape (K, F, C, C), or list of K arrays (F, C, C) or None
        ``S_{j,f}`` per class; ``None`` for a class whose samples are all gathered
        in ``samples`` (its scatter is theirs).
    counts : ndarray of int64, shape (K,)
    samples : dict or None
    total : ndarray of shape (F, C, C) or None
        Scatter of all samples; None for the sum of the class scatters.

    Attributes
    ----------
    scatters : ndarray of shape (K, F, C, C)
        ``S_{j,f}`` per class ``j`` and frequency ``f`` (formed on first access
        where left to the samples).
    counts : ndarray of int64, shape (K,)
        Samples per class.
    samples : dict
        Group (class index, or None for the whole set) -> list of
        ``(sample indices, features (F, n, C))`` pieces of the gathered groups.
    total : ndarray of shape (F, C, C) or None
        Scatter of all samples if kept whole (see :meth:`scatter_of`).
    """

    def __init__(self, scatters, counts, samples=None, total=None):
        self._scatters = scatters
        self.counts = counts
        self.samples = samples if samples is not None else {}
        self.total = total
        if isinstance(scatters, np.ndarray):
            self._shape, self._dtype = scatters.shape[1:3], scatters.dtype
            return
        # (F, C) and dtype from any array held: a class scatter, the total or a sample piece
        known = [S for S in scatters if S is not None] + ([] if total is None else [total])
        if known:
            self._shape, self._dtype = known[0].shape[:2], known[0].dtype
        else:
            B = next(pieces[0][1] for pieces in self.samples.values() if pieces)
            self._shape, self._dtype = (B.shape[0], B.shape[2]), B.dtype

    @classmethod
    def of(cls, V, y_index, n_classes, backend=None):
        """Scatters of one chunk: features ``V`` (F, n, C) with class indices ``y_index``
        (:func:`redunet._operators.class_scatters`)."""
        return cls(class_scatters(V, y_index, n_classes, backend),
                   np.bincount(y_index, minlength=n_classes).astype(np.int64))

    @property
    def scatters(self):
        """``(K, F, C, C)`` scatters of every class (formed once where left to the samples)."""
        if not isinstance(self._scatters, np.ndarray):
            self._scatters = np.stack([self.scatter_of(j) for j in range(len(self._scatters))])
        return self._scatters

    def _pattern(self):
        """Which classes are left to their samples (None for the array form)."""
        if isinstance(self._scatters, np.ndarray):
            return None
        return tuple(S is None for S in self._scatters)

    def __add__(self, other):
        samples = {group: list(pieces) for group, pieces in self.samples.items()}
        for group, pieces in other.samples.items():
            samples.setdefault(group, []).extend(pieces)
        total = (None if self.total is None or other.total is None
                 else self.total + other.total)
        pattern = self._pattern()
        if pattern is not None and pattern == other._pattern():
            scatters = [None if S is None else S + T
                        for S, T in zip(self._scatters, other._scatters)]
        else:
            scatters = self.scatters + other.scatters
        return Statistics(scatters, self.counts + other.counts, samples, total)

    def __iadd__(self, other):
        if self._pattern() is not None or other._pattern() is not None:
            self.__dict__.update((self + other).__dict__)
            return self
        self._scatters += other._scatters
        self.total = (None if self.total is None or other.total is None
                      else self.total + other.total)
        self.counts += other.counts
        for group, pieces in other.samples.items():
            self.samples.setdefault(group, []).extend(pieces)
        return self

    @property
    def n_channels(self):
        """``C``, channels of the features."""
        return self._shape[1]

    @property
    def n_frequencies(self):
        """``F``, frequencies of the features."""
        return self._shape[0]

    @property
    def dtype(self):
        """Dtype of the scatters."""
        return self._dtype

    def scatter_of(self, group):
        """Scatter ``(F, C, C)`` of a class, or of all samples for ``group=None``."""
        if group is None:
            return self.scatters.sum(axis=0) if self.total is None else self.total
        if isinstance(self._scatters, np.ndarray) or self._scatters[group] is not None:
            return self._scatters[group]
        out = np.zeros(self._shape + (self._shape[1],), dtype=self._dtype)
        for _, B in self.samples.get(group, []):
            out += scatter(B)
        return out

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
        self._lazy = [j for j in self.groups if j is not None]
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
        samples = {}
        for group in self.groups:
            rows = np.arange(n) if group is None else np.flatnonzero(labels == group)
            if rows.size:
                samples[group] = [(rows + start, V[:, rows])]
        if scatters is not None:
            return Statistics(scatters, counts.copy(), samples)
        if self.small:
            scatters = _kernels.small_vector_scatters(np.ascontiguousarray(V[0]), labels,
                                                      self.n_classes)[:, None]
            return Statistics(scatters, counts.copy(), samples)
        if self._lazy and samples and not (self.backend == "numba"
                                           and V.shape[2] <= SCATTER_KERNEL_CHANNELS):
            return self._lazy_statistics(V, labels, counts, samples)
        return Statistics(class_scatters(V, labels, self.n_classes, self.backend),
                          counts.copy(), samples)

    def _lazy_statistics(self, V, labels, counts, samples):
        """Statistics whose gathered classes keep only their samples: the scatters of the
        other classes, and the scatter of all samples unless that group is gathered too."""
        known = [j for j in range(self.n_classes) if j not in self._lazy]
        scatters = [None] * self.n_classes
        if known:
            for j, S in zip(known, class_scatters(V, labels, self.n_classes, self.backend,
                                                  classes=known)):
                scatters[j] = S
        total = None
        if None not in self.groups:
            if known:
                rest = np.flatnonzero(np.isin(labels, self._lazy))
                total = sum(scatters[j] for j in known) + whole_scatter(V[:, rest])
            else:
                total = whole_scatter(V)
        return Statistics(scatters, counts.copy(), samples, total)
