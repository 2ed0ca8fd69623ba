"""Hypergradient learning rates against tuned fixed rates, on settings their defaults were not chosen on.

The point of a hypergradient learning rate is that users stop tuning the learning rate. This
benchmark trains every model of a grid with a plain optimizer and with its hypergradient version
from initial rates spread over four decades, and asks two things of each cell (model x dataset x
optimizer x number of epochs):

* spread ratio: the spread (max - min over the initial rates) of the plain optimizer's final
  training loss, divided by the hypergradient version's (target: at least 5);
* gap to the tuned rate: the hypergradient version's best and median run (over the initial rates)
  against the plain optimizer's best fixed rate, tuned per cell on a half-decade grid from the lowest
  initial rate to ten times the highest, refined to quarter decades around its best point (target:
  the median run within 10 % of the tuned fixed rate's loss).

Losses are full-batch training losses after the last epoch, mean over seeds; a run that ends
non-finite or above its own initial loss counts at its initial loss (no progress), for plain and
hypergradient runs alike. One training run gives every epoch count (nothing in either optimizer
depends on the horizon), so a 50-epoch run is also the 5- and 15-epoch run.

Parts:

* ``dev``: the DEVELOPMENT set (``DEV``): datasets, models and epoch counts that appear nowhere in
  the report grid, seeds of their own. Candidate settings (``DEV_CANDIDATES``) run there; the
  declared rule (:func:`choose_defaults`: the smallest mean shortfall from the two targets) picks
  each optimizer's defaults, which went into ``hpo.online.hypergrad.DEFAULT_HYPERGRAD``. Writes
  ``online_hypergrad_dev*``.
* ``report``: the REPORT grid (``REPORT``), never used to choose anything: the library's hypergradient
  optimizers at their defaults (constructed with ``lr`` only). Writes ``online_hypergrad*``.
  ``--epochs`` / ``--seeds`` run a declared cut of it (said in every results file) where the
  machine cannot run it all.

Every part appends finished runs to a ``*_runs.jsonl`` file as it goes and skips runs already there,
so an interrupted run resumes; the file is gzipped when the part completes.

Usage::

    nice -n 15 python -m benchmarks.online --part hypergrad --stage dev --jobs 2
    nice -n 15 python -m benchmarks.online --part hypergrad --stage report --jobs 2
    python -m benchmarks.online_hypergrad --stage report --summarize   # tables and figure from saved runs
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.online_common import RESULTS, cpu, init_worker, machine, run_jobs

# --- the two sets, declared before any tuning ---------------------------------------------------------------
REPORT = {"datasets": ["digits", "breast_cancer", "wine"], "models": ["logreg", "mlp", "cnn"],
          "epochs": [5, 15, 50], "seeds": [0, 1, 2]}
DEV = {"datasets": ["iris", "synthetic", "diabetes"], "models": ["linear", "mlp2-tanh"],
       "epochs": [3, 10, 30], "seeds": [100, 101]}
FAMILIES = ("sgd", "nesterov", "adam", "adamw-wrapped")
FAMILY_NAMES = {"sgd": "SGD / SGDHD", "nesterov": "SGD Nesterov 0.9 / SGDNHD",
                "adam": "Adam / AdamHD", "adamw-wrapped": "AdamW / HypergradLR(AdamW)"}
# Initial rates: four decades each. Nesterov's step is lr / (1 - momentum) = 10 x lr, so its range sits a decade
# below SGD's; Adam's steps are about lr per weight whatever the gradient's scale.
INITIAL_LRS = {"sgd": [1e-4, 1e-3, 1e-2, 1e-1, 1.0], "nesterov": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
               "adam": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "adamw-wrapped": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]}
TARGET_SPREAD_RATIO, TARGET_MEDIAN_GAP = 5.0, 0.10
_REDUCED: dict = {}  # a declared cut of the report grid (--epochs / --seeds), said in every results file


def stage_set(stage: str) -> dict:
    """The stage's datasets, models, epochs and seeds: ``DEV``, or ``REPORT`` less any declared cut."""
    return DEV if stage == "dev" else {**REPORT, **_REDUCED}


def _q(lr: float) -> int:
    return int(round(4 * math.log10(lr)))


def _rate(q: int) -> float:
    return float(10 ** (q / 4))


def coarse_grid(family: str) -> list[float]:
    """Half decades from the lowest initial rate to ten times the highest (the fixed rate's first pass)."""
    lo, hi = _q(INITIAL_LRS[family][0]), _q(INITIAL_LRS[family][-1]) + 4
    return [_rate(q) for q in range(lo, hi + 1, 2)]


def refined_rates(fixed: dict[float, float]) -> list[float]:
    """The quarter-decade neighbours of the best rate in ``fixed`` (rate -> loss): the tuned fixed rate is the
    best of a half-decade grid refined to quarter decades around its best point, per cell."""
    best = min(fixed, key=fixed.get)
    return [_rate(_q(best) + d) for d in (-1, 1)]


# Hypergradient settings tried on the development set: per family, name -> constructor keyword arguments.
_BETAS, _HORIZONS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9), (1, 10, 100)
DEV_CANDIDATES = {family: {f"multiplicative beta={b:g} horizon={h}": {"hypergrad_lr": b, "hypergrad_horizon": h,
                                                                      "hypergrad_mode": "multiplicative"}
                           for b in _BETAS for h in _HORIZONS} for family in FAMILIES}
for _family, _beta in (("sgd", 1e-3), ("nesterov", 1e-3), ("adam", 1e-7), ("adamw-wrapped", 1e-7)):
    DEV_CANDIDATES[_family][f"additive beta={_beta:g} (paper)"] = {"hypergrad_lr": _beta, "hypergrad_mode": "additive"}
DEFAULTS = "library defaults"  # the report's only hypergradient method: the classes as a user gets them


# --- data and models -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    """A scikit-learn dataset that ships with the package (or a seeded synthetic one), split 75/25 (stratified
    for classification, ``random_state=0``) and standardised on the training part (a regression target too)."""
    import torch
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer,
               "wine": datasets.load_wine, "iris": datasets.load_iris, "diabetes": datasets.load_diabetes}
    if name == "synthetic":
        X, y = datasets.make_classification(n_samples=2000, n_features=20, n_informative=10, n_redundant=4,
                                            n_classes=5, n_clusters_per_class=2, class_sep=1.0, random_state=0)
    elif name in loaders:
        X, y = loaders[name](return_X_y=True)
    else:
        raise ValueError(f"unknown dataset {name!r}; use one of {sorted([*loaders, 'synthetic'])}")
    regression = name == "diabetes"
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0,
                                          stratify=None if regression else y)
    sx = StandardScaler().fit(Xtr)
    Xtr, Xte = (torch.tensor(sx.transform(a), dtype=torch.float32) for a in (Xtr, Xte))
    if regression:
        sy = StandardScaler().fit(ytr.reshape(-1, 1))
        ytr, yte = (torch.tensor(sy.transform(a.reshape(-1, 1)).ravel(), dtype=torch.float32) for a in (ytr, yte))
        n_out = 1
    else:
        ytr, yte = torch.tensor(ytr), torch.tensor(yte)
        n_out = int(ytr.max()) + 1
    return {"name": name, "train": (Xtr, ytr), "test": (Xte, yte), "n_out": n_out, "regression": regression,
            "image": (8, 8) if name == "digits" else None, "batch": min(64, len(Xtr) // 8)}


def build_model(name: str, data: dict):
    """``logreg``/``linear``: one linear layer; ``mlp``: 64 ReLU units; ``mlp2-tanh``: two tanh layers of 32;
    ``cnn``: one 3-wide convolution (8 channels, ReLU, max-pool 2) and a linear read-out, 2-D over the 8x8 digit
    images, 1-D over the feature vector (in the order scikit-learn ships it) elsewhere: a convolution over tabular
    features only shares weights between neighbouring columns, so it is a test of the optimizer, not a good model."""
    import torch.nn as nn

    d, k = data["train"][0].shape[1], data["n_out"]
    if name in ("logreg", "linear"):
        return nn.Linear(d, k)
    if name == "mlp":
        return nn.Sequential(nn.Linear(d, 64), nn.ReLU(), nn.Linear(64, k))
    if name == "mlp2-tanh":
        return nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, k))
    if name == "cnn":
        if data["image"] is not None:
            h, w = data["image"]
            return nn.Sequential(nn.Unflatten(1, (1, h, w)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * (h // 2) * (w // 2), k))
        return nn.Sequential(nn.Unflatten(1, (1, d)), nn.Conv1d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                             nn.Flatten(), nn.Linear(8 * (d // 2), k))
    raise ValueError(f"unknown model {name!r}")


def make_optimizer(family: str, method: str, params, lr: float, kwargs: dict | None):
    """The plain torch optimizer (``method="plain"``) or its hypergradient version with ``kwargs``."""
    import torch

    from hpo.online.hypergrad import SGDHD, SGDNHD, AdamHD, HypergradLR

    kwargs = kwargs or {}
    plain = method == "plain"
    if family == "sgd":
        return torch.optim.SGD(params, lr=lr) if plain else SGDHD(params, lr=lr, **kwargs)
    if family == "nesterov":
        return (torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True) if plain
                else SGDNHD(params, lr=lr, momentum=0.9, **kwargs))
    if family == "adam":
        return torch.optim.Adam(params, lr=lr) if plain else AdamHD(params, lr=lr, **kwargs)
    if family == "adamw-wrapped":
        base = torch.optim.AdamW(params, lr=lr)
        return base if plain else HypergradLR(base, **kwargs)
    raise ValueError(f"unknown optimizer family {family!r}")


def _loss_fn(data: dict):
    import torch.nn.functional as F

    if data["regression"]:
        return lambda out, y: F.mse_loss(out.squeeze(-1), y)
    return F.cross_entropy


def eval_epochs(epochs: int) -> list[int]:
    """The epochs after which a run is evaluated: every epoch count scored, and enough others to draw curves."""
    marks = set(REPORT["epochs"]) | set(DEV["epochs"]) | {1, 2, 20, 30, 40}
    return sorted(e for e in marks | {epochs} if e <= epochs)


def train_run(dataset: str, model: str, family: str, method: str, kwargs: dict | None, lr: float, seed: int,
              epochs: int) -> dict:
    """One training run; full-batch training and test loss and the learning rate after each of :func:`eval_epochs`.

    A run whose training loss turns non-finite stops there (diverged; it is scored at its initial loss)."""
    import torch

    data = load(dataset)
    loss_fn = _loss_fn(data)
    (X, y), (Xte, yte) = data["train"], data["test"]
    marks = eval_epochs(epochs)
    start = cpu()
    torch.manual_seed(seed)
    net = build_model(model, data)
    gen = torch.Generator().manual_seed(seed)
    train, test, lrs = [], [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = make_optimizer(family, method, net.parameters(), lr, kwargs)
        with torch.no_grad():
            initial = float(loss_fn(net(X), y))
        for epoch in range(1, epochs + 1):
            perm = torch.randperm(len(X), generator=gen)
            for i in range(0, len(X), data["batch"]):
                idx = perm[i:i + data["batch"]]
                opt.zero_grad()
                loss_fn(net(X[idx]), y[idx]).backward()
                opt.step()
            if epoch not in marks:
                continue
            with torch.no_grad():
                train.append(float(loss_fn(net(X), y)))
                test.append(float(loss_fn(net(Xte), yte)))
            lrs.append(float(opt.param_groups[0]["lr"]))
            if not math.isfinite(train[-1]):
                k = len(marks) - len(train)
                train, test, lrs = train + [math.inf] * k, test + [math.inf] * k, lrs + [lrs[-1]] * k
                break
    return {"dataset": dataset, "model": model, "family": family, "method": method, "lr0": lr, "seed": seed,
            "initial_loss": initial, "epochs": marks, "train": [_r(v) for v in train], "test": [_r(v) for v in test],
            "lr": [_r(v) for v in lrs], "warnings": len(caught), "cpu_s": round(cpu() - start, 3)}


def _r(v: float) -> float:
    return float(f"{v:.6g}") if math.isfinite(v) else math.inf


def _job(dataset, model, family, method, kwargs, lrs, seeds, epochs, missing=None) -> list[dict]:
    """The job's runs, only the ``missing`` (lr, seed) pairs where given."""
    init_worker()
    pairs = [(lr, s) for s in seeds for lr in lrs] if missing is None else missing
    return [train_run(dataset, model, family, method, kwargs, lr, s, epochs) for lr, s in pairs]


# --- jobs, incremental results ---------------------------------------------------------------------------------
def _key(r: dict) -> tuple:
    return r["dataset"], r["model"], r["family"], r["method"], float(r["lr0"]), int(r["seed"])


def plan(stage: str, families=FAMILIES, runs: list[dict] = ()) -> list[tuple]:
    """Every job of a stage that can be named yet: ``(dataset, model, family, method, kwargs, lrs, seeds, epochs)``.

    The plain optimizer runs the coarse grid first; once those runs are in ``runs``, its quarter-decade
    refinement around each epoch count's best rate is named too."""
    sz = stage_set(stage)
    epochs = max(sz["epochs"])
    jobs = []
    for dataset in sz["datasets"]:
        for model in sz["models"]:
            for family in families:
                grid = coarse_grid(family)
                jobs.append((dataset, model, family, "plain", None, grid, sz["seeds"], epochs))
                mine = [r for r in runs if (r["dataset"], r["model"], r["family"], r["method"])
                        == (dataset, model, family, "plain") and r["seed"] in sz["seeds"] and epochs in r["epochs"]]
                if {(float(r["lr0"]), r["seed"]) for r in mine} >= {(lr, s) for lr in grid for s in sz["seeds"]}:
                    extra = set()
                    for e in sz["epochs"]:
                        fixed = {lr: float(np.mean([final_loss(r, e) for r in mine if float(r["lr0"]) == lr]))
                                 for lr in grid}
                        extra.update(refined_rates(fixed))
                    jobs.append((dataset, model, family, "plain", None, sorted(extra - set(grid)), sz["seeds"],
                                 epochs))
                methods = DEV_CANDIDATES[family] if stage == "dev" else {DEFAULTS: None}
                for name, kwargs in methods.items():
                    jobs.append((dataset, model, family, name, kwargs, INITIAL_LRS[family], sz["seeds"], epochs))
    return jobs


def _runs_path(stage: str) -> Path:
    return RESULTS / ("online_hypergrad_dev_runs.jsonl" if stage == "dev" else "online_hypergrad_runs.jsonl")


def read_runs(stage: str) -> list[dict]:
    """Every saved run of a stage (the gzipped file of a finished invocation plus any runs appended since); of a run
    saved twice (a longer rerun for a cut grid with more epochs) the longer one."""
    path = _runs_path(stage)
    runs = {}
    for p, opener in ((path.with_suffix(".jsonl.gz"), gzip.open), (path, open)):
        if p.exists():
            with opener(p, "rt") as f:
                for r in (json.loads(line) for line in f if line.strip()):
                    old = runs.get(_key(r))
                    if old is None or len(r["epochs"]) > len(old["epochs"]):  # a longer rerun of the same run
                        runs[_key(r)] = r
    return list(runs.values())


def run_stage(stage: str, n_jobs: int, families=FAMILIES) -> list[dict]:
    """Run the stage's missing jobs (two rounds: the refinement of the fixed-rate grid needs the coarse one),
    appending each finished job's runs to the runs file."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = _runs_path(stage)
    t0 = time.time()
    for _ in range(3):
        runs = read_runs(stage)
        done = {_key(r) for r in runs if max(stage_set(stage)["epochs"]) in r["epochs"]}
        jobs = plan(stage, families, runs)
        missing = [[(lr, s) for s in job[6] for lr in job[5] if (*job[:4], float(lr), s) not in done] for job in jobs]
        todo = [(*job, m) for job, m in zip(jobs, missing) if m]
        if not todo:
            break
        print(f"{stage}: {len(todo)} jobs to run ({len(done)} runs already in {path.name})", flush=True)

        def write(i: int, new: list[dict]) -> None:
            with open(path, "a") as f:
                for r in new:
                    if _key(r) not in done:
                        f.write(json.dumps(r) + "\n")
            print(f"  done {todo[i][:4]} {len(todo[i][-1])} runs ({time.time() - t0:.0f} s)", flush=True)

        run_jobs([(_job, *job) for job in todo], n_jobs, on_result=write)
    runs = sorted(read_runs(stage), key=_key)
    with gzip.open(path.with_suffix(".jsonl.gz"), "wt") as f:
        for r in runs:
            f.write(json.dumps(r) + "\n")
    path.unlink(missing_ok=True)
    print(f"{stage}: {len(runs)} runs, {sum(r['cpu_s'] for r in runs) / 60:.1f} min of CPU in the runs; "
          f"this invocation {time.time() - t0:.0f} s wall")
    return runs


# --- scoring ---------------------------------------------------------------------------------------------------
def final_loss(run: dict, epochs: int) -> float:
    """The training loss after ``epochs``; non-finite or above the run's initial loss counts as the initial loss."""
    v = run["train"][run["epochs"].index(epochs)]
    return v if math.isfinite(v) and v <= run["initial_loss"] else run["initial_loss"]


def score_cells(runs: list[dict], stage: str) -> list[dict]:
    """One row per (dataset, model, family, method, epochs): spread ratio and gaps to the tuned fixed rate."""
    sz = stage_set(stage)
    by: dict[tuple, dict[float, list[dict]]] = {}
    for r in runs:
        if r["seed"] not in sz["seeds"]:
            continue
        cell = by.setdefault((r["dataset"], r["model"], r["family"], r["method"]), {})
        cell.setdefault(float(r["lr0"]), []).append(r)
    rows = []
    for (dataset, model, family, method), per_lr in sorted(by.items()):
        if method == "plain":
            continue
        plain = by.get((dataset, model, family, "plain"), {})
        for epochs in sz["epochs"]:
            # a rate counts once every seed of the stage ran that long (runs of a cut grid may be shorter)
            mean = lambda rs: float(np.mean([final_loss(r, epochs) for r in rs  # noqa: E731
                                             if epochs in r["epochs"]]))
            full = lambda rs: {r["seed"] for r in rs if epochs in r["epochs"]} >= set(sz["seeds"])  # noqa: E731
            hd = {lr: mean(per_lr[lr]) for lr in INITIAL_LRS[family] if lr in per_lr and full(per_lr[lr])}
            fixed = {lr: mean(rs) for lr, rs in plain.items() if full(rs)}
            if len(hd) < len(INITIAL_LRS[family]) or not fixed:
                continue
            plain_at = [_near(fixed, lr) for lr in INITIAL_LRS[family]]
            best_lr = min(fixed, key=fixed.get)
            best_fixed = fixed[best_lr]
            hd_vals = list(hd.values())
            spread, plain_spread = max(hd_vals) - min(hd_vals), max(plain_at) - min(plain_at)
            ratio = plain_spread / spread if spread > 0 else math.inf
            median_gap = _gap(float(np.median(hd_vals)), best_fixed)
            rows.append({"dataset": dataset, "model": model, "family": family, "method": method, "epochs": epochs,
                         "hd": hd_vals, "plain": plain_at, "spread": spread, "plain_spread": plain_spread,
                         "spread_ratio": ratio, "best_fixed": best_fixed, "best_fixed_lr": best_lr,
                         "best_fixed_at_edge": best_lr in (min(fixed), max(fixed)),
                         "best_gap": _gap(min(hd_vals), best_fixed), "median_gap": median_gap,
                         "meets_spread": ratio >= TARGET_SPREAD_RATIO, "meets_median": median_gap <= TARGET_MEDIAN_GAP,
                         "hd_final_lr": [float(np.median([r["lr"][r["epochs"].index(epochs)] for r in per_lr[lr]
                                                      if epochs in r["epochs"]]))
                                         for lr in INITIAL_LRS[family]]})
    return rows


def _gap(loss: float, tuned: float) -> float:
    """Relative gap of ``loss`` to the tuned fixed rate's; a tuned loss of exactly 0 (separable data, long runs)
    is matched only by 0."""
    if tuned > 0:
        return loss / tuned - 1
    return 0.0 if loss <= 0 else math.inf


def _near(d: dict[float, float], lr: float) -> float:
    return d[min(d, key=lambda k: abs(math.log(k / lr)))]


def shortfall(row: dict) -> float:
    """How far a cell is from both targets, in log units: log(median ratio / 1.10) plus log(5 / spread ratio),
    each counted only where the cell misses."""
    median = math.log(max(1.0, (1 + row["median_gap"]) / (1 + TARGET_MEDIAN_GAP)))
    spread = math.log(max(1.0, TARGET_SPREAD_RATIO / row["spread_ratio"])) if row["spread_ratio"] > 0 else 10.0
    return median + spread


def choose_defaults(rows: list[dict]) -> dict[str, dict]:
    """The declared selection rule on the development set, per family: the smallest mean shortfall over the cells
    (:func:`shortfall`); ties go to more cells meeting both targets."""
    out = {}
    for family in FAMILIES:
        scores = {}
        for method in DEV_CANDIDATES.get(family, {}):
            cells = [r for r in rows if r["family"] == family and r["method"] == method]
            if cells:
                met = sum(r["meets_spread"] and r["meets_median"] for r in cells)
                scores[method] = (-float(np.mean([shortfall(r) for r in cells])), met, len(cells))
        if scores:
            best = max(scores, key=scores.get)
            out[family] = {"method": best, "kwargs": DEV_CANDIDATES[family][best], "cells_met": scores[best][1],
                           "cells": scores[best][2], "mean_shortfall": -scores[best][0],
                           "all": {m: {"cells_met": s[1], "mean_shortfall": -s[0]} for m, s in scores.items()}}
    return out


# --- tables ----------------------------------------------------------------------------------------------------
def _fmt_ratio(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def cell_table(rows: list[dict]) -> str:
    lines = ["| dataset | model | optimizer | method | epochs | plain spread | HD spread | ratio (>= 5) "
             "| best fixed (lr) | HD best / fixed | HD median / fixed (<= 1.10) | HD final lr (median per lr0) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = lambda ok: "" if ok else " ✗"  # noqa: E731
        edge = " (edge)" if r["best_fixed_at_edge"] else ""
        lines.append(f"| {r['dataset']} | {r['model']} | {r['family']} | {r['method']} | {r['epochs']} "
                     f"| {r['plain_spread']:.4f} | {r['spread']:.4f} | {_fmt_ratio(r['spread_ratio'])}"
                     f"{mark(r['meets_spread'])} | {r['best_fixed']:.4g} ({r['best_fixed_lr']:.2g}{edge}) "
                     f"| {1 + r['best_gap']:.3f} | {1 + r['median_gap']:.3f}{mark(r['meets_median'])} "
                     f"| {' / '.join(f'{v:.2g}' for v in r['hd_final_lr'])} |")
    return "\n".join(lines)


def summary_table(rows: list[dict], by: str = "family") -> str:
    keys = sorted({(r[by], r["method"]) for r in rows})
    lines = [f"| {by} | method | cells | spread >= 5x | median within 10% | both | worst ratio "
             "| worst median / fixed |",
             "|---|---|---|---|---|---|---|---|"]
    for key, method in keys:
        cells = [r for r in rows if r[by] == key and r["method"] == method]
        both = sum(r["meets_spread"] and r["meets_median"] for r in cells)
        lines.append(f"| {key} | {method} | {len(cells)} | {sum(r['meets_spread'] for r in cells)} "
                     f"| {sum(r['meets_median'] for r in cells)} | {both} "
                     f"| {_fmt_ratio(min(r['spread_ratio'] for r in cells))} "
                     f"| {1 + max(r['median_gap'] for r in cells):.3f} |")
    return "\n".join(lines)


def plot(rows: list[dict], runs: list[dict], path: Path, stage: str) -> None:
    """Left: HD median / tuned fixed loss of every cell (a cross where the spread target is missed too).
    Right: final loss against the (initial) rate for the first dataset at the middle run length, plain and HD
    (the report's runs: the library defaults)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sz = stage_set(stage)
    settings = [(d, m) for d in sz["datasets"] for m in sz["models"]]
    columns = [(f, e) for f in FAMILIES for e in sz["epochs"]]
    by = {(r["dataset"], r["model"], r["family"], r["epochs"]): r for r in rows}
    grid = np.full((len(settings), len(columns)), np.nan)
    fig = plt.figure(figsize=(22, 8.5))
    ax = fig.add_axes([0.075, 0.12, 0.33, 0.78])
    for i, (d, m) in enumerate(settings):
        for j, (f, e) in enumerate(columns):
            r = by.get((d, m, f, e))
            if r is None:
                continue
            grid[i, j] = 1 + r["median_gap"]
            ax.text(j, i, f"{grid[i, j]:.2f}" + ("" if r["meets_spread"] else "\n×"), ha="center", va="center",
                    fontsize=7)
    image = ax.imshow(grid, cmap="RdYlGn_r", norm=LogNorm(0.5, 5), aspect="auto")
    ax.set_xticks(range(len(columns)), [f"{f}\n{e} ep" for f, e in columns], fontsize=7, rotation=90)
    ax.set_yticks(range(len(settings)), [f"{d} {m}" for d, m in settings], fontsize=8)
    ax.set_title("HD median run / tuned fixed rate (target <= 1.10); × = spread ratio < 5", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03)
    dataset, epochs = sz["datasets"][0], sz["epochs"][len(sz["epochs"]) // 2]
    for k, model in enumerate(sz["models"]):
        for j, family in enumerate(FAMILIES):
            ax = fig.add_axes([0.45 + j * 0.14, 0.08 + (len(sz["models"]) - 1 - k) * 0.3, 0.12, 0.24])
            for method, style in (("plain", "o-"), (None, "s")):
                rs = [r for r in runs if (r["dataset"], r["model"], r["family"]) == (dataset, model, family)
                      and ((r["method"] == "plain") == (method == "plain"))
                      and r["method"] in ("plain", DEFAULTS) and r["seed"] in sz["seeds"] and epochs in r["epochs"]]
                if not rs:
                    continue
                lrs = sorted({float(r["lr0"]) for r in rs})
                vals = [np.mean([final_loss(r, epochs) for r in rs if float(r["lr0"]) == lr]) for lr in lrs]
                ax.plot(lrs, vals, style, ms=3, label="fixed rate" if method == "plain" else "HD, from lr0")
            if ax.lines:
                ax.set(xscale="log", yscale="log")
            ax.tick_params(labelsize=6)
            ax.set_title(f"{dataset} {model} {family}, {epochs} ep", fontsize=7)
            if j == 0 and k == 0:
                ax.legend(fontsize=6)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summarize(stage: str, runs: list[dict] | None = None, note: str = "", name: str | None = None) -> list[dict]:
    runs = read_runs(stage) if runs is None else runs
    rows = score_cells(runs, stage)
    sz = stage_set(stage)
    cpu_total = sum(r["cpu_s"] for r in runs)
    meta = {"stage": stage, "set": sz, "reduced_from": REPORT if stage == "report" and _REDUCED else None, "families": FAMILY_NAMES, "initial_lrs": INITIAL_LRS,
            "coarse_grid": {f: coarse_grid(f) for f in FAMILIES}, "targets": {"spread_ratio": TARGET_SPREAD_RATIO,
                                                                            "median_gap": TARGET_MEDIAN_GAP},
            "runs": len(runs), "cpu_s_runs": round(cpu_total, 1), "machine": machine(),
            "loadavg": os.getloadavg(), "batch": {d: load(d)["batch"] for d in sz["datasets"]}}
    out = {"meta": meta, "rows": rows}
    name = name or ("online_hypergrad_dev" if stage == "dev" else "online_hypergrad")
    if stage == "dev":
        out["chosen"] = choose_defaults(rows)
        meta["candidates"] = DEV_CANDIDATES
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1))
    head = (f"Hypergradient learning rates, {stage} set: {', '.join(sz['datasets'])} x {', '.join(sz['models'])}, "
            f"epochs {sz['epochs']}, seeds {sz['seeds']}; {len(runs)} runs, {cpu_total / 60:.1f} min of CPU in the "
            f"runs on {machine()} (load average {os.getloadavg()[0]:.1f}). Loss = full-batch training loss after the "
            "last epoch, mean over seeds; targets: spread ratio >= 5, HD median run <= 1.10 x the best fixed rate."
            f"{note}\n")
    text = [head, "## Summary by optimizer\n", summary_table(rows), ""]
    if stage == "dev":
        text += ["## Chosen on this set (declared rule: smallest mean shortfall, then most cells meeting both)\n"]
        text += [f"- {f}: **{c['method']}** (mean shortfall {c['mean_shortfall']:.3f}, {c['cells_met']}/{c['cells']} "
                 "cells meet both)" for f, c in out["chosen"].items()]
        text += ["", "| family | candidate | mean shortfall | cells meeting both |", "|---|---|---|---|"]
        text += [f"| {f} | {m} | {v['mean_shortfall']:.3f} | {v['cells_met']} |"
                 for f, c in out["chosen"].items() for m, v in sorted(c["all"].items(), key=lambda kv:
                                                                      kv[1]["mean_shortfall"])]
        text += [""]
    else:
        text += ["## Summary by model\n", summary_table(rows, "model"), "",
                 "## Summary by dataset\n", summary_table(rows, "dataset"), ""]
    text += ["## Every cell\n", cell_table(rows), ""]
    (RESULTS / f"{name}_table.md").write_text("\n".join(text))
    if stage == "report":
        plot(rows, runs, RESULTS / f"{name}.png", stage)
    print("\n".join(text[:4]))
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=["dev", "report"], default="report",
                        help="dev: the development set the defaults are chosen on; report: the grid they are judged on")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma list out of {', '.join(FAMILIES)}")
    parser.add_argument("--epochs", help="report only: a declared cut of the epoch counts, e.g. 5,15 "
                        f"(default {','.join(map(str, REPORT['epochs']))})")
    parser.add_argument("--seeds", help=f"report only: a declared cut of the seeds, e.g. 0,1 "
                        f"(default {','.join(map(str, REPORT['seeds']))})")
    parser.add_argument("--datasets", help="report only: a declared cut of the datasets, e.g. digits")
    parser.add_argument("--models", help="report only: a declared cut of the models, e.g. logreg,mlp")
    parser.add_argument("--out", help="report only: results name (default online_hypergrad), e.g. for a cut grid: "
                        "online_hypergrad_digits writes online_hypergrad_digits.json, _table.md and .png")
    parser.add_argument("--summarize", action="store_true", help="tables and figure from the saved runs only")
    parser.add_argument("--quick", action="store_true", help="not available: the benchmark has one size")
    parser.add_argument("--replot", action="store_true", help="same as --summarize")
    args = parser.parse_args(argv)
    families = tuple(f for f in args.families.split(",") if f)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown optimizer families {sorted(unknown)}; use {', '.join(FAMILIES)}")
    if args.quick:
        parser.error("--quick: the hypergradient benchmark has one size; pass --families to run part of it")
    note = ""
    for key in ("datasets", "models", "epochs", "seeds"):
        value = getattr(args, key)
        if value is None:
            continue
        if args.stage != "report":
            parser.error(f"--{key} cuts the report grid only; the dev set is declared in DEV")
        try:
            chosen = [v if key in ("datasets", "models") else int(v) for v in value.split(",") if v]
        except ValueError:
            parser.error(f"--{key} takes a comma list of integers, got {value!r}")
        if not chosen or not set(chosen) <= set(REPORT[key]):
            parser.error(f"--{key} must pick from the report grid's {REPORT[key]}, got {value!r}")
        _REDUCED[key] = [v for v in REPORT[key] if v in chosen]
        note += f" Reduced grid: {key} {_REDUCED[key]} of the declared {REPORT[key]}."
    if args.out is not None and (args.stage != "report" or not args.out.startswith("online_hypergrad")
                                 or not args.out.replace("_", "").isalnum()):
        parser.error(f"--out names the report's results: online_hypergrad followed by letters, digits or _, "
                     f"got {args.out!r}")
    if not (args.summarize or args.replot):
        run_stage(args.stage, args.jobs, families)
    summarize(args.stage, note=note, name=args.out)


if __name__ == "__main__":
    main()
