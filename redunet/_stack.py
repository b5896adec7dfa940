"""The layers of a network stacked into a handful of arrays with a leading layer axis.

A layer's structure -- which operators are dense and which low rank, their
shapes and dtypes -- depends only on the class sizes and the number of
channels, so it is the same at every depth.  :class:`LayerStack` therefore
keeps one array per operator part for all layers:

* ``E.matrix`` of shape ``(L, F, C, C)`` (dense expansion), or ``E.factor``
  ``(L, F, C, n)`` and ``E.alpha`` ``(L,)`` (low rank);
* ``C<j>.matrix`` or ``C<j>.factor`` and ``C<j>.alpha``, likewise, per class;
* ``gammas`` of shape ``(L, K)``.

``stack[i]`` is a :class:`~redunet._layer.Layer` whose operators are views into
these arrays, so the rest of the package sees ordinary layers.  Storage grows
by doubling in memory, and the first layers can be served from other arrays of
the same layout (memory maps of a model file or a checkpoint), so the number
of maps does not grow with depth.
"""

import numpy as np

from ._layer import Layer
from ._operators import DenseOperator, LowRankOperator

__all__ = ["LayerStack", "layer_layout"]

_PARTS = {"dense": ("matrix",), "lowrank": ("factor", "alpha")}


def _kinds(layer):
    return [layer.expansion.kind] + [op.kind for op in layer.compressions]


def _part_names(kinds):
    """Names of the stacked parts of a layer whose operators have these kinds."""
    names = []
    for prefix, kind in zip(["E"] + [f"C{j}" for j in range(len(kinds) - 1)], kinds):
        if kind not in _PARTS:
            raise ValueError(f"Unknown operator kind {kind!r}; expected 'dense' or 'lowrank'.")
        names += [f"{prefix}.{part}" for part in _PARTS[kind]]
    return names + ["gammas"]


def _part_arrays(layer):
    """Per-layer arrays of ``layer``, in the order of :func:`_part_names`."""
    arrays = []
    for op in [layer.expansion] + list(layer.compressions):
        if op.kind == "dense":
            arrays.append(np.asarray(op.matrix))
        else:
            arrays += [np.asarray(op.factor), np.asarray(op.alpha, dtype=np.float64)]
    arrays.append(np.asarray(layer.gammas))
    return arrays


def layer_layout(layer):
    """JSON description of a layer's structure: operator kinds, and shape and dtype per part.

    Two layers can share a stack exactly when their layouts are equal.
    """
    kinds = _kinds(layer)
    return {
        "expansion": kinds[0],
        "compressions": kinds[1:],
        "parts": {name: [list(a.shape), a.dtype.str]
                  for name, a in zip(_part_names(kinds), _part_arrays(layer))},
    }


def _check_layout(layout):
    """Validate a layout read from a file; returns it."""
    try:
        kinds = [layout["expansion"]] + list(layout["compressions"])
        names = _part_names(kinds)
        if names != list(layout["parts"]):
            raise ValueError(f"parts {sorted(layout['parts'])} do not match kinds {kinds}")
        for shape, dtype in layout["parts"].values():
            if not all(isinstance(n, int) and n >= 0 for n in shape) or np.dtype(dtype).kind not in "fc":
                raise ValueError(f"bad part shape {shape} or dtype {dtype}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed layer layout ({exc!r})") from None
    return layout


# NumPy asks for huge pages for arrays from this size on (4 MiB).
_HUGE_PAGE_REQUEST_BYTES = 4 * 2**20


def _fresh(shape, dtype):
    """An uninitialized array in an anonymous memory map of ordinary pages.

    NumPy asks the kernel for transparent huge pages for arrays of 4 MiB or more; faulting
    in 2 MB pages (zeroed, possibly after compacting memory) cost here about three
    times more than ordinary pages for the layer buffers, which are written once
    layer by layer.  Untouched pages of a reserved buffer cost no memory.
    """
    import mmap

    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < _HUGE_PAGE_REQUEST_BYTES:          # NumPy's own allocation: no huge pages
        return np.empty(shape, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype).reshape(shape)


class LayerStack:
    """Sequence of :class:`~redunet._layer.Layer` stored as stacked arrays (see module docstring).

    Parameters
    ----------
    layout : dict or None
        A :func:`layer_layout`; ``None`` takes the layout of the first appended layer.

    Notes
    -----
    List-like: ``len(stack)``, ``stack[i]`` (negative ``i`` too) and iteration
    give layers whose operators are views into the stacked arrays; they stay
    valid as the stack grows (growth reallocates, views keep the old memory).
    """

    def __init__(self, layout=None):
        self.layout = None
        if layout is not None:
            self._set_layout(_check_layout(layout))
        self._head, self._n_head = {}, 0        # first layers, from external arrays
        self._tail, self._n_tail = {}, 0        # later layers, in growable buffers
        self._capacity = 0
        self._expected = 0                      # total layers announced by reserve()

    def _set_layout(self, layout):
        self.layout = layout
        self._names = list(layout["parts"])
        self._signature = [(tuple(shape), np.dtype(dtype)) for shape, dtype in layout["parts"].values()]

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, layout, arrays, n_layers=None):
        """Stack served from stacked arrays (e.g. views of a memory map); no copy.

        Parameters
        ----------
        layout : dict
            :func:`layer_layout` of every layer.
        arrays : dict
            Part name -> array of shape ``(n, *part shape)`` with ``n >= n_layers``.
        n_layers : int or None
            Number of layers to serve; default: all of ``arrays``.
        """
        stack = cls(layout)
        stack.offload(arrays, n_layers)
        return stack

    def append(self, layer):
        """Append ``layer``; its structure must equal the stack's (see :func:`layer_layout`)."""
        if self.layout is None:
            self._set_layout(layer_layout(layer))
        arrays = _part_arrays(layer)
        same = len(arrays) == len(self._signature)
        for array, (shape, dtype) in zip(arrays, self._signature):
            same = same and array.shape == shape and array.dtype == dtype
        if not same:
            raise ValueError(
                f"Cannot append to a LayerStack a layer of structure {layer_layout(layer)}; "
                f"every layer of the stack has the structure {self.layout}.")
        if self._n_tail == self._capacity:
            self._grow(self._next_capacity(self._capacity, self._n_head))
        row = self._n_tail
        for name, array in zip(self._names, arrays):
            self._tail[name][row] = array
        self._n_tail += 1

    def reserve(self, n_layers):
        """Announce that the stack will hold up to ``n_layers`` layers in all.

        The buffers of later layers are then allocated once, at their full size
        (untouched pages of a build that stops early cost no memory), instead of
        being copied at every doubling.
        """
        self._expected = int(n_layers)
        if self.layout is not None and self._n_tail and \
                self._expected - self._n_head > self._capacity:
            self._grow(self._expected - self._n_head)

    def _next_capacity(self, held, n_head):
        """Rows of the next tail buffer: all the layers announced by :meth:`reserve` after the
        ``n_head`` served from outside, and at least twice ``held``."""
        return max(16, 2 * held, self._expected - n_head)

    def _grow(self, capacity):
        tail = {}
        for name, (shape, dtype) in self.layout["parts"].items():
            tail[name] = _fresh((capacity,) + tuple(shape), dtype)
            if self._n_tail:
                tail[name][:self._n_tail] = self._tail[name][:self._n_tail]
        self._tail, self._capacity = tail, capacity

    def offload(self, arrays, n_layers=None):
        """Serve the first ``n_layers`` layers from ``arrays`` and drop them from memory.

        ``arrays`` (part name -> stacked array, e.g. memory maps of a stored
        copy) must hold those layers; later layers stay as they are.  The
        previous head arrays are released.
        """
        if self.layout is None:
            raise ValueError("Cannot offload layers of a LayerStack without a layout.")
        expected = self.layout["parts"]
        if arrays.keys() != expected.keys():
            raise ValueError(f"Expected the stacked arrays {sorted(expected)}. "
                             f"Got {sorted(arrays)} instead.")
        sizes = {a.shape[0] for a in arrays.values()}
        n = min(sizes) if n_layers is None else int(n_layers)
        for name, array in arrays.items():
            shape, dtype = expected[name]
            if (array.ndim != len(shape) + 1 or list(array.shape[1:]) != shape
                    or array.dtype != np.dtype(dtype) or array.shape[0] < n):
                raise ValueError(
                    f"Expected stacked array {name!r} of at least {n} layers of shape {shape} "
                    f"and dtype {dtype}. Got shape {list(array.shape)}, dtype {array.dtype.str}.")
        total = len(self)
        if n > total and (self._n_head or self._n_tail):
            raise ValueError(f"Cannot offload {n} layers of a LayerStack of {total} layers.")
        kept = max(total - n, 0)
        # Fresh buffers: layers taken from the old ones keep their data.
        old, start = self._tail, self._n_tail - kept
        self._tail, self._n_tail, self._capacity = {}, 0, 0
        self._grow(self._next_capacity(kept, n))
        for name in old:
            self._tail[name][:kept] = old[name][start:start + kept]
        self._n_tail = kept
        self._head = {name: array[:n] for name, array in arrays.items()}
        self._n_head = n

    def truncate(self, n_layers):
        """Drop the layers after the first ``n_layers`` (layers taken from the stack before
        keep their data unless they were dropped and new ones appended)."""
        n = int(n_layers)
        if not 0 <= n <= len(self):
            raise ValueError(f"Expected 0 <= n_layers <= {len(self)} for LayerStack.truncate. "
                             f"Got {n_layers} instead.")
        if n <= self._n_head:
            self._head = {name: array[:n] for name, array in self._head.items()}
            self._n_head, self._n_tail = n, 0
        else:
            self._n_tail = n - self._n_head

    # -- access -----------------------------------------------------------------------------------
    def __len__(self):
        return self._n_head + self._n_tail

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"layer index {index} out of range for {len(self)} layers")
        if i < self._n_head:
            source, row = self._head, i
        else:
            source, row = self._tail, i - self._n_head
        return self._layer(source, row)

    def _layer(self, source, row):
        def operator(prefix, kind):
            if kind == "dense":
                return DenseOperator(source[prefix + "matrix"][row])
            return LowRankOperator(float(source[prefix + "alpha"][row]), source[prefix + "factor"][row])

        layout = self.layout
        compressions = [operator(f"C{j}.", kind) for j, kind in enumerate(layout["compressions"])]
        return Layer(operator("E.", layout["expansion"]), compressions, source["gammas"][row])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return f"LayerStack({len(self)} layers)"

    def arrays(self, start=0, stop=None):
        """Part name -> stacked array of layers ``start .. stop-1`` (views where possible)."""
        if self.layout is None:
            return {}
        stop = len(self) if stop is None else stop
        out = {}
        for name in self.layout["parts"]:
            pieces = []
            if start < self._n_head:
                pieces.append(self._head[name][start:min(stop, self._n_head)])
            if stop > self._n_head:
                lo, hi = max(start - self._n_head, 0), stop - self._n_head
                pieces.append(self._tail[name][lo:hi])
            if not pieces:
                shape, dtype = self.layout["parts"][name]
                pieces.append(np.empty((0,) + tuple(shape), dtype=dtype))
            out[name] = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        return out

    @property
    def nbytes(self):
        """Bytes of the operators of all layers (as ``sum(layer.nbytes for layer in stack)``)."""
        if self.layout is None:
            return 0
        per_layer = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize
                        for name, (shape, dtype) in self.layout["parts"].items()
                        if name.endswith((".matrix", ".factor")))
        return per_layer * len(self)
