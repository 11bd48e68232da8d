"""Is the quick preset's C&W close to minimal? Its distortion beside a converged run.

    python -m advsal.attack_quality --dataset mnist [--n 100]

Runs C&W L2 on the first ``n`` test images of a :class:`advsal.pipeline.Study`
twice: with the preset's settings, and with cleverhans 2's defaults (9 binary
steps x 1000 iterations, lr 0.005, initial constant 0.01, early abort), both
untargeted or both as the preset's ``cw_targeted``, both judged on the 8-bit
grid when ``cw_grid`` (else on floats, reported also after rounding). For each
it reports the success rate and the mean and median l_2 over
the images that fool F (and whose clean version F classifies correctly), and
writes ``figures/cw_convergence_<dataset>.csv``. A C&W far from minimal is easy
to detect and inflates every C&W row of the detector tables.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

__all__ = ["CONVERGED", "cw_convergence", "main"]

CONVERGED = {"cw_binary_steps": 9, "cw_steps": 1000, "cw_lr": 0.005,
             "cw_initial_const": 0.01, "cw_abort_early": True}


def cw_convergence(study, n=100, float_judged=False) -> pd.DataFrame:
    from . import attacks as atk

    f = study.classifier()
    x, y = study.images("test")
    x, y = x[:n], y[:n]
    rows = []
    settings = [("preset", {}), ("converged (cleverhans 2 defaults)", CONVERGED)]
    if float_judged and study.params["cw_grid"]:
        settings.append(("converged, judged on floats", {**CONVERGED, "cw_grid": False}))
    for name, extra in settings:
        p = {**study.params, **extra}
        t0 = time.perf_counter()
        xa, _ = atk.craft(f, "cw_l2", x, None, p, seed=study.params["seed"] + 1, progress=False)
        seconds = time.perf_counter() - t0
        # C&W judged on the grid (cw_grid) already returns 8-bit images
        for q in ("8bit",) if p["cw_grid"] else ("float", "8bit"):
            xq = xa if q == "float" else atk.quantize_8bit(x, xa)
            st = atk.attack_stats(f, x, xq, y)
            rows.append({"setting": name, "images": q,
                         "steps": f"{p['cw_binary_steps']} x {p['cw_steps']}",
                         "targeted": bool(p["cw_targeted"]), "judged on grid": bool(p["cw_grid"]),
                         "success_rate": st["success_rate"],
                         "l2 mean": st["l2_mean_success"], "l2 median": st["l2_median_success"],
                         "seconds": seconds, "n": n})
    out = pd.DataFrame(rows)
    ref = out[out["setting"] == settings[1][0]].iloc[0]   # its first row: on the grid or float
    out[f"l2 mean / converged {ref['images']}"] = out["l2 mean"] / ref["l2 mean"]
    return out


def main(argv=None):
    from .paths import resolve_dirs
    from .pipeline import Study
    from .reporting import save_table

    ap = argparse.ArgumentParser(prog="python -m advsal.attack_quality", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--figures-dir", default=None)
    ap.add_argument("--float-judged", action="store_true",
                    help="also run the converged C&W judged on floats (C&W as published), "
                         "to show what rounding its output costs")
    args = ap.parse_args(argv)
    data_dir, artefact_dir, figures_dir = resolve_dirs(figures_dir=args.figures_dir)
    study = Study(args.dataset, args.preset, data_dir=data_dir, artefact_dir=artefact_dir,
                  progress=False)
    out = cw_convergence(study, args.n, args.float_judged)
    print(out.to_string())
    save_table(out.set_index("setting"), f"cw_convergence_{args.dataset}", figures_dir,
               study.params, caption=f"C&W L2 on the first {args.n} test images of {args.dataset} "
               f"({args.preset}): the preset's settings beside a converged run; l_2 over the "
               "images that fool F", digits=3)


if __name__ == "__main__":
    main()
