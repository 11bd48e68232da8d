"""Protocol variants of the quick study at seed 0 (README, "Protocol"): Table II with
float adversarial images at the 8-bit run's budgets, and with every attacked training
image as a positive. Run after the seed-0 study; writes figures/variants/<name>/.

    python -m advsal.variants --datasets mnist cifar10
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from .paths import repo_root

ROOT = repo_root()
__all__ = ["main", "calibrated_eps"]


def calibrated_eps(dataset):
    att = pd.read_csv(ROOT / "figures" / f"attacks_{dataset}.csv", index_col=0)
    return {a: float(e) for a, e in att["eps"].items() if pd.notna(e)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"])
    ap.add_argument("--variants", nargs="+", default=["float", "train_all"])
    args = ap.parse_args(argv)
    for ds in args.datasets:
        for v in args.variants:
            overrides = ({"adv_quantize": "float", "eps": calibrated_eps(ds)} if v == "float"
                         else {"train_positives": "all"})
            cmd = [sys.executable, "-m", "advsal.runner", "--datasets", ds, "--preset", "quick",
                   "--only", "04", "--output", str(ROOT / "runs" / "variants" / v),
                   "--figures-dir", str(ROOT / "figures" / "variants" / v),
                   "--set", json.dumps(overrides)]
            print(" ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
