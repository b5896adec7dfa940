"""Thousand-layer vector ReduNet on the 2D Gaussian mixture (SPEC section 2).

Setting: ``gaussian_mixture_2d`` with 500 samples per class (m = 1000, d = 2, K = 2),
2000 layers, eta 0.5, eps 0.1, lmbda 500.

Variants, each in a fresh process:

* ``library (default backend)``: ``ReduNet(n_layers=2000).fit(X, y)``;
* ``library (backend="numpy")``: the same with the NumPy twins of the numba kernels;
* ``straightforward NumPy``: :func:`_baselines.vector_redunet` (per-layer
  ``np.linalg.inv`` for ``E`` and every ``C_j``, slogdet objective every layer,
  loops over classes, vectorized over samples).

Measured: construction time (``fit``), time per layer, peak RSS, model size on disk
(``net.save``), final ``delta_R`` and training accuracy, and the largest difference
between the library's and the straightforward final features.

Target: the whole 2000-layer build in < 2 s.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (cli_main, best_of, fmt_bytes, fmt_mb, fmt_ratio, fmt_time,  # noqa: E402
                     child_threads_note, machine_info, markdown_table, set_child_threads,
                     targets_markdown, write_results)

NAME = "bench_vector"
HERE = Path(__file__).resolve()


def _data(n_per_class):
    from redunet.datasets import gaussian_mixture_2d
    return gaussian_mixture_2d(n_per_class=n_per_class, noise=0.1, seed=0)


def case_library(probe, n_per_class, n_layers, eta, eps, lmbda, backend, features_out):
    import numpy as np
    from redunet import ReduNet
    from redunet._config import resolve_backend
    sys.path.insert(0, str(HERE.parent))
    from _common import saved_model_size

    X, y = _data(n_per_class)
    params = dict(arch="vector", eta=eta, eps=eps, lmbda=lmbda, backend=backend)
    ReduNet(n_layers=2, **params).fit(X, y)            # warm-up: numba cache, imports
    with probe.section("fit"):
        net = ReduNet(n_layers=n_layers, **params).fit(X, y)
    size, note = saved_model_size(net)
    np.save(features_out, net.transform(X))
    return {
        "backend": resolve_backend(backend),
        "n_layers": net.n_layers_,
        "delta_r_first": net.history_["delta_r"][0],
        "delta_r_last": net.history_["delta_r"][-1],
        "train_accuracy": net.score(X, y),
        "operator_bytes": sum(layer.nbytes for layer in net.layers_),
        "model_file_bytes": size,
        "model_file_note": note,
    }


def case_straightforward(probe, n_per_class, n_layers, eta, eps, lmbda, features_out):
    import numpy as np
    from _baselines import model_nbytes, vector_redunet

    X, y = _data(n_per_class)
    with probe.section("fit"):
        Z, layers, history = vector_redunet(X, y, 2, n_layers, eta=eta, eps=eps, lmbda=lmbda)
    np.save(features_out, Z)
    return {
        "n_layers": len(layers),
        "delta_r_first": history[0],
        "delta_r_last": history[-1],
        "operator_bytes": model_nbytes(layers),
    }


def run(quick=False, repeat=None, threads=None):
    set_child_threads(threads)
    import numpy as np

    config = dict(n_per_class=500, n_layers=200 if quick else 2000, eta=0.5, eps=0.1,
                  lmbda=500.0)
    repeat = repeat or (1 if quick else 3)
    variants = [
        ("library (default backend)", "case_library", {"backend": None}),
        ("library (backend=\"numpy\")", "case_library", {"backend": "numpy"}),
        ("straightforward NumPy", "case_straightforward", {}),
    ]
    rows, features = [], {}
    with tempfile.TemporaryDirectory(prefix="redunet-bench-") as tmp:
        for label, case, extra in variants:
            out = os.path.join(tmp, f"{len(rows)}.npy")
            res = best_of(HERE, case, repeat=repeat, features_out=out, **config, **extra)
            fit = res["sections"]["fit"]
            row = {"variant": label, **res["result"], **fit,
                   "per_layer_s": fit["wall_s"] / res["result"]["n_layers"]}
            features[label] = np.load(out)
            rows.append(row)
    reference = rows[0]
    for row in rows:
        row["ratio_time"] = row["wall_s"] / reference["wall_s"]
        row["max_abs_diff"] = float(np.abs(features[row["variant"]]
                                           - features[reference["variant"]]).max())

    columns = [
        ("variant", "variant", None),
        ("layers", "n_layers", "d"),
        ("build", "wall_s", fmt_time), ("CPU", "cpu_s", fmt_time),
        ("per layer", "per_layer_s", fmt_time),
        ("time / library", "ratio_time", fmt_ratio),
        ("peak RSS", "peak_rss_mb", fmt_mb),
        ("peak above start", "peak_delta_mb", fmt_mb),
        ("operators in memory", "operator_bytes", fmt_bytes),
        ("model file", "model_file_bytes", fmt_bytes),
        ("delta_R first -> last", "delta_r", None),
        ("train acc", "train_accuracy", ".3f"),
        ("max abs diff of features vs library", "max_abs_diff", ".1e"),
    ]
    for row in rows:
        row["delta_r"] = f"{row['delta_r_first']:.4f} -> {row['delta_r_last']:.4f}"
    table = markdown_table(rows, columns)
    notes = sorted({row["model_file_note"] for row in rows if row.get("model_file_note")})
    lib = rows[0]
    targets = [{
        "target": f"whole {config['n_layers']}-layer vector build < 2 s"
                  + (" (quick mode: fewer layers than the 2000 of the target)" if quick else ""),
        "value": fmt_time(lib["wall_s"]),
        "met": lib["wall_s"] < 2.0,
    }]
    title = (f"Vector ReduNet: 2D Gaussian mixture, m = {2 * config['n_per_class']}, d = 2, "
             f"{config['n_layers']} layers (eta {config['eta']}, eps {config['eps']}, "
             f"lmbda {config['lmbda']}), best of {repeat} fresh processes")
    markdown = f"### {title}\n\n{table}\n"
    if notes:
        markdown += "\n" + "\n".join(f"Note: {n}." for n in notes) + "\n"
    markdown += (f"\nCPU is user + system time of all threads; {child_threads_note()}.\n\n"
                 + targets_markdown(targets) + "\n")
    payload = {"name": NAME, "quick": quick, "repeat": repeat, "config": config, "rows": rows,
               "targets": targets, "threads": threads, "markdown": markdown,
               "machine": machine_info()}
    write_results(NAME, payload)
    return payload


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
