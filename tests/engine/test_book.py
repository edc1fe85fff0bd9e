"""The multi-asset book: final values against hand computations (fees, slippage, borrow, a stop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.engine.book import book

NAN = np.nan
DAYS = pd.bdate_range("2024-01-01", periods=5)


# A trades all five days; B's prices stop after day 2 (no open or close on days 3 and 4)
OPEN = pd.DataFrame({"A": [10, 10, 11, 12, 12.0], "B": [20, 20, 19, NAN, NAN]}, index=DAYS)
CLOSE = pd.DataFrame({"A": [10, 11, 12, 12, 13.0], "B": [20, 19, 18, NAN, NAN]}, index=DAYS)


def test_long_short_with_fees_borrow_and_a_stop_by_hand():
    w = pd.DataFrame({"A": [0.5] * 5, "B": [-0.5] * 5}, index=DAYS)
    f, g = 0.001, 1 + 0.252 / 252  # fees per half-turn; one day of a 25.2 % yearly borrow
    pf = book({"ls": w}, OPEN, CLOSE, fees=f, borrow=0.252, init_cash=1000.0)
    # day 1 open (value 1000): short 500 of B, buy 500 of A, 0.5 fee each
    cash, n_a, n_b = 1000.0 + 500 - 0.5 - 500 - 0.5, 50.0, 500 / (20 * g)
    v1 = cash + n_a * 11 - n_b * 19 * g
    # day 2 open: rebalance both to half the value (B valued with two days of borrow)
    v = cash + n_a * 11 - n_b * 19 * g**2
    t_a, t_b = 0.5 * v / 11, 0.5 * v / (19 * g**2)
    cash += -(t_a - n_a) * 11 - abs(t_a - n_a) * 11 * f + (t_b - n_b) * 19 * g**2 - abs(t_b - n_b) * 19 * g**2 * f
    n_a, n_b = t_a, t_b
    v2 = cash + n_a * 12 - n_b * 18 * g**2
    # day 3: B has no price: bought back at its last close (plus the night's borrow); A to half at the open
    v = cash + n_a * 12 - n_b * 18 * g**3
    cash -= n_b * 18 * g**3 * (1 + f)
    t_a = 0.5 * v / 12
    cash -= (t_a - n_a) * 12 + abs(t_a - n_a) * 12 * f
    n_a = t_a
    v3 = cash + n_a * 12
    # day 4, the last: A sold at the close, paying the fee
    v4 = cash + n_a * 13 * (1 - f)
    np.testing.assert_allclose(pf.value().to_numpy(), [1000.0, v1, v2, v3, v4], rtol=1e-12)
    flow = pf.asset_flow()[("ls", "short", "B")]
    assert flow.iloc[3] == pytest.approx(n_b) and flow.iloc[4] == 0.0  # B's one exit, on day 3
    assert pf.assets().iloc[-1].abs().sum() == 0.0  # everything closed on the last day


def test_slippage_moves_each_fill_against_the_trader():
    w = pd.DataFrame({"A": [0.5] * 5}, index=DAYS)
    s = 0.01
    pf = book({"lo": w}, OPEN[["A"]], CLOSE[["A"]], slippage=s, init_cash=1000.0)
    n = 50.0  # half of 1000 at the open of 10, sized at the quoted price
    cash = 1000.0 - n * 10 * (1 + s)
    for price in (11, 12):  # days 2 and 3: back to half of the value at the open
        target = 0.5 * (cash + n * price) / price
        cash -= (target - n) * price * (1 + s if target > n else 1 - s)
        n = target
    assert pf.final_value() == pytest.approx(cash + n * 13 * (1 - s), rel=1e-12)


def test_borrow_costs_a_flat_short_its_rate_every_day():
    flat = pd.DataFrame({"B": [20.0] * 5}, index=DAYS)
    w = pd.DataFrame({"B": [-0.5] * 5}, index=DAYS)
    b = 0.252
    free = book({"s": w}, flat, flat, init_cash=1000.0)
    charged = book({"s": w}, flat, flat, borrow=b, init_cash=1000.0)
    assert free.final_value() == pytest.approx(1000.0)
    g, v = 1 + b / 252, 1000.0
    for _ in range(3):  # held over the nights into days 2, 3 and 4 (closed at day 4's close)
        v -= 0.5 * v * (g - 1)  # the short is half the value at each rebalance and grows by g overnight
    assert charged.final_value() == pytest.approx(v, rel=1e-12)
    assert charged.final_value() < free.final_value()


def test_borrow_never_touches_a_long_only_book():
    w = pd.DataFrame({"A": [0.5] * 5, "B": [0.5] * 5}, index=DAYS)
    plain = book({"lo": w}, OPEN, CLOSE, fees=0.001)
    borrowed = book({"lo": w}, OPEN, CLOSE, fees=0.001, borrow=0.5)
    assert borrowed.final_value() == pytest.approx(plain.final_value(), rel=1e-12)


def test_several_books_in_one_call_equal_each_alone():
    books = {"ls": pd.DataFrame({"A": [0.5] * 5, "B": [-0.5] * 5}, index=DAYS),
             "lo": pd.DataFrame({"A": [1.0, 0.0, 1.0, 0.0, 0.0]}, index=DAYS)}
    together = book(books, OPEN, CLOSE, fees=0.001, slippage=0.002, borrow=0.1)
    assert list(together.value().columns) == ["ls", "lo"]
    for name, w in books.items():
        alone = book({name: w}, OPEN, CLOSE, fees=0.001, slippage=0.002, borrow=0.1)
        np.testing.assert_allclose(together.value()[name].to_numpy(), alone.value().to_numpy(), rtol=1e-12)


def test_the_weights_of_a_day_fill_at_the_next_open():
    w = pd.DataFrame({"A": [0.0, 1.0, 0.0, 0.0, 0.0]}, index=DAYS)  # in at day 1's close, out at day 2's
    pf = book({"lo": w}, OPEN[["A"]], CLOSE[["A"]], init_cash=1000.0)
    orders = pf.orders.records_readable
    assert orders["Timestamp"].tolist() == [DAYS[2], DAYS[3]]
    assert orders["Price"].tolist() == [11.0, 12.0]  # bought at day 2's open, sold at day 3's
    assert pf.final_value() == pytest.approx(1000.0 / 11 * 12)


def test_a_symbol_never_priced_and_a_day_without_an_open_place_no_order():
    open_ = OPEN.assign(C=NAN)
    open_.loc[DAYS[2], "A"] = NAN  # A cannot trade on day 2: the position is held
    close = CLOSE.assign(C=NAN)
    w = pd.DataFrame({"A": [0.5, 0.5, 0.5, 0.5, 0.5], "C": [0.5] * 5}, index=DAYS)
    pf = book({"lo": w}, open_, close, init_cash=1000.0)
    orders = pf.orders.records_readable
    assert set(orders["Column"].map(lambda c: c[2])) == {"A"}
    assert DAYS[2] not in set(orders["Timestamp"]) and np.isfinite(pf.final_value())


def test_price_panels_that_disagree_are_refused():
    with pytest.raises(ValueError, match="open_ and close must have the same dates and symbols"):
        book({"x": CLOSE}, OPEN[["A"]], CLOSE)
    with pytest.raises(ValueError, match=r"borrow must be >= 0 and periods >= 1. Got borrow=-0.1"):
        book({"x": CLOSE}, OPEN, CLOSE, borrow=-0.1)
