"""Checkpoint and resume: a killed thousand-layer build resumes to the identical model."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from redunet import Lift1D, ReduNet
from redunet._arrayfile import read_arrays
from redunet._checkpoint import Checkpoint
from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d
from redunet._stack import LayerStack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same_model(a, b, X):
    assert a.n_layers_ == b.n_layers_
    for key in a.history_:
        np.testing.assert_array_equal(a.history_[key], b.history_[key])
    for name, array in b.layers_.arrays().items():
        np.testing.assert_array_equal(a.layers_.arrays()[name], array)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def _child(script):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env)


def _open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("chunked", [False, True])
def test_sigkilled_build_resumes_bit_for_bit(chunked, tmp_path):
    folder = tmp_path / "ckpt"
    # chunked: the features in a file on disk, three chunks of samples
    extra = dict(chunk_size=70, work_dir=str(tmp_path)) if chunked else {}
    child = _child(f"""
        from redunet import ReduNet
        from redunet.datasets import gaussian_mixture_2d
        X, y = gaussian_mixture_2d(n_per_class=100, noise=0.1, seed=0)
        ReduNet(n_layers=2000).fit(X, y, checkpoint={str(folder)!r}, checkpoint_every=25,
                                   **{extra!r})
    """)
    deadline = time.time() + 120
    layers = folder / "layers.bin"
    # Kill at an arbitrary moment once a few checkpoints exist, in the middle of the build
    # (the file grows by doubling, to at least twice the committed records of 144 bytes).
    while time.time() < deadline and child.poll() is None:
        if layers.exists() and layers.stat().st_size >= 200 * 144:
            break
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    X, y = gaussian_mixture_2d(n_per_class=100, noise=0.1, seed=0)
    resumed = ReduNet(n_layers=2000).fit(X, y, checkpoint=folder, checkpoint_every=25,
                                         resume=True, **extra)
    uninterrupted = ReduNet(n_layers=2000).fit(X, y, **extra)
    _same_model(resumed, uninterrupted, X)
    if chunked:     # and the chunked build equals the in-memory one
        np.testing.assert_allclose(resumed.transform(X), ReduNet(n_layers=2000).fit(X, y).transform(X),
                                   atol=1e-10)


def test_build_killed_inside_a_checkpoint_discards_the_partial_one(tmp_path):
    # Killed after appending the layers of the 5th checkpoint, before its state is written:
    # the appended bytes are past the committed count and must be discarded on resume.
    folder = tmp_path / "ckpt"
    child = _child(f"""
        import os, signal
        import redunet._checkpoint as ck
        from redunet import ReduNet
        from redunet.datasets import gaussian_mixture_3d
        calls = []
        def overwrite_streamed(*args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        original, ck.overwrite_streamed = ck.overwrite_streamed, overwrite_streamed
        X, y = gaussian_mixture_3d(n_per_class=30, seed=1)
        ReduNet(n_layers=200).fit(X, y, checkpoint={str(folder)!r}, checkpoint_every=10)
    """)
    assert child.wait(timeout=120) == -signal.SIGKILL
    operators = 4 * 9 * 8                                  # four (1, 3, 3) float64 operators a layer
    assert (folder / "layers.bin").stat().st_size >= 50 * operators      # 5th block appended
    X, y = gaussian_mixture_3d(n_per_class=30, seed=1)
    store = Checkpoint(folder, 10, _key(X, y, ReduNet(n_layers=200)))
    state = store.restore()
    assert len(state.layers) == 40 and len(state.history["rate"]) == 40
    assert state.features.shape == (90, 1, 3)
    del state, store
    resumed = ReduNet(n_layers=200).fit(X, y, checkpoint=folder, checkpoint_every=10, resume=True)
    _same_model(resumed, ReduNet(n_layers=200).fit(X, y), X)


def test_build_killed_while_streaming_the_state_resumes_from_the_other_slot(tmp_path):
    # A chunked build killed after the 2nd chunk of the 4th state's features reached the file
    # (its header not yet written): that slot is damaged, the 3rd state is restored.
    folder = tmp_path / "ckpt"
    child = _child(f"""
        import os, signal
        import redunet._checkpoint as ck
        from redunet import ReduNet
        from redunet.datasets import gaussian_mixture_3d
        calls = []
        def overwrite_streamed(fd, meta, arrays, name, pieces, old_size=None):
            calls.append(1)
            def watched():
                for count, piece in enumerate(pieces):
                    if len(calls) == 4 and count == 2:
                        os.kill(os.getpid(), signal.SIGKILL)
                    yield piece
            return original(fd, meta, arrays, name, watched(), old_size)
        original, ck.overwrite_streamed = ck.overwrite_streamed, overwrite_streamed
        import redunet._arrayfile as arrayfile
        arrayfile._GATHER_BYTES = 1                 # every piece reaches the file at once
        X, y = gaussian_mixture_3d(n_per_class=30, seed=1)
        ReduNet(n_layers=200).fit(X, y, chunk_size=20, checkpoint={str(folder)!r},
                                  checkpoint_every=10)
    """)
    assert child.wait(timeout=120) == -signal.SIGKILL
    X, y = gaussian_mixture_3d(n_per_class=30, seed=1)
    with pytest.raises(ValueError, match="checksum"):
        read_arrays(folder / "state0.rdn")            # the 4th state went to slot 0
    state = Checkpoint(folder, 10, _key(X, y, ReduNet(n_layers=200))).restore()
    assert len(state.layers) == 30 and state.features.shape == (90, 1, 3)
    del state
    resumed = ReduNet(n_layers=200).fit(X, y, chunk_size=20, checkpoint=folder,
                                        checkpoint_every=10, resume=True)
    _same_model(resumed, ReduNet(n_layers=200).fit(X, y, chunk_size=20), X)


def test_state_write_streams_the_features(tmp_path):
    # 32 MB of features in 16 chunks made on the fly: the write holds about one chunk.
    import tracemalloc
    from redunet._arrayfile import overwrite_streamed
    n_chunks, shape = 16, (1024, 16, 16)                 # 2 MB per chunk of float64

    def chunks():
        for k in range(n_chunks):
            yield np.full(shape, float(k))

    fd = os.open(tmp_path / "state", os.O_RDWR | os.O_CREAT)
    try:
        tracemalloc.start()
        overwrite_streamed(fd, {"k": 1}, {"lift": np.ones(3)}, "features", chunks())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        os.close(fd)
    assert peak < 4 * 2**21, f"peak {peak / 2**20:.1f} MB while writing 32 MB"
    meta, arrays = read_arrays(tmp_path / "state", mmap=True)
    assert meta == {"k": 1} and arrays["features"].shape == (n_chunks * shape[0],) + shape[1:]
    np.testing.assert_array_equal(arrays["features"][::shape[0], 0, 0], np.arange(n_chunks))
    np.testing.assert_array_equal(arrays["lift"], np.ones(3))


def _key(X, y, net):
    from redunet._checkpoint import fingerprint
    from redunet._validation import check_labels
    classes, y_index = check_labels(y, X.shape[0])
    return fingerprint(np.asarray(X, dtype=float), y_index, classes, net.get_params(deep=True))


def test_resume_in_process_with_lift_and_mapped_layers(tmp_path, rng):
    X = rng.standard_normal((16, 2, 12))
    y = np.repeat(["u", "v"], 8)
    make = lambda n: ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(12, 3, seed=None))
    first = make(7).fit(X, y, checkpoint=tmp_path, checkpoint_every=3)
    # Layers written are served from memory maps of the checkpoint files.
    assert isinstance(first.layers_, LayerStack)
    base = first.layers_[0].expansion.matrix
    while getattr(base, "base", None) is not None:
        base = base.base
    assert type(getattr(base, "obj", base)).__name__ == "mmap"
    resumed = make(15).fit(X, y, checkpoint=tmp_path, checkpoint_every=3, resume=True)
    # seed=None draws new kernels on every fit: the resumed build must reuse the saved ones.
    np.testing.assert_array_equal(resumed.lift_.kernels_, first.lift_.kernels_)
    np.testing.assert_array_equal(resumed.history_["delta_r"][:8], first.history_["delta_r"])
    reference = make(15)
    reference.lift = Lift1D(6, 3, kernels=first.lift_.kernels_)
    _same_model(resumed, reference.fit(X, y), X)
    # The first model's maps stay valid while the folder is appended to.
    np.testing.assert_array_equal(first.transform(X), make(7).set_params(
        lift=Lift1D(6, 3, kernels=first.lift_.kernels_)).fit(X, y).transform(X))


def test_damaged_latest_state_falls_back_and_damaged_layers_are_refused(tmp_path):
    X, y = gaussian_mixture_3d(n_per_class=20, seed=2)
    ReduNet(n_layers=60).fit(X, y, checkpoint=tmp_path, checkpoint_every=10)
    states = sorted(tmp_path.glob("state*.rdn"), key=lambda p: p.stat().st_mtime)
    latest = bytearray(states[-1].read_bytes())
    latest[len(latest) // 2] ^= 1
    states[-1].write_bytes(bytes(latest))
    # The other slot holds the previous checkpoint: the resumed build redoes the rest.
    resumed = ReduNet(n_layers=80).fit(X, y, checkpoint=tmp_path, checkpoint_every=10, resume=True)
    _same_model(resumed, ReduNet(n_layers=80).fit(X, y), X)
    data = tmp_path / "layers.bin"
    damaged = bytearray(data.read_bytes())
    damaged[5 * 4 * 72 + 3] ^= 1
    data.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="Cannot read the checkpoint file .*layers.bin.*checksum"):
        ReduNet(n_layers=90).fit(X, y, checkpoint=tmp_path, resume=True)


def test_write_accepts_lists_truncates_and_restores(tmp_path, rng):
    X, y = gaussian_mixture_3d(n_per_class=10, seed=3)
    net = ReduNet(n_layers=12).fit(X, y)
    layers = list(net.layers_)
    history = {key: list(values[:12]) for key, values in net.history_.items()}
    features = rng.standard_normal((1, 30, 3))
    store = Checkpoint(tmp_path, 5, "key")
    assert store.due(5) and not store.due(4)
    store.write(layers[:8], {k: v[:8] for k, v in history.items()}, [features[:, :13], features[:, 13:]])
    assert store.n_written == 8 and not store.due(12) and store.due(13)
    store.write(layers[:6], {k: v[:6] for k, v in history.items()}, [features])      # truncated
    store.write(layers[:6] + layers[9:11], {k: v[:8] for k, v in history.items()}, [features],
                lift_kernels=np.arange(3.0))
    state = Checkpoint(tmp_path, 5, "key").restore()
    expected = LayerStack()
    for layer in layers[:6] + layers[9:11]:
        expected.append(layer)
    for name, array in expected.arrays().items():
        np.testing.assert_array_equal(state.layers.arrays()[name], array)
    assert state.history == {k: v[:8] for k, v in history.items()}
    np.testing.assert_array_equal(state.features, features.transpose(1, 0, 2))
    np.testing.assert_array_equal(state.lift_kernels, np.arange(3.0))
    assert Checkpoint(tmp_path / "empty", 5, "key").restore() is None
    with pytest.raises(ValueError, match="written for other training data"):
        Checkpoint(tmp_path, 5, "other key").restore()


def test_resume_refuses_other_data(tmp_path, rng):
    X = rng.standard_normal((10, 3))
    y = np.repeat([0, 1], 5)
    ReduNet(n_layers=4).fit(X, y, checkpoint=tmp_path, checkpoint_every=2)
    with pytest.raises(ValueError, match="written for other training data or parameters"):
        ReduNet(n_layers=8).fit(X + 1.0, y, checkpoint=tmp_path, resume=True)
    with pytest.raises(ValueError, match="written for other training data or parameters"):
        ReduNet(n_layers=8, eta=0.3).fit(X, y, checkpoint=tmp_path, resume=True)
    with pytest.raises(ValueError, match="'resume' argument of ReduNet.fit needs a 'checkpoint'"):
        ReduNet().fit(X, y, resume=True)


@pytest.mark.parametrize("extra", [dict(chunk_size=5), dict(chunk_size=4, work_dir=True)])
def test_chunked_resume_in_process_with_lift_and_low_rank(extra, tmp_path, rng):
    if extra.get("work_dir"):
        extra = dict(extra, work_dir=tmp_path)
    X = rng.standard_normal((13, 2, 12))
    y = np.array([0] * 3 + [1] * 10)       # 3 samples in 12 channels: low-rank class 0
    make = lambda n: ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(12, 3, seed=None))
    first = make(5).fit(X, y, checkpoint=tmp_path / "c", checkpoint_every=2, **extra)
    resumed = make(11).fit(X, y, checkpoint=tmp_path / "c", checkpoint_every=2, resume=True,
                           **extra)
    np.testing.assert_array_equal(resumed.lift_.kernels_, first.lift_.kernels_)
    assert [layer.compressions[0].kind for layer in resumed.layers_] == ["lowrank"] * 11
    reference = make(11)
    reference.lift = Lift1D(12, 3, kernels=first.lift_.kernels_)
    _same_model(resumed, reference.fit(X, y, **extra), X)
    in_memory = make(11)
    in_memory.lift = reference.lift
    np.testing.assert_allclose(resumed.transform(X), in_memory.fit(X, y).transform(X),
                               atol=1e-10)


def test_deep_checkpointed_model_and_its_mapped_load_hold_few_descriptors(tmp_path):
    X, y = gaussian_mixture_3d(n_per_class=100, seed=0)
    before = _open_descriptors()
    net = ReduNet(n_layers=20000).fit(X, y, checkpoint=tmp_path / "ckpt", checkpoint_every=10)
    assert net.n_layers_ == 20000
    assert _open_descriptors() - before < 64
    net.save(tmp_path / "deep.rdn")
    loaded = ReduNet.load(tmp_path / "deep.rdn", mmap=True)
    assert _open_descriptors() - before < 64
    assert loaded.n_layers_ == 20000
    for name, array in net.layers_.arrays().items():
        np.testing.assert_array_equal(loaded.layers_.arrays()[name], array)
    # Every written layer is served from the checkpoint's maps, none is kept in memory.
    for array in net.layers_.arrays().values():
        while getattr(array, "base", None) is not None:
            array = array.base
        assert type(getattr(array, "obj", array)).__name__ == "mmap"


def test_restore_falls_back_to_the_last_synced_state(tmp_path, rng):
    X, y = gaussian_mixture_3d(n_per_class=10, seed=4)
    layers = list(ReduNet(n_layers=40).fit(X, y).layers_)
    history = {key: [float(i) for i in range(40)] for key in ("rate", "compression", "delta_r")}
    features = rng.standard_normal((1, 30, 3))
    store = Checkpoint(tmp_path, 10, "key", sync_seconds=0.0)     # every state is synced
    store.write(layers[:10], history, [features])
    store.write(layers[:20], history, [features])
    store.sync_seconds = 1e9                                      # later ones are not
    store.write(layers[:30], history, [features])
    store.write(layers[:40], history, [features])
    assert len(Checkpoint(tmp_path, 10, "key").restore().layers) == 40
    # A power failure lost the unsynced states (and the layers they appended).
    for name in ("state0.rdn", "state1.rdn"):
        (tmp_path / name).write_bytes(b"\0" * 100)
    state = Checkpoint(tmp_path, 10, "key").restore()
    assert len(state.layers) == 20 and state.history["rate"] == [float(i) for i in range(20)]
    for a, b in zip(state.layers, layers[:20]):
        np.testing.assert_array_equal(a.expansion.matrix, b.expansion.matrix)
    for name in ("synced0.rdn", "synced1.rdn"):
        (tmp_path / name).unlink()
    with pytest.raises(ValueError, match="Cannot read the checkpoint file .*state"):
        Checkpoint(tmp_path, 10, "key").restore()
