"""Sparse l_1 descent (Tramer & Boneh 2019): an extra attack, not in the paper's
tables (Table II's title names it)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from . import grids
from .common import batched, budget_tensors, compiled
from .iterative import ITER_DEFAULTS
from .spec import POSITIVE, AttackSpec, register

__all__ = ["iter_l1"]


def _project_l1(delta, eps):
    """Euclidean projection of each row of ``delta`` onto the l_1 ball (Duchi et al.)."""
    flat = tf.reshape(delta, [tf.shape(delta)[0], -1])
    abs_ = tf.abs(flat)
    inside = tf.reduce_sum(abs_, 1) <= eps
    mu = tf.sort(abs_, axis=1, direction="DESCENDING")
    cums = tf.cumsum(mu, axis=1)
    ks = tf.cast(tf.range(1, tf.shape(flat)[1] + 1), flat.dtype)
    cond = mu - (cums - eps) / ks > 0
    rho = tf.reduce_max(tf.where(cond, tf.cast(tf.range(tf.shape(flat)[1]), tf.int32), 0), 1)
    theta = (tf.gather(cums, rho, batch_dims=1) - eps) / tf.cast(rho + 1, flat.dtype)
    proj = tf.sign(flat) * tf.maximum(abs_ - theta[:, None], 0.0)
    out = tf.where(inside[:, None], flat, proj)
    return tf.reshape(out, tf.shape(delta))


def iter_l1(model, x, eps, steps, step_size, sparsity=0.99):
    """Sparse l_1 descent (Tramer & Boneh 2019): each step moves the top 1 % of
    coordinates by gradient magnitude, l_1-normalised; projected on the l_1
    ball and on [0, 1]. A cheap extra attack (Table II's title names it)."""
    y = tf.argmax(model(x, training=False), 1)
    adv = tf.identity(x)
    n = int(np.prod(x.shape[1:]))
    k = max(1, int(round(n * (1 - sparsity))))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(adv)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(adv, training=False))
        g = tf.reshape(tape.gradient(loss, adv), [-1, n])
        # Do not push coordinates that already sit on the box boundary outward.
        flat = tf.reshape(adv, [-1, n])
        g = tf.where(((g > 0) & (flat >= 1.0)) | ((g < 0) & (flat <= 0.0)), 0.0, g)
        thresh = tf.math.top_k(tf.abs(g), k).values[:, -1:]
        e = tf.where(tf.abs(g) >= thresh, tf.sign(g), 0.0)
        e = e / tf.maximum(tf.reduce_sum(tf.abs(e), 1, keepdims=True), 1e-12)
        adv = adv + step_size * tf.reshape(e, tf.shape(x))
        adv = tf.clip_by_value(x + _project_l1(adv - x, eps), 0.0, 1.0)
    return adv


def _run(model, x, eps, params, seed, progress):
    steps, ratio = int(params["iter_steps"]), float(params["iter_step_ratio"])
    fn = compiled(model, ("iter_l1", steps), lambda: lambda a, e, s: iter_l1(model, a, e, steps, s))
    e, s = budget_tensors(eps, ratio)
    return batched(lambda a: fn(a, e, s), [x], int(params["attack_batch_size"]), "iter_l1",
                   progress), {}


SPEC = register(AttackSpec(
    name="iter_l1", label=r"Iter. $l_1$", run=_run, norm="l1",
    defaults=ITER_DEFAULTS, key_params=tuple(ITER_DEFAULTS), checks={"iter_step_ratio": POSITIVE},
    eps_grid=grids.L1, in_default_study=False,
    work=lambda p, eps, n, k: 1 + 2 * int(p["iter_steps"])))   # F's label, then a gradient per step
