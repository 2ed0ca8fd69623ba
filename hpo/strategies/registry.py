"""Strategy names -> factories, plus plugins from the ``hpo.strategies`` entry-point group.

A name may carry an argument after a colon: ``homopt:tpe`` calls the ``homopt``
factory with ``base="tpe"``. Plugins register with an entry point in their own package::

    [project.entry-points."hpo.strategies"]
    mystrategy = "mypkg.module:MyStrategy"

Example:
    >>> from hpo.strategies import available, make_strategy
    >>> "random" in available()
    True
    >>> type(make_strategy("random")).__name__
    'RandomStrategy'
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any, Callable

from hpo.extras import EXTRAS, MissingExtraError, hint
from hpo.strategies.base import Strategy

__all__ = ["register", "make_strategy", "available", "UnknownStrategyError"]

_REGISTRY: dict[str, Callable[..., Strategy]] = {}
# built-ins are imported lazily so `import hpo` stays light and optional libraries stay optional
_BUILTIN: dict[str, str] = {
    "random": "hpo.strategies.random:RandomStrategy",
    "tpe": "hpo.strategies.tpe:TPEStrategy",
    "hyperopt-tpe": "hpo.strategies.hyperopt_tpe:HyperoptTPEStrategy",
    "smac": "hpo.strategies.smac:SMACStrategy",
    "smac-bb": "hpo.strategies.smac:SMACBlackBoxStrategy",
    "gp": "hpo.strategies.gp:GPStrategy",
    "botorch": "hpo.strategies.botorch:BoTorchStrategy",
    "auto": "hpo.strategies.auto:AutoStrategy",
    "homopt": "hpo.strategies.homopt:HomOptStrategy",
    "llambo": "hpo.strategies.llambo:LLAMBOStrategy",
}


class UnknownStrategyError(ValueError):
    """The strategy name is not registered; the message lists the close names."""


def register(name: str, factory: Callable[..., Strategy] | None = None):
    """Register ``factory`` under ``name``; usable as a decorator."""

    def deco(f):
        _REGISTRY[name] = f
        return f

    return deco(factory) if factory is not None else deco


def _builtin(name: str, target: str) -> None:
    _BUILTIN[name] = target


def _plugins() -> dict[str, Any]:
    try:
        return {ep.name: ep for ep in entry_points(group="hpo.strategies")}
    except Exception:  # a broken plugin must not break hpo
        return {}


def available() -> list[str]:
    """All strategy names: built-ins, registered ones and entry-point plugins."""
    return sorted(set(_BUILTIN) | set(_REGISTRY) | set(_plugins()))


def _resolve(name: str) -> Callable[..., Strategy]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            missing = (e.name or "").split(".")[0]
            if missing in EXTRAS:
                raise MissingExtraError(hint(missing, f"strategy {name!r}"), name=missing) from None
            raise
    plugins = _plugins()
    if name in plugins:
        return plugins[name].load()
    close = difflib.get_close_matches(name, available(), n=3, cutoff=0.4)
    suggestion = f"did you mean {', '.join(close)}?" if close else f"available: {', '.join(available())}"
    raise UnknownStrategyError(f"unknown strategy {name!r}; {suggestion}")


def make_strategy(strategy: str | Strategy, **kwargs: Any) -> Strategy:
    """A strategy instance from a name (``"tpe"``, ``"homopt:gp"``) or an instance (returned as is)."""
    if not isinstance(strategy, str):
        missing = [m for m in ("setup", "ask", "tell") if not callable(getattr(strategy, m, None))]
        if missing:
            raise TypeError(
                f"strategy must be a name or an object with setup(), ask() and tell() (subclass "
                f"hpo.strategies.BaseStrategy); {type(strategy).__name__} has no {', '.join(m + '()' for m in missing)}"
            )
        return strategy
    name, _, arg = strategy.partition(":")
    factory = _resolve(name)
    if arg:
        kwargs = {"base": arg, **kwargs}
    return factory(**kwargs)
