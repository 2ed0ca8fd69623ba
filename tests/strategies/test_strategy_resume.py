"""Every library strategy survives a kill -9 of its study and resumes; each works with n_jobs=2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import hpo
from _drive import fresh
from hpo.testing.problems import SMOOTH, smooth_loss

NAMES = ["tpe", "hyperopt-tpe", "smac", "smac-bb", "gp"]
TESTS = Path(__file__).resolve().parents[1]
WORKER = """
import sys, time
sys.path.insert(0, {tests!r})
import hpo
from hpo.testing.problems import SMOOTH, smooth_loss
study = hpo.create_study(space=SMOOTH, strategy={name!r}, storage={url!r}, study_name="s", seed=1)
def objective(trial):
    time.sleep(0.3)
    return smooth_loss(trial.params)
study.optimize(objective, n_trials=100)
"""


def _complete(url: str) -> int:
    try:
        study = optuna.load_study(study_name="s", storage=url)
    except KeyError:
        return 0
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_kill_9_then_resume(name, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = subprocess.Popen([sys.executable, "-c", WORKER.format(tests=str(TESTS), name=name, url=url)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while _complete(url) < 4:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the worker did not finish 4 trials in 120 s"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = hpo.load_study(study_name="s", storage=url)
    resumed.optimize(lambda t: smooth_loss(t.params), max_trials=8)
    assert len(resumed.get_trials([TrialState.COMPLETE])) >= 8
    history = resumed.trials
    assert fresh(name, SMOOTH, seed=1).ask(history) == fresh(name, SMOOTH, seed=1).ask(history)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_two_workers_propose_distinct_configs(name):
    study = hpo.create_study(space=SMOOTH, strategy=name, seed=0)

    def objective(trial):
        time.sleep(0.05)
        return smooth_loss(trial.params)

    study.optimize(objective, n_trials=8, n_jobs=2)
    done = study.get_trials([TrialState.COMPLETE])
    assert len(done) == 8
    assert len({tuple(sorted(t.params.items())) for t in done}) == 8
