"""Per-trial overhead of an hpo Study against raw optuna, and n_jobs throughput.

1. Overhead: 1,000 trials of a trivial objective on a 6-parameter space (4 floats, a
   categorical, a log-int), random search on both sides: hpo's ``random`` strategy through
   ``hpo.Study`` against ``optuna.create_study(sampler=RandomSampler)`` with the same
   ``suggest_*`` calls. In memory and in SQLite. For SQLite, raw optuna runs twice: on its
   default URL storage, and on the storage object hpo opens (WAL mode + heartbeat), which
   isolates what hpo's layer adds from what its storage settings change. Runs are
   interleaved and repeated; the table gives the median milliseconds per trial.
2. Throughput: an objective that takes 0.5 s (a sleep, and 0.5 s of CPU work), 40 trials
   with ``n_jobs=1`` and ``n_jobs=2`` on one SQLite study.

Run: ``python benchmarks/overhead.py`` (writes benchmarks/results/overhead.{json,md}).
"""

from __future__ import annotations

import argparse
import json
import platform
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


def _run_hpo(storage, n):
    study = hpo.create_study(space=SPACE, strategy="random", storage=storage, seed=0)
    t = time.perf_counter()
    study.optimize(_hpo_objective, n_trials=n)
    return (time.perf_counter() - t) / n * 1e3


def _run_optuna(storage, n):
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    t = time.perf_counter()
    study.optimize(_optuna_objective, n_trials=n)
    return (time.perf_counter() - t) / n * 1e3


def overhead(n_trials: int, repeats: int, sqlite_repeats: int) -> list[dict]:
    rows = []
    mem = {"hpo": [], "optuna": []}
    for _ in range(repeats):
        mem["optuna"].append(_run_optuna(None, n_trials))
        mem["hpo"].append(_run_hpo(None, n_trials))
    rows.append({"storage": "in-memory", "optuna_ms": statistics.median(mem["optuna"]),
                 "hpo_ms": statistics.median(mem["hpo"]), "runs": repeats})
    sql = {"hpo": [], "optuna": [], "optuna_same_storage": []}
    with tempfile.TemporaryDirectory() as d:
        for r in range(sqlite_repeats):
            sql["optuna"].append(_run_optuna(f"sqlite:///{d}/o{r}.db", n_trials))
            sql["optuna_same_storage"].append(_run_optuna(open_storage(f"sqlite:///{d}/s{r}.db"), n_trials))
            sql["hpo"].append(_run_hpo(f"sqlite:///{d}/h{r}.db", n_trials))
    rows.append({"storage": "sqlite (optuna default URL)", "optuna_ms": statistics.median(sql["optuna"]),
                 "hpo_ms": statistics.median(sql["hpo"]), "runs": sqlite_repeats})
    rows.append({"storage": "sqlite (same storage object: WAL + heartbeat)",
                 "optuna_ms": statistics.median(sql["optuna_same_storage"]),
                 "hpo_ms": statistics.median(sql["hpo"]), "runs": sqlite_repeats})
    for row in rows:
        row["added_pct"] = 100.0 * (row["hpo_ms"] / row["optuna_ms"] - 1.0)
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


def throughput(n_trials: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for label, objective in (("sleep 0.5 s", _sleep_half_second), ("0.5 s of CPU", _cpu_half_second)):
            row = {"objective": label, "trials": n_trials}
            for n_jobs in (1, 2):
                study = hpo.create_study(space=SPACE, storage=f"sqlite:///{d}/{label[:5]}{n_jobs}.db", seed=0)
                t = time.perf_counter()
                study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs)
                row[f"trials_per_s_{n_jobs}"] = n_trials / (time.perf_counter() - t)
            row["speedup"] = row["trials_per_s_2"] / row["trials_per_s_1"]
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sqlite-repeats", type=int, default=1)
    parser.add_argument("--throughput-trials", type=int, default=40)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    over = overhead(args.trials, args.repeats, args.sqlite_repeats)
    thr = throughput(args.throughput_trials)
    meta = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}",
            "optuna": optuna.__version__, "hpo": hpo.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "python benchmarks/overhead.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items())}
    lines = [f"# hpo overhead against raw optuna ({meta['date']}; {meta['machine']}; optuna {meta['optuna']})", "",
             f"Command: `{meta['command']}`", "",
             f"Per-trial wall time, {args.trials} trials, trivial objective, random search (median of runs):", "",
             "| storage | raw optuna (ms/trial) | hpo (ms/trial) | hpo adds | runs |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['storage']} | {r['optuna_ms']:.3f} | {r['hpo_ms']:.3f} | {r['added_pct']:+.1f}% | {r['runs']} |" for r in over]
    lines += ["", f"Throughput on one SQLite study, {args.throughput_trials} trials:", "",
              "| objective | n_jobs=1 (trials/s) | n_jobs=2 (trials/s) | speed-up |", "|---|---:|---:|---:|"]
    lines += [f"| {r['objective']} | {r['trials_per_s_1']:.3f} | {r['trials_per_s_2']:.3f} | {r['speedup']:.2f}x |" for r in thr]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overhead.md").write_text(text)
    (RESULTS / "overhead.json").write_text(json.dumps({"meta": meta, "overhead": over, "throughput": thr}, indent=2))


if __name__ == "__main__":
    main()
