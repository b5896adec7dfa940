"""Property-based tests (hypothesis, derandomized "ci" profile from conftest).

Invariants checked over random shapes, class balances, dtypes and hyper-parameters:
unit-norm features, finite history, determinism, SPD/Hermitian operators with
spectrum in (0, alpha], Parseval for the spectrum transforms, invariances of the
objective (R >= Rc by concavity of logdet), shift equivariance, and label handling.

The data of every example is drawn from a NumPy generator seeded by hypothesis
(Gaussian samples over a range of scales, optionally with duplicated samples), not
from raw hypothesis floats: overflow of the squared norm for |x| > ~1e154 is a
separate, known limitation.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from redunet import Lift1D, ReduNet, coding_rate, compression_rate, rate_reduction
from redunet._operators import build_operator
from redunet._spectrum import RFFT1D, RFFT2D, weighted_sq_norms

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=30, deadline=None)

NORM_TOL = {"float64": 1e-6, "float32": 1e-3}


# --------------------------------------------------------------------------- strategies
arch_shapes = st.one_of(
    st.tuples(st.just("vector"), st.tuples(st.integers(1, 12))),
    st.tuples(st.just("fourier1d"), st.tuples(st.integers(1, 4), st.integers(2, 12))),
    st.tuples(st.just("fourier2d"),
              st.tuples(st.integers(1, 3), st.integers(2, 6), st.integers(2, 6))),
)
class_counts = st.lists(st.integers(2, 6), min_size=2, max_size=4)
seeds = st.integers(0, 2**32 - 1)
scales = st.sampled_from([1e-3, 1.0, 1e3])
etas = st.floats(0.01, 1.0)
epss = st.floats(0.01, 1.0)
lmbdas = st.floats(0.0, 1000.0)


def make_labels(counts, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(y)


def make_data(shape, y, seed, scale=1.0, duplicate=False, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((y.shape[0],) + tuple(shape)) * scale
    if duplicate:
        # Two samples of class 0 are equal (rank-deficient class statistics).
        first, second = np.flatnonzero(y == y.min())[:2]
        X[second] = X[first]
    return X.astype(dtype)


def sample_norms(Z):
    flat = np.asarray(Z, dtype=np.float64).reshape(Z.shape[0], -1)
    return np.sqrt(np.einsum("ij,ij->i", flat, flat))


# --------------------------------------------------------------------------- 1. fit/transform
@SETTINGS
@given(arch_shape=arch_shapes, counts=class_counts, seed=seeds, scale=scales,
       duplicate=st.booleans(), dtype=st.sampled_from(["float64", "float32"]),
       n_layers=st.integers(1, 5), eta=etas, eps=epss, lmbda=lmbdas)
def test_fit_transform_invariants(arch_shape, counts, seed, scale, duplicate, dtype, n_layers,
                                  eta, eps, lmbda):
    arch, shape = arch_shape
    y = make_labels(counts, seed)
    X = make_data(shape, y, seed, scale, duplicate, dtype)
    params = dict(arch=arch, n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype)

    net = ReduNet(**params).fit(X, y)
    assert net.n_layers_ == n_layers
    for key in ("rate", "compression", "delta_r"):
        h = net.history_[key]
        assert h.shape == (net.n_layers_ + 1,)
        assert np.all(np.isfinite(h)), (key, h)
    np.testing.assert_allclose(net.history_["delta_r"],
                               net.history_["rate"] - net.history_["compression"])

    Z = net.transform(X)
    assert Z.shape == X.shape
    assert Z.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(sample_norms(Z), 1.0, atol=NORM_TOL[dtype])

    predicted = net.predict(X)
    assert predicted.shape == y.shape
    assert np.all(np.isin(predicted, net.classes_))
    np.testing.assert_array_equal(net.classes_, np.arange(len(counts)))

    # transform is a pure function of the fitted model...
    np.testing.assert_array_equal(net.transform(X), Z)
    # ...and fit is a pure function of its inputs (bit for bit).
    twin = ReduNet(**params).fit(X.copy(), y.copy())
    np.testing.assert_array_equal(twin.transform(X), Z)
    np.testing.assert_array_equal(twin.predict(X), predicted)
    for key in net.history_:
        np.testing.assert_array_equal(twin.history_[key], net.history_[key])


@SETTINGS
@given(arch_shape=arch_shapes, counts=class_counts, seed=seeds, n_layers=st.integers(1, 4),
       n_new=st.integers(1, 5), dtype=st.sampled_from(["float64", "float32"]))
def test_transform_of_new_samples_is_unit_norm_and_rowwise(arch_shape, counts, seed, n_layers,
                                                           n_new, dtype):
    """New samples go through the same update; each row's output depends on that row only."""
    arch, shape = arch_shape
    y = make_labels(counts, seed)
    X = make_data(shape, y, seed, dtype=dtype)
    X_new = make_data(shape, np.zeros(n_new, dtype=int), seed + 1, scale=7.0, dtype=dtype)
    net = ReduNet(arch=arch, n_layers=n_layers, dtype=dtype).fit(X, y)
    Z_new = net.transform(X_new)
    assert np.all(np.isfinite(Z_new))
    np.testing.assert_allclose(sample_norms(Z_new), 1.0, atol=NORM_TOL[dtype])
    # Row-wise: transforming one sample alone gives its row of the batch result.
    # (float32: lmbda * alpha_j amplifies rounding in the membership softmax, ~1e-4 seen.)
    tol = 1e-11 if dtype == "float64" else 1e-3
    np.testing.assert_allclose(net.transform(X_new[-1:])[0], Z_new[-1], atol=tol)
    # Scale invariance of the input stage: samples are projected onto the sphere first.
    np.testing.assert_allclose(net.transform(X_new * 3), Z_new, atol=tol)


# --------------------------------------------------------------------------- 2. operators
def _dense_matrix(operator, C):
    if operator.kind == "dense":
        return operator.matrix
    W = operator.factor
    return operator.alpha * (np.eye(C) - np.matmul(W, W.conj().swapaxes(-1, -2)))


@FAST
@given(n_freq=st.integers(1, 4), n=st.integers(1, 8), C=st.integers(1, 6), seed=seeds,
       complex_=st.booleans(), alpha=st.floats(0.01, 100.0),
       low_rank=st.sampled_from([None, True, False]), backend=st.sampled_from(["numba", "numpy"]))
def test_operators_are_hermitian_positive_definite_with_spectrum_in_0_alpha(
        n_freq, n, C, seed, complex_, alpha, low_rank, backend):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n_freq, n, C))
    if complex_:
        B = B + 1j * rng.standard_normal((n_freq, n, C))
    # Rows on the unit sphere as in the engine (norm over the whole batch row).
    B /= np.sqrt((np.abs(B) ** 2).sum(axis=(0, 2)))[None, :, None]
    operator, logdet = build_operator(B, alpha, low_rank=low_rank, backend=backend)
    P = _dense_matrix(operator, C)
    assert P.shape == (n_freq, C, C)
    np.testing.assert_allclose(P, P.conj().swapaxes(-1, -2), atol=1e-12 * alpha)

    S = np.matmul(B.swapaxes(-1, -2), B.conj())          # sum_i v_i v_i^H per frequency
    eigenvalues = np.linalg.eigvalsh(P)
    s_max = np.linalg.eigvalsh(S)[:, -1]
    lower = alpha / (1.0 + alpha * s_max)                # smallest eigenvalue, exactly
    assert np.all(eigenvalues > 0)
    assert np.all(eigenvalues <= alpha * (1 + 1e-10))
    np.testing.assert_allclose(eigenvalues.min(axis=-1), lower, rtol=1e-8)

    # The operator is alpha * inv(I + alpha S) and logdet is that of I + alpha S.
    reference = alpha * np.linalg.inv(np.eye(C) + alpha * S)
    np.testing.assert_allclose(P, reference, atol=1e-10 * alpha)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(np.eye(C) + alpha * S)[1],
                               atol=1e-9 * (1 + np.abs(logdet).max()))


@FAST
@given(shape=st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 12)),
                       st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))),
       m=st.integers(1, 5), seed=seeds)
def test_spectrum_transforms_are_parseval_and_invertible(shape, m, seed):
    Z = np.random.default_rng(seed).standard_normal((m,) + shape)
    spectrum = RFFT1D(shape) if len(shape) == 2 else RFFT2D(shape)
    V = spectrum.forward(Z)
    assert V.shape == (spectrum.n_frequencies, m, shape[0])
    np.testing.assert_allclose(weighted_sq_norms(V, spectrum.weights),
                               (Z ** 2).reshape(m, -1).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(spectrum.inverse(V), Z, atol=1e-12)
    assert spectrum.weights.sum() == np.prod(shape[1:])


# --------------------------------------------------------------------------- 3. objective
@FAST
@given(m=st.integers(1, 12), d=st.integers(1, 10), seed=seeds, eps=epss)
def test_coding_rate_invariant_to_row_permutation_and_rotation(m, d, seed, eps):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((m, d))
    rate = coding_rate(Z, eps=eps)
    alpha = d / (m * eps)
    expected = 0.5 * np.linalg.slogdet(np.eye(d) + alpha * Z.T @ Z)[1]
    np.testing.assert_allclose(rate, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(coding_rate(Z[rng.permutation(m)], eps=eps), rate,
                               rtol=1e-10, atol=1e-12)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    np.testing.assert_allclose(coding_rate(Z @ Q, eps=eps), rate, rtol=1e-10, atol=1e-12)
    assert rate >= 0


@FAST
@given(counts=class_counts, d=st.integers(1, 10), seed=seeds, eps=epss,
       identical_classes=st.booleans())
def test_rate_reduction_is_nonnegative_and_hard_equals_one_hot(counts, d, seed, eps,
                                                               identical_classes):
    rng = np.random.default_rng(seed)
    if identical_classes:
        # Every class holds the same samples: the concavity bound is tight (delta_R = 0).
        base = rng.standard_normal((counts[0], d))
        counts = [counts[0]] * len(counts)
        Z = np.concatenate([base] * len(counts))
        y = np.repeat(np.arange(len(counts)), counts)
    else:
        y = make_labels(counts, seed)
        Z = rng.standard_normal((y.shape[0], d))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    rate = coding_rate(Z, eps=eps)
    delta = rate_reduction(Z, y, eps=eps)
    assert delta >= -1e-12 * max(1.0, rate)
    if identical_classes:
        assert abs(delta) <= 1e-10 * max(1.0, rate)

    one_hot = np.eye(len(counts))[y]
    hard = compression_rate(Z, y, eps=eps)
    np.testing.assert_allclose(compression_rate(Z, membership=one_hot, eps=eps), hard,
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rate - hard, delta, rtol=1e-12, atol=1e-12)
    # Relabelling the classes (any hashable labels) does not change the objective.
    names = np.array(["c", "a", "d", "b"])[: len(counts)]
    np.testing.assert_allclose(rate_reduction(Z, names[y], eps=eps), delta,
                               rtol=1e-12, atol=1e-12)


@FAST
@given(m=st.integers(2, 12), K=st.integers(2, 4), d=st.integers(1, 8), seed=seeds, eps=epss)
def test_rate_reduction_nonnegative_for_row_stochastic_memberships(m, K, d, seed, eps):
    """sum_j Z^T Pi_j Z = Z^T Z when every row of the membership sums to 1: R >= Rc."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((m, d))
    membership = rng.dirichlet(np.ones(K), size=m)
    rate = coding_rate(Z, eps=eps)
    assert rate_reduction(Z, membership=membership, eps=eps) >= -1e-12 * max(1.0, rate)


# --------------------------------------------------------------------------- 4. equivariance
def _margins(net, X):
    """Gap between the two smallest nearest-subspace residuals of every sample."""
    residuals = np.sort(net.classifier_.residuals_spectral(net._spectral_features(X)), axis=1)
    return residuals[:, 1] - residuals[:, 0]


@SETTINGS
@given(C=st.integers(1, 4), T=st.integers(2, 12), counts=class_counts, seed=seeds,
       shift=st.integers(-12, 12), n_layers=st.integers(1, 5), eta=etas, eps=epss,
       lmbda=lmbdas, lift=st.booleans())
def test_fourier1d_shift_equivariance(C, T, counts, seed, shift, n_layers, eta, eps, lmbda,
                                      lift):
    y = make_labels(counts, seed)
    X = make_data((C, T), y, seed)
    net = ReduNet(arch="fourier1d", n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda,
                  lift=Lift1D(out_channels=3, kernel_size=min(3, T), seed=seed % 1000,
                              relu=False) if lift else None).fit(X, y)
    X_shifted = np.roll(X, shift, axis=-1)
    np.testing.assert_allclose(net.transform(X_shifted),
                               np.roll(net.transform(X), shift, axis=-1), atol=1e-9)
    # Predictions are unchanged wherever the decision is not a numerical tie.
    clear = _margins(net, X) > 1e-9
    np.testing.assert_array_equal(net.predict(X_shifted)[clear], net.predict(X)[clear])
    # Training features of the shifted set are the shifted training features.
    np.testing.assert_allclose(sample_norms(net.transform(X_shifted)), 1.0, atol=1e-12)


@SETTINGS
@given(C=st.integers(1, 3), H=st.integers(2, 6), W=st.integers(2, 6), counts=class_counts,
       seed=seeds, dy=st.integers(-6, 6), dx=st.integers(-6, 6), n_layers=st.integers(1, 4))
def test_fourier2d_translation_equivariance(C, H, W, counts, seed, dy, dx, n_layers):
    y = make_labels(counts, seed)
    X = make_data((C, H, W), y, seed)
    net = ReduNet(arch="fourier2d", n_layers=n_layers).fit(X, y)
    X_shifted = np.roll(X, (dy, dx), axis=(-2, -1))
    np.testing.assert_allclose(net.transform(X_shifted),
                               np.roll(net.transform(X), (dy, dx), axis=(-2, -1)), atol=1e-9)
    clear = _margins(net, X) > 1e-9
    np.testing.assert_array_equal(net.predict(X_shifted)[clear], net.predict(X)[clear])


# --------------------------------------------------------------------------- 5. labels
label_kinds = st.sampled_from([
    ["neg", "apple", "zebra", "mango"],           # strings (unsorted on purpose)
    [-3, -10, 7, 0],                              # negative ints
    [2.0, -1.0, 7.0, 0.0],                        # floats (integral: fractions are continuous
                                                  # targets, refused as scikit-learn does)
    [True, False],                                # bools
])


@SETTINGS
@given(arch_shape=arch_shapes, counts=class_counts, names=label_kinds, seed=seeds,
       n_layers=st.integers(1, 3))
def test_labels_of_any_kind_map_through_sorted_classes(arch_shape, counts, names, seed,
                                                       n_layers):
    arch, shape = arch_shape
    counts = counts[: len(names)]
    index = make_labels(counts, seed)
    names = np.array(names[: len(counts)])
    y = names[index]
    X = make_data(shape, index, seed)

    net = ReduNet(arch=arch, n_layers=n_layers).fit(X, y)
    np.testing.assert_array_equal(net.classes_, np.sort(names))
    assert net.classes_.dtype == names.dtype
    predicted = net.predict(X)
    assert predicted.dtype == names.dtype
    assert set(predicted.tolist()) <= set(names.tolist())
    assert net.score(X, y) == np.mean(predicted == y)

    # Same model as with the integer codes of the sorted labels: identical features,
    # and predictions are the original label values of the integer predictions.
    sorted_codes = np.searchsorted(np.sort(names), y)
    reference = ReduNet(arch=arch, n_layers=n_layers).fit(X, sorted_codes)
    np.testing.assert_array_equal(net.transform(X), reference.transform(X))
    np.testing.assert_array_equal(predicted, np.sort(names)[reference.predict(X)])


def test_labels_of_mixed_unsortable_types_are_a_type_error(rng):
    X = rng.standard_normal((4, 3))
    with pytest.raises(TypeError, match="sortable"):
        ReduNet(n_layers=1).fit(X, np.array([1, "a", 1, "a"], dtype=object))


@FAST
@given(seed=seeds)
def test_labels_given_as_python_lists(seed):
    X = make_data((3,), np.zeros(6, dtype=int), seed)
    y = ["b", "b", "a", "a", "b", "a"]
    net = ReduNet(n_layers=2).fit(X, y)
    assert net.classes_.tolist() == ["a", "b"]
    assert set(net.predict(X).tolist()) <= {"a", "b"}
