"""The emotion dataset format: reading, validating and (for the synthetic set) generating it.

MA-52-Pro's public details are not available (DESIGN §4), so the platform defines its own
format, a superset of the MMA-52 layout::

    <root>/labels.yaml                 the label set: `labels: [name, ...]` in index order
    <root>/emotion.csv                 video_id,subject_id,split,label   (one row per video)
    <root>/<split>/<video_id>.mp4      the videos, any length, in the folder of their split
    <root>/{train,val,test}.csv        optional: micro-action annotations, MMA-52 format

Labels are names from the label file, so any scheme fits (discrete emotions, valence or
arousal bins). Splits are ``train``, ``val`` (may be empty) and ``test``, and must be
subject-disjoint: a subject in two splits is an error, because a model that recognises the
person would otherwise score as one that recognises the emotion.

Every problem is an :class:`~detection.data.annotations.AnnotationError` naming the file, the
1-based line (header = line 1) and the field, as the MMA-52 readers do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import DictConfig

from detection.data.annotations import AnnotationError, VideoAnnotation, read_mma52_csv
from perception.dataset_root import prepare_data
from perception.video import VideoDecodeError, probe_video

EMOTION_CSV = "emotion.csv"
LABEL_FILE = "labels.yaml"
EMOTION_COLUMNS = ("video_id", "subject_id", "split", "label")
SPLITS = ("train", "val", "test")


@dataclass
class EmotionVideo:
    """One labelled video; ``annotation`` holds its micro-action instances when the dataset
    has them, else only its frame count and fps (probed from the file)."""

    video_id: str
    subject_id: str
    split: str
    label: int
    path: Path
    line: int  # in emotion.csv, for error messages
    annotation: VideoAnnotation

    @property
    def duration(self) -> float:
        return self.annotation.duration


@dataclass
class EmotionDataset:
    root: Path
    label_names: tuple[str, ...]
    videos: list[EmotionVideo]
    annotated: set[str] = field(default_factory=set)  # ids listed in a micro-action CSV

    def split(self, name: str) -> list[EmotionVideo]:
        return [v for v in self.videos if v.split == name]

    def indices(self, splits: Sequence[str]) -> list[int]:
        return [i for i, v in enumerate(self.videos) if v.split in splits]


def read_label_file(path: str | Path) -> tuple[str, ...]:
    """The label names, in index order, from ``labels: [...]`` (YAML; JSON is valid YAML)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(path, 0, "<file>", "label file not found (expected `labels: [name, ...]`)")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", -1) + 1
        raise AnnotationError(path, line, "<yaml>", f"not valid YAML ({error})") from None
    labels = content.get("labels") if isinstance(content, dict) else None
    if not isinstance(labels, list) or len(labels) < 2:
        raise AnnotationError(path, 1, "labels", "needs a list of at least two label names")
    names = [str(name).strip() for name in labels]
    for position, name in enumerate(names):
        if not isinstance(labels[position], str | int) or not name:
            raise AnnotationError(
                path, 1, "labels", f"label {position} must be a non-empty name, got {labels[position]!r}"
            )
        if name in names[:position]:
            raise AnnotationError(path, 1, "labels", f"label {name!r} is listed twice")
    return tuple(names)


def _frame_clock(table: Path, line: int, video: Path) -> tuple[float, int]:
    """(fps, frame count) of a video without micro-action annotations, from its header."""
    try:
        info = probe_video(video)
    except VideoDecodeError as error:
        raise AnnotationError(table, line, "video_id", str(error)) from None
    frames = info.frames or round((info.duration or 0.0) * info.fps)
    if not info.fps > 0 or frames < 1:
        raise AnnotationError(table, line, "video_id", f"{video}: reports fps {info.fps} and {frames} frames")
    return info.fps, frames


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise AnnotationError(path, 0, "<file>", f"not found (expected header {','.join(EMOTION_COLUMNS)})")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise AnnotationError(path, 1, "<header>", "file is empty (no header)") from None
    except pd.errors.ParserError as error:
        raise AnnotationError(path, 0, "<row>", f"malformed CSV ({error})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in EMOTION_COLUMNS if c not in table.columns]
    if missing:
        raise AnnotationError(
            path, 1, missing[0], f"missing column(s) {missing}; header has {list(table.columns)}"
        )
    return table.apply(lambda column: column.str.strip())


def read_emotion_csv(
    path: str | Path,
    label_names: Sequence[str],
    root: str | Path,
    annotations: Mapping[str, VideoAnnotation] | None = None,
) -> list[EmotionVideo]:
    """Rows of ``emotion.csv``, validated: no empty cell, unique video ids, a known split and
    label, an existing video file, and no subject in two splits. A video gets its micro-action
    annotation from ``annotations`` (which must agree on the split), or else an empty one with
    the fps and frame count probed from the file."""
    path, root = Path(path), Path(root)
    annotations = annotations or {}
    table = _read_table(path)
    if table.empty:
        raise AnnotationError(path, 2, "video_id", "no videos listed")
    seen: dict[str, int] = {}
    subject_split: dict[str, tuple[str, int]] = {}
    videos = []
    for position, row in enumerate(table.itertuples(index=False)):
        line = position + 2
        for column in EMOTION_COLUMNS:
            if not getattr(row, column):
                raise AnnotationError(path, line, column, "missing value")
        if row.video_id in seen:
            raise AnnotationError(
                path, line, "video_id", f"video {row.video_id!r} already listed on line {seen[row.video_id]}"
            )
        seen[row.video_id] = line
        if row.split not in SPLITS:
            raise AnnotationError(
                path, line, "split", f"unknown split {row.split!r} (valid: {', '.join(SPLITS)})"
            )
        if row.label not in label_names:
            raise AnnotationError(
                path, line, "label", f"unknown label {row.label!r} (labels.yaml has {', '.join(label_names)})"
            )
        first = subject_split.setdefault(row.subject_id, (row.split, line))
        if first[0] != row.split:
            raise AnnotationError(
                path,
                line,
                "split",
                f"subject {row.subject_id!r} is in {row.split!r} here but in {first[0]!r} on line {first[1]}: "
                "splits must be subject-disjoint",
            )
        video = root / row.split / f"{row.video_id}.mp4"
        if not video.is_file():
            raise AnnotationError(path, line, "video_id", f"video file {video} not found")
        annotation = annotations.get(row.video_id)
        if annotation is None:
            fps, frames = _frame_clock(path, line, video)
            annotation = VideoAnnotation(row.video_id, fps, frames, [], row.split, video)
        elif annotation.split != row.split:
            raise AnnotationError(
                path,
                line,
                "split",
                f"{row.split!r}, but the video's micro-actions are in {annotation.split}.csv",
            )
        videos.append(
            EmotionVideo(
                row.video_id, row.subject_id, row.split, label_names.index(row.label), video, line, annotation
            )
        )
    return videos


def read_microactions(root: Path) -> dict[str, VideoAnnotation]:
    """The micro-action annotations of ``<root>/{train,val,test}.csv``, where those exist."""
    annotations: dict[str, VideoAnnotation] = {}
    for split in SPLITS:
        csv = root / f"{split}.csv"
        if csv.is_file():
            annotations.update(read_mma52_csv(csv, video_root=root, split=split))
    return annotations


def _first_line(csv: Path, video_id: str) -> int:
    """The first line of an MMA-52 CSV that names ``video_id`` (its second column)."""
    with open(csv, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if number > 1 and line.split(",")[1:2] == [video_id]:
                return number
    return 0


def load_emotion_dataset(root: str | Path) -> EmotionDataset:
    """The dataset at ``root`` in the emotion format, fully validated."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"emotion dataset root not found: {root} (set emotion.root=PATH)")
    labels = read_label_file(root / LABEL_FILE)
    annotations = read_microactions(root)
    videos = read_emotion_csv(root / EMOTION_CSV, labels, root, annotations)
    listed = {v.video_id for v in videos}
    for video_id, annotation in annotations.items():  # usually a typo in one of the two files
        if video_id not in listed:
            csv = root / f"{annotation.split}.csv"
            raise AnnotationError(
                csv,
                _first_line(csv, video_id),
                "video_id",
                f"video {video_id!r} has micro-action annotations but no row in {root / EMOTION_CSV}",
            )
    return EmotionDataset(root, labels, videos, set(annotations))


def prepare_emotion_data(emotion_cfg: DictConfig) -> Path:
    """The dataset root; writes the synthetic emotion set first when ``emotion.synthetic`` is
    set (skipped while the folder holds a set made from the same settings)."""
    if not emotion_cfg.get("root"):
        raise ValueError(
            "emotion.root is not set: pass emotion.root=PATH, a folder in the emotion format (README)"
        )
    return prepare_data(emotion_cfg)
