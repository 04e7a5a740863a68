"""Fusing per-step features of several cues (RGB, flow, skeleton) before the detection head.

Every fusion maps ``{cue: (B, C_cue, T)}`` to named *branches* ``{branch: (B, C, T)}``; the
detector gives each branch its own pyramid and head and averages their outputs. Early
fusion (``concat``, ``gated``) has one branch; ``late`` fusion has one per cue, so each
cue predicts on its own and only the scores are combined (the classic two-stream way).

Each class is built with the stream widths by the detector builder; the configs give the
rest (``fusion=concat|gated|late``, ``_partial_: true``).
"""

from __future__ import annotations

import torch
from torch import nn


class ConcatFusion(nn.Module):
    """Channel concatenation: the head's first convolution learns the mixing."""

    def __init__(self, stream_dims: dict[str, int]) -> None:
        super().__init__()
        self.names = list(stream_dims)
        self.branch_dims = {"fused": sum(stream_dims.values())}

    def forward(self, streams: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"fused": torch.cat([streams[n] for n in self.names], dim=1)}


class GatedFusion(nn.Module):
    """Each cue projected to a common width and weighted by a per-step sigmoid gate computed
    from all cues: a cue that is uninformative at some moment (a masked skeleton, a still
    flow field) can be turned down there instead of everywhere."""

    def __init__(self, stream_dims: dict[str, int], dim: int = 128) -> None:
        super().__init__()
        self.names = list(stream_dims)
        self.project = nn.ModuleDict({n: nn.Conv1d(c, dim, 1) for n, c in stream_dims.items()})
        self.gate = nn.Conv1d(dim * len(self.names), len(self.names), 3, padding=1)
        self.branch_dims = {"fused": dim}

    def forward(self, streams: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        projected = [self.project[n](streams[n]) for n in self.names]
        gates = torch.sigmoid(self.gate(torch.cat(projected, dim=1)))  # (B, S, T)
        return {"fused": sum(gates[:, i : i + 1] * p for i, p in enumerate(projected))}


class LateFusion(nn.Module):
    """No mixing of features: one branch per cue, combined at the score level."""

    def __init__(self, stream_dims: dict[str, int]) -> None:
        super().__init__()
        self.branch_dims = dict(stream_dims)

    def forward(self, streams: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(streams)
