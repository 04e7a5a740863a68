"""MediaPipe skeletons for the whole demo dataset: extraction time and error against ground truth.

    python -m benchmarks.bench_demo_skeletons                  # the demo's data and settings
    python -m benchmarks.bench_demo_skeletons data.cue_workers=1 skeleton=holistic

Why: the demo takes its skeletons from MediaPipe (``data.skeleton_source=mediapipe``), the path
real videos take, rather than from the generator's landmarks (the oracle,
``data.skeleton_source=groundtruth``). This measures what that costs (wall-clock extraction of
every video of the demo's splits, in ``data.cue_workers`` processes, as ``task=mmad`` runs it)
and how close MediaPipe comes to the truth: per landmark and frame, the distance between the
MediaPipe and the ground-truth (x, y) in image-normalised units (fraction of the image side),
over frames where both have the person, plus the share of frames in which MediaPipe finds one.

The entries are written into the run's cue cache (``cue_cache``, default ``data/cue_cache``),
keyed exactly as ``task=mmad`` keys them, so a demo run afterwards finds them cached; pass
``cue_cache=/tmp/x`` for a cold measurement when the cache is already warm. Overrides are the
root config's (Hydra syntax). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from perception.dataset_root import prepare_data
from perception.extract import extract_cues, list_videos, make_cache
from perception.skeleton import read_groundtruth

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def landmark_errors(entry: dict[str, np.ndarray], truth: np.ndarray) -> tuple[np.ndarray, int, int]:
    """((frames, 33) errors of every landmark of every frame where both have the person, frames where
    MediaPipe found the person, frames where the ground truth has one)."""
    index = entry["frame_indices"]
    true = truth[index, :, :2]
    found = entry["present"] & np.isfinite(true).all(axis=(-1, -2))
    distance = np.linalg.norm(entry["landmarks"][found, :, :2] - true[found], axis=-1)
    return distance, int(entry["present"].sum()), int(np.isfinite(true).all(axis=(-1, -2)).sum())


def main(argv: list[str] | None = None) -> int:
    overrides = list(sys.argv[1:] if argv is None else argv)
    with initialize_config_dir(str(CONFIGS), version_base=None):
        cfg = compose("config", overrides=["data=synthetic", "logger=none", *overrides])
    with open_dict(cfg):
        cfg.data.skeleton_source = "mediapipe"
    root = prepare_data(cfg.data)
    videos = list_videos(root, list(cfg.data.splits.values()))
    cache = make_cache(cfg, "skeleton", cfg.skeleton)
    for video in videos:  # a cold measurement: entries already cached would be skipped
        if cache.path_for(video).is_file():
            print(
                f"note: {cache.path_for(video)} is cached already; pass cue_cache=DIR for a cold timing",
                file=sys.stderr,
            )
            break
    workers = int(cfg.data.cue_workers)
    started = time.perf_counter()
    summary = extract_cues(videos, {"skeleton": cache}, workers=workers, desc="mediapipe skeletons")
    seconds = time.perf_counter() - started

    errors, found, truth_frames = [], 0, 0
    for video in videos:
        entry = cache.load(video)
        if entry is None:
            continue
        error, present, frames = landmark_errors(entry, read_groundtruth(video))
        errors.append(error)
        found, truth_frames = found + present, truth_frames + frames
    per_landmark = np.concatenate(errors)  # (frames, 33)
    errors = per_landmark.ravel()
    report = {
        "videos": len(videos),
        "extracted": summary.extracted,
        "already_cached": summary.cached,
        "failed": len(summary.failures),
        "workers": workers,
        "seconds": round(seconds, 1),
        "skeleton": OmegaConf.to_container(cfg.skeleton, resolve=True),
        "frames_with_person_found": found,
        "frames_with_person_in_truth": truth_frames,
        "median_landmark_error": float(np.median(errors)),
        "p90_landmark_error": float(np.quantile(errors, 0.9)),
        "mean_landmark_error": float(errors.mean()),
        # MediaPipe's 33 points: 0-10 face, 11-22 arms and hands, 23-32 hips and legs
        "median_landmark_error_by_part": {
            part: float(np.median(per_landmark[:, lo:hi]))
            for part, (lo, hi) in {"face": (0, 11), "arms": (11, 23), "legs": (23, 33)}.items()
        },
        "error_unit": "fraction of the image side (image-normalised x, y)",
        "machine": f"{platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
