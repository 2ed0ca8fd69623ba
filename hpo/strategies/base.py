"""The Strategy protocol and a small base class with the history helpers every strategy needs.

A strategy proposes configurations from the study history. It is *pure* with respect to
history: the same space, seed and history give the same proposals, which is what makes
resume after a crash and parallel workers on one storage work without saving any
strategy state. Running trials are in the history (state RUNNING) so a strategy can
treat them as pending (constant liar, de-duplication) and parallel workers do not
propose the same point.

Example:
    >>> import hpo
    >>> from hpo.strategies import make_strategy
    >>> s = make_strategy("random")
    >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
    >>> len(s.ask([], n=3))
    3
"""

from __future__ import annotations

import math
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from hpo.space import Space

__all__ = ["Strategy", "BaseStrategy", "Observation", "next_number"]


def next_number(history: Sequence[FrozenTrial]) -> int:
    """The number of the trial being proposed: the smallest number not in ``history``."""
    asking = getattr(history, "asking_number", None)
    if asking is not None:
        return asking
    n = len(history)
    if n == 0 or (history[0].number == 0 and history[-1].number == n - 1):
        return n  # optuna returns trials sorted by number: the common case is O(1)
    numbers = {t.number for t in history}
    k = 0
    while k in numbers:
        k += 1
    return k


@runtime_checkable
class Strategy(Protocol):
    """What the Study needs from a search strategy."""

    def setup(self, space: Space, direction: str, seed: int | None) -> None: ...

    def ask(self, history: Sequence[FrozenTrial], n: int = 1) -> list[dict]: ...

    def tell(self, trial: FrozenTrial) -> None: ...


class Observation:
    """A finished trial seen as (config, loss); loss is minimised whatever the study direction."""

    __slots__ = ("config", "loss", "number")

    def __init__(self, config: dict, loss: float, number: int):
        self.config, self.loss, self.number = config, loss, number

    def __repr__(self) -> str:
        return f"Observation({self.config}, loss={self.loss:.6g}, number={self.number})"


class BaseStrategy:
    """Base class: stores the setup and turns optuna history into observations.

    Subclasses implement ``_propose(history, n, rng) -> list[dict]``; ``ask`` validates,
    de-duplicates against pending trials where possible and returns clean configs.
    """

    name = "base"

    def __init__(self, **kwargs: Any):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(kwargs)}")
        self.space: Space | None = None
        self.direction = "minimize"
        self.seed: int | None = None

    def setup(self, space: Space, direction: str, seed: int | None) -> None:
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        self.space = space if isinstance(space, Space) else Space(space)
        self.direction = direction
        self.seed = seed

    def ask(self, history: Sequence[FrozenTrial], n: int = 1) -> list[dict]:
        if self.space is None:
            raise RuntimeError(f"{type(self).__name__}.setup(space, direction, seed) must be called before ask")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = self._rng(history)
        configs = [self.space.validate(c) for c in self._propose(history, n, rng)]
        return _distinct(configs, n, self.space, rng)

    def tell(self, trial: FrozenTrial) -> None:
        """History is the truth; strategies that cache per-trial work may override this."""

    def _propose(self, history: Sequence[FrozenTrial], n: int, rng: np.random.Generator) -> list[dict]:
        raise NotImplementedError

    # --- helpers for subclasses -----------------------------------------
    def _rng(self, history: Sequence[FrozenTrial]) -> np.random.Generator:
        """A generator seeded by the strategy seed and the number of the trial being proposed.

        That number is the smallest one missing from the history (a worker's own new trial
        is the one trial of the study it does not see), so a replayed history draws the same
        and two workers asking at once draw differently.
        """
        seed = 0 if self.seed is None else int(self.seed) & 0xFFFFFFFF
        return np.random.default_rng([seed, next_number(history)])

    def observations(self, history: Sequence[FrozenTrial]) -> list[Observation]:
        """Completed trials with a finite value, as (config, loss) in minimisation form."""
        sign = 1.0 if self.direction == "minimize" else -1.0
        out = []
        for t in history:
            if t.state != TrialState.COMPLETE or t.value is None or not math.isfinite(t.value):
                continue
            config = self._config_of(t)
            if config is not None:
                out.append(Observation(config, sign * float(t.value), t.number))
        return out

    def pending(self, history: Sequence[FrozenTrial]) -> list[dict]:
        """Configurations of running (or waiting, enqueued) trials that already have their params."""
        out = []
        for t in history:
            if t.state in (TrialState.RUNNING, TrialState.WAITING):
                params = t.params or t.system_attrs.get("fixed_params") or {}
                config = self._clean(params)
                if config:
                    out.append(config)
        return out

    def failed(self, history: Sequence[FrozenTrial]) -> list[dict]:
        """Configurations of failed trials (or NaN results): places not worth proposing again."""
        out = []
        for t in history:
            if t.state == TrialState.FAIL:
                config = self._config_of(t)
                if config is not None:
                    out.append(config)
        return out

    def _config_of(self, t: FrozenTrial) -> dict | None:
        return self._clean(t.params)

    def _clean(self, params: dict) -> dict | None:
        assert self.space is not None
        values = {k: v for k, v in params.items() if k in self.space}
        if not values:
            return None
        try:
            return self.space.validate({k: values[k] for k in self.space.active_names(values) if k in values})
        except ValueError:
            return None


def _distinct(configs: list[dict], n: int, space: Space, rng: np.random.Generator) -> list[dict]:
    """Keep the first n distinct configs; top up with random ones if a strategy repeated itself."""
    out: list[dict] = []
    seen: set = set()
    for c in configs:
        key = tuple(sorted(c.items()))
        if key not in seen:
            seen.add(key)
            out.append(c)
    tries = 0
    while len(out) < n and tries < 100 * n:
        tries += 1
        c = space.sample(1, rng=rng)[0]
        key = tuple(sorted(c.items()))
        if key not in seen:
            seen.add(key)
            out.append(c)
    while len(out) < n:  # a tiny discrete space: repeats are unavoidable
        out.append(out[len(out) % max(1, len(out))] if out else space.sample(1, rng=rng)[0])
    return out[:n]
