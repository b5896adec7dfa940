"""The cost model predicts the operator bytes a real build stores, and scales as the math says."""

import pytest

from conftest import labels_for
from redunet import Lift1D, Lift2D, ReduNet
from redunet._cost import layer_cost, model_cost, n_frequencies, stacked_layer_cost


@pytest.mark.parametrize("arch, shape, lift, C, spatial, per_class, dtype", [
    ("vector", (6,), None, 6, (), 10, "float64"),          # dense everywhere
    ("vector", (30,), None, 30, (), 8, "float32"),         # classes low rank, E dense
    ("fourier1d", (2, 12), Lift1D(5, 3), 5, (12,), 3, "float64"),
    ("fourier2d", (1, 6, 5), Lift2D(7, 3), 7, (6, 5), 4, "float32"),
])
def test_operator_bytes_match_a_real_build(arch, shape, lift, C, spatial, per_class, dtype, rng):
    K = 3
    y = labels_for([per_class] * K)
    X = rng.standard_normal((y.shape[0],) + shape)
    net = ReduNet(arch=arch, n_layers=3, lift=lift, dtype=dtype).fit(X, y)
    predicted = model_cost(arch, y.shape[0], K, C, spatial, n_layers=3, dtype=dtype)
    assert predicted["operator_bytes"] == sum(layer.nbytes for layer in net.layers_)
    assert predicted["n_frequencies"] == net.spectrum_.n_frequencies


def test_scaling_laws():
    base = layer_cost("fourier1d", m=100, K=10, C=20, spatial=(200,))
    # Twice the frequencies: twice the work and bytes.
    wide = layer_cost("fourier1d", m=100, K=10, C=20, spatial=(400,))
    assert wide["n_frequencies"] == 201 and base["n_frequencies"] == 101
    assert wide["flops"] / base["flops"] == pytest.approx(201 / 101)
    # All-dense vector layer: build ~ C^3 and n C^2, apply ~ m C^2 per operator.
    dense = layer_cost("vector", m=4000, K=2, C=10)
    assert dense["apply_flops"] == 2 * 3 * 4000 * 100
    assert dense["operator_bytes"] == 3 * 100 * 8
    assert n_frequencies("fourier2d", (28, 28)) == 28 * 15
    with pytest.raises(ValueError, match="Unknown arch"):
        n_frequencies("conv", ())


def test_stacked_cost_counts_the_stacked_product():
    # All dense: the stacked product is the K + 1 operators applied one by one.
    dense = stacked_layer_cost("fourier1d", m=1000, K=10, C=20, spatial=(200,), dtype="float32")
    assert dense["form"] == "stacked" and dense["stacked_width"] == 11 * 20
    assert dense["apply_flops"] == layer_cost("fourier1d", 1000, 10, 20, (200,))["apply_flops"]
    assert dense["bytes"] == 3 * 101 * 1000 * 20 * 8 + 101 * 20 * 220 * 8
    # In double precision the same layer is packed: (2 K + 7) C^2 real multiply-adds per sample
    # and frequency, and the packed operators (K Gram matrices, K + 1 operators) of C^2 reals.
    packed = stacked_layer_cost("fourier1d", m=1000, K=10, C=20, spatial=(200,))
    assert packed["form"] == "packed"
    assert packed["apply_flops"] == 2 * 101 * 1000 * 400 * 27
    assert packed["bytes"] == 3 * 101 * 1000 * 20 * 16 + 101 * 400 * 21 * 8
    # Low-rank classes: E dense, coefficients, norms from the Gram matrices, pull.
    low = stacked_layer_cost("vector", m=1000, K=10, C=784)
    assert low["stacked_width"] == 784 + 1000
    assert low["apply_flops"] == 2 * 1000 * (784 * 1784 + 10 * (100 * 100 + 784 * 100))
    new = stacked_layer_cost("vector", m=1000, K=10, C=784, n_samples=10)
    assert new["flops"] == low["apply_flops"] // 100 and new["stats_flops"] == 0
