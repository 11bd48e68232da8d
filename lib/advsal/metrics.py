"""Detection metrics: accuracy, TPR/TNR, ROC AUC, TPR at a fixed FPR, and
Wilson score intervals.

Scores are the detector's logits (higher = more likely adversarial); labels
are 1 for adversarial, 0 for clean. The decision threshold for accuracies is
logit 0 (probability 0.5).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["wilson_interval", "roc_curve", "roc_auc", "tpr_at_fpr", "detection_report"]


def wilson_interval(k, n, z=1.959963984540054):
    """Wilson score interval for ``k`` successes in ``n`` trials (95 % by default)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def roc_curve(labels, scores):
    """False- and true-positive rates over all thresholds (ties handled)."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, l = scores[order], labels[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(l)[distinct]
    fp = np.cumsum(~l)[distinct]
    npos, nneg = max(l.sum(), 1), max((~l).sum(), 1)
    return np.r_[0.0, fp / nneg], np.r_[0.0, tp / npos]


def roc_auc(labels, scores):
    """Area under the ROC curve (probability a positive outranks a negative)."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or (~labels).all():
        return float("nan")
    fpr, tpr = roc_curve(labels, scores)
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(labels, scores, fpr=0.05):
    """Share of positives detected at the threshold that flags at most ``fpr`` of negatives."""
    labels = np.asarray(labels).astype(bool)
    neg = np.sort(np.asarray(scores)[~labels])
    pos = np.asarray(scores)[labels]
    if len(neg) == 0 or len(pos) == 0:
        return float("nan")
    k = int(math.floor(fpr * len(neg)))      # negatives allowed above the threshold
    thresh = neg[len(neg) - k - 1] if k < len(neg) else -np.inf
    return float(np.mean(pos > thresh))


def detection_report(scores_clean, scores_adv, threshold=0.0):
    """TNR (D(x_test)), TPR (D(x_adv)), accuracy, AUC, TPR@5%FPR with 95 % CIs."""
    sc, sa = np.asarray(scores_clean), np.asarray(scores_adv)
    tn, tp = int((sc <= threshold).sum()), int((sa > threshold).sum())
    labels = np.r_[np.zeros(len(sc)), np.ones(len(sa))]
    scores = np.r_[sc, sa]
    out = {"n_clean": len(sc), "n_adv": len(sa),
           "tnr": tn / max(len(sc), 1), "tpr": tp / max(len(sa), 1),
           "accuracy": (tn + tp) / max(len(sc) + len(sa), 1),
           "auc": roc_auc(labels, scores), "tpr_at_5fpr": tpr_at_fpr(labels, scores, 0.05)}
    out["tnr_ci"] = wilson_interval(tn, len(sc))
    out["tpr_ci"] = wilson_interval(tp, len(sa))
    out["accuracy_ci"] = wilson_interval(tn + tp, len(sc) + len(sa))
    return out
