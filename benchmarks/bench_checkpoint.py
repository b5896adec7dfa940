"""Deep checkpointed builds: cost of checkpointing, open descriptors, model file save and load.

Setting: ``gaussian_mixture_3d(n_per_class=100)`` (m = 300, d = 3, K = 3), 20,000 vector
layers, eta 0.5, eps 0.1, lmbda 500.

Variants of the build, run **interleaved in one process** (rounds of: no checkpoint,
``checkpoint_every=50``, ``checkpoint_every=10``; the minimum over rounds is kept), so the
ratios are taken side by side on a shared machine:

* wall time of ``fit`` and its ratio to the build without checkpoint;
* time spent writing checkpoints, as a fraction of the build without checkpoint -- the
  checkpointing cost, free of the build's own noise: from ``ReduNet.layer_seconds_``, the
  excess of every layer followed by a write over the median layer without one (the
  final write, after the last layer, counted as the median write); and the median
  write times the number of checkpoints, over the same build (on a loaded machine a
  few writes are preempted for whole scheduler ticks of 4 ms);
* descriptors (``/proc/self/fd``) held by the fitted model, on top of those open before.

Then, in a fresh process: a 20,000-layer build at ``checkpoint_every=10``, its resume
(restore and verify every checksum), ``save``, ``load`` (read and memory-mapped), the file
size and the descriptors held by the loaded model.

Targets (issue 11): checkpointing <= 10 % of the build at ``checkpoint_every=50``; the
build at ``checkpoint_every=10`` completes; fitted and ``load(mmap=True)`` models hold
fewer than 64 descriptors.
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (cli_main, finish, fmt_bytes, fmt_time, markdown_table,  # noqa: E402
                     measure, targets_markdown)

NAME = "bench_checkpoint"
HERE = Path(__file__).resolve()


def _descriptors():
    return len(os.listdir("/proc/self/fd"))


def _data():
    from redunet.datasets import gaussian_mixture_3d
    return gaussian_mixture_3d(n_per_class=100, seed=0)


def _write_times(seconds, every):
    """Seconds of every checkpoint write of a build, from its ``layer_seconds_``: the excess
    of each layer followed by a write over the median other layer; the final write (after
    the last layer, outside ``layer_seconds_``) is counted as the median one."""
    import numpy as np
    due = np.arange(every - 1, len(seconds), every)
    excess = np.maximum(seconds[due] - np.median(np.delete(seconds, due)), 0.0)
    return np.append(excess, np.median(excess) if excess.size else 0.0)


def case_interleaved(probe, n_layers, rounds, intervals):
    import shutil
    import time

    import numpy as np
    from redunet import ReduNet

    X, y = _data()
    ReduNet(n_layers=50).fit(X, y)                     # warm-up: numba cache, imports
    runs = {str(every): [] for every in intervals}
    for _ in range(rounds):
        for every in intervals:
            folder = tempfile.mkdtemp(prefix="redunet-ckpt-")
            before = _descriptors()
            start = time.perf_counter()
            net = ReduNet(n_layers=n_layers).fit(
                X, y, checkpoint=None if every is None else folder,
                checkpoint_every=every or 50)
            wall = time.perf_counter() - start
            each = _write_times(net.layer_seconds_, every) if every else [0.0]
            runs[str(every)].append({"wall_s": wall, "write_s": float(sum(each)),
                                     "write_median_s": float(np.median(each)),
                                     "writes": len(each) if every else 0,
                                     "n_layers": net.n_layers_,
                                     "descriptors": _descriptors() - before})
            del net
            shutil.rmtree(folder)
    return {"runs": runs}


def case_files(probe, n_layers, every):
    import numpy as np
    from redunet import ReduNet

    X, y = _data()
    ReduNet(n_layers=50).fit(X, y)
    out = {}
    with tempfile.TemporaryDirectory(prefix="redunet-files-") as tmp:
        folder, path = os.path.join(tmp, "ckpt"), os.path.join(tmp, "model.rdn")
        before = _descriptors()
        with probe.section("fit"):
            net = ReduNet(n_layers=n_layers).fit(X, y, checkpoint=folder, checkpoint_every=every)
        out["fit_descriptors"] = _descriptors() - before
        out["n_layers"] = net.n_layers_
        out["checkpoint_bytes"] = sum(os.path.getsize(os.path.join(folder, f))
                                      for f in os.listdir(folder))
        with probe.section("resume"):
            resumed = ReduNet(n_layers=n_layers).fit(X, y, checkpoint=folder,
                                                     checkpoint_every=every, resume=True)
        out["resume_equal"] = all(np.array_equal(a, resumed.layers_.arrays()[k])
                                  for k, a in net.layers_.arrays().items())
        del resumed
        out.update(_kill_and_resume(net, n_layers, every, os.path.join(tmp, "killed")))
        with probe.section("save"):
            net.save(path)
        out["file_bytes"] = os.path.getsize(path)
        with probe.section("load"):
            loaded = ReduNet.load(path)
        with probe.section("load_mmap"):
            mapped = ReduNet.load(path, mmap=True)
        out["load_mmap_descriptors"] = _descriptors() - before - out["fit_descriptors"]
        out["load_equal"] = all(np.array_equal(a, loaded.layers_.arrays()[k])
                                and np.array_equal(a, mapped.layers_.arrays()[k])
                                for k, a in net.layers_.arrays().items())
        out["operator_bytes"] = net.layers_.nbytes
    return out


def _kill_and_resume(reference, n_layers, every, folder):
    """SIGKILL a build in a child process mid-way, resume it here, compare with ``reference``."""
    import signal
    import subprocess
    import time
    import numpy as np
    from redunet import ReduNet

    script = (f"from redunet import ReduNet\nfrom redunet.datasets import gaussian_mixture_3d\n"
              f"X, y = gaussian_mixture_3d(n_per_class=100, seed=0)\n"
              f"ReduNet(n_layers={n_layers}).fit(X, y, checkpoint={folder!r}, "
              f"checkpoint_every={every})\n")
    child = subprocess.Popen([sys.executable, "-c", script])
    data = os.path.join(folder, "layers.bin")
    target = n_layers // 3 * 2 * 384          # the file grows by doubling; ~a third of the build
    while child.poll() is None and not (os.path.exists(data) and os.path.getsize(data) >= target):
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    X, y = _data()
    start = time.perf_counter()
    resumed = ReduNet(n_layers=n_layers).fit(X, y, checkpoint=folder, checkpoint_every=every,
                                             resume=True)
    seconds = time.perf_counter() - start
    equal = (all(np.array_equal(a, resumed.layers_.arrays()[k])
                 for k, a in reference.layers_.arrays().items())
             and all(np.array_equal(reference.history_[k], resumed.history_[k])
                     for k in reference.history_)
             and np.array_equal(reference.classifier_.bases_[0], resumed.classifier_.bases_[0]))
    return {"killed_returncode": child.returncode, "killed_equal": equal,
            "killed_resume_s": seconds}


def run(quick=False, repeat=None, threads=None):
    import numpy as np

    n_layers = 4000 if quick else 20000
    rounds = repeat or (2 if quick else 5)
    intervals = [None, 50, 10]
    res = measure(HERE, "case_interleaved", n_layers=n_layers, rounds=rounds,
                  intervals=intervals)["result"]["runs"]
    base = min(r["wall_s"] for r in res["None"])
    rows = []
    for every in intervals:
        runs = res[str(every)]
        wall = min(r["wall_s"] for r in runs)
        writes = min(r["write_s"] for r in runs)
        median = min(r["write_median_s"] for r in runs)
        rows.append({"variant": "no checkpoint" if every is None else f"checkpoint_every={every}",
                     "n_layers": runs[0]["n_layers"], "wall_s": wall,
                     "median_wall_s": float(np.median([r["wall_s"] for r in runs])),
                     "ratio": wall / base, "writes": runs[0]["writes"], "write_s": writes,
                     "write_fraction": writes / base, "write_median_s": median,
                     "median_fraction": median * runs[0]["writes"] / base,
                     "descriptors": max(r["descriptors"] for r in runs)})
    files = measure(HERE, "case_files", n_layers=n_layers, every=10)
    f, sections = files["result"], files["sections"]
    file_rows = [
        {"what": "build, checkpoint_every=10", "value": fmt_time(sections["fit"]["wall_s"])},
        {"what": "descriptors held by the fitted model", "value": str(f["fit_descriptors"])},
        {"what": "checkpoint folder size", "value": fmt_bytes(f["checkpoint_bytes"])},
        {"what": "resume (restore, verify, finish)", "value": fmt_time(sections["resume"]["wall_s"])},
        {"what": "resumed layers equal", "value": str(f["resume_equal"])},
        {"what": "build SIGKILLed mid-way (exit status), then resumed",
         "value": f"{f['killed_returncode']}, resumed in {fmt_time(f['killed_resume_s'])}"},
        {"what": "killed-and-resumed equals uninterrupted (layers, history, classifier)",
         "value": str(f["killed_equal"])},
        {"what": "save", "value": fmt_time(sections["save"]["wall_s"])},
        {"what": "model file size", "value": fmt_bytes(f["file_bytes"])},
        {"what": "operators in memory", "value": fmt_bytes(f["operator_bytes"])},
        {"what": "load (read and verify)", "value": fmt_time(sections["load"]["wall_s"])},
        {"what": "load(mmap=True) (map and verify)",
         "value": fmt_time(sections["load_mmap"]["wall_s"])},
        {"what": "descriptors held by the mapped model", "value": str(f["load_mmap_descriptors"])},
        {"what": "loaded layers equal", "value": str(f["load_equal"])},
    ]
    every50 = rows[1]
    targets = [
        {"target": "checkpointing <= 10 % of the build at checkpoint_every=50 (time in writes)",
         "value": f"{100 * every50['write_fraction']:.1f} % (wall ratio {every50['ratio']:.3f})",
         "met": every50["write_fraction"] <= 0.10},
        {"target": f"{n_layers}-layer build at checkpoint_every=10 completes",
         "value": f"{rows[2]['n_layers']} layers", "met": rows[2]["n_layers"] == n_layers},
        {"target": "a build killed mid-way and resumed equals the uninterrupted one bit for bit",
         "value": str(f["killed_equal"]),
         "met": f["killed_equal"] and f["killed_returncode"] == -9},
        {"target": "fitted (checkpointed) and load(mmap=True) models hold < 64 descriptors",
         "value": f"{max(r['descriptors'] for r in rows)} and {f['load_mmap_descriptors']}",
         "met": max(r["descriptors"] for r in rows) < 64 and f["load_mmap_descriptors"] < 64},
    ]
    columns = [("variant", "variant", None), ("layers", "n_layers", "d"),
               ("build (min)", "wall_s", fmt_time), ("build (median)", "median_wall_s", fmt_time),
               ("build / no checkpoint", "ratio", ".3f"), ("checkpoints", "writes", "d"),
               ("time in writes", "write_s", fmt_time),
               ("writes / build without", "write_fraction", ".3f"),
               ("median write", "write_median_s", fmt_time),
               ("median write x checkpoints / build without", "median_fraction", ".3f"),
               ("descriptors held", "descriptors", "d")]
    title = (f"Checkpointed vector builds: m = 300, d = 3, K = 3, {n_layers} layers, "
             f"{rounds} interleaved rounds in one process")
    markdown = (f"### {title}\n\n{markdown_table(rows, columns)}\n\n"
                f"### Files of the {n_layers}-layer model (fresh process)\n\n"
                f"{markdown_table(file_rows, [('', 'what', None), ('', 'value', None)])}\n\n"
                + targets_markdown(targets) + "\n")
    return finish(NAME, markdown, targets, quick=quick, rounds=rounds, n_layers=n_layers,
                  rows=rows, files={"result": f, "sections": sections}, threads=threads)


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
