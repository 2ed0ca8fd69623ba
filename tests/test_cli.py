"""The hpo command line: run, studies, best, demo, and one-line errors with exit code 2."""

import textwrap

import optuna
import pytest
from typer.testing import CliRunner

from hpo.cli import app

runner = CliRunner()

OBJECTIVE = textwrap.dedent("""
    def objective(trial):
        p = trial.params
        return (p["x"] - 1) ** 2 + (0.5 if p["opt"] == "sgd" else 0.0) + p.get("momentum", 0.0)

    def broken(trial):
        raise RuntimeError("always fails")
""")

SPACE = textwrap.dedent("""
    x: {type: float, low: -5, high: 5}
    opt: [adam, sgd]
    momentum: {type: float, low: 0.0, high: 0.99, when: {opt: sgd}}
""")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    (tmp_path / "space.yaml").write_text(SPACE)
    return tmp_path


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_studies_best(files):
    url = f"sqlite:///{files / 's.db'}"
    result = _run("run", f"{files / 'obj.py'}:objective", "--space", files / "space.yaml", "--strategy", "random",
                  "--n-trials", 15, "--storage", url, "--study-name", "s", "--seed", 0)
    assert result.exit_code == 0, result.output
    assert "best" in result.output and "15 complete" in result.output
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 15

    result = _run("run", f"{files / 'obj.py'}:objective", "--space", files / "space.yaml",
                  "--n-trials", 5, "--storage", url, "--study-name", "s")
    assert result.exit_code == 0 and "20 complete" in result.output  # resumed, not restarted

    result = _run("studies", "--storage", url)
    assert result.exit_code == 0 and "s" in result.output and "20" in result.output

    result = _run("best", "--study-name", "s", "--storage", url)
    assert result.exit_code == 0 and "best value" in result.output


def test_failing_objective_is_survived(files):
    url = f"sqlite:///{files / 's.db'}"
    result = _run("run", f"{files / 'obj.py'}:broken", "--space", files / "space.yaml", "--n-trials", 3,
                  "--storage", url)
    assert result.exit_code == 0 and "3 fail" in result.output


@pytest.mark.parametrize("args, message", [
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--strategy", "tpee"], "unknown strategy 'tpee'; did you mean tpe"),
    (["run", "{d}/nope.py:objective"], "objective file"),
    (["run", "{d}/obj.py:objectiv", "--space", "{d}/space.yaml"], "has no callable 'objectiv'"),
    (["run", "{d}/obj.py", "--space", "{d}/space.yaml"], "must look like path/to/file.py:function"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/missing.yaml"], "space file"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--storage", "sqlite:/bad"], "not understood"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--direction", "up"], "--direction must be"),
    (["best", "--study-name", "nope", "--storage", "sqlite:///{d}/s.db"], "no SQLite file at"),
    (["studies", "--storage", "redis://x"], "not understood"),
    (["demo", "--benchmark", "branni"], "branin"),
])
def test_bad_arguments_exit_2_with_one_line(files, args, message):
    result = runner.invoke(app, [a.format(d=files) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]


def test_strategies_lists_names():
    result = _run("strategies")
    assert result.exit_code == 0 and "random" in result.output.split()


@pytest.mark.slow
def test_demo_runs_a_real_study_in_sqlite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run("demo", "--n-trials", 6, "--strategy", "random", "--benchmark", "branin")
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="demo-branin-random", storage=f"sqlite:///{tmp_path / 'hpo-demo.db'}")
    assert len(study.trials) == 6
