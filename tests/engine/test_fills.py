"""Whole shares (lots) and the minimum commission, on tiny named series checked by hand."""

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import BacktestSection
from backtest.engine.fills import fills_wording
from backtest.engine.portfolio import simulate


def _flat_then(closes: list[float]) -> pd.DataFrame:
    close = pd.Series(closes, index=pd.bdate_range("2021-01-04", periods=len(closes)))
    opens = close.shift(1).fillna(close.iloc[0])  # a fill at the open is at the close before
    return pd.DataFrame({"open": opens, "high": np.maximum(opens, close), "low": np.minimum(opens, close),
                         "close": close, "volume": 1.0})


PRICES = _flat_then([30.0, 30.0, 33.0, 33.0])  # buy at 30 on row 1, sold at the last close, 33
HOLD = {"hold": pd.Series(True, index=PRICES.index)}


def test_fractional_shares_are_the_default():
    orders = simulate(PRICES, HOLD, 1, BacktestSection(init_cash=1000.0, fees=0.0, slippage=0.0)).orders.records
    assert orders["size"].iloc[0] == pytest.approx(1000 / 30)  # 33.33 shares


def test_whole_shares_round_the_all_in_buy_down():
    """1000 cash at 30 with a 1 % fee: 1000 / (30 x 1.01) = 33.0033 shares, so 33 whole shares; 10 left in cash."""
    cfg = BacktestSection(init_cash=1000.0, fees=0.01, slippage=0.0, whole_shares=True)
    pf = simulate(PRICES, HOLD, 1, cfg)
    buy, sell = pf.orders.records.iloc[0], pf.orders.records.iloc[1]
    assert buy["size"] == 33 and buy["fees"] == pytest.approx(0.01 * 33 * 30)
    assert pf.cash().iloc[0, 0] == pytest.approx(1000 - 33 * 30 * 1.01)  # 0.10 of change stays cash
    assert sell["size"] == 33 and pf.final_value().iloc[0] == pytest.approx(1000 - 33 * 30 * 1.01 + 33 * 33 * 0.99)


def test_lots_buy_a_multiple_of_the_lot_size():
    """Taiwan lots of 1000 shares: 100,000 cash at 30 buys 3 lots (3000 shares), not 3333."""
    cfg = BacktestSection(init_cash=100_000.0, fees=0.0, slippage=0.0, whole_shares=True, lot_size=1000)
    assert simulate(PRICES, HOLD, 1, cfg).orders.records["size"].iloc[0] == 3000


def test_the_minimum_fee_is_a_floor_not_an_addition():
    """A 0.1 % fee on 1000 is 1.00 < 5: the buy pays 5, the sell (0.1 % of 1100 = 1.10) pays 5 too.

    With 5 paid out of 1000, the buy takes (1000 - 5) / 30 shares."""
    cfg = BacktestSection(init_cash=1000.0, fees=0.001, slippage=0.0, min_fee=5.0)
    pf = simulate(PRICES, HOLD, 1, cfg)
    buy, sell = pf.orders.records.iloc[0], pf.orders.records.iloc[1]
    assert buy["fees"] == pytest.approx(5.0) and sell["fees"] == pytest.approx(5.0)
    assert buy["size"] == pytest.approx(995 / 30)
    assert pf.final_value().iloc[0] == pytest.approx(995 / 30 * 33 - 5)


def test_a_fill_above_the_floor_pays_its_proportional_fee():
    """With a floor of 5, 1 % of 100,000 (1,000) is well above it: nothing changes."""
    floored = BacktestSection(init_cash=100_000.0, fees=0.01, slippage=0.0, min_fee=5.0)
    plain = BacktestSection(init_cash=100_000.0, fees=0.01, slippage=0.0)
    expected = simulate(PRICES, HOLD, 1, plain).final_value().iloc[0]
    assert simulate(PRICES, HOLD, 1, floored).final_value().iloc[0] == pytest.approx(expected, rel=1e-12)


def test_a_floored_sell_keeps_its_tax():
    """Sell of 995/30 shares at 33 (1094.50): tax 0.3 % = 3.2835 stays; the commission is 5, not 0.1 %."""
    cfg = BacktestSection(init_cash=1000.0, fees=0.001, tax=0.003, slippage=0.0, min_fee=5.0)
    sell = simulate(PRICES, HOLD, 1, cfg).orders.records.iloc[1]
    assert sell["fees"] == pytest.approx(5.0 + 0.003 * 995 / 30 * 33)


@pytest.mark.parametrize(("cfg", "words"), [
    (BacktestSection(), "fills: fractional shares (backtest.whole_shares = false), no minimum fee"),
    (BacktestSection(whole_shares=True), "fills: whole shares, no minimum fee"),
    (BacktestSection(whole_shares=True, lot_size=1000, min_fee=20.0),
     "fills: whole lots of 1,000 shares, commission at least 20 a fill"),
])
def test_the_report_says_how_fills_were_sized(cfg, words):
    assert fills_wording(cfg) == words


@pytest.mark.parametrize(("sets", "message"), [
    (["backtest.lot_size=1000"], "backtest.lot_size = 1000 applies only with backtest.whole_shares = true."),
    (["backtest.whole_shares=true", "backtest.lot_size=0"], "backtest.lot_size must be a whole number of shares >= 1"),
    (["backtest.min_fee=-1.0"], "backtest.min_fee is a commission floor in cash, from 0 to below backtest.init_cash"),
    (["backtest.risk_free=2.0"], "backtest.risk_free is a yearly rate in (-0.05, 0.5), e.g. 0.02 for 2 %. Got 2.0."),
])
def test_fill_and_rate_settings_out_of_range_are_refused(sets, message):
    from backtest.core.config import load_config
    from backtest.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(None, sets)
    assert message in str(info.value)


def test_a_sell_pushed_below_the_floor_by_the_floored_buy_is_floored_and_the_buy_stays_floored():
    """0.1 % of 1000 (1.00) is below a floor of 1.09885: the buy is floored. The first pass's sell
    (1000 / 30.03 shares at 33: 1.098901) is above it, but the floored buy leaves (1000 - 1.09885) / 30 shares,
    whose sell's 0.1 % is 1.098791: below, so a second pass floors it, and the buy keeps its floor."""
    floor = 1.09885
    assert 0.001 * 33 * (1000 - floor) / 30 < floor < 0.001 * 33 * 1000 / 30.03
    cfg = BacktestSection(init_cash=1000.0, fees=0.001, slippage=0.0, min_fee=floor)
    rec = simulate(PRICES, HOLD, 1, cfg).orders.records
    assert rec["fees"].tolist() == pytest.approx([floor, floor], rel=1e-12)
    assert rec["size"].iloc[0] == pytest.approx((1000 - floor) / 30, rel=1e-12)
