"""Translation-invariant setting: 2D shift-invariant ReduNet.

Paper setting: ``m = 100`` MNIST digits (10 per class, ``load_mnist`` +
``balanced_subset``; random 28 x 28 images if MNIST is unavailable), ``Lift2D(75, 9)``,
25 layers, eta 0.5, eps 0.1, lmbda 500, in float64 and float32.  Measured in fresh
processes: construction time (``fit``, lift included), time per layer (first / median /
last of ``ReduNet.layer_seconds_``), peak RSS, operators in memory, model size on disk
(``net.save``), ``delta_R``, training and test accuracy (200 balanced test digits;
``predict`` time reported).

Comparison at sizes the straightforward version can do: random 1-channel images
lifted by ``Lift2D(C, 5)``, the library vs ``tests/naive.py``'s ``full_spectrum_redunet``
(full ``H x W`` spectrum, dense ``C x C`` operators for every class and frequency,
explicit inverses, Python loop over frequencies, vectorized over samples), on the same
lifted data; ratios of time and of peak memory above the start of the build.

Targets: the paper setting builds in < 5 min with peak memory < 4 GB (float32); the
library is >= 10x faster and needs >= 4x less memory than the straightforward version
at equal size.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (COLUMNS, PARAMS, VERSUS_NOTE, best_of, child_threads_note,  # noqa: E402
                     cli_main, delta_r_text, finish, fit_library, fit_reference, fmt_bytes,
                     fmt_mb, fmt_ratio, fmt_time,
                     library_vs_reference, markdown_table, net_summary,
                     saved_model_bytes, targets_markdown, warm_up)

NAME = "bench_fourier2d"
HERE = Path(__file__).resolve()


def _mnist(n_train_per_class=10, n_test_per_class=20):
    """Balanced MNIST subsets as (m, 1, 28, 28), or random images if MNIST is unavailable."""
    import numpy as np
    try:
        from redunet.datasets import balanced_subset, load_mnist
        X_train, y_train, X_test, y_test = load_mnist()
        X, y = balanced_subset(X_train, y_train, n_train_per_class, seed=0)
        Xt, yt = balanced_subset(X_test, y_test, n_test_per_class, seed=0)
        return X[:, None], y, Xt[:, None], yt, "MNIST (load_mnist + balanced_subset)"
    except (ImportError, OSError, ValueError) as exc:
        rng = np.random.default_rng(0)
        X = rng.random((10 * n_train_per_class, 1, 28, 28))
        Xt = rng.random((10 * n_test_per_class, 1, 28, 28))
        return (X, np.repeat(np.arange(10), n_train_per_class), Xt,
                np.repeat(np.arange(10), n_test_per_class),
                f"random 28x28 images (MNIST unavailable: {exc})")


def _random_lifted(size, channels, kernel_size, n_classes=10, n_per_class=10):
    import numpy as np
    from redunet import Lift2D
    X = np.random.default_rng(0).standard_normal((n_classes * n_per_class, 1, size, size))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return Lift2D(channels, kernel_size, seed=0).fit_transform(X), y


def case_paper(probe, dtype, n_layers, channels, kernel_size):
    from redunet import Lift2D, ReduNet

    X, y, X_test, y_test, source = _mnist()
    warm_up("fourier2d", dtype)
    with probe.section("fit"):
        net = ReduNet(arch="fourier2d", n_layers=n_layers, lift=Lift2D(channels, kernel_size),
                      dtype=dtype, **PARAMS).fit(X, y)
    with probe.section("predict"):
        test_accuracy = net.score(X_test, y_test)
    return {"data": source, "n_test": len(y_test), **net_summary(net),
            "train_accuracy": net.score(X, y), "test_accuracy": test_accuracy,
            "model_file_bytes": saved_model_bytes(net)}


def case_library(probe, size, channels, kernel_size, n_layers):
    return fit_library(probe, "fourier2d", *_random_lifted(size, channels, kernel_size),
                       n_layers)


def case_reference(probe, size, channels, kernel_size, n_layers):
    return fit_reference(probe, "full_spectrum_redunet",
                         *_random_lifted(size, channels, kernel_size), n_layers)


def run(quick=False, repeat=None, threads=None):
    n_layers = 3 if quick else 25
    repeat = repeat or 1
    # (channels, image side, layers) of the library-vs-straightforward grid.
    grid = [(16, 16, 2)] if quick else [(16, 16, 3), (32, 28, 3)]

    paper_rows = []
    for dtype in ("float64", "float32"):
        res = best_of(HERE, "case_paper", repeat=repeat, dtype=dtype, n_layers=n_layers,
                      channels=75, kernel_size=9)
        fit, pred = res["sections"]["fit"], res["sections"]["predict"]
        r = res["result"]
        paper_rows.append({"dtype": dtype, **r, **fit, "per_layer_s": fit["wall_s"] / r["n_layers"],
                           "predict_s": pred["wall_s"], "predict_peak_mb": pred["peak_rss_mb"],
                           "delta_r": delta_r_text(r)})
    paper_table = markdown_table(paper_rows, [
        ("dtype", "dtype", None), ("layers", "n_layers", "d"), *COLUMNS["build"],
        ("layer first / median / last", "layer_times", None), *COLUMNS["memory"],
        *COLUMNS["model"], ("train acc", "train_accuracy", ".3f"),
        ("test acc", "test_accuracy", ".3f"), ("predict 200 test", "predict_s", fmt_time)])

    library_repeat = max(repeat, 1 if quick else 3)
    cmp_rows = []
    for channels, size, layers in grid:
        cmp_rows += library_vs_reference(
            HERE, f"C={channels}, {size}x{size}, {layers} layers",
            "straightforward: full spectrum, dense C x C, inv, loop over frequencies",
            dict(size=size, channels=channels, kernel_size=5, n_layers=layers), library_repeat)
    cmp_table = markdown_table(cmp_rows, [
        ("setting", "setting", None), ("variant", "variant", None), *COLUMNS["build"],
        *COLUMNS["memory"], ("peak RSS / library", "ratio_rss", fmt_ratio), *COLUMNS["versus"],
        ("operators in memory", "operator_bytes", fmt_bytes),
        ("delta_R first -> last", "delta_r", None)])

    f32 = paper_rows[1]
    targets = [
        {"target": "paper setting (float32) builds in < 5 min"
                   + (" (quick mode: fewer layers than the 25 of the target)" if quick else ""),
         "value": fmt_time(f32["wall_s"]), "met": f32["wall_s"] < 300},
        {"target": "paper setting (float32) peak memory < 4 GB",
         "value": fmt_mb(f32["peak_rss_mb"]), "met": f32["peak_rss_mb"] < 4096},
    ]
    for lib, ref in zip(cmp_rows[::2], cmp_rows[1::2]):
        targets.append({"target": f">= 10x faster than the straightforward version "
                                  f"({lib['setting']})",
                        "value": fmt_ratio(ref["ratio_time"]), "met": ref["ratio_time"] >= 10})
        targets.append({"target": f">= 4x less memory than the straightforward version "
                                  f"({lib['setting']}; peak above start of the build)",
                        "value": f"{fmt_ratio(ref['ratio_mem'])} (whole-process peak RSS: "
                                 f"{fmt_ratio(ref['ratio_rss'])})",
                        "met": ref["ratio_mem"] >= 4})
    markdown = (
        f"### 2D shift-invariant ReduNet, paper setting: {paper_rows[0]['data']}, m = 100, "
        f"Lift2D(75, 9), 28x28, {n_layers} layers{' (quick mode)' if quick else ''}, best of "
        f"{repeat}\n\n{paper_table}\n\n"
        f"### 2D: library vs straightforward at equal size (random images, Lift2D(C, 5), "
        f"float64; library best of {library_repeat}, straightforward 1 run)\n\n{cmp_table}\n\n"
        f"{VERSUS_NOTE}; {child_threads_note()}.\n\n{targets_markdown(targets)}\n")
    return finish(NAME, markdown, targets, quick=quick, repeat=repeat, threads=threads,
                  n_layers=n_layers, paper=paper_rows, comparison=cmp_rows)


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
