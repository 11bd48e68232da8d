"""Default folders of a study, resolved from the repository root so that a
notebook gives the same paths whether run from ``notebooks/`` in JupyterLab
or headless by the runner.

A run writes its tables and figures into ``<repo>/runs/figures/`` unless told
otherwise: the committed results in ``<repo>/figures/`` change only when a run
is pointed there on purpose (``figures_dir="figures"`` in a notebook,
``--figures-dir figures`` for the runner, as ``make results`` does, or
``ADVSAL_FIGURES_DIR``)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "resolve_dirs", "committed_figures", "RUN_FIGURES"]

RUN_FIGURES = Path("runs") / "figures"   # a run's tables and figures, under the checkout


def _is_checkout(d: Path) -> bool:
    return (d / "lib" / "advsal").is_dir() and (d / "notebooks").is_dir()


def repo_root() -> Path:
    """The checkout being worked in: the nearest folder at or above the current one
    that holds ``lib/advsal`` and ``notebooks/`` (JupyterLab and the runner run a
    notebook in ``notebooks/``), else the checkout this package was installed from,
    else the current folder."""
    cwd = Path.cwd().resolve()
    for d in (cwd, *cwd.parents):
        if _is_checkout(d):
            return d
    root = Path(__file__).resolve().parent.parent.parent
    return root if _is_checkout(root) else cwd


def committed_figures() -> Path:
    """The folder of the committed reference results."""
    return repo_root() / "figures"


def resolve_dirs(data_dir=None, artefact_dir=None, figures_dir=None):
    """``(data_dir, artefact_dir, figures_dir)``: arguments, else environment
    (``ADVSAL_DATA_DIR``, ``ADVSAL_ARTEFACT_DIR``, ``ADVSAL_FIGURES_DIR``),
    else ``<repo>/../shared/data`` when it exists (the offline copies), and
    ``<repo>/artefacts`` and ``<repo>/runs/figures`` (never the committed
    ``<repo>/figures`` unless it is asked for). A relative ``figures_dir`` is taken
    from the checkout's root, so ``"figures"`` means the committed results from any
    folder."""
    root = repo_root()
    if not data_dir:
        data_dir = os.environ.get("ADVSAL_DATA_DIR")
        if not data_dir and (root.parent / "shared" / "data").is_dir():
            data_dir = root.parent / "shared" / "data"
    artefact_dir = Path(artefact_dir or os.environ.get("ADVSAL_ARTEFACT_DIR")
                        or root / "artefacts")
    figures_dir = Path(figures_dir or os.environ.get("ADVSAL_FIGURES_DIR") or RUN_FIGURES)
    if not figures_dir.is_absolute():
        figures_dir = root / figures_dir
    artefact_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    return (Path(data_dir) if data_dir else None), artefact_dir, figures_dir
