"""The pruning comparison: pruners set to the ladder, cost accounting, curves, report, committed run."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import experiments
from benchmarks.experiments import pruning
from benchmarks.resultfiles import read_records, trajectory_difference
from benchmarks.runner import RunSpec, ladder_pruner, run_one

COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "pruning"


def test_pruners_follow_the_ladder():
    import optuna

    sha = ladder_pruner("asha")
    assert isinstance(sha, optuna.pruners.SuccessiveHalvingPruner)
    assert (sha._min_resource, sha._reduction_factor) == (1, 3)
    hb = ladder_pruner("hyperband")
    assert (hb._min_resource, hb._max_resource, hb._reduction_factor) == (1, 27, 3)
    assert isinstance(ladder_pruner("none"), optuna.pruners.NopPruner)
    assert isinstance(ladder_pruner("median"), optuna.pruners.MedianPruner)
    assert pruning.strategies(["tpe"], ["none", "asha"]) == ["tpe+none", "tpe+asha"]


def test_cost_curve_counts_only_full_fidelity_losses():
    rec = {"resources": [0.1, 0.9, 0.1, 0.1], "fractions": [0.1, 1.0, 0.1, 0.2], "losses": [0.5, 2.0, 0.1, None]}
    curve = pruning.cost_curve(rec, [0.05, 0.1, 1.0, 1.2, 5.0])
    assert math.isinf(curve[0]) and math.isinf(curve[1])  # a low rung is not a result
    assert list(curve[2:]) == [2.0, 2.0, 2.0]
    assert pruning.best_at(rec, 1.0) == 2.0


def test_no_pruning_and_asha_spend_the_same_cost(tmp_path):
    exp = pruning.experiment(tmp_path, problems=["branin-mf"], bases=["random"], pruners=["none", "asha"],
                             seeds=2, budget=4, costs=[2, 4])
    md = experiments.run(exp, jobs=1, progress=False)
    recs = experiments.records(exp)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs)
    for r in recs:
        # the budget and no more: a run stops when the next rung would overrun it
        assert 4 - 1 < sum(r["resources"]) <= 4 + 1e-6
        assert r["pruner"].startswith(("NopPruner", "SuccessiveHalvingPruner(min_resource=1"))
    none = [r for r in recs if r["strategy"] == "random+none"]
    asha = [r for r in recs if r["strategy"] == "random+asha"]
    assert all(len(set(r["trial_numbers"])) == 4 for r in none)  # every rung of 4 trials
    assert all(len(set(r["trial_numbers"])) > 4 for r in asha)  # pruning buys more trials
    text = md.read_text()
    assert "| random+asha |" in text and "baseline" in text and "### branin-mf" in text
    assert (tmp_path / "pruning.png").stat().st_size > 0 and (tmp_path / "runs.jsonl.gz").is_file()
    summary = json.loads((tmp_path / "pruning.json").read_text())
    w = summary["overall"]["random+asha"]["at"]["4"]["vs_no_pruning"]
    assert w["n"] == 2 and 0 <= w["pvalue"] <= 1
    # the same run again gives the same trials
    again = run_one(RunSpec("random+asha", "branin-mf", 1, 4))
    first = next(r for r in asha if r["seed"] == 1)
    assert again["losses"] == first["losses"] and again["configs"] == first["configs"]


def test_a_problem_without_fidelity_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no fidelity"):
        pruning.experiment(tmp_path, problems=["branin"], seeds=1, budget=2)


@pytest.mark.skipif(not (COMMITTED / "runs.jsonl.gz").is_file(), reason="no committed pruning run")
def test_committed_pruning_run_is_complete():
    summary = json.loads((COMMITTED / "pruning.json").read_text())
    recs = [r for r in read_records(COMMITTED / "runs.jsonl.gz") if r["budget"] == summary["budget"]]
    cells = {(r["benchmark"], r["strategy"], r["seed"]) for r in recs}
    assert len(cells) == len(summary["problems"]) * len(summary["strategies"]) * len(summary["seeds"])
    for r in recs:
        assert r["status"] == "ok", (r["benchmark"], r["strategy"], r["seed"], r["error"])
        assert sum(r["resources"]) <= r["budget"] + 1e-6


@pytest.mark.slow
@pytest.mark.skipif(not (COMMITTED / "runs.jsonl.gz").is_file(), reason="no committed pruning run")
def test_committed_pruning_runs_reproduce():
    """Seed 0 on branin-mf for every strategy: the same configurations and losses."""
    for r in read_records(COMMITTED / "runs.jsonl.gz"):
        if r["benchmark"] != "branin-mf" or r["seed"] != 0:
            continue
        again = run_one(RunSpec(r["strategy"], r["benchmark"], r["seed"], r["budget"]))
        assert trajectory_difference(again, r) is None, (r["strategy"], trajectory_difference(again, r))
