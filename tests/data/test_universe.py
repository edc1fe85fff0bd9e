"""A universe as input (backtest.universe): long, wide and folder inputs, each quirk on a named small panel."""

import bz2
import gzip
import lzma
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.core.errors import DataError, DataWarning
from backtest.data.universe import load_universe
from tests.conftest import synthetic_prices

SP500 = Path("../shared/data/sp500_5yr.csv.gz")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WFBT_CACHE_DIR", str(tmp_path / "cache"))


def panel(n: int = 30) -> dict[str, pd.DataFrame]:
    """Three clean stocks (AAA, BBB, CCC) on the same n weekdays."""
    return {sym: synthetic_prices(n, seed=k).round(4) for k, sym in enumerate(["AAA", "BBB", "CCC"])}


def long_frame(frames: dict[str, pd.DataFrame], symbol: str = "Name") -> pd.DataFrame:
    parts = [f.rename_axis("date").reset_index().assign(**{symbol: s}) for s, f in frames.items()]
    out = pd.concat(parts, ignore_index=True)
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    return out


def write_long(tmp_path: Path, frames: dict[str, pd.DataFrame], name: str = "u.csv", symbol: str = "Name") -> Path:
    path = tmp_path / name
    path.write_text(long_frame(frames, symbol).to_csv(index=False))
    return path


def load(*args, **kwargs):
    """load_universe with its totals warning caught (and checked to be there: nothing is silent)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        universe = load_universe(*args, **kwargs)
    assert any(issubclass(w.category, DataWarning) and "symbols kept" in str(w.message) for w in caught)
    return universe


class TestInputs:
    def test_long_file_with_its_symbol_column_detected(self, tmp_path):
        frames = panel()
        u = load(write_long(tmp_path, frames))
        assert u.symbols == ["AAA", "BBB", "CCC"] and len(u.calendar) == 30
        pd.testing.assert_frame_equal(u.frame("BBB"), frames["BBB"].astype("float64"), check_freq=False)
        assert u.field("close").shape == (30, 3) and u.executions == ("next_open", "close")

    def test_symbol_column_set_by_name_and_a_wrong_name_is_refused(self, tmp_path):
        path = write_long(tmp_path, panel(), symbol="Security")
        assert load(path, symbol_column="Security").symbols == ["AAA", "BBB", "CCC"]
        with pytest.raises(DataError, match=r"symbol_column 'Securty' is not a column.*Did you mean 'Security'"):
            load_universe(path, symbol_column="Securty")

    def test_wide_close_only_file(self, tmp_path):
        frames = panel()
        wide = pd.DataFrame({s: f["close"] for s, f in frames.items()}).rename_axis("Date")
        wide.iloc[:5, 0] = np.nan  # AAA listed from the sixth day
        path = tmp_path / "wide.csv"
        wide.to_csv(path)
        u = load(path)
        assert u.fields == ("close",) and u.executions == ("close",)
        assert u.prices["open"].isna().all()
        assert u.summary.loc["AAA", "first"] == frames["AAA"].index[5] and u.summary.loc["AAA", "listed_late"]
        np.testing.assert_allclose(u.field("close")["CCC"].to_numpy(), frames["CCC"]["close"].to_numpy())

    def test_folder_of_per_symbol_files_mixed_compression(self, tmp_path):
        frames = panel()
        folder = tmp_path / "prices"
        folder.mkdir()
        text = {s: f.rename(columns=str.title).rename_axis("Date").to_csv().encode() for s, f in frames.items()}
        (folder / "AAA.csv").write_bytes(text["AAA"])
        (folder / "BBB.csv.bz2").write_bytes(bz2.compress(text["BBB"]))
        (folder / "CCC.csv.xz").write_bytes(lzma.compress(text["CCC"]))
        (folder / "notes.md").write_text("not prices")
        with pytest.warns(DataWarning, match=r"skipped 1 file\(s\) that are not CSV text: notes.md"):
            u = load_universe(folder)
        assert u.symbols == ["AAA", "BBB", "CCC"]
        np.testing.assert_allclose(u.frame("CCC")["close"].to_numpy(), frames["CCC"]["close"].to_numpy())

    @pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip"])
    def test_compressed_long_file(self, tmp_path, suffix):
        raw = long_frame(panel()).to_csv(index=False).encode()
        path = tmp_path / f"u.csv{suffix}"
        if suffix == ".zip":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("u.csv", raw)
        else:
            path.write_bytes({".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](raw))
        assert load(path).summary["rows"].sum() == 90

    def test_tickers_through_yfinance_and_its_cache(self, tmp_path, monkeypatch):
        import yfinance

        from tests.data.conftest import yahoo_frame

        calls = []
        monkeypatch.setattr(yfinance, "download", lambda tickers, **kw: calls.append(tickers) or yahoo_frame(tickers))
        u = load(["AAPL", "MSFT"], source="yfinance")
        assert u.symbols == ["AAPL", "MSFT"] and calls == [["AAPL", "MSFT"]]  # one request for both
        again = load(["AAPL", "MSFT"], source="yfinance")
        assert len(calls) == 1  # the cache answered
        pd.testing.assert_frame_equal(u.prices, again.prices)

    def test_company_ids_through_tej(self, tej_server):
        from tests.data.conftest import SMALL_ROWS, TejStandIn

        TejStandIn.rows = SMALL_ROWS + [["2317", r[1], *(x / 5 for x in r[2:6]), r[6]] for r in SMALL_ROWS]
        u = load(["2330", "2317"], source="tej")
        assert u.symbols == ["2317", "2330"]
        assert u.frame("2330")["close"].iloc[0] == 503.0 and u.frame("2317")["close"].iloc[0] == pytest.approx(100.6)


def _with(frames: dict[str, pd.DataFrame], column: str, value: float) -> dict[str, pd.DataFrame]:
    frames["AAA"].iloc[7, list(frames["AAA"].columns).index(column)] = value
    return frames


def _repeated(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    frames["AAA"] = pd.concat([frames["AAA"], frames["AAA"].iloc[[7]]]).sort_index(kind="stable")
    return frames


# one bad row of AAA on its eighth day (2015-01-12), as a tiny named file: the cause it is counted under
BAD_ROW_FILES = {
    "zero_close": (lambda f: _with(f, "close", 0.0), "dropped_invalid"),
    "negative_close": (lambda f: _with(f, "close", -5.0), "dropped_invalid"),
    "minus_inf_close": (lambda f: _with(f, "close", -np.inf), "dropped_invalid"),
    "plus_inf_close": (lambda f: _with(f, "close", np.inf), "dropped_invalid"),
    "absurd_close": (lambda f: _with(f, "close", 1e300), "dropped_invalid"),
    "negative_volume": (lambda f: _with(f, "volume", -1.0), "dropped_invalid"),
    "nan_high": (lambda f: _with(f, "high", np.nan), "dropped_missing"),
    "open_below_low": (lambda f: _with(f, "open", f["AAA"].iloc[7]["low"] * 0.5), "dropped_outside"),
    "exact_duplicate": (_repeated, "dropped_duplicate"),
}
CAUSES = ["dropped_duplicate", "dropped_missing", "dropped_invalid", "dropped_outside"]


class TestOneRuleForABadRow:
    @pytest.mark.parametrize("name", list(BAD_ROW_FILES))
    def test_a_bad_row_is_dropped_counted_by_its_cause_and_named(self, tmp_path, name):
        mutate, cause = BAD_ROW_FILES[name]
        u = load(write_long(tmp_path, mutate(panel()), f"{name}.csv"))
        s = u.summary.loc["AAA"]
        assert u.symbols == ["AAA", "BBB", "CCC"] and s["rows"] == 29 + (name == "exact_duplicate")
        assert {c: s[c] for c in CAUSES} == {c: int(c == cause) for c in CAUSES}
        assert s["notes"].startswith("1 row(s) dropped (") and s["notes"].endswith("), first on 2015-01-12")
        assert u.totals()["count"].filter(like="rows dropped: ").sum() == 1

    @pytest.mark.parametrize("name", [n for n in BAD_ROW_FILES if n != "exact_duplicate"])
    def test_bad_rows_refuse_leaves_the_row_to_the_single_symbol_checks(self, tmp_path, name):
        mutate, _ = BAD_ROW_FILES[name]
        strict = load(write_long(tmp_path, mutate(panel()), f"{name}.csv"), bad_rows="refuse")
        assert strict.symbols == ["BBB", "CCC"] and "AAA" in strict.refused

    def test_the_same_day_twice_with_other_prices_refuses_the_stock(self, tmp_path):
        frames = panel()
        frames["AAA"] = pd.concat([frames["AAA"], frames["AAA"].iloc[[7]] * 1.01]).sort_index(kind="stable")
        u = load(write_long(tmp_path, frames, "conflicting.csv"))
        assert u.refused["AAA"].endswith("1 date(s) appear more than once with different prices: 2015-01-12. Keep "
                                         "one row per date.")


class TestQuirks:
    def test_missing_open_row_is_dropped_with_a_count(self, tmp_path):
        frames = panel()
        frames["AAA"].iloc[7, 0] = np.nan  # open only
        frames["BBB"].iloc[9, :3] = np.nan  # open, high and low
        u = load(write_long(tmp_path, frames))
        assert u.summary.loc[["AAA", "BBB", "CCC"], "dropped_missing"].tolist() == [1, 1, 0]
        assert np.isnan(u.prices.loc[(frames["AAA"].index[7], "AAA"), "close"])  # a hole, not a made-up price
        assert u.summary.loc["AAA", "holes"] == 1

    def test_open_outside_the_range_is_dropped_or_refuses_the_symbol(self, tmp_path):
        frames = panel()
        frames["CCC"].iloc[4, 0] = frames["CCC"].iloc[4, 2] * 0.5  # open at half the low (CHD 2014-05-19)
        path = write_long(tmp_path, frames)
        assert load(path).summary.loc["CCC", "dropped_outside"] == 1
        strict = load(path, bad_rows="refuse")
        assert strict.symbols == ["AAA", "BBB"]
        assert "1 row(s) have open/close outside [low, high]" in strict.refused["CCC"]

    def test_a_fifty_percent_jump_is_kept_and_warned(self, tmp_path):
        frames = panel()
        frames["BBB"].iloc[20:] *= 0.5  # an unadjusted spin-off
        u = load(write_long(tmp_path, frames))
        assert u.summary.loc["BBB", "jumps"] == 1 and u.summary.loc["BBB", "first_jump"].endswith("(-50%)")
        assert u.summary.loc["BBB", "rows"] == 30  # kept
        assert load(write_long(tmp_path, frames), jump=0.6).summary.loc["BBB", "jumps"] == 0

    def test_zero_volume_rows_are_counted_and_filler_rows_dropped(self, tmp_path):
        frames = panel()
        frames["AAA"].iloc[3, 4] = 0.0  # a real bar with no volume: kept
        frames["BBB"].iloc[5] = [90.0, 90.0, 90.0, 90.0, 0.0]  # holiday filler: dropped by the single-symbol check
        u = load(write_long(tmp_path, frames))
        assert u.summary.loc[["AAA", "BBB"], "zero_volume"].tolist() == [1, 1]
        assert u.summary.loc["AAA", "rows"] == 30 and u.summary.loc["BBB", "dropped_checks"] == 1
        assert "holiday filler" in u.summary.loc["BBB", "notes"]

    def test_late_listing_and_a_stock_that_stops_early(self, tmp_path):
        frames = panel()
        frames["AAA"] = frames["AAA"].iloc[10:]
        frames["CCC"] = frames["CCC"].iloc[:25]
        u = load(write_long(tmp_path, frames))
        assert u.summary.loc["AAA", "listed_late"] and not u.summary.loc["AAA", "ends_early"]
        assert u.ends.to_dict() == {"CCC": frames["CCC"].index[-1]}
        assert u.prices.loc[(u.calendar[0], "AAA"), "close"] != u.prices.loc[(u.calendar[0], "AAA"), "close"]
        assert not u.survivorship and u.survivorship_note is None

    def test_survivorship_flag_when_every_member_exists_on_the_last_day(self, tmp_path):
        u = load(write_long(tmp_path, panel()))
        assert u.survivorship
        assert "Every one of the 3 stocks still trades on the last day" in u.survivorship_note

    def test_a_refused_symbol_is_dropped_with_its_reason(self, tmp_path):
        frames = panel()
        frames["BBB"][["open", "high", "low", "close"]] = 50.0  # a close that never moves: one file is refused
        u = load(write_long(tmp_path, frames))
        assert u.symbols == ["AAA", "CCC"]
        assert "every close is 50 (30 rows" in u.refused["BBB"]
        assert u.summary.loc["BBB", "status"] == "refused"

    def test_a_cell_that_is_not_a_number_refuses_that_symbol_only(self, tmp_path):
        path = write_long(tmp_path, panel())
        path.write_text(path.read_text().replace(f"{panel()['CCC'].iloc[2]['close']}", "n.a.", 1))
        u = load(path)
        assert "CCC" not in u.symbols and "close value(s) are not numbers: 'n.a.'" in u.refused["CCC"]

    def test_too_few_symbols_left_is_refused_with_the_reasons(self, tmp_path):
        frames = panel()
        frames["BBB"][["open", "high", "low", "close"]] = 50.0
        with pytest.raises(DataError, match=r"only 2 of 3 symbol\(s\) passed the checks, fewer than min_symbols = 3\. "
                                            r"Dropped: BBB: .*every close is 50"):
            load_universe(write_long(tmp_path, frames), min_symbols=3)

    def test_totals_summarise_every_symbol(self, tmp_path):
        frames = panel()
        frames["AAA"].iloc[7, 0] = np.nan
        frames["BBB"][["open", "high", "low", "close"]] = 50.0
        frames["CCC"].iloc[20:] *= 0.5
        t = load(write_long(tmp_path, frames)).totals()["count"]
        assert t["symbols read"] == 3 and t["symbols kept"] == 2 and t["symbols refused"] == 1
        assert t["rows read"] == 90 and t["rows kept"] == 59 and t["rows of refused symbols"] == 30
        assert t["rows dropped: some prices missing"] == 1
        assert t["one-day moves over the jump limit (kept, warned)"] == 1

    def test_the_screen_changes_nothing(self, tmp_path):
        frames = panel()
        frames["AAA"].iloc[7, 0] = np.nan
        frames["BBB"].iloc[5] = [90.0, 90.0, 90.0, 90.0, 0.0]
        frames["CCC"].iloc[20:] *= 0.4
        path = write_long(tmp_path, frames)
        fast, full = load(path), load(path, screen=False)
        pd.testing.assert_frame_equal(fast.prices, full.prices)
        pd.testing.assert_frame_equal(fast.summary, full.summary)


@pytest.mark.skipif(not SP500.is_file(), reason="the shared universe file is not beside the checkout")
def test_the_shared_sp500_file_has_the_quirks_its_readme_states():
    u = load(SP500)
    s = u.summary
    assert len(u.symbols) == 505 and len(u.calendar) == 1259
    assert int((s["rows_in"] == 1259).sum()) == 470  # the other 35: 29 listed late, 6 with missing days
    assert int(s["listed_late"].sum()) == 29 and s.loc["APTV", "rows_in"] == 44 and s.loc["DWDP", "rows_in"] == 109
    t = u.totals()["count"]
    assert t["rows read"] == 619040
    assert t["rows dropped: some prices missing"] == 11  # the 11 rows without an open
    assert t["rows dropped: open/close outside [low, high]"] == 12
    assert s.loc["CHD", "dropped_outside"] == 1 and s.loc["LNT", "dropped_outside"] == 1
    assert t["zero-volume rows"] == 4
    # 11 moves over 40 % in the file; LNT's -49 % / +101 % pair goes with its dropped 2016-05-19 row
    assert t["one-day moves over the jump limit (kept, warned)"] == 9
    assert s.loc["EBAY", "first_jump"] == "2015-07-20 (-57%)" and s.loc["NI", "first_jump"] == "2015-07-02 (-63%)"
    assert u.survivorship and "505 stocks" in u.survivorship_note


class TestFactorColumns:
    """The user's own numeric columns of a long file (load_universe(factors=...)): kept on the checked rows."""

    HAND = """Date,Name,Open,High,Low,Close,Volume,My_Factor,sector
2021-01-04,AAA,10,11,9,10,100,0.5,tech
2021-01-05,AAA,10,11,9,10.5,100,0.25,tech
2021-01-06,AAA,10,11,9,10.2,100,,tech
2021-01-07,AAA,10,11,9,10.4,100,-1.5,tech
2021-01-04,BBB,20,21,19,20,100,2,energy
2021-01-05,BBB,25,21,19,20.4,100,3,energy
2021-01-06,BBB,20,21,19,20.6,100,4,energy
2021-01-07,BBB,20,21,19,20.2,100,NA,energy
2021-01-05,CCC,30,31,29,30,100,7,tech
2021-01-06,CCC,30,31,29,30.6,100,8,tech
2021-01-07,CCC,30,31,29,30.3,100,9,tech
"""

    def test_a_named_panel_by_hand(self, tmp_path):
        # BBB's 2021-01-05 row has its open above the high: dropped, so is its factor; an empty cell and NA are
        # missing values; CCC is listed from the second day; the text column sector is not asked for: not read.
        path = tmp_path / "f.csv"
        path.write_text(self.HAND)
        u = load(path, min_symbols=2, factors=["my_factor"])
        got = u.factor("my_factor")
        expected = pd.DataFrame({"AAA": [0.5, 0.25, np.nan, -1.5], "BBB": [2.0, np.nan, 4.0, np.nan],
                                 "CCC": [np.nan, 7.0, 8.0, 9.0]}, index=u.calendar)
        pd.testing.assert_frame_equal(got, expected, check_names=False)
        assert u.summary.loc["BBB", "dropped_outside"] == 1
        assert load(path, min_symbols=2).factors is None  # none asked for: the prices alone, as before

    def test_a_column_the_file_lacks_is_refused_naming_the_columns_it_has(self, tmp_path):
        path = tmp_path / "f.csv"
        path.write_text(self.HAND)
        with pytest.raises(DataError, match=r"forecast.features includes 'my_factr', which is neither a known feature "
                                            r"nor a column of the file. Did you mean 'my_factor'.*The file's other "
                                            r"columns \(read lower-cased\): \['my_factor', 'sector'\]"):
            load_universe(path, min_symbols=2, factors=["my_factr"])

    def test_a_cell_that_is_not_a_number_is_refused_with_its_line_and_stock(self, tmp_path):
        path = tmp_path / "f.csv"
        path.write_text(self.HAND)
        with pytest.raises(DataError, match=r"'sector', a column of the file, but 11 of its cells are not numbers, "
                                            r"first 'tech' on line 2 \(AAA\)"):
            load_universe(path, min_symbols=2, factors=["sector"])

    def test_two_rows_of_one_stock_and_day_with_other_values_are_refused(self, tmp_path):
        path = tmp_path / "f.csv"
        path.write_text(self.HAND + "2021-01-07,CCC,30,31,29,30.3,100,10,tech\n")
        with pytest.raises(DataError, match=r"CCC has more than one row on 2021-01-07 with different values of "
                                            r"'my_factor'"):
            load_universe(path, min_symbols=2, factors=["my_factor"])

    def test_a_folder_of_files_gives_each_stock_its_own_column(self, tmp_path):
        # AAA's and BBB's files carry the column (BBB's with a hole), CCC's lacks it, DDD's has text in it: the
        # last two are refused with the reason, as any stock a file cannot give is.
        frames = panel(12)
        folder = tmp_path / "prices"
        folder.mkdir()
        for k, (symbol, frame) in enumerate([*frames.items(), ("DDD", frames["AAA"])]):
            out = frame.rename_axis("Date")
            if symbol != "CCC":
                out = out.assign(My_Factor=np.arange(12.0) + 100 * k)
            if symbol == "BBB":
                out.loc[out.index[4], "My_Factor"] = np.nan
            text = out.to_csv()
            (folder / f"{symbol}.csv").write_text(text.replace(",305.0", ",high") if symbol == "DDD" else text)
        u = load(folder, min_symbols=2, factors=["my_factor"])
        assert u.symbols == ["AAA", "BBB"]
        assert "neither a known feature nor a column of the file" in u.refused["CCC"]
        assert "1 of its cells are not numbers, first 'high' on line 7 (DDD.csv)" in u.refused["DDD"]
        got = u.factor("my_factor")
        np.testing.assert_array_equal(got["AAA"].to_numpy(), np.arange(12.0))
        assert np.isnan(got["BBB"].iloc[4]) and got["BBB"].iloc[5] == 105.0

    def test_a_wide_file_and_a_network_source_are_refused_by_name(self, tmp_path):
        frames = panel()
        wide = tmp_path / "wide.csv"
        pd.DataFrame({s: f["close"] for s, f in frames.items()}).rename_axis("Date").to_csv(wide)
        with pytest.raises(DataError, match=r"'my_factor', read as column\(s\) of your own file, but a wide file "
                                            r"holds one close column per symbol. Give a long file"):
            load_universe(wide, factors=["my_factor"])
        with pytest.raises(DataError, match="the yfinance source gives prices only"):
            load_universe(["AAPL"], source="yfinance", factors=["my_factor"])
