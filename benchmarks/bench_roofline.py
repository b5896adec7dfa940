"""Roofline of the layer's hot path: the machine's peaks, and each workload's flops, bytes, rate.

Peaks, measured in one fresh process: ``dgemm`` (2000 x 2000 float64), ``zgemm``
(1000 x 1000 complex128) and their single-precision twins ``sgemm`` and ``cgemm``
GFLOP/s with 1 and 2 BLAS threads, and a stream-like memory
bandwidth (copy and triad over 256 MB arrays, 1 and 2 threads, GB/s counting every
byte read and written).

Workloads (eta 0.5, eps 0.1, lmbda 500; random data of the stated shapes, balanced
classes, ``seed`` 0):

* ``rot2``: m = 1000 signals of 5 radii x T = 200, ``Lift1D(5, 9)`` -> C = 5, K = 2
  (the appendix's 2-class rotation shape); time per layer of ``fit``;
* ``tra2``: m = 1000 images 1 x 28 x 28, ``Lift2D(5, 9)`` -> C = 5, K = 2 (the
  appendix's 2-class translation shape); time per layer of ``fit``;
* ``rot10``: m = 1000 signals of 15 radii x T = 200, ``Lift1D(20, 5)``, K = 10,
  40 layers; time of the whole ``fit``;
* ``vec``: m = 1000 vectors, d = 784, K = 10; time per layer of ``fit``;
* ``transform-rot``: the paper's rotation net (10 per class, ``Lift1D(20, 5)``, 15
  radii, T = 200, 40 layers), ``transform`` of new signals; time per sample;
* ``transform-tra``: the translation net (10 per class, ``Lift2D(75, 9)``, 28 x 28,
  25 layers, float32), ``transform`` of new images; time per image.

Each workload runs in fresh processes alternately with the checkout of this file
("now") and with the package at a baseline revision ("today", default: the
merge-base of ``HEAD`` and ``main``, extracted with ``git archive``), ``--repeat``
times each; the tables give medians and the ratio today / now from the same run.
Flops and bytes per layer come from :func:`redunet._cost.stacked_layer_cost`: the
work of the form the layer runs in now (column "form": fused kernel, packed
operators or stacked products, docs: Mathematics, "Computing the update"; the
baseline does the stacked products one operator at a time); achieved GFLOP/s and
GB/s are those counts over the measured time, and "% of peak" compares them with
the 2-thread ``zgemm`` rate (complex products) or ``dgemm`` rate (real features, and
the packed form's real products), ``cgemm`` or ``sgemm`` in single precision, and
the 2-thread triad bandwidth.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (REPO_DIR, RESULTS_DIR, base_parser, child_threads_note, cli_main, fmt_mb,  # noqa: E402
                     machine_info, markdown_table, measure, set_child_threads, write_results)

NAME = "bench_roofline"
HERE = Path(__file__).resolve()
PARAMS = dict(eta=0.5, eps=0.1, lmbda=500.0)
CHILD_TIMEOUT = 1800

# name -> (kind, arch, sample shape, lift, K, m, layers (full, quick), dtype, new samples)
WORKLOADS = {
    "rot2": ("fit", "fourier1d", (5, 200), ("1d", 5, 9), 2, 1000, (100, 20), "float64", 0),
    "tra2": ("fit", "fourier2d", (1, 28, 28), ("2d", 5, 9), 2, 1000, (30, 6), "float64", 0),
    "rot10": ("fit", "fourier1d", (15, 200), ("1d", 20, 5), 10, 1000, (40, 8), "float64", 0),
    "vec": ("fit", "vector", (784,), None, 10, 1000, (20, 5), "float64", 0),
    "transform-rot": ("transform", "fourier1d", (15, 200), ("1d", 20, 5), 10, 100, (40, 40),
                      "float64", 400),
    "transform-tra": ("transform", "fourier2d", (1, 28, 28), ("2d", 75, 9), 10, 100, (25, 25),
                      "float32", 200),
}
# Targets of the issues, in seconds per layer (fit) or per sample (transform); rot10: whole fit.
TARGETS = {"rot2": 30 / 3500, "tra2": 90 / 2000, "rot10": 5.0, "vec": 0.100,
           "transform-rot": 0.003, "transform-tra": 0.025}


# --------------------------------------------------------------------------- children

def case_peaks(probe):
    """dgemm/zgemm (and their single-precision twins sgemm/cgemm) GFLOP/s and copy/triad GB/s
    with 1 and 2 threads."""
    import time

    import numba
    import numpy as np
    from threadpoolctl import threadpool_limits

    @numba.njit(parallel=True)
    def triad(a, b, c, s):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True)
    def copy(a, b):
        for i in numba.prange(a.shape[0]):
            a[i] = b[i]

    def best(func, repeat=5):
        func()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            func()
            times.append(time.perf_counter() - start)
        return min(times)

    rng = np.random.default_rng(0)
    out = {}
    a = rng.standard_normal((2000, 2000))
    z = rng.standard_normal((1000, 1000)) + 1j * rng.standard_normal((1000, 1000))
    a32, z32 = a.astype(np.float32), z.astype(np.complex64)
    n = 32 * 2**20                                    # 256 MB per float64 array
    x, y, w = np.ones(n), np.ones(n), np.empty(n)
    with probe.section("peaks"):
        for threads in (1, 2):
            with threadpool_limits(limits=threads, user_api="blas"):
                out[f"dgemm_gflops_{threads}"] = 2 * 2000 ** 3 / best(lambda: a @ a) / 1e9
                out[f"zgemm_gflops_{threads}"] = 8 * 1000 ** 3 / best(lambda: z @ z) / 1e9
                out[f"sgemm_gflops_{threads}"] = 2 * 2000 ** 3 / best(lambda: a32 @ a32) / 1e9
                out[f"cgemm_gflops_{threads}"] = 8 * 1000 ** 3 / best(lambda: z32 @ z32) / 1e9
            numba.set_num_threads(threads)
            out[f"copy_gbs_{threads}"] = 2 * 8 * n / best(lambda: copy(w, x)) / 1e9
            out[f"triad_gbs_{threads}"] = 3 * 8 * n / best(lambda: triad(w, x, y, 3.0)) / 1e9
    return out


def case_workload(probe, name, n_layers):
    """One workload, with the package of the source tree :func:`measure` runs it against."""
    import numpy as np
    import redunet
    from redunet import Lift1D, Lift2D, ReduNet

    kind, arch, shape, lift, K, m, _, dtype, n_new = WORKLOADS[name]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((m,) + tuple(shape))
    y = np.arange(m) % K
    X_new = rng.standard_normal((n_new,) + tuple(shape)) if n_new else None

    def make(layers):
        kw = {}
        if lift is not None:
            kw["lift"] = (Lift1D if lift[0] == "1d" else Lift2D)(lift[1], lift[2], seed=0)
        return ReduNet(arch=arch, n_layers=layers, dtype=dtype, **kw, **PARAMS)

    make(1).fit(X, y)                     # warm-up: compiled kernels of these sizes, FFT plans
    if kind == "fit":
        with probe.section("work"):
            net = make(n_layers).fit(X, y)
        count = net.n_layers_
    else:
        net = make(n_layers).fit(X, y)
        net.transform(X_new[:2])
        with probe.section("work"):
            net.transform(X_new)
        count = n_new
    return {"package": os.path.dirname(redunet.__file__), "count": count,
            "n_layers": net.n_layers_, "delta_r_last": float(net.history_["delta_r"][-1])}


# --------------------------------------------------------------------------- parent

def _baseline_tree(revision, into):
    """Extract ``redunet/`` of ``revision`` into the folder ``into``; returns its full hash."""
    full = subprocess.run(["git", "rev-parse", revision], cwd=REPO_DIR, check=True,
                          capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", full, "redunet"], cwd=REPO_DIR, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return full


def _default_baseline():
    try:
        return subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=REPO_DIR, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "HEAD"


def _cost(name):
    from redunet._cost import stacked_layer_cost
    kind, arch, shape, lift, K, m, _, dtype, n_new = WORKLOADS[name]
    C = lift[1] if lift else shape[0]
    spatial = tuple(shape[1:]) if arch != "vector" else ()
    cost = stacked_layer_cost(arch, m, K, C, spatial, dtype,
                              n_samples=n_new if kind == "transform" else None)
    return cost, arch != "vector"


def run(quick=False, repeat=None, threads=None, baseline=None, only=None):
    set_child_threads(threads)
    repeat = repeat or (1 if quick else 3)
    names = [n for n in WORKLOADS if not only or n in only.split(",")]
    tmp = tempfile.mkdtemp(prefix="redunet-roofline-")
    try:
        revision = _baseline_tree(baseline or _default_baseline(), tmp)
        peaks = measure(HERE, "case_peaks", timeout=CHILD_TIMEOUT)["result"]
        rows = []
        for name in names:
            kind, *_ , layers, dtype, n_new = WORKLOADS[name]
            n_layers = layers[1] if quick else layers[0]
            times = {"today": [], "now": []}
            rss = {"today": 0.0, "now": 0.0}
            for _ in range(repeat):                   # alternate, so both see the same load
                for label, source in (("today", tmp), ("now", None)):
                    res = measure(HERE, "case_workload", timeout=CHILD_TIMEOUT, source=source,
                                  name=name, n_layers=n_layers)
                    section = res["sections"]["work"]
                    times[label].append(section["wall_s"] / res["result"]["count"])
                    rss[label] = max(rss[label], section["peak_rss_mb"])
            cost, complex_ = _cost(name)
            per_unit = {k: statistics.median(v) for k, v in times.items()}
            # Flops and bytes of one unit: a layer (fit) or a sample through all layers.
            if kind == "fit":
                flops, traffic = cost["flops"], cost["bytes"]
            else:
                flops = cost["flops"] * n_layers / n_new
                traffic = cost["bytes"] * n_layers / n_new
            real_products = not complex_ or cost["form"] == "packed"
            gemm = {(True, "float64"): "dgemm", (False, "float64"): "zgemm",
                    (True, "float32"): "sgemm", (False, "float32"): "cgemm"}[real_products, dtype]
            peak_flops = peaks[f"{gemm}_gflops_2"]
            row = {"workload": name, "unit": "layer" if kind == "fit" else "sample",
                   "layers": n_layers, "dtype": dtype, "form": cost["form"],
                   "gflop_per_unit": flops / 1e9,
                   "mb_per_unit": traffic / 2**20, "today_s": per_unit["today"],
                   "now_s": per_unit["now"], "today_all_s": times["today"],
                   "now_all_s": times["now"], "ratio": per_unit["today"] / per_unit["now"],
                   "gflops": flops / per_unit["now"] / 1e9,
                   "gbs": traffic / per_unit["now"] / 1e9,
                   "rss_today_mb": rss["today"], "rss_now_mb": rss["now"]}
            row["pct_flops_peak"] = 100 * row["gflops"] / peak_flops
            row["pct_bw_peak"] = 100 * row["gbs"] / peaks["triad_gbs_2"]
            target = TARGETS[name]
            if name == "rot10":
                row["target"] = f"fit < {target:g} s"
                row["met"] = per_unit["now"] * n_layers < target
            else:
                row["target"] = f"<= {target * 1e3:g} ms/{row['unit']}"
                row["met"] = per_unit["now"] <= target
            rows.append(row)
            print(f"{name}: today {per_unit['today'] * 1e3:.1f} ms, now {per_unit['now'] * 1e3:.1f}"
                  f" ms per {row['unit']} (x{row['ratio']:.2f})", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import datetime
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for row in rows:
        row["measured"] = stamp
    if only:
        # Rerun of some workloads: keep the other rows of the saved results (same baseline).
        saved = RESULTS_DIR / f"{NAME}.json"
        if saved.exists():
            with open(saved) as fh:
                previous = json.load(fh)
            if previous.get("baseline") == revision:
                kept = [r for r in previous["rows"] if r["workload"] not in names]
                rows = sorted(kept + rows, key=lambda r: list(WORKLOADS).index(r["workload"]))
    for row in rows:
        row["today"] = f"{row['today_s'] * 1e3:.1f} ms"
        row["now"] = f"{row['now_s'] * 1e3:.1f} ms"
        row["rss"] = f"{fmt_mb(row['rss_today_mb'])} / {fmt_mb(row['rss_now_mb'])}"
        row["met_text"] = "yes" if row["met"] else "no"
    columns = [("workload", "workload", None), ("per", "unit", None), ("dtype", "dtype", None),
               ("form", "form", None), ("GFLOP", "gflop_per_unit", ".3f"), ("MB moved", "mb_per_unit", ".1f"),
               ("today", "today", None), ("now", "now", None), ("today / now", "ratio", ".2f"),
               ("GFLOP/s", "gflops", ".1f"), ("% flop peak", "pct_flops_peak", ".0f"),
               ("GB/s", "gbs", ".1f"), ("% bw peak", "pct_bw_peak", ".0f"),
               ("peak RSS today / now", "rss", None), ("target", "target", None),
               ("met", "met_text", None)]
    peak_text = "".join(f"{gemm} {peaks[gemm + '_gflops_1']:.0f} / "
                        f"{peaks[gemm + '_gflops_2']:.0f} GFLOP/s, "
                        for gemm in ("dgemm", "zgemm", "sgemm", "cgemm"))
    peak_text += (f"copy {peaks['copy_gbs_1']:.1f} / {peaks['copy_gbs_2']:.1f} GB/s, "
                  f"triad {peaks['triad_gbs_1']:.1f} / {peaks['triad_gbs_2']:.1f} GB/s "
                  "(1 / 2 threads)")
    measured = ", ".join(f"{r['workload']} {r.get('measured', '(earlier run)')}" for r in rows)
    markdown = (f"### Roofline of the layer (median of {repeat} fresh processes each, today = "
                f"`{revision[:10]}`)\n\nMachine peaks: {peak_text}.\n\n"
                + markdown_table(rows, columns)
                + f"\n\nPer layer for fit workloads (rot10: 40 layers, target on the whole fit), "
                  f"per sample through the whole net for transform; {child_threads_note()}. "
                  f"Rows measured at: {measured}.\n")
    targets = [{"target": f"{row['workload']}: {row['target']}"
                          + (" (quick mode: fewer layers)" if quick else ""),
                "value": row["now"] if row["workload"] != "rot10"
                else f"{row['now_s'] * row['layers']:.2f} s", "met": row["met"]}
               for row in rows]
    payload = {"name": NAME, "quick": quick, "repeat": repeat, "baseline": revision,
               "peaks": peaks, "rows": rows, "targets": targets, "threads": threads,
               "markdown": markdown, "machine": machine_info()}
    write_results(NAME, payload)
    return payload


def main():
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=None,
                        help="git revision of the 'today' package (default: merge-base of HEAD "
                             "and main)")
    parser.add_argument("--only", default=None,
                        help="comma-separated workloads (default: all): " + ", ".join(WORKLOADS))
    cli_main(run, __doc__, parser, baseline="baseline", only="only")


if __name__ == "__main__":
    main()
