"""Small helpers the library wrappers share: configuration keys and inactive-parameter removal."""

from __future__ import annotations

from ConfigSpace.util import deactivate_inactive_hyperparameters

__all__ = ["config_key", "drop_inactive"]


def drop_inactive(space, config: dict) -> dict:
    """``config`` without the hyperparameters whose conditions do not hold (ConfigSpace decides,
    so every condition type counts, numeric ones included)."""
    try:
        active = dict(deactivate_inactive_hyperparameters(dict(config), space.cs))
    except Exception:  # an incomplete config: keep what the space's own check says
        return {k: config[k] for k in space.active_names(config) if k in config}
    return {k: config[k] for k in space.names if k in active and k in config}


def config_key(config: dict) -> tuple:
    """A hashable key of a configuration (for de-duplication)."""
    return tuple(sorted(config.items()))
