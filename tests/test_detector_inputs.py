"""Each detector input's NumPy path (D's data) and TensorFlow path (what the
adaptive attacker differentiates) agree."""
import numpy as np
import pytest

from advsal.adaptive import detector_features
from advsal.detector_inputs import KINDS, features_np, features_tf, input_kind
from advsal.presets import DETECTOR_FEATURES
from advsal.saliency import saliency


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_and_tensorflow_paths_agree(kind, trained_f, attack_batch):
    x = attack_batch[0][:8]
    s = saliency(trained_f, x, "maxabs") if input_kind(kind).uses_saliency else None
    a = features_np(kind, trained_f, x, s)
    # the attacker's path computes the saliency itself, differentiably (real ReLU here)
    b = detector_features(trained_f, x, kind, "maxabs").numpy()
    assert a.shape == b.shape and a.shape[0] == len(x)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(features_tf(kind, trained_f, x, s).numpy(), a, atol=1e-6)


def test_inputs_declared_once():
    assert DETECTOR_FEATURES == tuple(KINDS)
    x, s = np.zeros((2, 4, 4, 3), np.float32), np.ones((2, 4, 4, 3), np.float32)
    d = features_np("image+saliency", None, x, s)
    assert d.shape == (2, 4, 4, 6) and d[..., 3:].min() == 1 and d[..., :3].max() == 0
    with pytest.raises(ValueError, match="needs the .normalised. saliency"):
        features_np("saliency", None, x)
    with pytest.raises(ValueError, match=r"detector_features='pixels'.*allowed"):
        input_kind("pixels")


@pytest.mark.parametrize("kind", list(KINDS))
def test_feature_rows_are_the_features_built_a_batch_at_a_time(kind, trained_f, attack_batch,
                                                               monkeypatch):
    """D is scored on FeatureRows: its slices are the NumPy features of those rows, and
    scoring a split through them never builds more rows than a batch (F's first-layer
    maps of 9000 CIFAR-10 test images would be 1.2 GB at once)."""
    from advsal import detector_inputs
    from advsal.batches import map_batches
    from advsal.detector_inputs import FeatureRows

    x = attack_batch[0][:20]
    s = saliency(trained_f, x, "maxabs") if input_kind(kind).uses_saliency else None
    whole = features_np(kind, trained_f, x, s)
    rows = FeatureRows(kind, trained_f, [(x[:12], None if s is None else s[:12]),
                                         (x[12:], None if s is None else s[12:])])
    assert len(rows) == 20 and rows.shape == whole.shape
    np.testing.assert_allclose(rows[7:15], whole[7:15], atol=1e-6)   # across the two parts
    built, real = [], detector_inputs.features_np
    monkeypatch.setattr(detector_inputs, "features_np",
                        lambda k, f, xs, ss=None: built.append(len(xs)) or real(k, f, xs, ss))
    out = map_batches(lambda b: b.reshape(len(b), -1).sum(1), rows, 8)
    np.testing.assert_allclose(out, whole.reshape(20, -1).sum(1), rtol=1e-5)
    assert max(built) <= 8
    with pytest.raises(TypeError, match="slice"):
        rows[3]


def test_validation_loss_from_rows_equals_the_loss_from_arrays(trained_f, attack_batch):
    """D's epoch is chosen on the validation loss, now computed from FeatureRows: the same
    batches as from the whole array, so the same loss and the same chosen epoch."""
    import keras

    from advsal.detector_inputs import FeatureRows
    from advsal.networks import build_detector
    from advsal.training import _evaluate

    x = attack_batch[0][:40]
    s = saliency(trained_f, x, "maxabs")
    y = np.r_[np.zeros(20), np.ones(20)].astype(np.float32)
    d = build_detector("mnist", (28, 28, 2), fc_units=16)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    metric = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)
    d.compile(loss=loss, metrics=[metric])
    dense = _evaluate(d, features_np("image+saliency", trained_f, x, s), y, loss, metric)
    rows = FeatureRows("image+saliency", trained_f, [(x[:20], s[:20]), (x[20:], s[20:])])
    assert _evaluate(d, rows, y, loss, metric) == dense
