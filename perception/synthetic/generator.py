"""Writing a synthetic MMA-52 dataset: real mp4 videos and CSVs in the benchmark's layout.

Layout under ``config.root`` (identical to the real MMA-52, plus ground-truth extras)::

    {train,val,test}.csv                 id,video_id,start_frame,end_frame,class,total_frames,fps
    <split>/<video_id>.mp4               H.264 yuv420p, exactly total_frames frames
    <split>/<video_id>.landmarks.npy     (total_frames, 33, 4) float32, MediaPipe Pose layout
    subjects.csv                         video_id,subject_id,split (splits are subject-disjoint)
    manifest.json                        config, version, config hash -- written last

With ``affect=AffectConfig()`` (the synthetic emotion set) every video also carries a latent
affective state that shapes its timeline (``affective.py``), and two more files describe it
in the emotion format that ``affect/dataset.py`` reads::

    emotion.csv                          video_id,subject_id,split,label
    labels.yaml                          the label names, in index order

Determinism: every random choice of a video comes from a ``SeedSequence`` keyed by
``(seed, split, index)`` (subjects by ``(seed, subject)``), x264 runs single-threaded, so
the same config gives identical CSVs, landmarks and decoded frames regardless of the
number of worker processes or the order in which videos finish.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.atomic import atomic_path, atomic_write_bytes
from perception.synthetic import figure
from perception.synthetic.affective import (
    STATE_NAMES,
    AffectConfig,
    VideoAffect,
    sample_subject,
    video_affect,
)
from perception.synthetic.motions import DEFAULT_CLASSES, apply_instance, check_classes
from perception.synthetic.stats import STATS_PATH
from perception.synthetic.timeline import Timeline, sample_timeline

GENERATOR_VERSION = "1.0"  # bump whenever output for the same config changes
SPLITS = ("train", "val", "test")
CSV_HEADER = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
MANIFEST = "manifest.json"
_SPLIT_KEY = {"train": 1, "val": 2, "test": 3}
_SUBJECT_KEY = 97  # separates subject streams from video streams in the SeedSequence space
_AFFECT_KEY = 211  # affective states: their own streams, so appearance never depends on them
EMOTION_HEADER = ("video_id", "subject_id", "split", "label")
_OWN_FILE = re.compile(r"^(train|val|test)\d{4,}\.(mp4|landmarks\.npy)$")
_NOT_HASHED = ("root", "workers")  # how or where we write does not change what we write


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that determines a synthetic dataset (``root``/``workers`` only say where/how)."""

    root: str | Path = "data/synthetic_mma"
    num_train: int = 240
    num_val: int = 40
    num_test: int = 60
    seed: int = 0
    classes: tuple[int, ...] | None = DEFAULT_CLASSES  # None = DEFAULT_CLASSES (what `classes: null` says)
    size: int = 160  # square frames, like the detector's input resolution
    fps: float = 30.0
    min_duration_s: float = 5.0
    max_duration_s: float = 15.0
    amplitude: float = 1.0  # scales every class motion (see motions.py for the bound at 1)
    noise: float = 2.0  # camera noise std in 8-bit levels
    idle: float = 1.0  # scales class-independent sway, breathing and fidgeting
    videos_per_subject: int = 8
    balance: float = 0.0  # 0 = real class imbalance, 1 = uniform over enabled classes
    crf: int = 17  # x264 quality; low enough that 1-2 px motions survive compression
    workers: int = 2
    affect: AffectConfig | None = None  # latent affective states (the synthetic emotion set)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "classes", check_classes(DEFAULT_CLASSES if self.classes is None else self.classes)
        )
        if isinstance(self.affect, dict):
            object.__setattr__(self, "affect", AffectConfig(**self.affect))
        if self.size < 32 or self.size % 2:
            raise ValueError(f"size must be an even number >= 32 (yuv420p), got {self.size}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not 0 < self.min_duration_s <= self.max_duration_s:
            raise ValueError("need 0 < min_duration_s <= max_duration_s")
        if min(self.num_train, self.num_val, self.num_test) < 0:
            raise ValueError("video counts must be >= 0")
        if self.videos_per_subject < 1:
            raise ValueError("videos_per_subject must be >= 1")
        if not 0.0 <= self.balance <= 1.0:
            raise ValueError("balance must be in [0, 1]")

    def count(self, split: str) -> int:
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}[split]

    def hashed_fields(self) -> dict:
        """The fields that define the content, JSON-ready (for the manifest and its hash)."""
        data = asdict(self)
        for key in _NOT_HASHED:
            data.pop(key)
        data["classes"] = list(self.classes)
        if self.affect is None:  # datasets made before affective states existed keep their hash
            data.pop("affect")
        else:
            data["affect"]["intensity"] = list(self.affect.intensity)
        return data

    def config_hash(self) -> str:
        """Hash of content-defining fields, generator version and the packaged statistics."""
        payload = {
            "config": self.hashed_fields(),
            "version": GENERATOR_VERSION,
            "stats": hashlib.sha256(STATS_PATH.read_bytes()).hexdigest(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class VideoPlan:
    """One video to render: identity, subject and the sampled timeline."""

    split: str
    index: int
    video_id: str
    subject: int
    timeline: Timeline
    affect: VideoAffect | None = None  # the latent affective state, in the emotion set only


def _video_seeds(config: SyntheticConfig, split: str, index: int) -> list[np.random.SeedSequence]:
    """Independent streams for (timeline, motion jitter, idle life, camera noise)."""
    return np.random.SeedSequence([config.seed, _SPLIT_KEY[split], index]).spawn(4)


def subject_id(subject: int) -> str:
    return f"S{subject:04d}"


def plan(config: SyntheticConfig) -> list[VideoPlan]:
    """Sample every video's subject and timeline without rendering (cheap; used by tests too).

    Subjects are numbered consecutively across splits, so no subject is in two splits. With
    ``config.affect`` each video first gets its latent state (from streams of its own, keyed by
    subject and video), which then biases the timeline's classes and instance count.
    """
    plans, next_subject = [], 0
    for split in SPLITS:
        n = config.count(split)
        width = max(4, len(str(max(n - 1, 0))))
        styles = {}
        for index in range(n):
            subject = next_subject + index // config.videos_per_subject
            affect = None
            if config.affect is not None:
                if subject not in styles:
                    first = (subject - next_subject) * config.videos_per_subject
                    rng = np.random.default_rng(np.random.SeedSequence([config.seed, _AFFECT_KEY, subject]))
                    styles[subject] = sample_subject(
                        config.affect, rng, min(config.videos_per_subject, n - first)
                    )
                rng = np.random.default_rng(
                    np.random.SeedSequence([config.seed, _AFFECT_KEY, _SPLIT_KEY[split], index])
                )
                position = index % config.videos_per_subject
                affect = video_affect(config.affect, styles[subject], position, rng)
            rng = np.random.default_rng(_video_seeds(config, split, index)[0])
            timeline = sample_timeline(
                rng,
                config.classes,
                config.fps,
                config.min_duration_s,
                config.max_duration_s,
                config.balance,
                class_bias=affect.class_bias if affect else None,
                count_scale=affect.count_scale if affect else None,
            )
            plans.append(VideoPlan(split, index, f"{split}{index:0{width}d}", subject, timeline, affect))
        next_subject += math.ceil(n / config.videos_per_subject)
    return plans


def subject_appearance(
    config: SyntheticConfig, subject: int
) -> tuple[figure.Appearance, figure.Camera, np.ndarray]:
    """A subject's look and scene; the same in every video of that subject."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, _SUBJECT_KEY, subject]))
    app = figure.sample_appearance(rng)
    cam = figure.make_camera(app, config.size)
    background = figure.render_background(app, cam, config.size, rng)
    return app, cam, background


def animate(config: SyntheticConfig, video: VideoPlan, app: figure.Appearance) -> dict[str, np.ndarray]:
    """The video's per-frame skeleton: idle life plus every instance's motion."""
    seeds = _video_seeds(config, video.split, video.index)
    timeline = video.timeline
    track = figure.PoseTrack(timeline.total_frames)
    figure.add_idle(track, config.fps, np.random.default_rng(seeds[2]), config.idle)
    motion_rng = np.random.default_rng(seeds[1])
    for inst in timeline.instances:
        apply_instance(
            track, inst.cls, inst.start, inst.end, config.fps, inst.side, config.amplitude, motion_rng
        )
    return figure.skeleton(app, track)


def render_video(config: SyntheticConfig, video: VideoPlan) -> tuple[Iterator[np.ndarray], np.ndarray]:
    """Lazily rendered frames ((H, W, 3) uint8 RGB each) and landmarks (T, 33, 4) of one video."""
    app, cam, background = subject_appearance(config, video.subject)
    joints = animate(config, video, app)
    landmarks = figure.landmarks33(cam, joints, config.size)
    parts = figure.build_parts(app, cam, joints)
    seeds = _video_seeds(config, video.split, video.index)
    n = video.timeline.total_frames
    noise = figure.CameraNoise(config.size, n, config.fps, config.noise, np.random.default_rng(seeds[3]))
    frames = (noise.apply(figure.draw_frame(background, parts, t), t) for t in range(n))
    return frames, landmarks


# --------------------------------------------------------------------------- atomic writing


def _encode_mp4(path: Path, frames, size: int, fps: float, crf: int) -> int:
    """Encode RGB frames to H.264/yuv420p atomically; returns the number of frames written."""
    import av
    import cv2

    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        # mbtree=0: with macroblock-tree rate control this x264 build gave different
        # bitstreams for identical input depending on the process's heap history (an
        # uninitialised read); without it output is bit-exact. aq-mode=0: adaptive
        # quantisation only spent bits on the flat noisy background (measured: same
        # fidelity to the clean render, a third less encode time). One thread per
        # encoder because the pool already uses every core.
        params = "mbtree=0:aq-mode=0"
        stream.options = {"crf": str(crf), "preset": "veryfast", "x264-params": params}
        stream.codec_context.thread_count = 1
        for frame_array in frames:
            # OpenCV's I420 is BT.601 limited range, what decoders assume for untagged video.
            yuv = cv2.cvtColor(frame_array, cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = count
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode())
    return count


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())


def _write_csv(path: Path, header, rows) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, text.getvalue().encode())


# --------------------------------------------------------------------------- generation


def _init_worker() -> None:
    """Pool workers draw single-threaded: the pool already uses every core."""
    import cv2

    cv2.setNumThreads(1)


def _make_video(job: tuple[SyntheticConfig, VideoPlan]) -> str:
    """Render, encode and store one video and its landmarks."""
    config, video = job
    folder = Path(config.root) / video.split
    frames, landmarks = render_video(config, video)
    written = _encode_mp4(folder / f"{video.video_id}.mp4", frames, config.size, config.fps, config.crf)
    if written != video.timeline.total_frames:
        raise RuntimeError(
            f"{video.video_id}: wrote {written} frames, expected {video.timeline.total_frames}"
        )
    _save_npy(folder / f"{video.video_id}.landmarks.npy", landmarks)
    return video.video_id


def is_complete(config: SyntheticConfig) -> bool:
    """True when ``root`` holds a finished dataset made from exactly this config."""
    manifest = Path(config.root) / MANIFEST
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("config_hash") == config.config_hash()
    except (OSError, ValueError):
        return False


def _remove_stale(root: Path, keep: set[str]) -> None:
    """Delete our own files (by name pattern) that the current config no longer produces."""
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if _OWN_FILE.match(path.name) and path.name.split(".")[0] not in keep:
                path.unlink()


def _write_emotion_files(root: Path, videos: list[VideoPlan]) -> None:
    """``emotion.csv`` and ``labels.yaml`` in the emotion format (README, ``affect/dataset.py``)."""
    _write_csv(
        root / "emotion.csv",
        EMOTION_HEADER,
        [(v.video_id, subject_id(v.subject), v.split, v.affect.label) for v in videos],
    )
    lines = [
        "# Latent affective states of the synthetic emotion set (perception/synthetic/affective.py).",
        "# They shape only which micro-actions happen and how many: a pipeline test, not psychology.",
        "kind: discrete",
        "labels: [" + ", ".join(STATE_NAMES) + "]",
    ]
    atomic_write_bytes(root / "labels.yaml", ("\n".join(lines) + "\n").encode())


def generate(config: SyntheticConfig, progress: bool = True) -> Path:
    """Write the dataset described by ``config`` under ``config.root`` and return the root.

    Returns at once when the manifest there already matches this config; otherwise the
    old manifest is removed first (an interrupted run then leaves no manifest, which is
    how a half-finished dataset is recognised) and everything is regenerated.
    """
    root = Path(config.root)
    if is_complete(config):
        return root
    root.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST).unlink(missing_ok=True)
    for split in SPLITS:
        (root / split).mkdir(exist_ok=True)

    videos = plan(config)
    jobs = [(config, v) for v in videos]
    desc = "synthetic emotion set" if config.affect else "synthetic MMA-52"
    with tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress) as bar:
        if config.workers > 1 and len(jobs) > 1:
            # spawn, not fork: a process that has already used OpenCV's (or MediaPipe's) thread
            # pool deadlocks in a forked child's first OpenCV call, as a test session does.
            with get_context("spawn").Pool(min(config.workers, len(jobs)), _init_worker) as pool:
                for _ in pool.imap_unordered(_make_video, jobs, chunksize=1):
                    bar.update()
        else:
            for job in jobs:
                _make_video(job)
                bar.update()

    _remove_stale(root, {v.video_id for v in videos})
    fps_text = repr(float(config.fps))
    for split in SPLITS:
        rows: list[tuple] = []
        for v in videos:
            if v.split != split:
                continue
            for inst in v.timeline.instances:
                rows.append(
                    (len(rows), v.video_id, inst.start, inst.end, inst.cls, v.timeline.total_frames, fps_text)
                )
        _write_csv(root / f"{split}.csv", CSV_HEADER, rows)
    _write_csv(
        root / "subjects.csv",
        ("video_id", "subject_id", "split"),
        [(v.video_id, subject_id(v.subject), v.split) for v in videos],
    )
    if config.affect is not None:
        _write_emotion_files(root, videos)
    manifest = {
        "generator": "perception.synthetic",
        "version": GENERATOR_VERSION,
        "config_hash": config.config_hash(),
        "config": config.hashed_fields(),
        "videos": {split: config.count(split) for split in SPLITS},
        "instances": {
            split: sum(len(v.timeline.instances) for v in videos if v.split == split) for split in SPLITS
        },
        "subjects": {split: len({v.subject for v in videos if v.split == split}) for split in SPLITS},
    }
    if config.affect is not None:
        manifest["labels"] = {
            split: {
                name: sum(v.affect.label == name for v in videos if v.split == split) for name in STATE_NAMES
            }
            for split in SPLITS
        }
    atomic_write_bytes(root / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return root
