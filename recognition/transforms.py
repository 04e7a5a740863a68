"""Clip transforms of the official MANet recipe, applied to frames and landmarks together.

Training: resize the short side to ``scale_size`` (256 for 224 crops), MultiScaleCrop
(a crop whose sides are each one of ``scales`` x the short side, sides at most one scale
step apart, placed at one of 13 fixed positions: corners, centre, edge midpoints and
quarter points), resize the crop to ``crop_size`` squared, horizontal flip with
probability 0.5. Test: resize the short side, one centre crop. Then ImageNet mean/std
normalisation on 0..255 values. One crop and one flip decision per clip, so every frame
of a clip sees the same geometry.

Landmarks (MediaPipe convention: x, y as fractions of the frame's width and height) are
mapped through the same resize, crop and flip into the crop's pixel coordinates; after a
flip the left/right landmarks are swapped as well (``perception.skeleton.MIRROR_ORDER``),
so the "left hand" entity stays the hand on the subject's left in the mirrored clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from perception.skeleton import MIRROR_ORDER
from perception.video import center_crop_box, resize_short_side

IMAGENET_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
IMAGENET_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
MULTISCALE = (1.0, 0.875, 0.75, 0.66)


def multiscale_crop_box(
    height: int, width: int, rng: np.random.Generator, scales: Sequence[float] = MULTISCALE, max_gap: int = 1
) -> tuple[int, int, int, int]:
    """(x0, y0, crop_w, crop_h) chosen the way mmaction2's MultiScaleCrop does with
    ``random_crop=False, num_fixed_crops=13``."""
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    pairs = [(w, h) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= max_gap]
    crop_w, crop_h = pairs[rng.integers(len(pairs))]
    ws, hs = (width - crop_w) // 4, (height - crop_h) // 4
    offsets = [
        (0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs),
        (0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
        (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs),
    ]  # fmt: skip
    x0, y0 = offsets[rng.integers(len(offsets))]
    return x0, y0, crop_w, crop_h


@dataclass(frozen=True)
class ClipTransform:
    """Frames (T, H, W, 3) uint8 + landmarks (T, 33, C) -> model input and crop-pixel landmarks."""

    train: bool = False
    crop_size: int = 224
    scale_size: int = 256  # short side before cropping
    scales: tuple[float, ...] = MULTISCALE
    flip_prob: float = 0.5

    def __call__(
        self, frames: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """(frames (T, 3, S, S) float32 normalised, landmarks (T, 33, C) or None, flipped)."""
        frames = resize_short_side(frames, self.scale_size)
        height, width = frames.shape[1:3]
        if self.train:
            if rng is None:
                raise ValueError("training transforms need a random generator")
            x0, y0, crop_w, crop_h = multiscale_crop_box(height, width, rng, self.scales)
            flip = bool(rng.random() < self.flip_prob)
        else:
            x0, y0, crop_w, crop_h = center_crop_box(height, width, self.crop_size)
            flip = False
        crops = frames[:, y0 : y0 + crop_h, x0 : x0 + crop_w]
        size = (self.crop_size, self.crop_size)
        if crops.shape[1:3] != size:
            crops = np.stack([cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in crops])
        if flip:
            crops = crops[:, :, ::-1]
        pixels = (crops.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
        tensor = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))
        if landmarks is None:
            return tensor, None, flip
        mapped = np.array(landmarks, dtype=np.float32, copy=True)
        scale_x, scale_y = self.crop_size / crop_w, self.crop_size / crop_h
        # x, y are fractions of the frame, hence also of the resized frame
        mapped[..., 0] = (mapped[..., 0] * width - x0) * scale_x
        mapped[..., 1] = (mapped[..., 1] * height - y0) * scale_y
        if flip:
            mapped = mapped[:, MIRROR_ORDER]
            mapped[..., 0] = self.crop_size - mapped[..., 0]
        return tensor, torch.from_numpy(np.ascontiguousarray(mapped)), flip
