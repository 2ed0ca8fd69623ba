"""Hypergradient optimizers: exactness at beta=0, lr adaptation, clipping, groups, state round trips."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from hpo.online.hypergrad import SGDHD, SGDNHD, AdamHD, HypergradLR


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(64, 5, generator=g)
    y = (X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * torch.randn(64, generator=g) > 0).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    return X, y, model


def _run(model, opt, X, y, steps=15, closure=False):
    losses = []
    for t in range(steps):
        xb, yb = X[(t * 16) % 64:(t * 16) % 64 + 16], y[(t * 16) % 64:(t * 16) % 64 + 16]

        def f():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
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


@pytest.mark.parametrize("make_hd, make_base", [
    (lambda p: SGDHD(p, lr=0.1, hypergrad_lr=0.0), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda p: SGDHD(p, lr=0.1, momentum=0.9, weight_decay=1e-3, hypergrad_lr=0.0),
     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3)),
    (lambda p: SGDNHD(p, lr=0.05, momentum=0.8, hypergrad_lr=0.0),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    (lambda p: AdamHD(p, lr=0.01, hypergrad_lr=0.0), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda p: AdamHD(p, lr=0.01, weight_decay=0.1, amsgrad=True, hypergrad_lr=0.0),
     lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True)),
    (lambda p: HypergradLR(torch.optim.AdamW(p, lr=0.01), hypergrad_lr=0.0), lambda p: torch.optim.AdamW(p, lr=0.01)),
])
def test_beta_zero_equals_base_optimizer_exactly(make_hd, make_base):
    X, y, m1 = _problem()
    m2 = copy.deepcopy(m1)
    l1 = _run(m1, make_hd(m1.parameters()), X, y)
    l2 = _run(m2, make_base(m2.parameters()), X, y)
    assert l1 == l2
    for a, b in zip(_params(m1), _params(m2)):
        assert torch.equal(a, b)


def test_sgdhd_first_update_is_the_paper_rule():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = SGDHD([w], lr=0.1, hypergrad_lr=0.01)
    (w ** 2).sum().backward()
    g0 = w.grad.clone()
    opt.step()
    assert opt.param_groups[0]["lr"] == 0.1  # no previous direction yet
    opt.zero_grad()
    (w ** 2).sum().backward()
    g1 = w.grad.clone()
    opt.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 + 0.01 * float(g1 @ g0))


def test_adamhd_uses_previous_adam_direction():
    w = torch.nn.Parameter(torch.tensor([1.0, -3.0]))
    opt = AdamHD([w], lr=0.01, hypergrad_lr=1e-3)
    ref = torch.optim.Adam([torch.nn.Parameter(w.detach().clone())], lr=0.01)
    (w ** 2).sum().backward()
    before = w.detach().clone()
    opt.step()
    direction = (before - w.detach()) / 0.01
    opt.zero_grad()
    (w ** 2).sum().backward()
    opt.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 + 1e-3 * float(w.grad @ direction), rel=1e-5)
    del ref


@pytest.mark.parametrize("make", [
    lambda p: SGDHD(p, lr=1e-3, hypergrad_lr=1e-5),
    lambda p: SGDNHD(p, lr=1e-3, hypergrad_lr=1e-5),
    lambda p: AdamHD(p, lr=1e-4, hypergrad_lr=1e-4),
    lambda p: SGDHD(p, lr=1e-3, hypergrad_lr=0.05, hypergrad_mode="multiplicative"),
    lambda p: HypergradLR(torch.optim.SGD(p, lr=1e-3), hypergrad_lr=1e-5),
])
def test_small_lr_grows_on_a_consistent_descent(make):
    w = torch.nn.Parameter(torch.full((10,), 5.0))
    opt = make([w])
    for _ in range(30):
        opt.zero_grad()
        (w ** 2).sum().backward()
        opt.step()
    lr = opt.param_groups[0]["lr"]
    assert lr > 2 * (1e-4 if isinstance(opt, AdamHD) else 1e-3)


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_lr_stays_inside_bounds_even_when_hypergradient_is_huge(mode):
    X, y, model = _problem(1)
    opt = SGDHD(model.parameters(), lr=0.5, hypergrad_lr=1e3, lr_bounds=(1e-4, 1.0), hypergrad_mode=mode)
    seen = []
    for t in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X * (1 + 5 * (t % 2))), y).backward()
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
    assert all(1e-4 <= lr <= 1.0 for lr in seen)
    assert min(seen) == 1e-4 or max(seen) == 1.0


@pytest.mark.parametrize("make, lr", [
    (lambda g: SGDHD(g, lr=0.05, hypergrad_lr=1e-2), 0.05),
    (lambda g: AdamHD(g, lr=0.01, hypergrad_lr=1e-4), 0.01),
    (lambda g: HypergradLR(torch.optim.Adam(g, lr=0.01), hypergrad_lr=1e-4), 0.01),
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
    lambda p: SGDHD(p, lr=0.05, momentum=0.5, hypergrad_lr=1e-2),
    lambda p: SGDNHD(p, lr=0.05, hypergrad_lr=1e-2, hypergrad_mode="multiplicative"),
    lambda p: AdamHD(p, lr=0.01, hypergrad_lr=1e-4, weight_decay=0.01, decoupled_weight_decay=True),
    lambda p: HypergradLR(torch.optim.Adam(p, lr=0.01), hypergrad_lr=1e-4),
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


@pytest.mark.parametrize("mode, beta", [("additive", 1e-2), ("multiplicative", 0.05)])
def test_wrapper_measured_direction_matches_the_exact_optimizer(mode, beta):
    X, y, m1 = _problem(5)
    m2 = copy.deepcopy(m1)
    exact = SGDHD(m1.parameters(), lr=0.05, momentum=0.9, hypergrad_lr=beta, hypergrad_mode=mode)
    wrapped = HypergradLR(torch.optim.SGD(m2.parameters(), lr=0.05, momentum=0.9), hypergrad_lr=beta,
                          hypergrad_mode=mode)
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
    opt = AdamHD(model.parameters(), lr=0.01, hypergrad_lr=1e-4)
    losses = _run(model, opt, X, y, steps=20, closure=True)
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


def test_bad_arguments_raise_one_line_errors():
    w = [torch.nn.Parameter(torch.ones(1))]
    with pytest.raises(ValueError, match="hypergrad_lr must be"):
        SGDHD(w, lr=0.1, hypergrad_lr=-1)
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
