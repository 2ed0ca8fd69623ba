"""Bayesmark-style scoring of run records (from :func:`benchmarks.runner.load_results`).

Per problem, a run's best-so-far loss after ``b`` evaluations is normalised between two
anchors taken from all the runs on that problem:

* 0 = the *baseline*: the median of the first evaluation of the random-search runs
  (``random`` and ``optuna-random``; if none exist, of every run's first evaluation);
* 100 = the best loss ever seen on that problem, by any strategy at any budget.

``score = 100 * (1 - clip((best_so_far - best) / (baseline - best), 0, 1))``, as Bayesmark
does. A run the library ended early (status ``stopped``: SMAC finding a small discrete space
exhausted) keeps its best loss for the rest of the budget; runs that crashed are left out. Because the 100 anchor is the best loss seen, adding strategies or runs can move
everyone's scores; compare strategies scored together. Scores are then averaged over
problems, with the spread over seeds; ranks are taken per (problem, seed) among the
strategies that have that run (1 = best, ties share the mean rank). Paired Wilcoxon
signed-rank tests compare two strategies over problems (each problem's mean score over
seeds), or over (problem, seed) runs. Overhead per trial is the strategy's time between
evaluations, reported separately from objective time.

A run of budget B scores at every b <= B; at each b the run with the smallest budget >= b
is used, so a budget-100 sweep and a budget-50 sweep can sit in one results folder.

Example:
    >>> from benchmarks.scoring import score
    >>> recs = [{"strategy": "random", "benchmark": "p", "seed": s, "budget": 2, "status": "ok",
    ...          "losses": [4.0, l], "overhead_s": [0.0, 0.0], "objective_s": [0.0, 0.0]}
    ...         for s, l in enumerate([2.0, 0.0])]
    >>> sc = score(recs, budgets=[1, 2])
    >>> sc.summary[("random", 2)]["mean"]
    75.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

__all__ = ["score", "Scores", "best_so_far", "normalise", "trace", "paired_test", "compare", "RANDOM_NAMES", "BUDGETS"]

RANDOM_NAMES = ("random", "optuna-random")
BUDGETS = (10, 25, 50, 100)


def best_so_far(losses: Sequence[float | None]) -> np.ndarray:
    """Running minimum; failed evaluations (None/NaN) count as +inf."""
    arr = np.array([np.inf if (v is None or not math.isfinite(v)) else v for v in losses], dtype=float)
    return np.minimum.accumulate(arr) if arr.size else arr


def trace(record: dict) -> list[float | None]:
    """The losses a record is scored on, one per full-evaluation unit of budget.

    For an ordinary run: its losses. For a multi-fidelity run (``strategy+pruner``, with
    ``resources`` and ``fractions``): entry k is the best full-fidelity loss finished within
    k + 1 units of cumulative resource (``None`` where none finished), so a pruned sweep
    and a full one are compared at equal resource.
    """
    if "resources" not in record:
        losses = record["losses"]
        if record.get("status") == "stopped" and len(losses) < record["budget"]:
            return list(losses) + [None] * (record["budget"] - len(losses))  # the library stopped early
        return losses
    cached = record.get("_trace")
    if cached is not None:
        return cached
    out: list[float | None] = [None] * int(record["budget"])
    cum = 0.0
    for loss, res, frac in zip(record["losses"], record["resources"], record["fractions"]):
        cum += res
        if frac >= 1 - 1e-9 and loss is not None and out:
            k = min(max(math.ceil(cum - 1e-9) - 1, 0), len(out) - 1)
            out[k] = loss if out[k] is None else min(out[k], loss)
    record["_trace"] = out
    return out


def normalise(values: np.ndarray, baseline: float, best: float) -> np.ndarray:
    """Bayesmark's normalised loss in [0, 1] (0 = best seen, 1 = baseline or worse)."""
    span = baseline - best
    values = np.asarray(values, dtype=float)
    if not span > 0:  # random's median first draw already is the best: only exact hits score
        return np.where(values <= best, 0.0, 1.0)
    return np.clip((values - best) / span, 0.0, 1.0)


def paired_test(a: Sequence[float], b: Sequence[float], zero_method: str = "wilcox") -> dict:
    """Two-sided paired Wilcoxon signed-rank test of ``a`` against ``b`` (scipy's ``wilcoxon``).

    Returns ``{"n", "mean_diff", "wins", "losses", "statistic", "pvalue"}``: ``mean_diff`` is the
    mean of ``a - b``, ``wins`` / ``losses`` count the pairs where ``a`` is larger / smaller (for
    losses, where lower is better, ``losses`` counts the pairs ``a`` wins). With every difference
    zero, p is 1; with no pairs, nan. ``zero_method`` is scipy's (``"zsplit"`` counts ties half
    each way).
    """
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = xa - xb
    out = {
        "n": int(d.size),
        "mean_diff": float(d.mean()) if d.size else math.nan,
        "wins": int((d > 0).sum()),
        "losses": int((d < 0).sum()),
    }
    if d.size == 0 or np.all(d == 0):
        return {**out, "statistic": math.nan, "pvalue": 1.0 if d.size else math.nan}
    res = stats.wilcoxon(xa, xb, zero_method=zero_method)
    return {**out, "statistic": float(res.statistic), "pvalue": float(res.pvalue)}


def compare(sc: "Scores", a: str, b: str, budget: int, alpha: float = 0.05) -> dict:
    """``a`` against ``b`` problem by problem, paired over the seeds both ran (scores at ``budget``).

    Per problem: a Wilcoxon test over seeds (ties split, :func:`paired_test`), the outcome
    (``win`` / ``loss`` when p < ``alpha``, else ``tie``) and the mean score difference. Overall:
    the counts of wins, ties and losses, ``better`` (problems where ``a`` has the higher mean,
    significant or not) and the mean difference over problems. ``sc`` needs ``problems`` and
    ``run_scores`` (a :class:`Scores`).
    """
    rows, diffs = {}, []
    for p in sc.problems:
        seeds = sorted({k[2] for k in sc.run_scores if k[0] == p and k[1] == a and k[3] == budget}
                       & {k[2] for k in sc.run_scores if k[0] == p and k[1] == b and k[3] == budget})
        if not seeds:
            continue
        xa = np.array([sc.run_scores[(p, a, s, budget)] for s in seeds])
        xb = np.array([sc.run_scores[(p, b, s, budget)] for s in seeds])
        t = paired_test(xa, xb, zero_method="zsplit")
        outcome = "tie" if not t["pvalue"] < alpha else ("win" if t["mean_diff"] > 0 else "loss")
        diffs.append(t["mean_diff"])
        rows[p] = {"a": float(xa.mean()), "b": float(xb.mean()), "diff": t["mean_diff"], "p": t["pvalue"],
                   "outcome": outcome, "n_seeds": int(xa.size)}
    outcomes = [r["outcome"] for r in rows.values()]
    return {"a": a, "b": b, "budget": budget, "wins": outcomes.count("win"), "ties": outcomes.count("tie"),
            "losses": outcomes.count("loss"), "better": sum(r["diff"] > 0 for r in rows.values()),
            "n_problems": len(rows), "mean_diff": float(np.mean(diffs)) if diffs else math.nan,
            "mean_a": float(np.mean([r["a"] for r in rows.values()])) if rows else math.nan,
            "mean_b": float(np.mean([r["b"] for r in rows.values()])) if rows else math.nan,
            "problems": rows}


@dataclass
class Scores:
    """What :func:`score` computes; ``summary``, ``per_problem`` and ``overhead`` are plain dicts."""

    budgets: list[int]
    strategies: list[str]
    problems: list[str]
    anchors: dict[str, tuple[float, float]]  # problem -> (baseline, best)
    # (strategy, budget) -> {"mean", "std_seeds", "sem_seeds", "rank", "n_problems", "n_runs"}
    summary: dict[tuple[str, int], dict] = field(default_factory=dict)
    # (problem, strategy, budget) -> {"mean", "std", "n"}
    per_problem: dict[tuple[str, str, int], dict] = field(default_factory=dict)
    # strategy -> {"overhead_mean_s", "overhead_median_s", "objective_mean_s", "n_trials", "errors"}
    overhead: dict[str, dict] = field(default_factory=dict)
    # (problem, strategy, seed, budget) -> score
    run_scores: dict[tuple[str, str, int, int], float] = field(default_factory=dict)
    # (problem, strategy, seed) -> normalised best-so-far curve (for plots)
    curves: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)
    objective_time: dict[str, dict] = field(default_factory=dict)  # family -> {"mean_s", "median_s", "n"}

    def wilcoxon(self, a: str, b: str, budget: int, unit: str = "problem") -> dict:
        """Paired Wilcoxon signed-rank test of ``a`` against ``b`` at ``budget``.

        ``unit="problem"`` pairs each problem's mean score over seeds; ``unit="run"`` pairs
        (problem, seed) runs. Returns ``{"n", "statistic", "pvalue", "mean_diff", "wins", "losses"}``
        where ``mean_diff`` is a's score minus b's and wins/losses count pairs.
        """
        if unit not in ("problem", "run"):
            raise ValueError(f"unit must be 'problem' or 'run', got {unit!r}")
        xa, xb = [], []
        if unit == "problem":
            for p in self.problems:
                sa, sb = self.per_problem.get((p, a, budget)), self.per_problem.get((p, b, budget))
                if sa and sb:
                    xa.append(sa["mean"])
                    xb.append(sb["mean"])
        else:
            for (p, s, seed, bud), v in self.run_scores.items():
                if s == a and bud == budget and (p, b, seed, budget) in self.run_scores:
                    xa.append(v)
                    xb.append(self.run_scores[(p, b, seed, budget)])
        return paired_test(xa, xb)

    def compare(self, a: str, b: str, budget: int, alpha: float = 0.05) -> dict:
        """Problem-by-problem comparison of ``a`` with ``b`` over paired seeds: :func:`compare`."""
        return compare(self, a, b, budget, alpha)


def _pick(records: list[dict], budget: int) -> dict[tuple[str, str, int], dict]:
    """For each (problem, strategy, seed) the finished run with the smallest budget >= ``budget``."""
    chosen: dict[tuple[str, str, int], dict] = {}
    for r in records:
        if r.get("status") not in ("ok", "stopped") or r["budget"] < budget or len(trace(r)) < budget:
            continue
        key = (r["benchmark"], r["strategy"], r["seed"])
        if key not in chosen or r["budget"] < chosen[key]["budget"]:
            chosen[key] = r
    return chosen


def _anchors(records: list[dict], random_names: Iterable[str]) -> dict[str, tuple[float, float]]:
    random_names = set(random_names)
    firsts: dict[str, list[float]] = {}
    random_firsts: dict[str, list[float]] = {}
    best: dict[str, float] = {}
    for r in records:
        losses = trace(r)
        bsf = best_so_far(losses)
        if not bsf.size or not np.isfinite(bsf[-1]):
            continue
        p = r["benchmark"]
        best[p] = min(best.get(p, np.inf), float(bsf[-1]))
        first = losses[0]
        if first is not None and math.isfinite(first):
            firsts.setdefault(p, []).append(first)
            if r["strategy"] in random_names:
                random_firsts.setdefault(p, []).append(first)
    out = {}
    for p in best:
        pool = random_firsts.get(p) or firsts.get(p) or [best[p]]
        out[p] = (float(np.median(pool)), float(best[p]))
    return out


def score(
    records: list[dict],
    budgets: Sequence[int] = BUDGETS,
    random_names: Iterable[str] = RANDOM_NAMES,
    strategies: Sequence[str] | None = None,
    seeds: Iterable[int] | None = None,
) -> Scores:
    """Score run records at each budget (budgets no run reaches are dropped); see the module doc.

    ``strategies`` and ``seeds`` restrict which strategies and seeds are scored and ranked; all
    runs still set the anchors, so scores stay comparable with an unrestricted report.
    """
    if not records:
        raise ValueError("no run records to score; point it at a folder written by `hpo bench run`")
    anchors = _anchors(records, random_names)
    if seeds is not None:
        wanted = set(seeds)
        records = [r for r in records if r["seed"] in wanted]
        if not records:
            raise ValueError(f"no runs with seeds {sorted(wanted)}")
    max_budget = max(r["budget"] for r in records)
    budgets = sorted({int(b) for b in budgets if b <= max_budget})
    if not budgets:
        raise ValueError(f"no budget to score at: the runs have at most {max_budget} evaluations")
    present = sorted({r["strategy"] for r in records})
    if strategies is not None:
        missing = [s for s in strategies if s not in present]
        if missing:
            raise ValueError(f"no runs of {missing}; the results hold {present}")
        present = [s for s in present if s in strategies]
    keep = set(present)
    problems = sorted(anchors)
    sc = Scores(budgets=budgets, strategies=present, problems=problems, anchors=anchors)
    for r in records:
        sc.kinds.setdefault(r["strategy"], r.get("kind", "hpo"))
        if r.get("family"):
            sc.families.setdefault(r["benchmark"], r["family"])

    for b in budgets:
        chosen = {k: v for k, v in _pick(records, b).items() if k[1] in keep}
        for (p, s, seed), r in chosen.items():
            base, best = anchors[p]
            sc.run_scores[(p, s, seed, b)] = float(100 * (1 - normalise(best_so_far(trace(r)[:b])[-1], base, best)))
        by_problem: dict[tuple[str, str], list[float]] = {}
        by_seed: dict[str, dict[int, list[float]]] = {}
        for (p, s, seed, bb), v in sc.run_scores.items():
            if bb == b:
                by_problem.setdefault((p, s), []).append(v)
                by_seed.setdefault(s, {}).setdefault(seed, []).append(v)
        for (p, s), vals in by_problem.items():
            sc.per_problem[(p, s, b)] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
        ranks = _ranks(chosen, b)
        for s in present:
            per_seed = by_seed.get(s)
            if not per_seed:
                continue
            seed_means = np.array([np.mean(v) for v in per_seed.values()])
            all_vals = [v for vals in per_seed.values() for v in vals]
            sc.summary[(s, b)] = {
                "mean": float(np.mean(all_vals)),
                "std_seeds": float(np.std(seed_means, ddof=1)) if seed_means.size > 1 else 0.0,
                "sem_seeds": float(np.std(seed_means, ddof=1) / math.sqrt(seed_means.size)) if seed_means.size > 1 else 0.0,
                "rank": float(np.mean(ranks[s])) if ranks.get(s) else math.nan,
                "n_problems": len({p for (p, ss) in by_problem if ss == s}),
                "n_runs": len(all_vals),
            }

    for (p, s, seed), r in _pick(records, 1).items():
        if s not in keep:
            continue
        base, best = anchors[p]
        sc.curves[(p, s, seed)] = normalise(best_so_far(trace(r)), base, best)
    _overheads(sc, [r for r in records if r["strategy"] in keep])
    return sc


def _ranks(chosen: dict[tuple[str, str, int], dict], budget: int) -> dict[str, list[float]]:
    cells: dict[tuple[str, int], dict[str, float]] = {}
    for (p, s, seed), r in chosen.items():
        cells.setdefault((p, seed), {})[s] = float(best_so_far(trace(r)[:budget])[-1])
    out: dict[str, list[float]] = {}
    for cell in cells.values():
        names = list(cell)
        ranks = stats.rankdata([cell[n] for n in names], method="average")
        for n, rk in zip(names, ranks):
            out.setdefault(n, []).append(float(rk))
    return out


def _overheads(sc: Scores, records: list[dict]) -> None:
    by_strategy: dict[str, list[dict]] = {}
    by_family: dict[str, list[float]] = {}
    cost_by_family: dict[str, list[float]] = {}
    for r in records:
        by_strategy.setdefault(r["strategy"], []).append(r)
        fam = r.get("family") or "external"
        by_family.setdefault(fam, []).extend(r.get("objective_s", []))
        cost_by_family.setdefault(fam, []).extend(c for c in r.get("costs", []) if c is not None)
    for s, runs in by_strategy.items():
        over = np.array([x for r in runs for x in r.get("overhead_s", [])], dtype=float)
        obj = np.array([x for r in runs for x in r.get("objective_s", [])], dtype=float)
        sc.overhead[s] = {
            "overhead_mean_s": float(over.mean()) if over.size else math.nan,
            "overhead_median_s": float(np.median(over)) if over.size else math.nan,
            "objective_mean_s": float(obj.mean()) if obj.size else math.nan,
            "n_trials": int(over.size),
            "runs": len(runs),
            "errors": sum(r.get("status") not in ("ok", "stopped") for r in runs),
            "stopped": sum(r.get("status") == "stopped" for r in runs),
            "wall_s": float(sum(r.get("wall_s", 0.0) for r in runs)),
            "cpu_s": float(sum(r["cpu_s"] for r in runs)) if all("cpu_s" in r for r in runs) else None,
        }
    for fam, xs in by_family.items():
        arr = np.array(xs, dtype=float)
        if arr.size:
            costs = np.array(cost_by_family.get(fam, []), dtype=float)
            sc.objective_time[fam] = {
                "mean_s": float(arr.mean()),
                "median_s": float(np.median(arr)),
                "n": int(arr.size),
                "reported_cost_mean": float(costs.mean()) if costs.size else None,
            }
