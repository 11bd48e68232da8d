"""The peer detectors (LID, Mahalanobis, KD) separate what they should, fail at chance
where nothing differs, score each image on its own, and fit the study's protocol."""
import numpy as np
import pytest

from advsal.metrics import auc_interval, roc_auc
from advsal.peer_detectors import fit_peer, peer_names

CANDIDATES = {"lid": [5, 10], "mahalanobis": [0.0, 0.002], "kd": [0.3, 1.0]}


@pytest.fixture(scope="module")
def tiny_f():
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


def _images(rng, n, centre):
    return np.clip(rng.normal(centre, 0.08, (n, 6, 6, 1)), 0, 1).astype(np.float32)


def _fit(name, f, adv_centre, seed=0):
    rng = np.random.default_rng(seed)
    ref, y_ref = _images(rng, 300, 0.3), rng.integers(0, 3, 300)
    train = (_images(rng, 200, 0.3), _images(rng, 200, adv_centre))
    val = (_images(rng, 100, 0.3), _images(rng, 100, adv_centre))
    test = (_images(rng, 200, 0.3), _images(rng, 200, adv_centre))
    peer = fit_peer(name, f, ref[:60] if name == "lid" else ref, y_ref[:60] if name == "lid"
                    else y_ref, train, val, CANDIDATES[name], batch_size=64)
    sc, sa = peer.score(test[0]), peer.score(test[1])
    return peer, test, roc_auc(np.r_[np.zeros(len(sc)), np.ones(len(sa))], np.r_[sc, sa])


@pytest.mark.parametrize("name", peer_names())
def test_peer_separates_shifted_activations(tiny_f, name):
    peer, _, auc = _fit(name, tiny_f, adv_centre=0.7)
    assert auc > 0.95, f"{name}: AUC {auc:.3f} on well-separated inputs"
    assert peer.hyper in CANDIDATES[name] and set(peer.val_auc) == set(CANDIDATES[name])


@pytest.mark.parametrize("name", peer_names())
def test_peer_is_at_chance_on_identical_distributions(tiny_f, name):
    _, _, auc = _fit(name, tiny_f, adv_centre=0.3)
    lo, hi = auc_interval(0.5, 200, 200)
    assert lo < auc < hi, f"{name}: AUC {auc:.3f} where clean and 'adversarial' are alike"


@pytest.mark.parametrize("name", peer_names())
def test_peer_scores_each_image_on_its_own(tiny_f, name):
    """No leak through batch composition: shuffling (and splitting) the test images
    permutes their scores, clean and adversarial scored together or apart."""
    peer, (xc, xa), _ = _fit(name, tiny_f, adv_centre=0.7)
    together = peer.score(np.concatenate([xc, xa]))
    order = np.random.default_rng(1).permutation(len(together))
    shuffled = peer.score(np.concatenate([xc, xa])[order])
    np.testing.assert_allclose(shuffled, together[order], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.r_[peer.score(xc), peer.score(xa)], together, rtol=1e-4,
                               atol=1e-4)


def test_lid_needs_more_reference_images_than_neighbours(tiny_f):
    x = np.zeros((10, 6, 6, 1), np.float32)
    with pytest.raises(ValueError, match="peer_n_ref"):
        fit_peer("lid", tiny_f, x, np.zeros(10), (x, x), (x, x), [20])


def test_layer_outputs_keep_only_the_layers_asked_for(tiny_f):
    """KD and Mahalanobis hold the fit set's outputs of the layers they use only (KD's
    every-layer copy was 0.70 GB at CIFAR-10's full preset); the kept ones are unchanged."""
    from advsal.peer_detectors import _activation_model, _flat, _layer_outputs

    model = _activation_model(tiny_f)
    x = _images(np.random.default_rng(1), 70, 0.3)
    every = _layer_outputs(model, x, _flat, 32)
    kept = _layer_outputs(model, x, _flat, 32, layers=[2, 0])
    assert len(every) == 3 and len(kept) == 2
    np.testing.assert_array_equal(kept[0], every[2])
    np.testing.assert_array_equal(kept[1], every[0])


def test_unknown_peer_names_the_allowed_ones(tiny_f):
    with pytest.raises(ValueError, match="'nss'.*lid.*mahalanobis.*kd"):
        fit_peer("nss", tiny_f, None, None, None, None, [1])


def test_auc_interval_covers_the_true_auc():
    """Two normal score distributions one standard deviation apart have AUC
    Phi(1 / sqrt 2) = 0.7602; the 95 % interval covers it in about 95 % of draws."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        neg, pos = rng.normal(0, 1, 100), rng.normal(1, 1, 100)
        auc = roc_auc(np.r_[np.zeros(100), np.ones(100)], np.r_[neg, pos])
        lo, hi = auc_interval(auc, 100, 100)
        covered += lo <= 0.76025 <= hi
    assert 0.91 <= covered / 400 <= 0.99
    assert auc_interval(1.0, 50, 50) == (1.0, 1.0)


@pytest.mark.parametrize("name", peer_names())
def test_peer_rebuilt_from_its_parameters_scores_the_same(tiny_f, name):
    """What the cache keeps (candidate and linear parameters) rebuilds the same detector,
    and its differentiable logit (the adaptive attack's) equals its score."""
    import tensorflow as tf

    from advsal.peer_detectors import rebuild_peer

    peer, (xc, xa), _ = _fit(name, tiny_f, adv_centre=0.7)
    rng = np.random.default_rng(0)      # the reference _fit used
    ref, y_ref = _images(rng, 300, 0.3), rng.integers(0, 3, 300)
    n = 60 if name == "lid" else 300
    again = rebuild_peer(name, tiny_f, ref[:n], y_ref[:n], peer.hyper, peer.linear(), 64)
    x = np.concatenate([xc, xa])
    np.testing.assert_allclose(again.score(x), peer.score(x), rtol=1e-4, atol=1e-4)
    xt = tf.constant(x[:16])
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logit = again.logit_tf(xt)
        total = tf.reduce_sum(logit)
    np.testing.assert_allclose(logit.numpy(), peer.score(x[:16]), rtol=1e-4, atol=1e-4)
    grad = tape.gradient(total, xt).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


@pytest.mark.parametrize("name", peer_names())
def test_peer_fitted_on_rows_equals_the_one_fitted_on_arrays(tiny_f, name):
    """The study fits peers on images decoded batch by batch (Study.image_rows, 8-bit
    codes): the same images as arrays give the same fit."""
    from advsal.detector_inputs import FeatureRows
    from advsal.shards import from_grid8, to_grid8

    rng = np.random.default_rng(1)
    ref, y_ref = _images(rng, 300, 0.3), rng.integers(0, 3, 300)
    ref, y_ref = (ref[:60], y_ref[:60]) if name == "lid" else (ref, y_ref)
    codes = [to_grid8(np.round(_images(rng, n, c) * 255) / 255) for n, c in ((120, 0.3), (120, 0.7), (60, 0.3),
                                                       (60, 0.7))]
    arrays = [from_grid8(c) for c in codes]
    rows = [FeatureRows("image", tiny_f, [(c[:50], None), (c[50:], None)]) for c in codes]
    a = fit_peer(name, tiny_f, ref, y_ref, arrays[:2], arrays[2:], CANDIDATES[name], 64)
    b = fit_peer(name, tiny_f, ref, y_ref, rows[:2], rows[2:], CANDIDATES[name], 64)
    assert a.hyper == b.hyper and a.val_auc == b.val_auc
    for k, v in a.linear().items():
        np.testing.assert_array_equal(b.linear()[k], v)
    np.testing.assert_array_equal(b.score(rows[2]), a.score(arrays[2]))   # scored as rows


def test_strongest_peer_skips_peers_with_nothing_to_fit(monkeypatch):
    """An attack that fooled F on no training image leaves a peer unfitted: the strongest
    peer is chosen among the others, None when none could be fitted (notebook 08 then
    attacks no peer; Imagenette's smoke study met this)."""
    import numpy as np

    from advsal import peer_study
    from advsal.peer_detectors import NothingToFit

    class Stub:
        params = {"peer_detectors": ["lid", "mahalanobis", "kd"]}

    fitted = {"mahalanobis": 0.7, "kd": 0.9}

    def scores(study, name, attack):
        if name not in fitted:
            raise NothingToFit(f"{name}: no adversarial images to fit on")
        return {"val_auc": np.array([0.5, fitted[name]]), "chosen": np.array(1)}

    monkeypatch.setattr(peer_study, "peer_scores", scores)
    assert peer_study.strongest_peer(Stub(), "fgsm") == "kd"
    fitted.clear()
    assert peer_study.strongest_peer(Stub(), "fgsm") is None
