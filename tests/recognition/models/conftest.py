"""Tiny recognition models and a fixed batch for the model tests."""

from __future__ import annotations

import pytest
import torch

from recognition.models.tsm import build_tsm_resnet

TINY_BACKBONE = dict(depth=18, width=0.25, layers=(1, 1, 1, 1), num_segments=4)


@pytest.fixture
def tiny_backbone():
    def make(**overrides):
        torch.manual_seed(0)
        return build_tsm_resnet(**{**TINY_BACKBONE, **overrides})

    return make


@pytest.fixture
def fixed_batch():
    """2 clips of 4 frames at 64 x 64 with a plausible skeleton (entities inside the crop)."""
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(2, 4, 3, 64, 64, generator=generator)
    landmarks = torch.rand(2, 4, 33, 4, generator=generator) * 40 + 12
    landmarks[..., 2] = 0.0
    landmarks[..., 3] = 1.0
    landmarks[1, :, [15, 17, 19, 21], :2] = float("nan")  # clip 1 never shows its left hand
    return frames, landmarks, torch.tensor([9, 43])
