"""The one vectorbt portfolio of a run (engine.portfolio): fills at the next open or the decision day's close,
and every position sold at the last out-of-sample close paying fee, slippage and tax; by hand on tiny series."""

import dataclasses

import pandas as pd
import pytest

from backtest.core.config import BacktestSection
from backtest.engine.portfolio import fill_dates, holdings, simulate
from backtest.scoring.metrics import trading_table
from tests.scoring.test_metrics import tiny_prices


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
