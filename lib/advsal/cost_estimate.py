"""A study's arithmetic estimated from its parameters, before it runs.

:func:`study_estimate` counts, per notebook and stage, the forward-pass
equivalents of F and D that a preset asks for (the units of :mod:`advsal.work`:
a forward pass 1, an input gradient 2, a training step 3) and converts them to
TFLOP with the networks' FLOPs per image. It is what a run would count with
``advsal.work``, as far as the parameters say:

* F's training (its epochs and fine-tuning phases over ``f_train_size``);
* the calibration searches (``ceil(log2(len(grid))) + 1`` attacks on ``n_calib``
  images at most; one run for attacks that scan their grid);
* every attack on D's training (its ``attack_train_sizes`` entry), validation and
  test images, at the calibrated budget (02, 04) and at the other Table III levels (05), with the saliency of
  the clean and adversarial images, D's training (its epochs over the pairs,
  plus a validation pass each epoch) and D's scores;
* 06's cross-scores; 07's input baselines (each as expensive as the paper's D)
  and peers (a forward pass of F per image); 08's adaptive attacks, Eq. 10 and
  the peer attack; 09's learning-curve detectors.

Attacks that stop per image (JSMA, C&W, DeepFool) and the adaptive attacks
(they stop once every image of a batch succeeded) enter at their bound, so
those rows are upper estimates (``bound`` True); JSMA's bound uses the largest
budget of its grid. Pooling, activations, data loading and the optimiser are
not counted, as in :mod:`advsal.work`. Compared with the count of a real run in
the README ("What the study costs").
"""
from __future__ import annotations

import math

__all__ = ["study_estimate", "memory_estimate", "GPU_PEAKS"]

# Published single-precision peaks (TFLOP/s) of GPUs a reader is likely to have, for the
# README's estimate; NVIDIA's data sheets (FP32 without tensor cores; TF32 tensor-core
# peaks are 8x higher on the A100 but need Keras' mixed precision, which the study does
# not use).
GPU_PEAKS = {"NVIDIA A100 (FP32)": 19.5, "NVIDIA V100 (FP32)": 15.7, "NVIDIA T4 (FP32)": 8.1}


def _networks(dataset, p):
    from .datasets import dataset_spec
    from .networks import build_classifier, build_detector
    from .work import forward_flops

    spec = dataset_spec(dataset)
    shape = spec.input_shape or (p["image_size"], p["image_size"], 3)
    f = build_classifier(dataset, shape, fc_units=p["f_fc_units"])
    d = build_detector(dataset, shape[:2] + (2 * shape[2],), fc_units=p["f_fc_units"])
    return shape, forward_flops(f), forward_flops(d), int(f.output_shape[-1])


def study_estimate(dataset: str, preset: str = "quick", **overrides):
    """Rows (notebook, stage, images, tflop, bound) of a study's estimated arithmetic."""
    import numpy as np
    import pandas as pd

    from .attacks import attack_spec
    from .presets import resolve_params

    p = resolve_params(dataset, preset, **overrides)
    shape, ff, fd, k = _networks(dataset, p)
    n_feat = int(np.prod(shape))
    rows = []

    def add(nb, stage, images, f_passes=0.0, d_passes=0.0, bound=False):
        rows.append({"notebook": nb, "stage": stage, "images": int(images),
                     "tflop": images * (f_passes * ff + d_passes * fd) / 1e12, "bound": bound})

    f_epochs = p["f_epochs"] + sum(int(e) for e, _ in p["f_finetune"])
    add("01", "F training", p["f_train_size"] * f_epochs, 3)
    n_tr, n_val, n_te = p["n_adv_train"], p["n_val"], p["n_adv_test"]
    n_sets = n_tr + n_val + n_te

    def n_train(a):   # advsal.pipeline.Study.n_train
        return min(n_tr, p["attack_train_sizes"].get(a, n_tr))

    def n_test(a):    # advsal.pipeline.Study.n_attacked(a, "test")
        return min(n_te, p["attack_test_sizes"].get(a, n_te))

    def attack_passes(a):
        spec = attack_spec(a)
        eps = max(p["eps_grid"][a]) if spec.budget else None
        return spec.work(p, eps, n_feat, k), spec.stops_early

    def one_detector(nbs, a, label):
        """An attack on D's images (notebook ``nbs[0]``), their saliency (``nbs[1]``), D
        trained and scored (``nbs[2]``)."""
        passes, bound = attack_passes(a)
        n_a = n_train(a)
        add(nbs[0], f"attack {a}{label}", n_a + n_val + n_test(a), passes, bound=bound)
        add(nbs[1], f"saliency {a}{label}", n_a + n_val + n_test(a), 2)
        add(nbs[2], f"D training {a}{label}", 2 * n_a * p["d_epochs"], 0, 3)
        add(nbs[2], f"D validation {a}{label}", 2 * n_val * p["d_epochs"], 0, 1)
        add(nbs[2], f"D scores {a}{label}", 2 * n_val + n_te + n_test(a), 0, 1)

    add("03", "saliency of the clean images", n_sets, 2)
    for a in p["attacks"]:
        spec = attack_spec(a)
        if spec.budget:
            passes, bound = attack_passes(a)
            tries = 1 if spec.scan else math.ceil(math.log2(len(p["eps_grid"][a]))) + 1
            add("02", f"calibration {a}", p["n_calib"] * tries, passes, bound=bound)
        one_detector(("02", "03", "04"), a, "")
        if spec.table3:
            for m in p["eps_multipliers"]:
                if m != 1.0:
                    one_detector(("05",) * 3, a, f" x{m:g}")
    n_att = len(p["attacks"])
    add("06", "cross scores", n_att * sum(n_te + n_test(b) for b in p["attacks"]), 0, 1)
    for a in p["baseline_attacks"]:
        for kind in p["baseline_features"]:
            if kind != p["detector_features"]:
                add("07", f"D training {a} {kind}", 2 * n_train(a) * p["d_epochs"], 0, 3)
    n_peer_fits = len(p["peer_attacks"]) * len(p["peer_detectors"])
    add("07", "peer features", n_peer_fits * (2 * n_sets + p["peer_n_fit"]), 1)
    # 08: per budget, the undefended F and three attacked detector variants at each
    # threshold, the strongest peer at each threshold; Eq. 10 per input, sigma, threshold
    n_thr = len(p["adaptive_thresholds"])
    n_eps = len(set(p["adaptive_eps_multipliers"])) + len(p["adaptive_extra_eps"])
    runs = n_eps * (1 + 3 * n_thr + n_thr)
    per_run = p["adaptive_n"] * p["adaptive_restarts"] * p["adaptive_steps"]
    add("08", "adaptive attacks", runs * per_run, 9, 3, bound=True)
    eq10_runs = 1 + len(p["baseline_features"]) * len(p["eq10_sigmas"]) * n_thr
    add("08", "Eq. 10", eq10_runs * p["adaptive_n"] * p["eq10_steps"], 9, 3, bound=True)
    # 09: a detector per size, attack, input and calibration target (the Table II target
    # attacks D's images again at its larger budget)
    for target in p["curve_targets"]:
        for a in p["curve_attacks"]:
            sizes = [n_train(a) if s == "all" else min(int(s), n_train(a))
                     for s in p["curve_sizes"]]
            if target != p["calib_target"]:
                passes, bound = attack_passes(a)
                add("09", f"attack {a} ({target})", n_sets, passes, bound=bound)
                add("09", f"saliency {a} ({target})", n_sets, 2)
            for _ in p["curve_features"]:
                add("09", f"D training {a} ({target})", sum(2 * n * p["d_epochs"] for n in sizes),
                    0, 3)
    return pd.DataFrame(rows)


def memory_estimate(dataset: str, preset: str = "quick", **overrides) -> dict:
    """GB of the largest arrays a preset's stages hold, as float32: F's training images,
    D's training inputs (clean and adversarial images with their saliency), and, with
    ``shard_size``, one shard of them (what the sharded stages hold at a time)."""
    import numpy as np

    from .datasets import dataset_spec
    from .presets import resolve_params

    p = resolve_params(dataset, preset, **overrides)
    shape = dataset_spec(dataset).input_shape or (p["image_size"], p["image_size"], 3)
    image_gb = 4 * int(np.prod(shape)) / 1e9
    out = {"F training images": p["f_train_size"] * image_gb,
           "D training inputs": 2 * p["n_adv_train"] * 2 * image_gb}
    if p["shard_size"]:
        out["one shard of D inputs"] = 2 * p["shard_size"] * 2 * image_gb
    return out


def estimate_table(datasets, presets):
    """Per data set, preset and notebook: the estimated TFLOP (and how much of it is an
    upper bound), and its hours at each GPU's published peak (:data:`GPU_PEAKS`)."""
    import pandas as pd

    parts = []
    for dataset in datasets:
        for preset in presets:
            e = study_estimate(dataset, preset)
            e["upper_bound_tflop"] = e["tflop"].where(e["bound"], 0.0)
            g = e.groupby("notebook")[["tflop", "upper_bound_tflop"]].sum().reset_index()
            whole = g[["tflop", "upper_bound_tflop"]].sum().to_frame().T.assign(
                notebook="whole study")
            parts.append(pd.concat([g, whole], ignore_index=True).assign(
                dataset=dataset, preset=preset))
    out = pd.concat(parts, ignore_index=True)
    for gpu, tflops in GPU_PEAKS.items():
        out[f"hours at {gpu} peak"] = out["tflop"] / tflops / 3600
    return out.set_index("dataset")[["preset", "notebook"] + [
        c for c in out.columns if c not in ("dataset", "preset", "notebook")]]


def main(argv=None):
    import argparse

    from .paths import resolve_dirs
    from .reporting import save_table

    ap = argparse.ArgumentParser(prog="python -m advsal.cost_estimate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10", "imagenette"])
    ap.add_argument("--presets", nargs="+", default=["quick", "full", "paper"])
    ap.add_argument("--figures-dir", default=None)
    args = ap.parse_args(argv)
    _, _, figures_dir = resolve_dirs(figures_dir=args.figures_dir)
    table = estimate_table(args.datasets, args.presets)
    save_table(table, "cost_estimate", figures_dir,
               {"datasets": args.datasets, "presets": args.presets, "gpu_peaks": GPU_PEAKS},
               caption="Estimated arithmetic of each notebook (TFLOP; upper_bound_tflop: the "
                       "part from attacks that stop early, at their bound) and its hours at "
                       "published GPU peaks: a floor, labelled an estimate "
                       "(advsal.cost_estimate)", digits=3)
    print(table.round(3).to_string())
    print(f"\nwritten: {figures_dir / 'cost_estimate'}.csv")


if __name__ == "__main__":
    main()
