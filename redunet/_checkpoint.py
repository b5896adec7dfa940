"""Checkpoints of a long construction: layers appended to disk, never rewritten.

A checkpoint is a folder:

* ``layers.bin`` -- one raw, append-only file of fixed-size records, one per
  layer, holding every stacked part of the layer (``E.matrix``, ``C0.factor``,
  ``gammas``..., see :mod:`redunet._stack`) at fixed, 16-byte aligned offsets,
  and the objective of the layer's input (rate, compression, delta_r);
  each checkpoint appends the layers built since the previous one with one
  write and never rewrites earlier ones.  One map of the file serves every
  part as a strided ``(L, ...)`` array;
* ``state0.rdn``, ``state1.rdn`` -- the state (a :mod:`redunet._arrayfile`),
  written alternately, so one always holds the last complete state: a
  sequence number, the committed number of rows of every append-only file
  with a running CRC-32 of those rows, the layer layout, the fingerprint of
  the data and parameters, the current training features and the lift
  kernels.  The features are streamed chunk by chunk (the header, with their
  checksum, is written last), so a fit on data larger than memory writes its
  state without holding it, and a resume maps it back.  Each is overwritten
  in place: on ext4 a rename over an existing file forces its data to disk,
  which costs more than a checkpoint of small layers;
* ``synced0.rdn``, ``synced1.rdn`` -- the last states known to be on disk
  (see below).

A build killed at any moment resumes from the newest state that passes every
check:
bytes past the committed rows (a checkpoint cut short) are discarded, every
file is checked against its checksum, and the features and operators are
restored exactly, so the resumed model equals an uninterrupted build bit for
bit.  Written layers are memory-mapped back (one map of ``layers.bin``, grown by
doubling, so it is rarely replaced) and the in-memory copies are dropped, so
the memory and descriptors of ``fit`` do not grow with depth.

Durability: written bytes survive the process being killed at once.  Flushing
them to the disk itself (``fsync``) costs more than a checkpoint of small
layers, so it is done at most every ``sync_seconds``; that state is also kept
in a ``synced`` slot, which a resume falls back to when the later states were
lost or damaged by a power failure.
"""

import hashlib
import json
import mmap
import os
import time
import zlib
from types import SimpleNamespace

import numpy as np

from ._validation import InputError
from ._arrayfile import (cut, damaged_file, overwrite_streamed, read_arrays, sync_folder,
                         write_at)
from ._stack import LayerStack, layer_layout

__all__ = ["Checkpoint", "committed_layers", "fingerprint"]

# Parameters that do not change the layers built so far (a resumed build may change them).
_FREE_PARAMS = ("n_layers", "verbose", "tol", "patience", "n_components", "backend", "warm_start",
                "n_iter_no_change")
_FORMAT = "redunet-checkpoint"
_VERSION = 2
_HISTORY_KEYS = ("rate", "compression", "delta_r")
# Bytes per read and write when a state slot is copied to a synced slot.
_COPY_BYTES = 16 * 2**20
_WHAT = "checkpoint file"
_RECORD_ALIGNMENT = 16
_SLOTS = ("state0.rdn", "state1.rdn", "synced0.rdn", "synced1.rdn")


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


def committed_layers(folder):
    """Number of layers of the newest readable state in a checkpoint ``folder`` (0 if none).

    Reads the states' metadata only (no fingerprint check, no layers): for a caller
    that wants to report how far a build it is about to resume had got.
    """
    best = (-1, 0)
    for name in _SLOTS:
        path = os.path.join(os.fspath(folder), name)
        if not os.path.exists(path):
            continue
        try:
            meta, _ = read_arrays(path, mmap=True, what=_WHAT)
            if meta.get("format") == _FORMAT and meta.get("version") == _VERSION:
                best = max(best, (int(meta["seq"]), int(meta["layers"][0])))
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return best[1]


def _raw(array):
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


class _AppendFile:
    """Raw rows of one shape and dtype, appended at the end of a file.

    ``rows`` rows are committed, with ``crc`` the running CRC-32 of their
    bytes.  The file is memory-mapped with room to spare (the file is extended
    by doubling), so appending rarely replaces the map.
    """

    def __init__(self, path, row_shape, dtype):
        self.path = path
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self.rows, self.crc = 0, 0
        self._map, self._capacity = None, 0
        self._fd = None

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def create(self):
        """Start an empty file.  A previous file is unlinked, not truncated: maps of it held by
        a model built earlier stay valid."""
        self.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.rows, self.crc = 0, 0
        self._map, self._capacity = None, 0

    def append(self, block):
        """Write rows ``block`` after the committed ones (not yet committed in a state file)."""
        raw = _raw(block)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY)
        view, offset = memoryview(raw), self.rows * self.row_bytes
        while view.nbytes:
            done = os.pwrite(self._fd, view, offset)
            view, offset = view[done:], offset + done
        self.crc = zlib.crc32(raw, self.crc)
        self.rows += block.shape[0]

    def view(self):
        """The committed rows, ``(rows, *row_shape)``, a read-only view of the map."""
        if self.rows > self._capacity:
            capacity = max(64, 2 * self.rows)
            fd = os.open(self.path, os.O_RDWR)
            try:
                if os.fstat(fd).st_size < capacity * self.row_bytes:
                    os.ftruncate(fd, capacity * self.row_bytes)
                self._map = mmap.mmap(fd, capacity * self.row_bytes, access=mmap.ACCESS_READ)
            finally:
                os.close(fd)
            self._capacity = capacity
        if self._map is None:
            return np.empty((0,) + self.row_shape, dtype=self.dtype)
        count = self.rows * self.row_bytes // self.dtype.itemsize
        return np.frombuffer(self._map, dtype=self.dtype, count=count).reshape(
            (self.rows,) + self.row_shape)

    def truncate(self, rows):
        """Keep the first ``rows`` committed rows (their checksum is recomputed)."""
        self.rows = min(self.rows, rows)
        self.crc = zlib.crc32(_raw(self.view())) if self.rows else 0

    def adopt(self, rows, crc):
        """Take ``rows`` rows of an existing file as committed, after checking their checksum;
        bytes after them are discarded."""
        self._map, self._capacity = None, 0
        size = os.path.getsize(self.path) if os.path.exists(self.path) else -1
        if size < rows * self.row_bytes:
            raise damaged_file(_WHAT, self.path, f"it holds {max(size, 0)} bytes, the checkpoint "
                               f"records {rows} rows of {self.row_bytes} bytes")
        self.rows = rows
        if zlib.crc32(_raw(self.view())) != crc:
            self.rows = 0
            raise damaged_file(_WHAT, self.path,
                               f"the checksum of its first {rows} rows does not match")
        self.crc = crc
        self._map, self._capacity = None, 0
        os.truncate(self.path, rows * self.row_bytes)

    def sync(self):
        if self._fd is not None:
            os.fsync(self._fd)


class Checkpoint:
    """Writes and restores the checkpoint folder of one ``fit`` (see the module docstring).

    Parameters
    ----------
    folder : str or path
        Created if missing.
    every : int
        Layers between checkpoints (see :meth:`due`).
    key : str
        Fingerprint of the data and parameters (see :func:`fingerprint`); a
        checkpoint written for another key is refused by :meth:`restore`.
    sync_seconds : float, default=10.0
        Least time between two checkpoints flushed to the disk itself.
    """

    def __init__(self, folder, every, key, sync_seconds=10.0):
        self.folder = os.fspath(folder)
        self.every = every
        self.key = key
        self.sync_seconds = sync_seconds
        self._layout, self._offsets, self._records = None, None, None
        self._last_sync = time.monotonic()
        self._seq, self._n_synced = 0, 0
        self._slots = {}                    # slot name -> [open descriptor, size]
        os.makedirs(self.folder, exist_ok=True)

    def close(self):
        """Close the files kept open between checkpoints (also done when the object is freed)."""
        if self._records is not None:
            self._records.close()
        for fd, _ in self._slots.values():
            os.close(fd)
        self._slots = {}

    def __del__(self):
        self.close()

    def _slot(self, name):
        """Open descriptor of the state slot ``name`` (kept open between checkpoints)."""
        if name not in self._slots:
            fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o644)
            self._slots[name] = [fd, os.fstat(fd).st_size]
        return self._slots[name][0]

    def _write_slot(self, name, meta, arrays, features):
        """Overwrite the state slot ``name`` in place, the features streamed chunk by chunk."""
        fd = self._slot(name)
        self._slots[name][1] = overwrite_streamed(fd, meta, arrays, "features", features,
                                                  self._slots[name][1])

    def _copy_slot(self, source, target):
        """Overwrite the slot ``target`` with the bytes of the slot ``source``, and flush it to
        disk (in pieces: the state may be larger than memory)."""
        src, dst = self._slot(source), self._slot(target)
        size, done = self._slots[source][1], 0
        while done < size:
            piece = os.pread(src, min(_COPY_BYTES, size - done), done)
            write_at(dst, piece, done)
            done += len(piece)
        cut(dst, size, self._slots[target][1])
        self._slots[target][1] = size
        os.fsync(dst)

    def _path(self, name):
        return os.path.join(self.folder, name)

    @property
    def n_written(self):
        """Number of layers committed to the folder."""
        return 0 if self._records is None else self._records.rows

    def due(self, n_layers_done):
        """Whether a checkpoint should be written after ``n_layers_done`` layers."""
        return n_layers_done - self.n_written >= self.every

    # -- writing ----------------------------------------------------------------------------------
    def _open_files(self, layout):
        """Record layout of ``layers.bin``: every part at a 16-byte aligned offset."""
        self.close()
        self._layout, self._offsets, position = layout, {}, 0
        for name, (shape, dtype) in layout["parts"].items():
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            self._offsets[name] = (position, nbytes, tuple(shape), np.dtype(dtype))
            position += -(-nbytes // _RECORD_ALIGNMENT) * _RECORD_ALIGNMENT
        # The objective of the layer's input (rate, compression, delta_r) ends the record.
        self._history_offset = position
        position += _RECORD_ALIGNMENT * 2
        self._records = _AppendFile(self._path("layers.bin"), (position,), np.uint8)

    def _start(self, layout):
        """A fresh checkpoint: earlier states first (they would point at rewritten files)."""
        self.close()
        for name in _SLOTS:
            if os.path.exists(self._path(name)):
                os.unlink(self._path(name))
        self._seq, self._n_synced = 0, 0
        self._open_files(layout)
        self._records.create()

    def _pack(self, block, history, n):
        """Records of ``n`` layers from their stacked parts ``block`` and objective rows."""
        records = np.zeros((n, self._records.row_shape[0]), dtype=np.uint8)
        for name, (offset, nbytes, _, _) in self._offsets.items():
            records[:, offset:offset + nbytes] = (
                np.ascontiguousarray(block[name]).reshape(n, -1).view(np.uint8))
        start = self._history_offset
        records[:, start:start + history.nbytes // n] = history.reshape(n, -1).view(np.uint8)
        return records

    def _part_views(self):
        """Part name -> ``(rows, *shape)`` strided view of the mapped records."""
        records = self._records.view()
        return {name: records[:, offset:offset + nbytes].view(dtype).reshape((len(records),) + shape)
                for name, (offset, nbytes, shape, dtype) in self._offsets.items()}

    def write(self, layers, history, features, lift_kernels=None):
        """Append the layers not yet written, then replace the state atomically.

        Parameters
        ----------
        layers : LayerStack or sequence of Layer
            Every layer built so far.  Those already written are not written
            again; a :class:`LayerStack` then serves all of them from memory
            maps of the files (its in-memory copies are dropped).
        history : dict
            ``"rate"``, ``"compression"``, ``"delta_r"`` -> list of floats, at least one
            per layer (entry ``l``: the objective of layer ``l``'s input); entries past
            the layers are not stored (a resumed build records them again).
        features : iterable of ndarray of shape (F, n, C)
            The current training features, chunk by chunk, in sample order.
        lift_kernels : ndarray or None
        """
        n = len(layers)
        if n == 0 and self._records is None:
            return
        if self._records is None:
            self._start(layers.layout if isinstance(layers, LayerStack) else layer_layout(layers[0]))
        written = self.n_written
        if len(history[_HISTORY_KEYS[0]]) < n:
            raise ValueError(f"Expected at least one history entry per layer ({n}). "
                             f"Got {len(history[_HISTORY_KEYS[0]])} instead.")
        if n < written:
            self._records.truncate(n)
        elif n > written:
            if isinstance(layers, LayerStack):
                block = layers.arrays(written, n)
            else:
                stack = LayerStack(self._layout)
                for layer in layers[written:n]:
                    stack.append(layer)
                block = stack.arrays()
            rows = np.array([history[key][written:n] for key in _HISTORY_KEYS], dtype=np.float64)
            self._records.append(self._pack(block, np.ascontiguousarray(rows.T), n - written))
        durable = time.monotonic() - self._last_sync >= self.sync_seconds
        if durable:
            self._records.sync()
        # Sample-major features, streamed chunk by chunk (never all in memory at once).
        rows = (np.asarray(chunk).transpose(1, 0, 2) for chunk in features)
        arrays = {} if lift_kernels is None else {"lift_kernels": lift_kernels}
        self._seq += 1
        meta = {"format": _FORMAT, "version": _VERSION, "key": self.key, "seq": self._seq,
                "layout": self._layout,
                "record_bytes": self._records.row_shape[0],
                "layers": [self._records.rows, self._records.crc]}
        self._write_slot(_SLOTS[self._seq % 2], meta, arrays, rows)
        if durable:
            self._copy_slot(_SLOTS[self._seq % 2], _SLOTS[2 + self._n_synced % 2])
            sync_folder(self.folder)
            self._n_synced += 1
            self._last_sync = time.monotonic()
        if isinstance(layers, LayerStack):
            layers.offload(self._part_views(), n)

    # -- resuming ---------------------------------------------------------------------------------
    def restore(self):
        """The last complete checkpoint of the folder, or None if there is none.

        Returns
        -------
        None or namespace with
            ``layers`` (a :class:`LayerStack` served from memory maps of the
            files), ``history`` (dict of lists, one entry per layer: the
            objective of its input), ``features`` (ndarray of shape
            ``(m, F, C)``, sample-major, memory-mapped from the state file:
            read it before the next :meth:`write`, which may rewrite that file)
            and ``lift_kernels`` (ndarray or None).

        Raises
        ------
        ValueError
            The checkpoint was written for other data or parameters, or it is
            damaged (every file is checked against its checksum).
        """
        failures, candidates = [], []
        for name in _SLOTS:
            path = self._path(name)
            if not os.path.exists(path):
                continue
            try:
                meta, arrays = read_arrays(path, mmap=True, what=_WHAT)
                if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                    raise damaged_file(_WHAT, path, "it is not a redunet checkpoint state")
                if meta.get("version") != _VERSION:
                    raise InputError(f"The checkpoint in {self.folder!r} has format version "
                                     f"{meta.get('version')!r}; this redunet reads version "
                                     f"{_VERSION}. Use another folder, or resume=False.")
                if not isinstance(meta.get("seq"), int):
                    raise damaged_file(_WHAT, path, "it has no sequence number")
            except ValueError as exc:
                failures.append(exc)
                continue
            if meta.get("key") != self.key:
                raise InputError(
                    f"The checkpoint in {self.folder!r} was written for other training data or "
                    "parameters; use another folder, or resume=False to start over.")
            candidates.append((meta["seq"], path, meta, arrays))
        for seq, path, meta, arrays in sorted(candidates, key=lambda c: -c[0]):
            try:
                state = self._adopt(path, meta, arrays)
            except ValueError as exc:
                failures.append(exc)
                continue
            except (KeyError, TypeError, IndexError) as exc:
                failures.append(damaged_file(_WHAT, path, f"it is inconsistent ({exc!r})"))
                continue
            self._seq = seq
            # The next synced state goes to the other slot than the newest synced one.
            synced = [c for c in candidates if os.path.basename(c[1]).startswith("synced")]
            newest = max(synced, key=lambda c: c[0])[1] if synced else self._path(_SLOTS[3])
            self._n_synced = 1 if newest == self._path(_SLOTS[2]) else 0
            return state
        if failures:
            raise failures[0]
        return None

    def _adopt(self, path, meta, arrays):
        self._open_files(meta["layout"])
        try:
            if meta["record_bytes"] != self._records.row_shape[0]:
                raise damaged_file(_WHAT, path, "its record size does not match its layout")
            self._records.adopt(*meta["layers"])
            n = self._records.rows
            layers = LayerStack.from_arrays(self._layout, self._part_views(), n)
            start = self._history_offset
            rows = np.array(self._records.view()[:, start:start + 8 * len(_HISTORY_KEYS)]
                            .view(np.float64))
        except BaseException:
            self._layout, self._offsets, self._records = None, None, None
            raise
        history = {key: rows[:, i].tolist() for i, key in enumerate(_HISTORY_KEYS)}
        lift = arrays.get("lift_kernels")
        return SimpleNamespace(layers=layers, history=history, features=arrays["features"],
                               lift_kernels=None if lift is None else np.array(lift))
