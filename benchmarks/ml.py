"""Machine-learning problems in the Bayesmark style: scikit-learn model x bundled dataset x CV metric.

Seven models (``svm``, ``knn``, ``rf``, ``gb``, ``mlp``, ``linear``, ``dt``) on the five
datasets scikit-learn ships (``iris``, ``wine``, ``breast_cancer``, ``digits``: classification,
loss = 1 - CV accuracy; ``diabetes``: regression, loss = 1 - CV R^2). Features (and the
regression target) are standardised inside the CV pipeline.

Five more models widen the kinds of spaces (used by the default-strategy suite,
:mod:`benchmarks.default_suite`): ``svmk`` (an SVM whose kernel switches conditional
parameters on), ``cash`` (model selection: kNN, SVM, logistic/ridge regression or a tree,
each with its own parameters, 10 in all), ``trees`` (extra trees, integer-heavy), ``sgd``
(a linear model by SGD, 10 mixed and conditional parameters) and ``hgb`` (histogram gradient
boosting, 8 parameters).

To keep the whole standard suite within its time budget the problems are cut, and say so in
``get_meta_information()``: 3-fold CV (Bayesmark uses 5), digits subsampled to 600 rows, forests
with 20 trees, gradient boosting with 50 iterations, MLP and linear models trained for at most
30 epochs, each evaluation single-threaded. The multi-fidelity variants (``MLFidelity``) train
the MLP or linear model for ``epochs`` in [1, 30], or the other models on a ``fraction`` of
the training folds in [0.1, 1].

Example:
    >>> from benchmarks.ml import MLBenchmark
    >>> b = MLBenchmark("knn", "iris")
    >>> r = b.objective_function({"n_neighbors": 5, "p": 2, "weights": "uniform"})
    >>> 0.0 <= r["function_value"] < 0.1
    True
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    EqualsCondition,
    InCondition,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)
from sklearn import datasets as skdata
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from benchmarks.base import AbstractBenchmark

__all__ = ["MODELS", "WIDE_MODELS", "DATASETS", "MLBenchmark", "MLFidelity", "model_space", "load_dataset"]

DATASETS = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "diabetes": "regression",
}
MODELS = ("svm", "knn", "rf", "gb", "mlp", "linear", "dt")
WIDE_MODELS = ("svmk", "cash", "trees", "sgd", "hgb")  # live only: no tabular or multi-fidelity variants
ITERATIVE = ("mlp", "linear")  # fidelity = epochs; the others use a data fraction
N_FOLDS = 3
MAX_EPOCHS = 30
DIGITS_ROWS = 600


@lru_cache(maxsize=None)
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a scikit-learn bundled dataset; digits is subsampled to 600 rows (seed 0)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    X, y = getattr(skdata, f"load_{name}")(return_X_y=True)
    if name == "digits":
        idx = np.random.default_rng(0).permutation(len(y))[:DIGITS_ROWS]
        X, y = X[idx], y[idx]
    return X.astype(float), y


def model_space(model: str, seed: int | None = None) -> ConfigurationSpace:
    """The search space of a model (Bayesmark-like ranges, log scale where it matters)."""
    F, I, C = UniformFloatHyperparameter, UniformIntegerHyperparameter, CategoricalHyperparameter
    spaces = {
        "svm": [F("C", 1e-2, 1e3, log=True), F("gamma", 1e-4, 1e0, log=True)],
        "knn": [I("n_neighbors", 1, 30, log=True), I("p", 1, 2), C("weights", ["uniform", "distance"])],
        "rf": [
            I("max_depth", 1, 16, log=True),
            I("min_samples_split", 2, 32, log=True),
            F("max_features", 0.05, 1.0),
        ],
        "gb": [
            F("learning_rate", 1e-3, 1.0, log=True),
            I("max_leaf_nodes", 2, 64, log=True),
            I("min_samples_leaf", 1, 64, log=True),
        ],
        "mlp": [
            I("hidden_size", 8, 256, log=True),
            F("alpha", 1e-6, 1e1, log=True),
            F("learning_rate_init", 1e-4, 1e-1, log=True),
        ],
        "linear": [
            F("alpha", 1e-6, 1e1, log=True),
            F("l1_ratio", 0.0, 1.0),
            F("eta0", 1e-4, 1e0, log=True),
        ],
        "dt": [
            I("max_depth", 1, 16, log=True),
            I("min_samples_leaf", 1, 32, log=True),
            F("max_features", 0.05, 1.0),
            C("criterion", ["gini", "entropy"]),  # for regression: squared_error / absolute_error
        ],
    }
    if model in WIDE_MODELS:
        return _wide_space(model, seed)
    if model not in spaces:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(MODELS + WIDE_MODELS)}")
    cs = ConfigurationSpace(seed=seed)
    cs.add(spaces[model])
    return cs


def _wide_space(model: str, seed: int | None) -> ConfigurationSpace:
    F, I, C = UniformFloatHyperparameter, UniformIntegerHyperparameter, CategoricalHyperparameter
    cs = ConfigurationSpace(seed=seed)
    if model == "svmk":
        kernel = C("kernel", ["rbf", "poly", "sigmoid", "linear"])
        gamma, degree, coef0 = F("gamma", 1e-4, 1e1, log=True), I("degree", 2, 5), F("coef0", -1.0, 1.0)
        cs.add([kernel, F("C", 1e-2, 1e3, log=True), gamma, degree, coef0])
        cs.add([InCondition(gamma, kernel, ["rbf", "poly", "sigmoid"]), EqualsCondition(degree, kernel, "poly"),
                InCondition(coef0, kernel, ["poly", "sigmoid"])])
    elif model == "cash":
        algo = C("model", ["knn", "svm", "linear", "tree"])
        children = {
            "knn": [I("knn_k", 1, 50, log=True), C("knn_weights", ["uniform", "distance"])],
            "svm": [F("svm_C", 1e-2, 1e3, log=True), F("svm_gamma", 1e-4, 1e0, log=True)],
            "linear": [F("lin_C", 1e-4, 1e4, log=True)],
            "tree": [I("tree_depth", 1, 20), I("tree_min_leaf", 1, 50, log=True), F("tree_max_features", 0.1, 1.0),
                     C("tree_criterion", ["gini", "entropy"])],
        }
        cs.add([algo, *(hp for hps in children.values() for hp in hps)])
        cs.add([EqualsCondition(hp, algo, name) for name, hps in children.items() for hp in hps])
    elif model == "trees":
        cs.add([I("n_estimators", 4, 40, log=True), I("max_depth", 1, 24), I("min_samples_split", 2, 40),
                I("min_samples_leaf", 1, 30, log=True), I("max_leaf_nodes", 4, 256, log=True),
                F("max_features", 0.05, 1.0), C("bootstrap", ["off", "on"])])
    elif model == "sgd":
        loss = C("loss", ["hinge", "log_loss", "modified_huber", "squared_hinge"])
        penalty = C("penalty", ["l2", "l1", "elasticnet"])
        schedule = C("learning_rate", ["optimal", "invscaling", "constant", "adaptive"])
        l1_ratio, eta0, power_t = F("l1_ratio", 0.0, 1.0), F("eta0", 1e-5, 1e0, log=True), F("power_t", 0.05, 1.0)
        cs.add([loss, penalty, F("alpha", 1e-7, 1e0, log=True), l1_ratio, schedule, eta0, power_t,
                I("epochs", 2, 40, log=True), C("average", ["off", "on"]), C("class_weight", ["none", "balanced"])])
        cs.add([EqualsCondition(l1_ratio, penalty, "elasticnet"),
                InCondition(eta0, schedule, ["invscaling", "constant", "adaptive"]),
                EqualsCondition(power_t, schedule, "invscaling")])
    elif model == "hgb":
        cs.add([F("learning_rate", 1e-3, 1.0, log=True), I("max_iter", 5, 60, log=True),
                I("max_leaf_nodes", 2, 64, log=True), I("max_depth", 1, 12), I("min_samples_leaf", 1, 64, log=True),
                F("l2_regularization", 1e-6, 1e2, log=True), F("max_features", 0.1, 1.0), I("max_bins", 8, 255, log=True)])
    return cs


def _estimator(model: str, task: str, config: dict, seed: int, epochs: int):
    clf = task == "classification"
    c = config
    if model == "svm":
        return SVC(C=c["C"], gamma=c["gamma"]) if clf else SVR(C=c["C"], gamma=c["gamma"])
    if model == "knn":
        kw = dict(n_neighbors=c["n_neighbors"], p=c["p"], weights=c["weights"])
        return KNeighborsClassifier(**kw) if clf else KNeighborsRegressor(**kw)
    if model == "rf":
        kw = dict(
            n_estimators=20,
            max_depth=c["max_depth"],
            min_samples_split=c["min_samples_split"],
            max_features=c["max_features"],
            random_state=seed,
            n_jobs=1,
        )
        return RandomForestClassifier(**kw) if clf else RandomForestRegressor(**kw)
    if model == "gb":
        kw = dict(
            max_iter=50,
            learning_rate=c["learning_rate"],
            max_leaf_nodes=c["max_leaf_nodes"],
            min_samples_leaf=c["min_samples_leaf"],
            early_stopping=False,
            random_state=seed,
        )
        return HistGradientBoostingClassifier(**kw) if clf else HistGradientBoostingRegressor(**kw)
    if model == "mlp":
        kw = dict(
            hidden_layer_sizes=(c["hidden_size"],),
            alpha=c["alpha"],
            learning_rate_init=c["learning_rate_init"],
            max_iter=epochs,
            batch_size=64,
            random_state=seed,
        )
        return MLPClassifier(**kw) if clf else MLPRegressor(**kw)
    if model == "linear":
        kw = dict(
            penalty="elasticnet",
            alpha=c["alpha"],
            l1_ratio=c["l1_ratio"],
            eta0=c["eta0"],
            learning_rate="invscaling",
            max_iter=epochs,
            tol=None,
            random_state=seed,
        )
        return SGDClassifier(loss="log_loss", **kw) if clf else SGDRegressor(**kw)
    if model == "dt":
        crit = c["criterion"] if clf else {"gini": "squared_error", "entropy": "absolute_error"}[c["criterion"]]
        kw = dict(
            max_depth=c["max_depth"],
            min_samples_leaf=c["min_samples_leaf"],
            max_features=c["max_features"],
            criterion=crit,
            random_state=seed,
        )
        return DecisionTreeClassifier(**kw) if clf else DecisionTreeRegressor(**kw)
    if model in WIDE_MODELS:
        return _wide_estimator(model, clf, config, seed, epochs)
    raise ValueError(f"unknown model {model!r}; available: {', '.join(MODELS + WIDE_MODELS)}")


_SGD_REGRESSION_LOSS = {"hinge": "epsilon_insensitive", "log_loss": "squared_error", "modified_huber": "huber",
                        "squared_hinge": "squared_epsilon_insensitive"}


def _wide_estimator(model: str, clf: bool, c: dict, seed: int, epochs: int):
    if model == "svmk":
        kw = dict(kernel=c["kernel"], C=c["C"], gamma=c.get("gamma", "scale"), degree=c.get("degree", 3),
                  coef0=c.get("coef0", 0.0), max_iter=20000)
        return SVC(**kw) if clf else SVR(**kw)
    if model == "cash":
        m = c["model"]
        if m == "knn":
            kw = dict(n_neighbors=c["knn_k"], weights=c["knn_weights"])
            return KNeighborsClassifier(**kw) if clf else KNeighborsRegressor(**kw)
        if m == "svm":
            kw = dict(C=c["svm_C"], gamma=c["svm_gamma"], max_iter=20000)
            return SVC(**kw) if clf else SVR(**kw)
        if m == "linear":
            return LogisticRegression(C=c["lin_C"], max_iter=200) if clf else Ridge(alpha=1.0 / c["lin_C"])
        crit = c["tree_criterion"] if clf else {"gini": "squared_error", "entropy": "absolute_error"}[c["tree_criterion"]]
        kw = dict(max_depth=c["tree_depth"], min_samples_leaf=c["tree_min_leaf"], max_features=c["tree_max_features"],
                  criterion=crit, random_state=seed)
        return DecisionTreeClassifier(**kw) if clf else DecisionTreeRegressor(**kw)
    if model == "trees":
        kw = dict(n_estimators=c["n_estimators"], max_depth=c["max_depth"], min_samples_split=c["min_samples_split"],
                  min_samples_leaf=c["min_samples_leaf"], max_leaf_nodes=c["max_leaf_nodes"],
                  max_features=c["max_features"], bootstrap=c["bootstrap"] == "on", random_state=seed, n_jobs=1)
        return ExtraTreesClassifier(**kw) if clf else ExtraTreesRegressor(**kw)
    if model == "sgd":
        kw = dict(penalty=c["penalty"], alpha=c["alpha"], l1_ratio=c.get("l1_ratio", 0.15),
                  learning_rate=c["learning_rate"], eta0=c.get("eta0", 0.01), power_t=c.get("power_t", 0.5),
                  max_iter=c["epochs"], tol=None, average=c["average"] == "on", random_state=seed)
        if clf:
            return SGDClassifier(loss=c["loss"], class_weight=None if c["class_weight"] == "none" else "balanced", **kw)
        return SGDRegressor(loss=_SGD_REGRESSION_LOSS[c["loss"]], **kw)
    kw = dict(learning_rate=c["learning_rate"], max_iter=c["max_iter"], max_leaf_nodes=c["max_leaf_nodes"],
              max_depth=c["max_depth"], min_samples_leaf=c["min_samples_leaf"],
              l2_regularization=c["l2_regularization"], max_features=c["max_features"], max_bins=c["max_bins"],
              early_stopping=False, random_state=seed)
    return HistGradientBoostingClassifier(**kw) if clf else HistGradientBoostingRegressor(**kw)


def cv_loss(model: str, dataset: str, config: dict, seed: int = 0, epochs: int = MAX_EPOCHS, fraction: float = 1.0):
    """Mean CV loss (1 - accuracy, or 1 - R^2) and its per-fold values; single-threaded."""
    X, y = load_dataset(dataset)
    task = DATASETS[dataset]
    clf = task == "classification"
    splitter = (StratifiedKFold if clf else KFold)(n_splits=N_FOLDS, shuffle=True, random_state=seed)
    rng = np.random.default_rng(seed)
    losses = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for train, test in splitter.split(X, y):
            if fraction < 1.0:
                keep = max(2 * N_FOLDS, int(round(fraction * len(train))))
                train = np.sort(rng.permutation(train)[:keep])
            scaler = StandardScaler().fit(X[train])
            Xtr, Xte = scaler.transform(X[train]), scaler.transform(X[test])
            est = _estimator(model, task, config, seed, epochs)
            if not clf:
                est = TransformedTargetRegressor(regressor=est, transformer=StandardScaler())
            try:
                est.fit(Xtr, y[train])
                score = est.score(Xte, y[test])
                loss = 1.0 - float(score) if np.isfinite(score) else 1.0
            except (ValueError, FloatingPointError):  # a diverged fit scores as the worst model
                loss = 1.0
            losses.append(min(loss, 1.0) if not clf else loss)
    return float(np.mean(losses)), losses


class MLBenchmark(AbstractBenchmark):
    """One (model, dataset) problem, evaluated live by cross-validation.

    ``rng`` seeds the CV split and the model; cost is measured wall time in seconds.
    Regression losses are capped at 1 (a model worse than the mean predictor).
    """

    family = "ml"

    def __init__(self, model: str, dataset: str, rng: int | None = None):
        super().__init__(rng)
        model_space(model)
        load_dataset(dataset)
        self.model, self.dataset = model, dataset
        self.name = f"ml-{model}-{dataset}"

    def get_configuration_space(self, seed: int | None = None) -> ConfigurationSpace:
        return model_space(self.model, seed)

    def _evaluate(self, config, fidelity, rng):
        t0 = time.perf_counter()
        epochs = int(fidelity.get("epochs", MAX_EPOCHS))
        fraction = float(fidelity.get("fraction", 1.0))
        loss, folds = cv_loss(self.model, self.dataset, config, self.rng, epochs, fraction)
        return loss, time.perf_counter() - t0, {"fold_losses": folds}

    def get_meta_information(self) -> dict:
        return {
            **super().get_meta_information(),
            "model": self.model,
            "dataset": self.dataset,
            "task": DATASETS[self.dataset],
            "metric": "1 - accuracy" if DATASETS[self.dataset] == "classification" else "1 - R^2 (capped at 1)",
            "cuts": f"{N_FOLDS}-fold CV; digits {DIGITS_ROWS} rows; rf 20 trees; gb 50 iterations; "
            f"mlp/linear {MAX_EPOCHS} epochs; one thread",
        }


class MLFidelity(MLBenchmark):
    """Multi-fidelity ML problem: ``epochs`` in [1, 30] for mlp/linear, else ``fraction`` in [0.1, 1]."""

    family = "multifidelity"

    def __init__(self, model: str, dataset: str, rng: int | None = None):
        super().__init__(model, dataset, rng)
        self.name = f"mf-{model}-{dataset}"

    def get_fidelity_space(self, seed: int | None = None) -> ConfigurationSpace:
        cs = ConfigurationSpace(seed=seed)
        if self.model in ITERATIVE:
            cs.add(UniformIntegerHyperparameter("epochs", 1, MAX_EPOCHS, default_value=MAX_EPOCHS))
        else:
            cs.add(UniformFloatHyperparameter("fraction", 0.1, 1.0, default_value=1.0))
        return cs
