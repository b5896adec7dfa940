"""Checkpoint and resume: a killed thousand-layer build resumes to the identical model."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from redunet import Lift1D, ReduNet
from redunet.datasets import gaussian_mixture_2d


def _same_model(a, b, X):
    assert a.n_layers_ == b.n_layers_
    for key in a.history_:
        np.testing.assert_array_equal(a.history_[key], b.history_[key])
    for la, lb in zip(a.layers_, b.layers_):
        for oa, ob in zip([la.expansion] + la.compressions, [lb.expansion] + lb.compressions):
            for name, array in oa.arrays().items():
                np.testing.assert_array_equal(np.asarray(array), np.asarray(ob.arrays()[name]))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


@pytest.mark.parametrize("chunked", [False, True])
def test_sigkilled_build_resumes_bit_for_bit(chunked, tmp_path):
    folder = tmp_path / "ckpt"
    # chunked: the features in a file on disk, three chunks of samples
    extra = dict(chunk_size=70, work_dir=str(tmp_path)) if chunked else {}
    script = textwrap.dedent(f"""
        from redunet import ReduNet
        from redunet.datasets import gaussian_mixture_2d
        X, y = gaussian_mixture_2d(n_per_class=100, noise=0.1, seed=0)
        ReduNet(n_layers=1000).fit(X, y, checkpoint={str(folder)!r}, checkpoint_every=25,
                                   **{extra!r})
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.time() + 120
    # Kill once a few checkpoints exist, in the middle of the build.
    while time.time() < deadline and child.poll() is None:
        if len([f for f in os.listdir(folder) if f.startswith("layers_")] if folder.exists() else []) >= 3:
            break
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    X, y = gaussian_mixture_2d(n_per_class=100, noise=0.1, seed=0)
    resumed = ReduNet(n_layers=1000).fit(X, y, checkpoint=folder, checkpoint_every=25,
                                         resume=True, **extra)
    uninterrupted = ReduNet(n_layers=1000).fit(X, y, **extra)
    _same_model(resumed, uninterrupted, X)
    if chunked:     # and the chunked build equals the in-memory one
        np.testing.assert_allclose(resumed.transform(X), ReduNet(n_layers=1000).fit(X, y).transform(X),
                                   atol=1e-10)


def test_resume_in_process_with_lift_and_mapped_layers(tmp_path, rng):
    X = rng.standard_normal((16, 2, 12))
    y = np.repeat(["u", "v"], 8)
    make = lambda n: ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(12, 3, seed=None))
    first = make(7).fit(X, y, checkpoint=tmp_path, checkpoint_every=3)
    # Layers already written are memory-mapped from the checkpoint files.
    assert isinstance(first.layers_[0].expansion.matrix, np.memmap)
    resumed = make(15).fit(X, y, checkpoint=tmp_path, checkpoint_every=3, resume=True)
    # seed=None draws new kernels on every fit: the resumed build must reuse the saved ones.
    np.testing.assert_array_equal(resumed.lift_.kernels_, first.lift_.kernels_)
    np.testing.assert_array_equal(resumed.history_["delta_r"][:8], first.history_["delta_r"])
    reference = make(15)
    reference.lift = Lift1D(6, 3, kernels=first.lift_.kernels_)
    _same_model(resumed, reference.fit(X, y), X)


def test_resume_refuses_other_data(tmp_path, rng):
    X = rng.standard_normal((10, 3))
    y = np.repeat([0, 1], 5)
    ReduNet(n_layers=4).fit(X, y, checkpoint=tmp_path, checkpoint_every=2)
    with pytest.raises(ValueError, match="written for other training data or parameters"):
        ReduNet(n_layers=8).fit(X + 1.0, y, checkpoint=tmp_path, resume=True)
    with pytest.raises(ValueError, match="written for other training data or parameters"):
        ReduNet(n_layers=8, eta=0.3).fit(X, y, checkpoint=tmp_path, resume=True)
    with pytest.raises(ValueError, match="'resume' argument of ReduNet.fit needs a 'checkpoint'"):
        ReduNet().fit(X, y, resume=True)


@pytest.mark.parametrize("extra", [dict(chunk_size=5), dict(chunk_size=4, work_dir=True)])
def test_chunked_resume_in_process_with_lift_and_low_rank(extra, tmp_path, rng):
    if extra.get("work_dir"):
        extra = dict(extra, work_dir=tmp_path)
    X = rng.standard_normal((13, 2, 12))
    y = np.array([0] * 3 + [1] * 10)       # 3 samples in 12 channels: low-rank class 0
    make = lambda n: ReduNet(arch="fourier1d", n_layers=n, lift=Lift1D(12, 3, seed=None))
    first = make(5).fit(X, y, checkpoint=tmp_path / "c", checkpoint_every=2, **extra)
    resumed = make(11).fit(X, y, checkpoint=tmp_path / "c", checkpoint_every=2, resume=True,
                           **extra)
    np.testing.assert_array_equal(resumed.lift_.kernels_, first.lift_.kernels_)
    assert [layer.compressions[0].kind for layer in resumed.layers_] == ["lowrank"] * 11
    reference = make(11)
    reference.lift = Lift1D(12, 3, kernels=first.lift_.kernels_)
    _same_model(resumed, reference.fit(X, y, **extra), X)
    in_memory = make(11)
    in_memory.lift = reference.lift
    np.testing.assert_allclose(resumed.transform(X), in_memory.fit(X, y).transform(X),
                               atol=1e-10)
