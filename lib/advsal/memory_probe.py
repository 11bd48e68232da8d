"""Peak resident memory of one detector's life at a preset, stage by stage.

    python -m advsal.memory_probe --dataset cifar10 --preset full --attack iter_linf --d-epochs 1

``--features`` picks D's input (default: the preset's); ``first_layer`` is the largest
(F's first-layer maps, 32 channels on CIFAR-10).

    python -m advsal.memory_probe --dataset cifar10 --preset full --attack fgsm --d-epochs 1 \
        --repeat 6 --n-train 1000

``--repeat N`` trains and scores N detectors one after another, as a learning curve does
(on the first ``--n-train`` + i training images, i = 0..N-1, so each is a D of its own),
and prints the resident memory after each: it stays flat unless something keeps every
detector's data alive (TensorFlow's generator registry did, 0.4 GB per detector, until
``advsal.training._consume``).

Loads the data, F, the attack's (sharded) training images and saliency, trains D (from
the cache where it is there) and scores the test images, printing the process's peak
resident memory after each step. ``--d-epochs`` other than the preset's trains a D of its
own (the epochs are in its cache key), so that the training itself is measured.

``--warm fgsm`` first scores FGSM's input detectors from the cache, as notebook 07 does
before it trains the next attack's: the stages this leaves in memory are held while the
probe's D trains.

    python -m advsal.memory_probe --dataset cifar10 --preset full --notebook07 \
        --attacks fgsm iter_linf

``--notebook07`` takes notebook 07's peak apart: its steps in the notebook's order (each
input detector of ``--attacks`` scored, each peer, the published-budget table), read
from the stage cache only (a stage that is not there stops the probe, naming it), with
the resident memory and the peak after each step.

    python -m advsal.memory_probe --dataset cifar10 --preset full --attack iter_linf \
        --peers kd lid mahalanobis

``--peers`` fits each named peer detector on ``--attack``'s detector-training images
anew (never read from or written to the stage cache) and scores it, printing the memory
after each (KD's fit held every layer of F on its fit images until 2026-12-05: its peak
at CIFAR-10's full preset was 3.12 GB, 2.04 GB since).
"""
from __future__ import annotations

import argparse
import gc
import time

from .presets import DETECTOR_FEATURES
from .reproducibility import peak_memory_gb, resident_memory_gb

__all__ = ["main"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--preset", default="full")
    ap.add_argument("--attack", default="iter_linf")
    ap.add_argument("--d-epochs", type=int, default=None)
    ap.add_argument("--features", default=None, choices=DETECTOR_FEATURES,
                    help="D's input (default: the preset's detector_features)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="train and score this many detectors in turn (see above)")
    ap.add_argument("--n-train", type=int, default=1000,
                    help="training images of the first --repeat detector")
    ap.add_argument("--notebook07", action="store_true",
                    help="notebook 07's steps in turn, from the cache only (see above)")
    ap.add_argument("--attacks", nargs="+", default=None,
                    help="with --notebook07: the study's attacks (default: the preset's)")
    ap.add_argument("--warm", nargs="+", default=None, metavar="ATTACK",
                    help="first score these attacks' input detectors from the cache, as "
                         "notebook 07 does before it trains the next attack's (see above)")
    ap.add_argument("--peers", nargs="+", default=None, metavar="PEER",
                    help="fit these peer detectors on --attack anew, one after another "
                         "(see above)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--artefact-dir", default=None)
    args = ap.parse_args(argv)
    from .peer_detectors import peer_spec
    for name in args.peers or ():
        peer_spec(name)                 # an unknown name stops here, naming the allowed ones
    from .paths import resolve_dirs
    from .pipeline import Study

    t0 = time.perf_counter()
    data_dir, artefacts, _ = resolve_dirs(args.data_dir, args.artefact_dir)
    study = Study(args.dataset, args.preset, data_dir=data_dir, artefact_dir=artefacts,
                  progress=False, cache_only=args.notebook07,
                  **({"attacks": args.attacks} if args.attacks else {}))
    # the probe's own D (--d-epochs) on a sibling sharing the study's memory; the
    # detectors --warm scores are the preset's, read from the cache
    probe = study.sibling(d_epochs=args.d_epochs) if args.d_epochs else study
    study.data
    print(f"data loaded: peak {peak_memory_gb():.2f} GB", flush=True)
    study.classifier()
    print(f"F loaded: peak {peak_memory_gb():.2f} GB", flush=True)
    if args.notebook07:
        _notebook07(study, t0)
        print(study.stage_summary())
        return
    if args.peers:
        _peers(study, args.attack, args.peers)
        print(study.stage_summary())
        return
    for attack in args.warm or ():
        for kind in study.params["baseline_features"]:
            study.evaluate(attack, features=kind)
        gc.collect()
        print(f"{attack}'s input detectors scored: {_memory_now()}; "
              f"{study._memory.summary()}", flush=True)
    if args.repeat:
        for i in range(args.repeat):
            n = args.n_train + i
            rep = probe.evaluate(args.attack, features=args.features, n_train=n)
            probe.release_detector(args.attack, features=args.features, n_train=n)
            gc.collect()
            print(f"D {i + 1} of {args.repeat} (n_train {n}, AUC {rep['auc']:.3f}): "
                  f"{_memory_now()}", flush=True)
    else:
        rep = probe.evaluate(args.attack, features=args.features)
    print(f"D trained and scored (AUC {rep['auc']:.3f}): peak {peak_memory_gb():.2f} GB, "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    print(probe.stage_summary())


def _memory_now() -> str:
    return f"resident {resident_memory_gb():.2f} GB, peak {peak_memory_gb():.2f} GB"


def _peers(study, attack, names):
    """Each peer fitted anew on ``attack`` and scored, followed by the memory it left."""
    from .peer_study import fit_and_score

    for name in names:
        t = time.perf_counter()
        fit_and_score(study, name, attack)
        gc.collect()
        print(f"peer {name} fitted on {attack} and scored: {_memory_now()}, "
              f"{time.perf_counter() - t:.0f} s", flush=True)


def _notebook07(study, t0):
    """Notebook 07's steps in its order, each followed by the memory it left."""
    from .peer_study import evaluate_peer, literature_table

    def done(step):
        gc.collect()
        print(f"{step}: {_memory_now()}, {time.perf_counter() - t0:.0f} s", flush=True)

    p = study.params
    for attack in p["baseline_attacks"]:
        for kind in p["baseline_features"]:
            study.evaluate(attack, features=kind)
            done(f"D {attack} {kind}")
    for attack in p["peer_attacks"]:
        study.evaluate(attack)
        for name in p["peer_detectors"]:
            evaluate_peer(study, name, attack)
            done(f"peer {attack} {name}")
    literature_table(study)
    done("published-budget table")


if __name__ == "__main__":
    main()
