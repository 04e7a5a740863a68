"""Per-video files of a predict run: timeline CSV and JSON, and per-frame scores.

- ``timelines/<id>.csv``: one row per detection, the columns of ``task=mmad``'s timelines
  (``video_id,start,end,class,code,name,body,score``, seconds), by start time.
- ``timelines/<id>.json``: the same detections plus what a program needs to place them
  (source file, duration, frame rate, rotation, the model's sampling, per-stage timings).
- ``frames/<id>.csv``: one row per frame of the video and one column per class holding the
  highest score of the detections covering that frame, the layout of OpenFace's per-frame
  action-unit files (``frame, timestamp, success`` first; ``success`` is whether the skeleton
  cue found a person, empty without that cue), so tools built for those files read these.

Every file is written atomically; the frame table streams through in chunks, so an hour of
60 fps video never holds its full table in memory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detection.evaluation.timelines import TIMELINE_COLUMNS, timeline_table
from detection.predict.video import VideoPrediction
from perception.atomic import atomic_path, atomic_write_text
from perception.taxonomy import ACTIONS

FRAME_CHUNK = 20_000  # rows of the per-frame table built at once


def frame_columns() -> list[str]:
    """Class columns of the per-frame table, in class-index order: ``<code>_<name>``."""
    return [f"{a.code}_{a.name.replace(' ', '_')}" for a in ACTIONS]


def timeline(prediction: VideoPrediction) -> pd.DataFrame:
    """The human-readable detections table, sorted by start time."""
    if prediction.detections.empty:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    return timeline_table(prediction.detections).reset_index(drop=True)


def write_timeline_csv(prediction: VideoPrediction, path: Path) -> Path:
    atomic_write_text(path, timeline(prediction).to_csv(index=False, float_format="%.3f"))
    return path


def timeline_record(prediction: VideoPrediction, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of one video (also embedded in the HTML report)."""
    info = prediction.info
    rows = timeline(prediction)
    return {
        "video_id": prediction.video_id,
        "source": str(info.path),
        "duration": round(prediction.duration, 4),
        "frames": int(len(prediction.frame_times)),
        "fps": round(info.fps, 4),
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "model_frames_per_second": prediction.sample_rate,
        "skeleton_source": prediction.skeleton_source,
        "truncation": prediction.truncation,  # null for a whole video
        "person_fraction": (
            None if prediction.present is None else round(float(np.mean(prediction.present)), 4)
        ),
        "timings_seconds": {k: round(v, 4) for k, v in sorted(prediction.timings.items())},
        **(extra or {}),
        "segments": [
            {
                "start": round(float(r.start), 3),
                "end": round(float(r.end), 3),
                "class": int(r[3]),
                "code": r.code,
                "name": r.name,
                "body": r.body,
                "score": round(float(r.score), 4),
            }
            for r in rows.itertuples(index=False)
        ],
    }


def write_timeline_json(prediction: VideoPrediction, path: Path, extra: dict[str, Any] | None = None) -> Path:
    atomic_write_text(path, json.dumps(timeline_record(prediction, extra), indent=1, ensure_ascii=False))
    return path


def frame_scores(times: np.ndarray, detections: pd.DataFrame, num_classes: int) -> np.ndarray:
    """(frames, classes): the highest score of the detections of each class whose
    ``[t_start, t_end)`` covers each frame time; 0 where none does."""
    scores = np.zeros((len(times), num_classes), dtype=np.float32)
    for start, end, label, score in detections[["t_start", "t_end", "class", "score"]].itertuples(
        index=False
    ):
        first, stop = np.searchsorted(times, [start, end], side="left")
        column = scores[first:stop, int(label)]
        np.maximum(column, score, out=column)
    return scores


def write_frame_scores(prediction: VideoPrediction, path: Path) -> Path:
    """The OpenFace-style per-frame table (module docstring), streamed in chunks."""
    times = prediction.frame_times
    names = frame_columns()
    present = prediction.present
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(["frame", "timestamp", "success", *names]) + "\n")
        for first in range(0, len(times), FRAME_CHUNK):
            chunk = times[first : first + FRAME_CHUNK]
            window = prediction.detections[
                (prediction.detections["t_end"] > chunk[0]) & (prediction.detections["t_start"] <= chunk[-1])
            ]
            table = pd.DataFrame(frame_scores(chunk, window, len(names)), columns=names)
            table.insert(0, "frame", np.arange(first, first + len(chunk)))
            table.insert(1, "timestamp", np.round(chunk, 4))
            if present is None or not len(present):
                table.insert(2, "success", "")
            else:
                nearest = np.clip(np.rint(chunk * prediction.sample_rate).astype(int), 0, len(present) - 1)
                table.insert(2, "success", present[nearest].astype(int))
            handle.write(table.to_csv(index=False, header=False, float_format="%.3f"))
    return path
