"""Seconds per 1000 images of each stage at growing sizes, with peak memory.

    python -m advsal.stage_scaling --datasets mnist cifar10 --sizes 1000 10000 full

For each data set and size, every stage runs once in a fresh interpreter (so
that its peak resident memory is its own) on ``n`` random images of the data
set's shape: F's training for one epoch, FGSM, iterative l_inf (the preset's
steps), saliency, D's training for one epoch on ``n`` image+saliency inputs, and
D's scores. None of these stages' arithmetic depends on the pixel values, so
random images cost what real ones do. ``full`` is F's training set at the full
preset (the whole training split). Each row gives the seconds, the seconds per 1000 images, the
arithmetic counted (:mod:`advsal.work`), the share of the machine's convolution
peak it ran at, and the child's peak resident memory (the images held in
memory as float32: the pipeline's sharded stages hold one shard at a time).
Writes ``<figures>/stage_scaling_<machine>.csv``; stages that are linear in
``n`` show a flat seconds-per-1000 column.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

__all__ = ["STAGES", "run_stage", "measure_all", "main"]

STAGES = ("F training (1 epoch)", "attack fgsm", "attack iter_linf", "saliency",
          "D training (1 epoch)", "D scores")


def run_stage(dataset: str, stage: str, n: int, preset: str = "quick") -> dict:
    """Run one stage on ``n`` random images in this process; seconds, TFLOP counted and
    the process's peak resident memory (GB)."""
    from . import work
    from .attacks import craft
    from .datasets import dataset_spec
    from .networks import build_classifier, build_detector
    from .pipeline import _logits
    from .presets import resolve_params
    from .reproducibility import peak_memory_gb
    from .saliency import saliency
    from .training import train_classifier, train_detector

    if stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not known; allowed: {list(STAGES)}")
    if n < 1:
        raise ValueError(f"n={n!r} must be a positive number of images")
    p = resolve_params(dataset, preset)
    shape = dataset_spec(dataset).input_shape
    rng = np.random.default_rng(0)
    d_input = stage.startswith("D ")
    x = rng.random((n, *shape[:2], shape[2] * (2 if d_input else 1)), np.float32)
    y = rng.integers(0, 10 if not d_input else 2, n)
    net = (build_detector(dataset, x.shape[1:]) if d_input else build_classifier(dataset, shape))
    loaded = peak_memory_gb()
    work.reset()
    t0 = time.perf_counter()
    if stage == "F training (1 epoch)":
        train_classifier(net, x, y, 1, p["f_lr"], p["f_batch_size"])
    elif stage.startswith("attack "):
        craft(net, stage.split()[1], x, 0.1, p, progress=False)
    elif stage == "saliency":
        saliency(net, x, p["saliency_norm"])
    elif stage == "D training (1 epoch)":
        train_detector(net, x, y, 1, p["d_lr"], p["d_batch_size"])
    else:
        _logits(net, x)
    seconds = time.perf_counter() - t0
    return {"dataset": dataset, "stage": stage, "images": n, "seconds": seconds,
            "tflop": sum(work.totals().values()) / 1e12, "memory_after_setup_gb": loaded,
            "peak_memory_gb": peak_memory_gb()}


def _child(dataset, stage, n, preset):
    cmd = [sys.executable, "-m", "advsal.stage_scaling", "--child", dataset, stage, str(n),
           "--preset", preset]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{dataset} {stage} at {n} images failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_all(datasets, sizes, peak, preset="quick", stages=STAGES):
    """One row per data set, size and stage (each in a fresh interpreter)."""
    import pandas as pd

    from .presets import resolve_params

    rows = []
    for dataset in datasets:
        full = resolve_params(dataset, "full")["f_train_size"]
        for size in sizes:
            n = full if size == "full" else int(size)
            for stage in stages:
                r = _child(dataset, stage, n, preset)
                r.update(size=str(size), seconds_per_1000=1000 * r["seconds"] / n,
                         share_of_peak=r["tflop"] * 1e3 / r["seconds"] / peak)
                print(f"{dataset:8s} {stage:22s} {n:6d} images {r['seconds']:8.1f} s "
                      f"({r['seconds_per_1000']:.2f} s / 1000, {r['share_of_peak']:.2f} of peak, "
                      f"peak {r['peak_memory_gb']:.2f} GB)", flush=True)
                rows.append(r)
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m advsal.stage_scaling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    ap.add_argument("--sizes", nargs="+", default=["1000", "10000", "full"],
                    help="image counts, or 'full' (the training split)")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--preset", default="quick", help="whose batch sizes and steps to use")
    ap.add_argument("--figures-dir", default=None)
    ap.add_argument("--child", nargs=3, metavar=("DATASET", "STAGE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        dataset, stage, n = args.child
        print(json.dumps(run_stage(dataset, stage, int(n), args.preset)))
        return
    for s in args.sizes:
        if s != "full" and not (s.isdigit() and int(s) > 0):
            raise SystemExit(f"--sizes {s!r}: allowed are positive integers and 'full'")
    from .bench import machine_name, peak_gflops
    from .paths import resolve_dirs
    from .reporting import save_table

    _, _, figures_dir = resolve_dirs(figures_dir=args.figures_dir)
    peak = peak_gflops()
    print(f"convolution peak: {peak:.1f} GFLOP/s", flush=True)
    df = measure_all(args.datasets, args.sizes, peak, args.preset, args.stages)
    name = f"stage_scaling_{machine_name()}"
    save_table(df.set_index(["dataset", "stage", "size"]), name, figures_dir,
               {"preset": args.preset, "peak_gflops": round(peak, 1)},
               caption=f"Seconds per 1000 images of each stage at growing sizes, "
                       f"{machine_name()}, peak {peak:.0f} GFLOP/s", digits=3)
    print(f"\nwritten: {figures_dir / name}.csv")


if __name__ == "__main__":
    main()
