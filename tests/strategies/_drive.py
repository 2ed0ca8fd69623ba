"""Helpers for the strategy tests: drive a strategy trial by trial and compare with fresh replays."""

from __future__ import annotations

from optuna.trial import TrialState

from hpo.testing.problems import trial
from hpo.strategies import make_strategy


def fresh(name: str, space, seed: int, direction: str = "minimize", **kwargs):
    s = make_strategy(name, **kwargs)
    s.setup(space, direction, seed)
    return s


def drive_and_compare(name: str, space, loss, steps: int, seed: int = 0, pending_every: int = 0, **kwargs):
    """Run ``steps`` sequential asks on one cached instance; at every step a fresh instance given
    the same history must propose the same. Every ``pending_every``-th proposal stays RUNNING
    for one step (a parallel worker) and finishes one step later, out of order.

    Returns the history built.
    """
    cached = fresh(name, space, seed, **kwargs)
    history, held = [], None
    for step in range(steps):
        proposal = cached.ask(history)
        assert proposal == fresh(name, space, seed, **kwargs).ask(history), f"step {step}: cache != replay"
        config = proposal[0]
        number = len(history)
        if pending_every and step % pending_every == pending_every - 1 and held is None:
            history.append(trial(space, number, config, state=TrialState.RUNNING))
            held = (number, config)
            continue
        history.append(trial(space, number, config, loss(config)))
        if held is not None:  # the held trial finishes after a later one
            history[held[0]] = trial(space, held[0], held[1], loss(held[1]))
            held = None
    return history
