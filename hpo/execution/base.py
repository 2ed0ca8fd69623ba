"""The Executor protocol: where a study's trials run.

``Study.optimize`` validates its arguments, builds a :class:`Job` and hands it to an
executor's ``run(job)``; the executor runs trials until ``job.claim()`` returns None and
returns when every trial it claimed is finished in the study's storage. That is the whole
contract. hpo ships :class:`~hpo.execution.local.LocalExecutor` (this process),
:class:`~hpo.execution.local.ProcessExecutor` (worker processes) and ``hpo.RayExecutor``.

What a Job offers (all public, nothing reaches into the Study's private state):

- ``job.claim(study=None) -> Trial | None``: the next trial within the shared
  :class:`~hpo.study.TrialBudget`, created in ``study`` (default: the job's) and owned by
  the calling process; None once the budget or the deadline is spent. The budget is
  counted in the storage under a storage-wide lock, so any number of processes may claim
  from one job and together never exceed ``n_trials``/``max_trials``.
- ``job.run_trial(trial, study=None) -> FrozenTrial``: run the objective on it with hpo's
  checks (non-finite values and exceptions become FAILED trials with the reason; pruning),
  keep its heartbeat, tell the result and run the callbacks.
- For executors whose workers run only the objective (Ray: the driver asks, remote
  workers evaluate, the driver tells): :func:`evaluate` runs ``objective(trial)`` anywhere
  and returns a :class:`~hpo.trial.TrialOutcome` (picklable, never raises);
  ``job.finish(trial, outcome)`` tells it in the driver. A remote worker gets a live trial
  (``params``, ``report``, ``should_prune``, ``set_user_attr`` act on the storage) with
  ``job.spec().study.open().trial(number)``.
- ``job.spec() -> JobSpec``: a picklable copy for other processes; ``spec.open()`` in a
  worker returns a Job on the study reopened there. An in-memory study is moved to a
  temporary journal file first, because memory cannot be shared.
- ``study.fail_dead_trials(known)``: a worker the executor saw die has its RUNNING trials
  FAILED with the reason (``known = {pid: "why"}``); optimize also runs it before and after,
  and that sweep fails any other RUNNING trial whose process on this host is gone.

Example: an executor that runs trials one after another in this process::

    >>> import hpo
    >>> from hpo.execution import Job
    >>> class Serial:
    ...     def run(self, job: Job) -> None:
    ...         while (trial := job.claim()) is not None:
    ...             job.run_trial(trial)
    ...             job.progress()
    >>> study = hpo.create_study(space={"x": hpo.Float(-1, 1)}, seed=0)
    >>> study.optimize(lambda t: t.params["x"] ** 2, n_trials=5, executor=Serial())
    >>> len(study.trials)
    5

And one where a driver asks and "workers" only evaluate (as on Ray)::

    >>> from hpo.execution import evaluate
    >>> class DriverAsks:
    ...     def run(self, job: Job) -> None:
    ...         while (trial := job.claim()) is not None:
    ...             outcome = evaluate(job.objective, trial)   # could run remotely
    ...             job.finish(trial, outcome)
    >>> study.optimize(lambda t: t.params["x"] ** 2, n_trials=3, executor=DriverAsks())
    >>> len(study.trials)
    8
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from hpo.trial import TrialOutcome, evaluate

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from hpo.study import Study, StudySpec, TrialBudget
    from hpo.trial import Trial

__all__ = ["Executor", "Job", "JobSpec", "evaluate", "TrialOutcome"]


@runtime_checkable
class Executor(Protocol):
    """Runs the trials of a :class:`Job`.

    ``run(job)`` claims trials with ``job.claim()`` until it returns None, runs each (here
    with ``job.run_trial``, or elsewhere with :func:`evaluate` + ``job.finish``) and returns
    once every claimed trial is finished in storage. A trial whose worker died must be
    failed with the reason (``job.study.fail_dead_trials({pid: reason})``). ``run`` may
    raise KeyboardInterrupt; it must not leave trials RUNNING when it returns.
    """

    def run(self, job: "Job") -> None: ...


@dataclass
class Job:
    """What ``Study.optimize`` hands an executor.

    Attributes:
        study: the study, in the process that called ``optimize`` (the driver).
        objective: ``objective(trial) -> float``.
        budget: the shared trial budget (``n_trials``, ``max_trials``, deadline).
        callbacks: ``callback(study, frozen_trial)``, run where each trial finishes.
        progress: call it now and then in the driver (after a trial, or every half second
            while waiting) to refresh the progress bar; cheap, and a no-op when there is none.
    """

    study: "Study"
    objective: Callable[["Trial"], Any]
    budget: "TrialBudget"
    callbacks: tuple = field(default_factory=tuple)
    progress: Callable[[], None] = field(default=lambda: None, repr=False)

    def claim(self, study: "Study | None" = None) -> "Trial | None":
        """The next trial within the budget (created in ``study``, default the job's), or None."""
        return (study or self.study).claim(self.budget)

    def run_trial(self, trial: "Trial", study: "Study | None" = None) -> "FrozenTrial":
        """Evaluate the objective on ``trial``, tell the result, run the callbacks."""
        return (study or self.study).run_trial(self.objective, trial, self.callbacks)

    def finish(self, trial: "Trial | int", outcome: TrialOutcome, study: "Study | None" = None) -> "FrozenTrial":
        """Tell an outcome computed elsewhere (by :func:`evaluate`) and run the callbacks."""
        return (study or self.study).finish(trial, outcome, self.callbacks)

    def spec(self) -> "JobSpec":
        """A picklable :class:`JobSpec` for other processes (the budget becomes storage-counted)."""
        self.budget.shared = True
        return JobSpec(study=self.study.spec(), objective=self.objective, budget=self.budget,
                       callbacks=self.callbacks)


@dataclass
class JobSpec:
    """A :class:`Job` in transit: picklable when the objective and callbacks are.

    ``open()`` (in a worker process) reopens the study from its storage and returns a Job
    on it; its claims share the original budget.
    """

    study: "StudySpec"
    objective: Callable[["Trial"], Any]
    budget: "TrialBudget"
    callbacks: tuple = field(default_factory=tuple)

    def open(self) -> Job:
        return Job(study=self.study.open(), objective=self.objective, budget=self.budget, callbacks=self.callbacks)
