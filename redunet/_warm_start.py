"""Warm starts (scikit-learn's ``warm_start``): more layers on a fitted net, from the same data.

A warm-started ``fit`` keeps the first ``n_layers`` layers a net has and lets
:func:`redunet._construction.construct` continue from the training features
after them.  Those features are not kept by ``fit`` (they are as large as the
training set); :func:`continue_from` recomputes them by applying the kept
layers through the fit's executor (``executor.update``), which is the
arithmetic of the construction itself, so the result equals a fresh fit with
the new ``n_layers`` bit for bit (same backend, same fit arguments, same
machine).  This works for in-memory and chunked fits alike.

A warm start is refused when the training data or a parameter that shapes the
layers changed: every fit records :func:`redunet._checkpoint.fingerprint` of
both (the one a checkpoint uses; ``warm_start`` and ``n_iter_no_change`` do not
enter it).
"""

from ._construction import HISTORY_KEYS

__all__ = ["check_same_key", "continue_from", "check_combination"]


def check_same_key(previous, current):
    """Refuse a warm start on other data or parameters (``previous`` None: fitted otherwise)."""
    if previous is None:
        raise ValueError("This ReduNet cannot be warm-started: its layers do not come from one "
                         "in-memory or chunked 'fit' (e.g. it was loaded from a file, fitted "
                         "on a dask array or refined by partial_fit). Set warm_start=False to "
                         "rebuild it.")
    if previous != current:
        raise ValueError("warm_start=True needs the training data and the layer-shaping "
                         "parameters of the previous fit (all but n_layers, tol, patience, "
                         "n_components, verbose, backend, n_iter_no_change); they changed. "
                         "Set warm_start=False to rebuild the net.")


def continue_from(layers, history, n_layers, executor):
    """Keep the first ``n_layers`` layers and bring the executor's features after them.

    Parameters
    ----------
    layers : LayerStack
        The fitted layers; truncated in place to at most ``n_layers``.
    history : dict of array_like
        The fitted ``history_`` (entry ``l``: input of layer ``l``).
    n_layers : int
    executor : executor
        Holds the training features at the input of the first layer.

    Returns
    -------
    dict of lists
        The history of the kept layers (one entry per layer), to be continued
        by :func:`redunet._construction.construct`.
    """
    keep = min(len(layers), n_layers)
    layers.truncate(keep)
    for layer in layers:
        executor.update(layer)
    return {key: [float(v) for v in history[key][:keep]] for key in HISTORY_KEYS}


def check_combination(net, checkpoint, chunk_size, dask):
    """Whether ``net.fit`` is a warm start; refuses the combinations that are not supported.

    A warm start continues an in-memory or chunked fit; early stopping needs the
    training features in memory.
    """
    warm = bool(net.warm_start) and net.__sklearn_is_fitted__()
    if warm and net.early_stopping:
        raise ValueError("warm_start=True cannot be combined with early_stopping=True; set one "
                         "of them to False.")
    if warm and (checkpoint is not None or dask):
        raise ValueError("warm_start=True continues an in-memory or chunked fit; it cannot be "
                         "combined with 'checkpoint' or a dask array.")
    if net.early_stopping and (checkpoint is not None or chunk_size is not None or dask):
        raise ValueError("early_stopping=True applies to in-memory fits; it cannot be combined "
                         "with 'checkpoint', 'chunk_size' or a dask array.")
    return warm
