import warnings

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import DataSection
from backtest.core.errors import DataError
from backtest.data.load import DataWarning, check_prices, load_prices
from tests.conftest import SHARED_DATA, synthetic_prices, write_yahoo_csv


def test_clean_prices_pass_unchanged(prices):
    out = check_prices(prices)
    pd.testing.assert_frame_equal(out, prices, check_freq=False)


def test_missing_columns_named():
    with pytest.raises(DataError, match=r"missing column\(s\) high, low. Found \['open', 'close'\]"):
        check_prices(pd.DataFrame({"open": [1.0], "close": [1.0]}, index=pd.to_datetime(["2020-01-01"])))


def test_partial_nan_refused_with_date(prices):
    prices.iloc[10, prices.columns.get_loc("high")] = np.nan
    with pytest.raises(DataError, match=r"1 row\(s\) have missing \(NaN\) values in high, first on 2015-01-15"):
        check_prices(prices)


def test_all_empty_rows_dropped_with_warning(prices):
    prices.iloc[10, :4] = np.nan
    with pytest.warns(DataWarning, match=r"dropped 1 row\(s\) with no prices"):
        out = check_prices(prices)
    assert len(out) == len(prices) - 1


def test_unsorted_rows_sorted_with_warning(prices):
    with pytest.warns(DataWarning, match="not in date order; sorted"):
        out = check_prices(prices.iloc[::-1])
    assert out.index.is_monotonic_increasing


def test_conflicting_duplicates_refused(prices):
    dup = prices.iloc[[5]].copy()
    dup["close"] *= 1.01
    dup[["high"]] = dup[["close"]].to_numpy() * 1.02
    with pytest.raises(DataError, match=r"1 date\(s\) appear more than once with different prices: 2015-01-08"):
        check_prices(pd.concat([prices, dup]).sort_index())


def test_identical_duplicates_dropped_with_warning(prices):
    with pytest.warns(DataWarning, match=r"dropped 1 exact duplicate row"):
        out = check_prices(pd.concat([prices, prices.iloc[[5]]]).sort_index())
    assert len(out) == len(prices)


def test_non_positive_prices_refused_with_start_fix(prices):
    prices.iloc[:3, prices.columns.get_loc("open")] = 0.0
    with pytest.raises(DataError, match=r"3 row\(s\) have zero or negative open between 2015-01-01 and "
                                        r"2015-01-05.*--set data.start=2015-01-06"):
        check_prices(prices)


def test_holiday_filler_rows_dropped(prices):
    prices.iloc[7, :5] = [100.0, 100.0, 100.0, 100.0, 0.0]
    with pytest.warns(DataWarning, match=r"dropped 1 holiday filler row"):
        out = check_prices(prices)
    assert prices.index[7] not in out.index


def test_csv_yahoo_layout_without_final_newline(tmp_path):
    frame = synthetic_prices(50)
    path = write_yahoo_csv(frame, tmp_path / "p.csv")
    path.write_text(path.read_text().rstrip("\n"))
    out = load_prices(DataSection(source="csv", path=str(path)))
    np.testing.assert_allclose(out["close"].to_numpy(), frame["close"].to_numpy())


def test_csv_tej_layout_and_explicit_mapping(tmp_path):
    frame = synthetic_prices(30).reset_index()
    names = {"date": "mdate", "open": "open_d", "high": "high_d", "low": "low_d", "close": "close_d"}
    tej = frame.rename(columns=names)
    tej.to_csv(tmp_path / "tej.csv", index=False)
    assert len(load_prices(DataSection(source="csv", path=str(tmp_path / "tej.csv")))) == 30
    odd = frame.rename(columns={"date": "Day", "close": "Last"})
    odd.to_csv(tmp_path / "odd.csv", index=False)
    mapping = {"Day": "date", "Last": "close"}
    out = load_prices(DataSection(source="csv", path=str(tmp_path / "odd.csv"), columns=mapping))
    assert len(out) == 30


def test_csv_missing_file():
    with pytest.raises(DataError, match=r"data.path: file 'nope.csv' does not exist"):
        load_prices(DataSection(source="csv", path="nope.csv"))


def test_empty_range():
    with pytest.raises(DataError, match=r"no rows between 2030-01-01 and the end; "
                                        r"the data covers 1999-01-04 to 2018-12-31"):
        load_prices(DataSection(start="2030-01-01"))


def test_sample_source_is_real_sp500():
    out = load_prices(DataSection(start="2011-01-01"))
    assert (out.index[0], out.index[-1], len(out)) == (pd.Timestamp("2011-01-03"), pd.Timestamp("2018-12-31"), 2012)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not beside the checkout")
@pytest.mark.parametrize("name", ["2330_TW_daily.csv", "AAPL_daily.csv", "MSFT_daily.csv", "TSM_daily.csv",
                                  "SPY_daily.csv", "GSPC_daily.csv"])
def test_every_shared_file_loads(name):
    section = DataSection(source="csv", path=str(SHARED_DATA / name),
                          start="1991-05-14" if name.startswith("GSPC") else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        out = load_prices(section)
    assert len(out) > 4000 and out.index.is_monotonic_increasing and (out[["open", "close"]] > 0).all().all()


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not beside the checkout")
def test_tsmc_filler_rows_and_gspc_zero_opens():
    with pytest.warns(DataWarning, match=r"dropped 107 holiday filler row"):
        tw = load_prices(DataSection(source="csv", path=str(SHARED_DATA / "2330_TW_daily.csv")))
    assert len(tw) == 5952 - 107  # 5952 rows in the file
    with pytest.raises(DataError, match=r"zero or negative open between 1962-01-02 and 1982-04-19.*"
                                        r"--set data.start=1982-04-20"):
        load_prices(DataSection(source="csv", path=str(SHARED_DATA / "GSPC_daily.csv"), start="1960-01-01"))


def test_open_close_outside_high_low_refused(prices):
    prices.iloc[20, prices.columns.get_loc("close")] = prices["high"].iloc[20] * 1.1
    with pytest.raises(DataError, match=r"1 row\(s\) have open/close outside \[low, high\], first on 2015-01-29"):
        check_prices(prices)


def test_every_source_of_the_config_table_has_a_reader_and_no_reader_is_unlisted():
    from backtest.core.config import SOURCES
    from backtest.data.load import READERS

    assert list(READERS) == list(SOURCES)
