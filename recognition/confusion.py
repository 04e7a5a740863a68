"""The per-class confusion figure of a recognition run: 52 actions and 7 body groups.

Rows are true classes, columns predicted top-1 classes, each row normalised to the fraction of
that class's clips (a class absent from the scored split is an empty row), so rare classes are
as visible as frequent ones. Ticks are the taxonomy's class codes; body-group borders are drawn
on the action panel so confusions inside a body group read as blocks on the diagonal.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from perception.atomic import atomic_path  # noqa: E402
from perception.taxonomy import ACTION_TO_BODY, ACTIONS, BODY_GROUPS, NUM_ACTIONS, NUM_BODY_GROUPS  # noqa: E402


def row_normalised(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) confusion counts divided by each row's total (0 for empty rows)."""
    counts = confusion_matrix(labels, predicted, labels=np.arange(classes)).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def plot_confusion(labels: np.ndarray, predicted: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Write the two-panel confusion PNG (actions, body groups) atomically; returns ``path``."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    bodies = np.asarray(ACTION_TO_BODY)
    panels = [
        (row_normalised(labels, predicted, NUM_ACTIONS), [a.code for a in ACTIONS], "action"),
        (
            row_normalised(bodies[labels], bodies[predicted], NUM_BODY_GROUPS),
            [b.name for b in BODY_GROUPS],
            "body",
        ),
    ]
    figure, axes = plt.subplots(1, 2, figsize=(17, 8.5), gridspec_kw={"width_ratios": [3, 1.3]})
    for axis, (matrix, names, level) in zip(axes, panels, strict=True):
        image = axis.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
        axis.set_xticks(range(len(names)), names, rotation=90, fontsize=5 if level == "action" else 8)
        axis.set_yticks(range(len(names)), names, fontsize=5 if level == "action" else 8)
        axis.set_xlabel(f"predicted {level} (top-1)")
        axis.set_ylabel(f"true {level}")
        if level == "action":  # body-group borders
            for edge in np.flatnonzero(np.diff(bodies)) + 0.5:
                axis.axhline(edge, color="0.6", linewidth=0.5)
                axis.axvline(edge, color="0.6", linewidth=0.5)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="fraction of the true class")
    figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return path
