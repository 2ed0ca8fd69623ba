"""Flexora's layer gates: which transformer layers should carry LoRA, learned on validation loss.

Flexora (Wei et al., 2024, arXiv 2408.10774) treats the choice of LoRA layers as a hyperparameter
problem. Every adapted layer ``l`` gets one continuous gate ``g_l`` that scales its LoRA branches,
``h = W0 x + g_l * B_l A_l x``; LoRA weight steps on training batches (gates fixed) alternate with
gate steps on validation batches; the layers whose gate grew are kept, and LoRA is retrained from
scratch on those layers only (:class:`hpo.finetune.flexora.Flexora` runs the whole recipe on the
LoRA objective's model and data).

This module is the model-agnostic part, for any peft LoRA model:

* :class:`LayerGates` puts one gate per layer on a model's peft LoRA layers. The gate multiplies
  the output of each ``lora_B`` module (a forward hook), so it acts exactly once per LoRA branch:
  peft adds ``lora_B(lora_A(dropout(x))) * scaling`` to the base output. (The reference code hooks
  every module whose name contains ``lora``, so its gate acts on dropout, A and B: gate cubed.)
* :func:`search_gates` runs the search stage and records the gate trajectories and the cost in
  forward and backward passes. Two hypergradients: ``"first-order"`` (the LoRA weights held fixed,
  as the reference code does) and ``"unrolled"`` (``unroll_steps`` = K differentiable inner
  steps through ``torch.func.functional_call``, the gradient reaching the gates through the
  weights those steps produce; the model's own weights are never written by the unroll).
* :func:`select_layers` keeps the layers whose gate grew (``"sign"``) or the ``k`` largest gates.

Example (a tiny random BERT with LoRA on its 3 layers):
    >>> import torch, transformers, peft
    >>> from hpo.online.flexora import LayerGates
    >>> cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3,
    ...                               num_attention_heads=2, intermediate_size=16, num_labels=2)
    >>> model = peft.get_peft_model(transformers.BertForSequenceClassification(cfg),
    ...                             peft.LoraConfig(r=2, target_modules=["query", "value"]))
    >>> gates = LayerGates(model)
    >>> gates.layers, [round(g, 3) for g in gates.values().tolist()]
    ([0, 1, 2], [1.0, 1.0, 1.0])
    >>> gates.remove()
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

__all__ = ["FlexoraError", "LayerGates", "GateSearch", "search_gates", "select_layers", "lora_layer_indices"]

PARAMETRIZATIONS = ("softmax", "linear")
MODES = ("first-order", "unrolled")
_LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|blocks|block)\.(\d+)\.")


class FlexoraError(ValueError):
    """A gate or a selection that cannot be made; the message says why and what to do."""


def _lora_modules(model: torch.nn.Module) -> list[tuple[str, Any]]:
    from peft.tuners.lora import LoraLayer

    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]


def _layer_of(name: str) -> int:
    match = _LAYER_INDEX.search(name + ".")
    if match is None:
        raise FlexoraError(f"cannot tell which transformer layer the LoRA module {name!r} belongs to; "
                           "Flexora gates modules named like '...layer.<i>....'")
    return int(match.group(1))


def lora_layer_indices(model: torch.nn.Module) -> list[int]:
    """The sorted indices of the transformer layers that hold peft LoRA modules."""
    return sorted({_layer_of(name) for name, _ in _lora_modules(model)})


class LayerGates(torch.nn.Module):
    """One trainable gate per LoRA-adapted transformer layer of a peft model.

    Args:
        model: a peft model with LoRA layers (``peft.get_peft_model(model, LoraConfig(...))``).
        parametrization: ``"softmax"`` (the reference code's ``g = n * softmax(alpha)``: the gates
            sum to the number of layers, so a layer gains only at another's expense) or
            ``"linear"`` (``g = 1 + alpha``). Both start at ``alpha = 0``, every gate 1, so the
            gated model starts as the plain LoRA model; a gate "grew" when its ``alpha > 0``.

    The gates are live from construction until :meth:`remove`.
    """

    def __init__(self, model: torch.nn.Module, parametrization: str = "softmax"):
        super().__init__()
        if parametrization not in PARAMETRIZATIONS:
            raise FlexoraError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)}, got {parametrization!r}")
        modules = _lora_modules(model)
        if not modules:
            raise FlexoraError(f"{type(model).__name__} has no peft LoRA layers to gate; wrap it first with "
                               "peft.get_peft_model(model, peft.LoraConfig(...)) or hpo.finetune.model.add_lora")
        self.parametrization = parametrization
        self.layers = sorted({_layer_of(name) for name, _ in modules})
        self.alpha = torch.nn.Parameter(torch.zeros(len(self.layers)))
        slot = {layer: i for i, layer in enumerate(self.layers)}
        self._handles = []
        for name, module in modules:
            i = slot[_layer_of(name)]
            for branch in module.lora_B.values():
                self._handles.append(branch.register_forward_hook(self._hook(i)))

    def _hook(self, i: int) -> Callable:
        def scale(_module, _inputs, output):
            return output * self.values()[i].to(output.dtype)

        return scale

    def values(self) -> torch.Tensor:
        """The gates, one per entry of :attr:`layers` (differentiable in :attr:`alpha`)."""
        if self.parametrization == "softmax":
            return len(self.layers) * torch.softmax(self.alpha, dim=0)
        return 1.0 + self.alpha

    def remove(self) -> None:
        """Take the gates off the model (its forward is the plain LoRA forward again)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@dataclass
class GateSearch:
    """What a search stage found: the gates and how they moved, and what it cost."""

    layers: list[int]
    alpha: list[float]
    gates: list[float]
    trajectory: list[dict] = field(default_factory=list)
    cost: dict = field(default_factory=dict)
    mode: str = "first-order"
    unroll_steps: int = 0

    def to_dict(self) -> dict:
        return {"layers": self.layers, "alpha": self.alpha, "gates": self.gates, "trajectory": self.trajectory,
                "cost": self.cost, "mode": self.mode, "unroll_steps": self.unroll_steps}


def select_layers(search: GateSearch, select: str | int = "sign") -> list[int]:
    """The layers to retrain: those whose gate grew (``"sign"``: ``alpha > 0``) or the ``k`` largest gates.

    Example:
        >>> from hpo.online.flexora import GateSearch, select_layers
        >>> s = GateSearch(layers=[0, 1, 2, 3], alpha=[0.2, -0.1, 0.05, -0.3], gates=[1.3, 0.9, 1.1, 0.7])
        >>> select_layers(s), select_layers(s, 1)
        ([0, 2], [0])
    """
    if select == "sign":
        chosen = [layer for layer, a in zip(search.layers, search.alpha) if a > 0]
        if not chosen:
            raise FlexoraError("no layer's gate grew in the search, so the sign rule selects nothing; "
                               "search longer, raise gate_lr, or select a top-k (select=3)")
        return chosen
    if isinstance(select, bool) or not isinstance(select, int):
        raise FlexoraError(f"select must be 'sign' or a number of layers, got {select!r}")
    if not 1 <= select <= len(search.layers):
        raise FlexoraError(f"select={select} layers, but the model has {len(search.layers)} gated layers; "
                           f"choose 1..{len(search.layers)}")
    order = sorted(range(len(search.layers)), key=lambda i: (-search.alpha[i], search.layers[i]))
    return sorted(search.layers[i] for i in order[:select])


def _cycle(make: Callable[[], Iterator[dict]]) -> Iterator[dict]:
    while True:
        empty = True
        for batch in make():
            empty = False
            yield batch
        if empty:
            raise FlexoraError("the validation split is empty; Flexora's gate steps need validation batches")


def search_gates(model: torch.nn.Module, train_batches: Callable[[], Iterator[dict]],
                 val_batches: Callable[[], Iterator[dict]], *, optimizer: torch.optim.Optimizer, steps: int,
                 gate_lr: float = 0.01, gate_every: int = 1, val_batches_per_step: int = 1,
                 mode: str = "first-order", unroll_steps: int = 1, parametrization: str = "softmax",
                 loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor] | None = None,
                 forward_fn: Callable[[dict, dict | None], torch.Tensor] | None = None,
                 max_grad_norm: float | None = 1.0, device: torch.device | None = None,
                 record_every: int = 1) -> GateSearch:
    """Run Flexora's search stage on ``model``; returns the gates with their trajectories and cost.

    Args:
        model: a peft LoRA model, in train mode; its trainable parameters are stepped by ``optimizer``.
        train_batches, val_batches: callables returning a fresh iterator of batches (dicts of tensors with
            ``labels``); ``train_batches`` is re-called every epoch, ``val_batches`` cycled.
        optimizer: the LoRA weights' optimizer (the gates get their own Adam at ``gate_lr``).
        steps: LoRA weight steps in the search.
        gate_every: a gate step after every this many weight steps.
        val_batches_per_step: validation batches averaged per gate step (the reference code uses 8).
        mode: ``"first-order"`` or ``"unrolled"`` (``unroll_steps`` = K in 1..5).
        parametrization: see :class:`LayerGates`.
        loss_fn: ``loss_fn(model, batch) -> loss``; defaults to the model's own ``.loss``.
        forward_fn: ``forward_fn(batch, params) -> loss`` with ``params`` a dict of substituted
            parameters (``None``: the model's own); built from ``loss_fn`` if not given.
        max_grad_norm: clip of the LoRA weight gradients (as the training loop does).
        record_every: keep every this many gate steps in the trajectory (the last is always kept).
    """
    if mode not in MODES:
        raise FlexoraError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "unrolled" and not (isinstance(unroll_steps, int) and 1 <= unroll_steps <= 5):
        raise FlexoraError(f"unroll_steps must be an integer in 1..5, got {unroll_steps!r}")
    for name, v in (("steps", steps), ("gate_every", gate_every), ("val_batches_per_step", val_batches_per_step),
                    ("record_every", record_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise FlexoraError(f"{name} must be a positive integer, got {v!r}")
    if not (isinstance(gate_lr, (int, float)) and gate_lr > 0 and math.isfinite(gate_lr)):
        raise FlexoraError(f"gate_lr must be a positive number, got {gate_lr!r}")
    loss_fn = loss_fn or (lambda m, batch: m(**batch).loss)
    if forward_fn is None:
        def forward_fn(batch: dict, params: dict | None) -> torch.Tensor:
            if params is None:
                return loss_fn(model, batch)
            return torch.func.functional_call(model, params, args=(), kwargs=batch, strict=False).loss
    gates = LayerGates(model, parametrization)
    if device is not None:
        gates.to(device)
    gate_opt = torch.optim.Adam([gates.alpha], lr=gate_lr)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    cost = {"train_forward": 0, "train_backward": 0, "gate_forward": 0, "gate_backward": 0,
            "unrolled_forward": 0, "unrolled_backward": 0, "gate_steps": 0, "weight_steps": 0}
    trajectory: list[dict] = []
    recent: deque[dict] = deque(maxlen=max(1, unroll_steps))
    val_iter = _cycle(val_batches)
    wall, cpu = time.perf_counter(), time.process_time()
    move = (lambda b: {k: v.to(device) for k, v in b.items()}) if device is not None else (lambda b: b)
    step = 0
    try:
        while step < steps:
            before = step
            for batch in train_batches():
                batch = move(batch)
                gates.alpha.requires_grad_(False)  # the weight step leaves the gates fixed
                loss = forward_fn(batch, None)
                gates.alpha.requires_grad_(True)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"training loss became {float(loss.detach())} at search step {step + 1}; "
                                             "lower the learning rate")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                optimizer.step()
                cost["train_forward"] += 1
                cost["train_backward"] += 1
                cost["weight_steps"] += 1
                recent.append(batch)
                step += 1
                if step % gate_every == 0 or step == steps:
                    vals = [move(next(val_iter)) for _ in range(val_batches_per_step)]
                    if mode == "first-order":
                        val_loss = _first_order_step(model, gates, forward_fn, vals, cost)
                    else:
                        val_loss = _unrolled_step(model, gates, forward_fn, named, optimizer,
                                                  list(recent)[-unroll_steps:], vals, cost)
                    gate_opt.step()
                    cost["gate_steps"] += 1
                    if cost["gate_steps"] % record_every == 0 or step == steps:
                        trajectory.append({"step": step, "val_loss": round(val_loss, 6), "train_loss": round(float(loss.detach()), 6),
                                           "gates": [round(g, 6) for g in gates.values().tolist()],
                                           "alpha": [round(a, 6) for a in gates.alpha.detach().tolist()]})
                if step >= steps:
                    break
            if step == before:
                raise FlexoraError("the training split gave no batch; Flexora's weight steps need training data")
    finally:
        gates.remove()
    cost["wall_s"] = round(time.perf_counter() - wall, 3)
    cost["cpu_s"] = round(time.process_time() - cpu, 3)
    return GateSearch(layers=list(gates.layers), alpha=[float(a) for a in gates.alpha.detach()],
                      gates=[float(g) for g in gates.values().detach()], trajectory=trajectory, cost=cost,
                      mode=mode, unroll_steps=unroll_steps if mode == "unrolled" else 0)


def _val_gradient(model: torch.nn.Module, gates: LayerGates, forward_fn, vals: Sequence[dict],
                  params: dict | None, cost: dict) -> float:
    """Mean validation loss over ``vals`` (eval mode: no dropout), its gradient left on ``gates.alpha``."""
    was_training = model.training
    model.eval()
    total = 0.0
    grad = torch.zeros_like(gates.alpha)
    try:
        for i, batch in enumerate(vals):
            val_loss = forward_fn(batch, params) / len(vals)
            (g,) = torch.autograd.grad(val_loss, [gates.alpha], retain_graph=params is not None and i < len(vals) - 1)
            grad += g
            total += float(val_loss.detach())
            cost["gate_forward"] += 1
            cost["gate_backward"] += 1
    finally:
        model.train(was_training)
    gates.alpha.grad = grad
    return total


def _first_order_step(model: torch.nn.Module, gates: LayerGates, forward_fn, vals: Sequence[dict],
                      cost: dict) -> float:
    """d val_loss / d alpha with the LoRA weights held fixed (the reference code's hypergradient)."""
    return _val_gradient(model, gates, forward_fn, vals, None, cost)


def _preconditioner(optimizer: torch.optim.Optimizer, p: torch.Tensor) -> tuple[float, torch.Tensor | float]:
    """The step size and diagonal preconditioner of ``optimizer`` for ``p``, held fixed in the unroll.

    For Adam-type optimizers the inner step is ``lr * g / (sqrt(v_hat) + eps)`` with the second-moment
    estimate of the real optimizer (a constant), so the unrolled steps have the scale of real steps;
    otherwise plain SGD at the group's ``lr``.
    """
    group = next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))
    lr = float(group["lr"])
    state = optimizer.state.get(p, {})
    if "exp_avg_sq" in state and "step" in state:
        beta2 = group.get("betas", (0.9, 0.999))[1]
        step = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1.0 - beta2 ** max(step, 1.0))
        return lr, 1.0 / (v_hat.sqrt() + group.get("eps", 1e-8))
    return lr, 1.0


def _unrolled_step(model: torch.nn.Module, gates: LayerGates, forward_fn, named: list[tuple[str, torch.Tensor]],
                   optimizer: torch.optim.Optimizer, train: Sequence[dict], vals: Sequence[dict], cost: dict) -> float:
    """d val_loss(theta_K(alpha), alpha) / d alpha through K differentiable inner steps from the current weights.

    The inner weights are fresh tensors: the model's parameters are read, never written. Attention
    runs on PyTorch's math kernel here, the one whose backward can itself be differentiated.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    theta = {n: p.detach().clone().requires_grad_(True) for n, p in named}
    pre = {n: _preconditioner(optimizer, p) for n, p in named}
    with sdpa_kernel([SDPBackend.MATH]):
        for batch in train:
            loss = forward_fn(batch, theta)
            grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
            theta = {n: t - pre[n][0] * pre[n][1] * g for (n, t), g in zip(theta.items(), grads)}
            cost["unrolled_forward"] += 1
            cost["unrolled_backward"] += 1
        return _val_gradient(model, gates, forward_fn, vals, theta, cost)
