"""The training and evaluation loop shared by the LoRA objective and Flexora.

:func:`make_optimizer` builds AdamW, or a hypergradient learning rate (``"adamw-hd"``:
:class:`hpo.online.hypergrad.HypergradLR` over AdamW; ``"sgd-hd"``: :class:`~hpo.online.hypergrad.SGDHD`).
:func:`fit` trains for a number of epochs or steps with linear warm-up and decay (plain AdamW
only: a hypergradient rate sets itself), evaluates every epoch or every ``eval_every`` steps and
passes each evaluation to a callback, which may stop the run (a pruner) by raising.
:func:`evaluate` gives loss and accuracy on an encoded split.

Example:
    >>> import torch
    >>> from hpo.finetune.train import make_optimizer
    >>> w = torch.nn.Parameter(torch.zeros(3))
    >>> type(make_optimizer("adamw-hd", [w], lr=1e-3)).__name__
    'HypergradLR'
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable

from hpo.finetune.data import batches
from hpo.finetune.device import DeviceInfo

__all__ = ["OPTIMIZERS", "make_optimizer", "evaluate", "fit"]

OPTIMIZERS = ("adamw", "adamw-hd", "sgd-hd")


def make_optimizer(name: str, params: Iterable, *, lr: float, weight_decay: float = 0.0,
                   hypergrad_lr: float | None = None, hypergrad_mode: str = "multiplicative") -> Any:
    """``"adamw"`` (torch AdamW), ``"adamw-hd"`` (AdamW with a hypergradient lr) or ``"sgd-hd"`` (SGD-HD, momentum 0.9).

    ``hypergrad_lr`` is the hypergradient step ``beta``; the default is 0.02 per step for the
    multiplicative (scale-free) rule and each optimizer's own default for the additive one.
    """
    import torch

    from hpo.online.hypergrad import SGDHD, HypergradLR

    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")
    params = list(params)
    beta = hypergrad_lr
    if beta is None and hypergrad_mode == "multiplicative":
        beta = 0.02
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw-hd":
        kwargs = {} if beta is None else {"hypergrad_lr": beta}
        return HypergradLR(torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
                           lr_bounds=(1e-7, 1.0), hypergrad_mode=hypergrad_mode, **kwargs)
    kwargs = {} if beta is None else {"hypergrad_lr": beta}
    return SGDHD(params, lr=lr, momentum=0.9, weight_decay=weight_decay, lr_bounds=(1e-6, 10.0),
                 hypergrad_mode=hypergrad_mode, **kwargs)


def _lr_schedule(optimizer: Any, warmup_steps: int, total_steps: int) -> Any:
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)


def evaluate(model: Any, encoded: dict, device: DeviceInfo, batch_size: int = 64) -> dict:
    """``{"loss", "accuracy"}`` of ``model`` on an encoded split (eval mode, no gradients)."""
    import torch

    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for batch in batches(encoded, batch_size):
            batch = {k: v.to(device.device) for k, v in batch.items()}
            with device.autocast():
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            logits = logits.float()
            total_loss += float(torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="sum"))
            correct += int((logits.argmax(-1) == batch["labels"]).sum())
            n += len(batch["labels"])
    model.train(was_training)
    return {"loss": total_loss / n, "accuracy": correct / n}


def fit(model: Any, train: dict, validation: dict, *, device: DeviceInfo, optimizer: Any, batch_size: int,
        epochs: int | None = None, max_steps: int | None = None, warmup_ratio: float = 0.0,
        eval_every: int | None = None, max_grad_norm: float | None = 1.0, seed: int = 0,
        on_eval: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` on ``train`` and evaluate on ``validation``; returns the list of evaluations.

    The run lasts ``epochs`` epochs, or ``max_steps`` optimizer steps if given (the lower of the
    two when both are). Evaluations happen at the end of every epoch, or every ``eval_every``
    steps, and always after the last step; each is ``{"step", "epoch", "loss", "accuracy",
    "train_loss", "lr", "wall_s", "cpu_s"}`` (seconds since the start) and goes to ``on_eval`` (which may raise to stop training).
    A non-finite training loss raises ``FloatingPointError``.
    """
    import torch

    n = len(train["labels"])
    if n == 0:
        raise ValueError("the training split is empty")
    steps_per_epoch = math.ceil(n / batch_size)
    if epochs is None and max_steps is None:
        raise ValueError("give epochs or max_steps")
    total = min(x for x in (max_steps, epochs * steps_per_epoch if epochs else None) if x is not None)
    if total < 1:
        raise ValueError(f"the run has {total} training steps; give epochs >= 1 or max_steps >= 1")
    scheduler = None
    if isinstance(optimizer, torch.optim.AdamW) and not hasattr(optimizer, "hypergrad_lr"):
        scheduler = _lr_schedule(optimizer, int(round(warmup_ratio * total)), total)
    scaler = torch.amp.GradScaler(device.device.type) if device.needs_scaler else None
    params = [p for p in model.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(int(seed))
    model.to(device.device)
    model.train()
    history: list[dict] = []
    step, running, seen = 0, 0.0, 0
    wall, cpu = time.perf_counter(), time.process_time()
    while step < total:
        for batch in batches(train, batch_size, shuffle=True, generator=gen):
            batch = {k: v.to(device.device) for k, v in batch.items()}
            with device.autocast():
                out = model(**batch)
            loss = out.loss.float()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {float(loss.detach())} at step {step + 1}; "
                                         "lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            base = optimizer if isinstance(optimizer, torch.optim.Optimizer) else optimizer.optimizer
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(base)
            else:
                loss.backward()
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            if scaler is None:
                optimizer.step()
            elif base is optimizer:
                scaler.step(optimizer)
                scaler.update()
            else:  # a wrapper (HypergradLR) steps itself; skip the step on overflow as GradScaler would
                if all(torch.isfinite(p.grad).all() for p in params if p.grad is not None):
                    optimizer.step()
                scaler.update()
            if scheduler is not None:
                scheduler.step()
            step += 1
            running += float(loss.detach()) * len(batch["labels"])
            seen += len(batch["labels"])
            due = (step % eval_every == 0) if eval_every else (step % steps_per_epoch == 0)
            if due or step == total:
                record = {"step": step, "epoch": round(step / steps_per_epoch, 4),
                          **evaluate(model, validation, device), "train_loss": running / max(seen, 1),
                          "lr": float(optimizer.param_groups[0]["lr"]),
                          "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
                running, seen = 0.0, 0
                history.append(record)
                if on_eval is not None:
                    on_eval(record)
            if step >= total:
                break
    return history
