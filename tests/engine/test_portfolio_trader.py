"""Direction, sizing and stops in the one vectorbt portfolio (engine.portfolio.simulate_trader), by hand on tiny
named series: a falling one for shorts and borrow, tiny_prices (rising with swings) for flips, sizes and stops."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import BacktestSection
from backtest.engine.portfolio import (
    held_after_stops,
    held_positions,
    holdings,
    simulate,
    simulate_trader,
    trader_stops,
)
from strategies.signals import strategy_positions, strategy_states
from tests.conftest import synthetic_prices, tiny_config
from tests.scoring.test_metrics import tiny_prices

NO_STOPS = trader_stops(None, None, None)
COSTS = BacktestSection(init_cash=1000.0, fees=0.01, tax=0.003, slippage=0.002, borrow=0.0)


def falling_prices():
    """close 100, 98, ..., 90; open one above the close, high one above the open, low one below the close."""
    close = np.array([100.0, 98, 96, 94, 92, 90])
    return pd.DataFrame({"open": close + 1, "high": close + 2, "low": close - 1, "close": close, "volume": 1.0},
                        index=pd.bdate_range("2021-01-04", periods=6))


def constant(value, prices):
    return pd.Series(value, index=prices.index)


def value(pf):
    """The first strategy's equity by day (vectorbt returns a Series for one group)."""
    return pf.value().to_numpy().reshape(len(pf.wrapper.index), -1)[:, 0]


def orders(pf):
    rec = pf.orders.records_readable
    return list(zip([c[1] for c in rec["Column"]], rec["Side"], rec["Price"].round(6), strict=True)), rec


def test_a_short_on_a_falling_series_pays_fee_tax_on_the_sale_and_a_daily_borrow():
    prices = falling_prices()
    cfg = dataclasses.replace(COSTS, borrow=0.252)  # 0.1 % a day
    pf = simulate_trader(prices, {"s": constant(-1, prices)}, {"s": constant(0.5, prices)}, 1, cfg, NO_STOPS)
    sold_at, covered_at = 99 * (1 - 0.002), 90 * 1.001**4 * (1 + 0.002)  # day 1's open; the last close, 4 days later
    shares = 0.5 * 1000 / (sold_at * (1 + 0.01 + 0.003))  # half the cash; the sale pays fee and tax
    got, rec = orders(pf)
    assert got == [("short", "Sell", round(sold_at, 6)), ("short", "Buy", round(covered_at, 6))]
    assert rec["Size"].tolist() == pytest.approx([shares, shares], rel=1e-12)
    assert rec["Fees"].tolist() == pytest.approx([shares * sold_at * 0.013, shares * covered_at * 0.01], rel=1e-12)
    end = 1000 + shares * sold_at * (1 - 0.013) - shares * covered_at * 1.01
    assert value(pf)[-1] == pytest.approx(end, rel=1e-12)
    day_2 = 1000 + shares * sold_at * (1 - 0.013) - shares * 96 * 1.001  # marked at close 2 plus a day of borrow
    assert value(pf)[1] == pytest.approx(day_2, rel=1e-12)


def test_borrow_zero_leaves_the_short_leg_at_market_prices():
    prices = falling_prices()
    pf = simulate_trader(prices, {"s": constant(-1, prices)}, {"s": constant(1.0, prices)}, 1, COSTS, NO_STOPS)
    got, _ = orders(pf)
    assert got == [("short", "Sell", round(99 * 0.998, 6)), ("short", "Buy", round(90 * 1.002, 6))]


def test_a_flip_closes_one_side_and_opens_the_other_at_the_same_open_with_its_cash():
    prices = tiny_prices()  # open 99 101 103 100 106 103, close 100 102 101 105 104 108
    pos = {"x": pd.Series([0, 1, 1, -1, -1, 0], index=prices.index)}  # long over days 2-3, short over 4-5
    pf = simulate_trader(prices, pos, {"x": constant(1.0, prices)}, 1, COSTS, NO_STOPS)
    got, rec = orders(pf)
    assert got == [("long", "Buy", 103 * 1.002), ("long", "Sell", round(106 * 0.998, 6)),
                   ("short", "Sell", round(106 * 0.998, 6)), ("short", "Buy", 108 * 1.002)]
    long_shares = 1000 / (103 * 1.002 * 1.01)
    cash = long_shares * 106 * 0.998 * (1 - 0.013)  # the long sold (fee and tax), first: its cash opens the short
    short_shares = cash / (106 * 0.998 * 1.013)
    assert rec["Size"].tolist() == pytest.approx([long_shares, long_shares, short_shares, short_shares], rel=1e-12)
    end = cash + short_shares * 106 * 0.998 * (1 - 0.013) - short_shares * 108 * 1.002 * 1.01
    assert value(pf)[-1] == pytest.approx(end, rel=1e-12) and round(end, 2) == 956.01  # docs/trading.md's example


def test_a_flip_from_short_to_long_covers_first():
    prices = tiny_prices()
    pos = {"x": pd.Series([-1, -1, 1, 1, 1, 1], index=prices.index)}
    pf = simulate_trader(prices, pos, {"x": constant(1.0, prices)}, 1, COSTS, NO_STOPS)
    _, rec = orders(pf)
    short_shares = 1000 / (101 * 0.998 * 1.013)
    cash = 1000 + short_shares * 101 * 0.998 * (1 - 0.013) - short_shares * 100 * 1.002 * 1.01  # covered at open 3
    assert rec["Size"].iloc[2] == pytest.approx(cash / (100 * 1.002 * 1.01), rel=1e-12)  # bought with what is left


def test_a_fixed_fraction_buys_that_share_and_keeps_its_shares_while_the_size_changes():
    prices = tiny_prices()
    sizes = pd.Series([0.25, 0.9, 0.9, 0.1, 0.1, 0.1], index=prices.index)  # only day 0's (the decision) counts
    pf = simulate_trader(prices, {"x": constant(1, prices)}, {"x": sizes}, 1, COSTS, NO_STOPS)
    _, rec = orders(pf)
    shares = 0.25 * 1000 / (101 * 1.002 * 1.01)
    assert rec["Size"].tolist() == pytest.approx([shares, shares], rel=1e-12)  # no resizing while held
    end = 1000 - shares * 101 * 1.002 * 1.01 + shares * 108 * 0.998 * (1 - 0.013)
    assert value(pf)[-1] == pytest.approx(end, rel=1e-12)


def test_a_long_all_in_is_the_same_portfolio_as_today():
    prices = synthetic_prices(300)
    cfg = tiny_config().strategies
    fc = {"m": prices["close"] * (1 + 0.002 * np.sin(np.arange(300)))}
    states = strategy_states(prices["close"], fc, cfg)
    positions = strategy_positions(prices["close"], fc, cfg)
    bt = BacktestSection(fees=0.001, tax=0.003, slippage=0.0005)
    old = simulate(prices, states, 100, bt)
    new = simulate_trader(prices, positions, {k: constant(1.0, prices) for k in positions}, 100, bt, NO_STOPS)
    pd.testing.assert_frame_equal(new.value(), old.value(), rtol=1e-9, check_names=False)
    assert new.orders.count().tolist() == old.orders.count().tolist()
    held = held_after_stops(new, held_positions(positions, 100))
    pd.testing.assert_frame_equal(held, holdings(states, 100))


# ---- stops: tiny_prices, high = max(open, close) + 1, low = min(open, close) - 1 ---------------------------------
# day:   0    1    2    3    4    5
# open  99  101  103  100  106  103
# high 101  103  104  106  107  109
# low   98  100  100   99  103  102

def _long_from_day_1(stops, pos=None, cfg=COSTS):
    prices = tiny_prices()
    pos = {"x": constant(1, prices) if pos is None else pd.Series(pos, index=prices.index)}
    pf = simulate_trader(prices, pos, {"x": constant(1.0, prices)}, 1, cfg, stops)
    return pf, pos


def test_a_stop_loss_exits_at_its_level_less_slippage_paying_fee_and_tax():
    pf, pos = _long_from_day_1(trader_stops(0.01, None, None))  # from 101 (the order price): 99.99
    got, rec = orders(pf)
    assert got == [("long", "Buy", 101 * 1.002), ("long", "Sell", round(99.99 * 0.998, 6))]  # day 3's low 99
    assert rec["Timestamp"].iloc[1] == tiny_prices().index[3]  # not day 2: its low 100 is above the stop
    assert rec["Fees"].iloc[1] == pytest.approx(rec["Size"].iloc[1] * 99.99 * 0.998 * 0.013)
    held = held_after_stops(pf, held_positions(pos, 1))
    assert held["x"].tolist() == [True, True, True, False, False]  # the rule still says long: no new entry


def test_a_stop_is_not_checked_on_the_entry_day():
    pf, _ = _long_from_day_1(trader_stops(0.005, None, None))  # 100.495: day 1's own low is 100
    _, rec = orders(pf)
    assert rec["Timestamp"].iloc[1] == tiny_prices().index[2]  # the first check is day 2 (low 100)


def test_an_open_through_the_stop_exits_at_the_open():
    prices = tiny_prices()
    pos = {"x": pd.Series([0, 1, 1, 1, 1, 1], index=prices.index)}  # bought at day 2's open 103
    pf = simulate_trader(prices, pos, {"x": constant(1.0, prices)}, 1, COSTS, trader_stops(0.02, None, None))
    got, _ = orders(pf)
    assert got[1] == ("long", "Sell", round(100 * 0.998, 6))  # stop 100.94; day 3 opens at 100


def test_a_take_profit_exits_at_its_level():
    pf, _ = _long_from_day_1(trader_stops(None, 0.04, None))  # 101 * 1.04 = 105.04; day 3's high is 106
    got, rec = orders(pf)
    assert got[1] == ("long", "Sell", round(105.04 * 0.998, 6)) and rec["Timestamp"].iloc[1] == tiny_prices().index[3]


def test_a_trailing_stop_follows_the_highs_after_the_entry():
    # from 101: day 2 checks 97.97, then its high 104 lifts the stop to 100.88; day 3 opens at 100, below it
    pf, _ = _long_from_day_1(trader_stops(None, None, 0.03))
    got, rec = orders(pf)
    assert got[1] == ("long", "Sell", round(100 * 0.998, 6)) and rec["Timestamp"].iloc[1] == tiny_prices().index[3]
    fixed, _ = _long_from_day_1(trader_stops(0.03, None, None))  # the same distance not trailing: never hit
    assert orders(fixed)[0][1] == ("long", "Sell", round(108 * 0.998, 6))


def test_a_short_stop_loss_is_above_the_entry_and_pays_slippage_on_the_cover():
    pf, _ = _long_from_day_1(trader_stops(0.02, None, None), pos=[-1] * 6)  # 101 * 1.02 = 103.02; day 2 high 104
    got, rec = orders(pf)
    assert got == [("short", "Sell", round(101 * 0.998, 6)), ("short", "Buy", round(103.02 * 1.002, 6))]
    assert rec["Fees"].iloc[1] == pytest.approx(rec["Size"].iloc[1] * 103.02 * 1.002 * 0.01)  # no tax on a buy


def test_a_short_take_profit_is_below_the_entry():
    prices = falling_prices()  # short from day 1's open 99: 5 % below is 94.05; day 3's low is 93
    pf = simulate_trader(prices, {"s": constant(-1, prices)}, {"s": constant(1.0, prices)}, 1, COSTS,
                         trader_stops(None, 0.05, None))
    got, rec = orders(pf)
    assert got[1] == ("short", "Buy", round(94.05 * 1.002, 6)) and rec["Timestamp"].iloc[1] == prices.index[3]


def test_a_rule_exit_at_the_open_is_not_overtaken_by_a_stop_later_that_day():
    pf, _ = _long_from_day_1(trader_stops(0.01, None, None), pos=[1, 1, 0, 0, 0, 0])  # rule sells at day 3's open
    got, _ = orders(pf)
    assert got[1] == ("long", "Sell", round(100 * 0.998, 6))  # the open 100, not the stop 99.99 under day 3's low


def test_a_stop_may_fire_on_the_last_day_before_its_closing_sale():
    prices = tiny_prices()
    pos = {"x": pd.Series([0, 0, 0, 1, 1, 1], index=prices.index)}  # bought at day 4's open 106
    pf = simulate_trader(prices, pos, {"x": constant(1.0, prices)}, 1, COSTS, trader_stops(0.02, None, None))
    got, _ = orders(pf)
    assert got[1] == ("long", "Sell", round(103 * 0.998, 6))  # 103.88 stop; day 5 opens at 103: out there


def test_the_benchmark_has_no_stop():
    prices = tiny_prices()
    pf = simulate_trader(prices, {"buy_and_hold": constant(1, prices)}, {"buy_and_hold": constant(1.0, prices)}, 1,
                         COSTS, trader_stops(0.001, 0.001, None))
    assert orders(pf)[0][1] == ("long", "Sell", round(108 * 0.998, 6))


def test_trader_stops_map_the_settings_to_vectorbt():
    assert trader_stops(0.05, 0.1, None) == {"sl_stop": 0.05, "sl_trail": False, "tp_stop": 0.1}
    off = trader_stops(0.0, None, None)
    assert np.isnan(off["sl_stop"]) and np.isnan(off["tp_stop"]) and off["sl_trail"] is False
    assert trader_stops(None, 0.0, 0.07) == {"sl_stop": 0.07, "sl_trail": True, "tp_stop": pytest.approx(np.nan,
                                                                                                      nan_ok=True)}


def test_held_positions_keep_the_last_day_only_for_a_position_carried_with_its_sign():
    idx = tiny_prices().index
    pos = {"flip": pd.Series([1, 1, 1, 1, 1, -1], index=idx), "stay": pd.Series([-1] * 6, index=idx),
           "late": pd.Series([0, 0, 0, 0, 1, 1], index=idx), "swap": pd.Series([0, 0, 0, 1, -1, -1], index=idx)}
    held = held_positions(pos, 1)
    assert held["stay"].tolist() == [-1.0] * 5 and held["flip"].tolist() == [1.0] * 5
    assert held["late"].tolist() == [0.0] * 5 and held["swap"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    one = held_positions({"s": pd.Series([-1] * 6, index=idx)}, 5)
    assert one["s"].tolist() == [0.0]  # nothing carried into a one-day period


def test_a_short_with_same_close_execution_fills_at_the_decision_days_close():
    prices = falling_prices()  # closes 100, 98, 96, 94, 92, 90
    cfg = dataclasses.replace(COSTS, execution="close", borrow=0.252)
    pf = simulate_trader(prices, {"s": constant(-1, prices)}, {"s": constant(1.0, prices)}, 1, cfg, NO_STOPS)
    got, _ = orders(pf)
    assert got == [("short", "Sell", round(100 * 0.998, 6)), ("short", "Buy", round(90 * 1.001**4 * 1.002, 6))]


def test_a_size_of_zero_opens_nothing_and_holds_nothing():
    prices = tiny_prices()
    pos = {"x": constant(1, prices)}
    pf = simulate_trader(prices, pos, {"x": constant(0.0, prices)}, 1, COSTS, NO_STOPS)
    assert pf.orders.count().sum() == 0 and value(pf)[-1] == 1000.0
    assert not held_after_stops(pf, held_positions(pos, 1))["x"].any()


def test_whole_shares_and_a_minimum_fee_hold_for_shorts_and_sizes_too():
    """The trader path honours backtest.whole_shares and min_fee as the long all-in path does: a short of half
    the cash takes whole shares only, and each fill's commission is at least the floor (the tax stays proportional
    on the sale). Once floored, the sale's rate is the tax alone and vectorbt sizes a percent order before its
    fixed fee: floor(500 / (99 * 0.998 * 1.003)) = 5 shares, whose 1 % commission (4.94) is below the floor."""
    prices = falling_prices()
    cfg = dataclasses.replace(COSTS, whole_shares=True, min_fee=5.0)
    pf = simulate_trader(prices, {"s": constant(-1, prices)}, {"s": constant(0.5, prices)}, 1, cfg, NO_STOPS)
    _, rec = orders(pf)
    sold_at, covered_at = 99 * (1 - 0.002), 90 * (1 + 0.002)
    assert rec["Size"].tolist() == [5.0, 5.0] == [np.floor(500 / (sold_at * 1.003))] * 2
    assert rec["Fees"].tolist() == pytest.approx([5.0 + 5 * sold_at * 0.003, 5.0], rel=1e-12)
    assert 5 * sold_at * 0.01 < 5.0 and 5 * covered_at * 0.01 < 5.0  # both commissions were below the floor
