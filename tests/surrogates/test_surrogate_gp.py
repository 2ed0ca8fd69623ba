"""GPSurrogate specifics: uncertainty away from data, kernel reuse, validation."""

import numpy as np
import pytest

from surrogates import GPSurrogate


def test_std_grows_away_from_the_data():
    X = np.linspace(0.0, 0.4, 6)[:, None]
    gp = GPSurrogate(seed=0).fit(X, np.sin(5 * X[:, 0]))
    _, at_data = gp.predict(X)
    _, near = gp.predict(np.array([[0.5]]))
    _, far = gp.predict(np.array([[1.0]]))
    assert at_data.max() < near[0] < far[0]


def test_ard_length_scales_find_the_irrelevant_feature():
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    gp = GPSurrogate(seed=0).fit(X, np.sin(4 * X[:, 0]) + X[:, 1] ** 2)
    ls = gp.length_scales
    assert ls.shape == (3,) and ls[2] > 3 * ls[0]


def test_optimize_false_reuses_the_fitted_kernel():
    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = np.cos(3 * X[:, 0]) + X[:, 1]
    gp = GPSurrogate(seed=0).fit(X, y)
    theta = gp.kernel_.theta.copy()
    X2 = np.r_[X, rng.random((5, 2))]
    gp.fit(X2, np.cos(3 * X2[:, 0]) + X2[:, 1], optimize=False)
    np.testing.assert_array_equal(gp.kernel_.theta, theta)
    mean, _ = gp.predict(X2)
    assert np.max(np.abs(mean - (np.cos(3 * X2[:, 0]) + X2[:, 1]))) < 0.05


def test_one_observation_mean_reverts_and_std_grows():
    gp = GPSurrogate().fit(np.array([[0.2, 0.2]]), np.array([5.0]))
    mean, std = gp.predict(np.array([[0.2, 0.2], [0.9, 0.9]]))
    assert mean[0] == pytest.approx(5.0, abs=1e-3) and std[1] > std[0]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_restarts": -1}, "n_restarts"),
    ({"max_iter": 0}, "max_iter"),
    ({"noise_bounds": (1.0, 0.1)}, "noise_bounds"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPSurrogate(**kwargs)


def test_max_fit_rows_fits_the_kernel_on_a_subset_but_conditions_on_all():
    rng = np.random.default_rng(0)
    X = rng.random((120, 3))
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2
    full = GPSurrogate(seed=0).fit(X, y)
    sub = GPSurrogate(seed=0, max_fit_rows=40).fit(X, y)
    assert not np.allclose(sub.kernel_.theta, full.kernel_.theta)
    np.testing.assert_allclose(sub.predict(X)[0], y, atol=0.02)  # still conditioned on every row
    Xt = rng.random((200, 3))
    yt = np.sin(4 * Xt[:, 0]) + Xt[:, 1] ** 2
    assert np.sqrt(np.mean((sub.predict(Xt)[0] - yt) ** 2)) < 0.05
    with pytest.raises(ValueError, match="max_fit_rows"):
        GPSurrogate(max_fit_rows=1)
