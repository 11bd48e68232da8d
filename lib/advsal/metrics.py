"""Detection metrics: rates at a threshold, balanced accuracy, ROC AUC,
thresholds calibrated on clean validation scores, Wilson score intervals,
and across-seed summaries.

Scores are the detector's logits (higher = more likely adversarial); labels
are 1 for adversarial, 0 for clean. An image is flagged as adversarial when
its score is *above* the threshold. Three thresholds are reported for every
detector:

* ``logit0``: logit 0 (probability 0.5), the paper's decision rule;
* ``val5`` and ``val1``: the thresholds that flag 5 % and 1 % of the *clean
  validation* images (:func:`threshold_at_fpr`), which is how a defender sets
  a threshold without looking at test images or at attacks.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["wilson_interval", "roc_curve", "roc_auc", "tpr_at_fpr", "threshold_at_fpr",
           "rates_at", "detection_report", "auc_interval", "across_seeds", "t_interval",
           "VAL_FPRS", "THRESHOLD_NAMES"]

VAL_FPRS = {"val5": 0.05, "val1": 0.01}   # threshold name -> clean-validation FPR it is set at
THRESHOLD_NAMES = ("logit0",) + tuple(VAL_FPRS)


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


def threshold_at_fpr(clean_scores, fpr):
    """The smallest threshold that flags (score > threshold) at most ``fpr`` of
    ``clean_scores``. Set on clean validation images, never on test images."""
    neg = np.sort(np.asarray(clean_scores, np.float64))
    if len(neg) == 0:
        raise ValueError("threshold_at_fpr needs at least one clean score")
    if not 0 <= fpr < 1:
        raise ValueError(f"fpr={fpr!r} must be in [0, 1)")
    k = int(math.floor(fpr * len(neg)))      # negatives allowed above the threshold
    return float(neg[len(neg) - k - 1])


def tpr_at_fpr(labels, scores, fpr=0.05):
    """Share of positives detected at the threshold that flags at most ``fpr`` of
    the negatives *of the same set* (an oracle threshold: for comparison with
    published numbers only; verdicts use validation thresholds)."""
    labels = np.asarray(labels).astype(bool)
    pos = np.asarray(scores)[labels]
    if (~labels).sum() == 0 or len(pos) == 0:
        return float("nan")
    return float(np.mean(pos > threshold_at_fpr(np.asarray(scores)[~labels], fpr)))


def rates_at(scores_clean, scores_adv, threshold):
    """TNR, TPR and balanced accuracy at ``threshold``, with Wilson intervals."""
    sc, sa = np.asarray(scores_clean), np.asarray(scores_adv)
    tn, tp = int((sc <= threshold).sum()), int((sa > threshold).sum())
    tnr = tn / len(sc) if len(sc) else float("nan")
    tpr = tp / len(sa) if len(sa) else float("nan")
    return {"threshold": float(threshold), "tnr": tnr, "tpr": tpr,
            "balanced_accuracy": (tnr + tpr) / 2,
            "tnr_ci": wilson_interval(tn, len(sc)), "tpr_ci": wilson_interval(tp, len(sa)),
            "tn": tn, "tp": tp}


def auc_interval(auc, n_pos, n_neg, z=1.959963984540054):
    """95 % interval of a ROC AUC from ``n_pos`` positives and ``n_neg`` negatives, with
    the standard error of Hanley and McNeil (1982, Radiology 143:29), clipped to [0, 1]."""
    if not n_pos or not n_neg or math.isnan(auc):
        return (float("nan"), float("nan"))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
           + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    half = z * math.sqrt(max(var, 0.0))
    return (max(0.0, auc - half), min(1.0, auc + half))


def detection_report(scores_clean, scores_adv, threshold=0.0, scores_val_clean=None):
    """Detector metrics on test scores.

    Top-level ``tnr`` (D(x_test)), ``tpr`` (D(x_adv)), ``accuracy`` and
    ``balanced_accuracy`` are at ``threshold`` (logit 0 by default), with Wilson
    95 % intervals; ``auc`` is threshold-free (``auc_ci``: :func:`auc_interval`).
    With ``scores_val_clean`` (the
    detector's scores on clean validation images), ``at`` also holds the rates at
    the thresholds ``val5`` and ``val1`` set on them (:data:`VAL_FPRS`); the
    realised test FPR there is ``1 - tnr``.
    """
    sc, sa = np.asarray(scores_clean), np.asarray(scores_adv)
    labels = np.r_[np.zeros(len(sc)), np.ones(len(sa))]
    scores = np.r_[sc, sa]
    base = rates_at(sc, sa, threshold)
    out = {"n_clean": len(sc), "n_adv": len(sa), "tnr": base["tnr"], "tpr": base["tpr"],
           "balanced_accuracy": base["balanced_accuracy"],
           "accuracy": (base["tn"] + base["tp"]) / max(len(sc) + len(sa), 1),
           "auc": roc_auc(labels, scores), "tpr_at_5fpr": tpr_at_fpr(labels, scores, 0.05),
           "auc_ci": auc_interval(roc_auc(labels, scores), len(sa), len(sc)),
           "tnr_ci": base["tnr_ci"], "tpr_ci": base["tpr_ci"],
           "accuracy_ci": wilson_interval(base["tn"] + base["tp"], len(sc) + len(sa)),
           "at": {"logit0": base}}
    if scores_val_clean is not None:
        for name, fpr in VAL_FPRS.items():
            out["at"][name] = rates_at(sc, sa, threshold_at_fpr(scores_val_clean, fpr))
    return out


def t_interval(values, level=0.95):
    """Mean and two-sided t interval of the mean of ``values`` (NaNs dropped)."""
    from scipy import stats

    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), (float("nan"), float("nan"))
    m = float(v.mean())
    if len(v) == 1:
        return m, (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, (m - half, m + half)


def across_seeds(values, bounds=(0.0, 1.0)):
    """Summary of one quantity measured once per seed: mean, sd, min, max and the
    95 % t interval of the mean (clipped to ``bounds``; None: unclipped)."""
    v = np.asarray(values, np.float64)
    m, (lo, hi) = t_interval(v)
    if bounds is not None and not np.isnan(lo):
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    ok = v[~np.isnan(v)]
    return {"mean": m, "sd": float(ok.std(ddof=1)) if len(ok) > 1 else float("nan"),
            "min": float(ok.min()) if len(ok) else float("nan"),
            "max": float(ok.max()) if len(ok) else float("nan"),
            "ci_low": lo, "ci_high": hi, "n_seeds": int(len(ok))}
