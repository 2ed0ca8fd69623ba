"""Generalised additive model surrogate on pygam: spline terms for numbers, factor terms for categories.

The model is ``y = b + sum_j g_j(x_j)``, fitted by pygam's ``LinearGAM`` (penalised
least squares, second-derivative penalty on splines, ridge on factors, all with
weight ``lam``). It is what HomOpt (Abraham et al., 2023) fits along its homotopy
path, with three fixes over the reference implementation:

* categorical columns get factor terms ``f(i)``, one coefficient per level, not a
  spline through integer codes (levels never seen in training contribute 0);
* the number of splines per numeric feature adapts to the data (rule below), so
  a fit on few rows stays determined instead of interpolating wildly;
* every failure (too few rows, a singular system, any pygam exception) becomes a
  one-line :class:`~surrogates.base.SurrogateFitError` the caller can fall back on.

**Spline rule** (``n_splines=None``). With ``n`` rows, ``free = n - 1 - sum(L_c - 1)``
rows remain after the intercept and the factor terms (``L_c`` = levels seen in column
``c``); ``per = free // m`` for ``m`` numeric features. Each numeric feature gets a
cubic spline ``s(i, n_splines=min(max_splines, per + 1))`` when ``per >= 3``, a linear
term ``l(i)`` when ``1 <= per < 3``, and the fit raises SurrogateFitError when
``per < 1`` (fewer rows than a linear model needs). A spline with ``k`` basis functions
adds ``k - 1`` coefficients beyond the intercept, so the model never has more free
coefficients than rows. At 200 rows and 6 numeric features that is the reference's 25
splines; at 20 rows, 4.

**Inactive conditionals.** :class:`~surrogates.encoding.Encoder` imputes an inactive
numeric value with a constant outside [0, 1] (default -0.5). The spline's range then
covers that constant too, and the basis functions around it act as a separate level
for "inactive", joined smoothly to the active range by the penalty; an inactive
categorical has its own code, hence its own factor level. Columns that are constant
in the training data carry no information and get no term.

**Std.** ``predict`` returns the standard error of the fitted mean, from pygam's
posterior covariance of the coefficients (``statistics_["cov"]``; the quantity behind
pygam's ``confidence_intervals``), or with ``std="predictive"`` that plus the residual
variance (pygam's ``prediction_intervals``). It is floored at ``1e-9`` times the spread
of the training targets.

**Speed.** pygam's own ``predict`` costs about a millisecond per call whatever the
size of ``X`` (building sparse model matrices). After the fit this class keeps the
coefficients and evaluates the same basis with ``scipy.interpolate.BSpline``
(identity coefficients give every basis function at once; pygam's linear
extrapolation outside the data range is reproduced), which is much cheaper for the
one-point calls of a Nelder-Mead search. ``tests/surrogates`` checks it against
``LinearGAM.predict`` and ``LinearGAM.confidence_intervals``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.c_[rng.random(80), rng.integers(0, 3, 80)]
    >>> y = np.sin(4 * X[:, 0]) + np.array([0.0, 1.0, -1.0])[X[:, 1].astype(int)]
    >>> gam = GAMSurrogate(categorical=[1], n_categories={1: 3}).fit(X, y)
    >>> [type(t).__name__ for t in gam.gam_.terms]
    ['SplineTerm', 'FactorTerm', 'Intercept']
    >>> mean, std = gam.predict(np.array([[0.5, 1.0]]))
    >>> bool(abs(mean[0] - (np.sin(2.0) + 1.0)) < 0.05)
    True
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
from scipy.interpolate import BSpline

from surrogates.base import SurrogateFitError, check_X, check_Xy, single_threaded_blas

__all__ = ["GAMSurrogate"]


class GAMSurrogate:
    """pygam ``LinearGAM`` with factor terms for categorical columns and adaptive spline counts.

    Args:
        categorical: columns of ``X`` holding integer category codes (``f(i)`` terms).
        n_categories: levels of each categorical column (codes ``0..L-1``); inferred from
            the training data when missing. ``Encoder(cs, one_hot=False)`` gives both.
        n_splines: splines per numeric feature (>= 4); None adapts it to the data (see module doc).
        lam: smoothing weight of every term (the reference used 1e-4: almost no smoothing).
        max_splines: the most splines the adaptive rule gives one feature.
        std: ``"se"`` (standard error of the mean) or ``"predictive"`` (plus residual noise).
        max_iter: pygam's iteration cap (one suffices for the identity link).

    Attributes:
        gam_: the fitted ``pygam.LinearGAM`` (None for a mean-only model). Its categorical
            columns hold the training levels renumbered ``0..seen-1`` (pygam's factor terms
            need consecutive codes), so call :meth:`predict`, not ``gam_.predict``.
        n_splines_: splines used per numeric feature (0 where a linear term was used).
    """

    def __init__(
        self,
        categorical: Sequence[int] = (),
        n_categories: Mapping[int, int] | None = None,
        n_splines: int | None = None,
        lam: float = 1e-4,
        *,
        max_splines: int = 25,
        std: str = "se",
        max_iter: int = 100,
    ):
        self.categorical = sorted({int(c) for c in categorical})
        if len(self.categorical) != len(list(categorical)):
            raise ValueError(f"categorical={list(categorical)!r} lists a column twice; list each once")
        if any(c < 0 for c in self.categorical):
            raise ValueError(f"categorical={list(categorical)!r} must hold non-negative column indices")
        self.n_categories = {int(k): int(v) for k, v in (n_categories or {}).items()}
        for col, levels in self.n_categories.items():
            if col not in self.categorical:
                raise ValueError(f"n_categories names column {col}, which is not in categorical={self.categorical}")
            if levels < 1:
                raise ValueError(f"n_categories[{col}]={levels} must be >= 1")
        if n_splines is not None and (not isinstance(n_splines, (int, np.integer)) or n_splines < 4):
            raise ValueError(f"n_splines={n_splines!r} must be an integer >= 4 (cubic splines) or None")
        if not (isinstance(lam, (int, float)) and lam > 0):
            raise ValueError(f"lam={lam!r} must be a positive number")
        if max_splines < 4:
            raise ValueError(f"max_splines={max_splines!r} must be >= 4")
        if std not in ("se", "predictive"):
            raise ValueError(f"std={std!r} must be 'se' (standard error of the mean) or 'predictive'")
        self.n_splines = None if n_splines is None else int(n_splines)
        self.lam = float(lam)
        self.max_splines = int(max_splines)
        self.std = std
        self.max_iter = int(max_iter)
        self.gam_ = None
        self.n_splines_: dict[int, int] = {}
        self._n_features: int | None = None
        self._fitted = False

    def __repr__(self) -> str:
        return f"GAMSurrogate(categorical={self.categorical}, n_splines={self.n_splines}, lam={self.lam})"

    # --- fitting -----------------------------------------------------------
    def fit(self, X: np.ndarray, y: np.ndarray) -> "GAMSurrogate":
        """Fit to ``X`` (n, d) and ``y`` (n,); raises SurrogateFitError when no GAM can be fitted."""
        from pygam import LinearGAM

        X, y = check_Xy(X, y)
        n, d = X.shape
        bad = [c for c in self.categorical if c >= d]
        if bad:
            raise ValueError(f"categorical column {bad[0]} does not exist: X has {d} columns")
        self._n_features = d
        self.gam_ = None
        self._fitted = False
        if n < 2:
            raise SurrogateFitError(f"GAM needs at least 2 rows, got {n}")
        levels = self._levels(X)
        numeric = [j for j in range(d) if j not in levels and np.ptp(X[:, j]) > 0]
        factors = [c for c in self.categorical if len(levels[c]) > 1]
        kinds = self._spline_counts(n, numeric, [len(levels[c]) for c in factors])
        Z = X.copy()
        for c in factors:
            Z[:, c] = np.searchsorted(levels[c], X[:, c])
        terms = self._terms(kinds, factors)
        if terms is None:
            self._set_constant(y)
            self._fitted = True
            return self
        gam = LinearGAM(terms, max_iter=self.max_iter, callbacks=[], fit_intercept=True)
        try:
            with warnings.catch_warnings(), single_threaded_blas(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                gam.fit(Z, y)
        except Exception as e:  # pygam raises many types; the caller only needs to know it failed
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SurrogateFitError(f"pygam could not fit {n} rows x {d} features: {msg}") from e
        coef = np.asarray(gam.coef_, float)
        cov = np.asarray(gam.statistics_["cov"], float)
        if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(cov))):
            raise SurrogateFitError(f"pygam fit on {n} rows is singular (non-finite coefficients)")
        self.gam_ = gam
        self.n_splines_ = {j: k for j, k in kinds.items()}
        self._build_fast_path(gam, kinds, factors, levels, coef, cov, y)
        self._fitted = True
        return self

    def _levels(self, X: np.ndarray) -> dict[int, np.ndarray]:
        out = {}
        for c in self.categorical:
            col = X[:, c]
            if np.any(col < 0) or np.any(col != np.rint(col)):
                raise ValueError(
                    f"categorical column {c} must hold integer codes 0..L-1; use Encoder(cs, one_hot=False)"
                )
            limit = self.n_categories.get(c)
            if limit is not None and col.max() >= limit:
                raise ValueError(f"categorical column {c} has code {int(col.max())} but n_categories[{c}]={limit}")
            out[c] = np.unique(col)
        return out

    def _spline_counts(self, n: int, numeric: list[int], factor_levels: list[int]) -> dict[int, int]:
        """Splines per numeric column: k >= 4 for s(i, n_splines=k), 0 for a linear term l(i)."""
        if not numeric:
            return {}
        if self.n_splines is not None:
            return {j: self.n_splines for j in numeric}
        free = n - 1 - sum(L - 1 for L in factor_levels)
        per = free // len(numeric)
        if per < 1:
            need = 1 + sum(L - 1 for L in factor_levels) + len(numeric)
            raise SurrogateFitError(
                f"too few rows for a GAM: {n} rows, {len(numeric)} numeric and {len(factor_levels)} "
                f"categorical features need at least {need}"
            )
        k = min(self.max_splines, per + 1) if per >= 3 else 0
        return {j: k for j in numeric}

    def _terms(self, kinds: dict[int, int], factors: list[int]):
        from pygam import f, l, s

        terms = []
        for j in sorted(set(kinds) | set(factors)):
            if j in factors:
                terms.append(f(j, lam=self.lam))
            elif kinds[j] >= 4:
                terms.append(s(j, n_splines=kinds[j], lam=self.lam))
            else:
                terms.append(l(j, lam=self.lam))
        if not terms:
            return None
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def _set_constant(self, y: np.ndarray) -> None:
        """No informative column: the model is the mean with its standard error."""
        self.gam_ = None
        self.n_splines_ = {}
        self._blocks = False
        self._coef = np.array([float(np.mean(y))])
        resid = float(np.var(y, ddof=1))
        self._cov = np.array([[resid / len(y)]])
        self._noise_var = resid
        self._floor = 1e-9 * (float(np.std(y)) or 1.0)

    # --- fast prediction -----------------------------------------------------
    def _build_fast_path(self, gam, kinds, factors, levels, coef, cov, y) -> None:
        """Precompute how each term turns columns of X into basis columns (see module doc)."""
        splines: dict[tuple, list] = {}  # (n_splines, order) -> [(feature, first column, offset, scale)]
        linear, factor_blocks = [], []
        col = 0
        for term in gam.terms:
            name = type(term).__name__
            if name == "Intercept":
                self._intercept_col = col
            elif name == "LinearTerm":
                linear.append((term.feature, col))
            elif name == "FactorTerm":
                c = term.feature
                size = max(self.n_categories.get(c, 0), int(levels[c].max()) + 1)
                lookup = np.full(size, -1, dtype=int)
                lookup[levels[c].astype(int)] = np.arange(len(levels[c]))
                factor_blocks.append((c, col, lookup))
            else:
                if term.basis != "ps" or term.by is not None:
                    raise SurrogateFitError(f"unsupported pygam spline term {term!r}")
                edges = np.sort(np.asarray(term.edge_knots_, float))
                key = (int(term.n_splines), int(term.spline_order))
                splines.setdefault(key, []).append((term.feature, col, edges[0], (edges[-1] - edges[0]) or 1.0))
            col += term.n_coefs
        if col != len(coef):
            raise SurrogateFitError(f"unexpected pygam layout: {col} basis columns for {len(coef)} coefficients")
        self._spline_groups = [_SplineGroup(k, order, members) for (k, order), members in splines.items()]
        self._linear_feats = np.array([f for f, _ in linear], dtype=int)
        self._linear_cols = np.array([c for _, c in linear], dtype=int)
        self._factor_blocks = factor_blocks
        self._blocks = bool(splines or linear or factor_blocks)
        self._coef = coef
        self._cov = cov
        self._noise_var = float(gam.statistics_["scale"]) ** 2  # pygam's scale is a std
        self._floor = 1e-9 * (float(np.std(y)) or 1.0)

    def _design(self, X: np.ndarray) -> np.ndarray:
        B = np.zeros((len(X), len(self._coef)))
        B[:, self._intercept_col] = 1.0
        for group in self._spline_groups:
            B[:, group.columns] = group(X)
        if len(self._linear_cols):
            B[:, self._linear_cols] = X[:, self._linear_feats]
        for c, start, lookup in self._factor_blocks:
            codes = X[:, c].astype(int)
            pos = np.where(codes < len(lookup), lookup[np.minimum(codes, len(lookup) - 1)], -1)
            rows = np.flatnonzero(pos >= 0)
            B[rows, start + pos[rows]] = 1.0
        return B

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (see ``std``) at the rows of ``X``; categorical codes as in training."""
        if not self._fitted:
            raise RuntimeError("GAMSurrogate.predict called before a successful fit; call fit(X, y) first")
        X = check_X(X, self._n_features)
        for c in self.categorical:
            col = X[:, c]
            if np.any(col < 0) or np.any(col != np.rint(col)):
                raise ValueError(f"categorical column {c} must hold integer codes, got {col[(col < 0) | (col != np.rint(col))][0]!r}")
        if not self._blocks:
            n = len(X)
            return np.full(n, self._coef[0]), np.full(n, self._std_from_var(np.full(n, self._cov[0, 0])))
        B = self._design(X)
        mean = B @ self._coef
        var = np.einsum("ij,ij->i", B @ self._cov, B)
        return mean, self._std_from_var(var)

    def _std_from_var(self, var):
        var = np.maximum(var, 0.0)
        if self.std == "predictive":
            var = var + self._noise_var
        return np.maximum(np.sqrt(var), self._floor)


class _SplineGroup:
    """pygam's non-periodic B-spline basis for several fitted SplineTerms of one size, via scipy.

    pygam rescales x to [0, 1] over each term's edge knots, places ``n_splines - order + 1``
    uniform knots on [0, 1] plus ``order`` more on each side, and continues the basis
    linearly outside [0, 1]. In rescaled units every term of the same size has the same
    basis, so one ``BSpline`` with identity coefficients evaluates all of them at once.
    """

    def __init__(self, k: int, order: int, members: list[tuple]):
        inner = np.linspace(0.0, 1.0, 1 + k - order)
        aug = np.arange(1, order + 1) * (inner[1] - inner[0])
        self.spline = BSpline(np.r_[-aug[::-1], inner, 1.0 + aug], np.eye(k), order, extrapolate=False)
        deriv = self.spline.derivative()
        self.d0, self.d1 = deriv(0.0), deriv(1.0)
        self.features = np.array([m[0] for m in members], dtype=int)
        self.columns = np.concatenate([np.arange(m[1], m[1] + k) for m in members])
        self.offset = np.array([m[2] for m in members])
        self.scale = np.array([m[3] for m in members])
        self.k = k

    def __call__(self, X: np.ndarray) -> np.ndarray:
        t = (X[:, self.features] - self.offset) / self.scale
        vals = self.spline(np.clip(t, 0.0, 1.0).ravel()).reshape(*t.shape, self.k)
        vals += np.minimum(t, 0.0)[..., None] * self.d0 + np.maximum(t - 1.0, 0.0)[..., None] * self.d1
        return vals.reshape(len(X), -1)
