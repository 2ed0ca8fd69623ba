"""The LLAMBO benchmark's bookkeeping: which runs it scores and how it reads shorter runs."""

from __future__ import annotations

import json

from benchmarks import llambo as bench


def _run(arm, seed, losses, status=None, problem="p"):
    r = {"arm": arm, "problem": problem, "seed": seed, "losses": losses, "cpu_s": 1.0, "server_cpu_s": 0.0,
         "loadavg": [1.0, 1.0]}
    if status:
        r["status"] = status
    return r


def test_a_run_whose_endpoint_failed_is_neither_scored_nor_counted_done(tmp_path):
    runs = tmp_path / "x_runs.jsonl"
    lines = [_run("random", 0, [3.0, 2.0]), _run("llambo[m]", 0, [9.0, 9.0], status="endpoint_failed"),
             _run("llambo[m]", 1, [1.0, 1.0], status="ok")]
    runs.write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert bench._load_done(runs, 2) == {("random", "p", 0), ("llambo[m]", "p", 1)}
    assert bench._load_done(runs, 25) == set()  # a run shorter than the budget asked for is run again
    scored = bench._records(tmp_path / "x")
    assert sorted((r["arm"], r["seed"]) for r in scored) == [("llambo[m]", 1), ("random", 0)]
    runs.write_text(runs.read_text() + json.dumps(_run("llambo[m]", 0, [2.0, 0.5], status="ok")) + "\n")
    assert ("llambo[m]", "p", 0) in bench._load_done(runs, 2)  # the rerun that worked counts


def test_seeds_are_a_count_or_a_list():
    assert bench._seeds("3") == [0, 1, 2] and bench._seeds("3,4") == [3, 4]


def test_shorter_runs_are_scored_at_the_budgets_they_reach():
    records = [_run("random", s, [5.0 - s] * 25) for s in range(2)]
    records += [_run("random", s, [4.0] * 25, problem="q") for s in range(2)]
    records += [_run("gp", s, [3.0] * 10) for s in range(2)]
    assert bench.report_budgets(records) == [5, 10, 25]
    assert bench.common_problems(records) == ["p"]
    table = bench.summarise([r for r in records if r["problem"] == "p"])
    gp = table["arms"]["gp"]
    assert gp["score@10"]["n_seeds"] == 2 and gp["score@25"] == {"mean": None, "std_seeds": None, "n_seeds": 0}
    assert gp["best@25"] == {} and gp["best@10"] == {"p": 3.0}
    assert "| gp | 2 | 2 |" in bench.markdown(table)
