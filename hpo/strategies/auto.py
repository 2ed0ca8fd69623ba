"""``auto``: hpo's default strategy, which picks one of hpo's strategies for every trial.

For each trial it reads what the study shows (finished and pending trials, the number of
hyperparameters, how many are categorical or conditional, which optional libraries are
installed) and takes the first rule of its rule table that matches; the rule names a
strategy and its options, and the trial is proposed by that strategy from the whole
history. The rules are data (``auto_rules.json`` beside this module): each names the
benchmark result that justifies it. Like every strategy, ``auto`` is a function of
(seed, history): a resumed study or a second worker picks as a replay would.

Without the ``botorch`` extra (the light core install) a rule that names ``botorch`` uses
its ``fallback`` (hpo's scikit-learn GP), and ``auto`` says so once per process, in one line.

:meth:`AutoStrategy.proposal_attrs` tells which strategy proposed the last configuration
(``{"proposed_by": "botorch"}``) so the study can store it with the trial.

Example:
    >>> import hpo
    >>> s = AutoStrategy()
    >>> s.setup(hpo.Space({"x": hpo.Float(0, 1), "n": hpo.Int(1, 9)}), "minimize", seed=0)
    >>> len(s.ask([])), s.proposal_attrs()["proposed_by"] in ("botorch", "gp")
    (1, True)
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from hpo.strategies.base import BaseStrategy, History
from hpo.strategies.params import Check

__all__ = ["AutoStrategy", "Rule", "load_rules", "RULES_PATH", "features"]

_log = logging.getLogger("hpo")
RULES_PATH = Path(__file__).with_name("auto_rules.json")
_SAID: set[str] = set()
# what each condition of a rule compares (a feature, and whether the rule's number is a minimum or a maximum)
_CONDITIONS = {
    "min_finished": ("finished", "min"),
    "max_finished": ("finished", "max"),
    "min_pending": ("pending", "min"),
    "min_dims": ("dims", "min"),
    "max_dims": ("dims", "max"),
    "min_conditional_fraction": ("conditional_fraction", "min"),
    "min_categorical_fraction": ("categorical_fraction", "min"),
}
_NEEDS = {"botorch": ("torch", "botorch"), "smac": ("smac",), "smac-bb": ("smac",), "hyperopt-tpe": ("hyperopt",)}
_EXTRA = {"botorch": "botorch", "smac": "smac", "smac-bb": "smac", "hyperopt-tpe": "hyperopt"}


@dataclass(frozen=True)
class Rule:
    """When the conditions in ``when`` hold, ``use`` (with ``options``) proposes the trial.

    ``fallback`` is used instead when ``use`` cannot be built here (a missing extra);
    ``evidence`` names the results that justify the rule; ``gain`` says in a few words what
    the extra would add (the one-line notice on the light install).
    """

    name: str
    use: str
    when: Mapping[str, float] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    fallback: str | None = None
    fallback_options: Mapping[str, Any] = field(default_factory=dict)
    evidence: str = ""
    gain: str = ""

    def holds(self, feats: Mapping[str, float]) -> bool:
        for key, bound in self.when.items():
            feature, side = _CONDITIONS[key]
            value = feats[feature]
            if (side == "min" and value < bound) or (side == "max" and value > bound):
                return False
        return True


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """The rule table (the built-in ``auto_rules.json`` by default), checked.

    Raises ``ValueError`` naming the rule and key for an unknown condition or a missing
    catch-all last rule.
    """
    path = Path(path) if path is not None else RULES_PATH
    data = json.loads(path.read_text())
    rules = []
    for i, item in enumerate(data["rules"]):
        item = {k: v for k, v in item.items() if not k.startswith("_")}
        unknown = set(item.get("when", {})) - set(_CONDITIONS)
        if unknown:
            raise ValueError(f"{path.name}: rule {item.get('name', i)!r} has unknown condition "
                             f"{sorted(unknown)[0]!r}; known: {', '.join(_CONDITIONS)}")
        rules.append(Rule(**item))
    if not rules or rules[-1].when:
        raise ValueError(f"{path.name}: the last rule must have no conditions (it is the catch-all)")
    return rules


def features(space, history_rows) -> dict[str, float]:
    """What the rules look at: trial counts and the shape of the space."""
    names = space.names
    d = max(1, len(names))
    finished = sum(1 for r in history_rows if r.state in ("complete", "failed", "pruned"))
    return {
        "finished": finished,
        "pending": sum(1 for r in history_rows if r.state == "pending"),
        "dims": len(names),
        "conditional_fraction": sum(space.is_conditional(n) for n in names) / d,
        "categorical_fraction": sum(space.is_categorical(n) for n in names) / d,
    }


def _installed(name: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in _NEEDS.get(name, ()))


class _RulesPath(Check):
    none_ok = True

    def describe(self) -> str:
        return "a path to a rules JSON file"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (str, Path)) and Path(value).is_file()


class AutoStrategy(BaseStrategy):
    """The default strategy: one of hpo's strategies per trial, chosen by a rule table.

    Args:
        rules: a rules JSON file in the format of the built-in ``auto_rules.json`` (None:
            the built-in table).

    Example:
        >>> import hpo
        >>> study = hpo.create_study(space={"x": hpo.Float(-2, 2)}, strategy="auto", seed=1)
        >>> study.optimize(lambda t: (t.params["x"] - 0.7) ** 2, n_trials=8)
        >>> abs(study.best_params["x"] - 0.7) < 0.5
        True
    """

    name = "auto"
    params = {"rules": _RulesPath()}

    def __init__(self, rules: str | Path | None = None):
        super().__init__(rules=rules)
        self._rules = load_rules(rules)
        self._strategies: dict[tuple, BaseStrategy] = {}
        self._last: str | None = None

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._strategies = {}
        self._last = None

    def choose(self, history) -> tuple[Rule, str, dict]:
        """The rule that applies to the next trial, and the strategy name and options it gives here."""
        feats = features(self.space, self.rows(history))
        rule = next(r for r in self._rules if r.holds(feats))
        if _installed(rule.use):
            return rule, rule.use, dict(rule.options)
        if rule.fallback is None:
            raise RuntimeError(f"auto: rule {rule.name!r} needs strategy {rule.use!r}, which cannot be built here "
                               f'(pip install "hpo[{_EXTRA.get(rule.use, rule.use)}]")')
        if rule.use not in _SAID:
            _SAID.add(rule.use)
            _log.warning('auto: %s is not installed, so %s is used instead; pip install "hpo[%s]" adds it (%s)',
                         rule.use, rule.fallback, _EXTRA.get(rule.use, rule.use), rule.gain or rule.evidence)
        return rule, rule.fallback, dict(rule.fallback_options)

    def _strategy(self, name: str, options: dict) -> BaseStrategy:
        key = (name, json.dumps(options, sort_keys=True))
        strat = self._strategies.get(key)
        if strat is None:
            from hpo.strategies.registry import make_strategy

            strat = make_strategy(name, **options)
            strat.setup(self.space, self.direction, self.seed)
            self._strategies[key] = strat
        return strat

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        _, name, options = self.choose(history)
        self._last = name
        return self._strategy(name, options).ask(history, n)

    def tell(self, trial) -> None:
        for strat in self._strategies.values():
            strat.tell(trial)

    def proposal_attrs(self) -> dict[str, str]:
        """Attributes for the trial just proposed: ``{"proposed_by": <strategy name>}`` ({} before any ask)."""
        return {} if self._last is None else {"proposed_by": self._last}
