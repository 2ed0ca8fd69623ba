"""Uniform random search over the declared space (log-uniform where declared)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hpo.strategies.base import BaseStrategy


class RandomStrategy(BaseStrategy):
    """Random search: the baseline every other strategy must beat.

    Each call draws from a generator seeded by the strategy seed and the trials seen, so a
    replayed history gives the same proposals and parallel workers draw different ones.

    Example:
        >>> import hpo
        >>> s = RandomStrategy()
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=1)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "random"

    def _propose(self, history: Sequence[FrozenTrial], n: int, rng: np.random.Generator) -> list[dict]:
        return self.space.sample(n, rng=rng)
