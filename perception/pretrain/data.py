"""Clips and masks for VideoMAE pretraining, from any folder of videos.

Videos are found recursively by file suffix (every container FFmpeg commonly writes; the
annotation files, landmarks and notes beside them are not videos) and decoded with
:func:`perception.video.read_video` (decord, PyAV as the fallback). One item of the dataset is one
video: decoded once, it yields ``clips_per_video`` random clips of ``num_frames`` frames, every
``frame_stride``-th frame, each multi-scale cropped (VideoMAE's augmentation) and possibly mirrored.

Everything random is drawn from a generator seeded by (seed, epoch, video index), so a run resumed
after a kill sees exactly the clips and masks it would have seen, in any worker process.

A video that cannot be decoded does not stop the run: its item comes back as a failure that the
loop records, skips from then on and lists at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from perception.video import read_video

# Suffixes of the video containers FFmpeg reads that cameras, phones and datasets use.
VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".m2ts", ".mts", ".ts",
    ".flv", ".wmv", ".asf", ".3gp", ".3g2", ".ogv", ".ogg", ".vob", ".mxf", ".dv", ".y4m", ".nut",
)  # fmt: skip


class NoVideosError(FileNotFoundError):
    """A pretraining source holds no video files."""


def find_videos(sources: str | Path | Iterable[str | Path]) -> list[Path]:
    """Every video under ``sources``: files as given, folders searched recursively (sorted by
    path), in the order of ``sources``, each file once."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = [Path(s) for s in sources]
    found: dict[Path, None] = {}  # an ordered set
    for source in sources:
        if source.is_file():
            found[source] = None
        elif source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                    found[path] = None
        else:
            raise NoVideosError(f"videos: {source} does not exist")
    if not found:
        names = ", ".join(map(str, sources)) or "(no folder given)"
        raise NoVideosError(
            f"no video files under {names} (searched recursively for {', '.join(VIDEO_SUFFIXES)})"
        )
    return list(found)


def tube_mask(grid: tuple[int, int, int], ratio: float, rng: np.random.Generator) -> torch.Tensor:
    """VideoMAE's tube mask: the same ``int(ratio * h * w)`` spatial cells hidden in every time
    slice, so a masked patch cannot be copied from the same place one frame earlier. (T*H*W,) bool,
    True = masked; every clip hides the same number of tokens, as the decoder needs."""
    t, h, w = grid
    hidden = int(ratio * h * w)
    if not 0 < hidden < h * w:
        raise ValueError(f"mask_ratio {ratio} hides {hidden} of {h * w} cells: nothing to see or to predict")
    cells = np.zeros(h * w, dtype=bool)
    cells[rng.permutation(h * w)[:hidden]] = True
    return torch.from_numpy(np.tile(cells, t))


def random_mask(grid: tuple[int, int, int], ratio: float, rng: np.random.Generator) -> torch.Tensor:
    """``int(ratio * T*H*W)`` tokens hidden anywhere, independently of time (VideoMAE's "random"
    ablation): a hidden cell is usually visible in some other time slice, so reconstructing what
    moves there is interpolation in time rather than a guess from the neighbouring cells, which a
    motion confined to one cell (a nod at 64 px) cannot give. On the synthetic default it left the
    frame-difference loss as flat as tubes do (README, "A long pretraining"). A tube mask over a
    single time slice holding every token is exactly that draw. (T*H*W,) bool, True = masked."""
    return tube_mask((1, 1, int(np.prod(grid))), ratio, rng)


MASKS = {"tube": tube_mask, "random": random_mask}


@dataclass(frozen=True)
class ClipSpec:
    num_frames: int
    image_size: int
    frame_stride: int
    clips_per_video: int
    scales: tuple[float, ...]
    hflip: float


def sample_clip(frames: np.ndarray, spec: ClipSpec, rng: np.random.Generator) -> torch.Tensor:
    """One augmented clip, (num_frames, 3, size, size) float in [0, 1], from decoded frames
    (T, H, W, 3) uint8. Short videos repeat their last frame (black would be a fake scene cut)."""
    t = len(frames)
    start = int(rng.integers(0, max(1, t - spec.num_frames + 1)))
    index = np.minimum(np.arange(start, start + spec.num_frames), t - 1)
    clip = torch.from_numpy(np.ascontiguousarray(frames[index])).permute(0, 3, 1, 2).float() / 255.0
    height, width = clip.shape[-2:]
    scale = float(rng.choice(spec.scales))
    crop_h, crop_w = max(1, round(height * scale)), max(1, round(width * scale))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    clip = clip[..., top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) != (spec.image_size, spec.image_size):
        clip = F.interpolate(
            clip, size=(spec.image_size, spec.image_size), mode="bilinear", align_corners=False
        )
    if rng.random() < spec.hflip:
        clip = clip.flip(-1)
    return clip.clamp_(0.0, 1.0)


class PretrainClips(Dataset):
    """Item ``i``: (``clips_per_video`` clips of video ``i``, its index, None) or, when the video
    cannot be decoded, (None, index, reason). Call :meth:`set_epoch` before each epoch."""

    def __init__(self, videos: Sequence[Path], spec: ClipSpec, seed: int = 0, keep_decoded: bool = False):
        self.videos = list(videos)
        self.spec = spec
        self.seed = seed
        self.epoch = 0
        self.keep_decoded = keep_decoded
        self._decoded: dict[int, np.ndarray] = {}
        self._failed: dict[int, str] = {}  # known failures, not retried (in this process)

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def frames(self, index: int) -> np.ndarray:
        if index in self._decoded:
            return self._decoded[index]
        frames = read_video(
            self.videos[index], stride=self.spec.frame_stride, size=self.spec.image_size
        ).frames
        if self.keep_decoded:
            self._decoded[index] = frames
        return frames

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str | None]:
        if index in self._failed:
            return None, index, self._failed[index]
        try:
            frames = self.frames(index)
        except Exception as error:  # decoders raise many types; the loop lists the failure
            self._failed[index] = f"{type(error).__name__}: {error}"
            return None, index, self._failed[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clips = [sample_clip(frames, self.spec, rng) for _ in range(self.spec.clips_per_video)]
        return torch.stack(clips), index, None


class _Decoded(Dataset):
    """Item ``i``: (i, decoded frames or None, failure reason or None)."""

    def __init__(self, clips: PretrainClips) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, str | None]:
        try:
            return index, self.clips.frames(index), None
        except Exception as error:  # decoders raise many types; the caller lists the failure
            return index, None, f"{type(error).__name__}: {error}"


def predecode(clips: PretrainClips, workers: int, progress: bool = True) -> dict[int, str]:
    """Decode every video once, in ``workers`` processes, into ``clips``' memory (for
    ``keep_decoded``); returns {index: reason} for the videos that failed."""
    loader = DataLoader(_Decoded(clips), batch_size=None, num_workers=workers)
    failures = {}
    for index, frames, reason in tqdm(
        loader, total=len(clips), desc="decoding", unit="video", disable=not progress
    ):
        if frames is None:
            failures[int(index)] = clips._failed[int(index)] = reason
        else:
            clips._decoded[int(index)] = np.asarray(frames)
    return failures


def collate(items: list) -> tuple[torch.Tensor | None, list[int], list[tuple[int, str]]]:
    """(clips of the readable videos or None, their indices, (index, reason) of the others)."""
    clips = [c for c, _, reason in items if reason is None]
    indices = [i for _, i, reason in items if reason is None]
    failures = [(i, reason) for _, i, reason in items if reason is not None]
    return (torch.cat(clips) if clips else None), indices, failures


def batch_masks(
    batch: int,
    grid: tuple[int, int, int],
    ratio: float,
    seed: int,
    epoch: int,
    step: int,
    masking: str = "tube",
) -> torch.Tensor:
    """(batch, T*H*W) masks (``masking``: a key of ``MASKS``) for one optimizer step, reproducible
    from (seed, epoch, step)."""
    if masking not in MASKS:
        raise ValueError(f"masking must be one of {sorted(MASKS)}, got {masking!r}")
    rng = np.random.default_rng([seed, epoch, step, 1])
    return torch.stack([MASKS[masking](grid, ratio, rng) for _ in range(batch)])


def steps_per_epoch(videos: int, videos_per_step: int) -> int:
    return max(1, math.ceil(videos / videos_per_step))
