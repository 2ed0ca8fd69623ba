"""Markdown tables and matplotlib plots from a results folder.

``write_report(results, out)`` scores the runs (:mod:`benchmarks.scoring`) and writes
``report.md`` (mean score and mean rank per strategy at each budget with the spread over
seeds, per-problem scores, paired Wilcoxon tests of each hpo strategy against its native
peer (HomOpt against its base) and against random search, overhead per trial, objective time per family),
``scores.json`` (every number in the tables) and three plots: ``regret.png`` (normalised
best-so-far loss per problem, median over seeds with an interquartile band),
``rank.png`` (mean rank against the number of evaluations) and ``overhead.png``.

Example:
    >>> from benchmarks.runner import run_suite
    >>> from benchmarks.report import write_report
    >>> _ = run_suite(["random", "optuna-tpe"], ["branin"], seeds=2, budget=10,
    ...               out="/tmp/hpo-doctest-report", jobs=1, progress=False)
    >>> md = write_report("/tmp/hpo-doctest-report", "/tmp/hpo-doctest-report/report")
    >>> "| optuna-tpe |" in md.read_text()
    True
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.runner import load_results
from benchmarks.scoring import BUDGETS, Scores, score, RANDOM_NAMES

__all__ = ["write_report", "markdown", "PAIRS"]

# each hpo strategy next to the library it wraps, run natively
PAIRS = [
    ("random", "optuna-random"),
    ("tpe", "optuna-tpe"),
    ("hyperopt-tpe", "hyperopt"),
    ("smac", "smac3-hpo"),
    ("smac-bb", "smac3-bb"),
    ("gp", "optuna-gp"),
]


def _homopt_base(strategy: str) -> str | None:
    """HomOpt's base strategy (``homopt`` alone wraps HomOptStrategy's default base), or None for other strategies."""
    name, _, base = strategy.partition(":")
    if name != "homopt":
        return None
    if base:
        return base
    import inspect

    from hpo.strategies.homopt import HomOptStrategy

    return inspect.signature(HomOptStrategy).parameters["base"].default


def _fmt(x: float, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ms(x: float) -> str:
    if x is None or math.isnan(x):
        return "–"
    return f"{x * 1000:.1f}" if x < 10 else f"{x * 1000:.0f}"


def markdown(sc: Scores, title: str = "Benchmark results", command: str | None = None, notes: str | None = None) -> str:
    """The report as markdown text."""
    b_main = 50 if 50 in sc.budgets else sc.budgets[-1]
    order = sorted(sc.strategies, key=lambda s: -sc.summary.get((s, b_main), {}).get("mean", -1))
    lines = [f"# {title}", ""]
    n_seeds = max((v["n_runs"] // max(v["n_problems"], 1) for v in sc.summary.values()), default=0)
    lines.append(
        f"{len(sc.problems)} problems, {len(sc.strategies)} strategies, up to {n_seeds} seeds, "
        f"budgets {', '.join(map(str, sc.budgets))}. Score: Bayesmark-normalised, 100 = best loss seen on "
        f"the problem, 0 = median first evaluation of random search; higher is better. Rank: mean rank per "
        f"(problem, seed), 1 = best. ± is the standard deviation over seeds of the mean score across problems. "
        f"'stopped early': runs the library ended before the budget (its best loss stands); 'errors': crashed runs, left out."
    )
    if command:
        lines += ["", f"Produced by `{command}`."]
    if notes:
        lines += ["", notes.strip()]
    lines += ["", "## Mean score and rank", ""]
    head = ["strategy", "kind"] + [f"score@{b}" for b in sc.budgets] + [f"rank@{b}" for b in sc.budgets]
    head += ["overhead/trial (ms)", "runs", "stopped early", "errors"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in order:
        row = [s, sc.kinds.get(s, "hpo")]
        for b in sc.budgets:
            v = sc.summary.get((s, b))
            row.append(f"{_fmt(v['mean'])} ± {_fmt(v['std_seeds'])}" if v else "–")
        for b in sc.budgets:
            v = sc.summary.get((s, b))
            row.append(_fmt(v["rank"], 2) if v else "–")
        o = sc.overhead.get(s, {})
        row += [_ms(o.get("overhead_mean_s", math.nan)), str(o.get("runs", 0)), str(o.get("stopped", 0)), str(o.get("errors", 0))]
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", f"## Score per problem at budget {b_main} (mean over seeds)", ""]
    head = ["problem", "family"] + order
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in sc.problems:
        cells = [sc.per_problem.get((p, s, b_main)) for s in order]
        best = max((c["mean"] for c in cells if c), default=None)
        row = [p, sc.families.get(p, "")]
        for c in cells:
            txt = _fmt(c["mean"]) if c else "–"
            row.append(f"**{txt}**" if c and best is not None and c["mean"] == best else txt)
        lines.append("| " + " | ".join(row) + " |")

    lines += ["", f"## Paired Wilcoxon tests at budget {b_main}", ""]
    # Under 6 pairs a two-sided Wilcoxon test cannot reach p < 0.05, so few problems are paired by run.
    unit = "problem" if len(sc.problems) >= 6 else "run"
    what = ("problems (each problem's mean score over seeds)" if unit == "problem"
            else "runs (problem, seed), since fewer than 6 problems cannot reach p < 0.05 as pairs")
    lines.append(
        f"Pairs are {what}; Δ = mean score difference (first − second); "
        "W/L = pairs where the first scores higher/lower. p is two-sided and not corrected for multiple tests."
    )
    lines += ["", "| first | second | n | Δ score | W/L | p |", "|---|---|---|---|---|---|"]
    pairs = [(a, b) for a, b in PAIRS if a in sc.strategies and b in sc.strategies]
    pairs += [(s, base) for s in order if (base := _homopt_base(s)) in sc.strategies]
    rand = next((r for r in ("random", "optuna-random") if r in sc.strategies), None)
    if rand:
        pairs += [(s, rand) for s in order if s not in RANDOM_NAMES and (s, rand) not in pairs]
    for a, b in pairs:
        t = sc.wilcoxon(a, b, b_main, unit=unit)
        lines.append(f"| {a} | {b} | {t['n']} | {_fmt(t['mean_diff'])} | {t['wins']}/{t['losses']} | {_fmt(t['pvalue'], 3)} |")

    lines += ["", "## Strategy overhead per trial", ""]
    lines.append("Time from the end of one evaluation to the start of the next (ask + tell + library work), never scored.")
    lines.append("CPU time is the worker process's, recorded by runs made since it was added ('–' where a strategy's runs lack it).")
    lines += ["", "| strategy | mean (ms) | median (ms) | trials | runs | run time, all runs (s) | CPU time, all runs (s) |",
              "|---|---|---|---|---|---|---|"]
    for s in sorted(sc.overhead, key=lambda s: sc.overhead[s]["overhead_mean_s"]):
        o = sc.overhead[s]
        cpu = o.get("cpu_s")
        lines.append(
            f"| {s} | {_ms(o['overhead_mean_s'])} | {_ms(o['overhead_median_s'])} | {o['n_trials']} | {o['runs']} "
            f"| {o['wall_s']:.0f} | {'–' if cpu is None else f'{cpu:.0f}'} |"
        )
    total = sum(o["wall_s"] for o in sc.overhead.values())
    lines += ["", f"Sum of run times: {total:.0f} s ({total / 3600:.2f} h of one worker; divide by the jobs for wall time)."]
    cpus = [o.get("cpu_s") for o in sc.overhead.values()]
    if cpus and all(c is not None for c in cpus):
        lines[-1] += f" Sum of CPU times: {sum(cpus):.0f} s ({sum(cpus) / 3600:.2f} h)."

    lines += ["", "## Time per problem evaluation, by family", ""]
    lines.append(
        "Measured wall time of `objective_function` in this sweep, and the mean `cost` the benchmark reports: "
        "for tabular problems that is the live cross-validation time recorded when the table was built (seconds), "
        "for synthetic ones a nominal 1 per evaluation."
    )
    lines += ["", "| family | mean (ms) | median (ms) | evaluations | reported cost (mean) |", "|---|---|---|---|---|"]
    for fam, t in sorted(sc.objective_time.items()):
        rc = t.get("reported_cost_mean")
        lines.append(f"| {fam} | {_ms(t['mean_s'])} | {_ms(t['median_s'])} | {t['n']} | {'–' if rc is None else f'{rc:.3g}'} |")
    lines += ["", "## Anchors (loss at score 0 and 100)", "", "| problem | baseline (0) | best seen (100) |", "|---|---|---|"]
    for p in sc.problems:
        base, best = sc.anchors[p]
        lines.append(f"| {p} | {base:.6g} | {best:.6g} |")
    lines += ["", "Plots: `regret.png` (normalised best-so-far loss, median and interquartile band over seeds), "
              "`rank.png` (mean rank against evaluations), `overhead.png`.", ""]
    return "\n".join(lines)


def _style(sc: Scores, strategies: Sequence[str]):
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    return {s: {"color": cmap(i % 20), "ls": "-" if sc.kinds.get(s) != "peer" else "--"} for i, s in enumerate(strategies)}


def _plot_regret(sc: Scores, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = _style(sc, sc.strategies)
    n = len(sc.problems)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, p in zip(axes.flat, sc.problems):
        for s in sc.strategies:
            curves = [c for (pp, ss, _), c in sc.curves.items() if pp == p and ss == s]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            arr = np.stack([c[:length] for c in curves])
            x = np.arange(1, length + 1)
            med = np.median(arr, axis=0)
            lo, hi = np.percentile(arr, 25, axis=0), np.percentile(arr, 75, axis=0)
            ax.plot(x, med, label=s, lw=1.3, **style[s])
            ax.fill_between(x, lo, hi, color=style[s]["color"], alpha=0.12, lw=0)
        ax.set_title(p, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("evaluations", fontsize=8)
        ax.set_ylabel("normalised loss", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(7, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if rows > 1 else 0.12, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_rank(sc: Scores, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import rankdata

    style = _style(sc, sc.strategies)
    length = min((len(c) for c in sc.curves.values()), default=0)
    cells: dict[tuple[str, int], dict[str, np.ndarray]] = {}
    for (p, s, seed), c in sc.curves.items():
        cells.setdefault((p, seed), {})[s] = c[:length]
    sums = {s: np.zeros(length) for s in sc.strategies}
    counts = {s: 0 for s in sc.strategies}
    for cell in cells.values():
        names = list(cell)
        mat = np.stack([cell[n] for n in names])
        ranks = np.apply_along_axis(rankdata, 0, mat)
        for i, n in enumerate(names):
            sums[n] += ranks[i]
            counts[n] += 1
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    x = np.arange(1, length + 1)
    for s in sc.strategies:
        if counts[s]:
            ax.plot(x, sums[s] / counts[s], label=s, lw=1.5, **style[s])
    ax.set_xlabel("evaluations")
    ax.set_ylabel("mean rank (1 = best)")
    ax.set_title("Mean rank over problems and seeds")
    ax.legend(fontsize=7, ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_overhead(sc: Scores, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(sc.overhead, key=lambda s: sc.overhead[s]["overhead_mean_s"])
    vals = [max(sc.overhead[s]["overhead_mean_s"], 1e-5) * 1000 for s in names]
    colors = ["tab:orange" if sc.kinds.get(s) == "peer" else "tab:blue" for s in names]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, vals, color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("mean overhead per trial (ms, log scale); blue = hpo, orange = native peer")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _scores_json(sc: Scores) -> dict:
    def clean(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    return {
        "budgets": sc.budgets,
        "anchors": {p: {"baseline": a, "best": b} for p, (a, b) in sc.anchors.items()},
        "summary": [{"strategy": s, "budget": b, **{k: clean(v) for k, v in d.items()}} for (s, b), d in sorted(sc.summary.items())],
        "per_problem": [
            {"problem": p, "strategy": s, "budget": b, **d} for (p, s, b), d in sorted(sc.per_problem.items())
        ],
        "overhead": {s: {k: clean(v) for k, v in d.items()} for s, d in sc.overhead.items()},
        "objective_time": sc.objective_time,
    }


def write_report(
    results: str | Path,
    out: str | Path,
    budgets: Sequence[int] = BUDGETS,
    strategies: Sequence[str] | None = None,
    title: str = "Benchmark results",
    command: str | None = None,
    notes: str | None = None,
    seeds: Sequence[int] | None = None,
) -> Path:
    """Score ``results`` and write ``report.md``, ``scores.json`` and the PNGs into ``out``.

    ``strategies`` and ``seeds`` restrict the report (every run still sets the score anchors).
    """
    sc = score(load_results(results), budgets=budgets, strategies=strategies, seeds=seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    md.write_text(markdown(sc, title=title, command=command, notes=notes))
    (out / "scores.json").write_text(json.dumps(_scores_json(sc), indent=1, default=float))
    _plot_regret(sc, out / "regret.png")
    _plot_rank(sc, out / "rank.png")
    _plot_overhead(sc, out / "overhead.png")
    return md
