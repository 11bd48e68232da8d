"""Running any registered attack over an array (:func:`craft`) and measuring what
it did (:func:`attack_stats`)."""
from __future__ import annotations

import numpy as np

from .. import work
from .common import predict
from .spec import attack_defaults, attack_spec, check_eps

__all__ = ["craft", "attack_stats", "distortions", "stats_from_distortions"]


def craft(model, attack, x, eps=None, params=None, seed=0, progress=True):
    """Adversarial versions of ``x`` against ``model`` with ``attack``.

    Returns ``(x_adv, info)``; ``info`` holds the targets for targeted attacks.
    ``params`` supplies the attack's settings (see :mod:`advsal.presets`); those
    missing take the attack's defaults (its spec), the batch size 256.
    """
    spec = attack_spec(attack)
    params = {**attack_defaults(), "attack_batch_size": 256, **(params or {})}
    x = np.asarray(x, np.float32)
    check_eps(attack, eps, n_features=int(np.prod(x.shape[1:])))
    if x.ndim != 4 or x.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(f"x has shape {x.shape}; the network expects (N, "
                         f"{', '.join(map(str, model.input_shape[1:]))})")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1]; got range [{x.min():.3g}, {x.max():.3g}]")
    x_adv, info = spec.run(model, x, eps, params, seed, progress)
    if spec.work is not None and not spec.stops_early:
        work.add("attacks", model, len(x), spec.work(params, eps, int(np.prod(x.shape[1:])),
                                                     int(model.output_shape[-1])))
    return np.asarray(x_adv, np.float32), info


def attack_stats(model, x, x_adv, y, pred_adv=None, pred_clean=None):
    """Success rate and distortion of an adversarial set.

    An adversarial example *fools F* when F's prediction on it differs from
    the true label. Distortions are per image, over all features; the
    ``*_success`` ones are over the images that fool F and whose clean version
    F classifies correctly (the images the detector tables count).
    """
    if pred_adv is None:
        pred_adv = predict(model, x_adv).argmax(1)
    if pred_clean is None:
        pred_clean = predict(model, x).argmax(1)
    return stats_from_distortions(distortions(x, x_adv), y, pred_adv, pred_clean)


def distortions(x, x_adv) -> dict:
    """Per-image l_inf, l_2 and l_0 (fraction of features changed) of ``x_adv - x``."""
    d = (np.asarray(x_adv, np.float32) - np.asarray(x, np.float32)).reshape(len(x), -1)
    return {"linf": np.abs(d).max(1), "l2": np.sqrt((d ** 2).sum(1)),
            "l0": (np.abs(d) > 1e-6).sum(1) / d.shape[1]}


def stats_from_distortions(dist, y, pred_adv, pred_clean):
    """:func:`attack_stats` from per-image distortions (:func:`distortions`)."""
    fooled = pred_adv != y
    out = {"n": int(len(y)), "acc_adv": float(np.mean(~fooled)),
           "success_rate": float(np.mean(fooled)), "n_success": int(fooled.sum())}
    for name, v in dist.items():
        out[f"{name}_mean"], out[f"{name}_max"] = float(v.mean()), float(v.max())
        ok = v[fooled & (pred_clean == y)]   # the distortion an attack needs to fool F
        out[f"{name}_mean_success"] = float(ok.mean()) if len(ok) else float("nan")
        out[f"{name}_median_success"] = float(np.median(ok)) if len(ok) else float("nan")
    return out
