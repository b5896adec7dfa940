"""One construction loop for every executor: cost of the small-layer path and of chunked layers.

Two measurements, each run in a fresh process for every source tree given on the
command line (so that two versions of the library are compared side by side in
one run, on the same loaded machine):

* ``vector``: ``ReduNet(n_layers=2000).fit`` on ``gaussian_mixture_2d`` with 500
  samples per class (m = 1000, d = 2): the compiled small-layer kernels; best of 5,
  wall and CPU time (the CPU time of one process varies less on a loaded machine).
* ``chunked``: ``ReduNet(arch="fourier1d", n_layers=4).fit(X, y, chunk_size=250,
  work_dir=tmp)`` on random signals ``(2000, 20, 200)`` in 10 classes, the
  features held in a temporary file: passes over the feature store per layer
  (calls of ``LocalChunks.read`` divided by the number of chunks) and seconds
  per layer.

Usage::

    python benchmarks/bench_engine.py [SOURCE_ROOT ...]    # default: this tree

Prints one Markdown table; nothing is written.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, tempfile, time
import numpy as np
from redunet import ReduNet
from redunet.datasets import gaussian_mixture_2d
import redunet.streaming as streaming

X, y = gaussian_mixture_2d(n_per_class=500, noise=0.1, seed=0)
ReduNet(n_layers=3).fit(X, y)
vector, vector_cpu = [], []
for _ in range(5):
    start, cpu = time.perf_counter(), time.process_time()
    ReduNet(n_layers=2000).fit(X, y)
    vector.append(time.perf_counter() - start)
    vector_cpu.append(time.process_time() - cpu)

rng = np.random.default_rng(0)
S = rng.standard_normal((2000, 20, 200))
labels = np.tile(np.arange(10), 200)
reads = [0]
original = streaming.LocalChunks.read
def counted(self, samples):
    reads[0] += 1
    return original(self, samples)
streaming.LocalChunks.read = counted
n_layers, chunk = 4, 250
ReduNet(arch="fourier1d", n_layers=1).fit(S[:40], labels[:40] % 2, chunk_size=20)
reads[0] = 0
with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    ReduNet(arch="fourier1d", n_layers=n_layers).fit(S, labels, chunk_size=chunk, work_dir=tmp)
    chunked = time.perf_counter() - start
print(json.dumps({"vector_best_s": min(vector), "vector_cpu_best_s": min(vector_cpu),
                  "chunked_reads_per_layer": reads[0] / (2000 // chunk) / n_layers,
                  "chunked_s_per_layer": chunked / n_layers}))
"""


def run(root):
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         cwd=root)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed for {root}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    roots = [Path(r).resolve() for r in (argv if argv else [ROOT])]
    rows = [(root, run(root)) for root in roots]
    print("| source | 2000-layer vector build, wall (best of 5) | same, CPU time "
          "| chunked: store passes per layer | chunked: s per layer |")
    print("|---|---|---|---|---|")
    for root, r in rows:
        print(f"| {root} | {r['vector_best_s']:.3f} s | {r['vector_cpu_best_s']:.3f} s "
              f"| {r['chunked_reads_per_layer']:.2f} | {r['chunked_s_per_layer']:.3f} s |")


if __name__ == "__main__":
    main(sys.argv[1:])
