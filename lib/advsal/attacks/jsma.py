"""Papernot et al.'s Jacobian-based saliency map attack (JSMA), targeted at a random
class, pairs of features as in cleverhans 2 (which the paper used) or the single
feature of the paper's Eq. 8. Its budget gamma is the share of features changed."""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from ..progress import progress_bar

from .. import work
from . import grids
from .common import compiled, predict, random_targets
from .spec import AttackSpec, register

__all__ = ["jsma", "jsma_pool", "jsma_accuracy_curve"]

_DEFAULTS = {"jsma_theta": 1.0,
             "jsma_pairs": True}   # pairs of features (cleverhans 2); False: Eq. 8's single feature

_BIG = 1e30   # pushes inadmissible features' alpha far below 0 (float32 max is 3.4e38)


def _jsma_iterations(model, shape, onehot, flat, domain, left, iters, theta, pairs,
                     label=None, hist=None, budget=None):
    """Up to ``iters`` JSMA iterations on a batch of slots.

    ``left`` counts the iterations each slot may still take; a slot whose
    image reached its target, has no admissible feature left, or used its
    budget gets ``left = 0`` and no longer changes (continuing it would change
    nothing). Returns the new ``(flat, domain, left, hist)``. With ``label``,
    ``hist[s, k]`` records whether F predicted ``label`` after k iterations
    (``budget - left`` of them) of slot s.
    """
    b = tf.shape(flat)[0]
    n = flat.shape[1]
    target = tf.argmax(onehot, 1, output_type=tf.int32)
    diag_penalty = -_BIG * tf.eye(n)[None] if pairs else None

    track = label is not None
    if not track:
        hist = tf.zeros([0], tf.bool)

    def cond(i, flat, domain, left, hist):
        return (i < iters) & tf.reduce_any(left > 0)

    def body(i, flat, domain, left, hist):
        xi = tf.reshape(flat, shape)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xi)
            z = model(xi, training=False)
            zt = tf.reduce_sum(z * onehot)
            zall = tf.reduce_sum(z)
        gt = tf.reshape(tape.gradient(zt, xi), [b, n])
        go = tf.reshape(tape.gradient(zall, xi), [b, n]) - gt
        del tape
        pred = tf.argmax(z, 1, output_type=tf.int32)
        active = (pred != target) & (left > 0)
        if track:
            seen = tf.one_hot(budget - left, hist.shape[1], on_value=True, off_value=False,
                              dtype=tf.bool)
            hist = hist | (seen & ((pred == label) & (left > 0))[:, None])
        if theta < 0:
            gt, go = -gt, -go
        if pairs:
            # score(p, q) = alpha * |beta| where alpha > 0 and beta < 0, else 0: written as
            # relu(alpha) * relu(-beta), with features outside the domain and p == q pushed
            # to alpha < 0, so that each n x n pass is one cheap elementwise op.
            gt_in = tf.where(domain, gt, -_BIG)
            alpha = gt_in[:, :, None] + gt_in[:, None, :] + diag_penalty
            nbeta = (-go)[:, :, None] + (-go)[:, None, :]
            scores = tf.reshape(tf.nn.relu(alpha) * tf.nn.relu(nbeta), [b, n * n])
            best = tf.argmax(scores, 1, output_type=tf.int32)
            found = (tf.reduce_max(scores, 1) > 0) & active
            p, q = best // n, best % n
            upd = tf.one_hot(p, n) + tf.one_hot(q, n)
        else:
            valid = (gt > 0) & (go < 0) & domain
            scores = tf.where(valid, gt * -go, tf.zeros_like(gt))
            best = tf.argmax(scores, 1, output_type=tf.int32)
            found = tf.reduce_any(valid, 1) & active
            upd = tf.one_hot(best, n)
        upd = upd * tf.cast(found, tf.float32)[:, None]
        flat = tf.clip_by_value(flat + theta * upd, 0.0, 1.0)
        domain = domain & (upd == 0)
        left = tf.where(found, left - 1, 0)
        return i + 1, flat, domain, left, hist

    done, flat, domain, left, hist = tf.while_loop(cond, body,
                                                   [tf.constant(0), flat, domain, left, hist])
    return flat, domain, left, hist, done


def _jsma_setup(x, gamma, theta, pairs):
    n = int(np.prod(x.shape[1:]))
    max_iters = int(math.floor(gamma * n / (2 if pairs else 1)))
    flat = np.asarray(x, np.float32).reshape(len(x), n)
    domain = flat < 1.0 if theta > 0 else flat > 0.0
    return n, max_iters, flat, domain


def jsma(model, x, target, gamma, theta=1.0, pairs=True):
    """Jacobian-based saliency map attack (Papernot et al. 2016), targeted.

    Each iteration picks the pair of features (p, q) that maximises
    ``alpha * |beta|`` with ``alpha = d Z_t / d x_{p,q} > 0`` and
    ``beta = sum_{j != t} d Z_j / d x_{p,q} < 0`` (Eq. 8 for pairs, as in
    cleverhans 2, which the paper used) and adds ``theta`` to both. Stops per
    image when F predicts the target, when no admissible pair is left, or after
    ``floor(gamma * n / 2)`` iterations, so at most ``gamma * n`` features
    change (the l_0 budget).

    ``pairs=False`` is the single-feature map of the paper's Eq. 8 (one feature
    per iteration, ``floor(gamma * n)`` iterations): O(n) instead of O(n^2)
    memory and time per iteration, which makes JSMA affordable on CIFAR-10.

    Returns the images as a tensor; see :func:`jsma_pool` for arrays of any size.
    """
    x = np.asarray(x, np.float32)
    iters = _jsma_setup(x, gamma, theta, pairs)[1]
    return tf.constant(jsma_pool(model, x, np.asarray(target), gamma, theta, pairs,
                                 slots=len(x), chunk=max(1, iters)))


def jsma_pool(model, x, target, gamma, theta=1.0, pairs=True, slots=256, chunk=4,
              progress=None, labels=None):
    """JSMA over a whole array with a pool of ``slots`` images in flight.

    Every ``chunk`` iterations, images that stopped (target reached, nothing
    admissible left, budget used) leave the pool and the next images take
    their slots, so the work done is each image's own number of iterations
    rather than the batch maximum. Gives the same images as :func:`jsma`.

    With ``labels``, also returns ``correct`` of shape (N, max_iters + 1):
    whether F predicts the label after k iterations, for every k up to the
    budget. JSMA is greedy, so a smaller gamma's run is a prefix of this one:
    column ``floor(gamma' * n / 2)`` (pairs) is F's correctness at gamma'.
    """
    x = np.asarray(x, np.float32)
    n, max_iters, flat_all, domain_all = _jsma_setup(x, gamma, theta, pairs)
    n_img = len(x)
    track = labels is not None
    if max_iters == 0 or n_img == 0:
        if track:
            ok = predict(model, x).argmax(1) == np.asarray(labels) if n_img else []
            return x.copy(), np.asarray(ok, bool).reshape(n_img, 1)
        return x.copy()
    slots = max(1, min(slots, n_img))
    n_classes = model.output_shape[-1]
    shape = (-1, *x.shape[1:])
    key = ("jsma_pool", theta, pairs, chunk, max_iters if track else None)

    def make():
        def run(flat, domain, onehot, left, label, hist):
            return _jsma_iterations(model, shape, onehot, flat, domain, left, chunk, theta,
                                    pairs, *((label, hist, max_iters) if track else ()))
        return run

    # any pool size with one trace: the pool shrinks as the last images finish
    spec = [tf.TensorSpec([None, n], tf.float32), tf.TensorSpec([None, n], tf.bool),
            tf.TensorSpec([None, n_classes], tf.float32), tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, max_iters + 1] if track else [None], tf.bool)]
    fn = compiled(model, key, make, input_signature=spec)
    out = flat_all.copy()
    owner = np.full(slots, -1)
    flat = np.zeros((slots, n), np.float32)
    domain = np.zeros((slots, n), bool)
    tgt = np.zeros(slots, np.int64)
    left = np.zeros(slots, np.int32)
    lab = np.zeros(slots, np.int32)
    hist = np.zeros((slots, max_iters + 1) if track else (0,), bool)
    hist_all = np.zeros((n_img, max_iters + 1), bool) if track else None
    dom_end = np.zeros_like(domain_all) if track else None
    nxt = 0
    while True:
        for s in np.flatnonzero(left == 0):      # harvest finished slots, refill from the queue
            if owner[s] >= 0:
                out[owner[s]] = flat[s]
                if track:
                    hist_all[owner[s]], dom_end[owner[s]] = hist[s], domain[s]
                if progress is not None:
                    progress.update(1)
                owner[s] = -1
            if nxt < n_img:
                owner[s], flat[s], domain[s] = nxt, flat_all[nxt], domain_all[nxt]
                tgt[s], left[s] = target[nxt], max_iters
                if track:
                    lab[s], hist[s] = labels[nxt], False
                nxt += 1
        if not (owner >= 0).any():
            break
        if nxt == n_img and (owner < 0).any():   # queue empty: drop the idle slots
            keep = owner >= 0
            owner, flat, domain, tgt, left, lab = (a[keep] for a in
                                                   (owner, flat, domain, tgt, left, lab))
            if track:
                hist = hist[keep]
        f, d, l, h, its = fn(tf.constant(flat), tf.constant(domain),
                             tf.one_hot(tgt, n_classes), tf.constant(left), tf.constant(lab),
                             tf.constant(hist))
        # each iteration: one forward pass and two backward passes over every slot
        work.add("attacks", model, len(flat) * int(its), 3)
        flat, domain, left, hist = f.numpy(), d.numpy(), l.numpy(), h.numpy()
    out = out.reshape(x.shape)
    if not track:
        return out
    # Iterations each image took (each one removes 1 or 2 features from the domain); after
    # its last one the image no longer changes, so F's final answer holds for larger k.
    done = (domain_all & ~dom_end).sum(1) // (2 if pairs else 1)
    final = predict(model, out).argmax(1) == np.asarray(labels)
    k = np.arange(max_iters + 1)[None]
    correct = np.where(k < done[:, None], hist_all, final[:, None])
    return out, correct


def _jsma_settings(model, x, params, seed):
    """Targets, pool size, theta and pairs of a JSMA run as :func:`craft` does it."""
    pred = predict(model, x).argmax(1)
    targets = random_targets(pred, model.output_shape[-1], seed)
    n = int(np.prod(x.shape[1:]))
    pairs = bool(params.get("jsma_pairs", True))
    slots = int(params.get("attack_batch_size", 256))
    if pairs:
        slots = max(1, min(slots, int(2.5e7 // (n * n))))   # bound the n x n pair scores
    return targets, slots, float(params.get("jsma_theta", 1.0)), pairs


def jsma_accuracy_curve(model, x, y, gammas, params=None, seed=0):
    """F's accuracy on JSMA images at every gamma in ``gammas``, from one run at
    the largest (the smaller budgets' runs are prefixes of it). Same targets
    and images as :func:`craft` with the same ``params`` and ``seed``."""
    x = np.asarray(x, np.float32)
    targets, slots, theta, pairs = _jsma_settings(model, x, params or {}, seed)
    _, correct = jsma_pool(model, x, targets, max(gammas), theta, pairs, slots=slots,
                           labels=np.asarray(y))
    n = int(np.prod(x.shape[1:]))
    cols = [int(math.floor(g * n / (2 if pairs else 1))) for g in gammas]
    return [float(correct[:, c].mean()) for c in cols]


def _run(model, x, eps, params, seed, progress):
    targets, slots, theta, pairs = _jsma_settings(model, x, params, seed)
    bar = progress_bar(len(x), "jsma", "img", enabled=progress)
    x_adv = jsma_pool(model, x, targets, eps, theta, pairs, slots=slots, progress=bar)
    bar.close()
    return x_adv, {"targets": targets}


SPEC = register(AttackSpec(
    name="jsma", label="JSMA", run=_run, norm="l0", defaults=_DEFAULTS,
    key_params=tuple(_DEFAULTS), eps_grid={"mnist": grids.GAMMA, "cifar10": grids.GAMMA},
    # one run gives every gamma (greedy prefixes); JSMA moves features to 0 or 1, so its
    # images are on the 8-bit grid
    scan=jsma_accuracy_curve, paper_group="weak",
    # F's prediction (the targets), then per iteration a forward and two backward passes,
    # for at most floor(gamma n / 2) iterations (pairs)
    work=lambda p, eps, n, k: 1 + 3 * math.floor(
        eps * n / (2 if p.get("jsma_pairs", True) else 1)), stops_early=True))
