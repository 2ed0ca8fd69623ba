import logging

import pytest

import hpo
from hpo.strategies.llambo import strategy as llambo_strategy

SPACE = hpo.Space({
    "x": hpo.Float(-5.0, 5.0),
    "lr": hpo.Float(1e-4, 1e-1, log=True),
    "n": hpo.Int(1, 32, log=True),
    "opt": hpo.Categorical(["adam", "sgd"]),
    "momentum": hpo.Float(0.0, 0.99, when={"opt": "sgd"}),
})


def loss(config: dict) -> float:
    import math

    value = (config["x"] - 1.0) ** 2 + (math.log10(config["lr"]) + 2) ** 2 + abs(math.log2(config["n"]) - 3)
    return value + (0.5 - config.get("momentum", 0.0) if config["opt"] == "sgd" else 0.0)


def trial(space: hpo.Space, number: int, config: dict, value: float | None = None, state=None):
    """A FrozenTrial of ``space`` (complete unless ``state`` says otherwise)."""
    import optuna
    from optuna.trial import TrialState

    dists = space.distributions
    t = optuna.trial.create_trial(params=config, distributions={k: dists[k] for k in config}, value=value,
                                  state=TrialState.COMPLETE if state is None else state)
    t.number = number
    t._trial_id = number
    return t


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch):
    """Each test sees the once-per-process notices afresh, and no endpoint from the environment."""
    llambo_strategy._NOTICED.clear()
    monkeypatch.delenv("HPO_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("HPO_LLM_MODEL", raising=False)
    logging.getLogger("hpo.llambo").setLevel(logging.INFO)
    yield
