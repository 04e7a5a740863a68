"""Appearance augmentation for training clips.

The demo's backbone is frozen and, without pretrained weights, random: its features respond
to a limb's motion in a direction that depends on the colours of the limb and what lies
behind it. Shuffling colour channels, rescaling them and mirroring the frame per clip makes
the only consistent cue across training clips the motion itself, which is what should
transfer to unseen subjects. Every transform is applied to the whole clip, so motion is
untouched, and none changes a label (classes do not distinguish left from right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClipAugmentation:
    channel_shuffle: float = 0.5  # probability of a random RGB permutation
    gain: float = 0.25  # per-channel multiplicative jitter, uniform in [1 - gain, 1 + gain]
    grayscale: float = 0.2  # probability of dropping colour entirely
    hflip: float = 0.5  # probability of mirroring left-right

    def __call__(self, frames: np.ndarray, rng: np.random.Generator, flip: bool | None = None) -> np.ndarray:
        """frames: (T, H, W, 3) uint8 -> augmented copy. ``flip`` forces the mirror decision
        (the collate function decides it once for all cues of a clip); None draws it here."""
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
