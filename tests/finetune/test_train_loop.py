"""The train/evaluate loop on a tiny stand-in model (isolates the loop from the pretrained encoder)."""

from types import SimpleNamespace

import pytest
import torch

from hpo.finetune.device import DeviceInfo
from hpo.finetune.train import evaluate, fit, make_optimizer


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(50, 8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask, labels=None):
        h = (self.emb(input_ids) * attention_mask[..., None]).sum(1) / attention_mask.sum(1, keepdim=True)
        logits = self.out(h)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SimpleNamespace(logits=logits, loss=loss)


def _data(n=40):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (n, 6), generator=g)
    labels = (ids[:, 0] > 25).long()
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


@pytest.mark.parametrize("optimizer", ["adamw", "adamw-hd", "sgd-hd"])
@pytest.mark.parametrize("amp", [None, torch.bfloat16, torch.float16])
def test_fit_evaluates_every_epoch_in_every_precision(optimizer, amp):
    model = _Tiny()
    device = DeviceInfo(torch.device("cpu"), amp, 1)
    opt = make_optimizer(optimizer, model.parameters(), lr=1e-2)
    seen = []
    history = fit(model, _data(), _data(16), device=device, optimizer=opt, batch_size=8, epochs=3, warmup_ratio=0.1,
                  on_eval=seen.append)
    assert [h["step"] for h in history] == [5, 10, 15] and seen == history
    assert all(0 <= h["accuracy"] <= 1 and h["loss"] == h["loss"] for h in history)


def test_max_steps_and_eval_every_and_a_stopping_callback():
    model = _Tiny()
    device = DeviceInfo(torch.device("cpu"), None, 1)
    opt = make_optimizer("adamw", model.parameters(), lr=1e-2)
    history = fit(model, _data(), _data(16), device=device, optimizer=opt, batch_size=8, epochs=10, max_steps=7,
                  eval_every=3)
    assert [h["step"] for h in history] == [3, 6, 7]

    def stop(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(model, _data(), _data(16), device=device, optimizer=opt, batch_size=8, epochs=1, on_eval=stop)


def test_a_diverging_run_raises_with_the_step():
    model = _Tiny()
    with torch.no_grad():
        model.out.weight.fill_(float("nan"))
    opt = make_optimizer("adamw", model.parameters(), lr=1e-2)
    with pytest.raises(FloatingPointError, match="training loss became nan at step 1"):
        fit(model, _data(), _data(16), device=DeviceInfo(torch.device("cpu"), None, 1), optimizer=opt,
            batch_size=8, epochs=1)
    assert evaluate(_Tiny(), _data(16), DeviceInfo(torch.device("cpu"), None, 1))["accuracy"] >= 0
