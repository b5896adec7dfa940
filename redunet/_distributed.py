"""The Dask executor of the construction loop: training features on the workers.

The training features live on the workers as a ``dask.array`` of shape
``(m, F, C)`` chunked along samples.  :class:`DaskChunks` implements the
executor protocol of :mod:`redunet._construction`; per layer:

1. the client builds the layer's operators from the statistics (the same code
   for every executor);
2. the layer is put in the graph once (one key) and, in one task per chunk,
   applied to the chunk and the chunk's :class:`~redunet._statistics.Statistics`
   of the new features computed where the chunk lives; the statistics are
   summed by a pairwise tree, and only the sum (``(K, F, C, C)`` scatters and the
   few gathered samples of low-rank groups) travels to the client;
3. the new features are persisted, so the client's graph of the features is
   the persisted chunks alone and does not grow with depth.

The scheduler keeps every task's recipe, so chunks lost with a worker are
recomputed from the input through the layers that produced them.
"""

import numpy as np

from ._validation import InputError

__all__ = ["DaskChunks", "is_dask_array", "input_features", "map_samples"]


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing dask otherwise)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def _statistics_of_block(block, start, tally):
    return tally.of(np.ascontiguousarray(block.transpose(1, 0, 2)), start)


def _update_block(block, start, layer, step, tally):
    """New features (sample-major) of one chunk and their statistics."""
    V = np.ascontiguousarray(block.transpose(1, 0, 2))
    # in place when V is a copy (a task must not change its input, the persisted chunk)
    out = None if np.may_share_memory(V, block) else V
    V, scatters = step(layer, V, classes=tally.classes(start, block.shape[0]), out=out)
    return V.transpose(1, 0, 2), tally.of(V, start, scatters)


def _first(pair):
    return pair[0]


def _second(pair):
    return pair[1]


def _add(a, b):
    return a + b


def _tree_sum(parts):
    """Pairwise tree reduction of delayed statistics, in sample order."""
    import dask

    while len(parts) > 1:
        parts = [dask.delayed(_add)(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


class DaskChunks:
    """Executor over a dask array of features ``(m, F, C)`` chunked along samples.

    Parameters
    ----------
    V : dask.array.Array of shape (m, F, C)
        Spectral training features, one chunk per group of samples (lazy: it
        is computed and persisted on first use).
    tally : Tally
        Makes the statistics of a chunk.
    step : callable
        ``step(layer, V, classes=None, out=None)``: the layer update on features ``(F, n, C)``
        (see :class:`redunet._streaming.LocalChunks`).
    """

    def __init__(self, V, tally, step):
        self.V = V
        self.tally = tally
        self.step = step
        self._persisted = False

    def _starts(self):
        return np.cumsum((0,) + self.V.chunks[0])[:-1].tolist()

    def _features(self):
        if not self._persisted:
            self.V = self.V.persist()
            self._persisted = True
        return self.V

    def statistics(self):
        """Statistics of the current features, reduced on the cluster by a pairwise tree."""
        import dask

        blocks = self._features().to_delayed().ravel()
        return _tree_sum([dask.delayed(_statistics_of_block)(block, start, self.tally)
                          for block, start in zip(blocks, self._starts())]).compute()

    def update(self, layer):
        """Apply ``layer`` to every chunk on the workers, persist the new features and
        return their statistics (each chunk is read once)."""
        import dask
        import dask.array as da

        V = self._features()
        shared = dask.delayed(layer, traverse=False)     # one key, not one copy per chunk
        pairs = [dask.delayed(_update_block)(block, start, shared, self.step, self.tally)
                 for block, start in zip(V.to_delayed().ravel(), self._starts())]
        blocks = [da.from_delayed(dask.delayed(_first)(pair), shape=(n,) + V.shape[1:],
                                  dtype=V.dtype)
                  for pair, n in zip(pairs, V.chunks[0])]
        total = _tree_sum([dask.delayed(_second)(pair) for pair in pairs])
        self.V, total = dask.persist(da.concatenate(blocks, axis=0), total)
        return total.compute()

    def chunks(self):
        """The current features, ``(F, n, C)`` chunk by chunk in sample order."""
        V = self._features()
        for i in range(V.numblocks[0]):
            yield np.ascontiguousarray(V.blocks[i].compute().transpose(1, 0, 2))

    def load(self, features):
        """Replace the features by ``features`` ``(m, F, C)``, chunked as before."""
        import dask.array as da

        if tuple(features.shape) != tuple(self.V.shape):
            raise InputError(f"Expected restored features of shape {tuple(self.V.shape)}. "
                             f"Got {tuple(features.shape)} instead.")
        self.V = da.from_array(np.asarray(features, dtype=self.V.dtype), chunks=self.V.chunks)
        self._persisted = False

    def whole(self):
        """None: the features are held in chunks on the workers."""
        return None

    def close(self):
        self.V = None


def input_features(stage, X):
    """Dask array ``(m, F, C)`` of the spectral input features of a dask array ``X``.

    ``stage`` is the fitted :class:`redunet._input_stage.InputStage`.
    """
    F, C = stage.shape
    dtype = stage.feature_dtype

    def block(x):
        return stage.features(x).transpose(1, 0, 2)

    X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (F,), (C,)),
                        drop_axis=list(range(1, X.ndim)), new_axis=[1, 2],
                        meta=np.empty((0, 0, 0), dtype=dtype))


def _method_block(block, net, method):
    return getattr(net, method)(block)


def map_samples(net, X, method):
    """``net.transform`` or ``net.predict`` of a dask array ``X``, chunk by chunk."""
    import dask

    stage = net.input_stage_            # raises NotFittedError before any graph is built
    X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    shared = dask.delayed(net, traverse=False)
    if method == "predict":
        return X.map_blocks(_method_block, shared, method, dtype=net.classes_.dtype,
                            drop_axis=list(range(1, X.ndim)),
                            meta=np.empty((0,), dtype=net.classes_.dtype))
    dtype = np.dtype(stage.dtype)
    new_shape = tuple((n,) for n in stage.signal_shape)
    return X.map_blocks(_method_block, shared, method, dtype=dtype,
                        chunks=(X.chunks[0],) + new_shape,
                        meta=np.empty((0,) * X.ndim, dtype=dtype))
