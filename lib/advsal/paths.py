"""Default folders of a study, resolved from the repository root so that a
notebook gives the same paths whether run from ``notebooks/`` in JupyterLab
or headless by the runner."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "resolve_dirs"]


def repo_root() -> Path:
    """The checkout holding ``lib/advsal`` (the current folder if installed elsewhere)."""
    here = Path(__file__).resolve().parent
    root = here.parent.parent
    return root if (root / "lib" / "advsal").is_dir() else Path.cwd()


def resolve_dirs(data_dir=None, artefact_dir=None, figures_dir=None):
    """``(data_dir, artefact_dir, figures_dir)``: arguments, else environment
    (``ADVSAL_DATA_DIR``, ``ADVSAL_ARTEFACT_DIR``, ``ADVSAL_FIGURES_DIR``),
    else ``<repo>/../shared/data`` when it exists (the offline copies), and
    ``<repo>/artefacts`` and ``<repo>/figures``."""
    root = repo_root()
    if not data_dir:
        data_dir = os.environ.get("ADVSAL_DATA_DIR")
        if not data_dir and (root.parent / "shared" / "data").is_dir():
            data_dir = root.parent / "shared" / "data"
    artefact_dir = Path(artefact_dir or os.environ.get("ADVSAL_ARTEFACT_DIR")
                        or root / "artefacts")
    figures_dir = Path(figures_dir or os.environ.get("ADVSAL_FIGURES_DIR") or root / "figures")
    artefact_dir.mkdir(parents=True, exist_ok=True)
    figures_dir.mkdir(parents=True, exist_ok=True)
    return (Path(data_dir) if data_dir else None), artefact_dir, figures_dir
