"""A universe's books under backtest's risk-free rate (and, as they come, lots and minimum fees), on a named panel.

The panel is test_universe_legs.py's: A, B, C, D over 12 business days, opens at the day before's close, A +10 %
and D -10 % on day 7; a fixed score ranks A > B > C > D, so with k = 1 long_short is long A and short D.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.engine.universe import BENCHMARK, run_universe
from backtest.scoring.metrics import daily_rate
from tests.conftest import universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")

BOOK = "fixed:long_short"


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    days = pd.bdate_range("2024-01-01", periods=12, name="date")
    close = pd.DataFrame({"A": [10.0] * 7 + [11.0] * 5, "B": 30.0, "C": 40.0, "D": [20.0] * 7 + [18.0] * 5},
                         index=days)
    open_ = close.shift(1).fillna(close)
    frames = {s: pd.DataFrame({"open": open_[s], "high": np.maximum(open_[s], close[s]),
                               "low": np.minimum(open_[s], close[s]), "close": close[s], "volume": 1000.0})
              for s in close}
    return write_long_csv(frames, tmp_path_factory.mktemp("costs") / "four.csv")


def _fixed(universe, folds, config):  # type: ignore[no-untyped-def]
    return {"fixed": pd.DataFrame({"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0}, index=universe.calendar)}


def _run(path: Path, *extra: str):  # type: ignore[no-untyped-def]
    config = universe_config(
        path, "universe.k=1", "universe.n_drop=0", "universe.min_symbols=2", "universe.books=['long_short']",
        "strategies.rules=[]", "walkforward.train_days=6", "walkforward.val_days=0", "walkforward.test_days=3",
        "backtest.init_cash=1000.0", "backtest.slippage=0.0", *extra)
    return run_universe(config, [_fixed])


def test_sharpe_sortino_psr_and_dsr_are_over_the_risk_free_rate(four):
    base, over = _run(four), _run(four, "backtest.risk_free=0.05")
    pd.testing.assert_frame_equal(base.returns, over.returns)  # the rate changes no trade
    d = daily_rate(0.05)
    assert d == pytest.approx(1.05 ** (1 / 252) - 1)
    for book in (BOOK, BENCHMARK):
        excess = over.returns[book] - d
        want = excess.mean() / excess.std() * math.sqrt(252)  # vectorbt's Sharpe: sample std, 252 days a year
        assert over.trading.loc[book, "sharpe"] == pytest.approx(want, rel=1e-9)
        assert over.trading.loc[book, "sharpe"] < base.trading.loc[book, "sharpe"]
        assert over.trading.loc[book, "sortino"] < base.trading.loc[book, "sortino"]
    assert over.trading.loc[BOOK, "psr"] != base.trading.loc[BOOK, "psr"]
    assert over.trading.loc[BOOK, "dsr"] != base.trading.loc[BOOK, "dsr"]
    assert over.trading_summary["risk_free"] == 0.05 and over.manifest["risk_free"] == 0.05


def test_whole_lots_round_every_order_down(four):
    # leg 1.0, lots of 10 shares, no costs, 1,005 of cash. Day 7's open: A's 1,005 buys 100.5 shares, rounded down to
    # 100; D's 1,005 shorts 50.25, rounded to 50. Day 7: +100 x 1 + 50 x 2 = 1,205 (fractional shares: 1,206).
    # Day 8's open: A's target 1,205 / 11 = 109.5 shares, 9.5 more rounds to 0 lots; D's 66.9 short, 16.9 more
    # rounds to 10: 60 short. Nothing moves after day 7, so the value stays 1,205.
    lots = _run(four, "universe.leg_gross=1.0", "backtest.fees=0.0", "backtest.borrow=0.0",
                "backtest.init_cash=1005.0", "backtest.whole_shares=true", "backtest.lot_size=10")
    assert lots.equity[BOOK].tolist() == pytest.approx([1005.0, 1205.0, 1205.0, 1205.0, 1205.0, 1205.0], abs=1e-9)
    fractional = _run(four, "universe.leg_gross=1.0", "backtest.fees=0.0", "backtest.borrow=0.0",
                      "backtest.init_cash=1005.0")
    assert fractional.equity[BOOK].iloc[1] == pytest.approx(1206.0, abs=1e-9)


def test_a_minimum_fee_floors_every_order_of_both_legs(four):
    # leg 0.5, 10 bp, a 5 minimum fee, no borrow. Day 7's open: 500 of A and 500 of D short would pay 0.5 each;
    # each pays 5: 990, and day 7's move (+50 + 50): 1,090. Day 8's open rebalances both legs to 545 (sell 5 of A,
    # short 95 more of D), each order paying 5 again: 1,080. Without the floor: 1,099 and ~1,098.9.
    floored = _run(four, "backtest.fees=0.001", "backtest.borrow=0.0", "backtest.min_fee=5.0")
    assert floored.equity[BOOK].iloc[1:3].tolist() == pytest.approx([1090.0, 1080.0], abs=1e-9)
    plain = _run(four, "backtest.fees=0.001", "backtest.borrow=0.0")
    assert plain.equity[BOOK].iloc[1] == pytest.approx(1099.0, abs=1e-9)


def _signed(universe, folds, config):  # type: ignore[no-untyped-def]
    """Forecasts of the next return: A and B up, C and D down."""
    return {"fixed": pd.DataFrame({"A": 0.02, "B": 0.01, "C": -0.01, "D": -0.02}, index=universe.calendar)}


@pytest.mark.parametrize(("direction", "want"), [  # B and C never move, so the loader leaves them out: A and D
    ("long", {"A": 1.0, "D": 0.0}),  # the forecast rule holds A (forecast up), all of the value
    ("short", {"A": 0.0, "D": -1.0}),  # its mirror shorts D (forecast down)
    ("both", {"A": 0.5, "D": -0.5}),  # each of the 2 stocks held at 1/2, on its side
])
def test_rule_books_trade_the_direction(four, direction, want):
    config = universe_config(
        four, "universe.k=1", "universe.n_drop=0", "universe.min_symbols=2", "universe.books=['long_short']",
        "strategies.rules=['forecast']", "walkforward.train_days=6", "walkforward.val_days=0",
        "walkforward.test_days=3", "backtest.init_cash=1000.0", "backtest.slippage=0.0", "backtest.fees=0.0",
        "backtest.borrow=0.0", f"strategies.direction='{direction}'")
    result = run_universe(config, [_signed])
    weights = result.weights["fixed:forecast"]
    for symbol, weight in want.items():
        assert (weights[symbol] == weight).all(), symbol
    # day 7: A +10 % and D -10 %: long earns 1 x 10 % on A, short 1 x 10 % on D, both 0.5 x 10 % twice: +10 % each
    assert result.equity["fixed:forecast"].iloc[1] == pytest.approx(1100.0, abs=1e-9)
