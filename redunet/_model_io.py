"""Model files: one file of stacked arrays (see :mod:`redunet._arrayfile`), versioned, never pickled.

Contents of a file (format ``redunet-model``, version ``FORMAT_VERSION``):

* header metadata: format name and version, the estimator's parameters, the
  lift's parameters, shapes, the number of layers and their layout (operator
  kinds, shape and dtype of every stacked part, see :mod:`redunet._stack`);
* ``classes``, ``history.<key>`` -- labels and the objective per layer;
* ``lift_kernels`` -- the lifting kernels, when there is a lift;
* ``layers.<part>`` -- every layer's operators stacked along a leading layer
  axis (``layers.E.matrix`` of shape ``(L, F, C, C)``, ``layers.C0.factor``,
  ``layers.gammas`` ...), so a file has a handful of arrays whatever the depth;
* ``classifier.weights``, ``classifier.basis<j>``.

Every load, memory-mapped or not, verifies the checksum of the header and of
every array: a damaged file raises ``ValueError`` and never loads silently.
``load(path, mmap=True)`` maps the file once; every array is a view of that
map, so a model of any depth holds one descriptor.  Files of format version 1
(``.npz`` archives of earlier releases) are refused with a message naming the
version.
"""

import json
import os
import zipfile

import numpy as np

from ._validation import InputError, InputTypeError
from ._arrayfile import damaged_file, read_arrays, write_arrays
from ._classifier import NearestSubspace
from ._lift import Lift1D, Lift2D
from ._spectrum import make_spectrum
from ._stack import LayerStack

__all__ = ["save_model", "load_model", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "redunet-model"
FORMAT_VERSION = 2
_LIFTS = {"Lift1D": Lift1D, "Lift2D": Lift2D}
HISTORY_KEYS = ("rate", "compression", "delta_r")
_ZIP_SIGNATURE = b"PK\x03\x04"


def _model_contents(net):
    """Header metadata and arrays of ``net``'s model file."""
    params = net.get_params(deep=False)
    lift = params.pop("lift")
    classes = np.asarray(net.classes_)
    if classes.dtype.hasobject:
        raise InputTypeError("Labels of dtype object cannot be saved without pickle; "
                        "use ints, floats or strings as labels.")
    layers = net.layers_
    if not isinstance(layers, LayerStack):
        stack = LayerStack()
        for layer in layers:
            stack.append(layer)
        layers = stack
    meta = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "params": params,
        "lift": None if lift is None else {"class": type(lift).__name__,
                                           "params": {k: v for k, v in lift.get_params().items()
                                                      if k != "kernels"}},
        "input_shape": list(net.input_shape_),
        "signal_shape": list(net.signal_shape_),
        "n_layers": len(layers),
        "layout": layers.layout,
        "n_classes": int(classes.shape[0]),
        "classifier_n_components": net.classifier_.n_components,
        "classifier_n_components_": int(net.classifier_.n_components_),
    }
    arrays = {"classes": classes}
    arrays.update({f"history.{key}": net.history_[key] for key in HISTORY_KEYS})
    if lift is not None:
        arrays["lift_kernels"] = net.lift_.kernels_
    arrays.update({f"layers.{name}": array for name, array in layers.arrays().items()})
    arrays["classifier.weights"] = net.classifier_.weights_
    arrays.update({f"classifier.basis{j}": basis for j, basis in enumerate(net.classifier_.bases_)})
    return meta, arrays


def save_model(net, path):
    """Write a fitted :class:`ReduNet` to ``path`` atomically (see the module docstring)."""
    meta, arrays = _model_contents(net)
    write_arrays(path, meta, arrays)


def _legacy_version(path):
    """Format version recorded in a version-1 ``.npz`` model file, or None if it is not one."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("meta.npy") as member:
            raw = np.lib.format.read_array(member, allow_pickle=False)
        return json.loads(raw.tobytes().decode()).get("version")
    except Exception:                    # anything unreadable is simply not a legacy model
        return None


def load_model(cls, path, mmap=False):
    """Read a model file written by :func:`save_model`; never executes code from the file.

    Raises
    ------
    ValueError
        The file is damaged, is not a model file, or has another format version.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        start = handle.read(len(_ZIP_SIGNATURE))
    if start == _ZIP_SIGNATURE:
        version = _legacy_version(path)
        if version is not None:
            raise InputError(f"The model file {path!r} has format version {version!r}; this "
                             f"redunet reads version {FORMAT_VERSION}. Rebuild the model, or "
                             "load it with the release that wrote it and save it again.")
    meta, arrays = read_arrays(path, mmap=mmap, what="model file")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise damaged_file("model file", path, "its metadata does not name the redunet-model format")
    if meta.get("version") != FORMAT_VERSION:
        raise InputError(f"The model file {path!r} has format version {meta.get('version')!r}; "
                         f"this redunet reads version {FORMAT_VERSION}.")
    try:
        return _rebuild(cls, meta, arrays)
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise damaged_file("model file", path, f"its contents are inconsistent ({exc!r})") from None


def _rebuild(cls, meta, arrays):
    lift = None
    if meta["lift"] is not None:
        lift = _LIFTS[meta["lift"]["class"]](**meta["lift"]["params"])
    net = cls(**meta["params"], lift=lift)
    net.classes_ = arrays["classes"]
    net.input_shape_ = tuple(meta["input_shape"])
    if net.arch == "vector":
        net.n_features_in_ = net.input_shape_[0]
    net.signal_shape_ = tuple(meta["signal_shape"])
    net.spectrum_ = make_spectrum(net.arch, net.signal_shape_)
    net.history_ = {key: arrays[f"history.{key}"] for key in HISTORY_KEYS}
    if lift is not None:
        net.lift_ = type(lift)(**lift.get_params(deep=False))
        net.lift_.kernels_ = arrays["lift_kernels"]
        net.lift_.in_channels_ = int(net.lift_.kernels_.shape[1])
    n_layers = meta["n_layers"]
    if n_layers:
        parts = {name[len("layers."):]: array for name, array in arrays.items()
                 if name.startswith("layers.")}
        net.layers_ = LayerStack.from_arrays(meta["layout"], parts, n_layers)
    else:
        net.layers_ = LayerStack()
    net.n_layers_ = len(net.layers_)
    net.layer_seconds_ = np.zeros(0)
    classifier = NearestSubspace(meta["classifier_n_components"])
    classifier.classes_ = net.classes_
    classifier.weights_ = arrays["classifier.weights"]
    classifier.bases_ = [arrays[f"classifier.basis{j}"] for j in range(meta["n_classes"])]
    # What fit derives from the bases: the dimensions kept per class (a weight-2 frequency's
    # component counts twice in the circulant family) and the number asked for.
    weights = np.asarray(classifier.weights_, dtype=float)
    classifier.n_family_components_ = np.array(
        [int(round(float(weights @ np.count_nonzero(np.abs(basis).sum(axis=1), axis=1))))
         for basis in classifier.bases_], dtype=int)
    classifier.n_components_ = int(meta["classifier_n_components_"])
    net.classifier_ = classifier
    return net
