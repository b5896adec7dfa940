"""Model files: exact round trips, every damaged byte refused, atomic saves, no pickle."""

import json
import mmap
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from conftest import labels_for
from redunet import Lift1D, Lift2D, ReduNet
from redunet._arrayfile import ALIGNMENT, SIGNATURE, read_arrays, write_arrays
from redunet._model_io import FORMAT_VERSION


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    y = labels_for([5, 6, 4], ["b", "a", "c"])
    X = rng.standard_normal((15, 2, 12))
    net = ReduNet(arch="fourier1d", n_layers=3, lift=Lift1D(6, 3, seed=2)).fit(X, y)
    return net, X


@pytest.fixture(scope="module")
def low_rank():
    """Fourier model whose class operators are low rank (3 samples, 20 channels)."""
    rng = np.random.default_rng(3)
    y = labels_for([3, 3, 3], [10, 20, 30])
    X = rng.standard_normal((9, 1, 8))
    net = ReduNet(arch="fourier1d", n_layers=4, lift=Lift1D(20, 3, seed=1)).fit(X, y)
    assert net.layers_[0].expansion.kind == "dense"
    assert [op.kind for op in net.layers_[0].compressions] == ["lowrank"] * 3
    return net, X


@pytest.fixture(scope="module")
def vector():
    rng = np.random.default_rng(5)
    y = labels_for([6, 7], [-1.0, 2.0])
    X = rng.standard_normal((13, 3))
    return ReduNet(n_layers=30).fit(X, y), X


def _is_mapped(array):
    while array is not None and not isinstance(array, mmap.mmap):
        array = getattr(array, "base", None) if not isinstance(array, np.memmap) else array._mmap
    return array is not None


@pytest.mark.parametrize("mmap_", [False, True])
@pytest.mark.parametrize("model", ["fitted", "low_rank", "vector"])
def test_round_trip_is_bit_exact(model, mmap_, tmp_path, request):
    net, X = request.getfixturevalue(model)
    path = tmp_path / "model.rdn"
    net.save(path)
    loaded = ReduNet.load(path, mmap=mmap_)
    np.testing.assert_array_equal(loaded.transform(X), net.transform(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.get_params(deep=False)["n_layers"] == net.n_layers
    for key in net.history_:
        np.testing.assert_array_equal(loaded.history_[key], net.history_[key])
    assert loaded.classes_.dtype == net.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, net.classes_)
    assert len(loaded.layers_) == len(net.layers_) == loaded.n_layers_
    for a, b in zip(loaded.layers_, net.layers_):
        for op_a, op_b in zip([a.expansion] + a.compressions, [b.expansion] + b.compressions):
            for name, array in op_b.arrays().items():
                assert op_a.arrays()[name].dtype == array.dtype
                np.testing.assert_array_equal(op_a.arrays()[name], array)
    assert _is_mapped(loaded.layers_[-1].expansion.matrix) == mmap_
    # what the classifier's fit derived is rebuilt from the file
    assert loaded.classifier_.n_components_ == net.classifier_.n_components_
    np.testing.assert_array_equal(loaded.classifier_.n_family_components_,
                                  net.classifier_.n_family_components_)


@pytest.mark.parametrize("arch, shape, kwargs, labels", [
    ("vector", (40,), {}, [3, 7]),
    ("fourier2d", (1, 6, 6), {"lift": Lift2D(4, 3)}, ["x", "yy"]),
    ("vector", (3,), {"dtype": "float32"}, [0.0, 1.0]),
    ("fourier1d", (2, 9), {"dtype": "float32", "lift": Lift1D(5, 3)}, [True, False]),
])
def test_round_trip_other_archs_and_dtypes(arch, shape, kwargs, labels, tmp_path, rng):
    y = labels_for([6, 7], labels)
    X = rng.standard_normal((13,) + shape)
    net = ReduNet(arch=arch, n_layers=4, **kwargs).fit(X, y)
    net.save(tmp_path / "m.rdn")
    for mmap_ in (False, True):
        loaded = ReduNet.load(tmp_path / "m.rdn", mmap=mmap_)
        np.testing.assert_array_equal(loaded.transform(X), net.transform(X))
        assert loaded.classes_.dtype == net.classes_.dtype
        for a, b in zip(loaded.layers_[0].expansion.arrays().values(),
                        net.layers_[0].expansion.arrays().values()):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


def _header_end(data):
    (length,) = struct.unpack("<Q", data[len(SIGNATURE):len(SIGNATURE) + 8])
    return len(SIGNATURE) + 8 + length + 4


def _positions(data):
    """Byte positions covering every part of a file: the fixed prefix, the header, the
    padding, the first, middle and last byte of every array, and a spread of others."""
    end = _header_end(data)
    header = json.loads(data[len(SIGNATURE) + 8:end - 4])
    start = -(-end // ALIGNMENT) * ALIGNMENT
    positions = set(range(len(SIGNATURE) + 8)) | set(range(0, end, 7)) | set(range(end - 4, start))
    for entry in header["arrays"]:
        nbytes = int(np.prod(entry["shape"])) * np.dtype(entry["dtype"]).itemsize
        if nbytes:
            begin = start + entry["offset"]
            positions |= {begin, begin + nbytes // 2, begin + nbytes - 1, begin - 1}
    positions |= set(np.linspace(0, len(data) - 1, 150).astype(int).tolist())
    return sorted(p for p in positions if 0 <= p < len(data))


@pytest.mark.parametrize("model", ["low_rank", "vector"])
def test_any_flipped_byte_is_refused(model, tmp_path, request):
    net, X = request.getfixturevalue(model)
    path = tmp_path / "model.rdn"
    net.save(path)
    data = path.read_bytes()
    positions = _positions(data)
    assert len(positions) > 300
    for position in positions:
        damaged = bytearray(data)
        damaged[position] ^= 0x41
        path.write_bytes(bytes(damaged))
        for mmap_ in (False, True):
            try:
                loaded = ReduNet.load(path, mmap=mmap_)
            except ValueError as exc:
                assert "Cannot read the model file" in str(exc)
                continue
            # Only acceptable if nothing the model computes changed.
            np.testing.assert_array_equal(loaded.transform(X), net.transform(X))
            np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
            pytest.fail(f"byte {position} of {len(data)} flipped and the file still loaded")


@pytest.mark.parametrize("damage", ["truncate_half", "truncate_tail", "truncate_header", "empty",
                                    "not_a_model", "extra_tail"])
def test_damaged_files_give_clear_errors(fitted, tmp_path, damage):
    net, _ = fitted
    path = tmp_path / "model.rdn"
    net.save(path)
    data = path.read_bytes()
    path.write_bytes({"truncate_half": data[:len(data) // 2], "truncate_tail": data[:-10],
                      "truncate_header": data[:30], "empty": b"",
                      "not_a_model": b"hello, I am not a model", "extra_tail": data + b"\0"}[damage])
    for mmap_ in (False, True):
        with pytest.raises(ValueError, match="Cannot read the model file"):
            ReduNet.load(path, mmap=mmap_)


def _rewrite(path, change_meta=None, change_entries=None):
    """Rewrite a file's header (valid checksum) with changed metadata or array entries."""
    data = path.read_bytes()
    end = _header_end(data)
    header = json.loads(data[len(SIGNATURE) + 8:end - 4])
    payload = data[-(-end // ALIGNMENT) * ALIGNMENT:]
    if change_meta:
        change_meta(header["meta"])
    if change_entries:
        change_entries(header["arrays"])
    text = json.dumps(header).encode()
    start = -(-(len(SIGNATURE) + 8 + len(text) + 4) // ALIGNMENT) * ALIGNMENT
    prefix = SIGNATURE + struct.pack("<Q", len(text)) + text
    prefix += struct.pack("<I", zlib.crc32(prefix))
    path.write_bytes(prefix + b"\0" * (start - len(prefix)) + payload)


def test_rewritten_header_is_read_back(fitted, tmp_path):
    # The helper below must produce valid files, or the next tests prove nothing.
    net, X = fitted
    net.save(tmp_path / "m.rdn")
    _rewrite(tmp_path / "m.rdn", change_meta=lambda meta: meta.update(note="x" * 200))
    np.testing.assert_array_equal(ReduNet.load(tmp_path / "m.rdn").transform(X), net.transform(X))


def test_other_format_version_is_refused(fitted, tmp_path):
    net, _ = fitted
    path = tmp_path / "model.rdn"
    net.save(path)
    _rewrite(path, change_meta=lambda meta: meta.update(version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}; this redunet "
                                         f"reads version {FORMAT_VERSION}"):
        ReduNet.load(path)


def test_version_1_npz_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "old.npz"
    meta = {"format": "redunet-model", "version": 1, "params": {}}
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             classes=np.arange(2))
    with pytest.raises(ValueError, match=f"has format version 1; this redunet reads version "
                                         f"{FORMAT_VERSION}"):
        ReduNet.load(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    write_arrays(tmp_path / "other.rdn", {"format": "something-else"}, {"a": np.arange(3)})
    for name in ("foreign.npz", "other.rdn"):
        with pytest.raises(ValueError, match="Cannot read the model file"):
            ReduNet.load(tmp_path / name)


def test_object_arrays_are_never_read(fitted, tmp_path):
    net, _ = fitted
    path = tmp_path / "model.rdn"
    net.save(path)

    def to_object(entries):
        entries[0]["dtype"] = "|O"
    _rewrite(path, change_entries=to_object)
    with pytest.raises(ValueError, match="never read"):
        ReduNet.load(path)


def test_object_labels_cannot_be_saved(tmp_path, rng):
    X = rng.standard_normal((6, 3))
    y = np.array([1, 1, 1, 2, 2, 2], dtype=object)
    net = ReduNet(n_layers=2).fit(X, y)
    with pytest.raises(TypeError, match="without pickle"):
        net.save(tmp_path / "m.rdn")
    assert os.listdir(tmp_path) == []


def test_all_dtypes_round_trip_exactly(tmp_path, rng):
    arrays = {
        "c64": (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64),
        "c128": rng.standard_normal((2, 3, 5)) * (1 + 1j),
        "f32": rng.standard_normal(7).astype(np.float32),
        "f64": np.array([np.pi, -0.0, np.inf, 5e-324]),
        "labels": np.array(["alpha", "b", "日本"]),
        "ints": np.array([-(2 ** 62), 0, 7]),
        "flags": np.array([True, False]),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3)),
    }
    write_arrays(tmp_path / "a.rdn", {"k": [1, "two"]}, arrays)
    for mmap_ in (False, True):
        meta, back = read_arrays(tmp_path / "a.rdn", mmap=mmap_)
        assert meta == {"k": [1, "two"]} and list(back) == list(arrays)
        for name, array in arrays.items():
            assert back[name].dtype == array.dtype and back[name].shape == array.shape
            assert back[name].tobytes() == array.tobytes()
            assert back[name].ctypes.data % ALIGNMENT == 0


def test_killed_save_leaves_previous_file_intact(fitted, tmp_path):
    net, X = fitted
    path = tmp_path / "model.rdn"
    net.save(path)
    before = path.read_bytes()
    # A child process writes another file over the same path and is killed before the rename.
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        import redunet._arrayfile as af
        af.os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        af.write_arrays({str(path)!r}, {{}}, {{"a": np.zeros(1 << 20)}})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == -9
    assert path.read_bytes() == before
    assert len(os.listdir(tmp_path)) == 2          # the target and the abandoned temporary file
    np.testing.assert_array_equal(ReduNet.load(path).transform(X), net.transform(X))


def test_save_into_a_missing_folder_names_the_folder(fitted, tmp_path):
    net, _ = fitted
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not exist"):
        net.save(tmp_path / "missing" / "model.rdn")
