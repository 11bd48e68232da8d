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

from . import work
from .batches import map_batches, per_model

__all__ = ["InputKind", "KINDS", "input_kind", "features_np", "features_tf",
           "first_layer_model", "FeatureRows"]


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
    work.add("inference", first, len(x), work.FORWARD)
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


class FeatureRows:
    """D's inputs of many images, built batch by batch (:meth:`take`) from compact parts
    (images as 8-bit codes or floats, saliency as float16 or float32), so a training set
    at the ``full`` preset is never held as float32 features. Rows are the parts' rows
    in order; ``parts`` is a list of ``(images, saliency or None)``."""

    def __init__(self, kind, f, parts):
        self.kind, self.f, self.parts = kind, f, parts
        self.offsets = np.cumsum([0] + [len(imgs) for imgs, _ in parts])
        self._shape = None

    def __len__(self):
        return int(self.offsets[-1])

    @property
    def shape(self):
        if self._shape is None:
            self._shape = (len(self),) + self.take(np.array([0])).shape[1:]
        return self._shape

    def __getitem__(self, rows) -> np.ndarray:
        """Float32 inputs of a slice of rows (what :func:`advsal.batches.map_batches` asks)."""
        if not isinstance(rows, slice):
            raise TypeError(f"FeatureRows takes a slice; use take() for index arrays, got "
                            f"{type(rows).__name__}")
        return self.take(np.arange(*rows.indices(len(self))))

    def take(self, idx) -> np.ndarray:
        """Float32 inputs of rows ``idx``, in that order."""
        from .shards import from_grid8

        idx = np.asarray(idx, np.int64)
        part = np.searchsorted(self.offsets, idx, side="right") - 1
        out = None
        for j, (imgs, sal) in enumerate(self.parts):
            sel = np.nonzero(part == j)[0]
            if not len(sel):
                continue
            rows = idx[sel] - self.offsets[j]
            x = imgs[rows]
            x = from_grid8(x) if x.dtype == np.uint8 else x.astype(np.float32)
            feat = features_np(self.kind, self.f, x,
                               None if sal is None else sal[rows].astype(np.float32))
            if out is None:
                out = np.empty((len(idx),) + feat.shape[1:], np.float32)
            out[sel] = feat
        return out
