"""The packed and the stacked forms of the layer update, side by side, over channels and classes.

A layer of dense operators in double precision can run in two forms (docs:
Mathematics, "Computing the update"): the stacked products (``(K + 1) C^2``
complex multiply-adds per sample and frequency) or the packed form (quadratic
forms and every sample's own operator, about ``(2 K + 7) C^2`` real ones).
``redunet._stacked.update_form`` picks the packed form for
``FUSED_CHANNELS < C <= PACKED_CHANNELS`` and at least as many classes as
``PACKED_MIN_CLASSES`` gives for ``C``; this benchmark measures both forms on the
same layers, so that the thresholds follow the measurements.

Setting, in one fresh process: for every channel count ``C`` and class count ``K``
of the grid, a layer built on random unit spectra of F = 101 frequencies (T = 200)
with ``ceil(1.5 C)`` samples per class (dense class operators), then
``apply_layer`` on 1024 new samples with the layer's operators prepared once in
each form, the two forms timed alternately, ``--repeat`` times each (the fastest
run of each), with the library's default threads (BLAS single-threaded inside
them, as in ``fit`` and ``transform``).  Rates count the flops of each form
(:func:`redunet._cost.stacked_layer_cost`).

Target: on every measured point, the form ``update_form`` picks is at most 10 %
slower than the other one.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (child_threads_note, cli_main, finish, markdown_table, measure,  # noqa: E402
                     targets_markdown)

NAME = "bench_update_forms"
HERE = Path(__file__).resolve()
N_FREQ = 101
N_NEW = 1024


def case_grid(probe, channels, classes, repeat):
    import time

    import numpy as np

    import redunet._stacked as stacked
    from redunet._layer import apply_layer, build_layer, group_rows
    from redunet._parallel import single_threaded_blas
    from redunet._stacked import stacked_operators, update_form

    rng = np.random.default_rng(0)
    weights = np.r_[1.0, np.full(N_FREQ - 2, 2.0), 1.0]

    def spectra(m, C):
        V = rng.standard_normal((N_FREQ, m, C)) + 1j * rng.standard_normal((N_FREQ, m, C))
        V /= np.sqrt(np.einsum("f,fmc->m", weights, np.abs(V) ** 2))[None, :, None]
        return V

    limits = stacked.PACKED_CHANNELS, stacked.PACKED_MIN_CLASSES
    rows = []
    for C in channels:
        for K in classes:
            per_class = -(-3 * C // 2)
            y = np.repeat(np.arange(K), per_class)
            layer, _, _ = build_layer(spectra(len(y), C), group_rows(y, K), weights, 0.1)
            new = spectra(N_NEW, C)
            stacks = {}
            for form, bands in (("packed", ((C, 0),)), ("stacked", ((C, K + 1),))):
                stacked.PACKED_CHANNELS, stacked.PACKED_MIN_CLASSES = C, bands
                stacks[form] = stacked_operators(layer, new.dtype)
                assert stacks[form].kind == form
            stacked.PACKED_CHANNELS, stacked.PACKED_MIN_CLASSES = limits
            out = {form: np.empty_like(new) for form in stacks}
            times = {form: [] for form in stacks}
            with single_threaded_blas():                  # as in fit and transform
                for _ in range(repeat + 1):               # the first round warms up
                    for form, stack in stacks.items():
                        start = time.perf_counter()
                        apply_layer(layer, new, weights, 0.5, 500.0, "numba", stack=stack,
                                    out=out[form])
                        times[form].append(time.perf_counter() - start)
            per_sample = {form: min(t[1:]) / N_NEW for form, t in times.items()}
            rows.append({"C": C, "K": K, "chosen": update_form(C, K, True, new.dtype),
                         "packed_us": per_sample["packed"] * 1e6,
                         "stacked_us": per_sample["stacked"] * 1e6,
                         "max_abs_diff": float(np.abs(out["packed"] - out["stacked"]).max())})
    return {"rows": rows}


def run(quick=False, repeat=None, threads=None):
    from redunet._cost import stacked_layer_cost
    from redunet._stacked import PACKED_MIN_CLASSES

    repeat = repeat or (5 if quick else 9)
    channels = [16, 20, 24] if quick else [13, 16, 20, 24, 28, 32]
    classes = [4, 6, 10] if quick else [2, 3, 4, 5, 6, 8, 10]
    res = measure(HERE, "case_grid", channels=channels, classes=classes, repeat=repeat)
    rows = res["result"]["rows"]
    for row in rows:
        C, K = row["C"], row["K"]
        row["ratio"] = row["stacked_us"] / row["packed_us"]
        faster = "packed" if row["ratio"] > 1 else "stacked"
        row["faster"] = faster
        slower_by = (row["ratio"] if row["chosen"] == "stacked" else 1 / row["ratio"]) - 1
        row["chosen_slower_pct"] = max(0.0, 100 * slower_by)
        # flops of each form per sample and layer (the cost model counts the form it would run:
        # the packed one where update_form picks it, the stacked one in single precision)
        m = K * -(-3 * C // 2)
        packed = 2 * N_FREQ * C * C * (2 * K + 7)
        wide = stacked_layer_cost("fourier1d", m, K, C, (200,), "float32", n_samples=1)
        assert wide["form"] == "stacked"
        row["packed_gflops"] = packed / row["packed_us"] / 1e3
        row["stacked_gflops"] = wide["apply_flops"] / row["stacked_us"] / 1e3
    table = markdown_table(rows, [
        ("C", "C", "d"), ("K", "K", "d"), ("packed, us/sample", "packed_us", ".1f"),
        ("stacked, us/sample", "stacked_us", ".1f"), ("stacked / packed", "ratio", ".2f"),
        ("packed GFLOP/s", "packed_gflops", ".1f"), ("stacked GFLOP/s", "stacked_gflops", ".1f"),
        ("faster", "faster", None), ("update_form picks", "chosen", None),
        ("picked form slower by", "chosen_slower_pct", ".0f"),
        ("max abs diff", "max_abs_diff", ".1e")])
    worst = max(rows, key=lambda r: r["chosen_slower_pct"])
    targets = [{"target": "the form update_form picks is at most 10 % slower than the other on "
                          "every measured point" + (" (quick grid)" if quick else ""),
                "value": f"worst {worst['chosen_slower_pct']:.0f} % (C = {worst['C']}, "
                         f"K = {worst['K']})",
                "met": worst["chosen_slower_pct"] <= 10}]
    markdown = (f"### Update forms: packed against stacked products (one layer, F = {N_FREQ}, "
                f"{N_NEW} new samples, fastest of {repeat})\n\n"
                "Thresholds: packed for 12 < C and K at least "
                + ", ".join(f"{k} (C <= {c})" for c, k in PACKED_MIN_CLASSES)
                + f"; times per sample and layer, {child_threads_note()}.\n\n"
                f"{table}\n\n{targets_markdown(targets)}\n")
    return finish(NAME, markdown, targets, quick=quick, repeat=repeat, threads=threads,
                  rows=rows, redunet_git=res.get("redunet_git"))


def main():
    cli_main(run, __doc__)


if __name__ == "__main__":
    main()
