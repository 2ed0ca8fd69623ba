"""Scoring on hand-made records whose answers are worked out by hand."""

import math

import numpy as np
import pytest

from benchmarks.scoring import best_so_far, normalise, score


def rec(strategy, seed, losses, problem="p", kind="hpo", overhead=0.01, status="ok"):
    n = len(losses)
    return {"strategy": strategy, "benchmark": problem, "seed": seed, "budget": n, "status": status,
            "kind": kind, "family": "synthetic", "losses": losses,
            "overhead_s": [overhead] * n, "objective_s": [0.001] * n}


@pytest.fixture
def records():
    # problem p: random's first evaluations are 10, 8, 6 -> baseline (median) 8; best ever seen 0
    return [
        rec("random", 0, [10.0, 9.0, 6.0, 4.0]),
        rec("random", 1, [8.0, 8.0, 8.0, 8.0]),
        rec("random", 2, [6.0, 6.0, 2.0, 2.0]),
        rec("a", 0, [9.0, 4.0, 2.0, 0.0], overhead=0.5),
        rec("a", 1, [12.0, None, 4.0, 4.0], overhead=0.5),
        rec("a", 2, [8.0, 8.0, 8.0, 8.0], overhead=0.5),
    ]


def test_best_so_far_and_normalise():
    assert best_so_far([3.0, None, 5.0, 1.0, float("nan")]).tolist() == [3.0, 3.0, 3.0, 1.0, 1.0]
    assert normalise(np.array([8.0, 4.0, 0.0, 20.0, -1.0]), baseline=8.0, best=0.0).tolist() == [1, 0.5, 0, 1, 0]


def test_anchors_scores_ranks(records):
    sc = score(records, budgets=[2, 4])
    assert sc.anchors["p"] == (8.0, 0.0)
    # budget 4: best-so-far random = 4, 8, 2 -> scores 50, 0, 75; a = 0, 4, 8 -> 100, 50, 0
    assert sc.run_scores[("p", "random", 0, 4)] == 50.0
    assert sc.summary[("random", 4)]["mean"] == pytest.approx(125 / 3)
    assert sc.summary[("a", 4)]["mean"] == pytest.approx(50.0)
    # budget 2: random 9, 8, 6 -> 0, 0, 25; a 4, 12, 8 -> 50, 0, 0
    assert sc.summary[("random", 2)]["mean"] == pytest.approx(25 / 3)
    assert sc.summary[("a", 2)]["mean"] == pytest.approx(50 / 3)
    # ranks at budget 4, per seed: (random 4 vs a 0) -> a; (8 vs 4) -> a; (2 vs 8) -> random
    assert sc.summary[("a", 4)]["rank"] == pytest.approx(4 / 3)
    assert sc.summary[("random", 4)]["rank"] == pytest.approx(5 / 3)
    # spread over seeds: one problem, so the seed means are the run scores
    assert sc.summary[("a", 4)]["std_seeds"] == pytest.approx(np.std([100, 50, 0], ddof=1))
    assert sc.overhead["a"]["overhead_mean_s"] == pytest.approx(0.5)
    assert sc.overhead["random"]["n_trials"] == 12


def test_ties_share_rank_and_budgets_beyond_the_runs_are_dropped(records):
    recs = [rec("x", 0, [1.0, 1.0]), rec("y", 0, [3.0, 1.0]), rec("random", 0, [2.0, 2.0])]
    sc = score(recs, budgets=[1, 2, 50])
    assert sc.budgets == [1, 2]
    assert sc.summary[("x", 2)]["rank"] == sc.summary[("y", 2)]["rank"] == 1.5
    assert sc.summary[("random", 2)]["rank"] == 3.0


def test_smallest_sufficient_budget_run_is_used_and_errors_are_skipped():
    recs = [
        rec("random", 0, [4.0, 4.0]),
        rec("a", 0, [4.0, 0.0]),  # budget 2
        rec("a", 0, [4.0, 4.0, 4.0, 2.0]),  # budget 4, same seed
        rec("b", 0, [4.0, 0.0], status="error"),
    ]
    sc = score(recs, budgets=[2, 4])
    assert sc.run_scores[("p", "a", 0, 2)] == 100.0
    assert sc.run_scores[("p", "a", 0, 4)] == 50.0
    assert ("b", 2) not in sc.summary
    assert sc.overhead["b"]["errors"] == 1


def test_wilcoxon_over_problems():
    recs = []
    for i in range(8):
        p = f"p{i}"
        recs += [rec("random", 0, [10.0, 10.0], problem=p), rec("good", 0, [10.0, 0.0], problem=p),
                 rec("bad", 0, [10.0, 5.0 + 0.1 * i], problem=p)]
    sc = score(recs, budgets=[2])
    t = sc.wilcoxon("good", "bad", 2)
    assert t["n"] == 8 and t["wins"] == 8 and t["losses"] == 0
    assert t["pvalue"] == pytest.approx(2 / 2**8)  # exact two-sided test, all 8 differences positive
    same = sc.wilcoxon("good", "good", 2)
    assert same["pvalue"] == 1.0 and same["mean_diff"] == 0
    assert sc.wilcoxon("good", "bad", 2, unit="run")["n"] == 8
    with pytest.raises(ValueError, match="unit"):
        sc.wilcoxon("good", "bad", 2, unit="seed")


def test_baseline_falls_back_to_all_first_evaluations_without_random():
    sc = score([rec("a", 0, [6.0, 1.0]), rec("b", 0, [2.0, 2.0])], budgets=[2])
    assert sc.anchors["p"] == (4.0, 1.0)
    assert sc.run_scores[("p", "b", 0, 2)] == pytest.approx(100 * (1 - 1 / 3))


def test_bad_inputs():
    with pytest.raises(ValueError, match="no run records"):
        score([])
    with pytest.raises(ValueError, match="no runs of"):
        score([rec("a", 0, [1.0])], budgets=[1], strategies=["zzz"])
    assert math.isnan(score([rec("a", 0, [1.0])], budgets=[1]).wilcoxon("a", "b", 1)["mean_diff"])


def test_a_run_the_library_stopped_keeps_its_best():
    recs = [rec("random", 0, [8.0, 8.0, 8.0, 8.0]), rec("s", 0, [8.0, 0.0])]
    recs[1].update(budget=4, status="stopped")
    sc = score(recs, budgets=[2, 4])
    assert sc.run_scores[("p", "s", 0, 4)] == 100.0
    assert sc.overhead["s"]["stopped"] == 1 and sc.overhead["s"]["errors"] == 0


def test_seed_restriction_keeps_the_anchors(records):
    sc = score(records, budgets=[4], seeds=[1, 2])
    assert sc.anchors["p"] == (8.0, 0.0)  # from all seeds; seeds 1 and 2 alone would give (7, 2)
    # seeds 1 and 2 at budget 4: random 0, 75; a 50, 0
    assert sc.summary[("random", 4)]["mean"] == pytest.approx(37.5)
    assert sc.summary[("a", 4)]["mean"] == pytest.approx(25.0)
    assert sc.summary[("a", 4)]["n_runs"] == 2
    with pytest.raises(ValueError, match="no runs with seeds"):
        score(records, seeds=[7])
