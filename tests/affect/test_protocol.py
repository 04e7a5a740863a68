"""Protocols: subject-disjoint folds, every video scored once, and the shuffled-label control."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from affect.dataset import EmotionDataset, EmotionVideo, load_emotion_dataset
from affect.features import FeatureBlock
from affect.heads import SklearnHead
from affect.protocol import Fold, check_subject_disjoint, make_folds, run_folds
from detection.data.annotations import VideoAnnotation


def made_up(subjects: int = 8, per_subject: int = 6) -> EmotionDataset:
    videos = []
    for s in range(subjects):
        split = "train" if s < subjects // 2 else "test"
        for k in range(per_subject):
            video_id = f"s{s}v{k}"
            annotation = VideoAnnotation(video_id, 30.0, 300, [])
            videos.append(EmotionVideo(video_id, f"S{s}", split, k % 3, None, len(videos) + 2, annotation))
    return EmotionDataset(Path("made_up"), ("a", "b", "c"), videos)


def test_cross_validation_folds_hold_out_whole_subjects_and_cover_every_video():
    dataset = made_up()
    folds = make_folds(dataset, "cv", ["train"], "test", folds=4, seed=0)
    assert len(folds) == 4
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(dataset.videos)))
    for fold in folds:
        train_subjects = {dataset.videos[i].subject_id for i in fold.train}
        assert not train_subjects & {dataset.videos[i].subject_id for i in fold.test}


def test_holdout_uses_the_configured_splits(tiny_emotion_root):
    dataset = load_emotion_dataset(tiny_emotion_root)
    (fold,) = make_folds(dataset, "holdout", ["train", "val"], "test", folds=5, seed=0)
    assert {dataset.videos[i].split for i in fold.train} == {"train", "val"}
    assert {dataset.videos[i].split for i in fold.test} == {"test"} and len(fold.test) == 6


def test_bad_protocols_are_clear_errors():
    dataset = made_up()
    with pytest.raises(ValueError, match="eval split 'val' \\(0 found\\)"):
        make_folds(dataset, "holdout", ["train"], "val", 5, 0)
    with pytest.raises(ValueError, match="needs at least 9 subjects"):
        make_folds(dataset, "cv", ["train"], "test", 9, 0)
    with pytest.raises(ValueError, match="holdout or cv"):
        make_folds(dataset, "loso", ["train"], "test", 5, 0)
    leaky = Fold("leaky", np.array([0, 1]), np.array([2]))  # three videos of subject S0
    with pytest.raises(ValueError, match="S0"):
        check_subject_disjoint(dataset, [leaky])


def test_run_folds_learns_and_the_shuffled_control_does_not():
    dataset = made_up(subjects=20)
    labels = np.array([v.label for v in dataset.videos])
    rng = np.random.default_rng(0)
    pooled = np.eye(3)[labels] * 2.0 + rng.normal(0, 0.5, (len(labels), 3))  # informative features
    blocks = {"x": FeatureBlock("x", ["a", "b", "c"], pooled.astype(np.float32))}
    folds = make_folds(dataset, "cv", [], "", 5, seed=0)

    def make_head():
        return SklearnHead(LogisticRegression())

    result = run_folds(make_head, blocks, labels, 3, folds)
    assert (result.predicted == labels[result.indices]).mean() > 0.9
    assert result.probabilities.shape == (len(labels), 3) and result.parameters == 3 * 3 + 3
    control = run_folds(make_head, blocks, labels, 3, folds, shuffle_seed=0)
    assert (control.predicted == labels[control.indices]).mean() < 0.6
