"""MMA-52-layout videos as training samples for the detector.

Frames (every ``frame_stride``-th frame, resized to the model's input size by ``fit``) are
either decoded once and kept in memory as uint8 (``stream=False``: the demo trains for many
epochs on a few hundred short videos, and decoding dominated the epoch time otherwise), or
streamed from disk (``stream=True``, ``perception.frame_cache``): decoded when a batch needs
them, the clip a temporal crop takes only, through a cache bounded to ``cache_mb``, and the
other cues read from the cue cache per batch (:class:`CachedCue`), so memory does not grow with
the dataset (real MMA-52 decoded whole would need about 54 GB).

Cues other than RGB (flow, skeleton) come from the cue cache (``perception.cue_cache``),
resampled to the decoded frames by their :class:`~detection.data.cues.Cue` (``align``).

Times: the backbone emits one feature per ``tubelet`` sampled frames, so one feature step
lasts ``tubelet * frame_stride / fps`` seconds and feature ``i`` is centred at
``(i + 0.5)`` steps. ``seconds_to_steps`` and ``steps_to_seconds`` are the only places
that convert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from detection.data.annotations import VideoAnnotation
from detection.data.cues import Cue
from perception.cue_cache import CueCache
from perception.frame_cache import FrameCache, StreamedFrames, count_sampled_frames
from perception.video import read_video


@dataclass
class VideoSample:
    video_id: str
    frames: np.ndarray | StreamedFrames  # (T, H, W, 3) uint8, or decoded on np.asarray
    fps: float
    duration: float
    step_seconds: float
    segments: np.ndarray  # (N, 2) seconds
    labels: np.ndarray  # (N,)
    cues: dict[str, dict] = field(default_factory=dict)  # cue -> aligned compact arrays


TRUNCATION_KEEP = 0.5  # a cut action stays a target when this share of it remains (ActionFormer's)


@dataclass(frozen=True)
class CachedCue:
    """A cue left in the cue cache until a batch needs it (``stream=True``): read, aligned to
    the decoded frames and cut to the window ``[start, stop)`` on :meth:`resolve`, so its
    arrays (flow: 8 KB per frame) are not held for the whole dataset either."""

    cache: CueCache
    cue: Cue
    path: Path
    frame_count: int
    frame_stride: int
    start: int = 0
    stop: int | None = None

    def __getitem__(self, key: slice) -> CachedCue:
        window = range(self.start, self.frame_count if self.stop is None else self.stop)[key]
        return replace(self, start=window.start, stop=window.stop)

    def resolve(self) -> dict:
        arrays = self.cache.load(self.path)
        if arrays is None:
            raise FileNotFoundError(
                f"{self.path}: its {self.cache.cue} cue left the cue cache ({self.cache.root})"
            )
        aligned = self.cue.align(arrays, self.frame_count, self.frame_stride)
        stop = self.frame_count if self.stop is None else self.stop
        return _slice_time(aligned, self.start, stop, self.frame_count)


def _slice_time(value: Any, start: int, stop: int, length: int) -> Any:
    """A cue's compact data cut to frames [start, stop): arrays (and arrays in dicts) whose
    first axis is the video's frames are sliced, anything else (e.g. flow's clip) is kept."""
    if isinstance(value, CachedCue):
        return value[start:stop]
    if isinstance(value, dict):
        return {k: _slice_time(v, start, stop, length) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == length:
        return value[start:stop]
    return value


def temporal_crop(
    sample: VideoSample, ratio: Sequence[float], tubelet: int, rng: np.random.Generator
) -> VideoSample:
    """AdaTAD's random temporal crop: a window of ``uniform(low, high)`` of the video's sampled
    frames (whole backbone steps) at a uniform random start, with its cues and its actions
    shifted to the window (cut to it; dropped when less than half of an action remains)."""
    length = len(sample.frames)
    steps = -(-length // tubelet)
    keep = min(steps, max(1, round(steps * rng.uniform(float(ratio[0]), float(ratio[1])))))
    first = int(rng.integers(0, steps - keep + 1))
    start, stop = first * tubelet, min(length, (first + keep) * tubelet)
    offset, span = first * sample.step_seconds, keep * sample.step_seconds
    cut = np.clip(sample.segments - offset, 0.0, span)
    original = np.maximum(sample.segments[:, 1] - sample.segments[:, 0], 1e-6)
    kept = (cut[:, 1] - cut[:, 0]) / original >= TRUNCATION_KEEP
    return replace(
        sample,
        frames=sample.frames[start:stop],
        duration=min(sample.duration - offset, span),
        segments=cut[kept].astype(np.float32).reshape(-1, 2),
        labels=sample.labels[kept],
        cues={name: _slice_time(v, start, stop, length) for name, v in sample.cues.items()},
    )


def seconds_to_steps(seconds: np.ndarray | torch.Tensor, step_seconds: float):
    return seconds / step_seconds - 0.5


def steps_to_seconds(steps: np.ndarray | torch.Tensor, step_seconds: float):
    return (steps + 0.5) * step_seconds


class MMADataset(Dataset):
    """Videos of one split with their annotations, decoded eagerly (with a progress bar)."""

    def __init__(
        self,
        videos: Mapping[str, VideoAnnotation],
        video_dir: str | Path,
        frame_stride: int,
        image_size: int,
        tubelet: int,
        workers: int = 2,
        desc: str = "decoding",
        caches: Mapping[str, CueCache] | None = None,
        cues: Mapping[str, Cue] | None = None,
        fit: str = "squash",
        stream: bool = False,
        cache_mb: float = 1024.0,
    ) -> None:
        """``caches``: where each extracted cue (by config name) is cached; ``cues``: the
        detector's cues, which resample the cached entries to the decoded frames; ``fit``:
        how frames become squares (``perception.video.fit_frames``); ``stream``: decode from
        disk on access through a frame cache of at most ``cache_mb`` MiB (module docstring)."""
        self.video_dir = Path(video_dir)
        self.frame_cache = FrameCache(int(cache_mb * 2**20)) if stream else None
        self.frame_stride, self.image_size, self.tubelet = frame_stride, image_size, tubelet
        self.annotations = list(videos.values())

        def load(annotation: VideoAnnotation) -> VideoSample:
            path = annotation.path or self.video_dir / f"{annotation.video_id}.mp4"
            if self.frame_cache is not None:
                count = count_sampled_frames(path, frame_stride)
                frames = StreamedFrames(Path(path), frame_stride, image_size, fit, 0, count, self.frame_cache)
            else:
                frames = read_video(path, frame_stride, image_size, fit).frames
            fps = annotation.fps  # the annotation's fps defines the time axis of the labels
            segments = np.array([[i.start, i.end] for i in annotation.instances], dtype=np.float32).reshape(
                -1, 2
            )
            labels = np.array([i.label for i in annotation.instances], dtype=np.int64)
            aligned = {}
            for name, cache in (caches or {}).items():
                arrays, _ = cache.get(path)
                try:
                    aligned[name] = (cues or {})[name].align(arrays, len(frames), frame_stride)
                except (KeyError, ValueError) as error:
                    raise ValueError(f"{path}: unusable {name} cue ({error})") from error
                if self.frame_cache is not None:  # checked above; read again when a batch needs it
                    aligned[name] = CachedCue(cache, cues[name], Path(path), len(frames), frame_stride)
            return VideoSample(
                annotation.video_id,
                frames,
                fps,
                annotation.duration,
                tubelet * frame_stride / fps,
                segments,
                labels,
                aligned,
            )

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            self.samples = list(
                tqdm(pool.map(load, self.annotations), total=len(self.annotations), desc=desc, leave=False)
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> VideoSample:
        return self.samples[index]


@dataclass
class Batch:
    inputs: dict[str, list[torch.Tensor]]  # cue -> per video tensor; "rgb": (T_i, H, W, 3) uint8
    feature_mask: torch.Tensor  # (B, T') bool
    segments: list[torch.Tensor]  # per video (N_i, 2) in feature steps
    labels: list[torch.Tensor]
    samples: list[VideoSample]


class Collate:
    """Pads feature sequences to a common length that every pyramid level divides, builds
    each cue's input tensors and applies the training augmentation (if any) to each clip.

    A mirrored clip is mirrored in every cue at once (flow's horizontal component and the
    skeleton's left/right joints too), so the cues never disagree about the motion.
    """

    def __init__(
        self,
        tubelet: int,
        length_multiple: int,
        augment: Callable[..., np.ndarray] | None = None,
        rng: np.random.Generator | None = None,
        cues: Mapping[str, Cue] | None = None,
        temporal_crop: Sequence[float] | None = None,
    ) -> None:
        self.tubelet, self.length_multiple = tubelet, length_multiple
        self.temporal_crop = temporal_crop  # [low, high] share kept per training video; None = whole
        self.augment, self.rng = augment, rng or np.random.default_rng(0)
        if not cues:
            raise ValueError("Collate needs the detector's cues (name -> Cue)")
        self.cues = dict(cues)

    def _video_inputs(self, sample: VideoSample) -> dict[str, torch.Tensor]:
        mirror = False
        if self.augment is not None:
            mirror = bool(self.rng.random() < getattr(self.augment, "hflip", 0.0))
        inputs = {}
        for name, cue in self.cues.items():
            try:
                compact = cue.stored(sample, name)
            except KeyError:
                raise KeyError(f"{sample.video_id}: no {name} cue loaded for this video") from None
            inputs[name] = cue.model_input(compact, mirror=mirror, augment=self.augment, rng=self.rng)
        return inputs

    def __call__(self, samples: list[VideoSample]) -> Batch:
        if self.temporal_crop is not None:
            samples = [temporal_crop(s, self.temporal_crop, self.tubelet, self.rng) for s in samples]
        lengths = [-(-len(s.frames) // self.tubelet) for s in samples]
        padded = -(-max(lengths) // self.length_multiple) * self.length_multiple
        mask = torch.zeros(len(samples), padded, dtype=torch.bool)
        for row, length in enumerate(lengths):
            mask[row, :length] = True
        per_video = [self._video_inputs(s) for s in samples]
        return Batch(
            inputs={cue: [v[cue] for v in per_video] for cue in self.cues},
            feature_mask=mask,
            segments=[torch.from_numpy(seconds_to_steps(s.segments, s.step_seconds)) for s in samples],
            labels=[torch.from_numpy(s.labels) for s in samples],
            samples=samples,
        )
