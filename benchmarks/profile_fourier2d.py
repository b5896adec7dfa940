"""Where the time goes in the 2D paper setting: cProfile of one build of a few layers.

MNIST (or random) 100 images, ``Lift2D(75, 9)``, 28 x 28, eta 0.5, eps 0.1, lmbda 500.
After a warm-up on a tiny problem (compiled kernels loaded), profiles
``ReduNet(arch="fourier2d", n_layers=N).fit(X, y)`` and writes the top entries by
cumulative and by internal time to ``benchmarks/results/profile_fourier2d.txt``
(and a summary to ``profile_fourier2d.json``).
"""

import io
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NAME = "profile_fourier2d"


def run(quick=False, layers=None, dtype="float64", threads=None, top=25):
    if threads is not None:          # before NumPy is imported
        from _common import _THREAD_VARS
        os.environ.update({var: str(threads) for var in _THREAD_VARS})
    # cProfile sees only the thread it runs in: run redunet's block pool serially so that
    # the work done in its worker threads is attributed to the functions doing it.
    os.environ["REDUNET_NUM_THREADS"] = "1"
    import cProfile
    import pstats
    import time

    from _common import PARAMS, RESULTS_DIR, finish, warm_up
    from bench_fourier2d import _mnist
    from redunet import Lift2D, ReduNet

    layers = layers or (2 if quick else 5)
    X, y, _, _, source = _mnist()
    warm_up("fourier2d", dtype)
    net = ReduNet(arch="fourier2d", n_layers=layers, lift=Lift2D(75, 9), dtype=dtype, **PARAMS)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    net.fit(X, y)
    profiler.disable()
    wall = time.perf_counter() - start

    stats = pstats.Stats(profiler)
    text = io.StringIO()
    for key in ("cumulative", "tottime"):
        text.write(f"==== sorted by {key} ====\n")
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats(key).print_stats(top)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{NAME}.txt").write_text(text.getvalue())

    entries = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        entries.append({"function": f"{Path(file).name}:{line}({func})", "ncalls": ncalls,
                        "tottime_s": tottime, "cumtime_s": cumtime})
    by_cum = sorted(entries, key=lambda e: -e["cumtime_s"])[:top]
    by_tot = sorted(entries, key=lambda e: -e["tottime_s"])[:top]

    def table(rows):
        lines = ["| function | calls | own time | cumulative | share of build |",
                 "|---|---|---|---|---|"]
        lines += [f"| `{e['function']}` | {e['ncalls']} | {e['tottime_s']:.2f} s | "
                  f"{e['cumtime_s']:.2f} s | {100 * e['cumtime_s'] / wall:.0f}% |" for e in rows]
        return "\n".join(lines)

    markdown = (
        f"### Profile: 2D paper setting ({source}, Lift2D(75, 9), {dtype}), {layers} layers, "
        f"build {wall:.2f} s under cProfile"
        + (f", {threads} thread(s)" if threads else "")
        + " (REDUNET_NUM_THREADS=1 so that cProfile sees the work of the block pool)\n\n"
        f"Top by internal (own) time:\n\n{table(by_tot[:15])}\n\n"
        f"Top by cumulative time:\n\n{table(by_cum[:15])}\n\n"
        f"Full listing: `benchmarks/results/{NAME}.txt`.\n")
    return finish(NAME, markdown, quick=quick, layers=layers, dtype=dtype, threads=threads,
                  wall_s=wall, top_cumulative=by_cum, top_tottime=by_tot)


def main():
    from _common import base_parser
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=None, help="layers to build (default 5)")
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = parser.parse_args()
    payload = run(quick=args.quick, layers=args.layers, dtype=args.dtype, threads=args.threads)
    print(payload["markdown"])


if __name__ == "__main__":
    main()
