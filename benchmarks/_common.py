"""Shared machinery of the benchmarks: one memory probe, one way to run a variant, tables.

Every measured variant runs in a fresh Python process (:func:`measure`), so that its
peak memory is its own and not the high-water mark of an earlier variant.  Inside the
child, a *case* function ``case(probe, **kwargs) -> dict`` (module level of a benchmark
script) does its setup (data, :func:`warm_up` of the compiled kernels), then runs the
work to be measured inside ``probe.section(name)``; each section records

* ``wall_s``: wall-clock time (``time.perf_counter``);
* ``cpu_s``: user + system CPU time of the process (all threads);
* ``peak_rss_mb``: peak resident set size of the process during the section, and
  ``base_rss_mb`` the RSS at its start; ``peak_delta_mb`` is their difference, what the
  section itself needed on top of what was already there;
* with ``section(name, sample=True)``, also ``peak_anon_mb`` / ``peak_anon_delta_mb``
  (anonymous memory, ``RssAnon``: what the process allocated itself, without the pages
  of memory-mapped files) and ``peak_file_mb`` (file-backed pages, ``RssFile``).

:class:`MemoryProbe` is the one memory measurement: the kernel's ``VmHWM`` reset through
``/proc/self/clear_refs`` at the start of a section (Linux), and a thread sampling
``/proc/self/status`` (or ``psutil`` elsewhere) every 2 ms where that reset is not
available or anonymous memory is asked for.  Dask workers use the same probe
(:func:`worker_probe_start`, :func:`worker_probe_read` through ``Client.run``).

A case may return arrays (e.g. final features) under the key ``"arrays"``: they travel
back through an ``.npz`` file and are compared in the parent.  The straightforward
references the library is timed against are those of the tests, ``tests/naive.py``.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
TESTS_DIR = REPO_DIR / "tests"          # tests/naive.py: the plain references

# Benchmark the checkout this file belongs to, or in a child of :func:`measure` the source
# tree it was asked to run against (named by REDUNET_BENCH_SOURCE).
for _path in (TESTS_DIR, os.environ.get("REDUNET_BENCH_SOURCE", str(REPO_DIR))):
    if str(_path) not in sys.path[:1]:
        sys.path.insert(0, str(_path))

__all__ = ["measure", "best_of", "Probe", "MemoryProbe", "machine_info", "write_results",
           "finish", "markdown_table", "fmt_time", "fmt_mb", "fmt_ratio", "fmt_bytes",
           "saved_model_bytes", "net_summary", "reference_summary", "layer_time_summary",
           "compare", "library_vs_reference", "delta_r_text", "warm_up", "fit_library",
           "fit_reference", "base_parser", "cli_main", "set_child_threads",
           "child_threads_note", "targets_markdown", "PARAMS", "COLUMNS"]

# The hyper-parameters of every benchmark (the paper's).
PARAMS = dict(eta=0.5, eps=0.1, lmbda=500.0)


# --------------------------------------------------------------------------- memory

def _status_mb(*fields):
    """Fields of ``/proc/self/status`` in MiB (None where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            text = fh.read()
    except OSError:
        return [None] * len(fields)
    found = [re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE) for field in fields]
    return [int(m.group(1)) / 1024 if m else None for m in found]


def _rss_mb():
    rss, = _status_mb("VmRSS")
    if rss is not None:
        return rss
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def _reset_hwm():
    """Reset the kernel's peak-RSS counter of this process; False if not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_mb("VmHWM")[0] is not None


class MemoryProbe:
    """Peak memory of this process from :meth:`start` to :meth:`stop`.

    ``sample=False`` uses the kernel's reset peak (``VmHWM``) alone where available;
    otherwise a daemon thread samples the RSS, ``RssAnon`` and ``RssFile`` every
    ``interval`` seconds.
    """

    def __init__(self, sample=False, interval=2e-3):
        self.sample, self.interval = sample, interval
        self._thread = None

    def _read(self):
        rss, anon, file = _status_mb("VmRSS", "RssAnon", "RssFile")
        return {"rss": rss if rss is not None else _rss_mb(), "anon": anon, "file": file}

    def _update(self):
        for key, value in self._read().items():
            if value is not None:
                self.peak[key] = max(self.peak.get(key, value), value)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._update()

    def start(self):
        self.hwm = _reset_hwm()
        self.base = self._read()
        self.peak = {k: v for k, v in self.base.items() if v is not None}
        if self.sample or not self.hwm:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def stop(self):
        """``peak_rss_mb``, ``base_rss_mb``, ``peak_delta_mb`` (and the sampled peaks)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._update()
        peak = _status_mb("VmHWM")[0] if self.hwm else self.peak["rss"]
        out = {"peak_rss_mb": peak, "base_rss_mb": self.base["rss"],
               "peak_delta_mb": max(0.0, peak - self.base["rss"]),
               "memory_method": "VmHWM" if self.hwm else "sampled RSS"}
        if self.sample and "anon" in self.peak:
            out.update(peak_anon_mb=self.peak["anon"], start_anon_mb=self.base["anon"],
                       peak_anon_delta_mb=self.peak["anon"] - self.base["anon"],
                       peak_file_mb=self.peak["file"])
        return out


class Probe:
    """Handed to a case function: times and measures the peak memory of named sections."""

    def __init__(self):
        self.sections = {}

    @contextmanager
    def section(self, name, sample=False):
        import gc
        gc.collect()
        memory = MemoryProbe(sample).start()
        cpu_start, start = os.times(), time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            cpu_end = os.times()
            self.sections[name] = {
                "wall_s": wall,
                "cpu_s": (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system),
                **memory.stop()}


_WORKER_PROBE = {}


def worker_probe_start(interval=0.02):
    """(Through ``Client.run``) start a sampling :class:`MemoryProbe` in a Dask worker."""
    _WORKER_PROBE["probe"] = MemoryProbe(sample=True, interval=interval).start()
    _WORKER_PROBE["cpu"] = sum(os.times()[:2])
    return True


def worker_probe_read():
    """(Through ``Client.run``) the worker's peaks since :func:`worker_probe_start`, and
    its CPU seconds."""
    out = _WORKER_PROBE["probe"].stop()
    out["cpu_s"] = sum(os.times()[:2]) - _WORKER_PROBE["cpu"]
    return out


# --------------------------------------------------------------------------- subprocesses

def _child_main(argv):
    """Entry point of the child process: ``--child <file> <case> <kwargs-json> <out-json>``."""
    module_file, case_name, kwargs_json, out_path = argv
    sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(Path(module_file).stem, module_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # workers of a cluster find its functions by name
    spec.loader.exec_module(module)
    probe = Probe()
    result = getattr(module, case_name)(probe, **json.loads(kwargs_json)) or {}
    arrays = result.pop("arrays", None)
    if arrays:
        import numpy as np
        np.savez(out_path + ".npz", **arrays)
    import resource
    payload = {"sections": probe.sections, "result": result,
               "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "redunet_git": _git_revision()}
    with open(out_path, "w") as fh:
        json.dump(payload, fh, default=_json_default)


def measure(module_file, case, timeout=None, env=None, source=None, **kwargs):
    """Run ``case(probe, **kwargs)`` of ``module_file`` in a fresh interpreter.

    Parameters
    ----------
    module_file : str or Path
        The benchmark script defining ``case`` at module level.
    case : str
        Name of the case function.
    timeout : float or None
        Seconds before the child is killed (``subprocess.TimeoutExpired``).
    env : dict or None
        Extra environment variables for the child.
    source : str or Path or None
        Source tree of ``redunet`` to import in the child (default: this checkout).
    **kwargs
        JSON-serializable keyword arguments of the case.

    Returns
    -------
    dict
        ``{"sections": {name: {...}}, "result": {...}, "process_max_rss_mb": float}``, and
        ``"arrays"`` (a dict of ndarrays) if the case returned some.
    """
    root = Path(source or REPO_DIR).resolve()
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(root), str(BENCH_DIR), str(TESTS_DIR)]
        + [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p])
    child_env.update(_CHILD_ENV)
    child_env["REDUNET_BENCH_SOURCE"] = str(root)
    child_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="redunet-bench-") as tmp:
        out_path = os.path.join(tmp, "result.json")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(module_file), case,
               json.dumps(kwargs), out_path]
        proc = subprocess.run(cmd, env=child_env, timeout=timeout, capture_output=True,
                              text=True, cwd=root)
        if proc.returncode != 0:
            raise RuntimeError(
                f"Benchmark case {case!r} of {module_file} failed (exit {proc.returncode}):\n"
                f"{proc.stderr[-4000:]}")
        with open(out_path) as fh:
            out = json.load(fh)
        if os.path.exists(out_path + ".npz"):
            import numpy as np
            with np.load(out_path + ".npz") as arrays:
                out["arrays"] = dict(arrays)
        return out


def best_of(module_file, case, repeat=1, **kwargs):
    """:func:`measure` ``repeat`` times (each in a fresh process).

    Returns the first run's result with every section's ``wall_s`` replaced by the
    minimum over the runs (``wall_s_all`` keeps all of them) and the peaks by the maximum.
    """
    runs = [measure(module_file, case, **kwargs) for _ in range(max(1, repeat))]
    out = runs[0]
    out["result"]["redunet_git"] = ", ".join(sorted({str(r.get("redunet_git")) for r in runs}))
    for name, section in out["sections"].items():
        walls = [run["sections"][name]["wall_s"] for run in runs]
        section.update(wall_s=min(walls), wall_s_all=walls,
                       cpu_s=min(run["sections"][name]["cpu_s"] for run in runs))
        for key in ("peak_rss_mb", "peak_delta_mb", "peak_anon_mb", "peak_anon_delta_mb"):
            if key in section:
                section[key] = max(run["sections"][name][key] for run in runs)
    return out


# --------------------------------------------------------------------------- in the child

def warm_up(arch, dtype="float64", chunked=False):
    """Load the numba kernels (from the cache) and FFT code of every path of ``arch``: the
    fused small vector kernels, dense and low-rank operators, the fused, packed and stacked
    forms of the update (and the chunked fit)."""
    import numpy as np
    from redunet import Lift1D, Lift2D, ReduNet
    rng = np.random.default_rng(0)
    if arch == "vector":
        nets = [(ReduNet(n_layers=1, dtype=dtype, **PARAMS), rng.standard_normal((12, d)),
                 np.arange(12) % 2) for d in (2, 12, 30)]
    else:
        shape, lift = ((1, 16), Lift1D) if arch == "fourier1d" else ((1, 8, 8), Lift2D)
        # (channels, classes): fused, stacked, and packed (13 channels, 3 dense classes)
        nets = [(ReduNet(arch=arch, n_layers=1, lift=lift(channels, 3), dtype=dtype, **PARAMS),
                 rng.standard_normal((6 * K,) + shape), np.arange(6 * K) % K)
                for channels, K in ((3, 2), (24, 2), (13, 3))]
    for net, X, y in nets:
        net.fit(X, y)
        if chunked:
            net.fit(X, y, chunk_size=5)


def fit_library(probe, arch, Z, y, n_layers):
    """A case's body: ``ReduNet(arch=arch)`` fitted on ``Z`` in section ``"fit"``; its
    :func:`net_summary` and final features."""
    from redunet import ReduNet
    warm_up(arch)
    with probe.section("fit"):
        net = ReduNet(arch=arch, n_layers=n_layers, **PARAMS).fit(Z, y)
    return {**net_summary(net), "arrays": {"features": net.transform(Z)}}


def fit_reference(probe, name, Z, y, n_layers):
    """A case's body: the straightforward ``name`` of ``tests/naive.py`` on ``Z`` in section
    ``"fit"``; its :func:`reference_summary` and final features."""
    import naive
    with probe.section("fit"):
        out, layers, history = getattr(naive, name)(Z, y, n_layers, **PARAMS)
    return {**reference_summary(layers, history), "arrays": {"features": out}}


def saved_model_bytes(net):
    """Bytes of ``net.save(...)`` on disk."""
    with tempfile.TemporaryDirectory(prefix="redunet-model-") as tmp:
        path = os.path.join(tmp, "model.rdn")
        net.save(path)
        return os.path.getsize(path)


def net_summary(net):
    """Layers, first and last ``delta_R``, bytes of the operators, per-layer times."""
    return {"n_layers": net.n_layers_, "delta_r_first": net.history_["delta_r"][0],
            "delta_r_last": net.history_["delta_r"][-1],
            "operator_bytes": net.layers_.nbytes,
            **layer_time_summary(net.layer_seconds_.tolist())}


def reference_summary(layers, history):
    """:func:`net_summary` of a straightforward version from ``tests/naive.py``."""
    return {"n_layers": len(layers), "delta_r_first": history[0], "delta_r_last": history[-1],
            "operator_bytes": _nbytes(layers)}


def _nbytes(obj):
    if hasattr(obj, "nbytes"):
        return obj.nbytes
    return sum(_nbytes(o) for o in obj) if isinstance(obj, (list, tuple)) else 0


def layer_time_summary(times):
    """First, median and last layer times (``ReduNet.layer_seconds_``) and their sum.

    A rising time per layer at fixed sizes points at numerical trouble such as
    subnormal arithmetic.
    """
    if not times:
        return {}
    ordered = sorted(times)
    return {"layer_first_s": times[0], "layer_median_s": ordered[len(ordered) // 2],
            "layer_last_s": times[-1], "layers_s": sum(times),
            "layer_slowest_over_fastest": ordered[-1] / ordered[0], "layer_times_s": times,
            "layer_times": " / ".join(fmt_time(t) for t in (times[0], ordered[len(ordered) // 2],
                                                             times[-1]))}


# --------------------------------------------------------------------------- in the parent

def compare(library, reference):
    """Ratios of a straightforward version's row to the library's, and the largest
    difference of their final features (``"features"`` of both rows, removed)."""
    import numpy as np
    lib_features = library.pop("features")
    for row in (library, reference):
        row["ratio_time"] = row["wall_s"] / library["wall_s"]
        row["ratio_time_layers"] = row.get("layers_s", row["wall_s"]) / library["layers_s"]
        row["ratio_cpu"] = row["cpu_s"] / max(library["cpu_s"], 1e-9)
        row["ratio_mem"] = row["peak_delta_mb"] / max(library["peak_delta_mb"], 1e-9)
        row["ratio_rss"] = row["peak_rss_mb"] / library["peak_rss_mb"]
    reference["max_abs_diff"] = float(np.abs(reference.pop("features") - lib_features).max())
    library["max_abs_diff"] = 0.0
    return [library, reference]


def library_vs_reference(here, setting, variant, kwargs, repeat, **reference):
    """Rows of ``case_library`` (best of ``repeat``) and ``case_reference`` (one run, with
    ``reference`` as extra arguments) of the script ``here`` on equal data, with the ratios
    of :func:`compare`; the cases return their final features in ``"arrays"``."""
    rows = []
    for label, case, rep, extra in (("library", "case_library", repeat, {}),
                                    (variant, "case_reference", 1, reference)):
        res = best_of(here, case, repeat=rep, **kwargs, **extra)
        fit = res["sections"]["fit"]
        rows.append({"setting": setting, "variant": label, **res["result"], **fit,
                     "per_layer_s": fit["wall_s"] / res["result"]["n_layers"],
                     "features": res["arrays"]["features"]})
    rows = compare(*rows)
    for row in rows:
        row["delta_r"] = delta_r_text(row)
    return rows


def delta_r_text(row):
    return f"{row['delta_r_first']:.4f} -> {row['delta_r_last']:.4f}"


# --------------------------------------------------------------------------- machine info

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            match = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.MULTILINE)
        return match.group(1).strip() if match else platform.processor()
    except OSError:
        return platform.processor()


def _git_revision():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_DIR,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "redunet"], cwd=REPO_DIR,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty(redunet/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_info():
    """CPU, memory, library versions and BLAS/OpenMP thread pools."""
    import numpy
    import scipy
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS so threadpoolctl sees it)
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "redunet_git": _git_revision(),
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    try:
        import psutil
        info["cpu_count_physical"] = psutil.cpu_count(logical=False)
        info["memory_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
    except ImportError:
        pass
    try:
        import numba
        info.update(numba=numba.__version__, numba_threads=numba.config.NUMBA_NUM_THREADS)
    except ImportError:
        info["numba"] = None
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [
            {k: pool.get(k) for k in ("user_api", "internal_api", "version", "num_threads",
                                      "threading_layer", "architecture", "prefix")}
            for pool in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    for var in _THREAD_VARS + ("REDUNET_BACKEND",):
        if os.environ.get(var):
            info.setdefault("env", {})[var] = os.environ[var]
    return info


def machine_markdown(info):
    """Short Markdown list of :func:`machine_info`."""
    lines = [
        f"- date: {info['date']}",
        f"- CPU: {info['cpu_model']} ({info.get('cpu_count_physical')} physical / "
        f"{info['cpu_count_logical']} logical cores, affinity {info.get('cpu_affinity')}), "
        f"RAM {info.get('memory_total_gb')} GB",
        f"- {info['platform']}, Python {info['python']}",
        f"- numpy {info['numpy']}, scipy {info['scipy']}, numba {info.get('numba')} "
        f"({info.get('numba_threads')} threads), redunet git {info.get('redunet_git')}",
        f"- load average (1, 5, 15 min) when the results were written: "
        f"{info.get('load_average_1_5_15min')} (other processes share the machine: "
        f"compare times only within one run)",
    ]
    if isinstance(info.get("threadpools"), list):
        lines += [f"- threadpool: {pool['internal_api']} {pool['version']} "
                  f"({pool['user_api']}, {pool['num_threads']} threads, "
                  f"{pool.get('architecture')}) from {Path(pool['prefix'] or '').name}"
                  for pool in info["threadpools"]]
    if info.get("env"):
        lines.append(f"- environment: {info['env']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- output

def _json_default(obj):
    import numpy as np
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_results(name, payload):
    """Write ``payload`` (plus machine info) to ``benchmarks/results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = dict(payload)
    payload.setdefault("machine", machine_info())
    path = RESULTS_DIR / f"{name}.json"
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=2, default=_json_default)
    return path


def finish(name, markdown, targets=(), **fields):
    """The payload of a benchmark (name, Markdown, targets, ``fields``, machine), written
    by :func:`write_results` and returned."""
    payload = {"name": name, **fields, "targets": list(targets), "markdown": markdown,
               "machine": machine_info()}
    write_results(name, payload)
    return payload


def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt_mb(mb):
    if mb is None:
        return "-"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.1f} MB"


def fmt_ratio(x):
    if x is None:
        return "-"
    return f"{x:.0f}x" if x >= 100 else f"{x:.1f}x"


def fmt_bytes(n):
    if n is None:
        return "-"
    return f"{n / 1024:.1f} kB" if n < 2**20 else fmt_mb(n / 2**20)


def markdown_table(rows, columns):
    """Markdown table of ``rows`` (dicts); ``columns`` is a list of ``(header, key, format)``.

    ``format`` is a callable or a format spec string; a missing key prints ``-``.
    """
    def cell(value, fmt):
        if value is None:
            return "-"
        if callable(fmt):
            return fmt(value)
        return format(value, fmt) if fmt else str(value)

    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(key), fmt) for _, key, fmt in columns) + " |"
              for row in rows]
    return "\n".join(lines)


# Columns shared by the tables of several benchmarks.
COLUMNS = {
    "build": [("build", "wall_s", fmt_time), ("CPU", "cpu_s", fmt_time),
              ("per layer", "per_layer_s", fmt_time)],
    "memory": [("peak RSS", "peak_rss_mb", fmt_mb), ("peak above start", "peak_delta_mb", fmt_mb)],
    "model": [("operators in memory", "operator_bytes", fmt_bytes),
              ("model file", "model_file_bytes", fmt_bytes),
              ("delta_R first -> last", "delta_r", None)],
    "versus": [("time / library", "ratio_time", fmt_ratio),
               ("time / library's layers", "ratio_time_layers", fmt_ratio),
               ("CPU / library", "ratio_cpu", fmt_ratio),
               ("mem above start / library", "ratio_mem", fmt_ratio),
               ("max abs diff of features", "max_abs_diff", ".1e")],
}

VERSUS_NOTE = (
    "'peak above start' is the peak RSS of the build minus the RSS when it started "
    "(interpreter, libraries and data already loaded). The library's fit also normalizes, "
    "transforms the input and fits the nearest-subspace classifier, which the straightforward "
    "versions (`tests/naive.py`) do not all do: \"time / library's layers\" divides by the "
    "library's time in its layers alone (`ReduNet.layer_seconds_`); the targets are judged "
    "on the plain ratio. CPU is user + system time of all threads")


def targets_markdown(targets):
    """Markdown list of ``{"target", "value", "met"}`` dicts."""
    return "\n".join(
        f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']} (measured: {t['value']})"
        for t in targets)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMBA_NUM_THREADS", "REDUNET_NUM_THREADS",
                "REDUNET_FFT_WORKERS")
ONE_THREAD = {var: "1" for var in _THREAD_VARS}

_CHILD_ENV = {}


def set_child_threads(threads):
    """Limit BLAS, OpenMP and numba threads of every later :func:`measure` (None: inherit)."""
    for var in _THREAD_VARS:
        _CHILD_ENV.pop(var, None)
    if threads is not None:
        _CHILD_ENV.update({var: str(threads) for var in _THREAD_VARS})


def child_threads_note():
    value = _CHILD_ENV.get("OPENBLAS_NUM_THREADS")
    return (f"measured processes limited to {value} thread(s) (BLAS, OpenMP, numba, "
            f"redunet's pool and FFT workers)" if value
            else "measured processes use the default thread counts")


def base_parser(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="reduced sizes and a single repetition (everyday run)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="fresh-process repetitions per variant (time: min, memory: max)")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS/OpenMP/numba threads of the measured processes "
                             "(default: inherit the environment)")
    return parser


def cli_main(run, doc, parser=None, **extra):
    """Command line of one benchmark: parse the common options (``parser`` may add its own,
    passed on to ``run`` through ``extra``: option name -> keyword), run, print the tables."""
    parser = parser or base_parser(doc.splitlines()[0])
    args = parser.parse_args()
    keywords = {key: getattr(args, option) for key, option in extra.items()}
    set_child_threads(args.threads)
    payload = run(quick=args.quick, repeat=args.repeat, threads=args.threads, **keywords)
    print(payload["markdown"])
    print(machine_markdown(payload["machine"]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    else:
        print(machine_markdown(machine_info()))
