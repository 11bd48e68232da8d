import pytest

from advsal.presets import PRESETS, resolve_params


def test_presets_resolve_for_each_dataset():
    for preset in PRESETS:
        for ds in ("mnist", "cifar10", "imagenette"):
            p = resolve_params(ds, preset)
            assert p["dataset"] == ds and p["preset"] == preset
    paper = resolve_params("mnist", "paper")
    assert (paper["f_epochs"], paper["f_lr"], paper["d_epochs"], paper["d_lr"]) == (10, 1e-3, 10, 1e-4)
    paper = resolve_params("cifar10", "paper")
    assert (paper["f_epochs"], paper["f_lr"], paper["d_epochs"], paper["d_lr"]) == (100, 1e-4, 5, 1e-4)


def test_baseline_attacks_default_to_all_attacks():
    assert resolve_params("mnist", "paper")["baseline_attacks"] == resolve_params("mnist", "paper")["attacks"]
    quick = resolve_params("mnist", "quick")
    assert set(quick["baseline_attacks"]) < set(quick["attacks"])
    assert quick["adaptive_det_attack"] in quick["baseline_attacks"]   # notebook 08 attacks these
    # overriding `attacks` alone keeps the preset's baselines that are left, else all attacks
    assert resolve_params("mnist", "quick", attacks=["fgsm", "cw_l2"])["baseline_attacks"] == ["cw_l2"]
    assert resolve_params("mnist", "quick", attacks=["fgsm"])["baseline_attacks"] == ["fgsm"]


def test_override_by_name():
    assert resolve_params("mnist", "smoke", d_epochs=7)["d_epochs"] == 7


@pytest.mark.parametrize("kwargs,match", [
    ({"dataset": "svhn"}, r"dataset='svhn'.*allowed"),
    ({"preset": "huge"}, r"preset='huge'.*allowed.*smoke"),
    ({"attacks": ["pgd"]}, r"attack='pgd'.*allowed.*deepfool"),
    ({"saliency_norm": "l1"}, r"saliency_norm='l1'.*allowed"),
    ({"eps": {"fgsm": -0.1}}, r"eps\['fgsm'\]=-0.1 must be a number > 0"),
    ({"eps": {"iter_linf": 2.0}}, r"beyond the input range"),
    ({"f_epochs": "3"}, r"f_epochs='3' must be a positive integer"),
    ({"d_lr": 0}, r"d_lr=0 must be a positive number"),
    ({"d_lr_candidates": [1e-3, 1e-3]}, r"d_lr_candidates=\[0.001, 0.001\] must be a list of "
                                        r"distinct positive"),
    ({"d_lr_candidates": [1e-3, -1]}, r"d_lr_candidates=.*distinct positive learning rates"),
    ({"d_lr_inputs": {"pixels": 1e-3}}, r"d_lr_inputs key='pixels' is not allowed; allowed: "
                                         r"\['image\+saliency'"),
    ({"d_lr_inputs": {"image": 0}}, r"d_lr_inputs\['image'\]=0 must be a positive number"),
    ({"d_lr_inputs": [1e-3]}, r"d_lr_inputs=\[0.001\] must be a dict"),
    ({"cw_abort_early": "no"}, r"cw_abort_early='no' must be True or False"),
    ({"colour": 1}, r"unknown parameter\(s\) \['colour'\]"),
    ({"attacks": ["fgsm"], "baseline_attacks": ["cw_l2"]},
     r"baseline_attacks item='cw_l2' is not allowed; allowed: \['fgsm'\]"),
])
def test_bad_parameters_name_the_parameter(kwargs, match):
    args = {"dataset": "mnist", "preset": "smoke"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        resolve_params(args.pop("dataset"), args.pop("preset"), **args)


def test_a_typo_gets_the_close_match():
    with pytest.raises(ValueError, match="'d_epoch': did you mean 'd_epochs'"):
        resolve_params("mnist", "smoke", d_epoch=3)


def test_full_preset_uses_every_training_image():
    from advsal.presets import resolve_params

    for ds, n_train in (("mnist", 60000), ("cifar10", 50000)):
        p = resolve_params(ds, "full")
        assert p["f_train_size"] == n_train
        assert p["n_adv_train"] + p["n_val"] + p["peer_n_ref"] + p["peer_n_fit"] == n_train
        assert p["shard_size"] and p["shard_size"] < p["n_adv_train"]


@pytest.mark.parametrize("key, value, message", [
    ("f_finetune", [[0, 1e-4]], "f_finetune"), ("f_finetune", [8, 1e-4], "f_finetune"),
    ("shard_size", 0, "shard_size"), ("calib_target", "paper", "calib_target"),
    ("curve_sizes", [100, -1], "curve_sizes"), ("curve_features", ["pixels"], "curve_features"),
    ("curve_targets", [], "curve_targets")])
def test_new_parameters_reject_bad_values(key, value, message):
    from advsal.presets import resolve_params

    with pytest.raises(ValueError, match=message):
        resolve_params("mnist", "smoke", **{key: value})


def test_table2_target_reads_the_papers_f_adv(tmp_path, data_dir):
    from advsal.pipeline import Study

    st = Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False,
               calib_target="table2")
    assert st.target_accuracy("fgsm") == 0.12 and st.target_accuracy("iter_linf") == 0.05
    with pytest.raises(ValueError, match="attacks with one"):
        st.target_accuracy("jsma")
    assert Study("mnist", "smoke", data_dir=data_dir, artefact_dir=tmp_path,
                 progress=False).target_accuracy("fgsm") == 0.3


def test_finetune_phases_extend_the_first_phase_key(tmp_path, data_dir):
    from advsal.pipeline import Study

    plain = Study("cifar10", "quick", data_dir=data_dir, artefact_dir=tmp_path)
    tuned = Study("cifar10", "full", data_dir=data_dir, artefact_dir=tmp_path)
    assert "finetune" not in plain.f_key
    assert tuned._f_phase_key(0) == plain.f_key          # the quick F is phase 0
    assert tuned.f_key == {**plain.f_key, "finetune": [[8, 1e-4]]}


def test_longer_finetune_schedule_reuses_the_shorter_ones_f(tmp_path, data_dir):
    from advsal.pipeline import Study

    kw = dict(data_dir=data_dir, artefact_dir=tmp_path, progress=False, f_train_size=500,
              f_epochs=1)
    one = Study("mnist", "smoke", f_finetune=[[1, 1e-4]], **kw)
    one.classifier()
    assert [w for _, w, _ in one.store.ledger] == ["computed", "computed"]   # phases 0 and 1
    two = Study("mnist", "smoke", f_finetune=[[1, 1e-4], [1, 1e-5]], **kw)
    two.classifier()
    assert [w for _, w, _ in two.store.ledger] == ["reused", "computed"]
    assert two.classifier_info()["phase"] == 2


def test_init_weights_parameter(tmp_path):
    # the paper fine-tunes an ImageNet-trained VGG16: its preset starts F there
    assert resolve_params("imagenette", "paper")["f_init_weights"] == "imagenet"
    assert resolve_params("imagenet10", "paper")["f_init_weights"] == "imagenet"
    assert resolve_params("imagenette", "quick")["f_init_weights"] == "random"
    assert resolve_params("imagenette", "paper", f_init_weights="random")["f_init_weights"] == "random"
    with pytest.raises(ValueError, match="f_init_weights.*VGG16 network"):
        resolve_params("cifar10", "quick", f_init_weights="imagenet")
    with pytest.raises(ValueError, match="f_init_weights.*existing VGG16 weights file"):
        resolve_params("imagenette", "quick", f_init_weights=str(tmp_path / "missing.h5"))
    w = tmp_path / "w.weights.h5"
    w.write_bytes(b"x")
    assert resolve_params("imagenette", "quick", f_init_weights=str(w))["f_init_weights"] == str(w)


@pytest.mark.parametrize("dataset", ["mnist", "imagenette"])
def test_smoke_preset_leaves_the_peers_their_images(dataset, tmp_path, data_dir):
    """Every slice notebook 07 reads fits in the smoke preset's training split (Imagenette's,
    60 images per class, once did not: `make study DATASETS=imagenette PRESET=smoke` failed
    at the peers)."""
    from advsal.pipeline import Study

    st = Study(dataset, "smoke", data_dir=data_dir, artefact_dir=tmp_path, progress=False)
    for split in ("peer_ref", "peer_fit"):
        x, _ = st.images(split)
        assert len(x) == st.params[f"{split.replace('_', '_n_')}"]
