"""``transform`` through prepared stacked operators: kept per model, dropped on refit, never
pickled; samples in chunks and in blocks give the features of the one-by-one NumPy path."""

import pickle

import numpy as np
import pytest

from conftest import labels_for
from redunet import Lift1D, ReduNet
from redunet import _estimator, _input_stage, _layer, _stacked
from redunet._layer import _KEPT, apply_layer, build_layer, group_rows


def _signals(rng, m, dtype=np.float64):
    return rng.standard_normal((m, 2, 12)).astype(dtype)


def _net(**params):
    # 16 channels, classes of 6, 6 and 12 samples: low-rank class operators, a dense expansion
    return ReduNet(arch="fourier1d", n_layers=3, lift=Lift1D(16, 3, seed=0), lmbda=50.0, **params)


def _numpy_features(net, X):
    """The same fitted net's features through the one-by-one NumPy path."""
    plain = pickle.loads(pickle.dumps(net))
    plain.backend = "numpy"
    return plain.transform(X)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transform_through_kept_stacks_equals_numpy_path(dtype, rng):
    X, y = _signals(rng, 24), labels_for([6, 6, 12])
    net = _net(dtype=dtype).fit(X, y)
    new = _signals(rng, 9)
    first = net.transform(new)
    assert len(_KEPT[net.layers_]) == net.n_layers_ + 1       # every layer's, and their bytes
    again = net.transform(new)                                  # from the kept stacks
    np.testing.assert_array_equal(first, again)
    tol = 1e-11 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(first, _numpy_features(net, new), atol=tol)


def test_refit_and_partial_fit_drop_the_kept_stacks(rng):
    X1, X2, y = _signals(rng, 24), _signals(rng, 24), labels_for([6, 6, 12])
    new = _signals(rng, 5)
    net = _net().fit(X1, y)
    net.transform(new)
    net.fit(X2, y)                                              # other data: other operators
    np.testing.assert_array_equal(net.transform(new), _net().fit(X2, y).transform(new))
    net.transform(new)
    net.partial_fit(X1, y)
    assert net.layers_ not in _KEPT
    np.testing.assert_allclose(net.transform(new), _numpy_features(net, new), atol=1e-11)


def test_kept_stacks_are_not_attributes_nor_pickled(rng):
    X, y = _signals(rng, 24), labels_for([6, 6, 12])
    net = _net().fit(X, y)
    before = set(net.__dict__)
    expected = net.transform(X[:4])
    assert net.layers_ in _KEPT and set(net.__dict__) == before      # nothing added
    copy = pickle.loads(pickle.dumps(net))
    assert copy.layers_ not in _KEPT
    np.testing.assert_array_equal(copy.transform(X[:4]), expected)


def test_transform_in_sample_chunks_equals_one_chunk(rng, monkeypatch):
    X, y = _signals(rng, 24), labels_for([6, 6, 12])
    net = _net().fit(X, y)
    new = _signals(rng, 11)
    whole, labels = net.transform(new), net.predict(new)
    per_sample = 7 * 16 * 16                     # F x C complex128 features of one sample
    monkeypatch.setattr(_estimator, "CHUNK_BYTES", 3 * per_sample)
    monkeypatch.setattr(_input_stage, "CHUNK_BYTES", 3 * per_sample)   # the input spectra too
    np.testing.assert_allclose(net.transform(new), whole, atol=1e-13)
    np.testing.assert_array_equal(net.predict(new), labels)


# dense classes; low-rank classes (dense expansion); one low-rank class among few channels
@pytest.mark.parametrize("counts, C", [([30, 25], 20), ([30, 25], 40), ([30, 2], 12)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stacked_blocks_and_given_output_equal_numpy_path(counts, C, dtype, rng, monkeypatch):
    F = 5
    y = labels_for(counts)
    weights = np.r_[1.0, np.full(F - 1, 2.0)]
    V = (rng.standard_normal((F, len(y), C)) + 1j * rng.standard_normal((F, len(y), C)))
    V = V.astype(np.result_type(dtype, np.complex64))
    layer, _, _ = build_layer(V, group_rows(y, len(counts)), weights, 0.1, backend="numpy")
    new = (rng.standard_normal((F, 23, C)) + 1j * rng.standard_normal((F, 23, C))).astype(V.dtype)
    new /= np.sqrt(np.einsum("f,fmc->m", weights, np.abs(new) ** 2))[None, :, None]
    plain = apply_layer(layer, new, weights, 0.5, 50.0, backend="numpy")
    # blocks of at most 4 samples (23 = 6 blocks, uneven), and in parallel threads
    monkeypatch.setattr(_stacked, "MIN_BLOCK", 1)
    monkeypatch.setattr(_stacked, "BLOCK_BYTES", 4 * F * (C * (len(counts) + 1)) * new.itemsize)
    tol = 1e-11 if dtype == np.float64 else 2e-5
    fast = apply_layer(layer, new, weights, 0.5, 50.0, backend="numba")
    np.testing.assert_allclose(fast, plain, atol=tol)
    stack = _layer.prepared_stack(layer, new.shape, new.dtype, "numba")
    assert stack is not None and not stack.fused
    target = np.full_like(new, np.nan)
    out = apply_layer(layer, new, weights, 0.5, 50.0, backend="numba", stack=stack, out=target)
    assert out is target
    np.testing.assert_array_equal(out, fast)             # bit for bit: transform = fit's path
    # the step kernel gives the same bits in place (out is V)
    inplace = new.copy()
    _stacked.apply_stacked(stack, inplace, 0, inplace.shape[1], weights, 0.5, 50.0, inplace)
    separate = np.empty_like(new)
    _stacked.apply_stacked(stack, new, 0, new.shape[1], weights, 0.5, 50.0, separate)
    np.testing.assert_array_equal(inplace, separate)
