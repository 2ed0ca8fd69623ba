"""`hpo bench` through typer's CliRunner: list, run (+ resume), report, bad names."""

import json

from typer.testing import CliRunner

from benchmarks.cli import app

runner = CliRunner()


def test_list_names_everything():
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0, res.output
    for word in ("standard", "branin", "tab-svm-diabetes", "ml-mlp-digits", "mf-mlp-iris", "optuna-tpe", "random"):
        assert word in res.output


def test_run_resume_and_report(tmp_path):
    out = tmp_path / "res"
    args = ["run", "--benchmarks", "branin,mixed", "--strategies", "random,optuna-tpe", "--seeds", "2",
            "--budget", "5", "--jobs", "1", "--out", str(out), "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert len(list(out.rglob("*.json"))) == 8
    res = runner.invoke(app, args[:-1])  # with the progress bar: everything is skipped
    assert res.exit_code == 0 and "8 finished run(s) skipped" in res.output
    res = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "rep"), "--budgets", "2,5"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| optuna-tpe | peer |" in md and "score@5" in md
    assert "Pairs are runs (problem, seed)" in md and "| optuna-tpe | random | 4 |" in md  # 2 problems: runs paired
    for png in ("regret.png", "rank.png", "overhead.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000
    scores = json.loads((tmp_path / "rep" / "scores.json").read_text())
    assert {s["strategy"] for s in scores["summary"]} == {"random", "optuna-tpe"}
    res = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "rep1"), "--budgets", "5", "--seeds", "1"])
    assert res.exit_code == 0, res.output
    one = json.loads((tmp_path / "rep1" / "scores.json").read_text())
    assert {s["n_runs"] for s in one["summary"]} == {2}  # 2 problems x seed 0
    assert one["anchors"] == scores["anchors"]
    assert "--seeds 1" in (tmp_path / "rep1" / "report.md").read_text()


def _one_line_error(res, *words):
    assert res.exit_code == 2, res.output
    err = res.stderr if hasattr(res, "stderr") else res.output
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for w in words:
        assert w in lines[0]


def test_bad_names_give_one_line_errors(tmp_path):
    res = runner.invoke(app, ["run", "--benchmarks", "brannin", "--strategies", "random", "--out", str(tmp_path)])
    _one_line_error(res, "unknown benchmark 'brannin'", "branin", "suites: standard")
    res = runner.invoke(app, ["run", "--benchmarks", "branin", "--strategies", "tpee", "--out", str(tmp_path)])
    _one_line_error(res, "unknown strategy 'tpee'", "hpo strategies:", "peers:")
    res = runner.invoke(app, ["run", "--benchmarks", "nosuchpkg.mod:Bench", "--out", str(tmp_path)])
    _one_line_error(res, "cannot import 'nosuchpkg.mod'")
    res = runner.invoke(app, ["run", "--budget", "0", "--out", str(tmp_path)])
    _one_line_error(res, "--budget")
    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    _one_line_error(res, "does not exist")
    res = runner.invoke(app, ["report", str(tmp_path), "--budgets", "ten"])
    _one_line_error(res, "--budgets")


def test_pruning_command(tmp_path):
    args = ["pruning", "--out", str(tmp_path), "--benchmarks", "branin-mf", "--bases", "random", "--pruners",
            "none,median", "--seeds", "2", "--budget", "3", "--costs", "1,3", "--quiet"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "| random+median |" in (tmp_path / "pruning.md").read_text()
    res = runner.invoke(app, [*args[:3], "--benchmarks", "branin", "--quiet"])
    _one_line_error(res, "no fidelity")


def test_compare_finds_identical_and_different_runs(tmp_path):
    args = ["run", "--benchmarks", "branin", "--strategies", "random", "--seeds", "2", "--budget", "4", "--jobs", "1", "--quiet"]
    assert runner.invoke(app, [*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert runner.invoke(app, [*args[:6], "1", *args[7:], "--out", str(tmp_path / "b")]).exit_code == 0
    res = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert res.exit_code == 0 and "1 shared run(s) identical, 0 different; 1 only in" in res.output
    path = tmp_path / "b" / "branin" / "random" / "seed0-budget4.json"
    rec = json.loads(path.read_text())
    rec["losses"][2] += 1.0
    path.write_text(json.dumps(rec))
    res = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert res.exit_code == 1 and "differs: branin random seed 0 budget 4, from trial 2" in res.output
    res = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
