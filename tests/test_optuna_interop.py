"""hpo studies are optuna studies: optuna-dashboard serves them, and hpo strategies drive plain optuna."""

import io
import json
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

import hpo
from hpo.sampler import StrategySampler
from hpo.strategies import register
from hpo.strategies.base import BaseStrategy
from hpo.strategies.params import Real


def _get(app, path):
    status = {}

    def start_response(code, headers, exc_info=None):
        status["code"] = code

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.errors": io.StringIO()}
    setup_testing_defaults(environ)
    body = b"".join(app(environ, start_response))
    assert status["code"].startswith("200"), (status, environ["wsgi.errors"].getvalue()[-2000:])
    return json.loads(body)


def test_optuna_dashboard_serves_an_hpo_study(tmp_path):
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = hpo.create_study(space={"x": hpo.Float(-1, 1), "opt": hpo.Categorical(["a", "b"])},
                             storage=url, study_name="dash", seed=0)
    study.optimize(lambda t: t.params["x"] ** 2, n_trials=7)
    app = optuna_dashboard.wsgi(url)
    studies = _get(app, "/api/studies")["study_summaries"]
    summary = next(s for s in studies if s["study_name"] == "dash")
    detail = _get(app, f"/api/studies/{summary['study_id']}")
    assert len(detail["trials"]) == 7
    assert {p["name"] for p in detail["trials"][0]["params"]} == {"x", "opt"}


def test_strategy_as_a_plain_optuna_sampler_define_by_run():
    study = optuna.create_study(sampler=StrategySampler("random", seed=0))
    study.optimize(lambda t: t.suggest_float("x", -2, 2) ** 2 + t.suggest_int("n", 1, 4), n_trials=15)
    assert len(study.trials) == 15 and study.best_value < 2.5


def test_registered_and_entry_point_strategies(monkeypatch):
    @register("always-zero-test")
    class AlwaysLow(BaseStrategy):
        def _propose(self, history, n, rng):
            return [{"x": self.space.hyperparameter("x").lower}] * n

    study = hpo.create_study(space={"x": hpo.Float(-3, 3)}, strategy="always-zero-test")
    study.optimize(lambda t: t.params["x"], n_trials=1)
    assert study.best_params == {"x": -3.0}
    assert "always-zero-test" in hpo.available()

    class FakeEntryPoint:
        name = "plugin-test"

        def load(self):
            return AlwaysLow

    import hpo.strategies.registry as registry

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()] if group == "hpo.strategies" else [])
    assert "plugin-test" in hpo.available()
    assert isinstance(hpo.make_strategy("plugin-test"), AlwaysLow)


class _Offset(BaseStrategy):
    """Proposes the point at ``offset`` of every range."""

    params = {"offset": Real(0, 1)}

    def __init__(self, offset: float = 0.0):
        super().__init__(offset=offset)

    def _propose(self, history, n, rng):
        return [self.space.from_unit([self.offset] * len(self.space))] * n


def test_an_instance_keeps_its_arguments_for_a_second_search_space():
    sampler = StrategySampler(_Offset(offset=0.25), seed=0)
    study = optuna.create_study(sampler=sampler)

    def new_trial():
        return study._storage.get_trial(study._storage.create_new_trial(study._study_id))

    a = sampler.sample_relative(study, new_trial(), {"x": optuna.distributions.FloatDistribution(0, 4)})
    b = sampler.sample_relative(study, new_trial(), {"y": optuna.distributions.FloatDistribution(0, 8)})
    assert a == {"x": 1.0} and b == {"y": 2.0}  # the second space's strategy still has offset=0.25
    first, second = sampler._strategies.values()
    assert first is not second and second.offset == 0.25


def test_strategy_kwargs_with_an_instance_is_an_error():
    with pytest.raises(ValueError, match="strategy_kwargs apply to a strategy given by name"):
        StrategySampler(_Offset(), strategy_kwargs={"offset": 0.5})
