"""Hypergradient learning rates (Baydin et al., ICLR 2018): the step size learns itself.

After each step the learning rate moves along the derivative of the loss with respect to
the previous step's learning rate. If the last update was ``theta_t = theta_{t-1} - lr * d``
then ``d loss(theta_t) / d lr = -g_t . d``, so

* additive rule (the paper's): ``lr <- lr + beta * g_t . d``
* multiplicative rule (the paper's normalised variant): ``lr <- lr * (1 + beta * cos(g_t, d))``,
  which is invariant to the scale of the loss and of ``lr`` itself.

``d`` is the previous direction of the base method: the gradient for SGD-HD, the Nesterov
momentum direction for SGDN-HD, the bias-corrected Adam direction for Adam-HD. Each parameter
group has its own learning rate and its own hypergradient (one dot product over the whole
group, not per tensor); the rate is clipped to ``lr_bounds`` so it can never turn negative or
blow up. With ``hypergrad_lr=0`` every optimizer here is its torch base optimizer, bit for bit.

:class:`HypergradLR` wraps any torch optimizer instead, measuring ``d`` from the realised
update ``(theta_before - theta_after) / lr``.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    >>> opt = SGDHD([w], lr=1e-3, hypergrad_lr=1e-2)
    >>> for _ in range(20):
    ...     opt.zero_grad()
    ...     (w ** 2).sum().backward()
    ...     _ = opt.step()
    >>> opt.param_groups[0]["lr"] > 1e-3          # the rate grew while gradients agreed
    True
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["SGDHD", "SGDNHD", "AdamHD", "HypergradLR"]

_MODES = ("additive", "multiplicative")


def _check_hd_args(lr: float, hypergrad_lr: float, lr_bounds: tuple[float, float], mode: str) -> None:
    if not (isinstance(hypergrad_lr, (int, float)) and hypergrad_lr >= 0 and math.isfinite(hypergrad_lr)):
        raise ValueError(f"hypergrad_lr must be a finite number >= 0, got {hypergrad_lr!r}; "
                         "use 0 to switch adaptation off")
    try:
        lo, hi = (float(b) for b in lr_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"lr_bounds must be a pair (low, high), got {lr_bounds!r}") from None
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"lr_bounds must satisfy 0 < low <= high < inf, got {lr_bounds!r}; e.g. lr_bounds=(1e-8, 1.0)")
    if not lo <= float(lr) <= hi:
        raise ValueError(f"initial lr={lr} lies outside lr_bounds={lr_bounds!r}; widen the bounds or change lr")
    if mode not in _MODES:
        raise ValueError(f"hypergrad_mode must be one of {_MODES}, got {mode!r}")


def _new_lr(lr: float, group: dict, dot: float, sq_g: float, sq_d: float) -> float:
    beta = group["hypergrad_lr"]
    if group["hypergrad_mode"] == "additive":
        lr = lr + beta * dot
    else:
        denom = math.sqrt(sq_g * sq_d)
        lr = lr * (1.0 + beta * dot / denom) if denom > 0 else lr
    if not math.isfinite(lr):
        return float(group["lr_min"])
    return float(min(max(lr, group["lr_min"]), group["lr_max"]))


class _HypergradMixin:
    """Shared machinery: hypergradient settings per group, lr update, stored directions."""

    def _init_hd(self, hypergrad_lr: float, lr_bounds: tuple[float, float], mode: str) -> None:
        extra = {"hypergrad_lr": float(hypergrad_lr), "lr_min": float(lr_bounds[0]),
                 "lr_max": float(lr_bounds[1]), "hypergrad_mode": mode}
        self.defaults.update(extra)
        for group in self.param_groups:
            for key, value in extra.items():
                group.setdefault(key, value)
            _check_hd_args(group["lr"], group["hypergrad_lr"], (group["lr_min"], group["lr_max"]),
                           group["hypergrad_mode"])

    def _objective_grad(self, p: Tensor, group: dict) -> Tensor:
        wd = group.get("weight_decay", 0)
        if wd and not group.get("decoupled_weight_decay", False):
            return p.grad.add(p, alpha=wd)
        return p.grad

    @torch.no_grad()
    def _hd_update_lr(self) -> None:
        sums = []
        for group in self.param_groups:
            dot = sq_g = sq_d = torch.zeros((), dtype=torch.float64)
            for p in group["params"]:
                d = self.state[p].get("hd_direction") if p.grad is not None else None
                if d is None:
                    continue
                g = self._objective_grad(p, group)
                dot = dot + torch.sum(g * d, dtype=torch.float64)
                if group["hypergrad_mode"] == "multiplicative":
                    sq_g = sq_g + torch.sum(g * g, dtype=torch.float64)
                    sq_d = sq_d + torch.sum(d * d, dtype=torch.float64)
            sums.append(torch.stack([dot, sq_g, sq_d]))
        for group, (dot, sq_g, sq_d) in zip(self.param_groups, torch.stack(sums).tolist()):
            if group["hypergrad_lr"] > 0:
                group["lr"] = _new_lr(float(group["lr"]), group, dot, sq_g, sq_d)

    def _direction(self, p: Tensor, group: dict, g: Tensor, p_before: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _hd_step(self, base_step: Callable[[], object], closure: Callable[[], Tensor] | None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._hd_update_lr()
        with torch.no_grad():
            saved = [[(p, self._objective_grad(p, g).clone(), self._param_before(p, g)) for p in g["params"]
                      if p.grad is not None] for g in self.param_groups]
        base_step()
        with torch.no_grad():
            for group, items in zip(self.param_groups, saved):
                for p, g, before in items:
                    self.state[p]["hd_direction"] = self._direction(p, group, g, before)
        return loss

    def _param_before(self, p: Tensor, group: dict) -> Tensor | None:
        return None


class SGDHD(_HypergradMixin, torch.optim.SGD):
    """SGD whose learning rate follows its hypergradient (SGD-HD); momentum optional.

    Args:
        params: parameters or parameter groups, as for ``torch.optim.SGD``.
        lr: initial learning rate (per group, adapted).
        momentum, dampening, weight_decay, nesterov: as ``torch.optim.SGD``.
        hypergrad_lr: ``beta``, the hypergradient step size (paper: 1e-3 for the additive rule).
            ``0`` reproduces ``torch.optim.SGD`` exactly. Groups may set their own.
        lr_bounds: ``(low, high)``, the learning rate is clipped into this range after each update.
        hypergrad_mode: ``"additive"`` (paper) or ``"multiplicative"`` (normalised, scale free).

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = SGDHD([w], lr=0.01, hypergrad_lr=0.0)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach().tolist()
        [0.9800000190734863, 0.9800000190734863, 0.9800000190734863]
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, hypergrad_lr: float = 1e-3,
                 lr_bounds: tuple[float, float] = (1e-8, 10.0), hypergrad_mode: str = "additive") -> None:
        _check_hd_args(lr, hypergrad_lr, lr_bounds, hypergrad_mode)
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)
        self._init_hd(hypergrad_lr, lr_bounds, hypergrad_mode)

    def _direction(self, p: Tensor, group: dict, g: Tensor, p_before: Tensor | None) -> Tensor:
        if group["momentum"] == 0:
            return g
        buf = self.state[p]["momentum_buffer"]
        return g.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf.clone()

    def step(self, closure: Callable[[], Tensor] | None = None):  # type: ignore[override]
        """One step: adapt each group's lr from its hypergradient, then take the SGD step."""
        return self._hd_step(lambda: torch.optim.SGD.step(self), closure)


class SGDNHD(SGDHD):
    """SGD with Nesterov momentum and a hypergradient learning rate (SGDN-HD).

    The hypergradient uses the previous Nesterov direction ``g + momentum * buf``.

    Example:
        >>> import torch
        >>> opt = SGDNHD([torch.nn.Parameter(torch.ones(2))], lr=0.01, momentum=0.9)
        >>> opt.param_groups[0]["nesterov"]
        True
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0, *,
                 hypergrad_lr: float = 1e-3, lr_bounds: tuple[float, float] = (1e-8, 10.0),
                 hypergrad_mode: str = "additive") -> None:
        if momentum <= 0:
            raise ValueError(f"SGDNHD needs momentum > 0, got {momentum}; use SGDHD for plain SGD")
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True,
                         hypergrad_lr=hypergrad_lr, lr_bounds=lr_bounds, hypergrad_mode=hypergrad_mode)


class AdamHD(_HypergradMixin, torch.optim.Adam):
    """Adam whose learning rate follows its hypergradient (Adam-HD).

    The hypergradient uses the previous bias-corrected Adam direction
    ``m_hat / (sqrt(v_hat) + eps)`` (plus the decoupled weight-decay term when used).

    Args:
        params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay: as ``torch.optim.Adam``.
        hypergrad_lr: ``beta``; ``0`` is exactly ``torch.optim.Adam``. The default is the paper's 1e-7 for
            the additive rule, and the rule is the paper's reference implementation's (one dot product of the
            gradient with the previous bias-corrected direction over all weights), so the value carries over
            as published. It is not scale free, though: once ``m_hat / sqrt(v_hat)`` is about ``sign(g)`` the
            dot product is about ``||g||_1``, which grows with the number of weights, and the rate has to
            travel from its start within the run's steps, so ``beta`` should scale like
            ``target_lr / (steps * ||g||_1)``. The paper's value suits MNIST-size models trained for thousands
            of steps; for 340 steps of logistic regression on digits (650 weights) it narrows the spread of final
            losses across initial rates 1e-5..1e-1 only 2.3x, while 1e-6 gives 8.4x and 1e-5 24x (MLP, 7,510
            weights: 9.7x, 10.6x, 6.6x; ``benchmarks/results/online_hypergrad.md``). Raise it for small or short
            runs, or use the scale-free ``hypergrad_mode="multiplicative"``.
        lr_bounds: ``(low, high)`` clip range of the learning rate.
        hypergrad_mode: ``"additive"`` or ``"multiplicative"``.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = AdamHD([w], lr=0.1, hypergrad_lr=1e-3)
        >>> for _ in range(3):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> 0.1 < opt.param_groups[0]["lr"] <= 1.0
        True
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False, hypergrad_lr: float = 1e-7,
                 lr_bounds: tuple[float, float] = (1e-8, 1.0), hypergrad_mode: str = "additive") -> None:
        _check_hd_args(lr, hypergrad_lr, lr_bounds, hypergrad_mode)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         decoupled_weight_decay=decoupled_weight_decay)
        self._init_hd(hypergrad_lr, lr_bounds, hypergrad_mode)

    def _param_before(self, p: Tensor, group: dict) -> Tensor | None:
        return p.detach().clone() if group["weight_decay"] and group["decoupled_weight_decay"] else None

    def _direction(self, p: Tensor, group: dict, g: Tensor, p_before: Tensor | None) -> Tensor:
        state = self.state[p]
        beta1, beta2 = group["betas"]
        step = float(state["step"])
        v = state["max_exp_avg_sq"] if group["amsgrad"] else state["exp_avg_sq"]
        denom = (v.sqrt() / math.sqrt(1 - beta2 ** step)).add_(group["eps"])
        d = state["exp_avg"].div(1 - beta1 ** step).div_(denom)
        if p_before is not None:
            d.add_(p_before, alpha=group["weight_decay"])
        return d

    def step(self, closure: Callable[[], Tensor] | None = None):  # type: ignore[override]
        """One step: adapt each group's lr from its hypergradient, then take the Adam step."""
        return self._hd_step(lambda: torch.optim.Adam.step(self), closure)


class HypergradLR:
    """Give any torch optimizer a hypergradient-adapted learning rate (one per parameter group).

    The previous direction is measured from the realised update, so this works for optimizers
    whose update is linear in ``lr`` (SGD, Adam, AdamW, RMSprop, Adagrad, ...). For very small
    steps relative to float32 precision that measurement gets noisy; the dedicated
    :class:`SGDHD`/:class:`AdamHD` compute the direction exactly.

    Args:
        optimizer: a ``torch.optim.Optimizer`` whose groups have an ``lr``.
        hypergrad_lr: ``beta``; ``0`` leaves the optimizer untouched.
        lr_bounds: clip range of each group's learning rate.
        hypergrad_mode: ``"additive"`` or ``"multiplicative"``.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = HypergradLR(torch.optim.RMSprop([w], lr=1e-3), hypergrad_lr=1e-2, hypergrad_mode="multiplicative")
        >>> for _ in range(5):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> opt.param_groups[0]["lr"] > 1e-3
        True
    """

    def __init__(self, optimizer: torch.optim.Optimizer, hypergrad_lr: float = 1e-3,
                 lr_bounds: tuple[float, float] = (1e-8, 10.0), hypergrad_mode: str = "additive") -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"HypergradLR wraps a torch.optim.Optimizer, got {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            if isinstance(group.get("lr"), Tensor) or "lr" not in group:
                raise ValueError("HypergradLR needs a float 'lr' in every parameter group; pass lr as a float")
            _check_hd_args(group["lr"], hypergrad_lr, lr_bounds, hypergrad_mode)
        self.optimizer = optimizer
        self.hypergrad_lr = float(hypergrad_lr)
        self.lr_bounds = (float(lr_bounds[0]), float(lr_bounds[1]))
        self.hypergrad_mode = hypergrad_mode
        self._directions: dict[int, Tensor] = {}

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _settings(self) -> dict:
        return {"hypergrad_lr": self.hypergrad_lr, "lr_min": self.lr_bounds[0], "lr_max": self.lr_bounds[1],
                "hypergrad_mode": self.hypergrad_mode}

    def _indexed(self):
        i = 0
        for gi, group in enumerate(self.optimizer.param_groups):
            for p in group["params"]:
                yield gi, i, p
                i += 1

    def step(self, closure: Callable[[], Tensor] | None = None):
        """Adapt each group's lr from its hypergradient, then step the wrapped optimizer."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = self.optimizer.param_groups
        settings = self._settings()
        with torch.no_grad():
            sums = torch.zeros(len(groups), 3, dtype=torch.float64)
            before = {}
            for gi, i, p in self._indexed():
                if p.grad is None:
                    continue
                before[i] = p.detach().clone()
                d = self._directions.get(i)
                if d is None:
                    continue
                g = p.grad
                sums[gi, 0] += torch.sum(g * d, dtype=torch.float64)
                if self.hypergrad_mode == "multiplicative":
                    sums[gi, 1] += torch.sum(g * g, dtype=torch.float64)
                    sums[gi, 2] += torch.sum(d * d, dtype=torch.float64)
            if self.hypergrad_lr > 0:
                for group, (dot, sq_g, sq_d) in zip(groups, sums.tolist()):
                    group["lr"] = _new_lr(float(group["lr"]), settings, dot, sq_g, sq_d)
            used = [float(g["lr"]) for g in groups]
        self.optimizer.step()
        with torch.no_grad():
            for gi, i, p in self._indexed():
                if i in before:
                    self._directions[i] = before[i].sub_(p).div_(used[gi])
        return loss

    def state_dict(self) -> dict:
        """The wrapped optimizer's state dict plus the hypergradient settings and directions."""
        return {"optimizer": self.optimizer.state_dict(),
                "hypergrad": {**self._settings(), "directions": {i: d.clone() for i, d in self._directions.items()}}}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or set(state_dict) != {"optimizer", "hypergrad"}:
            raise ValueError("HypergradLR.load_state_dict expects a dict from HypergradLR.state_dict()")
        self.optimizer.load_state_dict(state_dict["optimizer"])
        hd = state_dict["hypergrad"]
        self.hypergrad_lr = float(hd["hypergrad_lr"])
        self.lr_bounds = (float(hd["lr_min"]), float(hd["lr_max"]))
        self.hypergrad_mode = hd["hypergrad_mode"]
        params = {i: p for _, i, p in self._indexed()}
        self._directions = {int(i): d.to(params[int(i)]) for i, d in hd["directions"].items()}

    def __repr__(self) -> str:
        return f"HypergradLR({self.optimizer!r}, hypergrad_lr={self.hypergrad_lr}, mode={self.hypergrad_mode!r})"
