"""D's detection quality against the number of training pairs (notebook 09).

Each point is a detector trained on the first ``n`` images of the study's
training split and their adversarial versions (those fooling F, as everywhere:
``train_positives``), with every other setting fixed (epochs, batch size, epoch
selection on the validation slice), and tested on the full test split. Budgets
come from one :class:`advsal.pipeline.Study` per calibration target
(``calib_target``): F accuracy 0.30 (Section IV.B) or the paper's Table II
f(x_adv), which asks for larger epsilons.
"""
from __future__ import annotations

import gc

import pandas as pd

__all__ = ["learning_curve", "curve_sizes", "trend", "matched_epochs", "steps_verdict",
           "COLUMNS"]

COLUMNS = ["calib_target", "target_f_acc", "attack", "eps", "features", "n_train",
           "n_pairs", "auc", "auc_ci_low", "auc_ci_high", "tpr_val5", "tpr_val5_ci_low",
           "tpr_val5_ci_high", "fpr_val5", "balanced_val5", "train_seconds"]


def curve_sizes(study, sizes, attack=None) -> list[int]:
    """The curve's training sizes: ``sizes`` (ints; ``"all"`` for every training image
    of ``attack``, ``Study.n_train``, or ``n_adv_train`` without one), sorted, each
    within [1, that number]."""
    n_max = study.params["n_adv_train"] if attack is None else study.n_train(attack)
    out = sorted({n_max if n == "all" else n for n in sizes})
    bad = [n for n in out if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= n_max]
    if bad:
        raise ValueError(f"curve_sizes={list(sizes)!r}: {bad} not in [1, {n_max}] (or 'all'; "
                         f"n_adv_train={study.params['n_adv_train']}, attack_train_sizes="
                         f"{study.params['attack_train_sizes']})")
    return out


def learning_curve(studies: dict, attacks, kinds, sizes, progress=print) -> pd.DataFrame:
    """One row per (calibration target, attack, detector input, training size):
    AUC with its Hanley-McNeil interval, and TPR (Wilson interval), FPR and balanced
    accuracy at the threshold flagging 5 % of the clean validation images.
    ``studies``: calibration target name -> Study; ``attacks``: a list, or a dict
    target -> list (``curve_attacks_by_target``; targets not in it take every attack
    of ``curve_attacks``)."""
    rows = []
    for target, st in studies.items():
        chosen = attacks if isinstance(attacks, list) else \
            attacks.get(target, st.params["curve_attacks"])
        for attack in chosen:
            eps = st.eps(attack)
            for kind in kinds:
                for n in curve_sizes(st, sizes, attack):
                    rep = st.evaluate(attack, features=kind, n_train=n)
                    meta = st.store.meta("detector", st.detector_key(attack, eps, kind, n),
                                         "keras")
                    st.release_detector(attack, eps, kind, n)   # memory stays bounded
                    at = rep["at"]["val5"]
                    rows.append({
                        "calib_target": target, "target_f_acc": st.target_accuracy(attack),
                        "attack": attack, "eps": eps, "features": kind, "n_train": n,
                        "n_pairs": meta["n_train_clean"] + meta["n_train_adv"],
                        "auc": rep["auc"], "auc_ci_low": rep["auc_ci"][0],
                        "auc_ci_high": rep["auc_ci"][1], "tpr_val5": at["tpr"],
                        "tpr_val5_ci_low": at["tpr_ci"][0], "tpr_val5_ci_high": at["tpr_ci"][1],
                        "fpr_val5": 1 - at["tnr"], "balanced_val5": at["balanced_accuracy"],
                        "train_seconds": meta["train_seconds"]})
                    gc.collect()
                    if progress:
                        progress(f"{target} {attack} {kind} n={n}: AUC {rep['auc']:.3f}")
    return pd.DataFrame(rows, columns=COLUMNS)


def _auc(row) -> str:
    """``auc [lo, hi]`` of a curve row, at three decimals."""
    return f"{row.auc:.3f} [{row.auc_ci_low:.3f}, {row.auc_ci_high:.3f}]"


def trend(curve: pd.DataFrame) -> list[str]:
    """Per curve, what its ends show: AUC at the smallest and the largest size, and
    whether the largest is above the smallest (intervals separate), and whether it is
    clear of chance (its interval above 0.5)."""
    lines = []
    keys = ["calib_target", "attack", "features"]
    for (target, attack, kind), part in curve.groupby(keys, sort=False):
        part = part.sort_values("n_train")
        first, last = part.iloc[0], part.iloc[-1]
        if last.auc_ci_low > first.auc_ci_high:
            move = "rises (intervals separate)"
        elif last.auc_ci_high < first.auc_ci_low:
            move = "falls (intervals separate)"
        else:
            move = "does not change beyond its intervals"
        chance = ("clear of chance" if last.auc_ci_low > 0.5 else
                  "not distinguishable from chance")
        lines.append(f"{attack}, {kind}, eps {last.eps:.4g} ({target}): AUC {_auc(first)} at "
                     f"n={first.n_train} -> {_auc(last)} at n={last.n_train}: {move}; at the "
                     f"largest n {chance}")
    return lines



def matched_epochs(study, n: int) -> int:
    """Epochs for D on the first ``n`` images to take about as many optimizer steps as D
    on all ``n_adv_train`` images for ``d_epochs``."""
    p = study.params
    if not 1 <= n <= p["n_adv_train"]:
        raise ValueError(f"curve_matched_sizes item {n!r} must be in [1, n_adv_train="
                         f"{p['n_adv_train']}]")
    return max(1, round(p["d_epochs"] * p["n_adv_train"] / n))


def steps_verdict(curve: pd.DataFrame, matched: pd.DataFrame) -> list[str]:
    """For each steps-matched point (``matched``: learning_curve rows with a ``d_epochs``
    column), its AUC beside the same n at the preset's epochs and beside the largest n
    of ``curve`` (same attack, input and target): whether more optimizer steps close the
    gap to the full set (data is then not what limits D at that n)."""
    lines = []
    for r in matched.itertuples():
        same = curve[(curve.calib_target == r.calib_target) & (curve.attack == r.attack)
                     & (curve.features == r.features)].sort_values("n_train")
        if same.empty:
            continue
        full, at_n = same.iloc[-1], same[same.n_train == r.n_train]
        ci = (r.auc_ci_low, r.auc_ci_high)
        text = (f"{r.attack}, {r.features}, n={r.n_train}: AUC {_auc(r)} with "
                f"{r.d_epochs} epochs (the optimizer steps of the full set)")
        if len(at_n):
            a = at_n.iloc[0]
            text += f", against {_auc(a)} with the preset's epochs"
        text += (f", and {_auc(full)} on all "
                 f"n={full.n_train}: ")
        if len(at_n) and at_n.iloc[0].auc_ci_high >= full.auc_ci_low:
            text += "D on n images already matched the full set with the preset's epochs"
        elif ci[0] > full.auc_ci_high or ci[1] >= full.auc_ci_low:
            text += "as many steps on fewer images reach the full set's AUC, so steps, not data, limited D at this n"
        elif len(at_n) and ci[0] > at_n.iloc[0].auc_ci_high:
            text += "more steps help but stay below the full set: both steps and data count"
        else:
            text += "more steps do not help: the number of images limits D at this n"
        lines.append(text)
    return lines
