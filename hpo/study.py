"""Study: the space, the direction, the strategy and the storage, and the loop that runs trials.

Every trial lives in an optuna storage (pruners, heartbeat, enqueued trials and optuna's
tools work on it); the hpo strategy plugs in as an optuna sampler. What hpo needs to reopen
a study (space, strategy, seed) is kept in the study's system attributes, so ``load_study``
gives a strategy back its space and history after a crash.

For executors (in-process, process pool, Ray) the Study offers a few public pieces, all
usable from any process that can reach the storage:

- :meth:`Study.spec` -> :class:`StudySpec`: a picklable recipe; ``spec.open()`` reopens the
  study in another process.
- :meth:`Study.budget` -> :class:`TrialBudget` and :meth:`Study.claim`: a trial budget
  checked against counts kept in the storage under a storage-wide lock, so neither parallel
  workers, nor orphans, nor a resumed study can overshoot ``n_trials``/``max_trials``.
- :meth:`Study.run_trial` (= :func:`hpo.trial.evaluate` + :meth:`Study.finish`): one trial
  with hpo's value checking and error recording.
- :meth:`Study.fail_dead_trials`: RUNNING trials whose process is gone marked FAILED with
  the reason (run by ``load_study`` and ``optimize`` too).

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

import contextlib
import copy
import datetime
import difflib
import json
import logging
import math
import numbers
import os
import secrets
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import optuna
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from hpo._owner import current_owner, describe_owner, owner_alive, supervisor_watching
from hpo.sampler import StrategySampler
from hpo.pruners import make_pruner
from hpo.space import Space
from hpo.storage import (INTERRUPTED_ATTR, OWNER_ATTR, count_trials, describe, open_storage, redact,
                         storage_lock, storage_url, study_names)
from hpo.strategies import Strategy
from hpo.trial import ObjectiveValueError, Trial, TrialOutcome, check_value, evaluate

__all__ = ["Study", "create_study", "load_study", "StudyNotFoundError", "ObjectiveValueError",
           "StudySpec", "TrialBudget", "DEFAULT_STRATEGY", "OWNER_ATTR"]

DEFAULT_STRATEGY = "auto"  # the strategy of a new study when none is given (Study, create_study, hpo run)

_log = logging.getLogger("hpo")
_optuna_log = logging.getLogger("optuna.study.study")
_ATTR = "hpo:config"
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_NOT_GIVEN: Any = object()


class StudyNotFoundError(KeyError):
    """No study of that name in the storage."""

    def __str__(self) -> str:
        return str(self.args[0])


Objective = Callable[[Trial], float]


class _FailedTrialLog:
    """Whether failed-trial warnings carry the objective's traceback (the CLI turns it off)."""

    show_tracebacks = True


failed_trial_log = _FailedTrialLog()


@dataclass(frozen=True)
class StudySpec:
    """What another process needs to reopen a study (picklable; ``spec.open()`` reopens it).

    The storage is the URL the study was opened from (or the optuna storage object it was
    given); an in-memory study is moved to a journal file by :meth:`Study.spec` first. The
    printed form masks passwords.

    Example:
        >>> import hpo, pickle, tempfile, os
        >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "s.db")
        >>> study = hpo.create_study(space={"x": hpo.Float(0, 1)}, storage=url, study_name="s", seed=1)
        >>> pickle.loads(pickle.dumps(study.spec())).open().seed
        1
    """

    study_name: str
    storage: Any
    strategy: Any
    strategy_kwargs: dict
    pruner: Any
    seed: int | None
    space: dict | None = None

    def open(self) -> "Study":
        """The study, opened afresh in this process (dead trials are failed on the way)."""
        space = Space.from_dict(self.space) if self.space is not None else None
        return load_study(study_name=self.study_name, storage=self.storage, strategy=self.strategy,
                          strategy_kwargs=self.strategy_kwargs, pruner=self.pruner, seed=self.seed, _space=space)

    def __repr__(self) -> str:
        return f"StudySpec(study_name={self.study_name!r}, storage={describe(self.storage)!r}, strategy={self.strategy!r})"


@dataclass
class TrialBudget:
    """How many trials one ``optimize`` call may start, shared by every process that runs them.

    Checked by :meth:`Study.claim` under the storage lock against counts read from the
    storage, so the budget is one count whoever claims: worker processes, a Ray driver, an
    orphan whose parent died, or a second ``optimize`` resuming the study.

    Attributes:
        run: the id of this budget; every trial it admits carries it (in its ``hpo:owner`` record).
        n_trials: at most this many trials carry ``run`` (trials failed because their
            process died count: ``n_trials`` is exact).
        max_trials: at most this many trials in the whole study, running or finished, not
            counting those failed because their process stopped (a resume reruns them).
        deadline: ``time.time()`` after which no trial starts.
    """

    run: str
    n_trials: int | None = None
    max_trials: int | None = None
    deadline: float | None = None
    shared: bool = False  # counts come from the storage even for n_trials (set when other processes claim)
    _claimed: int = field(default=0, repr=False, compare=False)
    _origin: int = field(default_factory=os.getpid, repr=False, compare=False)

    def _local(self) -> bool:
        return not self.shared and os.getpid() == self._origin

    def expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline


class Study:
    """A hyperparameter search.

    The short form runs an objective on a declared space with the defaults (in-memory
    storage, the default strategy, a fresh seed)::

        hpo.Study(objective, space={"x": hpo.Float(-5, 5)}).optimize(n_trials=20)

    Use :func:`create_study` / :func:`load_study` for named, persistent studies.
    """

    def __init__(self, objective: Objective | None = None, *, space: Any = None,
                 strategy: str | Strategy | None = None, direction: str = "minimize",
                 storage: Any = None, study_name: str | None = None, seed: int | None = None,
                 pruner: Any = None, load_if_exists: bool = False,
                 strategy_kwargs: Mapping[str, Any] | None = None, _override: bool = False,
                 _opened: BaseStorage | None = None):
        _check_direction(direction)
        _check_seed(seed)
        if strategy is not None and not isinstance(strategy, (str, Strategy)) and not hasattr(strategy, "ask"):
            raise TypeError(f"strategy must be a name from hpo.available() or a Strategy, got {type(strategy).__name__}")
        if study_name is not None and (not isinstance(study_name, str) or not study_name.strip()):
            raise ValueError(f"study_name must be a non-empty string, got {study_name!r}")
        self.objective = objective
        self.space = Space(space) if space is not None else None
        self._pruner_spec = pruner
        pruner_obj = make_pruner(pruner)
        self._storage_given_as_object = isinstance(storage, BaseStorage)
        self._storage = _opened if _opened is not None else open_storage(storage)
        self._url = storage_url(storage) if isinstance(storage, str) else None
        given = (strategy, seed, strategy_kwargs, direction, study_name, _override)
        stored = self._stored_config(study_name, load_if_exists)
        resolved = self._resolve(stored, *given)
        self._sampler = StrategySampler(resolved[0], self.space, resolved[1], resolved[2])  # may import a lot: not under the lock
        with storage_lock(self._storage):
            now = self._stored_config(study_name, load_if_exists)
            if now != stored:  # another process created the study meanwhile: follow what it stored
                stored = now
                again = self._resolve(stored, *given)
                if again != resolved:
                    resolved = again
                    self._sampler = StrategySampler(resolved[0], self.space, resolved[1], resolved[2])
            strategy, seed, kwargs = resolved
            self.seed = seed
            self._strategy_spec = strategy
            self._strategy_kwargs = kwargs
            if stored is None:
                self._optuna = optuna.create_study(storage=self._storage, sampler=self._sampler, pruner=pruner_obj,
                                                   study_name=study_name, direction=direction)
            else:
                self._optuna = optuna.load_study(study_name=study_name, storage=self._storage,
                                                 sampler=self._sampler, pruner=pruner_obj)
            if stored is None or stored.get("seed") is None:
                self._save_config()
        if stored is not None:
            self.fail_dead_trials()

    # --- persistence of what hpo needs to reopen a study -------------------------
    def _stored_config(self, study_name: str | None, load_if_exists: bool) -> dict | None:
        """What hpo stored for an existing study ({} for one made by plain optuna), None if there is none."""
        if study_name is None:
            return None
        try:
            study_id = self._storage.get_study_id_from_name(study_name)
        except KeyError:
            return None
        if not load_if_exists:
            raise ValueError(
                f"a study named {study_name!r} already exists in {describe(self._storage)}; "
                f"open it with hpo.load_study(study_name={study_name!r}, storage=...) or pass load_if_exists=True"
            )
        return self._storage.get_study_system_attrs(study_id).get(_ATTR) or {}

    def _resolve(self, stored, strategy, seed, kwargs, direction, name, override):
        """Strategy, seed and strategy options: given, stored, or defaults (a fresh seed)."""
        kwargs = dict(kwargs) if kwargs is not None else None
        if stored is None:
            return (strategy if strategy is not None else DEFAULT_STRATEGY,
                    seed if seed is not None else _fresh_seed(), kwargs or {})
        if self.space is not None and stored.get("space") is not None and Space.from_dict(stored["space"]) != self.space:
            raise ValueError(
                f"study {name!r} exists with a different space; use another study_name "
                "or open it with hpo.load_study (which restores its space)"
            )
        stored_direction = stored.get("direction")
        if stored_direction is None:
            stored_direction = self._storage.get_study_directions(self._storage.get_study_id_from_name(name))[0].name.lower()
        if stored_direction != direction:
            raise ValueError(f"study {name!r} exists with direction={stored_direction!r}, not {direction!r}")
        s_strategy, s_seed, s_kwargs = stored.get("strategy"), stored.get("seed"), stored.get("strategy_kwargs") or {}
        if not override:
            if isinstance(strategy, str) and s_strategy is not None and strategy != s_strategy:
                raise ValueError(
                    f"study {name!r} exists with strategy {s_strategy!r}, not {strategy!r}; leave strategy out to "
                    f"resume it, or use hpo.load_study(..., strategy={strategy!r}) to switch on purpose"
                )
            if kwargs and s_kwargs and kwargs != s_kwargs:
                raise ValueError(f"study {name!r} exists with strategy_kwargs={s_kwargs!r}, not {kwargs!r}")
            if seed is not None and s_seed is not None and seed != s_seed:
                raise ValueError(f"study {name!r} exists with seed={s_seed}, not {seed}; leave seed out to resume it")
        if strategy is None:
            strategy = s_strategy
            if strategy is None:
                if stored:
                    raise ValueError(
                        f"study {name!r} was run with a strategy object that cannot be restored; pass strategy=..."
                    )
                strategy = DEFAULT_STRATEGY  # a study created by plain optuna
            if kwargs is None:
                kwargs = s_kwargs
        if seed is None:
            seed = s_seed if s_seed is not None else _fresh_seed()
        return strategy, seed, kwargs if kwargs is not None else s_kwargs

    def _save_config(self) -> None:
        config = {
            "space": self.space.to_dict() if self.space is not None else None,
            "strategy": self._strategy_spec if isinstance(self._strategy_spec, str) else None,
            "strategy_kwargs": self._strategy_kwargs,
            "seed": self.seed,
            "pruner": self._pruner_spec if isinstance(self._pruner_spec, str) else None,
            "direction": self.direction,
        }
        self._storage.set_study_system_attr(self._optuna._study_id, _ATTR, json.loads(json.dumps(config, default=str)))

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
    def storage(self) -> BaseStorage:
        """The optuna storage the study lives in."""
        return self._storage

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
        """optuna's trials table (a pandas DataFrame); text cells have secrets masked."""
        df = self._optuna.trials_dataframe(**kwargs)
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = df[col].map(redact)
        return df

    def __repr__(self) -> str:
        return f"Study(name={self.study_name!r}, direction={self.direction!r}, trials={len(self.trials)})"

    # --- ask / tell ----------------------------------------------------------------
    def ask(self) -> Trial:
        """A new running trial whose declared parameters are already chosen.

        The trial records this process as its owner: if the process dies before telling it,
        the next ``load_study``/``optimize`` marks it FAILED with the reason.
        """
        return self._attach(self._create_trial(None, None))

    def claim(self, budget: TrialBudget) -> Trial | None:
        """The next trial allowed by ``budget``, or None once it is spent (or past its deadline).

        Atomic across processes: the budget is checked and the trial created (owned by this
        process, tagged with ``budget.run``) under the storage lock; the strategy proposes
        after the lock is released.
        """
        if budget.expired():
            return None
        with storage_lock(self._storage):
            waiting = None
            if budget._local() and budget.max_trials is None:
                if budget.n_trials is not None and budget._claimed >= budget.n_trials:
                    return None
            else:
                counted, in_run, waiting = count_trials(self._storage, self._optuna._study_id, budget.run)
                if budget._local():
                    in_run = budget._claimed
                if budget.n_trials is not None and in_run >= budget.n_trials:
                    return None
                if budget.max_trials is not None and counted >= budget.max_trials:
                    if not self.fail_dead_trials():
                        return None
                    counted, _, waiting = count_trials(self._storage, self._optuna._study_id, budget.run)
                    if counted >= budget.max_trials:
                        return None
            trial_id = self._create_trial(budget.run, waiting)
            budget._claimed += 1
        return self._attach(trial_id)

    def _create_trial(self, run: str | None, waiting: int | None) -> int:
        """A RUNNING trial created with its owner (and run) in the same write, so no crash can
        leave a trial that nobody can attribute; enqueued trials are taken first."""
        storage, study_id = self._trial_store, self._optuna._study_id
        owner = current_owner()
        if run is not None:
            owner["run"] = run
        attrs: dict[str, Any] = {OWNER_ATTR: owner}
        trial_id = None
        if waiting is None or waiting > 0:
            for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
                for key, value in attrs.items():
                    storage.set_trial_system_attr(t._trial_id, key, value)
                if storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                    trial_id = t._trial_id
                    break
        if trial_id is None and isinstance(storage, InMemoryStorage):
            # only this process can see an in-memory study: no other process needs the owner in the same write
            trial_id = storage.create_new_trial(study_id)
            storage.set_trial_system_attr(trial_id, OWNER_ATTR, owner)
        if trial_id is None:
            template = FrozenTrial(
                number=-1, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
                datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs=attrs,
                intermediate_values={}, trial_id=-1,
            )
            trial_id = storage.create_new_trial(study_id, template_trial=template)
        local = getattr(self._optuna, "_thread_local", None)
        if local is not None:  # what optuna's own ask() does: samplers re-read the trials
            local.cached_all_trials = None
        return trial_id

    def _attach(self, trial_id: int) -> Trial:
        try:
            return Trial(optuna.Trial(self._optuna, trial_id), self.space)
        except BaseException as e:  # the strategy failed to propose: the trial must not stay RUNNING
            error = redact(f"the strategy failed to propose parameters: {type(e).__name__}: {e}")[:1000]
            with contextlib.suppress(Exception):
                self._trial_store.set_trial_user_attr(trial_id, "error", error)
                self._trial_store.set_trial_state_values(trial_id, TrialState.FAIL)
            raise

    def trial(self, number: int) -> Trial:
        """The running trial ``number``, attached in this process (e.g. a worker that reopened the
        study with ``spec.open()``): ``params``, ``report``, ``should_prune`` and ``set_user_attr``
        act on the stored trial."""
        trial_id = self._trial_id(number)
        state = self._trial_store.get_trial(trial_id).state
        if state != TrialState.RUNNING:
            raise ValueError(f"trial {number} of study {self.study_name!r} is {state.name}, not RUNNING")
        return Trial(optuna.Trial(self._optuna, trial_id), self.space)

    def tell(self, trial: Trial | int, value: float | None = None, state: TrialState | str | None = None,
             *, error: str | None = None) -> FrozenTrial:
        """Finish a trial with its value, or with ``state="fail"`` / ``"pruned"``.

        A value that is not a finite number marks the trial FAILED with the reason; ``error``
        records why a failed trial failed (user attribute ``error``).
        """
        if isinstance(trial, Trial):
            number = trial.number
        elif isinstance(trial, numbers.Integral) and not isinstance(trial, bool):
            number = int(trial)
        else:
            raise TypeError(f"tell takes a Trial or a trial number, got {trial!r}")
        if isinstance(state, str):
            state = {"fail": TrialState.FAIL, "failed": TrialState.FAIL, "pruned": TrialState.PRUNED,
                     "complete": TrialState.COMPLETE}.get(state.lower(), state)
            if isinstance(state, str):
                raise ValueError(f"state must be 'complete', 'fail' or 'pruned', got {state!r}")
        if state in (None, TrialState.COMPLETE):
            try:
                value = check_value(value)
                state = TrialState.COMPLETE
            except ObjectiveValueError as e:
                error, value, state = str(e), None, TrialState.FAIL
        if state != TrialState.COMPLETE:
            value = None
        local = trial.optuna_trial if isinstance(trial, Trial) and trial.optuna_trial.study is self._optuna else None
        if state == TrialState.FAIL and error:
            error = redact(error)[:1000]
            if local is not None:
                local.set_user_attr("error", error)
            else:
                self._trial_store.set_trial_user_attr(self._trial_id(number), "error", error)
        if local is not None:
            frozen = self._tell_local(local, value, state)
            if frozen is not None:
                return frozen
        return self._optuna.tell(number, value, state=state, skip_if_finished=False)

    def _tell_local(self, optuna_trial: optuna.Trial, value: float | None, state: TrialState) -> FrozenTrial | None:
        """optuna's tell without its re-read of the finished trial (6 queries on a database): the
        returned FrozenTrial is the trial's own copy, updated (its datetime_complete is this
        process's clock, microseconds from the stored one). None if optuna's internals moved."""
        cached = getattr(optuna_trial, "_cached_frozen_trial", None)
        try:
            from optuna.study._tell import _tell_with_warning
        except ImportError:
            return None
        if not isinstance(cached, FrozenTrial):
            return None
        new_state, values, _ = _tell_with_warning(study=self._optuna, trial=optuna_trial, value_or_values=value,
                                                  state=state, suppress_warning=True)
        frozen = copy.copy(cached)  # a finished trial's dicts are no longer written to
        frozen.state = new_state
        frozen.values = values
        frozen.datetime_complete = datetime.datetime.now()
        return frozen

    def _trial_id(self, number: int) -> int:
        return self._trial_store.get_trial_id_from_study_id_trial_number(self._optuna._study_id, number)

    @property
    def _trial_store(self) -> BaseStorage:
        """The storage object optuna's study writes through (it wraps an RDBStorage in a cache
        that must see every trial it is asked about)."""
        return self._optuna._storage

    def enqueue(self, config: Mapping[str, Any]) -> None:
        """Evaluate ``config`` before anything the strategy proposes (warm start)."""
        params = self.space.validate(config) if self.space is not None else dict(config)
        self._optuna.enqueue_trial(params, skip_if_exists=True)

    # --- running trials (used by executors) -----------------------------------------
    def finish(self, trial: Trial | int, outcome: TrialOutcome,
               callbacks: Iterable[Callable[["Study", FrozenTrial], None]] = ()) -> FrozenTrial:
        """Tell ``outcome`` (from :func:`hpo.trial.evaluate`), log it, run ``callbacks(study,
        frozen_trial)``; then re-raise a KeyboardInterrupt/SystemExit the objective raised."""
        number = trial if isinstance(trial, int) else trial.number
        if getattr(outcome, "interrupted", False):
            self._trial_store.set_trial_system_attr(self._trial_id(number), INTERRUPTED_ATTR, outcome.error or "interrupted")
        frozen = self.tell(trial, outcome.value, state=outcome.state, error=outcome.error)
        if frozen.state == TrialState.FAIL:
            tb = getattr(outcome, "traceback", None)
            detail = f"\n{tb}" if tb and failed_trial_log.show_tracebacks else ""
            _log.warning("trial %d failed: %s%s", number, frozen.user_attrs.get("error", "no reason given"), detail)
        elif _optuna_log.isEnabledFor(logging.INFO):  # optuna's own per-trial line, as its optimize() prints it
            if frozen.state == TrialState.COMPLETE and hasattr(self._optuna, "_log_completed_trial"):
                self._optuna._log_completed_trial(frozen.values, number, frozen.params)
            else:
                _optuna_log.info("Trial %d %s.", number, frozen.state.name.lower())
        for callback in callbacks:
            callback(self, frozen)
        if outcome.exit is not None:
            raise outcome.exit
        return frozen

    def run_trial(self, objective: Objective, trial: Trial,
                  callbacks: Iterable[Callable[["Study", FrozenTrial], None]] = ()) -> FrozenTrial:
        """Evaluate ``objective(trial)`` with hpo's checks (see :func:`hpo.trial.evaluate`), keep
        the trial's heartbeat while it runs, and :meth:`finish` it."""
        with self.heartbeat(trial):
            outcome = evaluate(objective, trial)
        return self.finish(trial, outcome, callbacks)

    @contextlib.contextmanager
    def heartbeat(self, trial: Trial | int) -> Iterator[None]:
        """Record the trial's heartbeat while the block runs (relational storages with a
        heartbeat: lets processes on other hosts see that its owner is alive)."""
        interval = getattr(self._storage, "heartbeat_interval", None) if isinstance(self._storage, RDBStorage) else None
        if not interval:
            yield
            return
        storage = self._trial_store
        if isinstance(trial, Trial) and trial.optuna_trial.study is self._optuna:
            number, trial_id = trial.number, trial.optuna_trial._trial_id
        else:
            number = int(trial)
            trial_id = self._trial_id(number)
        stop = threading.Event()

        def beat() -> None:
            while True:
                with contextlib.suppress(Exception):
                    storage.record_heartbeat(trial_id)
                if stop.wait(interval):
                    return

        thread = threading.Thread(target=beat, name=f"hpo-heartbeat-{number}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail_dead_trials(self, known: Mapping[int, str] | None = None) -> list[FrozenTrial]:
        """Mark FAILED, with the reason, every RUNNING trial whose process is gone.

        ``known`` maps pids of processes the caller saw die (a pool's workers) to the reason;
        their trials count as failed trials. Trials of processes on this host that no longer
        exist (the study's process was killed) are marked interrupted as well, so that
        ``optimize(max_trials=...)`` runs them again, except a pool worker's while the pool's
        process lives: the pool fails those with the reason it saw (only its own sweep with
        no ``known`` takes them). Trials on other hosts are left to the heartbeat. Returns the
        trials it failed.
        """
        storage, study_id = self._trial_store, self._optuna._study_id
        failed = []
        for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.system_attrs.get(OWNER_ATTR)
            pid = owner.get("pid") if isinstance(owner, dict) else None
            if known and pid in known and owner_alive(owner) is not True:
                reason, interrupted = known[pid], False
            elif owner_alive(owner) is False and not supervisor_watching(owner, known is not None):
                reason = (f"{describe_owner(owner)} is gone: it was killed, crashed or exited before "
                          "finishing this trial")
                interrupted = True
            else:
                continue
            try:
                if interrupted:
                    storage.set_trial_system_attr(t._trial_id, INTERRUPTED_ATTR, reason)
                storage.set_trial_user_attr(t._trial_id, "error", reason)
                if storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                    failed.append(storage.get_trial(t._trial_id))
                    _log.warning("trial %d failed: %s", t.number, reason)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # finished meanwhile (by itself or another reaper)
        if isinstance(self._storage, RDBStorage) and self._storage.heartbeat_interval:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self._optuna)
        return failed

    # --- optimize --------------------------------------------------------------------
    def budget(self, n_trials: int | None = None, max_trials: int | None = None,
               timeout: float | None = None) -> TrialBudget:
        """A new :class:`TrialBudget` for one run (what ``optimize`` builds from its arguments)."""
        for name, v in (("n_trials", n_trials), ("max_trials", max_trials)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {v!r}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                    or not math.isfinite(timeout) or timeout < 0):
            raise ValueError(f"timeout must be a non-negative number of seconds or None, got {timeout!r}")
        if n_trials is None and max_trials is None and timeout is None:
            raise ValueError("give n_trials, max_trials or timeout, or the study would run forever")
        return TrialBudget(run=uuid.uuid4().hex, n_trials=None if n_trials is None else int(n_trials),
                           max_trials=None if max_trials is None else int(max_trials),
                           deadline=None if timeout is None else time.time() + float(timeout))

    def optimize(self, objective: Objective | None = None, n_trials: int | None = None,
                 timeout: float | None = None, n_jobs: int = 1, *, max_trials: int | None = None,
                 callbacks: Iterable[Callable[["Study", FrozenTrial], None]] | None = None,
                 show_progress_bar: bool = False, mp_context: str | None = None, executor: Any = None) -> None:
        """Run trials until ``n_trials`` more have started, ``max_trials`` exist in total, or ``timeout``.

        Args:
            objective: ``objective(trial) -> float``; defaults to the one given to ``Study(...)``.
            n_trials: how many trials to run in this call (exact, also when workers die).
            timeout: seconds after which no new trial starts.
            n_jobs: worker **processes** sharing the storage (``ProcessExecutor(n_jobs)``; -1: one
                per core). An in-memory study moves to a temporary journal file so that
                processes can share it.
            max_trials: stop once the study holds this many trials: the way to resume an
                interrupted study "to the requested total". Trials failed because the study's
                process was killed do not count; they are run again.
            callbacks: ``callback(study, frozen_trial)`` after each trial (where it ran).
            show_progress_bar: a rich progress bar.
            mp_context: ``"fork"`` (default on Linux: closures work), ``"forkserver"`` or ``"spawn"``.
            executor: where trials run: an :class:`hpo.execution.Executor` such as
                ``LocalExecutor()``, ``ProcessExecutor(4)`` or ``hpo.RayExecutor(...)``; replaces
                ``n_jobs``/``mp_context``.
        """
        objective = objective or self.objective
        if objective is None or not callable(objective):
            raise TypeError("optimize needs an objective: study.optimize(objective, n_trials=...)")
        budget = self.budget(n_trials=n_trials, max_trials=max_trials, timeout=timeout)
        for cb in callbacks or ():
            if not callable(cb):
                raise TypeError(f"callbacks must be callables callback(study, frozen_trial), got {cb!r}")
        from hpo.execution.base import Job
        from hpo.execution.local import LocalExecutor, ProcessExecutor

        if executor is None:
            if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 or n_jobs < -1:
                raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
            n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
            executor = LocalExecutor() if n_jobs == 1 else ProcessExecutor(n_jobs, mp_context=mp_context)
        else:
            if n_jobs != 1 or mp_context is not None:
                raise ValueError("give either executor= or n_jobs/mp_context, not both (set them on the executor)")
            if not callable(getattr(executor, "run", None)):
                raise TypeError(f"executor must have a run(job) method (hpo.execution.Executor), got {executor!r}")
        self.fail_dead_trials()
        try:
            with _Progress(self, budget, show_progress_bar) as progress:
                executor.run(Job(study=self, objective=objective, budget=budget,
                                 callbacks=tuple(callbacks or ()), progress=progress))
        finally:
            self.fail_dead_trials()

    # --- other processes ----------------------------------------------------------------
    def spec(self) -> StudySpec:
        """A picklable :class:`StudySpec` that reopens this study in another process.

        An in-memory study cannot be shared, so it moves to a temporary journal file first
        (the study object keeps working on the moved copy).
        """
        if isinstance(self._storage, InMemoryStorage):
            self._move_to_journal()
        storage = self._url if (self._url is not None and not self._storage_given_as_object) else self._storage
        return StudySpec(study_name=self.study_name, storage=storage, strategy=self._strategy_spec,
                         strategy_kwargs=dict(self._strategy_kwargs), pruner=self._pruner_spec, seed=self.seed,
                         space=self.space.to_dict() if self.space is not None else None)

    def _move_to_journal(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="hpo-"))
        path = str(folder / "study.log")
        journal = open_storage(path)
        optuna.copy_study(from_study_name=self.study_name, from_storage=self._storage, to_storage=journal)
        self._storage = journal
        self._url = path
        self._storage_given_as_object = False
        self._optuna = optuna.load_study(study_name=self.study_name, storage=self._storage,
                                         sampler=self._sampler, pruner=self._optuna.pruner)
        _log.info("in-memory study moved to %s so that worker processes can share it", path)


class _Progress:
    """A rich progress bar over the finished trials of one budget; executors call it to refresh
    it (at most twice a second, in the driver's thread: no thread touches the storage while
    an executor forks)."""

    def __init__(self, study: Study, budget: TrialBudget, enabled: bool):
        self.enabled = enabled
        self._study, self._budget = study, budget
        self._last = 0.0

    def _finished(self) -> int:
        run = self._budget.run
        trials = self._study.storage.get_all_trials(self._study.optuna_study._study_id, deepcopy=False, states=_FINISHED)
        return sum(1 for t in trials if (t.system_attrs.get(OWNER_ATTR) or {}).get("run") == run)

    def _best(self) -> str:
        try:
            return f"best {self._study.optuna_study.best_value:.6g}"
        except Exception:
            return ""

    def __call__(self, force: bool = False) -> None:
        if not self.enabled or (not force and time.monotonic() - self._last < 0.5):
            return
        self._last = time.monotonic()
        with contextlib.suppress(Exception):
            self._bar.update(self._task, completed=self._finished(), best=self._best())

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            total = self._budget.n_trials
            if self._budget.max_trials is not None:
                left = max(0, self._budget.max_trials - count_trials(self._study.storage, self._study.optuna_study._study_id)[0])
                total = left if total is None else min(total, left)
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[best]}"))
            self._bar.start()
            self._task = self._bar.add_task(self._study.study_name, total=total, best="")
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self(force=True)
            self._bar.stop()


def _fresh_seed() -> int:
    return secrets.randbelow(2**31 - 1)


def _check_direction(direction: Any) -> None:
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")


def _check_seed(seed: Any) -> None:
    if seed is None:
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None (a fresh seed, stored with the study), got {seed!r}")


def create_study(*, space: Any = None, strategy: str | Strategy | None = None, direction: str = "minimize",
                 storage: Any = None, study_name: str | None = None, seed: int | None = None,
                 pruner: Any = None, load_if_exists: bool = False,
                 strategy_kwargs: Mapping[str, Any] | None = None) -> Study:
    """Create a study (or open it, with ``load_if_exists=True``).

    Args:
        space: a dict of ``hpo.Float/Int/Categorical``, a ``ConfigurationSpace``, a space
            file path, or ``None`` for define-by-run (``trial.suggest_*`` in the objective).
        strategy: a name from ``hpo.strategies.available()`` or a Strategy instance; ``None``:
            the stored one when the study exists, else :data:`DEFAULT_STRATEGY`. Opening an
            existing study with a different strategy, seed or space is an error.
        direction: ``"minimize"`` or ``"maximize"``.
        storage: ``None`` (in-memory), ``"sqlite:///study.db"``, ``"postgresql://..."``, a
            journal file path, or an optuna storage.
        study_name: required to reopen the study later.
        seed: seeds the strategy; the same seed and history give the same proposals. ``None``
            draws a fresh seed once and stores it, so a resumed study stays reproducible.
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

    Never creates anything: a missing SQLite or journal file, or a missing study, is an
    error. RUNNING trials whose process is gone are marked FAILED with the reason.
    ``strategy=``/``seed=`` switch the strategy or seed for this session on purpose.

    Example:
        >>> import hpo, tempfile, os
        >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "s.db")
        >>> _ = hpo.create_study(space={"x": hpo.Float(0, 1)}, storage=url, study_name="s", seed=3)
        >>> hpo.load_study(study_name="s", storage=url).seed
        3
    """
    if storage is None:
        raise ValueError("load_study needs the storage the study lives in, e.g. storage='sqlite:///study.db'")
    if not isinstance(study_name, str) or not study_name:
        raise ValueError(f"study_name must be a non-empty string, got {study_name!r}")
    if seed != "stored":
        _check_seed(seed)
    opened = open_storage(storage, create=False)
    names = study_names(opened)
    if study_name not in names:
        close = difflib.get_close_matches(study_name, names, n=3)
        hint = f"did you mean {close}?" if close else (f"existing studies: {names}" if names else "the storage holds no study")
        raise StudyNotFoundError(
            f"no study named {study_name!r} in {describe(storage)}; {hint} (create one with hpo.create_study)"
        )
    config = opened.get_study_system_attrs(opened.get_study_id_from_name(study_name)).get(_ATTR) or {}
    direction = opened.get_study_directions(opened.get_study_id_from_name(study_name))[0].name.lower()
    space = _space if _space is not None else (Space.from_dict(config["space"]) if config.get("space") else None)
    return Study(space=space, strategy=strategy, direction=direction, storage=storage, study_name=study_name,
                 seed=None if seed == "stored" else seed,
                 pruner=pruner if pruner is not None else config.get("pruner"), load_if_exists=True,
                 strategy_kwargs=strategy_kwargs, _override=True, _opened=opened)
