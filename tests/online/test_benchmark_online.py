"""Smoke test of the online benchmarks (benchmarks/online_stn.py, online_hypergrad.py) at toy sizes."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import online, online_common, online_hypergrad, online_stn

TINY = {"hidden": [8], "epochs": 2, "batch": 128, "lr": 1e-3, "trials": 3}


@pytest.fixture(autouse=True)
def _one_layer(monkeypatch):
    monkeypatch.setattr(online_stn, "STN_RANGES", {"input_noise": (0.0, 1.0), "dropout0": (0.0, 0.9),
                                               "dropout1": (0.0, 0.9)})
    monkeypatch.setattr(online_stn, "STN_VARIANTS", {"stn": {"hyper_lr": 1e-2, "centered": False}})
    monkeypatch.setattr(online_stn, "STN_COMMON", {"train_steps": 2, "val_steps": 1, "warmup_epochs": 1})


def test_stn_part_counts_compute_and_compares_per_seed():
    runs = [online_stn._search_job("random", 0, TINY), online_stn._search_job("tpe", 0, TINY),
            online_stn._stn_job("stn", 0, TINY)]
    assert runs[0]["backend"].startswith("hpo.create_study")
    assert len(runs[0]["trials"]) == 3 and all(math.isfinite(t["val_loss"]) for t in runs[0]["trials"])
    stn = runs[2]
    assert stn["train_examples"] == 2 * 1078 and stn["val_examples"] > 0
    rows, table = online_stn._stn_summary(runs, [0], TINY)
    by = {r["method"]: r for r in rows}
    assert by["random (3 trials)"]["epochs"] == [6]
    assert by["random (3 trials)"]["val"] == [min(t["val_loss"] for t in runs[0]["trials"])]
    assert by["stn"]["compute_ratio"] and "| stn |" in table
    assert 0 < by["stn"]["macs"][0] < by["random (3 trials)"]["macs"][0]


def test_best_epoch_rule_is_applied_to_fixed_trials_and_stn_alike():
    data = online_common.digits()
    config = {"input_noise": 0.1, "dropout0": 0.1, "dropout1": 0.1}
    final = online_stn._fixed_trial(config, 0, dict(TINY, epochs=3), data)
    best = online_stn._fixed_trial(config, 0, dict(TINY, epochs=3, select="best"), data)
    assert best["val_curve"] == final["val_curve"] and len(best["val_curve"]) == 3
    assert best["val_loss"] == min(best["val_curve"]) <= final["val_loss"] == final["val_curve"][-1]
    assert best["macs"] > final["macs"]  # the per-epoch evaluations are counted when they are used
    stn = online_stn._stn_job("stn", 0, dict(TINY, epochs=3, select="best"))
    curve = [row["val_loss"] for row in stn["schedule"]]
    assert stn["val_loss"] == min(curve) and stn["val_final"] == curve[-1]
    assert stn["best_epoch"] == curve.index(min(curve))


def test_seed_ranges_and_paired_test():
    assert online_common.seed_list("3") == [0, 1, 2]
    assert online_common.seed_list("100-104") == [100, 101, 102, 103, 104]
    assert online_common.seed_list("1,5,7") == [1, 5, 7]
    for bad in ("0", "9-0", "a"):
        with pytest.raises(Exception, match="--seeds takes"):
            online_common.seed_list(bad)
    assert online_stn._wilcoxon([1.0, 2.0], [1.0, 2.0]) is None  # no differences: undefined
    p = online_stn._wilcoxon([0.1 * k for k in range(10)], [0.1 * k + 0.05 for k in range(10)])
    assert p == pytest.approx(2 / 2 ** 10)  # all ten differences of one sign: exact two-sided p


def test_recheck_retrains_each_setting_on_the_same_fresh_seeds(tmp_path, monkeypatch):
    runs = [online_stn._search_job("random", 0, dict(TINY, trials=4)), online_stn._stn_job("stn", 0, TINY)]
    saved = {"meta": {"sizes": dict(TINY, select="best"), "seeds": [0]}, "runs": runs}
    (tmp_path / "online_stn.json").write_text(json.dumps(saved))
    monkeypatch.setattr(online_stn, "RESULTS", tmp_path)
    online_stn.run_stn_recheck(retrains=2, n_jobs=1)
    out = json.loads((tmp_path / "online_stn_recheck.json").read_text())
    rs, stn = out["runs"]["random (4 trials)"]["0"], out["runs"]["stn"]["0"]
    control = out["runs"]["random, its 4th trial (unselected control)"]["0"]
    assert control["setting"] == runs[0]["trials"][3]["config"]
    own_seed = online_stn._fixed_trial(control["setting"], 0 * 1000 + 3, dict(TINY, select="best"),
                                       online_common.digits())
    assert own_seed["val_loss"] == control["reported_val"]  # a trial retrained on its own seed: the same loss
    assert rs["setting"] == min(runs[0]["trials"], key=lambda t: t["val_loss"])["config"]
    assert rs["reported_val"] == min(t["val_loss"] for t in runs[0]["trials"])
    assert stn["setting"] == runs[1]["hyperparameters"] and stn["reported_val"] == runs[1]["val_loss"]
    assert len(rs["fresh_val"]) == len(stn["fresh_val"]) == 2
    data = online_common.digits()
    again = online_stn._fixed_trial(rs["setting"], 0 * 1000 + 500 + 1, dict(TINY, select="best"), data)
    assert again["val_loss"] == rs["fresh_val"][1]  # the documented fresh seed, reproducible
    assert "| stn |" in (tmp_path / "online_stn_recheck.md").read_text()


# --- hypergradient benchmark ----------------------------------------------------------------------------------
def _fake_run(family, method, lr0, seed, losses, initial=2.0, epochs=(5, 15, 50)):
    return {"dataset": "d", "model": "m", "family": family, "method": method, "lr0": lr0, "seed": seed,
            "initial_loss": initial, "epochs": list(epochs), "train": list(losses), "test": list(losses),
            "lr": [lr0] * len(epochs), "warnings": 0, "cpu_s": 0.1}


def test_hypergrad_scoring_spread_ratio_and_gaps_by_hand(monkeypatch):
    monkeypatch.setattr(online_hypergrad, "REPORT", {"datasets": ["d"], "models": ["m"], "epochs": [5, 15, 50],
                                                     "seeds": [0]})
    lrs = online_hypergrad.INITIAL_LRS["sgd"]
    plain = [_fake_run("sgd", "plain", lr, 0, [v] * 3) for lr, v in zip(lrs, [1.9, 1.5, 0.9, 0.5, math.inf])]
    plain.append(_fake_run("sgd", "plain", 10 ** -0.75, 0, [0.4] * 3))  # the tuned fixed rate, between lr0 values
    plain.append(_fake_run("sgd", "plain", 1e-4, 1, [1.9] * 3))  # a second seed at 1e-4: the mean is taken
    hd = [_fake_run("sgd", "hd", lr, 0, [v] * 3) for lr, v in zip(lrs, [0.48, 0.46, 0.44, 0.42, 2.5])]
    rows = online_hypergrad.score_cells(plain + hd, "report")
    assert [r["epochs"] for r in rows] == [5, 15, 50]
    r = rows[0]
    assert r["plain"] == [1.9, 1.5, 0.9, 0.5, 2.0]  # a non-finite final loss counts at the initial loss
    assert r["hd"] == [0.48, 0.46, 0.44, 0.42, 2.0]  # so does one above it
    assert r["plain_spread"] == pytest.approx(1.5) and r["spread"] == pytest.approx(1.58)
    assert r["spread_ratio"] == pytest.approx(1.5 / 1.58) and not r["meets_spread"]
    assert r["best_fixed"] == 0.4 and r["best_fixed_lr"] == pytest.approx(10 ** -0.75)
    assert r["median_gap"] == pytest.approx(0.46 / 0.4 - 1) and not r["meets_median"]
    assert r["best_gap"] == pytest.approx(0.42 / 0.4 - 1)


def test_hypergrad_a_tuned_loss_of_zero_is_matched_only_by_zero(monkeypatch):
    monkeypatch.setattr(online_hypergrad, "REPORT", {"datasets": ["d"], "models": ["m"], "epochs": [5, 15, 50],
                                                     "seeds": [0]})
    lrs = online_hypergrad.INITIAL_LRS["adam"]
    plain = [_fake_run("adam", "plain", lr, 0, [1.0, 0.5, v]) for lr, v in zip(lrs, [0.9, 0.3, 0.0, 0.0, 0.0])]
    hd = [_fake_run("adam", "hd", lr, 0, [0.8, 0.4, v]) for lr, v in zip(lrs, [0.0, 0.0, 0.0, 1e-6, 1e-5])]
    at = {r["epochs"]: r for r in online_hypergrad.score_cells(plain + hd, "report")}
    assert at[50]["best_fixed"] == 0.0
    assert at[50]["best_gap"] == 0.0 and at[50]["median_gap"] == 0.0 and at[50]["meets_median"]
    hd_pos = [_fake_run("adam", "hd", lr, 0, [0.8, 0.4, 1e-6]) for lr in lrs]
    far = {r["epochs"]: r for r in online_hypergrad.score_cells(plain + hd_pos, "report")}[50]
    assert far["median_gap"] == math.inf and not far["meets_median"]


def test_hypergrad_cut_grid_runs_are_scored_only_where_every_seed_ran_that_long(tmp_path, monkeypatch):
    monkeypatch.setattr(online_hypergrad, "RESULTS", tmp_path)
    monkeypatch.setattr(online_hypergrad, "REPORT", {"datasets": ["d"], "models": ["m"], "epochs": [5, 15, 50],
                                                     "seeds": [0, 1]})
    lrs = online_hypergrad.INITIAL_LRS["sgd"]
    short = [_fake_run("sgd", m, lr, s, [1.0, 0.5], epochs=(5, 15)) for m in ("plain", "hd") for lr in lrs
             for s in (0, 1)]
    long = [_fake_run("sgd", m, lr, 0, [1.0, 0.5, 0.25]) for m in ("plain", "hd") for lr in lrs]
    with open(tmp_path / "online_hypergrad_runs.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in short + long)
    runs = online_hypergrad.read_runs("report")
    assert len(runs) == len(short)  # seed 0's longer rerun replaces its short run
    assert sum(r["epochs"] == [5, 15, 50] for r in runs) == len(long)
    rows = online_hypergrad.score_cells(runs, "report")
    assert [r["epochs"] for r in rows] == [5, 15]  # 50 epochs: seed 1 never ran that long
    assert rows[1]["best_fixed"] == 0.5 and rows[1]["spread"] == 0


def test_hypergrad_refinement_is_named_once_the_coarse_grid_is_done(monkeypatch):
    monkeypatch.setattr(online_hypergrad, "DEV", {"datasets": ["iris"], "models": ["linear"], "epochs": [1, 2],
                                                  "seeds": [100]})
    monkeypatch.setattr(online_hypergrad, "DEV_CANDIDATES", {"sgd": {"mul": {"hypergrad_lr": 0.1}}})
    jobs = online_hypergrad.plan("dev", ("sgd",))
    assert [j[3] for j in jobs] == ["plain", "mul"]
    grid = online_hypergrad.coarse_grid("sgd")
    assert jobs[0][5] == grid and len(grid) == 11 and grid[0] == pytest.approx(1e-4) and grid[-1] == pytest.approx(10)
    best = grid[6]
    runs = [dict(_fake_run("sgd", "plain", lr, 100, [1.0 if lr != best else 0.5] * 2, epochs=(1, 2)),
                 dataset="iris", model="linear") for lr in grid]
    jobs = online_hypergrad.plan("dev", ("sgd",), runs)
    assert jobs[1][3] == "plain" and jobs[1][5] == pytest.approx([best * 10 ** -0.25, best * 10 ** 0.25])


def test_hypergrad_stage_runs_resumes_and_summarizes(tmp_path, monkeypatch):
    monkeypatch.setattr(online_hypergrad, "RESULTS", tmp_path)
    monkeypatch.setattr(online_hypergrad, "DEV", {"datasets": ["iris"], "models": ["linear"], "epochs": [1, 2],
                                                  "seeds": [100]})
    monkeypatch.setattr(online_hypergrad, "INITIAL_LRS", dict(online_hypergrad.INITIAL_LRS, sgd=[1e-2, 1e-1]))
    monkeypatch.setattr(online_hypergrad, "DEV_CANDIDATES", {"sgd": {"mul 0.2": {"hypergrad_lr": 0.2},
                                                                     "off": {"hypergrad_lr": 0.0}}})
    runs = online_hypergrad.run_stage("dev", 1, ("sgd",))
    assert (tmp_path / "online_hypergrad_dev_runs.jsonl.gz").exists()
    assert not (tmp_path / "online_hypergrad_dev_runs.jsonl").exists()
    plain = [r for r in runs if r["method"] == "plain"]
    assert len(plain) == len(online_hypergrad.coarse_grid("sgd")) + 2  # the coarse grid and its refinement
    off = {r["lr0"]: r["train"] for r in runs if r["method"] == "off"}
    same = {r["lr0"]: r["train"] for r in plain if r["lr0"] in off}
    assert off == same  # beta = 0 is the plain optimizer, run for run
    assert all(r["epochs"] == [1, 2] and len(r["lr"]) == 2 for r in runs)
    assert online_hypergrad.run_stage("dev", 1, ("sgd",)) == runs  # nothing left to run
    rows = online_hypergrad.summarize("dev")
    assert {r["method"] for r in rows} == {"mul 0.2", "off"} and len(rows) == 4
    saved = json.loads((tmp_path / "online_hypergrad_dev.json").read_text())
    assert saved["chosen"]["sgd"]["method"] in ("mul 0.2", "off")
    assert "## Every cell" in (tmp_path / "online_hypergrad_dev_table.md").read_text()


def test_hypergrad_report_runs_the_library_defaults_and_draws_the_figure(tmp_path, monkeypatch):
    monkeypatch.setattr(online_hypergrad, "RESULTS", tmp_path)
    monkeypatch.setattr(online_hypergrad, "REPORT", {"datasets": ["iris"], "models": ["linear"], "epochs": [1, 2],
                                                     "seeds": [0]})
    monkeypatch.setattr(online_hypergrad, "INITIAL_LRS", dict(online_hypergrad.INITIAL_LRS, sgd=[1e-2, 1e-1]))
    runs = online_hypergrad.run_stage("report", 1, ("sgd",))
    assert {r["method"] for r in runs} == {"plain", online_hypergrad.DEFAULTS}
    rows = online_hypergrad.summarize("report")
    assert [(r["method"], r["epochs"]) for r in rows] == [(online_hypergrad.DEFAULTS, 1), (online_hypergrad.DEFAULTS, 2)]
    assert (tmp_path / "online_hypergrad.png").stat().st_size > 10_000
    assert "## Summary by model" in (tmp_path / "online_hypergrad_table.md").read_text()


def test_hypergrad_models_fit_every_dataset():
    for dataset in ("digits", "wine", "diabetes"):
        data = online_hypergrad.load(dataset)
        for model in ("logreg", "mlp", "cnn", "mlp2-tanh"):
            out = online_hypergrad.build_model(model, data)(data["train"][0][:3])
            assert out.shape == (3, data["n_out"])


def test_online_dispatches_each_part_with_its_arguments(monkeypatch):
    calls = []
    monkeypatch.setattr(online_stn, "main", lambda argv: calls.append(("stn", argv)))
    monkeypatch.setattr(online_hypergrad, "main", lambda argv: calls.append(("hd", argv)))
    online.main(["--part", "stn", "--jobs", "1", "--seeds", "0-9"])
    online.main(["--part", "stn-recheck", "--retrains", "5"])
    online.main(["--part", "hypergrad", "--stage", "dev"])
    online.main(["--part", "all", "--jobs", "2", "--seeds", "3"])
    assert calls == [("stn", ["--part", "stn", "--jobs", "1", "--seeds", "0-9"]),
                     ("stn", ["--part", "stn-recheck", "--retrains", "5"]), ("hd", ["--stage", "dev"]),
                     ("hd", ["--jobs", "2"]), ("stn", ["--part", "stn", "--jobs", "2", "--seeds", "3"])]
