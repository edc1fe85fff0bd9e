"""data.adjust: dividend-adjusted (total-return) prices against a dividend worked by hand, and the refusals."""

import pandas as pd
import pytest

from backtest.core.config import DataSection, load_config
from backtest.core.errors import ConfigError, DataError, DataWarning
from backtest.data.adjust import prices_wording
from backtest.data.load import load_prices
from backtest.data.universe import load_universe

# A dividend of 2 goes ex on the third day, after a close of 102. Yahoo's Adj Close scales every earlier
# close by 1 - 2 / 102 = 100 / 102, so the Adj Close series is 98.04, 100, 98, 100.
# Raw close to close, 100 -> 100: 0 %. Adjusted, 98.04 -> 100: +2 %, the dividend reinvested.
ROWS = """Date,Open,High,Low,Close,Adj Close,Volume
2021-01-04,99,101,98,100,98.0392156862745,1000
2021-01-05,100,103,99,102,100.0,1000
2021-01-06,100,100,97,98,98.0,1000
2021-01-07,98,101,97,100,100.0,1000
"""


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "div.csv"
    path.write_text(ROWS)
    return str(path)


def test_adjusted_prices_earn_the_dividend(csv):
    raw = load_prices(DataSection(source="csv", path=csv))
    adjusted = load_prices(DataSection(source="csv", path=csv, adjust="adjusted"))
    assert raw["close"].iloc[-1] / raw["close"].iloc[0] - 1 == pytest.approx(0.0)
    assert adjusted["close"].iloc[-1] / adjusted["close"].iloc[0] - 1 == pytest.approx(0.02)
    ratio = 100 / 102  # every bar before the ex-date, open, high and low alike
    assert adjusted.iloc[0][["open", "high", "low", "close"]].tolist() == pytest.approx(
        [99 * ratio, 101 * ratio, 98 * ratio, 100 * ratio])
    pd.testing.assert_frame_equal(adjusted.iloc[2:], raw.iloc[2:])  # from the ex-date on, the prices as traded
    assert adjusted["volume"].tolist() == raw["volume"].tolist()


def test_a_file_without_adj_close_is_refused_by_name(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("\n".join(",".join(line.split(",")[:5] + line.split(",")[6:])
                              for line in ROWS.splitlines()) + "\n")
    with pytest.raises(DataError, match=r'data.adjust = "adjusted" needs an Adj Close column; the file has'):
        load_prices(DataSection(source="csv", path=str(path), adjust="adjusted"))


def test_a_missing_adj_close_cell_is_refused(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text(ROWS.replace("100.0,1000\n2021-01-06", ",1000\n2021-01-06"))
    with pytest.raises(DataError, match=r"1 row\(s\) have no positive Adj Close, e\.g\. on 2021-01-05"):
        load_prices(DataSection(source="csv", path=str(path), adjust="adjusted"))


@pytest.mark.parametrize(("sets", "message"), [
    (["data.source=tej", "data.symbol=2330", "data.adjust=adjusted"],
     'data.adjust = "adjusted" needs dividend-adjusted prices, which data.source = \'tej\' does not give'),
    (["data.adjust=adjusted"], "which data.source = 'sample' does not give"),
    (["data.source=csv", "data.path=x.csv", "data.adjust=dividends"],
     'data.adjust = "dividends" needs cash dividends by ex-date, and no source wfbt reads gives them yet'),
    (["data.adjust=total"], "data.adjust"),
])
def test_asking_a_source_for_what_it_lacks_is_refused(sets, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, sets)
    assert message in str(info.value)


def test_the_report_says_which_prices_were_traded():
    assert prices_wording(DataSection()) == "prices: raw, dividends not credited"
    assert prices_wording(DataSection(source="csv", path="p.csv", adjust="adjusted")) == \
        "prices: dividend-adjusted (total return)"
    assert prices_wording(DataSection(source="yfinance", adjusted=True)) == "prices: dividend-adjusted (total return)"


def test_yfinance_downloads_adjusted_bars_when_asked(fake_yf):
    load_prices(DataSection(source="yfinance", symbol="AAPL", start="2015-01-01", adjust="adjusted"))
    assert fake_yf[-1][1]["auto_adjust"] is True


# -- a universe: each stock adjusted by its own Adj Close --------------------------------------------------------

def _long(tmp_path, rows: dict[str, str], name: str = "u.csv"):  # type: ignore[no-untyped-def]
    """A long file of ROWS' columns plus Name, one block of rows per stock."""
    head, body = ROWS.splitlines()[0], [f"{line},{s}" for s, text in rows.items() for line in text.splitlines()[1:]]
    path = tmp_path / name
    path.write_text("\n".join([f"{head},Name", *body]) + "\n")
    return path


# B pays nothing: its Adj Close is its close, so adjusting leaves it as it is
PLAIN = ROWS.replace("98.0392156862745", "100").replace("100.0,1000\n2021-01-06", "102,1000\n2021-01-06")


class TestUniverse:
    def test_each_stock_is_scaled_by_its_own_adj_close(self, tmp_path):
        path = _long(tmp_path, {"A": ROWS, "B": PLAIN})
        raw = load_universe(path)
        adjusted = load_universe(path, adjust=True)
        ratio = 100 / 102  # A's bars before its ex-date (the third day), as one symbol's file
        for field, first in (("open", 99), ("high", 101), ("low", 98), ("close", 100)):
            assert adjusted.field(field)["A"].tolist() == pytest.approx(
                [first * ratio, *raw.field(field)["A"].iloc[1:].mul([ratio, 1, 1])])
        assert adjusted.field("close")["A"].iloc[-1] / adjusted.field("close")["A"].iloc[0] - 1 == pytest.approx(0.02)
        for field in ("open", "high", "low", "close"):
            pd.testing.assert_series_equal(adjusted.field(field)["B"], raw.field(field)["B"])
        assert adjusted.field("volume")["A"].tolist() == raw.field("volume")["A"].tolist()

    def test_a_universe_run_applies_data_adjust(self, tmp_path):
        from backtest.engine.universe import configured_universe

        path = _long(tmp_path, {"A": ROWS, "B": PLAIN})
        sets = ["universe.enabled=true", "data.source='csv'", f"data.path={str(path)!r}", "universe.min_symbols=2",
                "universe.k=1", "universe.n_drop=0"]
        raw = configured_universe(load_config(None, sets)).field("close")
        adjusted = configured_universe(load_config(None, [*sets, "data.adjust='adjusted'"])).field("close")
        assert adjusted["A"].iloc[0] == pytest.approx(100 * 100 / 102) and raw["A"].iloc[0] == 100.0
        assert adjusted["B"].equals(raw["B"])

    def test_a_file_without_adj_close_is_refused_by_name(self, tmp_path):
        path = tmp_path / "plain.csv"
        path.write_text("Date,Open,High,Low,Close,Volume,Name\n2021-01-04,99,101,98,100,1000,A\n"
                        "2021-01-04,99,101,98,100,1000,B\n")
        with pytest.raises(DataError, match=rf'^{path}: data.adjust = "adjusted" needs an Adj Close column; the '
                                            r"file has \['date', 'open', 'high', 'low', 'close', 'volume'\]\."):
            load_universe(path, adjust=True)

    def test_a_stock_with_a_day_it_cannot_adjust_is_dropped_with_the_reason(self, tmp_path):
        gap = ROWS.replace("100.0,1000\n2021-01-06", ",1000\n2021-01-06")  # no Adj Close on 2021-01-05
        path = _long(tmp_path, {"A": ROWS, "B": PLAIN, "C": gap})
        with pytest.warns(DataWarning):
            universe = load_universe(path, adjust=True)
        assert universe.symbols == ["A", "B"]
        assert universe.refused["C"] == (f"{path}:C: 1 row(s) have no positive Adj Close, e.g. on 2021-01-05. Fill "
                                         "them, or set data.adjust = \"none\".")

    def test_a_folder_adjusts_each_file_and_drops_one_without_adj_close(self, tmp_path):
        folder = tmp_path / "f"
        folder.mkdir()
        (folder / "A.csv").write_text(ROWS)
        (folder / "B.csv").write_text(PLAIN)
        (folder / "C.csv").write_text("\n".join(",".join(line.split(",")[:5] + line.split(",")[6:])
                                                for line in ROWS.splitlines()) + "\n")
        with pytest.warns(DataWarning):
            universe = load_universe(folder, adjust=True)
        assert universe.symbols == ["A", "B"]
        assert universe.field("close")["A"].iloc[0] == pytest.approx(100 * 100 / 102)
        assert 'data.adjust = "adjusted" needs an Adj Close column' in universe.refused["C"]

    def test_a_wide_file_has_no_adj_close_and_is_refused(self, tmp_path):
        path = tmp_path / "wide.csv"
        path.write_text("Date,A,B\n2021-01-04,100,50\n2021-01-05,101,51\n")
        with pytest.raises(DataError, match=r'wide.csv: data.adjust = "adjusted" needs each stock\'s Adj Close, and a '
                                            r"wide file holds one price per stock and day\. Give a long file"):
            load_universe(path, adjust=True)
