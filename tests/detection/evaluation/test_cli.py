"""Tests for the standalone evaluator CLI (detection/evaluation/cli.py): numbers, JSON layout,
subsets, warnings and the one-line errors for bad files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detection.data.annotations import Instance, VideoAnnotation, write_mma52_csv, write_submission
from detection.evaluation.cli import main, parse_subset
from detection.evaluation.reference import reference_ap
from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS
from tests.conftest import REPO_ROOT

TIOU_KEYS = ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
# v1: [0, 10] s nodding (9, head) and [10, 15] s shaking legs (24, lower limb) at 30 fps;
# v2: [0, 5] s turning around (3, body) at 29 fps.
GT_CSV = """id,video_id,start_frame,end_frame,class,total_frames,fps
0,v1,0,300,9,450,30.0
1,v1,300,450,24,450,30.0
2,v2,0,145,3,290,29.0
"""
PERFECT = [("v1", 0.0, 10.0, 9, 0.9), ("v1", 10.0, 15.0, 24, 0.8), ("v2", 0.0, 5.0, 3, 0.7)]
HEADER = ",video_id,t_start,t_end,class,score\n"


def write_pred(path: Path, rows) -> Path:
    lines = [f"{i},{v},{s!r},{e!r},{c},{p!r}" for i, (v, s, e, c, p) in enumerate(rows)]
    path.write_text(HEADER + "".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def gt_csv(tmp_path) -> Path:
    path = tmp_path / "test.csv"
    path.write_text(GT_CSV)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------- results


def test_both_levels_official_table_and_json(tmp_path, gt_csv, capsys):
    pred = write_pred(tmp_path / "pred.csv", PERFECT)
    code, out, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred, "--json", tmp_path / "m.json")
    assert code == 0 and err == ""
    # Official: every present class scores 100, the mean runs over 52 actions / 7 body groups.
    result = json.loads((tmp_path / "m.json").read_text())
    assert set(result) == {"action", "body", "avg", "counts"}
    assert result["action"]["avg"] == pytest.approx(300 / 52)
    assert result["body"]["avg"] == pytest.approx(300 / 7)
    assert result["avg"] == pytest.approx((300 / 52 + 300 / 7) / 2)
    assert list(result["action"]["per_tiou"]) == TIOU_KEYS
    assert list(result["action"]["per_class"]) == [str(c) for c in range(NUM_ACTIONS)]
    assert result["action"]["per_class"]["9"] == pytest.approx(100.0)
    assert result["action"]["per_class"]["0"] == 0.0
    lines = out.splitlines()
    assert lines[1].split() == ["level"] + TIOU_KEYS + ["Avg"]
    assert lines[3].split()[0] == "action" and lines[3].split()[-1] == f"{300 / 52:.2f}"
    assert lines[4].split()[0] == "body" and lines[4].split()[-1] == f"{300 / 7:.2f}"
    assert lines[5] == f"AVG {(300 / 52 + 300 / 7) / 2:.2f}"


@pytest.mark.parametrize(("level", "classes"), [("action", {"3", "9", "24"}), ("body", {"0", "1", "3"})])
def test_single_level_activitynet_json_schema(tmp_path, gt_csv, capsys, level, classes):
    pred = write_pred(tmp_path / "pred.csv", PERFECT)
    out_json = tmp_path / "m.json"
    code, out, _ = run_cli(
        capsys,
        "--gt",
        gt_csv,
        "--pred",
        pred,
        "--level",
        level,
        "--protocol",
        "activitynet",
        "--json",
        out_json,
    )
    assert code == 0
    result = json.loads(out_json.read_text())
    assert set(result) == {"per_tiou", "avg", "per_class", "counts"}
    assert list(result["per_tiou"]) == TIOU_KEYS
    assert result["avg"] == pytest.approx(100.0)
    assert set(result["per_class"]) == classes  # activitynet: only classes present in the GT
    rows = [line.split()[0] for line in out.splitlines()[3:]]
    assert rows == [level]  # one level printed, no AVG line


def _random_files(tmp_path: Path, seed: int) -> tuple[Path, Path]:
    """GT written in frames at 29/30 fps, predictions in seconds, overlapping and tied."""
    rng = np.random.default_rng(seed)
    videos = []
    for k in range(12):
        fps, total = float(rng.choice([29.0, 30.0])), int(rng.integers(150, 450))
        instances = []
        for _ in range(int(rng.integers(1, 6))):
            start = int(rng.integers(0, total - 10))
            end = int(rng.integers(start + 1, total + 1))
            instances.append(Instance(start / fps, end / fps, int(rng.integers(0, 8))))
        videos.append(VideoAnnotation(f"vid{k:02d}", fps, total, instances))
    write_mma52_csv(tmp_path / "gt.csv", videos)
    n = 400
    starts = rng.uniform(0, 12, n)
    pred = pd.DataFrame(
        {
            "video_id": [f"vid{k:02d}" for k in rng.integers(0, 12, n)],
            "t_start": starts,
            "t_end": starts + rng.uniform(0, 5, n),
            "class": rng.integers(0, 8, n),
            "score": np.round(rng.random(n), 1),
        }
    )
    write_submission(tmp_path / "pred.csv", pred)
    return tmp_path / "gt.csv", tmp_path / "pred.csv"


def _plain_read(gt_path: Path, pred_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two files read with the csv module only (frames / fps by hand), independent of
    detection.data.annotations, so the CLI's plumbing is checked too."""
    with open(gt_path, newline="") as handle:
        gt_rows = [
            (r["video_id"], int(r["start_frame"]) / float(r["fps"]), int(r["end_frame"]) / float(r["fps"]))
            + (int(r["class"]),)
            for r in csv.DictReader(handle)
        ]
    with open(pred_path, newline="") as handle:
        pred_rows = [
            (r["video_id"], float(r["t_start"]), float(r["t_end"]), int(r["class"]), float(r["score"]))
            for r in csv.DictReader(handle)
        ]
    return (
        pd.DataFrame(gt_rows, columns=["video_id", "t_start", "t_end", "class"]),
        pd.DataFrame(pred_rows, columns=["video_id", "t_start", "t_end", "class", "score"]),
    )


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_cli_agrees_with_the_loop_reference_on_files(tmp_path, capsys, protocol):
    gt_path, pred_path = _random_files(tmp_path, seed=1 if protocol == "official" else 2)
    out_json = tmp_path / "m.json"
    assert (
        run_cli(capsys, "--gt", gt_path, "--pred", pred_path, "--protocol", protocol, "--json", out_json)[0]
        == 0
    )
    result = json.loads(out_json.read_text())
    gt, pred = _plain_read(gt_path, pred_path)
    to_body = np.asarray(ACTION_TO_BODY)
    levels = {
        "action": (gt, pred, NUM_ACTIONS),
        "body": (
            gt.assign(**{"class": to_body[gt["class"]]}),
            pred.assign(**{"class": to_body[pred["class"]]}),
            7,
        ),
    }
    avgs = []
    for level, (g, p, num_classes) in levels.items():
        ap = reference_ap(g, p, np.round(np.arange(0.1, 1.0, 0.1), 1), num_classes, protocol)
        per_tiou = np.nanmean(ap, axis=1)
        np.testing.assert_allclose(list(result[level]["per_tiou"].values()), per_tiou, rtol=0, atol=1e-9)
        assert result[level]["avg"] == pytest.approx(per_tiou.mean(), abs=1e-9)
        for c, value in result[level]["per_class"].items():
            assert value == pytest.approx(ap[:, int(c)].mean(), abs=1e-9)
        avgs.append(per_tiou.mean())
    assert 0 < result["action"]["avg"] < 100  # a case with something to get wrong
    assert result["avg"] == pytest.approx(np.mean(avgs), abs=1e-9)


# --------------------------------------------------------------------------------- subsets


def test_subset_as_comma_list_and_as_file(tmp_path, gt_csv, capsys):
    # v2's only prediction has the wrong class: restricting to v1 removes that miss.
    rows = PERFECT[:2] + [("v2", 0.0, 5.0, 4, 0.7)]
    pred = write_pred(tmp_path / "pred.csv", rows)
    common = ["--gt", gt_csv, "--pred", pred, "--level", "action", "--protocol", "activitynet"]
    run_cli(capsys, *common, "--json", tmp_path / "all.json")
    assert json.loads((tmp_path / "all.json").read_text())["avg"] == pytest.approx(200 / 3)

    code, _, _ = run_cli(capsys, *common, "--subset", "v1", "--json", tmp_path / "list.json")
    subset = json.loads((tmp_path / "list.json").read_text())
    assert code == 0 and subset["counts"] == {"ground_truth": 2, "videos": 1, "predictions": 2}
    assert subset["avg"] == pytest.approx(100.0)

    subset_file = tmp_path / "ids.txt"
    subset_file.write_text("# validation videos\nv1\n\n  v1  # listed twice\n")
    assert run_cli(capsys, *common, "--subset", subset_file, "--json", tmp_path / "file.json")[0] == 0
    assert json.loads((tmp_path / "file.json").read_text()) == json.loads(
        (tmp_path / "list.json").read_text()
    )


def test_parse_subset_forms(tmp_path):
    assert parse_subset("v1, v2,,v3") == ["v1", "v2", "v3"]
    listing = tmp_path / "ids"
    listing.write_text("a\nb # comment\n\n#c\n")
    assert parse_subset(str(listing)) == ["a", "b"]


def test_unknown_subset_id_is_a_one_line_error(tmp_path, gt_csv, capsys):
    pred = write_pred(tmp_path / "pred.csv", PERFECT)
    code, out, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred, "--subset", "v1,v9")
    assert code == 1 and out == ""
    assert err == "error: --subset: 1 of 2 video id(s) are not in the ground truth, e.g. 'v9'\n"


# --------------------------------------------------------------------------------- warnings


def test_predictions_on_unknown_videos_are_false_positives_with_a_warning(tmp_path, gt_csv, capsys):
    rows = PERFECT + [("ghost", 0.0, 10.0, 9, 0.95), ("ghost", 1.0, 2.0, 3, 0.1)]
    pred = write_pred(tmp_path / "pred.csv", rows)
    out_json = tmp_path / "m.json"
    code, _, err = run_cli(
        capsys,
        "--gt",
        gt_csv,
        "--pred",
        pred,
        "--level",
        "action",
        "--protocol",
        "activitynet",
        "--json",
        out_json,
    )
    assert code == 0
    assert err == (
        "warning: 2 prediction(s) on 1 video(s) absent from the ground truth are counted as false positives\n"
    )
    # Class 9: ghost FP ranked first, then the TP -> AP 50. Class 3: TP then FP -> 100.
    assert json.loads(out_json.read_text())["per_class"] == {
        "3": pytest.approx(100.0),
        "9": pytest.approx(50.0),
        "24": pytest.approx(100.0),
    }


@pytest.mark.parametrize("content", [HEADER, "", "\n  \n"], ids=["header-only", "zero-bytes", "blank"])
def test_empty_prediction_file_scores_zero_with_a_warning(tmp_path, gt_csv, capsys, content):
    pred = tmp_path / "pred.csv"
    pred.write_text(content)
    code, out, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred, "--json", tmp_path / "m.json")
    assert code == 0
    assert err == f"warning: {pred} has no predictions; mAP is 0\n"
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["avg"] == 0.0 and set(result["action"]["per_tiou"].values()) == {0.0}
    assert out.splitlines()[-1] == "AVG 0.00"


# --------------------------------------------------------------------------------- bad input

BAD_PREDICTIONS = {
    "unknown-class": ("0,v1,0.0,1.0,52,0.9", "line 2, field 'class': unknown class 52 (valid: 0..51)"),
    "nan-time": ("0,v1,nan,1.0,9,0.9", "line 2, field 't_start': non-finite value nan"),
    "inf-time": ("0,v1,0.0,inf,9,0.9", "line 2, field 't_end': non-finite value inf"),
    "nan-score": ("0,v1,0.0,1.0,9,nan", "line 2, field 'score': non-finite value nan"),
    "inf-score": ("0,v1,0.0,1.0,9,-inf", "line 2, field 'score': non-finite value -inf"),
    "end-before-start": ("0,v1,3.0,1.0,9,0.9", "line 2, field 't_end': t_end 1.0 < t_start 3.0"),
}


@pytest.mark.parametrize("case", list(BAD_PREDICTIONS))
def test_bad_prediction_row_is_a_one_line_error(tmp_path, gt_csv, capsys, case):
    row, message = BAD_PREDICTIONS[case]
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + row + "\n")
    code, out, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred)
    assert code == 1 and out == ""
    assert err == f"error: {pred}: {message}\n"


def test_bad_row_is_found_after_good_rows(tmp_path, gt_csv, capsys):
    pred = write_pred(tmp_path / "pred.csv", PERFECT + [("v2", 1.0, 2.0, 60, 0.5)])
    code, _, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred)
    assert code == 1
    assert err == f"error: {pred}: line 5, field 'class': unknown class 60 (valid: 0..51)\n"


def test_bad_ground_truth_and_missing_file_are_one_line_errors(tmp_path, gt_csv, capsys):
    pred = write_pred(tmp_path / "pred.csv", PERFECT)
    bad_gt = tmp_path / "bad.csv"
    bad_gt.write_text(GT_CSV.replace("1,v1,300,450,24", "1,v1,300,200,24"))
    code, _, err = run_cli(capsys, "--gt", bad_gt, "--pred", pred)
    assert (
        code == 1 and err.startswith(f"error: {bad_gt}: line 3, field 'end_frame'") and err.count("\n") == 1
    )
    code, _, err = run_cli(capsys, "--gt", gt_csv, "--pred", tmp_path / "nope.csv")
    assert code == 1 and err.startswith("error: ") and "nope.csv" in err and err.count("\n") == 1


def test_module_entry_point_exits_non_zero_without_traceback(tmp_path, gt_csv):
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + BAD_PREDICTIONS["nan-score"][0] + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "detection.evaluate", "--gt", str(gt_csv), "--pred", str(pred)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"error: {pred}: {BAD_PREDICTIONS['nan-score'][1]}\n"
    assert "Traceback" not in done.stdout + done.stderr


def test_usage_error_exits_with_status_two(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--pred", "x.csv"])
    assert exit_info.value.code == 2
    assert "--gt" in capsys.readouterr().err


# --------------------------------------------------------------------------------- analysis


def test_analysis_folder_gets_both_levels(tmp_path, gt_csv, capsys):
    pred = write_pred(tmp_path / "pred.csv", PERFECT[:2] + [("v2", 0.0, 5.0, 4, 0.7)])
    out_dir = tmp_path / "analysis"
    code, _, _ = run_cli(capsys, "--gt", gt_csv, "--pred", pred, "--analysis", out_dir)
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(
        f"{level}_{suffix}"
        for level in ("action", "body")
        for suffix in ("error_analysis.json", "fp_profile.png", "fn_rates.png")
    )
    action = json.loads((out_dir / "action_error_analysis.json").read_text())
    # Classes 3 and 4 are both "body" group (A): wrong label at action level, TP at body level.
    assert action["false_positives"]["profiles"][0]["counts"]["wrong_label"] == 1
    body = json.loads((out_dir / "body_error_analysis.json").read_text())
    assert body["false_positives"]["profiles"][0]["counts"]["true_positive"] == 3
    # Coverage uses the GT's video duration from the CSV: v2 is 290 frames at 29 fps = 10 s.
    coverage = {b["label"]: b["count"] for b in action["false_negatives"]["coverage"]["buckets"]}
    assert coverage == {"[0, 0.2]": 0, "(0.2, 0.4]": 1, "(0.4, 0.6]": 1, "(0.6, 0.8]": 1, "(0.8, 1]": 0}


def test_malformed_and_binary_files_are_one_line_errors(tmp_path, gt_csv, capsys):
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + "0,v1,0.0,1.0,9,0.9\n1,v1,0.0,1.0,9,0.9,7\n")  # one field too many
    code, _, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred)
    assert code == 1 and err.startswith(f"error: {pred}: line 3, field '<row>': malformed CSV row")
    assert err.count("\n") == 1
    pred.write_bytes(HEADER.encode() + b"0,v\xe7\xff,0.0,1.0,9,0.9\n")
    code, _, err = run_cli(capsys, "--gt", gt_csv, "--pred", pred)
    assert code == 1 and err.startswith(f"error: {pred}: not a UTF-8 text file") and err.count("\n") == 1
