"""The synthetic emotion set: latent states shape micro-action statistics (and nothing about
appearance), overlap enough not to be trivially separable, and leave MMAD datasets untouched."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from perception.synthetic import SyntheticConfig
from perception.synthetic import generator as gen
from perception.synthetic.affective import STATE_NAMES, STATES, AffectConfig
from perception.taxonomy import NUM_ACTIONS

SELF_TOUCH = (32, 41, 43)  # touching neck, face, nose
NODDING, SHAKING_LEGS = 9, 24


def emotion_plan(strength: float = 1.0, train: int = 240, test: int = 240) -> list[gen.VideoPlan]:
    config = SyntheticConfig(
        num_train=train,
        num_val=0,
        num_test=test,
        videos_per_subject=6,
        affect=AffectConfig(strength=strength),
    )
    return gen.plan(config)


@pytest.fixture(scope="module")
def plans() -> list[gen.VideoPlan]:
    return emotion_plan()


def class_counts(videos: list[gen.VideoPlan]) -> np.ndarray:
    counts = np.zeros((len(videos), NUM_ACTIONS))
    for row, video in enumerate(videos):
        for instance in video.timeline.instances:
            counts[row, instance.cls] += 1
    return counts


def by_state(plans, state: str) -> list[gen.VideoPlan]:
    return [p for p in plans if p.affect.label == state]


def test_every_subject_shows_every_state_equally_often(plans):
    per_subject: dict[int, Counter] = {}
    for video in plans:
        per_subject.setdefault(video.subject, Counter())[video.affect.label] += 1
    for subject, counts in per_subject.items():
        assert set(counts) == set(STATE_NAMES), subject  # 6 videos per subject, 3 states
        assert max(counts.values()) - min(counts.values()) <= 1


def test_splits_are_subject_disjoint(plans):
    train = {p.subject for p in plans if p.split == "train"}
    test = {p.subject for p in plans if p.split == "test"}
    assert train and test and not train & test


def test_states_shape_which_and_how_many_actions(plans):
    counts = {state: class_counts(by_state(plans, state)) for state in STATE_NAMES}
    per_video = {state: c.sum(axis=1).mean() for state, c in counts.items()}
    assert per_video["calm"] < per_video["engaged"] < per_video["stressed"]
    touch = {state: c[:, SELF_TOUCH].sum(axis=1).mean() for state, c in counts.items()}
    assert touch["stressed"] > 3 * touch["calm"] and touch["stressed"] > 3 * touch["engaged"]
    nods = {state: c[:, NODDING].mean() for state, c in counts.items()}
    assert nods["engaged"] > 2 * nods["stressed"] and nods["engaged"] > nods["calm"]
    legs = {state: c[:, SHAKING_LEGS].mean() for state, c in counts.items()}
    assert legs["stressed"] > 2 * legs["calm"]


def held_out_accuracy(plans) -> float:
    """Logistic regression on ground-truth class counts, trained on train, scored on test."""
    x = class_counts(plans)
    y = np.array([p.affect.state for p in plans])
    train = np.array([p.split == "train" for p in plans])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=3000)).fit(x[train], y[train])
    return float((model.predict(x[~train]) == y[~train]).mean())


def test_states_overlap_so_the_task_is_learnable_but_not_trivial(plans):
    accuracy = held_out_accuracy(plans)
    assert 0.55 < accuracy < 0.92, accuracy  # chance is 1/3


def test_zero_strength_makes_the_labels_carry_no_signal():
    accuracy = held_out_accuracy(emotion_plan(strength=0.0, train=300, test=300))
    assert accuracy < 0.45, accuracy


def test_state_never_reaches_appearance():
    """Appearance, camera and background are drawn from the subject's own stream: two configs
    that differ only in affect give the same subject the same look."""
    plain = SyntheticConfig(size=64)
    with_affect = SyntheticConfig(size=64, affect=AffectConfig())
    a, _, background_a = gen.subject_appearance(plain, 3)
    b, _, background_b = gen.subject_appearance(with_affect, 3)
    assert vars(a).keys() == vars(b).keys()
    assert all(np.array_equal(vars(a)[key], vars(b)[key]) for key in vars(a))
    assert np.array_equal(background_a, background_b)


def test_plans_without_affect_are_unchanged_and_keep_their_hash():
    config = SyntheticConfig(num_train=20, num_val=0, num_test=0)
    assert "affect" not in config.hashed_fields()  # existing MMAD datasets are not regenerated
    assert all(p.affect is None for p in gen.plan(config))
    shaped = SyntheticConfig(num_train=20, num_val=0, num_test=0, affect=AffectConfig(strength=0.0))
    assert shaped.config_hash() != config.config_hash()
    assert shaped.hashed_fields()["affect"]["intensity"] == [0.25, 1.0]


def test_state_tilts_name_real_classes_and_config_is_checked():
    assert [s.name for s in STATES] == list(STATE_NAMES)
    assert all(0 <= cls < NUM_ACTIONS for state in STATES for cls in state.tilts)
    with pytest.raises(ValueError, match="intensity"):
        AffectConfig(intensity=(0.8, 0.2))
    assert SyntheticConfig(affect={"strength": 0.5}).affect == AffectConfig(strength=0.5)


def test_generated_emotion_files(tiny_emotion_root):
    import yaml

    rows = (tiny_emotion_root / "emotion.csv").read_text().splitlines()
    assert rows[0] == "video_id,subject_id,split,label" and len(rows) == 1 + 15
    assert yaml.safe_load((tiny_emotion_root / "labels.yaml").read_text())["labels"] == list(STATE_NAMES)
