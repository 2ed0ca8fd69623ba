"""hpo: hyperparameter optimization behind one Study API."""

from hpo.space import Categorical, Float, Int, Space, SpaceError

__version__ = "0.1.0"
__all__ = ["Float", "Int", "Categorical", "Space", "SpaceError"]
