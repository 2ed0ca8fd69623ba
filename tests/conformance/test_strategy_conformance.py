"""Every registered strategy goes through the same checks (as scikit-learn's check_estimator).

A new strategy is done when it passes this suite with no special case.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

import hpo
from hpo.strategies import available

from .kit import MIXED, SMOOTH, history, mixed_loss, new_strategy, smooth_loss, trial

STRATEGIES = [name for name in available() if name != "homopt"] + ["homopt:random"]


def _key(config: dict) -> tuple:
    return tuple(sorted(config.items()))


def _check_in_space(space: hpo.Space, config: dict) -> None:
    assert space.validate(config) == config
    active = space.active_names(config)
    assert set(config) == set(active), f"active params {active}, got {sorted(config)}"
    for name, value in config.items():
        hp = space.hyperparameter(name)
        if type(hp).__name__ == "UniformIntegerHyperparameter":
            assert isinstance(value, int) and not isinstance(value, bool)
        elif type(hp).__name__ == "UniformFloatHyperparameter":
            assert isinstance(value, float)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("n_done", [0, 1, 12])
def test_proposals_lie_in_the_space(name, n_done):
    s = new_strategy(name, MIXED, seed=0)
    configs = s.ask(history(MIXED, n_done, seed=1), n=3)
    assert len(configs) == 3
    for config in configs:
        _check_in_space(MIXED, config)


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_history_same_proposals(name):
    h = history(MIXED, 12, seed=2)
    a = new_strategy(name, MIXED, seed=7).ask(h, n=2)
    b = new_strategy(name, MIXED, seed=7).ask(h, n=2)
    assert a == b
    c = new_strategy(name, MIXED, seed=8).ask(h, n=2)
    assert a != c


_RUN_ALL = """
import json, sys
import hpo
from tests.conformance.kit import MIXED, SMOOTH, mixed_loss, smooth_loss
out = {}
for name in sys.argv[1:]:
    for space, loss in ((SMOOTH, smooth_loss), (MIXED, mixed_loss)):
        study = hpo.create_study(space=space, strategy=name, seed=7)
        study.optimize(lambda t: loss(t.params), n_trials=16)
        out.setdefault(name, []).append([t.params for t in study.trials])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def proposals_by_hash_seed() -> dict[str, dict]:
    """Every strategy's first 16 trials on SMOOTH and on MIXED, in interpreters with two string-hash seeds."""
    root = Path(__file__).resolve().parents[2]
    out = {}
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        done = subprocess.run([sys.executable, "-c", _RUN_ALL, *STRATEGIES], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600, check=True)
        out[hash_seed] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize("name", STRATEGIES)
def test_proposals_do_not_depend_on_the_string_hash_seed(name, proposals_by_hash_seed):
    """A study resumed in a new interpreter must continue as it would have: no set or hash order."""
    assert proposals_by_hash_seed["1"][name] == proposals_by_hash_seed["2"][name]


@pytest.mark.parametrize("name", STRATEGIES)
def test_failed_pruned_and_nan_trials_do_not_break_it(name):
    h = history(MIXED, 10, seed=3)
    extra = MIXED.sample(4, seed=4)
    h.append(trial(MIXED, 10, extra[0], state=TrialState.FAIL))
    h.append(trial(MIXED, 11, extra[1], state=TrialState.PRUNED, intermediate={0: 5.0, 1: 4.0}))
    h.append(trial(MIXED, 12, extra[2], state=TrialState.FAIL))  # what a NaN result becomes
    h.append(trial(MIXED, 13, {}, state=TrialState.RUNNING))     # running, params not chosen yet
    for config in new_strategy(name, MIXED, seed=0).ask(h, n=2):
        _check_in_space(MIXED, config)


@pytest.mark.parametrize("name", STRATEGIES)
def test_pending_trials_are_not_proposed_again(name):
    h = history(SMOOTH, 12, seed=5)
    s = new_strategy(name, SMOOTH, seed=0)
    first = s.ask(h, n=1)[0]
    h_pending = h + [trial(SMOOTH, 12, first, state=TrialState.RUNNING)]
    second = new_strategy(name, SMOOTH, seed=0).ask(h_pending, n=1)[0]
    assert _key(second) != _key(first)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("n_done", [0, 12])
def test_ask_n_returns_distinct_configs(name, n_done):
    configs = new_strategy(name, SMOOTH, seed=0).ask(history(SMOOTH, n_done, seed=6), n=4)
    assert len({_key(c) for c in configs}) == 4


@pytest.mark.parametrize("name", STRATEGIES)
def test_maximize_direction_is_respected(name):
    h = history(SMOOTH, 12, seed=9, loss=lambda c: -smooth_loss(c))
    for config in new_strategy(name, SMOOTH, seed=0, direction="maximize").ask(h, n=2):
        _check_in_space(SMOOTH, config)


@pytest.mark.parametrize("name", STRATEGIES)
def test_survives_save_and_restore_of_the_study(name, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = hpo.create_study(space=MIXED, strategy=name, storage=url, study_name="s", seed=3)
    study.optimize(lambda t: mixed_loss(t.params), n_trials=6)
    resumed = hpo.load_study(study_name="s", storage=url)
    assert resumed.strategy == name
    resumed.optimize(lambda t: mixed_loss(t.params), max_trials=9)
    done = resumed.get_trials([TrialState.COMPLETE])
    assert len(done) == 9
    # what the strategy proposes next depends on the stored history only
    h = resumed.trials
    assert new_strategy(name, MIXED, seed=3).ask(h) == new_strategy(name, MIXED, seed=3).ask(h)


@pytest.mark.slow  # end to end: 5 seeds x 30 trials, minutes for SMAC's black-box facade
@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "random"])
def test_beats_random_search_on_a_smooth_function(name):
    """A quality floor: over 5 seeds at 30 evaluations, better median best loss than random."""
    budget, seeds = 30, (0, 1, 2, 3, 4)

    def best_loss(strategy: str, seed: int) -> float:
        study = hpo.create_study(space=SMOOTH, strategy=strategy, seed=seed)
        study.optimize(lambda t: smooth_loss(t.params), n_trials=budget)
        return study.best_value

    ours = np.median([best_loss(name, s) for s in seeds])
    baseline = np.median([best_loss("random", s) for s in seeds])
    assert ours < baseline, f"{name}: median best {ours:.4g} vs random {baseline:.4g}"
    assert math.isfinite(ours)
