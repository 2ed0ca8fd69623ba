"""FedHyper server learning-rate rule on a simulated non-iid FedAvg loop."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from hpo.online.fedhyper import ServerLR, fedavg


@pytest.fixture(scope="module")
def clients():
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X / 16.0, dtype=torch.float32), torch.tensor(y)
    order = torch.argsort(y, stable=True)  # sorted labels: each client sees few classes
    X, y = X[order][:600], y[order][:600]
    return [(X[i * 150:(i + 1) * 150], y[i * 150:(i + 1) * 150]) for i in range(4)]


def _run(clients, beta, rounds=15):
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 10)
    hist = fedavg(model, clients, rounds=rounds, local_steps=3, server=ServerLR(0.2, beta, (0.05, 10.0)), seed=0)
    return model, hist


def test_hypergradient_server_lr_beats_a_too_small_fixed_rate(clients):
    _, fixed = _run(clients, 0.0)
    _, adapted = _run(clients, 5.0)
    assert all(r["server_lr"] == 0.2 for r in fixed)
    assert adapted[-1]["server_lr"] > 0.5
    assert all(0.05 <= r["server_lr"] <= 10.0 for r in adapted)
    assert adapted[-1]["loss"] < 0.8 * fixed[-1]["loss"]


def test_server_rule_matches_formula_and_clips():
    rule = ServerLR(lr=1.0, hypergrad_lr=0.1, lr_bounds=(0.5, 2.0))
    a, b = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])], [torch.tensor([0.5, 1.0]), torch.tensor([-1.0])]
    assert rule.step(a) == 1.0
    assert rule.step(b) == pytest.approx(1.0 + 0.1 * (0.5 + 2.0 - 3.0))
    assert rule.step([torch.tensor([100.0, 100.0]), torch.tensor([0.0])]) == 2.0
    assert rule.step([torch.tensor([-100.0, -100.0]), torch.tensor([0.0])]) == 0.5
    state = rule.state_dict()
    other = ServerLR(lr=1.0, hypergrad_lr=0.0, lr_bounds=(0.5, 2.0))
    other.load_state_dict(state)
    nxt = [torch.tensor([-1.0, 0.0]), torch.tensor([0.0])]
    assert other.step(nxt) == rule.step(nxt)


def test_bad_arguments():
    with pytest.raises(ValueError, match="outside lr_bounds"):
        ServerLR(lr=20.0, lr_bounds=(0.1, 10.0))
    with pytest.raises(ValueError, match="hypergrad_lr must be >= 0"):
        ServerLR(hypergrad_lr=-1.0)
    with pytest.raises(ValueError, match="at least one client"):
        fedavg(torch.nn.Linear(2, 2), [], rounds=1, server=ServerLR())
