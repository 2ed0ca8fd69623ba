"""auto: rules as data, per-trial choice, the light-install fallback, and what it records."""

from __future__ import annotations

import json
import logging

import pytest
from optuna.trial import TrialState

from _drive import fresh
from hpo.strategies import auto as auto_module
from hpo.strategies.auto import AutoStrategy, Rule, features, load_rules
from hpo.testing.problems import MIXED, SMOOTH, history, trial

def _rules(tmp_path, rules):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": rules}))
    return str(path)


def test_builtin_rules_load_and_every_rule_names_its_evidence():
    rules = load_rules()
    assert rules[-1].when == {} and rules[-1].use == "botorch" and rules[-1].fallback == "gp"
    assert all(r.evidence and r.evidence != "placeholder" for r in rules)


def test_bad_rule_tables_fail_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="rule 'x' has unknown condition 'min_trials'; known: min_finished"):
        load_rules(_rules(tmp_path, [{"name": "x", "use": "tpe", "when": {"min_trials": 3}}, {"name": "d", "use": "random"}]))
    with pytest.raises(ValueError, match="the last rule must have no conditions"):
        load_rules(_rules(tmp_path, [{"name": "x", "use": "tpe", "when": {"min_finished": 3}}]))
    with pytest.raises(ValueError, match="rules must be a path to a rules JSON file or None"):
        AutoStrategy(rules=tmp_path / "missing.json")


def test_features_count_trials_and_describe_the_space():
    h = history(MIXED, 4, seed=0) + [trial(MIXED, 4, MIXED.sample(1, seed=9)[0], state=TrialState.RUNNING)]
    s = fresh("auto", MIXED, seed=0)
    f = features(MIXED, s.rows(h))
    assert f == {"finished": 4, "pending": 1, "dims": 6, "conditional_fraction": 1 / 6, "categorical_fraction": 1 / 6}


def test_the_first_matching_rule_proposes_and_is_recorded(tmp_path):
    path = _rules(tmp_path, [
        {"name": "late", "use": "tpe", "when": {"min_finished": 3}, "evidence": "test"},
        {"name": "early", "use": "random", "evidence": "test"},
    ])
    s = AutoStrategy(rules=path)
    s.setup(SMOOTH, "minimize", seed=0)
    assert s.proposal_attrs() == {}
    h = history(SMOOTH, 2, seed=0)
    assert s.ask(h) == fresh("random", SMOOTH, seed=0).ask(h)
    assert s.proposal_attrs() == {"proposed_by": "random"}
    h = history(SMOOTH, 3, seed=0)
    assert s.ask(h) == fresh("tpe", SMOOTH, seed=0).ask(h)
    assert s.proposal_attrs() == {"proposed_by": "tpe"} and s.choose(h)[0].name == "late"


def test_without_botorch_the_fallback_is_used_and_said_once(monkeypatch, caplog):
    monkeypatch.setattr(auto_module, "_installed", lambda name: name != "botorch")
    monkeypatch.setattr(auto_module, "_SAID", set())
    h = history(SMOOTH, 6, seed=1)
    with caplog.at_level(logging.WARNING, logger="hpo"):
        a, b = fresh("auto", SMOOTH, seed=0), fresh("auto", MIXED, seed=0)
        proposal = a.ask(h)
        b.ask(history(MIXED, 6, seed=1))
    assert a.proposal_attrs() == {"proposed_by": "gp"} and proposal == fresh("gp", SMOOTH, seed=0).ask(h)
    notices = [r.getMessage() for r in caplog.records if "auto:" in r.getMessage()]
    assert len(notices) == 1 and 'pip install "hpo[botorch]"' in notices[0] and "\n" not in notices[0]


def test_a_rule_without_fallback_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(auto_module, "_installed", lambda name: name != "smac")
    s = AutoStrategy(rules=_rules(tmp_path, [{"name": "only", "use": "smac", "evidence": "test"}]))
    s.setup(SMOOTH, "minimize", seed=0)
    with pytest.raises(RuntimeError, match=r"rule 'only' needs strategy 'smac'.*pip install \"hpo\[smac\]\""):
        s.ask([])


def test_rule_conditions():
    r = Rule(name="r", use="tpe", when={"min_finished": 10, "max_dims": 5, "min_conditional_fraction": 0.5})
    base = {"finished": 10, "pending": 0, "dims": 5, "conditional_fraction": 0.5, "categorical_fraction": 0.0}
    assert r.holds(base)
    assert not r.holds({**base, "finished": 9}) and not r.holds({**base, "dims": 6})
    assert not r.holds({**base, "conditional_fraction": 0.4})
