"""Cues of an arbitrary video, computed as its frames stream past, the way training saw them.

Training decoded every ``data.frame_stride``-th frame of 30 fps videos, computed flow between
frames ``flow.frame_stride`` apart and skeletons on (nearly) every frame, and cached whole
videos. A video of any length and frame rate is instead resampled to the same clock
(:class:`perception.video.ResampledStream`), and each cue is computed per sampled frame on
the fly with the checkpoint's settings, so memory holds only the frames of the window being
predicted, never the whole video.

The sampling grid ticks at ``fps / gcd(frame_stride, flow.frame_stride)``: RGB and skeletons
use every ``frame_stride / gcd``-th tick, and flow pairs span ``flow.frame_stride / gcd``
ticks, exactly the native frame distance of training. MediaPipe runs on the RGB ticks only
(training ran it on every frame and then kept those ticks; video-mode tracking across
the larger gap is the one difference). With ``skeleton_source="groundtruth"`` the
``<stem>.landmarks.npy`` beside the video is read at the ticks' native frames instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import cv2
import numpy as np
import torch

from detection.cue_inputs import cue_tensor
from detection.predict_model import Predictor
from perception.flow import make_flow_fn, quantize_flow
from perception.skeleton import (
    NUM_LANDMARKS,
    _points,
    _quiet_stderr,
    _solution,
    landmarks_path,
    normalize_to_body,
    smooth_present,
)
from perception.video import Sample, VideoDecodeError, VideoInfo, frame_to_rgb

Clock = Callable[[str], AbstractContextManager]
SKELETON_SOURCES = ("auto", "mediapipe", "groundtruth")


def skeleton_source(requested: str, trained: str, video: Path) -> str:
    """Where skeletons come from for this video. ``auto``: what training used, except that a
    video without ground-truth landmarks (any real video) gets MediaPipe, whose 33-point
    layout the synthetic ground truth shares."""
    if requested not in SKELETON_SOURCES:
        raise ValueError(f"unknown skeleton source {requested!r}; valid: {', '.join(SKELETON_SOURCES)}")
    if requested != "auto":
        return requested
    if trained == "groundtruth" and landmarks_path(video).is_file():
        return "groundtruth"
    return "mediapipe"


class CueStream(ExitStack):
    """Per-sampled-frame cue entries of one video; a context manager (it owns MediaPipe).

    Feed every tick of a :class:`ResampledStream` at :attr:`grid_rate` to :meth:`add`; entry
    ``k`` of every cue is complete once :attr:`ready` exceeds ``k``. :meth:`window` builds
    the model inputs of entries ``[a, b)``; :meth:`drop_before` frees older ones.
    """

    def __init__(self, predictor: Predictor, info: VideoInfo, skeleton_source: str, clock: Clock) -> None:
        super().__init__()
        self.predictor, self.info, self.clock = predictor, info, clock
        self.size = predictor.image_size
        stride = predictor.frame_stride
        flow_stride = predictor.flow.frame_stride if predictor.flow else stride
        unit = math.gcd(stride, flow_stride)
        self.grid_rate = predictor.train_fps / unit
        self.rgb_every, self.flow_gap = stride // unit, flow_stride // unit
        self.offset = 0  # index of the first entry still held
        self.rgb: list[np.ndarray] = []
        self.source_index: list[int] = []
        self.flow: list[np.ndarray] = []
        self.grey: dict[int, np.ndarray] = {}  # grid tick -> grey frame awaiting its flow partner
        self.landmarks: list[np.ndarray] = []
        self.person: list[bool] = []  # per entry, whether a skeleton was found; kept for the whole video
        self.flow_fn = make_flow_fn(predictor.flow) if predictor.flow else None
        self.pose = None
        self.truth: np.ndarray | None = None
        self.source = skeleton_source if predictor.skeleton else None
        self.aspect = info.width / info.height
        if self.source == "groundtruth":
            self.truth = self._read_truth(info.path)
        elif self.source == "mediapipe":
            with _quiet_stderr():  # MediaPipe's C++ logging, not the progress bar: only around its calls
                self.pose = _solution(predictor.skeleton)
            self.callback(self._close_pose)
        self.finished = False
        self.peak_held = 0  # most entries held at once: the memory bound, checked by the tests

    def _close_pose(self) -> None:
        with _quiet_stderr():
            self.pose.close()

    @staticmethod
    def _read_truth(video: Path) -> np.ndarray:
        source = landmarks_path(video)
        if not source.is_file():
            raise FileNotFoundError(f"{video}: skeleton source 'groundtruth' needs {source}")
        truth = np.load(source, allow_pickle=False)
        if truth.ndim != 3 or truth.shape[1:] != (NUM_LANDMARKS, 4):
            raise ValueError(f"{source}: expected (T, {NUM_LANDMARKS}, 4) landmarks, got {truth.shape}")
        return truth.astype(np.float32)

    # ----------------------------------------------------------------------- per tick

    @property
    def count(self) -> int:
        """Entries seen so far (RGB ticks), including dropped ones."""
        return self.offset + len(self.rgb)

    @property
    def ready(self) -> int:
        """Entries whose every cue is computed."""
        if self.flow_fn is None or self.finished:
            return self.count
        return self.offset + len(self.flow)

    def add(self, sample: Sample) -> None:
        tick = sample.index
        is_rgb = tick % self.rgb_every == 0
        if is_rgb:
            with self.clock("rgb"):
                image = frame_to_rgb(sample.frame, self.size, self.size, self.info.rotation)
            self.rgb.append(image)
            self.source_index.append(sample.source_index)
            self.peak_held = max(self.peak_held, len(self.rgb))
            if self.source is not None:
                self.landmarks.append(self._skeleton(sample))
                self.person.append(bool(np.isfinite(self.landmarks[-1][:, :2]).all()))
        if self.flow_fn is not None and (is_rgb or (tick - self.flow_gap) % self.rgb_every == 0):
            self._flow_tick(tick, sample, image if is_rgb else None)

    def _flow_tick(self, tick: int, sample: Sample, rgb: np.ndarray | None) -> None:
        flow = self.predictor.flow
        with self.clock("flow"):
            if rgb is None or flow.size != self.size:
                rgb = frame_to_rgb(sample.frame, flow.size, flow.size, self.info.rotation)
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            start = tick - self.flow_gap
            if start >= 0 and start % self.rgb_every == 0 and start in self.grey:
                self.flow.append(quantize_flow(self.flow_fn(self.grey[start], grey), flow.clip))
            if tick % self.rgb_every == 0:
                self.grey[tick] = grey
            for old in [t for t in self.grey if t < tick - self.flow_gap]:
                del self.grey[old]

    def _skeleton(self, sample: Sample) -> np.ndarray:
        with self.clock("skeleton"):
            if self.truth is not None:
                row = min(sample.source_index, len(self.truth) - 1)
                return self.truth[row]
            config = self.predictor.skeleton
            scale = min(1.0, config.max_side / max(self.info.width, self.info.height))
            width = max(1, round(self.info.width * scale))
            height = max(1, round(self.info.height * scale))
            image = frame_to_rgb(sample.frame, width, height, self.info.rotation, interpolation="AREA")
            self.aspect = width / height
            with _quiet_stderr():
                found = self.pose.process(image).pose_landmarks
            if not found:
                return np.full((NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
            return _points(found, 4)

    def finish(self) -> None:
        """The stream ended: the last entries have no flow partner and repeat the last flow,
        as :func:`perception.flow.flow_from_frames` repeats it at the end of a video."""
        if self.count == 0:
            raise VideoDecodeError(f"{self.info.path}: the video has no frames")
        if self.flow_fn is not None:
            if not self.flow and self.offset == 0:
                raise VideoDecodeError(
                    f"{self.info.path}: too short for optical flow: it needs frames "
                    f"{self.flow_gap / self.grid_rate:.2f} s apart"
                )
            last = self.flow[-1]
            self.flow += [last] * (self.count - self.offset - len(self.flow))
        self.grey.clear()
        self.finished = True

    # ----------------------------------------------------------------------- per window

    def window(self, start: int, stop: int) -> dict[str, torch.Tensor]:
        """Model inputs (one tensor per cue, time first) for entries ``[start, stop)``."""
        a, b = start - self.offset, stop - self.offset
        if a < 0 or b > len(self.rgb):
            raise IndexError(f"entries [{start}, {stop}) not held (have [{self.offset}, {self.count}))")
        inputs = {}
        for cue in self.predictor.cues:
            if cue == "rgb":
                inputs[cue] = torch.from_numpy(np.stack(self.rgb[a:b]))
            elif cue == "flow":
                stored = {"flow": np.stack(self.flow[a:b]), "clip": self.predictor.flow.clip}
                inputs[cue] = cue_tensor("flow", stored)
            elif cue == "skeleton":
                inputs[cue] = cue_tensor("skeleton", self._body(a, b))
            else:
                raise ValueError(f"predict has no extractor for cue {cue!r}")
        return inputs

    def present(self, start: int, stop: int) -> np.ndarray:
        """Whether a person was found in each entry (all True without a skeleton cue)."""
        a, b = start - self.offset, stop - self.offset
        if self.source is None:
            return np.ones(b - a, dtype=bool)
        return np.isfinite(np.stack(self.landmarks[a:b])[..., :2]).all(axis=(-1, -2))

    def _body(self, a: int, b: int) -> dict[str, np.ndarray]:
        """Skeletons normalised as training normalised a whole video, over this window: the torso
        scale is the window's median (windows are long, so it is as stable as a video's)."""
        config = self.predictor.skeleton
        landmarks = np.stack(self.landmarks[a:b]).astype(np.float32)
        present = np.isfinite(landmarks[..., :2]).all(axis=(-1, -2))
        landmarks[~present] = np.nan
        # training's smoothing window counts skeleton frames (every skeleton.frame_stride-th frame)
        window = round(config.smoothing * config.frame_stride / self.predictor.frame_stride)
        landmarks = smooth_present(landmarks, present, window)
        return {"body": normalize_to_body(landmarks, present, self.aspect), "present": present}

    def drop_before(self, index: int) -> None:
        """Forget entries before ``index`` (they belong to windows already predicted)."""
        cut = max(0, min(index - self.offset, len(self.rgb)))
        if not cut:
            return
        del self.rgb[:cut], self.source_index[:cut]
        if self.source is not None:
            del self.landmarks[:cut]
        if self.flow_fn is not None:
            del self.flow[:cut]
        self.offset += cut
