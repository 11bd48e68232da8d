"""Study runner: executes the numbered notebooks with papermill.

    python -m advsal.runner --datasets mnist cifar10 --preset quick

runs ``notebooks/01_*.ipynb`` ... in order for each data set, passing the
parameters, and saves each executed notebook to ``<output>/<preset>/<dataset>/``.
On the first failing cell it stops and prints that cell's traceback. At the
end it prints where the figures are and writes the wall time of every
notebook, with the number of stages it computed rather than found cached, its
kernel's peak memory and the arithmetic it did (:mod:`advsal.work`), to
``<output>/<preset>/timings.csv`` (also copied into the figures folder as
``timings_<preset>.csv``).

Several seeds (``--seeds 0 1 2``): each seed retrains everything; seed 0
writes into the figures folder, seed ``s`` into ``<figures>/seed<s>/``
(:func:`advsal.seeds.seed_dir`), and the across-seed summaries
``<table>_<dataset>_seeds.csv`` are written at the end. ``--seed-only``
restricts the notebooks run for the seeds after the first.

Tables and figures go to ``<repo>/runs/figures/`` unless ``--figures-dir`` says
otherwise (:func:`advsal.paths.resolve_dirs`). Results written into the
repository's own ``figures/`` folder (``--figures-dir figures``: the committed
reference results, as ``make results`` does) must come from a clean git tree: the runner refuses a
tree with uncommitted changes there unless ``--allow-dirty`` is given.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import work
from .datasets import DATASETS
from .paths import repo_root, resolve_dirs
from .presets import PRESETS

__all__ = ["main", "run_study", "notebooks"]


def notebooks(folder=None, only=None):
    folder = Path(folder or repo_root() / "notebooks")
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = set(only)
        found = [p for p in found if p.stem[:2] in wanted or p.stem in wanted]
    return found


def _check_types(params: dict):
    types = {"dataset": str, "preset": str, "seed": int, "overrides": dict, "progress": bool}
    for k, t in types.items():
        if k in params and not isinstance(params[k], t):
            raise TypeError(f"parameter {k}={params[k]!r} must be of type {t.__name__}")


def run_study(datasets, preset="quick", output="runs", data_dir=None, artefact_dir=None,
              figures_dir=None, seed=0, only=None, overrides=None, progress=False,
              kernel_name="python3", seeds=None, seed_only=None, allow_dirty=False):
    """Execute the notebooks for each data set and seed; return the timing rows.

    ``seeds`` (a list) runs the study once per seed (``seed`` is ignored then);
    the seeds after the first run only the notebooks in ``seed_only`` (default:
    ``only``). With more than one seed the across-seed summaries are written.
    """
    from .seeds import seed_dir, summarise_run

    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"dataset={d!r} is not known; allowed: {list(DATASETS)}")
    if preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not known; allowed: {list(PRESETS)}")
    seeds = [int(s) for s in (seeds if seeds else [seed])]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds} has repeats")
    _, _, figures_root = resolve_dirs(data_dir, artefact_dir, figures_dir)
    _check_clean_tree(figures_root, allow_dirty)
    rows = []
    for i, s in enumerate(seeds):
        rows += _run_one_seed(datasets, preset, output, data_dir, artefact_dir,
                              seed_dir(figures_root, s), s, only if i == 0 else
                              (seed_only if seed_only is not None else only),
                              overrides, progress, kernel_name)
    if len(seeds) > 1:
        for path in summarise_run(figures_root, datasets, seeds, {"preset": preset}):
            print(f"across-seed summary: {path}")
    return rows


def _check_clean_tree(figures_dir, allow_dirty):
    from .reproducibility import git_revision

    committed = (repo_root() / "figures").resolve()
    target = Path(figures_dir).resolve()
    inside = target == committed or committed in target.parents
    rev = git_revision()
    if inside and rev and rev.endswith("-dirty") and not allow_dirty:
        raise SystemExit(f"figures_dir={target} holds the committed results, and the git tree "
                         f"has uncommitted changes ({rev}): commit first, write elsewhere "
                         "(--figures-dir), or pass --allow-dirty")


def _run_one_seed(datasets, preset, output, data_dir, artefact_dir, figures_dir, seed, only,
                  overrides, progress, kernel_name):
    import os

    import papermill as pm

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # inherited by the notebook kernels
    os.environ.setdefault("ADVSAL_PROGRESS", "text")     # bars as text lines in saved notebooks
    data_dir, artefact_dir, figures_dir = resolve_dirs(data_dir, artefact_dir, figures_dir)
    out_root = Path(output) / preset
    rows = []
    for dataset in datasets:
        out_dir = out_root / (dataset if seed == 0 else f"{dataset}-seed{seed}")
        out_dir.mkdir(parents=True, exist_ok=True)
        for nb in notebooks(only=only):
            params = {"dataset": dataset, "preset": preset, "seed": int(seed),
                      "data_dir": str(data_dir) if data_dir else None,
                      "artefact_dir": str(artefact_dir), "figures_dir": str(figures_dir),
                      "overrides": dict(overrides or {}), "progress": bool(progress)}
            _check_types(params)
            target = out_dir / nb.name
            print(f"[{dataset}/{preset}/seed {seed}] {nb.name} ...", flush=True)
            before = _artefact_count(artefact_dir)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(target), parameters=params,
                                    kernel_name=kernel_name, cwd=str(nb.parent),
                                    progress_bar=False)
            except pm.PapermillExecutionError as err:
                print(f"\nFAILED: {nb.name} for {dataset} (cell {err.exec_count}); executed "
                      f"notebook saved at {target}\n{err.ename}: {err.evalue}\n"
                      + "".join(err.traceback), file=sys.stderr)
                raise SystemExit(1) from None
            dt = time.perf_counter() - t0
            rows.append({"dataset": dataset, "preset": preset, "seed": seed,
                         "notebook": nb.stem, "seconds": round(dt, 1),
                         "stages_computed": _artefact_count(artefact_dir) - before,
                         "peak_memory_gb": peak_memory_printed(target),
                         "tflop": work.parse_tflop(Path(target).read_text(errors="replace"))})
            print(f"[{dataset}/{preset}/seed {seed}] {nb.name} done in {dt:.1f} s", flush=True)
            _write_timings(rows, out_root, figures_dir, preset)   # kept if a later one fails
    total = sum(r["seconds"] for r in rows)
    print(f"\nStudy done in {total:.0f} s. Executed notebooks: {out_root}\n"
          f"Figures and tables: {figures_dir}")
    return rows


def peak_memory_printed(executed) -> float:
    """The largest "peak resident memory: X GB" an executed notebook printed (its kernel's
    peak, from :meth:`advsal.pipeline.Study.stage_summary`); NaN if it printed none."""
    import re

    found = [float(m) for m in re.findall(r"peak resident memory: ([\d.]+) GB",
                                          Path(executed).read_text(errors="replace"))]
    return max(found) if found else float("nan")


def _artefact_count(artefact_dir):
    """Cached stage results under ``artefact_dir`` (one metadata file each)."""
    root = Path(artefact_dir)
    return sum(1 for p in root.rglob("*.json") if not p.name.startswith(".tmp-")) \
        if root.exists() else 0


def _write_timings(rows, out_root, figures_dir, preset):
    import pandas as pd

    from .reporting import save_table

    if not rows:
        return
    df = pd.DataFrame(rows)
    _append_history(df.iloc[[-1]], Path(figures_dir) / f"timings_{preset}_history.csv")
    previous = Path(figures_dir) / f"timings_{preset}.csv"
    if previous.exists():   # keep the other data sets' and notebooks' rows
        old = pd.read_csv(previous)
        keep = ~old.set_index(["dataset", "notebook"]).index.isin(
            df.set_index(["dataset", "notebook"]).index)
        df = pd.concat([old[keep], df], ignore_index=True)
    df = df.sort_values(["dataset", "notebook"])
    out_root.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_root / "timings.csv", index=False)
    if "stages_computed" not in df:
        df["stages_computed"] = None
    cols = [c for c in ("dataset", "preset", "seed", "seconds", "stages_computed",
                        "peak_memory_gb", "tflop") if c in df]
    save_table(df.set_index("notebook")[cols],
               f"timings_{preset}", figures_dir, {"preset": preset},
               caption=f"Wall time of the latest run of each notebook, {preset} preset, how "
                       "many cached stages it computed (0: everything was reused) and its "
                       "kernel's peak resident memory (GB; every run: timings_<preset>_history) "
                       "and the arithmetic it did (TFLOP, advsal.work; make bench sets it "
                       "against the machine's peak)",
               digits=1)


def _append_history(row, path: Path):
    """Every notebook run, kept: the latest-run table is rewritten by reruns that reuse
    the cache, so the seconds and memory of the runs that computed are kept here."""
    import datetime

    import pandas as pd

    from .atomic import atomic_file
    from .reproducibility import git_revision

    row = row.assign(revision=git_revision() or "",
                     finished=datetime.datetime.now(datetime.timezone.utc).isoformat(
                         timespec="seconds"))
    old = pd.read_csv(path) if path.exists() else None
    out = row if old is None else pd.concat([old, row], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w") as fh:
        out.to_csv(fh, index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m advsal.runner", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar10"], choices=DATASETS)
    ap.add_argument("--preset", default="quick", choices=list(PRESETS))
    ap.add_argument("--output", default=str(repo_root() / "runs"),
                    help="folder for the executed notebooks")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--artefact-dir", default=None)
    ap.add_argument("--figures-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="run once per seed (each retrains everything), e.g. --seeds 0 1 2")
    ap.add_argument("--seed-only", nargs="*", default=None,
                    help="notebooks run for the seeds after the first (default: --only)")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write into the repository's figures/ from a tree with uncommitted "
                         "changes")
    ap.add_argument("--only", nargs="*", default=None,
                    help="notebook numbers to run, e.g. 01 02 (default: all)")
    ap.add_argument("--set", default="{}", metavar="JSON",
                    help='preset overrides as JSON, e.g. \'{"d_epochs": 3}\'')
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        overrides = json.loads(args.set)
    except json.JSONDecodeError as err:
        ap.error(f"--set must be a JSON object: {err}")
    if not isinstance(overrides, dict):
        ap.error("--set must be a JSON object")
    run_study(args.datasets, args.preset, args.output, args.data_dir, args.artefact_dir,
              args.figures_dir, args.seed, args.only, overrides, args.progress,
              seeds=args.seeds, seed_only=args.seed_only, allow_dirty=args.allow_dirty)


if __name__ == "__main__":
    main()

