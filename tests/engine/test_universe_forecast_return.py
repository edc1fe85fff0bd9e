"""The return a universe run scores its forecasts on is the one its books can earn (fills at the next open).

The named panel: ten stocks whose every move happens overnight (the open equals the close) and reverses the
next night, stock i moving by 0.1 % x (i + 1). Reversal (minus the last return) then ranks the stocks exactly
by their next close-to-close return (rank IC +1 on close t -> close t+1), but its books buy at t+1's open,
after that move, and earn the one after it, which undoes it: rank IC -1, a negative spread, and a long-short
book that loses half that spread every day before costs.
"""

import numpy as np
import pandas as pd
import pytest

from backtest.engine.universe import run_universe
from tests.conftest import universe_config, write_long_csv

pytestmark = pytest.mark.filterwarnings("ignore::backtest.core.errors.DataWarning")

DAYS, NAMES = 300, 10


def overnight_reversals() -> dict[str, pd.DataFrame]:
    """Stock i alternates between 100 and 100 x (1 + 0.001 (i + 1)), every move overnight; open = close."""
    dates = pd.bdate_range("2020-01-01", periods=DAYS)
    frames = {}
    for i in range(NAMES):
        close = np.where(np.arange(DAYS) % 2 == 0, 100.0, 100.0 * (1.0 + 0.001 * (i + 1)))
        frames[f"S{i}"] = pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                                        "volume": 1e6}, index=dates)
    return frames


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    path = write_long_csv(overnight_reversals(), tmp_path_factory.mktemp("u") / "long.csv")
    return run_universe(universe_config(path, "universe.k=1", "universe.n_drop=0", "universe.books=['long_short']",
                                       "strategies.rules=[]"))


def test_reversal_is_scored_on_the_return_its_books_earn_not_the_close_to_close_one(result):
    row = result.ic.loc["reversal"]
    assert row["rank_ic_close"] == pytest.approx(1.0) and row["ic_close"] == pytest.approx(1.0, abs=1e-4)
    assert row["rank_ic"] == pytest.approx(-1.0) and row["ic"] == pytest.approx(-1.0, abs=1e-4)
    # every day the top decile (stock 9 or 0) earns back what the bottom one gave: spread -0.9 % of ~100
    assert row["spread"] == pytest.approx(-0.009, rel=0.01) and row["spread_close"] == pytest.approx(0.009, rel=0.01)
    assert result.manifest["forecast_return"] == "open t+1 → open t+2"


def test_the_long_short_books_gross_return_is_half_the_spread(result):
    gross = result.gross_returns["reversal:long_short"]
    assert gross.index[0] == result.equity.index[1]  # the first day only decides: no return of 0 by construction
    traded = gross.iloc[1:-1]  # day 1 buys at the open (= close): no return yet; the last day closes out
    assert traded.mean() == pytest.approx(result.ic.loc["reversal", "spread"] / 2.0, rel=0.02)
    assert (traded < 0).all()


def test_a_multi_day_target_adds_the_ic_against_its_own_earnable_return(result):
    from backtest.engine.universe import _ic_tables
    from backtest.scoring import crosssection as xs
    from backtest.scoring.significance import newey_west_lags

    days = result.equity.index
    assert "ic_h" not in result.ic  # a one-day target has the one-day reading only
    # Held 3 days from the next open (open t+1 -> open t+4) every stock makes its one-day move back once more
    # than it makes it: the same order as the one-day return, rank IC -1 for reversal.
    reversal = {"reversal": result.scores["reversal"]}
    row = _ic_tables(reversal, result.universe, days, "return", horizon=3)[0].loc["reversal"]
    assert row["rank_ic_h"] == pytest.approx(-1.0) and row["ic_h"] == pytest.approx(-1.0, abs=1e-4)
    assert row["days_h"] == len(days) - 4 and row["lags_h"] == max(newey_west_lags(len(days) - 4), 2)
    assert row["rank_ic"] == result.ic.loc["reversal", "rank_ic"]  # the one-day figures are unchanged beside it
    # Held 2 days every stock is back at its price: no cross-section to correlate, so no IC (not a zero).
    two = xs.horizon_ic(reversal["reversal"], xs.earnable_return(result.universe.field("open").reindex(days), 2), 2)
    assert np.isnan(two["ic_h"]) and two["days_h"] == 0 and np.isnan(two["lags_h"])
