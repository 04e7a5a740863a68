"""Sampling one video's micro-action timeline from the real MMA-52 statistics.

A timeline is what the annotation CSV records for a video (instances with frames and
classes) plus what the renderer needs (which hand or leg a one-sided action uses). The
sampler reproduces the real shape of the data, restricted to the enabled classes:

* video length and instances per video from the real distributions;
* classes by real frequency, shaped by real co-occurrence (classes seen together in real
  videos are likelier together here);
* durations by inverse-CDF sampling of each class's real duration quantiles.

Instances of different classes may overlap in time (the task is multi-label), but never
two instances that drive the same limb (one head cannot nod and shake at once) and never
two instances of the same class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perception.synthetic.motions import MOTIONS
from perception.synthetic.stats import MMA52Stats, load_stats

COOCCURRENCE_MIX = 0.5  # 0 = classes independent; 1 = only co-occurrence after the first class
MIN_INSTANCE_S = 0.25  # the shortest real instances are ~0.27 s (8 frames at 30 fps)
DRAWS_PER_INSTANCE = 4  # retries with a fresh class when an instance cannot be placed
SAME_CLASS_GAP_S = 0.5  # repeats of a class keep a pause, else they would read as one instance


@dataclass(frozen=True)
class Instance:
    """One micro-action: frames ``[start, end)``, its class and the side it uses (0 = left)."""

    cls: int
    start: int
    end: int
    side: int

    @property
    def limbs(self) -> tuple[str, ...]:
        return MOTIONS[self.cls].limbs_for(self.side)


@dataclass(frozen=True)
class Timeline:
    """All instances of one video, sorted by start frame."""

    total_frames: int
    fps: float
    instances: tuple[Instance, ...]

    @property
    def duration_s(self) -> float:
        return self.total_frames / self.fps


def class_weights(
    stats: MMA52Stats,
    classes: tuple[int, ...],
    chosen: list[int],
    balance: float = 0.0,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Probability of each enabled class given the classes already in the video.

    Base term: real frequency renormalised over the enabled classes (``balance`` in
    [0, 1] flattens it: 0 = real imbalance, 1 = uniform). Co-occurrence term: mean over
    the chosen classes of P(class in video | chosen class in video) from the real videos.
    ``bias`` (one multiplier per action index) tilts the result, e.g. towards the classes of a
    video's latent affective state (``affective.py``); None leaves it exactly as it was.
    """
    idx = np.asarray(classes)
    base = stats.class_counts[idx] ** (1.0 - balance)
    base = base / base.sum() if base.sum() > 0 else np.full(len(idx), 1.0 / len(idx))
    if chosen:
        cond = np.zeros(len(idx))
        for k in chosen:
            row = stats.cooccurrence_video[k, idx] ** (1.0 - balance)
            cond += row / row.sum() if row.sum() > 0 else base
        cond /= len(chosen)
        base = (1.0 - COOCCURRENCE_MIX) * base + COOCCURRENCE_MIX * cond
    if bias is None:
        return base
    tilted = base * np.asarray(bias, dtype=np.float64)[idx]
    return tilted / tilted.sum()


def _free_gaps(blocked: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """Complement of the union of ``blocked`` intervals inside ``[0, total)``."""
    gaps, cursor = [], 0
    for a, b in sorted(blocked):
        a, b = max(a, 0), min(b, total)
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < total:
        gaps.append((cursor, total))
    return gaps


def _place(
    rng: np.random.Generator, length: int, gaps: list[tuple[int, int]], min_len: int
) -> tuple[int, int] | None:
    """A uniformly random position for ``length`` frames inside the free gaps.

    When no gap is long enough the instance shrinks to the longest gap (real annotators
    also cut actions short where another one of the same limb begins); below ``min_len``
    the instance is dropped.
    """
    fits = [(a, b) for a, b in gaps if b - a >= length]
    if not fits:
        longest = max(gaps, key=lambda g: g[1] - g[0], default=None)
        if longest is None or longest[1] - longest[0] < min_len:
            return None
        return longest
    slots = np.array([b - a - length + 1 for a, b in fits], dtype=np.float64)
    which = int(rng.choice(len(fits), p=slots / slots.sum()))
    start = fits[which][0] + int(rng.integers(0, int(slots[which])))
    return start, start + length


def sample_timeline(
    rng: np.random.Generator,
    classes: tuple[int, ...],
    fps: float,
    min_duration_s: float = 5.0,
    max_duration_s: float = 15.0,
    balance: float = 0.0,
    stats: MMA52Stats | None = None,
    class_bias: np.ndarray | None = None,
    count_scale: float | None = None,
) -> Timeline:
    """Sample one video's timeline; deterministic given ``rng``. Always >= 1 instance.

    ``class_bias`` (multipliers per action index) and ``count_scale`` (a factor on the number
    of instances, rounded stochastically) shape the timeline by a latent state; left None, the
    random stream and the result are exactly those of the unshaped sampler."""
    stats = stats or load_stats()
    lo_frames = math.ceil(min_duration_s * fps - 1e-9)
    hi_frames = math.floor(max_duration_s * fps + 1e-9)
    seconds = stats.sample_video_duration(rng, min_duration_s, max_duration_s)
    total = int(np.clip(round(seconds * fps), lo_frames, hi_frames))
    min_len = max(2, round(MIN_INSTANCE_S * fps))
    gap = round(SAME_CLASS_GAP_S * fps)
    wanted = stats.sample_instance_count(rng)
    if count_scale is not None:
        wanted = max(1, math.floor(wanted * count_scale + rng.random()))

    placed: list[Instance] = []
    for _ in range(wanted):
        for _attempt in range(DRAWS_PER_INSTANCE):
            weights = class_weights(stats, classes, [i.cls for i in placed], balance, class_bias)
            cls = int(classes[int(rng.choice(len(classes), p=weights))])
            length = int(np.clip(round(stats.sample_duration(cls, rng) * fps), min_len, total))
            spec = MOTIONS[cls]
            sides = [int(rng.integers(2))] if spec.sided else [0]
            if spec.sided:
                sides.append(1 - sides[0])
            instance = None
            for side in sides:
                limbs = set(spec.limbs_for(side))
                blocked = [(i.start - gap, i.end + gap) for i in placed if i.cls == cls]
                blocked += [(i.start, i.end) for i in placed if i.cls != cls and limbs & set(i.limbs)]
                span = _place(rng, length, _free_gaps(blocked, total), min_len)
                if span is not None:
                    instance = Instance(cls, span[0], span[1], side)
                    break
            if instance is not None:
                placed.append(instance)
                break
    placed.sort(key=lambda i: (i.start, i.cls, i.end))
    return Timeline(total_frames=total, fps=float(fps), instances=tuple(placed))
