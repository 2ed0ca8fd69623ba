"""optuna TPE strategy: options, cache = replay, pending, conditionals, pruned trials."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from _drive import drive_and_compare, fresh
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, smooth_loss, trial
from hpo.strategies.tpe import TPEStrategy


@pytest.mark.parametrize("kwargs, message", [
    ({"n_startup_trials": -1}, "n_startup_trials must be an integer >= 0"),
    ({"n_ei_candidates": 0}, "n_ei_candidates must be an integer >= 1"),
    ({"multivariate": "yes"}, "multivariate must be True or False"),
    ({"constant_liar": 1}, "constant_liar must be True or False"),
    ({"multivariate": False, "group": True}, "group=True needs multivariate=True"),
])
def test_bad_options_give_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        TPEStrategy(**kwargs)
    assert "\n" not in str(e.value)


def test_cached_mirror_equals_a_fresh_replay_with_pending_and_out_of_order_trials():
    h = drive_and_compare("tpe", MIXED, mixed_loss, steps=24, seed=3, pending_every=4)
    assert sum(t.state == TrialState.COMPLETE for t in h) >= 23


def test_mirror_is_rebuilt_when_history_is_not_an_extension():
    s = fresh("tpe", SMOOTH, seed=0)
    h = history(SMOOTH, 15, seed=1)
    s.ask(h)
    other = history(SMOOTH, 15, seed=2)  # a different study: same numbers, other configs
    assert s.ask(other) == fresh("tpe", SMOOTH, seed=0).ask(other)


def test_tpe_learns_after_startup():
    """With 30 observations TPE proposes closer to the optimum than the random startup did."""
    s = fresh("tpe", SMOOTH, seed=0, n_startup_trials=10)
    h = history(SMOOTH, 30, seed=4)
    proposals = s.ask(h, n=8)
    mean_loss = sum(smooth_loss(c) for c in proposals) / 8
    assert mean_loss < sorted(t.value for t in h)[len(h) // 2]


def test_pruned_trials_are_used_and_failed_ignored():
    h = history(SMOOTH, 12, seed=5)
    h.append(trial(SMOOTH, 12, {"x0": 0.1, "x1": 0.2, "x2": 0.3}, state=TrialState.PRUNED, intermediate={0: 9.0}))
    h.append(trial(SMOOTH, 13, {"x0": 0.5, "x1": 0.2, "x2": 0.3}, state=TrialState.FAIL))
    s = fresh("tpe", SMOOTH, seed=0)
    s.ask(h)
    kinds = [r[1] for r in s._rows]
    assert kinds.count("pruned") == 1 and len(kinds) == 13  # the failed one is not mirrored


def test_conditional_children_only_when_parent_selects_them():
    s = fresh("tpe", MIXED, seed=0)
    for config in s.ask(history(MIXED, 20, seed=6), n=6):
        assert ("momentum" in config) == (config["opt"] == "sgd")


def test_constant_liar_spreads_a_batch():
    configs = fresh("tpe", SMOOTH, seed=0).ask(history(SMOOTH, 20, seed=7), n=4)
    assert len({tuple(sorted(c.items())) for c in configs}) == 4
    # the proposals of one call are pending for the next ones: they leave the mirror afterwards
    s = fresh("tpe", SMOOTH, seed=0)
    s.ask(history(SMOOTH, 20, seed=7), n=4)
    assert len(s._rows) == 20


def _study_params(seed: int, n: int = 25, space=MIXED) -> list[dict]:
    import hpo

    study = hpo.create_study(space=space, strategy="tpe", seed=seed)
    study.optimize(lambda t: mixed_loss(t.params), n_trials=n)
    return [t.params for t in study.trials]


def test_a_study_samples_through_optunas_own_tpe_sampler():
    import optuna

    import hpo

    study = hpo.create_study(space=MIXED, strategy="tpe", seed=0)
    native = study._sampler._native
    assert isinstance(native._sampler, optuna.samplers.TPESampler)
    study.optimize(lambda t: mixed_loss(t.params), n_trials=15)
    for t in study.trials:  # conditionals handled by optuna's group decomposition
        assert ("momentum" in t.params) == (t.params["opt"] == "sgd")


def test_study_proposals_are_a_function_of_seed_and_history():
    a, b = _study_params(4), _study_params(4)
    assert a == b
    assert a != _study_params(5)


def test_study_resumes_with_the_proposals_of_an_uninterrupted_run(tmp_path):
    import hpo

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space=MIXED, strategy="tpe", seed=2, storage=url, study_name="s")
    study.optimize(lambda t: mixed_loss(t.params), n_trials=14)
    resumed = hpo.load_study(study_name="s", storage=url)
    resumed.optimize(lambda t: mixed_loss(t.params), n_trials=11)
    assert [t.params for t in resumed.trials] == _study_params(2)
