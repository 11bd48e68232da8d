"""What the detector D sees: each input kind defined once, with its NumPy path
(D's training and scoring data, built from cached saliency maps) and its
TensorFlow path (differentiable in the image, for the adaptive attacks of
:mod:`advsal.adaptive`) side by side; a test checks that the two agree.

============== ==================================================================
kind           D's input
============== ==================================================================
image+saliency image and saliency concatenated on the channel axis (the paper)
image          the image alone (baseline)
saliency       the saliency alone (baseline)
first_layer    F's first-layer feature maps: first convolution and its
               activation (the paper's simplified Metzen et al. detector)
============== ==================================================================

The saliency is computed by the caller (:func:`advsal.saliency.saliency` for
data, :func:`advsal.adaptive.saliency_tf` for attacks) and passed in, so
that its normalisation is never forgotten: a kind that uses it raises when it
is missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from .batches import map_batches, per_model

__all__ = ["InputKind", "KINDS", "input_kind", "features_np", "features_tf",
           "first_layer_model"]


@dataclass(frozen=True)
class InputKind:
    name: str
    uses_saliency: bool
    np_fn: Callable    # (f, x, s) -> np.ndarray
    tf_fn: Callable    # (f, x, s) -> tf.Tensor, differentiable in x (and s)
    doc: str = ""


def first_layer_model(f):
    """F up to its first convolution (with its activation), built once per model."""
    import keras

    def make():
        conv1 = next(layer for layer in f.layers if isinstance(layer, keras.layers.Conv2D))
        return keras.Model(f.inputs[0], conv1.output)
    return per_model(f, "first_layer", make)


def _first_np(f, x, s, batch_size=512):
    first = first_layer_model(f)
    return map_batches(lambda b: first(b, training=False), x, batch_size)


KINDS = {k.name: k for k in (
    InputKind("image+saliency", True, lambda f, x, s: np.concatenate([x, s], axis=-1),
              lambda f, x, s: tf.concat([x, s], -1), "the paper's detector input"),
    InputKind("image", False, lambda f, x, s: x, lambda f, x, s: x, "image alone"),
    InputKind("saliency", True, lambda f, x, s: s, lambda f, x, s: s, "saliency alone"),
    InputKind("first_layer", False, _first_np,
              lambda f, x, s: first_layer_model(f)(x, training=False),
              "F's first-layer feature maps (simplified Metzen et al.)"),
)}


def input_kind(kind: str) -> InputKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"detector_features={kind!r} is not allowed; allowed: "
                         f"{list(KINDS)}") from None


def _check(spec, s):
    if spec.uses_saliency and s is None:
        raise ValueError(f"detector input {spec.name!r} needs the (normalised) saliency")


def features_np(kind, f, x, saliency=None):
    """D's input of kind ``kind`` for the images ``x`` (NumPy), given their saliency."""
    spec = input_kind(kind)
    _check(spec, saliency)
    return spec.np_fn(f, np.asarray(x, np.float32), saliency)


def features_tf(kind, f, x, saliency=None):
    """The same input as a TensorFlow function of ``x`` (and of ``saliency``)."""
    spec = input_kind(kind)
    _check(spec, saliency)
    if saliency is not None:
        saliency = tf.convert_to_tensor(saliency, tf.float32)
    return spec.tf_fn(f, tf.convert_to_tensor(x, tf.float32), saliency)
