"""CPU cost per trial of the default strategy and its peers, away from machine load.

Wall-clock overhead in a sweep on a shared machine measures the machine as much as the
strategy, so this measures CPU time (``time.process_time``, one thread): for hpo strategies
the CPU time of each ``ask`` + ``tell`` through the Study, trial by trial; for the native
peers (which own their loop) the run's CPU time divided by its trials, which includes the
1-5 ms synthetic objective. Problems: three of the test half's cheap ones (Hartmann-6,
integer-heavy ``int-levy8``, conditional ``conditional``), one seed each; every library is
imported and warmed up by a short run before anything is timed. Reported: the mean over
trials 1..40 of a 40-trial run, and over 1..200 and 181..200 of a 200-trial run.

Command (the committed results)::

    python -m benchmarks.default_overhead --out benchmarks/results/default/overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

__all__ = ["hpo_trial_cpu", "peer_cpu", "main"]

PROBLEMS = ["hartmann6", "int-levy8", "conditional"]


def hpo_trial_cpu(strategy: str, benchmark: str, budget: int, seed: int = 0) -> list[float]:
    """CPU seconds of each trial's ask + tell for hpo ``strategy`` on ``benchmark`` (objective excluded)."""
    import hpo
    from benchmarks.registry import make_benchmark

    bench = make_benchmark(benchmark)
    study = hpo.create_study(space=hpo.Space(bench.get_configuration_space(seed=seed)), strategy=strategy, seed=seed)
    out = []
    for _ in range(budget):
        c0 = time.process_time()
        trial = study.ask()
        c1 = time.process_time()
        loss = bench.objective_function(dict(trial.params))["function_value"]
        c2 = time.process_time()
        study.tell(trial, loss)
        out.append((c1 - c0) + (time.process_time() - c2))
    return out


def peer_cpu(peer: str, benchmark: str, budget: int, seed: int = 0) -> float:
    """CPU seconds per trial of a native peer's run (its loop, the objective included)."""
    from benchmarks.peers import run_peer
    from benchmarks.registry import make_benchmark

    bench = make_benchmark(benchmark)
    cs = bench.get_configuration_space(seed=seed)
    c0 = time.process_time()
    run_peer(peer, cs, lambda c: bench.objective_function(c)["function_value"], budget, seed)
    return (time.process_time() - c0) / budget


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hpo", default="auto,botorch")
    ap.add_argument("--peers", default="ax,optuna-gp")
    ap.add_argument("--long", default="auto,botorch", help="hpo strategies also run for 200 trials")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    result.update(machine=f"{platform.machine()}, {os.cpu_count()} cores", loadavg_start=os.getloadavg(),
                  command="python -m benchmarks.default_overhead " + " ".join(argv or []),
                  note="CPU seconds per trial, one thread; hpo: ask + tell through the Study; peers: run CPU / trials")
    runs = result["runs"]

    def save():
        result["loadavg_end"] = os.getloadavg()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))

    for s in args.hpo.split(","):  # imports and first-call costs out of the way
        hpo_trial_cpu(s, "branin", 8)
    for p in args.peers.split(","):
        peer_cpu(p, "branin", 7)
    for name in PROBLEMS:
        for s in args.hpo.split(","):
            for budget in (40, 200) if s in args.long.split(",") else (40,):
                key = f"{s}|{name}|{budget}"
                if key not in runs:
                    cpu = hpo_trial_cpu(s, name, budget)
                    runs[key] = {"kind": "hpo", "per_trial_s": [round(c, 5) for c in cpu]}
                    save()
                    print(key, f"{1000 * np.mean(cpu):.0f} ms/trial", flush=True)
        for p in args.peers.split(","):
            key = f"{p}|{name}|40"
            if key not in runs:
                runs[key] = {"kind": "peer", "mean_s": round(peer_cpu(p, name, 40), 5)}
                save()
                print(key, f"{1000 * runs[key]['mean_s']:.0f} ms/trial", flush=True)
    save()
    print(summary(result))


def summary(result: dict) -> str:
    """A markdown table: strategy -> mean CPU ms per trial at 40 trials, and at 200 where run."""
    rows: dict[str, dict[str, list[float]]] = {}
    for key, run in result["runs"].items():
        s, _, budget = key.split("|")
        r = rows.setdefault(s, {"40": [], "200": [], "181-200": []})
        if run["kind"] == "peer":
            r["40"].append(run["mean_s"])
        elif budget == "40":
            r["40"].append(float(np.mean(run["per_trial_s"])))
        else:
            r["200"].append(float(np.mean(run["per_trial_s"])))
            r["181-200"].append(float(np.mean(run["per_trial_s"][180:])))

    def ms(v):
        return f"{1000 * np.mean(v):.0f}" if v else "–"

    lines = ["| strategy | CPU ms/trial, 40 trials | 200 trials (mean) | trials 181-200 |", "|---|---:|---:|---:|"]
    for s, r in rows.items():
        lines.append(f"| {s} | {ms(r['40'])} | {ms(r['200'])} | {ms(r['181-200'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
