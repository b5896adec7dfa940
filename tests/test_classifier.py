"""Nearest subspace (docs/math.rst, "Nearest subspace"): pooled circulant-family rule, scatter fits, ties, protocol."""

import numpy as np
import pytest

import naive
from conftest import labels_for
from redunet import NearestSubspace
from redunet.datasets import cyclic_shift, translate2d
from redunet._spectrum import RFFT1D, RFFT2D

CASES = [((3, 6), [3, 4, 2]), ((2, 7), [4, 3]), ((2, 3, 4), [3, 2, 3]), ((1, 3, 3), [2, 3])]


def _spectrum(shape):
    return RFFT1D(shape) if len(shape) == 2 else RFFT2D(shape)


def _shift(X, s):
    return cyclic_shift(X, s) if X.ndim == 3 else translate2d(X, s, 2 * s + 1)


def _fit(shape, counts, k, rng):
    y = labels_for(counts)
    X = rng.standard_normal((y.shape[0],) + shape)
    spectrum = _spectrum(shape)
    clf = NearestSubspace(n_components=k).fit_spectral(
        spectrum.forward(X), spectrum.weights, y, np.arange(len(counts)))
    return X, y, spectrum, clf


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape, counts", CASES)
def test_pooled_rule_equals_nearest_subspace_of_the_circulant_family(shape, counts, k, rng):
    X, y, spectrum, clf = _fit(shape, counts, k, rng)
    X_test = rng.standard_normal((6,) + shape)
    expected = naive.circulant_family_residuals(X, y, X_test, k)
    got = clf.residuals_spectral(spectrum.forward(X_test))
    np.testing.assert_allclose(got, expected, atol=1e-10, rtol=0)
    np.testing.assert_array_equal(clf.predict_spectral(spectrum.forward(X_test)),
                                  np.argmin(expected, axis=1))
    # k counts family dimensions; conjugate pairs are kept whole (k to k + 2 dimensions).
    assert np.all((clf.n_family_components_ >= k) & (clf.n_family_components_ <= k + 2))


@pytest.mark.parametrize("shape, counts", CASES)
def test_components_beyond_the_rank_keep_exactly_the_family_span(shape, counts, rng):
    X, y, spectrum, clf = _fit(shape, counts, 10_000, rng)
    N = int(np.prod(shape[1:]))
    ranks = [min(shape[0], c) * N for c in counts]     # generic data: full rank per frequency
    np.testing.assert_array_equal(clf.n_family_components_, ranks)
    X_test = rng.standard_normal((5,) + shape)
    np.testing.assert_allclose(clf.residuals_spectral(spectrum.forward(X_test)),
                               naive.circulant_family_residuals(X, y, X_test, 10_000),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("shape, counts", CASES)
def test_residuals_and_predictions_are_invariant_to_every_shift(shape, counts, rng):
    X, y, spectrum, clf = _fit(shape, counts, 3, rng)
    X_test = rng.standard_normal((6,) + shape)
    reference = clf.residuals_spectral(spectrum.forward(X_test))
    base = clf.predict_spectral(spectrum.forward(X_test))
    for s in range(1, shape[-1]):
        V = spectrum.forward(_shift(X_test, s))
        np.testing.assert_allclose(clf.residuals_spectral(V), reference, atol=1e-12)
        np.testing.assert_array_equal(clf.predict_spectral(V), base)


def test_one_frequency_is_the_classical_rule(rng):
    y = labels_for([5, 6, 4])
    Z = rng.standard_normal((15, 7))
    Z_test = rng.standard_normal((20, 7))
    for k in (1, 2, 4, 9):
        clf = NearestSubspace(n_components=k).fit(Z, y)
        np.testing.assert_array_equal(clf.predict(Z_test),
                                      naive.nearest_subspace_predict(Z, y, Z_test, k))
        np.testing.assert_allclose(-clf.decision_function(Z_test),
                                   naive.circulant_family_residuals(Z[:, :, None], y,
                                                                    Z_test[:, :, None], k),
                                   atol=1e-12)
    assert NearestSubspace().fit(Z, y).n_components_ == 7 // 3


# --------------------------------------------------------------------------- degenerate case
def _common_direction_data(rng, T=12, C=3):
    """Two classes whose spectra lie, at every frequency, on one direction d_f shared by all.

    Class 0 puts its energy on frequency 1, class 1 on frequency 2; the test
    samples lie on d_f at every frequency too, with most energy on frequency 1.
    """
    F = T // 2 + 1
    d = rng.standard_normal((F, C)) + 1j * rng.standard_normal((F, C))
    d[0] = d[0].real
    d[-1] = d[-1].real                                     # DC and Nyquist are real
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    profiles = {0: np.full(F, 0.05), 1: np.full(F, 0.05), "test": np.full(F, 0.2)}
    profiles[0][1], profiles[1][2], profiles["test"][1], profiles["test"][2] = 1.0, 1.0, 1.0, 0.6
    spectrum = RFFT1D((C, T))

    def samples(profile, n):
        amplitude = profile * (1 + 0.3 * rng.random((n, F)))
        phase = np.exp(2j * np.pi * rng.random((n, F)))
        phase[:, [0, -1]] = np.sign(phase[:, [0, -1]].real)
        V = (amplitude * phase).T[:, :, None] * d[:, None, :]    # (F, n, C)
        return spectrum.inverse(V)

    X = np.concatenate([samples(profiles[0], 4), samples(profiles[1], 4)])
    return X, np.repeat([0, 1], 4), samples(profiles["test"], 5), spectrum


def test_degenerate_case_per_frequency_subspaces_contain_the_sample(rng):
    X, y, X_test, spectrum = _common_direction_data(rng)
    V, V_test = spectrum.forward(X), spectrum.forward(X_test)
    # The former rule (1 component at every frequency): both class subspaces contain
    # every test sample, the residuals are rounding noise and the argmin is arbitrary.
    for j in (0, 1):
        U = np.linalg.svd(V[:, y == j].swapaxes(-1, -2), full_matrices=False)[0][..., :1]
        power = (np.abs(np.matmul(V_test, U.conj())) ** 2).sum(axis=2)
        kept = np.einsum("f,fm->m", spectrum.weights, power)
        total = np.einsum("f,fmc->m", spectrum.weights, np.abs(V_test) ** 2)
        assert np.all(np.abs(total - kept) <= 1e-14 * total)
    # The pooled rule: class 0 keeps frequency 1, class 1 frequency 2; every test
    # sample is clearly nearest to class 0, under every shift.
    clf = NearestSubspace(n_components=2).fit_spectral(V, spectrum.weights, y, np.arange(2))
    residuals = clf.residuals_spectral(V_test)
    assert np.all(residuals[:, 1] - residuals[:, 0] > 0.1)
    for s in range(12):
        V_shift = spectrum.forward(cyclic_shift(X_test, s))
        np.testing.assert_array_equal(clf.predict_spectral(V_shift), np.zeros(5, dtype=int))
        np.testing.assert_allclose(clf.residuals_spectral(V_shift), residuals, atol=1e-13)


# --------------------------------------------------------------------------- scatter fits
@pytest.mark.parametrize("k", [2, 5, 100])
@pytest.mark.parametrize("shape, counts", CASES)
def test_fit_scatter_equals_fit_spectral(shape, counts, k, rng):
    X, y, spectrum, clf = _fit(shape, counts, k, rng)
    V = spectrum.forward(X)
    scatters = np.stack([np.einsum("fmc,fmd->fcd", V[:, y == j], V[:, y == j].conj())
                         for j in range(len(counts))])
    streamed = NearestSubspace(n_components=k).fit_scatter(
        scatters, np.array(counts), spectrum.weights, np.arange(len(counts)))
    np.testing.assert_array_equal(streamed.n_family_components_, clf.n_family_components_)
    V_test = spectrum.forward(rng.standard_normal((7,) + shape))
    np.testing.assert_allclose(streamed.residuals_spectral(V_test),
                               clf.residuals_spectral(V_test), atol=1e-9)
    np.testing.assert_array_equal(streamed.predict_spectral(V_test), clf.predict_spectral(V_test))


# --------------------------------------------------------------------------- ties
def test_exact_ties_go_to_the_smallest_class_index():
    # Classes "b" and "a" hold the same single sample: every residual to them is equal.
    Z = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    clf = NearestSubspace(n_components=1).fit(Z, ["b", "a", "c"])
    Z_test = np.array([[2.0, 0.5, 0.0], [3.0, 0.0, 0.1], [0.5, 0.0, 0.5]])
    scores = clf.decision_function(Z_test)
    np.testing.assert_array_equal(scores[:, 0], scores[:, 1])
    np.testing.assert_array_equal(clf.predict(Z_test), ["a", "a", "a"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_residuals_within_sqrt_eps_are_tied_and_larger_gaps_decide(dtype):
    # The tolerance follows the precision of the features (a one-frequency batch here).
    eps = np.finfo(dtype).eps
    clf = NearestSubspace(n_components=1).fit_spectral(np.eye(2, dtype=dtype)[None], np.ones(1),
                                                       np.array([0, 1]), np.arange(2))
    # residual to class j is the squared other coordinate: gap = z_1^2 - z_0^2
    for gap, expected in [(0.0, 0), (100 * eps, 0), (0.1 * np.sqrt(eps), 0),
                          (10 * np.sqrt(eps), 1)]:
        z0 = np.sqrt((1 - gap) / 2)
        z = np.array([[[z0, np.sqrt(1 - z0 ** 2)]]], dtype=dtype)
        assert clf.predict_spectral(z)[0] == expected, gap


def test_single_sample_classes_predict_the_same_under_every_shift(rng):
    # Two single-sample classes whose samples are shifts of each other: their
    # circulant families coincide and every residual ties exactly.
    T, C = 10, 2
    x = rng.standard_normal((1, C, T))
    X = np.concatenate([x, cyclic_shift(x, 3)])
    spectrum = RFFT1D((C, T))
    clf = NearestSubspace(n_components=4).fit_spectral(spectrum.forward(X), spectrum.weights,
                                                       np.array([0, 1]), np.arange(2))
    X_test = rng.standard_normal((8, C, T))
    for s in range(T):
        np.testing.assert_array_equal(
            clf.predict_spectral(spectrum.forward(cyclic_shift(X_test, s))), np.zeros(8))


# --------------------------------------------------------------------------- paper's protocol
def test_evaluation_protocol_equals_direct_computation(rng):
    from sklearn.svm import LinearSVC

    from redunet.experiments import evaluation_protocol
    y = labels_for([6, 5, 7])
    centers = rng.standard_normal((3, 2, 4))
    X = centers[y] + 1.5 * rng.standard_normal((18, 2, 4))
    y_test = labels_for([4, 4, 4])
    X_test = 3.0 * (centers[y_test] + 1.5 * rng.standard_normal((12, 2, 4)))  # scale is removed
    chunks = [(X_test[:5], y_test[:5]), (X_test[5:], y_test[5:])]
    got = evaluation_protocol(X, y, {"train": (X, y), "test": (X_test, y_test),
                                     "chunked": iter(chunks)}, n_components=2)

    def unit(Z):
        flat = Z.reshape(len(Z), -1)
        return flat / np.linalg.norm(flat, axis=1, keepdims=True)

    Z, Z_test = unit(X), unit(X_test)
    svc = LinearSVC(random_state=10).fit(Z, y)
    # kNN by cosine similarity, majority of the 5 most similar (ties: smallest label)
    nearest = np.argsort(-(Z_test @ Z.T), axis=1, kind="stable")[:, :5]
    votes = np.array([np.bincount(y[row], minlength=3) for row in nearest])
    expected = {"linear_svc": np.mean(svc.predict(Z_test) == y_test),
                "knn": np.mean(np.argmax(votes, axis=1) == y_test),
                "nearest_subspace": np.mean(
                    naive.nearest_subspace_predict(Z, y, Z_test, k=2) == y_test)}
    for key, value in expected.items():
        assert got[key]["test"] == pytest.approx(value, abs=1e-15), key
        assert got[key]["chunked"] == pytest.approx(value, abs=1e-15), key
    assert got["linear_svc"]["train"] == pytest.approx(svc.score(Z, y))
    assert got["linear_svc_converged"] is True


def test_evaluation_protocol_rejects_zero_samples():
    from redunet.experiments import evaluation_protocol
    X = np.ones((4, 3))
    X[2] = 0.0
    with pytest.raises(ValueError, match="'features_train' to be non-zero"):
        evaluation_protocol(X, [0, 0, 1, 1], {})
