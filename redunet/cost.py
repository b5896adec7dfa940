"""Cost model: floating-point operations and operator bytes of a ReduNet layer.

Counts follow the code paths of :mod:`redunet.operators` and
:mod:`redunet.layer` (balanced classes assumed, ``m_j = m / K``; each operator
dense or low rank as :func:`redunet.operators.prefers_low_rank` decides):

* statistics: ``F n C^2`` multiply-adds for a dense operator (``C x C`` scatter),
  ``F n^2 C`` for a low-rank one (``n x n`` Gram);
* factorization: Cholesky ``k^3/3``, triangular inverse ``k^3/6`` and the
  product forming the operator (``k^3`` dense, ``C n^2`` low rank), ``k = min(n, C)``;
* application to the ``m`` training features: ``C^2`` per sample and frequency
  for a dense operator, ``C r + r^2 + r C`` for a low-rank one of rank ``r``
  (coefficients, norm from the Gram, pull).

A multiply-add is 2 real flops, or 8 for complex numbers.  Operators are
stored as ``F x C x C`` (dense) or ``F x C x r`` (low rank) arrays.
"""

import numpy as np

from ._validation import InputError
from .operators import prefers_low_rank

__all__ = ["n_frequencies", "layer_cost", "model_cost"]


def n_frequencies(arch, spatial):
    """Stored frequencies: 1 (vector), ``T//2 + 1`` (1D) or ``H * (W//2 + 1)`` (2D)."""
    if arch == "vector":
        return 1
    if arch == "fourier1d":
        (T,) = spatial
        return T // 2 + 1
    if arch == "fourier2d":
        H, W = spatial
        return H * (W // 2 + 1)
    raise InputError(f"Unknown arch {arch!r}; expected 'vector', 'fourier1d' or 'fourier2d'.")


def _operator(F, n, C, m):
    """(build multiply-adds, apply multiply-adds on m samples, stored entries) of one operator."""
    if not prefers_low_rank(n, C):
        build = F * (n * C * C + C ** 3 / 3 + C ** 3 / 6 + C ** 3)
        return build, F * m * C * C, F * C * C
    build = F * (n * n * C + n ** 3 / 3 + n ** 3 / 6 + C * n * n)
    return build, F * m * (2 * C * n + n * n), F * C * n


def layer_cost(arch, m, K, C, spatial=(), dtype="float64"):
    """Predicted work and storage of one layer built on ``m`` training samples.

    Parameters
    ----------
    arch : {"vector", "fourier1d", "fourier2d"}
    m, K, C : int
        Training samples, classes, channels (features ``d`` for the vector arch).
    spatial : tuple
        ``()``, ``(T,)`` or ``(H, W)``.
    dtype : {"float64", "float32"}

    Returns
    -------
    dict
        ``flops`` (build + apply on the training set), ``build_flops``,
        ``apply_flops``, ``operator_bytes``, ``n_frequencies``.

    Examples
    --------
    >>> from redunet.cost import layer_cost
    >>> layer_cost("vector", m=1000, K=2, C=2)["operator_bytes"]
    96
    """
    F = n_frequencies(arch, spatial)
    real_size = np.dtype(dtype).itemsize
    complex_ = arch != "vector"
    flops_per_madd = 8 if complex_ else 2
    entry_bytes = real_size * (2 if complex_ else 1)
    build, apply, entries = _operator(F, m, C, m)
    for _ in range(K):
        b, a, e = _operator(F, m // K, C, m)
        build, apply, entries = build + b, apply + a, entries + e
    return {
        "n_frequencies": F,
        "build_flops": build * flops_per_madd,
        "apply_flops": apply * flops_per_madd,
        "flops": (build + apply) * flops_per_madd,
        "operator_bytes": int(entries * entry_bytes),
    }


def model_cost(arch, m, K, C, spatial=(), n_layers=1, dtype="float64"):
    """:func:`layer_cost` times ``n_layers`` (flops and bytes of the whole model)."""
    per_layer = layer_cost(arch, m, K, C, spatial, dtype)
    return {key: value * n_layers if key != "n_frequencies" else value
            for key, value in per_layer.items()} | {"per_layer": per_layer}
