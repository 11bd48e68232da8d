"""Running a function over an array in batches, and keeping one object (a
compiled function, a sub-model) per Keras model."""
from __future__ import annotations

import numpy as np

from .devices import run_split

__all__ = ["map_batches", "per_model"]


def map_batches(fn, x, batch_size: int, empty=None):
    """``fn`` applied to ``x`` in slices of ``batch_size``, outputs (tensors or
    arrays) concatenated as one array; for an empty ``x``, ``empty()``. Under a
    strategy with several replicas each slice is split across them
    (:func:`advsal.devices.run_split`)."""
    if len(x) == 0 and empty is not None:
        return empty()
    return np.concatenate([run_split(fn, x[i:i + batch_size])
                           for i in range(0, len(x), batch_size)])


_PER_MODEL = {}


def per_model(models, key, make):
    """``make()`` once per (models, key), reused after. The models are held by
    reference and compared by identity, so a new model that reuses a freed
    model's ``id`` is never served the old one's object."""
    models = tuple(models) if isinstance(models, (tuple, list)) else (models,)
    k = (tuple(id(m) for m in models), key)
    entry = _PER_MODEL.get(k)
    if entry is None or any(a is not b for a, b in zip(entry[0], models)):
        entry = (models, make())
        _PER_MODEL[k] = entry
    return entry[1]
