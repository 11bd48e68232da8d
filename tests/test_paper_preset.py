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
from advsal.runner import notebooks
from conftest import HANDFUL
from notebook_checks import (check_products_and_timings, check_table2, paper_params,
                             rederive_table2)

pytestmark = pytest.mark.slow


def test_every_notebook_runs_the_paper_preset_at_a_handful_of_images(paper_run):
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


def test_table2_at_the_paper_preset(paper_run):
    check_table2(paper_run[1] / "figures", "mnist", paper_params())


def test_every_notebook_product_exists_at_the_paper_preset(paper_run):
    _, root = paper_run
    check_products_and_timings("mnist", "paper", root, [p.stem[:2] for p in notebooks()])


def test_generalisation_tables_have_their_shape(paper_run):
    """Table III (05) and Fig. 2 (06) on MNIST at the paper preset: four budget levels
    per Table III attack, one row and column per attack. A cell is empty (NaN) where no
    adversarial image of the handful fooled F (its TPR is undefined); every defined cell
    is a rate."""
    from advsal.attacks import attack_spec

    fig = paper_run[1] / "figures"
    params = paper_params()
    levels = len(params["eps_multipliers"])
    n_t3 = sum(attack_spec(a).table3 for a in params["attacks"])
    t3 = pd.read_csv(fig / "table3_mnist.csv", index_col=0)
    acc = t3[[c for c in t3.columns if " test " in c]]
    assert levels == 4 and acc.shape == (levels, n_t3 * levels)
    assert acc.stack().dropna().between(0, 1).all() and acc.notna().any().any()
    n = len(params["attacks"])
    f2 = pd.read_csv(fig / "fig2_mnist.csv", index_col=0)
    assert f2.shape == (n, n) and f2.stack().dropna().between(0, 1).all()


def test_table2_rederived_from_artefacts_at_the_paper_preset(paper_run, data_dir):
    from advsal.pipeline import Study

    root = paper_run[1]
    rederive_table2(Study("mnist", "paper", data_dir=data_dir, artefact_dir=root / "artefacts",
                           progress=False, **HANDFUL), root / "figures")


def test_beyond_the_paper_tables(paper_run):
    """Notebooks 07 and 08 on MNIST at the paper preset: baselines, peers, adaptive attack."""
    root = paper_run[1]
    base = pd.read_csv(root / "figures" / "baselines_mnist.csv")
    p = paper_params()
    assert list(dict.fromkeys(base["attack"])) == p["baseline_attacks"]
    assert len(base) == len(p["baseline_attacks"]) * len(p["baseline_features"])
    # each input at every learning rate of d_lr_candidates, one kept per attack and input
    by_rate = pd.read_csv(root / "figures" / "baselines_lr_mnist.csv")
    assert len(by_rate) == len(base) * len(p["d_lr_candidates"])
    kept = by_rate[by_rate["chosen"]]
    assert len(kept) == len(base)
    lowest = by_rate.groupby(["attack", "detector"])["val loss"].min()
    assert (kept.set_index(["attack", "detector"])["val loss"].sort_index()
            == lowest.sort_index()).all()
    # one row per attack and detector: D, the baselines trained for it, every peer
    det = pd.read_csv(root / "figures" / "detectors_mnist.csv")
    assert list(dict.fromkeys(det["attack"])) == p["peer_attacks"]
    peers = det[det["kind"] == "peer"]
    assert sorted(peers["detector"]) == sorted(p["peer_detectors"] * len(p["peer_attacks"]))
    # a handful of images: an attack that fooled F on none leaves its peers unfitted (a
    # row without AUC); every fitted peer has its AUC and chosen hyperparameter
    fitted = peers[peers["AUC"].notna()]
    assert len(fitted) and det["AUC"].dropna().between(0, 1).all()
    assert fitted["hyperparameter"].notna().all()
    assert (root / "figures" / "detectors_mnist.png").exists()
    adaptive = pd.read_csv(root / "figures" / "adaptive_mnist.csv")
    rates = adaptive.dropna(subset=["rate"])
    assert len(rates) and rates[["rate", "ci_low", "ci_high"]].stack().between(0, 1).all()
    assert (rates["ci_low"] <= rates["rate"]).all() and (rates["rate"] <= rates["ci_high"]).all()
    assert (root / "figures" / "adaptive_mnist.png").exists()
    # the strongest peer under the same attacker, at every budget and attacked threshold
    ap = pd.read_csv(root / "figures" / "adaptive_peer_mnist.csv")
    assert ap["rate"].dropna().between(0, 1).all()
    assert set(ap["threshold"]) == set(p["adaptive_thresholds"])
    assert ap["attack"].str.contains(r"\(adaptive\)").any()


def test_a_run_with_default_folders_changes_no_tracked_file(paper_run, data_dir, monkeypatch):
    """Issue 18 point 1: an interactive run (default figures folder) never overwrites the
    committed results: notebook 01 (its F read from paper_run's cache) leaves every tracked
    file as it was."""
    import subprocess

    from advsal.paths import repo_root
    from advsal.runner import run_study

    root = paper_run[1]
    repo = repo_root()
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")

    def tracked_state():
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                              capture_output=True, text=True, check=True).stdout

    monkeypatch.delenv("ADVSAL_FIGURES_DIR", raising=False)
    before = tracked_state()
    run_study(["mnist"], "paper", output=root / "runs-default", data_dir=data_dir,
              artefact_dir=root / "artefacts", only=["01"], overrides=HANDFUL)
    assert tracked_state() == before
    assert (repo / "runs" / "figures" / "f_accuracy_mnist.csv").exists()


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


def test_the_paper_run_is_used_in_this_file_only():
    """`make test` gives each file to one worker (--dist loadfile): a test of another file
    using the paper-preset run would make a second worker compute it again (4-5 minutes)."""
    import re
    from pathlib import Path

    here = Path(__file__).resolve()
    users = [p.name for p in here.parent.glob("test_*.py")
             if p != here and re.search(r"def test_\w+\([^)]*\bpaper_run\b", p.read_text())]
    assert users == [], users
    assert "--dist loadfile" in (here.parents[1] / "Makefile").read_text()
