"""The Study API: optimize, ask/tell, define-by-run, warm start, failures, persistence and errors."""

import math

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from hpo.strategies.base import BaseStrategy

SPACE = {"x": hpo.Float(-5, 5), "lr": hpo.Float(1e-5, 1e-1, log=True),
         "n": hpo.Int(1, 64, log=True), "opt": hpo.Categorical(["adam", "sgd"]),
         "momentum": hpo.Float(0.0, 0.99, when={"opt": "sgd"})}


def objective(trial):
    p = trial.params
    return (p["x"] - 1) ** 2 + (math.log10(p["lr"]) + 3) ** 2 + p.get("momentum", 0.0)


def test_short_form_runs_and_finds_a_reasonable_point():
    study = hpo.Study(objective, space=SPACE, seed=0)
    study.optimize(n_trials=60)
    assert len(study.trials) == 60
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert study.best_value < 2.0
    assert set(study.best_params) >= {"x", "lr", "n", "opt"}
    df = study.trials_dataframe()
    assert len(df) == 60 and "params_x" in df.columns


def test_maximize():
    study = hpo.create_study(space={"x": hpo.Float(-5, 5)}, direction="maximize", seed=1)
    study.optimize(lambda t: -(t.params["x"] - 2) ** 2, n_trials=40)
    assert study.best_value == max(t.value for t in study.trials)
    assert abs(study.best_params["x"] - 2) < 1.0


def test_same_seed_same_trials():
    runs = []
    for _ in range(2):
        study = hpo.create_study(space=SPACE, seed=5)
        study.optimize(objective, n_trials=10)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def test_ask_tell():
    study = hpo.create_study(space=SPACE, seed=0)
    for _ in range(5):
        trial = study.ask()
        assert ("momentum" in trial.params) == (trial.params["opt"] == "sgd")
        study.tell(trial, objective(trial))
    assert len(study.get_trials([TrialState.COMPLETE])) == 5
    trial = study.ask()
    study.tell(trial.number, state="fail")
    assert study.trials[-1].state == TrialState.FAIL


def test_running_trials_are_pending_for_the_strategy():
    class Spy(BaseStrategy):
        seen = []

        def _propose(self, history, n, rng):
            Spy.seen.append(len(self.pending(history)))
            return self.space.sample(n, rng=rng)

    study = hpo.create_study(space={"x": hpo.Float(0, 1)}, strategy=Spy(), seed=0)
    study.ask()
    study.ask()
    study.ask()
    assert Spy.seen == [0, 1, 2]


def test_define_by_run():
    def dbr(trial):
        kind = trial.suggest_categorical("kind", ["a", "b"])
        x = trial.suggest_float("x", -3, 3)
        if kind == "a":
            x += trial.suggest_int("shift", 0, 3)
        return x ** 2

    study = hpo.create_study(strategy="random", seed=0)
    study.optimize(dbr, n_trials=25)
    assert len(study.get_trials([TrialState.COMPLETE])) == 25
    assert {"kind", "x"} <= set(study.best_params)


def test_define_by_run_beside_a_declared_space():
    def obj(trial):
        return trial.params["x"] ** 2 + trial.suggest_float("extra", 0, 1)

    study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
    study.optimize(obj, n_trials=5)
    assert all(set(t.params) == {"x", "extra"} for t in study.trials)


def test_enqueue_evaluates_given_configs_first():
    study = hpo.create_study(space=SPACE, seed=0)
    warm = {"x": 1.0, "lr": 1e-3, "n": 4, "opt": "adam"}
    study.enqueue(warm)
    study.optimize(objective, n_trials=3)
    assert study.trials[0].params == warm
    assert study.trials[0].value == pytest.approx(0.0)
    with pytest.raises(hpo.SpaceError, match="x=10.0 lies outside"):
        study.enqueue({"x": 10.0, "lr": 1e-3, "n": 4, "opt": "adam"})


@pytest.mark.parametrize("bad, message", [
    (lambda t: 1 / 0, "ZeroDivisionError: division by zero"),
    (lambda t: float("nan"), "objective returned nan"),
    (lambda t: float("inf"), "objective returned inf"),
    (lambda t: "0.5", "objective returned '0.5' (str); return a float"),
    (lambda t: None, "objective returned None (NoneType); return a float"),
])
def test_failing_objectives_are_recorded_and_the_study_goes_on(bad, message):
    calls = {"n": 0}

    def obj(trial):
        calls["n"] += 1
        return bad(trial) if calls["n"] % 2 else trial.params["x"] ** 2

    study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
    study.optimize(obj, n_trials=6)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 3 and states.count(TrialState.COMPLETE) == 3
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(message in t.user_attrs["error"] for t in failed)


def test_tell_with_a_non_number_fails_the_trial_with_the_reason():
    study = hpo.create_study(space={"x": hpo.Float(-1, 1)})
    trial = study.ask()
    study.tell(trial, "abc")
    t = study.trials[-1]
    assert t.state == TrialState.FAIL and "objective returned 'abc'" in t.user_attrs["error"]


def test_keyboard_interrupt_leaves_storage_consistent(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, storage=url, study_name="s", seed=0)

    def obj(trial):
        if trial.number == 5:
            raise KeyboardInterrupt
        return trial.params["x"] ** 2

    with pytest.raises(KeyboardInterrupt):
        study.optimize(obj, n_trials=20)
    stored = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 5 + [TrialState.FAIL]
    assert stored[-1].user_attrs["error"] == "interrupted (KeyboardInterrupt)"
    resumed = hpo.load_study(study_name="s", storage=url)
    resumed.optimize(lambda t: t.params["x"] ** 2, max_trials=10)  # the interrupted trial is run again
    assert len(resumed.get_trials([TrialState.COMPLETE])) == 10 and len(resumed.trials) == 11


def test_load_study_restores_space_direction_strategy_and_seed(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=SPACE, strategy="random", direction="maximize", storage=url,
                             study_name="demo", seed=11)
    study.optimize(lambda t: -objective(t), n_trials=5)
    loaded = hpo.load_study(study_name="demo", storage=url)
    assert loaded.space == study.space and loaded.direction == "maximize"
    assert loaded.strategy == "random" and loaded.seed == 11
    loaded.optimize(lambda t: -objective(t), n_trials=5)
    assert len(loaded.trials) == 10
    assert loaded.best_value == max(t.value for t in loaded.trials)


def test_hpo_studies_open_in_plain_optuna(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hpo.create_study(space=SPACE, storage=url, study_name="demo", seed=0).optimize(objective, n_trials=5)
    plain = optuna.load_study(study_name="demo", storage=url)
    assert len(plain.trials) == 5 and "x" in plain.best_params
    plain.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2, n_trials=2)  # and optuna can add to it
    assert len(hpo.load_study(study_name="demo", storage=url).trials) == 7


def test_create_existing_study_without_load_if_exists_says_how(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hpo.create_study(space=SPACE, storage=url, study_name="demo")
    with pytest.raises(ValueError, match="open it with hpo.load_study"):
        hpo.create_study(space=SPACE, storage=url, study_name="demo")
    with pytest.raises(ValueError, match="different space"):
        hpo.create_study(space={"y": hpo.Float(0, 1)}, storage=url, study_name="demo", load_if_exists=True)


def test_pruning_with_the_median_pruner():
    def learning_curve(trial):
        x = trial.params["x"]
        for step in range(10):
            trial.report(x ** 2 + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return x ** 2

    study = hpo.create_study(space={"x": hpo.Float(-3, 3)}, pruner="median", seed=0)
    study.optimize(learning_curve, n_trials=30)
    assert len(study.get_trials([TrialState.PRUNED])) > 0
    assert len(study.get_trials([TrialState.COMPLETE])) > 5


@pytest.mark.parametrize("pruner", ["successive-halving", "hyperband"])
def test_other_pruners(pruner):
    def curve(trial):
        for step in range(1, 28):
            trial.report(trial.params["x"] ** 2 / step, step)
            if trial.should_prune():
                raise hpo.TrialPruned()
        return trial.params["x"] ** 2 / 27

    study = hpo.create_study(space={"x": hpo.Float(-3, 3)}, pruner=pruner, seed=0)
    study.optimize(curve, n_trials=30)
    assert len(study.get_trials([TrialState.PRUNED])) > 0


# --- bad input: one line naming the problem and the fix ---------------------------------

def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_unknown_strategy_lists_close_names():
    with pytest.raises(hpo.UnknownStrategyError) as err:
        hpo.create_study(space=SPACE, strategy="rando")
    assert "unknown strategy 'rando'; did you mean random" in _one_line(err)


@pytest.mark.parametrize("url, message", [
    ("sqlite:/missing-slashes.db", "not understood"),
    ("sqlite://only-two.db", "SQLite URLs take three slashes"),
    ("mongodb://localhost/x", "not understood"),
    ("sqlite:////no/such/folder/s.db", "does not exist"),
    ("", "storage must be a URL"),
])
def test_malformed_storage_urls(url, message):
    with pytest.raises(hpo.StorageError) as err:
        hpo.create_study(space=SPACE, storage=url)
    assert message in _one_line(err)


def test_loading_a_missing_study(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hpo.create_study(space=SPACE, storage=url, study_name="demo")
    with pytest.raises(hpo.StudyNotFoundError) as err:
        hpo.load_study(study_name="dmeo", storage=url)
    assert "no study named 'dmeo'" in _one_line(err) and "did you mean ['demo']" in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": "minimise"}, "direction must be 'minimize' or 'maximize'"),
    ({"pruner": "medain"}, "unknown pruner 'medain'; did you mean ['median']"),
])
def test_bad_study_arguments(kwargs, message):
    with pytest.raises(ValueError) as err:
        hpo.create_study(space=SPACE, **kwargs)
    assert message in _one_line(err)


def test_optimize_argument_errors():
    study = hpo.create_study(space=SPACE)
    with pytest.raises(ValueError, match="run forever"):
        study.optimize(objective)
    with pytest.raises(ValueError, match="n_jobs must be"):
        study.optimize(objective, n_trials=1, n_jobs=0)
    with pytest.raises(TypeError, match="optimize needs an objective"):
        study.optimize(n_trials=1)
    with pytest.raises(ValueError, match="has no completed trial yet"):
        study.best_value


@pytest.mark.parametrize("seed", ["abc", -1, True, 1.5])
def test_bad_seeds(seed):
    with pytest.raises(ValueError) as err:
        hpo.create_study(space=SPACE, seed=seed)
    assert "seed must be a non-negative integer or None" in _one_line(err)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_trials": True}, "n_trials must be a non-negative integer"),
    ({"n_trials": 2.5}, "n_trials must be a non-negative integer"),
    ({"max_trials": -1}, "max_trials must be a non-negative integer"),
    ({"timeout": -1}, "timeout must be a non-negative number of seconds"),
    ({"timeout": float("nan")}, "timeout must be a non-negative number of seconds"),
    ({"timeout": True}, "timeout must be a non-negative number of seconds"),
    ({"n_trials": 1, "n_jobs": True}, "n_jobs must be a positive integer or -1"),
    ({"n_trials": 1, "executor": "local"}, "executor must have a run(job) method"),
    ({"n_trials": 1, "n_jobs": 2, "executor": hpo.execution.LocalExecutor()}, "give either executor= or n_jobs"),
])
def test_optimize_rejects_bad_budgets_and_executors(kwargs, message):
    study = hpo.create_study(space=SPACE, seed=0)
    with pytest.raises((ValueError, TypeError)) as err:
        study.optimize(objective, **kwargs)
    assert message in _one_line(err)
    assert len(study.trials) == 0


def test_unseeded_studies_draw_a_fresh_seed_once_and_store_it(tmp_path):
    a, b = hpo.create_study(space=SPACE), hpo.create_study(space=SPACE)
    assert isinstance(a.seed, int) and a.seed != b.seed
    a.optimize(objective, n_trials=3)
    b.optimize(objective, n_trials=3)
    assert [t.params for t in a.trials] != [t.params for t in b.trials]

    url = f"sqlite:///{tmp_path / 's.db'}"
    stored = hpo.create_study(space=SPACE, storage=url, study_name="s")
    stored.optimize(objective, n_trials=4)
    resumed = hpo.load_study(study_name="s", storage=url)
    assert resumed.seed == stored.seed
    again = hpo.create_study(space=SPACE, storage=url, study_name="s", load_if_exists=True)
    assert again.seed == stored.seed  # seed=None on an existing study means its stored seed
    replay = hpo.create_study(space=SPACE, seed=stored.seed)
    replay.optimize(objective, n_trials=4)
    assert [t.params for t in replay.trials] == [t.params for t in stored.trials]


def test_reopening_with_another_strategy_or_seed_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hpo.create_study(space=SPACE, strategy="random", storage=url, study_name="s", seed=1)
    with pytest.raises(ValueError) as err:
        hpo.create_study(space=SPACE, strategy="tpe", storage=url, study_name="s", load_if_exists=True)
    assert "exists with strategy 'random', not 'tpe'" in _one_line(err)
    with pytest.raises(ValueError) as err:
        hpo.create_study(space=SPACE, storage=url, study_name="s", seed=2, load_if_exists=True)
    assert "exists with seed=1, not 2" in _one_line(err)
    with pytest.raises(ValueError, match="direction='minimize', not 'maximize'"):
        hpo.create_study(space=SPACE, storage=url, study_name="s", direction="maximize", load_if_exists=True)
    resumed = hpo.create_study(space=SPACE, storage=url, study_name="s", load_if_exists=True)
    assert resumed.strategy == "random" and resumed.seed == 1
    switched = hpo.load_study(study_name="s", storage=url, strategy="tpe")  # on purpose: allowed
    assert switched.strategy == "tpe"


def test_the_default_strategy_is_one_constant():
    from hpo.study import DEFAULT_STRATEGY

    assert DEFAULT_STRATEGY == "auto"
    assert hpo.Study(space=SPACE).strategy == DEFAULT_STRATEGY
    assert hpo.create_study(space=SPACE).strategy == DEFAULT_STRATEGY


def test_a_study_stored_before_the_default_changed_resumes_with_its_own_strategy(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hpo.create_study(space=SPACE, strategy="random", storage=url, study_name="old", seed=3).optimize(
        lambda t: t.params["x"] ** 2, n_trials=2)
    resumed = hpo.create_study(space=SPACE, storage=url, study_name="old", load_if_exists=True)
    assert resumed.strategy == "random"
    fresh = hpo.create_study(space=SPACE, storage=url, study_name="new", seed=3)
    fresh.optimize(lambda t: t.params["x"] ** 2, n_trials=2)
    assert fresh.strategy == "auto"
    assert [t.user_attrs.get("proposed_by") for t in fresh.optuna_study.trials] == ["botorch", "botorch"]
    assert "proposed_by" not in resumed.optuna_study.trials[0].user_attrs


def test_load_study_never_creates_a_database(tmp_path):
    for storage, message in ((f"sqlite:///{tmp_path / 'missing.db'}", "no SQLite file at"),
                             (str(tmp_path / "missing.log"), "does not exist")):
        with pytest.raises(hpo.StorageError) as err:
            hpo.load_study(study_name="s", storage=storage)
        assert message in _one_line(err)
    assert list(tmp_path.iterdir()) == []


def test_study_py_does_not_import_execution_at_module_level():
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(hpo.study.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [n.module for n in top if isinstance(n, ast.ImportFrom)] + [a.name for n in top if isinstance(n, ast.Import)
                                                                        for a in n.names]
    assert not [m for m in names if m and m.startswith("hpo.execution")]


def test_ask_tell_trials_record_their_owner_and_a_crash_before_tell_is_failed_on_load(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=SPACE, storage=url, study_name="s", seed=0)
    trial = study.ask()
    owner = study.storage.get_trial(trial.optuna_trial._trial_id).system_attrs["hpo:owner"]
    import os

    assert owner["pid"] == os.getpid() and owner["host"]
    hpo.load_study(study_name="s", storage=url)  # this process is alive: the trial stays RUNNING
    assert study.trials[0].state == TrialState.RUNNING
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE
