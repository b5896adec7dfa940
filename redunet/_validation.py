"""Input and parameter checks shared by every public entry point.

All messages follow one wording: what was expected, what was received, and
(where useful) how to fix it.  Every check raises ``TypeError`` for a value of
the wrong kind and ``ValueError`` for a value of the right kind but wrong
content; inputs of the wrong kind raise :class:`InputTypeError`, which is both,
because scikit-learn's conventions expect a ``ValueError`` there.  Every error the
library raises for bad input (arguments, files, data) is an :class:`InputError`, so that
a program (the ``redunet`` command line) tells the caller's mistakes from our own bugs.

Hyper-parameters are checked by scikit-learn's parameter validation
(``_parameter_constraints`` of the estimators, :func:`check_parameter` for
functions) with the constraints below, which describe themselves in our words
("The 'eta' parameter of ReduNet must be a float > 0. Got -1 instead.") and
raise scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a
``TypeError``).  They subclass the constraint classes of scikit-learn's private
``sklearn.utils._param_validation`` module, as ``_parameter_constraints``
requires; a scikit-learn release that changes that module is caught by
``tests/test_validation.py`` and ``tests/test_sklearn.py``.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import (HasMethods, Interval, InvalidParameterError,
                                             Options, StrOptions, validate_parameter_constraints)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

__all__ = [
    "check_array",
    "check_labels",
    "check_parameter",
    "check_dtype",
    "choices",
    "instance_of",
    "NotFittedError",
    "InputError",
    "InputTypeError",
    "InvalidParameterError",
    "MissingDependencyError",
    "CONSTRAINTS",
    "FLOAT_DTYPE",
]


class InputError(ValueError):
    """Bad input given to redunet: an argument, a file or data that fails our checks.

    The caller's mistake, not the library's; a ``ValueError``.  (Hyper-parameters are
    checked by scikit-learn, whose ``InvalidParameterError`` plays the same role.)
    """


class InputTypeError(InputError, TypeError):
    """An input of the wrong kind (None, complex, sparse, ...).

    A ``TypeError`` by our rule, and a ``ValueError`` (an :class:`InputError`) as
    scikit-learn's input checks raise for the same inputs (its
    ``InvalidParameterError`` is both for the same reason).
    """


class MissingDependencyError(ImportError):
    """An optional dependency of the feature asked for is not installed (the message
    names the extra that installs it)."""


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


class _Interval(Interval):
    """A range of ints or finite floats, bools excluded, described as "a float > 0"."""

    def is_satisfied_by(self, val):
        if _is_bool(val) or (isinstance(val, Real) and not isinstance(val, Integral)
                             and not np.isfinite(val)):
            return False
        return super().is_satisfied_by(val)

    def __str__(self):
        kind = "an int" if self.type is Integral else "a float"
        if self.left is not None and self.right is not None:
            left = "[" if self.closed in ("left", "both") else "("
            right = "]" if self.closed in ("right", "both") else ")"
            return f"{kind} in {left}{self.left}, {self.right}{right}"
        if self.left is not None:
            return f"{kind} {'>=' if self.closed in ('left', 'both') else '>'} {self.left}"
        return f"{kind} {'<=' if self.closed in ('right', 'both') else '<'} {self.right}"


class _Choices(Options):
    """One of a few values, listed in the order given."""

    def __init__(self, values):
        super().__init__(object, set(values))
        self.values = tuple(values)

    def is_satisfied_by(self, val):
        if _is_bool(val) and not any(_is_bool(v) for v in self.values):
            return False                      # True is not the choice 1
        try:
            return any(val == v for v in self.values)
        except (TypeError, ValueError):       # e.g. an array compared with a value
            return False

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class _StrChoices(StrOptions):
    """One of a few strings, listed in the order given."""

    def __init__(self, values):
        super().__init__(set(values))
        self.values = tuple(values)

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class _Bool(Options):
    """``True`` or ``False`` (Python or NumPy)."""

    def __init__(self):
        super().__init__(object, {True, False})

    def is_satisfied_by(self, val):
        return _is_bool(val)

    def __str__(self):
        return "a bool"


class _FloatDtype(StrOptions):
    """A name or NumPy type of float32 or float64."""

    def __init__(self):
        super().__init__({"float32", "float64"})

    def is_satisfied_by(self, val):
        try:
            return np.dtype(val) in (np.dtype(np.float32), np.dtype(np.float64))
        except (TypeError, ValueError):
            return False

    def __str__(self):
        return "'float32' or 'float64'"


class _InstanceOf(HasMethods):
    """An instance of one class, described by the class name."""

    def __init__(self, cls):
        super().__init__(["fit"])
        self.cls = cls

    def is_satisfied_by(self, val):
        return isinstance(val, self.cls)

    def __str__(self):
        return f"a {self.cls.__name__}"


def choices(*values):
    """Constraint: one of ``values`` (strings or numbers)."""
    if all(isinstance(v, str) for v in values):
        return _StrChoices(values)
    return _Choices(values)


def instance_of(cls):
    """Constraint: an instance of ``cls``, named in messages as "a <cls>"."""
    return _InstanceOf(cls)


FLOAT_DTYPE = _FloatDtype()

# Named constraint lists, used in ``_parameter_constraints`` and by :func:`check_parameter`.
CONSTRAINTS = {
    "positive_float": [_Interval(Real, 0, None, closed="neither")],
    "nonnegative_float": [_Interval(Real, 0, None, closed="left")],
    "positive_int": [_Interval(Integral, 1, None, closed="left")],
    "nonnegative_int": [_Interval(Integral, 0, None, closed="left")],
    "optional_positive_int": [None, _Interval(Integral, 1, None, closed="left")],
    "optional_nonnegative_int": [None, _Interval(Integral, 0, None, closed="left")],
    "optional_nonnegative_float": [None, _Interval(Real, 0, None, closed="left")],
    "bool": [_Bool()],
    "open_unit_float": [_Interval(Real, 0, 1, closed="neither")],
    "optional_unit_float": [None, _Interval(Real, 0, 1, closed="right")],
    "optional_seed": [None, _Interval(Integral, 0, 2**32 - 1, closed="both")],
}


def check_dtype(dtype, name="dtype"):
    """Return ``numpy.float32`` or ``numpy.float64`` for a ``dtype`` argument."""
    if not FLOAT_DTYPE.is_satisfied_by(dtype):
        raise InputError(
            f"The '{name}' parameter must be {FLOAT_DTYPE}. Got {dtype!r} instead."
        )
    return np.dtype(dtype).type


def check_parameter(owner, name, value, constraint):
    """Check one argument of a function against a named constraint.

    Parameters
    ----------
    owner : str
        Name of the class or function the parameter belongs to (for the message).
    name : str
        Parameter name.
    value : object
        The value received.
    constraint : str or tuple
        A key of :data:`CONSTRAINTS`, or a tuple of allowed values.

    Returns
    -------
    object
        ``value``, unchanged.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A ``ValueError`` (and ``TypeError``) if the value does not satisfy the constraint.
    """
    constraints = [choices(*constraint)] if isinstance(constraint, tuple) else CONSTRAINTS[constraint]
    validate_parameter_constraints({name: constraints}, {name: value}, caller_name=owner)
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
        raise InputTypeError(f"Expected '{name}' to be an array of numbers. Got None instead.")
    if scipy.sparse.issparse(X):
        raise InputTypeError(
            f"Expected '{name}' to be a dense array. Got a sparse {type(X).__name__} instead; "
            f"sparse input is not supported, convert it with {name}.toarray()."
        )
    arr = np.asarray(X)
    if arr.dtype == object:
        try:
            arr = arr.astype(dtype)
        except (TypeError, ValueError) as exc:
            raise InputTypeError(
                f"Expected '{name}' to hold real numbers. Converting its object array "
                f"failed: {exc}"
            ) from None
    if arr.dtype.kind in "USVMm":
        raise InputTypeError(
            f"Expected '{name}' to hold real numbers. Got an array of dtype {arr.dtype} instead."
        )
    if arr.dtype.kind == "c":
        raise InputTypeError(
            f"Expected '{name}' to hold real numbers. Complex data not supported: got dtype "
            f"{arr.dtype}; pass the real signal, the library computes its spectrum itself."
        )
    if arr.dtype.kind not in "biuf":
        raise InputTypeError(
            f"Expected '{name}' to hold real numbers. Got dtype {arr.dtype} instead.")
    layout = f" {shape_hint}" if shape_hint else ""
    if ndim is not None and arr.ndim != ndim:
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = (f" Reshape your data with {name}.reshape(-1, 1) if it has a single feature "
                    f"or {name}.reshape(1, -1) if it is a single sample.")
        raise InputError(
            f"Expected '{name}' to be a {ndim}D array{layout}. "
            f"Got an array of shape {arr.shape} instead.{hint}"
        )
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise InputError(f"Expected '{name}' to hold at least one sample. Got shape {arr.shape}.")
    if arr.size == 0:
        raise InputError(f"Expected every sample of '{name}' to have entries. Found an array "
                         f"with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
                         f"required.")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
        raise InputError(
            f"Expected '{name}' to contain only finite values. Found NaN or inf in "
            f"sample(s) {bad[:5].tolist()}{'...' if bad.size > 5 else ''}."
        )
    if not allow_zero_samples:
        zero = np.flatnonzero(~np.any(arr.reshape(arr.shape[0], -1) != 0, axis=1))
        if zero.size:
            raise InputError(
                f"Expected every sample of '{name}' to be non-zero (samples are projected onto "
                f"the unit sphere). Sample(s) {zero[:5].tolist()} are all zeros."
            )
    return arr


def check_labels(y, n_samples, name="y", min_per_class=2):
    """Encode labels as ``0..K-1`` through their sorted unique values.

    Parameters
    ----------
    y : array_like of shape (n_samples,)
        Discrete labels of one sortable type (ints, strings, integral floats, ...);
        continuous targets are refused as by scikit-learn's classifiers.
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
        raise InputTypeError(f"Expected '{name}' to be an array of labels. Got None instead: "
                             "this estimator requires y to be passed, but the target y is None.")
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = column_or_1d(labels, warn=True)     # scikit-learn's DataConversionWarning
    if labels.ndim != 1:
        raise InputError(
            f"Expected '{name}' to be a 1D array of labels. Got shape {labels.shape} instead."
        )
    if labels.shape[0] != n_samples:
        raise InputError(
            f"Expected '{name}' to have one label per sample of X ({n_samples}). "
            f"Got {labels.shape[0]} labels instead."
        )
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise InputError(f"Expected '{name}' to contain no NaN or inf labels.")
    try:
        classes, y_index, counts = np.unique(labels, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise InputTypeError(
            f"Expected the labels in '{name}' to be of one sortable type (e.g. all ints or "
            f"all strings). Sorting them failed: {exc}"
        ) from None
    if not labels.dtype.hasobject:      # labels of any sortable Python type stay allowed
        check_classification_targets(labels)
    if classes.shape[0] < 2:
        raise InputError(
            f"Expected '{name}' to contain at least two classes. Got {classes.shape[0]} class "
            f"({classes.tolist()!r})."
        )
    small = counts < min_per_class
    if np.any(small):
        raise InputError(
            f"Expected every class in '{name}' to have at least {min_per_class} samples. "
            f"Class(es) {classes[small][:5].tolist()!r} have {counts[small][:5].tolist()}."
        )
    return classes, y_index.astype(np.int64).reshape(-1)
