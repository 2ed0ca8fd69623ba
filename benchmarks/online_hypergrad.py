"""Hypergradient learning rates on scikit-learn's digits: sensitivity to the initial rate (CPU, minutes).

Logistic regression and an MLP trained with SGD / Adam and their hypergradient versions from initial
learning rates 1e-5 ... 1e-1; the spread of final training losses across initial rates, and the best
run against the best fixed rate on a half-decade grid. Writes ``benchmarks/results/online_hypergrad*``.

Usage::

    python -m benchmarks.online --part hypergrad --jobs 1
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from benchmarks.online_common import RESULTS, Batches, cpu, digits, init_worker, run_jobs

HD_SIZES = {"epochs": 20, "batch": 64, "mlp_hidden": 100, "seeds": 3}
HD_INITIAL_LRS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
HD_GRID = [10 ** (-k / 2) for k in range(2, 11)]  # 1e-1 ... 1e-5, half decades: the tuned fixed rate
HD_WIDE = [1.0, 10 ** -0.5]  # also run for the base optimizers: is the best fixed rate above the range?
HD_METHODS = {  # name -> (base, kwargs); base methods have no hypergradient
    "sgd": ("sgd", {}),
    "sgd-hd add beta=1e-3 (paper)": ("sgdhd", {"hypergrad_lr": 1e-3}),
    "sgd-hd add beta=1e-2": ("sgdhd", {"hypergrad_lr": 1e-2}),
    "sgd-hd mul beta=0.02": ("sgdhd", {"hypergrad_lr": 0.02, "hypergrad_mode": "multiplicative"}),
    "sgd-hd mul beta=0.1": ("sgdhd", {"hypergrad_lr": 0.1, "hypergrad_mode": "multiplicative"}),
    "adam": ("adam", {}),
    "adam-hd add beta=1e-7 (paper)": ("adamhd", {"hypergrad_lr": 1e-7}),
    "adam-hd add beta=1e-6": ("adamhd", {"hypergrad_lr": 1e-6}),
    "adam-hd add beta=1e-5": ("adamhd", {"hypergrad_lr": 1e-5}),
    "adam-hd mul beta=0.02": ("adamhd", {"hypergrad_lr": 0.02, "hypergrad_mode": "multiplicative"}),
    "adam-hd mul beta=0.1": ("adamhd", {"hypergrad_lr": 0.1, "hypergrad_mode": "multiplicative"}),
}


def _make_opt(base: str, params, lr: float, kwargs: dict):
    import torch

    from hpo.online.hypergrad import SGDHD, AdamHD
    if base == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if base == "adam":
        return torch.optim.Adam(params, lr=lr)
    if base == "sgdhd":
        return SGDHD(params, lr=lr, lr_bounds=(1e-8, 10.0), **kwargs)
    return AdamHD(params, lr=lr, lr_bounds=(1e-8, 1.0), **kwargs)


def _hd_job(model_kind: str, method: str, lrs: list[float], seed: int, sz: dict) -> list[dict]:
    init_worker()
    import torch
    import torch.nn.functional as F

    data = digits()
    Xtr, ytr = data["train"]
    base, kwargs = HD_METHODS[method]
    out = []
    for lr in lrs:
        start = cpu()
        torch.manual_seed(seed)
        if model_kind == "logreg":
            model = torch.nn.Linear(64, 10)
        else:
            model = torch.nn.Sequential(torch.nn.Linear(64, sz["mlp_hidden"]), torch.nn.ReLU(),
                                        torch.nn.Linear(sz["mlp_hidden"], 10))
        opt = _make_opt(base, model.parameters(), lr, kwargs)
        curve, lr_curve = [], []
        for _ in range(sz["epochs"]):
            for xb, yb in Batches(Xtr, ytr, sz["batch"], seed * 100003 + len(curve)):
                opt.zero_grad()
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
            with torch.no_grad():
                curve.append(float(F.cross_entropy(model(Xtr), ytr)))
            lr_curve.append(float(opt.param_groups[0]["lr"]))
        with torch.no_grad():
            val = float(F.cross_entropy(model(data["val"][0]), data["val"][1]))
        final = curve[-1] if math.isfinite(curve[-1]) else float("inf")
        out.append({"model": model_kind, "method": method, "lr0": lr, "seed": seed, "train_loss": final,
                    "val_loss": val if math.isfinite(val) else float("inf"), "curve": curve, "lr_curve": lr_curve,
                    "cpu_s": cpu() - start})
    return out


def _hd_summary(runs: list[dict]) -> tuple[list[dict], str]:
    rows = []
    lines = ["| model | method | final train loss at lr0 = " + " / ".join(f"{lr:g}" for lr in HD_INITIAL_LRS)
             + " | spread | spread ratio (base / this) | best run | best fixed lr (grid 1e-5..1e-1) "
             "| best / best fixed "
             "| best fixed lr (grid to 1) | best / that |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model in ("logreg", "mlp"):
        def mean_loss(method, lr):
            vals = [r["train_loss"] for r in runs if r["model"] == model and r["method"] == method
                    and math.isclose(r["lr0"], lr)]
            return float(np.mean(vals)) if vals else float("nan")

        for method, (base, _) in HD_METHODS.items():
            family = "sgd" if base.startswith("sgd") else "adam"
            per_lr = [mean_loss(method, lr) for lr in HD_INITIAL_LRS]
            base_per_lr = [mean_loss(family, lr) for lr in HD_INITIAL_LRS]
            grid = {lr: mean_loss(family, lr) for lr in HD_GRID}
            best_fixed_lr = min(grid, key=lambda k: grid[k] if math.isfinite(grid[k]) else np.inf)
            spread = float(np.max(per_lr) - np.min(per_lr))
            base_spread = float(np.max(base_per_lr) - np.min(base_per_lr))
            best = float(np.min(per_lr))
            row = {"model": model, "method": method, "losses": per_lr, "spread": spread,
                   "spread_ratio": base_spread / spread if spread > 0 else float("inf"), "best": best,
                   "best_fixed": grid[best_fixed_lr], "best_fixed_lr": best_fixed_lr,
                   "best_over_fixed": best / grid[best_fixed_lr]}
            wide = {lr: mean_loss(family, lr) for lr in HD_GRID + HD_WIDE}
            wide_lr = min(wide, key=lambda k: wide[k] if math.isfinite(wide[k]) else np.inf)
            row.update({"best_fixed_wide": wide[wide_lr], "best_fixed_wide_lr": wide_lr,
                        "best_over_fixed_wide": best / wide[wide_lr]})
            row["meets_spread"] = base != family and row["spread_ratio"] >= 5
            row["meets_best"] = row["best_over_fixed"] <= 1.05
            rows.append(row)
            lines.append(f"| {model} | {method} | " + " / ".join(f"{v:.4f}" for v in per_lr)
                         + f" | {spread:.4f} | {row['spread_ratio']:.1f} | {best:.4f} | "
                         f"{grid[best_fixed_lr]:.4f} (lr {best_fixed_lr:.2g}) | {row['best_over_fixed']:.3f} | "
                         f"{wide[wide_lr]:.4f} (lr {wide_lr:.2g}) | {row['best_over_fixed_wide']:.3f} |")
    return rows, "\n".join(lines)


def _plot_hd(runs: list[dict], path: Path, seed: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ["sgd", "sgd-hd add beta=1e-3 (paper)", "sgd-hd mul beta=0.1",
             "adam", "adam-hd add beta=1e-7 (paper)", "adam-hd mul beta=0.1"]
    fig, axes = plt.subplots(2, len(shown), figsize=(3.6 * len(shown), 6.4), sharey="row")
    for i, model in enumerate(("logreg", "mlp")):
        for j, method in enumerate(shown):
            ax = axes[i, j]
            for k, lr in enumerate(HD_INITIAL_LRS):
                r = next((r for r in runs if r["model"] == model and r["method"] == method and r["seed"] == seed
                          and math.isclose(r["lr0"], lr)), None)
                if r is not None:
                    ax.plot(range(1, len(r["curve"]) + 1), r["curve"], color=plt.cm.viridis(k / 4), label=f"lr0={lr:g}")
            ax.set(yscale="log", xlabel="epoch")
            ax.set_title(f"{model}: {method}", fontsize=9)
            if j == 0:
                ax.set_ylabel("training loss")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)



def run_hypergrad(n_jobs: int, quick: bool) -> None:
    sz = dict(HD_SIZES, **({"epochs": 5, "seeds": 1} if quick else {}))
    t0 = time.time()
    jobs = []
    for model in ("logreg", "mlp"):
        for seed in range(sz["seeds"]):
            for method, (base, _) in HD_METHODS.items():
                fixed = base in ("sgd", "adam")
                lrs = sorted(set(HD_GRID) | set(HD_INITIAL_LRS) | set(HD_WIDE)) if fixed else HD_INITIAL_LRS
                jobs.append((_hd_job, model, method, lrs, seed, sz))
    runs = [r for batch in run_jobs(jobs, n_jobs) for r in batch]
    wall = time.time() - t0
    rows, table = _hd_summary(runs)
    meta = {"sizes": sz, "initial_lrs": HD_INITIAL_LRS, "grid": HD_GRID, "wide_grid": HD_WIDE,
            "methods": HD_METHODS, "wall_s": wall,
            "n_jobs": n_jobs, "loss": "full-batch training cross-entropy after the last epoch, mean over seeds"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if quick else ""
    (RESULTS / f"online_hypergrad{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows, "runs": runs}))
    _plot_hd(runs, RESULTS / f"online_hypergrad{suffix}.png", seed=0)
    text = (f"Hypergradient learning rates on digits ({sz['epochs']} epochs, batch {sz['batch']}, "
            f"{sz['seeds']} seeds; loss = final full-batch training loss, mean over seeds; wall {wall:.0f} s on "
            f"{n_jobs} workers)\n\n{table}\n")
    (RESULTS / f"online_hypergrad{suffix}_table.md").write_text(text)
    print(text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, results written with a _quick suffix")
    parser.add_argument("--replot", action="store_true", help="redraw online_hypergrad.png from the saved JSON only")
    args = parser.parse_args(argv)
    if args.replot:
        saved = RESULTS / "online_hypergrad.json"
        if saved.exists():
            _plot_hd(json.loads(saved.read_text())["runs"], RESULTS / "online_hypergrad.png", seed=0)
        return
    run_hypergrad(args.jobs, args.quick)


if __name__ == "__main__":
    main()
