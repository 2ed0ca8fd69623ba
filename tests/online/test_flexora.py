"""Flexora's layer gates, both hypergradients, the selection and the retraining on real MiniLM."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from hpo.online.flexora import (FlexoraError, GateSearch, LayerGates, _unrolled_step, lora_layer_indices,  # noqa: E402
                                search_gates, select_layers)


def _tiny(seed: int = 0, dtype=torch.float32, layers=None):
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                  intermediate_size=16, num_labels=2, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, max_position_embeddings=16)
    base = transformers.BertForSequenceClassification(cfg)
    model = peft.get_peft_model(base, peft.LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"],
                                                      layers_to_transform=layers,
                                                      layers_pattern="layer" if layers else None,
                                                      init_lora_weights=False))
    return model.to(dtype)


def _batches(n: int, seed: int, size: int = 4):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (n, 8), generator=gen)
    labels = torch.randint(0, 2, (n,), generator=gen)
    return [{"input_ids": ids[i:i + size], "attention_mask": torch.ones_like(ids[i:i + size]),
             "labels": labels[i:i + size]} for i in range(0, n, size)]


def _forward(model):
    def forward(batch, params):
        if params is None:
            return model(**batch).loss
        return torch.func.functional_call(model, params, args=(), kwargs=batch, strict=False).loss
    return forward


def _cost():
    return {k: 0 for k in ("gate_forward", "gate_backward", "unrolled_forward", "unrolled_backward")}


def test_the_gate_scales_each_lora_branch_exactly_once():
    model = _tiny()
    batch = _batches(4, 1)[0]
    reference = copy.deepcopy(model)
    with torch.no_grad():  # gate 3 on layer 0 == its lora_B weights times 3
        for name, module in reference.named_modules():
            if ".layer.0." in name + "." and hasattr(module, "lora_B") and not isinstance(module, torch.nn.ModuleDict):
                for b in module.lora_B.values():
                    b.weight.mul_(3.0)
    gates = LayerGates(model, parametrization="linear")
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor([2.0, 0.0, 0.0]))
    model.eval(), reference.eval()
    gated = model(**batch).logits
    assert torch.allclose(gated, reference(**batch).logits, atol=1e-6)
    gates.remove()
    assert not torch.allclose(model(**batch).logits, gated)


def test_gates_start_at_one_and_leave_the_model_unchanged():
    model = _tiny().eval()
    batch = _batches(4, 2)[0]
    before = model(**batch).logits
    for parametrization in ("softmax", "linear"):
        gates = LayerGates(model, parametrization)
        assert gates.values().tolist() == [1.0, 1.0, 1.0]
        assert torch.allclose(model(**batch).logits, before, atol=1e-6)
        gates.remove()


@pytest.mark.parametrize("mode", ["first-order", "unrolled"])
def test_gradients_reach_the_gates(mode):
    model = _tiny()
    train, val = _batches(16, 3), _batches(8, 4)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    search = search_gates(model, lambda: iter(train), lambda: iter(val), optimizer=opt, steps=6, gate_lr=0.05,
                          mode=mode, unroll_steps=2)
    assert search.cost["gate_steps"] == 6 and len(search.trajectory) == 6
    assert any(abs(a) > 1e-6 for a in search.alpha), search.alpha
    assert search.trajectory[0]["gates"] != search.trajectory[-1]["gates"]
    if mode == "unrolled":
        assert search.cost["unrolled_forward"] == 2 * 6 - 1  # the first gate step has one training batch to unroll
    assert not any(isinstance(m, LayerGates) for m in model.modules())


def test_unrolled_hypergradient_matches_a_finite_difference_for_one_step():
    model = _tiny(dtype=torch.float64)
    train, val = _batches(4, 5), _batches(4, 6)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.SGD([p for _, p in named], lr=0.5)
    gates = LayerGates(model, parametrization="linear").to(torch.float64)
    forward = _forward(model)
    with torch.no_grad():
        gates.alpha.copy_(torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64))
    _unrolled_step(model, gates, forward, named, opt, train[:1], val[:1], _cost())
    analytic = gates.alpha.grad.clone()

    def f(alpha):
        with torch.no_grad():
            gates.alpha.copy_(alpha)
        theta = {n: p.detach().clone().requires_grad_(True) for n, p in named}
        loss = forward(train[0], theta)
        grads = torch.autograd.grad(loss, list(theta.values()))
        theta = {n: t - 0.5 * g for (n, t), g in zip(theta.items(), grads)}
        model.eval()
        with torch.no_grad():
            out = float(forward(val[0], theta))
        model.train()
        return out

    base = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    eps = 1e-6
    numeric = torch.tensor([(f(base + eps * e) - f(base - eps * e)) / (2 * eps) for e in torch.eye(3, dtype=torch.float64)],
                           dtype=torch.float64)
    assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-9), (analytic, numeric)
    # the first-order gradient differs: the unroll carries the gates' effect on the weight step
    gates.alpha.grad = None
    with torch.no_grad():
        gates.alpha.copy_(base)
    model.eval()
    (first,) = torch.autograd.grad(forward(val[0], None), [gates.alpha])
    assert not torch.allclose(first, analytic, rtol=1e-3)
    gates.remove()


def test_the_unroll_leaves_the_models_weights_unchanged():
    model = _tiny()
    train, val = _batches(12, 7), _batches(4, 8)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.AdamW([p for _, p in named], lr=1e-2)
    loss = model(**train[0]).loss
    loss.backward()
    opt.step()  # Adam state exists: the unroll uses its second moments
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gates = LayerGates(model)
    _unrolled_step(model, gates, _forward(model), named, opt, train[:3], val, _cost())
    gates.remove()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_the_search_is_deterministic_for_a_seed():
    def run():
        model = _tiny(seed=3)
        gen = torch.Generator().manual_seed(0)
        train = _batches(24, 9)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
        order = lambda: iter([train[i] for i in torch.randperm(len(train), generator=gen).tolist()])
        return search_gates(model, order, lambda: iter(_batches(8, 10)), optimizer=opt, steps=10, gate_lr=0.05)
    a, b = run(), run()
    assert a.alpha == b.alpha and a.trajectory == b.trajectory


def test_selection_rules():
    s = GateSearch(layers=[0, 1, 2, 3], alpha=[0.2, -0.1, 0.05, -0.3], gates=[1.2, 0.9, 1.05, 0.7])
    assert select_layers(s) == [0, 2]
    assert select_layers(s, 3) == [0, 1, 2]
    with pytest.raises(FlexoraError, match="select=3") as e:
        select_layers(GateSearch(layers=[0, 1], alpha=[-0.1, -0.2], gates=[0.9, 0.8]))
    assert "\n" not in str(e.value)
    with pytest.raises(FlexoraError, match="1..4"):
        select_layers(s, 5)


def test_a_model_without_lora_gets_a_one_line_error():
    cfg = transformers.BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=16)
    with pytest.raises(FlexoraError, match="no peft LoRA layers") as e:
        LayerGates(transformers.BertForSequenceClassification(cfg))
    assert "\n" not in str(e.value)


def test_only_adapted_layers_get_gates():
    model = _tiny(layers=[0, 2])
    assert lora_layer_indices(model) == [0, 2]
    assert LayerGates(model).layers == [0, 2]


@pytest.fixture(scope="module")
def tiny_objective():
    from hpo.finetune import LoRAObjective

    return LoRAObjective(max_steps=3, train_size=32, max_length=16, evaluate_test=True, artifact_dir=None, seed=0)


@pytest.mark.slow
def test_flexora_on_minilm_selects_deterministically_and_retrains_only_the_selection(tiny_objective):
    from hpo.finetune.flexora import Flexora

    a = Flexora(objective=tiny_objective, search_steps=4, select=2, lr=1e-3).select()
    b = Flexora(objective=tiny_objective, search_steps=4, select=2, lr=1e-3).select()
    assert a.layers == b.layers and a.search.alpha == b.search.alpha and len(a.layers) == 2
    assert a.search.layers == list(range(6)) and a.search.cost["weight_steps"] == 4
    result = Flexora(objective=tiny_objective).retrain(a.layers, epochs=1)
    assert lora_layer_indices(result["model"]) == a.layers
    assert 0.0 <= result["test"]["accuracy"] <= 1.0
    with pytest.raises(FlexoraError, match="at least one layer"):
        Flexora(objective=tiny_objective).retrain([])


@pytest.mark.slow
def test_layers_flexora_in_the_lora_objective(tiny_objective):
    import hpo
    import hpo.finetune.flexora  # noqa: F401  registers the layer set

    study = hpo.create_study(space={"layers": hpo.Categorical(["flexora"])}, seed=0)
    study.optimize(lambda t: tiny_objective(t), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE", trial.user_attrs.get("error")
    assert trial.user_attrs["trainable_params"] < _all_layer_lora_params(tiny_objective)


def _all_layer_lora_params(objective) -> int:
    config = objective.config({"layers": "all"})
    return objective.build_model(config).num_parameters(only_trainable=True)


def test_selection_record_names_the_selected_layers_not_the_gated_ones():
    from hpo.finetune.flexora import FlexoraSelection

    search = GateSearch(layers=[0, 1, 2, 3], alpha=[0.2, -0.1, 0.05, -0.3], gates=[1.3, 0.9, 1.1, 0.7])
    record = FlexoraSelection(layers=[0, 2], search=search, select="sign").to_dict()
    assert record["layers"] == [0, 2] and record["gated_layers"] == [0, 1, 2, 3] and record["select"] == "sign"
