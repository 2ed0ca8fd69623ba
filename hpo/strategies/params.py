"""Declarative checks for strategy options: one line per option, one error format for all.

A strategy lists its options in ``params`` (name -> check) and passes the values to
``BaseStrategy.__init__``, which validates each one, normalises it (``int``/``float``) and
stores it as an attribute of the same name. A bad value raises ``ValueError`` with one line
naming the strategy, the option, what it must be and what it got.

Example:
    >>> from hpo.strategies.base import BaseStrategy
    >>> class Mine(BaseStrategy):
    ...     params = {"n_initial": Integer(1), "liar": Choice("min", "mean")}
    ...     def __init__(self, n_initial=5, liar="min"):
    ...         super().__init__(n_initial=n_initial, liar=liar)
    >>> Mine(n_initial=3).n_initial
    3
    >>> Mine(liar="max")
    Traceback (most recent call last):
    ...
    ValueError: Mine: liar must be one of 'min', 'mean', got 'max'
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Check", "Integer", "Real", "Boolean", "Choice", "Jobs", "PathOrNone", "check_params"]


class Check:
    """One option's rule: ``check(value) -> normalised value`` or ``ValueError``."""

    none_ok = False

    def describe(self) -> str:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:  # pragma: no cover
        raise NotImplementedError

    def normalise(self, value: Any) -> Any:
        return value

    def __call__(self, name: str, value: Any) -> Any:
        if value is None and self.none_ok:
            return None
        if not self.accepts(value):
            what = self.describe() + (" or None" if self.none_ok else "")
            raise ValueError(f"{name} must be {what}, got {value!r}")
        return self.normalise(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


@dataclass(frozen=True)
class Integer(Check):
    """An integer ``>= low`` (and ``<= high`` when given); ``none=True`` also allows None."""

    low: int | None = None
    high: int | None = None
    none: bool = False

    @property
    def none_ok(self) -> bool:  # type: ignore[override]
        return self.none

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an integer >= {self.low}"
        return "an integer" if self.high is None else f"an integer <= {self.high}"

    def accepts(self, value: Any) -> bool:
        return _is_int(value) and (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def normalise(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True)
class Real(Check):
    """A finite number in the interval from ``low`` to ``high``; ``open`` names the excluded ends.

    ``open="low"`` means ``low < value``, ``"high"`` ``value < high``, ``"both"`` both.
    """

    low: float | None = None
    high: float | None = None
    open: str = ""
    none: bool = False

    @property
    def none_ok(self) -> bool:  # type: ignore[override]
        return self.none

    def describe(self) -> str:
        lo_open, hi_open = self.open in ("low", "both"), self.open in ("high", "both")
        if self.low is not None and self.high is not None:
            return f"a number in {'(' if lo_open else '['}{_fmt(self.low)}, {_fmt(self.high)}{')' if hi_open else ']'}"
        if self.low is not None:
            if self.low == 0:
                return "a positive number" if lo_open else "a non-negative number"
            return f"a number {'>' if lo_open else '>='} {_fmt(self.low)}"
        if self.high is not None:
            return f"a number {'<' if hi_open else '<='} {_fmt(self.high)}"
        return "a finite number"

    def accepts(self, value: Any) -> bool:
        if not _is_real(value):
            return False
        lo_open, hi_open = self.open in ("low", "both"), self.open in ("high", "both")
        if self.low is not None and (value < self.low or (lo_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (hi_open and value == self.high)):
            return False
        return True

    def normalise(self, value: Any) -> float:
        return float(value)


@dataclass(frozen=True)
class Boolean(Check):
    """``True`` or ``False`` (numpy booleans too; not 0/1)."""

    def describe(self) -> str:
        return "True or False"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (bool, np.bool_))

    def normalise(self, value: Any) -> bool:
        return bool(value)


class Choice(Check):
    """One of the listed values."""

    def __init__(self, *values: Any, none: bool = False):
        self.values, self.none = values, none

    @property
    def none_ok(self) -> bool:  # type: ignore[override]
        return self.none

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)


class Jobs(Check):
    """A number of parallel jobs: a positive integer, or -1 for every core."""

    def describe(self) -> str:
        return "a positive integer or -1 (every core)"

    def accepts(self, value: Any) -> bool:
        return _is_int(value) and (value >= 1 or value == -1)

    def normalise(self, value: Any) -> int:
        return int(value)


class PathOrNone(Check):
    """A file-system path (``str`` or ``pathlib.Path``) or None."""

    none_ok = True

    def describe(self) -> str:
        return "a path"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, Path))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def check_params(owner: str, rules: dict[str, Check], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against ``rules``; the first bad one raises ``ValueError`` naming ``owner``."""
    unknown = sorted(set(values) - set(rules))
    if unknown:
        raise TypeError(f"{owner} got unexpected arguments {unknown}; it takes {sorted(rules)}")
    out = {}
    for name, value in values.items():
        try:
            out[name] = rules[name](name, value)
        except ValueError as e:
            raise ValueError(f"{owner}: {e}") from None
    return out
