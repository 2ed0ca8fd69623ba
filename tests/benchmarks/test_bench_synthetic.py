"""Synthetic problems: known optima, determinism, the HPOBench contract."""

import math

import numpy as np
import pytest
from ConfigSpace import ConfigurationSpace

from benchmarks import synthetic as S
from benchmarks.registry import make_benchmark, suites

H6_ARGMIN = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]


@pytest.mark.parametrize(
    "bench, config, expected",
    [
        (S.Branin(), {"x0": -math.pi, "x1": 12.275}, 0.397887),
        (S.Branin(), {"x0": math.pi, "x1": 2.275}, 0.397887),
        (S.Branin(), {"x0": 9.42478, "x1": 2.475}, 0.397887),
        (S.Hartmann6(), {f"x{i}": v for i, v in enumerate(H6_ARGMIN)}, -3.32237),
        (S.Levy(), {f"x{i}": 1.0 for i in range(4)}, 0.0),
        (S.Rosenbrock(), {f"x{i}": 1.0 for i in range(4)}, 0.0),
        (S.Ackley(), {f"x{i}": 0.0 for i in range(5)}, 0.0),
        (S.Mixed(), {"x0": 1.0, "x1": 1.0, "n0": 1, "n1": 1, "color": "red"}, 0.0),
        (S.Conditional(), {"branch": "hartmann", **{f"h{i}": v for i, v in enumerate(H6_ARGMIN)}}, 0.177632),
        (S.Conditional(), {"branch": "branin", "a0": math.pi, "a1": 2.275}, 0.397887),
        (S.Conditional(), {"branch": "quadratic", "q0": 3, "q1": 0.0}, 1.0),
    ],
)
def test_known_optima(bench, config, expected):
    assert bench.objective_function(config)["function_value"] == pytest.approx(expected, abs=1e-5)
    if expected == pytest.approx(bench.optimum, abs=1e-5):
        assert bench.optimum == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("name", suites()["synthetic"] + ["branin-mf", "hartmann6-mf"])
def test_random_configs_never_beat_the_optimum_and_are_deterministic(name):
    bench = make_benchmark(name)
    cs = bench.get_configuration_space(seed=3)
    assert isinstance(cs, ConfigurationSpace)
    configs = cs.sample_configuration(200)
    values = [bench.objective_function(c)["function_value"] for c in configs]
    again = [make_benchmark(name).objective_function(dict(c))["function_value"] for c in configs]
    assert values == again
    assert min(values) >= bench.optimum - 1e-9
    assert np.isfinite(values).all()


@pytest.mark.parametrize("cls", [S.BraninMF, S.Hartmann6MF])
def test_multifidelity_max_is_the_function_and_low_fidelity_differs_and_is_cheaper(cls):
    bench = cls()
    fs = bench.get_fidelity_space()
    assert list(fs.keys()) == ["s"] and fs["s"].default_value == 1.0
    config = dict(bench.get_configuration_space(seed=0).sample_configuration())
    full = bench.objective_function(config)
    explicit = bench.objective_function(config, fidelity={"s": 1.0})
    low = bench.objective_function(config, fidelity={"s": 0.2})
    assert full["function_value"] == explicit["function_value"]
    assert low["function_value"] != full["function_value"]
    assert low["cost"] < full["cost"]


def test_conditional_inactive_parameters_are_rejected():
    bench = S.Conditional()
    with pytest.raises(ValueError, match="invalid configuration"):
        bench.objective_function({"branch": "quadratic", "q0": 3, "q1": 0.0, "a0": 1.0})


def test_bad_configuration_and_fidelity_give_clear_errors():
    bench = S.BraninMF()
    with pytest.raises(ValueError, match="unknown hyperparameter 'y'"):
        bench.objective_function({"x0": 0.0, "x1": 1.0, "y": 2})
    with pytest.raises(ValueError, match=r"x0"):
        bench.objective_function({"x0": 99.0, "x1": 1.0})
    with pytest.raises(ValueError, match="unknown fidelity 'epochs'"):
        bench.objective_function({"x0": 0.0, "x1": 1.0}, fidelity={"epochs": 3})
    with pytest.raises(ValueError, match="outside"):
        bench.objective_function({"x0": 0.0, "x1": 1.0}, fidelity={"s": 2.0})
