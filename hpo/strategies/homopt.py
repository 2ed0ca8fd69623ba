"""HomOpt: a GAM surrogate with homotopy optimisation on top of any base strategy.

HomOpt (Abraham et al., 2023) interleaves three kinds of proposals, chosen by the
position ``n`` of the new trial (completed plus pending trials) in a fixed rotation:

* before ``warm_up`` trials, and at ``n mod period`` in ``base_slots``: the base strategy;
* at ``jitter_slots``: the best point plus uniform noise scaled, per dimension of the unit
  cube, by the spread of the best ``top_fraction`` of trials;
* at ``homotopy_slots``: fit GAM ``g1`` on the most recent ``recent_fraction`` of trials
  and GAM ``g2`` on all of them, start at the best observed point and follow the minimiser
  of ``t·g1 + (1 - t)·g2`` for ``t`` from ``t_start`` to ``t_end`` in ``n_steps`` steps
  (bounded Nelder-Mead from the previous minimiser); propose the step with the lowest
  ``g2``.

``preset="reference"`` is the reference implementation's schedule (pyrameter's ``HOM``):
warm-up 20, rotation base/homotopy/base/jitter/jitter, ``k = 0.5``, ``t = 1, 0.8, ..., 0.2``,
jitter 0.005 times the top-10% variance, GAM ``lam = 1e-4`` on the raw losses. The default,
``preset="tuned"``, fits the GAMs to standardised losses with ``lam = 1`` (a smooth model
whose minimum stays near the data, where ``lam = 1e-4`` interpolates it), jitters by half
the per-dimension standard deviation of the top 10% (a local-search step), and rotates
base/homotopy/base/jitter/base (three slots in five for the base). ``preset="smooth"`` is
the first two changes alone. How the default was chosen, and what each option did, is in
the HomOpt results notes of the benchmarks. In every preset, what differs from the
reference code:

* categoricals enter the GAM as factor terms (:class:`surrogates.gam.GAMSurrogate`) and
  stay at the best point's levels during the homotopy (only the active numeric
  dimensions move), instead of being optimised as integer codes;
* the jitter uses one spread per dimension of the unit cube (the reference used a single
  variance over all raw values, so wide ranges swamped narrow ones), with a floor so a
  jitter never re-proposes a point already tried or pending;
* the number of splines adapts to the data size (``n_splines=None``), and a GAM that
  cannot be fitted makes the step fall back to the base strategy instead of failing;
* the GAM is additive, so it is tabulated along each free dimension (one batch
  prediction, checked for additivity) and Nelder-Mead runs on the tables: the same
  minimisers at a fraction of the cost of one model call per evaluation;
* optional, off by default: ``trust_radius`` (the homotopy stays in a box around the best
  point), ``fit_threshold`` (jitter slots become homotopy steps when the GAM predicts
  the newest trials well), ``gate_threshold`` (jitter and homotopy slots go to the base
  when it predicts them badly) and ``allocation="thompson"`` (a jitter or homotopy slot goes
  to the base instead when, by Thompson sampling on past success rates, the base has been
  the better source of improvements).

The strategy is pure with respect to history: the rotation depends on the trial counts
only and all randomness comes from the generator ``ask`` derives from seed and history.
Pending trials are counted in ``n``, proposals never repeat a tried or pending point,
and the base strategy sees the pending trials in the history itself.

Example:
    >>> import hpo
    >>> from hpo.strategies import make_strategy
    >>> s = make_strategy("homopt:random", warm_up=5)
    >>> s.setup(hpo.Space({"x": hpo.Float(-2, 2), "y": hpo.Float(-2, 2)}), "minimize", seed=0)
    >>> s.name, s.base_name
    ('homopt', 'random')
    >>> len(s.ask([], n=2))
    2
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hpo.extras import require
from hpo.space import Space
from hpo.strategies._homotopy import AdditiveTables, HomotopyPath, jitter_point, trace_homotopy
from hpo.strategies.base import BaseStrategy, History, Observation, Strategy
from hpo.strategies.params import Check, Choice, Integer, Real

__all__ = ["HomOptStrategy", "HomotopyResult", "PRESETS"]

_log = logging.getLogger(__name__)

_KINDS = ("base", "jitter", "homotopy")


class _Preset:
    """Marks an argument whose default comes from the chosen preset."""

    def __repr__(self) -> str:
        return "<preset>"


_P: Any = _Preset()

class Slots(Check):
    """Positions of the rotation: a sequence of integers (checked against ``period`` by :func:`_rotation`)."""

    def describe(self) -> str:
        return "a sequence of integers"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple, range)) and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)

    def normalise(self, value: Any) -> tuple[int, ...]:
        return tuple(int(v) for v in value)


#: Named settings of the schedule. ``reference`` is pyrameter's HOM.
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {
        "warm_up": 20, "period": 5, "base_slots": (0, 2), "jitter_slots": (3, 4), "homotopy_slots": (1,),
        "recent_fraction": 0.5, "n_steps": 5, "t_start": 1.0, "t_end": 0.2,
        "jitter": 0.005, "jitter_spread": "var", "top_fraction": 0.1,
        "trust_radius": None, "fit_threshold": None, "gate_threshold": None, "allocation": "fixed", "lam": 1e-4, "y_scale": "raw",
    },
}
#: The reference schedule with a smoother GAM and a wider, per-dimension-std jitter.
PRESETS["smooth"] = {**PRESETS["reference"], "lam": 1.0, "y_scale": "standard", "jitter": 0.5, "jitter_spread": "std"}
#: The default: "smooth" with a lighter rotation (base/homotopy/base/jitter/base), which gives
#: a strong base three slots in five instead of two.
PRESETS["tuned"] = {**PRESETS["smooth"], "base_slots": (0, 2, 4), "jitter_slots": (3,)}


@dataclass
class HomotopyResult:
    """One homotopy step, for inspection and plots (see :meth:`HomOptStrategy.homotopy`).

    ``path`` holds the minimisers in the free (active numeric) ConfigSpace-vector
    coordinates named by ``names``; ``configs`` are the decoded configurations of the
    path points; ``proposal`` is the configuration HomOpt would propose (None when every
    path point was already tried); ``additive`` tells whether the tabulated fast path
    was used; ``g1`` and ``g2`` map rows of ConfigSpace vectors to the two GAMs' means.
    """

    path: HomotopyPath
    names: list[str]
    configs: list[dict]
    proposal: dict | None
    additive: bool
    g1: Any = None
    g2: Any = None


class HomOptStrategy(BaseStrategy):
    """HomOpt on top of ``base`` (a strategy name such as ``"tpe"`` or an instance).

    Args:
        base: the base strategy, a registry name (``"random"``, ``"tpe"``, ``"smac"``,
            ``"gp"``...) or a strategy object.
        preset: the named settings the next arguments default to (see :data:`PRESETS`):
            ``"tuned"`` (default), ``"smooth"`` or ``"reference"``; the values in brackets
            are the reference ones; ``"smooth"`` differs in ``jitter``, ``jitter_spread``,
            ``lam`` and ``y_scale``, ``"tuned"`` also in ``base_slots`` (0, 2, 4) and
            ``jitter_slots`` (3,).
        base_kwargs: keyword arguments for the base strategy when ``base`` is a name.
        warm_up: trials proposed by the base before any jitter or homotopy step (20).
        period: length of the rotation (5).
        base_slots: values of ``n mod period`` that ask the base strategy ((0, 2)).
        jitter_slots: values of ``n mod period`` that jitter the best point ((3, 4)).
        homotopy_slots: values of ``n mod period`` that take a homotopy step ((1,)).
        recent_fraction: ``k``, the fraction of most recent trials that ``g1`` is fitted
            on (0.5).
        n_steps: homotopy steps (5).
        t_start, t_end: the homotopy parameter runs from ``t_start`` to ``t_end`` (1.0,
            0.2: the reference's ``t = 1 - i/5``; ``g2`` alone is never minimised).
        jitter: noise half-width as a multiple of the per-dimension spread (0.005).
        jitter_spread: ``"var"`` (the reference's statistic) or ``"std"``.
        jitter_floor: smallest half-width in the unit cube (1e-3); doubled up to
            ``max_retries`` times while the jittered point repeats a known one.
        top_fraction: the share of best trials whose spread scales the jitter (0.1; at
            least 2 trials).
        n_splines: splines per numeric GAM term; None lets the GAM adapt it to the data
            size (the reference used 25 always).
        lam: GAM smoothing penalty (1e-4: almost none).
        y_scale: ``"raw"`` fits the GAMs to the losses as they are (reference); ``"standard"``
            to standardised losses, which makes ``lam`` mean the same on every problem
            (pygam's penalty is not scale-free).
        trust_radius: if set, the homotopy stays within this half-width (unit cube)
            around the best point; None searches the whole cube (reference).
        allocation: ``"fixed"`` follows the rotation; ``"thompson"`` hands a jitter or
            homotopy slot to the base when a draw from Beta(1 + successes, 1 + failures)
            of that kind falls below the base's draw, where a success is a trial after the
            warm-up that improved on the best loss before it (kinds read from positions).
        fit_threshold: if set, a jitter slot becomes a homotopy step when the GAM,
            fitted on the older 80% of trials, ranks the newest 20% with a Spearman
            correlation of at least this value; None keeps the fixed rotation.
        gate_threshold: if set, a jitter or homotopy slot goes to the base when that same
            hold-out correlation is below this value (or the hold-out GAM cannot be
            fitted): the GAM's proposals are used only where the GAM has shown it predicts
            new trials. None keeps the fixed rotation.
        grid: points per dimension of the tabulated GAM (201).
        nm_maxfev: Nelder-Mead evaluations per homotopy step (default ``100 · d`` on the
            tables, ``20 · d`` when the GAM is not additive and is called directly).
        nm_xatol: Nelder-Mead tolerance on the unit cube (1e-3, a fifth of the table spacing).
        max_retries: jitter re-draws before a repeated point falls back to the base (6).

    Example:
        >>> import hpo
        >>> s = HomOptStrategy("random", warm_up=10, trust_radius=0.25)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=3)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "homopt"

    params = {
        "warm_up": Integer(0), "period": Integer(1), "base_slots": Slots(), "jitter_slots": Slots(),
        "homotopy_slots": Slots(), "recent_fraction": Real(0, 1, open="low"), "n_steps": Integer(1),
        "t_start": Real(0, 1), "t_end": Real(0, 1), "jitter": Real(0), "jitter_spread": Choice("var", "std"),
        "top_fraction": Real(0, 1, open="low"), "trust_radius": Real(0, 1, open="low", none=True),
        "fit_threshold": Real(-1, 1, none=True), "gate_threshold": Real(-1, 1, none=True),
        "allocation": Choice("fixed", "thompson"), "lam": Real(0), "y_scale": Choice("raw", "standard"),
        "jitter_floor": Real(0), "n_splines": Integer(4, none=True), "grid": Integer(3),
        "nm_maxfev": Integer(1, none=True), "nm_xatol": Real(0), "max_retries": Integer(0),
    }

    def __init__(
        self,
        base: str | Strategy = "random",
        *,
        preset: str = "tuned",
        base_kwargs: dict | None = None,
        warm_up: int = _P,
        period: int = _P,
        base_slots: Sequence[int] = _P,
        jitter_slots: Sequence[int] = _P,
        homotopy_slots: Sequence[int] = _P,
        recent_fraction: float = _P,
        n_steps: int = _P,
        t_start: float = _P,
        t_end: float = _P,
        jitter: float = _P,
        jitter_spread: str = _P,
        top_fraction: float = _P,
        trust_radius: float | None = _P,
        fit_threshold: float | None = _P,
        gate_threshold: float | None = _P,
        allocation: str = _P,
        lam: float = _P,
        y_scale: str = _P,
        jitter_floor: float = 1e-3,
        n_splines: int | None = None,
        grid: int = 201,
        nm_maxfev: int | None = None,
        nm_xatol: float = 1e-3,
        max_retries: int = 6,
    ):
        given = {k: v for k, v in locals().items() if k in self.params and v is not _P}
        if preset not in PRESETS:
            raise ValueError(f"HomOptStrategy: preset must be one of {', '.join(map(repr, PRESETS))}, got {preset!r}")
        super().__init__(**{**PRESETS[preset], **given})
        require("pygam", "strategy 'homopt'")
        self.preset = preset
        self._slots = _rotation(self.period, self.base_slots, self.jitter_slots, self.homotopy_slots)
        self.ts = np.linspace(self.t_start, self.t_end, self.n_steps)
        self.base_name, self.base = _make_base(base, base_kwargs)
        #: counts of what each proposal was (diagnostics only; proposals never read it)
        self.counts: dict[str, int] = {"base": 0, "jitter": 0, "homotopy": 0, "fallback": 0}

    def __repr__(self) -> str:
        return f"HomOptStrategy(base={self.base_name!r})"

    def setup(self, space: Space, direction: str, seed: int | None) -> None:
        super().setup(space, direction, seed)
        self.base.setup(self.space, direction, seed)
        self._encoder = None

    def tell(self, trial: FrozenTrial) -> None:
        self.base.tell(trial)

    # --- the schedule -----------------------------------------------------------
    def kind_of(self, n: int) -> str:
        """What the rotation does for the trial at position ``n``: ``base``, ``jitter`` or ``homotopy``."""
        if n < self.warm_up:
            return "base"
        return self._slots[n % self.period]

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        obs = self.observations(history)
        taken = {_key(o.config) for o in obs} | {_key(c) for c in self.pending(history)} | {_key(c) for c in self.failed(history)}
        start = len(obs) + len(self.pending(history))
        kinds = [self.kind_of(start + i) for i in range(n)]
        out: list[dict | None] = [None] * n
        if self.allocation == "thompson" and any(k != "base" for k in kinds):
            kinds = self._thompson(obs, kinds, rng)
        rho = None
        if any(k != "base" for k in kinds) and (self.fit_threshold is not None or self.gate_threshold is not None):
            rho = self._holdout_rho(obs)
        for i, kind in enumerate(kinds):
            config = None
            if kind != "base" and self.gate_threshold is not None and (rho is None or rho < self.gate_threshold):
                kind = "base"
            if kind == "jitter" and self.fit_threshold is not None and rho is not None and rho >= self.fit_threshold:
                kind = "homotopy"
            if kind == "homotopy":
                config = self._homotopy_proposal(obs, taken, rng)
            elif kind == "jitter":
                config = self._jitter_proposal(obs, taken, rng)
            if config is not None:
                self.counts[kind] += 1
                taken.add(_key(config))
                out[i] = config
            elif kind != "base":
                self.counts["fallback"] += 1
        need = [i for i, c in enumerate(out) if c is None]
        if need:
            for i, config in zip(need, self._base_proposals(history, len(need), taken, rng)):
                out[i] = config
            self.counts["base"] += len(need)
        return out  # type: ignore[return-value]

    def _thompson(self, obs: list[Observation], kinds: list[str], rng: np.random.Generator) -> list[str]:
        """Give each non-base slot to the base when the base's sampled success rate is higher."""
        ordered = sorted(obs, key=lambda o: o.number)
        wins = {k: [0, 0] for k in _KINDS}
        best = math.inf
        for pos, o in enumerate(ordered):
            if pos >= self.warm_up:
                wins[self.kind_of(pos)][0 if o.loss < best else 1] += 1
            best = min(best, o.loss)
        out = []
        for kind in kinds:
            if kind != "base":
                mine = rng.beta(1 + wins[kind][0], 1 + wins[kind][1])
                base = rng.beta(1 + wins["base"][0], 1 + wins["base"][1])
                kind = kind if mine >= base else "base"
            out.append(kind)
        return out

    def _base_proposals(self, history, k: int, taken: set, rng: np.random.Generator) -> list[dict]:
        try:
            configs = list(self.base.ask(history, n=k))
        except Exception as e:  # a broken base must not crash the study
            _log.warning("homopt: base strategy %s failed (%s: %s); sampling at random", self.base_name, type(e).__name__, e)
            configs = self.space.sample(k, rng=rng)
        out = []
        for c in configs[:k]:
            out.append(c)
            taken.add(_key(c))
        if len(out) < k:
            out += self.space.sample(k - len(out), rng=rng)
        return out

    # --- jitter -----------------------------------------------------------------
    def _jitter_proposal(self, obs: list[Observation], taken: set, rng: np.random.Generator) -> dict | None:
        if not obs:
            return None
        ranked = sorted(obs, key=lambda o: (o.loss, o.number))
        m = min(len(ranked), max(2, int(round(self.top_fraction * len(ranked)))))
        top = np.array([self.space.to_unit(o.config) for o in ranked[:m]])
        best = self.space.to_unit(ranked[0].config, impute=0.5)
        free = ~np.isnan(self.space.to_unit(ranked[0].config))
        floor = self.jitter_floor
        for _ in range(self.max_retries + 1):
            u = jitter_point(best, top, free, self.jitter, self.jitter_spread, floor, rng)
            config = self.space.from_unit(u)
            if _key(config) not in taken:
                return config
            floor *= 2.0
        return None

    # --- homotopy ---------------------------------------------------------------
    def homotopy(self, history: Sequence[FrozenTrial], rng: np.random.Generator | None = None) -> HomotopyResult | None:
        """The homotopy step HomOpt would take on ``history`` (None when no GAM can be fitted).

        Public for inspection and plots; ``ask`` uses the same code.
        """
        if self.space is None:
            raise RuntimeError("HomOptStrategy.setup(space, direction, seed) must be called before homotopy")
        obs = self.observations(history)
        taken = {_key(o.config) for o in obs} | {_key(c) for c in self.pending(history)}
        return self._homotopy(obs, taken, self._rng(history) if rng is None else rng)

    def _homotopy_proposal(self, obs, taken, rng) -> dict | None:
        result = self._homotopy(obs, taken, rng)
        return None if result is None else result.proposal

    def _homotopy(self, obs: list[Observation], taken: set, rng: np.random.Generator) -> HomotopyResult | None:
        from surrogates.base import SurrogateFitError, single_threaded_blas

        if len(obs) < 4:
            return None
        ordered = sorted(obs, key=lambda o: o.number)
        V = np.array([self.space.to_vector(o.config) for o in ordered])
        y = np.array([o.loss for o in ordered])
        k_recent = max(2, int(round(self.recent_fraction * len(ordered))))
        with single_threaded_blas():  # small matrices: extra BLAS threads only contend
            try:
                g1 = self._fit(V[-k_recent:], y[-k_recent:])
                g2 = self._fit(V, y)
            except SurrogateFitError as e:
                _log.info("homopt: GAM not fitted (%s); using the base strategy", e)
                return None
            except Exception as e:  # a bug or a missing package in the surrogate: same fallback, louder
                _log.warning("homopt: GAM fit raised %s: %s; using the base strategy", type(e).__name__, e)
                return None
            try:
                return self._trace(ordered, V, y, g1, g2, taken, rng)
            except Exception as e:  # numerical trouble must not crash the study
                _log.warning("homopt: homotopy step failed (%s: %s); using the base strategy", type(e).__name__, e)
                return None

    def _trace(self, ordered, V, y, g1, g2, taken, rng) -> HomotopyResult | None:
        i_best = int(np.lexsort(([o.number for o in ordered], y))[0])
        v0 = V[i_best].copy()
        dims = np.array([self.space.cs.index_of[name] for name in self.space.names
                         if not self.space.is_categorical(name) and not np.isnan(v0[self.space.cs.index_of[name]])], dtype=int)
        names = [self.space.cs.at[j] for j in dims]
        if len(dims) == 0:
            return None
        x0 = v0[dims]
        if self.trust_radius is None:
            bounds = [(0.0, 1.0)] * len(dims)
        else:
            r = float(self.trust_radius)
            bounds = [(max(0.0, a - r), min(1.0, a + r)) for a in x0]
        p1, p2 = self._predictor(g1), self._predictor(g2)
        t1 = AdditiveTables.build(p1, v0, dims, self.grid)
        t2 = AdditiveTables.build(p2, v0, dims, self.grid)
        additive = max(t1.check(p1, rng), t2.check(p2, rng)) < 1e-6
        if additive:
            f1, f2, maxfev = t1, t2, self.nm_maxfev or 100 * len(dims)
        else:
            f1, f2 = _direct(p1, v0, dims), _direct(p2, v0, dims)
            maxfev = self.nm_maxfev or 20 * len(dims)
        path = trace_homotopy(f1, f2, x0, bounds, self.ts, maxfev, self.nm_xatol)
        configs = []
        for x in path.points:
            v = v0.copy()
            v[dims] = x
            configs.append(self.space.from_vector(v))
        proposal = None
        for i in np.argsort(path.g2, kind="stable"):
            if _key(configs[i]) not in taken:
                proposal = configs[i]
                break
        return HomotopyResult(path, names, configs, proposal, additive, p1, p2)

    def _fit(self, V: np.ndarray, y: np.ndarray):
        from surrogates.gam import GAMSurrogate

        enc = self._get_encoder()
        if self.y_scale == "standard":
            y = (y - np.mean(y)) / (np.std(y) or 1.0)
        gam = GAMSurrogate(categorical=enc.categorical, n_categories=enc.n_categories, n_splines=self.n_splines, lam=self.lam)
        return gam.fit(enc.transform(V), y)

    def _predictor(self, model):
        enc = self._get_encoder()
        return lambda V: model.predict(enc.transform(V))[0]

    def _get_encoder(self):
        if getattr(self, "_encoder", None) is None:
            from surrogates.encoding import Encoder

            self._encoder = Encoder(self.space.cs, one_hot=False)
        return self._encoder

    def _holdout_rho(self, obs: list[Observation]) -> float | None:
        """How well the GAM fitted on the older 80% of trials ranks the newest 20% (Spearman).

        None when there are too few trials or the hold-out GAM cannot be fitted.
        """
        from scipy.stats import spearmanr

        from surrogates.base import single_threaded_blas

        ordered = sorted(obs, key=lambda o: o.number)
        n_test = max(3, len(ordered) // 5)
        if len(ordered) - n_test < 4:
            return None
        V = np.array([self.space.to_vector(o.config) for o in ordered])
        y = np.array([o.loss for o in ordered])
        try:
            with single_threaded_blas():
                model = self._fit(V[:-n_test], y[:-n_test])
                pred = self._predictor(model)(V[-n_test:])
        except Exception as e:  # SurrogateFitError or worse: keep the fixed rotation
            _log.info("homopt: hold-out GAM not fitted (%s: %s)", type(e).__name__, e)
            return None
        rho = float(spearmanr(pred, y[-n_test:]).statistic)
        return rho if np.isfinite(rho) else None


def _direct(predict, v0: np.ndarray, dims: np.ndarray):
    def f(x: np.ndarray) -> float:
        v = v0.copy()
        v[dims] = x
        return float(predict(v[None, :])[0])

    return f


def _key(config: dict) -> tuple:
    return tuple(sorted(config.items()))


def _rotation(period: int, *slot_lists: tuple[int, ...]) -> dict[int, str]:
    """Slot -> kind; every slot of the rotation listed exactly once."""
    slots: dict[int, str] = {}
    for kind, values in zip(_KINDS, slot_lists):
        for v in values:
            if not 0 <= v < period:
                raise ValueError(f"HomOptStrategy: {kind}_slots contains {v}; slots must be integers in [0, period={period})")
            if v in slots:
                raise ValueError(f"HomOptStrategy: slot {v} is listed in both {slots[v]}_slots and {kind}_slots; "
                                 "list each slot once")
            slots[v] = kind
    if len(slots) != period:
        missing = sorted(set(range(period)) - set(slots))
        raise ValueError(f"HomOptStrategy: slots {missing} of the rotation (period={period}) are in no *_slots; "
                         "assign every slot")
    return slots


def _make_base(base: str | Strategy, base_kwargs: dict | None) -> tuple[str, Strategy]:
    """The base strategy's name and instance."""
    from hpo.strategies.registry import make_strategy

    if isinstance(base, str):
        if base.partition(":")[0] == "homopt":
            raise ValueError(f"HomOptStrategy: base={base!r}: HomOpt cannot wrap itself; use a base such as 'random' or 'tpe'")
        return base, make_strategy(base, **(base_kwargs or {}))
    if base_kwargs:
        raise ValueError("HomOptStrategy: base_kwargs only applies when base is a name; configure the instance directly")
    return getattr(base, "name", type(base).__name__), make_strategy(base)
