"""Does a hypergradient learning rate let a LoRA study drop the learning rate from its space?

Two arms at equal trials, on the same seeds, all trials trained for real (the tabular benchmark
cannot answer this: it has no adamw-hd runs):

* ``tpe+lr``: tpe over ``LoRAObjective.default_space(epochs=False)`` with AdamW (lr tuned, log scale);
* ``tpe+hd``: tpe over the same space without ``lr``, trained with ``optimizer="adamw-hd"``
  (``HypergradLR`` over AdamW, multiplicative rule, beta 0.02, starting at lr 5e-4).

Each study's best trial by validation error is reported with its test accuracy; a paired
Wilcoxon test compares the arms over seeds. Results are appended per study (resumable)::

    nice -n 15 python -m benchmarks.lora_hypergrad run --seeds 5 --trials 8 --workers 2
    python -m benchmarks.lora_hypergrad report
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

__all__ = ["SETTINGS", "ARMS", "run_study", "report"]

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "lora_hypergrad_runs.jsonl"
# The tabular benchmark's training settings (256 posts, 32 tokens, 3 epochs): about 60 CPU-s a trial, so
# 5 seeds x 2 arms x 8 trials is about 80 CPU-minutes. A one-study pilot with 64 posts, 100 validation posts,
# 24 tokens, 2 epochs and 3 trials stayed at chance (best validation error 0.86; lora_hypergrad_pilot.jsonl).
SETTINGS = {"data": "newsgroups4", "epochs": 3, "train_size": 256, "max_length": 32,
            "device": "cpu", "threads": 1, "seed": 0, "artifact_dir": None}
ARMS = {"tpe+lr": {"optimizer": "adamw", "lr": True}, "tpe+hd": {"optimizer": "adamw-hd", "lr": False}}


def run_study(task: tuple[str, int, int]) -> dict:
    """One study of ``trials`` trials for (arm, seed); returns its record."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import hpo
    from hpo.finetune import LoRAObjective

    arm, seed, trials = task
    spec = ARMS[arm]
    objective = LoRAObjective(optimizer=spec["optimizer"], **SETTINGS)
    study = hpo.create_study(space=LoRAObjective.default_space(lr=spec["lr"], epochs=False), strategy="tpe",
                             direction=objective.direction, seed=seed)
    cpu, wall = time.process_time(), time.perf_counter()
    study.optimize(objective, n_trials=trials)
    best = study.best_trial
    return {"arm": arm, "seed": seed, "trials": trials, "best_val_error": best.value,
            "best_test_accuracy": best.user_attrs["test_accuracy"], "best_params": best.params,
            "best_final_lr": best.user_attrs["final_lr"], "values": [t.value for t in study.trials],
            "cpu_s": round(time.process_time() - cpu, 1), "wall_s": round(time.perf_counter() - wall, 1),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "settings": SETTINGS}


def _done() -> set:
    if not RUNS.exists():
        return set()
    return {(r["arm"], r["seed"], r["trials"]) for r in map(json.loads, RUNS.read_text().splitlines()) if r}


def run(seeds: int, trials: int, workers: int) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    todo = [(arm, s, trials) for s in range(seeds) for arm in ARMS if (arm, s, trials) not in _done()]
    print(f"{len(todo)} studies to run", file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool, RUNS.open("a") as f:
        for fut in as_completed([pool.submit(run_study, t) for t in todo]):
            rec = fut.result()
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"{rec['arm']} seed {rec['seed']}: best val error {rec['best_val_error']:.3f} "
                  f"test acc {rec['best_test_accuracy']:.3f} ({rec['cpu_s']:.0f} s CPU)", file=sys.stderr, flush=True)


def report(trials: int) -> str:
    """The markdown table of both arms (written to ``lora_hypergrad.md``)."""
    from scipy.stats import wilcoxon

    rows = [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["trials"] == trials]
    by = {arm: {r["seed"]: r for r in rows if r["arm"] == arm} for arm in ARMS}
    seeds = sorted(set(by["tpe+lr"]) & set(by["tpe+hd"]))
    lines = ["# LoRA: tuned learning rate (tpe+lr) vs hypergradient learning rate (tpe+hd)", "",
             f"`python -m benchmarks.lora_hypergrad run --seeds {len(seeds)} --trials {trials}`; settings "
             f"`{json.dumps(SETTINGS)}`; tpe, {trials} trials per study, seeds {seeds}.", "",
             "| arm | best val error (mean ± sd) | test accuracy of the best (mean ± sd) | CPU s per study |",
             "|---|---|---|---|"]
    for arm in ARMS:
        v = [by[arm][s]["best_val_error"] for s in seeds]
        t = [by[arm][s]["best_test_accuracy"] for s in seeds]
        c = [by[arm][s]["cpu_s"] for s in seeds]
        sd = (lambda x: statistics.stdev(x) if len(x) > 1 else 0.0)
        lines.append(f"| {arm} | {statistics.mean(v):.4f} ± {sd(v):.4f} | {statistics.mean(t):.4f} ± {sd(t):.4f} | "
                     f"{statistics.mean(c):.0f} |")
    if len(seeds) >= 2:
        d = [by["tpe+hd"][s]["best_test_accuracy"] - by["tpe+lr"][s]["best_test_accuracy"] for s in seeds]
        dv = [by["tpe+hd"][s]["best_val_error"] - by["tpe+lr"][s]["best_val_error"] for s in seeds]
        p = wilcoxon(d).pvalue if any(d) else 1.0
        pv = wilcoxon(dv).pvalue if any(dv) else 1.0
        lines += ["", f"Paired over seeds: test accuracy hd - lr = {statistics.mean(d):+.4f} (Wilcoxon p = {p:.3g}); "
                      f"val error hd - lr = {statistics.mean(dv):+.4f} (p = {pv:.3g}).",
                  f"hd wins on test accuracy in {sum(x > 0 for x in d)} of {len(d)} seeds, ties {sum(x == 0 for x in d)}."]
    loads = [r["loadavg"][0] for r in rows]
    lines += ["", f"Load average (1 min) while running: {min(loads):.1f}-{max(loads):.1f} on 2 cores (CPU seconds are "
                  "inflated by that load)."]
    text = "\n".join(lines) + "\n"
    (RESULTS / "lora_hypergrad.md").write_text(text)
    return text


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="tpe with a tuned lr vs tpe with adamw-hd on live LoRA training.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", type=int, default=5)
    r.add_argument("--trials", type=int, default=8)
    r.add_argument("--workers", type=int, default=2)
    rep = sub.add_parser("report")
    rep.add_argument("--trials", type=int, default=8)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a.seeds, a.trials, a.workers)
    print(report(a.trials))


if __name__ == "__main__":
    main()
