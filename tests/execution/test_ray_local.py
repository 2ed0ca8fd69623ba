"""RayExecutor and HpoSearch on a real local Ray with 2 CPUs (no mocks).

Each test compares the study's storage with Ray's own record of the experiment (the trial
folders Tune writes), so "the storage holds the trials Ray ran" is checked against Ray,
not against hpo's bookkeeping.
"""

import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported (ENVIRONMENT.md)
# A Ray temp dir of our own (removed at exit): no other Ray on this machine finds our clusters
# or is found by them (ray.init() joins whatever cluster /tmp/ray/ray_current_cluster names).
if "RAY_TMPDIR" not in os.environ:
    import atexit, shutil, tempfile  # noqa: E401
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray puts sockets there
    atexit.register(shutil.rmtree, os.environ["RAY_TMPDIR"], True)

import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from optuna.trial import TrialState
from ray import tune

import hpo
from hpo.execution.ray import HpoSearch

pytestmark = pytest.mark.slow

SPACE = {"x": hpo.Float(-3.0, 3.0), "y": hpo.Float(-3.0, 3.0)}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False)  # never a cluster someone else started
    yield
    ray.shutdown()


def ray_trials(storage_path):
    """Ray's record of the one experiment under ``storage_path``: {hpo number: (config, last result)}."""
    (experiment,) = [p for p in Path(storage_path).iterdir() if p.is_dir()]
    analysis = tune.ExperimentAnalysis(str(experiment))
    return {t.config["hpo_trial_number"]: (t.config, t.last_result, t.status) for t in analysis.trials}


def quadratic(trial):
    return (trial.params["x"] - 1.0) ** 2 + (trial.params["y"] + 0.5) ** 2


def test_a_20_trial_study_lands_in_storage_exactly_as_ray_ran_it(tmp_path, capfd):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = hpo.create_study(space=SPACE, strategy="tpe", storage=url, study_name="ray20", seed=0)
    study.optimize(quadratic, n_trials=20, show_progress_bar=True,
                   executor=hpo.RayExecutor(storage_path=str(tmp_path / "ray")))
    stored = hpo.load_study(study_name="ray20", storage=url).trials
    ran = ray_trials(tmp_path / "ray")
    assert [t.number for t in stored] == list(range(20)) and sorted(ran) == list(range(20))
    for t in stored:
        config, last, status = ran[t.number]
        assert status == "TERMINATED" and t.state == TrialState.COMPLETE
        assert t.params == {k: v for k, v in config.items() if k != "hpo_trial_number"}
        assert t.value == last["value"] == pytest.approx(quadratic(t))
        assert t.user_attrs["ray_trial_id"] == last["trial_id"]
    out, err = capfd.readouterr()
    assert "View detailed results" not in out and "Configuration for experiment" not in out  # verbose=0
    assert "Failed to fetch metrics" not in err  # Tune's note that its per-trial files are off


def _kill_when_asked(folder: Path, stop: threading.Event, killed: list):
    """Kill, with SIGKILL, every Ray worker that writes its pid to ``folder/*.pid``."""
    while not stop.is_set():
        for f in folder.glob("*.pid"):
            pid = int(f.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append((f.stem, pid))
            f.rename(f.with_suffix(".killed"))
        time.sleep(0.1)


def test_a_worker_killed_mid_trial_is_retried_and_every_trial_recorded_once(tmp_path):
    folder = tmp_path / "pids"
    folder.mkdir()
    where = str(folder)

    def objective(trial):
        attempt = len(list(Path(where).glob(f"t{trial.number}-*")))
        if trial.number == 2 and attempt == 0 or trial.number == 4:  # 2: killed once; 4: every time
            Path(where, f"t{trial.number}-{attempt}.pid").write_text(str(os.getpid()))
            time.sleep(120)
        trial.set_user_attr("pid", os.getpid())
        return quadratic(trial)

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = hpo.create_study(space=SPACE, strategy="random", storage=url, study_name="kill", seed=1)
    stop, killed = threading.Event(), []
    watcher = threading.Thread(target=_kill_when_asked, args=(folder, stop, killed), daemon=True)
    watcher.start()
    try:
        study.optimize(objective, n_trials=6, executor=hpo.RayExecutor(max_failures=1, storage_path=str(tmp_path / "ray")))
    finally:
        stop.set()
        watcher.join()
    trials = hpo.load_study(study_name="kill", storage=url).trials
    assert [t.number for t in trials] == list(range(6))
    assert sorted(name for name, _ in killed) == ["t2-0", "t4-0", "t4-1"]
    states = {t.number: t.state for t in trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.COMPLETE, 2: TrialState.COMPLETE,
                      3: TrialState.COMPLETE, 4: TrialState.FAIL, 5: TrialState.COMPLETE}
    assert trials[2].user_attrs["pid"] != dict(killed)["t2-0"]  # finished by the retry, on a new worker
    assert "max_failures" in trials[4].user_attrs["error"]
    ran = ray_trials(tmp_path / "ray")
    assert sorted(ran) == list(range(6)) and ran[4][2] == "ERROR"


def test_asha_stops_trials_through_trial_report_and_they_are_pruned(tmp_path):
    def objective(trial):
        base = quadratic(trial)
        for step in range(8):
            trial.report(base + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return base

    study = hpo.create_study(space=SPACE, strategy="random", seed=2)
    study.optimize(objective, n_trials=8, executor=hpo.RayExecutor(
        scheduler="asha", max_concurrent=1, storage_path=str(tmp_path / "ray")))
    trials = study.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == 8 and pruned and complete and len(pruned) + len(complete) == 8
    for t in pruned:
        assert len(t.intermediate_values) < 8 and t.value == t.intermediate_values[max(t.intermediate_values)]
    for t in complete:
        assert len(t.intermediate_values) == 8 and t.value == pytest.approx(quadratic(t))
    ran = ray_trials(tmp_path / "ray")
    for t in pruned:  # Ray stopped these at the step hpo recorded last
        assert ran[t.number][1]["hpo_step"] == max(t.intermediate_values)


def test_ctrl_c_stops_the_run_raises_and_marks_unfinished_trials_interrupted(tmp_path):
    folder = str(tmp_path)

    def objective(trial):
        if trial.number >= 2:  # the first two finish; then Ctrl-C arrives while these run
            Path(folder, f"running-{trial.number}").touch()
            time.sleep(60)
        return quadratic(trial)

    def interrupt():
        while not list(Path(folder).glob("running-*")):
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    study = hpo.create_study(space=SPACE, strategy="random", seed=4)
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=6, executor=hpo.RayExecutor(max_concurrent=1, storage_path=str(tmp_path / "ray")))
    trials = study.trials
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE] * 2
    assert trials[2:] and all(t.state == TrialState.FAIL and t.user_attrs["error"] == "interrupted (Ctrl-C)"
                              and "hpo:interrupted" in t.system_attrs for t in trials[2:])


def test_an_objective_error_fails_its_trial_without_a_retry(tmp_path):
    def objective(trial):
        if trial.number == 1:
            raise RuntimeError("diverged")
        return float("nan") if trial.number == 2 else quadratic(trial)

    study = hpo.create_study(space=SPACE, strategy="random", seed=3)
    study.optimize(objective, n_trials=3, executor=hpo.RayExecutor(storage_path=str(tmp_path / "ray")))
    ok, raised, nan = study.trials
    assert ok.state == TrialState.COMPLETE
    assert raised.state == TrialState.FAIL and raised.user_attrs["error"] == "RuntimeError: diverged"
    assert nan.state == TrialState.FAIL and "finite" in nan.user_attrs["error"]
    assert ray_trials(tmp_path / "ray")[1][2] == "TERMINATED"  # not retried: Ray saw no error


def test_hpo_search_in_a_users_own_tuner_without_a_study(tmp_path):
    def train(config):
        for epoch in range(4):
            tune.report({"loss": (config["lr"] - 0.01) ** 2 * 1e4 + config["width"] / 100 + 1.0 / (epoch + 1)})

    search = HpoSearch(strategy="tpe", seed=0, max_t=4)
    tuner = tune.Tuner(
        train, param_space={"lr": tune.loguniform(1e-4, 1e-1), "width": tune.randint(8, 64), "fixed": "yes"},
        tune_config=tune.TuneConfig(search_alg=search, metric="loss", mode="min", num_samples=6, max_concurrent_trials=2,
                                    reuse_actors=True,
                                    scheduler=tune.schedulers.ASHAScheduler(max_t=4, grace_period=1, reduction_factor=2)),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), verbose=0))
    results = tuner.fit()
    trials = search.study.trials
    assert len(trials) == len(results) == 6
    by_id = {t.user_attrs["ray_trial_id"]: t for t in trials}
    for r in results:
        t = by_id[r.metrics["trial_id"]]
        assert t.params == {"lr": r.config["lr"], "width": r.config["width"]} and r.config["fixed"] == "yes"
        if r.metrics["training_iteration"] == 4:
            assert t.state == TrialState.COMPLETE and t.value == pytest.approx(r.metrics["loss"])
        else:
            assert t.state == TrialState.PRUNED and len(t.intermediate_values) == r.metrics["training_iteration"]
    assert search.study.best_value == min(t.value for t in trials if t.state == TrialState.COMPLETE)


def test_hpo_run_with_executor_ray(tmp_path):
    from typer.testing import CliRunner

    from hpo.cli import app

    (tmp_path / "train.py").write_text(
        "def objective(trial):\n"
        "    for step in range(3):\n"
        "        trial.report(trial.params['x'] ** 2 + 1.0 / (step + 1), step)\n"
        "    return trial.params['x'] ** 2\n")
    (tmp_path / "space.yaml").write_text("x: {type: float, low: -1, high: 1}\n")
    url = f"sqlite:///{tmp_path / 's.db'}"
    result = CliRunner().invoke(app, ["run", f"{tmp_path / 'train.py'}:objective", "--space", str(tmp_path / "space.yaml"),
                                      "--n-trials", "4", "--storage", url, "--study-name", "cli", "--seed", "0",
                                      "--executor", "ray", "--pruner", "successive-halving"])
    assert result.exit_code == 0, result.output
    assert "best" in result.output and "study: cli" in result.output
    trials = hpo.load_study(study_name="cli", storage=url).trials
    assert len(trials) == 4 and all(t.user_attrs.get("ray_trial_id") for t in trials)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)

