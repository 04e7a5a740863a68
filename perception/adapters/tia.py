"""Temporal-Informative Adapter (TIA) from AdaTAD (Liu et al., CVPR 2024).

    X_bar = GELU(W_down X)
    X_hat = PW(T-DWConv(X_bar)) + X_bar     depthwise conv over time per token position,
                                             then a 1x1 channel-mixing conv (``pointwise``)
    X'    = alpha * W_up X_hat + X

The paper's equation has no 1x1 conv; AdaTAD's released implementation has one after the
depthwise conv, and with it the adapter's parameter count on VideoMAE-S is the 0.96M the MMAD
paper reports for TIA (without it: 0.86M). ``pointwise=False`` gives the paper's equation.

As in DSTA, the temporal conv runs on all chunks of a video concatenated, so it crosses chunk
boundaries. Initialised as AdaTAD's code (:func:`~perception.adapters.common.init_adatad_`):
W_down truncated normal (std 0.02), the depthwise conv normal with std sqrt(2/3), the 1x1 conv
normal with std sqrt(2/hidden), zero biases, W_up zero (the adapter starts as the identity),
alpha learnable from 1.
"""

from __future__ import annotations

import torch
from torch import nn

from perception.adapters.common import TokenGrid, bottleneck_width, check_odd, init_adatad_, over_time


class TIAdapter(nn.Module):
    """One TIA block; see the module docstring for the equations."""

    def __init__(
        self,
        dim: int,
        bottleneck_ratio: float = 0.25,
        temporal_kernel: int = 3,
        pointwise: bool = True,
        init_alpha: float = 1.0,
    ) -> None:
        super().__init__()
        check_odd(temporal_kernel=temporal_kernel)
        hidden = bottleneck_width(dim, bottleneck_ratio)
        self.hidden = hidden
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.temporal_conv = nn.Conv1d(
            hidden, hidden, temporal_kernel, padding=temporal_kernel // 2, groups=hidden
        )
        self.pointwise = nn.Linear(hidden, hidden) if pointwise else None  # = a 1x1 conv per token
        self.up = nn.Linear(hidden, dim)
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))
        pointwise_convs = [self.pointwise] if self.pointwise is not None else []
        init_adatad_(self.down, self.up, depthwise=[self.temporal_conv], pointwise=pointwise_convs)

    def forward(self, x: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
        grid.check(x)
        z = self.act(self.down(x))
        zt = over_time(z, grid, self.temporal_conv)
        if self.pointwise is not None:
            zt = self.pointwise(zt)
        return x + self.alpha * self.up(zt + z)
