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
    (tmp_path / "bad.yaml").write_text("x: {type: float, low: -5\nopt: [adam")
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
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--n-trials", "abc"], "Invalid value for '--n-trials'"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--n-jobs", "0"], "--n-jobs must be a positive integer"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--timeout", "-1"], "--timeout must be a positive"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/bad.yaml"], "space file"),
    (["run", "{d}/obj.py:objective", "--space", "{d}/space.yaml", "--no-such-option"], "No such option"),
    (["studies", "--storage", "sqlite:///{d}/missing.db"], "no SQLite file at"),
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


def test_read_commands_create_no_database(files):
    url = f"sqlite:///{files / 'never.db'}"
    for args in (["studies", "--storage", url], ["best", "--study-name", "s", "--storage", url]):
        result = _run(*args)
        assert result.exit_code == 2 and "no SQLite file at" in result.output
    assert not (files / "never.db").exists()


def test_storage_from_the_environment_and_passwords_masked(files, monkeypatch):
    url = f"sqlite:///{files / 'env.db'}"
    monkeypatch.setenv("HPO_STORAGE", url)
    result = _run("run", f"{files / 'obj.py'}:objective", "--space", files / "space.yaml", "--n-trials", 3,
                  "--study-name", "s", "--seed", 0)
    assert result.exit_code == 0, result.output
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 3
    assert _run("studies").exit_code == 0 and "env.db" in _run("studies").output
    monkeypatch.setenv("HPO_STORAGE", "postgresql://hpo:Sup3rSecret99@127.0.0.1:1/db")
    result = _run("studies")
    assert result.exit_code == 2 and "Sup3rSecret99" not in result.output
    assert "postgresql://hpo:***@127.0.0.1:1/db" in result.output


def test_resuming_keeps_the_stored_strategy_and_refuses_another(files):
    url = f"sqlite:///{files / 's.db'}"
    base = ["run", f"{files / 'obj.py'}:objective", "--space", files / "space.yaml", "--n-trials", 2,
            "--storage", url, "--study-name", "s"]
    assert _run(*base, "--strategy", "random").exit_code == 0
    result = _run(*base, "--strategy", "tpe")
    assert result.exit_code == 2 and "exists with strategy 'random', not 'tpe'" in result.output
    result = _run(*base)
    assert result.exit_code == 0 and "4 complete" in result.output
