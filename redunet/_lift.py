"""Lifting: the fixed random circular convolution in front of the invariant nets.

The math: :ref:`math-lifting`.

A lift maps a signal with ``C_in`` channels to ``out_channels`` channels of the
same length (or image size) by circular cross-correlation with fixed kernels,
optionally followed by a ReLU.  Being circular, it commutes with cyclic shifts,
so the invariant net built on its output keeps its shift invariance.

The correlation is computed with real FFTs, one ``(out_channels, C_in)``
complex matrix product per frequency, over chunks of samples so that memory
stays bounded for large ``n_samples``.
"""

import numpy as np
import scipy.fft
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._config import CHUNK_BYTES, LIFT_MAX_CHUNK, fft_workers
from ._parallel import single_threaded_blas
from ._validation import CONSTRAINTS, InputError, check_array

__all__ = ["Lift1D", "Lift2D"]



class _BaseLift(TransformerMixin, BaseEstimator):
    """Shared machinery of :class:`Lift1D` and :class:`Lift2D`.

    Subclasses set ``_n_axes`` (number of cyclic axes), the layouts used in
    messages, and an ``__init__`` that only stores its arguments.
    """

    _n_axes = None
    _x_layout = None
    _k_layout = None
    _axis_names = None

    _parameter_constraints = {
        "out_channels": CONSTRAINTS["positive_int"],
        "kernel_size": CONSTRAINTS["positive_int"],
        "seed": CONSTRAINTS["optional_nonnegative_int"],
        "kernels": ["array-like", None],
        "relu": CONSTRAINTS["bool"],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = self._n_axes == 1    # Lift2D: 4-D, no tag
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "kernels_")

    # ----------------------------------------------------------- validation
    def _check_X(self, X):
        """Return ``X`` as a finite float32 (if given float32) or float64 array."""
        dtype = np.float32 if np.asarray(X).dtype == np.float32 else np.float64
        return check_array(X, name="X", ndim=2 + self._n_axes, dtype=dtype,
                           allow_zero_samples=True, shape_hint=self._x_layout)

    def _check_support(self, kernels, X, source):
        """Every kernel extent must fit in the signal's extent along its cyclic axis."""
        for name, k, n in zip(self._axis_names, kernels.shape[2:], X.shape[2:]):
            if k > n:
                raise InputError(
                    f"The kernel size given by {source} ({k}) exceeds the {name} of 'X' ({n}); "
                    f"got 'X' of shape {X.shape}. Use a smaller kernel or longer signals."
                )

    def _check_channels(self, X, expected, against):
        if X.shape[1] != expected:
            raise InputError(
                f"Expected 'X' to have {expected} channels (axis 1) {against}. "
                f"Got {X.shape[1]} channels (shape {X.shape}) instead."
            )

    # -------------------------------------------------------------- fitting
    def _fit(self, X):
        owner = type(self).__name__
        if self.kernels is None:
            shape = (self.out_channels, X.shape[1]) + (self.kernel_size,) * self._n_axes
            kernels = np.random.default_rng(self.seed).standard_normal(shape)
            source = f"the 'kernel_size' parameter of {owner}"
        else:
            kernels = check_array(self.kernels, name="kernels", ndim=2 + self._n_axes,
                                  allow_zero_samples=True, shape_hint=self._k_layout).copy()
            self._check_channels(X, kernels.shape[1],
                                 f"to match 'kernels' of shape {kernels.shape}")
            source = f"'kernels' of shape {kernels.shape}"
        self._check_support(kernels, X, source)
        self.kernels_ = kernels
        self.in_channels_ = kernels.shape[1]
        return self

    def fit(self, X, y=None):
        """Set the kernels (drawn for ``X``'s channel count, or the given ones).

        Parameters
        ----------
        X : array_like
            Training signals, ``(m, C_in, T)`` for :class:`Lift1D` or ``(m, C_in, H, W)`` for
            :class:`Lift2D`; only their channel count and size are used.
        y : None
            Ignored; present for pipeline compatibility.

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(self._check_X(X))

    def transform(self, X):
        """Lift ``X`` by circular cross-correlation with ``kernels_`` (then ReLU).

        Parameters
        ----------
        X : array_like
            Signals with ``in_channels_`` channels, in the layout of :meth:`fit`.  Their
            length (image size) may differ from the one seen in ``fit`` if the kernel still
            fits.

        Returns
        -------
        ndarray
            ``out_channels`` channels, same length (image size) as ``X``;
            float32 for float32 input, float64 otherwise.
        """
        check_is_fitted(self, msg="This %(name)s instance is not fitted yet. "
                                  "Call 'fit' before 'transform'.")
        X = self._check_X(X)
        self._check_channels(X, self.in_channels_, "as the fitted kernels")
        self._check_support(self.kernels_, X, f"'kernels_' of shape {self.kernels_.shape}")
        return self._lift(X)

    def fit_transform(self, X, y=None):
        """Fit, then lift ``X``; equivalent to ``fit(X).transform(X)``.

        Parameters
        ----------
        X : array_like
            Training signals, in the layout of :meth:`transform`.
        y : None
            Ignored; present for pipeline compatibility.

        Returns
        -------
        ndarray
            The lifted signals, as :meth:`transform` returns them.
        """
        self._validate_params()
        X = self._check_X(X)
        return self._fit(X)._lift(X)

    # ---------------------------------------------------------- computation
    def _lift(self, X):
        """Circular cross-correlation of validated ``X`` with ``kernels_`` via real FFTs."""
        axes = tuple(range(-self._n_axes, 0))
        size = X.shape[2:]
        workers = fft_workers()
        n_samples, n_out = X.shape[0], self.kernels_.shape[0]

        # y = K (*) x  <=>  Y_o(f) = sum_c conj(Khat_oc(f)) X_c(f): one matrix per frequency.
        khat = scipy.fft.rfftn(self.kernels_.astype(X.dtype, copy=False), s=size, axes=axes,
                               norm="backward", workers=workers)
        half = khat.shape[2:]
        n_freq = int(np.prod(half))
        # (F, C_in, O), so a chunk (F, b, C_in) @ (F, C_in, O) -> (F, b, O).
        kmat = np.ascontiguousarray(
            khat.reshape(n_out, self.in_channels_, n_freq).conj().transpose(2, 1, 0))

        out = np.empty((n_samples, n_out) + size, dtype=X.dtype)
        per_sample = (self.in_channels_ + 2 * n_out) * n_freq * khat.itemsize
        chunk = int(np.clip(CHUNK_BYTES // per_sample, 1, LIFT_MAX_CHUNK))
        with single_threaded_blas():          # many small products: see redunet._parallel
            for start in range(0, n_samples, chunk):
                block = X[start:start + chunk]
                b = block.shape[0]
                xhat = scipy.fft.rfftn(block, axes=axes, norm="backward", workers=workers)
                xhat = xhat.reshape(b, self.in_channels_, n_freq).transpose(2, 0, 1)
                yhat = np.matmul(xhat, kmat).transpose(1, 2, 0).reshape((b, n_out) + half)
                out[start:start + b] = scipy.fft.irfftn(yhat, s=size, axes=axes,
                                                        norm="backward", workers=workers)
        if self.relu:
            np.maximum(out, 0, out=out)
        return out


class Lift1D(_BaseLift):
    """Fixed random circular convolution of multichannel 1D signals, then ReLU.

    Parameters
    ----------
    out_channels : int, default=20
        Number of output channels (ignored when ``kernels`` is given).
    kernel_size : int, default=5
        Kernel length ``k``; must not exceed the signal length (ignored when
        ``kernels`` is given).
    seed : int or None, default=0
        Seed of ``numpy.random.default_rng`` drawing the standard normal kernels.
    kernels : array_like of shape (out_channels, in_channels, k), default=None
        Explicit kernels, used as given; they fix the output and input channel
        counts and the kernel length.
    relu : bool, default=True
        Apply ``max(y, 0)`` to the correlation (read at ``transform`` time).

    Attributes
    ----------
    kernels_ : ndarray of shape (out_channels, C_in, k)
        Kernels in use (float64).
    in_channels_ : int
        Channel count of the input signals.

    Notes
    -----
    For ``X`` of shape ``(m, C_in, T)`` the output has shape ``(m, out_channels, T)``::

        y[o, t] = sum_{c, s} K[o, c, s] * x[c, (t + s) mod T]

    (circular cross-correlation, stride 1).  With ``Khat`` the DFT of the kernel
    zero-padded to length ``T``, substituting ``u = t + s`` gives
    ``Yhat_o(f) = sum_c conj(Khat_oc(f)) * Xhat_c(f)`` for real kernels, computed
    on the ``T // 2 + 1`` frequencies of the real FFT.  A cyclic shift of ``x``
    shifts ``y`` by the same amount (also after the ReLU, which acts entrywise).
    See :ref:`math-lifting`.

    References
    ----------
    The lifting stage of the rotation-invariant nets of [ReduNet]_.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet import Lift1D
    >>> from redunet.datasets import cyclic_shift
    >>> X = np.random.default_rng(0).standard_normal((4, 3, 16))
    >>> lift = Lift1D(out_channels=8, kernel_size=5).fit(X)
    >>> lift.kernels_.shape
    (8, 3, 5)
    >>> Y = lift.transform(X)
    >>> Y.shape
    (4, 8, 16)

    The lift commutes with cyclic shifts:

    >>> bool(np.allclose(lift.transform(cyclic_shift(X, 3)), cyclic_shift(Y, 3)))
    True
    """

    _n_axes = 1
    _x_layout = "(n_samples, n_channels, length)"
    _k_layout = "(out_channels, in_channels, kernel_size)"
    _axis_names = ("length",)

    def __init__(self, out_channels=20, kernel_size=5, seed=0, kernels=None, relu=True):
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.seed = seed
        self.kernels = kernels
        self.relu = relu


class Lift2D(_BaseLift):
    """Fixed random circular convolution of multichannel images, then ReLU.

    Parameters
    ----------
    out_channels : int, default=75
        Number of output channels (ignored when ``kernels`` is given).
    kernel_size : int, default=9
        Side ``k`` of the square ``k x k`` kernels; must not exceed the image
        height or width (ignored when ``kernels`` is given).
    seed : int or None, default=0
        Seed of ``numpy.random.default_rng`` drawing the standard normal kernels.
    kernels : array_like of shape (out_channels, in_channels, kh, kw), default=None
        Explicit kernels, used as given (they may be rectangular); they fix the
        output and input channel counts and the kernel size.
    relu : bool, default=True
        Apply ``max(y, 0)`` to the correlation (read at ``transform`` time).

    Attributes
    ----------
    kernels_ : ndarray of shape (out_channels, C_in, kh, kw)
        Kernels in use (float64).
    in_channels_ : int
        Channel count of the input images.

    Notes
    -----
    For ``X`` of shape ``(m, C_in, H, W)`` the output has shape ``(m, out_channels, H, W)``::

        y[o, h, w] = sum_{c, a, b} K[o, c, a, b] * x[c, (h + a) mod H, (w + b) mod W]

    computed as ``Yhat_o(f) = sum_c conj(Khat_oc(f)) * Xhat_c(f)`` on the
    ``H x (W // 2 + 1)`` frequencies of the 2D real FFT, the kernel zero-padded
    to ``H x W``.  Cyclic shifts along either axis commute with the lift.
    See :ref:`math-lifting`.

    References
    ----------
    Translation-invariant nets behind a 2D random lift: [ReduNet]_.

    Examples
    --------
    >>> import numpy as np
    >>> from redunet import Lift2D
    >>> from redunet.datasets import translate2d
    >>> X = np.random.default_rng(0).standard_normal((2, 1, 12, 10))
    >>> lift = Lift2D(out_channels=6, kernel_size=3)
    >>> Y = lift.fit_transform(X)
    >>> Y.shape
    (2, 6, 12, 10)
    >>> bool(np.allclose(lift.transform(translate2d(X, 2, -3)), translate2d(Y, 2, -3)))
    True
    """

    _n_axes = 2
    _x_layout = "(n_samples, n_channels, height, width)"
    _k_layout = "(out_channels, in_channels, kernel_height, kernel_width)"
    _axis_names = ("height", "width")

    def __init__(self, out_channels=75, kernel_size=9, seed=0, kernels=None, relu=True):
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.seed = seed
        self.kernels = kernels
        self.relu = relu
