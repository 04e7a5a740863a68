"""MA-52 recognition metrics, computed the way the official code computes them.

- action top-1 / top-5: the true action among the first 1 / 5 ranked predictions;
- body top-1: the body group of the *action top-1* against the true body group (the
  official MANet evaluation derives body predictions from action predictions; a MAC
  submission states its own body column, which :mod:`recognition.evaluate` scores instead);
- F1 macro and micro with ``sklearn.metrics.f1_score`` on the top-1 predictions, at action
  and at body level. scikit-learn's default label set is used, as in the official scripts:
  the macro average runs over classes present in the ground truth *or* the predictions.
  For single-label data micro-F1 equals top-1 accuracy;
- F1_mean = (action macro + body macro + action micro + body micro) / 4.

All values are percentages. Published MANet (MA-52 test): top-1 61.33, top-5 88.83,
body top-1 78.95, F1_mean 65.59 = (49.22 + 72.87 + 61.33 + 78.95) / 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

from perception.taxonomy import ACTION_TO_BODY

METRIC_NAMES = (
    "action_top1",
    "action_top5",
    "body_top1",
    "body_top5",
    "action_f1_macro",
    "action_f1_micro",
    "body_f1_macro",
    "body_f1_micro",
    "f1_mean",
)
_BODY = np.asarray(ACTION_TO_BODY)


def to_body(actions: np.ndarray | Sequence[int]) -> np.ndarray:
    """Body-group indices of action indices (any shape)."""
    actions = np.asarray(actions, dtype=np.int64)
    if actions.size and (actions.min() < 0 or actions.max() >= len(_BODY)):
        raise ValueError(f"action indices must be in 0..{len(_BODY) - 1}")
    return _BODY[actions]


def ranked_predictions(scores: np.ndarray, k: int = 5) -> np.ndarray:
    """(N, k) class indices by descending score; ties go to the lower index (stable sort)."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] < k:
        raise ValueError(f"scores must be (N, C>={k}), got shape {scores.shape}")
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def topk_accuracy(ranked: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Percentage of rows whose label is among the first ``k`` columns of ``ranked``."""
    ranked, labels = np.asarray(ranked), np.asarray(labels)
    if ranked.ndim != 2 or ranked.shape[1] < k:
        raise ValueError(f"top-{k} needs at least {k} ranked predictions per clip, got {ranked.shape}")
    if len(labels) == 0:
        raise ValueError("no clips to score")
    return 100.0 * float((ranked[:, :k] == labels[:, None]).any(axis=1).mean())


def f1_mean(action_macro: float, body_macro: float, action_micro: float, body_micro: float) -> float:
    """The challenge's single number: the mean of the four F1 values."""
    return (action_macro + body_macro + action_micro + body_micro) / 4.0


def recognition_metrics(
    labels: np.ndarray | Sequence[int],
    action_ranked: np.ndarray,
    body_ranked: np.ndarray | None = None,
) -> dict[str, float | None]:
    """Every metric of the MA-52 table from ranked predictions.

    ``action_ranked`` is (N, k) action indices by descending confidence (k = 1 is enough for
    everything but top-5); ``body_ranked`` (N, k') body indices, or None to take the body
    group of the action top-1 (official). Metrics that the inputs cannot give (top-5 from a
    single prediction per clip) are None, never a guess.
    """
    labels = np.asarray(labels, dtype=np.int64)
    action_ranked = np.asarray(action_ranked, dtype=np.int64)
    if action_ranked.ndim == 1:
        action_ranked = action_ranked[:, None]
    if len(action_ranked) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(action_ranked)} predictions")
    body_labels = to_body(labels)
    if body_ranked is None:
        body_ranked = to_body(action_ranked[:, :1])
    body_ranked = np.asarray(body_ranked, dtype=np.int64)
    if body_ranked.ndim == 1:
        body_ranked = body_ranked[:, None]
    if len(body_ranked) != len(labels):
        raise ValueError(f"{len(labels)} labels but {len(body_ranked)} body predictions")
    action_top1, body_top1 = action_ranked[:, 0], body_ranked[:, 0]
    out: dict[str, float | None] = {
        "action_top1": topk_accuracy(action_ranked, labels, 1),
        "action_top5": topk_accuracy(action_ranked, labels, 5) if action_ranked.shape[1] >= 5 else None,
        "body_top1": topk_accuracy(body_ranked, body_labels, 1),
        "body_top5": topk_accuracy(body_ranked, body_labels, 5) if body_ranked.shape[1] >= 5 else None,
        "action_f1_macro": 100.0 * float(f1_score(labels, action_top1, average="macro")),
        "action_f1_micro": 100.0 * float(f1_score(labels, action_top1, average="micro")),
        "body_f1_macro": 100.0 * float(f1_score(body_labels, body_top1, average="macro")),
        "body_f1_micro": 100.0 * float(f1_score(body_labels, body_top1, average="micro")),
    }
    out["f1_mean"] = f1_mean(
        out["action_f1_macro"], out["body_f1_macro"], out["action_f1_micro"], out["body_f1_micro"]
    )
    return out


def metrics_from_scores(scores: np.ndarray, labels: np.ndarray | Sequence[int]) -> dict[str, float | None]:
    """Metrics of (N, 52) class scores (logits or probabilities), body from the action top-1."""
    return recognition_metrics(labels, ranked_predictions(scores, 5))


def format_row(metrics: dict[str, float | None]) -> str:
    """A two-line table (names, values); unavailable metrics print as 'n/a'."""
    names = [name for name in METRIC_NAMES if name in metrics]
    values = ["n/a" if metrics[n] is None else f"{metrics[n]:.2f}" for n in names]
    widths = [max(len(n), len(v)) for n, v in zip(names, values, strict=True)]
    head = "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
    row = "  ".join(v.rjust(w) for v, w in zip(values, widths, strict=True))
    return f"{head}\n{row}"
