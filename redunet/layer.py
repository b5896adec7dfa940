"""One ReduNet layer on a ``(F, m, C)`` spectral batch, shared by every architecture.

Construction (SPEC sections 2, 3): from the layer's input training features,
one expansion operator ``E_f = alpha * inv(I + alpha S_f)`` with
``alpha = C / (m eps)``, and one compression operator ``C_{j,f}`` per class with
``alpha_j = C / (m_j eps)``.

Update of any feature ``v`` (training or new):
``v(f) <- v(f) + eta * (E_f v(f) - sum_j gamma_j pi_j(v) C_{j,f} v(f))``, then ``v``
is normalized over all channels and frequencies, with
``pi_j(v) = softmax_j(-lmbda * ||C_j v||)``.

The vector ReduNet is the case ``F = 1`` with real features; nothing here
knows which architecture it serves.
"""

from dataclasses import dataclass

import numpy as np

from .objective import half_mean_logdet
from ._parallel import split_map
from . import _kernels
from .operators import DenseOperator, FactorizationError, build_operator
from .spectrum import normalize, weighted_sq_norms

__all__ = ["Layer", "build_layer", "apply_layer", "group_rows", "build_and_apply_layer"]

# Largest feature count for which the fused small-feature kernel is used.
SMALL_FEATURES = 8


@dataclass
class Layer:
    """Operators of one layer.

    Attributes
    ----------
    expansion : DenseOperator or LowRankOperator
    compressions : list of DenseOperator or LowRankOperator, one per class
    gammas : ndarray of shape (K,)
        Class proportions ``m_j / m``.
    """

    expansion: object
    compressions: list
    gammas: np.ndarray

    @property
    def nbytes(self):
        return self.expansion.nbytes + sum(op.nbytes for op in self.compressions)


def group_rows(y_index, n_classes):
    """Indices of the samples of every class, as a list of int arrays."""
    order = np.argsort(y_index, kind="stable")
    bounds = np.searchsorted(y_index[order], np.arange(n_classes + 1))
    return [order[bounds[j]:bounds[j + 1]] for j in range(n_classes)]


def build_layer(V, groups, weights, eps, backend=None, describe=None):
    """Build a layer's operators from its input training features.

    Parameters
    ----------
    V : ndarray of shape (F, m, C)
        Spectral training features (unit norm over channels and frequencies).
    groups : list of int arrays
        Sample indices of every class (see :func:`group_rows`).
    weights : ndarray of shape (F,)
        Frequency weights (1, or 2 for a frequency standing for its mirror too).
    eps : float
        Squared quantization error.
    backend : {"numba", "numpy"} or None
    describe : callable or None
        ``describe(class_index, frequency)`` -> text naming them, for errors.

    Returns
    -------
    layer : Layer
    rate, compression : float
        ``R`` and ``Rc`` of the input features (SPEC sections 2, 3), computed
        from the same factorizations.
    """
    _, m, C = V.shape

    def _build(B, alpha, class_index):
        try:
            return build_operator(B, alpha, backend=backend)
        except FactorizationError as exc:
            where = describe(class_index, exc.frequency) if describe else (
                f"class {class_index}, frequency {exc.frequency}")
            raise FactorizationError(
                f"Cholesky factorization failed for {where}: the regularized covariance is "
                "not positive definite (non-finite features, or eps far too small).",
                exc.frequency,
            ) from None

    expansion, logdet = _build(V, C / (m * eps), None)
    rate = half_mean_logdet(weights, logdet)
    compressions, gammas, compression = [], np.empty(len(groups)), 0.0
    for j, rows in enumerate(groups):
        m_j = rows.shape[0]
        operator, logdet_j = _build(V[:, rows], C / (m_j * eps), j)
        compressions.append(operator)
        gammas[j] = m_j / m
        compression += gammas[j] * half_mean_logdet(weights, logdet_j)
    return Layer(expansion, compressions, gammas), rate, compression


def build_and_apply_layer(V, y_index, groups, weights, eps, eta, lmbda, backend, describe=None):
    """:func:`build_layer` then :func:`apply_layer` on the training features.

    Returns ``(layer, rate, compression, V_new)``.  With one real frequency, a
    few channels and dense operators only (e.g. the paper's 2D and 3D
    mixtures), the numba backend runs the whole layer in one fused kernel,
    since there call overhead, not arithmetic, is the cost.
    """
    n_freq, m, C = V.shape
    small = (backend == "numba" and n_freq == 1 and not np.iscomplexobj(V)
             and C <= SMALL_FEATURES and min(g.shape[0] for g in groups) >= C)
    if small:
        try:
            out, matrices, logdets, counts = _kernels.small_vector_layer(
                V[0], y_index, len(groups), float(eps), float(eta), float(lmbda))
        except np.linalg.LinAlgError:
            small = False          # the general path below reports where it failed
    if not small:
        layer, rate, compression = build_layer(V, groups, weights, eps, backend, describe)
        return layer, rate, compression, apply_layer(layer, V, weights, eta, lmbda)
    K = len(groups)
    gammas = counts[:K] / m
    layer = Layer(DenseOperator(matrices[K:]), [DenseOperator(matrices[j:j + 1]) for j in range(K)],
                  gammas)
    rate = 0.5 * logdets[K]
    compression = float(np.sum(gammas * 0.5 * logdets[:K]))
    return layer, rate, compression, out[None]


def apply_layer(layer, V, weights, eta, lmbda):
    """Apply a layer to features ``V`` (F, m, C); returns new, normalized features.

    The class-membership softmax is accumulated one class at a time with a
    running maximum (the streaming form of ``softmax``), so that no
    ``(K, F, m, C)`` array is ever formed.
    """
    weights = weights.astype(V.real.dtype)
    running_max = np.full(V.shape[1], -np.inf, dtype=V.real.dtype)
    denominator = np.zeros(V.shape[1], dtype=V.real.dtype)
    pulled = np.zeros_like(V)
    for gamma, operator in zip(layer.gammas, layer.compressions):
        compressed = operator.apply(V)
        score = -lmbda * np.sqrt(weighted_sq_norms(compressed, weights))
        new_max = np.maximum(running_max, score)
        rescale = np.exp(running_max - new_max)
        share = np.exp(score - new_max)
        denominator = denominator * rescale + share
        pulled *= rescale[None, :, None]
        compressed *= (gamma * share)[None, :, None]
        pulled += compressed
        running_max = new_max
    pulled /= denominator[None, :, None]
    out = layer.expansion.apply(V)
    out -= pulled
    out *= eta
    out += V
    return normalize(out, weights)
