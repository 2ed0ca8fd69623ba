"""The surrogate interface: ``fit(X, y)`` then ``predict(X) -> (mean, std)``.

Every surrogate in this package works on a plain float matrix of model features
(build one from ConfigSpace vectors with :class:`surrogates.encoding.Encoder`) and
minimisation-oriented targets; it never sees configurations or trials.

Example:
    >>> import numpy as np
    >>> from surrogates import ForestSurrogate, Surrogate
    >>> model: Surrogate = ForestSurrogate(n_estimators=10).fit(np.eye(3), np.arange(3.0))
    >>> [a.shape for a in model.predict(np.eye(3))]
    [(3,), (3,)]
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Surrogate", "SurrogateFitError", "check_X", "check_Xy", "single_threaded_blas"]


class SurrogateFitError(RuntimeError):
    """A surrogate could not be fitted to the data; the message says why in one line.

    Strategies catch it and fall back (to their base strategy or to random search).
    """


@runtime_checkable
class Surrogate(Protocol):
    """A regression model that also says how unsure it is."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Surrogate":
        """Fit to features ``X`` (n, d) and targets ``y`` (n,); returns ``self``."""
        ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation, both of shape (n,)."""
        ...


def check_X(X, n_features: int | None = None, *, name: str = "X") -> np.ndarray:
    """``X`` as a finite 2-D float array (a 1-D array is one row); raise ValueError otherwise."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[None, :] if n_features is None or X.size == n_features else X[:, None]
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows = points), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features but the model was fitted on {n_features}; "
            "encode with the same Encoder"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError(
            f"{name} contains NaN or inf; impute inactive parameters first (surrogates.Encoder does)"
        )
    return X


def check_Xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(X, y)``: 2-D finite X, 1-D finite y with one value per row."""
    y = np.asarray(y, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    if X.ndim == 1 and X.size == 0:
        X = X.reshape(0, 0)
    X = check_X(X if X.ndim != 1 else X[:, None])
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} values; give one y per row")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf; drop failed trials or replace their loss before fitting")
    return X, y


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def single_threaded_blas():
    """Context manager: BLAS on one thread inside it.

    The surrogates' matrices are small (hundreds of rows); extra BLAS threads only
    fight over the cores, which on a loaded machine costs orders of magnitude.
    """
    return _blas_controller().limit(limits=1, user_api="blas")
