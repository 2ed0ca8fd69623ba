"""Labelled text for fine-tuning: the built-in data set, a user's CSV, or a Hugging Face ``datasets`` object.

Whatever comes in leaves as :class:`TextSplits`: train / validation (/ test) lists of texts with
integer labels and the label names. The built-in ``"newsgroups4"`` is 1,400 posts of four 20
Newsgroups groups with fixed splits, committed in ``hpo/finetune/data/`` (source and licence in
its README). :func:`encode` tokenises a split once; :func:`batches` cuts it into padded batches.

Example:
    >>> from hpo.finetune.data import load_text_data
    >>> splits = load_text_data("newsgroups4")
    >>> len(splits.train), len(splits.validation), len(splits.test), splits.label_names[0]
    (800, 200, 400, 'comp.graphics')
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["TextData", "TextSplits", "DataError", "BUILTIN", "load_text_data", "encode", "batches"]

_DATA_DIR = Path(__file__).parent / "data"
BUILTIN = {"newsgroups4": _DATA_DIR / "newsgroups4.csv"}
_SPLIT_NAMES = {"train": "train", "validation": "validation", "valid": "validation", "val": "validation",
                "dev": "validation", "test": "test"}


class DataError(ValueError):
    """The data cannot be used for classification (missing column, no rows, one class, ...)."""


@dataclass(frozen=True)
class TextData:
    """One split: texts and their integer labels."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, n: int | None) -> "TextData":
        """The first ``n`` examples (training rows are shuffled once with the seed, and the built-in splits are
        stored shuffled, so this is a random sample there)."""
        return self if n is None or n >= len(self) else TextData(self.texts[:n], self.labels[:n])


@dataclass(frozen=True)
class TextSplits:
    """Train, validation and optional test splits with the names of the labels."""

    train: TextData
    validation: TextData
    test: TextData | None
    label_names: tuple[str, ...]
    source: str

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def load_text_data(data: Any = "newsgroups4", *, text_column: str = "text", label_column: str = "label",
                   split_column: str = "split", validation_fraction: float = 0.2, seed: int = 0) -> TextSplits:
    """Load labelled text from a built-in name, a CSV path, a ``datasets`` object or a DataFrame.

    A CSV needs a text and a label column; a ``split`` column (train / validation / test) fixes the
    splits, otherwise ``validation_fraction`` of the rows, stratified by label, become the
    validation split. A ``datasets.DatasetDict`` gives its ``train`` / ``validation`` / ``test``
    splits; a single ``Dataset`` or ``DataFrame`` is split like a CSV without a split column.
    Labels may be strings or integers; ids follow the sorted label names.
    """
    if isinstance(data, TextSplits):
        return data
    if isinstance(data, (str, Path)):
        name = str(data)
        if name in BUILTIN:
            return _from_rows(_read_csv(BUILTIN[name], text_column, label_column, split_column), name,
                              validation_fraction, seed)
        path = Path(name)
        if path.suffix.lower() != ".csv" and not path.exists():
            raise DataError(f"unknown data {name!r}: use a built-in name ({', '.join(BUILTIN)}), a CSV file "
                            "with text,label columns, or a Hugging Face datasets object")
        if not path.exists():
            raise DataError(f"CSV file {name!r} does not exist")
        return _from_rows(_read_csv(path, text_column, label_column, split_column), name, validation_fraction, seed)
    if hasattr(data, "keys") and hasattr(data, "values") and not hasattr(data, "columns") and all(
            hasattr(v, "column_names") for v in data.values()):
        rows: list[dict] = []
        for split, part in data.items():
            canon = _SPLIT_NAMES.get(str(split).lower())
            if canon is None:
                raise DataError(f"unknown split {split!r} in the DatasetDict; name splits train / validation / test")
            rows += [{**r, "split": canon} for r in _records(part, text_column, label_column, split_column,
                                                            "DatasetDict")]
        return _from_rows(rows, "datasets.DatasetDict", validation_fraction, seed)
    if hasattr(data, "column_names") or hasattr(data, "columns"):
        kind = type(data).__name__
        return _from_rows(_records(data, text_column, label_column, split_column, kind), kind,
                          validation_fraction, seed)
    raise DataError(f"cannot read data of type {type(data).__name__}; pass a built-in name "
                    f"({', '.join(BUILTIN)}), a CSV path, a datasets.Dataset/DatasetDict or a pandas DataFrame")


def _check_columns(columns: Sequence[str], text_column: str, label_column: str, what: str) -> None:
    for role, col in (("text", text_column), ("label", label_column)):
        if col not in columns:
            raise DataError(f"{what} has no {col!r} column (its columns: {', '.join(map(str, columns)) or 'none'}); "
                            f"add one or pass {role}_column=...")


def _read_csv(path: Path, text_column: str, label_column: str, split_column: str) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or [], text_column, label_column, f"CSV {str(path)!r}")
        rows = list(reader)
    if not rows:
        raise DataError(f"CSV {str(path)!r} has a header but no rows; it needs labelled examples")
    return [{"text": r[text_column], "label": r[label_column], "split": r.get(split_column)} for r in rows]


def _records(data: Any, text_column: str, label_column: str, split_column: str, what: str) -> list[dict]:
    columns = list(getattr(data, "column_names", None) or getattr(data, "columns", []))
    _check_columns(columns, text_column, label_column, what)
    texts, labels = list(data[text_column]), list(data[label_column])
    splits = list(data[split_column]) if split_column in columns else [None] * len(texts)
    names = getattr(getattr(data, "features", {}), "get", lambda _k: None)(label_column)
    if names is not None and hasattr(names, "int2str"):
        labels = [names.int2str(int(v)) for v in labels]
    return [{"text": t, "label": lab, "split": s} for t, lab, s in zip(texts, labels, splits)]


def _from_rows(rows: list[dict], source: str, validation_fraction: float, seed: int) -> TextSplits:
    if not rows:
        raise DataError(f"data {source!r} is empty; it needs labelled examples")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r["text"], str) or not r["text"].strip()), None)
    if bad is not None:
        raise DataError(f"data {source!r} row {bad} has an empty or non-text value in the text column")
    if any(r["label"] is None or str(r["label"]).strip() == "" for r in rows):
        raise DataError(f"data {source!r} has rows with an empty label; every example needs one")
    raw = sorted({str(r["label"]).strip() for r in rows}, key=_label_key)
    if len(raw) < 2:
        raise DataError(f"data {source!r} has a single label {raw[0]!r}; classification needs at least two")
    ids = {name: i for i, name in enumerate(raw)}
    parts: dict[str, list[tuple[str, int]]] = {"train": [], "validation": [], "test": []}
    unsplit = []
    for r in rows:
        item = (r["text"], ids[str(r["label"]).strip()])
        split = r["split"]
        if split is None or str(split).strip() == "":
            unsplit.append(item)
            continue
        canon = _SPLIT_NAMES.get(str(split).strip().lower())
        if canon is None:
            raise DataError(f"data {source!r} has split {split!r}; use train, validation or test")
        parts[canon].append(item)
    parts["train"] += unsplit
    random.Random(seed).shuffle(parts["train"])
    if not parts["train"]:
        raise DataError(f"data {source!r} has no training rows")
    if not parts["validation"]:
        if not 0 < validation_fraction < 1:
            raise DataError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
        parts["train"], parts["validation"] = _stratified_split(parts["train"], validation_fraction, seed)
    return TextSplits(_as_data(parts["train"]), _as_data(parts["validation"]),
                      _as_data(parts["test"]) if parts["test"] else None, tuple(raw), source)


def _label_key(name: str) -> tuple:
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def _stratified_split(items: list[tuple[str, int]], fraction: float, seed: int):
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({y for _, y in items}):
        group = [it for it in items if it[1] == label]
        rng.shuffle(group)
        k = max(1, round(fraction * len(group))) if len(group) > 1 else 0
        val += group[:k]
        train += group[k:]
    rng.shuffle(train)
    rng.shuffle(val)
    if not val:
        raise DataError("too few rows to hold out a validation split; add rows or a split column")
    return train, val


def _as_data(items: list[tuple[str, int]]) -> TextData:
    return TextData(tuple(t for t, _ in items), tuple(y for _, y in items))


def encode(data: TextData, tokenizer: Any, max_length: int) -> dict:
    """Tokenise a split once: ``{"input_ids", "attention_mask", "labels"}`` tensors, padded to the longest."""
    import torch

    enc = tokenizer(list(data.texts), truncation=True, max_length=max_length, padding="longest",
                    return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
            "labels": torch.tensor(data.labels, dtype=torch.long)}


def batches(encoded: dict, batch_size: int, *, shuffle: bool = False, generator: Any = None) -> Iterator[dict]:
    """Batches of an encoded split, each trimmed to its longest sequence."""
    import torch

    n = len(encoded["labels"])
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        mask = encoded["attention_mask"][idx]
        width = int(mask.sum(dim=1).max())
        yield {"input_ids": encoded["input_ids"][idx, :width], "attention_mask": mask[:, :width],
               "labels": encoded["labels"][idx]}
