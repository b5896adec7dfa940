"""Fits on a Dask cluster: the map-reduce of :mod:`redunet.streaming` with Dask as executor.

The training features live on the workers as a ``dask.array`` of shape
``(m, F, C)`` chunked along samples.  Per layer:

1. every chunk's :class:`~redunet.streaming.Statistics` are computed where the
   chunk lives and summed by a tree reduction (``dask.array.reduction``-style
   pairwise adds), and only the ``(K, F, C, C)`` sum travels to the client;
2. the client builds the dense operators (the same code as the streaming fit);
3. the layer is put in the graph once (one key) and applied to every chunk by
   ``map_blocks``; the new features are persisted, so the client's graph of the
   features is the persisted chunks alone and does not grow with depth.

The scheduler keeps every task's recipe, so chunks lost with a worker are
recomputed from the input through the layers that produced them.
"""

import numpy as np

from .layer import apply_layer

__all__ = ["DaskChunks", "is_dask_array", "input_features", "map_samples"]


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing dask otherwise)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def _statistics_of_block(block, y_block, n_classes):
    from .streaming import Statistics
    return Statistics.of(np.ascontiguousarray(block.transpose(1, 0, 2)), y_block, n_classes)


def _add(a, b):
    return a + b


def _update_block(block, layer, weights, eta, lmbda, backend):
    V = np.ascontiguousarray(block.transpose(1, 0, 2))
    return apply_layer(layer, V, weights, eta, lmbda, backend).transpose(1, 0, 2)


class DaskChunks:
    """Executor over a dask array of features ``(m, F, C)`` chunked along samples.

    Parameters
    ----------
    V : dask.array.Array of shape (m, F, C)
        Spectral training features, one chunk per group of samples.
    y_index : ndarray of shape (m,)
    n_classes : int
    """

    def __init__(self, V, y_index, n_classes):
        self.V = V.persist()
        self.y_index = y_index
        self.n_classes = n_classes

    def _label_blocks(self):
        bounds = np.cumsum((0,) + self.V.chunks[0])
        return [self.y_index[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def statistics(self):
        """Sum of the chunks' statistics, reduced on the cluster by a pairwise tree."""
        import dask

        parts = [dask.delayed(_statistics_of_block)(block, labels, self.n_classes)
                 for block, labels in zip(self.V.to_delayed().ravel(), self._label_blocks())]
        while len(parts) > 1:
            parts = [dask.delayed(_add)(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i]
                     for i in range(0, len(parts), 2)]
        return parts[0].compute()

    def update(self, layer, weights, eta, lmbda, backend=None):
        """Apply ``layer`` to every chunk on the workers; persist the new features."""
        import dask

        shared = dask.delayed(layer, traverse=False)     # one key, not one copy per chunk
        self.V = self.V.map_blocks(_update_block, shared, weights, eta, lmbda, backend,
                                   dtype=self.V.dtype,
                                   meta=np.empty((0, 0, 0), dtype=self.V.dtype)).persist()

    def features(self):
        """The current features gathered on the client, ``(F, m, C)``."""
        return np.ascontiguousarray(self.V.compute().transpose(1, 0, 2))

    def close(self):
        self.V = None


def input_features(net, X):
    """Dask array ``(m, F, C)`` of the spectral input features of a dask array ``X``."""
    F, C = net.spectrum_.n_frequencies, net.signal_shape_[0]
    real = np.dtype(net.dtype)
    dtype = real if net.arch == "vector" else np.result_type(real, np.complex64)

    def block(x):
        Z = net._lifted(net._validated(x), fitting=False)
        return net._to_spectrum(Z).transpose(1, 0, 2)

    X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    return X.map_blocks(block, dtype=dtype, chunks=(X.chunks[0], (F,), (C,)),
                        drop_axis=list(range(1, X.ndim)), new_axis=[1, 2],
                        meta=np.empty((0, 0, 0), dtype=dtype))


def _method_block(block, net, method):
    return getattr(net, method)(block)


def map_samples(net, X, method):
    """``net.transform`` or ``net.predict`` of a dask array ``X``, chunk by chunk."""
    import dask

    net._check_fitted()
    X = X.rechunk({i: -1 for i in range(1, X.ndim)})
    shared = dask.delayed(net, traverse=False)
    if method == "predict":
        return X.map_blocks(_method_block, shared, method, dtype=net.classes_.dtype,
                            drop_axis=list(range(1, X.ndim)),
                            meta=np.empty((0,), dtype=net.classes_.dtype))
    dtype = np.dtype(net.dtype)
    new_shape = tuple((n,) for n in net.signal_shape_)
    return X.map_blocks(_method_block, shared, method, dtype=dtype,
                        chunks=(X.chunks[0],) + new_shape,
                        meta=np.empty((0,) * X.ndim, dtype=dtype))
