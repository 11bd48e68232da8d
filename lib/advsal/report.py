"""A browsable report of a run: the executed notebooks as HTML and one index page
linking every notebook, table and figure, so a reader can go through a whole study
without running it (``make report``)::

    python -m advsal.report --runs runs --figures runs/figures --out runs/report

The report folder is self-contained (notebooks, tables and figures are copied or
rendered into it) and opens from disk in any browser.
"""
from __future__ import annotations

import argparse
import html
import re
import json
import shutil
from pathlib import Path

import pandas as pd

__all__ = ["build_report", "main"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45 }
h1 { font-size: 1.6rem } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd;
     padding-bottom: .2rem; margin-top: 2rem } h3 { font-size: 1.05rem; margin-bottom: .3rem }
table { border-collapse: collapse; font-size: .8rem; margin: .4rem 0 1rem }
td, th { border: 1px solid #ccc; padding: .15rem .4rem; text-align: right }
th { background: #f3f3f3 } .caption { color: #555; font-size: .85rem; margin: 0 }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: 1rem }
.figs figure { margin: 0 } .figs img { width: 100%; border: 1px solid #ddd }
figcaption { font-size: .8rem; color: #555 } .scroll { overflow-x: auto }
"""


_INTERVAL = re.compile(r"^\[\s*([-+\d.eE]+|nan),\s*([-+\d.eE]+|nan)\s*\]$")


def _tidy(value):
    """An interval cell such as ``[0.963007, 1]`` at three decimals; other cells as they are."""
    m = _INTERVAL.match(value) if isinstance(value, str) else None
    return f"[{float(m.group(1)):.3f}, {float(m.group(2)):.3f}]" if m else value


def _caption(meta_path: Path) -> str:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return ""
    return str(meta.get("caption", ""))


def _notebooks_html(runs: Path, out: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Render every executed notebook under ``runs/<preset>/<dataset>/`` to HTML."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    groups = []
    for folder in sorted(p for p in runs.glob("*/*") if p.is_dir() and p.parent.name != "report"):
        books = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
        if not books:
            continue
        target = out / "notebooks" / folder.parent.name / folder.name
        target.mkdir(parents=True, exist_ok=True)
        links = []
        for nb in books:
            body, _ = exporter.from_filename(str(nb))
            (target / f"{nb.stem}.html").write_text(body, encoding="utf-8")
            links.append((nb.stem, str((target / f"{nb.stem}.html").relative_to(out))))
        groups.append((folder.parent.name, folder.name, links))
    return groups


def build_report(runs, figures, out) -> Path:
    """Write ``out/index.html`` (and the rendered notebooks, tables and figures beside
    it) for the executed notebooks under ``runs`` and the results in ``figures``."""
    runs, figures, out = Path(runs), Path(figures), Path(out)
    if not figures.is_dir():
        raise FileNotFoundError(f"figures={str(figures)!r} is not a folder of results")
    out.mkdir(parents=True, exist_ok=True)
    groups = _notebooks_html(runs, out) if runs.is_dir() else []
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>advsal report</title>"
             f"<style>{_STYLE}</style></head><body><h1>Detecting adversarial perturbations "
             f"with saliency: study report</h1><p class='caption'>Results from "
             f"<code>{html.escape(str(figures))}</code>; executed notebooks from "
             f"<code>{html.escape(str(runs))}</code>.</p>", "<h2 id='notebooks'>Executed notebooks</h2>"]
    if not groups:
        parts.append("<p>No executed notebooks found (run <code>make study</code> first).</p>")
    for preset, dataset, links in groups:
        items = "".join(f"<li><a href='{html.escape(href)}'>{html.escape(name)}</a></li>"
                        for name, href in links)
        parts.append(f"<h3>{html.escape(dataset)} ({html.escape(preset)})</h3><ul>{items}</ul>")
    tables = sorted(figures.rglob("*.csv"))
    names = [str(t.relative_to(figures)) for t in tables]
    parts.insert(1, "<p>Contents: <a href='#notebooks'>executed notebooks</a> · tables: "
                 + ", ".join(f"<a href='#{html.escape(n)}'>{html.escape(n[:-4])}</a>"
                             for n in names) + " · <a href='#figures'>figures</a></p>")
    parts.append(f"<h2>Tables ({len(tables)})</h2>")
    copied = out / "figures"
    for csv in tables:
        rel = csv.relative_to(figures)
        (copied / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(csv, copied / rel)
        try:
            frame = pd.read_csv(csv).map(_tidy)
        except (ValueError, pd.errors.ParserError) as err:
            parts.append(f"<h3 id='{html.escape(str(rel))}'>{html.escape(str(rel))}</h3>"
                         f"<p>unreadable: {html.escape(str(err))}</p>")
            continue
        parts.append(
            f"<h3 id='{html.escape(str(rel))}'>{html.escape(str(rel.with_suffix('')))} "
            f"<a href='figures/{html.escape(str(rel))}'>csv</a></h3>"
            f"<p class='caption'>{html.escape(_caption(csv.with_suffix('.meta.json')))}</p>"
            f"<div class='scroll'>{frame.to_html(index=False, float_format=lambda v: f'{v:.4g}', na_rep='')}</div>")
    images = sorted(figures.rglob("*.png"))
    parts.append(f"<h2 id='figures'>Figures ({len(images)})</h2><div class='figs'>")
    for png in images:
        rel = png.relative_to(figures)
        (copied / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, copied / rel)
        cap = _caption(png.with_suffix(".meta.json")) or str(rel.with_suffix(""))
        parts.append(f"<figure><a href='figures/{html.escape(str(rel))}'><img loading='lazy' "
                     f"src='figures/{html.escape(str(rel))}' alt='{html.escape(str(rel))}'></a>"
                     f"<figcaption><b>{html.escape(str(rel.with_suffix('')))}</b> "
                     f"{html.escape(cap if cap != str(rel.with_suffix('')) else '')}"
                     f"</figcaption></figure>")
    parts.append("</div></body></html>")
    index = out / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m advsal.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs", help="the runner's --output folder")
    ap.add_argument("--figures", default="runs/figures", help="the run's figures folder")
    ap.add_argument("--out", default="runs/report", help="where the report is written")
    args = ap.parse_args(argv)
    print(f"report: {build_report(args.runs, args.figures, args.out)}")


if __name__ == "__main__":
    main()
