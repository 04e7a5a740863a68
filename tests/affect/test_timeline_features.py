"""Timeline features on hand-made timelines, where every count and duration is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from affect.dataset import EmotionVideo
from affect.features import FeatureInputs
from affect.timeline_features import (
    ONSET_STATS,
    MicroActionFeatures,
    feature_names,
    pooled_features,
    timeline_tokens,
)
from detection.data.annotations import VideoAnnotation

NODDING, SHAKING_LEGS, TOUCHING_NOSE = 9, 24, 43  # head (B), lower limb (D), head-hand (F)


def timeline(*rows) -> pd.DataFrame:
    """(start, end, class, score) rows."""
    return pd.DataFrame(rows, columns=["t_start", "t_end", "class", "score"])


def named(values: np.ndarray) -> dict[str, float]:
    return dict(zip(feature_names(), values.tolist(), strict=True))


def test_counts_rates_and_durations_per_class_and_body_group():
    features = named(
        pooled_features(
            timeline((1.0, 3.0, NODDING, 1.0), (2.0, 4.5, SHAKING_LEGS, 1.0), (6.0, 7.0, NODDING, 1.0)), 10.0
        )
    )
    assert features["count/B1"] == 2 and features["count/D3"] == 1 and features["count/F1"] == 0
    assert features["rate/B1"] == pytest.approx(12.0)  # 2 in 10 s = 12 per minute
    assert features["total_s/B1"] == pytest.approx(3.0) and features["mean_s/B1"] == pytest.approx(1.5)
    assert features["total_s/D3"] == pytest.approx(2.5) and features["mean_s/D3"] == pytest.approx(2.5)
    assert features["mean_s/F1"] == 0.0
    assert features["body_count/B"] == 2 and features["body_count/D"] == 1 and features["body_count/A"] == 0
    assert features["body_total_s/B"] == pytest.approx(3.0) and features["body_rate/D"] == pytest.approx(6.0)
    nonzero = {k for k, v in features.items() if v}
    per_class = {k for k in nonzero if k.split("/")[0] in ("count", "rate", "total_s", "mean_s")}
    assert per_class == {f"{s}/{c}" for s in ("count", "rate", "total_s", "mean_s") for c in ("B1", "D3")}


def test_cooccurrence_and_onset_statistics():
    rows = (
        (1.0, 3.0, NODDING, 1.0),
        (2.0, 4.5, SHAKING_LEGS, 1.0),  # overlaps the first nod: head + lower limb
        (2.5, 3.5, TOUCHING_NOSE, 1.0),  # overlaps both: head + head-hand, lower limb + head-hand
        (6.0, 7.0, NODDING, 1.0),
    )
    features = named(pooled_features(timeline(*rows), 10.0))
    cooc = {k: v for k, v in features.items() if k.startswith("cooc/") and v}
    assert cooc == {"cooc/B+D": 1, "cooc/B+F": 1, "cooc/D+F": 1}
    assert features["onset/count"] == 4 and features["onset/rate"] == pytest.approx(24.0)
    assert features["onset/first_s"] == pytest.approx(1.0) and features[
        "onset/first_fraction"
    ] == pytest.approx(0.1)
    gaps = np.array([1.0, 0.5, 3.5])
    assert features["onset/gap_mean_s"] == pytest.approx(gaps.mean())
    assert features["onset/gap_std_s"] == pytest.approx(gaps.std())
    assert features["onset/gap_min_s"] == pytest.approx(0.5)
    assert features["coverage"] == pytest.approx((4.5 - 1.0 + 1.0) / 10.0)  # [1, 4.5] and [6, 7]
    assert features["concurrency/max"] == 3  # 2.5..3.0: all three first instances
    assert features["concurrency/mean"] == pytest.approx((2.0 + 2.5 + 1.0 + 1.0) / 10.0)


def test_touching_instances_are_not_concurrent():
    features = named(pooled_features(timeline((1.0, 2.0, NODDING, 1.0), (2.0, 3.0, SHAKING_LEGS, 1.0)), 10.0))
    assert features["concurrency/max"] == 1 and not any(
        v for k, v in features.items() if k.startswith("cooc/")
    )
    assert features["coverage"] == pytest.approx(0.2)


def test_empty_timeline_has_documented_onset_values():
    features = named(pooled_features(timeline(), 8.0))
    onsets = {k: features[k] for k in ONSET_STATS}
    assert onsets == {
        "onset/count": 0,
        "onset/rate": 0,
        "onset/first_s": 8.0,
        "onset/first_fraction": 1.0,
        "onset/gap_mean_s": 8.0,
        "onset/gap_std_s": 0.0,
        "onset/gap_min_s": 8.0,
        "coverage": 0.0,
        "concurrency/max": 0,
        "concurrency/mean": 0.0,
    }
    assert sum(features.values()) == pytest.approx(8.0 + 1.0 + 8.0 + 8.0)


def test_low_scores_are_dropped_and_instances_clipped_to_the_video():
    rows = ((0.5, 2.0, NODDING, 0.9), (1.0, 2.0, SHAKING_LEGS, 0.1), (9.0, 12.0, TOUCHING_NOSE, 0.5))
    features = named(pooled_features(timeline(*rows), 10.0, min_score=0.3))
    assert features["count/D3"] == 0 and features["count/B1"] == 1 and features["count/F1"] == 1
    assert features["total_s/F1"] == pytest.approx(1.0)  # 9..12 clipped at the 10 s end


def test_unknown_class_and_bad_duration_are_refused():
    with pytest.raises(ValueError, match="class outside"):
        pooled_features(timeline((1.0, 2.0, 52, 1.0)), 10.0)
    with pytest.raises(ValueError, match="duration must be positive"):
        pooled_features(timeline(), 0.0)


def test_tokens_in_start_order_and_the_best_kept_when_too_many():
    rows = ((5.0, 6.0, NODDING, 0.4), (1.0, 3.0, SHAKING_LEGS, 0.9), (2.0, 2.5, TOUCHING_NOSE, 0.8))
    tokens = timeline_tokens(timeline(*rows), 10.0)
    assert tokens[:, 0].tolist() == [SHAKING_LEGS, TOUCHING_NOSE, NODDING]
    assert tokens[:, 1].tolist() == [3, 5, 1]  # body groups D, F, B
    np.testing.assert_allclose(tokens[0, 2:], [0.1, 0.3, np.log1p(2.0), 0.9], rtol=1e-6)
    kept = timeline_tokens(timeline(*rows), 10.0, max_tokens=2)
    assert kept[:, 0].tolist() == [SHAKING_LEGS, TOUCHING_NOSE]  # the nod has the lowest score
    assert timeline_tokens(timeline(), 10.0).shape == (0, 6)


def test_block_has_one_row_and_sequence_per_video():
    videos = [
        EmotionVideo(f"v{i}", "s", "train", 0, None, 2 + i, VideoAnnotation(f"v{i}", 30.0, 300, []))
        for i in range(2)
    ]
    timelines = {"v0": timeline((1.0, 2.0, NODDING, 1.0)), "v1": timeline()}
    block = MicroActionFeatures(min_score=0.5)(FeatureInputs(videos, timelines))
    assert block.pooled.shape == (2, len(feature_names())) and block.columns == feature_names()
    assert [len(s) for s in block.sequences] == [1, 0]
    with pytest.raises(ValueError, match="need timelines"):
        MicroActionFeatures()(FeatureInputs(videos, None))
