"""Video frames decoded from disk when a batch needs them, through a cache bounded in bytes.

Why: a dataset that decodes every video whole and keeps the frames needs memory in proportion
to the dataset (real MMA-52 at 160 px and frame stride 2: about 54 GB per process). Streaming
keeps only a video's file path and frame count; its frames, or the window a temporal crop
takes, are decoded (decord, seeking to the window) on access. A least-recently-used cache of
decoded clips, bounded in bytes, keeps small datasets (the demo's) as fast as decoding once:
set the bound above their size and every clip is decoded once.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.video import VideoDecodeError, read_video


class FrameCache:
    """Least-recently-used decoded clips; their bytes never exceed ``max_bytes`` (a clip larger
    than the bound is returned without being kept)."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"frame cache bound must be >= 0 bytes, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._clips: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._clips)

    def get(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        if key in self._clips:
            self.hits += 1
            self._clips.move_to_end(key)
            return self._clips[key]
        self.misses += 1
        clip = load()
        if clip.nbytes <= self.max_bytes:
            self._clips[key] = clip
            self.nbytes += clip.nbytes
            while self.nbytes > self.max_bytes:
                _, evicted = self._clips.popitem(last=False)
                self.nbytes -= evicted.nbytes
        return clip


def count_sampled_frames(path: str | Path, stride: int) -> int:
    """How many frames ``read_video(path, stride)`` gives, without decoding them (decord reads
    the index; PyAV decodes when decord cannot open the file)."""
    try:
        import decord

        total = len(decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1))
    except Exception:  # decord cannot open every file: count by decoding
        return len(read_video(path, stride, 16).frames)
    if total == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    return math.ceil(total / stride)


@dataclass(frozen=True)
class StreamedFrames:
    """The sampled frames ``[start, stop)`` of a video, decoded on ``np.asarray``: what
    ``read_video(path, stride, size, fit).frames[start:stop]`` holds. Slicing narrows the
    window without decoding."""

    path: Path
    stride: int
    size: int
    fit: str
    start: int
    stop: int
    cache: FrameCache

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, key: slice) -> StreamedFrames:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("streamed frames take contiguous slices only; np.asarray() them first")
        window = range(self.start, self.stop)[key]
        return StreamedFrames(
            self.path, self.stride, self.size, self.fit, window.start, window.stop, self.cache
        )

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), self.size, self.size, 3)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        key = (str(self.path), self.stride, self.size, self.fit, self.start, self.stop)
        clip = self.cache.get(
            key,
            lambda: read_video(self.path, self.stride, self.size, self.fit, (self.start, self.stop)).frames,
        )
        return clip if dtype is None else clip.astype(dtype)
