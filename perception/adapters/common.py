"""What every adapter shares: the token layout it is handed, its bottleneck width, its
initialisation, and the reshapes that let a convolution run over time or over the token grid.

The backbone runs a long video as a batch of fixed-length chunks, so the tokens an adapter
sees are ``(batch * chunks, time * height * width, channels)``. A :class:`TokenGrid` says how
to undo that flattening; :func:`over_time` runs a module along the *whole* video (all chunks
concatenated, so a temporal kernel crosses chunk boundaries), :func:`over_space` along the
token grid of each time step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class TokenGrid:
    """How a (batch * chunks, time * height * width, channels) token tensor is laid out."""

    batch: int
    chunks: int
    time: int
    height: int
    width: int

    @property
    def tokens_per_chunk(self) -> int:
        return self.time * self.height * self.width

    def check(self, x: torch.Tensor) -> None:
        """Fail loudly on a layout mismatch: a silent reshape would mix videos or time steps."""
        if x.dim() != 3 or x.shape[0] != self.batch * self.chunks or x.shape[1] != self.tokens_per_chunk:
            raise ValueError(f"token tensor {tuple(x.shape)} does not match {self}")


def bottleneck_width(dim: int, ratio: float) -> int:
    """Adapter width: ``ratio`` x the backbone width (0.25 in AdaTAD and MMAD), at least 1."""
    if ratio <= 0:
        raise ValueError(f"bottleneck_ratio must be positive, got {ratio}")
    return max(1, round(dim * ratio))


def init_adatad_(
    down: nn.Linear,
    up: nn.Linear,
    depthwise: Iterable[nn.Conv1d | nn.Conv2d] = (),
    pointwise: Iterable[nn.Linear] = (),
) -> None:
    """AdaTAD's initialisation (OpenTAD's ``vit_adapter.Adapter``), for every adapter alike:

    - down-projection: truncated normal, std 0.02, zero bias (small: the bottleneck starts near
      GELU's linear range);
    - depthwise convs: normal with std sqrt(2 / kernel taps) (He for a fan-in of the kernel's
      taps: sqrt(2/3) for AdaTAD's temporal kernel 3; sqrt(2/9) for DSTA's 3x3 spatial one),
      zero bias;
    - 1x1 (pointwise) convs: normal with std sqrt(2 / channels), zero bias;
    - up-projection: all zero, so the adapter starts as the identity and the frozen backbone's
      features are untouched at the first step. (The output scale alpha starts at 1.)

    PyTorch's default (Kaiming-uniform with a=sqrt(5)) would give the depthwise kernels a std of
    1/sqrt(3 * taps), about a third of AdaTAD's, so the temporal path would start much weaker.
    """
    nn.init.trunc_normal_(down.weight, std=0.02)
    nn.init.zeros_(down.bias)
    for conv in depthwise:
        taps = math.prod(conv.kernel_size) * conv.weight.shape[1]  # weight (out, in/groups, *kernel)
        nn.init.normal_(conv.weight, std=math.sqrt(2.0 / taps))
        nn.init.zeros_(conv.bias)
    for linear in pointwise:
        nn.init.normal_(linear.weight, std=math.sqrt(2.0 / linear.in_features))
        nn.init.zeros_(linear.bias)
    nn.init.zeros_(up.weight)
    nn.init.zeros_(up.bias)


def check_odd(**kernels: int) -> None:
    """Odd kernels with ``k // 2`` padding keep every sequence's length and grid unchanged."""
    even = {name: k for name, k in kernels.items() if k < 1 or k % 2 == 0}
    if even:
        raise ValueError(f"adapter kernels must be odd and positive, got {even}")


def over_time(z: torch.Tensor, grid: TokenGrid, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn`` to ``(batch * height * width, channels, chunks * time)`` sequences, one per
    token position of each video, and return the result in token layout."""
    b, k, t, h, w = grid.batch, grid.chunks, grid.time, grid.height, grid.width
    d = z.shape[-1]
    seq = z.reshape(b, k * t, h * w, d).permute(0, 2, 3, 1).reshape(b * h * w, d, k * t)
    seq = fn(seq)
    return seq.reshape(b, h * w, d, k * t).permute(0, 3, 1, 2).reshape(b * k, t * h * w, d)


def over_space(z: torch.Tensor, grid: TokenGrid, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn`` to ``(batch * chunks * time, channels, height, width)`` images, one per
    time step, and return the result in token layout."""
    b, k, t, h, w = grid.batch, grid.chunks, grid.time, grid.height, grid.width
    d = z.shape[-1]
    img = z.reshape(b * k * t, h, w, d).permute(0, 3, 1, 2)
    img = fn(img)
    return img.permute(0, 2, 3, 1).reshape(b * k, t * h * w, d)
