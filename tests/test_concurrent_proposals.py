"""Two workers choosing params at once: a proposal equal to what a concurrent worker just chose is re-asked."""

import time

import optuna
import pytest

import hpo
from hpo.sampler import StrategySampler
from hpo.strategies.base import BaseStrategy

SPACE = hpo.Space({"x": hpo.Float(0, 1)})


class FirstUnseen(BaseStrategy):
    """Deterministic: 0.25, unless a trial already holds it, then 0.75. It skips nothing for
    blind trials, so only the sampler's recheck can keep it from repeating a concurrent worker."""

    def __init__(self, on_propose=None):
        super().__init__()
        self.on_propose = on_propose
        self.asked = 0

    def _propose(self, history, n, rng):
        self.asked += 1
        taken = {r.config["x"] for r in self.rows(history)}
        if self.on_propose is not None:
            self.on_propose()
        return [{"x": 0.25 if 0.25 not in taken else 0.75}]


def _running_blind_trial(study):
    """A trial another worker has created and not yet given params."""
    return study._storage.create_new_trial(study._study_id)


@pytest.mark.parametrize("theirs, ours, asks", [(0.25, 0.75, 2), (0.5, 0.25, 1)], ids=["same-point", "other-point"])
def test_a_proposal_equal_to_what_a_concurrent_worker_chose_is_asked_again(theirs, ours, asks):
    strategy = FirstUnseen()
    study = optuna.create_study(sampler=StrategySampler(strategy, space=SPACE, seed=0))
    other = _running_blind_trial(study)
    # while this worker proposes, the other one writes the point it chose
    strategy.on_propose = lambda: (study._storage.set_trial_param(
        other, "x", theirs, SPACE.distributions["x"]), setattr(strategy, "on_propose", None))
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) == ours
    assert strategy.asked == asks


def test_a_worker_that_never_writes_its_params_delays_the_proposal_only_briefly():
    strategy = FirstUnseen()
    study = optuna.create_study(sampler=StrategySampler(strategy, space=SPACE, seed=0))
    _running_blind_trial(study)  # its worker is stuck (or suggests lazily, much later)
    t0 = time.monotonic()
    trial = study.ask()
    assert trial.suggest_float("x", 0, 1) == 0.25
    assert time.monotonic() - t0 < 1.0 and strategy.asked == 1
