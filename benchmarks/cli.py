"""``hpo bench``: list the benchmarks, run a sweep, write a report, run the experiments; ``hpo demo``.

The ``hpo`` command finds these through the ``hpo.commands`` entry-point group (``pyproject.toml``):
:func:`register` adds the sub-app ``app`` as ``hpo bench`` and :func:`demo` as ``hpo demo``, so
``hpo/`` never imports this package::

    hpo bench list
    hpo bench run --benchmarks standard --strategies hpo,peers --seeds 10 --budget 50 --jobs 2 --out results/
    hpo bench report results/ --out report/
    hpo bench compare results/ rerun/            # folders or .jsonl.gz archives
    hpo bench experiment list                    # experiments as data (benchmarks.experiments)
    hpo bench experiment run wrappers --jobs 2
    hpo bench pruning --seeds 10 --budget 50     # pruners at equal total cost
    hpo bench eval-timing                        # one evaluation of every built-in problem
    hpo bench surrogate-timing                   # surrogate fit / predict costs
    hpo bench build-tabular                      # rebuild the tabular problems' table

``--strategies`` takes hpo strategy names (``tpe``, ``homopt:gp``), peer names
(``optuna-tpe``, ``hebo``, ...), pruned multi-fidelity variants (``tpe+asha``, ``random+median``
on ``mf-*`` / ``*-mf`` benchmarks) and the groups ``hpo`` (every hpo strategy that imports
here, without homopt) and ``peers`` (every installed default peer). An interrupted run
resumes: finished runs are skipped.
"""

from __future__ import annotations

from typing import List, Optional

import typer

app = typer.Typer(help="Benchmarks: HPOBench-style problems, a side-by-side runner, Bayesmark-style scores.",
                  no_args_is_help=True, add_completion=False)
experiment_app = typer.Typer(help="Experiments as data: named sweeps run by the runner, scored, reported.",
                             no_args_is_help=True, add_completion=False)
app.add_typer(experiment_app, name="experiment")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def hpo_strategies() -> list[str]:
    """hpo strategies that can be built here (homopt variants are named explicitly, e.g. homopt:tpe)."""
    from hpo.strategies import available, make_strategy

    out = []
    for name in available():
        if name == "homopt":
            continue
        try:
            make_strategy(name)
        except Exception:  # not implemented yet, or an optional library is missing
            continue
        out.append(name)
    return out


def expand_strategies(names: list[str]) -> list[str]:
    from benchmarks.peers import available_peers
    from benchmarks.runner import DEFAULT_PEERS

    out: list[str] = []
    for name in names:
        if name == "hpo":
            group = hpo_strategies()
        elif name == "peers":
            group = [p for p in DEFAULT_PEERS if p in available_peers()]
        else:
            group = [name]
        out += [g for g in group if g not in out]
    return out


@app.command("list")
def list_cmd() -> None:
    """List benchmark suites, benchmarks, hpo strategies and peers."""
    from benchmarks.peers import available_peers
    from benchmarks.registry import available, suites

    typer.echo("suites:")
    for name, members in suites().items():
        typer.echo(f"  {name} ({len(members)}): {', '.join(members[:8])}{', ...' if len(members) > 8 else ''}")
    typer.echo(f"benchmarks ({len(available())}):")
    for name in available():
        typer.echo(f"  {name}")
    typer.echo(f"hpo strategies: {', '.join(hpo_strategies())} (and homopt:<base>)")
    typer.echo(f"peers: {', '.join(available_peers())}")
    typer.echo("external: any package.module:Class with the HPOBench interface")


@app.command("run")
def run_cmd(
    benchmarks: List[str] = typer.Option(["standard"], "--benchmarks", "-b", help="names, suites or module:Class, comma-separated"),
    strategies: List[str] = typer.Option(["hpo,peers"], "--strategies", "-s", help="hpo strategies, peers, or the groups hpo / peers"),
    seeds: int = typer.Option(10, help="number of seeds (0 .. seeds-1)"),
    budget: int = typer.Option(50, help="evaluations per run"),
    jobs: int = typer.Option(2, help="worker processes"),
    out: str = typer.Option("results", help="results folder (a rerun resumes in it)"),
    retry_errors: bool = typer.Option(False, help="rerun runs that ended in an error"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Run strategies x benchmarks x seeds at a budget; finished runs are skipped."""
    from benchmarks.registry import UnknownBenchmarkError, expand, make_benchmark
    from benchmarks.runner import UnknownStrategyNameError, check_strategies, run_suite

    if seeds < 1 or budget < 1 or jobs < 1:
        _fail(f"--seeds, --budget and --jobs must be >= 1 (got {seeds}, {budget}, {jobs})")
    try:
        names = expand(_split(benchmarks))
        for name in names:
            make_benchmark(name)
        strats = check_strategies(expand_strategies(_split(strategies)))
    except (UnknownBenchmarkError, UnknownStrategyNameError) as e:
        _fail(str(e))
    if not strats or not names:
        _fail("nothing to run: give at least one strategy and one benchmark")
    typer.echo(f"{len(strats)} strategies x {len(names)} benchmarks x {seeds} seeds, budget {budget} -> {out}")
    paths = run_suite(strats, names, seeds=seeds, budget=budget, out=out, jobs=jobs,
                      progress=not quiet, retry_errors=retry_errors)
    typer.echo(f"{len(paths)} runs in {out}; report with: hpo bench report {out} --out {out.rstrip('/')}-report")


@app.command("report")
def report_cmd(
    results: str = typer.Argument(..., help="results folder written by `hpo bench run`"),
    out: str = typer.Option("report", help="folder for report.md, scores.json and the PNGs"),
    budgets: str = typer.Option("10,25,50,100", help="budgets to score at, comma-separated"),
    strategies: Optional[List[str]] = typer.Option(None, "--strategies", "-s", help="only these strategies"),
    seeds: Optional[int] = typer.Option(None, help="only seeds 0 .. seeds-1 (default: every seed in the folder)"),
    title: str = typer.Option("Benchmark results", help="report title"),
    notes: Optional[str] = typer.Option(None, help="a markdown file whose text goes under the title"),
) -> None:
    """Score a results folder and write the markdown tables and plots."""
    from pathlib import Path

    from benchmarks.report import write_report

    if not Path(results).is_dir():
        _fail(f"results folder {results!r} does not exist; run `hpo bench run --out {results}` first")
    try:
        bud = [int(b) for b in budgets.split(",") if b.strip()]
    except ValueError:
        _fail(f"--budgets must be integers like 10,25,50, got {budgets!r}")
    if seeds is not None and seeds < 1:
        _fail(f"--seeds must be >= 1 (got {seeds})")
    note_text = None
    if notes is not None:
        if not Path(notes).is_file():
            _fail(f"--notes file {notes!r} does not exist")
        note_text = Path(notes).read_text()
    with _progress("scoring and plotting"):
        try:
            md = write_report(results, out, budgets=bud, strategies=_split(strategies) or None, title=title,
                              command=f"hpo bench report {results} --out {out} --budgets {budgets}"
                              + (f" --strategies {','.join(_split(strategies))}" if strategies else "")
                              + (f" --seeds {seeds}" if seeds else "")
                              + (f" --notes {notes}" if notes else ""), notes=note_text,
                              seeds=None if seeds is None else range(seeds))
        except (ValueError, FileNotFoundError) as e:
            _fail(str(e))
    typer.echo(f"wrote {md} and the plots beside it")


@app.command("compare")
def compare_cmd(
    first: str = typer.Argument(..., help="a results folder or .jsonl.gz archive (e.g. the committed run)"),
    second: str = typer.Argument(..., help="another results folder or archive (e.g. a rerun of some of it)"),
) -> None:
    """Check that the runs two folders (or archives) share are identical (configurations and losses); exit 1 if not."""
    from benchmarks.runner import compare_results

    try:
        res = compare_results(first, second)
    except FileNotFoundError as e:
        _fail(str(e))
    for bench, strat, seed, budget, trial in res["differ"]:
        typer.echo(f"differs: {bench} {strat} seed {seed} budget {budget}, from trial {trial}")
    typer.echo(f"{len(res['same'])} shared run(s) identical, {len(res['differ'])} different; "
               f"{len(res['only_a'])} only in {first}, {len(res['only_b'])} only in {second}")
    if res["differ"] or not res["same"]:
        raise typer.Exit(1)


@app.command("pruning")
def pruning_cmd(
    out: str = typer.Option("benchmarks/results/pruning", help="folder for the runs (runs/), the archive and the report"),
    benchmarks: str = typer.Option("branin-mf,hartmann6-mf,mf-linear-diabetes", "--benchmarks", "-b",
                                   help="multi-fidelity problems, comma-separated"),
    bases: str = typer.Option("tpe,random", help="hpo strategies to prune"),
    pruners: str = typer.Option("none,median,asha,hyperband", help="pruners ('none': every rung, the baseline)"),
    seeds: int = typer.Option(10, help="number of seeds (0 .. seeds-1)"),
    budget: int = typer.Option(50, help="total cost per run, in full-evaluation equivalents"),
    jobs: int = typer.Option(1, help="worker processes"),
    costs: str = typer.Option("10,25,50", help="costs to report the best loss at"),
    report_only: bool = typer.Option(False, "--report-only", help="only rewrite the report from the runs there"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Pruning and ASHA at equal total cost: <base>+<pruner> on multi-fidelity problems, then the report.

    With the defaults this is ``hpo bench experiment run pruning``; the folder's notes.md goes under the title.
    """
    from benchmarks import experiments
    from benchmarks.experiments.pruning import experiment
    from benchmarks.registry import UnknownBenchmarkError
    from benchmarks.runner import UnknownStrategyNameError

    if seeds < 1 or budget < 1 or jobs < 1:
        _fail(f"--seeds, --budget and --jobs must be >= 1 (got {seeds}, {budget}, {jobs})")
    try:
        cost_list = [float(c) for c in _split([costs])]
    except ValueError:
        _fail(f"--costs must be numbers like 10,25,50, got {costs!r}")
    try:
        exp = experiment(out, _split([benchmarks]), _split([bases]), _split([pruners]), seeds, budget, cost_list)
        md = experiments.report(exp) if report_only else experiments.run(exp, jobs=jobs, progress=not quiet)
    except (UnknownBenchmarkError, UnknownStrategyNameError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"wrote {md} and pruning.json, pruning.png beside it")


@experiment_app.command("list")
def experiment_list_cmd() -> None:
    """The experiments, with their runs and where their results live."""
    from benchmarks import experiments

    for name in experiments.names():
        exp = experiments.get(name)
        specs = exp.specs()
        typer.echo(f"{name}: {exp.title}; {len(specs)} runs, "
                   f"{len({s.strategy for s, _ in specs})} strategies x {len({s.benchmark for s, _ in specs})} problems; "
                   f"{exp.archive}")


def _experiment(name: str):
    from benchmarks import experiments

    try:
        return experiments.get(name)
    except experiments.UnknownExperimentError as e:
        _fail(str(e))


@experiment_app.command("run")
def experiment_run_cmd(
    name: str = typer.Argument(..., help="an experiment (hpo bench experiment list)"),
    jobs: int = typer.Option(2, help="worker processes"),
    seeds: Optional[int] = typer.Option(None, help="only the first k seeds of each sweep"),
    problems: Optional[List[str]] = typer.Option(None, "--problems", "-p", help="only these problems, comma-separated"),
    strategies: Optional[List[str]] = typer.Option(None, "--strategies", "-s", help="only these strategies"),
    out: Optional[str] = typer.Option(None, help="run the subset afresh into this folder (to compare with the archive)"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Run an experiment's missing runs, pack them into its archive, write its report (or rerun a subset with --out)."""
    from benchmarks import experiments
    from benchmarks.registry import UnknownBenchmarkError
    from benchmarks.runner import UnknownStrategyNameError

    exp = _experiment(name)
    if jobs < 1:
        _fail(f"--jobs must be >= 1 (got {jobs})")
    try:
        md = experiments.run(exp, jobs=jobs, seeds=seeds, problems=_split(problems) or None,
                             strategies=_split(strategies) or None, out=out, progress=not quiet)
    except (UnknownBenchmarkError, UnknownStrategyNameError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    if md is None:
        typer.echo(f"runs in {out}; compare with: hpo bench compare {exp.archive} {out}")
    else:
        typer.echo(f"wrote {md}; runs packed into {exp.archive}")


@experiment_app.command("report")
def experiment_report_cmd(name: str = typer.Argument(..., help="an experiment (hpo bench experiment list)")) -> None:
    """Write an experiment's report again from its archive (and run folder, packed first)."""
    from benchmarks import experiments

    exp = _experiment(name)
    try:
        md = experiments.report(exp)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"wrote {md}")


@app.command("eval-timing")
def eval_timing_cmd(
    benchmarks: str = typer.Option("all", "--benchmarks", "-b", help="names or suites, comma-separated; 'all': every built-in"),
    configs: int = typer.Option(5, help="configurations per problem"),
    out: str = typer.Option("benchmarks/results/eval_timing", help="output path without extension (.json and .md)"),
    report_only: bool = typer.Option(False, "--report-only", help="rewrite the markdown from the JSON already at --out"),
) -> None:
    """Time one evaluation of every built-in problem (CPU time), per problem and per family."""
    from benchmarks import eval_timing
    from benchmarks.registry import UnknownBenchmarkError

    try:
        if report_only:
            md = eval_timing.rewrite(out)
        else:
            names = "all" if benchmarks == "all" else _split([benchmarks])
            rows = eval_timing.measure(names, configs, progress=typer.echo)
            command = "hpo bench eval-timing" + (f" --benchmarks {benchmarks}" if benchmarks != "all" else "") + (
                f" --configs {configs}" if configs != 5 else "")
            md = eval_timing.write(rows, out, command, configs)
    except (UnknownBenchmarkError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(md.read_text().split("\n## Per problem")[0])


@app.command("surrogate-timing")
def surrogate_timing_cmd(
    repeats: int = typer.Option(3, help="runs per figure (the median is reported)"),
    out: str = typer.Option("benchmarks/results/surrogate_timing", help="output path without extension (.json and .md)"),
) -> None:
    """Fit and predict CPU times of the surrogates (GP, forests, GAM) at 50 / 200 / 500 rows."""
    import time

    from benchmarks import surrogate_timing

    if repeats < 1:
        _fail(f"--repeats must be >= 1 (got {repeats})")
    t0 = time.perf_counter()
    rows = surrogate_timing.run(repeats, progress=typer.echo)
    typer.echo(f"wrote {surrogate_timing.write(rows, out, repeats, time.perf_counter() - t0)}")


@app.command("build-tabular")
def build_tabular_cmd(
    out: str = typer.Option("benchmarks/data/tabular.jsonl", help="the table to write (JSON lines)"),
    jobs: int = typer.Option(1, help="worker processes"),
    models: Optional[List[str]] = typer.Option(None, help="only these models, comma-separated (default: all)"),
    datasets: Optional[List[str]] = typer.Option(None, help="only these datasets, comma-separated (default: all)"),
) -> None:
    """Rebuild the tabular problems' table: every grid point of every (model, dataset), cross-validated."""
    from pathlib import Path

    from benchmarks.ml import DATASETS, MODELS
    from benchmarks.tabular import build_table

    ms, ds = _split(models) or list(MODELS), _split(datasets) or list(DATASETS)
    unknown = [x for x in ms if x not in MODELS] + [x for x in ds if x not in DATASETS]
    if unknown or jobs < 1:
        _fail(f"unknown model or dataset {unknown[0]!r}; models: {', '.join(MODELS)}; datasets: {', '.join(DATASETS)}"
              if unknown else f"--jobs must be >= 1 (got {jobs})")
    build_table(Path(out), ms, ds, jobs)


def demo(
    benchmark: str = typer.Option("ml-svm-digits", "--benchmark", help="a built-in benchmark (hpo bench list)"),
    strategy: str = typer.Option("tpe", "--strategy"),
    n_trials: int = typer.Option(30, "--n-trials", min=1),
    storage: str = typer.Option("sqlite:///hpo-demo.db", "--storage"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Tune a built-in benchmark, stored in SQLite, and print the best trials."""
    import optuna

    import hpo
    from benchmarks.registry import make_benchmark
    from hpo.cli import best
    from hpo.storage import redact
    from hpo.study import failed_trial_log

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    failed_trial_log.show_tracebacks = False
    name = f"demo-{benchmark}-{strategy}"
    try:
        bench = make_benchmark(benchmark, rng=seed)
        study = hpo.create_study(space=bench.get_configuration_space(seed), strategy=strategy, storage=storage,
                                 study_name=name, seed=seed, load_if_exists=True)
    except (ValueError, KeyError) as e:
        _fail(redact(str(e)).strip("'\""))

    def objective(trial: hpo.Trial) -> float:
        result = bench.objective_function(trial.params)
        for key, value in (result.get("info") or {}).items():
            if isinstance(value, (int, float, str, bool)):
                trial.set_user_attr(key, value)
        return result["function_value"]

    study.optimize(objective, n_trials=n_trials, show_progress_bar=True)
    best(study_name=name, storage=storage, top=10)


def register(root: typer.Typer) -> None:
    """The ``hpo.commands`` entry point: ``hpo bench`` and ``hpo demo`` on the ``hpo`` app."""
    root.add_typer(app, name="bench", help="Run strategies x benchmarks x seeds, score, report; experiments.")
    root.command("demo")(demo)


class _progress:
    """A spinner with elapsed time for the report step (scoring + plots take a few seconds)."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._p = Progress(SpinnerColumn(), TextColumn(self.what), TimeElapsedColumn(), transient=True)
        self._p.__enter__()
        self._p.add_task(self.what, total=None)
        return self

    def __exit__(self, *exc):
        self._p.__exit__(*exc)
        return False


if __name__ == "__main__":
    app()
