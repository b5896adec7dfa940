# %% [markdown]
# # ReduNet on Gaussian mixtures: the circle and the sphere
#
# The paper's first experiment. Samples of a few Gaussian classes are projected onto the unit
# circle (2D, two classes) or the unit sphere (3D, three classes) and fed to a **vector
# ReduNet**: every layer is one projected gradient-ascent step on the rate reduction
# $\Delta R = R - R_c$, with operators computed in closed form from the training features
# (no back-propagation).
#
# What to look for:
#
# * after many layers, every class is squeezed onto a **line through the origin** (a 1D subspace;
#   here the samples of a class gather near one point of it), and the lines of different classes
#   are **orthogonal**;
# * layer after layer the compression rate $R_c$ (of each class) falls and $\Delta R$ rises; the
#   coding rate $R$ of all features changes little, because the class means start orthogonal
#   already, so the layers mostly compress (see the notebook `inside_a_layer` for tilted classes,
#   where the expansion has work to do);
# * **new samples** from the same distributions, pushed through the same layers, land on the same
#   lines: the layers are a fixed map, not a memorized embedding.

# %% [markdown]
# ## Parameters
#
# `SMALL = True` in the parameters cell selects a quick run (used by the test-suite); otherwise
# the paper's setting: 500 samples per class, noise 0.1, 2000 layers, $\eta = 0.5$, $\epsilon^2 =
# 0.1$, $\lambda = 500$.

# %% tags=["parameters"]
SMALL = False   # True: the quick run executed by tests/test_notebooks.py

# %%
if SMALL:
    N_PER_CLASS = 50
    N_LAYERS = 50
else:  # the paper's setting
    N_PER_CLASS = 500
    N_LAYERS = 2000
NOISE = 0.1               # standard deviation of the noise around each class mean
ETA, EPS, LMBDA = 0.5, 0.1, 500.0

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from redunet import ReduNet, coding_rate, rate_reduction
from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d
from redunet.experiments import gaussian_experiment
from redunet.plot import plot_features_2d, plot_features_3d, plot_history


def class_lines(Z, y):
    """Unit direction of the line each class lies on: its top right singular vector."""
    return {c: np.linalg.svd(Z[y == c], full_matrices=False)[2][0] for c in np.unique(y)}


def alignment(Z, y, lines):
    """|cos| between every feature and the line of its class (1 = exactly on the line)."""
    return np.array([abs(z @ lines[c]) for z, c in zip(Z, y)])


def line_angles(lines):
    """Angles in degrees between the class lines, taken pairwise."""
    keys = sorted(lines)
    return [np.degrees(np.arccos(min(1.0, abs(lines[a] @ lines[b]))))
            for i, a in enumerate(keys) for b in keys[i + 1:]]


# %% [markdown]
# ## 2D: two classes on the circle
#
# The two means are $e_1$ and $e_2$; every sample is $(\mu_k + 0.1 g) / \|\mu_k + 0.1 g\|$.
# The net is built from the training samples only.

# %%
X2, y2 = gaussian_mixture_2d(n_per_class=N_PER_CLASS, noise=NOISE, seed=0)
start = time.perf_counter()
net2 = ReduNet(arch="vector", n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X2, y2)
print(f"built {net2.n_layers_} layers in {time.perf_counter() - start:.1f} s")
Z2 = net2.transform(X2)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
plot_features_2d(X2, y2, ax=axes[0]).set_title("input features")
plot_features_2d(Z2, y2, ax=axes[1]).set_title(f"after {net2.n_layers_} layers")
fig.tight_layout()

# %% [markdown]
# ### Rates per layer
#
# `net.history_` holds $R$, $R_c$ and $\Delta R$ of the training features with their true labels;
# entry 0 is the input, entry $\ell$ the output of layer $\ell$. The last entry equals what the
# public objective functions give on the transformed features.

# %%
ax = plot_history(net2.history_)
ax.set_title(f"2D mixture: rates over {net2.n_layers_} layers")
ax.figure.tight_layout()

history = net2.history_
print(f"delta_R: input {history['delta_r'][0]:.4f} -> last layer {history['delta_r'][-1]:.4f}")
print(f"R of the final features:       history {history['rate'][-1]:.6f}, "
      f"coding_rate {coding_rate(Z2, eps=EPS):.6f}")
print(f"delta_R of the final features: history {history['delta_r'][-1]:.6f}, "
      f"rate_reduction {rate_reduction(Z2, y2, eps=EPS):.6f}")

# %% [markdown]
# ### New samples land on the same lines
#
# Fresh samples of the same two distributions (another seed) go through the same layers. The
# training features of every class define a line (their top singular direction); we measure the
# $|\cos|$ between each new feature and the line of its class, and the nearest-subspace accuracy.

# %%
X2_new, y2_new = gaussian_mixture_2d(n_per_class=N_PER_CLASS, noise=NOISE, seed=1)
Z2_new = net2.transform(X2_new)
lines2 = class_lines(Z2, y2)
fit_train, fit_new = alignment(Z2, y2, lines2), alignment(Z2_new, y2_new, lines2)
print(f"angle between the class lines: {line_angles(lines2)[0]:.2f} degrees")
print(f"|cos| to the class line, training samples: median {np.median(fit_train):.4f}, "
      f"min {fit_train.min():.4f}")
print(f"|cos| to the class line, new samples:      median {np.median(fit_new):.4f}, "
      f"min {fit_new.min():.4f}")
print(f"accuracy: train {net2.score(X2, y2):.3f}, new samples {net2.score(X2_new, y2_new):.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
plot_features_2d(X2_new, y2_new, ax=axes[0]).set_title("new samples: input")
ax = plot_features_2d(Z2, y2, ax=axes[1])
for c, u in lines2.items():
    ax.plot([-1.1 * u[0], 1.1 * u[0]], [-1.1 * u[1], 1.1 * u[1]], "k:", linewidth=1)
    new = Z2_new[y2_new == c]
    ax.scatter(new[:, 0], new[:, 1], marker="x", s=30, color="k", linewidth=0.8,
               label="new samples" if c == 0 else None)
ax.legend(loc="lower left")
ax.set_title("training features (dots), new samples (x), class lines (dotted)")
fig.tight_layout()

# %% [markdown]
# ## 3D: three classes on the sphere
#
# Same recipe with means $e_1, e_2, e_3$: the three classes end up on three mutually orthogonal
# lines.

# %%
X3, y3 = gaussian_mixture_3d(n_per_class=N_PER_CLASS, noise=NOISE, seed=0)
start = time.perf_counter()
net3 = ReduNet(arch="vector", n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X3, y3)
print(f"built {net3.n_layers_} layers in {time.perf_counter() - start:.1f} s")
Z3 = net3.transform(X3)

fig = plt.figure(figsize=(11, 5))
plot_features_3d(X3, y3, ax=fig.add_subplot(1, 2, 1, projection="3d")).set_title("input")
plot_features_3d(Z3, y3, ax=fig.add_subplot(1, 2, 2, projection="3d")).set_title(
    f"after {net3.n_layers_} layers")
fig.tight_layout()

# %%
ax = plot_history(net3.history_)
ax.set_title(f"3D mixture: rates over {net3.n_layers_} layers")
ax.figure.tight_layout()

# %%
X3_new, y3_new = gaussian_mixture_3d(n_per_class=N_PER_CLASS, noise=NOISE, seed=1)
Z3_new = net3.transform(X3_new)
lines3 = class_lines(Z3, y3)
fit_new = alignment(Z3_new, y3_new, lines3)
print("angles between the class lines (degrees):",
      ", ".join(f"{a:.2f}" for a in line_angles(lines3)))
print(f"|cos| to the class line, new samples: median {np.median(fit_new):.4f}, "
      f"min {fit_new.min():.4f}")
print(f"accuracy: train {net3.score(X3, y3):.3f}, new samples {net3.score(X3_new, y3_new):.3f}")

fig = plt.figure(figsize=(11, 5))
plot_features_3d(X3_new, y3_new, ax=fig.add_subplot(1, 2, 1, projection="3d")).set_title(
    "new samples: input")
ax = plot_features_3d(Z3_new, y3_new, ax=fig.add_subplot(1, 2, 2, projection="3d"))
for u in lines3.values():
    ax.plot(*np.outer([-1.1, 1.1], u).T, "k:", linewidth=1)
ax.set_title("new samples after the layers, class lines (dotted)")
fig.tight_layout()

# %% [markdown]
# ## The same experiments in one call
#
# `redunet.experiments.gaussian_experiment` runs the whole pipeline (it is also behind the
# `redunet experiment` command line) and returns a summary; its "test" set is the fresh sample
# drawn with `seed + 1`, as above.

# %%
keys = ["n_layers_built", "delta_r_first", "delta_r_last", "train_accuracy", "test_accuracy",
        "max_abs_cos_class_means"]
print(f"{'':>24}" + "".join(f"{dim:>12}" for dim in ("2D", "3D")))
summaries = [gaussian_experiment(dim=dim, n_per_class=N_PER_CLASS, noise=NOISE,
                                 n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
             for dim in (2, 3)]
for key in keys:
    print(f"{key:>24}" + "".join(f"{s[key]:>12.4g}" for s in summaries))
