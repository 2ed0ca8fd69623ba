"""Search strategies behind one protocol; the contract is documented in :mod:`hpo.strategies.base`."""

from hpo.strategies.base import BaseStrategy, History, Observation, Strategy
from hpo.strategies.registry import UnknownStrategyError, available, make_strategy, register

__all__ = ["Strategy", "BaseStrategy", "History", "Observation", "available", "make_strategy", "register",
           "UnknownStrategyError"]
