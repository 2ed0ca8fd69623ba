"""A FedHyper-style hypergradient rule for the server learning rate of FedAvg.

In FedAvg with a server learning rate ``eta`` the global model moves by
``theta_{r+1} = theta_r + eta_r * Delta_r`` where ``Delta_r`` is the mean client update (a
descent direction). The hypergradient of the loss at ``theta_{r+1}`` with respect to the
previous ``eta`` is ``-grad . Delta_{r-1}``, and ``Delta_r`` stands in for ``-grad``, so
(Wang et al., FedHyper, ICLR 2024, global rule):

    eta_r = clip(eta_{r-1} + beta * Delta_r . Delta_{r-1}, low, high)

:class:`ServerLR` is that rule; :func:`fedavg` is a small single-process FedAvg loop with
simulated clients to run it on.

Example:
    >>> import torch
    >>> rule = ServerLR(lr=1.0, hypergrad_lr=0.5, lr_bounds=(0.1, 5.0))
    >>> rule.step([torch.tensor([1.0, 0.0])])
    1.0
    >>> rule.step([torch.tensor([1.0, 1.0])])      # agreeing updates: the rate grows
    1.5
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["ServerLR", "fedavg"]


class ServerLR:
    """Server learning rate adapted by the dot product of consecutive aggregated updates.

    Args:
        lr: initial server learning rate (1.0 is plain FedAvg).
        hypergrad_lr: ``beta``; 0 keeps ``lr`` fixed.
        lr_bounds: ``(low, high)`` clip range, ``0 < low <= lr <= high``.
    """

    def __init__(self, lr: float = 1.0, hypergrad_lr: float = 0.1, lr_bounds: tuple[float, float] = (0.1, 10.0)):
        lo, hi = (float(b) for b in lr_bounds)
        if not 0 < lo <= hi:
            raise ValueError(f"lr_bounds must satisfy 0 < low <= high, got {lr_bounds!r}")
        if not lo <= lr <= hi:
            raise ValueError(f"server lr={lr} lies outside lr_bounds={lr_bounds!r}; widen the bounds or change lr")
        if not (hypergrad_lr >= 0 and math.isfinite(hypergrad_lr)):
            raise ValueError(f"hypergrad_lr must be >= 0, got {hypergrad_lr!r}; use 0 for a fixed server rate")
        self.lr, self.hypergrad_lr, self.lr_bounds = float(lr), float(hypergrad_lr), (lo, hi)
        self._prev: list[Tensor] | None = None

    def step(self, delta: Sequence[Tensor]) -> float:
        """Take this round's aggregated update (one tensor per parameter); return the lr to apply.

        A non-finite update leaves the rate unchanged (with a ``RuntimeWarning``) and is not remembered."""
        delta = [d.detach().clone() for d in delta]
        if self._prev is not None and self.hypergrad_lr > 0:
            dot = float(sum(torch.sum(a * b, dtype=torch.float64) for a, b in zip(delta, self._prev)))
            new = self.lr + self.hypergrad_lr * dot
            if math.isfinite(new):
                self.lr = min(max(new, self.lr_bounds[0]), self.lr_bounds[1])
            else:
                warnings.warn(f"the aggregated update is not finite; the server learning rate stays at {self.lr:.4g}",
                              RuntimeWarning, stacklevel=2)
        if all(bool(torch.isfinite(d).all()) for d in delta):
            self._prev = delta
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "hypergrad_lr": self.hypergrad_lr, "lr_bounds": self.lr_bounds,
                "prev": None if self._prev is None else [d.clone() for d in self._prev]}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.hypergrad_lr = float(state["lr"]), float(state["hypergrad_lr"])
        self.lr_bounds = tuple(state["lr_bounds"])
        self._prev = None if state["prev"] is None else [d.clone() for d in state["prev"]]


def fedavg(model: torch.nn.Module, clients: Sequence[tuple[Tensor, Tensor]], *, rounds: int, server: ServerLR,
           local_steps: int = 5, client_lr: float = 0.05, batch_size: int = 32,
           loss_fn: Callable[[Tensor, Tensor], Tensor] = torch.nn.functional.cross_entropy,
           seed: int = 0) -> list[dict]:
    """Run FedAvg in one process: every round each client takes ``local_steps`` SGD steps from the
    global model on its own data, the server averages the updates (weighted by client size) and
    applies them with ``server``'s learning rate. ``model`` is updated in place.

    Returns one record per round: ``round``, ``server_lr`` (the rate applied) and ``loss``
    (the global model's mean training loss over all clients after the round).
    """
    if rounds < 1 or local_steps < 1 or not clients:
        raise ValueError("fedavg needs rounds >= 1, local_steps >= 1 and at least one client")
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([float(len(x)) for x, _ in clients])
    weights = sizes / sizes.sum()
    params = list(model.parameters())
    history = []
    for r in range(rounds):
        start = [p.detach().clone() for p in params]
        delta = [torch.zeros_like(p) for p in params]
        for w, (x, y) in zip(weights, clients):
            with torch.no_grad():
                for p, s in zip(params, start):
                    p.copy_(s)
            for _ in range(local_steps):
                idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
                model.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                with torch.no_grad():
                    for p in params:
                        p.sub_(client_lr * p.grad)
            with torch.no_grad():
                for d, p, s in zip(delta, params, start):
                    d.add_(p - s, alpha=float(w))
        lr = server.step(delta)
        with torch.no_grad():
            for p, s, d in zip(params, start, delta):
                p.copy_(s + lr * d)
            loss = sum(float(w) * float(loss_fn(model(x), y)) for w, (x, y) in zip(weights, clients))
        history.append({"round": r, "server_lr": lr, "loss": loss})
    return history
