"""Benchmark of the detection mAP evaluator (detection/evaluation/metrics.py).

    python -m benchmarks.bench_map            # 1,000,000 predictions vs 20,000 ground truths
    python -m benchmarks.bench_map --quick    # 100,000 vs 2,000, for a smoke run
    python -m benchmarks.bench_map --io       # also time reading a 1M-row submission CSV

Why: mAP is computed after every epoch and on every submission, so its cost must stay a
small fraction of an evaluation; the target is under 5 s for 1M predictions on 2 CPU cores.
The vectorised evaluator is timed at full size, and beside it the deliberately simple loop
reference of the tests (``tests/detection/test_metrics.py``), which is far too slow for the
full input, on a smaller one: the ratio on that shared input, and the ratio of time per
prediction, show what the vectorisation buys. Both must also agree on the shared input.

The synthetic data imitate MMA-52 statistics (``../shared/data/mma52/train.csv``): about 3
instances per video, videos of 5-15 s, instance lengths ~lognormal around 2.6 s, 52
classes. Half of the predictions are jittered copies of ground truths (right or wrong
class), half are random segments, scores rounded to 3 decimals so ties occur. Only
evaluation is timed; building the tables and reading CSVs is not.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from detection.data.annotations import read_submission, write_submission
from detection.evaluation.metrics import DEFAULT_TIOUS, average_precision, evaluate_detection
from perception.taxonomy import NUM_ACTIONS

GT_PER_VIDEO = 3.0


def make_case(n_pred: int, n_gt: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic ground truth and predictions with MMA-52-like statistics (module docstring)."""
    rng = np.random.default_rng(seed)
    n_vid = max(1, round(n_gt / GT_PER_VIDEO))
    names = np.array([f"v{i:06d}" for i in range(n_vid)], dtype=object)
    duration = rng.uniform(5.0, 15.0, n_vid)
    g_vid = rng.integers(0, n_vid, n_gt)
    g_len = np.minimum(rng.lognormal(np.log(2.6), 0.8, n_gt), 0.9 * duration[g_vid])
    g_start = rng.uniform(0.0, duration[g_vid] - g_len)
    g_class = rng.integers(0, NUM_ACTIONS, n_gt)
    gt = pd.DataFrame(
        {"video_id": names[g_vid], "t_start": g_start, "t_end": g_start + g_len, "class": g_class}
    )

    near = n_pred // 2
    src = rng.integers(0, n_gt, near)
    n_start = np.maximum(g_start[src] + rng.normal(0.0, 0.4, near), 0.0)
    n_end = n_start + g_len[src] * rng.uniform(0.5, 1.5, near)
    n_class = np.where(rng.random(near) < 0.5, g_class[src], rng.integers(0, NUM_ACTIONS, near))
    far = n_pred - near
    f_vid = rng.integers(0, n_vid, far)
    f_start = rng.uniform(0.0, duration[f_vid])
    f_end = np.minimum(f_start + rng.lognormal(np.log(2.6), 0.8, far), duration[f_vid])
    pred = pd.DataFrame(
        {
            "video_id": np.concatenate([names[g_vid[src]], names[f_vid]]),
            "t_start": np.concatenate([n_start, f_start]),
            "t_end": np.concatenate([n_end, f_end]),
            "class": np.concatenate([n_class, rng.integers(0, NUM_ACTIONS, far)]),
            "score": np.round(rng.random(n_pred), 3),
        }
    )
    return gt, pred.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Fastest of ``repeat`` runs (the least disturbed by other load) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_csv_read(pred: pd.DataFrame) -> float:
    """Seconds to read back the predictions as a submission CSV (the CLI's other big cost)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.csv"
        write_submission(path, pred)
        seconds, _ = best_time(lambda: read_submission(path), 1)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_map", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the fastest is reported")
    parser.add_argument("--protocol", default="official", choices=("official", "activitynet"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--io", action="store_true", help="also time reading the submission CSV once")
    args = parser.parse_args(argv)
    from detection.evaluation.reference import reference_ap  # the plain loop reference

    scale = 10 if args.quick else 1
    n_pred, n_gt = 1_000_000 // scale, 20_000 // scale
    small_pred, small_gt = n_pred // 10, n_gt // 10
    gt, pred = make_case(n_pred, n_gt, args.seed)
    small = make_case(small_pred, small_gt, args.seed + 1)

    def vec(g, p):
        return lambda: average_precision(g, p, DEFAULT_TIOUS, NUM_ACTIONS, args.protocol)["ap"]

    t_full, _ = best_time(vec(gt, pred), args.repeat)
    t_both, _ = best_time(lambda: evaluate_detection(gt, pred, args.protocol), args.repeat)
    t_small, got = best_time(vec(*small), args.repeat)
    t_ref, want = best_time(lambda: reference_ap(*small, DEFAULT_TIOUS, NUM_ACTIONS, args.protocol), 1)
    diff = float(np.nanmax(np.abs(got - want))) if np.isfinite(want).any() else 0.0

    rows = [
        ("vectorised, action level", n_pred, n_gt, t_full),
        ("vectorised, action + body level", n_pred, n_gt, t_both),
        ("vectorised, action level", small_pred, small_gt, t_small),
        ("loop reference, action level", small_pred, small_gt, t_ref),
    ]
    if args.io:
        rows.append(("read_submission (CSV parse+checks)", n_pred, n_gt, time_csv_read(pred)))
    print(f"Detection mAP, {len(DEFAULT_TIOUS)} tIoU thresholds, protocol={args.protocol}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}"
    )
    print(f"{'implementation':<34}{'predictions':>12}{'GT':>8}{'seconds':>10}{'us/pred':>9}")
    for name, n_p, n_g, seconds in rows:
        print(f"{name:<34}{n_p:>12,}{n_g:>8,}{seconds:>10.3f}{1e6 * seconds / n_p:>9.2f}")
    print(f"speed-up on the shared small input: {t_ref / t_small:,.0f}x")
    print(
        f"time per prediction, reference (small) / vectorised (full): {(t_ref / small_pred) / (t_full / n_pred):,.0f}x"
    )
    print(f"max |AP difference| on the shared input: {diff:.2e} (percent points)")
    if diff > 1e-9:
        print("MISMATCH: vectorised and reference AP disagree")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
