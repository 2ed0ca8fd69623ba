"""Hypergradient optimizers: exactness at beta=0, both rules, clipping, groups, non-finite gradients, state."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch

from hpo.online.fedhyper import ServerLR
from hpo.online.hypergrad import DEFAULT_HYPERGRAD, SGDHD, SGDNHD, AdamHD, HypergradLR


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 5, generator=g)
    y = (X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * torch.randn(64, generator=g) > 0).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return X, y, model


def _run(model, opt, X, y, steps=15, closure=False, scale=1.0):
    losses = []
    for t in range(steps):
        xb, yb = X[(t * 16) % 64:(t * 16) % 64 + 16], y[(t * 16) % 64:(t * 16) % 64 + 16]

        def f():
            opt.zero_grad()
            loss = scale * torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            return loss

        if closure:
            losses.append(float(opt.step(f).detach()))
        else:
            losses.append(float(f().detach()))
            opt.step()
    return losses


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _groups(model, lr):
    first, second = list(model[0].parameters()), list(model[2].parameters())
    return [{"params": first, "lr": lr}, {"params": second, "lr": lr / 2}]


MODES = ["multiplicative", "additive"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make_hd, make_base", [
    (lambda p, m: SGDHD(p, lr=0.1, hypergrad_lr=0.0, hypergrad_mode=m), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda p, m: SGDHD(p, lr=0.1, momentum=0.9, weight_decay=1e-3, hypergrad_lr=0.0, hypergrad_mode=m),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3)),
    (lambda p, m: SGDNHD(p, lr=0.05, momentum=0.8, hypergrad_lr=0.0, hypergrad_mode=m),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    (lambda p, m: AdamHD(p, lr=0.01, hypergrad_lr=0.0, hypergrad_mode=m), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda p, m: AdamHD(p, lr=0.01, weight_decay=0.1, amsgrad=True, hypergrad_lr=0.0, hypergrad_mode=m),
     lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True)),
    (lambda p, m: AdamHD(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, hypergrad_lr=0.0,
                         hypergrad_mode=m), lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    (lambda p, m: HypergradLR(torch.optim.AdamW(p, lr=0.01), hypergrad_lr=0.0, hypergrad_mode=m),
     lambda p: torch.optim.AdamW(p, lr=0.01)),
    (lambda p, m: HypergradLR(torch.optim.SGD(p, lr=0.1, momentum=0.9), hypergrad_lr=0.0, hypergrad_mode=m),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
])
def test_beta_zero_equals_base_optimizer_exactly(make_hd, make_base, mode):
    X, y, m1 = _problem()
    m2 = copy.deepcopy(m1)
    l1 = _run(m1, make_hd(m1.parameters(), mode), X, y)
    l2 = _run(m2, make_base(m2.parameters()), X, y)
    assert l1 == l2
    for a, b in zip(_params(m1), _params(m2)):
        assert torch.equal(a, b)


def test_defaults_are_the_multiplicative_rule_and_additive_keeps_the_papers_beta():
    w = [torch.nn.Parameter(torch.ones(2))]
    for cls in (SGDHD, SGDNHD, AdamHD):
        group = cls(w, lr=1e-3).param_groups[0]
        assert group["hypergrad_mode"] == "multiplicative"
        assert (group["hypergrad_lr"], group["hypergrad_horizon"]) == DEFAULT_HYPERGRAD["multiplicative"][cls.__name__]
    assert SGDHD(w, lr=1e-3, hypergrad_mode="additive").param_groups[0]["hypergrad_lr"] == 1e-3
    assert AdamHD(w, lr=1e-3, hypergrad_mode="additive").param_groups[0]["hypergrad_lr"] == 1e-7
    wrapped = HypergradLR(torch.optim.AdamW(w, lr=1e-3))
    assert wrapped.hypergrad_mode == "multiplicative"
    assert (wrapped.hypergrad_lr, wrapped.hypergrad_horizon) == DEFAULT_HYPERGRAD["multiplicative"]["HypergradLR"]


def test_sgdhd_first_updates_follow_each_rule():
    for mode, beta in (("additive", 1e-5), ("multiplicative", 0.2)):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        opt = SGDHD([w], lr=0.01, hypergrad_lr=beta, hypergrad_mode=mode)
        (w ** 2 * torch.tensor([1.0, 9.0])).sum().backward()
        g0 = w.grad.clone()
        opt.step()
        assert opt.param_groups[0]["lr"] == 0.01  # no previous direction yet
        opt.zero_grad()
        (w ** 2 * torch.tensor([1.0, 9.0])).sum().backward()
        g1 = w.grad.clone()
        opt.step()
        dot = float(g1 @ g0)
        cos = dot / float(g1.norm() * g0.norm())
        expected = 0.01 + beta * dot if mode == "additive" else 0.01 * (1 + beta * cos)
        assert opt.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-6)


def test_adamhd_uses_previous_adam_direction():
    w = torch.nn.Parameter(torch.tensor([1.0, -3.0]))
    opt = AdamHD([w], lr=0.01, hypergrad_lr=1e-3, hypergrad_mode="additive")
    (w ** 2).sum().backward()
    before = w.detach().clone()
    opt.step()
    direction = (before - w.detach()) / 0.01
    opt.zero_grad()
    (w ** 2).sum().backward()
    opt.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 + 1e-3 * float(w.grad @ direction), rel=1e-5)


@pytest.mark.parametrize("make", [
    lambda p: SGDHD(p, lr=0.05),
    lambda p: AdamHD(p, lr=0.01),
    lambda p: HypergradLR(torch.optim.Adam(p, lr=0.01)),
])
def test_multiplicative_rule_is_invariant_to_the_scale_of_the_loss(make):
    """Loss x 1000 with SGD's rate / 1000 walks the same path; Adam ignores the scale: same rate path either way."""
    X, y, m1 = _problem(6)
    m2 = copy.deepcopy(m1)
    o1, o2 = make(m1.parameters()), make(m2.parameters())
    sgd = isinstance(o1, SGDHD)
    if sgd:
        o2.param_groups[0].update(lr=o2.param_groups[0]["lr"] / 1000, lr_min=1e-11)
    lrs1, lrs2 = [], []
    for _ in range(5):
        _run(m1, o1, X, y, steps=4)
        _run(m2, o2, X, y, steps=4, scale=1000.0)
        lrs1.append(o1.param_groups[0]["lr"])
        lrs2.append(o2.param_groups[0]["lr"] * (1000 if sgd else 1))
    assert lrs1[-1] != lrs1[0] and lrs2 == pytest.approx(lrs1, rel=1e-3)


@pytest.mark.parametrize("make", [
    lambda p: SGDHD(p, lr=1e-3, hypergrad_lr=1e-5, hypergrad_mode="additive"),
    lambda p: SGDNHD(p, lr=1e-3, hypergrad_lr=1e-5, hypergrad_mode="additive"),
    lambda p: AdamHD(p, lr=1e-4, hypergrad_lr=1e-4, hypergrad_mode="additive"),
    lambda p: SGDHD(p, lr=1e-3),
    lambda p: SGDNHD(p, lr=1e-3),
    lambda p: AdamHD(p, lr=1e-4),
    lambda p: HypergradLR(torch.optim.SGD(p, lr=1e-3), hypergrad_lr=1e-5, hypergrad_mode="additive"),
    lambda p: HypergradLR(torch.optim.SGD(p, lr=1e-3)),
])
def test_small_lr_grows_on_a_consistent_descent(make):
    w = torch.nn.Parameter(torch.full((10,), 5.0))
    opt = make([w])
    for _ in range(7):  # before the momentum methods overshoot the minimum
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    lr = opt.param_groups[0]["lr"]
    assert lr > 2 * (1e-4 if isinstance(opt, AdamHD) else 1e-3)


@pytest.mark.parametrize("make", [
    lambda p, b: SGDHD(p, lr=0.5, hypergrad_lr=1e3, lr_bounds=b, hypergrad_mode="additive"),
    lambda p, b: SGDHD(p, lr=0.5, hypergrad_lr=0.9, lr_bounds=b),
    lambda p, b: SGDNHD(p, lr=0.5, hypergrad_lr=0.9, lr_bounds=b),
    lambda p, b: AdamHD(p, lr=0.5, hypergrad_lr=0.9, lr_bounds=b),
    lambda p, b: HypergradLR(torch.optim.SGD(p, lr=0.5), hypergrad_lr=0.9, lr_bounds=b),
    lambda p, b: HypergradLR(torch.optim.SGD(p, lr=0.5), hypergrad_lr=1e3, lr_bounds=b, hypergrad_mode="additive"),
])
def test_lr_stays_inside_bounds_and_reaches_them(make):
    X, y, model = _problem(1)
    opt = make(model.parameters(), (1e-4, 1.0))
    seen = []
    for t in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X * (1 + 5 * (t % 2))), y).backward()
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
    assert all(1e-4 <= lr <= 1.0 for lr in seen)
    assert min(seen) == 1e-4 or max(seen) == 1.0


@pytest.mark.parametrize("bad", [[float("nan")], [float("inf"), -float("inf")]])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("make", [
    lambda p, m: SGDHD(p, lr=0.05, hypergrad_lr=0.1 if m == "multiplicative" else 1e-2, hypergrad_mode=m),
    lambda p, m: SGDNHD(p, lr=0.05, hypergrad_lr=0.1 if m == "multiplicative" else 1e-2, hypergrad_mode=m),
    lambda p, m: AdamHD(p, lr=0.01, hypergrad_lr=0.1 if m == "multiplicative" else 1e-4, hypergrad_mode=m),
    lambda p, m: HypergradLR(torch.optim.AdamW(p, lr=0.01), hypergrad_lr=0.1 if m == "multiplicative" else 1e-4,
                             hypergrad_mode=m),
])
def test_non_finite_gradient_leaves_the_rate_unchanged_with_a_warning(make, mode, bad):
    X, y, model = _problem(7)
    opt = make(_groups(model, 0.02), mode)
    _run(model, opt, X, y, steps=4)
    before = [g["lr"] for g in opt.param_groups]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(X), y).backward()
    for j, value in enumerate(bad):
        model[2].weight.grad[0, j] = value
    with pytest.warns(RuntimeWarning, match="group 1 is not finite"):
        opt.step()
    after = [g["lr"] for g in opt.param_groups]
    assert after[1] == before[1] and math.isfinite(after[0])
    assert after[0] != before[0]  # the other group, whose gradients are finite, still adapts


@pytest.mark.parametrize("make, lr", [
    (lambda g: SGDHD(g, lr=0.05), 0.05),
    (lambda g: SGDHD(g, lr=0.05, hypergrad_lr=1e-2, hypergrad_mode="additive"), 0.05),
    (lambda g: AdamHD(g, lr=0.01), 0.01),
    (lambda g: HypergradLR(torch.optim.Adam(g, lr=0.01)), 0.01),
])
def test_parameter_groups_adapt_separately(make, lr):
    X, y, model = _problem(2)
    opt = make(_groups(model, lr))
    start = [g["lr"] for g in opt.param_groups]
    _run(model, opt, X, y, steps=10)
    end = [g["lr"] for g in opt.param_groups]
    assert len(end) == 2 and end[0] != start[0] and end[1] != start[1]
    assert end[0] / start[0] != pytest.approx(end[1] / start[1])


@pytest.mark.parametrize("make", [
    lambda p, h: SGDHD(p, lr=0.05, hypergrad_lr=0.2, hypergrad_horizon=h),
    lambda p, h: HypergradLR(torch.optim.SGD(p, lr=0.05), hypergrad_lr=0.2, hypergrad_horizon=h),
])
def test_horizon_remembers_the_decayed_displacement_of_recent_steps(make):
    """horizon 1: cos with the last gradient (the papers' rule); horizon H: with sum_k (1 - 1/H)^k * (step k)."""
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, -1.0]))
    scale = torch.tensor([1.0, 9.0, 3.0])
    opt = make([w], 4)
    steps, lrs = [], []
    for _ in range(4):
        opt.zero_grad()
        (scale * w ** 2).sum().backward()
        before = w.detach().clone()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        steps.append(before - w.detach())
    opt.zero_grad()
    (scale * w ** 2).sum().backward()
    g = w.grad.clone()
    trail = sum(0.75 ** (3 - k) * s for k, s in enumerate(steps))
    lr = opt.param_groups[0]["lr"]
    opt.step()
    cos = float(g @ trail / (g.norm() * trail.norm()))
    assert opt.param_groups[0]["lr"] == pytest.approx(lr * (1 + 0.2 * cos), rel=1e-5)
    assert len(set(lrs)) > 2  # the rate moved on the way


def test_a_group_may_set_its_own_rule_and_beta():
    X, y, model = _problem(2)
    groups = _groups(model, 0.05)
    groups[1].update(hypergrad_lr=1e-2, hypergrad_mode="additive")
    opt = SGDHD(groups, lr=0.05)
    assert [g["hypergrad_mode"] for g in opt.param_groups] == ["multiplicative", "additive"]
    assert opt.param_groups[1]["hypergrad_lr"] == 1e-2
    with pytest.raises(ValueError, match="< 1 for the multiplicative rule"):
        SGDHD([{"params": list(model[0].parameters()), "hypergrad_lr": 2.0}], lr=0.05)


@pytest.mark.parametrize("make", [
    lambda p: SGDHD(p, lr=0.05, momentum=0.5),
    lambda p: SGDHD(p, lr=0.05, momentum=0.5, hypergrad_lr=1e-2, hypergrad_mode="additive"),
    lambda p: SGDNHD(p, lr=0.05),
    lambda p: AdamHD(p, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True),
    lambda p: HypergradLR(torch.optim.Adam(p, lr=0.01)),
    lambda p: HypergradLR(torch.optim.AdamW(p, lr=0.01), hypergrad_lr=1e-4, hypergrad_mode="additive"),
])
def test_state_dict_round_trip_resumes_identically(make, tmp_path):
    X, y, m1 = _problem(3)
    m2 = copy.deepcopy(m1)
    o1 = make(_groups(m1, 0.02))
    _run(m1, o1, X, y, steps=6)
    path = tmp_path / "opt.pt"
    torch.save({"model": m1.state_dict(), "opt": o1.state_dict()}, path)
    ref = _run(m1, o1, X, y, steps=6)

    saved = torch.load(path, weights_only=False)
    m2.load_state_dict(saved["model"])
    o2 = make(_groups(m2, 0.02))
    o2.load_state_dict(saved["opt"])
    assert [g["lr"] for g in o2.param_groups] != [0.02, 0.01]  # adapted lr restored
    assert _run(m2, o2, X, y, steps=6) == ref
    assert [g["lr"] for g in o1.param_groups] == [g["lr"] for g in o2.param_groups]


@pytest.mark.parametrize("mode, beta, horizon", [("additive", 1e-2, 1), ("multiplicative", 0.05, 1),
                                                  ("multiplicative", 0.05, 100)])
def test_wrapper_measured_direction_matches_the_exact_optimizer(mode, beta, horizon):
    X, y, m1 = _problem(5)
    m2 = copy.deepcopy(m1)
    exact = SGDHD(m1.parameters(), lr=0.05, momentum=0.9, hypergrad_lr=beta, hypergrad_mode=mode,
                  hypergrad_horizon=horizon)
    wrapped = HypergradLR(torch.optim.SGD(m2.parameters(), lr=0.05, momentum=0.9), hypergrad_lr=beta,
                          hypergrad_mode=mode, hypergrad_horizon=horizon)
    lrs1, lrs2 = [], []
    for _ in range(4):
        _run(m1, exact, X, y, steps=4)
        _run(m2, wrapped, X, y, steps=4)
        lrs1.append(exact.param_groups[0]["lr"])
        lrs2.append(wrapped.param_groups[0]["lr"])
    assert lrs1[-1] != 0.05
    assert lrs2 == pytest.approx(lrs1, rel=1e-3)


def test_closure_is_supported_and_returns_loss():
    X, y, model = _problem(4)
    opt = AdamHD(model.parameters(), lr=0.01)
    losses = _run(model, opt, X, y, steps=20, closure=True)
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_a_tiny_multiplicative_beta_warns_that_it_looks_additive():
    w = [torch.nn.Parameter(torch.ones(1))]
    with pytest.warns(UserWarning, match="hypergrad_mode='additive'"):
        SGDHD(w, lr=0.1, hypergrad_lr=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGDHD(w, lr=0.1, hypergrad_lr=1e-4, hypergrad_mode="additive")
        SGDHD(w, lr=0.1, hypergrad_lr=0.0)


def test_bad_arguments_raise_one_line_errors():
    w = [torch.nn.Parameter(torch.ones(1))]
    with pytest.raises(ValueError, match="hypergrad_lr must be"):
        SGDHD(w, lr=0.1, hypergrad_lr=-1)
    with pytest.raises(ValueError, match="< 1 for the multiplicative rule"):
        AdamHD(w, lr=0.1, hypergrad_lr=1.0)
    with pytest.raises(ValueError, match="outside lr_bounds"):
        AdamHD(w, lr=2.0)
    with pytest.raises(ValueError, match="0 < low <= high"):
        SGDHD(w, lr=0.1, lr_bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="hypergrad_mode must be"):
        SGDHD(w, lr=0.1, hypergrad_mode="cubic")
    with pytest.raises(ValueError, match="momentum > 0"):
        SGDNHD(w, lr=0.1, momentum=0.0)
    with pytest.raises(TypeError, match="wraps a torch.optim.Optimizer"):
        HypergradLR(object())
    with pytest.raises(ValueError, match="outside lr_bounds"):
        SGDHD([{"params": w, "lr": 50.0}], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a float"):
        SGDHD(w, lr=torch.tensor(0.1))
    with pytest.raises(ValueError, match="hypergrad_horizon must be a number of steps >= 1"):
        SGDHD(w, lr=0.1, hypergrad_horizon=0)
    with pytest.raises(ValueError, match="needs hypergrad_mode='multiplicative'"):
        HypergradLR(torch.optim.SGD(w, lr=0.1), hypergrad_mode="additive", hypergrad_horizon=10)


def test_fedhyper_server_rate_keeps_its_value_on_a_non_finite_update():
    rule = ServerLR(lr=1.0, hypergrad_lr=0.5, lr_bounds=(0.1, 5.0))
    rule.step([torch.tensor([1.0, 0.0])])
    with pytest.warns(RuntimeWarning, match="not finite"):
        assert rule.step([torch.tensor([float("nan"), 1.0])]) == 1.0
    assert rule.step([torch.tensor([1.0, 1.0])]) == 1.5  # compared with the last finite update
