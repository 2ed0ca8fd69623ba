"""BoTorch GP-BO: start design, purity of the cached hyperparameter chain, pending points, mixed spaces."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import TrialState

pytest.importorskip("botorch")

import torch  # noqa: E402

from _drive import drive_and_compare, fresh  # noqa: E402
from hpo.space import Categorical, Float, Int, Space  # noqa: E402
from hpo.strategies.botorch import BoTorchStrategy, refit_point  # noqa: E402
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, smooth_loss, trial  # noqa: E402

CHEAP = {"raw_samples": 64, "num_restarts": 2, "maxiter": 5, "fit_maxiter": 10, "local_rounds": 1}  # L-BFGS on too


def test_refit_points_thin_out_as_the_history_grows():
    points = sorted({refit_point(n) for n in range(2, 700)})
    assert points[:10] == [2, 3, 4, 5, 6, 8, 11, 16, 23, 32]
    assert all(refit_point(n) <= n for n in range(2, 700))
    assert points[-3:] == [512, 576, 640] and sum(p <= 40 for p in points) == 10


def test_start_is_the_centre_then_sobol_then_the_model():
    s = fresh("botorch", SMOOTH, seed=0, n_initial=3, **CHEAP)
    first = s.ask([])[0]
    assert first == {"x0": 0.0, "x1": 0.0, "x2": 0.0}
    h = [trial(SMOOTH, 0, first, smooth_loss(first))]
    second = s.ask(h)[0]
    assert second != first and fresh("botorch", SMOOTH, seed=1, n_initial=3, **CHEAP).ask(h)[0] != second
    no_centre = fresh("botorch", SMOOTH, seed=0, centre=False, **CHEAP).ask([])[0]
    assert no_centre != first


@pytest.mark.parametrize("refit,cold_fits", [("schedule", "milestones"), ("every", "milestones"),
                                             ("schedule", "always")])
def test_cached_chain_equals_a_fresh_replay_with_pending_trials_out_of_order(refit, cold_fits):
    drive_and_compare("botorch", MIXED, mixed_loss, steps=11, seed=3, pending_every=4, n_initial=3, refit=refit,
                      cold_fits=cold_fits, **CHEAP)


@pytest.mark.parametrize("cold_fits", ["milestones", "always"])
def test_cold_fits_always_starts_a_fit_from_the_priors_at_every_refit_point(monkeypatch, cold_fits):
    import hpo.strategies.botorch as bt

    real_fit, calls = bt._fit, []

    def recording_fit(X, Y, init, maxiter):
        calls.append(init is None and len(X))
        return real_fit(X, Y, init, maxiter)

    monkeypatch.setattr(bt, "_fit", recording_fit)
    s = fresh("botorch", SMOOTH, seed=0, n_initial=3, cold_fits=cold_fits, **CHEAP)
    s.ask(history(SMOOTH, 12, seed=1))
    cold = [n for n in calls if n is not False]
    assert cold[0] == 3  # the chain starts from the priors at the start design's end
    # then the refit points 4, 5, 6, 8, 11: a competing cold fit at each one, or none before 64
    assert cold[1:] == ([4, 5, 6, 8, 11] if cold_fits == "always" else [])
    with pytest.raises(ValueError, match="cold_fits must be one of 'milestones', 'always'"):
        BoTorchStrategy(cold_fits="never")


def test_refit_every_fits_after_each_trial_up_to_128_then_follows_the_schedule():
    s = fresh("botorch", SMOOTH, seed=0, refit="every", **CHEAP)
    assert [s._refit_point(n) for n in (7, 9, 128, 129, 200)] == [7, 9, 128, 128, refit_point(200)]
    with pytest.raises(ValueError, match="refit must be one of 'schedule', 'every'"):
        BoTorchStrategy(refit="always")


def test_pending_points_push_the_next_proposal_away_and_ask_n_is_distinct():
    h = history(SMOOTH, 8, seed=1)
    s = fresh("botorch", SMOOTH, seed=0, **CHEAP)
    alone = s.ask(h)[0]
    running = h + [trial(SMOOTH, 8, alone, state=TrialState.RUNNING)]
    nxt = s.ask(running)[0]
    assert nxt != alone
    assert np.linalg.norm([nxt[k] - alone[k] for k in alone]) > 1e-3
    batch = s.ask(h, n=3)
    assert len({tuple(sorted(c.items())) for c in batch}) == 3 and batch[0] == alone


def test_failed_and_pruned_trials_do_not_break_it_and_leave_torch_as_it_was():
    h = history(MIXED, 6, seed=2)
    h.append(trial(MIXED, 6, h[0].params, state=TrialState.FAIL))
    h.append(trial(MIXED, 7, h[1].params, state=TrialState.PRUNED, intermediate={1: 3.0}))
    torch.manual_seed(123)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    config = fresh("botorch", MIXED, seed=0, **CHEAP).ask(h)[0]
    assert MIXED.validate(config) == config
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == threads


def test_mixed_space_optimum_is_found_and_categoricals_are_exact():
    space = Space({"x": Float(-3, 3), "n": Int(1, 32, log=True), "c": Categorical(["red", "green", "blue"])})

    def loss(c):
        return (c["x"] - 1.2) ** 2 + (np.log2(c["n"]) - 3) ** 2 + {"red": 1.0, "green": 0.0, "blue": 2.0}[c["c"]]

    s = fresh("botorch", space, seed=0)
    h = []
    for i in range(20):
        c = s.ask(h)[0]
        assert isinstance(c["n"], int) and c["c"] in ("red", "green", "blue")
        h.append(trial(space, i, c, loss(c)))
    best = min(h, key=lambda t: t.value)
    assert best.value < 0.3 and best.params["c"] == "green"


def test_options_are_checked():
    with pytest.raises(ValueError, match="y_transform must be one of 'power', 'winsorize', 'standardize'"):
        BoTorchStrategy(y_transform="log")
    with pytest.raises(ValueError, match="raw_samples must be an integer"):
        BoTorchStrategy(raw_samples=2)


@pytest.mark.parametrize("done,refined", [(7, False), (8, True)])
def test_refine_after_holds_the_lbfgs_refinement_back_until_that_many_trials_finished(monkeypatch, done, refined):
    import botorch.generation.gen as gen

    real, calls = gen.gen_candidates_scipy, []

    def recording(*args, **kwargs):
        calls.append(kwargs["options"]["maxiter"])
        return real(*args, **kwargs)

    monkeypatch.setattr(gen, "gen_candidates_scipy", recording)
    s = fresh("botorch", SMOOTH, seed=0, refine_after=8, **CHEAP)
    s.ask(history(SMOOTH, done, seed=1))
    assert calls == ([CHEAP["maxiter"]] if refined else [])


def test_explore_every_maximises_a_bound_after_each_stretch_without_improvement():
    h = history(SMOOTH, 12, seed=1)
    losses = [r.value for r in h]
    s = fresh("botorch", SMOOTH, seed=0, explore_every=3, **CHEAP)
    done = s.rows(h)
    since = [n - 1 - int(np.argmin(losses[:n])) for n in range(1, 13)]  # trials since the prefix's best
    assert [s._exploring(done[:n]) for n in range(1, 13)] == [k >= 3 and k % 3 == 0 for k in since]
    assert not fresh("botorch", SMOOTH, seed=0, **CHEAP)._exploring(done)
    cut = next(n for n, k in zip(range(1, 13), since) if k == 3)  # three trials past the best: it explores
    explored = s.ask(h[:cut])[0]
    assert explored == fresh("botorch", SMOOTH, seed=0, explore_every=3, **CHEAP).ask(h[:cut])[0]
    assert explored != fresh("botorch", SMOOTH, seed=0, **CHEAP).ask(h[:cut])[0]
    running = h[:cut] + [trial(SMOOTH, cut, explored, state=TrialState.RUNNING)]
    assert s.ask(running)[0] != explored  # with a pending trial: q-UCB, pushed away from it


def test_winsorize_clips_only_the_bad_tail_of_the_losses():
    s = BoTorchStrategy(y_transform="winsorize")
    losses = np.array([0.1, 1.0, 1.1, 1.2, 1.3, 1.4, 50.0])
    y = s._targets(losses)
    q1, q3 = np.percentile(-losses, [25, 75])
    assert y[-1] == pytest.approx(q1 - 1.5 * (q3 - q1)) and y[-1] > -50.0  # the outlier is tamed
    np.testing.assert_array_equal(y[:-1], -losses[:-1])  # the good tail and the bulk are untouched


@pytest.mark.parametrize("y_transform", ["winsorize", "standardize"])
def test_noisy_log_ei_is_pure_and_spreads_pending_points(y_transform):
    drive_and_compare("botorch", MIXED, mixed_loss, steps=9, seed=5, pending_every=3, n_initial=3,
                      acquisition="lognei", y_transform=y_transform, **CHEAP)
    h = history(SMOOTH, 8, seed=1)
    s = fresh("botorch", SMOOTH, seed=0, acquisition="lognei", **CHEAP)
    batch = s.ask(h, n=3)
    assert len({tuple(sorted(c.items())) for c in batch}) == 3
    assert all(SMOOTH.validate(c) == c for c in batch)
    with pytest.raises(ValueError, match="acquisition must be one of 'logei', 'lognei'"):
        BoTorchStrategy(acquisition="ucb")


def test_jitter_notices_stay_inside_the_torch_scope_and_other_warnings_do_not():
    import warnings

    import hpo.strategies.botorch as bt
    from linear_operator.utils.warnings import NumericalWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with bt._torch_scope(0, 1):
            warnings.warn("added jitter", NumericalWarning)
            warnings.warn("something else", UserWarning)
    assert [w.category for w in caught] == [UserWarning]
