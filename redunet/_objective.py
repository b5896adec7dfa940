"""Coding rates and the rate reduction (MCR^2 objective); docs: :ref:`math-objective`.

For features ``Z`` of shape ``(m, d)``:

* ``R(Z) = 1/2 logdet(I + alpha Z^T Z)`` with ``alpha = d / (m eps)``;
* ``Rc(Z, Pi) = sum_j tr(Pi_j) / (2 m) logdet(I + alpha_j Z^T Pi_j Z)`` with
  ``alpha_j = d / (tr(Pi_j) eps)``, where ``Pi_j`` is the diagonal matrix of the
  memberships of class ``j`` (one-hot for hard labels, so ``tr(Pi_j) = m_j``);
* ``delta_R = R - Rc``.

The spectral forms (shift-invariant nets, :ref:`math-fft`) average the per-frequency
log-determinants over the full spectrum: ``R = 1/(2 N_f) sum_f w_f logdet(...)``
(weights of the half spectrum, :ref:`math-half-spectrum`).
Every log-determinant comes from a Cholesky factor (never ``log(det(...))``),
of the smaller of the ``d x d`` and ``n x n`` Gram matrices.
"""

import numpy as np

from ._validation import InputError, check_array, check_parameter
from ._operators import factorize

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
        raise InputError("Pass exactly one of 'y' (hard labels) or 'membership' (soft, (m, K)).")
    if y is not None:
        from ._validation import check_labels
        classes, y_index = check_labels(y, Z.shape[0], min_per_class=1)
        membership = _hard_membership(y_index, classes.shape[0])
    else:
        membership = check_array(membership, name="membership", ndim=2, allow_zero_samples=True,
                                 shape_hint="(n_samples, n_classes)")
        if membership.shape[0] != Z.shape[0]:
            raise InputError(
                f"Expected 'membership' to have one row per sample of Z ({Z.shape[0]}). "
                f"Got {membership.shape[0]} rows instead."
            )
        if np.any(membership < 0):
            raise InputError("Expected 'membership' to be non-negative.")
    return Z, membership


def coding_rate(Z, eps=0.1):
    r"""Coding rate ``R(Z) = 1/2 logdet(I + d/(m eps) Z^T Z)`` of features ``Z`` (m, d).

    Parameters
    ----------
    Z : array_like of shape (m, d)
        Features, one sample per row (finite; usually of unit norm).
    eps : float, default=0.1
        Squared quantization error (the paper's epsilon squared), > 0.

    Returns
    -------
    float
        The rate ``R`` in nats.

    See Also
    --------
    rate_reduction : The objective ``R - Rc``, of which this is the first term.

    Notes
    -----
    .. math::

        R(Z) = \frac{1}{2} \log\det\left(I + \alpha Z^\top Z\right),
        \qquad \alpha = \frac{d}{m\,\epsilon^2},

    computed from a Cholesky factor ``L`` as ``2 sum log diag(L)``, of the smaller of the
    ``d x d`` and ``m x m`` Gram matrices (Sylvester's identity), never as ``log(det(...))``.
    See :ref:`math-objective`.

    References
    ----------
    The coding rate of the rate reduction objective of the ReduNet paper [ReduNet]_
    (Chan et al., JMLR 23(114), 2022); entries in :ref:`math-references`.

    Examples
    --------
    Two orthogonal unit vectors in the plane: ``alpha = 2 / (2 * 0.1) = 10`` and
    ``Z^T Z = I``, so ``R = 1/2 logdet(11 I) = log(11)``.

    >>> import numpy as np
    >>> from redunet import coding_rate
    >>> bool(np.isclose(coding_rate(np.eye(2), eps=0.1), np.log(11.0)))
    True
    """
    check_parameter("coding_rate", "eps", eps, "positive_float")
    Z = check_array(Z, name="Z", ndim=2, shape_hint="(n_samples, n_features)")
    _, _, logdet = factorize(Z[None], Z.shape[1] / (Z.shape[0] * eps))
    return 0.5 * float(logdet[0])


def compression_rate(Z, y=None, membership=None, eps=0.1):
    r"""Compression rate ``Rc`` of features ``Z`` (m, d) given hard labels or soft memberships.

    Parameters
    ----------
    Z : array_like of shape (m, d)
        Features, one sample per row.
    y : array_like of shape (m,), optional
        Class labels (any sortable values). Pass exactly one of ``y`` and ``membership``.
    membership : array_like of shape (m, K), optional
        Non-negative soft memberships: ``membership[i, j]`` weighs sample ``i`` in class ``j``.
    eps : float, default=0.1
        Squared quantization error, > 0.

    Returns
    -------
    float
        The rate ``Rc`` in nats: the cost of coding every class on its own, weighted by the
        class shares.

    See Also
    --------
    coding_rate : The rate of all features together.
    rate_reduction : ``coding_rate - compression_rate``.

    Notes
    -----
    With hard labels, class ``j`` has ``m_j`` samples ``Z_j`` and share ``gamma_j = m_j / m``:

    .. math::

        R_c(Z) = \sum_j \gamma_j \frac{1}{2}
        \log\det\left(I + \alpha_j Z_j^\top Z_j\right),
        \qquad \alpha_j = \frac{d}{m_j\,\epsilon^2}.

    Soft memberships replace ``m_j`` by ``tr(Pi_j) = sum_i membership[i, j]`` and
    ``Z_j^T Z_j`` by ``Z^T diag(membership[:, j]) Z``; one-hot rows give the labelled form.
    See :ref:`math-objective`.

    References
    ----------
    [ReduNet]_ (Chan et al., JMLR 2022): the compression term of the objective, with
    hard and soft memberships; see also :ref:`math-references`.

    Examples
    --------
    Each class is one point repeated twice: ``alpha_j = 2 / (2 * 0.1) = 10`` and
    ``Z_j^T Z_j`` has the eigenvalue 2 once, so each class codes at ``1/2 log(21)``.

    >>> import numpy as np
    >>> from redunet import compression_rate
    >>> Z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> bool(np.isclose(compression_rate(Z, y=[0, 0, 1, 1]), 0.5 * np.log(21.0)))
    True
    >>> bool(np.isclose(compression_rate(Z, membership=np.eye(2)[[0, 0, 1, 1]]),
    ...                 compression_rate(Z, y=[0, 0, 1, 1])))
    True
    """
    check_parameter("compression_rate", "eps", eps, "positive_float")
    Z, membership = _prepare(Z, y, membership)
    return spectral_rates(Z[None], np.ones(1), eps, membership)[1]


def rate_reduction(Z, y=None, membership=None, eps=0.1):
    r"""Rate reduction ``delta_R = R - Rc`` of features ``Z`` (m, d) (the MCR^2 objective).

    Parameters
    ----------
    Z : array_like of shape (m, d)
        Features, one sample per row.
    y, membership : array_like, optional
        Hard labels ``(m,)`` or non-negative soft memberships ``(m, K)``; pass exactly
        one, as for :func:`compression_rate`.
    eps : float, default=0.1
        Squared quantization error, > 0.

    Returns
    -------
    float
        ``coding_rate(Z, eps) - compression_rate(Z, y, membership, eps)``, in nats.

    See Also
    --------
    coding_rate, compression_rate

    Notes
    -----
    .. math::

        \Delta R(Z) = R(Z) - R_c(Z),

    large when all features together span a large volume while every class is compressed.
    Every layer of a ReduNet is one projected gradient-ascent step on it, and
    ``ReduNet.history_["delta_r"]`` records it layer by layer. See :ref:`math-objective`.

    References
    ----------
    The MCR^2 objective, and every ReduNet layer as a gradient step on it: [ReduNet]_.

    Examples
    --------
    Two classes on orthogonal lines: ``R = log(11)`` for the four points (``alpha = 5``,
    ``Z^T Z = 2 I``) and ``Rc = 1/2 log(21)``.

    >>> import numpy as np
    >>> from redunet import rate_reduction
    >>> Z = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> bool(np.isclose(rate_reduction(Z, y=[0, 0, 1, 1]), np.log(11.0) - 0.5 * np.log(21.0)))
    True
    """
    check_parameter("rate_reduction", "eps", eps, "positive_float")
    Z, membership = _prepare(Z, y, membership)
    rate, compression = spectral_rates(Z[None], np.ones(1), eps, membership)
    return rate - compression
