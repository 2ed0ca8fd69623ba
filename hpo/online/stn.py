"""Self-Tuning Networks (MacKay et al., ICLR 2019) with Delta-STN's centred, linearised options (Bae & Grosse, 2020).

An STN tunes its regularisation hyperparameters (dropout rates, input noise, augmentation
strength) inside one training run. Every STN layer carries a small linear hypernetwork that
gates its output by the hyperparameters ``lam``::

    y = W x + b + s_w(lam) * (W_h x) + s_b(lam) * b_h,      [s_w, s_b] linear in lam

so the weights approximate their best response to ``lam``. Training alternates weight steps
on training batches (each example gets its own ``lam`` drawn around the current value with a
learned scale ``sigma``, and the regularisers use those values) with hyperparameter steps on
validation batches (no regularisation, so the gradient reaches ``lam`` only through the
hypernetwork; loss = validation loss - tau * entropy(sigma)). The result is a tuned model and
a hyperparameter schedule, which :class:`StnTrainer` can record into an hpo/optuna study.

With ``centered=True`` (Delta-STN) the hypernetwork sees ``lam - lam_current`` instead of ``lam``:
at the current hyperparameters the network is exactly its base weights, and the
hyperparameter gradient is the response Jacobian. ``linearize=True`` adds Delta-STN's linearised
training: the base weights train at the current hyperparameters only, and the response part
learns from the network's first-order expansion in the perturbation (forward-mode autodiff).

``cooldown_epochs=k`` ends a run with ``k`` epochs in which the hyperparameters are frozen at
the values the schedule reached and the weights train without perturbation, so that the
returned model is trained at the values the STN chose rather than around them.

Example:
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> hp = StnHyperparameters({"dropout1": Hyper(0.0, 0.8, init=0.2), "input_noise": Hyper(0.0, 1.0, init=0.1)})
    >>> model = StnMLP(4, [16], 3, hp)
    >>> X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> batches = [(X[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    >>> result = StnTrainer(model, hp, warmup_epochs=1).fit(batches, batches, epochs=3)
    >>> len(result.schedule), sorted(result.hyperparameters)
    (3, ['dropout1', 'input_noise'])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import Tensor, nn

from hpo.online._recording import ScheduleRecorder

__all__ = ["Hyper", "StnHyperparameters", "HyperBatch", "StnLinear", "StnConv2d", "StnMLP", "StnConvNet",
           "StnTrainer", "StnResult"]


@dataclass(frozen=True)
class Hyper:
    """One tunable hyperparameter: a range, an initial value, and whether it is an integer.

    Continuous values are ``low + (high - low) * sigmoid(u)`` of an unconstrained ``u``; discrete
    ones stretch the sigmoid over ``[low, high + 1)`` and take the floor, so every integer gets an
    equal share of ``u``.

    Example:
        >>> Hyper(0.0, 0.9, init=0.5).init
        0.5
    """

    low: float
    high: float
    init: float
    discrete: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"Hyper needs finite low < high, got low={self.low}, high={self.high}")
        if not self.low <= self.init <= self.high or (not self.discrete and self.init in (self.low, self.high)):
            raise ValueError(f"Hyper init={self.init} must lie strictly inside ({self.low}, {self.high})"
                             " (inclusive bounds for discrete ones); pick an interior starting value")

    @property
    def _top(self) -> float:
        return self.high + 1 if self.discrete else self.high


class StnHyperparameters(nn.Module):
    """The tuned hyperparameters: unconstrained values ``u`` and log perturbation scales.

    Args:
        spec: name -> :class:`Hyper`. The order of the dict is the order of the hypernetwork input.
        init_scale: initial perturbation scale ``sigma`` in unconstrained units.

    Example:
        >>> hp = StnHyperparameters({"dropout1": Hyper(0.0, 0.8, init=0.3),
        ...                          "holes": Hyper(0, 4, init=2, discrete=True)})
        >>> {k: round(v, 3) for k, v in hp.values().items()}
        {'dropout1': 0.3, 'holes': 2.0}
    """

    def __init__(self, spec: Mapping[str, Hyper], init_scale: float = 0.5) -> None:
        super().__init__()
        if not spec:
            raise ValueError("StnHyperparameters needs at least one Hyper, e.g. {'dropout1': Hyper(0, 0.8, init=0.2)}")
        if not init_scale > 0:
            raise ValueError(f"init_scale must be > 0, got {init_scale}")
        for name, h in spec.items():
            if not isinstance(h, Hyper):
                raise TypeError(f"{name}: expected a Hyper, got {type(h).__name__}")
        self.spec = dict(spec)
        self.names = list(spec)
        self.register_buffer("low", torch.tensor([h.low for h in spec.values()], dtype=torch.float32))
        self.register_buffer("span", torch.tensor([h._top - h.low for h in spec.values()], dtype=torch.float32))
        self.register_buffer("discrete", torch.tensor([h.discrete for h in spec.values()]))
        self.register_buffer("high", torch.tensor([h.high for h in spec.values()], dtype=torch.float32))
        init = torch.tensor([(h.init + (0.5 if h.discrete else 0.0) - h.low) / (h._top - h.low)
                             for h in spec.values()], dtype=torch.float32).clamp(1e-4, 1 - 1e-4)
        self.unconstrained = nn.Parameter(torch.logit(init))
        self.log_scale = nn.Parameter(torch.full((len(spec),), math.log(init_scale)))

    def __len__(self) -> int:
        return len(self.names)

    def to_range(self, u: Tensor) -> Tensor:
        """Map unconstrained values (``[..., n]``) to their ranges; discrete ones floored."""
        v = self.low + self.span * torch.sigmoid(u)
        return torch.where(self.discrete, torch.minimum(torch.floor(v), self.high), v)

    def sample(self, batch: int, perturb: bool = True) -> Tensor:
        """Unconstrained values for ``batch`` examples, ``u + sigma * eps`` when ``perturb``."""
        u = self.unconstrained.expand(batch, -1)
        if not perturb:
            return u
        return u + torch.exp(self.log_scale) * torch.randn(batch, len(self), device=u.device)

    def entropy(self) -> Tensor:
        """Entropy of the perturbation distribution, up to a constant: ``sum(log sigma)``."""
        return self.log_scale.sum()

    def values(self) -> dict[str, float]:
        """Current hyperparameter values in their ranges."""
        with torch.no_grad():
            raw = self.to_range(self.unconstrained.double()).tolist()
        return {n: min(max(v, h.low), h.high) for (n, h), v in zip(self.spec.items(), raw)}

    def scales(self) -> dict[str, float]:
        with torch.no_grad():
            return dict(zip(self.names, torch.exp(self.log_scale).tolist()))


@dataclass
class HyperBatch:
    """What an STN model's ``forward(x, hb)`` receives.

    Attributes:
        gate: ``[batch, n]`` hypernetwork input for the STN layers.
        values: name -> ``[batch]`` hyperparameter values in their ranges.
        regularize: True in weight steps (apply dropout/noise/augmentation), False otherwise.
    """

    gate: Tensor
    values: dict[str, Tensor]
    regularize: bool

    @classmethod
    def fixed(cls, hp: StnHyperparameters, batch: int, centered: bool = False) -> "HyperBatch":
        """The batch for evaluation at the current hyperparameters (no perturbation, no regularisation)."""
        u = hp.sample(batch, perturb=False).detach()
        return cls(u - u if centered else u, dict(zip(hp.names, hp.to_range(u).unbind(-1))), False)

    def dropout(self, x: Tensor, name: str) -> Tensor:
        """Dropout with a per-example rate; identity when not regularising or ``name`` is not tuned."""
        if not self.regularize or name not in self.values:
            return x
        p = self.values[name].detach().clamp(0.0, 0.99).view(-1, *([1] * (x.dim() - 1)))
        keep = (torch.rand_like(x) >= p).to(x.dtype)
        return x * keep / (1 - p)

    def noise(self, x: Tensor, name: str) -> Tensor:
        """Additive Gaussian noise with a per-example standard deviation."""
        if not self.regularize or name not in self.values:
            return x
        std = self.values[name].detach().clamp(min=0.0).view(-1, *([1] * (x.dim() - 1)))
        return x + std * torch.randn_like(x)

    def shift(self, images: Tensor, name: str) -> Tensor:
        """Random integer translation of ``[B, C, H, W]`` images by up to the (discrete) value pixels."""
        if not self.regularize or name not in self.values:
            return images
        b, _, h, w = images.shape
        s = self.values[name].detach().clamp(min=0.0).floor()
        offs = torch.floor(torch.rand(b, 2, device=images.device) * (2 * s[:, None] + 1)) - s[:, None]
        theta = torch.zeros(b, 2, 3, device=images.device, dtype=images.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = -2 * offs[:, 0] / w
        theta[:, 1, 2] = -2 * offs[:, 1] / h
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)


class _Gate(nn.Module):
    def __init__(self, n_hyper: int, out: int) -> None:
        super().__init__()
        if n_hyper < 1:
            raise ValueError(f"n_hyper must be >= 1, got {n_hyper}")
        self.n_hyper = n_hyper
        self.weight_gate = nn.Linear(n_hyper, out, bias=False)
        self.bias_gate = nn.Linear(n_hyper, out, bias=False)
        for lin in (self.weight_gate, self.bias_gate):
            nn.init.normal_(lin.weight, std=0.01)

    def _gates(self, gate: Tensor, batch: int) -> tuple[Tensor, Tensor]:
        if gate.dim() != 2 or gate.shape[1] != self.n_hyper or gate.shape[0] != batch:
            raise ValueError(f"gate must have shape [{batch}, {self.n_hyper}], got {list(gate.shape)}")
        return self.weight_gate(gate), self.bias_gate(gate)


class StnLinear(_Gate):
    """A linear layer whose output is gated by the hyperparameters through a linear hypernetwork.

    Example:
        >>> layer = StnLinear(5, 3, n_hyper=2)
        >>> layer(torch.randn(4, 5), torch.zeros(4, 2)).shape
        torch.Size([4, 3])
    """

    def __init__(self, in_features: int, out_features: int, n_hyper: int) -> None:
        super().__init__(n_hyper, out_features)
        self.base = nn.Linear(in_features, out_features)
        self.hyper = nn.Linear(in_features, out_features, bias=False)
        self.hyper_bias = nn.Parameter(torch.zeros(out_features))
        nn.init.uniform_(self.hyper_bias, -1 / math.sqrt(in_features), 1 / math.sqrt(in_features))

    def forward(self, x: Tensor, gate: Tensor) -> Tensor:
        s_w, s_b = self._gates(gate, x.shape[0])
        return self.base(x) + s_w * self.hyper(x) + s_b * self.hyper_bias


class StnConv2d(_Gate):
    """A 2-d convolution gated per output channel by the hyperparameters.

    Example:
        >>> conv = StnConv2d(1, 4, 3, n_hyper=2, padding=1)
        >>> conv(torch.randn(2, 1, 8, 8), torch.zeros(2, 2)).shape
        torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_hyper: int,
                 stride: int = 1, padding: int = 0) -> None:
        super().__init__(n_hyper, out_channels)
        self.base = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        self.hyper = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        fan_in = in_channels * kernel_size * kernel_size
        bound = 1 / math.sqrt(fan_in)
        self.hyper_bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def forward(self, x: Tensor, gate: Tensor) -> Tensor:
        s_w, s_b = self._gates(gate, x.shape[0])
        return self.base(x) + s_w[:, :, None, None] * self.hyper(x) + (s_b * self.hyper_bias)[:, :, None, None]


class StnMLP(nn.Module):
    """An MLP of :class:`StnLinear` layers with per-layer dropout and input noise as tuned hyperparameters.

    Tuned names it understands (any subset): ``input_noise`` (std of Gaussian noise on the input),
    ``dropout0`` (on the input), ``dropout1``, ``dropout2``, ... (after hidden layer 1, 2, ...).

    Example:
        >>> hp = StnHyperparameters({"dropout1": Hyper(0.0, 0.8, init=0.2)})
        >>> StnMLP(64, [32], 10, hp)(torch.randn(3, 64), HyperBatch.fixed(hp, 3)).shape
        torch.Size([3, 10])
    """

    def __init__(self, in_features: int, hidden: Sequence[int], n_outputs: int, hparams: StnHyperparameters) -> None:
        super().__init__()
        sizes = [in_features, *hidden, n_outputs]
        self.layers = nn.ModuleList(StnLinear(a, b, len(hparams)) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: Tensor, hb: HyperBatch) -> Tensor:
        x = hb.noise(x, "input_noise")
        for i, layer in enumerate(self.layers):
            x = hb.dropout(x, f"dropout{i}")
            x = layer(x, hb.gate)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class StnConvNet(nn.Module):
    """A small CNN for ``[B, 1, H, W]`` images: two :class:`StnConv2d` blocks and an :class:`StnLinear` head.

    Tuned names it understands: ``shift`` (discrete translation augmentation, pixels),
    ``input_noise``, ``dropout0`` (after the first conv block), ``dropout1`` (before the head).

    Example:
        >>> hp = StnHyperparameters({"shift": Hyper(0, 2, init=1, discrete=True), "dropout1": Hyper(0, 0.8, init=0.2)})
        >>> StnConvNet(8, 10, hp)(torch.randn(2, 1, 8, 8), HyperBatch.fixed(hp, 2)).shape
        torch.Size([2, 10])
    """

    def __init__(self, size: int, n_outputs: int, hparams: StnHyperparameters, channels: int = 16) -> None:
        super().__init__()
        n = len(hparams)
        self.conv1 = StnConv2d(1, channels, 3, n, padding=1)
        self.conv2 = StnConv2d(channels, 2 * channels, 3, n, padding=1)
        self.head = StnLinear(2 * channels * (size // 2) ** 2, n_outputs, n)

    def forward(self, x: Tensor, hb: HyperBatch) -> Tensor:
        x = hb.noise(hb.shift(x, "shift"), "input_noise")
        x = hb.dropout(F.relu(self.conv1(x, hb.gate)), "dropout0")
        x = F.max_pool2d(F.relu(self.conv2(x, hb.gate)), 2).flatten(1)
        return self.head(hb.dropout(x, "dropout1"), hb.gate)


@dataclass
class StnResult:
    """What :meth:`StnTrainer.fit` returns.

    Attributes:
        schedule: one dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, the hyperparameter
            values and their perturbation scales (``sigma/<name>``).
        hyperparameters: the final values.
        val_loss: validation loss at the final hyperparameters: of the last epoch, or of the best one with
            ``fit(..., restore_best=True)``.
        train_examples, val_examples: examples processed by weight steps and by hyperparameter steps.
        seconds: wall time of ``fit``.
        trial_number: the study trial the schedule was recorded to, if any.
        extra: ``final_val_loss`` (of the last epoch), ``best_epoch`` (the epoch ``val_loss`` belongs to) and
            ``cooldown_train_examples`` (the part of ``train_examples`` trained without perturbation).
    """

    schedule: list[dict[str, float]]
    hyperparameters: dict[str, float]
    val_loss: float
    train_examples: int = 0
    val_examples: int = 0
    seconds: float = 0.0
    trial_number: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class StnTrainer:
    """Alternate weight steps on training data with hyperparameter steps on validation data.

    Args:
        model: an ``nn.Module`` with ``forward(x, hb: HyperBatch)`` built from STN layers.
        hparams: the :class:`StnHyperparameters` it reads.
        lr: Adam learning rate of the weights (or pass ``weight_optimizer``).
        hyper_lr: Adam learning rate of the hyperparameters and their scales. The paper uses about 3e-3; the
            default 1e-2 scored lower validation loss on the digits benchmark on both seed sets (10 seeds:
            0.073 against 0.084).
        train_steps, val_steps: ``T_train`` weight steps then ``T_val`` hyperparameter steps per cycle.
        entropy_weight: ``tau`` of the entropy bonus on the perturbation scales.
        warmup_epochs: epochs of weight steps only, before any hyperparameter step.
        centered: Delta-STN's centred hypernetwork input ``lam - lam_current``.
        linearize: Delta-STN's linearised training (needs ``centered``). The base weights take their step at
            the current, unperturbed hyperparameters, so the perturbation no longer regularises the model
            itself; the response part (hyper weights and gates) learns from the perturbed loss of the
            network's first-order expansion in the perturbation, ``y(0) + J (lam - lam_current)``, its
            Jacobian-vector product computed with forward-mode autodiff. A weight step then costs about three
            ordinary ones (two passes, one of them carrying a tangent). Hyperparameter steps with learned scales
            use the same expansion.
        tune_scales: learn the perturbation scales (else keep ``init_scale``). Learning them has two costs: the
            hyperparameter step is then taken at perturbed values, a noisier hypergradient, and Adam normalises
            the small validation gradient on ``log sigma`` so that the entropy bonus moves it by about ``hyper_lr``
            per step whatever ``tau`` is (Delta-STN's scales grew from 0.5 to about 2 on digits). On the digits
            benchmark the two were indistinguishable over 10 seeds (``benchmarks/results/online_stn.md``).
        loss_fn: ``loss_fn(outputs, targets)``, mean over the batch; cross-entropy by default.
        study: an hpo ``Study`` or ``optuna.Study``; the schedule is recorded into one of its trials (value: final
            validation loss, no params). Give it a study of its own, so that ``best_*`` of a search stays about
            the search (the built-in strategies tolerate the param-less trial).
        seed: seeds torch's global generator at the start of ``fit`` (perturbations, dropout masks).
        cooldown_epochs: the last ``cooldown_epochs`` epochs of ``fit`` take no hyperparameter steps and train
            the weights at the current hyperparameters without perturbation (sigma 0; the regularisers stay on at
            those values), so that the returned model is trained at the values the STN chose. Why: the
            per-example perturbation lets the hypernetwork learn a best response, but the model pays for it (on
            digits, with the values held at 0.3 for a whole run, about 0.015 of validation loss). It costs less
            than the epochs it replaces (no validation steps). On the digits benchmark (10 seeds, 10 or 15 of 60
            epochs) it did not lower the best-epoch validation loss: at the values the STN adapts to, the
            perturbation is part of the regularisation, and the schedule is still rising when it is frozen
            (``benchmarks/results/online_stn.md``). The schedule gets a ``cooldown`` column (1.0 in those epochs).

    Example:
        >>> hp = StnHyperparameters({"dropout1": Hyper(0.0, 0.8, init=0.2)})
        >>> trainer = StnTrainer(StnMLP(4, [8], 2, hp), hp, train_steps=3, centered=True)
        >>> trainer.train_steps, trainer.centered
        (3, True)
    """

    def __init__(self, model: nn.Module, hparams: StnHyperparameters, *, lr: float = 1e-3, hyper_lr: float = 1e-2,
                 train_steps: int = 2, val_steps: int = 1, entropy_weight: float = 1e-3, warmup_epochs: int = 0,
                 centered: bool = False, linearize: bool = False, tune_scales: bool = True,
                 loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
                 weight_optimizer: torch.optim.Optimizer | None = None, study: Any = None,
                 seed: int | None = None, cooldown_epochs: int = 0) -> None:
        if not isinstance(hparams, StnHyperparameters):
            raise TypeError(f"hparams must be StnHyperparameters, got {type(hparams).__name__}")
        if train_steps < 1 or val_steps < 0 or warmup_epochs < 0 or cooldown_epochs < 0:
            raise ValueError(f"need train_steps >= 1, val_steps >= 0, warmup_epochs >= 0, cooldown_epochs >= 0; got "
                             f"{train_steps}, {val_steps}, {warmup_epochs}, {cooldown_epochs}")
        if entropy_weight < 0 or lr <= 0 or hyper_lr <= 0:
            raise ValueError("lr and hyper_lr must be > 0 and entropy_weight >= 0")
        hp_ids = {id(p) for p in hparams.parameters()}
        if any(id(p) in hp_ids for p in model.parameters()):
            raise ValueError("hparams must not be registered inside model; pass it separately")
        self.model, self.hparams = model, hparams
        self.train_steps, self.val_steps = int(train_steps), int(val_steps)
        self.entropy_weight, self.warmup_epochs = float(entropy_weight), int(warmup_epochs)
        self.cooldown_epochs = int(cooldown_epochs)
        if linearize and not centered:
            raise ValueError("linearize=True is Delta-STN's linearised training and needs centered=True")
        self.centered, self.tune_scales, self.loss_fn = bool(centered), bool(tune_scales), loss_fn
        self.linearize = bool(linearize)
        response = {id(p) for m in model.modules() if isinstance(m, _Gate)
                    for p in m.parameters() if not any(p is q for q in getattr(m, "base").parameters())}
        self._response_params = [p for p in model.parameters() if id(p) in response]
        self._base_params = [p for p in model.parameters() if id(p) not in response]
        self.weight_optimizer = weight_optimizer or torch.optim.Adam(model.parameters(), lr=lr)
        hyper_params = [hparams.unconstrained] + ([hparams.log_scale] if tune_scales else [])
        self.hyper_optimizer = torch.optim.Adam(hyper_params, lr=hyper_lr)
        self.study, self.seed = study, seed

    def _batch(self, x: Tensor, *, perturb: bool, regularize: bool, grad: bool) -> HyperBatch:
        hp = self.hparams
        u = hp.sample(x.shape[0], perturb=perturb)
        if not grad:
            u = u.detach()
        gate = u - hp.unconstrained.detach() if self.centered else u
        return HyperBatch(gate, dict(zip(hp.names, hp.to_range(u.detach()).unbind(-1))), regularize)

    def weight_step(self, x: Tensor, y: Tensor, perturb: bool = True) -> float:
        """One step on the weights at per-example perturbed hyperparameters, regularisers on.

        ``perturb=False`` (the cool-down) trains at the current hyperparameters, every example alike.
        """
        self.model.train()
        self.weight_optimizer.zero_grad()
        if self.linearize and perturb:
            loss = self._linearized_weight_step(x, y)
        else:
            loss = self.loss_fn(self.model(x, self._batch(x, perturb=perturb, regularize=True, grad=False)), y)
            loss.backward()
        self.weight_optimizer.step()
        return float(loss.detach())

    def _linearized_weight_step(self, x: Tensor, y: Tensor) -> Tensor:
        hp = self.hparams
        current = hp.sample(x.shape[0], perturb=False).detach()
        values = dict(zip(hp.names, hp.to_range(current).unbind(-1)))
        loss = self.loss_fn(self.model(x, HyperBatch(torch.zeros_like(current), values, True)), y)
        _accumulate(loss, self._base_params)
        perturbed = hp.sample(x.shape[0], perturb=True).detach()
        out, tangent = self._linearized(x, perturbed - current, perturbed, regularize=True)
        _accumulate(self.loss_fn(out.detach() + tangent, y), self._response_params)
        return loss

    def _linearized(self, x: Tensor, delta: Tensor, perturbed: Tensor, regularize: bool) -> tuple[Tensor, Tensor]:
        """The network at the current hyperparameters and its derivative along ``delta`` (forward mode)."""
        values = dict(zip(self.hparams.names, self.hparams.to_range(perturbed.detach()).unbind(-1)))
        with fwAD.dual_level():
            gate = fwAD.make_dual(torch.zeros_like(delta), delta)
            primal, tangent = fwAD.unpack_dual(self.model(x, HyperBatch(gate, values, regularize)))
        return primal, tangent

    def hyper_step(self, x: Tensor, y: Tensor) -> float:
        """One step on the hyperparameters: validation loss through the hypernetwork minus the entropy bonus."""
        self.model.eval()
        self.hyper_optimizer.zero_grad()
        if self.linearize and self.tune_scales:
            u = self.hparams.sample(x.shape[0], perturb=True)
            out, tangent = self._linearized(x, u - self.hparams.unconstrained.detach(), u, regularize=False)
            loss = self.loss_fn(out + tangent, y)
        else:
            hb = self._batch(x, perturb=self.tune_scales, regularize=False, grad=True)
            loss = self.loss_fn(self.model(x, hb), y)
        (loss - self.entropy_weight * self.hparams.entropy()).backward()
        self.hyper_optimizer.step()
        self.model.zero_grad(set_to_none=True)
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
        """Mean loss over ``batches`` at the current hyperparameters, without regularisation."""
        self.model.eval()
        total, n = 0.0, 0
        for x, y in batches:
            out = self.model(x, HyperBatch.fixed(self.hparams, x.shape[0], self.centered))
            total += float(self.loss_fn(out, y)) * x.shape[0]
            n += x.shape[0]
        if n == 0:
            raise ValueError("evaluate got no batches; pass a non-empty validation loader")
        return total / n

    def fit(self, train: Iterable[tuple[Tensor, Tensor]], val: Iterable[tuple[Tensor, Tensor]], epochs: int,
            callback: Callable[[dict[str, float]], None] | None = None, restore_best: bool = False) -> StnResult:
        """Train for ``epochs`` passes over ``train``; ``val`` is re-iterated as needed.

        ``train`` and ``val`` are re-iterable collections of ``(x, y)`` batches (a ``DataLoader`` or
        a list). After each epoch the validation loss at the current hyperparameters is logged
        (and reported to the study, when one was given).

        With ``restore_best`` the model and hyperparameters are put back, at the end, to the epoch
        with the lowest logged validation loss (early stopping by checkpoint; the epoch is
        ``result.extra["best_epoch"]`` and ``result.val_loss`` is its loss). The per-epoch
        evaluation is needed for the schedule anyway, so this costs only the copies. The
        optimizers keep their last state.
        """
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        if self.cooldown_epochs > epochs:
            raise ValueError(f"cooldown_epochs={self.cooldown_epochs} is more than epochs={epochs}")
        if self.seed is not None:
            torch.manual_seed(self.seed)
        start = time.perf_counter()
        recorder = None
        if self.study is not None:
            recorder = ScheduleRecorder(self.study, attrs={
                "method": "delta-stn" if self.centered else "stn", "hyperparameters": self.hparams.names,
                "train_steps": self.train_steps, "val_steps": self.val_steps, "warmup_epochs": self.warmup_epochs,
                "cooldown_epochs": self.cooldown_epochs})
        val_iter = _cycle(val)
        schedule: list[dict[str, float]] = []
        n_train = n_val = n_cool = 0
        step = 0
        best: tuple[float, int, dict, dict] | None = None
        try:
            for epoch in range(epochs):
                losses = []
                cooling = epoch >= epochs - self.cooldown_epochs
                for x, y in train:
                    losses.append(self.weight_step(x, y, perturb=not cooling))
                    n_train += x.shape[0]
                    n_cool += x.shape[0] if cooling else 0
                    step += 1
                    if not cooling and epoch >= self.warmup_epochs and step % self.train_steps == 0:
                        for _ in range(self.val_steps):
                            xv, yv = next(val_iter)
                            self.hyper_step(xv, yv)
                            n_val += xv.shape[0]
                row = {"epoch": epoch, "train_loss": sum(losses) / max(len(losses), 1),
                       "val_loss": self.evaluate(val), **self.hparams.values(),
                       **{f"sigma/{k}": v for k, v in self.hparams.scales().items()}}
                if self.cooldown_epochs:
                    row["cooldown"] = float(cooling)
                schedule.append(row)
                if restore_best and (best is None or row["val_loss"] < best[0]):
                    best = (row["val_loss"], epoch, _copy_state(self.model), _copy_state(self.hparams))
                if recorder is not None:
                    recorder.log(epoch, row["val_loss"], {k: v for k, v in row.items() if k != "epoch"})
                if callback is not None:
                    callback(row)
        except BaseException:
            if recorder is not None:
                recorder.finish(None)
            raise
        final_val = schedule[-1]["val_loss"]
        extra: dict[str, Any] = {"final_val_loss": final_val, "best_epoch": len(schedule) - 1,
                                 "cooldown_train_examples": n_cool}
        if best is not None:
            final_val, extra["best_epoch"] = best[0], best[1]
            self.model.load_state_dict(best[2])
            self.hparams.load_state_dict(best[3])
        result = StnResult(schedule, self.hparams.values(), final_val, n_train, n_val,
                           time.perf_counter() - start, extra=extra)
        if recorder is not None:
            recorder.set_attr("final_hyperparameters", result.hyperparameters)
            recorder.set_attr("examples", {"train": n_train, "val": n_val})
            recorder.finish(result.val_loss)
            result.trial_number = recorder.number
        return result


def _accumulate(loss: Tensor, params: Sequence[nn.Parameter]) -> None:
    grads = torch.autograd.grad(loss, params, retain_graph=False, allow_unused=True)
    for p, g in zip(params, grads):
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g


def _copy_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _cycle(batches: Iterable) -> Iterable:
    while True:
        empty = True
        for item in batches:
            empty = False
            yield item
        if empty:
            raise ValueError("the validation loader yielded no batches")
