"""The rule books of a universe run: which stocks each rule holds, equal weights, trades on change only."""

import numpy as np
import pandas as pd
import pytest

from backtest.core.config import load_config
from backtest.engine.book import book
from backtest.engine.universe import BENCHMARK, rule_books, run_universe
from tests.conftest import synthetic_universe, universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")

ALL_RULES = "strategies.rules=['forecast', 'forecast+bollinger', 'forecast+macd', 'vote', 'bollinger', 'macd']"


def test_a_book_on_change_lets_positions_drift_until_its_weights_change():
    # A and B at 10; A doubles at day 3's open. Day 0 decides all A, days 1-3 half and half (no change).
    days = pd.date_range("2024-01-01", periods=5)
    price = pd.DataFrame({"A": [10.0, 10.0, 10.0, 20.0, 20.0], "B": [10.0] * 5}, index=days)
    w = pd.DataFrame({"A": [1.0, 0.5, 0.5, 0.5, 0.5], "B": [0.0, 0.5, 0.5, 0.5, 0.5]}, index=days)
    pf = book({"daily": w, "drift": w}, price, price, init_cash=100.0, on_change={"drift"})
    assets = pf.assets()
    # day 1 buys 10 A; day 2 sells 5 A for 5 B; day 3 (value 150): the daily book rebalances to 75/75
    assert assets[("drift", "long", "A")].tolist() == [0.0, 10.0, 5.0, 5.0, 0.0]
    assert assets[("drift", "long", "B")].tolist() == [0.0, 0.0, 5.0, 5.0, 0.0]
    assert assets[("daily", "long", "A")].tolist() == pytest.approx([0.0, 10.0, 5.0, 3.75, 0.0])
    assert assets[("daily", "long", "B")].tolist() == pytest.approx([0.0, 0.0, 5.0, 7.5, 0.0])
    assert pf.value()["drift"].tolist() == pytest.approx([100.0, 100.0, 100.0, 150.0, 150.0])


def test_rule_books_hold_by_hand_worked_stocks_at_equal_weights(tmp_path):
    # four stocks, three decision days; reversal's score is minus the day's return
    days = pd.date_range("2024-01-01", periods=4)
    close = pd.DataFrame({"A": [10.0, 9.0, 9.9, 9.9], "B": [10.0, 11.0, 9.9, 10.89],
                          "C": [10.0, 10.0, 10.5, 10.5], "D": [10.0, 9.5, 9.5, 9.0]}, index=days)
    scores = {"naive": close * 0.0, "reversal": -(close / close.shift(1) - 1.0)}
    config = load_config(None, ["universe.enabled=true", "data.source='csv'", "data.path='x.csv'",
                                "universe.min_symbols=4", "universe.k=1", "universe.n_drop=1",
                                "strategies.rules=['forecast', 'bollinger']",
                                "strategies.bollinger_window=2", "strategies.bollinger_k=0.5"])
    books = rule_books(scores, config, close, days[1:])
    assert list(books) == ["reversal:forecast", "bollinger"]  # naive forecasts no move: no rule book
    # reversal holds the names that fell that day: day 1 A, D; day 2 B; day 3 D (C flat, B up)
    assert books["reversal:forecast"].to_dict("list") == {
        "A": [0.5, 0.0, 0.0], "B": [0.0, 1.0, 0.0], "C": [0.0, 0.0, 0.0], "D": [0.5, 0.0, 1.0]}
    # Bollinger(2, 0.5): the lower band is the lower of the two closes plus a quarter of their gap, so a
    # fall closes below it (enter), a rise above the middle (exit), a flat day neither (the state stays):
    # day 1 A, D fell; day 2 A rose (out), B fell (in), D flat (stays); day 3 B rose (out), D fell (stays)
    assert books["bollinger"].to_dict("list") == {
        "A": [0.5, 0.0, 0.0], "B": [0.0, 0.5, 0.0], "C": [0.0, 0.0, 0.0], "D": [0.5, 0.5, 1.0]}


@pytest.fixture(scope="module")
def frames():
    return synthetic_universe(8, 300)


def test_rule_books_trade_in_the_run_and_count_in_the_tests(frames, tmp_path):
    result = run_universe(universe_config(write_long_csv(frames, tmp_path / "long.csv"), ALL_RULES))
    rules = ["reversal:forecast", "reversal:forecast+bollinger", "reversal:forecast+macd", "reversal:vote",
             "bollinger", "macd"]
    assert list(result.weights)[-7:] == [*rules, BENCHMARK]
    assert result.trading_summary["trials"] == 6 + len(rules)  # DSR, SPA and PBO count every book
    for name in rules:
        w = result.weights[name]
        held = (w > 0).sum(axis=1)
        assert np.allclose(w.sum(axis=1)[held > 0], 1.0) and (w[held == 0] == 0).all().all()
        pd.testing.assert_frame_equal(w, (w > 0).astype(float).div(held.where(held > 0), axis=0).fillna(0.0))
        assert 0 < held.mean() < 8 and result.trading.loc[name, "mean_net"] < result.trading.loc[name, "mean_gross"]


def test_no_look_ahead_in_the_rule_books(frames, tmp_path):
    config = universe_config(write_long_csv(frames, tmp_path / "long.csv"), ALL_RULES)
    result = run_universe(config)
    cut = result.equity.index[70]
    rng = np.random.default_rng(3)
    altered = {}
    for symbol, frame in frames.items():
        frame, later = frame.copy(), frame.index >= cut
        factor = rng.uniform(0.9, 1.1, later.sum())
        for col in ("open", "high", "low", "close"):
            frame.loc[later, col] *= factor
        altered[symbol] = frame
    other = run_universe(universe_config(write_long_csv(altered, tmp_path / "altered.csv"), ALL_RULES))
    before = result.equity.index < cut
    rule_names = [n for n in result.weights if n.rpartition(":")[2] in ("forecast", "forecast+bollinger",
                                                                        "forecast+macd", "vote", "bollinger", "macd")]
    assert len(rule_names) == 6
    for name in rule_names:
        pd.testing.assert_frame_equal(other.weights[name][before], result.weights[name][before])
        assert not other.weights[name][~before].equals(result.weights[name][~before])
    pd.testing.assert_frame_equal(other.equity[rule_names][before], result.equity[rule_names][before])
