"""DeepFool (Moosavi-Dezfooli et al. 2016), l_2: the attack Metzen et al. used to
test their detector. A minimal-perturbation attack (no budget): it linearises F
around the current point, steps to the nearest linearised class boundary, and
repeats until F's label changes, then overshoots by a factor (1 + overshoot)."""
from __future__ import annotations

import tensorflow as tf

from .. import work
from .common import batched, compiled, quantize_tf
from .spec import NON_NEGATIVE, AttackSpec, register

__all__ = ["deepfool"]

_DEFAULTS = {"deepfool_steps": 50,          # the paper's and its reference code's max_iter
             "deepfool_overshoot": 0.02,    # the reference code's overshoot
             # success judged on the 8-bit grid, as C&W's cw_grid: an image that only
             # fools F before rounding is pushed on until its rounded version does
             "deepfool_grid": True}


def _deepfool_fn(model, steps, overshoot, grid):
    n_classes = model.output_shape[-1]

    def run(x):
        axes = list(range(2, len(x.shape) + 1))
        label = tf.argmax(model(x, training=False), 1)
        onehot = tf.one_hot(label, n_classes)

        def judge(r_tot):
            xa = tf.clip_by_value(x + (1.0 + overshoot) * r_tot, 0.0, 1.0)
            return quantize_tf(xa, x) if grid else xa

        def body(i, r_tot, active):
            xi = tf.clip_by_value(x + (1.0 + overshoot) * r_tot, 0.0, 1.0)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(xi)
                z = model(xi, training=False)
                per_class = [tf.reduce_sum(z[:, k]) for k in range(n_classes)]
            grads = tf.stack([tape.gradient(per_class[k], xi) for k in range(n_classes)], 1)
            del tape
            mask = tf.reshape(onehot, [-1, n_classes] + [1] * (len(axes)))
            w = grads - tf.reduce_sum(grads * mask, 1, keepdims=True)       # w_k - w_label
            f = z - tf.reduce_sum(z * onehot, 1, keepdims=True)             # f_k - f_label
            w_norm = tf.sqrt(tf.reduce_sum(tf.square(w), axes)) + 1e-8
            dist = tf.where(onehot > 0, float("inf"), tf.abs(f) / w_norm)   # to boundary k
            k = tf.argmin(dist, 1)
            w_k = tf.gather(w, k, axis=1, batch_dims=1)
            step = (tf.gather(dist, k, axis=1, batch_dims=1) + 1e-4) / \
                tf.gather(w_norm, k, axis=1, batch_dims=1)
            step = tf.reshape(step * tf.cast(active, tf.float32), [-1] + [1] * len(axes))
            r_tot = r_tot + step * w_k
            pred = tf.argmax(model(judge(r_tot), training=False), 1)
            return i + 1, r_tot, active & tf.equal(pred, label)

        def cond(i, r_tot, active):
            return (i < steps) & tf.reduce_any(active)

        its, r_tot, _ = tf.while_loop(
            cond, body, (tf.constant(0), tf.zeros_like(x), tf.ones_like(label, tf.bool)))
        return judge(r_tot), its

    return run


def deepfool(model, x, steps=50, overshoot=0.02, grid=False):
    """DeepFool on F's predicted label: returns images in [0, 1] (on the 8-bit grid
    of ``x`` with ``grid``) that F labels differently, except where ``steps``
    iterations did not get there (their last iterate)."""
    run = compiled(model, ("deepfool", int(steps), float(overshoot), bool(grid)),
                   lambda: _deepfool_fn(model, int(steps), float(overshoot), bool(grid)))
    x = tf.convert_to_tensor(x, tf.float32)
    out, its = run(x)
    # F's label, then per iteration a forward pass, one backward pass per class and a
    # forward pass on the new iterate
    n_classes = int(model.output_shape[-1])
    work.add("attacks", model, int(x.shape[0]), 1 + int(its) * (n_classes + 2))
    return out


def _run(model, x, eps, params, seed, progress):
    steps, overshoot = int(params["deepfool_steps"]), float(params["deepfool_overshoot"])
    grid = bool(params["deepfool_grid"])

    def fn(a):
        return deepfool(model, a, steps, overshoot, grid)
    return batched(fn, [x], int(params["attack_batch_size"]), "deepfool", progress), {}


SPEC = register(AttackSpec(
    name="deepfool", label="DeepFool", run=_run, norm="l2", budget=False,
    defaults=_DEFAULTS, key_params=tuple(_DEFAULTS),
    checks={"deepfool_overshoot": NON_NEGATIVE},
    work=lambda p, eps, n, k: 1 + int(p["deepfool_steps"]) * (k + 2), stops_early=True))
