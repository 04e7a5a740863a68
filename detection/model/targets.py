"""Assigning ground-truth actions to the head's candidate points (ActionFormer's scheme).

A point is positive for an action when it lies near the action's centre (centre sampling:
within ``radius`` strides of the centre, and inside the action) and the larger of its two
boundary distances falls in the point's level's regression range. The range sends short
actions to fine levels and long ones to coarse levels, so overlapping actions of different
lengths land on different levels. When several actions still qualify for one point, the
shortest wins the regression target, and every class whose action has that length is a
positive class (several labels per point are allowed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def assign_targets(
    points: torch.Tensor,
    segments: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    center_radius: float = 1.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """points: (P, 4) from ``make_points``; segments: (N, 2) in level-0 feature units;
    labels: (N,). Returns class targets (P, C) in {0, 1} and regression targets (P, 2),
    the latter as (start, end) distances divided by the point's stride."""
    num_points = points.shape[0]
    if segments.numel() == 0:
        return points.new_zeros(num_points, num_classes), points.new_zeros(num_points, 2)

    position, low, high, stride = (points[:, i : i + 1] for i in range(4))  # (P, 1) each
    starts, ends = segments[:, 0][None], segments[:, 1][None]  # (1, N)
    lengths = (ends - starts).expand(num_points, -1)
    left, right = position - starts, ends - position  # (P, N)

    centers = 0.5 * (starts + ends)
    sample_lo = torch.maximum(centers - center_radius * stride, starts)
    sample_hi = torch.minimum(centers + center_radius * stride, ends)
    near_center = torch.minimum(position - sample_lo, sample_hi - position) > 0

    reach = torch.maximum(left, right)
    in_range = (reach >= low) & (reach <= high)

    lengths = torch.where(near_center & in_range, lengths, torch.full_like(lengths, float("inf")))
    shortest, which = lengths.min(dim=1)  # (P,)
    chosen = (lengths <= shortest[:, None] + 1e-3) & torch.isfinite(shortest)[:, None]

    one_hot = F.one_hot(labels.long(), num_classes).to(points.dtype)  # (N, C)
    cls_targets = (chosen.to(points.dtype) @ one_hot).clamp(max=1.0)
    reg_targets = torch.stack([left, right], dim=-1)[torch.arange(num_points), which] / stride
    return cls_targets, reg_targets
