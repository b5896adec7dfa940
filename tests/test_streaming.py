"""Streaming fit: statistics and updates chunk by chunk equal the in-memory fit."""

import numpy as np
import pytest

from conftest import labels_for
from redunet import Lift1D, Lift2D, ReduNet
from redunet._statistics import Tally
from redunet._streaming import LocalChunks, Statistics


@pytest.mark.parametrize("arch, shape, lift", [
    ("vector", (12,), None),
    ("vector", (3,), None),
    ("fourier1d", (2, 10), Lift1D(5, 3)),
    ("fourier2d", (1, 5, 6), Lift2D(3, 3)),
])
def test_memmap_larger_than_chunk_equals_in_memory_fit(arch, shape, lift, tmp_path, rng):
    y = labels_for([14, 9, 11])
    data = rng.standard_normal((y.shape[0],) + shape)
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=float, shape=data.shape)
    X[:] = data
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    params = dict(arch=arch, n_layers=6, lift=lift)
    reference = ReduNet(**params).fit(data, y)
    streamed = ReduNet(**params).fit(X, y, chunk_size=5, work_dir=tmp_path)
    np.testing.assert_allclose(streamed.transform(data), reference.transform(data), atol=1e-10)
    np.testing.assert_allclose(streamed.history_["delta_r"], reference.history_["delta_r"], atol=1e-10)
    np.testing.assert_array_equal(streamed.predict(data), reference.predict(data))
    # The temporary feature file is gone; only the input remains.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.npy"]


def test_statistics_of_chunks_add_up_to_statistics_of_all(rng):
    V = rng.standard_normal((3, 17, 4)) + 1j * rng.standard_normal((3, 17, 4))
    y = labels_for([6, 11])
    whole = Statistics.of(V, y, 2)
    parts = Statistics.of(V[:, :5], y[:5], 2) + Statistics.of(V[:, 5:], y[5:], 2)
    np.testing.assert_allclose(parts.scatters, whole.scatters, atol=1e-13)
    np.testing.assert_array_equal(parts.counts, [6, 11])
    explicit = sum(np.einsum("c,d->cd", V[1, i], V[1, i].conj()) for i in np.flatnonzero(y == 1))
    np.testing.assert_allclose(whole.scatters[1, 1], explicit, atol=1e-13)


def test_chunk_without_some_class_is_fine(rng):
    # Sorted labels: most chunks hold a single class.
    y = np.repeat([0, 1, 2], 8)
    X = rng.standard_normal((24, 5))
    a = ReduNet(n_layers=4).fit(X, y)
    b = ReduNet(n_layers=4).fit(X, y, chunk_size=3)
    np.testing.assert_allclose(b.transform(X), a.transform(X), atol=1e-10)


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_update_keeps_features_written_from_outside(chunk_size, rng):
    """Updates run in place only on chunks the executor made itself: features written into
    it (or restored) are left as they were."""
    X = rng.standard_normal((20, 2, 12))
    y = np.arange(20) % 2
    net = ReduNet(arch="fourier1d", n_layers=2).fit(X, y)
    F, C = net.input_stage_.shape
    tally = Tally(y, 2, F, C, True, "numba")
    step = net._layer_step()
    chunks = LocalChunks(tally, step, (20, F, C), np.complex128, chunk_size)
    features = net.input_stage_.features(X)
    kept = features.copy()
    for samples in chunks.slices():
        chunks.write(samples, features[:, samples])
    for layer in net.layers_:
        stats = chunks.update(layer)
    np.testing.assert_array_equal(features, kept)
    V = np.concatenate(list(chunks.chunks()), axis=1)
    expected = features
    for layer in net.layers_:
        expected = step(layer, expected)
    np.testing.assert_allclose(V, expected, atol=1e-14)     # vectorized blocks differ by chunk
    np.testing.assert_allclose(stats.scatters, Tally(y, 2, F, C, True, "numpy").of(V, 0).scatters,
                               atol=1e-13)


@pytest.mark.parametrize("on_disk", [False, True])
def test_store_chunks_load_and_statistics(on_disk, tmp_path, rng):
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    tally = Tally(y, 2, 2, 3, True, "numpy")
    chunks = LocalChunks(tally, None, (10, 2, 3), np.complex128, 4,
                         tmp_path if on_disk else None)
    assert [(s.start, s.stop) for s in chunks.slices()] == [(0, 4), (4, 8), (8, 10)]
    features = rng.standard_normal((10, 2, 3)) + 1j * rng.standard_normal((10, 2, 3))
    chunks.load(features)
    np.testing.assert_array_equal(chunks.read(slice(4, 8)), features[4:8].transpose(1, 0, 2))
    np.testing.assert_array_equal(np.concatenate(list(chunks.chunks()), axis=1),
                                  features.transpose(1, 0, 2))
    assert chunks.whole() is None
    stats = chunks.statistics()
    V = features.transpose(1, 0, 2)
    for j in range(2):
        explicit = np.einsum("fic,fid->fcd", V[:, y == j], V[:, y == j].conj())
        np.testing.assert_allclose(stats.scatters[j], explicit, atol=1e-13)
    # 5 samples in 3 channels: no group is gathered for the low-rank form
    assert tally.groups == [] and stats.samples == {}
    chunks.close()
    assert list(tmp_path.iterdir()) == []


def test_small_groups_are_gathered_in_sample_order(rng):
    # 2 + 3 samples of class 1 in 16 channels: low rank is cheaper (2*16*5 + 25 < 256)
    y = np.array([0] * 6 + [1, 0, 1, 0, 0, 1, 1, 0, 1] + [0] * 5)
    tally = Tally(y, 2, 3, 16, False, "numpy")
    assert tally.groups == [1]
    V = rng.standard_normal((3, 20, 16))
    parts = [tally.of(V[:, a:b], a) for a, b in [(0, 7), (7, 13), (13, 20)]]
    stats = parts[0] + (parts[1] + parts[2])
    np.testing.assert_array_equal(stats.gathered(1), V[:, y == 1])
    assert stats.gathered(0) is None and stats.gathered(None) is None
    np.testing.assert_array_equal(stats.counts, [15, 5])


def test_chunked_fit_rejects_bad_arguments(tmp_path, rng):
    X = rng.standard_normal((8, 3))
    y = np.repeat([0, 1], 4)
    with pytest.raises(ValueError, match="'chunk_size' parameter of ReduNet.fit must be None or an int >= 1"):
        ReduNet().fit(X, y, chunk_size=0)
    bad = X.copy()
    bad[6, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ReduNet().fit(bad, y, chunk_size=3)


def _kinds(net):
    return [[layer.expansion.kind] + [op.kind for op in layer.compressions]
            for layer in net.layers_]


@pytest.mark.parametrize("arch, shape, counts", [
    ("vector", (64,), [10, 10, 10]),      # low-rank classes, dense expansion
    ("vector", (64,), [8, 8]),            # everything low rank
    ("fourier1d", (24, 8), [4, 5, 12]),   # complex spectra, mixed kinds
])
def test_chunked_fit_uses_the_low_rank_operators_of_the_in_memory_fit(arch, shape, counts,
                                                                      tmp_path, rng):
    y = labels_for(counts)
    X = rng.standard_normal((y.shape[0],) + shape)
    reference = ReduNet(arch=arch, n_layers=6).fit(X, y)
    for work_dir in (None, tmp_path):
        chunked = ReduNet(arch=arch, n_layers=6).fit(X, y, chunk_size=7, work_dir=work_dir)
        assert _kinds(chunked) == _kinds(reference)
        assert any("lowrank" in kinds for kinds in _kinds(reference))
        np.testing.assert_allclose(chunked.transform(X), reference.transform(X), atol=1e-10)
        np.testing.assert_allclose(chunked.history_["delta_r"], reference.history_["delta_r"],
                                   atol=1e-10)
        np.testing.assert_array_equal(chunked.predict(X), reference.predict(X))
    # the operators themselves, and the naive vector reference where it applies
    for a, b in zip(chunked.layers_, reference.layers_):
        for oa, ob in zip([a.expansion] + a.compressions, [b.expansion] + b.compressions):
            np.testing.assert_allclose(oa.apply(X_spectral(reference, X)),
                                       ob.apply(X_spectral(reference, X)), atol=1e-10)


def X_spectral(net, X):
    return net.input_stage_.features(X)


def test_chunked_fit_stops_by_tol_as_in_memory(rng):
    y = labels_for([20, 20])
    X = rng.standard_normal((40, 3))
    a = ReduNet(n_layers=400, tol=1e-4, patience=3).fit(X, y)
    b = ReduNet(n_layers=400, tol=1e-4, patience=3).fit(X, y, chunk_size=9)
    assert a.n_layers_ == b.n_layers_ < 400
    assert len(a.history_["delta_r"]) == a.n_layers_ + 1
    np.testing.assert_allclose(b.history_["delta_r"], a.history_["delta_r"], atol=1e-10)


def test_fitted_input_stage_is_lift_unit_sphere_and_spectrum(rng):
    X = rng.standard_normal((9, 2, 10))
    net = ReduNet(arch="fourier1d", n_layers=1, lift=Lift1D(4, 3)).fit(X, np.arange(9) % 3)
    stage = net.input_stage_
    Z = net.lift_.transform(X)
    Z /= np.linalg.norm(Z.reshape(9, -1), axis=1)[:, None, None]
    expected = np.fft.rfft(Z, axis=-1, norm="ortho").transpose(2, 0, 1)
    np.testing.assert_allclose(stage.features(X), expected, atol=1e-14)
    assert stage.shape == (6, 4) and stage.feature_dtype == np.complex128
    with pytest.raises(ValueError, match=r"samples of shape \(2, 10\) as in fit"):
        stage.features(X[:, :, :8])


def test_chunked_fit_reads_the_feature_store_once_per_layer(monkeypatch, tmp_path, rng):
    from redunet import _streaming as streaming
    reads = []
    original = streaming.LocalChunks.read

    def counted(self, samples):
        reads.append(samples)
        return original(self, samples)

    monkeypatch.setattr(streaming.LocalChunks, "read", counted)
    X, y = rng.standard_normal((40, 3, 8)), np.arange(40) % 4
    passes = {}
    for n_layers in (2, 5):
        reads.clear()
        ReduNet(arch="fourier1d", n_layers=n_layers).fit(X, y, chunk_size=10, work_dir=tmp_path)
        assert len(reads) % 4 == 0 and len(set((s.start, s.stop) for s in reads)) == 4
        passes[n_layers] = len(reads) // 4
    assert passes[5] - passes[2] == 3          # every further layer: one pass over 4 chunks


@pytest.mark.parametrize("F, complex_", [(1, False), (2, True)])
def test_gathered_classes_give_their_scatters_on_demand(F, complex_, rng):
    # Classes of 3 and 4 samples in 40 channels are gathered; the class of 30 is not,
    # nor is the whole set: its scatter is kept whole.
    import naive

    y = labels_for([3, 30, 4])
    V = rng.standard_normal((F, 37, 40))
    if complex_:
        V = V + 1j * rng.standard_normal(V.shape)
    tally = Tally(y, 3, F, 40, complex_, "numba")
    assert tally.groups == [0, 2]
    parts = [tally.of(V[:, a:b], a) for a, b in [(0, 10), (10, 25), (25, 37)]]
    stats = parts[0] + parts[1]
    stats += parts[2]
    expected = naive.class_scatters(V, y, 3)
    np.testing.assert_allclose(stats.scatter_of(None), expected.sum(0), atol=1e-10, rtol=0)
    for j in range(3):
        np.testing.assert_allclose(stats.scatter_of(j), expected[j], atol=1e-10, rtol=0)
    np.testing.assert_allclose(stats.scatters, expected, atol=1e-10, rtol=0)
    assert (stats.n_frequencies, stats.n_channels, stats.dtype) == (F, 40, V.dtype)
    # Merged with statistics that hold every scatter (no gathered samples): the same sums.
    mixed = tally.of(V[:, :10], 0) + Statistics.of(V[:, 10:], y[10:], 3)
    np.testing.assert_allclose(mixed.scatters, expected, atol=1e-10, rtol=0)
    np.testing.assert_allclose(mixed.scatter_of(None), expected.sum(0), atol=1e-10, rtol=0)


def test_fit_with_gathered_classes_in_chunks_equals_in_memory(rng):
    y = labels_for([6, 40, 5])
    X = rng.standard_normal((51, 70))
    a = ReduNet(n_layers=5).fit(X, y)
    b = ReduNet(n_layers=5).fit(X, y, chunk_size=8)
    np.testing.assert_allclose(b.transform(X), a.transform(X), atol=1e-10)
    np.testing.assert_allclose(b.final_statistics_.scatters, a.final_statistics_.scatters,
                               atol=1e-10)
