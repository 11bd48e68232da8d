"""Figures of the study: training curves, adversarial examples, the Fig. 1
saliency grids, ROC curves and the generalisation heatmaps (Fig. 2, Table III)."""
from __future__ import annotations

import matplotlib

matplotlib.use(matplotlib.get_backend() if matplotlib.get_backend() else "Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .attacks import attack_names, attack_spec  # noqa: E402
from .metrics import roc_curve  # noqa: E402

__all__ = ["plot_training_curve", "plot_adversarial_rows", "plot_fig1", "plot_roc",
           "plot_heatmap", "plot_table3", "show_image", "ATTACK_LABELS"]

ATTACK_LABELS = {a: attack_spec(a).label for a in attack_names()}   # from each attack's spec


def show_image(ax, img, title=None):
    img = np.asarray(img)
    if img.shape[-1] == 1:
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(img, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_training_curve(history, title, paper_test=None, augmented=False):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = np.arange(1, len(history["accuracy"]) + 1)
    ax.plot(epochs, history["accuracy"], "o-",
            label="train (augmented batches)" if augmented else "train")
    ax.set_xticks(epochs if len(epochs) <= 15 else np.unique(np.linspace(1, len(epochs), 8,
                                                                          dtype=int)))
    if history.get("val_accuracy"):
        ax.plot(epochs, history["val_accuracy"], "s-", label="test")
    if paper_test is not None:
        ax.axhline(paper_test, color="k", ls="--", lw=1, label=f"paper test {paper_test:.4f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_adversarial_rows(x, advs: dict, n=6, labels=None):
    """One row per attack: ``n`` adversarial images (first row: clean)."""
    rows = [("clean", x)] + list(advs.items())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c in range(n):
            show_image(axes[r, c], imgs[c])
        axes[r, 0].set_ylabel(ATTACK_LABELS.get(name, name), fontsize=8)
    fig.tight_layout()
    return fig


def _magnitude(s):
    s = np.asarray(s)
    return np.abs(s).sum(-1) if s.shape[-1] > 1 else np.abs(s[..., 0])


def plot_fig1(x, x_adv, s, s_adv, labels=None, n=4, title=None, attack="FGSM"):
    """Fig. 1, with what the reader checks: per sample three columns - the clean image,
    its ``attack`` version and the perturbation (amplified) - and below each its
    saliency (absolute value summed over channels). Every saliency map shares one
    colour scale (colour bars at the right), and the third map of a sample is the
    adversarial map minus the clean one, so a change in the saliency (or its absence)
    is visible. ``labels``: per sample ``(clean label, adversarial prediction)``."""
    mags = [(_magnitude(s[k]), _magnitude(s_adv[k])) for k in range(n)]
    top = max([1e-12] + [float(m.max()) for pair in mags for m in pair])
    fig, axes = plt.subplots(2, 3 * n, figsize=(1.25 * 3 * n + 1.0, 3.4), squeeze=False)
    for k, (m, m_adv) in enumerate(mags):
        a, b, c = 3 * k, 3 * k + 1, 3 * k + 2
        clean_label, adv_label = labels[k] if labels is not None else ("", "")
        show_image(axes[0, a], x[k], f"clean: {clean_label}".rstrip(": "))
        show_image(axes[0, b], x_adv[k], f"{attack}: {adv_label}".rstrip(": "))
        delta = np.asarray(x_adv[k], np.float32) - np.asarray(x[k], np.float32)
        scale = max(float(np.abs(delta).max()), 1e-12)
        show_image(axes[0, c], 0.5 + 0.5 * delta / scale, f"x_adv - x (x{0.5 / scale:.0f})")
        mag = axes[1, a].imshow(m, cmap="magma", vmin=0, vmax=top)
        axes[1, b].imshow(m_adv, cmap="magma", vmin=0, vmax=top)
        diff = axes[1, c].imshow(m_adv - m, cmap="RdBu_r", vmin=-top, vmax=top)
        for ax in axes[1, a:c + 1]:
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1, c].set_title("adv - clean", fontsize=7)
    axes[1, 0].set_ylabel("|saliency|", fontsize=8)
    axes[0, 0].set_ylabel("image", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    w = fig.get_figwidth()
    fig.tight_layout(rect=(0, 0, 1 - 1.0 / w, 1))
    for i, (im, label) in enumerate(((mag, "|saliency|"), (diff, "adv - clean"))):
        cax = fig.add_axes((1 - (0.95 - 0.5 * i) / w, 0.08, 0.1 / w, 0.38))
        bar = fig.colorbar(im, cax=cax)
        bar.ax.tick_params(labelsize=6)
        bar.set_label(label, fontsize=6, labelpad=1)
    return fig


def plot_roc(reports: dict, title):
    """ROC curves, one per attack, from :func:`advsal.metrics.detection_report` dicts."""
    fig, ax = plt.subplots(figsize=(4.2, 4))
    styles = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
    for i, (name, rep) in enumerate(reports.items()):
        sc, sa = rep["scores_clean"], rep["scores_adv"]
        fpr, tpr = roc_curve(np.r_[np.zeros(len(sc)), np.ones(len(sa))], np.r_[sc, sa])
        # distinct dashes and widths, so that curves lying on each other stay visible
        ax.plot(fpr, tpr, ls=styles[i % len(styles)], lw=2.6 - 0.35 * (i % len(styles)),
                label=f"{ATTACK_LABELS.get(name, name)} (AUC {rep['auc']:.3f})")
    chance = np.logspace(-4, 0, 200)
    ax.plot(chance, chance, "k:", lw=0.8, label="chance")
    n_clean = max(len(r["scores_clean"]) for r in reports.values()) if reports else 100
    ax.set_xscale("log")      # the interesting part of a detector's ROC is at small FPR
    ax.set_xlim(1.0 / max(n_clean, 1) / 2, 1.0)
    ax.set_xlabel("false-positive rate (clean flagged), log scale")
    ax.set_ylabel("true-positive rate (adversarial flagged)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_heatmap(df, title, xlabel, ylabel, vmin=0.5, vmax=1.0):
    """Annotated seaborn heatmap of a matrix of accuracies."""
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * df.shape[1], 0.8 + 0.7 * df.shape[0]))
    sns.heatmap(df.astype(float), annot=True, fmt=".2f", cmap="viridis", vmin=vmin, vmax=vmax,
                cbar_kws={"label": "balanced detection accuracy"}, ax=ax, square=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_table3(tables: dict, levels: dict, title: str):
    """Table III as heatmaps, one per attack: rows the epsilon a detector was trained
    at, columns the epsilon it is tested at (both printed), one colour bar."""
    import seaborn as sns

    n = len(tables)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 0.9, 3.6), squeeze=False)
    for k, (ax, (a, t)) in enumerate(zip(axes[0], tables.items())):
        eps = [f"{v:.3g}" for v in levels[a]]
        m = pd.DataFrame(np.asarray(t, float), index=eps, columns=eps)
        sns.heatmap(m, annot=True, fmt=".2f", cmap="viridis", vmin=0.5, vmax=1, ax=ax,
                    square=True, cbar=k == n - 1,
                    cbar_kws={"label": "balanced detection accuracy"})
        ax.set_title(ATTACK_LABELS.get(a, a), fontsize=9)
        ax.set_xlabel("tested at eps")
        ax.set_ylabel("trained at eps" if k == 0 else "")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_rate_curves(df, x, y, group, lo=None, hi=None, title="", xlabel="", ylabel="",
                     vline=None, vline_label=None, styles=None):
    """One curve of ``y`` against ``x`` per value of ``group`` (a long data frame),
    with a shaded interval between columns ``lo`` and ``hi`` when given.
    ``styles``: group -> matplotlib format string. Used for the adaptive-attack
    success curves of notebook 08."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for name, part in df.groupby(group, sort=False):
        part = part.sort_values(x)
        fmt = (styles or {}).get(name, "o-")
        line, = ax.plot(part[x], part[y], fmt, label=str(name), ms=4)
        if lo is not None and hi is not None:
            ax.fill_between(part[x], part[lo], part[hi], color=line.get_color(), alpha=0.15,
                            lw=0)
    if vline is not None:
        ax.axvline(vline, color="k", ls=":", lw=1, label=vline_label)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def plot_detector_comparison(table, metric="AUC", ci_col="AUC 95% CI", title=""):
    """Grouped bars: one group per attack, one bar per detector, with its interval."""
    attacks = list(dict.fromkeys(table.index))
    detectors = list(dict.fromkeys(table["detector"]))
    width = 0.8 / len(detectors)
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(attacks) * len(detectors) / 3), 3.6))
    for j, det in enumerate(detectors):
        rows = table[table["detector"] == det]
        xs, ys, lo, hi = [], [], [], []
        for i, a in enumerate(attacks):
            if a in rows.index:
                r = rows.loc[[a]].iloc[0]
                if not isinstance(r[ci_col], tuple):   # an empty row (a peer with no fit)
                    continue
                xs.append(i + (j - (len(detectors) - 1) / 2) * width)
                ys.append(r[metric])
                lo.append(r[metric] - r[ci_col][0])
                hi.append(r[ci_col][1] - r[metric])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=det)
    ax.set_xticks(range(len(attacks)), [ATTACK_LABELS.get(a, a) for a in attacks], fontsize=8)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=min(len(detectors), 4), loc="upper center",
              bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_learning_curve(curve, title=""):
    """AUC (left) and TPR at 5 % validation FPR (right) against the number of training
    pairs (log axis), one line per (attack, input, calibration target), with intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), sharex=True)
    styles = {"image+saliency": "o-", "saliency": "s--", "image": "^:", "first_layer": "d-."}
    for ax, (col, lo, hi, label) in zip(axes, (
            ("auc", "auc_ci_low", "auc_ci_high", "AUC"),
            ("tpr_val5", "tpr_val5_ci_low", "tpr_val5_ci_high", "TPR at 5 % validation FPR"))):
        for (target, attack, kind), part in curve.groupby(["calib_target", "attack", "features"],
                                                          sort=False):
            part = part.sort_values("n_pairs")
            name = (f"{ATTACK_LABELS.get(attack, attack)} eps {part.eps.iloc[0]:.3g} ({target}), "
                    f"{kind}")
            line, = ax.plot(part.n_pairs, part[col], styles.get(kind, "o-"), ms=4, label=name)
            ax.fill_between(part.n_pairs, part[lo], part[hi], color=line.get_color(),
                            alpha=0.15, lw=0)
        ax.axhline(0.5 if col == "auc" else 0.05, color="k", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(mticker.NullFormatter())   # minor labels overlap
        ax.set_ylim(0.0 if col != "auc" else 0.4, 1.02)
        ax.set_xlabel("training pairs (clean + adversarial images)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
