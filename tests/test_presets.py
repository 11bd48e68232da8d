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
