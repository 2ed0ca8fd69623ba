"""Each hpo wrapper against the library it wraps, called natively with the wrapper's own settings.

For every wrapper (``tpe`` = optuna's TPESampler, ``hyperopt-tpe`` = hyperopt's TPE, ``smac`` /
``smac-bb`` = SMAC3's facades) both sides run the same problems, seeds and budget: the hpo
strategy through the Study (as every benchmark run does), and the library's own loop
(:mod:`benchmarks.peers`) given the settings the wrapper uses: TPE multivariate, grouped, with
constant liar and 10 startup trials; hyperopt with 10 startup trials and integers declared as hpo
declares them; SMAC's forest on one thread and no run history written on each tell, as hpo's
``smac`` does. The report gives, per problem, the best loss (median over seeds), a paired
Wilcoxon signed-rank test of the per-seed best losses (:func:`benchmarks.scoring.paired_test`),
the mean Bayesmark score of each side (:func:`benchmarks.scoring.score`, anchored on these runs)
and the optimizer overhead per trial in CPU time (the runner's ``overhead_cpu_s``: the worker's
CPU time between one evaluation and the next, which the machine's load does not inflate).

    hpo bench experiment run wrappers --jobs 2
    hpo bench experiment report wrappers
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.experiments import RESULTS, Experiment, Sweep
from benchmarks.resultfiles import describe, machine, write_outputs
from benchmarks.runner import Variant
from benchmarks.scoring import best_so_far, paired_test, score, trace

__all__ = ["NATIVE", "PROBLEMS", "SYNTHETIC", "EXPERIMENT", "write_report", "overhead_ms"]

PROBLEMS = ("branin", "hartmann6", "mixed", "ml-svm-wine", "ml-dt-breast_cancer", "ml-linear-diabetes")
SYNTHETIC = PROBLEMS[:3]
_TPE = {"n_startup_trials": 10, "multivariate": True, "group": True, "constant_liar": True}

#: hpo strategy -> (the native run's name, its settings): the library with the wrapper's settings.
NATIVE: dict[str, tuple[str, Variant]] = {
    "tpe": ("native-tpe", Variant("optuna-tpe", _TPE)),
    "hyperopt-tpe": ("native-hyperopt-tpe", Variant("hyperopt", {"n_startup_jobs": 10, "int_encoding": "quniform"})),
    "smac": ("native-smac", Variant("smac3-hpo", {"forest_n_jobs": 1, "save": False})),
    "smac-bb": ("native-smac-bb", Variant("smac3-bb", {"save": False})),
}
_FOLDER = RESULTS / "wrappers"


def _sweep(wrappers: tuple[str, ...], problems: tuple[str, ...]) -> Sweep:
    names = tuple(n for w in wrappers for n in (w, NATIVE[w][0]))
    return Sweep(names, problems, tuple(range(10)), 50, {NATIVE[w][0]: NATIVE[w][1] for w in wrappers})


def overhead_ms(runs: list[dict]) -> float:
    """Mean CPU milliseconds per trial between evaluations, over every trial of ``runs``."""
    xs = [x for r in runs for x in (r.get("overhead_cpu_s") or []) if x is not None]
    return 1e3 * float(np.mean(xs)) if xs else math.nan


def _best(r: dict) -> float:
    return float(best_so_far(trace(r))[-1])


def write_report(records: list[dict], folder: Path, command: str) -> Path:
    """The wrapper table: per wrapper and problem, both sides' best losses, the test, scores, overhead."""
    budget = min(r["budget"] for r in records)
    sc = score(records, budgets=[budget])
    by = {(r["strategy"], r["benchmark"], r["seed"]): r for r in records if r["status"] in ("ok", "stopped")}
    rows, totals = [], []
    for ours, (native, v) in NATIVE.items():
        all_o, all_n = [], []
        for problem in PROBLEMS:
            seeds = sorted(k for (s, p, k) in by if s == ours and p == problem and (native, p, k) in by)
            if not seeds:
                continue
            o = [by[(ours, problem, k)] for k in seeds]
            n = [by[(native, problem, k)] for k in seeds]
            bo, bn = [_best(r) for r in o], [_best(r) for r in n]
            t = paired_test(bo, bn)
            all_o += o
            all_n += n
            rows.append({"wrapper": ours, "native": native, "library": v.base, "problem": problem, "seeds": len(seeds),
                         "best_ours_median": float(np.median(bo)), "best_native_median": float(np.median(bn)),
                         "ours_better": t["losses"], "ours_worse": t["wins"], "p": t["pvalue"],
                         "score_ours": sc.per_problem[(problem, ours, budget)]["mean"],
                         "score_native": sc.per_problem[(problem, native, budget)]["mean"],
                         "overhead_ours_ms": overhead_ms(o), "overhead_native_ms": overhead_ms(n)})
        if all_o:
            totals.append({"wrapper": ours, "native": native, "settings": v.describe(), "runs": len(all_o),
                           "overhead_ours_ms": overhead_ms(all_o), "overhead_native_ms": overhead_ms(all_n),
                           "cpu_ours_s": float(sum(r.get("cpu_s", 0.0) for r in all_o)),
                           "cpu_native_s": float(sum(r.get("cpu_s", 0.0) for r in all_n))})
    meta = machine()
    seeds = sorted({r["seed"] for r in records})
    data = {"budget": budget, "seeds": seeds, "rows": rows, "totals": totals, "anchors": sc.anchors, "machine": meta,
            "git_commit": sorted({r.get("git_commit") for r in records if r.get("git_commit")})}
    return write_outputs(folder / "wrappers", data, _markdown(data, command, meta))


def _span(seeds: list[int]) -> str:
    """``0-4`` for a contiguous run of seeds, else the list."""
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ", ".join(map(str, seeds))


def _pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.0f}%" if b and math.isfinite(a) and math.isfinite(b) else "–"


def _markdown(data: dict, command: str, meta: dict) -> str:
    lines = ["# Wrappers against the libraries called natively", "",
             f"Produced by `{command}` (the runs: `hpo bench experiment run wrappers`); report written "
             f"{meta['date']} on {describe(meta)}; runs made at commit(s) "
             f"{', '.join(c[:7] for c in data['git_commit']) or 'unknown'}.", "",
             f"Budget {data['budget']}; seeds {_span(data['seeds'])} (`hpo bench experiment run wrappers` runs the "
             "rest of the definition's 0-9, keeping these). Each side runs with the wrapper's settings (see the totals "
             "table). Best loss: median over seeds (lower is better); ours better / worse: seeds where our best "
             "loss is lower / higher; p: paired Wilcoxon signed-rank test of the per-seed best losses (two-sided); "
             "score: mean Bayesmark score over seeds (anchored on these runs: 0 = median first evaluation, 100 = "
             "best loss seen); overhead: CPU time per trial between evaluations (ask, tell, the library's work), "
             "mean over every trial.", "",
             "| wrapper | problem | seeds | best (ours) | best (native) | ours better / worse | p | score ours | "
             "score native | overhead ours (ms) | overhead native (ms) | ours adds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in data["rows"]:
        lines.append(f"| {r['wrapper']} | {r['problem']} | {r['seeds']} | {r['best_ours_median']:.4g} | "
                     f"{r['best_native_median']:.4g} | {r['ours_better']} / {r['ours_worse']} | {r['p']:.3g} | "
                     f"{r['score_ours']:.1f} | {r['score_native']:.1f} | {r['overhead_ours_ms']:.1f} | "
                     f"{r['overhead_native_ms']:.1f} | {_pct(r['overhead_ours_ms'], r['overhead_native_ms'])} |")
    lines += ["", "Over all problems (overhead: mean CPU ms per trial; CPU: the runs' worker CPU time, objective "
              "included):", "",
              "| wrapper | native run | native settings | runs | overhead ours | overhead native | ours adds | "
              "CPU ours (s) | CPU native (s) |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for t in data["totals"]:
        st = t["settings"]
        settings = f"`{st['base']}` " + ", ".join(f"{k}={v!r}" for k, v in st["kwargs"].items())
        lines.append(f"| {t['wrapper']} | {t['native']} | {settings} | {t['runs']} | {t['overhead_ours_ms']:.1f} | "
                     f"{t['overhead_native_ms']:.1f} | {_pct(t['overhead_ours_ms'], t['overhead_native_ms'])} | "
                     f"{t['cpu_ours_s']:.0f} | {t['cpu_native_s']:.0f} |")
    return "\n".join(lines) + "\n"


EXPERIMENT = Experiment(
    name="wrappers",
    title="Wrappers against the libraries called natively",
    sweeps=(_sweep(("tpe", "hyperopt-tpe", "smac"), PROBLEMS), _sweep(("smac-bb",), SYNTHETIC)),
    folder=_FOLDER,
    report=lambda records, command: write_report(records, _FOLDER, command),
)
