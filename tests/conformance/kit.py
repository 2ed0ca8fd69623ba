"""Shared pieces of the strategy conformance suite: spaces, histories and a smooth test function."""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

import hpo
from hpo.strategies import make_strategy

MIXED = hpo.Space({
    "x": hpo.Float(-5, 5),
    "lr": hpo.Float(1e-5, 1e-1, log=True),
    "n": hpo.Int(1, 64, log=True),
    "k": hpo.Int(0, 20, step=4),
    "opt": hpo.Categorical(["adam", "sgd", "rmsprop"]),
    "momentum": hpo.Float(0.0, 0.99, when={"opt": "sgd"}),
})

SMOOTH = hpo.Space({f"x{i}": hpo.Float(-2.0, 2.0) for i in range(3)})
OPTIMUM = np.array([0.6, -0.4, 0.3])


def smooth_loss(config: dict) -> float:
    x = np.array([config[f"x{i}"] for i in range(3)])
    return float(np.sum((x - OPTIMUM) ** 2))


def mixed_loss(config: dict) -> float:
    loss = (config["x"] - 1.0) ** 2 + (math.log10(config["lr"]) + 3) ** 2 + abs(math.log2(config["n"]) - 3)
    loss += {"adam": 0.0, "sgd": 0.5, "rmsprop": 1.0}[config["opt"]] + 0.05 * config["k"]
    return loss - (config.get("momentum", 0.0) if config["opt"] == "sgd" else 0.0)


def trial(space: hpo.Space, number: int, config: dict, value: float | None = None,
          state: TrialState = TrialState.COMPLETE, intermediate: dict | None = None) -> FrozenTrial:
    dists = space.distributions
    t = optuna.trial.create_trial(
        params=config, distributions={k: dists[k] for k in config}, value=value, state=state,
        intermediate_values=intermediate,
    )
    t.number = number
    t._trial_id = number
    return t


def history(space: hpo.Space, n: int, seed: int, loss=None) -> list[FrozenTrial]:
    loss = loss or (mixed_loss if space is MIXED else smooth_loss)
    configs = space.sample(n, seed=seed) if n else []
    return [trial(space, i, c, loss(c)) for i, c in enumerate(configs)]


def new_strategy(name: str, space: hpo.Space, seed: int | None, direction: str = "minimize"):
    s = make_strategy(name)
    s.setup(space, direction, seed)
    return s
