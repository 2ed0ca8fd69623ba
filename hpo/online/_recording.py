"""Record an online hyperparameter schedule as one trial of an hpo or optuna study.

Only optuna's public trial API is used (``ask``, ``report``, ``set_user_attr``, ``tell``), so the
schedule lives in the study's storage next to ordinary trials: ``optuna.load_study`` and
optuna-dashboard show it, and ``plot_intermediate_values`` draws the validation curve.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import optuna

__all__ = ["ScheduleRecorder"]


class ScheduleRecorder:
    """One running trial that receives a value per step plus named series as user attributes.

    Accepts an hpo ``Study`` (anything with ``.optuna_study``) or a plain ``optuna.Study``.

    Example:
        >>> import optuna
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study()
        >>> rec = ScheduleRecorder(study, attrs={"method": "stn"})
        >>> rec.log(0, 0.9, {"dropout": 0.1}); rec.log(1, 0.7, {"dropout": 0.2})
        >>> rec.finish(0.7)
        >>> t = study.trials[0]
        >>> t.intermediate_values, t.user_attrs["schedule"]["dropout"]
        ({0: 0.9, 1: 0.7}, [0.1, 0.2])
    """

    def __init__(self, study: Any, attrs: Mapping[str, Any] | None = None) -> None:
        target = getattr(study, "optuna_study", study)
        if not isinstance(target, optuna.Study):
            raise TypeError(f"study must be an hpo.Study or an optuna.Study, got {type(study).__name__}")
        self.study = target
        with warnings.catch_warnings():
            # A trial asked outside optimize() gets no heartbeat row, so it is never failed as stale.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            self.trial = target.ask()
        self._schedule: dict[str, list] = {"step": []}
        for key, value in (attrs or {}).items():
            self.trial.set_user_attr(key, value)

    @property
    def number(self) -> int:
        return self.trial.number

    def log(self, step: int, value: float, series: Mapping[str, float]) -> None:
        """Report ``value`` at ``step`` and append ``series`` (name -> number) to the schedule."""
        if math.isfinite(value):
            self.trial.report(float(value), int(step))
        self._schedule["step"].append(int(step))
        for key, v in series.items():
            self._schedule.setdefault(key, []).append(float(v))
        self.trial.set_user_attr("schedule", self._schedule)

    def set_attr(self, key: str, value: Any) -> None:
        self.trial.set_user_attr(key, value)

    def finish(self, value: float | None) -> None:
        """Complete the trial with ``value`` (or mark it failed when the value is missing or not finite)."""
        if value is None or not math.isfinite(value):
            self.study.tell(self.trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(self.trial, float(value))
