"""The stacked layer path (one product per frequency for all class operators) and its kernels,
against the plain twins of ``tests/naive.py`` and the one-by-one NumPy path."""

import numpy as np
import pytest

import naive
from conftest import labels_for
from redunet import _kernels
from redunet._construction import layer_from_statistics
from redunet._layer import apply_layer, build_layer, group_rows
from redunet._stacked import packed_hermitian, stacked_operators, update_form
from redunet._statistics import Tally
from redunet._operators import build_operator, class_scatters


def _spectra(rng, F, m, C, complex_=True, dtype=np.float64):
    V = rng.standard_normal((F, m, C))
    if complex_:
        V = V + 1j * rng.standard_normal((F, m, C))
    weights = np.ones(F) if F == 1 else np.r_[1.0, np.full(F - 1, 2.0)]
    V /= np.sqrt(np.einsum("f,fmc->m", weights, np.abs(V) ** 2))[None, :, None]
    return V.astype(np.result_type(dtype, np.complex64) if complex_ else dtype), weights


def _rfft_weights(T):
    """Weights of the half spectrum of a length-T signal (odd T: no Nyquist frequency)."""
    w = np.full(T // 2 + 1, 2.0)
    w[0] = 1.0
    if T % 2 == 0:
        w[-1] = 1.0
    return w


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("F, counts, C, complex_", [
    (4, [3, 5], 3, True), (1, [1, 4], 2, False), (5, [1, 1, 1], 1, True), (3, [6, 2], 7, False),
    (2, [4, 3], 30, True)])
def test_class_scatters_equal_outer_products(backend, F, counts, C, complex_, rng):
    y = labels_for(counts)
    V, _ = _spectra(rng, F, len(y), C, complex_)
    got = class_scatters(V, y, len(counts), backend)
    np.testing.assert_allclose(got, naive.class_scatters(V, y, len(counts)), atol=1e-12)
    assert got.dtype == V.dtype


def test_class_scatters_single_precision_and_bad_labels(rng):
    y = labels_for([4, 5])
    V, _ = _spectra(rng, 3, 9, 4, True, np.float32)
    got = class_scatters(V, y, 2, "numba")
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, naive.class_scatters(V.astype(np.complex128), y, 2), atol=1e-5)
    with pytest.raises(ValueError, match="'y_index' values in"):
        class_scatters(V, np.full(9, 2), 2)
    with pytest.raises(ValueError, match="'y_index' of shape"):
        class_scatters(V, y[:5], 2)


@pytest.mark.parametrize("C, complex_", [(1, True), (5, True), (3, False), (12, True)])
def test_scatter_helpers_equal_naive(C, complex_, rng):
    unit = 1j if complex_ else 0.0
    dtype = complex if complex_ else float
    token = _kernels.channel_token(C)
    XT = rng.standard_normal((2, C, 11))
    XT[1] *= complex_                          # imaginary parts, zero for real features
    S = rng.standard_normal((C, C)).astype(dtype)
    expected = naive.add_scatter(XT, 2, 9, S, unit)
    _kernels._add_scatter(XT, 2, 9, S, unit, token)
    np.testing.assert_allclose(S, expected, atol=1e-13)
    S = rng.standard_normal((3, 2, C, C)) + unit * rng.standard_normal((3, 2, C, C))
    expected = naive.mirror(S)
    _kernels._mirror(S, token)
    np.testing.assert_allclose(S, expected, atol=0)
    V, _ = _spectra(rng, 4, 30, C, complex_)
    order = rng.permutation(30)[:26]
    bounds = np.array([0, 5, 5, 26])
    for kernel in (_kernels._scatters_by_class_serial, _kernels._scatters_by_class_parallel):
        np.testing.assert_allclose(kernel(V, order, bounds, unit, token),
                                   naive.scatters_by_class(V, order, bounds), atol=1e-13)


def _dense_stack(rng, F, K, C, complex_):
    """Hermitian positive definite operators alpha inv(I + alpha S) of random scatters."""
    A = np.empty((F, K + 1, C, C), dtype=complex if complex_ else float)
    for k in range(K + 1):
        B, _ = _spectra(rng, F, C + 2, C, complex_)
        S = np.matmul(B.swapaxes(-1, -2), B.conj())
        A[:, k] = 3.0 * np.linalg.inv(np.eye(C) + 3.0 * S)
    return A


@pytest.mark.parametrize("F, m, K, C, complex_", [
    (101, 7, 2, 5, True), (1, 5, 3, 4, False), (6, 1, 2, 1, True), (4, 9, 1, 3, True),
    (3, 12, 4, 6, False), (2, 19, 2, 12, True)])
def test_fused_dense_layer_kernel_equals_naive(F, m, K, C, complex_, rng):
    V, weights = _spectra(rng, F, m, C, complex_)
    A = _dense_stack(rng, F, K, C, complex_)
    Q = np.matmul(A[:, 1:].conj().swapaxes(-1, -2), A[:, 1:])
    gammas = rng.dirichlet(np.ones(K))
    unit = 1j if complex_ else 0.0
    tokens = _kernels.channel_token(C), _kernels.channel_token(K + 1)
    # some samples (not all), in blocks of 1, 3, 8 or all of them, sorted by class in each block
    order = rng.permutation(m)[:max(1, m - 2)]
    for size in (1, 3, 8, m):
        blocks = np.r_[np.arange(0, order.shape[0], size), order.shape[0]]
        classes = np.sort(rng.integers(0, K, order.shape[0]))
        expected, expected_scatters = naive.fused_dense_layer(V, A, gammas, weights, 0.5, 20.0,
                                                              order, classes, K)
        out = np.zeros_like(V)
        scatters = np.zeros((K, F, C, C), dtype=V.dtype)
        work = np.full(4 * F * C * size, np.nan)     # scratch: its content is never read
        _kernels.dense_layer(V, A, Q, gammas, weights, 0.5, 20.0, order, blocks, classes, out,
                             unit, scatters, work, *tokens)
        np.testing.assert_allclose(out, expected, atol=1e-12)
        np.testing.assert_allclose(scatters, expected_scatters, atol=1e-12)
        # in place, and without scatters
        out = V.copy()
        _kernels.dense_layer(out, A, Q, gammas, weights, 0.5, 20.0, order, blocks, classes, out,
                             unit, np.empty((0, F, C, C), dtype=V.dtype), work, *tokens)
        np.testing.assert_allclose(out[:, order], expected[:, order], atol=1e-12)


@pytest.mark.parametrize("C", [1, 2, 7, 20])
def test_packed_helpers_equal_naive(C, rng):
    """Packing, the packed outer products of a block and the packed matrices applied to it."""
    M = rng.standard_normal((3, C, C)) + 1j * rng.standard_normal((3, C, C))
    M = M + M.conj().swapaxes(-1, -2)
    packed = packed_hermitian(M)
    for f in range(3):
        np.testing.assert_array_equal(packed[f], naive.packed_hermitian(M[f]))
        np.testing.assert_array_equal(naive.unpacked_hermitian(packed[f], C), M[f])
    V, _ = _spectra(rng, 2, 9, C)
    X = np.full((2 * C, 5), np.nan)
    _kernels._load_transposed(V.view(np.float64), 1, 3, X)
    np.testing.assert_array_equal(X, naive.load_transposed(V, 1, 3, 5))
    outer = np.full((C * C, 5), np.nan)
    _kernels._packed_outer(X, 2.5, outer)
    for i in range(5):
        np.testing.assert_allclose(outer[:, i], naive.packed_outer(V[1, 3 + i], 2.5), atol=1e-15)
    H = rng.standard_normal((C * C, 5))
    Y = np.full((2 * C, 5), np.nan)
    _kernels._packed_apply(H, X, Y)
    np.testing.assert_allclose(Y, naive.packed_apply(H, X), atol=1e-13)


def test_memberships_equal_naive(rng):
    """The softmax of the fused and packed kernels, for scores far beyond exp's range too."""
    gammas = rng.dirichlet(np.ones(5))
    for sq, lmbda in ((rng.uniform(0, 2, 5), 3.0), (rng.uniform(0, 2, 5), 500.0),
                      (np.array([4.0, 1e6, 0.0, -1e-18, 9.0]), 500.0)):
        out = np.full(5, np.nan)
        _kernels._memberships(sq, lmbda, gammas, out)
        np.testing.assert_allclose(out, naive.memberships(sq, lmbda, gammas), rtol=1e-14,
                                   atol=1e-300)
        inplace = sq.copy()
        _kernels._memberships(inplace, lmbda, gammas, inplace)
        np.testing.assert_array_equal(inplace, out)


@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (False, True), (True, False),
                                                      (True, True)])
def test_gemm_from_a_kernel_equals_naive(transpose_a, transpose_b, rng):
    """The BLAS call of the packed kernel: column-major, leading dimensions larger than the
    matrices, transposed operands, and accumulating into C."""
    m, n, k = 3, 4, 5
    lda, ldb, ldc = (k if transpose_a else m) + 2, (n if transpose_b else k) + 1, m + 3
    A = rng.standard_normal(lda * (m if transpose_a else k))
    B = rng.standard_normal(ldb * (k if transpose_b else n))
    buffers = (np.empty(6, np.int32), np.array([ord("N"), ord("T")], np.uint8),
               np.array([1.0, 0.0]))
    for accumulate in (False, True):
        C = rng.standard_normal(ldc * n)
        expected = naive.gemm(transpose_a, transpose_b, m, n, k, A, lda, B, ldb, accumulate,
                              C.copy(), ldc)
        _kernels._gemm(_kernels.blas_dgemm(), buffers, transpose_a, transpose_b, m, n, k, A, lda,
                       B, ldb, accumulate, C, ldc)
        np.testing.assert_allclose(C, expected, atol=1e-13)


@pytest.mark.parametrize("F, m, K, C", [(101, 9, 6, 20), (4, 5, 2, 1), (7, 12, 3, 13), (1, 3, 1, 5)])
def test_packed_layer_kernel_equals_naive(F, m, K, C, rng):
    """The packed kernel against its twin and against the products of the operators, on a
    block of samples, for chunks of frequencies of every size, and in place."""
    V, weights = _spectra(rng, F, m, C)
    A = _dense_stack(rng, F, K, C, True)
    gammas = rng.dirichlet(np.ones(K))
    scale = np.r_[np.ones(C), np.full(C * (C - 1), 2.0)]
    scale[C + C * (C - 1) // 2:] = -2.0
    forms = np.empty((F, C * C, K))
    combos = np.empty((F, C * C, K + 1))
    for f in range(F):
        for j in range(K):
            G = A[f, j + 1].conj().T @ A[f, j + 1]
            forms[f, :, j] = scale * naive.packed_hermitian(G)
        for j in range(K + 1):
            combos[f, :, j] = naive.packed_hermitian(A[f, j])
    first, stop = (1, m - 1) if m > 2 else (0, m)
    block = V[:, first:stop]
    args = (A[:, 0], [A[:, 1 + j] for j in range(K)], gammas, weights, 0.5, 20.0)
    expected = naive.packed_layer(block, *args)
    np.testing.assert_allclose(expected, naive.spectral_layer_update(block, *args), atol=1e-12)
    gemm = _kernels.blas_dgemm()
    for chunk in sorted({1, 3, F}):
        out = np.full_like(V, np.nan)
        _kernels.packed_layer(gemm, V.view(np.float64), forms, combos, gammas, weights, 0.5,
                              20.0, first, stop, out.view(np.float64), chunk)
        np.testing.assert_allclose(out[:, first:stop], expected, atol=1e-12)
        assert np.isnan(out[:, :first]).all() and np.isnan(out[:, stop:]).all()
    inplace = V.copy()
    _kernels.packed_layer(gemm, inplace.view(np.float64), forms, combos, gammas, weights, 0.5,
                          20.0, first, stop, inplace.view(np.float64), 2)
    np.testing.assert_allclose(inplace[:, first:stop], expected, atol=1e-12)
    np.testing.assert_array_equal(inplace[:, :first], V[:, :first])


def test_fused_layer_returns_the_scatters_of_its_output(rng, monkeypatch):
    """apply_layer(..., classes=...) gives the class scatters of the new features, in threads
    and in single precision too; the statistics of a chunk taken from them are the same."""
    monkeypatch.setattr("redunet._parallel.SPLIT_MIN_WORK", 0)       # samples in two threads
    monkeypatch.setenv("REDUNET_NUM_THREADS", "2")
    counts = [40, 25, 35]
    y = labels_for(counts)
    rng.shuffle(y)
    for dtype, atol in ((np.float64, 1e-12), (np.float32, 2e-6)):
        V, weights = _spectra(rng, 9, len(y), 4, True, dtype)
        layer = build_layer(V.astype(np.complex128), group_rows(y, 3), weights, 0.1)[0]
        out, scatters = apply_layer(layer, V, weights, 0.5, 50.0, "numba", classes=(y, 3))
        assert stacked_operators(layer, V.dtype).fused and scatters.dtype == V.dtype
        np.testing.assert_allclose(out, apply_layer(layer, V, weights, 0.5, 50.0, "numba"),
                                   atol=0)
        np.testing.assert_allclose(out, apply_layer(layer, V, weights, 0.5, 50.0, "numpy"),
                                   atol=atol)
        expected = naive.class_scatters(out.astype(np.complex128), y, 3)
        np.testing.assert_allclose(scatters, expected, atol=atol)
        tally = Tally(y, 3, 9, 4, True, "numba")
        np.testing.assert_allclose(tally.of(out, 0, scatters).scatters,
                                   tally.of(out, 0).scatters, atol=atol)
    # a chunk without samples: no features, zero scatters
    out, scatters = apply_layer(layer, V[:, :0], weights, 0.5, 50.0, "numba", classes=(y[:0], 3))
    assert out.shape == (9, 0, 4) and scatters.shape == (3, 9, 4, 4) and not scatters.any()


@pytest.mark.parametrize("complex_", [False, True])
def test_stacked_kernels_equal_naive(complex_, rng):
    F, B, C = 5, 6, 4
    V, weights = _spectra(rng, F, B, C, complex_)
    P, _ = _spectra(rng, F, B, 3 * C + 5, complex_)
    pair = 2 if complex_ else 1
    real = (lambda a: a.view(np.float64)) if complex_ else (lambda a: a)
    offsets = np.array([C, 2 * C], dtype=np.int64)
    # the kernels take real views: offsets and widths in reals; norms accumulate into `out`
    sq = np.full((2, B), 0.25)
    _kernels.stacked_sq_norms(real(P), offsets * pair, C * pair, weights, sq)
    np.testing.assert_allclose(sq, 0.25 + naive.stacked_sq_norms(P, offsets, C, weights),
                               atol=1e-13)
    # low-rank classes: coefficients of widths 2 and 3 from column 3 C, real views for the kernel
    starts, ranks = np.array([3 * C, 3 * C + 2], dtype=np.int64), np.array([2, 3], dtype=np.int64)
    scales = np.repeat(rng.random((F, 5)) - 2.0, pair, axis=1)
    expected = naive.stacked_lowrank_sq_norms(real(V), real(P), starts * pair, ranks * pair,
                                              scales, weights)
    low = np.full((2, B), 0.5)
    _kernels.stacked_lowrank_sq_norms(real(V), real(P), starts * pair, ranks * pair, scales,
                                      weights, 0, low)
    np.testing.assert_allclose(low, 0.5 + expected, atol=1e-12)
    # a block of samples inside a larger batch: samples first:first + B
    wide = np.concatenate([V[:, :2] * 3.0, V], axis=1)
    low[:] = 0.0
    _kernels.stacked_lowrank_sq_norms(real(wide), real(P), starts * pair, ranks * pair, scales,
                                      weights, 2, low)
    np.testing.assert_allclose(low, expected, atol=1e-12)
    shares, shrink = rng.random((2, B)), rng.random(B)
    # extra enters as signs * extra: -1 on the imaginary parts adds its conjugate
    conj_signs = np.tile([1.0, -1.0], C) if complex_ else np.ones(C)
    for extra, signs, added in [(np.empty((0, 0, 0), dtype=V.dtype), np.ones(0), 0 * V),
                                (P[..., :C] * 0.3, np.ones(C * pair), P[..., :C] * 0.3),
                                (P[..., :C] * 0.3, conj_signs, np.conj(P[..., :C] * 0.3))]:
        for threshold in (0.0, 0.05):
            out = np.empty_like(V)
            _kernels.stacked_step(real(V), real(P), offsets * pair, shares,
                                  real(np.ascontiguousarray(extra)), signs, shrink, weights, 0.5,
                                  threshold, 0, real(out))
            expected = naive.stacked_step(V, P, offsets, shares, added, shrink, weights, 0.5,
                                          threshold)
            np.testing.assert_allclose(out, expected, atol=1e-13)
            assert (expected == 0).any() == (threshold > 0)
    # a block inside a larger batch (samples 3:3 + B), the rest of `out` untouched
    wide = np.concatenate([V[:, :3] * 2.0, V, V[:, :1]], axis=1)
    out = np.zeros_like(wide)
    _kernels.stacked_step(real(wide), real(P), offsets * pair, shares, real(P[..., :C] * 0.3),
                          np.ones(C * pair), shrink, weights, 0.5, 0.0, 3, real(out))
    np.testing.assert_allclose(out[:, 3:3 + B], naive.stacked_step(
        V, P, offsets, shares, P[..., :C] * 0.3, shrink, weights, 0.5), atol=1e-13)
    assert not out[:, :3].any() and not out[:, 3 + B:].any()
    # in place (out is V) gives the same
    inplace = V.copy()
    _kernels.stacked_step(real(inplace), real(P), offsets * pair, shares, real(P[..., :C] * 0.3),
                          np.ones(C * pair), shrink, weights, 0.5, 0.0, 0, real(inplace))
    np.testing.assert_allclose(inplace, naive.stacked_step(V, P, offsets, shares, P[..., :C] * 0.3,
                                                           shrink, weights, 0.5), atol=1e-13)


@pytest.mark.parametrize("complex_, dtype", [(True, np.float64), (False, np.float64),
                                              (True, np.float32)])
def test_orthogonal_factor_spans_the_factor_and_gives_the_norms(complex_, dtype, rng):
    from redunet._operators import orthogonal_columns
    F, C, r = 3, 7, 4
    W = rng.standard_normal((F, C, r)) + (1j * rng.standard_normal((F, C, r)) if complex_ else 0)
    W[1, :, 3] = W[1, :, 0]                                   # a rank-deficient frequency
    W = W.astype(np.result_type(dtype, np.complex64) if complex_ else dtype)
    U, lam = orthogonal_columns(W)
    assert U.dtype == W.dtype and lam.dtype == np.float64 and (lam >= 0).all()
    again, lam_again = orthogonal_columns(U)                 # already orthogonal: kept as is
    assert again is U
    np.testing.assert_allclose(lam_again, lam, atol=(1e-4 if dtype == np.float32 else 1e-12) * lam.max())
    tol = 1e-12 if dtype == np.float64 else 2e-5
    W64, U64 = W.astype(np.complex128), U.astype(np.complex128)
    adjoint = lambda A: A.conj().swapaxes(-1, -2)
    np.testing.assert_allclose(U64 @ adjoint(U64), W64 @ adjoint(W64), atol=tol * 10)
    gram = adjoint(U64) @ U64
    np.testing.assert_allclose(gram, lam[..., None] * np.eye(r), atol=tol * 10)
    v = rng.standard_normal(C) + (1j * rng.standard_normal(C) if complex_ else 0)
    for f in range(F):
        e = U64[f].conj().T @ v
        got = np.vdot(v, v).real + np.sum((lam[f] - 2.0) * np.abs(e) ** 2)
        assert got == pytest.approx(naive.lowrank_sq_norm_from_factor(v, W64[f]), rel=tol * 100)


@pytest.mark.parametrize("complex_, dtype", [(True, np.float64), (False, np.float64),
                                             (True, np.float32)])
def test_low_rank_factor_from_samples_knows_its_column_norms(complex_, dtype, rng, monkeypatch):
    """from_samples' factor has orthogonal columns whose squared norms it returns with it (so
    that stacking it needs no Gram matrix), also when frequencies are built in blocks."""
    monkeypatch.setattr("redunet._parallel.SPLIT_MIN_WORK", 0)       # frequencies in two blocks
    monkeypatch.setenv("REDUNET_NUM_THREADS", "2")
    from redunet._operators import orthogonal_columns
    B, _ = _spectra(rng, 5, 4, 11, complex_, dtype)
    op, _ = build_operator(B, 7.0, low_rank=True)
    assert op.kind == "lowrank" and op.column_norms.shape == (5, 4)
    W = op.factor.astype(np.complex128)
    gram = W.conj().swapaxes(-1, -2) @ W
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(gram, op.column_norms[..., None] * np.eye(4), atol=tol)
    U, lam = orthogonal_columns(op.factor, column_norms=op.column_norms)
    assert U is op.factor
    np.testing.assert_array_equal(lam, op.column_norms)


def _as_dense(op, C):
    if op.kind == "dense":
        return op.matrix
    W = op.factor
    return op.alpha * (np.eye(C) - np.matmul(W, W.conj().swapaxes(-1, -2)))


# (F, counts, C): fused small-channel layers; packed operators (double precision); BLAS products
# of dense operators; low-rank classes of small rank (kernel norms), of large rank (BLAS norms);
# dense and low-rank classes mixed; a low-rank expansion operator (tiny training set); odd and
# even lengths; one sample per class.
LAYERS = [(101, [30, 25], 5), (4, [1, 2, 1], 3), (11, [10, 12, 11], 20), (6, [3, 2, 4], 40),
          (3, [20, 19], 70), (5, [30, 2], 12), (4, [1, 2], 30), (1, [12, 9], 3), (1, [25, 30], 140),
          (5, [8, 9, 8, 10, 8, 9], 16)]


@pytest.mark.parametrize("F, counts, C", LAYERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stacked_apply_equals_numpy_path_and_naive(F, counts, C, dtype, rng):
    complex_ = F > 1
    y = labels_for(counts)
    V, _ = _spectra(rng, F, len(y), C, complex_, dtype)
    weights = _rfft_weights(2 * F - 1) if F % 2 else _rfft_weights(2 * F - 2)
    if F == 1:
        weights = np.ones(1)
    groups = group_rows(y, len(counts))
    layer, _, _ = build_layer(V, groups, weights, 0.1, backend="numpy")
    new, _ = _spectra(rng, F, 17, C, complex_, dtype)
    fast = apply_layer(layer, new, weights, 0.5, 50.0, backend="numba")
    plain = apply_layer(layer, new, weights, 0.5, 50.0, backend="numpy")
    assert fast.dtype == new.dtype
    tol = 1e-11 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(fast, plain, atol=tol)
    reference = naive.spectral_layer_update(
        new.astype(np.complex128 if complex_ else np.float64),
        _as_dense(layer.expansion, C), [_as_dense(op, C) for op in layer.compressions],
        layer.gammas, weights, 0.5, 50.0)
    np.testing.assert_allclose(fast, reference, atol=tol)
    # in place (out=V) and with the class scatters: the same features, the scatters of them
    for backend, expected in (("numba", fast), ("numpy", plain)):
        V_new = new.copy()
        out, scatters = apply_layer(layer, V_new, weights, 0.5, 50.0, backend, classes=(
            np.arange(17) % 2, 2), out=V_new)
        assert out is V_new
        np.testing.assert_array_equal(out, expected)
        if scatters is not None:
            np.testing.assert_allclose(scatters, naive.class_scatters(
                out.astype(np.result_type(out, np.float64)), np.arange(17) % 2, 2), atol=tol)
    with pytest.raises(ValueError, match="'out' of shape"):
        apply_layer(layer, new, weights, 0.5, 50.0, out=new[:, 1:])


def test_stacked_layout_covers_every_path(rng):
    """The cases above reach the fused kernel, the packed kernel, BLAS products of dense
    operators, of low-rank classes of small and of large rank, and of both kinds mixed."""
    kinds = set()
    for F, counts, C in LAYERS:
        y = labels_for(counts)
        V, w = _spectra(rng, F, len(y), C, F > 1)
        layer, _, _ = build_layer(V, group_rows(y, len(counts)), w, 0.1, backend="numpy")
        stack = stacked_operators(layer, V.dtype)
        if stack is None:
            kinds.add("low-rank expansion")
        elif stack.kind in ("fused", "packed"):
            kinds.add(stack.kind)
        else:
            kinds.add("dense" if not stack.low_rank else
                      "small ranks" if stack.ranks.max() <= 16 else "large ranks")
            if stack.low_rank and stack.dense:
                kinds.add("mixed")
    assert kinds == {"low-rank expansion", "fused", "packed", "dense", "small ranks", "large ranks",
                     "mixed"}


def test_update_form_follows_the_documented_bounds():
    """docs/math.rst, "Computing the update": fused up to 12 channels (dense), packed for 13 to
    32 channels with enough classes, dense operators and double precision, else stacked."""
    double, single = np.complex128, np.complex64
    assert update_form(12, 2, True, single) == "fused"
    assert update_form(12, 10, False, double) == "stacked"
    for C, fewest in ((13, 3), (14, 3), (15, 4), (20, 4), (21, 6), (24, 6), (25, 8), (32, 8)):
        assert update_form(C, fewest, True, double) == "packed"
        assert update_form(C, fewest - 1, True, double) == "stacked"
        assert update_form(C, 10, True, single) == "stacked"
        assert update_form(C, 10, False, double) == "stacked"
    assert update_form(33, 50, True, double) == "stacked"
    assert update_form(20, 10, True, np.float64) == "stacked"


@pytest.mark.parametrize("C", [64, 90])
@pytest.mark.parametrize("complex_", [False, True])
def test_large_dense_operator_from_lapack_inverse_equals_explicit_inverse(C, complex_, rng):
    B, _ = _spectra(rng, 2, 3 * C, C, complex_)
    op, logdet = build_operator(B, 4.0, low_rank=False)
    S = np.matmul(B.swapaxes(-1, -2), B.conj())
    expected = 4.0 * np.linalg.inv(np.eye(C) + 4.0 * S)
    np.testing.assert_allclose(op.matrix, expected, atol=1e-12)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(np.eye(C) + 4.0 * S)[1], atol=1e-10)


@pytest.mark.parametrize("F, counts, C", [(9, [5, 7], 4), (3, [5, 6, 7], 12), (1, [6, 8], 5)])
def test_layer_from_class_scatters_equals_layer_from_samples(F, counts, C, rng):
    y = labels_for(counts)
    V, weights = _spectra(rng, F, len(y), C, F > 1)
    groups = group_rows(y, len(counts))
    # the fit's path: all class scatters in one compiled pass (Tally), operators from them
    tally = Tally(y, len(counts), F, C, np.iscomplexobj(V), "numba")
    fast = layer_from_statistics(tally.of(V, 0), weights, 0.1, "numba")
    plain = build_layer(V, groups, weights, 0.1, backend="numpy")
    assert fast[1] == pytest.approx(plain[1], abs=1e-12)
    assert fast[2] == pytest.approx(plain[2], abs=1e-12)
    for a, b in zip([fast[0].expansion] + fast[0].compressions,
                    [plain[0].expansion] + plain[0].compressions):
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-11)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_single_real_frequency_scatter_from_syrk_equals_outer_products(dtype, rng):
    from redunet._operators import scatter
    B = rng.standard_normal((1, 50, 40)).astype(dtype)
    got = scatter(B)
    assert got.dtype == dtype
    expected = naive.class_scatters(B.astype(np.float64), np.zeros(50, int), 1)[0]
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
