"""HomOpt against its base strategies: runs, the paired comparison table, and the ask overhead.

Three commands (``python -m benchmarks.homopt_eval <command> --help``):

``run``
    HomOpt variants and their bases on a benchmark suite, through the benchmark runner
    (:func:`benchmarks.runner.run_one`: same seeding, record format and resume). The
    variants are registered as strategy names ``homopt-<variant>`` (``homopt-ref:tpe`` is
    the reference schedule on TPE) so that each has its own result folder and seed.
``report``
    Scores every run together (:func:`benchmarks.scoring.score`), then for each variant
    ``V`` and base ``X`` compares ``V(X)`` with ``X`` per problem: a paired Wilcoxon
    signed-rank test over seeds (p < 0.05 gives a win or a loss, otherwise a tie) and the
    mean score difference, at each budget. Writes ``homopt_table.md``,
    ``homopt_summary.json`` and ``homopt_curves.png`` next to the runs.
``pack``
    Writes every run record of a results folder into one ``homopt_runs.jsonl.gz`` (what is
    committed: the folder of one JSON file per run is about ten times larger); ``report``
    reads either.
``overhead``
    Times ``ask`` at 200 completed trials on a 6-D problem (Hartmann-6), once at each
    position of the rotation, and writes ``homopt_overhead_<base>.json``.

Example:
    >>> from benchmarks.homopt_eval import VARIANTS, variant_name
    >>> variant_name("ref", "tpe"), VARIANTS["ref"]["preset"]
    ('homopt-ref:tpe', 'reference')
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

import numpy as np

RESULTS = Path(__file__).parent / "results"
RUNS = RESULTS / "homopt_runs"
ARCHIVE = RESULTS / "homopt_runs.jsonl.gz"

#: HomOpt settings compared here: the reference schedule and the candidate improvements.
VARIANTS: dict[str, dict] = {
    "ref": {"preset": "reference"},
    # homotopy boxed to +-0.2 of the unit cube around the best point
    "tr": {"preset": "reference", "trust_radius": 0.2},
    # jitter with half the top-10% standard deviation per dimension (a local search, not a re-test)
    "std": {"preset": "reference", "jitter_spread": "std", "jitter": 0.5},
    # jitter slots become homotopy steps while the GAM ranks the newest trials well
    "adapt": {"preset": "reference", "fit_threshold": 0.3},
    # std jitter and the trust region together
    "std-tr": {"preset": "reference", "jitter_spread": "std", "jitter": 0.5, "trust_radius": 0.2},
    # std jitter and the adaptive rotation together
    "std-adapt": {"preset": "reference", "jitter_spread": "std", "jitter": 0.5, "fit_threshold": 0.3},
    # a smoother GAM: standardised losses and lam = 1 (the reference's 1e-4 interpolates the noise)
    "smooth": {"preset": "reference", "lam": 1.0, "y_scale": "standard"},
    # the smoother GAM with the std jitter (= preset "smooth", the default)
    "smooth-std": {"preset": "reference", "lam": 1.0, "y_scale": "standard", "jitter_spread": "std", "jitter": 0.5},
    # smooth-std, jitter/homotopy slots handed to the base by Thompson sampling on past success
    "smooth-ts": {"preset": "smooth", "allocation": "thompson"},
    # smooth-std with the homotopy boxed to +-0.2 around the best point
    "smooth-tr": {"preset": "smooth", "trust_radius": 0.2},
    # smooth-std with a lighter rotation: base / homotopy / base / jitter / base (= preset "tuned", the default)
    "smooth-light": {"preset": "smooth", "base_slots": (0, 2, 4), "jitter_slots": (3,)},
    # the default with the jitter slot upgraded to a homotopy step while the GAM ranks new trials well
    "light-adapt": {"preset": "tuned", "fit_threshold": 0.3},
    # light-adapt, and jitter/homotopy slots handed to the base while the GAM ranks them badly (rho < 0)
    "light-gate": {"preset": "tuned", "fit_threshold": 0.3, "gate_threshold": 0.0},
    # the default with the homotopy boxed to +-0.2 around the best point
    "light-tr": {"preset": "tuned", "trust_radius": 0.2},
}


#: The variant equal to the default preset ("tuned").
DEFAULT = "smooth-light"


def variant_name(variant: str, base: str) -> str:
    """The strategy name a variant runs under, e.g. ``homopt-ref:tpe``."""
    return f"homopt-{variant}:{base}"


def _factory(kwargs: dict):
    def make(base: str = "random", **extra):
        from hpo.strategies.homopt import HomOptStrategy

        return HomOptStrategy(base, **{**kwargs, **extra})

    return make


def register_variants() -> None:
    """Register every variant as a strategy name (also done in each worker process)."""
    from hpo.strategies import register

    for v, kwargs in VARIANTS.items():
        register(f"homopt-{v}", _factory(kwargs))


def _worker_init() -> None:
    from benchmarks import runner

    runner._worker_init()
    register_variants()


def _work(spec, out: str):
    from benchmarks.runner import run_one

    t0 = time.perf_counter()
    record = run_one(spec, out)
    return spec, record["status"], time.perf_counter() - t0


# --- run ------------------------------------------------------------------------------
def run(bases: Sequence[str], variants: Sequence[str], benchmarks: Sequence[str], seeds: int | Sequence[int],
        budget: int, out: Path, jobs: int, include_bases: bool = True) -> None:
    from benchmarks.registry import expand
    from benchmarks.runner import check_strategies, plan, result_path

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    register_variants()
    strategies = [variant_name(v, b) for b in bases for v in variants] + (list(bases) if include_bases else [])
    check_strategies(strategies)
    specs = plan(strategies, expand(list(benchmarks)), seeds, budget)
    todo = [s for s in specs if not result_path(out, s).exists()]
    print(f"{len(specs)} runs, {len(specs) - len(todo)} already done, {len(todo)} to go", flush=True)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ["PYTHONHASHSEED"] = "0"  # spawned workers start with it: native SMAC3 proposes in string-hash order
    import multiprocessing as mp

    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
        futures = [pool.submit(_work, s, str(out)) for s in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            spec, status, secs = fut.result()
            print(f"[{i}/{len(todo)} {time.perf_counter() - t0:.0f}s] {spec.strategy} {spec.benchmark} "
                  f"seed {spec.seed}: {status} ({secs:.1f}s)", flush=True)


# --- report ---------------------------------------------------------------------------
def _paired(sc, problem: str, a: str, b: str, budget: int) -> tuple[np.ndarray, np.ndarray]:
    seeds = sorted({k[2] for k in sc.run_scores if k[0] == problem and k[1] == a and k[3] == budget}
                   & {k[2] for k in sc.run_scores if k[0] == problem and k[1] == b and k[3] == budget})
    xa = np.array([sc.run_scores[(problem, a, s, budget)] for s in seeds])
    xb = np.array([sc.run_scores[(problem, b, s, budget)] for s in seeds])
    return xa, xb


def compare(sc, a: str, b: str, budget: int, alpha: float = 0.05) -> dict:
    """``a`` against ``b`` per problem: Wilcoxon over paired seeds, wins/ties/losses, mean difference."""
    from scipy.stats import wilcoxon

    rows, wins, ties, losses, diffs = {}, 0, 0, 0, []
    for p in sc.problems:
        xa, xb = _paired(sc, p, a, b, budget)
        if xa.size == 0:
            continue
        d = xa - xb
        if np.allclose(d, 0):
            pval = 1.0
        else:
            pval = float(wilcoxon(xa, xb, zero_method="zsplit").pvalue)
        outcome = "tie" if not pval < alpha else ("win" if d.mean() > 0 else "loss")
        wins += outcome == "win"
        ties += outcome == "tie"
        losses += outcome == "loss"
        diffs.append(float(d.mean()))
        rows[p] = {"a": float(xa.mean()), "b": float(xb.mean()), "diff": float(d.mean()), "p": pval,
                   "outcome": outcome, "n_seeds": int(xa.size)}
    better = sum(r["diff"] > 0 for r in rows.values())
    return {"a": a, "b": b, "budget": budget, "wins": wins, "ties": ties, "losses": losses, "better": better,
            "n_problems": len(rows), "mean_diff": float(np.mean(diffs)) if diffs else math.nan,
            "mean_a": float(np.mean([r["a"] for r in rows.values()])) if rows else math.nan,
            "mean_b": float(np.mean([r["b"] for r in rows.values()])) if rows else math.nan,
            "problems": rows}


def report(folders: Sequence[Path], out: Path, budgets: Sequence[int] = (50, 100),
           benchmarks: Sequence[str] | None = None) -> dict:
    """Score the runs in ``folders`` (restricted to ``benchmarks``, suite names allowed) and compare."""
    from benchmarks.scoring import score

    records = [r for f in folders for r in _load(Path(f))]
    if benchmarks:
        from benchmarks.registry import expand

        keep = set(expand(list(benchmarks)))
        records = [r for r in records if r["benchmark"] in keep]
    # the same (strategy, benchmark, seed, budget) may sit in two folders: keep one
    unique = {(r["strategy"], r["benchmark"], r["seed"], r["budget"]): r for r in records}
    records = list(unique.values())
    sc = score(records, budgets=budgets)
    strategies = sorted(sc.strategies)
    pairs = []
    for s in strategies:
        if s.startswith("homopt"):
            base = s.partition(":")[2]
            if base in strategies:
                pairs.append((s, base))
    comparisons = [compare(sc, a, b, bud) for a, b in pairs for bud in sc.budgets]
    overhead = {s: sc.overhead[s] for s in strategies if s in sc.overhead}
    summary = {
        "folders": [str(f) for f in folders],
        "problems": sc.problems,
        "budgets": sc.budgets,
        "scores": {f"{s}@{b}": v for (s, b), v in sc.summary.items()},
        "comparisons": comparisons,
        "overhead": overhead,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "homopt_summary.json").write_text(json.dumps(summary, indent=1))
    (out / "homopt_table.md").write_text(_markdown(summary, sc))
    _plot(sc, pairs, out / "homopt_curves.png")
    return summary


def _load(path: Path) -> list[dict]:
    from benchmarks.runner import load_results

    if path.name.endswith(".jsonl.gz"):
        import gzip

        with gzip.open(path, "rt") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return load_results(path)


def pack(sources: Sequence[Path], archive: Path) -> int:
    """The run records of ``sources`` (results folders or archives) as one gzipped JSON-lines file.

    A run present in several sources is written once, from the last source that has it, so
    ``pack old.jsonl.gz new_folder`` replaces reruns and adds new runs. Returns the count.
    """
    import gzip

    unique: dict[tuple, dict] = {}
    for src in sources:
        for r in _load(Path(src)):
            unique[(r["strategy"], r["benchmark"], r["seed"], r["budget"])] = r
    records = sorted(unique.values(), key=lambda r: (r["strategy"], r["benchmark"], r["seed"], r["budget"]))
    tmp = Path(f"{archive}.part")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        for r in records:
            fh.write((json.dumps(r, default=str) + "\n").encode())
    tmp.replace(archive)
    return len(records)


def _markdown(summary: dict, sc) -> str:
    lines = ["# HomOpt against its base strategies", "",
             f"Problems: {', '.join(summary['problems'])} ({len(summary['problems'])}).",
             "Score: Bayesmark-style normalised best-so-far (0 = median first random evaluation, "
             "100 = best loss seen by any run), per problem mean over seeds. W/T/L: paired Wilcoxon "
             "signed-rank over seeds per problem, p < 0.05. Diff: mean score difference (HomOpt - base).", "",
             "Better: problems where HomOpt's mean score is higher (significant or not). Target (the paper's "
             "claim): wins on at least two thirds of the problems for random and TPE, and a mean diff of at "
             "least -1 for every base.", "",
             "Variants (`benchmarks/homopt_eval.py:VARIANTS`): "
             + "; ".join(f"`homopt-{k}` = {v}" for k, v in VARIANTS.items()
                         if any(c["a"].partition(":")[0] == f"homopt-{k}" for c in summary["comparisons"])) + ".", "",
             f"`homopt-{DEFAULT}` is the default (`HomOptStrategy(preset=\"tuned\")`, i.e. `homopt:<base>`); "
             "`homopt-ref` is the reference schedule (`preset=\"reference\"`).", ""]
    header = ["| HomOpt variant | base | budget | W / T / L | better | HomOpt score | base score | mean diff | seeds |",
              "|---|---|---|---|---|---|---|---|---|"]

    def row(c):
        seeds = sorted({r["n_seeds"] for r in c["problems"].values()})
        return (f"| {c['a'].partition(':')[0]} | {c['b']} | {c['budget']} | {c['wins']} / {c['ties']} / {c['losses']} "
                f"| {c['better']}/{c['n_problems']} | {c['mean_a']:.1f} | {c['mean_b']:.1f} | {c['mean_diff']:+.2f} "
                f"| {'/'.join(map(str, seeds))} |")

    head = [c for c in summary["comparisons"] if c["a"].partition(":")[0] in (f"homopt-{DEFAULT}", "homopt-ref")]
    lines += ["## Default and reference against each base", ""] + header + [row(c) for c in head]
    lines += ["", "## Every variant tried", ""] + header + [row(c) for c in summary["comparisons"]]
    lines += ["", "## Per problem (budget 100): mean diff (p)", ""]
    cmp100 = [c for c in summary["comparisons"] if c["budget"] == max(summary["budgets"])]
    if cmp100:
        lines.append("| problem | " + " | ".join(c["a"] for c in cmp100) + " |")
        lines.append("|---" * (len(cmp100) + 1) + "|")
        for p in summary["problems"]:
            cells = []
            for c in cmp100:
                r = c["problems"].get(p)
                cells.append("" if r is None else f"{r['diff']:+.1f} ({r['p']:.3f}) {r['outcome']}")
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    lines += ["", "## Overhead per trial (runner: time between evaluations)", "",
              "| strategy | mean ms | median ms | runs | errors |", "|---|---|---|---|---|"]
    for s, o in summary["overhead"].items():
        lines.append(f"| {s} | {1e3 * o['overhead_mean_s']:.1f} | {1e3 * o['overhead_median_s']:.1f} | {o['runs']} | {o['errors']} |")
    return "\n".join(lines) + "\n"


def _plot(sc, pairs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bases = sorted({b for _, b in pairs})
    if not bases:
        return
    fig, axes = plt.subplots(1, len(bases), figsize=(4.5 * len(bases), 3.6), squeeze=False)
    for ax, base in zip(axes[0], bases):
        for name in [base] + [a for a, b in pairs if b == base]:
            curves = [c for (p, s, _), c in sc.curves.items() if s == name]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            mean = 100 * (1 - np.mean([c[:n] for c in curves], axis=0))
            ax.plot(np.arange(1, n + 1), mean, label=name, lw=2 if name == base else 1.2)
        ax.set_title(f"base: {base}")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("mean score over problems and seeds")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- overhead -------------------------------------------------------------------------
def overhead(variants: Sequence[str], base: str, n_trials: int, repeats: int, out: Path) -> dict:
    """Mean and max ``ask`` time with ``n_trials`` completed trials, over every rotation position."""
    import optuna
    from optuna.trial import create_trial

    import hpo
    from benchmarks.registry import make_benchmark

    register_variants()
    from hpo.strategies import make_strategy

    bench = make_benchmark("hartmann6")
    space = hpo.Space(bench.get_configuration_space(seed=0))
    configs = space.sample(n_trials + 5, seed=0)
    hist = []
    for i, c in enumerate(configs):
        t = create_trial(params=c, distributions={k: space.distributions[k] for k in c},
                         value=bench.objective_function(c)["function_value"])
        t.number = i
        t._trial_id = i
        hist.append(t)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    result = {"benchmark": "hartmann6", "dims": len(space), "n_trials": n_trials, "repeats": repeats,
              "load_average": os.getloadavg(),
              "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
              "cpus": os.cpu_count(), "strategies": {}}
    for name in [variant_name(v, base) for v in variants] + [base]:
        per_pos = {}
        for k in range(5):  # the five positions of the rotation
            h = hist[:n_trials + k]
            times = []
            for r in range(repeats):
                s = make_strategy(name)
                s.setup(space, "minimize", r)
                t0 = time.perf_counter()
                s.ask(h)
                times.append(time.perf_counter() - t0)
            kind = getattr(s, "kind_of", lambda n: "base")(n_trials + k)
            per_pos[str(n_trials + k)] = {"kind": kind, "mean_ms": 1e3 * float(np.mean(times)),
                                         "max_ms": 1e3 * float(np.max(times))}
        mean = float(np.mean([v["mean_ms"] for v in per_pos.values()]))
        result["strategies"][name] = {"mean_ms_per_trial": mean, "positions": per_pos}
        print(f"{name}: {mean:.1f} ms per ask on average over the rotation; "
              + ", ".join(f"{v['kind']} {v['mean_ms']:.0f}" for v in per_pos.values()), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"homopt_overhead_{base}.json").write_text(json.dumps(result, indent=1))
    return result


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.homopt_eval", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run HomOpt variants and their bases")
    r.add_argument("--bases", default="random,tpe,smac,gp")
    r.add_argument("--variants", default="ref")
    r.add_argument("--benchmarks", default="standard")
    r.add_argument("--seeds", type=int, default=10)
    r.add_argument("--seed-from", type=int, default=0, help="run seeds seed_from .. seed_from + seeds - 1")
    r.add_argument("--budget", type=int, default=100)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--no-bases", action="store_true", help="run only the HomOpt variants")
    r.add_argument("--out", type=Path, default=RUNS)
    p = sub.add_parser("report", help="score and compare")
    p.add_argument("--runs", type=Path, nargs="+", default=[RUNS])
    p.add_argument("--benchmarks", default=None, help="only these problems or suites (default: every one in the runs)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--budgets", default="50,100")
    k = sub.add_parser("pack", help="pack a results folder into one .jsonl.gz")
    k.add_argument("--runs", type=Path, nargs="+", default=[RUNS], help="folders or archives; later ones win")
    k.add_argument("--out", type=Path, default=ARCHIVE)
    o = sub.add_parser("overhead", help="time ask at 200 completed trials")
    o.add_argument("--variants", default="ref")
    o.add_argument("--base", default="random")
    o.add_argument("--n-trials", type=int, default=200)
    o.add_argument("--repeats", type=int, default=3)
    o.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a.bases.split(","), a.variants.split(","), a.benchmarks.split(","),
            list(range(a.seed_from, a.seed_from + a.seeds)), a.budget, a.out, a.jobs, include_bases=not a.no_bases)
    elif a.cmd == "report":
        summary = report(a.runs, a.out, [int(b) for b in a.budgets.split(",")],
                         a.benchmarks.split(",") if a.benchmarks else None)
        print((a.out / "homopt_table.md").read_text())
        del summary
    elif a.cmd == "pack":
        print(f"{pack(a.runs, a.out)} records -> {a.out}")
    else:
        overhead(a.variants.split(","), a.base, a.n_trials, a.repeats, a.out)


if __name__ == "__main__":
    sys.exit(main())
