"""The runner: records, resume, exact reproducibility, errors, the process pool."""

import json

import pytest

from benchmarks.runner import RunSpec, UnknownStrategyNameError, load_results, plan, result_path, run_one, run_suite


def _mtimes(paths):
    return {p: p.stat().st_mtime_ns for p in paths}


def test_run_suite_writes_one_file_per_run_and_resumes(tmp_path):
    out = tmp_path / "res"
    paths = run_suite(["random", "optuna-random"], ["branin", "mixed"], seeds=2, budget=6, out=out, jobs=1, progress=False)
    assert len(paths) == 8 and all(p.exists() for p in paths)
    rec = json.loads(result_path(out, RunSpec("random", "mixed", 1, 6)).read_text())
    assert rec["status"] == "ok" and rec["n_trials"] == 6 and len(rec["losses"]) == 6
    assert rec["kind"] == "hpo" and rec["family"] == "synthetic"
    assert len(rec["overhead_s"]) == len(rec["objective_s"]) == len(rec["configs"]) == 6
    assert {"x0", "x1", "n0", "n1", "color"} == set(rec["configs"][0])
    before = _mtimes(paths)
    again = run_suite(["random", "optuna-random"], ["branin", "mixed"], seeds=2, budget=6, out=out, jobs=1, progress=False)
    assert again == paths and _mtimes(paths) == before  # second run is a no-op
    assert len(load_results(out)) == 8


@pytest.mark.parametrize("strategy", ["random", "tpe", "optuna-tpe", "hyperopt", "optuna-gp"])
def test_runs_reproduce_exactly(strategy):
    spec = RunSpec(strategy, "conditional", 0, 12)
    a, b = run_one(spec), run_one(spec)
    assert a["status"] == "ok", a["error"]
    assert a["losses"] == b["losses"] and a["configs"] == b["configs"]
    other = run_one(RunSpec(strategy, "conditional", 1, 12))
    assert other["losses"] != a["losses"]


def test_conditional_configs_hold_only_active_parameters():
    rec = run_one(RunSpec("hyperopt", "conditional", 0, 15))
    for config in rec["configs"]:
        prefix = {"branin": "a", "hartmann": "h", "quadratic": "q"}[config["branch"]]
        assert all(k == "branch" or k.startswith(prefix) for k in config)


def test_crashing_strategy_is_recorded_not_raised(tmp_path, monkeypatch):
    import benchmarks.peers as peers

    def boom(cs, objective, budget, seed, settings, history):
        objective(dict(cs.sample_configuration()))
        raise RuntimeError("library exploded")

    monkeypatch.setitem(peers.PEERS, "optuna-random", boom)
    rec = run_one(RunSpec("optuna-random", "branin", 0, 5), tmp_path)
    assert rec["status"] == "error" and "library exploded" in rec["error"] and rec["n_trials"] == 1
    assert result_path(tmp_path, RunSpec("optuna-random", "branin", 0, 5)).exists()


def test_plan_is_seed_major_and_names_are_checked():
    specs = plan(["random", "hebo"], ["branin"], seeds=2, budget=5)
    assert [(s.seed, s.strategy) for s in specs] == [(0, "hebo"), (0, "random"), (1, "hebo"), (1, "random")]
    with pytest.raises(UnknownStrategyNameError, match="unknown strategy 'nope'.*peers: optuna-tpe"):
        run_suite(["nope"], ["branin"], seeds=1, budget=2, out="/tmp/unused", progress=False)


@pytest.mark.slow
def test_process_pool(tmp_path):
    paths = run_suite(["random", "optuna-tpe"], ["branin"], seeds=2, budget=5, out=tmp_path, jobs=2, progress=False)
    recs = load_results(tmp_path)
    assert len(recs) == 4 and all(r["status"] == "ok" for r in recs) and len(paths) == 4
    serial = run_one(RunSpec("optuna-tpe", "branin", 1, 5))
    assert next(r for r in recs if r["strategy"] == "optuna-tpe" and r["seed"] == 1)["losses"] == serial["losses"]


def test_pruned_multifidelity_runs_count_resource():
    from benchmarks.scoring import score, trace

    rec = run_one(RunSpec("random+asha", "branin-mf", 0, 6))
    assert rec["status"] == "ok", rec["error"]
    assert rec["mode"] == "multifidelity"
    assert sum(rec["resources"]) <= 6 + 1e-9
    assert len(set(rec["trial_numbers"])) > 6  # pruning let it start more trials than 6 full ones
    assert min(rec["fractions"]) == pytest.approx(0.05) and max(rec["fractions"]) == 1.0  # rungs 0.05 .. 1
    t = trace(rec)
    assert len(t) == 6 and any(v is not None for v in t)
    full = [l for l, f in zip(rec["losses"], rec["fractions"]) if f == 1.0]
    assert min(v for v in t if v is not None) == min(full)
    again = run_one(RunSpec("random+asha", "branin-mf", 0, 6))
    assert again["losses"] == rec["losses"]
    plain = run_one(RunSpec("random", "branin-mf", 0, 6))
    sc = score([rec, plain], budgets=[6])
    assert set(sc.strategies) == {"random", "random+asha"}


def test_pruner_names_are_checked():
    from benchmarks.runner import check_strategies

    assert check_strategies(["tpe+median"]) == ["tpe+median"]
    with pytest.raises(UnknownStrategyNameError, match="unknown pruner 'fast'"):
        check_strategies(["tpe+fast"])
    with pytest.raises(UnknownStrategyNameError, match="needs an hpo strategy"):
        check_strategies(["optuna-tpe+asha"])
    rec = run_one(RunSpec("random+median", "branin", 0, 3))
    assert rec["status"] == "error" and "no fidelity" in rec["error"]
