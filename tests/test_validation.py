"""Every bad input gets a clear error naming the argument (one row per case)."""

import numpy as np
import pytest
import scipy.sparse

from redunet import Lift1D, Lift2D, NearestSubspace, ReduNet, coding_rate, rate_reduction
from redunet._validation import NotFittedError

rng = np.random.default_rng(0)
X2 = rng.standard_normal((10, 4))
Y2 = np.repeat([0, 1], 5)
X3 = rng.standard_normal((10, 2, 8))


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


FIT_CASES = [
    # (estimator kwargs, X, y, exception, message pattern)
    ({}, X2[:, 0], Y2, ValueError, r"'X' to be a 2D array \(n_samples, n_features\)"),
    ({"arch": "fourier1d"}, X2, Y2, ValueError, r"'X' to be a 3D array \(n_samples, n_channels, length\)"),
    ({"arch": "fourier2d"}, X3, Y2, ValueError, r"'X' to be a 4D array"),
    ({}, _with(X2, (2, 1), np.nan), Y2, ValueError, r"'X' to contain only finite values.*\[2\]"),
    ({}, _with(X2, (3, 0), np.inf), Y2, ValueError, r"'X' to contain only finite values.*\[3\]"),
    ({}, _with(X2, 4, 0.0), Y2, ValueError, r"every sample of 'X' to be non-zero.*\[4\]"),
    ({}, X2 + 1j, Y2, TypeError,
     r"'X' to hold real numbers. Complex data not supported: got dtype complex128"),
    ({}, scipy.sparse.csr_matrix(X2), Y2, TypeError,
     r"'X' to be a dense array. Got a sparse csr_matrix.*X.toarray\(\)"),
    ({}, X2, None, TypeError, r"'y' to be an array of labels. Got None.*requires y to be passed"),
    ({}, np.array([["a"] * 4] * 10), Y2, TypeError, r"'X' to hold real numbers"),
    ({}, None, Y2, TypeError, r"'X' to be an array"),
    ({}, X2, Y2[:-1], ValueError, r"'y' to have one label per sample of X \(10\). Got 9"),
    ({}, X2, np.zeros(10), ValueError, r"'y' to contain at least two classes"),
    ({}, X2, np.r_[np.zeros(9), 1], ValueError, r"at least 2 samples.*\[1.0\]"),
    ({}, X2, np.c_[Y2, Y2], ValueError, r"'y' to be a 1D array of labels. Got shape \(10, 2\)"),
    ({}, X2, np.linspace(0, 1, 10), ValueError, r"Unknown label type: continuous"),
    ({}, X2[:, :0], Y2, ValueError, r"Found an array with 0 feature\(s\) \(shape=\(10, 0\)\)"),
    ({}, X2.astype(object), np.r_[Y2[:-1], 2], ValueError, r"at least 2 samples.*\[2\]"),
    ({}, _with(X2.astype(object), (0, 0), {}), Y2, TypeError,
     r"'X' to hold real numbers. Converting its object array failed"),
    ({}, X2, np.array([1, "a"] * 5, dtype=object), TypeError, r"labels in 'y' to be of one sortable type"),
    ({"eta": -1}, X2, Y2, ValueError, r"'eta' parameter of ReduNet must be a float > 0. Got -1"),
    ({"eps": 0}, X2, Y2, ValueError, r"'eps' parameter of ReduNet must be a float > 0"),
    ({"lmbda": -5.0}, X2, Y2, ValueError, r"'lmbda' parameter of ReduNet must be a float >= 0"),
    ({"n_layers": 0}, X2, Y2, ValueError, r"'n_layers' parameter of ReduNet must be an int >= 1"),
    ({"n_layers": 2.5}, X2, Y2, ValueError, r"'n_layers' parameter"),
    ({"arch": "conv"}, X2, Y2, ValueError,
     r"'arch' parameter of ReduNet must be one of 'vector', 'fourier1d', 'fourier2d'. Got 'conv'"),
    ({"eta": float("nan")}, X2, Y2, ValueError, r"'eta' parameter of ReduNet must be a float > 0"),
    ({"eta": True}, X2, Y2, ValueError, r"'eta' parameter of ReduNet must be a float > 0"),
    ({"verbose": 1}, X2, Y2, ValueError, r"'verbose' parameter of ReduNet must be a bool. Got 1"),
    ({"dtype": "int8"}, X2, Y2, ValueError,
     r"'dtype' parameter of ReduNet must be 'float32' or 'float64'. Got 'int8' instead"),
    ({"backend": "cuda"}, X2, Y2, ValueError,
     r"'backend' parameter of ReduNet must be one of 'numba', 'numpy' or None. Got 'cuda'"),
    ({"tol": -1.0}, X2, Y2, ValueError, r"'tol' parameter of ReduNet must be None or a float >= 0"),
    ({"patience": 0}, X2, Y2, ValueError, r"'patience' parameter"),
    ({"n_components": 0}, X2, Y2, ValueError, r"'n_components' parameter"),
    ({"lift": Lift1D(4, 3)}, X2, Y2, ValueError, r"'lift' parameter of ReduNet must be None for arch='vector'"),
    ({"arch": "fourier1d", "lift": "yes"}, X3, Y2, TypeError,
     r"'lift' parameter of ReduNet must be a Lift1D, a Lift2D or None. Got 'yes'"),
    ({"arch": "fourier1d", "lift": Lift2D(4, 3)}, X3, Y2, ValueError,
     r"'lift' parameter of ReduNet must be a Lift1D or None for arch='fourier1d'. Got a Lift2D"),
    ({"arch": "fourier1d", "lift": Lift1D(4, 9)}, X3, Y2, ValueError, r"kernel_size"),
]


@pytest.mark.parametrize("kwargs, X, y, exception, pattern", FIT_CASES)
def test_fit_rejects_bad_input(kwargs, X, y, exception, pattern):
    with pytest.raises(exception, match=pattern):
        ReduNet(**kwargs).fit(X, y)


def test_zero_sample_after_lifting_is_reported():
    X = rng.standard_normal((6, 1, 8))
    X[2] = 0.0
    with pytest.raises(ValueError, match=r"non-zero after lifting.*\[2\]"):
        ReduNet(arch="fourier1d", n_layers=1, lift=Lift1D(3, 3)).fit(X, np.repeat([0, 1], 3))


@pytest.fixture(scope="module")
def fitted():
    return ReduNet(n_layers=2).fit(X2, Y2)


TRANSFORM_CASES = [
    (X2[:, :3], ValueError, r"X has 3 features, but ReduNet is expecting 4 features as input"),
    (X2[:, 0], ValueError, r"'X' to be a 2D array.*Reshape your data with X.reshape\(-1, 1\)"),
    (X3, ValueError, r"'X' to be a 2D array"),
    (_with(X2, (0, 0), np.nan), ValueError, r"finite"),
    (_with(X2, 1, 0.0), ValueError, r"non-zero"),
]


@pytest.mark.parametrize("X, exception, pattern", TRANSFORM_CASES)
def test_transform_and_predict_reject_bad_input(fitted, X, exception, pattern):
    with pytest.raises(exception, match=pattern):
        fitted.transform(X)
    with pytest.raises(exception, match=pattern):
        fitted.predict(X)


@pytest.mark.parametrize("X, y", [(None, Y2), (X2 + 1j, Y2), (scipy.sparse.csr_matrix(X2), Y2),
                                  (X2, None)])
def test_inputs_of_the_wrong_kind_are_also_value_errors(X, y):
    # TypeError by our rule, ValueError as scikit-learn's input checks raise for them.
    with pytest.raises(TypeError) as info:
        ReduNet(n_layers=1).fit(X, y)
    assert isinstance(info.value, ValueError)


def test_invariant_arch_rejects_other_sample_shape():
    net = ReduNet(arch="fourier1d", n_layers=1).fit(X3, Y2)
    with pytest.raises(ValueError, match=r"samples of shape \(2, 8\) as in fit.*Got \(2, 6\)"):
        net.transform(X3[..., :6])


def test_score_rejects_unknown_labels(fitted):
    with pytest.raises(ValueError, match=r"among the training classes \[0, 1\]. Got unknown label\(s\) \[7\]"):
        fitted.score(X2, np.r_[Y2[:-1], 7])


def test_not_fitted():
    for method in ("transform", "predict"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(ReduNet(), method)(X2)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        NearestSubspace().predict(X2)


def test_objective_functions_validate():
    with pytest.raises(ValueError, match="'eps' parameter of coding_rate"):
        coding_rate(X2, eps=-1)
    with pytest.raises(ValueError, match="exactly one of 'y'"):
        rate_reduction(X2)
    with pytest.raises(ValueError, match="'membership' to have one row per sample"):
        rate_reduction(X2, membership=np.ones((3, 2)))
    with pytest.raises(ValueError, match="'membership' to be non-negative"):
        rate_reduction(X2, membership=-np.ones((10, 2)))


@pytest.mark.parametrize("chunk_size", [None, 5])
def test_failed_factorization_names_layer_class_and_frequency(chunk_size, monkeypatch):
    import redunet._operators as operators

    calls = {"batched": 0, "single": 0}
    real = np.linalg.cholesky

    def failing(A):
        # The 5th batched factorization (layer 1, class 'a') fails; the search for the failing
        # slice then factorizes single matrices, of which the 4th (frequency 3) fails.
        if A.ndim == 3:
            calls["batched"] += 1
            if calls["batched"] == 5:
                raise np.linalg.LinAlgError("not positive definite")
        elif calls["batched"] == 5:
            calls["single"] += 1
            if calls["single"] == 4:
                raise np.linalg.LinAlgError("not positive definite")
        return real(A)

    monkeypatch.setattr(operators.np.linalg, "cholesky", failing)
    X = rng.standard_normal((12, 2, 8))
    with pytest.raises(np.linalg.LinAlgError,
                       match=r"layer 1, class 'a', frequency 3 of 8: the regularized covariance"):
        ReduNet(arch="fourier1d", n_layers=3).fit(X, np.repeat(["a", "b"], 6),
                                                  chunk_size=chunk_size)
