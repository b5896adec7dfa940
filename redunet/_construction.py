"""The one construction loop of a ReduNet, for every way of holding the training features.

:ref:`math-one-engine`.  An *executor* holds the current training features, in chunks
of consecutive samples (in memory is the case of one chunk), and offers:

``statistics() -> Statistics``
    statistics of the current features (:mod:`redunet._statistics`): counts
    and per-class, per-frequency scatters, and the samples of every group whose
    operator is cheaper in the low-rank form, in sample order;
``update(layer) -> Statistics``
    apply ``layer`` to every chunk, in place, and return the statistics of the
    new features, accumulated in the same pass (each chunk is read once; where
    the update's fused kernel computes the class scatters of its output, the
    executor passes them on, ``Tally.of(V, start, scatters)``);
``chunks()``
    iterator over the current features, ``(F, n, C)`` chunk by chunk in sample
    order (for checkpoints);
``load(features)``
    replace the current features by ``features`` of shape ``(m, F, C)``
    (sample-major, e.g. memory-mapped from a checkpoint);
``whole()``
    the current features as one in-memory ``(F, m, C)`` array, or None when
    they are held in several chunks;
``close()``
    release the features (and any temporary file).

The loop (:func:`construct`): statistics -> operators of the layer (dense from
the scatters by Cholesky, or low rank from the gathered samples,
:func:`layer_from_statistics`) -> ``update`` -> objective recorded; then one
finishing step: the objective of the final features (if not yet recorded) and
the nearest-subspace classifier.  Progress, the ``tol`` stop, checkpoints and
early stopping on held-out data are :class:`Hook` objects, so every executor
has them.  This is the only place where layers are appended.
"""

import time

import numpy as np

from . import _kernels
from ._layer import Layer, assemble_layer, is_small_vector
from ._operators import (DenseOperator, FactorizationError, build_operator,
                         build_operator_from_scatter)
from ._parallel import n_threads, split_map

__all__ = ["construct", "layer_from_statistics", "Hook", "ToleranceStop", "ProgressBar",
           "Checkpointing"]

HISTORY_KEYS = ("rate", "compression", "delta_r")


class Hook:
    """Callbacks of :func:`construct`; subclasses override what they need."""

    def objective_recorded(self, history):
        """After the objective of a layer's input is recorded; True stops the construction
        (that layer is then not added)."""
        return False

    def layer_added(self, layers, history, executor):
        """After a layer is appended and applied to the training features."""

    def finished(self, layers, history, executor):
        """After the last layer, before the objective of the final features.

        A hook may drop the last layers here (with their history entries) and
        load the features of the depth it keeps into ``executor``; it then
        returns True, and the statistics are read again from the executor.
        """
        return False


class ToleranceStop(Hook):
    """Stop once ``delta_R`` rose by at most ``tol`` over the last ``patience`` layers."""

    def __init__(self, tol, patience):
        self.tol = tol
        self.patience = patience

    def objective_recorded(self, history):
        delta = history["delta_r"]
        if self.tol is None or len(delta) <= self.patience:
            return False
        return delta[-1] - delta[-1 - self.patience] <= self.tol


class ProgressBar(Hook):
    """A progress bar over layers with the current ``delta_R``."""

    def __init__(self, total, initial):
        from tqdm.auto import tqdm
        self.bar = tqdm(total=total, initial=initial, unit="layer", desc="ReduNet")

    def layer_added(self, layers, history, executor):
        self.bar.update(1)
        self.bar.set_postfix(delta_R=f"{history['delta_r'][-1]:.5f}", refresh=False)

    def finished(self, layers, history, executor):
        self.bar.close()


class Checkpointing(Hook):
    """Write layers, history and features to a checkpoint store when due, and at the end.

    ``store`` follows the checkpoint API of :class:`redunet._checkpoint.Checkpoint`:
    ``due(n_layers_done)`` and ``write(layers, history, features, lift_kernels)``.
    """

    def __init__(self, store, lift_kernels=None):
        self.store = store
        self.lift_kernels = lift_kernels

    def _write(self, layers, history, executor):
        # entry l of the history is the input of layer l: the store keeps one per layer
        self.store.write(layers, history, executor.chunks(), self.lift_kernels)

    def layer_added(self, layers, history, executor):
        if self.store.due(len(layers)):
            self._write(layers, history, executor)

    def finished(self, layers, history, executor):
        self._write(layers, history, executor)


def layer_from_statistics(stats, weights, eps, backend, describe=None):
    """Operators of a layer and ``(R, Rc)`` of its input, from the input's statistics.

    Every operator is built as :func:`redunet._layer.build_layer` builds it from
    the features themselves: low rank from the gathered samples of a group
    (:func:`redunet._operators.build_operator`), dense from its scatter
    otherwise; small dense vector layers by one compiled kernel.

    Parameters
    ----------
    stats : Statistics
    weights : ndarray of shape (F,)
    eps : float
    backend : {"numba", "numpy"}
    describe : callable or None
        ``describe(class_index, frequency)`` -> text naming them, for errors.

    Returns
    -------
    layer : Layer
    rate, compression : float
    """
    if not stats.samples and is_small_vector(stats.n_frequencies, stats.n_channels,
                                             stats.dtype.kind == "c", backend):
        small = _small_layer(stats, eps)
        if small is not None:
            return small

    def build(group, alpha):
        B = stats.gathered(group)
        if B is not None:
            return build_operator(B, alpha, backend=backend)
        return build_operator_from_scatter(stats.scatter_of(group), alpha, backend)

    built = _operators_ahead(stats, eps, build)

    def make(group, alpha):
        if group in built and built[group][0] == alpha:
            result = built[group][1]
            if isinstance(result, FactorizationError):
                raise result
            return result
        return build(group, alpha)

    return assemble_layer(make, stats.counts, stats.n_channels, weights, eps, describe)


def _operators_ahead(stats, eps, build):
    """Operators of a single-frequency layer built ahead, the groups shared among threads
    by their cost (one frequency gives the threads nothing else to split; the LAPACK
    calls of a large dense operator leave the other threads running).

    Returns a dict: group (None for the expansion) -> ``(alpha, (operator, logdet))``, or
    ``(alpha, error)`` if its factorization failed (raised when
    :func:`redunet._layer.assemble_layer` asks for that group, which names it).  Empty for
    several frequencies, whose operators split over frequencies instead.
    """
    counts = stats.counts
    m = int(counts.sum())
    if stats.n_frequencies != 1 or not m:
        return {}
    C = stats.n_channels
    groups = [None] + [j for j in range(counts.shape[0]) if counts[j] > 0]
    sizes = {group: m if group is None else int(counts[group]) for group in groups}

    def cost(group):            # multiply-adds: Cholesky and inverse, or Gram and factor
        n = sizes[group]
        return n * n * (3 * C + n) if group in stats.samples else C ** 3

    # longest first, each to the least loaded thread
    bins = [[] for _ in range(min(n_threads(), len(groups)))]
    loads = [0] * len(bins)
    for group in sorted(groups, key=cost, reverse=True):
        k = loads.index(min(loads))
        bins[k].append(group)
        loads[k] += cost(group)

    def block(part):
        out = {}
        for group in [g for share in bins[part] for g in share]:
            # the scale assemble_layer gives the group (a Python float, as there)
            alpha = float(C / (sizes[group] * eps))
            try:
                out[group] = alpha, build(group, alpha)
            except FactorizationError as exc:
                out[group] = alpha, exc
        return out

    built = {}
    for part in split_map(block, len(bins), max(loads)):
        built.update(part)
    return built


def _small_layer(stats, eps):
    """A small dense vector layer by the compiled kernel; None if a factorization fails
    (the general path then reports where)."""
    counts = stats.counts
    K = counts.shape[0]
    try:
        matrices, logdets = _kernels.small_vector_operators(stats.scatters[:, 0], counts,
                                                            float(eps))
    except np.linalg.LinAlgError:
        return None
    gammas = counts / counts.sum()
    layer = Layer(DenseOperator(matrices[K:]),
                  [DenseOperator(matrices[j:j + 1]) for j in range(K)], gammas)
    return layer, 0.5 * logdets[K], 0.5 * float(gammas @ logdets[:K])


def record(history, rate, compression):
    """Append ``R``, ``Rc`` and ``delta_R`` to a history of lists."""
    history["rate"].append(rate)
    history["compression"].append(compression)
    history["delta_r"].append(rate - compression)


def construct(executor, layers, history, n_layers, weights, eps, backend, classifier, y_index,
              classes, describe=None, hooks=(), seconds=None):
    """Build layers until ``n_layers`` (or a hook stops), then fit the classifier.

    Parameters
    ----------
    executor : executor
        Holds the current training features (see the module docstring).
    layers : list-like of Layer
        The layers built so far (empty, or restored from a checkpoint); new
        layers are appended to it.
    history : dict of lists
        ``"rate"``, ``"compression"``, ``"delta_r"`` so far (one entry per layer
        in ``layers``); extended in place.
    n_layers : int
    weights : ndarray of shape (F,)
    eps : float
    backend : {"numba", "numpy"}
    classifier : NearestSubspace
        Unfitted; fitted on the final features (by SVD of the features held in
        memory, else from the scatters).
    y_index : ndarray of shape (m,)
        Class index of every training sample.
    classes : ndarray of shape (K,)
    describe : callable or None
        ``describe(layer_index, class_index, frequency)`` -> text, for errors.
    hooks : sequence of Hook
    seconds : list or None
        If given, the wall seconds of every layer added are appended to it: from
        the end of the previous layer (or of the input's statistics) to the end
        of this one, its hooks included.

    Returns
    -------
    classifier : NearestSubspace
        Fitted.
    stats : Statistics
        Statistics of the final training features.
    """
    stats = executor.statistics()
    if hasattr(layers, "reserve"):
        layers.reserve(n_layers)
    clock = time.perf_counter()
    while len(layers) < n_layers:
        index = len(layers)
        where = None if describe is None else (
            lambda j, f, index=index: describe(index, j, f))
        layer, rate, compression = layer_from_statistics(stats, weights, eps, backend, where)
        record(history, rate, compression)
        if any([hook.objective_recorded(history) for hook in hooks]):
            break
        stats = executor.update(layer)
        layers.append(layer)
        for hook in hooks:
            hook.layer_added(layers, history, executor)
        if seconds is not None:
            now = time.perf_counter()
            seconds.append(now - clock)
            clock = now
    if any([hook.finished(layers, history, executor) for hook in hooks]):
        stats = executor.statistics()            # a hook loaded the features of another depth
    if len(history["rate"]) == len(layers):
        record(history, *stats.rates(weights, eps))
    V = executor.whole()
    if V is not None:
        return classifier.fit_spectral(V, weights, y_index, classes), stats
    return classifier.fit_scatter(stats.scatters, stats.counts, weights, classes), stats
