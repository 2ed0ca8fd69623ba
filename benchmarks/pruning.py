"""Pruning and ASHA at equal cost: no pruning, the median rule, successive halving, hyperband.

Each strategy ``<base>+<pruner>`` (``tpe+asha``, ``random+none``, ...) runs through the hpo
Study on a multi-fidelity problem rung by rung (fidelity max/27, max/9, max/3, max),
reporting every rung with ``trial.report`` and stopping when ``trial.should_prune()`` says so
(optuna's pruners, set to the ladder by :func:`benchmarks.runner.ladder_pruner`). ``+none``
runs every rung of every trial: the no-pruning baseline, spending the same cost per
configuration as a plain full-fidelity run.

The budget is a *total cost*, not a number of trials: cost is fidelity spent, in
full-evaluation equivalents, counting a trial that moves to the next rung as continuing
(the increment; ASHA's and the median rule's assumption for epochs). A pruned run therefore
starts many more trials than an unpruned one for the same cost. What counts is the best loss
of a configuration evaluated at *full* fidelity within the cost spent so far; losses at lower
rungs only steer the pruner. The report gives that best loss at a few costs, per problem and
as a Bayesmark-style score across problems (:mod:`benchmarks.scoring`, anchored on
``random+none``), with paired Wilcoxon signed-rank tests of every pruned variant against the
same base strategy without pruning, plus one plot of best loss against cumulative cost.

Run files go to ``benchmarks/results/pruning/runs/`` (one JSON per run, as the runner
writes them; the same command resumes an interrupted sweep); the report packs them into
``runs.jsonl.gz`` (committed, as the run folder is large) and writes ``pruning.md``,
``pruning.json`` and ``pruning.png`` beside it.

Commands (from the repository root)::

    nice -n 10 python -m benchmarks.pruning run --seeds 10 --budget 50 --jobs 1
    python -m benchmarks.pruning report --costs 10,25,50

Example:
    >>> from benchmarks.pruning import run, report
    >>> paths = run(out="/tmp/hpo-doctest-pruning", problems=["branin-mf"], bases=["random"],
    ...             pruners=["none", "asha"], seeds=2, budget=3, jobs=1, progress=False)
    >>> md = report("/tmp/hpo-doctest-pruning", costs=[1, 3])
    >>> "| random+asha |" in md.read_text()
    True
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

__all__ = [
    "BASES",
    "COSTS",
    "PROBLEMS",
    "PRUNER_NAMES",
    "RESULTS",
    "best_at",
    "cost_curve",
    "load_records",
    "main",
    "report",
    "run",
    "strategies",
    "summarise",
]

# The two synthetic multi-fidelity functions and one cheap ML problem whose fidelity is epochs
# (a linear model trained by SGD on diabetes, 1 to 30 epochs; rungs at 1, 3, 10, 30 epochs;
# about 30 ms an evaluation, where an MLP on breast_cancer takes 40-220 ms).
PROBLEMS = ["branin-mf", "hartmann6-mf", "mf-linear-diabetes"]
BASES = ["tpe", "random"]
PRUNER_NAMES = ["none", "median", "asha", "hyperband"]
COSTS = (10, 25, 50)
RESULTS = Path(__file__).resolve().parent / "results" / "pruning"
_PACKED = "runs.jsonl.gz"


def strategies(bases: Sequence[str] = BASES, pruners: Sequence[str] = PRUNER_NAMES) -> list[str]:
    """``<base>+<pruner>`` for every base strategy and pruner, base by base."""
    return [f"{b}+{p}" for b in bases for p in pruners]


def run(out: str | Path = RESULTS, problems: Sequence[str] = PROBLEMS, bases: Sequence[str] = BASES,
        pruners: Sequence[str] = PRUNER_NAMES, seeds: int = 10, budget: int = 50, jobs: int = 1,
        progress: bool = True) -> list[Path]:
    """Run (or resume) the sweep; run files go to ``<out>/runs``. Returns their paths."""
    from benchmarks.runner import run_suite

    for p in problems:
        _check_multifidelity(p)
    return run_suite(strategies(bases, pruners), list(problems), seeds=seeds, budget=budget,
                     out=Path(out) / "runs", jobs=jobs, progress=progress)


def _check_multifidelity(name: str) -> None:
    from benchmarks.registry import make_benchmark

    bench = make_benchmark(name)
    fs = bench.get_fidelity_space() if hasattr(bench, "get_fidelity_space") else None
    if fs is None or not list(fs.keys()):
        raise ValueError(f"{name!r} has no fidelity; pruning needs a multi-fidelity problem (branin-mf, mf-mlp-digits, ...)")


# --- curves: best full-fidelity loss against cumulative cost ---------------------------


def cost_curve(record: dict, grid: Sequence[float]) -> np.ndarray:
    """Best loss among full-fidelity evaluations finished within each cumulative cost of ``grid``.

    ``inf`` where no configuration had reached full fidelity yet. Cost is the record's
    ``resources`` (full-evaluation equivalents per evaluation).
    """
    res = np.asarray(record["resources"], dtype=float)
    frac = np.asarray(record["fractions"], dtype=float)
    loss = np.array([np.inf if v is None else float(v) for v in record["losses"]], dtype=float)
    full = np.where((frac >= 1 - 1e-9) & np.isfinite(loss), loss, np.inf)
    cum = np.cumsum(res)
    best = np.minimum.accumulate(full) if full.size else full
    idx = np.searchsorted(cum, np.asarray(grid, dtype=float) + 1e-9, side="right") - 1
    return np.where(idx >= 0, best[np.clip(idx, 0, max(best.size - 1, 0))] if best.size else np.inf, np.inf)


def best_at(record: dict, cost: float) -> float:
    """Best full-fidelity loss within ``cost`` (inf if none)."""
    return float(cost_curve(record, [cost])[0])


def _run_stats(record: dict) -> dict:
    numbers = record.get("trial_numbers") or []
    frac = np.asarray(record.get("fractions") or [], dtype=float)
    started = len(set(numbers))
    full = int(np.sum(frac >= 1 - 1e-9))
    return {
        "trials": started,
        "full": full,
        "stopped_early": started - full,  # pruned, plus the last trial cut by the budget
        "cost": float(np.sum(record.get("resources") or [])),
        "restart_cost": float(np.sum(frac)),  # the same evaluations if every rung retrained from scratch
        "wall_s": float(record.get("wall_s", math.nan)),
        "objective_s": float(np.sum(record.get("objective_s") or [])),
        "overhead_s": float(np.sum(record.get("overhead_s") or [])),
        "evaluations": len(numbers),
    }


# --- summary -----------------------------------------------------------------------------


def _wilcoxon(a: np.ndarray, b: np.ndarray) -> dict:
    """Paired two-sided Wilcoxon signed-rank test of losses ``a`` against ``b`` (lower is better)."""
    d = a - b
    out = {"n": int(d.size), "better": int((d < 0).sum()), "worse": int((d > 0).sum())}
    if d.size == 0 or np.all(d == 0):
        return {**out, "pvalue": 1.0 if d.size else math.nan}
    return {**out, "pvalue": float(stats.wilcoxon(a, b).pvalue)}


def summarise(records: list[dict], costs: Sequence[float] = COSTS) -> dict:
    """Every number of the report: per-problem best losses, scores, tests, counts and times."""
    from benchmarks.scoring import score

    records = [r for r in records if r.get("mode") == "multifidelity" and r.get("status") in ("ok", "stopped")]
    if not records:
        raise ValueError("no finished multi-fidelity runs to summarise; run `python -m benchmarks.pruning run` first")
    costs = sorted({float(c) for c in costs})
    problems = sorted({r["benchmark"] for r in records})
    strats = sorted({r["strategy"] for r in records}, key=_strategy_order)
    by = {(r["benchmark"], r["strategy"], r["seed"]): r for r in records}
    seeds = sorted({r["seed"] for r in records})
    per_problem: dict = {}
    for p in problems:
        finite = [float(v) for r in records if r["benchmark"] == p
                  for v, f in zip(r["losses"], r["fractions"]) if v is not None and f >= 1 - 1e-9]
        worst = max(finite) if finite else 0.0  # stands in for "no full evaluation yet" in the tests
        for s in strats:
            runs = [by[(p, s, k)] for k in seeds if (p, s, k) in by]
            if not runs:
                continue
            st = [_run_stats(r) for r in runs]
            entry = {"seeds": [r["seed"] for r in runs], "runs": len(runs),
                     **{f"{k}_mean": float(np.mean([x[k] for x in st])) for k in st[0]}, "at": {}}
            baseline = f"{s.partition('+')[0]}+none"
            for c in costs:
                vals = np.array([best_at(r, c) for r in runs])
                fin = vals[np.isfinite(vals)]
                cell = {
                    "losses": [None if not math.isfinite(v) else v for v in vals.tolist()],
                    "mean": float(fin.mean()) if fin.size == vals.size and fin.size else None,
                    "std": float(fin.std()) if fin.size == vals.size and fin.size else None,
                    "median": float(np.median(np.where(np.isfinite(vals), vals, np.inf))) if vals.size else None,
                    "missing": int(vals.size - fin.size),
                }
                if s != baseline and all((p, baseline, r["seed"]) in by for r in runs):
                    a = np.where(np.isfinite(vals), vals, worst)
                    b = np.array([best_at(by[(p, baseline, r["seed"])], c) for r in runs])
                    b = np.where(np.isfinite(b), b, worst)
                    cell["vs_no_pruning"] = _wilcoxon(a, b)
                entry["at"][_key(c)] = cell
            per_problem[f"{p}|{s}"] = entry
    # the score across problems: Bayesmark-normalised, at whole units of cost
    int_costs = [int(c) for c in costs if float(c).is_integer()]
    anchor = [s for s in strats if s == "random+none"] or [s for s in strats if s.endswith("+none")]
    sc = score(records, budgets=int_costs, random_names=anchor)
    overall: dict = {}
    for s in strats:
        baseline = f"{s.partition('+')[0]}+none"
        row: dict = {"at": {}}
        for c in sc.budgets:
            summ = sc.summary.get((s, c))
            if summ is None:
                continue
            cell = {"score": summ["mean"], "std_seeds": summ["std_seeds"], "rank": summ["rank"], "n_runs": summ["n_runs"]}
            if s != baseline and baseline in strats:
                w = sc.wilcoxon(s, baseline, c, unit="run")
                cell["vs_no_pruning"] = {"n": w["n"], "pvalue": w["pvalue"], "mean_diff": w["mean_diff"],
                                         "better": w["wins"], "worse": w["losses"]}
            row["at"][str(c)] = cell
        st = [_run_stats(r) for r in records if r["strategy"] == s]
        row.update({f"{k}_mean": float(np.mean([x[k] for x in st])) for k in st[0]})
        overall[s] = row
    timing: dict = {}
    for p in problems:
        rs = [r for r in records if r["benchmark"] == p]
        obj = np.array([x for r in rs for x in r["objective_s"]], dtype=float)
        frac = np.array([x for r in rs for x in r["fractions"]], dtype=float)
        full = obj[frac >= 1 - 1e-9]
        timing[p] = {
            "family": rs[0].get("family"),
            "evaluation_mean_s": float(obj.mean()),
            "full_evaluation_mean_s": float(full.mean()) if full.size else None,
            "lowest_rung_mean_s": float(obj[frac <= frac.min() + 1e-9].mean()),
            "run_wall_mean_s": float(np.mean([r["wall_s"] for r in rs])),
            "evaluations": int(obj.size),
        }
    return {
        "problems": problems,
        "strategies": strats,
        "seeds": seeds,
        "budget": max(r["budget"] for r in records),
        "costs": costs,
        "anchors": {p: list(v) for p, v in sc.anchors.items()},
        "overall": overall,
        "per_problem": per_problem,
        "timing": timing,
        "pruners": {s: next((r.get("pruner") for r in records if r["strategy"] == s), None) for s in strats},
        "git_commit": sorted({r.get("git_commit") for r in records if r.get("git_commit")}),
        "code_dirty": any(r.get("code_dirty") for r in records),
        "versions": next((r.get("versions") for r in records if r.get("versions")), {}),
        "wall_total_s": float(sum(r.get("wall_s", 0.0) for r in records)),
    }



def _key(c: float) -> str:
    return str(int(c)) if float(c).is_integer() else str(c)


def _strategy_order(s: str) -> tuple:
    base, _, pruner = s.partition("+")
    b = BASES.index(base) if base in BASES else len(BASES)
    p = PRUNER_NAMES.index(pruner) if pruner in PRUNER_NAMES else len(PRUNER_NAMES)
    return (b, base, p, pruner)


# --- report -----------------------------------------------------------------------------


def load_records(folder: str | Path = RESULTS) -> list[dict]:
    """The run records: from ``<folder>/runs`` when it exists, else from ``<folder>/runs.jsonl.gz``."""
    from benchmarks.runner import load_results

    folder = Path(folder)
    if (folder / "runs").is_dir():
        return load_results(folder / "runs")
    packed = folder / _PACKED
    if packed.is_file():
        with gzip.open(packed, "rt") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    raise FileNotFoundError(f"no runs under {str(folder)!r}: run `python -m benchmarks.pruning run --out {folder}` first")


def _pack(records: list[dict], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # no name, mtime=0: the same records give the same bytes
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as fh:
        for r in sorted(records, key=lambda r: (r["benchmark"], r["strategy"], r["seed"], r["budget"])):
            r = {k: v for k, v in r.items() if not k.startswith("_")}
            fh.write((json.dumps(r, sort_keys=True, default=str) + "\n").encode())
    os.replace(tmp, path)


def _p(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.3f}" if x >= 0.001 else f"{x:.0e}"


def _loss(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.4g}"


def markdown(summary: dict, command: str | None = None, notes: str | None = None) -> str:
    costs = [_key(c) for c in summary["costs"]]
    int_costs = [c for c in costs if c in next(iter(summary["overall"].values()))["at"]]
    lines = ["# Pruning and ASHA at equal total cost", ""]
    lines.append(
        f"{len(summary['problems'])} multi-fidelity problems ({', '.join(summary['problems'])}), "
        f"{len(summary['strategies'])} strategies, {len(summary['seeds'])} seeds, a budget of "
        f"{summary['budget']} full-evaluation equivalents of cost per run. Cost is fidelity spent "
        "(a trial moving to the next rung continues: it pays the increment). Every trial runs the "
        "rungs max/27, max/9, max/3, max of the problem's fidelity through the hpo Study, reporting "
        "each with `trial.report` and stopping when `trial.should_prune()` says so. A run's loss at "
        "cost c is the best loss of a configuration evaluated at full fidelity within cost c."
    )
    if command:
        lines += ["", f"Produced by `{command}`."]
    if notes:
        lines += ["", notes.strip()]
    lines += ["", "Pruners (optuna's, set to the ladder):", ""]
    seen = set()
    for s, text in summary["pruners"].items():
        pr = s.partition("+")[2]
        if pr not in seen:
            seen.add(pr)
            lines.append(f"- `{pr}`: `{text}`")
    lines += ["", "## Score across problems", "",
              ("Bayesmark-normalised best loss (100 = best loss seen on the problem, 0 = median first "
              "full evaluation of `random+none`), mean over problems and seeds (± standard deviation "
              "over seeds); p: paired Wilcoxon signed-rank test against the same base strategy "
              "without pruning over (problem, seed) runs (two-sided), with the count of runs better / worse. "
              "Trials, full evaluations: mean per run over the whole budget."), ""]
    head = ["strategy"] + [f"score@{c}" for c in int_costs] + [f"p@{c} (better/worse)" for c in int_costs]
    head += [f"rank@{int_costs[-1]}", "trials", "full evals", "restart cost"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary["strategies"]:
        row = summary["overall"][s]
        cells = [s]
        for c in int_costs:
            v = row["at"].get(c)
            cells.append(f"{v['score']:.1f} ± {v['std_seeds']:.1f}" if v else "–")
        for c in int_costs:
            w = (row["at"].get(c) or {}).get("vs_no_pruning")
            cells.append(f"{_p(w['pvalue'])} ({w['better']}/{w['worse']})" if w else "baseline")
        last = row["at"].get(int_costs[-1])
        cells += [f"{last['rank']:.2f}" if last else "–", f"{row['trials_mean']:.0f}", f"{row['full_mean']:.1f}",
                  f"{row['restart_cost_mean']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ("`restart cost`: what the same evaluations would cost if every rung retrained from scratch "
              "(sum of the fidelity fractions evaluated), in full-evaluation equivalents."), ""]
    lines += ["## Best loss per problem", "",
              ("Mean ± standard deviation over seeds of the best full-fidelity loss within the cost "
              "(lower is better; `n missing` where a run had no full evaluation yet: then the mean is "
              "not given, the median is); p: paired Wilcoxon signed-rank test against the same base without "
              "pruning over seeds (a missing value counts as the worst full-fidelity loss seen on the problem)."), ""]
    for p in summary["problems"]:
        lines += [f"### {p}", ""]
        head = ["strategy"] + [f"best loss@{c}" for c in costs] + [f"p@{c}" for c in costs] + ["trials", "full evals"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for s in summary["strategies"]:
            e = summary["per_problem"].get(f"{p}|{s}")
            if e is None:
                continue
            cells = [s]
            for c in costs:
                v = e["at"][c]
                if v["mean"] is not None:
                    cells.append(f"{_loss(v['mean'])} ± {_loss(v['std'])}")
                else:
                    cells.append(f"median {_loss(v['median'] if v['median'] is not None and math.isfinite(v['median']) else None)} ({v['missing']} missing)")
            for c in costs:
                w = e["at"][c].get("vs_no_pruning")
                cells.append(f"{_p(w['pvalue'])} ({w['better']}/{w['worse']})" if w else "baseline")
            cells += [f"{e['trials_mean']:.0f}", f"{e['full_mean']:.1f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Time per evaluation", "",
              ("Wall time of one objective evaluation (mean over every evaluation of every run; the "
              "lowest rung and a full-fidelity evaluation separately) and of one run (objective, "
              "strategy and pruner together)."), "",
              "| problem | family | evaluation (ms) | lowest rung (ms) | full fidelity (ms) | run wall (s) | evaluations |",
              "|---|---|---|---|---|---|---|"]
    for p, t in summary["timing"].items():
        full = t["full_evaluation_mean_s"]
        lines.append(f"| {p} | {t['family']} | {t['evaluation_mean_s'] * 1000:.2f} | {t['lowest_rung_mean_s'] * 1000:.2f} | "
                     f"{'–' if full is None else f'{full * 1000:.2f}'} | {t['run_wall_mean_s']:.1f} | {t['evaluations']} |")
    lines += ["", (f"All runs together: {summary['wall_total_s'] / 60:.1f} min of worker time. "
              f"Code: {', '.join(c[:7] for c in summary['git_commit']) or 'unknown'}"
              f"{' (with local changes under hpo/ or benchmarks/)' if summary['code_dirty'] else ''}."),
              "", "Plot: `pruning.png` (median over seeds of the best full-fidelity loss against cumulative cost).", ""]
    return "\n".join(lines)


def _plot(records: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = summary["problems"]
    budget = summary["budget"]
    grid = np.linspace(0, budget, 201)[1:]
    fig, axes = plt.subplots(1, len(problems) + 1, figsize=(4.2 * (len(problems) + 1), 3.8), squeeze=False)
    colours = {p: plt.cm.tab10(i) for i, p in enumerate(PRUNER_NAMES)}
    styles = {b: ls for b, ls in zip(BASES, ["-", "--", ":", "-."])}
    by: dict = {}
    for r in records:
        by.setdefault((r["benchmark"], r["strategy"]), []).append(r)
    for ax, p in zip(axes[0], problems):
        opt = next((r.get("optimum") for r in records if r["benchmark"] == p and r.get("optimum") is not None), None)
        for s in summary["strategies"]:
            runs = by.get((p, s))
            if not runs:
                continue
            curves = np.array([cost_curve(r, grid) for r in runs])
            med = np.median(curves, axis=0)
            y = med - opt if opt is not None else med
            base, _, pr = s.partition("+")
            ax.plot(grid, np.where(np.isfinite(y), y, np.nan), color=colours.get(pr, "k"), ls=styles.get(base, "-"),
                    lw=1.4, label=s)
        if opt is not None:
            ax.set_yscale("log")
            ax.set_ylabel("best loss − optimum (median over seeds)")
        else:
            base_l, best_l = summary["anchors"][p]
            pad = 0.05 * (base_l - best_l) if base_l > best_l else 0.01
            ax.set_ylim(best_l - pad, base_l + pad)  # the score's range: random's first draw to the best seen
            ax.set_ylabel("best loss (median over seeds)")
        ax.set_title(p)
        ax.set_xlabel("cumulative cost (full evaluations)")
        ax.grid(alpha=0.3)
    ax = axes[0][-1]
    anchors = summary["anchors"]
    for s in summary["strategies"]:
        per = []
        for p in problems:
            base_l, best_l = anchors[p]
            span = base_l - best_l
            for r in by.get((p, s), []):
                c = cost_curve(r, grid)
                per.append(100 * (1 - np.clip((c - best_l) / span, 0, 1)) if span > 0 else np.where(c <= best_l, 100.0, 0.0))
        if per:
            base, _, pr = s.partition("+")
            ax.plot(grid, np.mean(per, axis=0), color=colours.get(pr, "k"), ls=styles.get(base, "-"), lw=1.4, label=s)
    ax.set_title("score, mean over problems and seeds")
    ax.set_xlabel("cumulative cost (full evaluations)")
    ax.set_ylabel("Bayesmark score (higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(folder: str | Path = RESULTS, costs: Sequence[float] = COSTS, notes: str | None = None,
           command: str | None = None) -> Path:
    """Summarise the runs under ``folder``; write runs.jsonl.gz (when the run files are there),
    pruning.json, pruning.md and pruning.png into ``folder``. Returns the markdown path."""
    folder = Path(folder)
    records = load_records(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "runs").is_dir():
        _pack(records, folder / _PACKED)
    summary = summarise(records, costs)
    summary["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    (folder / "pruning.json").write_text(json.dumps(summary, indent=1, default=str))
    md = folder / "pruning.md"
    md.write_text(markdown(summary, command=command, notes=notes))
    _plot(records, summary, folder / "pruning.png")
    return md


def print_table(summary: dict) -> None:
    """The score table on stdout."""
    costs = list(next(iter(summary["overall"].values()))["at"])
    print(f"{'strategy':<18}" + "".join(f"{'score@' + c:>11}{'p':>8}" for c in costs) + f"{'trials':>8}{'full':>7}")
    for s in summary["strategies"]:
        row = summary["overall"][s]
        cells = ""
        for c in costs:
            v = row["at"].get(c) or {}
            w = v.get("vs_no_pruning")
            cells += f"{v.get('score', math.nan):>11.1f}{(_p(w['pvalue']) if w else 'base'):>8}"
        print(f"{s:<18}{cells}{row['trials_mean']:>8.0f}{row['full_mean']:>7.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pruning", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run (or resume) the sweep, then write the report")
    r.add_argument("--out", default=str(RESULTS))
    r.add_argument("--problems", default=",".join(PROBLEMS))
    r.add_argument("--bases", default=",".join(BASES))
    r.add_argument("--pruners", default=",".join(PRUNER_NAMES))
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--budget", type=int, default=50, help="total cost per run, in full-evaluation equivalents")
    r.add_argument("--jobs", type=int, default=1)
    r.add_argument("--costs", default=",".join(map(str, COSTS)))
    r.add_argument("--quiet", action="store_true")
    rep = sub.add_parser("report", help="write pruning.md / .json / .png from the runs")
    rep.add_argument("--out", default=str(RESULTS))
    rep.add_argument("--costs", default=",".join(map(str, COSTS)))
    rep.add_argument("--notes", default=None, help="a markdown file whose text goes under the title")
    args = ap.parse_args(argv)
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]
    costs = [float(c) for c in split(args.costs)]
    if args.cmd == "run":
        t0 = time.perf_counter()
        run(args.out, split(args.problems), split(args.bases), split(args.pruners), args.seeds, args.budget,
            args.jobs, progress=not args.quiet)
        print(f"sweep done in {time.perf_counter() - t0:.0f} s")
    notes = Path(args.notes).read_text() if getattr(args, "notes", None) else None
    command = f"python -m benchmarks.pruning report --out {args.out} --costs {args.costs}" + (
        f" --notes {args.notes}" if getattr(args, "notes", None) else "")
    md = report(args.out, costs, notes=notes, command=command)
    print_table(json.loads((Path(args.out) / "pruning.json").read_text()))
    print(f"wrote {md} and pruning.json, pruning.png beside it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
