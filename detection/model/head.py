"""ActionFormer-style detection head: a temporal feature pyramid, then shared classification
and regression branches applied at every pyramid level. This module holds the convolutional
pyramid (``TemporalPyramid``, the CPU demo's) and the head shared by both pyramids;
``detection.model.transformer_neck`` holds ActionFormer's transformer pyramid (the real sizes').

Every position of every level is a candidate "point". A point predicts one sigmoid score per
class, independently, so overlapping micro-actions of different classes can all fire at
the same time, and the distances from the point to the action's start and end.

The pyramid downsamples with max-pooling between convolution blocks (as TemporalMaxer
does): cheap on CPU, and max-pooling keeps the brief peaks that subtle actions produce.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def standardize_over_time(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per video and channel, subtract the mean over the video's real steps and divide by
    their standard deviation.

    What stays constant through a video (the subject's appearance, the background, the
    camera) is removed; what changes over time (the motion) remains. Micro-actions are
    exactly that change, and the same person is in every frame of an MMA-52 video.
    """
    count = mask.sum(dim=-1, keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(dim=-1, keepdim=True) / count
    var = ((x - mean) ** 2 * mask).sum(dim=-1, keepdim=True) / count
    return (x - mean) / torch.sqrt(var + eps) * mask


class MaskedGroupNorm(nn.GroupNorm):
    """GroupNorm whose statistics count only a video's real steps.

    ``nn.GroupNorm`` averages over the padded tail too, so a video's features would change with
    the length of the longest video in its batch; here they do not. Same parameters (and state
    dict) as ``nn.GroupNorm``.

    ``segments`` (T, S) one-hot, optional: the time axis holds S independent sequences side by
    side (the pyramid levels, as :class:`DetectionHead` runs them); each gets its own statistics,
    exactly as if it were normalised alone. Rows of all zeros (gaps) are left at zero."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None, segments: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is None:
            return super().forward(x)
        b, c, t = x.shape
        groups = x.float().reshape(b, self.num_groups, c // self.num_groups, t)
        m = mask.float()[:, None]  # (B, 1, 1, T)
        if segments is None:
            count = (m.sum(dim=-1, keepdim=True) * groups.shape[2]).clamp(min=1.0)
            mean = (groups * m).sum(dim=(2, 3), keepdim=True) / count
            var = (((groups - mean) ** 2) * m).sum(dim=(2, 3), keepdim=True) / count
        else:  # per-segment sums as (B, G, T) @ (T, S), spread back over time with @ (S, T)
            seg = segments.float()
            count = ((m[:, :, 0] @ seg) * groups.shape[2]).clamp(min=1.0)  # (B, 1, S)
            mean = ((((groups * m).sum(dim=2)) @ seg) / count @ seg.T)[:, :, None]
            var = (((((groups - mean) ** 2) * m).sum(dim=2) @ seg) / count @ seg.T)[:, :, None]
        out = ((groups - mean) / torch.sqrt(var + self.eps)).reshape(b, c, t).to(x.dtype)
        if self.affine:
            out = out * self.weight[None, :, None] + self.bias[None, :, None]
        return out * mask


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each time step of a (B, C, T) tensor, as ActionFormer's:
    no statistic crosses time steps, so neither padding nor other videos reach it."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None, segments: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``segments`` is accepted for :class:`MaskedGroupNorm`'s interface; per-step
        statistics need no segmenting."""
        out = super().forward(x.transpose(1, 2)).transpose(1, 2)
        return out if mask is None else out * mask


NORMS = {"group": lambda dim: MaskedGroupNorm(1, dim), "layer": ChannelLayerNorm}


def make_norm(kind: str, dim: int) -> nn.Module:
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")
    return NORMS[kind](dim)


class MaskedConvBlock(nn.Module):
    """Conv1d + a masked norm (GroupNorm(1) over channels and real steps of each video, or
    ActionFormer's channel LayerNorm) + ReLU, with padded positions forced to zero."""

    def __init__(self, in_dim: int, out_dim: int, kernel: int = 3, norm: str = "group") -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel, padding=kernel // 2)
        self.norm = make_norm(norm, out_dim)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, segments: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``segments``: see :class:`MaskedGroupNorm` (several sequences along time)."""
        x = self.conv(x * mask) * mask
        return F.relu(self.norm(x, mask, segments)) * mask


class Scale(nn.Module):
    """A learnable scalar per pyramid level, so one shared regression branch can output
    distances of very different magnitudes at different levels."""

    def __init__(self, init: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class TemporalPyramid(nn.Module):
    """Projects backbone features and builds ``levels`` resolutions, stride 2 apart, with
    masked convolutions and max-pooling (the convolutional pyramid, ``head=conv``).

    ``standardize``: per video and channel, standardise the input features over time first
    (:func:`standardize_over_time`); right for a random backbone whose features mostly encode
    the subject's appearance, wrong for a pretrained one whose feature scale carries meaning."""

    def __init__(
        self, in_dim: int, dim: int, levels: int = 6, stem_layers: int = 2, standardize: bool = True
    ) -> None:
        super().__init__()
        self.stem = nn.ModuleList(
            [MaskedConvBlock(in_dim if i == 0 else dim, dim) for i in range(stem_layers)]
        )
        self.branch = nn.ModuleList([MaskedConvBlock(dim, dim) for _ in range(levels - 1)])
        self.levels = levels
        self.standardize = standardize

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """x: (B, C, T); mask: (B, 1, T) float. Returns per-level features and masks."""
        x = standardize_over_time(x, mask) if self.standardize else x * mask
        for block in self.stem:
            x = block(x, mask)
        feats, masks = [x], [mask]
        for block in self.branch:
            x = F.max_pool1d(x, kernel_size=3, stride=2, padding=1)
            mask = F.max_pool1d(mask, kernel_size=1, stride=2)
            x = block(x, mask)
            feats.append(x)
            masks.append(mask)
        return feats, masks


class DetectionHead(nn.Module):
    """Shared classification and regression branches over all pyramid levels: ``layers``
    masked conv blocks each (``norm``: ``group`` for the conv pyramid, ``layer`` = ActionFormer's
    channel LayerNorm), then a conv to class logits and one to the two boundary distances.
    ``batch_levels``: all levels through each layer in one call (default) or one level at a time;
    the same outputs either way (:meth:`forward`)."""

    def __init__(
        self,
        dim: int,
        num_classes: int,
        levels: int,
        layers: int = 2,
        prior_prob: float = 0.01,
        norm: str = "group",
        batch_levels: bool = True,
    ) -> None:
        super().__init__()
        self.batch_levels = batch_levels
        self.cls_tower = nn.ModuleList([MaskedConvBlock(dim, dim, norm=norm) for _ in range(layers)])
        self.reg_tower = nn.ModuleList([MaskedConvBlock(dim, dim, norm=norm) for _ in range(layers)])
        self.cls_out = nn.Conv1d(dim, num_classes, 3, padding=1)
        self.reg_out = nn.Conv1d(dim, 2, 3, padding=1)
        self.scales = nn.ModuleList([Scale() for _ in range(levels)])
        # zero steps between levels when batched: as wide as the widest convolution reaches
        self.level_gap = max(m.padding[0] for m in self.modules() if isinstance(m, nn.Conv1d))
        # Start every class at a low score so the focal loss is not swamped by easy negatives.
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(
        self, feats: list[torch.Tensor], masks: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Returns per-level class logits (B, T_l, C) and boundary distances (B, T_l, 2), the
        distances in units of the level's stride.

        All levels go through each layer in one call: laid side by side along time with a
        zero-masked gap as wide as the kernel's reach, so no convolution sees a neighbouring
        level, and with per-level norm statistics (``segments``). On CPU a Conv1d over a few
        dozen steps costs its fixed overhead, not its arithmetic, so one call instead of one
        per level cuts the head's time several-fold; the outputs equal a per-level loop's.
        ``batch_levels=False`` runs :meth:`forward_per_level` instead (benchmarks/bench_head.py:
        at width 512 over 768 steps the CPU is faster per level)."""
        if not self.batch_levels:
            return self.forward_per_level(feats, masks)
        gap = self.level_gap
        lengths = [x.shape[-1] for x in feats]
        filler = feats[0].new_zeros(feats[0].shape[0], feats[0].shape[1], gap)
        mask_filler = masks[0].new_zeros(masks[0].shape[0], 1, gap)
        x = torch.cat([part for f in feats for part in (f, filler)], dim=-1)
        mask = torch.cat([part for m in masks for part in (m, mask_filler)], dim=-1)
        segments = x.new_zeros(x.shape[-1], len(feats))
        starts = [sum(lengths[:level]) + gap * level for level in range(len(feats))]
        for level, (start, length) in enumerate(zip(starts, lengths, strict=True)):
            segments[start : start + length, level] = 1.0
        c, r = x, x
        for block in self.cls_tower:
            c = block(c, mask, segments)
        for block in self.reg_tower:
            r = block(r, mask, segments)
        cls, reg = self.cls_out(c * mask), self.reg_out(r * mask)
        logits, offsets = [], []
        for level, (start, length) in enumerate(zip(starts, lengths, strict=True)):
            logits.append(cls[..., start : start + length].transpose(1, 2))
            distances = self.scales[level](reg[..., start : start + length])
            offsets.append(F.relu(distances).transpose(1, 2))
        return logits, offsets

    def forward_per_level(
        self, feats: list[torch.Tensor], masks: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The same outputs as :meth:`forward`, one level at a time: the plain loop that
        :meth:`forward` batches, kept as its reference (tests/detection/model/test_heads.py,
        benchmarks/bench_head.py)."""
        logits, offsets = [], []
        for level, (x, mask) in enumerate(zip(feats, masks, strict=True)):
            c, r = x, x
            for block in self.cls_tower:
                c = block(c, mask)
            for block in self.reg_tower:
                r = block(r, mask)
            logits.append(self.cls_out(c * mask).transpose(1, 2))
            offsets.append(F.relu(self.scales[level](self.reg_out(r * mask))).transpose(1, 2))
        return logits, offsets


def make_points(lengths: list[int], regression_ranges: list[tuple[float, float]]) -> torch.Tensor:
    """All candidate points: rows (position in level-0 units, range low, range high, stride)."""
    rows = []
    for level, (length, (low, high)) in enumerate(zip(lengths, regression_ranges, strict=True)):
        stride = 2**level
        position = torch.arange(length, dtype=torch.float32) * stride
        rows.append(
            torch.stack(
                [
                    position,
                    torch.full_like(position, low),
                    torch.full_like(position, high),
                    torch.full_like(position, stride),
                ],
                dim=1,
            )
        )
    return torch.cat(rows)
