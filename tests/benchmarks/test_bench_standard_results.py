"""The committed standard run: complete where it claims to be, and reproducible exactly."""

import json
from pathlib import Path

import pytest

from benchmarks.registry import STANDARD
from benchmarks.runner import RunSpec, load_results, run_one

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "standard"
pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no committed standard run")


def test_committed_runs_are_well_formed():
    records = load_results(RESULTS)
    assert records
    for r in records:
        assert r["benchmark"] in STANDARD and r["budget"] == 50
        assert r["status"] in ("ok", "stopped"), (r["strategy"], r["benchmark"], r["seed"], r["error"])
        assert len(r["losses"]) == len(r["configs"]) == 50 or r["status"] == "stopped"


@pytest.mark.slow
def test_rerun_reproduces_committed_runs_exactly():
    """Seed 0 on branin for every strategy in the committed run (HEBO skipped: ~1 min a run)."""
    for path in sorted(RESULTS.glob("branin/*/seed0-budget50.json")):
        committed = json.loads(path.read_text())
        if committed["strategy"] == "hebo":
            continue
        again = run_one(RunSpec(committed["strategy"], "branin", 0, 50))
        n = 50
        if "smac" in committed["strategy"] and not committed.get("global_rng_seeded"):
            # SMAC3's forest draws from numpy's global generator, which the runner seeds per run
            # only since these files were written: only their initial design is reproducible
            n = 10
        assert again["configs"][:n] == committed["configs"][:n], committed["strategy"]
        assert again["losses"][:n] == committed["losses"][:n], committed["strategy"]
