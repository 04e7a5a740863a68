"""The permuted-label control (detection/evaluation/control.py) and its many-derangement form on
the evaluator's command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from detection.evaluation.cli import main
from detection.evaluation.control import derangement, permuted_label_control, permuted_label_controls
from detection.evaluation.metrics import evaluate_detection

# four videos, one class each, the four classes present once: predictions that time and label
# every instance right score 100; any derangement moves every label, so each scores 0
GT = pd.DataFrame(
    {"video_id": ["a", "b", "c", "d"], "t_start": [0.0] * 4, "t_end": [4.0] * 4, "class": [1, 9, 24, 40]}
)
PERFECT = GT.assign(score=[0.9, 0.8, 0.7, 0.6])


@pytest.mark.parametrize("seed", range(5))
def test_a_derangement_moves_every_class(seed):
    present = np.array([3, 7, 11, 20, 51])
    moved = derangement(present, np.random.default_rng(seed))
    assert sorted(moved) == sorted(present) and not np.any(moved == present)


def test_control_of_perfect_predictions_has_no_class_knowledge_left():
    assert evaluate_detection(GT, PERFECT, protocol="activitynet")["action"]["avg"] == pytest.approx(100.0)
    assert permuted_label_control(GT, PERFECT, seed=0, protocol="activitynet") == pytest.approx(0.0)


def test_many_draws_contain_the_single_draw_a_run_records():
    """A run with ``seed=s`` records seed s's draw; the many-derangement control must include
    exactly that draw, and different seeds must draw different derangements."""
    rng = np.random.default_rng(0)
    gt = pd.DataFrame(
        {
            "video_id": [f"v{i}" for i in range(12)],
            "t_start": np.zeros(12),
            "t_end": np.full(12, 5.0),
            "class": np.repeat([2, 5, 9, 30], 3),
        }
    )
    # scores and labels that are partly right, so derangements give different mAPs
    pred = gt.assign(score=rng.uniform(0.1, 1.0, 12), **{"class": rng.choice([2, 5, 9, 30], 12)})
    draws = permuted_label_controls(gt, pred, range(6), "activitynet")
    for seed in (0, 3):
        assert draws[seed] == permuted_label_control(gt, pred, seed, "activitynet")
    assert len(set(np.round(draws, 9))) > 1


def test_cli_control_reports_mean_std_and_ratio(tmp_path, capsys):
    gt_csv = tmp_path / "test.csv"
    gt_csv.write_text(
        "id,video_id,start_frame,end_frame,class,total_frames,fps\n"
        "0,v1,0,300,9,450,30.0\n1,v1,300,450,24,450,30.0\n2,v2,0,145,3,290,29.0\n"
    )
    pred_csv = tmp_path / "pred.csv"
    # v1's nod is right; v1's leg shake and v2's turn are labelled with each other's class
    pred_csv.write_text(
        ",video_id,t_start,t_end,class,score\n"
        "0,v1,0.0,10.0,9,0.9\n1,v1,10.0,15.0,3,0.8\n2,v2,0.0,5.0,24,0.7\n"
    )
    code = main(
        ["--gt", str(gt_csv), "--pred", str(pred_csv), "--control", "8", "--json", str(tmp_path / "m.json")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "over 8 derangements" in out
    control = json.loads((tmp_path / "m.json").read_text())["control"]
    draws = control["action_avg_per_seed"]
    assert len(draws) == 8 and control["derangements"] == 8
    assert control["action_avg_mean"] == pytest.approx(np.mean(draws))
    assert control["action_avg_std"] == pytest.approx(np.std(draws, ddof=1))
    action = json.loads((tmp_path / "m.json").read_text())["action"]["avg"]
    assert control["action_avg_over_control"] == pytest.approx(action / control["action_avg_mean"])


def test_cli_control_needs_two_derangements(tmp_path, capsys):
    gt_csv = tmp_path / "test.csv"
    gt_csv.write_text("id,video_id,start_frame,end_frame,class,total_frames,fps\n0,v1,0,300,9,450,30.0\n")
    pred_csv = tmp_path / "pred.csv"
    pred_csv.write_text(",video_id,t_start,t_end,class,score\n0,v1,0.0,10.0,9,0.9\n")
    assert main(["--gt", str(gt_csv), "--pred", str(pred_csv), "--control", "1"]) == 1
    assert "at least 2 derangements" in capsys.readouterr().err
