"""End-to-end speed of ``python -m detection.evaluate``, and of reading a submission CSV.

    python -m benchmarks.bench_evaluate            # 1,000,000 predictions vs 20,000 ground truths
    python -m benchmarks.bench_evaluate --quick    # 100,000 vs 2,000

Why: a challenge submission is a CSV of about a million rows; scoring one must take seconds
(target: under 5 s end to end on 2 cores), and before the fast reader most of the time went into
parsing. Timed: the fast reader (:func:`detection.data.annotations.read_submission`: pandas' C
parser, vectorised checks), beside the careful text reader it falls back to on bad input
(``read_submission_checked``, the simple reference; both must return the same table), and the
whole command in a fresh process (interpreter start, imports, both CSVs, mAP at action and body
level), fastest of ``--repeat`` runs. Data: ``benchmarks.bench_map.make_case`` (MMA-52-like).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_map import best_time, make_case
from detection.data.annotations import read_submission, read_submission_checked, write_submission

FPS = 30.0


def write_gt_csv(gt: pd.DataFrame, path: Path) -> None:
    """The ground truth in the MMA-52 annotation format (frames at 30 fps, 15 s videos)."""
    start = np.floor(gt["t_start"].to_numpy() * FPS).astype(int)
    end = np.maximum(np.ceil(gt["t_end"].to_numpy() * FPS).astype(int), start + 1)
    table = pd.DataFrame(
        {
            "id": np.arange(len(gt)),
            "video_id": gt["video_id"].to_numpy(),
            "start_frame": start,
            "end_frame": end,
            "class": gt["class"].to_numpy(),
            "total_frames": int(15 * FPS) + 1,
            "fps": FPS,
        }
    )
    table.to_csv(path, index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the fastest is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    n_pred, n_gt = 1_000_000 // scale, 20_000 // scale
    gt, pred = make_case(n_pred, n_gt, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        gt_path, pred_path = Path(folder) / "test.csv", Path(folder) / "submission.csv"
        write_gt_csv(gt, gt_path)
        write_submission(pred_path, pred)
        t_fast, fast = best_time(lambda: read_submission(pred_path), args.repeat)
        t_checked, checked = best_time(lambda: read_submission_checked(pred_path), 1)
        pd.testing.assert_frame_equal(fast, checked)
        command = [sys.executable, "-m", "detection.evaluate", "--gt", str(gt_path), "--pred", str(pred_path)]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    print(f"python -m detection.evaluate: {n_pred:,} predictions, {n_gt:,} ground truths (both levels)")
    print(
        f"python {platform.python_version()}, pandas {pd.__version__}, {platform.processor() or platform.machine()}"
    )
    print(f"{'what':<46}{'seconds':>9}")
    print(f"{'read_submission (fast path)':<46}{t_fast:>9.2f}")
    print(f"{'read_submission_checked (careful reference)':<46}{t_checked:>9.2f}")
    print(f"{'whole command, fresh process':<46}{min(times):>9.2f}")
    print("fast and careful readers return the same table")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
