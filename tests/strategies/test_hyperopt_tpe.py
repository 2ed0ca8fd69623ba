"""hyperopt TPE strategy: options, the hp.choice mapping of conditionals, cache = replay, pending."""

from __future__ import annotations

import pytest
from ConfigSpace import ConfigurationSpace, GreaterThanCondition, UniformFloatHyperparameter
from optuna.trial import TrialState

import hpo
from _drive import drive_and_compare, fresh
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, trial
from hpo.strategies.hyperopt_tpe import HyperoptTPEStrategy, _build, _decode, _encode, _labels

NESTED = hpo.Space({
    "model": hpo.Categorical(["svm", "tree", "knn"]),
    "C": hpo.Float(1e-3, 1e3, log=True, when={"model": "svm"}),
    "kernel": hpo.Categorical(["rbf", "poly"], when={"model": "svm"}),
    "degree": hpo.Int(2, 5, when={"kernel": "poly"}),
    "depth": hpo.Int(1, 32, log=True, when={"model": ["tree", "knn"]}),
    "k": hpo.Int(0, 20, step=4),
})


@pytest.mark.parametrize("kwargs, message", [
    ({"n_startup_trials": 1.5}, "n_startup_trials must be an integer >= 0"),
    ({"n_ei_candidates": 0}, "n_ei_candidates must be an integer >= 1"),
    ({"gamma": 1.0}, r"gamma must be a number in \(0, 1\)"),
    ({"prior_weight": 0}, "prior_weight must be a positive number"),
])
def test_bad_options_give_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        HyperoptTPEStrategy(**kwargs)
    assert "\n" not in str(e.value)


def test_conditionals_become_choice_subspaces_with_one_label_per_branch():
    labels = _labels(_build(NESTED))
    assert "model" in labels and "model=0/C" in labels and "model=0/kernel=1/degree" in labels
    # depth is active for two of the three models: one label in each branch
    assert {"model=1/depth", "model=2/depth"} <= set(labels)
    assert "depth" not in labels and "C" not in labels


def test_encode_then_decode_gives_the_configuration_back():
    nodes = _build(NESTED)
    for config in NESTED.sample(40, seed=0):
        vals: dict = {}
        _encode(nodes, config, vals)
        back: dict = {}
        _decode(nodes, vals, back)
        assert back == config


def test_other_condition_types_are_sampled_flat_and_filtered():
    cs = ConfigurationSpace()
    a, b = UniformFloatHyperparameter("a", 0, 1), UniformFloatHyperparameter("b", 0, 1)
    cs.add([a, b])
    cs.add(GreaterThanCondition(b, a, 0.5))
    space = hpo.Space(cs)
    s = fresh("hyperopt-tpe", space, seed=0)
    h = [trial(space, i, c, c["a"] + c.get("b", 0.0)) for i, c in enumerate(space.sample(15, seed=1))]
    for config in s.ask(h, n=5):
        assert ("b" in config) == (config["a"] > 0.5)


def test_nested_space_proposals_respect_conditions_after_startup():
    h = [trial(NESTED, i, c, float(i % 7)) for i, c in enumerate(NESTED.sample(25, seed=2))]
    for config in fresh("hyperopt-tpe", NESTED, seed=1).ask(h, n=6):
        assert NESTED.validate(config) == config
        assert set(config) == set(NESTED.active_names(config))


def test_cached_documents_equal_a_fresh_replay():
    drive_and_compare("hyperopt-tpe", MIXED, mixed_loss, steps=20, seed=5, pending_every=5)


def test_running_trials_enter_as_running_documents():
    h = history(SMOOTH, 15, seed=3)
    first = fresh("hyperopt-tpe", SMOOTH, seed=0).ask(h)[0]
    h.append(trial(SMOOTH, 15, first, state=TrialState.RUNNING))
    second = fresh("hyperopt-tpe", SMOOTH, seed=0).ask(h)[0]
    assert second != first


def test_pruned_trials_enter_with_the_worst_completed_loss():
    """Pruned trials are bad observations (as in optuna's TPE), and they change the proposals."""
    h = history(SMOOTH, 30, seed=4)
    best = min(h, key=lambda t: t.value)
    pruned = [trial(SMOOTH, 30 + i, {**best.params}, state=TrialState.PRUNED, intermediate={0: 1e9})
              for i in range(12)]
    s = fresh("hyperopt-tpe", SMOOTH, seed=0)
    s.ask(h + pruned)
    docs = {d["tid"]: d for d in s._docs.values()}
    worst = max(t.value for t in h)
    assert all(docs[30 + i]["result"]["loss"] == worst for i in range(12))
    assert fresh("hyperopt-tpe", SMOOTH, seed=0).ask(h + pruned) != fresh("hyperopt-tpe", SMOOTH, seed=0).ask(h)
