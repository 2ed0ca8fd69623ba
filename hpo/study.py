"""Study: the space, the direction, the strategy and the storage, and the loop that runs trials.

Every trial goes through optuna (storage, pruners, heartbeat, enqueued trials); the hpo
strategy plugs in as an optuna sampler. What hpo needs to reopen a study (space, strategy,
seed) is kept in the study's system attributes, so ``load_study`` gives a strategy back
its space and history after a crash.

Example:
    >>> import hpo
    >>> def objective(trial):
    ...     return (trial.params["x"] - 1) ** 2
    >>> study = hpo.create_study(space={"x": hpo.Float(-5, 5)}, strategy="random", seed=0)
    >>> study.optimize(objective, n_trials=20)
    >>> len(study.trials)
    20
    >>> study.best_value < 1
    True
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import numbers
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState

from hpo.integrations.optuna_sampler import StrategySampler
from hpo.pruners import make_pruner
from hpo.space import Space
from hpo.storage import open_storage, storage_url, study_names
from hpo.strategies import Strategy
from hpo.trial import Trial

__all__ = ["Study", "create_study", "load_study", "StudyNotFoundError", "ObjectiveValueError"]

_log = logging.getLogger("hpo")
_ATTR = "hpo:config"
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class StudyNotFoundError(KeyError):
    """No study of that name in the storage."""

    def __str__(self) -> str:
        return str(self.args[0])


class ObjectiveValueError(TypeError):
    """The objective returned something that is not a finite number."""


Objective = Callable[[Trial], float]


class _NoTracebackForBadValues(logging.Filter):
    """optuna logs a traceback for every failed trial; for a bad return value it is noise.

    ``show_tracebacks = False`` (the CLI's setting) keeps failed-trial warnings to one line;
    the error is in the trial's ``error`` user attribute either way.
    """

    show_tracebacks = True

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and (not self.show_tracebacks or isinstance(record.exc_info[1], ObjectiveValueError)):
            record.exc_info = None
        return True


failed_trial_log = _NoTracebackForBadValues()
logging.getLogger("optuna.study._optimize").addFilter(failed_trial_log)


class Study:
    """A hyperparameter search.

    The short form runs an objective on a declared space with the defaults (random
    search, in-memory storage)::

        hpo.Study(objective, space={"x": hpo.Float(-5, 5)}).optimize(n_trials=20)

    Use :func:`create_study` / :func:`load_study` for named, persistent studies.
    """

    def __init__(self, objective: Objective | None = None, *, space: Any = None,
                 strategy: str | Strategy = "random", direction: str = "minimize",
                 storage: Any = None, study_name: str | None = None, seed: int | None = None,
                 pruner: Any = None, load_if_exists: bool = False,
                 strategy_kwargs: Mapping[str, Any] | None = None):
        _check_direction(direction)
        self.objective = objective
        self.space = Space(space) if space is not None else None
        self.seed = seed
        self._strategy_spec = strategy
        self._strategy_kwargs = dict(strategy_kwargs or {})
        self._pruner_spec = pruner
        self._storage = open_storage(storage)
        self._url = storage_url(storage)
        self._sampler = StrategySampler(strategy, self.space, seed, self._strategy_kwargs)
        try:
            self._optuna = optuna.create_study(
                storage=self._storage, sampler=self._sampler, pruner=make_pruner(pruner),
                study_name=study_name, direction=direction, load_if_exists=load_if_exists,
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise ValueError(
                f"a study named {study_name!r} already exists in {self._url}; "
                f"open it with hpo.load_study(study_name={study_name!r}, storage=...) or pass load_if_exists=True"
            ) from None
        stored = self._optuna._storage.get_study_system_attrs(self._optuna._study_id).get(_ATTR)
        if stored is None:
            self._save_config()
        else:
            self._check_matches(stored, direction)

    # --- persistence of what hpo needs to reopen a study -------------------------
    def _save_config(self) -> None:
        config = {
            "space": self.space.to_dict() if self.space is not None else None,
            "strategy": self._strategy_spec if isinstance(self._strategy_spec, str) else None,
            "strategy_kwargs": self._strategy_kwargs,
            "seed": self.seed,
            "pruner": self._pruner_spec if isinstance(self._pruner_spec, str) else None,
        }
        self._optuna._storage.set_study_system_attr(self._optuna._study_id, _ATTR, json.loads(json.dumps(config, default=str)))

    def _check_matches(self, stored: dict, direction: str) -> None:
        if self.space is not None and stored.get("space") is not None and Space.from_dict(stored["space"]) != self.space:
            raise ValueError(
                f"study {self.study_name!r} exists with a different space; use another study_name "
                "or open it with hpo.load_study (which restores its space)"
            )
        if self.direction != direction:
            raise ValueError(f"study {self.study_name!r} exists with direction={self.direction!r}, not {direction!r}")

    # --- properties --------------------------------------------------------------
    @property
    def optuna_study(self) -> optuna.Study:
        """The underlying ``optuna.Study`` (storage, dashboard and optuna tools work on it)."""
        return self._optuna

    @property
    def study_name(self) -> str:
        return self._optuna.study_name

    @property
    def direction(self) -> str:
        return self._optuna.direction.name.lower()

    @property
    def strategy(self) -> str | Strategy:
        return self._strategy_spec

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._optuna.get_trials(deepcopy=False)

    def get_trials(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        return self._optuna.get_trials(deepcopy=False, states=tuple(states) if states else None)

    @property
    def best_trial(self) -> FrozenTrial:
        try:
            return self._optuna.best_trial
        except ValueError:
            raise ValueError(f"study {self.study_name!r} has no completed trial yet; run optimize() first") from None

    @property
    def best_value(self) -> float:
        return self.best_trial.value

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best_trial.params

    def trials_dataframe(self, **kwargs: Any):
        return self._optuna.trials_dataframe(**kwargs)

    def __repr__(self) -> str:
        return f"Study(name={self.study_name!r}, direction={self.direction!r}, trials={len(self.trials)})"

    # --- ask / tell ----------------------------------------------------------------
    def ask(self) -> Trial:
        """A new running trial whose declared parameters are already chosen."""
        return Trial(self._optuna.ask(), self.space)

    def tell(self, trial: Trial | int, value: float | None = None, state: TrialState | str | None = None) -> FrozenTrial:
        """Finish a trial with its value, or with ``state="fail"`` / ``"pruned"``.

        A value that is not a finite number marks the trial FAILED with the reason.
        """
        number = trial if isinstance(trial, int) else trial.number
        if isinstance(state, str):
            state = {"fail": TrialState.FAIL, "failed": TrialState.FAIL, "pruned": TrialState.PRUNED,
                     "complete": TrialState.COMPLETE}.get(state.lower(), state)
            if isinstance(state, str):
                raise ValueError(f"state must be 'complete', 'fail' or 'pruned', got {state!r}")
        if state in (None, TrialState.COMPLETE):
            try:
                value = _check_value(value)
                state = TrialState.COMPLETE
            except ObjectiveValueError as e:
                self._optuna._storage.set_trial_user_attr(self._trial_id(number), "error", str(e))
                _log.warning("trial %d failed: %s", number, e)
                value, state = None, TrialState.FAIL
        return self._optuna.tell(number, value, state=state, skip_if_finished=False)

    def _trial_id(self, number: int) -> int:
        return self._optuna._storage.get_trial_id_from_study_id_trial_number(self._optuna._study_id, number)

    def enqueue(self, config: Mapping[str, Any]) -> None:
        """Evaluate ``config`` before anything the strategy proposes (warm start)."""
        params = self.space.validate(config) if self.space is not None else dict(config)
        self._optuna.enqueue_trial(params, skip_if_exists=True)

    # --- optimize --------------------------------------------------------------------
    def optimize(self, objective: Objective | None = None, n_trials: int | None = None,
                 timeout: float | None = None, n_jobs: int = 1, *, max_trials: int | None = None,
                 callbacks: Iterable[Callable[["Study", FrozenTrial], None]] | None = None,
                 show_progress_bar: bool = False, mp_context: str | None = None) -> None:
        """Run trials until ``n_trials`` more have run, ``max_trials`` exist in total, or ``timeout``.

        Args:
            objective: ``objective(trial) -> float``; defaults to the one given to ``Study(...)``.
            n_trials: how many trials to run in this call.
            timeout: seconds after which no new trial starts.
            n_jobs: worker **processes** sharing the storage (an in-memory study moves to a
                temporary journal file so that processes can share it).
            max_trials: stop once the study holds this many finished trials: the way to
                resume an interrupted study "to the requested total".
            callbacks: ``callback(study, frozen_trial)`` after each trial (in the worker).
            show_progress_bar: a rich progress bar.
            mp_context: ``"fork"`` (default on Linux: closures work) or ``"spawn"``.
        """
        objective = objective or self.objective
        if objective is None or not callable(objective):
            raise TypeError("optimize needs an objective: study.optimize(objective, n_trials=...)")
        for name, v in (("n_trials", n_trials), ("max_trials", max_trials)):
            if v is not None and (not isinstance(v, numbers.Integral) or v < 0):
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        if not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 or n_jobs < -1:
            raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
        if max_trials is not None:
            finished = len(self.get_trials(_FINISHED))
            remaining = max(0, max_trials - finished)
            n_trials = remaining if n_trials is None else min(n_trials, remaining)
        if n_trials is None and timeout is None:
            raise ValueError("give n_trials, max_trials or timeout, or the study would run forever")
        from hpo.execution.local import run_local, run_processes

        if n_jobs == -1:
            import os

            n_jobs = os.cpu_count() or 1
        if n_jobs == 1:
            run_local(self, objective, n_trials, timeout, callbacks, show_progress_bar)
        else:
            if isinstance(self._storage, InMemoryStorage):
                self._move_to_journal()
            run_processes(self, objective, n_trials, timeout, n_jobs, callbacks, show_progress_bar, mp_context)

    def _objective_wrapper(self, objective: Objective) -> Callable[[optuna.Trial], float]:
        space = self.space

        def run(optuna_trial: optuna.Trial) -> float:
            trial = Trial(optuna_trial, space)
            try:
                return _check_value(objective(trial))
            except optuna.TrialPruned:
                raise
            except Exception as e:
                optuna_trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:1000])
                raise

        return run

    def _move_to_journal(self) -> None:
        """Worker processes cannot share memory: move an in-memory study to a temp journal file."""
        folder = Path(tempfile.mkdtemp(prefix="hpo-"))
        path = str(folder / "study.log")
        journal = open_storage(path)
        optuna.copy_study(from_study_name=self.study_name, from_storage=self._storage, to_storage=journal)
        self._storage = journal
        self._url = path
        self._optuna = optuna.load_study(study_name=self.study_name, storage=self._storage,
                                         sampler=self._sampler, pruner=self._optuna.pruner)
        _log.info("in-memory study moved to %s so that worker processes can share it", path)

    def _worker_spec(self) -> dict:
        """What a worker process needs to reopen this study (picklable, for spawn too)."""
        return {"study_name": self.study_name, "storage": self._url, "strategy": self._strategy_spec,
                "strategy_kwargs": self._strategy_kwargs, "pruner": self._pruner_spec, "seed": self.seed,
                "space": self.space.to_dict() if self.space is not None else None}


def _reopen(spec: dict) -> Study:
    """The study of a worker spec opened afresh (in a worker process)."""
    space = Space.from_dict(spec["space"]) if spec["space"] is not None else None
    return load_study(study_name=spec["study_name"], storage=spec["storage"], strategy=spec["strategy"],
                      strategy_kwargs=spec["strategy_kwargs"], pruner=spec["pruner"], seed=spec["seed"], _space=space)


def _check_direction(direction: str) -> None:
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def _check_value(value: Any) -> float:
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


def create_study(*, space: Any = None, strategy: str | Strategy = "random", direction: str = "minimize",
                 storage: Any = None, study_name: str | None = None, seed: int | None = None,
                 pruner: Any = None, load_if_exists: bool = False,
                 strategy_kwargs: Mapping[str, Any] | None = None) -> Study:
    """Create a study (or open it, with ``load_if_exists=True``).

    Args:
        space: a dict of ``hpo.Float/Int/Categorical``, a ``ConfigurationSpace``, a space
            file path, or ``None`` for define-by-run (``trial.suggest_*`` in the objective).
        strategy: a name from ``hpo.strategies.available()`` or a Strategy instance.
        direction: ``"minimize"`` or ``"maximize"``.
        storage: ``None`` (in-memory), ``"sqlite:///study.db"``, ``"postgresql://..."``, a
            journal file path, or an optuna storage.
        study_name: required to reopen the study later.
        seed: seeds the strategy; the same seed and history give the same proposals.
        pruner: ``"median"``, ``"successive-halving"``, ``"hyperband"``, ``"none"`` or an optuna pruner.

    Example:
        >>> import hpo
        >>> study = hpo.create_study(space={"lr": hpo.Float(1e-4, 1e-1, log=True)}, direction="maximize")
        >>> study.direction
        'maximize'
    """
    return Study(space=space, strategy=strategy, direction=direction, storage=storage,
                 study_name=study_name, seed=seed, pruner=pruner, load_if_exists=load_if_exists,
                 strategy_kwargs=strategy_kwargs)


def load_study(*, study_name: str, storage: Any, strategy: str | Strategy | None = None,
               strategy_kwargs: Mapping[str, Any] | None = None, pruner: Any = None,
               seed: Any = "stored", _space: Space | None = None) -> Study:
    """Reopen a stored study with its space, direction, strategy and seed.

    Example:
        >>> import hpo, tempfile, os
        >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "s.db")
        >>> _ = hpo.create_study(space={"x": hpo.Float(0, 1)}, storage=url, study_name="s", seed=3)
        >>> hpo.load_study(study_name="s", storage=url).seed
        3
    """
    if storage is None:
        raise ValueError("load_study needs the storage the study lives in, e.g. storage='sqlite:///study.db'")
    opened = open_storage(storage)
    names = study_names(opened)
    if study_name not in names:
        close = difflib.get_close_matches(study_name, names, n=3)
        hint = f"did you mean {close}?" if close else (f"existing studies: {names}" if names else "the storage holds no study")
        raise StudyNotFoundError(
            f"no study named {study_name!r} in {storage_url(storage)}; {hint} (create one with hpo.create_study)"
        )
    summary = optuna.load_study(study_name=study_name, storage=opened)
    config = opened.get_study_system_attrs(summary._study_id).get(_ATTR) or {}
    if strategy is None:
        strategy = config.get("strategy")
        if strategy is None:
            strategy = "random" if not config else None
            if strategy is None:
                raise ValueError(
                    f"study {study_name!r} was run with a strategy object that cannot be restored; "
                    "pass strategy=... to load_study"
                )
        strategy_kwargs = config.get("strategy_kwargs") if strategy_kwargs is None else strategy_kwargs
    space = _space if _space is not None else (Space.from_dict(config["space"]) if config.get("space") else None)
    return Study(space=space, strategy=strategy, direction=summary.direction.name.lower(), storage=opened,
                 study_name=study_name, seed=config.get("seed") if seed == "stored" else seed,
                 pruner=pruner if pruner is not None else config.get("pruner"), load_if_exists=True,
                 strategy_kwargs=strategy_kwargs)
