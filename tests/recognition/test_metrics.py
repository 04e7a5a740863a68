import numpy as np
import pytest

from recognition.metrics import (
    f1_mean,
    format_row,
    metrics_from_scores,
    ranked_predictions,
    recognition_metrics,
    to_body,
    topk_accuracy,
)

LABELS = np.array([0, 5, 9, 11, 11, 48])
TOP1 = np.array([0, 9, 9, 12, 11, 49])


def test_hand_computed_case():
    m = recognition_metrics(LABELS, TOP1)
    # action: 3 of 6 right. Classes in truth or prediction: 0, 5, 9, 11, 12, 48, 49 with
    # F1 1, 0, 2/3 (P 1/2, R 1), 2/3 (P 1, R 1/2), 0, 0, 0 -> macro 1/3
    assert m["action_top1"] == pytest.approx(50.0)
    assert m["action_f1_micro"] == pytest.approx(50.0)
    assert m["action_f1_macro"] == pytest.approx(100 / 3)
    # every mistake stays inside the true body group -> body is perfect
    assert m["body_top1"] == pytest.approx(100.0)
    assert m["body_f1_macro"] == pytest.approx(100.0) and m["body_f1_micro"] == pytest.approx(100.0)
    assert m["f1_mean"] == pytest.approx((100 / 3 + 100 + 50 + 100) / 4)
    assert m["action_top5"] is None and m["body_top5"] is None  # one guess per clip


def test_body_errors_count_at_body_level():
    # 0 -> predicted 5 (body 0 -> 1), 24 -> 24, 32 -> 40 (body 4 -> 5), 50 -> 51
    m = recognition_metrics([0, 24, 32, 50], [5, 24, 40, 51])
    assert m["action_top1"] == pytest.approx(25.0)
    assert m["body_top1"] == pytest.approx(50.0)
    # body classes 0, 1, 3, 4, 5, 6: F1 0, 0, 1, 0, 0, 1 -> macro 2/6
    assert m["body_f1_macro"] == pytest.approx(100 / 3)
    # action classes 0, 5, 24, 32, 40, 50, 51: only 24 has F1 1 -> 1/7
    assert m["action_f1_macro"] == pytest.approx(100 / 7)


def test_explicit_body_column_is_scored_instead_of_the_derived_one():
    ranked = np.array([[5], [24], [40], [51]])
    body = np.array([[0], [3], [4], [6]])  # a separate body head that got all four right
    m = recognition_metrics([0, 24, 32, 50], ranked, body)
    assert m["body_top1"] == pytest.approx(100.0)
    assert m["action_top1"] == pytest.approx(25.0)


def test_topk_from_ranked_lists():
    ranked = np.array([[1, 2, 3, 4, 5], [7, 8, 9, 10, 11], [3, 0, 1, 2, 4]])
    labels = np.array([4, 12, 3])
    assert topk_accuracy(ranked, labels, 1) == pytest.approx(100 / 3)
    assert topk_accuracy(ranked, labels, 5) == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="top-5 needs at least 5"):
        topk_accuracy(ranked[:, :3], labels, 5)


def test_ranking_from_scores_breaks_ties_by_lower_index_and_feeds_top5():
    scores = np.zeros((2, 52))
    scores[0, [7, 3, 40]] = [0.5, 0.5, 0.9]
    scores[1, 51] = 1.0
    np.testing.assert_array_equal(ranked_predictions(scores, 5), [[40, 3, 7, 0, 1], [51, 0, 1, 2, 3]])
    m = metrics_from_scores(scores, [7, 2])
    assert m["action_top1"] == 0.0 and m["action_top5"] == pytest.approx(100.0)
    # body top-1 of the action top-1: 40 -> 5 (true 7 -> 1), 51 -> 6 (true 2 -> 0)
    assert m["body_top1"] == 0.0


def test_published_manet_row_recomputes():
    # MA-52 test, MANet: action macro 49.22, body macro 72.87, action micro 61.33, body micro 78.95
    assert round(f1_mean(49.22, 72.87, 61.33, 78.95), 2) == 65.59
    assert f1_mean(49.22, 72.87, 61.33, 78.95) == pytest.approx((72.87 + 78.95 + 49.22 + 61.33) / 4)


def test_to_body_and_table():
    np.testing.assert_array_equal(to_body([0, 4, 5, 23, 24, 37, 38, 51]), [0, 0, 1, 2, 3, 4, 5, 6])
    with pytest.raises(ValueError):
        to_body([52])
    text = format_row({"action_top1": 61.333, "action_top5": None, "f1_mean": 65.5925})
    assert text.splitlines()[1].split() == ["61.33", "n/a", "65.59"]
