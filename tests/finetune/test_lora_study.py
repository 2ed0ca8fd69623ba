"""End to end: a tpe study with successive halving on live LoRA training (slow)."""

import optuna
import pytest

import hpo
from hpo.finetune import LoRAObjective, load_adapter


@pytest.mark.slow
def test_tpe_with_successive_halving_prunes_and_keeps_the_best_adapter(tiny_splits, tmp_path):
    objective = LoRAObjective(data=tiny_splits, max_steps=6, eval_every=2, max_length=24, device="cpu", threads=1,
                              artifact_dir=tmp_path, evaluate_test=False)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2)
    study = hpo.create_study(space=LoRAObjective.default_space(epochs=False), strategy="tpe", pruner=pruner,
                             direction=objective.direction, seed=0, study_name="slow-lora",
                             storage=f"sqlite:///{tmp_path / 'lora.db'}")
    study.optimize(objective, n_trials=8)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1
    assert states.count(optuna.trial.TrialState.COMPLETE) >= 2
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(len(t.intermediate_values) < 3 for t in pruned)
    best = study.best_trial
    clf = load_adapter(best.user_attrs["adapter_path"], device="cpu")
    assert set(clf.predict(list(tiny_splits.validation.texts[:8]))) <= set(tiny_splits.label_names)
    # only trials that improved on the best so far saved an adapter
    saved = [t.number for t in study.trials if "adapter_path" in t.user_attrs]
    assert best.number in saved and len(saved) <= states.count(optuna.trial.TrialState.COMPLETE)
