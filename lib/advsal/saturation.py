"""Does F's confidence stall the iterative l_2 attack? Gradient norms beside the floor.

    python -m advsal.saturation --dataset mnist --presets quick full [--n 300] [--eps 1 2 8]

cleverhans normalises the l_2 step by ``sqrt(max(1e-12, |g|^2))``: where the
cross-entropy gradient's norm ``|g|`` is below :data:`FLOOR` the step shrinks with
it. For each preset's F (from the cache) and its first ``n`` calibration images this
reports the share of images below the floor, the median gradient norm and logit
margin, and F's accuracy under iterative l_2 at each budget with the loss as
cleverhans has it (scale 1) and scaled by :data:`SCALE` (the same step directions
without the floor, the ``iter_l2_loss_scale`` parameter), on the 8-bit grid. It
writes ``<figures>/saturation_<dataset>.csv``.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

__all__ = ["FLOOR", "SCALE", "gradient_norms", "saturation", "main"]

FLOOR = 1e-6      # sqrt of cleverhans' 1e-12 on the squared norm
SCALE = 1e10      # the full preset's iter_l2_loss_scale


def gradient_norms(model, x):
    """Per image: the l_2 norm of the cross-entropy gradient at F's predicted label
    (what the untargeted attack's first step follows) and F's logit margin."""
    import tensorflow as tf

    xt = tf.constant(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = model(xt, training=False)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.argmax(z, 1), logits=z)
    g = tape.gradient(loss, xt).numpy().reshape(len(x), -1)
    top2 = np.sort(z.numpy(), axis=1)[:, -2:]
    return np.linalg.norm(g, axis=1), top2[:, 1] - top2[:, 0]


def saturation(study, n=300, eps=(1.0, 2.0)) -> pd.DataFrame:
    """One row per budget: the gradient statistics of ``study``'s F on its first ``n``
    calibration images, and F's accuracy under iterative l_2 with scale 1 and SCALE."""
    from . import attacks as atk

    f = study.classifier()
    x, y = study.images("calib")
    x, y = x[:n], y[:n]
    norms, margins = gradient_norms(f, x)
    rows = []
    for e in eps:
        acc = {}
        for scale in (1.0, SCALE):
            x_adv = atk.craft(f, "iter_l2", x, e, {**study.params, "iter_l2_loss_scale": scale},
                              progress=False)[0]
            x_adv = atk.quantize_8bit(x, x_adv)
            acc[scale] = float(np.mean(atk.predict(f, x_adv).argmax(1) == y))
        rows.append({"preset": study.params["preset"], "n": len(x), "eps": e,
                     "share_below_floor": float(np.mean(norms < FLOOR)),
                     "median_grad_norm": float(np.median(norms)),
                     "median_margin": float(np.median(margins)),
                     "f_acc_scale_1": acc[1.0], "f_acc_scaled": acc[SCALE]})
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m advsal.saturation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--presets", nargs="+", default=["quick", "full"])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--figures-dir", default=None)
    args = ap.parse_args(argv)
    from .paths import resolve_dirs
    from .pipeline import Study
    from .reporting import save_table

    data_dir, artefacts, figures = resolve_dirs(figures_dir=args.figures_dir)
    studies = {p: Study(args.dataset, p, data_dir=data_dir, artefact_dir=artefacts,
                        progress=False) for p in args.presets}
    table = pd.concat([saturation(s, args.n, args.eps) for s in studies.values()],
                      ignore_index=True)
    save_table(table, f"saturation_{args.dataset}", figures,
               params={p: s.params for p, s in studies.items()},
               caption="Cross-entropy gradient norms of F beside cleverhans' l_2 floor, and "
                       "F's accuracy under iterative l_2 with the loss scaled by 1 and 1e10",
               index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
