"""task=recognition: the control's training labels, chance rates, the confusion matrix, and a
tiny end-to-end run through experiments/run.py."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from recognition.confusion import row_normalised
from recognition.lists import ClipItem
from recognition.pipeline import chance_rates, shuffled_labels
from recognition.submission import read_submission
from tests.conftest import run_python


def _items(labels):
    return [ClipItem(f"{i:04d}_01_0001.mp4", label, i + 1) for i, label in enumerate(labels)]


def test_control_labels_are_the_same_labels_on_other_clips():
    items = _items([0] * 5 + [7] * 3 + list(range(10, 30)))
    shuffled = shuffled_labels(items, seed=0)
    assert [s.file for s in shuffled] == [i.file for i in items]
    assert Counter(s.label for s in shuffled) == Counter(i.label for i in items)  # frequencies kept
    assert sum(s.label != i.label for s, i in zip(shuffled, items, strict=True)) > len(items) // 2
    assert shuffled == shuffled_labels(items, seed=0) and shuffled != shuffled_labels(items, seed=1)


def test_chance_rates_use_the_training_majority_class():
    rates = chance_rates(_items([3, 3, 3, 5]), np.array([3, 5, 5, 5, 1]))
    assert rates["uniform"] == pytest.approx(100 / 52)
    assert rates["majority_class_index"] == 3 and rates["majority_class"] == pytest.approx(20.0)


def test_confusion_rows_are_fractions_of_each_true_class():
    matrix = row_normalised(np.array([0, 0, 0, 2]), np.array([0, 1, 1, 2]), 3)
    np.testing.assert_allclose(matrix, [[1 / 3, 2 / 3, 0], [0, 0, 0], [0, 0, 1]])


@pytest.mark.slow
def test_tiny_recognition_run_writes_every_output(tmp_path):
    run_dir = tmp_path / "run"
    result = run_python(
        "experiments/run.py",
        "task=recognition",
        "model=dualnet",
        "logger=none",
        f"data.root={tmp_path / 'data'}",
        "data.synthetic.num_train=4",
        "data.synthetic.num_val=0",
        "data.synthetic.num_test=3",
        "data.synthetic.size=48",
        "+data.synthetic.min_per_class=0",
        "data.synthetic.workers=1",
        "model.input_size=32",
        "trainer.epochs=1",
        "trainer.batch_size=2",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_clips"] == 3 and metrics["split"] == "test"
    for report in (metrics, metrics["control"]):
        assert 0 <= report["action_top1"] <= report["action_top5"] <= 100
        assert report["f1_mean"] == pytest.approx(
            (
                report["action_f1_macro"]
                + report["body_f1_macro"]
                + report["action_f1_micro"]
                + report["body_f1_micro"]
            )
            / 4
        )
    assert metrics["chance"]["uniform"] == pytest.approx(100 / 52)
    assert metrics["skeleton_source"] == "groundtruth (oracle)"  # entity boxes from the generator
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "control" / "checkpoint.pt").is_file()
    test_files = sorted(
        line.split()[0] for line in (tmp_path / "data" / "test_labels.txt").read_text().splitlines()
    )
    for fmt in ("mac2024", "mac2025"):
        submission = read_submission(run_dir / f"prediction_{fmt}.zip")
        assert submission.format == fmt and sorted(submission.ids) == test_files
    with Image.open(run_dir / "confusion.png") as image:
        assert image.format == "PNG" and image.size[0] > 500


@pytest.mark.slow
def test_real_layout_scores_val_and_writes_test_submissions(tmp_path):
    """``data=ma52`` (the real release's layout, test labels hidden as 0): the val split is
    scored and both challenge submissions are written for every test clip."""
    from perception.synthetic.ma52 import SyntheticMA52Config, generate_ma52

    root = tmp_path / "ma52"
    config = SyntheticMA52Config(
        root=root, num_train=4, num_val=3, num_test=3, size=48, min_per_class=0, workers=1
    )
    generate_ma52(config, progress=False)
    (root / "test_labels.txt").unlink()  # the real release has no test labels at all
    run_dir = tmp_path / "run"
    result = run_python(
        "experiments/run.py",
        "task=recognition",
        "data=ma52",
        "model=manet_tiny",
        "logger=none",
        f"data.root={root}",
        "model.input_size=32",
        "trainer.epochs=1",
        "trainer.batch_size=2",
        "trainer.workers=0",
        "task.control=false",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["num_clips"] == 3 and "control" not in metrics
    assert metrics["skeleton_source"] is None  # MANet sees pixels only
    val_files = sorted(line.split()[0] for line in (root / "val_list_videos.txt").read_text().splitlines())
    test_files = sorted(line.split()[0] for line in (root / "test_list_videos.txt").read_text().splitlines())
    assert sorted(read_submission(run_dir / "prediction_mac2025.zip").ids) == val_files
    for fmt in ("mac2024", "mac2025"):
        submission = read_submission(run_dir / f"submission_test_{fmt}.zip")
        assert submission.format == fmt and sorted(submission.ids) == test_files
