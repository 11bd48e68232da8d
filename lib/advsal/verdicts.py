"""The logic behind the notebooks' verdict cells: when a number supports a
claim, written once, tested, and printed by the notebooks.

A claim "X is better than Y" stands only where the 95 % intervals of X and Y
do not overlap (:func:`separation`); a detector "works" on a cell only where
the lower bound of its balanced accuracy clears chance by a margin
(:func:`above_chance`). Summaries never average cells: every pair is stated.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .attacks import attack_names, attack_spec

__all__ = ["separation", "compare", "above_chance", "paper_gaps", "cross_attack_pairs",
           "adaptive_verdict", "defence_status", "table3_pairs",
           "table3_halves", "collapsed", "input_comparison", "STRONG", "WEAK",
           "CHANCE_MARGIN"]

# the paper's Section IV.B grouping, declared by each attack's spec
STRONG = tuple(a for a in attack_names() if attack_spec(a).paper_group == "strong")
WEAK = tuple(a for a in attack_names() if attack_spec(a).paper_group == "weak")
CHANCE_MARGIN = 0.05   # a balanced accuracy whose lower bound is below 0.5 + this is "near chance"


def separation(ci_a, ci_b) -> int:
    """+1 when interval ``ci_a`` lies wholly above ``ci_b``, -1 when wholly below,
    0 when they overlap (no direction can be claimed)."""
    (a_lo, a_hi), (b_lo, b_hi) = ci_a, ci_b
    if any(np.isnan(v) for v in (a_lo, a_hi, b_lo, b_hi)):
        return 0
    return 1 if a_lo > b_hi else -1 if a_hi < b_lo else 0


def compare(name_a, val_a, ci_a, name_b, val_b, ci_b, digits=3) -> str:
    """One sentence comparing two values with intervals, claiming a direction only
    where the intervals separate."""
    f = f"{{:.{digits}f}}"
    a = f"{name_a} {f.format(val_a)} [{f.format(ci_a[0])}, {f.format(ci_a[1])}]"
    b = f"{name_b} {f.format(val_b)} [{f.format(ci_b[0])}, {f.format(ci_b[1])}]"
    sep = separation(ci_a, ci_b)
    if sep > 0:
        return f"{a} is higher than {b} (intervals separate)"
    if sep < 0:
        return f"{a} is lower than {b} (intervals separate)"
    return f"{a} and {b} are not distinguishable (intervals overlap)"


def above_chance(ci) -> bool:
    """Whether a balanced accuracy's interval lies clear of chance (0.5 + margin)."""
    return bool(ci[0] > 0.5 + CHANCE_MARGIN)


def collapsed(report) -> bool:
    """Whether a detector's training collapsed to one answer: every test image, clean
    and adversarial, on one side of logit 0, and its AUC interval not clear of 0.5. Its
    numbers then describe a failed training run, not what its input can show."""
    one_sided = {report["tnr"], report["tpr"]} == {0.0, 1.0}
    lo, hi = report["auc_ci"]
    return bool(report["n_adv"] > 0 and one_sided and lo <= 0.5 <= hi)


def input_comparison(reports: dict, attacks, kinds, ours="image+saliency",
                     pixels="image") -> list[str]:
    """Notebook 07's verdict per attack (``reports``: (attack, input) -> report of
    :meth:`advsal.pipeline.Study.evaluate`): the best input by AUC, and whether ``ours``
    beats ``pixels`` by balanced accuracy beyond the intervals; a detector that
    :func:`collapsed` is named as such instead of entering a comparison."""
    from .tables import balanced_ci

    def name(kind):
        return {ours: f"{ours} (paper's D)", pixels: "pixels only"}.get(kind, kind)

    lines = []
    for a in attacks:
        reps = {k: reports[(a, k)] for k in kinds}
        if all(r["n_adv"] == 0 for r in reps.values()):
            lines.append(f"- **{a}**: no test image fooled F; no comparison.")
            continue
        best = max(reps, key=lambda k: -1.0 if np.isnan(reps[k]["auc"]) else reps[k]["auc"])
        parts = [f"best AUC {reps[best]['auc']:.3f} by `{best}`"]
        failed = [k for k in kinds if collapsed(reps[k])]
        if failed:
            parts.append("collapsed (every test image on one side of logit 0, AUC not clear "
                         "of 0.5: a failed training run, not evidence about its input): "
                         + ", ".join(f"{name(k)} (AUC {reps[k]['auc']:.3f})" for k in failed))
        rest = [k for k in kinds if k not in failed]
        if ours in rest and pixels in rest:
            ro, rp = reps[ours], reps[pixels]
            parts.append("balanced accuracy at logit 0: " + compare(
                name(ours), ro["balanced_accuracy"], balanced_ci(ro["at"]["logit0"]),
                name(pixels), rp["balanced_accuracy"], balanced_ci(rp["at"]["logit0"])))
            rest = [k for k in rest if k not in (ours, pixels)]
            label = "the others"
        else:
            label = "balanced accuracy at logit 0"
        if rest:
            parts.append(f"{label}: " + ", ".join(
                f"{name(k)} {reps[k]['balanced_accuracy']:.3f}" for k in rest))
        lines.append(f"- **{a}**: " + "; ".join(parts) + ".")
    return lines


_ROUNDING = 1e-9   # float rounding of interval ends


def paper_gaps(t2: pd.DataFrame) -> list[str]:
    """Table II against the paper: for D(x_test) and D(x_adv) per attack, whether
    the paper's value lies inside our 95 % interval."""
    lines = []
    for a, row in t2.iterrows():
        for col in ("D(x_test)", "D(x_adv)"):
            ours, paper_v = float(row[col]), float(row[f"paper {col}"])
            lo, hi = row[f"{col} 95% CI"]
            if np.isnan(paper_v):
                lines.append(f"- {a} {col}: ours {ours:.3f} (the paper reports no value for "
                             "this attack)")
            elif lo - _ROUNDING <= paper_v <= hi + _ROUNDING:   # Wilson's 1 is 1 - 1e-16
                lines.append(f"- {a} {col}: ours {ours:.3f}, paper {paper_v:.2f}: the paper's "
                             f"value is inside our 95 % interval [{lo:.3f}, {hi:.3f}]")
            else:
                word = "below" if ours < paper_v else "above"
                lines.append(f"- {a} {col}: ours {ours:.3f} is {abs(ours - paper_v):.3f} {word} "
                             f"the paper's {paper_v:.2f} (95 % interval [{lo:.3f}, {hi:.3f}])")
    return lines


def cross_attack_pairs(value: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame,
                       strong=STRONG, weak=WEAK) -> list[str]:
    """Fig. 2, pair by pair: for each strong attack s and weak attack w present,
    s->w (trained on s, tested on w) against w->s, a direction claimed only where
    the intervals separate, and cells near chance named as such."""
    lines = []
    present = [a for a in value.index if a in value.columns]

    def cell(a, b):
        return float(value.loc[a, b]), (float(low.loc[a, b]), float(high.loc[a, b]))

    for s in [a for a in strong if a in present]:
        for w in [a for a in weak if a in present]:
            vs, cs = cell(s, w)
            vw, cw = cell(w, s)
            text = compare(f"{s}->{w}", vs, cs, f"{w}->{s}", vw, cw)
            notes = [n for n, ci in ((f"{s}->{w}", cs), (f"{w}->{s}", cw))
                     if not above_chance(ci)]
            if notes:
                text += f"; near chance: {', '.join(notes)}"
            lines.append(f"- {text}.")
    return lines


def table3_pairs(value: pd.DataFrame, low: pd.DataFrame, high: pd.DataFrame,
                 levels=None) -> list[str]:
    """Table III, cell by mirrored cell: trained at level i and tested at the larger
    level j (the paper says this generalises) against trained at j and tested at i
    (the paper says this fails), a direction claimed only where the intervals
    separate."""
    lines = []
    idx = list(value.index)
    name = (lambda k: f"{levels[k - 1]:.4g}") if levels else (lambda k: f"level {k}")
    for a, i in enumerate(idx):
        for j in idx[a + 1:]:
            up = (float(value.loc[i, j]), (float(low.loc[i, j]), float(high.loc[i, j])))
            lo = (float(value.loc[j, i]), (float(low.loc[j, i]), float(high.loc[j, i])))
            lines.append("- " + compare(f"fit {name(i)} -> test {name(j)}", up[0], up[1],
                                        f"fit {name(j)} -> test {name(i)}", lo[0], lo[1]) + ".")
    return lines


def table3_halves(m) -> dict:
    """Table III's two halves as cells: trained larger than tested (lower triangle)
    and trained smaller than tested (upper triangle), each a list of
    ``(fit level, test level, value)``."""
    m = np.asarray(m, float)
    lo = [(i + 1, j + 1, m[i, j]) for i, j in zip(*np.tril_indices_from(m, -1))]
    up = [(i + 1, j + 1, m[i, j]) for i, j in zip(*np.triu_indices_from(m, 1))]
    return {"trained_larger": lo, "trained_smaller": up}


# ------------------------------------------------------------------ notebook 08
FULL, IMAGE_ONLY, FIRST = ("image+saliency (adaptive, surrogate)",
                           "image+saliency (image channel only)", "first_layer (adaptive)")
UNDEFENDED = "undefended F"


def defence_status(ci_low: float, ci_high: float) -> str:
    """``falls`` (the attacker gets through on a majority, lower bound > 0.5),
    ``holds`` (on fewer than 10 %, upper bound < 0.1), else ``mixed``."""
    return "falls" if ci_low > 0.5 else "holds" if ci_high < 0.1 else "mixed"


def adaptive_verdict(adaptive: pd.DataFrame, eq10: pd.DataFrame, clean_pass: dict,
                     eps0: float, threshold: str) -> tuple[str, list[str]]:
    """Notebook 08's verdict at one of the defender's thresholds.

    ``adaptive``: rows of the adaptive table (index: attack label; columns
    ``eps``, ``eps / calibrated``, ``threshold``, ``rate``, ``ci_low``,
    ``ci_high``); ``eq10``: the Eq. 10 table (columns ``detector``, ``sigma``,
    ``threshold``, ``fools F and D``, ``95% CI``); ``clean_pass``: detector kind
    -> share of clean attacked images it judges clean at this threshold.
    Returns the headline and the supporting lines.
    """
    def rows_of(label):
        part = adaptive[adaptive.index == label]
        if label != UNDEFENDED:
            part = part[part["threshold"] == threshold]
        return part.sort_values("eps")

    lines = []
    for label in (FULL, FIRST):
        part = rows_of(label)
        if not len(part):
            continue
        fall = part[(part["ci_low"] > 0.5) & (part["eps"] < 1.0)]
        first = (f"falls from eps = {fall['eps'].iloc[0]:.4g} "
                 f"({fall['eps / calibrated'].iloc[0]:.2g} x the training budget) on"
                 if len(fall) else "does not fall (lower 95 % bound > 0.5) at any bounded "
                                   "budget tried")
        at0 = part[np.isclose(part["eps"], eps0)]
        s0 = ""
        if len(at0):
            r0 = at0.iloc[0]
            s0 = (f"; at the training budget eps = {eps0:.4g} the attacker gets through on "
                  f"{r0['rate']:.1%} [{r0['ci_low']:.1%}, {r0['ci_high']:.1%}] of images "
                  f"({defence_status(r0['ci_low'], r0['ci_high'])})")
        kind = label.split(" ")[0]
        lines.append(f"- **{label}**: {first}{s0}. For reference, D judges "
                     f"{clean_pass.get(kind, float('nan')):.1%} of the clean images clean.")
    ful, img = rows_of(FULL), rows_of(IMAGE_ONLY)
    if len(ful) and len(img) and len(ful) == len(img):
        pairs = [compare(f"surrogate at eps {e:.3g}", a, (al, ah), "image-channel only", b,
                         (bl, bh), digits=2)
                 for e, a, al, ah, b, bl, bh in zip(ful["eps"], ful["rate"], ful["ci_low"],
                                                    ful["ci_high"], img["rate"], img["ci_low"],
                                                    img["ci_high"])]
        lines.append("- Differentiating through the saliency (softplus surrogate) vs treating it "
                     "as a constant: " + "; ".join(pairs) + ".")
    e10 = eq10[eq10["threshold"] == threshold] if "threshold" in eq10 else eq10
    for kind in ("image+saliency", "first_layer", "image"):
        part = e10[e10["detector"] == kind]
        if len(part):
            b = part.loc[part["fools F and D"].astype(float).idxmax()]
            lo, hi = b["95% CI"]
            lines.append(f"- Eq. 10 against `{kind}`: best sigma = {b['sigma']}, rate "
                         f"{b['fools F and D']:.1%} [{lo:.1%}, {hi:.1%}].")
    und = rows_of(UNDEFENDED)
    bounded = und[und["eps"] < 1.0]
    checks = []
    if len(bounded):
        r = bounded["rate"].iloc[-1]
        checks.append(f"undefended F at eps = {bounded['eps'].iloc[-1]:.4g}: {r:.1%}"
                      + (" (100 %: OK)" if r == 1.0 else " (NOT 100 %)"))
    for label in (FULL, FIRST):
        unb = rows_of(label)
        unb = unb[unb["eps"] >= 1.0]
        if len(unb):
            kind = label.split(" ")[0]
            cp = clean_pass.get(kind, float("nan"))
            why = (f" (below 95 %, but D also flags {1 - cp:.0%} of clean images: a detector "
                   "that flags nearly everything cannot be evaded, nor used)" if cp < 0.5
                   else " (below 95 %: the attack is too weak)")
            checks.append(f"{label} at eps = 1: {unb['rate'].iloc[0]:.1%}"
                          + (" (OK)" if unb["rate"].iloc[0] >= 0.95 else why))
    if checks:
        lines.append("- Sanity checks: " + "; ".join(checks) + ".")
    sal = rows_of(FULL)
    sal = sal[sal["eps"] < 1.0]
    falls = sal[sal["ci_low"] > 0.5]
    if len(falls):
        e_fall = falls["eps"].iloc[0]
        img_b = img[np.isclose(img["eps"], e_fall)] if len(img) else img
        img_falls = bool(len(img_b)) and img_b["ci_low"].iloc[0] > 0.5
        head = (f"**At threshold {threshold}, the saliency detector does not survive an adaptive "
                f"attacker** (from eps = {e_fall:.4g}, {e_fall / eps0:.2g} x its training budget). "
                + ("An attacker that ignores the saliency channel (its gradient stopped) also gets "
                   "through there: D's image channel is enough." if img_falls else
                   "Only the attacker that differentiates through the saliency (softplus "
                   "surrogate) gets through there: the saliency channel masked the gradient, it "
                   "did not make D robust."))
    elif len(sal) and (sal["ci_high"] < 0.1).all():
        head = (f"**At threshold {threshold}, the saliency detector survives this adaptive "
                "attacker at every bounded budget tried** (evidence, not proof: a stronger attack "
                "may exist).")
    else:
        head = (f"**At threshold {threshold}, mixed**: the adaptive attacker gets through on part "
                "of the images; see the rates above.")
    return head, lines


def peer_comparison(table: pd.DataFrame, ours: str, kind_col="kind") -> list[str]:
    """Per attack of a detector comparison (:func:`advsal.peer_study.comparison_table`):
    the best detector by AUC, and the paper's D (``ours``) against the best peer by
    AUC, a direction claimed only where the intervals separate."""
    lines = []
    for attack, rows in table.groupby(level=0, sort=False):
        rows = rows.reset_index(drop=True)
        peers, d = rows[rows[kind_col] == "peer"], rows[rows["detector"] == ours]
        fitted = peers["AUC 95% CI"].map(lambda v: isinstance(v, tuple))
        if not peers.empty and not fitted.any() and not d.empty:
            lines.append(f"- **{attack}**: no peer could be fitted (no adversarial training "
                         "or validation image).")
            continue
        peers = peers[fitted]
        if rows["AUC"].isna().all() or peers.empty or d.empty:
            continue
        best = rows.loc[rows["AUC"].idxmax()]
        p = peers.loc[peers["AUC"].idxmax()] if peers["AUC"].notna().any() else peers.iloc[0]
        d = d.iloc[0]
        cmp = compare(f"the paper's D ({ours})", d["AUC"], d["AUC 95% CI"],
                      f"the best peer ({p['detector']})", p["AUC"], p["AUC 95% CI"])
        lines.append(f"- **{attack}**: best AUC {best['AUC']:.3f} by `{best['detector']}`; "
                     f"AUC: {cmp}.")
    return lines


def at_training_budget(adaptive: pd.DataFrame, label: str) -> list[str]:
    """For the rows ``label`` of an adaptive table: at the budget the detector was
    trained at (``eps / calibrated`` = 1), per threshold, the attacker's rate with its
    interval and whether the defence falls, holds or is mixed (:func:`defence_status`)."""
    rows = adaptive.loc[[label]] if label in adaptive.index else adaptive.iloc[:0]
    rows = rows[np.isclose(rows["eps / calibrated"].astype(float), 1.0)]
    return [f"- `{label}` at eps {r['eps']:.4g}, threshold {r['threshold']}: "
            f"{r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] of the images fool F and "
            f"pass: defence **{defence_status(r['ci_low'], r['ci_high'])}**"
            for _, r in rows.iterrows()]
