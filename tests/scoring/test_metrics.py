"""Metrics against independent hand computations on tiny named series."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import BacktestSection
from backtest.engine.portfolio import fill_dates, holdings, simulate
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


def test_same_close_execution_fills_at_the_decision_days_close():
    prices = tiny_prices()
    swing = pd.Series([True, True, False, False, False, False], index=prices.index)
    cfg = BacktestSection(init_cash=1000.0, fees=0.01, tax=0.003, slippage=0.0, execution="close")
    pf = simulate(prices, {"swing": swing}, start=1, cfg=cfg)
    orders = pf.orders.records_readable
    assert list(orders["Price"]) == [100.0, 101.0]  # bought at close 0, sold at close 2
    assert list(orders["Timestamp"]) == [prices.index[1], prices.index[3]]  # the days they open and end
    rows = orders.rename(columns={"Column": "strategy", "Timestamp": "date", "Side": "side"})
    filled = fill_dates(rows, prices.index, pd.Series({"swing": False}), "close")
    assert list(filled) == [prices.index[0], prices.index[2]]
    size = 1000.0 / (100.0 * 1.01)
    assert float(pf.final_value().iloc[0]) == pytest.approx(size * 101.0 * (1 - 0.013))
    assert pf.wrapper.index.equals(prices.index[1:])  # exactly the out-of-sample days


def test_next_open_never_fills_before_the_first_decision():
    prices = tiny_prices()
    hold = pd.Series(True, index=prices.index)
    pf = simulate(prices, {"hold": hold}, start=0, cfg=BacktestSection(1000.0, 0.0, 0.0, 0.0))
    first = pf.orders.records_readable.iloc[0]
    assert first["Timestamp"] == prices.index[1] and first["Price"] == 101.0  # decided at close 0, filled at open 1


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


# Costs to the last day: every position still held on the last out-of-sample day is sold at its close.
# tiny_prices: open 99 101 103 100 106 103, close 100 102 101 105 104 108; out of sample from day 1.
LAST_DAY_COSTS = BacktestSection(init_cash=1000.0, fees=0.01, tax=0.003, slippage=0.002)
FIRST_FILL = {"next_open": 101.0, "close": 100.0}  # day 1's open, or day 0's close (the decision day's)


def _closing_value(buy_price: float, cfg: BacktestSection = LAST_DAY_COSTS) -> tuple[float, float]:
    """Shares bought with all the cash at ``buy_price`` (plus slippage and fee), and their value when sold
    at the last close (108) less slippage, fee and tax."""
    shares = cfg.init_cash / (buy_price * (1 + cfg.slippage) * (1 + cfg.fees))
    return shares, shares * 108.0 * (1 - cfg.slippage) * (1 - cfg.fees - cfg.tax)


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_buy_and_hold_is_sold_at_the_last_close_paying_fee_slippage_and_tax(execution):
    prices = tiny_prices()
    cfg = dataclasses.replace(LAST_DAY_COSTS, execution=execution)
    pf = simulate(prices, {"buy_and_hold": pd.Series(True, index=prices.index)}, start=1, cfg=cfg)
    shares, value = _closing_value(FIRST_FILL[execution])
    assert float(pf.final_value().iloc[0]) == pytest.approx(value, rel=1e-12)
    assert float(pf.value().iloc[-1, 0]) == pytest.approx(value, rel=1e-12) and pf.assets().iloc[-1, 0] == 0.0
    sell = pf.orders.records_readable.iloc[-1]
    assert sell["Side"] == "Sell" and sell["Timestamp"] == prices.index[-1] and sell["Size"] == pytest.approx(shares)
    assert sell["Price"] == pytest.approx(108.0 * (1 - 0.002))
    assert sell["Fees"] == pytest.approx(shares * 108.0 * (1 - 0.002) * 0.013)  # fee + tax on the proceeds


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_a_strategy_holding_on_the_last_day_is_sold_at_its_close(execution):
    prices = tiny_prices()
    late = pd.Series([False, False, True, True, True, True], index=prices.index)  # decided at close 2: held from day 3
    cfg = dataclasses.replace(LAST_DAY_COSTS, execution=execution)
    pf = simulate(prices, {"late": late}, start=1, cfg=cfg)
    buy = {"next_open": 100.0, "close": 101.0}[execution]  # day 3's open, or day 2's close
    shares, value = _closing_value(buy)
    assert float(pf.final_value().iloc[0]) == pytest.approx(value, rel=1e-12)
    orders = pf.orders.records_readable
    assert list(orders["Side"]) == ["Buy", "Sell"] and orders["Price"].iloc[1] == pytest.approx(108.0 * 0.998)


@pytest.mark.parametrize(("execution", "exit_price"), [("next_open", 103.0), ("close", 104.0)])
def test_a_rule_exit_on_the_last_day_leaves_nothing_to_close(execution, exit_price):
    prices = tiny_prices()
    out = pd.Series([True, True, True, True, False, False], index=prices.index)  # decided flat at close 4
    cfg = dataclasses.replace(LAST_DAY_COSTS, execution=execution)
    pf = simulate(prices, {"out": out}, start=1, cfg=cfg)
    orders = pf.orders.records_readable
    assert list(orders["Side"]) == ["Buy", "Sell"]  # one sell, at day 5's open or day 4's close, not at 108
    assert orders["Price"].iloc[1] == pytest.approx(exit_price * 0.998)
    shares = 1000.0 / (FIRST_FILL[execution] * 1.002 * 1.01)
    assert float(pf.final_value().iloc[0]) == pytest.approx(shares * exit_price * 0.998 * (1 - 0.013), rel=1e-12)


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_a_position_the_rule_would_open_on_the_last_day_is_not_opened(execution):
    prices = tiny_prices()
    last = pd.Series([False, False, False, False, True, True], index=prices.index)  # decided long at close 4
    cfg = dataclasses.replace(LAST_DAY_COSTS, execution=execution)
    states = {"last": last, "buy_and_hold": pd.Series(True, index=prices.index)}
    pf = simulate(prices, states, start=1, cfg=cfg)
    assert float(pf.final_value()["last"]) == 1000.0
    assert "last" not in set(pf.orders.records_readable["Column"])
    assert not holdings(states, 1)["last"].any() and holdings(states, 1)["buy_and_hold"].all()
    table = trading_table(pf, holdings(states, 1))
    assert table.loc["last", "exposure"] == 0.0 and table.loc["buy_and_hold", "exposure"] == 100.0


def test_a_one_day_period_opens_no_position():
    prices = tiny_prices()
    pf = simulate(prices, {"buy_and_hold": pd.Series(True, index=prices.index)}, start=5, cfg=LAST_DAY_COSTS)
    assert pf.orders.count().iloc[0] == 0 and float(pf.final_value().iloc[0]) == 1000.0
    held = holdings({"buy_and_hold": pd.Series(True, index=prices.index)}, 5)  # nothing carried into the one day
    assert held["buy_and_hold"].tolist() == [False] and held["buy_and_hold"].dtype == bool


def test_close_execution_dates_each_fill_by_the_close_it_filled_at():
    prices = tiny_prices()
    states = {"hold": pd.Series(True, index=prices.index),
              "out": pd.Series([True, True, True, True, False, False], index=prices.index)}
    cfg = dataclasses.replace(LAST_DAY_COSTS, execution="close")
    pf = simulate(prices, states, start=1, cfg=cfg)
    rows = pf.orders.records_readable.rename(columns={"Column": "strategy", "Timestamp": "date", "Side": "side"})
    filled = fill_dates(rows, prices.index, holdings(states, 1).iloc[-1], "close")
    idx = prices.index
    assert list(zip(rows["strategy"], filled, strict=True)) == [  # hold sold at the last close; out at close 4
        ("hold", idx[0]), ("hold", idx[5]), ("out", idx[0]), ("out", idx[4])]
    assert fill_dates(rows, idx, holdings(states, 1).iloc[-1], "next_open").equals(rows["date"])


def test_fill_dates_keep_the_orders_rows_and_read_a_column_missing_from_closed_as_not_closed():
    """``closed`` without a column: its last-row order is a rule's (filled at the close before), not a closing
    sell; the dates come back on the orders' own index (a filtered, reversed order table here)."""
    idx = tiny_prices().index
    orders = pd.DataFrame({"strategy": ["a", "b", "a"], "date": [idx[5], idx[5], idx[2]]}, index=[7, 4, 2])
    filled = fill_dates(orders, idx, pd.Series({"a": True}), "close")
    assert filled.index.tolist() == [7, 4, 2]
    assert filled.tolist() == [idx[5], idx[4], idx[1]]  # a's closing sell at the last close; b's at close 4
