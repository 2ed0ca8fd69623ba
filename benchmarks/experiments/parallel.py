"""Two worker processes against one: does a strategy keep its quality when trials run in parallel?

``tpe`` and ``gp`` run through ``Study.optimize`` with ``n_jobs=2`` (the variants ``tpe-2jobs``,
``gp-2jobs``: two processes sharing the study, each seeing the other's trial as pending) and
sequentially, with random search as the floor, on three synthetic problems, 20 seeds, 50 trials.
Every evaluation sleeps 0.05 s so that the two workers overlap. The report gives the best loss
per problem (mean and median over seeds) and the Bayesmark score over problems and seeds
(:mod:`benchmarks.scoring`), with paired Wilcoxon tests of 2 workers against 1.

    hpo bench experiment run parallel --jobs 1
    hpo bench experiment report parallel
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.experiments import RESULTS, Experiment, Sweep
from benchmarks.resultfiles import describe, machine, write_outputs
from benchmarks.runner import Variant
from benchmarks.scoring import best_so_far, paired_test, score, trace

__all__ = ["EXPERIMENT", "PROBLEMS", "STRATEGIES", "write_report"]

PROBLEMS = ("branin", "hartmann6", "mixed")
STRATEGIES = ("tpe", "gp")
SLEEP = 0.05
_FOLDER = RESULTS / "parallel"
_VARIANTS = {f"{s}-2jobs": Variant(s, n_jobs=2) for s in STRATEGIES}


def write_report(records: list[dict], folder: Path, command: str) -> Path:
    budget = min(r["budget"] for r in records)
    sc = score(records, budgets=[budget])
    best = {(r["strategy"], r["benchmark"], r["seed"]): float(best_so_far(trace(r))[-1])
            for r in records if r["status"] in ("ok", "stopped")}
    seeds = sorted({k for (_, _, k) in best})
    rows = []
    for problem in PROBLEMS:
        rnd = [best[("random", problem, k)] for k in seeds if ("random", problem, k) in best]
        for s in STRATEGIES:
            pair = [k for k in seeds if (s, problem, k) in best and (f"{s}-2jobs", problem, k) in best]
            one = [best[(s, problem, k)] for k in pair]
            two = [best[(f"{s}-2jobs", problem, k)] for k in pair]
            rows.append({"problem": problem, "strategy": s, "seeds": len(pair),
                         "one_mean": float(np.mean(one)), "one_median": float(np.median(one)),
                         "two_mean": float(np.mean(two)), "two_median": float(np.median(two)),
                         "p": paired_test(two, one)["pvalue"],
                         "random_mean": float(np.mean(rnd)), "random_median": float(np.median(rnd))})
    overall = []
    for s in STRATEGIES:
        w = sc.wilcoxon(f"{s}-2jobs", s, budget, unit="run")
        overall.append({"strategy": s, "one": sc.summary[(s, budget)]["mean"],
                        "two": sc.summary[(f"{s}-2jobs", budget)]["mean"], "difference": w["mean_diff"],
                        "p": w["pvalue"], "n": w["n"], "random": sc.summary[("random", budget)]["mean"]})
    meta = machine()
    data = {"budget": budget, "seeds": seeds, "sleep_s": SLEEP, "rows": rows, "overall": overall,
            "anchors": sc.anchors, "machine": meta,
            "git_commit": sorted({r.get("git_commit") for r in records if r.get("git_commit")})}
    lines = ["# Parallel workers against sequential", "",
             f"Produced by `{command}` (the runs: `hpo bench experiment run parallel`); report written "
             f"{meta['date']} on {describe(meta)}; runs made at commit(s) "
             f"{', '.join(c[:7] for c in data['git_commit']) or 'unknown'}.", "",
             f"Budget {budget} trials, {len(seeds)} seeds (`hpo bench experiment run parallel` runs the rest of the "
             f"definition's {len(EXPERIMENT.sweeps[0].seeds)}, keeping these), every evaluation sleeps {SLEEP} s so that the two "
             "workers overlap. Best loss: mean over seeds (median in brackets); p: paired Wilcoxon signed-rank "
             "test over seeds, n_jobs=2 against n_jobs=1.", "",
             "| problem | strategy | n_jobs=1 | n_jobs=2 | p (2 vs 1) | random, n_jobs=1 |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['problem']} | {r['strategy']} | {r['one_mean']:.4g} ({r['one_median']:.4g}) | "
                     f"{r['two_mean']:.4g} ({r['two_median']:.4g}) | {r['p']:.3g} | "
                     f"{r['random_mean']:.4g} ({r['random_median']:.4g}) |")
    lines += ["", f"Mean Bayesmark score over {', '.join(PROBLEMS)} and all seeds (anchored on these runs: 0 = "
              "median first evaluation of random search, 100 = best loss seen; p: paired Wilcoxon over (problem, "
              "seed) runs, n_jobs=2 against n_jobs=1):", "",
              "| strategy | n_jobs=1 | n_jobs=2 | difference | p | pairs | random, n_jobs=1 |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for o in overall:
        lines.append(f"| {o['strategy']} | {o['one']:.1f} | {o['two']:.1f} | {o['difference']:+.1f} | {o['p']:.3g} | "
                     f"{o['n']} | {o['random']:.1f} |")
    return write_outputs(folder / "parallel", data, "\n".join(lines) + "\n")


EXPERIMENT = Experiment(
    name="parallel",
    title="Parallel workers against sequential",
    sweeps=(Sweep(("tpe", "tpe-2jobs", "gp", "gp-2jobs", "random"), PROBLEMS, tuple(range(20)), 50, _VARIANTS,
                  sleep=SLEEP),),
    folder=_FOLDER,
    report=lambda records, command: write_report(records, _FOLDER, command),
)
