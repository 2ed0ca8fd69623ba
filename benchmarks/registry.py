"""Benchmark names -> instances, suites of names, and ``module:Class`` import paths.

Built-in names: the synthetic functions (``branin``, ``hartmann6``, ``levy4``,
``rosenbrock4``, ``ackley5``, ``mixed``, ``conditional``, the shifted ones
``<function><dim>-shifted``, ``int-levy8``, ``cond-shifted``), the multi-fidelity ones
(``branin-mf``, ``hartmann6-mf``, ``mf-<model>-<dataset>``), live ML problems
(``ml-<model>-<dataset>``, the wide models ``svmk``, ``cash``, ``trees``, ``sgd``, ``hgb``
included) and tabular ones (``tab-<model>-<dataset>``). Suites expand to several names:
``standard``, ``synthetic``, ``tabular``, ``ml``, ``ml-wide``, ``multifidelity``, and the default-strategy
suite's halves ``default-dev`` and ``default-test`` and its harder choosing set
``default-dev-hard`` (:mod:`benchmarks.default_suite`).

Anything else of the form ``package.module:Class`` (or ``package.module:Class(arg=...)``
with keyword arguments as Python literals) is imported and instantiated: any object with
the HPOBench interface works, e.g. an installed HPOBench or YAHPO benchmark.

Example:
    >>> from benchmarks.registry import make_benchmark, expand
    >>> make_benchmark("branin").name
    'branin'
    >>> expand(["synthetic"])[:2]
    ['branin', 'hartmann6']
"""

from __future__ import annotations

import ast
import difflib
import importlib
from typing import Any, Callable

from benchmarks import synthetic
from benchmarks.ml import DATASETS, MODELS, WIDE_MODELS

__all__ = ["UnknownBenchmarkError", "available", "suites", "expand", "make_benchmark", "benchmark_name", "STANDARD"]


class UnknownBenchmarkError(ValueError):
    """A benchmark or suite name is not known; the message lists what exists."""


_SYNTHETIC: dict[str, Callable[..., Any]] = {
    "branin": synthetic.Branin,
    "hartmann6": synthetic.Hartmann6,
    "levy4": synthetic.Levy,
    "rosenbrock4": synthetic.Rosenbrock,
    "ackley5": synthetic.Ackley,
    "mixed": synthetic.Mixed,
    "conditional": synthetic.Conditional,
    "int-levy8": synthetic.IntegerLevy,
    "cond-shifted": synthetic.ShiftedConditional,
}
# shifted functions: <function><dim>-shifted (any dimension works through make_benchmark; these are listed)
_SHIFTED = [("levy", 6), ("ackley", 6), ("rosenbrock", 12), ("styblinski", 16), ("ackley", 20), ("rastrigin", 4)]
_MF_SYNTHETIC: dict[str, Callable[..., Any]] = {
    "branin-mf": synthetic.BraninMF,
    "hartmann6-mf": synthetic.Hartmann6MF,
}
# The standard suite: every synthetic problem plus three tabular ML problems (a regression and
# two classifications; log-scaled floats, integers and a categorical). Sized so that the hpo
# strategies and the fast peers x 10 seeds x budget 50 fit in 2 hours on 2 cores; strategy
# overhead (SMAC, GP-BO, HEBO) dominates the cost (benchmarks/results/standard/README.md).
STANDARD_TABULAR = [
    "tab-svm-diabetes",
    "tab-knn-digits",
    "tab-mlp-digits",
]
STANDARD = ["branin", "hartmann6", "levy4", "rosenbrock4", "ackley5", "mixed", "conditional"] + STANDARD_TABULAR
_LORA = ["lora-minilm-tabular"]  # real LoRA fine-tuning results of MiniLM (benchmarks/lora_tabular.py)


def _ml_names(prefix: str, models=MODELS) -> list[str]:
    return [f"{prefix}-{m}-{d}" for m in models for d in DATASETS]


def _shifted_names() -> list[str]:
    return [f"{f}{d}-shifted" for f, d in _SHIFTED]


def _parse_shifted(name: str) -> tuple[str, int] | None:
    import re

    m = re.fullmatch(r"([a-z]+?)(\d+)-shifted", name)
    if m and m.group(1) in synthetic._SHIFTABLE and 2 <= int(m.group(2)) <= 1000:
        return m.group(1), int(m.group(2))
    return None


def suites() -> dict[str, list[str]]:
    """Suite name -> benchmark names."""
    from benchmarks.default_suite import DEV, DEV_HARD, TEST

    return {
        "standard": list(STANDARD),
        "synthetic": list(_SYNTHETIC) + _shifted_names(),
        "tabular": _ml_names("tab"),
        "ml": _ml_names("ml"),
        "ml-wide": _ml_names("ml", WIDE_MODELS),
        "multifidelity": list(_MF_SYNTHETIC) + _ml_names("mf"),
        "default-dev": list(DEV),
        "default-test": list(TEST),
        "default-dev-hard": list(DEV_HARD),
    }


def available() -> list[str]:
    """Every built-in benchmark name."""
    return (list(_SYNTHETIC) + _shifted_names() + list(_MF_SYNTHETIC) + _ml_names("ml")
            + _ml_names("ml", WIDE_MODELS) + _ml_names("mf") + _ml_names("tab") + _LORA)


def expand(names: list[str] | str) -> list[str]:
    """Suites to their members, comma-separated strings split; order kept, duplicates dropped.

    Raises ``UnknownBenchmarkError`` for a name that is neither built in, a suite nor an import path.
    """
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    known = set(available())
    groups = suites()
    for item in names:
        for name in filter(None, (s.strip() for s in item.split(","))):
            members = groups.get(name, [name])
            for m in members:
                if m not in known and ":" not in m and _parse_shifted(m) is None:
                    raise UnknownBenchmarkError(_unknown_message(m))
                if m not in out:
                    out.append(m)
    return out


def _unknown_message(name: str) -> str:
    close = difflib.get_close_matches(name, available() + list(suites()), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"unknown benchmark {name!r}; {hint}suites: {', '.join(suites())}; "
        f"`hpo bench list` shows all {len(available())} names, or pass package.module:Class"
    )


def make_benchmark(name: str, rng: int | None = None) -> Any:
    """A benchmark instance from a built-in name or a ``package.module:Class`` import path."""
    if name in _SYNTHETIC:
        return _SYNTHETIC[name](rng=rng)
    if name in _MF_SYNTHETIC:
        return _MF_SYNTHETIC[name](rng=rng)
    if name in _LORA:
        from benchmarks.lora_tabular import LoRATabular

        return LoRATabular(rng=rng)
    shifted = _parse_shifted(name)
    if shifted is not None:
        return synthetic.Shifted(*shifted, rng=rng)
    prefix, _, rest = name.partition("-")
    if prefix in ("ml", "mf", "tab") and name in available():
        model, _, dataset = rest.partition("-")
        if prefix == "ml":
            from benchmarks.ml import MLBenchmark as cls
        elif prefix == "mf":
            from benchmarks.ml import MLFidelity as cls
        else:
            from benchmarks.tabular import TabularBenchmark as cls
        return cls(model, dataset, rng=rng)
    if ":" in name:
        return _import_benchmark(name, rng)
    raise UnknownBenchmarkError(_unknown_message(name))


def _import_benchmark(path: str, rng: int | None) -> Any:
    module_name, _, target = path.partition(":")
    attr, kwargs = target, {}
    if "(" in target and target.endswith(")"):
        attr, _, args = target[:-1].partition("(")
        try:
            call = ast.parse(f"f({args})", mode="eval").body
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        except (SyntaxError, ValueError):
            raise UnknownBenchmarkError(
                f"cannot parse the arguments in {path!r}; write keyword literals like mod:Class(task_id=31)"
            ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UnknownBenchmarkError(f"cannot import {module_name!r} for benchmark {path!r}: {e}") from None
    if not hasattr(module, attr):
        raise UnknownBenchmarkError(f"module {module_name!r} has no attribute {attr!r} (benchmark {path!r})")
    obj = getattr(module, attr)
    bench = obj(**kwargs) if callable(obj) else obj
    missing = [m for m in ("objective_function", "get_configuration_space") if not hasattr(bench, m)]
    if missing:
        raise UnknownBenchmarkError(f"{path!r} lacks the HPOBench method(s) {', '.join(missing)}")
    return bench


def benchmark_name(bench: Any, fallback: str) -> str:
    """A short name for an instance: its ``name`` attribute, else the given fallback."""
    return str(getattr(bench, "name", None) or fallback)
