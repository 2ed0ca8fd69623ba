"""HomOpt: the reference rotation, the homotopy path, the jitter, fallbacks and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import TrialState

import hpo
from hpo.strategies import UnknownStrategyError, make_strategy
from hpo.strategies._homotopy import AdditiveTables, jitter_point, trace_homotopy
from hpo.strategies.homopt import HomOptStrategy
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, smooth_loss, trial
from surrogates.base import SurrogateFitError

def strategy(space=SMOOTH, seed=0, direction="minimize", **kw) -> HomOptStrategy:
    s = HomOptStrategy(**{"base": "random", **kw})
    s.setup(space, direction, seed)
    return s


def _key(c):
    return tuple(sorted(c.items()))


# --- the schedule ---------------------------------------------------------------
def test_reference_rotation():
    s = strategy(preset="reference")
    assert [s.kind_of(n) for n in range(20)] == ["base"] * 20
    assert [s.kind_of(n) for n in range(20, 30)] == ["base", "homotopy", "base", "jitter", "jitter"] * 2
    assert np.allclose(s.ts, [1.0, 0.8, 0.6, 0.4, 0.2])


@pytest.mark.parametrize("n_done, kind", [(19, "base"), (20, "base"), (21, "homotopy"), (22, "base"),
                                          (23, "jitter"), (24, "jitter")])
def test_ask_follows_the_rotation(n_done, kind):
    s = strategy(preset="reference")
    s.ask(history(SMOOTH, n_done, seed=1, loss=smooth_loss))
    assert s.counts[kind] == 1 and sum(s.counts.values()) == 1


def test_pending_trials_shift_the_rotation_and_are_not_repeated():
    h = history(SMOOTH, 20, seed=2, loss=smooth_loss)
    pending = SMOOTH.sample(1, seed=3)[0]
    s = strategy(preset="reference")
    out = s.ask(h + [trial(SMOOTH, 20, pending, state=TrialState.RUNNING)], n=4)  # positions 21..24
    assert s.counts == {"base": 1, "jitter": 2, "homotopy": 1, "fallback": 0}
    keys = {_key(c) for c in out}
    assert len(keys) == 4 and _key(pending) not in keys
    assert not keys & {_key(t.params) for t in h}


def test_same_seed_and_history_give_the_same_homotopy_proposal():
    h = history(SMOOTH, 21, seed=4, loss=smooth_loss)
    assert strategy(seed=5).ask(h) == strategy(seed=5).ask(h)


# --- the homotopy step ------------------------------------------------------------
def test_homotopy_path_starts_at_the_best_point_and_improves_a_smooth_function():
    h = history(SMOOTH, 40, seed=6, loss=smooth_loss)
    s = strategy()
    result = s.homotopy(h)
    assert result is not None and result.additive
    best = min(h, key=lambda t: t.value)
    assert np.allclose(result.path.start, SMOOTH.to_vector(best.params))
    assert len(result.path.points) == 5 and result.path.chosen == int(np.argmin(result.path.g2))
    assert result.proposal == result.configs[result.path.chosen]
    assert smooth_loss(result.proposal) < best.value


def test_trust_radius_keeps_the_path_near_the_best_point():
    h = history(SMOOTH, 30, seed=7, loss=smooth_loss)
    result = strategy(trust_radius=0.05).homotopy(h)
    assert np.all(np.abs(result.path.points - result.path.start) <= 0.05 + 1e-12)


def test_categoricals_stay_at_the_best_level_and_proposals_are_valid():
    h = history(MIXED, 40, seed=8, loss=mixed_loss)
    best = min(h, key=lambda t: t.value).params
    result = strategy(space=MIXED).homotopy(h)
    assert result is not None
    assert "opt" not in result.names
    for config in result.configs:
        assert config["opt"] == best["opt"]
        assert MIXED.validate(config) == config


def test_maximize_is_handled_as_minimising_the_negated_value():
    h = history(SMOOTH, 40, seed=6, loss=lambda c: -smooth_loss(c))
    result = strategy(direction="maximize").homotopy(h)
    assert -smooth_loss(result.proposal) > max(t.value for t in h)


def test_tables_match_the_model_and_the_direct_path():
    from surrogates.encoding import Encoder
    from surrogates.gam import GAMSurrogate

    h = history(SMOOTH, 40, seed=9, loss=smooth_loss)
    V = np.array([SMOOTH.to_vector(t.params) for t in h])
    enc = Encoder(SMOOTH.cs, one_hot=False)
    gam = GAMSurrogate(lam=1e-4).fit(enc.transform(V), [t.value for t in h])
    predict = lambda rows: gam.predict(enc.transform(rows))[0]  # noqa: E731
    v0 = V[0]
    tables = AdditiveTables.build(predict, v0, [0, 1, 2], 201)
    assert tables.check(predict, np.random.default_rng(0)) < 1e-6

    def direct(x):
        return float(predict(np.asarray(x)[None, :])[0])

    fast = trace_homotopy(tables, tables, v0, [(0, 1)] * 3, np.array([1.0]), 600, 1e-4)
    slow = trace_homotopy(direct, direct, v0, [(0, 1)] * 3, np.array([1.0]), 600, 1e-4)
    assert np.allclose(fast.points, slow.points, atol=0.02)


# --- the jitter ---------------------------------------------------------------------
def test_jitter_is_scaled_per_dimension():
    rng = np.random.default_rng(0)
    top = np.array([[0.5, 0.1], [0.5, 0.9], [0.5, 0.5]])  # no spread in dim 0, wide in dim 1
    best = np.array([0.5, 0.5])
    moves = np.array([jitter_point(best, top, np.array([True, True]), 1.0, "std", 1e-3, rng) - best
                      for _ in range(200)])
    assert np.abs(moves[:, 0]).max() <= 1e-3
    assert np.abs(moves[:, 1]).max() > 0.2
    assert np.abs(moves[:, 1]).max() <= np.std(top[:, 1]) + 1e-12


@pytest.mark.parametrize("preset, reach", [("reference", 0.01), ("smooth", 0.5)])
def test_jitter_proposal_is_new_and_near_the_best_point(preset, reach):
    h = history(SMOOTH, 23, seed=10, loss=smooth_loss)
    s = strategy(preset=preset)
    config = s.ask(h)[0]
    assert s.counts["jitter"] == 1
    best = min(h, key=lambda t: t.value).params
    assert _key(config) not in {_key(t.params) for t in h}
    assert 0 < np.max(np.abs(SMOOTH.to_unit(config) - SMOOTH.to_unit(best))) < reach


# --- fallbacks ------------------------------------------------------------------------
def test_gam_failure_falls_back_to_the_base(monkeypatch):
    import surrogates.gam

    def broken_fit(self, X, y):
        raise SurrogateFitError("singular")

    monkeypatch.setattr(surrogates.gam.GAMSurrogate, "fit", broken_fit)
    h = history(SMOOTH, 21, seed=11, loss=smooth_loss)
    s = strategy(preset="reference")
    config = s.ask(h)[0]
    assert s.counts == {"base": 1, "jitter": 0, "homotopy": 0, "fallback": 1}
    assert config == make_strategy_setup("random").ask(h)[0]


def make_strategy_setup(name):
    b = make_strategy(name)
    b.setup(SMOOTH, "minimize", 0)
    return b


def test_broken_base_falls_back_to_random_sampling():
    class Broken:
        name = "broken"

        def setup(self, space, direction, seed):
            pass

        def ask(self, history, n=1):
            raise RuntimeError("boom")

        def tell(self, trial):
            pass

    s = strategy(base=Broken())
    (config,) = s.ask(history(SMOOTH, 3, seed=12, loss=smooth_loss))
    assert SMOOTH.validate(config) == config


# --- construction and bad input ---------------------------------------------------------
def test_registry_builds_homopt_on_a_base():
    s = make_strategy("homopt:random", warm_up=7)
    assert isinstance(s, HomOptStrategy) and s.base_name == "random" and s.warm_up == 7


@pytest.mark.parametrize("kwargs, message", [
    ({"warm_up": -1}, "HomOptStrategy: warm_up must be an integer >= 0, got -1"),
    ({"base_slots": (0, 1)}, "slot 1 is listed in both base_slots and homotopy_slots"),
    ({"base_slots": (0,)}, "slots [2, 4] of the rotation (period=5) are in no"),
    ({"jitter_slots": (3, 7)}, "jitter_slots contains 7"),
    ({"jitter_slots": 3}, "jitter_slots must be a sequence of integers, got 3"),
    ({"recent_fraction": 0}, "recent_fraction must be a number in (0, 1], got 0"),
    ({"jitter_spread": "range"}, "jitter_spread must be one of 'var', 'std', got 'range'"),
    ({"trust_radius": 2}, "trust_radius must be a number in (0, 1] or None, got 2"),
    ({"lam": float("nan")}, "lam must be a non-negative number, got nan"),
    ({"base": "homopt:tpe"}, "HomOpt cannot wrap itself"),
])
def test_bad_arguments_get_a_one_line_error(kwargs, message):
    with pytest.raises(ValueError) as e:
        HomOptStrategy(**kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_base_names_the_close_ones():
    with pytest.raises(UnknownStrategyError, match="did you mean"):
        make_strategy("homopt:randon")


def test_study_runs_end_to_end_and_beats_its_warm_up():
    study = hpo.create_study(space=SMOOTH, strategy="homopt:random", seed=0,
                             strategy_kwargs={"warm_up": 10})
    study.optimize(lambda t: smooth_loss(t.params), n_trials=30)
    values = [t.value for t in study.trials]
    assert len(values) == 30 and min(values[10:]) < min(values[:10])


def test_presets_fill_the_defaults_and_explicit_arguments_win():
    s = HomOptStrategy("random", preset="reference")
    assert (s.preset, s.lam, s.y_scale, s.trust_radius, s.jitter) == ("reference", 1e-4, "raw", None, 0.005)
    d = HomOptStrategy("random")
    assert (d.preset, d.lam, d.y_scale, d.jitter, d.jitter_spread) == ("tuned", 1.0, "standard", 0.5, "std")
    assert [d.kind_of(n) for n in range(20, 25)] == ["base", "homotopy", "base", "jitter", "base"]
    t = HomOptStrategy("random", preset="reference", lam=1.0, y_scale="standard")
    assert (t.lam, t.y_scale, t.warm_up, t.jitter) == (1.0, "standard", 20, 0.005)
    with pytest.raises(ValueError, match="preset must be one of 'reference', 'smooth', 'tuned', got 'fast'"):
        HomOptStrategy("random", preset="fast")


def test_standardised_losses_make_the_smoothing_scale_free():
    h = history(SMOOTH, 40, seed=13, loss=smooth_loss)
    scaled = [trial(SMOOTH, t.number, t.params, 1e4 * t.value) for t in h]
    a = strategy(lam=1.0, y_scale="standard").homotopy(h)
    b = strategy(lam=1.0, y_scale="standard").homotopy(scaled)
    assert np.allclose(a.path.points, b.path.points, atol=1e-6)


def test_eval_compare_counts_wins_ties_and_losses():
    from types import SimpleNamespace

    from benchmarks.homopt_eval import compare

    run_scores = {}
    for seed in range(8):
        run_scores[("p_win", "h", seed, 50)] = 80.0 + seed
        run_scores[("p_win", "b", seed, 50)] = 60.0 + seed
        run_scores[("p_tie", "h", seed, 50)] = 50.0 + (seed % 2)
        run_scores[("p_tie", "b", seed, 50)] = 50.0 + ((seed + 1) % 2)
        run_scores[("p_loss", "h", seed, 50)] = 10.0 + seed
        run_scores[("p_loss", "b", seed, 50)] = 30.0 + 2 * seed
    sc = SimpleNamespace(problems=["p_loss", "p_tie", "p_win"], run_scores=run_scores)
    c = compare(sc, "h", "b", 50)
    assert (c["wins"], c["ties"], c["losses"]) == (1, 1, 1)
    assert c["problems"]["p_win"]["diff"] == pytest.approx(20.0)
    assert c["problems"]["p_loss"]["outcome"] == "loss" and c["problems"]["p_tie"]["p"] > 0.05


def test_thompson_allocation_hands_slots_to_a_more_successful_base():
    # after warm-up, trials at base positions keep improving, the others never do
    space = SMOOTH
    configs = space.sample(60, seed=14)
    values, best = [], 100.0
    s = strategy(allocation="thompson", warm_up=10)
    for i in range(60):
        if i >= 10 and s.kind_of(i) == "base":
            best -= 1.0
            values.append(best)
        else:
            values.append(200.0 + i)
    h = [trial(space, i, c, v) for i, (c, v) in enumerate(zip(configs, values))]
    kinds = s._thompson(s.observations(h), ["jitter"] * 50, np.random.default_rng(0))
    assert kinds.count("base") >= 45
    fixed = strategy(warm_up=10)
    assert fixed.allocation == "fixed"
    with pytest.raises(ValueError, match="allocation must be one of 'fixed', 'thompson', got 'greedy'"):
        HomOptStrategy(allocation="greedy")


def test_gate_hands_slots_to_the_base_when_the_gam_predicts_new_trials_badly():
    rng = np.random.default_rng(15)
    smooth = history(SMOOTH, 23, seed=16, loss=smooth_loss)
    noise = [trial(SMOOTH, t.number, t.params, float(rng.normal())) for t in smooth]
    for h, expect in ((smooth, "homotopy"), (noise, "base")):
        s = strategy(gate_threshold=0.3, warm_up=20)
        assert s.kind_of(len(h)) == "jitter"                      # position 23: a jitter slot
        rho = s._holdout_rho(s.observations(h))
        assert (rho >= 0.3) == (expect == "homotopy")
        s.fit_threshold = 0.3                                     # a good fit also upgrades jitter
        s.ask(h)
        assert s.counts[expect] == 1 and sum(s.counts.values()) == 1


def test_gate_threshold_is_validated():
    with pytest.raises(ValueError, match=r"gate_threshold must be a number in \[-1, 1\] or None, got 2"):
        HomOptStrategy("random", gate_threshold=2)


def test_eval_pack_keeps_the_last_copy_of_a_run_and_report_filters_problems(tmp_path):
    import gzip
    import json

    from benchmarks.homopt_eval import pack, report

    def rec(strategy, benchmark, seed, losses):
        return {"strategy": strategy, "benchmark": benchmark, "seed": seed, "budget": len(losses),
                "status": "ok", "losses": losses, "overhead_s": [0.001] * len(losses), "errors": 0}

    old = tmp_path / "old.jsonl.gz"
    with gzip.open(old, "wt") as fh:
        for seed in range(3):
            fh.write(json.dumps(rec("random", "branin", seed, [5.0, 4.0])) + "\n")
            fh.write(json.dumps(rec("homopt-x:random", "branin", seed, [5.0, 3.0])) + "\n")
            fh.write(json.dumps(rec("random", "levy4", seed, [5.0, 4.0])) + "\n")
    new = tmp_path / "new"
    (new / "branin" / "random").mkdir(parents=True)
    (new / "branin" / "random" / "seed0-budget2.json").write_text(json.dumps(rec("random", "branin", 0, [5.0, 2.0])))
    archive = tmp_path / "all.jsonl.gz"
    assert pack([old, new], archive) == 9
    with gzip.open(archive, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert [r["losses"] for r in rows if r["strategy"] == "random" and r["benchmark"] == "branin" and r["seed"] == 0] == [[5.0, 2.0]]
    first = archive.read_bytes()
    pack([old, new], archive)
    assert archive.read_bytes() == first                            # no name or time in the gzip header
    summary = report([archive], tmp_path / "report", budgets=(2,), benchmarks=["branin"])
    assert summary["problems"] == ["branin"]
