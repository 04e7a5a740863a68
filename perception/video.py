"""Decoding videos into frame arrays for the models.

decord is the fast path (it seeks and resizes inside FFmpeg); PyAV is the fallback for
files or platforms decord cannot handle. Both return the same thing: uint8 RGB frames of
the requested size, every ``stride``-th frame, plus the video's fps and frame count, so the
caller can convert frame indices to seconds exactly as the annotations do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class VideoDecodeError(RuntimeError):
    """A video could not be decoded; the message names the file and the reason."""


@dataclass(frozen=True)
class DecodedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, every ``stride``-th frame
    fps: float
    total_frames: int
    stride: int


def _read_with_decord(path: Path, stride: int, size: int | None) -> DecodedVideo:
    import decord

    kwargs = {"width": size, "height": size} if size else {}
    reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1, **kwargs)
    total = len(reader)
    if total == 0:
        raise VideoDecodeError(f"{path}: the video has no frames")
    frames = reader.get_batch(list(range(0, total, stride))).asnumpy()
    return DecodedVideo(frames, float(reader.get_avg_fps()), total, stride)


def _read_with_pyav(path: Path, stride: int, size: int | None) -> DecodedVideo:
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        total = 0
        for index, frame in enumerate(container.decode(stream)):
            total += 1
            if index % stride:
                continue
            image = frame.to_ndarray(format="rgb24")
            if size:
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            frames.append(image)
    if not frames:
        raise VideoDecodeError(f"{path}: the video has no frames")
    return DecodedVideo(np.stack(frames), fps, total, stride)


def read_video(path: str | Path, stride: int = 1, size: int | None = None) -> DecodedVideo:
    """Decode every ``stride``-th frame of ``path``, resized to ``size`` x ``size`` if given.

    The frame is resized without keeping the aspect ratio: the detector sees the whole
    frame, and micro-actions happen anywhere on the body, so cropping would lose some.
    """
    path = Path(path)
    if stride < 1:
        raise ValueError(f"frame stride must be >= 1, got {stride}")
    if not path.is_file():
        raise VideoDecodeError(f"{path}: no such video file")
    errors = []
    for reader in (_read_with_decord, _read_with_pyav):
        try:
            return reader(path, stride, size)
        except VideoDecodeError:
            raise
        except Exception as error:  # decoder libraries raise many types; try the next one
            errors.append(f"{reader.__name__.removeprefix('_read_with_')}: {error}")
    raise VideoDecodeError(f"{path}: cannot decode ({'; '.join(errors)})")
