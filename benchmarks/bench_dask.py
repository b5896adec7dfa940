"""Distributed fit: a dask array the client never holds, on a LocalCluster of 1 and 2 workers.

Setting shaped like the paper's lifted polar signals: ``m`` random signals of shape
``(20, 200)`` (C = 20 channels, T = 200), float64, arch ``fourier1d`` without lift,
10 classes (labels from a seeded generator), eta 0.5, eps 0.1, lmbda 500.  The full
set (m = 60,000: 1.9 GB, and as much again for its spectrum) is generated chunk-wise on
the workers by ``dask.array.random.default_rng(seed)``, so every cluster size fits the
same data.

Each cluster runs in a fresh process: ``distributed.LocalCluster`` with
``processes=True``, ``threads_per_worker=1`` and ``REDUNET_NUM_THREADS=1`` (one core per
worker: BLAS, FFT and redunet's pool single-threaded).  Measured: fit time, the time
of every layer (``ReduNet.layer_seconds_``: from one return of the cluster-side
statistics to the next: operators built on the client, layer applied on the workers,
statistics reduced) and the rest of the fit (input stage and classifier), peak RSS of
every worker and of the client (the harness's memory probe, run in each worker through
``Client.run``), speedup from 1 to 2 workers, ``delta_R``.

From the measured per-worker rate and :func:`redunet._cost.layer_cost`, the script
estimates a 16-machine run of the full setting (m = 60,000, 40 layers): compute per
layer = flops / (16 x per-worker GFLOP/s), plus the per-layer traffic of the reduction
((K + 1) x F x C x C complex128 per worker, statistics up a binary tree and the layer
back) at an assumed network bandwidth.
"""

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (ONE_THREAD, PARAMS, base_parser, best_of, cli_main,  # noqa: E402
                     finish, fmt_bytes, fmt_mb, fmt_ratio, fmt_time, markdown_table,
                     warm_up, worker_probe_read, worker_probe_start)

NAME = "bench_dask"
HERE = Path(__file__).resolve()
CHILD_TIMEOUT = 1800


# --------------------------------------------------------------------------- child

def case_cluster(probe, n_workers, m, channels, length, n_classes, n_layers, chunk, seed):
    """Fit on a LocalCluster of ``n_workers`` one-thread worker processes."""
    import logging

    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    from redunet import ReduNet

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        startup_s = time.perf_counter() - start
        client.run(warm_up, "fourier1d")
        client.run(worker_probe_start)
        X = da.random.default_rng(seed).standard_normal((m, channels, length),
                                                         chunks=(chunk, channels, length))
        y = np.random.default_rng(seed + 1).permutation(np.arange(m) % n_classes)
        with probe.section("fit"):
            net = ReduNet(arch="fourier1d", n_layers=n_layers, **PARAMS).fit(X, y)
        workers = [w for _, w in sorted(client.run(worker_probe_read).items())]
    finally:
        client.close()
        cluster.close()
    return {"n_workers": n_workers, "m": m, "chunk": chunk, "n_chunks": math.ceil(m / chunk),
            "n_layers": net.n_layers_, "startup_s": startup_s,
            "layer_times_s": net.layer_seconds_.tolist(),
            "worker_base_mb": [w["base_rss_mb"] for w in workers],
            "worker_peak_mb": [w["peak_rss_mb"] for w in workers],
            "worker_peak_delta_mb": [w["peak_delta_mb"] for w in workers],
            "worker_cpu_s": [w["cpu_s"] for w in workers],
            "delta_r": net.history_["delta_r"].tolist(),
            "data_gb": m * channels * length * 8 / 1e9,
            "features_gb": m * (length // 2 + 1) * channels * 16 / 1e9}


# --------------------------------------------------------------------------- run

def _estimate(per_worker_gflops, K, C, T, bandwidth_gbps, machines=16, m=60_000, layers=40,
              input_s_per_sample=None):
    """Time of the full setting on ``machines`` one-worker machines, from the cost model."""
    from redunet._cost import layer_cost
    cost = layer_cost("fourier1d", m, K, C, (T,))
    F = cost["n_frequencies"]
    compute = cost["flops"] / (machines * per_worker_gflops * 1e9)
    traffic = (K + 1) * F * C * C * 16                     # bytes per worker, each way
    bandwidth = bandwidth_gbps * 1e9 / 8                    # bytes/s
    depth = math.ceil(math.log2(machines))
    # statistics up a binary tree (depth hops), the layer to every worker from the client
    comm = depth * traffic / bandwidth + machines * traffic / bandwidth
    per_layer = compute + comm
    input_s = (input_s_per_sample * m / machines) if input_s_per_sample else 0.0
    return {"machines": machines, "m": m, "layers": layers, "flops_per_layer": cost["flops"],
            "per_worker_gflops": per_worker_gflops, "compute_per_layer_s": compute,
            "traffic_bytes_per_worker": traffic, "bandwidth_gbps": bandwidth_gbps,
            "tree_depth": depth, "comm_per_layer_s": comm, "per_layer_s": per_layer,
            "input_s": input_s, "total_s": input_s + layers * per_layer,
            "features_per_machine_gb": m * F * C * 16 / machines / 1e9}


def run(quick=False, repeat=None, threads=None, bandwidth_gbps=10.0, m=None, n_layers=None):
    from redunet._cost import layer_cost

    setting = dict(m=m or (6000 if quick else 60_000), channels=20, length=200, n_classes=10,
                   n_layers=n_layers or (2 if quick else 3), chunk=1000 if quick else 2000,
                   seed=0)
    repeat = repeat or 1
    rows = []
    for n_workers in (1, 2):
        res = best_of(HERE, "case_cluster", repeat=repeat, timeout=CHILD_TIMEOUT, env=ONE_THREAD,
                      n_workers=n_workers, **setting)
        r, fit = res["result"], res["sections"]["fit"]
        times = sorted(r["layer_times_s"])
        rows.append({**r, "fit_s": fit["wall_s"], "client_peak_mb": fit["peak_rss_mb"],
                     "input_s": fit["wall_s"] - sum(r["layer_times_s"]),
                     "client_peak_delta_mb": fit["peak_delta_mb"],
                     "layer_median_s": times[len(times) // 2],
                     "worker_peak_max_mb": max(r["worker_peak_mb"]),
                     "worker_peaks": ", ".join(fmt_mb(p) for p in r["worker_peak_mb"]),
                     "worker_deltas": ", ".join(fmt_mb(p) for p in r["worker_peak_delta_mb"]),
                     "worker_cpu": ", ".join(f"{c:.1f} s ({c / fit['wall_s']:.0%})"
                                             for c in r["worker_cpu_s"]),
                     "delta_r_text": f"{r['delta_r'][0]:.6g} -> {r['delta_r'][-1]:.6g}"})
        print(f"  {n_workers} worker(s): fit {fmt_time(fit['wall_s'])}, per layer "
              f"{fmt_time(rows[-1]['layer_median_s'])}", flush=True)
    one, two = rows
    flops = layer_cost("fourier1d", setting["m"], setting["n_classes"], setting["channels"],
                       (setting["length"],))["flops"]
    for row in rows:
        row["speedup_fit"] = one["fit_s"] / row["fit_s"]
        row["speedup_layer"] = one["layer_median_s"] / row["layer_median_s"]
        row["gflops"] = flops / row["layer_median_s"] / 1e9
        row["gflops_per_worker"] = row["gflops"] / row["n_workers"]
    delta_r_diff = max(abs(a - b) for a, b in zip(one["delta_r"], two["delta_r"]))
    estimate = _estimate(one["gflops_per_worker"], setting["n_classes"], setting["channels"],
                         setting["length"], bandwidth_gbps,
                         input_s_per_sample=one["input_s"] / setting["m"])
    markdown = _markdown(rows, setting, estimate, delta_r_diff, flops, quick, repeat)
    return finish(NAME, markdown, quick=quick, repeat=repeat, threads=threads, params=PARAMS,
                  setting=setting, rows=rows, delta_r_max_diff_1_vs_2_workers=delta_r_diff,
                  flops_per_layer=flops, estimate_16_machines=estimate)


def _markdown(rows, setting, est, delta_r_diff, flops, quick, repeat):
    table = markdown_table(rows, [
        ("workers", "n_workers", "d"), ("m", "m", "d"), ("chunks", "n_chunks", "d"),
        ("layers", "n_layers", "d"), ("cluster start", "startup_s", fmt_time),
        ("fit", "fit_s", fmt_time), ("outside the layers", "input_s", fmt_time),
        ("per layer (median)", "layer_median_s", fmt_time),
        ("speedup fit", "speedup_fit", fmt_ratio), ("speedup per layer", "speedup_layer",
                                                    fmt_ratio),
        ("GFLOP/s per worker", "gflops_per_worker", ".2f"),
        ("CPU per worker (share of fit)", "worker_cpu", None),
        ("peak RSS per worker", "worker_peaks", None),
        ("above worker start", "worker_deltas", None),
        ("client peak RSS", "client_peak_mb", fmt_mb),
        ("client above start", "client_peak_delta_mb", fmt_mb),
        ("delta_R first -> last", "delta_r_text", None)])
    est_rows = [
        {"item": "flops per layer (cost model, m = 60,000)",
         "value": f"{est['flops_per_layer'] / 1e9:.1f} GFLOP"},
        {"item": "per-worker rate (measured, 1 worker, one core)",
         "value": f"{est['per_worker_gflops']:.2f} GFLOP/s"},
        {"item": f"compute per layer on {est['machines']} machines",
         "value": fmt_time(est["compute_per_layer_s"])},
        {"item": "reduction traffic per worker and layer, (K+1) F C^2 complex128",
         "value": fmt_bytes(est["traffic_bytes_per_worker"])},
        {"item": f"communication per layer ({est['tree_depth']} tree hops up + the layer "
                 f"to {est['machines']} workers, {est['bandwidth_gbps']:g} Gbit/s)",
         "value": fmt_time(est["comm_per_layer_s"])},
        {"item": "per layer", "value": fmt_time(est["per_layer_s"])},
        {"item": "input stage (generation + spectrum, scaled from 1 worker)",
         "value": fmt_time(est["input_s"])},
        {"item": f"total, {est['layers']} layers", "value": fmt_time(est["total_s"])},
        {"item": "features held per machine (x2 while a layer is applied)",
         "value": f"{est['features_per_machine_gb']:.2f} GB"},
    ]
    est_table = markdown_table(est_rows, [("estimate", "item", None), ("", "value", None)])
    mode = " (quick mode)" if quick else ""
    return (
        f"### Dask fit on a LocalCluster{mode}: random (m, {setting['channels']}, "
        f"{setting['length']}) signals generated on the workers, fourier1d, "
        f"K = {setting['n_classes']}, best of {repeat}\n\n{table}\n\n"
        f"Data {rows[0]['data_gb']:.2f} GB, its spectrum {rows[0]['features_gb']:.2f} GB, in "
        f"chunks of {setting['chunk']} samples; cost model {flops / 1e9:.1f} GFLOP per layer. "
        "Workers are processes with one thread, one BLAS/FFT/redunet thread each. A layer's "
        "time is `ReduNet.layer_seconds_`: from one statistics result to the next (operators "
        "built on the client, layer applied on the workers, statistics reduced); 'outside the "
        "layers' is the rest of the fit: the input stage (generation, spectrum, first "
        "statistics) and the classifier fit from the scatters. Worker peak RSS is VmHWM of "
        "each worker process from just before the fit (the same probe as every benchmark); "
        "client peak RSS is VmHWM of the client process during fit. A worker's CPU share "
        "well below 100% with 2 workers means it waited (for the client, the other worker, "
        "or a core taken by another process). "
        f"Largest difference of delta_R between 1 and 2 workers: {delta_r_diff:.1e}.\n\n"
        f"### Estimate: 16 machines, full setting (m = 60,000, 40 layers)\n\n{est_table}\n\n"
        "Compute = flops per layer / (16 x measured per-worker rate); communication assumes "
        "the statistics travel up a binary tree and the layer is sent to every worker from "
        "one place; latency and scheduler overhead (measured here inside the per-layer "
        "time) are not scaled.\n")


def main():
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--bandwidth-gbps", type=float, default=10.0,
                        help="network bandwidth assumed by the 16-machine estimate (Gbit/s)")
    parser.add_argument("--m", type=int, default=None,
                        help="training samples (default: 60000, quick: 6000)")
    parser.add_argument("--layers", type=int, default=None,
                        help="layers to build (default: 3, quick: 2)")
    cli_main(run, __doc__, parser, bandwidth_gbps="bandwidth_gbps", m="m", n_layers="layers")


if __name__ == "__main__":
    main()
