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
"""
from __future__ import annotations

import keras
from keras import layers

from .datasets import dataset_spec

__all__ = ["build_classifier", "build_detector", "small_convnet", "vgg16_net"]


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


def vgg16_net(input_shape, n_out, name, fc_units=4096, blocks=3):
    """VGG16's convolutional blocks 1..``blocks`` followed by its FC head.

    The layer names match ``keras.applications.VGG16`` so that ImageNet
    weights could be copied in by name (not implemented yet: the paper fine-tunes
    an ImageNet-trained VGG16 on its ImageNet subset). ``fc_units is 4096 in the paper;
    reduced presets may shrink it for CPU runs.
    """
    cfg = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)][:blocks]
    inputs = keras.Input(shape=tuple(input_shape), name="input")
    h = inputs
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


def build_classifier(dataset, input_shape, n_classes=10, fc_units=4096):
    """Table I classifier F for ``dataset``: image in, ``n_classes`` logits out."""
    spec = dataset_spec(dataset)
    if spec.network == "small":
        return small_convnet(input_shape, n_classes, spec.fc_hidden, f"{spec.net_stem}-F")
    return vgg16_net(input_shape, n_classes, f"{spec.net_stem}-F", fc_units=fc_units)


def build_detector(dataset, input_shape, fc_units=4096):
    """Table I detector D: ``input_shape`` has the concatenated channels
    (2C for image+saliency); one logit out (positive = adversarial)."""
    spec = dataset_spec(dataset)
    if spec.network == "small":
        return small_convnet(input_shape, 1, spec.fc_hidden, f"{spec.net_stem}-D")
    return vgg16_net(input_shape, 1, f"{spec.net_stem}-D", fc_units=fc_units)
