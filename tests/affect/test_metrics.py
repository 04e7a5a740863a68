"""Emotion metrics against values computed by hand, and the confusion-matrix figure."""

from __future__ import annotations

import pytest
from PIL import Image

from affect.metrics import emotion_metrics, format_metrics, plot_confusion

LABELS = ("calm", "stressed", "engaged")


def test_metrics_on_a_hand_computed_case():
    truth = [0, 0, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 2, 0]
    metrics = emotion_metrics(truth, predicted, LABELS)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_class_recall"] == pytest.approx({"calm": 0.5, "stressed": 1.0, "engaged": 0.5})
    assert metrics["uar"] == pytest.approx(2 / 3)
    # F1: calm P 1/2 R 1/2 -> 1/2; stressed P 2/3 R 1 -> 4/5; engaged P 1 R 1/2 -> 2/3
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics["support"] == {"calm": 2, "stressed": 2, "engaged": 2}
    assert metrics["chance"] == pytest.approx({"uar": 1 / 3, "accuracy": 1 / 3})


def test_a_label_absent_from_the_truth_is_not_scored():
    metrics = emotion_metrics([0, 0, 0, 1], [0, 0, 2, 1], LABELS)
    assert metrics["per_class_recall"]["engaged"] is None
    assert metrics["uar"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert metrics["chance"]["accuracy"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="as many predictions"):
        emotion_metrics([0, 1], [0], LABELS)


def test_printed_table_and_figure(tmp_path):
    metrics = emotion_metrics([0, 1, 2, 2], [0, 1, 2, 1], LABELS)
    text = format_metrics(metrics, LABELS)
    assert "| engaged | 0 | 1 | 1 | 0.500 |" in text and "| 0.750 |" in text
    path = plot_confusion(metrics["confusion_matrix"], LABELS, tmp_path / "cm.png", "test")
    with Image.open(path) as image:
        assert image.size[0] > 200 and image.size[1] > 200
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically
