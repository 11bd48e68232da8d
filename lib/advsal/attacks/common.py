"""Helpers every attack shares: F's logits in batches, the 8-bit grid, random
targets, per-model compiled functions and fixed-size batching."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from ..progress import progress_bar

from .. import work
from ..batches import map_batches, per_model
from ..devices import run_split

__all__ = ["quantize_8bit", "quantize_tf", "linf_steps", "STEP_TOLERANCE", "STEP_TOLERANCE_V2", "predict", "random_targets", "logits_fn",
           "compiled", "batched"]


# A budget within this many steps below k/255 is k/255: the grids hold k/255 to 5 decimals
# (3/255 as 0.01176, 2.9988 steps), which must give 3 steps, not 2, and so must the
# multiples of those values (Table III, adaptive budgets: 2 x 0.01176 is 5.9976 steps, 6
# intended). At most 0.01/255 (3.9e-5) above the budget as written; MNIST's budgets
# (multiples of 0.025) are unaffected.
STEP_TOLERANCE = 1e-2
STEP_TOLERANCE_V2 = 2e-3   # the tolerance of the v2 cache keys (advsal.pipeline)


def linf_steps(eps, tolerance=STEP_TOLERANCE) -> int:
    """The l_inf budget ``eps`` in whole 8-bit steps (multiples of 1/255)."""
    return math.floor(float(eps) * 255.0 + tolerance)


def quantize_8bit(x, x_adv, linf_eps=None):
    """``x_adv`` rounded to the 8-bit grid (k/255) that the clean images ``x`` sit on.

    The perturbation is rounded to the nearest multiple of 1/255; with
    ``linf_eps`` it is then clipped to the largest multiple of 1/255 inside the
    l_inf budget (:func:`linf_steps`), so quantisation never takes an image
    outside its budget. The result stays in [0, 1] and is float32.
    """
    x = np.asarray(x, np.float32)
    steps = np.rint((np.asarray(x_adv, np.float64) - x) * 255.0)
    if linf_eps is not None:
        cap = linf_steps(linf_eps)
        steps = np.clip(steps, -cap, cap)
    k = np.clip(np.rint(x * 255.0) + steps, 0, 255)
    return (k / 255.0).astype(np.float32)


def quantize_tf(xa, x0, eps=None):
    """:func:`quantize_8bit` in TensorFlow: ``xa`` on the 8-bit grid of ``x0``, its
    perturbation (with ``eps``) inside the l_inf budget ``eps``."""
    steps = tf.round((xa - x0) * 255.0)
    if eps is not None:
        cap = tf.floor(eps * 255.0 + STEP_TOLERANCE)
        steps = tf.clip_by_value(steps, -cap, cap)
    return tf.clip_by_value(tf.round(x0 * 255.0) + steps, 0.0, 255.0) / 255.0


def predict(model, x, batch_size=1024):
    """Logits of ``model`` on ``x`` (numpy, batched)."""
    work.add("inference", model, len(x), work.FORWARD)
    return map_batches(lambda b: model(b, training=False), x, batch_size,
                       empty=lambda: np.zeros((0, model.output_shape[-1]), np.float32))


def random_targets(pred, n_classes, seed):
    """A target class != ``pred`` per image, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return (pred + rng.integers(1, n_classes, size=len(pred))) % n_classes


def logits_fn(model):
    return lambda z: model(z, training=False)


def compiled(model, key, make, **tf_function_kwargs):
    """One ``tf.function`` per (model, attack settings), traced once and reused
    (train and test splits, repeated calls in calibration and benchmarks)."""
    return per_model(model, ("attack", key),
                     lambda: tf.function(make(), **tf_function_kwargs))


def budget_tensors(eps, ratio):
    """``eps`` and the step ``ratio * eps`` as float32 scalars, computed in float64 first
    as a constant in the graph would be: passed to a compiled attack as arguments, so
    that one trace serves every budget."""
    return (tf.constant(float(eps), tf.float32),
            tf.constant(float(ratio) * float(eps), tf.float32))


def batched(fn, arrays, batch_size, desc, progress=True):
    """Apply ``fn`` to aligned ``arrays`` in fixed-size batches (last one padded), each
    split across the replicas of the strategy in scope (:func:`advsal.devices.run_split`)."""
    n = len(arrays[0])
    out = []
    bar = progress_bar(n, desc, "img", enabled=progress)
    for i in range(0, n, batch_size):
        parts = [a[i:i + batch_size] for a in arrays]
        k = len(parts[0])
        if k < batch_size and n > batch_size:
            parts = [np.concatenate([p, np.repeat(p[-1:], batch_size - k, 0)]) for p in parts]
        out.append(run_split(fn, *parts)[:k])
        bar.update(k)
    bar.close()
    return np.concatenate(out) if out else np.zeros_like(arrays[0])
