"""Experiments as data: definitions, variants (settings, warm start, workers), subsets that reproduce."""

import pytest
from typer.testing import CliRunner

from benchmarks import experiments
from benchmarks.cli import app
from benchmarks.experiments import wrappers
from benchmarks.peers import PEERS, available_peers, run_peer
from benchmarks.registry import make_benchmark
from benchmarks.runner import RunSpec, UnknownStrategyNameError, Variant, check_strategies, compare_results, run_one
from benchmarks.runner import warm_start_history

runner = CliRunner()


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_is_well_defined(name):
    exp = experiments.get(name)
    specs = exp.specs()
    assert specs and len({(s.benchmark, s.strategy, s.seed, s.budget) for s, _ in specs}) == len(specs)
    variants = exp.variants()
    names = sorted({s.strategy for s, _ in specs})
    base = {n: variants[n].base if n in variants else n for n in names}
    here = [n for n in names if base[n] not in PEERS or base[n] in available_peers()]  # hebo needs its own install
    assert here and check_strategies(here, variants) == here  # every base is an hpo strategy or a peer


def test_unknown_experiment_and_subset_are_one_line_errors(tmp_path):
    res = runner.invoke(app, ["experiment", "run", "homopts"])
    assert res.exit_code == 2 and res.output.startswith("error: unknown experiment 'homopts'; experiments: wrappers")
    res = runner.invoke(app, ["experiment", "run", "homopt", "--problems", "brannin", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "has no problem 'brannin'" in res.output
    res = runner.invoke(app, ["experiment", "list"])
    assert res.exit_code == 0 and "strategy-overhead:" in res.output and "homopt_runs.jsonl.gz" in res.output


def test_warm_start_is_the_same_for_every_strategy_on_a_seed():
    bench = make_benchmark("mixed")
    a = warm_start_history(bench, bench.get_configuration_space(seed=1), 4, seed=0)
    b = warm_start_history(bench, bench.get_configuration_space(seed=2), 4, seed=0)
    assert a == b and len(a) == 4
    assert warm_start_history(bench, bench.get_configuration_space(seed=1), 4, seed=1) != a


@pytest.mark.parametrize("variant", [Variant("tpe", {"n_startup_trials": 5}, warm_start=12),
                                     Variant("optuna-tpe", dict(wrappers._TPE), warm_start=12),
                                     Variant("hyperopt", {"n_startup_jobs": 5, "int_encoding": "quniform"}, warm_start=12)])
def test_a_warm_start_is_told_not_evaluated(variant):
    spec = RunSpec("v", "mixed", 0, 4)
    rec = run_one(spec, variant=variant)
    assert rec["status"] == "ok", rec["error"]
    assert rec["n_trials"] == 4 and rec["variant"]["warm_start"] == 12 and rec["variant"]["base"] == variant.base
    assert len(rec["overhead_cpu_s"]) == 4 and all(x >= 0 for x in rec["overhead_cpu_s"])
    assert run_one(spec, variant=variant)["configs"] == rec["configs"]  # seeded
    assert run_one(spec, variant=Variant(variant.base, variant.kwargs))["configs"] != rec["configs"]


def test_peer_settings_and_variants_are_checked():
    cs = make_benchmark("branin").get_configuration_space()
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['n_startup'\] for peer 'hyperopt'; it takes: n_startup_jobs"):
        run_peer("hyperopt", cs, lambda c: 0.0, 2, 0, settings={"n_startup": 3})
    with pytest.raises(ValueError, match="int_encoding must be"):
        run_peer("hyperopt", cs, lambda c: 0.0, 2, 0, settings={"int_encoding": "round"})
    with pytest.raises(ValueError, match="takes no warm start"):
        run_peer("ax", cs, lambda c: 0.0, 2, 0, history=[({"x0": 0.0, "x1": 0.0}, 1.0)])
    with pytest.raises(UnknownStrategyNameError, match="n_jobs > 1 needs an hpo strategy"):
        check_strategies(["x"], {"x": Variant("optuna-tpe", n_jobs=2)})
    with pytest.raises(UnknownStrategyNameError, match="do not combine with a pruner"):
        check_strategies(["x"], {"x": Variant("tpe+asha", warm_start=3)})
    with pytest.raises(ValueError, match="warm_start must be"):
        Variant("tpe", warm_start=-1)
    with pytest.raises(ValueError, match="executor must be 'local'"):
        Variant("tpe", n_jobs=2, executor="dask")
    with pytest.raises(ValueError, match="give n_jobs >= 2"):
        Variant("tpe", executor="ray")


def test_two_workers_variant_runs_every_trial():
    rec = run_one(RunSpec("random-2jobs", "branin", 0, 6), variant=Variant("random", n_jobs=2), sleep=0.01)
    assert rec["status"] == "ok", rec["error"]
    assert rec["n_trials"] == 6 and all(v is not None for v in rec["losses"]) and rec["sleep_s"] == 0.01
    assert all(x is None for x in rec["overhead_s"]) and all(x >= 0.01 for x in rec["objective_s"])


@pytest.mark.slow
def test_ray_variant_runs_every_trial_on_its_own_ray():
    pytest.importorskip("ray.tune")
    import ray

    variant = Variant("auto", n_jobs=2, executor="ray")
    rec = run_one(RunSpec("auto-ray2", "branin", 0, 8), variant=variant, sleep=0.3)
    assert rec["status"] == "ok", rec["error"]
    assert rec["n_trials"] == 8 and all(v is not None for v in rec["losses"])
    assert rec["variant"] == {**Variant("auto", n_jobs=2).describe(), "executor": "ray"}
    assert not ray.is_initialized()  # the run's Ray is shut down


def _rerun_matches(tmp_path, name, *args):
    exp = experiments.get(name)
    if not exp.archive.is_file():
        pytest.skip(f"no committed {name} run")
    res = runner.invoke(app, ["experiment", "run", name, "--seeds", "1", *args, "--out", str(tmp_path), "--quiet"])
    assert res.exit_code == 0, res.output
    return compare_results(exp.archive, tmp_path)


def test_a_subset_of_the_committed_homopt_runs_reproduces(tmp_path):
    got = _rerun_matches(tmp_path, "homopt", "--problems", "branin", "--strategies", "random")
    assert len(got["same"]) == 1 and not got["differ"] and not got["only_b"]


@pytest.mark.slow
def test_a_committed_homopt_variant_reproduces(tmp_path):
    """A variant (HomOpt's default on random search, 100 trials) reruns as committed, bit for bit."""
    got = _rerun_matches(tmp_path, "homopt", "--problems", "branin", "--strategies", "homopt-smooth-light:random")
    assert len(got["same"]) == 1 and not got["differ"] and not got["only_b"]


@pytest.mark.slow
def test_a_subset_of_the_committed_pruning_runs_reproduces(tmp_path):
    got = _rerun_matches(tmp_path, "pruning", "--problems", "branin-mf", "--strategies", "random+none,random+asha")
    assert len(got["same"]) == 2 and not got["differ"] and not got["only_b"]


def test_hyperopt_integers_as_hpo_declares_them():
    from benchmarks.peers import _hyperopt_space

    cs = make_benchmark("mixed").get_configuration_space()
    flat, _ = _hyperopt_space(cs, "quniform")
    assert "Literal{-5.5}" in str(flat["n0"]) and "Literal{-5}" in str(_hyperopt_space(cs)[0]["n0"])  # n0 in [-5, 5]


def test_wrapper_report_pairs_each_wrapper_with_its_library(tmp_path):
    recs = [run_one(RunSpec(name, "branin", seed, 6), variant=wrappers.NATIVE["tpe"][1] if name != "tpe" else None)
            for name in ("tpe", "native-tpe") for seed in (0, 1)]
    md = wrappers.write_report(recs, tmp_path, "cmd").read_text()
    assert "| tpe | branin | 2 |" in md and "`optuna-tpe` n_startup_trials=10, multivariate=True" in md
    assert (tmp_path / "wrappers.json").is_file()


def test_default_report_measures_how_local_each_strategys_proposals_are():
    import numpy as np

    from benchmarks.experiments.default import _locality

    bench = make_benchmark("levy6-shifted")
    lo, hi = np.array(bench.bounds, float).T
    rng = np.random.default_rng(0)

    def run(strategy, units):
        configs = [{f"x{i}": float(v) for i, v in enumerate(lo + u * (hi - lo))} for u in units]
        return {"benchmark": "levy6-shifted", "strategy": strategy, "configs": configs,
                "losses": [float(bench.objective_function(c)["function_value"]) for c in configs]}

    start = rng.random((5, 6))
    best = start[np.argmin(run("x", start)["losses"])]
    hugging = np.vstack([start, best + 0.001 * rng.standard_normal((35, 6))])  # every proposal next to the best
    lines, data = _locality([run("hugger", hugging), run("scatter", rng.random((40, 6)))])
    assert data["levy6-shifted|hugger"]["within_0.1"] == 1.0 and data["levy6-shifted|hugger"]["beyond_0.5"] == 0.0
    assert data["levy6-shifted|scatter"]["incumbent_median"] > 0.5 > data["levy6-shifted|hugger"]["incumbent_median"]
    assert sum("| levy6-shifted |" in line for line in lines) == 2


def test_default_report_scores_every_problem_and_counts_those_both_leaders_solve():
    from benchmarks.experiments.default import _problem_scores
    from benchmarks.scoring import score

    recs = [run_one(RunSpec(s, p, seed, 6)) for s in ("random", "tpe") for p in ("branin", "hartmann6") for seed in (0, 1)]
    sc = score(recs, budgets=(3, 6))
    lines, data = _problem_scores(sc, ["tpe", "random"], pair=("random", "tpe"), level=-1e9, at=6)
    assert lines[2] == "| problem | tpe | random |" and sum(line.startswith("| branin | ") for line in lines) == 1
    assert data["branin|random"] == [sc.per_problem[("branin", "random", b)]["mean"] for b in (3, 6)]
    assert data["solved"]["problems"] == ["branin", "hartmann6"] and "On 2 of 2 problems" in lines[0]
    _, none = _problem_scores(sc, ["tpe", "random"], pair=("random", "tpe"), level=101, at=6)
    assert none["solved"]["problems"] == []


def test_default_report_pairs_each_strategy_with_auto_on_the_harder_dev_problems(monkeypatch):
    from benchmarks.experiments import default as d

    monkeypatch.setattr(d, "DEV_HARD", ["branin", "hartmann6"])
    monkeypatch.setattr(d, "HARD", ("tpe", "random"))
    recs = [run_one(RunSpec(s, p, seed, 40)) for s in ("random", "tpe") for p in ("branin", "hartmann6")
            for seed in (0, 1, 2)]
    lines, data = d._hard(recs)
    assert lines == ["(no runs of auto and random on the harder dev problems yet)", ""] and data == {}
    monkeypatch.setattr(d, "HARD", ("auto", "tpe", "random"))
    recs += [dict(r, strategy="auto") for r in recs if r["strategy"] == "tpe"]  # auto proposing as tpe does
    lines, data = d._hard(recs)
    rows = [line for line in lines if line.startswith("| tpe | ")][1:]  # the first: the score table's
    assert len(rows) == 3 and all("| +0.0 |" in row and "| 0/0 | 6 |" in row for row in rows)
    assert data["random@40"]["n"] == 6 and set(data["cpu_ms"]) == {"auto", "tpe", "random"}
    assert any(line.startswith("| branin | ") for line in lines)


def test_default_report_counts_the_branches_each_strategy_searches_on_a_conditional_problem():
    from benchmarks.experiments.default import _branches

    recs = [run_one(RunSpec(s, "conditional", seed, 100)) for s in ("random", "tpe") for seed in (0, 1)]
    lines, data = _branches(recs)
    tpe = data["conditional|tpe"]
    later = [c["branch"] for r in recs if r["strategy"] == "tpe" for c in r["configs"][20:]]
    assert tpe["runs"] == 2 and tpe["share"] == {b: later.count(b) / 160 for b in ("branin", "hartmann", "quadratic")}
    assert sum(tpe["best"].values()) == 2 and sum(line.startswith("| conditional | ") for line in lines) == 2
    assert tpe["best_losses"] == [min(r["losses"]) for r in recs if r["strategy"] == "tpe"]
    anchors = data["conditional|anchors"]
    assert anchors["best"] == min(min(r["losses"]) for r in recs)
    assert anchors["optimum"] == pytest.approx(0.177632, abs=1e-6)
    assert any(line.startswith("conditional: score 0 at a loss of") for line in lines)
