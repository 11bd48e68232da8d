"""Seeds, TensorFlow op determinism, and the provenance of results
(library versions, git revision, machine)."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["seed_everything", "versions", "git_revision", "provenance", "cpu_info",
           "peak_memory_gb", "resident_memory_gb"]

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
        # "-dirty": tracked code differs from the revision; figures/ (the results being
        # written) does not count
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":/", ":(exclude,top)figures"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        if rev.returncode != 0:
            return None
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_info() -> dict:
    """CPU model and the instruction-set flags that change TensorFlow's kernels
    (results can differ in the last digits between CPUs with different flags)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name") and ":" in line:
                model = line.split(":", 1)[1].strip()
            elif line.startswith(("flags", "Features")) and ":" in line:
                flags = line.split(":", 1)[1].split()
                break
    except OSError:
        pass
    wanted = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16",
              "amx_tile", "sse4_2", "asimd", "sve")
    return {"model": model, "isa": [f for f in wanted if f in flags]}


def provenance(params: dict | None = None, data_source: str | None = None) -> dict:
    """Parameters, library versions, git revision (``-dirty`` when the tracked files
    differ from it), machine, CPU and the data file read."""
    return {"params": params or {}, "versions": versions(), "git_revision": git_revision(),
            "machine": f"{platform.machine()} {platform.processor() or ''} "
                       f"{platform.system()} ({_cpu_count()} CPUs)".strip(),
            "cpu": cpu_info(), "data_source": data_source or (params or {}).get("data_source")}


def _cpu_count():
    import os

    return os.cpu_count()


def peak_memory_gb() -> float:
    """Peak resident memory of this process so far, in GB (``getrusage``; Linux reports
    KiB, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 30) if sys.platform == "darwin" else peak / (1 << 20)


def resident_memory_gb() -> float | None:
    """Resident memory of this process now, in GB (``VmRSS`` of ``/proc/self/status``;
    None where there is no /proc, e.g. macOS): what a leak grows between two steps,
    which the peak (:func:`peak_memory_gb`) hides once it has been reached."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / (1 << 20)
    except OSError:
        return None
    return None
