"""Trimmed MA-52 clips as TSN-style samples: ``num_segments`` frames per clip, transformed,
with each sampled frame's skeleton landmarks in the crop's pixel coordinates.

Sampling (TSN / mmaction2 ``SampleFrames(clip_len=1, num_clips=8)``): a clip of N frames is
cut into ``num_segments`` equal segments. Training takes one frame at a random offset in
each segment (segment length ``N // T``); test takes each segment's centre
(``int((i + 0.5) * N / T)``). Clips shorter than ``num_segments`` frames repeat frames
evenly (``floor(i * N / T)``), where mmaction2 would take frame 0 eight times in training.

Randomness comes from a generator keyed by ``(seed, epoch, clip index)``: the same epoch
gives the same crops and frames in any number of loader workers, and ``set_epoch`` moves on.

Decoding: decord reads only the sampled frames (``get_batch``); PyAV decodes the clip and
keeps them when decord cannot open a file. ``cache_decoded=True`` instead decodes each clip
once (``perception.video.read_video``), keeps it in memory at short side ``scale_size`` and
samples from there: for the tiny synthetic default, where decoding would dominate an epoch
(memory ~ frames x scale_size^2 x 3 bytes per clip; not for the real 22k clips). The cache
lives in each loader worker process, so it pays off with ``persistent_workers=True``.

Skeletons: ``skeleton`` is a :class:`perception.skeleton.SkeletonConfig`. The ground-truth
source reads ``<clip>.landmarks.npy`` (the synthetic generator writes it); MediaPipe runs
once per clip when ``cue_cache`` is set, through the same content-keyed cache the detector
uses (same key parameters, so entries are shared). Landmarks of a frame without a person
are NaN, which the entity boxes turn into masked fallback boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from perception.cue_cache import CueCache
from perception.skeleton import SkeletonConfig
from perception.taxonomy import ACTION_TO_BODY
from perception.video import VideoDecodeError, read_video
from recognition.lists import ClipItem
from recognition.transforms import ClipTransform, resize_short_side

SKELETON_TARGET = "perception.skeleton.SkeletonConfig"  # part of the detector's cache key too


def sample_indices(
    total: int, num_segments: int, train: bool, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Frame indices of the ``num_segments`` sampled frames of a ``total``-frame clip."""
    if total < 1:
        raise ValueError("a clip needs at least one frame")
    if total < num_segments:
        return (np.arange(num_segments) * total) // num_segments
    if train:
        if rng is None:
            raise ValueError("training sampling needs a random generator")
        length = total // num_segments
        return np.arange(num_segments) * length + rng.integers(0, length, size=num_segments)
    interval = total / num_segments
    return ((np.arange(num_segments) + 0.5) * interval).astype(np.int64)


def _decode_pyav(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(container.streams.video[0])]
    if not frames:
        raise VideoDecodeError(f"{path}: the video has no frames")
    return np.stack(frames)


def read_sampled(path: Path, pick: Callable[[int], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W, 3) uint8 RGB, their indices) with ``indices = pick(frame_count)``.

    decord opens the file once and decodes only the picked frames; when it fails, PyAV
    decodes the whole clip (MA-52 clips are a few seconds) and the picked frames are kept.
    """
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    try:
        import decord

        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        indices = pick(len(reader))
        return reader.get_batch(list(map(int, indices))).asnumpy(), indices
    except Exception as first:  # decord raises its own error types: try PyAV before giving up
        try:
            frames = _decode_pyav(path)
        except Exception as second:
            raise VideoDecodeError(f"{path}: cannot decode (decord: {first}; pyav: {second})") from second
        indices = pick(len(frames))
        return frames[indices], indices


def nearest(entry_frames: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of the entry whose frame number is nearest each wanted frame (ties: the earlier)."""
    return np.abs(np.asarray(entry_frames)[None, :] - np.asarray(wanted)[:, None]).argmin(axis=1)


class ClipDataset(Dataset):
    """``dataset[i]`` -> {"frames" (T, 3, S, S), "landmarks" (T, 33, 4) if skeletons are on,
    "label", "body", "file", "frame_indices"}."""

    def __init__(
        self,
        items: Sequence[ClipItem],
        video_dir: str | Path | None = None,
        num_segments: int = 8,
        transform: ClipTransform | None = None,
        skeleton: SkeletonConfig | None = None,
        cue_cache: str | Path | None = None,
        cache_decoded: bool = False,
        seed: int = 0,
    ) -> None:
        self.items = list(items)
        self.video_dir = Path(video_dir) if video_dir is not None else None
        self.num_segments = num_segments
        self.transform = transform or ClipTransform()
        self.skeleton = skeleton
        self.skeleton_cache = None
        if skeleton is not None and cue_cache is not None:
            params = {"_target_": SKELETON_TARGET, **asdict(skeleton)}
            self.skeleton_cache = CueCache(cue_cache, "skeleton", params, skeleton)
        self.cache_decoded, self.seed, self.epoch = cache_decoded, seed, 0
        self._frames: dict[int, np.ndarray] = {}
        self._landmarks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def path(self, index: int) -> Path:
        item = self.items[index]
        if item.path is not None:
            return item.path
        if self.video_dir is None:
            raise ValueError(f"{item.file}: no video folder given and the list was read without one")
        return self.video_dir / item.file

    def _skeleton(self, index: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(landmarks (N, 33, 4) normalised, frame indices (N,)) of the whole clip."""
        if index in self._landmarks:
            return self._landmarks[index]
        if self.skeleton_cache is not None:
            arrays, _ = self.skeleton_cache.get(path)
        else:
            arrays = self.skeleton(path)
        found = (arrays["landmarks"].astype(np.float32), arrays["frame_indices"])
        if self.cache_decoded:
            self._landmarks[index] = found
        return found

    def _frames_at(
        self, index: int, path: Path, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        train = self.transform.train
        if self.cache_decoded:
            if index not in self._frames:
                decoded = read_video(path).frames
                self._frames[index] = resize_short_side(decoded, self.transform.scale_size)
            clip = self._frames[index]
            chosen = sample_indices(len(clip), self.num_segments, train, rng)
            return clip[chosen], chosen
        return read_sampled(path, lambda total: sample_indices(total, self.num_segments, train, rng))

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        path = self.path(index)
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.transform.train else None
        frames, chosen = self._frames_at(index, path, rng)
        landmarks = None
        if self.skeleton is not None:
            all_landmarks, entry_frames = self._skeleton(index, path)
            landmarks = all_landmarks[nearest(entry_frames, chosen)]
        pixels, mapped, _ = self.transform(frames, landmarks, rng)
        sample = {
            "frames": pixels,
            "label": item.label,
            "body": ACTION_TO_BODY[item.label],
            "file": item.file,
            "frame_indices": torch.from_numpy(chosen.astype(np.int64)),
        }
        if mapped is not None:
            sample["landmarks"] = mapped
        return sample
