"""Encoder: ConfigSpace vectors -> finite model features."""

import numpy as np
import pytest
from ConfigSpace import (
    Categorical,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    Float,
    Integer,
    OrdinalHyperparameter,
)

from surrogates import Encoder


def _space() -> ConfigurationSpace:
    cs = ConfigurationSpace(
        {
            "lr": Float("lr", (1e-5, 1e-1), log=True),
            "layers": Integer("layers", (1, 8)),
            "opt": Categorical("opt", ["adam", "sgd", "rmsprop"]),
            "momentum": Float("momentum", (0.0, 0.99)),
            "act": Categorical("act", ["relu", "tanh"]),
            "fixed": Constant("fixed", "x"),
        }
    )
    cs.add(OrdinalHyperparameter("size", ["s", "m", "l"]))
    cs.add(EqualsCondition(cs["momentum"], cs["opt"], "sgd"))
    cs.add(EqualsCondition(cs["act"], cs["opt"], "adam"))
    return cs


def test_one_hot_features_are_finite_in_range_and_named():
    cs = _space()
    enc = Encoder(cs)
    assert enc.categorical == [] and enc.n_categories == {}
    assert "opt=sgd" in enc.feature_names and "fixed" not in enc.feature_names
    cs.seed(0)
    V = np.array([c.get_array() for c in cs.sample_configuration(50)])
    assert np.isnan(V).any()
    F = enc.transform(V)
    assert F.shape == (50, enc.n_features)
    assert np.all(np.isfinite(F))
    blocks = [[i for i, n in enumerate(enc.feature_names) if n.startswith(p + "=")] for p in ("opt", "act")]
    assert np.all(F[:, blocks[0]].sum(axis=1) == 1)  # opt is always active: exactly one hot
    act_active = ~np.isnan(V[:, cs.index_of["act"]])
    assert np.all(F[act_active][:, blocks[1]].sum(axis=1) == 1)
    assert np.all(F[~act_active][:, blocks[1]] == 0)  # inactive categorical: all zero
    mom = enc.feature_names.index("momentum")
    inactive = np.isnan(V[:, cs.index_of["momentum"]])
    assert np.all(F[inactive, mom] == -0.5) and np.all((F[~inactive, mom] >= 0) & (F[~inactive, mom] <= 1))


def test_numeric_columns_keep_configspace_log_scale():
    cs = _space()
    enc = Encoder(cs)
    F = enc.transform_configs([{"lr": 1e-3, "layers": 8, "opt": "adam", "act": "relu", "size": "l", "fixed": "x"}])
    assert F[0, enc.feature_names.index("lr")] == pytest.approx(0.5)
    assert F[0, enc.feature_names.index("layers")] == pytest.approx(1.0)
    assert F[0, enc.feature_names.index("size")] == pytest.approx(1.0)  # ordinal: index / (levels - 1)


def test_integer_codes_with_extra_inactive_level():
    cs = _space()
    enc = Encoder(cs, one_hot=False)
    opt, act = enc.feature_names.index("opt"), enc.feature_names.index("act")
    assert enc.categorical == sorted([opt, act])
    assert enc.n_categories == {opt: 3, act: 3}  # act: relu, tanh, inactive
    F = enc.transform_configs([{"lr": 1e-3, "layers": 2, "opt": "sgd", "momentum": 0.5, "size": "s", "fixed": "x"},
                               {"lr": 1e-3, "layers": 2, "opt": "adam", "act": "tanh", "size": "s", "fixed": "x"}])
    assert F[:, opt].tolist() == [1, 0] and F[:, act].tolist() == [2, 1]


def test_indicators_and_inverse_round_trip():
    cs = _space()
    for one_hot in (True, False):
        enc = Encoder(cs, one_hot=one_hot, indicators=True)
        assert "momentum:active" in enc.feature_names
        cs.seed(1)
        V = np.array([c.get_array() for c in cs.sample_configuration(40)])
        F = enc.transform(V)
        col = enc.feature_names.index("momentum:active")
        assert np.array_equal(F[:, col], ~np.isnan(V[:, cs.index_of["momentum"]]))
        back = enc.inverse_transform(F)
        keep = [cs.index_of[n] for n in cs if n != "fixed"]
        np.testing.assert_allclose(back[:, keep], V[:, keep], atol=1e-12, equal_nan=True)


def test_from_space_duck_types_an_hpo_space():
    class FakeSpace:
        cs = _space()

    assert Encoder.from_space(FakeSpace()).n_features == Encoder(FakeSpace.cs).n_features


def test_bad_input_gives_one_line_errors():
    with pytest.raises(TypeError, match="ConfigurationSpace"):
        Encoder({"x": 1})
    with pytest.raises(ValueError, match="outside"):
        Encoder(_space(), impute=0.5)
    with pytest.raises(ValueError, match="entries per row"):
        Encoder(_space()).transform(np.zeros((2, 3)))
