"""universe.leg_gross: the long_short book's exposure per leg, checked by hand on a named 4-stock panel.

The panel: A, B, C, D over 12 business days; every open is the day before's close (no overnight move), so a
book filled at t+1's open earns exactly the close-to-close return of t+1. A goes 10 -> 11 (+10 %) and D
20 -> 18 (-10 %) on day 7 (0-based); B and C never move; nothing else moves. A fixed score ranks A first and D
last every day, so with k = 1 the long_short book is long A and short D. Folds of 6 training days and 3 test
days put days 6..11 out of sample: decided at day 6's close, filled at day 7's open (A 10, D 20), rebalanced
at the opens of days 8..10, closed at day 11's close (every position is closed on the last day).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.core.errors import ConfigError
from backtest.engine.universe import run_universe
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
    return write_long_csv(frames, tmp_path_factory.mktemp("legs") / "four.csv")


def _fixed(universe, folds, config):  # type: ignore[no-untyped-def]
    """A score panel that ranks A > B > C > D on every day."""
    return {"fixed": pd.DataFrame({"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0}, index=universe.calendar)}


def _equity(path: Path, leg: float, fees: float = 0.0, borrow: float = 0.0) -> list[float]:
    config = universe_config(
        path, "universe.k=1", "universe.n_drop=0", "universe.min_symbols=2", "universe.books=['long_short']",
        "strategies.rules=[]", "walkforward.train_days=6", "walkforward.val_days=0", "walkforward.test_days=3",
        "backtest.init_cash=1000.0", "backtest.slippage=0.0", f"backtest.fees={fees}", f"backtest.borrow={borrow}",
        f"universe.leg_gross={leg}")
    return run_universe(config, [_fixed]).equity[BOOK].tolist()


@pytest.mark.parametrize(("leg", "day7"), [
    # half a unit a leg: 500 in A (50 shares at 10) and -500 in D (25 shares short at 20), cash 1,000 + 500 short
    # proceeds - 500 = 1,000; day 7: +50 on A, +50 on the short D: 1,100, i.e. 0.5 x (10 % - (-10 %)) = +10 %
    (0.5, 1100.0),
    # a full unit a leg (Fischer & Krauss): 100 A and 50 D short, the short's 1,000 of proceeds paying for the long;
    # day 7: +100 + 100 = 1,200, i.e. 10 % - (-10 %) = +20 %, the paper's "long leg minus short leg"
    (1.0, 1200.0),
])
def test_each_leg_holds_its_share_of_the_book(four, leg, day7):
    equity = _equity(four, leg)
    assert equity == pytest.approx([1000.0, day7, day7, day7, day7, day7], abs=1e-9)  # no move after day 7


def test_fees_are_paid_on_both_legs(four):
    # leg 1.0, 10 bp a half-turn, no borrow. Day 7's open: short 1,000 of D (fee 1) and buy 1,000 of A (fee 1):
    # 998, and day 7's move +200: 1,198. Day 8's open: the legs rebalance to 1,198 each: buy 98 of A (1,100 held,
    # fee 0.098) and short 298 more of D (900 short, fee 0.298): 1,198 - 0.396 = 1,197.604.
    equity = _equity(four, 1.0, fees=0.001)
    assert equity[:3] == pytest.approx([1000.0, 1198.0, 1197.604], abs=1e-9)
    # Days 9 and 10 trade only the fees' drift (0.396 a leg: fees under 0.001); day 11's close sells 1,197.6 of A
    # and buys back 1,197.6 of D: fees 2 x 1.1976 = 2.395, leaving 1,195.21.
    assert equity[3] == pytest.approx(1197.604 - 0.001 * 2 * 0.396, abs=1e-6)
    assert equity[-1] == pytest.approx(1195.208, abs=2e-3)
    # half a unit a leg pays half the entry fees: 500 + 500 traded, fees 1: 999 + 100 = 1,099
    assert _equity(four, 0.5, fees=0.001)[1] == pytest.approx(1099.0, abs=1e-9)


@pytest.mark.parametrize(("leg", "want"), [
    # borrow 0.252 a year = 0.1 % of the short's value a day, charged from the day after the short opens.
    # leg 1.0: day 8 pays 0.1 % of D's 900 short (50 x 18): 1,200 - 0.9 = 1,199.1; from day 9 the short is
    # rebalanced to the book's value: 1,199.1 x 0.999 = 1,197.9009, then 1,196.703, 1,195.5063.
    (1.0, [1000.0, 1200.0, 1199.1, 1199.1 * 0.999, 1199.1 * 0.999**2, 1199.1 * 0.999**3]),
    # leg 0.5: the short is 450 on day 8 (25 x 18): 1,100 - 0.45 = 1,099.55; then half the value is short:
    # each day's value x (1 - 0.5 x 0.001)
    (0.5, [1000.0, 1100.0, 1099.55, 1099.55 * 0.9995, 1099.55 * 0.9995**2, 1099.55 * 0.9995**3]),
])
def test_borrow_is_charged_on_the_short_legs_value(four, leg, want):
    assert _equity(four, leg, borrow=0.252) == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize(("setting", "message"), [
    ("universe.leg_gross=0", r"universe.leg_gross is the share of the book's value in each leg .* Got 0.0"),
    ("universe.leg_gross=1.5", r"in \(0, 1\]: 0.5 = half long and half short .* Got 1.5"),
    ("universe.leg_gross=-0.5", "Got -0.5"),
])
def test_a_leg_outside_zero_to_one_is_refused(setting, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        universe_config(tmp_path / "x.csv", setting)


def test_a_leg_size_without_a_long_short_book_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"universe.leg_gross = 1.0 sizes the long_short book, which "
                                          r"universe.books \(long_only\) leaves out"):
        universe_config(tmp_path / "x.csv", "universe.books=['long_only']", "universe.leg_gross=1.0")
    assert universe_config(tmp_path / "x.csv", "universe.books=['long_only']").universe.leg_gross == 0.5
