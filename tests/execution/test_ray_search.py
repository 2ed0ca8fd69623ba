"""HpoSearch and RayExecutor units that need no running Ray: the calls Tune makes, driven by hand.

The order of calls follows Ray 2.60's TuneController: ``on_trial_result`` for every result
it lets continue, then ``on_trial_complete`` with the trial's last result (a result the
scheduler stopped the trial at is passed to ``on_trial_complete`` only).
"""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported (ENVIRONMENT.md)
# A Ray temp dir of our own (removed at exit): no other Ray on this machine finds our clusters
# or is found by them (ray.init() joins whatever cluster /tmp/ray/ray_current_cluster names).
if "RAY_TMPDIR" not in os.environ:
    import atexit, shutil, tempfile  # noqa: E401
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray puts sockets there
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], True)

import pickle

import pytest

pytest.importorskip("ray.tune")

from optuna.trial import TrialState
from ray import cloudpickle
from ray import tune
from ray.tune.search import Searcher

import hpo
from hpo.execution.ray import HpoSearch, RayExecutor, RayTrial, _space_from_ray

SPACE = {"x": hpo.Float(-2.0, 2.0), "y": hpo.Float(-2.0, 2.0)}


def loss(config):
    return (config["x"] - 0.7) ** 2 + (config["y"] + 0.3) ** 2


def run_trial(search, trial_id, steps=1, stop_at=None):
    """What Tune does for a trainable reporting ``steps`` results; ``stop_at``: the scheduler
    stops it at that iteration (that result goes to on_trial_complete only)."""
    config = search.suggest(trial_id)
    result = None
    for it in range(1, steps + 1):
        result = {"loss": loss(config) + 1.0 / it, "training_iteration": it}
        if stop_at == it:
            break
        search.on_trial_result(trial_id, result)
    search.on_trial_complete(trial_id, result)
    return config


def test_trials_are_recorded_complete_pruned_failed():
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0)
    run_trial(search, "done", steps=3)
    run_trial(search, "stopped", steps=3, stop_at=2)
    search.suggest("errored")
    search.on_trial_complete("errored", None, error=True)
    search.suggest("silent")
    search.on_trial_complete("silent", {"training_iteration": 1, "other": 1.0})
    done, stopped, errored, silent = search.study.trials
    assert done.state == TrialState.COMPLETE and done.intermediate_values.keys() == {1, 2, 3}
    assert done.value == pytest.approx(loss(done.params) + 1 / 3)
    assert stopped.state == TrialState.PRUNED and stopped.intermediate_values.keys() == {1, 2}
    assert errored.state == TrialState.FAIL and "max_failures" in errored.user_attrs["error"]
    assert silent.state == TrialState.FAIL and "'loss'" in silent.user_attrs["error"]
    assert [t.user_attrs["ray_trial_id"] for t in search.study.trials] == ["done", "stopped", "errored", "silent"]


def test_a_trial_stopped_at_max_t_ran_its_full_budget():
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0, max_t=3)
    run_trial(search, "full", steps=3, stop_at=3)
    run_trial(search, "early", steps=3, stop_at=1)
    full, early = search.study.trials
    assert full.state == TrialState.COMPLETE and full.value == pytest.approx(loss(full.params) + 1 / 3)
    assert early.state == TrialState.PRUNED


def test_stop_criteria_given_to_tune_count_as_a_full_budget():
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0)
    assert search.set_search_properties(None, None, {}, stop={"training_iteration": 2})
    run_trial(search, "t", steps=2, stop_at=2)
    assert search.study.trials[0].state == TrialState.COMPLETE


def test_the_worker_outcome_of_an_hpo_objective_is_recorded_as_it_ended():
    search = HpoSearch(strategy="random", space=SPACE, metric="value", mode="min", seed=0)
    for trial_id in ("ok", "raised", "pruned"):
        search.suggest(trial_id)
    base = {"hpo_step": -1, "hpo_attrs": '{"k": 1}', "hpo_node": "n1", "hpo_traceback": "", "training_iteration": 1}
    search.on_trial_complete("ok", {**base, "value": 0.25, "hpo_state": "COMPLETE", "hpo_error": ""})
    search.on_trial_complete("raised", {**base, "value": float("nan"), "hpo_state": "FAIL",
                                        "hpo_error": "ZeroDivisionError: division by zero"})
    search.on_trial_complete("pruned", {**base, "value": float("nan"), "hpo_state": "PRUNED", "hpo_error": ""})
    ok, raised, pruned = search.study.trials
    assert (ok.state, ok.value, ok.user_attrs["k"], ok.user_attrs["ray_node_id"]) == (TrialState.COMPLETE, 0.25, 1, "n1")
    assert raised.state == TrialState.FAIL and raised.user_attrs["error"] == "ZeroDivisionError: division by zero"
    assert pruned.state == TrialState.PRUNED


def test_running_trials_are_pending_for_the_strategy():
    search = HpoSearch(strategy="tpe", space=SPACE, metric="loss", mode="min", seed=0,
                       strategy_kwargs={"n_startup_trials": 2})
    for i in range(3):
        run_trial(search, f"t{i}")
    a, b = search.suggest("a"), search.suggest("b")
    assert a != b
    assert [t.state for t in search.study.trials[-2:]] == [TrialState.RUNNING, TrialState.RUNNING]


def test_max_concurrency_holds_suggestions_back():
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0)
    assert search.set_max_concurrency(2) is True
    assert search.suggest("a") is not None and search.suggest("b") is not None
    assert search.suggest("c") is None
    search.on_trial_complete("a", {"loss": 1.0, "training_iteration": 1})
    assert isinstance(search.suggest("c"), dict)


def _sequence(search, start, stop, checkpoint=None, live=None):
    """Trials start..stop-1 one after another; optionally save after trial ``checkpoint`` with
    trial ``live`` suggested but not finished."""
    configs = []
    for i in range(start, stop):
        trial_id = f"t{i}"
        config = search.suggest(trial_id) if trial_id not in search._live else search.suggest(trial_id)
        configs.append(config)
        if live == i:
            return configs
        result = {"loss": loss(config), "training_iteration": 1}
        search.on_trial_result(trial_id, result)
        search.on_trial_complete(trial_id, result)
    return configs


@pytest.mark.parametrize("strategy", ["tpe", pytest.param("gp", marks=pytest.mark.slow)])
def test_save_and_restore_continue_with_the_whole_history(tmp_path, strategy):
    kwargs = {"n_startup_trials": 3} if strategy == "tpe" else {}
    make = lambda: HpoSearch(strategy=strategy, space=SPACE, metric="loss", mode="min", seed=3, strategy_kwargs=kwargs)
    straight = _sequence(make(), 0, 9)

    first = make()
    blank = cloudpickle.dumps(first)  # what Tuner writes into tuner.pkl before fit
    before = _sequence(first, 0, 6, live=5)  # trial t5 is running when the driver dies
    path = tmp_path / "searcher-state.pkl"
    first.save(str(path))

    restored = cloudpickle.loads(blank)
    restored.restore(str(path))
    assert [t.state for t in restored.study.trials].count(TrialState.COMPLETE) == 5
    result = {"loss": loss(before[-1]), "training_iteration": 1}  # Ray reruns t5 with its config
    restored.on_trial_result("t5", result)
    restored.on_trial_complete("t5", result)
    after = _sequence(restored, 6, 9)
    assert before + after == straight
    assert [t.number for t in restored.study.trials] == list(range(9))


def test_a_fresh_searcher_pickles_and_keeps_no_password():
    search = HpoSearch(strategy="tpe", space=SPACE, metric="loss", mode="min",
                       storage="postgresql://hpo:s3cret-pass@db.example:5432/hpo")
    data = cloudpickle.dumps(search)
    assert b"s3cret-pass" not in data
    again = cloudpickle.loads(data)
    assert again._config["storage"] == "postgresql://hpo@db.example:5432/hpo"


def test_an_errored_trial_that_ray_resumes_is_recorded_again_and_a_finished_one_is_not():
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0)
    errored, done = search.suggest("e"), search.suggest("d")
    search.on_trial_complete("e", None, error=True)
    result = {"loss": 1.0, "training_iteration": 1}
    search.on_trial_result("d", result)
    search.on_trial_complete("d", result)
    # Tuner.restore(..., resume_errored=True) runs "e" again; "d" sends nothing new but is checked too
    rerun = {"loss": 2.0, "training_iteration": 1, **{f"config/{k}": v for k, v in errored.items()}}
    search.on_trial_result("e", rerun)
    search.on_trial_complete("e", rerun)
    search.on_trial_complete("d", {**result, **{f"config/{k}": v for k, v in done.items()}})
    states = [(t.state, t.params == errored, t.value) for t in search.study.trials]
    assert states == [(TrialState.FAIL, True, None), (TrialState.COMPLETE, False, 1.0), (TrialState.COMPLETE, True, 2.0)]


def test_a_restored_sqlite_search_reruns_a_trial_finished_meanwhile(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    search = HpoSearch(strategy="random", space=SPACE, metric="loss", mode="min", seed=0,
                       storage=url, study_name="s")
    _sequence(search, 0, 2)
    config = search.suggest("t2")
    path = tmp_path / "state.pkl"
    search.save(str(path))
    search.study.tell(2, 9.0)  # the old driver finished it after Ray's last checkpoint
    restored = HpoSearch()
    restored.restore(str(path))
    result = {"loss": loss(config), "training_iteration": 1}
    restored.on_trial_result("t2", result)
    restored.on_trial_complete("t2", result)
    trials = hpo.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert trials[3].params == trials[2].params == config and trials[3].value == pytest.approx(loss(config))


def test_space_from_ray_param_space():
    space = _space_from_ray({"lr": tune.loguniform(1e-4, 1e-1), "n": tune.randint(1, 10), "q": tune.qrandint(0, 10, 2),
                             "opt": tune.choice(["adam", "sgd"]), "d": tune.quniform(0.0, 1.0, 0.25),
                             "fixed": 3, "nested": {"w": tune.uniform(-1, 1)}})
    d = space.distributions
    assert d["lr"].log and (d["lr"].low, d["lr"].high) == (1e-4, 1e-1)
    assert (d["n"].low, d["n"].high) == (1, 9)  # Ray's randint excludes its upper bound
    assert (d["q"].low, d["q"].high, d["q"].step) == (0, 10, 2)  # qrandint includes it
    assert d["opt"].choices == ("adam", "sgd") and "fixed" not in d and "nested/w" in d
    search = HpoSearch(strategy="random", seed=0)
    assert search.set_search_properties("loss", "max", {"x": tune.uniform(0, 1), "nested": {"w": tune.uniform(0, 1)}})
    config = search.suggest("t")
    assert set(config) == {"x", "nested"} and set(config["nested"]) == {"w"}
    assert search.study.direction == "maximize"


@pytest.mark.parametrize("bad, message", [
    ({"x": tune.grid_search([1, 2])}, "grid_search"),
    ({"x": tune.randn(0, 1)}, "uniform, log-uniform"),
    ({"x": tune.qloguniform(1e-3, 1, 1e-3)}, "quantised log"),
])
def test_unsupported_ray_domains_are_refused_with_the_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        HpoSearch().set_search_properties("loss", "min", bad)


def test_searcher_validation_messages():
    with pytest.raises(ValueError, match="mode must be 'min' or 'max'"):
        HpoSearch(mode="minimize")
    with pytest.raises(TypeError, match="URL string"):
        HpoSearch(storage=object())
    with pytest.raises(ValueError, match="max_concurrent"):
        HpoSearch(max_concurrent=0)
    with pytest.raises(ValueError, match="no search space"):
        HpoSearch(metric="loss", mode="min").suggest("t")
    with pytest.raises(ValueError, match="needs metric and mode"):
        HpoSearch(space=SPACE).suggest("t")
    with pytest.raises(ValueError, match="TuneConfig has metric='acc'"):
        HpoSearch(space=SPACE, metric="loss", mode="min").set_search_properties("acc", "min", {})


def test_the_searcher_is_a_ray_searcher_and_finishes_an_executor_budget():
    assert isinstance(HpoSearch(), Searcher)
    search, _ = _executor_search(hpo.create_study(space=SPACE, seed=0), 1)
    assert isinstance(search.suggest("a"), dict)
    assert search.suggest("b") == Searcher.FINISHED
    assert pickle.loads(pickle.dumps(search))._config["executor"] is True


def _executor_search(study, n_trials):
    from hpo.execution import Job

    job = Job(study=study, objective=loss, budget=study.budget(n_trials=n_trials))
    search = HpoSearch(metric="value", mode="min")
    search._study, search._job, search._space, search._pass_number = study, job, study.space, True
    return search, job


def test_a_searcher_sent_to_the_head_node_reopens_the_job_there(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=SPACE, strategy="random", storage=url, study_name="c", seed=0)
    search, job = _executor_search(study, 2)
    search._job_spec = job.spec()
    remote = cloudpickle.loads(cloudpickle.dumps(search))  # what Ray Client ships with the Tuner
    config = remote.suggest("a")
    remote.on_trial_complete("a", {"value": 0.5, "hpo_state": "COMPLETE", "hpo_step": -1, "training_iteration": 1})
    assert isinstance(remote.suggest("b"), dict) and remote.suggest("c") == Searcher.FINISHED
    trials = hpo.load_study(study_name="c", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.RUNNING]
    assert trials[0].params == {k: v for k, v in config.items() if k != "hpo_trial_number"}
    assert config["hpo_trial_number"] == 0


def test_a_job_sent_to_the_head_node_carries_no_password():
    from hpo.execution import JobSpec, StudySpec, TrialBudget
    from hpo.execution.ray import _spec_for_head

    spec = JobSpec(study=StudySpec(study_name="s", storage="postgresql://hpo:s3cret-pass@db:5432/hpo", strategy="tpe",
                                   strategy_kwargs={}, pruner=None, seed=0), objective=loss, budget=TrialBudget(run="r"))
    search = HpoSearch(metric="value", mode="min")
    search._job_spec = spec
    assert b"s3cret-pass" not in cloudpickle.dumps(search)
    assert _spec_for_head(spec).study.storage == "postgresql://hpo@db:5432/hpo" and _spec_for_head(spec).objective is None


@pytest.mark.parametrize("kwargs, message", [
    ({"address": ""}, "address must be"),
    ({"resources_per_trial": {"cpu": -1}}, r"resources_per_trial\['cpu'\] must be a non-negative number"),
    ({"resources_per_trial": {"cpu": 0, "gpu": 0}}, "asks for no resources"),
    ({"resources_per_trial": [1]}, "must be a dict"),
    ({"max_concurrent": 0}, "max_concurrent must be a positive integer"),
    ({"scheduler": "fifo-ish"}, "unknown scheduler 'fifo-ish'"),
    ({"scheduler": 3}, "scheduler must be None"),
    ({"max_failures": -2}, "max_failures"),
    ({"verbose": 5}, "verbose must be 0"),
])
def test_executor_validation_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RayExecutor(**kwargs)


def test_scheduler_names_build_ray_schedulers():
    from ray.tune.schedulers import AsyncHyperBandScheduler, MedianStoppingRule

    from hpo.execution.ray import _make_scheduler, _scheduler_budget

    asha, hyperband = _make_scheduler("successive-halving"), _make_scheduler("hyperband")
    assert isinstance(asha, AsyncHyperBandScheduler) and len(asha._brackets) == 1 and len(hyperband._brackets) == 3
    assert _scheduler_budget(asha) == ("training_iteration", 100.0)
    assert isinstance(_make_scheduler("median"), MedianStoppingRule) and _make_scheduler(None) is None


def test_default_concurrency_is_what_the_cluster_holds():
    from hpo.execution.ray import _capacity

    assert _capacity({"CPU": 2.0, "GPU": 0.0}, {"CPU": 1}) == 2
    assert _capacity({"CPU": 16.0, "GPU": 2.0}, {"CPU": 1, "GPU": 0.5}) == 4
    assert _capacity({"CPU": 1.0}, {"CPU": 2}) == 1  # Tune then reports the trial as unschedulable


def test_pbt_is_refused():
    from ray.tune.schedulers import PopulationBasedTraining

    with pytest.raises(ValueError, match="PopulationBasedTraining changes a trial's params"):
        RayExecutor(scheduler=PopulationBasedTraining(hyperparam_mutations={"x": [0.1, 0.2]}))


def test_executor_refuses_a_define_by_run_study_before_starting_ray():
    study = hpo.create_study(seed=0)
    with pytest.raises(ValueError, match="RayExecutor needs a declared space"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1, executor=RayExecutor())


def test_ray_trial_surface():
    trial = RayTrial(4, {"x": 0.5, "opt": "sgd"})
    assert trial.number == 4 and trial.params == {"x": 0.5, "opt": "sgd"} and trial["x"] == 0.5
    assert trial.suggest_float("x", 0, 1) == 0.5 and trial.suggest_categorical("opt", ["adam", "sgd"]) == "sgd"
    with pytest.raises(ValueError, match="parameter 'lr' is not in the declared space"):
        trial.suggest_float("lr", 1e-4, 1e-1)
    trial.set_user_attr("epochs", 3)
    assert trial.user_attrs == {"epochs": 3} and not trial.should_prune()
    with pytest.raises(TypeError, match="JSON-serialisable"):
        trial.set_user_attr("model", object())
    with pytest.raises(TypeError, match="step must be a non-negative integer"):
        trial.report(0.1, step=-1)
    with pytest.raises(AttributeError, match="no optuna trial"):
        trial.optuna_trial


@pytest.mark.parametrize("args, message", [
    (["--executor", "dask"], "--executor must be local or ray, got 'dask'"),
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
    (["--executor", "ray", "--n-jobs", "2"], "--n-jobs is for --executor local"),
    (["--executor", "ray", "--no-space"], "--executor ray needs --space"),
])
def test_cli_ray_options_are_checked_before_ray_starts(tmp_path, args, message):
    from typer.testing import CliRunner

    from hpo.cli import app

    (tmp_path / "obj.py").write_text("def objective(trial):\n    return trial.params['x'] ** 2\n")
    (tmp_path / "space.yaml").write_text("x: {type: float, low: -1, high: 1}\n")
    space = [] if "--no-space" in args else ["--space", str(tmp_path / "space.yaml")]
    result = CliRunner().invoke(app, ["run", f"{tmp_path / 'obj.py'}:objective", *space, "--n-trials", "1",
                                      "--storage", f"sqlite:///{tmp_path / 's.db'}",
                                      *[a for a in args if a != "--no-space"]])
    assert result.exit_code == 2 and message in result.output, result.output

