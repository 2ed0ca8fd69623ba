"""The conformance checks and optuna's sampler kit as pytest test classes to subclass.

A plugin's test module needs three lines::

    from hpo.testing import StrategyTests

    class TestMyStrategy(StrategyTests):
        strategy = "my-strategy"          # a registered or entry-point name, or a factory

``SamplerTests`` runs optuna's own sampler kit (``optuna.testing.pytest_samplers``, the
basic and relative cases) over the strategy as an optuna sampler, the same way.

Override the ``strategy_spec`` fixture instead of setting ``strategy`` to run one class over
many strategies (``tests/conformance`` does so for every registered one), and
``hash_seed_runs`` to share one pair of interpreters between them. ``expected_failures``
maps a test name to the reason the strategy deliberately behaves otherwise; those tests
are marked xfail (strict: a pass is reported).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, RelativeSamplerTestCase

from hpo.testing import checks

__all__ = ["StrategyTests", "SamplerTests"]


class _Spec:
    strategy: ClassVar[str | Callable[..., Any] | None] = None
    strategy_kwargs: ClassVar[dict[str, Any]] = {}
    expected_failures: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def strategy_spec(self) -> str | Callable[..., Any]:
        """The strategy under test: the class's ``strategy``."""
        if self.strategy is None:
            pytest.fail(f"{type(self).__name__} must set strategy = '<name>' or a factory")
        return self.strategy

    @pytest.fixture
    def make(self, strategy_spec, request) -> checks.Make:
        """A function returning a fresh instance of the strategy under test."""
        reason = self.expected_failures.get(request.node.originalname) or self.expected_failures.get(
            f"{request.node.originalname}[{strategy_spec}]")
        if reason:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
        return checks.maker(strategy_spec, **self.strategy_kwargs)


class StrategyTests(_Spec):
    """hpo's conformance checks (:mod:`hpo.testing.checks`), one test each."""

    @pytest.fixture
    def hash_seed_runs(self, strategy_spec) -> dict[str, dict]:
        """Trajectories under two ``PYTHONHASHSEED`` values (two fresh interpreters)."""
        if not isinstance(strategy_spec, str) or self.strategy_kwargs:
            pytest.skip("the hash-seed check needs a registered name (or 'module:factory') without options")
        return checks.hash_seed_runs([strategy_spec])

    def test_proposals_lie_in_the_space(self, make):
        checks.check_proposals_lie_in_the_space(make)

    def test_same_seed_same_proposals(self, make):
        checks.check_same_seed_same_proposals(make)

    def test_failed_pruned_and_nan_trials(self, make):
        checks.check_failed_pruned_and_nan_trials(make)

    def test_pending_trials_are_not_proposed_again(self, make):
        checks.check_pending_trials_are_not_proposed_again(make)

    def test_ask_n_returns_distinct_configs(self, make):
        checks.check_ask_n_returns_distinct_configs(make)

    def test_direction_is_respected(self, make):
        checks.check_direction_is_respected(make)

    def test_resume_continues_the_uninterrupted_run(self, make, strategy_spec):
        by_name = strategy_spec if isinstance(strategy_spec, str) and not self.strategy_kwargs else None
        checks.check_resume_continues_the_uninterrupted_run(make, by_name)

    def test_proposals_do_not_depend_on_the_hash_seed(self, make, strategy_spec, hash_seed_runs):
        checks.check_proposals_do_not_depend_on_the_hash_seed(strategy_spec, hash_seed_runs)

    @pytest.mark.slow
    def test_beats_random_search(self, make, strategy_spec):
        if strategy_spec == "random":
            pytest.skip("random search is the baseline")
        checks.check_beats_random_search(make)


class SamplerTests(_Spec, BasicSamplerTestCase, RelativeSamplerTestCase):
    """optuna's sampler kit over ``StrategySampler(strategy)``."""

    @pytest.fixture
    def sampler(self, make) -> Callable[[], Any]:
        from hpo.sampler import StrategySampler

        return lambda: StrategySampler(make(), seed=0)
