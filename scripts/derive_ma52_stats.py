"""Derive compact statistics of the real MA-52 recognition training list.

The synthetic MA-52 writer (``perception/synthetic/ma52.py``) draws its class frequencies
from these numbers, so the embedded recognition data is as imbalanced as the real benchmark
(classes with 6 to 1,283 training clips), and names its clips the way the real release does
(``<subject>_<session>_<clip>.mp4``, a few sessions per subject). Only aggregates are
written: the list itself must never enter the repository.

Usage::

    python scripts/derive_ma52_stats.py [--list ../shared/data/ma52/train_list_videos.txt]
                                        [--out perception/synthetic/ma52_stats.json]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from perception.atomic import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIST = REPO_ROOT.parent / "shared" / "data" / "ma52" / "train_list_videos.txt"
DEFAULT_OUT = REPO_ROOT / "perception" / "synthetic" / "ma52_stats.json"

NUM_CLASSES = 52
QUANTILE_LEVELS = tuple(round(i / 10, 1) for i in range(11))
STATS_VERSION = 1
CLIP_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)\.mp4$")


def read_train_list(path: Path) -> list[tuple[str, str, int]]:
    """(subject, session, label) per line; errors name the file, the line and the field."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{line_no}"
            if len(fields) != 2:
                raise ValueError(f"{where}: expected '<file>.mp4 <action_idx>', got {line.strip()!r}")
            match = CLIP_NAME.match(fields[0])
            if match is None:
                raise ValueError(
                    f"{where}: field 'file' is {fields[0]!r}, not <subject>_<session>_<clip>.mp4"
                )
            try:
                label = int(fields[1])
            except ValueError:
                raise ValueError(f"{where}: field 'action_idx' is {fields[1]!r}, not an integer") from None
            if not 0 <= label < NUM_CLASSES:
                raise ValueError(f"{where}: field 'action_idx' is {label}, outside 0..{NUM_CLASSES - 1}")
            rows.append((match.group(1), match.group(2), label))
    if not rows:
        raise ValueError(f"{path}: no clips")
    return rows


def derive(rows: list[tuple[str, str, int]]) -> dict:
    """Class counts, and how clips spread over subjects and sessions."""
    counts = Counter(label for _, _, label in rows)
    per_subject = Counter(subject for subject, _, _ in rows)
    per_session = Counter((subject, session) for subject, session, _ in rows)
    sessions_of: dict[str, set[str]] = defaultdict(set)
    for subject, session, _ in rows:
        sessions_of[subject].add(session)
    levels = np.asarray(QUANTILE_LEVELS)

    def quantiles(values) -> list[float]:
        return [round(float(v), 1) for v in np.quantile(np.asarray(list(values), dtype=np.float64), levels)]

    sessions_hist = Counter(len(s) for s in sessions_of.values())
    return {
        "version": STATS_VERSION,
        "source": "MA-52 train_list_videos.txt (aggregates only)",
        "num_classes": NUM_CLASSES,
        "num_clips": len(rows),
        "num_subjects": len(per_subject),
        "class_counts": [counts.get(c, 0) for c in range(NUM_CLASSES)],
        "quantile_levels": list(QUANTILE_LEVELS),
        "clips_per_subject_quantiles": quantiles(per_subject.values()),
        "clips_per_session_quantiles": quantiles(per_session.values()),
        "sessions_per_subject": {str(k): sessions_hist[k] for k in sorted(sessions_hist)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", type=Path, default=DEFAULT_LIST, help="MA-52 train_list_videos.txt")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="statistics JSON to write")
    args = parser.parse_args(argv)
    if not args.list.is_file():
        parser.error(f"training list not found: {args.list}")
    stats = derive(read_train_list(args.list))
    atomic_write_text(args.out, json.dumps(stats, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({stats['num_clips']} clips, {stats['num_subjects']} subjects)")


if __name__ == "__main__":
    main()
