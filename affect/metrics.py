"""Emotion metrics (DESIGN §6): accuracy, macro-F1, unweighted average recall (UAR),
per-class recall and the confusion matrix, plus its figure.

Values are fractions in [0, 1]. Macro-F1 and UAR average over the labels present in the
ground truth being scored: a label with no test video has no recall, and counting it as 0
would punish a model for the split rather than for its predictions. Per-class recall is
null for such a label. Chance, for reading the numbers: UAR 1/K for any guess that ignores
the video, accuracy equal to the majority label's share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, recall_score

from perception.atomic import atomic_path


def emotion_metrics(truth: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict[str, Any]:
    """The metrics of one set of predictions (label indices into ``label_names``)."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if truth.shape != predicted.shape or truth.size == 0:
        raise ValueError(
            f"need as many predictions as labels (and at least one): {truth.shape} vs {predicted.shape}"
        )
    k = len(label_names)
    present = np.unique(truth)
    recalls = recall_score(truth, predicted, labels=np.arange(k), average=None, zero_division=0)
    counts = np.bincount(truth, minlength=k)
    return {
        "accuracy": float((truth == predicted).mean()),
        "macro_f1": float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)),
        "uar": float(recalls[present].mean()),
        "per_class_recall": {
            name: (float(recalls[i]) if counts[i] else None) for i, name in enumerate(label_names)
        },
        "confusion_matrix": confusion_matrix(truth, predicted, labels=np.arange(k)).tolist(),
        "support": {name: int(counts[i]) for i, name in enumerate(label_names)},
        "chance": {"uar": 1.0 / len(present), "accuracy": float(counts.max() / counts.sum())},
    }


def format_metrics(metrics: dict[str, Any], label_names: Sequence[str]) -> str:
    """The printed summary: headline metrics, per-class recall and the confusion matrix."""
    lines = [
        "| accuracy | macro-F1 | UAR | chance UAR |",
        "|---:|---:|---:|---:|",
        f"| {metrics['accuracy']:.3f} | {metrics['macro_f1']:.3f} | {metrics['uar']:.3f} | {metrics['chance']['uar']:.3f} |",
        "",
        "| true \\ predicted | " + " | ".join(label_names) + " | recall |",
        "|---" + "|---:" * (len(label_names) + 1) + "|",
    ]
    for name, row in zip(label_names, metrics["confusion_matrix"], strict=True):
        recall = metrics["per_class_recall"][name]
        lines.append(
            f"| {name} | " + " | ".join(map(str, row)) + f" | {'' if recall is None else f'{recall:.3f}'} |"
        )
    return "\n".join(lines)


def plot_confusion(
    matrix: Sequence[Sequence[int]], label_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Row-normalised confusion matrix (each true label's share of predictions), counts written
    in the cells, so unequal class sizes do not hide a weak class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 1.2 + 0.9 * len(label_names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), layout="constrained")
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(
            j, i, f"{int(count)}", ha="center", va="center", color="white" if shares[i, j] > 0.6 else "black"
        )
    ticks = np.arange(len(label_names))
    ax.set_xticks(ticks, label_names, rotation=30, ha="right")
    ax.set_yticks(ticks, label_names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, label="share of the true label", shrink=0.8)
    path = Path(path)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png", dpi=120)
    plt.close(fig)
    return path
