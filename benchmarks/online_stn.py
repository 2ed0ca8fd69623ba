"""Self-Tuning Networks against random search and TPE on scikit-learn's digits (CPU, minutes).

Parts, run through ``python -m benchmarks.online`` (which dispatches here) or this module:

* ``stn``: Self-Tuning Networks tuning per-layer dropout and input noise of an MLP, against
  random search and TPE (hpo's own ``Study``) over fixed values of the same hyperparameters, each
  trial trained for the same number of epochs as the STN run, seeds 0-9. Every run, STN or fixed trial,
  is scored by the same rule: the validation loss of its best epoch, whose checkpoint gives the test
  loss (``--select final``: the last epoch). Compute is counted as multiply-accumulates (forward = 1,
  training step = 3 per weight per example; every evaluation the rule needs is counted), training
  epochs and CPU seconds. Each row is compared with random search's best per seed: the number of
  seeds at or below it and a paired Wilcoxon signed-rank p-value. Writes
  ``benchmarks/results/online_stn{,_table}.{json,md,png}``.
* ``stn-recheck``: reads ``online_stn.json`` and retrains every method's final setting (random
  search's and TPE's best, each STN's final values) on fresh training seeds, the same for every
  method on a seed: what each setting is worth once the search's selection over noisy runs is
  taken out (``online_stn_recheck.{json,md}``).

Usage::

    python -m benchmarks.online --part stn --jobs 1 --seeds 0-9
    python -m benchmarks.online --part stn --seeds 2 --quick
    python -m benchmarks.online --part stn --seeds 100-104   # other seeds (pilots)
    python -m benchmarks.online --part stn-recheck           # settings found, retrained on fresh seeds
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from benchmarks.online_common import (RESULTS, Batches, cpu, digits, init_worker, machine, run_jobs,
                                      seed_list)

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

    start = cpu()
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

    batches = Batches(*data["train"], sz["batch"], seed)
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
            "macs": macs, "cpu_s": cpu() - start}


def _search_job(strategy: str, seed: int, sz: dict) -> dict:
    """Random search or TPE over fixed hyperparameter values with hpo's Study."""
    init_worker()
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = digits()
    start = cpu()
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
            "cpu_s": cpu() - start}


def _stn_job(variant: str, seed: int, sz: dict) -> dict:
    init_worker()
    import torch
    import torch.nn.functional as F

    from hpo.online.stn import Hyper, HyperBatch, StnHyperparameters, StnMLP, StnTrainer

    data = digits()
    start = cpu()
    torch.manual_seed(seed)
    kwargs = {**STN_COMMON, **STN_VARIANTS[variant]}
    init, init_scale = kwargs.pop("init", STN_INIT), kwargs.pop("init_scale", 0.5)
    val_batch = kwargs.pop("val_batch", sz["batch"])
    hp = StnHyperparameters({k: Hyper(lo, hi, init=init) for k, (lo, hi) in STN_RANGES.items()}, init_scale)
    model = StnMLP(64, sz["hidden"], 10, hp)
    trainer = StnTrainer(model, hp, lr=sz["lr"], seed=seed, **kwargs)
    val_batches = Batches(*data["val"], val_batch, seed + 7)
    result = trainer.fit(Batches(*data["train"], sz["batch"], seed), val_batches, sz["epochs"],
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
    cpu_s = cpu() - start
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
    init_worker()
    data = digits()
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
    outs = run_jobs([(_retrain_job, found[m][seed][0], fresh[seed], sz) for m, seed in keys], n_jobs)
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


def run_stn(seeds: list[int], n_jobs: int, quick: bool, select: str = "best") -> None:
    sz = dict(STN_SIZES, select=select, **({"epochs": 15, "trials": 6, "hidden": [64, 64]} if quick else {}))
    t0 = time.time()
    jobs = [(_search_job, s, seed, sz) for seed in seeds for s in ("random", "tpe")]
    jobs += [(_stn_job, v, seed, sz) for seed in seeds for v in STN_VARIANTS]
    runs = run_jobs(jobs, n_jobs)
    wall = time.time() - t0
    rows, table = _stn_summary(runs, seeds, sz)
    backends = sorted({r["backend"] for r in runs if r["kind"] == "search"})
    meta = {"sizes": sz, "ranges": STN_RANGES, "stn_init": STN_INIT, "stn_common": STN_COMMON,
            "variants": STN_VARIANTS, "seeds": seeds, "n_jobs": n_jobs, "wall_s": wall, "backends": backends,
            "machine": machine()}
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["stn", "stn-recheck"], default="stn",
                        help="stn-recheck: retrain every method's final setting from online_stn.json on fresh seeds")
    parser.add_argument("--retrains", type=int, default=5, help="stn-recheck: fresh training runs per setting")
    parser.add_argument("--seeds", type=seed_list, default=seed_list("0-9"),
                        help="a count N (seeds 0..N-1), a range A-B (inclusive) or a list 1,5,7; default 0-9")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, results written with a _quick suffix")
    parser.add_argument("--select", choices=["best", "final"], default="best",
                        help="score every run (STN and fixed trials) at its best-validation epoch or its last")
    parser.add_argument("--replot", action="store_true", help="redraw online_stn.png from the saved JSON only")
    args = parser.parse_args(argv)
    if args.replot:
        saved = RESULTS / "online_stn.json"
        if saved.exists():
            _plot_stn(json.loads(saved.read_text())["runs"], RESULTS / "online_stn.png")
    elif args.part == "stn-recheck":
        run_stn_recheck(args.retrains, args.jobs)
    else:
        run_stn(args.seeds, args.jobs, args.quick, args.select)


if __name__ == "__main__":
    main()
