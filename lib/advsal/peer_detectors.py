"""The detectors the field uses, on the study's classifier F: LID, Mahalanobis
and KD, written from their papers.

* **LID** (Ma et al. 2018, "Characterizing adversarial subspaces using local
  intrinsic dimensionality"): the maximum-likelihood estimate of local
  intrinsic dimensionality of F's activations at every convolutional and dense
  layer, from the distances to the ``k`` nearest of a reference set of clean
  images. The paper estimates it within each minibatch of 100 clean images and
  their adversarial versions, so a test image's feature depends on the batch it
  is scored in (and a batch of test images carries their labels). Here the
  reference is one fixed set of ``peer_n_ref`` clean *training* images outside
  D's training and validation slices: every image, clean or adversarial, train
  or test, is scored against the same reference, so a score depends on that
  image alone (a test checks that shuffling the test images permutes the
  scores). The paper's noisy negatives are not used.
* **Mahalanobis** (Lee et al. 2018, "A simple unified framework for detecting
  out-of-distribution samples and adversarial attacks"): class-conditional
  Gaussians with one shared covariance on F's global-average-pooled features
  at every hidden layer, fitted on ``peer_n_fit`` clean training images; the
  confidence score ``max_c -(f(x) - mu_c)^T Sigma^-1 (f(x) - mu_c)`` after
  the paper's input preprocessing ``x - m * sign(grad_x distance)`` with a
  noise magnitude ``m`` from ``mahalanobis_noise``.
* **KD** (Feinman et al. 2017, "Detecting adversarial samples from
  artifacts"): the Gaussian kernel density of F's last hidden layer under the
  ``peer_n_fit`` clean training images of the predicted class, bandwidth a
  multiple (``kd_bandwidths``) of the median distance between those images'
  features. The paper's Bayesian uncertainty (BU) needs Monte Carlo dropout,
  and Table I's F has no dropout layer, so BU is left out: this is KD alone,
  not KD+BU.

Each detector turns an image into features (one per layer for LID and
Mahalanobis, one for KD), for every candidate hyperparameter at once. A
logistic regression (scikit-learn, on standardised features) is fitted on D's
training images (clean: 0, adversarial: 1) for each candidate; the candidate
with the highest ROC AUC on the validation slice is kept. Its decision
function is the detector's logit, so logit 0 and the thresholds set on clean
validation images mean what they mean for D (:mod:`advsal.metrics`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from . import work
from .batches import map_batches, per_model
from .metrics import roc_auc

__all__ = ["NothingToFit", "PeerSpec", "PEERS", "peer_spec", "peer_names", "fit_peer", "rebuild_peer", "FittedPeer",
           "probe_layers", "LITERATURE"]


class NothingToFit(ValueError):
    """An attack left no adversarial training or validation image to fit a peer on (it
    fooled F on none of them)."""


@dataclass(frozen=True)
class PeerSpec:
    name: str
    label: str
    reference: str      # its clean reference images: "ref" (LID) or "fit" (Gaussians, densities)
    hyper: str          # the preset parameter listing its candidate hyperparameters
    build: Callable     # (f, x_reference, y_reference, candidates, batch_size) -> raw_tf(x)
    citation: str
    params: tuple = field(default=())   # preset parameters its results depend on


# ---------------------------------------------------------------- F's activations
def probe_layers(f):
    """F's convolutional and dense layers, input to logits."""
    import keras
    return [layer for layer in f.layers if isinstance(layer, (keras.layers.Conv2D,
                                                              keras.layers.Dense))]


def _activation_model(f):
    import keras
    return per_model(f, "peer_activations", lambda: keras.Model(
        f.inputs[0], [layer.output for layer in probe_layers(f)]))


def _flat(h):
    return tf.reshape(h, (tf.shape(h)[0], -1))


def _pooled(h):
    return tf.reduce_mean(h, axis=(1, 2)) if len(h.shape) == 4 else h


def _sq_dist(a, b):
    """Squared Euclidean distances between the rows of ``a`` and ``b``."""
    d = (tf.reduce_sum(a * a, 1)[:, None] + tf.reduce_sum(b * b, 1)[None, :]
         - 2.0 * tf.matmul(a, b, transpose_b=True))
    return tf.maximum(d, 0.0)


# ---------------------------------------------------------------- LID
def _build_lid(f, x_ref, y_ref, ks, batch_size):
    model = _activation_model(f)
    ref = [tf.constant(a) for a in _layer_outputs(model, x_ref, _flat, batch_size)]
    ks = [int(k) for k in ks]
    kmax = max(ks)
    if kmax >= len(x_ref):
        raise ValueError(f"lid_ks={list(ks)} needs peer_n_ref > {kmax}; got {len(x_ref)}")

    @tf.function(reduce_retracing=True)
    def batch_lids(x):
        out = []
        for h, r in zip(model(x, training=False), ref):
            d = tf.sqrt(_sq_dist(_flat(h), r))
            nearest = -tf.math.top_k(-d, k=kmax).values          # ascending, (B, kmax)
            per_k = []
            for k in ks:
                dk = nearest[:, :k]
                logs = tf.math.log(dk / dk[:, -1:] + 1e-12)
                per_k.append(-1.0 / tf.minimum(tf.reduce_mean(logs, axis=1), -1e-12))
            out.append(tf.stack(per_k, axis=1))                   # (B, H)
        return tf.stack(out, axis=2)                              # (B, H, layers)

    return batch_lids


def _layer_outputs(model, x, transform, batch_size, layers=None):
    """``transform`` of each probed layer's output on ``x``, batch by batch; ``layers``:
    the indices of the layers kept (default every one). Only those are held: every
    flattened layer of KD's fit set was 0.70 GB on CIFAR-10's full preset, for one used."""
    work.add("peers", model, len(x), work.FORWARD)
    parts = []
    for i in range(0, len(x), batch_size):
        outs = model(x[i:i + batch_size], training=False)
        parts.append([np.asarray(transform(outs[j]))
                      for j in (range(len(outs)) if layers is None else layers)])
    return [np.concatenate(layer) for layer in zip(*parts)]


# ---------------------------------------------------------------- Mahalanobis
def _build_mahalanobis(f, x_fit, y_fit, noises, batch_size):
    model = _activation_model(f)
    hidden = len(probe_layers(f)) - 1                  # every layer but the logits
    feats = _layer_outputs(model, x_fit, _pooled, batch_size, layers=range(hidden))
    classes = np.unique(y_fit)
    means, precisions = [], []
    for h in feats:
        mu = np.stack([h[y_fit == c].mean(0) for c in classes])
        centred = h - mu[np.searchsorted(classes, y_fit)]
        cov = centred.T @ centred / len(h)
        means.append(tf.constant(mu, tf.float32))
        precisions.append(tf.constant(np.linalg.pinv(cov), tf.float32))

    # F truncated after each hidden layer: the preprocessing of a layer's score runs F only
    # that far; the unperturbed scores of every layer come from one full pass.
    import keras
    upto = per_model(f, "peer_upto", lambda: [keras.Model(f.inputs[0], layer.output)
                                              for layer in probe_layers(f)[:hidden]])

    def distances(h, layer):
        diff = _pooled(h)[:, None, :] - means[layer][None]
        return tf.einsum("ncd,de,nce->nc", diff, precisions[layer], diff)

    @tf.function(reduce_retracing=True)
    def batch_scores(x):
        plain = model(x, training=False)
        out = []
        for layer in range(hidden):
            if any(m != 0 for m in noises):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    closest = tf.reduce_sum(tf.reduce_min(
                        distances(upto[layer](x, training=False), layer), axis=1))
                step = tf.sign(tape.gradient(closest, x))
            per_noise = [
                -tf.reduce_min(distances(
                    plain[layer] if m == 0 else
                    upto[layer](tf.clip_by_value(x - m * step, 0.0, 1.0), training=False),
                    layer), axis=1)
                for m in noises]
            out.append(tf.stack(per_noise, axis=1))
        return tf.stack(out, axis=2)

    return batch_scores


# ---------------------------------------------------------------- KD
def _build_kd(f, x_fit, y_fit, multipliers, batch_size):
    model = _activation_model(f)
    hidden = len(probe_layers(f)) - 2                  # the last hidden layer, before the logits
    z_fit = _layer_outputs(model, x_fit, _flat, batch_size, layers=[hidden])[0]
    n_classes = int(f.output_shape[-1])
    missing = sorted(set(range(n_classes)) - set(np.unique(y_fit).tolist()))
    if missing:
        raise ValueError(f"kd: no fit images of classes {missing}; raise peer_n_fit")
    pts = [tf.constant(z_fit[y_fit == c]) for c in range(n_classes)]
    sample = z_fit[: min(len(z_fit), 1000)]
    d = np.sqrt(np.asarray(_sq_dist(tf.constant(sample), tf.constant(sample))))
    median = float(np.median(d[np.triu_indices(len(sample), 1)]))
    widths = tf.constant([m * median for m in multipliers], tf.float32)

    @tf.function(reduce_retracing=True)
    def batch_density(x):
        outs = model(x, training=False)
        z, pred = _flat(outs[hidden]), tf.argmax(outs[-1], axis=1)
        per_class = []
        for p in pts:                                     # log mean kernel under each class
            sq = _sq_dist(z, p)[:, :, None] / (widths[None, None, :] ** 2)
            per_class.append(tf.reduce_logsumexp(-sq, axis=1)
                             - tf.math.log(tf.cast(tf.shape(p)[0], tf.float32)))
        dens = tf.gather(tf.stack(per_class, axis=1), pred, axis=1, batch_dims=1)
        return -dens[:, :, None]                         # low density: adversarial

    return batch_density


_SPECS = (
    PeerSpec("lid", "LID (Ma et al. 2018)", "ref", "lid_ks", _build_lid,
             "Ma et al., ICLR 2018", ("peer_n_ref", "lid_ks")),
    PeerSpec("mahalanobis", "Mahalanobis (Lee et al. 2018)", "fit", "mahalanobis_noise",
             _build_mahalanobis, "Lee et al., NeurIPS 2018", ("peer_n_fit", "mahalanobis_noise")),
    PeerSpec("kd", "KD, no BU (Feinman et al. 2017)", "fit", "kd_bandwidths", _build_kd,
             "Feinman et al., arXiv:1703.00410", ("peer_n_fit", "kd_bandwidths")),
)
PEERS = {s.name: s for s in _SPECS}


def peer_names() -> tuple:
    return tuple(PEERS)


def peer_spec(name: str) -> PeerSpec:
    if name not in PEERS:
        raise ValueError(f"peer detector {name!r} is not known; allowed: {list(PEERS)}")
    return PEERS[name]


# ---------------------------------------------------------------- fitting
@dataclass
class FittedPeer:
    """A fitted peer: its features at the chosen candidate, standardised, then a linear
    logit. ``score`` (NumPy, batched) and ``logit_tf`` (TensorFlow, differentiable, for
    the adaptive attack) compute the same function."""
    name: str
    hyper: float                  # the chosen candidate
    val_auc: dict                 # candidate -> validation AUC
    raw_tf: Callable = field(repr=False)   # images -> (B, candidates, features)
    index: int                    # the chosen candidate's position in raw_tf's output
    mean: np.ndarray = field(repr=False)
    scale: np.ndarray = field(repr=False)
    coef: np.ndarray = field(repr=False)
    intercept: float = 0.0
    batch_size: int = 256
    f: Any = field(default=None, repr=False)   # F, whose passes the scores count

    def logit_tf(self, x):
        feats = self.raw_tf(x)[:, self.index, :]
        z = (feats - tf.constant(self.mean, tf.float32)) / tf.constant(self.scale, tf.float32)
        return tf.linalg.matvec(z, tf.constant(self.coef, tf.float32)) + self.intercept

    def score(self, x) -> np.ndarray:
        """Logits (above 0: adversarial) of images ``x`` (an array, or rows decoded batch by
        batch: :class:`advsal.detector_inputs.FeatureRows`), each scored on its own."""
        x = _images(x)
        if len(x) == 0:
            return np.zeros(0, np.float32)
        if self.f is not None:
            work.add("peers", self.f, len(x), work.FORWARD)
        return map_batches(lambda b: self.logit_tf(tf.constant(b)), x, self.batch_size)

    def linear(self) -> dict:
        """The fitted parameters, as arrays (to cache and rebuild with :func:`rebuild_peer`)."""
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef,
                "intercept": np.asarray(self.intercept)}


def _logistic(features, labels, seed):
    """Standardised features, then a logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    lr = LogisticRegression(max_iter=2000, random_state=seed).fit(
        scaler.transform(features), labels)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return (scaler.mean_.astype(np.float32), scale.astype(np.float32),
            lr.coef_[0].astype(np.float32), float(lr.intercept_[0]))


def _images(x):
    """Images as float32: rows decoded batch by batch (advsal.detector_inputs.FeatureRows)
    as they are, anything else as an array (an ndarray has ``take`` too, so the type
    decides)."""
    from .detector_inputs import FeatureRows
    return x if isinstance(x, FeatureRows) else np.asarray(x, np.float32)


def _raw(raw_tf, x, batch_size):
    return map_batches(lambda b: raw_tf(tf.constant(b)), _images(x), batch_size)


def fit_peer(name, f, x_reference, y_reference, train, val, candidates, batch_size=256,
             seed=0) -> FittedPeer:
    """Fit peer detector ``name`` on F's activations.

    ``x_reference``/``y_reference``: its clean reference images (LID's reference
    set, or the fit set of the Gaussians and densities); ``train`` and ``val``:
    ``(x_clean, x_adversarial)`` pairs of D's training and validation images (arrays,
    or rows decoded batch by batch: :class:`advsal.detector_inputs.FeatureRows`).
    The candidate hyperparameter with the highest validation AUC is kept.
    """
    spec = peer_spec(name)
    candidates = [float(c) for c in candidates]
    if not candidates:
        raise ValueError(f"{spec.hyper} is empty; give at least one candidate")
    (xc, xa), (vc, va) = train, val
    if len(xa) == 0 or len(va) == 0:
        raise NothingToFit(f"{name}: no adversarial images to fit on (train {len(xa)}, "
                         f"val {len(va)})")
    raw_tf = spec.build(f, np.asarray(x_reference, np.float32), np.asarray(y_reference),
                        candidates, batch_size)
    # F's forward pass on every image (Mahalanobis' input preprocessing not counted)
    work.add("peers", f, len(xc) + len(xa) + len(vc) + len(va), work.FORWARD)
    feats = np.concatenate([_raw(raw_tf, xc, batch_size), _raw(raw_tf, xa, batch_size)])
    vfeats = np.concatenate([_raw(raw_tf, vc, batch_size), _raw(raw_tf, va, batch_size)])
    labels = np.r_[np.zeros(len(xc)), np.ones(len(xa))]
    vlabels = np.r_[np.zeros(len(vc)), np.ones(len(va))]
    aucs, fits = {}, []
    for i, c in enumerate(candidates):
        mean, scale, coef, b = _logistic(feats[:, i, :], labels, seed)
        aucs[c] = roc_auc(vlabels, ((vfeats[:, i, :] - mean) / scale) @ coef + b)
        fits.append((mean, scale, coef, b))
    finite = [c for c in candidates if not np.isnan(aucs[c])]
    best = candidates.index(max(finite, key=aucs.get)) if finite else 0
    return FittedPeer(name, candidates[best], aucs, raw_tf, best, *fits[best],
                      batch_size=batch_size, f=f)


def rebuild_peer(name, f, x_reference, y_reference, hyper, linear, batch_size=256):
    """The peer fitted earlier, from its reference images, its chosen candidate and
    its :meth:`FittedPeer.linear` parameters (no refitting)."""
    raw_tf = peer_spec(name).build(f, np.asarray(x_reference, np.float32),
                                   np.asarray(y_reference), [float(hyper)], batch_size)
    return FittedPeer(name, float(hyper), {}, raw_tf, 0, linear["mean"], linear["scale"],
                      linear["coef"], float(linear["intercept"]), batch_size, f)


# ---------------------------------------------------------------- published numbers
# Detection rate / false-positive rate of peers in Aldahdooh et al. 2022 ("Adversarial
# example detection for DNN models: a review and experimental comparison", Artificial
# Intelligence Review), on their own classifiers: printed beside ours where the data set,
# attack and epsilon match ours.
LITERATURE = (
    {"dataset": "cifar10", "attack": "fgsm", "eps": 8 / 255, "detector": "lid",
     "tpr": 0.530, "fpr": 0.038},
    {"dataset": "cifar10", "attack": "fgsm", "eps": 8 / 255, "detector": "kd",
     "tpr": 0.350, "fpr": 0.073, "note": "KD+BU"},
    {"dataset": "mnist", "attack": "fgsm", "eps": 32 / 255, "detector": "lid",
     "tpr": 0.817, "fpr": 0.014},
)
