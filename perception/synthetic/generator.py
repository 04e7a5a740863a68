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

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from perception.atomic import atomic_write_bytes
from perception.synthetic import figure, render
from perception.synthetic.affective import (
    STATE_NAMES,
    AffectConfig,
    VideoAffect,
    sample_subject,
    video_affect,
)
from perception.synthetic.motions import DEFAULT_CLASSES, check_classes
from perception.synthetic.render import ClipStreams, RenderSettings, write_csv
from perception.synthetic.stats import STATS_PATH
from perception.synthetic.timeline import Timeline, sample_timeline

GENERATOR_VERSION = "2.0"  # bump whenever output for the same config changes (2.0: all 52 classes)
SPLITS = ("train", "val", "test")
CSV_HEADER = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")
_SPLIT_KEY = {"train": 1, "val": 2, "test": 3}
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

    def settings(self) -> RenderSettings:
        return RenderSettings(self.size, self.fps, self.amplitude, self.noise, self.idle)

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
    return render.subject_scene(config.seed, subject, config.size)


def _streams(config: SyntheticConfig, video: VideoPlan) -> ClipStreams:
    seeds = _video_seeds(config, video.split, video.index)
    return ClipStreams(motion=seeds[1], idle=seeds[2], noise=seeds[3])


def animate(config: SyntheticConfig, video: VideoPlan, app: figure.Appearance) -> dict[str, np.ndarray]:
    """The video's per-frame skeleton: idle life plus every instance's motion."""
    return render.pose(video.timeline, app, config.settings(), _streams(config, video))


def render_video(config: SyntheticConfig, video: VideoPlan) -> tuple[Iterator[np.ndarray], np.ndarray]:
    """Lazily rendered frames ((H, W, 3) uint8 RGB each) and landmarks (T, 33, 4) of one video."""
    scene = subject_appearance(config, video.subject)
    return render.render(scene, video.timeline, config.settings(), _streams(config, video))


def _make_video(job: tuple[SyntheticConfig, VideoPlan]) -> str:
    """Render, encode and store one video and its landmarks."""
    config, video = job
    frames, landmarks = render_video(config, video)
    render.write_clip(
        Path(config.root) / video.split, video.video_id, frames, landmarks, config.settings(), config.crf
    )
    return video.video_id


def is_complete(config: SyntheticConfig) -> bool:
    """True when ``root`` holds a finished dataset made from exactly this config."""
    return render.manifest_hash(Path(config.root)) == config.config_hash()


def _write_emotion_files(root: Path, videos: list[VideoPlan]) -> None:
    """``emotion.csv`` and ``labels.yaml`` in the emotion format (README, ``affect/dataset.py``)."""
    write_csv(
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
    render.start_folder(root, SPLITS)
    videos = plan(config)
    jobs = [(config, v) for v in videos]
    desc = "synthetic emotion set" if config.affect else "synthetic MMA-52"
    render.run_jobs(_make_video, jobs, config.workers, desc, "video", progress)
    render.remove_stale(root, SPLITS, _OWN_FILE, {v.video_id for v in videos})
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
        write_csv(root / f"{split}.csv", CSV_HEADER, rows)
    write_csv(
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
    render.write_manifest(root, manifest)
    return root
