"""Search spaces: friendly builders compiled to a ``ConfigSpace.ConfigurationSpace``.

ConfigSpace does the validation, sampling, conditions and unit-cube vectorisation;
this module adds the short builders users write, optuna distributions for storage,
and a JSON/YAML round trip for the CLI.

Example:
    >>> import hpo
    >>> space = hpo.Space({"lr": hpo.Float(1e-5, 1e-1, log=True),
    ...                    "opt": hpo.Categorical(["adam", "sgd"]),
    ...                    "momentum": hpo.Float(0.0, 0.99, when={"opt": "sgd"})})
    >>> sorted(space.names)
    ['lr', 'momentum', 'opt']
    >>> config = space.sample(seed=0)[0]
    >>> space.validate(config) == config
    True
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import optuna.distributions as od
from ConfigSpace import (
    AndConjunction,
    CategoricalHyperparameter,
    Configuration,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    InCondition,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

__all__ = ["Float", "Int", "Categorical", "Space", "SpaceError"]


class SpaceError(ValueError):
    """A search space or a configuration is invalid; the message says how to fix it."""


def _check_when(name: str, when: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    if when is None:
        return {}
    if not isinstance(when, Mapping) or not when:
        raise SpaceError(f"{name}: when= must be a non-empty dict like {{'opt': 'sgd'}}")
    out = {}
    for parent, value in when.items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if not values:
            raise SpaceError(f"{name}: when={{{parent!r}: []}} lists no values; give at least one")
        out[str(parent)] = values
    return out


def _check_range(name: str, low: Any, high: Any, log: bool, integer: bool) -> None:
    for v, what in ((low, "low"), (high, "high")):
        if integer and (not isinstance(v, (int, np.integer)) or isinstance(v, bool)):
            raise SpaceError(f"{name}: {what}={v!r} must be an integer; use Float for reals")
        if not integer and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)):
            raise SpaceError(f"{name}: {what}={v!r} must be a finite number")
    if low >= high:
        raise SpaceError(f"{name}: low={low} must be below high={high}; swap them or widen the range")
    if log and low <= 0:
        fix = "use low >= 1 or log=False" if integer else "use a positive low or log=False"
        raise SpaceError(f"{name}: log=True needs low > 0, got low={low}; {fix}")


@dataclass(frozen=True)
class Float:
    """A real-valued hyperparameter in ``[low, high]``; ``log=True`` samples on a log scale.

    Example:
        >>> Float(1e-5, 1e-1, log=True).log
        True
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None
    default: float | None = None
    when: Mapping[str, Any] | None = field(default=None, compare=False)

    def _check(self, name: str) -> None:
        _check_range(name, self.low, self.high, self.log, integer=False)
        if self.step is not None:
            if self.step <= 0:
                raise SpaceError(f"{name}: step={self.step} must be positive")
            if self.log:
                raise SpaceError(f"{name}: step and log=True cannot be combined; drop one of them")

    def _compile(self, name: str):
        default = self.default
        if default is not None and not self.low <= default <= self.high:
            raise SpaceError(f"{name}: default={default} lies outside [{self.low}, {self.high}]")
        meta = {"step": self.step} if self.step is not None else None
        kwargs = {} if default is None else {"default_value": float(default)}
        return UniformFloatHyperparameter(name, float(self.low), float(self.high), log=self.log, meta=meta, **kwargs)


@dataclass(frozen=True)
class Int:
    """An integer hyperparameter in ``[low, high]`` (both included).

    Example:
        >>> Int(1, 64, log=True).high
        64
    """

    low: int
    high: int
    log: bool = False
    step: int = 1
    default: int | None = None
    when: Mapping[str, Any] | None = field(default=None, compare=False)

    def _check(self, name: str) -> None:
        _check_range(name, self.low, self.high, self.log, integer=True)
        if not isinstance(self.step, (int, np.integer)) or self.step < 1:
            raise SpaceError(f"{name}: step={self.step!r} must be a positive integer")
        if self.step != 1 and self.log:
            raise SpaceError(f"{name}: step and log=True cannot be combined; drop one of them")

    def _compile(self, name: str):
        default = self.default
        if default is not None and not self.low <= default <= self.high:
            raise SpaceError(f"{name}: default={default} lies outside [{self.low}, {self.high}]")
        meta = {"step": int(self.step)} if self.step != 1 else None
        kwargs = {} if default is None else {"default_value": int(default)}
        return UniformIntegerHyperparameter(name, int(self.low), int(self.high), log=self.log, meta=meta, **kwargs)


@dataclass(frozen=True)
class Categorical:
    """A choice among ``choices`` (str, int, float or bool values).

    Example:
        >>> Categorical(["adam", "sgd"]).choices
        ('adam', 'sgd')
    """

    choices: Sequence[Any]
    default: Any = None
    when: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self):
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise SpaceError(f"Categorical choices must be a list, got {self.choices!r}")
        object.__setattr__(self, "choices", tuple(self.choices))

    def _check(self, name: str) -> None:
        if len(self.choices) == 0:
            raise SpaceError(f"{name}: Categorical needs at least one choice, got []")
        seen = set()
        for c in self.choices:
            if not isinstance(c, (str, int, float, bool)) and c is not None:
                raise SpaceError(f"{name}: choice {c!r} must be a str, int, float, bool or None")
            key = (type(c), c)
            if key in seen:
                raise SpaceError(f"{name}: duplicate choice {c!r}; list each choice once")
            seen.add(key)

    def _compile(self, name: str):
        if self.default is not None and self.default not in self.choices:
            raise SpaceError(f"{name}: default={self.default!r} is not one of {list(self.choices)}")
        if len(self.choices) == 1:
            return Constant(name, self.choices[0])
        kwargs = {} if self.default is None else {"default_value": self.default}
        return CategoricalHyperparameter(name, list(self.choices), **kwargs)


Builder = Float | Int | Categorical


def _native(value: Any) -> Any:
    """numpy scalars -> python scalars (storage and JSON need them)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class Space:
    """A search space: the compiled ``ConfigurationSpace`` plus the helpers strategies need.

    Accepts a dict of builders (``Float``, ``Int``, ``Categorical``), a
    ``ConfigSpace.ConfigurationSpace``, a path to a ``.json``/``.yaml`` space file,
    or another ``Space``.

    Example:
        >>> space = Space({"x": Float(-5, 5), "n": Int(1, 8)})
        >>> v = space.to_vector({"x": 0.0, "n": 8})
        >>> [round(float(a), 3) for a in v]
        [1.0, 0.5]
    """

    def __init__(self, spec: Any, *, seed: int | None = None):
        if isinstance(spec, Space):
            cs = spec.cs
        elif isinstance(spec, ConfigurationSpace):
            cs = spec
        elif isinstance(spec, (str, Path)):
            cs = _read_space_file(Path(spec))
        elif isinstance(spec, Mapping):
            cs = _compile(spec)
        else:
            raise SpaceError(
                f"space must be a dict of hpo.Float/Int/Categorical, a ConfigurationSpace or a "
                f"path to a .json/.yaml file, got {type(spec).__name__}"
            )
        self.cs: ConfigurationSpace = cs
        self.names: list[str] = list(cs.keys())
        self._hps = {name: cs[name] for name in self.names}
        self._conditional = set(cs.conditional_hyperparameters)
        self._distributions = {n: _to_distribution(hp) for n, hp in self._hps.items()}
        self._parent_conditions = {n: list(cs.parent_conditions_of[n]) for n in self.names}
        self._has_forbiddens = bool(cs.forbidden_clauses)
        self._topo = _topological(self)

    # --- introspection -------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return name in self._hps

    def __repr__(self) -> str:
        return f"Space({self.to_dict()['hyperparameters']!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def hyperparameter(self, name: str):
        return self._hps[name]

    def is_conditional(self, name: str) -> bool:
        return name in self._conditional

    def is_categorical(self, name: str) -> bool:
        return isinstance(self._hps[name], (CategoricalHyperparameter, OrdinalHyperparameter, Constant))

    @property
    def distributions(self) -> dict[str, od.BaseDistribution]:
        """optuna distributions of every hyperparameter (how trials are stored)."""
        return dict(self._distributions)

    # --- sampling and encoding -----------------------------------------
    def sample(self, n: int = 1, *, seed: int | None = None, rng: np.random.Generator | None = None) -> list[dict]:
        """``n`` configurations drawn by ConfigSpace (uniform, log-uniform where declared)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise SpaceError(f"n must be a non-negative integer, got {n!r}")
        if n == 0:
            return []
        if rng is None:
            rng = np.random.default_rng(seed)
        self.cs.seed(int(rng.integers(2**31 - 1)))
        configs = self.cs.sample_configuration(n) if n != 1 else [self.cs.sample_configuration()]
        return self.decode(np.array([c.get_array() for c in configs]))

    def decode(self, vectors: np.ndarray) -> list[dict]:
        """Decode many valid ConfigSpace vectors at once (a column at a time; NaN = inactive)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
        columns = []
        for i, name in enumerate(self.names):
            col = vectors[:, i]
            mask = ~np.isnan(col)
            values = np.empty(len(col), dtype=object)
            if mask.any():
                values[mask] = self._hps[name].to_value(col[mask] if not self.is_categorical(name) else col[mask].astype(np.int64))
            columns.append((name, mask, values))
        stepped = [n for n in self.names if (getattr(self._hps[n], "meta", None) or {}).get("step")]
        out = []
        for r in range(len(vectors)):
            config = {name: _native(values[r]) for name, mask, values in columns if mask[r]}
            for name in stepped:
                if name in config:
                    config[name] = self._coerce(name, config[name])
            out.append(config)
        return out

    def to_vector(self, config: Mapping[str, Any]) -> np.ndarray:
        """ConfigSpace's unit-cube encoding (log scaled; categoricals as index; NaN if inactive)."""
        return Configuration(self.cs, values=dict(config)).get_array()

    def from_vector(self, vector: np.ndarray) -> dict:
        """Decode ConfigSpace's encoding (categoricals as index); NaN means inactive.

        Numeric entries are clipped to [0, 1], categorical indices rounded; hyperparameters
        whose conditions do not hold are dropped; steps are rounded.
        """
        vec = np.asarray(vector, dtype=float)
        values = {}
        for i, name in enumerate(self.names):
            if np.isnan(vec[i]):
                continue
            hp = self._hps[name]
            if self.is_categorical(name):
                k = len(_choices(hp))
                values[name] = _choices(hp)[int(np.clip(np.rint(vec[i]), 0, k - 1))]
            else:
                values[name] = _native(hp.to_value(float(np.clip(vec[i], 0.0, 1.0))))
        return self.validate(_partial_active(self, values))

    def to_unit(self, config: Mapping[str, Any], impute: float = np.nan) -> np.ndarray:
        """Every dimension in [0, 1]: numerics as ConfigSpace scales them, a categorical with k
        choices at the centre of its slot ``(index + 0.5) / k``; inactive ones are ``impute``.
        """
        vec = self.to_vector(config)
        for i, name in enumerate(self.names):
            if self.is_categorical(name) and not np.isnan(vec[i]):
                vec[i] = (vec[i] + 0.5) / len(_choices(self._hps[name]))
        return np.where(np.isnan(vec), impute, vec)

    def from_unit(self, unit: np.ndarray) -> dict:
        """Inverse of :meth:`to_unit` for any point of the unit cube (for samplers and local search)."""
        u = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
        vec = u.copy()
        for i, name in enumerate(self.names):
            if self.is_categorical(name):
                k = len(_choices(self._hps[name]))
                vec[i] = min(int(u[i] * k), k - 1)
        return self.from_vector(vec)

    def validate(self, config: Mapping[str, Any]) -> dict:
        """Check a configuration, round to steps, drop nothing silently; return a clean dict.

        Raises ``SpaceError`` naming the parameter and the problem.
        """
        unknown = [k for k in config if k not in self._hps]
        if unknown:
            close = difflib.get_close_matches(unknown[0], self.names, n=3)
            hint = f"; did you mean {close}?" if close else f"; the space has {self.names}"
            raise SpaceError(f"unknown hyperparameter {unknown[0]!r}{hint}")
        clean = {name: self._coerce(name, _native(value)) for name, value in config.items()}
        active = self.active_names(clean)
        for name in active:
            if name not in clean:
                raise SpaceError(f"{name} is active in {clean} but has no value; add it")
        for name in clean:
            if name not in active:
                raise SpaceError(f"{name} is inactive in {clean} (its condition does not hold); leave it out")
        if self._has_forbiddens:
            try:
                Configuration(self.cs, values=clean).check_valid_configuration()
            except Exception as e:  # ConfigSpace raises a zoo of exception types
                raise SpaceError(f"invalid configuration {clean}: {e}") from None
        return {n: clean[n] for n in self.names if n in clean}

    def _coerce(self, name: str, value: Any) -> Any:
        hp = self._hps[name]
        if isinstance(hp, UniformIntegerHyperparameter):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != round(value):
                raise SpaceError(f"{name}={value!r} must be an integer in [{hp.lower}, {hp.upper}]")
            value = int(round(value))
            step = (hp.meta or {}).get("step")
            if step:
                value = int(hp.lower + round((value - hp.lower) / step) * step)
                value = min(value, hp.upper - (hp.upper - hp.lower) % step)
            if not hp.lower <= value <= hp.upper:
                raise SpaceError(f"{name}={value} lies outside [{hp.lower}, {hp.upper}]")
            return value
        if isinstance(hp, UniformFloatHyperparameter):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpaceError(f"{name}={value!r} must be a number in [{hp.lower}, {hp.upper}]")
            value = float(value)
            step = (hp.meta or {}).get("step")
            if step:
                value = hp.lower + round((value - hp.lower) / step) * step
                value = float(min(max(value, hp.lower), hp.upper))
            if not hp.lower <= value <= hp.upper:
                raise SpaceError(f"{name}={value} lies outside [{hp.lower}, {hp.upper}]")
            return value
        choices = _choices(hp)
        if value not in choices:
            raise SpaceError(f"{name}={value!r} is not one of {list(choices)}")
        return choices[choices.index(value)]

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether ``name`` is active given the (partial) configuration's parent values."""
        return all(_satisfied(cond, config) for cond in self._parent_conditions[name])

    def active_names(self, config: Mapping[str, Any]) -> list[str]:
        """Hyperparameters active in ``config``, parents before children."""
        active: dict[str, Any] = {}
        for name in self._topo:
            if all(_satisfied(cond, active) for cond in self._parent_conditions[name]):
                active[name] = config.get(name)
        return list(active)

    @property
    def order(self) -> list[str]:
        """Hyperparameter names with parents before their children."""
        return list(self._topo)

    # --- serialisation ---------------------------------------------------
    def to_dict(self) -> dict:
        return self.cs.to_serialized_dict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Space":
        if "hyperparameters" in data:
            return cls(ConfigurationSpace.from_serialized_dict(dict(data)))
        return cls(builders_from_plain(data))

    @classmethod
    def from_distributions(cls, distributions: Mapping[str, od.BaseDistribution]) -> "Space":
        """A space from optuna distributions (what define-by-run trials record)."""
        builders: dict[str, Builder] = {}
        for name, d in distributions.items():
            if isinstance(d, od.FloatDistribution):
                builders[name] = Float(d.low, d.high, log=d.log, step=d.step)
            elif isinstance(d, od.IntDistribution):
                builders[name] = Int(d.low, d.high, log=d.log, step=d.step)
            elif isinstance(d, od.CategoricalDistribution):
                builders[name] = Categorical(list(d.choices))
            else:
                raise SpaceError(f"{name}: unsupported distribution {d!r}")
        return cls(builders)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_native)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(json.loads(self.to_json()), sort_keys=False))
        else:
            path.write_text(self.to_json())


def _choices(hp) -> tuple:
    if isinstance(hp, Constant):
        return (_native(hp.value),)
    if isinstance(hp, OrdinalHyperparameter):
        return tuple(_native(c) for c in hp.sequence)
    return tuple(_native(c) for c in hp.choices)


def _satisfied(cond, config: Mapping[str, Any]) -> bool:
    if isinstance(cond, AndConjunction):
        return all(_satisfied(c, config) for c in cond.components)
    if hasattr(cond, "components"):  # OrConjunction
        return any(_satisfied(c, config) for c in cond.components)
    parent = cond.parent.name
    if parent not in config:
        return False
    value = config[parent]
    if isinstance(cond, EqualsCondition):
        return value == _native(cond.value)
    if isinstance(cond, InCondition):
        return value in [_native(v) for v in cond.values]
    try:  # greater-than, less-than, not-equals: ConfigSpace evaluates them
        return bool(cond.satisfied_by_value(config))
    except Exception:  # a value of the wrong type for the parent: the condition does not hold
        return False


def _topological(space: Space) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for parent in space.cs.parents_of[name]:
            visit(parent.name)
        order.append(name)

    for name in space.names:
        visit(name)
    return order


def _partial_active(space: Space, values: Mapping[str, Any]) -> dict:
    return {n: values[n] for n in space.active_names(values) if n in values}


def _to_distribution(hp) -> od.BaseDistribution:
    if isinstance(hp, UniformFloatHyperparameter):
        step = (hp.meta or {}).get("step")
        return od.FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log), step=step)
    if isinstance(hp, UniformIntegerHyperparameter):
        step = int((hp.meta or {}).get("step", 1))
        high = int(hp.upper) - (int(hp.upper) - int(hp.lower)) % step
        return od.IntDistribution(int(hp.lower), high, log=bool(hp.log), step=step)
    return od.CategoricalDistribution(list(_choices(hp)))


def _compile(spec: Mapping[str, Any]) -> ConfigurationSpace:
    builders: dict[str, Builder] = {}
    for name, b in spec.items():
        if not isinstance(name, str) or not name:
            raise SpaceError(f"hyperparameter names must be non-empty strings, got {name!r}")
        if isinstance(b, (list, tuple)) and not isinstance(b, str):
            b = Categorical(list(b))
        if not isinstance(b, (Float, Int, Categorical)):
            raise SpaceError(
                f"{name}: expected hpo.Float, hpo.Int or hpo.Categorical, got {b!r}"
            )
        b._check(name)
        builders[name] = b
    cs = ConfigurationSpace()
    hps = {name: b._compile(name) for name, b in builders.items()}
    cs.add(list(hps.values()))
    conditions = []
    for name, b in builders.items():
        parts = []
        for parent, values in _check_when(name, b.when).items():
            if parent not in hps:
                close = difflib.get_close_matches(parent, list(hps), n=3)
                hint = f"did you mean {close}?" if close else f"declare {parent!r} in the space"
                raise SpaceError(f"{name}: condition on unknown parameter {parent!r}; {hint}")
            if parent == name:
                raise SpaceError(f"{name}: a parameter cannot be conditioned on itself")
            parent_hp = hps[parent]
            legal = _legal_values(parent_hp)
            for v in values:
                if legal is not None and v not in legal:
                    raise SpaceError(
                        f"{name}: condition {parent}={v!r} can never hold; {parent} takes {list(legal)}"
                    )
            if len(values) == 1:
                parts.append(EqualsCondition(hps[name], parent_hp, values[0]))
            else:
                parts.append(InCondition(hps[name], parent_hp, values))
        if len(parts) == 1:
            conditions.append(parts[0])
        elif parts:
            conditions.append(AndConjunction(*parts))
    if conditions:
        try:
            cs.add(conditions)
        except Exception as e:
            raise SpaceError(f"invalid conditions: {e}") from None
    return cs


def _legal_values(hp) -> tuple | None:
    if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter, Constant)):
        return _choices(hp)
    return None


def builders_from_plain(data: Mapping[str, Any]) -> dict[str, Builder]:
    """Builders from the short file format the CLI reads.

    ``{"lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": true},
    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {"type": "float", "low": 0, "high": 0.99, "when": {"opt": "sgd"}}}``
    """
    kinds = {"float": Float, "int": Int, "integer": Int, "categorical": Categorical, "choice": Categorical}
    out = {}
    for name, item in data.items():
        if isinstance(item, list):
            out[name] = Categorical(item)
            continue
        if not isinstance(item, Mapping) or "type" not in item:
            raise SpaceError(f"{name}: expected a mapping with a 'type' (float, int, categorical), got {item!r}")
        kind = str(item["type"]).lower()
        if kind not in kinds:
            raise SpaceError(f"{name}: unknown type {item['type']!r}; use one of float, int, categorical")
        kwargs = {k: v for k, v in item.items() if k != "type"}
        try:
            out[name] = kinds[kind](**kwargs)
        except TypeError as e:
            raise SpaceError(f"{name}: {e}") from None
    return out


def _read_space_file(path: Path) -> ConfigurationSpace:
    if not path.exists():
        raise SpaceError(f"space file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif path.suffix == ".json":
        data = json.loads(text)
    else:
        raise SpaceError(f"space file {str(path)!r}: use a .json, .yaml or .yml file")
    if not isinstance(data, Mapping):
        raise SpaceError(f"space file {str(path)!r} must hold a mapping of hyperparameters")
    return Space.from_dict(data).cs
