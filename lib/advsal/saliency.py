"""Gradient saliency (Eq. 5, Step 2 of Section III).

The saliency of an image is the gradient of F's *predicted-class logit*
(pre-softmax) with respect to the input: same shape as the image. It is
computed for a whole batch with one backward pass (the predicted logits of
different images do not interact, so the gradient of their sum is the
per-image gradient), compiled with ``tf.function``.

Normalisation (``norm``): ``"none"`` (raw gradient), ``"maxabs"`` (divided by
the image's largest absolute value, so in [-1, 1]) or ``"std"`` (per-image
standardisation to zero mean, unit variance).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import work
from .batches import map_batches, per_model
from .presets import SALIENCY_NORMS

__all__ = ["saliency", "saliency_batch", "normalise"]


def saliency_batch(model, x):
    """Raw saliency of one batch (tensor in, tensor out)."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = model(x, training=False)
        picked = tf.reduce_sum(tf.reduce_max(z, axis=1))
    return tape.gradient(picked, x)


def normalise(s, norm):
    if norm not in SALIENCY_NORMS:
        raise ValueError(f"saliency_norm={norm!r} is not allowed; allowed: {list(SALIENCY_NORMS)}")
    if norm == "none":
        return s
    axes = tuple(range(1, s.ndim))
    if norm == "maxabs":
        return s / np.maximum(np.abs(s).max(axis=axes, keepdims=True), 1e-12)
    mu = s.mean(axis=axes, keepdims=True)
    sd = s.std(axis=axes, keepdims=True)
    return (s - mu) / np.maximum(sd, 1e-12)


def saliency(model, x, norm="none", batch_size=512):
    """Saliency maps of ``x`` (numpy) under ``model``, normalised per image."""
    if norm not in SALIENCY_NORMS:
        raise ValueError(f"saliency_norm={norm!r} is not allowed; allowed: {list(SALIENCY_NORMS)}")
    fn = per_model(model, "saliency", lambda: tf.function(lambda a: saliency_batch(model, a),
                                                          reduce_retracing=True))
    x = np.asarray(x, np.float32)
    out = map_batches(lambda b: fn(tf.constant(b)), x, batch_size, empty=x.copy)
    work.add("saliency", model, len(x), work.INPUT_GRADIENT)
    return normalise(out, norm).astype(np.float32)

