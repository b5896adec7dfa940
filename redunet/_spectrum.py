"""Transforms between the sample layout and the ``(F, m, C)`` spectral batch (:ref:`math-one-engine`).

Every architecture runs the same engine on a batch ``V`` of shape
``(n_frequencies, n_samples, n_channels)``: the vector net is the case of one
frequency and no transform; the shift-invariant nets use the unitary real FFT,
which block-diagonalizes block-circulant operators (:ref:`math-fft`, :ref:`math-half-spectrum`).

Only the non-redundant half of a real signal's spectrum is kept.  The mirrored
frequencies are complex conjugates of stored ones, so every sum over the full
spectrum (squared norms, log-determinants) is a weighted sum over the stored
frequencies with ``weights`` 1 (self-conjugate: DC, Nyquist) or 2 (stands for
itself and its mirror).
"""

import numpy as np
import scipy.fft

from ._config import fft_workers

__all__ = ["IdentitySpectrum", "RFFT1D", "RFFT2D", "make_spectrum"]


class IdentitySpectrum:
    """Vector features ``(m, d)`` as a single real frequency: ``V = X[None]``."""

    arch = "vector"
    ndim = 2

    def __init__(self, signal_shape):
        (self.n_channels,) = signal_shape
        self.signal_shape = tuple(signal_shape)
        self.weights = np.ones(1)
        self.n_frequencies = 1

    def forward(self, Z):
        return np.ascontiguousarray(Z[None])

    def inverse(self, V):
        return np.ascontiguousarray(V[0])

    def frequency_label(self, f):
        return "the single frequency of the vector arch"


class RFFT1D:
    """Multichannel 1D signals ``(m, C, T)`` and their half spectrum ``(T//2 + 1, m, C)``."""

    arch = "fourier1d"
    ndim = 3

    def __init__(self, signal_shape):
        self.n_channels, self.length = signal_shape
        self.signal_shape = tuple(signal_shape)
        n_half = self.length // 2 + 1
        weights = np.full(n_half, 2.0)
        weights[0] = 1.0
        if self.length % 2 == 0:
            weights[-1] = 1.0
        self.weights = weights
        self.n_frequencies = n_half

    def forward(self, Z):
        spec = scipy.fft.rfft(Z, axis=-1, norm="ortho", workers=fft_workers())
        return np.ascontiguousarray(spec.transpose(2, 0, 1))

    def inverse(self, V):
        spec = V.transpose(1, 2, 0)
        return scipy.fft.irfft(spec, n=self.length, axis=-1, norm="ortho", workers=fft_workers())

    def frequency_label(self, f):
        return f"frequency {f} of {self.length}"


class RFFT2D:
    """Multichannel images ``(m, C, H, W)`` and their half spectrum ``(H * (W//2 + 1), m, C)``."""

    arch = "fourier2d"
    ndim = 4

    def __init__(self, signal_shape):
        self.n_channels, self.height, self.width = signal_shape
        self.signal_shape = tuple(signal_shape)
        self.half_width = self.width // 2 + 1
        column_weights = np.full(self.half_width, 2.0)
        column_weights[0] = 1.0
        if self.width % 2 == 0:
            column_weights[-1] = 1.0
        self.weights = np.tile(column_weights, self.height)
        self.n_frequencies = self.height * self.half_width

    def forward(self, Z):
        spec = scipy.fft.rfft2(Z, axes=(-2, -1), norm="ortho", workers=fft_workers())
        m, c = spec.shape[:2]
        return np.ascontiguousarray(spec.reshape(m, c, self.n_frequencies).transpose(2, 0, 1))

    def inverse(self, V):
        m = V.shape[1]
        spec = V.transpose(1, 2, 0).reshape(m, self.n_channels, self.height, self.half_width)
        return scipy.fft.irfft2(spec, s=(self.height, self.width), axes=(-2, -1), norm="ortho",
                                workers=fft_workers())

    def frequency_label(self, f):
        return f"frequency {divmod(int(f), self.half_width)} of {(self.height, self.width)}"


_SPECTRA = {cls.arch: cls for cls in (IdentitySpectrum, RFFT1D, RFFT2D)}


def make_spectrum(arch, signal_shape):
    """Spectrum transform of architecture ``arch`` for samples of shape ``signal_shape``."""
    return _SPECTRA[arch](signal_shape)


def sq_magnitude(V):
    """``|V|^2`` entry by entry, real (without the square root of ``abs``)."""
    power = V.real ** 2
    if np.iscomplexobj(V):
        power += V.imag ** 2
    return power


def weighted_sq_norms(V, weights):
    """Squared norm of every sample over all channels and the full spectrum.

    Parameters
    ----------
    V : ndarray of shape (F, m, C)
    weights : ndarray of shape (F,)

    Returns
    -------
    ndarray of shape (m,), real.
    """
    power = sq_magnitude(V)
    return np.einsum("f,fmc->m", weights.astype(power.dtype), power)


def normalize(V, weights):
    """Divide every sample of ``V`` by its full-spectrum norm (in place); returns ``V``."""
    norms = np.sqrt(weighted_sq_norms(V, weights))
    V /= norms[None, :, None]
    return V
