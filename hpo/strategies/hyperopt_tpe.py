"""hyperopt's TPE driven trial by trial from the study history.

hyperopt has no ask/tell: each call builds a ``hyperopt.Trials`` from the history (the
documents of finished trials are cached, so only new trials cost anything) and calls
``hyperopt.tpe.suggest`` once per proposal with a seed drawn from the call's generator.
Conditional hyperparameters become ``hp.choice`` sub-spaces: a child active only for
some values of a categorical parent lives inside those branches. Running trials enter
as running documents, which hyperopt's TPE counts with an infinite loss (its own
constant liar), so parallel workers and ``ask(n>1)`` spread out. Pruned trials enter as
finished ones with the worst completed loss, so they count among the bad observations as they
do in optuna's TPE (hyperopt itself knows no pruning).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
from ConfigSpace import EqualsCondition, InCondition
from hyperopt import JOB_STATE_DONE, JOB_STATE_RUNNING, STATUS_OK, Domain, Trials, hp, tpe
from hpo.strategies._history import drop_inactive
from hpo.strategies.base import BaseStrategy, History
from hpo.strategies.params import Integer, Real

__all__ = ["HyperoptTPEStrategy"]


class _Node:
    """One hyperparameter in hyperopt form: its label, how to encode and decode values."""

    def __init__(self, space, name: str, prefix: str):
        self.name, self.label = name, prefix + name
        self.categorical = space.is_categorical(name)
        hp_ = space.hyperparameter(name)
        dist = space.distributions[name]
        self.children: dict[int, list[_Node]] = {}
        if self.categorical:
            self.choices = list(dist.choices)
            return
        self.low, self.high, self.log = dist.low, dist.high, dist.log
        self.step = dist.step
        self.is_int = type(hp_).__name__ == "UniformIntegerHyperparameter"
        if self.step is not None and not self.log:
            self.k = int(round((self.high - self.low) / self.step))

    def expr(self, space_children) -> Any:
        if self.categorical:
            if not self.children:
                return hp.choice(self.label, list(range(len(self.choices))))
            branches = []
            for i in range(len(self.choices)):
                branch = {"__index": i}
                for child in self.children.get(i, []):
                    branch[child.name] = child.expr(space_children)
                branches.append(branch)
            return hp.choice(self.label, branches)
        if self.step is not None and not self.log:
            return hp.quniform(self.label, -0.5, self.k + 0.5, 1)
        if self.log and self.is_int:
            return hp.qloguniform(self.label, math.log(self.low - 0.5), math.log(self.high + 0.5), 1)
        if self.log:
            return hp.loguniform(self.label, math.log(self.low), math.log(self.high))
        return hp.uniform(self.label, self.low, self.high)

    def encode(self, value) -> float:
        if self.categorical:
            return self.choices.index(value)
        if self.step is not None and not self.log:
            return float(round((value - self.low) / self.step))
        return float(value)

    def decode(self, v: float):
        if self.categorical:
            return self.choices[int(min(max(round(v), 0), len(self.choices) - 1))]
        if self.step is not None and not self.log:
            v = self.low + min(max(round(v), 0), self.k) * self.step
        v = min(max(v, self.low), self.high)
        return int(round(v)) if self.is_int else float(v)


def _build(space) -> list[_Node]:
    """The label tree: a child whose only condition is ``parent in values`` (a categorical) nests."""
    nests: dict[str, tuple[str, list]] = {}
    for name in space.names:
        conds = space.cs.parent_conditions_of[name]
        if len(conds) == 1 and isinstance(conds[0], (EqualsCondition, InCondition)):
            parent = conds[0].parent.name
            if space.is_categorical(parent):
                values = [conds[0].value] if isinstance(conds[0], EqualsCondition) else list(conds[0].values)
                nests[name] = (parent, values)

    def make(name: str, prefix: str) -> _Node:
        node = _Node(space, name, prefix)
        if node.categorical:
            for i, choice in enumerate(node.choices):
                kids = [c for c, (p, values) in nests.items() if p == name and choice in values]
                if kids:
                    node.children[i] = [make(c, f"{prefix}{name}={i}/") for c in kids]
        return node

    return [make(name, "") for name in space.names if name not in nests]


def _encode(nodes: list[_Node], config: dict, vals: dict) -> None:
    for node in nodes:
        if node.name not in config:
            continue
        v = node.encode(config[node.name])
        vals[node.label] = v
        if node.categorical:
            _encode(node.children.get(int(v), []), config, vals)


def _decode(nodes: list[_Node], vals: dict, config: dict) -> None:
    for node in nodes:
        if node.label not in vals:
            continue
        value = node.decode(vals[node.label])
        config[node.name] = value
        if node.categorical:
            _decode(node.children.get(node.choices.index(value), []), vals, config)


def _labels(nodes: list[_Node]) -> list[str]:
    out = []
    for node in nodes:
        out.append(node.label)
        for kids in node.children.values():
            out += _labels(kids)
    return out


class HyperoptTPEStrategy(BaseStrategy):
    """hyperopt's TPE (``hyperopt.tpe.suggest``), a second TPE next to optuna's.

    Args:
        n_startup_trials: trials proposed at random before TPE takes over (hyperopt's
            ``n_startup_jobs``; default 10, as in optuna, instead of hyperopt's 20).
        n_ei_candidates: candidates scored by expected improvement per proposal (default 24).
        gamma: the fraction of trials counted as good, in (0, 1) (default 0.25).
        prior_weight: weight of the prior in the Parzen estimators, > 0 (default 1.0).

    Example:
        >>> import hpo
        >>> s = HyperoptTPEStrategy()
        >>> s.setup(hpo.Space({"x": hpo.Float(0, 1)}), "minimize", seed=0)
        >>> 0 <= s.ask([])[0]["x"] <= 1
        True
    """

    name = "hyperopt-tpe"

    params = {"n_startup_trials": Integer(0), "n_ei_candidates": Integer(1), "gamma": Real(0, 1, open="both"),
              "prior_weight": Real(0, open="low")}

    def __init__(self, n_startup_trials: int = 10, n_ei_candidates: int = 24, gamma: float = 0.25,
                 prior_weight: float = 1.0):
        super().__init__(n_startup_trials=n_startup_trials, n_ei_candidates=n_ei_candidates, gamma=gamma,
                         prior_weight=prior_weight)
        self._docs: dict[int, dict] = {}

    def setup(self, space, direction, seed) -> None:
        super().setup(space, direction, seed)
        self._nodes = _build(self.space)
        self._domain = Domain(lambda config: 0.0, {n.name: n.expr(None) for n in self._nodes})
        self._label_list = _labels(self._nodes)
        self._conditional = bool(self.space.cs.conditions)
        self._docs = {}

    def _doc(self, tid: int, config: dict, loss: float | None) -> dict:
        vals: dict = {}
        _encode(self._nodes, config, vals)
        misc = {"tid": tid, "cmd": self._domain.cmd, "workdir": None,
                "idxs": {lab: [tid] if lab in vals else [] for lab in self._label_list},
                "vals": {lab: [vals[lab]] if lab in vals else [] for lab in self._label_list}}
        done = loss is not None
        return {"state": JOB_STATE_DONE if done else JOB_STATE_RUNNING, "tid": tid, "spec": None,
                "result": {"status": STATUS_OK, "loss": loss} if done else {"status": "new"},
                "misc": misc, "exp_key": None, "owner": None, "version": 0, "book_time": None,
                "refresh_time": None}

    def _propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        docs = []
        rows = self.rows(history)
        top = max((r.number for r in rows), default=-1)
        worst = max((r.loss for r in rows if r.state == "complete"), default=None)
        for r in rows:
            loss = r.loss
            if r.state == "pruned":
                if worst is None:
                    continue
                loss = worst
            if r.state in ("complete", "pruned"):
                doc = self._docs.get(r.number)
                if doc is None or doc["result"]["loss"] != loss:
                    doc = self._docs[r.number] = self._doc(r.number, r.config, loss)
                docs.append(doc)
            elif r.state == "pending":
                docs.append(self._doc(r.number, r.config, None))
        algo = partial(tpe.suggest, n_startup_jobs=self.n_startup_trials, n_EI_candidates=self.n_ei_candidates,
                       gamma=self.gamma, prior_weight=self.prior_weight, verbose=False)
        out = []
        for i in range(n):
            trials = Trials()
            trials._insert_trial_docs(list(docs))
            trials.refresh()
            tid = max(top, max((h.number for h in history), default=-1)) + 1 + i
            new = algo([tid], self._domain, trials, int(rng.integers(2**31 - 1)))
            vals = {lab: v[0] for lab, v in new[0]["misc"]["vals"].items() if len(v)}
            config: dict = {}
            _decode(self._nodes, vals, config)
            if self._conditional:  # hp.choice nesting covers most conditions; ConfigSpace checks the rest
                config = drop_inactive(self.space, config)
            out.append(config)
            docs.append(self._doc(tid, config, None))
        return out
