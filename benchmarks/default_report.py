"""The default strategy's report: the test half against every peer, the dev half beside it.

Reads the runs of ``hpo bench run`` in ``<root>/test`` and ``<root>/dev`` (and the parallel
runs, ``<strategy>@2``, where present), scores them with :mod:`benchmarks.scoring`
(Bayesmark-style, budgets 10, 20, 40, 100) and writes ``<root>/README.md``:

* mean score (± standard error over seeds) and mean rank per strategy and budget, test half
  first, dev half beside it; ranks per (problem, seed) among the strategies that ran it;
* per-budget paired Wilcoxon tests of ``auto`` against each peer, over problems (each
  problem's mean over the seeds both ran) and over (problem, seed) runs;
* ``auto`` against ``ax`` problem by problem (where the goal is missed, by how much);
* ``auto@2`` (two trials always in flight, :mod:`benchmarks.default_parallel`) against
  sequential ``auto``, paired over runs;
* CPU time per trial (:mod:`benchmarks.default_overhead`) and the sweep's own wall-clock
  overhead per trial;

plus ``summary.json`` (every number) and ``scores.png`` (score against budget, both halves).

Command::

    python -m benchmarks.default_report --root benchmarks/results/default
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path

import numpy as np

from benchmarks.default_suite import BUDGETS, DEV, TEST
from benchmarks.runner import load_results
from benchmarks.scoring import Scores, paired_test, score

__all__ = ["build", "main"]

ORDER = ["auto", "botorch", "ax", "optuna-gp", "hebo", "smac3-hpo", "optuna-tpe", "random"]


def _fmt(x: float | None, d: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def _p(x: float) -> str:
    return "–" if x is None or math.isnan(x) else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def _half(folder: Path, problems: list[str]) -> tuple[Scores | None, Scores | None, list[dict]]:
    """Scores of the sequential strategies and of the parallel runs (same anchors), and the records."""
    if not folder.is_dir():
        return None, None, []
    records = [r for r in load_results(folder) if r["benchmark"] in problems]
    if not records:
        return None, None, []
    seq = sorted({r["strategy"] for r in records if "@" not in r["strategy"]}, key=_rank_key)
    par = sorted({r["strategy"] for r in records if "@" in r["strategy"]})
    main = score(records, budgets=BUDGETS, strategies=seq)
    both = score(records, budgets=BUDGETS, strategies=seq + par) if par else None
    return main, both, records


def _rank_key(s: str) -> tuple:
    return (ORDER.index(s) if s in ORDER else len(ORDER), s)


def _seeds(sc: Scores, s: str) -> int:
    return len({k[2] for k in sc.run_scores if k[1] == s})


def _table(sc: Scores, title: str) -> list[str]:
    lines = [f"#### {title}", "", "| strategy | seeds | " + " | ".join(f"score @{b}" for b in sc.budgets)
             + " | " + " | ".join(f"rank @{b}" for b in sc.budgets) + " |",
             "|---|---:|" + "---:|" * (2 * len(sc.budgets))]
    for s in sc.strategies:
        cells = []
        for b in sc.budgets:
            v = sc.summary.get((s, b))
            cells.append("–" if v is None else f"{v['mean']:.1f} ± {v['sem_seeds']:.1f}")
        ranks = [_fmt(sc.summary.get((s, b), {}).get("rank"), 2) for b in sc.budgets]
        best = {b: min(sc.summary[(t, b)]["rank"] for t in sc.strategies if (t, b) in sc.summary) for b in sc.budgets}
        ranks = [f"**{r}**" if r != "–" and float(r) == round(best[b], 2) else r for r, b in zip(ranks, sc.budgets)]
        lines.append(f"| {s} | {_seeds(sc, s)} | " + " | ".join(cells) + " | " + " | ".join(ranks) + " |")
    return lines + [""]


def _tests(sc: Scores, a: str) -> tuple[list[str], dict]:
    out: dict = {}
    lines = [f"| {a} vs | budget | Δ score (problems) | p (problems) | wins/losses (problems) | Δ score (runs) | p (runs) | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for b_ in [s for s in sc.strategies if s != a]:
        for b in sc.budgets:
            prob = _paired_problems(sc, a, b_, b)
            run = sc.wilcoxon(a, b_, b, unit="run")
            out[f"{b_}@{b}"] = {"problems": prob, "runs": run}
            lines.append(f"| {b_} | {b} | {_fmt(prob['mean_diff'])} | {_p(prob['pvalue'])} | {prob['wins']}/{prob['losses']} "
                         f"| {_fmt(run['mean_diff'])} | {_p(run['pvalue'])} | {run['n']} |")
    return lines + [""], out


def _paired_problems(sc: Scores, a: str, b: str, budget: int) -> dict:
    """Per problem, the mean over the seeds both strategies ran; then a Wilcoxon test over problems."""
    xa, xb = [], []
    for p in sc.problems:
        seeds = sorted({k[2] for k in sc.run_scores if k[0] == p and k[1] == a and k[3] == budget}
                       & {k[2] for k in sc.run_scores if k[0] == p and k[1] == b and k[3] == budget})
        if seeds:
            xa.append(np.mean([sc.run_scores[(p, a, s, budget)] for s in seeds]))
            xb.append(np.mean([sc.run_scores[(p, b, s, budget)] for s in seeds]))
    return paired_test(xa, xb, zero_method="zsplit")


def _per_problem(sc: Scores, a: str, b: str) -> list[str]:
    lines = [f"| problem | " + " | ".join(f"{a} − {b} @{bb}" for bb in sc.budgets) + " |", "|---|" + "---:|" * len(sc.budgets)]
    for p in sc.problems:
        cells = []
        for bb in sc.budgets:
            sa, sb = sc.per_problem.get((p, a, bb)), sc.per_problem.get((p, b, bb))
            cells.append("–" if not (sa and sb) else _fmt(sa["mean"] - sb["mean"]))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines + [""]


def _parallel(both: Scores | None, a: str) -> tuple[list[str], dict]:
    if both is None or f"{a}@2" not in both.strategies:
        return ["(no parallel runs)", ""], {}
    out, lines = {}, [f"| budget | {a}@2 − {a} (runs) | p | wins/losses | runs |", "|---:|---:|---:|---:|---:|"]
    for b in both.budgets:
        t = both.wilcoxon(f"{a}@2", a, b, unit="run")
        if t["n"]:
            out[b] = t
            lines.append(f"| {b} | {_fmt(t['mean_diff'])} | {_p(t['pvalue'])} | {t['wins']}/{t['losses']} | {t['n']} |")
    return lines + [""], out


def _overhead(root: Path, sc: Scores | None) -> list[str]:
    lines = []
    path = root / "overhead.json"
    if path.exists():
        from benchmarks.default_overhead import summary

        data = json.loads(path.read_text())
        lines += [f"CPU time per trial, one thread ({data['command']}; load average at the start "
                  f"{', '.join(f'{x:.1f}' for x in data['loadavg_start'])}):", "", summary(data), ""]
    if sc is not None:
        lines += ["Wall-clock overhead per trial in the test sweep (time between evaluations; the machine's load "
                  "inflates it for every strategy alike), and the sweep's CPU time:", "",
                  "| strategy | mean ms/trial (wall) | median | CPU s, all runs |", "|---|---:|---:|---:|"]
        for s in sc.strategies:
            o = sc.overhead.get(s, {})
            lines.append(f"| {s} | {_fmt(1000 * o.get('overhead_mean_s', math.nan), 0)} | "
                         f"{_fmt(1000 * o.get('overhead_median_s', math.nan), 0)} | {_fmt(o.get('cpu_s'), 0)} |")
        lines.append("")
    return lines


def _plot(halves: dict[str, Scores], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(halves), figsize=(6 * len(halves), 4.2), squeeze=False)
    for ax, (name, sc) in zip(axes[0], halves.items()):
        for s in sc.strategies:
            xs = [b for b in sc.budgets if (s, b) in sc.summary]
            ys = [sc.summary[(s, b)]["mean"] for b in xs]
            es = [sc.summary[(s, b)]["sem_seeds"] for b in xs]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=s, lw=2.2 if s == "auto" else 1.2)
        ax.set_xscale("log")
        ax.set_xticks(list(sc.budgets), [str(b) for b in sc.budgets])
        ax.set_xlabel("evaluations")
        ax.set_ylabel("mean score (Bayesmark, higher is better)")
        ax.set_title(f"{name} half ({len(sc.problems)} problems)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build(root: str | Path) -> Path:
    """Score ``root``/test and ``root``/dev and write README.md, summary.json and scores.png there."""
    root = Path(root)
    test, test_par, test_records = _half(root / "test", TEST)
    dev, dev_par, dev_records = _half(root / "dev", DEV)
    if test is None and dev is None:
        raise FileNotFoundError(f"no runs under {root}/test or {root}/dev; run `hpo bench run` first (see the module doc)")
    commits = sorted({r.get("git_commit", "?")[:10] for r in test_records + dev_records})
    dirty = sum(bool(r.get("code_dirty")) for r in test_records + dev_records)
    lines = ["# The default strategy (`auto`) against its peers", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared (load average "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} when this report was written). Score: "
             "Bayesmark-normalised best loss so far (100 = best seen on the problem by any run, 0 = median first "
             "evaluation of random search), mean over problems and seeds, ± the standard error over seeds. "
             "Rank: mean over (problem, seed) of the rank among the strategies that ran it (1 = best; bold = best). "
             "Rules and defaults were chosen on the dev half only (benchmarks/default_suite.py).", "",
             f"Runs from commits {', '.join(commits)}" + (f" ({dirty} with local changes to scored code)" if dirty else "") + ".",
             "", "Commands:", "", "```",
             "hpo bench run -b default-test -s auto,ax,optuna-gp,optuna-tpe,smac3-hpo,random --seeds 10 --budget 100 "
             "--jobs 2 --out benchmarks/results/default/test",
             "hpo bench run -b default-test -s hebo --seeds 3 --budget 100 --jobs 2 --out benchmarks/results/default/test",
             "python -m benchmarks.default_parallel --strategy auto --workers 2 --seeds 5 --budget 40 "
             "--benchmarks default-test --out benchmarks/results/default/test",
             "hpo bench run -b default-dev -s auto,ax,optuna-gp,optuna-tpe,smac3-hpo,random --seeds 3 --budget 100 "
             "--jobs 2 --out benchmarks/results/default/dev",
             "python -m benchmarks.default_overhead --out benchmarks/results/default/overhead.json",
             "python -m benchmarks.default_report --root benchmarks/results/default", "```", ""]
    summary: dict = {}
    halves = {}
    for name, sc, par in (("test", test, test_par), ("dev", dev, dev_par)):
        if sc is None:
            continue
        halves[name] = sc
        lines += [f"## {name.capitalize()} half", ""] + _table(sc, f"{name} half: score and rank")
        entry = {"summary": {f"{s}@{b}": v for (s, b), v in sc.summary.items()}, "anchors": sc.anchors}
        if "auto" in sc.strategies:
            t_lines, t = _tests(sc, "auto")
            lines += [f"#### Paired Wilcoxon tests, {name} half", ""] + t_lines
            entry["tests"] = t
            if "ax" in sc.strategies:
                lines += [f"#### auto − ax per problem, {name} half (mean score over the seeds each ran)", ""]
                lines += _per_problem(sc, "auto", "ax")
            p_lines, p = _parallel(par, "auto")
            lines += [f"#### Two trials in flight against one, {name} half", ""] + p_lines
            entry["parallel"] = {str(k): v for k, v in p.items()}
        summary[name] = entry
    lines += ["## Overhead", ""] + _overhead(root, test)
    if halves:
        _plot(halves, root / "scores.png")
        lines += ["![score against budget](scores.png)", ""]
    md = root / "README.md"
    md.write_text("\n".join(lines))
    (root / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    return md


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default="benchmarks/results/default")
    args = ap.parse_args(argv)
    print(build(args.root).read_text())


if __name__ == "__main__":
    main()
