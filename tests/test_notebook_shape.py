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
