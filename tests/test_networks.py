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
