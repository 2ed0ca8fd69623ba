"""From ConfigSpace vectors to model features.

ConfigSpace encodes a configuration as a vector: numeric hyperparameters in
``[0, 1]`` (log-scaled where declared), categoricals as their integer index,
``NaN`` where a conditional hyperparameter is inactive. Surrogates need finite
features, and most of them should not read a category index as a number.
:class:`Encoder` does that mapping, column by column:

* numeric (float, int, normal, beta): the vector value, rescaled to ``[0, 1]``;
  inactive rows get ``impute`` (default ``-0.5``, outside ``[0, 1]``, so a model
  can tell "inactive" from every real value), and with ``indicators=True`` a
  0/1 "active" column follows each conditional numeric one;
* ordinal: index / (levels - 1), a number in ``[0, 1]`` (the order is meaningful);
* categorical: one-hot columns (all zero when inactive) when ``one_hot=True``;
  otherwise one column of integer codes ``0..k-1``, with the extra code ``k``
  for "inactive" when the hyperparameter is conditional (listed in
  :attr:`Encoder.categorical`, levels in :attr:`Encoder.n_categories`);
* constants carry no information and get no column.

Example:
    >>> import numpy as np
    >>> from ConfigSpace import ConfigurationSpace, Categorical, Float
    >>> cs = ConfigurationSpace({"lr": Float("lr", (1e-4, 1.0), log=True),
    ...                          "opt": Categorical("opt", ["adam", "sgd"])})
    >>> enc = Encoder(cs)
    >>> enc.feature_names
    ['lr', 'opt=adam', 'opt=sgd']
    >>> enc.transform(np.array([[0.5, 1.0]])).tolist()
    [[0.5, 0.0, 1.0]]
    >>> codes = Encoder(cs, one_hot=False)
    >>> codes.categorical, codes.n_categories
    ([1], {1: 2})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    Configuration,
    ConfigurationSpace,
    Constant,
    OrdinalHyperparameter,
)

__all__ = ["Encoder"]


@dataclass(frozen=True)
class _Column:
    name: str
    kind: str  # "numeric" | "ordinal" | "categorical" | "constant"
    index: int  # position in the ConfigSpace vector
    levels: int  # categories / ordinal levels; 0 for numeric
    low: float  # vectorised bounds (numeric and ordinal)
    high: float
    conditional: bool


class Encoder:
    """Turns ConfigSpace vectors (rows of ``V``) into finite model features.

    Args:
        cs: the ``ConfigSpace.ConfigurationSpace`` whose vectors are encoded.
        one_hot: categoricals as one-hot columns (True) or as one column of integer
            codes (False; for factor terms and tree models).
        impute: value given to inactive numeric features; keep it outside ``[0, 1]``.
        indicators: add a 0/1 "active" column after each conditional numeric feature.

    Example:
        >>> from ConfigSpace import ConfigurationSpace, Float
        >>> enc = Encoder(ConfigurationSpace({"x": Float("x", (0.0, 10.0))}))
        >>> enc.n_features, enc.transform_configs([{"x": 2.5}]).tolist()
        (1, [[0.25]])
    """

    def __init__(self, cs: ConfigurationSpace, one_hot: bool = True, *, impute: float = -0.5,
                 indicators: bool = False):
        if not isinstance(cs, ConfigurationSpace):
            raise TypeError(
                f"Encoder needs a ConfigSpace.ConfigurationSpace, got {type(cs).__name__}; "
                "for an hpo.Space use Encoder.from_space(space)"
            )
        if not np.isfinite(impute) or 0.0 <= impute <= 1.0:
            raise ValueError(f"impute={impute!r} must be a finite number outside [0, 1], e.g. -0.5")
        self.cs = cs
        self.one_hot = bool(one_hot)
        self.impute = float(impute)
        self.indicators = bool(indicators)
        conditional = set(cs.conditional_hyperparameters)
        self._columns: list[_Column] = []
        for name, hp in cs.items():
            index = cs.index_of[name]
            cond = name in conditional
            if isinstance(hp, Constant):
                kind, levels = "constant", 1
            elif isinstance(hp, CategoricalHyperparameter):
                kind, levels = "categorical", len(hp.choices)
            elif isinstance(hp, OrdinalHyperparameter):
                kind, levels = "ordinal", len(hp.sequence)
            else:
                kind, levels = "numeric", 0
            low, high = float(hp.lower_vectorized), float(hp.upper_vectorized)
            self._columns.append(_Column(name, kind, index, levels, low, high, cond))
        self.n_inputs = len(cs)
        self._build_features()

    @classmethod
    def from_space(cls, space: Any, one_hot: bool = True, **kwargs) -> "Encoder":
        """An Encoder for an ``hpo.Space`` (anything with a ``.cs`` ConfigurationSpace)."""
        cs = getattr(space, "cs", space)
        return cls(cs, one_hot=one_hot, **kwargs)

    def _build_features(self) -> None:
        names: list[str] = []
        self.categorical: list[int] = []
        self.n_categories: dict[int, int] = {}
        for col in self._columns:
            if col.kind == "constant":
                continue
            if col.kind == "categorical" and self.one_hot:
                names += [f"{col.name}={c}" for c in self.cs[col.name].choices]
            elif col.kind == "categorical":
                self.categorical.append(len(names))
                self.n_categories[len(names)] = col.levels + int(col.conditional)
                names.append(col.name)
            else:
                names.append(col.name)
                if col.conditional and self.indicators:
                    names.append(f"{col.name}:active")
        self.feature_names: list[str] = names
        self.n_features: int = len(names)

    def __repr__(self) -> str:
        return f"Encoder(n_inputs={self.n_inputs}, n_features={self.n_features}, one_hot={self.one_hot})"

    def transform(self, V: np.ndarray) -> np.ndarray:
        """Features (n, n_features) for ConfigSpace vectors ``V`` (n, n_inputs); one 1-D vector is one row."""
        V = np.asarray(V, dtype=float)
        if V.ndim == 1:
            V = V[None, :]
        if V.ndim != 2 or V.shape[1] != self.n_inputs:
            raise ValueError(
                f"expected ConfigSpace vectors with {self.n_inputs} entries per row, got shape {V.shape}; "
                "use space.to_vector(config) or Configuration.get_array()"
            )
        out = np.zeros((V.shape[0], self.n_features))
        j = 0
        for col in self._columns:
            if col.kind == "constant":
                continue
            v = V[:, col.index]
            active = ~np.isnan(v)
            if col.kind == "categorical":
                codes = np.clip(np.rint(np.where(active, v, 0.0)), 0, col.levels - 1).astype(int)
                if self.one_hot:
                    rows = np.flatnonzero(active)
                    out[rows, j + codes[rows]] = 1.0
                    j += col.levels
                else:
                    out[:, j] = np.where(active, codes, col.levels)
                    j += 1
                continue
            scaled = (v - col.low) / (col.high - col.low)
            out[:, j] = np.where(active, np.clip(scaled, 0.0, 1.0), self.impute)
            j += 1
            if col.conditional and self.indicators:
                out[:, j] = active
                j += 1
        return out

    def transform_configs(self, configs: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Features for configuration dicts (inactive hyperparameters simply absent)."""
        rows = [Configuration(self.cs, values=dict(c)).get_array() for c in configs]
        return self.transform(np.array(rows).reshape(len(rows), self.n_inputs))

    def inverse_transform(self, F: np.ndarray) -> np.ndarray:
        """ConfigSpace vectors back from features (for optimising in feature space).

        Numerics are clipped to their range (values below 0 by more than half the
        distance to ``impute`` read as inactive, NaN), one-hot blocks take their argmax
        (all zero: inactive), codes are rounded (the extra code: inactive). Decode the
        result with ``hpo.Space.from_vector``, which also drops what conditions forbid.
        """
        F = np.asarray(F, dtype=float)
        if F.ndim == 1:
            F = F[None, :]
        if F.ndim != 2 or F.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features per row, got shape {F.shape}")
        V = np.full((F.shape[0], self.n_inputs), np.nan)
        j = 0
        cut = self.impute / 2 if self.impute < 0 else 1 + (self.impute - 1) / 2
        for col in self._columns:
            if col.kind == "constant":
                V[:, col.index] = col.low
                continue
            if col.kind == "categorical":
                if self.one_hot:
                    block = F[:, j:j + col.levels]
                    code = np.argmax(block, axis=1).astype(float)
                    V[:, col.index] = np.where(block.max(axis=1) > 0, code, np.nan)
                    j += col.levels
                else:
                    code = np.rint(F[:, j])
                    inactive = code >= col.levels if col.conditional else np.zeros(len(F), bool)
                    V[:, col.index] = np.where(inactive, np.nan, np.clip(code, 0, col.levels - 1))
                    j += 1
                continue
            f = F[:, j]
            inactive = f < cut if self.impute < 0 else f > cut
            if not col.conditional:
                inactive = np.zeros(len(F), bool)
            v = col.low + np.clip(f, 0.0, 1.0) * (col.high - col.low)
            if col.kind == "ordinal":
                v = np.rint(v)
            V[:, col.index] = np.where(inactive, np.nan, v)
            j += 1 + int(col.conditional and self.indicators)
        return V
