"""Seeds, TensorFlow op determinism, and the provenance of results
(library versions, git revision, machine)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["seed_everything", "versions", "git_revision", "provenance"]

_PACKAGES = ("tensorflow", "keras", "cleverhans", "numpy", "pandas", "matplotlib",
             "seaborn", "papermill")


def seed_everything(seed: int, deterministic: bool = True):
    """Seed Python, NumPy and TensorFlow; make TensorFlow ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(params: dict | None = None) -> dict:
    return {"params": params or {}, "versions": versions(), "git_revision": git_revision(),
            "machine": f"{platform.machine()} {platform.processor() or ''} "
                       f"{platform.system()} ({_cpu_count()} CPUs)".strip()}


def _cpu_count():
    import os

    return os.cpu_count()
