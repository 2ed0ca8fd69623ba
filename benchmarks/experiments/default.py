"""The default strategy (``auto``) against its peers: the test half reported, the dev half beside it.

The suite is :mod:`benchmarks.default_suite` (24 problems, 12 matched pairs, split before any
tuning). Sweeps, all through the one runner (same seeding, records and resume as ``hpo bench
run``):

* ``test``: auto, ax, optuna-gp, optuna-tpe, smac3-hpo and random on the test half, 10 seeds,
  100 trials (scored at 10, 20, 40 and 100); hebo on seeds 0-2 (a run costs minutes of CPU);
* ``dev``: the same strategies on the dev half, seeds 0-2 (auto 0-9, ax 0-1): where auto's
  rules and botorch's defaults were chosen (ranks there count auto's seeds 3-9, which only auto
  ran, as firsts: read its scores and paired tests);
* ``parallel``: ``auto-2jobs`` (``Study.optimize(n_jobs=2)``: two worker processes on one study,
  each seeing the other's trial as pending) and ``auto-ray2`` (``RayExecutor(max_concurrent=2)``
  on a local Ray started for the run: two Ray Tune trials at once) on the test half, seeds 0-4,
  40 trials, paired with sequential auto's first 40 trials;
* ``overhead``: auto and botorch for 200 trials on three cheap test problems (the runner's
  per-trial CPU time, ``overhead_cpu_s``, at 40 and 200 trials);
* ``variants``: botorch with and without L-BFGS refinement of the acquisition on five dev
  problems (how its default was chosen);
* ``candidates``: botorch settings that may replace auto's default, on the dev half, seeds
  0-2, 40 trials: hyperparameters refitted after every trial (``refit="every"``, as Ax
  does), alone and with L-BFGS refinement of the acquisition, and a 5-iteration L-BFGS; seeds
  0-9: five local-search rounds, cold fits at every refit point, both, Ax's treatment of the
  losses (the bad tail winsorised at Tukey's fence instead of a power transform), Ax's
  acquisition (BoTorch's noisy log EI), and plain botorch (auto's rule under other seeds: the
  noise a candidate must beat), L-BFGS refinement from the 20th trial on, an upper confidence
  bound instead of EI on every fifth trial without improvement; paired with auto's
  first 40 trials on the same (problem, seed);
* ``hard``: auto, ax, random, the control (plain botorch) and three candidates (5-iteration
  L-BFGS; L-BFGS from trial 20; UCB on every fifth trial without improvement) on ``DEV_HARD``
  (8 choosing problems with headroom, declared after the dev half proved all but solved),
  seeds 0-4, 40 trials.

The report (``README.md`` and ``default.json`` in the folder, ``scores.png``): mean score (±
standard error over seeds) and mean rank per budget; per-budget paired Wilcoxon tests of auto
against each peer over problems and over (problem, seed) runs; auto − ax per problem; every
strategy's score per problem (and how many problems auto and ax both all but solve); n_jobs=2
against sequential; CPU per trial; where the proposals land on the 6-D shifted multimodal pair
(distance to the incumbent and to the optimum: how local each strategy's search is); which
branch of the conditional pair each strategy settles on; the candidates on the harder dev problems.

    python -m benchmarks.experiments.default run --jobs 2     # resumes; packs runs.jsonl.gz; report
    python -m benchmarks.experiments.default report
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from benchmarks.default_suite import BUDGETS, DEV, DEV_HARD, TEST
from benchmarks.experiments import RESULTS, Experiment, Sweep
from benchmarks.resultfiles import describe, machine, write_outputs
from benchmarks.runner import Variant
from benchmarks.scoring import RANDOM_NAMES, Scores, best_so_far, paired_test, score

__all__ = ["EXPERIMENT", "STRATEGIES", "write_report", "main"]

STRATEGIES = ("auto", "ax", "optuna-gp", "optuna-tpe", "smac3-hpo", "random")
OVERHEAD_PROBLEMS = ("hartmann6", "int-levy8", "conditional")
LOCALITY_PROBLEMS = ("levy6-shifted", "ackley6-shifted")  # the 6-D shifted multimodal pair: dev, test
BRANCH_PROBLEMS = {"cond-shifted": "kind", "conditional": "branch"}  # conditional problem -> its root switch
VARIANT_PROBLEMS = ("branin", "levy6-shifted", "rosenbrock12-shifted", "mixed", "cond-shifted")
_FOLDER = RESULTS / "default"
_VARIANTS = {
    "auto-2jobs": Variant("auto", n_jobs=2),
    "auto-ray2": Variant("auto", n_jobs=2, executor="ray"),
    "botorch-lbfgs": Variant("botorch", {"num_restarts": 2, "maxiter": 10}),
    "botorch-refit": Variant("botorch", {"refit": "every"}),
    "botorch-refit-lbfgs": Variant("botorch", {"refit": "every", "num_restarts": 4, "maxiter": 30}),
    "botorch-rounds5": Variant("botorch", {"local_rounds": 5}),
    "botorch-coldfits": Variant("botorch", {"cold_fits": "always"}),
    "botorch-rounds5-coldfits": Variant("botorch", {"local_rounds": 5, "cold_fits": "always"}),
    "botorch-lbfgs5": Variant("botorch", {"num_restarts": 2, "maxiter": 5}),
    "botorch-winsorize": Variant("botorch", {"y_transform": "winsorize"}),
    "botorch-lognei": Variant("botorch", {"acquisition": "lognei"}),
    "botorch-lbfgs-late": Variant("botorch", {"num_restarts": 2, "maxiter": 10, "refine_after": 20}),
    "botorch-explore5": Variant("botorch", {"explore_every": 5}),
}
CANDIDATES = ("botorch-refit", "botorch-refit-lbfgs", "botorch-lbfgs5",  # seeds 0-2
              "botorch", "botorch-rounds5", "botorch-coldfits", "botorch-rounds5-coldfits",  # seeds 0-9
              "botorch-winsorize", "botorch-lognei", "botorch-lbfgs-late",
              "botorch-explore5")
HARD = ("auto", "ax", "random", "botorch", "botorch-lbfgs5", "botorch-lbfgs-late", "botorch-explore5")  # on DEV_HARD
PARALLEL = ("auto-2jobs", "auto-ray2")
_ORDER = ["auto", "botorch", "ax", "optuna-gp", "hebo", "smac3-hpo", "optuna-tpe", "random"]

SWEEPS = {
    "test": (Sweep(STRATEGIES, tuple(TEST), tuple(range(10)), 100),
             Sweep(("hebo",), tuple(TEST), (0, 1, 2), 100)),
    "dev": (Sweep(tuple(s for s in STRATEGIES if s != "ax"), tuple(DEV), (0, 1, 2), 100),
            Sweep(("ax",), tuple(DEV), (0, 1), 100), Sweep(("auto",), tuple(DEV), tuple(range(3, 10)), 100)),
    "parallel": (Sweep(("auto-2jobs", "auto-ray2"), tuple(TEST), tuple(range(5)), 40, _VARIANTS),),
    "overhead": (Sweep(("auto", "botorch"), OVERHEAD_PROBLEMS, (0,), 200),),
    "variants": (Sweep(("botorch", "botorch-lbfgs"), VARIANT_PROBLEMS, (0, 1), 40, _VARIANTS),),
    "candidates": (Sweep(CANDIDATES[:3], tuple(DEV), (0, 1, 2), 40, _VARIANTS),
                   Sweep(CANDIDATES[3:], tuple(DEV), tuple(range(10)), 40, _VARIANTS)),
    "hard": (Sweep(HARD, tuple(DEV_HARD), tuple(range(5)), 40, _VARIANTS),),
}


def _fmt(x: float | None, d: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def _p(x: float) -> str:
    return "–" if x is None or math.isnan(x) else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def _key(s: str) -> tuple:
    return (_ORDER.index(s) if s in _ORDER else len(_ORDER), s)


def _score(records: list[dict], problems: list[str], strategies: list[str], seeds=None) -> Scores | None:
    recs = [r for r in records if r["benchmark"] in problems and r["budget"] == 100]
    present = sorted({r["strategy"] for r in recs} & set(strategies), key=_key)
    return score(recs, budgets=BUDGETS, strategies=present, seeds=seeds) if present else None


def _seeds(sc: Scores, s: str) -> int:
    return len({k[2] for k in sc.run_scores if k[1] == s})


def _table(sc: Scores) -> list[str]:
    lines = ["| strategy | seeds | " + " | ".join(f"score @{b}" for b in sc.budgets) + " | "
             + " | ".join(f"rank @{b}" for b in sc.budgets) + " |", "|---|---:|" + "---:|" * (2 * len(sc.budgets))]
    for s in sc.strategies:
        cells = [("–" if (s, b) not in sc.summary else
                  f"{sc.summary[(s, b)]['mean']:.1f} ± {sc.summary[(s, b)]['sem_seeds']:.1f}") for b in sc.budgets]
        ranks = [_rank_cell(sc, s, b) for b in sc.budgets]
        lines.append(f"| {s} | {_seeds(sc, s)} | " + " | ".join(cells) + " | " + " | ".join(ranks) + " |")
    return lines + [""]


def _rank_cell(sc: Scores, s: str, b: int) -> str:
    """``s``'s mean rank at budget ``b``, bold where it is the best."""
    r = sc.summary.get((s, b), {}).get("rank")
    if r is None:
        return "–"
    best = min(v["rank"] for (_, bb), v in sc.summary.items() if bb == b)
    return f"**{r:.2f}**" if math.isclose(r, best) else f"{r:.2f}"


def _common_ranks(records: list[dict], problems: list[str], sc: Scores) -> tuple[list[str], dict]:
    """Mean ranks on the seeds every strategy of ``sc`` ran, when they ran different seeds (a
    strategy run on fewer seeds otherwise ranks among fewer rivals on the others)."""
    seeds = {s: {k[2] for k in sc.run_scores if k[1] == s} for s in sc.strategies}
    common = set.intersection(*seeds.values())
    if not common or all(v == common for v in seeds.values()):
        return [], {}
    cs = _score(records, problems, sc.strategies, seeds=common)
    lines = [f"On the seeds every strategy ran ({_seed_list(common)}), the mean ranks are:", "",
             "| strategy | " + " | ".join(f"rank @{b}" for b in cs.budgets) + " |", "|---|" + "---:|" * len(cs.budgets)]
    for s in sorted(cs.strategies, key=_key):
        lines.append(f"| {s} | " + " | ".join(_rank_cell(cs, s, b) for b in cs.budgets) + " |")
    ranks = {s: {b: cs.summary[(s, b)]["rank"] for b in cs.budgets} for s in cs.strategies}
    return lines + [""], {"seeds": sorted(common), "ranks": ranks}


def _seed_list(seeds: set[int]) -> str:
    xs = sorted(seeds)
    return f"seeds {xs[0]}-{xs[-1]}" if xs == list(range(xs[0], xs[-1] + 1)) else "seeds " + ", ".join(map(str, xs))


def _paired_problems(sc: Scores, a: str, b: str, budget: int) -> dict:
    """Per problem the mean over the seeds both ran; a Wilcoxon test over problems (ties split)."""
    xa, xb = [], []
    for p in sc.problems:
        seeds = sorted({k[2] for k in sc.run_scores if k[:2] == (p, a) and k[3] == budget}
                       & {k[2] for k in sc.run_scores if k[:2] == (p, b) and k[3] == budget})
        if seeds:
            xa.append(np.mean([sc.run_scores[(p, a, s, budget)] for s in seeds]))
            xb.append(np.mean([sc.run_scores[(p, b, s, budget)] for s in seeds]))
    return paired_test(xa, xb, zero_method="zsplit")


def _tests(sc: Scores, a: str) -> tuple[list[str], dict]:
    out: dict = {}
    lines = [f"| {a} against | budget | Δ score, problems | p | better on | Δ score, runs | p | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for other in [s for s in sc.strategies if s != a]:
        for b in sc.budgets:
            prob = _paired_problems(sc, a, other, b)
            run = sc.wilcoxon(a, other, b, unit="run")
            out[f"{other}@{b}"] = {"problems": prob, "runs": run}
            lines.append(f"| {other} | {b} | {prob['mean_diff']:+.1f} | {_p(prob['pvalue'])} | "
                         f"{prob['wins']}/{prob['n']} | {run['mean_diff']:+.1f} | {_p(run['pvalue'])} | {run['n']} |")
    return lines + [""], out


def _per_problem(sc: Scores, a: str, b: str) -> list[str]:
    lines = ["| problem | " + " | ".join(f"@{bb}" for bb in sc.budgets) + " |", "|---|" + "---:|" * len(sc.budgets)]
    for p in sc.problems:
        cells = []
        for bb in sc.budgets:
            sa, sb = sc.per_problem.get((p, a, bb)), sc.per_problem.get((p, b, bb))
            cells.append("–" if not (sa and sb) else f"{sa['mean'] - sb['mean']:+.1f}")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines + [""]


def _problem_scores(sc: Scores, strategies: list[str], pair: tuple[str, str] = ("auto", "ax"), level: float = 95.0,
                    at: int = 40) -> tuple[list[str], dict]:
    """Each problem's mean score per strategy at every budget, and the problems on which both of
    ``pair`` score at least ``level`` at ``at`` trials (problems both all but solve cannot tell them apart)."""
    shown = [s for s in strategies if s in sc.strategies]
    lines = ["| problem | " + " | ".join(shown) + " |", "|---|" + "---:|" * len(shown)]
    data: dict = {}
    for p in sc.problems:
        cells = []
        for s in shown:
            means = [sc.per_problem[(p, s, b)]["mean"] if (p, s, b) in sc.per_problem else None for b in sc.budgets]
            data[f"{p}|{s}"] = means
            cells.append(" / ".join("–" if m is None else f"{m:.0f}" for m in means))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    solved = [p for p in sc.problems
              if all(sc.per_problem.get((p, s, at), {}).get("mean", -math.inf) >= level for s in pair)]
    data["solved"] = {"strategies": pair, "level": level, "budget": at, "problems": solved}
    note = (f"Cells: mean score at {' / '.join(map(str, sc.budgets))} trials. On {len(solved)} of {len(sc.problems)} "
            f"problems {' and '.join(pair)} both score {level:.0f} or more at {at} trials"
            + (f" ({', '.join(solved)}): there they can hardly be told apart." if solved else "."))
    return [note, ""] + lines + [""], data


def _cpu_ms(records: list[dict], strategy: str, problems, first: int, last: int | None = None,
            budget: int | None = None) -> float:
    xs = [x for r in records if r["strategy"] == strategy and r["benchmark"] in problems
          and (budget is None or r["budget"] == budget)
          for x in (r.get("overhead_cpu_s") or [])[first:last] if x is not None]
    return 1e3 * float(np.mean(xs)) if xs else math.nan


def _overhead(records: list[dict]) -> tuple[list[str], dict]:
    """CPU ms per trial (the runner's overhead_cpu_s): trials 1-40 of the test runs, and the 200-trial runs."""
    data: dict = {}
    lines = ["| strategy | CPU ms/trial, trials 1-40 (test half) | trials 1-200 | trials 181-200 | wall ms/trial, 1-40 |",
             "|---|---:|---:|---:|---:|"]
    strategies = sorted({r["strategy"] for r in records if "@" not in r["strategy"]}, key=_key)
    for s in strategies:
        at40 = _cpu_ms(records, s, TEST, 0, 40, budget=100)
        at200 = _cpu_ms(records, s, OVERHEAD_PROBLEMS, 0, 200, budget=200)
        tail = _cpu_ms(records, s, OVERHEAD_PROBLEMS, 180, 200, budget=200)
        wall = [x for r in records if r["strategy"] == s and r["benchmark"] in TEST and r["budget"] == 100
                for x in (r.get("overhead_s") or [])[:40] if x is not None]
        data[s] = {"cpu_ms_40": at40, "cpu_ms_200": at200, "cpu_ms_181_200": tail,
                   "wall_ms_40": 1e3 * float(np.mean(wall)) if wall else math.nan}
        if not all(math.isnan(v) for v in data[s].values()):
            lines.append(f"| {s} | {_fmt(at40, 0)} | {_fmt(at200, 0)} | {_fmt(tail, 0)} | {_fmt(data[s]['wall_ms_40'], 0)} |")
    return lines + [""], data


def _variants(records: list[dict]) -> tuple[list[str], dict]:
    recs = [r for r in records if r["strategy"] in ("botorch", "botorch-lbfgs") and r["budget"] == 40
            and r["benchmark"] in VARIANT_PROBLEMS]
    if not recs:
        return ["(no runs yet)", ""], {}
    lines = ["| problem | botorch @10 | botorch @40 | botorch-lbfgs @10 | botorch-lbfgs @40 |", "|---|---:|---:|---:|---:|"]
    data: dict = {}
    for p in VARIANT_PROBLEMS:
        cells = []
        for s in ("botorch", "botorch-lbfgs"):
            runs = [r for r in recs if r["strategy"] == s and r["benchmark"] == p]
            for b in (10, 40):
                vals = [min(x for x in r["losses"][:b] if x is not None) for r in runs]
                data[f"{p}|{s}|{b}"] = float(np.median(vals)) if vals else math.nan
                cells.append(f"{np.median(vals):.4g}" if vals else "–")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    cpu = {s: _cpu_ms(recs, s, VARIANT_PROBLEMS, 0, 40) for s in ("botorch", "botorch-lbfgs")}
    data["cpu_ms"] = cpu
    lines += ["", "Median best loss over seeds 0-1; CPU per trial: "
              + ", ".join(f"{s} {_fmt(v, 0)} ms" for s, v in cpu.items()), ""]
    return lines, data


def _locality(records: list[dict]) -> tuple[list[str], dict]:
    """Where each strategy's model-based proposals (trials 6-40) land on the 6-D shifted pair:
    unit-cube distance to the best trial before it and to the optimum."""
    from benchmarks.registry import make_benchmark

    lines = ["| problem | strategy | runs | to the incumbent, median | within 0.1 | beyond 0.5 "
             "| to the optimum, median |", "|---|---|---:|---:|---:|---:|---:|"]
    data: dict = {}
    for p in LOCALITY_PROBLEMS:
        bench = make_benchmark(p)
        lo, hi = np.array(bench.bounds, float).T
        names = [f"x{i}" for i in range(len(lo))]
        opt = (bench.argmin - lo) / (hi - lo)
        for s in sorted({r["strategy"] for r in records if r["benchmark"] == p}, key=_key):
            runs = [r for r in records if r["benchmark"] == p and r["strategy"] == s and len(r["configs"]) >= 40]
            near, far = [], []
            for r in runs:
                U = (np.array([[c[n] for n in names] for c in r["configs"][:40]], float) - lo) / (hi - lo)
                L = np.array([np.inf if x is None else x for x in r["losses"][:40]], float)
                near += [float(np.linalg.norm(U[t] - U[np.argmin(L[:t])])) for t in range(5, 40)]
                far += list(np.linalg.norm(U[5:] - opt, axis=1))
            if runs:
                d = np.array(near)
                data[f"{p}|{s}"] = row = {"runs": len(runs), "incumbent_median": float(np.median(d)),
                                          "within_0.1": float(np.mean(d < 0.1)), "beyond_0.5": float(np.mean(d > 0.5)),
                                          "optimum_median": float(np.median(far))}
                lines.append(f"| {p} | {s} | {len(runs)} | {row['incumbent_median']:.2f} | {row['within_0.1']:.2f} "
                             f"| {row['beyond_0.5']:.2f} | {row['optimum_median']:.2f} |")
    return lines + [""], data


def _branches(records: list[dict], first: int = 20) -> tuple[list[str], dict]:
    """On the conditional pair: each strategy's share of trials after the first ``first`` on each
    value of the root switch, the value its best trial has, and its best losses (runs of 100
    trials); then each problem's scoring anchors beside its known optimum."""
    lines = ["| problem | strategy | runs | share of trials per branch | best trial's branch (runs) "
             "| best loss, median (min) |", "|---|---|---:|---|---|---:|"]
    data: dict = {}
    notes = []
    for p, switch in BRANCH_PROBLEMS.items():
        mine = [r for r in records if r["benchmark"] == p]
        if mine:
            base, top = score(mine, budgets=(1,)).anchors[p]
            data[f"{p}|anchors"] = {"baseline": base, "best": top, "optimum": mine[0].get("optimum")}
            notes.append(f"{p}: score 0 at a loss of {base:.4g} (the median first random trial), 100 at "
                         f"{top:.4g} (the best loss seen); its known minimum is {_fmt(mine[0].get('optimum'), 4)}.")
        for s in sorted({r["strategy"] for r in records if r["benchmark"] == p}, key=_key):
            runs = [r for r in records if r["benchmark"] == p and r["strategy"] == s and r["budget"] == 100
                    and r.get("configs")]
            if not runs:
                continue
            later = [c[switch] for r in runs for c in r["configs"][first:]]
            values = sorted({c[switch] for r in runs for c in r["configs"]})
            share = {v: later.count(v) / max(1, len(later)) for v in values}
            traces = [best_so_far(r["losses"]) for r in runs]
            best = [r["configs"][int(np.argmin(t))][switch] for r, t in zip(runs, traces)]
            counts = {v: best.count(v) for v in values if v in best}
            losses = [float(t[-1]) for t in traces]
            data[f"{p}|{s}"] = {"runs": len(runs), "share": share, "best": counts, "best_losses": losses}
            lines.append(f"| {p} | {s} | {len(runs)} | " + ", ".join(f"{v} {x:.2f}" for v, x in share.items())
                         + " | " + ", ".join(f"{v} {n}" for v, n in counts.items())
                         + f" | {np.median(losses):.3g} ({min(losses):.3g}) |")
    return lines + [""] + notes + [""], data


def _paired_runs(sc: Scores, a: str, b: str) -> tuple[list[str], dict]:
    """Table cells (budget | a's mean | b's mean | difference | p | better/worse | runs) of a
    paired Wilcoxon test over (problem, seed) runs at each budget, and the tests by budget; the
    means are over the paired runs only."""
    rows, tests = [], {}
    for budget in sc.budgets:
        w = sc.wilcoxon(a, b, budget, unit="run")
        if not w["n"]:
            continue
        tests[budget] = w
        pairs = [(v, sc.run_scores[(p, b, seed, budget)]) for (p, s, seed, bud), v in sc.run_scores.items()
                 if s == a and bud == budget and (p, b, seed, budget) in sc.run_scores]
        mean_a, mean_b = np.mean(pairs, axis=0)
        rows.append(f"{budget} | {mean_a:.1f} | {mean_b:.1f} | "
                    f"{w['mean_diff']:+.1f} | {_p(w['pvalue'])} | {w['wins']}/{w['losses']} | {w['n']} |")
    return rows, tests


def _candidates(records: list[dict]) -> tuple[list[str], dict]:
    dev = [r for r in records if r["benchmark"] in DEV and r["budget"] in (40, 100)]
    if not any(r["strategy"] in CANDIDATES for r in dev) or not any(r["strategy"] == "auto" for r in dev):
        return ["(no runs of the candidates and of auto on the dev half yet)", ""], {}
    sc = score(dev, budgets=(10, 20, 40), strategies=["auto", *CANDIDATES])
    lines = ["Each candidate against auto (today's rule: botorch with its defaults) at equal trials, dev half, "
             "paired over (problem, seed) runs; CPU per trial over trials 1-40:", "",
             "| candidate | budget | candidate, mean | auto, mean | difference | p | better/worse | runs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    data: dict = {}
    for c in CANDIDATES:
        rows, tests = _paired_runs(sc, c, "auto")
        lines += [f"| {c} | {row}" for row in rows]
        data.update({f"{c}@{b}": w for b, w in tests.items()})
    cpu = {s: _cpu_ms(dev, s, DEV, 0, 40) for s in ("auto", *CANDIDATES)}
    data["cpu_ms"] = cpu
    lines += ["", "CPU per trial, trials 1-40: " + ", ".join(f"{s} {_fmt(v, 0)} ms" for s, v in cpu.items()), ""]
    return lines, data


def _hard(records: list[dict]) -> tuple[list[str], dict]:
    """Scores on ``DEV_HARD`` and every strategy there against auto, paired over runs."""
    recs = [r for r in records if r["benchmark"] in DEV_HARD and r["budget"] == 40]
    present = sorted({r["strategy"] for r in recs} & set(HARD), key=HARD.index)
    if "auto" not in present or not any(r["strategy"] in RANDOM_NAMES for r in recs):
        return ["(no runs of auto and random on the harder dev problems yet)", ""], {}
    sc = score(recs, budgets=(10, 20, 40), strategies=present)
    lines = [f"Problems: {', '.join(DEV_HARD)} (`DEV_HARD` in `benchmarks/default_suite.py`, declared before any "
             "run on them); 40 trials.", ""] + _table(sc)
    lines += ["Each strategy against auto at equal trials, paired over (problem, seed) runs:", "",
              "| strategy | budget | it, mean | auto, mean | difference | p | better/worse | runs |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    data: dict = {"summary": {f"{s}@{b}": v for (s, b), v in sc.summary.items()}, "anchors": sc.anchors}
    for s in present[1:]:
        rows, tests = _paired_runs(sc, s, "auto")
        lines += [f"| {s} | {row}" for row in rows]
        data.update({f"{s}@{b}": w for b, w in tests.items()})
    p_lines, data["per_problem"] = _problem_scores(sc, present)
    cpu = {s: _cpu_ms(recs, s, DEV_HARD, 0, 40) for s in present}
    data["cpu_ms"] = cpu
    lines += ["", "Per problem:", ""] + p_lines
    lines += ["CPU per trial, trials 1-40: " + ", ".join(f"{s} {_fmt(v, 0)} ms" for s, v in cpu.items()), ""]
    return lines, data


def _plot(halves: dict[str, Scores], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(halves), figsize=(6 * len(halves), 4.2), squeeze=False)
    for ax, (name, sc) in zip(axes[0], halves.items()):
        for s in sc.strategies:
            xs = [b for b in sc.budgets if (s, b) in sc.summary]
            ax.errorbar(xs, [sc.summary[(s, b)]["mean"] for b in xs], yerr=[sc.summary[(s, b)]["sem_seeds"] for b in xs],
                        marker="o", capsize=3, label=s, lw=2.4 if s == "auto" else 1.2)
        ax.set_xscale("log")
        ax.set_xticks(list(sc.budgets), [str(b) for b in sc.budgets])
        ax.set_xlabel("evaluations")
        ax.set_ylabel("mean score (higher is better)")
        ax.set_title(f"{name} half, {len(sc.problems)} problems")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(records: list[dict], folder: Path, command: str) -> Path:
    meta = machine()
    commits = sorted({r.get("git_commit", "")[:7] for r in records if r.get("git_commit")})
    seq = sorted({r["strategy"] for r in records if r["strategy"] not in _VARIANTS}, key=_key)
    lines = ["# The default strategy (`auto`) against its peers", "",
             f"Produced by `{command}` (the runs: `python -m benchmarks.experiments.default run`); report written "
             f"{meta['date']} on {describe(meta, ('optuna', 'smac', 'botorch', 'ax-platform', 'hebo'))}; runs made at "
             f"commit(s) {', '.join(commits) or 'unknown'}. The machine is shared (2 cores): CPU times are per "
             "process, wall times are inflated by the load.", "",
             "Score: Bayesmark-normalised best loss so far (100 = best loss seen on the problem by any run here, 0 = "
             "median first evaluation of random search), mean over problems and seeds, ± standard error over seeds. "
             "Rank: mean over (problem, seed) of the rank among the strategies that ran it (1 = best; bold: the best). "
             "auto's rules and botorch's defaults were chosen on the dev half only "
             "(`benchmarks/default_suite.py`, frozen before any tuning).", ""]
    data: dict = {"machine": meta, "git_commits": commits}
    halves = {}
    for name, problems in (("test", TEST), ("dev", DEV)):
        sc = _score(records, problems, seq)
        if sc is None:
            continue
        halves[name] = sc
        lines += [f"## {name.capitalize()} half", ""] + _table(sc)
        entry: dict = {"summary": {f"{s}@{b}": v for (s, b), v in sc.summary.items()}, "anchors": sc.anchors}
        r_lines, entry["common_seed_ranks"] = _common_ranks(records, problems, sc)
        lines += r_lines
        if "auto" in sc.strategies:
            t_lines, entry["tests"] = _tests(sc, "auto")
            lines += [f"Paired Wilcoxon signed-rank tests, auto against each strategy ({name} half; Δ = auto's score "
                      "minus the other's; over problems: each problem's mean over the seeds both ran, ties split):",
                      ""] + t_lines
            if "ax" in sc.strategies:
                lines += [f"auto − ax per problem ({name} half, mean score over the seeds both ran):", ""]
                lines += _per_problem(sc, "auto", "ax")
            p_lines, entry["per_problem"] = _problem_scores(sc, sorted(sc.strategies, key=_key))
            lines += [f"Per problem ({name} half):", ""] + p_lines
        data[name] = entry
    workers = [s for s in PARALLEL if any(r["strategy"] == s and r["benchmark"] in TEST for r in records)]
    if workers:
        sc = score([r for r in records if r["benchmark"] in TEST and r["budget"] in (40, 100)], budgets=(10, 20, 40),
                   strategies=["auto", *workers])
        lines += ["## Two workers against one", "", "auto with two trials at once against sequential auto at equal "
                  "trials, test half, paired over (problem, seed) runs (auto-2jobs: `n_jobs=2`, two worker "
                  "processes on one study; auto-ray2: `RayExecutor(max_concurrent=2)` on a local Ray):", "",
                  "| workers | budget | two at once, mean | sequential, mean | difference "
                  "| p | better/worse | runs |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        data["parallel"] = {}
        for s in workers:
            rows, data["parallel"][s] = _paired_runs(sc, s, "auto")
            lines += [f"| {s} | {row}" for row in rows]
        lines += [""]
    o_lines, data["overhead"] = _overhead(records)
    lines += ["## Cost per trial", "", "The runner's CPU time of the worker between two evaluations (ask, tell and "
              "anything the library does; one thread), mean over trials; trials 1-40 from the test runs, 1-200 and "
              f"181-200 from 200-trial runs on {', '.join(OVERHEAD_PROBLEMS)}:", ""] + o_lines
    g_lines, data["locality"] = _locality(records)
    lines += ["## Where the proposals land (6-D shifted multimodal pair)", "", "Trials 6-40 of each run (after the "
              "start design), in the unit cube of the box: distance to the best trial before it (the incumbent) "
              f"and to the optimum; {LOCALITY_PROBLEMS[0]} is on the dev half, {LOCALITY_PROBLEMS[1]} on the "
              "test half:", ""] + g_lines
    b_lines, data["branches"] = _branches(records)
    lines += ["## Which branch the search settles on (conditional pair)", "", "Share of trials 21-100 on each "
              "value of the root switch (`kind` of cond-shifted, dev half; `branch` of conditional, test half, "
              "whose branches' minima are hartmann 0.18, branin 0.40, quadratic 1.0), and the branch of each "
              "run's best trial:", ""] + b_lines
    v_lines, data["variants"] = _variants(records)
    lines += ["## How botorch's acquisition search was chosen (dev problems)", ""] + v_lines
    c_lines, data["candidates"] = _candidates(records)
    lines += ["## Candidate defaults for auto (dev half)", ""] + c_lines
    h_lines, data["hard"] = _hard(records)
    lines += ["## Candidate defaults for auto (harder dev problems)", ""] + h_lines
    if halves:
        _plot(halves, folder / "scores.png")
        lines += ["![score against budget, test and dev halves](scores.png)", ""]
    return write_outputs(folder / "default", data, "\n".join(lines) + "\n")


EXPERIMENT = Experiment(
    name="default",
    title="The default strategy against its peers",
    sweeps=tuple(s for group in SWEEPS.values() for s in group),
    folder=_FOLDER,
    report=lambda records, command: write_report(records, _FOLDER, command),
)


def main(argv: list[str] | None = None) -> None:
    from benchmarks import experiments

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["run", "report"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--part", choices=list(SWEEPS), action="append", help="only these sweeps (default: all)")
    ap.add_argument("--seeds", type=int, default=None, help="only the first k seeds of each sweep")
    ap.add_argument("--strategies", default=None, help="only these strategies, comma-separated")
    args = ap.parse_args(argv)
    if args.action == "run":
        exp = EXPERIMENT
        if args.part:  # these sweeps' runs; the report below is the whole experiment's
            exp = Experiment(EXPERIMENT.name, EXPERIMENT.title, tuple(s for p in args.part for s in SWEEPS[p]),
                             EXPERIMENT.folder, lambda records, command: None)
        experiments.run(exp, jobs=args.jobs, seeds=args.seeds,
                        strategies=args.strategies.split(",") if args.strategies else None)
    md = experiments.report(EXPERIMENT)
    print(f"wrote {md}")


if __name__ == "__main__":
    main()
