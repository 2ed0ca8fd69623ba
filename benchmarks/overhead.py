"""Per-trial overhead of an hpo Study against raw optuna, n_jobs throughput, and what starting
worker processes costs with each multiprocessing start method.

1. Overhead: 1,000 trials of a trivial objective on a 6-parameter space (4 floats, a
   categorical, a log-int), random search on both sides: hpo's ``random`` strategy through
   ``hpo.Study`` against ``optuna.create_study(sampler=RandomSampler)`` with the same
   ``suggest_*`` calls. In memory and in SQLite. For SQLite, raw optuna runs twice: on its
   default URL storage, and on the storage object hpo opens (WAL mode + heartbeat), which
   isolates what hpo's layer adds from what its storage settings change. Runs are
   interleaved and repeated; the table gives the median per trial of CPU time (this
   process: the machine is shared, and CPU time is what load distorts least) and of wall
   time. hpo's side includes everything hpo adds per trial: the trial's owner record, the
   storage lock and budget check, the strategy bridge, value checking.
2. Throughput: an objective that takes 0.5 s (a sleep, and 0.5 s of CPU work), 40 trials
   with ``n_jobs=1`` and ``n_jobs=2`` on one SQLite study. A sleep needs no CPU, so its
   speed-up holds on a loaded machine; the CPU-bound one needs two idle cores.
3. Worker start: ``optimize(n_trials=2, n_jobs=2)`` of a trivial objective with each start
   method (fork, forkserver, spawn): wall time, and CPU time of this process and its workers.

The load average is recorded before and after each part; rerun on a quiet machine when it
is far above the number of cores.

Run: ``python benchmarks/overhead.py`` (writes benchmarks/results/overhead.{json,md}).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import optuna

import hpo
from hpo.storage import open_storage

RESULTS = Path(__file__).parent / "results"
SPACE = {**{f"x{i}": hpo.Float(-5, 5) for i in range(4)},
         "c": hpo.Categorical(["a", "b", "c"]), "n": hpo.Int(1, 100, log=True)}


def _hpo_objective(trial):
    p = trial.params
    return sum(p[f"x{i}"] ** 2 for i in range(4)) + len(p["c"]) + p["n"] * 1e-3


def _optuna_objective(trial):
    s = sum(trial.suggest_float(f"x{i}", -5, 5) ** 2 for i in range(4))
    return s + len(trial.suggest_categorical("c", ["a", "b", "c"])) + trial.suggest_int("n", 1, 100, log=True) * 1e-3


def _timed(run) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - c, time.perf_counter() - w


def _run_hpo(storage, n):
    study = hpo.create_study(space=SPACE, strategy="random", storage=storage, seed=0)
    return _timed(lambda: study.optimize(_hpo_objective, n_trials=n))


def _run_optuna(storage, n):
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    return _timed(lambda: study.optimize(_optuna_objective, n_trials=n))


def _row(label, optuna_runs, hpo_runs, n):
    ms = lambda runs, i: statistics.median(r[i] for r in runs) / n * 1e3  # noqa: E731
    row = {"storage": label, "runs": len(hpo_runs),
           "optuna_cpu_ms": ms(optuna_runs, 0), "hpo_cpu_ms": ms(hpo_runs, 0),
           "optuna_wall_ms": ms(optuna_runs, 1), "hpo_wall_ms": ms(hpo_runs, 1)}
    row["added_cpu_pct"] = 100.0 * (row["hpo_cpu_ms"] / row["optuna_cpu_ms"] - 1.0)
    row["added_wall_pct"] = 100.0 * (row["hpo_wall_ms"] / row["optuna_wall_ms"] - 1.0)
    return row


def overhead(n_trials: int, repeats: int, sqlite_repeats: int) -> list[dict]:
    mem = {"hpo": [], "optuna": []}
    for _ in range(repeats):
        mem["optuna"].append(_run_optuna(None, n_trials))
        mem["hpo"].append(_run_hpo(None, n_trials))
    rows = [_row("in-memory", mem["optuna"], mem["hpo"], n_trials)]
    sql = {"hpo": [], "optuna": [], "optuna_same_storage": []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(sqlite_repeats):
            sql["optuna"].append(_run_optuna(f"sqlite:///{d}/o{r}.db", n_trials))
            sql["optuna_same_storage"].append(_run_optuna(open_storage(f"sqlite:///{d}/s{r}.db"), n_trials))
            sql["hpo"].append(_run_hpo(f"sqlite:///{d}/h{r}.db", n_trials))
    rows.append(_row("sqlite (optuna default URL)", sql["optuna"], sql["hpo"], n_trials))
    rows.append(_row("sqlite (same storage object: WAL + heartbeat)", sql["optuna_same_storage"], sql["hpo"], n_trials))
    return rows


def _sleep_half_second(trial):
    time.sleep(0.5)
    return trial.params["x0"] ** 2


def _cpu_half_second(trial):
    t0 = time.process_time()
    acc = 0.0
    while time.process_time() - t0 < 0.5:
        acc += sum(i * 1e-9 for i in range(1000))
    return trial.params["x0"] ** 2 + acc * 0


def throughput(n_trials: int, objectives: list[str]) -> list[dict]:
    rows = []
    chosen = [(label, f) for label, f in (("sleep 0.5 s", _sleep_half_second), ("0.5 s of CPU", _cpu_half_second))
              if label.split()[0] in objectives]
    with tempfile.TemporaryDirectory() as d:
        for label, objective in chosen:
            row = {"objective": label, "trials": n_trials, "load_before": os.getloadavg()[0]}
            for n_jobs in (1, 2):
                study = hpo.create_study(space=SPACE, storage=f"sqlite:///{d}/{label[:5]}{n_jobs}.db", seed=0)
                t = time.perf_counter()
                study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs)
                row[f"trials_per_s_{n_jobs}"] = n_trials / (time.perf_counter() - t)
                assert len(study.trials) == n_trials
            row["speedup"] = row["trials_per_s_2"] / row["trials_per_s_1"]
            row["load_after"] = os.getloadavg()[0]
            rows.append(row)
    return rows


def _trivial(trial):
    return trial.params["x0"] ** 2


def worker_start(repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for method in ("fork", "forkserver", "spawn"):
            walls, cpus = [], []
            for r in range(repeats):
                study = hpo.create_study(space=SPACE, storage=f"sqlite:///{d}/{method}{r}.db", seed=0)
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                c, w = time.process_time(), time.perf_counter()
                study.optimize(_trivial, n_trials=2, executor=hpo.ProcessExecutor(2, mp_context=method))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c + (after.ru_utime + after.ru_stime)
                            - (children.ru_utime + children.ru_stime))
            rows.append({"mp_context": method, "runs": repeats, "wall_s": statistics.median(walls),
                         "cpu_s": statistics.median(cpus), "load": os.getloadavg()[0]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sqlite-repeats", type=int, default=3)
    parser.add_argument("--throughput-trials", type=int, default=40)
    parser.add_argument("--throughput-objectives", default="sleep,0.5", help="sleep and/or 0.5 (the CPU-bound one)")
    parser.add_argument("--start-repeats", type=int, default=3)
    parser.add_argument("--parts", default="overhead,throughput,start")
    parser.add_argument("--out", default="overhead", help="results file stem under benchmarks/results")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    parts = args.parts.split(",")
    load = {"before": os.getloadavg()}
    over = overhead(args.trials, args.repeats, args.sqlite_repeats) if "overhead" in parts else []
    load["after_overhead"] = os.getloadavg()
    thr = throughput(args.throughput_trials, args.throughput_objectives.split(",")) if "throughput" in parts else []
    start = worker_start(args.start_repeats) if "start" in parts else []
    load["after"] = os.getloadavg()
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "optuna": optuna.__version__, "hpo": hpo.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_1_5_15": load,
            "command": "python benchmarks/overhead.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())}
    fmt = lambda t: "/".join(f"{x:.1f}" for x in t)  # noqa: E731
    lines = [f"# hpo overhead against raw optuna ({meta['date']}; {meta['machine']}; optuna {meta['optuna']})", "",
             f"Command: `{meta['command']}`", "",
             f"Load average (1/5/15 min) before: {fmt(load['before'])}, after the overhead part: "
             f"{fmt(load['after_overhead'])}, at the end: {fmt(load['after'])} (the machine has {os.cpu_count()} cores).", ""]
    if over:
        lines += [f"Per trial, {args.trials} trials, trivial objective, random search (median of runs); CPU time of "
                  "this process, and wall time:", "",
                  "| storage | optuna CPU ms | hpo CPU ms | hpo adds (CPU) | optuna wall ms | hpo wall ms | hpo adds (wall) | runs |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['storage']} | {r['optuna_cpu_ms']:.3f} | {r['hpo_cpu_ms']:.3f} | {r['added_cpu_pct']:+.1f}% | "
                  f"{r['optuna_wall_ms']:.3f} | {r['hpo_wall_ms']:.3f} | {r['added_wall_pct']:+.1f}% | {r['runs']} |"
                  for r in over]
    if thr:
        lines += ["", f"Throughput on one SQLite study, {args.throughput_trials} trials (wall clock):", "",
                  "| objective | n_jobs=1 (trials/s) | n_jobs=2 (trials/s) | speed-up | load before/after |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['objective']} | {r['trials_per_s_1']:.3f} | {r['trials_per_s_2']:.3f} | {r['speedup']:.2f}x | "
                  f"{r['load_before']:.1f}/{r['load_after']:.1f} |" for r in thr]
    if start:
        lines += ["", "Worker start: `optimize(n_trials=2, n_jobs=2)` of a trivial objective, per start method "
                  "(median; CPU = this process + its workers):", "",
                  "| mp_context | wall s | CPU s | load | runs |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['mp_context']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['load']:.1f} | {r['runs']} |"
                  for r in start]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text(text)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(
        {"meta": meta, "overhead": over, "throughput": thr, "worker_start": start}, indent=2))


if __name__ == "__main__":
    main()
