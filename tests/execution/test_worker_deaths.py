"""A worker process that dies in any way fails its trial at once, with the reason, and
``n_trials`` stays exact: kill -9, ``sys.exit()``, ``os._exit(0)``, a segfault, and a kill
while the strategy is still proposing (before the objective starts)."""

import contextlib
import ctypes
import faulthandler
import os
import signal
import sys
import time
from collections import Counter

import pytest
from optuna.trial import TrialState

import hpo
from hpo.strategies.base import BaseStrategy

SPACE = {"x": hpo.Float(-5, 5)}
N = 8


def _study(tmp_path):
    return hpo.create_study(space=SPACE, storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s", seed=0)


def _once(tmp_path, trial_number):
    """True exactly once, in whichever worker runs ``trial_number`` first (a file flag: each
    worker is its own process)."""
    flag = tmp_path / "fired"
    if trial_number != 3:
        return False
    try:
        fd = os.open(flag, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _segfault():
    faulthandler.disable()  # pytest's handler would print every thread's stack first
    ctypes.string_at(0)


DEATHS = {
    "kill -9": (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by SIGKILL"),
    "segfault": (_segfault, "killed by SIGSEGV"),
    "os._exit(0)": (lambda: os._exit(0), "exited with code 0 while running this trial"),
    "sys.exit(3)": (lambda: sys.exit(3), "the objective called sys.exit(3)"),
    "sys.exit()": (lambda: sys.exit(), "the objective called sys.exit(None)"),
}


@pytest.mark.parametrize("death", list(DEATHS))
def test_a_worker_dying_in_the_objective_fails_that_trial_and_n_trials_stays_exact(tmp_path, death):
    die, reason = DEATHS[death]

    def objective(trial):
        if _once(tmp_path, trial.number):
            die()
        time.sleep(0.01)
        return trial.params["x"] ** 2

    study = _study(tmp_path)
    study.optimize(objective, n_trials=N, n_jobs=2)
    trials = study.trials
    assert len(trials) == N and sorted(t.number for t in trials) == list(range(N))
    states = Counter(t.state for t in trials)
    assert states == {TrialState.COMPLETE: N - 1, TrialState.FAIL: 1}, states
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    assert failed.number == 3 and reason in failed.user_attrs["error"], failed.user_attrs


def test_a_worker_killed_before_the_objective_starts(tmp_path):
    class KillsWhileProposing(BaseStrategy):
        def _propose(self, history, n, rng):
            if _once(tmp_path, history.asking):
                os.kill(os.getpid(), signal.SIGKILL)
            return self.space.sample(n, rng=rng)

    ran = tmp_path / "ran"
    ran.mkdir()

    def objective(trial):
        (ran / str(trial.number)).touch()
        return trial.params["x"] ** 2

    study = hpo.create_study(space=SPACE, strategy=KillsWhileProposing(), storage=f"sqlite:///{tmp_path / 's.db'}",
                             study_name="s", seed=0)
    study.optimize(objective, n_trials=N, n_jobs=2)
    trials = study.trials
    assert len(trials) == N
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and "killed by SIGKILL" in failed[0].user_attrs["error"]
    assert not (ran / str(failed[0].number)).exists()  # its objective never ran
    assert sum(t.state == TrialState.COMPLETE for t in trials) == N - 1


def test_an_error_outside_the_objective_stops_the_pool_with_one_line(tmp_path):
    def broken_callback(study, trial):
        raise RuntimeError("callback broke")

    study = _study(tmp_path)
    with pytest.raises(hpo.execution.WorkerError) as err:
        study.optimize(lambda t: t.params["x"] ** 2, n_trials=6, n_jobs=2, callbacks=[broken_callback])
    assert "RuntimeError: callback broke" in str(err.value) and "\n" not in str(err.value)
    assert not study.get_trials([TrialState.RUNNING])
    assert len(study.trials) <= 6


def _worker_pids() -> list[int]:
    me, pids = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] not in ("Z", "X"):
                pids.append(int(entry))
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_workers_killed_at_random_moments_n_trials_stays_exact(tmp_path, storage):
    import random
    import threading
    import uuid

    if storage == "postgresql":
        url = os.environ.get("HPO_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set HPO_TEST_POSTGRES_URL to run PostgreSQL tests")
    else:
        url = f"sqlite:///{tmp_path / 's.db'}"
    rng = random.Random(3)
    kills = []
    stop = threading.Event()

    def killer():  # kill -9 a random worker at random moments: in a claim, a proposal, the objective, a tell
        while not stop.wait(rng.uniform(0.1, 0.5)) and len(kills) < 8:
            pids = _worker_pids()
            if pids:
                victim = rng.choice(pids)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
                    kills.append(victim)

    def objective(trial):
        time.sleep(random.uniform(0.0, 0.06))
        return trial.params["x"] ** 2

    study = hpo.create_study(space=SPACE, storage=url, study_name=f"k-{uuid.uuid4().hex[:8]}", seed=0)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        study.optimize(objective, n_trials=60, n_jobs=2)
    finally:
        stop.set()
        thread.join()
    trials = study.trials
    states = Counter(t.state for t in trials)
    assert len(trials) == 60, states  # n_trials is exact, whichever moment each kill hit
    assert states[TrialState.RUNNING] == 0 and states[TrialState.FAIL] <= len(kills)
    assert states[TrialState.COMPLETE] + states[TrialState.FAIL] == 60
    for t in trials:
        if t.state == TrialState.FAIL:
            assert "killed by SIGKILL" in t.user_attrs["error"], t.user_attrs
    assert len(kills) >= 3


def test_workers_that_die_on_start_stop_the_run_with_one_error(tmp_path):
    parent = os.getpid()

    class DiesInWorkers(BaseStrategy):
        def optuna_sampler(self, seed):
            if os.getpid() != parent:  # each worker builds its sampler when it reopens the study
                os._exit(1)
            return None

        def _propose(self, history, n, rng):
            return self.space.sample(n, rng=rng)

    study = hpo.create_study(space=SPACE, strategy=DiesInWorkers(), storage=f"sqlite:///{tmp_path / 's.db'}",
                             study_name="s", seed=0)
    with pytest.raises(hpo.WorkerError) as err:
        study.optimize(lambda t: 0.0, n_trials=4, n_jobs=2)
    assert "worker processes in a row died before running a trial" in str(err.value)
    assert "exited with code 1" in str(err.value) and "\n" not in str(err.value)
    assert study.trials == []


def test_an_objective_that_cannot_be_pickled_for_spawn_is_one_line(tmp_path):
    study = _study(tmp_path)
    with pytest.raises(TypeError) as err:
        study.optimize(lambda t: 0.0, n_trials=2, executor=hpo.ProcessExecutor(2, mp_context="spawn"))
    assert "mp_context='spawn' pickles the objective" in str(err.value) and "\n" not in str(err.value)
    assert not study.get_trials([TrialState.RUNNING])
