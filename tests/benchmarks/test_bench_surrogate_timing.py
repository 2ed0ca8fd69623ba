"""benchmarks.surrogate_timing (`hpo bench surrogate-timing`): the table and the JSON beside it."""

import json

from typer.testing import CliRunner

from benchmarks import surrogate_timing
from benchmarks.cli import app


def test_write_keeps_every_row_and_the_machine(tmp_path):
    rows = [{"model": "GP (3 starts)", "rows": 50, "fit_ms": 1.0, "refit_ms": 0.5, "warm_ms": 0.7,
             "predict_1000_ms": 2.0, "predict_1_us": 30.0, "r2": 0.99},
            {"model": "GAM (adaptive splines)", "rows": 50, "fit_ms": 5.0, "predict_1000_ms": 1.0, "predict_1_us": 50.0,
             "r2": 0.9, "n_splines": [8], "homotopy_ms": 100.0}]
    text = surrogate_timing.write(rows, tmp_path / "st", repeats=1, wall=2.0).read_text()
    assert "| GAM (adaptive splines), 8 splines | 50 | 5.0 |" in text and "| GP (3 starts) | 50 | 1.0 | 0.5 | 1 |" in text
    assert "`nice -n 10 hpo bench surrogate-timing --repeats 1`" in text and "load average" in text
    data = json.loads((tmp_path / "st.json").read_text())
    assert data["rows"] == rows and data["machine"]["cpus"] and data["repeats"] == 1


def test_repeats_must_be_positive():
    res = CliRunner().invoke(app, ["surrogate-timing", "--repeats", "0"])
    assert res.exit_code == 2 and "--repeats must be >= 1" in res.output
