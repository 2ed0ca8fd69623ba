"""Search strategies behind one protocol; see :mod:`hpo.strategies.base`."""

from hpo.strategies.base import BaseStrategy, Observation, Strategy
from hpo.strategies.registry import UnknownStrategyError, available, make_strategy, register

__all__ = ["Strategy", "BaseStrategy", "Observation", "available", "make_strategy", "register", "UnknownStrategyError"]
