"""Numerical helpers of HomOpt: jitter around the best point and the homotopy path.

Kept apart from :mod:`hpo.strategies.homopt` so the schedule (which step to take) and
the numerics (how to take it) can be read and tested separately. Everything here works
on plain arrays in the unit cube / ConfigSpace vector space and takes its randomness
from the generator it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

__all__ = ["jitter_point", "AdditiveTables", "HomotopyPath", "trace_homotopy"]

Predict = Callable[[np.ndarray], np.ndarray]


def jitter_point(
    best: np.ndarray,
    top: np.ndarray,
    free: np.ndarray,
    scale: float,
    spread: str,
    floor: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``best`` plus uniform noise on the ``free`` dims, per dimension ``±scale·spread_j``.

    ``spread_j`` is the variance (``spread="var"``, the reference's statistic, but per
    dimension) or the standard deviation (``"std"``) of dim ``j`` over the ``top`` rows,
    floored at ``floor`` so that a collapsed top set still moves. All in the unit cube.
    """
    out = best.copy()
    if not free.any():
        return out
    cols = top[:, free]
    stat = np.nanvar(cols, axis=0) if spread == "var" else np.nanstd(cols, axis=0)
    radius = np.maximum(scale * np.nan_to_num(stat, nan=0.0), floor)
    out[free] = np.clip(best[free] + rng.uniform(-radius, radius), 0.0, 1.0)
    return out


@dataclass
class AdditiveTables:
    """A fitted additive surrogate tabulated along each free dimension around a point.

    For a model that is a sum of one-dimensional terms (a GAM without interaction
    terms), ``g(v) = g(v0) + sum_j [g(v0 with v_j) - g(v0)]`` holds exactly, so one
    batch prediction of ``len(grid)`` points per free dimension gives the whole
    function; Nelder-Mead then costs microseconds per evaluation instead of one model
    call. :meth:`check` verifies additivity on random grid nodes before it is trusted.
    """

    v0: np.ndarray
    dims: np.ndarray
    grid: np.ndarray
    g0: float
    tables: np.ndarray  # (len(dims), len(grid)): g(v0 with dim j on the grid) - g0

    @classmethod
    def build(cls, predict: Predict, v0: np.ndarray, dims: Sequence[int], n_grid: int) -> "AdditiveTables":
        """Tabulate ``predict`` (rows of vectors -> values) on ``n_grid`` uniform nodes of [0, 1] per dim."""
        dims = np.asarray(dims, dtype=int)
        grid = np.linspace(0.0, 1.0, int(n_grid))
        blocks = [v0[None, :]]
        for j in dims:
            rows = np.repeat(v0[None, :], len(grid), axis=0)
            rows[:, j] = grid
            blocks.append(rows)
        pred = np.asarray(predict(np.vstack(blocks)), dtype=float)
        g0 = float(pred[0])
        num = pred[1:1 + len(dims) * len(grid)].reshape(len(dims), len(grid)) - g0
        return cls(v0.copy(), dims, np.asarray(grid, dtype=float), g0, num)

    def __post_init__(self):
        g = len(self.grid)
        self._low = np.ascontiguousarray(self.tables[:, :-1]).ravel()
        self._slope = np.diff(self.tables, axis=1).ravel()
        self._offset = np.arange(len(self.dims)) * (g - 1)

    def __call__(self, x: np.ndarray) -> float:
        """Value at free coordinates ``x`` (the other dims at ``v0``), linear between grid nodes."""
        pos = np.clip(x, 0.0, 1.0) * (len(self.grid) - 1)
        i = np.minimum(pos.astype(np.intp), len(self.grid) - 2)
        k = self._offset + i
        return self.g0 + float((self._low[k] + self._slope[k] * (pos - i)).sum())

    def blend(self, other: "AdditiveTables", t: float) -> "AdditiveTables":
        """The tables of ``t·self + (1 - t)·other`` (same point, dims and grid)."""
        return AdditiveTables(self.v0, self.dims, self.grid, t * self.g0 + (1 - t) * other.g0,
                              t * self.tables + (1 - t) * other.tables)

    def check(self, predict: Predict, rng: np.random.Generator, n: int = 8) -> float:
        """Largest error of the tables on ``n`` random grid-node points, relative to the table range."""
        if len(self.dims) == 0:
            return 0.0
        idx = rng.integers(len(self.grid), size=(n, len(self.dims)))
        rows = np.repeat(self.v0[None, :], n, axis=0)
        rows[:, self.dims] = self.grid[idx]
        truth = np.asarray(predict(rows), dtype=float)
        approx = np.array([self(self.grid[i]) for i in idx])
        scale = max(float(np.ptp(self.tables)), 1e-12)
        return float(np.max(np.abs(truth - approx)) / scale)


@dataclass
class HomotopyPath:
    """The minimisers along ``t``: ``points[i]`` minimises ``t_i·g1 + (1 - t_i)·g2``.

    ``g2[i]`` is the all-trials surrogate at ``points[i]``; ``chosen`` is the index with
    the lowest ``g2`` (what HomOpt proposes); ``start`` is the best observed point.
    """

    t: np.ndarray
    start: np.ndarray
    points: np.ndarray
    g2: np.ndarray
    chosen: int
    nfev: int


def trace_homotopy(
    g1: Callable[[np.ndarray], float],
    g2: Callable[[np.ndarray], float],
    x0: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    ts: np.ndarray,
    maxfev: int,
    xatol: float,
) -> HomotopyPath:
    """Follow the minimiser of ``t·g1 + (1 - t)·g2`` as ``t`` runs through ``ts``.

    Each step is a bounded Nelder-Mead started from the previous step's minimiser (the
    first from ``x0``), as in the reference implementation.
    """
    x = np.clip(np.asarray(x0, dtype=float), [b[0] for b in bounds], [b[1] for b in bounds])
    points, values, nfev = [], [], 0
    for t in ts:
        if isinstance(g1, AdditiveTables) and isinstance(g2, AdditiveTables):
            h = g1.blend(g2, float(t))
        else:
            def h(z, t=float(t)):
                return t * g1(z) + (1.0 - t) * g2(z)

        res = minimize(h, x, method="Nelder-Mead", bounds=bounds,
                       options={"maxfev": int(maxfev), "xatol": xatol, "fatol": 1e-10})
        x = np.asarray(res.x, dtype=float)
        nfev += int(res.nfev)
        points.append(x.copy())
        values.append(g2(x))
    values = np.asarray(values)
    return HomotopyPath(np.asarray(ts, dtype=float), np.asarray(x0, dtype=float), np.array(points),
                        values, int(np.argmin(values)), nfev)
