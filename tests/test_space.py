"""Spaces: builders compiled to ConfigSpace, conditions, encodings, files, and the bad-input errors."""

import json

import numpy as np
import pytest
from ConfigSpace import ConfigurationSpace
from ConfigSpace import Float as CSFloat

import hpo
from hpo.space import Space, SpaceError

SPACE = {
    "x": hpo.Float(-5, 5),
    "lr": hpo.Float(1e-5, 1e-1, log=True),
    "n": hpo.Int(1, 64, log=True),
    "k": hpo.Int(0, 20, step=4),
    "q": hpo.Float(0.0, 1.0, step=0.25),
    "opt": hpo.Categorical(["adam", "sgd"]),
    "momentum": hpo.Float(0.0, 0.99, when={"opt": "sgd"}),
}


def test_compiles_to_configspace_with_conditions():
    space = Space(SPACE)
    assert isinstance(space.cs, ConfigurationSpace)
    assert set(space.names) == set(SPACE)
    assert space.is_conditional("momentum") and not space.is_conditional("x")
    assert space.cs["lr"].log and space.cs["n"].log
    assert space.is_categorical("opt")


def test_samples_respect_bounds_types_steps_and_conditions():
    space = Space(SPACE)
    for config in space.sample(200, seed=0):
        assert -5 <= config["x"] <= 5 and 1e-5 <= config["lr"] <= 1e-1
        assert isinstance(config["n"], int) and 1 <= config["n"] <= 64
        assert config["k"] in (0, 4, 8, 12, 16, 20)
        assert config["q"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert ("momentum" in config) == (config["opt"] == "sgd")
        assert space.validate(config) == config


def test_log_parameters_are_sampled_log_uniformly():
    lrs = np.array([c["lr"] for c in Space(SPACE).sample(2000, seed=1)])
    assert 0.4 < np.mean(lrs < 1e-3) < 0.6  # half the mass below the geometric midpoint


def test_sampling_is_seeded():
    assert Space(SPACE).sample(5, seed=3) == Space(SPACE).sample(5, seed=3)
    assert Space(SPACE).sample(5, seed=3) != Space(SPACE).sample(5, seed=4)


def test_unit_cube_round_trip():
    space = Space(SPACE)
    for config in space.sample(50, seed=2):
        back = space.from_unit(space.to_unit(config))
        assert back.keys() == config.keys()
        for k, v in config.items():
            assert v == pytest.approx(back[k], rel=1e-6, abs=1e-9) if isinstance(v, float) else v == back[k]
    rng = np.random.default_rng(0)
    for _ in range(50):
        config = space.from_unit(rng.random(len(space)))
        assert space.validate(config) == config


def test_vector_encoding_marks_inactive_as_nan():
    space = Space(SPACE)
    config = {"x": 0.0, "lr": 1e-3, "n": 8, "k": 4, "q": 0.5, "opt": "adam"}
    v = space.to_vector(config)
    assert np.isnan(v[space.names.index("momentum")])
    assert space.from_vector(v)["opt"] == "adam"


def test_raw_configuration_space_is_accepted():
    cs = ConfigurationSpace()
    cs.add(CSFloat("a", (0.0, 1.0)))
    space = Space(cs)
    assert space.names == ["a"]
    assert 0 <= space.sample(1, seed=0)[0]["a"] <= 1


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_file_round_trip(tmp_path, suffix):
    space = Space(SPACE)
    path = tmp_path / f"space{suffix}"
    space.save(path)
    assert Space(path) == space


def test_short_file_format(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({
        "lr": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
        "opt": ["adam", "sgd"],
        "momentum": {"type": "float", "low": 0, "high": 0.99, "when": {"opt": "sgd"}},
    }))
    space = Space(path)
    assert space.is_conditional("momentum") and space.cs["lr"].log


def test_optuna_distributions():
    dists = Space(SPACE).distributions
    assert dists["lr"].log and dists["k"].step == 4 and dists["opt"].choices == ("adam", "sgd")


@pytest.mark.parametrize("spec, message", [
    ({"x": hpo.Float(5, -5)}, "x: low=5 must be below high=-5"),
    ({"x": hpo.Float(0, 1, log=True)}, "x: log=True needs low > 0"),
    ({"n": hpo.Int(0, 10, log=True)}, "n: log=True needs low > 0"),
    ({"c": hpo.Categorical([])}, "c: Categorical needs at least one choice"),
    ({"c": hpo.Categorical(["a", "b", "a"])}, "c: duplicate choice 'a'"),
    ({"m": hpo.Float(0, 1, when={"optimizer": "sgd"}), "opt": hpo.Categorical(["sgd"])},
     "m: condition on unknown parameter 'optimizer'"),
    ({"m": hpo.Float(0, 1, when={"opt": "rmsprop"}), "opt": hpo.Categorical(["sgd", "adam"])},
     "can never hold"),
    ({"n": hpo.Int(1.5, 3)}, "must be an integer"),
    ({"x": (1, 2)}, None),
    ({"x": "uniform"}, "expected hpo.Float, hpo.Int or hpo.Categorical"),
])
def test_bad_spaces_give_one_line_errors(spec, message):
    if message is None:  # a tuple is shorthand for a categorical: valid
        assert Space(spec).is_categorical("x")
        return
    with pytest.raises(SpaceError) as err:
        Space(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_close_names_are_suggested_for_unknown_conditions():
    with pytest.raises(SpaceError, match=r"did you mean \['opt'\]"):
        Space({"m": hpo.Float(0, 1, when={"optt": "sgd"}), "opt": hpo.Categorical(["sgd", "adam"])})


@pytest.mark.parametrize("config, message", [
    ({"x": 9.0}, "x=9.0 lies outside"),
    ({"x": 0.0, "opt": "adam", "momentum": 0.5}, "momentum is inactive"),
    ({"opt": "sgd"}, "momentum is active"),
    ({"xx": 1.0}, "did you mean ['x']"),
    ({"opt": "nesterov"}, "is not one of"),
])
def test_validate_errors(config, message):
    space = Space({"x": hpo.Float(-5, 5), "opt": hpo.Categorical(["adam", "sgd"]),
                   "momentum": hpo.Float(0, 1, when={"opt": "sgd"})})
    if "x" not in config and "xx" not in config:
        config = {"x": 0.0, **config}
    with pytest.raises(SpaceError) as err:
        space.validate(config)
    assert message in str(err.value)


def test_missing_space_file():
    with pytest.raises(SpaceError, match="does not exist"):
        Space("/nonexistent/space.yaml")


def test_numeric_conditions_are_evaluated():
    from ConfigSpace import GreaterThanCondition, UniformFloatHyperparameter

    cs = ConfigurationSpace()
    a, b = UniformFloatHyperparameter("a", 0, 1), UniformFloatHyperparameter("b", 0, 1)
    cs.add([a, b])
    cs.add(GreaterThanCondition(b, a, 0.5))
    space = Space(cs)
    assert space.active_names({"a": 0.7}) == ["a", "b"] and space.active_names({"a": 0.2}) == ["a"]
    assert space.validate({"a": 0.7, "b": 0.1}) == {"a": 0.7, "b": 0.1}
    with pytest.raises(SpaceError, match="b is inactive"):
        space.validate({"a": 0.2, "b": 0.1})
    for config in space.sample(50, seed=0):
        assert ("b" in config) == (config["a"] > 0.5)
