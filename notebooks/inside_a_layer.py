# %% [markdown]
# # Inside one ReduNet layer
#
# A vector ReduNet layer built from training features $Z$ (rows $z_i$ of unit norm, labels $j$):
#
# * **expansion** $E = \alpha (I + \alpha Z^\top Z)^{-1}$, $\alpha = d / (m \epsilon^2)$: largest
#   along the directions where the features have little energy, so $E z$ pushes $z$ towards the
#   directions the data do not use yet — it **expands** the whole set;
# * **compression** $C_j = \alpha_j (I + \alpha_j Z_j^\top Z_j)^{-1}$ for each class: smallest along
#   the directions class $j$ occupies, so $-C_j z$ removes the part of $z$ off the class's span —
#   it **compresses** the class;
# * **membership** $\pi_j(z) = \mathrm{softmax}_j(-\lambda \|C_j z\|)$: a soft guess of the class of
#   any $z$, so that new samples (without labels) can be pushed too;
# * **update** $z \leftarrow \mathrm{normalize}\big(z + \eta\,(E z - \sum_j \gamma_j \pi_j(z) C_j z)\big)$,
#   with $\gamma_j = m_j / m$.
#
# This notebook draws these pieces on small mixtures on the circle and on the sphere. It writes
# the layer out in a few lines of NumPy, straight from the formulas above (`layer_operators` and
# `apply_operators` below), and checks that a `ReduNet` built with the library gives the same
# features and the same rates. The operators are formed as matrices here because we draw them; the
# library never forms them, it applies Cholesky or low-rank factors (see the "Mathematics" page of
# the documentation).

# %% [markdown]
# ## Parameters
#
# The quick run (`SMALL = True`, injected by the test-suite) uses 50 samples per class, 200 layers
# and coarse grids; the default is 500 samples per class and 2000 layers (as in the paper's
# mixtures) and finer grids.

# %% tags=["parameters"]
SMALL = False   # True: the quick run executed by tests/test_notebooks.py

# %%
if SMALL:
    N_PER_CLASS = 50
    GRID = 61             # points per side of the grid over the plane
    N_LAYERS = 200        # layers of the trajectory plots
    N_ARROWS = 80         # points of the sphere that carry arrows
else:
    N_PER_CLASS = 500
    GRID = 301
    N_LAYERS = 2000
    N_ARROWS = 300
NOISE = 0.1
ETA, EPS, LMBDA = 0.5, 0.1, 500.0

# %%
import matplotlib.pyplot as plt
import numpy as np

from redunet import ReduNet, coding_rate, compression_rate
from redunet.datasets import gaussian_mixture_2d
from redunet.plot import plot_features_2d

np.set_printoptions(precision=4, suppress=True)


def mixture(means, n_per_class, noise, seed):
    """Gaussian classes around the unit vectors ``means``, projected onto the unit sphere.

    The recipe of ``redunet.datasets.gaussian_mixture_2d``, with means of our choice.
    """
    means = np.asarray(means, dtype=float)
    y = np.repeat(np.arange(means.shape[0]), n_per_class)
    X = means[y] + noise * np.random.default_rng(seed).standard_normal((y.size, means.shape[1]))
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def layer_operators(Z, y, eps):
    """E, [C_j] and gamma_j of the layer built from training features Z (m, d) with labels y.

    Each operator is alpha * (I + alpha * Z_s^T Z_s)^{-1} for the rows Z_s of all samples (E)
    or of one class (C_j), with alpha = d / (rows * eps); the matrix is the solution of one
    linear system with the identity as right-hand side.
    """
    d = Z.shape[1]
    identity = np.eye(d)

    def operator(rows):
        alpha = d / (rows.shape[0] * eps)
        return np.linalg.solve(identity + alpha * rows.T @ rows, alpha * identity)

    classes = np.unique(y)
    compressions = [operator(Z[y == c]) for c in classes]
    gammas = np.array([np.mean(y == c) for c in classes])
    return operator(Z), compressions, gammas


def memberships(compressions, Z, lmbda):
    """pi_j(z) = softmax_j(-lmbda * ||C_j z||) for every row z of Z: array (m, K)."""
    norms = np.stack([np.linalg.norm(Z @ C_j, axis=1) for C_j in compressions], axis=1)
    scores = -lmbda * norms
    scores -= scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=1, keepdims=True)


def directions(operators, Z, lmbda):
    """Expansion E z and compression sum_j gamma_j pi_j(z) C_j z, for every row z of Z.

    The operators are symmetric, so ``Z @ M`` applies M to every row of Z.
    """
    E, compressions, gammas = operators
    pi = memberships(compressions, Z, lmbda)
    compress = sum(gamma * pi[:, [j]] * (Z @ C_j)
                   for j, (gamma, C_j) in enumerate(zip(gammas, compressions)))
    return Z @ E, compress


def apply_operators(operators, Z, eta, lmbda):
    """One layer, every row z of Z: z <- normalize(z + eta (E z - sum_j gamma_j pi_j(z) C_j z))."""
    expand, compress = directions(operators, Z, lmbda)
    Z = Z + eta * (expand - compress)
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def tangential(Z, A):
    """Part of every arrow (row of A) orthogonal to its base point z (row of Z, unit norm).

    The radial part is undone by the renormalization; the tangential part is what moves z.
    """
    return A - np.sum(A * Z, axis=1, keepdims=True) * Z


def mean_angles(Z, y):
    """Angles in degrees between the mean directions of the classes, pairwise."""
    means = np.array([Z[y == c].mean(axis=0) for c in np.unique(y)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return [float(np.degrees(np.arccos(np.clip(means[a] @ means[b], -1, 1))))
            for a in range(len(means)) for b in range(a + 1, len(means))]


# %% [markdown]
# ## Why tilted classes
#
# On the paper's circle mixture (means $e_1$ and $e_2$, see the notebook `gaussian_2d_3d`) the two
# classes are already orthogonal: $Z^\top Z \approx \frac{m}{2} I$, so $E$ is nearly a multiple of
# the identity and $E z$ points along $z$ — the renormalization undoes it and only compression is
# left to do. To watch the expansion work, the examples below tilt the class means so that they
# start $60^\circ$ apart.

# %%
X_paper, y_paper = gaussian_mixture_2d(n_per_class=N_PER_CLASS, noise=NOISE, seed=0)
E_paper, _, _ = layer_operators(X_paper, y_paper, EPS)
print("E on the paper's circle mixture:\n", E_paper)

# %% [markdown]
# ## The first layer on the circle
#
# Two classes with means at $0^\circ$ and $60^\circ$. The operators of layer 1 are built from the
# training samples. A `ReduNet` of one layer, built by the library, moves the samples exactly as
# these matrices do, and its `history_` starts with the rates that `coding_rate` and
# `compression_rate` give on the input.

# %%
tilt = np.radians(60)
X, y = mixture([[1, 0], [np.cos(tilt), np.sin(tilt)]], N_PER_CLASS, NOISE, seed=0)
layer = layer_operators(X, y, EPS)
E, C, _ = layer
R, Rc = coding_rate(X, eps=EPS), compression_rate(X, y, eps=EPS)
print(f"R = {R:.4f}, Rc = {Rc:.4f}, delta_R = {R - Rc:.4f}")

one_layer = ReduNet(n_layers=1, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X, y)
gap = np.abs(apply_operators(layer, X, ETA, LMBDA) - one_layer.transform(X)).max()
print(f"max |our layer 1 - ReduNet(n_layers=1).transform| = {gap:.1e}")
print("ReduNet's history_['delta_r'][0] =", round(float(one_layer.history_["delta_r"][0]), 4))
for name, M in [("E", E), ("C_0", C[0]), ("C_1", C[1])]:
    values, vectors = np.linalg.eigh(M)
    angles = np.degrees(np.arctan2(vectors[1], vectors[0])) % 180
    print(f"{name}: eigenvalues {values}, eigenvector directions {angles.round(1)} degrees")

# %% [markdown]
# ### Operators as ellipses
#
# Each operator maps the unit circle to an ellipse whose axes are its eigenvectors scaled by its
# eigenvalues (drawn rescaled). $E$ is longest across the bisector of the two classes, where the
# data are thin; $C_0$ is shortest along class 0's direction and $C_1$ along class 1's.

# %%
angle = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(angle), np.sin(angle)])
fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
for ax, (name, M) in zip(axes, [("$E$", E), ("$C_0$", C[0]), ("$C_1$", C[1])]):
    plot_features_2d(X, y, ax=ax).legend(title="class", loc="lower left")
    values, vectors = np.linalg.eigh(M)
    scale = 1.0 / values.max()
    image = scale * M @ circle
    ax.plot(image[0], image[1], "k-", linewidth=1.5)
    for value, vector in zip(values, vectors.T):
        ax.annotate("", xy=scale * value * vector, xytext=(0, 0),
                    arrowprops=dict(arrowstyle="->", color="k"))
    ax.set_title(f"{name}: image of the unit circle (rescaled)")
fig.tight_layout()

# %% [markdown]
# ### Expansion and compression directions
#
# At points of the unit circle, the tangential part (the part the renormalization keeps) of: the
# expansion $E z$ (left), the membership-weighted compression $-\sum_j \gamma_j \pi_j(z) C_j z$
# (middle), and the whole step $\eta(E z - \sum_j \gamma_j \pi_j(z) C_j z)$ (right). Expansion
# pushes away from the bisector of the classes, towards the empty part of the circle; compression
# pulls every point towards the axis of the class it is assigned to. Arrows are rescaled so that
# the longest one of each panel has length 0.4.

# %%
ring = np.stack([np.cos(angle[::6]), np.sin(angle[::6])], axis=1)
expand, compress = directions(layer, ring, LMBDA)
panels = [("expansion $Ez$", expand, "tab:green"),
          (r"compression $-\sum_j \gamma_j \pi_j C_j z$", -compress, "tab:red"),
          (r"step $\eta(Ez - \sum_j \gamma_j \pi_j C_j z)$", ETA * (expand - compress), "k")]
fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
for ax, (title, arrows, color) in zip(axes, panels):
    plot_features_2d(X, y, ax=ax).legend(title="class", loc="lower left")
    arrows = tangential(ring, arrows)
    arrows *= 0.4 / np.linalg.norm(arrows, axis=1).max()     # longest arrow: 0.4
    ax.quiver(ring[:, 0], ring[:, 1], arrows[:, 0], arrows[:, 1], color=color,
              angles="xy", scale_units="xy", scale=1, width=0.005)
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_title(title + " (tangential part)")
fig.tight_layout()

# %% [markdown]
# ### The membership $\pi_0$ over the plane
#
# $\pi_0(z)$ for every point of a grid: a point is assigned to the class whose compression
# operator shrinks it more. With the paper's $\lambda = 500$ the softmax is nearly a hard
# assignment (left) with a sharp boundary; a small $\lambda$ (right) shows its smooth shape. Since
# $\|C_j z\|$ grows with $\|z\|$ the boundary sharpens away from the origin; the layer only ever
# evaluates it on the unit circle.

# %%
ticks = np.linspace(-1.5, 1.5, GRID)
plane = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
for ax, lmbda in zip(axes, [LMBDA, 5.0]):
    pi0 = memberships(C, plane, lmbda)[:, 0].reshape(GRID, GRID)
    image = ax.imshow(pi0, origin="lower", extent=(-1.5, 1.5, -1.5, 1.5), cmap="coolwarm",
                      vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=r"$\pi_0(z)$")
    ax.plot(*circle, color="0.3", linewidth=0.8)
    for c, marker in [(0, "o"), (1, "^")]:
        ax.scatter(*X[y == c].T, s=6, marker=marker, facecolors="none", edgecolors="k",
                   linewidths=0.5, label=f"class {c}")
    ax.legend(loc="lower left")
    ax.set_title(rf"membership $\pi_0$, $\lambda = {lmbda:g}$")
fig.tight_layout()

# %% [markdown]
# ### One layer, then many
#
# Left: every training sample moved by layer 1 (`apply_operators`: the step, then back onto the
# circle; the moves are magnified). Right: the trajectories of a few samples through all the
# layers, each layer's operators built from the training features at its depth (the forward
# construction, written out); they end where `net.transform` of a `ReduNet` with as many layers
# puts them. Each
# class is compressed within a few dozen layers; pushing the classes apart until they are
# orthogonal takes much longer, because the expansion operator scales like $1/m$ (with
# $\alpha = d / (m \epsilon^2)$, $\|E\| \le \alpha$), so its step per layer is small — which is
# why the paper's mixtures use 2000 layers (200 at the quick size, with 10 times fewer samples).

# %%
Z1 = apply_operators(layer, X, ETA, LMBDA)

picked = np.concatenate([np.flatnonzero(y == c)[:6] for c in (0, 1)])
features, path = X, [X[picked]]
for _ in range(N_LAYERS):            # build a layer from the current features, then apply it
    features = apply_operators(layer_operators(features, y, EPS), features, ETA, LMBDA)
    path.append(features[picked])
path = np.stack(path)                # (n_layers + 1, n_picked, 2)

net = ReduNet(n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X, y)
Z = net.transform(X)
print(f"max |features after {N_LAYERS} layers - net.transform(X)| = "
      f"{np.abs(features - Z).max():.1e}")
print("angle between the class means (degrees): input",
      f"{mean_angles(X, y)[0]:.1f}, after layer 1 {mean_angles(Z1, y)[0]:.1f},",
      f"after {net.n_layers_} layers {mean_angles(Z, y)[0]:.1f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
plot_features_2d(X, y, ax=axes[0]).legend(title="class", loc="lower left")
every = max(1, N_PER_CLASS // 25)                       # about 25 arrows per class
moves = (Z1 - X)[::every]
zoom = 0.3 / np.linalg.norm(moves, axis=1).max()      # the moves are small: magnify them
axes[0].quiver(*X[::every].T, *(zoom * moves).T, angles="xy", scale_units="xy", scale=1,
               width=0.004)
axes[0].set_title(f"layer 1: z -> normalize(z + step), moves x {zoom:.0f}")
plot_features_2d(Z, y, ax=axes[1]).legend(title="class", loc="lower left")
for k in range(path.shape[1]):
    axes[1].plot(path[:, k, 0], path[:, k, 1], "k-", linewidth=0.8)
    axes[1].plot(*path[0, k], "k.", markersize=5)
axes[1].set_title(f"trajectories through {net.n_layers_} layers (dot: start)")
fig.tight_layout()

# %% [markdown]
# ## The first layer on the sphere
#
# Three classes whose means are pairwise $60^\circ$ apart. Left: directions (tangential part,
# unit length) of the expansion $E z$ over the sphere. Middle: directions of the compression
# $-\sum_j \gamma_j \pi_j(z) C_j z$, coloured by the class of largest membership. Right: the sphere
# coloured by that class — the regions the compression operators carve out — with the samples
# (black).
# Only the hemisphere facing the viewer carries arrows.

# %%
means3 = [[1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, 0.5 / np.sqrt(3), np.sqrt(2 / 3)]]
X3, y3 = mixture(means3, N_PER_CLASS, NOISE, seed=0)
layer3 = layer_operators(X3, y3, EPS)
R3, Rc3 = coding_rate(X3, eps=EPS), compression_rate(X3, y3, eps=EPS)
print(f"R = {R3:.4f}, Rc = {Rc3:.4f}, delta_R = {R3 - Rc3:.4f}")
print("eigenvalues of E:  ", np.linalg.eigvalsh(layer3[0]))
for j, C_j in enumerate(layer3[1]):
    print(f"eigenvalues of C_{j}:", np.linalg.eigvalsh(C_j))
net3 = ReduNet(n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X3, y3)
print("angles between the class means (degrees): input",
      np.round(mean_angles(X3, y3), 1), f"-> after {net3.n_layers_} layers",
      np.round(mean_angles(net3.transform(X3), y3), 1))

ELEV, AZIM = 25, 35
view = np.array([np.cos(np.radians(ELEV)) * np.cos(np.radians(AZIM)),
                 np.cos(np.radians(ELEV)) * np.sin(np.radians(AZIM)), np.sin(np.radians(ELEV))])
k = np.arange(N_ARROWS) + 0.5                        # Fibonacci points, evenly over the sphere
polar, azimuth = np.arccos(1 - 2 * k / N_ARROWS), np.pi * (1 + np.sqrt(5)) * k
points = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar),
                   np.cos(polar)], axis=1)
points = points[points @ view > 0]
expand3, compress3 = directions(layer3, points, LMBDA)
owner_at_points = memberships(layer3[1], points, LMBDA).argmax(axis=1)
colours = plt.get_cmap("tab10")

u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 2 * GRID // 3), np.linspace(0, np.pi, GRID // 3))
sphere = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], axis=-1)
owner = memberships(layer3[1], sphere.reshape(-1, 3), LMBDA).argmax(axis=1).reshape(u.shape)

fig = plt.figure(figsize=(16, 5.5))
axes = [fig.add_subplot(1, 3, i + 1, projection="3d") for i in range(3)]
for ax, arrows, colour, title in [
        (axes[0], tangential(points, expand3), "tab:green", "expansion $Ez$"),
        (axes[1], tangential(points, -compress3), colours(owner_at_points),
         r"compression $-\sum_j \gamma_j \pi_j C_j z$")]:
    ax.plot_wireframe(*np.moveaxis(sphere, -1, 0), color="0.85", linewidth=0.3,
                      rstride=max(1, GRID // 30), cstride=max(1, GRID // 15))
    ax.quiver(*points.T, *arrows.T, length=0.15, normalize=True, color=colour, linewidth=1)
    ax.set_title(title + " (tangential directions)")
axes[2].computed_zorder = False                      # draw the samples over the surface
axes[2].plot_surface(*np.moveaxis(sphere, -1, 0), facecolors=colours(owner), linewidth=0,
                     antialiased=False, shade=False, zorder=1)
front = X3 @ view > 0                                # samples on the visible hemisphere
axes[2].scatter(*X3[front].T, s=2, color="k", depthshade=False, zorder=2)
axes[2].set_title(r"class of largest membership $\pi_j$, and the samples")
for ax in axes:
    ax.view_init(elev=ELEV, azim=AZIM)
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
fig.tight_layout()
