"""A deliberately plain, loop-based transcription of the ActivityNet AP procedure.

It is the readable specification of :mod:`detection.evaluation.metrics`: the tests compare the
vectorised evaluator with it on thousands of random corner cases, and the mAP benchmark times
both. Far too slow for real submissions; never used by the platform's runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def reference_evaluate(gt: pd.DataFrame, pred: pd.DataFrame, tious, num_classes: int, protocol: str):
    """Plain transcription of the ActivityNet procedure: loops everywhere, no cleverness.

    Returns ``(ap [T, C] in percent, match [T, n_pred])`` where ``match`` holds the position
    in ``gt`` each prediction (position in ``pred``) took, -1 for a false positive. Also
    the speed baseline of ``benchmarks/bench_map.py``.
    """
    eps = 1e-4 if protocol == "official" else 0.0
    gt_rows, pred_rows = list(gt.itertuples(index=False)), list(pred.itertuples(index=False))
    ap = np.zeros((len(tious), num_classes))
    match = np.full((len(tious), len(pred_rows)), -1)
    for c in range(num_classes):
        g = [j for j in range(len(gt_rows)) if gt_rows[j][3] == c]
        p = [i for i in range(len(pred_rows)) if pred_rows[i][3] == c]
        if not g:
            ap[:, c] = 0.0 if protocol == "official" else np.nan
            continue
        if not p:
            continue
        order = np.argsort(np.array([pred_rows[i][4] for i in p], dtype=np.float64))[::-1]
        lock = np.full((len(tious), len(gt_rows)), False)
        tp = np.zeros((len(tious), len(p)))
        fp = np.zeros((len(tious), len(p)))
        for rank, k in enumerate(order):
            vid, start, end = pred_rows[p[k]][0], float(pred_rows[p[k]][1]), float(pred_rows[p[k]][2])
            cand = [j for j in g if gt_rows[j][0] == vid]
            if not cand:
                fp[:, rank] = 1
                continue
            tiou = []
            for j in cand:
                gs, ge = float(gt_rows[j][1]), float(gt_rows[j][2])
                inter = max(0.0, min(end, ge) - max(start, gs))
                union = (ge - gs) + (end - start) - inter
                if eps:
                    union = union + eps
                tiou.append(inter / union)
            tiou = np.array(tiou)
            best_first = tiou.argsort()[::-1]
            for t, thr in enumerate(tious):
                for jj in best_first:
                    if tiou[jj] < thr:
                        break
                    if lock[t, cand[jj]]:
                        continue
                    tp[t, rank] = 1
                    lock[t, cand[jj]] = True
                    match[t, p[k]] = cand[jj]
                    break
                if tp[t, rank] == 0:
                    fp[t, rank] = 1
        tp_c, fp_c = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        for t in range(len(tious)):
            prec = list(tp_c[t] / (tp_c[t] + fp_c[t]))
            rec = list(tp_c[t] / len(g))
            mprec, mrec = [0.0] + prec + [0.0], [0.0] + rec + [1.0]
            for k in range(len(mprec) - 2, -1, -1):
                mprec[k] = max(mprec[k], mprec[k + 1])
            ap[t, c] = sum(
                (mrec[k] - mrec[k - 1]) * mprec[k] for k in range(1, len(mrec)) if mrec[k] != mrec[k - 1]
            )
    return ap * 100.0, match


def reference_ap(gt: pd.DataFrame, pred: pd.DataFrame, tious, num_classes: int, protocol: str) -> np.ndarray:
    return reference_evaluate(gt, pred, tious, num_classes, protocol)[0]
