"""A live LoRA study: tpe (or any strategy) with ASHA over the LoRA default space, against the defaults.

Runs ``LoRAObjective`` trials for real, then trains the baselines with the same settings: hpo's
default LoRA configuration (``LoRAObjective.DEFAULTS``, which are peft's ``LoraConfig`` defaults:
r=8, alpha=8, query+value on every layer) is the all-layer-LoRA-at-peft's-defaults baseline. Writes
``<out>.json`` (every trial, the baselines, throughput, settings, load) and ``<out>.md`` (a table).

CPU, in-process::

    nice -n 15 python -m benchmarks.lora_study --trials 20 --out benchmarks/results/lora_study_cpu

Through Ray Tune (``hpo.RayExecutor``, ASHA as Ray's scheduler), or on a GPU (``benchmarks/lora_gpu.sh``)::

    python -m benchmarks.lora_study --executor ray --trials 20 --out benchmarks/results/lora_study_ray
    python -m benchmarks.lora_study --device cuda --trials 200 --train-size 0 --max-length 128 --out /tmp/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

__all__ = ["main"]


def _objective(args, **over):
    from hpo.finetune import LoRAObjective

    kw = dict(train_size=args.train_size or None, validation_size=args.val_size or None, max_length=args.max_length, device=args.device,
              threads=args.threads, seed=args.seed, artifact_dir=args.artifacts, optimizer=args.optimizer,
              epochs=args.epochs)
    kw.update(over)
    return LoRAObjective(**kw)


class _Niced:
    """The objective, run at a given niceness (Ray's own processes stay responsive; trials yield the CPU)."""

    def __init__(self, objective, niceness: int):
        self.objective, self.niceness = objective, niceness
        self.direction = objective.direction

    def __call__(self, trial):
        current = os.nice(0)
        if current < self.niceness:
            os.nice(self.niceness - current)
        return self.objective(trial)


def _space(args):
    from hpo.finetune import LoRAObjective

    return LoRAObjective.default_space(epochs=False, lr=args.optimizer == "adamw")


def _gpu_memory() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"gpu": torch.cuda.get_device_name(0), "max_memory_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)}


def _throughput(trials) -> float | None:
    rates = []
    for t in trials:
        curve, secs = t.user_attrs.get("curve"), t.user_attrs.get("train_seconds")
        bs = t.params.get("batch_size", 16)
        if curve and secs:
            rates.append(curve[-1]["step"] * bs / secs)
    return round(statistics.median(rates), 1) if rates else None


def run(args) -> dict:
    import optuna

    import hpo

    objective = _objective(args)
    storage = args.storage or f"sqlite:///{args.out}.db"
    name = f"lora-{args.strategy}-{args.pruner}-{args.executor}-s{args.seed}"
    study = hpo.create_study(space=_space(args), strategy=args.strategy, direction=objective.direction,
                             seed=args.seed, pruner=args.pruner if args.executor == "local" else None,
                             storage=storage, study_name=name, load_if_exists=True)
    t0, c0 = time.perf_counter(), time.process_time()
    if args.executor == "ray":
        scheduler = args.pruner
        if args.pruner == "asha":  # rungs at epochs 1 and 2 of 3 (Ray's default rungs 1, 4, 16, ... miss short runs)
            from ray.tune.schedulers import ASHAScheduler

            scheduler = ASHAScheduler(max_t=args.epochs + 1, grace_period=1, reduction_factor=2)
        executor = hpo.RayExecutor(address=args.ray_address, scheduler=scheduler,
                                   resources_per_trial={"cpu": args.threads, "gpu": 1 if args.device == "cuda" else 0})
        study.optimize(_Niced(objective, args.trial_niceness), max_trials=args.trials, executor=executor)
    else:
        study.optimize(objective, max_trials=args.trials)
    search_wall = time.perf_counter() - t0
    trials = study.trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial
    base = _objective(args, artifact_dir=None, optimizer="adamw").run({})
    out = {
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "study": name, "storage": storage.split("@")[-1],
        "trials": [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                    "epochs_run": len(t.intermediate_values), "test_accuracy": t.user_attrs.get("test_accuracy"),
                    "trainable_params": t.user_attrs.get("trainable_params"),
                    "train_seconds": t.user_attrs.get("train_seconds")} for t in trials],
        "best": {"number": best.number, "val_error": best.value, "val_accuracy": 1 - best.value,
                 "test_accuracy": best.user_attrs.get("test_accuracy"), "params": best.params,
                 "trainable_params": best.user_attrs.get("trainable_params"),
                 "adapter_path": best.user_attrs.get("adapter_path")},
        "baseline_peft_defaults_all_layers": {
            "config": base["config"], "val_accuracy": 1 - base["value"], "test_accuracy": base["test"]["accuracy"],
            "trainable_params": base["trainable_params"]},
        "completed": len(done), "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "epochs_trained": sum(len(t.intermediate_values) for t in trials),
        "search_wall_s": round(search_wall, 1), "search_cpu_s_this_process": round(time.process_time() - c0, 1),
        "throughput_samples_per_s": _throughput(done), **_gpu_memory(),
        "device": objective.device.describe(), "machine": f"{platform.node()} {os.cpu_count()} cpus",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    return out


def _markdown(r: dict) -> str:
    s, b, d = r["settings"], r["best"], r["baseline_peft_defaults_all_layers"]
    lines = [f"# LoRA study: {s['strategy']} + {s['pruner']} via {s['executor']} ({r['device']})", "",
             f"`python -m benchmarks.lora_study {' '.join(_argv(s))}`", "",
             f"{len(r['trials'])} trials ({r['completed']} complete, {r['pruned']} pruned, {r['epochs_trained']} "
             f"epochs trained in all), search wall time {r['search_wall_s']} s, load average {r['loadavg']}.", "",
             "| configuration | val accuracy | test accuracy | trainable params |", "|---|---|---|---|",
             f"| best trial #{b['number']} | {b['val_accuracy']:.3f} | {b['test_accuracy']:.3f} | {b['trainable_params']} |",
             f"| peft defaults, all layers (r=8, alpha=8, query+value, lr 5e-4) | {d['val_accuracy']:.3f} | "
             f"{d['test_accuracy']:.3f} | {d['trainable_params']} |", "",
             f"Best configuration: `{json.dumps(b['params'], sort_keys=True)}`", ""]
    if r.get("throughput_samples_per_s"):
        lines.append(f"Median training throughput {r['throughput_samples_per_s']} samples/s"
                     + (f"; GPU {r['gpu']}, peak memory {r['max_memory_allocated_mib']} MiB." if r.get("gpu") else "."))
    return "\n".join(lines) + "\n"


def _argv(s: dict) -> list[str]:
    out = []
    for k, v in s.items():
        if v is None or k in ("out", "storage", "artifacts"):
            continue
        out.append(f"--{k.replace('_', '-')} {v}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--strategy", default="tpe")
    ap.add_argument("--pruner", default="asha")
    ap.add_argument("--executor", choices=["local", "ray"], default="local")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--trial-niceness", type=int, default=15, help="Ray trials run at this niceness")
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "adamw-hd", "sgd-hd"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-size", type=int, default=256, help="0: the whole training split")
    ap.add_argument("--val-size", type=int, default=0, help="0: the whole validation split")
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storage", default=None)
    ap.add_argument("--artifacts", default="/tmp/hpo-lora-artifacts")
    ap.add_argument("--out", required=True, help="results path without extension")
    args = ap.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = run(args)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    text = _markdown(result)
    Path(f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
