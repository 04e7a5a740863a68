"""Temporal detection mAP for MMA-52 (DESIGN §6), reproducing two published conventions.

* ``protocol="official"`` -- the MMA-52 challenge evaluator: the mean runs over *all*
  ``num_classes`` classes (a class absent from the ground truth scores 0) and the tIoU is
  ``inter / (union + 1e-4)``, so an exact 0.5 overlap fails the 0.5 threshold.
* ``protocol="activitynet"`` -- ActivityNet / ActionFormer: the mean runs over classes present
  in the ground truth and the tIoU has no epsilon.

Both share ActivityNet's greedy matching: per class, predictions ranked by
``np.argsort(scores)[::-1]`` (the exact call, so tied scores fall in the same order as in the
official tools); each takes the highest-tIoU still-unmatched ground truth of its class and
video if that tIoU reaches the threshold. AP is the all-point interpolated area under the
precision/recall curve with precision made monotone from the right.

Why it is built this way: evaluation runs after every epoch on up to ~1M predictions, so the
matching is vectorised. Matching only couples predictions that share a (class, video) block,
so all blocks advance together, one prediction per block per step, with the nine thresholds
processed as one [T, pairs] array. Ground truths a prediction could take are ordered by the
same ``np.argsort(tiou_row)[::-1]`` the reference code uses (done row-wise on 2-D arrays,
which numpy computes exactly like the 1-D call), so even tied tIoUs resolve identically.

The same matching is exposed per prediction (:func:`match_predictions`) together with the
cross-class ranking it implies (:func:`rank_predictions`), so error analysis labels exactly
the true positives that mAP counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from perception.taxonomy import ACTION_TO_BODY, NUM_ACTIONS, NUM_BODY_GROUPS

DEFAULT_TIOUS = np.round(np.arange(0.1, 1.0, 0.1), 1)
PROTOCOLS = ("official", "activitynet")
OFFICIAL_UNION_EPS = 1e-4

_GT_COLUMNS = ("video_id", "t_start", "t_end", "class")
_PRED_COLUMNS = ("video_id", "t_start", "t_end", "class", "score")


def protocol_eps(protocol: str) -> float:
    """The constant a protocol adds to the tIoU union (see module docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    return OFFICIAL_UNION_EPS if protocol == "official" else 0.0


def tiou_key(threshold: float) -> str:
    """Dictionary key for a threshold ('0.5'); shortest form so 0.55 stays '0.55'."""
    return f"{float(threshold):g}"


# ---------------------------------------------------------------------------------------------
# Input checks


def _columns(table: pd.DataFrame, required: Sequence[str], what: str) -> None:
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}; has {list(table.columns)}")


def _segments(table: pd.DataFrame, what: str, num_classes: int, strict: bool):
    """Times and labels as float64/int64 arrays, refusing values the matching cannot rank
    meaningfully (NaN/inf, reversed segments, labels outside the class range)."""
    start = table["t_start"].to_numpy(dtype=np.float64)
    end = table["t_end"].to_numpy(dtype=np.float64)
    label_f = table["class"].to_numpy(dtype=np.float64)
    if not (np.isfinite(start).all() and np.isfinite(end).all()):
        raise ValueError(f"{what} table has non-finite t_start/t_end")
    bad = (end <= start) if strict else (end < start)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what} row {row}: segment [{start[row]}, {end[row]}] is empty or reversed")
    if not np.isfinite(label_f).all() or (label_f != np.round(label_f)).any():
        raise ValueError(f"{what} table has non-integer class values")
    label = label_f.astype(np.int64)
    out = (label < 0) | (label >= num_classes)
    if out.any():
        row = int(np.flatnonzero(out)[0])
        raise ValueError(f"{what} row {row}: class {label[row]} outside 0..{num_classes - 1}")
    return start, end, label


# ---------------------------------------------------------------------------------------------
# Matching


def segment_tiou(p_start, p_end, g_start, g_end, eps: float) -> np.ndarray:
    """tIoU written with the same floating-point operations as ActivityNet's segment_iou, so
    threshold decisions at exact boundaries agree bit for bit."""
    inter = (np.minimum(p_end, g_end) - np.maximum(p_start, g_start)).clip(0)
    union = (g_end - g_start) + (p_end - p_start) - inter
    if eps:
        union = union + eps
    return inter / union


def _class_rank_order(labels: np.ndarray, scores: np.ndarray, num_classes: int):
    """Predictions regrouped by class and ranked inside each class.

    Returns ``(order, bounds)``: ``order[bounds[c]:bounds[c+1]]`` are the row indices of class
    ``c`` in rank order. Rows of a class are first taken in their original order (stable sort
    by label), then ranked with ``np.argsort(scores)[::-1]`` on exactly that array, which is
    what the reference evaluators do and what fixes the order of tied scores.
    """
    by_label = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[by_label], np.arange(num_classes + 1))
    order = np.empty_like(by_label)
    for c in range(num_classes):
        rows = by_label[bounds[c] : bounds[c + 1]]
        if len(rows):
            order[bounds[c] : bounds[c + 1]] = rows[np.argsort(scores[rows])[::-1]]
    return order, bounds


def _match(gt_start, gt_end, gt_block, p_start, p_end, p_block, tious: np.ndarray, eps: float) -> np.ndarray:
    """Greedy ActivityNet matching for ranked predictions.

    Returns ``[T, n_pred]`` int64: the ground-truth row each prediction takes at each
    threshold, -1 for a false positive (``>= 0`` is the TP flag). ``p_*`` are already in rank
    order (class blocks contiguous, ranked inside); ``*_block`` is a (class, video) id.
    Blocks never share ground truths, so the k-th candidate prediction of every block is
    matched in the same vectorised step.
    """
    num_t, n_pred = len(tious), len(p_start)
    matched = np.full((num_t, n_pred), -1, dtype=np.int64)
    if n_pred == 0 or len(gt_start) == 0:
        return matched

    # Ground truths grouped by block, original order kept inside a block (stable sort): the
    # tIoU row of a prediction lists its block's ground truths in file order, as upstream.
    g_order = np.argsort(gt_block, kind="stable")
    g_keys, g_first, g_count = np.unique(gt_block[g_order], return_index=True, return_counts=True)
    slot = np.searchsorted(g_keys, p_block).clip(max=len(g_keys) - 1)
    found = g_keys[slot] == p_block
    m_of_pred = np.where(found, g_count[slot], 0)

    min_t = tious.min()
    pair_pred, pair_gt, pair_tiou, pair_pos = [], [], [], []
    for m in np.unique(m_of_pred[m_of_pred > 0]):
        preds = np.flatnonzero(m_of_pred == m)
        gts = g_order[g_first[slot[preds]][:, None] + np.arange(m)]  # [n, m] gt row indices
        tiou = segment_tiou(p_start[preds, None], p_end[preds, None], gt_start[gts], gt_end[gts], eps)
        rank = np.argsort(tiou, axis=1)[:, ::-1]  # row-wise == np.argsort(row)[::-1]
        tiou = np.take_along_axis(tiou, rank, axis=1)
        gts = np.take_along_axis(gts, rank, axis=1)
        keep = tiou >= min_t  # a pair below every threshold can never match
        rows, cols = np.nonzero(keep)
        pair_pred.append(preds[rows])
        pair_gt.append(gts[rows, cols])
        pair_tiou.append(tiou[rows, cols])
        pair_pos.append(cols)
    if not pair_pred or sum(len(a) for a in pair_pred) == 0:
        return matched
    pair_pred = np.concatenate(pair_pred)
    pair_gt = np.concatenate(pair_gt)
    pair_tiou = np.concatenate(pair_tiou)
    pair_pos = np.concatenate(pair_pos)

    # Step index of a candidate prediction = its rank among candidates of its block.
    cand = np.unique(pair_pred)  # ascending = rank order, since rows are already ranked
    cand_order = np.argsort(p_block[cand], kind="stable")
    blocks_sorted = p_block[cand][cand_order]
    block_start = np.flatnonzero(np.r_[True, blocks_sorted[1:] != blocks_sorted[:-1]])
    step_sorted = np.arange(len(cand)) - np.repeat(block_start, np.diff(np.r_[block_start, len(cand)]))
    step = np.empty(len(cand), dtype=np.int64)
    step[cand_order] = step_sorted
    pair_step = step[np.searchsorted(cand, pair_pred)]

    # Pairs sorted by (step, prediction, tIoU rank) so each step is one contiguous slice and
    # each prediction's candidates are a contiguous, best-first segment inside it.
    pairs = np.lexsort((pair_pos, pair_pred, pair_step))
    pair_pred, pair_gt, pair_tiou, pair_step = (
        pair_pred[pairs],
        pair_gt[pairs],
        pair_tiou[pairs],
        pair_step[pairs],
    )
    step_bounds = np.searchsorted(pair_step, np.arange(pair_step[-1] + 2))
    locked = np.zeros((num_t, len(gt_start)), dtype=bool)
    thresholds = tious[:, None]
    for k in range(len(step_bounds) - 1):
        lo, hi = step_bounds[k], step_bounds[k + 1]
        s_pred, s_gt = pair_pred[lo:hi], pair_gt[lo:hi]
        eligible = (pair_tiou[lo:hi] >= thresholds) & ~locked[:, s_gt]  # [T, P]
        seg = np.flatnonzero(np.r_[True, s_pred[1:] != s_pred[:-1]])
        position = np.where(eligible, np.arange(hi - lo), hi - lo)
        first = np.minimum.reduceat(position, seg, axis=1)  # [T, n_pred_in_step]
        t_idx, p_idx = np.nonzero(first < hi - lo)
        chosen = s_gt[first[t_idx, p_idx]]
        matched[t_idx, s_pred[seg[p_idx]]] = chosen
        locked[t_idx, chosen] = True
    return matched


# ---------------------------------------------------------------------------------------------
# Precision / recall


def _interpolated_ap(tp: np.ndarray, npos: int) -> np.ndarray:
    """All-point interpolated AP per threshold for one class's ranked TP flags ``[T, n]``.

    Same construction as ActivityNet's ``interpolated_prec_rec``: pad recall with 0/1 and
    precision with 0/0, make precision monotone from the right, sum precision times recall
    steps (zero steps add exactly nothing, so summing all of them is equivalent).
    """
    num_t, n = tp.shape
    if n == 0:
        return np.zeros(num_t)
    tp_cum = np.cumsum(tp, axis=1, dtype=np.float64)
    fp_cum = np.cumsum(~tp, axis=1, dtype=np.float64)
    recall = tp_cum / npos
    precision = tp_cum / (tp_cum + fp_cum)
    mprec = np.concatenate([np.zeros((num_t, 1)), precision, np.zeros((num_t, 1))], axis=1)
    mrec = np.concatenate([np.zeros((num_t, 1)), recall, np.ones((num_t, 1))], axis=1)
    mprec = np.maximum.accumulate(mprec[:, ::-1], axis=1)[:, ::-1]
    return np.sum(np.diff(mrec, axis=1) * mprec[:, 1:], axis=1)


# ---------------------------------------------------------------------------------------------
# Public API


def _ranked_match(gt: pd.DataFrame, pred: pd.DataFrame, tious: np.ndarray, num_classes: int, protocol: str):
    """Validate, rank and match: ``(matched [T, n_pred] in rank order, order, bounds, gt labels)``.

    Shared by AP and by per-prediction matching so both see exactly the same matching.
    """
    eps = protocol_eps(protocol)
    _columns(gt, _GT_COLUMNS, "ground-truth")
    _columns(pred, _PRED_COLUMNS, "prediction")
    g_start, g_end, g_label = _segments(gt, "ground-truth", num_classes, strict=True)
    p_start, p_end, p_label = _segments(pred, "prediction", num_classes, strict=False)
    scores = pred["score"].to_numpy(dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("prediction table has non-finite scores")

    # One video code space for both sides; prediction-only videos get codes no GT block has.
    g_vid, p_vid = gt["video_id"].astype(str).to_numpy(), pred["video_id"].astype(str).to_numpy()
    codes, uniques = pd.factorize(np.concatenate([g_vid, p_vid]))
    n_vid = max(len(uniques), 1)
    g_block = g_label * n_vid + codes[: len(g_vid)]
    p_block = p_label * n_vid + codes[len(g_vid) :]
    order, bounds = _class_rank_order(p_label, scores, num_classes)
    matched = _match(g_start, g_end, g_block, p_start[order], p_end[order], p_block[order], tious, eps)
    return matched, order, bounds, g_label


def average_precision(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    tious: Sequence[float] | np.ndarray = DEFAULT_TIOUS,
    num_classes: int = NUM_ACTIONS,
    protocol: str = "official",
) -> dict:
    """Per-class, per-threshold AP and their means, all in percent.

    Returns ``ap`` (``[len(tious), num_classes]``, NaN for classes the protocol leaves out),
    ``per_tiou`` ({'0.1': mAP, ...}), ``avg`` (mean of ``per_tiou``) and ``per_class``
    ({class: mean AP over thresholds}, only classes that count in the mean).
    Predictions on videos absent from ``gt`` are false positives at their rank.
    """
    tious = np.asarray(tious, dtype=np.float64).reshape(-1)
    if len(tious) == 0:
        raise ValueError("need at least one tIoU threshold")
    matched, _, bounds, g_label = _ranked_match(gt, pred, tious, num_classes, protocol)
    tp = matched >= 0

    npos = np.bincount(g_label, minlength=num_classes)
    ap = np.zeros((len(tious), num_classes))
    for c in range(num_classes):
        if npos[c] > 0:
            ap[:, c] = _interpolated_ap(tp[:, bounds[c] : bounds[c + 1]], int(npos[c]))
    counted = np.ones(num_classes, dtype=bool) if protocol == "official" else npos > 0
    ap[:, ~counted] = np.nan
    ap *= 100.0

    per_tiou_values = ap[:, counted].mean(axis=1) if counted.any() else np.zeros(len(tious))
    return {
        "ap": ap,
        "per_tiou": {tiou_key(t): float(v) for t, v in zip(tious, per_tiou_values, strict=True)},
        "avg": float(per_tiou_values.mean()),
        "per_class": {int(c): float(ap[:, c].mean()) for c in np.flatnonzero(counted)},
    }


def match_predictions(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    tiou: float = 0.5,
    num_classes: int = NUM_ACTIONS,
    protocol: str = "official",
) -> np.ndarray:
    """The ground-truth row (position in ``gt``) each prediction (position in ``pred``) takes at
    one threshold, -1 for a false positive.

    Exactly the matching :func:`average_precision` scores, exposed so error analysis can label
    each prediction and each ground truth without a second, possibly diverging, matcher.
    """
    matched, order, _, _ = _ranked_match(gt, pred, np.array([float(tiou)]), num_classes, protocol)
    out = np.empty_like(matched[0])
    out[order] = matched[0]
    return out


def rank_predictions(pred: pd.DataFrame, num_classes: int = NUM_ACTIONS) -> np.ndarray:
    """Row positions of all predictions, best score first, across classes.

    Ties keep the per-class order the matching uses, so any top-K cut of this list is, inside
    every class, a prefix of that class's ranking: the greedy matching of the cut equals the
    full matching restricted to it.
    """
    _columns(pred, _PRED_COLUMNS, "prediction")
    _, _, labels = _segments(pred, "prediction", num_classes, strict=False)
    scores = pred["score"].to_numpy(dtype=np.float64)
    order, _ = _class_rank_order(labels, scores, num_classes)
    return order[np.argsort(-scores[order], kind="stable")]


def relabel_to_body(table: pd.DataFrame) -> pd.DataFrame:
    """Same rows with ``class`` replaced by the body-group index (0..6)."""
    out = table.copy()
    labels = table["class"].to_numpy(dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_ACTIONS):
        raise ValueError(f"class values must lie in 0..{NUM_ACTIONS - 1} for body relabelling")
    out["class"] = np.asarray(ACTION_TO_BODY, dtype=np.int64)[labels]
    return out


LEVELS = ("action", "body")


def level_tables(gt: pd.DataFrame, pred: pd.DataFrame, level: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Ground truth, predictions and class count for one evaluation level."""
    if level == "action":
        return gt, pred, NUM_ACTIONS
    if level == "body":
        return relabel_to_body(gt), relabel_to_body(pred), NUM_BODY_GROUPS
    raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")


def evaluate_level(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    level: str = "action",
    protocol: str = "official",
    tious: Sequence[float] | np.ndarray = DEFAULT_TIOUS,
) -> dict:
    """``per_tiou``, ``avg`` and ``per_class`` for one level (``action`` or ``body``)."""
    gt_l, pred_l, num_classes = level_tables(gt, pred, level)
    result = average_precision(gt_l, pred_l, tious, num_classes, protocol)
    return {k: result[k] for k in ("per_tiou", "avg", "per_class")}


def evaluate_detection(
    gt: pd.DataFrame,
    pred: pd.DataFrame,
    protocol: str = "official",
    tious: Sequence[float] | np.ndarray = DEFAULT_TIOUS,
) -> dict:
    """Action-level and body-level mAP plus the paper's AVG column (their mean), in percent.

    Body level relabels both sides with the body group before matching, so two predictions of
    different actions in the same group can now compete for one ground truth -- exactly what
    the paper's body-level numbers measure.
    """
    action = evaluate_level(gt, pred, "action", protocol, tious)
    body = evaluate_level(gt, pred, "body", protocol, tious)
    return {"action": action, "body": body, "avg": (action["avg"] + body["avg"]) / 2.0}


def format_table(metrics: dict) -> str:
    """Plain-text summary printed at the end of a run: one row per level present in
    ``metrics``, one column per threshold plus Avg, and the AVG line (mean of the two Avg
    values) when ``metrics`` has it."""
    levels = [level for level in LEVELS if level in metrics]
    keys = list(metrics[levels[0]]["per_tiou"].keys())
    header = ["level"] + keys + ["Avg"]
    rows = [header]
    for level in levels:
        values = [metrics[level]["per_tiou"][k] for k in keys] + [metrics[level]["avg"]]
        rows.append([level] + [f"{v:.2f}" for v in values])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    if "avg" in metrics:
        lines.append(f"AVG {metrics['avg']:.2f}")
    return "\n".join(lines)
