"""The conformance checks every strategy passes, as plain functions (no pytest needed).

Each check takes ``make``, a function returning a fresh, not yet set-up strategy, and
raises ``AssertionError`` saying what went wrong. :func:`check_strategy` runs them all;
:class:`hpo.testing.StrategyTests` runs each as its own pytest test.

Example:
    >>> from hpo.strategies import make_strategy
    >>> check_same_seed_same_proposals(lambda: make_strategy("random"))
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable, Sequence

import numpy as np
from optuna.trial import TrialState

from hpo.strategies import Strategy, make_strategy
from hpo.testing.problems import MIXED, SMOOTH, history, loss_of, mixed_loss, smooth_loss, trial

__all__ = [
    "Make", "maker", "check_strategy", "FAST_CHECKS", "SLOW_CHECKS",
    "check_proposals_lie_in_the_space", "check_same_seed_same_proposals", "check_failed_pruned_and_nan_trials",
    "check_pending_trials_are_not_proposed_again", "check_ask_n_returns_distinct_configs",
    "check_direction_is_respected", "check_resume_continues_the_uninterrupted_run",
    "check_proposals_do_not_depend_on_the_hash_seed", "check_beats_random_search",
]

Make = Callable[[], Strategy]


def maker(strategy: str | Make, **kwargs: Any) -> Make:
    """``make`` for a registered name (with options) or a zero-argument factory."""
    if isinstance(strategy, str):
        return lambda: make_strategy(strategy, **kwargs)
    if kwargs:
        return lambda: strategy(**kwargs)
    return strategy


def _setup(make: Make, space, seed: int | None, direction: str = "minimize") -> Strategy:
    s = make()
    s.setup(space, direction, seed)
    return s


def _key(config: dict) -> tuple:
    return tuple(sorted(config.items()))


def assert_in_space(space, config: dict) -> None:
    """``config`` is valid in ``space``: bounds, steps, types, only and all active parameters."""
    assert isinstance(config, dict), f"a proposal must be a dict, got {type(config).__name__}"
    assert space.validate(config) == config, f"{config} is not a clean configuration of the space"
    active = space.active_names(config)
    assert set(config) == set(active), f"active params {sorted(active)}, got {sorted(config)}"
    for name, value in config.items():
        kind = type(space.hyperparameter(name)).__name__
        if kind == "UniformIntegerHyperparameter":
            assert type(value) is int, f"{name}={value!r} must be an int, got {type(value).__name__}"
        elif kind == "UniformFloatHyperparameter":
            assert type(value) is float, f"{name}={value!r} must be a float, got {type(value).__name__}"


def _study(strategy, space, seed: int, **kwargs):
    import hpo

    return hpo.create_study(space=space, strategy=strategy, seed=seed, **kwargs)


# --- the checks ---------------------------------------------------------------------
def check_proposals_lie_in_the_space(make: Make) -> None:
    """With 0, 1 and 12 completed trials, ``ask(n=3)`` returns 3 valid configurations of a
    space with every kind of hyperparameter."""
    for n_done in (0, 1, 12):
        configs = _setup(make, MIXED, seed=0).ask(history(MIXED, n_done, seed=1), n=3)
        assert len(configs) == 3, f"ask(n=3) after {n_done} trials returned {len(configs)} configs"
        for config in configs:
            assert_in_space(MIXED, config)


def check_same_seed_same_proposals(make: Make) -> None:
    """Two fresh instances with the same seed and history propose the same; another seed differs."""
    h = history(MIXED, 12, seed=2)
    a = _setup(make, MIXED, seed=7).ask(h, n=2)
    b = _setup(make, MIXED, seed=7).ask(h, n=2)
    assert a == b, f"same seed and history, different proposals:\n{a}\n{b}"
    c = _setup(make, MIXED, seed=8).ask(h, n=2)
    assert a != c, "seeds 7 and 8 proposed the same configurations: the seed is ignored"


def check_failed_pruned_and_nan_trials(make: Make) -> None:
    """Failed, pruned (with a NaN intermediate value) and blind running trials in the history,
    and a study whose objective returns NaN or raises, do not break the strategy."""
    h = history(MIXED, 10, seed=3)
    extra = MIXED.sample(4, seed=4)
    h.append(trial(MIXED, 10, extra[0], state=TrialState.FAIL))
    h.append(trial(MIXED, 11, extra[1], state=TrialState.PRUNED, intermediate={0: 5.0, 1: 4.0, 2: float("nan")}))
    h.append(trial(MIXED, 12, extra[2], state=TrialState.FAIL))
    h.append(trial(MIXED, 13, {}, state=TrialState.RUNNING))  # running, params not chosen yet
    for config in _setup(make, MIXED, seed=0).ask(h, n=2):
        assert_in_space(MIXED, config)

    def objective(t):
        if t.number % 4 == 1:
            return float("nan")
        if t.number % 4 == 3:
            raise RuntimeError("a crashing objective")
        return mixed_loss(t.params)

    study = _study(make(), MIXED, seed=0)
    study.optimize(objective, n_trials=8)
    states = [t.state for t in study.trials]
    assert len(states) == 8, f"8 trials asked for, {len(states)} ran"
    assert all(s == TrialState.FAIL for i, s in enumerate(states) if i % 2 == 1), states
    assert all(s == TrialState.COMPLETE for i, s in enumerate(states) if i % 2 == 0), states
    for t in study.trials:
        assert_in_space(MIXED, t.params)


def check_pending_trials_are_not_proposed_again(make: Make) -> None:
    """A running trial's configuration is not proposed to the next worker."""
    h = history(SMOOTH, 12, seed=5)
    first = _setup(make, SMOOTH, seed=0).ask(h, n=1)[0]
    with_pending = h + [trial(SMOOTH, 12, first, state=TrialState.RUNNING)]
    second = _setup(make, SMOOTH, seed=0).ask(with_pending, n=1)[0]
    assert _key(second) != _key(first), f"the running trial's config {first} was proposed again"


def check_ask_n_returns_distinct_configs(make: Make) -> None:
    """``ask(n=4)`` returns 4 distinct configurations, before and after 12 completed trials."""
    for n_done in (0, 12):
        configs = _setup(make, SMOOTH, seed=0).ask(history(SMOOTH, n_done, seed=6), n=4)
        assert len({_key(c) for c in configs}) == 4, f"after {n_done} trials ask(n=4) repeated itself: {configs}"


def check_direction_is_respected(make: Make) -> None:
    """Maximising ``-f`` proposes exactly what minimising ``f`` does, for ``ask`` on a history
    and for a whole study: a strategy that ignores the direction fails this (it would
    minimise ``-f``), one that reads it right sees the same losses either way."""
    for space in (SMOOTH, MIXED):
        loss = loss_of(space)
        low = history(space, 21, seed=9, loss=loss)
        high = history(space, 21, seed=9, loss=lambda c: -loss(c))
        a = _setup(make, space, seed=0, direction="minimize").ask(low, n=2)
        b = _setup(make, space, seed=0, direction="maximize").ask(high, n=2)
        assert a == b, f"minimising f and maximising -f proposed differently after 21 trials:\n{a}\n{b}"
    minimised = _study(make(), SMOOTH, seed=3, direction="minimize")
    minimised.optimize(lambda t: smooth_loss(t.params), n_trials=12)
    maximised = _study(make(), SMOOTH, seed=3, direction="maximize")
    maximised.optimize(lambda t: -smooth_loss(t.params), n_trials=12)
    a, b = [t.params for t in minimised.trials], [t.params for t in maximised.trials]
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
    assert first is None, f"a maximising study of -f left the minimising study of f at trial {first}"


def check_resume_continues_the_uninterrupted_run(make: Make, strategy: str | None = None) -> None:
    """A study stopped after 7 trials and reopened with ``load_study`` proposes the same 14
    trials as a study that ran straight through (continuity, not just determinism)."""
    import hpo

    def objective(t):
        return mixed_loss(t.params)

    with tempfile.TemporaryDirectory() as folder:
        straight = _study(make(), MIXED, seed=3, storage=f"sqlite:///{folder}/a.db", study_name="a")
        straight.optimize(objective, n_trials=14)
        url = f"sqlite:///{folder}/b.db"
        first = _study(strategy or make(), MIXED, seed=3, storage=url, study_name="b")
        first.optimize(objective, n_trials=7)
        del first
        resumed = hpo.load_study(study_name="b", storage=url, strategy=None if strategy else make())
        if strategy:
            assert resumed.strategy == strategy, f"load_study restored strategy {resumed.strategy!r}, not {strategy!r}"
        resumed.optimize(objective, max_trials=14)
        a, b = [t.params for t in straight.trials], [t.params for t in resumed.trials]
        assert len(b) == 14, f"the resumed study holds {len(b)} trials, not 14"
        diff = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        assert diff is None, f"after resuming at trial 7 the study left the uninterrupted run at trial {diff}"


_HASH_RUN = """
import json, sys
import hpo
from hpo.testing.checks import _hash_seed_trajectories
print(json.dumps(_hash_seed_trajectories(json.loads(sys.argv[1]))))
"""


def _hash_seed_trajectories(specs: Sequence[str]) -> dict[str, list]:
    """Each strategy's first 16 trials on SMOOTH and on MIXED (run inside the subprocess)."""
    out: dict[str, list] = {}
    for spec in specs:
        if ":" in spec and "." in spec.partition(":")[0]:  # "package.module:factory"
            import importlib

            module, _, attr = spec.rpartition(":")
            strategy_of = getattr(importlib.import_module(module), attr)
        else:
            strategy_of = spec
        try:
            for space, loss in ((SMOOTH, smooth_loss), (MIXED, mixed_loss)):
                study = _study(strategy_of() if callable(strategy_of) else strategy_of, space, seed=7)
                study.optimize(lambda t: loss(t.params), n_trials=16)
                out.setdefault(spec, []).append([t.params for t in study.trials])
        except Exception as e:  # one broken strategy must not hide the others' results
            out[spec] = {"error": f"{type(e).__name__}: {e}"}
    return out


def hash_seed_runs(specs: Sequence[str], hash_seeds: Sequence[str] = ("1", "2")) -> dict[str, dict]:
    """``{hash_seed: {spec: trajectories}}`` from fresh interpreters with those ``PYTHONHASHSEED``.

    ``specs`` are registered names (entry-point plugins included) or ``"module:factory"`` paths.
    """
    out = {}
    for hash_seed in hash_seeds:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": os.pathsep.join(_user_paths())}
        done = subprocess.run([sys.executable, "-c", _HASH_RUN, json.dumps(list(specs))], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"the hash-seed run failed:\n{done.stderr[-3000:]}"
        out[hash_seed] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _user_paths() -> list[str]:
    """This interpreter's import paths outside the Python installation (the checkout, tests/, a
    plugin's folder), so that the fresh interpreter finds what this one found."""
    system = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    out = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    for p in sys.path:
        real = os.path.realpath(p or os.getcwd())
        if not any(real == s or real.startswith(s + os.sep) for s in system) and real not in out:
            out.append(real)
    return out


def check_proposals_do_not_depend_on_the_hash_seed(spec: str, runs: dict[str, dict] | None = None) -> None:
    """A study's first 16 trials are the same under two ``PYTHONHASHSEED`` values (no set or
    string-hash order in the proposals), so a study resumed in a new interpreter continues
    as it would have."""
    runs = runs or hash_seed_runs([spec])
    a, b = runs["1"][spec], runs["2"][spec]
    assert not isinstance(a, dict), f"{spec}: the study failed in a fresh interpreter: {a['error']}"
    assert a == b, f"{spec}: the first 16 trials differ between PYTHONHASHSEED=1 and 2"


def check_beats_random_search(make: Make, budget: int = 30, seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> None:
    """A quality floor: over 5 seeds at 30 evaluations of a smooth 3-D function, a lower median
    best loss than random search."""

    def best(strategy, seed: int) -> float:
        study = _study(strategy, SMOOTH, seed=seed)
        study.optimize(lambda t: smooth_loss(t.params), n_trials=budget)
        return study.best_value

    ours = float(np.median([best(make(), s) for s in seeds]))
    baseline = float(np.median([best("random", s) for s in seeds]))
    assert math.isfinite(ours), f"median best loss {ours}"
    assert ours < baseline, f"median best loss {ours:.4g} is not below random search's {baseline:.4g}"


#: checks that take a ``make`` and run in seconds
FAST_CHECKS = (
    check_proposals_lie_in_the_space, check_same_seed_same_proposals, check_failed_pruned_and_nan_trials,
    check_pending_trials_are_not_proposed_again, check_ask_n_returns_distinct_configs, check_direction_is_respected,
    check_resume_continues_the_uninterrupted_run,
)
#: checks that run whole studies over several seeds
SLOW_CHECKS = (check_beats_random_search,)


def check_strategy(strategy: str | Make, *, slow: bool = False, **kwargs: Any) -> None:
    """Run every check on ``strategy`` (a registered name or a factory); the first failure raises.

    The hash-seed check runs for names only (a fresh interpreter must be able to find it).
    """
    make = maker(strategy, **kwargs)
    for check in FAST_CHECKS:
        if check is check_resume_continues_the_uninterrupted_run and isinstance(strategy, str) and not kwargs:
            check(make, strategy)
        else:
            check(make)
    if isinstance(strategy, str) and not kwargs:
        check_proposals_do_not_depend_on_the_hash_seed(strategy)
    if slow:
        for check in SLOW_CHECKS:
            check(make)
