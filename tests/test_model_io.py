"""Model files: exact round trips, damaged files, atomic saves, no pickle."""

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from conftest import labels_for
from redunet import Lift1D, Lift2D, ReduNet
from redunet.model_io import FORMAT_VERSION


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    y = labels_for([5, 6, 4], ["b", "a", "c"])
    X = rng.standard_normal((15, 2, 12))
    net = ReduNet(arch="fourier1d", n_layers=3, lift=Lift1D(6, 3, seed=2)).fit(X, y)
    return net, X


@pytest.mark.parametrize("mmap", [False, True])
def test_round_trip_is_bit_exact(fitted, tmp_path, mmap):
    net, X = fitted
    path = tmp_path / "model.npz"
    net.save(path)
    loaded = ReduNet.load(path, mmap=mmap)
    np.testing.assert_array_equal(loaded.transform(X), net.transform(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.get_params(deep=False)["n_layers"] == 3
    assert loaded.lift.get_params() == net.lift.get_params()
    for key in net.history_:
        np.testing.assert_array_equal(loaded.history_[key], net.history_[key])
    assert loaded.classes_.tolist() == ["a", "b", "c"]
    if mmap:
        assert isinstance(loaded.layers_[0].expansion.matrix, np.memmap)


@pytest.mark.parametrize("arch, shape, kwargs", [
    ("vector", (40,), {}),
    ("fourier2d", (1, 6, 6), {"lift": Lift2D(4, 3)}),
    ("vector", (3,), {"dtype": "float32"}),
])
def test_round_trip_other_archs(arch, shape, kwargs, tmp_path, rng):
    y = labels_for([6, 7])
    X = rng.standard_normal((13,) + shape)
    net = ReduNet(arch=arch, n_layers=4, **kwargs).fit(X, y)
    net.save(tmp_path / "m.npz")
    loaded = ReduNet.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.transform(X), net.transform(X))


def _corrupt(path, offset_fraction):
    data = bytearray(path.read_bytes())
    position = int(len(data) * offset_fraction)
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate_half", "truncate_tail", "flip_middle", "flip_early",
                                    "empty", "not_zip"])
def test_damaged_files_give_clear_errors(fitted, tmp_path, damage):
    net, _ = fitted
    path = tmp_path / "model.npz"
    net.save(path)
    data = path.read_bytes()
    if damage == "truncate_half":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "truncate_tail":
        path.write_bytes(data[:-10])
    elif damage == "flip_middle":
        _corrupt(path, 0.5)
    elif damage == "flip_early":
        _corrupt(path, 0.02)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("hello, I am not a model")
    with pytest.raises(ValueError, match="Cannot read the model file"):
        ReduNet.load(path)


def _rewrite_meta(path, change):
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(np.load(io.BytesIO(members["meta.npy"])).tobytes().decode())
    change(meta)
    buffer = io.BytesIO()
    np.save(buffer, np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    members["meta.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)


def test_other_format_version_is_refused(fitted, tmp_path):
    net, _ = fitted
    path = tmp_path / "model.npz"
    net.save(path)
    _rewrite_meta(path, lambda meta: meta.update(version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}"):
        ReduNet.load(path)


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match="member 'meta.npy' is missing"):
        ReduNet.load(path)


def test_object_arrays_are_never_unpickled(fitted, tmp_path):
    net, _ = fitted
    path = tmp_path / "model.npz"
    net.save(path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    buffer = io.BytesIO()
    np.save(buffer, np.array([Evil()], dtype=object), allow_pickle=True)
    members["classes.npy"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    with pytest.raises(ValueError, match="never unpickled"):
        ReduNet.load(path)
    assert not marker.exists()


def test_object_labels_cannot_be_saved(tmp_path, rng):
    X = rng.standard_normal((6, 3))
    y = np.array([(1,), (1,), (1,), (2,), (2,), (2,)] , dtype=object)[:, 0]
    net = ReduNet(n_layers=2).fit(X, y.astype(int).astype(object))
    with pytest.raises(TypeError, match="without pickle"):
        net.save(tmp_path / "m.npz")
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_killed_save_leaves_previous_file_intact(fitted, tmp_path):
    net, X = fitted
    path = tmp_path / "model.npz"
    net.save(path)
    before = path.read_bytes()
    # A child process starts saving a much larger model over the same path and is killed mid-way.
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        import redunet.model_io as io_
        def arrays():
            yield "meta", np.zeros(3, np.uint8)
            for i in range(1000):
                if i == 20:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield f"a{{i}}", np.zeros(1 << 16)
        io_.atomic_write_npz({str(path)!r}, arrays())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode != 0
    assert path.read_bytes() == before
    np.testing.assert_array_equal(ReduNet.load(path).transform(X), net.transform(X))


def test_save_into_a_missing_folder_names_the_folder(fitted, tmp_path):
    net, _ = fitted
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not exist"):
        net.save(tmp_path / "missing" / "model.npz")
