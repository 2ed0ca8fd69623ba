"""Native peers: exact budget, valid configs, seeded, conditional spaces handled."""

import pytest

import hpo
from benchmarks.peers import _hyperopt_space, available_peers, run_peer
from benchmarks.registry import make_benchmark


def _run(peer, name, budget, seed):
    bench = make_benchmark(name)
    cs = bench.get_configuration_space()
    seen = []

    def objective(config):
        seen.append(config)
        return bench.objective_function(config)["function_value"]

    run_peer(peer, cs, objective, budget=budget, seed=seed)
    return cs, seen


FAST = ["optuna-tpe", "optuna-random", "optuna-gp", "hyperopt"]
# model-based peers are slow (SMAC's forest or GP, HEBO's GP + NSGA-II): small budgets, marked slow
SLOW = [pytest.param(p, b, marks=pytest.mark.slow) for p, b in [("smac3-hpo", 14), ("smac3-bb", 5), ("hebo", 7)]]


@pytest.mark.parametrize("peer, budget", [(p, 12) for p in FAST] + SLOW)
@pytest.mark.parametrize("problem", ["mixed", "conditional"])
def test_peer_budget_validity_and_seeding(peer, budget, problem):
    if peer not in available_peers():
        pytest.skip(f"{peer} is not installed")
    cs, seen = _run(peer, problem, budget, seed=3)
    assert len(seen) == budget
    space = hpo.Space(cs)
    for config in seen:
        assert space.validate(config) == config  # in range, ints are ints, only active parameters
    _, again = _run(peer, problem, budget, seed=3)
    assert again == seen


def test_hyperopt_space_nests_conditionals():
    cs = make_benchmark("conditional").get_configuration_space()
    space, nested = _hyperopt_space(cs)
    assert nested and set(space) == {"branch"}
    flat, nested = _hyperopt_space(make_benchmark("mixed").get_configuration_space())
    assert not nested and set(flat) == {"x0", "x1", "n0", "n1", "color"}


def test_unknown_peer():
    with pytest.raises(ValueError, match="unknown peer 'optuna'; available: optuna-tpe"):
        run_peer("optuna", make_benchmark("branin").get_configuration_space(), lambda c: 0.0, 2, 0)


@pytest.mark.slow
def test_smac_on_an_exhausted_space_stops_cleanly():
    from ConfigSpace import CategoricalHyperparameter, ConfigurationSpace

    from benchmarks.peers import PeerStopped

    cs = ConfigurationSpace(seed=0)
    cs.add(CategoricalHyperparameter("c", ["a", "b", "c"]))
    seen = []
    with pytest.raises(PeerStopped, match="space exhausted"):
        run_peer("smac3-hpo", cs, lambda config: seen.append(config) or float(len(seen)), budget=10, seed=0)
    assert 1 <= len(seen) <= 3
