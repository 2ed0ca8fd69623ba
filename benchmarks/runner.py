"""The side-by-side runner: strategies x benchmarks x seeds at a budget, in worker processes.

Every run (strategy, benchmark, seed, budget) is one JSON file
``<out>/<benchmark>/<strategy>/seed<k>-budget<b>.json``, written atomically when the run
ends; a rerun skips runs whose file exists, so an interrupted sweep resumes where it stopped.
hpo strategies run through the Study ask/tell API; the peers (:mod:`benchmarks.peers`) run
natively in the same sweep. Each run is seeded from (strategy, benchmark, seed) and runs in a
worker interpreter with ``PYTHONHASHSEED=0`` (native SMAC3's proposals follow the string-hash order),
so a rerun reproduces every configuration and loss exactly; times are recorded, never scored.

Per trial the file keeps the loss, the configuration, the objective time and the strategy
overhead (time from the end of one evaluation to the start of the next: the ask, the tell and
anything the library does in between; elapsed and CPU time of the worker), plus errors.

Variants: an experiment (:mod:`benchmarks.experiments`) names a strategy with settings, a
:class:`Variant`: an hpo strategy or a peer, its arguments (``strategy_kwargs``, or the peer's
library settings), a warm start (the run begins from N random configurations of the problem,
evaluated but not counted in the budget: the same N for every strategy on that seed) and, for
hpo strategies, parallel workers (``n_jobs`` worker processes, or ``n_jobs`` concurrent Ray Tune
trials with ``executor="ray"``). A variant's runs are seeded from its own name and the record
keeps its settings.

Pruning and ASHA: a strategy named ``<hpo strategy>+<pruner>`` (``tpe+asha``,
``random+median``, ``gp+hyperband``) runs on a multi-fidelity benchmark (``branin-mf``,
``mf-mlp-digits``, ...) rung by rung (max/27, max/9, max/3, max of the first fidelity),
reporting each rung to the optuna pruner (``trial.report`` / ``trial.should_prune``, steps 1, 3,
9, 27; the pruners are set to that ladder: :func:`ladder_pruner`; ``+none`` runs every rung,
the no-pruning baseline at the same cost); its budget counts full-evaluation equivalents, and
:func:`benchmarks.scoring.trace` scores it on full-fidelity losses at equal resource, so
``tpe+asha`` and plain ``tpe`` sit in one table.

Example (as a library, e.g. to add strategies to the committed standard run):
    >>> from benchmarks.runner import run_suite
    >>> paths = run_suite(["random"], ["branin"], seeds=2, budget=5,
    ...                   out="/tmp/hpo-doctest-results", jobs=1, progress=False)
    >>> len(paths)
    2
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container, Iterable, Iterator, Mapping, Sequence

import numpy as np

from benchmarks.resultfiles import THREAD_VARS, git_state, read_records, run_key, write_json

__all__ = [
    "RunSpec",
    "Variant",
    "run_suite",
    "run_one",
    "run_specs",
    "check_sweep",
    "plan",
    "load_results",
    "compare_results",
    "result_path",
    "check_strategies",
    "UnknownStrategyNameError",
    "DEFAULT_PEERS",
    "fidelity_ladder",
    "ladder_pruner",
]

DEFAULT_PEERS = ["optuna-tpe", "optuna-gp", "optuna-random", "hyperopt", "smac3-hpo", "hebo"]
# a rough relative cost per run, to start the slow runs first and balance the workers
_COST_HINT = {"hebo": 50, "smac": 12, "smac-bb": 20, "smac3-hpo": 12, "smac3-bb": 20, "gp": 15, "optuna-gp": 15}


class UnknownStrategyNameError(ValueError):
    """A strategy name is neither an hpo strategy nor a peer; the message lists both."""


@dataclass(frozen=True, order=True)
class RunSpec:
    """One run: a strategy on a benchmark with one seed and a budget of evaluations."""

    strategy: str
    benchmark: str
    seed: int
    budget: int

    @property
    def run_seed(self) -> int:
        """The seed the strategy gets: stable across machines, distinct per (strategy, benchmark, seed)."""
        return zlib.crc32(f"{self.strategy}|{self.benchmark}|{self.seed}".encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Variant:
    """A strategy name's settings in an experiment: what runs, with which arguments, how.

    ``base`` is an hpo strategy (``"tpe"``, ``"homopt:tpe"``, ``"tpe+asha"``) or a peer
    (``"optuna-tpe"``); ``kwargs`` are the hpo strategy's ``strategy_kwargs`` or the peer's library
    settings (:func:`benchmarks.peers.run_peer`); ``warm_start`` completed random trials precede
    the budget; ``n_jobs`` workers run an hpo strategy's Study (``Study.optimize``): worker
    processes, or with ``executor="ray"`` that many concurrent trials on a local Ray
    (``hpo.RayExecutor``) started for the run.

    Example:
        >>> Variant("optuna-tpe", {"multivariate": True}).describe()
        {'base': 'optuna-tpe', 'kwargs': {'multivariate': True}, 'warm_start': 0, 'n_jobs': 1}
    """

    base: str
    kwargs: dict = field(default_factory=dict)
    warm_start: int = 0
    n_jobs: int = 1
    executor: str = "local"

    def __post_init__(self):
        if not isinstance(self.warm_start, int) or self.warm_start < 0:
            raise ValueError(f"warm_start must be a whole number >= 0, got {self.warm_start!r}")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a whole number >= 1, got {self.n_jobs!r}")
        if self.executor not in ("local", "ray"):
            raise ValueError(f"executor must be 'local' (worker processes) or 'ray', got {self.executor!r}")
        if self.executor == "ray" and self.n_jobs < 2:
            raise ValueError("executor='ray' runs n_jobs concurrent trials: give n_jobs >= 2")

    def describe(self) -> dict:
        """The settings as plain data (kept in each run record)."""
        out = {"base": self.base, "kwargs": dict(self.kwargs), "warm_start": self.warm_start, "n_jobs": self.n_jobs}
        return out if self.executor == "local" else {**out, "executor": self.executor}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def result_path(out: str | Path, spec: RunSpec) -> Path:
    return Path(out) / _safe(spec.benchmark) / _safe(spec.strategy) / f"seed{spec.seed}-budget{spec.budget}.json"


def _is_peer(name: str) -> bool:
    from benchmarks.peers import PEERS

    return name in PEERS


def check_strategies(names: Sequence[str], variants: Mapping[str, Variant] | None = None) -> list[str]:
    """Validate strategy names (hpo strategies, peers, or ``variants``' names); raise listing what exists."""
    from benchmarks.peers import PEERS, available_peers
    from hpo.strategies import available

    from hpo.pruners import PRUNERS

    variants = variants or {}
    hpo_names = available()
    for given in names:
        v = variants.get(given)
        name = v.base if v is not None else given
        if v is not None and (v.n_jobs > 1 or v.warm_start) and "+" in name:
            raise UnknownStrategyNameError(f"{given!r}: n_jobs and warm_start do not combine with a pruner ({name!r})")
        if v is not None and v.n_jobs > 1 and (name in PEERS or v.warm_start):
            raise UnknownStrategyNameError(f"{given!r}: n_jobs > 1 needs an hpo strategy without a warm start")
        base, pruner = _split_pruner(name)
        if pruner is not None:
            if pruner not in PRUNERS:
                raise UnknownStrategyNameError(f"unknown pruner {pruner!r} in {name!r}; pruners: {', '.join(PRUNERS)}")
            if base in PEERS or base.partition(":")[0] not in hpo_names:
                raise UnknownStrategyNameError(f"{name!r}: a pruner needs an hpo strategy before the '+'; hpo strategies: {', '.join(hpo_names)}")
            continue
        if name in PEERS:
            if name not in available_peers():
                raise UnknownStrategyNameError(f"peer {name!r} is not installed here; installed peers: {', '.join(available_peers())}")
            continue
        if name.partition(":")[0] not in hpo_names:
            raise UnknownStrategyNameError(
                f"unknown strategy {name!r}; hpo strategies: {', '.join(hpo_names)}; peers: {', '.join(available_peers())}"
            )
    return list(names)


def plan(strategies: Sequence[str], benchmarks: Sequence[str], seeds: int | Iterable[int], budget: int,
         variants: Mapping[str, Variant] | None = None) -> list[RunSpec]:
    """Every run of the sweep: seed by seed (an interrupted sweep leaves whole seeds done), and
    within a seed the slow strategies first (so the workers finish together)."""
    variants = variants or {}
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    specs = [RunSpec(s, b, k, int(budget)) for b in benchmarks for s in strategies for k in seed_list]

    def cost(name: str) -> int:
        return _COST_HINT.get((variants[name].base if name in variants else name).partition(":")[0], 1)

    return sorted(specs, key=lambda r: (seed_list.index(r.seed), -cost(r.strategy)))


# --- one run ---------------------------------------------------------------------


class _BudgetSpent(Exception):
    """The run has used its budget (multi-fidelity runs stop mid-trial)."""


class _Recorder:
    """The objective handed to a strategy: evaluates, times and records each evaluation.

    ``resource`` is the share of a full evaluation an evaluation uses (1 unless a
    multi-fidelity run evaluates a lower rung); the budget counts resource.
    """

    def __init__(self, bench: Any, budget: int, sleep: float = 0.0):
        self.bench, self.budget, self.sleep = bench, budget, sleep
        self.trials: list[dict] = []
        self.used = 0.0
        self.start()

    def start(self) -> None:
        """Overhead is counted from now (after the study is built and any warm start is in)."""
        self.t_last, self.c_last = time.perf_counter(), time.process_time()

    def __call__(self, config: dict, fidelity: dict | None = None, resource: float = 1.0, trial: int | None = None,
                 fraction: float = 1.0) -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        overhead, overhead_cpu = t0 - self.t_last, c0 - self.c_last
        if self.used + resource > self.budget + 1e-9:
            if fidelity is not None:
                raise _BudgetSpent
            raise RuntimeError(f"the strategy asked for more than its budget of {self.budget} evaluations")
        config = {k: (v.item() if hasattr(v, "item") else v) for k, v in config.items()}
        error, cost = None, None
        if self.sleep:
            time.sleep(self.sleep)
        try:
            res = self.bench.objective_function(config, fidelity=fidelity) if fidelity else self.bench.objective_function(config)
            loss = float(res["function_value"])
            cost = res.get("cost")
        except Exception as e:  # a failing evaluation is recorded, the run goes on
            loss, error = math.nan, f"{type(e).__name__}: {e}"
        t1 = time.perf_counter()
        self.used += resource
        entry = {
            "config": config,
            "loss": loss if math.isfinite(loss) else None,
            "cost": None if cost is None else float(cost),
            "objective_s": t1 - t0,
            "overhead_s": overhead,
            "overhead_cpu_s": overhead_cpu,
            "error": error,
        }
        if fidelity is not None:
            entry.update(fidelity=fidelity, resource=resource, trial=trial, fraction=fraction)
        self.trials.append(entry)
        self.start()
        return loss


def warm_start_history(bench: Any, cs: Any, n: int, seed: int) -> list[tuple[dict, float]]:
    """``n`` random configurations of ``cs`` (seeded by the run's ``seed`` only, so every strategy
    on that seed starts from the same ones) with their losses."""
    import hpo

    configs = hpo.Space(cs).sample(n, seed=seed) if n else []
    return [(c, float(bench.objective_function(c)["function_value"])) for c in configs]


def _warm_start_study(study: Any, history: Sequence[tuple[dict, float]]) -> None:
    import optuna

    dists = study.space.distributions
    study.optuna_study.add_trials([optuna.trial.create_trial(params=c, distributions={k: dists[k] for k in c}, value=v)
                                   for c, v in history])


def _run_hpo(strategy: str, cs: Any, objective: _Recorder, budget: int, seed: int, kwargs: dict | None = None,
             history: Sequence[tuple[dict, float]] = ()) -> None:
    import hpo

    study = hpo.create_study(space=hpo.Space(cs), strategy=strategy, direction="minimize", seed=seed,
                             strategy_kwargs=kwargs or None)
    objective.start()  # a warm start's telling counts in the first trial's overhead, as for the peers
    if history:
        _warm_start_study(study, history)
    for _ in range(budget):
        trial = study.ask()
        loss = objective(dict(trial.params))
        if math.isfinite(loss):
            study.tell(trial, loss)
        else:
            study.tell(trial, None, state="fail")


class _Evaluate:
    """A Study objective for worker processes: evaluates the benchmark, records its own time."""

    def __init__(self, bench: Any, sleep: float):
        self.bench, self.sleep = bench, sleep

    def __call__(self, trial: Any) -> float:
        t0 = time.perf_counter()
        if self.sleep:
            time.sleep(self.sleep)
        loss = float(self.bench.objective_function(trial.params)["function_value"])
        trial.set_user_attr("objective_s", time.perf_counter() - t0)
        return loss


def start_local_ray(num_cpus: int, tries: int = 3, temp_dir: str | None = None) -> None:
    """A fresh, quiet local Ray (never a cluster someone else started); on a starved machine its
    raylet sometimes dies while starting: try again."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # before ray is imported: no token file
    import ray

    for attempt in range(1, tries + 1):
        try:
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False, _temp_dir=temp_dir)
            return
        except Exception as e:  # Ray raises a bare Exception for a node that timed out starting
            ray.shutdown()
            if attempt == tries:
                raise
            print(f"  Ray did not start ({str(e).splitlines()[0][:80]}); try {attempt + 1} of {tries}", flush=True)


@contextlib.contextmanager
def _local_ray(num_cpus: int) -> Iterator[str]:
    """A private local Ray for one run (its own temp folder), shut down afterwards; yields a
    folder for Tune's experiment files, removed with it."""
    import ray

    tmp = tempfile.mkdtemp(prefix="hb", dir="/tmp")  # short: Ray puts its sockets there
    try:
        start_local_ray(num_cpus, temp_dir=os.path.join(tmp, "ray"))
        yield os.path.join(tmp, "tune")
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def _run_hpo_parallel(strategy: str, cs: Any, objective: _Recorder, budget: int, seed: int, kwargs: dict | None,
                      n_jobs: int, executor: str = "local") -> None:
    """``Study.optimize`` with ``n_jobs`` workers (processes, or concurrent trials on a Ray started
    for this run); the trials are recorded afterwards, in trial-number order (no per-trial
    overhead: the workers overlap)."""
    import hpo
    from optuna.trial import TrialState

    study = hpo.create_study(space=hpo.Space(cs), strategy=strategy, direction="minimize", seed=seed,
                             strategy_kwargs=kwargs or None)
    evaluate = _Evaluate(objective.bench, objective.sleep)
    if executor == "ray":
        with _local_ray(n_jobs) as storage_path:
            study.optimize(evaluate, n_trials=budget,
                           executor=hpo.RayExecutor(max_concurrent=n_jobs, storage_path=storage_path))
    else:
        study.optimize(evaluate, n_trials=budget, n_jobs=n_jobs)
    for t in sorted(study.trials, key=lambda t: t.number):
        done = t.state == TrialState.COMPLETE
        objective.trials.append({
            "config": dict(t.params), "loss": t.value if done and math.isfinite(t.value) else None, "cost": None,
            "objective_s": float(t.user_attrs.get("objective_s", math.nan)), "overhead_s": None,
            "overhead_cpu_s": None, "error": None if done else str(t.user_attrs.get("error", t.state.name)),
        })


RUNGS = 4  # rungs at max/27, max/9, max/3 and max (reduction factor 3)


def fidelity_ladder(fidelity_space: Any) -> tuple[str, list[float], float]:
    """The first fidelity's rungs (geometric, factor 3, clipped to its range) and its maximum."""
    names = list(fidelity_space.keys())
    if not names:
        raise ValueError("this benchmark has no fidelity; strategy+pruner runs need a multi-fidelity benchmark (mf-*, *-mf)")
    hp = fidelity_space[names[0]]
    hi, lo = float(hp.upper), float(hp.lower)
    rungs: list[float] = []
    for k in range(RUNGS - 1, -1, -1):
        v = max(lo, hi / 3**k)
        v = float(round(v)) if hp.__class__.__name__.startswith("UniformInteger") else v
        if not rungs or v > rungs[-1]:
            rungs.append(v)
    return names[0], rungs, hi


def ladder_pruner(name: str) -> Any:
    """The optuna pruner ``name`` set to the runner's ladder (steps 1, 3, 9, 27; factor 3).

    ``median``: optuna's MedianPruner (5 startup trials, no warm-up steps); ``asha`` /
    ``sha`` / ``successive-halving``: SuccessiveHalvingPruner(min_resource=1,
    reduction_factor=3), so its rungs are the ladder's; ``hyperband``:
    HyperbandPruner(min_resource=1, max_resource=27, reduction_factor=3), four brackets;
    ``none``: NopPruner. optuna's defaults (reduction factor 4, resources guessed from the
    first trial) would put the rungs between the ladder's steps.
    """
    import optuna

    from hpo.pruners import PRUNERS

    key = name.lower()
    if key not in PRUNERS:
        raise UnknownStrategyNameError(f"unknown pruner {name!r}; pruners: {', '.join(PRUNERS)}")
    top = 3 ** (RUNGS - 1)
    if key in ("asha", "sha", "successive-halving"):
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if key == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=top, reduction_factor=3)
    if key == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    return PRUNERS[key]()


def _pruner_text(name: str) -> str:
    """The pruner a ``+name`` run used, with its settings (kept in the run record)."""
    try:
        p = ladder_pruner(name)
    except UnknownStrategyNameError:
        return name
    keys = ("_min_resource", "_max_resource", "_reduction_factor", "_n_startup_trials", "_n_warmup_steps")
    args = ", ".join(f"{k[1:]}={getattr(p, k)!r}" for k in keys if hasattr(p, k))
    return f"{type(p).__name__}({args})"


def _run_hpo_pruned(strategy: str, pruner: str, bench: Any, cs: Any, objective: _Recorder, budget: int, seed: int,
                    kwargs: dict | None = None) -> None:
    """Successive rungs per trial with an optuna pruner; the budget counts full-evaluation equivalents.

    A trial that goes on to the next rung is assumed to continue training (resource is the
    increment), as ASHA and the median rule assume for epochs.
    """
    import hpo

    name, rungs, hi = fidelity_ladder(bench.get_fidelity_space())
    is_int = bench.get_fidelity_space()[name].__class__.__name__.startswith("UniformInteger")
    # a fixed study name: optuna's HyperbandPruner assigns trials to brackets by a hash of the
    # study name and the trial number, and an unnamed study gets a random one
    study = hpo.create_study(space=hpo.Space(cs), strategy=strategy, direction="minimize", seed=seed,
                             pruner=ladder_pruner(pruner), study_name=f"bench-{seed}", strategy_kwargs=kwargs or None)
    objective.start()
    try:
        while objective.used < budget - 1e-9:
            trial = study.ask()
            config, prev, loss, state = dict(trial.params), 0.0, math.nan, None
            for k, v in enumerate(rungs):
                loss = objective(config, {name: int(v) if is_int else v}, (v - prev) / hi, trial.number, v / hi)
                prev = v
                if not math.isfinite(loss):
                    state = "fail"
                    break
                trial.report(loss, 3 ** (RUNGS - len(rungs) + k))  # the ladder's step, clipped rungs dropped
                if v < hi and trial.should_prune():
                    state = "pruned"
                    break
            study.tell(trial, loss if state is None else None, state=state)
    except _BudgetSpent:
        pass


def _split_pruner(strategy: str) -> tuple[str, str | None]:
    base, plus, pruner = strategy.partition("+")
    return base, (pruner if plus else None)


def run_one(spec: RunSpec, out: str | Path | None = None, variant: Variant | None = None, sleep: float = 0.0) -> dict:
    """Run one spec and return its record; with ``out`` the record is also written (atomically).

    ``variant`` gives the settings of a variant's name (:class:`Variant`); ``sleep`` seconds are
    added to every evaluation (so that parallel workers overlap).
    """
    from benchmarks.peers import PeerStopped, run_peer
    from benchmarks.registry import make_benchmark

    t0, c0 = time.perf_counter(), time.process_time()
    bench = make_benchmark(spec.benchmark)
    cs = bench.get_configuration_space(seed=spec.run_seed)
    name = variant.base if variant is not None else spec.strategy
    kwargs = dict(variant.kwargs) if variant is not None else {}
    history = warm_start_history(bench, cs, variant.warm_start, spec.seed) if variant and variant.warm_start else []
    if history:  # the warm start's evaluations are not the run's cost
        t0, c0 = time.perf_counter(), time.process_time()
    recorder = _Recorder(bench, spec.budget, sleep)
    status, error = "ok", None
    base, pruner = _split_pruner(name)
    # some libraries (SMAC3's forest) draw from the global generators: seed them per run too
    random.seed(spec.run_seed)
    np.random.seed(spec.run_seed)
    try:
        if pruner is not None:
            _run_hpo_pruned(base, pruner, bench, cs, recorder, spec.budget, spec.run_seed, kwargs)
        elif _is_peer(name):
            run_peer(name, cs, recorder, spec.budget, spec.run_seed, settings=kwargs, history=history)
        elif variant is not None and variant.n_jobs > 1:
            _run_hpo_parallel(name, cs, recorder, spec.budget, spec.run_seed, kwargs, variant.n_jobs, variant.executor)
        else:
            _run_hpo(name, cs, recorder, spec.budget, spec.run_seed, kwargs, history)
    except PeerStopped as e:  # the library ended the run early; its best so far stands
        status, error = "stopped", str(e)
    except Exception as e:  # a crashing strategy is recorded with its partial trace
        status, error = "error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}"
    trials = recorder.trials
    multi = pruner is not None
    if status == "ok" and not multi and len(trials) < spec.budget:
        status, error = "error", f"the strategy stopped after {len(trials)} of {spec.budget} evaluations"
    meta = bench.get_meta_information() if hasattr(bench, "get_meta_information") else {}
    record = {
        "strategy": spec.strategy,
        "benchmark": spec.benchmark,
        "seed": spec.seed,
        "budget": spec.budget,
        "run_seed": spec.run_seed,
        "kind": "peer" if _is_peer(name) else "hpo",
        "mode": "multifidelity" if pruner is not None else "full",
        **({"pruner": _pruner_text(pruner)} if pruner is not None else {}),
        **({"variant": variant.describe()} if variant is not None else {}),
        **({"sleep_s": sleep} if sleep else {}),
        "global_rng_seeded": True,
        "python_hash_seed": _hash_seed(),
        "status": status,
        "error": error,
        "n_trials": len(trials),
        "losses": [t["loss"] for t in trials],
        "configs": [t["config"] for t in trials],
        "costs": [t["cost"] for t in trials],
        "objective_s": [_round(t["objective_s"], 6) for t in trials],
        "overhead_s": [_round(t["overhead_s"], 6) for t in trials],
        "overhead_cpu_s": [_round(t["overhead_cpu_s"], 6) for t in trials],
        "trial_errors": {str(i): t["error"] for i, t in enumerate(trials) if t["error"]},
        **(
            {
                "fidelities": [t["fidelity"] for t in trials],
                "resources": [round(t["resource"], 9) for t in trials],
                "fractions": [round(t["fraction"], 9) for t in trials],
                "trial_numbers": [t["trial"] for t in trials],
            }
            if multi
            else {}
        ),
        "wall_s": round(time.perf_counter() - t0, 4),
        "cpu_s": round(time.process_time() - c0, 4),
        "optimum": _jsonable(getattr(bench, "optimum", None)),
        "family": meta.get("family") if isinstance(meta, dict) else None,
        **_provenance(),
    }
    if out is not None:
        write_json(result_path(out, spec), record, indent=None)
    return record


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


_PROVENANCE: dict | None = None
_CODE_PATHS = (
    "hpo/strategies", "hpo/space.py", "hpo/study.py", "hpo/trial.py", "hpo/sampler.py", "surrogates",
    *(f"benchmarks/{m}.py" for m in ("base", "synthetic", "ml", "tabular", "registry", "peers", "runner")),
)


def _provenance() -> dict:
    """The code a run used: the git commit (and whether hpo/ had local changes) and library versions."""
    global _PROVENANCE
    if _PROVENANCE is None:
        from benchmarks.peers import peer_versions

        _PROVENANCE = {"versions": peer_versions(), **git_state(_CODE_PATHS)}
    return _PROVENANCE


def _jsonable(x: Any) -> Any:
    return x if isinstance(x, (int, float, type(None))) and (x is None or math.isfinite(x)) else None


def _hash_seed() -> str:
    """``"0"`` when this interpreter started with string hashing fixed (PYTHONHASHSEED=0), else
    ``"other"``. Read from ``sys.flags``, not the environment, which ``run_suite`` sets for its workers."""
    return "0" if not sys.flags.hash_randomization else "other"


def _worker_init() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def _work(spec: RunSpec, out: str, variant: Variant | None = None, sleep: float = 0.0) -> tuple[RunSpec, str, float]:
    t0 = time.perf_counter()
    record = run_one(spec, out, variant, sleep)
    return spec, record["status"], time.perf_counter() - t0


# --- the sweep -----------------------------------------------------------------------


def run_suite(
    strategies: Sequence[str],
    benchmarks: Sequence[str],
    seeds: int | Iterable[int] = 10,
    budget: int = 50,
    out: str | Path = "results",
    jobs: int = 2,
    progress: bool = True,
    retry_errors: bool = False,
    variants: Mapping[str, Variant] | None = None,
    sleep: float = 0.0,
    skip: Container[tuple] = (),
) -> list[Path]:
    """Run every (strategy, benchmark, seed) not yet in ``out``; return the paths of all its runs.

    ``benchmarks`` may hold suite names (``standard``) and ``module:Class`` paths. Finished
    runs are skipped (resume); ``retry_errors`` also reruns runs that ended in an error.
    ``variants`` maps strategy names to their settings (:class:`Variant`), ``sleep`` adds seconds
    to every evaluation, and runs whose (benchmark, strategy, seed, budget) is in ``skip`` (runs
    kept elsewhere, e.g. in an archive) are not run.
    """
    variants = dict(variants or {})
    names = check_sweep(strategies, benchmarks, budget, variants)
    specs = plan(strategies, names, seeds, budget, variants)
    run_specs([(s, variants.get(s.strategy), sleep) for s in specs], out, jobs, progress, retry_errors, skip)
    return [result_path(out, s) for s in specs]


def check_sweep(strategies: Sequence[str], benchmarks: Sequence[str], budget: int,
                variants: Mapping[str, Variant] | None = None) -> list[str]:
    """Validate a sweep before any worker starts (imports, tables, datasets, names); return the
    benchmark names with suites expanded."""
    from benchmarks.registry import expand, make_benchmark

    names = expand(list(benchmarks))
    for name in names:
        make_benchmark(name)
    check_strategies(strategies, variants)
    if budget < 1:
        raise ValueError(f"budget must be >= 1, got {budget}")
    return names


def run_specs(items: Sequence[tuple[RunSpec, Variant | None, float]], out: str | Path, jobs: int = 2,
              progress: bool = True, retry_errors: bool = False, skip: Container[tuple] = ()) -> None:
    """Run each (spec, variant or None, sleep) not yet in ``out`` (nor in ``skip``), in one pool of
    ``jobs`` workers; the runs of several sweeps share it. The names must be checked already
    (:func:`check_sweep`)."""
    todo = [(s, v, z) for s, v, z in items if (s.benchmark, s.strategy, s.seed, s.budget) not in skip
            and not _done(result_path(out, s), retry_errors)]
    Path(out).mkdir(parents=True, exist_ok=True)
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")
    # native SMAC3 (the smac3-* peers) iterates over a set of Configurations, whose order follows
    # the interpreter's string-hash seed (hpo's smac strategies sort it): runs go to workers started with
    # PYTHONHASHSEED=0 (in-process only where this interpreter already has it), so that a run
    # gives the same trials in any process
    os.environ["PYTHONHASHSEED"] = "0"
    in_process = jobs <= 1 and _hash_seed() == "0"
    bar = _Progress(len(todo), len(items) - len(todo), enabled=progress)
    failures: list[str] = []
    with bar:
        if in_process:
            _worker_init()
            for spec, variant, sleep in todo:
                _, status, _ = _work(spec, str(out), variant, sleep)
                bar.advance(spec, status)
                if status != "ok":
                    failures.append(f"{spec.strategy} on {spec.benchmark} seed {spec.seed}")
        else:
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            pool = ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx, initializer=_worker_init)
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
            try:
                futures = [pool.submit(_work, spec, str(out), variant, sleep) for spec, variant, sleep in todo]
                for fut in as_completed(futures):
                    spec, status, _ = fut.result()
                    bar.advance(spec, status)
                    if status != "ok":
                        failures.append(f"{spec.strategy} on {spec.benchmark} seed {spec.seed}")
            except KeyboardInterrupt:
                # unfinished runs leave no file, so the same command resumes here
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                signal.signal(signal.SIGTERM, previous)
            pool.shutdown()
    if failures and progress:
        print(f"{len(failures)} run(s) ended in an error (kept in their files): {'; '.join(failures[:5])}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _done(path: Path, retry_errors: bool) -> bool:
    if not path.exists():
        return False
    if not retry_errors:
        return True
    try:
        return json.loads(path.read_text()).get("status") in ("ok", "stopped")
    except (OSError, ValueError):
        return False


class _Progress:
    """A rich progress bar with ETA (or nothing when disabled)."""

    def __init__(self, total: int, skipped: int, enabled: bool):
        self.enabled, self.total, self.skipped = enabled, total, skipped
        self._p = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._p = Progress(
                TextColumn("[bold]runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
            )
            self._p.__enter__()
            if self.skipped:
                self._p.console.print(f"resuming: {self.skipped} finished run(s) skipped")
            self._task = self._p.add_task("", total=self.total)
        return self

    def advance(self, spec: RunSpec, status: str) -> None:
        if self._p is not None:
            mark = "" if status == "ok" else " [red]error"
            self._p.update(self._task, advance=1, description=f"{spec.strategy} {spec.benchmark} s{spec.seed}{mark}")

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)


def load_results(out: str | Path) -> list[dict]:
    """Every run record under ``out`` (a results folder, or a packed ``.jsonl.gz`` archive), sorted
    by (benchmark, strategy, seed, budget)."""
    return read_records(out)


def compare_results(a: str | Path, b: str | Path) -> dict[str, list[tuple]]:
    """Runs present in both folders (or archives), split into ``same`` (identical configurations
    and losses) and ``differ`` (with the first trial where they part), plus runs ``only_a`` / ``only_b``.

    A rerun of a committed sweep into a fresh folder should give no ``differ``.
    """
    ra, rb = {run_key(r): r for r in load_results(a)}, {run_key(r): r for r in load_results(b)}
    out: dict[str, list[tuple]] = {"same": [], "differ": [], "only_a": sorted(ra.keys() - rb.keys()),
                                   "only_b": sorted(rb.keys() - ra.keys())}
    for k in sorted(ra.keys() & rb.keys()):
        x, y = ra[k], rb[k]
        pairs = list(zip(x["configs"], y["configs"], x["losses"], y["losses"]))
        first = next((i for i, (cx, cy, lx, ly) in enumerate(pairs) if cx != cy or lx != ly), None)
        if first is None and len(x["losses"]) != len(y["losses"]):
            first = len(pairs)
        if first is None:
            out["same"].append(k)
        else:
            out["differ"].append((*k, first))
    return out
