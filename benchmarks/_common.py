"""Shared machinery of the benchmarks: isolated measurements, machine info, JSON and tables.

Every measured variant runs in a fresh Python process (``subprocess``), so that its
peak memory is its own and not the high-water mark of an earlier variant.  Inside the
child, a *case* function does its setup (data, warm-up of compiled kernels), then runs
the work to be measured inside ``probe.section(name)``; each section records

* ``wall_s``: wall-clock time (``time.perf_counter``);
* ``cpu_s``: user + system CPU time of the process (all threads), a cross-check
  when other processes share the machine;
* ``peak_rss_mb``: peak resident set size of the process during the section;
* ``base_rss_mb``: resident set size at the start of the section (interpreter,
  imported libraries, data);
* ``peak_delta_mb``: ``peak_rss_mb - base_rss_mb``, the memory the section itself
  needed on top of what was already there.

Peak RSS is read from ``VmHWM`` in ``/proc/self/status`` after resetting it by writing
``5`` to ``/proc/self/clear_refs`` at the start of the section (Linux).  Where that is
not possible, a thread samples the RSS with ``psutil`` every millisecond (and
``resource.getrusage`` gives the process-lifetime maximum as a cross-check).

A case is ``case(probe, **kwargs) -> dict`` defined at module level of a benchmark
script; :func:`measure` runs it in a child and returns the sections and the dict.
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

# Benchmark the checkout this file belongs to (children get it through PYTHONPATH).
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

__all__ = ["measure", "Probe", "machine_info", "write_results", "markdown_table",
           "fmt_time", "fmt_mb", "fmt_ratio", "model_io_available", "saved_model_size",
           "base_parser", "best_of", "set_child_threads", "child_threads_note"]


# --------------------------------------------------------------------------- memory probes

def _status_kb(field):
    try:
        with open("/proc/self/status") as fh:
            match = re.search(rf"^{field}:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_hwm():
    """Reset the kernel's peak-RSS counter of this process; False if not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _current_rss_mb():
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb / 1024
    import psutil
    return psutil.Process().memory_info().rss / 2**20


class _Sampler(threading.Thread):
    """Fallback peak-RSS measurement: sample the RSS every ``interval`` seconds."""

    def __init__(self, interval=1e-3):
        super().__init__(daemon=True)
        import psutil
        self._process = psutil.Process()
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak = self._process.memory_info().rss

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return self.peak / 2**20


class Probe:
    """Handed to a case function: times and measures the peak memory of named sections."""

    def __init__(self):
        self.sections = {}

    @contextmanager
    def section(self, name):
        import gc
        gc.collect()
        use_hwm = _reset_hwm()
        sampler = None if use_hwm else _Sampler()
        if sampler is not None:
            sampler.start()
        base = _current_rss_mb()
        cpu_start = os.times()
        start = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            cpu_end = os.times()
            cpu = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system)
            peak = _status_kb("VmHWM") / 1024 if use_hwm else sampler.stop()
            self.sections[name] = {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": peak,
                "base_rss_mb": base,
                "peak_delta_mb": max(0.0, peak - base),
                "memory_method": "VmHWM" if use_hwm else "psutil-sampling",
            }


# --------------------------------------------------------------------------- subprocesses

def _child_main(argv):
    """Entry point of the child process: ``--child <file> <case> <kwargs-json> <out-json>``."""
    module_file, case_name, kwargs_json, out_path = argv
    sys.path.insert(0, str(BENCH_DIR))
    sys.path.insert(0, str(REPO_DIR))
    spec = importlib.util.spec_from_file_location("_bench_case_module", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    probe = Probe()
    result = getattr(module, case_name)(probe, **json.loads(kwargs_json))
    import resource
    payload = {
        "sections": probe.sections,
        "result": result or {},
        "process_max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "redunet_git": _git_revision(),
    }
    with open(out_path, "w") as fh:
        json.dump(payload, fh, default=_json_default)


def measure(module_file, case, timeout=None, env=None, **kwargs):
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
    **kwargs
        JSON-serializable keyword arguments of the case.

    Returns
    -------
    dict
        ``{"sections": {name: {...}}, "result": {...}, "process_max_rss_mb": float}``.
    """
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_DIR)] + [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p])
    child_env.update(_CHILD_ENV)
    child_env.update(env or {})
    with tempfile.TemporaryDirectory(prefix="redunet-bench-") as tmp:
        out_path = os.path.join(tmp, "result.json")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(module_file), case,
               json.dumps(kwargs), out_path]
        proc = subprocess.run(cmd, env=child_env, timeout=timeout, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"Benchmark case {case!r} of {module_file} failed (exit {proc.returncode}):\n"
                f"{proc.stderr[-4000:]}")
        with open(out_path) as fh:
            return json.load(fh)


def best_of(module_file, case, repeat=1, **kwargs):
    """:func:`measure` ``repeat`` times (each in a fresh process).

    Returns the first run's result with every section's ``wall_s`` replaced by the
    minimum over the runs (``wall_s_all`` keeps all of them) and the peaks by the maximum.
    """
    runs = [measure(module_file, case, **kwargs) for _ in range(max(1, repeat))]
    out = runs[0]
    revisions = sorted({str(run.get("redunet_git")) for run in runs})
    out["result"]["redunet_git"] = ", ".join(revisions)
    for name, section in out["sections"].items():
        walls = [run["sections"][name]["wall_s"] for run in runs]
        section["wall_s"] = min(walls)
        section["wall_s_all"] = walls
        section["cpu_s"] = min(run["sections"][name]["cpu_s"] for run in runs)
        for key in ("peak_rss_mb", "peak_delta_mb"):
            section[key] = max(run["sections"][name][key] for run in runs)
    return out


# --------------------------------------------------------------------------- model files

def model_io_available():
    """Whether ``redunet.model_io`` (``ReduNet.save``) exists in this checkout."""
    sys.path.insert(0, str(REPO_DIR))
    return importlib.util.find_spec("redunet.model_io") is not None


def saved_model_size(net):
    """Bytes of ``net.save(...)`` on disk, or ``(None, reason)`` when saving is unavailable."""
    if not model_io_available():
        return None, "redunet/model_io.py not present yet: model size skipped"
    with tempfile.TemporaryDirectory(prefix="redunet-model-") as tmp:
        path = os.path.join(tmp, "model.npz")
        try:
            net.save(path)
        except Exception as exc:          # report, do not hide, a failing save
            return None, f"net.save failed: {type(exc).__name__}: {exc}"
        files = [path] if os.path.exists(path) else [
            os.path.join(tmp, f) for f in os.listdir(tmp)]
        return sum(os.path.getsize(f) for f in files), None


def instrument_classifier():
    """Accumulate the time spent fitting the nearest-subspace classifier inside ``fit``.

    ``ReduNet.fit`` also fits its classifier, which the straightforward versions do not
    do; the returned one-element list holds the seconds spent in
    ``NearestSubspace.fit_spectral`` (wrapped in this process only), so that the
    comparison can be reported with and without it.
    """
    from redunet.classifier import NearestSubspace
    spent = [0.0]
    original = NearestSubspace.fit_spectral

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    NearestSubspace.fit_spectral = timed
    return spent


def instrument_layers():
    """Record the wall time of every layer built by ``ReduNet.fit`` (this process only).

    Wraps ``redunet.construction.record`` (an internal name, called once per layer
    with the objective of its input, and once more at the end: if it is gone,
    returns None and the per-layer times are simply not reported); a layer's time
    runs from one call to the next.  A rising time per layer at fixed sizes points
    at numerical trouble such as subnormal arithmetic.
    """
    import redunet.construction as construction
    original = getattr(construction, "record", None)
    if original is None:
        return None
    times, last = [], [None]

    def timed(*args, **kwargs):
        now = time.perf_counter()
        if last[0] is not None:
            times.append(now - last[0])
        last[0] = now
        return original(*args, **kwargs)

    construction.record = timed
    return times


def layer_time_summary(times):
    """First, median and last layer times and the slowest/fastest ratio."""
    if not times:
        return {}
    ordered = sorted(times)
    return {"layer_first_s": times[0], "layer_median_s": ordered[len(ordered) // 2],
            "layer_last_s": times[-1], "layer_slowest_over_fastest": ordered[-1] / ordered[0],
            "layer_times_s": times}


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
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        import psutil
        info["cpu_count_physical"] = psutil.cpu_count(logical=False)
        info["memory_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
    except ImportError:
        pass
    try:
        import numba
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
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
    pools = info.get("threadpools")
    if isinstance(pools, list):
        for pool in pools:
            lines.append(f"- threadpool: {pool['internal_api']} {pool['version']} "
                         f"({pool['user_api']}, {pool['num_threads']} threads, "
                         f"{pool.get('architecture')}) from {Path(pool['prefix'] or '').name}")
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


def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


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
    if n < 2**20:
        return f"{n / 1024:.1f} kB"
    return fmt_mb(n / 2**20)


def markdown_table(rows, columns):
    """Markdown table of ``rows`` (dicts); ``columns`` is a list of ``(header, key, format)``.

    ``format`` is a callable or a format spec string; a missing key prints ``-``.
    """
    header = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [header, rule]
    for row in rows:
        cells = []
        for _, key, fmt in columns:
            value = row.get(key)
            if value is None:
                cells.append("-")
            elif callable(fmt):
                cells.append(fmt(value))
            elif fmt:
                cells.append(format(value, fmt))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_markdown(targets):
    """Markdown list of ``{"target", "value", "met"}`` dicts."""
    return "\n".join(
        f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']} (measured: {t['value']})"
        for t in targets)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "NUMBA_NUM_THREADS", "REDUNET_NUM_THREADS",
                "REDUNET_FFT_WORKERS")


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


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    else:
        print(machine_markdown(machine_info()))


def cli_main(run, doc, parser=None, **extra):
    """Command line of one benchmark: parse the common options (``parser`` may add its own,
    passed on to ``run`` through ``extra``: option name -> keyword), run, print the tables."""
    parser = parser or base_parser(doc.splitlines()[0])
    args = parser.parse_args()
    keywords = {key: getattr(args, option) for key, option in extra.items()}
    payload = run(quick=args.quick, repeat=args.repeat, threads=args.threads, **keywords)
    print(payload["markdown"])
    print(machine_markdown(payload["machine"]))

