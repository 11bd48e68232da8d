import numpy as np
import pytest

from advsal.networks import build_classifier, build_detector


@pytest.mark.parametrize("dataset,shape,flat", [("mnist", (28, 28, 1), 12544),
                                                 ("cifar10", (32, 32, 3), 16384)])
def test_small_networks_match_table1(dataset, shape, flat):
    f = build_classifier(dataset, shape)
    d = build_detector(dataset, shape[:2] + (2 * shape[2],))
    assert f.output_shape == (None, 10) and d.output_shape == (None, 1)
    assert d.input_shape == (None, *shape[:2], 2 * shape[2])
    for net in (f, d):
        assert net.get_layer("fc1").input.shape[-1] == flat
        convs = [layer for layer in net.layers if layer.__class__.__name__ == "Conv2D"]
        assert [c.filters for c in convs] == [32, 32, 64, 64]
    assert f.get_layer("fc1").units == (100 if dataset == "mnist" else 200)
    assert f(np.zeros((2, *shape), np.float32)).shape == (2, 10)


def test_vgg16_networks_at_paper_resolution():
    f = build_classifier("imagenet10", (224, 224, 3))
    d = build_detector("imagenet10", (224, 224, 6))
    assert f.output_shape == (None, 10) and d.output_shape == (None, 1)
    assert d.input_shape == (None, 224, 224, 6)
    assert [l.name for l in f.layers if "conv" in l.name][-1] == "block3_conv3"
    assert f.get_layer("fc1").units == 4096 and f.get_layer("fc2").units == 4096
    assert f.get_layer("fc1").input.shape[-1] == 7 * 7 * 256


def test_unknown_dataset_network():
    with pytest.raises(ValueError, match="allowed"):
        build_classifier("svhn", (32, 32, 3))


def test_smoke_training_beats_chance(mnist, trained_f):
    from conftest import accuracy

    assert accuracy(trained_f, mnist.x_test[:1000], mnist.y_test[:1000]) > 0.8


def test_augmentation_is_a_flip_and_shift_per_image():
    from advsal.training import augment_batch

    x = np.random.default_rng(0).random((20, 8, 8, 3)).astype(np.float32)
    out = augment_batch(x, np.random.default_rng(1), max_shift=2)
    r = np.random.default_rng(1)
    ref = x.copy()
    flip = r.random(20) < 0.5
    ref[flip] = ref[flip, :, ::-1]
    pad = np.pad(ref, ((0, 0), (2, 2), (2, 2), (0, 0)))
    dy, dx = r.integers(0, 5, size=(2, 20))
    expected = np.stack([pad[i, dy[i]:dy[i] + 8, dx[i]:dx[i] + 8] for i in range(20)])
    np.testing.assert_array_equal(out, expected)


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    """A randomly initialised keras.applications.VGG16 (no download), saved as weights."""
    import keras

    keras.utils.set_random_seed(3)
    net = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("vgg16") / "vgg16_notop.weights.h5"
    net.save_weights(path)
    return net, path


def test_vgg16_f_starts_from_the_weights_file_blocks_1_to_3(vgg16_file):
    import keras

    net, path = vgg16_file
    f = build_classifier("imagenette", (32, 32, 3), fc_units=16, init_weights=str(path))
    copied = [l.name for l in f.layers if l.name.startswith("block") and "conv" in l.name]
    assert copied == ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
                      "block3_conv1", "block3_conv2", "block3_conv3"]
    for name in copied:
        for got, want in zip(f.get_layer(name).get_weights(), net.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    # the same file as a saved Keras model gives the same F
    model_path = path.with_name("vgg16.keras")
    net.save(model_path)
    g = build_classifier("imagenette", (32, 32, 3), fc_units=16, init_weights=str(model_path))
    np.testing.assert_array_equal(g.get_layer("block3_conv3").get_weights()[0],
                                  net.get_layer("block3_conv3").get_weights()[0])
    # F's block 3 sees what VGG16 sees on keras' own preprocessing of the 0-255 image
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    ours = keras.Model(f.input, f.get_layer("block3_conv3").output)(x)
    theirs = keras.Model(net.input, net.get_layer("block3_conv3").output)(
        keras.applications.vgg16.preprocess_input(255.0 * x))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-3)
    # a random F differs, and the ImageNet input layer survives a save and load
    h = build_classifier("imagenette", (32, 32, 3), fc_units=16)
    assert "imagenet_input" not in [l.name for l in h.layers]
    saved = path.with_name("f.keras")
    f.save(saved)
    back = keras.models.load_model(saved, compile=False)
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(f(x)), rtol=1e-5, atol=1e-5)


def test_vgg16_weights_errors_name_the_parameter(tmp_path, vgg16_file):
    from advsal.networks import copy_vgg16_weights, init_weights_key

    with pytest.raises(ValueError, match="f_init_weights.*VGG16 network"):
        build_classifier("mnist", (28, 28, 1), init_weights="imagenet")
    with pytest.raises(ValueError, match="f_init_weights.*existing file"):
        build_classifier("imagenette", (32, 32, 3), init_weights=str(tmp_path / "none.h5"))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="f_init_weights.*not VGG16 weights"):
        build_classifier("imagenette", (32, 32, 3), init_weights=str(bad))
    small = build_classifier("cifar10", (32, 32, 3))
    with pytest.raises(ValueError, match="no VGG16 block"):
        copy_vgg16_weights(small, vgg16_file[0])
    # the cache key follows the file's content, not only its name
    _, path = vgg16_file
    key = init_weights_key(str(path))
    assert key["file"] == path.name and len(key["sha256"]) == 16
    assert init_weights_key("imagenet") == "imagenet"
