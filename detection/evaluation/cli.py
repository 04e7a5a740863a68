"""Standalone MMA-52 detection evaluator: ground-truth CSV + submission CSV -> mAP table.

    python -m detection.evaluate --gt test.csv --pred submission.csv \\
        [--level action|body] [--protocol official|activitynet] [--subset IDS] \\
        [--json OUT.json] [--analysis DIR] [--control N]

It exists so a submission can be scored exactly like the challenge scores it, without the
training pipeline, and so bad files fail with one line that names the row rather than a
traceback or, worse, a silently wrong number.

* ``--gt``: official MMA-52 CSV (frames + fps); ``--pred``: challenge submission (seconds).
* ``--level``: one level; without it both are printed plus AVG = mean of the two Avg values.
* ``--subset``: if the argument is an existing file, it lists video ids one per line (blank
  lines and ``#`` comments ignored); otherwise it is a comma-separated list of ids. Both the
  ground truth and the predictions are restricted to those videos. Every listed id must occur
  in the ground truth (a subset selects videos, it cannot add any), so a mistyped id or file
  name is an error instead of a quietly lower mAP.
* ``--json``: single level -> ``{"per_tiou": {"0.1": .., ..}, "avg": .., "per_class":
  {"<index>": avg AP}}``; both levels -> ``{"action": {...}, "body": {...}, "avg": AVG}``.
  Percent throughout; ``per_class`` follows the protocol (all classes for ``official``,
  classes present in the ground truth for ``activitynet``).
* ``--control N``: also the permuted-label control (detection/evaluation/control.py) over N
  derangements of the predictions' labels (seeds 0 .. N-1): its mean and sample std, and the
  action Avg divided by that mean; in the JSON under ``"control"`` with every draw. Seed 0 is
  the draw a training run with ``seed=0`` records in its metrics.json.
* ``--analysis DIR``: the error analysis of :mod:`detection.evaluation.error_analysis` for each level
  evaluated (JSON + PNG charts).

Predictions on videos absent from the ground truth are scored as false positives and counted
in a warning; an empty prediction file (no rows, header only, or zero bytes) scores 0 with a
warning. Warnings go to stderr. Exit status: 0 success, 1 bad input, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from detection.data.annotations import (
    SUBMISSION_COLUMNS,
    AnnotationError,
    annotations_to_frame,
    read_mma52_csv,
    read_submission,
)
from detection.evaluation.control import control_spread, permuted_label_controls
from detection.evaluation.metrics import LEVELS, PROTOCOLS, evaluate_level, format_table
from perception.atomic import atomic_write_text

_SNIFF_BYTES = 4096


class InputError(ValueError):
    """Bad command-line input that is not a file-format problem (e.g. an unknown subset id)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m detection.evaluate",
        description="Detection mAP of an MMAD submission against MMA-52 ground truth.",
    )
    parser.add_argument("--gt", required=True, type=Path, help="MMA-52 annotation CSV (frames + fps)")
    parser.add_argument("--pred", required=True, type=Path, help="submission CSV (seconds)")
    parser.add_argument("--level", choices=LEVELS, help="evaluate one level (default: both + AVG)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="official")
    parser.add_argument("--subset", help="file with one video id per line, or a comma-separated id list")
    parser.add_argument("--json", type=Path, help="write the metrics here as JSON")
    parser.add_argument("--analysis", type=Path, help="write error-analysis JSON and charts into this folder")
    parser.add_argument(
        "--control",
        type=int,
        metavar="N",
        help="also score N derangements of the predicted labels (the permuted-label control): mean, std",
    )
    return parser


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _read_predictions(path: Path) -> pd.DataFrame:
    """The submission, or an empty table for a file with nothing in it (not even a header):
    an empty file is a legitimate 'no detections' answer, scored 0 with a warning."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES + 1)
    if len(head) <= _SNIFF_BYTES and not head.strip():
        dtypes = {"video_id": object, "t_start": float, "t_end": float, "class": "int64", "score": float}
        return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in SUBMISSION_COLUMNS})
    return read_submission(path)


def _decoding(path: Path, reader):
    """``reader(path)``, with a non-UTF-8 file reported by name (the codec error names none)."""
    try:
        return reader(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None


def parse_subset(spec: str) -> list[str]:
    """Video ids from ``--subset``: an existing file (one id per line) or a comma list."""
    path = Path(spec)
    if path.is_file():
        lines = _decoding(path, lambda p: p.read_text(encoding="utf-8")).splitlines()
        ids = [line.split("#", 1)[0].strip() for line in lines]
    else:
        ids = [part.strip() for part in spec.split(",")]
    ids = [i for i in ids if i]
    if not ids:
        raise InputError(f"--subset {spec!r} lists no video ids")
    return list(dict.fromkeys(ids))


def _apply_subset(spec: str, gt: pd.DataFrame, pred: pd.DataFrame, gt_videos: set[str]):
    ids = parse_subset(spec)
    unknown = [i for i in ids if i not in gt_videos]
    if unknown:
        hint = "" if Path(spec).is_file() or "," in spec else " (and no file of that name exists)"
        raise InputError(
            f"--subset: {len(unknown)} of {len(ids)} video id(s) are not in the ground truth, "
            f"e.g. {unknown[0]!r}{hint}"
        )
    keep = set(ids)
    return gt[gt["video_id"].isin(keep)], pred[pred["video_id"].isin(keep)], keep


def _to_json(result: dict) -> dict:
    return {
        "per_tiou": result["per_tiou"],
        "avg": result["avg"],
        "per_class": {str(c): v for c, v in result["per_class"].items()},
    }


def _control(gt: pd.DataFrame, pred: pd.DataFrame, action: float, args: argparse.Namespace) -> dict:
    """The permuted-label control over ``args.control`` derangements beside the true action Avg
    ``action``, printed and returned."""
    draws = permuted_label_controls(gt, pred, range(args.control), args.protocol)
    mean, std = control_spread(draws)
    ratio = action / mean if mean > 0 else None
    print(
        f"control: action Avg with permuted class labels = {mean:.2f} +/- {std:.2f} "
        f"(mean +/- std over {args.control} derangements); action Avg {action:.2f}"
        + (f" = {ratio:.2f}x the control" if ratio is not None else "")
    )
    return {
        "action_avg_mean": mean,
        "action_avg_std": std,
        "derangements": args.control,
        "action_avg_per_seed": draws,
        "action_avg_over_control": ratio,
    }


def run(args: argparse.Namespace) -> int:
    """Everything after argument parsing; raises on bad input, ``main`` turns that into a line."""
    videos = _decoding(args.gt, read_mma52_csv)
    gt = annotations_to_frame(videos)
    pred = _decoding(args.pred, _read_predictions)
    gt_videos = set(videos)
    if args.subset is not None:
        gt, pred, gt_videos = _apply_subset(args.subset, gt, pred, gt_videos)
    gt, pred = gt.reset_index(drop=True), pred.reset_index(drop=True)

    if len(gt) == 0:
        _warn("the ground truth has no instances; every AP is 0")
    if len(pred) == 0:
        _warn(f"{args.pred} has no predictions; mAP is 0")
    stray = ~pred["video_id"].isin(gt_videos)
    if stray.any():
        _warn(
            f"{int(stray.sum())} prediction(s) on {pred.loc[stray, 'video_id'].nunique()} video(s) "
            "absent from the ground truth are counted as false positives"
        )

    if args.control is not None and args.control < 2:
        raise InputError(f"--control needs at least 2 derangements for a spread, got {args.control}")
    levels = [args.level] if args.level else list(LEVELS)
    results = {level: evaluate_level(gt, pred, level, args.protocol) for level in levels}
    table = dict(results)
    if len(levels) == 2:
        table["avg"] = (results["action"]["avg"] + results["body"]["avg"]) / 2.0
    print(
        f"Detection mAP (%), protocol={args.protocol}: {len(gt)} ground-truth instances in "
        f"{gt['video_id'].nunique()} videos, {len(pred)} predictions"
    )
    print(format_table(table))
    control = None
    if args.control is not None:  # the action level is already scored unless --level body
        action = (
            results["action"] if "action" in results else evaluate_level(gt, pred, "action", args.protocol)
        )
        control = _control(gt, pred, action["avg"], args)

    if args.json is not None:
        if len(levels) == 1:
            payload = _to_json(results[levels[0]])
        else:
            payload = {level: _to_json(results[level]) for level in levels} | {"avg": table["avg"]}
        payload["counts"] = {
            "ground_truth": len(gt),
            "videos": int(gt["video_id"].nunique()),
            "predictions": len(pred),
        }
        if control is not None:
            payload["control"] = control
        atomic_write_text(args.json, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    if args.analysis is not None:
        from detection.evaluation.error_analysis import analyze  # matplotlib only when asked for

        durations = {vid: videos[vid].duration for vid in gt_videos}
        for level in levels:
            analyze(gt, pred, durations, args.analysis, level, protocol=args.protocol)
        print(f"error analysis written to {args.analysis}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (bad input -> 1 with a one-line message)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (AnnotationError, InputError, OSError) as exc:
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
