"""Second-round and adaptive attacks on F and a detector D (beyond the paper).

The paper says that second-round attacks (Eq. 10, from Metzen et al.) "are not
applicable" to the image+saliency detector. For a ReLU network the gradient
saliency is piecewise constant in the input, so its input-gradient is zero
almost everywhere: a gradient attack sees nothing through the saliency channel
(gradient masking). This module gives the attacker what it needs:

* :func:`forward` - F's logits with every ReLU replaced by the smooth
  ``softplus_beta(x) = softplus(beta * x) / beta`` (Dombrowski et al. 2019),
  sharing F's weights (the layers' own kernels are read, nothing is copied);
  ``beta=None`` is F itself. ``beta`` is a tensor, so it can be annealed
  without retracing.
* :func:`saliency_tf` - the saliency of Eq. 5 as a differentiable TensorFlow
  function (nested gradient tape), optionally through the surrogate;
  :func:`detector_features` - D's input (image, saliency, image+saliency or
  F's first-layer feature maps) as a differentiable function of the image.
* :func:`second_round_attack` - Eq. 10: signs of F's and D's loss gradients
  mixed by sigma, clipped to the l_inf ball and [0, 1]; plain gradients of the
  real networks, as in the paper.
* :func:`adaptive_attack` - l_inf PGD on a joint loss
  ``max(margin_F, -kappa) + lambda * max(D logit, -kappa)`` where D's input is
  built from the surrogate saliency (``mode="full"``: gradients flow through
  the image channel *and* the saliency channel, beta annealed geometrically)
  or with the saliency's gradient stopped (``mode="image_only"``: a weaker
  reference). Restarts with random starts, lambdas cycled over restarts; per
  image the first iterate that succeeds on the **real** (ReLU) F and D is kept
  (F wrong and D logit <= the defender's threshold, checked on the iterate
  quantised to the 8-bit grid when ``quantize``, so the kept image is one an
  image file could hold). ``d=None`` attacks the undefended F; a peer detector
  (:mod:`advsal.peer_detectors`, which scores images through its differentiable
  ``logit_tf``) is attacked through its own gradient in place of D's.
* :func:`evaluate_system` - the verdict of the real F and D on given images,
  computed with the pipeline's own feature code (never the surrogate).
* :func:`surrogate_error` - how far the surrogate saliency is from F's.
* :func:`system_rate` - a success rate with its Wilson 95 % interval.

The same attacks on a :class:`advsal.pipeline.Study`, cached, and the tables of
notebook 08 are in :mod:`advsal.adaptive_study`.

The schedule of the adaptive attack (step size, beta, random starts) does not
depend on the number of steps, so a run with more steps extends a shorter
run's trajectory and can only succeed on more images.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .attacks import quantize_tf
from . import work
from .batches import per_model
from .detector_inputs import features_np, features_tf, input_kind
from .metrics import wilson_interval
from .presets import SALIENCY_NORMS

__all__ = ["softplus_beta", "forward", "first_layer", "saliency_tf", "normalise_tf",
           "detector_features", "beta_schedule", "second_round_attack", "adaptive_attack",
           "evaluate_system", "surrogate_error", "system_rate", "quantize_tf",
           "ADAPTIVE_VERSION", "EQ10_VERSION"]

ADAPTIVE_VERSION = "adaptive-v2"   # v2: defender thresholds, quantised iterates
EQ10_VERSION = "eq10-v2"           # v2: best iterate kept, defender thresholds


# ------------------------------------------------------------------ surrogate network
def softplus_beta(x, beta):
    """``softplus(beta * x) / beta``: tends to ReLU as beta grows."""
    return tf.nn.softplus(beta * x) / beta


def _act_name(layer):
    act = getattr(layer, "activation", None)
    return None if act is None else getattr(act, "__name__", str(act))


def _apply_act(name, h, beta):
    if name in (None, "linear"):
        return h
    if name == "relu":
        return tf.nn.relu(h) if beta is None else softplus_beta(h, beta)
    raise ValueError(f"activation {name!r} is not supported by the surrogate; "
                     "supported: relu, linear")


def forward(model, x, beta=None, upto=None):
    """Output of ``model`` (a linear chain of Conv2D / Dense / pooling / Flatten
    layers, as in :mod:`advsal.networks`) on ``x`` with every ReLU replaced by
    ``softplus_beta`` when ``beta`` is given; ``beta=None`` reproduces the
    model. ``upto``: stop after the layer of that name (its activation
    included). The layers' own weights are used, so the surrogate always
    shares F's weights."""
    import keras

    h = tf.convert_to_tensor(x, tf.float32)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D):
            if layer.data_format != "channels_last" or layer.groups != 1:
                raise ValueError(f"layer {layer.name}: only channels_last, ungrouped convolutions")
            h = tf.nn.conv2d(h, layer.kernel, strides=layer.strides,
                             padding=layer.padding.upper(), dilations=layer.dilation_rate)
            if layer.use_bias:
                h = h + layer.bias
            h = _apply_act(_act_name(layer), h, beta)
        elif isinstance(layer, keras.layers.Dense):
            h = tf.matmul(h, layer.kernel)
            if layer.use_bias:
                h = h + layer.bias
            h = _apply_act(_act_name(layer), h, beta)
        elif isinstance(layer, keras.layers.ReLU):
            h = _apply_act("relu", h, beta)
        elif isinstance(layer, keras.layers.Activation):
            h = _apply_act(_act_name(layer), h, beta)
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D,
                                keras.layers.Flatten, keras.layers.Dropout)):
            h = layer(h, training=False)
        else:
            raise ValueError(f"layer {layer.name} ({type(layer).__name__}) is not supported "
                             "by the surrogate")
        if upto is not None and layer.name == upto:
            return h
    if upto is not None:
        raise ValueError(f"no layer named {upto!r} in {model.name}")
    return h


def _first_conv_name(model):
    import keras

    return next(layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


def first_layer(model, x, beta=None):
    """F's first-layer feature maps (first convolution and its activation)."""
    return forward(model, x, beta, upto=_first_conv_name(model))


def _check_chain(model):
    """Once per model: the layer-by-layer rebuild must reproduce the model."""
    per_model(model, "chain_checked", lambda: _verify_chain(model))


def _verify_chain(model):
    shape = (2,) + tuple(model.input_shape[1:])
    x = tf.random.stateless_uniform(shape, (1, 2))
    err = float(tf.reduce_max(tf.abs(forward(model, x) - model(x, training=False))))
    scale = float(tf.reduce_max(tf.abs(model(x, training=False)))) + 1e-6
    if err > 1e-3 * scale:
        raise ValueError(f"{model.name} is not a linear chain of supported layers: the "
                         f"surrogate rebuild differs from the model by {err:.3g}")
    return True


# ------------------------------------------------------------------ saliency
def normalise_tf(s, norm):
    """:func:`advsal.saliency.normalise` in TensorFlow (differentiable)."""
    if norm not in SALIENCY_NORMS:
        raise ValueError(f"saliency_norm={norm!r} is not allowed; allowed: {list(SALIENCY_NORMS)}")
    if norm == "none":
        return s
    axes = list(range(1, len(s.shape)))
    if norm == "maxabs":
        return s / tf.maximum(tf.reduce_max(tf.abs(s), axis=axes, keepdims=True), 1e-12)
    mu = tf.reduce_mean(s, axis=axes, keepdims=True)
    sd = tf.sqrt(tf.reduce_mean(tf.square(s - mu), axis=axes, keepdims=True))
    return (s - mu) / tf.maximum(sd, 1e-12)


def saliency_tf(model, x, beta=None, norm="none", cls=None):
    """Saliency of Eq. 5 (gradient of the picked logit w.r.t. the input),
    differentiable w.r.t. ``x`` when called under an outer tape. ``cls``: the
    class per image (default: the argmax of the network evaluated, i.e. the
    surrogate's own prediction when ``beta`` is given)."""
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = forward(model, x, beta)
        if cls is None:
            cls = tf.argmax(z, 1)
        picked = tf.reduce_sum(tf.gather(z, tf.cast(cls, tf.int32), batch_dims=1))
    return normalise_tf(tape.gradient(picked, x), norm)


def detector_features(f, x, kind, norm="maxabs", beta=None, cls=None, stop_saliency=False):
    """D's input for feature ``kind`` as a function of the image ``x``
    (:func:`advsal.detector_inputs.features_tf`).

    ``beta``: compute the saliency through the softplus surrogate;
    ``stop_saliency``: treat the saliency as a constant (no gradient through
    it). First-layer features always use F's real ReLU."""
    s = None
    if input_kind(kind).uses_saliency:
        s = saliency_tf(f, x, beta, norm, cls)
        if stop_saliency:
            s = tf.stop_gradient(s)
    return features_tf(kind, f, x, s)


def surrogate_error(f, x, betas=(1.0, 10.0, 100.0, 1000.0), norm="maxabs", batch_size=64):
    """Distance between the surrogate saliency at each beta and F's saliency
    (both for F's predicted class, normalised with ``norm``): a dict
    beta -> {"rel_l2": mean ||s_beta - s|| / ||s||, "cosine": mean cosine}."""
    from .saliency import saliency

    _check_chain(f)
    x = np.asarray(x, np.float32)
    s_real = saliency(f, x, norm)
    cls = np.concatenate([f(x[i:i + batch_size], training=False).numpy().argmax(1)
                          for i in range(0, len(x), batch_size)])
    fn = tf.function(lambda a, c, b: saliency_tf(f, a, b, norm, c), reduce_retracing=True)
    out = {}
    for beta in betas:
        s = np.concatenate([fn(tf.constant(x[i:i + batch_size]), tf.constant(cls[i:i + batch_size]),
                               tf.constant(float(beta))).numpy()
                            for i in range(0, len(x), batch_size)])
        a, b = s.reshape(len(x), -1), s_real.reshape(len(x), -1)
        nb = np.maximum(np.linalg.norm(b, axis=1), 1e-12)
        out[float(beta)] = {
            "rel_l2": float(np.mean(np.linalg.norm(a - b, axis=1) / nb)),
            "cosine": float(np.mean((a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1), 1e-12) / nb))}
    return out


# ------------------------------------------------------------------ the real system's verdict
def evaluate_system(f, d, x_adv, y, kind="image+saliency", norm="maxabs", batch_size=256,
                    threshold=0.0):
    """The real F and D on ``x_adv``: dict with ``pred``, ``fooled_f`` (F wrong),
    ``d_logit``, ``judged_clean`` (logit <= ``threshold``) and ``success`` (both). The
    detector features are computed with the pipeline's code
    (:func:`advsal.detector_inputs.features_np`), exactly as for D's training data."""
    from .attacks import predict
    from .saliency import saliency

    x_adv = np.asarray(x_adv, np.float32)
    pred = predict(f, x_adv).argmax(1)
    fooled = pred != np.asarray(y)
    if d is None:
        logit = np.full(len(x_adv), -np.inf, np.float32)
    elif _image_detector(d):
        logit = d.score(x_adv)
    else:
        s = saliency(f, x_adv, norm) if input_kind(kind).uses_saliency else None
        feats = features_np(kind, f, x_adv, s)
        logit = predict(d, feats)[:, 0]
    judged_clean = logit <= threshold
    return {"pred": pred, "fooled_f": fooled, "d_logit": logit, "judged_clean": judged_clean,
            "success": fooled & judged_clean}


def system_rate(success, mask=None):
    """Rate of ``success`` (over ``mask`` when given) with its Wilson 95 % interval."""
    success = np.asarray(success, bool)
    if mask is not None:
        success = success[np.asarray(mask, bool)]
    k, n = int(success.sum()), len(success)
    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else float("nan"), "k": k, "n": n, "ci_low": lo, "ci_high": hi}


# ------------------------------------------------------------------ Eq. 10
def _margin(z, onehot):
    real = tf.reduce_sum(z * onehot, 1)
    other = tf.reduce_max(z - 1e9 * onehot, 1)
    return real - other


def second_round_attack(f, d, x, y, eps, kind="image+saliency", sigma=0.5, steps=10,
                        step_size=None, norm="maxabs", beta=None, batch_size=128,
                        threshold=0.0, quantize=True):
    """Eq. 10 (Metzen et al.'s second-round attack): from ``x_0 = x``,
    ``x_{n+1} = clip_eps(x_n + alpha [(1 - sigma) sign(grad J_f(x_n, y)) +
    sigma sign(grad J_d(x_n, 1))])`` with J_f F's cross-entropy on the true
    label and J_d(., 1) = -log sigmoid(D logit) (ascending it lowers D's
    "adversarial" score). Gradients are those of the real networks
    (``beta=None``), as the paper's attack; a ``beta`` computes D's saliency
    input through the surrogate. ``d=None`` is plain BIM on F.

    The attack gets its best chance: every iterate (quantised to the 8-bit grid
    when ``quantize``) is judged by the real F and D, and per image the first
    one that fools F with D's logit at most ``threshold`` is kept; images that
    never succeed keep the last iterate. Returns ``(x_adv, found)`` (numpy)."""
    _check_chain(f)
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    alpha = float(step_size if step_size is not None else eps / 4)
    step, verdict = _make_second_round(f, d, kind, norm, beta is not None, quantize)
    # every setting is an argument of the compiled step (one trace per F, D and input;
    # Eq. 10's table runs it at several sigmas and thresholds); the weights (1 - sigma,
    # sigma) are computed here in float64, as constants in the graph would be
    eps_t, thr_t, alpha_t = (tf.constant(float(v)) for v in (eps, threshold, alpha))
    wf_t, wd_t = tf.constant(1.0 - float(sigma)), tf.constant(float(sigma))
    beta_t = tf.constant(float(beta if beta is not None else 0.0))

    out = np.empty_like(x)
    found = np.zeros(len(x), bool)
    for i in range(0, len(x), batch_size):
        x0 = tf.constant(x[i:i + batch_size])
        yy = tf.constant(y[i:i + batch_size].astype(np.int32))
        nb = int(x0.shape[0])
        best = np.empty((nb,) + x.shape[1:], np.float32)
        done = np.zeros(nb, bool)
        xa = x0
        for _ in range(steps):
            xa = step(xa, x0, yy, eps_t, alpha_t, wf_t, wd_t, beta_t)
            xq, ok = verdict(xa, x0, yy, eps_t, thr_t)
            for passes in _passes(d, kind, through_saliency=True):
                _count(f, d, nb, passes)
            hit = ok.numpy() & ~done
            if hit.any():
                best[hit] = xq.numpy()[hit]
                done |= hit
            if done.all():
                break
        last = (quantize_tf(xa, x0, eps_t) if quantize else xa).numpy()
        out[i:i + nb] = np.where(done[:, None, None, None], best, last)
        found[i:i + nb] = done
    return out, found


def _make_second_round(f, d, kind, norm, surrogate, quantize):
    return per_model((f, d), ("second_round", kind, norm, bool(surrogate), bool(quantize)),
                     lambda: _build_second_round(f, d, kind, norm, bool(surrogate),
                                                 bool(quantize)))


def _build_second_round(f, d, kind, norm, surrogate, quantize):
    """Eq. 10's compiled step and verdict (:func:`second_round_attack`)."""

    @tf.function(reduce_retracing=True)
    def verdict(xa, x0, yy, eps, thr):
        xq = quantize_tf(xa, x0, eps) if quantize else xa
        z = f(xq, training=False)
        ok = tf.argmax(z, 1, output_type=tf.int32) != tf.cast(yy, tf.int32)
        if d is not None:
            dl = d(detector_features(f, xq, kind, norm, None, tf.argmax(z, 1)),
                   training=False)[:, 0]
            ok = ok & (dl <= thr)
        return xq, ok

    @tf.function(reduce_retracing=True)
    def step(xa, x0, yy, eps, alpha, wf, wd, beta):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xa)
            z = f(xa, training=False)
            jf = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(yy, z))
            if d is not None:
                cls = tf.stop_gradient(tf.argmax(z, 1))
                feats = detector_features(f, xa, kind, norm, beta if surrogate else None, cls)
                jd = tf.reduce_sum(tf.nn.softplus(-d(feats, training=False)[:, 0]))
        gf = tf.sign(tape.gradient(jf, xa))
        gd = tf.sign(tape.gradient(jd, xa)) if d is not None else tf.zeros_like(gf)
        del tape
        gd = tf.where(tf.math.is_nan(gd), 0.0, gd)
        xa = xa + alpha * (wf * gf + wd * gd)
        return tf.clip_by_value(tf.clip_by_value(xa, x0 - eps, x0 + eps), 0.0, 1.0)

    return step, verdict


# ------------------------------------------------------------------ adaptive attack
def beta_schedule(step, beta_start=10.0, beta_end=100.0, anneal_steps=50):
    """Geometric annealing from ``beta_start`` to ``beta_end`` over
    ``anneal_steps`` steps, then constant (independent of the run's length)."""
    if anneal_steps <= 1:
        return float(beta_end)
    t = min(step / (anneal_steps - 1), 1.0)
    return float(beta_start * (beta_end / beta_start) ** t)


def _make_step(f, d, kind, norm, mode, kappa, quantize):
    return per_model((f, d), ("adaptive_step", kind, norm, mode, float(kappa), bool(quantize)),
                     lambda: _build_step(f, d, kind, norm, mode, tf.constant(float(kappa)),
                                         bool(quantize)))


def _image_detector(d):
    """Whether ``d`` scores images itself (a peer detector with a differentiable
    ``logit_tf``, :mod:`advsal.peer_detectors`) rather than D's input features."""
    return d is not None and hasattr(d, "logit_tf")


def _build_step(f, d, kind, norm, mode, kappa, quantize):
    n_classes = int(f.output_shape[-1])
    on_images = _image_detector(d)
    uses_saliency = d is not None and not on_images and "saliency" in kind
    surrogate = uses_saliency and mode == "full"

    def verdict(xa, x0, y, eps, thr):
        """The real F and D on the iterate as it would be saved (quantised)."""
        xq = quantize_tf(xa, x0, eps) if quantize else xa
        z = f(xq, training=False)
        fooled = tf.argmax(z, 1, output_type=tf.int32) != tf.cast(y, tf.int32)
        if d is None:
            return xq, fooled
        dl = d.logit_tf(xq) if on_images else d(
            detector_features(f, xq, kind, norm, None, tf.argmax(z, 1)), training=False)[:, 0]
        return xq, fooled & (dl <= thr)

    @tf.function(reduce_retracing=True)
    def step(xa, x0, y, eps, alpha, beta, lam, thr):
        onehot = tf.one_hot(y, n_classes)
        with tf.GradientTape() as tape:
            tape.watch(xa)
            z = f(xa, training=False)
            margin = _margin(z, onehot)
            loss = tf.maximum(margin, -kappa)
            if on_images:
                loss = loss + lam * tf.maximum(d.logit_tf(xa) - thr, -kappa)
            elif d is not None:
                cls = tf.stop_gradient(tf.argmax(z, 1))
                feats = detector_features(f, xa, kind, norm, beta if surrogate else None, cls,
                                          stop_saliency=uses_saliency and not surrogate)
                dl = d(feats, training=False)[:, 0]
                loss = loss + lam * tf.maximum(dl - thr, -kappa)
        g = tape.gradient(loss, xa)
        g = tf.where(tf.math.is_nan(g), 0.0, g)
        xq, ok = verdict(xa, x0, y, eps, thr)   # the real system on the current iterate
        new = xa - alpha * tf.sign(g)
        new = tf.clip_by_value(tf.clip_by_value(new, x0 - eps, x0 + eps), 0.0, 1.0)
        return new, loss, ok, xq

    @tf.function(reduce_retracing=True)
    def check(xa, x0, y, eps, thr):
        return verdict(xa, x0, y, eps, thr)

    return step, check


def _passes(d, kind, through_saliency):
    """Forward-pass equivalents of F and of D per image of one attack step and of one
    verdict (:mod:`advsal.work`): the step's gradient through F (2), through D (2)
    and D's saliency input (its forward and backward pass, 2, and 2 more when the
    gradient flows through it); the verdict's F, saliency and D on the iterate."""
    step_f, step_d, verdict_f, verdict_d = 2, 0, 1, 0
    if _image_detector(d):            # a peer detector: about one pass of F each
        step_f, verdict_f = step_f + 2, verdict_f + 1
    elif d is not None:
        step_d, verdict_d = 2, 1
        if input_kind(kind).uses_saliency:
            step_f += 4 if through_saliency else 2
            verdict_f += 2
    return (step_f, step_d), (verdict_f, verdict_d)


def _count(f, d, images, passes):
    work.add("adaptive attack", f, images, passes[0])
    if passes[1]:
        work.add("adaptive attack", d, images, passes[1])


def adaptive_attack(f, d, x, y, eps, kind="image+saliency", norm="maxabs", steps=100,
                    restarts=1, step_size=None, lambdas=(1.0,), betas=(10.0, 100.0),
                    anneal_steps=50, mode="full", kappa=1.0, seed=0, batch_size=64,
                    trace=False, threshold=0.0, quantize=True):
    """l_inf PGD against F and D jointly (see the module docstring).

    Per step: ``x <- clip(x - alpha * sign(grad L))`` with
    ``L = max(margin_F, -kappa) + lambda * max(D logit - threshold, -kappa)``,
    the margin being F's true-class logit minus the largest other logit; an
    iterate succeeds when the real F is wrong and the real D's logit is at most
    ``threshold`` (the defender's), both judged on the iterate quantised to the
    8-bit grid when ``quantize`` (the image kept is that quantised one). ``mode``:
    ``"full"`` (saliency through the softplus surrogate with beta annealed
    geometrically from ``betas[0]`` to ``betas[1]`` over ``anneal_steps``) or
    ``"image_only"`` (the real saliency with its gradient stopped). Restart 0
    starts at ``x``, later restarts uniformly in the eps ball; restart r uses
    ``lambdas[r % len(lambdas)]``. A batch stops once every image succeeded.

    Returns a dict: ``x_adv`` (per image the first iterate that fooled the real
    F and D, else the last iterate), ``success`` (as found during the run, on
    the real networks), ``first_step`` (global step index of the first success,
    -1 if none) and, with ``trace``, ``loss`` (steps x restarts mean loss of
    the first batch; NaN after an early stop).
    """
    if mode not in ("full", "image_only"):
        raise ValueError(f"mode={mode!r} is not allowed; allowed: ['full', 'image_only']")
    _check_chain(f)
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int32)
    alpha = float(step_size if step_size is not None else eps / 10)
    step, check = _make_step(f, d, kind, norm, mode, kappa, quantize)
    step_passes, verdict_passes = _passes(d, kind, through_saliency=mode == "full")
    eps_t, alpha_t, thr_t = tf.constant(float(eps)), tf.constant(alpha), tf.constant(float(threshold))
    sched = [tf.constant(beta_schedule(t, betas[0], betas[1], anneal_steps))
             for t in range(steps)]
    x_out = x.copy()
    success = np.zeros(len(x), bool)
    first = np.full(len(x), -1, np.int64)
    loss_trace = np.full((steps, restarts), np.nan)
    for i in range(0, len(x), batch_size):
        x0 = tf.constant(x[i:i + batch_size])
        yy = tf.constant(y[i:i + batch_size])
        nb = int(x0.shape[0])
        done = np.zeros(nb, bool)
        best = x[i:i + batch_size].copy()
        last = best.copy()
        for r in range(restarts):
            if r == 0:
                xa = x0
            else:
                noise = tf.random.stateless_uniform(x0.shape, (int(seed), r), -1.0, 1.0)
                xa = tf.clip_by_value(x0 + float(eps) * noise, 0.0, 1.0)
            lam = tf.constant(float(lambdas[r % len(lambdas)]))
            for t in range(steps):
                new, loss, ok, xq = step(xa, x0, yy, eps_t, alpha_t, sched[t], lam, thr_t)
                _count(f, d, nb, step_passes)
                _count(f, d, nb, verdict_passes)
                ok = ok.numpy()
                hit = ok & ~done
                if hit.any():
                    best[hit] = xq.numpy()[hit]
                    first[i:i + nb][hit] = r * steps + t
                    done |= hit
                if trace and i == 0:
                    loss_trace[t, r] = float(tf.reduce_mean(loss))
                xa = new
                if done.all():
                    break
            if not done.all():   # the final iterate of this restart
                xq, ok = check(xa, x0, yy, eps_t, thr_t)
                _count(f, d, nb, verdict_passes)
                ok = ok.numpy()
                hit = ok & ~done
                if hit.any():
                    best[hit] = xq.numpy()[hit]
                    first[i:i + nb][hit] = (r + 1) * steps
                    done |= hit
            last = (quantize_tf(xa, x0, eps_t) if quantize else xa).numpy()
            if done.all():
                break
        x_out[i:i + nb] = np.where(done[:, None, None, None], best, last)
        success[i:i + nb] = done
    out = {"x_adv": x_out, "success": success, "first_step": first}
    if trace:
        out["loss"] = loss_trace
    return out
