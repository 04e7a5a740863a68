"""Tests for detection/evaluation/error_analysis.py: hand-made cases where every false-positive category
and every false-negative bucket has a count worked out by hand, plus a randomized comparison
of the categories with a plain loop implementation of the rules."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from detection.evaluation.error_analysis import (
    FP_CATEGORIES,
    analyze,
    classify_predictions,
    false_negative_rates,
    false_positive_profile,
)
from detection.evaluation.reference import reference_evaluate
from tests.conftest import gt_table, pred_table, random_detection_case


def named(codes) -> list[str]:
    return [FP_CATEGORIES[c] for c in codes]


# --------------------------------------------------------------------------------- FP profile

# Three ground truths (G = 3) and nine predictions, one row per category, score descending.
FP_GT = gt_table([("v1", 0.0, 10.0, 0), ("v1", 20.0, 30.0, 1), ("v2", 0.0, 5.0, 2)])
FP_PRED = pred_table(
    [
        ("v1", 0.0, 10.0, 0, 0.9),  # same class, tIoU 1, GT free       -> true positive
        ("v1", 0.0, 10.0, 0, 0.8),  # same GT again, now taken            -> double detection
        ("v1", 20.0, 30.0, 0, 0.7),  # tIoU 1 with the class-1 GT          -> wrong label
        ("v1", 0.0, 3.0, 0, 0.6),  # same class, tIoU 0.3                -> localization
        ("v1", 20.0, 23.0, 2, 0.5),  # other class, tIoU 0.3               -> confusion
        ("v1", 40.0, 45.0, 0, 0.4),  # overlaps nothing                    -> background
        ("ghost", 0.0, 10.0, 0, 0.3),  # video without ground truth          -> background
        ("v2", 0.0, 5.0, 2, 0.2),  # same class, tIoU 1                  -> true positive
        ("v2", 0.0, 0.5, 2, 0.1),  # same class, tIoU exactly 0.1        -> localization
    ]
)


def test_every_category_on_a_hand_made_case():
    codes = classify_predictions(FP_GT, FP_PRED, num_classes=3, protocol="activitynet")
    assert named(codes) == [
        "true_positive",
        "double_detection",
        "wrong_label",
        "localization",
        "confusion",
        "background",
        "background",
        "true_positive",
        "localization",
    ]


def test_official_epsilon_moves_an_exact_point_one_overlap_to_background():
    # 0.5 / (5 + 1e-4) < 0.1: the same tIoU the official mAP uses decides the band.
    codes = classify_predictions(FP_GT, FP_PRED, num_classes=3, protocol="official")
    assert named(codes)[-1] == "background"
    assert named(codes)[:-1] == named(classify_predictions(FP_GT, FP_PRED, 3, protocol="activitynet"))[:-1]


def test_profile_counts_the_top_k_g_predictions():
    profiles = false_positive_profile(FP_GT, FP_PRED, 3, protocol="activitynet", multiples=(1, 2, 3, 4))
    # G = 3: top 3, top 6, then all 9 (k = 4 would want 12 but only 9 exist).
    assert [p["num_predictions"] for p in profiles] == [3, 6, 9, 9]
    zero = dict.fromkeys(FP_CATEGORIES, 0)
    assert profiles[0]["counts"] == zero | {"true_positive": 1, "double_detection": 1, "wrong_label": 1}
    assert profiles[1]["counts"] == {c: 1 for c in FP_CATEGORIES}
    want_all = {c: 1 for c in FP_CATEGORIES} | {"true_positive": 2, "localization": 2, "background": 2}
    assert profiles[2]["counts"] == want_all == profiles[3]["counts"]
    assert profiles[2]["fractions"]["background"] == pytest.approx(2 / 9)
    assert sum(profiles[1]["fractions"].values()) == pytest.approx(1.0)


def test_precedence_with_multi_label_ground_truth():
    gt = gt_table(
        [
            ("v", 0.0, 10.0, 0),
            ("v", 1.0, 10.0, 1),  # overlaps the class-0 instance (multi-label)
            ("v", 20.0, 30.0, 3),
            ("v", 20.0, 24.0, 2),
        ]
    )
    pred = pred_table(
        [
            ("v", 0.0, 10.0, 0, 0.9),  # TP on the class-0 instance
            # tIoU 0.9 with the taken class-0 GT, 1.0 with the class-1 GT. DETAD (highest tIoU
            # decides) would say wrong label; the label is right for this multi-label segment.
            ("v", 1.0, 10.0, 0, 0.8),
            ("v", 20.0, 30.0, 2, 0.7),  # same class tIoU 0.4, other class tIoU 1 -> wrong label
            ("v", 23.0, 26.0, 2, 0.6),  # same class 1/6, other class 0.3 -> localization
        ]
    )
    codes = classify_predictions(gt, pred, num_classes=4, protocol="activitynet")
    assert named(codes) == ["true_positive", "double_detection", "wrong_label", "localization"]


def test_true_positives_are_exactly_the_evaluators_matches():
    # The ghost-video and tied-score rows of the generator included; 0.5 is the mAP threshold.
    rng = np.random.default_rng(8)
    for _ in range(100):
        gt, pred = random_detection_case(rng, 3)
        _, match = reference_evaluate(gt, pred, [0.5], 3, "official")
        codes = classify_predictions(gt, pred, 3, protocol="official")
        np.testing.assert_array_equal(codes == 0, match[0] >= 0)


def _loop_categories(gt: pd.DataFrame, pred: pd.DataFrame, matched: np.ndarray, eps: float) -> list[int]:
    """The category rules written out one prediction at a time."""
    out = []
    for i, p in enumerate(pred.itertuples(index=False)):
        same, other = -1.0, -1.0
        for g in gt.itertuples(index=False):
            if g.video_id != p.video_id:
                continue
            inter = max(0.0, min(p.t_end, g.t_end) - max(p.t_start, g.t_start))
            union = (g.t_end - g.t_start) + (p.t_end - p.t_start) - inter
            tiou = inter / (union + eps if eps else union)
            if g[3] == p[3]:
                same = max(same, tiou)
            else:
                other = max(other, tiou)
        if matched[i] >= 0:
            out.append(0)
        elif same >= 0.5:
            out.append(1)
        elif other >= 0.5:
            out.append(2)
        elif same >= 0.1:
            out.append(3)
        elif other >= 0.1:
            out.append(4)
        else:
            out.append(5)
    return out


@pytest.mark.parametrize("protocol", ["official", "activitynet"])
def test_categories_match_a_loop_implementation_on_random_cases(protocol):
    rng = np.random.default_rng(21 if protocol == "official" else 22)
    seen = np.zeros(len(FP_CATEGORIES), dtype=int)
    for case in range(150):
        num_classes = int(rng.integers(1, 5))
        gt, pred = random_detection_case(rng, num_classes)
        _, match = reference_evaluate(gt, pred, [0.5], num_classes, protocol)
        want = _loop_categories(gt, pred, match[0], 1e-4 if protocol == "official" else 0.0)
        got = classify_predictions(gt, pred, num_classes, protocol=protocol)
        assert got.tolist() == want, f"case {case}"
        seen += np.bincount(got, minlength=len(FP_CATEGORIES))
    assert (seen > 20).all(), seen  # every category really occurred


# --------------------------------------------------------------------------------- FN buckets

DURATIONS = {"a": 10.0, "b": 20.0, "c": 10.0}
FN_GT = gt_table(
    [
        ("a", 0.0, 1.0, 0),  # len 1, coverage 0.1, video with 3 instances   -> found
        ("a", 0.0, 4.0, 1),  # len 4, coverage 0.4                           -> missed (rank 12+)
        ("a", 0.0, 9.0, 2),  # len 9, coverage 0.9                           -> missed (rank 12+)
        ("b", 0.0, 6.0, 0),  # len 6, coverage 0.3, video with 2 instances   -> missed (rank 12+)
        ("b", 0.0, 20.0, 3),  # len 20, coverage 1.0                          -> found
    ]
    + [("c", s, s + 2.0, 4 + k) for k, s in enumerate([0.0, 2.0, 4.0, 6.0, 8.0, 1.0])]
    # c: six instances of length 2 (coverage 0.2); the first three found, the rest never predicted
)
FN_PRED = pred_table(
    [(*FN_GT.iloc[i].tolist(), 0.9) for i in (0, 4, 5, 6, 7)]  # 5 hits at the top
    + [("a", 5.0, 5.5, 9, 0.5)] * 6  # 6 background predictions: ranks 6..11 = G
    + [(*FN_GT.iloc[i].tolist(), 0.1) for i in (1, 2, 3)]  # would match, but rank 12..14 > G
)


def _bucket_counts(fn: dict, key: str) -> list[tuple[str, int, int]]:
    return [(b["label"], b["count"], b["false_negatives"]) for b in fn[key]["buckets"]]


def test_false_negative_buckets_on_a_hand_made_case():
    fn = false_negative_rates(FN_GT, FN_PRED, DURATIONS, num_classes=10, protocol="activitynet")
    assert fn["top_k"] == 11
    assert fn["overall"] == {"count": 11, "false_negatives": 6, "rate": pytest.approx(6 / 11)}
    assert _bucket_counts(fn, "coverage") == [
        ("[0, 0.2]", 7, 3),  # a0 and the six c instances (0.2 sits in the closed upper edge)
        ("(0.2, 0.4]", 2, 2),
        ("(0.4, 0.6]", 0, 0),
        ("(0.6, 0.8]", 0, 0),
        ("(0.8, 1]", 2, 1),
    ]
    assert _bucket_counts(fn, "length") == [
        ("[0, 3]", 7, 3),
        ("(3, 5]", 1, 1),
        ("(5, 8]", 1, 1),
        ("(8, 9]", 1, 1),  # length 9 exactly: right-closed
        ("(9, inf)", 1, 0),
    ]
    assert _bucket_counts(fn, "instances") == [
        ("[-1, 2]", 2, 1),
        ("(2, 5]", 3, 2),
        ("(5, 7]", 6, 3),
        ("(7, inf)", 0, 0),
    ]
    rates = [b["rate"] for b in fn["coverage"]["buckets"]]
    assert rates == [pytest.approx(3 / 7), 1.0, None, None, 0.5]
    assert fn["length"]["edges"] == [0.0, 3.0, 5.0, 8.0, 9.0, None]


def test_a_larger_prediction_budget_finds_the_low_ranked_matches():
    fn = false_negative_rates(FN_GT, FN_PRED, DURATIONS, 10, protocol="activitynet", fn_multiple=2)
    assert fn["top_k"] == 22
    assert fn["overall"]["false_negatives"] == 3  # only the three never-predicted c instances
    assert _bucket_counts(fn, "instances")[2] == ("(5, 7]", 6, 3)


def test_missing_or_bad_durations_are_refused():
    with pytest.raises(ValueError, match="no duration for 1 ground-truth video"):
        false_negative_rates(FN_GT, FN_PRED, {"a": 10.0, "b": 20.0}, 10)
    with pytest.raises(ValueError, match="coverage value"):
        false_negative_rates(FN_GT, FN_PRED, DURATIONS | {"b": 5.0}, 10)  # 20 s instance in 5 s video


# --------------------------------------------------------------------------------- analyze()


def test_analyze_writes_json_and_charts_for_both_levels(tmp_path):
    # 9 (nodding) and 10 (shaking head) are both head: a wrong label at action level, a true
    # positive at body level.
    gt = gt_table([("a", 0.0, 4.0, 9), ("b", 2.0, 8.0, 24)])
    pred = pred_table([("a", 0.0, 4.0, 10, 0.9), ("b", 2.0, 8.0, 24, 0.8)])
    results = {
        level: analyze(gt, pred, DURATIONS, tmp_path / "out", level, multiples=(1, 2))
        for level in ("action", "body")
    }
    assert results["action"]["false_positives"]["profiles"][0]["counts"]["wrong_label"] == 1
    assert results["body"]["false_positives"]["profiles"][0]["counts"]["true_positive"] == 2
    assert results["action"]["false_negatives"]["overall"]["false_negatives"] == 1
    assert results["body"]["false_negatives"]["overall"]["false_negatives"] == 0
    for level, result in results.items():
        written = json.loads((tmp_path / "out" / f"{level}_error_analysis.json").read_text())
        assert written == json.loads(json.dumps(result))
        assert written["level"] == level and written["num_ground_truth"] == 2
        for name in ("fp_profile", "fn_rates"):
            png = (tmp_path / "out" / result["files"][name]).read_bytes()
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_analyze_with_no_predictions(tmp_path):
    gt = gt_table([("a", 0.0, 4.0, 9)])
    result = analyze(gt, pred_table([]), DURATIONS, tmp_path, "action", multiples=(1,))
    assert result["false_positives"]["profiles"][0]["num_predictions"] == 0
    assert result["false_positives"]["profiles"][0]["fractions"]["background"] is None
    assert result["false_negatives"]["overall"] == {"count": 1, "false_negatives": 1, "rate": 1.0}


def test_chunked_overlap_computation_gives_the_same_categories(monkeypatch):
    import detection.evaluation.error_analysis as module

    rng = np.random.default_rng(30)
    cases = [random_detection_case(rng, 3) for _ in range(40)]
    whole = [classify_predictions(gt, pred, 3) for gt, pred in cases]
    monkeypatch.setattr(module, "_MAX_PAIRS", 5)  # a few predictions per chunk
    for (gt, pred), want in zip(cases, whole, strict=True):
        np.testing.assert_array_equal(classify_predictions(gt, pred, 3), want)
