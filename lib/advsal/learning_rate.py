"""D's learning rate chosen on the validation slice, for each input (notebook 07).

Which input detects best can hinge on D's learning rate: at the full CIFAR-10
preset the pixels-only D collapsed at 1e-3 and trailed at 1e-4 what the paper's D
reached at 1e-3 (README, "CIFAR-10 at the full preset"). Picking each input's rate
by its test numbers would flatter every input. Here each (attack, input) is trained
at every rate of ``d_lr_candidates`` and keeps the rate whose detector has the
lowest loss on the validation slice (clean validation images and their adversarial
versions that count as positives, the loss D's epoch selection already uses); the
test images decide nothing.
"""
from __future__ import annotations

import pandas as pd

from .tables import threshold_columns

__all__ = ["rate_table", "chosen_reports", "chosen_rates", "history_table"]


def _detector_info(study, attack, kind) -> dict:
    """The stage-cache record of ``study``'s detector for (``attack``, ``kind``) at the
    attack's budget (trained or read from the cache first): its ``history`` and
    ``train_seconds``."""
    study.detector(attack, features=kind)
    return study.store.meta("detector", study.detector_key(attack, study.budget(attack), kind),
                            "keras")


def _kept_history(study, attack, kind) -> dict:
    """The training history of ``study``'s detector for (``attack``, ``kind``), trained
    or read from the cache first; it must hold the validation losses D's epoch was
    chosen by."""
    hist = _detector_info(study, attack, kind)["history"]
    if not hist.get("select_loss"):
        raise ValueError(f"the {kind} detector for {attack} kept no validation loss; rate "
                         "selection needs d_select='val_loss'")
    return hist


def _at_rate(study, rate):
    """``study`` with every input's D at ``rate`` (no ``d_lr_inputs`` in the way)."""
    return study.sibling(d_lr=rate, d_lr_inputs={})


def _val_loss(hist) -> float:
    """The validation loss a detector with training history ``hist`` was kept at."""
    return float(min(hist["select_loss"]))


def chosen_rates(study, attack, kinds, rates) -> dict:
    """Input -> the rate of ``rates`` whose detector on ``attack`` has the lowest
    validation loss (as :func:`rate_table` chooses, without scoring the test images): a
    ``d_lr_inputs`` value, so another notebook works with the detectors notebook 07
    keeps (:meth:`advsal.pipeline.Study.sibling`)."""
    return {kind: min(rates, key=lambda r: _val_loss(_kept_history(_at_rate(study, r), attack,
                                                                   kind)))
            for kind in kinds}


def rate_table(study, attacks, kinds, rates) -> pd.DataFrame:
    """One row per (attack, input, learning rate): the validation loss that chooses the
    rate (``chosen``: the lowest of the attack and input), the selected epoch, and the
    test numbers of :meth:`advsal.pipeline.Study.evaluate` (balanced accuracy at logit 0,
    AUC with its interval, TPR and test FPR at the validation thresholds). ``rates``: the
    ``d_lr_candidates`` preset parameter (checked there)."""
    rows = []
    for attack in attacks:
        for kind in kinds:
            part = []
            for rate in rates:
                sib = _at_rate(study, rate)
                hist = _kept_history(sib, attack, kind)
                rep = sib.evaluate(attack, features=kind)
                part.append({"attack": attack, "detector": kind, "d_lr": rate,
                             "val loss": _val_loss(hist),
                             "selected epoch": hist.get("selected_epoch"),
                             **threshold_columns(rep), "AUC 95% CI": rep["auc_ci"]})
            best = min(range(len(part)), key=lambda i: part[i]["val loss"])
            for i, row in enumerate(part):
                row["chosen"] = i == best
            rows += part
    return pd.DataFrame(rows).set_index("attack")


def chosen_reports(study, table: pd.DataFrame) -> dict:
    """(attack, input) -> the test report of the detector at its chosen rate (rows of
    :func:`rate_table` with ``chosen``), for :func:`advsal.verdicts.input_comparison`."""
    out = {}
    for attack, row in table[table["chosen"]].iterrows():
        out[(attack, row["detector"])] = _at_rate(study, row["d_lr"]).evaluate(
            attack, features=row["detector"])
    return out


def history_table(study, attack, kinds) -> pd.DataFrame:
    """One row per (input, epoch) of ``study``'s detectors on ``attack`` (each at its own
    ``Study.d_lr``), read from their stage-cache records: training loss and accuracy,
    validation loss (NaN when D kept no validation loss), whether that epoch is the one
    kept, the epoch's wall time and the detector's whole training time."""
    rows = []
    for kind in kinds:
        info = _detector_info(study, attack, kind)
        hist = info["history"]
        val = hist.get("select_loss") or [float("nan")] * len(hist["loss"])
        kept = hist.get("selected_epoch", len(hist["loss"]))
        for i, (loss, acc, v, sec) in enumerate(zip(hist["loss"], hist["accuracy"], val,
                                                     hist["epoch_seconds"])):
            rows.append({"detector": kind, "d_lr": study.d_lr(kind), "epoch": i + 1,
                         "train loss": loss, "train accuracy": acc, "val loss": v,
                         "kept": i + 1 == kept, "epoch s": sec,
                         "D train s": info["train_seconds"]})
    return pd.DataFrame(rows).set_index("detector")
