"""Predict's per-video files: ELAN (parsed back), per-frame scores, timeline CSV/JSON, HTML."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from detection.predict.elan import pack_lanes, write_eaf
from detection.predict.exports import (
    frame_columns,
    frame_scores,
    write_frame_scores,
    write_timeline_csv,
    write_timeline_json,
)
from detection.predict.report import ReportVideo, write_report
from detection.predict.video import VideoPrediction
from perception.taxonomy import BODY_GROUPS, action
from perception.video import VideoInfo

# Two overlapping head actions (9 nodding, 10 shaking head), one upper-limb, one leg-hand.
DETECTIONS = pd.DataFrame(
    {
        "video_id": ["clip"] * 5,
        "t_start": [0.5, 1.0, 2.0, 3.2, 0.0],
        "t_end": [2.5, 1.8, 3.0, 4.0, 0.9],
        "class": [9, 10, 19, 9, 48],
        "score": [0.9, 0.7, 0.6, 0.4, 0.3],
    }
)


@pytest.fixture
def prediction(tmp_path) -> VideoPrediction:
    video = tmp_path / "media folder" / "clip é.mp4"
    video.parent.mkdir()
    video.write_bytes(b"")  # exports only reference the file
    info = VideoInfo(video, 64, 48, 0, 10.0, 4.5, "h264", "mov,mp4", "yuv420p")
    return VideoPrediction(
        video_id="clip",
        info=info,
        detections=DETECTIONS.copy(),
        duration=4.5,
        frame_times=np.arange(45) / 10.0,
        sample_rate=2.5,
        present=np.array([True, False] * 6),
        skeleton_source="mediapipe",
    )


def test_pack_lanes_never_overlaps_within_a_lane():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 1000, 200)
    intervals = [(int(s), int(s + d)) for s, d in zip(starts, rng.integers(1, 300, 200), strict=True)]
    lanes = pack_lanes(intervals)
    for lane in set(lanes):
        members = sorted(iv for iv, k in zip(intervals, lanes, strict=True) if k == lane)
        assert all(a[1] <= b[0] for a, b in zip(members, members[1:], strict=False))
    # as few lanes as the deepest overlap needs (greedy by start is optimal for intervals)
    depth = max(sum(s <= t < e for s, e in intervals) for t in range(1300))
    assert max(lanes) + 1 == depth


def test_elan_file_parses_back_to_the_detections(prediction, tmp_path):
    path = tmp_path / "out" / "timelines" / "clip.eaf"
    write_eaf(prediction.detections, prediction.path, path)
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0"
    # children in the order the EAF 3.0 schema requires
    order = [
        "HEADER",
        "TIME_ORDER",
        "TIER",
        "LINGUISTIC_TYPE",
        "LANGUAGE",
        "CONSTRAINT",
        "CONTROLLED_VOCABULARY",
    ]
    tags = [child.tag for child in root]
    assert [t for t in order if t in tags] == sorted(set(tags), key=tags.index)

    media = root.find("HEADER/MEDIA_DESCRIPTOR")
    relative = unquote(media.get("RELATIVE_MEDIA_URL"))
    assert (path.parent / relative).resolve() == prediction.path.resolve()
    assert unquote(media.get("MEDIA_URL")) == "file://" + str(prediction.path.resolve())

    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    entries = {e.get("CVE_ID"): e.find("CVE_VALUE").text for e in root.iter("CV_ENTRY_ML")}
    assert len(entries) == 52
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    for group in BODY_GROUPS:  # every body group has a tier, even without detections
        assert group.name in tiers and f"{group.name} score" in tiers
    assert tiers["head score"].get("PARENT_REF") == "head"

    found, parents = [], {}
    for name, tier in tiers.items():
        if name.endswith(" score"):
            continue
        spans = []
        for item in tier.iter("ALIGNABLE_ANNOTATION"):
            start, end = slots[item.get("TIME_SLOT_REF1")], slots[item.get("TIME_SLOT_REF2")]
            label = int(item.get("CVE_REF").removeprefix("cve"))
            assert item.find("ANNOTATION_VALUE").text == entries[item.get("CVE_REF")]
            assert name.split(" ")[0] in action(label).body.name  # tier of the class's body group
            parents[item.get("ANNOTATION_ID")] = len(found)
            found.append([start / 1000, end / 1000, label, None])
            spans.append((start, end))
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), name
    for ref in root.iter("REF_ANNOTATION"):
        found[parents[ref.get("ANNOTATION_REF")]][3] = float(ref.find("ANNOTATION_VALUE").text)
    assert "head 2" in tiers  # the two overlapping head actions need two tiers
    expected = prediction.detections[["t_start", "t_end", "class", "score"]].to_numpy().tolist()
    assert np.allclose(np.array(sorted(found)), np.array(sorted(expected)))


def test_frame_scores_take_the_highest_covering_detection(prediction):
    times = prediction.frame_times
    scores = frame_scores(times, prediction.detections, 52)
    for f, t in enumerate(times):  # brute force over every frame and class
        for c in range(52):
            rows = DETECTIONS[
                (DETECTIONS["class"] == c) & (DETECTIONS["t_start"] <= t) & (t < DETECTIONS["t_end"])
            ]
            assert scores[f, c] == pytest.approx(rows["score"].max() if len(rows) else 0.0)


def test_frame_csv_has_one_row_per_frame_in_openface_layout(prediction, tmp_path, monkeypatch):
    import detection.predict.exports as exports

    monkeypatch.setattr(exports, "FRAME_CHUNK", 7)  # several chunks must join seamlessly
    path = write_frame_scores(prediction, tmp_path / "frames" / "clip.csv")
    table = pd.read_csv(path)
    assert list(table.columns) == ["frame", "timestamp", "success", *frame_columns()]
    assert len(table) == 45 and table["frame"].tolist() == list(range(45))
    expected = frame_scores(prediction.frame_times, prediction.detections, 52)
    assert np.allclose(table[frame_columns()].to_numpy(), expected, atol=5e-4)
    # success: whether the nearest model frame (2.5 per second) had a person
    nearest = np.rint(prediction.frame_times * 2.5).astype(int).clip(0, 11)
    assert table["success"].tolist() == prediction.present[nearest].astype(int).tolist()


def test_timeline_csv_and_json_agree(prediction, tmp_path):
    csv = pd.read_csv(write_timeline_csv(prediction, tmp_path / "clip.csv"))
    record = json.loads(write_timeline_json(prediction, tmp_path / "clip.json").read_text())
    assert list(csv.columns) == ["video_id", "start", "end", "class", "code", "name", "body", "score"]
    assert csv["start"].is_monotonic_increasing and len(csv) == len(DETECTIONS)
    assert [s["class"] for s in record["segments"]] == csv["class"].tolist()
    assert [s["name"] for s in record["segments"]] == [action(c).name for c in csv["class"]]
    assert record["duration"] == 4.5 and record["person_fraction"] == 0.5


def test_report_of_a_video_without_detections_draws_empty_lanes(prediction, tmp_path):
    empty = prediction.detections.iloc[0:0]  # a model that found nothing (an untrained student)
    report = tmp_path / "run" / "report.html"
    write_report(report, [ReportVideo("clip", prediction.path, 4.5, empty)], metrics=None, failures=[])
    page = report.read_text()
    assert page.count('class="seg pred"') == 0 and page.count('class="lane-bg pred"') == len(BODY_GROUPS)


def test_report_draws_one_segment_per_detection_and_ground_truth(prediction, tmp_path):
    truth = DETECTIONS[["video_id", "t_start", "t_end", "class"]].head(2)
    report = tmp_path / "run" / "report.html"
    video = ReportVideo("clip", prediction.path, 4.5, prediction.detections, truth=truth)
    write_report(report, [video], metrics=None, failures=[("x.mp4", "x.mp4: not a video")])
    page = report.read_text()
    assert page.count('class="seg pred"') == 5 and page.count('class="seg gt"') == 2
    src = page.split('<video controls preload="metadata" src="')[1].split('"')[0]
    assert Path(os.path.normpath(report.parent / unquote(src))) == prediction.path
    assert "x.mp4: not a video" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
