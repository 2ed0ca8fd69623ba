"""Where training runs: ``device="auto"`` picks CUDA (bf16, or fp16 with loss scaling) or the CPU.

On the CPU the thread count is set once: ``threads`` if given, else ``OMP_NUM_THREADS`` if set,
else the cores this process may use. Several worker processes on one machine should pass
``threads=cores // workers``.

Example:
    >>> import torch
    >>> from hpo.finetune.device import resolve_device
    >>> info = resolve_device("cpu", threads=torch.get_num_threads())
    >>> info.device.type, info.amp_dtype
    ('cpu', None)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

__all__ = ["DeviceInfo", "resolve_device"]


@dataclass(frozen=True)
class DeviceInfo:
    """A torch device and its mixed-precision setting."""

    device: Any
    amp_dtype: Any  # torch.bfloat16 / torch.float16 under autocast, or None for float32
    threads: int | None

    @property
    def needs_scaler(self) -> bool:
        import torch

        return self.amp_dtype is torch.float16

    def autocast(self):
        """A context that runs the forward pass in the mixed precision of this device."""
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def describe(self) -> str:
        import torch

        precision = {None: "float32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[self.amp_dtype]
        if self.device.type == "cuda":
            return f"{self.device} {torch.cuda.get_device_name(self.device)} ({precision})"
        return f"{self.device} ({precision}, {self.threads} thread{'s' if self.threads != 1 else ''})"


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def resolve_device(device: str = "auto", *, threads: int | None = None, precision: str = "auto") -> DeviceInfo:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` to a :class:`DeviceInfo`.

    ``precision``: ``"auto"`` (bf16 where the GPU supports it, else fp16; float32 on CPU),
    ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """
    import torch

    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be 'auto', 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    name = str(device).lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but torch sees no CUDA GPU here; use device='auto' or 'cpu'")
        dev = torch.device(name)
        if precision == "auto":
            amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        return DeviceInfo(dev, amp, None)
    if name == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device='mps' but the MPS backend is not available; use device='auto' or 'cpu'")
        return DeviceInfo(torch.device("mps"), None, None)
    if name != "cpu":
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    n = threads or _default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    amp = torch.bfloat16 if precision == "bf16" else None
    return DeviceInfo(torch.device("cpu"), amp, n)
