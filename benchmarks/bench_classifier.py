"""Sweep of ``NearestSubspace(n_components=k)`` on the invariant MNIST settings (docs/math.rst, "Nearest subspace").

Paper sizes, on our own split (seed 0, 10 training and 10 test digits per class
of the MNIST subset):

* rotation: polar grid 15 radii x 200 angles, ``Lift1D(20, 5)``, 40 layers;
* translation: 28 x 28 images, ``Lift2D(75, 9)``, 25 layers.

Each network is built once per precision (float64, float32); its spectral
features of the training set, the test set and ``--shifts`` shifted copies of the
test set (evenly spaced rotations; translations drawn with seed 0) are computed
once by the network, and every ``k`` is evaluated on them:

* ``test_accuracy`` -- invariant nearest subspace (pooled rule) on the test set;
* ``n_changed`` -- test predictions that differ between a shifted copy and the
  original, over all shifted copies;
* ``min_gap`` -- smallest gap between the two best residuals on the test set,
  relative to the sample's squared norm;
* ``family_dims`` -- mean dimension of the class subspaces in the circulant family.

The row ``per-frequency k=C//K`` is the former rule (``C // K`` components at
every frequency) for comparison.  ``k=None`` is the library default.

Usage: ``python benchmarks/bench_classifier.py [--quick] [--shifts N]``; writes
``benchmarks/results/bench_classifier.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_results  # noqa: E402

from redunet import Lift1D, Lift2D, NearestSubspace, ReduNet  # noqa: E402
from redunet._classifier import break_ties, residual_gaps, tie_rtol  # noqa: E402
from redunet.datasets import (balanced_subset, cyclic_shift, load_mnist,  # noqa: E402
                              polar_sample, translate2d)
from redunet._spectrum import weighted_sq_norms  # noqa: E402

NAME = "bench_classifier"
KS = [1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 200, 300, 500, None]


def _data(n_train, n_test, seed=0):
    X_train, y_train, X_test, y_test = load_mnist()
    X_train, y_train = balanced_subset(X_train, y_train, n_train, seed=seed)
    X_test, y_test = balanced_subset(X_test, y_test, n_test, seed=seed)
    return X_train, y_train, X_test, y_test


def _setting(name, dtype, n_shifts, quick):
    n_per = 3 if quick else 10
    images_train, y_train, images_test, y_test = _data(n_per, n_per)
    if name == "rotation":
        n_angles = 40 if quick else 200
        X_train = polar_sample(images_train, n_radii=15, n_angles=n_angles)
        X_test = polar_sample(images_test, n_radii=15, n_angles=n_angles)
        net = ReduNet(arch="fourier1d", lift=Lift1D(20, 5, seed=0), n_layers=5 if quick else 40,
                      dtype=dtype)
        shifts = np.linspace(0, n_angles, n_shifts + 1, endpoint=False).astype(int)[1:]
        shifted = [cyclic_shift(X_test, int(s)) for s in shifts]
        shifts = shifts.tolist()
    else:
        X_train, X_test = images_train[:, None], images_test[:, None]
        net = ReduNet(arch="fourier2d", lift=Lift2D(8 if quick else 75, 9, seed=0),
                      n_layers=3 if quick else 25, dtype=dtype)
        flat = np.random.default_rng(0).choice(np.arange(1, 28 * 28), n_shifts, replace=False)
        shifts = np.stack(np.divmod(flat, 28), axis=1).tolist()
        shifted = [translate2d(X_test, dy, dx) for dy, dx in shifts]
    start = time.perf_counter()
    net.fit(X_train, y_train)
    build = time.perf_counter() - start
    y_index = np.searchsorted(net.classes_, y_train)
    start = time.perf_counter()
    V_train = net._spectral_features(X_train)
    V_test = net._spectral_features(X_test)
    V_shifted = [net._spectral_features(X) for X in shifted]
    features = time.perf_counter() - start
    return dict(net=net, y_index=y_index, y_test=np.searchsorted(net.classes_, y_test),
                V_train=V_train, V_test=V_test, V_shifted=V_shifted, shifts=shifts,
                build_seconds=build, feature_seconds=features)


def _per_frequency_residuals(V_train, y_index, K, weights, k, V):
    """The former rule: k components at every frequency (for comparison)."""
    w = weights.astype(V.real.dtype)
    total = weighted_sq_norms(V, w)
    out = np.empty((V.shape[1], K))
    for j in range(K):
        U = np.linalg.svd(V_train[:, y_index == j].swapaxes(-1, -2), full_matrices=False)[0]
        out[:, j] = np.maximum(total - weighted_sq_norms(np.matmul(V, U[..., :k].conj()), w), 0)
    return out


def _evaluate(residuals_of, s, rtol):
    weights = s["net"].spectrum_.weights
    norms = weighted_sq_norms(s["V_test"], weights.astype(s["V_test"].real.dtype))
    residuals = residuals_of(s["V_test"])
    predicted = break_ties(residuals, norms, rtol)
    changed = sum(int(np.count_nonzero(break_ties(residuals_of(V), norms, rtol) != predicted))
                  for V in s["V_shifted"])
    return {"test_accuracy": float(np.mean(predicted == s["y_test"])), "n_changed": changed,
            "min_gap": float(residual_gaps(residuals, norms).min())}


def run(quick=False, n_shifts=4):
    rows = []
    for name in ("rotation", "translation"):
        for dtype in ("float64", "float32"):
            s = _setting(name, dtype, n_shifts, quick)
            net = s["net"]
            rtol = tie_rtol(s["V_test"].dtype)
            K = net.classes_.shape[0]
            C = s["V_train"].shape[2]
            for k in KS:
                clf = NearestSubspace(k).fit_spectral(s["V_train"], net.spectrum_.weights,
                                                      s["y_index"], net.classes_)
                row = {"setting": name, "dtype": dtype, "rule": "pooled", "k": k,
                       **_evaluate(clf.residuals_spectral, s, rtol),
                       "family_dims": float(clf.n_family_components_.mean())}
                rows.append(row)
                print(json.dumps(row), flush=True)
            k_old = max(1, C // K)
            row = {"setting": name, "dtype": dtype, "rule": "per-frequency", "k": k_old,
                   **_evaluate(lambda V: _per_frequency_residuals(
                       s["V_train"], s["y_index"], K, net.spectrum_.weights, k_old, V), s, rtol),
                   "family_dims": None}
            rows.append(row)
            print(json.dumps(row), flush=True)
            print(json.dumps({"setting": name, "dtype": dtype, "shifts": s["shifts"],
                              "build_seconds": s["build_seconds"],
                              "feature_seconds": s["feature_seconds"]}), flush=True)
    return {"name": NAME, "quick": quick, "n_shifts": n_shifts, "ks": KS, "rows": rows,
            "machine": machine_info()}


def _markdown(payload):
    lines = ["| setting | dtype | rule | k | family dims | test acc | changed | min gap |",
             "|---|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        dims = "-" if r["family_dims"] is None else f"{r['family_dims']:.1f}"
        lines.append(f"| {r['setting']} | {r['dtype']} | {r['rule']} | {r['k']} | {dims} | "
                     f"{r['test_accuracy']:.3f} | {r['n_changed']} | {r['min_gap']:.2e} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--shifts", type=int, default=4, help="shifted copies of the test set")
    args = parser.parse_args()
    payload = run(quick=args.quick, n_shifts=args.shifts)
    payload["markdown"] = _markdown(payload)
    if not args.quick:
        write_results(NAME, payload)
    print(payload["markdown"])


if __name__ == "__main__":
    main()
