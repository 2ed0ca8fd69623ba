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

import warnings

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo.strategies.base import BaseStrategy, History, Observation
from hpo.strategies.params import Boolean, Integer
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


def _signature(row: Observation, state: str) -> tuple:
    """What a mirrored trial must still match: its config, and its result unless it was pending."""
    key = tuple(sorted(row.config.items()))
    if state == "pending":
        return (key,)
    return (key, row.state, row.loss if row.state == "complete" else tuple(sorted(row.intermediate.items())))


class TPEStrategy(BaseStrategy):
    """Tree-structured Parzen Estimator (optuna's ``TPESampler``).

    Args:
        n_startup_trials: trials proposed at random before TPE takes over (default 10).
        n_ei_candidates: candidates drawn from the good density per proposal, the best by
            expected improvement wins (default 24).
        multivariate: model the joint density of all parameters rather than each alone
            (default True).
        group: model conditional spaces as groups of parameters that occur together
            (default True; needs ``multivariate``).
        constant_liar: count running trials as bad ones so parallel workers spread out
            (default True).

    Example:
        >>> import hpo
        >>> s = TPEStrategy(n_startup_trials=5)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> len(s.ask([], n=2))
        2
    """

    name = "tpe"

    params = {"n_startup_trials": Integer(0), "n_ei_candidates": Integer(1), "multivariate": Boolean(),
              "group": Boolean(), "constant_liar": Boolean()}

    def __init__(self, n_startup_trials: int = 10, n_ei_candidates: int = 24, multivariate: bool = True,
                 group: bool = True, constant_liar: bool = True):
        super().__init__(n_startup_trials=n_startup_trials, n_ei_candidates=n_ei_candidates,
                         multivariate=multivariate, group=group, constant_liar=constant_liar)
        if self.group and not self.multivariate:
            raise ValueError("TPEStrategy: group=True needs multivariate=True; set multivariate=True or group=False")
        self._study: optuna.Study | None = None
        self._rows: list[list] = []  # [number, state, trial_id, signature, row] of the mirrored trials

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

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
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

    def _frozen(self, row: Observation) -> FrozenTrial:
        dists = self.space.distributions
        kwargs: dict = {"params": row.config, "distributions": {k: dists[k] for k in row.config}}
        if row.state == "complete":
            return create_trial(value=row.loss, **kwargs)
        if row.state == "pruned":
            return create_trial(state=TrialState.PRUNED, intermediate_values=dict(row.intermediate), **kwargs)
        return create_trial(state=TrialState.RUNNING, **kwargs)

    def _sync(self, history: History) -> optuna.Study:
        """Bring the mirror up to date; rebuild it when the history is not an extension of it.

        The mirror equals a from-scratch replay: the visible trials (complete, pruned,
        pending) are the history's, in trial-number order, which is all TPE reads.
        """
        want = [r for r in self.rows(history) if r.state != "failed"]
        if self._study is not None and not self._extend(want):
            self._study = None
        if self._study is None:
            self._study, self._rows = self._new_study(), []
            self._append(want)
        return self._study

    def _extend(self, want: list[Observation]) -> bool:
        storage = self._study._storage
        by_number = {r.number: r for r in want}
        kept = []
        for row in self._rows:
            number, state, trial_id, sig = row[:4]
            target = by_number.get(number)
            if target is not None and target is not row[4] and _signature(target, state) != sig:
                return False
            if target is None:
                if state != "pending":
                    return False
                storage.set_trial_state_values(trial_id, TrialState.FAIL)  # no longer pending
                continue
            kept.append(row)
        if [r[0] for r in kept] != [r.number for r in want[: len(kept)]]:
            return False
        for row, target in zip(kept, want):
            state, trial_id = row[1], row[2]
            if state == target.state:
                continue
            if state != "pending":
                return False
            if target.state == "complete":
                storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [target.loss])
            elif target.state == "pruned":
                for step, v in target.intermediate.items():
                    storage.set_trial_intermediate_value(trial_id, step, v)
                storage.set_trial_state_values(trial_id, TrialState.PRUNED)
            row[1], row[3], row[4] = target.state, _signature(target, target.state), target
        self._rows = kept
        self._append(want[len(kept):])
        return True

    def _append(self, rows: list[Observation]) -> None:
        for row in rows:
            self._study.add_trial(self._frozen(row))
            trial_id = self._study._storage.get_all_trials(self._study._study_id, deepcopy=False)[-1]._trial_id
            self._rows.append([row.number, row.state, trial_id, _signature(row, row.state), row])
