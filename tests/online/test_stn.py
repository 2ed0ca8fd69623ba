"""Self-Tuning Networks: hyperparameter containers, gated layers, gradient paths, schedules, recording."""

from __future__ import annotations

import optuna
import pytest
import torch

import hpo
from hpo.online.stn import (Hyper, HyperBatch, StnConv2d, StnConvNet, StnHyperparameters, StnLinear, StnMLP,
                            StnTrainer)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _data(seed=0, n=128, d=6):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    return [(X[i:i + 32], y[i:i + 32]) for i in range(0, n, 32)]


def _hp(**kw):
    spec = {"dropout0": Hyper(0.0, 0.8, init=0.2), "dropout1": Hyper(0.0, 0.8, init=0.3),
            "input_noise": Hyper(0.0, 1.0, init=0.3)}
    spec.update(kw)
    return StnHyperparameters(spec)


def test_hyper_mapping_ranges_and_discrete_floor():
    hp = StnHyperparameters({"p": Hyper(0.1, 0.9, init=0.25), "k": Hyper(0, 3, init=1, discrete=True)})
    assert hp.values() == pytest.approx({"p": 0.25, "k": 1.0})
    v = hp.to_range(torch.tensor([[-50.0, -50.0], [50.0, 50.0], [0.0, 0.3]]))
    assert v[0].tolist() == pytest.approx([0.1, 0.0]) and v[1].tolist() == pytest.approx([0.9, 3.0])
    ks = hp.to_range(torch.linspace(-6, 6, 200)[:, None].expand(-1, 2))[:, 1]
    assert set(ks.tolist()) == {0.0, 1.0, 2.0, 3.0}


def test_perturbation_is_per_example_with_learned_scale():
    hp = _hp()
    u = hp.sample(5)
    assert u.shape == (5, 3) and not torch.allclose(u[0], u[1])
    assert torch.equal(hp.sample(5, perturb=False), hp.unconstrained.expand(5, -1))
    assert hp.entropy().requires_grad


def test_stn_linear_is_base_layer_at_zero_gate_and_gated_otherwise():
    torch.manual_seed(0)
    layer = StnLinear(4, 3, n_hyper=2)
    x = torch.randn(5, 4)
    assert torch.allclose(layer(x, torch.zeros(5, 2)), layer.base(x))
    assert not torch.allclose(layer(x, torch.ones(5, 2)), layer.base(x))
    with pytest.raises(ValueError, match=r"gate must have shape \[5, 2\]"):
        layer(x, torch.zeros(5, 3))


def test_stn_conv_gradients_reach_gate_input():
    torch.manual_seed(0)
    conv = StnConv2d(2, 4, 3, n_hyper=3, padding=1)
    gate = torch.randn(2, 3, requires_grad=True)
    conv(torch.randn(2, 2, 6, 6), gate).square().sum().backward()
    assert gate.grad is not None and gate.grad.abs().sum() > 0


@pytest.mark.parametrize("centered", [False, True])
def test_hyper_step_moves_only_hyperparameters_through_the_hypernetwork(centered):
    torch.manual_seed(0)
    hp = _hp()
    model = StnMLP(6, [16], 3, hp)
    trainer = StnTrainer(model, hp, centered=centered, hyper_lr=0.05)
    (x, y), = _data()[:1]
    for _ in range(3):
        trainer.weight_step(x, y)
    assert hp.unconstrained.grad is None  # weight steps never touch the hyperparameters
    weights = [p.detach().clone() for p in model.parameters()]
    u0 = hp.unconstrained.detach().clone()
    trainer.hyper_step(x, y)
    assert hp.unconstrained.grad.abs().sum() > 0 and hp.log_scale.grad.abs().sum() > 0
    assert not torch.equal(hp.unconstrained.detach(), u0)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))


def test_hyper_gradient_vanishes_without_the_hypernetwork():
    torch.manual_seed(0)
    hp = _hp()
    model = StnMLP(6, [16], 3, hp)
    for layer in model.layers:
        torch.nn.init.zeros_(layer.weight_gate.weight)
        torch.nn.init.zeros_(layer.bias_gate.weight)
    trainer = StnTrainer(model, hp, tune_scales=False)
    (x, y), = _data()[:1]
    trainer.hyper_step(x, y)
    assert torch.count_nonzero(hp.unconstrained.grad) == 0


@pytest.mark.parametrize("centered", [False, True])
def test_schedule_stays_in_range_even_with_a_huge_hyper_lr(centered):
    torch.manual_seed(1)
    hp = _hp(shift=Hyper(0, 2, init=1, discrete=True))
    trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, hyper_lr=2.0, train_steps=1, val_steps=2,
                         centered=centered, seed=1)
    result = trainer.fit(_data(0), _data(1), epochs=6)
    for row in result.schedule:
        assert 0.0 <= row["dropout0"] <= 0.8 and 0.0 <= row["dropout1"] <= 0.8
        assert 0.0 <= row["input_noise"] <= 1.0
        assert row["shift"] in (0.0, 1.0, 2.0)
        assert row["sigma/dropout0"] > 0
    assert result.train_examples == 6 * 128 and result.val_examples == 6 * 4 * 2 * 32


def test_warmup_epochs_keep_hyperparameters_fixed():
    hp = _hp()
    result = StnTrainer(StnMLP(6, [8], 3, hp), hp, warmup_epochs=2, seed=0).fit(_data(0), _data(1), epochs=3)
    assert result.schedule[0]["dropout1"] == result.schedule[1]["dropout1"] == pytest.approx(0.3)
    assert result.schedule[2]["dropout1"] != pytest.approx(0.3, abs=1e-6)
    assert result.val_examples > 0


@pytest.mark.parametrize("linearize", [False, True])
def test_cooldown_freezes_hyperparameters_and_turns_off_the_perturbation(linearize, monkeypatch):
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [8], 3, hp), hp, hyper_lr=0.1, cooldown_epochs=2, centered=linearize,
                         linearize=linearize, seed=0)
    calls = []
    sample = hp.sample
    monkeypatch.setattr(hp, "sample", lambda batch, perturb=True: calls.append(perturb) or sample(batch, perturb))
    hyper_steps = []
    step = trainer.hyper_step
    monkeypatch.setattr(trainer, "hyper_step", lambda x, y: hyper_steps.append(len(calls)) or step(x, y))
    result = trainer.fit(_data(0), _data(1), epochs=4)
    assert [row["cooldown"] for row in result.schedule] == [0.0, 0.0, 1.0, 1.0]
    frozen = {k: result.schedule[1][k] for k in hp.names}
    assert result.schedule[1]["dropout1"] != pytest.approx(0.3, abs=1e-6)  # it did move before the cool-down
    assert all({k: row[k] for k in hp.names} == frozen for row in result.schedule[2:])
    n_batches = len(_data(0))
    assert result.extra["cooldown_train_examples"] == 2 * 128 and result.train_examples == 4 * 128
    assert result.val_examples == 2 * (n_batches // 2) * 32  # hyperparameter steps in the first two epochs only
    # every weight step of the cool-down samples the hyperparameters unperturbed (the evaluation does too)
    first_cool = calls.index(False, max(hyper_steps)) if hyper_steps else 0
    assert not any(calls[first_cool:]) and any(calls[:first_cool])


def test_cooldown_without_it_changes_nothing():
    def run(**kw):
        torch.manual_seed(0)
        hp = _hp()
        return StnTrainer(StnMLP(6, [8], 3, hp), hp, seed=0, **kw).fit(_data(0), _data(1), epochs=3)

    a, b = run(), run(cooldown_epochs=0)
    assert a.schedule == b.schedule and "cooldown" not in a.schedule[0]
    with pytest.raises(ValueError, match="cooldown_epochs=4 is more than epochs=3"):
        run(cooldown_epochs=4)


def test_restore_best_puts_back_the_best_validation_epoch():
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, lr=3e-2, hyper_lr=0.1, seed=0)
    val = _data(1)
    result = trainer.fit(_data(0), val, epochs=8, restore_best=True)
    losses = [row["val_loss"] for row in result.schedule]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert result.extra["best_epoch"] == best and result.val_loss == losses[best]
    assert result.extra["final_val_loss"] == losses[-1]
    assert trainer.evaluate(val) == pytest.approx(losses[best], rel=1e-6)
    assert result.hyperparameters == pytest.approx({k: result.schedule[best][k] for k in hp.names})


def test_without_restore_best_the_last_epoch_is_kept():
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, lr=3e-2, seed=0)
    result = trainer.fit(_data(0), _data(1), epochs=3)
    assert result.val_loss == result.schedule[-1]["val_loss"] and result.extra["best_epoch"] == 2


def test_trainer_state_round_trip_resumes_identically(tmp_path):
    def make():
        hp = _hp()
        return StnTrainer(StnMLP(6, [16], 3, hp), hp, hyper_lr=0.05)

    def steps(trainer, seed):
        torch.manual_seed(seed)
        for (x, y), (xv, yv) in zip(_data(0), _data(1)):
            trainer.weight_step(x, y)
            trainer.hyper_step(xv, yv)

    torch.manual_seed(0)
    a = make()
    steps(a, 1)
    path = tmp_path / "stn.pt"
    torch.save({"model": a.model.state_dict(), "hparams": a.hparams.state_dict(),
                "weights_opt": a.weight_optimizer.state_dict(), "hyper_opt": a.hyper_optimizer.state_dict()}, path)
    b = make()
    saved = torch.load(path)
    b.model.load_state_dict(saved["model"])
    b.hparams.load_state_dict(saved["hparams"])
    b.weight_optimizer.load_state_dict(saved["weights_opt"])
    b.hyper_optimizer.load_state_dict(saved["hyper_opt"])
    steps(a, 2)
    steps(b, 2)
    assert b.hparams.values() == a.hparams.values()
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_linearized_base_step_ignores_the_perturbation_and_response_learns_from_it():
    def one_step(scale):
        torch.manual_seed(0)
        hp = StnHyperparameters(_hp().spec, init_scale=scale)
        trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, centered=True, linearize=True)
        (x, y), = _data()[:1]
        torch.manual_seed(1)
        trainer.weight_step(x, y)
        return trainer.model

    a, b = one_step(0.5), one_step(2.0)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        if ".base." in name:
            assert torch.equal(p, q), name  # trained at the current values: sigma does not enter
        elif "gate" in name:
            assert not torch.equal(p, q), name


def test_linearized_tangent_is_the_derivative_along_the_perturbation():
    torch.manual_seed(0)
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, centered=True, linearize=True)
    for _ in range(3):
        for x, y in _data():
            trainer.weight_step(x, y)
    x = _data()[0][0]
    delta = 0.3 * torch.randn(x.shape[0], len(hp))
    out, tangent = trainer._linearized(x, delta, hp.sample(x.shape[0], perturb=False) + delta, regularize=False)
    with torch.no_grad():
        values = HyperBatch.fixed(hp, x.shape[0]).values
        step = 1e-3
        fd = (trainer.model(x, HyperBatch(step * delta, values, False)) - out) / step
    assert torch.allclose(tangent, fd, atol=1e-3) and tangent.abs().max() > 1e-3


@pytest.mark.parametrize("tune_scales", [False, True])
def test_linearized_delta_stn_fits_in_range(tune_scales):
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [16], 3, hp), hp, centered=True, linearize=True, tune_scales=tune_scales,
                         hyper_lr=0.5, seed=0)
    result = trainer.fit(_data(0), _data(1), epochs=3)
    assert all(0.0 <= row["dropout1"] <= 0.8 and 0.0 <= row["input_noise"] <= 1.0 for row in result.schedule)
    assert result.hyperparameters != pytest.approx({"dropout0": 0.2, "dropout1": 0.3, "input_noise": 0.3})


def test_stn_lowers_input_noise_that_only_hurts():
    # clean, separable data: input noise blurs the decision boundary, so validation prefers less noise
    g = torch.Generator().manual_seed(0)
    X = torch.randn(512, 4, generator=g)
    y = (X[:, 0] - X[:, 1] > 0).long()
    train = [(X[i:i + 64], y[i:i + 64]) for i in range(0, 384, 64)]
    val = [(X[384:], y[384:])]
    hp = StnHyperparameters({"input_noise": Hyper(0.0, 3.0, init=1.5)})
    trainer = StnTrainer(StnMLP(4, [16], 2, hp), hp, lr=1e-2, hyper_lr=3e-2, warmup_epochs=2, seed=0)
    result = trainer.fit(train, val, epochs=25)
    assert result.hyperparameters["input_noise"] < 1.0


def test_conv_net_with_shift_augmentation_trains():
    hp = StnHyperparameters({"shift": Hyper(0, 2, init=1, discrete=True), "dropout1": Hyper(0.0, 0.8, init=0.2)})
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    result = StnTrainer(StnConvNet(8, 3, hp, channels=4), hp, seed=0).fit(batches, batches, epochs=2)
    assert len(result.schedule) == 2 and result.hyperparameters["shift"] in (0.0, 1.0, 2.0)


def test_shift_moves_pixels_by_whole_steps():
    hp = StnHyperparameters({"shift": Hyper(0, 2, init=2, discrete=True)})
    img = torch.zeros(4, 1, 8, 8)
    img[:, 0, 4, 4] = 1.0
    hb = HyperBatch(torch.zeros(4, 1), {"shift": torch.full((4,), 2.0)}, True)
    out = hb.shift(img, "shift")
    assert out.shape == img.shape and torch.all(out.sum(dim=(1, 2, 3)) == 1.0)
    assert torch.equal(HyperBatch.fixed(hp, 4).shift(img, "shift"), img)


def _record(study, centered=False):
    hp = _hp()
    trainer = StnTrainer(StnMLP(6, [8], 3, hp), hp, study=study, centered=centered, seed=0)
    return trainer.fit(_data(0), _data(1), epochs=3)


def test_schedule_recorded_into_in_memory_optuna_study():
    study = optuna.create_study()
    result = _record(study)
    trial = study.trials[result.trial_number]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == pytest.approx(result.val_loss)
    assert trial.intermediate_values == pytest.approx({r["epoch"]: r["val_loss"] for r in result.schedule})
    assert trial.user_attrs["schedule"]["dropout1"] == pytest.approx([r["dropout1"] for r in result.schedule])
    assert trial.user_attrs["method"] == "stn"


def test_schedule_recorded_into_sqlite_hpo_study_and_reloadable(tmp_path):
    url = f"sqlite:///{tmp_path / 'stn.db'}"
    study = hpo.create_study(storage=url, study_name="stn", space={"x": hpo.Float(0, 1)})
    result = _record(study, centered=True)
    loaded = optuna.load_study(study_name="stn", storage=url)
    trial = loaded.trials[result.trial_number]
    assert trial.user_attrs["method"] == "delta-stn"
    assert trial.user_attrs["final_hyperparameters"] == pytest.approx(result.hyperparameters)
    assert sorted(trial.intermediate_values) == [0, 1, 2]


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="strictly inside"):
        Hyper(0.0, 1.0, init=1.0)
    with pytest.raises(ValueError, match="finite low < high"):
        Hyper(1.0, 0.0, init=0.5)
    with pytest.raises(ValueError, match="at least one Hyper"):
        StnHyperparameters({})
    hp = _hp()
    with pytest.raises(ValueError, match="needs centered=True"):
        StnTrainer(StnMLP(6, [8], 3, hp), hp, linearize=True)
    with pytest.raises(ValueError, match="train_steps >= 1"):
        StnTrainer(StnMLP(6, [8], 3, hp), hp, train_steps=0)
    with pytest.raises(TypeError, match="hpo.Study or an optuna.Study"):
        StnTrainer(StnMLP(6, [8], 3, hp), hp, study="nope").fit(_data(), _data(), epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        StnTrainer(StnMLP(6, [8], 3, hp), hp).fit(_data(), _data(), epochs=0)
