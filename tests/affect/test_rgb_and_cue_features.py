"""The detector-free feature blocks: pooled backbone features and cue statistics."""

from __future__ import annotations

import numpy as np
import pytest

from affect.cue_features import column_names, flow_statistics, skeleton_statistics
from affect.dataset import load_emotion_dataset
from affect.features import FeatureInputs
from affect.rgb_features import RGBFeatures
from perception.backbone import build_adapted_videomae
from tests.conftest import TINY_VIDEOMAE


def test_rgb_features_are_mean_and_std_over_time_and_windowing_changes_nothing(tiny_emotion_root):
    import torch

    torch.manual_seed(0)
    backbone = build_adapted_videomae(TINY_VIDEOMAE, spatial_pool=2)
    videos = load_emotion_dataset(tiny_emotion_root).split("val")[:2]
    whole = RGBFeatures(backbone, frame_stride=4, window_chunks=8)(FeatureInputs(videos))
    windowed = RGBFeatures(backbone, frame_stride=4, window_chunks=1)(FeatureInputs(videos))
    assert whole.pooled.shape == (2, 2 * backbone.out_dim) and whole.columns[0] == "rgb_mean/0"
    np.testing.assert_allclose(whole.pooled, windowed.pooled, rtol=1e-4, atol=1e-5)
    assert not np.allclose(whole.pooled[0], whole.pooled[1])


def test_flow_statistics_locate_the_motion():
    flow = np.zeros((10, 6, 6, 2), np.float32)
    flow[:4, :2, :2, 0] = 3.0  # top-left cell moves at 3 px in the first 4 of 10 frames
    stats = flow_statistics(flow, grid=3, moving=0.5).reshape(9, 4)
    series = np.array([3.0] * 4 + [0.0] * 6)
    np.testing.assert_allclose(stats[0], [series.mean(), series.std(), np.percentile(series, 90), 0.4])
    assert not stats[1:].any()


def test_skeleton_statistics_speed_and_self_touch():
    body = np.zeros((5, 33, 3), np.float32)
    body[:, 0] = [0.0, -1.0, 0.0]  # nose
    body[:, 15] = [0.0, 0.0, 0.0]  # left wrist 1 torso length below the nose
    body[:, 16] = [0.0, -1.0, 0.0]  # right wrist on the nose
    body[:, 16, 1] = [-1.0, -1.0, 0.5, -1.0, -1.0]  # ... except in frame 2
    body[:, 25] = np.arange(5)[:, None] * [0.1, 0.0, 0.0]  # left knee moves 0.1 per frame
    present = np.ones(5, bool)
    present[4] = False
    stats = dict(
        zip(column_names(["skeleton"], 3), skeleton_statistics(body, present, touch=0.6), strict=True)
    )
    assert stats["speed_mean/left_leg"] == pytest.approx(0.1 / 4)  # one of the leg's 4 joints moves
    assert stats["speed_mean/head"] == pytest.approx(0.0)
    assert stats["wrist_nose_mean/left"] == pytest.approx(1.0) and stats["wrist_nose_touching/left"] == 0.0
    assert stats["wrist_nose_min/right"] == pytest.approx(0.0)
    assert stats["wrist_nose_touching/right"] == pytest.approx(0.75)  # 3 of the 4 present frames
