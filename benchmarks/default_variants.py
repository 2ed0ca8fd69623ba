"""Variants of a strategy's options, side by side on dev problems: how botorch's defaults were chosen.

Each variant is ``label=name|{json options}``; every (variant, problem, seed) is one study of
``budget`` trials through the Study API, seeded by ``crc32(label|problem|seed)`` (so each
variant draws its own seeds: the comparison is unpaired). Per trial the CPU time of ``ask`` is
kept. Results append to a JSON-lines file (a rerun skips what is there); the table gives each
variant's best loss per problem at 10 and ``budget`` trials (median over seeds) and its mean
CPU per ask.

Command (the committed dev comparison of acquisition search with and without L-BFGS)::

    python -m benchmarks.default_variants --out benchmarks/results/default/dev_variants.jsonl \\
        --problems branin,levy6-shifted,rosenbrock12-shifted,mixed,cond-shifted --seeds 0,1 --budget 40 \\
        --variant 'd0=botorch|{}' --variant 'lbfgs=botorch|{"num_restarts": 2, "maxiter": 10}'
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import zlib
from pathlib import Path

import numpy as np

__all__ = ["run_variant", "table", "main"]


def run_variant(label: str, strategy: str, options: dict, problem: str, seed: int, budget: int) -> dict:
    """One study of ``strategy(**options)`` on ``problem``: losses and CPU seconds per ask."""
    import optuna

    import hpo
    from benchmarks.registry import make_benchmark
    from hpo.strategies import make_strategy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bench = make_benchmark(problem)
    cs = bench.get_configuration_space(seed=seed)
    run_seed = zlib.crc32(f"{label}|{problem}|{seed}".encode()) & 0x7FFFFFFF
    study = hpo.create_study(space=hpo.Space(cs), strategy=make_strategy(strategy, **options), seed=run_seed)
    losses, cpu = [], []
    for _ in range(budget):
        c0 = time.process_time()
        trial = study.ask()
        cpu.append(time.process_time() - c0)
        value = bench.objective_function(dict(trial.params))["function_value"]
        study.tell(trial, value)
        losses.append(value)
    return {"label": label, "problem": problem, "seed": seed, "losses": losses, "ask_cpu": cpu}


def table(records: list[dict], budget: int) -> str:
    """Markdown: per problem and variant, the median best loss at 10 and ``budget`` trials; CPU per ask."""
    labels = list(dict.fromkeys(r["label"] for r in records))
    problems = list(dict.fromkeys(r["problem"] for r in records))
    head = "| problem | " + " | ".join(f"{lab} @10 | {lab} @{budget}" for lab in labels) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(labels))]
    for p in problems:
        cells = []
        for lab in labels:
            runs = [r for r in records if r["label"] == lab and r["problem"] == p]
            for b in (10, budget):
                vals = [min(r["losses"][:b]) for r in runs]
                cells.append(f"{np.median(vals):.4g}" if vals else "–")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    cpu = [f"{lab}: {1000 * np.mean([c for r in records if r['label'] == lab for c in r['ask_cpu']]):.0f} ms"
           for lab in labels]
    return "\n".join(lines + ["", "Mean CPU per ask (one thread): " + ", ".join(cpu)])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--variant", action="append", required=True, help="label=strategy|{json options}")
    args = ap.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    logging.getLogger("hpo").setLevel(logging.ERROR)
    out = Path(args.out)
    records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    done = {(r["label"], r["problem"], r["seed"]) for r in records}
    for item in args.variant:
        label, _, spec = item.partition("=")
        strategy, _, opts = spec.partition("|")
        options = json.loads(opts) if opts else {}
        for seed in (int(s) for s in args.seeds.split(",")):
            for problem in args.problems.split(","):
                if (label, problem, seed) in done:
                    continue
                rec = run_variant(label, strategy, options, problem, seed, args.budget)
                records.append(rec)
                with out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(f"{label} {problem} seed {seed}: best {min(rec['losses']):.5g}", flush=True)
    print(table(records, args.budget))


if __name__ == "__main__":
    main()
