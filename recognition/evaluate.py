"""Standalone MA-52 recognition evaluator: list file + MAC submission -> the metric row.

    python -m recognition.evaluate --gt val_list_videos.txt --pred prediction.zip [--json OUT.json]

``--gt`` is an MA-52 list (``<file>.mp4 <action_idx>``); ``--pred`` a MAC 2024 or MAC 2025
``prediction.csv`` or its zip (:mod:`recognition.submission`). Clips are matched by file
name; a trailing ``.mp4`` is ignored on both sides, so ``test0000`` and ``test0000.mp4`` match.

Scoring follows :mod:`recognition.metrics`; body metrics use the file's own body column
(what a challenge server scores), and a warning counts the rows whose first body guess is
not the body group of their first action guess (the official derivation). A MAC 2024 file
has one action per clip, so action top-5 is reported as unavailable, not computed.

Every ground-truth clip needs a prediction (missing ones are an error naming the first);
predictions for clips absent from the ground truth are ignored with a warning. A list whose
labels are all 0 (the official test list: labels hidden) is scored with a warning, since
the numbers are then meaningless. Exit status: 0 success, 1 bad input, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perception.atomic import atomic_write_text
from recognition.lists import ListError, labels_hidden, read_list
from recognition.metrics import format_row, recognition_metrics, to_body
from recognition.submission import SubmissionError, read_submission


class InputError(ValueError):
    """The ground truth and the submission do not fit together."""


def _key(name: str) -> str:
    return name.removesuffix(".mp4")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recognition.evaluate",
        description="MA-52 recognition metrics of a MAC 2024 / MAC 2025 submission.",
    )
    parser.add_argument("--gt", required=True, type=Path, help="MA-52 list file: '<file>.mp4 <action_idx>'")
    parser.add_argument(
        "--pred", required=True, type=Path, help="prediction.csv or its zip (MAC 2024 or 2025)"
    )
    parser.add_argument("--json", type=Path, help="also write the metrics here as JSON")
    return parser


def evaluate_files(gt_path: Path, pred_path: Path) -> tuple[dict, str]:
    """(metrics with 'format' and 'clips', the submission format); raises on bad input."""
    items = read_list(gt_path)
    if not items:
        raise InputError(f"{gt_path}: the list has no clips")
    if labels_hidden(items):
        _warn(f"{gt_path}: every label is 0 (a hidden-label test list?); the scores are meaningless")
    submission = read_submission(pred_path)
    rows = {}
    for index, name in enumerate(submission.ids):
        key = _key(name)
        if key in rows:
            raise InputError(
                f"{pred_path}: clips {submission.ids[rows[key]]!r} and {name!r} are the same clip"
            )
        rows[key] = index
    missing = [item.file for item in items if _key(item.file) not in rows]
    if missing:
        raise InputError(
            f"{pred_path}: no prediction for {len(missing)} of {len(items)} ground-truth clip(s), "
            f"e.g. {missing[0]!r}"
        )
    wanted = {_key(item.file) for item in items}
    extra = sum(1 for key in rows if key not in wanted)
    if extra:
        _warn(f"{extra} prediction(s) for clips absent from {gt_path} are ignored")
    order = np.array([rows[_key(item.file)] for item in items])
    actions, bodies = submission.action[order], submission.body[order]
    disagree = int((bodies[:, 0] != to_body(actions[:, 0])).sum())
    if disagree:
        _warn(
            f"{disagree} clip(s) have a first body guess that is not the body group of their first "
            "action guess; body metrics score the file's body column"
        )
    metrics = recognition_metrics([item.label for item in items], actions, bodies)
    return {"format": submission.format, "clips": len(items), **metrics}, submission.format


def run(args: argparse.Namespace) -> int:
    metrics, fmt = evaluate_files(args.gt, args.pred)
    print(f"MA-52 recognition (%), {fmt} submission, {metrics['clips']} clips")
    print(format_row({k: v for k, v in metrics.items() if k not in ("format", "clips")}))
    if fmt == "mac2024":
        print("top-5: n/a (a MAC 2024 file holds one action and one body guess per clip)")
    if args.json is not None:
        atomic_write_text(args.json, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; bad input -> one line on stderr naming the file, exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ListError, SubmissionError, InputError, OSError) as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
