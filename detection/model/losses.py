"""Detection losses: sigmoid focal loss for the multi-label scores (from torchvision) and
the 1-D distance-IoU loss for boundary regression.

torchvision's ``distance_box_iou_loss`` is for 2-D boxes; a 1-D segment embedded as a box
of unit height would add the height to the enclosing diagonal and change the penalty, so
the 1-D form is written here.
"""

from __future__ import annotations

import torch
from torchvision.ops import sigmoid_focal_loss

__all__ = ["sigmoid_focal_loss", "diou_loss_1d"]


def diou_loss_1d(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-row DIoU loss between segments given as (start, end) distances from a shared point.

    ``1 - IoU + (centre distance / enclosing length)^2``: IoU alone gives no gradient when
    the segments do not overlap; the centre term pulls them together.
    """
    pred_left, pred_right = pred[:, 0], pred[:, 1]
    gt_left, gt_right = target[:, 0], target[:, 1]
    intersection = torch.minimum(pred_left, gt_left) + torch.minimum(pred_right, gt_right)
    union = pred_left + pred_right + gt_left + gt_right - intersection
    iou = intersection / union.clamp(min=eps)
    enclosing = torch.maximum(pred_left, gt_left) + torch.maximum(pred_right, gt_right)
    center_distance = 0.5 * ((pred_right - pred_left) - (gt_right - gt_left))
    return 1.0 - iou + (center_distance / enclosing.clamp(min=eps)) ** 2
