"""Filling the cue cache for a folder: parallel workers, skipping what is cached, failures listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perception.cue_cache import CueCache
from perception.extract import extract_cues, list_videos


def length_extract(video: Path) -> dict[str, np.ndarray]:
    data = video.read_bytes()
    if data.startswith(b"BAD"):
        raise ValueError("cannot decode")
    return {"length": np.array(len(data))}


def test_a_bad_video_is_listed_and_the_others_are_extracted(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    for name, data in [("a.mp4", b"good a"), ("b.mp4", b"BAD bytes"), ("c.mp4", b"good c!")]:
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not a video")
    videos = list_videos(tmp_path, ["train"])
    assert [v.name for v in videos] == ["a.mp4", "b.mp4", "c.mp4"]
    cache = CueCache(tmp_path / "cache", "length", {}, length_extract)

    summary = extract_cues(videos, {"length": cache}, workers=1)
    assert (summary.extracted, summary.cached) == (2, 0)
    assert [(Path(v).name, cue) for v, cue, _ in summary.failures] == [("b.mp4", "length")]
    assert "cannot decode" in summary.failures[0][2] and "b.mp4" in summary.describe()
    assert int(cache.load(folder / "c.mp4")["length"]) == len(b"good c!")

    again = extract_cues(videos, {"length": cache}, workers=1)
    assert (again.extracted, again.cached, len(again.failures)) == (0, 2, 1)


def test_parallel_extraction_of_real_flow_matches_serial(tiny_synthetic_root, tmp_path):
    from perception.flow import FlowConfig, extract_flow

    videos = list_videos(tiny_synthetic_root, ["test"])[:2]
    config = FlowConfig(size=32)
    parallel = CueCache(tmp_path / "parallel", "flow", {"size": 32}, config)
    summary = extract_cues(videos, {"flow": parallel}, workers=2)
    assert (summary.extracted, summary.failures) == (2, [])
    for video in videos:
        direct = extract_flow(video, config)
        np.testing.assert_array_equal(parallel.load(video)["flow"], direct["flow"])
