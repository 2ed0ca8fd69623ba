"""GAMSurrogate: pygam terms, the spline rule, the fast predict path and failures."""

import numpy as np
import pytest
import scipy.stats as st
from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float
from pygam.terms import FactorTerm, LinearTerm, SplineTerm

from surrogates import Encoder, GAMSurrogate, SurrogateFitError

OFFSETS = np.array([0.0, 1.0, -1.0, 0.5])


def _data(n, seed=0, levels=3):
    rng = np.random.default_rng(seed)
    X = np.c_[rng.random((n, 3)), rng.integers(0, levels, n)]
    y = np.sin(4 * X[:, 0]) + (X[:, 1] - 0.4) ** 2 + 0.3 * X[:, 2] + OFFSETS[X[:, 3].astype(int)]
    return X, y


def test_fits_held_out_points_better_than_the_mean():
    X, y = _data(150)
    Xt, yt = _data(300, seed=1)
    mean, std = GAMSurrogate(categorical=[3], n_categories={3: 3}).fit(X, y).predict(Xt)
    r2 = 1 - np.mean((mean - yt) ** 2) / np.mean((yt - y.mean()) ** 2)
    assert r2 > 0.99, r2
    assert np.all(std > 0)


def test_categoricals_get_factor_terms_not_splines():
    X, y = _data(100)
    gam = GAMSurrogate(categorical=[3], n_categories={3: 3}).fit(X, y)
    by_feature = {t.feature: t for t in gam.gam_.terms if hasattr(t, "feature") and not t.isintercept}
    assert isinstance(by_feature[3], FactorTerm) and by_feature[3].n_coefs == 3
    assert all(isinstance(by_feature[j], SplineTerm) and not isinstance(by_feature[j], FactorTerm) for j in range(3))
    base = X[:1].copy()
    preds = [gam.predict(np.c_[base[:, :3], [[c]]])[0][0] for c in range(3)]
    np.testing.assert_allclose(np.diff(preds), np.diff(OFFSETS[:3]), atol=0.02)


def test_level_gaps_and_unseen_levels():
    X, y = _data(120, levels=4)
    keep = np.isin(X[:, 3], [0, 2])  # train on levels 0 and 2 only
    gam = GAMSurrogate(categorical=[3], n_categories={3: 4}).fit(X[keep], y[keep])
    row = X[:1, :3]
    at = {c: gam.predict(np.c_[row, [[c]]])[0][0] for c in range(4)}
    assert at[2] - at[0] == pytest.approx(OFFSETS[2] - OFFSETS[0], abs=0.02)  # level 2 not binned with 1
    assert min(at[0], at[2]) < at[1] < max(at[0], at[2])  # unseen: no factor effect, between the seen ones
    assert at[3] == pytest.approx(at[1])


def test_fast_path_matches_pygam_predict_and_confidence_intervals():
    X, y = _data(80)
    gam = GAMSurrogate(categorical=[3], n_categories={3: 3}).fit(X, y)
    rng = np.random.default_rng(3)
    Xt = np.c_[rng.uniform(-0.3, 1.3, (50, 3)), rng.integers(0, 3, 50)]  # includes extrapolation
    mean, se = gam.predict(Xt)
    np.testing.assert_allclose(mean, gam.gam_.predict(Xt), rtol=0, atol=1e-10)
    ci = gam.gam_.confidence_intervals(Xt, width=0.9)
    df = gam.gam_.statistics_["n_samples"] - gam.gam_.statistics_["edof"]
    np.testing.assert_allclose(se, (ci[:, 1] - ci[:, 0]) / (2 * st.t.ppf(0.95, df)), rtol=1e-8)
    _, pred_std = GAMSurrogate(categorical=[3], std="predictive").fit(X, y).predict(Xt)
    assert np.all(pred_std > se)


@pytest.mark.parametrize("n, expected", [(10, 0), (20, 4), (50, 9), (200, 25)])
def test_spline_count_adapts_to_rows(n, expected):
    rng = np.random.default_rng(0)
    X = rng.random((n, 6))
    gam = GAMSurrogate().fit(X, np.sum(np.sin(3 * X), axis=1))
    assert set(gam.n_splines_.values()) == {expected}
    kinds = {type(t) for t in gam.gam_.terms if not t.isintercept}
    assert kinds == ({LinearTerm} if expected == 0 else {SplineTerm})
    coefs = sum(t.n_coefs - 1 for t in gam.gam_.terms if not t.isintercept)
    assert coefs <= n - 1


def test_explicit_n_splines_is_used():
    X, y = _data(60)
    gam = GAMSurrogate(categorical=[3], n_splines=6).fit(X, y)
    assert [t.n_splines for t in gam.gam_.terms if isinstance(t, SplineTerm) and not isinstance(t, FactorTerm)] == [6] * 3


def test_impossible_fits_raise_surrogate_fit_error(monkeypatch):
    rng = np.random.default_rng(0)
    with pytest.raises(SurrogateFitError, match="at least 2 rows"):
        GAMSurrogate().fit(rng.random((1, 3)), [1.0])
    with pytest.raises(SurrogateFitError, match="too few rows"):
        GAMSurrogate().fit(rng.random((4, 6)), rng.random(4))
    with pytest.raises(SurrogateFitError, match="pygam could not fit"):
        GAMSurrogate().fit(rng.random((30, 2)), np.where(np.arange(30) % 2, 1e308, -1e308))
    import pygam

    def boom(self, X, y, weights=None):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(pygam.LinearGAM, "fit", boom)
    with pytest.raises(SurrogateFitError, match="Singular matrix") as info:
        GAMSurrogate().fit(rng.random((30, 2)), rng.random(30))
    assert "\n" not in str(info.value)
    with pytest.raises(RuntimeError, match="before a successful fit"):
        GAMSurrogate().predict(rng.random((1, 2)))


def test_constant_targets_duplicates_and_constant_columns():
    rng = np.random.default_rng(0)
    X = rng.random((30, 3))
    mean, std = GAMSurrogate().fit(X, np.full(30, 3.0)).predict(X)
    np.testing.assert_allclose(mean, 3.0, atol=1e-6)
    assert np.all(std > 0)
    Xd = np.repeat(X[:10], 3, axis=0)
    yd = np.repeat(X[:10, 0] ** 2, 3) + np.tile([0.0, 0.01, -0.01], 10)
    mean, std = GAMSurrogate().fit(Xd, yd).predict(Xd)
    assert np.corrcoef(mean, yd)[0, 1] > 0.99 and np.all(std > 0)
    Xc = X.copy()
    Xc[:, 1] = 0.7  # a constant column gets no term
    gam = GAMSurrogate().fit(Xc, X[:, 0])
    assert 1 not in gam.n_splines_ and 0 in gam.n_splines_
    mean, _ = GAMSurrogate().fit(np.full((5, 2), 0.3), np.arange(5.0)).predict(np.zeros((2, 2)))
    np.testing.assert_allclose(mean, 2.0)  # nothing informative: the mean of y


def test_with_encoder_codes_and_inactive_conditionals():
    cs = ConfigurationSpace({"x": Float("x", (0.0, 1.0)), "opt": Categorical("opt", ["a", "b", "c"]),
                             "m": Float("m", (0.0, 1.0))})
    cs.add(EqualsCondition(cs["m"], cs["opt"], "b"))
    cs.seed(0)
    configs = cs.sample_configuration(150)
    enc = Encoder(cs, one_hot=False)
    F = enc.transform(np.array([c.get_array() for c in configs]))

    def loss(c):
        return (c["x"] - 0.3) ** 2 + {"a": 0.0, "b": (c.get("m", 0) - 0.5) ** 2, "c": 1.0}[c["opt"]]

    y = np.array([loss(dict(c)) for c in configs])
    gam = GAMSurrogate(categorical=enc.categorical, n_categories=enc.n_categories).fit(F, y)
    factor = [t.feature for t in gam.gam_.terms if isinstance(t, FactorTerm)]
    assert factor == enc.categorical
    cs.seed(1)
    test = cs.sample_configuration(200)
    mean, _ = gam.predict(enc.transform(np.array([c.get_array() for c in test])))
    yt = np.array([loss(dict(c)) for c in test])
    assert np.mean((mean - yt) ** 2) < 0.05 * np.var(yt)


def test_same_data_same_model():
    X, y = _data(60)
    a = GAMSurrogate(categorical=[3]).fit(X, y).predict(X)
    b = GAMSurrogate(categorical=[3]).fit(X, y).predict(X)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_splines": 3}, "n_splines"),
    ({"lam": 0}, "lam"),
    ({"std": "ci"}, "std"),
    ({"categorical": [1, 1]}, "twice"),
    ({"categorical": [0], "n_categories": {2: 3}}, "not in categorical"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GAMSurrogate(**kwargs)


def test_bad_codes():
    X, y = _data(40)
    with pytest.raises(ValueError, match="integer codes"):
        GAMSurrogate(categorical=[0]).fit(X, y)
    with pytest.raises(ValueError, match="n_categories"):
        GAMSurrogate(categorical=[3], n_categories={3: 2}).fit(X, y)
    with pytest.raises(ValueError, match="does not exist"):
        GAMSurrogate(categorical=[7]).fit(X, y)
