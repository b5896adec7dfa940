"""Fits on a Dask LocalCluster equal the in-memory fit; a killed worker is recovered."""

import os
import signal

import numpy as np
import pytest

pytest.importorskip("distributed")
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from conftest import labels_for  # noqa: E402
from redunet import Lift1D, Lift2D, ReduNet  # noqa: E402
from redunet._distributed import DaskChunks  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    with Client(cluster) as c:
        yield c
    cluster.close()


CASES = [("vector", (12,), None), ("fourier1d", (3, 16), Lift1D(6, 3)),
         ("fourier2d", (1, 6, 7), Lift2D(4, 3))]


@pytest.mark.parametrize("arch, shape, lift", CASES)
def test_cluster_fit_equals_in_memory_fit(client, arch, shape, lift, rng):
    y = labels_for([15, 11, 13], ["p", "q", "r"])
    X = rng.standard_normal((y.shape[0],) + shape)
    reference = ReduNet(arch=arch, n_layers=5, lift=lift).fit(X, y)
    dX = da.from_array(X, chunks=(8,) + shape)
    net = ReduNet(arch=arch, n_layers=5, lift=lift).fit(dX, y)
    np.testing.assert_allclose(net.transform(X), reference.transform(X), atol=1e-10)
    np.testing.assert_allclose(net.history_["delta_r"], reference.history_["delta_r"], atol=1e-10)
    np.testing.assert_allclose(net.transform(dX).compute(), reference.transform(X), atol=1e-10)
    np.testing.assert_array_equal(net.predict(dX).compute(), reference.predict(X))


def test_feature_graph_does_not_grow_with_depth(client, rng):
    y = labels_for([10, 10])
    X = rng.standard_normal((20, 4))
    net = ReduNet(n_layers=1).fit(X, y)
    from redunet._construction import layer_from_statistics
    from redunet._distributed import input_features
    from redunet._layer import apply_layer
    from redunet._statistics import Tally
    weights = net.spectrum_.weights
    executor = DaskChunks(input_features(net.input_stage_, da.from_array(X, chunks=(5, 4))),
                          Tally(y, 2, 1, 4, False, "numba"),
                          lambda layer, V, **options: apply_layer(layer, V, weights, 0.5,
                                                                  500.0, **options))
    sizes = []
    stats = executor.statistics()
    for _ in range(6):
        layer = layer_from_statistics(stats, weights, 0.1, "numba")[0]
        stats = executor.update(layer)
        sizes.append(len(executor.V.__dask_graph__()))
    assert sizes == [4] * 6


def test_killed_worker_is_recovered_and_model_is_exact(client, rng, monkeypatch):
    y = labels_for([12, 12, 12])
    X = rng.standard_normal((36, 2, 10))
    reference = ReduNet(arch="fourier1d", n_layers=8).fit(X, y)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    original = DaskChunks.update
    calls = {"n": 0}

    def update_then_kill(self, *args, **kwargs):
        stats = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            from distributed import wait
            wait(self.V)
            os.kill(victim, signal.SIGKILL)     # the nanny restarts it; its chunks are lost
        return stats

    monkeypatch.setattr(DaskChunks, "update", update_then_kill)
    net = ReduNet(arch="fourier1d", n_layers=8).fit(da.from_array(X, chunks=(6, 2, 10)), y)
    assert victim not in client.run(os.getpid).values()
    np.testing.assert_allclose(net.transform(X), reference.transform(X), atol=1e-10)
    np.testing.assert_allclose(net.history_["delta_r"], reference.history_["delta_r"], atol=1e-10)


def test_command_line_build_on_the_cluster(client, tmp_path, capsys):
    from redunet.cli import main
    from redunet.datasets import gaussian_mixture_2d
    model = tmp_path / "m.npz"
    assert main(["build", "--n-per-class", "30", "--layers", "6", "--quiet",
                 "--scheduler", client.scheduler.address, "--output", str(model)]) == 0
    X, y = gaussian_mixture_2d(n_per_class=30, noise=0.1, seed=0)
    np.testing.assert_allclose(ReduNet.load(model).transform(X),
                               ReduNet(n_layers=6).fit(X, y).transform(X), atol=1e-10)


def test_cluster_fit_uses_the_low_rank_operators_of_the_in_memory_fit(client, rng):
    y = labels_for([10, 10, 10])             # 10 samples in 64 features: low-rank classes
    X = rng.standard_normal((30, 64))
    reference = ReduNet(n_layers=5).fit(X, y)
    net = ReduNet(n_layers=5).fit(da.from_array(X, chunks=(7, 64)), y)
    kinds = lambda n: [[l.expansion.kind] + [op.kind for op in l.compressions] for l in n.layers_]
    assert kinds(net) == kinds(reference) == [["dense", "lowrank", "lowrank", "lowrank"]] * 5
    np.testing.assert_allclose(net.transform(X), reference.transform(X), atol=1e-10)
    np.testing.assert_allclose(net.history_["delta_r"], reference.history_["delta_r"], atol=1e-10)


def test_cluster_fit_checkpoints_and_resumes(client, tmp_path, rng):
    y = labels_for([9, 12])
    X = rng.standard_normal((21, 2, 8))
    dX = da.from_array(X, chunks=(6, 2, 8))
    make = lambda n: ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(4, 3))
    make(4).fit(dX, y, checkpoint=tmp_path, checkpoint_every=2)
    resumed = make(9).fit(dX, y, checkpoint=tmp_path, checkpoint_every=2, resume=True)
    uninterrupted = make(9).fit(dX, y)
    for key in resumed.history_:
        np.testing.assert_array_equal(resumed.history_[key], uninterrupted.history_[key])
    np.testing.assert_array_equal(resumed.transform(X), uninterrupted.transform(X))
    np.testing.assert_allclose(resumed.transform(X), make(9).fit(X, y).transform(X), atol=1e-10)
