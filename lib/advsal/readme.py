"""The README's result tables, generated from the committed ``figures/*.csv``.

Blocks in README.md between ``<!-- generated: KIND ARGS -->`` and
``<!-- /generated -->`` are rewritten from the CSVs they name, so a table in
the README never drifts from the numbers it reports:

    python -m advsal.readme          # rewrite the blocks in place
    python -m advsal.readme --check  # exit 1 when a block is out of date

Kinds: ``table2_seeds DATASET`` (across-seed Table II), ``table2 DATASET``
(one seed), ``fig2_seeds DATASET``, ``fig2 DATASET``, ``adaptive_seeds
DATASET THRESHOLD``, ``adaptive DATASET THRESHOLD``, ``attacks DATASET``,
``variants DATASET``, ``baselines DATASET``, ``detectors DATASET`` (the peer
comparison), ``adaptive_peer DATASET THRESHOLD``, ``floor MACHINE`` (each
notebook's wall time against its floor), ``scaling MACHINE DATASET`` (seconds per
1000 images of each stage at each size).
:func:`numbers_not_in_csvs` is the check behind the test that every number
quoted in the Results section appears in a CSV of ``figures/``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import repo_root

__all__ = ["render_block", "regenerate", "numbers_not_in_csvs", "main"]

BLOCK = re.compile(r"(<!-- generated: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /generated -->)",
                   re.S)


def _ci(lo, hi, d=3):
    return f"[{lo:.{d}f}, {hi:.{d}f}]"


def _cell(row, d=3):
    """``mean [lo, hi]`` of an across-seed summary row."""
    if np.isnan(row["mean"]):
        return ""
    ci = "" if np.isnan(row["ci_low"]) else " " + _ci(row["ci_low"], row["ci_high"], d)
    return f"{row['mean']:.{d}f}{ci}"


def _md(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines) + "\n"


def _num(v, d=3):
    return "" if pd.isna(v) else f"{float(v):.{d}f}"


def table2_seeds(fig: Path, ds: str) -> str:
    s = pd.read_csv(fig / f"table2_{ds}_seeds.csv")
    t0 = pd.read_csv(fig / f"table2_{ds}.csv", index_col=0)
    cols = ["f(x_adv)", "D(x_test)", "D(x_adv)", "balanced acc", "AUC", "TPR@val5%",
            "test FPR@val5%", "TPR@val1%"]
    out = pd.DataFrame(index=pd.Index(list(dict.fromkeys(s["attack"])), name="attack"))
    for c in cols:
        part = s[s["quantity"] == c].set_index("attack")
        out[c] = [_cell(part.loc[a]) if a in part.index else "" for a in out.index]
    for c in ("paper D(x_test)", "paper D(x_adv)"):
        out[c] = [_num(t0.loc[a, c], 2) if a in t0.index else "" for a in out.index]
    n = int(s["n_seeds"].max())
    return (f"Mean over {n} seeds [95 % t interval of the mean]; "
            f"source `figures/table2_{ds}_seeds.csv`.\n\n" + _md(out))


def table2(fig: Path, ds: str, sub: str = "") -> str:
    """One seed's Table II; ``sub``: a subfolder of figures (``full`` for that preset)."""
    where = f"{sub}/" if sub else ""
    t = pd.read_csv(fig / where / f"table2_{ds}.csv", index_col=0)
    out = pd.DataFrame(index=t.index)
    out["eps"] = [_num(v, 4) for v in t["eps"]]
    out["f(x_adv)"] = [_num(v) for v in t["f(x_adv)"]]
    for c in ("D(x_test)", "D(x_adv)", "TPR@val5%"):
        out[c] = [f"{_num(v)} {ci}".replace(", ", ", ") for v, ci in
                  zip(t[c], t[f"{c} 95% CI"].map(_ci_str))]
    for c in ("balanced acc", "AUC", "test FPR@val5%", "TPR@val1%"):
        out[c] = [_num(v) for v in t[c]]
    for c in ("paper D(x_test)", "paper D(x_adv)"):
        out[c] = [_num(v, 2) for v in t[c]]
    return (f"One seed (0), Wilson 95 % intervals; source `figures/{where}table2_{ds}.csv`.\n\n"
            + _md(out))


def learning_curve(fig: Path, ds: str, sub: str = "") -> str:
    """Notebook 09's curve: one row per point, AUC and TPR at 5 % validation FPR with
    their intervals."""
    where = f"{sub}/" if sub else ""
    c = pd.read_csv(fig / where / f"learning_curve_{ds}.csv")
    out = pd.DataFrame({
        "attack": c["attack"], "budget": [f"{t} ({_num(e, 4)})" for t, e in
                                          zip(c["calib_target"], c["eps"])],
        "input": c["features"], "n_train": c["n_train"], "pairs": c["n_pairs"],
        "AUC": [f"{_num(v)} {_ci(lo, hi)}" for v, lo, hi in
                zip(c["auc"], c["auc_ci_low"], c["auc_ci_high"])],
        "TPR@val5%": [f"{_num(v)} {_ci(lo, hi)}" for v, lo, hi in
                      zip(c["tpr_val5"], c["tpr_val5_ci_low"], c["tpr_val5_ci_high"])],
        "test FPR@val5%": [_num(v) for v in c["fpr_val5"]]}).set_index("attack")
    return (f"One seed (0); AUC with Hanley-McNeil and TPR with Wilson 95 % intervals; "
            f"source `figures/{where}learning_curve_{ds}.csv`.\n\n" + _md(out))


def _ci_str(text):
    lo, hi = (float(v) for v in str(text).strip("[]").split(","))
    return _ci(lo, hi)


def fig2_seeds(fig: Path, ds: str) -> str:
    s = pd.read_csv(fig / f"fig2_{ds}_seeds.csv")
    rows = list(dict.fromkeys(s["trained on"]))
    out = pd.DataFrame(index=pd.Index(rows, name="trained on \\ tested on"))
    for q in dict.fromkeys(s["quantity"]):
        part = s[s["quantity"] == q].set_index("trained on")
        out[q] = [_cell(part.loc[r]) for r in rows]
    return (f"Balanced accuracy at logit 0, mean over {int(s['n_seeds'].max())} seeds "
            f"[95 % t interval]; source `figures/fig2_{ds}_seeds.csv`.\n\n" + _md(out))


def _by_budget(rows: pd.DataFrame, cell) -> pd.DataFrame:
    """Adaptive-attack rows as a table: one row per attack, one column per budget."""
    attacks_ = list(dict.fromkeys(rows["attack"]))
    out = pd.DataFrame(index=pd.Index(attacks_, name="attack"))
    for b in sorted(set(rows["eps / calibrated"])):
        part = rows[rows["eps / calibrated"] == b].set_index("attack")
        label = "eps = 1" if b > 3 else f"{b:g} x eps"
        out[label] = [cell(part.loc[a]) if a in part.index else "" for a in attacks_]
    return out


def adaptive_seeds(fig: Path, ds: str, threshold: str) -> str:
    s = pd.read_csv(fig / f"adaptive_{ds}_seeds.csv")
    s = s[(s["quantity"] == "rate") & s["threshold"].isin([threshold, "none"])]
    out = _by_budget(s, _cell)
    return (f"Share of the attacked test images that fool F and pass D at threshold "
            f"`{threshold}` (undefended F: fool F), mean over {int(s['n_seeds'].max())} seeds "
            f"[95 % t interval]; source `figures/adaptive_{ds}_seeds.csv`.\n\n" + _md(out))


def fig2(fig: Path, ds: str, sub: str = "") -> str:
    """One seed's Fig. 2 matrix; ``sub``: a subfolder of figures (``full``)."""
    where = f"{sub}/" if sub else ""
    t = pd.read_csv(fig / where / f"fig2_{ds}.csv", index_col=0)
    out = t.map(_num)
    out.index.name = "trained on \\ tested on"
    return (f"Balanced accuracy at logit 0, seed 0; source `figures/{where}fig2_{ds}.csv`.\n\n"
            + _md(out))


def adaptive(fig: Path, ds: str, threshold: str, sub: str = "", stem: str = "adaptive") -> str:
    """One seed's adaptive-attack rates per budget; ``sub``: a subfolder (``full``)."""
    where = f"{sub}/" if sub else ""
    t = pd.read_csv(fig / where / f"{stem}_{ds}.csv")
    t = t[t["threshold"].isin([threshold, "none"])]
    out = _by_budget(t, lambda r: f"{r['rate']:.3f} {_ci(r['ci_low'], r['ci_high'])}")
    return (f"Share of the attacked test images that fool F and pass the detector at "
            f"threshold `{threshold}` (undefended F: fool F), seed 0, Wilson 95 % intervals; "
            f"source `figures/{where}{stem}_{ds}.csv`.\n\n" + _md(out))


def adaptive_peer(fig: Path, ds: str, threshold: str, sub: str = "") -> str:
    return adaptive(fig, ds, threshold, sub, stem="adaptive_peer")


def detectors(fig: Path, ds: str, sub: str = "") -> str:
    """Notebook 07's detectors (inputs and peers); ``sub``: a subfolder (``full``)."""
    where = f"{sub}/" if sub else ""
    t = pd.read_csv(fig / where / f"detectors_{ds}.csv")
    out = pd.DataFrame({"attack": t["attack"], "detector": t["detector"], "kind": t["kind"],
                        "balanced acc": _with_ci(t["balanced acc"], t["balanced acc 95% CI"]),
                        "AUC": _with_ci(t["AUC"], t["AUC 95% CI"]),
                        "TPR@val5%": _with_ci(t["TPR@val5%"], t["TPR@val5% 95% CI"]),
                        "test FPR@val5%": t["test FPR@val5%"].map(_num)})
    return (f"Seed 0; balanced accuracy at logit 0 (Wilson), AUC (Hanley-McNeil) and TPR at "
            f"the validation 5 % threshold (Wilson), 95 % intervals; source "
            f"`figures/{where}detectors_{ds}.csv`.\n\n" + _md(out.set_index("attack")))


def attacks(fig: Path, ds: str) -> str:
    t = pd.read_csv(fig / f"attacks_{ds}.csv", index_col=0)
    cols = ["eps", "f_acc_adv", "success_rate", "l2 mean", "l2 median", "linf mean",
            "l0 mean"]
    out = t[cols].map(lambda v: _num(v, 4) if isinstance(v, float) else v)
    return (f"Seed 0; distortion over the test images that fool F; source "
            f"`figures/attacks_{ds}.csv`.\n\n" + _md(out))


def variants(fig: Path, ds: str) -> str:
    base = pd.read_csv(fig / f"table2_{ds}.csv", index_col=0)
    rows = []
    for name, label in (("", "8-bit, fooled positives (default)"),
                        ("variants/float/", "float images"),
                        ("variants/train_all/", "all attacked images as positives")):
        path = fig / f"{name}table2_{ds}.csv"
        if not path.exists():
            continue
        t = pd.read_csv(path, index_col=0)
        for a in base.index:
            if a in t.index:
                rows.append({"attack": a, "protocol": label,
                             "balanced acc": _num(t.loc[a, "balanced acc"]),
                             "AUC": _num(t.loc[a, "AUC"]),
                             "TPR@val5%": f"{_num(t.loc[a, 'TPR@val5%'])} "
                                          f"{_ci_str(t.loc[a, 'TPR@val5% 95% CI'])}"})
    out = pd.DataFrame(rows).sort_values("attack", kind="stable",
                                         key=lambda c: c.map(list(base.index).index))
    return (f"Seed 0, one row per protocol; sources `figures/table2_{ds}.csv`, "
            f"`figures/variants/*/table2_{ds}.csv`.\n\n" + _md(out.set_index("attack")))


def _with_ci(values, cis):
    """``value [lo, hi]`` cells from a value column and its interval column."""
    return [f"{_num(v)} {_ci_str(c)}" for v, c in zip(values, cis)]


def baselines(fig: Path, ds: str) -> str:
    t = pd.read_csv(fig / f"baselines_{ds}.csv")
    out = pd.DataFrame({"attack": t["attack"], "detector": t["detector"],
                        "balanced acc": _with_ci(t["balanced acc"], t["balanced acc 95% CI"]),
                        "AUC": t["AUC"].map(_num),
                        "TPR@val5%": t["TPR@val5%"].map(_num),
                        "test FPR@val5%": t["test FPR@val5%"].map(_num)})
    return (f"Seed 0; source `figures/baselines_{ds}.csv`.\n\n"
            + _md(out.set_index("attack")))


def baselines_lr(fig: Path, ds: str, sub: str = "") -> str:
    """Notebook 07's inputs at each learning rate of ``d_lr_candidates``, the kept one
    marked (``sub``: a subfolder, ``full``)."""
    where = f"{sub}/" if sub else ""
    t = pd.read_csv(fig / where / f"baselines_lr_{ds}.csv")
    out = pd.DataFrame({"attack": t["attack"], "input": t["detector"],
                        "D's rate": t["d_lr"].map(lambda v: f"{v:g}"),
                        "val loss": t["val loss"].map(_num),
                        "kept": t["chosen"].map({True: "yes", False: ""}),
                        "balanced acc": _with_ci(t["balanced acc"], t["balanced acc 95% CI"]),
                        "AUC": _with_ci(t["AUC"], t["AUC 95% CI"]),
                        "TPR@val5%": _with_ci(t["TPR@val5%"], t["TPR@val5% 95% CI"])})
    return (f"Seed 0; `kept`: the rate with the lower validation loss (test images unused); "
            f"balanced accuracy at logit 0 (Wilson), AUC (Hanley-McNeil), TPR at the "
            f"validation 5 % threshold (Wilson), 95 % intervals; source "
            f"`figures/{where}baselines_lr_{ds}.csv`.\n\n" + _md(out.set_index("attack")))


def floor(fig: Path, machine: str) -> str:
    """Each notebook's wall time against its floor (``make bench``)."""
    t = pd.read_csv(fig / f"floor_{machine}.csv")
    peak = json.loads((fig / f"floor_{machine}.meta.json").read_text())["params"]["peak_gflops"]
    out = pd.DataFrame({"notebook": t["dataset"] + " " + t["preset"] + " " + t["notebook"],
                        "wall time (s)": t["seconds"].map(lambda v: _num(v, 1)),
                        "TFLOP counted": t["tflop"].map(lambda v: _num(v, 2)),
                        "floor (s)": t["floor_seconds"].map(lambda v: _num(v, 1)),
                        "wall / floor": t["ratio_to_floor"].map(lambda v: _num(v, 2))})
    return (f"Peak {peak} GFLOP/s; source `figures/floor_{machine}.csv`.\n\n"
            + _md(out.set_index("notebook")))


def scaling(fig: Path, machine: str, ds: str) -> str:
    """Seconds per 1000 images of each stage at each size, with peak memory
    (``python -m advsal.stage_scaling``)."""
    t = pd.read_csv(fig / f"stage_scaling_{machine}.csv")
    t = t[t["dataset"] == ds]
    sizes = list(dict.fromkeys(t["images"]))
    cols = {}
    for n in sizes:
        at = t[t["images"] == n].set_index("stage")
        cols[f"{n} images: s / 1000"] = at["seconds_per_1000"].map(_num)
        cols[f"{n}: share of peak"] = at["share_of_peak"].map(lambda v: _num(v, 2))
    cols["peak memory at " + str(sizes[-1]) + " (GB)"] = t[t["images"] == sizes[-1]].set_index(
        "stage")["peak_memory_gb"].map(lambda v: _num(v, 2))
    out = pd.DataFrame(cols)
    out.index.name = "stage"
    peak = json.loads((fig / f"stage_scaling_{machine}.meta.json").read_text())["params"][
        "peak_gflops"]
    return (f"{ds}; shares of the peak measured in the same run, {peak} GFLOP/s; source "
            f"`figures/stage_scaling_{machine}.csv`.\n\n" + _md(out))


KINDS = {"floor": floor, "scaling": scaling, "table2_seeds": table2_seeds, "table2": table2, "fig2_seeds": fig2_seeds,
         "fig2": fig2, "adaptive_seeds": adaptive_seeds, "adaptive": adaptive,
         "attacks": attacks, "variants": variants, "baselines": baselines,
         "baselines_lr": baselines_lr,
         "detectors": detectors, "adaptive_peer": adaptive_peer,
         "learning_curve": learning_curve}


def render_block(spec: str, figures_dir: Path) -> str:
    kind, *args = spec.split()
    if kind not in KINDS:
        raise ValueError(f"generated block kind={kind!r} is not known; allowed: {list(KINDS)}")
    return KINDS[kind](Path(figures_dir), *args)


def regenerate(text: str, figures_dir: Path) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("spec"), figures_dir)
                     + m.group(4), text)


_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def _csv_values(figures_dir: Path) -> list[float]:
    values = []
    for path in Path(figures_dir).rglob("*.csv"):
        for tok in re.split(r"[,\s\[\]\"()]+", path.read_text()):
            try:
                values.append(float(tok))
            except ValueError:
                pass
    return values


def numbers_not_in_csvs(text: str, figures_dir: Path) -> list[str]:
    """Decimal numbers in ``text`` that no CSV value under ``figures_dir`` rounds to
    (at the number's own precision, allowing for the CSVs' own rounding: older
    results hold 4 decimals; percentages as ``x %`` are
    checked as x/100)."""
    values = np.asarray(_csv_values(figures_dir))
    missing = []
    for m in _NUMBER.finditer(text):
        s = m.group(1)
        d = len(s.split(".")[1])
        target = float(s)
        pct = text[m.end():m.end() + 2].strip().startswith("%")
        cands = values * 100 if pct else values
        # a CSV value may itself be rounded to 4 decimals, so allow its half-step
        tol = 0.5 * 10 ** -d + 0.5 * 10 ** -(4 + (2 if pct else 0)) * (100 if pct else 1) + 1e-9
        if not np.any(np.abs(cands - target) <= tol):
            missing.append(s + (" %" if pct else ""))
    return missing


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m advsal.readme", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readme", default=str(repo_root() / "README.md"))
    ap.add_argument("--figures-dir", default=str(repo_root() / "figures"))
    ap.add_argument("--check", action="store_true", help="exit 1 if a block is out of date")
    args = ap.parse_args(argv)
    path = Path(args.readme)
    old = path.read_text()
    new = regenerate(old, Path(args.figures_dir))
    if args.check:
        if new != old:
            print(f"{path}: generated blocks are out of date; run python -m advsal.readme")
            sys.exit(1)
        return
    if new != old:
        path.write_text(new)
        print(f"{path}: generated blocks rewritten")


if __name__ == "__main__":
    main()
