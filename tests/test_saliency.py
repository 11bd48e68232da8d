import keras
import numpy as np
import pytest

from advsal.saliency import normalise, saliency


def _smooth_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Flatten()(inp)
    h = keras.layers.Dense(16, activation="tanh")(h)
    out = keras.layers.Dense(3)(h)
    return keras.Model(inp, out)


def test_saliency_matches_finite_differences():
    model = _smooth_model()
    x = np.random.default_rng(0).random((3, 6, 6, 1)).astype(np.float32)
    s = saliency(model, x, "none")
    assert s.shape == x.shape
    z = model(x).numpy()
    cls = z.argmax(1)
    h = 1e-2
    fd = np.zeros_like(x)
    for i in range(3):
        for j in np.ndindex(6, 6, 1):
            xp, xm = x[i:i + 1].copy(), x[i:i + 1].copy()
            xp[(0, *j)] += h
            xm[(0, *j)] -= h
            fd[(i, *j)] = (model(xp).numpy()[0, cls[i]] - model(xm).numpy()[0, cls[i]]) / (2 * h)
    np.testing.assert_allclose(s, fd, rtol=2e-2, atol=2e-4)


def test_batched_equals_per_image(trained_f, attack_batch):
    x, _ = attack_batch
    batched = saliency(trained_f, x[:16], "none", batch_size=8)
    single = np.concatenate([saliency(trained_f, x[i:i + 1], "none") for i in range(16)])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-6)


def test_normalisations():
    s = np.random.default_rng(0).normal(size=(4, 5, 5, 3)).astype(np.float32)
    m = normalise(s, "maxabs")
    assert np.allclose(np.abs(m).reshape(4, -1).max(1), 1.0)
    st = normalise(s, "std")
    assert np.allclose(st.reshape(4, -1).mean(1), 0, atol=1e-5)
    assert np.allclose(st.reshape(4, -1).std(1), 1, atol=1e-4)
    np.testing.assert_array_equal(normalise(s, "none"), s)
    with pytest.raises(ValueError, match=r"saliency_norm='l1'.*allowed"):
        normalise(s, "l1")
