"""optuna's Tree-structured Parzen Estimator behind the hpo Strategy protocol.

Inside a Study (or any optuna study, through ``StrategySampler``) the strategy hands optuna
its own ``TPESampler`` (:meth:`TPEStrategy.optuna_sampler`), reseeded before each trial from
(seed, trial number): optuna then samples exactly as it does natively, on the study's own
storage, and the layer adds nothing but the reseed. Everywhere else (``ask(history, n)``:
HomOpt's base, ``ask(n>1)``, the conformance kit) the study history is mirrored into a
private in-memory optuna study (only new trials are added between calls); running trials
go in as RUNNING so that optuna's constant liar keeps parallel workers apart. A fresh
sampler seeded from the call's generator makes every proposal a function of (seed,
history): a fresh instance given the same history proposes the same configurations.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Sequence

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo.strategies._history import history_rows
from hpo.strategies.base import BaseStrategy
from hpo.trial import suggest_space

__all__ = ["TPEStrategy"]


def _reseed(sampler: optuna.samplers.TPESampler, seed: int) -> None:
    """Reseed a TPESampler and its startup random sampler from one integer."""
    seeds = np.random.SeedSequence(seed).generate_state(2)
    sampler._rng.rng.seed(int(seeds[0]))
    sampler._random_sampler._rng.rng.seed(int(seeds[1]))


class _TrialSeeded(BaseSampler):
    """An optuna sampler reseeded before every trial from (seed, trial number).

    Its proposals are then a function of the seed and the study's trials, as every hpo
    strategy's are: a resumed study or a second worker draws what a replay would.
    """

    def __init__(self, sampler: optuna.samplers.TPESampler, seed: int | None):
        self._sampler = sampler
        self._seed = 0 if seed is None else int(seed) & 0xFFFFFFFF

    def reseed_rng(self) -> None:
        self._sampler.reseed_rng()

    def before_trial(self, study, trial) -> None:
        _reseed(self._sampler, int(np.random.default_rng([self._seed, trial.number]).integers(2**31 - 1)))
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._sampler.after_trial(study, trial, state, values)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _signature(row: tuple, kind: str) -> tuple:
    """What a mirrored trial must still match: its config, and its result unless it was running."""
    number, new_kind, config, payload = row
    key = tuple(sorted(config.items()))
    if kind == "R":
        return (key,)
    return (key, new_kind, payload if new_kind == "C" else tuple(sorted(payload.items())))


class TPEStrategy(BaseStrategy):
    """Tree-structured Parzen Estimator (optuna's ``TPESampler``).

    Args:
        n_startup_trials: random trials before TPE takes over.
        n_ei_candidates: candidates drawn from the good density per proposal.
        multivariate: model the joint density (better on correlated spaces).
        group: split conditional spaces into groups that always occur together.
        constant_liar: count running trials as bad ones so parallel workers spread out.

    Example:
        >>> import hpo
        >>> s = TPEStrategy(n_startup_trials=5)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> len(s.ask([], n=2))
        2
    """

    name = "tpe"

    def __init__(self, n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool = True,
                 group: bool = True, constant_liar: bool = True):
        super().__init__()
        self.n_startup_trials = _check_int("n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = _check_int("n_ei_candidates", n_ei_candidates, 1)
        self.multivariate = _check_bool("multivariate", multivariate)
        self.group = _check_bool("group", group)
        self.constant_liar = _check_bool("constant_liar", constant_liar)
        if self.group and not self.multivariate:
            raise ValueError("group=True needs multivariate=True; set multivariate=True or group=False")
        self._study: optuna.Study | None = None
        self._rows: list[list] = []  # [number, kind, trial_id, signature, history row] of the mirrored trials

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._study, self._rows = None, []

    def _new_sampler(self, seed: int | None) -> optuna.samplers.TPESampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna flags multivariate/group as experimental
            return optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials, n_ei_candidates=self.n_ei_candidates,
                multivariate=self.multivariate, group=self.group, constant_liar=self.constant_liar,
                seed=seed, warn_independent_sampling=False,
            )

    def optuna_sampler(self, seed: int | None) -> BaseSampler:
        """optuna's TPESampler with these settings, reseeded before each trial from (seed, trial number).

        ``StrategySampler`` (so every Study) samples through it directly instead of through
        :meth:`ask`: the proposals are optuna's own, on the study's own trials, at optuna's cost.
        """
        return _TrialSeeded(self._new_sampler(seed), seed)

    def _sampler(self, seed: int) -> optuna.samplers.TPESampler:
        """The mirror's sampler, reseeded (building one costs more than a proposal at small n)."""
        sampler = self._study.sampler
        if not isinstance(sampler, optuna.samplers.TPESampler):
            sampler = self._new_sampler(seed)
        _reseed(sampler, seed)
        return sampler

    def _propose(self, history: Sequence[FrozenTrial], n: int, rng: np.random.Generator) -> list[dict]:
        study = self._sync(history)
        study.sampler = self._sampler(int(rng.integers(2**31 - 1)))
        out, scratch = [], []
        for _ in range(n):
            trial = study.ask()
            scratch.append(trial._trial_id)
            out.append(suggest_space(trial, self.space))
        for trial_id in scratch:  # our own proposals leave the mirror: FAIL trials are invisible to TPE
            study._storage.set_trial_state_values(trial_id, TrialState.FAIL)
        return out

    # --- the mirror ------------------------------------------------------------
    def _new_study(self) -> optuna.Study:
        storage = InMemoryStorage()
        storage.create_new_study(directions=[StudyDirection.MINIMIZE], study_name="mirror")
        return optuna.load_study(study_name="mirror", storage=storage, sampler=optuna.samplers.RandomSampler())

    def _frozen(self, kind: str, config: dict, payload) -> FrozenTrial:
        dists = self.space.distributions
        kwargs: dict = {"params": config, "distributions": {k: dists[k] for k in config}}
        if kind == "C":
            return create_trial(value=payload, **kwargs)
        if kind == "P":
            return create_trial(state=TrialState.PRUNED, intermediate_values=payload, **kwargs)
        return create_trial(state=TrialState.RUNNING, **kwargs)

    def _sync(self, history: Sequence[FrozenTrial]) -> optuna.Study:
        """Bring the mirror up to date; rebuild it when the history is not an extension of it.

        The mirror equals a from-scratch replay: the visible trials (complete, pruned,
        running) are the history's, in trial-number order, which is all TPE reads.
        """
        want = [r for r in history_rows(self, history) if r[1] != "F"]
        if self._study is not None and not self._extend(want):
            self._study = None
        if self._study is None:
            self._study, self._rows = self._new_study(), []
            self._append(want)
        return self._study

    def _extend(self, want: list) -> bool:
        storage = self._study._storage
        by_number = {r[0]: r for r in want}
        kept = []
        for row in self._rows:
            number, kind, trial_id, sig = row[:4]
            target = by_number.get(number)
            if target is not None and target is not row[4] and _signature(target, kind) != sig:
                return False
            if target is None:
                if kind != "R":
                    return False
                storage.set_trial_state_values(trial_id, TrialState.FAIL)  # no longer pending
                continue
            kept.append(row)
        if [r[0] for r in kept] != [r[0] for r in want[: len(kept)]]:
            return False
        for row, target in zip(kept, want):
            number, kind, trial_id = row[:3]
            if kind == target[1]:
                continue
            if kind != "R":
                return False
            if target[1] == "C":
                storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [target[3]])
            elif target[1] == "P":
                for step, v in target[3].items():
                    storage.set_trial_intermediate_value(trial_id, step, v)
                storage.set_trial_state_values(trial_id, TrialState.PRUNED)
            row[1], row[3], row[4] = target[1], _signature(target, target[1]), target
        self._rows = kept
        self._append(want[len(kept):])
        return True

    def _append(self, rows: list) -> None:
        for row in rows:
            number, kind, config, payload = row
            self._study.add_trial(self._frozen(kind, config, payload))
            trial_id = self._study._storage.get_all_trials(self._study._study_id, deepcopy=False)[-1]._trial_id
            self._rows.append([number, kind, trial_id, _signature(row, kind), row])
