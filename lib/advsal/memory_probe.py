"""Peak resident memory of one detector's life at a preset, stage by stage.

    python -m advsal.memory_probe --dataset cifar10 --preset full --attack iter_linf --d-epochs 1

``--features`` picks D's input (default: the preset's); ``first_layer`` is the largest
(F's first-layer maps, 32 channels on CIFAR-10).

Loads the data, F, the attack's (sharded) training images and saliency, trains D (from
the cache where it is there) and scores the test images, printing the process's peak
resident memory after each step. ``--d-epochs`` other than the preset's trains a D of its
own (the epochs are in its cache key), so that the training itself is measured.
"""
from __future__ import annotations

import argparse
import time

from .presets import DETECTOR_FEATURES
from .reproducibility import peak_memory_gb

__all__ = ["main"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--preset", default="full")
    ap.add_argument("--attack", default="iter_linf")
    ap.add_argument("--d-epochs", type=int, default=None)
    ap.add_argument("--features", default=None, choices=DETECTOR_FEATURES,
                    help="D's input (default: the preset's detector_features)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--artefact-dir", default=None)
    args = ap.parse_args(argv)
    from .paths import resolve_dirs
    from .pipeline import Study

    t0 = time.perf_counter()
    data_dir, artefacts, _ = resolve_dirs(args.data_dir, args.artefact_dir)
    study = Study(args.dataset, args.preset, data_dir=data_dir, artefact_dir=artefacts,
                  progress=False,
                  **({"d_epochs": args.d_epochs} if args.d_epochs else {}))
    study.data
    print(f"data loaded: peak {peak_memory_gb():.2f} GB", flush=True)
    study.classifier()
    print(f"F loaded: peak {peak_memory_gb():.2f} GB", flush=True)
    rep = study.evaluate(args.attack, features=args.features)
    print(f"D trained and scored (AUC {rep['auc']:.3f}): peak {peak_memory_gb():.2f} GB, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(study.stage_summary())


if __name__ == "__main__":
    main()
