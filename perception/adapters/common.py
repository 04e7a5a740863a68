"""What every adapter shares: the token layout it is handed, its bottleneck width, and the
reshapes that let a convolution run over time or over the token grid.

The backbone runs a long video as a batch of fixed-length chunks, so the tokens an adapter
sees are ``(batch * chunks, time * height * width, channels)``. A :class:`TokenGrid` says how
to undo that flattening; :func:`over_time` runs a module along the *whole* video (all chunks
concatenated, so a temporal kernel crosses chunk boundaries), :func:`over_space` along the
token grid of each time step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


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
