"""LLM replies -> configurations of the space (or scores), JSON first, validated, with counts.

The parsing contract depends on the space alone, never on the prompt: whatever the reply
says (an injected instruction included), only values that the space accepts come out.

A reply is searched for JSON (the whole text, fenced code blocks, then every ``{``/``[``
position, bounded); a cut-off object is closed and a Python-style dict (single quotes,
``True``) read with ``ast.literal_eval``; with no JSON at all, ``name: value`` /
``name = value`` pairs of known names are read. Each proposed configuration is then checked
against the space, parents before children:

* near-misses are repaired and counted: numbers given as strings, an integer given as
  ``3.0`` or ``2.7`` (rounded), a value at most ``tolerance`` (5%) of the range outside its
  bounds (on the log scale for log parameters: clipped), a category in the wrong case or a
  number given as text, a key in the wrong case, values for inactive conditional
  parameters (dropped), keys the space does not have (dropped);
* the rest is rejected with a reason: ``no_json`` (prose), ``truncated``, ``not_a_config``,
  ``missing_value``, ``out_of_range``, ``unknown_category``, ``bad_type``, ``invalid``
  (a forbidden combination).

Example:
    >>> import hpo
    >>> space = hpo.Space({"lr": hpo.Float(1e-4, 1e-1, log=True), "opt": hpo.Categorical(["adam", "sgd"])})
    >>> configs, report = parse_configs('Sure! {"lr": "0.01", "opt": "Adam"}', space)
    >>> configs
    [{'lr': 0.01, 'opt': 'adam'}]
    >>> report.valid, report.repaired
    (1, 1)
    >>> parse_configs('{"lr": 5, "opt": "sgd"}', space)[1].rejected
    {'out_of_range': 1}
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from ConfigSpace import (
    Constant,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from hpo.space import Space, SpaceError

__all__ = ["ParseReport", "parse_configs", "parse_score", "find_json", "repair_config", "REASONS"]

REASONS = ("no_json", "truncated", "not_a_config", "missing_value", "out_of_range", "unknown_category",
           "bad_type", "invalid")
_MAX_CHARS = 20_000  # longer replies are cut: parsing cost stays bounded whatever the model writes
_MAX_STARTS = 200  # JSON start positions tried per reply
_LIST_KEYS = ("configurations", "configs", "candidates", "suggestions", "results", "items")
_SCORE_KEYS = ("score", "value", "performance", "prediction", "predicted", "loss", "accuracy", "metric")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"```(?:json|JSON|python)?\s*(.*?)```", re.S)


@dataclass
class ParseReport:
    """What one or more replies offered and what came of it.

    ``proposals`` counts the configurations the replies offered (a reply with none counts
    once); ``valid`` of them passed (``repaired`` of those after a repair); ``rejected`` maps
    reasons to counts.
    """

    proposals: int = 0
    valid: int = 0
    repaired: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def merge(self, other: "ParseReport") -> "ParseReport":
        self.proposals += other.proposals
        self.valid += other.valid
        self.repaired += other.repaired
        for k, v in other.rejected.items():
            self.rejected[k] = self.rejected.get(k, 0) + v
        return self


def _close_truncated(text: str) -> str | None:
    """A JSON text cut off mid-way, closed: open strings and brackets are closed, a dangling
    key or comma is cut. None when nothing sensible remains."""
    stack, in_str, esc, last_safe = [], False, False, -1
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack:
                return None
            stack.pop()
        elif ch == ",":
            last_safe = i
    if not stack:
        return None
    head = text + ('"' if in_str else "")
    candidates = [head + "".join(reversed(stack))]
    if last_safe > 0:  # drop the unfinished last member
        cut = text[:last_safe]
        depth = []
        for ch in re.sub(r'"(?:\\.|[^"\\])*"', '""', cut):
            if ch in "{[":
                depth.append("}" if ch == "{" else "]")
            elif ch in "}]" and depth:
                depth.pop()
        candidates.append(cut + "".join(reversed(depth)))
    for c in candidates:
        try:
            json.loads(c)
            return c
        except ValueError:
            continue
    return None


def _literal_span(text: str, start: int) -> tuple[Any, int]:
    """(value, end) of a Python-literal dict/list at ``start`` (single quotes, True/None); ValueError if none."""
    opener = text[start]
    closer = "}" if opener == "{" else "]"
    depth = 0
    for j in range(start, min(len(text), start + 5000)):
        if text[j] == opener:
            depth += 1
        elif text[j] == closer:
            depth -= 1
            if depth == 0:
                return ast.literal_eval(text[start : j + 1]), j + 1
    raise ValueError("unbalanced")


def find_json(text: str) -> tuple[list[Any], bool, bool]:
    """JSON values found in ``text``: (values, repaired, truncated).

    ``repaired`` says a value needed a repair (Python literal, closed truncation);
    ``truncated`` that a JSON start was found that could not be completed.
    """
    text = (text or "")[:_MAX_CHARS]
    stripped = text.strip()
    for body in [m.group(1) for m in _FENCE.finditer(text)] + [stripped]:
        try:
            return [json.loads(body)], False, False
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    values: list[Any] = []
    repaired = truncated = False
    i, starts = 0, 0
    while i < len(text) and starts < _MAX_STARTS:
        j = min([k for k in (text.find("{", i), text.find("[", i)) if k >= 0], default=-1)
        if j < 0:
            break
        starts += 1
        try:
            value, end = decoder.raw_decode(text, j)
            values.append(value)
            i = end
            continue
        except ValueError:
            pass
        try:
            value, end = _literal_span(text, j)
            values.append(value)
            repaired = True
            i = end
            continue
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
        if not values and text[j] == "{":
            closed = _close_truncated(text[j:])
            if closed is not None:
                values.append(json.loads(closed))
                repaired = True
                break
            truncated = True
        i = j + 1
    return values, repaired, truncated and not values


def _config_dicts(value: Any, names: set, depth: int = 0) -> list[dict]:
    """The dicts in a JSON value that look like configurations (bounded depth)."""
    if depth > 3:
        return []
    if isinstance(value, list):
        return [d for v in value[:64] for d in _config_dicts(v, names, depth + 1)]
    if not isinstance(value, dict):
        return []
    lowered = {str(k).strip().lower() for k in value}
    if lowered & {n.lower() for n in names}:
        return [value]
    out = []
    for k in list(value)[:16]:
        v = value[k]
        if isinstance(v, (dict, list)) and (str(k).lower() in _LIST_KEYS or str(k).lower() in ("config", "configuration")
                                           or isinstance(v, list)):
            out.extend(_config_dicts(v, names, depth + 1))
    return out


def _key_values(text: str, space: Space) -> dict:
    """``name: value`` / ``name = value`` pairs of the space's names in free text."""
    out = {}
    for name in space.names:
        m = re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])\s*[:=]\s*[\"']?([^,;\n#}}\"']+)", text)
        if m:
            out[name] = m.group(1).strip()
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        s = value.strip().rstrip(".").replace("_", "")
        try:
            return float(s)
        except ValueError:
            m = re.fullmatch(r"\s*(" + _NUMBER.pattern + r")\s*", s)
            return float(m.group(1)) if m else None
    return None


def _coerce(hp: Any, value: Any, tolerance: float) -> tuple[Any, bool, str | None]:
    """(value, repaired, reason): the value the space accepts, or a reason it cannot."""
    if isinstance(hp, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
        x = _number(value)
        if x is None or not math.isfinite(x):
            return None, False, "bad_type"
        repaired = not isinstance(value, (int, float))
        lo, hi = float(hp.lower), float(hp.upper)
        if not lo <= x <= hi:
            if hp.log:
                if x <= 0:
                    return None, False, "out_of_range"
                over = max(math.log(lo) - math.log(x), math.log(x) - math.log(hi)) / (math.log(hi) - math.log(lo))
            else:
                over = max(lo - x, x - hi) / (hi - lo)
            if over > tolerance:
                return None, False, "out_of_range"
            x, repaired = min(max(x, lo), hi), True
        if isinstance(hp, UniformIntegerHyperparameter):
            r = int(round(x))
            repaired = repaired or r != x or not isinstance(value, int)
            return min(max(r, int(hp.lower)), int(hp.upper)), repaired, None
        return float(x), repaired, None
    if isinstance(hp, Constant):
        return hp.value, False, None
    choices = list(hp.sequence if isinstance(hp, OrdinalHyperparameter) else hp.choices)
    for c in choices:
        if type(c) is type(value) and c == value:
            return c, False, None
    text = str(value).strip().lower()
    matches = [c for c in choices if str(c).strip().lower() == text]
    if len(matches) == 1:
        return matches[0], True, None
    x = _number(value)
    if x is not None:
        numeric = [c for c in choices if not isinstance(c, (bool, str)) and isinstance(c, (int, float)) and c == x]
        if len(numeric) == 1:
            return numeric[0], True, None
    return None, False, "unknown_category"


def repair_config(raw: Mapping[str, Any], space: Space, tolerance: float = 0.05) -> tuple[dict | None, bool, str | None]:
    """``raw`` as a valid configuration of ``space``: (config, repaired, None) or (None, False, reason)."""
    by_lower = {n.lower(): n for n in space.names}
    values: dict[str, Any] = {}
    repaired = False
    for k, v in raw.items():
        key = str(k)
        if key in space:
            values[key] = v
        elif key.strip().lower() in by_lower and by_lower[key.strip().lower()] not in values:
            values[by_lower[key.strip().lower()]] = v
            repaired = True
        else:
            repaired = True  # a key the space does not have: dropped
    config: dict[str, Any] = {}
    for name in space.order:
        if not space.is_active(name, config):
            if name in values:
                repaired = True  # a value for an inactive conditional: dropped
            continue
        hp = space.hyperparameter(name)
        if name not in values:
            if isinstance(hp, Constant):
                config[name] = hp.value
                continue
            return None, False, "missing_value"
        value, fixed, reason = _coerce(hp, values[name], tolerance)
        if reason is not None:
            return None, False, reason
        config[name] = value
        repaired = repaired or fixed
    try:
        return space.validate(config), repaired, None
    except SpaceError:
        return None, False, "invalid"


def parse_configs(text: str, space: Space, *, max_items: int = 32, tolerance: float = 0.05) -> tuple[list[dict], ParseReport]:
    """Every valid configuration in ``text`` (at most ``max_items``) and a :class:`ParseReport`."""
    report = ParseReport()
    values, repaired_json, truncated = find_json(text)
    names = set(space.names)
    raws = [d for v in values for d in _config_dicts(v, names)]
    from_text = False
    if not raws:
        kv = _key_values((text or "")[:_MAX_CHARS], space)
        if kv:
            raws, from_text = [kv], True
    if not raws:
        report.proposals = 1
        report.reject("truncated" if truncated else ("not_a_config" if values else "no_json"))
        return [], report
    configs, seen = [], set()
    for raw in raws[:max_items]:
        report.proposals += 1
        config, repaired, reason = repair_config(raw, space, tolerance)
        if config is None:
            report.reject(reason or "invalid")
            continue
        report.valid += 1
        if repaired or repaired_json or from_text:
            report.repaired += 1
        key = tuple(sorted(config.items()))
        if key not in seen:
            seen.add(key)
            configs.append(config)
    return configs, report


def parse_score(text: str) -> tuple[float | None, str | None]:
    """A predicted score from a reply: (value, None) or (None, reason).

    JSON first (a number, or an object with a ``score``-like key or a single number), then
    the first number in the text.
    """
    values, _, truncated = find_json(text)
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (float(v), None) if math.isfinite(v) else (None, "bad_type")
        if isinstance(v, dict):
            lowered = {str(k).lower(): x for k, x in v.items()}
            for key in _SCORE_KEYS:
                x = _number(lowered.get(key))
                if x is not None:
                    return (x, None) if math.isfinite(x) else (None, "bad_type")
            numbers = [x for x in (_number(x) for x in v.values()) if x is not None]
            if len(numbers) == 1:
                return (numbers[0], None) if math.isfinite(numbers[0]) else (None, "bad_type")
    m = _NUMBER.search((text or "")[:_MAX_CHARS])
    if m:
        x = float(m.group(0))
        return (x, None) if math.isfinite(x) else (None, "bad_type")
    return None, "truncated" if truncated else "no_json"
