"""The notebooks stay narrative over a thin library (Developers' guide): one papermill
``parameters`` cell each, no function definitions, and every code cell fits a screen."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREEN_LINES, SCREEN_COLUMNS = 30, 120   # a laptop's JupyterLab at its default font


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_cells_fit_a_screen(path):
    cells = json.loads(path.read_text())["cells"]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])]
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert len(tagged) == 1 and tagged[0] == code[0], f"{path.name}: one parameters cell, first"
    for i in code:
        lines = "".join(cells[i]["source"]).splitlines()
        assert len(lines) <= SCREEN_LINES, f"{path.name} cell {i}: {len(lines)} lines"
        wide = [line for line in lines if len(line) > SCREEN_COLUMNS]
        assert not wide, f"{path.name} cell {i}: {wide[0][:60]}... wider than {SCREEN_COLUMNS}"
        assert not any(line.startswith(("def ", "class ")) for line in lines), \
            f"{path.name} cell {i}: define functions in lib/advsal, not in a notebook"
        assert not cells[i].get("outputs"), f"{path.name} cell {i}: committed with outputs"


def test_there_are_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)]


def test_intro_time_claims_are_the_measured_timings():
    """An intro's "quick N s (MNIST) and M s (CIFAR-10)" is the latest measured run of that
    notebook (figures/timings_quick.csv), rounded to the second."""
    import re

    import pandas as pd

    timings = pd.read_csv(NOTEBOOKS[0].parents[1] / "figures" / "timings_quick.csv")
    seconds = {(r.notebook, r.dataset): r.seconds for r in timings.itertuples()}
    checked = 0
    for path in NOTEBOOKS:
        intro = "".join(json.loads(path.read_text())["cells"][0]["source"])
        m = re.search(r"quick (\d+) s\s+\(MNIST\) and (\d+) s \(CIFAR-10\)", intro)
        if m:
            for value, ds in zip(m.groups(), ("mnist", "cifar10")):
                assert int(value) == round(seconds[(path.stem, ds)]), f"{path.stem} {ds}"
            checked += 1
    assert checked >= 7
