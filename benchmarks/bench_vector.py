"""Thousand-layer vector ReduNet on the 2D Gaussian mixture.

Setting: ``gaussian_mixture_2d`` with 500 samples per class (m = 1000, d = 2, K = 2),
2000 layers, eta 0.5, eps 0.1, lmbda 500.

Variants, each in a fresh process:

* ``library (default backend)``: ``ReduNet(n_layers=2000).fit(X, y)``;
* ``library (backend="numpy")``: the same with the NumPy twins of the numba kernels;
* ``straightforward NumPy``: ``tests/naive.py``'s ``vector_redunet`` (per-layer
  ``np.linalg.inv`` for ``E`` and every ``C_j``, slogdet objective every layer,
  loops over classes, vectorized over samples).

Measured: construction time (``fit``), time per layer (and the first / median / last
layer of ``ReduNet.layer_seconds_``), peak RSS, model size on disk (``net.save``),
final ``delta_R`` and training accuracy, and the largest difference between the
library's and the straightforward final features.

Target: the whole 2000-layer build in < 2 s.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (COLUMNS, PARAMS, best_of, child_threads_note, cli_main,  # noqa: E402
                     delta_r_text, finish, fit_reference, fmt_ratio, fmt_time, markdown_table,
                     net_summary, saved_model_bytes, targets_markdown, warm_up)

NAME = "bench_vector"
HERE = Path(__file__).resolve()


def _data(n_per_class):
    from redunet.datasets import gaussian_mixture_2d
    return gaussian_mixture_2d(n_per_class=n_per_class, noise=0.1, seed=0)


def case_library(probe, n_per_class, n_layers, backend):
    from redunet import ReduNet
    from redunet._config import resolve_backend

    X, y = _data(n_per_class)
    warm_up("vector")
    with probe.section("fit"):
        net = ReduNet(n_layers=n_layers, backend=backend, **PARAMS).fit(X, y)
    return {"backend": resolve_backend(backend), **net_summary(net),
            "train_accuracy": net.score(X, y), "model_file_bytes": saved_model_bytes(net),
            "arrays": {"features": net.transform(X)}}


def case_straightforward(probe, n_per_class, n_layers):
    return fit_reference(probe, "vector_redunet", *_data(n_per_class), n_layers)


def run(quick=False, repeat=None, threads=None):
    import numpy as np

    config = dict(n_per_class=500, n_layers=200 if quick else 2000)
    repeat = repeat or (1 if quick else 3)
    variants = [("library (default backend)", "case_library", {"backend": None}),
                ("library (backend=\"numpy\")", "case_library", {"backend": "numpy"}),
                ("straightforward NumPy", "case_straightforward", {})]
    rows = []
    for label, case, extra in variants:
        res = best_of(HERE, case, repeat=repeat, **config, **extra)
        fit = res["sections"]["fit"]
        rows.append({"variant": label, **res["result"], **fit, "features": res["arrays"]["features"],
                     "per_layer_s": fit["wall_s"] / res["result"]["n_layers"]})
    for row in rows:
        row["ratio_time"] = row["wall_s"] / rows[0]["wall_s"]
        row["max_abs_diff"] = float(np.abs(row["features"] - rows[0]["features"]).max())
        row["delta_r"] = delta_r_text(row)
    for row in rows:
        del row["features"]
    table = markdown_table(rows, [
        ("variant", "variant", None), ("layers", "n_layers", "d"), *COLUMNS["build"],
        ("layer first / median / last", "layer_times", None),
        ("time / library", "ratio_time", fmt_ratio), *COLUMNS["memory"], *COLUMNS["model"],
        ("train acc", "train_accuracy", ".3f"),
        ("max abs diff of features vs library", "max_abs_diff", ".1e")])
    lib = rows[0]
    targets = [{
        "target": f"whole {config['n_layers']}-layer vector build < 2 s"
                  + (" (quick mode: fewer layers than the 2000 of the target)" if quick else ""),
        "value": fmt_time(lib["wall_s"]), "met": lib["wall_s"] < 2.0}]
    markdown = (f"### Vector ReduNet: 2D Gaussian mixture, m = {2 * config['n_per_class']}, "
                f"d = 2, {config['n_layers']} layers (eta 0.5, eps 0.1, lmbda 500), best of "
                f"{repeat} fresh processes\n\n{table}\n\nCPU is user + system time of all "
                f"threads; {child_threads_note()}.\n\n{targets_markdown(targets)}\n")
    return finish(NAME, markdown, targets, quick=quick, repeat=repeat, threads=threads,
                  config=config, rows=rows)


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
