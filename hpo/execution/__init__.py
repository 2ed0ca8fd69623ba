"""Where trials run: the Executor protocol and the executors hpo ships.

``LocalExecutor`` (this process) and ``ProcessExecutor`` (worker processes on the study's
storage) live in :mod:`hpo.execution.local`; ``RayExecutor`` (Ray Tune) in
:mod:`hpo.execution.ray`, imported only when asked for, so that ``import hpo`` does not
import Ray.
"""

from hpo.execution.base import Executor, Job, JobSpec, TrialOutcome, evaluate
from hpo.execution.local import LocalExecutor, ProcessExecutor, WorkerError
from hpo.study import StudySpec, TrialBudget

__all__ = ["Executor", "Job", "JobSpec", "TrialOutcome", "evaluate", "LocalExecutor", "ProcessExecutor",
           "WorkerError", "StudySpec", "TrialBudget"]


def __getattr__(name: str):
    if name in ("RayExecutor", "HpoSearch"):
        from hpo.execution import ray as _ray

        return getattr(_ray, name)
    raise AttributeError(f"module 'hpo.execution' has no attribute {name!r}")
