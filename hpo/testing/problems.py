"""What the conformance checks run on: two spaces, their loss functions, and hand-made histories.

``MIXED`` has every kind of hyperparameter (float, log float, log int, stepped int,
categorical, a conditional child); ``SMOOTH`` is a 3-D box with a quadratic bowl off the
centre, where any model-based strategy should beat random search.

Example:
    >>> h = history(SMOOTH, 3, seed=0)
    >>> [t.number for t in h], h[0].state.name
    ([0, 1, 2], 'COMPLETE')
"""

from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo.space import Categorical, Float, Int, Space

__all__ = ["MIXED", "SMOOTH", "OPTIMUM", "mixed_loss", "smooth_loss", "trial", "history"]

MIXED = Space({
    "x": Float(-5, 5),
    "lr": Float(1e-5, 1e-1, log=True),
    "n": Int(1, 64, log=True),
    "k": Int(0, 20, step=4),
    "opt": Categorical(["adam", "sgd", "rmsprop"]),
    "momentum": Float(0.0, 0.99, when={"opt": "sgd"}),
})

SMOOTH = Space({f"x{i}": Float(-2.0, 2.0) for i in range(3)})
#: the minimiser of :func:`smooth_loss` (loss 0)
OPTIMUM = np.array([0.6, -0.4, 0.3])


def smooth_loss(config: dict) -> float:
    """Squared distance to :data:`OPTIMUM`."""
    x = np.array([config[f"x{i}"] for i in range(3)])
    return float(np.sum((x - OPTIMUM) ** 2))


def mixed_loss(config: dict) -> float:
    """A loss on :data:`MIXED` that every hyperparameter moves (the conditional one too)."""
    loss = (config["x"] - 1.0) ** 2 + (math.log10(config["lr"]) + 3) ** 2 + abs(math.log2(config["n"]) - 3)
    loss += {"adam": 0.0, "sgd": 0.5, "rmsprop": 1.0}[config["opt"]] + 0.05 * config["k"]
    return loss - (config.get("momentum", 0.0) if config["opt"] == "sgd" else 0.0)


def loss_of(space: Space):
    """The loss function that goes with ``space`` (``mixed_loss`` for MIXED, else ``smooth_loss``)."""
    return mixed_loss if space is MIXED else smooth_loss


def trial(space: Space, number: int, config: dict, value: float | None = None,
          state: TrialState = TrialState.COMPLETE, intermediate: dict | None = None) -> FrozenTrial:
    """A FrozenTrial numbered ``number`` with ``config`` as its params (any state)."""
    dists = space.distributions
    t = optuna.trial.create_trial(
        params=config, distributions={k: dists[k] for k in config}, value=value, state=state,
        intermediate_values=intermediate,
    )
    t.number = number
    t._trial_id = number
    return t


def history(space: Space, n: int, seed: int, loss=None) -> list[FrozenTrial]:
    """``n`` completed trials of random configurations, valued by ``loss`` (the space's own by default)."""
    loss = loss or loss_of(space)
    configs = space.sample(n, seed=seed)
    return [trial(space, i, c, loss(c)) for i, c in enumerate(configs)]
