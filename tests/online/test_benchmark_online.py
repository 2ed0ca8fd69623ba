"""Smoke test of the online benchmarks (benchmarks/online_stn.py, online_hypergrad.py) at toy sizes."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import online_common, online_hypergrad, online_stn

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


def test_hypergrad_job_records_curves_and_learning_rates():
    sz = {"epochs": 2, "batch": 256, "mlp_hidden": 8, "seeds": 1}
    out = online_hypergrad._hd_job("logreg", "sgd-hd add beta=1e-3 (paper)", [1e-4, 1e-2], 0, sz)
    assert [r["lr0"] for r in out] == [1e-4, 1e-2]
    assert all(len(r["curve"]) == 2 and len(r["lr_curve"]) == 2 for r in out)
    assert out[0]["lr_curve"][-1] > 1e-4  # the hypergradient raised the small rate


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
