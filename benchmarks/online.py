"""Benchmarks of the online methods on scikit-learn's digits (CPU, minutes).

Parts, each printing a table and writing ``benchmarks/results/online_<part>.{json,md,png}``:

* ``stn``: Self-Tuning Networks tuning per-layer dropout and input noise of an MLP, against
  random search and TPE (hpo's own ``Study``) over fixed values of the same hyperparameters, each
  trial trained for the same number of epochs as the STN run, seeds 0-9. Every run, STN or fixed trial,
  is scored by the same rule: the validation loss of its best epoch, whose checkpoint gives the test
  loss (``--select final``: the last epoch). Compute is counted as multiply-accumulates (forward = 1,
  training step = 3 per weight per example; every evaluation the rule needs is counted), training
  epochs and CPU seconds. Each row is compared with random search's best per seed: the number of
  seeds at or below it and a paired Wilcoxon signed-rank p-value.
* ``stn-recheck``: reads ``online_stn.json`` and retrains every method's final setting (random
  search's and TPE's best, each STN's final values) on fresh training seeds, the same for every
  method on a seed: what each setting is worth once the search's selection over noisy runs is
  taken out (``online_stn_recheck.{json,md}``).
* ``hypergrad``: logistic regression and an MLP trained with SGD / Adam and their hypergradient
  versions from initial learning rates 1e-5 ... 1e-1; the spread of final training losses across
  initial rates, and the best run against the best fixed rate on a half-decade grid.

Usage::

    python -m benchmarks.online                 # both parts, full size
    python -m benchmarks.online --part stn --seeds 2 --quick
    python -m benchmarks.online --part stn --seeds 100-104   # other seeds (pilots)
    python -m benchmarks.online --part stn-recheck           # settings found, retrained on fresh seeds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"

# --- sizes (full run; --quick shrinks them) -----------------------------------------------------
# select: how every run is scored, STN and fixed trials alike: "best" = the epoch with the lowest validation loss
# (its checkpoint is kept, per-epoch evaluations are counted as compute), "final" = the last epoch.
STN_SIZES = {"hidden": [128, 128], "epochs": 60, "batch": 64, "lr": 1e-3, "trials": 20, "select": "best"}
STN_RANGES = {"input_noise": (0.0, 1.0), "dropout0": (0.0, 0.9), "dropout1": (0.0, 0.9), "dropout2": (0.0, 0.9)}
STN_INIT = 0.3  # initial value of every tuned hyperparameter in the STN runs
STN_VARIANTS = {  # name -> StnTrainer keyword arguments (plus init_scale for StnHyperparameters)
    "stn, fixed sigma (hyper_lr 1e-2)": {"hyper_lr": 1e-2, "tune_scales": False},
    "stn, learned sigma (hyper_lr 1e-2)": {"hyper_lr": 1e-2, "tune_scales": True},
    "stn, learned sigma (hyper_lr 3e-3)": {"hyper_lr": 3e-3, "tune_scales": True},
    "delta-stn, fixed sigma (hyper_lr 1e-2)": {"hyper_lr": 1e-2, "tune_scales": False, "centered": True},
    "stn 5:1, fixed sigma (hyper_lr 1e-2)": {"hyper_lr": 1e-2, "tune_scales": False, "train_steps": 5},
    "delta-stn linearised, fixed sigma (hyper_lr 1e-2)": {"hyper_lr": 1e-2, "tune_scales": False, "centered": True,
                                                          "linearize": True},
    # the two best of the cool-down pilot on seeds 100-104 (online_stn_pilot_cooldown.json), by its declared rule
    "stn, fixed sigma (hyper_lr 1e-2), cool-down 10 epochs": {"hyper_lr": 1e-2, "tune_scales": False,
                                                              "cooldown_epochs": 10},
    "stn, fixed sigma (hyper_lr 1e-2), cool-down 15 epochs": {"hyper_lr": 1e-2, "tune_scales": False,
                                                              "cooldown_epochs": 15},
}
STN_COMMON = {"train_steps": 2, "val_steps": 1, "entropy_weight": 1e-3, "warmup_epochs": 5}

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


# --- data ---------------------------------------------------------------------------------------
def _digits():
    """Digits split 60/20/20 (stratified, fixed), standardised on the training part."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xrest, ytr, yrest = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    Xva, Xte, yva, yte = train_test_split(Xrest, yrest, test_size=0.5, random_state=0, stratify=yrest)
    scaler = StandardScaler().fit(Xtr)
    t = lambda a: torch.tensor(scaler.transform(a), dtype=torch.float32)  # noqa: E731
    return {"train": (t(Xtr), torch.tensor(ytr)), "val": (t(Xva), torch.tensor(yva)),
            "test": (t(Xte), torch.tensor(yte))}


class _Batches:
    """Re-iterable minibatches, reshuffled on every pass by a seeded generator."""

    def __init__(self, X, y, batch: int, seed: int):
        import torch
        self.X, self.y, self.batch = X, y, batch
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        import torch
        idx = torch.randperm(len(self.X), generator=self.gen)
        for i in range(0, len(idx), self.batch):
            b = idx[i:i + self.batch]
            yield self.X[b], self.y[b]

    def __len__(self):
        return math.ceil(len(self.X) / self.batch)


def _init_worker():
    import torch
    torch.set_num_threads(1)


def _cpu():
    return time.process_time()


# --- STN part -----------------------------------------------------------------------------------
def _mlp_macs(sizes, stn_hypers=0):
    """Multiply-accumulates of one forward pass per example (STN layers: base + hyper + gates)."""
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 2 * macs + 2 * stn_hypers * sum(sizes[1:]) if stn_hypers else macs


def _fixed_trial(config: dict | list[dict], seed: int, sz: dict, data) -> dict:
    """Train the plain MLP with fixed dropout/noise; validation and test loss under the selection rule.

    ``config`` may be a list with one dict per epoch instead (an STN's schedule replayed; its last
    entry holds for any later epoch).

    The validation loss is measured after every epoch. ``sz["select"] == "best"`` scores the trial
    by the epoch with the lowest validation loss (its weights are kept for the test loss) and counts
    those evaluations as compute; ``"final"`` scores the last epoch and counts one evaluation.
    Both scores are returned either way (``val_final``, ``val_best`` and their test losses).
    """
    import torch
    import torch.nn.functional as F

    start = _cpu()
    torch.manual_seed(seed)
    sizes = [64, *sz["hidden"], 10]
    layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
    opt = torch.optim.Adam(layers.parameters(), lr=sz["lr"])

    per_epoch = config if isinstance(config, list) else [config]
    now = per_epoch[0]

    def forward(x, train):
        if train:
            x = x + now["input_noise"] * torch.randn_like(x)
        for i, layer in enumerate(layers):
            if train:
                x = F.dropout(x, now[f"dropout{i}"])
            x = layer(x)
            x = F.relu(x) if i < len(layers) - 1 else x
        return x

    def loss(split):
        with torch.no_grad():
            v = float(F.cross_entropy(forward(data[split][0], False), data[split][1]))
        return v if math.isfinite(v) else float("inf")

    batches = _Batches(*data["train"], sz["batch"], seed)
    curve, best, best_state = [], float("inf"), None
    for epoch in range(sz["epochs"]):
        now = per_epoch[min(epoch, len(per_epoch) - 1)]
        for xb, yb in batches:
            opt.zero_grad()
            F.cross_entropy(forward(xb, True), yb).backward()
            opt.step()
        curve.append(loss("val"))
        if curve[-1] < best:
            best, best_state = curve[-1], {k: v.clone() for k, v in layers.state_dict().items()}
    out = {"val_final": curve[-1], "test_final": loss("test"), "val_curve": curve}
    if best_state is not None:
        layers.load_state_dict(best_state)
    out.update(val_best=min(curve), test_best=loss("test"), best_epoch=int(np.argmin(curve)))
    rule = sz.get("select", "final")
    n_train = sz["epochs"] * len(data["train"][0])
    n_val = len(data["val"][0]) * (sz["epochs"] if rule == "best" else 1)
    macs = _mlp_macs(sizes) * (3 * n_train + n_val + len(data["test"][0]))
    return {"val_loss": out[f"val_{rule}"], "test_loss": out[f"test_{rule}"], **out, "epochs": sz["epochs"],
            "macs": macs, "cpu_s": _cpu() - start}


def _search_job(strategy: str, seed: int, sz: dict) -> dict:
    """Random search or TPE over fixed hyperparameter values with hpo's Study."""
    _init_worker()
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = _digits()
    start = _cpu()
    try:
        import hpo
        study = hpo.create_study(space={k: hpo.Float(lo, hi) for k, (lo, hi) in STN_RANGES.items()},
                                 strategy=strategy, seed=seed)
        backend = f"hpo.create_study(strategy={strategy!r})"
        ask = lambda: study.ask()  # noqa: E731
        params = lambda t: t.params  # noqa: E731
    except Exception as exc:  # fall back to optuna's samplers when the hpo core is unusable
        sampler = optuna.samplers.RandomSampler(seed) if strategy == "random" else optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        backend = f"optuna {type(sampler).__name__} (hpo failed: {exc})"
        dists = {k: optuna.distributions.FloatDistribution(lo, hi) for k, (lo, hi) in STN_RANGES.items()}
        ask = lambda: study.ask(dists)  # noqa: E731
        params = lambda t: t.params  # noqa: E731
    trials = []
    for k in range(sz["trials"]):
        trial = ask()
        config = dict(params(trial))
        out = _fixed_trial(config, seed * 1000 + k, sz, data)
        study.tell(trial, out["val_loss"])
        trials.append({"config": config, **out})
    return {"kind": "search", "strategy": strategy, "seed": seed, "backend": backend, "trials": trials,
            "cpu_s": _cpu() - start}


def _stn_job(variant: str, seed: int, sz: dict) -> dict:
    _init_worker()
    import torch
    import torch.nn.functional as F

    from hpo.online.stn import Hyper, HyperBatch, StnHyperparameters, StnMLP, StnTrainer

    data = _digits()
    start = _cpu()
    torch.manual_seed(seed)
    kwargs = {**STN_COMMON, **STN_VARIANTS[variant]}
    init, init_scale = kwargs.pop("init", STN_INIT), kwargs.pop("init_scale", 0.5)
    val_batch = kwargs.pop("val_batch", sz["batch"])
    hp = StnHyperparameters({k: Hyper(lo, hi, init=init) for k, (lo, hi) in STN_RANGES.items()}, init_scale)
    model = StnMLP(64, sz["hidden"], 10, hp)
    trainer = StnTrainer(model, hp, lr=sz["lr"], seed=seed, **kwargs)
    val_batches = _Batches(*data["val"], val_batch, seed + 7)
    result = trainer.fit(_Batches(*data["train"], sz["batch"], seed), val_batches, sz["epochs"],
                         restore_best=sz.get("select", "final") == "best")
    with torch.no_grad():
        Xte, yte = data["test"]
        test = float(F.cross_entropy(model(Xte, HyperBatch.fixed(hp, len(Xte), trainer.centered)), yte))
    sizes = [64, *sz["hidden"], 10]
    n_eval = sz["epochs"] * len(data["val"][0]) + len(Xte)
    # linearised (Delta-STN) steps: a plain pass (3) plus a pass carrying a tangent (6) per weight step; a
    # hyperparameter step with learned scales carries a tangent too; cool-down weight steps are plain ones
    w_cost, h_cost = (9, 6 if trainer.tune_scales else 3) if trainer.linearize else (3, 3)
    cool = result.extra["cooldown_train_examples"]
    macs = _mlp_macs(sizes, len(hp)) * (w_cost * (result.train_examples - cool) + 3 * cool
                                        + h_cost * result.val_examples + n_eval)
    passes = 2 if trainer.linearize else 1
    epochs = (passes * (result.train_examples - cool) + cool + result.val_examples) / len(data["train"][0])
    cpu_s = _cpu() - start
    retrain = _fixed_trial(result.hyperparameters, seed * 1000 + 999, sz, data)  # STN's final values, held fixed
    return {"kind": "stn", "variant": variant, "seed": seed, "val_loss": result.val_loss, "test_loss": test,
            "val_final": result.extra["final_val_loss"], "best_epoch": result.extra["best_epoch"],
            "retrain": retrain, "hyperparameters": result.hyperparameters, "schedule": result.schedule, "macs": macs,
            "epoch_equivalents": epochs, "train_examples": result.train_examples,
            "val_examples": result.val_examples, "cpu_s": cpu_s}


def _stn_summary(runs: list[dict], seeds: list[int], sz: dict) -> tuple[list[dict], str]:
    search = {(r["strategy"], r["seed"]): r for r in runs if r["kind"] == "search"}
    stn = [r for r in runs if r["kind"] == "stn"]
    rows = []
    trial_macs = float(np.mean([t["macs"] for r in search.values() for t in r["trials"]]))
    for strategy in ("random", "tpe"):
        rs = [search[(strategy, s)] for s in seeds if (strategy, s) in search]
        best = [min(r["trials"], key=lambda t: t["val_loss"]) for r in rs]
        rows.append({"method": f"{strategy} ({len(rs[0]['trials'])} trials)",
                     "val": [b["val_loss"] for b in best], "test": [b["test_loss"] for b in best],
                     "val_last": [min(t["val_final"] for t in r["trials"]) for r in rs],
                     "macs": [sum(t["macs"] for t in r["trials"]) for r in rs],
                     "epochs": [sum(t["epochs"] for t in r["trials"]) for r in rs],
                     "cpu_s": [sum(t["cpu_s"] for t in r["trials"]) for r in rs]})
    for variant in STN_VARIANTS:
        vs = sorted((r for r in stn if r["variant"] == variant), key=lambda r: r["seed"])
        if not vs:
            continue
        rows.append({"method": variant, "val": [r["val_loss"] for r in vs], "test": [r["test_loss"] for r in vs],
                     "val_last": [r["val_final"] for r in vs], "best_epoch": [r["best_epoch"] for r in vs],
                     "macs": [r["macs"] for r in vs], "epochs": [r["epoch_equivalents"] for r in vs],
                     "cpu_s": [r["cpu_s"] for r in vs], "seeds": [r["seed"] for r in vs]})
        rows.append({"method": f"{variant}, then retrained at its final values",
                     "val": [r["retrain"]["val_loss"] for r in vs], "test": [r["retrain"]["test_loss"] for r in vs],
                     "val_last": [r["retrain"]["val_final"] for r in vs],
                     "macs": [r["macs"] + r["retrain"]["macs"] for r in vs],
                     "epochs": [r["epoch_equivalents"] + r["retrain"]["epochs"] for r in vs],
                     "cpu_s": [r["cpu_s"] + r["retrain"]["cpu_s"] for r in vs]})
    main = next(iter(STN_VARIANTS), None)
    stn_macs = [r["macs"] for r in stn if r["variant"] == main]
    if stn_macs:  # random search cut at the compute a run of the main STN variant used: its first k trials
        k = max(1, int(round(np.mean(stn_macs) / trial_macs)))
        cuts = [search[("random", s)]["trials"][:k] for s in seeds if ("random", s) in search]
        best = [min(c, key=lambda t: t["val_loss"]) for c in cuts]
        rows.append({"method": f"random, first {k} trials (≈ one STN run's compute)",
                     "val": [b["val_loss"] for b in best], "test": [b["test_loss"] for b in best],
                     "val_last": [min(t["val_final"] for t in c) for c in cuts],
                     "macs": [sum(t["macs"] for t in c) for c in cuts], "epochs": [k * sz["epochs"]] * len(cuts),
                     "cpu_s": [sum(t["cpu_s"] for t in c) for c in cuts]})
    rs_row = rows[0]
    rule = sz.get("select", "final")
    lines = [f"| method | val loss (mean ± sd; {rule} epoch) | test loss (mean ± sd) | MACs ×1e9 | epochs | CPU s "
             "| ≤ RS best (seeds) | Wilcoxon p vs RS best | compute / RS: MACs (CPU s) "
             "| val loss, last epoch (≤ RS) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        beat, ratio, p = "", "", ""
        if row is not rs_row and not row["method"].startswith("random"):
            beat = _at_or_below(row["val"], rs_row["val"])
            row["wilcoxon_p_vs_rs"] = _wilcoxon(row["val"], rs_row["val"])
            p = f"{row['wilcoxon_p_vs_rs']:.3f}" if row["wilcoxon_p_vs_rs"] is not None else "n/a"
        if row["method"].startswith(("stn", "delta")):
            ratio = (f"{np.mean(row['macs']) / np.mean(rs_row['macs']):.3f} "
                     f"(CPU {np.mean(row['cpu_s']) / np.mean(rs_row['cpu_s']):.3f})")
        row["beats_rs_seeds"], row["compute_ratio"] = beat, ratio
        last = f"{np.mean(row['val_last']):.4f}"
        if beat:
            last += f" ({_at_or_below(row['val_last'], rs_row['val_last'])})"
        test = [t if t is not None else np.nan for t in row["test"]]
        lines.append(f"| {row['method']} | {np.mean(row['val']):.4f} ± {np.std(row['val']):.4f} | "
                     f"{np.nanmean(test):.4f} ± {np.nanstd(test):.4f} | "
                     f"{np.mean(row['macs']) / 1e9:.1f} | {np.mean(row['epochs']):.0f} | "
                     f"{np.nanmean(row['cpu_s']):.1f} | {beat} | {p} | {ratio} | {last} |")
    return rows, "\n".join(lines)


def _at_or_below(values: list[float], reference: list[float]) -> str:
    """``"k/n"``: on how many of the n seeds ``values`` is at or below ``reference``."""
    return f"{sum(v <= r for v, r in zip(values, reference))}/{len(values)}"


def _wilcoxon(a: list[float], b: list[float]) -> float | None:
    """Two-sided paired Wilcoxon signed-rank p-value of ``a`` against ``b`` (per seed); None when undefined."""
    from scipy.stats import wilcoxon

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diff) < 2 or not np.any(diff != 0) or not np.all(np.isfinite(diff)):
        return None
    return float(wilcoxon(a, b).pvalue)


def _plot_stn(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stn = [r for r in runs if r["kind"] == "stn"]
    variants = [v for v in STN_VARIANTS if any(r["variant"] == v for r in stn)]
    ncol = 3
    nrow = math.ceil((len(variants) + 1) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(variants) + 1:]:
        ax.set_visible(False)
    for ax, variant in zip(axes, variants):
        for r in (r for r in stn if r["variant"] == variant):
            for j, name in enumerate(STN_RANGES):
                ax.plot([row[name] for row in r["schedule"]], color=f"C{j}", alpha=0.6,
                        label=name if r["seed"] == min(x["seed"] for x in stn) else None)
        ax.set(title=variant, xlabel="epoch", ylabel="hyperparameter value")
        ax.legend(fontsize=7)
    ax = axes[len(variants)]
    search = [r for r in runs if r["kind"] == "search" and r["strategy"] == "random"]
    for r in search:
        ax.scatter(np.cumsum([t["macs"] for t in r["trials"]]) / 1e9,
                   np.minimum.accumulate([t["val_loss"] for t in r["trials"]]), s=8, color="grey",
                   label="random search (best so far)" if r is search[0] else None)
    for j, variant in enumerate(variants):
        vs = [r for r in stn if r["variant"] == variant]
        ax.scatter([r["macs"] / 1e9 for r in vs], [r["val_loss"] for r in vs], marker="*", s=80, color=f"C{j}",
                   label=variant)
    ax.set(xscale="log", yscale="log", xlabel="compute (GMACs)", ylabel="validation loss", title="loss vs compute")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- selection-bias check (STN part) -------------------------------------------------------------
def _retrain_job(setting: dict, seeds: list[int], sz: dict) -> list[dict]:
    """Train the plain MLP at one fixed setting once per training seed; val and test loss each time."""
    _init_worker()
    data = _digits()
    return [{k: v for k, v in _fixed_trial(setting, s, sz, data).items() if k != "val_curve"} for s in seeds]


def _settings_found(runs: list[dict]) -> dict[str, dict[int, tuple[dict, float]]]:
    """Per method and seed: the fixed setting it ends with and the validation loss it reported for it
    (plus random search's 4th trial, which nothing selected: a control for the retraining itself)."""
    found: dict[str, dict[int, tuple[dict, float]]] = {}
    for r in runs:
        if r["kind"] == "search":
            best = min(r["trials"], key=lambda t: t["val_loss"])
            found.setdefault(f"{r['strategy']} ({len(r['trials'])} trials)", {})[r["seed"]] = (best["config"],
                                                                                             best["val_loss"])
            if r["strategy"] == "random" and len(r["trials"]) > 3:  # a control: no selection, so no gap expected
                found.setdefault("random, its 4th trial (unselected control)", {})[r["seed"]] = (
                    r["trials"][3]["config"], r["trials"][3]["val_loss"])
        else:
            found.setdefault(r["variant"], {})[r["seed"]] = (r["hyperparameters"], r["val_loss"])
    return found


def run_stn_recheck(retrains: int, n_jobs: int) -> None:
    """Retrain every method's final setting from ``online_stn.json`` on fresh training seeds.

    A search's best reported loss is the minimum over its trials of one noisy training run each,
    so it is optimistic (the winner's curse); an STN reports one run. Training each method's final
    setting ``retrains`` more times, with the same fresh seeds for every method on a benchmark seed,
    measures what the setting is worth and how much of the reported loss was selection.
    """
    saved = json.loads((RESULTS / "online_stn.json").read_text())
    sz = dict(saved["meta"]["sizes"])
    found = _settings_found(saved["runs"])
    seeds = sorted(saved["meta"]["seeds"])
    fresh = {seed: [seed * 1000 + 500 + j for j in range(retrains)] for seed in seeds}
    keys = [(m, seed) for m, by_seed in found.items() for seed in seeds if seed in by_seed]
    t0 = time.time()
    outs = _run_jobs([(_retrain_job, found[m][seed][0], fresh[seed], sz) for m, seed in keys], n_jobs)
    wall = time.time() - t0
    result = {m: {} for m in found}
    for (m, seed), out in zip(keys, outs):
        result[m][seed] = {"setting": found[m][seed][0], "reported_val": found[m][seed][1],
                           "fresh_val": [o["val_loss"] for o in out], "fresh_test": [o["test_loss"] for o in out]}
    rs = next(m for m in found if m.startswith("random ("))
    rs_fresh = [np.mean(result[rs][s]["fresh_val"]) for s in seeds]
    lines = ["| setting found by | reported val loss | val loss of the setting, fresh runs | test loss, fresh runs "
             "| fresh ≤ RS's fresh (seeds) | p | reported ≤ RS's fresh (seeds) | p |",
             "|---|---|---|---|---|---|---|---|"]
    rows = []
    for m in found:
        rep = [result[m][s]["reported_val"] for s in seeds]
        val = [float(np.mean(result[m][s]["fresh_val"])) for s in seeds]
        test = [float(np.mean(result[m][s]["fresh_test"])) for s in seeds]
        row = {"method": m, "reported_val": rep, "fresh_val": val, "fresh_test": test}
        def against_rs(values: list[float]) -> list[str]:
            p = _wilcoxon(values, rs_fresh)
            return [_at_or_below(values, rs_fresh), "n/a" if p is None else f"{p:.3f}"]

        cells = (["–", "–"] if m == rs else against_rs(val)) + against_rs(rep)
        rows.append(row)
        lines.append(f"| {m} | {np.mean(rep):.4f} ± {np.std(rep):.4f} | {np.mean(val):.4f} ± {np.std(val):.4f} | "
                     f"{np.mean(test):.4f} ± {np.std(test):.4f} | {' | '.join(cells)} |")
    table = "\n".join(lines)
    meta = {"sizes": sz, "retrains": retrains, "training_seeds": "seed * 1000 + 500 + j, j < retrains",
            "seeds": seeds, "n_jobs": n_jobs, "wall_s": wall, "source": "online_stn.json"}
    (RESULTS / "online_stn_recheck.json").write_text(json.dumps({"meta": meta, "rows": rows, "runs": result},
                                                                indent=1))
    text = (f"Every method's final setting from online_stn.json retrained {retrains} times on fresh training seeds "
            f"(the same seeds for every method on a benchmark seed), seeds {seeds[0]}-{seeds[-1]}; scored by the "
            f"{sz.get('select', 'final')}-epoch rule; mean over the fresh runs per seed, then mean ± sd over seeds; "
            f"p: paired Wilcoxon against random search's setting, fresh (wall {wall:.0f} s on {n_jobs} workers)"
            f"\n\n{table}\n")
    (RESULTS / "online_stn_recheck.md").write_text(text)
    print(text)


# --- hypergradient part -------------------------------------------------------------------------
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
    _init_worker()
    import torch
    import torch.nn.functional as F

    data = _digits()
    Xtr, ytr = data["train"]
    base, kwargs = HD_METHODS[method]
    out = []
    for lr in lrs:
        start = _cpu()
        torch.manual_seed(seed)
        if model_kind == "logreg":
            model = torch.nn.Linear(64, 10)
        else:
            model = torch.nn.Sequential(torch.nn.Linear(64, sz["mlp_hidden"]), torch.nn.ReLU(),
                                        torch.nn.Linear(sz["mlp_hidden"], 10))
        opt = _make_opt(base, model.parameters(), lr, kwargs)
        curve, lr_curve = [], []
        for _ in range(sz["epochs"]):
            for xb, yb in _Batches(Xtr, ytr, sz["batch"], seed * 100003 + len(curve)):
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
                    "cpu_s": _cpu() - start})
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


# --- driver -------------------------------------------------------------------------------------


def _run_jobs(jobs, n_jobs):
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker) as pool:
        futures = [pool.submit(fn, *args) for fn, *args in jobs]
        return [f.result() for f in futures]


def run_stn(seeds: list[int], n_jobs: int, quick: bool, select: str = "best") -> None:
    sz = dict(STN_SIZES, select=select, **({"epochs": 15, "trials": 6, "hidden": [64, 64]} if quick else {}))
    t0 = time.time()
    jobs = [(_search_job, s, seed, sz) for seed in seeds for s in ("random", "tpe")]
    jobs += [(_stn_job, v, seed, sz) for seed in seeds for v in STN_VARIANTS]
    runs = _run_jobs(jobs, n_jobs)
    wall = time.time() - t0
    rows, table = _stn_summary(runs, seeds, sz)
    backends = sorted({r["backend"] for r in runs if r["kind"] == "search"})
    meta = {"sizes": sz, "ranges": STN_RANGES, "stn_init": STN_INIT, "stn_common": STN_COMMON,
            "variants": STN_VARIANTS, "seeds": seeds, "n_jobs": n_jobs, "wall_s": wall, "backends": backends,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus (shared)"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("_quick" if quick else "") + ("" if select == "best" else f"_{select}")
    (RESULTS / f"online_stn{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows, "runs": runs}, indent=1))
    _plot_stn(runs, RESULTS / f"online_stn{suffix}.png")
    text = (f"STN vs random search / TPE on digits (MLP {sz['hidden']}, {sz['epochs']} epochs per run, "
            f"{sz['trials']} trials per search, seeds {seeds}, every run scored at its {select} epoch by validation "
            f"loss; search backend: {'; '.join(backends)}; wall {wall:.0f} s on {n_jobs} workers)\n\n{table}\n\n"
            "Last column: the same runs scored at their last epoch instead (for TPE the search itself was guided "
            f"by the {select}-epoch scores).\n")
    (RESULTS / f"online_stn{suffix}_table.md").write_text(text)
    print(text)


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
    runs = [r for batch in _run_jobs(jobs, n_jobs) for r in batch]
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


def _seed_list(text: str) -> list[int]:
    """``"5"`` -> 0..4, ``"0-9"`` -> 0..9, ``"1,5,7"`` -> [1, 5, 7]."""
    try:
        if "," in text:
            return [int(t) for t in text.split(",")]
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-"))
            if hi >= lo:
                return list(range(lo, hi + 1))
        elif int(text) > 0:
            return list(range(int(text)))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--seeds takes N, A-B or a comma list, got {text!r}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["stn", "stn-recheck", "hypergrad", "all"], default="all",
                        help="stn-recheck: retrain every method's final setting from online_stn.json on fresh seeds")
    parser.add_argument("--retrains", type=int, default=5, help="stn-recheck: fresh training runs per setting")
    parser.add_argument("--seeds", type=_seed_list, default=_seed_list("0-9"),
                        help="STN part: a count N (seeds 0..N-1), a range A-B (inclusive) or a list 1,5,7; "
                             "default 0-9 (hypergradient seeds are fixed at 3)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, results written with a _quick suffix")
    parser.add_argument("--select", choices=["best", "final"], default="best",
                        help="STN part: score every run (STN and fixed trials) at its best-validation epoch or its last")
    parser.add_argument("--replot", action="store_true", help="redraw the PNGs from the saved JSON results only")
    args = parser.parse_args(argv)
    if args.replot:
        for part, plot in (("stn", _plot_stn), ("hypergrad", lambda runs, path: _plot_hd(runs, path, seed=0))):
            saved = RESULTS / f"online_{part}.json"
            if args.part in (part, "all") and saved.exists():
                plot(json.loads(saved.read_text())["runs"], RESULTS / f"online_{part}.png")
        return
    if args.part == "stn-recheck":
        run_stn_recheck(args.retrains, args.jobs)
        return
    if args.part in ("hypergrad", "all"):
        run_hypergrad(args.jobs, args.quick)
    if args.part in ("stn", "all"):
        run_stn(args.seeds, args.jobs, args.quick, args.select)


if __name__ == "__main__":
    main()
