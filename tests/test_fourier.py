"""Shift-invariant archs: the FFT construction is the dense circulant construction (docs/math.rst, "Shift invariance")."""

import numpy as np
import pytest

import naive
from conftest import labels_for
from redunet import Lift1D, Lift2D, NearestSubspace, ReduNet
from redunet.datasets import cyclic_shift, translate2d
from redunet._layer import apply_layer, build_layer, group_rows
from redunet._operators import build_operator
from redunet._spectrum import RFFT1D, RFFT2D, weighted_sq_norms

CASES_1D = [((3, 8), [4, 3, 2]), ((2, 7), [5, 4]), ((1, 6), [3, 3]), ((4, 5), [2, 6])]
CASES_2D = [((2, 4, 5), [4, 3, 2]), ((1, 3, 4), [3, 3]), ((3, 4, 4), [2, 5])]


def _arch(shape):
    return "fourier1d" if len(shape) == 2 else "fourier2d"


@pytest.mark.parametrize("shape, counts", CASES_1D + CASES_2D)
def test_fourier_layers_equal_dense_circulant_construction(shape, counts, rng):
    y = labels_for(counts)
    X = rng.standard_normal((y.shape[0],) + shape)
    Z_ref, _, history_ref = naive.dense_circulant_redunet(X, y, n_layers=4)
    net = ReduNet(arch=_arch(shape), n_layers=4).fit(X, y)
    np.testing.assert_allclose(net.transform(X), Z_ref, atol=1e-9, rtol=0)
    np.testing.assert_allclose(net.history_["delta_r"], history_ref, atol=1e-9, rtol=0)


@pytest.mark.parametrize("shape, counts", [((3, 9), [4, 5]), ((2, 10), [3, 4, 3]), ((2, 5, 6), [4, 4])])
def test_half_spectrum_equals_full_spectrum(shape, counts, rng):
    y = labels_for(counts)
    X = rng.standard_normal((y.shape[0],) + shape)
    reference, _, history = naive.full_spectrum_redunet(X, y, n_layers=5)
    net = ReduNet(arch=_arch(shape), n_layers=5).fit(X, y)
    np.testing.assert_allclose(net.transform(X), reference, atol=1e-12, rtol=0)
    np.testing.assert_allclose(net.history_["delta_r"], history, atol=1e-12, rtol=0)


@pytest.mark.parametrize("spectrum, shape", [(RFFT1D, (3, 8)), (RFFT1D, (3, 9)),
                                             (RFFT2D, (2, 4, 6)), (RFFT2D, (2, 5, 5))])
def test_weighted_half_spectrum_norm_is_parseval(spectrum, shape, rng):
    Z = rng.standard_normal((5,) + shape)
    transform = spectrum(shape)
    V = transform.forward(Z)
    assert V.shape == (transform.n_frequencies, 5, shape[0])
    np.testing.assert_allclose(weighted_sq_norms(V, transform.weights),
                               (Z.reshape(5, -1) ** 2).sum(axis=1), rtol=1e-13)
    assert transform.weights.sum() == np.prod(shape[1:])
    np.testing.assert_allclose(transform.inverse(V), Z, atol=1e-13)


@pytest.mark.parametrize("shifts", [1, 3, -2, 7])
def test_equivariance_1d_every_layer(shifts, rng):
    y = labels_for([5, 4, 3])
    X = rng.standard_normal((12, 3, 10))
    net = ReduNet(arch="fourier1d", n_layers=6).fit(X, y)
    for depth in (1, 3, 6):
        partial = ReduNet(arch="fourier1d", n_layers=depth).fit(X, y)
        np.testing.assert_allclose(partial.transform(cyclic_shift(X, shifts)),
                                   cyclic_shift(partial.transform(X), shifts), atol=1e-9)
    X_new = rng.standard_normal((6, 3, 10))
    np.testing.assert_array_equal(net.predict(cyclic_shift(X_new, shifts)), net.predict(X_new))


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, 2), (3, 4), (-1, 5)])
def test_equivariance_2d_with_lift(dy, dx, rng):
    y = labels_for([4, 4])
    X = rng.standard_normal((8, 1, 6, 7))
    net = ReduNet(arch="fourier2d", n_layers=4, lift=Lift2D(5, 3, seed=1)).fit(X, y)
    np.testing.assert_allclose(net.transform(translate2d(X, dy, dx)),
                               translate2d(net.transform(X), dy, dx), atol=1e-9)
    np.testing.assert_array_equal(net.predict(translate2d(X, dy, dx)), net.predict(X))


def test_prediction_of_every_shift_is_the_prediction_of_the_sample(rng):
    y = labels_for([6, 6, 6])
    X = rng.standard_normal((18, 2, 12))
    net = ReduNet(arch="fourier1d", n_layers=5, lift=Lift1D(6, 3, seed=0)).fit(X, y)
    X_new = rng.standard_normal((5, 2, 12))
    base = net.predict(X_new)
    scores = net.classifier_.residuals_spectral(net._spectral_features(X_new))
    for s in range(12):
        shifted = cyclic_shift(X_new, s)
        np.testing.assert_array_equal(net.predict(shifted), base)
        np.testing.assert_allclose(
            net.classifier_.residuals_spectral(net._spectral_features(shifted)), scores, atol=1e-10)


@pytest.mark.parametrize("T", [6, 7])
def test_spectral_nearest_subspace_equals_plain_on_all_shifts(T, rng):
    # Keeping every component (n_components counts family dimensions, at most C * T),
    # the kept subspaces span the circulant family.
    y = labels_for([3, 4, 2])
    C = 5
    Z_train = rng.standard_normal((9, C, T))
    Z_test = rng.standard_normal((7, C, T))
    spectrum = RFFT1D((C, T))
    clf = NearestSubspace(n_components=C * T).fit_spectral(
        spectrum.forward(Z_train), spectrum.weights, y, np.arange(3))
    family = np.concatenate([cyclic_shift(Z_train, s) for s in range(T)]).reshape(9 * T, -1)
    family_y = np.tile(y, T)
    expected = naive.nearest_subspace_predict(family, family_y, Z_test.reshape(7, -1), k=C * T)
    np.testing.assert_array_equal(clf.predict_spectral(spectrum.forward(Z_test)), expected)
    residuals = clf.residuals_spectral(spectrum.forward(Z_test))
    for j in range(3):
        U = np.linalg.svd(family[family_y == j].T, full_matrices=False)[0]
        rank = np.linalg.matrix_rank(family[family_y == j])
        U = U[:, :rank]
        flat = Z_test.reshape(7, -1)
        np.testing.assert_allclose(residuals[:, j],
                                   np.linalg.norm(flat - flat @ U @ U.T, axis=1) ** 2, atol=1e-10)


@pytest.mark.parametrize("n, C", [(3, 10), (1, 6), (8, 9)])
def test_complex_low_rank_equals_dense(n, C, rng):
    B = rng.standard_normal((4, n, C)) + 1j * rng.standard_normal((4, n, C))
    V = rng.standard_normal((4, 11, C)) + 1j * rng.standard_normal((4, 11, C))
    dense, logdet_dense = build_operator(B, 1.7, low_rank=False)
    low, logdet_low = build_operator(B, 1.7, low_rank=True)
    np.testing.assert_allclose(low.apply(V), dense.apply(V), atol=1e-10, rtol=0)
    np.testing.assert_allclose(logdet_low, logdet_dense, atol=1e-10)
    # The dense matrix is Hermitian positive definite.
    np.testing.assert_allclose(dense.matrix, dense.matrix.conj().swapaxes(1, 2), atol=1e-13)
    assert np.all(np.linalg.eigvalsh(dense.matrix) > 0)


def test_low_rank_layer_equals_dense_layer_in_2d(rng):
    y = labels_for([3, 4])
    spectrum = RFFT2D((12, 4, 5))
    Z = rng.standard_normal((7, 12, 4, 5))
    Z /= np.linalg.norm(Z.reshape(7, -1), axis=1)[:, None, None, None]
    V = spectrum.forward(Z)
    groups = group_rows(y, 2)
    layer, rate, compression = build_layer(V, groups, spectrum.weights, 0.1)
    assert [op.kind for op in layer.compressions] == ["lowrank", "lowrank"]
    from redunet._layer import Layer
    dense = Layer(build_operator(V, 12 / 0.7, low_rank=False)[0],
                  [build_operator(V[:, g], 12 / (g.size * 0.1), low_rank=False)[0] for g in groups],
                  layer.gammas)
    np.testing.assert_allclose(apply_layer(layer, V.copy(), spectrum.weights, 0.5, 500.0),
                               apply_layer(dense, V.copy(), spectrum.weights, 0.5, 500.0),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("arch, shape, lift", [("fourier1d", (2, 16), Lift1D(8, 3)),
                                               ("fourier2d", (1, 8, 8), Lift2D(6, 3))])
def test_float32_path_agrees_with_float64(arch, shape, lift, rng):
    y = labels_for([6, 6])
    X = rng.standard_normal((12,) + shape)
    f64 = ReduNet(arch=arch, n_layers=5, lift=lift).fit(X, y)
    f32 = ReduNet(arch=arch, n_layers=5, lift=lift, dtype="float32").fit(X, y)
    Z32 = f32.transform(X)
    assert Z32.dtype == np.float32
    for layer in f32.layers_:
        for op in [layer.expansion] + layer.compressions:
            assert all(a.dtype in (np.complex64, np.float32) for a in op.arrays().values()
                       if a.ndim), op.kind
    # Features are unit vectors; single precision carries ~1e-7 relative error per operation and
    # each layer is a contraction plus a step of size eta, so 5 layers stay well within 1e-4.
    np.testing.assert_allclose(Z32, f64.transform(X), atol=1e-4)
    np.testing.assert_allclose(f32.history_["delta_r"], f64.history_["delta_r"], rtol=1e-4)
    np.testing.assert_array_equal(f32.predict(X), f64.predict(X))
