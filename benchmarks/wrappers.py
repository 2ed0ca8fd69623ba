"""Our library wrappers against the same libraries called directly.

For every wrapper (``tpe`` = optuna's TPESampler, ``hyperopt-tpe`` = hyperopt's TPE,
``smac`` / ``smac-bb`` = SMAC3's facades) and every problem (three synthetic ones and three
live scikit-learn CV problems), both sides run the same number of seeds at the same
budget with the same settings: an hpo ``Study`` with the strategy, and the library's own
loop (optuna ``study.ask/tell``, hyperopt ``fmin``, SMAC ``ask/tell``). We report the best
loss (median over seeds), a paired Wilcoxon signed-rank test of the best losses per problem
(pairs = seeds), and the optimizer overhead per trial (wall time minus objective time).

Settings shared by both sides: TPE multivariate with groups and constant liar, 10
startup trials; hyperopt ``n_startup_jobs=10``; SMAC ``n_trials=budget``, deterministic,
its random forest on one thread (``n_jobs=1``; SMAC's default of -1 spends most of each
call in thread pools on a 2-core machine), BLAS on one thread for every run. Overhead is
counted in the process's CPU time by default (``--clock cpu``): on a machine shared with
other jobs, elapsed time measures the load more than the layer.

Second part (``--parallel``): ``tpe`` and ``gp`` with ``n_jobs=2`` against sequential runs at
the same budget (and random search as the floor), on the synthetic problems.

Run: ``nice -n 10 python -m benchmarks.wrappers --seeds 10 --budget 50`` (writes
``benchmarks/results/wrappers.json`` and ``wrappers.md``), and
``python -m benchmarks.wrappers --parallel`` (``wrappers_parallel.json`` / ``.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon
from threadpoolctl import threadpool_limits

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

RESULTS = Path(__file__).resolve().parent / "results"
SYNTHETIC = ["branin", "hartmann6", "mixed"]
SKLEARN = ["ml-svm-wine", "ml-dt-breast_cancer", "ml-linear-diabetes"]
WRAPPERS = ["tpe", "hyperopt-tpe", "smac", "smac-bb"]


class Timed:
    """The objective with a stopwatch: time spent inside it (elapsed and CPU), every loss."""

    def __init__(self, bench):
        self.bench, self.seconds, self.cpu_seconds, self.losses = bench, 0.0, 0.0, []

    def __call__(self, config: dict) -> float:
        t, c = time.perf_counter(), time.process_time()
        loss = float(self.bench.objective_function(config)["function_value"])
        self.seconds += time.perf_counter() - t
        self.cpu_seconds += time.process_time() - c
        self.losses.append(loss)
        return loss


# --- native loops ------------------------------------------------------------------------

def _native_optuna(cs, f: Timed, budget: int, seed: int) -> None:
    import optuna

    from hpo.space import Space
    from hpo.trial import suggest_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = Space(cs)
    sampler = optuna.samplers.TPESampler(n_startup_trials=10, multivariate=True, group=True, constant_liar=True,
                                         seed=seed)
    study = optuna.create_study(sampler=sampler)
    for _ in range(budget):
        trial = study.ask()
        study.tell(trial, f(suggest_space(trial, space)))


def _hyperopt_space(cs):
    from hyperopt import hp

    out = {}
    for name in cs.keys():
        h = cs[name]
        kind = type(h).__name__
        if kind == "UniformFloatHyperparameter":
            out[name] = (hp.loguniform(name, math.log(h.lower), math.log(h.upper)) if h.log
                         else hp.uniform(name, h.lower, h.upper))
        elif kind == "UniformIntegerHyperparameter":
            out[name] = (hp.qloguniform(name, math.log(h.lower - 0.5), math.log(h.upper + 0.5), 1) if h.log
                         else hp.quniform(name, h.lower - 0.5, h.upper + 0.5, 1))
        else:
            out[name] = hp.choice(name, list(h.choices))
    return out


def _native_hyperopt(cs, f: Timed, budget: int, seed: int) -> None:
    from hyperopt import Trials, fmin, tpe

    logging.getLogger("hyperopt").setLevel(logging.ERROR)

    def fn(sample):
        config = {}
        for name, v in sample.items():
            h = cs[name]
            if type(h).__name__ == "UniformIntegerHyperparameter":
                v = int(min(max(round(v), h.lower), h.upper))
            config[name] = v
        return f(config)

    fmin(fn, _hyperopt_space(cs), algo=partial(tpe.suggest, n_startup_jobs=10), max_evals=budget, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)


def _native_smac(facade_name: str):
    def run(cs, f: Timed, budget: int, seed: int) -> None:
        import smac
        from smac import Scenario
        from smac.runhistory import TrialValue

        facade = getattr(smac, facade_name)
        with tempfile.TemporaryDirectory(prefix="smac-native-") as tmp:
            scenario = Scenario(cs, deterministic=True, n_trials=budget, seed=seed, output_directory=Path(tmp))
            model = facade.get_model(scenario)
            if hasattr(model, "_rf_opts"):
                model._rf_opts["n_jobs"] = 1
            opt = facade(scenario, lambda config, seed=0: 0.0, model=model, overwrite=True, logging_level=False)
            for _ in range(budget):
                info = opt.ask()
                opt.tell(info, TrialValue(cost=f(dict(info.config))), save=False)

    return run


NATIVE = {"tpe": _native_optuna, "hyperopt-tpe": _native_hyperopt, "smac": _native_smac("HyperparameterOptimizationFacade"),
          "smac-bb": _native_smac("BlackBoxFacade")}


def _ours(name: str, cs, f: Timed, budget: int, seed: int, n_jobs: int = 1) -> None:
    import hpo

    kwargs = {"n_trials": budget} if name.startswith("smac") else {}
    study = hpo.create_study(space=cs, strategy=name, seed=seed, strategy_kwargs=kwargs)
    study.optimize(lambda trial: f(trial.params), n_trials=budget, n_jobs=n_jobs)


def run_one(side: str, name: str, problem: str, seed: int, budget: int) -> dict:
    from benchmarks.registry import make_benchmark

    bench = make_benchmark(problem)
    cs = bench.get_configuration_space(seed)
    f = Timed(bench)
    t, c = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1, user_api="blas"):  # both sides on one BLAS thread
        if side == "native":
            NATIVE[name](cs, f, budget, seed)
        else:
            _ours(name, cs, f, budget, seed)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = max(1, len(f.losses))
    return {"side": side, "wrapper": name, "problem": problem, "seed": seed, "budget": budget,
            "n_evals": len(f.losses), "best": min(f.losses), "wall_s": wall, "objective_s": f.seconds,
            "cpu_s": cpu, "objective_cpu_s": f.cpu_seconds,
            "overhead_wall_ms_per_trial": 1000 * (wall - f.seconds) / n,
            "overhead_cpu_ms_per_trial": 1000 * (cpu - f.cpu_seconds) / n}


def _overhead(row: dict, clock: str) -> float:
    return row[f"overhead_{clock}_ms_per_trial"]


def _p(ours: list[float], native: list[float]) -> float:
    d = np.array(ours) - np.array(native)
    if np.allclose(d, 0):
        return 1.0
    return float(wilcoxon(ours, native).pvalue)


def table(rows: list[dict], meta: dict) -> str:
    lines = [f"# Wrappers against the libraries called directly ({meta['date']}; {meta['machine']})", "",
             f"Command: `{meta['command']}`", "",
             f"Budget {meta['budget']}, seeds {meta['seeds']}. Best loss: median over seeds (lower is better); "
             "p: paired Wilcoxon signed-rank test of the per-seed best losses (ours vs native); overhead: "
             "optimizer time per trial (run minus objective, "
             + ("CPU time of the process" if meta.get("clock", "cpu") == "cpu" else "elapsed time")
             + "), mean over seeds.", "",
             "| wrapper | problem | seeds | best (ours) | best (native) | ours better / worse | p | overhead ours (ms) "
             "| overhead native (ms) | ours adds |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = []
    for name in meta["wrappers"]:
        tot_o, tot_n = [], []
        for problem in meta["problems"]:
            o = sorted((r for r in rows if r["side"] == "ours" and r["wrapper"] == name and r["problem"] == problem),
                       key=lambda r: r["seed"])
            n = sorted((r for r in rows if r["side"] == "native" and r["wrapper"] == name and r["problem"] == problem),
                       key=lambda r: r["seed"])
            seeds = sorted({r["seed"] for r in o} & {r["seed"] for r in n})
            o = [r for r in o if r["seed"] in seeds]
            n = [r for r in n if r["seed"] in seeds]
            if not seeds:
                continue
            bo, bn = [r["best"] for r in o], [r["best"] for r in n]
            clock = meta.get("clock", "cpu")
            oo, on = np.mean([_overhead(r, clock) for r in o]), np.mean([_overhead(r, clock) for r in n])
            tot_o += [_overhead(r, clock) for r in o]
            tot_n += [_overhead(r, clock) for r in n]
            better = sum(a < b for a, b in zip(bo, bn))
            worse = sum(a > b for a, b in zip(bo, bn))
            lines.append(f"| {name} | {problem} | {len(seeds)} | {np.median(bo):.4g} | {np.median(bn):.4g} | "
                         f"{better} / {worse} | {_p(bo, bn):.3g} | {oo:.1f} | {on:.1f} | {100 * (oo / on - 1):+.0f}% |")
        if tot_o:
            summary.append(f"| {name} | {np.mean(tot_o):.1f} | {np.mean(tot_n):.1f} | "
                           f"{100 * (np.mean(tot_o) / np.mean(tot_n) - 1):+.0f}% |")
    lines += ["", "Overhead over all problems (mean ms per trial):", "",
              "| wrapper | ours | native | ours adds |", "|---|---:|---:|---:|"] + summary
    return "\n".join(lines) + "\n"


def _meta(args, command: str) -> dict:
    from importlib.metadata import version

    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                       f"optuna {version('optuna')}, hyperopt {version('hyperopt')}, smac {version('smac')}",
            "command": command, "budget": args.budget, "seeds": args.seeds, "clock": args.clock}


def main_compare(args) -> None:
    problems = args.problems or SYNTHETIC + SKLEARN
    wrappers = args.wrappers or WRAPPERS
    meta = {**_meta(args, args.command), "problems": problems, "wrappers": wrappers}
    out = RESULTS / f"{args.out}.json"
    rows = json.loads(out.read_text())["rows"] if args.resume and out.exists() else []
    done = {(r["side"], r["wrapper"], r["problem"], r["seed"]) for r in rows}
    for name in wrappers:  # warm-up: imports and first-call costs stay out of the timings
        for side in ("native", "ours"):
            run_one(side, name, "branin", 0, 6)
    for name in wrappers:
        seeds = range(args.first_seed, args.first_seed + (args.seeds if name != "smac-bb" else min(args.seeds, args.seeds_bb)))
        probs = problems if name != "smac-bb" else [p for p in problems if p in (args.problems_bb or problems)]
        for problem in probs:
            for seed in seeds:
                for side in ("native", "ours"):
                    if (side, name, problem, seed) in done:
                        continue
                    row = run_one(side, name, problem, seed, args.budget)
                    rows.append(row)
                    print(f"{name:13s} {problem:20s} seed {seed} {side:6s} best {row['best']:.4g} "
                          f"overhead {_overhead(row, args.clock):.1f} ms", flush=True)
                    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS / f"{args.out}.md").write_text(table(rows, meta))
    print(table(rows, meta))


def main_merge(args) -> None:
    rows, metas = [], []
    for name in args.merge:
        data = json.loads((RESULTS / f"{name}.json").read_text())
        rows += data["rows"]
        metas.append(data["meta"])
    meta = {**metas[0], "command": " && ".join(m["command"] for m in metas),
            "seeds": ", ".join(f"{m['seeds']} ({'/'.join(m['wrappers'])})" for m in metas),
            "problems": list(dict.fromkeys(p for m in metas for p in m["problems"])),
            "wrappers": list(dict.fromkeys(w for m in metas for w in m["wrappers"]))}
    (RESULTS / f"{args.out}.md").write_text(table(rows, meta))
    print(table(rows, meta))


def main_parallel(args) -> None:
    import hpo
    from benchmarks.registry import make_benchmark

    problems = args.problems or SYNTHETIC
    meta = {**_meta(args, args.command), "problems": problems}
    rows = []
    for problem in problems:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name, n_jobs in (("tpe", 1), ("tpe", 2), ("gp", 1), ("gp", 2), ("random", 1)):
                bench = make_benchmark(problem)
                cs = bench.get_configuration_space(seed)

                def objective(trial, bench=bench):
                    time.sleep(args.sleep)  # the two workers overlap, so each sees the other's trial pending
                    return bench.objective_function(trial.params)["function_value"]

                t = time.perf_counter()
                study = hpo.create_study(space=cs, strategy=name, seed=seed)
                study.optimize(objective, n_trials=args.budget, n_jobs=n_jobs)
                best = study.best_value
                rows.append({"problem": problem, "seed": seed, "strategy": name, "n_jobs": n_jobs, "best": best,
                             "wall_s": time.perf_counter() - t, "n_trials": len(study.trials)})
                print(f"{problem:10s} seed {seed} {name:6s} n_jobs={n_jobs} best {best:.4g}", flush=True)
                (RESULTS / f"{args.out}_parallel.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    _write_parallel_table(rows, meta, args)


def _write_parallel_table(rows: list[dict], meta: dict, args) -> None:
    text = parallel_table(rows, meta, args)
    (RESULTS / f"{args.out}_parallel.md").write_text(text)
    print(text)


ANCHORS = RESULTS / "report" / "scores.json"


def _score(problem: str, best: float, anchors: dict) -> float | None:
    """Bayesmark's normalised score (:func:`benchmarks.scoring.normalise`) with the standard run's
    anchors (0 = median first random evaluation, 100 = best loss ever seen on the problem)."""
    from benchmarks.scoring import normalise

    a = anchors.get(problem)
    return None if a is None else float(100 * (1 - normalise(best, a["baseline"], a["best"])))


def parallel_table(rows: list[dict], meta: dict, args) -> str:
    problems = meta["problems"]
    lines = [f"# Parallel workers against sequential ({meta['date']}; {meta['machine']})", "",
             f"Command: `{meta['command']}`", "",
             f"Budget {args.budget} trials, {args.seeds} seeds, objective sleeps {args.sleep} s so that the two "
             "workers overlap. Best loss: mean over seeds (median in brackets); p: paired Wilcoxon test, "
             "n_jobs=2 vs n_jobs=1.", "",
             "| problem | strategy | n_jobs=1 | n_jobs=2 | p (2 vs 1) | random, n_jobs=1 |", "|---|---|---:|---:|---:|---:|"]
    for problem in problems:
        rnd = [r["best"] for r in rows if r["problem"] == problem and r["strategy"] == "random"]
        for name in ("tpe", "gp"):
            s1 = [r["best"] for r in rows if r["problem"] == problem and r["strategy"] == name and r["n_jobs"] == 1]
            s2 = [r["best"] for r in rows if r["problem"] == problem and r["strategy"] == name and r["n_jobs"] == 2]
            lines.append(f"| {problem} | {name} | {np.mean(s1):.4g} ({np.median(s1):.4g}) | "
                         f"{np.mean(s2):.4g} ({np.median(s2):.4g}) | {_p(s2, s1):.3g} | "
                         f"{np.mean(rnd):.4g} ({np.median(rnd):.4g}) |")
    anchors = json.loads(ANCHORS.read_text())["anchors"] if ANCHORS.exists() else {}
    scored = [p for p in problems if p in anchors]
    if scored:
        lines += ["", f"Mean normalised score over {', '.join(scored)} and all seeds (Bayesmark score with the "
                  "standard run's anchors: 0 = median first random evaluation, 100 = best loss ever seen; "
                  "p: paired Wilcoxon over (problem, seed) pairs, n_jobs=2 vs n_jobs=1):", "",
                  "| strategy | n_jobs=1 | n_jobs=2 | difference | p | random, n_jobs=1 |", "|---|---:|---:|---:|---:|---:|"]

        def scores(name, n_jobs):
            got = sorted((r for r in rows if r["problem"] in scored and r["strategy"] == name and r["n_jobs"] == n_jobs),
                         key=lambda r: (r["problem"], r["seed"]))
            return [_score(r["problem"], r["best"], anchors) for r in got]

        rnd = scores("random", 1)
        for name in ("tpe", "gp"):
            s1, s2 = scores(name, 1), scores(name, 2)
            lines.append(f"| {name} | {np.mean(s1):.1f} | {np.mean(s2):.1f} | {np.mean(s2) - np.mean(s1):+.1f} | "
                         f"{_p(s2, s1):.3g} | {np.mean(rnd):.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    import sys

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--seeds-bb", type=int, default=10, help="seeds for smac-bb (its GP makes each run slow)")
    p.add_argument("--problems-bb", nargs="*", default=None, help="problems for smac-bb (default: all)")
    p.add_argument("--budget", type=int, default=50)
    p.add_argument("--problems", nargs="*", default=None)
    p.add_argument("--wrappers", nargs="*", default=None, choices=WRAPPERS)
    p.add_argument("--parallel", action="store_true", help="run the n_jobs=2 vs sequential comparison instead")
    p.add_argument("--sleep", type=float, default=0.05)
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                   help="what overhead is measured in: cpu = the process's CPU time (steady on a shared machine), "
                        "wall = elapsed time")
    p.add_argument("--resume", action="store_true", help="keep the rows already in the results file")
    p.add_argument("--table-only", action="store_true", help="with --parallel: rewrite the table from the results file")
    p.add_argument("--out", default="wrappers")
    p.add_argument("--merge", nargs="*", default=None, help="only write OUT.md from these result files (names)")
    args = p.parse_args(argv)
    args.command = "python -m benchmarks.wrappers " + " ".join(sys.argv[1:] if argv is None else argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.merge:
        main_merge(args)
    elif args.parallel and args.table_only:
        data = json.loads((RESULTS / f"{args.out}_parallel.json").read_text())
        args.seeds = len({r["seed"] for r in data["rows"]})
        _write_parallel_table(data["rows"], data["meta"], args)
    else:
        (main_parallel if args.parallel else main_compare)(args)


if __name__ == "__main__":
    main()
