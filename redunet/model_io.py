"""Model files: one ``.npz`` (a zip of ``.npy`` members), versioned, never pickled.

Layout of a file (format ``redunet-model``, version ``FORMAT_VERSION``):

* ``meta.npy`` -- a JSON document (stored as uint8 bytes): format name and
  version, the estimator's parameters, shapes, the kind of every operator;
* ``classes.npy``, ``history_<key>.npy`` -- labels and the objective per layer;
* ``lift_kernels.npy`` -- the lifting kernels, when there is a lift;
* ``layer<l>_gammas.npy``, ``layer<l>_E_<array>.npy``, ``layer<l>_C<j>_<array>.npy``;
* ``classifier_basis<j>.npy``, ``classifier_weights.npy``.

Members are stored uncompressed so that ``load(path, mmap=True)`` can map the
operator arrays straight from the file.  Every member carries the zip CRC-32,
checked on a normal load, so a damaged file is reported, not half-read.
Saving writes a temporary file in the target's folder, flushes it to disk and
renames it over the target: a crash never leaves a broken file in its place.
"""

import json
import os
import struct
import tempfile
import zipfile

import numpy as np

from .classifier import NearestSubspace
from .layer import Layer
from .lift import Lift1D, Lift2D
from .operators import operator_from_arrays
from .spectrum import make_spectrum

__all__ = ["save_model", "load_model", "FORMAT_NAME", "FORMAT_VERSION", "atomic_write_npz"]

FORMAT_NAME = "redunet-model"
FORMAT_VERSION = 1
_LIFTS = {"Lift1D": Lift1D, "Lift2D": Lift2D}
_HISTORY_KEYS = ("rate", "compression", "delta_r")
ALIGNMENT = 64
_PADDING_TAG = 0xD935  # extra-field id used for alignment padding (as Android's zipalign)


def atomic_write_npz(path, arrays):
    """Write ``arrays`` (name -> ndarray) as an uncompressed ``.npz`` at ``path``, atomically.

    ``arrays`` may be a generator of ``(name, array)`` pairs, so that large
    models are written one member at a time.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {path!r}: the folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                items = arrays.items() if isinstance(arrays, dict) else arrays
                for name, array in items:
                    array = np.asanyarray(array)
                    if array.dtype.hasobject:
                        raise TypeError(f"Cannot save object array {name!r} without pickle.")
                    info = _aligned_info(name + ".npy", raw.tell())
                    with zf.open(info, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _aligned_info(member, header_offset):
    """Zip entry whose data starts on a 64-byte boundary (padding in the local extra field).

    The ``.npy`` format pads its own header to 64 bytes, so the array data of
    every member is 64-byte aligned in the file and a memory map of it is an
    aligned array (BLAS then takes the same code path as for an in-memory copy).
    """
    info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    # local header: 30 bytes + name + extra; zipfile appends a 20-byte zip64 record to extra.
    base = header_offset + 30 + len(member.encode()) + 20 + 4
    padding = (-base) % ALIGNMENT
    info.extra = struct.pack("<HH", _PADDING_TAG, padding) + b"\0" * padding
    return info


def _layer_arrays(index, layer):
    """Members of one layer (shared by model files and checkpoints)."""
    yield f"layer{index}_gammas", layer.gammas
    for name, array in layer.expansion.arrays().items():
        yield f"layer{index}_E_{name}", array
    for j, op in enumerate(layer.compressions):
        for name, array in op.arrays().items():
            yield f"layer{index}_C{j}_{name}", array


def layer_kinds(layer):
    """JSON description of a layer's operator representations."""
    return {"E": layer.expansion.kind, "C": [op.kind for op in layer.compressions]}


def _model_arrays(net):
    """Generator of the members of ``net``'s model file (meta first)."""
    params = net.get_params(deep=False)
    lift = params.pop("lift")
    classes = np.asarray(net.classes_)
    if classes.dtype.hasobject:
        raise TypeError("Labels of dtype object cannot be saved without pickle; "
                        "use ints, floats or strings as labels.")
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "params": params,
        "lift": None if lift is None else {"class": type(lift).__name__,
                                           "params": {k: v for k, v in lift.get_params().items()
                                                      if k != "kernels"}},
        "input_shape": list(net.input_shape_),
        "signal_shape": list(net.signal_shape_),
        "layers": [layer_kinds(layer) for layer in net.layers_],
        "n_classes": int(classes.shape[0]),
        "classifier_n_components": net.classifier_.n_components,
    }
    yield "meta", np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    yield "classes", classes
    for key in _HISTORY_KEYS:
        yield f"history_{key}", net.history_[key]
    if lift is not None:
        yield "lift_kernels", net.lift_.kernels_
    for index, layer in enumerate(net.layers_):
        yield from _layer_arrays(index, layer)
    yield "classifier_weights", net.classifier_.weights_
    for j, basis in enumerate(net.classifier_.bases_):
        yield f"classifier_basis{j}", basis


def save_model(net, path):
    """Write a fitted :class:`ReduNet` to ``path`` (see the module docstring)."""
    atomic_write_npz(path, _model_arrays(net))


class _Reader:
    """Reads ``.npy`` members of a model zip, checking CRCs (or memory-mapping them)."""

    def __init__(self, path, mmap):
        self.path = os.fspath(path)
        self.mmap = mmap
        try:
            self.zip = zipfile.ZipFile(self.path)
            self.names = set(self.zip.namelist())
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ValueError(self._damaged(f"it is not a readable zip/npz archive ({exc})")) from None

    def _damaged(self, why):
        return (f"Cannot read the model file {self.path!r}: {why}. It is truncated, corrupted, "
                "or not a file written by ReduNet.save.")

    def read(self, name, mappable=False):
        member = name + ".npy"
        if member not in self.names:
            raise ValueError(self._damaged(f"member {member!r} is missing"))
        if mappable and self.mmap:
            return self._map(member)
        try:
            with self.zip.open(member) as handle:
                array = np.lib.format.read_array(handle, allow_pickle=False)
                if handle.read(1):
                    raise ValueError("trailing bytes after the array")
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                raise ValueError(self._damaged(f"member {member!r} holds Python objects, "
                                               "which are never unpickled")) from None
            raise ValueError(self._damaged(f"member {member!r}: {exc}")) from None
        except (zipfile.BadZipFile, OSError, EOFError, struct.error) as exc:
            raise ValueError(self._damaged(f"member {member!r}: {exc}")) from None
        return array

    def _map(self, member):
        info = self.zip.getinfo(member)
        if info.compress_type != zipfile.ZIP_STORED:
            return self.read(member[:-4])
        with open(self.path, "rb") as raw:
            raw.seek(info.header_offset)
            header = raw.read(30)
            if header[:4] != b"PK\x03\x04":
                raise ValueError(self._damaged(f"bad local header for {member!r}"))
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            raw.seek(start)
            version = np.lib.format.read_magic(raw)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(raw)
            offset = raw.tell()
        if dtype.hasobject:
            raise ValueError(self._damaged(f"member {member!r} holds Python objects"))
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")

    def close(self):
        self.zip.close()


def load_model(cls, path, mmap=False):
    """Read a model file written by :func:`save_model`; never executes code from the file."""
    reader = _Reader(path, mmap)
    try:
        try:
            meta = json.loads(reader.read("meta").tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(reader._damaged(f"its metadata is not valid JSON ({exc})")) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise ValueError(reader._damaged("its metadata does not name the redunet-model format"))
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"The model file {reader.path!r} has format version {meta.get('version')!r}; "
                f"this redunet reads version {FORMAT_VERSION}. Rebuild or convert the model.")
        return _rebuild(cls, meta, reader)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(reader._damaged(f"its contents are inconsistent ({exc!r})")) from None
    finally:
        reader.close()


def _rebuild(cls, meta, reader):
    lift = None
    if meta["lift"] is not None:
        lift = _LIFTS[meta["lift"]["class"]](**meta["lift"]["params"])
    net = cls(**meta["params"], lift=lift)
    net.classes_ = reader.read("classes")
    net.input_shape_ = tuple(meta["input_shape"])
    if net.arch == "vector":
        net.n_features_in_ = net.input_shape_[0]
    net.signal_shape_ = tuple(meta["signal_shape"])
    net.spectrum_ = make_spectrum(net.arch, net.signal_shape_)
    net.history_ = {key: reader.read(f"history_{key}") for key in _HISTORY_KEYS}
    if lift is not None:
        net.lift_ = type(lift)(**lift.get_params(deep=False))
        net.lift_.kernels_ = reader.read("lift_kernels")
        net.lift_.in_channels_ = int(net.lift_.kernels_.shape[1])
    net.layers_ = [_read_layer(reader, index, kinds) for index, kinds in enumerate(meta["layers"])]
    net.n_layers_ = len(net.layers_)
    classifier = NearestSubspace(meta["classifier_n_components"])
    classifier.classes_ = net.classes_
    classifier.weights_ = reader.read("classifier_weights")
    classifier.bases_ = [reader.read(f"classifier_basis{j}") for j in range(meta["n_classes"])]
    net.classifier_ = classifier
    return net


def _read_layer(reader, index, kinds):
    prefix = f"layer{index}_"
    expansion = _read_operator(reader, prefix + "E_", kinds["E"])
    compressions = [_read_operator(reader, f"{prefix}C{j}_", kind)
                    for j, kind in enumerate(kinds["C"])]
    return Layer(expansion, compressions, reader.read(prefix + "gammas"))


def _read_operator(reader, prefix, kind):
    if kind == "dense":
        return operator_from_arrays(kind, {"matrix": reader.read(prefix + "matrix", True)})
    return operator_from_arrays(kind, {"factor": reader.read(prefix + "factor", True),
                                       "alpha": reader.read(prefix + "alpha")})
