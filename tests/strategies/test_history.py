"""History rows: a running trial whose params are still being written counts as blind, not as a config."""

from __future__ import annotations

from conformance.kit import SMOOTH, trial
from optuna.trial import TrialState

from _drive import fresh
from hpo.strategies._history import blind_pending, history_rows


def test_partly_written_running_trial_is_blind_until_complete():
    config = SMOOTH.sample(1, seed=0)[0]
    first = next(iter(config))
    partial = trial(SMOOTH, 1, {first: config[first]}, state=TrialState.RUNNING)
    done = trial(SMOOTH, 0, SMOOTH.sample(1, seed=1)[0], 1.0)
    history = [done, partial]
    s = fresh("gp", SMOOTH, seed=0)
    assert [r[1] for r in history_rows(s, history)] == ["C"]
    assert blind_pending(history, SMOOTH) == 1
    assert blind_pending(history) == 0  # without the space a partial trial cannot be told apart
    whole = trial(SMOOTH, 1, config, state=TrialState.RUNNING)
    assert [r[1] for r in history_rows(s, [done, whole])] == ["C", "R"]
    assert blind_pending([done, whole], SMOOTH) == 0
