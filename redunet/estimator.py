"""The ``ReduNet`` estimator: forward construction of every layer from the training data.

Data flow (SPEC section 7), the same for every architecture::

    raw X -> lift (optional) -> normalize -> to spectrum -> layers -> back from spectrum

Only the spectrum transform and the lift know the architecture.
"""

import numpy as np

from ._base import ParamsMixin
from ._config import resolve_backend
from ._parallel import single_threaded_blas
from ._validation import (NotFittedError, check_array, check_dtype, check_labels,
                          check_parameter)
from .checkpoint import Checkpoint, fingerprint
from .classifier import NearestSubspace, accuracy
from .layer import apply_layer, build_and_apply_layer, group_rows
from .objective import spectral_rates
from .spectrum import make_spectrum
from .distributed import is_dask_array
from .streaming import LocalChunks

__all__ = ["ReduNet"]

def _advance(progress, delta_r):
    """One layer done on the progress bar (if any); ``delta_r=None`` closes it."""
    if progress is None:
        return
    if delta_r is None:
        progress.close()
    else:
        progress.update(1)
        progress.set_postfix(delta_R=f"{delta_r:.5f}", refresh=False)


_LAYOUTS = {
    "vector": "(n_samples, n_features)",
    "fourier1d": "(n_samples, n_channels, length)",
    "fourier2d": "(n_samples, n_channels, height, width)",
}
_NDIM = {"vector": 2, "fourier1d": 3, "fourier2d": 4}

# Samples per chunk in transform: bounds the temporaries to about this many bytes.
_CHUNK_BYTES = 64 * 2**20


class ReduNet(ParamsMixin):
    """ReduNet built layer by layer in closed form from the MCR^2 objective.

    Parameters
    ----------
    arch : {"vector", "fourier1d", "fourier2d"}, default="vector"
        ``"vector"``: features ``(m, d)``; ``"fourier1d"``: multichannel signals
        ``(m, C, T)``, invariant to cyclic shifts along ``T``; ``"fourier2d"``:
        images ``(m, C, H, W)``, invariant to cyclic translations.
    n_layers : int, default=40
        Number of layers to build (fewer if ``tol`` stops the construction).
    eta : float, default=0.5
        Step size of the gradient-ascent step.
    eps : float, default=0.1
        Squared quantization error (the paper's epsilon squared).
    lmbda : float, default=500
        Softmax sharpness of the class-membership estimate.
    lift : Lift1D, Lift2D or None, default=None
        Fixed random lifting applied to the raw input (invariant archs only).
    tol : float or None, default=None
        Stop adding layers once ``delta_R`` rose by at most ``tol`` over the last
        ``patience`` layers.  ``None`` builds all ``n_layers``.
    patience : int, default=5
        Window of the ``tol`` criterion, in layers.
    n_components : int or None, default=None
        Subspace dimension of the nearest-subspace classifier behind
        :meth:`predict`; for the invariant archs it counts dimensions of each
        class's whole circulant family, pooled across frequencies; see
        :class:`NearestSubspace`.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the features and operators (complex64 spectra for float32).
    backend : {"numba", "numpy"} or None, default=None
        Compiled kernels or their NumPy twins; ``None`` reads ``REDUNET_BACKEND``.
    verbose : bool, default=False
        Show a progress bar over layers with the current ``delta_R``.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Sorted unique training labels.
    layers_ : list of Layer
        The operators of every layer.
    n_layers_ : int
        Number of layers built.
    history_ : dict of ndarray of shape (n_layers_ + 1,)
        ``"rate"``, ``"compression"``, ``"delta_r"`` of the training features
        with the true labels: entry 0 is the input of the first layer, entry
        ``l`` the output of layer ``l``.
    classifier_ : NearestSubspace
        Fitted on the final training features.
    signal_shape_ : tuple
        Shape of one sample after lifting.

    Examples
    --------
    >>> from redunet import ReduNet
    >>> from redunet.datasets import gaussian_mixture_2d
    >>> X, y = gaussian_mixture_2d(n_per_class=100, noise=0.1, seed=0)
    >>> net = ReduNet(n_layers=200).fit(X, y)
    >>> bool(net.history_["delta_r"][-1] > net.history_["delta_r"][0])
    True
    >>> net.score(X, y)
    1.0
    """

    def __init__(self, arch="vector", n_layers=40, eta=0.5, eps=0.1, lmbda=500.0, lift=None,
                 tol=None, patience=5, n_components=None, dtype="float64", backend=None,
                 verbose=False):
        self.arch = arch
        self.n_layers = n_layers
        self.eta = eta
        self.eps = eps
        self.lmbda = lmbda
        self.lift = lift
        self.tol = tol
        self.patience = patience
        self.n_components = n_components
        self.dtype = dtype
        self.backend = backend
        self.verbose = verbose

    # -- parameters -------------------------------------------------------------------------------
    def _check_params(self):
        owner = "ReduNet"
        check_parameter(owner, "arch", self.arch, tuple(_NDIM))
        check_parameter(owner, "n_layers", self.n_layers, "positive_int")
        check_parameter(owner, "eta", self.eta, "positive_float")
        check_parameter(owner, "eps", self.eps, "positive_float")
        check_parameter(owner, "lmbda", self.lmbda, "nonnegative_float")
        check_parameter(owner, "tol", self.tol, "optional_nonnegative_float")
        check_parameter(owner, "patience", self.patience, "positive_int")
        check_parameter(owner, "n_components", self.n_components, "optional_positive_int")
        check_parameter(owner, "verbose", self.verbose, "bool")
        check_dtype(self.dtype)
        resolve_backend(self.backend)
        if self.lift is not None:
            if self.arch == "vector":
                raise ValueError("The 'lift' parameter of ReduNet must be None for arch='vector'; "
                                 "lifting is for the shift-invariant archs.")
            if not hasattr(self.lift, "fit_transform"):
                raise TypeError("The 'lift' parameter of ReduNet must be a Lift1D, a Lift2D or "
                                f"None. Got {type(self.lift).__name__} instead.")

    # -- input stage ------------------------------------------------------------------------------
    def _validated(self, X):
        """``X`` as a finite real array of the arch's layout."""
        return check_array(X, name="X", ndim=_NDIM[self.arch], dtype=check_dtype(self.dtype),
                           allow_zero_samples=self.lift is not None,
                           shape_hint=_LAYOUTS[self.arch])

    def _lifted(self, X, fitting):
        """Lifted samples of validated ``X`` (the samples themselves without a lift)."""
        if not fitting and X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"Expected 'X' samples of shape {self.input_shape_} as in fit "
                f"(layout {_LAYOUTS[self.arch]}). Got {X.shape[1:]} instead."
            )
        if self.lift is None:
            return X
        if fitting:
            self.lift_ = self._fresh_lift()
            return self.lift_.fit_transform(X)
        return self.lift_.transform(X)

    def _fresh_lift(self):
        return type(self.lift)(**self.lift.get_params(deep=False))

    def _to_spectrum(self, Z):
        """Unit-sphere projection and spectral batch ``(F, m, C)`` of lifted samples."""
        per_sample = (-1,) + (1,) * (Z.ndim - 1)
        peak = np.abs(Z.reshape(Z.shape[0], -1)).max(axis=1)
        if np.any(peak == 0):
            zero = np.flatnonzero(peak == 0)
            raise ValueError(
                f"Expected every sample of 'X' to be non-zero after lifting (samples are "
                f"projected onto the unit sphere). Sample(s) {zero[:5].tolist()} are all zeros."
            )
        Z = Z / peak.reshape(per_sample)         # first to O(1), so squares cannot overflow
        flat = Z.reshape(Z.shape[0], -1)
        Z /= np.sqrt(np.einsum("ij,ij->i", flat, flat)).reshape(per_sample)
        return self.spectrum_.forward(Z)

    def _begin(self, first, classes):
        """Shapes, lift, spectrum and an empty build from validated samples; returns them lifted."""
        self.input_shape_ = first.shape[1:]
        Z = self._lifted(first, fitting=True)
        self.signal_shape_ = Z.shape[1:]
        self.spectrum_ = make_spectrum(self.arch, self.signal_shape_)
        self.classes_ = classes
        self.layers_ = []
        self._history = {"rate": [], "compression": [], "delta_r": []}
        return Z

    # -- construction -----------------------------------------------------------------------------
    def fit(self, X, y, checkpoint=None, checkpoint_every=50, resume=False, chunk_size=None,
            work_dir=None):
        """Build the network from training samples ``X`` with labels ``y``; returns ``self``.

        Parameters
        ----------
        X : array_like
            Training samples in the arch's layout (see the class docstring).
        y : array_like of shape (n_samples,)
            Labels of any sortable type.
        checkpoint : str or path, optional
            Folder where the layers are written every ``checkpoint_every`` layers
            (atomically, see :mod:`redunet.checkpoint`).  Written layers are then
            memory-mapped from disk, so memory does not grow with depth.
        checkpoint_every : int, default=50
            Layers per checkpoint file.
        resume : bool, default=False
            Continue from the last complete checkpoint in ``checkpoint`` (same data
            and parameters required); the result equals an uninterrupted build.
        chunk_size : int, optional
            Process the training set ``chunk_size`` samples at a time (streaming fit,
            see :mod:`redunet.streaming`): ``X`` may be a memory-mapped array larger
            than memory.  Operators are then always dense (built from scatter
            matrices); the result equals the in-memory fit up to rounding.
        work_dir : str or path, optional
            With ``chunk_size``: folder of a temporary file holding the training
            features between layers (default: in memory).
        """
        self._check_params()
        check_parameter("ReduNet.fit", "checkpoint_every", checkpoint_every, "positive_int")
        check_parameter("ReduNet.fit", "resume", resume, "bool")
        check_parameter("ReduNet.fit", "chunk_size", chunk_size, "optional_positive_int")
        if resume and checkpoint is None:
            raise ValueError("The 'resume' argument of ReduNet.fit needs a 'checkpoint' folder.")
        if is_dask_array(X):
            if checkpoint is not None or chunk_size is not None:
                raise ValueError("The 'checkpoint' and 'chunk_size' arguments of ReduNet.fit do "
                                 "not apply to a dask array (its chunks are the chunks).")
            return self._fit_dask(X, y)
        if chunk_size is not None:
            if checkpoint is not None:
                raise ValueError("The 'checkpoint' and 'chunk_size' arguments of ReduNet.fit "
                                 "cannot be combined yet; pass one of them.")
            return self._fit_chunked(X, y, chunk_size, work_dir)
        X = self._validated(X)
        classes, y_index = check_labels(y, X.shape[0])
        Z = self._begin(X, classes)
        store, V = None, None
        if checkpoint is not None:
            key = fingerprint(X, y_index, classes, self.get_params(deep=True))
            store = Checkpoint(checkpoint, checkpoint_every, key)
            V = store.restore(self) if resume else None
        if V is None:
            V = self._to_spectrum(Z)
        del X, Z
        with single_threaded_blas():
            V = self._build_layers(V, y_index, store)
            self._finish(V, y_index)
        return self

    def _build_layers(self, V, y_index, store=None):
        groups = group_rows(y_index, self.classes_.shape[0])
        weights = self.spectrum_.weights
        backend = resolve_backend(self.backend)
        progress = self._progress()
        for index in range(len(self.layers_), self.n_layers):
            layer, rate, compression, V_next = build_and_apply_layer(
                V, y_index, groups, weights, self.eps, self.eta, self.lmbda, backend,
                describe=lambda j, f, index=index: self._describe(index, j, f))
            self._record(rate, compression)
            if self._converged():
                break
            V = V_next
            self.layers_.append(layer)
            if store is not None and store.due(len(self.layers_)):
                store.write(self, V)
            _advance(progress, rate - compression)
        _advance(progress, None)
        if store is not None:
            store.write(self, V)
        return V

    def _fit_chunked(self, X, y, chunk_size, work_dir):
        """Streaming fit: features by chunks, operators from summed statistics."""
        if not hasattr(X, "shape") or len(X.shape) != _NDIM[self.arch]:
            raise ValueError(f"Expected 'X' to be a {_NDIM[self.arch]}D array "
                             f"{_LAYOUTS[self.arch]} (e.g. a numpy.memmap) for a chunked fit.")
        y_index = self._start_chunked(X, y, chunk_size)
        real = check_dtype(self.dtype)
        dtype = real if self.arch == "vector" else np.result_type(real, np.complex64)
        shape = (X.shape[0], self.spectrum_.n_frequencies, self.signal_shape_[0])
        executor = LocalChunks(shape, dtype, y_index, self.classes_.shape[0], chunk_size, work_dir)
        try:
            for samples in executor.chunks():
                Z = self._lifted(self._validated(X[samples]), fitting=False)
                executor.write(samples, self._to_spectrum(Z))
            self._run_executor(executor)
        finally:
            executor.close()
        return self

    def _start_chunked(self, X, y, first_rows):
        """Labels, shapes, lift and spectrum from the first rows of a chunked ``X``."""
        classes, y_index = check_labels(y, X.shape[0])
        first = X[:first_rows]
        self._begin(self._validated(first.compute() if is_dask_array(first) else first), classes)
        return y_index

    def _fit_dask(self, X, y):
        """Fit on a dask array chunked along samples (see :mod:`redunet.distributed`)."""
        from .distributed import DaskChunks, input_features
        if is_dask_array(y):
            y = y.compute()
        if X.ndim != _NDIM[self.arch]:
            raise ValueError(f"Expected 'X' to be a {_NDIM[self.arch]}D array "
                             f"{_LAYOUTS[self.arch]}. Got a dask array of shape {X.shape} instead.")
        y_index = self._start_chunked(X, y, X.chunks[0][0])
        executor = DaskChunks(input_features(self, X), y_index, self.classes_.shape[0])
        try:
            self._run_executor(executor)
        finally:
            executor.close()
        return self

    def _run_executor(self, executor):
        """Build the layers from an executor's statistics and updates (streaming, Dask)."""
        weights = self.spectrum_.weights
        backend = resolve_backend(self.backend)
        progress = self._progress()
        with single_threaded_blas():
            stats = executor.statistics()
            for index in range(self.n_layers):
                layer, rate, compression = stats.build_layer(
                    weights, self.eps, backend,
                    describe=lambda j, f, index=index: self._describe(index, j, f))
                self._record(rate, compression)
                if self._converged():
                    break
                executor.update(layer, weights, self.eta, self.lmbda, backend)
                self.layers_.append(layer)
                stats = executor.statistics()
                _advance(progress, rate - compression)
            if len(self._history["rate"]) == len(self.layers_):
                self._record(*stats.rates(weights, self.eps))
            self.classifier_ = NearestSubspace(self.n_components).fit_scatter(
                stats.scatters, stats.counts, weights, self.classes_)
        _advance(progress, None)
        self._publish()

    def _publish(self):
        self.history_ = {key: np.array(values) for key, values in self._history.items()}
        self.n_layers_ = len(self.layers_)

    def _finish(self, V, y_index):
        """Objective of the final features, the classifier, and the public attributes."""
        if len(self._history["rate"]) == len(self.layers_):
            membership = np.eye(self.classes_.shape[0])[y_index]
            rate, compression = spectral_rates(V, self.spectrum_.weights, self.eps, membership)
            self._record(rate, compression)
        self._publish()
        self.classifier_ = NearestSubspace(self.n_components).fit_spectral(
            V, self.spectrum_.weights, y_index, self.classes_)

    def _record(self, rate, compression):
        self._history["rate"].append(rate)
        self._history["compression"].append(compression)
        self._history["delta_r"].append(rate - compression)

    def _converged(self):
        delta = self._history["delta_r"]
        if self.tol is None or len(delta) <= self.patience:
            return False
        return delta[-1] - delta[-1 - self.patience] <= self.tol

    def _describe(self, layer_index, class_index, frequency):
        who = ("the expansion operator" if class_index is None
               else f"class {self.classes_[class_index].item()!r}")
        return f"layer {layer_index}, {who}, {self.spectrum_.frequency_label(frequency)}"

    def _progress(self):
        if not self.verbose:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=self.n_layers, initial=len(self.layers_), unit="layer",
                    desc="ReduNet")

    # -- inference --------------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "layers_"):
            raise NotFittedError("This ReduNet instance is not fitted yet. Call 'fit' first.")

    def _spectral_features(self, X):
        """Final features of ``X`` in the spectral batch layout, computed in sample chunks."""
        self._check_fitted()
        Z = self._lifted(self._validated(X), fitting=False)
        weights = self.spectrum_.weights
        chunk = max(1, _CHUNK_BYTES // (16 * self.spectrum_.n_frequencies * Z.shape[1]))
        parts = []
        with single_threaded_blas():
            for start in range(0, Z.shape[0], chunk):
                V = self._to_spectrum(Z[start:start + chunk])
                for layer in self.layers_:
                    V = apply_layer(layer, V, weights, self.eta, self.lmbda, self.backend)
                parts.append(V)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def transform(self, X):
        """Features of ``X`` after the last layer, real, in the lifted input's layout.

        A dask array gives a dask array (computed chunk by chunk on the workers).
        """
        if is_dask_array(X):
            from .distributed import map_samples
            return map_samples(self, X, "transform")
        V = self._spectral_features(X)
        Z = self.spectrum_.inverse(V)
        flat = Z.reshape(Z.shape[0], -1)
        Z /= np.sqrt(np.einsum("ij,ij->i", flat, flat)).reshape((-1,) + (1,) * (Z.ndim - 1))
        return Z

    def fit_transform(self, X, y):
        """``fit(X, y)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def predict(self, X):
        """Labels of ``X`` by nearest subspace on the final features (spectral for invariant archs).

        A dask array gives a dask array of labels.
        """
        if is_dask_array(X):
            from .distributed import map_samples
            return map_samples(self, X, "predict")
        V = self._spectral_features(X)
        return self.classes_[self.classifier_.predict_spectral(V)]

    def score(self, X, y):
        """Nearest-subspace accuracy on ``(X, y)``."""
        return accuracy(self.predict(X), y, self.classes_)

    # -- model files ------------------------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to one ``.npz`` file (atomic; no pickle). See :mod:`redunet.model_io`."""
        from .model_io import save_model
        self._check_fitted()
        save_model(self, path)

    @classmethod
    def load(cls, path, mmap=False):
        """Read a model written by :meth:`save`; ``mmap=True`` maps the operators from disk."""
        from .model_io import load_model
        return load_model(cls, path, mmap=mmap)
