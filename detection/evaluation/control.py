"""The permuted-label control: what right timing with no class knowledge scores.

Every learned result of the platform stands beside a control. For detection it is the same
predictions with their class labels randomly permuted among the classes present in the ground
truth (a derangement: every class moves), scored by the same mAP. Learning is real only when
the true mAP is well above it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detection.evaluation.metrics import evaluate_detection


def permuted_label_control(gt: pd.DataFrame, predictions: pd.DataFrame, seed: int, protocol: str) -> float:
    """Action-level Avg mAP (%) of ``predictions`` after a seeded derangement of their labels."""
    rng = np.random.default_rng(seed)
    present = np.unique(gt["class"].to_numpy())
    permutation = np.arange(max(int(present.max()), int(predictions["class"].to_numpy().max(initial=0))) + 1)
    shuffled = rng.permutation(present)
    while len(present) > 1 and np.any(shuffled == present):  # a derangement: every class moves
        shuffled = rng.permutation(present)
    permutation[present] = shuffled
    permuted = predictions.copy()
    permuted["class"] = permutation[permuted["class"].to_numpy()]
    return evaluate_detection(gt, permuted, protocol=protocol)["action"]["avg"]
