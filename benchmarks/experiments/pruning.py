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
``pruning.json`` and ``pruning.png`` beside it, with the folder's ``notes.md`` under the title.

Commands (from the repository root)::

    hpo bench pruning --seeds 10 --budget 50 --jobs 1     # = hpo bench experiment run pruning
    hpo bench experiment report pruning

Example:
    >>> from benchmarks import experiments
    >>> from benchmarks.experiments.pruning import experiment
    >>> exp = experiment("/tmp/hpo-doctest-pruning", problems=["branin-mf"], bases=["random"],
    ...                  pruners=["none", "asha"], seeds=2, budget=3, costs=[1, 3])
    >>> md = experiments.run(exp, jobs=1, progress=False)
    >>> "| random+asha |" in md.read_text()
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.experiments import RESULTS as _RESULTS
from benchmarks.experiments import Experiment, Sweep
from benchmarks.resultfiles import machine, write_outputs
from benchmarks.scoring import paired_test

__all__ = [
    "BASES",
    "COSTS",
    "EXPERIMENT",
    "PROBLEMS",
    "PRUNER_NAMES",
    "RESULTS",
    "best_at",
    "cost_curve",
    "experiment",
    "strategies",
    "summarise",
    "write_report",
]

# The two synthetic multi-fidelity functions and one cheap ML problem whose fidelity is epochs
# (a linear model trained by SGD on diabetes, 1 to 30 epochs; rungs at 1, 3, 10, 30 epochs;
# about 30 ms an evaluation, where an MLP on breast_cancer takes 40-220 ms).
PROBLEMS = ["branin-mf", "hartmann6-mf", "mf-linear-diabetes"]
BASES = ["tpe", "random"]
PRUNER_NAMES = ["none", "median", "asha", "hyperband"]
COSTS = (10, 25, 50)
RESULTS = _RESULTS / "pruning"


def strategies(bases: Sequence[str] = BASES, pruners: Sequence[str] = PRUNER_NAMES) -> list[str]:
    """``<base>+<pruner>`` for every base strategy and pruner, base by base."""
    return [f"{b}+{p}" for b in bases for p in pruners]


def experiment(folder: str | Path = RESULTS, problems: Sequence[str] = PROBLEMS, bases: Sequence[str] = BASES,
               pruners: Sequence[str] = PRUNER_NAMES, seeds: int = 10, budget: int = 50,
               costs: Sequence[float] = COSTS, check: bool = True) -> Experiment:
    """The pruning experiment on ``problems`` (multi-fidelity ones; ``check`` says so before any run)."""
    from benchmarks.runner import check_strategies

    if check:
        for p in problems:
            _check_multifidelity(p)
        check_strategies(strategies(bases, pruners))
    folder = Path(folder)
    sweep = Sweep(tuple(strategies(bases, pruners)), tuple(problems), tuple(range(seeds)), budget)

    def report(records: list[dict], command: str) -> Path:
        notes = folder / "notes.md"
        return write_report(records, folder, costs, notes.read_text() if notes.is_file() else None, command)

    return Experiment("pruning", "Pruning and ASHA at equal total cost", (sweep,), folder, report)


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
    """Paired test of losses ``a`` against ``b`` (lower is better): n, better, worse, p."""
    t = paired_test(a, b)
    return {"n": t["n"], "better": t["losses"], "worse": t["wins"], "pvalue": t["pvalue"]}


def summarise(records: list[dict], costs: Sequence[float] = COSTS) -> dict:
    """Every number of the report: per-problem best losses, scores, tests, counts and times."""
    from benchmarks.scoring import score

    records = [r for r in records if r.get("mode") == "multifidelity" and r.get("status") in ("ok", "stopped")]
    if not records:
        raise ValueError("no finished multi-fidelity runs to summarise; run `hpo bench pruning` first")
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


def write_report(records: list[dict], folder: str | Path, costs: Sequence[float] = COSTS, notes: str | None = None,
                 command: str | None = None) -> Path:
    """Summarise ``records``; write pruning.json, pruning.md and pruning.png into ``folder``.
    Returns the markdown path."""
    folder = Path(folder)
    summary = summarise(records, costs)
    summary["machine"] = machine()
    md = write_outputs(folder / "pruning", summary, markdown(summary, command=command, notes=notes))
    _plot(records, summary, folder / "pruning.png")
    return md


EXPERIMENT = experiment(check=False)
