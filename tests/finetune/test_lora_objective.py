"""The LoRA objective on real MiniLM weights: a few real training steps on the CPU."""

import math

import optuna
import pytest
import torch

import hpo
from hpo.finetune import LoRAObjective, load_adapter
from hpo.finetune.model import resolve_layers


def _lora_weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_tiny_trial_trains_the_adapter_and_reports_every_evaluation(tiny_objective):
    study = hpo.create_study(space={"rank": hpo.Int(2, 4)}, direction=tiny_objective.direction, seed=0,
                             study_name="tiny")
    study.optimize(tiny_objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert 0.0 <= trial.value <= 1.0
    assert sorted(trial.intermediate_values) == [2, 4]  # evaluations at steps 2 and 4 (eval_every=2)
    assert trial.value == pytest.approx(min(trial.intermediate_values.values()))
    attrs = trial.user_attrs
    assert attrs["trainable_params"] > 0 and attrs["device"].startswith("cpu")
    assert attrs["train_seconds"] > 0 and len(attrs["curve"]) == 2
    # the saved adapter differs from the adapter the same seed builds before training
    before = _lora_weights(tiny_objective.build_model(tiny_objective.config(trial.params)))
    after = _lora_weights(load_adapter(attrs["adapter_path"], device="cpu").model)
    assert before.keys() == after.keys()
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert len(changed) == len(before)  # every A and B matrix moved (peft starts B at zero)
    assert all(float(after[n].abs().max()) > 0 for n in after if "lora_B" in n)


def test_trainable_parameters_are_lora_and_the_head_only(tiny_objective):
    config = tiny_objective.config({"rank": 4, "target_modules": "query+key+value+dense", "layers": "even"})
    model = tiny_objective.build_model(config)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(("lora_" in n) or (".classifier." in n) for n in trainable)
    adapted = {m for m in (n.split(".lora_")[0] for n in trainable if "lora_" in n)}
    layers = {int(name.split("layer.")[1].split(".")[0]) for name in adapted}
    assert layers == {0, 2, 4}
    assert not any("pooler" in n for n in adapted)
    # r * (in + out) per adapted linear: 6 linears per block (q, k, v, attention out, intermediate, output)
    expected_lora = 3 * 4 * (4 * (384 + 384) + (384 + 1536) + (1536 + 384))
    head = sum(p.numel() for n, p in trainable.items() if "classifier" in n)
    assert head == 384 * 4 + 4
    assert sum(p.numel() for n, p in trainable.items() if "lora_" in n) == expected_lora


def test_saved_adapter_reloads_and_predicts_the_same(tiny_objective, tmp_path):
    objective = LoRAObjective(data=tiny_objective.splits, max_steps=2, max_length=24, device="cpu", threads=1,
                              artifact_dir=tmp_path, defaults={"lr": 5e-3})
    study = hpo.create_study(direction="minimize", study_name="reload")
    trial = study.ask()
    result = objective.run({"rank": 2, "layers": "upper-half"}, trial=trial)
    study.tell(trial, result["value"])
    texts = list(objective.splits.validation.texts)
    reloaded = load_adapter(result["adapter_path"], device="cpu")
    trained = result["model"].eval()
    enc = reloaded.tokenizer(texts, truncation=True, max_length=24, padding=True, return_tensors="pt")
    with torch.no_grad():
        want = trained(**enc).logits
    assert torch.allclose(reloaded.logits(texts), want, atol=1e-5)
    assert reloaded.predict(texts[:3]) == [objective.splits.label_names[i] for i in want[:3].argmax(-1).tolist()]


def test_a_pruner_stops_a_bad_trial_at_its_first_report(tiny_objective):
    objective = LoRAObjective(data=tiny_objective.splits, max_steps=6, eval_every=1, max_length=24, device="cpu",
                              threads=1, artifact_dir=None, evaluate_test=False)
    study = hpo.create_study(direction="minimize", pruner=optuna.pruners.ThresholdPruner(upper=0.5, n_warmup_steps=0))
    study.enqueue({"lr": 1e-5})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # one evaluation of six
    assert len(trial.user_attrs["curve"]) == 1


def test_hypergradient_optimizers_learn_their_rate(tiny_objective):
    for name in ("adamw-hd", "sgd-hd"):
        objective = LoRAObjective(data=tiny_objective.splits, max_steps=3, max_length=24, device="cpu", threads=1,
                                  artifact_dir=None, evaluate_test=False, optimizer=name)
        result = objective.run({"lr": 1e-3, "rank": 2, "layers": "last"})
        assert math.isfinite(result["value"])
        assert result["history"][-1]["lr"] != pytest.approx(1e-3, rel=1e-9)


def test_default_space_configurations_are_accepted(tiny_objective):
    space = hpo.Space(LoRAObjective.default_space())
    for config in space.sample(20, seed=1):
        full = tiny_objective.config(config)
        assert resolve_layers(full["layers"], 6)
    assert "lr" not in LoRAObjective.default_space(lr=False)


def test_a_layer_selector_can_use_the_objective(tiny_objective, monkeypatch):
    seen = []

    def select(objective, config):
        seen.append((objective is tiny_objective, config["rank"]))
        return [1, 4]

    monkeypatch.setitem(LoRAObjective.layer_selectors, "picked", select)
    model = tiny_objective.build_model(tiny_objective.config({"layers": "picked", "rank": 2}))
    names = {n for n, _ in model.named_parameters() if "lora_A" in n}
    assert {int(n.split("layer.")[1].split(".")[0]) for n in names} == {1, 4} and seen == [(True, 2)]


def test_a_run_is_the_same_whether_or_not_the_model_was_loaded_before(tiny_splits):
    from hpo.finetune import model as _model

    def fresh():
        _model._MODELS.clear()  # the next build loads from disk, which draws from torch's global generator
        return LoRAObjective(data=tiny_splits, max_steps=2, max_length=16, device="cpu", threads=1,
                             artifact_dir=None, evaluate_test=False, defaults={"dropout": 0.1})

    first = fresh().run({})
    again = fresh()
    again.run({})  # the model is cached now
    second = again.run({})
    assert [r["loss"] for r in first["history"]] == [r["loss"] for r in second["history"]]
