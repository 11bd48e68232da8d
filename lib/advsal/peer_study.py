"""The peer detectors (:mod:`advsal.peer_detectors`) on a study's protocol, and
the comparison table of notebook 07.

Each peer is fitted on the images D trains on (clean detector-training images
and the adversarial versions that count as positives), its hyperparameter is
chosen on the validation slice, its thresholds are set on the clean validation
images, and it is scored on the same test images as D. Its scores are cached
under a key of everything they depend on, like every other stage.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .metrics import VAL_FPRS, detection_report, threshold_at_fpr
from .peer_detectors import LITERATURE, NothingToFit, fit_peer, peer_spec, rebuild_peer
from .tables import threshold_columns

__all__ = ["peer_key", "peer_scores", "fit_and_score", "study_peer", "strongest_peer",
           "peer_thresholds", "evaluate_peer", "comparison_table", "literature_table"]


def peer_key(study, name, attack, eps):
    """Cache key of peer ``name`` fitted on ``attack`` at ``eps``."""
    spec, p = peer_spec(name), study.params
    return {"stage": "peer", "peer": name, **study.training_key(attack, eps),
            "n_val": p["n_val"], **{k: p[k] for k in spec.params}, "version": 2}


def peer_scores(study, name, attack, eps=None) -> dict:
    """Logits of peer ``name`` (fitted on ``attack`` at ``eps``, calibrated when None)
    on the clean validation images and on the clean and adversarial test images,
    with the hyperparameter chosen on validation; cached (:func:`fit_and_score`)."""
    eps = study.budget(attack, eps)
    return study.cached("peer", peer_key(study, name, attack, eps),
                        lambda: fit_and_score(study, name, attack, eps))


def fit_and_score(study, name, attack, eps=None) -> dict:
    """What :func:`peer_scores` caches, computed anew: peer ``name`` fitted on the
    detector-training images of ``attack`` at ``eps``, and its scores."""
    spec, p = peer_spec(name), study.params
    eps = study.budget(attack, eps)
    t0 = time.perf_counter()
    x_ref, y_ref = _reference(study, spec)
    train, val = [(study.image_rows(s, attack, eps),
                   study.image_rows(s, attack, eps, adversarial=True))
                  for s in ("train", "val")]
    fitted = fit_peer(name, study.classifier(), x_ref, y_ref, train, val, p[spec.hyper],
                      batch_size=p["attack_batch_size"], seed=p["seed"])
    candidates = [float(c) for c in p[spec.hyper]]
    return {"val_clean": fitted.score(val[0]),
            "test_clean": fitted.score(study.images("test")[0]),
            "test_adv": fitted.score(study.adversarial(attack, "test", eps)["x_adv"]),
            "candidates": np.asarray(candidates, np.float64),
            "val_auc": np.asarray([fitted.val_auc[c] for c in candidates], np.float64),
            "chosen": np.asarray(fitted.index), **fitted.linear(),
            "seconds": np.asarray(time.perf_counter() - t0)}


def _reference(study, spec):
    return study.images("peer_ref" if spec.reference == "ref" else "peer_fit")


def study_peer(study, name, attack, eps=None):
    """Peer ``name`` as fitted by :func:`peer_scores` (rebuilt from the cache, not
    refitted): a :class:`advsal.peer_detectors.FittedPeer` whose ``score`` and
    differentiable ``logit_tf`` the adaptive attack uses."""
    p = study.params
    s = peer_scores(study, name, attack, eps)
    x_ref, y_ref = _reference(study, peer_spec(name))
    return rebuild_peer(name, study.classifier(), x_ref, y_ref,
                        float(s["candidates"][int(s["chosen"])]), s,
                        batch_size=p["attack_batch_size"])


def peer_thresholds(study, name, attack, eps=None) -> dict:
    """The decision thresholds of peer ``name`` (name -> logit), set as D's are
    (:meth:`advsal.pipeline.Study.thresholds`): logit 0, and those flagging 5 % and
    1 % of the clean validation images."""
    sv = peer_scores(study, name, attack, eps)["val_clean"]
    return {"logit0": 0.0, **{n: threshold_at_fpr(sv, f) for n, f in VAL_FPRS.items()}}


def strongest_peer(study, attack, peers=None) -> str | None:
    """The peer with the highest validation AUC on ``attack`` (test images unused);
    None when no peer can be fitted (``attack`` fooled F on no training or no validation
    image: :class:`advsal.peer_detectors.NothingToFit`)."""
    peers = study.params["peer_detectors"] if peers is None else peers
    if not peers:
        raise ValueError("peer_detectors is empty; name at least one peer")
    aucs = {}
    for name in peers:
        try:
            s = peer_scores(study, name, attack)
        except NothingToFit:
            continue
        aucs[name] = float(s["val_auc"][int(s["chosen"])])
    return max(aucs, key=aucs.get) if aucs else None


def evaluate_peer(study, name, attack, eps=None) -> dict:
    """Detection report of peer ``name`` on ``attack``'s test images (those fooling F),
    as :meth:`advsal.pipeline.Study.evaluate` reports D; ``hyper`` is the chosen
    candidate."""
    eps = study.budget(attack, eps)
    s = peer_scores(study, name, attack, eps)
    sa = s["test_adv"][study.fooled_mask(attack, eps)]
    rep = detection_report(s["test_clean"], sa, scores_val_clean=s["val_clean"])
    rep["hyper"] = float(s["candidates"][int(s["chosen"])])
    return rep


def _row(attack, detector, kind, eps, rep):
    cols = {}
    for k, v in threshold_columns(rep).items():
        cols[k] = v
        if k == "AUC":
            cols["AUC 95% CI"] = rep["auc_ci"]
    return {"attack": attack, "detector": detector, "kind": kind, "eps": eps, **cols,
            "n_clean": rep["n_clean"], "n_adv (fooled F)": rep["n_adv"]}


def comparison_table(study, attacks=None, peers=None, kinds=None) -> pd.DataFrame:
    """One row per (attack, detector): the paper's D, the input baselines trained for
    that attack (``baseline_attacks``) and the peers; balanced accuracy at logit 0,
    AUC (with Hanley-McNeil 95 % interval), TPR and test FPR at the validation
    thresholds. ``kind`` says which family a detector belongs to."""
    p = study.params
    attacks = attacks or p["peer_attacks"]
    peers = p["peer_detectors"] if peers is None else peers
    kinds = kinds or p["baseline_features"]
    rows = []
    for a in attacks:
        eps = study.eps(a)
        rows.append(_row(a, p["detector_features"], "paper's D", eps, study.evaluate(a)))
        if a in p["baseline_attacks"]:
            rows += [_row(a, k, "input baseline", eps, study.evaluate(a, features=k))
                     for k in kinds if k != p["detector_features"]]
        for name in peers:
            try:
                rep = evaluate_peer(study, name, a)
            except NothingToFit as err:   # a row that says why it is empty
                rows.append({"attack": a, "detector": name, "kind": "peer", "eps": eps,
                             "note": str(err)})
                continue
            rows.append({**_row(a, name, "peer", eps, rep), "hyperparameter": rep["hyper"]})
    return pd.DataFrame(rows).set_index("attack")


def literature_table(study, peers=None) -> pd.DataFrame:
    """Ours beside the published peer numbers (:data:`LITERATURE`) where the data set and
    attack match, at the published epsilon: our D and peers trained and tested at it."""
    p = study.params
    peers = p["peer_detectors"] if peers is None else peers
    rows = []
    for ref in LITERATURE:
        if ref["dataset"] != study.dataset or ref["attack"] not in p["attacks"]:
            continue
        a, eps = ref["attack"], study.budget(ref["attack"], ref["eps"])
        ours = None
        if ref["detector"] in peers:
            try:
                ours = evaluate_peer(study, ref["detector"], a, eps)
            except NothingToFit:   # no adversarial image at this budget: no number
                pass
        d = study.evaluate(a, det_eps=eps, test_eps=eps)
        rows.append({"attack": a, "eps": eps, "detector": ref["detector"],
                     "published TPR": ref["tpr"], "published FPR": ref["fpr"],
                     "published as": ref.get("note", ref["detector"]),
                     "our TPR@val5%": None if ours is None else ours["at"]["val5"]["tpr"],
                     "our test FPR@val5%": None if ours is None else 1 - ours["at"]["val5"]["tnr"],
                     "our D TPR@val5%": d["at"]["val5"]["tpr"],
                     "our D test FPR@val5%": 1 - d["at"]["val5"]["tnr"]})
    return pd.DataFrame(rows)
