"""LLAMBO: Bayesian optimisation with a large language model (Liu et al., ICLR 2024).

Each proposal runs up to three parts, each of which can be switched off:

1. **warm start** (``warm_start=True``): for the first ``n_initial`` trials, one chat call
   asks for ``n_initial`` diverse configurations for the described problem; trial ``i`` gets
   the first of them not yet tried (the request depends on the seed only, so the cached
   reply serves every warm-start trial);
2. **candidate sampling** (``candidates="llm"``): ``n_candidates`` calls, spread over
   ``n_templates`` shuffles of the observations, each ask for one configuration expected to
   reach the target ``s* = best - alpha * (worst - best)`` (in loss form; no search over
   alpha, so nothing can loop). ``candidates="base"`` takes ``n_candidates`` proposals of the
   base strategy instead;
3. **ranking** (``surrogate``): ``"llm"`` is the discriminative surrogate: ``n_samples``
   calls per candidate (over the templates) predict its value; their mean and standard
   deviation give expected improvement, and the best candidate wins. ``"gp"`` ranks by
   expected improvement under :class:`surrogates.gp.GPSurrogate` instead; ``"none"`` takes
   the first valid candidate.

Whenever the LLM cannot deliver (no endpoint configured, the endpoint down, slow,
rate-limited or failing, replies that do not parse or validate, only repeats of tried
points), the proposal comes from the base strategy (``llambo:<base>``, default ``tpe``);
each kind of failure is logged once per process and counted. The study always completes.

Counters: every trial the strategy proposes for gets a user attribute ``llambo`` (where the
proposal came from, the fallback reason, calls, cache hits, tokens, seconds, proposals
offered, valid, repaired, valid but repeating a tried point, rejected by reason); the study's user attribute ``llambo`` holds
the totals over its trials and the valid-proposal rate (:func:`study_stats` reads it).
Outside a Study (a plain history list) the totals are in :attr:`LLAMBOStrategy.stats`.

Purity: every request is a function of (seed, history, problem context): observations are
shuffled by generators seeded from the strategy's per-trial generator, and each request
carries a seed. With the response cache (on by default) a replay of the same history gets the
same replies and so the same proposals; without it, what the server samples decides.

Example (no endpoint configured: the base strategy proposes, with a one-line notice):
    >>> import hpo
    >>> s = LLAMBOStrategy(base="random", base_url=None, cache=False)
    >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
    >>> len(s.ask([], n=2))
    2
    >>> s.stats["sources"]
    {'base': 2}
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import time
from typing import Any, Mapping, Sequence

import numpy as np
from optuna.trial import FrozenTrial

from hpo.strategies._history import config_key
from hpo.strategies.base import BaseStrategy, Observation, Strategy, next_number
from hpo.strategies.llambo.client import LLMClient, LLMError, redact_url
from hpo.strategies.params import Boolean, Choice, Integer, Real
from hpo.strategies.llambo.parsing import ParseReport, parse_configs, parse_score
from hpo.strategies.llambo.prompts import (
    FORMATS,
    SCORE_SCHEMA,
    ProblemContext,
    candidate_messages,
    config_schema,
    response_format,
    surrogate_messages,
    warm_start_messages,
    warm_start_schema,
)

__all__ = ["LLAMBOStrategy", "study_stats"]

_log = logging.getLogger("hpo.llambo")
_NOTICED: set = set()
_NOTICE_LOCK = threading.Lock()
_ATTR = "llambo"
_CANDIDATES = ("llm", "base")
_SURROGATES = ("llm", "gp", "none")
_COUNTS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "retries", "proposals", "valid", "repaired",
           "repeats", "scores", "scores_valid")


def _notice(kind: str, message: str) -> None:
    """Log ``message`` once per process for each kind of failure."""
    with _NOTICE_LOCK:
        if kind in _NOTICED:
            return
        _NOTICED.add(kind)
    _log.warning("llambo: %s", message)


class _Fallback(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _add(into: dict, counts: Mapping[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def _is_study(obj: Any) -> bool:
    return obj is not None and hasattr(obj, "set_user_attr") and hasattr(obj, "_storage") and hasattr(obj, "_study_id")


def _study_of(history: Sequence[FrozenTrial]):
    """The optuna study behind a Study's history (None for a plain list).

    Read from ``history.study`` (the hook this needs from the bridge), else, transitionally,
    from what the bridge's history holds privately (the old ``_study``, or the study its
    lazy loader closes over). Only LLAMBO's counters and problem context use it; proposals
    never depend on it beyond the study's user attributes.
    """
    for h in (history, getattr(history, "_trials", None)):
        for name in ("study", "_study"):
            study = getattr(h, name, None)
            if _is_study(study):
                return study
    load = getattr(history, "_load", None)
    if getattr(load, "__closure__", None):
        try:
            study = inspect.getclosurevars(load).nonlocals.get("study")
        except (TypeError, ValueError):
            study = None
        if _is_study(study):
            return study
    return None


def study_stats(study: Any) -> dict:
    """The LLAMBO totals of a study (an ``hpo.Study`` or an ``optuna.Study``): ``{}`` if none.

    Example:
        >>> import hpo
        >>> study = hpo.create_study(space={"x": hpo.Float(0, 1)}, strategy="llambo:random",
        ...                          strategy_kwargs={"base_url": None, "cache": False})
        >>> study.optimize(lambda t: t.params["x"], n_trials=3)
        >>> study_stats(study)["sources"]
        {'base': 3}
    """
    optuna_study = getattr(study, "optuna_study", study)
    return dict(optuna_study.user_attrs.get(_ATTR) or {})


class _Record:
    """What one ask did: the source of its proposals and what the LLM cost."""

    def __init__(self):
        self.source: dict[str, int] = {}
        self.reason: str | None = None
        self.failures: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.counts = dict.fromkeys(_COUNTS, 0)
        self.llm_seconds = 0.0
        self.seconds = 0.0

    def parsed(self, report: ParseReport) -> None:
        self.counts["proposals"] += report.proposals
        self.counts["valid"] += report.valid
        self.counts["repaired"] += report.repaired
        _add(self.rejected, report.rejected)

    def failed(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def as_dict(self) -> dict:
        return {"source": dict(self.source), "fallback": self.reason, **self.counts,
                "llm_seconds": round(self.llm_seconds, 4), "seconds": round(self.seconds, 4),
                "failures": dict(self.failures), "rejected": dict(self.rejected)}


def _totals(records: Sequence[Mapping[str, Any]]) -> dict:
    out: dict[str, Any] = {"trials": 0, "sources": {}, "fallbacks": {}, **dict.fromkeys(_COUNTS, 0),
                           "llm_seconds": 0.0, "seconds": 0.0, "failures": {}, "rejected": {}}
    for r in records:
        out["trials"] += 1
        _add(out["sources"], r.get("source") or {})
        if r.get("fallback"):
            _add(out["fallbacks"], {r["fallback"]: 1})
        for k in _COUNTS:
            out[k] += int(r.get(k) or 0)
        out["llm_seconds"] += float(r.get("llm_seconds") or 0.0)
        out["seconds"] += float(r.get("seconds") or 0.0)
        _add(out["failures"], r.get("failures") or {})
        _add(out["rejected"], r.get("rejected") or {})
    out["llm_seconds"], out["seconds"] = round(out["llm_seconds"], 4), round(out["seconds"], 4)
    out["valid_rate"] = round(out["valid"] / out["proposals"], 4) if out["proposals"] else None
    out["score_valid_rate"] = round(out["scores_valid"] / out["scores"], 4) if out["scores"] else None
    return out


class LLAMBOStrategy(BaseStrategy):
    """LLAMBO on an OpenAI-compatible endpoint, with a base strategy as fallback.

    Args:
        base: the fallback (and ``candidates="base"``) strategy: a registry name or an instance.
        base_kwargs: options of a base given by name.
        base_url, model: the endpoint (default ``"env"``: ``HPO_LLM_BASE_URL`` / ``HPO_LLM_MODEL``;
            ``base_url=None``: no endpoint, the base proposes everything); the
            API key is read from ``OPENAI_API_KEY`` only, never taken as an argument (strategy
            arguments are stored with the study).
        client: an :class:`LLMClient` to use instead of building one (then the endpoint
            arguments are ignored).
        description, data_card, metric: the problem context; default the study's user
            attributes ``llambo:description``, ``llambo:data_card``, ``llambo:metric``.
        warm_start: ask the LLM for the first ``n_initial`` configurations.
        n_initial: trials before candidate sampling starts (LLM warm start or the base).
        candidates: ``"llm"`` (sampling toward a target) or ``"base"``.
        n_candidates: candidates per proposal (the paper uses 20, its code 10).
        n_templates: shuffles of the observations the calls are spread over (2).
        surrogate: ``"llm"``, ``"gp"`` or ``"none"`` (see the module docstring).
        n_samples: LLM predictions per candidate (the paper uses 10).
        alpha: the target's distance beyond the best value, as a fraction of the observed range.
        temperature, top_p: sampling settings of every call.
        max_tokens: reply budget of a candidate call (default ``24 + 16 d``; the warm start
            gets ``n_initial`` times that, a score 24).
        max_examples: observations shown per prompt (best half and most recent half beyond it).
        shuffle_features: shuffle the order of hyperparameters per template (names move with
            their values).
        tolerance: how far outside its range (fraction of the range) a value is clipped
            rather than rejected.
        response_format: ``"json_object"`` (JSON mode: OpenAI, vLLM, Ollama, llama.cpp),
            ``"json_schema"`` (OpenAI-style structured outputs with the space's JSON schema),
            ``"llama_cpp_schema"`` (llama.cpp's server form of the same schema: the reply is
            constrained to the space's names, types and choices), or None (free text, as in the
            paper). An endpoint that refuses it is asked without it. Replies are validated
            against the space whatever the format.
        timeout, max_retries, max_concurrency, cache: passed to :class:`LLMClient`.
    """

    name = "llambo"
    params = {
        "warm_start": Boolean(), "n_initial": Integer(0), "candidates": Choice(*_CANDIDATES),
        "n_candidates": Integer(1), "n_templates": Integer(1), "surrogate": Choice(*_SURROGATES),
        "n_samples": Integer(1), "alpha": Real(0, 10), "temperature": Real(0, 2), "top_p": Real(0, 1, open="low"),
        "max_tokens": Integer(8, none=True), "max_examples": Integer(2), "shuffle_features": Boolean(),
        "tolerance": Real(0, 1), "response_format": Choice(*FORMATS[1:], none=True),
    }

    def __init__(self, base: str | Strategy = "tpe", *, base_kwargs: dict | None = None, base_url: str | None = "env",
                 model: str | None = None, client: LLMClient | None = None, description: str | None = None,
                 data_card: Mapping[str, Any] | str | None = None, metric: str | None = None,
                 warm_start: bool = True, n_initial: int = 5, candidates: str = "llm", n_candidates: int = 4,
                 n_templates: int = 2, surrogate: str = "llm", n_samples: int = 2, alpha: float = 0.1,
                 temperature: float = 0.8, top_p: float = 0.95, max_tokens: int | None = None,
                 max_examples: int = 40, shuffle_features: bool = False, tolerance: float = 0.05,
                 response_format: str | None = "json_object", timeout: float = 60.0, max_retries: int = 2, max_concurrency: int = 2,
                 cache: bool | str = True, **unknown: Any):
        if "api_key" in unknown:
            raise ValueError("LLAMBOStrategy takes no api_key (strategy arguments are stored with the study); "
                             "set OPENAI_API_KEY in the environment or pass client=LLMClient(api_key=...)")
        if unknown:
            raise TypeError(f"LLAMBOStrategy got unexpected arguments {sorted(unknown)}")
        super().__init__(warm_start=warm_start, n_initial=n_initial, candidates=candidates, n_candidates=n_candidates,
                         n_templates=n_templates, surrogate="none" if surrogate is None else surrogate,
                         n_samples=n_samples, alpha=alpha, temperature=temperature, top_p=top_p,
                         max_tokens=max_tokens, max_examples=max_examples, shuffle_features=shuffle_features,
                         tolerance=tolerance, response_format=response_format)
        from hpo.strategies.registry import make_strategy

        if isinstance(base, str) and base.partition(":")[0] == "llambo":
            raise ValueError(f"base={base!r}: llambo cannot fall back on itself; use a base such as 'tpe' or 'random'")
        if base_kwargs and not isinstance(base, str):
            raise ValueError("base_kwargs only applies when base is a name; configure the instance directly")
        self.base_name = base if isinstance(base, str) else getattr(base, "name", type(base).__name__)
        self.base: Strategy = make_strategy(base, **(base_kwargs or {}))
        if isinstance(data_card, str):
            data_card = {"notes": data_card}
        if data_card is not None and not isinstance(data_card, Mapping):
            raise ValueError(f"LLAMBOStrategy: data_card must be a dict or a string, got {type(data_card).__name__}")
        self.description, self.data_card, self.metric = description, data_card, metric
        if client is None:
            url = os.environ.get("HPO_LLM_BASE_URL") or None if base_url == "env" else base_url
            if url is not None:
                client = LLMClient(base_url=url, model=model, timeout=timeout, max_retries=max_retries,
                                   max_concurrency=max_concurrency, cache=cache)
        self.client: LLMClient | None = client
        self._warm_memo: dict = {}
        self._totals: list[dict] = []

    def __repr__(self) -> str:
        return f"LLAMBOStrategy(base={self.base_name!r}, client={self.client!r})"

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self.base.setup(self.space, direction, seed)
        self._warm_memo, self._totals = {}, []

    @property
    def stats(self) -> dict:
        """Totals over the asks of this instance (a Study also stores them per trial and per study)."""
        return _totals(self._totals)

    # --- the proposal --------------------------------------------------------------------
    def _propose(self, history: Sequence[FrozenTrial], n: int, rng: np.random.Generator) -> list[dict]:
        t0 = time.perf_counter()
        rec = _Record()
        before = self.client.stats if self.client is not None else None
        out: list[dict] = []
        source = "llm"
        try:
            out, source = self._llm_propose(history, n, rng, rec)
        except _Fallback as f:
            rec.reason = f.reason
        except LLMError as e:
            rec.reason = e.kind
            rec.failed(e.kind)
            _notice(e.kind, f"{e} (falling back to {self.base_name}; logged once per kind of failure)")
        except Exception as e:  # a fault of ours must not stop the study
            rec.reason = "internal_error"
            _notice("internal_error", f"internal error {type(e).__name__}: {e}; falling back to {self.base_name}")
        if out:
            rec.source[source] = len(out)
        if len(out) < n:
            if rec.reason is None:
                rec.reason = "too_few_candidates"
            rec.source["base"] = n - len(out)
            out = out + [dict(c) for c in self.base.ask(history, n - len(out))]
        if before is not None:
            after = self.client.stats
            for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "retries"):
                rec.counts[k] = after[k] - before[k]
            rec.llm_seconds = after["seconds"] - before["seconds"]
        rec.seconds = time.perf_counter() - t0
        self._publish(history, rec)
        return out

    def _llm_propose(self, history: Sequence[FrozenTrial], n: int, rng: np.random.Generator,
                     rec: _Record) -> tuple[list[dict], str]:
        if self.client is None:
            _notice("not_configured", f"no LLM endpoint configured (set HPO_LLM_BASE_URL or pass base_url=); "
                                      f"proposing with {self.base_name}")
            raise _Fallback("not_configured")
        seen = {config_key(c) for c in self.pending(history)}
        for t in history:
            config = self._clean(t.params) if t.params else None
            if config:
                seen.add(config_key(config))
        n_tried = len(history)
        ctx = self._context(history)
        if n_tried < self.n_initial:
            if not self.warm_start:
                raise _Fallback("initial_design")
            return self._warm(ctx, seen, min(n, self.n_initial - n_tried), rec), "warm_start"
        obs = self.observations(history)
        if not obs:
            raise _Fallback("no_observations")
        seeds = rng.integers(2**31 - 1, size=max(self.n_candidates, n) + 1)
        templates = self._templates(obs)
        if self.candidates == "llm":
            cands = self._sample_candidates(ctx, obs, templates, seen, max(self.n_candidates, n), seeds, rec)
        else:
            cands = [c for c in self.base.ask(history, max(self.n_candidates, n)) if config_key(c) not in seen]
        if not cands:
            raise _Fallback("no_valid_candidate")
        ranked = self._rank(ctx, obs, templates, cands, int(seeds[-1]), rec)
        return ranked[:n], "llm" if self.candidates == "llm" else "base_ranked"

    # --- the parts ---------------------------------------------------------------------
    def _tokens(self) -> int:
        return self.max_tokens if self.max_tokens is not None else 24 + 16 * len(self.space.names)

    def _warm(self, ctx: ProblemContext, seen: set, k: int, rec: _Record) -> list[dict]:
        seed = int(np.random.default_rng([0 if self.seed is None else int(self.seed) & 0xFFFFFFFF, 17]).integers(2**31 - 1))
        messages = warm_start_messages(ctx, self.space, max(self.n_initial, 1))
        memo_key = json.dumps(messages, sort_keys=True)
        configs = self._warm_memo.get(memo_key)
        if configs is None:
            fmt = response_format(self.response_format, warm_start_schema(self.space, max(self.n_initial, 1)),
                                  "configurations")
            reply = self.client.chat(messages, temperature=self.temperature, top_p=self.top_p, seed=seed,
                                     max_tokens=min(2048, self._tokens() * max(self.n_initial, 1)),
                                     response_format=fmt)
            configs, report = parse_configs(reply.text, self.space, max_items=4 * max(self.n_initial, 1),
                                            tolerance=self.tolerance)
            rec.parsed(report)
            self._warm_memo[memo_key] = configs
            rec.counts["repeats"] += report.valid - len(configs)
        fresh = [c for c in configs if config_key(c) not in seen][:k]
        if not fresh:
            raise _Fallback("no_valid_candidate")
        return [dict(c) for c in fresh]

    def _examples(self, obs: list[Observation]) -> list[Observation]:
        if len(obs) <= self.max_examples:
            return list(obs)
        best = sorted(obs, key=lambda o: (o.loss, o.number))[: self.max_examples // 2]
        keep = {o.number for o in best}
        recent = [o for o in sorted(obs, key=lambda o: -o.number) if o.number not in keep]
        keep |= {o.number for o in recent[: self.max_examples - len(best)]}
        return [o for o in obs if o.number in keep]

    def _templates(self, obs: list[Observation]) -> list[tuple[list, list]]:
        """Per template: the examples (config, value in the study's direction) in its order, and the name order.

        Template 0 lists the observations by trial number; template k > 0 by a key drawn from
        (seed, k, trial number). The orders differ between templates, as the paper's shuffles
        do, but stay stable from one iteration to the next: a new observation is inserted, the
        rest keep their order, so a server's prompt cache reuses most of the previous prompt.
        """
        sign = 1.0 if self.direction == "minimize" else -1.0
        chosen = sorted(self._examples(obs), key=lambda o: o.number)
        seed = 0 if self.seed is None else int(self.seed) & 0xFFFFFFFF
        out = []
        for k in range(self.n_templates):
            order = chosen if k == 0 else sorted(
                chosen, key=lambda o: (float(np.random.default_rng([seed, k, o.number]).random()), o.number))
            names = list(self.space.order)
            if self.shuffle_features and k > 0:
                g = np.random.default_rng([seed, k, 2**31])
                names = [names[i] for i in g.permutation(len(names))]
            out.append(([(o.config, sign * o.loss) for o in order], names))
        return out

    def _target(self, obs: list[Observation]) -> float:
        losses = np.array([o.loss for o in obs])
        best, span = float(losses.min()), float(np.ptp(losses))
        if span <= 0:
            span = abs(best) if best != 0 else 1.0
        return best - self.alpha * span

    def _sample_candidates(self, ctx, obs, templates, seen: set, m: int, seeds: np.ndarray, rec: _Record) -> list[dict]:
        sign = 1.0 if self.direction == "minimize" else -1.0
        target = sign * self._target(obs)
        requests = []
        fmt = response_format(self.response_format, config_schema(self.space), "configuration")
        for i in range(m):  # in blocks by template: consecutive prompts share their prefix
            examples, names = templates[i * len(templates) // m]
            requests.append({"messages": candidate_messages(ctx, self.space, examples, target, names),
                             "temperature": self.temperature, "top_p": self.top_p,
                             "max_tokens": self._tokens(), "seed": int(seeds[i]), "response_format": fmt})
        replies = self.client.chat_many(requests)
        errors = [r for r in replies if isinstance(r, LLMError)]
        for e in errors:
            rec.failed(e.kind)
            _notice(e.kind, f"{e} (falling back to {self.base_name} where needed; logged once per kind of failure)")
        if len(errors) == len(replies):
            raise _Fallback(errors[0].kind)
        out: list[dict] = []
        for reply in replies:
            if isinstance(reply, LLMError):
                continue
            configs, report = parse_configs(reply.text, self.space, max_items=4, tolerance=self.tolerance)
            rec.parsed(report)
            for c in configs:
                key = config_key(c)
                if key in seen:
                    rec.counts["repeats"] += 1  # valid, but already tried, pending or proposed
                else:
                    seen.add(key)
                    out.append(c)
        if not out:
            if rec.rejected:
                _notice("garbage", f"LLM replies did not give a valid new configuration ({rec.rejected}); "
                                   f"falling back to {self.base_name}; logged once")
            raise _Fallback("no_valid_candidate")
        return out

    def _rank(self, ctx, obs, templates, cands: list[dict], seed: int, rec: _Record) -> list[dict]:
        if len(cands) == 1 or self.surrogate == "none":
            return cands
        from hpo.strategies._acquisition import log_expected_improvement

        losses = np.array([o.loss for o in obs])
        best, span = float(losses.min()), max(float(np.ptp(losses)), 1e-12)
        if self.surrogate == "gp":
            mean, std = self._gp_predict(obs, cands, seed)
            if mean is None:
                return cands
        else:
            mean, std = self._llm_predict(ctx, templates, cands, seed, losses, rec)
            if mean is None:
                return cands
            std = np.maximum(std, 0.01 * span)
        score = np.where(np.isfinite(mean), log_expected_improvement(np.nan_to_num(mean, nan=0.0), std, best),
                         -np.inf)
        order = sorted(range(len(cands)), key=lambda i: (-score[i], i))
        return [cands[i] for i in order]

    def _llm_predict(self, ctx, templates, cands, seed, losses, rec):
        sign = 1.0 if self.direction == "minimize" else -1.0
        g = np.random.default_rng(seed)
        requests, owner = [], []
        for k in range(self.n_samples):  # the last candidate call's template first: its prefix is still loaded
            examples, names = templates[(len(templates) - 1 - k) % len(templates)]
            for i, c in enumerate(cands):  # grouped by template: consecutive prompts share their prefix
                requests.append({"messages": surrogate_messages(ctx, self.space, examples, c, names),
                                 "temperature": self.temperature, "top_p": self.top_p, "max_tokens": 24,
                                 "seed": int(g.integers(2**31 - 1)),
                                 "response_format": response_format(self.response_format, SCORE_SCHEMA, "score")})
                owner.append(i)
        replies = self.client.chat_many(requests)
        lo, hi = float(losses.min()), float(losses.max())
        span = max(hi - lo, abs(hi), 1e-12)
        values: list[list[float]] = [[] for _ in cands]
        for i, reply in zip(owner, replies):
            rec.counts["scores"] += 1
            if isinstance(reply, LLMError):
                rec.failed(reply.kind)
                continue
            value, _ = parse_score(reply.text)
            if value is None:
                continue
            loss = sign * value
            if not lo - 5 * span <= loss <= hi + 5 * span:  # far outside anything seen: garbage
                continue
            rec.counts["scores_valid"] += 1
            values[i].append(loss)
        if not any(values):
            return None, None
        mean = np.array([np.mean(v) if v else np.nan for v in values])
        std = np.array([np.std(v) if len(v) > 1 else 0.0 for v in values])
        return mean, std

    def _gp_predict(self, obs, cands, seed):
        from hpo.strategies._acquisition import UnitFeatures
        from surrogates.base import SurrogateFitError
        from surrogates.gp import GPSurrogate

        features = UnitFeatures(self.space)
        X = features.transform(np.array([self.space.to_unit(o.config) for o in obs]))
        Xc = features.transform(np.array([self.space.to_unit(c) for c in cands]))
        try:
            gp = GPSurrogate(n_restarts=1, seed=seed % (2**31)).fit(X, np.array([o.loss for o in obs]))
            return gp.predict(Xc)
        except SurrogateFitError as e:
            _notice("gp_fit", f"GP ranking failed ({e}); candidates kept in proposal order")
            return None, None

    # --- context and counters -------------------------------------------------------------
    def _context(self, history: Sequence[FrozenTrial]) -> ProblemContext:
        attrs: Mapping[str, Any] = {}
        study = _study_of(history)
        if study is not None:
            try:
                attrs = study.user_attrs
            except Exception:
                attrs = {}
        card = self.data_card if self.data_card is not None else attrs.get("llambo:data_card")
        if isinstance(card, str):
            card = {"notes": card}
        if not isinstance(card, Mapping):
            card = {}
        description = self.description or attrs.get("llambo:description") or (
            f"Tune {len(self.space.names)} hyperparameters of a model.")
        metric = self.metric or attrs.get("llambo:metric") or "objective value"
        return ProblemContext(description=str(description), data_card=dict(card), metric=str(metric),
                              direction=self.direction)

    def _publish(self, history: Sequence[FrozenTrial], rec: _Record) -> None:
        record = rec.as_dict()
        self._totals.append(record)
        study = _study_of(history)
        if study is None:
            return
        try:
            number = next_number(history)
            storage = study._storage
            trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
            storage.set_trial_user_attr(trial_id, _ATTR, record)
            records = [t.user_attrs[_ATTR] for t in history
                       if isinstance(t.user_attrs.get(_ATTR), dict) and t.number != number]
            totals = _totals(records + [record])
            totals["base"] = self.base_name
            totals["endpoint"] = redact_url(self.client.base_url) if self.client is not None else None
            totals["model"] = self.client.model if self.client is not None else None
            study.set_user_attr(_ATTR, totals)
        except Exception as e:  # counters must never fail a trial
            _notice("counters", f"could not store LLAMBO counters in the study ({type(e).__name__}: {e})")

