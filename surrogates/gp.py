"""Gaussian-process surrogate: scikit-learn's ``GaussianProcessRegressor``.

Kernel: ``Constant * Matern(nu=2.5, one length scale per feature) + White``, with
targets normalised (``normalize_y=True``), hyperparameters fitted by maximising the
log marginal likelihood with L-BFGS-B from the initial point plus ``n_restarts``
random starts (each capped at ``max_iter`` iterations so a fit stays cheap).

Edge cases, by convention:

* 0 observations: the prior, mean 0 and std 1 everywhere (in target units; the
  scale of the targets is unknown until there is data);
* 1 observation, or all targets equal: no hyperparameter fit (the likelihood has
  no optimum worth finding); the initial kernel (or the last fitted one) is used,
  so the mean is the observed value and the std grows away from the data;
* duplicate rows: the white-noise term (at least ``noise_bounds[0]``) keeps the
  kernel matrix positive definite.

Refitting hyperparameters on every call is the expensive part. ``fit(X, y,
optimize=False)`` keeps the last fitted kernel hyperparameters and only
refactorises the kernel matrix (a few milliseconds at 200 rows), so a strategy
can re-optimise every few trials; ``warm_start=True`` starts the next
optimisation from the last optimum (faster, but the result then depends on the
sequence of fits, not only on the data); ``max_fit_rows=m`` fits the
hyperparameters on a seeded random subset of ``m`` rows (each likelihood
evaluation costs O(n^3) plus O(n^2 d) for the gradient) and conditions on all
rows.

Example:
    >>> import numpy as np
    >>> X = np.linspace(0, 1, 8)[:, None]
    >>> gp = GPSurrogate(seed=0).fit(X, np.sin(6 * X[:, 0]))
    >>> mean, std = gp.predict(np.array([[0.5], [3.0]]))
    >>> bool(abs(mean[0] - np.sin(3.0)) < 0.05), bool(std[1] > std[0])
    (True, True)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Kernel, Matern, WhiteKernel

from surrogates.base import SurrogateFitError, check_X, check_Xy, single_threaded_blas

__all__ = ["GPSurrogate"]


class GPSurrogate:
    """Matérn 5/2 ARD Gaussian process with normalised targets.

    Args:
        n_restarts: random restarts of the kernel hyperparameter fit (besides the first start).
        seed: seeds the restarts; the same data and seed give the same model.
        length_scale_bounds: bounds of every length scale (features live in about [0, 1]).
        noise_bounds: bounds of the white-noise variance, in normalised target units.
        max_iter: L-BFGS-B iterations per start.
        warm_start: start the optimisation from the last fitted hyperparameters.
        max_fit_rows: fit the kernel hyperparameters on at most this many rows (a seeded
            random subset), then condition the GP on all rows; None uses all rows.

    Attributes:
        kernel_: the fitted kernel (None before the first fit with data).
    """

    def __init__(
        self,
        n_restarts: int = 2,
        seed: int | None = 0,
        *,
        length_scale_bounds: tuple[float, float] = (1e-2, 1e2),
        noise_bounds: tuple[float, float] = (1e-6, 1e-1),
        max_iter: int = 50,
        warm_start: bool = False,
        max_fit_rows: int | None = None,
    ):
        if not isinstance(n_restarts, (int, np.integer)) or n_restarts < 0:
            raise ValueError(f"n_restarts={n_restarts!r} must be an integer >= 0")
        if max_fit_rows is not None and (not isinstance(max_fit_rows, (int, np.integer)) or max_fit_rows < 2):
            raise ValueError(f"max_fit_rows={max_fit_rows!r} must be an integer >= 2 or None")
        if max_iter < 1:
            raise ValueError(f"max_iter={max_iter!r} must be >= 1")
        for name, (lo, hi) in (("length_scale_bounds", length_scale_bounds), ("noise_bounds", noise_bounds)):
            if not 0 < lo < hi:
                raise ValueError(f"{name}={(lo, hi)!r} must satisfy 0 < low < high")
        self.n_restarts = int(n_restarts)
        self.seed = seed
        self.length_scale_bounds = tuple(map(float, length_scale_bounds))
        self.noise_bounds = tuple(map(float, noise_bounds))
        self.max_iter = int(max_iter)
        self.warm_start = bool(warm_start)
        self.max_fit_rows = None if max_fit_rows is None else int(max_fit_rows)
        self.kernel_: Kernel | None = None
        self._gp: GaussianProcessRegressor | None = None
        self._n_features: int | None = None

    def __repr__(self) -> str:
        return f"GPSurrogate(n_restarts={self.n_restarts}, seed={self.seed})"

    def _initial_kernel(self, d: int) -> Kernel:
        lo, hi = self.length_scale_bounds
        start = float(np.clip(0.5, lo, hi))
        return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.full(d, start), length_scale_bounds=(lo, hi), nu=2.5
        ) + WhiteKernel(float(np.clip(1e-3, *self.noise_bounds)), self.noise_bounds)

    def _optimizer(self, obj_func, initial_theta, bounds):
        res = minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds,
                       options={"maxiter": self.max_iter})
        return res.x, res.fun

    def fit(self, X: np.ndarray, y: np.ndarray, optimize: bool = True) -> "GPSurrogate":
        """Fit to ``X`` (n, d), ``y`` (n,); ``optimize=False`` keeps the last kernel hyperparameters."""
        X, y = check_Xy(X, y)
        n, d = X.shape
        same_shape = self.kernel_ is not None and self._n_features == d
        self._n_features = d
        if n == 0:
            self._gp = None
            return self
        reuse = same_shape and (not optimize or self.warm_start)
        kernel = self.kernel_ if reuse else self._initial_kernel(d)
        tune = optimize and n >= 2 and np.ptp(y) > 0
        if tune and self.max_fit_rows is not None and n > self.max_fit_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(n, self.max_fit_rows, replace=False))
            kernel = self._fit_gpr(kernel, True, X[rows], y[rows]).kernel_
            gp = self._fit_gpr(kernel, False, X, y)
        else:
            gp = self._fit_gpr(kernel, tune, X, y)
        self._gp = gp
        if tune or not same_shape:
            self.kernel_ = gp.kernel_
        return self

    def _fit_gpr(self, kernel: Kernel, tune: bool, X: np.ndarray, y: np.ndarray) -> GaussianProcessRegressor:
        gp = GaussianProcessRegressor(
            kernel=kernel,
            alpha=1e-10,
            optimizer=self._optimizer if tune else None,
            n_restarts_optimizer=self.n_restarts if tune else 0,
            normalize_y=True,
            copy_X_train=True,
            random_state=np.random.RandomState(self.seed) if self.seed is not None else None,
        )
        try:
            with warnings.catch_warnings(), single_threaded_blas():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return gp.fit(X, y)
        except (np.linalg.LinAlgError, ValueError) as e:
            raise SurrogateFitError(f"GP fit failed on {len(y)} rows: {str(e).splitlines()[0]}") from e

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (including the fitted noise) at the rows of ``X``."""
        if self._n_features is None:
            raise RuntimeError("GPSurrogate.predict called before fit; call fit(X, y) first")
        X = check_X(X, self._n_features)
        if self._gp is None:
            return np.zeros(len(X)), np.ones(len(X))
        with warnings.catch_warnings(), single_threaded_blas():
            warnings.simplefilter("ignore", UserWarning)
            mean, std = self._gp.predict(X, return_std=True)
        scale = float(np.atleast_1d(self._gp._y_train_std)[0])
        return np.asarray(mean, float).ravel(), np.maximum(np.asarray(std, float).ravel(), 1e-9 * scale)

    @property
    def length_scales(self) -> np.ndarray | None:
        """Fitted per-feature length scales (small = the feature matters), or None before a fit."""
        if self.kernel_ is None:
            return None
        return np.atleast_1d(self.kernel_.k1.k2.length_scale).astype(float)
