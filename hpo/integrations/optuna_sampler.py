"""Any hpo Strategy as an optuna sampler.

The Study uses this bridge so that every trial goes through optuna's own machinery
(storage, pruners, heartbeat, enqueued trials), and users can hand an hpo strategy to a
plain ``optuna.create_study(sampler=...)``. The strategy proposes the whole declared space
at once (optuna's *relative* sampling); parameters it does not cover (define-by-run ones)
are sampled at random, as optuna's own relative samplers do.

A strategy that wraps an optuna sampler (``tpe``) offers it through
``optuna_sampler(seed)``; the bridge then delegates every call to it, so optuna samples on
the study's own trials with no mirror and no extra cost.

Example:
    >>> import optuna, hpo
    >>> from hpo.integrations.optuna_sampler import StrategySampler
    >>> sampler = StrategySampler("random", seed=0)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=5)
    >>> len(study.trials)
    5
"""

from __future__ import annotations

import json
import logging
from typing import Any, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.space import Space
from hpo.strategies import Strategy, make_strategy

__all__ = ["StrategySampler"]

_log = logging.getLogger("hpo")


class _History(Sequence[FrozenTrial]):
    """The study's trials except the one being sampled, read from storage on first use.

    The whole study, not a pruner's view of it (hyperband hands samplers one bracket only).
    ``asking_number`` lets a strategy that needs no history (random search) skip the read,
    which on a database storage is most of a trial's cost.
    """

    def __init__(self, study: optuna.Study, number: int):
        self._study, self.asking_number = study, number
        self._trials: list[FrozenTrial] | None = None

    def _load(self) -> list[FrozenTrial]:
        if self._trials is None:
            trials = self._study._storage.get_all_trials(self._study._study_id, deepcopy=False)
            if trials and trials[-1].number == self.asking_number:
                self._trials = trials[:-1]
            else:
                self._trials = [t for t in trials if t.number != self.asking_number]
        return self._trials

    def __len__(self) -> int:
        return len(self._load())

    def __getitem__(self, i):
        return self._load()[i]

    def __iter__(self):
        return iter(self._load())


class StrategySampler(BaseSampler):
    """Drive optuna trials with an hpo strategy.

    Args:
        strategy: a registered name (``"tpe"``, ``"homopt:gp"``) or a Strategy instance.
        space: the declared space; ``None`` infers it from completed trials (define-by-run).
        seed: the strategy seed.
        strategy_kwargs: options for a strategy given by name.
    """

    def __init__(self, strategy: str | Strategy = "random", space: Space | None = None,
                 seed: int | None = None, strategy_kwargs: dict | None = None):
        self._spec = strategy
        self._kwargs = dict(strategy_kwargs or {})
        self._space = space
        self._seed = seed
        self._strategies: dict[tuple, Strategy] = {}
        self._independent = RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        proto = make_strategy(strategy, **self._kwargs) if isinstance(strategy, str) else strategy
        native = getattr(proto, "optuna_sampler", None)
        self._native: BaseSampler | None = native(seed) if native is not None else None

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()
        if self._native is not None:
            self._native.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._native is not None:
            self._native.before_trial(study, trial)

    def _strategy_for(self, space: Space, direction: str) -> Strategy:
        declared = space is self._space
        key = ("declared", direction) if declared else (json.dumps(space.to_dict(), sort_keys=True, default=str), direction)
        strat = self._strategies.get(key)
        if strat is None:
            if not isinstance(self._spec, str) and self._strategies:
                strat = type(self._spec)()  # a new space for an instance: a fresh copy of its kind
            else:
                strat = make_strategy(self._spec, **self._kwargs)
            strat.setup(space, direction, self._seed)
            self._strategies[key] = strat
        return strat

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._native is not None:
            return self._native.infer_relative_search_space(study, trial)
        if self._space is not None:
            return self._space.distributions
        space = self._search_space.calculate(study)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self._native is not None:
            return self._native.sample_relative(study, trial, search_space)
        if not search_space:
            return {}
        fixed = trial.system_attrs.get("fixed_params") or {}
        if fixed and all(n in fixed for n in search_space):
            return {}
        space = self._space if self._space is not None else Space.from_distributions(search_space)
        direction = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
        strategy = self._strategy_for(space, direction)
        config = strategy.ask(_History(study, trial.number), 1)[0]
        return {k: v for k, v in config.items() if k in search_space}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if self._native is not None:
            return self._native.sample_independent(study, trial, param_name, param_distribution)
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        if self._native is not None:
            self._native.after_trial(study, trial, state, values)
        for strategy in self._strategies.values():
            tell = getattr(strategy, "tell", None)
            if tell is not None:
                try:
                    tell(trial)
                except Exception as e:  # a strategy's bookkeeping must not fail a finished trial
                    _log.warning("strategy tell() failed for trial %d: %s", trial.number, e)
