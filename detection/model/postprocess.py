"""From head outputs to a timeline: decode candidate segments, then per-class soft-NMS.

Soft-NMS decays the scores of overlapping same-class candidates instead of deleting them:
on MMA-52 the same class rarely repeats back to back, but when it does, a hard NMS would
remove the second instance; different classes never suppress each other (multi-label).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PostprocessConfig:
    pre_nms_threshold: float = 0.001
    pre_nms_topk: int = 2000
    sigma: float = 0.5
    min_score: float = 0.001
    max_segments: int = 200
    min_duration: float = 0.05  # in feature steps


def segment_iou(segment: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """tIoU between one (2,) segment and (N, 2) segments."""
    inter = (torch.minimum(segment[1], others[:, 1]) - torch.maximum(segment[0], others[:, 0])).clamp(min=0)
    union = (segment[1] - segment[0]) + (others[:, 1] - others[:, 0]) - inter
    return inter / union.clamp(min=1e-8)


def soft_nms(
    segments: torch.Tensor, scores: torch.Tensor, sigma: float, min_score: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian soft-NMS for one class. Returns kept segments and their decayed scores."""
    segments, scores = segments.clone(), scores.clone()
    kept_segments, kept_scores = [], []
    while scores.numel():
        best = int(torch.argmax(scores))
        top_segment, top_score = segments[best], scores[best]
        if top_score < min_score:
            break
        kept_segments.append(top_segment)
        kept_scores.append(top_score)
        rest = torch.ones_like(scores, dtype=torch.bool)
        rest[best] = False
        segments, scores = segments[rest], scores[rest]
        if scores.numel():
            scores = scores * torch.exp(-(segment_iou(top_segment, segments) ** 2) / sigma)
    if not kept_segments:
        return segments.new_zeros(0, 2), scores.new_zeros(0)
    return torch.stack(kept_segments), torch.stack(kept_scores)


def decode_video(
    logits: list[torch.Tensor],
    offsets: list[torch.Tensor],
    points: torch.Tensor,
    valid: torch.Tensor,
    config: PostprocessConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One video's candidates: per-level logits (T_l, C) and offsets (T_l, 2), the matching
    points (P, 4) and validity mask (P,). Returns segments (K, 2) in level-0 feature units,
    scores (K,) and labels (K,) after soft-NMS, best first."""
    scores = torch.cat(logits).sigmoid()  # (P, C)
    distances = torch.cat(offsets)  # (P, 2)
    num_classes = scores.shape[1]
    scores = scores * valid[:, None]
    flat = scores.flatten()
    keep = torch.nonzero(flat > config.pre_nms_threshold).squeeze(1)
    if keep.numel() > config.pre_nms_topk:
        keep = keep[torch.topk(flat[keep], config.pre_nms_topk).indices]
    point_index, labels = keep // num_classes, keep % num_classes
    position, stride = points[point_index, 0], points[point_index, 3]
    segments = torch.stack(
        [position - distances[point_index, 0] * stride, position + distances[point_index, 1] * stride], dim=1
    )
    candidate_scores = flat[keep]
    long_enough = (segments[:, 1] - segments[:, 0]) > config.min_duration
    segments, candidate_scores, labels = (
        segments[long_enough],
        candidate_scores[long_enough],
        labels[long_enough],
    )

    out_segments, out_scores, out_labels = [], [], []
    for label in labels.unique():
        of_class = labels == label
        kept, kept_scores = soft_nms(
            segments[of_class], candidate_scores[of_class], config.sigma, config.min_score
        )
        out_segments.append(kept)
        out_scores.append(kept_scores)
        out_labels.append(torch.full_like(kept_scores, int(label), dtype=torch.long))
    if not out_segments:
        return segments.new_zeros(0, 2), scores.new_zeros(0), labels.new_zeros(0)
    segments, scores, labels = torch.cat(out_segments), torch.cat(out_scores), torch.cat(out_labels)
    order = torch.argsort(scores, descending=True)[: config.max_segments]
    return segments[order], scores[order], labels[order]
