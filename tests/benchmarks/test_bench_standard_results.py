"""The committed standard run: complete where it claims to be, and reproducible by a rerun."""

import json
from pathlib import Path

import pytest

from benchmarks.registry import STANDARD
from benchmarks.resultfiles import trajectory_difference
from benchmarks.runner import load_results, run_suite

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
def test_rerun_reproduces_committed_runs(tmp_path):
    """Seed 0 on branin for every strategy in the committed run (HEBO skipped: minutes a run).

    The rerun goes through ``run_suite``, so it runs in a worker interpreter with
    PYTHONHASHSEED=0 as the committed runs did (native SMAC3's proposals follow the string-hash order).
    The first 20 trials must match to 1e-9, which any change to a strategy's proposals breaks. Later,
    model-based searches near the optimum amplify last-bit differences (library builds, thread
    counts, a refactor that reorders floating-point sums) into other proposals: gp, optuna-gp,
    homopt:tpe and smac3-bb parted from their committed runs at trials 21-49 in the 6th-9th digit.
    There the best loss must agree to 1e-3.
    """
    committed = {}
    for path in sorted(RESULTS.glob("branin/*/seed0-budget50.json")):
        rec = json.loads(path.read_text())
        if rec["strategy"] != "hebo":
            committed[rec["strategy"]] = rec
    run_suite(sorted(committed), ["branin"], seeds=[0], budget=50, out=tmp_path, jobs=1, progress=False)
    again = {r["strategy"]: r for r in load_results(tmp_path)}
    for name, rec in committed.items():
        first = [{k: r[k][:20] for k in ("configs", "losses")} for r in (again[name], rec)]
        assert trajectory_difference(*first) is None, (name, trajectory_difference(*first))
        assert min(again[name]["losses"]) == pytest.approx(min(rec["losses"]), rel=1e-3), name
