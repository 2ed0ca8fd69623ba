"""HomOpt against its base strategies: the variants, the sweeps, and the paired comparison table.

Each variant of :data:`VARIANTS` runs as the strategy name ``homopt-<variant>:<base>``
(``homopt-ref:tpe`` is the reference schedule on TPE), a :class:`~benchmarks.runner.Variant` of
``homopt:<base>`` with the variant's arguments, so that each has its own seed and results. The
runs: the standard suite, 10 seeds, 100 evaluations, scored at 50 and 100 (records in
``benchmarks/results/homopt_runs.jsonl.gz``). The report compares each ``V(X)`` with ``X`` per
problem (:func:`benchmarks.scoring.compare`: paired Wilcoxon over seeds, p < 0.05 a win or a
loss, else a tie, and the mean score difference) and writes ``homopt_table.md``,
``homopt_summary.json`` and ``homopt_curves.png``.

    hpo bench experiment run homopt --jobs 2
    hpo bench experiment report homopt

Example:
    >>> from benchmarks.experiments.homopt import VARIANTS, variant_name
    >>> variant_name("ref", "tpe"), VARIANTS["ref"]["preset"]
    ('homopt-ref:tpe', 'reference')
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.experiments import RESULTS, Experiment, Sweep
from benchmarks.registry import STANDARD
from benchmarks.resultfiles import write_json
from benchmarks.runner import Variant
from benchmarks.scoring import compare, score

__all__ = ["VARIANTS", "DEFAULT", "variant_name", "variant", "write_report", "EXPERIMENT"]

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


def variant_name(name: str, base: str) -> str:
    """The strategy name a variant runs under, e.g. ``homopt-ref:tpe``."""
    return f"homopt-{name}:{base}"


def variant(name: str, base: str) -> Variant:
    """HomOpt variant ``name`` on ``base``: ``homopt:<base>`` with the variant's arguments."""
    if name not in VARIANTS:
        raise ValueError(f"unknown HomOpt variant {name!r}; variants: {', '.join(VARIANTS)}")
    return Variant(f"homopt:{base}", dict(VARIANTS[name]))


def _sweep(bases: Sequence[str], names: Sequence[str], problems: Sequence[str], with_bases: bool = True) -> Sweep:
    variants = {variant_name(v, b): variant(v, b) for b in bases for v in names}
    return Sweep(tuple(variants) + (tuple(bases) if with_bases else ()), tuple(problems), tuple(range(10)), 100,
                 variants)


_SYNTHETIC = [p for p in STANDARD if not p.startswith("tab-")]

#: What was run (``homopt_notes.md`` tells when and why): on the standard suite unless noted.
EXPERIMENT_SWEEPS = (
    _sweep(["random"], ["ref", "smooth-light", "smooth-std"], STANDARD),
    _sweep(["tpe"], ["smooth-light", "ref", "light-tr", "light-adapt", "light-gate"], STANDARD),
    _sweep(["gp", "smac"], ["smooth-light"], STANDARD),
    _sweep(["random", "gp", "smac"], ["light-tr"], STANDARD, with_bases=False),
    # earlier variants, on the seven synthetic problems only
    _sweep(["random"], ["smooth", "smooth-tr", "smooth-ts"], _SYNTHETIC, with_bases=False),
)


# --- report -----------------------------------------------------------------------------


def write_report(records: list[dict], out: Path, budgets: Sequence[int] = (50, 100), command: str | None = None) -> dict:
    """Score ``records`` together, compare every ``homopt-*:<base>`` with its base; write the files."""
    unique = {(r["strategy"], r["benchmark"], r["seed"], r["budget"]): r for r in records}
    sc = score(list(unique.values()), budgets=budgets)
    strategies = sorted(sc.strategies)
    pairs = [(s, s.partition(":")[2]) for s in strategies if s.startswith("homopt") and s.partition(":")[2] in strategies]
    comparisons = [compare(sc, a, b, bud) for a, b in pairs for bud in sc.budgets]
    summary = {
        "problems": sc.problems,
        "budgets": sc.budgets,
        "scores": {f"{s}@{b}": v for (s, b), v in sc.summary.items()},
        "comparisons": comparisons,
        "overhead": {s: sc.overhead[s] for s in strategies if s in sc.overhead},
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "homopt_summary.json", summary)
    (out / "homopt_table.md").write_text(_markdown(summary, command))
    _plot(sc, pairs, out / "homopt_curves.png")
    return summary


def _markdown(summary: dict, command: str | None) -> str:
    lines = ["# HomOpt against its base strategies", "",
             f"Problems: {', '.join(summary['problems'])} ({len(summary['problems'])}).",
             "Score: Bayesmark-style normalised best-so-far (0 = median first random evaluation, "
             "100 = best loss seen by any run), per problem mean over seeds. W/T/L: paired Wilcoxon "
             "signed-rank over seeds per problem, p < 0.05. Diff: mean score difference (HomOpt - base).", ""]
    if command:
        lines += [f"Produced by `{command}` (the runs: `hpo bench experiment run homopt`; "
                  "how and when they were made: `homopt_notes.md`).", ""]
    lines += ["Better: problems where HomOpt's mean score is higher (significant or not). Target (the paper's "
              "claim): wins on at least two thirds of the problems for random and TPE, and a mean diff of at "
              "least -1 for every base.", "",
              "Variants (`benchmarks/experiments/homopt.py:VARIANTS`): "
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


def _report(records: list[dict], command: str) -> Path:
    write_report(records, RESULTS, command=command)
    return RESULTS / "homopt_table.md"


EXPERIMENT = Experiment(
    name="homopt",
    title="HomOpt against its base strategies",
    sweeps=EXPERIMENT_SWEEPS,
    folder=RESULTS,
    report=_report,
    archive_name="homopt_runs.jsonl.gz",
    runs_name="homopt_runs",
)
