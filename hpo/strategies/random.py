"""Uniform random search over the declared space (log-uniform where declared)."""

from __future__ import annotations

import numpy as np

from hpo.strategies.base import BaseStrategy, History

_BATCH = 256


class RandomStrategy(BaseStrategy):
    """Random search: the baseline every other strategy must beat.

    The configuration of trial ``k`` is row ``k mod 256`` of a batch that ConfigSpace samples
    with a seed made of the strategy seed and ``k // 256``: the same seed gives the same
    sequence however the trials were spread over workers or restarts, and sampling in
    batches keeps the cost per trial to a few microseconds.

    Example:
        >>> import hpo
        >>> s = RandomStrategy()
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=1)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "random"

    def __init__(self) -> None:
        super().__init__()
        self._batch_id: int | None = None
        self._batch: list[dict] = []

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._batch_id = None

    def _row(self, k: int) -> dict:
        batch, row = divmod(k, _BATCH)
        if batch != self._batch_id:
            seed = 0 if self.seed is None else int(self.seed) & 0xFFFFFFFF
            self._batch = self.space.sample(_BATCH, rng=np.random.default_rng([seed, batch, 0x5EED]))
            self._batch_id = batch
        return dict(self._batch[row])

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        k = history.asking
        return [self._row(k + i) for i in range(n)]
