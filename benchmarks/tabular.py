"""Tabular problems: the ML family precomputed on a grid, then interpolated, at no cost.

For every (model, dataset) of :mod:`benchmarks.ml` the loss was computed once (CV seed 0)
at every point of a grid: each numeric hyperparameter at evenly spaced points of its unit
interval (ConfigSpace's encoding, so log ranges are spaced on the log scale; 12 points for
2-D spaces, 6 for 3-D ones, 5 for the decision tree's 3 numerics), each categorical at all
its values. The table lives in ``benchmarks/data/tabular.jsonl`` (one line per grid point,
with its loss and the measured training time) and is rebuilt with
``hpo bench build-tabular --out benchmarks/data/tabular.jsonl`` (about 15 CPU minutes).

A tabular problem keeps the live problem's continuous search space: a configuration is
looked up by multilinear interpolation over the numeric axes (``scipy``'s
``RegularGridInterpolator`` in the unit encoding) inside its categorical cell. So
evaluations are exact, deterministic and free, and strategies see a landscape shaped like
the live one; the reported cost is the interpolated measured CV time.

Example:
    >>> from benchmarks.tabular import TabularBenchmark
    >>> b = TabularBenchmark("svm", "wine")
    >>> r = b.objective_function({"C": 1.0, "gamma": 0.01})
    >>> 0.0 <= r["function_value"] <= 1.0
    True
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from ConfigSpace import CategoricalHyperparameter, ConfigurationSpace
from scipy.interpolate import RegularGridInterpolator

from benchmarks.base import AbstractBenchmark
from benchmarks.ml import DATASETS, MODELS, cv_loss, model_space

__all__ = ["TabularBenchmark", "TABLE_PATH", "grid", "load_table", "build_table"]

TABLE_PATH = Path(__file__).parent / "data" / "tabular.jsonl"


def _levels(n_numeric: int, model: str) -> int:
    if model == "dt":
        return 5
    return {1: 16, 2: 12}.get(n_numeric, 6)


def grid(model: str) -> tuple[dict[str, list], list[dict]]:
    """The grid axes of a model (name -> sorted values) and every grid configuration."""
    cs = model_space(model)
    names = list(cs.keys())
    numeric = [n for n in names if not isinstance(cs[n], CategoricalHyperparameter)]
    k = _levels(len(numeric), model)
    axes = {}
    for name in names:
        hp = cs[name]
        if isinstance(hp, CategoricalHyperparameter):
            axes[name] = list(hp.choices)
            continue
        values = []
        for u in np.linspace(0.0, 1.0, k):
            v = hp.to_value(np.float64(u))
            v = int(round(float(v))) if hp.__class__.__name__.startswith("UniformInteger") else float(v)
            if v not in values:
                values.append(v)
        axes[name] = values
    configs = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    return axes, configs


@lru_cache(maxsize=1)
def load_table(path: str = str(TABLE_PATH)) -> dict[tuple[str, str], list[dict]]:
    """The committed table: (model, dataset) -> rows ``{"config", "loss", "cost", ...}``."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(
            f"tabular data {p} is missing; rebuild it with `hpo bench build-tabular --out {p}`"
        )
    table: dict[tuple[str, str], list[dict]] = {}
    with p.open() as f:
        for line in f:
            row = json.loads(line)
            table.setdefault((row["model"], row["dataset"]), []).append(row)
    return table


def _grid_position(axis: np.ndarray, value: float, name: str) -> int:
    """The index of ``value`` on a grid axis, to a relative 1e-9: the axes are recomputed through
    ConfigSpace's encoding, whose last bits move between numpy/ConfigSpace releases."""
    i = int(np.argmin(np.abs(axis - float(value))))
    if not np.isclose(axis[i], float(value), rtol=1e-9, atol=0.0):
        raise ValueError(f"tabular row has {name}={value!r}, which is not on the grid; rebuild the table")
    return i


class TabularBenchmark(AbstractBenchmark):
    """A (model, dataset) problem answered from the precomputed table by interpolation."""

    family = "tabular"

    def __init__(self, model: str, dataset: str, rng: int | None = None, path: str | Path = TABLE_PATH):
        super().__init__(rng)
        table = load_table(str(path))
        if (model, dataset) not in table:
            have = ", ".join(sorted(f"{m}-{d}" for m, d in table))
            raise ValueError(f"no tabular data for {model}-{dataset}; the table has {have}")
        self.model, self.dataset = model, dataset
        self.name = f"tab-{model}-{dataset}"
        self._cs = model_space(model)
        self._build(table[(model, dataset)])

    def _build(self, rows: list[dict]) -> None:
        axes, _ = grid(self.model)
        self._cat = [n for n in axes if isinstance(self._cs[n], CategoricalHyperparameter)]
        self._num = [n for n in axes if n not in self._cat]
        points = tuple(np.array([self._cs[n].to_vector(v) for v in axes[n]], dtype=float) for n in self._num)
        index = {n: np.asarray(axes[n], dtype=float) for n in self._num}
        cells: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        shape = tuple(len(axes[n]) for n in self._num)
        for row in rows:
            c = row["config"]
            key = tuple(c[n] for n in self._cat)
            loss, cost = cells.setdefault(key, (np.full(shape, np.nan), np.full(shape, np.nan)))
            pos = tuple(_grid_position(index[n], c[n], n) for n in self._num)
            loss[pos], cost[pos] = row["loss"], row["cost"]
        self._interp = {}
        for key, (loss, cost) in cells.items():
            if np.isnan(loss).any():
                raise ValueError(f"tabular data for {self.name} is incomplete at categorical cell {key}")
            self._interp[key] = (RegularGridInterpolator(points, loss), RegularGridInterpolator(points, cost))
        self.optimum = float(min(np.min(f.values) for f, _ in self._interp.values()))

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        return model_space(self.model, seed)

    def _evaluate(self, config, fidelity, rng):
        loss_f, cost_f = self._interp[tuple(config[n] for n in self._cat)]
        u = np.array([[self._cs[n].to_vector(config[n]) for n in self._num]], dtype=float)
        u = np.clip(u, 0.0, 1.0)
        return float(loss_f(u)[0]), float(cost_f(u)[0]), {}

    def get_meta_information(self) -> dict:
        return {
            **super().get_meta_information(),
            "model": self.model,
            "dataset": self.dataset,
            "optimum": "the best grid loss (interpolation never goes below it)",
            "best_grid_loss": self.optimum,
            "source": f"benchmarks.ml.MLBenchmark({self.model!r}, {self.dataset!r}, rng=0) on a grid",
        }


def build_table(out: Path, models=MODELS, datasets=tuple(DATASETS), jobs: int = 1) -> None:
    """Evaluate every grid point of every (model, dataset) and write the JSON-lines table."""
    tasks = [(m, d, c) for m in models for d in datasets for c in grid(m)[1]]
    print(f"{len(tasks)} grid points", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    t0 = time.perf_counter()
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_row, tasks, chunksize=8))
    else:
        results = []
        for i, task in enumerate(tasks):
            results.append(_row(task))
            if i % 200 == 0:
                print(f"{i}/{len(tasks)} {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    with tmp.open("w") as f:
        for row in results:
            f.write(json.dumps(row) + "\n")
    tmp.replace(out)
    print(f"wrote {out} in {time.perf_counter() - t0:.0f}s", file=sys.stderr)


def _row(task):
    model, dataset, config = task
    t0 = time.perf_counter()
    loss, folds = cv_loss(model, dataset, config, seed=0)
    cost = time.perf_counter() - t0
    return {
        "model": model,
        "dataset": dataset,
        "config": config,
        "loss": round(loss, 6),
        "folds": [round(x, 6) for x in folds],
        "cost": round(cost, 4),
    }
