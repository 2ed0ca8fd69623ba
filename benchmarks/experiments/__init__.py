"""Experiments as data: sweeps of strategies x problems x seeds with settings, run by the one runner.

An :class:`Experiment` is a list of :class:`Sweep` s (what to run: strategies, problems, seeds,
a budget, and the :class:`~benchmarks.runner.Variant` settings of any strategy name that is not
a plain hpo strategy or peer), a folder, and a report function that scores the records
(:mod:`benchmarks.scoring`) and writes the tables. :func:`run` runs what is missing through
:func:`benchmarks.runner.run_specs`, every sweep in one pool of workers (same seeding, record
format and resume as ``hpo bench run``;
runs already in the committed archive are kept), packs every record into the archive
(``runs.jsonl.gz``, committed; the run files under ``runs/`` are not) and writes the report.

The experiments (``hpo bench experiment list``):

- ``wrappers``: each hpo wrapper against its library called natively with the wrapper's settings;
- ``parallel``: ``n_jobs=2`` against one worker for tpe and gp;
- ``strategy-overhead``: the per-trial ``ask`` cost after 50, 200 and 500 completed trials;
- ``homopt``: HomOpt variants against their base strategies;
- ``pruning``: pruners and ASHA at equal total cost;
- ``default``: the default strategy (``auto``) against its peers on the default-strategy suite.

Command line::

    hpo bench experiment list
    hpo bench experiment run wrappers --jobs 2          # resumes; packs; writes the report
    hpo bench experiment report wrappers                # the report again, from the archive
    hpo bench experiment run homopt --seeds 1 --problems branin --out /tmp/rerun
    hpo bench compare benchmarks/results/homopt_runs.jsonl.gz /tmp/rerun   # a subset reproduces

Example:
    >>> from benchmarks.experiments import get, names
    >>> "wrappers" in names()
    True
    >>> exp = get("strategy-overhead")
    >>> exp.variants()["tpe@200"].warm_start
    200
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from benchmarks.resultfiles import pack_records, read_records, run_key
from benchmarks.runner import RunSpec, Variant, check_sweep, plan, run_specs

__all__ = ["Experiment", "Sweep", "Variant", "UnknownExperimentError", "names", "get", "run", "report", "records",
           "RESULTS"]

RESULTS = Path(__file__).resolve().parents[1] / "results"
_MODULES = {
    "wrappers": "benchmarks.experiments.wrappers",
    "parallel": "benchmarks.experiments.parallel",
    "strategy-overhead": "benchmarks.experiments.strategy_overhead",
    "homopt": "benchmarks.experiments.homopt",
    "pruning": "benchmarks.experiments.pruning",
    "default": "benchmarks.experiments.default",
}


class UnknownExperimentError(ValueError):
    """An experiment name that is not defined; the message lists the defined ones."""


@dataclass(frozen=True)
class Sweep:
    """Strategies x problems x seeds at one budget; ``variants`` gives the settings of variant names,
    ``sleep`` seconds are added to every evaluation."""

    strategies: tuple[str, ...]
    problems: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: int
    variants: Mapping[str, Variant] = field(default_factory=dict)
    sleep: float = 0.0

    def specs(self) -> list[RunSpec]:
        return plan(self.strategies, self.problems, self.seeds, self.budget, self.variants)


@dataclass(frozen=True)
class Experiment:
    """Named sweeps, where their records and report live, and the report.

    ``report(records, command)`` writes the report files into ``folder`` and returns the markdown
    path; ``records`` are the experiment's runs, ``command`` the line that reproduces the report.
    """

    name: str
    title: str
    sweeps: tuple[Sweep, ...]
    folder: Path
    report: Callable[[list[dict], str], Path]
    archive_name: str = "runs.jsonl.gz"
    runs_name: str = "runs"

    @property
    def archive(self) -> Path:
        return self.folder / self.archive_name

    @property
    def runs_dir(self) -> Path:
        return self.folder / self.runs_name

    def variants(self) -> dict[str, Variant]:
        """Every variant of every sweep; a name means the same settings throughout."""
        out: dict[str, Variant] = {}
        for sweep in self.sweeps:
            for name, v in sweep.variants.items():
                if out.setdefault(name, v) != v:
                    raise ValueError(f"experiment {self.name!r}: variant {name!r} has two definitions")
        return out

    def specs(self) -> list[tuple[RunSpec, Sweep]]:
        """Every run with its sweep; each (benchmark, strategy, seed, budget) once."""
        out, seen = [], {}
        for sweep in self.sweeps:
            for spec in sweep.specs():
                key = (spec.benchmark, spec.strategy, spec.seed, spec.budget)
                if key in seen and seen[key] != (sweep.variants.get(spec.strategy), sweep.sleep):
                    raise ValueError(f"experiment {self.name!r}: run {key} is defined twice with other settings")
                if key not in seen:
                    seen[key] = (sweep.variants.get(spec.strategy), sweep.sleep)
                    out.append((spec, sweep))
        return out

    def keys(self) -> set[tuple]:
        return {(s.benchmark, s.strategy, s.seed, s.budget) for s, _ in self.specs()}


def names() -> list[str]:
    """The defined experiments."""
    return list(_MODULES)


def get(name: str) -> Experiment:
    """The experiment ``name`` (see :func:`names`)."""
    if name not in _MODULES:
        raise UnknownExperimentError(f"unknown experiment {name!r}; experiments: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).EXPERIMENT


def _subset(exp: Experiment, seeds: int | None, problems: Sequence[str] | None,
            strategies: Sequence[str] | None) -> list[Sweep]:
    known_p = {p for s in exp.sweeps for p in s.problems}
    known_s = {n for s in exp.sweeps for n in s.strategies}
    for given, known, what in ((problems, known_p, "problem"), (strategies, known_s, "strategy")):
        missing = sorted(set(given or ()) - known)
        if missing:
            raise ValueError(f"experiment {exp.name!r} has no {what} {missing[0]!r}; it has: {', '.join(sorted(known))}")
    if seeds is not None and seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    out = []
    for s in exp.sweeps:
        sub = Sweep(tuple(x for x in s.strategies if not strategies or x in strategies),
                    tuple(p for p in s.problems if not problems or p in problems),
                    s.seeds[:seeds] if seeds else s.seeds, s.budget, s.variants, s.sleep)
        if sub.strategies and sub.problems and sub.seeds:
            out.append(sub)
    return out


def records(exp: Experiment) -> list[dict]:
    """The experiment's runs: the archive's, and the run folder's where it exists (they win);
    runs the experiment does not define (kept in the archive from earlier) are left out."""
    found: dict[tuple, dict] = {}
    for source in (exp.archive, exp.runs_dir):
        if source.exists():
            found.update({run_key(r): r for r in read_records(source)})
    keys = exp.keys()
    return [found[k] for k in sorted(found) if k in keys]


def _pack(exp: Experiment) -> int:
    """Every record of the archive and the run folder (the folder's win), into the archive."""
    found: dict[tuple, dict] = {}
    for source in (exp.archive, exp.runs_dir):
        if source.exists():
            found.update({run_key(r): r for r in read_records(source)})
    return pack_records(found.values(), exp.archive) if found else 0


def run(exp: Experiment, jobs: int = 2, seeds: int | None = None, problems: Sequence[str] | None = None,
        strategies: Sequence[str] | None = None, out: str | Path | None = None, progress: bool = True) -> Path | None:
    """Run the experiment's missing runs, pack them into the archive and write the report.

    ``seeds`` (the first k of each sweep), ``problems`` and ``strategies`` run a subset. With ``out``
    the subset runs afresh into that folder (nothing is skipped, packed or reported): a rerun to
    compare with the archive (``hpo bench compare``). Returns the report's markdown path (None with ``out``).
    """
    sweeps = _subset(exp, seeds, problems, strategies)
    if not sweeps:
        raise ValueError(f"nothing to run in experiment {exp.name!r} with that subset")
    exp.variants()  # one definition per name
    exp.specs()
    if out is None:
        archived = {run_key(r) for r in read_records(exp.archive)} if exp.archive.exists() else set()
    else:
        archived = set()
    target = Path(out) if out is not None else exp.runs_dir
    for sweep in sweeps:  # every name and problem checked before any run starts
        check_sweep(sweep.strategies, sweep.problems, sweep.budget, sweep.variants)
    items = [(spec, sweep.variants.get(spec.strategy), sweep.sleep) for sweep in sweeps for spec in sweep.specs()]
    run_specs(items, target, jobs=jobs, progress=progress, skip=archived)
    if out is not None:
        return None
    return report(exp)


def report(exp: Experiment) -> Path:
    """Pack the run folder into the archive (where it exists) and write the report from every record."""
    if exp.runs_dir.exists():
        _pack(exp)
    recs = records(exp)
    if not recs:
        raise FileNotFoundError(f"no runs of experiment {exp.name!r} under {str(exp.folder)!r}; "
                                f"run `hpo bench experiment run {exp.name}` first")
    return exp.report(recs, f"hpo bench experiment report {exp.name}")
