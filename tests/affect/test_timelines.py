"""Timelines: ground truth from the annotations, predicted ones cached per video and detector."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from affect.dataset import load_emotion_dataset
from affect.detector import Detector
from affect.timelines import TimelineCache, groundtruth_timelines, timeline_frame
from detection.model.postprocess import PostprocessConfig


def test_groundtruth_timelines_are_the_annotations(tiny_emotion_root):
    dataset = load_emotion_dataset(tiny_emotion_root)
    timelines = groundtruth_timelines(dataset)
    frame = pd.concat([pd.read_csv(tiny_emotion_root / f"{s}.csv") for s in ("train", "val", "test")])
    for video in dataset.videos:
        rows = frame[frame["video_id"] == video.video_id]
        table = timelines[video.video_id]
        assert table["class"].tolist() == rows["class"].tolist()
        assert table["t_start"].tolist() == pytest.approx((rows["start_frame"] / rows["fps"]).tolist())
        assert (table["score"] == 1.0).all()
    assert len(timeline_frame(timelines)) == len(frame)


def test_groundtruth_needs_every_video_annotated(tmp_path, tiny_emotion_root):
    root = tmp_path / "emotion"
    shutil.copytree(tiny_emotion_root, root)
    table = pd.read_csv(root / "test.csv")
    table[table["video_id"] != "test0003"].to_csv(root / "test.csv", index=False)
    with pytest.raises(ValueError, match="1 video\\(s\\) have no micro-action annotations, e.g. 'test0003'"):
        groundtruth_timelines(load_emotion_dataset(root))


@pytest.fixture
def detector(tiny_detector) -> Detector:
    tiny_detector.postprocess = PostprocessConfig(
        pre_nms_topk=50, max_segments=10
    )  # untrained: keep NMS cheap
    return Detector(tiny_detector, checkpoint=None, sha256="a" * 64, frame_stride=4, caches={})


def test_predicted_timelines_are_cached_and_keyed_by_detector_and_video(
    tmp_path, tiny_emotion_root, detector
):
    root = tmp_path / "emotion"
    shutil.copytree(tiny_emotion_root, root)
    videos = load_emotion_dataset(root).split("val")
    cache = TimelineCache(tmp_path / "cache", detector, skeleton_source=None)
    first, predicted = cache.timelines(videos, chunk=2)
    assert predicted == 3 and sorted(first) == sorted(v.video_id for v in videos)
    assert all(set(t["video_id"]) <= {vid} and len(t) > 0 for vid, t in first.items())
    again, predicted = cache.timelines(videos)
    assert predicted == 0
    for video_id, table in first.items():
        pd.testing.assert_frame_equal(table, again[video_id])

    (root / "val" / "val0001.landmarks.npy").write_bytes(b"changed")  # a sidecar is part of the content
    _, predicted = cache.timelines(videos)
    assert predicted == 1
    detector.sha256 = "b" * 64  # another detector never reads this one's timelines
    _, predicted = TimelineCache(tmp_path / "cache", detector, None).timelines(videos)
    assert predicted == 3
    assert not list((tmp_path / "cache").rglob("*.tmp"))
