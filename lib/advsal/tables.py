"""The paper's tables as DataFrames, computed from a :class:`advsal.pipeline.Study`.

* :func:`attack_summary` - epsilon, success rate and distortion per attack.
* :func:`table2` - Table II: f(x_test), f(x_adv), D(x_test), D(x_adv) per
  attack with Wilson 95 % intervals, ROC AUC and TPR at 5 % FPR, beside the
  paper's values.
* :func:`table3` - Table III/IV: detectors trained at epsilon_fit, tested at
  epsilon_test (balanced detection accuracy).
* :func:`cross_attack` - Fig. 2: detectors trained on one attack, tested on
  every attack (balanced detection accuracy).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .presets import PAPER_TABLE2

__all__ = ["attack_summary", "table2", "table3", "eps_levels", "cross_attack"]


def attack_summary(study, attacks=None, split="test"):
    rows = []
    for a in attacks or study.params["attacks"]:
        cal = study.calibration(a)
        st = study.attack_stats(a, split)
        rows.append({"attack": a, "eps": cal["eps"],
                     "calibrated": (not cal.get("fixed")) and a != "cw_l2",
                     "target_reached": cal.get("reached", None),
                     "f_acc_adv": st["acc_adv"], "success_rate": st["success_rate"],
                     "linf_mean": st["linf_mean"], "l2_mean": st["l2_mean"],
                     "l0_mean": st["l0_mean"], "linf_max": st["linf_max"],
                     "l2_max": st["l2_max"], "l0_max": st["l0_max"],
                     "s_per_1000": st["seconds_per_1000"]})
    return pd.DataFrame(rows).set_index("attack")


def table2(study, attacks=None, features=None, reports=None):
    """Table II for one data set. ``reports`` (attack -> evaluate() dict) may be
    passed to reuse already computed evaluations."""
    paper = PAPER_TABLE2.get("imagenet10" if study.dataset == "imagenette" else study.dataset, {})
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
            "AUC": rep["auc"], "TPR@5%FPR": rep["tpr_at_5fpr"],
            "n_clean": rep["n_clean"], "n_adv (fooled F)": rep["n_adv"],
            "paper f(x_test)": pp[0], "paper f(x_adv)": pp[1],
            "paper D(x_test)": pp[2], "paper D(x_adv)": pp[3]})
    return pd.DataFrame(rows).set_index("attack")


def eps_levels(study, attack):
    """Table III levels: the calibrated epsilon times ``eps_multipliers``,
    capped at 1 for l_inf budgets."""
    base = study.eps(attack)
    levels = [base * m for m in study.params["eps_multipliers"]]
    if attack in ("fgsm", "iter_linf", "jsma"):
        levels = [min(v, 1.0) for v in levels]
    return [float(round(v, 6)) for v in levels]


def table3(study, attack, levels=None, features=None):
    """Rows: epsilon_fit level, columns: epsilon_test level; balanced accuracy."""
    levels = levels or eps_levels(study, attack)
    out = pd.DataFrame(index=pd.Index(range(1, len(levels) + 1), name="eps_fit"),
                       columns=range(1, len(levels) + 1), dtype=float)
    for i, ef in enumerate(levels, 1):
        for j, et in enumerate(levels, 1):
            rep = study.evaluate(attack, attack, ef, et, features)
            out.loc[i, j] = rep["balanced_accuracy"]
    out.columns.name = "eps_test"
    return out, levels


def cross_attack(study, attacks=None, features=None):
    """Rows: attack the detector was trained on; columns: attack tested."""
    attacks = attacks or study.params["attacks"]
    out = pd.DataFrame(index=pd.Index(attacks, name="trained on"), columns=attacks, dtype=float)
    for a in attacks:
        for b in attacks:
            out.loc[a, b] = study.evaluate(a, b, features=features)["balanced_accuracy"]
    out.columns.name = "tested on"
    return out
