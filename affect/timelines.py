"""Micro-action timelines for every emotion video: annotated, or predicted and cached.

``emotion.timelines=groundtruth`` reads the annotations (score 1 each): the upper bound of
what timeline features can give. ``predicted`` runs the detector (``affect/detector.py``) over
every video. Predicting is the slow part of an emotion run and an ablation asks for the same
timelines many times, so each video's timeline is cached as a submission-format CSV under
``<emotion.cache>/timelines/<detector sha>/<video_id>.<key>.csv``; the key hashes the
detector checkpoint's bytes, the video's bytes and sidecars (landmarks), the skeleton
source and the post-processing settings, so a retrained detector or a changed video never reuses a stale entry. Entries are
written atomically, so a killed run leaves nothing a later run would misread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from tqdm.auto import tqdm

from affect.dataset import EmotionDataset, EmotionVideo
from affect.detector import Detector, load_detector, train_detector
from detection.data.annotations import annotations_to_frame, read_submission, write_submission
from detection.data.dataset import MMADataset
from detection.evaluation.inference import predict_dataset
from detection.evaluation.metrics import evaluate_detection
from perception.cue_cache import HashMemo, sidecar_files
from perception.extract import ExtractionFailed, extract_cues

TIMELINE_FORMAT = 1  # bump when the cached timelines' meaning changes
COLUMNS = ["video_id", "t_start", "t_end", "class", "score"]


def groundtruth_timelines(dataset: EmotionDataset) -> dict[str, pd.DataFrame]:
    """The annotated instances of every video; a video without annotations is an error (an
    MMA-52 CSV has no row for a video without instances, so absence cannot mean 'none')."""
    missing = [v for v in dataset.videos if v.video_id not in dataset.annotated]
    if missing:
        first = missing[0]
        raise ValueError(
            f"emotion.timelines=groundtruth: {len(missing)} video(s) have no micro-action annotations, e.g. "
            f"{first.video_id!r} ({dataset.root / 'emotion.csv'} line {first.line}; expected rows in "
            f"{dataset.root / (first.split + '.csv')}). Use emotion.timelines=predicted for unannotated videos"
        )
    return {v.video_id: instances_table(v) for v in dataset.videos}


def instances_table(video: EmotionVideo) -> pd.DataFrame:
    rows = [(video.video_id, i.start, i.end, i.label, 1.0) for i in video.annotation.instances]
    return pd.DataFrame(rows, columns=COLUMNS).astype(
        {"t_start": float, "t_end": float, "class": int, "score": float}
    )


class TimelineCache:
    """Per-video predicted timelines of one detector (see module doc)."""

    def __init__(self, root: str | Path, detector: Detector, skeleton_source: str | None) -> None:
        self.root = Path(root)
        self.detector = detector
        self.skeleton_source = skeleton_source
        self.memo = HashMemo(self.root / "hashes.json")
        self.folder = self.root / "timelines" / detector.sha256[:16]

    def path_for(self, video: EmotionVideo) -> Path:
        content = [self.memo.sha256(video.path)] + [
            f"{p.name}:{self.memo.sha256(p)}" for p in sidecar_files(video.path)
        ]
        description = {
            "format": TIMELINE_FORMAT,
            "detector": self.detector.sha256,
            "skeleton_source": self.skeleton_source,
            "postprocess": dataclasses.asdict(self.detector.model.postprocess),
            "content": content,
        }
        key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:20]
        return self.folder / f"{video.video_id}.{key}.csv"

    def load(self, video: EmotionVideo) -> pd.DataFrame | None:
        path = self.path_for(video)
        return read_submission(path) if path.is_file() else None

    def timelines(
        self,
        videos: Sequence[EmotionVideo],
        batch_size: int = 2,
        device: str = "cpu",
        chunk: int = 16,
        workers: int = 2,
    ) -> tuple[dict[str, pd.DataFrame], int]:
        """Every video's timeline, predicting (in chunks of ``chunk`` videos, so memory holds
        only that many decoded videos) what is not cached; returns (timelines, predicted count)."""
        found = {v.video_id: self.load(v) for v in videos}
        todo = [v for v in videos if found[v.video_id] is None]
        self.memo.save()
        if todo:
            self._extract_cues(todo, workers)
            detector = self.detector
            chunks = [todo[i : i + chunk] for i in range(0, len(todo), chunk)]
            for part in tqdm(chunks, desc=f"predicting timelines ({len(todo)} videos)", unit="chunk"):
                dataset = MMADataset(
                    {v.video_id: v.annotation for v in part},
                    self.root,
                    frame_stride=detector.frame_stride,
                    image_size=detector.model.image_size,
                    tubelet=detector.model.step_frames,
                    workers=workers,
                    desc="decoding",
                    caches=detector.caches,
                    cues=detector.model.cue_specs,
                )
                predicted = predict_dataset(detector.model, dataset, batch_size=batch_size, device=device)
                for video in part:
                    table = predicted[predicted["video_id"] == video.video_id].reset_index(drop=True)
                    write_submission(self.path_for(video), table)
                    found[video.video_id] = read_submission(self.path_for(video))
        return {video_id: table for video_id, table in found.items()}, len(todo)

    def _extract_cues(self, videos: Sequence[EmotionVideo], workers: int) -> None:
        if not self.detector.caches:
            return
        summary = extract_cues(
            [v.path for v in videos], self.detector.caches, workers=workers, desc="cues (emotion videos)"
        )
        if summary.failures:
            raise ExtractionFailed(summary.describe())


def timeline_frame(timelines: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All videos' timelines in one table (the run directory's ``timelines.csv``)."""
    tables = [t for t in timelines.values() if len(t)]
    return pd.concat(tables, ignore_index=True)[COLUMNS] if tables else pd.DataFrame(columns=COLUMNS)


def detection_quality(
    dataset: EmotionDataset, timelines: dict[str, pd.DataFrame], split: str
) -> dict[str, Any] | None:
    """Detection-mAP (official protocol, percent) of the predicted timelines on the annotated
    videos of ``split``, which the detector trained here never saw: how far the predicted
    timelines are from the ground-truth upper bound."""
    videos = [v for v in dataset.split(split) if v.video_id in dataset.annotated]
    if not videos:
        return None
    gt = annotations_to_frame([v.annotation for v in videos])
    predictions = pd.concat([timelines[v.video_id] for v in videos], ignore_index=True)
    scores = evaluate_detection(gt, predictions, protocol="official")
    return {
        "split": split,
        "num_videos": len(videos),
        "action_avg": scores["action"]["avg"],
        "body_avg": scores["body"]["avg"],
    }


def obtain_timelines(
    cfg: DictConfig, dataset: EmotionDataset, logger: Any = None
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every video's timeline as ``emotion.timelines`` asks, and a record of where they came from."""
    source = cfg.emotion.timelines
    if source == "groundtruth":
        return groundtruth_timelines(dataset), {"source": "groundtruth"}
    if source != "predicted":
        raise ValueError(f"emotion.timelines must be predicted or groundtruth, got {source!r}")
    ckpt = cfg.emotion.get("detector_ckpt")
    detector = load_detector(ckpt, cfg) if ckpt else train_detector(cfg, dataset, logger)
    # Soft-NMS only lowers scores, so candidates below the floor never reach a feature that
    # reads instances at or above it; dropping them early keeps prediction and the cache small.
    floor = float(cfg.emotion.detector.score_floor)
    post = detector.model.postprocess
    detector.model.postprocess = dataclasses.replace(
        post, pre_nms_threshold=max(post.pre_nms_threshold, floor), min_score=max(post.min_score, floor)
    )
    skeleton_source = cfg.skeleton.source if "skeleton" in detector.caches else None
    cache = TimelineCache(to_absolute_path(cfg.emotion.cache), detector, skeleton_source)
    timelines, predicted = cache.timelines(
        dataset.videos,
        batch_size=cfg.trainer.batch_size,
        device=cfg.trainer.device,
        chunk=cfg.emotion.detector.predict_chunk,
        workers=cfg.data.get("decode_workers", 2),
    )
    print(f"timelines: {predicted} predicted, {len(timelines) - predicted} from the cache in {cache.folder}")
    info = {
        "source": "predicted",
        "checkpoint": str(detector.checkpoint),
        "checkpoint_sha256": detector.sha256,
        "trained_here": detector.trained_here,
        "detector_from_cache": detector.from_cache,
        "detector_train_seconds": detector.train_seconds,
        "detector_params": detector.parameters,
        "predicted": predicted,  # timelines predicted in this run; the rest came from the cache
        "cached": len(timelines) - predicted,
        "detection_map": detection_quality(dataset, timelines, cfg.emotion.eval_split),
    }
    return timelines, info
