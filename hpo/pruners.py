"""Pruners by name: optuna's median, successive-halving and hyperband pruners.

Example:
    >>> from hpo.pruners import make_pruner
    >>> type(make_pruner("hyperband")).__name__
    'HyperbandPruner'
"""

from __future__ import annotations

import difflib
from typing import Any

import optuna

__all__ = ["make_pruner", "PRUNERS"]

PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "successive-halving": optuna.pruners.SuccessiveHalvingPruner,
    "sha": optuna.pruners.SuccessiveHalvingPruner,
    "asha": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


def make_pruner(spec: Any) -> optuna.pruners.BasePruner:
    """An optuna pruner from a name, ``None`` (no pruning) or an optuna pruner instance."""
    if spec is None:
        return optuna.pruners.NopPruner()
    if isinstance(spec, optuna.pruners.BasePruner):
        return spec
    if isinstance(spec, str) and spec.lower() in PRUNERS:
        return PRUNERS[spec.lower()]()
    close = difflib.get_close_matches(str(spec), list(PRUNERS), n=3)
    hint = f"did you mean {close}?" if close else f"use one of {sorted(PRUNERS)} or an optuna pruner"
    raise ValueError(f"unknown pruner {spec!r}; {hint}")
