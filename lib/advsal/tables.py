"""The paper's tables as DataFrames, computed from a :class:`advsal.pipeline.Study`.

* :func:`attack_summary` - epsilon, success rate and distortion per attack
  (mean and median over the images that fool F).
* :func:`calibration_table` - every (epsilon, F accuracy) pair tried.
* :func:`table2` - Table II: f(x_test), f(x_adv), D(x_test), D(x_adv) per
  attack with Wilson 95 % intervals, balanced accuracy, ROC AUC, and the TPR
  at the thresholds set on clean validation images, beside the paper's values.
* :func:`table3` - Table III/IV: detectors trained at epsilon_fit, tested at
  epsilon_test (balanced detection accuracy, or another :data:`CELL_METRICS`).
* :func:`cross_attack` - Fig. 2: detectors trained on one attack, tested on
  every attack (same metrics).

Every detector table reports, from :func:`threshold_columns`, the rates at
logit 0 (the paper's rule) and at the thresholds that flag 5 % and 1 % of the
clean *validation* images; ``test FPR@val5%`` is the false-positive rate those
thresholds give on the test images.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .attacks import attack_spec
from .presets import PAPER_TABLE2, paper_values

__all__ = ["attack_summary", "calibration_table", "table2", "table3", "eps_levels",
           "cross_attack", "threshold_columns", "balanced_ci", "CELL_METRICS"]

# Cell metrics of Table III and Fig. 2: name -> how to read it off an evaluate() report.
CELL_METRICS = {
    "balanced_accuracy": lambda r: r["balanced_accuracy"],
    "auc": lambda r: r["auc"],
    "tpr_val5": lambda r: r["at"]["val5"]["tpr"],
    "tpr_val1": lambda r: r["at"]["val1"]["tpr"],
    "balanced_ci_low": lambda r: balanced_ci(r["at"]["logit0"])[0],
    "balanced_ci_high": lambda r: balanced_ci(r["at"]["logit0"])[1],
}


def balanced_ci(rates):
    """A conservative 95 % interval of the balanced accuracy: the mean of the
    Wilson bounds of TNR and TPR."""
    (a, b), (c, d) = rates["tnr_ci"], rates["tpr_ci"]
    return ((a + c) / 2, (b + d) / 2)


def threshold_columns(rep):
    """The columns every detector table carries: balanced accuracy at logit 0
    (with interval), AUC, and TPR and realised test FPR at the thresholds set on
    clean validation images (5 % and 1 %)."""
    out = {"balanced acc": rep["balanced_accuracy"],
           "balanced acc 95% CI": balanced_ci(rep["at"]["logit0"]), "AUC": rep["auc"]}
    for name, label in (("val5", "val5%"), ("val1", "val1%")):
        r = rep["at"].get(name)
        if r is None:
            continue
        out[f"TPR@{label}"] = r["tpr"]
        out[f"TPR@{label} 95% CI"] = r["tpr_ci"]
        out[f"test FPR@{label}"] = 1 - r["tnr"]
    return out


def attack_summary(study, attacks=None, split="test"):
    rows = []
    for a in attacks or study.params["attacks"]:
        cal = study.calibration(a)
        st = study.attack_stats(a, split)
        row = {"attack": a, "eps": cal["eps"],
               "calibrated": (not cal.get("fixed")) and attack_spec(a).budget,
               "target_reached": cal.get("reached", None),
               "f_acc_adv": st["acc_adv"], "success_rate": st["success_rate"]}
        for norm in ("l2", "linf", "l0"):   # over the images that fool F
            row[f"{norm} mean"] = st.get(f"{norm}_mean_success", np.nan)
            row[f"{norm} median"] = st.get(f"{norm}_median_success", np.nan)
        row["s_per_1000"] = st["seconds_per_1000"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("attack")


def calibration_table(study, attacks=None):
    """Every (epsilon, F accuracy on the calibration images) pair tried, and which
    epsilon was chosen (the smallest on the grid with accuracy below the target)."""
    rows = []
    for a in attacks or study.params["attacks"]:
        cal = study.calibration(a)
        for eps, acc in cal["tried"]:
            rows.append({"attack": a, "eps": float(eps), "f_accuracy": float(acc),
                         "below_target": bool(acc < study.target_accuracy(a)),
                         "chosen": bool(np.isclose(eps, cal["eps"]))})
    return pd.DataFrame(rows, columns=["attack", "eps", "f_accuracy", "below_target", "chosen"])


def table2(study, attacks=None, features=None, reports=None):
    """Table II for one data set. ``reports`` (attack -> evaluate() dict) may be
    passed to reuse already computed evaluations."""
    paper = paper_values(PAPER_TABLE2, study.dataset)
    rows = []
    for a in attacks or study.params["attacks"]:
        rep = reports[a] if reports and a in reports else study.evaluate(a, features=features)
        adv = study.adversarial(a, "test")
        y = adv["y"]
        pp = paper.get(a, (np.nan,) * 4)
        rows.append({
            "attack": a, "eps": study.eps(a),
            "f(x_test)": float(np.mean(adv["pred_clean"] == y)),
            "f(x_adv)": float(np.mean(adv["pred_adv"] == y)),
            "D(x_test)": rep["tnr"], "D(x_test) 95% CI": rep["tnr_ci"],
            "D(x_adv)": rep["tpr"], "D(x_adv) 95% CI": rep["tpr_ci"],
            **threshold_columns(rep),
            "n_clean": rep["n_clean"], "n_adv (fooled F)": rep["n_adv"],
            "paper f(x_test)": pp[0], "paper f(x_adv)": pp[1],
            "paper D(x_test)": pp[2], "paper D(x_adv)": pp[3]})
    return pd.DataFrame(rows).set_index("attack")


def eps_levels(study, attack):
    """Table III levels: the calibrated epsilon times ``eps_multipliers``,
    capped at 1 for budgets that cannot exceed it (l_inf, a share of features)."""
    base = study.eps(attack)
    levels = [base * m for m in study.params["eps_multipliers"]]
    if attack_spec(attack).unit_budget:
        levels = [min(v, 1.0) for v in levels]
    return [float(round(v, 6)) for v in levels]


def table3(study, attack, levels=None, features=None, metric="balanced_accuracy"):
    """Rows: epsilon_fit level, columns: epsilon_test level; ``metric`` (one of
    :data:`CELL_METRICS`) in each cell."""
    read = _metric(metric)
    levels = levels or eps_levels(study, attack)
    out = pd.DataFrame(index=pd.Index(range(1, len(levels) + 1), name="eps_fit"),
                       columns=range(1, len(levels) + 1), dtype=float)
    for i, ef in enumerate(levels, 1):
        for j, et in enumerate(levels, 1):
            out.loc[i, j] = read(study.evaluate(attack, attack, ef, et, features))
    out.columns.name = "eps_test"
    return out, levels


def cross_attack(study, attacks=None, features=None, metric="balanced_accuracy"):
    """Rows: attack the detector was trained on; columns: attack tested; ``metric``
    (one of :data:`CELL_METRICS`) in each cell."""
    read = _metric(metric)
    attacks = attacks or study.params["attacks"]
    out = pd.DataFrame(index=pd.Index(attacks, name="trained on"), columns=attacks, dtype=float)
    for a in attacks:
        for b in attacks:
            out.loc[a, b] = read(study.evaluate(a, b, features=features))
    out.columns.name = "tested on"
    return out


def _metric(metric):
    if metric not in CELL_METRICS:
        raise ValueError(f"metric={metric!r} is not allowed; allowed: {list(CELL_METRICS)}")
    return CELL_METRICS[metric]
