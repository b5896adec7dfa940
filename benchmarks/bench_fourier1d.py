"""Rotation-invariant setting: 1D shift-invariant ReduNet.

Paper setting, on random Gaussian data shaped like lifted polar MNIST: ``m = 100``
(10 classes x 10), raw signals ``(m, 15, 200)`` (15 radii, T = 200 angles) lifted by
``Lift1D(20, 5)`` to ``C = 20`` channels, 40 layers, eta 0.5, eps 0.1, lmbda 500.

Measured, each variant in a fresh process:

* paper setting: construction time (``fit`` including the lift), time per layer (first /
  median / last of ``ReduNet.layer_seconds_``), peak RSS, model size on disk, and the
  time and peak RSS of ``transform`` on 1000 new samples;
* (a) the library vs a straightforward full-spectrum implementation
  (``tests/naive.py``'s ``full_spectrum_redunet``: ``np.fft.fftn``, a Python loop over
  all T frequencies, ``np.linalg.inv`` per frequency and class, vectorized over samples)
  on the same lifted data;
* (b) the library vs the dense ``(C*T)``-dimensional construction
  (``tests/naive.py``'s ``dense_circulant_redunet``: operators from all cyclic shifts,
  ``np.linalg.inv`` of a 512 x 512 matrix per operator) at ``C = 8``, ``T = 64``.

Both comparisons also report the largest difference between final features.
Targets: >= 10x faster than (a), >= 100x faster than (b).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (COLUMNS, PARAMS, VERSUS_NOTE, best_of, child_threads_note,  # noqa: E402
                     cli_main, delta_r_text, finish, fit_library, fit_reference, fmt_bytes,
                     fmt_ratio, library_vs_reference, markdown_table, net_summary,
                     saved_model_bytes, targets_markdown, warm_up)

NAME = "bench_fourier1d"
HERE = Path(__file__).resolve()


def _data(n_classes, n_per_class, in_channels, length, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_classes * n_per_class, in_channels, length))
    return X, np.repeat(np.arange(n_classes), n_per_class)


def _lifted(data, channels, kernel_size):
    from redunet import Lift1D
    X, y = _data(**data)
    return Lift1D(channels, kernel_size, seed=0).fit_transform(X), y


def case_paper(probe, data, channels, kernel_size, n_layers, n_new):
    """Paper pipeline: ``fit`` with the lift inside, then ``transform`` of new samples."""
    from redunet import Lift1D, ReduNet

    X, y = _data(**data)
    X_new, _ = _data(**{**data, "n_classes": 1, "n_per_class": n_new, "seed": 1})
    warm_up("fourier1d")
    with probe.section("fit"):
        net = ReduNet(arch="fourier1d", n_layers=n_layers, lift=Lift1D(channels, kernel_size, seed=0),
                      **PARAMS).fit(X, y)
    with probe.section("transform"):
        net.transform(X_new)
    return {**net_summary(net), "train_accuracy": net.score(X, y),
            "model_file_bytes": saved_model_bytes(net)}


def case_library(probe, data, channels, kernel_size, n_layers):
    """The library on pre-lifted data (same input as the straightforward variants)."""
    return fit_library(probe, "fourier1d", *_lifted(data, channels, kernel_size), n_layers)


def case_reference(probe, data, channels, kernel_size, n_layers, name):
    """``name`` of ``tests/naive.py`` on the same lifted data."""
    return fit_reference(probe, name, *_lifted(data, channels, kernel_size), n_layers)


def run(quick=False, repeat=None, threads=None):
    n_layers = 5 if quick else 40
    repeat = repeat or (1 if quick else 3)
    paper_data = dict(n_classes=10, n_per_class=10, in_channels=15, length=200)
    small_data = dict(n_classes=10, n_per_class=10, in_channels=15, length=64)

    paper = best_of(HERE, "case_paper", repeat=repeat, data=paper_data, channels=20,
                    kernel_size=5, n_layers=n_layers, n_new=1000)
    res = paper["result"]
    fit, tr = paper["sections"]["fit"], paper["sections"]["transform"]
    paper_rows = [{"step": f"fit ({res['n_layers']} layers, lift included)", **fit},
                  {"step": "transform 1000 new samples", **tr}]
    for row in paper_rows:
        row["per_layer_s"] = row["wall_s"] / res["n_layers"]
    paper_table = markdown_table(paper_rows, [("step", "step", None), *COLUMNS["build"],
                                              *COLUMNS["memory"]])
    paper_summary = (
        f"delta_R {delta_r_text(res)}, train accuracy {res['train_accuracy']:.3f} (random data: "
        f"accuracy is only a sanity figure), operators in memory "
        f"{fmt_bytes(res['operator_bytes'])}, model file {fmt_bytes(res['model_file_bytes'])}. "
        f"Layer times first / median / last: {res['layer_times']}.")

    rows_a = library_vs_reference(HERE, "(a) C=20, T=200", "full spectrum, loop over frequencies, "
                        "np.linalg.inv", dict(data=paper_data, channels=20, kernel_size=5,
                                              n_layers=n_layers), repeat,
                        name="full_spectrum_redunet")
    rows_b = library_vs_reference(HERE, "(b) C=8, T=64", "dense (C*T) = 512, all cyclic shifts, "
                        "np.linalg.inv", dict(data=small_data, channels=8, kernel_size=5,
                                              n_layers=n_layers), repeat,
                        name="dense_circulant_redunet")
    cmp_table = markdown_table(rows_a + rows_b, [
        ("setting", "setting", None), ("variant", "variant", None),
        ("layers", "n_layers", "d"), *COLUMNS["build"], *COLUMNS["memory"],
        *COLUMNS["versus"], ("operators in memory", "operator_bytes", fmt_bytes),
        ("delta_R first -> last", "delta_r", None)])
    ratio_a, ratio_b = rows_a[1]["ratio_time"], rows_b[1]["ratio_time"]
    targets = [
        {"target": ">= 10x faster than the full-spectrum per-frequency loop (a)",
         "value": fmt_ratio(ratio_a), "met": ratio_a >= 10},
        {"target": ">= 100x faster than the dense (C*T)-dimensional construction (b)",
         "value": fmt_ratio(ratio_b), "met": ratio_b >= 100},
    ]
    markdown = (
        f"### 1D shift-invariant ReduNet, paper setting: m = 100 (10 x 10), raw (100, 15, 200) "
        f"random data, Lift1D(20, 5), {n_layers} layers{' (quick mode)' if quick else ''}, "
        f"best of {repeat}\n\n{paper_table}\n\n{paper_summary}\n\n"
        f"### 1D: library vs straightforward versions on the same lifted data, "
        f"{n_layers} layers (library best of {repeat}, straightforward 1 run)\n\n"
        f"{cmp_table}\n\n{VERSUS_NOTE}; {child_threads_note()}.\n\n"
        f"{targets_markdown(targets)}\n")
    return finish(NAME, markdown, targets, quick=quick, repeat=repeat, threads=threads,
                  n_layers=n_layers, paper={"rows": paper_rows, "result": res},
                  comparison_a=rows_a, comparison_b=rows_b)


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
