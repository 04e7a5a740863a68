"""The micro-action detector: video backbone -> temporal pyramid -> head, with its losses
and its inference. Times inside the model are in level-0 feature steps; the dataset and
pipeline convert to and from seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from detection.head import DetectionHead, TemporalPyramid, make_points
from detection.losses import diou_loss_1d, sigmoid_focal_loss
from detection.postprocess import PostprocessConfig, decode_video
from detection.targets import assign_targets

DEFAULT_RANGES = ((0, 4), (4, 8), (8, 16), (16, 32), (32, 64), (64, 10_000))


@dataclass
class Detections:
    """One video's detections: segments (K, 2) in feature steps, scores (K,), labels (K,)."""

    segments: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


class MicroActionDetector(nn.Module):
    """Backbone (anything mapping frames (B, T, H, W, 3) to features (B, C, T')) + head."""

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 52,
        dim: int = 128,
        levels: int = 6,
        regression_ranges: tuple[tuple[float, float], ...] = DEFAULT_RANGES,
        head_layers: int = 2,
        center_radius: float = 1.5,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        reg_weight: float = 1.0,
        loss_normalizer_momentum: float = 0.9,
        postprocess: PostprocessConfig | None = None,
    ) -> None:
        super().__init__()
        if len(regression_ranges) != levels:
            raise ValueError(
                f"need one regression range per pyramid level: {levels} levels, "
                f"{len(regression_ranges)} ranges"
            )
        self.backbone = backbone
        self.num_classes = num_classes
        self.levels = levels
        self.regression_ranges = [tuple(map(float, r)) for r in regression_ranges]
        self.pyramid = TemporalPyramid(backbone.out_dim, dim, levels)
        self.head = DetectionHead(dim, num_classes, levels, head_layers)
        self.center_radius = center_radius
        self.focal_alpha, self.focal_gamma = focal_alpha, focal_gamma
        self.reg_weight = reg_weight
        self.momentum = loss_normalizer_momentum
        self.postprocess = postprocess or PostprocessConfig()
        self.register_buffer("loss_normalizer", torch.tensor(-1.0))

    @property
    def length_multiple(self) -> int:
        """Feature sequences are padded to a multiple of this so every level divides evenly."""
        return 2 ** (self.levels - 1)

    def encode(self, frames: list[torch.Tensor], feature_mask: torch.Tensor) -> torch.Tensor:
        """Backbone features for videos of different lengths, zero-padded to the mask's length.

        Each video goes through the backbone on its own, so no compute is spent on padding
        frames (videos are 5-15 s; padding all to 15 s would double the cost on average).
        """
        padded = feature_mask.shape[-1]
        out = []
        for video in frames:
            feats = self.backbone(video[None])
            if feats.shape[-1] > padded:
                raise ValueError(f"backbone gave {feats.shape[-1]} steps, the mask has only {padded}")
            out.append(torch.nn.functional.pad(feats, (0, padded - feats.shape[-1])))
        return torch.cat(out)

    def forward(self, frames: list[torch.Tensor], feature_mask: torch.Tensor):
        """frames: per video (T_i, H, W, 3); feature_mask: (B, T') bool of real steps."""
        feats = self.encode(frames, feature_mask)
        pyramid, masks = self.pyramid(feats, feature_mask[:, None].float())
        logits, offsets = self.head(pyramid, masks)
        points = make_points([f.shape[-1] for f in pyramid], self.regression_ranges).to(feats.device)
        valid = torch.cat([m[:, 0] for m in masks], dim=1) > 0  # (B, P)
        return logits, offsets, points, valid

    def loss(self, frames, feature_mask, segments: list[torch.Tensor], labels: list[torch.Tensor]):
        """Focal + DIoU losses; ``segments`` per video in feature steps. Returns a dict."""
        logits, offsets, points, valid = self(frames, feature_mask)
        cls_targets, reg_targets = zip(
            *[
                assign_targets(points, s, lab, self.num_classes, self.center_radius)
                for s, lab in zip(segments, labels, strict=True)
            ],
            strict=True,
        )
        cls_targets, reg_targets = torch.stack(cls_targets), torch.stack(reg_targets)
        all_logits, all_offsets = torch.cat(logits, dim=1), torch.cat(offsets, dim=1)
        positive = (cls_targets.sum(-1) > 0) & valid
        num_pos = positive.sum().float()
        # ActionFormer's trick: normalise by a running average of the positive count so one
        # batch with few positives does not blow up the step.
        if self.training:
            if self.loss_normalizer < 0:
                self.loss_normalizer.fill_(max(float(num_pos), 1.0))
            else:
                self.loss_normalizer.mul_(self.momentum).add_((1 - self.momentum) * max(float(num_pos), 1.0))
        normalizer = (
            self.loss_normalizer.clamp(min=1.0) if self.loss_normalizer > 0 else num_pos.clamp(min=1.0)
        )
        cls_loss = (
            sigmoid_focal_loss(
                all_logits[valid],
                cls_targets[valid],
                alpha=self.focal_alpha,
                gamma=self.focal_gamma,
                reduction="sum",
            )
            / normalizer
        )
        if positive.any():
            reg_loss = diou_loss_1d(all_offsets[positive], reg_targets[positive]).sum() / normalizer
        else:
            reg_loss = all_offsets.sum() * 0.0
        total = cls_loss + self.reg_weight * reg_loss
        return {
            "loss": total,
            "cls_loss": cls_loss.detach(),
            "reg_loss": reg_loss.detach(),
            "num_pos": num_pos.detach(),
        }

    @torch.no_grad()
    def predict(self, frames, feature_mask) -> list[Detections]:
        logits, offsets, points, valid = self(frames, feature_mask)
        results = []
        for b in range(len(frames)):
            segs, scores, labels = decode_video(
                [lg[b] for lg in logits], [of[b] for of in offsets], points, valid[b], self.postprocess
            )
            results.append(Detections(segs, scores, labels))
        return results

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def total_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_detector(backbone: nn.Module, postprocess: dict | None = None, **kwargs) -> MicroActionDetector:
    """Builder used by the Hydra configs (``model._target_``)."""
    if "regression_ranges" in kwargs:
        kwargs["regression_ranges"] = tuple(tuple(r) for r in kwargs["regression_ranges"])
    return MicroActionDetector(backbone, postprocess=PostprocessConfig(**(postprocess or {})), **kwargs)
