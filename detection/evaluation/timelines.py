"""Micro-action timelines: per-video CSV exports and the ground-truth-vs-prediction figure.

The figure follows the MMAD paper's Figure 8: ground-truth instances on top, the top
predictions below, each prediction coloured by its tIoU with the best-matching ground
truth of the same class (grey when it matches none), so localisation quality is visible
at a glance.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perception.atomic import atomic_path, atomic_write_text  # noqa: E402
from perception.taxonomy import action  # noqa: E402

TIMELINE_COLUMNS = ["video_id", "start", "end", "class", "code", "name", "body", "score"]


def timeline_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """Submission rows -> the human-readable timeline columns, sorted by start time."""
    table = predictions.rename(columns={"t_start": "start", "t_end": "end"}).copy()
    table["code"] = [action(int(c)).code for c in table["class"]]
    table["name"] = [action(int(c)).name for c in table["class"]]
    table["body"] = [action(int(c)).body.name for c in table["class"]]
    return table[TIMELINE_COLUMNS].sort_values(["start", "score"], ascending=[True, False], kind="stable")


def write_timelines(predictions: pd.DataFrame, out_dir: str | Path, video_ids: list[str]) -> list[Path]:
    """One ``<video_id>.csv`` per video (an empty table when nothing was detected)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grouped = dict(tuple(timeline_table(predictions).groupby("video_id", sort=False)))
    written = []
    for video_id in video_ids:
        table = grouped.get(video_id, pd.DataFrame(columns=TIMELINE_COLUMNS))
        path = out_dir / f"{video_id}.csv"
        atomic_write_text(path, table.to_csv(index=False, float_format="%.3f"))
        written.append(path)
    return written


def _tiou(segment: tuple[float, float], others: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(segment[1], others[:, 1]) - np.maximum(segment[0], others[:, 0]), 0, None)
    union = (segment[1] - segment[0]) + (others[:, 1] - others[:, 0]) - inter
    return inter / np.maximum(union, 1e-8)


def plot_timelines(
    gt: pd.DataFrame,
    predictions: pd.DataFrame,
    video_ids: list[str],
    path: str | Path,
    durations: dict[str, float] | None = None,
    top_k: int | None = None,
) -> Path:
    """Draw GT (top) and the top-k predictions (bottom, k = 2 x #GT by default) per video."""
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(
        len(video_ids), 1, figsize=(11, 2.8 * len(video_ids)), squeeze=False, constrained_layout=True
    )
    for ax, video_id in zip(axes[:, 0], video_ids, strict=True):
        truth = gt[gt["video_id"] == video_id].sort_values("t_start")
        preds = predictions[predictions["video_id"] == video_id].sort_values("score", ascending=False)
        preds = preds.head(top_k or max(3, 2 * len(truth)))
        rows = len(truth) + len(preds)
        for row, item in enumerate(truth.itertuples(index=False)):
            y = rows - row
            ax.barh(y, item.t_end - item.t_start, left=item.t_start, color="#d62728", height=0.8)
            ax.text(item.t_start, y, f" {action(int(item[3])).code}", va="center", fontsize=7, color="white")
        for row, item in enumerate(preds.itertuples(index=False)):
            y = len(preds) - row
            same = truth[truth["class"] == item[3]][["t_start", "t_end"]].to_numpy(dtype=float)
            best = float(_tiou((item.t_start, item.t_end), same).max()) if len(same) else 0.0
            color = cmap(best) if best > 0 else "#bbbbbb"
            ax.barh(y, item.t_end - item.t_start, left=item.t_start, color=color, height=0.8)
            ax.text(
                item.t_start, y, f" {action(int(item[3])).code} {item.score:.2f}", va="center", fontsize=7
            )
        ax.axhline(len(preds) + 0.5, color="black", linewidth=0.8)
        ax.set_yticks([])
        ax.set_xlim(0, (durations or {}).get(video_id, max([1.0, *truth["t_end"], *preds["t_end"]])))
        ax.set_title(f"{video_id}: ground truth (red, top) / top predictions (coloured by tIoU)", fontsize=9)
        ax.set_xlabel("seconds")
    fig.colorbar(
        plt.cm.ScalarMappable(cmap=cmap), ax=axes[:, 0].tolist(), label="tIoU with best GT", shrink=0.6
    )
    path = Path(path)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
