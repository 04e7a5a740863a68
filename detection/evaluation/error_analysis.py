"""Error analysis of a temporal detector in the style of the MMAD paper (§5.4), which follows
DETAD (Alwassel et al., "Diagnosing error in temporal action detectors", ECCV 2018).

An mAP number says *that* a detector is wrong, not *how*; these profiles say which kind of
mistake dominates (labels? boundaries? hallucinated actions?) and which ground truths are
missed, so a change to the model can be aimed at the error that actually costs mAP.

Both analyses use the evaluator's own matching (:func:`detection.evaluation.metrics.match_predictions`)
at tIoU ``t`` (0.5), with the evaluator's tIoU (``protocol="official"`` adds 1e-4 to the union),
so "true positive" here means exactly what it means in mAP@0.5.

**False-positive profile.** G = number of ground-truth instances. Predictions are ranked by
score across all classes (:func:`detection.evaluation.metrics.rank_predictions`: ties keep the per-class
order of the matching) and the top k*G, k = 1..10, are profiled; fewer are profiled when
fewer exist. The global cut is, inside every class, a prefix of that class's ranking, so the
greedy matching of the cut equals the full matching restricted to it. Each prediction gets
the first category that applies, in this order ("tIoU with a GT" only counts ground truths
of the same video; "class" is the action or, at body level, the body group):

1. ``true_positive``    -- matched: tIoU >= t with a same-class GT no higher-ranked prediction took.
2. ``double_detection`` -- not matched, but tIoU >= t with a same-class GT (hence every such GT
   was already taken by a higher-ranked prediction of that class).
3. ``wrong_label``      -- tIoU >= t with a GT of another class.
4. ``localization``     -- same-class GT with 0.1 <= tIoU < t.
5. ``confusion``        -- another-class GT with 0.1 <= tIoU < t.
6. ``background``       -- tIoU < 0.1 with every GT (predictions on videos without GT included).

DETAD decides 2-5 by the class of the single highest-tIoU ground truth; with MMA-52's
multi-label ground truth (one segment carrying several classes) that would call a correct
label "wrong" whenever another class's copy overlaps slightly more, so here the same-class
test comes first within each tIoU band. DETAD also cuts the top k*G_c per class; the MMAD
brief cuts k*G across classes, as done here.

**False-negative rates.** A GT is a false negative if no prediction of its class matches it
among the top ``fn_multiple``*G ranked predictions (default G; using the full list instead
would make the rate 1 - final recall, ~0 for a detector that emits many low-score guesses).
Rates are reported per bucket of three ground-truth characteristics; buckets are
right-closed intervals ``(lo, hi]``, the first one also closed on the left:

* coverage = GT length / video duration, edges 0, 0.2, 0.4, 0.6, 0.8, 1.0;
* length in seconds, edges 0, 3, 5, 8, 9, inf;
* instances per video = number of GT instances (all classes) in the GT's video, edges
  -1, 2, 5, 7, inf (DETAD counts same-class instances; on MMA-52 that is almost always 1).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from detection.evaluation.metrics import (
    level_tables,
    match_predictions,
    protocol_eps,
    rank_predictions,
    segment_tiou,
)
from perception.atomic import atomic_path, atomic_write_text

FP_CATEGORIES = (
    "true_positive",
    "double_detection",
    "wrong_label",
    "localization",
    "confusion",
    "background",
)
LOW_TIOU = 0.1
DEFAULT_MULTIPLES = tuple(range(1, 11))
BUCKET_EDGES = {
    "coverage": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "length": (0.0, 3.0, 5.0, 8.0, 9.0, math.inf),
    "instances": (-1.0, 2.0, 5.0, 7.0, math.inf),
}
_COLORS = ("#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#7f7f7f")
_MAX_PAIRS = 2_000_000  # tIoU cells computed per chunk; bounds memory on crowded videos


# ---------------------------------------------------------------------------------------------
# Per-prediction categories


def _best_overlaps(gt: pd.DataFrame, pred: pd.DataFrame, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Highest tIoU of each prediction with a same-class GT and with an other-class GT of its
    video (-1 where there is none). Predictions are grouped by how many GTs their video has,
    so each group is one dense [n, m] tIoU array."""
    n = len(pred)
    same, other = np.full(n, -1.0), np.full(n, -1.0)
    if n == 0 or len(gt) == 0:
        return same, other
    g_vid = gt["video_id"].astype(str).to_numpy()
    codes, uniques = pd.factorize(g_vid)
    g_order = np.argsort(codes, kind="stable")
    first = np.searchsorted(codes[g_order], np.arange(len(uniques)))
    count = np.bincount(codes, minlength=len(uniques))
    p_code = pd.Index(uniques).get_indexer(pred["video_id"].astype(str).to_numpy())
    m_of_pred = np.where(p_code >= 0, count[p_code.clip(0)], 0)

    g_start, g_end = gt["t_start"].to_numpy(np.float64), gt["t_end"].to_numpy(np.float64)
    g_label = gt["class"].to_numpy(np.int64)
    p_start, p_end = pred["t_start"].to_numpy(np.float64), pred["t_end"].to_numpy(np.float64)
    p_label = pred["class"].to_numpy(np.int64)
    for m in np.unique(m_of_pred[m_of_pred > 0]):
        rows_all = np.flatnonzero(m_of_pred == m)
        for lo in range(0, len(rows_all), max(1, _MAX_PAIRS // int(m))):
            rows = rows_all[lo : lo + max(1, _MAX_PAIRS // int(m))]
            gts = g_order[first[p_code[rows]][:, None] + np.arange(m)]
            tiou = segment_tiou(p_start[rows, None], p_end[rows, None], g_start[gts], g_end[gts], eps)
            is_same = g_label[gts] == p_label[rows, None]
            same[rows] = np.where(is_same, tiou, -1.0).max(axis=1)
            other[rows] = np.where(is_same, -1.0, tiou).max(axis=1)
    return same, other


def classify_predictions(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    num_classes: int,
    tiou: float = 0.5,
    protocol: str = "official",
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Index into :data:`FP_CATEGORIES` for the predictions at positions ``rows`` (default: all,
    in row order). Matching always runs on the whole table, so the answer for a row does not
    depend on which other rows were asked about."""
    matched = match_predictions(gt, pred, tiou, num_classes, protocol) >= 0
    rows = np.arange(len(pred)) if rows is None else np.asarray(rows, dtype=np.int64)
    same, other = _best_overlaps(gt, pred.iloc[rows], protocol_eps(protocol))
    conditions = [matched[rows], same >= tiou, other >= tiou, same >= LOW_TIOU, other >= LOW_TIOU]
    return np.select(conditions, np.arange(len(conditions)), default=len(conditions)).astype(np.int64)


def false_positive_profile(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    num_classes: int,
    tiou: float = 0.5,
    protocol: str = "official",
    multiples: Iterable[int] = DEFAULT_MULTIPLES,
) -> list[dict]:
    """Category counts and fractions of the top k*G ranked predictions, one entry per k."""
    multiples = [int(k) for k in multiples]
    top = rank_predictions(pred, num_classes)[: max(multiples, default=0) * len(gt)]
    ranked = classify_predictions(gt, pred, num_classes, tiou, protocol, rows=top)
    profiles = []
    for k in multiples:
        top = ranked[: int(k) * len(gt)]
        counts = np.bincount(top, minlength=len(FP_CATEGORIES))
        profiles.append(
            {
                "multiple": int(k),
                "num_predictions": int(len(top)),
                "counts": {c: int(n) for c, n in zip(FP_CATEGORIES, counts, strict=True)},
                "fractions": {
                    c: (float(n) / len(top) if len(top) else None)
                    for c, n in zip(FP_CATEGORIES, counts, strict=True)
                },
            }
        )
    return profiles


# ---------------------------------------------------------------------------------------------
# False negatives


def _bucket_label(lo: float, hi: float, first: bool) -> str:
    return f"{'[' if first else '('}{lo:g}, {hi:g}{')' if math.isinf(hi) else ']'}"


def _bucketize(name: str, values: np.ndarray, missed: np.ndarray) -> dict:
    """FN count and rate per right-closed bucket (the first bucket also takes its lower edge)."""
    edges = np.asarray(BUCKET_EDGES[name])
    index = np.searchsorted(edges, values, side="left") - 1
    index[values == edges[0]] = 0
    outside = (index < 0) | (index >= len(edges) - 1)
    if outside.any():
        bad = values[outside][0]
        raise ValueError(f"{name} value {bad} lies outside the bucket edges {edges.tolist()}")
    buckets = []
    for b in range(len(edges) - 1):
        inside = index == b
        total, fn = int(inside.sum()), int(missed[inside].sum())
        buckets.append(
            {
                "label": _bucket_label(edges[b], edges[b + 1], b == 0),
                "lower": float(edges[b]),
                "upper": None if math.isinf(edges[b + 1]) else float(edges[b + 1]),
                "count": total,
                "false_negatives": fn,
                "rate": fn / total if total else None,
            }
        )
    return {"edges": [None if math.isinf(e) else float(e) for e in edges], "buckets": buckets}


def false_negative_rates(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    durations: Mapping[str, float],
    num_classes: int,
    tiou: float = 0.5,
    protocol: str = "official",
    fn_multiple: int = 1,
) -> dict:
    """Overall and per-bucket FN rates of the ground truths when only the top
    ``fn_multiple``*G ranked predictions are kept (see the module docstring)."""
    matched = match_predictions(gt, pred, tiou, num_classes, protocol)
    position = np.empty(len(pred), dtype=np.int64)
    position[rank_predictions(pred, num_classes)] = np.arange(len(pred))
    found_at = np.full(len(gt), np.iinfo(np.int64).max)
    hit = matched >= 0
    found_at[matched[hit]] = position[hit]  # a GT is taken by at most one prediction
    missed = found_at >= fn_multiple * len(gt)

    vids = gt["video_id"].astype(str)
    absent = sorted(set(vids) - set(durations))
    if absent:
        raise ValueError(f"no duration for {len(absent)} ground-truth video(s), e.g. {absent[0]!r}")
    duration = vids.map(lambda v: float(durations[v])).to_numpy(np.float64)
    if (duration <= 0).any() or not np.isfinite(duration).all():
        raise ValueError("video durations must be finite and > 0")
    length = (gt["t_end"] - gt["t_start"]).to_numpy(np.float64)
    per_video = vids.map(vids.value_counts()).to_numpy(np.float64)
    return {
        "top_k": int(fn_multiple * len(gt)),
        "overall": {
            "count": int(len(gt)),
            "false_negatives": int(missed.sum()),
            "rate": float(missed.mean()) if len(gt) else None,
        },
        "coverage": _bucketize("coverage", length / duration, missed),
        "length": _bucketize("length", length, missed),
        "instances": _bucketize("instances", per_video, missed),
    }


# ---------------------------------------------------------------------------------------------
# Charts (Figure + Agg canvas: no pyplot, so the caller's matplotlib backend is left alone)


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format="png")


def plot_false_positive_profile(profiles: Sequence[dict], path: Path, title: str) -> None:
    """Stacked bars: share of each category among the top k*G predictions, per k."""
    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(profiles))
    bottom = np.zeros(len(profiles))
    for category, color in zip(FP_CATEGORIES, _COLORS, strict=True):
        share = np.array([100.0 * (p["fractions"][category] or 0.0) for p in profiles])
        ax.bar(x, share, bottom=bottom, color=color, label=category.replace("_", " "))
        bottom += share
    ax.set_xticks(x, [f"{p['multiple']}G" for p in profiles])
    ax.set_xlabel("top-k·G predictions (G = number of ground-truth instances)")
    ax.set_ylabel("share of predictions (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    _save(fig, path)


def plot_false_negative_rates(fn: dict, path: Path, title: str) -> None:
    """One bar chart per characteristic: FN rate per bucket, with the bucket's GT count."""
    fig = Figure(figsize=(12, 4), dpi=100, layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    names = {"coverage": "coverage", "length": "length (s)", "instances": "instances per video"}
    for ax, (key, xlabel) in zip(axes, names.items(), strict=True):
        buckets = fn[key]["buckets"]
        rates = [100.0 * (b["rate"] or 0.0) for b in buckets]
        bars = ax.bar(range(len(buckets)), rates, color="#1f77b4")
        ax.bar_label(bars, labels=[f"n={b['count']}" for b in buckets], fontsize=8)
        ax.set_xticks(range(len(buckets)), [b["label"] for b in buckets], rotation=30, fontsize=8)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel("false-negative rate (%)")
    axes[0].set_ylim(0, 110)
    fig.suptitle(title)
    _save(fig, path)


# ---------------------------------------------------------------------------------------------
# Entry point


def analyze(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    durations: Mapping[str, float],
    out_dir: str | Path,
    level: str = "action",
    *,
    protocol: str = "official",
    tiou: float = 0.5,
    multiples: Iterable[int] = DEFAULT_MULTIPLES,
    fn_multiple: int = 1,
) -> dict:
    """Run both analyses at one level and write ``<level>_error_analysis.json``,
    ``<level>_fp_profile.png`` and ``<level>_fn_rates.png`` into ``out_dir`` (atomically).

    ``gt`` has columns ``video_id, t_start, t_end, class`` (action indices, seconds),
    ``pred`` additionally ``score``; ``durations`` maps every GT video id to its length in
    seconds. Returns the dictionary written to the JSON file.
    """
    gt_l, pred_l, num_classes = level_tables(gt, pred, level)
    gt_l, pred_l = gt_l.reset_index(drop=True), pred_l.reset_index(drop=True)
    out_dir = Path(out_dir)
    files = {
        "json": f"{level}_error_analysis.json",
        "fp_profile": f"{level}_fp_profile.png",
        "fn_rates": f"{level}_fn_rates.png",
    }
    result = {
        "level": level,
        "protocol": protocol,
        "tiou": float(tiou),
        "num_ground_truth": int(len(gt_l)),
        "num_predictions": int(len(pred_l)),
        "false_positives": {
            "categories": list(FP_CATEGORIES),
            "profiles": false_positive_profile(gt_l, pred_l, num_classes, tiou, protocol, multiples),
        },
        "false_negatives": false_negative_rates(
            gt_l, pred_l, durations, num_classes, tiou, protocol, fn_multiple
        ),
        "files": files,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / files["json"], json.dumps(result, indent=2, allow_nan=False) + "\n")
    plot_false_positive_profile(
        result["false_positives"]["profiles"],
        out_dir / files["fp_profile"],
        f"{level} level: false-positive profile at tIoU {tiou:g}",
    )
    plot_false_negative_rates(
        result["false_negatives"],
        out_dir / files["fn_rates"],
        f"{level} level: false negatives at tIoU {tiou:g} (top {fn_multiple}G predictions)",
    )
    return result
