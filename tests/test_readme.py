"""The README's Results section agrees with the committed CSVs: its generated
tables are up to date, and every decimal number it quotes is a value (at its
printed precision) of a CSV under figures/."""
import re

import pandas as pd

from advsal.paths import repo_root
from advsal.readme import numbers_not_in_csvs, regenerate

ROOT = repo_root()


def _results_section(text):
    start = text.index("\n## Results")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def test_generated_blocks_are_up_to_date():
    text = (ROOT / "README.md").read_text()
    assert "<!-- generated:" in text
    assert regenerate(text, ROOT / "figures") == text, "run: python -m advsal.readme"


def test_every_number_in_results_is_in_a_csv():
    section = _results_section((ROOT / "README.md").read_text())
    assert len(re.findall(r"\d+\.\d+", section)) > 50      # the section does quote numbers
    assert numbers_not_in_csvs(section, ROOT / "figures") == []


def test_number_check_catches_drift(tmp_path):
    pd.DataFrame({"auc": [0.5393, 0.9871]}).to_csv(tmp_path / "t.csv", index=False)
    assert numbers_not_in_csvs("AUC 0.539 and 0.54 and 98.7 % ok", tmp_path) == []
    assert numbers_not_in_csvs("AUC 0.53 and 0.69", tmp_path) == ["0.53", "0.69"]
