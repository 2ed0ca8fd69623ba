"""Every registered strategy goes through hpo.testing (as scikit-learn runs check_estimator over
every estimator). A new strategy is done when it passes with no special case."""

from __future__ import annotations

import pytest

from hpo.strategies import available
from hpo.testing import StrategyTests
from hpo.testing.checks import hash_seed_runs

STRATEGIES = [name for name in available() if name != "homopt"] + ["homopt:random"]


@pytest.fixture(scope="module")
def every_hash_seed_run() -> dict[str, dict]:
    """All strategies' trajectories in one pair of interpreters (instead of a pair each)."""
    return hash_seed_runs(STRATEGIES)


class TestEveryStrategy(StrategyTests):
    @pytest.fixture(params=STRATEGIES)
    def strategy_spec(self, request):
        return request.param

    @pytest.fixture
    def hash_seed_runs(self, every_hash_seed_run):
        return every_hash_seed_run
