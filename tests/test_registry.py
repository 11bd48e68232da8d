"""The registries agree: every attack declares what the study reads from it, and
the presets, grids and cache keys are built from those declarations."""
import pytest

from advsal.attacks import (NORMS, attack_defaults, attack_names, attack_spec, budget_attacks,
                            craft)
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
