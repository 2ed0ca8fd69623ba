"""Gaussian-process Bayesian optimisation on BoTorch.

The loop: a short space-filling start (the centre of the space, then a scrambled Sobol
sequence); then a BoTorch ``SingleTaskGP`` (RBF kernel with BoTorch's dimension-scaled
priors, input normalisation, outcome standardisation; losses Yeo-Johnson-transformed first)
on unit-cube features (numerics in [0, 1], categoricals one-hot, inactive conditional
parameters at a fixed value outside [0, 1]) and log expected improvement. Running trials,
and points proposed earlier in the same call, enter as ``X_pending`` of a quasi-Monte-Carlo
log EI, so parallel workers spread out instead of colliding. Failed trials count as the
worst loss seen, so the model steers away from them.

The acquisition is maximised over candidates scored in batches, which is where a GP is
cheap: Sobol points and perturbations of the best trials (categoricals flipped, a
conditional parent's children included), then rounds of smaller perturbations around the
best candidates; optionally (``maxiter > 0``) the best few are refined by BoTorch's
L-BFGS-B (``gen_candidates_scipy``) over their active numeric features, categoricals held
fixed. Candidates are decoded (integers rounded, inactive parameters dropped), and the few
best untried ones are re-encoded and scored again: the best wins.

Purity and speed: the GP hyperparameters are refitted at 2, 3, 4, 5, 6, 8, 11, 16, 23, 32,
45, 64 ... finished trials (a factor of about sqrt(2)), each fit warm-started from the
previous one and all of them cached; every call conditions the latest on all data. Torch
runs on one thread with a generator seeded by (seed, trial number) inside the call, so a
proposal is a function of (seed, history) on any machine and in any process.

Example:
    >>> import hpo
    >>> s = BoTorchStrategy(n_initial=3)
    >>> s.setup(hpo.Space({"x": hpo.Float(0, 1), "k": hpo.Categorical(["a", "b"])}), "minimize", seed=0)
    >>> len(s.ask([], n=2))
    2
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
import zlib
from typing import Iterator

import numpy as np
from scipy.stats import qmc

from hpo.extras import require
from hpo.strategies._acquisition import UnitFeatures
from hpo.strategies._history import config_key, drop_inactive
from hpo.strategies.base import BaseStrategy, History, Observation
from hpo.strategies.params import Boolean, Choice, Integer, Real

__all__ = ["BoTorchStrategy", "refit_point"]

_log = logging.getLogger(__name__)
_INACTIVE = -0.5  # the value UnitFeatures gives an inactive numeric parameter


def refit_point(n: int) -> int:
    """The number of finished trials the hyperparameters are fitted on when ``n`` are finished.

    Refits at 2, 3, 4, 5, 6, then about every factor sqrt(2) (8, 11, 16, 22, 32, 45, 64, 90,
    128, 181, 256), then every 64 trials: a fit costs tens of model evaluations, conditioning
    on new data one.
    """
    if n < 2:
        return n
    if n <= 6:
        return n
    k = int(math.floor(2 * math.log2(n) + 1e-9))
    while k > 0 and round(2 ** (k / 2)) > n:
        k -= 1
    return 256 + (n - 256) // 64 * 64 if n >= 256 else int(round(2 ** (k / 2)))


class BoTorchStrategy(BaseStrategy):
    """GP-BO with BoTorch: log EI, pending trials as ``X_pending``, a centre + Sobol start.

    Args:
        n_initial: trials from the space-filling start before the GP takes over (default
            ``max(3, min(5, d + 1))`` for ``d`` hyperparameters: with BoTorch's
            dimension-scaled priors a GP is of use from a handful of points, and every
            start trial is one the model does not choose).
        centre: make the first trial the centre of the space (the middle of each numeric
            range, on the log scale where declared; categoricals as in the first Sobol point).
        raw_samples: candidates scored first (half Sobol, half around the best trials).
        num_restarts: best candidates searched around (and refined, with ``maxiter > 0``).
        maxiter: L-BFGS-B iterations of the refinement (0: none; the batched search only).
        refine_after: refine only once this many trials have finished (early on, when the
            model is rough, a sharper optimum of its acquisition is not a better trial).
        max_train: at most this many finished trials train the GP (the best half of them and
            an even spread of the rest), which bounds the cost of long runs.
        y_transform: ``"power"`` (Yeo-Johnson, then standardisation: losses with heavy tails
            stop dominating the fit), ``"winsorize"`` (losses beyond Tukey's upper fence,
            the third quartile plus 1.5 interquartile ranges, clipped to it, then
            standardisation: the bad tail is tamed, the good one kept as it is, as Ax
            does) or ``"standardize"``.
        acquisition: ``"logei"`` (log expected improvement over the best target seen;
            quasi-Monte-Carlo with pending points) or ``"lognei"`` (BoTorch's noisy log EI,
            improvement over the model's belief at the trials so far, as Ax does).
        mc_samples: quasi-Monte-Carlo samples of the MC acquisitions.
        explore_every: while the best loss has not improved for ``k * explore_every``
            finished trials (k = 1, 2, ...), that trial maximises an upper confidence bound
            instead of EI (0: never): EI keeps refining a basin it has solved, a bound with
            ``explore_beta`` looks where the model is unsure.
        explore_beta: the bound's beta (mean plus ``sqrt(beta)`` standard deviations).
        local_scale: standard deviation (unit cube) of the perturbations around the best trials.
        fit_maxiter: L-BFGS-B iterations of a warm-started hyperparameter fit (three times
            as many from the priors).
        local_rounds: rounds of batched search around the best candidates, each at a
            scale 2.5 times smaller.
        refit: when the GP hyperparameters are fitted again: ``"schedule"`` (at the points of
            :func:`refit_point`) or ``"every"`` (after every finished trial up to 128, then the
            schedule), as Ax does: two to three times the CPU per trial, and not better on the
            dev half (the default experiment's ``candidates`` sweep), so not the default.
        cold_fits: when a fit from the priors competes with the warm-started one (the better
            marginal likelihood wins): ``"milestones"`` (at 64 and 256 trials) or ``"always"``
            (at every refit point, so a poor optimum the chain fell into is left as soon as
            a fresh fit finds better): a cold fit costs three warm ones, and it was not better
            on the dev half (the ``candidates`` sweep), so not the default.

    Example:
        >>> import hpo
        >>> study = hpo.create_study(space={"x": hpo.Float(-2, 2)}, strategy="botorch", seed=1)
        >>> study.optimize(lambda t: (t.params["x"] - 0.7) ** 2, n_trials=10)
        >>> abs(study.best_params["x"] - 0.7) < 0.3
        True
    """

    name = "botorch"

    params = {
        "n_initial": Integer(1, none=True),
        "centre": Boolean(),
        "raw_samples": Integer(8),
        "num_restarts": Integer(1),
        "maxiter": Integer(0),
        "refine_after": Integer(0),
        "max_train": Integer(8),
        "y_transform": Choice("power", "winsorize", "standardize"),
        "acquisition": Choice("logei", "lognei"),
        "mc_samples": Integer(8),
        "explore_every": Integer(0),
        "explore_beta": Real(0),
        "local_scale": Real(0),
        "fit_maxiter": Integer(1),
        "local_rounds": Integer(0),
        "refit": Choice("schedule", "every"),
        "cold_fits": Choice("milestones", "always"),
    }

    def __init__(self, n_initial: int | None = None, centre: bool = True, raw_samples: int = 512,
                 num_restarts: int = 4, maxiter: int = 0, refine_after: int = 0, max_train: int = 250,
                 y_transform: str = "power", acquisition: str = "logei", mc_samples: int = 128,
                 explore_every: int = 0, explore_beta: float = 4.0, local_scale: float = 0.1,
                 fit_maxiter: int = 20, local_rounds: int = 2, refit: str = "schedule", cold_fits: str = "milestones"):
        require("botorch", "strategy 'botorch'")
        super().__init__(n_initial=n_initial, centre=centre, raw_samples=raw_samples, num_restarts=num_restarts,
                         maxiter=maxiter, refine_after=refine_after, max_train=max_train, y_transform=y_transform,
                         acquisition=acquisition, mc_samples=mc_samples, explore_every=explore_every,
                         explore_beta=explore_beta, local_scale=local_scale,
                         fit_maxiter=fit_maxiter, local_rounds=local_rounds, refit=refit, cold_fits=cold_fits)
        self._reset()

    def _reset(self) -> None:
        self._units: dict = {}
        self._chain: dict[int, tuple] = {}

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._features = UnitFeatures(self.space)
        d = len(self.space.names)
        self._n_init = self.n_initial if self.n_initial is not None else max(3, min(5, d + 1))
        self._numeric = np.array([n not in self._features.k for n in self.space.names])
        # feature column of each numeric hyperparameter (categoricals span k one-hot columns)
        cols, j = [], 0
        for name in self.space.names:
            cols.append(j)
            j += self._features.k.get(name, 1)
        self._col = np.array(cols)
        self._reset()

    @property
    def _seed(self) -> int:
        return 0 if self.seed is None else int(self.seed) & 0x7FFFFFFF

    # --- encoding ---------------------------------------------------------------------
    def _unit(self, config: dict) -> np.ndarray:
        key = config_key(config)
        u = self._units.get(key)
        if u is None:
            u = self._units[key] = self.space.to_unit(config)
        return u

    def _decode(self, u: np.ndarray) -> dict:
        full = self.space.from_unit(np.where(np.isnan(u), 0.5, u))
        return drop_inactive(self.space, full)

    # --- proposing ----------------------------------------------------------------------
    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        rows = self.rows(history)
        done = [r for r in rows if r.state == "complete"]
        failed = [r for r in rows if r.state == "failed"]
        pending = [r.config for r in rows if r.state == "pending"]
        seen = {config_key(r.config) for r in rows}
        skip = self.blind_pending(history)  # workers being answered now get our first `skip` points
        out: list[dict] = []
        start_left = self._n_init - len(rows)
        if start_left > 0 or len(done) < 2:
            out = self._start(seen, len(rows), n + skip if len(done) < 2 else min(n + skip, start_left))
            if len(done) < 2:  # nothing to model yet; ask() tops up a tiny space at random
                return out[skip:]
        if len(out) < n + skip:
            with _torch_scope(self._seed, history.asking):
                while len(out) < n + skip:
                    config = self._bo_step(done, failed, pending + out, seen, rng)
                    seen.add(config_key(config))
                    out.append(config)
        return out[skip:]

    def _start(self, seen: set, offset: int, n: int) -> list[dict]:
        """The space-filling start: the centre (first), then the first unseen Sobol points."""
        d = len(self.space.names)
        sobol = qmc.Sobol(d, scramble=True, seed=self._seed)
        draws = sobol.random(max(8, 2 ** int(math.ceil(math.log2(max(2, 2 * (n + offset + 1)))))))
        if self.centre:
            centre = draws[0].copy()
            centre[self._numeric] = 0.5
            draws = np.vstack([centre, draws])
        out: list[dict] = []
        for u in draws:
            config = self._decode(u)
            key = config_key(config)
            if key not in seen:
                seen.add(key)
                out.append(config)
                if len(out) == n:
                    break
        return out

    def _training_rows(self, done: list[Observation]) -> list[Observation]:
        if len(done) <= self.max_train:
            return done
        by_loss = sorted(done, key=lambda r: (r.loss, r.number))
        best = by_loss[: self.max_train // 2]
        rest = sorted(by_loss[self.max_train // 2:], key=lambda r: r.number)
        pick = np.unique(np.linspace(0, len(rest) - 1, self.max_train - len(best)).round().astype(int))
        return sorted(best + [rest[i] for i in pick], key=lambda r: r.number)

    def _targets(self, losses: np.ndarray) -> np.ndarray:
        """Model targets (larger is better) from losses: negated, power-transformed if asked."""
        y = -np.asarray(losses, float)
        if self.y_transform == "winsorize" and len(y) >= 4:
            q1, q3 = np.percentile(y, [25, 75])
            return np.maximum(y, q1 - 1.5 * (q3 - q1))
        if self.y_transform == "power" and len(y) >= 3 and np.ptp(y) > 0:
            from scipy.stats import yeojohnson

            z = (y - y.mean()) / y.std()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    t, _ = yeojohnson(z)
                    if np.all(np.isfinite(t)) and np.ptp(t) > 0:
                        return t
                except (ValueError, FloatingPointError, OverflowError):
                    pass
        return y

    def _bo_step(self, done: list[Observation], failed: list[Observation], pending: list[dict], seen: set,
                 rng: np.random.Generator) -> dict:
        train = self._training_rows(done)
        losses = np.array([r.loss for r in train], float)
        configs = [r.config for r in train]
        if failed:  # a failed trial counts as the worst loss seen
            configs += [r.config for r in failed]
            losses = np.concatenate([losses, np.full(len(failed), losses.max())])
        U = np.array([self._unit(c) for c in configs])
        X = _tensor(self._features.transform(U))
        Y = _tensor(self._targets(losses)).unsqueeze(-1)
        try:
            model = self._model(done, X, Y)
        except Exception as e:  # a numerically hopeless fit: keep going at random
            _log.warning("BoTorch GP fit failed (%s); proposing at random", e)
            return self.space.sample(1, rng=rng)[0]
        Xp = _tensor(self._features.transform(np.array([self._unit(c) for c in pending]))) if pending else None
        if self._exploring(done):
            acq = self._bound(model, Xp)
        else:
            acq = self._acquisition(model, float(Y.max()), X[: len(train)], Xp)
        order = np.argsort(losses[: len(train)])[:5]
        refine = self.maxiter if len(done) >= self.refine_after else 0
        return self._maximise(acq, U[order], seen, rng, refine)

    def _model(self, done: list[Observation], X, Y):
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Normalize, Standardize

        d = X.shape[-1]
        hypers = self._hypers_at(done, self._refit_point(len(done)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. BoTorch's notice on equal losses (nothing to standardise)
            model = SingleTaskGP(X, Y, input_transform=Normalize(d, bounds=torch_bounds(d, X.dtype)),
                                 outcome_transform=Standardize(1))
        model.load_state_dict(hypers, strict=False)
        model.eval()
        return model

    def _hypers_at(self, done: list[Observation], m: int) -> dict:
        """GP hyperparameters fitted on ``done[:m]``, warm-started from the previous refit point's.

        A chain of fits, each a function of a prefix of the history, memoised by that prefix:
        a fresh instance recomputes the chain and gets the same numbers. At 64 and 256 trials
        (at every point with ``cold_fits="always"``) a cold fit (from the priors) competes
        with the warm one, so the chain cannot stay stuck in a poor optimum of the marginal
        likelihood.
        """
        key = (m, zlib.crc32(np.array([r.number for r in done[:m]], np.int64).tobytes()),
               tuple(r.loss for r in done[:m]))
        hit = self._chain.get(m)
        if hit is not None and hit[0] == key:
            return hit[1]
        start = self._refit_point(max(2, self._n_init))
        init = self._hypers_at(done, max(start, self._refit_point(m - 1))) if m > start else None
        sub = self._training_rows(done[:m])
        Xf = _tensor(self._features.transform(np.array([self._unit(r.config) for r in sub])))
        Yf = _tensor(self._targets(np.array([r.loss for r in sub]))).unsqueeze(-1)
        fits = [_fit(Xf, Yf, init, self.fit_maxiter if init is not None else 3 * self.fit_maxiter)]
        if init is not None and (self.cold_fits == "always" or m in (64, 256)):
            fits.append(_fit(Xf, Yf, None, 3 * self.fit_maxiter))
        hypers = max(fits, key=lambda f: f[1])[0]
        self._chain[m] = (key, hypers)
        return hypers

    def _refit_point(self, n: int) -> int:
        return n if self.refit == "every" and n <= 128 else refit_point(n)

    def _exploring(self, done: list[Observation]) -> bool:
        """Whether this proposal explores: ``k * explore_every`` finished trials since the last
        improvement of the best loss."""
        if not self.explore_every or not done:
            return False
        stalled = len(done) - 1 - int(np.argmin([r.loss for r in done]))  # argmin: the first reaching the best
        return stalled >= self.explore_every and stalled % self.explore_every == 0

    def _sampler(self):
        """The quasi-Monte-Carlo sampler of the MC acquisitions, seeded by the study's seed."""
        import torch
        from botorch.sampling.normal import SobolQMCNormalSampler

        return SobolQMCNormalSampler(sample_shape=torch.Size([self.mc_samples]), seed=self._seed)

    def _bound(self, model, Xp):
        from botorch.acquisition.analytic import UpperConfidenceBound
        from botorch.acquisition.monte_carlo import qUpperConfidenceBound

        if Xp is None:
            return UpperConfidenceBound(model, beta=self.explore_beta)
        return qUpperConfidenceBound(model, beta=self.explore_beta, sampler=self._sampler(), X_pending=Xp)

    def _acquisition(self, model, best: float, X, Xp):
        from botorch.acquisition.analytic import LogExpectedImprovement
        from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement

        if Xp is None and self.acquisition == "logei":
            return LogExpectedImprovement(model, best_f=best)
        sampler = self._sampler()
        if self.acquisition == "lognei":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return qLogNoisyExpectedImprovement(model, X_baseline=X, sampler=sampler, X_pending=Xp,
                                                    prune_baseline=True)
        return qLogExpectedImprovement(model, best_f=best, sampler=sampler, X_pending=Xp)

    def _candidates(self, best_units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Unit-cube candidates: Sobol points and perturbations of the best trials."""
        d = len(self.space.names)
        n_local = self.raw_samples // 2
        sobol = qmc.Sobol(d, scramble=True, seed=rng.integers(2**31 - 1)).random(self.raw_samples - n_local)
        base = np.nan_to_num(best_units, nan=0.5)
        centres = base[rng.integers(len(base), size=n_local)]
        local = centres + rng.normal(size=centres.shape) * self.local_scale
        flip = (~self._numeric) & (rng.random(centres.shape) < 1.0 / max(2, d))
        local = np.where(flip, rng.random(centres.shape), local)
        # a conditional parent's flip may activate children: give them fresh values
        return np.clip(np.vstack([sobol, local]), 0.0, 1.0)

    def _maximise(self, acq, best_units: np.ndarray, seen: set, rng: np.random.Generator, maxiter: int) -> dict:
        import torch
        from botorch.generation.gen import gen_candidates_scipy

        U = self._candidates(best_units, rng)
        feats = self._features
        active = feats.active(U)
        X = _tensor(feats.transform(U, active))
        with torch.no_grad():
            values = _batched(acq, X)
        scale = self.local_scale
        for _ in range(self.local_rounds):  # batched local search around the best candidates so far
            scale /= 2.5
            best = U[np.argsort(-values)[: self.num_restarts]]
            base = best[rng.integers(len(best), size=128)]
            near = np.clip(base + rng.normal(size=base.shape) * scale * self._numeric, 0, 1)  # categoricals kept
            a_near = feats.active(near)
            with torch.no_grad():
                v_near = _batched(acq, _tensor(feats.transform(near, a_near)))
            U, active, values = np.vstack([U, near]), np.vstack([active, a_near]), np.concatenate([values, v_near])
            X = torch.cat([X, _tensor(feats.transform(near, a_near))])
        order = np.argsort(-values)
        top = order[: self.num_restarts]
        # refine the active numeric features of the best candidates; everything else held fixed
        free = np.zeros((len(top), X.shape[-1]), bool)
        for j in np.flatnonzero(self._numeric):
            free[:, self._col[j]] = active[top, j]
        X0 = X[top].unsqueeze(1)
        lo = torch.where(_tensor(free).unsqueeze(1).bool(), torch.zeros_like(X0), X0)
        hi = torch.where(_tensor(free).unsqueeze(1).bool(), torch.ones_like(X0), X0)
        refined = U[top].copy()
        if free.any() and maxiter > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Xr, _ = gen_candidates_scipy(X0, acq, lower_bounds=lo, upper_bounds=hi,
                                             options={"maxiter": maxiter}, use_parallel_mode=False)
            Xr = Xr.detach().squeeze(1).numpy()
            for j in np.flatnonzero(self._numeric):
                refined[:, j] = np.where(active[top, j], Xr[:, self._col[j]], refined[:, j])
        # decode in order of promise until a few untried configurations are found, then rescore
        # them exactly (rounding integers and dropping inactive parameters moves a point)
        cand = np.vstack([refined, U[order]]) if maxiter > 0 else U[order]
        keys, unique = set(), []
        for c in self._decode_many(cand, feats.active(cand)):
            k = config_key(c)
            if k not in seen and k not in keys:
                keys.add(k)
                unique.append(c)
                if len(unique) == self.num_restarts + 2:
                    break
        if not unique:  # every candidate is tried already (a small discrete space)
            return self.space.sample(1, rng=rng)[0]
        Xu = _tensor(feats.transform(np.array([self._unit(c) for c in unique])))
        with torch.no_grad():
            scores = _batched(acq, Xu)
        return unique[int(np.argmax(scores))]

    def _decode_many(self, U: np.ndarray, active: np.ndarray) -> list[dict]:
        """Configurations of many unit-cube rows at once (ConfigSpace's vector decoding, in bulk)."""
        V = np.clip(U, 0.0, 1.0).copy()
        for j, name in enumerate(self.space.names):
            if name in self._features.k:
                V[:, j] = np.minimum(np.floor(V[:, j] * self._features.k[name]), self._features.k[name] - 1)
        return self.space.decode(np.where(active, V, np.nan))


def torch_bounds(d: int, dtype):
    import torch

    return torch.stack([torch.full((d,), _INACTIVE, dtype=dtype), torch.ones(d, dtype=dtype)])


def _tensor(a: np.ndarray):
    import torch

    return torch.as_tensor(np.asarray(a, float), dtype=torch.float64)


def _batched(acq, X, size: int = 1024) -> np.ndarray:
    import torch

    out = [acq(X[i: i + size].unsqueeze(1)) for i in range(0, len(X), size)]
    return torch.cat(out).detach().numpy().astype(float)


def _fit(X, Y, init: dict | None, maxiter: int) -> tuple[dict, float]:
    """Fit a GP's hyperparameters by maximum a posteriori (L-BFGS-B), optionally from ``init``;
    return them and the final log marginal likelihood (priors included)."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    d = X.shape[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SingleTaskGP(X, Y, input_transform=Normalize(d, bounds=torch_bounds(d, X.dtype)),
                             outcome_transform=Standardize(1))
        if init is not None:
            model.load_state_dict(init, strict=False)
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    model.train()
    with torch.no_grad():
        value = float(mll(model(*model.train_inputs), model.train_targets))
    hypers = {k: v.detach().clone() for k, v in model.state_dict().items()
              if not k.startswith(("outcome_transform", "input_transform"))}
    return hypers, value


@contextlib.contextmanager
def _torch_scope(seed: int, number: int) -> Iterator[None]:
    """One thread, float64 and a generator seeded by (seed, trial number) for the call;
    the caller's torch settings and global generator are restored afterwards. Notices of
    jitter added to a covariance (``NumericalWarning``) are not the user's concern."""
    import gpytorch
    import torch
    from linear_operator.utils.warnings import NumericalWarning

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]), gpytorch.settings.debug(False), warnings.catch_warnings():
            warnings.simplefilter("ignore", NumericalWarning)
            torch.manual_seed(zlib.crc32(f"{seed}|{number}".encode()))
            yield
    finally:
        torch.set_num_threads(threads)
