"""The ``hpo`` command line: run a study, list studies, show the best trial, run a demo, benchmark.

Bad arguments exit with code 2 and one line on stderr saying what is wrong.

Example (shell)::

    hpo demo                                   # a real study on a built-in benchmark, in SQLite
    hpo run train.py:objective --space space.yaml --strategy tpe --n-trials 50 \\
        --storage sqlite:///s.db --study-name s
    hpo studies --storage sqlite:///s.db
    hpo best --study-name s --storage sqlite:///s.db
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="hpo: hyperparameter optimization.")
_console = Console()
DEFAULT_STORAGE = "sqlite:///hpo.db"


class UsageError(Exception):
    """A bad argument: printed as one line, exit code 2."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _quiet_optuna() -> None:
    import optuna

    from hpo.study import failed_trial_log

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    failed_trial_log.show_tracebacks = False


def load_objective(target: str) -> Callable:
    """``path/to/file.py:function`` or ``package.module:function`` -> the callable."""
    if ":" not in target:
        raise UsageError(f"objective {target!r} must look like path/to/file.py:function or module:function")
    where, _, name = target.rpartition(":")
    if where.endswith(".py") or "/" in where:
        path = Path(where)
        if not path.exists():
            raise UsageError(f"objective file {where!r} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UsageError(f"importing {where!r} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise UsageError(f"cannot import module {where!r}: {e}") from None
    func = getattr(module, name, None)
    if not callable(func):
        found = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        raise UsageError(f"{where!r} has no callable {name!r}; callables there: {found[:10]}")
    return func


def _best_table(study: Any, top: int) -> Table:
    from optuna.trial import TrialState

    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    reverse = study.direction == "maximize"
    done.sort(key=lambda t: t.value, reverse=reverse)
    table = Table(title=f"{study.study_name}: best {min(top, len(done))} of {len(study.trials)} trials ({study.direction})")
    table.add_column("trial", justify="right")
    table.add_column("value", justify="right")
    names = sorted({k for t in done[:top] for k in t.params})
    for n in names:
        table.add_column(n)
    for t in done[:top]:
        table.add_row(str(t.number), f"{t.value:.6g}", *[_fmt(t.params.get(n, "")) for n in names])
    return table


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _states(study: Any) -> str:
    from collections import Counter

    c = Counter(t.state.name.lower() for t in study.trials)
    return ", ".join(f"{n} {k}" for k, n in sorted(c.items()))


@app.command()
def run(
    objective: str = typer.Argument(..., help="path/to/file.py:function or module:function; function(trial) -> float"),
    space: Optional[Path] = typer.Option(None, "--space", help="space file (.yaml/.json); omit for define-by-run"),
    strategy: str = typer.Option("random", "--strategy", help="search strategy (hpo strategies to list them)"),
    n_trials: int = typer.Option(50, "--n-trials", min=1),
    storage: str = typer.Option(DEFAULT_STORAGE, "--storage"),
    study_name: Optional[str] = typer.Option(None, "--study-name", help="defaults to the objective's name"),
    direction: str = typer.Option("minimize", "--direction"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    n_jobs: int = typer.Option(1, "--n-jobs", help="worker processes"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="seconds"),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median, successive-halving, hyperband"),
    top: int = typer.Option(10, "--top", help="rows of the final table"),
) -> None:
    """Run (or resume) a study and print its best trials."""
    import hpo

    _quiet_optuna()
    if direction not in ("minimize", "maximize"):
        _fail(f"--direction must be minimize or maximize, got {direction!r}")
    try:
        func = load_objective(objective)
        study = hpo.create_study(space=space, strategy=strategy, direction=direction, storage=storage,
                                 study_name=study_name or objective.rpartition(":")[2], seed=seed,
                                 pruner=pruner, load_if_exists=True)
    except (UsageError, ValueError, KeyError, TypeError) as e:
        _fail(str(e))
    study.optimize(func, n_trials=n_trials, n_jobs=n_jobs, timeout=timeout, show_progress_bar=True)
    _console.print(_best_table(study, top))
    _console.print(f"trials: {_states(study)}; storage: {storage}; study: {study.study_name}")


@app.command()
def studies(storage: str = typer.Option(DEFAULT_STORAGE, "--storage")) -> None:
    """List the studies in a storage."""
    import optuna

    import hpo
    from hpo.storage import open_storage

    try:
        summaries = optuna.get_all_study_summaries(open_storage(storage), include_best_trial=True)
    except hpo.StorageError as e:
        _fail(str(e))
    table = Table(title=f"studies in {storage}")
    for col in ("study", "direction", "trials", "best value", "started"):
        table.add_column(col)
    for s in summaries:
        best = f"{s.best_trial.value:.6g}" if s.best_trial is not None else "-"
        started = s.datetime_start.strftime("%Y-%m-%d %H:%M") if s.datetime_start else "-"
        table.add_row(s.study_name, s.direction.name.lower(), str(s.n_trials), best, started)
    _console.print(table)


@app.command()
def best(
    study_name: str = typer.Option(..., "--study-name"),
    storage: str = typer.Option(DEFAULT_STORAGE, "--storage"),
    top: int = typer.Option(5, "--top"),
) -> None:
    """Show the best trials of a study."""
    import hpo

    _quiet_optuna()
    try:
        study = hpo.load_study(study_name=study_name, storage=storage)
        best_trial = study.best_trial
    except (hpo.StudyNotFoundError, ValueError) as e:
        _fail(str(e))
    _console.print(_best_table(study, top))
    _console.print(f"best value {best_trial.value:.6g} at trial {best_trial.number}: {best_trial.params}")


@app.command()
def strategies() -> None:
    """List the registered search strategies."""
    import hpo

    for name in hpo.available():
        typer.echo(name)


@app.command()
def demo(
    benchmark: str = typer.Option("ml-svm-digits", "--benchmark", help="a built-in benchmark (hpo bench list)"),
    strategy: str = typer.Option("tpe", "--strategy"),
    n_trials: int = typer.Option(30, "--n-trials", min=1),
    storage: str = typer.Option("sqlite:///hpo-demo.db", "--storage"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Tune a built-in benchmark, stored in SQLite, and print the best trials."""
    import hpo

    _quiet_optuna()
    try:
        from benchmarks.registry import make_benchmark

        bench = make_benchmark(benchmark, rng=seed)
        study = hpo.create_study(space=bench.get_configuration_space(seed), strategy=strategy, storage=storage,
                                 study_name=f"demo-{benchmark}-{strategy}", seed=seed, load_if_exists=True)
    except (ValueError, KeyError) as e:
        _fail(str(e).strip("'\""))

    def objective(trial: hpo.Trial) -> float:
        result = bench.objective_function(trial.params)
        for key, value in (result.get("info") or {}).items():
            if isinstance(value, (int, float, str, bool)):
                trial.set_user_attr(key, value)
        return result["function_value"]

    study.optimize(objective, n_trials=n_trials, show_progress_bar=True)
    _console.print(_best_table(study, 10))
    _console.print(f"trials: {_states(study)}; storage: {storage}; study: {study.study_name}")


def _mount_bench() -> None:
    try:
        from benchmarks.cli import app as bench_app
    except ImportError as e:  # the benchmarks package is part of hpo; report rather than hide
        logging.getLogger("hpo").debug("hpo bench unavailable: %s", e)
        return
    app.add_typer(bench_app, name="bench", help="Run strategies x benchmarks x seeds, score, report.")


_mount_bench()


def _mount_llm() -> None:
    from hpo.llm.cli import app as llm_app  # typer only: llama_cpp and openai load when a command runs

    app.add_typer(llm_app, name="llm", help="Serve a local LLM for the llambo strategy.")


_mount_llm()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
