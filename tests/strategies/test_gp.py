"""GP-BO strategy and its acquisition helpers."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import TrialState
from scipy.stats import norm

from _drive import drive_and_compare, fresh
from hpo.testing.problems import MIXED, SMOOTH, history, mixed_loss, smooth_loss, trial
from hpo.strategies import gp as gp_module
from hpo.strategies._acquisition import UnitFeatures, log_expected_improvement, maximize
from hpo.strategies.gp import GPStrategy, _refit_point
from surrogates.base import SurrogateFitError


def test_log_ei_matches_the_closed_form_and_stays_finite_in_the_tail():
    mean = np.array([-1.0, 0.0, 0.5, 2.0])
    std = np.array([1.0, 0.5, 2.0, 0.3])
    z = (0.0 - mean) / std
    ei = std * (z * norm.cdf(z) + norm.pdf(z))
    assert np.allclose(log_expected_improvement(mean, std, best=0.0), np.log(ei), rtol=1e-8)
    far = log_expected_improvement(np.array([10.0, 40.0, 400.0]), np.ones(3), best=0.0)
    assert np.all(np.isfinite(far)) and far[0] > far[1] > far[2]


def test_unit_features_one_hot_and_inactive_imputation():
    f = UnitFeatures(MIXED)
    rng = np.random.default_rng(0)
    U = rng.random((200, len(MIXED.names)))
    active = f.active(U)
    expected = ~np.isnan(np.array([MIXED.to_unit(MIXED.from_unit(u)) for u in U]))
    assert np.array_equal(active, expected)
    X = f.transform(U, active)
    assert X.shape == (200, f.n_features) and f.n_features == len(MIXED.names) + 2  # opt: 3 one-hot columns
    col = sum(f.k.get(n, 1) for n in MIXED.names[: MIXED.names.index("momentum")])
    assert np.all(X[~active[:, MIXED.names.index("momentum")], col] == -0.5)


def test_maximize_finds_the_top_of_a_smooth_function():
    target = np.array([0.3, 0.8])
    u, v = maximize(lambda X: -np.sum((X - target) ** 2, axis=1), 2, np.random.default_rng(0))
    assert np.allclose(u, target, atol=0.02)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_initial": 0}, "n_initial must be an integer >= 1 or None, got 0"),
    ({"n_candidates": 0}, "n_candidates must be an integer >= 1"),
    ({"liar": "median"}, "liar must be one of 'mean', 'min', 'max', got 'median'"),
    ({"xi": -1}, "xi must be a non-negative number"),
])
def test_bad_options_give_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        GPStrategy(**kwargs)
    assert "\n" not in str(e.value)


def test_refit_points_are_every_trial_then_every_n_over_20():
    assert [_refit_point(n) for n in (0, 7, 19, 20, 41)] == [0, 7, 19, 20, 40]
    assert _refit_point(205) == 200 and _refit_point(500) == 500


def test_sobol_design_continues_past_pending_points():
    s = fresh("gp", SMOOTH, seed=0, n_initial=6)
    first_three = s.ask([], n=3)
    h = [trial(SMOOTH, 0, first_three[0], state=TrialState.RUNNING),
         trial(SMOOTH, 1, first_three[1], smooth_loss(first_three[1]))]
    assert fresh("gp", SMOOTH, seed=0, n_initial=6).ask(h) == [first_three[2]]


def test_cached_kernel_equals_a_fresh_replay():
    drive_and_compare("gp", MIXED, mixed_loss, steps=14, seed=2, pending_every=4, n_initial=5)


def test_constant_liar_keeps_a_batch_apart():
    configs = fresh("gp", SMOOTH, seed=0).ask(history(SMOOTH, 15, seed=3), n=3)
    X = np.array([[c[f"x{i}"] for i in range(3)] for c in configs])
    gaps = [np.linalg.norm(X[i] - X[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > 1e-3


def test_gp_improves_on_its_data():
    h = history(SMOOTH, 20, seed=4)
    proposals = fresh("gp", SMOOTH, seed=0).ask(h, n=3)
    assert min(smooth_loss(c) for c in proposals) < sorted(t.value for t in h)[2]


def test_a_failing_surrogate_falls_back_to_random(monkeypatch):
    def broken(self, X, y, optimize=True):
        raise SurrogateFitError("singular")

    monkeypatch.setattr(gp_module.GPSurrogate, "fit", broken)
    configs = fresh("gp", MIXED, seed=0, n_initial=3).ask(history(MIXED, 8, seed=5), n=2)
    assert len(configs) == 2 and all(MIXED.validate(c) == c for c in configs)
