"""A Study's in-memory stages and models, bounded in bytes (least recently used first out).

A Study keeps what it has read or computed in memory, so that a notebook asking for the
same adversarial images twice reads them once. Unbounded, that memory only grows: at the
full preset each attack's test images and saliency maps (float32, 110 MB each on
CIFAR-10's 9000 test images) and every detector loaded stayed resident until the kernel
ended. :class:`MemoryCache` keeps the most recently used entries up to ``budget_gb``;
an evicted entry is read again from the disk cache (:class:`advsal.cache.ArtefactStore`)
when asked for, with the same values.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["MemoryCache", "nbytes"]


def nbytes(value) -> int:
    """Bytes held by a cached value: NumPy arrays (also inside dicts, lists and tuples) and
    Keras models (their weights and optimizer variables); anything else counts 0."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    variables = getattr(value, "variables", None)   # a Keras model (and its optimizer's)
    if variables is not None and hasattr(value, "count_params"):
        opt = getattr(value, "optimizer", None)
        opt_vars = list(getattr(opt, "variables", None) or [])
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
                   for v in list(variables) + opt_vars)
    return 0


class MemoryCache:
    """A dict-like store holding at most ``budget_gb`` of values (``None``: unbounded),
    evicting the least recently used first; ``pinned`` keys are never evicted (F)."""

    def __init__(self, budget_gb: float | None = 1.0, pinned=()):
        if budget_gb is not None and not (isinstance(budget_gb, (int, float))
                                          and budget_gb >= 0):
            raise ValueError(f"budget_gb={budget_gb!r} must be a number >= 0 (GB) or None "
                             "(unbounded)")
        self.budget = None if budget_gb is None else int(budget_gb * 1e9)
        self.pinned = set(pinned)
        self._items: OrderedDict = OrderedDict()
        self._sizes: dict = {}
        self.evictions = 0

    def __contains__(self, key) -> bool:
        return key in self._items

    def __getitem__(self, key):
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key, value):
        self.pop(key, None)
        self._items[key] = value
        self._sizes[key] = nbytes(value)
        self._evict()

    def __len__(self) -> int:
        return len(self._items)

    def pop(self, key, default=None):
        self._sizes.pop(key, None)
        return self._items.pop(key, default)

    @property
    def bytes(self) -> int:
        return sum(self._sizes.values())

    def _evict(self):
        if self.budget is None:
            return
        for key in list(self._items):
            if self.bytes <= self.budget:
                break
            if key not in self.pinned:
                self.pop(key)
                self.evictions += 1

    def drop_large(self, min_bytes: int = 1 << 20) -> int:
        """Evict every unpinned entry of at least ``min_bytes`` (stage arrays, models),
        keeping the small ones (test reports, whose scoring would have to be redone);
        returns the bytes let go. A Study calls it before training a detector, whose
        training set is read from the disk cache and not from here: the stages of the
        attacks scored before stay out of the way of the training's own peak."""
        big = [k for k in self._items if k not in self.pinned and self._sizes[k] >= min_bytes]
        freed = sum(self._sizes[k] for k in big)
        for key in big:
            self.pop(key)
        self.evictions += len(big)
        return freed

    def summary(self) -> str:
        limit = "unbounded" if self.budget is None else f"at most {self.budget / 1e9:.2f} GB"
        return (f"in memory: {len(self)} stages and models, {self.bytes / 1e9:.2f} GB "
                f"({limit}; {self.evictions} evicted, read again from the cache if needed)")
