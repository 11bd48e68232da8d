"""Benchmark: images/s of every stage beside a plain reference and a peer.

    python -m advsal.bench            (make bench)

For the MNIST and CIFAR-10 networks it measures, on random inputs and in one
run so that ratios are like for like:

* F and D training steps (images/s) and their achieved GFLOP/s, against the
  machine's measured peak for a large convolution;
* batched saliency against a bare forward+backward of F (target: <= 1.3x its
  time) and against a per-image loop;
* each attack per iteration against the Adversarial Robustness Toolbox's
  implementation of the same attack on the same model and batch (JSMA, whose
  iterations per image vary, per image for the whole attack at one gamma).

It appends every study run the figures folder holds timings of
(``timings_<preset>.csv``, also one folder down): a notebook's wall time beside
its floor, the arithmetic its kernel counted (:mod:`advsal.work`) at the
measured convolution peak (:func:`study_floor`), and writes
``figures/bench_<machine>.csv``. Absolute numbers on a shared machine are
noise; the ratios are the result.
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

__all__ = ["main", "measure", "study_floor", "study_floors", "estimate_rows"]


def measure(fn, repeat=3, min_time=0.5):
    """Best-of-``repeat`` seconds per call of ``fn`` (each timing loops until ``min_time``)."""
    fn()  # warm-up / tracing
    best = np.inf
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        best = min(best, dt / n)
    return best


def peak_gflops():
    """Best GFLOP/s of large 3x3 convolutions (the machine's practical peak)."""
    import tensorflow as tf

    best = 0.0
    for batch, size, channels in ((32, 56, 128), (16, 28, 256), (64, 32, 64)):
        x = tf.random.uniform((batch, size, size, channels))
        k = tf.random.uniform((3, 3, channels, channels))
        f = tf.function(lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME"))
        sec = measure(lambda: f().numpy())
        best = max(best, 2 * batch * size * size * channels * channels * 9 / sec / 1e9)
    return best


def _bench_dataset(dataset, shape, batch, rows, with_peer=True):
    import keras
    import tensorflow as tf

    from . import attacks as atk
    from .networks import build_classifier, build_detector
    from .presets import resolve_params
    from .saliency import saliency, saliency_batch
    from .work import forward_flops

    rng = np.random.default_rng(0)
    x = rng.random((batch, *shape)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    f = build_classifier(dataset, shape)
    d = build_detector(dataset, shape[:2] + (2 * shape[2],))
    flops_f, flops_d = forward_flops(f), forward_flops(d)

    def add(stage, impl, seconds, images, flops=None, ref=None):
        rows.append({"dataset": dataset, "stage": stage, "implementation": impl,
                     "batch": images, "seconds": seconds, "images_per_s": images / seconds,
                     "gflops_per_s": (flops * images / seconds / 1e9) if flops else np.nan,
                     "ratio_to_reference": (seconds / ref) if ref else np.nan})

    # training steps (forward + backward + update ~ 3x forward FLOPs)
    for name, net, xin, yin, loss, flops in (
            ("F train step", f, x, y, keras.losses.SparseCategoricalCrossentropy(from_logits=True), flops_f),
            ("D train step", d, np.concatenate([x, x], -1), (y % 2).astype(np.float32),
             keras.losses.BinaryCrossentropy(from_logits=True), flops_d)):
        net.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
        sec = measure(lambda: net.train_on_batch(xin, yin))
        add(name, "keras train_on_batch", sec, batch, 3 * flops)

    xt = tf.constant(x)
    bare = tf.function(lambda a: tf.gradients(tf.reduce_sum(
        tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y), f(a))), a)[0])
    t_bare = measure(lambda: bare(xt).numpy())
    # input gradient: one forward and one backward through the activations (~2x forward)
    add("forward+backward", "bare tf.function (reference)", t_bare, batch, 2 * flops_f)
    t_sal = measure(lambda: saliency(f, x, "maxabs", batch_size=batch))
    add("saliency", "advsal batched", t_sal, batch, None, t_bare)
    loop_n = min(batch, 32)
    one = tf.function(lambda a: saliency_batch(f, a))
    t_loop = measure(lambda: [one(xt[i:i + 1]).numpy() for i in range(loop_n)], repeat=1)
    add("saliency", "per-image loop", t_loop * batch / loop_n, batch, None, t_bare)

    # JSMA runs as in the quick preset: pairs of features on MNIST, one feature (Eq. 8)
    # on CIFAR-10. Its number of iterations depends on the image, so it is timed per
    # image for the whole attack at the same gamma, not per iteration.
    pairs = resolve_params(dataset, "quick")["jsma_pairs"]
    params = {"attack_batch_size": batch, "iter_steps": 10, "iter_step_ratio": 0.25,
              "cw_steps": 10, "cw_binary_steps": 1, "cw_lr": 0.01, "cw_abort_early": False,
              "jsma_pairs": pairs}
    eps = {"fgsm": 0.1, "iter_linf": 0.1, "iter_l2": 1.0, "jsma": 0.02}
    iters = {"fgsm": 1, "iter_linf": 10, "iter_l2": 10, "cw_l2": 10}
    n_jsma = 128
    ours = {}
    for a in ("fgsm", "iter_linf", "iter_l2", "cw_l2", "jsma"):
        xa = x[: (n_jsma if a == "jsma" else batch)]
        sec = measure(lambda: atk.craft(f, a, xa, eps.get(a), params, progress=False), repeat=1)
        ours[a] = sec / iters.get(a, 1)
        add(_attack_stage(a, pairs), "advsal", ours[a], len(xa))
    if not with_peer:
        return
    try:
        from art.attacks.evasion import (CarliniL2Method, FastGradientMethod,
                                          ProjectedGradientDescent, SaliencyMapMethod)
        from art.estimators.classification import TensorFlowV2Classifier
    except ImportError:
        return
    clf = TensorFlowV2Classifier(model=f, nb_classes=10, input_shape=shape,
                                 loss_object=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                                 clip_values=(0.0, 1.0))
    peers = {
        "fgsm": FastGradientMethod(clf, eps=0.1, batch_size=batch),
        "iter_linf": ProjectedGradientDescent(clf, eps=0.1, eps_step=0.025, max_iter=10,
                                              num_random_init=0, batch_size=batch, verbose=False),
        "iter_l2": ProjectedGradientDescent(clf, norm=2, eps=1.0, eps_step=0.25, max_iter=10,
                                            num_random_init=0, batch_size=batch, verbose=False),
        "cw_l2": CarliniL2Method(clf, max_iter=10, binary_search_steps=1, batch_size=batch,
                                 verbose=False),
        "jsma": SaliencyMapMethod(clf, gamma=eps["jsma"], batch_size=n_jsma, verbose=False),
    }
    for a, peer in peers.items():
        xa = x[: (n_jsma if a == "jsma" else batch)]
        sec = measure(lambda: peer.generate(xa), repeat=1)
        add(_attack_stage(a, pairs), "ART 1.20 (peer)", sec / iters.get(a, 1), len(xa), None,
            ours[a])


def _attack_stage(attack, pairs):
    if attack == "jsma":
        return f"attack jsma {'pairs' if pairs else 'one feature'} (whole attack, gamma 0.02)"
    return f"attack {attack} (per iteration)"


def study_floor(timings, peak):
    """Each notebook run's wall time beside its floor, and each data set's whole study.

    ``timings``: a runner timings table (``timings_<preset>.csv``) with the ``tflop``
    each notebook's kernel counted (:mod:`advsal.work`); ``peak``: the machine's
    convolution peak in GFLOP/s. The floor is that arithmetic at the peak; the
    ratio, wall time over floor, is how far the run is from what the machine could
    do (1: nothing but counted arithmetic at the peak). Rows without a count are
    left out; a notebook that found every stage cached did almost no work, so its
    ratio says little, and ``stages_computed`` is kept beside it.
    """
    import pandas as pd

    if not (peak > 0):
        raise ValueError(f"peak={peak!r} must be a positive number of GFLOP/s")
    if "tflop" not in timings:
        return pd.DataFrame()
    t = timings[timings["tflop"].notna()].copy()
    if t.empty:
        return pd.DataFrame()
    t["floor_seconds"] = t["tflop"] * 1e12 / (peak * 1e9)
    cols = ["dataset", "preset", "notebook", "seconds", "tflop", "floor_seconds"]
    if "stages_computed" in t:
        cols.append("stages_computed")
    whole = t.groupby(["dataset", "preset"], as_index=False)[
        ["seconds", "tflop", "floor_seconds"]].sum().assign(notebook="whole study")
    out = pd.concat([t[cols], whole], ignore_index=True)
    out["ratio_to_floor"] = out["seconds"] / out["floor_seconds"]
    return out


def study_floors(figures_dir, peak):
    """:func:`study_floor` of every timings table under ``figures_dir`` (and one folder
    down) that counted its work, with the folder it came from."""
    import pandas as pd

    parts = []
    for path in sorted(figures_dir.glob("timings_*.csv")) + sorted(
            figures_dir.glob("*/timings_*.csv")):
        if path.stem.endswith("_history"):
            continue
        floor = study_floor(pd.read_csv(path), peak)
        if not floor.empty:
            parts.append(floor.assign(source=str(path.relative_to(figures_dir))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _floor_rows(floors):
    return [{"dataset": r["dataset"], "stage": f"study {r['preset']}: {r['notebook']}",
             "implementation": f"{r['tflop']:.4g} TFLOP counted ({r['source']})",
             "seconds": r["seconds"], "gflops_per_s": r["tflop"] * 1e3 / r["seconds"],
             "ratio_to_reference": r["ratio_to_floor"]}
            for r in floors.to_dict("records")]


def estimate_rows(dataset, peak, presets=("quick", "full", "paper")):
    """Bench rows: each preset's estimated arithmetic (:func:`advsal.cost_estimate.study_estimate`)
    and its floor at this machine's peak."""
    from .cost_estimate import study_estimate

    rows = []
    for preset in presets:
        e = study_estimate(dataset, preset)
        tflop = float(e["tflop"].sum())
        upper = float(e.loc[e["bound"], "tflop"].sum())
        rows.append({"dataset": dataset, "stage": f"{preset} study: estimated floor",
                     "implementation": f"{tflop:.4g} TFLOP estimated from the parameters "
                                       f"({upper:.4g} of it upper bounds)",
                     "seconds": tflop * 1e12 / (peak * 1e9), "gflops_per_s": peak})
    return rows


def machine_name():
    import os

    return f"{platform.machine()}-{os.cpu_count()}cpu".lower()


def main(argv=None):
    import pandas as pd

    from .datasets import dataset_spec
    from .paths import resolve_dirs
    from .reporting import save_table

    ap = argparse.ArgumentParser(prog="python -m advsal.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--no-peer", action="store_true", help="skip the ART comparison")
    ap.add_argument("--figures-dir", default=None)
    args = ap.parse_args(argv)
    _, _, figures_dir = resolve_dirs(figures_dir=args.figures_dir)
    rows = []
    peak = peak_gflops()
    rows.append({"dataset": "-", "stage": "peak convolution", "implementation": "tf.nn.conv2d 3x3x128",
                 "gflops_per_s": peak})
    for dataset in ("mnist", "cifar10"):
        shape = dataset_spec(dataset).input_shape
        _bench_dataset(dataset, shape, args.batch, rows, with_peer=not args.no_peer)
        rows += estimate_rows(dataset, peak)
    floors = study_floors(figures_dir, peak)
    rows += _floor_rows(floors)
    df = pd.DataFrame(rows)
    df["share_of_peak"] = df["gflops_per_s"] / peak
    timings = figures_dir / "timings_quick.csv"
    if timings.exists() and "tflop" not in pd.read_csv(timings):   # a run before advsal.work
        t = pd.read_csv(timings)
        impl = "quick preset run" + (
            t["stages_computed"].map(lambda k: f" ({k:.0f} stages computed)"
                                     if pd.notna(k) else "") if "stages_computed" in t else "")
        df = pd.concat([df, pd.DataFrame({"dataset": t["dataset"], "stage": "study: " + t["notebook"],
                                          "implementation": impl,
                                          "seconds": t["seconds"]})], ignore_index=True)
    if not floors.empty:
        save_table(floors.set_index("notebook"), f"floor_{machine_name()}", figures_dir,
                   {"peak_gflops": round(peak, 1)},
                   caption=f"Each notebook's wall time against its floor, the arithmetic its "
                           f"kernel counted at {peak:.1f} GFLOP/s (advsal.work)", digits=3)
    name = f"bench_{machine_name()}"
    df.insert(0, "machine", f"{platform.processor() or platform.machine()}, "
                            f"{__import__('os').cpu_count()} CPUs, {platform.system()}")
    save_table(df.set_index("stage"), name, figures_dir, {"batch": args.batch},
               caption=f"Benchmark on {machine_name()}", digits=3)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.drop(columns=["machine"]).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"\nwritten: {figures_dir / name}.csv")


if __name__ == "__main__":
    main()
