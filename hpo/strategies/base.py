"""The Strategy contract: what a search strategy must do, and the base class that does the plumbing.

A strategy proposes configurations of a declared search space from a study's history. The
Study (through :class:`hpo.sampler.StrategySampler`) calls three methods:

* :meth:`Strategy.setup` once, with the space, the direction and the seed;
* :meth:`Strategy.ask` for every new trial, with the history of the study;
* :meth:`Strategy.tell` after every trial finishes (bookkeeping only).

Three rules make resume after a crash, many workers on one storage, and replays work
without saving any strategy state:

1. **Pure with respect to history.** The same space, direction, seed and history give the
   same proposals, whatever happened before (a fresh instance, a restarted process, a
   different ``PYTHONHASHSEED``). Caches are allowed; their results must equal a replay.
2. **Pending trials are in the history** (state RUNNING, with their params once chosen).
   Proposals must not repeat them (constant liar, fantasies or de-duplication), so parallel
   workers never degrade to one point evaluated twice.
3. **Failed, pruned and NaN trials never break it.** A NaN or failing objective reaches the
   history as a FAIL trial; a pruned trial carries its intermediate values.

Writing one: subclass :class:`BaseStrategy` and implement ``_propose(history, n, rng)``;
read the history through the typed views (:meth:`BaseStrategy.rows`,
:meth:`~BaseStrategy.observations`, :meth:`~BaseStrategy.pending`,
:meth:`~BaseStrategy.failed`), which are in minimisation form whatever the direction.
``ask`` validates what ``_propose`` returns, removes repeats and tops up at random. Declare
options in ``params`` (see :mod:`hpo.strategies.params`). Register the class under a name
(:func:`hpo.strategies.register`, or an entry point in the ``hpo.strategies`` group) and run
:mod:`hpo.testing` over it.

Example:
    >>> import hpo
    >>> class Centre(BaseStrategy):
    ...     '''Proposes the centre of the space, then random points.'''
    ...     def _propose(self, history, n, rng):
    ...         if not self.observations(history) and not self.pending(history):
    ...             return [self.space.from_unit([0.5] * len(self.space))] + self.space.sample(n - 1, rng=rng)
    ...         return self.space.sample(n, rng=rng)
    >>> s = Centre()
    >>> s.setup(hpo.Space({"x": hpo.Float(0, 4)}), "minimize", seed=0)
    >>> s.ask([])
    [{'x': 2.0}]
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from hpo.space import Space
from hpo.strategies.params import Check, check_params

__all__ = ["Strategy", "BaseStrategy", "History", "Observation", "next_number", "blind_trials"]

_PENDING = (TrialState.RUNNING, TrialState.WAITING)


@runtime_checkable
class Strategy(Protocol):
    """What the Study needs from a search strategy (see the module docstring for the rules)."""

    def setup(self, space: Space, direction: str, seed: int | None) -> None:
        """Bind the strategy to a search space before the first ``ask``.

        Args:
            space: the declared space (an :class:`hpo.Space`; ConfigSpace underneath).
            direction: ``"minimize"`` or ``"maximize"``: what the study does with trial values.
            seed: the study's seed (an integer, or None for the fixed default seed 0).
                Proposals are a function of (space, direction, seed, history).

        Called again with another space when a define-by-run study's space changes; a
        strategy must then forget whatever it derived from the previous space.
        """
        ...

    def ask(self, history: Sequence[FrozenTrial], n: int = 1) -> list[dict[str, Any]]:
        """Propose ``n`` configurations, each a dict of the active hyperparameters' values.

        Args:
            history: every trial of the study except the one being proposed, as optuna
                ``FrozenTrial`` objects (complete, pruned, failed, running): a
                :class:`History` inside a Study, any sequence otherwise. Running trials
                whose params are chosen are pending work not to be proposed again.
            n: how many configurations; they must be distinct where the space allows.

        Returns:
            ``n`` configurations in the space: integers as ``int``, floats as ``float``,
            categoricals as one of their choices, inactive conditional parameters absent.
        """
        ...

    def tell(self, trial: FrozenTrial) -> None:
        """A trial of the study finished (any state). History stays the truth: a strategy
        may use this to update a cache, never to hold state that ``ask`` could not rebuild
        from the history alone."""
        ...


@dataclass(frozen=True)
class Observation:
    """One trial as a strategy sees it: its clean configuration and its result.

    ``state`` is ``"complete"`` (``loss`` set), ``"pruned"`` (``intermediate`` holds its
    finite intermediate values by step), ``"failed"`` (an exception, a NaN, or a
    non-finite value) or ``"pending"`` (running or waiting, its params chosen). ``loss`` and
    ``intermediate`` are in minimisation form: the value for ``minimize`` studies, minus
    the value for ``maximize`` ones.
    """

    config: dict
    loss: float | None
    number: int
    state: str = "complete"
    intermediate: Mapping[int, float] = field(default_factory=dict)

    @property
    def is_complete(self) -> bool:
        return self.state == "complete"

    @property
    def is_pending(self) -> bool:
        return self.state == "pending"

    def __repr__(self) -> str:
        loss = "" if self.loss is None else f", loss={self.loss:.6g}"
        state = "" if self.state == "complete" else f", state={self.state!r}"
        return f"Observation({self.config}{loss}, number={self.number}{state})"


class History(Sequence[FrozenTrial]):
    """The trials a strategy proposes from, and the number of the trial being proposed.

    A read-only sequence of optuna ``FrozenTrial`` (every trial of the study except the one
    being asked for). ``asking`` is that trial's number: inside a Study the bridge passes
    it; for a plain list it is the smallest number missing from the list. ``load`` defers
    reading the trials until a strategy first needs them (random search never does).

    Example:
        >>> History([]).asking
        0
    """

    __slots__ = ("_trials", "_load", "_asking", "_views")

    def __init__(self, trials: Sequence[FrozenTrial] | None = None, *, asking: int | None = None,
                 load: Callable[[], Sequence[FrozenTrial]] | None = None):
        if trials is None and load is None:
            trials = ()
        self._trials = None if trials is None else trials
        self._load, self._asking = load, asking
        self._views: dict = {}

    @classmethod
    def of(cls, history: Sequence[FrozenTrial]) -> "History":
        """``history`` itself when it is a History, else a History over it."""
        return history if isinstance(history, History) else cls(history)

    @property
    def trials(self) -> Sequence[FrozenTrial]:
        if self._trials is None:
            self._trials = self._load()
        return self._trials

    @property
    def loaded(self) -> bool:
        """Whether the trials have been read (a strategy looked at them)."""
        return self._trials is not None

    @property
    def asking(self) -> int:
        """The number of the trial being proposed."""
        if self._asking is None:
            self._asking = _smallest_missing(self.trials)
        return self._asking

    def __len__(self) -> int:
        return len(self.trials)

    def __getitem__(self, i):
        return self.trials[i]

    def __iter__(self) -> Iterator[FrozenTrial]:
        return iter(self.trials)

    def __repr__(self) -> str:
        return f"History({len(self)} trials, asking={self.asking})"


def _smallest_missing(trials: Sequence[FrozenTrial]) -> int:
    n = len(trials)
    if n == 0 or (trials[0].number == 0 and trials[-1].number == n - 1):
        return n  # optuna returns trials sorted by number: the common case is O(1)
    numbers = {t.number for t in trials}
    k = 0
    while k in numbers:
        k += 1
    return k


def next_number(history: Sequence[FrozenTrial]) -> int:
    """The number of the trial being proposed (:attr:`History.asking`)."""
    return History.of(history).asking


class BaseStrategy:
    """Base class of every built-in strategy: setup, validation, de-duplication, history views.

    Subclasses implement ``_propose(history, n, rng) -> list[dict]`` and may override the
    optional hooks :meth:`tell` and :meth:`optuna_sampler`. Options are declared in
    ``params`` and passed to ``super().__init__(**options)``, which checks them and stores
    each as an attribute of the same name.

    Attributes:
        space: the :class:`hpo.Space` given to ``setup`` (None before).
        direction: ``"minimize"`` or ``"maximize"``.
        seed: the seed given to ``setup``.
    """

    name: ClassVar[str] = "base"
    #: option name -> rule (:mod:`hpo.strategies.params`); ``__init__`` accepts these only
    params: ClassVar[dict[str, Check]] = {}

    def __init__(self, **options: Any):
        for key, value in check_params(type(self).__name__, self.params, options).items():
            setattr(self, key, value)
        self.space: Space | None = None
        self.direction = "minimize"
        self.seed: int | None = None
        self._seen: dict[int, tuple[FrozenTrial, tuple, Observation | None]] = {}

    # --- the protocol --------------------------------------------------------------
    def setup(self, space: Space, direction: str, seed: int | None) -> None:
        """See :meth:`Strategy.setup`. Subclasses that derive anything from the space extend it."""
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self.space = space if isinstance(space, Space) else Space(space)
        self.direction = direction
        self.seed = seed
        self._seen = {}

    def ask(self, history: Sequence[FrozenTrial], n: int = 1) -> list[dict]:
        """See :meth:`Strategy.ask`: ``_propose``'s configurations, validated and distinct."""
        if self.space is None:
            raise RuntimeError(f"{type(self).__name__}.setup(space, direction, seed) must be called before ask")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        history = History.of(history)
        rng = self._rng(history)
        configs = [self.space.validate(c) for c in self._propose(history, int(n), rng)]
        return _distinct(configs, int(n), self.space, rng)

    def tell(self, trial: FrozenTrial) -> None:
        """See :meth:`Strategy.tell`. Does nothing: the history is the truth."""

    # --- optional hooks ------------------------------------------------------------
    def optuna_sampler(self, seed: int | None):
        """An optuna ``BaseSampler`` to use instead of :meth:`ask` inside a study, or None.

        A strategy that wraps an optuna sampler (``tpe``) returns it here; the Study then
        samples through it on the study's own trials, and ``ask`` serves everything else
        (``ask(n>1)``, HomOpt's base, :mod:`hpo.testing`). The sampler must follow the same
        purity rule: its proposals a function of (seed, trials).
        """
        return None

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` configurations (``ask`` validates them and tops up repeats); subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _propose(history, n, rng)")

    # --- history views for subclasses ------------------------------------------------
    def rows(self, history: Sequence[FrozenTrial]) -> list[Observation]:
        """Every trial whose params lie in the space, by trial number, as :class:`Observation`.

        Running trials whose params are not (all) written yet are left out: see
        :meth:`blind_pending`. Finished trials are validated once per strategy.
        """
        history = History.of(history)
        assert self.space is not None, "setup() must be called first"
        key = (id(self.space), self.direction)
        hit = history._views.get(key)
        if hit is not None and hit[0] is self.space:
            return hit[1]
        rows = []
        for t in sorted(history, key=lambda t: t.number):
            row = self._observation_cached(t) if t.state.is_finished() else self._observation_of(t)
            if row is not None:
                rows.append(row)
        history._views[key] = (self.space, rows)
        return rows

    def observations(self, history: Sequence[FrozenTrial]) -> list[Observation]:
        """Completed trials with a finite value, as (config, loss) in minimisation form."""
        return [r for r in self.rows(history) if r.state == "complete"]

    def pending(self, history: Sequence[FrozenTrial]) -> list[dict]:
        """Configurations of running (or waiting, enqueued) trials whose params are chosen."""
        return [r.config for r in self.rows(history) if r.state == "pending"]

    def failed(self, history: Sequence[FrozenTrial]) -> list[dict]:
        """Configurations of failed trials (exceptions, NaN results): places not worth proposing again."""
        return [r.config for r in self.rows(history) if r.state == "failed"]

    def blind_pending(self, history: Sequence[FrozenTrial]) -> int:
        """Running trials created before the one being asked whose params are not chosen (or
        not all written) yet: other workers being answered at this moment.

        A deterministic strategy that sees k of them skips its first k candidates (they are
        what those workers receive), so two workers asking at once get different points.
        """
        return len(blind_trials(self.space, history))

    def _rng(self, history: Sequence[FrozenTrial]) -> np.random.Generator:
        """A generator seeded by the strategy seed and the number of the trial being proposed.

        That number is the one trial of the study a worker does not see, so a replayed
        history draws the same and two workers asking at once draw differently.
        """
        seed = 0 if self.seed is None else int(self.seed) & 0xFFFFFFFF
        return np.random.default_rng([seed, History.of(history).asking])

    # --- internals ---------------------------------------------------------------------
    def _observation_cached(self, t: FrozenTrial) -> Observation | None:
        hit = self._seen.get(t.number)
        if hit is not None and hit[0] is t:
            return hit[2]
        key = (t.state, t.value, tuple(sorted(t.params.items())),
               tuple(sorted(t.intermediate_values.items())) if t.state == TrialState.PRUNED else ())
        if hit is not None and hit[1] == key:
            row = hit[2]
        else:
            row = self._observation_of(t)
        self._seen[t.number] = (t, key, row)
        return row

    def _observation_of(self, t: FrozenTrial) -> Observation | None:
        sign = 1.0 if self.direction == "minimize" else -1.0
        if t.state in _PENDING:
            if t.params and not _complete(self.space, t.params):
                return None  # still being written: counted by blind_pending
            params = t.params or t.system_attrs.get("fixed_params") or {}
            config = self._clean(params) if params else None
            return Observation(config, None, t.number, "pending") if config else None
        config = self._clean(t.params)
        if config is None:
            return None
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
            return Observation(config, sign * float(t.value), t.number)
        if t.state == TrialState.PRUNED:
            inter = {int(k): sign * float(v) for k, v in t.intermediate_values.items() if math.isfinite(v)}
            return Observation(config, None, t.number, "pruned", inter)
        return Observation(config, None, t.number, "failed")

    def _clean(self, params: Mapping[str, Any]) -> dict | None:
        """``params`` restricted to the space's active hyperparameters, validated; None if invalid."""
        assert self.space is not None
        values = {k: v for k, v in params.items() if k in self.space}
        if not values:
            return None
        try:
            return self.space.validate({k: values[k] for k in self.space.active_names(values) if k in values})
        except ValueError:
            return None


def blind_trials(space: Space, history: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The running trials numbered before :attr:`History.asking` whose params in ``space``
    are not chosen or not all written yet (see :meth:`BaseStrategy.blind_pending`)."""
    history = History.of(history)
    asking = history.asking

    def blind(t: FrozenTrial) -> bool:
        if t.params:
            return not _complete(space, t.params)
        return not t.system_attrs.get("fixed_params")

    return [t for t in history if t.state in _PENDING and t.number < asking and blind(t)]


def _complete(space: Space, params: Mapping[str, Any]) -> bool:
    """Whether every hyperparameter active in ``params`` has its value (a running trial's
    params reach the storage one ``suggest`` call at a time)."""
    return all(k in params for k in space.active_names(params))


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
