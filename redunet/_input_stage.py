"""The fitted input stage of a ReduNet: raw samples -> spectral batch ``(F, m, C)``.

:ref:`math-one-engine`: ``raw X -> lift (optional) -> unit sphere -> to spectrum``.  The
estimator fits one :class:`InputStage` on its training data and hands it to
the modules that need the training or new samples as features (the chunked and
Dask executors, transform); they never call the estimator's own methods.
"""

import numpy as np

from ._config import CHUNK_BYTES
from ._validation import InputError, check_array, check_dtype
from ._spectrum import make_spectrum

__all__ = ["InputStage", "LAYOUTS", "NDIM"]

LAYOUTS = {
    "vector": "(n_samples, n_features)",
    "fourier1d": "(n_samples, n_channels, length)",
    "fourier2d": "(n_samples, n_channels, height, width)",
}
NDIM = {"vector": 2, "fourier1d": 3, "fourier2d": 4}


class InputStage:
    """Checks, lift, unit-sphere projection and spectrum of one fitted ReduNet.

    Parameters
    ----------
    arch : {"vector", "fourier1d", "fourier2d"}
    dtype : {"float64", "float32"}
    input_shape : tuple
        Shape of one raw sample (as in fit).
    signal_shape : tuple
        Shape of one sample after lifting.
    lift : fitted Lift1D, Lift2D or None
    spectrum : spectrum transform or None
        Built from the lifted sample shape when None.

    Attributes
    ----------
    spectrum : IdentitySpectrum, RFFT1D or RFFT2D
    feature_dtype : numpy dtype
        Of the spectral batch (real for the vector arch, complex otherwise).
    """

    def __init__(self, arch, dtype, input_shape, signal_shape, lift=None, spectrum=None):
        self.arch = arch
        self.dtype = check_dtype(dtype)
        self.input_shape = tuple(input_shape)
        self.lift = lift
        self.signal_shape = tuple(signal_shape)
        self.spectrum = spectrum if spectrum is not None else make_spectrum(arch, self.signal_shape)
        real = np.dtype(self.dtype)
        self.feature_dtype = real if arch == "vector" else np.result_type(real, np.complex64)

    @classmethod
    def fit(cls, arch, dtype, lift, X):
        """Fit on (the first rows of) the training samples ``X``.

        ``lift`` is an unfitted template (or None); a fresh copy of it is fitted.
        Returns ``(stage, X validated, X lifted)``.
        """
        X = validate(arch, dtype, lift is not None, X)
        if lift is None:
            return cls(arch, dtype, X.shape[1:], X.shape[1:]), X, X
        fitted = type(lift)(**lift.get_params(deep=False))
        Z = fitted.fit_transform(X)
        return cls(arch, dtype, X.shape[1:], Z.shape[1:], fitted), X, Z

    @property
    def shape(self):
        """``(F, C)``: frequencies and channels of one sample's spectral features."""
        return self.spectrum.n_frequencies, self.signal_shape[0]

    def validated(self, X):
        """``X`` as a finite real array of the arch's layout and the fitted sample shape."""
        X = validate(self.arch, self.dtype, self.lift is not None, X)
        if X.shape[1:] != self.input_shape:
            raise InputError(
                f"Expected 'X' samples of shape {self.input_shape} as in fit "
                f"(layout {LAYOUTS[self.arch]}). Got {X.shape[1:]} instead."
            )
        return X

    def lifted(self, X):
        """Lifted samples of validated ``X`` (the samples themselves without a lift)."""
        return X if self.lift is None else self.lift.transform(X)

    def to_spectrum(self, Z):
        """Unit-sphere projection and spectral batch ``(F, m, C)`` of lifted samples ``Z``."""
        per_sample = (-1,) + (1,) * (Z.ndim - 1)
        peak = np.abs(Z.reshape(Z.shape[0], -1)).max(axis=1) if Z.shape[0] else np.ones(0)
        if np.any(peak == 0):
            zero = np.flatnonzero(peak == 0)
            raise InputError(
                f"Expected every sample of 'X' to be non-zero after lifting (samples are "
                f"projected onto the unit sphere). Sample(s) {zero[:5].tolist()} are all zeros."
            )
        Z = Z / peak.reshape(per_sample)         # first to O(1), so squares cannot overflow
        flat = Z.reshape(Z.shape[0], -1)
        Z /= np.sqrt(np.einsum("ij,ij->i", flat, flat)).reshape(per_sample)
        return self.spectrum.forward(Z)

    def features(self, X):
        """Spectral input features ``(F, m, C)`` of raw samples ``X``.

        The spectra are taken in chunks of about ``CHUNK_BYTES`` of features, so
        that the temporaries of the projection and the transform stay bounded.
        """
        Z = self.lifted(self.validated(X))
        F, C = self.shape
        dtype = np.dtype(self.feature_dtype)
        chunk = max(1, CHUNK_BYTES // (dtype.itemsize * F * C))
        if Z.shape[0] <= chunk:
            return self.to_spectrum(Z)
        V = np.empty((F, Z.shape[0], C), dtype=dtype)
        for start in range(0, Z.shape[0], chunk):
            V[:, start:start + chunk] = self.to_spectrum(Z[start:start + chunk])
        return V

    def __call__(self, X):
        return self.features(X)


def validate(arch, dtype, lifted, X):
    """``X`` as a finite real array of ``arch``'s layout (see :func:`check_array`)."""
    return check_array(X, name="X", ndim=NDIM[arch], dtype=check_dtype(dtype),
                       allow_zero_samples=lifted, shape_hint=LAYOUTS[arch])
