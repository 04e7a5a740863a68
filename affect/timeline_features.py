"""Micro-action features from a timeline: pooled statistics and a token sequence.

A timeline is a table of instances (``t_start``, ``t_end`` in seconds, ``class`` as the
action index, ``score``; ground truth has score 1). Instances below ``min_score`` are dropped
first: a detector's soft-NMS leaves many low-score near-duplicates that are not events.

Pooled statistics (fixed layout over the 52 classes and 7 body groups, so features of
different datasets line up; classes a dataset never shows are constant columns):

- per class and per body group: ``count``, ``rate`` (per minute: videos differ in length),
  ``total_s`` and ``mean_s`` duration (0 without instances);
- ``cooc/<g>+<h>``: pairs of instances overlapping in time, by their body groups (g <= h);
- onsets: ``onset/first_s`` and ``onset/first_fraction`` (the video's duration, and 1, when
  nothing happens), the mean, std and minimum gap between consecutive onsets (the duration,
  the duration and 0 with fewer than two instances: no repeat inside the video), ``coverage``
  (fraction of the video with at least one action), and ``concurrency/max`` and
  ``concurrency/mean`` (number of actions active at once; the mean is total duration over
  video duration).

The sequence for sequence models is one token per instance in start order:
``[class, body group, start / duration, end / duration, log(1 + length in s), score]``; at
most ``max_tokens`` (the highest scores, so a long interview keeps its clearest events).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from affect.features import FeatureBlock, FeatureInputs
from perception.taxonomy import ACTION_TO_BODY, ACTIONS, BODY_GROUPS, NUM_ACTIONS, NUM_BODY_GROUPS

PER_GROUP_STATS = ("count", "rate", "total_s", "mean_s")
ONSET_STATS = (
    "onset/count",
    "onset/rate",
    "onset/first_s",
    "onset/first_fraction",
    "onset/gap_mean_s",
    "onset/gap_std_s",
    "onset/gap_min_s",
    "coverage",
    "concurrency/max",
    "concurrency/mean",
)
TOKEN_FIELDS = ("class", "body", "start_fraction", "end_fraction", "log_length", "score")
_BODY = np.asarray(ACTION_TO_BODY)
_PAIRS = [(g, h) for g in range(NUM_BODY_GROUPS) for h in range(g, NUM_BODY_GROUPS)]


def feature_names() -> list[str]:
    """Column names of :func:`pooled_features`, in order."""
    names = [f"{stat}/{a.code}" for stat in PER_GROUP_STATS for a in ACTIONS]
    names += [f"body_{stat}/{g.letter}" for stat in PER_GROUP_STATS for g in BODY_GROUPS]
    names += [f"cooc/{BODY_GROUPS[g].letter}+{BODY_GROUPS[h].letter}" for g, h in _PAIRS]
    return names + list(ONSET_STATS)


def kept_instances(timeline: pd.DataFrame, duration: float, min_score: float) -> pd.DataFrame:
    """Instances at or above ``min_score``, clipped to the video and sorted by start."""
    if duration <= 0:
        raise ValueError(f"video duration must be positive, got {duration}")
    kept = timeline[timeline["score"] >= min_score]
    starts = kept["t_start"].to_numpy(dtype=np.float64).clip(0, duration)
    ends = kept["t_end"].to_numpy(dtype=np.float64).clip(0, duration)
    table = pd.DataFrame(
        {
            "t_start": starts,
            "t_end": ends,
            "class": kept["class"].to_numpy(np.int64),
            "score": kept["score"].to_numpy(np.float64),
        }
    )
    return (
        table[table["t_end"] > table["t_start"]]
        .sort_values(["t_start", "t_end"], kind="stable")
        .reset_index(drop=True)
    )


def _group_stats(groups: np.ndarray, lengths: np.ndarray, size: int, duration: float) -> np.ndarray:
    """count, rate, total and mean duration for each of ``size`` groups, stacked stat-major."""
    count = np.bincount(groups, minlength=size).astype(np.float64)
    total = np.bincount(groups, weights=lengths, minlength=size)
    mean = np.divide(total, count, out=np.zeros(size), where=count > 0)
    return np.concatenate([count, count * 60.0 / duration, total, mean])


def _cooccurrence(starts: np.ndarray, ends: np.ndarray, bodies: np.ndarray) -> np.ndarray:
    counts = np.zeros((NUM_BODY_GROUPS, NUM_BODY_GROUPS))
    for i in range(len(starts)):
        overlapping = np.minimum(ends[i], ends[i + 1 :]) > np.maximum(starts[i], starts[i + 1 :])
        for j in np.flatnonzero(overlapping) + i + 1:
            g, h = sorted((bodies[i], bodies[j]))
            counts[g, h] += 1
    return np.array([counts[g, h] for g, h in _PAIRS])


def _onsets(starts: np.ndarray, ends: np.ndarray, duration: float) -> np.ndarray:
    first = starts[0] if len(starts) else duration
    gaps = np.diff(starts)
    gap_mean, gap_std, gap_min = (
        (gaps.mean(), gaps.std(), gaps.min()) if len(gaps) else (duration, 0.0, duration)
    )
    # sweep over boundaries: +1 at each start, -1 at each end (ends first at equal times)
    events = sorted([(e, -1) for e in ends] + [(s, 1) for s in starts])
    active, peak, covered, last = 0, 0, 0.0, 0.0
    for time, change in events:
        if active > 0:
            covered += time - last
        active += change
        peak, last = max(peak, active), time
    total = float((ends - starts).sum())
    count = float(len(starts))
    return np.array(
        [count, count * 60.0 / duration, first, first / duration, gap_mean, gap_std, gap_min]
        + [covered / duration, float(peak), total / duration]
    )


def pooled_features(timeline: pd.DataFrame, duration: float, min_score: float = 0.0) -> np.ndarray:
    """The statistics named by :func:`feature_names` for one video's timeline."""
    kept = kept_instances(timeline, duration, min_score)
    classes = kept["class"].to_numpy()
    if len(classes) and (classes.min() < 0 or classes.max() >= NUM_ACTIONS):
        raise ValueError(f"timeline has a class outside 0..{NUM_ACTIONS - 1}")
    starts, ends = kept["t_start"].to_numpy(), kept["t_end"].to_numpy()
    lengths = ends - starts
    bodies = _BODY[classes] if len(classes) else classes
    parts = [
        _group_stats(classes, lengths, NUM_ACTIONS, duration),
        _group_stats(bodies, lengths, NUM_BODY_GROUPS, duration),
        _cooccurrence(starts, ends, bodies),
        _onsets(starts, ends, duration),
    ]
    return np.concatenate(parts).astype(np.float32)


def timeline_tokens(
    timeline: pd.DataFrame, duration: float, min_score: float = 0.0, max_tokens: int = 64
) -> np.ndarray:
    """(L, 6) tokens (fields :data:`TOKEN_FIELDS`), start order, the ``max_tokens`` best kept."""
    kept = kept_instances(timeline, duration, min_score)
    if len(kept) > max_tokens:
        kept = kept.sort_values("score", ascending=False, kind="stable").head(max_tokens)
        kept = kept.sort_values(["t_start", "t_end"], kind="stable")
    classes = kept["class"].to_numpy()
    starts, ends = kept["t_start"].to_numpy(), kept["t_end"].to_numpy()
    tokens = (
        np.stack(
            [
                classes,
                _BODY[classes] if len(classes) else classes,
                starts / duration,
                ends / duration,
                np.log1p(ends - starts),
                kept["score"].to_numpy(),
            ],
            axis=1,
        )
        if len(classes)
        else np.zeros((0, len(TOKEN_FIELDS)))
    )
    return tokens.astype(np.float32)


class MicroActionFeatures:
    """The ``microaction`` feature block (Hydra target of ``configs/features/microaction.yaml``)."""

    needs_timelines = True
    cues: tuple[str, ...] = ()

    def __init__(self, min_score: float = 0.15, max_tokens: int = 64) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.min_score, self.max_tokens = min_score, max_tokens

    def __call__(self, inputs: FeatureInputs) -> FeatureBlock:
        if inputs.timelines is None:
            raise ValueError(
                "the microaction features need timelines (emotion.timelines=predicted|groundtruth)"
            )
        pooled, sequences = [], []
        for video in tqdm(inputs.videos, desc="timeline features", leave=False):
            if video.video_id not in inputs.timelines:
                raise KeyError(f"no timeline for video {video.video_id!r}")
            timeline = inputs.timelines[video.video_id]
            pooled.append(pooled_features(timeline, video.duration, self.min_score))
            sequences.append(timeline_tokens(timeline, video.duration, self.min_score, self.max_tokens))
        return FeatureBlock("microaction", feature_names(), np.stack(pooled), sequences)
