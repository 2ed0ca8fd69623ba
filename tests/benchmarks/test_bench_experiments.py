"""Experiments as data: definitions, variants (settings, warm start, workers), subsets that reproduce."""

import pytest
from typer.testing import CliRunner

from benchmarks import experiments
from benchmarks.cli import app
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
    assert check_strategies(names, variants) == names  # every base is an hpo strategy or an installed peer


def test_unknown_experiment_and_subset_are_one_line_errors(tmp_path):
    res = runner.invoke(app, ["experiment", "run", "homopts"])
    assert res.exit_code == 2 and res.output.startswith("error: unknown experiment 'homopts'; experiments: homopt")
    res = runner.invoke(app, ["experiment", "run", "homopt", "--problems", "brannin", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "has no problem 'brannin'" in res.output
    res = runner.invoke(app, ["experiment", "list"])
    assert res.exit_code == 0 and "pruning:" in res.output and "homopt_runs.jsonl.gz" in res.output


def test_warm_start_is_the_same_for_every_strategy_on_a_seed():
    bench = make_benchmark("mixed")
    a = warm_start_history(bench, bench.get_configuration_space(seed=1), 4, seed=0)
    b = warm_start_history(bench, bench.get_configuration_space(seed=2), 4, seed=0)
    assert a == b and len(a) == 4
    assert warm_start_history(bench, bench.get_configuration_space(seed=1), 4, seed=1) != a


def test_a_warm_start_is_told_not_evaluated():
    variant = Variant("tpe", {"n_startup_trials": 5}, warm_start=12)
    spec = RunSpec("v", "mixed", 0, 4)
    rec = run_one(spec, variant=variant)
    assert rec["status"] == "ok", rec["error"]
    assert rec["n_trials"] == 4 and rec["variant"]["warm_start"] == 12 and rec["variant"]["base"] == "tpe"
    assert len(rec["overhead_cpu_s"]) == 4 and all(x >= 0 for x in rec["overhead_cpu_s"])
    assert run_one(spec, variant=variant)["configs"] == rec["configs"]  # seeded
    assert run_one(spec, variant=Variant("tpe", variant.kwargs))["configs"] != rec["configs"]


def test_variants_are_checked():
    with pytest.raises(UnknownStrategyNameError, match="n_jobs > 1 needs an hpo strategy"):
        check_strategies(["x"], {"x": Variant("optuna-tpe", n_jobs=2)})
    with pytest.raises(UnknownStrategyNameError, match="do not combine with a pruner"):
        check_strategies(["x"], {"x": Variant("tpe+asha", warm_start=3)})
    with pytest.raises(ValueError, match="warm_start must be"):
        Variant("tpe", warm_start=-1)


def test_two_workers_variant_runs_every_trial():
    rec = run_one(RunSpec("random-2jobs", "branin", 0, 6), variant=Variant("random", n_jobs=2), sleep=0.01)
    assert rec["status"] == "ok", rec["error"]
    assert rec["n_trials"] == 6 and all(v is not None for v in rec["losses"]) and rec["sleep_s"] == 0.01
    assert all(x is None for x in rec["overhead_s"]) and all(x >= 0.01 for x in rec["objective_s"])


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
