"""Streaming clips from disk: a bounded cache, and the same frames as decoding whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from detection.data.annotations import read_mma52_csv
from detection.data.dataset import MMADataset
from perception.frame_cache import FrameCache, StreamedFrames, count_sampled_frames
from perception.video import fit_frames, read_video
from tests.conftest import write_mp4


def test_the_cache_never_exceeds_its_bound_and_evicts_the_least_recently_used():
    cache = FrameCache(max_bytes=3000)
    clip = lambda value: np.full(1000, value, dtype=np.uint8)  # noqa: E731
    for key in range(4):
        cache.get(key, lambda k=key: clip(k))
        assert cache.nbytes <= 3000
    assert len(cache) == 3 and cache.misses == 4
    cache.get(1, lambda: clip(99))  # a hit: 1 becomes the most recent, nothing is loaded
    assert cache.hits == 1
    cache.get(4, lambda: clip(4))  # evicts 2, the least recently used
    assert int(cache.get(1, lambda: clip(99))[0]) == 1
    assert int(cache.get(2, lambda: clip(42))[0]) == 42  # 2 was evicted and reloaded
    huge = cache.get("huge", lambda: np.zeros(5000, np.uint8))
    assert huge.nbytes == 5000 and "huge" not in cache._clips and cache.nbytes <= 3000


@pytest.fixture(scope="module")
def train_videos(tiny_synthetic_root):
    return read_mma52_csv(tiny_synthetic_root / "train.csv", video_root=tiny_synthetic_root)


def test_streamed_windows_are_the_fully_decoded_frames(tiny_synthetic_root):
    path = sorted((tiny_synthetic_root / "train").glob("*.mp4"))[0]
    whole = read_video(path, 4, 32).frames
    assert count_sampled_frames(path, 4) == len(whole)
    cache = FrameCache(10 * 2**20)
    streamed = StreamedFrames(Path(path), 4, 32, "squash", 0, len(whole), cache)
    assert np.array_equal(np.asarray(streamed), whole)
    window = streamed[5:25]
    assert len(window) == 20 and np.array_equal(np.asarray(window), whole[5:25])
    assert np.array_equal(np.asarray(window[3:7]), whole[8:12])


def test_a_streaming_dataset_gives_the_same_clips_within_its_memory_bound(tiny_synthetic_root, train_videos):
    common = dict(frame_stride=4, image_size=32, tubelet=2)
    eager = MMADataset(train_videos, tiny_synthetic_root / "train", **common)
    bound_mb = 0.3  # smaller than the split's frames: clips are evicted and decoded again
    streamed = MMADataset(
        train_videos, tiny_synthetic_root / "train", stream=True, cache_mb=bound_mb, **common
    )
    total = sum(s.frames.nbytes for s in eager.samples)
    assert total > bound_mb * 2**20
    for _ in range(2):
        for a, b in zip(eager.samples, streamed.samples, strict=True):
            assert len(a.frames) == len(b.frames)
            assert np.array_equal(np.asarray(b.frames), a.frames)
            assert streamed.frame_cache.nbytes <= bound_mb * 2**20
    assert streamed.frame_cache.misses > len(streamed)  # evicted clips were decoded again


def test_short_side_resize_and_centre_crop_geometry(tmp_path):
    columns = (np.arange(80) * 3).astype(np.uint8)  # each column's value encodes its x
    frames = np.broadcast_to(columns[None, None, :, None], (2, 40, 80, 3)).copy()
    out = fit_frames(frames, 20, "center_crop")
    assert out.shape == (2, 20, 20, 3)
    # short side 40 -> 20 halves the width to 40; the centre 20 columns are 10..29 of those,
    # i.e. source columns 20..59: values about 3 x 20.5 and 3 x 58.5
    assert abs(int(out[0, 10, 0, 0]) - 61.5) <= 1 and abs(int(out[0, 10, -1, 0]) - 175.5) <= 1
    squashed = fit_frames(frames, 20, "squash")
    assert squashed.shape == (2, 20, 20, 3) and squashed[0, 10, 0, 0] < 10  # the whole width
    tall = fit_frames(frames.transpose(0, 2, 1, 3), 20, "center_crop")  # portrait: rows cropped
    assert tall.shape == (2, 20, 20, 3) and np.ptp(tall[0, :, 0, 0]) > 100

    video = write_mp4(tmp_path / "wide.mp4", frames.repeat(4, axis=0))
    decoded = read_video(video, 1, 20, fit="center_crop").frames
    assert decoded.shape == (8, 20, 20, 3)
    assert abs(int(decoded[0, 10, 0, 0]) - 61.5) <= 6 and abs(int(decoded[0, 10, -1, 0]) - 175.5) <= 6
    with pytest.raises(ValueError, match="unknown frame fit"):
        read_video(video, 1, 20, fit="letterbox")


def test_predict_streams_frames_with_the_geometry_training_used(tmp_path):
    """task=predict crops as data.fit=center_crop trained (decord vs PyAV scaling: ~1 level)."""
    from perception.cue_stream import CueStream
    from perception.video import ResampledStream, probe_video

    rng = np.random.default_rng(0)
    frames = np.repeat(np.repeat(rng.integers(0, 255, (4, 10, 20, 3), dtype=np.uint8), 4, 1), 4, 2)
    video = write_mp4(tmp_path / "wide.mp4", frames)
    info = probe_video(video)
    with CueStream(info, 20, 1, info.fps, {}, fit="center_crop") as cues:
        for sample in ResampledStream(video, cues.grid_rate, info):
            cues.add(sample)
        streamed = np.stack(cues.rgb)
    trained = read_video(video, 1, 20, fit="center_crop").frames
    squashed = read_video(video, 1, 20, fit="squash").frames
    assert streamed.shape == trained.shape == (4, 20, 20, 3)
    error = np.abs(streamed.astype(float) - trained).mean()
    assert error < 8 < np.abs(streamed.astype(float) - squashed).mean()


def test_streamed_batches_equal_eager_ones_cues_and_temporal_crops_included(
    tiny_synthetic_root, train_videos, tmp_path
):
    """The whole training input (frames and skeletons, cropped in time) is the same streamed."""
    from detection.data.cues import RGBCue, SkeletonCue
    from detection.data.dataset import CachedCue, Collate
    from perception.cue_cache import CueCache
    from perception.skeleton import SkeletonConfig

    extractor = SkeletonConfig(source="groundtruth", frame_stride=4)
    cache = CueCache(tmp_path / "cues", "skeleton", {"source": "groundtruth", "frame_stride": 4}, extractor)
    cues = {"rgb": RGBCue(), "skeleton": SkeletonCue(extractor, encoder=None)}
    common = dict(frame_stride=4, image_size=32, tubelet=2, caches={"skeleton": cache}, cues=cues)
    eager = MMADataset(train_videos, tiny_synthetic_root / "train", **common)
    streamed = MMADataset(train_videos, tiny_synthetic_root / "train", stream=True, cache_mb=0.3, **common)
    assert all(isinstance(s.cues["skeleton"], CachedCue) for s in streamed.samples)
    batches = []
    for dataset in (eager, streamed):
        collate = Collate(2, 8, rng=np.random.default_rng(5), cues=cues, temporal_crop=(0.5, 0.9))
        batches.append([collate(dataset.samples[i : i + 2]) for i in range(0, len(dataset), 2)])
    for a, b in zip(*batches, strict=True):
        assert torch.equal(a.feature_mask, b.feature_mask)
        for cue in cues:
            for x, y in zip(a.inputs[cue], b.inputs[cue], strict=True):
                assert torch.equal(x, y)
        for x, y in zip(a.segments, b.segments, strict=True):
            assert torch.equal(x, y)
