"""Benchmark names, suites and import paths."""

import pytest

from benchmarks.registry import STANDARD, UnknownBenchmarkError, available, expand, make_benchmark, suites
from benchmarks.synthetic import Branin


class External:
    """A stand-in for an HPOBench/YAHPO benchmark living in another package."""

    def __init__(self, scale=1.0):
        self.scale = scale
        self.name = f"external-{scale}"

    def get_configuration_space(self, seed=None):
        return Branin().get_configuration_space(seed)

    def objective_function(self, configuration, fidelity=None, rng=None):
        r = Branin().objective_function(configuration)
        return {**r, "function_value": self.scale * r["function_value"]}


def test_suites_expand_and_names_resolve():
    assert expand("standard") == STANDARD
    assert expand(["synthetic,branin", "tab-svm-diabetes"])[-1] == "tab-svm-diabetes"
    assert len(suites()["tabular"]) == len(suites()["ml"]) == 35
    for name in ["branin", "branin-mf", "ml-svm-iris", "mf-linear-wine"]:
        assert make_benchmark(name).name == name
    assert set(STANDARD) <= set(available())


def test_import_path_with_arguments():
    path = "tests.benchmarks.test_bench_registry:External(scale=2.0)"
    assert expand([path]) == [path]
    bench = make_benchmark(path)
    assert bench.scale == 2.0
    config = {"x0": 3.14159265, "x1": 2.275}
    assert bench.objective_function(config)["function_value"] == pytest.approx(2 * 0.397887, abs=1e-5)


@pytest.mark.parametrize(
    "name, message",
    [
        ("brannin", "did you mean branin"),
        ("tab-svm-mnist", "unknown benchmark 'tab-svm-mnist'"),
        ("benchmarks.synthetic:Nope", "has no attribute 'Nope'"),
        ("benchmarks.registry:STANDARD", "lacks the HPOBench method"),
        ("benchmarks.synthetic:Branin(rng=)", "cannot parse the arguments"),
    ],
)
def test_bad_names(name, message):
    with pytest.raises(UnknownBenchmarkError, match=message):
        make_benchmark(name)
