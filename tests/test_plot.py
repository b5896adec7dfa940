"""Tests of the figures in ``redunet.plot`` (Agg backend, no display needed)."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from redunet import ReduNet  # noqa: E402
from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d  # noqa: E402
from redunet.plot import (plot_features_2d, plot_features_3d, plot_history,  # noqa: E402
                          plot_invariance, plot_similarity)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_three_curves_per_layer():
    X, y = gaussian_mixture_2d(n_per_class=20, noise=0.1, seed=0)
    net = ReduNet(n_layers=6).fit(X, y)
    ax = plot_history(net.history_)
    assert len(ax.lines) == 3
    for line, key in zip(ax.lines, ("rate", "compression", "delta_r")):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(net.n_layers_ + 1))
        np.testing.assert_array_equal(line.get_ydata(), net.history_[key])


def test_plot_history_draws_on_given_axes_and_checks_keys():
    fig, ax = plt.subplots()
    history = {"rate": [1.0, 2.0], "compression": [0.5, 0.4], "delta_r": [0.5, 1.6]}
    assert plot_history(history, ax=ax) is ax
    assert ax.figure is fig
    with pytest.raises(ValueError, match="Missing \\['delta_r'\\]"):
        plot_history({"rate": [1.0], "compression": [0.5]})


def test_plot_similarity_sorts_by_class_and_uses_abs_cosine():
    # Class "b" along e0, class "a" along -e1 (negative: |cos| is shown), interleaved.
    Z = np.zeros((6, 2, 2))
    y = np.array(["b", "a", "b", "a", "b", "a"])
    Z[y == "b", 0, 0] = [1.0, 2.0, 3.0]
    Z[y == "a", 1, 1] = [-1.0, -2.0, -0.5]
    ax = plot_similarity(Z, y, title="features")
    assert ax.get_title() == "features"
    (image,) = ax.images
    S = np.asarray(image.get_array())
    assert S.shape == (6, 6)
    block = np.kron(np.eye(2), np.ones((3, 3)))  # sorted: a a a b b b
    np.testing.assert_allclose(S, block, atol=1e-12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def test_plot_similarity_keeps_zero_samples_zero():
    Z = np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8]])
    S = np.asarray(plot_similarity(Z, [0, 0, 1]).images[0].get_array())
    assert S[1].tolist() == [0.0, 0.0, 0.0] and np.isclose(S[0, 2], 0.6)
    with pytest.raises(ValueError, match="one label per sample"):
        plot_similarity(Z, [0, 1])


def test_plot_features_2d_one_collection_per_class():
    X, y = gaussian_mixture_2d(n_per_class=15, noise=0.1, seed=1)
    ax = plot_features_2d(X, y)
    assert len(ax.collections) == 2
    assert len(ax.lines) == 1  # the unit circle
    for collection, label in zip(ax.collections, (0, 1)):
        np.testing.assert_allclose(collection.get_offsets(), X[y == label])
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):
        plot_features_2d(np.ones((4, 3)), np.zeros(4))


def test_plot_features_3d_needs_3d_axes():
    X, y = gaussian_mixture_3d(n_per_class=10, noise=0.1, seed=2)
    ax = plot_features_3d(X, y)
    assert ax.name == "3d"
    assert len(ax.collections) == np.unique(y).size
    fig = plt.figure()
    ax3 = fig.add_subplot(projection="3d")
    assert plot_features_3d(X, y, ax=ax3) is ax3
    _, ax2 = plt.subplots()
    with pytest.raises(ValueError, match="3D axes"):
        plot_features_3d(X, y, ax=ax2)


def test_plot_invariance_line_and_heat_map():
    accuracy = np.array([0.5, 0.5, 0.5])
    ax = plot_invariance(accuracy, shifts=[0, 4, 8], reference=0.5)
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 4, 8])
    table = np.full((28, 28), np.nan)
    table[0, :5] = 0.7
    ax = plot_invariance(table, reference=0.7)
    assert np.asarray(ax.images[0].get_array()).shape == (28, 28)
    with pytest.raises(ValueError, match="1D .* or 2D"):
        plot_invariance(np.zeros((2, 2, 2)))


def test_figures_can_be_saved(tmp_path):
    ax = plot_similarity(np.eye(3), [0, 1, 2])
    ax.figure.savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
