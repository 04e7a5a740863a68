"""Encoders that turn the flow and skeleton cues into per-step features aligned with the RGB
backbone's output: one feature per ``step_frames`` sampled frames (the backbone's tubelet),
so every stream has the same time axis and fusion is a per-step operation.

Both encoders see one video at a time, shaped ``(1, T, ...)`` with T sampled frames, and
return ``(1, out_dim, ceil(T / step_frames))`` like the backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def frames_to_steps(x: torch.Tensor, step_frames: int) -> torch.Tensor:
    """(B, C, T) per-frame features -> (B, C, ceil(T / step_frames)) by averaging each step's
    frames (the last step averages only the frames it has)."""
    b, c, t = x.shape
    steps = -(-t // step_frames)
    pad = steps * step_frames - t
    summed = F.pad(x, (0, pad)).reshape(b, c, steps, step_frames).sum(-1)
    counts = torch.full((steps,), float(step_frames), device=x.device)
    if pad:
        counts[-1] = step_frames - pad
    return summed / counts


class TemporalBlock(nn.Module):
    """Residual temporal convolution over steps, so a step's feature sees its neighbours:
    a micro-action is a motion pattern over about a second, not an instantaneous pose."""

    def __init__(self, dim: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.norm = nn.GroupNorm(1, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


class FlowEncoder(nn.Module):
    """A small CNN per flow field, pooled to a coarse grid so *where* the motion happens
    (head, hand, leg) survives, then averaged into steps and mixed over time.

    Input: (1, T, H, W, 2) float flow in pixels at the extraction size.
    """

    def __init__(
        self,
        step_frames: int,
        dim: int = 128,
        channels: tuple[int, ...] = (16, 32, 64),
        grid: int = 3,
        temporal_layers: int = 1,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.step_frames, self.out_dim, self.input_scale = step_frames, dim, input_scale
        layers: list[nn.Module] = []
        previous = 2
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.GELU()]
            previous = width
        self.cnn = nn.Sequential(*layers)
        self.grid = grid
        self.project = nn.Linear(previous * grid * grid, dim)
        self.temporal = nn.Sequential(*[TemporalBlock(dim) for _ in range(temporal_layers)])

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        b, t, h, w, _ = flow.shape
        x = flow.reshape(b * t, h, w, 2).permute(0, 3, 1, 2).float() * self.input_scale
        x = F.adaptive_avg_pool2d(self.cnn(x), self.grid).flatten(1)
        x = self.project(x).reshape(b, t, -1).transpose(1, 2)
        return self.temporal(frames_to_steps(x, self.step_frames))


class SkeletonEncoder(nn.Module):
    """Joint positions relative to the video's mean pose, joint velocities and the presence
    flag per frame, normalised with a BatchNorm over present frames (as ST-GCN normalises
    its input), then an MLP per frame, averaging into steps and temporal convolutions.

    Input: (1, T, J, C + 1) float: body-normalised coordinates (C of them) followed by a
    presence flag (1 = a person was found); coordinates of absent frames are ignored.
    """

    def __init__(
        self,
        step_frames: int,
        joints: int = 33,
        coords: int = 3,
        dim: int = 128,
        hidden: int = 256,
        temporal_layers: int = 2,
    ) -> None:
        super().__init__()
        self.step_frames, self.out_dim = step_frames, dim
        self.joints, self.coords = joints, coords
        features = 2 * joints * coords
        self.input_norm = nn.BatchNorm1d(features)
        self.mlp = nn.Sequential(nn.Linear(features + 1, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.temporal = nn.Sequential(*[TemporalBlock(dim) for _ in range(temporal_layers)])

    def joint_features(self, skeleton: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, J, C+1) -> per-frame features (B, T, 2*J*C) and presence (B, T)."""
        coords, present = skeleton[..., : self.coords], skeleton[..., 0, self.coords] > 0.5
        weight = present[..., None, None].float()
        mean_pose = (coords * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1.0)
        relative = (coords - mean_pose) * weight
        both = (present[:, 1:] & present[:, :-1])[..., None, None].float()
        velocity = F.pad((coords[:, 1:] - coords[:, :-1]) * both, (0, 0, 0, 0, 1, 0))
        b, t = present.shape
        return torch.cat([relative.reshape(b, t, -1), velocity.reshape(b, t, -1)], -1), present

    def forward(self, skeleton: torch.Tensor) -> torch.Tensor:
        features, present = self.joint_features(skeleton.float())
        normalised = torch.zeros_like(features)
        usable = int(present.sum()) > 1 or (bool(present.any()) and not self.training)
        if usable:  # BatchNorm cannot train on a single frame
            normalised[present] = self.input_norm(features[present])
        x = self.mlp(torch.cat([normalised, present[..., None].float()], -1))
        return self.temporal(frames_to_steps(x.transpose(1, 2), self.step_frames))
