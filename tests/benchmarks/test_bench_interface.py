"""Every built-in benchmark honours the HPOBench interface."""

import math

import pytest
from ConfigSpace import Configuration, ConfigurationSpace

import hpo
from benchmarks.registry import available, make_benchmark

# all cheap ones, plus one of each ML kind (live ML evaluations cost ~0.1 s)
NAMES = [n for n in available() if not n.startswith(("ml-", "mf-", "tab-"))] + [
    "ml-knn-iris",
    "mf-mlp-iris",
    "mf-rf-wine",
    "tab-svm-diabetes",
    "tab-dt-iris",
]


@pytest.mark.parametrize("name", NAMES)
def test_hpobench_contract(name):
    bench = make_benchmark(name)
    cs = bench.get_configuration_space(seed=1)
    fs = bench.get_fidelity_space(seed=1)
    assert isinstance(cs, ConfigurationSpace) and isinstance(fs, ConfigurationSpace)
    hpo.Space(cs)  # hpo takes the space as it is
    config = cs.sample_configuration()
    assert isinstance(config, Configuration)
    for method in (bench.objective_function, bench.objective_function_test):
        res = method(config)
        assert set(res) == {"function_value", "cost", "info"}
        assert isinstance(res["function_value"], float) and math.isfinite(res["function_value"])
        assert isinstance(res["cost"], float) and res["cost"] >= 0
        assert isinstance(res["info"], dict)
    # fidelity=None means the maximum: the defaults of the fidelity space
    full = {n: fs[n].default_value for n in fs.keys()}
    assert bench.objective_function(config, fidelity=full)["function_value"] == pytest.approx(
        bench.objective_function(config)["function_value"]
    )
    meta = bench.get_meta_information()
    assert meta["name"] == name and meta["family"]
