"""Checks every surrogate must pass (accuracy, edge cases, determinism, bad input)."""

import numpy as np
import pytest

from surrogates import ForestSurrogate, GPSurrogate, Surrogate, SurrogateFitError

FACTORIES = {
    "gp": lambda: GPSurrogate(n_restarts=1, seed=0),
    "rf": lambda: ForestSurrogate(n_estimators=50, kind="rf", seed=0),
    "extra": lambda: ForestSurrogate(n_estimators=50, kind="extra", seed=0),
}
# held-out R^2 each must reach on a smooth 4-d function from 100 points
MIN_R2 = {"gp": 0.99, "rf": 0.75, "extra": 0.8}


def _smooth(X):
    return np.sin(3 * X[:, 0]) + (X[:, 1] - 0.5) ** 2 + 0.5 * X[:, 2] * X[:, 3]


@pytest.fixture(params=sorted(FACTORIES))
def name(request):
    return request.param


def test_is_a_surrogate(name):
    assert isinstance(FACTORIES[name](), Surrogate)


def test_predicts_held_out_points_better_than_the_mean(name):
    rng = np.random.default_rng(0)
    X, Xt = rng.random((100, 4)), rng.random((300, 4))
    y, yt = _smooth(X), _smooth(Xt)
    mean, std = FACTORIES[name]().fit(X, y).predict(Xt)
    assert mean.shape == std.shape == (300,)
    r2 = 1 - np.mean((mean - yt) ** 2) / np.mean((yt - y.mean()) ** 2)
    assert r2 > MIN_R2[name], f"{name}: held-out R^2 {r2:.3f}"
    assert np.all(std > 0) and np.all(np.isfinite(std))


def test_zero_observations_give_the_prior(name):
    model = FACTORIES[name]().fit(np.zeros((0, 3)), np.zeros(0))
    mean, std = model.predict(np.random.default_rng(0).random((5, 3)))
    assert np.array_equal(mean, np.zeros(5)) and np.array_equal(std, np.ones(5))


def test_one_observation(name):
    model = FACTORIES[name]().fit(np.full((1, 3), 0.5), np.array([2.0]))
    mean, std = model.predict(np.array([[0.5, 0.5, 0.5], [0.0, 1.0, 0.0]]))
    assert mean[0] == pytest.approx(2.0, abs=1e-3)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)


def test_duplicates_and_constant_targets(name):
    X = np.repeat(np.random.default_rng(0).random((4, 3)), 3, axis=0)
    y = np.repeat([1.0, 2.0, 3.0, 4.0], 3) + np.tile([0.0, 0.1, -0.1], 4)  # noisy duplicates
    mean, std = FACTORIES[name]().fit(X, y).predict(X)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    assert np.corrcoef(mean, y)[0, 1] > 0.9
    mean, std = FACTORIES[name]().fit(X, np.full(len(X), 7.0)).predict(X)
    np.testing.assert_allclose(mean, 7.0, atol=1e-6)
    assert np.all(std > 0) and np.all(np.isfinite(std))


def test_imputed_inactive_column_is_usable(name):
    rng = np.random.default_rng(1)
    X = rng.random((60, 2))
    active = X[:, 0] > 0.5
    X[~active, 1] = -0.5  # what Encoder gives an inactive numeric
    y = np.where(active, (X[:, 1] - 0.3) ** 2, 1.0)
    mean, _ = FACTORIES[name]().fit(X, y).predict(X)
    assert np.mean((mean - y) ** 2) < 0.2 * np.var(y)


def test_same_seed_same_model(name):
    rng = np.random.default_rng(2)
    X = rng.random((40, 3))
    y = _smooth(np.c_[X, X[:, :1]])
    Xt = rng.random((20, 3))
    a = FACTORIES[name]().fit(X, y).predict(Xt)
    b = FACTORIES[name]().fit(X, y).predict(Xt)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_bad_input_errors(name):
    model = FACTORIES[name]()
    with pytest.raises(ValueError, match="NaN or inf"):
        model.fit(np.array([[0.1], [np.nan]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="drop failed trials"):
        model.fit(np.array([[0.1], [0.2]]), np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="one y per row"):
        model.fit(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(RuntimeError, match="before fit"):
        FACTORIES[name]().predict(np.zeros((1, 2)))
    model.fit(np.zeros((3, 2)) + [[0.0], [0.5], [1.0]], np.arange(3.0))
    with pytest.raises(ValueError, match="same Encoder"):
        model.predict(np.zeros((1, 5)))


def test_fit_error_is_a_runtime_error():
    assert issubclass(SurrogateFitError, RuntimeError)


def test_fits_encoded_conditional_space_with_one_hot_categoricals(name):
    from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float

    from surrogates import Encoder

    cs = ConfigurationSpace({"lr": Float("lr", (1e-4, 1.0), log=True), "opt": Categorical("opt", ["a", "b", "c"]),
                             "m": Float("m", (0.0, 1.0))})
    cs.add(EqualsCondition(cs["m"], cs["opt"], "b"))

    def loss(c):
        return (np.log10(c["lr"]) + 2) ** 2 / 4 + {"a": 0.0, "b": 2 * (c.get("m", 0) - 0.5) ** 2, "c": 1.0}[c["opt"]]

    enc = Encoder(cs, one_hot=True)
    cs.seed(0)
    train, test = cs.sample_configuration(80), cs.sample_configuration(200)
    F, Ft = (enc.transform(np.array([c.get_array() for c in cfgs])) for cfgs in (train, test))
    assert enc.n_features == 5 and np.all(np.isfinite(F))
    y, yt = (np.array([loss(dict(c)) for c in cfgs]) for cfgs in (train, test))
    mean, std = FACTORIES[name]().fit(F, y).predict(Ft)
    assert np.mean((mean - yt) ** 2) < 0.25 * np.var(yt)
    assert np.all(std > 0)
