"""Protocol variants of the quick study at seed 0 (README, "Protocol"): Table II with
float adversarial images at the 8-bit run's budgets, and with every attacked training
image as a positive. Run after the seed-0 study; writes figures/variants/<name>/.

    python -m advsal.variants --datasets mnist cifar10
"""
import argparse
import json
import subprocess
import sys

from .paths import repo_root

ROOT = repo_root()
__all__ = ["main", "calibrated_eps"]


def calibrated_eps(dataset, preset="quick"):
    """The budgets the default (8-bit) study calibrated, read from its cached
    calibration stage at full precision (the CSVs round to 4 decimals)."""
    from .attacks import attack_spec
    from .paths import resolve_dirs
    from .pipeline import Study

    data_dir, artefact_dir, _ = resolve_dirs()
    study = Study(dataset, preset, data_dir=data_dir, artefact_dir=artefact_dir, progress=False)
    return {a: float(study.eps(a)) for a in study.params["attacks"] if attack_spec(a).budget}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    ap.add_argument("--variants", nargs="+", default=["float", "train_all"])
    args = ap.parse_args(argv)
    for ds in args.datasets:
        for v in args.variants:
            # float: the raw attack output, C&W judged on floats too, at the 8-bit run's budgets
            overrides = ({"adv_quantize": "float", "cw_grid": False, "eps": calibrated_eps(ds)}
                         if v == "float" else {"train_positives": "all"})
            cmd = [sys.executable, "-m", "advsal.runner", "--datasets", ds, "--preset", "quick",
                   "--only", "04", "--output", str(ROOT / "runs" / "variants" / v),
                   "--figures-dir", str(ROOT / "figures" / "variants" / v),
                   "--set", json.dumps(overrides)]
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
