"""SMAC strategies: options, output directory, told history, epochs, cache = replay, determinism."""

from __future__ import annotations

import gc
import os

import pytest
from optuna.trial import TrialState

import hpo
from _drive import drive_and_compare, fresh
from hpo.testing.problems import SMOOTH, history, smooth_loss, trial
from hpo.strategies.smac import SMACBlackBoxStrategy, SMACStrategy


@pytest.mark.parametrize("cls", [SMACStrategy, SMACBlackBoxStrategy])
@pytest.mark.parametrize("kwargs, message", [
    ({"n_trials": 0}, "n_trials must be an integer >= 1, got 0"),
    ({"initial_design_size": -2}, "initial_design_size must be an integer >= 0 or None, got -2"),
    ({"output_directory": 3}, "output_directory must be a path or None"),
    ({"n_jobs": 0}, r"n_jobs must be a positive integer or -1 \(every core\), got 0"),
])
def test_bad_options_give_one_line_errors(cls, kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        cls(**kwargs)
    assert "\n" not in str(e.value)


def test_output_goes_to_a_temporary_folder_never_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = fresh("smac", SMOOTH, seed=0)
    s.ask(history(SMOOTH, 3, seed=0))
    assert os.listdir(tmp_path) == []
    folder = s._tmp.name
    assert os.path.isdir(folder) and os.listdir(folder)
    del s
    gc.collect()
    assert not os.path.exists(folder)


def test_output_directory_option(tmp_path):
    s = fresh("smac-bb", SMOOTH, seed=0, output_directory=tmp_path / "smac")
    s.ask(history(SMOOTH, 3, seed=0))
    assert (tmp_path / "smac" / "smac-bb").is_dir()


def test_failed_and_pruned_trials_are_told_and_epochs_follow_retrain_after():
    h = history(SMOOTH, 11, seed=1)
    h.append(trial(SMOOTH, 11, {"x0": 0.1, "x1": 0.2, "x2": 0.3}, state=TrialState.FAIL))
    h.append(trial(SMOOTH, 12, {"x0": 0.2, "x1": 0.2, "x2": 0.3}, state=TrialState.PRUNED, intermediate={3: 2.0}))
    h.append(trial(SMOOTH, 13, {}, state=TrialState.RUNNING))
    s = fresh("smac", SMOOTH, seed=0, initial_design_size=2)
    configs = s.ask(h, n=2)
    assert len(configs) == 2
    # 13 finished trials, a design of 2, SMAC's HPO facade retrains every 8: the first 2 + 8 are told
    assert s._retrain_after == 8 and s._n_init == 2 and [t[0] for t in s._told] == list(range(10))
    h2 = history(SMOOTH, 18, seed=1)
    h2[11] = h[11]
    h2[12] = h[12]
    s.ask(h2)
    assert [t[1] for t in s._told][11:13] == ["failed", "pruned"]
    statuses = {v.status.name for v in s._facade.runhistory._data.values()}
    assert "CRASHED" in statuses


@pytest.mark.slow
def test_cached_facade_equals_a_fresh_replay():
    drive_and_compare("smac", SMOOTH, smooth_loss, steps=12, seed=1, pending_every=5, initial_design_size=3)


@pytest.mark.slow
def test_same_seed_same_trajectory():
    """Two studies with the same seed evaluate the same configurations (SMAC's own random state
    is reseeded per epoch from the strategy seed and the told trials)."""
    def run(seed):
        study = hpo.create_study(space=SMOOTH, strategy="smac", seed=seed,
                                 strategy_kwargs={"initial_design_size": 4})
        study.optimize(lambda t: smooth_loss(t.params), n_trials=12)
        return [t.params for t in study.trials]

    first = run(5)
    assert first == run(5)
    assert first != run(6)
