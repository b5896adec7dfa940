"""Every compiled kernel against its plain NumPy twin, on ordinary and edge shapes."""

import numpy as np
import pytest

from conftest import labels_for
from redunet import ReduNet, _kernels
import naive
from redunet._construction import layer_from_statistics
from redunet._layer import apply_layer, build_layer, group_rows
from redunet._statistics import Tally


@pytest.mark.parametrize("batch, n", [(1, 1), (3, 2), (7, 10), (40, 33)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32, np.complex64])
def test_triangular_inverse_serial_and_parallel_equal_numpy(batch, n, dtype, rng):
    A = rng.standard_normal((batch, n, n)).astype(dtype)
    if np.iscomplexobj(A):
        A = A + 1j * rng.standard_normal((batch, n, n)).astype(dtype)
    L = np.tril(A) + 3 * n * np.eye(n, dtype=dtype)
    reference = naive.lower_triangular_inverse(L)
    tol = 1e-12 if np.finfo(dtype).eps < 1e-10 else 1e-5
    for kernel in (_kernels._lower_triangular_inverse_serial,
                   _kernels._lower_triangular_inverse_parallel, _kernels.lower_triangular_inverse):
        out = kernel(np.ascontiguousarray(L))
        assert out.dtype == L.dtype
        np.testing.assert_allclose(out, reference, atol=tol * np.abs(reference).max())
        assert np.all(np.triu(out, 1) == 0)


@pytest.mark.parametrize("d, counts", [(2, [500, 500]), (3, [30, 20, 25]), (1, [4, 6]),
                                       (4, [4, 9, 5]), (8, [8, 12])])
def test_small_vector_kernels_equal_numpy_twins(d, counts, rng):
    y = labels_for(counts)
    Z = rng.standard_normal((y.shape[0], d))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    K = len(counts)
    scatters = _kernels.small_vector_scatters(Z, y, K)
    np.testing.assert_allclose(scatters, naive.small_vector_scatters(Z, y, K), atol=1e-12)
    operators, logdets = _kernels.small_vector_operators(scatters, np.array(counts), 0.1)
    ref_operators, ref_logdets = naive.small_vector_operators(scatters, np.array(counts), 0.1)
    np.testing.assert_allclose(operators, ref_operators, atol=1e-10)
    np.testing.assert_allclose(logdets, ref_logdets, atol=1e-10)
    gammas = np.array(counts) / sum(counts)
    np.testing.assert_allclose(_kernels.small_vector_apply(Z, operators, gammas, 0.5, 500.0),
                               naive.small_vector_apply(Z, operators, gammas, 0.5, 500.0),
                               atol=1e-12)


def test_small_vector_operators_kernel_refuses_indefinite_matrix():
    scatters = np.array([[[1.0, 0.0], [0.0, -50.0]], [[1.0, 0.0], [0.0, 1.0]]])
    with pytest.raises(np.linalg.LinAlgError):
        _kernels.small_vector_operators(scatters, np.array([3, 3]), 0.1)
    with pytest.raises(np.linalg.LinAlgError):
        _kernels.small_vector_operators(np.full((2, 2, 2), np.nan), np.array([3, 3]), 0.1)


@pytest.mark.parametrize("d, counts", [(2, [500, 500]), (3, [30, 20, 25]), (8, [8, 12])])
def test_small_vector_layer_equals_general_layer(d, counts, rng):
    y = labels_for(counts)
    Z = rng.standard_normal((y.shape[0], d))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    groups = group_rows(y, len(counts))
    weights = np.ones(1)
    stats = Tally(y, len(counts), 1, d, False, "numba").of(Z[None], 0)
    small, rate, compression = layer_from_statistics(stats, weights, 0.1, "numba")
    layer, ref_rate, ref_compression = build_layer(Z[None], groups, weights, 0.1, backend="numpy")
    assert rate == pytest.approx(ref_rate, abs=1e-12)
    assert compression == pytest.approx(ref_compression, abs=1e-12)
    np.testing.assert_allclose(small.expansion.matrix, layer.expansion.matrix, atol=1e-12)
    for a, b in zip(small.compressions, layer.compressions):
        np.testing.assert_allclose(a.matrix, b.matrix, atol=1e-12)
    np.testing.assert_allclose(small.gammas, layer.gammas)
    # apply_layer runs the compiled kernel for such layers, the NumPy path for backend="numpy"
    np.testing.assert_allclose(apply_layer(small, Z[None], weights, 0.5, 500.0, "numba"),
                               apply_layer(layer, Z[None], weights, 0.5, 500.0, "numpy"),
                               atol=1e-12)


def test_transform_of_training_samples_reproduces_training_features(tmp_path):
    from redunet._checkpoint import Checkpoint, fingerprint
    from redunet.datasets import gaussian_mixture_2d
    X, y = gaussian_mixture_2d(n_per_class=60, noise=0.1, seed=0)
    net = ReduNet(n_layers=300).fit(X, y, checkpoint=tmp_path, checkpoint_every=1000)
    # The checkpoint holds the training features after the last layer, as the loop left
    # them; the same kernel replays the layers on the training samples.
    key = fingerprint(X, np.searchsorted(net.classes_, y), net.classes_, net.get_params())
    trained = Checkpoint(tmp_path, 1000, key).restore().features[:, 0]
    np.testing.assert_array_equal(net.transform(X), trained)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numba_and_numpy_backends_agree_over_many_layers(seed):
    rng = np.random.default_rng(seed)
    y = labels_for([40, 30, 35])
    X = rng.standard_normal((105, 3))
    a = ReduNet(n_layers=200, backend="numba").fit(X, y)
    b = ReduNet(n_layers=200, backend="numpy").fit(X, y)
    np.testing.assert_allclose(a.transform(X), b.transform(X), atol=1e-10)
    np.testing.assert_allclose(a.history_["delta_r"], b.history_["delta_r"], atol=1e-10)


def test_backend_switch_by_environment(monkeypatch, rng):
    from redunet._config import default_backend
    monkeypatch.setenv("REDUNET_BACKEND", "numpy")
    assert default_backend() == "numpy"
    monkeypatch.setenv("REDUNET_BACKEND", "fortran")
    with pytest.raises(ValueError, match="REDUNET_BACKEND environment variable must be one of"):
        ReduNet(n_layers=1).fit(rng.standard_normal((4, 2)), [0, 0, 1, 1])


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("F, m, C, n", [(1, 9, 6, 2), (5, 7, 8, 3), (4, 3, 5, 1)])
def test_low_rank_norms_from_coefficients_equal_explicit_norms(complex_, F, m, C, n, rng):
    from redunet._operators import build_operator
    make = (lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)) if complex_ \
        else (lambda *s: rng.standard_normal(s))
    B, V = make(F, n, C), make(F, m, C)
    weights = rng.integers(1, 3, size=F).astype(float)
    op, _ = build_operator(B, 3.0, low_rank=True)
    explicit = np.einsum("f,fmc->m", weights, np.abs(op.apply(V)) ** 2)
    power = (np.abs(V) ** 2).sum(-1)
    for backend in ("numba", "numpy"):
        got = op.sq_norms(op.coefficients(V), power, weights, backend)
        np.testing.assert_allclose(got, explicit, rtol=1e-10)


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("F, m, n", [(1, 1, 1), (3, 7, 4), (5, 2, 9)])
def test_lowrank_sq_norms_kernel_equals_numpy_twin(complex_, F, m, n, rng):
    make = (lambda *s: rng.standard_normal(s) + 1j * rng.standard_normal(s)) if complex_ \
        else (lambda *s: rng.standard_normal(s))
    coefficients, G = make(F, m, n), make(F, n, n)
    gram = G @ np.swapaxes(G, 1, 2).conj()                 # Hermitian, as the operators' Gram
    power, weights = rng.random((F, m)) * 10, rng.integers(1, 3, size=F).astype(float)
    np.testing.assert_allclose(_kernels.lowrank_sq_norms(coefficients, gram, power, weights),
                               naive.lowrank_sq_norms(coefficients, gram, power, weights),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("complex_", [False, True])
def test_step_and_normalize_kernel_equals_numpy(complex_, rng):
    F, m, C = 4, 6, 3
    V = rng.standard_normal((F, m, C)) + (1j * rng.standard_normal((F, m, C)) if complex_ else 0)
    step = rng.standard_normal((F, m, C)) + (1j * rng.standard_normal((F, m, C)) if complex_ else 0)
    shrink, weights = rng.random(m), np.array([1.0, 2.0, 2.0, 1.0])
    expected = naive.step_and_normalize(V, step, shrink, weights, 0.5)
    np.testing.assert_allclose(_kernels.step_and_normalize(V, step.copy(), shrink, weights, 0.5),
                               expected, atol=1e-14)


def test_every_compiled_kernel_has_a_numpy_twin():
    from numba.core.dispatcher import Dispatcher
    kernels = {name.strip("_").removesuffix("_serial").removesuffix("_parallel")
               for name, obj in vars(_kernels).items() if isinstance(obj, Dispatcher)}
    assert {"small_vector_apply", "lowrank_sq_norms", "lower_triangular_inverse"} <= kernels
    assert sorted(k for k in kernels if not callable(getattr(naive, k, None))) == []
