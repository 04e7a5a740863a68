"""Emotion heads on pooled features: any scikit-learn classifier behind one small interface.

A head is built fresh for every fold (its Hydra config is ``_partial_``), learns from a
fold's feature blocks and labels, and returns class probabilities over the dataset's full
label set, also when a label is missing from a fold's training part (its column is 0), so
folds and the metrics always agree on what column k means.

``SklearnHead`` concatenates the blocks' pooled vectors (early fusion) and standardises them
before the estimator: blocks live on very different scales (counts, seconds, backbone
activations), and both logistic regression's penalty and the sequence head's fusion assume
comparable units. The estimator (``configs/emotion_head/logreg.yaml``: logistic regression,
``gboost.yaml``: gradient boosting) is any scikit-learn classifier given by ``_target_``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from affect.features import Blocks, pooled_matrix


class Head(Protocol):
    def fit(self, blocks: Blocks, labels: np.ndarray, num_labels: int) -> None: ...

    def predict_proba(self, blocks: Blocks) -> np.ndarray: ...

    def num_parameters(self) -> int: ...


def full_probabilities(probabilities: np.ndarray, seen: np.ndarray, num_labels: int) -> np.ndarray:
    """Columns for the labels a model saw in training, spread into all ``num_labels``."""
    out = np.zeros((len(probabilities), num_labels), dtype=np.float64)
    out[:, np.asarray(seen, dtype=np.int64)] = probabilities
    return out


class SklearnHead:
    """Standardised, concatenated pooled features -> a scikit-learn classifier."""

    def __init__(self, estimator: Any) -> None:
        if not hasattr(estimator, "fit") or not hasattr(estimator, "predict_proba"):
            raise TypeError(
                f"the head's estimator must be a scikit-learn classifier, got {type(estimator).__name__}"
            )
        self.estimator = estimator
        self.model: Pipeline | None = None
        self.num_labels = 0

    def fit(self, blocks: Blocks, labels: np.ndarray, num_labels: int) -> None:
        features = pooled_matrix(blocks)
        if features.shape[1] == 0:
            raise ValueError("the feature set gave no pooled features to the head")
        self.num_labels = num_labels
        self.model = make_pipeline(StandardScaler(), clone(self.estimator))
        self.model.fit(features, labels)

    def predict_proba(self, blocks: Blocks) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the head before predicting")
        probabilities = self.model.predict_proba(pooled_matrix(blocks))
        return full_probabilities(probabilities, self.model.classes_, self.num_labels)

    def num_parameters(self) -> int:
        """Learned numbers: coefficients and intercepts, or tree nodes for tree ensembles."""
        if self.model is None:
            return 0
        estimator = self.model[-1]
        if hasattr(estimator, "coef_"):
            return int(estimator.coef_.size + np.size(getattr(estimator, "intercept_", 0)))
        trees = getattr(estimator, "estimators_", None)
        if trees is not None:
            return int(sum(tree.tree_.node_count for tree in np.ravel(trees)))
        return 0
