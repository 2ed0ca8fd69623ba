"""Flexora on the LoRA objective: learn which layers should carry LoRA, then retrain LoRA on those only.

:class:`Flexora` runs the method of Wei et al. (2024, arXiv 2408.10774) on the model and data of
:class:`~hpo.finetune.lora.LoRAObjective` (by default all-MiniLM-L6-v2 on the built-in
``newsgroups4`` set): a search stage puts one gate per layer on LoRA adapters of every layer
(:mod:`hpo.online.flexora`), alternates LoRA weight steps on training batches with gate steps on
validation batches, keeps the layers whose gate grew (or the ``k`` largest), and retrains LoRA
from scratch on the selected layers only.

Importing this module also makes ``layers="flexora"`` a layer set of :class:`LoRAObjective`: a
trial with that value runs the search with the trial's own LoRA settings (once per distinct
setting and seed; the result is cached on the objective) and trains on the selection.

Example (a tiny search: 4 weight steps on 32 examples):
    >>> from hpo.finetune.flexora import Flexora
    >>> flexora = Flexora(search_steps=4, train_size=32, max_length=16, select=2, seed=0)
    >>> selection = flexora.select()
    >>> len(selection.layers), len(selection.search.trajectory)
    (2, 4)
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Mapping

from hpo.finetune import data as _data
from hpo.finetune import model as _model
from hpo.finetune.lora import LoRAObjective
from hpo.online.flexora import MODES, PARAMETRIZATIONS, FlexoraError, GateSearch, search_gates, select_layers

__all__ = ["Flexora", "FlexoraSelection", "FlexoraError"]

_SEARCH_KEYS = ("rank", "alpha", "dropout", "target_modules", "lr", "batch_size", "weight_decay")
_SELECTIONS: "weakref.WeakKeyDictionary[LoRAObjective, dict]" = weakref.WeakKeyDictionary()


@dataclass
class FlexoraSelection:
    """The selected layers and the search that chose them (gates, trajectories, cost)."""

    layers: list[int]
    search: GateSearch
    select: Any

    def to_dict(self) -> dict:
        search = self.search.to_dict()
        return {**search, "gated_layers": search["layers"], "layers": self.layers, "select": self.select}


class Flexora:
    """Flexora's search and retraining on a LoRA fine-tuning task.

    Args:
        model, data: as for :class:`LoRAObjective` (ignored when ``objective`` is given).
        objective: an existing :class:`LoRAObjective` whose model, data, device and seed to use.
        rank, alpha, dropout, target_modules, lr, batch_size, weight_decay: the LoRA settings of
            the search and of the retraining (the objective's defaults where not given).
        search_epochs: passes over the training split in the search stage (``search_steps``
            overrides it with a number of weight steps).
        gate_lr: Adam's step on the gates (the reference code's 0.01).
        gate_every: a gate step after every this many weight steps.
        val_batches_per_step: validation batches per gate step (the reference code uses 8).
        mode: ``"first-order"`` (LoRA weights held fixed in the gate step, as the reference
            code does) or ``"unrolled"`` (``unroll_steps`` = K differentiable inner steps).
        parametrization: ``"softmax"`` (the reference code's ``n * softmax(alpha)``) or ``"linear"``.
        select: ``"sign"`` (the layers whose gate grew) or a number of layers to keep.
        retrain_epochs: epochs of the retraining on the selected layers.
        seed: seeds the LoRA initialisation, the batch order of both stages and the head.
        device, threads, train_size, max_length: as for :class:`LoRAObjective`.
    """

    def __init__(self, model: str = "all-minilm-l6-v2", data: Any = "newsgroups4", *,
                 objective: LoRAObjective | None = None, rank: int | None = None, alpha: float | None = None,
                 dropout: float | None = None, target_modules: Any = None, lr: float | None = None,
                 batch_size: int | None = None, weight_decay: float | None = None, search_epochs: int = 1,
                 search_steps: int | None = None, gate_lr: float = 0.01, gate_every: int = 1,
                 val_batches_per_step: int = 1, mode: str = "first-order", unroll_steps: int = 1,
                 parametrization: str = "softmax", select: str | int = "sign", retrain_epochs: int = 3,
                 device: str = "auto", threads: int | None = None, seed: int = 0, train_size: int | None = None,
                 max_length: int = 64):
        if mode not in MODES:
            raise FlexoraError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if parametrization not in PARAMETRIZATIONS:
            raise FlexoraError(f"parametrization must be one of {', '.join(PARAMETRIZATIONS)}, got {parametrization!r}")
        for name, v in (("search_epochs", search_epochs), ("search_steps", search_steps),
                        ("retrain_epochs", retrain_epochs)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise FlexoraError(f"{name} must be a positive integer, got {v!r}")
        if select != "sign" and (isinstance(select, bool) or not isinstance(select, int) or select < 1):
            raise FlexoraError(f"select must be 'sign' or a positive number of layers, got {select!r}")
        self.objective = objective or LoRAObjective(model, data, device=device, threads=threads, seed=seed,
                                                    train_size=train_size, max_length=max_length,
                                                    artifact_dir=None)
        given = {"rank": rank, "alpha": alpha, "dropout": dropout, "target_modules": target_modules, "lr": lr,
                 "batch_size": batch_size, "weight_decay": weight_decay}
        self.settings = {k: v for k, v in given.items() if v is not None}
        self.search_epochs, self.search_steps = search_epochs, search_steps
        self.gate_lr, self.gate_every, self.val_batches_per_step = gate_lr, gate_every, val_batches_per_step
        self.mode, self.unroll_steps, self.parametrization = mode, unroll_steps, parametrization
        self.select_rule, self.retrain_epochs = select, retrain_epochs
        self.seed = self.objective.seed
        self._encoded: dict[str, dict] | None = None

    def _config(self, **overrides: Any) -> dict:
        return self.objective.config({**self.settings, **overrides})

    def _encode(self) -> dict[str, dict]:
        if self._encoded is None:
            tok = _model.load_tokenizer(self.objective.model_path)
            splits = self.objective.splits
            train = splits.train.subset(self.objective.train_size)
            if len(train) == 0 or len(splits.validation) == 0:
                raise FlexoraError("Flexora needs non-empty training and validation splits")
            self._encoded = {"train": _data.encode(train, tok, self.objective.max_length),
                             "validation": _data.encode(splits.validation, tok, self.objective.max_length)}
        return self._encoded

    def search(self) -> GateSearch:
        """The search stage on LoRA adapters of every layer; returns the gates and their trajectories."""
        import torch

        config = self._config(layers="all")
        encoded = self._encode()
        model = self.objective.build_model(config)
        torch.manual_seed(self.seed)  # after the build: a first load from disk draws from the global generator
        device = self.objective.device
        model.to(device.device)
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=float(config["lr"]), weight_decay=float(config["weight_decay"]))
        bs = int(config["batch_size"])
        steps = self.search_steps or self.search_epochs * math.ceil(len(encoded["train"]["labels"]) / bs)
        train_gen = torch.Generator().manual_seed(self.seed)
        val_gen = torch.Generator().manual_seed(self.seed + 1)
        return search_gates(
            model, lambda: _data.batches(encoded["train"], bs, shuffle=True, generator=train_gen),
            lambda: _data.batches(encoded["validation"], bs, shuffle=True, generator=val_gen),
            optimizer=optimizer, steps=steps, gate_lr=self.gate_lr, gate_every=self.gate_every,
            val_batches_per_step=self.val_batches_per_step, mode=self.mode, unroll_steps=self.unroll_steps,
            parametrization=self.parametrization, device=device.device)

    def select(self) -> FlexoraSelection:
        """Search, then pick the layers (``select`` rule); raises :class:`FlexoraError` on an empty selection."""
        search = self.search()
        return FlexoraSelection(layers=select_layers(search, self.select_rule), search=search, select=self.select_rule)

    def retrain(self, layers: list[int], *, epochs: int | None = None, trial: Any = None) -> dict:
        """Train LoRA from scratch on ``layers`` only; returns the objective's result plus accuracies."""
        if not layers:
            raise FlexoraError("retrain needs at least one layer; the selection is empty")
        config = self._config(layers=",".join(str(i) for i in layers), epochs=epochs or self.retrain_epochs)
        params = {k: config[k] for k in (*_SEARCH_KEYS, "layers", "epochs", "warmup_ratio")}
        return self.objective.run(params, trial=trial)

    def run(self) -> dict:
        """Search, select and retrain: ``{"selection", "value", "val_accuracy", "test_accuracy", ...}``."""
        selection = self.select()
        result = self.retrain(selection.layers)
        return {"selection": selection.to_dict(), "layers": selection.layers, "value": result["value"],
                "val_accuracy": result["best"]["accuracy"],
                "test_accuracy": result["test"]["accuracy"] if "test" in result else None,
                "trainable_params": result["trainable_params"], "model": result["model"]}


def _flexora_layers(objective: LoRAObjective, config: Mapping[str, Any]) -> list[int]:
    """The ``layers="flexora"`` selector: Flexora's selection for the trial's LoRA settings (cached)."""
    settings = {k: config[k] for k in _SEARCH_KEYS}
    key = tuple(sorted((k, str(v)) for k, v in settings.items())) + (objective.seed,)
    cache = _SELECTIONS.setdefault(objective, {})
    if key not in cache:
        cache[key] = Flexora(objective=objective, **settings).select().layers
    return list(cache[key])


LoRAObjective.layer_selectors["flexora"] = _flexora_layers
