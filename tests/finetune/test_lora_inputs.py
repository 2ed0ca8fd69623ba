"""Bad input to the LoRA pieces gives one line naming the problem."""

import pytest

from hpo.finetune import LoRAObjective
from hpo.finetune.data import DataError, load_text_data
from hpo.finetune.model import ModelError, register_layer_set, resolve_layers, resolve_model_path


def _one_line(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_unknown_model_path():
    with pytest.raises(ModelError) as e:
        resolve_model_path("/no/such/model-folder")
    assert "unknown model '/no/such/model-folder'" in _one_line(e)
    with pytest.raises(ModelError) as e:
        LoRAObjective(model="someone/not-a-cached-model")
    assert "not in the local Hugging Face cache" in _one_line(e)


def test_csv_without_a_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,category\nhello world,a\n")
    with pytest.raises(DataError) as e:
        load_text_data(path)
    assert "has no 'label' column (its columns: text, category)" in _one_line(e)
    assert "label_column" in str(e.value)


@pytest.mark.parametrize("content", ["text,label\n", ""])
def test_empty_dataset(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(DataError) as e:
        load_text_data(path)
    assert "no rows" in _one_line(e) or "has no 'text' column" in str(e.value)


def test_empty_dataframe_and_single_class():
    pd = pytest.importorskip("pandas")
    with pytest.raises(DataError) as e:
        load_text_data(pd.DataFrame({"text": [], "label": []}))
    assert "is empty" in _one_line(e)
    with pytest.raises(DataError) as e:
        load_text_data(pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]}))
    assert "single label 'x'" in _one_line(e)


def test_rank_zero(tiny_objective):
    with pytest.raises(ModelError) as e:
        tiny_objective.config({"rank": 0})
    assert "LoRA rank must be a positive integer, got 0" == _one_line(e)
    from hpo.finetune.model import add_lora

    with pytest.raises(ModelError) as e:
        add_lora(object(), rank=0)
    assert "rank" in _one_line(e)


def test_unknown_hyperparameter_layer_set_and_target(tiny_objective):
    with pytest.raises(ValueError) as e:
        tiny_objective.config({"learning_rate": 1e-3})
    assert "unknown LoRA hyperparameter 'learning_rate'" in _one_line(e)
    with pytest.raises(ModelError) as e:
        resolve_layers("middle", 6)
    assert "unknown layer set 'middle'" in _one_line(e)
    with pytest.raises(ModelError) as e:
        resolve_layers([7], 6)
    assert "layer index 7 is out of range" in _one_line(e)
    with pytest.raises(ModelError) as e:
        tiny_objective.build_model(tiny_objective.config({"target_modules": "query+fc1"}))
    assert "target module 'fc1'" in _one_line(e)


def test_layer_sets_can_be_registered():
    register_layer_set("first-two", lambda n: [0, 1])
    assert resolve_layers("first-two", 6) == [0, 1]
    with pytest.raises(ModelError):
        register_layer_set("empty", lambda n: [])
        resolve_layers("empty", 6)


def test_bad_objective_arguments():
    with pytest.raises(ValueError, match="unknown optimizer 'adam-hd'"):
        LoRAObjective(optimizer="adam-hd")
    with pytest.raises(ValueError, match="max_steps must be a positive integer"):
        LoRAObjective(max_steps=0)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        LoRAObjective(device="cuda")
