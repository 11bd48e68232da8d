"""Networks of Table I: the classifiers F and the detectors D.

MNIST-NET-F/D and CIFAR10-NET-F/D are small VGG-style ConvNets; VGG16-F/D
use VGG16's first three convolutional blocks and its fully connected head.
Readings taken where Table I contradicts itself (see "Readings" in README.md):

* one 2x2 max-pool after the second convolution (so ``Fc(12544)`` =
  14x14x64 on MNIST and ``Fc(16384)`` = 16x16x64 on CIFAR-10);
* CIFAR10-NET-F's hidden layer has 200 units;
* every detector takes the image and its saliency concatenated on the channel
  axis, i.e. ``2 * C`` input channels (``Input(32,32,6)`` on CIFAR-10);
* VGG16-F/D keep blocks 1-3 (as Table I lists them) and max-pool their
  28x28x256 output at 224 px down to VGG16's 7x7 grid before the head
  (``Fc(12544, 4096)``; Table I's 25088 = 7x7x512 is the full VGG16 base);
* every detector ends in one logit (probability of "adversarial" after a
  sigmoid). VGG16-D's ``Fc(4096,2)`` softmax is the same model up to
  parameterisation: its score is the difference of the two logits.

F always outputs logits (no softmax), as the attacks and the saliency need.

ImageNet weights (the paper fine-tunes an ImageNet-trained VGG16): with the
``f_init_weights`` parameter, VGG16-F starts from ``keras.applications.VGG16``'s
convolutions of blocks 1-3, copied by layer name (:func:`copy_vgg16_weights`),
behind an :class:`ImageNetInput` layer that maps the study's [0, 1] RGB images to
the input those weights were trained on.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import keras
from keras import layers, ops

from .datasets import dataset_spec

__all__ = ["build_classifier", "build_detector", "small_convnet", "vgg16_net",
           "ImageNetInput", "vgg16_source", "copy_vgg16_weights", "init_weights_key",
           "IMAGENET_MEAN_BGR"]

# The channel means keras.applications.vgg16.preprocess_input subtracts ("caffe" mode,
# BGR order, 0-255 scale)
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="advsal")
class ImageNetInput(layers.Layer):
    """[0, 1] RGB images to VGG16's ImageNet input: 0-255, BGR, minus the channel means
    (``keras.applications.vgg16.preprocess_input`` of ``255 * x``). Fixed, no weights;
    the attacks and the saliency still see [0, 1] images."""

    def call(self, x):
        bgr = ops.flip(x, axis=-1) * 255.0
        return bgr - ops.convert_to_tensor(IMAGENET_MEAN_BGR, dtype=x.dtype)


def small_convnet(input_shape, n_out, hidden, name):
    """Four 3x3 ReLU convolutions (32, 32, 64, 64), one 2x2 max-pool, FC head."""
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool")(h)
    h = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(h)
    h = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(hidden, activation="relu", name="fc1")(h)
    outputs = layers.Dense(n_out, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def vgg16_net(input_shape, n_out, name, fc_units=4096, blocks=3, imagenet_input=False):
    """VGG16's convolutional blocks 1..``blocks`` followed by its FC head.

    The layer names match ``keras.applications.VGG16``, so that its ImageNet weights
    are copied in by name (:func:`copy_vgg16_weights`); ``imagenet_input`` puts an
    :class:`ImageNetInput` in front for them. ``fc_units`` is 4096 in the paper;
    reduced presets may shrink it for CPU runs.
    """
    cfg = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)][:blocks]
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    h = ImageNetInput(name="imagenet_input")(inputs) if imagenet_input else inputs
    for b, (filters, n_conv) in enumerate(cfg, start=1):
        for c in range(1, n_conv + 1):
            h = layers.Conv2D(filters, 3, padding="same", activation="relu",
                              name=f"block{b}_conv{c}")(h)
        h = layers.MaxPooling2D(2, name=f"block{b}_pool")(h)
    # Keep VGG16's 7x7 grid in front of the head: at 224 px block 3 leaves 28x28,
    # pooled 4x4 to 7x7 (Table I's Fc(25088) is VGG16's 7x7x512 after block 5).
    factor = max(1, (int(input_shape[0]) // 2 ** blocks) // 7)
    if factor > 1:
        h = layers.MaxPooling2D(factor, name="head_pool")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(fc_units, activation="relu", name="fc1")(h)
    h = layers.Dense(fc_units, activation="relu", name="fc2")(h)
    outputs = layers.Dense(n_out, name="logits")(h)
    return keras.Model(inputs, outputs, name=name)


def build_classifier(dataset, input_shape, n_classes=10, fc_units=4096, init_weights=None):
    """Table I classifier F for ``dataset``: image in, ``n_classes`` logits out.

    ``init_weights`` (VGG16 networks only): ``"imagenet"`` or a weights file, whose
    blocks 1-3 are copied in (:func:`vgg16_source`, :func:`copy_vgg16_weights`)."""
    spec = dataset_spec(dataset)
    if init_weights is not None and spec.network != "vgg16":
        raise ValueError(f"f_init_weights={init_weights!r} needs a VGG16 network; "
                         f"dataset={dataset!r} uses the {spec.network} convnet (allowed: None)")
    if spec.network == "small":
        return small_convnet(input_shape, n_classes, spec.fc_hidden, f"{spec.net_stem}-F")
    model = vgg16_net(input_shape, n_classes, f"{spec.net_stem}-F", fc_units=fc_units,
                      imagenet_input=init_weights is not None)
    if init_weights is not None:
        copy_vgg16_weights(model, vgg16_source(init_weights))
    return model


def vgg16_source(weights):
    """The ``keras.applications.VGG16`` holding ``weights``: ``"imagenet"`` (Keras
    downloads its ImageNet weights into ``~/.keras/models`` once; needs a network), or a
    local file: a saved Keras model (``.keras``) or a weights file (``.weights.h5``, or
    the ``.h5`` files Keras publishes, with or without the top)."""
    if weights == "imagenet":
        return keras.applications.VGG16(weights="imagenet", include_top=False)
    path = Path(str(weights))
    if not path.is_file():
        raise ValueError(f"f_init_weights={weights!r} is neither 'imagenet' nor an existing "
                         "file (a .keras model or .h5 weights of keras.applications.VGG16)")
    if path.suffix == ".keras":
        return keras.models.load_model(path, compile=False)
    errors = []
    for include_top in (False, True):
        net = keras.applications.VGG16(weights=None, include_top=include_top,
                                       input_shape=None if not include_top else (224, 224, 3))
        try:
            net.load_weights(str(path))
            return net
        except Exception as err:  # noqa: BLE001 - try the other VGG16 layout, then report
            errors.append(f"include_top={include_top}: {str(err).splitlines()[0]}")
    raise ValueError(f"f_init_weights={weights!r}: not VGG16 weights ({'; '.join(errors)})")


def copy_vgg16_weights(model, source, blocks=3) -> list:
    """Copy the convolutions of VGG16 blocks 1..``blocks`` from ``source`` into
    ``model`` by layer name (``block1_conv1`` ... ``block3_conv3``); return the names.
    A layer missing from either model, or of another shape, raises ``ValueError``."""
    names = [l.name for l in model.layers
             if l.name.startswith("block") and "_conv" in l.name
             and int(l.name[5:l.name.index("_")]) <= blocks]
    if not names:
        raise ValueError(f"model {model.name!r} has no VGG16 block1..{blocks} convolutions")
    have = {l.name for l in source.layers}
    missing = [n for n in names if n not in have]
    if missing:
        raise ValueError(f"the VGG16 weights lack layers {missing}")
    for n in names:
        dst, src = model.get_layer(n), source.get_layer(n)
        new = src.get_weights()
        if [w.shape for w in new] != [w.shape for w in dst.get_weights()]:
            raise ValueError(f"layer {n}: VGG16 weights of shapes {[w.shape for w in new]} "
                             f"do not fit {[tuple(w.shape) for w in dst.weights]}")
        dst.set_weights(new)
    return names


def init_weights_key(weights):
    """What F's cache key records of ``f_init_weights``: ``"imagenet"``, or a file's
    name and content hash (so a different file with the same name keys apart)."""
    if weights in (None, "random", "imagenet"):
        return weights
    path = Path(str(weights))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"file": path.name, "sha256": h.hexdigest()[:16]}


def build_detector(dataset, input_shape, fc_units=4096):
    """Table I detector D: ``input_shape`` has the concatenated channels
    (2C for image+saliency); one logit out (positive = adversarial)."""
    spec = dataset_spec(dataset)
    if spec.network == "small":
        return small_convnet(input_shape, 1, spec.fc_hidden, f"{spec.net_stem}-D")
    return vgg16_net(input_shape, 1, f"{spec.net_stem}-D", fc_units=fc_units)
