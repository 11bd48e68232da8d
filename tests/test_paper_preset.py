"""The paper preset's code path, end to end at a handful of images.

The paper preset is a GPU job nobody runs here; its switches (targeted C&W with early
abort, 20 iterative steps, four Table III levels, the adaptive attack's restarts and
thresholds, VGG16-F from ImageNet weights at 224 px) are exercised with the data sizes,
epochs and step counts overridden, so that a first run on a GPU does not find the bugs.
The mirrored strategy's run of the paper preset is in test_devices."""
import json

import numpy as np
import pandas as pd
import pytest

from advsal.presets import resolve_params
from conftest import HANDFUL

pytestmark = pytest.mark.slow


def test_every_notebook_runs_the_paper_preset_at_a_handful_of_images(paper_run):
    from advsal.runner import notebooks

    rows, root = paper_run
    assert len(rows) == len(notebooks())
    fig = root / "figures"
    t2 = pd.read_csv(fig / "table2_mnist.csv", index_col=0)
    assert list(t2.index) == HANDFUL["attacks"]
    meta = json.loads((fig / "table2_mnist.meta.json").read_text())
    params = meta["params"]
    paper = resolve_params("mnist", "paper")
    for key in ("cw_binary_steps", "cw_lr", "cw_initial_const", "iter_steps", "d_lr",
                "eps_multipliers", "adaptive_thresholds", "adaptive_eps_multipliers"):
        assert params[key] == paper[key], key
    assert paper["cw_targeted"] and paper["cw_abort_early"]
    t3 = pd.read_csv(fig / "table3_mnist.csv", index_col=0)
    assert len(t3) == len(paper["eps_multipliers"])   # the paper's four levels
    adaptive = pd.read_csv(fig / "adaptive_mnist.csv")
    assert set(paper["adaptive_thresholds"]) <= set(adaptive["threshold"])


def test_vgg16_f_from_a_local_weights_file_through_the_study(tmp_path, data_dir):
    """Imagenette at the paper preset with F from (random) VGG16 weights given as a file:
    the paper's 224 px F is built from them; the study then runs at 112 px (the same
    network code, with a 2x2 instead of a 4x4 pool in front of the head, at a quarter of
    the cost), trained for an epoch on two images per class, attacked and scored."""
    import keras

    from advsal.networks import build_classifier
    from advsal.pipeline import Study

    keras.utils.set_random_seed(0)
    weights = tmp_path / "vgg16.weights.h5"
    keras.applications.VGG16(weights=None, include_top=False).save_weights(weights)
    f224 = build_classifier("imagenette", (224, 224, 3), init_weights=str(weights))
    assert f224.get_layer("head_pool").pool_size == (4, 4)
    assert f224.get_layer("fc1").input.shape[-1] == 7 * 7 * 256
    study = Study("imagenette", "paper", data_dir=data_dir, artefact_dir=tmp_path / "a",
                  progress=False, f_init_weights=str(weights), image_size=112,
                  limit_per_class=2, f_train_size=20, f_epochs=1, f_fc_units=32,
                  n_adv_train=8, n_val=4, n_adv_test=4, n_calib=4, d_epochs=1,
                  attacks=["fgsm"])
    f = study.classifier()
    assert f.input_shape == (None, 112, 112, 3) and f.get_layer("head_pool").pool_size == (2, 2)
    assert f.get_layer("imagenet_input") is not None
    assert study.f_key["init"]["file"] == weights.name
    rep = study.evaluate("fgsm")
    assert rep["n_clean"] == 4 and 0 <= rep["tnr"] <= 1
    assert np.isfinite(study.saliency("test")).all()
