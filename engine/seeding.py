"""Seeding every random number generator a run draws from."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Python's, NumPy's global and PyTorch's generators (data orders and augmentation use
    generators of their own, keyed by seed and epoch, so they do not depend on this)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
