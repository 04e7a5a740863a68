"""Body-part entities: boxes from the 33 MediaPipe Pose landmarks, features by ROIAlign.

K = 6 entities per frame, each the bounding box of a set of landmarks grown by a margin
proportional to the body scale ``s`` (the clip's median shoulder width in pixels, landmarks
11-12; when the shoulders are never seen, a quarter of the shorter image side):

============  ==========================================================  ========
entity        landmarks (MediaPipe Pose indices)                          margin
============  ==========================================================  ========
head          0-10: nose, eyes (inner/centre/outer), ears, mouth corners  0.35 s
face          0-6, 9, 10: nose, eyes, mouth (no ears)                     0.12 s
left hand     15, 17, 19, 21: subject's left wrist, pinky, index, thumb   0.30 s
right hand    16, 18, 20, 22: the same on the right                       0.30 s
torso         11, 12, 23, 24: shoulders and hips                          0.15 s
lower body    23-32: hips, knees, ankles, heels, foot tips                0.15 s
============  ==========================================================  ========

The head margin covers hair and chin, which have no landmarks; hands get a wide margin
because Pose marks only the wrist and the finger bases. A landmark counts when its
coordinates are finite and its visibility (channel 3, when present) is at least
``min_visibility``. An entity with no counted landmark, or whose box clipped to the image
is under one pixel wide or tall (a body part outside the crop), gets the fallback box, the
whole image, and ``mask`` False: models still get a feature for it, and know to ignore it.

Boxes are (x1, y1, x2, y2) in the pixel coordinates of the model's input (the crop),
continuous, with (0, 0) the top-left corner of the top-left pixel, which is what
``torchvision.ops.roi_align(aligned=True)`` expects.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import roi_align

ENTITIES = ("head", "face", "left_hand", "right_hand", "torso", "lower_body")
ENTITY_LANDMARKS: dict[str, tuple[int, ...]] = {
    "head": tuple(range(0, 11)),
    "face": (0, 1, 2, 3, 4, 5, 6, 9, 10),
    "left_hand": (15, 17, 19, 21),
    "right_hand": (16, 18, 20, 22),
    "torso": (11, 12, 23, 24),
    "lower_body": tuple(range(23, 33)),
}
ENTITY_MARGINS = {
    "head": 0.35,
    "face": 0.12,
    "left_hand": 0.30,
    "right_hand": 0.30,
    "torso": 0.15,
    "lower_body": 0.15,
}
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
FALLBACK_SCALE = 0.25  # body scale as a fraction of the shorter image side when no shoulders are seen


def landmarks_counted(landmarks: torch.Tensor, min_visibility: float = 0.5) -> torch.Tensor:
    """(..., 33) bool: finite x, y and (if given) visibility >= ``min_visibility``."""
    counted = torch.isfinite(landmarks[..., :2]).all(dim=-1)
    if landmarks.shape[-1] >= 4:
        counted &= torch.nan_to_num(landmarks[..., 3], nan=0.0) >= min_visibility
    return counted


def body_scale(landmarks: torch.Tensor, counted: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """(B,) median shoulder width over the frames of each clip where both shoulders count."""
    shoulders = counted[..., LEFT_SHOULDER] & counted[..., RIGHT_SHOULDER]  # (B, T)
    width = (landmarks[..., LEFT_SHOULDER, :2] - landmarks[..., RIGHT_SHOULDER, :2]).norm(dim=-1)
    width = torch.where(shoulders, width, torch.full_like(width, float("nan")))
    scale = width.nanmedian(dim=1).values
    fallback = FALLBACK_SCALE * min(image_size)
    scale = torch.where(torch.isfinite(scale) & (scale > 1.0), scale, torch.full_like(scale, fallback))
    return scale


def entity_boxes(
    landmarks: torch.Tensor, image_size: tuple[int, int], min_visibility: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 33, C>=2) landmarks in input pixels -> boxes (B, T, K, 4) and mask (B, T, K)."""
    if landmarks.ndim != 4 or landmarks.shape[2] != 33:
        raise ValueError(f"expected landmarks of shape (B, T, 33, C), got {tuple(landmarks.shape)}")
    height, width = image_size
    landmarks = landmarks.float()
    counted = landmarks_counted(landmarks, min_visibility)
    xy = landmarks[..., :2]
    scale = body_scale(landmarks, counted, image_size)[:, None]  # (B, 1)
    boxes, masks = [], []
    inf = torch.tensor(float("inf"), device=landmarks.device)
    for name in ENTITIES:
        index = list(ENTITY_LANDMARKS[name])
        points, seen = xy[..., index, :], counted[..., index]  # (B, T, n, 2), (B, T, n)
        low = torch.where(seen[..., None], points, inf).amin(dim=2)
        high = torch.where(seen[..., None], points, -inf).amax(dim=2)
        margin = (ENTITY_MARGINS[name] * scale)[..., None]  # (B, 1, 1)
        x1 = (low[..., 0:1] - margin).clamp(0, width)
        y1 = (low[..., 1:2] - margin).clamp(0, height)
        x2 = (high[..., 0:1] + margin).clamp(0, width)
        y2 = (high[..., 1:2] + margin).clamp(0, height)
        box = torch.cat([x1, y1, x2, y2], dim=-1)
        present = seen.any(dim=-1) & (box[..., 2] - box[..., 0] >= 1.0) & (box[..., 3] - box[..., 1] >= 1.0)
        whole = box.new_tensor([0.0, 0.0, float(width), float(height)])
        boxes.append(torch.where(present[..., None], box, whole))
        masks.append(present)
    return torch.stack(boxes, dim=2), torch.stack(masks, dim=2)


def pool_entities(
    features: torch.Tensor, boxes: torch.Tensor, output_size: int, spatial_scale: float
) -> torch.Tensor:
    """ROIAlign of (N, C, h, w) frame features in (N, K, 4) boxes -> (N, K, C, r, r)."""
    frames, entities = boxes.shape[:2]
    index = torch.arange(frames, device=boxes.device, dtype=boxes.dtype).repeat_interleave(entities)
    rois = torch.cat([index[:, None], boxes.reshape(-1, 4).to(features.dtype)], dim=1)
    pooled = roi_align(
        features, rois, output_size=output_size, spatial_scale=spatial_scale, sampling_ratio=2, aligned=True
    )
    return pooled.view(frames, entities, *pooled.shape[1:])


class EntityEncoder(nn.Module):
    """ROIAlign -> depthwise-separable conv to ``dim`` -> average -> + entity and time embeddings."""

    def __init__(
        self,
        in_channels: int,
        dim: int,
        num_frames: int,
        roi_size: int = 7,
        num_entities: int = len(ENTITIES),
    ) -> None:
        super().__init__()
        self.roi_size = roi_size
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, dim, 1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(inplace=True),
        )
        self.entity_embed = nn.Parameter(torch.zeros(num_entities, dim))
        self.time_embed = nn.Parameter(torch.zeros(num_frames, dim))
        nn.init.trunc_normal_(self.entity_embed, std=0.02)
        nn.init.trunc_normal_(self.time_embed, std=0.02)

    def forward(
        self, features: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int]
    ) -> torch.Tensor:
        """(B * T, C, h, w) features, (B, T, K, 4) boxes in input pixels -> (B, T, K, D)."""
        batch, frames, entities = boxes.shape[:3]
        scale = features.shape[-1] / image_size[1]
        if abs(features.shape[-2] / image_size[0] - scale) > 1e-6:
            raise ValueError(
                f"feature map {tuple(features.shape[-2:])} is not a uniform scale of {image_size}"
            )
        pooled = pool_entities(features, boxes.flatten(0, 1), self.roi_size, scale)
        encoded = self.conv(pooled.flatten(0, 1)).mean(dim=(2, 3))
        encoded = encoded.view(batch, frames, entities, -1)
        return encoded + self.entity_embed[None, None] + self.time_embed[None, :, None]
