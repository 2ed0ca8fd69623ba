"""An OpenAI-compatible chat client for LLAMBO: response cache, bounded retries, a concurrency
limit, counters, and an API key that never leaves the client.

The endpoint comes from the arguments or the environment: ``HPO_LLM_BASE_URL`` (any
OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp's server; ``hpo llm serve`` starts
a local one), ``HPO_LLM_MODEL`` (default: the first model the server lists) and
``OPENAI_API_KEY`` (default: a placeholder, which local servers accept). Nothing is read at
import time.

Every failure becomes an :class:`LLMError` with a ``kind`` (``"timeout"``, ``"unreachable"``,
``"rate_limited"``, ``"server_error"``, ``"http_error"``, ``"bad_response"``,
``"not_installed"``, ``"circuit_open"``) that callers count and fall back on. Timeouts,
connection errors, 429 and 5xx are retried ``max_retries`` times with exponential backoff
(a ``Retry-After`` header is honoured up to ``max_backoff``); after ``trip_after``
consecutive failed calls the client fails fast for ``cooldown`` seconds, so a dead endpoint
costs a study a few timeouts, not one per trial.

Replies are cached on disk, keyed by the whole request (model, messages, sampling settings
and seed; not the URL, so a cache made against one server replays against another serving
the same model). A rerun with the cache is reproducible and free. The key is scrubbed from
every message, exception and cached text; ``repr`` and pickling leave it out (an unpickled
client reads ``OPENAI_API_KEY`` again).

Example:
    >>> c = LLMClient(base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-secret", cache=False)
    >>> "sk-secret" in repr(c)
    False
    >>> c.configured
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

__all__ = ["LLMClient", "LLMError", "Reply", "ResponseCache", "default_cache_dir", "redact_url"]

_log = logging.getLogger("hpo.llambo")
_RETRIED = ("timeout", "unreachable", "rate_limited", "server_error")
_PLACEHOLDER_KEY = "no-key"


class LLMError(RuntimeError):
    """A chat call that produced no usable reply; ``kind`` says why (see the module docstring)."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message
        self.status: int | None = None
        self.retry_after: float | None = None

    def __reduce__(self):
        return (type(self), (self.kind, self.message))


@dataclass(frozen=True)
class Reply:
    """One chat completion: its text and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    seconds: float = 0.0
    finish_reason: str | None = None


@dataclass
class _Counters:
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    retries: int = 0
    failures: dict = field(default_factory=dict)


def redact_url(url: str | None) -> str | None:
    """``url`` without user:password and query string (what may be logged or stored)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def default_cache_dir() -> Path:
    """``HPO_LLM_CACHE`` or ``~/.cache/hpo/llm``."""
    env = os.environ.get("HPO_LLM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hpo" / "llm"


class ResponseCache:
    """Replies on disk, one JSON file per request (``<folder>/<2 hex>/<sha256>.json``).

    Writes are atomic (temp file + rename), so processes sharing a folder never read half a file.

    Example:
        >>> import tempfile
        >>> cache = ResponseCache(tempfile.mkdtemp())
        >>> k = cache.key({"model": "m", "messages": []})
        >>> cache.put(k, {"model": "m"}, {"text": "hi"})
        >>> cache.get(k)["text"]
        'hi'
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()

    @staticmethod
    def key(request: Mapping[str, Any]) -> str:
        blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            data = json.loads(self._path(key).read_text())
            return data["response"] if isinstance(data.get("response"), dict) else None
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump({"request": request, "response": response}, f, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as e:  # a read-only or full disk must not stop a study
            _log.debug("LLM response cache write failed: %s", e)

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.folder)!r})"


class _Secret:
    """Holds the API key; prints as ``***``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("the API key is not picklable; workers read OPENAI_API_KEY from their environment")


class LLMClient:
    """Chat completions against an OpenAI-compatible endpoint.

    Args:
        base_url: e.g. ``http://127.0.0.1:8011/v1``; default ``HPO_LLM_BASE_URL``. Without
            one the client is not :attr:`configured` and every call raises ``LLMError``.
        model: the model name; default ``HPO_LLM_MODEL``, else the first one the server lists.
        api_key: default ``OPENAI_API_KEY``; never stored, logged, cached or pickled.
        timeout: seconds per attempt.
        max_retries: retries of a timed-out, refused, rate-limited (429) or 5xx call.
        backoff, max_backoff: the wait before retry ``i`` is ``min(max_backoff, backoff * 2**i)``.
        max_concurrency: requests in flight at once (:meth:`chat_many` and threads sharing the client).
        cache: ``True`` (``HPO_LLM_CACHE`` or ``~/.cache/hpo/llm``), a folder, or ``False``.
        trip_after, cooldown: after ``trip_after`` consecutive failed calls, fail fast for
            ``cooldown`` seconds.
    """

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None, *,
                 timeout: float = 60.0, max_retries: int = 2, backoff: float = 0.5, max_backoff: float = 8.0,
                 max_concurrency: int = 2, cache: bool | str | Path = True, trip_after: int = 3,
                 cooldown: float = 30.0):
        for name, v, low in (("timeout", timeout, 1e-3), ("backoff", backoff, 0.0), ("max_backoff", max_backoff, 0.0),
                             ("cooldown", cooldown, 0.0)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < low:
                raise ValueError(f"{name} must be a number >= {low}, got {v!r}")
        for name, v, low in (("max_retries", max_retries, 0), ("max_concurrency", max_concurrency, 1),
                             ("trip_after", trip_after, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        base_url = base_url if base_url is not None else os.environ.get("HPO_LLM_BASE_URL") or None
        if base_url is not None and not re.match(r"^https?://", str(base_url)):
            raise ValueError(f"base_url must start with http:// or https://, got {redact_url(str(base_url))!r}")
        self.base_url: str | None = base_url
        self._model_arg = model if model is not None else os.environ.get("HPO_LLM_MODEL") or None
        self._model: str | None = self._model_arg
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._key = _Secret(key) if key else None
        self._key_from_env = api_key is None
        self.timeout, self.max_retries = float(timeout), int(max_retries)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.max_concurrency = int(max_concurrency)
        self.trip_after, self.cooldown = int(trip_after), float(cooldown)
        if cache is True:
            self.cache: ResponseCache | None = ResponseCache(default_cache_dir())
        elif cache is False or cache is None:
            self.cache = None
        else:
            self.cache = ResponseCache(cache)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._client = None
        self._format_refused = False
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._counters = _Counters()
        self._consecutive = 0
        self._open_until = 0.0
        self._last_kind = ""

    # --- identity, pickling ------------------------------------------------------------
    @property
    def configured(self) -> bool:
        """Whether an endpoint is set (it may still be down)."""
        return self.base_url is not None

    @property
    def model(self) -> str | None:
        """The model name (resolved from the server on first use when not given)."""
        return self._model

    def __repr__(self) -> str:
        return (f"LLMClient(base_url={redact_url(self.base_url)!r}, model={self._model!r}, "
                f"api_key={'***' if self._key else None}, cache={self.cache!r})")

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_key", "_client", "_lock", "_slots", "_counters", "_consecutive", "_open_until",
                              "_last_kind", "_format_refused")}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        key = os.environ.get("OPENAI_API_KEY")
        self._key = _Secret(key) if key else None
        self._init_runtime()

    # --- counters --------------------------------------------------------------------
    @property
    def stats(self) -> dict:
        """Totals over this client's life: calls, cache hits, tokens, seconds, retries, failures by kind."""
        with self._lock:
            c = self._counters
            return {"calls": c.calls, "cache_hits": c.cache_hits, "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens, "seconds": round(c.seconds, 4),
                    "retries": c.retries, "failures": dict(c.failures)}

    def scrub(self, text: str) -> str:
        """``text`` with the API key (and any URL credentials) replaced by ``***``."""
        text = str(text)
        if self._key is not None and self._key.reveal() and self._key.reveal() != _PLACEHOLDER_KEY:
            text = text.replace(self._key.reveal(), "***")
        if self.base_url and self.base_url != redact_url(self.base_url):
            text = text.replace(self.base_url, redact_url(self.base_url) or "")
        return text

    # --- calls -----------------------------------------------------------------------
    def chat(self, messages: Sequence[Mapping[str, str]], *, temperature: float = 0.8, max_tokens: int = 128,
             top_p: float = 0.95, seed: int | None = None, response_format: Mapping[str, Any] | None = None) -> Reply:
        """One chat completion (from the cache when the same request was answered before).

        ``response_format`` is passed as is (JSON mode, a JSON schema); an endpoint that refuses
        it with 400/404/422 is asked again without it, and not sent one again.
        """
        if not self.configured:
            raise LLMError("not_configured", "no LLM endpoint: set HPO_LLM_BASE_URL or pass base_url=")
        model = self._resolve_model()
        request = {"model": model, "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
                   "temperature": float(temperature), "max_tokens": int(max_tokens), "top_p": float(top_p),
                   "seed": None if seed is None else int(seed)}
        if response_format is not None and not self._format_refused:
            request["response_format"] = dict(response_format)
        try:
            return self._cached_call(request)
        except LLMError as e:
            if "response_format" not in request or e.kind != "http_error" or e.status not in (400, 404, 422):
                raise
            self._format_refused = True
            _log.warning("llambo: %s refused response_format (%s); asking without it from now on",
                         redact_url(self.base_url), e.message[:120])
            del request["response_format"]
            return self._cached_call(request)

    def _cached_call(self, request: dict) -> Reply:
        key = ResponseCache.key(request) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and isinstance(hit.get("text"), str):
                with self._lock:
                    self._counters.cache_hits += 1
                return Reply(hit["text"], int(hit.get("prompt_tokens", 0)), int(hit.get("completion_tokens", 0)),
                             cached=True, finish_reason=hit.get("finish_reason"))
        reply = self._call(request)
        if self.cache is not None:
            self.cache.put(key, request, {"text": reply.text, "prompt_tokens": reply.prompt_tokens,
                                          "completion_tokens": reply.completion_tokens,
                                          "finish_reason": reply.finish_reason})
        return reply

    def chat_many(self, requests: Sequence[Mapping[str, Any]]) -> list[Reply | LLMError]:
        """Several :meth:`chat` calls (each a dict of its arguments), at most ``max_concurrency``
        at once; results in request order, a failed call as its ``LLMError``."""

        def one(req: Mapping[str, Any]) -> Reply | LLMError:
            try:
                return self.chat(**req)
            except LLMError as e:
                return e

        if len(requests) <= 1 or self.max_concurrency == 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(one, requests))

    def _openai(self):
        if self._client is None:
            try:
                import openai
            except ImportError:
                raise LLMError("not_installed", "the openai package is missing; pip install 'hpo[llm]'") from None
            key = self._key.reveal() if self._key is not None else _PLACEHOLDER_KEY
            self._client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=0)
        return self._client

    def _resolve_model(self) -> str:
        if self._model is not None:
            return self._model
        client = self._openai()
        try:
            with self._slots:
                models = list(client.models.list())
        except Exception as e:
            raise self._error(e) from None
        if not models:
            raise LLMError("bad_response", f"{redact_url(self.base_url)} lists no model; set HPO_LLM_MODEL")
        self._model = str(models[0].id)
        return self._model

    def _call(self, request: dict) -> Reply:
        now = time.monotonic()
        if now < self._open_until:
            raise LLMError("circuit_open", f"{self._last_kind} {self.trip_after} times in a row; "
                                           f"skipping the endpoint for {self._open_until - now:.0f} s more")
        client = self._openai()
        args = {k: v for k, v in request.items() if v is not None}
        last: LLMError | None = None
        for attempt in range(self.max_retries + 1):
            t0 = time.perf_counter()
            try:
                with self._slots:
                    response = client.chat.completions.create(**args)
                reply = self._reply(response, time.perf_counter() - t0)
            except LLMError as e:
                last = e
            except Exception as e:
                last = self._error(e)
            else:
                with self._lock:
                    c = self._counters
                    c.calls += 1
                    c.prompt_tokens += reply.prompt_tokens
                    c.completion_tokens += reply.completion_tokens
                    c.seconds += reply.seconds
                    self._consecutive = 0
                return reply
            with self._lock:
                self._counters.seconds += time.perf_counter() - t0
            if last.kind not in _RETRIED or attempt == self.max_retries:
                break
            wait = min(self.max_backoff, self.backoff * 2**attempt)
            retry_after = getattr(last, "retry_after", None)
            if retry_after is not None:
                wait = min(self.max_backoff, max(wait, retry_after))
            with self._lock:
                self._counters.retries += 1
            time.sleep(wait)
        assert last is not None
        with self._lock:
            self._counters.calls += 1
            self._counters.failures[last.kind] = self._counters.failures.get(last.kind, 0) + 1
            self._consecutive += 1
            self._last_kind = last.kind
            if self._consecutive >= self.trip_after:
                self._open_until = time.monotonic() + self.cooldown
                self._consecutive = 0
        raise last

    def _reply(self, response: Any, seconds: float) -> Reply:
        try:
            choice = response.choices[0]
            text = choice.message.content
        except Exception:
            raise LLMError("bad_response", f"reply has no message: {self.scrub(repr(response))[:200]}") from None
        if not isinstance(text, str):
            raise LLMError("bad_response", "reply message has no text content")
        usage = getattr(response, "usage", None)
        return Reply(self.scrub(text), int(getattr(usage, "prompt_tokens", 0) or 0),
                     int(getattr(usage, "completion_tokens", 0) or 0), cached=False, seconds=seconds,
                     finish_reason=getattr(choice, "finish_reason", None))

    def _error(self, e: Exception) -> LLMError:
        """An openai/httpx exception as an ``LLMError`` of the right kind, with the key scrubbed."""
        import openai

        status = getattr(e, "status_code", None)
        if isinstance(e, openai.APITimeoutError):
            kind = "timeout"
        elif isinstance(e, openai.APIConnectionError):
            kind = "unreachable"
        elif status == 429:
            kind = "rate_limited"
        elif isinstance(status, int) and status >= 500:
            kind = "server_error"
        elif isinstance(status, int):
            kind = "http_error"
        else:
            kind = "bad_response"
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        where = redact_url(self.base_url)
        err = LLMError(kind, self.scrub(f"{type(e).__name__} from {where}: {message}")[:300])
        err.status = status if isinstance(status, int) else None
        headers = getattr(getattr(e, "response", None), "headers", None) or {}
        try:
            err.retry_after = float(headers.get("retry-after")) if headers.get("retry-after") else None
        except (TypeError, ValueError):
            err.retry_after = None
        return err
