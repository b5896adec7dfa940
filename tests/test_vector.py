"""The vector ReduNet against a plain NumPy implementation of the vector layer (docs/math.rst)."""

import numpy as np
import pytest

import naive
from conftest import labels_for
from redunet import ReduNet
from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d
from redunet._layer import apply_layer, build_layer, group_rows
from redunet._operators import (FactorizationError, build_operator, build_operator_from_scatter,
                               class_scatters, whole_scatter)


@pytest.mark.parametrize("d, counts, names", [
    (2, [30, 20], None),
    (5, [10, 25, 7], ["cat", "ant", "bee"]),
    (12, [40, 3, 9, 15], None),          # m_j < d for three classes: low-rank operators
    (30, [8, 6], ["x", "y"]),            # every operator low rank, E too (m < d)
    (70, [12, 9, 20], None),             # low-rank classes, dense E of 70 channels (LAPACK)
])
def test_fifty_layers_match_plain_numpy(d, counts, names, rng):
    y = labels_for(counts, names)
    X = rng.standard_normal((y.shape[0], d))
    Z_ref, _, history_ref = naive.vector_redunet(X, y, n_layers=50)
    net = ReduNet(n_layers=50).fit(X, y)
    np.testing.assert_allclose(net.transform(X), Z_ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(net.history_["delta_r"], history_ref, atol=1e-9, rtol=0)
    assert list(net.classes_) == sorted(set(y.tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_new_samples_match_plain_numpy(seed):
    X, y = gaussian_mixture_3d(n_per_class=20, noise=0.3, seed=seed)
    X_new, _ = gaussian_mixture_3d(n_per_class=5, noise=0.3, seed=seed + 100)
    _, layers, _ = naive.vector_redunet(X, y, n_layers=10)
    net = ReduNet(n_layers=10).fit(X, y)
    np.testing.assert_allclose(net.transform(X_new), naive.vector_apply(X_new, layers), atol=1e-10)


@pytest.mark.parametrize("n, d", [(3, 10), (1, 4), (9, 10)])
def test_woodbury_equals_dense(n, d, rng):
    B = rng.standard_normal((1, n, d))
    V = rng.standard_normal((1, 17, d))
    dense, logdet_dense = build_operator(B, 2.5, low_rank=False)
    low, logdet_low = build_operator(B, 2.5, low_rank=True)
    assert (dense.kind, low.kind) == ("dense", "lowrank")
    np.testing.assert_allclose(low.apply(V), dense.apply(V), atol=1e-10, rtol=0)
    np.testing.assert_allclose(logdet_low, logdet_dense, atol=1e-10)
    explicit = 2.5 * np.linalg.inv(np.eye(d) + 2.5 * B[0].T @ B[0])
    np.testing.assert_allclose(dense.matrix[0], explicit, atol=1e-12)


def test_layer_chooses_low_rank_only_where_it_is_smaller(rng):
    y = labels_for([3, 40])
    V = rng.standard_normal((1, 43, 20))
    layer, _, _ = build_layer(V, group_rows(y, 2), np.ones(1), 0.1)
    assert layer.expansion.kind == "dense"
    assert [op.kind for op in layer.compressions] == ["lowrank", "dense"]
    assert layer.compressions[0].factor.shape == (1, 20, 3)


def test_streaming_softmax_equals_direct_softmax(rng):
    y = labels_for([6, 5, 7])
    V = rng.standard_normal((1, 18, 4))
    V /= np.linalg.norm(V, axis=2, keepdims=True)
    layer, _, _ = build_layer(V, group_rows(y, 3), np.ones(1), 0.1)
    for lmbda in (0.0, 1.0, 500.0, 1e6):
        out = apply_layer(layer, V.copy(), np.ones(1), 0.5, lmbda)
        E = layer.expansion.matrix[0]
        Cs = [op.matrix[0] for op in layer.compressions]
        np.testing.assert_allclose(out[0], naive.vector_update(V[0], E, Cs, layer.gammas, 0.5, lmbda),
                                   atol=1e-12)


@pytest.mark.parametrize("make, n_classes", [(gaussian_mixture_2d, 2), (gaussian_mixture_3d, 3)])
def test_paper_mixtures_rise_and_become_orthogonal(make, n_classes):
    X, y = make(n_per_class=200, noise=0.1, seed=3)
    net = ReduNet(n_layers=1000).fit(X, y)
    delta = net.history_["delta_r"]
    assert delta[-1] > delta[0] + 0.05
    assert np.all(np.diff(delta) > -1e-6)            # never decreases beyond rounding
    Z = net.transform(X)
    means = np.array([Z[y == j].mean(axis=0) for j in range(n_classes)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    cosines = np.abs(means @ means.T)[np.triu_indices(n_classes, 1)]
    assert cosines.max() < 0.1
    X_new, y_new = make(n_per_class=100, noise=0.1, seed=4)
    assert net.score(X_new, y_new) > 0.95


def test_transform_of_training_set_reproduces_fit_features(rng):
    y = labels_for([15, 12])
    X = rng.standard_normal((27, 6))
    net = ReduNet(n_layers=20).fit(X, y)
    # The objective recorded during fit at the last layer is the one of transform(X).
    Z = net.transform(X)
    membership = np.eye(2)[np.searchsorted(net.classes_, y)]
    from redunet._objective import spectral_rates
    rate, compression = spectral_rates(Z[None], np.ones(1), 0.1, membership)
    assert rate - compression == pytest.approx(net.history_["delta_r"][-1], abs=1e-12)


def test_tol_patience_stops_early_and_records_depth():
    X, y = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=0)
    full = ReduNet(n_layers=400).fit(X, y)
    early = ReduNet(n_layers=400, tol=1e-4, patience=10).fit(X, y)
    assert early.n_layers_ < 400
    assert len(early.layers_) == early.n_layers_
    assert early.history_["delta_r"].shape == (early.n_layers_ + 1,)
    delta = early.history_["delta_r"]
    assert delta[-1] - delta[-11] <= 1e-4
    # The layers that were built are those of the full run.
    np.testing.assert_array_equal(early.history_["delta_r"], full.history_["delta_r"][:early.n_layers_ + 1])


def test_clone_and_params():
    sklearn_base = pytest.importorskip("sklearn.base")
    net = ReduNet(n_layers=7, eta=0.3)
    copy = sklearn_base.clone(net)
    assert copy.get_params() == net.get_params()
    assert copy.set_params(eps=0.2).eps == 0.2
    with pytest.raises(ValueError, match="Invalid parameter 'foo'"):
        net.set_params(foo=1)


@pytest.mark.parametrize("counts, d", [
    ([20, 20], 8),
    ([12, 9, 50], 70),                   # low-rank classes, dense E by LAPACK in float32
])
def test_float32_agrees_with_float64(counts, d, rng):
    y = labels_for(counts)
    X = rng.standard_normal((y.shape[0], d))
    f64 = ReduNet(n_layers=10).fit(X, y).transform(X)
    f32 = ReduNet(n_layers=10, dtype="float32").fit(X, y)
    Z32 = f32.transform(X)
    assert Z32.dtype == np.float32
    # float32 rounding (~6e-8 relative) amplified by at most ten contracting layers
    np.testing.assert_allclose(Z32, f64, atol=1e-4)


def test_numpy_backend_equals_numba_backend(rng):
    y = labels_for([10, 13])
    X = rng.standard_normal((23, 30))
    a = ReduNet(n_layers=8, backend="numba").fit(X, y).transform(X)
    b = ReduNet(n_layers=8, backend="numpy").fit(X, y).transform(X)
    np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("scale, dtype", [(1e160, "float64"), (1e-200, "float64"),
                                          (1e20, "float32"), (1e-23, "float32")])
def test_extreme_scales_reach_the_sphere(scale, dtype, rng):
    # Squaring such samples would overflow or underflow; the input stage rescales first.
    X = rng.standard_normal((8, 3))
    y = np.repeat([0, 1], 4)
    expected = ReduNet(n_layers=3).fit(X, y).transform(X)
    net = ReduNet(n_layers=3, dtype=dtype).fit(X * scale, y)
    np.testing.assert_allclose(net.transform(X * scale), expected, atol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("F, m, C, complex_", [
    (1, 300, 64, False),                 # one real frequency: sample blocks in threads
    (1, 7, 40, False),
    (3, 20, 6, True),                    # blocks of frequencies
])
def test_whole_scatter_is_the_sum_of_outer_products(F, m, C, complex_, rng):
    V = rng.standard_normal((F, m, C))
    if complex_:
        V = V + 1j * rng.standard_normal((F, m, C))
    S = whole_scatter(V)
    np.testing.assert_allclose(S, naive.class_scatters(V, np.zeros(m, int), 1)[0],
                               atol=1e-10, rtol=0)
    if not complex_:
        np.testing.assert_array_equal(S, S.swapaxes(-1, -2))            # exactly symmetric


@pytest.mark.parametrize("F", [1, 2])
def test_class_scatters_of_some_classes(F, rng):
    y = labels_for([5, 9, 4, 7])
    V = rng.standard_normal((F, y.shape[0], 40))
    every = naive.class_scatters(V, y, 4)
    np.testing.assert_allclose(class_scatters(V, y, 4), every, atol=1e-10, rtol=0)
    np.testing.assert_allclose(class_scatters(V, y, 4, classes=[3, 1]), every[[3, 1]],
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("C", [64, 90])
def test_dense_operator_of_one_real_scatter_is_the_explicit_inverse(C, rng):
    Z = rng.standard_normal((2 * C, C))
    S = (Z.T @ Z)[None]
    operator, logdet = build_operator_from_scatter(S, 0.3)
    A = np.eye(C) + 0.3 * S[0]
    np.testing.assert_allclose(operator.matrix[0], 0.3 * np.linalg.inv(A), atol=1e-12, rtol=0)
    np.testing.assert_array_equal(operator.matrix[0], operator.matrix[0].T)
    np.testing.assert_allclose(logdet, [np.linalg.slogdet(A)[1]], rtol=1e-12)
    with pytest.raises(FactorizationError) as failure:
        build_operator_from_scatter(-S, 0.3)
    assert failure.value.frequency == 0


def test_failed_low_rank_class_is_named_by_the_fit(monkeypatch, rng):
    # Classes of 10 samples in 70 channels: low rank, built in parallel threads.
    import redunet._operators as operators

    real = np.linalg.eigh

    def failing(A):
        lam, Q = real(A)
        if A.shape[-1] == 11:                # the Gram matrix of class 'b' only:
            lam[..., 0] = -np.inf            # not positive definite after regularization
        return lam, Q

    monkeypatch.setattr(operators.np.linalg, "eigh", failing)
    y = labels_for([10, 11, 10], ["a", "b", "c"])
    X = rng.standard_normal((31, 70))
    with pytest.raises(np.linalg.LinAlgError, match=r"layer 0, class 'b'"):
        ReduNet(n_layers=2).fit(X, y)
