"""Acquisition pieces for model-based strategies: log expected improvement, unit-cube features,
and an acquisition maximiser (random sampling, then batched local search).

Everything here works on the unit cube of :meth:`hpo.Space.to_unit`: every dimension in
[0, 1], a categorical with k choices split into k equal slots, NaN where a conditional
hyperparameter is inactive.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from ConfigSpace import AndConjunction, EqualsCondition, InCondition, OrConjunction
from scipy.special import erfcx, log_ndtr

__all__ = ["log_expected_improvement", "UnitCodec", "UnitFeatures", "maximize"]

_INACTIVE = -0.5  # outside [0, 1], so a model can tell "inactive" from every real value


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """log E[max(best - xi - f, 0)] for f ~ N(mean, std²), accurate far into the tail.

    With z = (best - xi - mean) / std, EI = std · h(z), h(z) = φ(z) + z Φ(z). For z < -1
    h is computed as φ(z) · (1 + z Φ(z)/φ(z)) with Φ/φ through ``erfcx``, which keeps
    the gradient of the acquisition alive where plain EI underflows to zero.

    Example:
        >>> import numpy as np
        >>> v = log_expected_improvement(np.array([0.0, 50.0]), np.array([1.0, 1.0]), best=0.0)
        >>> bool(np.isfinite(v).all() and v[0] > v[1])
        True
    """
    std = np.maximum(np.asarray(std, float), 1e-12)
    z = (best - xi - np.asarray(mean, float)) / std
    out = np.empty_like(z)
    far = z < -1.0
    zn = z[~far]
    out[~far] = np.log(np.exp(-0.5 * zn**2) / math.sqrt(2 * math.pi) + zn * np.exp(log_ndtr(zn)))
    zf = z[far]
    log_phi = -0.5 * zf**2 - 0.5 * math.log(2 * math.pi)
    ratio = math.sqrt(math.pi / 2) * erfcx(-zf / math.sqrt(2))  # Φ(z)/φ(z)
    out[far] = log_phi + np.log1p(np.maximum(zf * ratio, -1 + 1e-300))
    return out + np.log(std)


class UnitCodec:
    """Configurations to unit-cube points and back, for model-based strategies.

    ``unit`` is :meth:`hpo.Space.to_unit` (NaN for inactive dimensions), cached per
    configuration since a history is encoded again on every call; ``config`` decodes any
    point of the cube, inactive hyperparameters dropped.
    """

    def __init__(self, space):
        self.space = space
        self._cache: dict[tuple, np.ndarray] = {}

    def unit(self, config: dict) -> np.ndarray:
        key = tuple(sorted(config.items()))
        u = self._cache.get(key)
        if u is None:
            u = self._cache[key] = self.space.to_unit(config)
        return u

    def config(self, u: np.ndarray) -> dict:
        from hpo.strategies._history import drop_inactive

        return drop_inactive(self.space, self.space.from_unit(np.where(np.isnan(u), 0.5, u)))


class UnitFeatures:
    """Unit-cube points -> model features: numerics as they are, categoricals one-hot,
    inactive conditionals at -0.5 (numeric) or all zeros (one-hot).

    Which dimensions are active is computed in bulk from the conditions (equality and
    membership conditions, and their conjunctions); other condition types fall back to
    the space, one row at a time.
    """

    def __init__(self, space):
        self.space = space
        self.names = list(space.names)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.k = {n: len(space.distributions[n].choices) for n in self.names if space.is_categorical(n)}
        self.order = space.order
        self.n_features = sum(self.k.get(n, 1) for n in self.names)

    def slot(self, U: np.ndarray, name: str) -> np.ndarray:
        k = self.k[name]
        return np.minimum((np.clip(U[:, self.index[name]], 0, 1) * k).astype(int), k - 1)

    def _holds(self, cond, U: np.ndarray, active: dict) -> np.ndarray | None:
        if isinstance(cond, AndConjunction):
            parts = [self._holds(c, U, active) for c in cond.components]
            return None if any(p is None for p in parts) else np.logical_and.reduce(parts)
        if isinstance(cond, OrConjunction):
            parts = [self._holds(c, U, active) for c in cond.components]
            return None if any(p is None for p in parts) else np.logical_or.reduce(parts)
        parent = cond.parent.name
        if parent not in self.k or not isinstance(cond, (EqualsCondition, InCondition)):
            return None
        choices = list(self.space.distributions[parent].choices)
        values = [cond.value] if isinstance(cond, EqualsCondition) else list(cond.values)
        allowed = [i for i, c in enumerate(choices) if c in values]
        return active[parent] & np.isin(self.slot(U, parent), allowed)

    def active(self, U: np.ndarray) -> np.ndarray:
        """Boolean (n, d): which hyperparameters are active at each point."""
        U = np.atleast_2d(U)
        active: dict[str, np.ndarray] = {}
        fallback = False
        for name in self.order:
            conds = self.space.cs.parent_conditions_of[name]
            mask = np.ones(len(U), bool)
            for cond in conds:
                holds = self._holds(cond, U, active)
                if holds is None:
                    fallback = True
                    break
                mask &= holds
            active[name] = mask
        if fallback:  # a condition type we do not vectorise: ask the space row by row
            rows = [self.space.to_unit(self.space.from_unit(u)) for u in U]
            return ~np.isnan(np.array(rows))
        return np.column_stack([active[n] for n in self.names])

    def transform(self, U: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Features of unit-cube rows (NaN entries count as inactive)."""
        U = np.atleast_2d(np.asarray(U, float))
        if active is None:
            active = self.active(np.nan_to_num(U, nan=0.0)) & ~np.isnan(U)
        cols = []
        for j, name in enumerate(self.names):
            if name in self.k:
                onehot = np.eye(self.k[name])[self.slot(np.nan_to_num(U, nan=0.0), name)]
                cols.append(onehot * active[:, j : j + 1])
            else:
                cols.append(np.where(active[:, j], np.nan_to_num(U[:, j], nan=0.0), _INACTIVE)[:, None])
        return np.hstack(cols) if cols else np.zeros((len(U), 0))


def maximize(acq: Callable[[np.ndarray], np.ndarray], d: int, rng: np.random.Generator, *,
             starts: np.ndarray | None = None, n_random: int = 1000, n_local: int = 5,
             n_steps: int = 15, n_neighbours: int = 32, sigma: float = 0.1) -> tuple[np.ndarray, float]:
    """Maximise ``acq`` (batched: (n, d) -> (n,)) over the unit cube.

    Random sampling (plus the given ``starts``) picks the ``n_local`` best points; each
    then climbs by Gaussian steps of per-start size (halved after a step with no gain),
    all starts evaluated in one batch per step.
    """
    X = rng.random((n_random, d))
    if starts is not None and len(starts):
        X = np.vstack([X, np.clip(starts, 0, 1)])
    values = acq(X)
    top = np.argsort(-values)[:n_local]
    cur, cur_v = X[top].copy(), values[top].copy()
    step = np.full(len(cur), sigma)
    for _ in range(n_steps):
        noise = rng.normal(size=(len(cur), n_neighbours, d)) * step[:, None, None]
        cand = np.clip(cur[:, None, :] + noise, 0, 1).reshape(-1, d)
        v = acq(cand).reshape(len(cur), n_neighbours)
        j = np.argmax(v, axis=1)
        best_v = v[np.arange(len(cur)), j]
        better = best_v > cur_v
        cur[better] = cand.reshape(len(cur), n_neighbours, d)[better, j[better]]
        cur_v[better] = best_v[better]
        step[~better] *= 0.5
        if np.all(step < 1e-4):
            break
    i = int(np.argmax(cur_v))
    return cur[i], float(cur_v[i])
