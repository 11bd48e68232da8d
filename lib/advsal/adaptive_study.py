"""The adaptive and Eq. 10 attacks of :mod:`advsal.adaptive` on a
:class:`advsal.pipeline.Study`: the detectors under attack, the defender's
thresholds, cached runs, and the tables of notebook 08.

Each run is a cached stage of the study (``Study.cached``) whose key holds the
key of the detector attacked (``Study.detector_key``) and the threshold the
attacker must get under."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .adaptive import (ADAPTIVE_VERSION, EQ10_VERSION, adaptive_attack, evaluate_system,
                       second_round_attack, system_rate)
from .attacks import attack_spec
from .pipeline import Study

__all__ = ["study_thresholds", "rates_at_thresholds", "study_second_round", "study_adaptive",
           "attacked_images", "eq10_table", "adaptive_table", "adaptive_eps_grid",
           "study_adaptive_peer", "peer_adaptive_table",
           "ADAPTIVE_VARIANTS", "TRANSFER_KINDS"]


def _default_eps(study, det_attack):
    """The l_inf budget of the attacks on D: the one D was trained at."""
    if not attack_spec(det_attack).linf_ball:
        raise ValueError(f"adaptive_det_attack={det_attack!r} has no l_inf budget; give eps "
                         "(the attacks on F and D are l_inf)")
    return study.eps(det_attack)


def study_thresholds(study: Study, kind, det_attack=None) -> dict:
    """The defender's thresholds of the ``kind`` detector trained on ``det_attack``
    (``logit0``, ``val5``, ``val1``: :meth:`advsal.pipeline.Study.thresholds`);
    empty for the undefended F."""
    if kind is None:
        return {}
    det_attack = det_attack or study.params["adaptive_det_attack"]
    return study.thresholds(det_attack, study.budget(det_attack), kind)


def _threshold_value(study, kind, det_attack, name):
    """The logit of the defender's threshold ``name`` (0 for the undefended F)."""
    thresholds = study_thresholds(study, kind, det_attack)
    if kind is not None and name not in thresholds:
        raise ValueError(f"threshold={name!r} is not allowed; allowed: {list(thresholds)}")
    return thresholds.get(name, 0.0)


def rates_at_thresholds(res, thresholds, mask):
    """Success of an attack on F and D at each of the defender's ``thresholds``
    (name -> logit), over the images in ``mask`` (those F classifies correctly):
    ``rate`` (fools F and judged clean), with its Wilson interval, and
    ``among_fooled`` (judged clean among the images that fool F). For the
    undefended F (no thresholds) the single entry ``none`` is F's error rate."""
    mask = np.asarray(mask, bool)
    fooled = np.asarray(res["fooled_f"], bool)
    out = {}
    for name, t in (thresholds or {"none": np.inf}).items():
        clean = np.asarray(res["d_logit"]) <= t
        r = system_rate(fooled & clean, mask)
        fm = fooled & mask
        r["among_fooled"] = float(clean[fm].mean()) if fm.any() else float("nan")
        out[name] = r
    return out


def attacked_images(study: Study, n: int | None = None):
    """The first ``n`` test images (default ``adaptive_n``), their labels, and the
    mask of those F classifies correctly (the denominator of every rate)."""
    x, y = study.images("test")
    n = min(int(n or study.params["adaptive_n"]), len(x))
    x, y = x[:n], y[:n]
    return x, y, evaluate_system(study.classifier(), None, x, y)["pred"] == y


def study_second_round(study, kind, sigma, eps=None, det_attack=None, steps=None,
                       step_ratio=None, n=None, threshold="logit0"):
    """Eq. 10 against F and the ``kind`` detector trained on ``det_attack``
    (default ``params['adaptive_det_attack']``) on the first ``n`` test images;
    ``kind=None`` is plain BIM against the undefended F. The attack keeps per
    image the first iterate that gets under the defender's ``threshold``
    (:func:`study_thresholds`). Cached. Returns the arrays of
    :func:`evaluate_system` plus ``x_adv``, ``y``, ``pred_clean``, ``found``."""
    p = study.params
    det_attack = det_attack or p["adaptive_det_attack"]
    eps = float(eps if eps is not None else _default_eps(study, det_attack))
    steps = int(steps or p["eq10_steps"])
    step_ratio = float(step_ratio or p["eq10_step_ratio"])
    n = int(n or p["adaptive_n"])
    det_eps = study.budget(det_attack)
    thr = _threshold_value(study, kind, det_attack, threshold)
    key = {"stage": "eq10", "version": EQ10_VERSION, "f": study.f_key,
           "detector": None if kind is None else study.detector_key(det_attack, det_eps, kind),
           "eps": eps, "sigma": float(sigma), "steps": steps, "step_ratio": step_ratio, "n": n,
           "seed": p["seed"], "quantize": p["adv_quantize"], "threshold": float(thr)}

    def compute():
        f = study.classifier()
        d = None if kind is None else study.detector(det_attack, det_eps, kind)
        x, y, _ = attacked_images(study, n)
        xa, found = second_round_attack(f, d, x, y, eps, kind or "image", float(sigma), steps,
                                        step_ratio * eps, p["saliency_norm"], threshold=thr,
                                        quantize=p["adv_quantize"] == "8bit")
        res = evaluate_system(f, d, xa, y, kind or "image", p["saliency_norm"], threshold=thr)
        pred_clean = evaluate_system(f, None, x, y)["pred"]
        return {"x_adv": xa, "y": y, "pred_clean": pred_clean, "found": found,
                "threshold": np.float64(thr), **res}

    return study.cached("eq10", key, compute)


def study_adaptive(study, kind, eps, mode="full", det_attack=None, n=None, steps=None,
                   restarts=None, step_ratio=None, lambdas=None, betas=None, anneal_steps=None,
                   kappa=None, batch_size=64, threshold="logit0"):
    """The adaptive attack against F and the ``kind`` detector (``kind=None``:
    the undefended F) at l_inf budget ``eps`` on the first ``n`` test images;
    settings default to the ``adaptive_*`` parameters. Cached. Returns the
    arrays of :func:`evaluate_system` (real F and D) plus ``x_adv``, ``y``,
    ``pred_clean``, ``found`` (success as tracked during the run) and
    ``first_step``. ``threshold`` names the defender's threshold the attacker
    must get under (``logit0``, ``val5``, ``val1``: :func:`study_thresholds`);
    its value is returned as ``threshold``."""
    p = study.params
    det_attack = det_attack or p["adaptive_det_attack"]
    det_eps = study.budget(det_attack)
    st = _adaptive_settings(study, det_eps, eps, n=n, steps=steps, restarts=restarts,
                            step_ratio=step_ratio, lambdas=lambdas, betas=betas,
                            anneal_steps=anneal_steps, kappa=kappa)
    thr = _threshold_value(study, kind, det_attack, threshold)
    key = {"stage": "adaptive", "version": ADAPTIVE_VERSION, "f": study.f_key,
           "detector": None if kind is None else study.detector_key(det_attack, det_eps, kind),
           "eps": float(eps), "mode": mode if kind is not None else "undefended", **st,
           "saliency_norm": p["saliency_norm"], "seed": p["seed"], "threshold": float(thr),
           "quantize": p["adv_quantize"]}

    def compute():
        d = None if kind is None else study.detector(det_attack, det_eps, kind)
        return _run_adaptive(study, d, kind or "image", eps, mode, st, thr, batch_size)

    return study.cached("adaptive", key, compute)


def _adaptive_settings(study, det_eps, eps, **given) -> dict:
    """The adaptive attack's settings: ``given`` where not None, else the
    ``adaptive_*`` parameters; with its step size (all part of its cache key)."""
    p = study.params
    st = {k: given.get(k) if given.get(k) is not None else p[f"adaptive_{k}"]
          for k in ("n", "steps", "restarts", "step_ratio", "lambdas", "betas",
                    "anneal_steps", "kappa")}
    st = {"n": int(st["n"]), "steps": int(st["steps"]), "restarts": int(st["restarts"]),
          "step_ratio": float(st["step_ratio"]), "lambdas": [float(v) for v in st["lambdas"]],
          "betas": [float(v) for v in st["betas"]], "anneal_steps": int(st["anneal_steps"]),
          "kappa": float(st["kappa"])}
    # Budgets beyond the largest bounded one (the "unbounded" sanity point) keep that
    # budget's step size: steps of 10 % of an unbounded budget jump straight to
    # saturated images, which the first-layer detector flags (measured: 0 % at
    # eps = 1 against 100 % at eps = 0.3 on MNIST with proportional steps).
    st["step_size"] = st["step_ratio"] * min(float(eps),
                                             det_eps * max(p["adaptive_eps_multipliers"]))
    return st


def _run_adaptive(study, d, kind, eps, mode, st, thr, batch_size=64) -> dict:
    """:func:`advsal.adaptive.adaptive_attack` with settings ``st`` against F and ``d``
    on the attacked test images, judged by the real networks."""
    p = study.params
    f = study.classifier()
    x, y, _ = attacked_images(study, st["n"])
    out = adaptive_attack(f, d, x, y, float(eps), kind, p["saliency_norm"], st["steps"],
                          st["restarts"], st["step_size"], st["lambdas"], st["betas"],
                          st["anneal_steps"], mode, st["kappa"], p["seed"], batch_size,
                          threshold=thr, quantize=p["adv_quantize"] == "8bit")
    res = evaluate_system(f, d, out["x_adv"], y, kind, p["saliency_norm"], threshold=thr)
    pred_clean = evaluate_system(f, None, x, y)["pred"]
    return {"x_adv": out["x_adv"], "y": y, "pred_clean": pred_clean, "found": out["success"],
            "first_step": out["first_step"], "threshold": np.float64(thr), **res}


def study_adaptive_peer(study, name, eps, det_attack=None, threshold="logit0", batch_size=64):
    """The adaptive attack of :func:`study_adaptive` against F and peer detector ``name``
    (fitted on ``det_attack``), through the peer's own gradient (no surrogate is
    needed: its score is differentiable in the image). Cached."""
    from .peer_study import peer_key, peer_thresholds, study_peer

    p = study.params
    det_attack = det_attack or p["adaptive_det_attack"]
    det_eps = study.budget(det_attack)
    st = _adaptive_settings(study, det_eps, eps)
    thresholds = peer_thresholds(study, name, det_attack)
    if threshold not in thresholds:
        raise ValueError(f"threshold={threshold!r} is not allowed; allowed: {list(thresholds)}")
    thr = thresholds[threshold]
    key = {"stage": "adaptive_peer", "version": ADAPTIVE_VERSION,
           "peer": peer_key(study, name, det_attack, det_eps), "eps": float(eps), **st,
           "seed": p["seed"], "threshold": float(thr), "quantize": p["adv_quantize"]}

    def compute():
        d = study_peer(study, name, det_attack, det_eps)
        return _run_adaptive(study, d, "image", eps, "full", st, thr, batch_size)

    return study.cached("adaptive_peer", key, compute)


def peer_adaptive_table(study: Study, name: str, eps0: float, ok, log=print) -> pd.DataFrame:
    """The adaptive attack against peer ``name`` at every budget of
    :func:`adaptive_eps_grid` and each of the defender's thresholds, beside the
    non-adaptive reference (the detector-training attack's own images at that budget,
    scored by the peer); rates over the images in ``ok``, as :func:`adaptive_table`."""
    from .peer_study import peer_thresholds, study_peer

    p = study.params
    det_attack, names = p["adaptive_det_attack"], p["adaptive_thresholds"]
    x, y, _ = attacked_images(study)
    peer = study_peer(study, name, det_attack)
    thresholds = peer_thresholds(study, name, det_attack)
    rows = []
    for eps in adaptive_eps_grid(study, eps0):
        for t in names:
            t0 = time.perf_counter()
            res = study_adaptive_peer(study, name, eps, threshold=t)
            r = rates_at_thresholds(res, {t: float(res["threshold"])}, ok)[t]
            rows.append(_rate_row(eps, eps0, f"{name} (adaptive)", t, r, res, ok))
            if log:
                log(f"eps={eps:.4g} {name} (adaptive) {t:6s} {r['rate']:.3f} "
                    f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] ({time.perf_counter() - t0:.1f} s)")
        xa = study.adversarial(det_attack, "test", eps)["x_adv"][:len(x)]
        res = evaluate_system(study.classifier(), peer, xa, y)
        for t, r in rates_at_thresholds(res, {k: thresholds[k] for k in names}, ok).items():
            rows.append(_rate_row(eps, eps0, f"{name} (non-adaptive {det_attack})", t, r, res, ok))
    return pd.DataFrame(rows).set_index("attack")


def _rate_row(eps, eps0, label, t, r, res, ok):
    return {"eps": eps, "eps / calibrated": eps / eps0, "attack": label, "threshold": t,
            "rate": r["rate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "k/n": f"{r['k']}/{r['n']}", "among fooled": r["among_fooled"],
            "F fooled": float(res["fooled_f"][ok].mean())}


def eq10_table(study: Study, eps0: float, ok) -> pd.DataFrame:
    """Eq. 10 at ``eps0`` against every baseline detector (and the undefended F) at
    each of the defender's thresholds, attacked one by one (best iterate kept):
    rate of images that fool F and are judged clean, over the images in ``ok``."""
    p = study.params
    rows = []
    for kind in [None] + list(p["baseline_features"]):
        for sigma in p["eq10_sigmas"]:
            if kind is None and sigma > 0:
                continue
            for t in (p["adaptive_thresholds"] if kind is not None else ["none"]):
                res = study_second_round(study, kind, sigma, eps=eps0,
                                         threshold=t if kind else "logit0")
                r = rates_at_thresholds(res, {t: float(res["threshold"])} if kind else None, ok)[t]
                rows.append({"detector": kind or "none (undefended F)", "sigma": sigma,
                             "eps": eps0, "threshold": t, "fools F and D": r["rate"],
                             "95% CI": (r["ci_low"], r["ci_high"]), "k/n": f"{r['k']}/{r['n']}",
                             "F fooled": float(res["fooled_f"][ok].mean()),
                             "judged clean among fooled": r["among_fooled"]})
    return pd.DataFrame(rows).set_index("detector")


# (row label, detector input attacked or None for the undefended F, mode)
ADAPTIVE_VARIANTS = [("undefended F", None, "full"),
                     ("image+saliency (adaptive, surrogate)", "image+saliency", "full"),
                     ("image+saliency (image channel only)", "image+saliency", "image_only"),
                     ("first_layer (adaptive)", "first_layer", "full")]
TRANSFER_KINDS = ("image+saliency", "first_layer")


def adaptive_eps_grid(study: Study, eps0: float) -> list[float]:
    """The l_inf budgets attacked: ``adaptive_eps_multipliers`` times ``eps0`` (at
    most 1) and the ``adaptive_extra_eps`` sanity points."""
    p = study.params
    return sorted({float(round(min(eps0 * m, 1.0), 6)) for m in p["adaptive_eps_multipliers"]}
                  | {float(e) for e in p["adaptive_extra_eps"]})


def adaptive_table(study: Study, eps0: float, ok, thresholds: dict, log=print) -> pd.DataFrame:
    """Every variant of :data:`ADAPTIVE_VARIANTS` at every budget of
    :func:`adaptive_eps_grid` and each of the defender's thresholds (attacked one by
    one: the attacker stops once under it), plus the non-adaptive reference: the
    detector-training attack's own images at that budget, scored at the
    ``thresholds`` (kind -> name -> logit; a kind not in it, such as the first-layer D
    when ``baseline_features`` leaves it out, at :func:`study_thresholds`). Rates over
    the images in ``ok``."""
    p = study.params
    det_attack, names = p["adaptive_det_attack"], p["adaptive_thresholds"]
    f = study.classifier()
    x, y, _ = attacked_images(study)

    def row(eps, label, t, r, res):
        return _rate_row(eps, eps0, label, t, r, res, ok)

    rows = []
    for eps in adaptive_eps_grid(study, eps0):
        for label, kind, mode in ADAPTIVE_VARIANTS:
            for t in (names if kind is not None else ["none"]):
                t0 = time.perf_counter()
                res = study_adaptive(study, kind, eps, mode, threshold=t if kind else "logit0")
                r = rates_at_thresholds(res, {t: float(res["threshold"])} if kind else None, ok)[t]
                rows.append(row(eps, label, t, r, res))
                if log:
                    log(f"eps={eps:.4g} {label:40s} {t:6s} {r['rate']:.3f} [{r['ci_low']:.3f}, "
                        f"{r['ci_high']:.3f}] ({time.perf_counter() - t0:.1f} s)")
        xa = study.adversarial(det_attack, "test", eps)["x_adv"][:len(x)]
        for kind in TRANSFER_KINDS:
            d = study.detector(det_attack, eps0, kind)
            res = evaluate_system(f, d, xa, y, kind, p["saliency_norm"])
            thr = thresholds[kind] if kind in thresholds else study_thresholds(study, kind)
            for t, r in rates_at_thresholds(res, {k: thr[k] for k in names},
                                            ok).items():
                rows.append(row(eps, f"{kind} (non-adaptive {det_attack})", t, r, res))
    return pd.DataFrame(rows).set_index("attack")
