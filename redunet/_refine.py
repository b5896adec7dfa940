"""Refining the layers of a fitted net with a new labelled batch (``ReduNet.partial_fit``).

Two rules, applied layer after layer; the batch goes through every refined
layer before it refines the next one.

**Accumulation** (``tau=None``, :func:`accumulate_layers`).  A layer depends on
its training features only through the counts and the per-class scatters
``S_{j,f}`` (:ref:`math-vector-layer`, :ref:`math-fft`).  The scatters of the data the layer was built
from are recovered exactly from its operators, added to those of the batch, and
the operators rebuilt with the new counts:

* dense ``P = alpha inv(I + alpha S)`` gives ``S = (inv(P / alpha) - I) / alpha``,
  from a Cholesky factor of ``P / alpha``;
* low-rank ``P = alpha (I - W W^H)`` gives ``S = W inv(I - W^H W) W^H / alpha``,
  kept as ``n`` pseudo-samples ``A^T`` with ``A A^H = S`` (a Cholesky factor of
  ``I - W^H W``), so the rebuilt operator is again low rank when that is
  cheaper.

For the first layer this is the fit on the union of the old data and the batch,
to rounding.  For a deeper layer the old data's statistics are those of its
features under the *old* earlier layers (they are not recomputed, the data
is gone), so the result approximates the fit on the union.

**Blending** (``tau`` a float, :func:`blend_layers`), the update of the
PyTorch reference implementation: the operators ``E_new``, ``C_{j,new}`` built
from the batch alone are blended into the layer's as ``E <- E + tau (E_new - E)``
(the same for every ``C_j`` of a class present in the batch), in dense form;
the class proportions ``gamma_j`` are kept.

Recovery error: the recovered scatter carries a relative error of about
``cond(I + alpha S)`` times the relative error of the stored operator (measured
in ``benchmarks/bench_model_selection.py``: 6e-16 on the 3-D Gaussian mixture,
1e-14 on rotation MNIST, 1e-12 on vector MNIST with d = 784 and eps = 0.1, float64).
Single-precision operators carry ~6e-8, so there the recovery is only as good as
``6e-8 * cond(I + alpha S)``.
"""

import numpy as np

from ._construction import HISTORY_KEYS
from ._layer import Layer, apply_layer, assemble_layer, group_rows
from ._operators import (DenseOperator, _adjoint, build_operator, build_operator_from_scatter,
                        scatter, triangular_inverse)
from ._stack import LayerStack
from ._statistics import Statistics

__all__ = ["recovered_scatter", "pseudo_samples", "accumulate_layers", "blend_layers",
           "dense_matrix", "refine", "first_batch_labels", "batch_labels"]


def _wide(array):
    return array.astype(np.result_type(array.dtype, np.float64), copy=False)


def recovered_scatter(matrix, alpha):
    """Scatters ``S_f`` (F, C, C) of a dense operator ``matrix = alpha inv(I + alpha S_f)``.

    Computed in double precision: ``inv(matrix / alpha) = L^{-H} L^{-1}`` with the
    Cholesky factor ``L`` of ``matrix / alpha``, then ``(that - I) / alpha``.
    """
    M = _wide(np.asarray(matrix)) / alpha
    M = 0.5 * (M + _adjoint(M))
    Linv = triangular_inverse(np.linalg.cholesky(M))
    inverse = np.matmul(_adjoint(Linv), Linv)
    inverse -= np.eye(M.shape[-1])
    inverse /= alpha
    return 0.5 * (inverse + _adjoint(inverse))


def pseudo_samples(factor, alpha):
    """Rows ``P`` (F, n, C) with ``P^T conj(P) = S`` for a low-rank ``alpha (I - W W^H)``.

    ``S = W inv(Q) W^H / alpha`` with ``Q = I - W^H W = R R^H`` (Cholesky), so
    ``A = W R^{-H} / sqrt(alpha)`` has ``A A^H = S``, and
    ``P = A^T = conj(R^{-1} W^H) / sqrt(alpha)`` (a solve, no inverse).
    """
    W = _wide(np.asarray(factor))
    Q = np.eye(W.shape[-1]) - np.matmul(_adjoint(W), W)
    R = np.linalg.cholesky(0.5 * (Q + _adjoint(Q)))
    return np.linalg.solve(R, _adjoint(W)).conj() / np.sqrt(alpha)


def dense_matrix(operator):
    """The ``(F, C, C)`` matrix of a dense or low-rank operator."""
    if operator.kind == "dense":
        return np.asarray(operator.matrix)
    W = np.asarray(operator.factor)
    return operator.alpha * (np.eye(W.shape[-2], dtype=W.dtype) - np.matmul(W, _adjoint(W)))


def _merged(operator, old_count, B, alpha, n_channels, eps, backend):
    """Operator of the old statistics (recovered from ``operator``) plus the samples ``B``."""
    old_alpha = n_channels / (old_count * eps)
    if operator.kind == "lowrank":
        P = pseudo_samples(operator.factor, operator.alpha).astype(B.dtype)
        return build_operator(np.concatenate([P, B], axis=1), alpha, backend=backend)
    S = recovered_scatter(operator.matrix, old_alpha) + scatter(_wide(B))
    return build_operator_from_scatter(S.astype(B.dtype), alpha, backend)


def accumulate_layers(layers, counts, V, y_index, weights, eps, eta, lmbda, backend,
                      describe=None):
    """Refine every layer by adding the batch's statistics to the recovered ones.

    Parameters
    ----------
    layers : sequence of Layer
    counts : ndarray of int64, shape (K,)
        Samples per class the layers were built from.
    V : ndarray of shape (F, n, C)
        The batch's features at the input of the first layer.
    y_index : ndarray of int64, shape (n,)
        Class indices of the batch.
    weights, eps, eta, lmbda, backend
        As in :func:`redunet._layer.build_and_apply_layer`.
    describe : callable or None
        ``describe(layer_index, class_index, frequency)`` for error messages.

    Returns
    -------
    new_layers : list of Layer
    rates : list of (float, float)
        ``(R, Rc)`` of every layer's accumulated statistics.
    V : ndarray of shape (F, n, C)
        The batch's features after the refined layers.
    new_counts : ndarray of int64, shape (K,)
    """
    n_classes = counts.shape[0]
    groups = group_rows(y_index, n_classes)
    new_counts = counts + np.bincount(y_index, minlength=n_classes)
    n_channels = V.shape[2]
    new_layers, rates = [], []
    for index, layer in enumerate(layers):
        def make(class_index, alpha, layer=layer):
            if class_index is None:
                return _merged(layer.expansion, counts.sum(), V, alpha, n_channels, eps, backend)
            return _merged(layer.compressions[class_index], counts[class_index],
                           V[:, groups[class_index]], alpha, n_channels, eps, backend)

        where = None if describe is None else (lambda j, f, index=index: describe(index, j, f))
        refined, rate, compression = assemble_layer(make, new_counts, n_channels, weights, eps,
                                                    where)
        new_layers.append(refined)
        rates.append((rate, compression))
        V = apply_layer(refined, V, weights, eta, lmbda, backend)
    return new_layers, rates, V, new_counts


def blend_layers(layers, V, y_index, tau, weights, eps, eta, lmbda, backend):
    """Blend every layer towards the operators of the batch alone: ``P <- P + tau (P_new - P)``.

    Parameters
    ----------
    layers : sequence of Layer
    V : ndarray of shape (F, n, C)
        The batch's features at the input of the first layer.
    y_index : ndarray of int64, shape (n,)
    tau : float
        Blending weight in (0, 1].
    weights, eps, eta, lmbda, backend
        As in :func:`redunet._layer.build_and_apply_layer`.

    Returns
    -------
    new_layers : list of Layer
        Dense operators; a class absent from the batch keeps its operator.
    V : ndarray of shape (F, n, C)
        The batch's features after the blended layers.
    """
    n_channels = V.shape[2]
    groups = group_rows(y_index, len(layers[0].compressions) if layers else 0)

    def blended(operator, B):
        fresh, _ = build_operator(B, float(n_channels / (B.shape[1] * eps)), backend=backend)
        old = dense_matrix(operator)
        return DenseOperator(old + tau * (dense_matrix(fresh) - old))

    new_layers = []
    for layer in layers:
        compressions = [op if rows.size == 0 else blended(op, V[:, rows])
                        for op, rows in zip(layer.compressions, groups)]
        refined = Layer(blended(layer.expansion, V), compressions, layer.gammas)
        new_layers.append(refined)
        V = apply_layer(refined, V, weights, eta, lmbda, backend)
    return new_layers, V


def refine(layers, stats, V, y_index, tau, weights, eps, eta, lmbda, backend, describe=None):
    """Refine ``layers`` with a batch by accumulation (``tau=None``) or blending.

    Parameters
    ----------
    layers : sequence of Layer
    stats : Statistics
        Counts and scatters of the final training features so far.
    V : ndarray of shape (F, n, C)
        The batch's features at the input of the first layer.
    y_index : ndarray of int64, shape (n,)
    tau : float or None
    weights, eps, eta, lmbda, backend, describe
        As in :func:`accumulate_layers`.

    Returns
    -------
    layers : LayerStack
    history : dict of lists or None
        With ``tau=None``: ``"rate"``, ``"compression"``, ``"delta_r"`` of every
        layer's accumulated statistics, then of the final ones; None otherwise.
    stats : Statistics
        ``stats`` plus the counts and scatters of the batch's final features
        (no gathered samples).
    """
    history = None
    if tau is None:
        refined, rates, V, _ = accumulate_layers(list(layers), stats.counts, V, y_index,
                                                 weights, eps, eta, lmbda, backend, describe)
    else:
        refined, V = blend_layers(list(layers), V, y_index, tau, weights, eps, eta, lmbda,
                                  backend)
    batch = Statistics.of(V, y_index, stats.counts.shape[0])
    stats = Statistics(stats.scatters + batch.scatters.reshape(stats.scatters.shape),
                       stats.counts + batch.counts)
    if tau is None:
        history = {key: [] for key in HISTORY_KEYS}
        for rate, compression in rates + [stats.rates(weights, eps)]:
            history["rate"].append(rate)
            history["compression"].append(compression)
            history["delta_r"].append(rate - compression)
    stack = LayerStack()
    for layer in refined:
        stack.append(layer)
    return stack, history, stats


def first_batch_labels(y, classes):
    """``y`` of the first ``partial_fit`` batch, after checking ``classes`` are its labels."""
    if classes is not None:
        given, present = np.unique(np.asarray(classes)), np.unique(np.asarray(y))
        if given.shape != present.shape or not np.all(given == present):
            raise ValueError(
                "The first partial_fit of a ReduNet builds the net from its batch, which "
                "needs samples of every class: expected the labels of 'y' to be exactly "
                f"'classes' {given.tolist()!r}. Got labels {present.tolist()!r}.")
    return y


def batch_labels(y, n_samples, fitted_classes, classes=None):
    """Class indices of a later batch's labels (all among ``fitted_classes``)."""
    if classes is not None:
        given = np.unique(np.asarray(classes))
        if given.shape != fitted_classes.shape or not np.all(given == fitted_classes):
            raise ValueError(f"Expected 'classes' to equal the classes of the fitted net "
                             f"{fitted_classes.tolist()!r}. Got {given.tolist()!r}.")
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(f"Expected 'y' to be a 1D array with one label per sample of X "
                         f"({n_samples}). Got shape {labels.shape} instead.")
    unknown = ~np.isin(labels, fitted_classes)
    if np.any(unknown):
        raise ValueError(
            f"Expected the labels in 'y' to be among the classes of the fitted net "
            f"{fitted_classes.tolist()!r}. Got unknown label(s) "
            f"{np.unique(labels[unknown])[:5].tolist()!r}.")
    return np.searchsorted(fitted_classes, labels).astype(np.int64)
