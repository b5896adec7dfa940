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
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (cli_main, best_of, child_threads_note, fmt_bytes, fmt_mb, fmt_time,  # noqa: E402
                     machine_info, markdown_table, set_child_threads, targets_markdown,
                     write_results)

NAME = "bench_streaming"
HERE = Path(__file__).resolve()
PARAMS = dict(eta=0.5, eps=0.1, lmbda=500.0)
N_CLASSES = 10
CHILD_TIMEOUT = 1200
TOLERANCE = 1e-10


# --------------------------------------------------------------------------- memory

def _status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return None


class AnonymousPeak(threading.Thread):
    """Peak of ``RssAnon`` and ``RssFile`` (``/proc/self/status``), sampled every ``interval`` s.

    ``VmHWM`` counts the pages of memory-mapped files too; the anonymous part is what
    the process allocated itself and cannot give back without swapping.
    """

    def __init__(self, interval=2e-3):
        super().__init__(daemon=True)
        self._interval = interval
        self._stop_event = threading.Event()
        self.start_anon = _status_mb("RssAnon")
        self.peak_anon = self.start_anon
        self.peak_file = _status_mb("RssFile")

    def _sample(self):
        self.peak_anon = max(self.peak_anon, _status_mb("RssAnon"))
        self.peak_file = max(self.peak_file, _status_mb("RssFile"))

    def run(self):
        while not self._stop_event.is_set():
            self._sample()
            time.sleep(self._interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        self._sample()
        return {"peak_anon_mb": self.peak_anon, "start_anon_mb": self.start_anon,
                "peak_anon_delta_mb": self.peak_anon - self.start_anon,
                "peak_file_mb": self.peak_file}


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


def _warm_up(arch):
    """Load the numba kernels (from the cache) of the in-memory and the chunked paths."""
    import numpy as np
    from redunet import ReduNet
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 12) if arch == "vector" else (24, 3, 16))
    y = np.arange(24) % 2
    ReduNet(arch=arch, n_layers=1, **PARAMS).fit(X, y)
    ReduNet(arch=arch, n_layers=1, **PARAMS).fit(X, y, chunk_size=10)


# --------------------------------------------------------------------------- child

def case_fit(probe, arch, data_path, labels_path, new_path, m, chunk_size, n_layers, work_dir,
             out_path):
    """Chunked fit of the memory-mapped file (``chunk_size``) or in-memory fit (None)."""
    import numpy as np
    from redunet import ReduNet

    y = np.load(labels_path)[:m]
    X_new = np.load(new_path)
    if chunk_size is None:
        X = np.array(np.load(data_path, mmap_mode="r")[:m])      # the whole set in memory
    else:
        X = np.load(data_path, mmap_mode="r")[:m]
    _warm_up(arch)
    net = ReduNet(arch=arch, n_layers=n_layers, **PARAMS)
    sampler = AnonymousPeak()
    sampler.start()
    with probe.section("fit"):
        if chunk_size is None:
            net.fit(X, y)
        else:
            net.fit(X, y, chunk_size=chunk_size, work_dir=work_dir)
    anon = sampler.stop()
    np.save(out_path, net.transform(X_new))
    return {**anon, "n_layers": net.n_layers_, "data_mb": X.nbytes / 2**20,
            "delta_r_first": net.history_["delta_r"][0],
            "delta_r_last": net.history_["delta_r"][-1],
            "operator_bytes": sum(layer.nbytes for layer in net.layers_),
            "work_dir_left": sorted(os.listdir(work_dir)) if work_dir else []}


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
    set_child_threads(threads)
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
                out_path = os.path.join(tmp, f"{arch}-{m}-{chunk}.npy")
                res = best_of(HERE, "case_fit", repeat=repeat, timeout=CHILD_TIMEOUT, arch=arch,
                              data_path=data_path, labels_path=labels_path, new_path=new_path,
                              m=m, chunk_size=chunk, n_layers=setting["n_layers"],
                              work_dir=work_dir if chunk else None, out_path=out_path)
                outputs[m, chunk] = np.load(out_path)
                fit, r = res["sections"]["fit"], res["result"]
                row = {"setting": setting["label"], "arch": arch, "m": m,
                       "mode": "in memory" if chunk is None else "chunked (memmap + work_dir)",
                       "chunk_size": chunk, **r, **fit,
                       "disk_mb": r["data_mb"],
                       "delta_r": f"{r['delta_r_first']:.4f} -> {r['delta_r_last']:.4f}"}
                if chunk is not None:
                    row["max_abs_diff"] = float(np.abs(outputs[m, chunk]
                                                       - outputs[m, None]).max())
                    if r["work_dir_left"]:
                        row["note"] = f"files left in work_dir: {r['work_dir_left']}"
                rows.append(row)
                print(f"  {arch} m={m} chunk={chunk}: {fmt_time(fit['wall_s'])}, "
                      f"anon +{fmt_mb(r['peak_anon_delta_mb'])}", flush=True)
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

    markdown = _markdown(rows, targets, quick, repeat)
    payload = {"name": NAME, "quick": quick, "repeat": repeat, "threads": threads,
               "params": PARAMS, "grid": _grid(quick), "rows": rows, "targets": targets,
               "markdown": markdown, "machine": machine_info()}
    write_results(NAME, payload)
    return payload


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
