"""Stages over a large subset, computed and cached shard by shard.

At the ``full`` preset the detector's training split holds tens of thousands of
images; its adversarial versions and saliency maps are computed in shards of
``shard_size`` images. Each shard is an artefact of its own (key: the stage's
key and the shard's bounds), so a killed run loses at most the shard in
progress and a rerun resumes at the next one. Shards are stored compactly:
images on the 8-bit grid as ``uint8`` (exact, :func:`to_grid8`) and saliency
maps as ``float16`` (relative rounding below 5e-4), and are read back one at a
time into preallocated arrays, so memory stays bounded by the compact sizes.
"""
from __future__ import annotations

import numpy as np

from .progress import progress_bar

__all__ = ["shard_ranges", "ensure_shards", "read_shards", "to_grid8", "from_grid8",
           "shard_key"]


def shard_ranges(n: int, size: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]`` covering ``range(n)`` in slices of at most ``size``."""
    if size < 1:
        raise ValueError(f"shard_size={size!r} must be a positive integer")
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def shard_key(key: dict, lo: int, hi: int) -> dict:
    return {**key, "shard": [int(lo), int(hi)]}


def to_grid8(x) -> np.ndarray:
    """Images on the 8-bit grid (k/255) as ``uint8`` codes; ``ValueError`` if any pixel
    is off the grid (by more than 1e-4 of a step), since the code would not be exact."""
    k = np.asarray(x, np.float64) * 255.0
    codes = np.rint(k)
    if k.size and np.abs(k - codes).max() > 1e-4:
        raise ValueError("images are not on the 8-bit grid (adv_quantize='8bit' is needed "
                         "to store them as uint8)")
    return codes.astype(np.uint8)


def from_grid8(codes) -> np.ndarray:
    """Float32 images in [0, 1] from :func:`to_grid8` codes (bit-identical to k/255)."""
    return (np.asarray(codes, np.float64) / 255.0).astype(np.float32)


def ensure_shards(store, stage: str, key: dict, n: int, size: int, compute, desc: str,
                  progress=True):
    """Make sure every shard of a stage exists: ``compute(lo, hi)`` returns the arrays
    (or ``(arrays, meta)``) of images ``lo:hi``; cached shards are verified, not
    recomputed. A progress bar counts shards and images."""
    ranges = shard_ranges(n, size)
    bar = progress_bar(len(ranges), desc, "shard", enabled=progress)
    done = 0
    for lo, hi in ranges:
        store.cached_arrays(stage, shard_key(key, lo, hi), lambda lo=lo, hi=hi: compute(lo, hi))
        done += hi - lo
        bar.update(1)
        bar.set_postfix(images=f"{done}/{n}")
    bar.close()


def read_shards(store, stage: str, key: dict, n: int, size: int, dtypes: dict) -> dict:
    """The named arrays of every shard concatenated into preallocated arrays of the
    given dtypes (one shard in memory at a time). Missing shards raise ``LookupError``."""
    out = {}
    for lo, hi in shard_ranges(n, size):
        part = store.load_arrays(stage, shard_key(key, lo, hi))
        if part is None:
            raise LookupError(f"shard {lo}:{hi} of stage {stage!r} is missing; run "
                              "ensure_shards first")
        for name, dtype in dtypes.items():
            a = part[name]
            if name not in out:
                out[name] = np.empty((n,) + a.shape[1:], dtype)
            out[name][lo:hi] = a
    return out
