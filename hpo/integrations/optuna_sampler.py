"""Moved to :mod:`hpo.sampler`; this alias goes once every caller imports from there."""

from hpo.sampler import StrategySampler

__all__ = ["StrategySampler"]
