"""Heads: probabilities over the full label set, sklearn estimators from config, and the
timeline transformer learning an order-free rule and a fused feature."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from affect.features import FeatureBlock
from affect.heads import SklearnHead, full_probabilities
from affect.sequence_head import TransformerHead, pad_tokens

NODDING, SHAKING_LEGS = 9, 24


def test_full_probabilities_put_unseen_labels_at_zero():
    out = full_probabilities(np.array([[0.2, 0.8]]), np.array([0, 2]), 4)
    assert out.tolist() == [[0.2, 0.0, 0.8, 0.0]]


@pytest.mark.parametrize(
    "estimator", [LogisticRegression(), GradientBoostingClassifier(n_estimators=20, random_state=0)]
)
def test_sklearn_head_on_separable_blocks_with_a_label_missing_from_training(estimator):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 30)
    a = FeatureBlock("a", ["a0"], (labels[:, None] * 3.0 + rng.normal(0, 0.3, (60, 1))).astype(np.float32))
    b = FeatureBlock(
        "b", ["b0", "b1"], rng.normal(0, 1, (60, 2)).astype(np.float32) * 1000
    )  # noise, big scale
    head = SklearnHead(estimator)
    head.fit({"a": a, "b": b}, labels, num_labels=3)
    probabilities = head.predict_proba({"a": a, "b": b})
    assert probabilities.shape == (60, 3) and np.allclose(probabilities[:, 2], 0)
    assert (probabilities.argmax(axis=1) == labels).mean() > 0.95
    assert head.num_parameters() > 0
    with pytest.raises(TypeError, match="scikit-learn classifier"):
        SklearnHead(object())


def sequences(rng: np.random.Generator, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Label 1 when the timeline contains a nod, at a random place among distractors."""
    out, labels = [], []
    for k in range(n):
        length = int(rng.integers(1, 5))
        classes = rng.choice([SHAKING_LEGS, 41, 17], size=length)
        label = k % 2
        if label:
            classes[rng.integers(length)] = NODDING
        starts = np.sort(rng.uniform(0, 0.8, length))
        tokens = np.stack(
            [classes, np.zeros(length), starts, starts + 0.1, np.full(length, 0.5), np.ones(length)], 1
        )
        out.append(tokens.astype(np.float32))
        labels.append(label)
    return out, np.array(labels)


def test_transformer_learns_whether_a_nod_occurs():
    rng = np.random.default_rng(0)
    train_seq, train_y = sequences(rng, 80)
    test_seq, test_y = sequences(rng, 40)

    def block(seqs):
        return {"microaction": FeatureBlock("microaction", [], np.zeros((len(seqs), 0), np.float32), seqs)}

    head = TransformerHead(epochs=40, seed=0)
    head.fit(block(train_seq), train_y, num_labels=2)
    accuracy = (head.predict_proba(block(test_seq)).argmax(axis=1) == test_y).mean()
    assert accuracy > 0.9, accuracy
    assert head.num_parameters() > 1000


def test_transformer_fuses_other_blocks_and_needs_a_sequence():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 40)
    empty = [np.zeros((0, 6), np.float32)] * 80  # the timeline says nothing here
    blocks = {
        "microaction": FeatureBlock("microaction", [], np.zeros((80, 0), np.float32), empty),
        "rgb": FeatureBlock("rgb", ["r"], (labels[:, None] + rng.normal(0, 0.2, (80, 1))).astype(np.float32)),
    }
    head = TransformerHead(epochs=30, seed=0)
    head.fit(blocks, labels, 2)
    assert (head.predict_proba(blocks).argmax(axis=1) == labels).mean() > 0.9
    with pytest.raises(ValueError, match="emotion_head=transformer reads the 'microaction' timeline"):
        TransformerHead().fit({"rgb": blocks["rgb"]}, labels, 2)


def test_pad_tokens_masks_padding():
    tokens, mask = pad_tokens([np.ones((2, 6), np.float32), np.zeros((0, 6), np.float32)])
    assert tokens.shape == (2, 2, 6) and mask.tolist() == [[True, True], [False, False]]
