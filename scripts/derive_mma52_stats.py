"""Derive compact statistics of the real MMA-52 training annotations.

The synthetic generator (``perception.synthetic``) samples its timelines from these
numbers so that the embedded demo data has the same shape as the real benchmark
(instances per video, class imbalance, durations, co-occurrence). Only aggregated
statistics are written: the annotation CSV itself must never enter the repository.

Usage::

    python scripts/derive_mma52_stats.py [--csv ../shared/data/mma52/train.csv]
                                         [--out perception/synthetic/mma52_stats.json]
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from perception.atomic import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO_ROOT.parent / "shared" / "data" / "mma52" / "train.csv"
DEFAULT_OUT = REPO_ROOT / "perception" / "synthetic" / "mma52_stats.json"

NUM_CLASSES = 52
# 0%, 5%, ..., 100%: fine enough for inverse-CDF sampling, small enough for the repo.
QUANTILE_LEVELS = tuple(round(i / 20, 2) for i in range(21))
STATS_VERSION = 1
DECIMALS = 3

REQUIRED_COLUMNS = ("id", "video_id", "start_frame", "end_frame", "class", "total_frames", "fps")


def _read_instances(csv_path: Path) -> list[dict]:
    """Parse the annotation CSV; numeric columns are converted once here so the rest is arithmetic."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing columns {missing}")
        rows = []
        for row in reader:
            rows.append(
                {
                    "video_id": row["video_id"],
                    "start": int(row["start_frame"]),
                    "end": int(row["end_frame"]),
                    "cls": int(row["class"]),
                    "total": int(row["total_frames"]),
                    "fps": float(row["fps"]),
                }
            )
    return rows


def _quantiles(values: list[float]) -> list[float] | None:
    if not values:
        return None
    q = np.quantile(np.asarray(values, dtype=np.float64), QUANTILE_LEVELS)
    return [round(float(v), DECIMALS) for v in q]


def derive_stats(csv_path: Path) -> dict:
    """Aggregate statistics of one annotation CSV (pure function of the file's content)."""
    rows = _read_instances(csv_path)
    by_video: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_video[row["video_id"]].append(row)

    class_counts = [0] * NUM_CLASSES
    class_durations: list[list[float]] = [[] for _ in range(NUM_CLASSES)]
    all_durations: list[float] = []
    for row in rows:
        seconds = (row["end"] - row["start"]) / row["fps"]
        class_counts[row["cls"]] += 1
        class_durations[row["cls"]].append(seconds)
        all_durations.append(seconds)

    video_durations = []
    fps_counts: Counter[str] = Counter()
    per_video_counts: Counter[int] = Counter()
    co_video = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    co_overlap = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for instances in by_video.values():
        first = instances[0]
        video_durations.append(first["total"] / first["fps"])
        fps_counts[repr(first["fps"])] += 1
        per_video_counts[len(instances)] += 1
        # Video-level co-occurrence: a pair counts once per video. The diagonal counts
        # videos where a class occurs at least twice (repeats of the same micro-action).
        classes = Counter(inst["cls"] for inst in instances)
        for a in classes:
            for b in classes:
                if a != b or classes[a] >= 2:
                    co_video[a, b] += 1
        # Temporal overlap: every unordered instance pair that shares at least one frame.
        for i, x in enumerate(instances):
            for y in instances[i + 1 :]:
                if max(x["start"], y["start"]) < min(x["end"], y["end"]):
                    co_overlap[x["cls"], y["cls"]] += 1
                    if x["cls"] != y["cls"]:
                        co_overlap[y["cls"], x["cls"]] += 1

    return {
        "version": STATS_VERSION,
        "source": "MMA-52 train.csv (aggregates only)",
        "num_classes": NUM_CLASSES,
        "num_instances": len(rows),
        "num_videos": len(by_video),
        "quantile_levels": list(QUANTILE_LEVELS),
        "class_counts": class_counts,
        "class_duration_quantiles_s": [_quantiles(d) for d in class_durations],
        "duration_quantiles_s": _quantiles(all_durations),
        "instances_per_video": {str(k): per_video_counts[k] for k in sorted(per_video_counts)},
        "video_duration_quantiles_s": _quantiles(video_durations),
        "fps_counts": {k: fps_counts[k] for k in sorted(fps_counts)},
        "cooccurrence_video": co_video.tolist(),
        "cooccurrence_overlap": co_overlap.tolist(),
    }


def write_json_atomic(data: dict, out_path: Path) -> None:
    """Readers (the generator, the tests) never see a half-written JSON."""
    atomic_write_text(out_path, json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="real MMA-52 train.csv")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="statistics JSON to write")
    args = parser.parse_args(argv)
    stats = derive_stats(args.csv)
    write_json_atomic(stats, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {stats['num_instances']} instances)")


if __name__ == "__main__":
    main()
