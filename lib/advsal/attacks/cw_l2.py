"""Carlini & Wagner's L2 attack (Eq. 9) with a per-image binary search on c: a
minimal-perturbation attack (no budget)."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .. import work
from .common import batched, compiled, predict, quantize_8bit, quantize_tf, random_targets
from .spec import NON_NEGATIVE, POSITIVE, AttackSpec, register

__all__ = ["cw_l2"]

_DEFAULTS = {
    "cw_kappa": 0.0,
    "cw_lr": 0.01,
    "cw_steps": 100,
    "cw_binary_steps": 5,
    "cw_initial_const": 1.0,
    "cw_targeted": True,
    "cw_abort_early": True,      # C&W / cleverhans 2 default: end a binary step when the loss stalls
    # C&W judges each iterate after rounding to the 8-bit grid (success, l_2, the one kept):
    # at kappa 0 a minimal perturbation sits on F's boundary and rounding undoes many of them
    # (figures/cw_convergence_cifar10.md). False: C&W as published.
    "cw_grid": True,
}

def _cw_search_fn(model, kappa, targeted, lr, steps, abort_early, grid):
    """One compiled run of C&W's inner optimisation (Adam on w, ``steps`` iterations,
    best successful iterate kept per image), the loop inside the graph. With
    ``grid``, an iterate is judged (success, l_2, the one kept) after rounding to the
    8-bit grid."""
    b1, b2, eps_adam = 0.9, 0.999, 1e-8
    period = max(1, steps // 10)

    def run(w, x, onehot, const, best_l2, best_adv):
        axes = list(range(1, len(x.shape)))
        lab = tf.argmax(onehot, 1)

        def body(i, w, m, v, best_l2, best_adv, found, prev, stop):
            with tf.GradientTape() as tape:
                tape.watch(w)
                adv = (tf.tanh(w) + 1.0) / 2.0
                z = model(adv, training=False)
                real = tf.reduce_sum(z * onehot, 1)
                other = tf.reduce_max(z - 1e9 * onehot, 1)
                f = tf.maximum(other - real if targeted else real - other, -kappa)
                l2 = tf.reduce_sum(tf.square(adv - x), axis=axes)
                loss = tf.reduce_sum(l2 + const * f)
            g = tape.gradient(loss, w)
            t = tf.cast(i + 1, tf.float32)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * tf.square(g)
            w = w - lr * (m / (1 - b1 ** t)) / (tf.sqrt(v / (1 - b2 ** t)) + eps_adam)
            # success of the iterate just evaluated (C&W's check, with kappa), on the
            # 8-bit grid with ``grid`` (the clean x sits on it)
            if grid:
                adv = quantize_tf(adv, x)
                z = model(adv, training=False)
                l2 = tf.reduce_sum(tf.square(adv - x), axis=axes)
            shifted = z - kappa * onehot if targeted else z + kappa * onehot
            pred = tf.argmax(shifted, 1)
            ok = tf.equal(pred, lab) if targeted else tf.not_equal(pred, lab)
            better = ok & (l2 < best_l2)
            best_l2 = tf.where(better, l2, best_l2)
            best_adv = tf.where(tf.reshape(better, [-1] + [1] * len(axes)), adv, best_adv)
            found = found | ok
            # C&W's abort_early: every steps // 10 iterations, stop when the loss has not
            # fallen by 0.01 % since the last check
            check = abort_early & (i % period == 0)
            stop = check & (loss > 0.9999 * prev)
            prev = tf.where(check, loss, prev)
            return i + 1, w, m, v, best_l2, best_adv, found, prev, stop

        def cond(i, *rest):
            return (i < steps) & tf.logical_not(rest[-1])

        zeros = tf.zeros_like(w)
        state = (tf.constant(0), w, zeros, zeros, best_l2, best_adv,
                 tf.zeros(tf.shape(const), tf.bool), tf.constant(np.inf, tf.float32),
                 tf.constant(False))
        its, w, _, _, best_l2, best_adv, found, _, _ = tf.while_loop(cond, body, state)
        return (tf.tanh(w) + 1.0) / 2.0, best_l2, best_adv, found, its

    return run


def cw_l2(model, x, labels, targeted=True, kappa=0.0, steps=100, binary_steps=5,
          lr=0.01, initial_const=1.0, abort_early=True, grid=False):
    """Carlini & Wagner's L2 attack (Eq. 9) with a per-image binary search on c.

    ``labels`` are the targets (``targeted=True``) or the labels to move away
    from. kappa is the confidence: success needs the target logit to exceed
    every other by at least kappa (untargeted: some other logit to exceed the
    label's by kappa). Returns the successful iterate of smallest l_2 distance
    per image, or, where none succeeded, the last iterate of the largest c.
    ``abort_early`` ends a binary step when the batch's loss stalls (C&W's and
    cleverhans 2's default). With ``grid`` every iterate is judged after rounding
    to the 8-bit grid (an attacker who must deliver an image file): success, the
    l_2 distance and the iterate kept are those of the rounded image, so a minimal
    perturbation that rounding would undo does not count. Each binary step runs as
    one compiled loop.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n_classes = model.output_shape[-1]
    onehot = tf.one_hot(labels, n_classes)
    nb = int(x.shape[0])
    run = compiled(model, ("cw_l2", float(kappa), bool(targeted), float(lr), int(steps),
                            bool(abort_early), bool(grid)),
                    lambda: _cw_search_fn(model, float(kappa), bool(targeted), float(lr),
                                          int(steps), bool(abort_early), bool(grid)))
    w0 = tf.atanh(tf.clip_by_value(x * 2.0 - 1.0, -1 + 1e-6, 1 - 1e-6))
    lower = np.zeros(nb)
    upper = np.full(nb, 1e10)
    const = np.full(nb, float(initial_const))
    best_l2 = tf.fill([nb], np.float32(np.inf))
    best = x
    last = x
    for _ in range(binary_steps):
        last, best_l2, best, found, its = run(w0, x, onehot, tf.constant(const, tf.float32),
                                              best_l2, best)
        # each iteration: an input gradient, and a forward pass on the rounded iterate
        work.add("attacks", model, nb, int(its) * (3 if grid else 2))
        found = found.numpy()
        upper = np.where(found, np.minimum(upper, const), upper)
        lower = np.where(found, lower, np.maximum(lower, const))
        const = np.where(upper < 1e9, (lower + upper) / 2, const * 10)
    out = np.where(np.isfinite(best_l2.numpy())[:, None, None, None], best.numpy(),
                   last.numpy())
    if grid:   # the failures' last iterates too
        out = quantize_8bit(x.numpy(), out)
    return tf.constant(np.clip(out, 0.0, 1.0), tf.float32)


def _run(model, x, eps, params, seed, progress):
    pred = predict(model, x).argmax(1)
    targeted = bool(params["cw_targeted"])
    labels = random_targets(pred, model.output_shape[-1], seed) if targeted else pred

    def fn(a, t):
        return cw_l2(model, a, t, targeted=targeted, kappa=params["cw_kappa"],
                     steps=int(params["cw_steps"]), binary_steps=int(params["cw_binary_steps"]),
                     lr=float(params["cw_lr"]), initial_const=float(params["cw_initial_const"]),
                     abort_early=bool(params["cw_abort_early"]), grid=bool(params["cw_grid"]))
    x_adv = batched(fn, [x, labels], int(params["attack_batch_size"]), "cw_l2", progress)
    return x_adv, ({"targets": labels} if targeted else {})


SPEC = register(AttackSpec(
    name="cw_l2", label="C&W $L_2$", run=_run, norm="l2", budget=False, defaults=_DEFAULTS,
    key_params=("cw_steps", "cw_binary_steps", "cw_lr", "cw_initial_const", "cw_kappa",
                "cw_targeted", "cw_abort_early"),
    # C&W as published keeps the keys it had before grid judging existed
    cache_key=lambda p: {"cw_grid": True} if p["cw_grid"] else {},
    checks={"cw_lr": POSITIVE, "cw_initial_const": POSITIVE, "cw_kappa": NON_NEGATIVE},
    # F's label, then per iteration an input gradient (and a forward pass on the rounded
    # iterate with cw_grid); early abort ends a binary step sooner
    work=lambda p, eps, n, k: 1 + int(p["cw_binary_steps"]) * int(p["cw_steps"]) * (
        3 if p["cw_grid"] else 2), stops_early=True,
    paper_table2={"mnist": (0.99, 0.03, 0.99, 1.00), "cifar10": (0.81, 0.06, 0.94, 0.95),
                  "imagenet10": (0.81, 0.10, 0.89, 0.84)}))
