"""Tests for detection mAP (detection/evaluation/metrics.py): hand-computed cases and a randomized
comparison with a deliberately plain loop implementation of the ActivityNet procedure."""

from __future__ import annotations

import numpy as np
import pytest

from detection.evaluation.metrics import (
    DEFAULT_TIOUS,
    average_precision,
    evaluate_detection,
    format_table,
    match_predictions,
    rank_predictions,
)
from detection.evaluation.reference import reference_ap, reference_evaluate
from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS
from tests.conftest import gt_table, pred_table, random_detection_case


def ap_at(gt, pred, tious=(0.5,), num_classes=1, protocol="activitynet"):
    return average_precision(gt, pred, tious=np.array(tious), num_classes=num_classes, protocol=protocol)


# --------------------------------------------------------------------------------- hand cases


def test_default_thresholds():
    assert DEFAULT_TIOUS.tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_perfect_predictions_score_100(protocol):
    gt = gt_table([("v1", 0.0, 2.0, 0), ("v1", 1.0, 3.0, 1), ("v2", 0.5, 0.9, 1)])
    pred = pred_table([(*row, 0.9) for row in gt.itertuples(index=False)])
    # Every prediction is its own ground truth: tIoU 1 (official: 1/(1+1e-4/len) > 0.9).
    result = average_precision(gt, pred, num_classes=2, protocol=protocol)
    assert result["avg"] == pytest.approx(100.0)
    assert list(result["per_tiou"]) == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    assert all(v == pytest.approx(100.0) for v in result["per_tiou"].values())
    assert result["ap"].shape == (9, 2)


def test_perfect_on_all_52_classes_gives_100_at_both_levels():
    gt = gt_table([(f"v{c % 5}", float(c), c + 0.8, c) for c in range(NUM_ACTIONS)])
    pred = pred_table([(*row, 0.5) for row in gt.itertuples(index=False)])
    metrics = evaluate_detection(gt, pred)  # official: all 52 / 7 classes present
    assert metrics["action"]["avg"] == pytest.approx(100.0)
    assert metrics["body"]["avg"] == pytest.approx(100.0)
    assert metrics["avg"] == pytest.approx(100.0)
    assert len(metrics["action"]["per_class"]) == NUM_ACTIONS


def test_false_positive_ranked_above_true_positive_halves_ap():
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    pred = pred_table([("v1", 20.0, 30.0, 0, 0.9), ("v1", 0.0, 10.0, 0, 0.8)])
    # Ranks: FP, TP. precision [0, 1/2], recall [0, 1]; monotone precision at recall 1 is 1/2.
    # AP = (1 - 0) * 0.5 = 0.5.
    assert ap_at(gt, pred)["avg"] == pytest.approx(50.0)


def test_precision_envelope_from_the_right():
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v1", 20.0, 30.0, 0)])
    pred = pred_table([("v1", 40.0, 50.0, 0, 0.9), ("v1", 0.0, 10.0, 0, 0.8), ("v1", 20.0, 30.0, 0, 0.7)])
    # Ranks FP, TP, TP: precision [0, 1/2, 2/3], recall [0, 1/2, 1].
    # Monotone from the right: [2/3, 2/3, 2/3]. AP = 0.5 * 2/3 + 0.5 * 2/3 = 2/3
    # (without the envelope it would be 0.5 * 1/2 + 0.5 * 2/3 = 7/12).
    assert ap_at(gt, pred)["avg"] == pytest.approx(100 * 2 / 3)


def test_duplicate_detection_is_a_false_positive():
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v1", 20.0, 30.0, 0)])
    pred = pred_table([("v1", 0.0, 10.0, 0, 0.9), ("v1", 0.0, 10.0, 0, 0.8), ("v1", 20.0, 30.0, 0, 0.7)])
    # The duplicate's best ground truth is taken; the other one has tIoU 0 < 0.5, so the search
    # stops: TP, FP, TP -> AP = 5/6 as above (it would be 1 if the duplicate counted).
    assert ap_at(gt, pred)["avg"] == pytest.approx(100 * 5 / 6)


def test_prediction_takes_the_highest_tiou_ground_truth_first():
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v1", 4.0, 14.0, 0)])
    pred = pred_table([("v1", 3.0, 13.0, 0, 0.9), ("v1", 0.0, 10.0, 0, 0.8)])
    # First prediction: tIoU with A = 7/13 = 0.54, with B = 9/11 = 0.82 -> takes B.
    # Second: tIoU with A = 1 -> TP. AP = 1. (Taking A first would leave B at tIoU 6/14 -> FP.)
    assert ap_at(gt, pred)["avg"] == pytest.approx(100.0)


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_threshold_boundary(protocol):
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    pred = pred_table([("v1", 0.0, 5.5, 0, 0.9)])
    # tIoU = 5.5 / 10 = 0.55 (official 5.5 / 10.0001 = 0.549995): TP at 0.5, FP at 0.6.
    result = ap_at(gt, pred, tious=(0.5, 0.6), protocol=protocol)
    assert result["per_tiou"] == {"0.5": pytest.approx(100.0), "0.6": 0.0}
    assert result["avg"] == pytest.approx(50.0)


def test_epsilon_makes_exact_half_fail_only_in_official():
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    pred = pred_table([("v1", 0.0, 5.0, 0, 0.9)])
    # inter 5, union 10: activitynet 0.5 >= 0.5 -> TP; official 5 / 10.0001 < 0.5 -> FP.
    assert ap_at(gt, pred, protocol="activitynet")["avg"] == pytest.approx(100.0)
    assert ap_at(gt, pred, protocol="official")["avg"] == 0.0


def test_class_denominators_differ_between_protocols():
    gt = gt_table([("v1", 0.0, 10.0, 3)])
    pred = pred_table([("v1", 0.0, 10.0, 3, 0.9), ("v1", 0.0, 10.0, 7, 0.9)])
    # Class 3 AP = 100. Official: mean over 52 classes, the 51 absent ones count 0 -> 100 / 52.
    # ActivityNet: mean over classes present in the GT (only class 3) -> 100.
    official = average_precision(gt, pred, protocol="official")
    activitynet = average_precision(gt, pred, protocol="activitynet")
    assert official["avg"] == pytest.approx(100 / 52)
    assert activitynet["avg"] == pytest.approx(100.0)
    assert official["ap"][:, 7].tolist() == [0.0] * 9
    assert np.isnan(activitynet["ap"][:, 7]).all()
    assert list(activitynet["per_class"]) == [3]
    assert len(official["per_class"]) == 52 and official["per_class"][7] == 0.0


def test_class_with_ground_truth_but_no_prediction_scores_zero():
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v1", 0.0, 10.0, 1)])
    pred = pred_table([("v1", 0.0, 10.0, 0, 0.9)])
    result = ap_at(gt, pred, num_classes=2)
    assert result["per_class"] == {0: pytest.approx(100.0), 1: 0.0}
    assert result["avg"] == pytest.approx(50.0)


def test_tied_scores_rank_like_numpy_argsort_reversed():
    # 20 predictions with the same score, exactly one correct (row 7). Rank order is whatever
    # np.argsort(scores)[::-1] says (on this machine it may not even be a stable order), so
    # AP = 1 / (1 + position of row 7 in that order).
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    rows = [("v1", 20.0 + i, 21.0 + i, 0, 0.5) for i in range(20)]
    rows[7] = ("v1", 0.0, 10.0, 0, 0.5)
    pred = pred_table(rows)
    order = np.argsort(pred["score"].to_numpy())[::-1]
    rank = int(np.flatnonzero(order == 7)[0])
    assert ap_at(gt, pred)["avg"] == pytest.approx(100.0 / (rank + 1))
    # A two-way tie: np.argsort([.5, .5]) = [0, 1], reversed puts row 1 (the TP) first -> 100;
    # a stable descending sort would put the FP first and give 50.
    assert np.argsort(np.array([0.5, 0.5]))[::-1].tolist() == [1, 0]
    two = pred_table([("v1", 20.0, 30.0, 0, 0.5), ("v1", 0.0, 10.0, 0, 0.5)])
    assert ap_at(gt, two)["avg"] == pytest.approx(100.0)


def test_body_level_merges_classes_of_one_group():
    # 9 (nodding) and 10 (shaking head) are both head (group 1).
    assert ACTION_TO_BODY[9] == ACTION_TO_BODY[10] == 1
    gt = gt_table([("v1", 0.0, 10.0, 9)])
    pred = pred_table([("v1", 0.0, 10.0, 10, 0.9)])
    # Action level: class 9 has no prediction -> 0. Body level: both become group 1 -> 100.
    metrics = evaluate_detection(gt, pred, protocol="activitynet")
    assert metrics["action"]["avg"] == 0.0
    assert metrics["body"]["avg"] == pytest.approx(100.0)
    assert metrics["avg"] == pytest.approx(50.0)
    # Official: body mean over all 7 groups -> 100 / 7; AVG = (0 + 100/7) / 2.
    official = evaluate_detection(gt, pred, protocol="official")
    assert official["body"]["avg"] == pytest.approx(100 / 7)
    assert official["avg"] == pytest.approx(100 / 14)


def test_body_level_merged_predictions_compete_for_one_ground_truth():
    gt = gt_table([("v1", 0.0, 10.0, 9), ("v1", 0.0, 10.0, 10)])
    pred = pred_table([("v1", 0.0, 10.0, 9, 0.9), ("v1", 0.0, 10.0, 9, 0.8)])
    # Action: class 9 TP, FP (precision 1 at recall 1) -> 100; class 10 -> 0; mean 50.
    # Body (one group, 2 GT): both predictions match one GT each -> 100.
    metrics = evaluate_detection(gt, pred, protocol="activitynet")
    assert metrics["action"]["avg"] == pytest.approx(50.0)
    assert metrics["body"]["avg"] == pytest.approx(100.0)


def test_overlapping_ground_truths_of_different_classes_match_independently():
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v1", 0.0, 10.0, 1)])
    pred = pred_table([("v1", 0.0, 10.0, 0, 0.9), ("v1", 0.0, 10.0, 1, 0.8)])
    # Same segment, two labels: each class matches its own GT -> both 100.
    result = ap_at(gt, pred, num_classes=2)
    assert result["per_class"] == {0: pytest.approx(100.0), 1: pytest.approx(100.0)}


def test_predictions_on_unknown_videos_are_false_positives():
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    pred = pred_table([("ghost", 0.0, 10.0, 0, 0.9), ("v1", 0.0, 10.0, 0, 0.8)])
    # Ranks FP (no such video), TP -> AP 0.5.
    assert ap_at(gt, pred)["avg"] == pytest.approx(50.0)


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_empty_predictions_score_zero(protocol):
    gt = gt_table([("v1", 0.0, 10.0, 0), ("v2", 1.0, 2.0, 5)])
    metrics = evaluate_detection(gt, pred_table([]), protocol=protocol)
    assert metrics["avg"] == 0.0
    assert set(metrics["action"]["per_tiou"].values()) == {0.0}
    assert set(metrics["body"]["per_tiou"].values()) == {0.0}


def test_bad_inputs_are_refused():
    gt = gt_table([("v1", 0.0, 10.0, 0)])
    with pytest.raises(ValueError, match="score"):
        average_precision(gt, gt)
    with pytest.raises(ValueError, match="class 52"):
        average_precision(gt, pred_table([("v1", 0.0, 1.0, 52, 0.5)]))
    with pytest.raises(ValueError, match="protocol"):
        average_precision(gt, pred_table([]), protocol="coco")


def test_format_table():
    gt = gt_table([("v1", 0.0, 10.0, 9)])
    pred = pred_table([("v1", 0.0, 10.0, 10, 0.9)])
    text = format_table(evaluate_detection(gt, pred, protocol="activitynet"))
    lines = text.splitlines()
    assert lines[0].split() == ["level", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "Avg"]
    assert lines[2].split() == ["action"] + ["0.00"] * 10
    assert lines[3].split() == ["body"] + ["100.00"] * 10
    assert lines[-1] == "AVG 50.00"


# --------------------------------------------------------------------------------- reference


def _random_tious(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.8:
        return DEFAULT_TIOUS
    return np.unique(np.r_[0.5, np.round(rng.uniform(0.05, 0.95, rng.integers(1, 6)), 2)])


def _expected_summary(ref: np.ndarray, protocol: str) -> tuple[np.ndarray, float]:
    """per-tIoU mAP and Avg from the reference AP table under each protocol's class rule."""
    if protocol == "activitynet" and np.isnan(ref).all():
        per_tiou = np.zeros(ref.shape[0])
    else:
        per_tiou = np.nanmean(ref, axis=1)
    return per_tiou, float(per_tiou.mean())


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_matches_loop_reference_on_random_cases(protocol):
    rng = np.random.default_rng(20240611 if protocol == "official" else 7)
    seen = {"empty_class": 0, "multi_label": 0, "score_tie": 0, "ap_strictly_between": 0}
    for case in range(2000):
        num_classes = int(rng.integers(1, 7))
        gt, pred = random_detection_case(rng, num_classes)
        tious = _random_tious(rng)
        got = average_precision(gt, pred, tious=tious, num_classes=num_classes, protocol=protocol)
        want = reference_ap(gt, pred, tious, num_classes, protocol)
        np.testing.assert_allclose(got["ap"], want, rtol=0, atol=1e-9, equal_nan=True, err_msg=f"case {case}")
        per_tiou, avg = _expected_summary(want, protocol)
        np.testing.assert_allclose(list(got["per_tiou"].values()), per_tiou, rtol=0, atol=1e-9)
        assert got["avg"] == pytest.approx(avg, abs=1e-9)
        seen["empty_class"] += int(np.bincount(gt["class"], minlength=num_classes).min() == 0)
        seen["multi_label"] += int(gt.duplicated(["video_id", "t_start", "t_end"]).any())
        seen["score_tie"] += int(pred.duplicated(["class", "score"]).any())
        seen["ap_strictly_between"] += int(((want > 0) & (want < 100)).any())
    # The generator really produces the situations the test is meant to cover.
    assert min(seen.values()) > 500, seen


def test_match_predictions_agrees_with_reference_assignment():
    rng = np.random.default_rng(11)
    for case in range(300):
        num_classes = int(rng.integers(1, 5))
        gt, pred = random_detection_case(rng, num_classes)
        protocol = "official" if case % 2 else "activitynet"
        tiou = float(rng.choice([0.3, 0.5, 0.7]))
        _, want = reference_evaluate(gt, pred, [tiou], num_classes, protocol)
        got = match_predictions(gt, pred, tiou, num_classes, protocol)
        np.testing.assert_array_equal(got, want[0], err_msg=f"case {case}")


def test_rank_predictions_is_score_order_and_per_class_prefix():
    rng = np.random.default_rng(5)
    for _ in range(50):
        _, pred = random_detection_case(rng, 3)
        order = rank_predictions(pred, 3)
        scores = pred["score"].to_numpy()
        assert sorted(order.tolist()) == list(range(len(pred)))
        assert (np.diff(scores[order]) <= 0).all()
        for c in range(3):
            rows = np.flatnonzero(pred["class"].to_numpy() == c)
            want = rows[np.argsort(scores[rows])[::-1]]  # the per-class rank order of AP
            np.testing.assert_array_equal(order[np.isin(order, rows)], want)


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_body_level_matches_reference_on_relabelled_tables(protocol):
    rng = np.random.default_rng(3 if protocol == "activitynet" else 4)
    to_body = np.asarray(ACTION_TO_BODY)
    for _ in range(150):
        gt, pred = random_detection_case(rng, NUM_ACTIONS)
        metrics = evaluate_detection(gt, pred, protocol=protocol)
        gt_b, pred_b = (
            gt.assign(**{"class": to_body[gt["class"]]}),
            pred.assign(**{"class": to_body[pred["class"]]}),
        )
        want = reference_ap(gt_b, pred_b, DEFAULT_TIOUS, 7, protocol)
        assert metrics["body"]["avg"] == pytest.approx(_expected_summary(want, protocol)[1], abs=1e-9)
        assert set(metrics["body"]["per_class"]) == (
            set(range(7)) if protocol == "official" else set(gt_b["class"].tolist())
        )
