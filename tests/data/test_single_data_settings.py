"""The data settings of a single-symbol run, each set through load_prices (as ``engine.pipeline.run`` calls it) and
shown changing the prices the run gets.

The file: 60 seeded business days from 2015-01-01 (``synthetic_prices``), Yahoo's layout; yfinance is the
recorded-shape stand-in of tests/data/conftest.py, whose Adj Close is 0.98 x the close.
"""

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import load_config
from backtest.data.load import load_prices
from tests.conftest import synthetic_prices, write_yahoo_csv
from tests.data.conftest import yahoo_adjusted, yahoo_frame


@pytest.fixture
def csv(tmp_path):  # type: ignore[no-untyped-def]
    return write_yahoo_csv(synthetic_prices(60), tmp_path / "p.csv")


def _prices(*sets: str) -> pd.DataFrame:
    return load_prices(load_config(None, list(sets)).data)


def test_data_start_is_the_first_day_and_data_end_the_first_day_left_out(csv):
    whole = _prices("data.source='csv'", f"data.path={str(csv)!r}")
    cut = _prices("data.source='csv'", f"data.path={str(csv)!r}", "data.start='2015-01-12'", "data.end='2015-02-20'")
    assert (whole.index[0], whole.index[-1]) == (pd.Timestamp("2015-01-01"), pd.Timestamp("2015-03-25"))
    assert (cut.index[0], cut.index[-1]) == (pd.Timestamp("2015-01-12"), pd.Timestamp("2015-02-19"))
    assert len(cut) == 29  # the business days 12 Jan .. 19 Feb: data.end is exclusive
    pd.testing.assert_frame_equal(cut, whole.loc["2015-01-12":"2015-02-19"])


def test_data_columns_maps_a_files_own_names(tmp_path):
    frame = synthetic_prices(30)
    mid = (frame["low"] + frame["high"]) / 2
    odd = frame.assign(Last=mid).rename(columns={"close": "Settle"}).rename_axis("Day").reset_index()
    odd.to_csv(tmp_path / "odd.csv", index=False)  # two candidates for the close: Settle and Last (the bar's mid)
    sets = ["data.source='csv'", f"data.path={str(tmp_path / 'odd.csv')!r}"]
    settle = _prices(*sets, "data.columns={Day='date', Settle='close'}")
    last = _prices(*sets, "data.columns={Day='date', Last='close'}")
    np.testing.assert_allclose(settle["close"].to_numpy(), frame["close"].to_numpy())
    np.testing.assert_allclose(last["close"].to_numpy(), mid.to_numpy())
    assert not np.allclose(mid.to_numpy(), frame["close"].to_numpy())


def test_data_adjusted_downloads_yahoos_adjusted_bars(monkeypatch):
    import yfinance

    def download(tickers, **kwargs):  # Yahoo's auto_adjust: every price scaled by Adj Close / Close
        frame = yahoo_frame([tickers] if isinstance(tickers, str) else list(tickers))
        if kwargs.get("auto_adjust"):
            frame = yahoo_adjusted(frame)
        return frame

    monkeypatch.setattr(yfinance, "download", download)
    sets = ["data.source='yfinance'", "data.symbol='AAPL'", "data.start='2015-01-01'"]
    traded, adjusted = _prices(*sets), _prices(*sets, "data.adjusted=true")
    np.testing.assert_allclose(adjusted[["open", "close"]].to_numpy(), traded[["open", "close"]].to_numpy() * 0.98)
