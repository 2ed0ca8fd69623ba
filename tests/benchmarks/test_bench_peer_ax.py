"""The ``ax`` peer: Ax's own ask/tell loop, its default generation strategy, seeded and quiet."""

import pytest

import hpo
from benchmarks.peers import _ax_parameters, available_peers, run_peer
from benchmarks.registry import make_benchmark

pytestmark = pytest.mark.skipif("ax" not in available_peers(), reason="ax-platform is not installed (hpo[bench])")


def _run(name, budget, seed):
    bench = make_benchmark(name)
    cs = bench.get_configuration_space()
    seen = []

    def objective(config):
        seen.append(config)
        return bench.objective_function(config)["function_value"]

    run_peer("ax", cs, objective, budget=budget, seed=seed)
    return cs, seen


def test_conditional_space_is_declared_hierarchically():
    params, fixed = _ax_parameters(make_benchmark("conditional").get_configuration_space())
    branch = next(p for p in params if p.name == "branch")
    assert dict(branch.dependent_parameters) == {"branin": ["a0", "a1"], "hartmann": [f"h{i}" for i in range(6)],
                                                 "quadratic": ["q0", "q1"]}
    assert fixed == {}
    kinds = {p.name: (p.parameter_type, getattr(p, "scaling", None)) for p in params}
    assert kinds["q0"] == ("int", "linear") and kinds["a0"] == ("float", "linear")
    svm = {p.name: p for p in _ax_parameters(make_benchmark("ml-svm-iris").get_configuration_space())[0]}
    assert svm["C"].scaling == "log" and svm["C"].bounds == (1e-2, 1e3)


def test_a_child_under_several_parent_values_is_declared_flat():
    """Ax's hierarchy must be a tree: the SVM's gamma (rbf, poly, sigmoid) and coef0 (poly, sigmoid)."""
    cs = make_benchmark("ml-svmk-breast_cancer").get_configuration_space()
    params, _ = _ax_parameters(cs)
    assert all(getattr(p, "dependent_parameters", None) is None for p in params)
    assert {p.name for p in params} == set(cs.keys())


def test_first_trial_is_the_centre_and_runs_repeat(capfd):
    cs, seen = _run("branin", 6, seed=1)
    assert seen[0] == {"x0": 2.5, "x1": 7.5}  # Ax's default strategy starts at the centre
    assert len(seen) == 6 and len({tuple(sorted(c.items())) for c in seen}) == 6
    assert seen == _run("branin", 6, seed=1)[1]
    assert seen != _run("branin", 6, seed=2)[1]
    err = capfd.readouterr().err
    assert "[INFO" not in err


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["mixed", "conditional"])
def test_mixed_and_conditional_configs_are_valid_and_seeded(problem):
    cs, seen = _run(problem, 7, seed=3)
    assert len(seen) == 7
    space = hpo.Space(cs)
    for config in seen:
        assert space.validate(config) == config  # in range, ints are ints, only active parameters
    assert _run(problem, 7, seed=3)[1] == seen
