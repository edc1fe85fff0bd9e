"""universe.groups files: read in any dialect, refused by name when unusable, gaps said."""

from __future__ import annotations

import pytest

from backtest.core.errors import DataError, DataWarning
from backtest.data.groups import load_groups
from tests.conftest import SHARED_DATA

SYMBOLS = ["A", "B", "C", "D"]


def _file(tmp_path, text, name="groups.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.skipif(not (SHARED_DATA / "groups" / "sp500_sectors.csv").is_file(),
                    reason="../shared/data not beside the checkout")
def test_the_shared_sector_file_gives_every_sector():
    groups = load_groups(str(SHARED_DATA / "groups" / "sp500_sectors.csv"), ["AAPL", "XOM", "JPM"])
    assert groups.to_dict() == {"AAPL": "Information Technology", "XOM": "Energy", "JPM": "Financials"}


@pytest.mark.parametrize("text", ["Name;sector\nA;Tech\nB;Tech\nC;Energy\nD;Energy\n",
                                  "ticker\tgroup\nA\tTech\nB\tTech\nC\tEnergy\nD\tEnergy\n",
                                  "sym,what\nA,Tech\nB,Tech\nC,Energy\nD,Energy",  # two columns, no newline at the end
                                  "Name,company,Sector\nA,a co,Tech\nB,b co,Tech\nC,c co,Energy\nD,d co,Energy\n"])
def test_dialects_and_headers(tmp_path, text):
    assert load_groups(_file(tmp_path, text), SYMBOLS).to_dict() == {"A": "Tech", "B": "Tech", "C": "Energy",
                                                                      "D": "Energy"}


@pytest.mark.parametrize(("text", "message"), [
    ("", "is empty. It needs a header"),
    ("Name,sector\n", "has a header but no rows"),
    ("Name,sector\nA,Tech\nB,Tech\nA,Energy\n", r"a symbol is listed more than once: A \(lines 2, 4\)"),
    ("Name,company,exchange\nA,a,X\n", "no group column among"),
])
def test_unusable_files_are_refused_by_name(tmp_path, text, message):
    with pytest.raises(DataError, match=f"universe.groups: .*{message}"):
        load_groups(_file(tmp_path, text), SYMBOLS)


def test_a_missing_path_or_a_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="universe.groups: file .* does not exist"):
        load_groups(tmp_path / "nope.csv", SYMBOLS)
    with pytest.raises(DataError, match="universe.groups: .* is a folder"):
        load_groups(tmp_path, SYMBOLS)


def test_a_stock_without_a_group_is_reported(tmp_path):
    path = _file(tmp_path, "Name,sector\nA,Tech\nB,\nC,Energy\nZ,Energy\n")
    with pytest.warns(DataWarning, match=r"2 of the universe's 4 stocks have no group .*\(B, D\)") as caught:
        groups = load_groups(path, SYMBOLS)
    assert groups.to_dict() == {"A": "Tech", "C": "Energy"}
    assert any("1 symbol(s) of" in str(w.message) and "not in the universe" in str(w.message) for w in caught)
