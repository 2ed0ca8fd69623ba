"""History rows shared by the library wrappers: which trials a library should see, and how.

A row is ``(number, kind, config, payload)`` with ``kind`` one of ``"C"`` (complete, payload
the loss), ``"P"`` (pruned, payload its intermediate losses), ``"F"`` (failed or a
non-finite result) or ``"R"`` (running or waiting with its params chosen). Losses are in
minimisation form whatever the study direction. Rows come sorted by trial number, so a
wrapper that replays them always feeds its library in the same order.
"""

from __future__ import annotations

import math
from typing import Sequence

from ConfigSpace.util import deactivate_inactive_hyperparameters
from optuna.trial import FrozenTrial, TrialState

from hpo.strategies.base import BaseStrategy

Row = tuple


def history_rows(strategy: BaseStrategy, history: Sequence[FrozenTrial]) -> list[Row]:
    """Rows for every trial of ``history`` whose params lie in the space, by trial number.

    Finished trials are validated once: their rows are cached on the strategy, keyed by
    everything a row depends on.
    """
    cache = strategy.__dict__.setdefault("_row_cache", {})
    if cache.get("__space__") is not strategy.space or cache.get("__direction__") != strategy.direction:
        cache.clear()
        cache["__space__"], cache["__direction__"] = strategy.space, strategy.direction
    same = cache.setdefault("__same__", {})  # number -> (trial object, row): in-memory storages hand back the same objects
    rows = []
    for t in sorted(history, key=lambda t: t.number):
        if t.state.is_finished():
            hit = same.get(t.number)
            if hit is not None and hit[0] is t:
                row = hit[1]
            else:
                key = (t.number, t.state, t.value, tuple(sorted(t.params.items())),
                       tuple(sorted(t.intermediate_values.items())) if t.state == TrialState.PRUNED else ())
                row = cache.get(key, False)
                if row is False:
                    row = cache[key] = _row(strategy, t)
                same[t.number] = (t, row)
        else:
            row = _row(strategy, t)
        if row is not None:
            rows.append(row)
    return rows


def _complete(space, params: dict) -> bool:
    """Whether every hyperparameter active in ``params`` has its value (a running trial's
    params reach the storage one ``suggest`` call at a time)."""
    return all(k in params for k in space.active_names(params))


def _row(strategy: BaseStrategy, t: FrozenTrial) -> Row | None:
    sign = 1.0 if strategy.direction == "minimize" else -1.0
    if t.state in (TrialState.RUNNING, TrialState.WAITING):
        params = t.params or t.system_attrs.get("fixed_params") or {}
        if t.params and not _complete(strategy.space, t.params):
            return None  # still being written: counted by blind_pending instead
        config = strategy._clean(params) if params else None
        return (t.number, "R", config, None) if config else None
    config = strategy._config_of(t)
    if config is None:
        return None
    if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
        return (t.number, "C", config, sign * float(t.value))
    if t.state == TrialState.PRUNED:
        inter = {int(k): sign * float(v) for k, v in t.intermediate_values.items() if math.isfinite(v)}
        return (t.number, "P", config, inter)
    return (t.number, "F", config, None)


def blind_pending(history: Sequence[FrozenTrial], space=None) -> int:
    """Running trials whose params are not chosen yet, or not all written yet (given ``space``):
    another worker is being answered right now.

    A deterministic strategy that sees k of them, created before the trial being asked for,
    skips its first k candidates (they are what those workers receive), so two workers
    asking at the same moment get different points. The study's history says which trial
    asks (``asking_number``); without it every such trial counts.
    """
    asking = getattr(history, "asking_number", None)

    def blind(t: FrozenTrial) -> bool:
        if t.params:
            return space is not None and not _complete(space, t.params)
        return not t.system_attrs.get("fixed_params")

    return sum(
        1 for t in history
        if t.state in (TrialState.RUNNING, TrialState.WAITING) and blind(t) and (asking is None or t.number < asking)
    )


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
