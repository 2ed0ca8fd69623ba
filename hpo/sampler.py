"""StrategySampler: any hpo strategy as an optuna sampler (the bridge the Study stands on).

Every trial of a Study goes through optuna's own machinery (storage, pruners, heartbeat,
enqueued trials); this sampler is where optuna asks the hpo strategy for parameters. It
also works on a plain ``optuna.create_study(sampler=...)``. The strategy proposes the whole
declared space at once (optuna's *relative* sampling); parameters it does not cover
(define-by-run ones outside the declared space) are sampled at random, as optuna's own
relative samplers do. A strategy whose :meth:`~hpo.strategies.BaseStrategy.optuna_sampler`
hook returns an optuna sampler (``tpe``) is sampled through that sampler instead.

Example:
    >>> import optuna
    >>> from hpo.sampler import StrategySampler
    >>> study = optuna.create_study(sampler=StrategySampler("random", seed=0))
    >>> study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=5)
    >>> len(study.trials)
    5
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from typing import Any, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpo.space import Space
from hpo.strategies import BaseStrategy, History, Strategy, make_strategy
from hpo.strategies.base import blind_trials

__all__ = ["StrategySampler"]

_log = logging.getLogger("hpo")
_SETTLE_MAX_S = 2.0  # the longest a proposal waits for a concurrent worker's params


def _study_history(study: optuna.Study, number: int) -> History:
    """The study's trials except trial ``number``, read from storage when a strategy first
    looks (random search never does; on a database that read is most of a trial's cost).

    The whole study, not a pruner's view of it (hyperband hands samplers one bracket only).
    """

    def load() -> list[FrozenTrial]:
        trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
        if trials and trials[-1].number == number:
            return trials[:-1]
        return [t for t in trials if t.number != number]

    return History(load=load, asking=number)


def _taken_meanwhile(study: optuna.Study, history: History, space: Space, config: Mapping[str, Any],
                     waited: float) -> History | None:
    """A fresh history if a worker that was choosing params while ``config`` was proposed
    (a blind trial of ``history``) chose the very same ones, else None.

    A deterministic strategy guesses what such workers receive and skips it
    (:meth:`~hpo.strategies.BaseStrategy.blind_pending`); the guess fails when that worker
    read an older history. Their params are awaited for at most about as long as this
    proposal took (they started first), then compared.
    """
    blind = {t.number for t in blind_trials(space, history)}
    if not blind:
        return None
    deadline = time.monotonic() + min(_SETTLE_MAX_S, max(0.05, 2 * waited))
    names = set(space.names)
    while True:
        fresh = _study_history(study, history.asking)
        still = {t.number for t in blind_trials(space, fresh)} & blind
        for t in fresh:
            if t.number in blind and t.number not in still:
                if {k: v for k, v in t.params.items() if k in names} == dict(config):
                    return fresh
        if not still or time.monotonic() > deadline:
            return None
        time.sleep(0.01)


class StrategySampler(BaseSampler):
    """Drive optuna trials with an hpo strategy.

    Args:
        strategy: a registered name (``"tpe"``, ``"homopt:gp"``) or a Strategy instance.
        space: the declared space; ``None`` infers it from the study's completed trials
            (define-by-run), one strategy per distinct space.
        seed: the strategy seed (None: the strategies' fixed default).
        strategy_kwargs: options for a strategy given by name.

    An instance is used as given for the first space; a later space (a define-by-run
    study whose parameters change) gets a deep copy of the instance as it was when the
    sampler was made, so its constructor arguments carry over.
    """

    def __init__(self, strategy: str | Strategy = "random", space: Space | None = None,
                 seed: int | None = None, strategy_kwargs: Mapping[str, Any] | None = None):
        self._spec = strategy
        self._kwargs = dict(strategy_kwargs or {})
        self._space = space
        self._seed = seed
        self._strategies: dict[tuple, Strategy] = {}
        self._independent = RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace(include_pruned=True)
        self._lock = threading.RLock()  # optuna's n_jobs runs trials in threads
        if isinstance(strategy, str):
            proto = make_strategy(strategy, **self._kwargs)
            self._pristine = None
        else:
            if self._kwargs:
                raise ValueError("strategy_kwargs apply to a strategy given by name; configure the instance directly")
            proto = make_strategy(strategy)
            try:
                self._pristine = copy.deepcopy(strategy)
            except Exception:  # an instance holding a lock or a client: copied only if a second space needs it
                self._pristine = None
        self._native: BaseSampler | None = proto.optuna_sampler(seed) if isinstance(proto, BaseStrategy) else None

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
            if isinstance(self._spec, str):
                strat = make_strategy(self._spec, **self._kwargs)
            elif not self._strategies:
                strat = self._spec
            elif self._pristine is not None:
                strat = copy.deepcopy(self._pristine)
            else:
                raise TypeError(
                    f"{type(self._spec).__name__} cannot be deep-copied for a second search space; "
                    "declare the space, pass the strategy by name, or make the instance copyable"
                )
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
        declared = self._space is not None and set(search_space) <= set(self._space.names)
        space = self._space if declared else Space.from_distributions(search_space)
        direction = "maximize" if study.direction == StudyDirection.MAXIMIZE else "minimize"
        with self._lock:
            strategy = self._strategy_for(space, direction)
            history, t0 = _study_history(study, trial.number), time.monotonic()
            config = strategy.ask(history, 1)[0]
            if history.loaded:  # the strategy read the study (random search does not)
                fresh = _taken_meanwhile(study, history, space, config, time.monotonic() - t0)
                if fresh is not None:
                    config = strategy.ask(fresh, 1)[0]
            attrs = strategy.proposal_attrs() if hasattr(strategy, "proposal_attrs") else {}
        for key, value in attrs.items():  # e.g. auto's proposed_by: which strategy proposed this trial
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
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
        with self._lock:
            strategies = list(self._strategies.values())
        for strategy in strategies:
            try:
                strategy.tell(trial)
            except Exception as e:  # a strategy's bookkeeping must not fail a finished trial
                _log.warning("strategy tell() failed for trial %d: %s", trial.number, e)
