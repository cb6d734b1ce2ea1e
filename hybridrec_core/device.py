"""Resolve the user's device setting ("auto", "cpu", "cuda", "cuda:N") to a torch.device.

Kept apart from the trainer so scoring code, benchmarks and the CLI agree on one rule.
"""

from __future__ import annotations

import re

import torch

_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda[:N]`` must exist (clear error otherwise)."""
    if isinstance(spec, torch.device):
        return spec
    text = (spec or "auto").strip().lower()
    if not _PATTERN.match(text):
        raise ValueError(f"device {spec!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available (use 'auto' or 'cpu')")
        dev = torch.device(text)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    return torch.device("cpu")


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Mixed-precision dtype for ``device``: bf16 where supported, else fp16, None on CPU/"fp32"."""
    if device.type != "cuda" or precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16
