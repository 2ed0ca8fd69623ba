"""Live ML problems and the tabular family built from them."""

import numpy as np
import pytest

from benchmarks.ml import DATASETS, MODELS, MLBenchmark, MLFidelity, model_space
from benchmarks.tabular import TABLE_PATH, TabularBenchmark, grid, load_table


def test_live_ml_is_deterministic_and_sane():
    b = MLBenchmark("svm", "breast_cancer")
    config = {"C": 10.0, "gamma": 0.01}
    r1, r2 = b.objective_function(config), b.objective_function(config)
    assert r1["function_value"] == r2["function_value"] < 0.1  # an RBF SVM gets > 90 % here
    assert len(r1["info"]["fold_losses"]) == 3
    bad = b.objective_function({"C": 0.01, "gamma": 1e-4})["function_value"]
    assert bad > r1["function_value"]
    reg = MLBenchmark("knn", "diabetes").objective_function({"n_neighbors": 20, "p": 2, "weights": "uniform"})
    assert 0.3 < reg["function_value"] < 0.8  # 1 - R^2 of kNN regression on diabetes


def test_multifidelity_ml():
    mlp = MLFidelity("mlp", "wine")
    assert list(mlp.get_fidelity_space().keys()) == ["epochs"]
    config = {"hidden_size": 32, "alpha": 1e-4, "learning_rate_init": 1e-3}
    short = mlp.objective_function(config, fidelity={"epochs": 1})["function_value"]
    full = mlp.objective_function(config)["function_value"]
    assert full < short  # 30 epochs beat 1 epoch
    rf = MLFidelity("rf", "digits")
    assert list(rf.get_fidelity_space().keys()) == ["fraction"]
    cfg = {"max_depth": 8, "min_samples_split": 2, "max_features": 0.3}
    assert rf.objective_function(cfg, fidelity={"fraction": 0.1})["function_value"] > rf.objective_function(cfg)["function_value"]


def test_unknown_model_or_dataset():
    with pytest.raises(ValueError, match="unknown model 'xgb'; available: svm"):
        model_space("xgb")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; available: iris"):
        MLBenchmark("svm", "mnist")


def test_table_is_complete_small_and_committed():
    assert TABLE_PATH.stat().st_size < 5 * 2**20
    table = load_table()
    assert set(table) == {(m, d) for m in MODELS for d in DATASETS}
    for (m, d), rows in table.items():
        assert len(rows) == len(grid(m)[1])


@pytest.mark.parametrize("model, dataset", [("knn", "iris"), ("svm", "wine"), ("linear", "diabetes")])
def test_table_matches_the_live_problem_at_grid_points(model, dataset):
    rows = load_table()[(model, dataset)]
    live, tab = MLBenchmark(model, dataset), TabularBenchmark(model, dataset)
    for row in rows[:: max(1, len(rows) // 4)][:4]:
        expected = live.objective_function(row["config"])["function_value"]
        assert row["loss"] == pytest.approx(expected, abs=1e-6)
        assert tab.objective_function(row["config"])["function_value"] == pytest.approx(row["loss"], abs=1e-9)


def test_interpolation_between_grid_points():
    tab = TabularBenchmark("svm", "diabetes")
    axes, _ = grid("svm")
    c0, c1 = axes["C"][3], axes["C"][4]
    g = axes["gamma"][5]
    lo = tab.objective_function({"C": c0, "gamma": g})["function_value"]
    hi = tab.objective_function({"C": c1, "gamma": g})["function_value"]
    mid = tab.objective_function({"C": float(np.sqrt(c0 * c1)), "gamma": g})["function_value"]  # log scale midpoint
    assert mid == pytest.approx((lo + hi) / 2, abs=1e-9)
    assert tab.optimum == min(r["loss"] for r in load_table()[("svm", "diabetes")])
    cs = tab.get_configuration_space(seed=0)
    values = [tab.objective_function(c)["function_value"] for c in cs.sample_configuration(50)]
    assert min(values) >= tab.optimum - 1e-12


def test_missing_table_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="hpo bench build-tabular"):
        TabularBenchmark("svm", "wine", path=tmp_path / "none.jsonl")
