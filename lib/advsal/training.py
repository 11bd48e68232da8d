"""Training of the classifier F and the detectors D (Adam, as in Section IV).

F: sparse categorical cross-entropy on logits. D: binary cross-entropy on one
logit (1 = adversarial). Both use ``model.fit`` one epoch at a time so that
optional data augmentation (random horizontal flip and a shift of up to 4
pixels, for CIFAR-10 and ImageNet-like data) is drawn from a seeded NumPy
generator and runs are repeatable.
"""
from __future__ import annotations

import time

import keras
import numpy as np

from .progress import EpochBar

__all__ = ["train_classifier", "train_detector", "augment_batch", "augment_draws",
           "apply_augment", "accuracy"]


def augment_draws(rng, n, max_shift=4):
    """One epoch's augmentation of ``n`` images, drawn from ``rng``: which are flipped
    horizontally, and each one's shift (rows, columns) into the zero-padded image."""
    flip = rng.random(n) < 0.5
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    return flip, dy, dx


def apply_augment(x, flip, dy, dx, max_shift=4):
    """NHWC images ``x`` flipped and shifted as drawn by :func:`augment_draws`."""
    x = x.copy()
    x[flip] = x[flip, :, ::-1]
    pad = np.pad(x, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
    h, w = x.shape[1:3]
    windows = np.lib.stride_tricks.sliding_window_view(pad, (h, w), axis=(1, 2))
    # windows: (N, 2s+1, 2s+1, C, h, w) views; pick one offset per image, no copy before this
    return np.ascontiguousarray(windows[np.arange(len(x)), dy, dx].transpose(0, 2, 3, 1))


def augment_batch(x, rng, max_shift=4):
    """Random horizontal flips and translations (zero padding) of NHWC images."""
    return apply_augment(x, *augment_draws(rng, len(x), max_shift), max_shift)


def _batches(x, y, batch_size):
    """In-order batches of arrays as a ``tf.data`` pipeline without a map: the same
    batches ``fit(x, y, shuffle=False)`` makes (bit-identical training, tested), without
    the parallel map whose rewrite under op determinism makes TensorFlow log a
    "NodeDef mentions attribute use_unbounded_threadpool" error line every epoch."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


class _Batches(keras.utils.PyDataset):
    """A PyDataset of batches built on demand from ``self.data``, which :func:`_consume`
    drops when ``fit`` or ``evaluate`` is done with it. Keras feeds a PyDataset to
    TensorFlow as a ``tf.data`` generator, and TensorFlow's generator registry keeps the
    adapter, and so the dataset, referenced after the call returns: each D trained on
    rows kept its training and validation inputs, and resident memory grew by about
    0.4 GB per detector at the full CIFAR-10 preset (measured; README, "The full
    preset")."""

    def __init__(self, data, order, batch_size):
        super().__init__()
        self.data, self.order, self.batch_size = data, order, batch_size

    def __len__(self):
        return -(-len(self.order) // self.batch_size)

    def release(self):
        self.data = None


def _consume(call, batches, **kwargs):
    """``call(batches, **kwargs)`` (``model.fit`` or ``model.evaluate``), then drop the
    batches' data (:class:`_Batches`) whether or not the call succeeded."""
    try:
        return call(batches, **kwargs)
    finally:
        if isinstance(batches, _Batches):
            batches.release()


class _AugmentedBatches(_Batches):
    """Batches of ``x[order]`` augmented one batch at a time with an epoch's draws (the
    same images as augmenting the whole permuted set at once, without its copies: four
    float32 copies of CIFAR-10's training set peaked F's training at 6.45 GB)."""

    def __init__(self, x, y, order, draws, batch_size):
        super().__init__((x, y, draws), order, batch_size)

    def __getitem__(self, i):
        x, y, draws = self.data
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = self.order[part]
        return apply_augment(x[idx], *(d[part] for d in draws)), y[idx]


class _RowBatches(_Batches):
    """Batches ``rows.take(order[i * b:(i + 1) * b])`` of a row source, in order."""

    def __init__(self, rows, y, order, batch_size):
        super().__init__((rows, y), order, batch_size)

    def __getitem__(self, i):
        rows, y = self.data
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        return rows.take(idx), y[idx]


def _evaluate(model, x, y, loss, metric):
    """(loss, metric) of ``model`` on ``x, y`` (arrays, or rows built batch by batch:
    :class:`advsal.detector_inputs.FeatureRows`). On one device ``model.evaluate``; under a
    strategy with several replicas from logits computed with the batches split across
    them (Keras 3.15's ``evaluate`` fails there when a batch splits unevenly)."""
    import tensorflow as tf

    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        # the same batches of 1024 from arrays or from rows built batch by batch
        batches = (_batches(x, y, 1024) if isinstance(x, np.ndarray)
                   else _RowBatches(x, y, np.arange(len(x)), 1024))
        out = _consume(model.evaluate, batches, verbose=0, return_dict=True)
        return float(out["loss"]), float(out[metric.name])
    from .batches import map_batches

    logits = map_batches(lambda b: model(b, training=False), x, 1024)
    fresh = metric.__class__.from_config(metric.get_config())
    fresh.update_state(y, logits)
    return float(loss(y, logits)), float(fresh.result())


# Keras traces a training step before the first batch: about 1.2 s for MNIST's D on a
# 2-core CPU, more than a few hundred images take to train eagerly (one batch of 128: 0.4
# s eagerly against 1.5 s traced; 10 batches: 3.3 s against 4.1 s; 40: 20.5 s against 8.8
# s; measured). A training that passes over at most this many images in all (training and
# held-out rows, every epoch) runs eagerly: the handful-size and test runs' detectors. F,
# validated on the whole test split every epoch, and every preset's real sizes are far
# above it.
EAGER_ROWS = 512


def runs_eagerly(n_rows, epochs, n_held=0):
    """Whether a training of ``epochs`` over ``n_rows``, with ``n_held`` held-out rows
    evaluated after each epoch, runs eagerly (see :data:`EAGER_ROWS`); never under a
    strategy with several replicas."""
    import tensorflow as tf

    return (tf.distribute.get_strategy().num_replicas_in_sync == 1
            and (n_rows + n_held) * epochs <= EAGER_ROWS)


def _fit(model, x, y, loss, metric, epochs, lr, batch_size, seed, augment, x_val, y_val,
         progress, select_on=None, desc="training", work_kind="F training"):
    """``select_on=(x, y)``: after training, restore the weights of the epoch with
    the lowest loss on that set (model selection on validation data). Each epoch's
    arithmetic is counted under ``work_kind`` (:mod:`advsal.work`)."""
    from . import work

    held = sum(len(h) for h in (x_val, None if select_on is None else select_on[0])
               if h is not None)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=[metric],
                  run_eagerly=runs_eagerly(len(x), epochs, held))
    rng = np.random.default_rng(seed)
    history = {"loss": [], "accuracy": [], "val_accuracy": [], "epoch_seconds": []}
    if select_on is not None:
        history["select_loss"] = []
        best = (np.inf, None)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(len(x))
        bar = EpochBar(desc, epoch, epochs, -(-len(x) // batch_size), enabled=progress)
        if isinstance(x, np.ndarray) and augment:
            h = _consume(model.fit, _AugmentedBatches(x, y, order, augment_draws(rng, len(x)),
                                                      batch_size),
                         epochs=1, shuffle=False, verbose=0, callbacks=[bar])
        elif isinstance(x, np.ndarray):
            h = model.fit(_batches(x[order], y[order], batch_size), epochs=1, shuffle=False,
                          verbose=0, callbacks=[bar])
        else:   # rows built batch by batch (advsal.detector_inputs.FeatureRows)
            if augment:
                raise ValueError("augment is only available for in-memory images")
            h = _consume(model.fit, _RowBatches(x, y, order, batch_size), epochs=1,
                         shuffle=False, verbose=0, callbacks=[bar])
        history["loss"].append(float(h.history["loss"][0]))
        history["accuracy"].append(float(h.history[metric.name][0]))
        history["epoch_seconds"].append(time.perf_counter() - t0)
        work.add(work_kind, model, len(x), work.TRAIN_STEP)
        for held in (x_val, None if select_on is None else select_on[0]):
            if held is not None:   # a pass over each held-out set
                work.add(work_kind, model, len(held), work.FORWARD)
        if x_val is not None:
            history["val_accuracy"].append(_evaluate(model, x_val, y_val, loss, metric)[1])
        if select_on is not None:
            v = _evaluate(model, *select_on, loss, metric)[0]
            history["select_loss"].append(v)
            if v < best[0]:
                best = (v, [w.copy() for w in model.get_weights()])
    if select_on is not None:
        model.set_weights(best[1])
        history["selected_epoch"] = int(np.argmin(history["select_loss"])) + 1
    return history


def train_classifier(model, x, y, epochs, lr, batch_size, seed=0, augment=False,
                     x_val=None, y_val=None, progress=False):
    """Train F in place; return its per-epoch history. ``progress``: a bar per epoch."""
    return _fit(model, x, y, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"), epochs, lr,
                batch_size, seed, augment, x_val, y_val, progress, desc="F")


def train_detector(model, x, labels, epochs, lr, batch_size, seed=0, progress=False,
                   x_val=None, labels_val=None):
    """Train D in place on detector inputs ``x`` and labels (1 = adversarial).

    With a validation set (``x_val``, ``labels_val``), the epoch with the lowest
    validation loss is kept (``history["selected_epoch"]``); without one, the last.
    """
    labels = np.asarray(labels, np.float32)
    select = None if x_val is None else (x_val, np.asarray(labels_val, np.float32))
    return _fit(model, x, labels, keras.losses.BinaryCrossentropy(from_logits=True),
                keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0), epochs, lr,
                batch_size, seed, False, None, None, progress, select_on=select, desc="D",
                work_kind="D training")


def accuracy(model, x, y, batch_size=1024):
    from .attacks import predict

    return float(np.mean(predict(model, x, batch_size).argmax(1) == y))
