"""The HPOBench benchmark interface every problem here implements.

A benchmark answers ``objective_function(configuration, fidelity=None, rng=None)`` with
``{"function_value": float, "cost": float, "info": dict}``; the value is *minimised*, and
``fidelity=None`` means the highest fidelity. It also describes itself:
``get_configuration_space(seed)``, ``get_fidelity_space(seed)`` and
``get_meta_information()``. Real HPOBench and YAHPO benchmarks have the same methods, so
the runner takes them unchanged (``--benchmark mypkg.mod:MyBench``).

Example:
    >>> from benchmarks.synthetic import Branin
    >>> b = Branin()
    >>> r = b.objective_function({"x0": 3.14159265, "x1": 2.275})
    >>> round(r["function_value"], 5)
    0.39789
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace

__all__ = ["AbstractBenchmark", "config_dict", "fidelity_dict"]


def config_dict(configuration: Configuration | Mapping[str, Any]) -> dict:
    """A plain dict from a ``Configuration`` or a mapping (numpy scalars made native)."""
    items = dict(configuration).items()
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in items}


def fidelity_dict(space: ConfigurationSpace, fidelity: Configuration | Mapping[str, Any] | None) -> dict:
    """The fidelity as a full dict: missing entries (or ``None``) take the maximum (the default).

    Raises ``ValueError`` for an unknown fidelity name or a value outside its range.
    """
    out = {name: space[name].default_value for name in space.keys()}
    if fidelity is None:
        return out
    for name, value in config_dict(fidelity).items():
        if name not in out:
            known = ", ".join(out) or "none (this benchmark has a single fidelity)"
            raise ValueError(f"unknown fidelity {name!r}; this benchmark's fidelities: {known}")
        hp = space[name]
        if hasattr(hp, "lower") and not hp.lower <= value <= hp.upper:
            raise ValueError(f"fidelity {name}={value} lies outside [{hp.lower}, {hp.upper}]")
        out[name] = value
    return out


class AbstractBenchmark(ABC):
    """Base class of the built-in benchmarks (HPOBench's interface, minimisation).

    Subclasses set ``name`` and ``family`` and implement ``get_configuration_space`` and
    ``_evaluate(config, fidelity) -> (value, cost, info)``; ``optimum`` is the known global
    minimum where one is known (used by tests and regret plots, never by strategies).
    """

    name: str = "benchmark"
    family: str = "unknown"
    optimum: float | None = None

    def __init__(self, rng: int | None = None):
        self.rng = 0 if rng is None else int(rng)

    # --- the HPOBench interface ------------------------------------------
    @abstractmethod
    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        """The search space (a fresh object; ``seed`` seeds its sampler)."""

    def get_fidelity_space(self, seed: int | None = None) -> ConfigurationSpace:
        """Fidelity parameters; their defaults are the maximum. Empty for single-fidelity problems."""
        return ConfigurationSpace(seed=seed)

    def objective_function(
        self,
        configuration: Configuration | Mapping[str, Any],
        fidelity: Configuration | Mapping[str, Any] | None = None,
        rng: int | np.random.Generator | None = None,
        **kwargs: Any,
    ) -> dict:
        """Evaluate ``configuration`` (validated against the space) at ``fidelity`` (``None``: maximum)."""
        config = self._check_config(configuration)
        fid = fidelity_dict(self.get_fidelity_space(), fidelity)
        value, cost, info = self._evaluate(config, fid, rng)
        info = {**info, "fidelity": fid}
        return {"function_value": float(value), "cost": float(cost), "info": info}

    def objective_function_test(
        self,
        configuration: Configuration | Mapping[str, Any],
        fidelity: Configuration | Mapping[str, Any] | None = None,
        rng: int | np.random.Generator | None = None,
        **kwargs: Any,
    ) -> dict:
        """The test-set value; problems without a separate test set return the validation value."""
        return self.objective_function(configuration, fidelity=fidelity, rng=rng, **kwargs)

    def get_meta_information(self) -> dict:
        return {"name": self.name, "family": self.family, "optimum": self.optimum}

    # --- for subclasses -------------------------------------------------
    @abstractmethod
    def _evaluate(self, config: dict, fidelity: dict, rng: Any) -> tuple[float, float, dict]:
        """Return (loss, cost in seconds or nominal units, info)."""

    def _check_config(self, configuration: Configuration | Mapping[str, Any]) -> dict:
        cs = self.get_configuration_space()
        config = config_dict(configuration)
        unknown = [k for k in config if k not in cs]
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameter {unknown[0]!r}; the space has {list(cs.keys())}")
        try:
            Configuration(cs, values=config).check_valid_configuration()
        except Exception as e:  # ConfigSpace raises several exception types
            raise ValueError(f"{self.name}: invalid configuration {config}: {e}") from None
        return config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
