"""Writing tables and figures into ``figures/`` with their provenance.

Every table is written as ``.csv``, ``.md`` and ``.tex``, every figure as
``.png`` and ``.pdf``; beside each goes ``<name>.meta.json`` with the
parameters, seed, library versions, git revision and machine that made it.
Files are written atomically (temporary file, then rename).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_file, atomic_text
from .reproducibility import provenance

__all__ = ["save_table", "save_figure", "markdown_table", "write_meta"]


CSV_DIGITS = 6


def _fmt(v, digits, style="f"):
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return ""
        if style == "f" and v != 0 and abs(v) < 0.5 * 10.0 ** -digits:
            return f"{v:.{digits}g}"   # a learning rate of 1e-4 is not "0.000"
        return f"{v:.{digits}{style}}"
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(t, float) for t in v):
        return f"[{v[0]:.{digits}{style}}, {v[1]:.{digits}{style}}]"
    return str(v)


def _cell(text) -> str:
    return str(text).replace("|", "\\|")   # a literal | would end the Markdown cell


def markdown_table(df: pd.DataFrame, digits=3, index=True) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); integers print as
    integers, floats with ``digits`` decimals (one too small to show there, with ``digits``
    significant digits), and ``|`` in any cell is escaped."""
    cols = ([df.index.name or ""] if index else []) + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for idx, *values in df.itertuples(name=None):   # keeps each column's own type
        cells = ([str(idx)] if index else []) + [_fmt(v, digits) for v in values]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_meta(path: Path, params: dict | None, extra: dict | None = None):
    meta = provenance(params)
    meta.update(extra or {})
    atomic_text(Path(str(path) + ".meta.json"),
                 json.dumps(meta, indent=1, sort_keys=True, default=str))


def save_table(df: pd.DataFrame, name: str, figures_dir, params=None, caption="",
               digits=3, index=True):
    """Write ``df`` as CSV, Markdown and LaTeX under ``figures_dir``; return the paths."""
    figures_dir = Path(figures_dir)
    base = figures_dir / name
    # The CSV keeps CSV_DIGITS significant digits, so that a number printed from it at 3
    # decimals (README, Markdown) is the number rounded once, as the notebook prints it
    csv_df = df.map(lambda v: _fmt(v, CSV_DIGITS, "g") if isinstance(v, tuple) else v)  # "[lo, hi]"
    atomic_text(base.with_suffix(".csv"),
                 csv_df.to_csv(index=index, float_format=f"%.{CSV_DIGITS}g"))
    md = (f"{caption}\n\n" if caption else "") + markdown_table(df, digits, index)
    atomic_text(base.with_suffix(".md"), md)
    tex_df = df.map(lambda v: _fmt(v, digits))
    atomic_text(base.with_suffix(".tex"), tex_df.to_latex(index=index, caption=caption or None,
                                                           label=f"tab:{name}", escape=True))
    write_meta(base, params, {"caption": caption})
    return [base.with_suffix(e) for e in (".csv", ".md", ".tex")]


def save_figure(fig, name: str, figures_dir, params=None, dpi=150):
    """Write ``fig`` as PNG and PDF under ``figures_dir``; return the paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in (".png", ".pdf"):
        target = figures_dir / f"{name}{ext}"
        with atomic_file(target) as fh:
            fig.savefig(fh, dpi=dpi, bbox_inches="tight", format=ext[1:])
        paths.append(target)
    write_meta(figures_dir / name, params)
    return paths
