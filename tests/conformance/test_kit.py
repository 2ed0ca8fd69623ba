"""The kit's checks can fail: each catches the fault it is written for, on a deliberately broken strategy."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.strategies import BaseStrategy
from hpo.strategies.gp import GPStrategy
from hpo.testing import checks, maker


class DirectionBlind(GPStrategy):
    """GP-BO whose setup ignores the direction: it always minimises."""

    def setup(self, space, direction, seed):
        super().setup(space, "minimize", seed)


class Stateful(BaseStrategy):
    """Deterministic for a fresh instance, but proposes from a generator it keeps between calls:
    a resumed study starts that generator again and leaves the uninterrupted run."""

    def setup(self, space, direction, seed):
        super().setup(space, direction, seed)
        self._gen = np.random.default_rng(0 if seed is None else seed)

    def _propose(self, history, n, rng):
        return self.space.sample(n, rng=self._gen)


class BreaksOnFailures(BaseStrategy):
    """Reads every trial's value as a number: a failed trial (value None) breaks it."""

    def _propose(self, history, n, rng):
        best = min((t.value for t in history), default=0.0)
        return self.space.sample(n, rng=np.random.default_rng(int(abs(best) * 1000)))


class RepeatsPending(BaseStrategy):
    """Proposes the running trial's configuration again."""

    def _propose(self, history, n, rng):
        pending = self.pending(history)
        return pending[:1] * n if pending else self.space.sample(n, rng=rng)


def test_direction_check_fails_when_setup_ignores_the_direction():
    checks.check_direction_is_respected(maker("gp"))
    with pytest.raises(AssertionError, match="minimising f and maximising -f proposed differently"):
        checks.check_direction_is_respected(DirectionBlind)


def test_resume_check_wants_continuity_not_only_determinism():
    checks.check_same_seed_same_proposals(Stateful)  # deterministic for fresh instances...
    with pytest.raises(AssertionError, match="left the uninterrupted run at trial 7"):
        checks.check_resume_continues_the_uninterrupted_run(Stateful)  # ...but a resume restarts it


def test_failure_check_runs_a_real_nan_and_a_crash():
    with pytest.raises(TypeError):
        checks.check_failed_pruned_and_nan_trials(BreaksOnFailures)


def test_pending_check_catches_a_repeated_running_config():
    with pytest.raises(AssertionError, match="was proposed again"):
        checks.check_pending_trials_are_not_proposed_again(RepeatsPending)
