"""Hypergradient learning rates: the step size learns itself while the model trains.

If the last update was ``theta_t = theta_{t-1} - lr * u_{t-1}`` (``u``: the base method's direction),
the derivative of the loss after it with respect to that ``lr`` is ``-g_t . u_{t-1}``. Two rules
move ``lr`` against it after every step:

* ``"multiplicative"`` (the default): ``lr <- lr * (1 + beta * cos(g_t, u_{t-1}))``, a step on
  ``log lr`` along the hypergradient normalised by both vectors' norms. ``beta`` has no units: the
  rate changes by at most a factor ``1 +- beta`` a step whatever the scale of the loss, of the
  gradients, the number of weights or the rate itself. This is the multiplicative rule of the
  first version of the hypergradient-descent paper (Baydin et al., arXiv:1703.04782v1), derived
  and analysed in Martinez Rubio (2017, "Convergence analysis of an adaptive method of gradient
  descent", MSc thesis, University of Oxford).
* ``"additive"`` (the ICLR 2018 paper's rule, Baydin et al.): ``lr <- lr + beta * g_t . u_{t-1}``.
  Its ``beta`` has units of rate squared per loss: the change grows with the gradients' scale and
  the number of weights, so a value that suits one problem moves the rate too little or too much
  on another.

``hypergrad_horizon`` (multiplicative rule only) sets how far back ``u`` looks. With a horizon
of 1, ``u_{t-1}`` is the last step's direction, the papers' rule. With a horizon ``H > 1`` it is
the displacement of the last ``H`` or so steps, ``U_t = (1 - 1/H) U_{t-1} + lr_t u_t``: the
derivative with respect to a rate held over those steps, with the curvature terms dropped, as the
traces of IDBD (Sutton 1992), SMD (Schraudolph 1999) and MetaOptimize (Sharifnassab et al.,
ICML 2024) do. A one-step hypergradient is greedy: under gradient noise consecutive gradients
disagree even when a larger rate would train faster over many steps, so the one-step rule
settles too low and, late in training, lets the rate decay towards zero (the short-horizon bias,
Wu et al., ICLR 2018); over a horizon the steps that oscillate cancel and those that make progress
add up.

``u`` is the gradient for SGD-HD, the momentum (or Nesterov) direction for SGDN-HD, the
bias-corrected Adam direction for Adam-HD. Every parameter group has its own rate and its own
hypergradient, from one dot product over the whole group (one host synchronisation per step for
all groups together); the rate is clipped to ``lr_bounds`` after every update; a non-finite
hypergradient (a NaN or inf gradient) leaves the rate where it was, with a ``RuntimeWarning``,
and the group's horizon starts afresh. With ``hypergrad_lr=0`` each optimizer here is its torch
base optimizer, bit for bit.

:class:`HypergradLR` gives any torch optimizer the same adaptation, measuring ``u`` from the
realised update ``theta_before - theta_after``.

Defaults (``hypergrad_lr=None``, ``hypergrad_horizon=None``): for the multiplicative rule the values
in :data:`DEFAULT_HYPERGRAD`, chosen per optimizer on a declared development set of models, datasets
and run lengths and then judged on a grid of others (``benchmarks/online_hypergrad.py``, results in
``benchmarks/results/online_hypergrad*.md``); for the additive rule the paper's (``beta`` 1e-3 for SGD,
1e-7 for Adam, horizon 1). Until this default existed the additive rule was the default: pass
``hypergrad_mode="additive"`` for the old behaviour.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    >>> opt = SGDHD([w], lr=1e-3)
    >>> for _ in range(8):
    ...     opt.zero_grad()
    ...     (w ** 2).sum().backward()
    ...     _ = opt.step()
    >>> opt.param_groups[0]["lr"] > 1e-3          # the rate grew while gradients agreed
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["SGDHD", "SGDNHD", "AdamHD", "HypergradLR", "DEFAULT_HYPERGRAD"]

_MODES = ("multiplicative", "additive")
# (beta, horizon) when hypergrad_lr / hypergrad_horizon are None. Multiplicative: chosen by the declared rule on
# the development set (benchmarks/results/online_hypergrad_dev_table.md; HypergradLR on AdamW); additive: the
# ICLR 2018 paper's.
DEFAULT_HYPERGRAD = {
    "multiplicative": {"SGDHD": (0.9, 100), "SGDNHD": (0.7, 1), "AdamHD": (0.9, 1), "HypergradLR": (0.9, 1)},
    "additive": {"SGDHD": (1e-3, 1), "SGDNHD": (1e-3, 1), "AdamHD": (1e-7, 1), "HypergradLR": (1e-3, 1)},
}
_TINY_MULTIPLICATIVE = 1e-3


def _resolve(owner: str, beta: float | None, horizon: int | None, mode: str) -> tuple[float, int]:
    """Validated ``(beta, horizon)``, defaults filled in; one-line errors for bad values."""
    if mode not in _MODES:
        raise ValueError(f"hypergrad_mode must be one of {_MODES}, got {mode!r}")
    default_beta, default_horizon = DEFAULT_HYPERGRAD[mode][owner]
    if beta is None:
        beta = default_beta
    elif isinstance(beta, bool) or not (isinstance(beta, (int, float)) and beta >= 0 and math.isfinite(beta)):
        raise ValueError(f"hypergrad_lr must be a finite number >= 0, got {beta!r}; "
                         "use 0 to switch adaptation off, None for the default")
    elif mode == "multiplicative" and beta >= 1:
        raise ValueError(f"hypergrad_lr must be < 1 for the multiplicative rule (the rate changes by a factor "
                         f"1 +- hypergrad_lr a step), got {beta!r}")
    elif mode == "multiplicative" and 0 < beta < _TINY_MULTIPLICATIVE:
        warnings.warn(f"hypergrad_lr={beta:g} with the multiplicative rule changes the rate by at most "
                      f"{100 * beta:.2g}% a step; its beta is unitless (default {default_beta:g}). For the additive "
                      "rule's beta pass hypergrad_mode='additive'", UserWarning, stacklevel=3)
    if horizon is None:
        horizon = default_horizon
    elif isinstance(horizon, bool) or not (isinstance(horizon, (int, float)) and horizon >= 1
                                           and math.isfinite(horizon)):
        raise ValueError(f"hypergrad_horizon must be a number of steps >= 1, got {horizon!r}; 1 is the "
                         "papers' one-step hypergradient")
    elif mode == "additive" and horizon != 1:
        raise ValueError(f"hypergrad_horizon={horizon!r} needs hypergrad_mode='multiplicative'; the additive rule "
                         "uses the last step only (horizon 1)")
    return float(beta), horizon


def _check_bounds(lr: float, lr_bounds: tuple[float, float]) -> tuple[float, float]:
    if isinstance(lr, (Tensor, bool)) or not isinstance(lr, (int, float)):
        raise ValueError(f"lr must be a float for a hypergradient learning rate, got {type(lr).__name__}")
    try:
        lo, hi = (float(b) for b in lr_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"lr_bounds must be a pair (low, high), got {lr_bounds!r}") from None
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise ValueError(f"lr_bounds must satisfy 0 < low <= high < inf, got {lr_bounds!r}; e.g. lr_bounds=(1e-8, 1.0)")
    if not lo <= float(lr) <= hi:
        raise ValueError(f"initial lr={lr} lies outside lr_bounds={lr_bounds!r}; widen the bounds or change lr")
    return lo, hi


def _new_lr(lr: float, beta: float, mode: str, lo: float, hi: float, sums: list[float]) -> float:
    """The next rate from a group's ``[dot, |g|^2, |u|^2]``; ``lr`` itself when the norms vanish."""
    dot, sq_g, sq_u = sums
    if mode == "additive":
        new = lr + beta * dot
    else:
        denom = math.sqrt(sq_g * sq_u)
        new = lr * (1.0 + beta * max(-1.0, min(1.0, dot / denom))) if denom > 0 else lr
    return float(min(max(new, lo), hi)) if math.isfinite(new) else lr


def _flat(t: Tensor) -> Tensor:
    t = t.reshape(-1)
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _group_sums(pairs_per_group: list[list[tuple[Tensor, Tensor]]], need_norms: list[bool]) -> list[list[float]]:
    """``[dot, |g|^2, |u|^2]`` per group (norms only where asked), with one host synchronisation for all groups."""
    vals, spans = [], []
    for pairs, norms in zip(pairs_per_group, need_norms):
        start = len(vals)
        for g, u in pairs:
            g, u = _flat(g), _flat(u)
            vals.append(torch.vdot(g, u))
            if norms:
                vals += [torch.vdot(g, g), torch.vdot(u, u)]
        spans.append((start, len(vals), norms))
    flat = torch.stack(vals).double().tolist() if vals else []
    out = []
    for start, end, norms in spans:
        part = flat[start:end]
        out.append([sum(part[0::3]), sum(part[1::3]), sum(part[2::3])] if norms else [sum(part), 0.0, 0.0])
    return out


def _adapt(groups: list[dict], pairs: list[list[tuple[Tensor, Tensor]]], settings: list[dict]) -> list[bool]:
    """Move every group's rate along its hypergradient; True for the groups whose gradient was not finite."""
    bad = [False] * len(groups)
    if not any(items for items, s in zip(pairs, settings) if s["hypergrad_lr"] > 0):
        return bad
    sums = _group_sums(pairs, [s["hypergrad_mode"] == "multiplicative" for s in settings])
    for i, (group, s, items, total) in enumerate(zip(groups, settings, pairs, sums)):
        if not items or s["hypergrad_lr"] == 0:
            continue
        lr = float(group["lr"])
        if not all(math.isfinite(v) for v in total):
            if not all(bool(torch.isfinite(g).all()) for g, _ in items):
                bad[i] = True
                warnings.warn(f"hypergradient of parameter group {i} is not finite (a NaN or inf gradient); its "
                              f"learning rate stays at {lr:.4g}", RuntimeWarning, stacklevel=4)
            continue
        group["lr"] = _new_lr(lr, s["hypergrad_lr"], s["hypergrad_mode"], s["lr_min"], s["lr_max"], total)
    return bad


def _remember(old: Tensor | None, step: Tensor, lr: float, horizon: float) -> Tensor:
    """The new stored direction: the last step's direction (horizon 1) or the decayed displacement."""
    if horizon == 1:
        return step
    step = step.mul_(lr)
    return step if old is None else old.mul_(1 - 1 / horizon).add_(step)


class _HypergradMixin:
    """Shared machinery of the optimizer subclasses: settings per group, the rate update, stored directions."""

    _hd_owner = "SGDHD"

    def _init_hd(self, beta: float, horizon: int, lr_bounds: tuple[float, float], mode: str) -> None:
        lo, hi = _check_bounds(self.defaults["lr"], lr_bounds)
        self.defaults.update({"hypergrad_lr": beta, "hypergrad_horizon": horizon, "hypergrad_mode": mode,
                              "lr_min": lo, "lr_max": hi})
        for group in self.param_groups:
            own_mode = group.setdefault("hypergrad_mode", mode)
            own_beta, own_horizon = group.get("hypergrad_lr"), group.get("hypergrad_horizon")
            if own_mode == mode and own_beta is None and own_horizon is None:
                group["hypergrad_lr"], group["hypergrad_horizon"] = beta, horizon
            else:
                group["hypergrad_lr"], group["hypergrad_horizon"] = _resolve(self._hd_owner, own_beta,
                                                                             own_horizon, own_mode)
            group.setdefault("lr_min", lo)
            group.setdefault("lr_max", hi)
            _check_bounds(group["lr"], (group["lr_min"], group["lr_max"]))

    def _objective_grad(self, p: Tensor, group: dict) -> Tensor:
        wd = group.get("weight_decay", 0)
        if wd and not group.get("decoupled_weight_decay", False):
            return p.grad.add(p, alpha=wd)
        return p.grad

    def _direction(self, p: Tensor, group: dict, g: Tensor | None, p_before: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _keeps_gradient(self, group: dict) -> bool:
        return True

    def _param_before(self, p: Tensor, group: dict) -> Tensor | None:
        return None

    def _hd_step(self, base_step: Callable[[], object], closure: Callable[[], Tensor] | None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            pairs = [[(self._objective_grad(p, group), self.state[p]["hd_direction"]) for p in group["params"]
                      if p.grad is not None and "hd_direction" in self.state[p]] for group in self.param_groups]
            bad = _adapt(self.param_groups, pairs, self.param_groups)
            saved = [[(p, self._objective_grad(p, g).clone() if self._keeps_gradient(g) else None,
                       self._param_before(p, g)) for p in g["params"] if p.grad is not None]
                     for g in self.param_groups]
        base_step()
        with torch.no_grad():
            for group, items, restart in zip(self.param_groups, saved, bad):
                for p, g, before in items:
                    old = None if restart else self.state[p].get("hd_direction")
                    self.state[p]["hd_direction"] = _remember(old, self._direction(p, group, g, before),
                                                              float(group["lr"]), group["hypergrad_horizon"])
        return loss


class SGDHD(_HypergradMixin, torch.optim.SGD):
    """SGD whose learning rate follows its hypergradient (SGD-HD); momentum optional.

    Args:
        params: parameters or parameter groups, as for ``torch.optim.SGD``.
        lr: initial learning rate (per group, adapted).
        momentum, dampening, weight_decay, nesterov: as ``torch.optim.SGD``.
        hypergrad_lr: ``beta``; ``None`` takes the default of ``hypergrad_mode`` (:data:`DEFAULT_HYPERGRAD`),
            ``0`` reproduces ``torch.optim.SGD`` exactly. Groups may set their own.
        lr_bounds: ``(low, high)``, the learning rate is clipped into this range after each update.
        hypergrad_mode: ``"multiplicative"`` (scale free, the default) or ``"additive"`` (the ICLR paper's).
        hypergrad_horizon: steps the hypergradient looks back over (multiplicative rule); ``None``: the default,
            ``1``: the last step only.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = SGDHD([w], lr=0.01, hypergrad_lr=0.0)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach().tolist()
        [0.9800000190734863, 0.9800000190734863, 0.9800000190734863]
    """

    _hd_owner = "SGDHD"

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, hypergrad_lr: float | None = None,
                 lr_bounds: tuple[float, float] = (1e-8, 10.0), hypergrad_mode: str = "multiplicative",
                 hypergrad_horizon: int | None = None) -> None:
        _check_bounds(lr, lr_bounds)
        beta, horizon = _resolve(self._hd_owner, hypergrad_lr, hypergrad_horizon, hypergrad_mode)
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)
        self._init_hd(beta, horizon, lr_bounds, hypergrad_mode)

    def _keeps_gradient(self, group: dict) -> bool:
        return group["momentum"] == 0 or group["nesterov"]

    def _direction(self, p: Tensor, group: dict, g: Tensor | None, p_before: Tensor | None) -> Tensor:
        if group["momentum"] == 0:
            return g
        buf = self.state[p]["momentum_buffer"]
        return g.add_(buf, alpha=group["momentum"]) if group["nesterov"] else buf.clone()

    def step(self, closure: Callable[[], Tensor] | None = None):  # type: ignore[override]
        """One step: adapt each group's lr from its hypergradient, then take the SGD step."""
        return self._hd_step(lambda: torch.optim.SGD.step(self), closure)


class SGDNHD(SGDHD):
    """SGD with Nesterov momentum and a hypergradient learning rate (SGDN-HD).

    The hypergradient uses the previous Nesterov direction ``g + momentum * buf``. Arguments as
    :class:`SGDHD`.

    Example:
        >>> import torch
        >>> opt = SGDNHD([torch.nn.Parameter(torch.ones(2))], lr=0.01, momentum=0.9)
        >>> opt.param_groups[0]["nesterov"]
        True
    """

    _hd_owner = "SGDNHD"

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0, *,
                 hypergrad_lr: float | None = None, lr_bounds: tuple[float, float] = (1e-8, 10.0),
                 hypergrad_mode: str = "multiplicative", hypergrad_horizon: int | None = None) -> None:
        if momentum <= 0:
            raise ValueError(f"SGDNHD needs momentum > 0, got {momentum}; use SGDHD for plain SGD")
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True,
                         hypergrad_lr=hypergrad_lr, lr_bounds=lr_bounds, hypergrad_mode=hypergrad_mode,
                         hypergrad_horizon=hypergrad_horizon)


class AdamHD(_HypergradMixin, torch.optim.Adam):
    """Adam whose learning rate follows its hypergradient (Adam-HD).

    The hypergradient uses the previous bias-corrected Adam direction
    ``m_hat / (sqrt(v_hat) + eps)`` (plus the decoupled weight-decay term when used).

    Args:
        params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay: as ``torch.optim.Adam``.
        hypergrad_lr: ``beta``; ``None`` takes the default of ``hypergrad_mode``; ``0`` is exactly
            ``torch.optim.Adam``. The additive rule's default is the paper's 1e-7, which suits MNIST-size models
            trained for thousands of steps: its step grows with ``||g||_1``, i.e. with the number of weights.
        lr_bounds: ``(low, high)`` clip range of the learning rate.
        hypergrad_mode: ``"multiplicative"`` (default) or ``"additive"``.
        hypergrad_horizon: as :class:`SGDHD`.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = AdamHD([w], lr=0.1)
        >>> for _ in range(3):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> 0.1 < opt.param_groups[0]["lr"] <= 1.0
        True
    """

    _hd_owner = "AdamHD"

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False, hypergrad_lr: float | None = None,
                 lr_bounds: tuple[float, float] = (1e-8, 1.0), hypergrad_mode: str = "multiplicative",
                 hypergrad_horizon: int | None = None) -> None:
        _check_bounds(lr, lr_bounds)
        beta, horizon = _resolve(self._hd_owner, hypergrad_lr, hypergrad_horizon, hypergrad_mode)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         decoupled_weight_decay=decoupled_weight_decay)
        self._init_hd(beta, horizon, lr_bounds, hypergrad_mode)

    def _keeps_gradient(self, group: dict) -> bool:
        return False

    def _param_before(self, p: Tensor, group: dict) -> Tensor | None:
        return p.detach().clone() if group["weight_decay"] and group["decoupled_weight_decay"] else None

    def _direction(self, p: Tensor, group: dict, g: Tensor | None, p_before: Tensor | None) -> Tensor:
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
        optimizer: a ``torch.optim.Optimizer`` whose groups have a float ``lr``.
        hypergrad_lr: ``beta``; ``None`` takes the default of ``hypergrad_mode``; ``0`` leaves the optimizer
            untouched.
        lr_bounds: clip range of each group's learning rate.
        hypergrad_mode: ``"multiplicative"`` (default) or ``"additive"``.
        hypergrad_horizon: steps the hypergradient looks back over (multiplicative rule); ``None``: the default.

    Example:
        >>> import torch
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = HypergradLR(torch.optim.RMSprop([w], lr=1e-3))
        >>> for _ in range(5):
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> opt.param_groups[0]["lr"] > 1e-3
        True
    """

    def __init__(self, optimizer: torch.optim.Optimizer, hypergrad_lr: float | None = None,
                 lr_bounds: tuple[float, float] = (1e-8, 10.0), hypergrad_mode: str = "multiplicative",
                 hypergrad_horizon: int | None = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"HypergradLR wraps a torch.optim.Optimizer, got {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            if "lr" not in group or isinstance(group["lr"], Tensor):
                raise ValueError("HypergradLR needs a float 'lr' in every parameter group; pass lr as a float")
            lo, hi = _check_bounds(group["lr"], lr_bounds)
        self.hypergrad_lr, self.hypergrad_horizon = _resolve("HypergradLR", hypergrad_lr, hypergrad_horizon,
                                                             hypergrad_mode)
        self.optimizer = optimizer
        self.lr_bounds = (lo, hi)
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
        return {"hypergrad_lr": self.hypergrad_lr, "hypergrad_horizon": self.hypergrad_horizon,
                "lr_min": self.lr_bounds[0], "lr_max": self.lr_bounds[1], "hypergrad_mode": self.hypergrad_mode}

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
        with torch.no_grad():
            pairs: list[list[tuple[Tensor, Tensor]]] = [[] for _ in groups]
            before = {}
            for gi, i, p in self._indexed():
                if p.grad is None:
                    continue
                before[i] = p.detach().clone()
                if i in self._directions:
                    pairs[gi].append((p.grad, self._directions[i]))
            bad = _adapt(groups, pairs, [self._settings()] * len(groups))
            used = [float(g["lr"]) for g in groups]
        self.optimizer.step()
        with torch.no_grad():
            for gi, i, p in self._indexed():
                if i in before:  # the realised step over the rate is the direction; _remember multiplies it back
                    step = before[i].sub_(p).div_(used[gi])
                    old = None if bad[gi] else self._directions.get(i)
                    self._directions[i] = _remember(old, step, used[gi], self.hypergrad_horizon)
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
        self.hypergrad_horizon = hd.get("hypergrad_horizon", 1)
        self.lr_bounds = (float(hd["lr_min"]), float(hd["lr_max"]))
        self.hypergrad_mode = hd["hypergrad_mode"]
        params = {i: p for _, i, p in self._indexed()}
        self._directions = {int(i): d.to(params[int(i)]) for i, d in hd["directions"].items()}

    def __repr__(self) -> str:
        return (f"HypergradLR({self.optimizer!r}, hypergrad_lr={self.hypergrad_lr}, "
                f"mode={self.hypergrad_mode!r}, horizon={self.hypergrad_horizon})")
