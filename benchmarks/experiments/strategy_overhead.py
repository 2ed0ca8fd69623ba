"""Per-trial strategy overhead after N completed trials, against the native libraries.

Every run starts from a warm start of N random configurations of Hartmann-6 (6-D) with their
losses (the same N for every strategy; :class:`~benchmarks.runner.Variant` ``warm_start``), then
proposes a few more trials through the runner: the hpo strategy through the Study, the native
library through its own loop (:mod:`benchmarks.peers`) with the wrapper's settings. The first
trial's overhead is the *resume* cost (the history told to a fresh instance and its first
proposal); the mean of the following ones is the *per trial* cost while the study goes on, over
one full refit period of the strategy, so that amortised model fits are counted: 5 trials for
random search and the TPEs, 8 for SMAC's HPO facade (it re-maximises every 8 configurations), 2
for its black-box facade (every configuration), ``max(1, N // 20)`` for ``gp`` (its kernel refit
period) and 2 for optuna's GPSampler, ``gp``'s reference (``gp`` has no native library). SMAC's
initial design is off on both sides (else both would return Sobol points) and its forest runs on
one thread. HomOpt (its default and the reference schedule, on random search and TPE) runs its
five rotation positions after 200 trials. Times are the worker's CPU time (``overhead_cpu_s``),
steady on a shared machine; BLAS runs on one thread.

    hpo bench experiment run strategy-overhead --jobs 1
    hpo bench experiment report strategy-overhead
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.experiments import RESULTS, Experiment, Sweep
from benchmarks.experiments.homopt import VARIANTS as HOMOPT_VARIANTS
from benchmarks.experiments.wrappers import NATIVE
from benchmarks.resultfiles import describe, machine, write_outputs
from benchmarks.runner import Variant

__all__ = ["SIZES", "PAIRS", "EXPERIMENT", "write_report"]

SIZES = (50, 200, 500)
PROBLEM = "hartmann6"
_FOLDER = RESULTS / "strategy_overhead"


def _pairs(n: int) -> dict[str, tuple[Variant, Variant, int, int]]:
    """hpo strategy -> (ours, native, our trials, native trials) at warm start ``n``."""
    smac = {"initial_design_size": 0, "n_trials": n + 50}
    native_smac = {"initial_design": 0, "n_trials": n + 50}
    out = {
        "random": (Variant("random"), Variant("optuna-random"), 5, 5),
        "tpe": (Variant("tpe"), NATIVE["tpe"][1], 5, 5),
        "hyperopt-tpe": (Variant("hyperopt-tpe"), NATIVE["hyperopt-tpe"][1], 5, 5),
        "smac": (Variant("smac", smac), Variant("smac3-hpo", {**NATIVE["smac"][1].kwargs, **native_smac}), 8, 8),
        "smac-bb": (Variant("smac-bb", smac), Variant("smac3-bb", {**NATIVE["smac-bb"][1].kwargs, **native_smac}), 2, 2),
        "gp": (Variant("gp"), Variant("optuna-gp"), max(1, n // 20), 2),
    }
    return {k: v for k, v in out.items() if not (k == "smac-bb" and n > 200)}  # its GP fit grows cubically


def _warm(v: Variant, n: int) -> Variant:
    return Variant(v.base, dict(v.kwargs), warm_start=n)


#: (name, hpo strategy, native label) of every row; run names are ``<name>@N`` and ``native-<name>@N``.
PAIRS = [("random", "optuna RandomSampler"), ("tpe", "optuna TPESampler"), ("hyperopt-tpe", "hyperopt fmin (TPE)"),
         ("smac", "SMAC HPO facade"), ("smac-bb", "SMAC black-box facade"), ("gp", "optuna GPSampler (reference)")]
_HOMOPT = {"homopt": ("random", None), "homopt-ref": ("random", "ref"), "homopt:tpe": ("tpe", None),
           "homopt-ref:tpe": ("tpe", "ref")}
_HOMOPT_N = 200


def _sweeps() -> tuple[Sweep, ...]:
    out = []
    for n in SIZES:
        for name, (ours, native, k_ours, k_native) in _pairs(n).items():
            for run, v, k in ((f"{name}@{n}", ours, k_ours), (f"native-{name}@{n}", native, k_native)):
                out.append(Sweep((run,), (PROBLEM,), (0,), k + 1, {run: _warm(v, n)}))
    homopt = {f"{name}@{_HOMOPT_N}": Variant(f"homopt:{base}", dict(HOMOPT_VARIANTS[v]) if v else {}, _HOMOPT_N)
              for name, (base, v) in _HOMOPT.items()}
    out.append(Sweep(tuple(homopt), (PROBLEM,), (0,), 6, homopt))
    return tuple(out)


def _cost(record: dict) -> tuple[float, float]:
    """(resume, per trial) in CPU ms: the first trial's overhead, the mean of the others."""
    xs = [x for x in record["overhead_cpu_s"] if x is not None]
    return 1e3 * xs[0], 1e3 * float(np.mean(xs[1:])) if len(xs) > 1 else math.nan


def write_report(records: list[dict], folder: Path, command: str) -> Path:
    by = {r["strategy"]: r for r in records if r["status"] == "ok"}
    rows = []
    for name, label in PAIRS:
        for n in SIZES:
            for side, run in (("ours", f"{name}@{n}"), ("native", f"native-{name}@{n}")):
                if run in by:
                    resume, per = _cost(by[run])
                    rows.append({"strategy": name, "n": n, "side": side, "native": label, "run": run,
                                 "resume_ms": resume, "per_trial_ms": per, "steps": by[run]["n_trials"] - 1})
    homopt = []
    for name in _HOMOPT:
        run = f"{name}@{_HOMOPT_N}"
        if run in by:
            resume, per = _cost(by[run])
            homopt.append({"strategy": name, "n": _HOMOPT_N, "resume_ms": resume, "per_trial_ms": per,
                           "trial_ms": [1e3 * x for x in by[run]["overhead_cpu_s"][1:]]})
    meta = machine()
    data = {"problem": PROBLEM, "sizes": list(SIZES), "rows": rows, "homopt": homopt, "machine": meta,
            "git_commit": sorted({r.get("git_commit") for r in records if r.get("git_commit")})}
    return write_outputs(folder / "strategy_overhead", data, _markdown(data, command, meta))


def _markdown(data: dict, command: str, meta: dict) -> str:
    sizes = data["sizes"]

    def cell(name, n, side, key, fmt):
        r = next((r for r in data["rows"] if r["strategy"] == name and r["n"] == n and r["side"] == side), None)
        return format(r[key], fmt) if r else "-"

    lines = ["# Strategy overhead per trial", "",
             f"Produced by `{command}` (the runs: `hpo bench experiment run strategy-overhead`); report written "
             f"{meta['date']} on {describe(meta)}; runs made at commit(s) "
             f"{', '.join(c[:7] for c in data['git_commit']) or 'unknown'}.", "",
             "Hartmann-6 (6-D), a warm start of N random completed trials. *per trial*: mean CPU time between "
             "evaluations (ask, tell and the library's work) while the study goes on, over one refit period (see "
             "`benchmarks/experiments/strategy_overhead.py`); *resume*: the first trial's, the history told to a "
             "fresh instance and its first proposal. Milliseconds of the worker's CPU time; BLAS on one thread.", "",
             "| strategy | native | " + " | ".join(f"ours N={n} | native N={n}" for n in sizes) + " |",
             "|---|---|" + "---:|---:|" * len(sizes)]
    for name, label in PAIRS:
        cells = [c for n in sizes for c in (cell(name, n, "ours", "per_trial_ms", ".2f"),
                                            cell(name, n, "native", "per_trial_ms", ".2f"))]
        lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Resume (ms):", "", "| strategy | " + " | ".join(f"ours N={n} | native N={n}" for n in sizes) + " |",
              "|---|" + "---:|---:|" * len(sizes)]
    for name, _ in PAIRS:
        cells = [c for n in sizes for c in (cell(name, n, "ours", "resume_ms", ".0f"),
                                            cell(name, n, "native", "resume_ms", ".0f"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if data["homopt"]:
        lines += ["", f"HomOpt after {_HOMOPT_N} trials, its five rotation positions (trials {_HOMOPT_N + 1}-"
                  f"{_HOMOPT_N + 5}; `homopt` = the default on random search, `-ref` = the reference schedule), CPU ms:",
                  "", "| strategy | resume | mean per trial | each trial |", "|---|---:|---:|---|"]
        for h in data["homopt"]:
            lines.append(f"| {h['strategy']} | {h['resume_ms']:.0f} | {h['per_trial_ms']:.1f} | "
                         + ", ".join(f"{x:.0f}" for x in h["trial_ms"]) + " |")
    return "\n".join(lines) + "\n"


EXPERIMENT = Experiment(
    name="strategy-overhead",
    title="Per-trial strategy overhead against the native libraries",
    sweeps=_sweeps(),
    folder=_FOLDER,
    report=lambda records, command: write_report(records, _FOLDER, command),
)
