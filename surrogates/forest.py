"""Random-forest surrogate: scikit-learn's random forest or extra-trees.

The mean is the forest's prediction; the std is the spread of the individual
trees' predictions (as in SMAC's forest), plus a floor of ``std_floor`` times the
spread of the training targets (or times 1 when they are constant) so that it is
never exactly zero. Trees do not extrapolate: far from the data the std is the
spread of the trees' edge leaves, not a growing uncertainty (use the GP for that).

0 observations give the prior convention of the other surrogates (mean 0, std 1).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((60, 2))
    >>> rf = ForestSurrogate(n_estimators=50, seed=0).fit(X, X.sum(axis=1))
    >>> mean, std = rf.predict(np.array([[0.5, 0.5]]))
    >>> bool(abs(mean[0] - 1.0) < 0.2), bool(std[0] > 0)
    (True, True)
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

from surrogates.base import check_X, check_Xy

__all__ = ["ForestSurrogate"]


class ForestSurrogate:
    """Random forest (``kind="rf"``) or extra-trees (``kind="extra"``) with the spread over trees as std.

    Args:
        n_estimators: number of trees.
        kind: ``"rf"`` (bootstrap, best splits) or ``"extra"`` (no bootstrap, random splits).
        seed: seeds the forest; the same data and seed give the same model.
        min_samples_leaf: fewest training rows in a leaf (larger = smoother mean).
        max_features: features tried per split, as in scikit-learn (a fraction, int, "sqrt" or None).
        std_floor: the std is at least ``std_floor`` times the std of the training targets.
        n_jobs: worker threads for fitting (scikit-learn's ``n_jobs``).
    """

    def __init__(
        self,
        n_estimators: int = 100,
        kind: str = "rf",
        seed: int | None = 0,
        min_samples_leaf: int = 1,
        *,
        max_features: float | int | str | None = 1.0,
        std_floor: float = 1e-3,
        n_jobs: int | None = None,
    ):
        if kind not in ("rf", "extra"):
            raise ValueError(f"kind={kind!r} must be 'rf' (random forest) or 'extra' (extra-trees)")
        if not isinstance(n_estimators, (int, np.integer)) or n_estimators < 2:
            raise ValueError(f"n_estimators={n_estimators!r} must be an integer >= 2 (the std needs two trees)")
        if not isinstance(min_samples_leaf, (int, np.integer)) or min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf={min_samples_leaf!r} must be an integer >= 1")
        if not std_floor >= 0:
            raise ValueError(f"std_floor={std_floor!r} must be >= 0")
        self.n_estimators = int(n_estimators)
        self.kind = kind
        self.seed = seed
        self.min_samples_leaf = int(min_samples_leaf)
        self.max_features = max_features
        self.std_floor = float(std_floor)
        self.n_jobs = n_jobs
        self.forest_ = None
        self._n_features: int | None = None
        self._floor = 0.0

    def __repr__(self) -> str:
        return f"ForestSurrogate(n_estimators={self.n_estimators}, kind={self.kind!r}, seed={self.seed})"

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ForestSurrogate":
        """Fit the forest to ``X`` (n, d) and ``y`` (n,)."""
        X, y = check_Xy(X, y)
        self._n_features = X.shape[1]
        if len(y) == 0:
            self.forest_ = None
            return self
        cls = RandomForestRegressor if self.kind == "rf" else ExtraTreesRegressor
        self.forest_ = cls(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.seed,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        self._trees = [est.tree_ for est in self.forest_.estimators_]
        spread = float(np.std(y))
        self._floor = self.std_floor * (spread if spread > 0 else 1.0)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean over trees and std over trees (at least the floor) at the rows of ``X``."""
        if self._n_features is None:
            raise RuntimeError("ForestSurrogate.predict called before fit; call fit(X, y) first")
        X = check_X(X, self._n_features)
        if self.forest_ is None:
            return np.zeros(len(X)), np.ones(len(X))
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        # the fitted trees' own predict skips scikit-learn's per-call checks: ~3x faster on one row
        per_tree = np.stack([tree.predict(X32)[:, 0] for tree in self._trees])
        return per_tree.mean(axis=0), np.maximum(per_tree.std(axis=0), self._floor)
