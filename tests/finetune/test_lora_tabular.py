"""The lora-minilm-tabular benchmark: exact rows, off-table configurations, fidelities."""

import json

import pytest

from benchmarks.lora_tabular import TABLE_PATH, LoRATabular, _configs, table_space


def _row(i, config, errors, test_error=0.3):
    curve = [{"epoch": k + 1, "error": e, "accuracy": 1 - e, "loss": 1.0 + e, "train_loss": 1.0, "cpu_s": 10.0 * (k + 1)}
             for k, e in enumerate(errors)]
    return {"id": i, "config": config, "curve": curve, "test_error": test_error}


@pytest.fixture()
def small_table(tmp_path):
    space = table_space()
    a, b, c = space.sample(3, seed=5)
    b = {**a, "lr": a["lr"] * 10 if a["lr"] < 1e-3 else a["lr"] / 10}  # b differs from a only in lr
    c = {**a, "target_modules": next(t for t in ("dense", "query+value") if t != a["target_modules"])}
    path = tmp_path / "t.jsonl"
    rows = [_row(0, a, [0.7, 0.5, 0.4]), _row(1, b, [0.6, 0.3, 0.2], 0.25), _row(2, c, [0.75, 0.75, 0.7])]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return LoRATabular(path=path), (a, b, c)


def test_configurations_on_the_table_are_answered_exactly(small_table):
    bench, (a, b, c) = small_table
    r = bench.objective_function(b)
    assert (r["function_value"], r["cost"], r["info"]["row"], r["info"]["distance"]) == (0.2, 30.0, 1, 0.0)
    assert bench.objective_function(b, fidelity={"epoch": 1})["function_value"] == 0.6
    assert bench.objective_function_test(b)["function_value"] == 0.25
    assert bench.get_fidelity_space()["epoch"].upper == 3


def test_an_off_table_configuration_gets_its_nearest_neighbour(small_table):
    bench, (a, b, c) = small_table
    space = table_space()
    near_a = space.validate({**a, "dropout": min(0.3, a["dropout"] + 0.01)})
    r = bench.objective_function(near_a)
    assert r["info"]["row"] == 0 and 0 < r["info"]["distance"] < 0.05
    assert r["function_value"] == 0.4 and r["info"]["table_config"] == a
    # a categorical mismatch costs 1, more than a small numeric move: c's own target modules, a's dropout
    near_c = space.validate({**c, "dropout": near_a["dropout"]})
    assert bench.objective_function(near_c)["info"]["row"] == 2


def test_bad_fidelity_and_configuration_are_rejected(small_table):
    bench, (a, _, _) = small_table
    with pytest.raises(ValueError, match="epoch=4 lies outside"):
        bench.objective_function(a, fidelity={"epoch": 4})
    with pytest.raises(ValueError, match="unknown hyperparameter 'epochs'"):
        bench.objective_function({**a, "epochs": 2})


def test_the_committed_table_is_real_and_multi_fidelity():
    from benchmarks.registry import make_benchmark

    bench = make_benchmark("lora-minilm-tabular")
    assert bench.rows[0]["config"]["rank"] == 8 and bench.rows[0]["config"]["lr"] == 5e-4  # peft defaults first
    space = table_space()
    for row in bench.rows:
        assert space.validate(row["config"]) == row["config"]
        assert [p["epoch"] for p in row["curve"]] == [1, 2, 3]
        assert all(0 <= p["error"] <= 1 and p["cpu_s"] > 0 for p in row["curve"])
    assert len({json.dumps(r["config"], sort_keys=True) for r in bench.rows}) == len(bench.rows)
    assert [r["id"] for r in bench.rows] == list(range(200))  # the 200 configurations, none missing
    drawn = _configs(200)  # the ones the build command draws (a log draw's last bit can differ by CPU)
    for row, config in zip(bench.rows, drawn, strict=True):
        assert row["config"].keys() == config.keys()
        for name, value in config.items():
            want = value if isinstance(value, str) else pytest.approx(value, rel=1e-12)
            assert row["config"][name] == want, (row["id"], name)
    errors = [r["curve"][-1]["error"] for r in bench.rows]
    assert max(errors) - min(errors) > 0.1  # the configurations matter
    assert TABLE_PATH.stat().st_size < 2_000_000
