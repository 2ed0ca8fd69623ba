"""The ``hpo`` command line: run a study, list studies, show the best trial, run a demo, benchmark.

Bad arguments exit with code 2 and one line on stderr saying what is wrong (typer's usage
errors too). The storage URL comes from ``--storage`` or the ``HPO_STORAGE`` environment
variable (keeps a password out of ``ps``); it is shown with its password masked. Commands
that only read (``studies``, ``best``) never create a database.

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


class _OneLineErrors(typer.core.TyperGroup):
    """typer's usage errors (a bad ``--n-trials abc``, an unknown option) as one ``error:`` line, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        except typer.TyperException as e:  # click's exceptions, as typer vendors them
            ctx = getattr(e, "ctx", None)
            if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())
                sys.exit(0)
            code = getattr(e, "exit_code", 1)
            message = e.format_message() if hasattr(e, "format_message") else str(e)
            where = f" (see {ctx.command_path} --help)" if code == 2 and ctx is not None else ""
            typer.echo(f"error: {' '.join(message.split())}{where}", err=True)
            sys.exit(code)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True,
                  help="hpo: hyperparameter optimization.")
_console = Console()
DEFAULT_STORAGE = "sqlite:///hpo.db"
_STORAGE_HELP = "storage URL (or set HPO_STORAGE, which keeps a password out of ps)"


class UsageError(Exception):
    """A bad argument: printed as one line, exit code 2."""


def _fail(message: str, code: int = 2) -> None:
    from hpo.storage import redact

    typer.echo(f"error: {' '.join(redact(str(message)).split())}", err=True)
    raise typer.Exit(code)


def _shown(storage: str) -> str:
    from hpo.storage import redact_url

    return redact_url(storage)


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
    strategy: Optional[str] = typer.Option(
        None, "--strategy", help="search strategy (hpo strategies lists them); default: the study's own when "
        "resuming, else hpo's default"),
    n_trials: int = typer.Option(50, "--n-trials", min=1),
    storage: str = typer.Option(DEFAULT_STORAGE, "--storage", envvar="HPO_STORAGE", help=_STORAGE_HELP),
    study_name: Optional[str] = typer.Option(None, "--study-name", help="defaults to the objective's name"),
    direction: str = typer.Option("minimize", "--direction"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    n_jobs: int = typer.Option(1, "--n-jobs", help="worker processes"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="seconds"),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median, successive-halving, hyperband"),
    top: int = typer.Option(10, "--top", help="rows of the final table"),
    executor: str = typer.Option("local", "--executor", help="local (this machine, --n-jobs processes) or ray "
                                 "(Ray Tune: trials on a Ray cluster, --pruner picks Ray's early-stopping scheduler)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="with --executor ray: auto (the cluster "
                                              "`ray start` joined), ray://host:10001, or unset for a local Ray"),
) -> None:
    """Run (or resume) a study and print its best trials."""
    import hpo

    _quiet_optuna()
    if direction not in ("minimize", "maximize"):
        _fail(f"--direction must be minimize or maximize, got {direction!r}")
    if n_jobs == 0 or n_jobs < -1:
        _fail(f"--n-jobs must be a positive integer or -1 (one worker per core), got {n_jobs}")
    if timeout is not None and not timeout > 0:
        _fail(f"--timeout must be a positive number of seconds, got {timeout}")
    if seed is not None and seed < 0:
        _fail(f"--seed must be a non-negative integer, got {seed}")
    if top < 0:
        _fail(f"--top must be a non-negative integer, got {top}")
    if executor not in ("local", "ray"):
        _fail(f"--executor must be local or ray, got {executor!r}")
    if executor == "local" and ray_address is not None:
        _fail("--ray-address needs --executor ray")
    if executor == "ray" and n_jobs != 1:
        _fail("--n-jobs is for --executor local; on Ray as many trials run as the cluster's CPUs hold")
    try:
        func = load_objective(objective)
        parsed_space = _read_space(space) if space is not None else None
        study = hpo.create_study(space=parsed_space, strategy=strategy, direction=direction, storage=storage,
                                 study_name=study_name or objective.rpartition(":")[2], seed=seed,
                                 pruner=pruner, load_if_exists=True)
    except (UsageError, ValueError, KeyError, TypeError) as e:
        _fail(str(e))
    from hpo.execution import WorkerError

    on_ray = None
    if executor == "ray":
        if study.space is None:
            _fail("--executor ray needs --space: Ray workers do not open the storage, so define-by-run cannot work there")
        try:
            on_ray = hpo.RayExecutor(address=ray_address, scheduler=pruner)
        except (ImportError, ValueError) as e:
            _fail(str(e))

    try:
        study.optimize(func, n_trials=n_trials, n_jobs=n_jobs, timeout=timeout, show_progress_bar=True, executor=on_ray)
    except WorkerError as e:
        _fail(str(e), code=1)
    except ConnectionError as e:  # --executor ray: no Ray at --ray-address
        _fail(str(e), code=1)
    except KeyboardInterrupt:
        _fail(f"interrupted; the finished trials are stored: rerun the same command to resume", code=130)
    _console.print(_best_table(study, top))
    _console.print(f"trials: {_states(study)}; storage: {_shown(storage)}; study: {study.study_name}")


def _read_space(path: Path) -> Any:
    """A space file parsed, with any problem (missing, malformed YAML/JSON, bad entries) as one UsageError."""
    import hpo

    try:
        return hpo.Space(path)
    except hpo.SpaceError as e:
        raise UsageError(str(e)) from None
    except Exception as e:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError, OSError
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        what = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
        raise UsageError(f"space file {str(path)!r} cannot be read{where}: {what}") from None


@app.command()
def studies(storage: str = typer.Option(DEFAULT_STORAGE, "--storage", envvar="HPO_STORAGE", help=_STORAGE_HELP)) -> None:
    """List the studies in a storage (it is only read; nothing is created)."""
    import optuna

    import hpo
    from hpo.storage import open_storage

    try:
        summaries = optuna.get_all_study_summaries(open_storage(storage, create=False), include_best_trial=True)
    except hpo.StorageError as e:
        _fail(str(e))
    except Exception as e:  # a database that is unreachable or not an optuna one
        _fail(f"cannot read storage {_shown(storage)!r}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    table = Table(title=f"studies in {_shown(storage)}")
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
    storage: str = typer.Option(DEFAULT_STORAGE, "--storage", envvar="HPO_STORAGE", help=_STORAGE_HELP),
    top: int = typer.Option(5, "--top", min=0),
) -> None:
    """Show the best trials of a study (it is only read; nothing is created)."""
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


def _load_plugins() -> None:
    """Commands other packages add: each ``hpo.commands`` entry point is ``register(app)``.

    ``benchmarks`` registers ``hpo bench`` and ``hpo demo`` this way, so hpo never imports it.
    """
    from importlib.metadata import entry_points

    for ep in entry_points(group="hpo.commands"):
        try:
            ep.load()(app)
        except Exception as e:  # a broken plugin must not take the core commands down
            logging.getLogger("hpo").warning("hpo: commands from %r not loaded: %s: %s", ep.value, type(e).__name__, e)


_load_plugins()


def _mount_llm() -> None:
    from hpo.llm.cli import app as llm_app  # typer only: llama_cpp and openai load when a command runs

    app.add_typer(llm_app, name="llm", help="Serve a local LLM for the llambo strategy.")


_mount_llm()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
