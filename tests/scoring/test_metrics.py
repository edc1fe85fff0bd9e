"""Metrics against independent hand computations on tiny named series."""

import math

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import BacktestSection
from backtest.engine.portfolio import holdings, simulate
from backtest.scoring.metrics import (
    directional_accuracy,
    equity_figures,
    forecast_errors,
    forecast_table,
    trading_table,
)


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
    states = {"hold": hold, "swing": swing}
    pf = simulate(prices, states, start=1, cfg=cfg)
    table = trading_table(pf, holdings(states, 1))

    # hold: buys at open of day 1 (decision at close of day 0), 1% fee, marked at closes 1..4, and sold at
    # the last close (day 5) paying the 1% fee and the 0.3% tax
    size = 1000.0 / (101.0 * 1.01)
    values = np.array([size * c for c in prices.close.iloc[1:]])
    values[-1] *= 1 - 0.013
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


def test_theil_u_by_hand_when_naive_rmse_is_not_one():
    # naive errors 1, 2, -1 (RMSE sqrt 2); model errors 0.5, -1, 0.5 (RMSE sqrt 0.5): U = 0.5
    e = forecast_errors(np.array([10.5, 11.0, 11.5]), np.array([10.0, 12.0, 11.0]), np.array([9.0, 10.0, 12.0]))
    assert e["theil_u"] == pytest.approx(0.5) and e["n"] == 3


def test_theil_u_is_nan_when_naive_is_perfect():
    e = forecast_errors(np.array([10.5, 11.0]), np.array([10.0, 11.0]), np.array([10.0, 11.0]))
    assert math.isnan(e["theil_u"]) and e["rmse"] == pytest.approx(math.sqrt(0.125))


def test_empty_errors_have_the_same_keys():
    full = forecast_errors(np.array([1.0]), np.array([1.0]), np.array([2.0]))
    assert set(forecast_errors(np.array([]), np.array([]), np.array([]))) == set(full)


def test_directional_accuracy_of_one_day_and_of_none():
    assert directional_accuracy(np.array([11.0]), np.array([12.0]), np.array([10.0])) == 1.0
    assert directional_accuracy(np.array([9.0]), np.array([12.0]), np.array([10.0])) == 0.0
    assert math.isnan(directional_accuracy(np.array([]), np.array([]), np.array([])))


def test_forecast_table_keeps_model_order_and_integer_counts():
    preds = pd.DataFrame({
        "date": list(pd.bdate_range("2020-01-01", periods=2)) * 2, "model": ["zeta", "zeta", "alpha", "alpha"],
        "fold": 0, "predicted": [10.0, 11.0, 10.5, 10.5], "actual": [10.0, 11.0, 10.0, 11.0], "naive": [9.0, 10.0] * 2,
    })
    pooled = forecast_table(preds)
    assert list(pooled["model"]) == ["naive", "zeta", "alpha"] and "fold" not in pooled
    assert pooled["n"].dtype.kind == "i" and list(pooled["n"]) == [2, 2, 2]
    assert pooled.set_index("model").loc["zeta", "rmse"] == 0.0


def test_trading_risk_figures_by_hand():
    prices = tiny_prices()
    idx = prices.index
    hold = pd.Series(True, index=idx)
    win = pd.Series([False, False, True, True, False, False], index=idx)  # in at open 3 (100), out at open 5 (103)
    cfg = BacktestSection(init_cash=1000.0, fees=0.0, tax=0.0, slippage=0.0)
    table = trading_table(simulate(prices, {"hold": hold, "win": win}, start=1, cfg=cfg))
    assert table.index.name == "strategy"

    size = 1000.0 / 101.0
    values = np.array([size * c for c in prices.close.iloc[1:]])
    rets = np.diff(np.r_[1000.0, values]) / np.r_[1000.0, values][:-1]
    assert table.loc["hold", "volatility"] == pytest.approx(100 * rets.std(ddof=1) * math.sqrt(252))
    downside = math.sqrt(np.mean(np.minimum(rets, 0.0) ** 2))
    assert table.loc["hold", "sortino"] == pytest.approx(rets.mean() / downside * math.sqrt(252))
    peak = np.maximum.accumulate(values)
    max_dd = ((values - peak) / peak).min()
    cagr = (values[-1] / 1000.0) ** (252 / 5) - 1
    assert table.loc["hold", "calmar"] == pytest.approx(cagr / abs(max_dd))
    assert table.loc["win", "win_rate"] == pytest.approx(100.0) and table.loc["win", "trades"] == 1
    assert table.loc["win", "end_value"] == pytest.approx(1000.0 / 100.0 * 103.0)
    assert table.loc["win", "exposure"] == pytest.approx(100 * 2 / 5)  # holds after the opens of days 3 and 4


def test_a_one_day_period_annualises_over_one_day():
    prices = tiny_prices()
    hold = pd.Series(True, index=prices.index)
    table = trading_table(simulate(prices, {"hold": hold}, start=5, cfg=BacktestSection(1000.0, 0.0, 0.0, 0.0)))
    assert table.loc["hold", "total_return"] == 0.0  # a position opened on the last day is not opened
    assert table.loc["hold", "cagr"] == 0.0


def test_a_two_day_period_annualises_over_two_days():
    prices = tiny_prices()
    hold = pd.Series(True, index=prices.index)
    table = trading_table(simulate(prices, {"hold": hold}, start=4, cfg=BacktestSection(1000.0, 0.0, 0.0, 0.0)))
    total = 108.0 / 106.0 - 1  # bought at day 4's open, sold at the last (day 5's) close
    assert table.loc["hold", "cagr"] == pytest.approx(100 * ((1 + total) ** (252 / 2) - 1))


def test_ratios_without_a_losing_day_are_missing_not_infinite():
    prices = tiny_prices()
    rising = prices.assign(close=[100.0, 101, 102, 103, 104, 105], open=[100.0, 100.5, 101.5, 102.5, 103.5, 104.5])
    rising["high"], rising["low"] = rising[["open", "close"]].max(axis=1), rising[["open", "close"]].min(axis=1)
    hold = pd.Series(True, index=prices.index)
    table = trading_table(simulate(rising, {"hold": hold}, start=1, cfg=BacktestSection(1000.0, 0.0, 0.0, 0.0)))
    assert np.isfinite(table.select_dtypes("number").to_numpy(dtype=float)[~np.isnan(
        table.select_dtypes("number").to_numpy(dtype=float))]).all()
    assert math.isnan(table.loc["hold", "sortino"]) and math.isnan(table.loc["hold", "calmar"])  # no losing day


def test_a_loss_with_no_variance_has_a_missing_sharpe_not_minus_infinity():
    idx = pd.bdate_range("2021-01-04", periods=6)
    close = [2.0**-t for t in range(6)]  # halves every day, exactly: every daily return is -50 %
    open_ = [1.0, *close[:-1]]
    prices = pd.DataFrame({"open": open_, "high": open_, "low": close, "close": close, "volume": 1.0}, index=idx)
    hold = pd.Series(True, index=idx)
    table = trading_table(simulate(prices, {"hold": hold}, start=1, cfg=BacktestSection(1000.0, 0.0, 0.0, 0.0)))
    assert math.isnan(table.loc["hold", "sharpe"]) and table.loc["hold", "volatility"] == 0.0
    assert table.loc["hold", "total_return"] == pytest.approx(-96.875)


def test_exposure_counts_a_fraction_of_a_share():
    prices = tiny_prices()
    hold = pd.Series([True, True, True, True, False, False], index=prices.index)  # out at day 5's open
    table = trading_table(simulate(prices, {"hold": hold}, start=1, cfg=BacktestSection(50.0, 0.0, 0.0, 0.0)))
    assert table.loc["hold", "exposure"] == pytest.approx(80.0)  # 50 / 101 = 0.495 shares over days 1-4


def test_naive_row_comes_from_the_first_models_days():
    d = pd.bdate_range("2020-01-01", periods=3)
    preds = pd.DataFrame({"date": [d[0], d[1], d[1], d[2]], "model": ["a", "b", "a", "b"], "fold": 0,
                          "predicted": [1.0, 1.0, 1.0, 1.0], "actual": [2.0, 2.0, 2.0, 5.0],
                          "naive": [1.0, 1.0, 1.0, 1.0]})
    naive = forecast_table(preds).set_index("model").loc["naive"]
    assert naive["rmse"] == pytest.approx(1.0) and naive["n"] == 2  # a's days: errors 1, 1 (b's would be 1, 4)


def test_equity_figures_of_a_named_curve_by_hand():
    """Equity 110, 99, 121 from 100 the day before: returns +10 %, -10 %, +22.2 %; total +21 %; the
    drawdown is 110 -> 99, -10 %; annualised with 252 days."""
    equity = pd.DataFrame({"a": [110.0, 99.0, 121.0], "flat": [50.0, 50.0, 50.0]},
                          index=pd.bdate_range("2020-01-06", periods=3))
    table = equity_figures(equity, pd.Series({"a": 100.0, "flat": 50.0}))
    r = np.array([0.10, -0.10, 121 / 99 - 1])
    a = table.loc["a"]
    assert a["total_return"] == pytest.approx(21.0)
    assert a["cagr"] == pytest.approx(100 * (1.21 ** (252 / 3) - 1))
    assert a["max_drawdown"] == pytest.approx(-10.0)
    assert a["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert a["volatility"] == pytest.approx(100 * r.std(ddof=1) * np.sqrt(252))
    assert a["calmar"] == pytest.approx((1.21 ** (252 / 3) - 1) / 0.10)
    flat = table.loc["flat"]
    assert flat["total_return"] == 0.0 and flat["max_drawdown"] == 0.0
    assert np.isnan(flat["calmar"])  # no drawdown: no Calmar ratio, not infinity
    assert not np.isinf(table.to_numpy(dtype=float)).any()
    steady = equity_figures(pd.DataFrame({"up": [110.0, 121.0, 133.1]}, index=equity.index), pd.Series({"up": 100.0}))
    assert np.isnan(steady.loc["up", "sortino"])  # no losing day: vectorbt's infinite Sortino is shown as missing
    assert steady["sortino"].dtype == float


def test_scaled_errors_are_price_errors_in_the_scalers_unit():
    from backtest.scoring.metrics import scaled_table

    table = pd.DataFrame({"model": ["naive", "gru"], "rmse": [2.0, 4.0], "mse": [4.0, 16.0], "mae": [1.0, 3.0],
                          "theil_u": [1.0, 2.0], "n": [10, 10]})
    out = scaled_table(table, 4.0).set_index("model")
    assert out.loc["naive", ["rmse_scaled", "mse_scaled", "mae_scaled"]].tolist() == [0.5, 0.25, 0.25]
    assert out.loc["gru", ["rmse_scaled", "mse_scaled", "theil_u"]].tolist() == [1.0, 1.0, 2.0]
    assert scaled_table(table, 0.0)["rmse_scaled"].isna().all()
