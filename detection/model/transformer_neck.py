"""ActionFormer's transformer pyramid (``head=transformer``), as AdaTAD's MMA-52 and
Multi-THUMOS configs use it (OpenTAD's ``Conv1DTransformerProj``, arch (2, 2, 5)).

Masked 1-D convolutions embed the backbone features (conv -> channel LayerNorm -> ReLU), then
``stem_blocks`` transformer blocks at full resolution and one transformer block per further
pyramid level, each halving the time axis (strided depthwise convolutions on queries, keys and
values; max-pooling on the skip path). Every level ends in a channel LayerNorm (ActionFormer's
"identity FPN"); the shared head (``detection.model.head.DetectionHead`` with ``norm=layer``)
reads the levels.

Why every operation is masked: a video's scores must not depend on which videos share its
batch or on how much padding that adds. Channel LayerNorm has no statistic across time;
attention only reads a video's real keys; inputs to every convolution are zero beyond a video's
end, exactly as zero padding of the video alone; and the skip path's max-pooling ignores padded
steps. ``tests/detection/model/test_heads.py`` checks a video alone against the same video
batched with a longer one, for both pyramids.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import drop_path
from torch import nn

from detection.model.head import ChannelLayerNorm, MaskedConvBlock, standardize_over_time


def downsample_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """The steps a stride-``stride`` layer keeps (every ``stride``-th, from the first)."""
    return mask[..., ::stride] if stride > 1 else mask


def masked_max_pool(x: torch.Tensor, mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Max-pooling (kernel ``stride`` + 1) over a video's real steps only: padded steps are
    -inf inside the window, as the edge of a video alone is."""
    out_mask = downsample_mask(mask, stride)
    pooled = F.max_pool1d(
        x.masked_fill(mask == 0, float("-inf")), stride + 1, stride=stride, padding=(stride + 1) // 2
    )
    return pooled.masked_fill(out_mask == 0, 0.0)


class AffineDropPath(nn.Module):
    """ActionFormer's drop-path: a learnable per-channel scale (starting at 1e-4, so each block
    starts near the identity) followed by stochastic depth (timm's ``drop_path``)."""

    def __init__(self, dim: int, drop_prob: float, init_scale: float = 1e-4) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((1, dim, 1), init_scale))
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(self.scale * x, self.drop_prob, self.training)


class MaskedAttention(nn.Module):
    """ActionFormer's MaskedMHCA: queries, keys and values each from a depthwise conv (stride
    ``stride``) and a channel LayerNorm, then a 1x1 projection; multi-head attention over the
    video's real keys, within ``window`` steps when ``window`` > 0 (local attention), else all."""

    def __init__(
        self,
        dim: int,
        heads: int,
        stride: int = 1,
        window: int = -1,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} attention heads")
        kernel = 2 * stride + 1 if stride > 1 else 3
        self.convs = nn.ModuleList(
            [nn.Conv1d(dim, dim, kernel, stride, kernel // 2, groups=dim, bias=False) for _ in range(3)]
        )
        self.norms = nn.ModuleList([ChannelLayerNorm(dim) for _ in range(3)])
        self.qkv = nn.ModuleList([nn.Conv1d(dim, dim, 1) for _ in range(3)])
        self.proj = nn.Conv1d(dim, dim, 1)
        self.attn_drop, self.proj_drop = nn.Dropout(attn_drop), nn.Dropout(proj_drop)
        self.heads, self.stride, self.window = heads, stride, window

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out_mask = downsample_mask(mask, self.stride)
        q, k, v = (
            linear(norm(conv(x * mask) * out_mask, out_mask))
            for conv, norm, linear in zip(self.convs, self.norms, self.qkv, strict=True)
        )
        b, c, t = q.shape
        q, k, v = (y.reshape(b, self.heads, c // self.heads, t).transpose(2, 3) for y in (q, k, v))
        scores = q @ k.transpose(2, 3) / math.sqrt(c // self.heads)  # (B, H, T, T)
        allowed = out_mask[:, :, None, :] > 0  # real keys only
        if self.window > 0:
            steps = torch.arange(t, device=x.device)
            allowed = allowed & ((steps[:, None] - steps[None, :]).abs() <= self.window // 2)
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        attention = self.attn_drop(scores.softmax(dim=-1))
        out = (attention @ v).transpose(2, 3).reshape(b, c, t)
        return self.proj_drop(self.proj(out)) * out_mask, out_mask


class TransformerBlock(nn.Module):
    """Pre-norm transformer block of ActionFormer: masked attention (downsampling by
    ``stride``) and a 4x MLP of 1x1 convs, each residual through :class:`AffineDropPath`."""

    def __init__(
        self,
        dim: int,
        heads: int,
        stride: int = 1,
        window: int = -1,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        path_drop: float = 0.1,
        mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        self.ln1, self.ln2 = ChannelLayerNorm(dim), ChannelLayerNorm(dim)
        self.attn = MaskedAttention(dim, heads, stride, window, attn_drop, proj_drop)
        self.mlp = nn.Sequential(
            nn.Conv1d(dim, mlp_ratio * dim, 1),
            nn.GELU(),
            nn.Dropout(proj_drop),
            nn.Conv1d(mlp_ratio * dim, dim, 1),
            nn.Dropout(proj_drop),
        )
        self.drop_attn = AffineDropPath(dim, path_drop) if path_drop > 0 else nn.Identity()
        self.drop_mlp = AffineDropPath(dim, path_drop) if path_drop > 0 else nn.Identity()
        self.stride = stride

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, out_mask = self.attn(self.ln1(x, mask), mask)
        skip = masked_max_pool(x, mask, self.stride) if self.stride > 1 else x
        out = skip * out_mask + self.drop_attn(out)
        out = out + self.drop_mlp(self.mlp(self.ln2(out, out_mask)) * out_mask)
        return out, out_mask


class TransformerPyramid(nn.Module):
    """Embedding convs, ``stem_blocks`` full-resolution blocks, then one downsampling block per
    further level (``levels`` in all), each level channel-LayerNormed. Same interface as
    ``detection.model.head.TemporalPyramid``: ``(B, C, T)`` features and a ``(B, 1, T)`` mask
    in, per-level features and masks out.

    ``window``: local attention over that many steps of each level (ActionFormer's THUMOS
    setting is 19); -1 = global attention, AdaTAD's MMA-52 / Multi-THUMOS setting.
    ``standardize``: per-video standardisation of the input features over time (off for a
    pretrained backbone, see ``TemporalPyramid``)."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        levels: int = 6,
        embed_layers: int = 2,
        stem_blocks: int = 2,
        heads: int = 4,
        window: int = -1,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        path_drop: float = 0.1,
        standardize: bool = False,
    ) -> None:
        super().__init__()
        self.embed = nn.ModuleList(
            [MaskedConvBlock(in_dim if i == 0 else dim, dim, norm="layer") for i in range(embed_layers)]
        )
        block = dict(
            heads=heads, window=window, attn_drop=attn_drop, proj_drop=proj_drop, path_drop=path_drop
        )
        self.stem = nn.ModuleList([TransformerBlock(dim, stride=1, **block) for _ in range(stem_blocks)])
        self.branch = nn.ModuleList([TransformerBlock(dim, stride=2, **block) for _ in range(levels - 1)])
        self.out_norms = nn.ModuleList([ChannelLayerNorm(dim) for _ in range(levels)])
        self.levels, self.standardize = levels, standardize

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        x = standardize_over_time(x, mask) if self.standardize else x * mask
        for layer in self.embed:
            x = layer(x, mask)
        for block in self.stem:
            x, mask = block(x, mask)
        feats, masks = [x], [mask]
        for block in self.branch:
            x, mask = block(x, mask)
            feats.append(x)
            masks.append(mask)
        return [norm(f, m) for norm, f, m in zip(self.out_norms, feats, masks, strict=True)], masks
