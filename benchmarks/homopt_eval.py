"""Moved: the HomOpt experiment is :mod:`benchmarks.experiments.homopt` (``hpo bench experiment run homopt``).

This module keeps the three names ``tests/strategies/test_homopt.py`` imports, over the new code:
``compare`` (:func:`benchmarks.scoring.compare`), ``pack`` and ``report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from benchmarks.resultfiles import pack_records, read_records
from benchmarks.scoring import compare

__all__ = ["compare", "pack", "report"]


def pack(sources: Sequence[Path], archive: Path) -> int:
    """The run records of ``sources`` (folders or archives; a later copy of a run wins) into one archive."""
    return pack_records([r for src in sources for r in read_records(src)], archive)


def report(folders: Sequence[Path], out: Path, budgets: Sequence[int] = (50, 100),
           benchmarks: Sequence[str] | None = None) -> dict:
    """The HomOpt table of the runs in ``folders`` (restricted to ``benchmarks``, suites allowed)."""
    from benchmarks.experiments.homopt import write_report
    from benchmarks.registry import expand

    records = [r for f in folders for r in read_records(f)]
    if benchmarks:
        keep = set(expand(list(benchmarks)))
        records = [r for r in records if r["benchmark"] in keep]
    return write_report(records, Path(out), budgets)
