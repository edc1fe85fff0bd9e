"""data.adjust: dividend-adjusted (total-return) prices against a dividend worked by hand, and the refusals."""

import pandas as pd
import pytest

from backtest.core.config import DataSection, load_config
from backtest.core.errors import ConfigError, DataError
from backtest.data.adjust import prices_wording
from backtest.data.load import load_prices

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
