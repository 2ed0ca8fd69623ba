"""Ray Tune for hpo: any hpo strategy as a Ray Tune searcher, and an executor that runs a study on Ray.

Two ways in:

- :class:`HpoSearch` is a ``ray.tune.search.Searcher``. Hand it to your own ``tune.Tuner``;
  it proposes with an hpo strategy and records every Ray trial in an hpo study (in memory,
  or in the storage you give it).
- :class:`RayExecutor` runs ``study.optimize(objective, ...)`` on Ray: each hpo trial is one
  Ray Tune trial, proposed by an :class:`HpoSearch` around the study. Ray places, retries
  and schedules the trials; the objective keeps its hpo signature.

Who writes what: the storage is written by the Tune driver only (the process that runs
``Tuner.fit``: your script, or the head node for a ``ray://`` address). Ray workers run
the objective and report through ``ray.tune.report``; they never open the storage, so a
SQLite file on the driver serves a whole cluster.

Example:
    >>> import hpo
    >>> from hpo.execution.ray import HpoSearch
    >>> search = HpoSearch(strategy="random", space={"x": hpo.Float(-1, 1)}, metric="loss", mode="min", seed=0)
    >>> config = search.suggest("t1")
    >>> result = {"loss": config["x"] ** 2, "training_iteration": 1}
    >>> search.on_trial_result("t1", result)
    >>> search.on_trial_complete("t1", result)
    >>> [t.state.name for t in search.study.trials]
    ['COMPLETE']
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import pickle
import sys
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from optuna.trial import TrialState

from hpo.space import Categorical, Float, Int, Space
from hpo.storage import redact
from hpo.trial import TrialOutcome, TrialPruned, check_value, evaluate

try:
    from ray.tune import Callback
    from ray.tune.search import Searcher
except ImportError as e:  # pragma: no cover - the [ray] extra is missing
    raise ImportError(f"hpo.execution.ray needs Ray Tune: pip install 'hpo[ray]' ({e})") from None

if TYPE_CHECKING:
    from hpo.execution.base import Job
    from hpo.study import Study

__all__ = ["HpoSearch", "RayExecutor", "RayTrial"]

_log = logging.getLogger("hpo")

METRIC = "value"  # what RayExecutor reports the objective's value as
_NUMBER = "hpo_trial_number"  # config key RayExecutor adds so the worker knows its trial
# result keys written by the worker-side trial; present in every result so loggers see fixed columns
_STEP, _ATTRS, _NODE, _STATE, _ERROR, _TRACEBACK = (
    "hpo_step", "hpo_attrs", "hpo_node", "hpo_state", "hpo_error", "hpo_traceback")
_ERRORED = ("the Ray trial errored: its worker process died or raised outside the objective, and "
            "Ray's retries (max_failures) were used up; its log is in the Ray experiment folder")


# --- the searcher -------------------------------------------------------------------------
class HpoSearch(Searcher):
    """Any hpo strategy as a Ray Tune ``Searcher``; every Ray trial is recorded in an hpo study.

    Ray trials are hpo trials: a suggested trial is RUNNING in the study (so the strategy
    counts it as pending and parallel trials spread out), a finished one COMPLETE, an
    errored one FAILED with the reason, and one that a scheduler stopped early PRUNED with
    its last reported value. The study is kept in :attr:`study` (in memory by default, or
    in ``storage``), so its best trial, its dataframe and ``hpo.load_study`` work on what
    Ray ran.

    ``save``/``restore`` carry the study's whole history (for an in-memory study, the
    trials themselves), so ``Tuner.restore(path, trainable, resume_errored=True)`` continues
    with the strategy exactly where it stopped. Database passwords are not written into
    Ray's experiment folder: to restore a study on a passworded database, give the password
    through the environment (``PGPASSWORD``, ``~/.pgpass``).

    Args:
        strategy: an hpo strategy name (``"tpe"``, ``"gp"``, ``hpo.available()``) or instance;
            ``None`` is the study's default.
        space: the search space (a dict of ``hpo.Float/Int/Categorical``, a ConfigSpace,
            a space file). ``None``: taken from the ``param_space`` given to ``tune.Tuner``
            (``tune.uniform``, ``loguniform``, ``randint``, ``lograndint``, ``choice``,
            ``quniform``, ``qrandint``).
        metric, mode: the reported metric and ``"min"``/``"max"`` (or from ``TuneConfig``).
        seed: seeds the strategy: the same seed and history give the same proposals.
        storage: ``None`` (in memory) or a storage URL (``sqlite:///...``,
            ``postgresql://...``) that the Tune driver reaches.
        study_name: the study to create, or to continue if it exists in ``storage``.
        strategy_kwargs: options for a strategy given by name.
        max_concurrent: at most this many trials running at once (also set by
            ``TuneConfig(max_concurrent_trials=...)``).
        max_t, time_attr: the scheduler's budget. A trial that Ray stops once
            ``result[time_attr] >= max_t`` (ASHA stops every trial there) ran its full budget
            and is recorded COMPLETE; stopped earlier, PRUNED. Without ``max_t`` only the
            ``stop`` criteria given to Tune count as a full budget.

    Example (``tuner.fit()`` starts Ray, so it is not run here)::

        >>> import hpo
        >>> from ray import tune
        >>> def train(config):
        ...     for epoch in range(10):
        ...         tune.report({"loss": (config["lr"] - 0.01) ** 2 / (epoch + 1)})
        >>> search = HpoSearch(strategy="tpe", space={"lr": hpo.Float(1e-4, 1e-1, log=True)},
        ...                    metric="loss", mode="min", seed=0, max_t=10)
        >>> tuner = tune.Tuner(train, tune_config=tune.TuneConfig(  # doctest: +SKIP
        ...     search_alg=search, num_samples=20,
        ...     scheduler=tune.schedulers.ASHAScheduler(metric="loss", mode="min", max_t=10)))
        >>> tuner.fit()  # doctest: +SKIP
        >>> search.study.best_params  # doctest: +SKIP
        {'lr': 0.0101...}
    """

    def __init__(self, strategy: Any = None, space: Any = None, metric: str | None = None,
                 mode: str | None = None, seed: int | None = None, storage: str | None = None,
                 study_name: str | None = None, *, strategy_kwargs: Mapping[str, Any] | None = None,
                 max_concurrent: int | None = None, max_t: float | None = None,
                 time_attr: str = "training_iteration"):
        _check_metric_mode(metric, mode)
        super().__init__(metric=metric, mode=mode)
        if storage is not None and not isinstance(storage, str):
            raise TypeError(
                f"HpoSearch storage must be None or a URL string such as sqlite:///study.db (Ray pickles "
                f"the searcher into its checkpoints), got {type(storage).__name__}")
        self._max_concurrent = _check_concurrency(max_concurrent)
        if max_t is not None and (isinstance(max_t, bool) or not isinstance(max_t, numbers.Real) or max_t <= 0):
            raise ValueError(f"max_t must be a positive number (the scheduler's max_t) or None, got {max_t!r}")
        if not isinstance(time_attr, str) or not time_attr:
            raise ValueError(f"time_attr must be the name of a reported result, got {time_attr!r}")
        self._space = Space(space) if space is not None else None
        self._nested = False  # names are Ray paths "a/b" to unflatten in the configs we return
        self._config = {"strategy": strategy, "strategy_kwargs": dict(strategy_kwargs or {}), "seed": seed,
                        "storage": storage, "study_name": study_name}
        self._budget: tuple[str, float] | None = (time_attr, float(max_t)) if max_t is not None else None
        self._stop: dict[str, float] = {}
        self._study: Study | None = None
        self._job: Job | None = None
        self._job_spec = None  # ray://: the job travels to the head node, where Tune's driver runs
        self._snapshot: list | None = None  # an in-memory study's trials, from a pickle, until rebuilt
        self._live: dict[str, int] = {}  # Ray trial id -> hpo trial number, until Ray completes it
        self._trials: dict[str, Any] = {}  # Ray trial id -> the driver's live hpo Trial (not pickled)
        self._reported: dict[str, dict] = {}  # Ray trial id -> {"steps", "attrs", "node", "seen"}
        self._pass_number = False  # RayExecutor: the config carries the hpo trial number

    # --- what Ray calls ----------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Take metric and mode from ``TuneConfig`` and the space from ``param_space`` (if not given)."""
        _check_metric_mode(metric, mode)
        for name, ours, theirs in (("metric", self._metric, metric), ("mode", self._mode, mode)):
            if ours is not None and theirs is not None and ours != theirs:
                raise ValueError(f"HpoSearch was given {name}={ours!r} but TuneConfig has {name}={theirs!r}; "
                                 "give it in one place")
        space = _space_from_ray(config) if config else None
        if space is not None and self._space is not None:
            return False  # Tune then says that param_space must not define parameters too
        if self._study is not None and space is not None:
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        if space is not None:
            self._space, self._nested = space, True
        stop = spec.get("stop")
        if isinstance(stop, Mapping):
            self._stop = {k: v for k, v in stop.items() if isinstance(v, numbers.Real)}
        return True

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """Ray's ``ConcurrencyLimiter`` hands its limit to us: we hold back suggestions ourselves."""
        self._max_concurrent = _check_concurrency(max_concurrent)
        return True

    def suggest(self, trial_id: str) -> dict | str | None:
        """The next configuration (a new RUNNING trial in the study), None to wait, or FINISHED."""
        if trial_id in self._live:
            return self._config_of(self._trial(trial_id))
        if self._max_concurrent is not None and len(self._live) >= self._max_concurrent:
            return None
        study = self.study
        if self._job is not None:
            trial = self._job.claim()
            if trial is None:
                return Searcher.FINISHED
        else:
            trial = study.ask()
        trial.optuna_trial.set_user_attr("ray_trial_id", trial_id)
        self._live[trial_id] = trial.number
        self._trials[trial_id] = trial
        self._reported[trial_id] = {"steps": set(), "attrs": None, "node": None, "seen": None}
        return self._config_of(trial)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """An intermediate result: its metric becomes the trial's intermediate value at that step."""
        if trial_id not in self._live and not self._adopt(trial_id, result):
            return
        self._reported[trial_id]["seen"] = result.get("training_iteration")
        self._record(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Ray is done with the trial: tell the study how it ended (exactly once per trial)."""
        if trial_id not in self._live and not self._adopt(trial_id, result):
            return
        trial = self._trial(trial_id)
        if result:
            self._record(trial_id, result)
        outcome = self._outcome(trial_id, result, error)
        try:
            if trial is not None:
                if self._job is not None:
                    self._job.finish(trial, outcome)
                else:
                    self.study.finish(trial, outcome)
        finally:
            self._live.pop(trial_id, None)
            self._trials.pop(trial_id, None)
            self._reported.pop(trial_id, None)

    def save(self, checkpoint_path: str) -> None:
        from ray import cloudpickle  # a strategy instance may be defined in the user's script

        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(self.__getstate__(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__setstate__(pickle.load(f))

    # --- the study ---------------------------------------------------------------------------
    @property
    def study(self) -> "Study":
        """The hpo study holding every trial this searcher proposed (created on first use)."""
        if self._study is None:
            if self._job_spec is not None:
                self._job = self._job_spec.open()
                self._study = self._job.study
            else:
                self._study = self._open_study()
        return self._study

    def _open_study(self) -> "Study":
        from hpo.study import create_study, load_study

        if self._job is None and self._config.get("executor"):
            raise RuntimeError("this HpoSearch belonged to a RayExecutor run; resume that study with "
                               "hpo.load_study(...).optimize(..., max_trials=N, executor=hpo.RayExecutor(...))")
        if self._space is None:
            raise ValueError("HpoSearch has no search space: give space=... or a param_space to tune.Tuner")
        if self._metric is None or self._mode is None:
            raise ValueError("HpoSearch needs metric and mode: HpoSearch(..., metric='loss', mode='min'), or "
                             "TuneConfig(metric=..., mode=...) together with a param_space")
        cfg = self._config
        direction = "minimize" if self._mode == "min" else "maximize"
        kwargs = {"strategy": cfg["strategy"], "strategy_kwargs": cfg["strategy_kwargs"] or None}
        if cfg.get("stored") and cfg["storage"] is not None:
            study = load_study(study_name=cfg["study_name"], storage=cfg["storage"], **kwargs)
        else:
            study = create_study(space=self._space, direction=direction, storage=cfg["storage"],
                                 study_name=cfg["study_name"], seed=cfg["seed"], load_if_exists=True, **kwargs)
        if self._snapshot is not None:
            for frozen in self._snapshot:
                study.optuna_study.add_trial(frozen)
            self._snapshot = None
        cfg["study_name"], cfg["seed"], cfg["stored"] = study.study_name, study.seed, True
        self._reattach(study)
        return study

    def _reattach(self, study: "Study") -> None:
        """After a restore: find each trial Ray still runs. One that another process finished or
        failed meanwhile (a storage outliving its driver) is run again as a new trial, same params."""
        for trial_id, number in list(self._live.items()):
            frozen = study.trials[number]
            if frozen.state == TrialState.RUNNING:
                continue
            study.optuna_study.enqueue_trial(frozen.params, user_attrs={"ray_trial_id": trial_id})
            trial = study.ask()
            self._live[trial_id] = trial.number
            self._trials[trial_id] = trial
            _log.warning("trial %d was %s when Ray resumed its run; Ray's rerun is recorded as trial %d",
                         number, frozen.state.name, trial.number)

    def _adopt(self, trial_id: str, result: Mapping[str, Any] | None) -> bool:
        """A Ray trial that is not running in the study: after ``Tuner.restore``, an errored trial
        Ray runs again (``resume_errored=True``), or one Ray recorded just before the driver died
        and the searcher did not (Ray writes its experiment state, then the searcher's). Record
        it as a new trial from the config in its result, unless the study already holds its
        outcome."""
        if self._job is not None or not result or self._space is None:
            return False
        names = set(self._space.names)
        params = {k[len("config/"):]: v for k, v in result.items() if k.startswith("config/") and k[7:] in names}
        held = [t for t in self.study.trials if t.user_attrs.get("ray_trial_id") == trial_id]
        if not params or (held and held[-1].state != TrialState.FAIL):
            return False
        self.study.optuna_study.enqueue_trial(params, user_attrs={"ray_trial_id": trial_id})
        trial = self.study.ask()
        self._live[trial_id], self._trials[trial_id] = trial.number, trial
        self._reported[trial_id] = {"steps": set(), "attrs": None, "node": None, "seen": None}
        _log.warning("Ray trial %s was unknown to the restored searcher; recorded as trial %d", trial_id, trial.number)
        return True

    def _trial(self, trial_id: str):
        trial = self._trials.get(trial_id)
        if trial is None:
            study = self.study
            trial = self._trials.get(trial_id)
            if trial is None:
                trial = study.trial(self._live[trial_id])
                self._trials[trial_id] = trial
        return trial

    def _config_of(self, trial) -> dict:
        config = dict(trial.params)
        if self._nested:
            config = _unflatten(config)
        if self._pass_number:
            config[_NUMBER] = trial.number
        return config

    # --- results -> the study --------------------------------------------------------------------
    def _record(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """Intermediate value, user attributes and node of a result, each written once."""
        seen, trial = self._reported[trial_id], self._trial(trial_id)
        node = result.get(_NODE)
        if node and node != seen["node"]:
            trial.optuna_trial.set_user_attr("ray_node_id", node)
            seen["node"] = node
        attrs = result.get(_ATTRS)
        if attrs and attrs != seen["attrs"]:
            for key, value in json.loads(attrs).items():
                trial.set_user_attr(key, value)
            seen["attrs"] = attrs
        if result.get(_STATE):
            return  # the final result: its value is the outcome, not an intermediate value
        step = result.get(_STEP, result.get("training_iteration"))
        value = result.get(self._metric)
        if (isinstance(step, numbers.Integral) and step not in seen["steps"] and isinstance(value, numbers.Real)
                and not isinstance(value, bool) and math.isfinite(value)):
            trial.report(float(value), int(step))
            seen["steps"].add(step)

    def _outcome(self, trial_id: str, result: Mapping[str, Any] | None, error: bool) -> TrialOutcome:
        if error:
            return TrialOutcome(TrialState.FAIL, error=_ERRORED)
        if not result or self._metric not in result:
            return TrialOutcome(TrialState.FAIL, error=(
                f"the trial ended without reporting {self._metric!r} (Ray stopped it before it ran, "
                "or the trainable never called tune.report)"))
        state = result.get(_STATE)
        if state:  # an hpo objective's own ending, from the worker
            value = result.get(self._metric) if state == "COMPLETE" else None
            return TrialOutcome(TrialState[state], value=value, error=result.get(_ERROR) or None,
                                traceback=result.get(_TRACEBACK) or None)
        stopped = result.get("training_iteration") != self._reported[trial_id]["seen"]
        if stopped and not self._full_budget(result):
            return TrialOutcome(TrialState.PRUNED)
        try:
            return TrialOutcome(TrialState.COMPLETE, value=check_value(result[self._metric]))
        except (TypeError, ValueError) as e:
            return TrialOutcome(TrialState.FAIL, error=str(e))

    def _full_budget(self, result: Mapping[str, Any]) -> bool:
        """Whether Ray stopped the trial because it reached its budget (not early)."""
        if self._budget is not None:
            attr, limit = self._budget
            if isinstance(result.get(attr), numbers.Real) and result[attr] >= limit:
                return True
        return any(isinstance(result.get(k), numbers.Real) and result[k] >= v for k, v in self._stop.items())

    def _fail_unfinished(self, reason: str) -> None:
        """Tell every trial Ray did not complete as FAILED and interrupted (the run stopped or
        crashed, not the objective), so that ``optimize(max_trials=...)`` runs them again."""
        for trial_id in list(self._live):
            trial = self._trial(trial_id)
            outcome = TrialOutcome(TrialState.FAIL, error=reason, interrupted=True)
            with _suppress_log():
                (self._job.finish if self._job is not None else self.study.finish)(trial, outcome)
            self._live.pop(trial_id, None)
            self._trials.pop(trial_id, None)
            self._reported.pop(trial_id, None)

    # --- pickling (Ray's tuner.pkl, its searcher checkpoints, and ray:// transport) ---------------
    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_study", "_trials", "_job")}
        state["_config"] = dict(self._config)
        state["_reported"] = {k: {**v, "steps": set(v["steps"])} for k, v in self._reported.items()}
        study = self._study
        if self._job is not None or self._job_spec is not None:
            state["_config"]["executor"] = True
            if self._job_spec is not None:
                state["_job_spec"] = _spec_for_head(self._job_spec)
        elif study is not None:
            from hpo.storage import storage_url

            url = storage_url(study.storage)
            if url is None:
                state["_snapshot"] = list(study.trials)
                state["_config"].update(storage=None, stored=False)
            else:
                state["_config"]["storage"] = _without_password(url)
        if state["_config"].get("storage") is not None:
            state["_config"]["storage"] = _without_password(state["_config"]["storage"])
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._study, self._trials, self._job = None, {}, None


# --- the worker side ------------------------------------------------------------------------------
class RayTrial:
    """What an objective receives on a Ray worker: the surface of :class:`hpo.Trial`.

    ``params`` and ``number`` are the trial's; ``report(value, step)`` sends an intermediate
    value through ``ray.tune.report`` (Ray's scheduler sees it); when the scheduler stops the
    trial, that ``report`` raises :class:`hpo.TrialPruned` and ``should_prune()`` is True, so
    the usual ``if trial.should_prune(): raise hpo.TrialPruned()`` works unchanged.
    ``set_user_attr`` values travel with the next result to the driver, which stores them.
    ``suggest_*`` return the declared parameters (define-by-run needs the storage, which
    workers do not open).
    """

    def __init__(self, number: int, params: Mapping[str, Any], metric: str = METRIC):
        self._number, self._params, self._metric = number, dict(params), metric
        self._attrs: dict[str, Any] = {}
        self._stopped = False
        self._node = _node_id()

    @property
    def number(self) -> int:
        return self._number

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._attrs)

    @property
    def optuna_trial(self):
        raise AttributeError("on a Ray worker a trial has no optuna trial (the driver writes the storage); "
                             "use trial.params, report, should_prune and set_user_attr")

    def __getitem__(self, name: str) -> Any:
        return self._params[name]

    def _declared(self, name: str) -> Any:
        if name not in self._params:
            raise ValueError(f"parameter {name!r} is not in the declared space; on Ray every parameter must be "
                             f"declared in the study's space (declared: {sorted(self._params)})")
        return self._params[name]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        return self._declared(name)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._declared(name)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._declared(name)

    def report(self, value: float, step: int) -> None:
        """Send an intermediate value to Ray; raises TrialPruned if Ray's scheduler stops the trial."""
        if self._stopped:
            raise TrialPruned(f"trial {self._number} was stopped by the Ray scheduler")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"report value must be a float, got {value!r} ({type(value).__name__})") from None
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise TypeError(f"report step must be a non-negative integer, got {step!r}")
        from ray import tune

        try:
            tune.report(self._result(value, step=int(step)))
        except SystemExit:  # Ray ends a stopped trial's thread with sys.exit(0) inside report
            self._stopped = True
            raise TrialPruned(f"trial {self._number} was stopped by the Ray scheduler") from None

    def should_prune(self) -> bool:
        """True once Ray's scheduler has stopped this trial."""
        return self._stopped

    def set_user_attr(self, key: str, value: Any) -> None:
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TypeError(f"user attribute {key!r} must be JSON-serialisable, got {type(value).__name__}") from None
        self._attrs[key] = value

    def _result(self, value: float, *, step: int = -1, outcome: TrialOutcome | None = None) -> dict:
        return {self._metric: value, _STEP: step, _ATTRS: json.dumps(self._attrs, sort_keys=True), _NODE: self._node,
                _STATE: outcome.state.name if outcome else "", _ERROR: (outcome.error or "") if outcome else "",
                _TRACEBACK: (outcome.traceback or "")[-4000:] if outcome else ""}

    def __repr__(self) -> str:
        return f"RayTrial(number={self._number}, params={self._params})"


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:
        return ""


def _trainable(objective: Callable, metric: str = METRIC) -> Callable[[dict], None]:
    """The Ray function trainable for an hpo objective: evaluate it on a RayTrial, report how it ended."""

    def hpo_trial(config: dict) -> None:
        from ray import tune

        params = {k: v for k, v in config.items() if k != _NUMBER}
        trial = RayTrial(config[_NUMBER], params, metric)
        outcome = evaluate(objective, trial)
        if trial._stopped:  # Ray has recorded the stop; end the thread the way Ray's own report does
            raise SystemExit(0)
        value = outcome.value if outcome.value is not None else float("nan")
        tune.report(trial._result(value, outcome=outcome))

    hpo_trial.__name__ = hpo_trial.__qualname__ = getattr(objective, "__name__", "objective")
    return hpo_trial


# --- the executor -------------------------------------------------------------------------------------
class RayExecutor:
    """Run a study's trials as Ray Tune trials, on this machine or a Ray cluster.

    ``study.optimize(objective, n_trials=..., executor=hpo.RayExecutor(...))``: the study's
    strategy proposes through :class:`HpoSearch`, Ray places each trial on a worker with
    ``resources_per_trial``, retries it up to ``max_failures`` times if its worker dies, and
    stops it early if a ``scheduler`` says so (``trial.report`` feeds the scheduler; a
    stopped trial is recorded PRUNED). The driver (this process) writes every trial to the
    study's storage exactly once; workers never open it. A GPU trial
    (``resources_per_trial={"gpu": 0.5}``) sees its GPU through Ray's ``CUDA_VISIBLE_DEVICES``.

    Args:
        address: ``None`` (the Ray this process already runs, else Ray's default: the cluster
            ``ray start`` began on this machine if any, else a new local one), ``"auto"`` (the
            cluster this machine belongs to, after ``ray start``) or ``"ray://host:10001"``
            (Ray Client: Tune's driver then runs on the head node and writes the storage there, so
            the study must be on a database the head node reaches, e.g. PostgreSQL, its password
            given to the head through ``PGPASSWORD`` or ``~/.pgpass``; the progress bar waits
            for the end).
        resources_per_trial: Ray resources per trial, e.g. ``{"cpu": 1, "gpu": 0.5}``.
        max_concurrent: at most this many trials at once (default: as many as the cluster's
            resources hold when the run starts; give it for an autoscaling cluster).
        scheduler: ``None`` (run every trial to the end), ``"asha"`` (``"successive-halving"``),
            ``"hyperband"`` (asynchronous HyperBand), ``"median"`` (Ray's median stopping rule),
            all on ``training_iteration`` (one per ``trial.report``, ``max_t=100``), or a
            ``ray.tune.schedulers`` scheduler created without metric/mode.
        max_failures: retries of a trial whose worker died (an exception in the objective is
            not retried: it is a FAILED trial, as in local runs).
        storage_path: where Ray keeps its experiment folder (default ``~/ray_results``).
        verbose: 0 (Ray quiet: hpo's progress bar and log only) or 1 (Ray's trial table too).

    Example:
        >>> import hpo
        >>> executor = hpo.RayExecutor(resources_per_trial={"cpu": 1}, scheduler="asha")
        >>> # study.optimize(objective, n_trials=100, executor=executor)
        >>> executor
        RayExecutor(address=None, resources_per_trial={'cpu': 1, 'gpu': 0}, scheduler='asha')
    """

    def __init__(self, address: str | None = None, resources_per_trial: Mapping[str, float] | None = None,
                 max_concurrent: int | None = None, scheduler: Any = None, max_failures: int = 2,
                 storage_path: str | None = None, verbose: int = 0):
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"address must be None, 'auto', 'host:port' or 'ray://host:port', got {address!r}")
        self.address = address.strip() if address is not None else None
        self.resources_per_trial = _check_resources(resources_per_trial)
        self.max_concurrent = _check_concurrency(max_concurrent)
        _make_scheduler(scheduler)  # validate now, build per run (schedulers keep per-run state)
        self.scheduler = scheduler
        if isinstance(max_failures, bool) or not isinstance(max_failures, numbers.Integral) or max_failures < -1:
            raise ValueError(f"max_failures must be an integer >= 0 (or -1: retry forever), got {max_failures!r}")
        self.max_failures = int(max_failures)
        if storage_path is not None and not isinstance(storage_path, (str, os.PathLike)):
            raise ValueError(f"storage_path must be a folder path or URI, got {storage_path!r}")
        self.storage_path = os.fspath(storage_path) if storage_path is not None else None
        if verbose not in (0, 1, 2, 3):
            raise ValueError(f"verbose must be 0 (quiet) or 1 (Ray's trial table), got {verbose!r}")
        self.verbose = int(verbose)

    def __repr__(self) -> str:
        return (f"RayExecutor(address={self.address!r}, resources_per_trial={self.resources_per_trial}, "
                f"scheduler={self.scheduler!r})")

    def run(self, job: "Job") -> None:
        """Run the job's trials as one Ray Tune experiment (the Executor protocol)."""
        import ray
        from ray import tune

        study = job.study
        if study.space is None:
            raise ValueError("RayExecutor needs a declared space (create_study(space=...)): Ray workers do not "
                             "open the storage, so define-by-run trial.suggest_* cannot reach the strategy")
        self._connect(ray)
        from hpo.storage import storage_url

        if ray.util.client.ray.is_connected() and storage_url(study.storage) is None:
            raise ValueError("with a ray:// address Tune's driver runs on the head node, which cannot write this "
                             "process's in-memory study; use a storage the head node reaches, e.g. postgresql://...")
        scheduler = _make_scheduler(self.scheduler)
        direction_mode = "min" if study.direction == "minimize" else "max"
        search = HpoSearch(metric=METRIC, mode=direction_mode)
        search._study, search._job, search._pass_number = study, job, True
        search._space = study.space
        if ray.util.client.ray.is_connected():
            search._job_spec = job.spec()  # the searcher reopens the study on the head node
        budget = _scheduler_budget(scheduler)
        if budget is not None:
            search._budget = budget
        sched_metric = getattr(scheduler, "metric", None) if scheduler is not None else None
        if sched_metric not in (None, METRIC):
            raise ValueError(f"the scheduler watches metric {sched_metric!r}, but RayExecutor reports the "
                             f"objective as {METRIC!r}; create the scheduler without metric/mode")
        resources = {("CPU" if k == "cpu" else "GPU" if k == "gpu" else k): v
                     for k, v in self.resources_per_trial.items()}
        resources = {k: v for k, v in resources.items() if v or k == "CPU"}
        _ship_by_value(job.objective)
        trainable = tune.with_resources(_trainable(job.objective), resources)
        n = job.budget.n_trials
        tune_config = tune.TuneConfig(
            search_alg=search, scheduler=scheduler, num_samples=n if n is not None else 2**31 - 1,
            max_concurrent_trials=self.max_concurrent or _capacity(ray.cluster_resources(), resources),
            reuse_actors=True,
            metric=METRIC if sched_metric is None else None, mode=direction_mode if sched_metric is None else None)
        run_config = tune.RunConfig(
            name=_experiment_name(study.study_name), storage_path=self.storage_path, verbose=self.verbose,
            failure_config=tune.FailureConfig(max_failures=self.max_failures),
            callbacks=[_Pulse(job.progress)])
        tuner = tune.Tuner(trainable, tune_config=tune_config, run_config=run_config)
        interrupted = _Interrupted()
        tune_log = logging.getLogger("ray.tune.tune")
        tune_log.addFilter(interrupted)
        try:
            with _quiet_ray(self.verbose):
                tuner.fit()
        finally:
            tune_log.removeFilter(interrupted)
            why = "interrupted (Ctrl-C)" if interrupted.seen else "the Ray run ended before this trial finished"
            search._fail_unfinished(why)
        if interrupted.seen:  # Tune stops gracefully on Ctrl-C and returns; optimize raises as everywhere
            raise KeyboardInterrupt

    def _connect(self, ray) -> None:
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING} if self.verbose == 0 else {}
        if self.address is None:
            kwargs["include_dashboard"] = False
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConnectionError(f"cannot reach Ray at address={self.address!r}: {first} (start a cluster with "
                                  "`ray start --head`, or leave address unset for a local Ray)") from None


class _Pulse(Callback):
    """A Tune callback that refreshes hpo's progress bar from the driver's loop."""

    def __init__(self, progress: Callable[[], None]):
        self._progress = progress

    def on_step_end(self, iteration, trials, **info):
        self._progress()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._progress()

    def __reduce__(self):  # Ray pickles its callbacks; the progress bar stays in this process
        return (_Pulse, (_no_progress,))


def _no_progress() -> None:
    return None


@contextmanager
def _env(values: Mapping[str, str]):
    """Environment variables set for the block (Tune reads these when ``fit`` starts)."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _quiet_ray(verbose: int):
    """Tune's settings for an hpo run.

    Tune's per-trial result files (CSV, JSON, TensorBoard) are off unless the user set
    ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS`` himself: the study records every trial, and
    writing them is a large part of Tune's per-trial work (the TensorBoard one also imports
    torch into the driver). At
    verbose 0 none of Tune's own output either (its new output engine prints an experiment
    header and result-folder hints even when silent; the classic one honours verbose=0) and
    no INFO log lines; warnings and errors still show.
    """
    env = {} if "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" in os.environ else {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    off = env or os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") == "1"
    no_files = _NoResultFilesWarning() if off else None
    if no_files is not None:  # Tune then warns at the end that each trial has no result file
        analysis.addFilter(no_files)
    loggers = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")] if verbose == 0 else []
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with _env({**env, "RAY_AIR_NEW_OUTPUT": "0"} if verbose == 0 else env):
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        if no_files is not None:
            analysis.removeFilter(no_files)


class _Interrupted(logging.Filter):
    """Notices Tune's "Experiment has been interrupted ... Tuner.restore(...)" line (its only sign
    of a Ctrl-C) and drops it: an hpo study resumes with ``optimize(max_trials=...)``."""

    seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(("Experiment has been interrupted", "Training has been interrupted")):
            self.seen = True
            return False
        return True


class _NoResultFilesWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to fetch metrics")


@contextmanager
def _suppress_log():
    hpo_log = logging.getLogger("hpo")
    level = hpo_log.level
    hpo_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hpo_log.setLevel(level)


# --- helpers --------------------------------------------------------------------------------------------
def _check_metric_mode(metric: Any, mode: Any) -> None:
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise ValueError(f"metric must be the name of a reported result such as 'loss', got {metric!r}")
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")


def _check_concurrency(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"max_concurrent must be a positive integer or None, got {value!r}")
    return int(value)


def _check_resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    if resources is None:
        return {"cpu": 1, "gpu": 0}
    if not isinstance(resources, Mapping):
        raise ValueError(f"resources_per_trial must be a dict like {{'cpu': 1, 'gpu': 0.5}}, got {resources!r}")
    out: dict[str, float] = {"cpu": 1, "gpu": 0}
    for key, value in resources.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"resources_per_trial keys must be resource names ('cpu', 'gpu', ...), got {key!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"resources_per_trial[{key!r}] must be a non-negative number, got {value!r}")
        name = key.lower() if key.lower() in ("cpu", "gpu") else key
        out[name] = value
    if out["cpu"] == 0 and out["gpu"] == 0 and len(out) == 2:
        raise ValueError("resources_per_trial asks for no resources; give at least {'cpu': 1} or {'gpu': 1}")
    return out


_SCHEDULERS = ("asha", "hyperband")


def _capacity(cluster: Mapping[str, float], per_trial: Mapping[str, float]) -> int:
    """How many trials the cluster's resources hold at once.

    Tune's own default for a searcher keeps one trial pending; with actor reuse, a trial
    shorter than an actor's start then takes the cached actor, and the run stays one trial
    at a time however many CPUs there are. Asking for the cluster's capacity starts that
    many actors.
    """
    fits = [int(cluster.get(name, 0) // amount) for name, amount in per_trial.items() if amount > 0]
    return max(1, min(fits)) if fits else 1


def _make_scheduler(spec: Any):
    """None, 'asha', 'hyperband' or a Ray TrialScheduler -> a Ray scheduler (or None)."""
    if spec is None:
        return None
    from ray.tune.schedulers import AsyncHyperBandScheduler, PopulationBasedTraining, TrialScheduler

    if isinstance(spec, str):
        name = spec.strip().lower()
        if name in ("asha", "successive-halving", "sha"):
            return AsyncHyperBandScheduler(time_attr="training_iteration", max_t=100, grace_period=1,
                                           reduction_factor=4, brackets=1)
        if name == "hyperband":
            return AsyncHyperBandScheduler(time_attr="training_iteration", max_t=100, grace_period=1,
                                           reduction_factor=4, brackets=3)
        if name == "median":
            from ray.tune.schedulers import MedianStoppingRule

            return MedianStoppingRule(time_attr="training_iteration", grace_period=1, min_samples_required=3)
        raise ValueError(f"unknown scheduler {spec!r}; use None, 'asha' (or 'successive-halving'), 'hyperband', "
                         "'median' or a ray.tune.schedulers scheduler")
    if isinstance(spec, PopulationBasedTraining):
        raise ValueError("PopulationBasedTraining changes a trial's params while it runs, which an hpo trial "
                         "cannot record; use scheduler='asha' or 'hyperband'")
    if isinstance(spec, TrialScheduler):
        import copy

        return copy.deepcopy(spec)
    raise ValueError(f"scheduler must be None, 'asha', 'hyperband' or a ray.tune.schedulers scheduler, got {spec!r}")


def _scheduler_budget(scheduler: Any) -> tuple[str, float] | None:
    """(time_attr, max_t) of an ASHA/HyperBand scheduler: a trial stopped there ran its full budget."""
    attr, max_t = getattr(scheduler, "_time_attr", None), getattr(scheduler, "_max_t", None)
    if isinstance(attr, str) and isinstance(max_t, numbers.Real):
        return attr, float(max_t)
    return None


def _ship_by_value(objective: Callable) -> None:
    """Send the objective's module to the workers by value when they may not be able to import it.

    Ray pickles a function of an importable module by reference, and a worker then fails with
    ``No module named 'train'`` for an objective loaded from a file (``hpo run train.py:objective``)
    or a test module. A module that is not an installed package is pickled by value instead
    (its functions and globals travel with the trial); installed packages (and hpo) are
    imported on the workers as usual.
    """
    name = getattr(objective, "__module__", None)
    module = sys.modules.get(name) if name else None
    path = getattr(module, "__file__", None)
    if module is None or name == "__main__" or not path:
        return
    if name.split(".")[0] in ("hpo", "benchmarks", "surrogates") or any(
            part in ("site-packages", "dist-packages") for part in os.path.normpath(path).split(os.sep)):
        return
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)


def _experiment_name(study_name: str) -> str:
    import datetime
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", study_name)[:60].strip("-") or "study"
    return f"hpo-{safe}-{datetime.datetime.now():%Y-%m-%d_%H-%M-%S}-{uuid.uuid4().hex[:4]}"


def _without_password(url: str) -> str:
    """A database URL without its password (Ray writes the searcher to disk)."""
    if "://" not in url or "@" not in url:
        return url
    try:
        from sqlalchemy.engine import URL, make_url

        u = make_url(url)
        if u.password is None:
            return url
        return URL.create(u.drivername, u.username, None, u.host, u.port, u.database,
                          u.query).render_as_string(hide_password=False)
    except Exception:
        return redact(url)


def _spec_for_head(spec):
    """The JobSpec the searcher carries to the head node: without the objective (the trainable
    has it) and without the storage password (Ray writes the searcher into its experiment folder)."""
    import dataclasses

    study = spec.study
    if isinstance(study.storage, str):
        study = dataclasses.replace(study, storage=_without_password(study.storage))
    return dataclasses.replace(spec, study=study, objective=None)


def _unflatten(config: Mapping[str, Any]) -> dict:
    out: dict = {}
    for key, value in config.items():
        parts = key.split("/")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _space_from_ray(config: Mapping[str, Any]) -> Space | None:
    """An hpo Space from the Ray Tune domains in a ``param_space`` (None if it has none)."""
    from ray.tune.search.sample import Categorical as RayCategorical
    from ray.tune.search.sample import Float as RayFloat
    from ray.tune.search.sample import Integer as RayInteger
    from ray.tune.search.variant_generator import parse_spec_vars

    _, domains, grids = parse_spec_vars(config)
    if grids:
        raise ValueError("HpoSearch cannot use tune.grid_search in param_space; list the values with "
                         "tune.choice([...]) or hpo.Categorical([...])")
    if not domains:
        return None
    spec: dict[str, Any] = {}
    for path, domain in domains:
        name = "/".join(str(p) for p in path)
        sampler = domain.get_sampler()
        kind = type(sampler).__name__
        q = getattr(sampler, "q", None)
        base = type(getattr(sampler, "sampler", sampler)).__name__
        log = base == "_LogUniform"
        if isinstance(domain, RayCategorical):
            spec[name] = Categorical(list(domain.categories))
        elif base not in ("_Uniform", "_LogUniform"):
            raise ValueError(f"param_space[{name!r}]: HpoSearch supports uniform, log-uniform, integer and choice "
                             f"domains, not {kind}; use tune.uniform/loguniform/randint/choice")
        elif q is not None and log:
            raise ValueError(f"param_space[{name!r}]: quantised log domains have no hpo equivalent; "
                             "use tune.loguniform or tune.quniform")
        elif isinstance(domain, RayInteger):
            upper = domain.upper if q is not None else domain.upper - 1  # randint excludes upper, qrandint not
            spec[name] = Int(int(domain.lower), int(upper), log=log, step=int(q) if q is not None else 1)
        elif isinstance(domain, RayFloat):
            spec[name] = Float(float(domain.lower), float(domain.upper), log=log,
                               step=float(q) if q is not None else None)
        else:
            raise ValueError(f"param_space[{name!r}]: unsupported Ray domain {type(domain).__name__}")
    return Space(spec)
