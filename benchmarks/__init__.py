"""Benchmarks: HPOBench-style problems, a side-by-side runner, Bayesmark-style scores and reports.

Modules, one job each: :mod:`benchmarks.base` (the HPOBench interface),
:mod:`benchmarks.synthetic`, :mod:`benchmarks.ml` (live scikit-learn problems and their
multi-fidelity variants), :mod:`benchmarks.tabular` (the ML family precomputed on a grid),
:mod:`benchmarks.registry` (names, suites, ``module:Class`` paths), :mod:`benchmarks.peers`
(each native library's own loop, once), :mod:`benchmarks.runner` (every run, in worker
processes), :mod:`benchmarks.scoring` (Bayesmark scores and the paired tests),
:mod:`benchmarks.report`, :mod:`benchmarks.resultfiles` (machine metadata, JSON + markdown,
packed run records), :mod:`benchmarks.experiments` (experiments as data: sweeps run by the
runner) and :mod:`benchmarks.cli` (``hpo bench``, ``hpo demo``; plugged into ``hpo`` through the
``hpo.commands`` entry point).

As a library (e.g. to add strategies to the committed standard run; finished runs are skipped)::

    from benchmarks.runner import run_suite, load_results
    from benchmarks.scoring import score
    from benchmarks.report import write_report

    run_suite(["homopt:tpe", "homopt:gp"], ["standard"], seeds=10, budget=100,
              out="benchmarks/results/standard", jobs=2)
    sc = score(load_results("benchmarks/results/standard"), budgets=[10, 25, 50, 100])
    sc.summary[("homopt:tpe", 100)]          # {"mean", "std_seeds", "sem_seeds", "rank", ...}
    sc.wilcoxon("homopt:tpe", "tpe", 100)    # paired over problems
    write_report("benchmarks/results/standard", "benchmarks/results/report")
"""
