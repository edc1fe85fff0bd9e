"""Books on a schedule: which days trade, values by hand while weights drift in between, TopkDropout's limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.engine.book import book
from backtest.engine.universe import _books, daily_turnover
from strategies.crosssection import hold_between, rebalance_days
from tests.conftest import universe_config

DAYS = pd.bdate_range("2024-01-01", periods=6)  # Mon 1 .. Mon 8 January
# Opens are the previous closes. A rises on day 2; B falls on day 2 and recovers on day 3.
CLOSE = pd.DataFrame({"A": [10, 10, 12, 12, 12, 12.0], "B": [10, 10, 8, 10, 10, 10.0]}, index=DAYS)
OPEN = CLOSE.shift(1).fillna(CLOSE)
HALF = pd.DataFrame(0.5, index=DAYS, columns=["A", "B"])


def test_a_book_held_between_rebalances_drifts_with_prices_by_hand():
    every3 = rebalance_days(DAYS, 3)  # decides on days 0 and 3: fills at the opens of days 1 and 4
    assert every3.to_numpy().nonzero()[0].tolist() == [0, 3]
    held = book({"b": HALF}, OPEN, CLOSE, init_cash=1000.0, rebalance=every3).value()  # one book: a Series
    daily = book({"b": HALF}, OPEN, CLOSE, init_cash=1000.0).value()
    # Held: 50 A and 50 B from day 1's open; day 2 closes 600 + 400; day 3 closes 600 + 500 = 1100, and the
    # rebalance at day 4's open (A 12, B 10) moves no value.
    np.testing.assert_allclose(held.to_numpy(), [1000, 1000, 1000, 1100, 1100, 1100])
    # Daily: day 3's open (A 12, B 8, worth 1000) buys back to 500 / 500: 41.67 A and 62.5 B, 1125 at day 3's close.
    np.testing.assert_allclose(daily.to_numpy(), [1000, 1000, 1000, 1125, 1125, 1125])


def test_costs_follow_the_trades_a_schedule_makes():
    kw = {"init_cash": 1000.0, "fees": 0.01}
    held = book({"b": HALF}, OPEN, CLOSE, rebalance=rebalance_days(DAYS, 3), **kw)
    daily = book({"b": HALF}, OPEN, CLOSE, **kw)
    # Held: orders at day 1's open (build), day 4's open (the rebalance decided on day 3) and day 5's close.
    assert sorted(set(held.orders.records["idx"].tolist())) == [1, 4, 5]
    assert sorted(set(daily.orders.records["idx"].tolist())) == [1, 2, 3, 4, 5]
    assert daily.orders.records_readable["Fees"].sum() > held.orders.records_readable["Fees"].sum() > 0


def test_calendars_by_hand():
    days = pd.bdate_range("2024-01-25", "2024-03-06").drop(pd.Timestamp("2024-02-02"))  # a Friday holiday
    fridays = days[rebalance_days(days, on="friday").to_numpy()]
    assert str(fridays[1].date()) == "2024-01-26" and str(fridays[2].date()) == "2024-02-01"  # Thursday stands in
    ends = days[rebalance_days(days, on="month_end").to_numpy()]
    assert [str(d.date()) for d in ends] == ["2024-01-25", "2024-01-31", "2024-02-29", "2024-03-06"]
    mondays = rebalance_days(pd.bdate_range("2024-01-02", periods=4), on="monday")  # a week that starts Tuesday
    assert mondays.tolist() == [True, False, False, False]  # no Monday: its first day only
    with pytest.raises(ValueError, match="every must be a whole number of days >= 1"):
        rebalance_days(days, 0)


def test_held_weights_turn_over_on_rebalance_days_only():
    w = pd.DataFrame({"A": [1.0, 0.0, 1.0, 0.0], "B": [0.0, 1.0, 0.0, 1.0]}, index=DAYS[:4])
    held = hold_between(w, rebalance_days(DAYS[:4], 2))
    assert held["A"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert daily_turnover(held).tolist() == [0.5, 0.0, 0.0, 0.0]


def test_topk_dropout_drops_at_most_n_drop_names_a_rebalance(tmp_path):
    rng = np.random.default_rng(0)
    days = pd.bdate_range("2024-01-01", periods=30)
    scores = pd.DataFrame(rng.normal(size=(30, 8)), index=days, columns=[f"S{i}" for i in range(8)])
    close = pd.DataFrame(10.0, index=days, columns=scores.columns)
    config = universe_config(tmp_path / "x.csv", "universe.rebalance=5", "strategies.rules=[]",
                             "universe.books=['topk_dropout', 'long_short']")
    weights = _books({"s": scores}, config, close, days)
    for name in ("s:topk_dropout", "s:long_short", "equal_weight"):
        changes = weights[name].diff().abs().sum(axis=1).iloc[1:]
        assert (changes[np.arange(1, 30) % 5 != 0] == 0).all(), name  # held between rebalances
    held = weights["s:topk_dropout"].gt(0)
    on = held.iloc[::5]
    left = (on.shift(1, fill_value=False) & ~on).sum(axis=1).iloc[1:]
    assert left.max() == 1  # n_drop = 1 a rebalance, though a week of daily drops would allow 5
    # The daily book on the same scores drops more than one name between the same days.
    daily = _books({"s": scores}, universe_config(tmp_path / "x.csv", "strategies.rules=[]"), close, days)
    every = daily["s:topk_dropout"].gt(0).iloc[::5]
    assert (every.shift(1, fill_value=False) & ~every).sum(axis=1).iloc[1:].max() > 1
