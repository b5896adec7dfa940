"""Streaming fit: a memory-mapped training set, ``fit(chunk_size=, work_dir=)`` vs ``fit``.

Two settings, training sets written chunk-wise to ``.npy`` files and opened with
``numpy.load(mmap_mode="r")``:

* vector: random Gaussian vectors, d = 784, 10 classes (m = 20000 is 125 MB on disk);
* 1D: random signals ``(m, 20, 200)``, arch ``fourier1d`` (no lift), 10 classes.

Every run is a fresh process: the chunked fit (``chunk_size``, features between layers
in a temporary file in ``work_dir``) reads the memory-mapped file; the in-memory fit
first loads the whole set into memory.  Measured: fit time, peak RSS of the process
(``VmHWM``: includes the pages of the mapped input and of the feature file, which the
kernel can drop at any time), peak *anonymous* memory (``RssAnon`` sampled every
2 ms: what the process really had to allocate), and the largest difference between the
two fits' ``transform`` outputs on new samples (target <= 1e-10).  The grid varies
``m`` at a fixed chunk size and the chunk size at the largest ``m``: the chunked fit's
anonymous memory should follow the chunk size, not ``m``.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (PARAMS, best_of, child_threads_note, cli_main, delta_r_text,  # noqa: E402
                     finish, fmt_bytes, fmt_mb, fmt_time, markdown_table, net_summary,
                     targets_markdown, warm_up)

NAME = "bench_streaming"
HERE = Path(__file__).resolve()
N_CLASSES = 10
CHILD_TIMEOUT = 1200
TOLERANCE = 1e-10


# --------------------------------------------------------------------------- data

def _write_dataset(path, arch, m, seed=0, block=1000):
    """Random training set of ``m`` samples written block-wise to an ``.npy`` file."""
    import numpy as np
    shape = (m, 784) if arch == "vector" else (m, 20, 200)
    X = np.lib.format.open_memmap(path, mode="w+", dtype="float64", shape=shape)
    rng = np.random.default_rng(seed)
    for start in range(0, m, block):
        stop = min(start + block, m)
        X[start:stop] = rng.standard_normal((stop - start,) + shape[1:])
    X.flush()
    del X
    labels = np.random.default_rng(seed + 1).permutation(np.arange(m) % N_CLASSES)
    new = np.random.default_rng(seed + 2).standard_normal((200,) + shape[1:])
    return labels, new


# --------------------------------------------------------------------------- child

def case_fit(probe, arch, data_path, labels_path, new_path, m, chunk_size, n_layers, work_dir):
    """Chunked fit of the memory-mapped file (``chunk_size``) or in-memory fit (None)."""
    import numpy as np
    from redunet import ReduNet

    y = np.load(labels_path)[:m]
    X_new = np.load(new_path)
    if chunk_size is None:
        X = np.array(np.load(data_path, mmap_mode="r")[:m])      # the whole set in memory
    else:
        X = np.load(data_path, mmap_mode="r")[:m]
    warm_up(arch, chunked=True)
    net = ReduNet(arch=arch, n_layers=n_layers, **PARAMS)
    with probe.section("fit", sample=True):
        if chunk_size is None:
            net.fit(X, y)
        else:
            net.fit(X, y, chunk_size=chunk_size, work_dir=work_dir)
    return {**net_summary(net), "data_mb": X.nbytes / 2**20,
            "work_dir_left": sorted(os.listdir(work_dir)) if work_dir else [],
            "arrays": {"features": net.transform(X_new)}}


# --------------------------------------------------------------------------- grid

def _grid(quick):
    if quick:
        return [
            {"arch": "vector", "label": "vector, d = 784", "ms": [2000, 4000], "chunk": 1000,
             "chunks_at_max": [500], "n_layers": 1},
            {"arch": "fourier1d", "label": "1D, (m, 20, 200)", "ms": [1000, 2000], "chunk": 500,
             "chunks_at_max": [250], "n_layers": 1},
        ]
    return [
        {"arch": "vector", "label": "vector, d = 784", "ms": [5000, 10000, 20000],
         "chunk": 1000, "chunks_at_max": [250, 4000], "n_layers": 2},
        {"arch": "fourier1d", "label": "1D, (m, 20, 200)", "ms": [2000, 4000, 8000],
         "chunk": 1000, "chunks_at_max": [250, 4000], "n_layers": 2},
    ]


def run(quick=False, repeat=None, threads=None):
    import numpy as np

    repeat = repeat or 1
    rows, targets = [], []
    with tempfile.TemporaryDirectory(prefix="redunet-bench-stream-") as tmp:
        for setting in _grid(quick):
            arch, m_max = setting["arch"], max(setting["ms"])
            data_path = os.path.join(tmp, f"{arch}-X.npy")
            labels, new = _write_dataset(data_path, arch, m_max)
            labels_path, new_path = (os.path.join(tmp, f"{arch}-{n}.npy")
                                     for n in ("y", "new"))
            np.save(labels_path, labels)
            np.save(new_path, new)
            work_dir = os.path.join(tmp, f"{arch}-work")
            os.makedirs(work_dir)
            runs = [(m, None) for m in setting["ms"]] + [(m, setting["chunk"])
                                                         for m in setting["ms"]]
            runs += [(m_max, c) for c in setting["chunks_at_max"]]
            outputs = {}
            for m, chunk in runs:
                res = best_of(HERE, "case_fit", repeat=repeat, timeout=CHILD_TIMEOUT, arch=arch,
                              data_path=data_path, labels_path=labels_path, new_path=new_path,
                              m=m, chunk_size=chunk, n_layers=setting["n_layers"],
                              work_dir=work_dir if chunk else None)
                outputs[m, chunk] = res["arrays"]["features"]
                fit, r = res["sections"]["fit"], res["result"]
                row = {"setting": setting["label"], "arch": arch, "m": m,
                       "mode": "in memory" if chunk is None else "chunked (memmap + work_dir)",
                       "chunk_size": chunk, **r, **fit, "disk_mb": r["data_mb"],
                       "delta_r": delta_r_text(r)}
                if chunk is not None:
                    row["max_abs_diff"] = float(np.abs(outputs[m, chunk]
                                                       - outputs[m, None]).max())
                    if r["work_dir_left"]:
                        row["note"] = f"files left in work_dir: {r['work_dir_left']}"
                rows.append(row)
                print(f"  {arch} m={m} chunk={chunk}: {fmt_time(fit['wall_s'])}, "
                      f"anon +{fmt_mb(fit['peak_anon_delta_mb'])}", flush=True)
            mine = [r for r in rows if r["arch"] == arch]
            chunked = [r for r in mine if r["chunk_size"] == setting["chunk"]]
            memory = [r for r in mine if r["chunk_size"] is None]
            worst = max(r["max_abs_diff"] for r in mine if r["chunk_size"] is not None)
            targets.append({"target": f"{setting['label']}: chunked fit equals the in-memory "
                                      f"fit (max abs diff of transform <= {TOLERANCE:g})",
                            "value": f"{worst:.1e}", "met": worst <= TOLERANCE})
            growth_m = chunked[-1]["peak_anon_delta_mb"] / chunked[0]["peak_anon_delta_mb"]
            growth_mem = memory[-1]["peak_anon_delta_mb"] / memory[0]["peak_anon_delta_mb"]
            ratio_m = chunked[-1]["m"] / chunked[0]["m"]
            targets.append({
                "target": f"{setting['label']}: chunked fit's peak anonymous memory above start "
                          f"does not grow with m (m x{ratio_m:g} at chunk {setting['chunk']}: "
                          "growth < 1.25x)",
                "value": f"x{growth_m:.2f} (in-memory fit: x{growth_mem:.2f})",
                "met": growth_m < 1.25})
            by_chunk = sorted((r for r in mine if r["m"] == m_max and r["chunk_size"]),
                              key=lambda r: r["chunk_size"])
            for r in by_chunk:
                r["anon_vs_smallest_chunk"] = (r["peak_anon_delta_mb"]
                                               / by_chunk[0]["peak_anon_delta_mb"])

    return finish(NAME, _markdown(rows, targets, quick, repeat), targets, quick=quick,
                  repeat=repeat, threads=threads, params=PARAMS, grid=_grid(quick), rows=rows)


def _markdown(rows, targets, quick, repeat):
    table = markdown_table(rows, [
        ("setting", "setting", None), ("m", "m", "d"), ("data", "disk_mb", fmt_mb),
        ("mode", "mode", None), ("chunk", "chunk_size", "d"), ("layers", "n_layers", "d"),
        ("fit", "wall_s", fmt_time), ("CPU", "cpu_s", fmt_time),
        ("peak RSS (VmHWM)", "peak_rss_mb", fmt_mb),
        ("peak anonymous", "peak_anon_mb", fmt_mb),
        ("anonymous above start", "peak_anon_delta_mb", fmt_mb),
        ("vs smallest chunk", "anon_vs_smallest_chunk", ".2f"),
        ("peak file-backed", "peak_file_mb", fmt_mb),
        ("operators", "operator_bytes", fmt_bytes),
        ("delta_R first -> last", "delta_r", None),
        ("max abs diff of transform vs in memory", "max_abs_diff", ".1e"),
        ("note", "note", None)])
    mode = " (quick mode)" if quick else ""
    return (
        f"### Streaming fit of a memory-mapped training set vs in-memory fit{mode}, "
        f"best of {repeat} fresh process(es)\n\n{table}\n\n"
        "'data' is the training set (on disk for the chunked fit, in memory for the other). "
        "'peak RSS (VmHWM)' is the whole process and counts the pages of the mapped input file "
        "and of the temporary feature file in `work_dir` (page cache, reclaimable: it grows "
        "with m but is not memory the process needs); 'peak anonymous' is sampled `RssAnon`, "
        "the memory the process allocated; 'above start' subtracts the interpreter, "
        "libraries and (in memory) the loaded data. The transform outputs are compared on 200 "
        f"new samples. {child_threads_note().capitalize()}.\n\n"
        + targets_markdown(targets) + "\n")


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
