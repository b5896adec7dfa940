"""One file of named arrays: a checksummed JSON header, then 64-byte aligned raw data.

Layout of a file::

    bytes 0-7      signature  b"\\x93RDNARR\\n"
    bytes 8-15     n, the length of the JSON header (uint64, little-endian)
    n bytes        JSON header: {"meta": ...,
                                 "arrays": [{"name", "dtype", "shape", "offset", "crc32"}, ...]}
    4 bytes        CRC-32 of everything before it (uint32, little-endian)
    zero bytes     up to the next multiple of 64: the start of the data section
    raw arrays     C order, each starting ``offset`` bytes after the data section start
                   (a multiple of 64), zero bytes between them, nothing after the last one

Why this container rather than ``.npz``, HDF5, safetensors or zarr:

* **Bounded descriptors.** A memory-mapped read is *one* map of the whole
  file; every array is a view of it.  A model of any depth (its layers are
  stacked, see :mod:`redunet._stack`) holds one descriptor.
* **Every byte checked on every read, mapped or not.** The header carries its
  own CRC-32 and one per array; padding must be zero and the file must end
  with its last array.
  CRC-32 detects every error burst of up to 32 bits -- any flipped byte --
  with certainty, and runs at several GB/s (``zlib``).  An ``.npz`` has CRCs
  only when read through :mod:`zipfile`, not when mapped, and aligning its
  members for mapping relies on zip internals.  HDF5 checksums (Fletcher-32)
  only chunked datasets, which cannot be mapped, and adds a large compiled
  dependency; safetensors has no checksums, no complex or string dtypes; zarr
  is a folder of many files.
* **No code from the file is executed.** Dtypes are limited to booleans,
  integers, floats, complex numbers and fixed-width strings; nothing is
  unpickled.
* **Atomic saves.** A temporary file in the target's folder is written,
  flushed to disk and renamed over the target.
"""

import json
import os
import struct
import tempfile
import zlib

import numpy as np

from ._validation import InputError, InputTypeError

__all__ = ["write_arrays", "read_arrays", "overwrite", "overwrite_streamed", "write_at", "cut",
           "SIGNATURE", "ALIGNMENT", "damaged_file"]

SIGNATURE = b"\x93RDNARR\n"
ALIGNMENT = 64
# Writes smaller than this are gathered into one system call (streamed files).
_GATHER_BYTES = 1 << 20
_ALLOWED_KINDS = "biufcUS"      # no objects, no void/structured dtypes


def _aligned(n):
    return -(-n // ALIGNMENT) * ALIGNMENT


def _raw(array):
    """The bytes of ``array`` in C order, as a flat uint8 array (no copy when possible)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def check_folder(path):
    """Absolute folder of ``path``; a missing folder is named in the error."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {os.fspath(path)!r}: the folder {folder!r} "
                                "does not exist.")
    return folder


def write_arrays(path, meta, arrays, sync=True, atomic=True):
    """Write ``arrays`` (name -> array) and the JSON-able ``meta`` to ``path``.

    Parameters
    ----------
    path : str or path
    meta : dict
        JSON-serializable metadata, stored in the checksummed header.
    arrays : dict
        Name -> array of a boolean, integer, float, complex or string dtype.
    sync : bool, default=True
        Flush the file (and its folder) to disk (``fsync``) before returning.
        Without it the file survives the process being killed, not the
        machine losing power.
    atomic : bool, default=True
        Write a temporary file in the same folder and rename it over ``path``,
        so ``path`` always holds a complete file.  ``False`` overwrites
        ``path`` in place, which is much cheaper on file systems that flush
        data on a rename over an existing file (ext4); a write cut short then
        leaves a file that fails its checksums, so the caller must keep
        another copy (as checkpoints do).
    """
    path = os.fspath(path)
    folder = check_folder(path)
    prefix, pieces, size = _encode(meta, arrays)
    if not atomic:
        _overwrite(path, prefix, pieces, size, sync)
        return
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            _write_pieces(out, prefix, pieces, size)
            out.flush()
            if sync:
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if sync:
        sync_folder(folder)


def _entries(arrays):
    """Header entries and raw bytes of ``arrays``, and the data section's length."""
    entries, raws, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise InputTypeError(f"Cannot save array {name!r} of dtype {array.dtype} without pickle; "
                            "use booleans, numbers or strings.")
        raw = _raw(array)
        entries.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
                        "offset": offset, "crc32": zlib.crc32(raw)})
        raws.append(raw)
        offset = _aligned(offset + raw.size)
    end = entries[-1]["offset"] + raws[-1].size if entries else 0
    return entries, raws, end


def _prefix(meta, entries, room=None):
    """Signature, header length, JSON header (padded with spaces to ``room`` bytes) and its
    CRC-32."""
    header = json.dumps({"meta": meta, "arrays": entries}).encode()
    if room is not None:
        header += b" " * (room - len(header))
    prefix = SIGNATURE + struct.pack("<Q", len(header)) + header
    return prefix + struct.pack("<I", zlib.crc32(prefix))


def _encode(meta, arrays):
    """Header bytes, ``(position, raw bytes)`` of every array, and the file size."""
    entries, raws, end = _entries(arrays)
    prefix = _prefix(meta, entries)
    start = _aligned(len(prefix))
    size = start + end if entries else len(prefix)
    return prefix, [(start + e["offset"], raw) for e, raw in zip(entries, raws)], size


def _join_pieces(prefix, pieces, size):
    """The bytes of a file from :func:`_encode`'s output."""
    chunks, position = [prefix], len(prefix)
    for begin, raw in pieces:
        chunks += [b"\0" * (begin - position), raw.tobytes()]
        position = begin + raw.size
    chunks.append(b"\0" * (size - position))
    return b"".join(chunks)


def overwrite(fd, data, old_size=None):
    """Write ``data`` at the start of the open file ``fd``, cutting what followed it.

    ``old_size`` (the file's size, if known) spares a system call.
    """
    write_at(fd, data, 0)
    cut(fd, len(data), old_size)


def cut(fd, size, old_size=None):
    """Cut the open file ``fd`` to ``size`` bytes if it is longer (``old_size``: its size, if
    known)."""
    if (os.fstat(fd).st_size if old_size is None else old_size) > size:
        os.ftruncate(fd, size)


def write_at(fd, data, position):
    """Write all of ``data`` (bytes-like) into the open file ``fd`` at ``position``."""
    view, done = memoryview(data), 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], position + done)


def overwrite_streamed(fd, meta, arrays, name, pieces, old_size=None):
    """Write a file like :func:`write_arrays` at the start of the open file ``fd``, with a last
    array ``name`` streamed from ``pieces`` (cutting what followed it); returns the file size.

    The last array is the concatenation of ``pieces`` (arrays of one dtype and one shape
    after the first axis) along the first axis; only one piece is in memory at a time.  Its
    checksum and length are known once it is written, so the header is written last, into
    room reserved for its longest form (JSON allows the trailing spaces that pad it).

    Parameters
    ----------
    fd : int
        Descriptor of a file open for writing.
    meta, arrays
        As in :func:`write_arrays` (``arrays`` in memory, written before the streamed one).
    name : str
        Name of the streamed array.
    pieces : iterable of ndarray
        At least one piece.
    old_size : int or None
        The file's size, if known (spares a system call).
    """
    pieces = iter(pieces)
    first = np.asarray(next(pieces))
    dtype, row_shape = first.dtype, first.shape[1:]
    if dtype.kind not in _ALLOWED_KINDS:
        raise InputTypeError(f"Cannot save array {name!r} of dtype {dtype} without pickle; "
                             "use booleans, numbers or strings.")
    entries, raws, end = _entries(arrays)
    offset = _aligned(end)

    def entry(rows, crc):
        return {"name": name, "dtype": dtype.str, "shape": [rows, *row_shape], "offset": offset,
                "crc32": crc}

    # Room for the longest header: the largest row count and checksum.
    room = len(_prefix(meta, entries + [entry(2**63 - 1, 2**32 - 1)])) - len(SIGNATURE) - 12
    start = _aligned(len(SIGNATURE) + 8 + room + 4)
    # After the header's room, the file is written in order: the in-memory arrays, zeros for
    # the padding around them (the file may hold old bytes), then the pieces; small writes are
    # gathered into one.
    out = _SequentialWriter(fd, len(SIGNATURE) + 8 + room + 4)
    for e, raw in zip(entries, raws):
        out.write(bytes(start + e["offset"] - out.position))
        out.write(raw)
    out.write(bytes(start + offset - out.position))
    rows, crc = 0, 0
    pieces, first = _chain(first, pieces), None
    for piece in pieces:
        piece = np.asarray(piece)
        if piece.dtype != dtype or piece.shape[1:] != row_shape:
            raise ValueError(f"Expected pieces of array {name!r} of dtype {dtype} and shape "
                             f"(n, {', '.join(map(str, row_shape))}). Got dtype {piece.dtype}, "
                             f"shape {piece.shape} instead.")
        raw = _raw(piece)
        crc = zlib.crc32(raw, crc)
        out.write(raw)
        rows += piece.shape[0]
    out.flush()
    position = out.position
    # Written last: a file cut short before this point fails its header checksum.
    write_at(fd, _prefix(meta, entries + [entry(rows, crc)], room), 0)
    cut(fd, position, old_size)
    return position


class _SequentialWriter:
    """Writes consecutive byte strings into ``fd`` from ``start`` on, gathering small ones
    (below ``_GATHER_BYTES`` in all) into one system call."""

    def __init__(self, fd, start):
        self.fd, self._flushed = fd, start
        self._pending, self._size = [], 0

    @property
    def position(self):
        """File offset of the next byte written."""
        return self._flushed + self._size

    def write(self, data):
        if len(data) >= _GATHER_BYTES:
            self.flush()
            write_at(self.fd, data, self._flushed)
            self._flushed += len(data)
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= _GATHER_BYTES:
            self.flush()

    def flush(self):
        if self._pending:
            write_at(self.fd, b"".join(self._pending), self._flushed)
            self._flushed += self._size
            self._pending, self._size = [], 0


def _chain(first, rest):
    """``first``, then the items of ``rest``, keeping no reference to an item once passed on."""
    held = [first]
    del first
    yield held.pop()
    yield from rest


def _overwrite(path, prefix, pieces, size, sync):
    """Write the file in place (see ``atomic`` in :func:`write_arrays`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        overwrite(fd, _join_pieces(prefix, pieces, size))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_pieces(out, prefix, pieces, size):
    out.write(prefix)
    position = len(prefix)
    for begin, raw in pieces:
        out.write(b"\0" * (begin - position))
        out.write(raw)
        position = begin + raw.size
    out.write(b"\0" * (size - position))


def sync_folder(folder):
    """``fsync`` a folder, so that a rename in it is on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def damaged_file(what, path, why):
    """The error (an :class:`~redunet._validation.InputError`, a ``ValueError``) for a file
    that cannot be read."""
    return InputError(f"Cannot read the {what} {os.fspath(path)!r}: {why}. It is truncated, "
                      "corrupted, or not a file written by redunet.")


def read_arrays(path, mmap=False, what="model file"):
    """Read a file written by :func:`write_arrays`, verifying every byte of it.

    Parameters
    ----------
    path : str or path
    mmap : bool, default=False
        Map the file (one map) and return views of it instead of reading it.
    what : str
        Name of the file's role, for errors ("model file", "checkpoint file").

    Returns
    -------
    meta : dict
    arrays : dict
        Name -> array, in the order written.

    Raises
    ------
    ValueError
        "Cannot read the <what> ...": the file is not of this format, or any
        checksum, size or padding check fails.
    """
    path = os.fspath(path)

    def fail(why):
        return damaged_file(what, path, why)

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise fail("it is empty")
        fixed = handle.read(len(SIGNATURE) + 8)
        if fixed[:len(SIGNATURE)] != SIGNATURE or len(fixed) < len(SIGNATURE) + 8:
            raise fail("it does not start with the redunet file signature")
        (length,) = struct.unpack("<Q", fixed[len(SIGNATURE):])
        if len(fixed) + length + 4 > size:
            raise fail(f"its header length ({length} bytes) exceeds the file size ({size} bytes)")
        rest = handle.read(length + 4)
        (crc,) = struct.unpack("<I", rest[length:])
        if zlib.crc32(fixed + rest[:length]) != crc:
            raise fail("the checksum of its header does not match")
        try:
            header = json.loads(rest[:length].decode())
            meta, entries = header["meta"], list(header["arrays"])
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise fail(f"its header is malformed ({exc!r})") from None
        if mmap:
            buffer = np.memmap(handle, dtype=np.uint8, mode="r", shape=(size,))
        else:
            storage = np.empty(size + ALIGNMENT, dtype=np.uint8)
            shift = (-storage.ctypes.data) % ALIGNMENT
            buffer = storage[shift:shift + size]
            handle.seek(0)
            view, done = memoryview(buffer), 0
            while done < size:
                got = handle.readinto(view[done:])
                if not got:
                    raise fail("it shrank while being read")
                done += got
    return meta, _views(buffer, _aligned(len(fixed) + length + 4), len(fixed) + length + 4,
                        entries, fail)


def _views(buffer, start, position, entries, fail):
    """Check every entry and the bytes between them; return name -> view of ``buffer``."""
    arrays = {}
    size = buffer.shape[0]
    for entry in entries:
        try:
            name, shape = entry["name"], tuple(entry["shape"])
            dtype = np.dtype(entry["dtype"])
            offset, crc = entry["offset"], entry["crc32"]
            valid = (isinstance(name, str) and name not in arrays
                     and all(isinstance(n, int) and n >= 0 for n in shape)
                     and isinstance(offset, int) and offset % ALIGNMENT == 0 and isinstance(crc, int))
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"an array entry of its header is malformed ({exc!r})") from None
        if not valid:
            raise fail(f"the array entry {entry!r} of its header is malformed")
        if dtype.kind not in _ALLOWED_KINDS:
            raise fail(f"array {name!r} has dtype {dtype}, which is never read (no pickle)")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        begin = start + offset
        if begin < position or begin + nbytes > size:
            raise fail(f"array {name!r} lies outside the file or overlaps another one")
        if buffer[position:begin].any():
            raise fail(f"the padding before array {name!r} is not zero")
        raw = buffer[begin:begin + nbytes]
        if zlib.crc32(raw) != crc:
            raise fail(f"the checksum of array {name!r} does not match")
        arrays[name] = raw.view(dtype).reshape(shape)
        position = begin + nbytes
    if position != size:
        raise fail(f"{size - position} unexpected bytes follow the last array")
    return arrays
