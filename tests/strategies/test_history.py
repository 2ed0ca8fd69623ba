"""The typed history views: rows by trial number, pending and blind trials, the number being asked."""

from __future__ import annotations

from hpo.testing.problems import SMOOTH, trial
from optuna.trial import TrialState

from _drive import fresh
from hpo.strategies import History


def test_partly_written_running_trial_is_blind_until_complete():
    config = SMOOTH.sample(1, seed=0)[0]
    first = next(iter(config))
    partial = trial(SMOOTH, 1, {first: config[first]}, state=TrialState.RUNNING)
    done = trial(SMOOTH, 0, SMOOTH.sample(1, seed=1)[0], 1.0)
    s = fresh("gp", SMOOTH, seed=0)
    assert [r.state for r in s.rows([done, partial])] == ["complete"]
    assert s.blind_pending([done, partial]) == 1
    whole = trial(SMOOTH, 1, config, state=TrialState.RUNNING)
    assert [r.state for r in s.rows([done, whole])] == ["complete", "pending"]
    assert s.blind_pending([done, whole]) == 0
    assert s.pending([done, whole]) == [config]


def test_blind_trials_after_the_asking_one_do_not_count():
    done = trial(SMOOTH, 0, SMOOTH.sample(1, seed=1)[0], 1.0)
    later = trial(SMOOTH, 2, {}, state=TrialState.RUNNING)
    s = fresh("gp", SMOOTH, seed=0)
    assert s.blind_pending(History([done, later], asking=1)) == 0
    assert s.blind_pending(History([done, later], asking=3)) == 1


def test_rows_are_in_minimisation_form_and_sorted_by_number():
    a, b, c = SMOOTH.sample(3, seed=2)
    h = [trial(SMOOTH, 2, c, state=TrialState.PRUNED, intermediate={0: 3.0, 1: float("nan")}),
         trial(SMOOTH, 0, a, 5.0), trial(SMOOTH, 1, b, state=TrialState.FAIL)]
    s = fresh("random", SMOOTH, seed=0, direction="maximize")
    rows = s.rows(h)
    assert [(r.number, r.state) for r in rows] == [(0, "complete"), (1, "failed"), (2, "pruned")]
    assert rows[0].loss == -5.0 and rows[2].intermediate == {0: -3.0}
    assert [o.config for o in s.observations(h)] == [a] and s.failed(h) == [b]


def test_asking_is_the_smallest_missing_number_unless_given():
    h = [trial(SMOOTH, i, c, 1.0) for i, c in zip((0, 1, 3), SMOOTH.sample(3, seed=3))]
    assert History(h).asking == 2
    assert History(h, asking=7).asking == 7
    assert History.of(History(h)).asking == 2
    assert History([]).asking == 0


def test_history_loads_lazily():
    calls = []

    def load():
        calls.append(1)
        return [trial(SMOOTH, 0, SMOOTH.sample(1, seed=4)[0], 1.0)]

    h = History(load=load, asking=1)
    assert calls == [] and h.asking == 1
    assert len(h) == 1 and calls == [1]
    fresh("random", SMOOTH, seed=0).ask(h)
    assert calls == [1]
