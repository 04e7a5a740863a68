"""Dual-path Spatial-Temporal Adapter (DSTA) from the MMAD paper.

    X_bar = GELU(W_down X)
    X_s   = S-DWConv(X_bar) + X_bar      depthwise conv over the token grid of one time step
    X_t   = T-DWConv(X_bar) + X_bar      depthwise conv over time, per token position
    X'    = alpha * W_up [beta * X_s ; gamma * X_t] + X

The paper states a 1x1 spatial kernel, which mixes no neighbouring tokens and makes the
spatial path a per-channel scale; we make the kernel an option and default to 3x3 so the
spatial path sees the body-part neighbourhood a micro-action lives in. ``spatial_kernel=1``
reproduces the paper's literal description.

W_up is zero-initialised so a freshly inserted adapter is the identity and the frozen
backbone's features are untouched at the start of training.

Long videos are cut into fixed-length chunks for the backbone (its position embeddings are
defined for one chunk), but the temporal convolution here runs on the concatenated sequence
of all chunks of a video, so information crosses chunk boundaries.
"""

from __future__ import annotations

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


class DSTAdapter(nn.Module):
    """One DSTA block; see the module docstring for the equations."""

    def __init__(
        self,
        dim: int,
        bottleneck_ratio: float = 0.25,
        spatial_kernel: int = 3,
        temporal_kernel: int = 3,
        init_alpha: float = 1.0,
    ) -> None:
        super().__init__()
        if spatial_kernel % 2 == 0 or temporal_kernel % 2 == 0:
            raise ValueError(
                f"DSTA kernels must be odd so the output keeps the input's length and grid; "
                f"got spatial_kernel={spatial_kernel}, temporal_kernel={temporal_kernel}"
            )
        hidden = max(1, round(dim * bottleneck_ratio))
        self.hidden = hidden
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.spatial_conv = nn.Conv2d(
            hidden, hidden, spatial_kernel, padding=spatial_kernel // 2, groups=hidden
        )
        self.temporal_conv = nn.Conv1d(
            hidden, hidden, temporal_kernel, padding=temporal_kernel // 2, groups=hidden
        )
        self.up = nn.Linear(2 * hidden, dim)
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))
        self.beta = nn.Parameter(torch.tensor(1.0))
        self.gamma = nn.Parameter(torch.tensor(1.0))
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
        b, k, t, h, w = grid.batch, grid.chunks, grid.time, grid.height, grid.width
        if x.shape[0] != b * k or x.shape[1] != grid.tokens_per_chunk:
            raise ValueError(f"token tensor {tuple(x.shape)} does not match {grid}")
        z = self.act(self.down(x))  # (b*k, t*h*w, d)
        d = z.shape[-1]

        # Spatial path: each time step's token grid is an image with d channels.
        zs = z.reshape(b * k * t, h, w, d).permute(0, 3, 1, 2)
        zs = self.spatial_conv(zs) + zs
        zs = zs.permute(0, 2, 3, 1).reshape(b * k, t * h * w, d)

        # Temporal path: concatenate all chunks of a video along time so the convolution
        # crosses chunk boundaries, then run it per spatial position.
        zt = z.reshape(b, k * t, h * w, d).permute(0, 2, 3, 1).reshape(b * h * w, d, k * t)
        zt = self.temporal_conv(zt) + zt
        zt = zt.reshape(b, h * w, d, k * t).permute(0, 3, 1, 2).reshape(b * k, t * h * w, d)

        update = self.up(torch.cat([self.beta * zs, self.gamma * zt], dim=-1))
        return x + self.alpha * update
