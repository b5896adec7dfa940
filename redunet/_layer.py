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
side (:class:`StackedOperators`): per frequency one product of a block of
samples with ``[E, C_1, ..., C_K]`` (low-rank classes by factors with
orthogonal columns) gives ``E v``, every ``C_j v`` or coefficient ``U_j^H v``,
and from it the membership norms and the pull; for a few channels and dense
operators the whole update is one fused kernel, which also gives the class
scatters of the new features (the statistics of the next layer) in the same
pass.  ``ReduNet.transform`` keeps every layer's stacked operators with the
fitted net (:func:`kept_stack`).  The NumPy backend applies the operators one
by one (:func:`_apply_block`), the reference the fast paths are tested against.
"""

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._config import SMALL_FEATURES, resolve_backend
from ._parallel import split_map
from ._objective import half_mean_logdet
from ._operators import FactorizationError, build_operator, flush_tiny, orthogonal_columns
from ._spectrum import normalize, sq_magnitude, weighted_sq_norms

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
    frequency (:func:`stacked_operators`), in sample blocks sized to the cache;
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
    if (is_small_vector(V.shape[0], V.shape[2], V.dtype.kind == "c", backend)
            and layer.expansion.kind == "dense"
            and all(op.kind == "dense" for op in layer.compressions)):
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
        return _apply_fused(stack, V, weights, eta, lmbda, classes, out, cost)
    if stack is not None:
        # The stacked kernels read and write whole rows of C-contiguous batches.
        V = np.ascontiguousarray(V)
        target = out if out.flags.c_contiguous else np.empty(V.shape, dtype=V.dtype)

        def block(samples):
            # blocks of equal size, none above block_size()
            n = samples.stop - samples.start
            if n <= 0:
                return
            count = -(-n // stack.block_size())
            bounds = samples.start + (np.arange(count + 1) * n) // count
            for first, stop in zip(bounds[:-1], bounds[1:]):
                _apply_stacked(stack, V, int(first), int(stop), weights, eta, lmbda, target)

        split_map(block, V.shape[1], work_per_item=V.shape[0] * cost)
        if target is not out:
            out[...] = target
        return None                 # the stacked step flushes tiny single-precision entries

    def block(samples):
        out[:, samples] = _apply_block(layer, V[:, samples], weights, eta, lmbda, backend)

    split_map(block, V.shape[1], work_per_item=V.shape[0] * cost)
    flush_tiny(out)
    return None


def _apply_fused(stack, V, weights, eta, lmbda, classes, out, cost):
    """The fused small-channel kernel on blocks of samples in parallel threads.

    Every thread takes blocks of consecutive samples; with ``classes``, the
    samples of a block class by class, so that the kernel adds the scatters of
    each class's new features in the same pass (one array per thread, summed
    at the end).
    """
    n_freq, m, C = V.shape
    weights = weights.astype(np.float64)
    unit = 1j if V.dtype.kind == "c" else 0.0
    channels = _kernels.channel_token(C)
    operators = _kernels.channel_token(stack.fused_matrices.shape[1])
    size = stack.block_size()

    def block(samples):
        n = samples.stop - samples.start
        n_blocks = max(1, -(-n // size))
        blocks = (np.arange(n_blocks + 1) * n) // n_blocks     # consecutive samples, even sizes
        order = np.arange(samples.start, samples.stop, dtype=np.int64)
        if classes is None:
            labels = order
            scatters = np.empty((0, n_freq, C, C), dtype=V.dtype)
        else:
            # inside every block, the samples class by class
            labels = classes[0][samples].astype(np.int64)
            within = np.argsort(np.repeat(np.arange(n_blocks), np.diff(blocks)) * classes[1]
                                + labels, kind="stable")
            order, labels = order[within], labels[within]
            scatters = np.zeros((classes[1], n_freq, C, C), dtype=V.dtype)
        work = _scratch("fused", (4 * n_freq * C * max(1, int(np.diff(blocks).max())),),
                        V.real.dtype)
        _kernels.dense_layer(V, stack.fused_matrices, stack.fused_norms, stack.gammas, weights,
                             float(eta), float(lmbda), order, blocks.astype(np.int64), labels,
                             out, unit, scatters, work, channels, operators)
        return scatters

    parts = split_map(block, m, work_per_item=n_freq * cost)
    flush_tiny(out)
    return sum(parts[1:], parts[0]) if classes is not None else None


# Bytes of stacked operators a fitted ReduNet keeps for its later transform calls (a copy of its
# layers' operators; beyond this, the remaining layers' are prepared again at every chunk).
STACK_CACHE_BYTES = 2 * 2**30
# Largest channel count for which a layer of dense operators runs as one fused kernel
# (beyond it, BLAS products of the stacked operators are faster).
FUSED_CHANNELS = 12
# Bytes of the stacked products of one block of samples for BLAS products (a per-thread
# scratch buffer): the products of a chunk of frequencies are consumed while in cache (norms),
# the step reads the whole block once more.
BLOCK_BYTES = 64 * 2**20
# Fewest samples per block of BLAS products: the batched products run far from the peak on
# fewer rows (single-thread complex64 here: ~70 GFLOP/s on 32 rows, ~84 on 128).
MIN_BLOCK = 128
# Bytes of the fused kernel's buffers: a block's input and output spectra, transposed.
# Longer blocks make longer vectorized loops (fewer loop overheads per sample); the
# buffers are read in order, frequency after frequency, so they need not fit a cache.
FUSED_BLOCK_BYTES = 8 * 2**20
# Samples per block of the fused kernel: its innermost, vectorized loop (a multiple of 8).
FUSED_MIN_BLOCK, FUSED_MAX_BLOCK = 8, 128
# Bytes of the products of one chunk of frequencies (a share of the second-level cache):
# the dense classes' norms are taken from a chunk right after its product.
CHUNK_BYTES = 512 * 2**10


class StackedOperators:
    """A layer's operators laid out for one product per frequency (see :func:`stacked_operators`).

    Attributes
    ----------
    matrix : ndarray of shape (F, C, N)
        ``[E^T, C_j^T (dense classes), conj(U_j) (low-rank classes)]`` side by
        side, so that ``V[f] @ matrix[f]`` gives every ``E v``, ``C_j v`` and
        low-rank coefficient ``U_j^H v`` of a block of samples at once (rows of
        ``V[f]`` are samples).  ``N = C (1 + dense classes) + sum of ranks``.
        ``U_j = W_j Q_j`` spans the factor ``W_j`` of the class operator
        ``alpha_j (I - W_j W_j^H)`` with orthogonal columns (``U_j U_j^H = W_j W_j^H``).
    dense, low_rank : list of int
        Class indices of each kind, in their order inside ``matrix``.
    offsets : ndarray of int64
        First column of every dense class.
    bounds : list of (start, stop)
        Columns of every low-rank class's coefficients.
    scales : ndarray of shape (F, pair * sum of ranks)
        ``||u_a||^2 - 2`` for every low-rank coefficient, repeated for its real
        and imaginary parts (``pair`` = 2 for complex features, else 1).
    fused_matrices : ndarray of shape (F, K + 1, C, C) or None
        ``E, C_1 .. C_K`` for the fused small-channel kernel (all dense, few channels).
    fused_norms : ndarray of shape (F, K, C, C)
        ``C_j^H C_j`` (fused kernel only): ``||C_j v||^2 = v^H C_j^H C_j v``.

    Built from the public attributes of the operators (``kind``, ``matrix``,
    ``factor``, ``alpha``): a copy of the layer's operators in the features'
    dtype, built once per :func:`apply_layer` call or kept for many
    (:func:`prepared_stack`).
    """

    def __init__(self, layer, dtype):
        expansion, ops = layer.expansion, layer.compressions
        self.gammas = np.asarray(layer.gammas, dtype=np.float64)
        self.dense = [j for j, op in enumerate(ops) if op.kind == "dense"]
        self.low_rank = [j for j, op in enumerate(ops) if op.kind == "lowrank"]
        self.alphas = np.array([ops[j].alpha for j in self.low_rank])
        self.ops = ops
        C = expansion.matrix.shape[-1]
        self.n_channels = C
        self.n_freq = expansion.matrix.shape[0]
        self.itemsize = np.dtype(dtype).itemsize
        self.fused_matrices = None
        if not self.low_rank and C <= FUSED_CHANNELS:
            self.fused_matrices = np.ascontiguousarray(np.stack(
                [expansion.matrix] + [ops[j].matrix for j in self.dense], axis=1), dtype=dtype)
            compressions = self.fused_matrices[:, 1:]
            self.fused_norms = np.ascontiguousarray(
                np.matmul(compressions.conj().swapaxes(-1, -2), compressions))
            self.width = (len(ops) + 1) * C
            return
        # The operators are Hermitian, so E^T = conj(E) and C_j^T = conj(C_j): the stored
        # arrays conjugated into their columns, with no transposition.
        blocks = [expansion.matrix] + [ops[j].matrix for j in self.dense]
        # Low-rank classes by a factor with orthogonal columns (see orthogonal_columns: the
        # fit builds them so, and only factors of other origin are turned), so
        # that their norms are weighted sums of squares of the coefficients.
        diagonals = [orthogonal_columns(ops[j].factor) for j in self.low_rank]
        blocks += [factor for factor, _ in diagonals]
        widths = [block.shape[-1] for block in blocks]
        self.matrix = np.empty((self.n_freq, C, sum(widths)), dtype=dtype)
        start = 0
        for block, width in zip(blocks, widths):
            np.conjugate(block, out=self.matrix[..., start:start + width], casting="same_kind")
            start += width
        self.width = self.matrix.shape[-1]
        # Complex products are handled as their real views (real and imaginary parts
        # interleaved): ``pair`` reals per entry.
        self.pair = 2 if self.matrix.dtype.kind == "c" else 1
        self.offsets = np.arange(1, len(self.dense) + 1, dtype=np.int64) * C
        start = C * (len(self.dense) + 1)
        self.bounds = []
        for j in self.low_rank:
            rank = ops[j].factor.shape[-1]
            self.bounds.append((start, start + rank))
            start += rank
        self.starts = np.array([start for start, _ in self.bounds], dtype=np.int64)
        self.ranks = np.array([stop - start for start, stop in self.bounds], dtype=np.int64)
        # ||C_j v||^2 / alpha_j^2 = ||v||^2 + sum_a (lambda_a - 2) |e_a|^2 with e = U_j^H v
        # the coefficients and lambda_a = ||u_a||^2: per frequency, one scale per coefficient,
        # repeated for the real and imaginary parts of the real view.
        self.scales = np.zeros((self.n_freq, (self.width - self.bounds[0][0]) * self.pair)
                               if self.low_rank else (self.n_freq, 0))
        if self.low_rank:
            self.scales[:] = np.repeat(np.concatenate([lam for _, lam in diagonals], axis=-1) - 2.0,
                                       self.pair, axis=-1)
        self.low_offsets = self.starts * self.pair
        if self.low_rank:
            # The pull of the low-rank classes, sum_j U_j (s_j alpha_j e_j), from the stored
            # conj(U_j) columns as a transposed view: in row form conj(s e_j)^T conj(U_j)^T is
            # the conjugate of the pull (see _apply_stacked).
            self.factors_t = self.matrix[..., self.bounds[0][0]:].swapaxes(-1, -2)
            self.extra_signs = np.ones(C * self.pair)
            if self.pair == 2:
                self.extra_signs[1::2] = -1.0

    @property
    def nbytes(self):
        """Bytes held by the stacked copy of the operators."""
        held = self.fused_matrices if self.fused else self.matrix
        return held.nbytes + (0 if self.fused else self.scales.nbytes)

    @property
    def fused(self):
        return self.fused_matrices is not None

    def block_size(self):
        """Samples per block: the stacked products of a block fill about ``BLOCK_BYTES``
        (the fused kernel's buffers ``FUSED_BLOCK_BYTES``)."""
        if self.fused:
            per_sample = 2 * self.n_freq * self.n_channels * self.itemsize
            size = FUSED_BLOCK_BYTES // per_sample // 8 * 8
            return min(FUSED_MAX_BLOCK, max(FUSED_MIN_BLOCK, size))
        per_sample = self.n_freq * self.width * self.itemsize
        return max(MIN_BLOCK, BLOCK_BYTES // per_sample)


def prepared_stack(layer, shape, dtype, backend=None):
    """The stacked operators :func:`apply_layer` uses for features of ``shape`` (F, m, C)
    and ``dtype``, or None where it uses none (NumPy backend, small vector layers, a
    low-rank expansion operator).

    A copy of the layer's operators in ``dtype``: built once, it serves every
    call of :func:`apply_layer` on such features.
    """
    backend = resolve_backend(backend)
    if backend != "numba" or (
            is_small_vector(shape[0], shape[2], np.dtype(dtype).kind == "c", backend)
            and layer.expansion.kind == "dense"
            and all(op.kind == "dense" for op in layer.compressions)):
        return None
    return stacked_operators(layer, dtype)


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


def stacked_operators(layer, dtype):
    """The operators of ``layer`` stacked for one product per frequency, in ``dtype``.

    Returns None when the expansion operator is low rank (tiny training sets);
    the one-by-one path handles that case.
    """
    if layer.expansion.kind != "dense":
        return None
    return StackedOperators(layer, dtype)


_SCRATCH = threading.local()


def _scratch(name, shape, dtype):
    """A C-contiguous scratch array of this thread, reused from call to call.

    The stacked products of a block, or the fused kernel's transposed buffers,
    are megabytes; taking fresh memory for them at every block costs a page
    fault per page.  Each thread keeps its largest buffer of each name (about
    ``BLOCK_BYTES`` or ``FUSED_BLOCK_BYTES``).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffers = _SCRATCH.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = buffers[name] = np.empty(max(nbytes, 1), dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def _real(array):
    """Real view of a complex array (parts interleaved along the last axis); real arrays as is."""
    return array.view(array.real.dtype) if array.dtype.kind == "c" else array


def _apply_stacked(stack, V, first, stop, weights, eta, lmbda, out):
    """:func:`apply_layer` on samples ``first:stop`` of ``V`` from one stacked product, into
    ``out`` (both C-contiguous).

    ``P = V[f] @ [E^T, C_j^T, conj(U_j)]`` holds ``E v``, the dense classes'
    ``C_j v`` and the low-rank classes' coefficients ``e_j = U_j^H v``; the
    memberships come from it (dense: ``||C_j v||``; low rank: a weighted sum
    of ``|e_j|^2``, see :class:`StackedOperators`), taken per chunk of
    frequencies while its products are in cache, and the low-rank part of
    the pull, ``sum_j s_j alpha_j (v - U_j e_j)``, is one more product with
    ``[U_j^T]``.  The elementwise passes run on real views, so their
    innermost loops are contiguous; in single precision the step flushes tiny
    entries itself.
    """
    real = V.real.dtype
    weights = weights.astype(np.float64)
    n_classes, B = len(stack.ops), stop - first
    pair = stack.pair
    block = V[:, first:stop]
    P = _scratch("products", (V.shape[0], B, stack.width), V.dtype)     # (F, B, N)
    flat = _real(P)
    sq = np.zeros((len(stack.dense), B))
    low_sq = np.zeros((len(stack.low_rank), B))
    offsets = stack.offsets * pair
    # Frequencies in chunks whose products fit the second-level cache: the classes' norms
    # are taken while the chunk is still there.
    step = max(1, CHUNK_BYTES // (B * stack.width * P.itemsize))
    for start in range(0, V.shape[0], step):
        chunk = slice(start, start + step)
        np.matmul(block[chunk], stack.matrix[chunk], out=P[chunk])
        if stack.dense:
            _kernels.stacked_sq_norms(flat[chunk], offsets, stack.n_channels * pair,
                                      weights[chunk], sq)
        if stack.low_rank:
            _kernels.stacked_lowrank_sq_norms(_real(V)[chunk], flat[chunk], stack.low_offsets,
                                              stack.ranks * pair, stack.scales[chunk],
                                              weights[chunk], first, low_sq)
    scores = np.empty((n_classes, B))
    if stack.dense:
        scores[stack.dense] = -lmbda * np.sqrt(sq)
    if stack.low_rank:
        scores[stack.low_rank] = -lmbda * stack.alphas[:, None] * np.sqrt(np.maximum(low_sq, 0.0))
    scores -= scores.max(axis=0)
    np.exp(scores, out=scores)
    scores *= stack.gammas[:, None] / scores.sum(axis=0)
    shrink = np.zeros(B)
    extra = np.empty((0, 0, 0), dtype=real)
    signs = np.ones(0)
    if stack.low_rank:
        # sum_j s_j alpha_j (v - U_j e_j): the U_j e_j part as one product with the stored
        # conj(U_j) columns, conj(s e)^T conj(U)^T = conj((U s e)^T); so the coefficients
        # are scaled into their conjugates (the imaginary parts by -s) and the step adds the
        # conjugate of the product back.
        coefficients = P[..., stack.bounds[0][0]:]
        shares = scores[stack.low_rank] * stack.alphas[:, None]        # (K_low, B)
        shrink += shares.sum(axis=0)
        # One factor per sample and real coefficient: s_j alpha_j on real parts, its
        # negative on imaginary parts; one pass over the coefficients.
        factors = np.repeat(shares.T.astype(real), stack.ranks * pair, axis=1)   # (B, pair R)
        if pair == 2:
            factors[:, 1::2] *= -1.0
        _real(coefficients)[...] *= factors
        extra = _scratch("pull", block.shape, V.dtype)
        np.matmul(coefficients, stack.factors_t, out=extra)
        extra, signs = _real(extra), stack.extra_signs
    threshold = float(np.sqrt(np.finfo(np.float32).tiny)) if real == np.float32 else 0.0
    _kernels.stacked_step(_real(V), flat, offsets, scores[stack.dense].astype(real), extra, signs,
                          shrink, weights, float(eta), threshold, first, _real(out))


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
