"""A strategy plugin in a few lines: local search around the best trial, after a random start."""

from __future__ import annotations

import numpy as np

from hpo.strategies import BaseStrategy
from hpo.strategies.params import Integer, Real

__all__ = ["LocalSearch"]


class LocalSearch(BaseStrategy):
    """Random points first, then Gaussian steps in the unit cube around the best trial so far.

    Args:
        n_startup: random trials before the local search (default 6).
        radius: the step's standard deviation in the unit cube, halved every 20 trials (default 0.15).
    """

    name = "demo-local-search"
    params = {"n_startup": Integer(1), "radius": Real(0, 1, open="low")}

    def __init__(self, n_startup: int = 6, radius: float = 0.15):
        super().__init__(n_startup=n_startup, radius=radius)

    def _propose(self, history, n, rng):
        done = self.observations(history)
        if len(done) < self.n_startup:
            return self.space.sample(n, rng=rng)
        taken = {tuple(sorted(c.items())) for c in self.pending(history)}
        best = min(done, key=lambda o: (o.loss, o.number))
        centre = self.space.to_unit(best.config, impute=0.5)
        scale = self.radius * 0.5 ** (len(done) // 20)
        out = []
        for _ in range(100 * n):  # bounded: in a tiny discrete space ask() tops up at random
            if len(out) == n:
                break
            config = self.space.from_unit(np.clip(centre + rng.normal(0.0, scale, centre.shape), 0.0, 1.0))
            key = tuple(sorted(config.items()))
            if key not in taken:  # never hand a running trial's point to another worker
                taken.add(key)
                out.append(config)
        return out
