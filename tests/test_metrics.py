"""Metrics against independent hand computations on tiny named series."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.config import BacktestSection
from backtest.metrics import forecast_errors, forecast_table, trading_table
from backtest.portfolio import simulate


def test_forecast_errors_by_hand():
    actual = np.array([10.0, 11.0, 12.0, 11.0])
    previous = np.array([9.0, 10.0, 11.0, 12.0])
    predicted = np.array([10.5, 10.5, 12.5, 11.5])
    e = forecast_errors(predicted, actual, previous)
    assert e["mse"] == pytest.approx(0.25)
    assert e["rmse"] == pytest.approx(0.5)
    assert e["mae"] == pytest.approx(0.5)
    assert e["mape"] == pytest.approx(100 * np.mean(0.5 / actual))
    # moves: predicted +1.5 +0.5 +1.5 -0.5 ; actual +1 +1 +1 -1 -> all four signs right
    assert e["direction"] == pytest.approx(100.0)
    naive_rmse = math.sqrt(np.mean((actual - previous) ** 2))
    assert e["theil_u"] == pytest.approx(0.5 / naive_rmse)


def test_forecast_errors_empty_is_nan():
    e = forecast_errors(np.array([]), np.array([]), np.array([]))
    assert all(math.isnan(v) for v in e.values())


def test_forecast_table_naive_row_and_per_fold():
    preds = pd.DataFrame({
        "date": pd.bdate_range("2020-01-01", periods=4), "model": "m", "fold": [0, 0, 1, 1],
        "predicted": [10.5, 10.5, 12.5, 11.5], "actual": [10.0, 11.0, 12.0, 11.0], "naive": [9.0, 10.0, 11.0, 12.0],
    })
    pooled = forecast_table(preds).set_index("model")
    assert pooled.loc["naive", "theil_u"] == 1.0 and math.isnan(pooled.loc["naive", "direction"])
    by_fold = forecast_table(preds, by_fold=True)
    assert len(by_fold) == 4 and set(by_fold.fold) == {0, 1}


def tiny_prices():
    idx = pd.bdate_range("2021-01-04", periods=6)
    close = [100.0, 102.0, 101.0, 105.0, 104.0, 108.0]
    open_ = [99.0, 101.0, 103.0, 100.0, 106.0, 103.0]
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + 1, "low": np.minimum(open_, close) - 1,
                         "close": close, "volume": 1.0}, index=idx)


def test_trading_figures_by_hand():
    prices = tiny_prices()
    idx = prices.index
    hold = pd.Series(True, index=idx)
    swing = pd.Series([True, True, False, False, False, False], index=idx)  # decided at closes 0-1, out at 2
    cfg = BacktestSection(init_cash=1000.0, fees=0.01, tax=0.003, slippage=0.0)
    pf = simulate(prices, {"hold": hold, "swing": swing}, start=1, cfg=cfg)
    table = trading_table(pf)

    # hold: buys at open of day 1 (decision at close of day 0), 1% fee, marked at closes 1..5
    size = 1000.0 / (101.0 * 1.01)
    values = np.array([size * c for c in prices.close.iloc[1:]])
    rets = np.diff(np.r_[1000.0, values]) / np.r_[1000.0, values][:-1]
    sharpe = rets.mean() / rets.std(ddof=1) * math.sqrt(252)
    peak = np.maximum.accumulate(values)
    assert table.loc["hold", "total_return"] == pytest.approx(100 * (values[-1] / 1000.0 - 1))
    assert table.loc["hold", "sharpe"] == pytest.approx(sharpe)
    assert table.loc["hold", "max_drawdown"] == pytest.approx(100 * ((values - peak) / peak).min())
    assert table.loc["hold", "trades"] == 1 and table.loc["hold", "exposure"] == pytest.approx(100.0)

    # swing: in at open of day 1, out at open of day 3 (decision at close of day 2); sell pays fee + tax
    cash = size * 100.0 * (1 - 0.01 - 0.003)
    assert table.loc["swing", "end_value"] == pytest.approx(cash)
    assert table.loc["swing", "fees_paid"] == pytest.approx(1000.0 - size * 101.0 + size * 100.0 * 0.013)
    assert table.loc["swing", "win_rate"] == pytest.approx(0.0) and table.loc["swing", "trades"] == 1
    cagr = (cash / 1000.0) ** (252 / 5) - 1
    assert table.loc["swing", "cagr"] == pytest.approx(100 * cagr)


def test_slippage_moves_fills_against_us():
    prices = tiny_prices()
    hold = pd.Series(True, index=prices.index)
    pf = simulate(prices, {"hold": hold}, start=1, cfg=BacktestSection(init_cash=1000.0, fees=0.0, slippage=0.01))
    assert pf.orders.records_readable["Price"].iloc[0] == pytest.approx(101.0 * 1.01)
