"""Checkpoints of a long construction, and operators kept on disk instead of in memory.

A checkpoint is a folder:

* ``layers_<start>_<stop>.npz`` -- the operators of layers ``start .. stop-1``,
  one file per ``checkpoint_every`` layers, each written atomically;
* ``features_<n>.npy`` -- the training features after ``n`` layers, ``(m, F, C)``,
  written chunk by chunk (so a chunked fit never holds them all) and renamed
  into place when complete;
* ``state.npz`` -- written atomically after both: the number of layers done,
  the name and SHA-256 of the features file, the objective history, the lift
  kernels and a fingerprint of the data and parameters.

A build killed at any moment resumes from the last complete ``state.npz``
(``fit(..., resume=True)``): the features and operators are restored exactly,
so the resumed model equals an uninterrupted build bit for bit.  Layers already
written are memory-mapped from their files, so the memory of ``fit`` does not
grow with the number of layers.

The interface used by the construction loop: ``Checkpoint(folder, every, key)``,
``due(n_layers_done)``, ``write(layers, history, features, lift_kernels)`` and
``restore()`` (see :class:`Checkpoint`).
"""

import hashlib
import json
import os
import struct
import tempfile
from types import SimpleNamespace

import numpy as np

from .model_io import (_HISTORY_KEYS, _layer_arrays, _read_layer, _Reader, atomic_write_npz,
                       layer_kinds)

__all__ = ["Checkpoint"]

# Parameters that do not change the layers built so far (a resumed build may change them).
_FREE_PARAMS = ("n_layers", "verbose", "tol", "patience", "n_components", "backend")


def fingerprint(X, y_index, classes, params, rows=4096):
    """SHA-256 of the training data, labels and the parameters that shape every layer.

    ``X`` is hashed ``rows`` samples at a time, so a memory-mapped or dask array
    is never loaded whole; the digest does not depend on ``rows``.
    """
    digest = hashlib.sha256()
    X_dtype = np.dtype(X.dtype)
    digest.update(str((X_dtype.str, tuple(X.shape))).encode())
    for start in range(0, X.shape[0], rows):
        block = X[start:start + rows]
        block = block.compute() if hasattr(block, "compute") else block
        digest.update(np.ascontiguousarray(block, dtype=X_dtype).tobytes())
    for array in (y_index, classes.astype(str)):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    fixed = {k: repr(v) for k, v in sorted(params.items()) if k not in _FREE_PARAMS}
    digest.update(json.dumps(fixed, sort_keys=True).encode())
    return digest.hexdigest()


# Bytes reserved for the header of a streamed features file (a multiple of 64).
_HEADER_BYTES = 256


def _npy_header(shape, dtype):
    """A ``.npy`` version 1.0 header of exactly ``_HEADER_BYTES`` bytes."""
    body = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": tuple(int(n) for n in shape)}).encode("latin1")
    pad = _HEADER_BYTES - 10 - len(body) - 1
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body) + pad + 1) + body + b" " * pad + b"\n"


def _write_features(folder, name, chunks):
    """Write ``(F, n, C)`` chunks as one sample-major ``(m, F, C)`` ``.npy`` file, atomically;
    returns its SHA-256 (of the array bytes)."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as raw:
            raw.write(b"\0" * _HEADER_BYTES)
            m, shape, dtype = 0, None, None
            for V in chunks:
                block = np.ascontiguousarray(V.transpose(1, 0, 2))
                if shape is None:
                    shape, dtype = block.shape[1:], block.dtype
                data = block.tobytes()
                digest.update(data)
                raw.write(data)
                m += block.shape[0]
            raw.seek(0)
            raw.write(_npy_header((m,) + tuple(shape), dtype))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, os.path.join(folder, name))
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def _checked_features(path, expected, rows=4096):
    """Memory map of a features file whose SHA-256 is verified first."""
    features = np.load(path, mmap_mode="r", allow_pickle=False)
    digest = hashlib.sha256()
    for start in range(0, features.shape[0], rows):
        digest.update(np.ascontiguousarray(features[start:start + rows]).tobytes())
    if digest.hexdigest() != expected:
        raise ValueError(f"The checkpoint features file {path!r} is damaged (checksum mismatch); "
                         "use resume=False to start over.")
    return features


class Checkpoint:
    """Writes and restores the checkpoint folder of one ``fit``.

    Parameters
    ----------
    folder : str or path
        Created if missing.
    every : int
        Layers per checkpoint file.
    key : str
        Fingerprint of the data and parameters (see :func:`fingerprint`).
    """

    def __init__(self, folder, every, key):
        self.folder = os.fspath(folder)
        self.every = every
        self.key = key
        self.files = []          # (start, stop, file name, layer kinds)
        os.makedirs(self.folder, exist_ok=True)

    @property
    def state_path(self):
        return os.path.join(self.folder, "state.npz")

    def due(self, n_done):
        """Whether a checkpoint should be written after ``n_done`` layers."""
        written = self.files[-1][1] if self.files else 0
        return n_done - written >= self.every

    def write(self, layers, history, features, lift_kernels=None):
        """Write the layers not yet written, the features and the state.

        Parameters
        ----------
        layers : list-like of Layer
            Every layer built so far (``len`` and integer indexing); the written
            ones are afterwards memory-mapped from their file.
        history : dict of lists
            ``"rate"``, ``"compression"``, ``"delta_r"``, one entry per layer.
        features : iterable of ndarray of shape (F, n, C)
            The current training features, chunk by chunk in sample order.
        lift_kernels : ndarray or None
        """
        start = self.files[-1][1] if self.files else 0
        stop = len(layers)
        if stop > start:
            name = f"layers_{start:06d}_{stop:06d}.npz"
            atomic_write_npz(os.path.join(self.folder, name),
                             (item for index in range(start, stop)
                              for item in _layer_arrays(index, layers[index])))
            self.files.append((start, stop, name,
                               [layer_kinds(layers[i]) for i in range(start, stop)]))
            for index, mapped in zip(range(start, stop), self._map(name, start, self.files[-1][3])):
                layers[index].expansion = mapped.expansion       # same layer, operators on disk
                layers[index].compressions = mapped.compressions
        previous = self._features_name()
        name = f"features_{stop:06d}.npy"
        digest = _write_features(self.folder, name, features)
        meta = {"key": self.key, "n_done": stop, "files": self.files,
                "features": name, "features_sha256": digest}
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        arrays.update({f"history_{k}": np.array(history[k], dtype=float) for k in _HISTORY_KEYS})
        if lift_kernels is not None:
            arrays["lift_kernels"] = lift_kernels
        atomic_write_npz(self.state_path, arrays)
        if previous is not None and previous != name:
            os.unlink(os.path.join(self.folder, previous))

    def _features_name(self):
        if not os.path.exists(self.state_path):
            return None
        return self._meta()["features"]

    def _meta(self):
        reader = _Reader(self.state_path, mmap=False)
        try:
            return json.loads(reader.read("meta").tobytes().decode())
        finally:
            reader.close()

    def _map(self, name, start, kinds):
        reader = _Reader(os.path.join(self.folder, name), mmap=True)
        try:
            return [_read_layer(reader, start + i, k) for i, k in enumerate(kinds)]
        finally:
            reader.close()

    def restore(self):
        """The saved build, or None if the folder holds no checkpoint.

        Returns
        -------
        None or object with attributes
            ``layers`` (list of Layer, memory-mapped), ``history`` (dict of
            lists), ``features`` (``(m, F, C)``, memory-mapped, checksum verified),
            ``lift_kernels`` (ndarray or None).
        """
        if not os.path.exists(self.state_path):
            return None
        reader = _Reader(self.state_path, mmap=False)
        try:
            meta = json.loads(reader.read("meta").tobytes().decode())
            if meta.get("key") != self.key:
                raise ValueError(
                    f"The checkpoint in {self.folder!r} was written for other training data or "
                    "parameters; use another folder, or resume=False to start over.")
            history = {k: reader.read(f"history_{k}").tolist() for k in _HISTORY_KEYS}
            kernels = (reader.read("lift_kernels") if "lift_kernels.npy" in reader.names
                       else None)
        finally:
            reader.close()
        self.files = [tuple(entry) for entry in meta["files"]]
        layers = [layer for start, _, name, kinds in self.files
                  for layer in self._map(name, start, kinds)]
        if len(layers) != meta["n_done"]:
            raise ValueError(f"The checkpoint in {self.folder!r} is inconsistent: "
                             f"{len(layers)} layers on disk, {meta['n_done']} recorded.")
        features = _checked_features(os.path.join(self.folder, meta["features"]),
                                     meta["features_sha256"])
        return SimpleNamespace(layers=layers, history=history, features=features,
                               lift_kernels=kernels)
