"""Price series the checks refuse or name: bars that are not daily, gaps of months, splits, intraday bars."""

import warnings

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import DataSection
from backtest.core.errors import DataError, DataWarning
from backtest.data.load import check_prices, load_prices
from tests.conftest import SHARED_DATA, synthetic_prices


def test_weekly_bars_are_refused():
    weekly = synthetic_prices(200).iloc[::5]
    with pytest.raises(DataError, match=r"the bars are 7 calendar days apart \(median\): weekly bars, but wfbt "
                                        r"needs daily bars"):
        check_prices(weekly, "w.csv")
    monthly = synthetic_prices(600).iloc[::21]
    with pytest.raises(DataError, match="monthly bars"):
        check_prices(monthly, "m.csv")


def test_a_gap_of_months_is_refused_naming_both_sides():
    prices = synthetic_prices(400)
    holed = prices.drop(prices.index[100:160])  # 12 weeks missing
    first, after = holed.index[99].date(), holed.index[100].date()
    with pytest.raises(DataError, match=rf"no rows from {first} to {after} \(85 days; 1 gap\(s\) over 31 days in "
                                        rf"all\).*--set data.start={after} or --set data.end={first}"):
        check_prices(holed, "g.csv")


def test_the_shared_price_files_have_no_such_gap():
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        for path in sorted(SHARED_DATA.glob("*.csv")):
            assert len(load_prices(DataSection(source="csv", path=str(path), start="1990-01-01"))) > 1000


def test_an_overnight_halving_is_named_as_a_possible_split():
    prices = synthetic_prices(300)
    prices.iloc[:150, :4] *= 7  # a 7-for-1 split the file was not adjusted for
    with pytest.warns(DataWarning, match=r"on \d{4}-\d\d-\d\d \(1 such overnight jump\(s\) of more than 2x\): a "
                                         "stock split not adjusted for"):
        check_prices(prices, "s.csv")


def test_intraday_bars_are_named_as_intraday():
    days = pd.bdate_range("2020-01-01", periods=30)
    rows = synthetic_prices(30 * 7)
    rows.index = np.repeat(days, 7)
    with pytest.raises(DataError, match="these look like intraday bars. wfbt needs one row per trading day: resample"):
        check_prices(rows, "h.csv")
