"""Real MMA-52 annotation statistics, packaged with the code, and samplers over them.

The synthetic videos only resemble the benchmark if their timelines do: class imbalance,
instance counts, durations and co-occurrence all come from ``mma52_stats.json`` (written
by ``scripts/derive_mma52_stats.py`` from the real training CSV, which is never shipped).
All samplers take an explicit ``numpy.random.Generator`` so callers control determinism.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

STATS_PATH = Path(__file__).with_name("mma52_stats.json")

# Classes rarer than this have too few instances for their own duration quantiles to be
# trusted (class 3 and 45 have a single instance); blend them with the pooled quantiles.
MIN_CLASS_COUNT_FOR_OWN_DURATIONS = 20


@dataclass(frozen=True)
class MMA52Stats:
    """Aggregated statistics of the real training split, in sampling-friendly arrays."""

    class_counts: np.ndarray  # (52,) instance counts
    quantile_levels: np.ndarray  # (Q,) in [0, 1]
    class_duration_quantiles: np.ndarray  # (52, Q) seconds; pooled row where a class has none
    duration_quantiles: np.ndarray  # (Q,) pooled over all classes
    instances_per_video: dict[int, int]
    video_duration_quantiles: np.ndarray  # (Q,) seconds
    fps_counts: dict[float, int]
    cooccurrence_video: np.ndarray  # (52, 52) videos containing both classes
    cooccurrence_overlap: np.ndarray  # (52, 52) temporally overlapping instance pairs

    @property
    def class_frequencies(self) -> np.ndarray:
        """Relative frequency of each class among all real instances."""
        return self.class_counts / self.class_counts.sum()

    def sample_instance_count(self, rng: np.random.Generator) -> int:
        """Number of instances in one video, from the real per-video histogram."""
        counts = np.array(sorted(self.instances_per_video))
        weights = np.array([self.instances_per_video[c] for c in counts], dtype=np.float64)
        return int(rng.choice(counts, p=weights / weights.sum()))

    def sample_video_duration(self, rng: np.random.Generator, lo: float, hi: float) -> float:
        """Video length in seconds by inverse-CDF sampling, clipped to ``[lo, hi]``."""
        value = inverse_cdf(self.quantile_levels, self.video_duration_quantiles, rng.random())
        return float(np.clip(value, lo, hi))

    def sample_duration(self, cls: int, rng: np.random.Generator) -> float:
        """Instance duration (s) of class ``cls`` from its real duration distribution."""
        return inverse_cdf(self.quantile_levels, self.duration_quantiles_of(cls), rng.random())

    def duration_quantiles_of(self, cls: int) -> np.ndarray:
        """Per-class quantiles, shrunk towards the pooled ones when the class is rare."""
        weight = min(1.0, self.class_counts[cls] / MIN_CLASS_COUNT_FOR_OWN_DURATIONS)
        return weight * self.class_duration_quantiles[cls] + (1.0 - weight) * self.duration_quantiles


def inverse_cdf(levels: np.ndarray, quantiles: np.ndarray, u: float) -> float:
    """Piecewise-linear inverse CDF through the stored quantiles (exact at each level)."""
    return float(np.interp(u, levels, quantiles))


@lru_cache(maxsize=4)
def load_stats(path: str | None = None) -> MMA52Stats:
    """Load (and cache) the packaged statistics, or another JSON of the same format."""
    raw = json.loads(Path(path or STATS_PATH).read_text(encoding="utf-8"))
    pooled = np.asarray(raw["duration_quantiles_s"], dtype=np.float64)
    per_class = np.stack(
        [
            np.asarray(q, dtype=np.float64) if q is not None else pooled
            for q in raw["class_duration_quantiles_s"]
        ]
    )
    return MMA52Stats(
        class_counts=np.asarray(raw["class_counts"], dtype=np.float64),
        quantile_levels=np.asarray(raw["quantile_levels"], dtype=np.float64),
        class_duration_quantiles=per_class,
        duration_quantiles=pooled,
        instances_per_video={int(k): int(v) for k, v in raw["instances_per_video"].items()},
        video_duration_quantiles=np.asarray(raw["video_duration_quantiles_s"], dtype=np.float64),
        fps_counts={float(k): int(v) for k, v in raw["fps_counts"].items()},
        cooccurrence_video=np.asarray(raw["cooccurrence_video"], dtype=np.float64),
        cooccurrence_overlap=np.asarray(raw["cooccurrence_overlap"], dtype=np.float64),
    )
