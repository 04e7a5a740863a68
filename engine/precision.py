"""Numeric precision of the forward pass: fp32, or bf16/fp16 autocast.

bf16 keeps fp32's exponent range and needs no loss scaling (and runs on CPUs too); fp16 has a
narrow exponent, so small gradients underflow unless a gradient scaler multiplies the loss
first. Losses are best computed in float32 either way (the models do).
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for ``precision`` on ``device``'s type, or nothing for fp32."""
    check_precision(precision)
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A gradient scaler that is active only for fp16 (a no-op pass-through otherwise)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
