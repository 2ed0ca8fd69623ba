"""RayExecutor: per-trial overhead, throughput with 1 and 2 CPUs, and search quality under concurrency.

1. Overhead: 500 trials of a trivial objective (random search, one float), four ways, each
   on a fresh local Ray with 2 CPUs: hpo in-process (``LocalExecutor``, the reference),
   ``hpo.RayExecutor``, plain Ray Tune with its own random search (``BasicVariantGenerator``:
   what Tune costs by itself) and plain Ray Tune with ``OptunaSearch`` (the searcher
   ray-project/ray#11004 measured at 227 ms per trivial trial). Per trial: wall time of the
   run, and CPU time of the whole run (the driver plus every Ray process: GCS, raylet,
   workers, counted after ``ray.shutdown`` reaps them, minus what starting and stopping an
   idle Ray costs). CPU time is what the machine's load distorts least; wall time is what a
   user waits. "Overhead" is Ray's figure minus the in-process one.
2. Throughput: 32 trials of a 1 s objective with ``ray.init(num_cpus=1)`` and with
   ``num_cpus=2`` (one CPU per trial): trials per second and the speed-up. The objective
   sleeps (a trial waiting on I/O or a GPU): its speed-up holds on a loaded machine. With
   ``--busy`` it computes for 1 s instead, which needs two idle cores.
3. Quality under concurrency: TPE, GP and auto (the default) through
   ``RayExecutor(max_concurrent=2)`` against the same strategy run sequentially in-process
   and against random search, 50 trials, 10 seeds, 3 problems (branin, hartmann6, levy4;
   each evaluation sleeps 0.2 s so that two trials really overlap). A control without Ray
   (``-async2``: in-process ask/tell with two trials in flight) separates what Ray does
   from what one pending trial does to the strategy. Bayesmark scores at 50 trials (``benchmarks.scoring``), paired Wilcoxon tests
   over the 30 (problem, seed) runs. No default was chosen here: strategies,
   problems and settings are the suite's, fixed before the run.

The load average is recorded before and after each part; rerun when the machine is quiet if
it is far above the 2 cores.

Run: ``python -m benchmarks.ray_overhead`` (all parts; ``--part overhead|throughput|quality``;
writes benchmarks/results/ray_overhead.{json,md}, quality runs incrementally to
ray_overhead_quality.jsonl so an interrupted run resumes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token file for a benchmark's local Ray
# Tune's settings in RayExecutor runs, for the plain-Tune runs too: no per-trial result files,
# the classic (quiet at verbose=0) output; the difference measured is then hpo's layer.
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import hpo  # noqa: E402
from benchmarks.runner import start_local_ray  # noqa: E402

RESULTS = Path(__file__).parent / "results"
OUT_JSON, OUT_MD = RESULTS / "ray_overhead.json", RESULTS / "ray_overhead.md"
QUALITY_RUNS = RESULTS / "ray_overhead_quality.jsonl"
PROBLEMS = ("branin", "hartmann6", "levy4")
SPACE = {"x": hpo.Float(-5.0, 5.0)}
QUALITY_STRATEGIES = ("tpe", "gp", "auto")


def _trivial(trial):
    return (trial.params["x"] - 0.3) ** 2


def _trivial_config(config):
    from ray import tune

    tune.report({"loss": (config["x"] - 0.3) ** 2})


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _stop_ray() -> None:
    import ray

    ray.shutdown()


def _on_fresh_ray(run, num_cpus: int = 2) -> dict:
    """``run()`` on a Ray started for it: wall and driver CPU of the run, and the CPU of every
    Ray process (reaped at shutdown) including Ray's start and stop."""
    children = _children_cpu()
    start_local_ray(num_cpus)
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    out = {"wall_s": time.perf_counter() - wall, "driver_cpu_s": time.process_time() - cpu}
    _stop_ray()
    out["ray_cpu_s"] = _children_cpu() - children
    return out


def _tuner(trainable, search_alg, n: int, tmp: str, **tune_kwargs):
    from ray import tune

    return tune.Tuner(trainable, param_space={"x": tune.uniform(-5.0, 5.0)} if search_alg is None else None,
                      tune_config=tune.TuneConfig(search_alg=search_alg, num_samples=n, metric="loss", mode="min",
                                                  reuse_actors=True, **tune_kwargs),
                      run_config=tune.RunConfig(storage_path=tmp, verbose=0))


# --- 1. overhead ------------------------------------------------------------------------------
def overhead(n: int, repeats: int) -> dict:
    import tempfile

    from optuna.samplers import RandomSampler
    from ray.tune.search.optuna import OptunaSearch

    def hpo_local(n):
        study = hpo.create_study(space=SPACE, strategy="random", seed=0)
        study.optimize(_trivial, n_trials=n)

    def hpo_ray(tmp, n):
        study = hpo.create_study(space=SPACE, strategy="random", seed=0)
        study.optimize(_trivial, n_trials=n, executor=hpo.RayExecutor(storage_path=tmp))
        assert len(study.trials) == n

    def ray_basic(tmp, n):
        _tuner(_trivial_config, None, n, tmp).fit()

    def ray_optuna(tmp, n):
        from ray import tune

        search = OptunaSearch({"x": __import__("optuna").distributions.FloatDistribution(-5.0, 5.0)},
                              metric="loss", mode="min", sampler=RandomSampler(seed=0))
        tune.Tuner(_trivial_config, tune_config=tune.TuneConfig(search_alg=search, num_samples=n, reuse_actors=True),
                   run_config=tune.RunConfig(storage_path=tmp, verbose=0)).fit()

    ray_runs = (("hpo-ray", hpo_ray), ("ray-basic", ray_basic), ("ray-optuna", ray_optuna))
    import hpo.execution.ray  # noqa: F401  imports are paid before any timing
    from ray import tune  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:  # warm-up: first-use costs (imports, registries) paid untimed
        start_local_ray(2)
        for _, fn in ray_runs:
            fn(tmp, 4)
        _stop_ray()
    load_before = _load()
    idle = [_on_fresh_ray(lambda: None) for _ in range(repeats)]
    idle_cpu = statistics.median(r["ray_cpu_s"] for r in idle)
    rows: dict[str, list[dict]] = {"hpo-local": [], "hpo-ray": [], "ray-basic": [], "ray-optuna": []}
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        hpo_local(n)
        rows["hpo-local"].append({"wall_s": time.perf_counter() - wall, "driver_cpu_s": time.process_time() - cpu,
                                  "ray_cpu_s": idle_cpu})
        for name, fn in ray_runs:
            with tempfile.TemporaryDirectory() as tmp:
                rows[name].append(_on_fresh_ray(lambda: fn(tmp, n)))
            print(f"  {name}: {rows[name][-1]}", flush=True)
    table = {}
    for name, runs in rows.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["driver_cpu_s"] + r["ray_cpu_s"] - idle_cpu for r in runs)
        table[name] = {"runs": len(runs), "wall_ms_per_trial": 1e3 * wall / n, "cpu_ms_per_trial": 1e3 * cpu / n,
                       "driver_cpu_ms_per_trial": 1e3 * statistics.median(r["driver_cpu_s"] for r in runs) / n}
    ref = table["hpo-local"]
    for row in table.values():
        row["overhead_wall_ms"] = row["wall_ms_per_trial"] - ref["wall_ms_per_trial"]
        row["overhead_cpu_ms"] = row["cpu_ms_per_trial"] - ref["cpu_ms_per_trial"]
    return {"trials": n, "repeats": repeats, "idle_ray_cpu_s": idle_cpu, "table": table, "raw": rows,
            "load_before": load_before, "load_after": _load()}


# --- 2. throughput -------------------------------------------------------------------------------
def _sleep_1s(trial):
    time.sleep(1.0)
    return trial.params["x"] ** 2


def _busy_1s(trial):
    end = time.process_time() + 1.0
    s = 0.0
    while time.process_time() < end:
        s += 1.0
    return trial.params["x"] ** 2


def throughput(n: int, busy: bool, repeats: int = 1) -> dict:
    import tempfile

    objective = _busy_1s if busy else _sleep_1s
    load_before, raw = _load(), {1: [], 2: []}
    for _ in range(repeats):
        for cpus in (1, 2):
            finished: list[float] = []

            def run():
                with tempfile.TemporaryDirectory() as tmp:
                    study = hpo.create_study(space=SPACE, strategy="random", seed=0)
                    study.optimize(objective, n_trials=n, executor=hpo.RayExecutor(storage_path=tmp))
                    finished.extend(sorted(t.datetime_complete.timestamp() for t in study.trials))

            r = _on_fresh_ray(run, num_cpus=cpus)
            steady = (len(finished) - 1) / (finished[-1] - finished[0])  # from the first trial's end: no actor start
            raw[cpus].append({**r, "trials_per_s": n / r["wall_s"], "steady_trials_per_s": steady})
            print(f"  {cpus} CPU: {raw[cpus][-1]}", flush=True)
    out = {}
    for cpus, runs in raw.items():  # the median run by wall time, and the median steady rate
        by_wall = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
        steady = statistics.median(r["steady_trials_per_s"] for r in runs)
        out[f"{cpus}_cpu"] = {**by_wall, "steady_trials_per_s": steady}
    return {"trials": n, "repeats": repeats, "objective": "1 s of CPU work" if busy else "sleep 1 s",
            "speedup": out["2_cpu"]["trials_per_s"] / out["1_cpu"]["trials_per_s"],
            "steady_speedup": out["2_cpu"]["steady_trials_per_s"] / out["1_cpu"]["steady_trials_per_s"], **out,
            "raw": {f"{c}_cpu": runs for c, runs in raw.items()}, "load_before": load_before, "load_after": _load()}


# --- 3. quality under concurrency -------------------------------------------------------------------
def _objective_for(bench, delay: float):
    def objective(trial):
        time.sleep(delay)
        return bench.objective_function(trial.params)["function_value"]

    return objective


def _quality_run(method: str, problem: str, seed: int, n: int, delay: float) -> dict:
    from benchmarks.registry import make_benchmark

    bench = make_benchmark(problem, rng=seed)
    strategy, _, how = method.partition("-")
    study = hpo.create_study(space=bench.get_configuration_space(seed), strategy=strategy, seed=seed)
    start = time.perf_counter()
    if how == "ray2":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            study.optimize(_objective_for(bench, delay), n_trials=n,
                           executor=hpo.RayExecutor(max_concurrent=2, storage_path=tmp))
    elif how == "async2":  # in-process ask/tell, two trials in flight, each finishing in the order it started
        live = [study.ask() for _ in range(min(2, n))]
        asked = len(live)
        while live:
            trial = live.pop(0)
            study.tell(trial, bench.objective_function(trial.params)["function_value"])
            if asked < n:
                live.append(study.ask())
                asked += 1
    else:
        study.optimize(_objective_for(bench, delay), n_trials=n)
    losses = [t.value if t.value is not None else None for t in sorted(study.trials, key=lambda t: t.number)]
    return {"strategy": method, "benchmark": problem, "seed": seed, "budget": n, "status": "ok", "losses": losses,
            "overhead_s": [0.0] * n, "objective_s": [0.0] * n, "wall_s": time.perf_counter() - start}


def quality(n: int, seeds: int, delay: float, run: bool = True) -> dict:
    """Runs what the jsonl lacks (unless ``run`` is false), then scores what it holds: a comparison
    pairs the (problem, seed) runs both sides have, and says how many."""
    from benchmarks.scoring import paired_test, score

    methods = ("random-seq", *(f"{s}-{how}" for how in ("seq", "ray2", "async2") for s in QUALITY_STRATEGIES))
    done = {}
    if QUALITY_RUNS.exists():
        for line in QUALITY_RUNS.read_text().splitlines():
            r = json.loads(line)
            if r["budget"] == n:
                done[(r["strategy"], r["benchmark"], r["seed"])] = r
    load_before = _load()
    todo = [(m, p, s) for s in range(seeds) for p in PROBLEMS for m in methods if (m, p, s) not in done] if run else []
    if todo:
        ray_needed = any(m.endswith("-ray2") for m, _, _ in todo)
        if ray_needed:
            start_local_ray(2)
        try:
            for method, problem, seed in todo:
                rec = _quality_run(method, problem, seed, n, delay)
                done[(method, problem, seed)] = rec
                with QUALITY_RUNS.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                best = min(v for v in rec["losses"] if v is not None)
                print(f"  {method} {problem} seed {seed}: best {best:.4g} ({rec['wall_s']:.0f} s)", flush=True)
        finally:
            if ray_needed:
                _stop_ray()
    records = [r for (m, p, s), r in done.items() if s < seeds]
    scored = score(  # scoring's random-search anchor is the strategy named "random"
        [{**r, "strategy": "random" if r["strategy"] == "random-seq" else r["strategy"]} for r in records], budgets=[n])
    names = {"random-seq": "random"}

    def scores(method) -> dict:  # (problem, seed) -> score at n, for the runs held
        m = names.get(method, method)
        return {(p, s): v for (p, mm, s, b), v in scored.run_scores.items() if mm == m and b == n and s < seeds}

    def paired(a, b) -> dict:
        sa, sb = scores(a), scores(b)
        keys = sorted(set(sa) & set(sb))
        return paired_test([sa[k] for k in keys], [sb[k] for k in keys])

    summary = {}
    for m in methods:
        sm = scores(m)
        if sm:
            summary[m] = {"mean_score": statistics.mean(sm.values()), "runs": len(sm),
                          "per_problem": {p: statistics.mean(v for (pp, _), v in sm.items() if pp == p)
                                          for p in PROBLEMS if any(pp == p for pp, _ in sm)}}
    tests = {}
    for strat in QUALITY_STRATEGIES:
        pairs = [(f"{strat}-ray2", f"{strat}-seq"), (f"{strat}-ray2", "random-seq"), (f"{strat}-seq", "random-seq"),
                 (f"{strat}-async2", f"{strat}-seq"), (f"{strat}-ray2", f"{strat}-async2")]
        for a, b in pairs:
            if a in summary and b in summary:
                tests[f"{a} vs {'random' if b == 'random-seq' else b}"] = paired(a, b)
    return {"trials": n, "seeds": seeds, "problems": list(PROBLEMS), "delay_s": delay, "summary": summary,
            "tests": tests, "load_before": load_before, "load_after": _load()}


# --- report ------------------------------------------------------------------------------------------
def _markdown(res: dict) -> str:
    meta = res["meta"]
    lines = [f"# RayExecutor overhead, throughput and quality ({meta['machine']}; Ray {meta['ray']}, optuna {meta['optuna']})",
             "", "Each part gives the command that produced it and when; load averages are 1/5/15-minute figures of "
             "this shared machine.", ""]
    part = lambda key: [f"## {key}", "", f"`{res[key]['command']}` ({res[key]['date']})", ""]  # noqa: E731
    if "overhead" in res:
        o = res["overhead"]
        lines += part("overhead") + [f"Per trial, {o['trials']} trials of a trivial objective, random search, local Ray with 2 CPUs "
                  f"(median of {o['repeats']} runs; load average {o['load_before']} before, {o['load_after']} after):",
                  "", "| run | wall (ms/trial) | CPU, all processes (ms/trial) | driver CPU (ms/trial) | "
                  "overhead vs in-process: wall | CPU |", "|---|---:|---:|---:|---:|---:|"]
        for name, row in o["table"].items():
            lines.append(f"| {name} | {row['wall_ms_per_trial']:.1f} | {row['cpu_ms_per_trial']:.1f} | "
                         f"{row['driver_cpu_ms_per_trial']:.1f} | {row['overhead_wall_ms']:.1f} | {row['overhead_cpu_ms']:.1f} |")
        lines += ["", f"CPU of an idle Ray's start and stop ({o['idle_ray_cpu_s']:.1f} s) is subtracted. hpo-local: "
                  "hpo in this process; ray-basic: Tune's own random search (Tune by itself); ray-optuna: Tune with "
                  "OptunaSearch.", ""]
    if "throughput" in res:
        t = res["throughput"]
        lines += part("throughput") + _throughput_table(t)
    if "throughput_busy" in res:
        t = res["throughput_busy"]
        lines += part("throughput_busy") + ["Needs two idle cores: on a loaded machine a CPU-bound trial waits for "
                                            "its core, so this one shows the load as much as Ray.", ""]
        lines += _throughput_table(t)
    if "quality" in res:
        q = res["quality"]
        lines += part("quality") + [f"Quality, {q['trials']} trials, {q['seeds']} seeds x {len(q['problems'])} problems "
                  f"({', '.join(q['problems'])}), Bayesmark score at {q['trials']} (100 = best seen), each evaluation "
                  f"{q['delay_s']} s (load average {q['load_before']} before, {q['load_after']} after):", "",
                  "| run | mean score | " + " | ".join(q["problems"]) + " | runs |",
                  "|---|---:|" + "---:|" * len(q["problems"]) + "---:|"]
        for m, row in q["summary"].items():
            pp = row.get("per_problem", {})
            cells = " | ".join(f"{pp[p]:.1f}" if p in pp else "" for p in q["problems"])
            lines.append(f"| {m} | {row['mean_score']:.2f} | {cells} | {row['runs']} |")
        lines += ["", "Paired Wilcoxon signed-rank tests over the (problem, seed) runs both sides hold (two-sided):",
                  "", "| comparison | pairs | mean score difference | wins / losses | p |", "|---|---:|---:|---:|---:|"]
        for name, t in q["tests"].items():
            lines.append(f"| {name} | {t['n']} | {t['mean_diff']:+.2f} | {t['wins']} / {t['losses']} | "
                         f"{t['pvalue']:.3g} |")
        lines += ["", "-seq: the strategy in this process, one trial at a time; -ray2: through "
                  "RayExecutor(max_concurrent=2), two trials at a time (the second proposed while the first runs); "
                  "-async2: the control without Ray, in-process ask/tell with two trials in flight, each told in "
                  "the order it was asked (what Ray does when equal trials finish in turn). -ray2 against -async2 "
                  "is Ray's own effect; -async2 against -seq is the strategy's under one pending trial."]
    return "\n".join(lines) + "\n"


def _throughput_table(t: dict) -> list[str]:
    runs = t.get("repeats", 1)
    median = f", median of {runs} runs" if runs > 1 else ""
    lines = [f"Throughput, {t['trials']} trials, objective: {t['objective']}, one CPU per trial{median} "
             f"(load average {t['load_before']} before, {t['load_after']} after):", "",
             "| Ray CPUs | trials/s, whole run | trials/s, from the first trial's end | wall (s) |", "|---:|---:|---:|---:|"]
    for c in (1, 2):
        r = t[f"{c}_cpu"]
        lines.append(f"| {c} | {r['trials_per_s']:.3f} | {r['steady_trials_per_s']:.3f} | {r['wall_s']:.1f} |")
    return lines + ["", f"Speed-up 2 vs 1 CPU: {t['speedup']:.2f}x over the whole run (Ray's start and the workers' "
                    f"start included), {t['steady_speedup']:.2f}x once the workers run.", ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["overhead", "throughput", "quality", "all"], default="all")
    parser.add_argument("--trials", type=int, default=500, help="overhead: trials per run")
    parser.add_argument("--repeats", type=int, default=3, help="overhead: runs per method")
    parser.add_argument("--throughput-trials", type=int, default=32)
    parser.add_argument("--throughput-repeats", type=int, default=1, help="throughput: runs per CPU count (median)")
    parser.add_argument("--busy", action="store_true", help="throughput: 1 s of CPU work instead of a sleep")
    parser.add_argument("--quality-trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.2, help="quality: seconds each evaluation sleeps")
    parser.add_argument("--report-only", action="store_true", help="quality: score the runs held, run none")
    args = parser.parse_args(argv)
    logging.getLogger("hpo").setLevel(logging.ERROR)
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    res = json.loads(OUT_JSON.read_text()) if OUT_JSON.exists() else {}
    res["meta"] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                   "ray": ray.__version__, "optuna": optuna.__version__}
    stamp = {"command": "python -m benchmarks.ray_overhead " + " ".join(sys.argv[1:] if argv is None else argv),
             "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

    def save():
        RESULTS.mkdir(exist_ok=True)
        OUT_JSON.write_text(json.dumps(res, indent=1, default=float) + "\n")
        OUT_MD.write_text(_markdown(res))

    if args.part in ("overhead", "all"):
        print("overhead", flush=True)
        res["overhead"] = {**stamp, **overhead(args.trials, args.repeats)}
        save()
    if args.part in ("throughput", "all"):
        print("throughput", flush=True)
        key = "throughput_busy" if args.busy else "throughput"
        res[key] = {**stamp, **throughput(args.throughput_trials, args.busy, args.throughput_repeats)}
        save()
    if args.part in ("quality", "all"):
        print("quality", flush=True)
        res["quality"] = {**stamp, **quality(args.quality_trials, args.seeds, args.delay,
                                                  run=not args.report_only)}
        save()
    print(_markdown(res))


if __name__ == "__main__":
    main()
