"""Parallel workers, simulated exactly: an hpo strategy with ``k`` trials always in flight.

``k`` workers of equal speed: ``k`` trials are asked at the start; whenever the oldest one
finishes it is told and one more is asked, so every proposal after the first ``k`` is made
with ``k - 1`` trials still running (pending in the history, as with ``n_jobs=k`` on a
storage). The schedule is deterministic, so runs repeat exactly and pair with the
sequential runs of the same strategy (same seed, same first proposal). Records have the
runner's format (:func:`benchmarks.runner.run_one`) with the strategy named
``<strategy>@<k>``, so ``hpo bench report`` scores them beside sequential runs.

Example:
    >>> from benchmarks.default_parallel import run_parallel
    >>> rec = run_parallel("random", "branin", seed=0, budget=6, workers=2)
    >>> rec["strategy"], rec["n_trials"], rec["max_pending"]
    ('random@2', 6, 1)

Command (the committed n_jobs=2 comparison)::

    python -m benchmarks.default_parallel --strategy auto --workers 2 --seeds 5 --budget 40 \\
        --benchmarks default-test --out benchmarks/results/default/test
"""

from __future__ import annotations

import argparse
import math
import random
import time
import traceback
from pathlib import Path

import numpy as np

from benchmarks.runner import RunSpec, _provenance, _Recorder, _write_atomic, result_path

__all__ = ["run_parallel", "main"]


def run_parallel(strategy: str, benchmark: str, seed: int, budget: int, workers: int = 2,
                 out: str | Path | None = None) -> dict:
    """One run of ``strategy`` with ``workers`` trials in flight; the record is written to ``out`` if given."""
    import hpo
    from benchmarks.registry import make_benchmark

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    base = RunSpec(strategy, benchmark, seed, budget)  # the sequential run's seed: the runs pair
    spec = RunSpec(f"{strategy}@{workers}", benchmark, seed, budget)
    t0, c0 = time.perf_counter(), time.process_time()
    bench = make_benchmark(benchmark)
    cs = bench.get_configuration_space(seed=base.run_seed)
    recorder = _Recorder(bench, budget)
    random.seed(base.run_seed)
    np.random.seed(base.run_seed)
    status, error, max_pending = "ok", None, 0
    try:
        study = hpo.create_study(space=hpo.Space(cs), strategy=strategy, direction="minimize", seed=base.run_seed)
        recorder.t_last = time.perf_counter()
        flight = [study.ask() for _ in range(min(workers, budget))]
        asked = len(flight)
        while flight:
            trial = flight.pop(0)
            max_pending = max(max_pending, len(flight))
            loss = recorder(dict(trial.params))
            study.tell(trial, loss if math.isfinite(loss) else None, state=None if math.isfinite(loss) else "fail")
            if asked < budget:
                flight.append(study.ask())
                asked += 1
    except Exception as e:  # a crashing strategy is recorded with its partial trace
        status, error = "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"
    trials = recorder.trials
    record = {
        "strategy": spec.strategy, "benchmark": benchmark, "seed": seed, "budget": budget,
        "run_seed": base.run_seed, "kind": "hpo", "mode": "full", "workers": workers, "max_pending": max_pending,
        "status": status, "error": error, "n_trials": len(trials),
        "losses": [t["loss"] for t in trials], "configs": [t["config"] for t in trials],
        "costs": [t["cost"] for t in trials],
        "objective_s": [round(t["objective_s"], 6) for t in trials],
        "overhead_s": [round(t["overhead_s"], 6) for t in trials],
        "trial_errors": {str(i): t["error"] for i, t in enumerate(trials) if t["error"]},
        "wall_s": round(time.perf_counter() - t0, 4), "cpu_s": round(time.process_time() - c0, 4),
        "optimum": getattr(bench, "optimum", None), "family": getattr(bench, "family", None), **_provenance(),
    }
    if out is not None:
        _write_atomic(result_path(out, spec), record)
    return record


def main(argv: list[str] | None = None) -> None:
    from benchmarks.registry import expand

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--benchmarks", default="default-test")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    names = expand(args.benchmarks)
    for seed in range(args.seeds):
        for name in names:
            spec = RunSpec(f"{args.strategy}@{args.workers}", name, seed, args.budget)
            if result_path(args.out, spec).exists():
                continue
            rec = run_parallel(args.strategy, name, seed, args.budget, args.workers, args.out)
            print(f"{spec.strategy} {name} seed {seed}: {rec['status']}, best {min(l for l in rec['losses'] if l is not None):.5g}",
                  flush=True)


if __name__ == "__main__":
    main()
