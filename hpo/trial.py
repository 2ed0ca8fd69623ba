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

import math
import numbers
import signal
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import optuna
import optuna.distributions as od
from optuna.trial import TrialState

from hpo.space import Space
from hpo.storage import redact

__all__ = ["Trial", "TrialPruned", "suggest_space", "evaluate", "TrialOutcome", "ObjectiveValueError", "check_value"]

TrialPruned = optuna.TrialPruned


class ObjectiveValueError(TypeError):
    """The objective returned something that is not a finite number."""


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
        """Store ``value`` with the trial (strings have passwords and API keys masked)."""
        self._trial.set_user_attr(key, redact(value) if isinstance(value, str) else value)

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


def check_value(value: Any) -> float:
    """``value`` as a finite float, or ObjectiveValueError saying what came back instead.

    Example:
        >>> check_value(0.5), check_value(1)
        (0.5, 1.0)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            import numpy as np

            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.item()
            elif hasattr(value, "item") and callable(value.item) and getattr(value, "numel", lambda: 0)() == 1:
                value = value.item()  # a one-element torch tensor
        except Exception:
            pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObjectiveValueError(
            f"objective returned {value!r} ({type(value).__name__}); return a float (the loss or score)"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ObjectiveValueError(f"objective returned {value}; return a finite float (raise an exception to mark a failure)")
    return value


@dataclass
class TrialOutcome:
    """How one evaluation of the objective ended, before it is told to the study.

    Attributes:
        state: COMPLETE, PRUNED or FAIL.
        value: the checked value (COMPLETE only).
        error: why it failed, one line, secrets masked (FAIL only).
        exit: a KeyboardInterrupt or SystemExit raised by the objective; the trial is
            recorded first, then :meth:`hpo.Study.finish` raises it again.
        traceback: the objective's traceback (for the log), secrets masked.
        interrupted: the study was stopped (Ctrl-C) rather than the objective failing: the
            trial is marked ``hpo:interrupted``, so ``optimize(max_trials=...)`` runs it again.
    """

    state: TrialState
    value: float | None = None
    error: str | None = None
    exit: BaseException | None = None
    traceback: str | None = None
    interrupted: bool = False


def evaluate(objective: Callable[[Any], Any], trial: Any) -> TrialOutcome:
    """Run ``objective(trial)`` once and say how it ended; never raises.

    The value is checked (a finite float); ``hpo.TrialPruned`` gives PRUNED; an exception,
    a bad value, ``sys.exit()`` or Ctrl-C gives FAIL with the reason. It touches no storage,
    so it also runs where the trial is remote (a Ray worker); the result is told to the study
    by :meth:`hpo.Study.finish`.

    Example:
        >>> evaluate(lambda t: 1 / 0, None).error
        'ZeroDivisionError: division by zero'
        >>> evaluate(lambda t: 0.25, None).value
        0.25
    """
    try:
        return TrialOutcome(TrialState.COMPLETE, value=check_value(objective(trial)))
    except optuna.TrialPruned:
        return TrialOutcome(TrialState.PRUNED)
    except ObjectiveValueError as e:
        return TrialOutcome(TrialState.FAIL, error=redact(str(e))[:1000])
    except Exception as e:
        return TrialOutcome(TrialState.FAIL, error=_one_line(f"{type(e).__name__}: {e}"),
                            traceback=redact(traceback.format_exc()))
    except SystemExit as e:
        return TrialOutcome(TrialState.FAIL, error=f"the objective called sys.exit({e.code!r})", exit=e)
    except KeyboardInterrupt as e:
        return TrialOutcome(TrialState.FAIL, error="interrupted (KeyboardInterrupt)", exit=e, interrupted=True)


def _one_line(text: str) -> str:
    return redact(" ".join(text.split()))[:1000]


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9 (how exit codes of dead processes are reported)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
