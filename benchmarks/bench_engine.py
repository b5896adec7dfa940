"""One construction loop for every executor: cost of the small-layer path and of chunked layers.

Two measurements, each run in a fresh process (:func:`_common.measure`) for every source
tree given on the command line (so that two versions of the library are compared side by
side in one run, on the same loaded machine):

* ``vector``: ``ReduNet(n_layers=2000).fit`` on ``gaussian_mixture_2d`` with 500
  samples per class (m = 1000, d = 2): the compiled small-layer kernels; best of 5,
  wall and CPU time (the CPU time of one process varies less on a loaded machine).
* ``chunked``: ``ReduNet(arch="fourier1d", n_layers=4).fit(X, y, chunk_size=250,
  work_dir=tmp)`` on random signals ``(2000, 20, 200)`` in 10 classes, the features held
  in a temporary file: seconds per layer (``ReduNet.layer_seconds_`` where the tree has
  it, else fit time / layers).  That every layer reads the feature store once is
  asserted by ``tests/test_streaming.py``.

Usage::

    python benchmarks/bench_engine.py [SOURCE_ROOT ...]    # default: this tree

Prints one Markdown table; nothing is written.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO_DIR, fmt_time, markdown_table, measure  # noqa: E402

HERE = Path(__file__).resolve()


def case_engine(probe, rounds=5, n_layers=4, chunk=250):
    import tempfile

    import numpy as np
    from redunet import ReduNet
    from redunet.datasets import gaussian_mixture_2d

    X, y = gaussian_mixture_2d(n_per_class=500, noise=0.1, seed=0)
    ReduNet(n_layers=3).fit(X, y)
    for k in range(rounds):
        with probe.section(f"vector{k}"):
            ReduNet(n_layers=2000).fit(X, y)
    S = np.random.default_rng(0).standard_normal((2000, 20, 200))
    labels = np.tile(np.arange(10), 200)
    ReduNet(arch="fourier1d", n_layers=1).fit(S[:40], labels[:40] % 2, chunk_size=20)
    with tempfile.TemporaryDirectory() as tmp, probe.section("chunked"):
        net = ReduNet(arch="fourier1d", n_layers=n_layers).fit(S, labels, chunk_size=chunk,
                                                               work_dir=tmp)
    seconds = getattr(net, "layer_seconds_", None)
    return {"layer_seconds": None if seconds is None else seconds.tolist()}


def run(root):
    out = measure(HERE, "case_engine", source=root)
    vector = [s for name, s in out["sections"].items() if name.startswith("vector")]
    chunked, seconds = out["sections"]["chunked"], out["result"]["layer_seconds"]
    return {"source": str(root), "vector_best_s": min(s["wall_s"] for s in vector),
            "vector_cpu_best_s": min(s["cpu_s"] for s in vector),
            "chunked_s_per_layer": (sum(seconds) / len(seconds) if seconds
                                    else chunked["wall_s"] / 4)}


def main(argv=None):
    roots = [Path(r).resolve() for r in (argv if argv else [REPO_DIR])]
    print(markdown_table([run(root) for root in roots], [
        ("source", "source", None),
        ("2000-layer vector build, wall (best of 5)", "vector_best_s", fmt_time),
        ("same, CPU time", "vector_cpu_best_s", fmt_time),
        ("chunked: s per layer", "chunked_s_per_layer", fmt_time)]))


if __name__ == "__main__":
    main(sys.argv[1:])
