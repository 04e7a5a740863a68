"""How large the frame-to-frame changes of a folder of videos are, as the backbone sees them: the
value to give ``model.backbone.difference_std``.

    python -m perception.motion_scale data/synthetic_mma/train --size 64 --stride 4

With ``frame_difference`` the patch embedding, pretrained on frames, is handed differences some
tens of times smaller than a frame, and its tokens drown in the position embedding added to them.
Dividing by the differences' typical size puts them back on the frames' scale. That size depends
on the data (how much moves, the frame rate), on the sampling stride (frames 4 apart differ more
than neighbours) and on the resolution (downscaling blurs small movements away: on the synthetic
default, 0.031 between neighbouring frames at 64 px, 0.045 at 160 px), so it is measured, on the
training videos, with the detector's own ``data.frame_stride``, model ``image_size`` and
``data.fit``.

The figure is the root mean square of the differences in the pixel-normalised units the backbone
works in (ImageNet mean and std, as perception/backbone.py), per video; the median over videos is
the suggestion. A file that cannot be decoded, or has fewer than two sampled frames, is listed at
the end and the rest go on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from perception.backbone import PIXEL_STD
from perception.pretrain.data import NoVideosError, find_videos
from perception.video import FITS, VideoDecodeError, read_video


def difference_rms(frames: np.ndarray) -> float:
    """Root mean square of consecutive frames' differences, frames (T, H, W, 3) uint8, in the
    backbone's normalised units: ((f_t - f_t-1) / 255) / std per channel (the mean cancels)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames as (time, height, width, 3), got {frames.shape}")
    if len(frames) < 2:
        raise ValueError(f"needs at least two frames to take a difference, got {len(frames)}")
    scale = 255.0 * np.asarray(PIXEL_STD, dtype=np.float64)
    squares = 0.0
    for previous, current in zip(frames[:-1], frames[1:], strict=True):  # one pair at a time: long videos
        change = (current.astype(np.float64) - previous.astype(np.float64)) / scale
        squares += float(np.square(change).mean())
    return float(np.sqrt(squares / (len(frames) - 1)))


@dataclass
class MotionScale:
    """Per-video figures and the files that failed, with the reason."""

    per_video: dict[str, float] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def median(self) -> float:
        if not self.per_video:
            raise ValueError("no video could be measured")
        return statistics.median(self.per_video.values())

    def describe(self) -> str:
        lines = []
        if self.per_video:
            values = sorted(self.per_video.values())
            median = statistics.median(values)
            quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
            lines += [
                f"frame-difference rms over {len(values)} videos: median {median:.4f} "
                f"(quartiles {quartiles[0]:.4f} .. {quartiles[2]:.4f}, range {values[0]:.4f} .. {values[-1]:.4f})",
                f"suggested: model.backbone.frame_difference=true model.backbone.difference_std={median:.3g}",
            ]
        lines += [f"FAILED {video}: {reason}" for video, reason in self.failures]
        return "\n".join(lines)


def measure(videos: Iterable[Path], size: int, stride: int, fit: str = "squash") -> MotionScale:
    """Each video's difference rms as the detector would sample it (``stride``, ``size``, ``fit``)."""
    result = MotionScale()
    videos = list(videos)
    for path in tqdm(videos, desc="frame differences", unit="video"):
        try:
            frames = np.asarray(read_video(path, stride=stride, size=size, fit=fit).frames)
            result.per_video[str(path)] = difference_rms(frames)
        except (VideoDecodeError, ValueError) as error:
            result.failures.append((str(path), str(error)))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder of training videos (searched recursively)")
    parser.add_argument(
        "--size", type=int, required=True, help="the backbone's image_size (model.backbone.config)"
    )
    parser.add_argument("--stride", type=int, required=True, help="data.frame_stride of the detector")
    parser.add_argument("--fit", choices=FITS, default="squash", help="data.fit (default squash)")
    parser.add_argument(
        "--limit", type=int, default=None, help="measure only the first N videos (sorted by path)"
    )
    args = parser.parse_args(argv)
    try:
        videos = find_videos(args.folder)[: args.limit]
    except NoVideosError as error:  # a missing folder, or one without a single video file
        print(error, file=sys.stderr)
        return 2
    result = measure(videos, args.size, args.stride, args.fit)
    print(result.describe())
    return 0 if result.per_video else 1


if __name__ == "__main__":
    sys.exit(main())
