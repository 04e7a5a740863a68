"""The permuted-label control: what right timing with no class knowledge scores.

Every learned result of the platform stands beside a control. For detection it is the same
predictions with their class labels randomly permuted among the classes present in the ground
truth (a derangement: every class moves), scored by the same mAP. Learning is real only when
the true mAP is well above it.

One derangement is a noisy estimate: which frequent class lands on which decides much of the
score, and on the synthetic default two derangements of the same predictions differ by about
0.6 action Avg (sample std over 50). A training run records the one drawn with its seed (cheap,
and comparable across all runs so far); ``permuted_label_controls`` draws many, for a steadier
control when one figure is judged against it (``python -m detection.evaluate --control N``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from detection.evaluation.metrics import evaluate_level

CONTROL_DERANGEMENTS = 50  # draws behind the many-derangement control a run records beside its own


def derangement(present: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of the class ids ``present`` in which no class keeps its place."""
    shuffled = rng.permutation(present)
    while len(present) > 1 and np.any(shuffled == present):
        shuffled = rng.permutation(present)
    return shuffled


def permuted_label_control(gt: pd.DataFrame, predictions: pd.DataFrame, seed: int, protocol: str) -> float:
    """Action-level Avg mAP (%) of ``predictions`` after a seeded derangement of their labels."""
    rng = np.random.default_rng(seed)
    present = np.unique(gt["class"].to_numpy())
    permutation = np.arange(max(int(present.max()), int(predictions["class"].to_numpy().max(initial=0))) + 1)
    permutation[present] = derangement(present, rng)
    permuted = predictions.copy()
    permuted["class"] = permutation[permuted["class"].to_numpy()]
    return evaluate_level(gt, permuted, "action", protocol)["avg"]  # the body level is never used


def permuted_label_controls(
    gt: pd.DataFrame, predictions: pd.DataFrame, seeds: Iterable[int], protocol: str
) -> list[float]:
    """The control once per seed (seed ``s`` gives exactly ``permuted_label_control(..., s, ...)``,
    so a run's recorded control is one of these draws)."""
    return [permuted_label_control(gt, predictions, seed, protocol) for seed in seeds]


def control_spread(draws: Sequence[float]) -> tuple[float, float]:
    """(mean, sample std) of the control's draws: the figures a run records and the CLI prints."""
    return float(np.mean(draws)), float(np.std(draws, ddof=1))
