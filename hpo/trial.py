"""Trial: what an objective receives.

A thin layer over ``optuna.trial.Trial``: the declared space's parameters are suggested
up front (so running trials are visible to other workers as pending with their params),
and optuna's define-by-run ``suggest_*``, ``report`` and ``should_prune`` work unchanged.

Example:
    >>> import hpo
    >>> study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
    >>> trial = study.ask()
    >>> sorted(trial.params)
    ['x']
    >>> frozen = study.tell(trial, trial.params["x"] ** 2)
"""

from __future__ import annotations

from typing import Any, Sequence

import optuna
import optuna.distributions as od

from hpo.space import Space

__all__ = ["Trial", "TrialPruned", "suggest_space"]

TrialPruned = optuna.TrialPruned


class Trial:
    """One evaluation of the objective.

    Attributes:
        params: the declared space's active parameters for this trial (plus any
            define-by-run ones suggested so far).
        number: the trial's number in its study (0, 1, ...).
    """

    def __init__(self, optuna_trial: optuna.Trial, space: Space | None):
        self._trial = optuna_trial
        self._declared: dict[str, Any] = {}
        if space is not None:
            self._declared = suggest_space(optuna_trial, space)

    @property
    def optuna_trial(self) -> optuna.Trial:
        """The underlying optuna trial (for optuna integrations such as pruning callbacks)."""
        return self._trial

    @property
    def number(self) -> int:
        return self._trial.number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._trial.params)

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._trial.user_attrs)

    def __getitem__(self, name: str) -> Any:
        return self._trial.params[name]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        return self._trial.suggest_float(name, low, high, step=step, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._trial.suggest_int(name, low, high, step=step, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._trial.suggest_categorical(name, choices)

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value (for pruners and learning curves)."""
        self._trial.report(value, step)

    def should_prune(self) -> bool:
        """Whether the study's pruner wants this trial stopped; raise ``hpo.TrialPruned`` then."""
        return self._trial.should_prune()

    def set_user_attr(self, key: str, value: Any) -> None:
        self._trial.set_user_attr(key, value)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params})"


def suggest_space(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """Suggest every active parameter of ``space`` on an optuna trial, parents first.

    Example:
        >>> import optuna, hpo
        >>> study = optuna.create_study()
        >>> space = hpo.Space({"opt": hpo.Categorical(["adam"]), "lr": hpo.Float(1e-3, 1e-1, log=True)})
        >>> sorted(suggest_space(study.ask(), space))
        ['lr', 'opt']
    """
    params: dict[str, Any] = {}
    dists = space.distributions
    for name in space.order:
        if space.is_active(name, params):
            params[name] = _suggest(trial, name, dists[name])
    return params


def _suggest(trial: optuna.Trial, name: str, dist: od.BaseDistribution) -> Any:
    if isinstance(dist, od.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, od.IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_categorical(name, dist.choices)
