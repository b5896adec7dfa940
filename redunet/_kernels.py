"""Compiled kernels (numba).  Every kernel has a plain NumPy twin in ``tests/naive.py``.

All kernels share one set of flags, set here: results are cached on disk,
``fastmath`` is on except for the NaN/inf assumptions (so that a NaN is
reported, not optimized away).  Kernels called inside the thread pool of
:mod:`redunet._parallel` (one block of samples each) are serial: nested
thread pools only fight for the two cores.  Dense products stay in BLAS.
"""

import types

import numba
import numpy as np

from ._config import PRANGE_MIN_WORK

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


def jit(parallel=False):
    """The one decorator every kernel uses."""
    return numba.njit(cache=True, fastmath=FASTMATH, parallel=parallel, nogil=True)


def serial_and_parallel(func):
    """Compile ``func`` (written with ``numba.prange``) twice: serial and threaded.

    Small batches run faster without waking the thread pool, so callers pick
    one by the amount of work.  The serial twin is a renamed copy of the
    function, so that the two compiled versions have separate disk caches.
    """
    twin = types.FunctionType(func.__code__, func.__globals__, func.__name__ + "_serial",
                              func.__defaults__, func.__closure__)
    twin.__qualname__ = func.__qualname__ + "_serial"
    return jit()(twin), jit(parallel=True)(func)


def _lower_triangular_inverse(L):
    """Forward substitution, column by column, for every matrix of the batch.

    ``n^3 / 6`` multiply-adds per matrix instead of the ``n^3`` of a general
    LU-based inverse.
    """
    out = np.zeros_like(L)
    n = L.shape[1]
    for b in numba.prange(L.shape[0]):
        for j in range(n):
            out[b, j, j] = 1.0 / L[b, j, j]
            for i in range(j + 1, n):
                acc = L[b, i, j] * out[b, j, j]
                for k in range(j + 1, i):
                    acc += L[b, i, k] * out[b, k, j]
                out[b, i, j] = -acc / L[b, i, i]
    return out


_lower_triangular_inverse_serial, _lower_triangular_inverse_parallel = serial_and_parallel(
    _lower_triangular_inverse)


def lower_triangular_inverse(L):
    """Inverse of every lower-triangular matrix of a C-contiguous ``(B, n, n)`` stack."""
    batch, n, _ = L.shape
    if batch > 1 and batch * n ** 3 // 6 >= PRANGE_MIN_WORK:
        return _lower_triangular_inverse_parallel(L)
    return _lower_triangular_inverse_serial(L)


@jit()
def small_vector_scatters(Z, y_index, n_classes):
    """Per-class scatter matrices ``S_j = sum_{i in j} z_i z_i^T`` of few vector features.

    The statistics step of a small vector layer (:ref:`math-vector-layer`) in one compiled
    pass; for ``d`` of a few units the NumPy form is dominated by call overhead.

    Parameters
    ----------
    Z : ndarray of shape (m, d)
    y_index : int64 ndarray of shape (m,)
    n_classes : int

    Returns
    -------
    ndarray of shape (K, d, d)
    """
    m, d = Z.shape
    scatter = np.zeros((n_classes, d, d), dtype=Z.dtype)
    for i in range(m):
        j = y_index[i]
        for a in range(d):
            for b in range(d):
                scatter[j, a, b] += Z[i, a] * Z[i, b]
    return scatter


@jit()
def small_vector_operators(scatters, counts, eps):
    """Operators and log-determinants of a small vector layer from its class scatters.

    ``C_j = alpha_j inv(I + alpha_j S_j)`` with ``alpha_j = d / (m_j eps)`` for every
    class, then ``E`` from ``S = sum_j S_j`` with ``alpha = d / (m eps)``, each by a
    Cholesky factor ``L`` (``logdet = 2 sum log diag L``, ``inv = L^-T L^-1``).
    Raises ``LinAlgError`` if a matrix is not positive definite.

    Parameters
    ----------
    scatters : ndarray of shape (K, d, d)
    counts : int64 ndarray of shape (K,)
    eps : float

    Returns
    -------
    operators : ndarray of shape (K + 1, d, d)
        ``C_0 .. C_{K-1}`` then ``E``.
    logdets : ndarray of shape (K + 1,)
        ``logdet(I + alpha_j S_j)`` per class, then of all samples.
    """
    K, d, _ = scatters.shape
    total = np.zeros((d, d), dtype=scatters.dtype)
    m = 0
    for j in range(K):
        total += scatters[j]
        m += counts[j]
    operators = np.empty((K + 1, d, d), dtype=scatters.dtype)
    logdets = np.empty(K + 1)
    for j in range(K + 1):
        n = m if j == K else counts[j]
        alpha = d / (n * eps)
        A = alpha * (total if j == K else scatters[j])
        for a in range(d):
            A[a, a] += 1.0
        L = np.linalg.cholesky(A)
        logdet = 0.0
        for a in range(d):
            if not 0.0 < L[a, a] < np.inf:     # also catches NaN and overflow
                raise np.linalg.LinAlgError("Matrix is not positive definite")
            logdet += 2.0 * np.log(L[a, a])
        logdets[j] = logdet
        Linv = _lower_triangular_inverse_serial(L.reshape(1, d, d))[0]
        for a in range(d):
            for b in range(d):
                acc = 0.0
                for k in range(max(a, b), d):
                    acc += Linv[k, a] * Linv[k, b]
                operators[j, a, b] = alpha * acc
    return operators, logdets


@jit()
def small_vector_apply(Z, operators, gammas, eta, lmbda):
    """A small dense vector layer applied to features ``Z`` (m, d) (:ref:`math-vector-layer`).

    ``z <- z + eta (E z - sum_j gamma_j pi_j(z) C_j z)``, then ``z / ||z||``, with
    ``pi_j(z) = softmax_j(-lmbda ||C_j z||)``, sample by sample.

    Parameters
    ----------
    Z : ndarray of shape (m, d)
    operators : ndarray of shape (K + 1, d, d)
        ``C_0 .. C_{K-1}`` then ``E``.
    gammas : ndarray of shape (K,)
    eta, lmbda : float

    Returns
    -------
    ndarray of shape (m, d)
    """
    m, d = Z.shape
    K = operators.shape[0] - 1
    out = np.empty_like(Z)
    compressed = np.empty((K, d), dtype=Z.dtype)
    scores = np.empty(K)
    for i in range(m):
        for j in range(K):
            sq = 0.0
            for a in range(d):
                acc = 0.0
                for b in range(d):
                    acc += operators[j, a, b] * Z[i, b]
                compressed[j, a] = acc
                sq += acc * acc
            scores[j] = -lmbda * np.sqrt(sq)
        top = scores.max()
        total = 0.0
        for j in range(K):
            scores[j] = np.exp(scores[j] - top)
            total += scores[j]
        norm = 0.0
        for a in range(d):
            expand = 0.0
            for b in range(d):
                expand += operators[K, a, b] * Z[i, b]
            pull = 0.0
            for j in range(K):
                pull += gammas[j] * scores[j] / total * compressed[j, a]
            value = Z[i, a] + eta * (expand - pull)
            out[i, a] = value
            norm += value * value
        norm = np.sqrt(norm)
        for a in range(d):
            out[i, a] /= norm
    return out


@jit()
def lowrank_sq_norms(coefficients, gram, power, weights):
    """``sum_f w_f (power_f - 2 ||c_f||^2 + c_f^H G_f c_f)`` for every sample.

    The per-sample squared norm of a low-rank operator's output, divided by
    ``alpha^2`` (see ``LowRankOperator.sq_norms``), without temporaries.
    """
    n_freq, m, n = coefficients.shape
    out = np.zeros(m)
    for i in range(m):
        total = 0.0
        for f in range(n_freq):
            c = coefficients[f, i]
            quadratic = 0.0
            sq = 0.0
            for a in range(n):
                row = 0.0 * c[0]
                for b in range(n):
                    row += gram[f, a, b] * c[b]
                quadratic += (np.conj(c[a]) * row).real
                sq += c[a].real ** 2 + c[a].imag ** 2
            total += weights[f] * (power[f, i] - 2.0 * sq + quadratic)
        out[i] = total
    return out


@jit()
def step_and_normalize(V, step, shrink, weights, eta):
    """``v <- v (1 - eta * shrink) + eta * step``, then unit full-spectrum norm; in ``step``.

    Parameters
    ----------
    V, step : ndarray of shape (F, m, C)
    shrink : ndarray of shape (m,)
    weights : ndarray of shape (F,)
    eta : float
    """
    n_freq, m, C = V.shape
    for i in range(m):
        keep = 1.0 - eta * shrink[i]
        total = 0.0
        for f in range(n_freq):
            for c in range(C):
                value = V[f, i, c] * keep + eta * step[f, i, c]
                step[f, i, c] = value
                total += weights[f] * (value.real ** 2 + value.imag ** 2)
        scale = 1.0 / np.sqrt(total)
        for f in range(n_freq):
            for c in range(C):
                step[f, i, c] *= scale
    return step


def channel_token(n):
    """An empty array of ``n`` dimensions: passed to a kernel, it makes ``n`` a constant of
    the compiled code (numba compiles one version per number of dimensions), so that the
    loops over channels unroll and the loops over samples vectorize."""
    return np.empty((0,) * n)


@jit()
def _add_scatter(XT, first, stop, S, unit, channels):
    """``S += sum_i x_i x_i^H`` (upper triangle) of samples ``first:stop`` held transposed.

    ``XT`` is ``(2, C, n)``: real parts, then imaginary parts, one row per
    channel and the samples along the rows, so that every entry is a reduction
    over contiguous samples.  ``x_a conj(x_b) = (r_a r_b + i_a i_b) + 1j (i_a r_b - r_a i_b)``.
    """
    C = channels.ndim
    for a in range(C):
        for b in range(a, C):
            re = 0.0
            im = 0.0
            # unsigned: no test for negative indices, so the loads stay contiguous (vectorized)
            for i in range(np.uint64(first), np.uint64(stop)):
                re += XT[0, a, i] * XT[0, b, i] + XT[1, a, i] * XT[1, b, i]
                im += XT[1, a, i] * XT[0, b, i] - XT[0, a, i] * XT[1, b, i]
            S[a, b] += re + unit * im


@jit()
def _mirror(S, channels):
    """Fill the lower triangles of a ``(..., C, C)`` stack of Hermitian matrices from the upper."""
    C = channels.ndim
    flat = S.reshape((-1, C, C))
    for p in range(flat.shape[0]):
        for a in range(C):
            for b in range(a + 1, C):
                flat[p, b, a] = np.conj(flat[p, a, b])


def _scatters_by_class(V, order, bounds, unit, channels):
    """``S[j, f] = sum_{i in class j} v_i(f) v_i(f)^H``; class ``j`` is ``order[bounds[j]:bounds[j + 1]]``.

    Threads over frequencies; per frequency and class, blocks of samples are
    gathered transposed (real and imaginary parts apart), and every entry of
    the upper triangle is a vectorized reduction over the block.
    """
    n_freq = V.shape[0]
    C = channels.ndim
    n_classes = bounds.shape[0] - 1
    out = np.zeros((n_classes, n_freq, C, C), dtype=V.dtype)
    for f in numba.prange(n_freq):
        XT = np.empty((2, C, SCATTER_BLOCK), dtype=V.real.dtype)
        for j in range(n_classes):
            for first in range(bounds[j], bounds[j + 1], SCATTER_BLOCK):
                n = min(SCATTER_BLOCK, bounds[j + 1] - first)
                for i in range(n):
                    for c in range(C):
                        x = V[f, order[first + i], c]
                        XT[0, c, i] = x.real
                        XT[1, c, i] = x.imag
                _add_scatter(XT, 0, n, out[j, f], unit, channels)
    _mirror(out, channels)
    return out


_scatters_by_class_serial, _scatters_by_class_parallel = serial_and_parallel(_scatters_by_class)

# Samples per block of the scatter kernel.
SCATTER_BLOCK = 64


def class_scatters(V, order, bounds):
    """Per-class scatter matrices ``(K, F, C, C)`` of an ``(F, m, C)`` batch whose class ``j``
    holds the samples ``order[bounds[j]:bounds[j + 1]]``; Hermitian (symmetric if real)."""
    n_freq, m, C = V.shape
    kernel = (_scatters_by_class_parallel if n_freq > 1 and n_freq * m * C * C >= PRANGE_MIN_WORK
              else _scatters_by_class_serial)
    return kernel(V, np.asarray(order, dtype=np.int64), np.asarray(bounds, dtype=np.int64),
                  1j if V.dtype.kind == "c" else 0.0, channel_token(C))


@jit()
def _memberships(sq, lmbda, gammas, out):
    """``out[j] = gamma_j pi_j`` with ``pi = softmax(-lmbda sqrt(sq))`` from the squared norms
    ``sq`` of one sample, the largest exponent subtracted first (``out`` may be ``sq``)."""
    K = sq.shape[0]
    top = -np.inf
    for j in range(K):
        out[j] = -lmbda * np.sqrt(max(sq[j], 0.0))
        top = max(top, out[j])
    denominator = 0.0
    for j in range(K):
        out[j] = np.exp(out[j] - top)
        denominator += out[j]
    for j in range(K):
        out[j] *= gammas[j] / denominator


@jit()
def dense_layer(V, A, Q, gammas, weights, eta, lmbda, order, blocks, classes, out, unit, scatters,
                work, channels, operators):
    """A whole layer update of some samples with dense operators, fused; and the new scatters.

    For a few channels, per block of samples, three passes over the block's
    spectra, which stay in cache in a transposed buffer (real and imaginary
    parts apart, samples along the rows, so that the innermost loop over
    samples vectorizes):

    1. the squared norms ``sum_f w_f ||C_j v(f)||^2 = sum_f w_f v^H Q_j v``
       with ``Q_j = C_j^H C_j`` (upper triangle);
    2. the memberships ``pi_j = softmax_j(-lmbda ||C_j v||)``, then the step
       ``u = v + eta ((E - sum_j gamma_j pi_j C_j) v)`` (the sample's matrix
       formed row by row, then one product) and its norm;
    3. ``u / ||u||`` into ``out``, and the scatter of every class's samples of
       the block added to its ``scatters[j]``.

    Parameters
    ----------
    V : ndarray of shape (F, m, C)
    A : ndarray of shape (F, K + 1, C, C)
        ``E`` then ``C_1 .. C_K`` at every frequency.
    Q : ndarray of shape (F, K, C, C)
        ``C_j^H C_j`` at every frequency.
    gammas : ndarray of shape (K,)
    weights : ndarray of shape (F,)
    eta, lmbda : float
    order : int64 ndarray of shape (n,)
        The samples to update, block by block.
    blocks : int64 ndarray of shape (B + 1,)
        Block ``b`` is ``order[blocks[b]:blocks[b + 1]]`` (best: consecutive samples,
        so that their spectra are read and written as contiguous runs).
    classes : int64 ndarray of shape (n,)
        Class of every sample of ``order``, in increasing order inside every block
        (not read if ``scatters`` is empty).
    out : ndarray of shape (F, m, C)
        Written for the samples of ``order``; may be ``V`` itself (a block is read
        whole before it is written).
    unit : complex or float
        ``1j`` for complex features, ``0.0`` for real ones.
    scatters : ndarray of shape (K, F, C, C), or of shape (0, F, C, C)
        The scatters ``sum_i u_i(f) u_i(f)^H`` of every class's new features
        are added to it (not computed if empty).
    work : real ndarray of shape (>= 4 F C b,)
        Scratch space for the transposed buffers, ``b`` the largest block (a
        fresh allocation of megabytes would cost page faults at every call).
    channels, operators : ndarray
        :func:`channel_token` of ``C`` and of ``K + 1``.
    """
    C = channels.ndim
    K1 = operators.ndim
    K = K1 - 1
    n_freq = V.shape[0]
    block = 1
    for part in range(blocks.shape[0] - 1):
        block = max(block, blocks[part + 1] - blocks[part])
    size = n_freq * 2 * C * block
    XT = work[:size].reshape((n_freq, 2, C, block))
    UT = work[size:2 * size].reshape((n_freq, 2, C, block))
    rows = np.empty(block, dtype=np.int64)
    runs = np.empty(block + 1, dtype=np.int64)       # the block's classes: runs of rows
    sq = np.empty((K, block))
    share = np.empty((K, block))
    total = np.empty(block)
    want = scatters.shape[0] > 0
    for part in range(blocks.shape[0] - 1):
        first = blocks[part]
        n = blocks[part + 1] - first
        n_runs = 0
        for i in range(n):
            rows[i] = order[first + i]
            if want and (i == 0 or classes[first + i] != classes[first + i - 1]):
                runs[n_runs] = i
                n_runs += 1
        runs[n_runs] = n
        sq[:, :n] = 0.0
        for f in range(n_freq):
            w = weights[f]
            for i in range(n):
                for c in range(C):
                    x = V[f, rows[i], c]
                    XT[f, 0, c, i] = x.real
                    XT[f, 1, c, i] = x.imag
            for j in range(K):
                for i in range(n):
                    diagonal = 0.0
                    cross = 0.0
                    for a in range(C):
                        xa = XT[f, 0, a, i]
                        ya = XT[f, 1, a, i]
                        diagonal += Q[f, j, a, a].real * (xa * xa + ya * ya)
                        # (b > a as a test in a loop of constant length: fully unrolled,
                        # the tests fold away and the loop over samples vectorizes)
                        for b in range(C):
                            if b > a:
                                xb = XT[f, 0, b, i]
                                yb = XT[f, 1, b, i]
                                # Re(conj(v_a) Q_ab v_b), twice for the lower triangle
                                cross += (Q[f, j, a, b].real * (xa * xb + ya * yb)
                                          - Q[f, j, a, b].imag * (xa * yb - ya * xb))
                    sq[j, i] += w * (diagonal + 2.0 * cross)
        for i in range(n):
            _memberships(sq[:, i], lmbda, gammas, share[:, i])
            total[i] = 0.0
        for f in range(n_freq):
            w = weights[f]
            for a in range(C):
                for i in range(n):
                    # row a of this sample's E - sum_j s_j C_j (2 K + 4 multiply-adds per
                    # entry, against 4 (K + 1) for the K + 1 products apart), times v
                    yr = 0.0
                    yi = 0.0
                    for c in range(C):
                        mr = A[f, 0, a, c].real
                        mi = A[f, 0, a, c].imag
                        for j in range(K):
                            mr -= share[j, i] * A[f, j + 1, a, c].real
                            mi -= share[j, i] * A[f, j + 1, a, c].imag
                        xr = XT[f, 0, c, i]
                        xi = XT[f, 1, c, i]
                        yr += mr * xr - mi * xi
                        yi += mr * xi + mi * xr
                    UT[f, 0, a, i] = XT[f, 0, a, i] + eta * yr
                    UT[f, 1, a, i] = XT[f, 1, a, i] + eta * yi
            # apart from the loop above, which vectorizes only with stores to one array
            for a in range(C):
                for i in range(n):
                    total[i] += w * (UT[f, 0, a, i] * UT[f, 0, a, i]
                                     + UT[f, 1, a, i] * UT[f, 1, a, i])
        for i in range(n):
            total[i] = 1.0 / np.sqrt(total[i])
        for f in range(n_freq):
            for a in range(C):
                for i in range(n):
                    UT[f, 0, a, i] *= total[i]
                    UT[f, 1, a, i] *= total[i]
            for i in range(n):
                for a in range(C):
                    out[f, rows[i], a] = UT[f, 0, a, i] + unit * UT[f, 1, a, i]
            for r in range(n_runs):
                _add_scatter(UT[f], runs[r], runs[r + 1],
                             scatters[classes[first + runs[r]], f], unit, channels)
    if want:
        _mirror(scatters, channels)
    return out


@jit()
def stacked_sq_norms(P, offsets, width, weights, out):
    """Add ``sum_f w_f ||P[f, i, o:o+width]||^2`` for every offset ``o`` and sample ``i`` to ``out``.

    The squared norms of the dense classes' ``C_j v`` inside one stacked
    product, accumulated over chunks of frequencies into ``out``
    ``(len(offsets), B)``.  ``P`` is real: a complex product is passed as its
    real view (real and imaginary parts interleaved), with offsets and width
    doubled, so that the innermost loop runs over contiguous reals.
    """
    n_freq, B, _ = P.shape
    for f in range(n_freq):
        w = weights[f]
        for i in range(B):
            row = P[f, i]
            for k in range(offsets.shape[0]):
                # a slice indexed from 0: the index is known to be non-negative, so the loop
                # reads contiguous memory (no wraparound test per element)
                part = row[offsets[k]:offsets[k] + width]
                acc = 0.0
                for a in range(width):
                    acc += part[a] * part[a]
                out[k, i] += w * acc
    return out


@jit()
def stacked_lowrank_sq_norms(V, P, offsets, widths, scales, weights, first, out):
    """Add ``sum_f w_f (||v||^2 + sum_a scales[f, a] P[f, i, o_k + a]^2)`` to ``out[k, i]``.

    The squared norms ``||(I - U_k U_k^H) v||^2`` of the low-rank classes,
    whose factors ``U_k`` have orthogonal columns of squared norms ``lambda``:
    from the coefficients ``e = U_k^H v`` inside one stacked product,
    ``||v||^2 + sum_a (lambda_a - 2) |e_a|^2``.  All arrays are real (complex
    ones as their real views): ``P[f, i, o_k:o_k + widths[k]]`` are class
    ``k``'s coefficients, ``scales[f, o_k - o_0:...]`` their ``lambda_a - 2``
    (the low-rank classes' coefficients are contiguous, from ``o_0``), and
    ``V[f, first + i]`` sample ``i``'s features, for a chunk of frequencies;
    ``out`` ``(len(offsets), B)`` accumulates over chunks.
    """
    n_freq, B, D = P.shape[0], P.shape[1], V.shape[2]
    for f in range(n_freq):
        w = weights[f]
        for i in range(B):
            source = V[f, first + i]
            power = 0.0
            for a in range(D):
                power += source[a] * source[a]
            row = P[f, i]
            for k in range(offsets.shape[0]):
                width = widths[k]
                part = row[offsets[k]:offsets[k] + width]
                scale = scales[f, offsets[k] - offsets[0]:offsets[k] - offsets[0] + width]
                acc = 0.0
                for a in range(width):
                    acc += scale[a] * part[a] * part[a]
                out[k, i] += w * (power + acc)
    return out


@jit()
def stacked_step(V, P, offsets, shares, extra, signs, shrink, weights, eta, threshold, first, out):
    """``v (1 - eta shrink) + eta (P_E - sum_j s_j P_j + extra)``, normalized, into ``out``.

    ``P[..., 0:D]`` is ``E v`` and ``P[..., o_j:o_j+D]`` the dense classes'
    ``C_j v`` of one stacked product (``D = V.shape[2]``); ``shares``
    ``(len(offsets), B)`` their weights ``gamma_j pi_j``; ``extra`` ``(F, B, D)``
    the low-rank classes' part of the pull (or an empty array), entered as
    ``signs * extra`` (``signs`` of shape ``(D,)``: -1 on imaginary parts adds
    the conjugate of a complex ``extra``).  All arrays are real: complex ones
    are passed as their real views (offsets doubled), so the innermost loops
    run over contiguous reals.  Entries of the result below
    ``threshold`` in magnitude are set to zero (``sqrt`` of the smallest normal
    number in single precision, so that later products never fall to
    subnormals; 0 leaves the result untouched).  The block is samples
    ``first:first + B`` of ``V`` and ``out`` (C-contiguous ``(F, m, D)``, so that
    their rows are known to be contiguous); ``out`` may be ``V``.
    """
    n_freq, B, D = P.shape[0], P.shape[1], V.shape[2]
    has_extra = extra.shape[0] > 0
    total = np.zeros(B)
    step = np.empty(D, dtype=P.dtype)
    for f in range(n_freq):
        w = weights[f]
        for i in range(B):
            keep = 1.0 - eta * shrink[i]
            row = P[f, i]
            for a in range(D):
                step[a] = row[a]
            for k in range(offsets.shape[0]):
                s = shares[k, i]
                part = row[offsets[k]:offsets[k] + D]
                for a in range(D):
                    step[a] -= s * part[a]
            if has_extra:
                for a in range(D):
                    step[a] += signs[a] * extra[f, i, a]
            # computed in the scratch row, then copied: the same instructions (and bits)
            # whether or not ``out`` is ``V``
            source = V[f, first + i]
            acc = 0.0
            for a in range(D):
                value = source[a] * keep + eta * step[a]
                step[a] = value
                acc += value * value
            total[i] += w * acc
            target = out[f, first + i]
            for a in range(D):
                target[a] = step[a]
    for i in range(B):
        total[i] = 1.0 / np.sqrt(total[i])
    for f in range(n_freq):
        for i in range(B):
            scale = total[i]
            target = out[f, first + i]
            for a in range(D):
                value = target[a] * scale
                target[a] = 0.0 if abs(value) < threshold else value
    return out


# -- the packed path: Hermitian operators packed into real vectors, BLAS products from a kernel --

_SCIPY_FUNCTIONS = {}


def scipy_function(table, name, *argtypes):
    """SciPy's BLAS or LAPACK routine ``name`` from its Cython ``table`` (``"cython_blas"``,
    ``"cython_lapack"``) as a ctypes function of ``argtypes`` returning nothing, made once.

    SciPy's Cython tables call the routines without holding Python's global lock
    (its Python wrappers keep it), so other threads run meanwhile.
    """
    if (table, name) not in _SCIPY_FUNCTIONS:
        import ctypes

        from numba.extending import get_cython_function_address

        address = get_cython_function_address(f"scipy.linalg.{table}", name)
        _SCIPY_FUNCTIONS[table, name] = ctypes.CFUNCTYPE(None, *argtypes)(address)
    return _SCIPY_FUNCTIONS[table, name]


def blas_dgemm():
    """SciPy's BLAS ``dgemm`` (:func:`scipy_function`) for the kernels.

    Kernels take it as an argument rather than reading a global: its address
    changes from process to process, and an argument keeps the compiled kernel
    in numba's disk cache.  It runs in the calling thread (BLAS limited to one
    thread by :func:`redunet._parallel.single_threaded_blas`).
    """
    import ctypes

    return scipy_function("cython_blas", "dgemm", *[ctypes.c_void_p] * 13)


@jit()
def _gemm(gemm, buffers, transpose_a, transpose_b, m, n, k, A, lda, B, ldb, accumulate, C, ldc):
    """``C = op(A) op(B)`` (``+ C`` if ``accumulate``) in BLAS's column-major convention:
    ``C`` is ``m x n`` with leading dimension ``ldc``, and so on (a C-ordered array of
    shape ``(r, s)`` is the column-major ``s x r`` matrix, its transpose).  ``buffers``
    hold what BLAS takes by pointer: sizes ``(m, n, k, lda, ldb, ldc)`` (int32), the
    flags ``"N"`` and ``"T"`` (uint8), the scalars 1 and 0."""
    sizes, flags, scalars = buffers
    sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5] = m, n, k, lda, ldb, ldc
    gemm(flags[1 if transpose_a else 0:].ctypes, flags[1 if transpose_b else 0:].ctypes,
         sizes[0:].ctypes, sizes[1:].ctypes, sizes[2:].ctypes, scalars[0:].ctypes, A.ctypes,
         sizes[3:].ctypes, B.ctypes, sizes[4:].ctypes, scalars[0 if accumulate else 1:].ctypes,
         C.ctypes, sizes[5:].ctypes)


@jit()
def _load_transposed(V, f, first, X):
    """``X[:C, i]`` / ``X[C:, i]``: real / imaginary parts of sample ``first + i`` at frequency
    ``f`` of the real view ``V`` (parts interleaved), one row per channel."""
    C = X.shape[0] // 2
    for i in range(X.shape[1]):
        v = V[f, first + i]
        for a in range(C):
            X[a, i] = v[2 * a]
            X[C + a, i] = v[2 * a + 1]


@jit()
def _packed_outer(X, weight, out):
    """``weight`` times the packed ``conj(v) v^T`` of every sample (column) ``v`` of ``X``.

    ``out`` ``(C^2, B)``: rows ``|v_a|^2``, then over the pairs ``a < b`` (row by
    row of the upper triangle) ``Re(conj(v_a) v_b) = x_a x_b + y_a y_b``, then
    ``Im(conj(v_a) v_b) = x_a y_b - y_a x_b`` (``v = x + i y``), so that
    ``v^H G v`` is one dot product with the matching entries of a Hermitian
    ``G`` (:func:`redunet._stacked.packed_hermitian`, weighted as ``forms`` of
    :func:`packed_layer`).
    """
    C = X.shape[0] // 2
    n_pairs = C * (C - 1) // 2
    B = X.shape[1]
    for a in range(C):
        x, y, row = X[a], X[C + a], out[a]
        for i in range(B):
            row[i] = weight * (x[i] * x[i] + y[i] * y[i])
    p = C
    for a in range(C - 1):
        x, y = X[a], X[C + a]
        for b in range(a + 1, C):
            xb, yb, re, im = X[b], X[C + b], out[p], out[p + n_pairs]
            for i in range(B):
                re[i] = weight * (x[i] * xb[i] + y[i] * yb[i])
                im[i] = weight * (x[i] * yb[i] - y[i] * xb[i])
            p += 1


@jit()
def _packed_apply(H, X, Y):
    """``Y = M X`` for every sample (column) ``i``, ``M`` the sample's Hermitian matrix packed in
    ``H[:, i]`` (real diagonal, real then imaginary parts of the upper triangle); ``X``
    and ``Y`` hold real parts then imaginary parts, one row per channel."""
    C = X.shape[0] // 2
    n_pairs = C * (C - 1) // 2
    B = X.shape[1]
    for a in range(C):
        h, x, y, yr, yi = H[a], X[a], X[C + a], Y[a], Y[C + a]
        for i in range(B):
            yr[i] = h[i] * x[i]
            yi[i] = h[i] * y[i]
    p = C
    for a in range(C - 1):
        xa, ya, ra, ia = X[a], X[C + a], Y[a], Y[C + a]
        for b in range(a + 1, C):
            # M_ab = hr + i hi enters row a; M_ba = hr - i hi enters row b
            hr, hi = H[p], H[p + n_pairs]
            xb, yb, rb, ib = X[b], X[C + b], Y[b], Y[C + b]
            for i in range(B):
                ra[i] += hr[i] * xb[i] - hi[i] * yb[i]
                ia[i] += hr[i] * yb[i] + hi[i] * xb[i]
                rb[i] += hr[i] * xa[i] + hi[i] * ya[i]
                ib[i] += hr[i] * ya[i] - hi[i] * xa[i]
            p += 1


@jit()
def packed_layer(gemm, V, forms, combos, gammas, weights, eta, lmbda, first, stop, out, chunk):
    """The update of samples ``first:stop`` from packed Hermitian operators: two BLAS products.

    With all operators dense and Hermitian, a sample needs only the quadratic
    forms ``||C_j v||^2 = v^H (C_j^H C_j) v`` and its own matrix
    ``E - sum_j gamma_j pi_j C_j`` (docs: Mathematics, "Computing the update"):

    1. per chunk of frequencies, the packed, weighted ``conj(v) v^T`` of the
       block's samples (:func:`_packed_outer`) times ``forms``: one product adds
       every class's ``sum_f w_f ||C_j v(f)||^2``;
    2. the memberships, and the coefficients ``(1, -gamma_j pi_j)`` of every sample;
    3. per frequency, the coefficients times ``combos``: one product gives every
       sample's packed matrix, applied to its ``v`` (:func:`_packed_apply`); then
       ``v + eta (...)``, normalized over the frequencies, into ``out``.

    Parameters
    ----------
    gemm : ctypes function
        :func:`blas_dgemm`.
    V, out : float64 ndarrays of shape (F, m, 2 C)
        Real views of the complex features and of the result (C-contiguous;
        ``out`` may be ``V``: a frequency is read whole before it is written).
    forms : float64 ndarray of shape (F, C^2, K)
        ``C_j^H C_j`` packed, the real parts of its upper triangle times 2 and
        their imaginary parts times -2, so that a dot product with the packed
        ``conj(v) v^T`` (:func:`_packed_outer`) is the quadratic form.
    combos : float64 ndarray of shape (F, C^2, K + 1)
        ``E, C_1 .. C_K`` packed.
    gammas, weights : ndarray of shape (K,), (F,)
    eta, lmbda : float
    first, stop : int
        The block of samples.
    chunk : int
        Frequencies per product of step 1.
    """
    n_freq, _, D = V.shape
    C = D // 2
    Q = C * C
    K = forms.shape[2]
    B = stop - first
    buffers = (np.empty(6, np.int32), np.array([ord("N"), ord("T")], np.uint8),
               np.array([1.0, 0.0]))
    X = np.empty((D, B))
    Y = np.empty((D, B))
    outer = np.empty((chunk * Q, B))
    sq = np.empty((B, K))                     # column-major K x B
    for start in range(0, n_freq, chunk):
        n = min(chunk, n_freq - start)
        for f in range(n):
            _load_transposed(V, start + f, first, X)
            _packed_outer(X, weights[start + f], outer[f * Q:(f + 1) * Q])
        # sq (K x B) (+)= forms (K x n Q) @ outer^T
        _gemm(gemm, buffers, False, True, K, B, n * Q, forms[start:start + n], K, outer, B,
              start > 0, sq, K)
    coefficients = np.empty((K + 1, B))       # column-major B x (K + 1)
    for i in range(B):
        _memberships(sq[i], lmbda, gammas, sq[i])
        coefficients[0, i] = 1.0
        for j in range(K):
            coefficients[j + 1, i] = -sq[i, j]
    matrices = np.empty((Q, B))               # column-major B x Q
    total = np.zeros(B)
    for f in range(n_freq):
        # matrices (B x Q) = coefficients (B x (K + 1)) @ combos[f] ((K + 1) x Q)
        _gemm(gemm, buffers, False, False, B, Q, K + 1, coefficients, B, combos[f], K + 1,
              False, matrices, B)
        _load_transposed(V, f, first, X)
        _packed_apply(matrices, X, Y)
        w = weights[f]
        for i in range(B):
            target = out[f, first + i]
            acc = 0.0
            for a in range(C):
                re = X[a, i] + eta * Y[a, i]
                im = X[C + a, i] + eta * Y[C + a, i]
                target[2 * a] = re
                target[2 * a + 1] = im
                acc += re * re + im * im
            total[i] += w * acc
    for i in range(B):
        scale = 1.0 / np.sqrt(total[i])
        for f in range(n_freq):
            row = out[f, first + i]
            for a in range(D):
                row[a] *= scale
    return out
