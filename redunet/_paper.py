"""Every experiment of the paper in one run, then one report (behind ``redunet paper``).

:func:`run_paper` runs the main text's experiments (Gaussian mixtures in 2D and
3D, rotation- and translation-invariant MNIST, :mod:`redunet.experiments`) and
the appendix's (:mod:`redunet._appendix`; the mice run only with its data file),
each into its own folder of ``out_dir``, then writes ``report.md`` (tables and
the figures as relative image links) and ``report.json``.

Resuming: an experiment whose folder holds a complete ``results.json`` and a
``run.json`` with the same arguments is not run again (its recorded time is
reported); an appendix build that was killed resumes from its checkpoint.
"""

import json
import time
from pathlib import Path

from . import _appendix as appendix
from ._appendix import OFFICIAL_RUNS, _write_json_atomic, rate_reduction_optimum
from .datasets import MICE_URL

__all__ = ["paper_plan", "run_paper"]

_REQUIRED = ("experiment", "params", "n_layers_built", "delta_r_first", "delta_r_last",
             "train_accuracy", "test_accuracy", "build_seconds")

# Tiny settings of every experiment for smoke runs (--quick).
_QUICK = {
    "gaussian-2d": dict(n_per_class=20, n_layers=10),
    "gaussian-3d": dict(n_per_class=20, n_layers=10),
    "rotation-mnist": dict(n_train_per_class=2, n_test_per_class=2, n_radii=5, n_angles=16,
                           out_channels=4, kernel_size=3, n_layers=3, n_rotations=4),
    "translation-mnist": dict(n_train_per_class=2, n_test_per_class=2, out_channels=4,
                              kernel_size=3, n_layers=2, shifts=4),
    "iris": dict(n_layers=10),
    "mice": dict(n_layers=10),
    "sinusoids": dict(n_per_class=8, length=24, out_channels=3, n_layers=5,
                      n_shift_per_class=2, shift_stride=4),
    "rotation-mnist-2class": dict(n_train_per_class=6, n_test_per_class=4, n_angles=24,
                                  n_layers=5, n_shift_per_class=2, shift_stride=6),
    "translation-mnist-2class": dict(n_train_per_class=4, n_test_per_class=3, out_channels=3,
                                     kernel_size=3, n_layers=3, n_shift_per_class=1,
                                     shift_stride=14),
}

_SECTIONS = {"main": "Main text", "appendix": "Appendix"}


def paper_plan(quick=False, mnist_dir=None, mice_file=None):
    """The experiments of :func:`run_paper`: a list of ``(name, section, function, kwargs)``.

    Parameters
    ----------
    quick : bool, default=False
        Tiny sizes (a smoke run) instead of the paper's settings.
    mnist_dir : str or path-like, optional
        Folder of the MNIST IDX files for the MNIST experiments.
    mice_file : str or path-like, optional
        The Mice Protein table (CSV); without it the mice run is left out.
    """
    from . import experiments            # which re-exports run_paper: imported at call time
    mnist = {} if mnist_dir is None else {"mnist_path": str(mnist_dir)}
    plan = [
        ("gaussian-2d", "main", experiments.gaussian_experiment, {"dim": 2}),
        ("gaussian-3d", "main", experiments.gaussian_experiment, {"dim": 3}),
        # Shifted test sets: a sample of the shifts (every rotation / translation would cost
        # 7 / 30 minutes of evaluation); exact invariance is checked on each shift tested.
        ("rotation-mnist", "main", experiments.rotation_mnist_experiment,
         {"n_rotations": 20, **mnist}),
        ("translation-mnist", "main", experiments.translation_mnist_experiment,
         {"shifts": 8, **mnist}),
        ("iris", "appendix", appendix.iris_experiment, {}),
    ]
    if mice_file is not None:
        plan.append(("mice", "appendix", appendix.mice_experiment, {"data_file": str(mice_file)}))
    plan += [
        ("sinusoids", "appendix", appendix.sinusoid_experiment, {}),
        ("rotation-mnist-2class", "appendix", appendix.rotation_mnist_2class_experiment,
         dict(mnist)),
        ("translation-mnist-2class", "appendix", appendix.translation_mnist_2class_experiment,
         dict(mnist)),
    ]
    if quick:
        plan = [(name, section, func, {**kwargs, **_QUICK[name]})
                for name, section, func, kwargs in plan]
    return plan


def _layers(func, kwargs):
    """Layers an experiment will build (for the progress bar)."""
    import inspect
    return kwargs.get("n_layers", inspect.signature(func).parameters["n_layers"].default)


def _read_json(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _completed(folder, kwargs):
    """The saved results and run record if ``folder`` holds a complete run with ``kwargs``."""
    results = _read_json(folder / "results.json")
    run = _read_json(folder / "run.json")
    if (not isinstance(results, dict) or not isinstance(run, dict)
            or run.get("kwargs") != kwargs or any(key not in results for key in _REQUIRED)):
        return None
    return results, run


def run_paper(out_dir, quick=False, mnist_dir=None, mice_file=None, only=None, verbose=True,
              checkpoint=True):
    """Run every experiment of the paper into ``out_dir`` and write the report.

    Parameters
    ----------
    out_dir : str or path-like
        One folder per experiment, plus ``report.md`` and ``report.json``.
    quick : bool, default=False
        Tiny sizes (see :func:`paper_plan`).
    mnist_dir, mice_file : str or path-like, optional
        See :func:`paper_plan`.
    only : sequence of str, optional
        Run only these experiments (names as in the report); the report covers them.
    verbose : bool, default=True
        A progress bar over the whole run (in layers) and one per build.
    checkpoint : bool, default=True
        Checkpoint the appendix builds (False: in memory; a killed build starts
        over).  Not part of an experiment's arguments: it does not change results.

    Returns
    -------
    dict
        The content of ``report.json``: ``quick``, ``total_seconds``,
        ``experiments`` (per name: ``section``, ``folder``, ``seconds``,
        ``skipped`` (reused from an earlier run), ``kwargs``, ``official_command``,
        ``official_reported`` and the ``results``) and ``notes``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = paper_plan(quick=quick, mnist_dir=mnist_dir, mice_file=mice_file)
    if only is not None:
        unknown = sorted(set(only) - {name for name, *_ in plan})
        if unknown:
            raise ValueError(f"Unknown experiment name(s) {unknown} for 'only'; expected names "
                             f"among {[name for name, *_ in plan]}.")
        plan = [entry for entry in plan if entry[0] in only]
    progress = None
    if verbose:
        from tqdm.auto import tqdm
        progress = tqdm(total=sum(_layers(f, k) for _, _, f, k in plan), unit="layer",
                        desc="redunet paper", position=0)
    start_all = time.perf_counter()
    entries = {}
    try:
        for name, section, func, kwargs in plan:
            folder = out_dir / name
            if progress is not None:
                progress.set_postfix_str(name)
            done = _completed(folder, kwargs)
            if done is not None:
                results, run = done
                seconds, skipped = run["seconds"], True
            else:
                start = time.perf_counter()
                extra = {} if section == "main" else {"checkpoint": checkpoint}
                results = func(**kwargs, **extra, out_dir=folder, verbose=verbose)
                seconds, skipped = time.perf_counter() - start, False
                _write_json_atomic(folder / "run.json", {"name": name, "kwargs": kwargs,
                                                         "seconds": seconds})
            optimum = _optimum(results)
            entries[name] = {
                "section": section, "folder": name, "seconds": seconds, "skipped": skipped,
                "kwargs": kwargs, "official_command": OFFICIAL_RUNS.get(name),
                "official_reported": None, "delta_r_optimum": optimum,
                "delta_r_fraction_of_optimum": (None if optimum is None
                                                else results["delta_r_last"] / optimum),
                "results": results,
            }
            if progress is not None:
                progress.update(_layers(func, kwargs))
    finally:
        if progress is not None:
            progress.close()
    report = {
        "quick": quick,
        "total_seconds": time.perf_counter() - start_all,
        "experiments": entries,
        "notes": _notes(mice_file, entries),
    }
    _write_json_atomic(out_dir / "report.json", report)
    text = render_report(report)
    tmp = out_dir / ".report.md.tmp"
    tmp.write_text(text)
    tmp.replace(out_dir / "report.md")
    return report


def _optimum(results):
    """The orthogonal-subspace optimum of a vector run (the Gaussian runs compute it here)."""
    if "delta_r_optimum" in results:
        return results["delta_r_optimum"]
    if results.get("experiment") == "gaussian":
        p = results["params"]
        found = rate_reduction_optimum([p["n_per_class"]] * p["dim"], p["dim"], p["eps"])
        return None if found is None else found["value"]
    return None


def _notes(mice_file, entries):
    notes = [
        "Published numbers: the official code's README gives the commands of these runs but "
        "no accuracies; the accuracies printed in the paper are not copied into this "
        "report, so the official column says 'not reported'.",
        "delta_R optimum (vector runs): the largest rate reduction of unit-norm features "
        "whose classes occupy orthogonal subspaces, for the training class sizes "
        "(redunet._appendix.rate_reduction_optimum); the invariant runs have no such closed "
        "form here.",
        "peak RSS is the peak of the whole process so far (all experiments run in one "
        "process).",
    ]
    if mice_file is None:
        notes.append("mice: not run (no --mice-file). Get Data_Cortex_Nuclear.xls from "
                     f"{MICE_URL}, save it as CSV and pass it with --mice-file.")
    for name, entry in entries.items():
        if "data" in entry["results"]:
            notes.append(f"{name}: {entry['results']['data']}.")
    return notes


# --------------------------------------------------------------------------- report.md

def _fmt(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _shifted(r):
    if "shifted_accuracy_min" not in r:
        return "-"
    return (f"{r['shifted_accuracy_min']:.3f} / {r['shifted_accuracy_mean']:.3f} "
            f"({len(r.get('shifts', []))} shifts, {r['n_changed_predictions']} changed)")


def render_report(report):
    """The Markdown of ``report.md`` from the content of ``report.json``."""
    entries = report["experiments"]
    lines = ["# ReduNet: the paper's experiments", ""]
    mode = "quick smoke run (tiny sizes)" if report["quick"] else "the paper's settings"
    lines += [f"Run with {mode}; total time {report['total_seconds']:.1f} s "
              "(experiments reused from an earlier run count with their recorded time below).",
              ""]
    for section, title in _SECTIONS.items():
        names = [n for n, e in entries.items() if e["section"] == section]
        if not names:
            continue
        lines += [f"## {title}", "",
                  "| experiment | layers | delta_R first -> last | optimum (fraction) | "
                  "train acc | test acc | shifted test acc min / mean | time | build | "
                  "peak RSS |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            e, r = entries[name], entries[name]["results"]
            optimum = e["delta_r_optimum"]
            opt = (f"{optimum:.4f} ({e['delta_r_fraction_of_optimum']:.3f})"
                   if optimum is not None else "-")
            reused = " (reused)" if e["skipped"] else ""
            rss = r.get("peak_rss_mb")
            lines.append(
                f"| {name} | {r['n_layers_built']} | {r['delta_r_first']:.4f} -> "
                f"{r['delta_r_last']:.4f} | {opt} | {r['train_accuracy']:.3f} | "
                f"{r['test_accuracy']:.3f} | {_shifted(r)} | {e['seconds']:.1f} s{reused} | "
                f"{r['build_seconds']:.1f} s | {_fmt(rss, 0)} MB |")
        lines.append("")
    lines += ["## Beside the official code", "",
              "| experiment | official command | official test acc | ours: test acc |",
              "|---|---|---|---|"]
    for name, e in entries.items():
        command = f"`{e['official_command']}`" if e["official_command"] else "-"
        official = ("not reported" if e["official_reported"] is None
                    else _fmt(e["official_reported"], 3))
        lines.append(f"| {name} | {command} | {official} | "
                     f"{e['results']['test_accuracy']:.3f} |")
    lines += ["", "## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    lines += ["## Figures", ""]
    for name, e in entries.items():
        figures = e["results"].get("figures") or []
        if not figures:
            continue
        lines += [f"### {name}", ""]
        lines += [f"![{name}: {fig}]({e['folder']}/{fig})" for fig in figures]
        lines.append("")
    return "\n".join(lines)
