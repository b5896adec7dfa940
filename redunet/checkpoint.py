"""Checkpoints of a long construction, and operators kept on disk instead of in memory.

A checkpoint is a folder:

* ``layers_<start>_<stop>.npz`` -- the operators of layers ``start .. stop-1``,
  one file per ``checkpoint_every`` layers, each written atomically;
* ``state.npz`` -- written atomically after each layer file: the number of
  layers done, the current training features, the objective history, the lift
  kernels and a fingerprint of the data and parameters.

A build killed at any moment resumes from the last complete ``state.npz``
(``fit(..., resume=True)``): the features and operators are restored exactly,
so the resumed model equals an uninterrupted build bit for bit.  Layers already
written are memory-mapped from their files, so the memory of ``fit`` does not
grow with the number of layers.
"""

import hashlib
import json
import os

import numpy as np

from .model_io import (_HISTORY_KEYS, _layer_arrays, _read_layer, _Reader, atomic_write_npz,
                       layer_kinds)

__all__ = ["Checkpoint"]

# Parameters that do not change the layers built so far (a resumed build may change them).
_FREE_PARAMS = ("n_layers", "verbose", "tol", "patience", "n_components", "backend")


def fingerprint(X, y_index, classes, params):
    """SHA-256 of the training data, labels and the parameters that shape every layer."""
    digest = hashlib.sha256()
    for array in (X, y_index, classes.astype(str)):
        digest.update(str((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    fixed = {k: repr(v) for k, v in sorted(params.items()) if k not in _FREE_PARAMS}
    digest.update(json.dumps(fixed, sort_keys=True).encode())
    return digest.hexdigest()


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

    def write(self, net, V):
        """Write the layers built since the last checkpoint, then the state; map them back."""
        start = self.files[-1][1] if self.files else 0
        stop = len(net.layers_)
        if stop > start:
            name = f"layers_{start:06d}_{stop:06d}.npz"
            atomic_write_npz(os.path.join(self.folder, name),
                             (item for index in range(start, stop)
                              for item in _layer_arrays(index, net.layers_[index])))
            self.files.append((start, stop, name, [layer_kinds(l) for l in net.layers_[start:stop]]))
            net.layers_[start:stop] = self._map(name, start, self.files[-1][3])
        meta = {"key": self.key, "n_done": stop, "files": self.files}
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), "features": V}
        arrays.update({f"history_{k}": np.array(net._history[k]) for k in _HISTORY_KEYS})
        if getattr(net, "lift_", None) is not None:
            arrays["lift_kernels"] = net.lift_.kernels_
        atomic_write_npz(self.state_path, arrays)

    def _map(self, name, start, kinds):
        reader = _Reader(os.path.join(self.folder, name), mmap=True)
        try:
            return [_read_layer(reader, start + i, k) for i, k in enumerate(kinds)]
        finally:
            reader.close()

    def restore(self, net):
        """Restore layers, history and lift into ``net``; return the saved features or None."""
        if not os.path.exists(self.state_path):
            return None
        reader = _Reader(self.state_path, mmap=False)
        try:
            meta = json.loads(reader.read("meta").tobytes().decode())
            if meta.get("key") != self.key:
                raise ValueError(
                    f"The checkpoint in {self.folder!r} was written for other training data or "
                    "parameters; use another folder, or resume=False to start over.")
            V = reader.read("features")
            net._history = {k: reader.read(f"history_{k}").tolist() for k in _HISTORY_KEYS}
            if getattr(net, "lift_", None) is not None:
                net.lift_.kernels_ = reader.read("lift_kernels")
        finally:
            reader.close()
        self.files = [tuple(entry) for entry in meta["files"]]
        net.layers_ = [layer for start, _, name, kinds in self.files
                       for layer in self._map(name, start, kinds)]
        if len(net.layers_) != meta["n_done"]:
            raise ValueError(f"The checkpoint in {self.folder!r} is inconsistent: "
                             f"{len(net.layers_)} layers on disk, {meta['n_done']} recorded.")
        return V
