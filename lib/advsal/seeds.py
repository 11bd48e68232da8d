"""Results across seeds: where each seed's tables live, and their summary.

A seed retrains everything (F, epsilon calibration, attacks, D) and draws
new detector-training, validation and test subsets. Seed 0 writes to the
figures folder itself; seed ``s > 0`` to its subfolder ``seed<s>/``
(:func:`seed_dir`). :func:`summarise` reads one table of every seed and
writes ``<table>_<dataset>_seeds.csv|md|tex``: per row and quantity the mean,
the standard deviation, the smallest and largest value, and the 95 % t
interval of the mean (:func:`advsal.metrics.across_seeds`). Verdicts that
rest on several seeds cite that interval.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import across_seeds

__all__ = ["seed_dir", "SUMMARIES", "summarise", "summarise_run", "load_seed_tables", "main"]

# table -> (columns that identify a row, quantities summarised; None: every numeric column)
SUMMARIES = {
    "attacks": (["attack"], ["eps", "f_acc_adv", "success_rate", "l2 mean", "linf mean",
                             "l0 mean"]),
    "table2": (["attack"], ["f(x_test)", "f(x_adv)", "D(x_test)", "D(x_adv)", "balanced acc",
                            "AUC", "TPR@val5%", "test FPR@val5%", "TPR@val1%",
                            "test FPR@val1%"]),
    "fig2": (["trained on"], None),
    "fig2_auc": (["trained on"], None),
    "baselines": (["attack", "detector"], ["balanced acc", "AUC", "TPR@val5%",
                                           "test FPR@val5%"]),
    "adaptive": (["attack", "eps / calibrated", "threshold"], ["rate", "among fooled"]),
    "f_accuracy": (["split"], ["ours"]),
}
UNBOUNDED = {"eps", "l2 mean", "linf mean", "l0 mean"}   # quantities that are not rates


def seed_dir(figures_dir, seed: int) -> Path:
    """Folder of one seed's tables and figures."""
    figures_dir = Path(figures_dir)
    return figures_dir if int(seed) == 0 else figures_dir / f"seed{int(seed)}"


def load_seed_tables(figures_dir, table: str, dataset: str, seeds) -> dict:
    """``{seed: DataFrame}`` of ``<table>_<dataset>.csv`` for the seeds that have it."""
    out = {}
    for s in seeds:
        path = seed_dir(figures_dir, s) / f"{table}_{dataset}.csv"
        if path.exists():
            out[int(s)] = pd.read_csv(path)
    return out


def summarise(frames: dict, keys, quantities=None) -> pd.DataFrame:
    """Long table: one row per (row keys, quantity) with its across-seed summary.

    ``frames`` maps seed -> DataFrame with the same rows; ``keys`` are the columns
    that identify a row (None: the first column); ``quantities`` the numeric
    columns summarised (None: every numeric column but the keys).
    """
    if not frames:
        raise ValueError("summarise needs the tables of at least one seed")
    seeds = sorted(frames)
    first = frames[seeds[0]]
    keys = list(keys) if keys else [first.columns[0]]
    if quantities is None:
        quantities = [c for c in first.columns if c not in keys
                      and pd.api.types.is_numeric_dtype(first[c])]
    quantities = [q for q in quantities if all(q in f.columns for f in frames.values())]
    rows = []
    indexed = {s: f.set_index(keys) for s, f in frames.items()}
    for idx in indexed[seeds[0]].index:
        for q in quantities:
            vals = []
            for s in seeds:
                f = indexed[s]
                v = f.loc[idx, q] if idx in f.index else np.nan
                vals.append(float(v.iloc[0]) if isinstance(v, pd.Series) else float(v))
            summ = across_seeds(vals, bounds=None if q in UNBOUNDED else (0.0, 1.0))
            key_vals = idx if isinstance(idx, tuple) else (idx,)
            rows.append({**dict(zip(keys, key_vals)), "quantity": q, **summ,
                         "per seed": " ".join("nan" if np.isnan(v) else f"{v:.6g}" for v in vals)})
    return pd.DataFrame(rows)


def summarise_run(figures_dir, datasets, seeds, params=None) -> list[Path]:
    """Write ``<table>_<dataset>_seeds.*`` for every table of :data:`SUMMARIES` that
    at least two of ``seeds`` have; return the CSV paths written."""
    from .reporting import save_table

    written = []
    for dataset in datasets:
        for table, (keys, quantities) in SUMMARIES.items():
            frames = load_seed_tables(figures_dir, table, dataset, seeds)
            if len(frames) < 2:
                continue
            summ = summarise(frames, keys, quantities)
            name = f"{table}_{dataset}_seeds"
            save_table(summ.set_index(summ.columns[0]), name, figures_dir,
                       {**(params or {}), "dataset": dataset, "seeds": sorted(frames)},
                       caption=f"{table}, {dataset}: mean, sd, range and 95 % t interval of the "
                               f"mean over seeds {sorted(frames)} (a seed retrains everything)",
                       digits=4)
            written.append(Path(figures_dir) / f"{name}.csv")
    return written


def main(argv=None):
    """``python -m advsal.seeds --datasets mnist --seeds 0 1 2``: write the summaries."""
    import argparse

    from .paths import resolve_dirs

    ap = argparse.ArgumentParser(prog="python -m advsal.seeds", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--figures-dir", default=None)
    args = ap.parse_args(argv)
    _, _, figures_dir = resolve_dirs(figures_dir=args.figures_dir)
    for path in summarise_run(figures_dir, args.datasets, args.seeds, {"preset": args.preset}):
        print(f"across-seed summary: {path}")


if __name__ == "__main__":
    main()
