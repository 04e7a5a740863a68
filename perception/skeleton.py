"""Body skeletons per frame: MediaPipe Pose / Holistic, or the synthetic data's ground truth.

A skeleton says *which* body part moved, which flow and pixels only imply; the body-entity
models (DESIGN §5) build their entities from it. Two conventions matter downstream:

- Frames without a person are masked (``present`` False, NaN coordinates), never zero
  filled: a zero skeleton is a valid-looking pose in the image corner, and a model fed one
  learns a spurious "person vanished" motion.
- ``body`` coordinates are centred on the torso and divided by one per-video torso length,
  so the same micro-motion has the same size whatever the subject's distance to the camera,
  and is not divided away by a per-frame scale that itself jitters by that much.

MediaPipe 0.10.21 bundles only the ``model_complexity=1`` pose model (0 and 2 download at
first use, and nothing may be downloaded at run time, DESIGN §8), so other values are refused.
Frames are decoded one at a time (PyAV) rather than with :func:`perception.video.read_video`,
which holds a whole video in memory: MediaPipe wants the native resolution, where that is
gigabytes for a long 1080p video. One extractor, :class:`SkeletonStream`, serves the cue cache
and predict, so both see exactly the same skeletons.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from perception.video import ResampledStream, VideoDecodeError, VideoInfo, frame_to_rgb, probe_video

SOURCES = ("mediapipe", "groundtruth")
ORACLE_SOURCES = ("groundtruth",)  # sources no real video has: results from them are upper bounds
PREDICT_SOURCES = ("auto",) + SOURCES
BUNDLED_COMPLEXITY = 1
NUM_LANDMARKS = 33
NUM_HAND_LANDMARKS = 21
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
VISIBLE = 0.5  # MediaPipe visibility above which a landmark counts as seen
# MediaPipe Pose's left/right landmark pairs (subject's left first); the nose (0) has no pair.
MIRROR_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10)) + tuple((i, i + 1) for i in range(11, 33, 2))


def _mirror_permutation() -> np.ndarray:
    order = np.arange(NUM_LANDMARKS)
    for left, right in MIRROR_PAIRS:
        order[left], order[right] = right, left
    return order


MIRROR_ORDER = _mirror_permutation()


@dataclass(frozen=True)
class SkeletonConfig:
    """Where skeletons come from and how they are post-processed."""

    source: str = "mediapipe"  # "mediapipe" | "groundtruth" (<video stem>.landmarks.npy beside the video)
    holistic: bool = False  # mp.solutions.holistic: adds 2 x 21 hand landmarks, about half the speed
    model_complexity: int = 1  # only 1 is bundled with mediapipe 0.10.21
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    frame_stride: int = 1
    max_side: int = 480  # larger frames are downscaled (aspect kept) before MediaPipe, for speed
    smoothing: int = 0  # centred moving average over present frames, window in sampled frames; 0 = off

    def __call__(self, video_path: str | Path) -> dict[str, np.ndarray]:
        """The config is the extractor: Hydra builds it from ``configs/skeleton/*.yaml`` and
        the cue cache calls it (and hashes its fields into the cache key)."""
        return extract_skeleton(video_path, self)

    def for_video(self, video: str | Path, skeleton_source: str = "auto", **options) -> SkeletonConfig:
        """The settings for one predicted video: ``skeleton_source`` ``auto`` keeps the trained
        source, except that a video without ground-truth landmarks (any real video) gets
        MediaPipe, whose 33-point layout the synthetic ground truth shares."""
        if skeleton_source not in PREDICT_SOURCES:
            raise ValueError(
                f"unknown skeleton source {skeleton_source!r}; valid: {', '.join(PREDICT_SOURCES)}"
            )
        source = skeleton_source
        if source == "auto":
            source = (
                "groundtruth"
                if self.source == "groundtruth" and landmarks_path(video).is_file()
                else "mediapipe"
            )
        return replace(self, source=source)

    def clock_stride(self, frame_stride: int) -> int:
        """Skeletons are taken on the RGB entries' frames (``perception.cue_stream``)."""
        return frame_stride

    def stream(self, info: VideoInfo, rgb_every: int, unit: int, frame_stride: int) -> SkeletonStream:
        """Streaming skeletons for predict, one per RGB entry. With ``frame_stride`` equal to
        this config's (the default), entries, smoothing and normalisation are exactly the
        cached ones; otherwise the smoothing window is rescaled to count the same time."""
        config = self
        if self.frame_stride != frame_stride:
            config = replace(self, smoothing=round(self.smoothing * self.frame_stride / frame_stride))
        return SkeletonStream(config, info, every=rgb_every)


def source_label(source: str) -> str:
    """How a run names its skeleton source in its outputs: the generator's landmarks are an
    oracle (no real video has them), so a result obtained with them says so wherever it goes."""
    return f"{source} (oracle)" if source in ORACLE_SOURCES else source


def _check(config: SkeletonConfig) -> None:
    if config.source not in SOURCES:
        raise ValueError(f"unknown skeleton source {config.source!r}; valid: {', '.join(SOURCES)}")
    if config.model_complexity != BUNDLED_COMPLEXITY:
        raise ValueError(
            f"model_complexity={config.model_complexity} is not available offline: mediapipe 0.10.21 "
            f"bundles only the model_complexity={BUNDLED_COMPLEXITY} pose model (0 and 2 are downloaded "
            "at first use, and this project downloads nothing at run time)"
        )
    for name in ("min_detection_confidence", "min_tracking_confidence"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if config.frame_stride < 1:
        raise ValueError(f"frame_stride must be >= 1, got {config.frame_stride}")
    if config.max_side < 32:
        raise ValueError(f"max_side must be >= 32 pixels, got {config.max_side}")
    if config.smoothing < 0:
        raise ValueError(f"smoothing must be >= 0 frames, got {config.smoothing}")


# --------------------------------------------------------------------------- geometry


def normalize_to_body(landmarks: np.ndarray, present: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """Image-normalised (N, 33, C>=3) landmarks -> (N, 33, 3) body coordinates, NaN where absent.

    MediaPipe divides x by the frame width and y by its height (z is in x's scale), so x and
    z are first multiplied by ``aspect`` = width / height to make the axes isotropic; the
    default 1 is right for square frames (the synthetic videos). Then, per frame, the torso
    centre (midpoint of the shoulder and hip midpoints) is subtracted, and everything is
    divided by one per-video scale: the median torso length (shoulder midpoint to hip
    midpoint) over frames whose hips are visible, or, when the hips are never visible, the
    median shoulder width. Lengths are measured in the image plane because MediaPipe's z is
    its least reliable coordinate. In frames whose hips are not visible the centre uses the
    video's median shoulder-to-hip vector instead of the (guessed) hip positions, so the
    centre does not jump when the hips leave the frame. y points down, as in the image.
    Visibility is read from channel 3 when there is one (otherwise all landmarks count as
    visible).
    """
    landmarks = np.asarray(landmarks)
    present = np.asarray(present, dtype=bool)
    points = landmarks[..., :3].astype(np.float64)
    points[..., 0] *= aspect
    points[..., 2] *= aspect
    vis = landmarks[..., 3] if landmarks.shape[-1] > 3 else np.ones(landmarks.shape[:2])
    out = np.full(points.shape, np.nan, dtype=np.float32)
    if not present.any():
        return out

    shoulder_mid = points[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].mean(axis=1)
    torso = points[:, [LEFT_HIP, RIGHT_HIP]].mean(axis=1) - shoulder_mid
    hips_seen = present & (vis[:, LEFT_HIP] >= VISIBLE) & (vis[:, RIGHT_HIP] >= VISIBLE)
    if hips_seen.any():
        scale = np.median(np.linalg.norm(torso[hips_seen, :2], axis=-1))
        torso = np.where(hips_seen[:, None], torso, np.median(torso[hips_seen], axis=0))
    else:
        shoulders = points[:, LEFT_SHOULDER, :2] - points[:, RIGHT_SHOULDER, :2]
        scale = np.median(np.linalg.norm(shoulders[present], axis=-1))
        torso = np.zeros_like(torso)
    if not (np.isfinite(scale) and scale > 1e-6):
        return out  # degenerate skeletons (all joints on one point): nothing to normalise by
    centre = shoulder_mid + 0.5 * torso
    out[present] = ((points[present] - centre[present, None]) / scale).astype(np.float32)
    return out


def mirror_skeleton(body: np.ndarray) -> np.ndarray:
    """The skeleton of the left-right mirrored video: negate x and swap left/right landmarks.

    For flip augmentation: after a flip the subject's left hand is where the right one was,
    and a class such as "touching the left ear" needs the landmark named left to follow.
    Works on (..., 33, C) body-normalised coordinates (x centred on the body, so negating
    it mirrors about the torso).
    """
    out = np.array(body[..., MIRROR_ORDER, :], copy=True)
    out[..., 0] = -out[..., 0]
    return out


def smooth_present(values: np.ndarray, present: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 over present frames only; absent frames stay NaN.

    Absent frames neither contribute (their NaNs would spread) nor get filled (that would
    invent a person). The window is rounded up to an odd number so it stays centred, and is
    truncated at the ends of the video.
    """
    if window <= 1:
        return values
    half = window // 2
    mask = present.reshape((-1,) + (1,) * (values.ndim - 1))
    filled = np.where(mask, values, 0.0).astype(np.float64)
    sums = np.concatenate([np.zeros((1,) + values.shape[1:]), np.cumsum(filled, axis=0)])
    counts = np.concatenate([[0], np.cumsum(present)])
    index = np.arange(len(values))
    lo = np.clip(index - half, 0, len(values))
    hi = np.clip(index + half + 1, 0, len(values))
    count = np.maximum(counts[hi] - counts[lo], 1).reshape(mask.shape)
    mean = (sums[hi] - sums[lo]) / count
    return np.where(mask, mean, np.nan).astype(values.dtype)


# --------------------------------------------------------------------------- MediaPipe


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence MediaPipe's native logging (it writes to file descriptor 2 from C++, which
    neither GLOG_minloglevel nor Python can filter). What it wrote is shown again if the
    block raises, so nothing is lost when it matters. ``GLOG_minloglevel=0`` keeps it all."""
    if os.environ.get("GLOG_minloglevel") == "0":  # noqa: SIM112 (glog reads this exact name)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr():
        import mediapipe as mp
    return mp


def _solution(config: SkeletonConfig):
    mp = _import_mediapipe()
    options = dict(
        static_image_mode=False,  # video mode: track from frame to frame, detect only when lost
        model_complexity=config.model_complexity,
        min_detection_confidence=config.min_detection_confidence,
        min_tracking_confidence=config.min_tracking_confidence,
    )
    if config.holistic:
        return mp.solutions.holistic.Holistic(**options)
    return mp.solutions.pose.Pose(**options)


def _points(landmark_list, channels: int) -> np.ndarray:
    if channels == 4:
        return np.array([(p.x, p.y, p.z, p.visibility) for p in landmark_list.landmark], dtype=np.float32)
    return np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)


def skeleton_input(frame, config: SkeletonConfig, info: VideoInfo) -> np.ndarray:
    """A decoded PyAV frame as MediaPipe sees it: RGB as displayed (rotation applied), the
    longer side at most ``max_side`` (aspect kept, area-averaged), in cached extraction and in
    predict alike."""
    scale = min(1.0, config.max_side / max(info.width, info.height))
    width, height = max(1, round(info.width * scale)), max(1, round(info.height * scale))
    return frame_to_rgb(frame, width, height, info.rotation, interpolation="AREA")


class SkeletonStream(contextlib.ExitStack):
    """Skeletons of a video computed as its frames arrive: the one skeleton extractor, used by
    the cue cache (:func:`extract_skeleton`) and by predict (:mod:`perception.cue_stream`).

    Entry ``k`` is the skeleton at tick ``k * every`` of the clock the frames arrive on:
    MediaPipe in video mode (tracking from entry to entry), or the generator's ground-truth
    landmarks of the native frame the tick took. A context manager: it owns MediaPipe.
    """

    def __init__(self, config: SkeletonConfig, info: VideoInfo, every: int | None = None) -> None:
        super().__init__()
        _check(config)
        self.config, self.info = config, info
        self.every = every or config.frame_stride
        self.offset = 0  # index of the first entry still held
        self.landmarks: list[np.ndarray] = []  # (33, 4) per entry, NaN where no person
        self.hands: list[np.ndarray] = []  # (2, 21, 3) per entry with holistic
        self.frame_indices: list[int] = []  # native frame of each entry
        self.present_history: list[bool] = []  # per entry, whether a person was found; never dropped
        self.aspect = info.width / info.height
        self.truth = self.solution = None
        if config.source == "groundtruth":
            self.truth = read_groundtruth(info.path)
        else:
            with _quiet_stderr():  # MediaPipe's C++ logging, only around its calls
                self.solution = _solution(config)
            self.callback(self._close_solution)

    def _close_solution(self) -> None:
        with _quiet_stderr():
            self.solution.close()

    @property
    def count(self) -> int:
        return self.offset + len(self.landmarks)

    def push(self, tick: int, sample, rgb: np.ndarray | None = None) -> None:
        """A decoded frame (``perception.video.Sample``) at ``tick``."""
        self.add(tick, sample.frame, sample.source_index)

    @property
    def ready(self) -> int:
        return self.count

    def finish(self) -> None:
        """Nothing is pending: every entry is computed when its frame arrives."""

    def add(self, tick: int, frame, source_index: int) -> None:
        """The decoded frame at ``tick`` (native frame ``source_index``); ticks in increasing order."""
        if tick % self.every:
            return
        self.frame_indices.append(source_index)
        if self.truth is not None:
            self.landmarks.append(self.truth[min(source_index, len(self.truth) - 1)])
            self.present_history.append(bool(np.isfinite(self.landmarks[-1][:, :2]).all()))
            return
        image = skeleton_input(frame, self.config, self.info)
        self.aspect = image.shape[1] / image.shape[0]
        with _quiet_stderr():
            result = self.solution.process(image)
        found = result.pose_landmarks
        self.landmarks.append(_points(found, 4) if found else np.full((NUM_LANDMARKS, 4), np.nan, np.float32))
        self.present_history.append(bool(found))
        if self.config.holistic:
            absent = np.full((NUM_HAND_LANDMARKS, 3), np.nan, dtype=np.float32)
            pair = (result.left_hand_landmarks, result.right_hand_landmarks)
            self.hands.append(np.stack([_points(h, 3) if h else absent for h in pair]))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every entry held, as raw arrays (``landmarks``, ``frame_indices``, ``hands``)."""
        if not self.landmarks:
            raise VideoDecodeError(f"{self.info.path}: the video has no frames")
        out = {
            "landmarks": np.stack(self.landmarks).astype(np.float32),
            "frame_indices": np.asarray(self.frame_indices, dtype=np.int32),
        }
        if self.hands:
            out["hands"] = np.stack(self.hands)
        return out

    def window(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Entries ``[start, stop)`` post-processed as a cached video is (smoothing, then body
        normalisation over these entries): ``body`` and ``present``."""
        a, b = start - self.offset, stop - self.offset
        if a < 0 or b > len(self.landmarks):
            raise IndexError(
                f"skeleton entries [{start}, {stop}) not held (have [{self.offset}, {self.count}))"
            )
        out = postprocess({"landmarks": np.stack(self.landmarks[a:b])}, self.config, self.aspect)
        return {"body": out["body"], "present": out["present"]}

    def drop_before(self, index: int) -> None:
        cut = max(0, min(index - self.offset, len(self.landmarks)))
        del self.landmarks[:cut], self.frame_indices[:cut]
        if self.hands:
            del self.hands[:cut]
        self.offset += cut


def _run_mediapipe(path: Path, config: SkeletonConfig) -> tuple[dict[str, np.ndarray], float]:
    """Landmarks (and hands) of every sampled frame, and the width / height MediaPipe saw."""
    info = probe_video(path)  # names the file when it is missing or unreadable
    with SkeletonStream(config, info) as stream:
        for sample in ResampledStream(path, info.fps or 30.0, info, threads=False):
            stream.add(sample.index, sample.frame, sample.source_index)
        return stream.arrays(), stream.aspect


# --------------------------------------------------------------------------- ground truth


def landmarks_path(video_path: str | Path) -> Path:
    """Where the synthetic generator writes a video's ground-truth landmarks."""
    video_path = Path(video_path)
    return video_path.with_name(f"{video_path.stem}.landmarks.npy")


def read_groundtruth(video_path: str | Path) -> np.ndarray:
    """The generator's (T, 33, 4) landmarks of a synthetic video (NaN rows: no person)."""
    path = Path(video_path)
    source = landmarks_path(path)
    if not source.is_file():
        raise FileNotFoundError(
            f"ground-truth landmarks for {path.name} not found: expected {source} "
            "(written by perception.synthetic; real videos have none, use source='mediapipe')"
        )
    landmarks = np.load(source, allow_pickle=False)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 4):
        raise ValueError(f"{source}: expected (T, {NUM_LANDMARKS}, 4) landmarks, got {landmarks.shape}")
    return landmarks.astype(np.float32)


def _present(landmarks: np.ndarray) -> np.ndarray:
    return np.isfinite(landmarks[..., :2]).all(axis=(-1, -2))


def postprocess(out: dict[str, np.ndarray], config: SkeletonConfig, aspect: float) -> dict[str, np.ndarray]:
    """Raw entries -> what the cache stores: absent frames masked, smoothing over present
    entries (``config.smoothing``), then ``present`` and the body-normalised ``body``. The same
    for a whole cached video and for a window of a streamed one."""
    out = dict(out)
    present = _present(out["landmarks"])
    landmarks = out["landmarks"].copy()
    landmarks[~present] = np.nan
    out["landmarks"] = smooth_present(landmarks, present, config.smoothing)
    if "hands" in out:
        hands = out["hands"].copy()
        for side in range(2):
            found = _present(hands[:, side])
            hands[:, side] = smooth_present(hands[:, side], found, config.smoothing)
        out["hands"] = hands
    out["present"] = present
    out["body"] = normalize_to_body(out["landmarks"], present, aspect)
    return out


# --------------------------------------------------------------------------- entry point


def extract_skeleton(video_path: str | Path, config: SkeletonConfig) -> dict[str, np.ndarray]:
    """Skeletons of every ``frame_stride``-th frame of a video (the cue cache's entry).

    Returns ``landmarks`` float32 (N, 33, 4) image-normalised x, y, z, visibility (NaN where
    no person), ``present`` bool (N,), ``frame_indices`` int32 (N,) (native numbering),
    ``body`` float32 (N, 33, 3) from :func:`normalize_to_body` (NaN where absent) and, for
    MediaPipe Holistic, ``hands`` float32 (N, 2, 21, 3) image-normalised, [subject's left,
    right], NaN where a hand was not found. Smoothing, when on, is applied to the landmarks
    (and hands) before ``body`` is computed. MediaPipe runs through :class:`SkeletonStream` on
    frames decoded one at a time, exactly as predict runs it. The ground-truth source reads the
    landmarks file without decoding and ignores the MediaPipe options (``holistic`` included);
    its frame aspect ratio is read from the video when the video exists, else taken as square.
    """
    _check(config)
    path = Path(video_path)
    if config.source == "groundtruth":
        landmarks = read_groundtruth(path)[:: config.frame_stride]
        out = {
            "landmarks": landmarks,
            "frame_indices": np.arange(len(landmarks), dtype=np.int32) * config.frame_stride,
        }
        info = probe_video(path) if path.is_file() else None
        aspect = info.width / info.height if info else 1.0
    else:
        out, aspect = _run_mediapipe(path, config)
    return postprocess(out, config, aspect)
