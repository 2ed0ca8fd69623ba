"""The chat client against a real local HTTP server: retries, backoff, cache, fail-fast, secrets."""

from __future__ import annotations

import pickle

import pytest

from hpo.strategies.llambo.client import LLMClient, LLMError, ResponseCache, redact_url

from .conftest import SPACE
from .fake_server import FakeLLM

MSG = [{"role": "user", "content": "Propose one new configuration"}]


def _client(url, tmp_path=None, **kw):
    kw = {"model": "fake-model", "timeout": 0.5, "max_retries": 2, "backoff": 0.01,
          "cache": (tmp_path / "cache") if tmp_path else False, **kw}
    return LLMClient(base_url=url, **kw)


def test_a_500_is_retried_then_succeeds():
    with FakeLLM(SPACE, "fail_then_ok", fail_first=2) as server:
        client = _client(server.url)
        reply = client.chat(MSG, seed=1)
    assert SPACE.validate(__import__("json").loads(reply.text))
    assert len(server.requests) == 3
    assert client.stats["retries"] == 2 and client.stats["calls"] == 1 and client.stats["failures"] == {}


def test_429_exhausts_the_retries_and_names_the_kind():
    with FakeLLM(SPACE, "429") as server:
        client = _client(server.url, max_retries=1)
        with pytest.raises(LLMError) as info:
            client.chat(MSG)
    assert info.value.kind == "rate_limited" and len(server.requests) == 2
    assert client.stats["failures"] == {"rate_limited": 1}


def test_a_slow_endpoint_times_out_and_then_fails_fast():
    with FakeLLM(SPACE, "timeout", delay=1.5) as server:
        client = _client(server.url, max_retries=0, trip_after=2, cooldown=60)
        kinds = []
        for _ in range(4):
            with pytest.raises(LLMError) as info:
                client.chat(MSG)
            kinds.append(info.value.kind)
        assert len(server.requests) == 2
    assert kinds == ["timeout", "timeout", "circuit_open", "circuit_open"]


def test_the_cache_replays_a_request_and_keys_on_all_of_it(tmp_path):
    with FakeLLM(SPACE, "ok") as server:
        client = _client(server.url, tmp_path)
        a = client.chat(MSG, seed=1)
        b = client.chat(MSG, seed=1)
        c = client.chat(MSG, seed=2)
        d = client.chat(MSG, seed=1, temperature=0.1)
        assert len(server.requests) == 3
    assert b.cached and b.text == a.text and not c.cached and not d.cached
    assert client.stats["cache_hits"] == 1 and client.stats["calls"] == 3
    # a second client (a new process) on another URL serving the same model replays from the same folder
    replay = _client("http://127.0.0.1:9/v1", tmp_path).chat(MSG, seed=1)
    assert replay.cached and replay.text == a.text


def test_the_model_is_asked_from_the_server_when_not_given():
    with FakeLLM(SPACE, "ok") as server:
        client = LLMClient(base_url=server.url, cache=False)
        client.chat(MSG)
    assert client.model == "fake-model" and server.requests[0]["model"] == "fake-model"


def test_no_endpoint_and_bad_arguments_are_clear():
    with pytest.raises(LLMError, match="HPO_LLM_BASE_URL") as info:
        LLMClient(base_url=None, cache=False).chat(MSG)
    assert info.value.kind == "not_configured"
    with pytest.raises(ValueError, match="base_url must start with http"):
        LLMClient(base_url="localhost:8000")
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1"):
        LLMClient(base_url="http://x/v1", max_concurrency=0)


def test_secrets_stay_out_of_reprs_pickles_and_urls(monkeypatch):
    client = LLMClient(base_url="https://user:pw@llm.example.com/v1?token=abc", api_key="sk-abc123", cache=False)
    text = repr(client)
    assert "sk-abc123" not in text and "pw" not in text and "token" not in text
    assert "sk-abc123" not in client.scrub("key sk-abc123 here")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    clone = pickle.loads(pickle.dumps(client))
    assert b"sk-abc123" not in pickle.dumps(client) and clone._key is None
    assert redact_url("https://u:p@h:8/v1?k=1") == "https://h:8/v1"
    e = pickle.loads(pickle.dumps(LLMError("timeout", "slow")))
    assert e.kind == "timeout" and str(e) == "timeout: slow"


def test_many_calls_keep_their_order_and_their_failures():
    with FakeLLM(SPACE, "fail_then_ok", fail_first=1) as server:
        client = _client(server.url, max_retries=0, max_concurrency=3)
        out = client.chat_many([{"messages": MSG, "seed": i} for i in range(5)])
    assert sum(isinstance(r, LLMError) for r in out) == 1
    assert len([r for r in out if not isinstance(r, LLMError)]) == 4


def test_cache_files_are_plain_json(tmp_path):
    cache = ResponseCache(tmp_path)
    key = cache.key({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    cache.put(key, {"model": "m"}, {"text": "ok"})
    assert cache.get(key) == {"text": "ok"} and cache.get("0" * 64) is None
    (tmp_path / key[:2] / f"{key}.json").write_text("{broken")
    assert cache.get(key) is None


def test_an_endpoint_that_refuses_response_format_is_asked_without_it():
    fmt = {"type": "json_object"}
    with FakeLLM(SPACE, "no_format") as server:
        client = _client(server.url)
        first = client.chat(MSG, seed=1, response_format=fmt)
        second = client.chat(MSG, seed=2, response_format=fmt)
        sent = ["response_format" in r for r in server.requests]
    assert first.text and second.text
    assert sent == [True, False, False]  # refused once, then never sent again
