"""A healthy run is quiet: no TensorFlow C++ log lines in a fresh kernel's training
cell, and the fix for the per-epoch NodeDef line leaves training bit-identical."""
import os
import re
import sys

import numpy as np

TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|NodeDef mentions|cuInit", re.M)

_CELL = """
import numpy as np
import advsal
from advsal.networks import build_classifier
from advsal.reproducibility import seed_everything
from advsal.training import train_classifier
seed_everything(0)
rng = np.random.default_rng(0)
x, y = rng.random((320, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 320)  # traced
model = build_classifier("mnist", (28, 28, 1), fc_units=32)
h = train_classifier(model, x, y, 2, 1e-3, 64, x_val=x[:128], y_val=y[:128])
print("trained", len(h["loss"]))
"""


def test_fresh_kernel_training_cell_prints_no_tensorflow_log_lines():
    from jupyter_client.manager import start_new_kernel

    # as a plain `jupyter lab` kernel: no log-level variable, and no PYTEST_CURRENT_TEST
    # (with it, ipykernel stops forwarding file descriptor 2 to the notebook)
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        out = []
        reply = kc.execute_interactive(
            _CELL, timeout=300,
            output_hook=lambda msg: out.append(msg["content"].get("text", ""))
            if msg["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    text = "".join(out)
    assert "trained 2" in text
    assert not TF_LOG_LINE.search(text), text


def test_only_known_harmless_startup_lines_are_dropped():
    from advsal.quiet_tf import harmless

    assert harmless("I0000 00:00:17 1 port.cc:153] oneDNN custom operations are on. You may")
    assert harmless("E0000 00:00:17 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL")
    assert harmless("WARNING: All log messages before absl::InitializeLog() is called are")
    assert not harmless("E0000 00:00:17 1 some_kernel.cc:12] Out of memory while allocating")
    assert not harmless("Traceback (most recent call last):")


def test_tf_data_batches_train_exactly_like_arrays():
    import keras

    from advsal.networks import build_classifier
    from advsal.reproducibility import seed_everything
    from advsal.training import _batches

    rng = np.random.default_rng(0)
    x = rng.random((300, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 300).astype("int32")

    def weights(data):
        seed_everything(0)
        m = build_classifier("mnist", (28, 28, 1), fc_units=32)
        m.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(*data, epochs=1, shuffle=False, verbose=0,
              **({"batch_size": 64} if len(data) == 2 else {}))
        return m.get_weights()

    for a, b in zip(weights((x, y)), weights((_batches(x, y, 64),))):
        np.testing.assert_array_equal(a, b)
    assert sys.modules.get("tensorflow") is not None


def test_augmented_batches_train_exactly_like_the_augmented_epoch():
    """F's augmented epochs are built a batch at a time (training._AugmentedBatches): the
    same weights as augmenting the whole permuted set first and batching it."""
    import keras

    from advsal.networks import build_classifier
    from advsal.reproducibility import seed_everything
    from advsal.training import _AugmentedBatches, _batches, augment_batch, augment_draws

    rng = np.random.default_rng(0)
    x = rng.random((300, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 10, 300).astype("int32")
    order = rng.permutation(300)

    def weights(data):
        seed_everything(0)
        m = build_classifier("cifar10", (16, 16, 3), fc_units=32)
        m.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(data, epochs=1, shuffle=False, verbose=0)
        return m.get_weights()

    whole = _batches(augment_batch(x[order], np.random.default_rng(5)), y[order], 64)
    lazy = _AugmentedBatches(x, y, order, augment_draws(np.random.default_rng(5), 300), 64)
    for a, b in zip(weights(whole), weights(lazy)):
        np.testing.assert_array_equal(a, b)


def test_a_short_training_runs_eagerly_to_the_traced_ones_weights(monkeypatch):
    """A training of at most EAGER_ROWS image-epochs skips Keras' tracing; eagerly or
    traced, D comes out the same up to float rounding."""
    from advsal import training
    from advsal.networks import small_convnet
    from advsal.reproducibility import seed_everything

    assert training.runs_eagerly(256, 2) and not training.runs_eagerly(257, 2)
    assert not training.runs_eagerly(100, 1, n_held=10000)   # F, validated on a test split
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 2), dtype=np.float32)
    labels = np.r_[np.zeros(48), np.ones(48)]

    def weights(eager_rows):
        monkeypatch.setattr(training, "EAGER_ROWS", eager_rows)
        seed_everything(0)
        model = small_convnet((8, 8, 2), 1, 8, "D")
        calls = []
        real = model.compile
        monkeypatch.setattr(model, "compile", lambda **kw: calls.append(kw) or real(**kw))
        training.train_detector(model, x, labels, 2, 1e-3, 32)
        assert calls[0]["run_eagerly"] == (eager_rows > 0)
        return model.get_weights()

    for a, b in zip(weights(training.EAGER_ROWS), weights(0)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # held-out rows count: 96 training images validated on 600 others stay traced
    monkeypatch.setattr(training, "EAGER_ROWS", 512)
    f = small_convnet((8, 8, 2), 10, 8, "F")
    calls, real = [], f.compile
    monkeypatch.setattr(f, "compile", lambda **kw: calls.append(kw) or real(**kw))
    xv = rng.random((600, 8, 8, 2), dtype=np.float32)
    training.train_classifier(f, x, np.arange(96) % 10, 1, 1e-3, 32, x_val=xv,
                              y_val=np.arange(600) % 10)
    assert calls[0]["run_eagerly"] is False


def test_training_on_rows_lets_go_of_them(monkeypatch):
    """Keras hands a PyDataset to TensorFlow as a tf.data generator that TensorFlow's
    registry keeps referenced after fit/evaluate return; D's training and validation
    rows must not stay alive with it (each D kept about 0.4 GB at the full CIFAR-10
    preset before training._consume released them)."""
    import gc
    import weakref

    from advsal.networks import small_convnet
    from advsal.training import train_detector

    class Rows:   # a row source as D's training reads it (advsal.detector_inputs.FeatureRows)
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def take(self, idx):
            return self.x[idx]

    from advsal import training

    monkeypatch.setattr(training, "EAGER_ROWS", 0)   # the traced path of real sizes
    rng = np.random.default_rng(0)
    train = Rows(rng.random((96, 8, 8, 2), dtype=np.float32))
    val = Rows(rng.random((40, 8, 8, 2), dtype=np.float32))
    refs = [weakref.ref(train), weakref.ref(val)]
    model = small_convnet((8, 8, 2), 1, 8, "D")
    hist = train_detector(model, train, np.r_[np.zeros(48), np.ones(48)], 2, 1e-3, 32,
                          x_val=val, labels_val=np.r_[np.zeros(20), np.ones(20)])
    assert len(hist["select_loss"]) == 2
    del train, val
    gc.collect()
    assert [r() for r in refs] == [None, None]
