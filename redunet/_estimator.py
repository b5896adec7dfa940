"""The ``ReduNet`` estimator: forward construction of every layer from the training data.

Data flow (:ref:`math-one-engine`), the same for every architecture::

    raw X -> lift (optional) -> normalize -> to spectrum -> layers -> back from spectrum

Only the spectrum transform and the lift know the architecture.
"""

from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._config import BACKENDS, CHUNK_BYTES, resolve_backend
from ._parallel import single_threaded_blas
from ._validation import (CONSTRAINTS, InputError, FLOAT_DTYPE, check_labels,
                          check_parameter, choices, instance_of)
from ._checkpoint import Checkpoint, fingerprint
from ._classifier import NearestSubspace, accuracy
from ._construction import Checkpointing, ProgressBar, ToleranceStop, construct
from ._early_stopping import EarlyStopping, hold_out
from ._lift import Lift1D, Lift2D
from ._stack import LayerStack
from ._distributed import is_dask_array
from ._input_stage import LAYOUTS as _LAYOUTS, NDIM as _NDIM, InputStage
from ._layer import apply_layer, forget_stacks, kept_stack
from ._refine import batch_labels, first_batch_labels, refine
from ._statistics import Statistics, Tally
from ._streaming import LocalChunks
from ._warm_start import check_combination, check_same_key, continue_from

__all__ = ["ReduNet"]

def _ndim(X):
    """Number of dimensions of array-like ``X`` (None if it is not array-like)."""
    if hasattr(X, "shape"):
        return len(X.shape)
    try:
        return np.asarray(X).ndim
    except (TypeError, ValueError):
        return None




def _step(layer, V, weights, eta, lmbda, backend, classes=None, out=None):
    """The layer update of a fit (module level, so that Dask can ship it to workers)."""
    return apply_layer(layer, V, weights, eta, lmbda, backend, classes=classes, out=out)


class ReduNet(ClassifierMixin, TransformerMixin, BaseEstimator):
    r"""ReduNet built layer by layer in closed form from the MCR^2 objective.

    Every layer is one projected gradient-ascent step on the rate reduction
    ``delta_R = R - Rc`` of the training features; its operators are computed in
    closed form from the training features at that depth, without
    back-propagation.  ``arch="fourier1d"`` / ``"fourier2d"`` build the network on
    all cyclic shifts of every sample, which makes it invariant to them.

    A scikit-learn classifier (nearest subspace on the final features) and
    transformer (the final features): it works with ``clone``, ``Pipeline``,
    ``cross_val_score`` and ``GridSearchCV``.  Parameters are checked at the
    start of :meth:`fit`.

    Parameters
    ----------
    arch : {"vector", "fourier1d", "fourier2d"}, default="vector"
        ``"vector"``: features ``(m, d)``; ``"fourier1d"``: multichannel signals
        ``(m, C, T)``, invariant to cyclic shifts along ``T``; ``"fourier2d"``:
        images ``(m, C, H, W)``, invariant to cyclic translations.
    n_layers : int, default=40
        Number of layers to build (fewer if ``tol`` or ``early_stopping`` stops
        the construction).
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
        Dimension of every class subspace of the nearest-subspace classifier
        behind :meth:`predict`; for the invariant archs, dimensions of the class's
        whole circulant family, pooled across frequencies.  ``None``: ``d // K``
        (at least 1) for ``arch="vector"``, ``C`` (the channels after the lift)
        for the invariant archs.  See :class:`NearestSubspace`.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the features and operators (complex64 spectra for float32).
    backend : {"numba", "numpy"} or None, default=None
        Compiled kernels or their NumPy twins; ``None`` reads ``REDUNET_BACKEND``.
    verbose : bool, default=False
        Show a progress bar over layers with the current ``delta_R``.
    warm_start : bool, default=False
        If True and the net is fitted, :meth:`fit` keeps its first ``n_layers``
        layers and builds the next ones from the same training data: the result
        equals a fresh fit with ``n_layers`` layers bit for bit (same fit
        arguments; a smaller ``n_layers`` truncates the net).  The kept layers are
        replayed on the training data, whose features the net does not store.
        Refused (ValueError) if the training data or a parameter that shapes the
        layers changed (all but ``n_layers``, ``tol``, ``patience``,
        ``n_components``, ``verbose``, ``backend``, ``n_iter_no_change``), with
        ``early_stopping``, ``checkpoint`` or a dask array, and on a net read by
        :meth:`load` or refined by :meth:`partial_fit`.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training set, record
        its nearest-subspace accuracy after every layer (classifier fitted on the
        current training features) in ``history_["validation_score"]``, stop once
        it did not improve for ``n_iter_no_change`` layers, and keep the depth
        with the best score (the shallowest among ties, possibly 0 layers).  The
        net is built from the remaining samples only.  In-memory fits only
        (not with ``chunk_size`` or a dask array).
    validation_fraction : float, default=0.1
        Fraction of the training set held out with ``early_stopping``, in (0, 1).
    n_iter_no_change : int, default=5
        Layers without improvement of the held-out accuracy before stopping.
    random_state : int or None, default=None
        Seed of the held-out split of ``early_stopping`` (None: a different split
        on every fit).

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
        Sorted unique training labels.
    layers_ : LayerStack
        The operators of every layer (expansion, one compression per class, the
        class shares ``gamma_j``): a sequence of layers whose operators are stored
        stacked along a leading layer axis, in order.
    n_layers_ : int
        Number of layers built.
    history_ : dict of ndarray of shape (n_layers_ + 1,)
        ``"rate"``, ``"compression"``, ``"delta_r"``: ``R``, ``Rc`` and
        ``delta_R`` of the training features with the true labels; entry 0 is the
        input of the first layer, entry ``l`` the output of layer ``l``.  With
        ``early_stopping`` also ``"validation_score"``: the held-out accuracy at
        the same depths (not written to model files).
    layer_seconds_ : ndarray of shape (n,)
        Wall-clock seconds of every layer built by the last call of :meth:`fit`
        (statistics, operators, update, checkpoint writes); layers restored from
        a checkpoint or kept by a warm start are not counted, and a loaded model
        has none (``n = 0``).
    final_statistics_ : Statistics
        Per-class counts and scatter matrices of the final training features
        (what :meth:`partial_fit` adds a batch to before refitting the
        classifier).  Not written to model files.
    classifier_ : NearestSubspace
        Fitted on the final training features.
    input_shape_ : tuple
        Shape of one raw sample, as seen in :meth:`fit`.
    signal_shape_ : tuple
        Shape of one sample after lifting.
    lift_ : Lift1D or Lift2D
        The fitted copy of ``lift`` (only when ``lift`` is given).
    n_features_in_ : int
        Number of features of the training samples (``arch="vector"`` only; the
        invariant archs record the sample shape in ``input_shape_``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a training DataFrame with string column names
        (``arch="vector"`` only).

    See Also
    --------
    NearestSubspace : The classifier behind :meth:`predict`.
    Lift1D, Lift2D : Input stages of the invariant archs.
    rate_reduction : The objective every layer climbs.

    Notes
    -----
    For training features ``Z`` (rows of unit norm; ``m`` samples, ``m_j`` in class
    ``j``, ``gamma_j = m_j / m``) a layer builds the expansion and compression
    operators

    .. math::

        E = \alpha \left(I + \alpha Z^\top Z\right)^{-1}, \qquad
        C_j = \alpha_j \left(I + \alpha_j Z_j^\top Z_j\right)^{-1}, \qquad
        \alpha = \frac{d}{m \epsilon^2}, \quad \alpha_j = \frac{d}{m_j \epsilon^2},

    and moves every feature ``z``, training or new, to

    .. math::

        z \leftarrow \frac{z + \eta\, g(z)}{\lVert z + \eta\, g(z) \rVert}, \qquad
        g(z) = E z - \sum_j \gamma_j\, \pi_j(z)\, C_j z, \qquad
        \pi_j(z) = \operatorname{softmax}_j\left(-\lambda \lVert C_j z \rVert\right)

    (:ref:`math-vector-layer`), one step of projected gradient ascent on
    ``delta_R`` (:ref:`math-objective`).  The operators are applied from Cholesky
    factors, or from low-rank Woodbury factors for classes with few samples
    (:ref:`math-factorizations`, :ref:`math-low-rank`).  The invariant archs run
    the same layer on the unitary real FFT of every sample, one ``C x C``
    operator per frequency of the half spectrum (:ref:`math-fft`,
    :ref:`math-half-spectrum`); this equals the vector layer on the circulant
    family of every sample (:ref:`math-dense-circulant`), and every layer
    commutes with cyclic shifts (:ref:`math-equivariance`).  All archs, and all
    places the training features can live (in memory, in chunks, on a Dask
    cluster), run one construction loop (:ref:`math-one-engine`).

    ``delta_R`` of the training features rises with every layer even when the
    features of new samples stop improving; ``early_stopping`` or a
    cross-validated choice of ``eps`` and ``n_layers`` choose the depth on
    held-out data (:ref:`guide-model-selection`).

    References
    ----------
    The method, its layers and the invariant architectures: the ReduNet paper
    [ReduNet]_ (Chan, Yu, You, Qi, Wright, Ma, JMLR 23(114):1-103, 2022); see
    :ref:`math-references`.

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

    More layers on the fitted net: a warm start equals a fresh fit of that depth.

    >>> deeper = net.set_params(n_layers=220, warm_start=True).fit(X, y)
    >>> fresh = ReduNet(n_layers=220).fit(X, y)
    >>> bool((deeper.transform(X) == fresh.transform(X)).all())
    True

    A shift-invariant net on 1D signals: a cyclic shift does not change a prediction.

    >>> import numpy as np
    >>> from redunet import Lift1D
    >>> from redunet.datasets import cyclic_shift
    >>> signals = np.random.default_rng(0).standard_normal((20, 2, 16))
    >>> labels = np.repeat([0, 1], 10)
    >>> inv = ReduNet(arch="fourier1d", n_layers=5, lift=Lift1D(6, 3)).fit(signals, labels)
    >>> bool((inv.predict(cyclic_shift(signals, 5)) == inv.predict(signals)).all())
    True
    """

    _parameter_constraints = {
        "arch": [choices(*_NDIM)],
        "n_layers": CONSTRAINTS["positive_int"],
        "eta": CONSTRAINTS["positive_float"],
        "eps": CONSTRAINTS["positive_float"],
        "lmbda": CONSTRAINTS["nonnegative_float"],
        "lift": [instance_of(Lift1D), instance_of(Lift2D), None],
        "tol": CONSTRAINTS["optional_nonnegative_float"],
        "patience": CONSTRAINTS["positive_int"],
        "n_components": CONSTRAINTS["optional_positive_int"],
        "dtype": [FLOAT_DTYPE],
        "backend": [choices(*BACKENDS), None],
        "verbose": CONSTRAINTS["bool"],
        "warm_start": CONSTRAINTS["bool"],
        "early_stopping": CONSTRAINTS["bool"],
        "validation_fraction": CONSTRAINTS["open_unit_float"],
        "n_iter_no_change": CONSTRAINTS["positive_int"],
        "random_state": CONSTRAINTS["optional_seed"],
    }

    def __init__(self, arch="vector", n_layers=40, eta=0.5, eps=0.1, lmbda=500.0, lift=None,
                 tol=None, patience=5, n_components=None, dtype="float64", backend=None,
                 verbose=False, warm_start=False, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, random_state=None):
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
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state

    # -- parameters -------------------------------------------------------------------------------
    def _check_params(self):
        """Every parameter against ``_parameter_constraints``, then the pairs that must agree."""
        self._validate_params()
        resolve_backend(self.backend)                    # REDUNET_BACKEND when backend=None
        if self.lift is not None:
            if self.arch == "vector":
                raise InputError("The 'lift' parameter of ReduNet must be None for arch='vector'; "
                                 "lifting is for the shift-invariant archs.")
            expected = Lift1D if self.arch == "fourier1d" else Lift2D
            if not isinstance(self.lift, expected):
                raise InputError(f"The 'lift' parameter of ReduNet must be a {expected.__name__} "
                                 f"or None for arch={self.arch!r}. "
                                 f"Got a {type(self.lift).__name__} instead.")

    def _record_features(self, X):
        """``n_features_in_`` (and ``feature_names_in_``) of the training ``X`` (vector arch).

        Reads only the shape and column names of ``X``, so memory-mapped and dask
        arrays are not loaded; the values are checked by the fit itself.
        """
        for name in ("n_features_in_", "feature_names_in_"):
            self.__dict__.pop(name, None)
        if self.arch == "vector" and _ndim(X) == 2:
            validate_data(self, X, reset=True, skip_check_array=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = self.arch == "vector"
        tags.input_tags.three_d_array = self.arch == "fourier1d"    # fourier2d: 4-D, no tag
        tags.target_tags.required = True
        tags.classifier_tags.multi_label = False
        # Nearest subspaces through the origin of unit-norm features: classes that differ by
        # location only (scikit-learn's blobs) are not separated.
        tags.classifier_tags.poor_score = True
        dtype = self.dtype if FLOAT_DTYPE.is_satisfied_by(self.dtype) else "float64"
        tags.transformer_tags.preserves_dtype = [np.dtype(dtype).name]   # features in `dtype`
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "layers_")

    # -- input stage ------------------------------------------------------------------------------
    @property
    def input_stage_(self):
        """The fitted :class:`~redunet._input_stage.InputStage` (lift, unit sphere, spectrum)."""
        self._check_fitted()
        return InputStage(self.arch, self.dtype, self.input_shape_, self.signal_shape_,
                          getattr(self, "lift_", None) if self.lift is not None else None,
                          self.spectrum_)

    def _begin(self, first):
        """Fit the input stage on (the first) training samples ``first``; returns the stage,
        ``first`` validated and ``first`` lifted."""
        stage, first, Z = InputStage.fit(self.arch, self.dtype, self.lift, first)
        self.input_shape_ = stage.input_shape
        self.signal_shape_ = stage.signal_shape
        self.spectrum_ = stage.spectrum
        if stage.lift is not None:
            self.lift_ = stage.lift
        return stage, first, Z

    # -- construction -----------------------------------------------------------------------------
    def fit(self, X, y, checkpoint=None, checkpoint_every=50, resume=False, chunk_size=None,
            work_dir=None):
        """Build the network from training samples ``X`` with labels ``y``.

        Parameters
        ----------
        X : array_like or dask.array.Array
            Training samples in the arch's layout (see the class docstring).  A
            dask array chunked along samples is fitted on its cluster
            (:ref:`guide-scaling`).
        y : array_like of shape (n_samples,)
            Labels of any sortable type.
        checkpoint : str or path, optional
            Folder to which the layers are appended every ``checkpoint_every``
            layers, each write atomic (:ref:`guide-models`).  Written layers are
            then memory-mapped from disk, so memory and open files do not grow
            with depth.
        checkpoint_every : int, default=50
            Layers between checkpoints (each appends the new layers to the folder).
        resume : bool, default=False
            Continue from the last complete checkpoint in ``checkpoint`` (same data
            and parameters required); the result equals an uninterrupted build.
        chunk_size : int, optional
            Process the training set ``chunk_size`` samples at a time (streaming
            fit, :ref:`guide-scaling`): ``X`` may be a memory-mapped array larger
            than memory.  Operators are then always dense (built from scatter
            matrices); the result equals the in-memory fit up to rounding.
        work_dir : str or path, optional
            With ``chunk_size``: folder of a temporary file holding the training
            features between layers (default: in memory).

        Returns
        -------
        self : ReduNet
            The fitted estimator.

        Raises
        ------
        ValueError
            For invalid parameters or data (the message names the argument), a
            ``checkpoint`` folder built from other data or parameters, or a
            ``warm_start`` on other data or parameters.

        Notes
        -----
        Every sample is put on the unit sphere (after the lift, if any), then the
        layers are built one after the other, each from the training features
        moved by the previous ones (:ref:`math-vector-layer`,
        :ref:`math-one-engine`).  With ``warm_start`` the kept layers are first
        replayed on ``X``; with ``early_stopping`` a held-out part of ``X`` goes
        through every new layer beside the training features
        (:ref:`guide-model-selection`).

        Examples
        --------
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=0)
        >>> net = ReduNet(n_layers=20).fit(X, y)
        >>> net.n_layers_, net.history_["delta_r"].shape, net.layer_seconds_.shape
        (20, (21,), (20,))

        With early stopping the depth is the best one on the held-out samples,
        whose accuracy is recorded at every depth built:

        >>> net = ReduNet(n_layers=20, early_stopping=True, random_state=0).fit(X, y)
        >>> net.history_["validation_score"].shape == (net.n_layers_ + 1,)
        True
        """
        self._check_params()
        dask = is_dask_array(X)
        warm = check_combination(self, checkpoint, chunk_size, dask)     # redunet._warm_start
        if not warm:
            self._record_features(X)
        check_parameter("ReduNet.fit", "checkpoint_every", checkpoint_every, "positive_int")
        check_parameter("ReduNet.fit", "resume", resume, "bool")
        check_parameter("ReduNet.fit", "chunk_size", chunk_size, "optional_positive_int")
        if resume and checkpoint is None:
            raise InputError("The 'resume' argument of ReduNet.fit needs a 'checkpoint' folder.")
        if dask:
            if chunk_size is not None:
                raise InputError("The 'chunk_size' argument of ReduNet.fit does not apply to a "
                                 "dask array (its chunks are the chunks).")
            if is_dask_array(y):
                y = y.compute()
        if dask or chunk_size is not None:
            if not hasattr(X, "shape") or len(X.shape) != _NDIM[self.arch]:
                raise InputError(f"Expected 'X' to be a {_NDIM[self.arch]}D array "
                                 f"{_LAYOUTS[self.arch]} (e.g. a numpy.memmap or a dask array) "
                                 f"for a chunked fit. Got shape {getattr(X, 'shape', None)}.")
            first = X[:X.chunks[0][0] if dask else chunk_size]
            classes, y_index = check_labels(y, X.shape[0])
            if warm:
                stage, Z = self.input_stage_, None
            else:
                stage, _, Z = self._begin(first.compute() if dask else first)
        else:
            if warm:
                stage = self.input_stage_
                X = stage.validated(X)
                Z = stage.lifted(X)
            else:
                stage, X, Z = self._begin(X)                 # X validated from here on
            classes, y_index = check_labels(y, X.shape[0])
        # One fingerprint of the data and layer-shaping parameters serves the checkpoint and a
        # later warm start (a dask fit is hashed only for a checkpoint: it cannot be warm-started).
        key = None
        if checkpoint is not None or not dask:
            key = fingerprint(X, y_index, classes, self.get_params(deep=True))
        same = None if dask else key
        if warm:
            check_same_key(getattr(self, "_warm_key", None), same)
        held = None
        if self.early_stopping:                                 # redunet._early_stopping
            X, Z, y_index, held = hold_out(stage, X, Z, y_index, self.validation_fraction,
                                           self.random_state)
        self.classes_ = classes
        if hasattr(self, "layers_"):
            forget_stacks(self.layers_)      # a warm start changes them in place
        layers, history = LayerStack(), {"rate": [], "compression": [], "delta_r": []}
        store = restored = None
        if checkpoint is not None:
            store = Checkpoint(checkpoint, checkpoint_every, key)
            restored = store.restore() if resume else None
        if restored is not None:
            layers, history = restored.layers, {k: list(v) for k, v in restored.history.items()}
            if stage.lift is not None:
                stage.lift.kernels_ = restored.lift_kernels     # seed=None draws anew
        executor = self._executor(stage, X, Z, y_index, chunk_size, work_dir, dask,
                                  restored is None)
        del X, Z
        try:
            if restored is not None:
                executor.load(restored.features)
                restored.features = None     # a map of a state slot the next checkpoint rewrites
            seconds = []
            with single_threaded_blas():
                if warm:
                    layers = self.layers_
                    history = continue_from(layers, self.history_, self.n_layers, executor)
                self.layers_ = layers
                hooks = [ToleranceStop(self.tol, self.patience)]
                if store is not None:
                    hooks.append(Checkpointing(store, None if stage.lift is None
                                               else stage.lift.kernels_))
                if held is not None:
                    hooks.append(EarlyStopping(executor, y_index, held, self._layer_step(),
                                               self.spectrum_.weights, classes,
                                               self.n_components, self.n_iter_no_change))
                if self.verbose:
                    hooks.append(ProgressBar(self.n_layers, len(layers)))
                self.classifier_, stats = construct(
                    executor, self.layers_, history, self.n_layers, self.spectrum_.weights,
                    self.eps, resolve_backend(self.backend), NearestSubspace(self.n_components),
                    y_index, classes, describe=self._describe, hooks=hooks,
                    seconds=seconds)
        finally:
            executor.close()
        self.history_ = {name: np.array(values) for name, values in history.items()}
        self.n_layers_ = len(self.layers_)
        self.layer_seconds_ = np.array(seconds)
        self.final_statistics_ = Statistics(stats.scatters, stats.counts)   # for partial_fit
        self._warm_key = same                                   # for a later warm start
        return self

    def _executor(self, stage, X, Z, y_index, chunk_size, work_dir, dask, fill):
        """The executor holding the training features (filled from ``X`` if ``fill``)."""
        backend = resolve_backend(self.backend)
        F, C = stage.shape
        tally = Tally(y_index, self.classes_.shape[0], F, C, stage.feature_dtype.kind == "c",
                      backend)
        step = self._layer_step()
        if dask:
            from ._distributed import DaskChunks, input_features
            return DaskChunks(input_features(stage, X), tally, step)
        if chunk_size is not None:
            if not fill:
                return LocalChunks(tally, step, (X.shape[0], F, C), stage.feature_dtype,
                                   chunk_size, work_dir)
            return LocalChunks.from_input(stage, X, tally, step, chunk_size, work_dir)
        executor = LocalChunks(tally, step, (X.shape[0], F, C), stage.feature_dtype)
        if fill:
            executor.write(executor.slices()[0], stage.to_spectrum(Z))
        return executor

    def _layer_step(self):
        """``step(layer, V) -> V_new``: the layer update with this fit's parameters."""
        return partial(_step, weights=self.spectrum_.weights, eta=self.eta, lmbda=self.lmbda,
                       backend=resolve_backend(self.backend))

    # -- incremental refinement (redunet._refine) ---------------------------------------------------
    def partial_fit(self, X, y, classes=None, tau=None):
        r"""Refine every layer's operators with a new labelled batch.

        The batch goes through the layers in order; each layer is refined from
        the batch's features at its input, then applied to them.  The number of
        layers does not change.

        Parameters
        ----------
        X : array_like
            New samples in the arch's layout, of the shape seen in :meth:`fit`.
        y : array_like of shape (n_samples,)
            Their labels, among ``classes_`` (one class is enough).
        classes : array_like or None, default=None
            All labels, scikit-learn's convention: on an unfitted net
            ``partial_fit`` is ``fit(X, y)`` and ``classes``, if given, must be
            exactly the labels present in ``y`` (a class needs samples to get its
            compression operator); afterwards it must equal ``classes_``.
        tau : float in (0, 1] or None, default=None
            ``None``: accumulate (see Notes).  A float: blend every operator
            towards the one built from the batch alone, by the fraction ``tau``.

        Returns
        -------
        self : ReduNet
            The refined estimator.

        Raises
        ------
        ValueError
            For labels outside ``classes_``, ``classes`` other than ``classes_``,
            samples of another shape, a ``tau`` outside (0, 1], or a net without
            ``final_statistics_`` (read by :meth:`load`).

        Notes
        -----
        A layer depends on its training features only through the class counts
        ``m_j`` and the per-class scatter matrices ``S_{j,f}``
        (:ref:`math-vector-layer`, :ref:`math-fft`).  With ``tau=None`` the
        scatters the layer was built from are recovered from its operators
        (dense: :math:`S = (\alpha P^{-1} - I) / \alpha` from a Cholesky factor of
        :math:`P / \alpha`; low-rank, :ref:`math-low-rank`: kept as
        pseudo-samples), the batch's counts and scatters are added, and the
        operators are rebuilt:

        .. math::

            C_{j,f} \leftarrow \alpha_j' \left(I + \alpha_j' (S_{j,f} + S_{j,f}^{\text{batch}})\right)^{-1},
            \qquad \alpha_j' = \frac{C}{(m_j + m_j^{\text{batch}})\,\epsilon^2},

        and the same for ``E`` with all samples.  For the first layer this equals
        the fit on the union of all data seen, to rounding; deeper layers
        approximate it, since the earlier data's statistics stay those of its
        features under the earlier layers as they were.  ``history_`` then holds
        the objective of the accumulated statistics (``"validation_score"`` is
        dropped).

        With a float ``tau`` the operators ``E_new``, ``C_{j,new}`` of the batch
        alone are blended in, :math:`E \leftarrow E + \tau (E_{\text{new}} - E)`
        and the same for every ``C_j`` of a class in the batch (the update of the
        PyTorch reference implementation); the class shares ``gamma_j`` and
        ``history_`` are kept.  Do not mix the two rules on one net: after a blend
        the operators no longer come from counts and scatters.

        In both cases the classifier is refitted from ``final_statistics_`` plus
        the batch's final features.  A net read by :meth:`load` cannot be
        refined (the file does not hold ``final_statistics_``), and a refined net
        cannot be warm-started.

        References
        ----------
        The layer operators refined here are those of the ReduNet paper
        [ReduNet]_; the blending rule is the paper's reference code's.

        Examples
        --------
        The first layer after ``partial_fit`` equals the first layer of a fit on
        both batches:

        >>> import numpy as np
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X1, y1 = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=0)
        >>> X2, y2 = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=1)
        >>> refined = ReduNet(n_layers=1).fit(X1, y1).partial_fit(X2, y2)
        >>> union = ReduNet(n_layers=1).fit(np.vstack([X1, X2]), np.concatenate([y1, y2]))
        >>> bool(np.allclose(refined.transform(X1), union.transform(X1)))
        True
        """
        if not self.__sklearn_is_fitted__():
            return self.fit(X, first_batch_labels(y, classes))
        self._check_params()
        check_parameter("ReduNet.partial_fit", "tau", tau, "optional_unit_float")
        if not hasattr(self, "final_statistics_"):
            raise ValueError("This ReduNet has no 'final_statistics_' (e.g. it was read from a "
                             "model file); partial_fit needs a net built by fit.")
        self._check_fitted(X)
        stage = self.input_stage_
        X = stage.validated(X)
        y_index = batch_labels(y, X.shape[0], self.classes_, classes)
        weights = self.spectrum_.weights
        forget_stacks(self.layers_)
        with single_threaded_blas():
            layers, history, stats = refine(
                self.layers_, self.final_statistics_, stage.to_spectrum(stage.lifted(X)),
                y_index, tau, weights, self.eps, self.eta, self.lmbda,
                resolve_backend(self.backend), self._describe)
            self.classifier_ = NearestSubspace(self.n_components).fit_scatter(
                stats.scatters, stats.counts, weights, self.classes_)
        self.layers_, self.final_statistics_ = layers, stats
        self._warm_key = None              # the layers no longer come from one training set
        if history is not None:
            self.history_ = {name: np.array(values) for name, values in history.items()}
        return self

    def _describe(self, layer_index, class_index, frequency):
        who = ("the expansion operator" if class_index is None
               else f"class {self.classes_[class_index].item()!r}")
        return f"layer {layer_index}, {who}, {self.spectrum_.frequency_label(frequency)}"

    # -- inference --------------------------------------------------------------------------------
    def _check_fitted(self, X=None):
        """Raise ``NotFittedError`` before ``fit``; check the features of a 2-D ``X`` against fit."""
        check_is_fitted(self, msg="This %(name)s instance is not fitted yet. Call 'fit' first.")
        if X is not None and self.arch == "vector" and _ndim(X) == 2:
            validate_data(self, X, reset=False, skip_check_array=True)

    def _spectral_features(self, X):
        """Final features of ``X`` in the spectral batch layout (see :meth:`_through_layers`)."""
        self._check_fitted(X)
        V = self.input_stage_.features(X)
        return self._through_layers(V, out=V)

    def _through_layers(self, V, out=None):
        """Spectral input features ``V`` (F, m, C) through every layer, into ``out``.

        Samples go through the net in chunks of about ``CHUNK_BYTES`` of
        features, each through every layer; every layer's stacked operators are
        prepared once per fitted net (:func:`redunet._layer.kept_stack`), not per
        call or chunk.  ``out`` may be ``V`` itself (default: a new array).
        """
        weights = self.spectrum_.weights
        F, m, C = V.shape
        out = np.empty_like(V) if out is None else out
        chunk = max(1, CHUNK_BYTES // (V.dtype.itemsize * F * C))
        with single_threaded_blas():
            for start in range(0, m, chunk):
                part = V[:, start:start + chunk]
                # a copy unless the result goes back into V: the layers overwrite their input
                part = np.ascontiguousarray(part) if out is V else np.array(part, order="C")
                spare = np.empty_like(part)             # layers alternate between two arrays
                for index, layer in enumerate(self.layers_):
                    stack = kept_stack(self.layers_, index, part.shape, part.dtype, self.backend)
                    new = apply_layer(layer, part, weights, self.eta, self.lmbda, self.backend,
                                      stack=stack, out=spare)
                    if new is spare:
                        spare = part
                    part = new
                out[:, start:start + chunk] = part
        return out

    def transform(self, X):
        """Features of ``X`` after the last layer.

        Parameters
        ----------
        X : array_like or dask.array.Array
            Samples to transform, in the layout seen in :meth:`fit`; a dask array
            must be chunked along samples only.

        Returns
        -------
        Z : ndarray or dask.array.Array
            Real features of unit norm, in the layout of the lifted input:
            ``(m, d)``, ``(m, C, T)`` or ``(m, C, H, W)``, of the estimator's
            ``dtype``.  A dask array gives a dask array, computed chunk by chunk
            on the workers.

        Notes
        -----
        New samples go through the same update as the training samples, with the
        soft membership ``pi_j(z)`` in place of the unknown labels
        (:ref:`math-membership`, :ref:`math-update`); ``transform`` of the
        training set reproduces the training features of the construction.  The
        invariant archs compute on the half spectrum and return the inverse real
        FFT (:ref:`math-fft`), equivariant to cyclic shifts
        (:ref:`math-equivariance`).

        Examples
        --------
        >>> import numpy as np
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, seed=0)
        >>> Z = ReduNet(n_layers=20).fit(X, y).transform(X)
        >>> Z.shape, bool(np.allclose(np.linalg.norm(Z, axis=1), 1.0))
        ((100, 2), True)
        """
        if is_dask_array(X):
            from ._distributed import map_samples
            return map_samples(self, X, "transform")
        V = self._spectral_features(X)
        Z = self.spectrum_.inverse(V)
        if self.arch != "vector":
            # the inverse FFT's rounding; vector features are the last layer's, bit for bit
            flat = Z.reshape(Z.shape[0], -1)
            Z /= np.sqrt(np.einsum("ij,ij->i", flat, flat)).reshape((-1,) + (1,) * (Z.ndim - 1))
        return Z

    def fit_transform(self, X, y):
        """``fit(X, y)`` then ``transform(X)``.

        Parameters
        ----------
        X : array_like
            Training samples in the arch's layout.
        y : array_like of shape (n_samples,)
            Labels of any sortable type.

        Returns
        -------
        Z : ndarray
            Features of the training samples after the last layer (see
            :meth:`transform`).

        Examples
        --------
        >>> from redunet import ReduNet, rate_reduction
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, seed=0)
        >>> net = ReduNet(n_layers=10)
        >>> Z = net.fit_transform(X, y)
        >>> bool(abs(rate_reduction(Z, y) - net.history_["delta_r"][-1]) < 1e-10)
        True
        """
        return self.fit(X, y).transform(X)

    def predict(self, X):
        """Labels of ``X`` by the nearest class subspace of the final features.

        Parameters
        ----------
        X : array_like or dask.array.Array
            Samples in the layout seen in :meth:`fit`.

        Returns
        -------
        labels : ndarray or dask.array.Array of shape (n_samples,)
            Values from ``classes_``; a dask array gives a dask array of labels.

        Notes
        -----
        The nearest-subspace rule of :ref:`math-nearest-subspace` on the final
        features (``classifier_``); for the invariant archs the class subspaces
        are those of the whole circulant families, with components pooled across
        frequencies, and the residuals are computed on the spectral features
        (:ref:`math-nearest-subspace-invariant`), so a cyclic shift of a sample
        never changes its label.  Ties are broken deterministically, towards the
        first class in ``classes_`` (see :class:`NearestSubspace`).

        Examples
        --------
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, seed=0)
        >>> net = ReduNet(n_layers=20).fit(X, y)
        >>> net.predict(X[[0, -1]]).tolist()
        [0, 1]
        """
        if is_dask_array(X):
            from ._distributed import map_samples
            return map_samples(self, X, "predict")
        V = self._spectral_features(X)
        return self.classes_[self.classifier_.predict_spectral(V)]

    def score(self, X, y):
        """Nearest-subspace accuracy on ``(X, y)``.

        Parameters
        ----------
        X : array_like
            Samples in the layout seen in :meth:`fit`.
        y : array_like of shape (n_samples,)
            True labels, among ``classes_``.

        Returns
        -------
        float
            Fraction of samples whose :meth:`predict` equals ``y``.

        Raises
        ------
        ValueError
            If ``y`` has not one label per sample, or holds labels not in
            ``classes_``.

        Examples
        --------
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=0)
        >>> X_new, y_new = gaussian_mixture_2d(n_per_class=50, noise=0.1, seed=1)
        >>> ReduNet(n_layers=20).fit(X, y).score(X_new, y_new)
        1.0
        """
        return accuracy(self.predict(X), y, self.classes_)

    # -- model files ------------------------------------------------------------------------------
    def save(self, path):
        """Write the fitted model to one file.

        Parameters
        ----------
        path : str or path-like
            Target file (any name; the command line uses ``.rdn``); its folder
            must exist.  An existing file is replaced.

        Raises
        ------
        NotFittedError
            If the estimator is not fitted.
        FileNotFoundError
            If the folder of ``path`` does not exist.

        Notes
        -----
        The file holds the parameters, shapes and layout in a JSON header and the
        arrays (operators stacked across layers, classes, ``history_``'s rates,
        lift kernels, the classifier's bases) as raw aligned data; nothing is
        pickled, so loading never executes code.  The header and every array
        carry a CRC-32 checksum, and the write is atomic (a temporary file
        renamed over the target).  ``final_statistics_``,
        ``history_["validation_score"]`` and what a warm start needs are not
        written.  See :ref:`guide-models`.

        Examples
        --------
        >>> import os, tempfile
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, seed=0)
        >>> net = ReduNet(n_layers=10).fit(X, y)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     net.save(os.path.join(folder, "model.rdn"))
        ...     loaded = ReduNet.load(os.path.join(folder, "model.rdn"))
        >>> bool((loaded.transform(X) == net.transform(X)).all())
        True
        """
        from ._model_io import save_model
        self._check_fitted()
        save_model(self, path)

    @classmethod
    def load(cls, path, mmap=False):
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            Model file.
        mmap : bool, default=False
            Map the file (once) instead of reading it into memory; every array is
            a view of that map, so a model of any depth holds one descriptor.

        Returns
        -------
        ReduNet
            The fitted estimator, equal to the one saved (bit-identical features
            and predictions).  It cannot be refined by :meth:`partial_fit` nor
            warm-started, and its ``layer_seconds_`` is empty.

        Raises
        ------
        ValueError
            If the file is damaged (a checksum or the structure does not match),
            is not a model file, or is of another format version (``.npz`` model
            files of earlier releases included); the message names the file.

        Examples
        --------
        >>> import os, tempfile
        >>> from redunet import ReduNet
        >>> from redunet.datasets import gaussian_mixture_2d
        >>> X, y = gaussian_mixture_2d(n_per_class=50, seed=0)
        >>> net = ReduNet(n_layers=10).fit(X, y)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "model.rdn")
        ...     net.save(path)
        ...     loaded = ReduNet.load(path, mmap=True)
        ...     same = bool((loaded.predict(X) == net.predict(X)).all())
        ...     del loaded
        >>> same
        True
        """
        from ._model_io import load_model
        return load_model(cls, path, mmap=mmap)
