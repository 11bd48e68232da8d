"""Iterative FGSM / FGM (Kurakin et al.; the paper's Eq. 7), in l_inf (BIM) and
l_2, through cleverhans 4's projected gradient descent without random start."""
from __future__ import annotations

import numpy as np

from . import grids
from .common import batched, budget_tensors, compiled, logits_fn
from .spec import POSITIVE, AttackSpec, register

__all__ = ["iterative"]

ITER_DEFAULTS = {"iter_steps": 10,            # number of steps
             "iter_step_ratio": 0.25}     # step size alpha = ratio * epsilon
# The l_2 attack's loss is multiplied by this constant. cleverhans normalises the l_2 step
# by sqrt(max(1e-12, |g|^2)): where F is so confident that the cross-entropy gradient's norm
# is below 1e-6 the step shrinks with it and the attack stalls (measured on MNIST's full F:
# README, "MNIST at the full preset"). A constant factor leaves the step's direction, and
# the attack's definition, unchanged and moves the floor out of the way; 1: as cleverhans.
L2_DEFAULTS = {**ITER_DEFAULTS, "iter_l2_loss_scale": 1.0}


def iterative(model, x, eps, norm, steps, step_size, loss_scale=1.0):
    """Iterative FGSM / FGM (Eq. 7) without random start: BIM for l_inf. ``loss_scale``
    multiplies the cross-entropy (cleverhans' default loss) by a constant.

    cleverhans 4's ``projected_gradient_descent`` with ``rand_init=False``, step for
    step (its fast gradient step, then its projection on the ball and the box;
    ``test_iterative_equals_cleverhans_pgd``), written out so that ``eps`` and
    ``step_size`` may be scalar tensors: its Python ``assert eps_iter <= eps`` cannot
    take them, and one compiled attack then serves every budget. The step is cut to
    ``eps``, as cleverhans requires."""
    import tensorflow as tf
    from cleverhans.tf2.attacks.fast_gradient_method import fast_gradient_method
    from cleverhans.tf2.utils import clip_eta

    def loss_fn(labels, logits):
        return loss_scale * tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                                          logits=logits)

    step_size = tf.minimum(step_size, eps)
    f = logits_fn(model)
    y = tf.argmax(f(x), 1)
    adv = x
    for _ in range(steps):
        adv = fast_gradient_method(f, adv, step_size, norm,
                                   loss_fn=None if loss_scale == 1.0 else loss_fn,
                                   clip_min=0.0, clip_max=1.0, y=y)
        adv = tf.clip_by_value(x + clip_eta(adv - x, norm, eps), 0.0, 1.0)
    return adv


def _work(params, eps, n_features, n_classes):
    """F's label (one forward pass), then a forward and a backward pass per step."""
    return 1 + 2 * int(params["iter_steps"])


def _runner(name, norm):
    def run(model, x, eps, params, seed, progress):
        steps, ratio = int(params["iter_steps"]), float(params["iter_step_ratio"])
        scale = float(params.get("iter_l2_loss_scale", 1.0)) if norm == 2 else 1.0
        # the budget and step are arguments, not constants: one trace serves every epsilon
        # (calibration and Table III try several)
        fn = compiled(model, (name, steps, scale),
                      lambda: lambda a, e, s: iterative(model, a, e, norm, steps, s, scale))
        e, s = budget_tensors(eps, ratio)
        return batched(lambda a: fn(a, e, s), [x], int(params["attack_batch_size"]), name,
                       progress), {}
    return run


LINF = register(AttackSpec(
    name="iter_linf", label=r"Iter. $l_\infty$", run=_runner("iter_linf", np.inf), norm="linf",
    defaults=ITER_DEFAULTS, key_params=tuple(ITER_DEFAULTS), checks={"iter_step_ratio": POSITIVE},
    eps_grid=grids.LINF, table3=True, work=_work,
    paper_group="strong",
    paper_table2={"mnist": (0.99, 0.05, 1.00, 1.00), "cifar10": (0.81, 0.07, 0.98, 0.98),
                  "imagenet10": (0.90, 0.09, 0.91, 0.91)}))
L2 = register(AttackSpec(
    name="iter_l2", label=r"Iter. $l_2$", run=_runner("iter_l2", 2), norm="l2",
    defaults=L2_DEFAULTS, key_params=tuple(ITER_DEFAULTS),
    cache_key=lambda p: ({"iter_l2_loss_scale": p["iter_l2_loss_scale"]}
                         if p["iter_l2_loss_scale"] != 1.0 else {}),
    checks={"iter_step_ratio": POSITIVE, "iter_l2_loss_scale": POSITIVE},
    eps_grid=grids.L2, table3=True, work=_work,
    paper_group="strong",
    paper_table2={"mnist": (0.99, 0.04, 0.99, 1.00), "cifar10": (0.81, 0.07, 0.91, 0.91),
                  "imagenet10": (0.90, 0.12, 0.93, 0.94)}))
