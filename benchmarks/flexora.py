"""Flexora against all-layer LoRA, random layer sets of the same size, and tpe over layer sets.

On the LoRA task (all-MiniLM-L6-v2 on ``newsgroups4``: 800 train, 200 validation, 400 test; the
LoRA objective's default settings, which are peft's: r=8, alpha=8, query+value, lr 5e-4, batch 16,
3 epochs), for every seed:

* ``all``: LoRA on all six layers;
* ``flexora-fo`` / ``flexora-k2``: Flexora's search (one epoch of weight steps, a gate step on one
  validation batch after each, Adam at 0.01 on the gates) with the first-order hypergradient, or
  2-step unrolled differentiation, then LoRA retrained from scratch on the layers whose gate grew;
* ``random``: two layer sets drawn at random with as many layers as ``flexora-fo`` chose;
* ``tpe``: tpe over the 63 non-empty layer subsets (one on/off parameter per layer) with one-epoch
  trials, given the forward/backward passes of ``flexora-fo``'s search + retraining minus one
  retraining, whose best subset is then retrained like the others.

Each run records validation accuracy (best epoch), test accuracy, trainable parameters and the
forward/backward passes and CPU seconds it cost. Runs append to ``runs.jsonl`` (a rerun skips what
is there); ``report`` writes ``flexora.md`` / ``flexora.json`` and ``flexora_gates.png``::

    nice -n 15 python -m benchmarks.flexora run --seeds 0-4 --out benchmarks/results/flexora
    python -m benchmarks.flexora report --out benchmarks/results/flexora
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

__all__ = ["main", "run", "report"]

METHODS = ("all", "flexora-fo", "flexora-k2", "random", "tpe")
SETTINGS = {"train_size": None, "max_length": 64, "epochs": 3, "search_epochs": 1, "gate_lr": 0.01,
            "val_batches_per_step": 1, "random_sets": 2}


def _objective(seed: int, threads: int | None):
    from hpo.finetune import LoRAObjective

    return LoRAObjective(seed=seed, max_length=SETTINGS["max_length"], epochs=SETTINGS["epochs"], threads=threads,
                         artifact_dir=None, evaluate_test=True)


def _passes(history: list[dict], n_train: int, n_val: int, n_test: int, batch: int) -> dict:
    """Forward/backward batch passes of a training run: every step, and every evaluation's batches."""
    steps = history[-1]["step"]
    evals = len(history)
    eval_batches = evals * math.ceil(n_val / 64) + math.ceil(n_test / 64)
    return {"forward": steps + eval_batches, "backward": steps, "weight_steps": steps, "eval_batches": eval_batches}


def _record(result: dict, objective, extra: dict) -> dict:
    enc = objective.splits
    return {"val_accuracy": result["best"]["accuracy"], "test_accuracy": result["test"]["accuracy"],
            "trainable_params": result["trainable_params"], "cpu_s": result["train_cpu_seconds"],
            "passes": _passes(result["history"], len(enc.train), len(enc.validation), len(enc.test or []),
                              result["config"]["batch_size"]), **extra}


def _retrain(objective, layers) -> dict:
    spec = layers if isinstance(layers, str) else ",".join(str(i) for i in layers)
    return objective.run({"layers": spec})


def _flexora(objective, seed: int, mode: str) -> dict:
    from hpo.finetune.flexora import Flexora

    flexora = Flexora(objective=objective, mode="unrolled" if mode == "flexora-k2" else "first-order", unroll_steps=2,
                      search_epochs=SETTINGS["search_epochs"], gate_lr=SETTINGS["gate_lr"],
                      val_batches_per_step=SETTINGS["val_batches_per_step"])
    selection = flexora.select()
    result = _retrain(objective, selection.layers)
    search = selection.search.to_dict()
    return _record(result, objective, {"layers": selection.layers, "search": search,
                                       "search_cpu_s": search["cost"]["cpu_s"]})


def _tpe(objective, seed: int, budget_passes: int, n_layers: int) -> dict:
    from optuna.trial import TrialState

    import hpo
    from hpo.finetune import LoRAObjective

    space = {f"layer_{i}": hpo.Categorical([0, 1]) for i in range(n_layers)}
    one_epoch = LoRAObjective(seed=seed, max_length=SETTINGS["max_length"], epochs=1,
                                           threads=objective.device.threads, artifact_dir=None, evaluate_test=False)
    spent = {"passes": 0, "cpu_s": 0.0}

    def trial_objective(trial):
        layers = [i for i in range(n_layers) if trial.params[f"layer_{i}"]]
        if not layers:
            raise ValueError("empty layer set")
        result = one_epoch.run({"layers": ",".join(map(str, layers))})
        p = _passes(result["history"], len(one_epoch.splits.train), len(one_epoch.splits.validation), 0,
                    result["config"]["batch_size"])
        spent["passes"] += p["forward"] + p["backward"]
        spent["cpu_s"] += result["train_cpu_seconds"]
        return result["value"]

    study = hpo.create_study(space=space, strategy="tpe", seed=seed)
    per_trial = None
    while True:
        study.optimize(trial_objective, n_trials=1)
        done = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if done and per_trial is None:
            per_trial = spent["passes"] / len(study.trials)
        if per_trial is not None and spent["passes"] + per_trial > budget_passes:
            break
        if len(study.trials) >= 63:
            break
    best = study.best_params
    layers = [i for i in range(n_layers) if best[f"layer_{i}"]]
    result = _retrain(objective, layers)
    return _record(result, objective, {"layers": layers, "search_trials": len(study.trials),
                                       "search_passes": spent["passes"], "search_cpu_s": round(spent["cpu_s"], 3)})


def _warm(objective) -> None:
    from hpo.finetune import model as _model

    _model.load_classifier(objective.model_path, objective.splits.num_labels, seed=0)


def _total_passes(rec: dict) -> int:
    own = rec["passes"]["forward"] + rec["passes"]["backward"]
    own += rec.get("search_passes", 0)
    cost = rec.get("search", {}).get("cost")
    if cost:
        own += sum(cost[k] for k in ("train_forward", "train_backward", "gate_forward", "gate_backward",
                                     "unrolled_forward", "unrolled_backward"))
    return own


def _done(path: Path) -> set[tuple]:
    if not path.exists():
        return set()
    return {(r["seed"], r["method"], r.get("replicate", 0)) for r in map(json.loads, path.read_text().splitlines())}


def run(seeds: list[int], out: Path, threads: int | None = 1, methods: tuple[str, ...] = METHODS) -> None:
    """Run every method on every seed, appending records to ``out/runs.jsonl``."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    path = out / "runs.jsonl"
    done = _done(path)
    for seed in seeds:
        objective = _objective(seed, threads)
        # the first load from disk draws from torch's global generator: do it before any run, so that
        # every run of the process (and of a resumed one) sees the same random streams
        _warm(objective)
        n_layers = 6
        records = {r["method"]: r for r in map(json.loads, path.read_text().splitlines())
                   if r["seed"] == seed} if path.exists() else {}

        def write(method: str, rec: dict, replicate: int = 0) -> None:
            rec = {"seed": seed, "method": method, "replicate": replicate, **rec, "total_passes": _total_passes(rec),
                   "load": [round(x, 2) for x in os.getloadavg()], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
            with path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            records.setdefault(method, rec)
            print(f"seed {seed} {method}[{replicate}]: val {rec['val_accuracy']:.4f} test {rec['test_accuracy']:.4f} "
                  f"layers {rec.get('layers', 'all')} params {rec['trainable_params']} cpu {rec['cpu_s']:.0f}s", flush=True)

        for method in ("all", "flexora-fo", "flexora-k2"):
            if method in methods and (seed, method, 0) not in done:
                if method == "all":
                    write(method, _record(_retrain(objective, "all"), objective, {"layers": list(range(n_layers))}))
                else:
                    write(method, _flexora(objective, seed, method))
        size = len(records["flexora-fo"]["layers"]) if "flexora-fo" in records else None
        if "random" in methods and size is not None:
            rng = np.random.default_rng([seed, 7])
            for k in range(SETTINGS["random_sets"]):
                layers = sorted(int(i) for i in rng.choice(n_layers, size=size, replace=False))
                if (seed, "random", k) not in done:
                    write("random", _record(_retrain(objective, layers), objective, {"layers": layers}), replicate=k)
        if "tpe" in methods and "flexora-fo" in records and (seed, "tpe", 0) not in done:
            fo = records["flexora-fo"]
            budget = fo["total_passes"] - (fo["passes"]["forward"] + fo["passes"]["backward"])
            write("tpe", _tpe(objective, seed, budget, n_layers))


def _paired(a: list[float], b: list[float]) -> dict:
    from scipy import stats

    diff = [x - y for x, y in zip(a, b)]
    out = {"mean_diff": round(sum(diff) / len(diff), 4), "better": sum(d > 0 for d in diff), "n": len(diff)}
    if len(diff) >= 2 and any(diff):
        out["wilcoxon_p"] = round(float(stats.wilcoxon(diff).pvalue), 4)
        out["wilcoxon_p_greater"] = round(float(stats.wilcoxon(diff, alternative="greater").pvalue), 4)
        out["t_p"] = round(float(stats.ttest_rel(a, b).pvalue), 4)
    return out


def report(out: Path) -> dict:
    """Tables (markdown + JSON) and the gate-trajectory plot from ``out/runs.jsonl``."""
    import statistics

    recs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    seeds = sorted({r["seed"] for r in recs})
    by = {}
    for r in recs:
        by.setdefault(r["method"], {}).setdefault(r["seed"], []).append(r)
    rows, summary = [], {"settings": SETTINGS, "seeds": seeds, "methods": {}, "tests": {}}
    all_params = statistics.mean(r["trainable_params"] for rs in by.get("all", {}).values() for r in rs)

    def per_seed(method: str, key: str) -> dict[int, float]:
        return {s: statistics.mean(r[key] for r in rs) for s, rs in by.get(method, {}).items()}

    for method in METHODS:
        if method not in by:
            continue
        flat = [r for rs in by[method].values() for r in rs]
        val, test = [r["val_accuracy"] for r in flat], [r["test_accuracy"] for r in flat]
        params = statistics.mean(r["trainable_params"] for r in flat)
        entry = {"runs": len(flat), "val_mean": round(statistics.mean(val), 4), "test_mean": round(statistics.mean(test), 4),
                 "test_sd": round(statistics.stdev(test), 4) if len(test) > 1 else 0.0,
                 "params": round(params), "params_share": round(params / all_params, 3),
                 "layers": [r.get("layers") for r in flat],
                 "total_passes": round(statistics.mean(r["total_passes"] for r in flat)),
                 "cpu_s": round(statistics.mean(r["cpu_s"] + r.get("search_cpu_s", 0.0) for r in flat), 1)}
        if method.startswith("flexora"):
            costs = [r["search"]["cost"] for r in flat]
            entry["search_passes"] = round(statistics.mean(
                sum(c[k] for k in ("train_forward", "train_backward", "gate_forward", "gate_backward",
                                   "unrolled_forward", "unrolled_backward")) for c in costs))
            entry["search_cpu_s"] = round(statistics.mean(c["cpu_s"] for c in costs), 1)
        summary["methods"][method] = entry
        rows.append(f"| {method} | {len(by[method])} | {entry['val_mean']:.4f} | {entry['test_mean']:.4f} ± {entry['test_sd']:.4f} "
                    f"| {entry['params']:,} ({100 * entry['params_share']:.0f}%) | {entry['total_passes']:,} | {entry['cpu_s']:.0f} |")
    for method in ("flexora-fo", "flexora-k2", "tpe", "random"):
        for other in ("all", "random"):
            if method == other or method not in by or other not in by:
                continue
            a, b = per_seed(method, "test_accuracy"), per_seed(other, "test_accuracy")
            common = sorted(set(a) & set(b))
            if common:
                summary["tests"][f"{method} vs {other}"] = _paired([a[s] for s in common], [b[s] for s in common])
    lines = ["# Flexora on MiniLM LoRA (newsgroups4)", "", "Command: `nice -n 15 python -m benchmarks.flexora run --seeds "
             f"{seeds[0]}-{seeds[-1]} --out {out}`, then `python -m benchmarks.flexora report --out {out}`.",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch on 1 thread a run; shared with other jobs "
             "(load average in every record), so CPU seconds are the cost to read, not wall time.", "",
             "Settings: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()) + "; LoRA at the objective's defaults "
             "(peft's: r=8, alpha=8, query+value, lr 5e-4, batch 16).", "",
             "| method | seeds | val acc | test acc | trainable params (share of all-layer) | fwd+bwd batch passes | CPU s |",
             "|---|---|---|---|---|---|---|", *rows, "",
             "Paired tests on test accuracy over seeds (random: mean of its layer sets per seed):", "",
             "| comparison | mean diff | better on | Wilcoxon p (two-sided / greater) | paired t p |", "|---|---|---|---|---|"]
    for name, t in summary["tests"].items():
        lines.append(f"| {name} | {t['mean_diff']:+.4f} | {t['better']}/{t['n']} | {t.get('wilcoxon_p', '-')} / "
                     f"{t.get('wilcoxon_p_greater', '-')} | {t.get('t_p', '-')} |")
    (out / "flexora.md").write_text("\n".join(lines) + "\n")
    (out / "flexora.json").write_text(json.dumps(summary, indent=1) + "\n")
    _plot(by, out / "flexora_gates.png")
    print("\n".join(lines))
    return summary


def _plot(by: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("flexora-fo", "flexora-k2") if m in by]
    if not modes:
        return
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 3.8), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        rec = by[mode][min(by[mode])][0]
        traj = rec["search"]["trajectory"]
        steps = [t["step"] for t in traj]
        for i, layer in enumerate(rec["search"]["layers"]):
            ax.plot(steps, [t["gates"][i] for t in traj], label=f"layer {layer}" + (" *" if layer in rec["layers"] else ""))
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{mode}, seed {rec['seed']} (* selected)")
        ax.set_xlabel("weight step")
        ax.set_ylabel("gate")
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flexora", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", default="0-4")
    r.add_argument("--out", type=Path, default=Path("benchmarks/results/flexora"))
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--methods", default=",".join(METHODS))
    p = sub.add_parser("report")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/flexora"))
    args = parser.parse_args(argv)
    if args.command == "run":
        run(_seeds(args.seeds), args.out, threads=args.threads, methods=tuple(args.methods.split(",")))
    else:
        report(args.out)


if __name__ == "__main__":
    main()
