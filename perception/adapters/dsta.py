"""Dual-path Spatial-Temporal Adapter (DSTA) from the MMAD paper.

    X_bar = GELU(W_down X)
    X_s   = S-DWConv(X_bar) + X_bar      depthwise conv over the token grid of one time step
    X_t   = T-DWConv(X_bar) + X_bar      depthwise conv over time, per token position
    X'    = alpha * W_up [beta * X_s ; gamma * X_t] + X

The paper states a 1x1 spatial kernel, which mixes no neighbouring tokens and makes the
spatial path a per-channel scale; we make the kernel an option and default to 3x3 so the
spatial path sees the body-part neighbourhood a micro-action lives in. ``spatial_kernel=1``
reproduces the paper's literal description.

``pointwise=True`` (the default, as TIA's) follows each depthwise conv with a 1x1
(channel-mixing) conv, as the released code of AdaTAD's TIA does after its temporal depthwise
conv (the TIA equations in the paper omit it); with it DSTA's temporal path is exactly TIA's,
so DSTA and TIA compare like with like (``pointwise=False`` gives the paper's equations).
Initialised as TIA (:func:`~perception.adapters.common.init_adatad_`): W_down truncated normal,
depthwise convs He-normal over their taps, 1x1 convs normal with std sqrt(2/hidden), W_up zero
so a freshly inserted adapter is the identity; alpha, beta, gamma start at 1.

Long videos are cut into fixed-length chunks for the backbone (its position embeddings are
defined for one chunk), but the temporal convolution here runs on the concatenated sequence
of all chunks of a video, so information crosses chunk boundaries.
"""

from __future__ import annotations

import torch
from torch import nn

from perception.adapters.common import (
    TokenGrid,
    bottleneck_width,
    check_odd,
    init_adatad_,
    over_space,
    over_time,
)

__all__ = ["DSTAdapter", "TokenGrid"]


class DSTAdapter(nn.Module):
    """One DSTA block; see the module docstring for the equations."""

    def __init__(
        self,
        dim: int,
        bottleneck_ratio: float = 0.25,
        spatial_kernel: int = 3,
        temporal_kernel: int = 3,
        init_alpha: float = 1.0,
        pointwise: bool = True,
    ) -> None:
        super().__init__()
        check_odd(spatial_kernel=spatial_kernel, temporal_kernel=temporal_kernel)
        hidden = bottleneck_width(dim, bottleneck_ratio)
        self.hidden = hidden
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.spatial_conv = nn.Conv2d(
            hidden, hidden, spatial_kernel, padding=spatial_kernel // 2, groups=hidden
        )
        self.temporal_conv = nn.Conv1d(
            hidden, hidden, temporal_kernel, padding=temporal_kernel // 2, groups=hidden
        )
        # a 1x1 conv is a per-token linear map: applied in token layout, no reshapes needed
        self.spatial_pointwise = nn.Linear(hidden, hidden) if pointwise else None
        self.temporal_pointwise = nn.Linear(hidden, hidden) if pointwise else None
        self.up = nn.Linear(2 * hidden, dim)
        self.alpha = nn.Parameter(torch.tensor(float(init_alpha)))
        self.beta = nn.Parameter(torch.tensor(1.0))
        self.gamma = nn.Parameter(torch.tensor(1.0))
        init_adatad_(
            self.down,
            self.up,
            depthwise=[self.spatial_conv, self.temporal_conv],
            pointwise=[m for m in (self.spatial_pointwise, self.temporal_pointwise) if m is not None],
        )

    def forward(self, x: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
        grid.check(x)
        z = self.act(self.down(x))  # (b*k, t*h*w, d)
        zs = over_space(z, grid, self.spatial_conv)
        zt = over_time(z, grid, self.temporal_conv)
        if self.spatial_pointwise is not None:
            zs = self.spatial_pointwise(zs)
            zt = self.temporal_pointwise(zt)
        update = self.up(torch.cat([self.beta * (zs + z), self.gamma * (zt + z)], dim=-1))
        return x + self.alpha * update
