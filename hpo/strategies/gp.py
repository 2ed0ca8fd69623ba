"""Gaussian-process Bayesian optimisation on :class:`surrogates.gp.GPSurrogate`.

The loop: a scrambled Sobol initial design; then a Matérn 5/2 ARD GP on unit-cube
features (categoricals one-hot, inactive conditionals imputed) and log expected
improvement, maximised by random sampling plus batched local search. Running trials
and earlier proposals of the same call are fantasised with a constant liar (the best
observed loss by default), so parallel workers and ``ask(n>1)`` spread out; a running trial
whose params are not chosen yet (another worker asking at the same moment) makes us skip
the point that worker receives.

Purity and speed: the kernel hyperparameters are optimised on the first ``m`` finished
trials (by trial number; at most ``max_fit_points`` of them, evenly spread), ``m`` the last
refit point (every trial up to 20, then about every ``n/20`` trials), and cached; every
call conditions that kernel on all data. So a call costs a kernel refactorisation, not a
hyperparameter fit, most of the time, and the proposal is still a function of (seed,
history).
"""

from __future__ import annotations

import logging
import warnings
import zlib

import numpy as np
from scipy.stats import qmc

from hpo.strategies._acquisition import UnitCodec, UnitFeatures, log_expected_improvement, maximize
from hpo.strategies._history import config_key
from hpo.strategies.base import BaseStrategy, History, Observation
from hpo.strategies.params import Choice, Integer, Real
from surrogates.base import SurrogateFitError, single_threaded_blas
from surrogates.gp import GPSurrogate

__all__ = ["GPStrategy"]

_log = logging.getLogger(__name__)
_LIARS = ("mean", "min", "max")


def _refit_point(n: int) -> int:
    """The number of finished trials the kernel hyperparameters are fitted on."""
    every = max(1, n // 20)
    return n - n % every


class GPStrategy(BaseStrategy):
    """GP-BO with log EI, a Sobol initial design and constant-liar parallelism.

    Args:
        n_initial: Sobol points before the GP takes over (default None:
            ``min(20, max(5, 2 (d + 1)))`` for ``d`` hyperparameters).
        n_candidates: random points of the unit cube scored per acquisition maximisation
            (default 512).
        n_local: the best of them refined by local search (default 5).
        liar: the loss given to running trials while the GP fantasises them: ``"min"`` (the
            best observed loss, default), ``"mean"`` or ``"max"`` (the worst). The optimistic
            liar lets a second worker search near a good basin without taking the same point.
        n_restarts: restarts of the kernel hyperparameter fit (default 1).
        xi: exploration margin of expected improvement, in loss units (default 0.0).
        max_fit_points: the kernel hyperparameters are fitted on at most this many trials,
            evenly spread over the history, and the GP is then conditioned on all of them
            (default 64).

    Example:
        >>> import hpo
        >>> s = GPStrategy(n_initial=3)
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> len(s.ask([], n=2))
        2
    """

    name = "gp"

    params = {"n_initial": Integer(1, none=True), "n_candidates": Integer(1), "n_local": Integer(1),
              "liar": Choice(*_LIARS), "n_restarts": Integer(0), "xi": Real(0), "max_fit_points": Integer(2)}

    def __init__(self, n_initial: int | None = None, n_candidates: int = 512, n_local: int = 5,
                 liar: str = "min", n_restarts: int = 1, xi: float = 0.0, max_fit_points: int = 64):
        super().__init__(n_initial=n_initial, n_candidates=n_candidates, n_local=n_local, liar=liar,
                         n_restarts=n_restarts, xi=xi, max_fit_points=max_fit_points)
        self._fit_key = None
        self._gp: GPSurrogate | None = None

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._features = UnitFeatures(self.space)
        d = len(self.space.names)
        self._n_init = self.n_initial if self.n_initial is not None else min(20, max(5, 2 * (d + 1)))
        self._codec, self._fit_key, self._gp = UnitCodec(self.space), None, None

    @property
    def _seed(self) -> int:
        return 0 if self.seed is None else int(self.seed) & 0x7FFFFFFF

    # --- proposing ---------------------------------------------------------------------
    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        rows = self.rows(history)
        done = [r for r in rows if r.state == "complete"]
        seen = {config_key(r.config) for r in rows}
        pending = [r.config for r in rows if r.state == "pending"]
        skip = self.blind_pending(history)  # other workers being answered now get our first `skip` points
        out: list[dict] = []
        if len(done) < self._n_init:
            out = self._sobol(seen, min(n + skip, self._n_init - len(done)))
        with single_threaded_blas():
            while len(out) < n + skip:
                config = self._bo_step(done, pending + out, seen, rng)
                seen.add(config_key(config))
                out.append(config)
        return out[skip:]

    def _sobol(self, seen: set, n: int) -> list[dict]:
        """The first ``n`` points of the strategy's Sobol sequence not in the history."""
        d = len(self.space.names)
        sobol = qmc.Sobol(d, scramble=True, seed=self._seed)
        out: list[dict] = []
        for _ in range(8):
            with warnings.catch_warnings():  # a prefix of the sequence, not a balanced set: intended
                warnings.filterwarnings("ignore", message="The balance properties of Sobol")
                points = sobol.random(max(8, 2 * (n + len(seen))))
            for u in points:
                config = self._codec.config(u)
                if config_key(config) not in seen:
                    seen.add(config_key(config))
                    out.append(config)
                    if len(out) == n:
                        return out
        return out

    def _fit(self, done: list[Observation], X: np.ndarray, y: np.ndarray) -> GPSurrogate:
        m = _refit_point(len(done))
        key = (m, zlib.crc32(np.array([r.number for r in done[:m]], np.int64).tobytes()),
               tuple(r.loss for r in done[:m]))
        if key != self._fit_key or self._gp is None:
            gp = GPSurrogate(n_restarts=self.n_restarts, seed=self._seed)
            rows = np.arange(m)
            if m > self.max_fit_points:  # hyperparameters from an even spread of the history: O(k^3), not O(m^3)
                rows = np.unique(np.linspace(0, m - 1, self.max_fit_points).round().astype(int))
            gp.fit(X[rows], y[rows])
            self._gp, self._fit_key = gp, key
        return self._gp

    def _bo_step(self, done: list[Observation], pending: list[dict], seen: set, rng: np.random.Generator) -> dict:
        U = np.array([self._codec.unit(r.config) for r in done])
        y = np.array([r.loss for r in done], float)
        X = self._features.transform(U)
        try:
            gp = self._fit(done, X, y)
            if pending:
                lie = {"mean": y.mean(), "min": y.min(), "max": y.max()}[self.liar]
                Xp = self._features.transform(np.array([self._codec.unit(c) for c in pending]))
                gp.fit(np.vstack([X, Xp]), np.concatenate([y, np.full(len(Xp), lie)]), optimize=False)
            else:
                gp.fit(X, y, optimize=False)
        except SurrogateFitError as e:
            _log.warning("GP fit failed (%s); proposing at random", e)
            return self.space.sample(1, rng=rng)[0]
        best = float(y.min())
        feats = self._features

        def acq(Uc: np.ndarray) -> np.ndarray:
            mean, std = gp.predict(feats.transform(Uc, feats.active(Uc)))
            return log_expected_improvement(mean, std, best, self.xi)

        order = np.argsort(y)[: self.n_local]
        starts = np.nan_to_num(U[order], nan=0.5)
        for _ in range(3):
            u, _ = maximize(acq, U.shape[1], rng, starts=starts, n_random=self.n_candidates, n_local=self.n_local)
            config = self._codec.config(u)
            if config_key(config) not in seen:
                return config
            starts = None  # the optimum is taken (a discrete space): search again from random points
        return self.space.sample(1, rng=rng)[0]
