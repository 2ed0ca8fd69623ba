"""The strategy: its switches, its arguments, purity with the cache, and its counters."""

from __future__ import annotations

import pytest

import hpo
from hpo.strategies import make_strategy
from hpo.strategies.llambo import LLAMBOStrategy, LLMClient, study_stats

from .conftest import SPACE, loss, trial
from .fake_server import FakeLLM


def _history(n: int, seed: int = 0):
    return [trial(SPACE, i, c, loss(c)) for i, c in enumerate(SPACE.sample(n, seed=seed))]


def _strategy(url, tmp_path, seed=0, **kw) -> LLAMBOStrategy:
    client = LLMClient(base_url=url, model="fake-model", timeout=1, max_retries=0, cache=tmp_path / "cache")
    s = LLAMBOStrategy(base="random", client=client, n_initial=3, n_candidates=3, n_samples=2, **kw)
    s.setup(SPACE, "minimize", seed)
    return s


def test_registered_with_a_base():
    s = make_strategy("llambo:random", base_url=None)
    assert isinstance(s, LLAMBOStrategy) and s.base_name == "random" and s.client is None
    assert make_strategy("llambo", base_url=None).base_name == "tpe"


@pytest.mark.parametrize("kwargs, message", [
    ({"api_key": "sk-x"}, "OPENAI_API_KEY"),
    ({"base": "llambo"}, "cannot fall back on itself"),
    ({"surrogate": "forest"}, "surrogate must be one of 'llm', 'gp', 'none'"),
    ({"candidates": "random"}, "candidates must be one of 'llm', 'base'"),
    ({"n_candidates": 0}, "n_candidates must be an integer >= 1"),
    ({"alpha": -1}, "alpha must be a number in"),
    ({"data_card": 3}, "data_card must be a dict or a string"),
    ({"base_url": "ftp://x"}, "base_url must start with http"),
])
def test_bad_arguments_get_one_clear_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LLAMBOStrategy(**kwargs)


def test_the_endpoint_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("HPO_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HPO_LLM_MODEL", "m")
    s = LLAMBOStrategy(cache=False)
    assert s.client.base_url == "http://127.0.0.1:9/v1" and s.client.model == "m"
    assert LLAMBOStrategy(base_url=None).client is None  # None: no endpoint whatever the environment says


def test_same_seed_same_history_same_proposals_with_the_cache(tmp_path):
    h = _history(8)
    with FakeLLM(SPACE, "ok", seed=3) as server:
        a = _strategy(server.url, tmp_path, seed=7).ask(h, n=2)
        asked = len(server.requests)
        b = _strategy(server.url, tmp_path, seed=7).ask(h, n=2)
        assert len(server.requests) == asked  # replayed from the cache
        c = _strategy(server.url, tmp_path, seed=8).ask(h, n=2)
    assert a == b and a != c
    for config in a + c:
        assert SPACE.validate(config) == config


@pytest.mark.parametrize("kwargs, source", [
    ({"surrogate": "none"}, "llm"), ({"surrogate": "gp"}, "llm"), ({"surrogate": "llm"}, "llm"),
    ({"candidates": "base", "surrogate": "llm"}, "base_ranked"),
])
def test_each_part_can_be_switched(kwargs, source, tmp_path):
    h = _history(8)
    with FakeLLM(SPACE, "ok") as server:
        s = _strategy(server.url, tmp_path, **kwargs)
        configs = s.ask(h, n=1)
        kinds = [server._kind(r) for r in server.requests]
    assert s.stats["sources"] == {source: 1}
    n_scores = kinds.count("score")
    assert n_scores == (6 if kwargs.get("surrogate") == "llm" else 0)  # 3 candidates x 2 samples
    assert kinds.count("candidate") == (3 if kwargs.get("candidates", "llm") == "llm" else 0)
    assert SPACE.validate(configs[0]) == configs[0]


def test_the_llm_surrogate_ranks_by_expected_improvement(tmp_path):
    """With predictions that favour one candidate, that candidate is proposed."""
    h = _history(8)
    with FakeLLM(SPACE, "ok") as server:
        s = _strategy(server.url, tmp_path)
        obs = s.observations(h)
        cands = SPACE.sample(3, seed=11)
        templates = s._templates(obs)
        server.rng = __import__("numpy").random.default_rng(0)
        original = server._valid_text

        def predicted(request):  # the second candidate gets the lowest predicted loss
            if server._kind(request) != "score":
                return original(request)
            text = request["messages"][-1]["content"]
            return '{"score": %s}' % (0.0 if f'"x": {cands[1]["x"]:.6g}' in text else 50.0)

        server._valid_text = predicted
        from hpo.strategies.llambo.strategy import _Record

        ranked = s._rank(s._context(h), obs, templates, [dict(c) for c in cands], 5, _Record())
    assert ranked[0] == cands[1]


def test_warm_start_serves_the_first_trials_from_one_call(tmp_path):
    with FakeLLM(SPACE, "ok") as server:
        s = _strategy(server.url, tmp_path)
        study = hpo.create_study(space=SPACE, strategy=s, seed=0)
        study.optimize(lambda t: loss(t.params), n_trials=3)
        kinds = [server._kind(r) for r in server.requests]
    assert kinds == ["warm"]
    assert study_stats(study)["sources"] == {"warm_start": 3}
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 3


def test_warm_start_off_uses_the_base_for_the_initial_design(tmp_path):
    with FakeLLM(SPACE, "ok") as server:
        s = _strategy(server.url, tmp_path, warm_start=False)
        s.ask([], n=1)
        assert server.requests == []
    assert s.stats["fallbacks"] == {"initial_design": 1}


def test_pending_trials_are_not_proposed_again(tmp_path):
    from optuna.trial import TrialState

    h = _history(8)
    with FakeLLM(SPACE, "ok") as server:
        first = _strategy(server.url, tmp_path).ask(h)[0]
        second = _strategy(server.url, tmp_path).ask(h + [trial(SPACE, 8, first, state=TrialState.RUNNING)])[0]
    assert second != first


def test_maximize_studies_get_scores_in_their_direction(tmp_path):
    h = [t for t in _history(6)]
    for t in h:
        t.value = -t.value
    with FakeLLM(SPACE, "ok") as server:
        s = LLAMBOStrategy(base="random", client=LLMClient(base_url=server.url, model="m", cache=False),
                           n_initial=3, n_candidates=2, n_samples=1)
        s.setup(SPACE, "maximize", 0)
        s.ask(h)
        prompt = server.requests[0]["messages"][-1]["content"]
    assert "higher is better" in prompt
    best = max(t.value for t in h)
    assert f"-> {best:.6g}" in prompt


@pytest.mark.parametrize("fmt, expected", [
    (None, None), ("json_object", {"type": "json_object"}),
    ("llama_cpp_schema", "schema"), ("json_schema", "json_schema"),
])
def test_response_formats_carry_the_space_schema(fmt, expected, tmp_path):
    h = _history(8)
    with FakeLLM(SPACE, "ok") as server:
        _strategy(server.url, tmp_path, response_format=fmt).ask(h)
        sent = [r.get("response_format") for r in server.requests]
    if expected is None:
        assert sent == [None] * len(sent)
    elif isinstance(expected, dict):
        assert all(f == expected for f in sent)
    else:
        cand = sent[0]
        schema = cand["schema"] if expected == "schema" else cand["json_schema"]["schema"]
        assert schema["properties"]["opt"] == {"enum": ["adam", "sgd"]}
        assert schema["properties"]["lr"] == {"type": "number", "minimum": 1e-4, "maximum": 0.1}
        assert schema["properties"]["n"]["type"] == "integer" and "momentum" not in schema["required"]
        score = sent[-1]["schema"] if expected == "schema" else sent[-1]["json_schema"]["schema"]
        assert score["required"] == ["score"]
