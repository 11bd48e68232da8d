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


def test_tables_round_once(tmp_path):
    """The CSV keeps enough digits that the Markdown (and the README, which prints
    from the CSV) rounds the measured value once: 0.20853 is 0.209, not 0.208 via 0.2085."""
    from advsal.reporting import save_table

    df = pd.DataFrame({"rate": [0.20853], "ci": [(0.1, 0.30049)]}, index=["a"])
    save_table(df, "t", tmp_path)
    back = pd.read_csv(tmp_path / "t.csv", index_col=0)
    assert back.loc["a", "rate"] == 0.20853 and back.loc["a", "ci"] == "[0.1, 0.30049]"
    assert "0.209" in (tmp_path / "t.md").read_text()
    assert numbers_not_in_csvs("0.209 and 0.300", tmp_path) == []
