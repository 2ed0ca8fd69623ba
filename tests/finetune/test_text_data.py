"""Labelled text from the built-in set, CSV files, DataFrames and Hugging Face datasets."""

import pytest

from hpo.finetune.data import load_text_data


def test_builtin_newsgroups4_has_fixed_balanced_splits():
    s = load_text_data("newsgroups4")
    assert (len(s.train), len(s.validation), len(s.test)) == (800, 200, 400)
    assert s.label_names == ("comp.graphics", "rec.autos", "sci.med", "sci.space")
    for split, n in ((s.train, 200), (s.validation, 50), (s.test, 100)):
        assert [split.labels.count(k) for k in range(4)] == [n] * 4
    assert not set(s.train.texts) & set(s.test.texts)
    assert load_text_data("newsgroups4").train == s.train  # deterministic


def test_csv_with_and_without_a_split_column(tmp_path):
    rows = [(f"text number {i}", "pos" if i % 2 else "neg") for i in range(20)]
    a = tmp_path / "a.csv"
    a.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    s = load_text_data(a, validation_fraction=0.2)
    assert (len(s.train), len(s.validation), s.test) == (16, 4, None)
    assert s.label_names == ("neg", "pos") and sorted(s.validation.labels) == [0, 0, 1, 1]
    b = tmp_path / "b.csv"
    b.write_text("text,label,split\n" + "".join(f"{t},{y},{'test' if i < 4 else 'train'}\n"
                                                 for i, (t, y) in enumerate(rows)))
    s = load_text_data(b)
    assert len(s.test) == 4 and len(s.train) + len(s.validation) == 16


def test_huggingface_datasets_objects():
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({"sentence": datasets.Value("string"),
                               "y": datasets.ClassLabel(names=["bad", "good"])})
    train = datasets.Dataset.from_dict({"sentence": [f"s{i}" for i in range(10)], "y": [i % 2 for i in range(10)]},
                                       features=feats)
    dd = datasets.DatasetDict({"train": train, "validation": train.select(range(4))})
    s = load_text_data(dd, text_column="sentence", label_column="y")
    assert (len(s.train), len(s.validation), s.label_names) == (10, 4, ("bad", "good"))
    single = load_text_data(train, text_column="sentence", label_column="y")
    assert len(single.train) + len(single.validation) == 10
