"""LayerStack: stacked storage of layers, views equal to the appended layers."""

import numpy as np
import pytest

from redunet._layer import Layer
from redunet._operators import DenseOperator, LowRankOperator
from redunet._stack import LayerStack, layer_layout


def _random_layer(rng, n_freq=3, C=5, ranks=(2, None), dtype=np.complex128):
    def matrix(*shape):
        out = rng.standard_normal(shape) + (1j * rng.standard_normal(shape)
                                            if np.dtype(dtype).kind == "c" else 0)
        return out.astype(dtype)

    compressions = [DenseOperator(matrix(n_freq, C, C)) if r is None
                    else LowRankOperator(rng.uniform(1, 9), matrix(n_freq, C, r)) for r in ranks]
    return Layer(DenseOperator(matrix(n_freq, C, C)), compressions, rng.dirichlet(np.ones(len(ranks))))


def _assert_same_layer(a, b):
    assert a.expansion.kind == b.expansion.kind
    for op_a, op_b in zip([a.expansion] + a.compressions, [b.expansion] + b.compressions):
        assert op_a.kind == op_b.kind
        for name, array in op_a.arrays().items():
            np.testing.assert_array_equal(array, op_b.arrays()[name])
    np.testing.assert_array_equal(a.gammas, b.gammas)


def test_views_equal_the_appended_layers_across_growth(rng):
    layers = [_random_layer(rng) for _ in range(40)]      # past several doublings
    stack = LayerStack()
    early = []
    for layer in layers:
        stack.append(layer)
        early.append(stack[-1])                          # views taken before later growth
    assert len(stack) == 40
    for original, view, later in zip(layers, early, stack):
        _assert_same_layer(original, view)
        _assert_same_layer(original, later)
    _assert_same_layer(stack[-3], layers[37])
    assert [len(s) for s in (stack[5:9], stack[::10])] == [4, 4]
    assert stack.nbytes == sum(layer.nbytes for layer in layers)
    with pytest.raises(IndexError):
        stack[40]
    arrays = stack.arrays()
    np.testing.assert_array_equal(arrays["C0.factor"][7], layers[7].compressions[0].factor)
    np.testing.assert_array_equal(arrays["C0.alpha"], [l.compressions[0].alpha for l in layers])
    assert arrays["E.matrix"].shape == (40, 3, 5, 5)


def test_views_compute_what_the_layers_compute(rng):
    from redunet._layer import apply_layer
    layer = _random_layer(rng, ranks=(2, None))
    stack = LayerStack()
    stack.append(layer)
    V = rng.standard_normal((3, 7, 5)) + 1j * rng.standard_normal((3, 7, 5))
    weights = np.array([1.0, 2.0, 2.0])
    np.testing.assert_array_equal(apply_layer(stack[0], V, weights, 0.5, 10.0, "numpy"),
                                  apply_layer(layer, V, weights, 0.5, 10.0, "numpy"))


@pytest.mark.parametrize("change", ["kind", "shape", "dtype", "classes"])
def test_append_of_another_structure_is_refused(change, rng):
    stack = LayerStack()
    stack.append(_random_layer(rng))
    other = {"kind": lambda: _random_layer(rng, ranks=(None, None)),
             "shape": lambda: _random_layer(rng, C=6),
             "dtype": lambda: _random_layer(rng, dtype=np.complex64),
             "classes": lambda: _random_layer(rng, ranks=(2, None, None))}[change]()
    with pytest.raises(ValueError, match="Cannot append to a LayerStack a layer of structure"):
        stack.append(other)
    assert len(stack) == 1


def test_truncate_then_append(rng):
    layers = [_random_layer(rng) for _ in range(10)]
    stack = LayerStack()
    for layer in layers[:6]:
        stack.append(layer)
    stack.truncate(4)
    assert len(stack) == 4
    for layer in layers[6:]:
        stack.append(layer)
    expected = layers[:4] + layers[6:]
    assert len(stack) == len(expected)
    for a, b in zip(stack, expected):
        _assert_same_layer(a, b)
    with pytest.raises(ValueError, match="0 <= n_layers <= 8"):
        stack.truncate(9)


def test_offload_serves_the_first_layers_from_other_arrays(rng):
    layers = [_random_layer(rng, n_freq=1, C=3, ranks=(None, None), dtype=np.float64)
              for _ in range(12)]
    stack = LayerStack()
    for layer in layers[:7]:
        stack.append(layer)
    stored = {name: array.copy() for name, array in stack.arrays(0, 5).items()}
    stack.offload(stored, 5)
    for layer in layers[7:]:
        stack.append(layer)
    assert len(stack) == 12
    assert np.shares_memory(stack[2].expansion.matrix, stored["E.matrix"])
    assert not np.shares_memory(stack[6].expansion.matrix, stored["E.matrix"])
    for a, b in zip(stack, layers):
        _assert_same_layer(a, b)
    joined = stack.arrays(3, 9)["C1.matrix"]
    np.testing.assert_array_equal(joined, [l.compressions[1].matrix for l in layers[3:9]])
    stack.truncate(3)
    assert len(stack) == 3 and len(stack.arrays()["gammas"]) == 3
    with pytest.raises(ValueError, match="Expected stacked array 'E.matrix'"):
        stack.offload({**stored, "E.matrix": stored["E.matrix"][:, :, :2]}, 3)


def test_layout_round_trips_through_from_arrays(rng):
    layers = [_random_layer(rng) for _ in range(3)]
    stack = LayerStack()
    for layer in layers:
        stack.append(layer)
    layout = layer_layout(layers[0])
    assert layout == stack.layout
    assert layout["compressions"] == ["lowrank", "dense"]
    rebuilt = LayerStack.from_arrays(layout, stack.arrays())
    for a, b in zip(rebuilt, layers):
        _assert_same_layer(a, b)
    with pytest.raises(ValueError, match="malformed layer layout|do not match"):
        LayerStack({**layout, "compressions": ["dense", "dense"]})


def test_layers_taken_before_an_offload_keep_their_data(rng):
    layers = [_random_layer(rng) for _ in range(6)]
    stack = LayerStack()
    for layer in layers[:3]:
        stack.append(layer)
    taken = stack[2]
    stack.offload({name: array.copy() for name, array in stack.arrays().items()})
    for layer in layers[3:]:
        stack.append(layer)
    _assert_same_layer(taken, layers[2])
    for a, b in zip(stack, layers):
        _assert_same_layer(a, b)
