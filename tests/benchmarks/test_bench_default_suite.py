"""The default-strategy suite: a frozen dev/test split, and the problems it adds."""

import numpy as np
import pytest

import hpo
from benchmarks import synthetic as S
from benchmarks.default_suite import DEV, DEV_HARD, PAIRS, TEST
from benchmarks.ml import WIDE_MODELS, MLBenchmark
from benchmarks.registry import expand, make_benchmark


def test_split_is_disjoint_paired_and_mostly_live_ml():
    assert len(DEV) == len(TEST) == len(PAIRS) == 12
    assert not set(DEV) & set(TEST)
    assert expand("default-dev") == DEV and expand("default-test") == TEST
    both = DEV + TEST
    assert sum(n.startswith("ml-") for n in both) == 14
    dims = {n: len(make_benchmark(n).get_configuration_space()) for n in both}
    assert sum(10 <= d <= 20 for d in dims.values()) >= 6


def test_harder_dev_problems_are_new_and_each_builds():
    assert len(DEV_HARD) == len(set(DEV_HARD)) == 8 and not set(DEV_HARD) & set(DEV + TEST)
    assert expand("default-dev-hard") == DEV_HARD
    for name in DEV_HARD:
        assert make_benchmark(name).name == name


@pytest.mark.parametrize("function, dim", [("ackley", 6), ("levy", 6), ("rosenbrock", 12), ("styblinski", 16),
                                           ("rastrigin", 4)])
def test_shifted_optimum_is_off_centre_and_off_the_bounds(function, dim):
    b = make_benchmark(f"{function}{dim}-shifted")
    lo, hi = b.bounds[0]
    at = {f"x{i}": float(v) for i, v in enumerate(b.argmin)}
    assert b.objective_function(at)["function_value"] == pytest.approx(b.optimum, abs=1e-9)
    u = (b.argmin - lo) / (hi - lo)
    assert np.all((u >= 0.1) & (u <= 0.9)) and np.all(np.abs(u - 0.5) >= 0.1)
    centre = {f"x{i}": (lo + hi) / 2 for i in range(dim)}
    assert b.objective_function(centre)["function_value"] > b.optimum + 1.0
    samples = hpo.Space(b.get_configuration_space()).sample(100, seed=0)
    assert min(b.objective_function(c)["function_value"] for c in samples) >= b.optimum


@pytest.mark.parametrize("bench", [S.IntegerLevy(), S.ShiftedConditional()])
def test_integer_and_conditional_optima_are_exact_lower_bounds(bench):
    space = hpo.Space(bench.get_configuration_space())
    values = [bench.objective_function(c)["function_value"] for c in space.sample(300, seed=1)]
    assert min(values) > bench.optimum
    assert np.isfinite(values).all()


def test_shifted_conditional_reaches_its_optimum():
    b = S.ShiftedConditional()
    at = -10.0 + 20.0 * S.off_centre_point(b.name + "/rugged", 3)
    best = min(range(-10, 11), key=lambda r2: b.objective_function(
        {"kind": "rugged", "r0": at[0], "r1": at[1], "r2": r2, "variant": "scaled", "r3": 10 ** 0.7})["function_value"])
    value = b.objective_function({"kind": "rugged", "r0": at[0], "r1": at[1], "r2": best, "variant": "scaled",
                                  "r3": 10 ** 0.7})["function_value"]
    assert value == pytest.approx(b.optimum, abs=1e-9)


@pytest.mark.parametrize("model", WIDE_MODELS)
def test_wide_models_evaluate_and_their_conditions_hold(model):
    b = MLBenchmark(model, "breast_cancer")
    space = hpo.Space(b.get_configuration_space())
    configs = space.sample(3, seed=2)
    losses = [b.objective_function(c)["function_value"] for c in configs]
    assert all(0.0 <= v <= 1.0 for v in losses)
    assert b.objective_function(configs[0])["function_value"] == losses[0]
