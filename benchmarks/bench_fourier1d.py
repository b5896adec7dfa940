"""Rotation-invariant setting: 1D shift-invariant ReduNet (SPEC sections 3, 4, 6).

Paper setting, on random Gaussian data shaped like lifted polar MNIST: ``m = 100``
(10 classes x 10), raw signals ``(m, 15, 200)`` (15 radii, T = 200 angles) lifted by
``Lift1D(20, 5)`` to ``C = 20`` channels, 40 layers, eta 0.5, eps 0.1, lmbda 500.

Measured, each variant in a fresh process:

* paper setting: construction time (``fit`` including the lift), time per layer,
  peak RSS, model size on disk, and the time and peak RSS of ``transform`` on 1000
  new samples;
* (a) the library vs a straightforward full-spectrum implementation
  (:func:`_baselines.full_spectrum_redunet`: ``np.fft.fft``, a Python loop over all
  T frequencies, ``np.linalg.inv`` per frequency and class, vectorized over samples)
  on the same lifted data;
* (b) the library vs the dense ``(C*T)``-dimensional construction
  (:func:`_baselines.dense_circulant_redunet`: operators from all cyclic shifts,
  ``np.linalg.inv`` of a 512 x 512 matrix per operator) at ``C = 8``, ``T = 64``.

Both comparisons also report the largest difference between final features.
Targets: >= 10x faster than (a), >= 100x faster than (b).
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (cli_main, best_of, fmt_bytes, fmt_mb, fmt_ratio, fmt_time,  # noqa: E402
                     child_threads_note, machine_info, markdown_table, set_child_threads,
                     targets_markdown, write_results)

NAME = "bench_fourier1d"
HERE = Path(__file__).resolve()


def _data(n_classes, n_per_class, in_channels, length, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_classes * n_per_class, in_channels, length))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return X, y


def _lifted(data, channels, kernel_size):
    from redunet import Lift1D
    X, y = _data(**data)
    return Lift1D(channels, kernel_size, seed=0).fit_transform(X), y


def _quality(net, history):
    return {"n_layers": net.n_layers_ if net is not None else len(history) - 1,
            "delta_r_first": history[0], "delta_r_last": history[-1]}


def case_paper(probe, data, channels, kernel_size, n_layers, n_new, params):
    """Paper pipeline: ``fit`` with the lift inside, then ``transform`` of new samples."""
    from redunet import Lift1D, ReduNet
    sys.path.insert(0, str(HERE.parent))
    from _common import instrument_layers, layer_time_summary, saved_model_size

    X, y = _data(**data)
    X_new, _ = _data(**{**data, "n_classes": 1, "n_per_class": n_new, "seed": 1})

    def make(n):
        return ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(channels, kernel_size, seed=0),
                       **params)
    make(1).fit(X[:20], y[:20])                        # warm-up: numba cache, FFT plans
    layer_times = instrument_layers()
    with probe.section("fit"):
        net = make(n_layers).fit(X, y)
    with probe.section("transform"):
        net.transform(X_new)
    size, note = saved_model_size(net)
    return {**_quality(net, net.history_["delta_r"]), "train_accuracy": net.score(X, y),
            "operator_bytes": sum(layer.nbytes for layer in net.layers_),
            "model_file_bytes": size, "model_file_note": note,
            **layer_time_summary(layer_times)}


def case_library(probe, data, channels, kernel_size, n_layers, params, features_out):
    """The library on pre-lifted data (same input as the straightforward variants)."""
    import numpy as np
    from redunet import ReduNet
    sys.path.insert(0, str(HERE.parent))
    from _common import instrument_classifier

    Z, y = _lifted(data, channels, kernel_size)
    ReduNet(arch="fourier1d", n_layers=1, **params).fit(Z[:20], y[:20])       # warm-up
    classifier_time = instrument_classifier()
    with probe.section("fit"):
        net = ReduNet(arch="fourier1d", n_layers=n_layers, **params).fit(Z, y)
    np.save(features_out, net.transform(Z))
    return {**_quality(net, net.history_["delta_r"]),
            "operator_bytes": sum(layer.nbytes for layer in net.layers_),
            "classifier_s": classifier_time[0]}


def case_full_spectrum(probe, data, channels, kernel_size, n_layers, params, features_out):
    import numpy as np
    from _baselines import full_spectrum_redunet, model_nbytes

    Z, y = _lifted(data, channels, kernel_size)
    with probe.section("fit"):
        out, layers, history = full_spectrum_redunet(Z, y, int(y.max()) + 1, n_layers, **params)
    np.save(features_out, out)
    return {**_quality(None, history), "operator_bytes": model_nbytes(layers)}


def case_dense(probe, data, channels, kernel_size, n_layers, params, features_out):
    import numpy as np
    from _baselines import dense_circulant_redunet, model_nbytes

    Z, y = _lifted(data, channels, kernel_size)
    with probe.section("fit"):
        out, layers, history = dense_circulant_redunet(Z, y, int(y.max()) + 1, n_layers, **params)
    np.save(features_out, out)
    return {**_quality(None, history), "operator_bytes": model_nbytes(layers)}


def _compare(tmp, label, setting, lib_case, ref_case, kwargs, repeat, ref_repeat):
    """Library vs a straightforward variant on the same data; two rows with ratios."""
    import numpy as np
    rows = []
    for variant, case, rep in (("library", lib_case, repeat), (label, ref_case, ref_repeat)):
        out = os.path.join(tmp, f"{case}-{setting}.npy")
        res = best_of(HERE, case, repeat=rep, features_out=out, **kwargs)
        fit = res["sections"]["fit"]
        rows.append({"setting": setting, "variant": variant, **res["result"], **fit,
                     "per_layer_s": fit["wall_s"] / max(1, res["result"]["n_layers"]),
                     "features": np.load(out)})
    lib, ref = rows
    lib_layers = lib["wall_s"] - lib["classifier_s"]
    for row in rows:
        row["ratio_time"] = row["wall_s"] / lib["wall_s"]
        row["ratio_cpu"] = row["cpu_s"] / max(lib["cpu_s"], 1e-9)
        row["ratio_time_layers"] = (row["wall_s"] - row.get("classifier_s", 0.0)) / lib_layers
        row["ratio_mem"] = row["peak_delta_mb"] / max(lib["peak_delta_mb"], 1e-9)
        row["max_abs_diff"] = float(np.abs(row.pop("features") - lib["features"]).max()) \
            if row is ref else 0.0
    lib.pop("features")
    return rows


def run(quick=False, repeat=None, threads=None):
    set_child_threads(threads)
    params = dict(eta=0.5, eps=0.1, lmbda=500.0)
    n_layers = 5 if quick else 40
    repeat = repeat or (1 if quick else 3)
    paper_data = dict(n_classes=10, n_per_class=10, in_channels=15, length=200)
    small_data = dict(n_classes=10, n_per_class=10, in_channels=15, length=64)

    paper = best_of(HERE, "case_paper", repeat=repeat, data=paper_data, channels=20,
                    kernel_size=5, n_layers=n_layers, n_new=1000, params=params)
    res = paper["result"]
    fit, tr = paper["sections"]["fit"], paper["sections"]["transform"]
    paper_rows = [
        {"step": f"fit ({res['n_layers']} layers, lift included)", **fit,
         "per_layer_s": fit["wall_s"] / res["n_layers"]},
        {"step": "transform 1000 new samples", **tr,
         "per_layer_s": tr["wall_s"] / res["n_layers"]},
    ]
    paper_table = markdown_table(paper_rows, [
        ("step", "step", None), ("time", "wall_s", fmt_time), ("CPU", "cpu_s", fmt_time),
        ("per layer", "per_layer_s", fmt_time), ("peak RSS", "peak_rss_mb", fmt_mb),
        ("peak above start", "peak_delta_mb", fmt_mb)])
    layer_note = ""
    if "layer_first_s" in res:
        layer_note = (f" Layer times first / median / last: {fmt_time(res['layer_first_s'])} / "
                      f"{fmt_time(res['layer_median_s'])} / {fmt_time(res['layer_last_s'])}.")
    paper_summary = (
        f"delta_R {res['delta_r_first']:.4f} -> {res['delta_r_last']:.4f}, train accuracy "
        f"{res['train_accuracy']:.3f} (random data: accuracy is only a sanity figure), "
        f"operators in memory {fmt_bytes(res['operator_bytes'])}, model file "
        + (fmt_bytes(res['model_file_bytes']) if res["model_file_bytes"] is not None
           else f"skipped ({res['model_file_note']})") + "." + layer_note)

    with tempfile.TemporaryDirectory(prefix="redunet-bench-") as tmp:
        rows_a = _compare(tmp, "(a) C=20, T=200", "a", "case_library", "case_full_spectrum",
                          dict(data=paper_data, channels=20, kernel_size=5, n_layers=n_layers,
                               params=params), repeat, 1)
        rows_b = _compare(tmp, "(b) C=8, T=64", "b", "case_library", "case_dense",
                          dict(data=small_data, channels=8, kernel_size=5, n_layers=n_layers,
                               params=params), repeat, 1)
    rows_a[1]["variant"] = "full spectrum, loop over frequencies, np.linalg.inv"
    rows_b[1]["variant"] = "dense (C*T) = 512, all cyclic shifts, np.linalg.inv"
    for row in rows_a:
        row["setting"] = "(a) C=20, T=200"
    for row in rows_b:
        row["setting"] = "(b) C=8, T=64"
    for row in rows_a + rows_b:
        row["delta_r"] = f"{row['delta_r_first']:.4f} -> {row['delta_r_last']:.4f}"
    cmp_table = markdown_table(rows_a + rows_b, [
        ("setting", "setting", None), ("variant", "variant", None),
        ("layers", "n_layers", "d"), ("build", "wall_s", fmt_time),
        ("CPU", "cpu_s", fmt_time),
        ("per layer", "per_layer_s", fmt_time),
        ("of which classifier fit", "classifier_s", fmt_time),
        ("time / library", "ratio_time", fmt_ratio),
        ("time / library, classifier fit excluded", "ratio_time_layers", fmt_ratio),
        ("CPU / library", "ratio_cpu", fmt_ratio),
        ("peak RSS", "peak_rss_mb", fmt_mb), ("peak above start", "peak_delta_mb", fmt_mb),
        ("mem above start / library", "ratio_mem", fmt_ratio),
        ("operators in memory", "operator_bytes", fmt_bytes),
        ("delta_R first -> last", "delta_r", None),
        ("max abs diff of features", "max_abs_diff", ".1e")])

    ratio_a, ratio_b = rows_a[1]["ratio_time"], rows_b[1]["ratio_time"]
    targets = [
        {"target": ">= 10x faster than the full-spectrum per-frequency loop (a)",
         "value": fmt_ratio(ratio_a), "met": ratio_a >= 10},
        {"target": ">= 100x faster than the dense (C*T)-dimensional construction (b)",
         "value": fmt_ratio(ratio_b), "met": ratio_b >= 100},
    ]
    layers_note = " (quick mode)" if quick else ""
    markdown = (
        f"### 1D shift-invariant ReduNet, paper setting: m = 100 (10 x 10), raw (100, 15, 200) "
        f"random data, Lift1D(20, 5), {n_layers} layers{layers_note}, best of {repeat}\n\n"
        f"{paper_table}\n\n{paper_summary}\n\n"
        f"### 1D: library vs straightforward versions on the same lifted data, "
        f"{n_layers} layers (library best of {repeat}, straightforward 1 run)\n\n"
        f"{cmp_table}\n\n"
        "'peak above start' is the peak RSS of the build minus the RSS when it started "
        "(interpreter, libraries and data already loaded). The library's fit also fits the "
        "nearest-subspace classifier, which the straightforward versions do not: the ratio "
        "is given with and without that time; the targets are judged on the plain ratio. "
        "CPU is user + system time of all "
        f"threads; {child_threads_note()}.\n\n"
        f"{targets_markdown(targets)}\n")
    payload = {"name": NAME, "quick": quick, "repeat": repeat, "n_layers": n_layers,
               "params": params, "paper": {"rows": paper_rows, "result": res},
               "comparison_a": rows_a, "comparison_b": rows_b, "targets": targets,
               "threads": threads, "markdown": markdown, "machine": machine_info()}
    write_results(NAME, payload)
    return payload


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
