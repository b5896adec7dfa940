"""A layer's operators laid out for the compiled paths, and their application to samples.

With the numba backend, :func:`redunet._layer.apply_layer` applies a layer in
one of three forms (:class:`StackedOperators`, :ref:`math-update-forms`):

* ``"fused"``: few channels, dense operators; the whole update is one
  compiled kernel (:func:`apply_fused`), which also gives the class scatters
  of the new features in the same pass;
* ``"packed"``: dense operators in double precision, up to
  ``PACKED_CHANNELS`` and with enough classes (``PACKED_MIN_CLASSES``); the
  memberships from quadratic forms and every sample's own matrix
  ``E - sum_j gamma_j pi_j C_j``, both as BLAS products with the Hermitian
  operators packed into real vectors (:func:`apply_packed`);
* ``"stacked"``: the operators side by side, so that per frequency one
  product of a block of samples with ``[E, C_1, ..., C_K]`` (low-rank classes
  by factors with orthogonal columns) gives ``E v``, every ``C_j v`` or
  coefficient ``U_j^H v``, and from it the membership norms and the pull
  (:func:`apply_stacked`).

Per-thread scratch buffers (:func:`scratch`) hold the products of a block.
The update itself is stated in :mod:`redunet._layer` (:ref:`math-update`).
"""

import threading

import numpy as np

from . import _kernels
from ._operators import flush_tiny, orthogonal_columns
from ._parallel import split_map

__all__ = ["StackedOperators", "stacked_operators", "update_form", "apply_fused", "apply_packed",
           "apply_stacked", "packed_hermitian", "scratch", "FUSED_CHANNELS", "PACKED_CHANNELS"]

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
# Layers of dense operators in double precision with more than FUSED_CHANNELS channels run
# from packed Hermitian matrices when they have at least this many classes: (up to this many
# channels, fewest classes), measured by benchmarks/bench_update_forms.py.  The packed form
# saves work in proportion to the classes, and its element-wise passes cost more as the
# channels grow; beyond PACKED_CHANNELS, or with fewer classes, the stacked products are faster.
PACKED_MIN_CLASSES = ((14, 3), (20, 4), (24, 6), (32, 8))
PACKED_CHANNELS = PACKED_MIN_CLASSES[-1][0]
# Bytes of the packed kernel's per-block buffers (every sample's packed matrix at one
# frequency; the packed outer products of a chunk of frequencies): in the second-level cache.
PACKED_BYTES = 256 * 2**10
# Samples per block of the packed kernel.
PACKED_MIN_BLOCK, PACKED_MAX_BLOCK = 8, 64


class StackedOperators:
    """A layer's operators laid out for the compiled form of its update (:func:`stacked_operators`).

    Attributes
    ----------
    kind : {"fused", "packed", "stacked"}
        The form of the update (:func:`update_form`, :ref:`math-update-forms`);
        it decides which of the arrays below are held.
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
    forms, combos : ndarray of shape (F, C^2, K), (F, C^2, K + 1)
        Packed kernel only (:func:`packed_hermitian`): ``C_j^H C_j`` with the
        real parts of its upper triangle times 2 and their imaginary parts times
        -2 (so that a dot product with the packed ``conj(v) v^T`` is
        ``||C_j v||^2``), and ``E, C_1 .. C_K``.

    Built from the public attributes of the operators (``kind``, ``matrix``,
    ``factor``, ``alpha``): a copy of the layer's operators in the features'
    dtype, built once per :func:`redunet._layer.apply_layer` call or kept for many
    (:func:`redunet._layer.prepared_stack`).
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
        self.kind = update_form(C, len(ops), not self.low_rank, dtype)
        if self.kind == "fused":
            self.fused_matrices = np.ascontiguousarray(np.stack(
                [expansion.matrix] + [ops[j].matrix for j in self.dense], axis=1), dtype=dtype)
            compressions = self.fused_matrices[:, 1:]
            self.fused_norms = np.ascontiguousarray(
                np.matmul(compressions.conj().swapaxes(-1, -2), compressions))
            self.width = (len(ops) + 1) * C
            return
        if self.kind == "packed":
            matrices = [ops[j].matrix.astype(np.complex128, copy=False) for j in self.dense]
            grams = [np.matmul(M.conj().swapaxes(-1, -2), M) for M in matrices]
            self.forms = np.stack([packed_hermitian(G) for G in grams], axis=-1)
            n_pairs = C * (C - 1) // 2
            self.forms[:, C:C + n_pairs] *= 2.0
            self.forms[:, C + n_pairs:] *= -2.0
            self.combos = np.stack([packed_hermitian(M) for M in [expansion.matrix] + matrices],
                                   axis=-1)
            self.width = (len(ops) + 1) * C
            return
        # The operators are Hermitian, so E^T = conj(E) and C_j^T = conj(C_j): the stored
        # arrays conjugated into their columns, with no transposition.
        blocks = [expansion.matrix] + [ops[j].matrix for j in self.dense]
        # Low-rank classes by a factor with orthogonal columns (see orthogonal_columns: the
        # fit builds them so, and only factors of other origin are turned), so
        # that their norms are weighted sums of squares of the coefficients.
        diagonals = [orthogonal_columns(ops[j].factor, column_norms=ops[j].column_norms)
                     for j in self.low_rank]
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
        if self.kind == "fused":
            return self.fused_matrices.nbytes + self.fused_norms.nbytes
        if self.kind == "packed":
            return self.forms.nbytes + self.combos.nbytes
        return self.matrix.nbytes + self.scales.nbytes

    @property
    def fused(self):
        return self.kind == "fused"

    def block_size(self):
        """Samples per block: the stacked products of a block fill about ``BLOCK_BYTES``
        (the fused kernel's buffers ``FUSED_BLOCK_BYTES``, the packed kernel's
        matrices of one frequency ``PACKED_BYTES``)."""
        if self.kind == "fused":
            per_sample = 2 * self.n_freq * self.n_channels * self.itemsize
            size = FUSED_BLOCK_BYTES // per_sample // 8 * 8
            return min(FUSED_MAX_BLOCK, max(FUSED_MIN_BLOCK, size))
        if self.kind == "packed":
            size = PACKED_BYTES // (self.n_channels ** 2 * 8)
            return min(PACKED_MAX_BLOCK, max(PACKED_MIN_BLOCK, size))
        per_sample = self.n_freq * self.width * self.itemsize
        return max(MIN_BLOCK, BLOCK_BYTES // per_sample)


def update_form(n_channels, n_classes, dense, dtype):
    """The form of the update (:ref:`math-update-forms`) of a layer whose expansion operator is
    dense: ``"fused"``, ``"packed"`` or ``"stacked"``.

    ``dense`` says whether every class operator is dense too; ``dtype`` is the
    features' dtype.  The thresholds are where the faster form changes on the
    machine we measured (``benchmarks/bench_update_forms.py``).
    """
    if dense and n_channels <= FUSED_CHANNELS:
        return "fused"
    if dense and np.dtype(dtype) == np.complex128 and n_channels <= PACKED_CHANNELS:
        fewest = next(k for most, k in PACKED_MIN_CLASSES if n_channels <= most)
        if n_classes >= fewest:
            return "packed"
    return "stacked"


def stacked_operators(layer, dtype):
    """The operators of ``layer`` stacked for one product per frequency, in ``dtype``.

    Returns None when the expansion operator is low rank (tiny training sets);
    the one-by-one path handles that case.
    """
    if layer.expansion.kind != "dense":
        return None
    return StackedOperators(layer, dtype)


def apply_fused(stack, V, weights, eta, lmbda, classes, out, cost):
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
        work = scratch("fused", (4 * n_freq * C * max(1, int(np.diff(blocks).max())),),
                        V.real.dtype)
        _kernels.dense_layer(V, stack.fused_matrices, stack.fused_norms, stack.gammas, weights,
                             float(eta), float(lmbda), order, blocks.astype(np.int64), labels,
                             out, unit, scatters, work, channels, operators)
        return scatters

    parts = split_map(block, m, work_per_item=n_freq * cost)
    flush_tiny(out)
    return sum(parts[1:], parts[0]) if classes is not None else None



def packed_hermitian(M):
    """Hermitian matrices ``(..., C, C)`` packed into real vectors ``(..., C^2)``.

    The real diagonal, then the real parts of the upper triangle (row by row),
    then their imaginary parts: ``C + 2 C (C - 1) / 2 = C^2`` reals, a linear map,
    so that a combination of packed matrices is the packed combination.  The
    lower triangle is not read.
    """
    C = M.shape[-1]
    rows, cols = np.triu_indices(C, 1)
    upper = M[..., rows, cols]
    return np.ascontiguousarray(np.concatenate(
        [np.diagonal(M, axis1=-2, axis2=-1).real, upper.real, upper.imag], axis=-1),
        dtype=np.float64)


def apply_packed(stack, V, first, stop, weights, eta, lmbda, out):
    """:func:`redunet._layer.apply_layer` on samples ``first:stop`` of ``V`` from packed
    operators (:func:`redunet._kernels.packed_layer`), into ``out`` (both C-contiguous,
    complex128)."""
    B = stop - first
    chunk = max(1, PACKED_BYTES // (stack.n_channels ** 2 * 8 * B))
    _kernels.packed_layer(_kernels.blas_dgemm(), _real(V), stack.forms, stack.combos,
                          stack.gammas, weights.astype(np.float64), float(eta), float(lmbda),
                          first, stop, _real(out), chunk)


_SCRATCH = threading.local()


def scratch(name, shape, dtype):
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


def apply_stacked(stack, V, first, stop, weights, eta, lmbda, out):
    """:func:`redunet._layer.apply_layer` on samples ``first:stop`` of ``V`` from one stacked
    product, into ``out`` (both C-contiguous).

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
    P = scratch("products", (V.shape[0], B, stack.width), V.dtype)     # (F, B, N)
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
        extra = scratch("pull", block.shape, V.dtype)
        np.matmul(coefficients, stack.factors_t, out=extra)
        extra, signs = _real(extra), stack.extra_signs
    threshold = float(np.sqrt(np.finfo(np.float32).tiny)) if real == np.float32 else 0.0
    _kernels.stacked_step(_real(V), flat, offsets, scores[stack.dense].astype(real), extra, signs,
                          shrink, weights, float(eta), threshold, first, _real(out))
