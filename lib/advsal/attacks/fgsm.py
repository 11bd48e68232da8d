"""FGSM on F's *predicted* label (Goodfellow et al. 2015; the paper's Eq. 6)."""
from __future__ import annotations

import tensorflow as tf

from . import grids
from .common import batched, compiled
from .spec import AttackSpec, register

__all__ = ["fgsm"]


def fgsm(model, x, eps):
    """One signed-gradient step of size ``eps`` on F's predicted label (Eq. 6).

    One forward and one backward pass: the label is read off the same forward
    pass that the gradient flows through. cleverhans 4's
    ``fast_gradient_method`` gives the same images (a test checks) but runs F
    forward twice, once for the label and once for the gradient.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        label = tf.stop_gradient(tf.argmax(logits, 1))
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(label, logits)
    grad = tape.gradient(loss, x)
    return tf.clip_by_value(x + eps * tf.sign(grad), 0.0, 1.0)


def _run(model, x, eps, params, seed, progress):
    # one traced function per model, epsilon passed as a tensor (calibration tries many)
    fn = compiled(model, ("fgsm",), lambda: lambda a, e: fgsm(model, a, e))
    eps_t = tf.constant(eps, tf.float32)
    return batched(lambda a: fn(a, eps_t), [x], int(params["attack_batch_size"]), "fgsm",
                   progress), {}


SPEC = register(AttackSpec(
    name="fgsm", label="FGSM", run=_run, norm="linf", eps_grid=grids.LINF, table3=True,
    work=lambda p, eps, n, k: 2,   # one forward and one backward pass
    paper_group="weak",
    paper_table2={"mnist": (0.99, 0.12, 1.00, 0.99), "cifar10": (0.81, 0.13, 0.98, 0.98),
                  "imagenet10": (0.90, 0.17, 0.92, 0.90)}))
