"""Per-trial strategy overhead at 50, 200 and 500 completed trials, against the native libraries.

For each strategy the history is ``N`` random configurations of Hartmann-6 (6-D) with their
losses. ``tpe`` times the strategy's ``ask(history)`` (the path HomOpt's base uses);
``tpe-study`` times ``Study.ask`` on a study holding the history (the path every Study
takes: optuna's own TPESampler, reseeded per trial). *Resume* is a fresh strategy's first
``ask`` on that history (everything rebuilt);
*per trial* is the mean time of the following ``ask`` calls while the study goes on (each
proposal is evaluated and appended before the next ask), over one full refit period of
the strategy so that amortised model fits are counted: 5 steps for random and the TPEs,
8 for SMAC's HPO facade (it re-maximises every 8 configurations), 2 for SMAC's black-box
facade (every configuration), ``max(1, N // 20)`` for ``gp`` (its kernel refit period) and 2
for optuna's GPSampler.

Native counterparts, given the same history and timed the same way: optuna ``study.ask`` +
suggest with ``RandomSampler`` / ``TPESampler`` (same settings as ours) / ``GPSampler`` (a
reference for ``gp``, which has no native library); hyperopt ``fmin`` for one more evaluation
on ``Trials`` holding the history; SMAC ``ask`` on a facade told the history. SMAC's initial
design is disabled on both sides (otherwise both would only return Sobol points), and its
random forest runs on one thread on both sides. BLAS runs on one thread for everything.
Times are the process's CPU time by default (``--clock cpu``): on a machine shared with
other jobs, elapsed time measures the load more than the strategy.

Run: ``nice -n 10 python -m benchmarks.strategy_overhead`` (writes
``benchmarks/results/strategy_overhead.json`` and ``.md``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
_CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
_clock = _CLOCKS["cpu"]
STRATEGIES = ["random", "tpe", "tpe-study", "hyperopt-tpe", "smac", "smac-bb", "gp"]


def steps_for(name: str, n: int) -> int:
    return {"random": 5, "tpe": 5, "tpe-study": 5, "hyperopt-tpe": 5, "smac": 8, "smac-bb": 2, "gp": max(1, n // 20),
            "optuna-gp": 2}[name]


def _problem():
    from benchmarks.synthetic import Hartmann6

    bench = Hartmann6()
    cs = bench.get_configuration_space(0)
    return cs, lambda config: float(bench.objective_function(config)["function_value"])


def _history(cs, f, n: int, seed: int = 0):
    import hpo

    space = hpo.Space(cs)
    configs = space.sample(n, seed=seed)
    return space, configs, [f(c) for c in configs]


# --- ours --------------------------------------------------------------------------------

def time_study(cs, f, n: int, seed: int = 0) -> dict:
    """``tpe`` as a Study runs it: ``Study.ask`` (optuna's TPESampler reseeded per trial) on the history."""
    import optuna

    import hpo

    space, configs, losses = _history(cs, f, n)
    dists = space.distributions
    study = hpo.create_study(space=space, strategy="tpe", seed=seed)
    study._optuna.add_trials([optuna.trial.create_trial(params=c, distributions={k: dists[k] for k in c}, value=v)
                              for c, v in zip(configs, losses)])

    def step():
        t = _clock()
        trial = study.ask()
        elapsed = _clock() - t
        study.tell(trial, f(trial.params))
        return elapsed

    cold = step()
    times = [step() for _ in range(steps_for("tpe-study", n))]
    return {"resume_ms": 1000 * cold, "per_trial_ms": 1000 * float(np.mean(times)), "steps": len(times)}


def time_ours(name: str, cs, f, n: int, seed: int = 0) -> dict:
    import optuna

    from hpo.strategies import make_strategy

    if name == "tpe-study":
        return time_study(cs, f, n, seed)
    space, configs, losses = _history(cs, f, n)
    dists = space.distributions

    def frozen(i, c, v):
        t = optuna.trial.create_trial(params=c, distributions={k: dists[k] for k in c}, value=v)
        t.number, t._trial_id = i, i
        return t

    history = [frozen(i, c, v) for i, (c, v) in enumerate(zip(configs, losses))]
    kwargs = {"initial_design_size": 0, "n_trials": n + 50} if name.startswith("smac") else {}
    s = make_strategy(name, **kwargs)
    s.setup(space, "minimize", seed)
    t = _clock()
    proposal = s.ask(history)[0]
    cold = _clock() - t
    times = []
    for _ in range(steps_for(name, n)):
        history.append(frozen(len(history), proposal, f(proposal)))
        t = _clock()
        proposal = s.ask(history)[0]
        times.append(_clock() - t)
    return {"resume_ms": 1000 * cold, "per_trial_ms": 1000 * float(np.mean(times)), "steps": len(times)}


# --- native ------------------------------------------------------------------------------

def _optuna_native(sampler_name: str, cs, f, n: int, seed: int = 0) -> dict:
    import optuna

    from hpo.trial import suggest_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, configs, losses = _history(cs, f, n)
    dists = space.distributions
    if sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(n_startup_trials=10, multivariate=True, group=True, constant_liar=True,
                                             seed=seed)
    elif sampler_name == "gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    study.add_trials([optuna.trial.create_trial(params=c, distributions={k: dists[k] for k in c}, value=v)
                      for c, v in zip(configs, losses)])

    def step():
        t = _clock()
        trial = study.ask()
        config = suggest_space(trial, space)
        elapsed = _clock() - t
        study.tell(trial, f(config))
        return elapsed

    cold = step()
    times = [step() for _ in range(steps_for({"tpe": "tpe", "gp": "optuna-gp"}.get(sampler_name, "random"), n))]
    return {"resume_ms": 1000 * cold, "per_trial_ms": 1000 * float(np.mean(times)), "steps": len(times)}


def _hyperopt_native(cs, f, n: int, seed: int = 0) -> dict:
    from hyperopt import Trials, fmin, rand, tpe

    from benchmarks.wrappers import _hyperopt_space

    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    space = _hyperopt_space(cs)
    trials = Trials()
    fmin(f, space, algo=rand.suggest, max_evals=n, trials=trials, rstate=np.random.default_rng(seed),
         show_progressbar=False)
    algo = partial(tpe.suggest, n_startup_jobs=10)

    def step():
        t = _clock()
        fmin(f, space, algo=algo, max_evals=len(trials.trials) + 1, trials=trials,
             rstate=np.random.default_rng(seed + len(trials.trials)), show_progressbar=False)
        return _clock() - t  # includes one (cheap) objective call

    cold = step()
    times = [step() for _ in range(steps_for("hyperopt-tpe", n))]
    return {"resume_ms": 1000 * cold, "per_trial_ms": 1000 * float(np.mean(times)), "steps": len(times)}


def _smac_native(facade_name: str, cs, f, n: int, seed: int = 0) -> dict:
    import smac
    from ConfigSpace import Configuration
    from smac import Scenario
    from smac.runhistory import TrialInfo, TrialValue

    space, configs, losses = _history(cs, f, n)
    facade = getattr(smac, facade_name)
    with tempfile.TemporaryDirectory(prefix="smac-native-") as tmp:
        scenario = Scenario(cs, deterministic=True, n_trials=n + 50, seed=seed, output_directory=Path(tmp))
        model = facade.get_model(scenario)
        if hasattr(model, "_rf_opts"):
            model._rf_opts["n_jobs"] = 1
        opt = facade(scenario, lambda config, seed=0: 0.0, model=model, logging_level=False, overwrite=True,
                     initial_design=facade.get_initial_design(scenario, n_configs=0))
        for c, v in zip(configs, losses):
            opt.tell(TrialInfo(Configuration(cs, values=c), seed=0), TrialValue(cost=v), save=False)

        def step():
            t = _clock()
            info = opt.ask()
            elapsed = _clock() - t
            opt.tell(info, TrialValue(cost=f(dict(info.config))), save=False)
            return elapsed

        cold = step()
        times = [step() for _ in range(steps_for("smac" if facade_name.startswith("Hyper") else "smac-bb", n))]
    return {"resume_ms": 1000 * cold, "per_trial_ms": 1000 * float(np.mean(times)), "steps": len(times)}


NATIVE = {
    "random": ("optuna RandomSampler", partial(_optuna_native, "random")),
    "tpe": ("optuna TPESampler", partial(_optuna_native, "tpe")),
    "tpe-study": ("optuna TPESampler", partial(_optuna_native, "tpe")),
    "hyperopt-tpe": ("hyperopt fmin (TPE)", _hyperopt_native),
    "smac": ("SMAC HPO facade ask", partial(_smac_native, "HyperparameterOptimizationFacade")),
    "smac-bb": ("SMAC black-box facade ask", partial(_smac_native, "BlackBoxFacade")),
    "gp": ("optuna GPSampler (reference)", partial(_optuna_native, "gp")),
}


def table(rows: list[dict], meta: dict) -> str:
    sizes = meta["sizes"]
    lines = [f"# Strategy overhead per trial ({meta['date']}; {meta['machine']})", "",
             f"Command: `{meta['command']}`", "",
             "Hartmann-6 (6-D), histories of N random completed trials. *per trial*: mean `ask` time while the "
             "study goes on, over one refit period (see the script's docstring); *resume*: a fresh instance's "
             "first `ask` on the N-trial history. Times in ms of "
             + ("CPU time of the process" if meta.get("clock", "wall") == "cpu" else "elapsed time")
             + "; BLAS on one thread; run niced on a shared 2-core machine.", "",
             "| strategy | native | " + " | ".join(f"ours N={n} | native N={n}" for n in sizes) + " |",
             "|---|---|" + "---:|---:|" * len(sizes)]
    for name in meta["strategies"]:
        cells = []
        label = None
        for n in sizes:
            o = next((r for r in rows if r["strategy"] == name and r["n"] == n and r["side"] == "ours"), None)
            v = next((r for r in rows if r["strategy"] == name and r["n"] == n and r["side"] == "native"), None)
            label = label or (v or {}).get("native")
            cells += [f"{o['per_trial_ms']:.2f}" if o else "-", f"{v['per_trial_ms']:.2f}" if v else "-"]
        lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Resume (a fresh instance's first ask on the N-trial history, ms):", "",
              "| strategy | " + " | ".join(f"ours N={n} | native N={n}" for n in sizes) + " |",
              "|---|" + "---:|---:|" * len(sizes)]
    for name in meta["strategies"]:
        cells = []
        for n in sizes:
            o = next((r for r in rows if r["strategy"] == name and r["n"] == n and r["side"] == "ours"), None)
            v = next((r for r in rows if r["strategy"] == name and r["n"] == n and r["side"] == "native"), None)
            cells += [f"{o['resume_ms']:.0f}" if o else "-", f"{v['resume_ms']:.0f}" if v else "-"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    from importlib.metadata import version

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[50, 200, 500])
    p.add_argument("--strategies", nargs="*", default=STRATEGIES, choices=STRATEGIES)
    p.add_argument("--bb-sizes", type=int, nargs="*", default=[50, 200],
                   help="sizes for smac-bb (its GP fit grows cubically and runs many restarts)")
    p.add_argument("--no-native", action="store_true")
    p.add_argument("--clock", choices=sorted(_CLOCKS), default="cpu",
                   help="cpu: this process's CPU time (steady on a shared machine; BLAS and SMAC's forest run on "
                        "one thread); wall: elapsed time")
    p.add_argument("--out", default="strategy_overhead")
    p.add_argument("--update", action="store_true",
                   help="keep the other strategies' rows of the existing results file (rerun only these)")
    args = p.parse_args(argv)
    global _clock
    _clock = _CLOCKS[args.clock]
    meta = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
                       f"optuna {version('optuna')}, hyperopt {version('hyperopt')}, smac {version('smac')}",
            "command": "python -m benchmarks.strategy_overhead " + " ".join(sys.argv[1:] if argv is None else argv),
            "sizes": args.sizes, "strategies": args.strategies, "clock": args.clock}
    cs, f = _problem()
    rows = []
    out = RESULTS / f"{args.out}.json"
    if args.update and out.exists():
        old = json.loads(out.read_text())
        rows = [r for r in old["rows"] if r["strategy"] not in args.strategies]
        meta["command"] = old["meta"]["command"] + " && " + meta["command"]
        meta["strategies"] = [s for s in STRATEGIES if s in set(args.strategies) | {r["strategy"] for r in rows}]
        meta["date"] = old["meta"]["date"] + ", updated " + meta["date"]
    for name in args.strategies:
        time_ours(name, cs, f, 20)  # warm-up: imports and first-call costs
        if not args.no_native:
            NATIVE[name][1](cs, f, 20)
        for n in args.sizes:
            if name == "smac-bb" and n not in args.bb_sizes:
                continue
            r = {"strategy": name, "n": n, "side": "ours", **time_ours(name, cs, f, n)}
            rows.append(r)
            print(f"{name:13s} N={n:4d} ours   per trial {r['per_trial_ms']:9.1f} ms  resume {r['resume_ms']:9.1f} ms",
                  flush=True)
            if not args.no_native:
                label, fn = NATIVE[name]
                r = {"strategy": name, "n": n, "side": "native", "native": label, **fn(cs, f, n)}
                rows.append(r)
                print(f"{name:13s} N={n:4d} native per trial {r['per_trial_ms']:9.1f} ms  resume {r['resume_ms']:9.1f} ms"
                      f"  ({label})", flush=True)
            out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (RESULTS / f"{args.out}.md").write_text(table(rows, meta))
    print(table(rows, meta))


if __name__ == "__main__":
    main()
