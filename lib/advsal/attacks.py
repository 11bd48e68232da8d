"""The paper's attacks on a classifier F (Step 1 of Section III).

Each attack is a plain function ``attack(model, x, ...) -> x_adv`` of a Keras
model that outputs logits and a float32 NHWC batch in [0, 1]; all keep
``x_adv`` inside [0, 1]. :func:`craft` runs one of them over a whole array in
fixed-size batches (the last batch padded, so each compiled function is traced
once) with a progress bar.

=========== =========================================================== ========
attack      what                                                        budget
=========== =========================================================== ========
fgsm        FGSM on F's *predicted* label (no label leaking)            l_inf eps
iter_linf   iterative FGSM (BIM, Kurakin et al.), l_inf projection       l_inf eps
iter_l2     iterative FGM with l_2-normalised steps, l_2 projection      l_2 eps
iter_l1     extra: sparse l_1 descent with l_1-ball projection           l_1 eps
jsma        Papernot et al.'s JSMA, pairs of features, increasing        gamma
cw_l2       Carlini & Wagner L2 with binary search over c, kappa        --
=========== =========================================================== ========

The two iterative attacks call cleverhans 4 (``cleverhans.tf2``), wrapped in
``tf.function``; FGSM is written here in one forward and one backward pass and
tested equal to cleverhans 4's. cleverhans 4 has no JSMA, and its
``carlini_wagner_l2`` is broken under Keras 3 (it calls
``optimizer.variables()``, a property there; its ``const`` has the image's
shape, so it fails on 3-channel inputs and scales c per pixel on MNIST; and
it adds ``confidence`` to every logit, so kappa never acts on the success
check: cleverhans issue 1205). JSMA and C&W L2 are therefore implemented here,
following the original papers, and cross-checked against the Adversarial
Robustness Toolbox in the tests.
"""
from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from .presets import ATTACKS, check_eps

__all__ = ["quantize_8bit", "quantize_tf", "LINF_ATTACKS", "fgsm", "iterative", "iter_l1", "jsma", "jsma_pool", "jsma_accuracy_curve", "cw_l2", "craft", "attack_stats",
           "random_targets", "predict"]


# Attacks whose budget bounds the l_inf distance (JSMA's gamma bounds the share of
# features changed, not their size, but it moves features to 0 or 1: on the grid).
LINF_ATTACKS = ("fgsm", "iter_linf")


# ------------------------------------------------------------------ helpers
def quantize_8bit(x, x_adv, linf_eps=None):
    """``x_adv`` rounded to the 8-bit grid (k/255) that the clean images ``x`` sit on.

    The perturbation is rounded to the nearest multiple of 1/255; with
    ``linf_eps`` it is then clipped to the largest multiple of 1/255 inside the
    l_inf budget, so quantisation never takes an image outside its budget. The
    result stays in [0, 1] and is float32.
    """
    x = np.asarray(x, np.float32)
    steps = np.rint((np.asarray(x_adv, np.float64) - x) * 255.0)
    if linf_eps is not None:
        cap = math.floor(float(linf_eps) * 255.0 + 1e-6)
        steps = np.clip(steps, -cap, cap)
    k = np.clip(np.rint(x * 255.0) + steps, 0, 255)
    return (k / 255.0).astype(np.float32)


def quantize_tf(xa, x0, eps=None):
    """:func:`quantize_8bit` in TensorFlow: ``xa`` on the 8-bit grid of ``x0``, its
    perturbation (with ``eps``) inside the l_inf budget ``eps``."""
    steps = tf.round((xa - x0) * 255.0)
    if eps is not None:
        cap = tf.floor(eps * 255.0 + 1e-6)
        steps = tf.clip_by_value(steps, -cap, cap)
    return tf.clip_by_value(tf.round(x0 * 255.0) + steps, 0.0, 255.0) / 255.0


def predict(model, x, batch_size=1024):
    """Logits of ``model`` on ``x`` (numpy, batched)."""
    return np.concatenate([model(x[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(x), batch_size)]) if len(x) else \
        np.zeros((0, model.output_shape[-1]), np.float32)


def random_targets(pred, n_classes, seed):
    """A target class != ``pred`` per image, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return (pred + rng.integers(1, n_classes, size=len(pred))) % n_classes


def _logits_fn(model):
    return lambda z: model(z, training=False)


# ------------------------------------------------------------------ cleverhans-based
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


def iterative(model, x, eps, norm, steps, step_size):
    """Iterative FGSM / FGM (Eq. 7) without random start: BIM for l_inf."""
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    return projected_gradient_descent(_logits_fn(model), x, eps, min(step_size, eps), steps,
                                      norm, clip_min=0.0, clip_max=1.0, rand_init=False,
                                      sanity_checks=False)


# ------------------------------------------------------------------ iterative l_1
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


# ------------------------------------------------------------------ JSMA
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

    _, flat, domain, left, hist = tf.while_loop(cond, body,
                                                [tf.constant(0), flat, domain, left, hist])
    return flat, domain, left, hist


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
    fn = _compiled(model, key, make, input_signature=spec)
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
        f, d, l, h = fn(tf.constant(flat), tf.constant(domain), tf.one_hot(tgt, n_classes),
                        tf.constant(left), tf.constant(lab), tf.constant(hist))
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



# ------------------------------------------------------------------ C&W L2
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
        _, w, _, _, best_l2, best_adv, found, _, _ = tf.while_loop(cond, body, state)
        return (tf.tanh(w) + 1.0) / 2.0, best_l2, best_adv, found

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
    run = _compiled(model, ("cw_l2", float(kappa), bool(targeted), float(lr), int(steps),
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
        last, best_l2, best, found = run(w0, x, onehot, tf.constant(const, tf.float32),
                                         best_l2, best)
        found = found.numpy()
        upper = np.where(found, np.minimum(upper, const), upper)
        lower = np.where(found, lower, np.maximum(lower, const))
        const = np.where(upper < 1e9, (lower + upper) / 2, const * 10)
    out = np.where(np.isfinite(best_l2.numpy())[:, None, None, None], best.numpy(),
                   last.numpy())
    if grid:   # the failures' last iterates too
        out = quantize_8bit(x.numpy(), out)
    return tf.constant(np.clip(out, 0.0, 1.0), tf.float32)


# ------------------------------------------------------------------ driver
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


_COMPILED = {}


def _compiled(model, key, make, **tf_function_kwargs):
    """One ``tf.function`` per (model, attack settings), traced once and reused
    (train and test splits, repeated calls in calibration and benchmarks)."""
    entry = _COMPILED.get((id(model), key))
    if entry is None or entry[0] is not model:
        entry = (model, tf.function(make(), **tf_function_kwargs))
        _COMPILED[(id(model), key)] = entry
    return entry[1]


def _batched(fn, arrays, batch_size, desc, progress=True):
    """Apply ``fn`` to aligned ``arrays`` in fixed-size batches (last one padded)."""
    n = len(arrays[0])
    out = []
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, leave=False)
    for i in range(0, n, batch_size):
        parts = [a[i:i + batch_size] for a in arrays]
        k = len(parts[0])
        if k < batch_size and n > batch_size:
            parts = [np.concatenate([p, np.repeat(p[-1:], batch_size - k, 0)]) for p in parts]
        out.append(np.asarray(fn(*parts))[:k])
        bar.update(k)
    bar.close()
    return np.concatenate(out) if out else np.zeros_like(arrays[0])


def craft(model, attack, x, eps=None, params=None, seed=0, progress=True):
    """Adversarial versions of ``x`` against ``model`` with ``attack``.

    Returns ``(x_adv, info)``; ``info`` holds the targets for targeted attacks.
    ``params`` supplies the attack's settings (see :mod:`advsal.presets`).
    """
    if attack not in ATTACKS:
        raise ValueError(f"attack={attack!r} is not known; allowed: {list(ATTACKS)}")
    params = params or {}
    x = np.asarray(x, np.float32)
    check_eps(attack, eps, n_features=int(np.prod(x.shape[1:])))
    if x.ndim != 4 or x.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(f"x has shape {x.shape}; the network expects (N, "
                         f"{', '.join(map(str, model.input_shape[1:]))})")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1]; got range [{x.min():.3g}, {x.max():.3g}]")
    bs = int(params.get("attack_batch_size", 256))
    steps = int(params.get("iter_steps", 10))
    ratio = float(params.get("iter_step_ratio", 0.25))
    info = {}
    if attack == "fgsm":
        fn = _compiled(model, (attack, eps), lambda: lambda a: fgsm(model, a, eps))
        args = [x]
    elif attack in ("iter_linf", "iter_l2"):
        norm = np.inf if attack == "iter_linf" else 2
        fn = _compiled(model, (attack, eps, steps, ratio),
                       lambda: lambda a: iterative(model, a, eps, norm, steps, ratio * eps))
        args = [x]
    elif attack == "iter_l1":
        fn = _compiled(model, (attack, eps, steps, ratio),
                       lambda: lambda a: iter_l1(model, a, eps, steps, ratio * eps))
        args = [x]
    elif attack == "jsma":
        targets, slots, theta, pairs = _jsma_settings(model, x, params, seed)
        info["targets"] = targets
        bar = tqdm(total=len(x), desc=attack, unit="img", disable=not progress, leave=False)
        x_adv = jsma_pool(model, x, targets, eps, theta, pairs, slots=slots, progress=bar)
        bar.close()
        return x_adv, info
    else:  # cw_l2
        pred = predict(model, x).argmax(1)
        targeted = bool(params.get("cw_targeted", True))
        labels = random_targets(pred, model.output_shape[-1], seed) if targeted else pred
        if targeted:
            info["targets"] = labels

        def fn(a, t):
            return cw_l2(model, a, t, targeted=targeted, kappa=params.get("cw_kappa", 0.0),
                         steps=int(params.get("cw_steps", 100)),
                         binary_steps=int(params.get("cw_binary_steps", 5)),
                         lr=float(params.get("cw_lr", 0.01)),
                         initial_const=float(params.get("cw_initial_const", 1.0)),
                         abort_early=bool(params.get("cw_abort_early", True)),
                         grid=bool(params.get("cw_grid", False)))
        args = [x, labels]
    x_adv = _batched(fn, args, bs, desc=attack, progress=progress).astype(np.float32)
    return x_adv, info


def attack_stats(model, x, x_adv, y, pred_adv=None, pred_clean=None):
    """Success rate and distortion of an adversarial set.

    An adversarial example *fools F* when F's prediction on it differs from
    the true label. Distortions are per image, over all features; the
    ``*_success`` ones are over the images that fool F and whose clean version
    F classifies correctly (the images the detector tables count).
    """
    if pred_adv is None:
        pred_adv = predict(model, x_adv).argmax(1)
    if pred_clean is None:
        pred_clean = predict(model, x).argmax(1)
    d = (x_adv - x).reshape(len(x), -1)
    dist = {"linf": np.abs(d).max(1), "l2": np.sqrt((d ** 2).sum(1)),
            "l0": (np.abs(d) > 1e-6).sum(1) / d.shape[1]}
    fooled = pred_adv != y
    out = {"n": int(len(x)), "acc_adv": float(np.mean(~fooled)),
           "success_rate": float(np.mean(fooled)), "n_success": int(fooled.sum())}
    for name, v in dist.items():
        out[f"{name}_mean"], out[f"{name}_max"] = float(v.mean()), float(v.max())
        ok = v[fooled & (pred_clean == y)]   # the distortion an attack needs to fool F
        out[f"{name}_mean_success"] = float(ok.mean()) if len(ok) else float("nan")
        out[f"{name}_median_success"] = float(np.median(ok)) if len(ok) else float("nan")
    return out
