"""Evaluation protocols: which videos a head learns from and which it is scored on.

- ``holdout`` (default): fit on ``emotion.fit_splits`` (train and val: no hyper-parameter is
  tuned on val here), score on ``emotion.eval_split`` (test), as a benchmark's protocol.
- ``cv``: leave-subjects-out cross-validation over every video, ignoring the split column:
  ``emotion.folds`` folds, each holding out whole subjects, label-stratified where the
  subjects allow (scikit-learn's ``StratifiedGroupKFold``). Every video is scored once, by
  the head of the fold that held it out; with small sets this uses all of the data.

Either way every fold is checked to be subject-disjoint before anything is fitted, and the
same folds are used for the shuffled-label control: the head trained on training labels
randomly permuted within its fold, which should score chance. A head well above its control
learned from the features, not from the label balance or the protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from affect.dataset import EmotionDataset
from affect.features import Blocks, take
from affect.heads import Head


@dataclass(frozen=True)
class Fold:
    name: str
    train: np.ndarray  # indices into dataset.videos
    test: np.ndarray


def holdout(dataset: EmotionDataset, fit_splits: Sequence[str], eval_split: str) -> list[Fold]:
    train = np.array(dataset.indices(list(fit_splits)), dtype=np.int64)
    test = np.array(dataset.indices([eval_split]), dtype=np.int64)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(
            f"holdout needs videos in fit splits {list(fit_splits)} ({len(train)} found) and in eval split "
            f"{eval_split!r} ({len(test)} found) of {dataset.root / 'emotion.csv'}; or use emotion.protocol=cv"
        )
    return [Fold(eval_split, train, test)]


def leave_subjects_out(dataset: EmotionDataset, folds: int, seed: int) -> list[Fold]:
    subjects = np.array([v.subject_id for v in dataset.videos])
    labels = np.array([v.label for v in dataset.videos])
    if len(set(subjects)) < folds:
        raise ValueError(
            f"emotion.folds={folds} needs at least {folds} subjects; the dataset has {len(set(subjects))}"
        )
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        Fold(f"fold{k}", train, test)
        for k, (train, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, subjects))
    ]


def check_subject_disjoint(dataset: EmotionDataset, folds: Sequence[Fold]) -> None:
    for fold in folds:
        shared = {dataset.videos[i].subject_id for i in fold.train} & {
            dataset.videos[i].subject_id for i in fold.test
        }
        if shared:
            raise ValueError(
                f"{fold.name}: subjects {sorted(shared)[:5]} are on both sides; folds must be subject-disjoint"
            )


def make_folds(
    dataset: EmotionDataset, protocol: str, fit_splits: Sequence[str], eval_split: str, folds: int, seed: int
) -> list[Fold]:
    if protocol == "holdout":
        result = holdout(dataset, fit_splits, eval_split)
    elif protocol == "cv":
        result = leave_subjects_out(dataset, folds, seed)
    else:
        raise ValueError(f"emotion.protocol must be holdout or cv, got {protocol!r}")
    check_subject_disjoint(dataset, result)
    return result


@dataclass
class FoldResult:
    indices: np.ndarray  # scored videos, in fold order
    probabilities: np.ndarray  # (N, K)
    fold_of: list[str]
    parameters: int
    seconds: float

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


def run_folds(
    make_head: Callable[[], Head],
    blocks: Blocks,
    labels: np.ndarray,
    num_labels: int,
    folds: Sequence[Fold],
    shuffle_seed: int | None = None,
) -> FoldResult:
    """Fit a fresh head per fold and predict its held-out videos; with ``shuffle_seed`` the
    training labels are permuted first (the control)."""
    rng = np.random.default_rng(shuffle_seed)
    indices, probabilities, fold_of, parameters, seconds = [], [], [], 0, 0.0
    for fold in folds:
        head = make_head()
        targets = labels[fold.train]
        if shuffle_seed is not None:
            targets = rng.permutation(targets)
        started = time.perf_counter()
        head.fit(take(blocks, fold.train), targets, num_labels)
        seconds += time.perf_counter() - started
        probabilities.append(head.predict_proba(take(blocks, fold.test)))
        indices.append(fold.test)
        fold_of += [fold.name] * len(fold.test)
        parameters = max(parameters, head.num_parameters())
    return FoldResult(np.concatenate(indices), np.concatenate(probabilities), fold_of, parameters, seconds)
