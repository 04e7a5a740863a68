"""What feature extractors take and give, so heads and protocols never care where a feature
came from.

A feature set (``configs/features/*.yaml``) is a dict of named blocks, each a Hydra
``_target_`` extractor: ``microaction`` (timeline statistics, ``timeline_features.py``),
``rgb`` (pooled backbone features, ``rgb_features.py``), ``cues`` (flow and skeleton
statistics, ``cue_features.py``). An extractor is a callable
``FeatureInputs -> FeatureBlock`` that declares what it needs (``needs_timelines``, ``cues``),
so the pipeline runs the detector or fills a cue cache only when some block asks for it.
Fusing blocks is concatenation for the pooled heads; the sequence head reads the
``microaction`` block's token sequences and fuses the others' pooled vectors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from affect.dataset import EmotionVideo
from perception.cue_cache import CueCache


@dataclass
class FeatureInputs:
    """Everything an extractor may read, one entry per video in ``videos`` order."""

    videos: Sequence[EmotionVideo]
    timelines: Mapping[str, pd.DataFrame] | None = None  # video_id -> t_start, t_end, class, score
    caches: Mapping[str, CueCache] = field(default_factory=dict)


@dataclass
class FeatureBlock:
    """One extractor's output: a pooled vector per video (named columns), and optionally a
    variable-length token sequence per video for sequence models."""

    name: str
    columns: list[str]
    pooled: np.ndarray  # (N, D) float32
    sequences: list[np.ndarray] | None = None  # N arrays of (L_i, F)

    def __post_init__(self) -> None:
        if self.pooled.ndim != 2 or self.pooled.shape[1] != len(self.columns):
            raise ValueError(
                f"feature block {self.name!r}: pooled shape {self.pooled.shape} does not match "
                f"{len(self.columns)} column names"
            )
        if not np.isfinite(self.pooled).all():
            bad = np.argwhere(~np.isfinite(self.pooled))[0]
            raise ValueError(
                f"feature block {self.name!r}: non-finite value in row {bad[0]}, column {self.columns[bad[1]]!r}"
            )

    def __len__(self) -> int:
        return len(self.pooled)

    def take(self, indices: Sequence[int] | np.ndarray) -> FeatureBlock:
        """The rows of these videos (a fold's training or test part)."""
        indices = np.asarray(indices, dtype=np.int64)
        sequences = [self.sequences[i] for i in indices] if self.sequences is not None else None
        return FeatureBlock(self.name, self.columns, self.pooled[indices], sequences)


class Extractor(Protocol):
    needs_timelines: bool
    cues: tuple[str, ...]

    def __call__(self, inputs: FeatureInputs) -> FeatureBlock: ...


Blocks = Mapping[str, FeatureBlock]


def take(blocks: Blocks, indices: Sequence[int] | np.ndarray) -> dict[str, FeatureBlock]:
    return {name: block.take(indices) for name, block in blocks.items()}


def pooled_matrix(blocks: Blocks, exclude: Sequence[str] = ()) -> np.ndarray:
    """The pooled vectors of every block (but ``exclude``) side by side: early fusion."""
    parts = [block.pooled for name, block in blocks.items() if name not in exclude]
    if not parts:
        rows = len(next(iter(blocks.values()))) if blocks else 0
        return np.zeros((rows, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32)


def dimensions(blocks: Blocks) -> dict[str, int]:
    return {name: block.pooled.shape[1] for name, block in blocks.items()}
