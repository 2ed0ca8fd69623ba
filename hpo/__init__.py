"""hpo: hyperparameter optimization behind one Study API.

Example:
    >>> import hpo
    >>> space = {"x": hpo.Float(-5, 5), "opt": hpo.Categorical(["adam", "sgd"])}
    >>> study = hpo.Study(lambda t: t.params["x"] ** 2, space=space, seed=0)
    >>> study.optimize(n_trials=10)
    >>> len(study.trials)
    10
"""

from hpo.space import Categorical, Float, Int, Space, SpaceError
from hpo.storage import StorageError
from hpo.strategies import Strategy, UnknownStrategyError, available, make_strategy
from hpo.study import ObjectiveValueError, Study, StudyNotFoundError, create_study, load_study
from hpo.trial import Trial, TrialPruned
from hpo.execution import Executor, LocalExecutor, ProcessExecutor, WorkerError  # noqa: E402 (after study)


def __getattr__(name: str):
    if name == "RayExecutor":  # imported on first use, so that `import hpo` does not import Ray
        from hpo.execution.ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")


__version__ = "0.1.0"
__all__ = [
    "Float", "Int", "Categorical", "Space", "SpaceError",
    "Study", "create_study", "load_study", "Trial", "TrialPruned",
    "Strategy", "available", "make_strategy",
    "StorageError", "StudyNotFoundError", "UnknownStrategyError", "ObjectiveValueError",
    "Executor", "LocalExecutor", "ProcessExecutor", "WorkerError",
]
