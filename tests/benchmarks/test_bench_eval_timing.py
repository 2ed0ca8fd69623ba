"""benchmarks.eval_timing (`hpo bench eval-timing`): per-problem and per-family evaluation times, report-only."""

import json

from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.eval_timing import family_table, time_benchmark


def test_multi_fidelity_problems_are_timed_at_both_ends():
    rows = time_benchmark("branin-mf", n_configs=2)
    assert [r["fidelity"] for r in rows] == ["max", "min"]
    assert all(r["n"] == 2 and r["cpu_ms_max"] >= r["cpu_ms_median"] > 0 for r in rows)


def test_family_table_groups_by_family_and_fidelity():
    rows = [
        {"benchmark": "a", "family": "f", "fidelity": "max", "cpu_ms_median": 1.0, "cpu_ms_mean": 2.0},
        {"benchmark": "b", "family": "f", "fidelity": "max", "cpu_ms_median": 3.0, "cpu_ms_mean": 6.0},
        {"benchmark": "b", "family": "f", "fidelity": "min", "cpu_ms_median": 1.0, "cpu_ms_mean": 1.0},
    ]
    table = family_table(rows)
    assert [(t["family"], t["fidelity"], t["problems"]) for t in table] == [("f", "max", 2), ("f", "min", 1)]
    assert table[0]["cpu_ms_median"] == 2.0 and table[0]["cpu_ms_mean"] == 4.0 and table[0]["slowest"] == "b (6)"


def test_command_writes_and_rewrites_the_report(tmp_path):
    runner = CliRunner()
    out = tmp_path / "timing"
    res = runner.invoke(app, ["eval-timing", "--benchmarks", "branin,tab-knn-iris", "--configs", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    saved = json.loads(out.with_suffix(".json").read_text())
    assert {r["benchmark"] for r in saved["problems"]} == {"branin", "tab-knn-iris"}
    assert saved["machine"]["cpus"] and "load_average" in saved["machine"]
    md = out.with_suffix(".md").read_text()
    assert "| synthetic | max | 1 |" in md and "`hpo bench eval-timing --benchmarks branin,tab-knn-iris --configs 2`" in md
    out.with_suffix(".md").unlink()
    assert runner.invoke(app, ["eval-timing", "--report-only", "--out", str(out)]).exit_code == 0
    assert out.with_suffix(".md").read_text() == md
    res = runner.invoke(app, ["eval-timing", "--configs", "0", "--out", str(out)])
    assert res.exit_code == 2 and "--configs must be >= 1" in res.output, res.output
    res = runner.invoke(app, ["eval-timing", "--report-only", "--out", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "--report-only needs" in res.output, res.output
