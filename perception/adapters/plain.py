"""The standard (Houlsby-style) bottleneck adapter: ``X' = W_up GELU(W_down X) + X``.

The baseline the temporal adapters are measured against: per-token, so it sees neither
neighbouring tokens nor other time steps. W_up starts at zero (the adapter starts as the
identity) and W_down as in AdaTAD's code (truncated normal, std 0.02), like the temporal
adapters. It takes the token grid only to share the other adapters' interface.
"""

from __future__ import annotations

import torch
from torch import nn

from perception.adapters.common import TokenGrid, bottleneck_width, init_adatad_


class PlainAdapter(nn.Module):
    """Bottleneck MLP with a residual connection, after one backbone block."""

    def __init__(self, dim: int, bottleneck_ratio: float = 0.25) -> None:
        super().__init__()
        hidden = bottleneck_width(dim, bottleneck_ratio)
        self.hidden = hidden
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        init_adatad_(self.down, self.up)

    def forward(self, x: torch.Tensor, grid: TokenGrid | None = None) -> torch.Tensor:
        if grid is not None:
            grid.check(x)
        return x + self.up(self.act(self.down(x)))
