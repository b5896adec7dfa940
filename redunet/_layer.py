"""One ReduNet layer on a ``(F, m, C)`` spectral batch, shared by every architecture.

Construction (:ref:`math-vector-layer`, :ref:`math-fft`): from the layer's input training features,
one expansion operator ``E_f = alpha * inv(I + alpha S_f)`` with
``alpha = C / (m eps)``, and one compression operator ``C_{j,f}`` per class with
``alpha_j = C / (m_j eps)``.

Update of any feature ``v`` (training or new):
``v(f) <- v(f) + eta * (E_f v(f) - sum_j gamma_j pi_j(v) C_{j,f} v(f))``, then ``v``
is normalized over all channels and frequencies, with
``pi_j(v) = softmax_j(-lmbda * ||C_j v||)``.

The vector ReduNet is the case ``F = 1`` with real features; nothing here
knows which architecture it serves.

With the numba backend a layer is applied from its operators stacked side by
side for one product per frequency, or for a few channels by one fused kernel
that also gives the class scatters of the new features (the statistics of the
next layer) in the same pass: :mod:`redunet._stacked`.  ``ReduNet.transform``
keeps every layer's stacked operators with the fitted net (:func:`kept_stack`).
The NumPy backend applies the operators one by one (:func:`_apply_block`), the
reference the fast paths are tested against.
"""

import weakref
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._config import SMALL_FEATURES, resolve_backend
from ._parallel import split_map
from ._objective import half_mean_logdet
from ._operators import FactorizationError, build_operator, flush_tiny
from ._spectrum import normalize, sq_magnitude, weighted_sq_norms
from ._stacked import apply_fused, apply_packed, apply_stacked, stacked_operators

__all__ = ["Layer", "build_layer", "apply_layer", "group_rows", "assemble_layer",
           "is_small_vector", "prepared_stack", "kept_stack", "forget_stacks"]

def is_small_vector(n_frequencies, n_channels, complex_, backend):
    """Whether features of this shape go through the compiled small vector kernels.

    With one real frequency and a few channels (e.g. the paper's 2D and 3D
    mixtures) a layer costs call overhead, not arithmetic, so its statistics,
    operators and update each run in one compiled call
    (``redunet._kernels.small_vector_*``), for training and new samples alike.
    """
    return (backend == "numba" and n_frequencies == 1 and not complex_
            and n_channels <= SMALL_FEATURES)


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
        ``R`` and ``Rc`` of the input features (:ref:`math-objective`), computed
        from the same factorizations.
    """
    def make(class_index, alpha):
        B = V if class_index is None else V[:, groups[class_index]]
        return build_operator(B, alpha, backend=backend)

    counts = np.array([rows.shape[0] for rows in groups])
    return assemble_layer(make, counts, V.shape[2], weights, eps, describe)


def assemble_layer(make, counts, n_channels, weights, eps, describe=None):
    """Operators and objective of a layer, from any source of operators.

    Parameters
    ----------
    make : callable
        ``make(class_index, alpha) -> (operator, logdet)``; ``class_index`` is
        None for the expansion operator (all samples).
    counts : ndarray of shape (K,)
        Samples per class.
    n_channels : int
        ``C`` (``d`` for the vector arch).
    weights, eps, describe
        As in :func:`build_layer`.

    Returns
    -------
    layer : Layer
    rate, compression : float
    """
    m = int(counts.sum())

    def build(class_index, alpha):
        try:
            return make(class_index, alpha)
        except FactorizationError as exc:
            where = describe(class_index, exc.frequency) if describe else (
                f"class {class_index}, frequency {exc.frequency}")
            raise FactorizationError(
                f"Cholesky factorization failed for {where}: the regularized covariance is "
                "not positive definite (non-finite features, or eps far too small).",
                exc.frequency,
            ) from None

    # Python floats: a NumPy float64 scalar would promote float32 features to float64.
    expansion, logdet = build(None, float(n_channels / (m * eps)))
    rate = half_mean_logdet(weights, logdet)
    compressions, gammas, compression = [], counts / m, 0.0
    for j, m_j in enumerate(counts):
        operator, logdet_j = build(j, float(n_channels / (m_j * eps)))
        compressions.append(operator)
        compression += gammas[j] * half_mean_logdet(weights, logdet_j)
    return Layer(expansion, compressions, gammas), rate, compression


def apply_layer(layer, V, weights, eta, lmbda, backend=None, classes=None, out=None,
                stack=None):
    """Apply a layer to features ``V`` (F, m, C); returns new, normalized features.

    Samples are independent, so blocks of them run in parallel threads.  A
    dense layer of few vector features runs in one compiled kernel (see
    :func:`is_small_vector`), whichever way it was built.  Otherwise, with the
    numba backend the class operators are applied as one stacked product per
    frequency (:func:`redunet._stacked.stacked_operators`), in sample blocks sized to the cache;
    the NumPy backend applies them one by one (:func:`_apply_block`).

    With ``classes = (y_index, n_classes)`` (class index of every sample of
    ``V``), returns ``(new features, scatters)``: the per-class scatters
    ``(n_classes, F, C, C)`` of the new features where the fused small-channel
    kernel computes them in the same pass (:func:`redunet._kernels.dense_layer`),
    else None (the caller computes them).

    ``out`` (an array like ``V``, or None for a new one) receives the new
    features; it may be ``V`` itself: every block of samples is read before
    any of it is written, so the update is then done in place.

    ``stack``, if given, is the layer's :func:`prepared_stack` for features of
    this shape and dtype, built once for many calls (e.g. every chunk of
    samples of ``ReduNet.transform``); by default it is built here.
    """
    backend = resolve_backend(backend)
    if out is None:
        out = np.empty(V.shape, dtype=V.dtype)
    elif out.shape != V.shape or out.dtype != V.dtype:
        raise ValueError(f"Expected 'out' of shape {V.shape} and dtype {V.dtype}. "
                         f"Got shape {out.shape} and dtype {out.dtype} instead.")
    scatters = _apply(layer, V, weights, eta, lmbda, backend, classes, out, stack)
    return out if classes is None else (out, scatters)


def _apply(layer, V, weights, eta, lmbda, backend, classes, out, stack):
    """:func:`apply_layer` into ``out``; returns the class scatters of ``out`` or None."""
    if _runs_small_vector(layer, V.shape, V.dtype, backend):
        stacked = np.concatenate([op.matrix for op in layer.compressions]
                                 + [layer.expansion.matrix]).astype(V.dtype, copy=False)
        out[0] = _kernels.small_vector_apply(np.ascontiguousarray(V[0]), stacked,
                                             np.asarray(layer.gammas, dtype=float), float(eta),
                                             float(lmbda))
        flush_tiny(out)
        return None
    cost = layer.expansion.cost + sum(op.cost for op in layer.compressions)
    if stack is None:
        stack = prepared_stack(layer, V.shape, V.dtype, backend)
    if stack is not None and stack.fused:
        return apply_fused(stack, V, weights, eta, lmbda, classes, out, cost)
    if stack is not None:
        # The stacked kernels read and write whole rows of C-contiguous batches.
        V = np.ascontiguousarray(V)
        target = out if out.flags.c_contiguous else np.empty(V.shape, dtype=V.dtype)
        apply = apply_packed if stack.kind == "packed" else apply_stacked

        def block(samples):
            # blocks of equal size, none above block_size()
            n = samples.stop - samples.start
            if n <= 0:
                return
            count = -(-n // stack.block_size())
            bounds = samples.start + (np.arange(count + 1) * n) // count
            for first, stop in zip(bounds[:-1], bounds[1:]):
                apply(stack, V, int(first), int(stop), weights, eta, lmbda, target)

        split_map(block, V.shape[1], work_per_item=V.shape[0] * cost)
        if target is not out:
            out[...] = target
        return None                 # the stacked step flushes tiny single-precision entries

    def block(samples):
        out[:, samples] = _apply_block(layer, V[:, samples], weights, eta, lmbda, backend)

    split_map(block, V.shape[1], work_per_item=V.shape[0] * cost)
    flush_tiny(out)
    return None


# Bytes of stacked operators a fitted ReduNet keeps for its later transform calls (a copy of its
# layers' operators; beyond this, the remaining layers' are prepared again at every chunk).
STACK_CACHE_BYTES = 2 * 2**30
def prepared_stack(layer, shape, dtype, backend=None):
    """The stacked operators :func:`apply_layer` uses for features of ``shape`` (F, m, C)
    and ``dtype``, or None where it uses none (NumPy backend, small vector layers, a
    low-rank expansion operator).

    A copy of the layer's operators in ``dtype``: built once, it serves every
    call of :func:`apply_layer` on such features.
    """
    backend = resolve_backend(backend)
    if backend != "numba" or _runs_small_vector(layer, shape, dtype, backend):
        return None
    return stacked_operators(layer, dtype)


def _runs_small_vector(layer, shape, dtype, backend):
    """Whether :func:`apply_layer` runs ``layer`` on features of ``shape`` (F, m, C) and
    ``dtype`` through the small vector kernel (:func:`is_small_vector`, dense operators)."""
    return (is_small_vector(shape[0], shape[2], np.dtype(dtype).kind == "c", backend)
            and layer.expansion.kind == "dense"
            and all(op.kind == "dense" for op in layer.compressions))


# Prepared stacks kept per sequence of layers (a fitted net's ``layers_``), for its later calls.
_KEPT = weakref.WeakKeyDictionary()


def kept_stack(layers, index, shape, dtype, backend=None):
    """:func:`prepared_stack` of ``layers[index]``, kept with the sequence ``layers``.

    The copies live as long as ``layers`` (or until :func:`forget_stacks`),
    up to ``STACK_CACHE_BYTES`` per sequence (beyond it, they are prepared
    at every call); nothing is added to the estimator nor saved with it.
    """
    backend = resolve_backend(backend)
    kept = _KEPT.setdefault(layers, {"bytes": 0})
    key = (index, np.dtype(dtype).str, tuple(shape[::2]), backend)
    if key in kept:
        return kept[key]
    stack = prepared_stack(layers[index], shape, dtype, backend)
    size = 0 if stack is None else stack.nbytes
    if kept["bytes"] + size <= STACK_CACHE_BYTES:
        kept[key] = stack
        kept["bytes"] += size
    return stack


def forget_stacks(layers):
    """Drop the stacks kept for ``layers`` (its layers are about to change)."""
    _KEPT.pop(layers, None)


def _apply_block(layer, V, weights, eta, lmbda, backend):
    """:func:`apply_layer` on one block of samples.

    Membership scores come first: a low-rank class's norm ``||C_j v||`` follows
    from its coefficients ``W^H v`` alone (``LowRankOperator.sq_norms``), a dense
    class's from its product.  The softmax over classes is accumulated with a
    running maximum, so dense products are used once and no ``(K, F, m, C)``
    array is formed; low-rank classes enter the step at the end as one
    matrix product with their stacked factors.
    """
    real = V.real.dtype
    weights = weights.astype(real)
    power = sq_magnitude(V).sum(axis=-1)                       # (F, m)
    m = V.shape[1]
    low_rank = [j for j, op in enumerate(layer.compressions) if op.kind == "lowrank"]
    dense = [j for j, op in enumerate(layer.compressions) if op.kind == "dense"]
    scores = np.empty((len(layer.compressions), m))
    if low_rank:
        # One product for the coefficients of every low-rank class (stacked factors).
        factors = np.concatenate([layer.compressions[j].factor for j in low_rank], axis=-1)
        stacked = np.matmul(V, factors.conj())                 # (F, m, sum of ranks)
        bounds = np.cumsum([0] + [layer.compressions[j].factor.shape[-1] for j in low_rank])
        for j, start, stop in zip(low_rank, bounds[:-1], bounds[1:]):
            op = layer.compressions[j]
            sq = op.sq_norms(stacked[..., start:stop], power, weights, backend)
            scores[j] = -lmbda * np.sqrt(sq)
    top = scores[low_rank].max(axis=0) if low_rank else np.full(m, -np.inf)
    denominator = np.exp(scores[low_rank] - top).sum(axis=0) if low_rank else np.zeros(m)
    step = layer.expansion.apply(V)                            # E v, then minus the pull
    pulled = None
    for j in dense:
        compressed = layer.compressions[j].apply(V)
        scores[j] = -lmbda * np.sqrt(weighted_sq_norms(compressed, weights))
        new_top = np.maximum(top, scores[j])
        rescale, share = np.exp(top - new_top), np.exp(scores[j] - new_top)
        denominator = denominator * rescale + share
        compressed *= (layer.gammas[j] * share).astype(real)[None, :, None]
        if pulled is None:
            pulled = compressed
        else:
            pulled *= rescale.astype(real)[None, :, None]
            pulled += compressed
        top = new_top
    if pulled is not None:
        pulled *= (1.0 / denominator).astype(real)[None, :, None]
        step -= pulled
    # Low-rank pull: sum_j s_j alpha_j (v - W_j c_j) = (sum_j s_j alpha_j) v - [W_j] [s_j alpha_j c_j]
    shrink = np.zeros(m)
    if low_rank:
        scale = np.empty((m, stacked.shape[-1]), dtype=real)
        for j, start, stop in zip(low_rank, bounds[:-1], bounds[1:]):
            share = (layer.gammas[j] * layer.compressions[j].alpha
                     * np.exp(scores[j] - top) / denominator)
            shrink += share
            scale[:, start:stop] = share[:, None]
        stacked *= scale[None]
        step += np.matmul(stacked, factors.swapaxes(-1, -2))
    if backend == "numba":
        return _kernels.step_and_normalize(V, step, shrink.astype(real), weights, float(eta))
    step *= eta
    step += V * (1.0 - eta * shrink).astype(real)[None, :, None]
    return normalize(step, weights)
