"""The registries agree: every attack declares what the study reads from it, and
the presets, grids and cache keys are built from those declarations."""
import pytest

from advsal.attacks import (NORMS, attack_defaults, attack_names, attack_spec, budget_attacks,
                            craft)
from advsal.datasets import dataset_names, dataset_spec, load_dataset
from advsal.networks import build_classifier, build_detector
from advsal.presets import EPS_GRIDS, GRID_FAMILY, PAPER_TABLE2, PRESETS, resolve_params


@pytest.mark.parametrize("name", attack_names())
def test_every_attack_declares_what_the_study_reads(name):
    s = attack_spec(name)
    assert s.name == name and s.label and callable(s.run) and s.norm in NORMS
    assert set(s.key_params) <= set(s.defaults)
    if s.budget:
        # a calibration grid for every data set, sorted and positive
        for ds, family in GRID_FAMILY.items():
            grid = s.eps_grid[family]
            assert grid == sorted(grid) and grid[0] > 0 and EPS_GRIDS[ds][name] == grid
    else:
        assert not s.eps_grid and s.scan is None and not s.table3
    assert s.paper_group in (None, "strong", "weak")
    assert set(s.paper_table2) <= {"mnist", "cifar10", "imagenet10"}
    for ds, row in s.paper_table2.items():
        assert PAPER_TABLE2[ds][name] == row and len(row) == 4


def test_presets_carry_every_attack_parameter():
    defaults = attack_defaults()     # raises if two attacks disagree on a shared default
    for preset in PRESETS:
        p = resolve_params("mnist", preset)
        assert set(defaults) <= set(p)
        for a in p["attacks"]:
            assert set(attack_spec(a).key(p)) >= set(attack_spec(a).key_params)


@pytest.mark.parametrize("name", attack_names())
def test_every_attack_parameter_is_validated(name):
    for k, v in attack_spec(name).defaults.items():
        bad = "x" if isinstance(v, bool) else (0 if isinstance(v, int) else True)
        with pytest.raises(ValueError, match=k):
            resolve_params("mnist", "smoke", **{k: bad})


def test_unknown_attack_names_the_registered_ones(trained_f, attack_batch):
    with pytest.raises(ValueError, match="deepfool"):
        craft(trained_f, "pgd", attack_batch[0][:2], 0.1)
    assert set(budget_attacks()) < set(attack_names())


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_declares_what_the_study_reads(name):
    s = dataset_spec(name)
    assert s.name == name and s.label and callable(s.loader)
    assert s.network in ("small", "vgg16") and (s.fc_hidden or s.network == "vgg16")
    assert s.paper_as in PAPER_TABLE2 and s.eps_table in ("table3", "table4")
    assert GRID_FAMILY[name] == s.grid_family
    for preset in PRESETS:     # every preset resolves for every data set, with its entries
        p = resolve_params(name, preset)
        assert all(p[k] == v for k, v in s.presets[preset].items())
    shape = s.input_shape or (16, 16, 3)   # image-folder sets: any image_size
    f = build_classifier(name, shape, n_classes=10, fc_units=8)
    d = build_detector(name, shape[:2] + (2 * shape[2],), fc_units=8)
    assert f.output_shape == (None, 10) and d.output_shape == (None, 1)
    assert f.name == f"{s.net_stem}-F" and d.name == f"{s.net_stem}-D"


def test_unknown_dataset_names_the_allowed_ones(tmp_path):
    for call in (lambda: dataset_spec("svhn"), lambda: load_dataset("svhn", tmp_path),
                 lambda: resolve_params("svhn"), lambda: build_classifier("svhn", (8, 8, 1))):
        with pytest.raises(ValueError, match="dataset='svhn'.*mnist.*cifar10"):
            call()
