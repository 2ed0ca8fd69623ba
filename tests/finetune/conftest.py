"""LoRA tests share one tiny objective (the model loads once per session) and run torch on one thread."""

import pytest


@pytest.fixture(scope="session")
def tiny_splits():
    from hpo.finetune.data import TextSplits, load_text_data

    full = load_text_data("newsgroups4")
    return TextSplits(full.train.subset(32), full.validation.subset(32), full.test.subset(32),
                      full.label_names, "newsgroups4 (32 per split)")


@pytest.fixture(scope="session")
def tiny_objective(tiny_splits, tmp_path_factory):
    from hpo.finetune import LoRAObjective

    return LoRAObjective(data=tiny_splits, max_steps=4, eval_every=2, max_length=24, device="cpu", threads=1,
                         artifact_dir=tmp_path_factory.mktemp("artifacts"), defaults={"lr": 5e-3})
