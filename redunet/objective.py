"""Coding rates and the rate reduction (MCR^2 objective), SPEC sections 2 and 3.

For features ``Z`` of shape ``(m, d)``:

* ``R(Z) = 1/2 logdet(I + alpha Z^T Z)`` with ``alpha = d / (m eps)``;
* ``Rc(Z, Pi) = sum_j tr(Pi_j) / (2 m) logdet(I + alpha_j Z^T Pi_j Z)`` with
  ``alpha_j = d / (tr(Pi_j) eps)``, where ``Pi_j`` is the diagonal matrix of the
  memberships of class ``j`` (one-hot for hard labels, so ``tr(Pi_j) = m_j``);
* ``delta_R = R - Rc``.

The spectral forms (shift-invariant nets) average the per-frequency
log-determinants over the full spectrum: ``R = 1/(2 N_f) sum_f w_f logdet(...)``.
Every log-determinant comes from a Cholesky factor (never ``log(det(...))``),
of the smaller of the ``d x d`` and ``n x n`` Gram matrices.
"""

import numpy as np

from ._validation import check_array, check_parameter
from .operators import factorize

__all__ = ["coding_rate", "compression_rate", "rate_reduction", "spectral_rates"]


def _hard_membership(y_index, n_classes):
    membership = np.zeros((y_index.shape[0], n_classes))
    membership[np.arange(y_index.shape[0]), y_index] = 1.0
    return membership


def half_mean_logdet(weights, logdet):
    """``1/(2 N_f) sum_f w_f logdet_f``: one rate term from per-frequency log-determinants."""
    return float(weights @ logdet) / (2.0 * weights.sum())


def spectral_rates(V, weights, eps, membership):
    """``R`` and ``Rc`` of a spectral batch.

    Parameters
    ----------
    V : ndarray of shape (F, m, C)
        Features, real or complex.
    weights : ndarray of shape (F,)
        Frequency weights (their sum is the full number of frequencies).
    eps : float
        Squared quantization error.
    membership : ndarray of shape (m, K)
        Non-negative class memberships (rows of one-hot vectors for hard labels).

    Returns
    -------
    rate, compression : float
    """
    _, m, C = V.shape
    _, _, logdet = factorize(V, C / (m * eps))
    rate = half_mean_logdet(weights, logdet)
    compression = 0.0
    for pi_j in membership.T:
        rows = np.flatnonzero(pi_j > 0)
        if rows.size == 0:
            continue
        n_j = float(pi_j.sum())
        B = V[:, rows] * np.sqrt(pi_j[rows]).astype(V.real.dtype)[None, :, None]
        _, _, logdet_j = factorize(B, C / (n_j * eps))
        compression += (n_j / m) * half_mean_logdet(weights, logdet_j)
    return rate, compression


def _prepare(Z, y, membership):
    Z = check_array(Z, name="Z", ndim=2, shape_hint="(n_samples, n_features)")
    if (y is None) == (membership is None):
        raise ValueError("Pass exactly one of 'y' (hard labels) or 'membership' (soft, (m, K)).")
    if y is not None:
        from ._validation import check_labels
        classes, y_index = check_labels(y, Z.shape[0], min_per_class=1)
        membership = _hard_membership(y_index, classes.shape[0])
    else:
        membership = check_array(membership, name="membership", ndim=2, allow_zero_samples=True,
                                 shape_hint="(n_samples, n_classes)")
        if membership.shape[0] != Z.shape[0]:
            raise ValueError(
                f"Expected 'membership' to have one row per sample of Z ({Z.shape[0]}). "
                f"Got {membership.shape[0]} rows instead."
            )
        if np.any(membership < 0):
            raise ValueError("Expected 'membership' to be non-negative.")
    return Z, membership


def coding_rate(Z, eps=0.1):
    """Coding rate ``R(Z) = 1/2 logdet(I + d/(m eps) Z^T Z)`` of features ``Z`` (m, d).

    Examples
    --------
    >>> import numpy as np
    >>> from redunet import coding_rate
    >>> Z = np.eye(2)          # two orthogonal unit vectors, alpha = 2 / (2 * 0.1) = 10
    >>> round(coding_rate(Z, eps=0.1), 6) == round(np.log(11.0), 6)
    True
    """
    check_parameter("coding_rate", "eps", eps, "positive_float")
    Z = check_array(Z, name="Z", ndim=2, shape_hint="(n_samples, n_features)")
    _, _, logdet = factorize(Z[None], Z.shape[1] / (Z.shape[0] * eps))
    return 0.5 * float(logdet[0])


def compression_rate(Z, y=None, membership=None, eps=0.1):
    """Compression rate ``Rc`` of features ``Z`` (m, d) given hard labels ``y`` or soft ``membership`` (m, K)."""
    check_parameter("compression_rate", "eps", eps, "positive_float")
    Z, membership = _prepare(Z, y, membership)
    return spectral_rates(Z[None], np.ones(1), eps, membership)[1]


def rate_reduction(Z, y=None, membership=None, eps=0.1):
    """Rate reduction ``delta_R = R - Rc`` of features ``Z`` (m, d) (the MCR^2 objective)."""
    check_parameter("rate_reduction", "eps", eps, "positive_float")
    Z, membership = _prepare(Z, y, membership)
    rate, compression = spectral_rates(Z[None], np.ones(1), eps, membership)
    return rate - compression
