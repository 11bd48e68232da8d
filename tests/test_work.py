"""The arithmetic a run counts (advsal.work), on which the study's floor rests."""
import numpy as np
import pytest

from advsal import work


@pytest.fixture(autouse=True)
def fresh_counts():
    work.reset()
    yield
    work.reset()


def _tiny_net(n_out=3):
    import keras

    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Dense(n_out)(keras.layers.Flatten()(h))
    return keras.Model(inp, out)


def test_forward_flops_counts_multiply_adds_by_hand():
    import keras

    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same")(inp)
    out = keras.layers.Dense(5)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    assert work.forward_flops(model) == 2 * 8 * 8 * 4 * 3 * 3 * 3 + 2 * 8 * 8 * 4 * 5
    outer = keras.Model(inp, keras.layers.Dense(2)(model(inp)))   # a nested model counts
    assert work.forward_flops(outer) == work.forward_flops(model) + 2 * 5 * 2


def test_mnist_net_forward_is_about_39_mflop():
    from advsal.networks import build_classifier

    assert work.forward_flops(build_classifier("mnist", (28, 28, 1))) == \
        pytest.approx(39.1e6, rel=0.01)


def test_counts_add_up_by_kind_and_print_in_tflop():
    net = _tiny_net()
    flops = work.forward_flops(net)
    work.add("attacks", net, 10, work.INPUT_GRADIENT)
    work.add("attacks", net, 5, 1)
    work.add("inference", net, 4, work.FORWARD)
    assert work.totals() == {"attacks": 25 * flops, "inference": 4 * flops}
    line = work.summary()
    assert line.startswith("work done: ") and "attacks" in line and "inference" in line
    assert work.parse_tflop("x\n" + line + "\nwork done: 1e-20 TFLOP") == \
        pytest.approx(29 * flops / 1e12, rel=1e-3)
    assert np.isnan(work.parse_tflop("nothing counted here"))
    with pytest.raises(ValueError, match="allowed"):
        work.add("lunch", net, 1, 1)


def test_training_counts_epochs_and_held_out_passes():
    from advsal.training import train_classifier, train_detector

    net = _tiny_net()
    flops = work.forward_flops(net)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 8, 8, 1), np.float32), rng.integers(0, 3, 40)
    train_classifier(net, x, y, epochs=2, lr=1e-3, batch_size=16, x_val=x[:10], y_val=y[:10])
    assert work.totals()["F training"] == (2 * 40 * 3 + 2 * 10) * flops
    d = _tiny_net(1)
    train_detector(d, x, y % 2, epochs=3, lr=1e-3, batch_size=16, x_val=x[:8],
                   labels_val=y[:8] % 2)
    assert work.totals()["D training"] == (3 * 40 * 3 + 3 * 8) * work.forward_flops(d)


def test_attacks_count_declared_or_run_iterations():
    from advsal.attacks import attack_spec, craft, jsma_pool
    from advsal.attacks.cw_l2 import cw_l2
    from advsal.saliency import saliency

    net = _tiny_net()
    flops = work.forward_flops(net)
    x = np.random.default_rng(1).random((6, 8, 8, 1), np.float32)
    params = {"iter_steps": 4, "attack_batch_size": 4}
    craft(net, "iter_linf", x, 0.1, params, progress=False)
    assert attack_spec("iter_linf").work(params, 0.1, 64, 3) == 1 + 2 * 4
    craft(net, "fgsm", x, 0.1, params, progress=False)
    # declared: per image, not per padded batch
    assert work.totals()["attacks"] == 6 * (9 + 2) * flops
    work.reset()
    saliency(net, x)
    assert work.totals() == {"saliency": 6 * 2 * flops}
    # the attacks that stop per image count what ran: at most their declared bound
    work.reset()
    cw = {"cw_steps": 20, "cw_binary_steps": 2, "cw_grid": False}
    cw_l2(net, x, np.zeros(6, int), steps=20, binary_steps=2, abort_early=False)
    assert work.totals()["attacks"] == 2 * 20 * 2 * 6 * flops
    assert attack_spec("cw_l2").work(cw, None, 64, 3) == 1 + 2 * 20 * 2
    work.reset()
    cw_l2(net, x, np.zeros(6, int), steps=20, binary_steps=2, abort_early=True)
    assert 0 < work.totals()["attacks"] <= 2 * 20 * 2 * 6 * flops
    work.reset()
    gamma, chunk = 0.1, 2
    bound = attack_spec("jsma").work({"jsma_pairs": True}, gamma, 64, 3)
    assert bound == 1 + 3 * int(gamma * 64 / 2)
    jsma_pool(net, x, np.ones(6, int), gamma, slots=3, chunk=chunk)
    # the pool's slots run whole chunks: up to chunk - 1 idle iterations per image
    assert 0 < work.totals()["attacks"] <= 6 * (bound + 3 * chunk) * flops


def test_counting_keeps_no_model_alive():
    """A detector released after training (a learning curve trains many) must be freed:
    the FLOP count holds its model only by weak reference."""
    import gc
    import weakref

    net = _tiny_net()
    work.add("D training", net, 1, work.TRAIN_STEP)
    ref = weakref.ref(net)
    del net
    gc.collect()
    assert ref() is None
