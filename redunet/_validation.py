"""Input and parameter checks shared by every public entry point.

All messages follow one wording: what was expected, what was received, and
(where useful) how to fix it.  Every check raises ``TypeError`` for a value of
the wrong kind and ``ValueError`` for a value of the right kind but wrong
content.
"""

from numbers import Integral, Real

import numpy as np

__all__ = [
    "check_array",
    "check_labels",
    "check_parameter",
    "check_dtype",
    "NotFittedError",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a method that needs a fitted estimator is called before ``fit``."""


def check_dtype(dtype, name="dtype"):
    """Return ``numpy.float32`` or ``numpy.float64`` for a ``dtype`` argument."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(
            f"The '{name}' parameter must be 'float32' or 'float64'. Got {dtype!r} instead."
        )
    return resolved.type


# Each constraint: (predicate, description used in the message).
_CONSTRAINTS = {
    "positive_float": (lambda v: isinstance(v, Real) and not isinstance(v, bool)
                       and np.isfinite(v) and v > 0, "a float > 0"),
    "nonnegative_float": (lambda v: isinstance(v, Real) and not isinstance(v, bool)
                          and np.isfinite(v) and v >= 0, "a float >= 0"),
    "positive_int": (lambda v: isinstance(v, Integral) and not isinstance(v, bool)
                     and v >= 1, "an int >= 1"),
    "optional_positive_int": (lambda v: v is None or (isinstance(v, Integral)
                              and not isinstance(v, bool) and v >= 1),
                              "None or an int >= 1"),
    "optional_nonnegative_float": (lambda v: v is None or (isinstance(v, Real)
                                   and not isinstance(v, bool) and np.isfinite(v)
                                   and v >= 0), "None or a float >= 0"),
    "bool": (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
}


def check_parameter(owner, name, value, constraint):
    """Check one hyper-parameter against a named constraint.

    Parameters
    ----------
    owner : str
        Name of the class or function the parameter belongs to (for the message).
    name : str
        Parameter name.
    value : object
        The value received.
    constraint : str or tuple
        A key of the constraint table, or a tuple of allowed values.

    Raises
    ------
    ValueError
        If the value does not satisfy the constraint.
    """
    if isinstance(constraint, tuple):
        if value not in constraint:
            allowed = ", ".join(repr(c) for c in constraint)
            raise ValueError(
                f"The '{name}' parameter of {owner} must be one of {allowed}. "
                f"Got {value!r} instead."
            )
        return value
    predicate, description = _CONSTRAINTS[constraint]
    if not predicate(value):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be {description}. Got {value!r} instead."
        )
    return value


def check_array(X, name="X", ndim=None, dtype=np.float64, allow_zero_samples=False,
                shape_hint=None):
    """Convert ``X`` to a finite real floating array and check its layout.

    Parameters
    ----------
    X : array_like
        Input samples, samples along the first axis.
    name : str
        Argument name used in error messages.
    ndim : int or None
        Required number of dimensions.
    dtype : numpy floating type
        Output dtype (float32 or float64).
    allow_zero_samples : bool
        If False, a sample whose entries are all zero is an error (it cannot be
        put on the unit sphere).
    shape_hint : str or None
        Description of the expected layout, e.g. ``"(n_samples, n_channels, length)"``.

    Returns
    -------
    ndarray
        C-contiguous array of ``dtype``.
    """
    if X is None:
        raise TypeError(f"Expected '{name}' to be an array of numbers. Got None instead.")
    arr = np.asarray(X)
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise TypeError(
            f"Expected '{name}' to hold real numbers. Got an array of dtype {arr.dtype} instead."
        )
    if arr.dtype.kind == "c":
        raise TypeError(
            f"Expected '{name}' to hold real numbers. Got complex dtype {arr.dtype} instead; "
            "pass the real signal, the library computes its spectrum itself."
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Expected '{name}' to hold real numbers. Got dtype {arr.dtype} instead.")
    layout = f" {shape_hint}" if shape_hint else ""
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"Expected '{name}' to be a {ndim}D array{layout}. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"Expected '{name}' to hold at least one sample. Got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"Expected every sample of '{name}' to have entries. Got shape {arr.shape}.")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
        raise ValueError(
            f"Expected '{name}' to contain only finite values. Found NaN or inf in "
            f"sample(s) {bad[:5].tolist()}{'...' if bad.size > 5 else ''}."
        )
    if not allow_zero_samples:
        zero = np.flatnonzero(~np.any(arr.reshape(arr.shape[0], -1) != 0, axis=1))
        if zero.size:
            raise ValueError(
                f"Expected every sample of '{name}' to be non-zero (samples are projected onto "
                f"the unit sphere). Sample(s) {zero[:5].tolist()} are all zeros."
            )
    return arr


def check_labels(y, n_samples, name="y", min_per_class=2):
    """Encode labels as ``0..K-1`` through their sorted unique values.

    Parameters
    ----------
    y : array_like of shape (n_samples,)
        Labels of any hashable, sortable type (ints, strings, ...).
    n_samples : int
        Number of samples in the matching ``X``.
    min_per_class : int
        Smallest number of samples a class may have.

    Returns
    -------
    classes : ndarray of shape (K,)
        Sorted unique labels.
    y_index : ndarray of int64, shape (n_samples,)
        Index of each sample's class in ``classes``.
    """
    if y is None:
        raise TypeError(f"Expected '{name}' to be an array of labels. Got None instead.")
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(
            f"Expected '{name}' to be a 1D array of labels. Got shape {labels.shape} instead."
        )
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"Expected '{name}' to have one label per sample of X ({n_samples}). "
            f"Got {labels.shape[0]} labels instead."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError(f"Expected '{name}' to contain no NaN or inf labels.")
    try:
        classes, y_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise TypeError(
            f"Expected the labels in '{name}' to be of one sortable type (e.g. all ints or "
            f"all strings). Sorting them failed: {exc}"
        ) from None
    if classes.shape[0] < 2:
        raise ValueError(
            f"Expected '{name}' to contain at least two classes. Got {classes.shape[0]} class "
            f"({classes.tolist()!r})."
        )
    small = counts < min_per_class
    if np.any(small):
        raise ValueError(
            f"Expected every class in '{name}' to have at least {min_per_class} samples. "
            f"Class(es) {classes[small][:5].tolist()!r} have {counts[small][:5].tolist()}."
        )
    return classes, y_index.astype(np.int64).reshape(-1)
