"""Cost model: floating-point operations and operator bytes of a ReduNet layer.

Counts follow the code paths of :mod:`redunet._operators` and
:mod:`redunet._layer` (balanced classes assumed, ``m_j = m / K``; each operator
dense or low rank as :func:`redunet._operators.prefers_low_rank` decides):

* statistics: ``F n C^2`` multiply-adds for a dense operator (``C x C`` scatter),
  ``F n^2 C`` for a low-rank one (``n x n`` Gram);
* factorization: Cholesky ``k^3/3``, triangular inverse ``k^3/6`` and the
  product forming the operator (``k^3`` dense, ``C n^2`` low rank), ``k = min(n, C)``;
* application to the ``m`` training features: ``C^2`` per sample and frequency
  for a dense operator, ``C r + r^2 + r C`` for a low-rank one of rank ``r``
  (coefficients, norm from the Gram, pull).

A multiply-add is 2 real flops, or 8 for complex numbers.  Operators are
stored as ``F x C x C`` (dense) or ``F x C x r`` (low rank) arrays.

:func:`stacked_layer_cost` counts the compiled form of a layer
(:func:`redunet._stacked.stacked_operators`): the scatters of every class in one
pass, then per frequency one product of the samples with ``[E, C_j (dense),
W_j (low rank)]`` stacked (or the packed form's products, :ref:`math-update-forms`),
and the bytes such a layer must move at least.
"""

import numpy as np

from ._validation import InputError
from ._operators import prefers_low_rank
from ._stacked import update_form

__all__ = ["n_frequencies", "layer_cost", "model_cost", "stacked_layer_cost"]


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
    >>> from redunet._cost import layer_cost
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


def stacked_layer_cost(arch, m, K, C, spatial=(), dtype="float64", n_samples=None):
    """Work and minimum memory traffic of one layer in its stacked form.

    Parameters
    ----------
    arch, m, K, C, spatial, dtype
        As in :func:`layer_cost` (balanced classes, ``m_j = m / K``).
    n_samples : int or None
        Samples the layer is applied to (default: the ``m`` training samples);
        with ``n_samples`` given, only the application is counted (``transform``).

    Returns
    -------
    dict
        ``form`` (:func:`redunet._stacked.update_form`), ``stats_flops`` (class
        scatters, or Gram matrices of low-rank classes), ``factor_flops``
        (Cholesky factors and operators), ``apply_flops`` (stacked product
        ``F n C N`` with ``N = C (1 + dense classes) + sum of ranks``, low-rank
        norms ``r^2`` and pull ``C r`` per sample, frequency and class; in the
        packed form ``(2 K + 7) C^2`` real multiply-adds per sample and frequency,
        :ref:`math-update-forms`), ``flops`` (their sum) and ``bytes``: the
        spectrum read once for the statistics, once more and written once by the
        update, plus the operators.

    Examples
    --------
    >>> from redunet._cost import stacked_layer_cost
    >>> cost = stacked_layer_cost("vector", m=100, K=2, C=4)
    >>> cost["apply_flops"] == 2 * 100 * 4 * 4 * 3     # [E, C_1, C_2] on 100 samples
    True
    """
    F = n_frequencies(arch, spatial)
    complex_ = arch != "vector"
    flops_per_madd = 8 if complex_ else 2
    entry_bytes = np.dtype(dtype).itemsize * (2 if complex_ else 1)
    n = m // K
    low_rank = prefers_low_rank(n, C)
    width = C * (1 + (0 if low_rank else K)) + (K * n if low_rank else 0)
    stats = F * m * C * C if not low_rank else F * (m * C * C + K * n * n * C)
    factor = 0
    for size in [m] + [n] * K:
        k = min(size, C)
        product = C * k * k if prefers_low_rank(size, C) else k ** 3
        factor += F * (k ** 3 / 3 + k ** 3 / 6 + product)
    samples = m if n_samples is None else n_samples
    apply = F * samples * (C * width + (K * (n * n + C * n) if low_rank else 0))
    operator_bytes = F * C * width * entry_bytes
    apply_flops = apply * flops_per_madd
    form = update_form(C, K, not low_rank, np.result_type(dtype, np.complex64 if complex_ else dtype))
    if form == "packed":
        apply_flops = 2 * F * samples * C * C * (2 * K + 7)      # real multiply-adds
        operator_bytes = F * C * C * (2 * K + 1) * np.dtype(dtype).itemsize
    spectrum = F * samples * C * entry_bytes
    if n_samples is None:
        flops = (stats + factor) * flops_per_madd + apply_flops
        traffic = 3 * spectrum + operator_bytes
    else:
        stats = factor = 0
        flops = apply_flops
        traffic = 2 * spectrum + operator_bytes
    return {
        "form": form,
        "n_frequencies": F,
        "stacked_width": width,
        "stats_flops": stats * flops_per_madd,
        "factor_flops": factor * flops_per_madd,
        "apply_flops": apply_flops,
        "flops": flops,
        "bytes": int(traffic),
    }
