"""Figures of the ReduNet experiments (optional extra ``redunet[plot]``).

Every function draws on a given Matplotlib ``ax`` or on a new figure, and
returns the axes it drew on (the figure is ``ax.figure``).  Matplotlib is
imported only when a function is called; without a display the
non-interactive ``Agg`` backend is selected, so figures can always be saved.
"""

import os
import sys

import numpy as np

from ._validation import InputError, MissingDependencyError

__all__ = [
    "plot_history",
    "plot_similarity",
    "plot_features_2d",
    "plot_features_3d",
    "plot_invariance",
]


def _pyplot():
    """``matplotlib.pyplot``, with the Agg backend when no display is available."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "Plotting needs the optional package 'matplotlib' "
            "(install it with `pip install redunet[plot]`)."
        ) from None
    headless = (sys.platform.startswith("linux")
                and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")))
    if headless and "matplotlib.pyplot" not in sys.modules and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _axes(ax, projection=None, figsize=(5.0, 4.0)):
    if ax is not None:
        return ax
    plt = _pyplot()
    fig = plt.figure(figsize=figsize)
    return fig.add_subplot(projection=projection)


def _labels(y, n_samples):
    y = np.asarray(y)
    if y.shape != (n_samples,):
        raise InputError(
            f"Expected 'y' to hold one label per sample ({n_samples}). Got shape {y.shape} instead."
        )
    return y


def plot_history(history, ax=None):
    """Coding rate ``R``, compression ``Rc`` and ``delta_R`` against the layer index.

    Parameters
    ----------
    history : dict of array_like of shape (n_layers + 1,)
        ``ReduNet.history_``: keys ``"rate"``, ``"compression"``, ``"delta_r"``;
        entry 0 is the network's input, entry ``l`` the output of layer ``l``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if omitted.

    Returns
    -------
    matplotlib.axes.Axes
        Three lines, in the order ``R``, ``Rc``, ``delta_R``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from redunet import ReduNet
    >>> from redunet.datasets import gaussian_mixture_2d
    >>> from redunet.plot import plot_history
    >>> X, y = gaussian_mixture_2d(n_per_class=20, seed=0)
    >>> net = ReduNet(n_layers=10).fit(X, y)
    >>> ax = plot_history(net.history_)
    >>> rate, compression, delta_r = ax.get_lines()
    >>> bool(np.array_equal(delta_r.get_ydata(), net.history_["delta_r"]))
    True
    >>> plt.close(ax.figure)
    """
    missing = [key for key in ("rate", "compression", "delta_r") if key not in history]
    if missing:
        raise InputError(
            f"Expected 'history' to hold the keys 'rate', 'compression' and 'delta_r' "
            f"(ReduNet.history_). Missing {missing}."
        )
    ax = _axes(ax)
    for key, label in (("rate", r"$R$"), ("compression", r"$R_c$"),
                       ("delta_r", r"$\Delta R = R - R_c$")):
        values = np.asarray(history[key], dtype=float)
        ax.plot(np.arange(values.shape[0]), values, label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel("rate (nats)")
    ax.set_title("Rate reduction per layer")
    ax.legend(loc="best")
    return ax


def plot_similarity(Z, y, ax=None, title=None):
    """Heat map of the absolute cosine similarities ``|<z_i, z_k>|`` between samples.

    Parameters
    ----------
    Z : array_like of shape (m, ...)
        Features; every sample is flattened and scaled to unit norm (all-zero
        samples stay zero).
    y : array_like of shape (m,)
        Labels; rows and columns are sorted by class (stable, so samples keep
        their order within a class).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if omitted.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        Holds one ``m x m`` image with values in [0, 1].

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from redunet.plot import plot_similarity
    >>> Z = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]])
    >>> ax = plot_similarity(Z, y=[1, 0, 0])       # rows and columns sorted by class
    >>> np.asarray(ax.get_images()[0].get_array()).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    >>> plt.close(ax.figure)
    """
    Z = np.asarray(Z, dtype=float)
    Z = Z.reshape(Z.shape[0], -1)
    y = _labels(y, Z.shape[0])
    order = np.argsort(y, kind="stable")
    Z = Z[order]
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z = Z / np.where(norms > 0, norms, 1.0)
    similarity = np.abs(Z @ Z.T)
    ax = _axes(ax, figsize=(5.0, 4.4))
    image = ax.imshow(similarity, vmin=0.0, vmax=1.0, cmap="Blues", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    classes, starts = np.unique(y[order], return_index=True)
    ax.set_xticks(starts)
    ax.set_xticklabels([str(c) for c in classes])
    ax.set_yticks(starts)
    ax.set_yticklabels([str(c) for c in classes])
    ax.set_xlabel("sample (sorted by class)")
    if title is not None:
        ax.set_title(title)
    return ax


def _check_points(Z, dim):
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2 or Z.shape[1] != dim:
        raise InputError(f"Expected 'Z' of shape (n_samples, {dim}). Got shape {Z.shape} instead.")
    return Z


def plot_features_2d(Z, y, ax=None):
    """Scatter plot of 2D features, one colour per class, with the unit circle.

    Parameters
    ----------
    Z : array_like of shape (m, 2)
        Features, e.g. of the 2D Gaussian mixture or a vector ReduNet built on it.
    y : array_like of shape (m,)
        Labels; one colour per class.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if omitted.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter collection per class (sorted labels) and one line (the circle).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from redunet.datasets import gaussian_mixture_2d
    >>> from redunet.plot import plot_features_2d
    >>> X, y = gaussian_mixture_2d(n_per_class=10, seed=0)
    >>> ax = plot_features_2d(X, y)
    >>> [len(points.get_offsets()) for points in ax.collections]
    [10, 10]
    >>> plt.close(ax.figure)
    """
    Z = _check_points(Z, 2)
    y = _labels(y, Z.shape[0])
    ax = _axes(ax, figsize=(4.5, 4.5))
    angle = np.linspace(0.0, 2.0 * np.pi, 361)
    ax.plot(np.cos(angle), np.sin(angle), color="0.8", linewidth=1, zorder=0)
    for label in np.unique(y):
        points = Z[y == label]
        ax.scatter(points[:, 0], points[:, 1], s=6, label=str(label))
    ax.set_aspect("equal")
    ax.legend(title="class", loc="best")
    return ax


def plot_features_3d(Z, y, ax=None):
    """Scatter plot of 3D features, one colour per class.

    Parameters
    ----------
    Z : array_like of shape (m, 3)
        Features, e.g. of the 3D Gaussian mixture or a vector ReduNet built on it.
    y : array_like of shape (m,)
        Labels; one colour per class.
    ax : mpl_toolkits.mplot3d.axes3d.Axes3D, optional
        Must be a 3D axes (``projection="3d"``); a new figure is created if omitted.

    Returns
    -------
    mpl_toolkits.mplot3d.axes3d.Axes3D
        One scatter collection per class (sorted labels).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from redunet.datasets import gaussian_mixture_3d
    >>> from redunet.plot import plot_features_3d
    >>> X, y = gaussian_mixture_3d(n_per_class=5, seed=0)
    >>> ax = plot_features_3d(X, y)
    >>> ax.name, len(ax.collections)
    ('3d', 3)
    >>> plt.close(ax.figure)
    """
    Z = _check_points(Z, 3)
    y = _labels(y, Z.shape[0])
    if ax is not None and getattr(ax, "name", None) != "3d":
        raise InputError("Expected 'ax' to be a 3D axes (projection='3d'). Got a 2D axes.")
    ax = _axes(ax, projection="3d", figsize=(5.0, 5.0))
    for label in np.unique(y):
        points = Z[y == label]
        ax.scatter(points[:, 0], points[:, 1], points[:, 2], s=6, label=str(label))
    ax.set_box_aspect((1, 1, 1))
    ax.legend(title="class", loc="best")
    return ax


def plot_invariance(accuracy, shifts=None, reference=None, ax=None):
    """Accuracy on shifted test samples against the shift.

    Parameters
    ----------
    accuracy : array_like of shape (n_shifts,) or (H, W)
        1D: accuracy per cyclic shift (a line); 2D: accuracy per translation
        ``(dy, dx)`` (a heat map, NaN for untested shifts).
    shifts : array_like of shape (n_shifts,), optional
        Shift of every 1D entry (default ``0..n_shifts-1``); unused in 2D.
    reference : float, optional
        Accuracy on the unshifted samples, drawn as a dashed line (1D) or
        named in the title (2D).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if omitted.

    Returns
    -------
    matplotlib.axes.Axes
        1D: the accuracy line (then the reference line if given);
        2D: one ``H x W`` image.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from redunet.plot import plot_invariance
    >>> ax = plot_invariance([0.9, 0.9, 0.8], shifts=[0, 5, 10], reference=0.9)
    >>> accuracy, reference = ax.get_lines()
    >>> accuracy.get_xdata().tolist(), accuracy.get_ydata().tolist()
    ([0, 5, 10], [0.9, 0.9, 0.8])
    >>> plt.close(ax.figure)
    """
    accuracy = np.asarray(accuracy, dtype=float)
    if accuracy.ndim not in (1, 2):
        raise InputError(
            f"Expected 'accuracy' to be 1D (per shift) or 2D (per translation). "
            f"Got shape {accuracy.shape} instead."
        )
    ax = _axes(ax)
    if accuracy.ndim == 1:
        shifts = np.arange(accuracy.shape[0]) if shifts is None else np.asarray(shifts)
        ax.plot(shifts, accuracy, marker=".", label="shifted test set")
        if reference is not None:
            ax.axhline(reference, color="k", linestyle="--", linewidth=1, label="unshifted")
            ax.legend(loc="best")
        ax.set_xlabel("cyclic shift")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Accuracy under cyclic shifts")
        return ax
    image = ax.imshow(accuracy, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
    ax.set_xlabel("dx")
    ax.set_ylabel("dy")
    title = "Accuracy under cyclic translations"
    if reference is not None:
        title += f"\n(unshifted: {reference:.3f})"
    ax.set_title(title)
    return ax
