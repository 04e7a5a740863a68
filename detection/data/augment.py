"""Appearance augmentation for training clips.

The demo's backbone is frozen and, without pretrained weights, random: its features respond
to a limb's motion in a direction that depends on the colours of the limb and what lies
behind it. Shuffling colour channels, rescaling them and mirroring the frame per clip makes
the only consistent cue across training clips the motion itself, which is what should
transfer to unseen subjects. Every transform is applied to the whole clip, so motion is
untouched, and none changes a label (classes do not distinguish left from right).

``crop_area`` adds AdaTAD's spatial augmentation (mmaction2 ``RandomResizedCrop`` then a
resize back to the model's size): one random box per clip, whose area is a uniform fraction
of the frame in ``crop_area`` and whose aspect ratio is log-uniform in ``crop_aspect``, cut
from every frame and resized back. AdaTAD crops the frame resized to short side 182 before
resizing to 160; here the box is cut from the frame already fitted to the model's size
(``data.fit``), which keeps the decode and frame cache at one size for training and predict.
Only the RGB frames are cropped, as in AdaTAD (an RGB-only detector): the skeleton cue is
body-normalised, so a crop would not move it, and flow is pooled per step by its encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


def random_resized_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    area: tuple[float, float],
    aspect: tuple[float, float],
    attempts: int = 10,
) -> tuple[int, int, int, int]:
    """(x0, y0, crop_w, crop_h) drawn as mmaction2's ``RandomResizedCrop`` draws it: up to
    ``attempts`` tries of (area fraction, aspect ratio) until the box fits; the whole frame
    after that (mmaction2 falls back to a centre crop of the frame's own aspect)."""
    log_low, log_high = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(attempts):
        target = rng.uniform(area[0], area[1]) * height * width
        ratio = math.exp(rng.uniform(log_low, log_high))
        crop_w = int(round(math.sqrt(target * ratio)))
        crop_h = int(round(math.sqrt(target / ratio)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            x0 = int(rng.integers(0, width - crop_w + 1))
            y0 = int(rng.integers(0, height - crop_h + 1))
            return x0, y0, crop_w, crop_h
    return 0, 0, width, height


@dataclass(frozen=True)
class ClipAugmentation:
    channel_shuffle: float = 0.5  # probability of a random RGB permutation
    gain: float = 0.25  # per-channel multiplicative jitter, uniform in [1 - gain, 1 + gain]
    grayscale: float = 0.2  # probability of dropping colour entirely
    hflip: float = 0.5  # probability of mirroring left-right
    crop_area: tuple[float, float] | None = None  # random resized crop's area range; None = off
    crop_aspect: tuple[float, float] = (3 / 4, 4 / 3)  # its aspect-ratio range (width / height)

    def __post_init__(self) -> None:
        if self.crop_area is not None:
            low, high = self.crop_area
            if not 0 < low <= high <= 1:
                raise ValueError(f"crop_area must satisfy 0 < low <= high <= 1, got {self.crop_area}")
            if not 0 < self.crop_aspect[0] <= self.crop_aspect[1]:
                raise ValueError(f"crop_aspect must satisfy 0 < low <= high, got {self.crop_aspect}")

    def crop(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One random resized crop for the whole clip, back at the frames' own size."""
        height, width = frames.shape[1:3]
        x0, y0, crop_w, crop_h = random_resized_box(height, width, rng, self.crop_area, self.crop_aspect)
        if (crop_w, crop_h) == (width, height):
            return frames
        boxes = frames[:, y0 : y0 + crop_h, x0 : x0 + crop_w]
        return np.stack([cv2.resize(box, (width, height), interpolation=cv2.INTER_LINEAR) for box in boxes])

    def __call__(self, frames: np.ndarray, rng: np.random.Generator, flip: bool | None = None) -> np.ndarray:
        """frames: (T, H, W, 3) uint8 -> augmented copy. ``flip`` forces the mirror decision
        (the collate function decides it once for all cues of a clip); None draws it here."""
        if self.crop_area is not None:  # no draw when off, so clips without crops are unchanged
            frames = self.crop(frames, rng)
        out = frames.astype(np.float32)
        if rng.random() < self.channel_shuffle:
            out = out[..., rng.permutation(3)]
        if self.gain > 0:
            out = out * rng.uniform(1 - self.gain, 1 + self.gain, size=3).astype(np.float32)
        if rng.random() < self.grayscale:
            out = np.repeat(out.mean(axis=-1, keepdims=True), 3, axis=-1)
        mirror = flip if flip is not None else rng.random() < self.hflip
        if mirror:
            out = out[:, :, ::-1]
        return np.clip(out, 0, 255).astype(np.uint8)
